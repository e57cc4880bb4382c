"""Manifests: the item -> digest map a signature covers, in OMS v1.0 form."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mlwarden.hashing.config import HashingConfig


@dataclass(frozen=True, slots=True)
class FileStat:
    """What a file looked like when it was hashed; equal stats let ``--incremental`` reuse a digest."""

    size: int
    mtime_ns: int
    ctime_ns: int
    inode: int
    device: int

    @classmethod
    def of(cls, st: os.stat_result) -> FileStat:
        """The fields of an ``os.stat``/``os.fstat`` result that identify this version of a file."""
        return cls(st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev)


@dataclass(frozen=True, slots=True)
class ResourceDigest:
    """One OMS resource: ``name`` is a POSIX path (``path:start:end`` for a shard), ``digest`` is hex."""

    name: str
    algorithm: str
    digest: str

    def to_dict(self) -> dict[str, str]:
        """The OMS ``predicate.resources[]`` entry."""
        return {"name": self.name, "algorithm": self.algorithm, "digest": self.digest}


def root_digest_of(resources: Iterable[ResourceDigest]) -> str:
    """SHA-256 over the concatenated raw item digests, in the given order (hex)."""
    h = hashlib.sha256()
    for res in resources:
        h.update(bytes.fromhex(res.digest))
    return h.hexdigest()


@dataclass(frozen=True)
class Manifest:
    """A hashed model: resources sorted by Unicode code point of the name, as OMS v1.0 requires."""

    model_name: str
    config: HashingConfig
    resources: tuple[ResourceDigest, ...]
    stats: Mapping[str, FileStat] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def build(
        cls,
        model_name: str,
        config: HashingConfig,
        resources: Iterable[ResourceDigest],
        stats: Mapping[str, FileStat] | None = None,
    ) -> Manifest:
        """Sort ``resources`` by code point of the name and build a manifest."""
        ordered = tuple(sorted(resources, key=lambda r: r.name))
        return cls(model_name, config, ordered, dict(stats or {}))

    @property
    def root_digest(self) -> str:
        """The model's identity: the in-toto subject digest (hex SHA-256)."""
        return root_digest_of(self.resources)

    @property
    def serialization(self) -> dict[str, Any]:
        """The OMS ``predicate.serialization`` parameters."""
        return self.config.serialization_parameters()

    def digests(self) -> dict[str, str]:
        """``name -> hex digest``."""
        return {r.name: r.digest for r in self.resources}

    def to_predicate(self) -> dict[str, Any]:
        """The OMS v1.0 predicate: ``{"serialization": ..., "resources": [...]}``."""
        return {"serialization": self.serialization, "resources": [r.to_dict() for r in self.resources]}
