"""The arguments of `scripts/train.py`: which model and how to build it, which data, and the run defaults of each
model family. Every field carries its `--help`; each dataclass checks its own values in `__post_init__`, so a bad
value stops the run before anything is loaded or written.
"""

import argparse
import difflib
import json
import os
import sys
from dataclasses import dataclass, field, fields
from pathlib import Path

import torch
from transformers import HfArgumentParser, TrainingArguments
from transformers.trainer_utils import SchedulerType

from .data import (
    DEFAULT_VOCAB_SIZE,
    TRUNCATION_STRATEGIES,
    DataConfig,
    available_datasets,
    load_data_config,
    override_columns,
)
from .errors import UserInputError
from .metrics import METRIC_NAMES
from .problem_types import BEST_METRIC, DEFAULT_THRESHOLD, SINGLE_LABEL, greater_is_better
from .registry import MODEL_SPECS, ModelSpec, get_model_spec, parse_config_overrides
from .training import FINETUNE_STRATEGIES, OPTIMIZERS
from .training.distillation import DISTILLATION_LOSSES

# How errors name each family: the types it holds, and one model of it.
_FAMILY_TYPES = {"recurrent": "the recurrent types", "transformer": "the pretrained transformer types"}
_FAMILY_MODEL = {"recurrent": "a recurrent model trained from scratch", "transformer": "a pretrained transformer"}


@dataclass
class ModelArguments:
    """Which model to build and how to fine-tune it."""

    model_type: str = field(metadata={"help": f"The architecture: one of {', '.join(MODEL_SPECS)}."})
    model_name_or_path: str | None = field(
        default=None,
        metadata={
            "help": "Pretrained checkpoint (hub id or local folder) for the transformer types; defaults to "
            "distilbert-base-uncased / bert-base-uncased."
        },
    )
    tokenizer_name: str | None = field(
        default=None,
        metadata={
            "help": "A pretrained tokenizer (hub id or folder) for the recurrent types instead of the word-level "
            "one trained on the training split."
        },
    )
    config_overrides: str | None = field(
        default=None,
        metadata={"help": "Recurrent types: comma-separated config settings, e.g. 'hidden_size=256,num_layers=1'."},
    )
    vocab_size: int = field(
        default=DEFAULT_VOCAB_SIZE, metadata={"help": "Word-level tokenizer: the most frequent words kept."}
    )
    min_frequency: int = field(default=2, metadata={"help": "Word-level tokenizer: rarer words become [UNK]."})
    clean_markup: bool = field(
        default=True,
        metadata={"help": "Word-level tokenizer: read HTML tags as a space and each link as the word `xxurl`."},
    )
    glove_path: str | None = field(
        default=None, metadata={"help": "Recurrent types: initialise the embeddings from a GloVe-format text file."}
    )
    freeze_embeddings: bool = field(default=False, metadata={"help": "Recurrent types: do not train the embeddings."})
    tfidf_weighting: bool = field(
        default=False,
        metadata={"help": "Recurrent types: scale each token's embedding by its IDF weight from the training split."},
    )
    finetune_strategy: str = field(
        default="full",
        metadata={"help": "Transformer types: what trains.", "choices": list(FINETUNE_STRATEGIES)},
    )
    unfreeze_top_k: int | None = field(
        default=None, metadata={"help": "With --finetune_strategy hybrid: top layers that train (default: half)."}
    )
    lora_r: int = field(default=8, metadata={"help": "With --finetune_strategy lora: the adapters' rank."})
    lora_alpha: int = field(default=16, metadata={"help": "With --finetune_strategy lora: the adapters' scaling."})
    merge_lora: bool = field(
        default=False,
        metadata={
            "help": "No longer taken: a LoRA run always saves the merged model in --output_dir, the adapter in "
            "adapter/."
        },
    )
    ignore_mismatched_sizes: bool = field(
        default=False,
        metadata={
            "help": "Transformer types: start afresh the checkpoint's weights whose shape differs from the model's, "
            "such as a classification head for another number of labels."
        },
    )
    layerwise_lr_decay: float = field(
        default=1.0,
        metadata={
            "help": "In (0, 1]: the head and top layer get --learning_rate, each layer below this factor times the "
            "one above, the embeddings the lowest. 1 means one rate for all."
        },
    )
    adversarial_epsilon: float = field(
        default=0.0,
        metadata={
            "help": "Adversarial training on the word embeddings: each step also trains on the batch with the "
            "embedding matrix moved this far (L2) along its loss gradient. 0: off. 3 suits attn_bilstm; on tweets, "
            "with --config_overrides word_dropout=0 (docs/results.md)."
        },
    )
    optimizer: str | None = field(
        default=None,
        metadata={
            "help": "The optimizer, with --learning_rate, --weight_decay and the schedule: adamw (fused AdamW), sgd, "
            "sgd_momentum (with --momentum), rmsprop or adam (plain Adam, L2 weight decay). Without it, the "
            "Trainer's --optim (fused AdamW unless told otherwise); give one or the other.",
            "choices": list(OPTIMIZERS),
        },
    )
    momentum: float = field(default=0.9, metadata={"help": "Momentum of --optimizer sgd_momentum."})
    class_weights: str | None = field(
        default=None,
        metadata={"help": "'balanced': weight the loss by inverse class frequency.", "choices": ["balanced"]},
    )

    def __post_init__(self):
        self.spec: ModelSpec = get_model_spec(self.model_type)
        # Flags of another family than this type's: refused rather than silently ignored.
        defaults = {f.name: f.default for f in fields(self)}
        for spec in MODEL_SPECS.values():
            if spec.family is self.spec.family:
                continue
            for name in spec.family.own_flags:
                if getattr(self, name) != defaults[name]:
                    raise UserInputError(
                        f"--{name} is for {_FAMILY_TYPES[spec.family.name]}; {self.model_type} is "
                        f"{_FAMILY_MODEL[self.spec.family.name]}"
                    )
        _check_positive(
            {"--vocab_size": self.vocab_size, "--min_frequency": self.min_frequency, "--lora_r": self.lora_r}
        )
        if self.adversarial_epsilon < 0:
            raise UserInputError(f"--adversarial_epsilon must be 0 (off) or positive, got {self.adversarial_epsilon}")
        if self.merge_lora:
            raise UserInputError(
                "--merge_lora is no longer needed: a LoRA run always saves the merged model in --output_dir and "
                "the adapter in its adapter/ folder"
            )
        # Parsed once, here: bad keys or values fail before anything is loaded.
        self.overrides: dict = (
            {} if self.spec.is_pretrained else parse_config_overrides(self.config_overrides, self.spec.config_class)
        )
        if self.glove_path:
            check_glove_dimension(self.glove_path, self.spec.config_class(**self.overrides).embedding_dim)


