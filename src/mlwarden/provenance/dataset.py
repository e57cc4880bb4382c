"""Dataset provenance: a manifest of a data directory that can be signed like a model.

A manifest lists every file of the directory with its size, digest and media type, and for tabular
files (CSV/TSV, JSON Lines, Parquet, plain or gzip/bzip2/xz-compressed text) its row count and
schema. It names a source URI, the tool and a creation time, may carry the difference from a
previous manifest, and is bound together by one Merkle root. It travels as an in-toto Statement v1
(``predicateType`` :data:`PREDICATE_TYPE`, subject digest ``sha256`` = the Merkle root), so the
signing code that signs models signs it unchanged.

Merkle root (so that any tool can recompute it)
-----------------------------------------------
The RFC 6962 Merkle Tree Hash (section 2.1) with SHA-256, over one leaf per file:

- leaves are ordered by path, compared by Unicode code point (Python's ``sorted`` on ``str``); a
  path is relative to the dataset root, with ``/`` separators;
- the data of a leaf is ``UTF-8(path) || 0x00 || digest``, where ``digest`` is the file's raw
  digest (32 bytes of SHA-256, or of BLAKE3 with ``hash_algorithm = "blake3"``);
- ``leaf hash = SHA-256(0x00 || leaf data)``, ``node hash = SHA-256(0x01 || left || right)``, and a
  list of n > 1 leaves is split at k, the largest power of two smaller than n
  (``MTH(D[n]) = node(MTH(D[0:k]), MTH(D[k:n]))``). Every node is SHA-256 whatever the file digest.

A dataset with no file has no manifest: :func:`build_manifest` refuses it rather than sign the hash
of nothing. Because the root is a Merkle tree, one file can be proven to belong to a signed dataset
with :meth:`DatasetManifest.inclusion_proof` and :func:`verify_inclusion`, without the other files.

Rows and schema
---------------
Files are hashed with :func:`mlwarden.hashing.hash_model` (parallel, one read per byte). Tabular
files are then read a second time, streaming, within :class:`ParseLimits` (bytes, seconds, line
length); a file that changes in between is an error, and an exhausted limit or malformed content is
a note or warning on that file, never a crash or a hang. CSV/TSV: the header row names the columns,
types (``int``, ``float``, ``bool``, ``string``, ``empty``) come from the first ``schema_rows``
rows, blank lines are not rows. JSON Lines: a row per non-blank line, keys and JSON types from the
first ``schema_rows`` objects. Parquet: rows and Arrow types from the footer alone, with pyarrow
(the ``mlwarden[data]`` extra).
"""

from __future__ import annotations

import base64
import binascii
import bz2
import codecs
import collections
import csv
import datetime as dt
import gzip
import importlib
import io
import itertools
import json
import lzma
import os
import re
import stat
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path, PurePosixPath
from typing import IO, TYPE_CHECKING, Any, ClassVar, Protocol
from urllib.parse import parse_qsl, urlsplit

from mlwarden import __version__
from mlwarden.core import merkle
from mlwarden.errors import ConfigError, MlwardenError, UsageError
from mlwarden.hashing import FileStat, HashingConfig, HashingError, hash_model

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://mlwarden.dev/attestation/dataset-manifest/v1"
MERKLE_TREE = "rfc6962-sha256"
"""The ``merkle_tree`` value: RFC 6962 tree hash, SHA-256, leaves as described in the module doc."""

_ALGORITHMS = ("sha256", "blake3")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_SHOWN = 3
_MAX_WARNED_LINES = 5


# -- errors -----------------------------------------------------------------------------------------


class DatasetError(MlwardenError):
    """A manifest could not be built or read: empty dataset, unreadable file, malformed manifest (exit 2)."""


class DatasetVerificationError(DatasetError):
    """The data, the manifest or its signature do not agree (exit 1); the message says what differs."""

    exit_code = 1


# -- Merkle tree ------------------------------------------------------------------------------------


def leaf_data(path: str, digest: str) -> bytes:
    """The RFC 6962 leaf data of one file: ``UTF-8(path) || 0x00 || raw digest``."""
    return path.encode("utf-8") + b"\x00" + bytes.fromhex(digest)


def _ordered_leaves(leaves: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    ordered = sorted(leaves, key=lambda leaf: leaf[0])
    for before, after in itertools.pairwise(ordered):
        if before[0] == after[0]:
            raise DatasetError(f"path {before[0]!r} is listed twice")
    return ordered


def merkle_root(leaves: Iterable[tuple[str, str]]) -> str:
    """RFC 6962 Merkle tree hash (hex) of ``(path, hex digest)`` leaves, ordered by path here.

    Raises :class:`DatasetError` for no leaves: the empty tree hash names no data, so it is refused.
    """
    ordered = _ordered_leaves(leaves)
    if not ordered:
        raise DatasetError("a dataset manifest needs at least one file", hint="check the directory")
    return merkle.root_of([merkle.leaf_hash(leaf_data(path, digest)) for path, digest in ordered]).hex()


def verify_inclusion(proof: Mapping[str, Any], root: str) -> bool:
    """Check an inclusion proof from :meth:`DatasetManifest.inclusion_proof` against a trusted root.

    The RFC 9162 section 2.1.3.2 algorithm; returns False for any malformed proof.
    """
    try:
        path, digest = str(proof["path"]), str(proof["digest"])
        index, size = int(proof["index"]), int(proof["tree_size"])
        audit = [bytes.fromhex(h) for h in proof["hashes"]]
        leaf = merkle.leaf_hash(leaf_data(path, digest))
        return merkle.root_from_inclusion_proof(leaf, index, size, audit).hex() == root.lower()
    except (KeyError, TypeError, ValueError, merkle.MerkleError):
        return False


# -- limits -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ParseLimits:
    """Bounds on reading one tabular file for its rows; an overrun is a note, never a hang.

    ``max_bytes`` counts decompressed bytes, so a compression bomb stops at the same limit;
    ``max_line_length`` bounds the bytes one line may hold in memory; ``schema_rows`` rows (or JSON
    objects) give the column types; ``max_columns`` bounds the schema of a very wide file.
    Settings: ``[data]`` in mlwarden.toml (``max_parse_bytes``, ``max_parse_seconds``,
    ``max_line_length``, ``schema_rows``, ``max_columns``).
    """

    max_bytes: int = 1 << 30
    max_seconds: float = 60.0
    max_line_length: int = 16 << 20
    schema_rows: int = 1000
    max_columns: int = 2000

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise UsageError(f"parse limit {f.name} must be a positive number, not {value!r}")
            if f.name != "max_seconds" and not isinstance(value, int):
                raise UsageError(f"parse limit {f.name} must be an integer, not {value!r}")

    _SETTINGS: ClassVar[dict[str, str]] = {
        "max_parse_bytes": "max_bytes",
        "max_parse_seconds": "max_seconds",
        "max_line_length": "max_line_length",
        "schema_rows": "schema_rows",
        "max_columns": "max_columns",
    }

    @classmethod
    def from_settings(cls, section: Mapping[str, Any]) -> ParseLimits:
        """Limits from the ``[data]`` section; unknown keys and bad values are a :class:`ConfigError`."""
        values: dict[str, Any] = {}
        for key, value in section.items():
            name = cls._SETTINGS.get(key)
            if name is None:
                known = ", ".join(sorted(cls._SETTINGS))
                raise ConfigError(f"unknown setting [data] {key}", hint=f"known settings: {known}")
            values[name] = value
        try:
            return cls(**values)
        except UsageError as err:
            raise ConfigError(f"[data]: {err.message}", hint="give a positive number") from None


# -- manifest model ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Column:
    """A column (CSV/Parquet) or key (JSON Lines) and its type."""

    name: str
    type: str

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "type": self.type}


