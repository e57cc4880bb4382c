"""Replication: writes to every store, read fall-back (reported), and ``registry check``."""

from __future__ import annotations

import io
import json
import logging
import os
from pathlib import Path

import pytest

from mlwarden.cli.registry_store import run_check
from mlwarden.registry.blobs import (
    BlobCorrupted,
    BlobNotFound,
    LocalBlobStore,
    ReplicatedStore,
    check,
    open_store,
)

from .conftest import corrupt


def _pair(tmp_path: Path) -> tuple[LocalBlobStore, LocalBlobStore, ReplicatedStore]:
    primary = LocalBlobStore(tmp_path / "primary")
    replica = LocalBlobStore(tmp_path / "replica")
    return primary, replica, ReplicatedStore(primary, [replica])


def test_writes_reach_every_store(tmp_path: Path) -> None:
    primary, replica, store = _pair(tmp_path)
    a = store.put([os.urandom(3000)])
    src = tmp_path / "f"
    src.write_bytes(os.urandom(5000))
    b = store.put_file(src)
    for s in (primary, replica):
        assert sorted(s.iter_digests()) == sorted([a.digest, b.digest])
    assert check([store]).ok


def test_interrupted_write_leaves_nothing_anywhere(tmp_path: Path) -> None:
    primary, replica, store = _pair(tmp_path)

    def chunks():  # type: ignore[no-untyped-def]
        yield b"x" * 1000
        raise OSError("disk gone")

    with pytest.raises(OSError, match="disk gone"):
        store.put(chunks())
    for s in (primary, replica):
        assert list(s.iter_digests()) == []
        assert s.temp_files() == []


def test_read_falls_back_and_reports(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    primary, replica, store = _pair(tmp_path)
    data = os.urandom(4000)
    info = store.put([data])
    primary.delete(info.digest)
    with (
        caplog.at_level(logging.WARNING, logger="mlwarden.registry.blobs"),
        store.open(info.digest) as reader,
    ):
        assert b"".join(reader) == data
        assert reader.served_by == replica.url
    assert [f.served_by for f in store.fallbacks] == [replica.url]
    assert info.digest in caplog.text


def test_get_file_falls_back_on_corruption(tmp_path: Path) -> None:
    primary, _, store = _pair(tmp_path)
    data = os.urandom(4000)
    info = store.put([data])
    corrupt(primary, info.digest)
    store.get_file(info.digest, tmp_path / "out")
    assert (tmp_path / "out").read_bytes() == data
    assert "corrupted" in store.fallbacks[0].reason
    with pytest.raises(BlobCorrupted):  # open() cannot take back chunks already handed out
        b"".join(primary.open(info.digest))


def test_missing_everywhere(tmp_path: Path) -> None:
    _, _, store = _pair(tmp_path)
    with pytest.raises(BlobNotFound):
        store.open("0" * 64)


def test_check_reports_missing_replica_and_corruption(tmp_path: Path) -> None:
    primary, replica, store = _pair(tmp_path)
    a = store.put([b"a" * 100])
    b = store.put([b"b" * 100])
    replica.delete(a.digest)
    corrupt(primary, b.digest)
    report = check([primary, replica])
    assert not report.ok
    assert [(p.digest, p.store, p.kind) for p in report.missing()] == [(a.digest, replica.url, "missing")]
    assert [(p.digest, p.store) for p in report.corrupted()] == [(b.digest, primary.url)]
    assert report.copies_verified == 2  # a in the primary, b in the replica
    doc = report.to_dict()
    assert doc["ok"] is False
    assert doc["missing"] == [{"store": replica.url, "digest": a.digest}]


def test_run_check_exit_codes_and_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    primary_url, replica_url = str(tmp_path / "p"), (tmp_path / "r").as_uri()
    store = open_store(primary_url, replicas=[replica_url])
    info = store.put([b"model bytes"])
    out = io.StringIO()
    assert run_check(primary_url, [replica_url], None, "json", out=out) == 0
    assert json.loads(out.getvalue())["copies_verified"] == 2
    LocalBlobStore(tmp_path / "r").delete(info.digest)
    out = io.StringIO()
    assert run_check(primary_url, [replica_url], None, "table", out=out) == 1
    assert f"MISSING    sha256:{info.digest}" in out.getvalue()
    assert "FAILED" in out.getvalue()
    assert run_check("ftp://nowhere", [], None, "table", out=io.StringIO()) == 2
    assert run_check(primary_url, [], None, "yaml", out=io.StringIO()) == 2
    assert "error" in capsys.readouterr().err


def test_run_check_encrypted_s3_with_local_replica(
    s3_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLW_TEST_KEK", "11" * 32)
    replica_url = str(tmp_path / "r")
    store = open_store(s3_url, kek="env:MLW_TEST_KEK", replicas=[replica_url])
    info = store.put([os.urandom(6 * 1024 * 1024)])
    out = io.StringIO()
    assert run_check(s3_url, [replica_url], "env:MLW_TEST_KEK", "json", out=out) == 0
    assert json.loads(out.getvalue())["copies_verified"] == 2
    assert run_check(s3_url, [replica_url], None, "json", out=io.StringIO()) == 1  # no key: unreadable
    LocalBlobStore(tmp_path / "r").delete(info.digest)
    assert run_check(s3_url, [replica_url], "env:MLW_TEST_KEK", "table", out=io.StringIO()) == 1


def test_add_store_check_command() -> None:
    import argparse

    from mlwarden.cli.registry_store import add_store_check_command

    parser = argparse.ArgumentParser()
    add_store_check_command(parser.add_subparsers())
    args = parser.parse_args(["check", "--store", "x", "--replica", "y", "--format", "json"])
    assert (args.store, args.replica, args.kek, args.out_format) == ("x", ["y"], None, "json")
