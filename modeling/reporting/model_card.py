"""A model card for a finished run's output folder.

`write_model_card` reads only what `scripts/train.py` leaves in the folder (config.json, all_results.json,
trainer_state.json, the reports and plots, a LoRA run's adapter/, and training_args.json where the run saved one),
so a card can be rebuilt at any time, e.g. by `scripts/push.py` before a later upload; training_args.json also names
the run's checkpoint, optimizer and data. What the folder cannot tell (the licence; in older folders also the dataset
and the pretrained checkpoint) comes from optional arguments; the card keeps these in its metadata, so rebuilding it
without them keeps them.
"""

import csv
import json
import logging
import math
from pathlib import Path

from huggingface_hub import EvalResult, ModelCard, ModelCardData, constants
from huggingface_hub.errors import HFValidationError
from huggingface_hub.utils import validate_repo_id

from ..data import DataConfig, available_datasets, load_data_config
from ..errors import UserInputError
from ..files import atomic_write_text
from ..problem_types import MULTI_LABEL, REGRESSION, saved_threshold
from ..run_folder import ADAPTER_DIR

logger = logging.getLogger(__name__)

CARD_NAME = constants.REPOCARD_NAME  # README.md
TASK = "text-classification"
# all_results.json prefix -> dataset split named in the card.
SPLITS = {"eval": "validation", "test": "test"}
# all_results.json metric suffix -> (metric id on the Hub, readable name, arguments of the computation).
METRICS = {
    "accuracy": ("accuracy", "Accuracy", None),
    # Multi-label: the share of texts whose label set is exactly right, and figures over all (text, label) decisions.
    "subset_accuracy": ("exact_match", "Subset accuracy (exact match)", None),
    "f1_micro": ("f1", "F1 (micro)", {"average": "micro"}),
    "precision_micro": ("precision", "Precision (micro)", {"average": "micro"}),
    "recall_micro": ("recall", "Recall (micro)", {"average": "micro"}),
    "f1_macro": ("f1", "F1 (macro)", {"average": "macro"}),
    "precision_macro": ("precision", "Precision (macro)", {"average": "macro"}),
    "recall_macro": ("recall", "Recall (macro)", {"average": "macro"}),
    "f1_weighted": ("f1", "F1 (weighted)", {"average": "weighted"}),
    "precision_weighted": ("precision", "Precision (weighted)", {"average": "weighted"}),
    "recall_weighted": ("recall", "Recall (weighted)", {"average": "weighted"}),
    # Regression.
    "mse": ("mse", "Mean squared error", None),
    "mae": ("mae", "Mean absolute error", None),
    "pearson": ("pearsonr", "Pearson correlation", None),
    "spearman": ("spearmanr", "Spearman correlation", None),
    "loss": ("loss", "Loss", None),
}
# Validation metrics per epoch in the card's table (those the run logged), in this order.
EPOCH_METRICS = ("accuracy", "subset_accuracy", "f1_micro", "f1_macro", "mse", "pearson")
# Plots the reports may leave in the folder, in the order the card shows them.
IMAGES = {
    "confusion_matrix.png": "Confusion matrix on the test split",
    "per_class_f1.png": "F1 per class on the test split",
    "training_curves.png": "Training curves",
}
# config.json settings worth a line in the card, where the architecture has them.
ARCHITECTURE_SETTINGS = (
    "vocab_size", "embedding_dim", "cell_type", "kernel_sizes", "num_filters", "hidden_size", "dim", "hidden_dim",
    "intermediate_size", "num_layers", "num_hidden_layers", "n_layers", "num_attention_heads", "n_heads",
    "bidirectional", "attention_dim", "pooling", "ngram_embedding_dim", "reconstruction_weight", "dropout",
    "word_dropout", "use_token_weights", "freeze_embeddings",
)  # fmt: skip
# training_args.json values worth a line in the card.
HYPERPARAMETERS = (
    "learning_rate", "num_train_epochs", "per_device_train_batch_size", "gradient_accumulation_steps",
    "weight_decay", "warmup_steps", "lr_scheduler_type", "optim", "max_grad_norm", "label_smoothing_factor",
    "metric_for_best_model", "seed", "fp16", "bf16", "adversarial_epsilon", "glove_path", "tfidf_weighting",
    "multi_label_threshold", "early_stopping_patience",
)  # fmt: skip
EXAMPLE_TEXT = "I really enjoyed this, it was great!"
# The model-index needs a dataset name; this one stands for "not given" and is never read back as a name.
UNNAMED_DATASET = "custom data"


