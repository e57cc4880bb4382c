"""The scanner plug-in interface: a byte source (``Blob``), a per-file context and the ``Scanner`` ABC."""

from __future__ import annotations

import contextlib
import io
import mmap
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from mlwarden.core.types import Finding, Severity

Buffer = bytes | memoryview


class LimitExceeded(Exception):  # noqa: N818 - a signal, not an error a user sees
    """Raised inside a scanner when a limit is hit; the engine turns it into a finding."""

    def __init__(self, rule_id: str, message: str) -> None:
        super().__init__(message)
        self.rule_id = rule_id


@dataclass(frozen=True, slots=True)
class ScanLimits:
    """Bounds that keep hostile input from exhausting the scanner. Breaches become findings."""

    max_depth: int = 10
    """Container nesting depth (a zip in a tar in a gzip is depth 3)."""
    max_members: int = 100_000
    """Members read from all containers of one top-level file."""
    max_member_bytes: int = 1 << 30
    """Bytes decompressed from one member before it is abandoned."""
    max_total_bytes: int = 8 << 30
    """Bytes decompressed from all members of one top-level file (zip-bomb guard)."""
    max_pickle_ops: int = 50_000_000
    """Opcodes interpreted across every pickle stream of one top-level file."""
    max_seconds: float = 120.0
    """Wall-clock budget for one top-level file."""


class Blob(ABC):
    """Bytes to scan: a file on disk (memory-mapped, pages read only when touched) or a member."""

    @abstractmethod
    def __len__(self) -> int: ...

    @abstractmethod
    def data(self) -> Buffer:
        """The whole content. Zero-copy where possible; slice it rather than copying it."""

    def head(self, n: int) -> bytes:
        """The first ``n`` bytes."""
        return bytes(self.data()[:n])

    def tail(self, n: int) -> bytes:
        """The last ``n`` bytes."""
        size = len(self)
        return bytes(self.data()[max(0, size - n) : size])


class BufferReader(io.RawIOBase):
    """A seekable, read-only file over a buffer, for libraries that want a file (tarfile, h5py, py7zr).

    Nothing is copied: reads slice the underlying (possibly memory-mapped) buffer.
    """

    def __init__(self, buf: Buffer) -> None:
        super().__init__()
        self._buf = memoryview(buf)
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: len(self._buf)}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, b: Any) -> int:
        chunk = self._buf[self._pos : self._pos + len(b)]  # empty at or past the end
        n = len(chunk)
        memoryview(b).cast("B")[:n] = chunk
        self._pos += n
        return n


class BytesBlob(Blob):
    """A member already in memory (decompressed, or a zero-copy slice of a mapped file)."""

    def __init__(self, data: Buffer) -> None:
        self._data = data

    def __len__(self) -> int:
        return len(self._data)

    def data(self) -> Buffer:
        return self._data


_RANDOM_ACCESS_FROM = 16 << 20


class FileBlob(Blob):
    """A regular file, memory-mapped read-only so that a 2 GiB checkpoint costs only what is read."""

    def __init__(self, path: Path) -> None:
        self.path = path
        with path.open("rb") as fh:
            size = fh.seek(0, 2)
            self._map: mmap.mmap | None = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) if size else None
        if self._map is not None and size > _RANDOM_ACCESS_FROM:
            # Scanners jump between headers of large files; without this hint every page fault pulls
            # in the kernel's read-around window (megabytes of tensor data nobody looks at).
            self._map.madvise(mmap.MADV_RANDOM)
        self._view = memoryview(self._map) if self._map is not None else memoryview(b"")

    def __len__(self) -> int:
        return len(self._view)

    def data(self) -> Buffer:
        return self._view

    def close(self) -> None:
        """Unmap; views still held by the caller keep the map alive until they go."""
        try:
            self._view.release()
        except BufferError:
            return
        if self._map is not None:
            with contextlib.suppress(BufferError):  # a slice is still referenced; GC unmaps later
                self._map.close()


@dataclass(frozen=True, slots=True)
class FileSniff:
    """What the content of a blob looks like, decided from its bytes only."""

    format: str
    """One of the names in ``mlwarden.scanning.sniff.FORMATS``."""
    detail: str = ""


@dataclass
class ScanContext:
    """Per top-level-file state shared by the scanners working on it and its members."""

    file: str
    limits: ScanLimits
    nested: Callable[[Blob, str, ScanContext], Iterator[Finding]]
    members: tuple[str, ...] = ()
    depth: int = 0
    started: float = field(default_factory=time.monotonic)
    budget: dict[str, int] = field(default_factory=lambda: {"members": 0, "bytes": 0, "ops": 0})
    formats: dict[str, str] = field(default_factory=dict)
    """Format of the file and of each member seen, keyed by member path ('' for the file)."""
    facts: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Structural facts scanners learn on the way (tensor names, config keys), keyed by member path."""

    @property
    def member(self) -> str | None:
        """Current member path (outermost first, ``!``-joined), or None for the file itself."""
        return "!".join(self.members) if self.members else None

    def finding(
        self,
        rule_id: str,
        severity: Severity,
        message: str,
        *,
        scanner: str,
        offset: int | None = None,
        construct: str | None = None,
        remediation: str = "",
        **details: Any,
    ) -> Finding:
        """A finding located at the current file and member."""
        return Finding(
            rule_id=rule_id,
            severity=severity,
            message=message,
            file=self.file,
            member=self.member,
            offset=offset,
            construct=construct,
            remediation=remediation,
            scanner=scanner,
            details=details,
        )

    def check_time(self) -> None:
        """Raise ``LimitExceeded`` once this file has used its time budget."""
        if time.monotonic() - self.started > self.limits.max_seconds:
            raise LimitExceeded("limit/time", f"scan exceeded {self.limits.max_seconds:g} s")

    def charge(self, kind: str, amount: int) -> None:
        """Count members, decompressed bytes or pickle opcodes against this file's limits."""
        self.budget[kind] += amount
        cap = {
            "members": self.limits.max_members,
            "bytes": self.limits.max_total_bytes,
            "ops": self.limits.max_pickle_ops,
        }[kind]
        if self.budget[kind] > cap:
            raise LimitExceeded(f"limit/{kind}", f"more than {cap:,} {kind} in one file")

    def scan_member(self, blob: Blob, name: str) -> Iterator[Finding]:
        """Sniff and scan a member of the current blob one level deeper."""
        self.charge("members", 1)
        return self.nested(blob, name, self)


class Scanner(ABC):
    """A format scanner. Built-ins are listed explicitly in ``mlwarden.scanning.registry``."""

    name: ClassVar[str]
    formats: ClassVar[frozenset[str]]

    def handles(self, sniff: FileSniff) -> bool:
        """Whether this scanner understands content sniffed as ``sniff``."""
        return sniff.format in self.formats

    @abstractmethod
    def scan(self, blob: Blob, ctx: ScanContext) -> Iterator[Finding]:
        """Yield findings; call ``ctx.scan_member`` for embedded content. Never execute anything."""
