"""Tar streams both ways: pushes are tars of model/, signatures/, attestations/; pulls of a version too.

``tarfile`` reads only from a file object it can pull from, and in stream mode (``r|``) it copies every
block through its own buffer several times. A registry receives bytes as the network hands them over,
so :class:`TarFeed` is push-driven instead: :meth:`TarFeed.feed` takes whatever arrived and passes
member data on as ``memoryview`` slices of it (no copy), while ``tarfile.TarInfo.frombuf`` still
parses every header (ustar, GNU base-256 sizes, checksums). On top of the 512-byte headers it
understands what writers emit for long names and big files: PAX ``x`` records (``path``, ``size``) and
GNU ``L`` long names. Links, devices, sparse files and global PAX headers are refused: a registry
stores regular files only.
"""

from __future__ import annotations

import tarfile
from collections.abc import Iterable, Iterator

BLOCK = tarfile.BLOCKSIZE
_ZERO_BLOCK = bytes(BLOCK)
_META_LIMIT = 1 << 20  # PAX records and GNU long names: far more than any real path needs
_END = b"\0" * (2 * BLOCK)


class TarStreamError(ValueError):
    """The stream is not a tar this registry accepts; the message says why."""


def tar_header(name: str, size: int) -> bytes:
    """The header of one regular file (PAX only when needed: long names, sizes of 8 GiB and more)."""
    info = tarfile.TarInfo(name)
    info.size = size
    info.type = tarfile.REGTYPE
    info.mode = 0o644
    return info.tobuf(format=tarfile.PAX_FORMAT)


def padding(size: int) -> bytes:
    """Zeros that bring a member's data to a whole number of blocks."""
    return b"\0" * (-size % BLOCK)


def archive_size(members: Iterable[tuple[str, int]]) -> int:
    """Exact length of :func:`tar_chunks` output for these ``(name, size)`` members."""
    return sum(len(tar_header(name, size)) + size + (-size % BLOCK) for name, size in members) + len(_END)


def tar_chunks(members: Iterable[tuple[str, int, Iterable[bytes]]]) -> Iterator[bytes]:
    """A tar of ``(name, size, chunks)`` members, produced as it is read (never whole in memory)."""
    for name, size, chunks in members:
        yield tar_header(name, size)
        sent = 0
        for chunk in chunks:
            sent += len(chunk)
            yield chunk
        if sent != size:
            raise TarStreamError(f"{name} has {sent} bytes, not the {size} announced")
        if size % BLOCK:
            yield padding(size)
    yield _END


