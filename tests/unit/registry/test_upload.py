"""The push-driven tar parser and the upload receiver, on archives written by ``tarfile`` itself."""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
import threading
from pathlib import Path

import pytest

from mlwarden.hashing import HashingConfig, hash_model
from mlwarden.registry.auth import ProblemError
from mlwarden.registry.blobs import LocalBlobStore
from mlwarden.registry.tarstream import TarFeed, TarStreamError, archive_size, tar_chunks
from mlwarden.registry.upload import UploadReceiver


class Collect(TarFeed):
    def __init__(self) -> None:
        super().__init__()
        self.files: dict[str, bytes] = {}
        self.dirs: list[str] = []
        self._name = ""

    def begin(self, info: tarfile.TarInfo) -> None:
        if info.isdir():
            self.dirs.append(info.name)
        else:
            self._name = info.name
            self.files[info.name] = b""

    def data(self, chunk: memoryview) -> None:
        self.files[self._name] += bytes(chunk)


def make_tar(members: dict[str, bytes], fmt: int = tarfile.PAX_FORMAT, dirs: tuple[str, ...] = ()) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=fmt) as tar:
        for d in dirs:
            info = tarfile.TarInfo(d)
            info.type = tarfile.DIRTYPE
            tar.addfile(info)
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def parse(blob: bytes, step: int) -> Collect:
    feed = Collect()
    for i in range(0, len(blob), step):
        feed.feed(blob[i : i + step])
    feed.close()
    return feed


LONG = "model/" + "/".join(["deep" * 10] * 5) + "/weights-é.bin"  # > 100 bytes and not ASCII


@pytest.mark.parametrize("fmt", [tarfile.PAX_FORMAT, tarfile.GNU_FORMAT, tarfile.USTAR_FORMAT])
@pytest.mark.parametrize("step", [1, 511, 512, 4096, 1 << 20])
def test_parses_what_tarfile_writes_in_any_split(fmt: int, step: int) -> None:
    members = {
        "model/empty.bin": b"",
        "model/a.bin": os.urandom(1000),
        "model/b.bin": os.urandom(512),
        "signatures/000.sig": b'{"x": 1}',
    }
    if fmt != tarfile.USTAR_FORMAT:  # ustar cannot hold the long name
        members[LONG] = os.urandom(3000)
    got = parse(make_tar(members, fmt, dirs=("model", "model/sub")), step)
    assert got.files == members
    assert got.dirs == ["model", "model/sub"]


def test_own_writer_round_trips_with_exact_length() -> None:
    members = [("model/x.bin", os.urandom(70_000)), (LONG, b"y" * 513), ("model/z", b"")]
    blob = b"".join(tar_chunks((n, len(d), [d[:100], d[100:]]) for n, d in members))
    assert len(blob) == archive_size((n, len(d)) for n, d in members)
    assert parse(blob, 8192).files == dict(members)
    with tarfile.open(fileobj=io.BytesIO(blob)) as tar:  # and tarfile agrees
        assert {m.name: tar.extractfile(m).read() for m in tar.getmembers()} == dict(members)  # type: ignore[union-attr]


def test_pax_size_beyond_the_ustar_field() -> None:
    """Files of 8 GiB and more carry their size in a PAX record; the header's own field is zero."""
    header = tarfile.TarInfo("model/huge.bin")
    header.size = 8 << 30
    raw = header.tobuf(format=tarfile.PAX_FORMAT)
    seen: list[int] = []

    class Sizes(TarFeed):
        def begin(self, info: tarfile.TarInfo) -> None:
            seen.append(info.size)

    feed = Sizes()
    feed.feed(raw)
    assert seen == [8 << 30]


@pytest.mark.parametrize(
    ("blob", "message"),
    [
        (make_tar({"model/a": b"x" * 600})[:1100], "ends before"),
        (make_tar({"model/a": b"x"})[: 512 + 100], "ends before"),
        (b"\x01" * 512, "invalid tar header"),
    ],
)
def test_truncated_or_garbage_streams_fail(blob: bytes, message: str) -> None:
    with pytest.raises(TarStreamError, match=message):
        parse(blob, 64)