_TABULAR_TYPES = frozenset(
    {"text/csv", "text/tab-separated-values", "application/jsonl", "application/vnd.apache.parquet"}
)


@dataclass(frozen=True, slots=True)
class FileEntry:
    """One file: ``digest`` is hex in the manifest's algorithm; ``rows``/``columns`` None when unknown.

    ``compression`` is set for a compressed text file, whose ``media_type`` is that of the content
    (as HTTP's Content-Type beside Content-Encoding). ``warnings`` are about the data (a bad JSON
    line, ragged CSV rows); ``notes`` say what was not done (a limit, a missing optional library).
    """

    path: str
    size: int
    digest: str
    media_type: str = "application/octet-stream"
    compression: str | None = None
    rows: int | None = None
    columns: tuple[Column, ...] | None = None
    warnings: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def tabular(self) -> bool:
        """Whether rows and columns apply to this file."""
        return self.media_type in _TABULAR_TYPES

    def to_dict(self, algorithm: str) -> dict[str, Any]:
        """The ``predicate.files[]`` entry: rows/columns only for tabular files, lists only when non-empty."""
        doc: dict[str, Any] = {
            "path": self.path,
            "size": self.size,
            "digest": {algorithm: self.digest},
            "media_type": self.media_type,
        }
        if self.compression is not None:
            doc["compression"] = self.compression
        if self.tabular:
            doc["rows"] = self.rows
            doc["columns"] = None if self.columns is None else [c.to_dict() for c in self.columns]
        if self.warnings:
            doc["warnings"] = list(self.warnings)
        if self.notes:
            doc["notes"] = list(self.notes)
        return doc


@dataclass(frozen=True, slots=True)
class RowChange:
    """A file whose row count changed."""

    path: str
    before: int
    after: int


