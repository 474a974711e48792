"""Loading a trained model folder for inference, safely and with a clear error when the folder is not one."""

from pathlib import Path

import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from .errors import UserInputError
from .problem_types import saved_problem_type


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
    try:
        model = AutoModelForSequenceClassification.from_pretrained(folder, use_safetensors=True, **model_kwargs)
    except OSError as error:
        raise UserInputError(f"{folder} holds no safetensors weights ({error})") from error
    return model.to(device).eval(), tokenizer


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