@dataclass
class DataArguments:
    """Which data to train on, and how the run folder is treated."""

    dataset: str = field(
        default="tweet_sentiment",
        metadata={"help": f"A data config name ({', '.join(available_datasets())}) or the path of a YAML config."},
    )
    data_dir: str | None = field(
        default=None,
        metadata={"help": "Read {train,validation,test}.{jsonl,jsonl.gz,csv,parquet} (or the config's files) here."},
    )
    text_column: str | None = field(
        default=None,
        metadata={"help": "The column(s) holding the text, comma-separated, in place of the data config's."},
    )
    label_column: str | None = field(
        default=None, metadata={"help": "The column holding the label, in place of the data config's."}
    )
    multi_label_threshold: float | None = field(
        default=None,
        metadata={
            "help": "Multi-label data: a label is predicted when its probability reaches this (default "
            f"{DEFAULT_THRESHOLD}; without --do_train, the model's). Saved with the model for predict and evaluate."
        },
    )
    max_length: int | None = field(
        default=None, metadata={"help": "Truncate texts to this many tokens (default: the data config's)."}
    )
    truncation: str | None = field(
        default=None,
        metadata={
            "help": "How a longer text is cut to --max_length: 'head_tail' keeps its first quarter from the start and "
            "the rest from the end, where reviews give their verdict; 'head' keeps the start (default: the data "
            "config's, head_tail unless it names another). Saved with the model for predict and evaluate.",
            "choices": list(TRUNCATION_STRATEGIES),
        },
    )
    max_train_samples: int | None = field(
        default=None, metadata={"help": "Use only the first N training rows (in the data's order)."}
    )
    max_eval_samples: int | None = field(default=None, metadata={"help": "Use only the first N validation rows."})
    max_test_samples: int | None = field(default=None, metadata={"help": "Use only the first N test rows."})
    pad_to_multiple_of: int | None = field(
        default=8, metadata={"help": "Pad each batch to a multiple of this (tensor-core friendly); 0 or None: off."}
    )
    early_stopping_patience: int | None = field(
        default=None,
        metadata={
            "help": "Stop after this many evaluations without improvement of --metric_for_best_model; the best "
            "checkpoint is kept. 0: off. Default: 3 for the recurrent types (which then train up to 30 epochs) unless "
            "--num_train_epochs or --max_steps is given; off for the transformers."
        },
    )
    overwrite_output_dir: bool = field(
        default=False, metadata={"help": "Allow writing into a non-empty --output_dir (the earlier run's files go)."}
    )
    keep_checkpoints: bool = field(
        default=False,
        metadata={
            "help": "Keep the checkpoint-* folders (with optimizer state) after the run has finished; by default "
            "they are deleted then, since the best model is saved at the top of --output_dir."
        },
    )

    def __post_init__(self):
        _check_positive(
            {
                "--max_length": self.max_length,
                "--max_train_samples": self.max_train_samples,
                "--max_eval_samples": self.max_eval_samples,
                "--max_test_samples": self.max_test_samples,
            }
        )
        if self.multi_label_threshold is not None and not 0 < self.multi_label_threshold < 1:
            raise UserInputError(f"--multi_label_threshold must be between 0 and 1, got {self.multi_label_threshold}")
        if self.early_stopping_patience is not None and self.early_stopping_patience < 0:
            raise UserInputError(
                f"--early_stopping_patience must be 0 (off) or positive, got {self.early_stopping_patience}"
            )


