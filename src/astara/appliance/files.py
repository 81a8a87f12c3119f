"""Writing the agent's files so that a crash never leaves one half written."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomically(path: Path, content: str, mode: int = 0o644) -> None:
    """Replace ``path`` with ``content`` in one rename.

    The temporary file is created next to the target with a random name (no
    fixed /tmp path another user could plant a link at), synced, then renamed.
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_or_none(path: Path) -> str | None:
    """The file's text, or None if it (or the process it describes, under /proc) is gone."""
    try:
        return path.read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
