"""From a dataset config (`data_configs/<name>.yaml`) to a `DatasetDict` with `text` and `label` columns.

Loading and mapping go through `datasets` (`load_dataset`, batched `map` with its cache). What this module adds is
the part every notebook rewrote: one schema for where the data lives and which columns matter, label names and
ids, a stratified, seeded validation (and test) split when the source has none, and checks that fail early with a
message that says what to fix.
"""

import codecs
import gzip
import json
import logging
import zlib
from collections import Counter
from pathlib import Path

import datasets

from ..errors import UserInputError
from ..problem_types import MULTI_LABEL, REGRESSION, SINGLE_LABEL
from .config import DATA_CONFIG_DIR, SPLITS, TEXT_TRANSFORMS, DataConfig

logger = logging.getLogger(__name__)

# File endings `--data_dir` understands, and the `datasets` builder that reads each.
FILE_BUILDERS = {
    ".jsonl.gz": "json",
    ".json.gz": "json",
    ".jsonl": "json",
    ".json": "json",
    ".csv.gz": "csv",
    ".csv": "csv",
    ".parquet": "parquet",
}


def load_splits(config: DataConfig, data_dir: str | None = None, seed: int = 42) -> datasets.DatasetDict:
    """
    Load a dataset as train/validation/test with a `text` string column and a `label` column: a `ClassLabel`
    (single-label), a list of `ClassLabel` ids (multi-label; `tokenize_splits` makes them multi-hot rows) or a
    float (regression), as the config's `problem_type` says. `label_names_of` gives the names of any of them.

    Args:
        config: the dataset config.
        data_dir: a folder of local files to read instead of the config's source.
        seed: seeds the stratified split that makes a missing validation or test split.
    """
    raw, roles = _load_source(config, data_dir)
    for split in {source for source in roles.values() if source is not None}:
        _check_columns(raw[split], config, split)
    sources = {role: raw[source] for role, source in roles.items() if source is not None}
    texts = {role: _normalise(dataset, config, role) for role, dataset in sources.items()}
    if config.problem_type == REGRESSION:
        encoded = {role: _encode_values(ds, config, role) for role, ds in texts.items()}
    else:
        multi = config.problem_type == MULTI_LABEL
        label_names = config.label_names or _label_names_from(texts["train"], config if multi else None)
        encoded = {
            role: _encode_labels(ds, label_names, role, config if multi else None) for role, ds in texts.items()
        }
    return _carve_missing_splits(datasets.DatasetDict(encoded), config, seed)


def label_names_of(split: datasets.Dataset, config: DataConfig) -> list[str]:
    """
    The names of the model's outputs for a split made by `load_splits`: the classes, or for regression the one
    value's name (the config's `label_names`, else its label column).
    """
    feature = split.features["label"]
    if isinstance(feature, datasets.ClassLabel):
        return list(feature.names)
    if isinstance(getattr(feature, "feature", None), datasets.ClassLabel):  # multi-label: a list of class ids
        return list(feature.feature.names)
    return list(config.label_names or [config.label_column])


def check_training_classes(train: datasets.Dataset, config: DataConfig) -> None:
    """
    Before training: a classifier needs examples of two classes at least; classes without training rows are worth
    a warning. (Inspecting or evaluating one-class data is fine, so `load_splits` does not check this.)
    """
    feature = train.features["label"]
    if isinstance(getattr(feature, "feature", None), datasets.ClassLabel):  # multi-label: each row a list of ids
        label_names = feature.feature.names
        counts = Counter(label for labels in train["label"] for label in labels)
    elif isinstance(feature, datasets.ClassLabel):
        label_names = feature.names
        counts = Counter(train["label"])
    else:  # regression: no classes to count
        return
    if len(counts) < 2:
        only = label_names[next(iter(counts))] if counts else None
        raise UserInputError(
            f"the train split of {config.name!r} holds one class ({only!r}); a classifier needs training examples of "
            "at least two classes"
        )
    missing = [name for i, name in enumerate(label_names) if i not in counts]
    if missing:
        logger.warning(
            "the train split of %r has no rows of %d of its %d classes (%s): the model cannot learn to predict them",
            config.name, len(missing), len(label_names), ", ".join(missing),
        )  # fmt: skip


