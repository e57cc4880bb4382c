"""The directory store: layout, durability, staging clean-up and streaming in bounded memory."""

from __future__ import annotations

import hashlib
import os
import stat
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlwarden.registry.blobs import BlobStoreError, LocalBlobStore, open_store

MIB = 1024 * 1024


def test_layout_and_read_only(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "s")
    info = store.put([b"hello"])
    d = info.digest
    path = tmp_path / "s" / "sha256" / d[:2] / d[2:4] / d
    assert store.path_of(d) == path
    assert path.read_bytes() == b"hello"
    assert stat.S_IMODE(path.stat().st_mode) == 0o444
    (path.parent / "not-a-digest").write_bytes(b"")
    assert list(store.iter_digests()) == [d]


def test_clean_temp_removes_crash_leftovers(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "s")
    (tmp_path / "s" / "tmp" / "upload-crashed.part").write_bytes(b"half")
    assert store.clean_temp(older_than=3600) == 0  # may still be in progress elsewhere
    assert store.clean_temp(older_than=0) == 1
    assert store.temp_files() == []


def test_put_file_refuses_a_source_that_changes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mlwarden.registry.blobs import local

    src = tmp_path / "src"
    src.write_bytes(os.urandom(MIB))
    real = local._copy_and_hash

    def copy_then_touch(s: int, d: int, size: int, *, sync: bool) -> str:
        digest = real(s, d, size, sync=sync)
        os.utime(src, ns=(1, 1))
        return digest

    monkeypatch.setattr(local, "_copy_and_hash", copy_then_touch)
    store = LocalBlobStore(tmp_path / "s")
    with pytest.raises(BlobStoreError, match="changed"):
        store.put_file(src)
    assert list(store.iter_digests()) == []
    assert store.temp_files() == []


def test_fallback_copy_without_kernel_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(os, "copy_file_range", raising=False)
    monkeypatch.delattr(os, "sendfile", raising=False)
    src = tmp_path / "src"
    data = os.urandom(3 * MIB + 1)
    src.write_bytes(data)
    store = LocalBlobStore(tmp_path / "s")
    info = store.put_file(src)
    assert store.path_of(info.digest).read_bytes() == data


def test_open_store_urls(tmp_path: Path) -> None:
    assert isinstance(open_store(tmp_path / "a"), LocalBlobStore)
    store = open_store((tmp_path / "b").as_uri())
    assert isinstance(store, LocalBlobStore)
    assert store.root == tmp_path / "b"
    with pytest.raises(BlobStoreError, match="unsupported"):
        open_store("ftp://example.org/blobs")
    with pytest.raises(BlobStoreError, match="host"):
        open_store("file://server/share")


def test_streaming_256_mib_in_bounded_memory(tmp_path: Path) -> None:
    """A 256 MiB blob goes in (generator, file object, put_file) and out (open, get_file) without
    Python ever holding more than a few chunks."""
    size = 256 * MIB
    block = os.urandom(MIB)
    src = tmp_path / "big.bin"
    with src.open("wb") as fh:
        for _ in range(size // MIB):
            fh.write(block)
    expected = hashlib.sha256()
    for _ in range(size // MIB):
        expected.update(block)
    store = LocalBlobStore(tmp_path / "s", durable=False)

    def chunks() -> Iterator[bytes]:
        for _ in range(size // MIB):
            yield block

    limit = 32 * MIB
    tracemalloc.start()
    try:
        info = store.put(chunks())
        _, peak_put = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        with src.open("rb") as fh:
            assert store.put(fh) == info
        _, peak_stream = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        assert store.put_file(src) == info
        _, peak_file = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        got = hashlib.sha256()
        with store.open(info.digest) as reader:
            for chunk in reader:
                got.update(chunk)
        _, peak_open = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        store.get_file(info.digest, tmp_path / "out.bin")
        _, peak_get = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert info.digest == expected.hexdigest() == got.hexdigest()
    assert info.size == size
    assert (tmp_path / "out.bin").stat().st_size == size
    for peak in (peak_put, peak_stream, peak_file, peak_open, peak_get):
        assert peak < limit, f"peak {peak / MIB:.1f} MiB"