@dataclass(frozen=True, slots=True)
class SchemaChange:
    """A file whose columns changed: names added or removed, and ``(name, old type, new type)``."""

    path: str
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    retyped: tuple[tuple[str, str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class ManifestDiff:
    """How a dataset changed between two manifests (``renamed``: same digest under a new path)."""

    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    modified: tuple[str, ...] = ()
    renamed: tuple[tuple[str, str], ...] = ()
    unchanged: int = 0
    row_changes: tuple[RowChange, ...] = ()
    schema_changes: tuple[SchemaChange, ...] = ()
    rows_before: int | None = None
    rows_after: int | None = None

    @property
    def changed(self) -> bool:
        """True when any file was added, removed, modified or renamed."""
        return bool(self.added or self.removed or self.modified or self.renamed)

    def summary(self) -> str:
        """One line: ``2 added, 1 modified, 1 renamed, 40 unchanged``."""
        counts = (
            (len(self.added), "added"),
            (len(self.removed), "removed"),
            (len(self.modified), "modified"),
            (len(self.renamed), "renamed"),
        )
        parts = [f"{n} {label}" for n, label in counts if n]
        parts.append(f"{self.unchanged} unchanged")
        if (
            self.rows_before is not None
            and self.rows_after is not None
            and self.rows_before != self.rows_after
        ):
            parts.append(f"rows {self.rows_before} -> {self.rows_after}")
        return ", ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "added": list(self.added),
            "removed": list(self.removed),
            "modified": list(self.modified),
            "renamed": [{"from": old, "to": new} for old, new in self.renamed],
            "unchanged": self.unchanged,
            "row_changes": [{"path": c.path, "before": c.before, "after": c.after} for c in self.row_changes],
            "schema_changes": [
                {
                    "path": c.path,
                    "added": list(c.added),
                    "removed": list(c.removed),
                    "retyped": [{"name": n, "before": a, "after": b} for n, a, b in c.retyped],
                }
                for c in self.schema_changes
            ],
            "rows_before": self.rows_before,
            "rows_after": self.rows_after,
        }

    @classmethod
    def from_dict(cls, doc: object) -> ManifestDiff:
        """Read :meth:`to_dict` output; raises :class:`DatasetError` when it is malformed."""
        try:
            d = _obj(doc, "previous.diff")
            return cls(
                added=tuple(_strs(d.get("added", []), "diff.added")),
                removed=tuple(_strs(d.get("removed", []), "diff.removed")),
                modified=tuple(_strs(d.get("modified", []), "diff.modified")),
                renamed=tuple((str(r["from"]), str(r["to"])) for r in d.get("renamed", [])),
                unchanged=_int(d.get("unchanged", 0), "diff.unchanged"),
                row_changes=tuple(
                    RowChange(str(c["path"]), int(c["before"]), int(c["after"]))
                    for c in d.get("row_changes", [])
                ),
                schema_changes=tuple(
                    SchemaChange(
                        str(c["path"]),
                        tuple(str(n) for n in c.get("added", [])),
                        tuple(str(n) for n in c.get("removed", [])),
                        tuple(
                            (str(r["name"]), str(r["before"]), str(r["after"])) for r in c.get("retyped", [])
                        ),
                    )
                    for c in d.get("schema_changes", [])
                ),
                rows_before=_opt_int(d.get("rows_before"), "diff.rows_before"),
                rows_after=_opt_int(d.get("rows_after"), "diff.rows_after"),
            )
        except (KeyError, TypeError, ValueError, AttributeError):
            raise _malformed("previous.diff is not a diff") from None


@dataclass(frozen=True, slots=True)
class PreviousManifest:
    """The manifest this one was compared with: its root and creation time, and the difference."""

    merkle_root: str
    created: str | None
    diff: ManifestDiff

    def to_dict(self) -> dict[str, Any]:
        return {"merkle_root": self.merkle_root, "created": self.created, "diff": self.diff.to_dict()}


@dataclass(frozen=True)
class DatasetManifest:
    """A described dataset; build with :func:`build_manifest`, read with :func:`load_manifest`."""

    name: str
    files: tuple[FileEntry, ...]
    algorithm: str
    merkle_root: str
    created: str
    source_uri: str | None = None
    tool_version: str = __version__
    ignore_paths: tuple[str, ...] = ()
    allow_symlinks: bool = False
    rows_counted: bool = True
    previous: PreviousManifest | None = None

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)

    @property
    def total_rows(self) -> int | None:
        """Rows over all tabular files; None when any tabular file's count is unknown."""
        counts = [f.rows for f in self.files if f.tabular]
        if any(n is None for n in counts):
            return None
        return sum(n for n in counts if n is not None)

    def entry(self, path: str) -> FileEntry | None:
        """The file at ``path``, if listed."""
        return next((f for f in self.files if f.path == path), None)

    def digests(self) -> dict[str, str]:
        """``path -> hex digest``."""
        return {f.path: f.digest for f in self.files}

    def to_predicate(self) -> dict[str, Any]:
        """The manifest document (the statement's predicate)."""
        doc: dict[str, Any] = {
            "name": self.name,
            "source_uri": self.source_uri,
            "created": self.created,
            "tool": {"name": "mlwarden", "version": self.tool_version},
            "hash_algorithm": self.algorithm,
            "merkle_tree": MERKLE_TREE,
            "merkle_root": self.merkle_root,
            "ignore_paths": list(self.ignore_paths),
            "allow_symlinks": self.allow_symlinks,
            "rows_counted": self.rows_counted,
            "totals": {"files": len(self.files), "bytes": self.total_bytes, "rows": self.total_rows},
            "files": [f.to_dict(self.algorithm) for f in self.files],
        }
        if self.previous is not None:
            doc["previous"] = self.previous.to_dict()
        return doc

    def to_statement(self) -> dict[str, Any]:
        """The in-toto Statement v1 to sign: the subject is the dataset, named, with its Merkle root."""
        return {
            "_type": STATEMENT_TYPE,
            "subject": [{"name": self.name, "digest": {"sha256": self.merkle_root}}],
            "predicateType": PREDICATE_TYPE,
            "predicate": self.to_predicate(),
        }

    @classmethod
    def from_statement(cls, statement: object) -> DatasetManifest:
        """Read and check a statement (already authenticated, or knowingly not).

        Malformed input raises :class:`DatasetError` (exit 2). A statement whose files do not hash to
        its Merkle root, or whose subject digest is another root, raises
        :class:`DatasetVerificationError` (exit 1): it was edited after it was made.
        """
        body = _obj(statement, "the statement")
        if body.get("_type") != STATEMENT_TYPE:
            raise _malformed(f"_type is not {STATEMENT_TYPE}")
        if body.get("predicateType") != PREDICATE_TYPE:
            raise DatasetError(
                f"not a dataset manifest: predicate type {body.get('predicateType')!r}",
                hint=f"expected {PREDICATE_TYPE}, as 'mlwarden data manifest' writes",
            )
        subjects = body.get("subject")
        if not isinstance(subjects, list) or len(subjects) != 1:
            raise _malformed("expected exactly one subject")
        subject = _obj(subjects[0], "subject")
        subject_root = _obj(subject.get("digest"), "subject.digest").get("sha256")
        pred = _obj(body.get("predicate"), "predicate")
        algorithm = pred.get("hash_algorithm")
        if algorithm not in _ALGORITHMS:
            raise _malformed(f"unsupported hash_algorithm {algorithm!r}")
        if pred.get("merkle_tree") != MERKLE_TREE:
            raise _malformed(f"unsupported merkle_tree {pred.get('merkle_tree')!r} (expected {MERKLE_TREE})")
        root = _hex64(pred.get("merkle_root"), "merkle_root")
        raw_files = pred.get("files")
        if not isinstance(raw_files, list) or not raw_files:
            raise _malformed("files is not a non-empty list")
        files = tuple(_file_entry(item, algorithm) for item in raw_files)
        try:
            recomputed = merkle_root((f.path, f.digest) for f in files)
        except DatasetError as err:
            raise _malformed(err.message) from None
        if recomputed != root:
            raise DatasetVerificationError(
                "inconsistent manifest: its files do not hash to its Merkle root",
                hint="the manifest was edited after it was made",
            )
        if not isinstance(subject_root, str) or subject_root.lower() != root:
            raise DatasetVerificationError(
                "inconsistent manifest: the subject digest is not the manifest's Merkle root",
                hint="the statement was edited after it was made",
            )
        tool = pred.get("tool")
        previous = pred.get("previous")
        return cls(
            name=_str(pred.get("name", subject.get("name", "")), "name"),
            files=tuple(sorted(files, key=lambda f: f.path)),
            algorithm=algorithm,
            merkle_root=root,
            created=_str(pred.get("created", ""), "created"),
            source_uri=_opt_str(pred.get("source_uri"), "source_uri"),
            tool_version=str(tool.get("version", "")) if isinstance(tool, dict) else "",
            ignore_paths=tuple(_strs(pred.get("ignore_paths", []), "ignore_paths")),
            allow_symlinks=_bool(pred.get("allow_symlinks", False), "allow_symlinks"),
            rows_counted=_bool(pred.get("rows_counted", True), "rows_counted"),
            previous=None if previous is None else _previous(previous),
        )

    def inclusion_proof(self, path: str) -> dict[str, Any]:
        """An RFC 6962 audit path proving ``path`` (with its digest) is under :attr:`merkle_root`.

        Hand it with the signed root to someone who holds only that file; they check it with
        :func:`verify_inclusion`.
        """
        ordered = sorted(self.files, key=lambda f: f.path)
        index = next((i for i, f in enumerate(ordered) if f.path == path), None)
        if index is None:
            raise UsageError(f"{path!r} is not in the manifest", hint="give a path as the manifest lists it")
        hashes = [merkle.leaf_hash(leaf_data(f.path, f.digest)) for f in ordered]
        return {
            "path": path,
            "digest": ordered[index].digest,
            "hash_algorithm": self.algorithm,
            "index": index,
            "tree_size": len(ordered),
            "hashes": [h.hex() for h in merkle.inclusion_proof(hashes, index, len(hashes))],
            "merkle_root": self.merkle_root,
        }


