"""Tar, 7z and single-stream compression (gzip, bz2, xz, lz4, zlib): unpack with limits, scan members."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import tarfile
import zlib
from collections.abc import Iterator
from typing import Any, ClassVar

from mlwarden.core.types import Finding, Severity
from mlwarden.scanning.interface import Blob, BufferReader, BytesBlob, LimitExceeded, ScanContext, Scanner


def _reader(view: memoryview | bytes) -> io.BufferedReader:
    return io.BufferedReader(BufferReader(view), buffer_size=1 << 20)


def _read_capped(stream: Any, ctx: ScanContext, what: str) -> bytes:
    cap = ctx.limits.max_member_bytes
    out = stream.read(cap + 1)
    if len(out) > cap:
        raise LimitExceeded("limit/member-bytes", f"{what} expands past {cap:,} bytes")
    ctx.charge("bytes", len(out))
    return bytes(out)


class TarScanner(Scanner):
    """POSIX/GNU tar: every regular member is sniffed and scanned; links and devices are findings."""

    name: ClassVar[str] = "tar"
    formats: ClassVar[frozenset[str]] = frozenset({"tar"})

    def scan(self, blob: Blob, ctx: ScanContext) -> Iterator[Finding]:
        # ignore_zeros: like GNU tar, skip a damaged header and go on reading the members after it.
        with tarfile.open(fileobj=_reader(blob.data()), mode="r:", ignore_zeros=True) as archive:
            expected = 0
            for member in archive:
                ctx.check_time()
                if member.offset > expected:
                    yield ctx.finding(
                        "tar/skipped-bytes",
                        Severity.MEDIUM,
                        f"{member.offset - expected:,} bytes before {member.name!r} are not a valid member",
                        scanner=self.name,
                        offset=expected,
                        remediation="re-create the archive; damaged headers hide content from some readers",
                    )
                expected = member.offset_data + -(-member.size // tarfile.BLOCKSIZE) * tarfile.BLOCKSIZE
                if not member.isreg():
                    expected = member.offset_data
                if member.issym() or member.islnk():
                    target = member.linkname
                    if target.startswith("/") or ".." in target.split("/"):
                        yield ctx.finding(
                            "tar/link-escape",
                            Severity.HIGH,
                            f"link {member.name!r} points outside the archive ({target})",
                            scanner=self.name,
                            construct=member.name,
                            remediation="ship files, not links out of the model directory",
                        )
                    continue
                if member.name.startswith("/") or ".." in member.name.split("/"):
                    yield ctx.finding(
                        "tar/path-traversal",
                        Severity.HIGH,
                        f"member path {member.name!r} escapes the extraction directory",
                        scanner=self.name,
                        construct=member.name,
                        remediation="re-create the archive with relative paths",
                    )
                if member.isdev() or member.isfifo():
                    yield ctx.finding(
                        "tar/special-file",
                        Severity.MEDIUM,
                        f"member {member.name!r} is a device or FIFO",
                        scanner=self.name,
                        construct=member.name,
                        remediation="remove it from the archive",
                    )
                    continue
                if not member.isfile():
                    continue
                if member.size > ctx.limits.max_member_bytes:
                    yield ctx.finding(
                        "limit/member-bytes",
                        Severity.HIGH,
                        f"member {member.name!r} is larger than {ctx.limits.max_member_bytes:,} "
                        "bytes; not scanned",
                        scanner=self.name,
                        construct=member.name,
                        remediation="scan the extracted file directly",
                    )
                    continue
                handle = archive.extractfile(member)
                if handle is None:
                    continue
                data = _read_capped(handle, ctx, member.name)
                yield from ctx.scan_member(BytesBlob(data), member.name)


class SevenZipScanner(Scanner):
    """7z archives, through py7zr (pure Python decoding, nothing executed)."""

    name: ClassVar[str] = "7z"
    formats: ClassVar[frozenset[str]] = frozenset({"7z"})

    def scan(self, blob: Blob, ctx: ScanContext) -> Iterator[Finding]:
        import py7zr  # noqa: PLC0415 - only archives of this kind pay for the import

        try:
            with py7zr.SevenZipFile(_reader(blob.data()), mode="r") as archive:
                infos = [i for i in archive.list() if not i.is_directory]
                declared = sum(i.uncompressed or 0 for i in infos)
                if declared > ctx.limits.max_total_bytes:
                    raise LimitExceeded("limit/bytes", f"7z archive declares {declared:,} uncompressed bytes")
                ctx.charge("members", len(infos))
                contents = _read_7z(archive, ctx)
        except py7zr.exceptions.PasswordRequired:
            yield ctx.finding(
                "archive/encrypted",
                Severity.HIGH,
                "7z archive is encrypted; content not analysed",
                scanner=self.name,
                remediation="scan the decrypted archive",
            )
            return
        for name, data in contents:
            yield from ctx.scan_member(BytesBlob(data), name)


def _read_7z(archive: Any, ctx: ScanContext) -> list[tuple[str, bytes]]:
    import py7zr  # noqa: PLC0415

    out: list[tuple[str, bytes]] = []
    cap = ctx.limits.max_member_bytes

    class _Sink(py7zr.io.Py7zIO):
        def __init__(self, name: str) -> None:
            self.name = name
            self.buf = io.BytesIO()

        def write(self, s: bytes | bytearray) -> int:
            if self.buf.tell() + len(s) > cap:
                raise LimitExceeded("limit/member-bytes", f"{self.name} expands past {cap:,} bytes")
            ctx.charge("bytes", len(s))
            return self.buf.write(s)

        def read(self, size: int | None = None) -> bytes:
            return b""

        def seek(self, offset: int, whence: int = 0) -> int:
            return self.buf.seek(offset, whence)

        def flush(self) -> None:
            return None

        def size(self) -> int:
            return self.buf.tell()

    class _Factory(py7zr.io.WriterFactory):
        def __init__(self) -> None:
            self.sinks: dict[str, _Sink] = {}

        def create(self, filename: str) -> _Sink:
            sink = _Sink(filename)
            self.sinks[filename] = sink
            return sink

    factory = _Factory()
    archive.extractall(factory=factory)  # noqa: S202 - into memory sinks, never to disk
    for name, sink in factory.sinks.items():
        out.append((name, sink.buf.getvalue()))
    return out


class CompressedScanner(Scanner):
    """One compressed stream (gzip, bz2, xz, lz4 frame, zlib), as joblib writes them: decompress and sniff."""

    name: ClassVar[str] = "compressed"
    formats: ClassVar[frozenset[str]] = frozenset({"gzip", "bz2", "xz", "lzma", "lz4", "zlib"})

    def scan(self, blob: Blob, ctx: ScanContext) -> Iterator[Finding]:
        fmt = ctx.formats.get(ctx.member or "", "")
        try:
            data = self._decompress(fmt, blob, ctx)
        except LimitExceeded:
            raise
        except (OSError, EOFError, lzma.LZMAError, zlib.error, RuntimeError, ValueError) as exc:
            yield ctx.finding(
                "malformed/compressed",
                Severity.MEDIUM,
                f"{fmt} stream is damaged ({exc})",
                scanner=self.name,
                remediation="re-create the file",
            )
            return
        yield from ctx.scan_member(BytesBlob(data), f"<{fmt}>")

    @staticmethod
    def _decompress(fmt: str, blob: Blob, ctx: ScanContext) -> bytes:
        raw = _reader(blob.data())
        if fmt == "gzip":
            return _read_capped(gzip.GzipFile(fileobj=raw), ctx, "gzip stream")
        if fmt == "bz2":
            return _read_capped(bz2.BZ2File(raw), ctx, "bz2 stream")
        if fmt == "xz":
            return _read_capped(lzma.LZMAFile(raw), ctx, "xz stream")
        if fmt == "lzma":
            return _read_capped(lzma.LZMAFile(raw, format=lzma.FORMAT_ALONE), ctx, "lzma stream")
        if fmt == "lz4":
            import lz4.frame  # noqa: PLC0415

            return _read_capped(lz4.frame.LZ4FrameFile(raw), ctx, "lz4 stream")
        engine = zlib.decompressobj()
        out = engine.decompress(blob.data(), ctx.limits.max_member_bytes + 1)
        if len(out) > ctx.limits.max_member_bytes:
            raise LimitExceeded("limit/member-bytes", "zlib stream expands too far")
        ctx.charge("bytes", len(out))
        return out
