"""The schema of a dataset config (`data_configs/<name>.yaml`), and reading one with checks that say what to fix."""

from dataclasses import dataclass, field, fields, replace
from pathlib import Path

import yaml

from ..errors import UserInputError
from ..problem_types import PROBLEM_TYPES, REGRESSION, SINGLE_LABEL
from .tokenization import check_truncation


def _data_config_dir() -> Path:
    """
    Where the named dataset configs (and the bundled data) are: inside the installed package (a wheel or
    `pip install .` ships the repository's data_configs/ as `modeling/data_configs`, see setup.py), or else in the
    source checkout the package is imported from (a checkout on the path, or `pip install -e .`).
    """
    package = Path(__file__).resolve().parent.parent  # modeling/
    installed, checkout = package / "data_configs", package.parent / "data_configs"
    return installed if installed.is_dir() else checkout


DATA_CONFIG_DIR = _data_config_dir()
SPLITS = ("train", "validation", "test")


@dataclass
class DataConfig:
    """One dataset: where it lives, which columns hold text and label, how to split it (data_configs/README.md)."""

    name: str
    description: str = ""
    hub_path: str | None = None
    hub_config: str | None = None
    data_dir: str | None = None
    data_files: dict[str, str] | None = None
    text_column: str | list[str] = "text"
    label_column: str = "label"
    label_names: list[str] | None = None
    problem_type: str = SINGLE_LABEL
    label_delimiter: str | None = None
    splits: dict[str, str | None] = field(default_factory=lambda: {split: split for split in SPLITS})
    validation_size: float = 0.1
    test_size: float = 0.1
    max_length: int = 128
    truncation: str = "head_tail"
    text_transform: str | None = None
    homepage: str = ""
    license: str = ""

    @property
    def text_columns(self) -> list[str]:
        return [self.text_column] if isinstance(self.text_column, str) else list(self.text_column)


def available_datasets() -> list[str]:
    """Names of the dataset configs shipped in data_configs/."""
    return sorted(path.stem for path in DATA_CONFIG_DIR.glob("*.yaml"))