def split_coverage(prefix: str, rows: int, split_rows: int) -> dict:
    """
    The all_results.json entries that say how much of a split the `prefix` ("eval", "test") results cover:
    `<prefix>_samples`, the rows scored, and `<prefix>_subsample`, True when fewer than the split's `split_rows`
    (--max_eval_samples, --max_test_samples). The card keeps subsample results out of its model-index.
    """
    return {f"{prefix}_samples": rows, f"{prefix}_subsample": rows < split_rows}


def dataset_card_arguments(config: DataConfig) -> dict:
    """The `write_model_card` keyword arguments that describe the dataset of a data config."""
    return {
        "dataset_name": config.name,
        "dataset_id": config.hub_path,
        "dataset_config": config.hub_config,
        # Local files (the bundled data) come from no Hub split, whatever the source they copy.
        "dataset_splits": dict(config.splits) if config.data_dir is None else dict.fromkeys(config.splits),
        "dataset_description": config.description or None,
        "dataset_url": config.homepage or None,
        "dataset_license": config.license or None,
    }


def write_model_card(
    output_dir: str | Path,
    *,
    repo_id: str | None = None,
    dataset_name: str | None = None,
    dataset_id: str | None = None,
    dataset_config: str | None = None,
    dataset_splits: dict[str, str | None] | None = None,
    dataset_description: str | None = None,
    dataset_url: str | None = None,
    dataset_license: str | None = None,
    base_model: str | None = None,
    license: str | None = None,
    language: str | list[str] | None = None,
    keep_previous: bool = True,
    save: bool = True,
) -> ModelCard:
    """
    Write `output_dir/README.md`: Hub metadata (with a model-index of the validation and test results; of a Hub
    dataset, those on its own splits only) and a card.

    Args:
        output_dir: the folder of a finished `scripts/train.py` run.
        repo_id: the Hub repository the folder goes to; named in the usage snippet (default: the local folder).
        dataset_name, dataset_id, dataset_config, dataset_splits, dataset_description, dataset_url,
            dataset_license: the training data (see `dataset_card_arguments`); `dataset_id` is its Hub id, if it
            has one, `dataset_config` the Hub configuration, `dataset_splits` the Hub split each role (train,
            validation, test) was read from (None or left out: made from train; by default each role is the split
            of its own name). The run's data config (training_args.json `dataset`) or a bundled data config's name
            fills in the rest.
        base_model: the pretrained checkpoint a transformer was fine-tuned from (Hub id or local folder); by
            default the one training_args.json records.
        license: the model's licence (a Hub licence id); defaults to the dataset's.
        language: language code(s) of the training data.
        keep_previous: take arguments left out from the folder's existing card; False builds the card afresh,
            e.g. over the card of an earlier run in the same folder.
        save: write the card into the folder (atomically); False only returns it (push.py saves it once uploaded).

    Arguments left out keep the values of the folder's existing card, if any (see `keep_previous`).

    Returns:
        The card, as saved.
    """
    folder = Path(output_dir)
    run = _read_run(folder)
    previous = _previous_card_inputs(folder) if keep_previous else {}
    if dataset_name and dataset_name != previous.get("dataset_name"):
        # Another dataset than the earlier card's: none of its details apply.
        previous = {key: value for key, value in previous.items() if not key.startswith("dataset_")}
    dataset_name = dataset_name or previous.get("dataset_name")
    data_config = _data_config(dataset_name, run)
    if data_config is not None:
        # Only fill gaps: what the caller passed, or the previous card held, wins.
        dataset_name = dataset_name or data_config.name
        for key, value in dataset_card_arguments(data_config).items():
            previous.setdefault(key, value)
    dataset = {
        "name": dataset_name,
        "id": dataset_id or previous.get("dataset_id"),
        "config": dataset_config or previous.get("dataset_config"),
        "splits": dataset_splits if dataset_splits is not None else previous.get("dataset_splits"),
        "description": dataset_description or previous.get("dataset_description"),
        "url": dataset_url or previous.get("dataset_url"),
        "license": dataset_license or previous.get("dataset_license"),
    }
    base_model = base_model or run["adapter"].get("base_model_name_or_path")
    if not base_model and "model_name_or_path" in run["training_args"]:
        # What this run recorded (null: trained from scratch) beats an earlier card, which may be another run's.
        base_model = run["training_args"]["model_name_or_path"]
    elif not base_model and not _is_recurrent(run):
        # An older folder: the earlier card's, but a recurrent model has none (such a card was another run's).
        base_model = previous.get("base_model")
    license = license or previous.get("license") or dataset["license"]
    language = language or previous.get("language")
    model_name = (repo_id or str(folder.resolve())).rstrip("/").rsplit("/", 1)[-1]

    card_data = ModelCardData(
        model_name=model_name,
        license=license,
        language=language,
        library_name="peft" if run["adapter_only"] else "transformers",
        pipeline_tag=TASK,
        datasets=[dataset["id"] or dataset["name"]] if dataset["name"] or dataset["id"] else None,
        # Hub metric ids; the loss is in the model-index but is no metric id.
        metrics=sorted({METRICS[m][0] for _, m, _ in _split_metrics(run["results"]) if m != "loss"}) or None,
        base_model=base_model if _is_hub_id(base_model) else None,
        tags=_tags(run),
        eval_results=_eval_results(run, dataset) or None,
    )
    body = _card_body(run, dataset, base_model, repo_id or str(output_dir), model_name)
    card = ModelCard(f"---\n{card_data.to_yaml()}\n---\n\n{body}")
    if save:
        save_card(card, folder)
    return card


