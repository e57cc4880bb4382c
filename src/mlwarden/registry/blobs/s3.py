"""Blobs in S3-compatible object storage (AWS S3, MinIO, Ceph RGW, ...) through boto3.

URL: ``s3://bucket/prefix?endpoint_url=http://127.0.0.1:9000&region=us-east-1``; credentials come
from the standard boto3 chain (environment, profile, instance role). Keys:
``PREFIX/sha256/ab/cd/<digest>``; boto3 is imported only when an S3 store is opened.

How "nothing visible until verified" is kept, without holding a blob in memory:

- digest known in advance (``expected_digest``, and always for ``put_file``, which hashes the local
  file first): a multipart upload straight under the final key. S3 never shows an uncompleted
  multipart upload as an object, and ``CompleteMultipartUpload`` is sent only after the streamed
  bytes hashed to the digest (otherwise the upload is aborted). No server-side copy is needed.
- a blob smaller than one part: hashed in its (bounded) buffer, then one ``PutObject``.
- digest unknown and the blob large (a pipe, a generator): the final key is not known until the
  last byte, so the upload goes to ``PREFIX/tmp/<uuid>`` (outside ``sha256/``: never listed as a
  blob), is server-side copied to its content address once verified, and the temporary object is
  deleted. That costs one copy inside the object store, paid only on this path.

Part buffers are ``part_size`` bytes (8 MiB by default), one at a time. Leftovers of a crash (an
uncompleted multipart upload, a ``tmp/`` object) are invisible; a bucket lifecycle rule
(AbortIncompleteMultipartUpload, expiry on ``tmp/``) removes them.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import uuid
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from mlwarden.registry.blobs.base import (
    CHUNK_SIZE,
    DIGEST_RE,
    BlobDigestMismatch,
    BlobInfo,
    BlobNotFound,
    BlobStore,
    BlobStoreError,
    BlobWriter,
    Chunk,
    RawBlob,
    check_digest,
)

DEFAULT_PART_SIZE = 8 * 1024 * 1024
_MIN_PART_SIZE = 5 * 1024 * 1024  # S3's minimum for every part but the last
_NOT_FOUND = {"404", "NoSuchKey", "NotFound", "NoSuchUpload"}


@contextmanager
def _s3_errors(what: str) -> Iterator[None]:
    """Turn botocore's exceptions into BlobStoreError with the operation named."""
    exceptions = _botocore_exceptions()
    try:
        yield
    except exceptions.ClientError as err:
        error = err.response.get("Error", {})
        raise BlobStoreError(
            f"S3 {what}: {error.get('Code', '?')}: {error.get('Message', err)}",
            hint="check the bucket, the endpoint and the credentials",
        ) from None
    except exceptions.BotoCoreError as err:
        raise BlobStoreError(f"S3 {what}: {err}", hint="check the endpoint URL and the network") from None


def _botocore_exceptions() -> Any:
    """botocore's exception module, imported on first use (boto3 ships no type information)."""
    return importlib.import_module("botocore.exceptions")


def _is_not_found(err: Exception) -> bool:
    response: Any = getattr(err, "response", None)
    return isinstance(response, dict) and str(response.get("Error", {}).get("Code")) in _NOT_FOUND


