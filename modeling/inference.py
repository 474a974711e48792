"""Loading a trained model folder for inference, safely and with a clear error when the folder is not one."""

from pathlib import Path

import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase
from transformers.utils import logging as hf_logging

from .errors import UserInputError


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
