"""The hashing configuration shared by signing and verification."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import PurePosixPath
from typing import Any, Literal, Self

from mlwarden.errors import UsageError

Algorithm = Literal["sha256", "blake3"]
Method = Literal["files", "shards"]

#: model-signing's default ignore list (top level of the model directory).
DEFAULT_IGNORE_PATHS: tuple[str, ...] = (".git", ".gitattributes", ".github", ".gitignore")
DEFAULT_SHARD_SIZE = 1_000_000_000

_ALGORITHMS: tuple[str, ...] = ("sha256", "blake3")
_METHODS: tuple[str, ...] = ("files", "shards")


def _normalize_ignore(path: str) -> str:
    """``".git/"`` -> ``".git"``; refuse absolute paths and ``..`` (they never match inside the root)."""
    text = str(path).replace("\\", "/").strip()
    pure = PurePosixPath(text)
    if not text or pure.is_absolute() or ".." in pure.parts:
        raise UsageError(
            f"ignore path {path!r} must be relative to the model directory",
            hint="give paths like 'README.md' or 'logs/'",
        )
    return pure.as_posix()


@dataclass(frozen=True, slots=True)
class HashingConfig:
    """How a model is serialised into a manifest (OMS v1.0 ``serialization`` parameters).

    Immutable; the builder methods return a new config::

        HashingConfig().use_blake3().add_ignore_paths(["README.md"])
    """

    algorithm: Algorithm = "sha256"
    method: Method = "files"
    shard_size: int = DEFAULT_SHARD_SIZE
    ignore_paths: tuple[str, ...] = DEFAULT_IGNORE_PATHS
    allow_symlinks: bool = False
    max_workers: int | None = None

    def __post_init__(self) -> None:
        if self.algorithm not in _ALGORITHMS:
            raise UsageError(f"unknown hash algorithm {self.algorithm!r}", hint="use 'sha256' or 'blake3'")
        if self.method not in _METHODS:
            raise UsageError(f"unknown serialization method {self.method!r}", hint="use 'files' or 'shards'")
        if self.method == "shards" and self.algorithm == "blake3":
            raise UsageError(
                "the shards method is only defined for sha256",
                hint="blake3 already hashes one file on all cores; use the files method",
            )
        if isinstance(self.shard_size, bool) or not isinstance(self.shard_size, int) or self.shard_size <= 0:
            raise UsageError(f"shard size must be a positive integer, not {self.shard_size!r}")
        if self.max_workers is not None and self.max_workers <= 0:
            raise UsageError(f"max_workers must be positive, not {self.max_workers!r}")
        normalized = tuple(sorted({_normalize_ignore(p) for p in self.ignore_paths}))
        object.__setattr__(self, "ignore_paths", normalized)

    # -- builders -------------------------------------------------------------------------------------

    def use_sha256(self) -> Self:
        """Hash with SHA-256 (the default; interoperates with every OMS verifier)."""
        return replace(self, algorithm="sha256")

    def use_blake3(self) -> Self:
        """Hash with BLAKE3 (files method only; faster, multi-core inside one file)."""
        return replace(self, algorithm="blake3", method="files")

    def use_files(self) -> Self:
        """One digest per file (the default)."""
        return replace(self, method="files")

    def use_shards(self, shard_size: int = DEFAULT_SHARD_SIZE) -> Self:
        """One digest per ``shard_size`` byte range of every file (sha256 only)."""
        return replace(self, method="shards", shard_size=shard_size)

    def set_ignore_paths(self, paths: Iterable[str], *, ignore_git_paths: bool = True) -> Self:
        """Replace the ignore list (relative to the model root); keeps the git paths unless told not to."""
        base = DEFAULT_IGNORE_PATHS if ignore_git_paths else ()
        return replace(self, ignore_paths=(*base, *paths))

    def add_ignore_paths(self, paths: Iterable[str]) -> Self:
        """Add paths (relative to the model root) to the ignore list."""
        return replace(self, ignore_paths=(*self.ignore_paths, *paths))

    def set_allow_symlinks(self, allow: bool) -> Self:
        """Allow symlinks to regular files inside the model root (target hashed under the link name)."""
        return replace(self, allow_symlinks=allow)

    def set_max_workers(self, workers: int | None) -> Self:
        """Threads used for hashing (default: one per core)."""
        return replace(self, max_workers=workers)

    # -- OMS serialization parameters ---------------------------------------------------------------------

    def serialization_parameters(self) -> dict[str, Any]:
        """The ``predicate.serialization`` object of an OMS v1.0 bundle."""
        params: dict[str, Any] = {"method": self.method, "hash_type": self.algorithm}
        if self.method == "shards":
            params["shard_size"] = self.shard_size
        params["allow_symlinks"] = self.allow_symlinks
        params["ignore_paths"] = list(self.ignore_paths)
        return params

    @classmethod
    def from_serialization_parameters(cls, params: Mapping[str, Any]) -> HashingConfig:
        """Rebuild the config a bundle was signed with; raises ``ValueError`` on anything unexpected.

        Accepts model-signing's float ``shard_size`` (``1000000000.0``) as well as an integer.
        """
        if not isinstance(params, Mapping):
            raise ValueError("serialization parameters are not an object")
        method = params.get("method")
        hash_type = params.get("hash_type")
        if method not in _METHODS:
            raise ValueError(f"unsupported serialization method {method!r}")
        if hash_type not in _ALGORITHMS:
            raise ValueError(f"unsupported hash type {hash_type!r}")
        allow_symlinks = params.get("allow_symlinks", False)
        if not isinstance(allow_symlinks, bool):
            raise ValueError(f"allow_symlinks is not a boolean: {allow_symlinks!r}")
        ignore = params.get("ignore_paths", [])
        if not isinstance(ignore, list) or not all(isinstance(p, str) for p in ignore):
            raise ValueError("ignore_paths is not a list of strings")
        shard_size = DEFAULT_SHARD_SIZE
        if method == "shards":
            raw = params.get("shard_size")
            if isinstance(raw, bool) or not isinstance(raw, int | float):
                raise ValueError(f"shard_size is not a number: {raw!r}")
            if isinstance(raw, float) and (not math.isfinite(raw) or not raw.is_integer()):
                raise ValueError(f"shard_size is not an integer: {raw!r}")
            shard_size = int(raw)
        try:
            return cls(
                algorithm=hash_type,
                method=method,
                shard_size=shard_size,
                ignore_paths=tuple(ignore),
                allow_symlinks=allow_symlinks,
            )
        except UsageError as err:
            raise ValueError(err.message) from None
