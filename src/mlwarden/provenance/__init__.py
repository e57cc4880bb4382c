"""Provenance attestations for the ML pipeline, signed like models (in-toto Statement v1).

- :mod:`mlwarden.provenance.dataset`: ``mlwarden data manifest``, a dataset's per-file digests,
  RFC 6962 Merkle root, rows and schema, source URI and the difference from a previous manifest.

    >>> from mlwarden.provenance import build_manifest, verify_directory
    >>> manifest = build_manifest("data/", source_uri="s3://bucket/train/")     # doctest: +SKIP
    >>> manifest.merkle_root                                                    # doctest: +SKIP
    >>> verify_directory("data/", manifest)                                     # doctest: +SKIP
    []
"""

from mlwarden.provenance.dataset import (
    PREDICATE_TYPE as DATASET_PREDICATE_TYPE,
)
from mlwarden.provenance.dataset import (
    Column,
    DatasetError,
    DatasetManifest,
    DatasetVerificationError,
    Difference,
    FileEntry,
    ManifestDiff,
    ParseLimits,
    build_manifest,
    diff,
    load_manifest,
    merkle_root,
    verify_directory,
    verify_inclusion,
)

__all__ = [
    "DATASET_PREDICATE_TYPE",
    "Column",
    "DatasetError",
    "DatasetManifest",
    "DatasetVerificationError",
    "Difference",
    "FileEntry",
    "ManifestDiff",
    "ParseLimits",
    "build_manifest",
    "diff",
    "load_manifest",
    "merkle_root",
    "verify_directory",
    "verify_inclusion",
]
