"""Registry blob store throughput: push and pull of one large file against a plain file copy.

    python bench/registry_blobs.py                 # 4 GiB, local store, fastest of 3 per cell
    python bench/registry_blobs.py --gib 1 --repeat 5
    python bench/registry_blobs.py --s3 --s3-gib 1 # also a moto S3 server on loopback (figures only)

Target (issue 6): push (``put_file``) and pull (``get_file``) of a 4 GiB model on the file store at
>= 0.8x the throughput of ``shutil.copyfile`` of the same file on the same filesystem, warm (the
source is read once first), same run. The store fsyncs before publishing (durability) and the copy
does not, so "copy + fsync" is printed too as the like-for-like baseline. Files live under
``--dir`` (default: the system temporary directory; point it at the registry's disk, since /tmp may be
tmpfs).
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from mlwarden.registry.blobs import LocalBlobStore

GIB = 1 << 30
MIB = 1 << 20
TARGET = 0.8


def _make_file(path: Path, size: int) -> None:
    block = os.urandom(64 * MIB)
    with path.open("wb") as fh:
        for _ in range(size // len(block)):
            fh.write(block)
        fh.write(block[: size % len(block)])


def _warm(path: Path) -> None:
    with path.open("rb", buffering=0) as fh:
        buf = bytearray(16 * MIB)
        while fh.readinto(buf):
            pass


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _best(repeat: int, run: Callable[[], None], reset: Callable[[], None]) -> float:
    times = []
    for _ in range(repeat):
        reset()
        os.sync()  # every run starts with no dirty pages from the previous one
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--gib", type=float, default=4.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()))
    parser.add_argument("--s3", action="store_true", help="also measure S3 against a local moto server")
    parser.add_argument("--s3-gib", type=float, default=1.0)
    args = parser.parse_args()
    size = int(args.gib * GIB)
    args.dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="blobs-", dir=args.dir))
    try:
        src = work / "model.bin"
        _make_file(src, size)
        _warm(src)
        copy = work / "copy.bin"
        pulled = work / "pulled.bin"
        store_dir = work / "store"

        def reset_copy() -> None:
            copy.unlink(missing_ok=True)
            _warm(src)

        def reset_store() -> None:
            shutil.rmtree(store_dir, ignore_errors=True)
            _warm(src)

        t_copy = _best(args.repeat, lambda: shutil.copyfile(src, copy), reset_copy)
        t_copy_sync = _best(args.repeat, lambda: (shutil.copyfile(src, copy), _fsync(copy)), reset_copy)
        t_put = _best(args.repeat, lambda: LocalBlobStore(store_dir).put_file(src), reset_store)
        store = LocalBlobStore(store_dir)
        digest = store.put_file(src).digest
        _warm(store.path_of(digest))

        def reset_pull() -> None:
            pulled.unlink(missing_ok=True)
            _warm(store.path_of(digest))

        t_get = _best(args.repeat, lambda: store.get_file(digest, pulled), reset_pull)

        def stream_put() -> None:
            with src.open("rb") as fh:
                LocalBlobStore(store_dir).put(fh)

        t_stream = _best(args.repeat, stream_put, reset_store)
        gib = size / GIB
        print(f"file store, {gib:.2f} GiB, warm, fastest of {args.repeat}, {work.parent}")
        print(f"  shutil.copyfile            {gib / t_copy:6.2f} GiB/s  ({t_copy:.2f} s)")
        print(f"  shutil.copyfile + fsync    {gib / t_copy_sync:6.2f} GiB/s  ({t_copy_sync:.2f} s)")
        for name, t in [("push (put_file, fsync)", t_put), ("pull (get_file)", t_get)]:
            ratio, ratio_sync = t_copy / t, t_copy_sync / t
            verdict = "meets" if ratio >= TARGET else "misses"
            print(
                f"  {name:<26} {gib / t:6.2f} GiB/s  ({t:.2f} s)  {ratio:.2f}x copy, "
                f"{ratio_sync:.2f}x copy+fsync: {verdict} the {TARGET}x target"
            )
        print(
            f"  stream put (file object)   {gib / t_stream:6.2f} GiB/s  ({t_stream:.2f} s)  "
            f"{t_copy / t_stream:.2f}x copy"
        )
        if args.s3:
            _bench_s3(work, int(args.s3_gib * GIB), args.repeat)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def _bench_s3(work: Path, size: int, repeat: int) -> None:
    import boto3

    from mlwarden.registry.blobs.s3 import S3BlobStore

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    endpoint = f"http://127.0.0.1:{port}"
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)
        boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket="bench")
        store = S3BlobStore("bench", "blobs", endpoint_url=endpoint, region="us-east-1")
        src = work / "s3.bin"
        _make_file(src, size)
        _warm(src)
        dest = work / "s3-pulled.bin"
        t_put = _best(repeat, lambda: store.put_file(src), lambda: None)
        digest = store.put_file(src).digest
        t_get = _best(repeat, lambda: store.get_file(digest, dest), lambda: dest.unlink(missing_ok=True))
        gib = size / GIB
        print(
            f"S3 (moto server on loopback; figures only), {gib:.2f} GiB, "
            f"part size {store.part_size // MIB} MiB"
        )
        print(f"  push (put_file)            {gib / t_put:6.2f} GiB/s  ({t_put:.2f} s)")
        print(f"  pull (get_file)            {gib / t_get:6.2f} GiB/s  ({t_get:.2f} s)")
    finally:
        proc.terminate()
        proc.wait(timeout=10)


if __name__ == "__main__":
    raise SystemExit(main())
