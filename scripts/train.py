#!/usr/bin/env python
"""Train any model type of this project on any dataset config with the transformers Trainer.

    python scripts/train.py --model_type attn_bilstm --dataset tweet_sentiment --output_dir outputs/attn
    accelerate launch scripts/train.py --model_type attn_bilstm --dataset 20newsgroups
    python scripts/train.py --model_type distilbert --model_name_or_path DIR --finetune_strategy hybrid ...

Every TrainingArguments flag works too (`--help` lists them all); a JSON file of arguments can replace the flags.
The run leaves in --output_dir the best model (by --metric_for_best_model, macro-F1 unless told otherwise) with its
tokenizer and config, `all_results.json`, the test predictions and the reports described in README.md.
"""

import json
import logging
import os
import re
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

import torch
import transformers
import yaml
from datasets import Dataset
from transformers import (
    AutoModelForSequenceClassification,
    AutoTokenizer,
    DataCollatorWithPadding,
    EarlyStoppingCallback,
    HfArgumentParser,
    PreTrainedTokenizerBase,
    TrainingArguments,
    set_seed,
)
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

# `python scripts/train.py` puts scripts/ first on sys.path, where scripts/evaluate.py would shadow the `evaluate`
# package: put the repository root there instead.
SCRIPTS_DIR = Path(__file__).resolve().parent
sys.path[:] = [str(SCRIPTS_DIR.parent)] + [p for p in sys.path if Path(p or ".").resolve() != SCRIPTS_DIR]

from modeling.data import (  # noqa: E402
    TRUNCATION_STRATEGIES,
    available_datasets,
    load_data_config,
    load_splits,
    tokenize_splits,
)
from modeling.errors import UserInputError, cli_entry_point  # noqa: E402
from modeling.hub import check_repo_id, dataset_card_arguments, push_to_hub, write_model_card  # noqa: E402
from modeling.metrics import build_compute_metrics  # noqa: E402
from modeling.registry import FINETUNE_STRATEGY_DEFAULTS, MODEL_SPECS, get_model_spec  # noqa: E402
from modeling.reporting import format_summary, write_run_reports  # noqa: E402
from modeling.tokenization import DEFAULT_VOCAB_SIZE, train_word_tokenizer  # noqa: E402
from modeling.training import (  # noqa: E402
    FINETUNE_STRATEGIES,
    OPTIMIZERS,
    TextClassificationTrainer,
    apply_finetune_strategy,
    class_weighted_loss,
    count_parameters,
)
from modeling.word_vectors import read_glove_vectors, tfidf_token_weights  # noqa: E402

logger = logging.getLogger("train")


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
            "with --config_overrides word_dropout=0 (README)."
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


@dataclass
class DataArguments:
    """Which data to train on."""

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
            "config's, head_tail unless it names another). Saved in the config (`text_truncation`) for "
            "scripts/predict.py and scripts/evaluate.py.",
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
        default=None, metadata={"help": "Stop after this many evaluations without improvement."}
    )
    overwrite_output_dir: bool = field(
        default=False, metadata={"help": "Allow writing into a non-empty --output_dir."}
    )


# The Trainer's own optimizer, used unless --optimizer or --optim names another.
DEFAULT_OPTIM = TrainingArguments.__dataclass_fields__["optim"].default
# TrainingArguments defaults that suit classification experiments; model-type defaults come from the registry.
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


def parse_args() -> tuple[ModelArguments, DataArguments, TrainingArguments]:
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not torch.cuda.is_available():
        # Several processes (torchrun) and no GPU: Accelerate runs them on the CPU with gloo only when told to,
        # as `accelerate launch --cpu` does.
        os.environ.setdefault("ACCELERATE_USE_CPU", "true")
    parser = HfArgumentParser((ModelArguments, DataArguments, TrainingArguments), description=__doc__)
    # Defaults depend on the model type, dataset and fine-tuning strategy: read those first, then parse everything.
    if len(sys.argv) == 2 and sys.argv[1].endswith(".json"):
        path = Path(sys.argv[1])
        try:
            given = json.loads(path.read_text())
        except (OSError, ValueError) as error:
            raise UserInputError(f"{path}: not a readable JSON file of arguments ({error})") from None
        model_args, data_args = parser.parse_dict(given, allow_extra_keys=True)[:2]
        return parser.parse_dict({**run_defaults(model_args, data_args), **given})
    known, _ = parser.parse_known_args()
    parser.set_defaults(**run_defaults(known, known))
    return parser.parse_args_into_dataclasses()


