"""Parallel model hashing: each byte read once, into reused buffers, on every core.

Work items (whole files, or ``shard_size`` byte ranges) are hashed largest first on a thread pool;
``hashlib`` and ``blake3`` release the GIL while hashing, so the threads run in parallel. Each worker
hashes a large file (or shard) straight from the page cache through ``mmap`` (no copy) when a probe
with ``RWF_NOWAIT`` finds it cached, and otherwise reads with ``preadv`` into its own reused buffer,
which releases the GIL while the disk works, with sequential readahead. Measured on the 2-core
reference machine: mmap over a cold file faults one readahead window at a time (a third of the
speed), ``MADV_POPULATE_READ`` holds the GIL while it waits for the disk, and ``POSIX_FADV_WILLNEED``
prefetching made both cold and warm hashing slower, so none of those is used.
"""

from __future__ import annotations

import hashlib
import mmap
import os
import queue
import stat
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from mlwarden.hashing.config import HashingConfig
from mlwarden.hashing.errors import HashingError
from mlwarden.hashing.manifest import FileStat, Manifest, ResourceDigest

_CHUNK = 2 * 1024 * 1024  # read buffer per thread: small files, and ranges not in the page cache
_MMAP_CHUNK = 32 * 1024 * 1024  # few GIL hand-offs per file, so other threads barely slow hashing
_MMAP_MIN = 4 * 1024 * 1024
_CACHE_PROBES = 16
_PIPELINE_MIN = 64 * 1024 * 1024  # cold ranges this large overlap reading with hashing
_PIPELINE_CHUNK = 8 * 1024 * 1024
_PIPELINE_BUFFERS = 3
_FADVISE = hasattr(os, "posix_fadvise")
_BLAKE3_THREADED_MIN = 32 * 1024 * 1024
_O_FLAGS = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0)

ProgressCallback = Callable[[int], None]


class _Hasher(Protocol):
    def update(self, data: memoryview, /) -> object: ...
    def hexdigest(self) -> str: ...


@dataclass(frozen=True, slots=True)
class _File:
    name: str  # POSIX path relative to the model root
    path: str  # what to open (a symlink's resolved target when symlinks are allowed)
    stat: FileStat
    via_symlink: bool


@dataclass(frozen=True, slots=True)
class _Task:
    file: _File
    start: int
    end: int | None  # None: to end of file

    @property
    def size(self) -> int:
        end = self.file.stat.size if self.end is None else self.end
        return end - self.start


def _is_ignored(name: str, ignore: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + "/") for p in ignore)


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def walk_model(root: Path, config: HashingConfig) -> list[_File]:
    """List the regular files of a model without following symlinks (unless allowed and inside the root)."""
    root_str = os.fspath(root)
    try:
        root_st = root.stat()
    except OSError as err:
        raise HashingError(f"cannot read model directory {root_str}: {err.strerror}") from None
    if not stat.S_ISDIR(root_st.st_mode):
        raise HashingError(f"model path {root_str} is not a directory", hint="give the model's directory")
    root_real = os.path.realpath(root_str)
    files: list[_File] = []
    stack: list[tuple[str, str]] = [("", root_str)]
    while stack:
        rel_dir, abs_dir = stack.pop()
        try:
            with os.scandir(abs_dir) as it:
                entries = list(it)
        except OSError as err:
            raise HashingError(f"cannot list directory {abs_dir}: {err.strerror}") from None
        for entry in entries:
            name = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
            if _is_ignored(name, config.ignore_paths):
                continue
            try:
                name.encode("utf-8")
            except UnicodeEncodeError:
                raise HashingError(f"file name is not valid UTF-8: {entry.path!r}") from None
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError as err:
                raise HashingError(f"cannot stat {entry.path}: {err.strerror}") from None
            if stat.S_ISLNK(st.st_mode):
                files.append(_resolve_symlink(entry.path, name, root_real, config))
            elif stat.S_ISDIR(st.st_mode):
                stack.append((name, entry.path))
            elif stat.S_ISREG(st.st_mode):
                files.append(_File(name, entry.path, FileStat.of(st), via_symlink=False))
            else:
                raise HashingError(
                    f"special file in model: {entry.path}",
                    hint="models may contain only regular files and directories",
                )
    return files