def save_card(card: ModelCard, folder: str | Path) -> None:
    """Write `card` as `folder/README.md`, atomically (`ModelCard.save` writes in place)."""
    atomic_write_text(Path(folder) / CARD_NAME, str(card))
    logger.info("model card written to %s", Path(folder) / CARD_NAME)


# --- reading the folder ---------------------------------------------------------------------------------------


def _read_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def _read_run(folder: Path) -> dict:
    """Everything the card shows, from the files a run leaves; missing optional files give empty values."""
    if not folder.is_dir():
        raise UserInputError(f"model folder {folder} does not exist")
    config = _read_json(folder / "config.json")
    # A LoRA run: the adapter beside the merged model (adapter/), or in older folders at the top in its place.
    adapter = _read_json(folder / ADAPTER_DIR / "adapter_config.json") or _read_json(folder / "adapter_config.json")
    if not config and not adapter:
        raise UserInputError(
            f"{folder} holds no trained model (no config.json); give the output_dir of a train.py run"
        )
    results = _read_json(folder / "all_results.json")
    if not results:
        raise UserInputError(
            f"{folder} has no all_results.json; the card needs a run of scripts/train.py that finished"
        )
    id2label = config.get("id2label") or {}
    report = folder / "classification_report.txt"
    tokenizer = _read_json(folder / "tokenizer.json")
    max_length = _read_json(folder / "tokenizer_config.json").get("model_max_length")
    return {
        "config": config,
        "adapter": adapter,
        # Older LoRA folders hold the adapter alone at the top; now the merged model is there, the adapter beside.
        "adapter_only": (folder / "adapter_config.json").is_file(),
        "results": results,
        "state": _read_json(folder / "trainer_state.json"),
        "training_args": _read_json(folder / "training_args.json"),
        "label_names": [id2label[key] for key in sorted(id2label, key=int)],
        "code_files": sorted(path.name for path in folder.glob("*.py")),
        "images": [name for name in IMAGES if (folder / name).is_file()]
        + sorted(p.name for p in folder.glob("*.png") if p.name not in IMAGES),
        "report": report.read_text(encoding="utf-8").rstrip() if report.is_file() else None,
        "test_size": _count_rows(folder / "test_predictions.csv"),
        "tokenizer_model": (tokenizer.get("model") or {}).get("type"),
        # The cut train.py trained with, which it saves as the tokenizer's model_max_length.
        "max_length": max_length if isinstance(max_length, int) and max_length < 1_000_000 else None,
    }


def _count_rows(path: Path) -> int | None:
    """Data rows of a CSV file. Fields have no size limit here: a test text can be longer than csv's 128 KB."""
    if not path.is_file():
        return None
    limit = csv.field_size_limit()
    csv.field_size_limit(max(limit, path.stat().st_size + 1))
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            return max(sum(1 for _ in csv.reader(handle)) - 1, 0)
    finally:
        csv.field_size_limit(limit)


def _previous_card_inputs(folder: Path) -> dict:
    """The arguments an earlier `write_model_card` recorded in the folder's card metadata."""
    path = folder / CARD_NAME
    if not path.is_file():
        return {}
    data = ModelCard.load(path, ignore_metadata_errors=True).data
    inputs = {"license": data.license, "language": data.language, "base_model": data.base_model}
    if data.eval_results and data.eval_results[0].dataset_name != UNNAMED_DATASET:
        first = data.eval_results[0]
        inputs["dataset_name"] = first.dataset_name
        if first.dataset_type != first.dataset_name:  # the type is the Hub id when the dataset has one
            inputs["dataset_id"] = first.dataset_type
            inputs["dataset_config"] = first.dataset_config
    return {key: value for key, value in inputs.items() if value}


