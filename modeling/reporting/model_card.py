"""A model card for a finished run's output folder.

`write_model_card` reads only what `scripts/train.py` leaves in the folder (config.json, all_results.json,
trainer_state.json, the reports and plots, and training_args.json where the run saved one), so a card can be
rebuilt at any time, e.g. by `scripts/push.py` before a later upload; training_args.json also names the run's
checkpoint, optimizer and data. What the folder cannot tell (the licence; in older folders also the dataset and the
pretrained checkpoint) comes from optional arguments; the card keeps these in its metadata, so rebuilding it without
them keeps them.
"""

import csv
import json
import logging
from pathlib import Path

from huggingface_hub import EvalResult, ModelCard, ModelCardData, constants
from huggingface_hub.errors import HFValidationError
from huggingface_hub.utils import validate_repo_id

from ..data import DataConfig, available_datasets, load_data_config
from ..errors import UserInputError

logger = logging.getLogger(__name__)

CARD_NAME = constants.REPOCARD_NAME  # README.md
TASK = "text-classification"
# all_results.json prefix -> dataset split named in the card.
SPLITS = {"eval": "validation", "test": "test"}
# all_results.json metric suffix -> (metric id on the Hub, readable name, arguments of the computation).
METRICS = {
    "accuracy": ("accuracy", "Accuracy", None),
    "f1_macro": ("f1", "F1 (macro)", {"average": "macro"}),
    "precision_macro": ("precision", "Precision (macro)", {"average": "macro"}),
    "recall_macro": ("recall", "Recall (macro)", {"average": "macro"}),
    "f1_weighted": ("f1", "F1 (weighted)", {"average": "weighted"}),
    "precision_weighted": ("precision", "Precision (weighted)", {"average": "weighted"}),
    "recall_weighted": ("recall", "Recall (weighted)", {"average": "weighted"}),
    "loss": ("loss", "Loss", None),
}
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
    "bidirectional", "attention_dim", "reconstruction_weight", "dropout", "use_token_weights", "freeze_embeddings",
)  # fmt: skip
# training_args.json values worth a line in the card.
HYPERPARAMETERS = (
    "learning_rate", "num_train_epochs", "per_device_train_batch_size", "gradient_accumulation_steps",
    "weight_decay", "warmup_steps", "lr_scheduler_type", "optim", "max_grad_norm", "metric_for_best_model", "seed",
    "fp16", "bf16", "adversarial_epsilon", "early_stopping_patience",
)  # fmt: skip
EXAMPLE_TEXT = "I really enjoyed this, it was great!"
# The model-index needs a dataset name; this one stands for "not given" and is never read back as a name.
UNNAMED_DATASET = "custom data"


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
        library_name="peft" if run["adapter"] else "transformers",
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
    card.save(folder / CARD_NAME)
    logger.info("model card written to %s", folder / CARD_NAME)
    return card


# --- reading the folder ---------------------------------------------------------------------------------------


def _read_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def _read_run(folder: Path) -> dict:
    """Everything the card shows, from the files a run leaves; missing optional files give empty values."""
    if not folder.is_dir():
        raise UserInputError(f"model folder {folder} does not exist")
    config = _read_json(folder / "config.json")
    adapter = _read_json(folder / "adapter_config.json")
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
    return {
        "config": config,
        "adapter": adapter,
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
    }


def _count_rows(path: Path) -> int | None:
    if not path.is_file():
        return None
    with path.open(newline="", encoding="utf-8") as handle:
        return max(sum(1 for _ in csv.reader(handle)) - 1, 0)


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
        if isinstance(results.get(f"{prefix}_{metric}"), (int, float))
    ]


# --- metadata -------------------------------------------------------------------------------------------------


def _tags(run: dict) -> list[str]:
    model_type = run["config"].get("model_type")
    tags = [model_type] if model_type else []
    tags.append(TASK)
    if run["config"].get("auto_map"):
        tags.append("custom_code")  # the Hub's tag for repositories that load with trust_remote_code
    if run["adapter"]:
        tags += ["peft", str(run["adapter"].get("peft_type", "lora")).lower()]
    return tags


def _eval_results(run: dict, dataset: dict) -> list[EvalResult]:
    """The model-index: every result, or for a Hub dataset only those on a whole split of it, named as on the Hub."""
    name = dataset["name"] or UNNAMED_DATASET
    splits = {role: role for role in SPLITS.values()}
    if dataset["id"]:
        splits = _hub_splits(run["training_args"], dataset["splits"])
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
        if splits[SPLITS[prefix]]
    ]


def _hub_splits(args: dict, splits: dict[str, str | None] | None) -> dict[str, str | None]:
    """
    The Hub split each evaluated role (validation, test) was read from whole, or None: a split made from train,
    local files (`--data_dir`) or one cut short (`--max_eval_samples`, `--max_test_samples`), as
    training_args.json records them. Without `splits`, each role is the Hub split of its own name.
    """
    if args.get("data_dir"):
        return dict.fromkeys(SPLITS.values())
    if splits is None:
        splits = {role: role for role in SPLITS.values()}
    limits = {"validation": args.get("max_eval_samples"), "test": args.get("max_test_samples")}
    # A role a data config leaves out of `splits` is made from train, like one set to null.
    return {role: None if limits[role] is not None else splits.get(role) for role in SPLITS.values()}


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


