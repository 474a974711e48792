"""Atomic file writes: a final artefact is written under a temporary name in its own folder, then moved over the old
file with `os.replace`, so that a run killed at any moment leaves either the old file or the new one, never a part.
Files end with the permissions a plain `open(..., "w")` gives (0644 under the usual umask), not the 0600 of
`tempfile`.
"""

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

# Temporary names start with this, so that a folder's leftovers from a killed run can be found and removed.
TEMP_PREFIX = ".tmp-"


def _default_mode() -> int:
    """The mode a newly created file gets under the current umask (e.g. 0o644 under umask 022)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """
    Yield a temporary path beside `path` (same suffix, so writers that choose a format by suffix still work); when
    the block ends without error, the file written there replaces `path`. On error it is removed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=f"{TEMP_PREFIX}{path.stem}-", suffix=path.suffix, dir=path.parent)
    os.close(handle)
    temporary = Path(name)
    try:
        yield temporary
        os.chmod(temporary, _default_mode())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | Path, text: str, encoding: str = "utf-8") -> None:
    """Write `text` to `path` atomically (newlines written as given)."""
    with atomic_path(path) as temporary, temporary.open("w", encoding=encoding, newline="") as handle:
        handle.write(text)


def replace_folder_contents(source: str | Path, target: str | Path) -> list[str]:
    """
    Move every file of `source` (a temporary folder inside `target`, so on the same file system) over the file of
    the same name in `target`, each with one `os.replace`, with the default file mode; then remove `source`.
    Returns the names moved.
    """
    source, target = Path(source), Path(target)
    moved = []
    for path in sorted(source.iterdir()):
        if path.is_file():
            os.chmod(path, _default_mode())
        os.replace(path, target / path.name)
        moved.append(path.name)
    source.rmdir()
    return moved