def _resolve_symlink(path: str, name: str, root_real: str, config: HashingConfig) -> _File:
    if not config.allow_symlinks:
        raise HashingError(
            f"symlink in model: {path}", hint="replace it with the file, or allow symlinks that stay inside"
        )
    target = os.path.realpath(path)
    if not _inside(target, root_real):
        raise HashingError(f"symlink escapes the model directory: {path} -> {target}")
    try:
        st = Path(target).stat()
    except OSError as err:
        raise HashingError(f"broken symlink in model: {path} -> {target}: {err.strerror}") from None
    if not stat.S_ISREG(st.st_mode):
        raise HashingError(f"symlink does not point to a regular file: {path} -> {target}")
    return _File(name, target, FileStat.of(st), via_symlink=True)


_local = threading.local()


def _buffer() -> memoryview:
    view: memoryview | None = getattr(_local, "view", None)
    if view is None:
        view = memoryview(bytearray(_CHUNK))
        _local.view = view
    return view


def _new_hasher(algorithm: str, threaded: bool) -> _Hasher:
    if algorithm == "sha256":
        return hashlib.sha256()
    import blake3  # noqa: PLC0415 - optional speed-up, imported only when asked for

    threads = blake3.blake3.AUTO if threaded else 1
    hasher: _Hasher = blake3.blake3(max_threads=threads)
    return hasher


def _hash_task(task: _Task, algorithm: str, threaded_min: int, progress: ProgressCallback | None) -> str:
    file = task.file
    flags = _O_FLAGS if file.via_symlink else _O_FLAGS | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(file.path, flags)
    except OSError as err:
        raise HashingError(f"cannot read {file.path}: {err.strerror}") from None
    try:
        before = os.fstat(fd)
        if not stat.S_ISREG(before.st_mode) or FileStat.of(before) != file.stat:
            raise HashingError(f"file changed while the model was being hashed: {file.path}")
        hasher = _new_hasher(algorithm, task.size >= threaded_min)
        end = file.stat.size if task.end is None else task.end
        if task.size >= _MMAP_MIN and _looks_cached(fd, task.start, end):
            _feed_mmap(fd, hasher, task.start, end, progress)
        else:
            if _FADVISE:
                os.posix_fadvise(fd, task.start, end - task.start, os.POSIX_FADV_SEQUENTIAL)
            if end - task.start >= _PIPELINE_MIN:
                _feed_pipelined(fd, hasher, task.start, end, progress)
            else:
                _feed_pread(fd, hasher, task.start, end, progress)
        if FileStat.of(os.fstat(fd)) != file.stat:
            raise HashingError(f"file changed while the model was being hashed: {file.path}")
    except OSError as err:
        raise HashingError(f"cannot read {file.path}: {err.strerror or err}") from None
    finally:
        os.close(fd)
    return hasher.hexdigest()


def _feed_pread(fd: int, hasher: _Hasher, start: int, end: int, progress: ProgressCallback | None) -> None:
    """Read into this thread's reused buffer (small files: no mapping set-up)."""
    view = _buffer()
    pos = start
    while pos < end:
        n = os.preadv(fd, [view[: min(len(view), end - pos)]], pos)
        if n == 0:
            raise OSError(0, "file shrank while the model was being hashed")
        hasher.update(view[:n])
        pos += n
        if progress is not None:
            progress(n)