def add_data_arguments(parser: argparse.ArgumentParser) -> None:
    """--dataset (required), --data_dir, --text_column and --label_column, with train.py's help, for the scripts that
    read a dataset beside a model or a tokenizer (evaluate_model.py, inspect_data.py)."""
    for name in ("dataset", "data_dir", "text_column", "label_column"):
        help_text = DataArguments.__dataclass_fields__[name].metadata["help"]
        parser.add_argument(f"--{name}", required=name == "dataset", default=None, help=help_text)


def data_config_of(args: argparse.Namespace) -> DataConfig:
    """The data config that `add_data_arguments`' flags name, with its columns replaced as they say."""
    return override_columns(load_data_config(args.dataset), args.text_column, args.label_column)


def _check_positive(values: dict) -> None:
    for flag, value in values.items():
        if value is not None and value <= 0:
            raise UserInputError(f"{flag} must be positive, got {value}")


# --do_train/--do_eval/--do_predict as in transformers' run_classification.py: each runs its stage (training, the
# final evaluation on validation, the test predictions and reports); none of them given means all three.
STAGES = ("do_train", "do_eval", "do_predict")
# TrainingArguments flags whose --help says what train.py does with them (the Trainer's own text is generic).
FLAG_HELP = {
    "do_train": "Train and save the model (validating each epoch). No --do_* flag at all: train, eval and predict.",
    "do_eval": "Evaluate on the validation split. Without --do_train: the trained model of --model_name_or_path "
    "(results in --output_dir) or else of --output_dir (results beside it), left unchanged.",
    "do_predict": "Predict the test split and write its reports. Without --do_train: a trained model, as --do_eval.",
    "hub_strategy": "With --push_to_hub train.py uploads the finished run once, at the end: every_save (the default) "
    "and end mean that; checkpoint and all_checkpoints are refused.",
    "report_to": 'Trackers to log to, e.g. tensorboard (into OUTPUT_DIR/runs; pip install -e ".[tracking]"). A '
    "tracker that is not installed is refused.",
}
# The Trainer's own optimizer, used unless --optimizer or --optim names another.
DEFAULT_OPTIM = TrainingArguments.__dataclass_fields__["optim"].default
# TrainingArguments defaults that suit classification experiments; model-family defaults come from the registry.
RUN_DEFAULTS = {
    "eval_strategy": "epoch",
    "save_strategy": "epoch",
    "logging_strategy": "steps",
    "logging_steps": 0.02,
    "load_best_model_at_end": True,
    "metric_for_best_model": "f1_macro",
    "save_total_limit": 1,
    "train_sampling_strategy": "group_by_length",
    "report_to": "none",
    # Pinned memory only speeds copies to a GPU; without one, torch warns about it on every run.
    "dataloader_pin_memory": torch.cuda.is_available(),
}


