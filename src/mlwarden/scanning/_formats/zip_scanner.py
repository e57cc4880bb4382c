"""A tolerant zip reader: it parses the central directory and local headers itself.

Python's ``zipfile`` refuses members with a bad CRC, an overwritten local-header magic or the
encryption flag set, while the C readers inside torch (miniz) and numpy load them anyway. Scanners
built on ``zipfile`` therefore skip exactly the members an attacker tampered with. This reader reads
every member the way a lenient loader would, reports each inconsistency as a finding, and looks for
local headers that the central directory does not list (hidden members).
"""

from __future__ import annotations

import bz2
import lzma
import re
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar

from mlwarden.core.types import Finding, Severity
from mlwarden.scanning.interface import Blob, Buffer, BytesBlob, LimitExceeded, ScanContext, Scanner
from mlwarden.scanning.sniff import sniff

_EOCD = struct.Struct("<4s4H2LH")
_ZIP64_LOCATOR = struct.Struct("<4sLQL")
_ZIP64_EOCD = struct.Struct("<4sQ2H2L4Q")
_CENTRAL = struct.Struct("<4s6H3L5H2L")
_LOCAL = struct.Struct("<4s5H3L2H")
_TORCH_STORAGE = re.compile(r"(^|/)data/\d+$")
_NAME = "zip"
_BOMB_RATIO = 100  # ModelAudit's threshold; real checkpoints are stored or compress < 10:1
_BOMB_MIN_BYTES = 8 << 20


@dataclass(slots=True)
class ZipEntry:
    name: str
    flags: int
    method: int
    crc: int
    csize: int
    usize: int
    header_offset: int
    data_offset: int = -1
    local_name: str | None = None
    external_attr: int = 0


def read_directory(data: Buffer) -> tuple[list[ZipEntry], list[tuple[str, Severity, str]], bytes]:
    """Central-directory entries, (rule, severity, message) problems met on the way, and the comment."""
    problems: list[tuple[str, Severity, str]] = []
    size = len(data)
    window = bytes(data[max(0, size - 65_557) :])
    eocd_at = window.rfind(b"PK\x05\x06")
    if eocd_at < 0 or eocd_at + _EOCD.size > len(window):
        return [], [("zip/no-central-directory", Severity.MEDIUM, "no end-of-central-directory record")], b""
    eocd_pos = size - len(window) + eocd_at
    _, _, _, _, count, cd_size, cd_offset, comment_len = _EOCD.unpack_from(window, eocd_at)
    comment = window[eocd_at + _EOCD.size : eocd_at + _EOCD.size + comment_len]
    if (count == 0xFFFF or cd_offset == 0xFFFFFFFF) and eocd_pos >= _ZIP64_LOCATOR.size:
        sig, _, z64_pos, _ = _ZIP64_LOCATOR.unpack_from(data, eocd_pos - _ZIP64_LOCATOR.size)
        if sig == b"PK\x06\x07" and z64_pos + _ZIP64_EOCD.size <= size:
            fields = _ZIP64_EOCD.unpack_from(data, z64_pos)
            count, cd_size, cd_offset = fields[7], fields[8], fields[9]
    # A zip prefixed by other data (a polyglot) has its offsets shifted; find the real start.
    shift = 0
    if cd_offset + 4 > size or bytes(data[cd_offset : cd_offset + 4]) != b"PK\x01\x02":
        guess = eocd_pos - cd_size
        if 0 <= guess < size and bytes(data[guess : guess + 4]) == b"PK\x01\x02":
            shift = guess - cd_offset
            problems.append(
                (
                    "zip/prepended-data",
                    Severity.MEDIUM,
                    f"{shift} bytes precede the archive (a polyglot file)",
                )
            )
            cd_offset = guess
        else:
            return (
                [],
                [("zip/bad-central-directory", Severity.MEDIUM, "central directory offset is invalid")],
                comment,
            )
    entries: list[ZipEntry] = []
    pos = cd_offset
    while pos + _CENTRAL.size <= size and bytes(data[pos : pos + 4]) == b"PK\x01\x02":
        (_, _, _, flags, method, _, _, crc, csize, usize, nlen, xlen, clen, _, _, attr, offset) = (
            _CENTRAL.unpack_from(data, pos)
        )
        name_bytes = bytes(data[pos + _CENTRAL.size : pos + _CENTRAL.size + nlen])
        extra = bytes(data[pos + _CENTRAL.size + nlen : pos + _CENTRAL.size + nlen + xlen])
        usize, csize, offset = _zip64_extra(extra, usize, csize, offset)
        name = name_bytes.decode("utf-8" if flags & 0x800 else "cp437", "replace")
        entries.append(ZipEntry(name, flags, method, crc, csize, usize, offset + shift, external_attr=attr))
        pos += _CENTRAL.size + nlen + xlen + clen
    if len(entries) != count:
        problems.append(
            (
                "zip/entry-count-mismatch",
                Severity.MEDIUM,
                f"end record declares {count} entries, central directory holds {len(entries)}",
            )
        )
    return entries, problems, comment


