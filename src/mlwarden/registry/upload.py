"""Receive a push: unpack the upload tar into staging as it arrives, hashing model files on the way.

The bytes are written once. The HTTP handler hands the body to :class:`UploadReceiver` in batches; a
worker thread parses the tar stream as it comes (:class:`~mlwarden.registry.tarstream.TarFeed`),
writes each member under ``staging/`` and SHA-256es the model files while they pass through. The
digests become the blobs' addresses (the local store then adopts the staging files by renaming them)
and, as a :class:`~mlwarden.hashing.Manifest` with each file's stat, let the gate skip re-hashing
files whose signature uses the same serialization (sha256, files): the registry computed them itself
from the bytes it wrote, in a directory no one else writes to.

Memory stays flat: at most ``queue_batches`` batches of ``batch_bytes`` wait between the two threads,
and the handler stops reading the socket until the worker catches up.
"""

from __future__ import annotations

import hashlib
import os
import queue
import tarfile
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from mlwarden.hashing import FileStat, HashingConfig, Manifest, ResourceDigest
from mlwarden.registry.auth import ProblemError
from mlwarden.registry.blobs.base import write_all
from mlwarden.registry.tarstream import TarFeed, TarStreamError

SECTIONS = ("model", "signatures", "attestations")
MAX_MEMBERS = 100_000
BATCH_BYTES = 4 << 20  # per hand-off between threads: few hand-offs, bounded memory
QUEUE_BATCHES = 4
WRITE_BACK_BYTES = 256 << 20  # start flushing a large file to disk while it is still arriving
_O_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0)


@dataclass
class Received:
    """An unpacked upload: ``root`` holds model/, signatures/, attestations/."""

    root: Path
    model_files: dict[str, tuple[str, int]] = field(default_factory=dict)  # relative path -> (sha256, size)
    stats: dict[str, FileStat] = field(default_factory=dict)

    @property
    def model_dir(self) -> Path:
        return self.root / "model"

    def manifest(self) -> Manifest:
        """The model files' digests as an OMS ``sha256``/``files`` manifest, with their stats."""
        resources = [ResourceDigest(name, "sha256", digest) for name, (digest, _) in self.model_files.items()]
        return Manifest.build(self.model_dir.name, HashingConfig(), resources, self.stats)


class UploadReceiver:
    """Feed an upload tar with :meth:`write` (and :meth:`drain` when it asks), then :meth:`finish`.

    Errors in the upload (a link, a path outside the three folders, a duplicate member, a truncated
    stream) are :class:`ProblemError` 422, raised by the next call after the worker met them.
    """

    def __init__(
        self,
        into: Path,
        *,
        write_back: bool = False,
        batch_bytes: int = BATCH_BYTES,
        queue_batches: int = QUEUE_BATCHES,
    ) -> None:
        self.received = Received(into)
        self._write_back = write_back
        self._batch = batch_bytes
        self._queue: queue.Queue[list[bytes] | None] = queue.Queue(maxsize=queue_batches)  # None: the end
        self._pending: list[bytes] = []
        self._pending_bytes = 0
        self._error: BaseException | None = None
        self._closed = False
        self._worker = threading.Thread(target=self._run, name="mlw-upload", daemon=True)
        self._worker.start()

    # -- the handler's side ------------------------------------------------------------------------

    def write(self, data: bytes) -> bool:
        """Buffer ``data``; True means the worker is behind and :meth:`drain` (blocking) must be called."""
        self._check()
        if not data:
            return False
        self._pending.append(data)
        self._pending_bytes += len(data)
        return self._pending_bytes >= self._batch and not self._hand_off(block=False)

    def drain(self) -> None:
        """Hand the buffered bytes to the worker, waiting for room (call from a worker thread)."""
        self._hand_off(block=True)
        self._check()

    def finish(self) -> Received:
        """Signal the end of the body and wait for the worker; the unpacked upload (blocking)."""
        self._hand_off(block=True)
        self._put(None)
        self._closed = True
        self._worker.join()
        self._check()
        return self.received

    def abort(self) -> None:
        """Stop the worker without waiting for more bytes (the body was cut short); never raises."""
        if not self._closed:
            self._closed = True
            self._pending = []
            self._put(None)
        self._worker.join()

    def _hand_off(self, *, block: bool) -> bool:
        if not self._pending:
            return True
        if block:
            self._put(self._pending)
        else:
            try:
                self._queue.put_nowait(self._pending)  # the list itself: no join, no copy
            except queue.Full:
                return False
        self._pending = []
        self._pending_bytes = 0
        return True

    def _put(self, batch: list[bytes] | None) -> None:
        """Queue ``batch`` unless the worker has stopped (then :meth:`_check` says why)."""
        while self._worker.is_alive():
            try:
                self._queue.put(batch, timeout=0.5)
                return
            except queue.Full:
                continue

    def _check(self) -> None:
        if self._error is not None:
            raise self._error  # ProblemError 422 for the upload's faults; anything else is the server's

    def _run(self) -> None:
        unpacker = _Unpacker(self.received, write_back=self._write_back)
        try:
            while (batch := self._queue.get()) is not None:
                # one memcpy of the batch costs less than parsing, hashing and writing 64 KiB pieces
                unpacker.feed(batch[0] if len(batch) == 1 else b"".join(batch))
            unpacker.close()
        except TarStreamError as err:
            self._error = ProblemError(422, "Invalid upload", f"the body is not a valid tar stream: {err}")
        except BaseException as err:  # noqa: BLE001 - handed to the handler's thread by _check
            self._error = err
        finally:
            unpacker.release()
            if self._error is not None:  # let a blocked producer finish: nothing more will be read
                while True:
                    try:
                        if self._queue.get(timeout=0.05) is None:
                            break
                    except queue.Empty:
                        if self._closed:
                            break