def _load_source(config: DataConfig, data_dir: str | None) -> tuple[datasets.DatasetDict, dict[str, str | None]]:
    """The raw source as a DatasetDict, and which of its splits serves as train, validation and test."""
    if data_dir is not None or config.data_dir is not None:
        folder = Path(data_dir) if data_dir is not None else DATA_CONFIG_DIR / config.data_dir
        files = _find_local_files(folder, config)
        builders = {_builder_for(path) for path in files.values()}
        if len(builders) > 1:
            raise UserInputError(f"{folder}: the split files mix formats ({sorted(builders)}); use one format")
        # One file at a time: a file whose columns differ from the others' then fails on its own, with the column
        # named (`_check_columns`), rather than as one dataset whose splits cannot be cast alike.
        raw = datasets.DatasetDict({split: _read_file(path, _builder_for(path)) for split, path in files.items()})
        # Explicit `data_files` keep the config's role mapping; standard file names serve their own role.
        roles = dict(config.splits) if config.data_files else {s: (s if s in files else None) for s in SPLITS}
        return raw, roles
    if config.hub_path is not None:
        from ..hub import check_hub_reachable, is_unreachable  # here: hub.py imports the data package

        check_hub_reachable(lambda why: _unreachable_message(config, why), for_datasets=True)
        try:
            return datasets.load_dataset(config.hub_path, config.hub_config), dict(config.splits)
        except Exception as error:
            if is_unreachable(error):
                raise UserInputError(_unreachable_message(config, "no network")) from error
            raise
    raise UserInputError(
        f"dataset {config.name!r} has no public source on the hub: download it "
        f"({config.homepage or 'see its config'}) and pass --data_dir DIR"
    )


def _read_file(path: Path, builder: str) -> datasets.Dataset:
    """One data file as a Dataset, or a one-line error saying what is wrong with it."""
    _check_file(path)
    try:
        dataset = datasets.load_dataset(builder, data_files={"train": str(path)}, split="train")
    except Exception as error:  # pyarrow/pandas parse errors rarely say where: find the bad line ourselves
        if "corresponds to no data" in str(error):  # datasets' words for a file without a row
            raise UserInputError(f"{path} holds no rows (only a header?); give it one row per text") from None
        _raise_for_bad_line(path)
        raise UserInputError(f"could not read {path}: {_innermost_reason(error)}") from error
    if len(dataset) == 0:
        raise UserInputError(f"{path} holds no rows (only a header?); give it one row per text")
    return dataset


def _check_file(path: Path) -> None:
    """
    Refuse an empty file, a compressed one that is cut short or damaged, and a text file that is not UTF-8 (pyarrow
    would read its bad bytes into the text column, to fail only later), naming the first bad line.
    """
    if path.stat().st_size == 0:
        raise UserInputError(f"{path} is empty; give it one row per text")
    text = _builder_for(path) != "parquet"
    decoder = codecs.getincrementaldecoder("utf-8")()
    opener = gzip.open if path.name.endswith(".gz") else open
    try:
        with opener(path, "rb") as handle:
            while chunk := handle.read(1 << 20):  # the whole stream: a cut shows only at its end
                if text:
                    decoder.decode(chunk)
            if text:
                decoder.decode(b"", final=True)
    except (EOFError, OSError, zlib.error) as error:
        raise UserInputError(f"{path}: the gzip file is cut short or damaged ({error}); copy it again") from None
    except UnicodeDecodeError:
        _raise_for_bad_line(path)


def _innermost_reason(error: BaseException) -> str:
    """The most specific message in an exception chain (datasets wraps parse errors in a generic one)."""
    reasons = []
    while error is not None:
        text = str(error).strip().splitlines()
        reasons.append(f"{type(error).__name__}: {text[0]}" if text else type(error).__name__)
        error = error.__cause__ or error.__context__
    specific = [reason for reason in reasons if "An error occurred while generating the dataset" not in reason]
    return (specific or reasons)[-1][:300]


def _unreachable_message(config: DataConfig, why: str) -> str:
    """Where the Hub dataset of `config` would come from, and the --data_dir files that replace it."""
    if config.data_files:
        expected = ", ".join(config.data_files.values())
    else:
        roles = [role for role in SPLITS if config.splits.get(role) is not None]
        expected = ", ".join(f"{role}.jsonl.gz" for role in roles) + " (or .jsonl, .csv, .parquet)"
    columns = ", ".join([*config.text_columns, config.label_column])
    return (
        f"dataset {config.name!r} ({config.hub_path}) cannot be loaded: the Hugging Face Hub cannot be reached "
        f"({why}); download it and pass --data_dir DIR with {expected}, columns {columns}"
    )


