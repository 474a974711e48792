"""Loading a trained model folder for inference, safely and with a clear error when the folder is not one, and the
cut of long texts that the model trained with."""

import json
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from transformers import AutoModelForSequenceClassification, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase
from transformers.models.auto.configuration_auto import CONFIG_MAPPING
from transformers.utils import logging as hf_logging

from .data import saved_truncation
from .errors import UserInputError
from .problem_types import saved_problem_type

# Without any other limit (a tokenizer that records no length, a model without position embeddings), cut here.
FALLBACK_MAX_LENGTH = 512


def resolve_device(name: str | None) -> torch.device:
    """The torch device `name` (default: cuda when present, else cpu); a device this machine lacks is refused."""
    if name is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise UserInputError(f"--device {name} is not a torch device; use cpu, cuda or cuda:N") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise UserInputError(f"--device {name}: this machine has no CUDA device; use --device cpu")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise UserInputError(f"--device {name}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    elif device.type == "mps" and not torch.backends.mps.is_available():
        raise UserInputError(f"--device {name}: MPS is not available here; use --device cpu")
    return device


def _check_no_foreign_code(path: Path) -> None:
    """
    Refuse a folder whose config asks for its own code (`auto_map`) for a model type this package does not
    register: loading it would run that code (or ask whether to). This package's own types load with its classes.
    """
    try:
        config = json.loads((path / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return  # from_pretrained gives its own error
    model_type = config.get("model_type") if isinstance(config, dict) else None
    if isinstance(config, dict) and config.get("auto_map") and model_type not in CONFIG_MAPPING:
        raise UserInputError(
            f"{path} holds a model of type {model_type!r} that needs its own code (auto_map in config.json), which "
            "this package does not define; its code is not run. Load it yourself with trust_remote_code=True if you "
            "trust it"
        )


def _check_weights(path: Path) -> None:
    """Refuse a truncated, empty or unreadable model.safetensors with one line, before transformers reads it."""
    for weights in sorted(path.glob("*.safetensors")):
        try:
            with safe_open(str(weights), framework="pt") as handle:
                handle.keys()
        except (SafetensorError, OSError, ValueError) as error:
            reason = str(error).strip().splitlines()[0][:120] if str(error).strip() else type(error).__name__
            raise UserInputError(f"{weights} is damaged ({reason}); copy it again or train the model again") from None


def load_model_folder(
    folder: str, device: torch.device, **model_kwargs
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """
    The model (eval mode, on `device`) and tokenizer saved in `folder` by scripts/train.py. Weights are read from
    safetensors only (never unpickled), and no code from the folder runs: this package's architectures load with
    its own classes, and a folder that needs other code is refused, never prompted for.
    `model_kwargs` go to `from_pretrained` (e.g. `attn_implementation="eager"` to get attention weights).
    """
    path = Path(folder)
    if not path.is_dir():
        raise UserInputError(f"model folder {folder} does not exist; pass the --output_dir of a training run")
    if not (path / "config.json").is_file() and not (path / "adapter_config.json").is_file():
        raise UserInputError(f"{folder} holds no config.json; pass the --output_dir of a training run")
    _check_no_foreign_code(path)
    _check_weights(path)
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=False)
    except (OSError, ValueError) as error:
        raise UserInputError(f"{folder} holds no loadable tokenizer ({error}); save one beside the model") from error
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # a bar per weight file adds nothing to a prediction's output
    try:
        model = AutoModelForSequenceClassification.from_pretrained(
            folder, use_safetensors=True, trust_remote_code=False, **model_kwargs
        )
    except OSError as error:
        raise UserInputError(f"{folder} holds no safetensors weights ({error})") from error
    except (SafetensorError, ValueError) as error:
        reason = str(error).strip().splitlines()[0][:160] if str(error).strip() else type(error).__name__
        raise UserInputError(f"{folder}: the model cannot be loaded ({reason})") from error
    finally:
        if bars:
            hf_logging.enable_progress_bar()
    return model.to(device).eval(), tokenizer


def saved_cut(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, requested: int | None = None
) -> tuple[int, str]:
    """
    How to cut texts for `model`: (max_length, truncation), as it trained. scripts/train.py saves the length as the
    tokenizer's `model_max_length` and the cut ("head_tail" or "head") as `config.text_truncation`; predict.py,
    evaluate_model.py and benchmark.py all take them from here. A `requested` length (their --max_length) wins,
    but never more positions than the model has. A tokenizer that records no length (or a huge one) falls back to
    the model's positions, then to 512.
    """
    return config_cut(model.config, tokenizer, requested)


def config_cut(config, tokenizer: PreTrainedTokenizerBase, requested: int | None = None) -> tuple[int, str]:
    """`saved_cut` from a model's config alone (a distillation teacher is read before its weights are loaded)."""
    positions = getattr(config, "max_position_embeddings", None)
    truncation = saved_truncation(config)
    if requested is not None:
        if positions is not None and requested > positions:
            raise UserInputError(f"--max_length {requested} exceeds the model's {positions} positions")
        return requested, truncation
    # Tokenizers that record no length say so with a huge number (1e30).
    saved = tokenizer.model_max_length if tokenizer.model_max_length < 1_000_000 else None
    limits = [limit for limit in (saved, positions) if limit is not None]
    return (min(limits) if limits else FALLBACK_MAX_LENGTH), truncation


def check_model_labels(config, label_names: list[str], problem_type: str, dataset_name: str) -> None:
    """A saved model fits the data: the same problem type, and for classification the same classes in order."""
    model_problem = saved_problem_type(config)
    if model_problem != problem_type:
        raise UserInputError(
            f"the model was trained for {model_problem} but dataset {dataset_name!r} is {problem_type}; "
            "evaluate on data of the same problem type"
        )
    model_names = [config.id2label[i] for i in range(len(config.id2label))]
    if problem_type != "regression" and model_names != list(label_names):
        raise UserInputError(
            f"the model's labels {model_names} differ from dataset {dataset_name!r}'s {list(label_names)}; "
            "evaluate on a dataset with the same classes in the same order"
        )