def parse_args(
    description: str | None = None, argv: list[str] | None = None
) -> tuple[ModelArguments, DataArguments, TrainingArguments, "DistillationArguments"]:
    """
    train.py's arguments from the command line (or `argv`; or one JSON file of them), with the run defaults filled
    in.
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not torch.cuda.is_available():
        # Several processes (torchrun) and no GPU: Accelerate runs them on the CPU with gloo only when told to,
        # as `accelerate launch --cpu` does.
        os.environ.setdefault("ACCELERATE_USE_CPU", "true")
    parser = HfArgumentParser(train_argument_classes(), description=description)
    for name, text in FLAG_HELP.items():
        parser._option_string_actions[f"--{name}"].help = text
    # Defaults depend on the model type, dataset and fine-tuning strategy: read those first, then parse everything.
    try:
        if len(argv) == 1 and argv[0].endswith(".json"):
            path = Path(argv[0])
            try:
                given = json.loads(path.read_text())
            except (OSError, ValueError) as error:
                raise UserInputError(f"{path}: not a readable JSON file of arguments ({error})") from None
            if not isinstance(given, dict):
                raise UserInputError(f"{path}: must hold one JSON object of argument names and values")
            _check_known(parser, [f"--{key}" for key in given], f"in {path}")
            model_args, data_args = parser.parse_dict(given, allow_extra_keys=True)[:2]
            defaults = run_defaults(model_args, data_args, given)
            model_args, data_args, training_args, distillation_args = parser.parse_dict({**defaults, **given})
            stages = {stage: bool(given.get(stage)) for stage in STAGES}
        else:
            known, unknown = parser.parse_known_args(argv)
            _check_known(parser, unknown, "on the command line")
            given = {name: getattr(known, name, None) for name in explicit_flags(parser, argv)}
            parser.set_defaults(**run_defaults(known, known, given))
            model_args, data_args, training_args, distillation_args = parser.parse_args_into_dataclasses(args=argv)
            stages = {stage: bool(getattr(known, stage)) for stage in STAGES}
    except UserInputError:
        raise
    except ValueError as error:  # TrainingArguments checks its own values (e.g. warmup_steps >= 0)
        raise UserInputError(str(error).strip().splitlines()[0]) from None
    if training_args.lr_scheduler_type == SchedulerType.REDUCE_ON_PLATEAU:
        # The metric decides when the rate is cut: it is worse when lower unless told otherwise (e.g. a loss).
        mode = "max" if training_args.greater_is_better else "min"
        training_args.lr_scheduler_kwargs = {"mode": mode, **(training_args.lr_scheduler_kwargs or {})}
    # The stages as given: TrainingArguments turns do_eval on by itself whenever eval_strategy is set.
    for stage, given_stage in stages.items():
        setattr(training_args, stage, given_stage or not any(stages.values()))
    problem_type = _problem_type(data_args)
    check_training_arguments(model_args, training_args, problem_type)
    check_distillation(distillation_args, model_args, training_args, problem_type)
    return model_args, data_args, training_args, distillation_args


def train_argument_classes() -> tuple[type, ...]:
    """The dataclasses of train.py's flags, in the order `parse_args` returns them."""
    return ModelArguments, DataArguments, TrainingArguments, DistillationArguments


def explicit_flags(parser: HfArgumentParser, argv: list[str]) -> set[str]:
    """The argument names `argv` gives (the defaults argparse fills in left out; abbreviations count)."""
    unset = object()
    namespace = argparse.Namespace(**{action.dest: unset for action in parser._actions})
    parser.parse_known_args(argv, namespace=namespace)
    return {name for name, value in vars(namespace).items() if value is not unset}