# -- reading manifests ------------------------------------------------------------------------------


def _malformed(what: str) -> DatasetError:
    return DatasetError(
        f"malformed dataset manifest: {what}", hint="give a file 'mlwarden data manifest' wrote"
    )


def _obj(value: object, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _malformed(f"{what} is not an object")
    return value


def _str(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise _malformed(f"{what} is not a string")
    return value


def _opt_str(value: object, what: str) -> str | None:
    return None if value is None else _str(value, what)


def _strs(value: object, what: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _malformed(f"{what} is not a list of strings")
    return value


def _int(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _malformed(f"{what} is not a non-negative integer")
    return value


def _opt_int(value: object, what: str) -> int | None:
    return None if value is None else _int(value, what)


def _bool(value: object, what: str) -> bool:
    if not isinstance(value, bool):
        raise _malformed(f"{what} is not a boolean")
    return value


def _hex64(value: object, what: str) -> str:
    if not isinstance(value, str) or not _HEX64.fullmatch(value.lower()):
        raise _malformed(f"{what} is not a 64-digit hex digest")
    return value.lower()


def _check_path(path: str) -> str:
    pure = PurePosixPath(path)
    if (
        not path
        or "\x00" in path
        or "\\" in path
        or pure.is_absolute()
        or pure.as_posix() != path
        or any(part in ("", ".", "..") for part in path.split("/"))
    ):
        raise _malformed(f"file path {path!r} is not a relative POSIX path inside the dataset")
    return path


def _file_entry(item: object, algorithm: str) -> FileEntry:
    doc = _obj(item, "a file entry")
    path = _check_path(_str(doc.get("path"), "a file path"))
    digest_set = _obj(doc.get("digest"), f"digest of {path!r}")
    if set(digest_set) != {algorithm}:
        raise _malformed(f"{path!r} has no single {algorithm} digest")
    raw_columns = doc.get("columns")
    columns: tuple[Column, ...] | None = None
    if raw_columns is not None:
        if not isinstance(raw_columns, list):
            raise _malformed(f"columns of {path!r} is not a list")
        columns = tuple(
            Column(_str(c.get("name"), "a column name"), _str(c.get("type"), "a column type"))
            for c in (_obj(c, "a column") for c in raw_columns)
        )
    compression = _opt_str(doc.get("compression"), f"compression of {path!r}")
    return FileEntry(
        path=path,
        size=_int(doc.get("size"), f"size of {path!r}"),
        digest=_hex64(digest_set[algorithm], f"digest of {path!r}"),
        media_type=_str(doc.get("media_type", "application/octet-stream"), f"media_type of {path!r}"),
        compression=compression,
        rows=_opt_int(doc.get("rows"), f"rows of {path!r}"),
        columns=columns,
        warnings=tuple(_strs(doc.get("warnings", []), f"warnings of {path!r}")),
        notes=tuple(_strs(doc.get("notes", []), f"notes of {path!r}")),
    )


def _previous(value: object) -> PreviousManifest:
    doc = _obj(value, "previous")
    return PreviousManifest(
        merkle_root=_hex64(doc.get("merkle_root"), "previous.merkle_root"),
        created=_opt_str(doc.get("created"), "previous.created"),
        diff=ManifestDiff.from_dict(doc.get("diff", {})),
    )


def is_signed_bundle(document: object) -> bool:
    """Whether a parsed JSON document is a Sigstore bundle (rather than a plain statement)."""
    return isinstance(document, dict) and ("dsseEnvelope" in document or "mediaType" in document)


def bundle_statement(bundle: Mapping[str, Any]) -> dict[str, Any]:
    """The statement inside a bundle, decoded but NOT authenticated; use a signature check to trust it."""
    envelope = bundle.get("dsseEnvelope")
    payload = envelope.get("payload") if isinstance(envelope, dict) else None
    if not isinstance(payload, str):
        raise _malformed("the bundle has no DSSE payload")
    try:
        body = json.loads(base64.b64decode(payload, validate=True))
    except (binascii.Error, ValueError):
        raise _malformed("the bundle's DSSE payload is not base64-encoded JSON") from None
    return _obj(body, "the bundle's statement")


def read_document(source: str | os.PathLike[str] | bytes) -> dict[str, Any]:
    """Parse a manifest file (a path) or its bytes into a JSON object; raises :class:`DatasetError`."""
    if isinstance(source, bytes):
        data, where = source, "manifest"
    else:
        where = f"manifest {os.fspath(source)}"
        try:
            data = Path(source).read_bytes()
        except OSError as err:
            raise DatasetError(f"cannot read {where}: {err.strerror or err}", hint="check the path") from None
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError):
        raise DatasetError(
            f"{where} is not JSON", hint="give a file 'mlwarden data manifest' wrote"
        ) from None
    if not isinstance(doc, dict):
        raise _malformed("the document is not a JSON object")
    return doc


def load_manifest(source: str | os.PathLike[str] | bytes) -> DatasetManifest:
    """Read a manifest: a path, or the file's bytes; a plain statement or a signed bundle.

    A bundle's payload is only decoded here. Whoever relies on who signed it authenticates the
    bundle first (``mlwarden.signing.verify_statement``) and builds the manifest from the result
    with :meth:`DatasetManifest.from_statement`.
    """
    doc = read_document(source)
    if is_signed_bundle(doc):
        doc = bundle_statement(doc)
    return DatasetManifest.from_statement(doc)


# -- diff -------------------------------------------------------------------------------------------


def _pair_renames(
    removed: list[str], added: list[str], old: Mapping[str, str], new: Mapping[str, str]
) -> tuple[list[tuple[str, str]], list[str], list[str]]:
    """Match removed to added paths with the same digest (in path order); the rest stay as they are."""
    by_digest: dict[str, list[str]] = {}
    for path in added:
        by_digest.setdefault(new[path], []).append(path)
    renamed: list[tuple[str, str]] = []
    still_removed: list[str] = []
    for path in removed:
        candidates = by_digest.get(old[path])
        if candidates:
            renamed.append((path, candidates.pop(0)))
        else:
            still_removed.append(path)
    taken = {new_path for _, new_path in renamed}
    return renamed, still_removed, [p for p in added if p not in taken]


def _schema_change(path: str, before: Sequence[Column], after: Sequence[Column]) -> SchemaChange | None:
    old = {c.name: c.type for c in before}
    new = {c.name: c.type for c in after}
    change = SchemaChange(
        path,
        added=tuple(n for n in new if n not in old),
        removed=tuple(n for n in old if n not in new),
        retyped=tuple((n, old[n], new[n]) for n in new if n in old and old[n] != new[n]),
    )
    return change if change.added or change.removed or change.retyped else None


def _algorithm_mismatch(old: str, new: str) -> UsageError:
    return UsageError(
        f"the previous manifest uses {old} and this one {new}",
        hint=f"build this one with --hash {old} to compare them",
    )


def diff(old: DatasetManifest, new: DatasetManifest) -> ManifestDiff:
    """What changed from ``old`` to ``new``: files added, removed, modified, renamed, rows and schema.

    Raises :class:`UsageError` when the two use different digest algorithms (nothing would compare).
    """
    if old.algorithm != new.algorithm:
        raise _algorithm_mismatch(old.algorithm, new.algorithm)
    before, after = old.digests(), new.digests()
    common = sorted(before.keys() & after.keys())
    modified = [p for p in common if before[p] != after[p]]
    renamed, removed, added = _pair_renames(
        sorted(before.keys() - after.keys()), sorted(after.keys() - before.keys()), before, after
    )
    old_entries = {f.path: f for f in old.files}
    new_entries = {f.path: f for f in new.files}
    row_changes: list[RowChange] = []
    schema_changes: list[SchemaChange] = []
    for path in modified:
        a, b = old_entries[path], new_entries[path]
        if a.rows is not None and b.rows is not None and a.rows != b.rows:
            row_changes.append(RowChange(path, a.rows, b.rows))
        if a.columns is not None and b.columns is not None:
            change = _schema_change(path, a.columns, b.columns)
            if change is not None:
                schema_changes.append(change)
    return ManifestDiff(
        added=tuple(added),
        removed=tuple(removed),
        modified=tuple(modified),
        renamed=tuple(renamed),
        unchanged=len(common) - len(modified),
        row_changes=tuple(row_changes),
        schema_changes=tuple(schema_changes),
        rows_before=old.total_rows,
        rows_after=new.total_rows,
    )


# -- profiling tabular files ------------------------------------------------------------------------

_MEDIA_TYPES = {
    ".csv": "text/csv",
    ".tsv": "text/tab-separated-values",
    ".tab": "text/tab-separated-values",
    ".jsonl": "application/jsonl",
    ".ndjson": "application/jsonl",
    ".parquet": "application/vnd.apache.parquet",
    ".pq": "application/vnd.apache.parquet",
    ".json": "application/json",
    ".txt": "text/plain",
    ".md": "text/markdown",
    ".xml": "application/xml",
    ".yaml": "application/yaml",
    ".yml": "application/yaml",
    ".arrow": "application/vnd.apache.arrow.file",
    ".feather": "application/vnd.apache.arrow.file",
    ".avro": "application/avro",
    ".orc": "application/vnd.apache.orc",
    ".npy": "application/x-npy",
    ".npz": "application/zip",
    ".h5": "application/x-hdf5",
    ".hdf5": "application/x-hdf5",
    ".tfrecord": "application/x-tfrecord",
    ".zip": "application/zip",
    ".tar": "application/x-tar",
    ".gz": "application/gzip",
    ".bz2": "application/x-bzip2",
    ".xz": "application/x-xz",
    ".zst": "application/zstd",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".tif": "image/tiff",
    ".tiff": "image/tiff",
    ".bmp": "image/bmp",
    ".wav": "audio/wav",
    ".flac": "audio/flac",
    ".mp3": "audio/mpeg",
    ".ogg": "audio/ogg",
    ".mp4": "video/mp4",
    ".webm": "video/webm",
    ".pdf": "application/pdf",
    ".html": "text/html",
}


class _Readable(Protocol):
    """A binary stream to read from: a file or a decompressor."""

    def read(self, size: int = -1, /) -> bytes: ...
    def close(self) -> None: ...


_COMPRESSIONS: dict[str, Callable[[IO[bytes]], _Readable]] = {  # the caller closes the stream
    ".gz": lambda fh: gzip.GzipFile(fileobj=fh, mode="rb"),
    ".bz2": lambda fh: bz2.BZ2File(fh, mode="rb"),
    ".xz": lambda fh: lzma.LZMAFile(fh, mode="rb"),  # noqa: SIM115
}
_COMPRESSION_NAMES = {".gz": "gzip", ".bz2": "bzip2", ".xz": "xz"}
_COMPRESSED_TEXT = frozenset({"text/csv", "text/tab-separated-values", "application/jsonl"})
_MAGIC = {".gz": b"\x1f\x8b", ".bz2": b"BZh", ".xz": b"\xfd7zXZ\x00"}
_DECOMPRESSION_ERRORS = (OSError, EOFError, zlib.error, lzma.LZMAError)
_PYARROW_HINT = "pip install 'mlwarden[data]'"


def media_type_of(path: str) -> tuple[str, str | None]:
    """``(media type, compression)`` from the name: ``train.csv.gz`` is ``("text/csv", "gzip")``."""
    name = path.rsplit("/", 1)[-1].lower()
    stem, dot, suffix = name.rpartition(".")
    if not dot or not stem:
        return "application/octet-stream", None
    suffix = "." + suffix
    if suffix in _COMPRESSIONS:
        inner = _MEDIA_TYPES.get(PurePosixPath(stem).suffix)
        if inner in _COMPRESSED_TEXT:
            return inner, _COMPRESSION_NAMES[suffix]
    return _MEDIA_TYPES.get(suffix, "application/octet-stream"), None


class _LimitReachedError(Exception):
    """A parse limit was reached; the message says which (it becomes a note)."""


class _Budget(io.RawIOBase):
    """Pass bytes through, stopping at the byte, line-length or time limit; every parser reads through it.

    Checking line length here, on the raw chunks, lets the parsers use C line iteration and still
    never gather a line of unbounded size.
    """

    def __init__(self, source: _Readable, limits: ParseLimits, deadline: float) -> None:
        super().__init__()
        self._source = source
        self._limit = limits.max_bytes
        self._left = limits.max_bytes
        self._seconds = limits.max_seconds
        self._deadline = deadline
        self._max_line = limits.max_line_length
        self._line = 0  # bytes since the last line break

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer, /) -> int:
        if time.monotonic() > self._deadline:
            raise _LimitReachedError(f"took longer than {self._seconds:g} s (max_parse_seconds)")
        view = memoryview(buffer).cast("B")
        want = min(len(view), self._left + 1)  # one byte more than allowed shows an overrun
        data = self._source.read(want)
        n = len(data)
        if n > self._left:
            raise _LimitReachedError(f"more than {self._limit} bytes to read (max_parse_bytes)")
        view[:n] = data
        self._left -= n
        last_break = max(data.rfind(b"\n"), data.rfind(b"\r"))
        self._line = self._line + n if last_break < 0 else n - last_break - 1
        if self._line > self._max_line:  # bounds what a line reader may gather, in C, before it ends
            raise _LimitReachedError(f"a line is longer than {self._max_line} bytes (max_line_length)")
        return n


@dataclass
class _Profile:
    rows: int | None = None
    columns: list[Column] | None = None
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


_INT = re.compile(r"[+-]?[0-9]+")
_FLOAT = re.compile(
    r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|[+-]?(?:nan|inf|infinity)", re.IGNORECASE
)


def _csv_type(value: str) -> str:
    text = value.strip()
    if not text:
        return "empty"
    if _INT.fullmatch(text):
        return "int"
    if _FLOAT.fullmatch(text):
        return "float"
    if text.lower() in ("true", "false"):
        return "bool"
    return "string"


def _join_csv(a: str, b: str) -> str:
    if a == b or b == "empty":
        return a
    if a == "empty":
        return b
    if {a, b} == {"int", "float"}:
        return "float"
    return "string"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _line_list(lines: list[int], total: int) -> str:
    shown = ", ".join(str(n) for n in lines)
    return f"line {shown}" if total == 1 else f"lines {shown}" + (", …" if total > len(lines) else "")


def _profile_csv(
    stream: io.BufferedReader, delimiter: str, encoding: str, limits: ParseLimits, out: _Profile
) -> None:
    text = io.TextIOWrapper(stream, encoding=encoding, newline="")
    reader = csv.reader(text, delimiter=delimiter)  # _Budget bounds the line length
    try:
        header = next((record for record in reader if record), None)
        if header is None:
            out.rows, out.columns = 0, []
            out.notes.append("no header row: the file is empty")
            return
        _csv_rows(reader, header, limits, out)
    except csv.Error as err:  # a field over csv.field_size_limit(), for one
        out.rows = None
        out.warnings.append(f"CSV error at line {reader.line_num}: {err}; rows not counted")


def _csv_rows(reader: Iterator[list[str]], header: list[str], limits: ParseLimits, out: _Profile) -> None:
    """Count the rows after the header; types from the first ``schema_rows``, kept if a limit stops us."""
    if len(header) > limits.max_columns:
        out.notes.append(f"{len(header)} columns; the schema lists the first {limits.max_columns}")
    names = header[: limits.max_columns]
    duplicates = sorted(n for n, count in collections.Counter(names).items() if count > 1)
    if duplicates:
        out.warnings.append(f"duplicate column names: {', '.join(duplicates[:_SHOWN])}")
    types = ["empty"] * len(names)
    rows = ragged = 0
    first_ragged: tuple[int, int] | None = None
    try:
        for record in reader:
            if not record:
                continue  # a blank line
            rows += 1
            if len(record) != len(header):
                ragged += 1
                if first_ragged is None:
                    first_ragged = (getattr(reader, "line_num", 0), len(record))
            if rows <= limits.schema_rows:
                for i, value in enumerate(record[: len(names)]):
                    types[i] = _join_csv(types[i], _csv_type(value))
        out.rows = rows
    finally:
        out.columns = [Column(n, t) for n, t in zip(names, types, strict=True)]
        if first_ragged is not None:
            line, width = first_ragged
            out.warnings.append(
                f"{_plural(ragged, 'row')} without {len(header)} fields (first at line {line}, with {width})"
            )


_JSON_TYPES = ("string", "integer", "number", "boolean", "array", "object", "null")


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _json_column_type(seen: set[str]) -> str:
    if {"integer", "number"} <= seen:
        seen = seen - {"integer"}
    return "|".join(t for t in _JSON_TYPES if t in seen)


def _profile_jsonl(reader: io.BufferedReader, limits: ParseLimits, out: _Profile) -> None:
    keys: dict[str, set[str]] = {}
    rows = bad = not_objects = lineno = 0
    bad_lines: list[int] = []
    key_overflow = False

    def finish() -> None:
        out.columns = [Column(k, _json_column_type(t)) for k, t in keys.items()]
        if key_overflow:
            out.notes.append(f"more than {limits.max_columns} keys; the schema lists the first ones")
        if bad:
            out.warnings.append(f"{_plural(bad, 'line')} not valid JSON ({_line_list(bad_lines, bad)})")
        if not_objects:
            what = (
                "1 row is not a JSON object"
                if not_objects == 1
                else f"{not_objects} rows are not JSON objects"
            )
            out.warnings.append(f"{what} (of the first {limits.schema_rows})")

    try:
        while True:
            line = reader.readline(limits.max_line_length + 1)
            if not line:
                break
            lineno += 1
            if len(line) > limits.max_line_length:
                raise _LimitReachedError(
                    f"line {lineno} is longer than {limits.max_line_length} bytes (max_line_length)"
                )
            if not line.strip():
                continue
            rows += 1
            if lineno == 1 and line.startswith(codecs.BOM_UTF8):
                line = line[len(codecs.BOM_UTF8) :]
            try:
                value = json.loads(line.decode("utf-8"))
            except (ValueError, RecursionError):  # JSONDecodeError and UnicodeDecodeError are ValueErrors
                bad += 1
                if len(bad_lines) < _MAX_WARNED_LINES:
                    bad_lines.append(lineno)
                continue
            if rows > limits.schema_rows:
                continue
            if not isinstance(value, dict):
                not_objects += 1
                continue
            for key, item in value.items():
                types = keys.get(key)
                if types is None:
                    if len(keys) >= limits.max_columns:
                        key_overflow = True
                        continue
                    types = keys[key] = set()
                types.add(_json_type(item))
    finally:
        finish()
    out.rows = rows


def _pyarrow_parquet() -> Any | None:
    """``pyarrow.parquet``, or None when the optional ``data`` extra is not installed."""
    try:
        return importlib.import_module("pyarrow.parquet")
    except ImportError:
        return None


def _profile_parquet(fh: IO[bytes], size: int, limits: ParseLimits, out: _Profile) -> None:
    """Rows and schema from the footer alone; the footer length is checked before pyarrow reads it."""
    if size < 12:
        out.warnings.append("too short to be a Parquet file")
        return
    fh.seek(size - 8)
    tail = fh.read(8)
    if tail[4:] == b"PARE":
        out.notes.append("encrypted Parquet footer: rows and schema not read")
        return
    if tail[4:] != b"PAR1":
        out.warnings.append("not a Parquet file (no PAR1 footer)")
        return
    footer = int.from_bytes(tail[:4], "little")
    if footer + 12 > size:
        out.warnings.append(f"corrupt Parquet footer: {footer} bytes claimed in a {size}-byte file")
        return
    if footer > limits.max_bytes:
        raise _LimitReachedError(
            f"a {footer}-byte Parquet footer is more than {limits.max_bytes} bytes (max_parse_bytes)"
        )
    pq = _pyarrow_parquet()
    if pq is None:
        out.notes.append(f"rows and schema of Parquet files need pyarrow: {_PYARROW_HINT}")
        return
    fh.seek(0)
    arrow = importlib.import_module("pyarrow")
    try:
        parquet = pq.ParquetFile(fh)
        rows = int(parquet.metadata.num_rows)
        schema = parquet.schema_arrow
        columns = [Column(str(f.name), str(f.type)) for f in list(schema)[: limits.max_columns]]
    except (arrow.ArrowException, OSError, ValueError, TypeError) as err:
        out.warnings.append(f"unreadable Parquet footer: {err}")
        return
    if len(schema) > limits.max_columns:
        out.notes.append(f"{len(schema)} columns; the schema lists the first {limits.max_columns}")
    out.rows, out.columns = rows, columns


def _stat_of(st: os.stat_result) -> FileStat:
    return FileStat(st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev)


def _changed(path: str) -> DatasetError:
    return DatasetError(
        f"file changed while the dataset was being read: {path}",
        hint="describe the dataset when it is at rest",
    )


def _profile(
    root: Path, name: str, media_type: str, compression: str | None, expected: FileStat, limits: ParseLimits
) -> _Profile:
    """Rows and schema of one tabular file; the file must still be the one that was hashed."""
    out = _Profile()
    path = root / name
    try:
        fh = path.open("rb")
    except OSError as err:
        raise DatasetError(f"cannot read {path}: {err.strerror or err}") from None
    with fh:
        if _stat_of(os.fstat(fh.fileno())) != expected:
            raise _changed(name)
        deadline = time.monotonic() + limits.max_seconds
        try:
            if media_type == "application/vnd.apache.parquet":
                _profile_parquet(fh, expected.size, limits, out)
            else:
                _profile_text(fh, name, media_type, compression, limits, deadline, out)
        except _LimitReachedError as err:
            out.rows = None
            out.notes.append(f"row count skipped: {err}")
        if _stat_of(os.fstat(fh.fileno())) != expected:
            raise _changed(name)
    return out


def _profile_text(
    fh: IO[bytes],
    name: str,
    media_type: str,
    compression: str | None,
    limits: ParseLimits,
    deadline: float,
    out: _Profile,
) -> None:
    suffix = "." + name.rsplit(".", 1)[-1].lower() if compression else ""
    if compression and fh.read(len(_MAGIC[suffix])) != _MAGIC[suffix]:
        out.warnings.append(f"not {compression}-compressed despite its name; rows not counted")
        return

    def run(parse: Callable[[io.BufferedReader], None]) -> None:
        fh.seek(0)
        source: _Readable = _COMPRESSIONS[suffix](fh) if compression else fh
        try:
            parse(io.BufferedReader(_Budget(source, limits, deadline), buffer_size=1 << 20))
        finally:
            if source is not fh:
                source.close()

    try:
        if media_type == "application/jsonl":
            run(lambda stream: _profile_jsonl(stream, limits, out))
            return
        delimiter = "," if media_type == "text/csv" else "\t"
        try:
            run(lambda stream: _profile_csv(stream, delimiter, "utf-8-sig", limits, out))
        except UnicodeDecodeError:
            fresh = _Profile()
            run(lambda stream: _profile_csv(stream, delimiter, "latin-1", limits, fresh))
            out.rows, out.columns = fresh.rows, fresh.columns
            out.warnings[:] = ["not valid UTF-8; read as Latin-1", *fresh.warnings]
            out.notes[:] = fresh.notes
    except _DECOMPRESSION_ERRORS as err:
        if compression is None:  # a plain file that cannot be read: nothing was decided
            raise DatasetError(f"cannot read {name}: {err}") from None
        out.rows = None
        out.warnings.append(f"cannot decompress ({compression}): {err}; rows not counted")


# -- building and verifying ---------------------------------------------------------------------------

_SECRET_QUERY = re.compile(
    r"x-amz-(signature|credential|security-token)|x-goog-(signature|credential)|sig|signature|token|"
    r"access_token|api_key|apikey|password|secret",
    re.IGNORECASE,
)


def check_source_uri(uri: str) -> str:
    """A source URI with a scheme and without credentials (a signed manifest is meant to be shared)."""
    text = uri.strip()
    parts = urlsplit(text)
    if (
        not text
        or any(c.isspace() or ord(c) < 32 for c in text)
        or not re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*", parts.scheme or "-")
    ):
        raise UsageError(
            f"source {uri!r} is not a URI", hint="for example s3://bucket/prefix/, hf://datasets/org/name"
        )
    if parts.password is not None or any(_SECRET_QUERY.fullmatch(k) for k, _ in parse_qsl(parts.query)):
        raise UsageError(
            "the source URI carries credentials", hint="remove the password, token or signature from it"
        )
    return text


def _hashing_config(
    algorithm: str, ignore: Sequence[str], allow_symlinks: bool, max_workers: int | None
) -> HashingConfig:
    if algorithm not in _ALGORITHMS:
        raise UsageError(f"unknown hash algorithm {algorithm!r}", hint="use 'sha256' or 'blake3'")
    config = HashingConfig().use_blake3() if algorithm == "blake3" else HashingConfig()
    return config.add_ignore_paths(ignore).set_allow_symlinks(allow_symlinks).set_max_workers(max_workers)


_HASHING_WORDS = (
    ("in model:", "in dataset:"),
    ("the model directory", "the dataset directory"),
    ("while the model was", "while the dataset was"),
    ("models may contain", "datasets may contain"),
    ("inside the model", "inside the dataset"),
)


def _dataset_error(err: HashingError) -> DatasetError:
    """The hashing engine's message, in a dataset's words (its phrases only; paths are left alone)."""
    message, hint = err.message, err.hint
    for model, data in _HASHING_WORDS:
        message, hint = message.replace(model, data, 1), hint.replace(model, data, 1)
    return DatasetError(message, hint=hint)


def _check_root(root: Path) -> None:
    try:
        st = root.stat()
    except OSError as err:
        raise DatasetError(f"cannot read dataset directory {root}: {err.strerror or err}") from None
    if not stat.S_ISDIR(st.st_mode):
        raise DatasetError(f"dataset path {root} is not a directory", hint="give the dataset's directory")


def _timestamp(when: dt.datetime | None) -> str:
    moment = dt.datetime.now(dt.UTC) if when is None else when.astimezone(dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def build_manifest(
    root: str | os.PathLike[str],
    *,
    source_uri: str | None = None,
    name: str | None = None,
    algorithm: str = "sha256",
    previous: DatasetManifest | None = None,
    rows: bool = True,
    ignore: Sequence[str] = (),
    allow_symlinks: bool = False,
    limits: ParseLimits | None = None,
    created: dt.datetime | None = None,
    max_workers: int | None = None,
) -> DatasetManifest:
    """Describe the dataset directory ``root``: digests, Merkle root, rows and schema, and the diff.

    ``ignore`` lists paths relative to ``root`` to leave out (``.git`` and friends always are);
    ``previous`` is compared with the new manifest (see :func:`diff`). Raises :class:`DatasetError`
    for an empty dataset, an unreadable path, a symlink (unless ``allow_symlinks`` and inside the
    root) or a file that changes while it is read.
    """
    base = Path(root)
    _check_root(base)
    config = _hashing_config(algorithm, ignore, allow_symlinks, max_workers)
    if previous is not None and previous.algorithm != config.algorithm:
        raise _algorithm_mismatch(previous.algorithm, config.algorithm)
    try:
        hashed = hash_model(base, config)
    except HashingError as err:
        raise _dataset_error(err) from None
    if not hashed.resources:
        raise DatasetError(
            f"no files to describe in {base}",
            hint="a dataset manifest needs at least one file; check the directory and --ignore",
        )
    limits = limits or ParseLimits()
    entries: list[FileEntry] = []
    for resource in hashed.resources:
        expected = hashed.stats[resource.name]
        media_type, compression = media_type_of(resource.name)
        entry = FileEntry(resource.name, expected.size, resource.digest, media_type, compression)
        if rows and entry.tabular:
            found = _profile(base, resource.name, media_type, compression, expected, limits)
            columns = None if found.columns is None else tuple(found.columns)
            entry = replace(
                entry,
                rows=found.rows,
                columns=columns,
                warnings=tuple(found.warnings),
                notes=tuple(found.notes),
            )
        entries.append(entry)
    manifest = DatasetManifest(
        name=name if name is not None else hashed.model_name,
        files=tuple(entries),
        algorithm=config.algorithm,
        merkle_root=merkle_root((e.path, e.digest) for e in entries),
        created=_timestamp(created),
        source_uri=None if source_uri is None else check_source_uri(source_uri),
        ignore_paths=config.ignore_paths,
        allow_symlinks=allow_symlinks,
        rows_counted=rows,
    )
    if previous is not None:
        change = PreviousManifest(previous.merkle_root, previous.created or None, diff(previous, manifest))
        manifest = replace(manifest, previous=change)
    return manifest


@dataclass(frozen=True, slots=True)
class Difference:
    """One way the directory differs from its manifest (``renamed``: ``detail`` is the old path)."""

    kind: str  # "added" | "removed" | "modified" | "renamed"
    path: str
    detail: str = ""

    def __str__(self) -> str:
        return (
            f"{self.kind}: {self.detail} -> {self.path}"
            if self.kind == "renamed"
            else f"{self.kind}: {self.path}"
        )


def verify_directory(
    root: str | os.PathLike[str],
    manifest: DatasetManifest,
    *,
    extra_ignore: Sequence[str] = (),
    max_workers: int | None = None,
) -> list[Difference]:
    """Re-hash ``root`` as the manifest was made (algorithm, ignore paths, symlinks) and compare.

    Returns the differences, empty when the directory is exactly what the manifest lists; files
    the manifest does not list count as ``added``. ``extra_ignore`` leaves out more paths (say, the
    manifest file itself when it lies inside the directory). Only digests are compared: rows and
    schema follow from the bytes.
    """
    base = Path(root)
    _check_root(base)
    config = _hashing_config(
        manifest.algorithm, [*manifest.ignore_paths, *extra_ignore], manifest.allow_symlinks, max_workers
    )
    try:
        current = hash_model(base, config).digests()
    except HashingError as err:
        raise _dataset_error(err) from None
    expected = manifest.digests()
    renamed, removed, added = _pair_renames(
        sorted(expected.keys() - current.keys()), sorted(current.keys() - expected.keys()), expected, current
    )
    out = [
        Difference("modified", p)
        for p in sorted(expected.keys() & current.keys())
        if expected[p] != current[p]
    ]
    out += [Difference("added", p) for p in added]
    out += [Difference("removed", p) for p in removed]
    out += [Difference("renamed", new, old) for old, new in renamed]
    return out


def describe_differences(differences: Sequence[Difference]) -> str:
    """One line naming what differs, a few paths per kind: ``modified: a.csv; added: b.csv, c.csv``."""
    parts: list[str] = []
    for kind in ("modified", "added", "removed", "renamed"):
        items = [d for d in differences if d.kind == kind]
        if not items:
            continue
        names = [f"{d.detail} -> {d.path}" if kind == "renamed" else d.path for d in items]
        shown = ", ".join(names[:_SHOWN]) + (f", … ({len(names)} in all)" if len(names) > _SHOWN else "")
        parts.append(f"{kind}: {shown}")
    return "; ".join(parts)