class _Unpacker(TarFeed):
    """Writes members under ``received.root`` as they arrive, hashing model files on the way."""

    def __init__(self, received: Received, *, write_back: bool) -> None:
        super().__init__()
        self.received = received
        received.root.mkdir(parents=True, exist_ok=True)
        self._sync = ThreadPoolExecutor(1, thread_name_prefix="mlw-upload-sync") if write_back else None
        self._flushing: Future[None] | None = None
        self._fd = -1
        self._dest = Path()
        self._name = ""  # model-relative name of a model file, else ""
        self._hasher: Any = None
        self._unsynced = 0
        self._made: set[Path] = set()
        self._members = 0

    def begin(self, info: tarfile.TarInfo) -> None:
        self._members += 1
        if self._members > MAX_MEMBERS:
            raise ProblemError(422, "Invalid upload", f"more than {MAX_MEMBERS} members")
        parts = _member_parts(info)
        dest = self.received.root.joinpath(*parts)
        if info.isdir():
            dest.mkdir(parents=True, exist_ok=True)
            return
        if len(parts) < 2:
            raise ProblemError(422, "Invalid upload", f"member {info.name!r} is not a regular file")
        if dest.parent not in self._made:
            dest.parent.mkdir(parents=True, exist_ok=True)
            self._made.add(dest.parent)
        try:
            self._fd = os.open(dest, _O_CREATE, 0o600)
        except FileExistsError:
            raise ProblemError(422, "Invalid upload", f"member {info.name!r} appears twice") from None
        self._dest = dest
        self._name = PurePosixPath(*parts[1:]).as_posix() if parts[0] == "model" else ""
        self._hasher = hashlib.sha256() if self._name else None
        self._unsynced = 0

    def data(self, chunk: memoryview) -> None:
        if self._hasher is not None:
            self._hasher.update(chunk)  # releases the GIL: the event loop keeps receiving meanwhile
        write_all(self._fd, chunk)
        self._unsynced += len(chunk)
        if self._sync is not None and self._unsynced >= WRITE_BACK_BYTES and self._flush_idle():
            self._flushing = self._sync.submit(os.fdatasync, self._fd)  # disk works while bytes arrive
            self._unsynced = 0

    def end(self) -> None:
        self._close_file()
        if self._name:
            st = self._dest.stat()
            self.received.model_files[self._name] = (self._hasher.hexdigest(), st.st_size)
            self.received.stats[self._name] = FileStat.of(st)

    def release(self) -> None:
        """Close what an interrupted stream left open (idempotent)."""
        self._close_file()
        if self._sync is not None:
            self._sync.shutdown(wait=True)

    def _flush_idle(self) -> bool:
        return self._flushing is None or self._flushing.done()

    def _close_file(self) -> None:
        if self._fd < 0:
            return
        if self._flushing is not None:
            self._flushing.exception()  # wait: the descriptor must outlive the flush; errors don't matter
            self._flushing = None
        os.close(self._fd)
        self._fd = -1


def _member_parts(member: tarfile.TarInfo) -> list[str]:
    """The member's path components, refusing absolute paths, ``..`` and anything outside SECTIONS."""
    name = PurePosixPath(member.name)
    parts = [p for p in name.parts if p not in ("", ".")]
    if name.is_absolute() or ".." in parts or not parts or parts[0] not in SECTIONS or "\0" in member.name:
        raise ProblemError(
            422, "Invalid upload", f"member {member.name!r} is not under model/, signatures/ or attestations/"
        )
    return parts
