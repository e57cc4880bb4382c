"""Input and output shared by every command: reading keys and files, passwords, atomic writes."""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from mlwarden.errors import MlwardenError, UsageError


def say(line: str) -> None:
    """One line for people, on stderr (stdout stays machine-readable)."""
    print(line, file=sys.stderr)


def read_input(path: Path, what: str) -> bytes:
    """A file's bytes; ``env:NAME`` reads the PEM from $NAME instead (keys from CI secrets)."""
    if str(path).startswith("env:"):
        var = str(path)[4:]
        value = os.environ.get(var)
        if not value:
            raise UsageError(f"{what}: ${var} is not set or empty", hint=f"export {var} with the PEM text")
        return value.encode()
    try:
        return path.read_bytes()
    except OSError as exc:
        raise MlwardenError(
            f"cannot read {what} {path}: {exc.strerror or exc}", hint="check the path"
        ) from None


def password_from_env(var: str | None) -> bytes | None:
    """The password held in ``$var`` (``--password-env``), or None when no variable is named."""
    if var is None:
        return None
    value = os.environ.get(var)
    if value is None:
        raise UsageError(
            f"--password-env: ${var} is not set", hint=f"export {var}=... or leave the key unencrypted"
        )
    return value.encode()


def write_atomic(path: Path, content: str | Callable[[TextIO], None], *, what: str = "--output") -> None:
    """Write beside ``path`` and rename, so a failure never leaves half a file.

    The file gets the usual permissions (0666 less the umask), not the temporary file's 0600: reports,
    bundles and provenance are meant to be shared.
    """
    directory = path.parent if str(path.parent) else Path()
    tmp: Path | None = None
    try:
        with tempfile.NamedTemporaryFile(
            "w", encoding="utf-8", dir=directory, delete=False, prefix=f".{path.name}.", suffix=".tmp"
        ) as fh:
            tmp = Path(fh.name)
            if isinstance(content, str):
                fh.write(content)
            else:
                content(fh)  # type: ignore[arg-type]  # a text file object, as TextIO describes
        umask = os.umask(0)
        os.umask(umask)
        tmp.chmod(0o666 & ~umask)
        tmp.replace(path)
    except OSError as exc:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        raise MlwardenError(
            f"cannot write {path}: {exc.strerror or exc}", hint=f"choose a writable {what} path"
        ) from None
