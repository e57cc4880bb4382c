"""Minimal reproducers for problems found by ``bench/fuzz_scanner.py``."""

from __future__ import annotations

import io
import tarfile

from mlwarden.scanning import scan_bytes
from mlwarden.scanning.interface import BufferReader

EVIL_PICKLE = b"cos\nsystem\n(S'true'\ntR."


def _tar(name: str, data: bytes) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as archive:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def test_buffer_reader_read_past_the_end_returns_nothing() -> None:
    """readinto after a seek past the end returned a negative count and raised ValueError."""
    reader = BufferReader(b"abc")
    reader.seek(10)
    buffer = bytearray(4)
    assert reader.readinto(buffer) == 0
    assert io.BufferedReader(BufferReader(b"abc")).read() == b"abc"


def test_truncated_tar_whose_next_header_lies_past_the_end() -> None:
    """Found by fuzzing: 'could not be parsed (ValueError: memoryview assignment: lvalue and rvalue
    have different structures)'. tarfile seeks to the next header (past the end of the data) and the
    buffer reader then computed a negative length. Now it is an ordinary end-of-data error.
    """
    raw = _tar("model.pkl", b"x" * 5000)
    truncated = raw[:5600]  # the member's data ends at 5512; the next header would start at 6144
    report = scan_bytes(truncated, "truncated.tar")
    assert report.format == "tar"
    messages = " ".join(f.message for f in report.findings)
    assert report.findings, "a truncated tar must be reported"
    assert "ValueError" not in messages and "memoryview" not in messages, messages


def test_member_after_a_damaged_tar_header_is_scanned() -> None:
    good = _tar("readme.txt", b"hello\n")[:1024]  # header + one data block, no end-of-archive
    evil = _tar("model.pkl", EVIL_PICKLE)
    data = good + b"\x01" * 512 + evil
    report = scan_bytes(data, "hidden.tar")
    assert any(f.construct == "os.system" for f in report.findings), report.findings
    assert "tar/skipped-bytes" in {f.rule_id for f in report.findings}