def _summary(run: dict, dataset: dict, base_model: str | None) -> str:
    model_type = run["config"].get("model_type")
    kind = ", ".join(
        ([f"`{model_type}`"] if model_type else [])
        + ([f"{len(run['label_names'])} classes"] if run["label_names"] else [])
    )
    data = f"**{dataset['name']}**" if dataset["name"] else "its training data"
    origin = (
        f"fine-tuned from {_model_link(base_model)}" if _is_fine_tuned(run, base_model) else "trained from scratch"
    )
    if run["adapter"]:
        origin = f"LoRA adapters on {_model_link(base_model)}, trained"
    return f"Text classifier{f' ({kind})' if kind else ''}: {origin} on {data}."


def _is_fine_tuned(run: dict, base_model: str | None) -> bool:
    """Whether the model started from a pretrained checkpoint, named or not (only recurrent types start afresh)."""
    return bool(base_model or run["adapter"] or (run["config"].get("model_type") and not _is_recurrent(run)))


def _is_recurrent(run: dict) -> bool:
    """Whether the folder holds one of this project's recurrent models (trained from scratch): they ship their code."""
    return bool(run["config"].get("auto_map")) and not run["adapter"]


def _model_link(name: str | None) -> str:
    if not name:
        return "a pretrained checkpoint"
    return f"[{name}](https://huggingface.co/{name})" if _is_hub_id(name) else f"`{Path(name).name}`"


def _model_section(run: dict, base_model: str | None) -> str:
    config, results = run["config"], run["results"]
    model_type = config.get("model_type")
    description = run["training_args"].get("model_description")
    if run["adapter"]:
        adapter = run["adapter"]
        lines = [f"- Architecture: {adapter.get('peft_type', 'LoRA')} adapters (r={adapter.get('r')}, "
                 f"alpha={adapter.get('lora_alpha')}) on {_model_link(base_model)}"]  # fmt: skip
    else:
        lines = [f"- Architecture: `{model_type}`" + (f", {description}" if description else "")]
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
    if run["label_names"]:
        lines.append("Labels (id: name): " + ", ".join(f"{i}: `{n}`" for i, n in enumerate(run["label_names"])))
    if run["test_size"]:
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
    lines = [f"- {key.replace('_', ' ')}: {value}" for key, value in values.items()]
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


def _epoch_table(log_history: list[dict]) -> str:
    """One row per evaluation during training, with the last training loss logged before it."""
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
                    _number(entry.get("eval_accuracy")),
                    _number(entry.get("eval_f1_macro")),
                ]
            )
    if not rows:
        return ""
    header = ["Epoch", "Step", "Training loss", "Validation loss", "Accuracy", "F1 (macro)"]
    return _table(header, rows)


def _evaluation_section(run: dict) -> str:
    by_metric: dict[str, dict[str, float]] = {}
    for prefix, metric, value in _split_metrics(run["results"]):
        by_metric.setdefault(metric, {})[prefix] = value
    parts = []
    if by_metric:
        rows = [
            [METRICS[metric][1], _number(values.get("eval")), _number(values.get("test"))]
            for metric, values in by_metric.items()
        ]
        parts.append(_table(["Metric", "Validation", "Test"], rows))
    if run["report"]:
        parts.append(f"Per class, on the test split:\n\n```\n{run['report']}\n```")
    parts += [f"![{IMAGES.get(name, Path(name).stem.replace('_', ' '))}]({name})" for name in run["images"]]
    return "\n\n".join(parts) or "No results recorded."


def _usage_section(run: dict, model_ref: str) -> str:
    if run["adapter"]:
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
    snippet = (
        "```python\n"
        "import torch\n"
        "from transformers import AutoModelForSequenceClassification, AutoTokenizer, pipeline\n\n"
        f'model_id = "{model_ref}"\n'
        f"tokenizer = AutoTokenizer.from_pretrained(model_id{trust})\n"
        f"model = AutoModelForSequenceClassification.from_pretrained(model_id{trust}).eval()\n"
        f'inputs = tokenizer(["{EXAMPLE_TEXT}"], return_tensors="pt", truncation=True)\n'
        "with torch.no_grad():\n"
        "    predicted = model(**inputs).logits.argmax(-1).item()\n"
        "print(model.config.id2label[predicted])\n\n"
        f'classifier = pipeline("text-classification", model=model_id{trust})\n'
        f'print(classifier("{EXAMPLE_TEXT}", top_k=None))\n'
        "```"
    )
    if remote:
        snippet += (
            "\n\n`trust_remote_code=True` runs the modelling code stored with the model (the `.py` files listed "
            "above); read it first, and pin a `revision` to keep running the code you read. The tokenizer needs it "
            "too, because `AutoTokenizer` reads the model's configuration."
        )
    return snippet


def _limitations_section(run: dict, dataset: dict, base_model: str | None) -> str:
    data = dataset["name"] or "its training data"
    lines = [
        f"- Trained and tested only on {data}; the test split comes from the same source, so expect lower scores "
        "on text from other domains, periods or languages.",
        "- Scores differ between classes: check the per-class results before relying on a single class.",
    ]
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
