"""The blob store contract: content-addressed, write-once, verified on every read.

A blob is addressed by the hex SHA-256 of its *plaintext*, whatever the store does to it at rest
(encryption), so a digest names the same bytes in every store and every replica. Two layers:

- the user layer (``put``, ``put_file``, ``open``, ``get_file``, ``exists``, ``size``, ``delete``,
  ``iter_digests``) hashes and verifies; it is implemented once, here;
- the storage layer (``writer``, ``read_raw``) moves bytes without judging them; each backend
  implements it, and wrappers (encryption) stack on it. A :class:`BlobWriter` writes to something
  invisible (a temporary file, an uncompleted multipart upload) and publishes it under its content
  address in ``commit``, which ``put`` calls only after the digest matched: an interrupted or
  mismatching upload leaves nothing visible.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from mlwarden.errors import MlwardenError

Chunk = bytes | bytearray | memoryview
CHUNK_SIZE = 4 * 1024 * 1024  # large enough that per-chunk Python overhead is noise next to hashing
DIGEST_RE = re.compile(r"[0-9a-f]{64}")


class BlobStoreError(MlwardenError):
    """A blob store could not do what was asked (unreachable, unwritable, misconfigured)."""


class BlobNotFound(BlobStoreError):  # noqa: N818 - the names the registry API documents
    """No blob with this digest in the store."""

    def __init__(self, digest: str, where: str) -> None:
        super().__init__(f"blob sha256:{digest} not found in {where}", hint="push it again or check the URL")
        self.digest = digest


class BlobCorrupted(BlobStoreError):  # noqa: N818 - the names the registry API documents
    """A stored blob does not hash to its address (bit rot, tampering, truncation, wrong key)."""

    def __init__(self, digest: str, where: str, detail: str = "") -> None:
        what = f": {detail}" if detail else ""
        super().__init__(
            f"blob sha256:{digest} in {where} is corrupted{what}",
            hint="restore it from a replica (mlwarden registry check lists good copies)",
        )
        self.digest = digest


class BlobDigestMismatch(BlobStoreError):  # noqa: N818 - the names the registry API documents
    """An upload did not hash to the digest the caller promised; nothing was stored."""

    def __init__(self, expected: str, actual: str) -> None:
        super().__init__(
            f"upload refused: content hashes to sha256:{actual}, not the expected sha256:{expected}",
            hint="the source changed or was damaged in transit; push it again",
        )
        self.expected = expected
        self.actual = actual


@dataclass(frozen=True, slots=True)
class BlobInfo:
    """A stored blob: hex SHA-256 of the plaintext and its plaintext size in bytes."""

    digest: str
    size: int


def check_digest(digest: str) -> str:
    """Refuse anything but 64 lowercase hex digits: digests become file names and object keys."""
    if not isinstance(digest, str) or not DIGEST_RE.fullmatch(digest):
        raise BlobStoreError(
            f"not a sha256 digest: {digest!r}", hint="give 64 lowercase hex digits (no 'sha256:' prefix)"
        )
    return digest


class BlobWriter(ABC):
    """An upload in progress, invisible until :meth:`commit`."""

    @abstractmethod
    def write(self, data: Chunk) -> None:
        """Append ``data`` (an encrypting wrapper passes ciphertext to the store below it)."""

    @abstractmethod
    def commit(self, digest: str) -> None:
        """Publish what was written under ``digest``, atomically; called only once it was verified."""

    @abstractmethod
    def abort(self) -> None:
        """Discard everything written; never raises for a writer already gone."""


@dataclass(slots=True)
class RawBlob:
    """A blob's bytes from the storage layer: their length and a generator of them, unverified.

    Closing ``chunks`` (``BlobReader.close`` does) releases the file or connection.
    """

    size: int
    chunks: Generator[bytes, None, None]


class BlobReader:
    """The chunks of one blob, hashed as they stream.

    The last chunk is handed out only after the whole blob hashed to its digest (and had its
    size), so a consumer never receives all of a corrupted blob: iteration raises
    :class:`BlobCorrupted` instead. ``served_by`` names the store that delivered it (a replica,
    after a fallback).
    """

    def __init__(
        self,
        digest: str,
        chunks: Iterator[bytes],
        *,
        size: int,
        where: str,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        self.digest = digest
        self.size = size
        self.served_by = where
        self.verified = False
        self._chunks = chunks
        self._on_close = on_close

    def __iter__(self) -> Iterator[bytes]:
        hasher = hashlib.sha256()
        count = 0
        held: bytes | None = None
        for chunk in self._chunks:
            if held is not None:
                yield held
            hasher.update(chunk)
            count += len(chunk)
            if count > self.size:
                break
            held = chunk
        if count != self.size:
            self.close()
            raise BlobCorrupted(self.digest, self.served_by, f"{count} bytes where {self.size} were stored")
        if hasher.hexdigest() != self.digest:
            self.close()
            raise BlobCorrupted(self.digest, self.served_by, f"content hashes to sha256:{hasher.hexdigest()}")
        self.verified = True
        if held is not None:
            yield held

    def copy_to(self, out: BinaryIO) -> int:
        """Write the verified blob to ``out``; returns the byte count."""
        n = 0
        for chunk in self:
            out.write(chunk)
            n += len(chunk)
        return n

    def close(self) -> None:
        """Release the underlying file or connection (idempotent)."""
        close = getattr(self._chunks, "close", None)
        if close is not None:
            close()
        if self._on_close is not None:
            self._on_close()
            self._on_close = None

    def __enter__(self) -> BlobReader:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def iter_input(stream: BinaryIO | Iterable[Chunk], chunk_size: int = CHUNK_SIZE) -> Iterator[Chunk]:
    """Chunks of a binary file object (read in ``chunk_size`` pieces) or of an iterable of bytes."""
    read = getattr(stream, "read", None)
    if read is None:
        yield from stream
        return
    while chunk := read(chunk_size):
        yield chunk


class BlobStore(ABC):
    """A content-addressed store of immutable blobs (see the module docstring for the two layers)."""

    url: str

    # -- storage layer: what a backend implements -------------------------------------------------

    @abstractmethod
    def writer(self, *, expected_digest: str | None = None, size_hint: int | None = None) -> BlobWriter:
        """Start an invisible upload (``expected_digest`` lets a backend write under the final name)."""

    @abstractmethod
    def read_raw(self, digest: str) -> RawBlob:
        """The bytes of ``digest`` as this store presents them (decrypted by a wrapper), unverified.

        Raises :class:`BlobNotFound`.
        """

    @abstractmethod
    def exists(self, digest: str) -> bool:
        """Whether a blob is stored under ``digest`` (not whether it is intact)."""

    @abstractmethod
    def delete(self, digest: str) -> bool:
        """Remove the blob; True if it was there."""

    @abstractmethod
    def iter_digests(self) -> Iterator[str]:
        """Every stored digest, in no particular order."""

    @abstractmethod
    def stored_size(self, digest: str) -> int:
        """Length of what ``read_raw`` yields; raises :class:`BlobNotFound`."""

    # -- user layer: hashing and verification, written once --------------------------------------

    def modified(self, digest: str) -> float:
        """When the blob was last written or re-used (epoch seconds): garbage collection spares blobs
        younger than its grace period, which covers pushes between storing a blob and committing the
        version that references it. Raises :class:`BlobNotFound`."""
        raise BlobStoreError(
            f"{type(self).__name__} cannot tell a blob's age", hint="use a local or S3 store"
        )

    def size(self, digest: str) -> int:
        """Plaintext size of the blob."""
        return self.stored_size(check_digest(digest))

    def put(
        self,
        stream: BinaryIO | Iterable[Chunk],
        *,
        expected_digest: str | None = None,
        size_hint: int | None = None,
    ) -> BlobInfo:
        """Store the bytes of ``stream``; nothing becomes visible unless all of it arrived and matched.

        Raises :class:`BlobDigestMismatch` when ``expected_digest`` is given and the content differs.
        """
        if expected_digest is not None:
            check_digest(expected_digest)
        writer = self.writer(expected_digest=expected_digest, size_hint=size_hint)
        try:
            hasher = hashlib.sha256()
            size = 0
            for chunk in iter_input(stream):
                hasher.update(chunk)
                writer.write(chunk)
                size += len(chunk)
            digest = hasher.hexdigest()
            if expected_digest is not None and digest != expected_digest:
                raise BlobDigestMismatch(expected_digest, digest)
            writer.commit(digest)
        except BaseException:
            writer.abort()
            raise
        return BlobInfo(digest, size)

    def put_file(self, path: str | os.PathLike[str], *, expected_digest: str | None = None) -> BlobInfo:
        """Store a local file (backends override this with faster paths)."""
        try:
            with Path(path).open("rb") as fh:
                size = os.fstat(fh.fileno()).st_size
                return self.put(fh, expected_digest=expected_digest, size_hint=size)
        except OSError as err:
            raise BlobStoreError(f"cannot read {path}: {err.strerror or err}") from None

    def adopt(self, path: str | os.PathLike[str], digest: str) -> BlobInfo:
        """Store a file the caller wrote and hashed itself (the registry's staging), moving it if it can.

        Stores that can take the file over (a local store on the same file system) rename it instead of
        copying it, trusting ``digest``; the others copy it and check ``digest``. Either way the file
        at ``path`` belongs to the store afterwards.
        """
        return self.put_file(path, expected_digest=check_digest(digest))

    def open(self, digest: str) -> BlobReader:
        """A reader of the blob that verifies its digest as it streams; raises :class:`BlobNotFound`."""
        raw = self.read_raw(check_digest(digest))
        return BlobReader(digest, raw.chunks, size=raw.size, where=self.url)

    def get_file(self, digest: str, dest: str | os.PathLike[str], *, durable: bool = False) -> BlobInfo:
        """Download to ``dest``: written beside it and renamed only once verified, so a corrupted or
        interrupted download never appears at ``dest``. ``durable`` also fsyncs file and directory."""
        with self.open(digest) as reader:
            return write_verified(reader, Path(dest), durable=durable)


def write_verified(reader: BlobReader, dest: Path, *, durable: bool) -> BlobInfo:
    """Stream ``reader`` to a temporary file beside ``dest``, then rename it there."""
    directory = dest.parent
    try:
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{dest.name}.", suffix=".part")
    except OSError as err:
        raise BlobStoreError(f"cannot write {dest}: {err.strerror or err}") from None
    try:
        with os.fdopen(fd, "wb", buffering=0) as out:
            size = 0
            for chunk in reader:
                write_all(out.fileno(), chunk)
                size += len(chunk)
            if durable:
                os.fsync(out.fileno())
        umask = os.umask(0)
        os.umask(umask)
        Path(tmp).chmod(0o666 & ~umask)
        Path(tmp).replace(dest)
        if durable:
            fsync_dir(directory)
    except BaseException as err:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(err, OSError):
            raise BlobStoreError(f"cannot write {dest}: {err.strerror or err}") from None
        raise
    return BlobInfo(reader.digest, size)


def write_all(fd: int, data: Chunk) -> None:
    """``os.write`` until every byte is written (it may write less)."""
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def fsync_dir(path: str | os.PathLike[str]) -> None:
    """Make a rename or create in ``path`` durable (POSIX: the directory entry needs its own fsync)."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