def _data_config(name: str | None, run: dict) -> DataConfig | None:
    """The data config of dataset `name` (None: any): the run's own (training_args.json `dataset`) or a bundled one."""
    recorded = run["training_args"].get("dataset")
    if recorded:
        try:
            config = load_data_config(recorded)
        except (UserInputError, OSError):  # a YAML path that does not resolve from here
            config = None
        if config is not None and name in (None, config.name):
            return config
    return load_data_config(name) if name and name in available_datasets() else None


def _is_hub_id(name: str | None) -> bool:
    """Whether `name` can be a Hub model id (a local folder's path cannot go into `base_model`)."""
    if not name or Path(name).exists():
        return False
    try:
        validate_repo_id(name)
    except HFValidationError:
        return False
    return True


def _split_metrics(results: dict) -> list[tuple[str, str, float]]:
    """(split prefix, metric suffix, value) for every known metric of all_results.json, in METRICS order."""
    return [
        (prefix, metric, float(results[f"{prefix}_{metric}"]))
        for prefix in SPLITS
        for metric in METRICS
        # NaN: undefined (a correlation of constant predictions), which the model-index cannot hold
        if isinstance(results.get(f"{prefix}_{metric}"), (int, float)) and math.isfinite(results[f"{prefix}_{metric}"])
    ]


# --- metadata -------------------------------------------------------------------------------------------------


def _tags(run: dict) -> list[str]:
    model_type = run["config"].get("model_type")
    tags = [model_type] if model_type else []
    tags.append(TASK)
    if run["config"].get("auto_map"):
        tags.append("custom_code")  # the Hub's tag for repositories that load with trust_remote_code
    if run["adapter"]:  # the peft tag only where the folder's model is the adapter alone (older LoRA folders)
        tags += ["peft"] * run["adapter_only"] + [str(run["adapter"].get("peft_type", "lora")).lower()]
    return tags


def _eval_results(run: dict, dataset: dict) -> list[EvalResult]:
    """
    The model-index: the results on whole splits (never those on the first rows of one), and for a Hub dataset only
    those on a split of it read whole, named as on the Hub.
    """
    name = dataset["name"] or UNNAMED_DATASET
    splits = {role: role for role in SPLITS.values()}
    if dataset["id"]:
        splits = _hub_splits(run["training_args"], dataset["splits"])
    subsampled = _subsampled(run)
    return [
        EvalResult(
            task_type=TASK,
            task_name="Text Classification",
            dataset_type=dataset["id"] or name,
            dataset_name=name,
            dataset_config=dataset["config"] if dataset["id"] else None,
            dataset_split=splits[SPLITS[prefix]],
            metric_type=METRICS[metric][0],
            metric_name=METRICS[metric][1],
            metric_args=METRICS[metric][2],
            metric_value=value,
        )
        for prefix, metric, value in _split_metrics(run["results"])
        if splits[SPLITS[prefix]] and subsampled[prefix] is None
    ]


def _subsampled(run: dict) -> dict[str, int | None]:
    """
    Per split prefix ("eval", "test"), the rows its results cover when only the first of the split's rows were
    scored, else None. all_results.json says so (`<prefix>_subsample`, `<prefix>_samples`); for older folders,
    a --max_eval_samples or --max_test_samples in training_args.json does (the rows then from the predictions).
    """
    results, args = run["results"], run["training_args"]
    limits = {"eval": args.get("max_eval_samples"), "test": args.get("max_test_samples")}
    covered = {}
    for prefix in SPLITS:
        cut = results[f"{prefix}_subsample"] if f"{prefix}_subsample" in results else limits[prefix] is not None
        rows = results.get(f"{prefix}_samples") or (run["test_size"] if prefix == "test" else None) or limits[prefix]
        covered[prefix] = int(rows) if cut and rows else None
    return covered


