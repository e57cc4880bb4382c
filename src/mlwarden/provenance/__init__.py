"""Provenance attestations for the ML pipeline, signed like models (in-toto Statement v1).

- :mod:`mlwarden.provenance.dataset`: ``mlwarden data manifest``, a dataset's per-file digests,
  RFC 6962 Merkle root, rows and schema, source URI and the difference from a previous manifest.
- :mod:`mlwarden.provenance.training`: ``mlwarden train``, SLSA Provenance v1 of a training run
  (command, git state, environment lock, seeds, times, dataset and base model digests, output root).

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
from mlwarden.provenance.training import (
    BUILD_TYPE,
    DEFAULT_BUILDER_ID,
    SLSA_PROVENANCE_TYPE,
    DatasetInput,
    ModelInput,
    TrainingCommandError,
    TrainingError,
    TrainingRun,
    base_model_input,
    dataset_input,
    environment_lock,
    git_state,
    parse_seeds,
    run_training,
)

__all__ = [
    "BUILD_TYPE",
    "DATASET_PREDICATE_TYPE",
    "DEFAULT_BUILDER_ID",
    "SLSA_PROVENANCE_TYPE",
    "Column",
    "DatasetError",
    "DatasetInput",
    "DatasetManifest",
    "DatasetVerificationError",
    "Difference",
    "FileEntry",
    "ManifestDiff",
    "ModelInput",
    "ParseLimits",
    "TrainingCommandError",
    "TrainingError",
    "TrainingRun",
    "base_model_input",
    "build_manifest",
    "dataset_input",
    "diff",
    "environment_lock",
    "git_state",
    "load_manifest",
    "merkle_root",
    "parse_seeds",
    "run_training",
    "verify_directory",
    "verify_inclusion",
]
