"""The arguments of `scripts/train.py`: which model and how to build it, which data, and the run defaults of each
model family. Every field carries its `--help`; each dataclass checks its own values in `__post_init__`, so a bad
value stops the run before anything is loaded or written.
"""

import argparse
import json
import os
import sys
from dataclasses import dataclass, field, fields
from pathlib import Path

import torch
from transformers import HfArgumentParser, TrainingArguments
from transformers.trainer_utils import SchedulerType

from .data import DEFAULT_VOCAB_SIZE, TRUNCATION_STRATEGIES, available_datasets
from .errors import UserInputError
from .registry import MODEL_SPECS, ModelSpec, get_model_spec, parse_config_overrides
from .training import FINETUNE_STRATEGIES, OPTIMIZERS

_FAMILY_WORDS = {"recurrent": "recurrent model trained from scratch", "transformer": "pretrained transformer"}


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
        default=False, metadata={"help": "With --finetune_strategy lora: also save a plain merged model in merged/."}
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
                        f"--{name} is for the {_FAMILY_WORDS[spec.family.name]} types; {self.model_type} is "
                        f"a {_FAMILY_WORDS[self.spec.family.name]}"
                    )
        _check_positive(
            {"--vocab_size": self.vocab_size, "--min_frequency": self.min_frequency, "--lora_r": self.lora_r}
        )
        if self.adversarial_epsilon < 0:
            raise UserInputError(f"--adversarial_epsilon must be 0 (off) or positive, got {self.adversarial_epsilon}")
        if self.merge_lora and self.finetune_strategy != "lora":
            raise UserInputError("--merge_lora needs --finetune_strategy lora")
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
        if self.early_stopping_patience is not None and self.early_stopping_patience < 0:
            raise UserInputError(
                f"--early_stopping_patience must be 0 (off) or positive, got {self.early_stopping_patience}"
            )


def _check_positive(values: dict) -> None:
    for flag, value in values.items():
        if value is not None and value <= 0:
            raise UserInputError(f"{flag} must be positive, got {value}")


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
) -> tuple[ModelArguments, DataArguments, TrainingArguments]:
    """
    train.py's arguments from the command line (or `argv`; or one JSON file of them), with the run defaults filled
    in.
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not torch.cuda.is_available():
        # Several processes (torchrun) and no GPU: Accelerate runs them on the CPU with gloo only when told to,
        # as `accelerate launch --cpu` does.
        os.environ.setdefault("ACCELERATE_USE_CPU", "true")
    parser = HfArgumentParser((ModelArguments, DataArguments, TrainingArguments), description=description)
    # Defaults depend on the model type, dataset and fine-tuning strategy: read those first, then parse everything.
    if len(argv) == 1 and argv[0].endswith(".json"):
        path = Path(argv[0])
        try:
            given = json.loads(path.read_text())
        except (OSError, ValueError) as error:
            raise UserInputError(f"{path}: not a readable JSON file of arguments ({error})") from None
        model_args, data_args = parser.parse_dict(given, allow_extra_keys=True)[:2]
        fixed_length = "num_train_epochs" in given or "max_steps" in given
        defaults = run_defaults(model_args, data_args, fixed_length)
        model_args, data_args, training_args = parser.parse_dict({**defaults, **given})
    else:
        known, _ = parser.parse_known_args(argv)
        fixed_length = bool(explicit_flags(parser, argv) & {"num_train_epochs", "max_steps"})
        parser.set_defaults(**run_defaults(known, known, fixed_length))
        model_args, data_args, training_args = parser.parse_args_into_dataclasses(args=argv)
    if training_args.lr_scheduler_type == SchedulerType.REDUCE_ON_PLATEAU:
        # The metric decides when the rate is cut: it is worse when lower unless told otherwise (e.g. a loss).
        mode = "max" if training_args.greater_is_better else "min"
        training_args.lr_scheduler_kwargs = {"mode": mode, **(training_args.lr_scheduler_kwargs or {})}
    check_training_arguments(model_args, training_args)
    return model_args, data_args, training_args


def explicit_flags(parser: HfArgumentParser, argv: list[str]) -> set[str]:
    """The argument names `argv` gives (the defaults argparse fills in left out; abbreviations count)."""
    unset = object()
    namespace = argparse.Namespace(**{action.dest: unset for action in parser._actions})
    parser.parse_known_args(argv, namespace=namespace)
    return {name for name, value in vars(namespace).items() if value is not unset}


def run_defaults(model_args, data_args, fixed_length: bool = False) -> dict:
    """
    The defaults of a run: this module's, its model family's and strategy's (those of a fixed length where
    --num_train_epochs or --max_steps is given), and output_dir.
    """
    if model_args.model_type is None:
        return {}
    family = get_model_spec(model_args.model_type).family
    defaults = {**RUN_DEFAULTS, **family.training_defaults}
    defaults.update(family.strategy_defaults.get(model_args.finetune_strategy, {}))
    if fixed_length:
        defaults.update(family.fixed_length_defaults)
    defaults["output_dir"] = f"outputs/{model_args.model_type}-{Path(data_args.dataset).stem}"
    return defaults


def check_training_arguments(model_args: ModelArguments, training_args: TrainingArguments) -> None:
    """Refuse TrainingArguments values that are impossible here or contradict this script's flags."""
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