def _find_local_files(folder: Path, config: DataConfig) -> dict[str, Path]:
    if not folder.is_dir():
        raise UserInputError(f"data directory {folder} does not exist")
    if config.data_files:
        files = {split: folder / name for split, name in config.data_files.items()}
        for path in files.values():
            if not path.is_file():
                raise UserInputError(f"missing data file {path} (data config {config.name!r} expects it)")
        return files
    files = {}
    for split in SPLITS:
        found = [folder / f"{split}{ending}" for ending in FILE_BUILDERS if (folder / f"{split}{ending}").is_file()]
        if found:
            files[split] = found[0]
    if "train" not in files:
        endings = ", ".join(FILE_BUILDERS)
        raise UserInputError(f"no training file in {folder}: expected train.<ending> with one of: {endings}")
    return files


def _raise_for_bad_line(path: Path) -> None:
    """Raise a UserInputError naming the first line of `path` that is not UTF-8 (or, for JSON lines, not JSON)."""
    opener = gzip.open if path.name.endswith(".gz") else open
    is_json = _builder_for(path) == "json"
    with opener(path, "rb") as handle:
        for line_number, raw in _numbered_lines(handle, path):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                raise UserInputError(f"{path}:{line_number}: not valid UTF-8 ({error.reason})") from None
            if is_json and line.strip():
                try:
                    json.loads(line)
                except json.JSONDecodeError as error:
                    raise UserInputError(f"{path}:{line_number}: not a JSON object ({error.msg})") from None


def _numbered_lines(handle, path: Path):
    """(line number, bytes) of an open file; a cut-short or damaged compressed file is a one-line error."""
    line_number = 0
    try:
        for line_number, raw in enumerate(handle, 1):
            yield line_number, raw
    except (EOFError, OSError, zlib.error) as error:
        raise UserInputError(
            f"{path}: the gzip file is cut short or damaged after line {line_number} ({error}); copy it again"
        ) from None


def _builder_for(path: Path) -> str:
    for ending, builder in FILE_BUILDERS.items():
        if path.name.endswith(ending):
            return builder
    raise UserInputError(f"{path}: unsupported file type; use one of {', '.join(FILE_BUILDERS)}")


def _check_columns(dataset: datasets.Dataset, config: DataConfig, split: str) -> None:
    wanted = config.text_columns + [config.label_column]
    missing = [column for column in wanted if column not in dataset.column_names]
    if missing:
        raise UserInputError(
            f"split {split!r} of {config.name!r} has no column {missing[0]!r}; columns found: {dataset.column_names}. "
            "Set text_column / label_column in the data config, or pass --text_column / --label_column"
        )


def _normalise(dataset: datasets.Dataset, config: DataConfig, role: str) -> datasets.Dataset:
    """Keep a `text` and a raw `label` column; drop rows whose text is empty."""
    transform = TEXT_TRANSFORMS[config.text_transform] if config.text_transform else None

    def to_text(batch: dict) -> dict:
        columns = [batch[column] for column in config.text_columns]
        if transform is not None:
            columns = [[transform(value) for value in column] for column in columns]
        texts = [" ".join("" if part is None else str(part) for part in parts) for parts in zip(*columns)]
        return {"text": texts, "label": batch[config.label_column]}

    dataset = dataset.map(to_text, batched=True, remove_columns=dataset.column_names, desc=f"Reading {role} texts")
    before = len(dataset)
    dataset = dataset.filter(lambda batch: [bool(t.strip()) for t in batch["text"]], batched=True)
    if len(dataset) < before:
        logger.warning("%s: dropped %d of %d rows with an empty text", role, before - len(dataset), before)
    if len(dataset) == 0:
        raise UserInputError(f"the {role} split of {config.name!r} has no rows with text")
    return dataset


def _label_names_from(train: datasets.Dataset, multi_label: DataConfig | None = None) -> list[str]:
    """The sorted label names of the training split, or `0..max` for integer ids; `multi_label`: lists of them."""
    values = set()
    for value in train["label"]:
        if multi_label is None and isinstance(value, (list, tuple)):
            raise UserInputError(
                f"the label column holds lists such as {value!r}: set problem_type: multi_label_classification in "
                "the data config"
            )
        values.update(_label_list(value, multi_label) if multi_label is not None else [value])
    if not values:
        raise UserInputError("the training split has no labels; give label_names in the data config")
    if all(isinstance(value, str) for value in values):
        return sorted(values)
    if any(isinstance(value, str) for value in values):
        raise UserInputError(f"the training labels mix names and ids: {sorted(map(str, values))[:6]}")
    return [str(value) for value in range(int(max(values)) + 1)]


