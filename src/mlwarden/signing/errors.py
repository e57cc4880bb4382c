"""Signing and verification errors.

::

    MlwardenError
    ├── SigningError          a bundle could not be produced (bad key, unhashable model)    exit code 2
    └── VerificationError     the model does not verify against the bundle and key          exit code 1
"""

from __future__ import annotations

from mlwarden.errors import MlwardenError


class SigningError(MlwardenError):
    """A model could not be signed (unusable key, model that cannot be hashed)."""


class VerificationError(MlwardenError):
    """The model, the bundle or the key do not verify; the message names what failed."""

    exit_code = 1
