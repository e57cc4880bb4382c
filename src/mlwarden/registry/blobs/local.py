"""Blobs in a local directory: ``ROOT/sha256/ab/cd/<digest>``, uploads staged in ``ROOT/tmp``.

Staging inside the root keeps the temporary file on the same filesystem, so publishing is one
``rename``: a blob is either absent or complete. Durability follows the POSIX rules: the file is
fsynced before the rename, and the directory after it, or a crash could leave an empty or missing
blob behind a name that was reported as stored.

Speed (the push and pull target is 0.8x a plain file copy): files are copied by the kernel
(``copy_file_range``, else ``sendfile``, the path ``shutil.copyfile`` takes) while a second thread
hashes the same source (``preadv`` into a reused buffer); both release the GIL, so on two cores
a put costs about max(copy, hash) instead of their sum. Write-back is started while copying
(``fdatasync`` in a third thread every few hundred MiB) so the final fsync finds little left to flush.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
import tempfile
import threading
import time
from collections.abc import Callable, Generator, Iterator
from pathlib import Path

from mlwarden.registry.blobs.base import (
    CHUNK_SIZE,
    DIGEST_RE,
    BlobCorrupted,
    BlobDigestMismatch,
    BlobInfo,
    BlobNotFound,
    BlobStore,
    BlobStoreError,
    BlobWriter,
    Chunk,
    RawBlob,
    check_digest,
    fsync_dir,
    write_all,
)

_O_READ = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0)
_COPY_STEP = 64 * 1024 * 1024  # bytes per copy_file_range call: few syscalls, still interruptible
_SYNC_STEP = 256 * 1024 * 1024  # start write-back after this many new bytes
_HASH_STEP = 8 * 1024 * 1024
_NO_KERNEL_COPY = {errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.EPERM, errno.EBADF}


class LocalBlobStore(BlobStore):
    """Content-addressed blobs under a directory (the default store).

    ``durable=False`` skips the fsyncs (tests and throwaway caches only).
    """

    def __init__(self, root: str | os.PathLike[str], *, durable: bool = True) -> None:
        self.root = Path(root).absolute()
        self.url = self.root.as_uri()
        self.durable = durable
        self._blobs = self.root / "sha256"
        self._tmp = self.root / "tmp"
        try:
            self._blobs.mkdir(parents=True, exist_ok=True)
            self._tmp.mkdir(exist_ok=True)
        except OSError as err:
            raise BlobStoreError(
                f"cannot create blob store at {self.root}: {err.strerror or err}",
                hint="choose a writable directory",
            ) from None

    def path_of(self, digest: str) -> Path:
        """Where the blob ``digest`` lives (whether or not it exists)."""
        check_digest(digest)
        return self._blobs / digest[:2] / digest[2:4] / digest

    # -- storage layer ----------------------------------------------------------------------------

    def writer(self, *, expected_digest: str | None = None, size_hint: int | None = None) -> BlobWriter:
        return _LocalWriter(self)

    def read_raw(self, digest: str) -> RawBlob:
        path = self.path_of(digest)
        try:
            fd = os.open(path, _O_READ)
        except FileNotFoundError:
            raise BlobNotFound(digest, self.url) from None
        except OSError as err:
            raise BlobStoreError(f"cannot read {path}: {err.strerror or err}") from None
        try:
            size = os.fstat(fd).st_size
            if hasattr(os, "posix_fadvise"):
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_SEQUENTIAL)
        except OSError:
            os.close(fd)
            raise
        return RawBlob(size, _read_chunks(fd))

    def exists(self, digest: str) -> bool:
        return self.path_of(digest).is_file()

    def delete(self, digest: str) -> bool:
        path = self.path_of(digest)
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        if self.durable:
            fsync_dir(path.parent)
        return True

    def iter_digests(self) -> Iterator[str]:
        for top in _subdirs(self._blobs):
            prefix = Path(top).name
            for mid in _subdirs(top):
                with os.scandir(mid) as entries:
                    for entry in entries:
                        name = entry.name
                        if DIGEST_RE.fullmatch(name) and name[:4] == prefix + Path(mid).name:
                            yield name

    def stored_size(self, digest: str) -> int:
        try:
            return self.path_of(digest).stat().st_size
        except FileNotFoundError:
            raise BlobNotFound(digest, self.url) from None

    def modified(self, digest: str) -> float:
        try:
            return self.path_of(digest).stat().st_mtime
        except FileNotFoundError:
            raise BlobNotFound(digest, self.url) from None

    # -- fast paths -------------------------------------------------------------------------------

    def put_file(self, path: str | os.PathLike[str], *, expected_digest: str | None = None) -> BlobInfo:
        """Kernel copy into staging while another thread hashes the source; publish if it matched.

        The source's size, mtime and ctime are compared before and after, so a file changed during
        the copy is refused rather than stored under a digest of other bytes.
        """
        if expected_digest is not None:
            check_digest(expected_digest)
        try:
            src = os.open(path, _O_READ)
        except OSError as err:
            raise BlobStoreError(f"cannot read {path}: {err.strerror or err}") from None
        tmp: str | None = None
        try:
            before = os.fstat(src)
            if not stat.S_ISREG(before.st_mode):
                return super().put_file(path, expected_digest=expected_digest)
            dst, tmp = self._mkstemp()
            try:
                size = before.st_size
                digest = _copy_and_hash(src, dst, size, sync=self.durable)
                if self.durable:
                    os.fsync(dst)
            finally:
                os.close(dst)
            after = os.fstat(src)
            if (after.st_size, after.st_mtime_ns, after.st_ctime_ns) != (
                before.st_size,
                before.st_mtime_ns,
                before.st_ctime_ns,
            ):
                raise BlobStoreError(f"{path} changed while it was being stored", hint="push it again")
            if expected_digest is not None and digest != expected_digest:
                raise BlobDigestMismatch(expected_digest, digest)
            self._publish(tmp, digest)
            tmp = None
            return BlobInfo(digest, size)
        except OSError as err:
            raise BlobStoreError(f"cannot store {path}: {err.strerror or err}") from None
        finally:
            os.close(src)
            if tmp is not None:
                Path(tmp).unlink(missing_ok=True)

    def adopt(self, path: str | os.PathLike[str], digest: str) -> BlobInfo:
        """Rename the file into place (after an fsync): no copy, no second hash. Another file system:
        copied and verified like :meth:`put_file`. A blob already present is kept (same content)."""
        check_digest(digest)
        source = Path(path)
        try:
            st = source.stat()
            final = self.path_of(digest)
            if final.is_file() and final.stat().st_size == st.st_size:
                try:
                    os.utime(final)  # re-used now: garbage collection's grace period starts again
                except FileNotFoundError:
                    pass  # collected meanwhile: publish this copy instead
                else:
                    source.unlink()
                    return BlobInfo(digest, st.st_size)
            if st.st_dev != self._tmp.stat().st_dev:
                return super().adopt(path, digest)
            if self.durable:
                fd = os.open(source, _O_READ)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
            self._publish(str(source), digest)
            return BlobInfo(digest, st.st_size)
        except OSError as err:
            raise BlobStoreError(f"cannot store {path}: {err.strerror or err}") from None

    def get_file(self, digest: str, dest: str | os.PathLike[str], *, durable: bool = False) -> BlobInfo:
        """Kernel copy to a temporary file beside ``dest`` while the blob is hashed; rename once verified.

        The blob is hashed from the store (not from the copy): stored blobs are read-only, and the
        kernel copies exactly the bytes of the same open file.
        """
        path = self.path_of(digest)
        dest = Path(dest)
        try:
            src = os.open(path, _O_READ)
        except FileNotFoundError:
            raise BlobNotFound(digest, self.url) from None
        except OSError as err:
            raise BlobStoreError(f"cannot read {path}: {err.strerror or err}") from None
        tmp: str | None = None
        try:
            size = os.fstat(src).st_size
            dst, tmp = _mkstemp_beside(dest)
            try:
                actual = _copy_and_hash(src, dst, size, sync=durable)
                if durable:
                    os.fsync(dst)
            finally:
                os.close(dst)
            if actual != digest:
                raise BlobCorrupted(digest, self.url, f"content hashes to sha256:{actual}")
            umask = os.umask(0)
            os.umask(umask)
            Path(tmp).chmod(0o666 & ~umask)
            Path(tmp).replace(dest)
            tmp = None
            if durable:
                fsync_dir(dest.parent)
            return BlobInfo(digest, size)
        except OSError as err:
            raise BlobStoreError(f"cannot write {dest}: {err.strerror or err}") from None
        finally:
            os.close(src)
            if tmp is not None:
                Path(tmp).unlink(missing_ok=True)

    def clean_temp(self, older_than: float = 3600.0) -> int:
        """Remove staging files left by crashed uploads (older than ``older_than`` seconds); count them.

        The age guard keeps uploads still in progress in other processes alive.
        """
        cutoff = time.time() - older_than
        removed = 0
        with os.scandir(self._tmp) as entries:
            for entry in entries:
                try:
                    if entry.stat(follow_symlinks=False).st_mtime <= cutoff:
                        Path(entry.path).unlink()
                        removed += 1
                except FileNotFoundError:
                    continue
        return removed

    def temp_files(self) -> list[str]:
        """Names of the staging files present now (uploads in progress or left by crashes)."""
        return sorted(p.name for p in self._tmp.iterdir())

    # -- internals --------------------------------------------------------------------------------

    def _mkstemp(self) -> tuple[int, str]:
        try:
            return tempfile.mkstemp(dir=self._tmp, prefix="upload-", suffix=".part")
        except OSError as err:
            raise BlobStoreError(f"cannot write to {self._tmp}: {err.strerror or err}") from None

    def _publish(self, tmp: str, digest: str) -> None:
        """Move a verified staging file to its content address (replacing a damaged copy, if any)."""
        final = self.path_of(digest)
        Path(tmp).chmod(0o444)
        created = _makedirs(final.parent, stop=self._blobs)
        Path(tmp).replace(final)
        if self.durable:
            for directory in [final.parent, *created]:
                fsync_dir(directory)


class _LocalWriter(BlobWriter):
    def __init__(self, store: LocalBlobStore) -> None:
        self._store = store
        self._fd, self._tmp = store._mkstemp()
        self._open = True

    def write(self, data: Chunk) -> None:
        try:
            write_all(self._fd, data)
        except OSError as err:
            raise BlobStoreError(f"cannot write to {self._store.root}: {err.strerror or err}") from None

    def commit(self, digest: str) -> None:
        try:
            if self._store.durable:
                os.fsync(self._fd)
            self._close()
            self._store._publish(self._tmp, digest)
        except OSError as err:
            raise BlobStoreError(
                f"cannot publish blob in {self._store.root}: {err.strerror or err}"
            ) from None

    def abort(self) -> None:
        self._close()
        Path(self._tmp).unlink(missing_ok=True)

    def _close(self) -> None:
        if self._open:
            self._open = False
            os.close(self._fd)


def _read_chunks(fd: int) -> Generator[bytes, None, None]:
    try:
        while chunk := os.read(fd, CHUNK_SIZE):
            yield chunk
    finally:
        os.close(fd)


def _subdirs(path: Path | str) -> list[str]:
    try:
        with os.scandir(path) as entries:
            return [e.path for e in entries if len(e.name) == 2 and e.is_dir(follow_symlinks=False)]
    except FileNotFoundError:
        return []


def _makedirs(path: Path, *, stop: Path) -> list[Path]:
    """``mkdir -p`` below ``stop``; returns the parents of directories it created (to fsync)."""
    created: list[Path] = []
    missing: list[Path] = []
    current = path
    while current != stop and not current.is_dir():
        missing.append(current)
        current = current.parent
    for directory in reversed(missing):
        try:
            directory.mkdir()
        except FileExistsError:
            continue
        created.append(directory.parent)
    return created


def _mkstemp_beside(dest: Path) -> tuple[int, str]:
    try:
        return tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    except OSError as err:
        raise BlobStoreError(f"cannot write {dest}: {err.strerror or err}") from None


def _copy_and_hash(src: int, dst: int, size: int, *, sync: bool) -> str:
    """Copy ``size`` bytes src -> dst in the kernel while this thread hashes src; the hex SHA-256."""
    errors: list[BaseException] = []
    copied = [0]
    progress = threading.Condition()

    def copy() -> None:
        try:
            _kernel_copy(src, dst, size, copied, progress)
        except BaseException as err:  # noqa: BLE001 - re-raised by the hashing thread below
            errors.append(err)
        finally:
            with progress:
                copied[0] = -1 if errors else size
                progress.notify_all()

    def write_back() -> None:
        synced = [0]
        while True:
            with progress:
                progress.wait_for(
                    lambda: copied[0] < 0 or copied[0] >= size or copied[0] - synced[0] >= _SYNC_STEP
                )
                done = copied[0] < 0 or copied[0] >= size
                target = copied[0]
            if done:
                return
            os.fdatasync(dst)
            synced[0] = target

    copier = threading.Thread(target=copy, name="mlw-blob-copy", daemon=True)
    syncer = threading.Thread(target=write_back, name="mlw-blob-sync", daemon=True) if sync else None
    copier.start()
    if syncer is not None:
        syncer.start()
    try:
        digest = _hash_fd(src, size)
    finally:
        copier.join()
        if syncer is not None:
            syncer.join()
    if errors:
        raise errors[0]
    return digest


def _kernel_copy(src: int, dst: int, size: int, copied: list[int], progress: threading.Condition) -> None:
    """copy_file_range, else sendfile, else pread/pwrite; a method is dropped only if it fails at once."""

    def copy_range(offset: int, count: int) -> int:
        return os.copy_file_range(src, dst, count, offset, offset)

    def send(offset: int, count: int) -> int:
        os.lseek(dst, offset, os.SEEK_SET)
        return os.sendfile(dst, src, offset, count)

    def plain(offset: int, count: int) -> int:
        return os.pwrite(dst, os.pread(src, min(count, CHUNK_SIZE), offset), offset)

    methods: list[Callable[[int, int], int]] = []
    if hasattr(os, "copy_file_range"):
        methods.append(copy_range)
    if hasattr(os, "sendfile"):
        methods.append(send)
    methods.append(plain)
    done = 0
    for method in methods:
        try:
            while done < size:
                n = method(done, min(_COPY_STEP, size - done))
                if n == 0:
                    raise OSError(errno.EIO, "source shrank while it was being copied")
                done += n
                with progress:
                    copied[0] += n
                    progress.notify_all()
            return
        except OSError as err:
            if done == 0 and err.errno in _NO_KERNEL_COPY and method is not plain:
                continue
            raise


def _hash_fd(fd: int, size: int) -> str:
    """SHA-256 of the first ``size`` bytes, read with ``preadv`` into one reused buffer.

    Not ``mmap``: a source truncated by another process would kill this one with SIGBUS.
    """
    hasher = hashlib.sha256()
    view = memoryview(bytearray(_HASH_STEP))
    pos = 0
    while pos < size:
        n = os.preadv(fd, [view[: min(_HASH_STEP, size - pos)]], pos)
        if n == 0:
            raise OSError(errno.EIO, "source shrank while it was being hashed")
        hasher.update(view[:n])
        pos += n
    return hasher.hexdigest()
