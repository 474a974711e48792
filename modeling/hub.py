"""Uploading a finished run's folder, with its model card, to the Hugging Face Hub.

`push_to_hub` goes through `huggingface_hub` (`HfApi.create_repo`, `HfApi.upload_folder`), which also finds the
token: the argument, then `HF_TOKEN`, then a saved `hf auth login`.
"""

import logging
import shlex
from pathlib import Path

from huggingface_hub import HfApi
from huggingface_hub.errors import HfHubHTTPError, HFValidationError, OfflineModeIsEnabled
from huggingface_hub.utils import httpx, validate_repo_id

from .errors import UserInputError
from .reporting.model_card import CARD_NAME, write_model_card

logger = logging.getLogger(__name__)

# Never uploaded: intermediate checkpoints (the best model is already at the top level) and the pickled arguments,
# which only `torch.load` with arbitrary unpickling could read.
UPLOAD_IGNORE_PATTERNS = ("checkpoint-*", "training_args.bin")


def check_repo_id(repo_id: str) -> None:
    """Refuse a Hub repository id that cannot exist, before any upload (or any training) starts."""
    try:
        validate_repo_id(repo_id)
    except HFValidationError:
        raise UserInputError(
            f"--hub_model_id {repo_id!r} is not a valid repository id; use NAME or USER_OR_ORG/NAME "
            "(letters, digits, '-', '_', '.')"
        ) from None


def push_to_hub(output_dir: str | Path, repo_id: str, private: bool = False, token: str | None = None) -> str:
    """
    Create the Hub repository `repo_id` (if needed) and upload the model folder with its card.

    Checkpoint folders and `training_args.bin` stay local. Writes a card first if the folder has none.

    Args:
        output_dir: the folder of a finished `scripts/train.py` run.
        repo_id: `NAME` (under the logged-in account) or `USER_OR_ORG/NAME`.
        private: create the repository as private (an existing repository keeps its visibility).
        token: a Hub token; by default `huggingface_hub` takes `HF_TOKEN` or the saved login.

    Returns:
        The repository's URL.

    Raises:
        UserInputError: when the folder holds no model, or the Hub cannot be reached or refuses the upload.
    """
    folder = Path(output_dir)
    if not ((folder / "config.json").is_file() or (folder / "adapter_config.json").is_file()):
        raise UserInputError(
            f"{folder} holds no trained model (no config.json); give the output_dir of a train.py run"
        )
    check_repo_id(repo_id)
    if not (folder / CARD_NAME).is_file():
        write_model_card(folder, repo_id=repo_id)

    api = HfApi(token=token)
    try:
        repo_url = api.create_repo(repo_id, private=private, exist_ok=True)
        api.upload_folder(
            repo_id=repo_url.repo_id,
            folder_path=folder,
            # A new list each call: upload_folder appends its own default patterns to the one it is given.
            ignore_patterns=list(UPLOAD_IGNORE_PATTERNS),
            commit_message=f"Upload {repo_url.repo_id.rsplit('/', 1)[-1]} text classifier",
        )
    except (OSError, httpx.HTTPError) as error:
        raise UserInputError(
            f"upload to the Hub failed ({_failure_reason(error)}); everything is saved locally in {folder}: "
            f"retry with python scripts/push.py --model {shlex.quote(str(folder))} --hub_model_id {repo_id}"
        ) from error
    logger.info("uploaded %s to %s", folder, repo_url)
    return str(repo_url)


def _failure_reason(error: Exception) -> str:
    """A short reason for a failed upload: the kind of failure and at most the server's own message."""
    if isinstance(error, OfflineModeIsEnabled):
        return "HF_HUB_OFFLINE is set"
    if isinstance(error, HfHubHTTPError):
        status = error.response.status_code if error.response is not None else None
        if status in (401, 403):
            return f"HTTP {status}: log in with `hf auth login` or set HF_TOKEN to a token with write access"
        detail = (error.server_message or "").strip().splitlines()[:1]
        return ": ".join([f"HTTP {status}" if status else "HTTP error", *[line[:150] for line in detail]])
    if isinstance(error, (ConnectionError, httpx.TransportError)):
        return "the Hub could not be reached"
    return type(error).__name__