class TarFeed:
    """Parse a tar as it arrives; subclasses receive the members.

    Hooks: :meth:`begin` (a regular file or a directory, with its final name and size), :meth:`data`
    (consecutive slices of the current file, valid only during the call) and :meth:`end` (the file
    is complete). Call :meth:`close` after the last byte: a stream cut short raises there.
    """

    def __init__(self) -> None:
        self._header = bytearray()  # a partial header block
        self._meta = bytearray()  # PAX record or GNU long name being collected
        self._meta_kind = b""
        self._remaining = 0  # bytes left of the current member's data (file or metadata)
        self._pending_skip = 0  # its padding, skipped once the data is through
        self._skip = 0  # padding bytes still to skip
        self._pax: dict[str, str] = {}
        self._long_name: str | None = None
        self._in_file = False
        self.finished = False  # a zero block ended the archive

    # -- hooks ----------------------------------------------------------------------------------

    def begin(self, info: tarfile.TarInfo) -> None:
        """A new member (a regular file or a directory); ``info.name`` and ``info.size`` are final."""

    def data(self, chunk: memoryview) -> None:
        """The next bytes of the current file."""

    def end(self) -> None:
        """The current file is complete."""

    # -- driving --------------------------------------------------------------------------------

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        """Consume ``data`` (any length). Raises :class:`TarStreamError` on an invalid stream."""
        view = memoryview(data).cast("B")
        pos, n = 0, len(view)
        while pos < n and not self.finished:
            if self._skip:
                step = min(self._skip, n - pos)
                self._skip -= step
                pos += step
            elif self._remaining:
                step = min(self._remaining, n - pos)
                piece = view[pos : pos + step]
                if self._in_file:
                    self.data(piece)
                else:
                    self._meta += piece
                self._remaining -= step
                pos += step
                if not self._remaining:
                    self._member_done()
            else:
                step = min(BLOCK - len(self._header), n - pos)
                self._header += view[pos : pos + step]
                pos += step
                if len(self._header) == BLOCK:
                    block = bytes(self._header)
                    self._header.clear()
                    self._on_header(block)

    def close(self) -> None:
        """The stream ended: anything but a finished archive is an error."""
        if not self.finished:
            raise TarStreamError("the tar stream ends before its end-of-archive block")

    # -- internals ------------------------------------------------------------------------------

    def _on_header(self, block: bytes) -> None:
        if block == _ZERO_BLOCK:
            if self._pax or self._long_name is not None:
                raise TarStreamError("the archive ends after a PAX or long-name header")
            self.finished = True
            return
        try:
            info = tarfile.TarInfo.frombuf(block, "utf-8", "surrogateescape")
        except tarfile.HeaderError as err:
            raise TarStreamError(f"invalid tar header ({err})") from None
        if info.type in (tarfile.XHDTYPE, tarfile.GNUTYPE_LONGNAME):
            if info.size > _META_LIMIT:
                raise TarStreamError(f"a {info.size}-byte PAX or long-name header is too large")
            self._meta_kind = info.type
            self._start_data(info.size, in_file=False)
            return
        if info.type not in (tarfile.REGTYPE, tarfile.AREGTYPE, tarfile.DIRTYPE):
            raise TarStreamError(f"member {info.name!r} is not a regular file or directory")
        if self._long_name is not None:
            info.name = self._long_name
        if "path" in self._pax:
            info.name = self._pax["path"]
        if "size" in self._pax:
            try:
                info.size = int(self._pax["size"])
            except ValueError:
                raise TarStreamError(f"invalid PAX size {self._pax['size']!r}") from None
        self._pax, self._long_name = {}, None
        if info.isdir():
            info.name = info.name.rstrip("/")
            self.begin(info)
            self._skip = -info.size % BLOCK + info.size  # a directory's data, if any, is ignored
            return
        self.begin(info)
        self._in_file = True
        self._start_data(info.size, in_file=True)

    def _start_data(self, size: int, *, in_file: bool) -> None:
        self._remaining = size
        self._pending_skip = -size % BLOCK
        if not size:
            self._member_done()

    def _member_done(self) -> None:
        self._skip = self._pending_skip
        if self._in_file:
            self._in_file = False
            self.end()
            return
        meta, self._meta = bytes(self._meta), bytearray()
        if self._meta_kind == tarfile.GNUTYPE_LONGNAME:
            self._long_name = meta.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
        else:
            self._pax.update(_pax_records(meta))


def _pax_records(data: bytes) -> dict[str, str]:
    """``"%d %s=%s\\n"`` records (the length counts the whole record, itself included)."""
    records: dict[str, str] = {}
    pos = 0
    while pos < len(data):
        space = data.find(b" ", pos)
        if space < 0:
            raise TarStreamError("invalid PAX record")
        try:
            length = int(data[pos:space])
        except ValueError:
            raise TarStreamError("invalid PAX record") from None
        record = data[space + 1 : pos + length]
        if length <= 0 or pos + length > len(data) or not record.endswith(b"\n") or b"=" not in record:
            raise TarStreamError("invalid PAX record")
        key, _, value = record[:-1].partition(b"=")
        records[key.decode("utf-8", "surrogateescape")] = value.decode("utf-8", "surrogateescape")
        pos += length
    return records
