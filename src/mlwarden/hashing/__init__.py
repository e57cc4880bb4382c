"""Parallel content hashing of model directories into OMS v1.0 manifests.

    >>> from mlwarden.hashing import HashingConfig, hash_model
    >>> manifest = hash_model("my-model/", HashingConfig().use_blake3())   # doctest: +SKIP
    >>> manifest.root_digest                                              # doctest: +SKIP
    '3f0a…'

Resources are sorted by Unicode code point of their names, as OMS v1.0 requires; the root digest is
SHA-256 over the raw item digests in that order. Symlinks are refused unless allowed, and even then
must resolve to a regular file inside the model directory.
"""

from mlwarden.hashing.config import DEFAULT_IGNORE_PATHS, DEFAULT_SHARD_SIZE, HashingConfig
from mlwarden.hashing.engine import hash_model
from mlwarden.hashing.errors import HashingError
from mlwarden.hashing.manifest import FileStat, Manifest, ResourceDigest, root_digest_of

__all__ = [
    "DEFAULT_IGNORE_PATHS",
    "DEFAULT_SHARD_SIZE",
    "FileStat",
    "HashingConfig",
    "HashingError",
    "Manifest",
    "ResourceDigest",
    "hash_model",
    "root_digest_of",
]
