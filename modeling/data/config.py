"""The schema of a dataset config (`data_configs/<name>.yaml`), and reading one with checks that say what to fix."""

from dataclasses import dataclass, field, fields, replace
from pathlib import Path

import yaml

from ..errors import UserInputError
from ..problem_types import PROBLEM_TYPES, REGRESSION, SINGLE_LABEL
from .tokenization import check_truncation

DATA_CONFIG_DIR = Path(__file__).resolve().parent.parent.parent / "data_configs"
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
    raw = yaml.safe_load(path.read_text()) or {}
    known = {f.name for f in fields(DataConfig)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise UserInputError(f"{path}: unknown keys {unknown}; the schema is in data_configs/README.md")
    raw.setdefault("name", path.stem)
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
