"""Every `--model_type`: one registration each, the training defaults of its family, and `create_model()`.

A recurrent type is built from its config class with a vocabulary trained on the data; a pretrained type is loaded
by name with `from_pretrained`. Scripts look a type up here and never branch on its name. Adding a recurrent type
means writing `models/configuration_<type>.py` and `models/modeling_<type>.py` and adding one `register_recurrent`
line below; importing this module registers it with the transformers Auto classes.
"""

import importlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import torch
import yaml
from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForSequenceClassification,
    PretrainedConfig,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from .errors import UserInputError
from .models.modeling_rnn_utils import RNNForSequenceClassification


@dataclass(frozen=True)
class ModelFamily:
    """What the types of one family share: how they are built, and the training defaults that suit them."""

    name: str
    pretrained: bool  # loaded with from_pretrained (True) or built from a config with a trained vocabulary
    training_defaults: dict
    # --finetune_strategy -> defaults on top of `training_defaults`; a flag given on the command line still wins.
    strategy_defaults: dict = field(default_factory=dict)
    # Defaults on top of those when --num_train_epochs or --max_steps fixes the run's length (modeling/arguments.py).
    fixed_length_defaults: dict = field(default_factory=dict)
    # Flags that only this family takes (ModelArguments field names); given to another family, they are refused.
    own_flags: tuple[str, ...] = ()
    # What scripts/search.py searches by default (a --search_space file replaces it): setting -> {"low", "high"} with
    # optional "log" and "step" (whole numbers when low and high are), or {"choices": [...]}. A setting is a
    # TrainingArguments field, a config setting of a recurrent type, or a ModelArguments field of
    # `modeling.search.MODEL_ARGUMENT_SETTINGS`.
    search_space: dict = field(default_factory=dict)
    # --finetune_strategy -> settings of `search_space` replaced for that strategy.
    strategy_search_space: dict = field(default_factory=dict)


RECURRENT = ModelFamily(
    "recurrent",
    pretrained=False,
    training_defaults={
        "learning_rate": 2e-3,
        # Epochs chosen by the data: train until --metric_for_best_model has not improved for 3 epochs (the best
        # checkpoint is kept), at most 30, cutting the learning rate to 0.3 times itself after each epoch that does
        # not improve it. The fixed 4 epochs this replaced suited tweets and IMDB but stopped far too early on larger
        # label sets. A linear decay over the 30 epochs would barely anneal a run that stops after 5: on tweets it
        # cost 0.015 test accuracy (docs/results.md, "Epochs chosen by the data").
        "num_train_epochs": 30,
        "early_stopping_patience": 3,
        "lr_scheduler_type": "reduce_lr_on_plateau",
        "lr_scheduler_kwargs": {"factor": 0.3, "patience": 0},  # mode: from --greater_is_better (arguments.py)
        "label_smoothing_factor": 0.1,
        "per_device_train_batch_size": 64,
        "per_device_eval_batch_size": 256,
        "warmup_steps": 0.0,  # the plateau schedule has no warm-up
        "weight_decay": 0.0,
    },
    own_flags=("glove_path", "tfidf_weighting", "freeze_embeddings", "config_overrides"),
    # A length given by hand is trained in full with the linear decay, as before epochs were chosen by the data.
    fixed_length_defaults={
        "early_stopping_patience": None,
        "lr_scheduler_type": "linear",
        "lr_scheduler_kwargs": {},
        "warmup_steps": 0.05,
    },
    search_space={
        "learning_rate": {"low": 5e-4, "high": 1e-2, "log": True},
        "per_device_train_batch_size": {"choices": [32, 64, 128]},
        "label_smoothing_factor": {"low": 0.0, "high": 0.2},
        "dropout": {"low": 0.1, "high": 0.6},
        "word_dropout": {"low": 0.0, "high": 0.3},
        "hidden_size": {"choices": [64, 128, 256]},
        "embedding_dim": {"choices": [100, 200, 300]},
        "num_layers": {"low": 1, "high": 2},
    },
)
TRANSFORMER = ModelFamily(
    "transformer",
    pretrained=True,
    training_defaults={
        "learning_rate": 5e-5,
        "num_train_epochs": 3,
        "per_device_train_batch_size": 32,
        "per_device_eval_batch_size": 128,
        "warmup_steps": 0.06,
        "weight_decay": 0.01,
    },
    # With less of the model training, a larger step suits: a frozen encoder leaves only the head, LoRA only small
    # adapters.
    strategy_defaults={"freeze": {"learning_rate": 1e-3}, "lora": {"learning_rate": 5e-4}},
    own_flags=(
        "finetune_strategy",
        "unfreeze_top_k",
        "lora_r",
        "lora_alpha",
        "merge_lora",
        "ignore_mismatched_sizes",
    ),  # fmt: skip
    search_space={
        "learning_rate": {"low": 1e-5, "high": 1e-4, "log": True},
        "warmup_steps": {"low": 0.0, "high": 0.15},  # below 1: a share of the training steps
        "weight_decay": {"low": 0.0, "high": 0.1},
        "layerwise_lr_decay": {"low": 0.7, "high": 1.0},
        "per_device_train_batch_size": {"choices": [16, 32]},
    },
    # The learning rates around each strategy's default.
    strategy_search_space={
        "freeze": {"learning_rate": {"low": 1e-4, "high": 1e-2, "log": True}},
        "lora": {"learning_rate": {"low": 5e-5, "high": 2e-3, "log": True}},
    },
)