def run_defaults(model_args, data_args) -> dict:
    """The TrainingArguments defaults of a run: this script's, its model type's and its strategy's, and output_dir."""
    if model_args.model_type is None:
        return {}
    spec = get_model_spec(model_args.model_type)
    defaults = {**RUN_DEFAULTS, **spec.training_defaults}
    if spec.is_pretrained:
        defaults.update(FINETUNE_STRATEGY_DEFAULTS.get(model_args.finetune_strategy, {}))
    defaults["output_dir"] = f"outputs/{model_args.model_type}-{Path(data_args.dataset).stem}"
    return defaults


def check_arguments(model_args: ModelArguments, data_args: DataArguments, training_args: TrainingArguments) -> None:
    """Refuse impossible values and flags that contradict each other, before anything is loaded or written."""
    spec = get_model_spec(model_args.model_type)
    positive = {
        "--max_length": data_args.max_length,
        "--vocab_size": model_args.vocab_size,
        "--min_frequency": model_args.min_frequency,
        "--lora_r": model_args.lora_r,
        "--learning_rate": training_args.learning_rate,
        "--per_device_train_batch_size": training_args.per_device_train_batch_size,
        "--max_train_samples": data_args.max_train_samples,
        "--max_eval_samples": data_args.max_eval_samples,
        "--max_test_samples": data_args.max_test_samples,
    }
    for flag, value in positive.items():
        if value is not None and value <= 0:
            raise UserInputError(f"{flag} must be positive, got {value}")
    if model_args.adversarial_epsilon < 0:
        raise UserInputError(
            f"--adversarial_epsilon must be 0 (off) or positive, got {model_args.adversarial_epsilon}"
        )
    if model_args.optimizer is not None and training_args.optim != DEFAULT_OPTIM:
        raise UserInputError(
            f"--optimizer {model_args.optimizer} and --optim {training_args.optim.value} both choose the optimizer; "
            "give one of them"
        )
    if training_args.max_steps <= 0 and training_args.num_train_epochs <= 0:
        raise UserInputError(f"--num_train_epochs must be positive, got {training_args.num_train_epochs}")
    if spec.is_pretrained:
        for flag, value in (
            ("--glove_path", model_args.glove_path),
            ("--tfidf_weighting", model_args.tfidf_weighting),
            ("--freeze_embeddings", model_args.freeze_embeddings),
            ("--config_overrides", model_args.config_overrides),
        ):
            if value:
                raise UserInputError(
                    f"{flag} applies to the recurrent model types; {model_args.model_type} is a pretrained "
                    "transformer (use --finetune_strategy to choose what trains)"
                )
    else:
        if model_args.finetune_strategy != "full":
            raise UserInputError(
                f"--finetune_strategy {model_args.finetune_strategy} needs a pretrained transformer; "
                f"{model_args.model_type} trains from scratch (use --freeze_embeddings to keep GloVe vectors fixed)"
            )
        overrides = parse_config_overrides(model_args.config_overrides, spec.config_class)  # bad ones fail now
        if model_args.glove_path:
            check_glove_dimension(model_args.glove_path, spec.config_class(**overrides).embedding_dim)
    if model_args.merge_lora and model_args.finetune_strategy != "lora":
        raise UserInputError("--merge_lora needs --finetune_strategy lora")