def _check_known(parser: HfArgumentParser, flags: list[str], where: str) -> None:
    """Refuse an unknown flag (a typo such as --lerning_rate) with the closest known one."""
    options = [option for action in parser._actions for option in action.option_strings if option.startswith("--")]
    for flag in flags:
        name = flag.split("=", 1)[0]
        if not name.startswith("-"):
            raise UserInputError(f"unexpected argument {flag!r} {where}; every value follows its --flag")
        if name not in options:
            close = difflib.get_close_matches(name, options, n=1)
            hint = f"did you mean {close[0]}? " if close else ""
            raise UserInputError(f"unknown argument {name} {where}; {hint}--help lists them all")


def run_defaults(model_args, data_args, given: dict | None = None) -> dict:
    """
    The TrainingArguments defaults of a run: this module's, its model family's and strategy's (and those of a fixed
    length where --num_train_epochs or --max_steps is given), and output_dir. `given`: the arguments the user gave,
    by name; with --save_strategy no or --eval_strategy no, keeping the best model is off unless asked for (there
    would be no checkpoint, or no score, to choose it by). The metric that picks the best checkpoint is the data's
    problem type's (regression: the lowest `mse`), and a given `metric_for_best_model` is marked better higher or
    lower (the Trainer would take `mse` as higher).
    """
    given = given or {}
    if model_args.model_type is None:
        return {}
    family = get_model_spec(model_args.model_type).family
    defaults = {**RUN_DEFAULTS, **family.training_defaults}
    defaults.update(family.strategy_defaults.get(model_args.finetune_strategy, {}))
    if "num_train_epochs" in given or "max_steps" in given:
        defaults.update(family.fixed_length_defaults)
    defaults["output_dir"] = f"outputs/{model_args.model_type}-{Path(data_args.dataset).stem}"
    if "load_best_model_at_end" not in given and any(
        str(getattr(given.get(flag), "value", given.get(flag))).lower() == "no"
        for flag in ("save_strategy", "eval_strategy")
    ):
        defaults["load_best_model_at_end"] = False
    metric_for_best_model = given.get("metric_for_best_model")
    if metric_for_best_model is None:
        defaults["metric_for_best_model"], defaults["greater_is_better"] = BEST_METRIC[_problem_type(data_args)]
    else:
        defaults["greater_is_better"] = greater_is_better(metric_for_best_model)
    return defaults


def _problem_type(data_args) -> str:
    """The data config's problem type; a config that does not load is reported later, where it is read."""
    try:
        return load_data_config(data_args.dataset).problem_type
    except (UserInputError, OSError, TypeError, ValueError):
        return SINGLE_LABEL


# --report_to trackers -> the package to install; each is checked with transformers' own is_<name>_available.
TRACKER_PACKAGES = {
    "tensorboard": "tensorboard", "trackio": "trackio", "wandb": "wandb", "mlflow": "mlflow", "comet_ml": "comet_ml",
    "clearml": "clearml", "neptune": "neptune", "dvclive": "dvclive", "codecarbon": "codecarbon",
    "swanlab": "swanlab", "dagshub": "dagshub", "azure_ml": "azureml-core", "flyte": "flytekit",
}  # fmt: skip
# The trackers setup.cfg's `tracking` extra installs.
TRACKING_EXTRA = ("tensorboard",)
_AVAILABILITY = {
    "comet_ml": "is_comet_available",
    "azure_ml": "is_azureml_available",
    "flyte": "is_flytekit_available",
}


def tracker_available(name: str) -> bool:
    """Whether the package of `--report_to` tracker `name` is installed (unknown names: left to transformers)."""
    from transformers.integrations import integration_utils

    check = getattr(integration_utils, _AVAILABILITY.get(name, f"is_{name}_available"), None)
    return check is None or bool(check())