def _zip64_extra(extra: bytes, usize: int, csize: int, offset: int) -> tuple[int, int, int]:
    pos = 0
    while pos + 4 <= len(extra):
        tag, length = struct.unpack_from("<HH", extra, pos)
        body = extra[pos + 4 : pos + 4 + length]
        if tag == 0x0001:
            values = list(struct.unpack_from(f"<{len(body) // 8}Q", body))
            if usize == 0xFFFFFFFF and values:
                usize = values.pop(0)
            if csize == 0xFFFFFFFF and values:
                csize = values.pop(0)
            if offset == 0xFFFFFFFF and values:
                offset = values.pop(0)
        pos += 4 + length
    return usize, csize, offset


def read_local_entries(data: Buffer, limit: int) -> list[ZipEntry]:
    """Members found by walking local headers from the start (for archives without a directory)."""
    entries: list[ZipEntry] = []
    pos = 0
    size = len(data)
    while pos + _LOCAL.size <= size and len(entries) < limit:
        if bytes(data[pos : pos + 4]) != b"PK\x03\x04":
            break
        (_, _, flags, method, _, _, crc, csize, usize, nlen, xlen) = _LOCAL.unpack_from(data, pos)
        name = bytes(data[pos + _LOCAL.size : pos + _LOCAL.size + nlen]).decode("utf-8", "replace")
        start = pos + _LOCAL.size + nlen + xlen
        if flags & 0x08 or start + csize > size:  # sizes unknown (data descriptor) or truncated
            csize = size - start
        entries.append(ZipEntry(name, flags, method, crc, csize, usize, pos, start, name))
        pos = start + csize
    return entries


