"""Fixtures: a real moto S3 server over loopback (one per session) and stores of every kind."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from mlwarden.registry.blobs import BlobStore, LocalBlobStore

S3_PART = 5 * 1024 * 1024  # S3's minimum, so a few MiB exercise multipart uploads
_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """Start ``python -m moto.server`` on a free loopback port; wait until it answers; kill it at the end."""
    pytest.importorskip("boto3")
    pytest.importorskip("moto.server")
    port = _free_port()
    endpoint = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    saved = {k: os.environ.get(k) for k in _AWS_ENV}
    os.environ.update(_AWS_ENV)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("moto server did not start") from None
                time.sleep(0.2)
        yield endpoint
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture
def s3_url(moto_endpoint: str) -> str:
    """A fresh bucket on the moto server, as a store URL with a prefix."""
    return _new_bucket(moto_endpoint)


MakeStore = Callable[[], BlobStore]


@pytest.fixture(params=["local", "s3"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> MakeStore:
    """A factory of empty stores of one kind (each call: a new directory or bucket)."""
    counter = iter(range(1000))
    if request.param == "local":
        return lambda: LocalBlobStore(tmp_path / f"store{next(counter)}")
    from mlwarden.registry.blobs.s3 import S3BlobStore

    return lambda: S3BlobStore.from_url(_new_bucket(request.getfixturevalue("moto_endpoint")))


def _new_bucket(endpoint: str) -> str:
    import boto3

    bucket = f"mlw-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket=bucket)
    return f"s3://{bucket}/blobs?endpoint_url={endpoint}&region=us-east-1&part_size={S3_PART}"


def leftovers(store: BlobStore) -> list[Any]:
    """Staging files or temporary objects and uncompleted multipart uploads."""
    if isinstance(store, LocalBlobStore):
        return list(store.temp_files())
    return list(store.temp_objects())  # type: ignore[attr-defined]


def corrupt(store: BlobStore, digest: str) -> None:
    """Flip one byte of the stored blob behind the store's back."""
    if isinstance(store, LocalBlobStore):
        path = store.path_of(digest)
        path.chmod(0o644)
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0x01
        path.write_bytes(bytes(data))
        return
    inner: Any = store
    obj = inner.client.get_object(Bucket=inner.bucket, Key=inner.key(digest))
    data = bytearray(obj["Body"].read())
    data[len(data) // 2] ^= 0x01
    inner.client.put_object(Bucket=inner.bucket, Key=inner.key(digest), Body=bytes(data))