def _hub_splits(args: dict, splits: dict[str, str | None] | None) -> dict[str, str | None]:
    """
    The Hub split each evaluated role (validation, test) was read from, or None: a split made from train, or
    local files (`--data_dir`, as training_args.json records it). Without `splits`, each role is the Hub split of
    its own name.
    """
    if args.get("data_dir"):
        return dict.fromkeys(SPLITS.values())
    if splits is None:
        splits = {role: role for role in SPLITS.values()}
    # A role a data config leaves out of `splits` is made from train, like one set to null.
    return {role: splits.get(role) for role in SPLITS.values()}


# --- the card's text ------------------------------------------------------------------------------------------


def _card_body(run: dict, dataset: dict, base_model: str | None, model_ref: str, title: str) -> str:
    sections = [
        f"# {title}",
        _summary(run, dataset, base_model),
        "## Model",
        _model_section(run, base_model),
        "## Training data",
        _data_section(run, dataset),
        "## Training procedure",
        _training_section(run),
        "## Evaluation",
        _evaluation_section(run),
        "## How to use",
        _usage_section(run, model_ref),
        "## Limitations",
        _limitations_section(run, dataset, base_model),
    ]
    return "\n\n".join(section for section in sections if section) + "\n"


def _problem_type(run: dict) -> str | None:
    return run["config"].get("problem_type")


def _summary(run: dict, dataset: dict, base_model: str | None) -> str:
    model_type = run["config"].get("model_type")
    problem, names = _problem_type(run), run["label_names"]
    classes = f"{len(names)} classes" if names else None
    if problem == MULTI_LABEL:
        classes = f"{len(names)} labels, any number per text"
    kind = ", ".join(([f"`{model_type}`"] if model_type else []) + ([classes] if classes else []))
    data = f"**{dataset['name']}**" if dataset["name"] else "its training data"
    origin = (
        f"fine-tuned from {_model_link(base_model)}" if _is_fine_tuned(run, base_model) else "trained from scratch"
    )
    if run["adapter_only"]:
        origin = f"LoRA adapters on {_model_link(base_model)}, trained"
    elif run["adapter"]:
        origin = f"fine-tuned from {_model_link(base_model)} with LoRA adapters (merged into its weights)"
    teacher = run["training_args"].get("teacher_model_name_or_path")
    if teacher:
        origin += f", distilled from {_model_link(teacher)},"
    if problem == REGRESSION:
        target = f" of `{names[0]}`" if names else ""
        return f"Text regression{target}{f' (`{model_type}`)' if model_type else ''}: {origin} on {data}."
    what = "Multi-label text classifier" if problem == MULTI_LABEL else "Text classifier"
    return f"{what}{f' ({kind})' if kind else ''}: {origin} on {data}."


def _is_fine_tuned(run: dict, base_model: str | None) -> bool:
    """Whether the model started from a pretrained checkpoint, named or not (only recurrent types start afresh)."""
    return bool(base_model or run["adapter"] or (run["config"].get("model_type") and not _is_recurrent(run)))


def _is_recurrent(run: dict) -> bool:
    """Whether the folder holds one of this project's recurrent models (trained from scratch): they ship their code."""
    return bool(run["config"].get("auto_map")) and not run["adapter"]


def _lora(adapter: dict) -> str:
    kind = str(adapter.get("peft_type", "LoRA")).replace("LORA", "LoRA")
    return f"{kind} adapters (r={adapter.get('r')}, alpha={adapter.get('lora_alpha')})"


def _model_link(name: str | None) -> str:
    if not name:
        return "a pretrained checkpoint"
    return f"[{name}](https://huggingface.co/{name})" if _is_hub_id(name) else f"`{Path(name).name}`"


def _model_section(run: dict, base_model: str | None) -> str:
    config, results = run["config"], run["results"]
    model_type = config.get("model_type")
    description = run["training_args"].get("model_description")
    if run["adapter_only"]:
        lines = [f"- Architecture: {_lora(run['adapter'])} on {_model_link(base_model)}"]
    else:
        lines = [f"- Architecture: `{model_type}`" + (f", {description}" if description else "")]
        if run["adapter"]:
            lines.append(f"- Fine-tuned with {_lora(run['adapter'])}, merged into the weights; `{ADAPTER_DIR}/` holds "
                         "the adapter alone")  # fmt: skip
    if config.get("architectures"):
        lines.append(f"- Class: `{config['architectures'][0]}`")
    if isinstance(results.get("total_params"), int):
        trainable = results.get("trainable_params")
        count = f"- Parameters: {results['total_params']:,}"
        lines.append(count + (f" ({trainable:,} trainable)" if isinstance(trainable, int) else ""))
    settings = [f"{key}={config[key]}" for key in ARCHITECTURE_SETTINGS if key in config]
    if settings:
        lines.append(f"- Settings: {', '.join(settings)}")
    if base_model:
        lines.append(f"- Pretrained checkpoint: {_model_link(base_model)}")
    if run["tokenizer_model"]:
        lines.append(f"- Tokenizer: {run['tokenizer_model']}")
    if run["code_files"]:
        files = ", ".join(f"`{name}`" for name in run["code_files"])
        lines.append(f"- Code: {files} (this architecture is not part of transformers, so its code ships here)")
    return "\n".join(lines)