def check_glove_dimension(glove_path: str, expected: int) -> None:
    """The GloVe file exists and its vectors (read from its first line) have `expected`, the model's embedding_dim."""
    path = Path(glove_path)
    if not path.is_file():
        raise UserInputError(f"GloVe file {path} does not exist")
    with path.open(encoding="utf-8", errors="replace") as handle:
        fields = handle.readline().rstrip().split(" ")
        if len(fields) == 2:  # a word2vec header: "count dim"
            fields = handle.readline().rstrip().split(" ")
    dimension = len(fields) - 1
    if dimension != expected:
        raise UserInputError(
            f"{path} holds {dimension}-dimensional vectors but the model's embedding_dim is {expected}; "
            f"pass --config_overrides embedding_dim={dimension}"
        )


def check_output_dir(training_args: TrainingArguments, data_args: DataArguments) -> None:
    """Refuse to write into a non-empty output_dir unless told to overwrite or resume."""
    output_dir = Path(training_args.output_dir)
    if output_dir.is_dir() and any(output_dir.iterdir()):
        if not (data_args.overwrite_output_dir or training_args.resume_from_checkpoint):
            raise UserInputError(
                f"output directory {output_dir} is not empty; pass --overwrite_output_dir to replace its results, "
                "--resume_from_checkpoint last to continue its run, or choose another --output_dir"
            )


# What a run of this script writes into --output_dir ("What a run leaves" in README). --overwrite_output_dir removes
# these first, so that nothing of the previous run outlives it: a LoRA adapter left beside a new full model would be
# loaded on top of it, and the Trainer merges new metrics into an old all_results.json. Other files stay.
RUN_OUTPUTS = (
    "checkpoint-*", "merged", "config.json", "generation_config.json", "*.safetensors", "*.safetensors.index.json",
    "pytorch_model*.bin", "adapter_config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
    "vocab.txt", "added_tokens.json", "configuration_*.py", "modeling_*.py", "README.md", "*results.json",
    "trainer_state.json", "training_args.json", "training_args.bin", "*_predictions.csv", "classification_report.txt",
    "confusion_matrix.png", "per_class_f1.png", "training_curves.png",
)  # fmt: skip


def clear_previous_run(output_dir: Path) -> list[str]:
    """Delete what an earlier run of this script left in `output_dir` (`RUN_OUTPUTS`); return the names deleted."""
    removed = sorted({path for pattern in RUN_OUTPUTS for path in output_dir.glob(pattern)})
    for path in removed:
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
    return [path.name for path in removed]


def absolute_if_local(name: str | None) -> str | None:
    """`name` as an absolute path when it is a local file or folder; a Hub id (or None) as it is."""
    return str(Path(name).resolve()) if name is not None and Path(name).exists() else name


def is_complete_checkpoint(folder: Path) -> bool:
    """
    Whether `folder` holds a whole checkpoint. The Trainer writes trainer_state.json last, so a run killed while
    saving leaves it missing, or empty or cut short when the kill lands during that write.
    """
    try:
        json.loads((folder / "trainer_state.json").read_text())
    except (OSError, ValueError):
        return False
    return True


def resolve_resume(value: str | None, output_dir: str) -> str | None:
    """`--resume_from_checkpoint last` -> the newest complete checkpoint of output_dir; a path is checked."""
    if value is None:
        return None
    if value.lower() in ("last", "true"):
        # Only the Trainer's own folders (checkpoint-<step>), as transformers' get_last_checkpoint reads them.
        prefix = f"{PREFIX_CHECKPOINT_DIR}-"
        complete = {
            int(step): folder
            for folder in Path(output_dir).glob(f"{prefix}*")
            if (step := folder.name.removeprefix(prefix)).isdigit() and is_complete_checkpoint(folder)
        }  # step -> folder
        if not complete:
            raise UserInputError(
                f"no complete checkpoint in {output_dir} to resume from; start the run again without "
                "--resume_from_checkpoint (add --overwrite_output_dir)"
            )
        return str(complete[max(complete)])
    if not is_complete_checkpoint(Path(value)):
        raise UserInputError(f"{value} is not a complete checkpoint folder (no readable trainer_state.json)")
    return value


