"""``open_store``: a blob store from a URL, with encryption and replicas stacked on request."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import unquote, urlsplit

from mlwarden.registry.blobs.base import BlobStore, BlobStoreError
from mlwarden.registry.blobs.local import LocalBlobStore


def open_store(
    url: str | os.PathLike[str],
    *,
    kek: str | bytes | None = None,
    replicas: Sequence[str | os.PathLike[str]] = (),
    durable: bool = True,
) -> BlobStore:
    """The store at ``url``: ``file:///path``, a plain path, or ``s3://bucket/prefix?endpoint_url=...``.

    ``kek`` (``file:PATH``, ``env:VAR`` or 32 raw bytes) encrypts the primary and every replica with
    the same key-encryption key; ``replicas`` are URLs of further stores that receive every write.
    """
    store = _open_one(url, kek=kek, durable=durable)
    if not replicas:
        return store
    from mlwarden.registry.blobs.replicated import ReplicatedStore  # noqa: PLC0415 - only when replicating

    return ReplicatedStore(store, [_open_one(r, kek=kek, durable=durable) for r in replicas])


def _open_one(url: str | os.PathLike[str], *, kek: str | bytes | None, durable: bool) -> BlobStore:
    text = os.fspath(url)
    parts = urlsplit(text)
    store: BlobStore
    if parts.scheme == "s3":
        from mlwarden.registry.blobs.s3 import S3BlobStore  # noqa: PLC0415 - imports boto3 lazily

        store = S3BlobStore.from_url(text)
    elif parts.scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise BlobStoreError(f"file URL with a host: {text}", hint="write file:///absolute/path")
        store = LocalBlobStore(Path(unquote(parts.path)), durable=durable)
    elif parts.scheme == "" or (len(parts.scheme) == 1 and os.name == "nt"):
        store = LocalBlobStore(Path(text), durable=durable)
    else:
        raise BlobStoreError(
            f"unsupported blob store URL: {text}",
            hint="use a directory path, file:///path or s3://bucket/prefix",
        )
    if kek is not None:
        from mlwarden.registry.blobs.crypto import EncryptedStore  # noqa: PLC0415 - cryptography on demand

        store = EncryptedStore(store, kek)
    return store