@dataclass(frozen=True)
class ModelSpec:
    """How to build one model type."""

    model_type: str
    description: str
    family: ModelFamily
    config_class: type[PretrainedConfig] | None = None  # recurrent: built from this config
    model_class: type[PreTrainedModel] | None = None  # recurrent: the classifier (its encoder: base_model_class)
    default_checkpoint: str | None = None  # pretrained: loaded from this hub id unless --model_name_or_path

    @property
    def is_pretrained(self) -> bool:
        return self.family.pretrained


MODEL_SPECS: dict[str, ModelSpec] = {}


def register_recurrent(model_type: str, description: str) -> ModelSpec:
    """
    Register the recurrent type defined in `models/modeling_<model_type>.py`: its `...ForSequenceClassification`
    (with its config class and encoder) joins the Auto classes, and is marked to be saved with its code so that a
    saved folder also loads with `trust_remote_code=True` where this package is not installed.
    """
    module = importlib.import_module(f"{__package__}.models.modeling_{model_type}")
    classifier = next(
        value
        for value in vars(module).values()
        if isinstance(value, type)
        and issubclass(value, RNNForSequenceClassification)
        and value.__module__ == module.__name__
    )
    config_class, encoder = classifier.config_class, classifier.base_model_class
    if config_class.model_type != model_type:
        raise ValueError(f"{config_class.__name__}.model_type is {config_class.model_type!r}, not {model_type!r}")
    AutoConfig.register(model_type, config_class, exist_ok=True)
    AutoModel.register(config_class, encoder, exist_ok=True)
    AutoModelForSequenceClassification.register(config_class, classifier, exist_ok=True)
    config_class.register_for_auto_class()
    encoder.register_for_auto_class("AutoModel")
    classifier.register_for_auto_class("AutoModelForSequenceClassification")
    return _add(ModelSpec(model_type, description, RECURRENT, config_class, classifier))


def register_pretrained(model_type: str, description: str, default_checkpoint: str) -> ModelSpec:
    """Register a transformer type: any sequence-classification checkpoint, `default_checkpoint` unless told."""
    return _add(ModelSpec(model_type, description, TRANSFORMER, default_checkpoint=default_checkpoint))


def _add(spec: ModelSpec) -> ModelSpec:
    MODEL_SPECS[spec.model_type] = spec
    return spec


register_recurrent("lstm", "embedding, LSTM, classifier on the final state")
register_recurrent("gru", "embedding, GRU, classifier on the final state")
register_recurrent("cnn_lstm", "Conv1d n-gram features read by an LSTM")
register_recurrent("auto_lstm", "LSTM encoder-decoder with a reconstruction loss")
register_recurrent("attn_bilstm", "BiLSTM with additive attention and max pooling")
register_pretrained("distilbert", "pretrained DistilBERT", "distilbert-base-uncased")
register_pretrained("bert", "pretrained BERT", "bert-base-uncased")


def get_model_spec(model_type: str) -> ModelSpec:
    """The spec of `model_type`, or a one-line error listing the choices."""
    if model_type not in MODEL_SPECS:
        raise UserInputError(f"unknown model type {model_type!r}; choose one of: {', '.join(MODEL_SPECS)}")
    return MODEL_SPECS[model_type]


def recurrent_specs() -> list[ModelSpec]:
    """The specs of the recurrent types, in registration order."""
    return [spec for spec in MODEL_SPECS.values() if not spec.is_pretrained]


# A comma ends an item only where the next item's `key=` starts, so that list values ([3,5]) keep theirs.
_OVERRIDE_ITEM_END = re.compile(r",(?=\s*[A-Za-z_]\w*\s*=)")


def parse_config_overrides(text: str | None, config_class: type[PretrainedConfig]) -> dict:
    """
    'hidden_size=256,kernel_sizes=[3,5],bidirectional=false' -> {'hidden_size': 256, 'kernel_sizes': [3, 5],
    'bidirectional': False}: values read as JSON, else as YAML (True/False), else kept as text. Each value must
    have the type of the config's default, and the config checks the values it constrains.
    """
    if not text:
        return {}
    known = config_class().to_dict()
    overrides = {}
    for item in _OVERRIDE_ITEM_END.split(text):
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or key not in known:
            raise UserInputError(
                f"--config_overrides: {item!r} is not key=value with a key of {config_class.__name__}"
            )
        try:
            overrides[key] = json.loads(value)
        except json.JSONDecodeError:
            try:
                overrides[key] = yaml.safe_load(value)
            except yaml.YAMLError:
                overrides[key] = value
        _check_override_type(key, overrides[key], known[key], value)
    try:
        config_class(**overrides)  # the config checks its own values (e.g. a choice of pooling, a dropout in [0, 1))
    except (ValueError, TypeError) as error:
        raise UserInputError(f"--config_overrides: {error}") from None
    return overrides