def load_data_config(name_or_path: str) -> DataConfig:
    """Read `data_configs/<name>.yaml`, or a YAML file given by path."""
    path = Path(name_or_path)
    if path.suffix not in (".yaml", ".yml"):
        path = DATA_CONFIG_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        raise UserInputError(
            f"unknown dataset {name_or_path!r}; choose one of: {', '.join(available_datasets())}, "
            "or give the path of a YAML data config"
        )
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise UserInputError(f"{path}: not valid YAML{where} ({problem})") from None
    except UnicodeDecodeError as error:
        raise UserInputError(f"{path}: not valid UTF-8 ({error.reason})") from None
    raw = {} if raw is None else raw
    if not isinstance(raw, dict):
        raise UserInputError(
            f"{path}: a data config is a mapping of keys to values, not a {type(raw).__name__}; "
            "the schema is in data_configs/README.md"
        )
    known = {f.name for f in fields(DataConfig)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise UserInputError(f"{path}: unknown keys {unknown}; the schema is in data_configs/README.md")
    raw.setdefault("name", path.stem)
    _check_values(raw, path)
    config = DataConfig(**raw)
    if config.splits.get("train") is None:
        raise UserInputError(f"{path}: splits.train must name a split of the source")
    if not (0 < config.validation_size and 0 < config.test_size and config.validation_size + config.test_size < 1):
        raise UserInputError(
            f"{path}: validation_size and test_size must be above 0 and add up to less than 1, got "
            f"{config.validation_size} and {config.test_size}"
        )
    check_truncation(config.truncation, f"{path}: truncation")
    if config.problem_type not in PROBLEM_TYPES:
        raise UserInputError(
            f"{path}: problem_type must be one of {', '.join(PROBLEM_TYPES)}, got {config.problem_type!r}"
        )
    if config.problem_type == REGRESSION and config.label_names is not None and len(config.label_names) != 1:
        raise UserInputError(f"{path}: regression predicts one value; label_names must hold one name, its name")
    return config


_TEXT_KEYS = (
    "name", "description", "hub_path", "hub_config", "data_dir", "label_column", "homepage", "license",
    "problem_type", "label_delimiter",
)  # fmt: skip


def _check_values(raw: dict, path: Path) -> None:
    """Refuse values of the wrong type or range, naming the key (the schema is in data_configs/README.md)."""

    def fail(key: str, wanted: str) -> None:
        raise UserInputError(f"{path}: {key} must be {wanted}, got {raw[key]!r}")

    for key in _TEXT_KEYS:
        if key in raw and raw[key] is not None and not isinstance(raw[key], str):
            fail(key, "a string")
    if "text_column" in raw:
        value = raw["text_column"]
        if not (
            isinstance(value, str) or (isinstance(value, list) and value and all(isinstance(v, str) for v in value))
        ):
            fail("text_column", "a column name or a list of them")
    if raw.get("label_names") is not None:
        names = raw["label_names"]
        if not isinstance(names, list) or not all(
            isinstance(n, (str, int)) and not isinstance(n, bool) for n in names
        ):
            fail("label_names", "a list of class names, e.g. [negative, positive]")
        regression = raw.get("problem_type") == REGRESSION  # its one name is the value's (checked below)
        if (len(names) < 2 and not regression) or len({str(n) for n in names}) < len(names):
            fail("label_names", "at least two different class names")
        raw["label_names"] = [str(name) for name in names]
    if raw.get("data_files") is not None:
        files = raw["data_files"]
        if not isinstance(files, dict) or not all(isinstance(v, str) for v in files.values()):
            fail("data_files", "a mapping of split to file name")
    if "splits" in raw:
        splits = raw["splits"]
        if not isinstance(splits, dict) or not set(splits) <= set(SPLITS):
            fail("splits", f"a mapping of {', '.join(SPLITS)} to a source split (or null)")
        if not all(v is None or isinstance(v, str) for v in splits.values()):
            fail("splits", "a mapping of role to a split name (or null)")
    for key in ("validation_size", "test_size"):
        if key in raw and (isinstance(raw[key], bool) or not isinstance(raw[key], (int, float))):
            fail(key, "a fraction between 0 and 1")
    if "max_length" in raw and (
        isinstance(raw["max_length"], bool) or not isinstance(raw["max_length"], int) or raw["max_length"] <= 0
    ):
        fail("max_length", "a positive whole number of tokens")
    if raw.get("text_transform") is not None and raw["text_transform"] not in TEXT_TRANSFORMS:
        fail("text_transform", f"one of {', '.join(TEXT_TRANSFORMS)}")


def override_columns(
    config: DataConfig, text_column: str | None = None, label_column: str | None = None
) -> DataConfig:
    """
    `config` with other text and label columns (`--text_column`, `--label_column`), for local files whose columns
    are not the config's; `text_column` may name several, comma-separated (joined with a space, as in a config).
    """
    changes = {}
    if text_column is not None:
        columns = [column.strip() for column in text_column.split(",") if column.strip()]
        if not columns:
            raise UserInputError(f"--text_column must name a column, got {text_column!r}")
        changes["text_column"] = columns[0] if len(columns) == 1 else columns
    if label_column is not None:
        if not label_column.strip():
            raise UserInputError("--label_column must name a column")
        changes["label_column"] = label_column.strip()
    return replace(config, **changes) if changes else config


def join_review_sentences(value: list) -> str:
    """Goodreads spoilers: `[[spoiler_flag, sentence], ...]` -> the review as one string."""
    return " ".join(str(pair[1]) for pair in value or [])


# Named functions a data config can apply to its text column(s) before anything else.
TEXT_TRANSFORMS = {"join_review_sentences": join_review_sentences}