@pytest.mark.parametrize("kind", [tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.CHRTYPE, tarfile.FIFOTYPE])
def test_links_and_devices_are_refused(kind: bytes) -> None:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        info = tarfile.TarInfo("model/link")
        info.type = kind
        info.linkname = "/etc/passwd"
        tar.addfile(info)
    with pytest.raises(TarStreamError, match="not a regular file"):
        parse(out.getvalue(), 512)


def _receive(blob: bytes, into: Path, step: int = 65536) -> UploadReceiver:
    receiver = UploadReceiver(into, batch_bytes=1 << 16, queue_batches=2)
    for i in range(0, len(blob), step):
        if receiver.write(blob[i : i + step]):
            receiver.drain()
    return receiver


def test_receiver_writes_once_and_hashes_model_files(tmp_path: Path) -> None:
    members = {
        "model/config.json": b"{}",
        "model/w/weights.bin": os.urandom(3 << 20),
        "signatures/000.sig": b"sig",
    }
    received = _receive(make_tar(members), tmp_path / "up").finish()
    for name, data in members.items():
        assert (received.root / name).read_bytes() == data
    assert received.model_files == {
        "config.json": (hashlib.sha256(b"{}").hexdigest(), 2),
        "w/weights.bin": (hashlib.sha256(members["model/w/weights.bin"]).hexdigest(), 3 << 20),
    }
    # the manifest is what hash_model computes, and it is reused only while the files are unchanged
    fresh = hash_model(received.model_dir, HashingConfig())
    assert received.manifest().root_digest == fresh.root_digest
    reused = hash_model(received.model_dir, HashingConfig(), previous=received.manifest())
    assert reused.root_digest == fresh.root_digest


@pytest.mark.parametrize(
    ("members", "message"),
    [
        ({"../escape": b"x"}, "not under model/"),
        ({"/abs/model": b"x"}, "not under model/"),
        ({"other/x": b"x"}, "not under model/"),
        ({"model": b"x"}, "not a regular file"),
    ],
)
def test_receiver_refuses_bad_members_with_422(
    tmp_path: Path, members: dict[str, bytes], message: str
) -> None:
    receiver = _receive(make_tar(members), tmp_path / "up")
    with pytest.raises(ProblemError, match=message) as caught:
        receiver.finish()
    assert caught.value.status == 422
    assert not (tmp_path / "escape").exists()


def test_receiver_refuses_a_duplicate_member(tmp_path: Path) -> None:
    receiver = _receive(
        b"".join(tar_chunks([("model/a", 1, [b"1"]), ("model/a", 1, [b"2"])])), tmp_path / "up"
    )
    with pytest.raises(ProblemError, match="appears twice"):
        receiver.finish()
    assert (tmp_path / "up" / "model" / "a").read_bytes() == b"1"


def test_abort_mid_stream_returns_at_once(tmp_path: Path) -> None:
    """A client that goes away mid-file: abort() stops the worker without waiting for more bytes."""
    receiver = UploadReceiver(tmp_path / "up", batch_bytes=1 << 16, queue_batches=2)
    blob = make_tar({"model/big.bin": os.urandom(4 << 20)})
    receiver.write(blob[: 3 << 20])
    done = threading.Event()
    threading.Thread(target=lambda: (receiver.abort(), done.set()), daemon=True).start()
    assert done.wait(10)


def test_local_store_adopts_by_rename(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "blobs")
    staged = tmp_path / "blobs" / "staged.bin"  # same file system
    staged.write_bytes(b"weights")
    digest = hashlib.sha256(b"weights").hexdigest()
    inode = staged.stat().st_ino
    info = store.adopt(staged, digest)
    assert (info.digest, info.size) == (digest, 7)
    assert not staged.exists()
    assert store.path_of(digest).stat().st_ino == inode  # moved, not copied
    with store.open(digest) as reader:
        assert b"".join(reader) == b"weights"
    again = tmp_path / "blobs" / "again.bin"
    again.write_bytes(b"weights")
    store.adopt(again, digest)  # already stored: the duplicate is dropped
    assert not again.exists() and store.path_of(digest).stat().st_ino == inode