def _data_section(run: dict, dataset: dict) -> str:
    lines = []
    if dataset["name"]:
        name = f"[{dataset['name']}]({dataset['url']})" if dataset["url"] else dataset["name"]
        lines.append(f"{name}: {dataset['description']}" if dataset["description"] else name)
        if dataset["id"]:
            config = f", configuration `{dataset['config']}`" if dataset["config"] else ""
            lines.append(f"Hub dataset: [{dataset['id']}](https://huggingface.co/datasets/{dataset['id']}){config}.")
        if dataset["license"]:
            lines.append(f"Dataset licence: {dataset['license']}.")
    if run["label_names"] and _problem_type(run) == REGRESSION:
        lines.append(f"Target: `{run['label_names'][0]}`, a number predicted by the model's one output.")
    elif run["label_names"]:
        lines.append("Labels (id: name): " + ", ".join(f"{i}: `{n}`" for i, n in enumerate(run["label_names"])))
        if _problem_type(run) == MULTI_LABEL:
            lines.append(
                f"Each text carries any number of these labels; a label is predicted when its probability (sigmoid) "
                f"reaches {saved_threshold(run['config']):g}."
            )
    if tested := _subsampled(run)["test"]:
        lines.append(f"The test results cover the first {tested:,} texts of the test split.")
    elif run["test_size"]:
        lines.append(f"The test split has {run['test_size']:,} texts.")
    return "\n\n".join(lines) or "Not recorded."


def _training_section(run: dict) -> str:
    args, state, results = run["training_args"], run["state"], run["results"]
    values = {}
    for key in HYPERPARAMETERS:
        if key == "optim" and args.get("optimizer") is not None:
            # train.py's --optimizer, in place of `optim`: that cannot name plain Adam (it keeps its AdamW default
            # then) and says "sgd" with or without momentum.
            values["optimizer"] = args["optimizer"]
            if args["optimizer"] == "sgd_momentum" and args.get("momentum") is not None:
                values["momentum"] = args["momentum"]
        elif args.get(key) not in (None, "") and args[key] is not False:
            # Unset and switched-off settings say nothing; a zero (seed 0, no weight decay) does.
            values[key] = args[key]
    if not args:
        # No training_args.json: what the trainer state and log still tell.
        if state.get("train_batch_size"):
            values["train_batch_size"] = state["train_batch_size"]
        rates = [entry["learning_rate"] for entry in state.get("log_history", []) if "learning_rate" in entry]
        if rates:
            values["peak_learning_rate"] = max(rates)
    if state.get("epoch") is not None:
        values["epochs_trained"] = round(float(state["epoch"]), 2)
    if state.get("global_step"):
        values["optimizer_steps"] = state["global_step"]
    if state.get("best_global_step"):
        values["best_step"] = state["best_global_step"]
    if isinstance(values.get("warmup_steps"), float) and 0 < values["warmup_steps"] < 1:
        # TrainingArguments reads a warm-up below 1 as a fraction of the training steps.
        values["warmup"] = f"{values.pop('warmup_steps'):.0%} of the training steps"
    lines = [f"- {key.replace('_', ' ')}: {value}" for key, value in values.items()]
    lines += _distillation_lines(args)
    if search := args.get("hyperparameter_search"):  # written by scripts/search.py --train_best
        lines.append(
            f"- hyperparameters chosen by a search of {search['finished_trials']} trials (study "
            f"`{search['study_name']}`, {search['folder']}): best validation {search['metric']} "
            f"{_number(search['best_value'])} in trial {search['best_trial']}, searched: "
            f"{', '.join(search['searched'])}"
        )
    if isinstance(results.get("train_runtime"), (int, float)):
        lines.append(f"- training time: {results['train_runtime']:.1f} s")
    text = "\n".join(lines) or "Not recorded."
    table = _epoch_table(state.get("log_history", []))
    return f"{text}\n\n{table}" if table else text