def _check_override_type(key: str, parsed, default, given: str) -> None:
    """Refuse an override whose type does not match the default's (e.g. hidden_size=abc, bidirectional=no)."""
    if isinstance(default, bool):
        # Any non-empty text is true to Python: "bidirectional=no" must not build a bidirectional model.
        ok, kind = isinstance(parsed, bool), "true or false"
    elif isinstance(default, int):
        ok, kind = isinstance(parsed, int) and not isinstance(parsed, bool), "a whole number"
    elif isinstance(default, float):
        ok, kind = isinstance(parsed, (int, float)) and not isinstance(parsed, bool), "a number"
    elif isinstance(default, (list, tuple)):
        ok, kind = isinstance(parsed, list), "a list such as [3,5]"
    else:
        return
    if not ok:
        raise UserInputError(f"--config_overrides: {key} takes {kind}, got {given.strip()!r}")


T = TypeVar("T")


def _unreachable(name: str, flag: str, why: str) -> str:
    return (
        f"cannot load {name!r}: the Hugging Face Hub cannot be reached ({why}); pass {flag} with a local folder "
        "holding the checkpoint (config.json, weights, tokenizer)"
    )


def check_pretrained_source(name: str | None, flag: str = "--model_name_or_path") -> None:
    """For a Hub id (not a local folder): refuse at once when the Hub is switched off or cannot be reached."""
    from .hub import check_hub_reachable

    if name is not None and not Path(name).exists():
        check_hub_reachable(lambda why: _unreachable(name, flag, why))


def load_pretrained(load: Callable[[], T], name: str, flag: str = "--model_name_or_path") -> T:
    """
    `load()` (a `from_pretrained` of `name`), with a one-line error when it fails for a reason the user can fix: the
    Hub cannot be reached for a Hub id (use a local folder), or `name` is neither a folder nor a Hub model.
    """
    from .hub import is_unreachable  # here: hub.py imports the reporting and data packages

    check_pretrained_source(name, flag)
    try:
        return load()
    except UserInputError:
        raise
    except (OSError, ValueError) as error:
        reason = str(error).strip().splitlines()[0][:200] if str(error).strip() else type(error).__name__
        if Path(name).exists():
            raise UserInputError(f"{flag} {name}: cannot load it ({reason})") from error
        if is_unreachable(error):
            raise UserInputError(_unreachable(name, flag, "no network")) from error
        raise UserInputError(f"{flag} {name!r} is neither a local folder nor a model on the Hub ({reason})") from error


def create_model(
    spec: ModelSpec,
    label_names: list[str],
    checkpoint: str | None = None,
    tokenizer: PreTrainedTokenizerBase | None = None,
    config_overrides: dict | None = None,
    ignore_mismatched_sizes: bool = False,
    problem_type: str = "single_label_classification",
    **config_settings,
) -> PreTrainedModel:
    """
    The model of `spec` with a head for `label_names`: a pretrained type loaded from `checkpoint` (float32 weights
    whatever dtype it is stored in; --bf16/--fp16 train with autocast on top), a recurrent type built for
    `tokenizer`'s vocabulary with `config_overrides` and `config_settings` (e.g. use_token_weights). `problem_type`
    (saved in the config) picks the loss; for regression `label_names` holds the one value's name.
    """
    labels = {
        "num_labels": len(label_names),
        "id2label": dict(enumerate(label_names)),
        "label2id": {name: i for i, name in enumerate(label_names)},
        "problem_type": problem_type,
    }
    if spec.is_pretrained:

        def load() -> PreTrainedModel:
            try:
                return AutoModelForSequenceClassification.from_pretrained(
                    checkpoint, dtype=torch.float32, ignore_mismatched_sizes=ignore_mismatched_sizes, **labels
                )
            except (RuntimeError, ValueError) as error:
                if "ignore_mismatched_sizes" not in str(error) and "size mismatch" not in str(error):
                    raise
                heads = _checkpoint_labels(checkpoint)
                found = f"its head has {heads} labels, the data has {len(label_names)}" if heads else "shapes differ"
                raise UserInputError(
                    f"--model_name_or_path {checkpoint} does not fit the model ({found}); pass "
                    "--ignore_mismatched_sizes to start the weights that differ afresh"
                ) from None

        return load_pretrained(load, checkpoint)
    config = spec.config_class(
        vocab_size=len(tokenizer),
        pad_token_id=tokenizer.pad_token_id,
        **labels,
        **config_settings,
        **(config_overrides or {}),
    )
    return AutoModelForSequenceClassification.from_config(config)


def _checkpoint_labels(checkpoint: str) -> int | None:
    """The number of labels of `checkpoint`'s classification head, as its config says (None where unreadable)."""
    try:
        return AutoConfig.from_pretrained(checkpoint).num_labels
    except (OSError, ValueError):
        return None