def build_tokenizer(
    model_args: ModelArguments,
    checkpoint: str | None,
    train: Dataset,
    max_length: int,
    training_args: TrainingArguments,
) -> PreTrainedTokenizerBase:
    """The pretrained tokenizer, or a word-level one trained on the training texts by the main process alone."""
    name = model_args.tokenizer_name or checkpoint
    if name is not None:
        tokenizer = AutoTokenizer.from_pretrained(name)
        if checkpoint is None:  # a recurrent model: it reads each text's tokens from the left of its row
            tokenizer.padding_side = "right"
        return tokenizer
    output_dir = training_args.output_dir
    if training_args.local_process_index != 0:
        return AutoTokenizer.from_pretrained(output_dir)  # inside main_process_first: the main process saved it
    tokenizer = train_word_tokenizer(
        (batch["text"] for batch in train.iter(batch_size=1000)),
        vocab_size=model_args.vocab_size,
        min_frequency=model_args.min_frequency,
        clean_markup=model_args.clean_markup,
        model_max_length=max_length,
    )
    tokenizer.save_pretrained(output_dir)
    return tokenizer


def build_model(model_args: ModelArguments, checkpoint: str | None, tokenizer, label_names: list[str]):
    spec = get_model_spec(model_args.model_type)
    labels = {
        "num_labels": len(label_names),
        "id2label": dict(enumerate(label_names)),
        "label2id": {name: i for i, name in enumerate(label_names)},
    }
    if spec.is_pretrained:
        # Float32 weights whatever dtype the checkpoint is stored in (MiniLM's is float16): --bf16/--fp16 train with
        # autocast on top of them.
        return AutoModelForSequenceClassification.from_pretrained(checkpoint, dtype=torch.float32, **labels)
    overrides = parse_config_overrides(model_args.config_overrides, spec.config_class)
    config = spec.config_class(
        vocab_size=len(tokenizer),
        pad_token_id=tokenizer.pad_token_id,
        use_token_weights=model_args.tfidf_weighting,
        freeze_embeddings=model_args.freeze_embeddings,
        **labels,
        **overrides,
    )
    return AutoModelForSequenceClassification.from_config(config)


# A comma ends an item only where the next item's `key=` starts, so that list values ([3,5]) keep theirs.
_OVERRIDE_ITEM_END = re.compile(r",(?=\s*[A-Za-z_]\w*\s*=)")


