"""Envelope encryption: round trip, ciphertext at rest, wrong key, tampering of every kind."""

from __future__ import annotations

import base64
import hashlib
import os
import struct
from pathlib import Path

import pytest

from mlwarden.errors import ConfigError
from mlwarden.registry.blobs import BlobCorrupted, BlobStore, BlobStoreError, LocalBlobStore, check
from mlwarden.registry.blobs.crypto import (
    FRAME_CHUNK,
    HEADER_SIZE,
    TAG,
    EncryptedStore,
    encrypted_size,
    load_kek,
)

from .conftest import MakeStore

KEK = bytes(range(32))


def _stored(store: EncryptedStore, digest: str) -> bytes:
    raw = store.inner.read_raw(digest)
    return b"".join(raw.chunks)


def _replace(store: EncryptedStore, digest: str, data: bytes) -> None:
    inner: BlobStore = store.inner
    inner.delete(digest)
    writer = inner.writer()
    writer.write(data)
    writer.commit(digest)


@pytest.mark.parametrize("size", [0, 1, FRAME_CHUNK - 1, FRAME_CHUNK, FRAME_CHUNK + 1, 3 * FRAME_CHUNK + 5])
def test_round_trip_and_ciphertext_at_rest(make_store: MakeStore, size: int, tmp_path: Path) -> None:
    store = EncryptedStore(make_store(), KEK)
    data = os.urandom(size)
    info = store.put([data[: size // 3], data[size // 3 :]])
    assert info.digest == hashlib.sha256(data).hexdigest()
    assert store.size(info.digest) == size
    assert b"".join(store.open(info.digest)) == data
    stored = _stored(store, info.digest)
    assert len(stored) == encrypted_size(size)
    if size >= 32:
        assert data[:32] not in stored
    store.get_file(info.digest, tmp_path / "out")
    assert (tmp_path / "out").read_bytes() == data
    assert check([store]).ok


def test_same_plaintext_encrypts_differently(tmp_path: Path) -> None:
    a = EncryptedStore(LocalBlobStore(tmp_path / "a"), KEK)
    b = EncryptedStore(LocalBlobStore(tmp_path / "b"), KEK)
    d = a.put([b"x" * 5000]).digest
    assert b.put([b"x" * 5000]).digest == d  # same content address
    assert _stored(a, d) != _stored(b, d)  # fresh data key and nonce per blob


def test_wrong_kek_fails(tmp_path: Path) -> None:
    store = EncryptedStore(LocalBlobStore(tmp_path / "s"), KEK)
    d = store.put([b"secret weights" * 100]).digest
    other = EncryptedStore(LocalBlobStore(tmp_path / "s"), bytes(32))
    with pytest.raises(BlobStoreError, match="another key-encryption key"):
        b"".join(other.open(d))
    assert not check([other]).ok


def _blob(tmp_path: Path, frames: int) -> tuple[EncryptedStore, str, bytes, bytes]:
    store = EncryptedStore(LocalBlobStore(tmp_path / "s"), KEK)
    data = os.urandom(frames * FRAME_CHUNK - 10)
    d = store.put([data]).digest
    return store, d, data, _stored(store, d)


def test_truncation_at_a_frame_boundary_fails(tmp_path: Path) -> None:
    store, d, _, stored = _blob(tmp_path, 3)
    _replace(store, d, stored[: HEADER_SIZE + 2 * (FRAME_CHUNK + TAG)])
    with pytest.raises(BlobCorrupted, match="authentication"):
        b"".join(store.open(d))


def test_reordered_frames_fail(tmp_path: Path) -> None:
    store, d, _, stored = _blob(tmp_path, 3)
    frame = FRAME_CHUNK + TAG
    body = stored[HEADER_SIZE:]
    swapped = stored[:HEADER_SIZE] + body[frame : 2 * frame] + body[:frame] + body[2 * frame :]
    _replace(store, d, swapped)
    with pytest.raises(BlobCorrupted, match="frame 0"):
        b"".join(store.open(d))


@pytest.mark.parametrize("offset", [0, 9, 13, 20, 45, 60, HEADER_SIZE + 5, -1])
def test_tampered_header_or_frame_fails(tmp_path: Path, offset: int) -> None:
    store, d, _, stored = _blob(tmp_path, 2)
    data = bytearray(stored)
    data[offset] ^= 0x80
    _replace(store, d, bytes(data))
    with pytest.raises(BlobStoreError):
        b"".join(store.open(d))
    assert [p.kind for p in check([store]).problems] in (["corrupted"], ["unreadable"])


def test_header_fields_are_authenticated(tmp_path: Path) -> None:
    """The frame size is part of every frame's AAD: a header claiming another size is refused."""
    store, d, _, stored = _blob(tmp_path, 1)
    patched = stored[:17] + struct.pack(">I", FRAME_CHUNK * 2) + stored[21:]
    _replace(store, d, patched)
    with pytest.raises(BlobCorrupted):
        b"".join(store.open(d))


def test_load_kek_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    raw = tmp_path / "raw"
    raw.write_bytes(KEK)
    hexed = tmp_path / "hex"
    hexed.write_text(KEK.hex() + "\n")
    monkeypatch.setenv("MLW_TEST_KEK", base64.b64encode(KEK).decode())
    assert load_kek(f"file:{raw}") == load_kek(f"file:{hexed}") == load_kek("env:MLW_TEST_KEK") == KEK
    monkeypatch.setenv("MLW_SHORT", "abcd")
    for bad in ["env:MLW_SHORT", "env:MLW_UNSET_VAR", f"file:{tmp_path / 'nope'}", "plain-string"]:
        with pytest.raises(ConfigError):
            load_kek(bad)