class ZipScanner(Scanner):
    """Zip archives, including PyTorch checkpoints, .npz, .keras and zips with damaged headers."""

    name: ClassVar[str] = _NAME
    formats: ClassVar[frozenset[str]] = frozenset({"zip"})

    def scan(self, blob: Blob, ctx: ScanContext) -> Iterator[Finding]:
        data = blob.data()
        entries, problems, comment = read_directory(data)
        yield from self._comment(comment, ctx)
        if not entries:
            entries = read_local_entries(data, ctx.limits.max_members)
            if entries:
                problems.append(
                    (
                        "zip/no-central-directory",
                        Severity.MEDIUM,
                        "no usable central directory; members read from local headers",
                    )
                )
        for rule, severity, message in problems:
            yield self._finding(ctx, rule, severity, message)
        if not entries:
            yield self._finding(
                ctx, "malformed/zip", Severity.MEDIUM, "zip structure holds no readable member"
            )
            return
        yield from self._check_names(entries, ctx)
        torch_roots = {e.name[: -len("data.pkl")] for e in entries if e.name.endswith("data.pkl")}
        facts = ctx.facts.setdefault(ctx.member or "", {})
        facts["zip"] = {"members": len(entries), "torch": bool(torch_roots)}
        covered: list[tuple[int, int]] = []
        for entry in entries:
            ctx.check_time()
            yield from self._locate(entry, data, ctx)
            if entry.data_offset < 0:
                continue
            covered.append((entry.header_offset, entry.data_offset + entry.csize))
            if entry.usize > _BOMB_MIN_BYTES and entry.usize > _BOMB_RATIO * max(entry.csize, 1):
                yield self._finding(
                    ctx,
                    "zip/compression-ratio",
                    Severity.MEDIUM,
                    f"member {entry.name!r} has a compression ratio of "
                    f"{entry.usize // max(entry.csize, 1):,}:1 ({entry.usize:,} bytes unpacked; "
                    "a decompression-bomb indicator)",
                    construct=entry.name,
                )
            is_storage = bool(_TORCH_STORAGE.search(entry.name)) and any(
                entry.name.startswith(root) for root in torch_roots
            )
            if is_storage or entry.name.endswith("/"):
                continue  # tensor bytes: torch never unpickles them, so they are not read
            yield from self._scan_entry(entry, data, ctx)
        yield from self._hidden_members(data, covered, ctx)

    def _finding(
        self,
        ctx: ScanContext,
        rule: str,
        severity: Severity,
        message: str,
        *,
        construct: str | None = None,
        offset: int | None = None,
        remediation: str = "re-create the archive with a standard tool",
    ) -> Finding:
        return ctx.finding(
            rule,
            severity,
            message,
            scanner=self.name,
            construct=construct,
            offset=offset,
            remediation=remediation,
        )

    def _comment(self, comment: bytes, ctx: ScanContext) -> Iterator[Finding]:
        """A comment holding a serialised object is a payload waiting for a loader that reads it."""
        if len(comment) < 2:
            return
        kind = sniff(BytesBlob(comment))
        if kind.format not in ("text", "empty", "unknown"):
            yield self._finding(
                ctx,
                "zip/comment-payload",
                Severity.MEDIUM,
                f"the archive comment holds {kind.format} data",
                construct="<zip comment>",
            )
            yield from ctx.scan_member(BytesBlob(comment), "<zip comment>")

    def _check_names(self, entries: list[ZipEntry], ctx: ScanContext) -> Iterator[Finding]:
        seen: set[str] = set()
        for entry in entries:
            if entry.name in seen:
                yield self._finding(
                    ctx,
                    "zip/duplicate-name",
                    Severity.HIGH,
                    f"member {entry.name!r} appears twice; readers disagree on which one loads",
                    construct=entry.name,
                )
            seen.add(entry.name)
            if (entry.external_attr >> 16) & 0o170000 == 0o120000:
                yield self._finding(
                    ctx,
                    "zip/symlink",
                    Severity.MEDIUM,
                    f"member {entry.name!r} is a symbolic link; extracting it can expose files "
                    "outside the model directory",
                    construct=entry.name,
                )
            parts = entry.name.replace("\\", "/").split("/")
            if entry.name.startswith(("/", "\\")) or ".." in parts or re.match(r"^[A-Za-z]:", entry.name):
                yield self._finding(
                    ctx,
                    "zip/path-traversal",
                    Severity.HIGH,
                    f"member path {entry.name!r} escapes the extraction directory",
                    construct=entry.name,
                )

    def _locate(self, entry: ZipEntry, data: Buffer, ctx: ScanContext) -> Iterator[Finding]:
        pos = entry.header_offset
        if pos < 0 or pos + _LOCAL.size > len(data):
            yield self._finding(
                ctx,
                "malformed/zip-offset",
                Severity.MEDIUM,
                f"member {entry.name!r} points outside the file",
                construct=entry.name,
            )
            return
        (sig, _, flags, method, _, _, _, _, _, nlen, xlen) = _LOCAL.unpack_from(data, pos)
        if sig != b"PK\x03\x04":
            yield self._finding(
                ctx,
                "zip/bad-local-header",
                Severity.MEDIUM,
                f"local header of {entry.name!r} has a damaged signature; lenient loaders still read it",
                construct=entry.name,
                offset=pos,
            )
        local_name = bytes(data[pos + _LOCAL.size : pos + _LOCAL.size + nlen]).decode("utf-8", "replace")
        if entry.local_name is None and local_name != entry.name:
            yield self._finding(
                ctx,
                "zip/name-mismatch",
                Severity.HIGH,
                f"central directory says {entry.name!r}, local header says {local_name!r}",
                construct=entry.name,
                offset=pos,
            )
        if entry.local_name is None and (method != entry.method or (flags ^ entry.flags) & 0x1):
            yield self._finding(
                ctx,
                "zip/header-mismatch",
                Severity.HIGH,
                f"local and central headers of {entry.name!r} disagree on method or flags",
                construct=entry.name,
                offset=pos,
            )
        entry.data_offset = pos + _LOCAL.size + nlen + xlen
        if entry.data_offset + entry.csize > len(data):
            yield self._finding(
                ctx,
                "malformed/zip-truncated",
                Severity.MEDIUM,
                f"member {entry.name!r} runs past the end of the file",
                construct=entry.name,
            )
            entry.csize = max(0, len(data) - entry.data_offset)

    def _scan_entry(self, entry: ZipEntry, data: Buffer, ctx: ScanContext) -> Iterator[Finding]:
        if entry.flags & 0x1:
            yield self._finding(
                ctx,
                "zip/encrypted-flag",
                Severity.HIGH,
                f"member {entry.name!r} is flagged encrypted; some loaders ignore the flag",
                construct=entry.name,
            )
        raw = data[entry.data_offset : entry.data_offset + entry.csize]
        try:
            content = self._inflate(entry, raw, ctx)
        except LimitExceeded as exc:
            yield self._finding(
                ctx,
                exc.rule_id,
                Severity.HIGH,
                f"member {entry.name!r}: {exc}; not scanned",
                construct=entry.name,
                remediation="inspect the archive by hand",
            )
            return
        except (zlib.error, OSError, EOFError, lzma.LZMAError, ValueError) as exc:
            yield self._finding(
                ctx,
                "malformed/zip-member",
                Severity.MEDIUM,
                f"member {entry.name!r} cannot be decompressed ({exc})",
                construct=entry.name,
            )
            return
        if content is None:
            yield self._finding(
                ctx,
                "zip/unsupported-method",
                Severity.MEDIUM,
                f"member {entry.name!r} uses compression method {entry.method}; not analysed",
                construct=entry.name,
            )
            return
        if zlib.crc32(content) != entry.crc and not entry.flags & 0x1:
            yield self._finding(
                ctx,
                "zip/crc-mismatch",
                Severity.MEDIUM,
                f"member {entry.name!r} fails its CRC check; strict readers skip it, lenient loaders do not",
                construct=entry.name,
            )
        yield from ctx.scan_member(BytesBlob(content), entry.name)

    @staticmethod
    def _inflate(entry: ZipEntry, raw: Buffer, ctx: ScanContext) -> Buffer | None:
        cap = ctx.limits.max_member_bytes
        if entry.method == 0:
            return raw
        if entry.method == 8:
            engine = zlib.decompressobj(-15)
            out = engine.decompress(raw, cap + 1)
        elif entry.method == 12:
            out = bz2.BZ2Decompressor().decompress(bytes(raw), cap + 1)
        elif entry.method == 14:
            out = _lzma_zip(raw, cap)
        else:
            return None
        if len(out) > cap:
            raise LimitExceeded("limit/member-bytes", f"expands past {cap:,} bytes")
        ctx.charge("bytes", len(out))
        return out

    def _hidden_members(
        self, data: Buffer, covered: list[tuple[int, int]], ctx: ScanContext
    ) -> Iterator[Finding]:
        """Local headers in the gaps between listed members: content some readers see and others do not."""
        covered.sort()
        cursor = 0
        gaps: list[tuple[int, int]] = []
        for start, end in covered:
            if start > cursor:
                gaps.append((cursor, start))
            cursor = max(cursor, end)
        for start, end in gaps:
            if end - start > 64 << 20:
                continue
            chunk = bytes(data[start:end])
            at = chunk.find(b"PK\x03\x04")
            if at >= 0:
                yield self._finding(
                    ctx,
                    "zip/hidden-member",
                    Severity.HIGH,
                    "a local file header not listed in the central directory",
                    offset=start + at,
                )
                hidden = read_local_entries(data[start + at : end], 64)
                for entry in hidden:
                    entry.local_name = entry.name
                    yield from self._scan_entry(entry, data[start + at : end], ctx)


def _lzma_zip(raw: Buffer, cap: int) -> bytes:
    # zip's LZMA: 2-byte version, 2-byte properties size, properties, then a raw LZMA1 stream.
    head = bytes(raw[:4])
    (psize,) = struct.unpack_from("<H", head, 2)
    props = bytes(raw[4 : 4 + psize])
    filters = [lzma._decode_filter_properties(lzma.FILTER_LZMA1, props)]  # type: ignore[attr-defined]
    return lzma.LZMADecompressor(lzma.FORMAT_RAW, filters=filters).decompress(
        bytes(raw[4 + psize :]), cap + 1
    )