class S3BlobStore(BlobStore):
    """Content-addressed blobs in one bucket under an optional prefix."""

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        part_size: int = DEFAULT_PART_SIZE,
        client: Any = None,
    ) -> None:
        if part_size < _MIN_PART_SIZE:
            raise BlobStoreError(f"S3 part size {part_size} is below the 5 MiB minimum")
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.part_size = part_size
        self.url = f"s3://{bucket}/{self.prefix}"
        if client is None:
            try:  # optional dependency, imported when an S3 store is used
                boto3: Any = importlib.import_module("boto3")
                config_module: Any = importlib.import_module("botocore.config")
            except ImportError:
                raise BlobStoreError("S3 storage needs boto3", hint="pip install 'mlwarden[s3]'") from None
            config = config_module.Config(
                retries={"max_attempts": 5, "mode": "standard"}, max_pool_connections=16
            )
            client = boto3.client("s3", endpoint_url=endpoint_url, region_name=region, config=config)
        self.client: Any = client

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> S3BlobStore:
        """``s3://bucket/prefix?endpoint_url=...&region=...&part_size=...``."""
        parts = urlsplit(url)
        if parts.scheme != "s3" or not parts.netloc:
            raise BlobStoreError(f"not an S3 URL: {url}", hint="write s3://bucket/prefix")
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        unknown = set(query) - {"endpoint_url", "region", "part_size"}
        if unknown:
            raise BlobStoreError(f"unknown S3 URL parameter(s): {', '.join(sorted(unknown))}")
        part_size = int(query["part_size"]) if "part_size" in query else DEFAULT_PART_SIZE
        return cls(
            parts.netloc,
            parts.path,
            endpoint_url=query.get("endpoint_url"),
            region=query.get("region"),
            part_size=part_size,
            **kwargs,
        )

    def key(self, digest: str) -> str:
        """The object key of ``digest``."""
        check_digest(digest)
        return f"{self.prefix}sha256/{digest[:2]}/{digest[2:4]}/{digest}"

    # -- storage layer ----------------------------------------------------------------------------

    def writer(self, *, expected_digest: str | None = None, size_hint: int | None = None) -> BlobWriter:
        return _S3Writer(self, expected_digest)

    def read_raw(self, digest: str) -> RawBlob:
        client_error = _botocore_exceptions().ClientError
        key = self.key(digest)
        with _s3_errors(f"GET {key}"):
            try:
                response = self.client.get_object(Bucket=self.bucket, Key=key)
            except client_error as err:
                if _is_not_found(err):
                    raise BlobNotFound(digest, self.url) from None
                raise
        body = response["Body"]
        return RawBlob(int(response["ContentLength"]), _body_chunks(body, key))

    def exists(self, digest: str) -> bool:
        try:
            self.stored_size(digest)
        except BlobNotFound:
            return False
        return True

    def delete(self, digest: str) -> bool:
        existed = self.exists(digest)
        with _s3_errors(f"DELETE {self.key(digest)}"):
            self.client.delete_object(Bucket=self.bucket, Key=self.key(digest))
        return existed

    def iter_digests(self) -> Iterator[str]:
        with _s3_errors(f"LIST {self.url}"):
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=f"{self.prefix}sha256/"
            )
            for page in pages:
                for obj in page.get("Contents", []):
                    name = obj["Key"].rsplit("/", 1)[-1]
                    if DIGEST_RE.fullmatch(name) and obj["Key"] == self.key(name):
                        yield name

    def stored_size(self, digest: str) -> int:
        return int(self._head(digest)["ContentLength"])

    def modified(self, digest: str) -> float:
        return float(self._head(digest)["LastModified"].timestamp())

    def _head(self, digest: str) -> dict[str, Any]:
        client_error = _botocore_exceptions().ClientError
        key = self.key(digest)
        with _s3_errors(f"HEAD {key}"):
            try:
                head: dict[str, Any] = self.client.head_object(Bucket=self.bucket, Key=key)
            except client_error as err:
                if _is_not_found(err):
                    raise BlobNotFound(digest, self.url) from None
                raise
        return head

    def put_file(self, path: str | os.PathLike[str], *, expected_digest: str | None = None) -> BlobInfo:
        """Hash the local file first, so the upload can go straight to its final key (no server copy).

        The bytes uploaded are hashed again as they stream; if the file changed in between, the
        multipart upload is aborted and nothing appears.
        """
        try:
            with Path(path).open("rb", buffering=0) as fh:
                digest = _hash_file(fh.fileno())
                if expected_digest is not None and digest != check_digest(expected_digest):
                    raise BlobDigestMismatch(expected_digest, digest)
                fh.seek(0)
                return self.put(fh, expected_digest=digest, size_hint=os.fstat(fh.fileno()).st_size)
        except OSError as err:
            raise BlobStoreError(f"cannot read {path}: {err.strerror or err}") from None

    def temp_objects(self) -> list[str]:
        """Keys under ``tmp/`` and keys of uncompleted multipart uploads under this prefix."""
        with _s3_errors(f"LIST {self.url}tmp/"):
            listed = self.client.list_objects_v2(Bucket=self.bucket, Prefix=f"{self.prefix}tmp/")
            keys = [o["Key"] for o in listed.get("Contents", [])]
            uploads = self.client.list_multipart_uploads(Bucket=self.bucket, Prefix=self.prefix)
            keys += [f"upload:{u['Key']}" for u in uploads.get("Uploads", [])]
        return keys


