"""Replication to further stores, and ``check``: re-hash every copy, list what is damaged or missing.

Writes go to every store in the same pass (one read of the source, one hash), and a blob is
published everywhere only after its digest matched; if one store fails the upload is aborted in all
of them that had not published yet. Reads use the primary and fall back to the replicas in order,
recording each fallback (``fallbacks``, and a warning in the ``mlwarden.registry.blobs`` log) so an
operator learns that the primary needs repair. ``open`` falls back when the primary cannot start the
blob (missing, unreachable); a blob found corrupted mid-stream cannot be taken back from the caller,
so ``get_file``, which only renames a verified download into place, is the call that also falls
back on corruption.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from mlwarden.registry.blobs.base import (
    BlobCorrupted,
    BlobInfo,
    BlobNotFound,
    BlobReader,
    BlobStore,
    BlobStoreError,
    BlobWriter,
    Chunk,
    RawBlob,
    check_digest,
)

log = logging.getLogger("mlwarden.registry.blobs")


@dataclass(frozen=True, slots=True)
class Fallback:
    """A read the primary could not serve, and the replica that served it."""

    digest: str
    failed: str
    served_by: str
    reason: str


class ReplicatedStore(BlobStore):
    """``primary`` plus ``replicas``: every write to all, reads from the first that has a good copy."""

    def __init__(self, primary: BlobStore, replicas: Sequence[BlobStore]) -> None:
        self.primary = primary
        self.replicas = list(replicas)
        self.stores = [primary, *self.replicas]
        self.url = primary.url
        self.fallbacks: list[Fallback] = []

    def writer(self, *, expected_digest: str | None = None, size_hint: int | None = None) -> BlobWriter:
        writers: list[BlobWriter] = []
        try:
            writers.extend(
                s.writer(expected_digest=expected_digest, size_hint=size_hint) for s in self.stores
            )
        except BaseException:
            for w in writers:
                w.abort()
            raise
        return _TeeWriter(writers)

    def put_file(self, path: str | os.PathLike[str], *, expected_digest: str | None = None) -> BlobInfo:
        """Each store's own fast path; the replicas must reproduce the primary's digest."""
        info = self.primary.put_file(path, expected_digest=expected_digest)
        for replica in self.replicas:
            replica.put_file(path, expected_digest=info.digest)
        return info

    def adopt(self, path: str | os.PathLike[str], digest: str) -> BlobInfo:
        """Copy to the replicas first: the primary may move the file away."""
        for replica in self.replicas:
            replica.put_file(path, expected_digest=check_digest(digest))
        return self.primary.adopt(path, digest)

    def read_raw(self, digest: str) -> RawBlob:
        raw: RawBlob = self._first(digest, lambda s: s.read_raw(digest))
        return raw

    def open(self, digest: str) -> BlobReader:
        reader: BlobReader = self._first(check_digest(digest), lambda s: s.open(digest))
        return reader

    def get_file(self, digest: str, dest: str | os.PathLike[str], *, durable: bool = False) -> BlobInfo:
        info: BlobInfo = self._first(
            check_digest(digest), lambda s: s.get_file(digest, dest, durable=durable)
        )
        return info

    def exists(self, digest: str) -> bool:
        return any(s.exists(digest) for s in self.stores)

    def modified(self, digest: str) -> float:
        """The newest copy's time: a blob re-used in any store is not old."""
        times = []
        for store in self.stores:
            try:
                times.append(store.modified(digest))
            except BlobNotFound:
                continue
        if not times:
            raise BlobNotFound(digest, self.url)
        return max(times)

    def delete(self, digest: str) -> bool:
        return any([s.delete(digest) for s in self.stores])  # every store, no short-circuit

    def iter_digests(self) -> Iterator[str]:
        seen: set[str] = set()
        for store in self.stores:
            for digest in store.iter_digests():
                if digest not in seen:
                    seen.add(digest)
                    yield digest

    def stored_size(self, digest: str) -> int:
        size: int = self._first(digest, lambda s: s.stored_size(digest))
        return size

    def _first(self, digest: str, call: Any) -> Any:
        first_error: BlobStoreError | None = None
        for store in self.stores:
            try:
                result = call(store)
            except BlobStoreError as err:
                if first_error is None:
                    first_error = err
                continue
            if store is not self.primary and first_error is not None:
                fallback = Fallback(digest, self.primary.url, store.url, first_error.message)
                self.fallbacks.append(fallback)
                log.warning("blob sha256:%s served by replica %s: %s", digest, store.url, first_error.message)
            return result
        assert first_error is not None
        raise first_error