def check_training_arguments(
    model_args: ModelArguments, training_args: TrainingArguments, problem_type: str = SINGLE_LABEL
) -> None:
    """
    Refuse TrainingArguments values that are impossible here or contradict this script's flags; the best-model
    metric must be one that data of `problem_type` report.
    """
    _check_positive(
        {
            "--learning_rate": training_args.learning_rate,
            "--per_device_train_batch_size": training_args.per_device_train_batch_size,
        }
    )
    if model_args.optimizer is not None and training_args.optim != DEFAULT_OPTIM:
        raise UserInputError(
            f"--optimizer {model_args.optimizer} and --optim {training_args.optim.value} both choose the optimizer; "
            "give one of them"
        )
    if training_args.max_steps <= 0 and training_args.num_train_epochs <= 0:
        raise UserInputError(f"--num_train_epochs must be positive, got {training_args.num_train_epochs}")
    metric = training_args.metric_for_best_model
    known = (*METRIC_NAMES[problem_type], "loss")
    if metric is not None and metric.removeprefix("eval_") not in known:
        raise UserInputError(
            f"--metric_for_best_model {metric} is not reported for {problem_type} data; choose one of: "
            f"{', '.join(known)}"
        )
    for name in training_args.report_to or []:
        if name in TRACKER_PACKAGES and not tracker_available(name):
            install = (
                'pip install -e ".[tracking]"' if name in TRACKING_EXTRA else f"pip install {TRACKER_PACKAGES[name]}"
            )
            raise UserInputError(
                f"--report_to {name}: {TRACKER_PACKAGES[name]} is not installed; {install}, or drop it"
            )
    # train.py uploads the finished folder once, at the end (see scripts/train.py); it never pushes checkpoints.
    if str(getattr(training_args.hub_strategy, "value", training_args.hub_strategy)) not in ("every_save", "end"):
        raise UserInputError(
            f"--hub_strategy {training_args.hub_strategy.value}: train.py uploads the finished run once, at the end, "
            "and never its checkpoints; use --hub_strategy end (every_save, the default, means the same here)"
        )
    check_precision(training_args)
    if not training_args.do_train:
        for flag, given in (
            ("--push_to_hub", training_args.push_to_hub),
            ("--resume_from_checkpoint", training_args.resume_from_checkpoint is not None),
        ):
            if given:
                raise UserInputError(f"{flag} needs --do_train: without it, nothing is trained")


def check_precision(training_args: TrainingArguments) -> None:
    """Refuse --fp16 or --bf16 on a device that cannot run it, rather than training in float32 unannounced."""
    device = training_args.device
    if training_args.fp16 and device.type == "cpu":
        raise UserInputError("--fp16 needs a GPU and this run is on the CPU; drop --fp16 (or use --bf16 on the CPU)")
    if training_args.bf16 and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise UserInputError(f"--bf16: this GPU ({torch.cuda.get_device_name(device)}) has no bfloat16; use --fp16")


def check_distillation(
    distillation_args: "DistillationArguments",
    model_args: ModelArguments,
    training_args: TrainingArguments,
    problem_type: str,
) -> None:
    """A teacher teaches a training run on single-label data (its soft targets are class probabilities)."""
    if distillation_args.teacher_model_name_or_path is None:
        return
    if problem_type != SINGLE_LABEL:
        raise UserInputError(
            f"--teacher_model_name_or_path distils class probabilities, for single-label data; this data is "
            f"{problem_type}"
        )
    if not training_args.do_train:
        raise UserInputError("--teacher_model_name_or_path needs --do_train: without it, nothing is trained")


def check_glove_dimension(glove_path: str, expected: int) -> None:
    """The GloVe file exists and its vectors (read from its first line) have `expected`, the model's embedding_dim."""
    path = Path(glove_path)
    if not path.is_file():
        raise UserInputError(f"GloVe file {path} does not exist")
    with path.open(encoding="utf-8", errors="replace") as handle:
        fields_ = handle.readline().rstrip().split(" ")
        if len(fields_) == 2:  # a word2vec header: "count dim"
            fields_ = handle.readline().rstrip().split(" ")
    dimension = len(fields_) - 1
    if dimension != expected:
        raise UserInputError(
            f"{path} holds {dimension}-dimensional vectors but the model's embedding_dim is {expected}; "
            f"pass --config_overrides embedding_dim={dimension}"
        )