def _body_chunks(body: Any, key: str) -> Generator[bytes, None, None]:
    try:
        with _s3_errors(f"GET {key}"):
            yield from body.iter_chunks(CHUNK_SIZE)
    finally:
        body.close()


def _hash_file(fd: int) -> str:
    hasher = hashlib.sha256()
    view = memoryview(bytearray(CHUNK_SIZE))
    pos = 0
    while n := os.preadv(fd, [view], pos):
        hasher.update(view[:n])
        pos += n
    return hasher.hexdigest()


class _S3Writer(BlobWriter):
    """Bounded part buffer; see the module docstring for the three ways a blob is published."""

    def __init__(self, store: S3BlobStore, expected_digest: str | None) -> None:
        self._store = store
        self._client = store.client
        self._expected = expected_digest
        self._key = store.key(expected_digest) if expected_digest else f"{store.prefix}tmp/{uuid.uuid4().hex}"
        self._buf = bytearray()
        self._upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []
        self._temp_completed = False

    def write(self, data: Chunk) -> None:
        self._buf += data
        size = self._store.part_size
        while len(self._buf) >= size + 1:  # hold the last part back: it may be the only one
            self._upload_part(bytes(self._buf[:size]))
            del self._buf[:size]

    def _upload_part(self, body: bytes) -> None:
        store = self._store
        with _s3_errors(f"multipart upload to {self._key}"):
            if self._upload_id is None:
                extra = {"Metadata": {"sha256": self._expected}} if self._expected else {}
                created = self._client.create_multipart_upload(Bucket=store.bucket, Key=self._key, **extra)
                self._upload_id = created["UploadId"]
            number = len(self._parts) + 1
            response = self._client.upload_part(
                Bucket=store.bucket, Key=self._key, UploadId=self._upload_id, PartNumber=number, Body=body
            )
            self._parts.append({"PartNumber": number, "ETag": response["ETag"]})

    def commit(self, digest: str) -> None:
        store = self._store
        final = store.key(digest)
        if self._upload_id is None:  # one part: verified in memory, published by one PUT
            with _s3_errors(f"PUT {final}"):
                self._client.put_object(
                    Bucket=store.bucket, Key=final, Body=bytes(self._buf), Metadata={"sha256": digest}
                )
            self._buf = bytearray()
            return
        if self._buf:
            self._upload_part(bytes(self._buf))
            self._buf = bytearray()
        with _s3_errors(f"complete multipart upload of {self._key}"):
            self._client.complete_multipart_upload(
                Bucket=store.bucket,
                Key=self._key,
                UploadId=self._upload_id,
                MultipartUpload={"Parts": self._parts},
            )
        self._upload_id = None
        if self._key == final:
            return
        self._temp_completed = True
        with _s3_errors(f"copy {self._key} to {final}"):
            self._client.copy(
                {"Bucket": store.bucket, "Key": self._key},
                store.bucket,
                final,
                ExtraArgs={"Metadata": {"sha256": digest}, "MetadataDirective": "REPLACE"},
            )
            self._client.delete_object(Bucket=store.bucket, Key=self._key)
        self._temp_completed = False

    def abort(self) -> None:
        self._buf = bytearray()
        store = self._store
        try:
            if self._upload_id is not None:
                self._client.abort_multipart_upload(
                    Bucket=store.bucket, Key=self._key, UploadId=self._upload_id
                )
                self._upload_id = None
            if self._temp_completed:
                self._client.delete_object(Bucket=store.bucket, Key=self._key)
                self._temp_completed = False
        except Exception:  # noqa: BLE001, S110 - best effort; a lifecycle rule removes what is left
            pass
