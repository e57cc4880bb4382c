"""Errors raised while hashing a model."""

from __future__ import annotations

from mlwarden.errors import MlwardenError


class HashingError(MlwardenError):
    """A model could not be hashed: a symlink, special file or unreadable file, named in the message."""