class _TeeWriter(BlobWriter):
    def __init__(self, writers: list[BlobWriter]) -> None:
        self._writers = writers
        self._committed = 0

    def write(self, data: Chunk) -> None:
        for w in self._writers:
            w.write(data)

    def commit(self, digest: str) -> None:
        for w in self._writers:
            w.commit(digest)
            self._committed += 1

    def abort(self) -> None:
        for w in self._writers[self._committed :]:
            w.abort()


@dataclass(frozen=True, slots=True)
class Problem:
    """One bad copy: ``kind`` is ``corrupted``, ``missing`` or ``unreadable``."""

    store: str
    digest: str
    kind: str
    detail: str = ""


@dataclass(slots=True)
class CheckReport:
    """What ``check`` found: copies verified, bytes re-hashed, and every problem."""

    stores: list[str]
    blobs: int = 0
    copies_verified: int = 0
    bytes_hashed: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def corrupted(self) -> list[Problem]:
        return [p for p in self.problems if p.kind != "missing"]

    def missing(self) -> list[Problem]:
        return [p for p in self.problems if p.kind == "missing"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "stores": self.stores,
            "blobs": self.blobs,
            "copies_verified": self.copies_verified,
            "bytes_hashed": self.bytes_hashed,
            "corrupted": [
                {"store": p.store, "digest": p.digest, "kind": p.kind, "detail": p.detail}
                for p in self.corrupted()
            ],
            "missing": [{"store": p.store, "digest": p.digest} for p in self.missing()],
        }


def check(stores: Sequence[BlobStore], *, jobs: int = 2) -> CheckReport:
    """Re-hash every blob in every store; a digest absent from any store is reported missing there.

    The first store is normally the primary and the rest its replicas; a ``ReplicatedStore`` given
    here is expanded into its stores. ``jobs`` blobs are verified at once (hashing releases the GIL).
    """
    flat: list[BlobStore] = []
    for store in stores:
        flat.extend(store.stores if isinstance(store, ReplicatedStore) else [store])
    report = CheckReport([s.url for s in flat])
    listed: list[set[str]] = []
    for store in flat:
        try:
            listed.append(set(store.iter_digests()))
        except BlobStoreError as err:
            report.problems.append(Problem(store.url, "", "unreadable", err.message))
            listed.append(set())
    everything = sorted(set().union(*listed))
    report.blobs = len(everything)
    work = [(store, digest) for store, have in zip(flat, listed, strict=True) for digest in sorted(have)]
    for store, have in zip(flat, listed, strict=True):
        report.problems.extend(Problem(store.url, d, "missing") for d in everything if d not in have)

    def verify(item: tuple[BlobStore, str]) -> tuple[int, Problem | None]:
        store, digest = item
        try:
            with store.open(digest) as reader:
                size = sum(len(chunk) for chunk in reader)
        except BlobNotFound:
            return 0, Problem(store.url, digest, "missing")
        except BlobStoreError as err:
            kind = "corrupted" if isinstance(err, BlobCorrupted) else "unreadable"
            return 0, Problem(store.url, digest, kind, err.message)
        return size, None

    with ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="mlw-check") as pool:
        for size, problem in pool.map(verify, work):
            if problem is None:
                report.copies_verified += 1
                report.bytes_hashed += size
            else:
                report.problems.append(problem)
    report.problems.sort(key=lambda p: (p.digest, p.store, p.kind))
    return report