def _distillation_lines(args: dict) -> list[str]:
    """The teacher, its test accuracy and the distillation settings, where the run distilled (training_args.json)."""
    teacher = args.get("teacher_model_name_or_path")
    if not teacher:
        return []
    accuracy = args.get("teacher_test_accuracy")
    loss = args.get("distillation_loss")
    if loss == "kl":
        loss = f"KL divergence at temperature {args.get('distillation_temperature')}"
    elif loss == "mse":
        loss = "mean squared error between the logits"
    alpha = args.get("distillation_alpha", 0)
    copies, masking, ngrams = (args.get(key) for key in ("augment_copies", "augment_mask_probability",
                                                          "augment_ngram_probability"))  # fmt: skip
    unlabeled = f" and the texts of `{Path(args['unlabeled_file']).name}`" if args.get("unlabeled_file") else ""
    return [
        f"- teacher: {_model_link(teacher)}" + (f", test accuracy {accuracy:.4f}" if accuracy is not None else ""),
        f"- distillation loss: {alpha} x {loss} + {1 - alpha:.2g} x the hard-label loss (texts with a gold label)",
        f"- transfer set: {_count(args.get('transfer_set_size'))} texts: the training split, {copies} augmented "
        f"copies of each (words masked with probability {masking}, a span of 1 to 5 words kept with probability "
        f"{ngrams}){unlabeled}",
    ]


def _count(value) -> str:
    return f"{value:,}" if isinstance(value, int) else str(value)


def _epoch_table(log_history: list[dict]) -> str:
    """One row per evaluation during training, with the last training loss logged before it."""
    logged = {key for entry in log_history for key in entry}
    metrics = [metric for metric in EPOCH_METRICS if f"eval_{metric}" in logged][:2]
    rows, train_loss = [], None
    for entry in log_history:
        if "loss" in entry:
            train_loss = entry["loss"]
        if "eval_loss" in entry:
            rows.append(
                [
                    f"{entry.get('epoch', 0):.2f}",
                    str(entry.get("step", "")),
                    _number(train_loss),
                    _number(entry["eval_loss"]),
                    *(_number(entry.get(f"eval_{metric}")) for metric in metrics),
                ]
            )
    if not rows:
        return ""
    header = ["Epoch", "Step", "Training loss", "Validation loss", *(METRICS[metric][1] for metric in metrics)]
    return _table(header, rows)


def _evaluation_section(run: dict) -> str:
    by_metric: dict[str, dict[str, float]] = {}
    for prefix, metric, value in _split_metrics(run["results"]):
        by_metric.setdefault(metric, {})[prefix] = value
    subsampled = _subsampled(run)
    # Results on the first rows of a split say so; they stay out of the metadata's model-index.
    columns = {
        prefix: SPLITS[prefix].capitalize() + (f" (first {rows:,} rows)" if (rows := subsampled[prefix]) else "")
        for prefix in SPLITS
    }
    parts = []
    if by_metric:
        rows = [
            [METRICS[metric][1], _number(values.get("eval")), _number(values.get("test"))]
            for metric, values in by_metric.items()
        ]
        parts.append(_table(["Metric", columns["eval"], columns["test"]], rows))
    if run["report"]:
        where = f"the first {subsampled['test']:,} rows of the test split" if subsampled["test"] else "the test split"
        parts.append(f"Per class, on {where}:\n\n```\n{run['report']}\n```")
    parts += [f"![{IMAGES.get(name, Path(name).stem.replace('_', ' '))}]({name})" for name in run["images"]]
    return "\n\n".join(parts) or "No results recorded."


