"""Decide a blob's format from its bytes. Extensions are never consulted."""

from __future__ import annotations

import json
import pickletools
import struct

from mlwarden.scanning.interface import Blob, FileSniff

FORMATS = (
    "zip",
    "tar",
    "7z",
    "gzip",
    "bz2",
    "xz",
    "lz4",
    "lzma",
    "zlib",
    "numpy",
    "hdf5",
    "gguf",
    "safetensors",
    "protobuf",
    "pickle",
    "json",
    "python",
    "jinja",
    "text",
    "empty",
    "unknown",
)

_EOCD = b"PK\x05\x06"
_ZIP64_EOCD_LOCATOR = b"PK\x06\x07"
# Every opcode that can open a stream (CPython needs no PROTO header): value pushes, MARK, GLOBAL, FRAME.
_PICKLE_PROTOCOL_0_1_STARTS = frozenset(
    b"(cK}]).NI]JFSVXUGc\x8c\x95LMPTBC\x82\x83\x84\x88\x89\x8a\x8b\x8d\x8e\x8f\x96\x97"
)
_PICKLE_OPCODES = frozenset(ord(op.code) for op in pickletools.opcodes if len(op.code) == 1)
_TEXT_BYTES = frozenset(range(32, 127)) | {9, 10, 13}


def sniff(blob: Blob) -> FileSniff:
    """Name the format of ``blob`` (one of ``FORMATS``) from magic bytes and structure."""
    size = len(blob)
    if size == 0:
        return FileSniff("empty")
    head = blob.head(512)
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")):
        return FileSniff("zip")
    if head.startswith(b"\x89HDF\r\n\x1a\n"):
        return FileSniff("hdf5")
    if head.startswith(b"\x93NUMPY"):
        return FileSniff("numpy")
    if head.startswith(b"GGUF"):
        return FileSniff("gguf")
    if head.startswith(b"7z\xbc\xaf\x27\x1c"):
        return FileSniff("7z")
    if head.startswith(b"\x1f\x8b"):
        return FileSniff("gzip")
    if head.startswith(b"BZh") and len(head) > 3 and head[3:4] in b"123456789":
        return FileSniff("bz2")
    if head.startswith(b"\xfd7zXZ\x00"):
        return FileSniff("xz")
    if head.startswith(b"\x04\x22\x4d\x18"):
        return FileSniff("lz4")
    if head.startswith(b"\x5d\x00\x00") and len(head) >= 13:
        return FileSniff("lzma")  # legacy .lzma ("alone") stream, as joblib's compress="lzma" writes
    if len(head) >= 262 and head[257:262] == b"ustar":
        return FileSniff("tar")
    if head[:1] == b"\x80" and len(head) > 1 and not _safetensors_not_pickle(blob, head):
        # A PROTO header; an unknown protocol number still goes to the pickle scanner, which reports it.
        return FileSniff("pickle", f"protocol {head[1]}")
    if _is_safetensors(blob, head):
        return FileSniff("safetensors")
    if _zip_trailer(blob):
        # The local header magic was overwritten, but the central directory is intact:
        # zip readers that trust the end record (Python's zipfile, torch.load) still open it.
        return FileSniff("zip", "damaged local header magic")
    if len(head) >= 2 and head[0] == 0x78 and (head[0] << 8 | head[1]) % 31 == 0:
        return FileSniff("zlib")
    if _looks_like_protobuf(head):
        return FileSniff("protobuf")
    if head[0] in _PICKLE_PROTOCOL_0_1_STARTS and _pickle_0_1_plausible(blob):
        return FileSniff("pickle", "protocol 0/1")
    return _sniff_text(blob, head)


def _zip_trailer(blob: Blob) -> bool:
    tail = blob.tail(65_557)  # 22-byte end record + up to 64 KiB comment
    return _EOCD in tail or _ZIP64_EOCD_LOCATOR in tail


def _safetensors_not_pickle(blob: Blob, head: bytes) -> bool:
    """A safetensors header length whose low byte is 0x80 reads as a PROTO opcode (1 file in 32).

    It is safetensors, and can never load as a pickle, only when the byte after PROTO's argument is
    not a pickle opcode: pickle.load would fail right there. A file whose third byte *is* an opcode
    stays a pickle, so a pickle/safetensors polyglot is still scanned as the pickle it can be.
    """
    return len(head) > 2 and head[2] not in _PICKLE_OPCODES and _is_safetensors(blob, head)


def _is_safetensors(blob: Blob, head: bytes) -> bool:
    if len(head) < 10:
        return False
    (n,) = struct.unpack_from("<Q", head)
    return 2 <= n <= len(blob) - 8 and head[8:9] == b"{"


def _looks_like_protobuf(head: bytes) -> bool:
    # ONNX ModelProto, TF SavedModel and GraphDef all start with field 1 (varint) or field 1/2 (bytes).
    if len(head) < 4 or head[0] not in (0x08, 0x0A, 0x12):
        return False
    try:
        pos, fields = 0, 0
        while pos < len(head) and fields < 4:
            key, pos = _varint(head, pos)
            number, wire = key >> 3, key & 7
            if number == 0 or number > 1000:
                return False
            if wire == 0:
                _, pos = _varint(head, pos)
            elif wire == 2:
                length, pos = _varint(head, pos)
                pos += length
            elif wire in (1, 5):
                pos += 8 if wire == 1 else 4
            else:
                return False
            fields += 1
    except IndexError:
        return fields >= 1
    return True


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise IndexError("varint too long")


def _pickle_0_1_plausible(blob: Blob) -> bool:
    # Protocol 0/1 pickles have no header; accept when the stream decodes cleanly to a STOP.
    from mlwarden.scanning._formats.pickle_vm import decodes_as_pickle  # noqa: PLC0415

    return decodes_as_pickle(blob.data())


def _sniff_text(blob: Blob, head: bytes) -> FileSniff:
    sample = head[:512]
    if b"\x00" in sample:
        return FileSniff("unknown")  # NUL is valid UTF-8 but never appears in text files
    if any(b not in _TEXT_BYTES for b in sample):
        try:
            sample.decode("utf-8")
        except UnicodeDecodeError as exc:
            cut_at_edge = len(blob) > len(sample) and exc.start >= len(sample) - 3
            if not cut_at_edge:  # a multi-byte character cut by the 512-byte window is still text
                return FileSniff("unknown")
    stripped = sample.lstrip()
    if stripped[:1] in (b"{", b"["):
        if len(blob) <= 64 << 20:
            try:
                json.loads(bytes(blob.data()))
                return FileSniff("json")
            except (ValueError, UnicodeDecodeError):
                pass
        return FileSniff("text", "json-like")
    if stripped.startswith((b"import ", b"from ", b"#!/usr/bin/env python", b"def ", b"class ")):
        return FileSniff("python")
    return FileSniff("text")
