"""Secrets kept in files only their owner can read: made once, then read back.

The metadata proxy's signing key and the control API's token are both
generated at the first start and must survive restarts (appliances keep
forwarding with the key; astara-ctl keeps reading the token), so both go
through :func:`read_or_create`.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

#: Bytes of randomness in a generated secret.
SECRET_BYTES = 32


class SecretFileError(Exception):
    """The file cannot hold a secret safely (others may read it) or is empty."""


def read_or_create(path: Path, nbytes: int = SECRET_BYTES) -> str:
    """The secret in ``path``, generated (hex, mode 0600) if the file does not exist.

    ``O_EXCL`` makes a concurrent second start read the first one's secret
    rather than overwrite it.
    """
    try:
        return read(path)
    except FileNotFoundError:
        pass
    secret = secrets.token_hex(nbytes)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return read(path)
    with os.fdopen(descriptor, "w") as out:
        out.write(secret + "\n")
    return secret


def read(path: Path) -> str:
    """The secret in ``path``; SecretFileError when group or others may read it, or it is empty."""
    mode = path.stat().st_mode
    if mode & 0o077:
        raise SecretFileError(
            f"{path} is readable by others (mode {mode & 0o777:o}); run chmod 600 {path}"
        )
    secret = path.read_text().strip()
    if not secret:
        raise SecretFileError(f"{path} is empty")
    return secret
