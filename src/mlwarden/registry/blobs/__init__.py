"""Content-addressed blob storage for the registry: a directory or S3, optionally encrypted and replicated.

A blob's address is the hex SHA-256 of its plaintext. Uploads become visible only once complete and
verified; downloads are verified as they stream. Start with :func:`open_store`; see ``base`` for the
contract every store keeps.
"""

from __future__ import annotations

from mlwarden.registry.blobs.base import (
    BlobCorrupted,
    BlobDigestMismatch,
    BlobInfo,
    BlobNotFound,
    BlobReader,
    BlobStore,
    BlobStoreError,
    BlobWriter,
)
from mlwarden.registry.blobs.factory import open_store
from mlwarden.registry.blobs.local import LocalBlobStore
from mlwarden.registry.blobs.replicated import CheckReport, Problem, ReplicatedStore, check

__all__ = [
    "BlobCorrupted",
    "BlobDigestMismatch",
    "BlobInfo",
    "BlobNotFound",
    "BlobReader",
    "BlobStore",
    "BlobStoreError",
    "BlobWriter",
    "CheckReport",
    "LocalBlobStore",
    "Problem",
    "ReplicatedStore",
    "check",
    "open_store",
]