def _usage_section(run: dict, model_ref: str) -> str:
    if run["adapter_only"]:  # an older LoRA folder: the adapter alone, on its base model
        return (
            "```python\n"
            "from peft import AutoPeftModelForSequenceClassification\n"
            "from transformers import AutoTokenizer\n\n"
            f'model_id = "{model_ref}"\n'
            "tokenizer = AutoTokenizer.from_pretrained(model_id)\n"
            "model = AutoPeftModelForSequenceClassification.from_pretrained(model_id)\n"
            f'inputs = tokenizer(["{EXAMPLE_TEXT}"], return_tensors="pt", truncation=True)\n'
            "print(model(**inputs).logits.argmax(-1))\n"
            "```"
        )
    remote = bool(run["config"].get("auto_map"))
    trust = ", trust_remote_code=True" if remote else ""
    parts = [
        "```python\n"
        "import torch\n"
        "from transformers import AutoModelForSequenceClassification, AutoTokenizer, pipeline\n\n"
        f'model_id = "{model_ref}"\n'
        f"tokenizer = AutoTokenizer.from_pretrained(model_id{trust})\n"
        f"model = AutoModelForSequenceClassification.from_pretrained(model_id{trust}).eval()\n"
        f'inputs = tokenizer(["{EXAMPLE_TEXT}"], return_tensors="pt", truncation=True)\n'
        "with torch.no_grad():\n"
        f"{_prediction_lines(run)}\n\n"
        f'classifier = pipeline("text-classification", model=model_id{trust})\n'
        f'print(classifier("{EXAMPLE_TEXT}", top_k=None, truncation=True))\n'
        "```"
    ]
    if remote:
        parts.append(
            "`trust_remote_code=True` runs the modelling code stored with the model (the `.py` files listed "
            "above); read it first, and pin a `revision` to keep running the code you read. The tokenizer needs it "
            "too, because `AutoTokenizer` reads the model's configuration."
        )
    if run["config"].get("text_truncation") == "head_tail":
        length = f"the {run['max_length']} tokens" if run["max_length"] else "the length"
        parts.append(
            f"`truncation=True` cuts a longer text to {length} the model trained with (the tokenizer's "
            "`model_max_length`), keeping its start. In training, a longer text kept its first quarter from the start "
            "and the rest from its end (`text_truncation` in `config.json`); `scripts/predict.py` of the training "
            'code cuts that way, as does `modeling.data.encode_texts(tokenizer, texts, max_length, "head_tail")`.'
        )
    if run["adapter"]:
        folder = f'snapshot_download("{model_ref}")' if _is_hub_id(model_ref) else f'"{model_ref}"'
        parts.append(
            f"`{ADAPTER_DIR}/` holds the LoRA adapter alone, for peft. peft rebuilds the base checkpoint it names, "
            "whose head may have another size and whose weights may be stored in half precision, so give it the "
            "labels and the dtype the adapter trained in:\n\n"
            "```python\n"
            "import torch\n"
            + ("from huggingface_hub import snapshot_download\n" if _is_hub_id(model_ref) else "")
            + "from peft import AutoPeftModelForSequenceClassification\n"
            "from transformers import AutoConfig\n\n"
            f"folder = {folder}\n"
            "labels = AutoConfig.from_pretrained(folder)\n"
            "adapter_model = AutoPeftModelForSequenceClassification.from_pretrained(\n"
            f'    f"{{folder}}/{ADAPTER_DIR}", id2label=labels.id2label, label2id=labels.label2id,\n'
            "    dtype=torch.float32,\n"
            ")\n"
            "```"
        )
    return "\n\n".join(parts)


def _prediction_lines(run: dict) -> str:
    """The snippet's lines from the logits to a printed prediction: the class, the labels over the threshold, or
    the value. (The pipeline applies softmax, sigmoid or nothing by the config's problem_type.)"""
    if _problem_type(run) == REGRESSION:
        return "    print(model(**inputs).logits[0, 0].item())"
    if _problem_type(run) == MULTI_LABEL:
        return (
            "    probabilities = torch.sigmoid(model(**inputs).logits)[0]\n"
            f"print({{model.config.id2label[i]: round(p.item(), 3) for i, p in enumerate(probabilities) "
            f"if p >= {saved_threshold(run['config']):g}}})"
        )
    return "    predicted = model(**inputs).logits.argmax(-1).item()\nprint(model.config.id2label[predicted])"


def _limitations_section(run: dict, dataset: dict, base_model: str | None) -> str:
    data = dataset["name"] or "its training data"
    lines = [
        f"- Trained and tested only on {data}; the test split comes from the same source, so expect lower scores "
        "on text from other domains, periods or languages.",
    ]
    if _problem_type(run) != REGRESSION:
        lines.append("- Scores differ between classes: check the per-class results before relying on a single class.")
    if run["tokenizer_model"] == "WordLevel":
        vocab = run["config"].get("vocab_size")
        size = f"{vocab:,}-word " if isinstance(vocab, int) else ""
        lines.append(
            f"- The {size}vocabulary was learnt from the training split: other words become `[UNK]`, and the model "
            "knows nothing beyond its training data."
        )
    if _is_fine_tuned(run, base_model):
        lines.append("- It inherits the biases of the pretrained checkpoint's corpus as well as those of its data.")
    lines.append("- It reproduces patterns (and biases) of its labelled data; do not use it alone for decisions "
                 "that affect people.")  # fmt: skip
    return "\n".join(lines)


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)
