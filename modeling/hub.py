"""Uploading a finished run's folder, with its model card, to the Hugging Face Hub.

`push_to_hub` goes through `huggingface_hub` (`HfApi.create_repo`, `HfApi.upload_folder`), which also finds the
token: the argument, then `HF_TOKEN`, then a saved `hf auth login`.
"""

import logging
import os
import shlex
import shutil
import socket
import tempfile
from collections.abc import Callable
from pathlib import Path

from huggingface_hub import HfApi, ModelCard
from huggingface_hub.errors import HfHubHTTPError, HFValidationError, OfflineModeIsEnabled
from huggingface_hub.utils import httpx, validate_repo_id

from .errors import UserInputError
from .files import TEMP_PREFIX
from .reporting.model_card import CARD_NAME, save_card, write_model_card

logger = logging.getLogger(__name__)

# Never uploaded: intermediate checkpoints (the best model is already at the top level), the pickled arguments,
# which only `torch.load` with arbitrary unpickling could read, and temporary files of a run killed while saving.
UPLOAD_IGNORE_PATTERNS = ("checkpoint-*", "training_args.bin", f"{TEMP_PREFIX}*", ".saving-*", ".removing-*")


def offline_mode(for_datasets: bool = False) -> bool:
    """Whether the Hub is switched off for this process: HF_HUB_OFFLINE, or for datasets HF_DATASETS_OFFLINE too."""
    from huggingface_hub import constants

    datasets_offline = os.environ.get("HF_DATASETS_OFFLINE", "").upper() in ("1", "ON", "YES", "TRUE")
    return bool(constants.HF_HUB_OFFLINE) or (for_datasets and datasets_offline)


def check_hub_reachable(what: Callable[[str], str], for_datasets: bool = False) -> None:
    """
    Raise `UserInputError(what(why))` at once when the Hub is switched off or its host cannot be reached. Without
    this, `huggingface_hub` retries a failing connection five times with growing waits (about 24 s) before the
    error. Skipped behind a proxy, where only the client's own request can tell.
    """
    from urllib.parse import urlparse

    from huggingface_hub import constants

    if offline_mode(for_datasets):
        flags = "HF_HUB_OFFLINE or HF_DATASETS_OFFLINE" if for_datasets else "HF_HUB_OFFLINE"
        raise UserInputError(what(f"{flags} is set"))
    if any(os.environ.get(name) for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return
    endpoint = urlparse(constants.ENDPOINT)
    try:
        socket.create_connection((endpoint.hostname, endpoint.port or 443), timeout=5).close()
    except OSError as error:
        raise UserInputError(what(f"no network: {endpoint.hostname}: {error.strerror or error}")) from None


def is_unreachable(error: BaseException) -> bool:
    """Whether `error` (or one it was raised from) says the Hub cannot be reached: offline mode or no network."""
    from huggingface_hub.errors import LocalEntryNotFoundError

    kinds = (ConnectionError, TimeoutError, OfflineModeIsEnabled, LocalEntryNotFoundError, httpx.TransportError)
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        text = str(error).lower()
        if isinstance(error, kinds) or "offline mode" in text or "couldn't connect" in text:
            return True
        error = error.__cause__ or error.__context__
    return False


def check_repo_id(repo_id: str) -> None:
    """Refuse a Hub repository id that cannot exist, before any upload (or any training) starts."""
    try:
        validate_repo_id(repo_id)
    except HFValidationError:
        raise UserInputError(
            f"--hub_model_id {repo_id!r} is not a valid repository id; use NAME or USER_OR_ORG/NAME "
            "(letters, digits, '-', '_', '.')"
        ) from None


def push_to_hub(
    output_dir: str | Path,
    repo_id: str,
    private: bool = False,
    token: str | None = None,
    card: ModelCard | None = None,
) -> str:
    """
    Create the Hub repository `repo_id` (if needed) and upload the model folder with its card.

    Checkpoint folders and `training_args.bin` stay local. The folder changes only once the upload has succeeded:
    a new `card` (or, where the folder has none, one built from its results) is uploaded from a staging folder of
    links and only then saved in the folder.

    Args:
        output_dir: the folder of a finished `scripts/train.py` run.
        repo_id: `NAME` (under the logged-in account) or `USER_OR_ORG/NAME`.
        private: create the repository as private (an existing repository keeps its visibility).
        token: a Hub token; by default `huggingface_hub` takes `HF_TOKEN` or the saved login.
        card: a model card to upload in place of the folder's README.md.

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
    if card is None and not (folder / CARD_NAME).is_file():
        card = write_model_card(folder, repo_id=repo_id, save=False)

    api = HfApi(token=token)
    with tempfile.TemporaryDirectory(prefix="push-") as staging:
        source = folder if card is None else _stage(folder, Path(staging), str(card))
        try:
            repo_url = api.create_repo(repo_id, private=private, exist_ok=True)
            api.upload_folder(
                repo_id=repo_url.repo_id,
                folder_path=source,
                # A new list each call: upload_folder appends its own default patterns to the one it is given.
                ignore_patterns=list(UPLOAD_IGNORE_PATTERNS),
                commit_message=f"Upload {repo_url.repo_id.rsplit('/', 1)[-1]} text classifier",
            )
        except (OSError, httpx.HTTPError) as error:
            raise UserInputError(
                f"upload to the Hub failed ({_failure_reason(error)}); everything is saved locally in {folder}: "
                f"retry with python scripts/push.py --model {shlex.quote(str(folder))} --hub_model_id {repo_id}"
            ) from error
    if card is not None:
        save_card(card, folder)  # the folder now holds the card the Hub has
    logger.info("uploaded %s to %s", folder, repo_url)
    return str(repo_url)


def _stage(folder: Path, staging: Path, card_text: str) -> Path:
    """
    A copy of `folder` in `staging` made of links to its files (copies where links fail), with `card_text` as its
    README.md: what the upload should send, without touching the folder. Checkpoint folders are left out.
    """
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if relative.parts[0].startswith("checkpoint-") or relative == Path(CARD_NAME):
            continue
        target = staging / relative
        if path.is_dir():
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.symlink(path.resolve(), target)
        except OSError:
            shutil.copy2(path, target)
    (staging / CARD_NAME).write_text(card_text, encoding="utf-8", newline="")
    return staging


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