def _feed_pipelined(
    fd: int, hasher: _Hasher, start: int, end: int, progress: ProgressCallback | None
) -> None:
    """Large range not in the page cache: a reader thread fills buffers while this thread hashes.

    Both ``preadv`` and ``update`` release the GIL, so reading the next block overlaps hashing this
    one; on a cold disk the cost is max(read, hash) instead of read + hash.
    """
    free: queue.SimpleQueue[memoryview] = queue.SimpleQueue()
    full: queue.SimpleQueue[tuple[memoryview, int] | BaseException | None] = queue.SimpleQueue()
    for _ in range(_PIPELINE_BUFFERS):
        free.put(memoryview(bytearray(_PIPELINE_CHUNK)))
    stop = threading.Event()

    def read() -> None:
        pos = start
        try:
            while pos < end and not stop.is_set():
                buf = free.get()
                if stop.is_set():
                    return
                n = os.preadv(fd, [buf[: min(len(buf), end - pos)]], pos)
                if n == 0:
                    raise OSError(0, "file shrank while the model was being hashed")
                full.put((buf, n))
                pos += n
            full.put(None)
        except BaseException as err:  # noqa: BLE001 - handed to the hashing thread, which re-raises it
            full.put(err)

    reader = threading.Thread(target=read, name="mlw-read", daemon=True)
    reader.start()
    try:
        while (item := full.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            buf, n = item
            hasher.update(buf[:n])
            free.put(buf)
            if progress is not None:
                progress(n)
    finally:
        stop.set()
        free.put(memoryview(bytearray(0)))  # unblock a reader waiting for a buffer
        reader.join()


def _looks_cached(fd: int, start: int, end: int) -> bool:
    """Probe a few pages with ``RWF_NOWAIT``: True if all are in the page cache (Linux 4.14+)."""
    flag = getattr(os, "RWF_NOWAIT", None)
    if flag is None:
        return False
    probe = memoryview(bytearray(1))
    step = max((end - start) // _CACHE_PROBES, 1)
    for offset in [*range(start, end, step), end - 1]:
        try:
            os.preadv(fd, [probe], offset, flag)
        except OSError:  # BlockingIOError: not cached; anything else: take the plain path
            return False
    return True


def _feed_mmap(fd: int, hasher: _Hasher, start: int, end: int, progress: ProgressCallback | None) -> None:
    """Hash straight from the page cache, without copying (only used when the range is cached)."""
    with mmap.mmap(fd, 0, access=mmap.ACCESS_READ) as mapped:
        mapped.madvise(mmap.MADV_SEQUENTIAL)
        view = memoryview(mapped)
        try:
            pos = start
            while pos < end:
                n = min(_MMAP_CHUNK, end - pos)
                hasher.update(view[pos : pos + n])
                pos += n
                if progress is not None:
                    progress(n)
        finally:
            view.release()


def _tasks(files: list[_File], config: HashingConfig) -> list[_Task]:
    tasks: list[_Task] = []
    for f in files:
        if config.method == "files":
            tasks.append(_Task(f, 0, None))
            continue
        size, step = f.stat.size, config.shard_size
        tasks.extend(_Task(f, start, min(start + step, size)) for start in range(0, size, step))
    tasks.sort(key=lambda t: t.size, reverse=True)
    return tasks


def _item_name(task: _Task, config: HashingConfig) -> str:
    if config.method == "files":
        return task.file.name
    return f"{task.file.name}:{task.start}:{task.end}"


def _reusable(previous: Manifest | None, config: HashingConfig) -> dict[str, list[ResourceDigest]]:
    """Previous resources grouped by file, if the previous manifest used the same serialization."""
    if previous is None or previous.serialization != config.serialization_parameters():
        return {}
    by_file: dict[str, list[ResourceDigest]] = {}
    for res in previous.resources:
        file = res.name if config.method == "files" else res.name.rsplit(":", 2)[0]
        by_file.setdefault(file, []).append(res)
    return by_file


def hash_model(
    path: str | os.PathLike[str],
    config: HashingConfig | None = None,
    *,
    previous: Manifest | None = None,
    progress: ProgressCallback | None = None,
) -> Manifest:
    """Hash the model directory at ``path`` into a :class:`Manifest`.

    ``previous`` (incremental re-hashing): digests of files whose size, mtime, ctime, inode and device
    are unchanged since ``previous`` was computed *on this machine* are reused. Only pass a manifest
    you trust (one you computed, or one from a signature you verified); never use this at a gate.

    ``progress`` is called with the number of bytes hashed, from worker threads.

    Raises :class:`HashingError` naming the path for symlinks (unless allowed and inside the root),
    special files, unreadable files and files that change while being hashed.
    """
    config = config or HashingConfig()
    root = Path(path)
    files = walk_model(root, config)
    reusable = _reusable(previous, config)
    resources: list[ResourceDigest] = []
    stats: dict[str, FileStat] = {}
    to_hash: list[_File] = []
    for f in files:
        stats[f.name] = f.stat
        old = reusable.get(f.name)
        if old is not None and previous is not None and previous.stats.get(f.name) == f.stat:
            resources.extend(old)
        else:
            to_hash.append(f)
    tasks = _tasks(to_hash, config)
    workers = config.max_workers or os.cpu_count() or 1
    # BLAKE3's own threads cost CPU efficiency; use them only for a task bigger than a fair share of
    # the work, which would otherwise leave the other workers idle (one big file, say).
    threaded_min = max(_BLAKE3_THREADED_MIN, sum(t.size for t in tasks) // workers + 1)
    if tasks:
        with ThreadPoolExecutor(max_workers=min(workers, len(tasks)), thread_name_prefix="mlw-hash") as pool:
            digests = list(pool.map(lambda t: _hash_task(t, config.algorithm, threaded_min, progress), tasks))
        resources.extend(
            ResourceDigest(_item_name(t, config), config.algorithm, d)
            for t, d in zip(tasks, digests, strict=True)
        )
    return Manifest.build(root.resolve().name, config, resources, stats)
