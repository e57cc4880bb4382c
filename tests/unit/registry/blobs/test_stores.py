"""The BlobStore contract, the same tests on the directory store and on S3 (a real moto server)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlwarden.registry.blobs import (
    BlobCorrupted,
    BlobDigestMismatch,
    BlobNotFound,
    BlobStoreError,
    check,
)

from .conftest import MakeStore, corrupt, leftovers

MIB = 1024 * 1024


def _data(size: int, seed: int = 0) -> bytes:
    return (
        (hashlib.sha256(str(seed).encode()).digest() * (size // 32 + 1))[:size]
        if size < MIB
        else os.urandom(size)
    )


@pytest.mark.parametrize("size", [0, 1, 1000, 5 * MIB, 12 * MIB + 7])
def test_round_trip(make_store: MakeStore, size: int) -> None:
    store = make_store()
    data = _data(size)
    info = store.put([data[i : i + MIB] for i in range(0, len(data), MIB)])
    assert info.digest == hashlib.sha256(data).hexdigest()
    assert info.size == size
    assert store.exists(info.digest)
    assert store.size(info.digest) == size
    with store.open(info.digest) as reader:
        assert b"".join(reader) == data
        assert reader.verified
    assert list(store.iter_digests()) == [info.digest]
    assert leftovers(store) == []


def test_put_file_and_get_file(make_store: MakeStore, tmp_path: Path) -> None:
    store = make_store()
    src = tmp_path / "model.bin"
    data = os.urandom(11 * MIB + 3)
    src.write_bytes(data)
    info = store.put_file(src)
    assert info.digest == hashlib.sha256(data).hexdigest()
    again = store.put_file(src, expected_digest=info.digest)  # idempotent: same address
    assert again == info
    dest = tmp_path / "out" / "model.bin"
    dest.parent.mkdir()
    assert store.get_file(info.digest, dest) == info
    assert dest.read_bytes() == data
    assert [p.name for p in dest.parent.iterdir()] == ["model.bin"]


def test_put_from_file_object(make_store: MakeStore, tmp_path: Path) -> None:
    store = make_store()
    src = tmp_path / "f"
    data = os.urandom(6 * MIB)
    src.write_bytes(data)
    with src.open("rb") as fh:
        info = store.put(fh)
    assert info.digest == hashlib.sha256(data).hexdigest()


def test_interrupted_upload_leaves_nothing(make_store: MakeStore) -> None:
    store = make_store()

    def chunks() -> Iterator[bytes]:
        for _ in range(12):
            yield os.urandom(MIB)  # beyond two S3 parts: the multipart upload has started
        raise ConnectionError("client went away")

    with pytest.raises(ConnectionError):
        store.put(chunks())
    assert list(store.iter_digests()) == []
    assert leftovers(store) == []


def test_expected_digest_mismatch_refused(make_store: MakeStore) -> None:
    store = make_store()
    data = os.urandom(7 * MIB)
    claimed = hashlib.sha256(b"something else").hexdigest()
    with pytest.raises(BlobDigestMismatch) as err:
        store.put([data], expected_digest=claimed)
    assert claimed in str(err.value)
    assert not store.exists(claimed)
    assert list(store.iter_digests()) == []
    assert leftovers(store) == []
    good = store.put([data], expected_digest=hashlib.sha256(data).hexdigest())
    assert store.exists(good.digest)


def test_corruption_detected_at_read_and_by_check(make_store: MakeStore, tmp_path: Path) -> None:
    store = make_store()
    data = os.urandom(6 * MIB)
    info = store.put([data])
    other = store.put([b"intact"])
    corrupt(store, info.digest)
    received: list[bytes] = []
    with pytest.raises(BlobCorrupted) as err, store.open(info.digest) as reader:
        received.extend(reader)
    assert info.digest in str(err.value)
    assert sum(map(len, received)) < len(data)  # the last chunk is withheld until verified
    dest = tmp_path / "out.bin"
    with pytest.raises(BlobCorrupted):
        store.get_file(info.digest, dest)
    assert not dest.exists()
    assert list(tmp_path.glob(".out.bin*")) == []
    report = check([store])
    assert not report.ok
    assert [(p.digest, p.kind) for p in report.problems] == [(info.digest, "corrupted")]
    assert report.copies_verified == 1
    assert other.digest not in {p.digest for p in report.problems}


def test_truncated_blob_detected(make_store: MakeStore) -> None:
    store = make_store()
    info = store.put([os.urandom(1000)])
    corrupt(store, info.digest)
    with pytest.raises(BlobCorrupted):
        b"".join(store.open(info.digest))


def test_missing_and_delete(make_store: MakeStore) -> None:
    store = make_store()
    absent = hashlib.sha256(b"absent").hexdigest()
    with pytest.raises(BlobNotFound):
        store.open(absent)
    with pytest.raises(BlobNotFound):
        store.size(absent)
    assert not store.exists(absent)
    info = store.put([b"x" * 100])
    assert store.delete(info.digest)
    assert not store.delete(info.digest)
    assert not store.exists(info.digest)


@pytest.mark.parametrize("bad", ["../../etc/passwd", "A" * 64, "sha256:" + "a" * 64, "a" * 63])
def test_digest_must_be_plain_hex(make_store: MakeStore, bad: str) -> None:
    store = make_store()
    with pytest.raises(BlobStoreError):
        store.open(bad)
    with pytest.raises(BlobStoreError):
        store.put([b"x"], expected_digest=bad)


def test_modified_and_adopt_in_every_store(make_store: MakeStore, tmp_path: Path) -> None:
    """``modified`` (garbage collection's age) is recent after a write; ``adopt`` stores a staged file,
    renamed on a local store, copied and checked elsewhere (also behind encryption and replication)."""
    import time

    from mlwarden.registry.blobs import LocalBlobStore, ReplicatedStore
    from mlwarden.registry.blobs.crypto import EncryptedStore

    stores = [
        make_store(),
        EncryptedStore(make_store(), os.urandom(32)),
        ReplicatedStore(make_store(), [make_store()]),
    ]
    for store in stores:
        staged = tmp_path / f"staged-{id(store)}"
        staged.write_bytes(b"weights" * 1000)
        digest = hashlib.sha256(staged.read_bytes()).hexdigest()
        info = store.adopt(staged, digest)
        assert info.digest == digest
        assert abs(store.modified(digest) - time.time()) < 120
        with store.open(digest) as reader:
            assert b"".join(reader) == b"weights" * 1000
        with pytest.raises(BlobNotFound):
            store.modified("0" * 64)
        wrong = tmp_path / f"wrong-{id(store)}"
        wrong.write_bytes(b"other bytes")
        if not isinstance(store, LocalBlobStore):  # only the local store trusts the caller's digest
            with pytest.raises(BlobDigestMismatch):
                store.adopt(wrong, "1" * 64)