@dataclass
class DistillationArguments:
    """Training a student against a teacher's logits (knowledge distillation) over an augmented transfer set."""

    teacher_model_name_or_path: str | None = field(
        default=None,
        metadata={
            "help": "Distil from this teacher: a folder train.py wrote, or a sequence classifier (folder or Hub id) "
            "whose label names are the data's. The student trains on the teacher's logits over a transfer set (the "
            "training split, augmented copies, --unlabeled_file); its logits are computed once and cached. 'none': "
            "no teacher (for a study that compares runs with and without one). The distillation defaults below "
            "follow the papers cited and are not yet measured on this project's data."
        },
    )
    distillation_loss: str = field(
        default="mse",
        metadata={
            "help": "The soft loss: 'mse' between the logit vectors (Tang et al. 2019, who found it better than "
            "cross-entropy on soft targets for a BiLSTM student) or 'kl' between the softmaxes at "
            "--distillation_temperature, times its square (Hinton et al. 2015).",
            "choices": list(DISTILLATION_LOSSES),
        },
    )
    distillation_alpha: float = field(
        default=0.9,
        metadata={
            "help": "In [0, 1]: the weight of the soft loss; the hard-label loss (texts with a gold label only, with "
            "--label_smoothing_factor) gets the rest. 0.9: Hinton et al. 2015 found a much lower weight on the "
            "hard labels best."
        },
    )
    distillation_temperature: float = field(
        default=2.0,
        metadata={"help": "With --distillation_loss kl: the softmax temperature (2 as in DistilBERT)."},
    )
    augment_copies: int = field(
        default=10,
        metadata={
            "help": "Augmented copies of each training text in the transfer set, labelled by the teacher alone; an "
            "epoch then reads 11 times the texts of a plain one. Tang et al. 2019 used 20 on SST-2; on tweets 10 beat "
            "4 (docs/results.md)."
        },
    )
    augment_mask_probability: float = field(
        default=0.1, metadata={"help": "Augmentation: each word becomes [UNK] with this probability (Tang: 0.1)."}
    )
    augment_ngram_probability: float = field(
        default=0.25,
        metadata={
            "help": "Augmentation: with this probability a copy keeps only a random span of 1 to 5 words (Tang: 0.25)."
        },
    )
    unlabeled_file: str | None = field(
        default=None,
        metadata={
            "help": "Texts without labels for the transfer set: one a line, or the `text` column of a .jsonl or "
            ".csv file. The teacher labels them; they are not augmented."
        },
    )
    teacher_batch_size: int = field(default=64, metadata={"help": "Texts per teacher forward pass."})
    teacher_cache_dir: str | None = field(
        default=None,
        metadata={"help": "Where teacher logits are cached (default: $HF_HOME/text-classification/teacher_logits)."},
    )

    def __post_init__(self):
        if self.teacher_model_name_or_path is not None and self.teacher_model_name_or_path.lower() == "none":
            self.teacher_model_name_or_path = None  # said explicitly: the other distillation flags may be set
        elif self.teacher_model_name_or_path is None:
            defaults = {f.name: f.default for f in fields(self)}
            for name, default in defaults.items():
                if getattr(self, name) != default:
                    raise UserInputError(f"--{name} needs --teacher_model_name_or_path")
        if not 0 <= self.distillation_alpha <= 1:
            raise UserInputError(f"--distillation_alpha must be in [0, 1], got {self.distillation_alpha}")
        for flag, value in (
            ("--augment_mask_probability", self.augment_mask_probability),
            ("--augment_ngram_probability", self.augment_ngram_probability),
        ):
            if not 0 <= value <= 1:
                raise UserInputError(f"{flag} must be in [0, 1], got {value}")
        if self.augment_copies < 0:
            raise UserInputError(f"--augment_copies must be 0 or more, got {self.augment_copies}")
        _check_positive(
            {
                "--distillation_temperature": self.distillation_temperature,
                "--teacher_batch_size": self.teacher_batch_size,
            }
        )
        if self.unlabeled_file is not None and not Path(self.unlabeled_file).is_file():
            raise UserInputError(f"--unlabeled_file {self.unlabeled_file} does not exist")
