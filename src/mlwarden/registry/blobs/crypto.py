"""Envelope encryption at rest: AES-256-GCM with a fresh data key per blob, wrapped by a KEK.

Stored form of one blob::

    header  = magic "MLWBLOB" 0x00 | version 1 | KEK id (8 bytes: SHA-256 of the KEK, truncated)
              | chunk size (u32) | wrapped data key (40 bytes, AES key wrap, RFC 3394) | nonce base (8)
    frame i = AES-256-GCM(data key, nonce = nonce base || i as u32,
                          plaintext = chunk i (``chunk size`` bytes; the last one shorter, maybe empty),
                          aad = header || i as u64 || last flag)

Every frame authenticates the whole header (a changed wrapped key, nonce base or chunk size fails),
its own position (reordered or duplicated frames fail) and whether it is the last (a blob cut at a
frame boundary fails, because the new last frame was sealed as "not last"). Frames are streamed
both ways, so memory stays at one chunk. The content address is still the SHA-256 of the plaintext,
checked after decryption like any other store, so a digest means the same bytes in an encrypted
store and in a plain replica. The KEK never touches the disk through mlwarden; rotating it means
re-wrapping 40 bytes per blob, not re-encrypting the data (not implemented yet).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import struct
from collections.abc import Generator, Iterator
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap, aes_key_wrap

from mlwarden.errors import ConfigError
from mlwarden.registry.blobs.base import (
    BlobCorrupted,
    BlobStore,
    BlobStoreError,
    BlobWriter,
    Chunk,
    RawBlob,
)

MAGIC = b"MLWBLOB\x00"
VERSION = 1
FRAME_CHUNK = 1024 * 1024
TAG = 16
_HEADER = struct.Struct(">8sB8sI40s8s")
HEADER_SIZE = _HEADER.size


def kek_id(kek: bytes) -> bytes:
    """Eight bytes naming a KEK (so "wrong key" is told apart from "damaged blob")."""
    return hashlib.sha256(b"mlwarden-kek-id\x00" + kek).digest()[:8]


def load_kek(spec: str | bytes) -> bytes:
    """The 32-byte KEK from ``file:PATH`` or ``env:VAR`` (raw 32 bytes, 64 hex digits or base64).

    Raw ``bytes`` of length 32 are accepted as they are (for library callers).
    """
    if isinstance(spec, bytes):
        return _decode_kek(spec, "the key given")
    if spec.startswith("env:"):
        var = spec[4:]
        value = os.environ.get(var)
        if not value:
            raise ConfigError(f"KEK: ${var} is not set or empty", hint=f"export {var} with 32 bytes in hex")
        return _decode_kek(value.encode(), f"${var}")
    if spec.startswith("file:"):
        path = Path(spec[5:])
        try:
            return _decode_kek(path.read_bytes(), str(path))
        except OSError as err:
            raise ConfigError(f"cannot read KEK file {path}: {err.strerror or err}") from None
    raise ConfigError(
        f"KEK source {spec!r} is neither file:PATH nor env:VAR",
        hint="write --kek file:/run/secrets/kek or --kek env:MLWARDEN_KEK",
    )


def _decode_kek(data: bytes, where: str) -> bytes:
    if len(data) == 32:
        return data
    text = data.strip()
    if len(text) == 64:
        try:
            return binascii.unhexlify(text)
        except binascii.Error:
            pass
    try:
        key = base64.b64decode(text, validate=True)
    except binascii.Error:
        key = b""
    if len(key) == 32:
        return key
    raise ConfigError(
        f"KEK in {where} is not 32 bytes (raw, 64 hex digits or base64)",
        hint="generate one with: python -c 'import secrets; print(secrets.token_hex(32))'",
    )


def encrypted_size(plain_size: int) -> int:
    """Bytes at rest for ``plain_size`` bytes of plaintext."""
    frames = max(1, -(-plain_size // FRAME_CHUNK))  # the last frame holds 0..FRAME_CHUNK bytes
    return HEADER_SIZE + plain_size + TAG * frames


def _frame_aad(header: bytes, index: int, last: bool) -> bytes:
    return header + struct.pack(">QB", index, 1 if last else 0)


def _nonce(base: bytes, index: int) -> bytes:
    if index >= 1 << 32:
        raise BlobStoreError("blob too large for one data key (2^32 frames)")
    return base + struct.pack(">I", index)


class EncryptedStore(BlobStore):
    """A store whose blobs are sealed with AES-256-GCM before they reach ``inner``.

    Uses only ``inner``'s storage layer, so it stacks on any backend (directory, S3).
    """

    def __init__(self, inner: BlobStore, kek: str | bytes) -> None:
        self.inner = inner
        self.url = inner.url
        self._kek = load_kek(kek)
        self._kek_id = kek_id(self._kek)

    def writer(self, *, expected_digest: str | None = None, size_hint: int | None = None) -> BlobWriter:
        hint = None if size_hint is None else encrypted_size(size_hint)
        return _EncryptingWriter(self, self.inner.writer(expected_digest=expected_digest, size_hint=hint))

    def read_raw(self, digest: str) -> RawBlob:
        raw = self.inner.read_raw(digest)
        try:
            size = self._plain_size(raw.size, digest)
        except BlobCorrupted:
            raw.chunks.close()
            raise
        return RawBlob(size, self._decrypt(digest, raw.chunks))

    def exists(self, digest: str) -> bool:
        return self.inner.exists(digest)

    def delete(self, digest: str) -> bool:
        return self.inner.delete(digest)

    def iter_digests(self) -> Iterator[str]:
        return self.inner.iter_digests()

    def modified(self, digest: str) -> float:
        return self.inner.modified(digest)

    def stored_size(self, digest: str) -> int:
        return self._plain_size(self.inner.stored_size(digest), digest)

    def _plain_size(self, stored: int, digest: str) -> int:
        body = stored - HEADER_SIZE
        if body < TAG:
            raise BlobCorrupted(digest, self.url, "too short for an encrypted blob")
        frames = -(-body // (FRAME_CHUNK + TAG))
        return body - TAG * frames

    def _decrypt(self, digest: str, chunks: Generator[bytes, None, None]) -> Generator[bytes, None, None]:
        try:
            buf = bytearray()
            header: bytes | None = None
            cipher: AESGCM | None = None
            nonce_base = b""
            index = 0
            frame = FRAME_CHUNK + TAG
            for chunk in chunks:
                buf += chunk
                if header is None:
                    if len(buf) < HEADER_SIZE:
                        continue
                    header = bytes(buf[:HEADER_SIZE])
                    del buf[:HEADER_SIZE]
                    cipher, nonce_base, frame = self._open_header(digest, header)
                assert cipher is not None
                start = 0
                while len(buf) - start > frame:  # more than a frame left: this one is not the last
                    yield self._open_frame(
                        digest, cipher, nonce_base, header, index, buf[start : start + frame]
                    )
                    index += 1
                    start += frame
                del buf[:start]
            if header is None or cipher is None:
                raise BlobCorrupted(digest, self.url, "truncated header")
            yield self._open_frame(digest, cipher, nonce_base, header, index, buf, last=True)
        finally:
            chunks.close()

    def _open_header(self, digest: str, header: bytes) -> tuple[AESGCM, bytes, int]:
        magic, version, key_id, chunk, wrapped, nonce_base = _HEADER.unpack(header)
        if magic != MAGIC:
            raise BlobCorrupted(digest, self.url, "not an mlwarden encrypted blob")
        if version != VERSION:
            raise BlobCorrupted(digest, self.url, f"unknown encryption format version {version}")
        if key_id != self._kek_id:
            raise BlobStoreError(
                f"blob sha256:{digest} in {self.url} was encrypted with another key-encryption key "
                f"(id {key_id.hex()}, this one is {self._kek_id.hex()})",
                hint="give the KEK this store was written with",
            )
        if chunk != FRAME_CHUNK:
            raise BlobCorrupted(digest, self.url, f"unsupported frame size {chunk}")
        try:
            data_key = aes_key_unwrap(self._kek, wrapped)
        except InvalidUnwrap:
            raise BlobCorrupted(digest, self.url, "the wrapped data key does not unwrap") from None
        return AESGCM(data_key), nonce_base, chunk + TAG

    def _open_frame(
        self,
        digest: str,
        cipher: AESGCM,
        nonce_base: bytes,
        header: bytes,
        index: int,
        sealed: bytes | bytearray,
        *,
        last: bool = False,
    ) -> bytes:
        if len(sealed) < TAG:
            raise BlobCorrupted(digest, self.url, f"frame {index} truncated")
        try:
            return cipher.decrypt(_nonce(nonce_base, index), bytes(sealed), _frame_aad(header, index, last))
        except InvalidTag:
            raise BlobCorrupted(
                digest, self.url, f"frame {index} fails authentication (tampered, truncated or reordered)"
            ) from None


class _EncryptingWriter(BlobWriter):
    def __init__(self, store: EncryptedStore, inner: BlobWriter) -> None:
        self._inner = inner
        data_key = AESGCM.generate_key(bit_length=256)
        self._cipher = AESGCM(data_key)
        self._nonce_base = os.urandom(8)
        wrapped = aes_key_wrap(store._kek, data_key)
        self._header = _HEADER.pack(MAGIC, VERSION, store._kek_id, FRAME_CHUNK, wrapped, self._nonce_base)
        self._buf = bytearray()
        self._index = 0
        try:
            inner.write(self._header)
        except BaseException:
            inner.abort()
            raise

    def write(self, data: Chunk) -> None:
        self._buf += data
        start = 0
        while len(self._buf) - start > FRAME_CHUNK:  # held back until we know it is not the last
            self._seal(self._buf[start : start + FRAME_CHUNK], last=False)
            start += FRAME_CHUNK
        del self._buf[:start]

    def commit(self, digest: str) -> None:
        self._seal(self._buf, last=True)
        self._buf = bytearray()
        self._inner.commit(digest)

    def abort(self) -> None:
        self._buf = bytearray()
        self._inner.abort()

    def _seal(self, plain: bytearray, *, last: bool) -> None:
        nonce = _nonce(self._nonce_base, self._index)
        self._inner.write(
            self._cipher.encrypt(nonce, bytes(plain), _frame_aad(self._header, self._index, last))
        )
        self._index += 1
