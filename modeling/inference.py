"""Loading a trained model folder for inference, safely and with a clear error when the folder is not one, and the
cut of long texts that the model trained with."""

from pathlib import Path

import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase
from transformers.utils import logging as hf_logging

from .data import saved_truncation
from .errors import UserInputError

# Without any other limit (a tokenizer that records no length, a model without position embeddings), cut here.
FALLBACK_MAX_LENGTH = 512


def load_model_folder(
    folder: str, device: torch.device, **model_kwargs
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """
    The model (eval mode, on `device`) and tokenizer saved in `folder` by scripts/train.py. Weights are read from
    safetensors only (never unpickled), and no code from the folder runs unless this package defines the model.
    `model_kwargs` go to `from_pretrained` (e.g. `attn_implementation="eager"` to get attention weights).
    """
    path = Path(folder)
    if not path.is_dir():
        raise UserInputError(f"model folder {folder} does not exist; pass the --output_dir of a training run")
    if not (path / "config.json").is_file() and not (path / "adapter_config.json").is_file():
        raise UserInputError(f"{folder} holds no config.json; pass the --output_dir of a training run")
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder)
    except (OSError, ValueError) as error:
        raise UserInputError(f"{folder} holds no loadable tokenizer ({error}); save one beside the model") from error
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # a bar per weight file adds nothing to a prediction's output
    try:
        model = AutoModelForSequenceClassification.from_pretrained(folder, use_safetensors=True, **model_kwargs)
    except OSError as error:
        raise UserInputError(f"{folder} holds no safetensors weights ({error})") from error
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
    positions = getattr(model.config, "max_position_embeddings", None)
    truncation = saved_truncation(model.config)
    if requested is not None:
        if positions is not None and requested > positions:
            raise UserInputError(f"--max_length {requested} exceeds the model's {positions} positions")
        return requested, truncation
    # Tokenizers that record no length say so with a huge number (1e30).
    saved = tokenizer.model_max_length if tokenizer.model_max_length < 1_000_000 else None
    limits = [limit for limit in (saved, positions) if limit is not None]
    return (min(limits) if limits else FALLBACK_MAX_LENGTH), truncation