def parse_config_overrides(text: str | None, config_class) -> dict:
    """
    'hidden_size=256,kernel_sizes=[3,5],bidirectional=false' -> {'hidden_size': 256, 'kernel_sizes': [3, 5],
    'bidirectional': False}: values read as JSON, else as YAML (True/False), else kept as text.
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
        if isinstance(known[key], bool) and not isinstance(overrides[key], bool):
            # Any non-empty text is true to Python: "bidirectional=no" must not build a bidirectional model.
            raise UserInputError(f"--config_overrides: {key} takes true or false, got {value!r}")
    try:
        config_class(**overrides)  # the config checks its own values (e.g. a choice of pooling)
    except (ValueError, TypeError) as error:
        raise UserInputError(f"--config_overrides: {error}") from None
    return overrides


@cli_entry_point
def main() -> None:
    model_args, data_args, training_args = parse_args()
    spec = get_model_spec(model_args.model_type)
    check_arguments(model_args, data_args, training_args)
    check_output_dir(training_args, data_args)
    resume = resolve_resume(training_args.resume_from_checkpoint, training_args.output_dir)
    if data_args.overwrite_output_dir and resume is None and training_args.process_index == 0:
        if removed := clear_previous_run(Path(training_args.output_dir)):
            logger.info("--overwrite_output_dir: removed the previous run's %s", ", ".join(removed))
    # Every process has checked the folder, and the previous run is gone, before any of them writes into it.
    training_args.distributed_state.wait_for_everyone()
    # The Trainer would create the hub repository at init and push at every save (failing offline before training
    # starts): instead everything is saved locally and uploaded once, with its model card, at the end. The token is
    # taken out of the arguments so that the saved training_args.bin never holds it.
    hub_repo_id, hub_token = None, training_args.hub_token
    training_args.hub_token = None
    if training_args.push_to_hub:
        hub_repo_id = training_args.hub_model_id or Path(training_args.output_dir).absolute().name
        check_repo_id(hub_repo_id)
        training_args.push_to_hub = False

    logging.basicConfig(
        format="%(asctime)s - %(levelname)s - %(name)s - %(message)s",
        datefmt="%H:%M:%S",
        level=logging.INFO if training_args.should_log else logging.WARNING,
    )
    transformers.utils.logging.set_verbosity(logging.INFO if training_args.should_log else logging.WARNING)
    for name in ("train", "modeling"):
        logging.getLogger(name).setLevel(logging.INFO)
    set_seed(training_args.seed)

    data_config = load_data_config(data_args.dataset)
    max_length = data_args.max_length or data_config.max_length
    truncation = data_args.truncation or data_config.truncation
    checkpoint = model_args.model_name_or_path or spec.default_checkpoint

    # 1. Data: read, label and split once; tokenise once (the other processes wait, then read the cache).
    with training_args.main_process_first(desc="loading the dataset"):
        raw = load_splits(data_config, data_args.data_dir, seed=training_args.seed)
    for split, limit in (
        ("train", data_args.max_train_samples),
        ("validation", data_args.max_eval_samples),
        ("test", data_args.max_test_samples),
    ):
        if limit is not None:
            classes = len(set(raw[split]["label"]))
            raw[split] = raw[split].select(range(min(limit, len(raw[split]))))
            kept = len(set(raw[split]["label"]))
            if kept < classes:
                # A source stored sorted by label (the Hub's IMDB) gives a first N of one class.
                logger.warning(
                    "the first %d %s rows hold %d of the split's %d classes; is the source sorted by label? "
                    "Shuffle its files, or use more rows",
                    len(raw[split]), split, kept, classes,
                )  # fmt: skip
    label_names = raw["train"].features["label"].names
    logger.info("dataset %s: %s rows, labels %s", data_config.name, {k: len(v) for k, v in raw.items()}, label_names)

    Path(training_args.output_dir).mkdir(parents=True, exist_ok=True)  # only now: bad data leaves nothing behind
    with training_args.main_process_first(desc="tokenizer and tokenisation"):
        tokenizer = build_tokenizer(
            model_args, checkpoint if spec.is_pretrained else None, raw["train"], max_length, training_args
        )
        tokenized = tokenize_splits(raw, tokenizer, max_length, truncation)

    # 2. Model.
    model = build_model(model_args, checkpoint, tokenizer, label_names)
    model.config.text_truncation = truncation  # saved with the model: predict and evaluate cut alike
    if model_args.glove_path:
        vectors, found = read_glove_vectors(
            model_args.glove_path, tokenizer.get_vocab(), model.get_input_embeddings().weight
        )
        model.load_pretrained_embeddings(vectors)
        logger.info("GloVe: %d of %d vocabulary words found in %s", found, len(tokenizer), model_args.glove_path)
    if model_args.tfidf_weighting:
        model.set_token_weights(tfidf_token_weights(tokenized["train"]["input_ids"], model.config.vocab_size))
    if spec.is_pretrained:
        model = apply_finetune_strategy(
            model, model_args.finetune_strategy, model_args.unfreeze_top_k, model_args.lora_r, model_args.lora_alpha
        )
    trainable_params, total_params = count_parameters(model)
    logger.info("parameters: %s trainable of %s", f"{trainable_params:,}", f"{total_params:,}")

    # 3. Trainer.
    compute_loss_func = None
    if model_args.class_weights == "balanced":
        compute_loss_func, weights = class_weighted_loss(
            tokenized["train"]["label"], len(label_names), training_args.label_smoothing_factor
        )
        logger.info("class weights: %s", dict(zip(label_names, [round(w, 3) for w in weights])))
    callbacks = []
    if data_args.early_stopping_patience:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=data_args.early_stopping_patience))
    trainer = TextClassificationTrainer(
        model=model,
        args=training_args,
        train_dataset=tokenized["train"],
        eval_dataset=tokenized["validation"],
        processing_class=tokenizer,
        data_collator=DataCollatorWithPadding(tokenizer, pad_to_multiple_of=data_args.pad_to_multiple_of or None),
        compute_metrics=build_compute_metrics(len(label_names)),
        compute_loss_func=compute_loss_func,
        callbacks=callbacks,
        optimizer_name=model_args.optimizer,
        momentum=model_args.momentum,
        layerwise_lr_decay=model_args.layerwise_lr_decay,
        adversarial_epsilon=model_args.adversarial_epsilon,
    )

    # 4. Train, keep the best checkpoint, evaluate on validation and test.
    if resume is not None:
        logger.info("resuming from %s", resume)
    train_result = trainer.train(resume_from_checkpoint=resume)
    trainer.save_model()
    if model_args.finetune_strategy == "lora":  # the adapter folder also keeps the labels of the task head
        trainer.model.get_base_model().config.save_pretrained(training_args.output_dir)
    trainer.save_state()  # trainer_state.json: the log history the curves and studies read
    if trainer.is_world_process_zero():  # the arguments as JSON, for people and for the model card
        # With what TrainingArguments does not hold: the checkpoint fine-tuned (None: trained from scratch), the
        # optimizer when --optimizer chose it (`optim` cannot name plain Adam) and adversarial training (0: off).
        # The data flags tell the model card which results cover a whole Hub split. Local paths are made absolute,
        # so that they still read as paths (not Hub ids) from another working directory.
        arguments = {
            **training_args.to_dict(),
            "model_name_or_path": absolute_if_local(checkpoint) if spec.is_pretrained else None,
            "dataset": absolute_if_local(data_args.dataset),
            "data_dir": absolute_if_local(data_args.data_dir),
            "max_eval_samples": data_args.max_eval_samples,
            "max_test_samples": data_args.max_test_samples,
            "optimizer": model_args.optimizer,
            "momentum": model_args.momentum if model_args.optimizer == "sgd_momentum" else None,
            "adversarial_epsilon": trainer.adversarial_epsilon,
        }
        (Path(training_args.output_dir) / "training_args.json").write_text(json.dumps(arguments, indent=2) + "\n")
    metrics = {**train_result.metrics, "trainable_params": trainable_params, "total_params": total_params}
    trainer.log_metrics("train", metrics)
    trainer.save_metrics("train", metrics)

    eval_metrics = trainer.evaluate(metric_key_prefix="eval")
    trainer.log_metrics("eval", eval_metrics)
    trainer.save_metrics("eval", eval_metrics)

    test_output = trainer.predict(tokenized["test"], metric_key_prefix="test")
    trainer.log_metrics("test", test_output.metrics)
    trainer.save_metrics("test", test_output.metrics)

    if trainer.is_world_process_zero():
        if model_args.finetune_strategy == "lora" and model_args.merge_lora:
            merged = trainer.model.merge_and_unload()
            merged.save_pretrained(Path(training_args.output_dir) / "merged")
            tokenizer.save_pretrained(Path(training_args.output_dir) / "merged")
        write_run_reports(
            training_args.output_dir,
            label_names=label_names,
            texts=raw["test"]["text"],
            labels=test_output.label_ids,
            logits=test_output.predictions,
            log_history=trainer.state.log_history,
        )
        print(format_summary({**eval_metrics, **test_output.metrics}))
        write_model_card(
            training_args.output_dir,
            repo_id=hub_repo_id,
            base_model=checkpoint if spec.is_pretrained else None,
            **dataset_card_arguments(data_config),
            keep_previous=False,  # this run is the card's whole truth
        )
    logger.info("results in %s", training_args.output_dir)
    if hub_repo_id is not None and trainer.is_world_process_zero():
        url = push_to_hub(
            training_args.output_dir, hub_repo_id, private=bool(training_args.hub_private_repo), token=hub_token
        )
        logger.info("uploaded to %s", url)


if __name__ == "__main__":
    main()