def _label_list(value, config: DataConfig) -> list:
    """One text's labels in a multi-label column: a list (of names or ids), a delimited string, or nothing."""
    if value is None:
        return []
    if isinstance(value, str):
        parts = value.split(config.label_delimiter) if config.label_delimiter else [value]
        return [part.strip() for part in parts if part.strip()]
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


def _encode_labels(
    dataset: datasets.Dataset, label_names: list[str], role: str, multi_label: DataConfig | None = None
) -> datasets.Dataset:
    """
    Turn raw labels (names, or integer ids as int/float/bool) into ids of a `ClassLabel`; with `multi_label` (the
    data config), each text's list of labels into a sorted list of such ids.
    """
    ids = {name: i for i, name in enumerate(label_names)}

    def to_id(value) -> int:
        if isinstance(value, str) and value not in ids and value.strip().isdigit():
            value = int(value)  # an id written as text, as in a delimited multi-label string "0|2"
        if isinstance(value, float) and not value.is_integer():
            raise UserInputError(
                f"label {value!r} in the {role} split is not a class id: ids are whole numbers in "
                f"0..{len(label_names) - 1}"
            )
        if isinstance(value, str):
            if value not in ids:
                raise UserInputError(
                    f"label {value!r} in the {role} split is not among the training labels {label_names}"
                )
            return ids[value]
        if isinstance(value, (list, tuple)):
            raise UserInputError(f"label {value!r} in the {role} split is a list; is the data multi-label?")
        if value is None or not 0 <= int(value) < len(label_names):
            hint = " (hidden test labels? point splits.test at a labelled split)" if value == -1 else ""
            raise UserInputError(
                f"label {value!r} in the {role} split is not a class id in 0..{len(label_names) - 1}{hint}"
            )
        return int(value)

    def encode(batch: dict) -> dict:
        if multi_label is None:
            return {"label": [to_id(value) for value in batch["label"]]}
        return {
            "label": [sorted({to_id(item) for item in _label_list(value, multi_label)}) for value in batch["label"]]
        }

    label = datasets.ClassLabel(names=label_names)
    features = datasets.Features(
        {"text": datasets.Value("string"), "label": label if multi_label is None else datasets.Sequence(label)}
    )
    return dataset.map(encode, batched=True, features=features, desc=f"Encoding {role} labels")


def _encode_values(dataset: datasets.Dataset, config: DataConfig, role: str) -> datasets.Dataset:
    """Regression: each label as a float (numbers, or text holding one)."""

    def to_float(value) -> float:
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = float("nan")
        if number != number or number in (float("inf"), float("-inf")):
            raise UserInputError(
                f"label {value!r} in the {role} split of {config.name!r} is not a number (problem_type regression)"
            )
        return number

    features = datasets.Features({"text": datasets.Value("string"), "label": datasets.Value("float32")})
    return dataset.map(
        lambda batch: {"label": [to_float(value) for value in batch["label"]]},
        batched=True,
        features=features,
        desc=f"Reading {role} values",
    )


def _carve_missing_splits(dataset: datasets.DatasetDict, config: DataConfig, seed: int) -> datasets.DatasetDict:
    """
    Make a missing test, then a missing validation split from train, seeded (stratified by class for single-label
    data), each the configured fraction of the training rows the source had.
    """
    carved = 0.0  # the fraction of the source's training rows already taken
    for role, size in (("test", config.test_size), ("validation", config.validation_size)):
        if role in dataset:
            continue
        size, carved = size / (1 - carved), carved + size  # of what is left
        # Stratified by class where each text has one; a random seeded split for label sets and values.
        stratify = "label" if config.problem_type == SINGLE_LABEL else None
        parts = dataset["train"].train_test_split(test_size=size, stratify_by_column=stratify, seed=seed)
        dataset["train"], dataset[role] = parts["train"], parts["test"]
        how = "stratified, " if stratify else ""
        logger.info("made a %s split of %d rows from train (%sseed %d)", role, len(parts["test"]), how, seed)
    return datasets.DatasetDict({split: dataset[split] for split in SPLITS})
