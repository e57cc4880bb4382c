"""Deepfake-capability classification from model structure, never by running or fully loading a model.

    >>> from mlwarden.capability import classify
    >>> report = classify(["inswapper_128.onnx"])                # doctest: +SKIP
    >>> report.bundles[0].labels, report.bundles[0].severity     # doctest: +SKIP
    (['face-swap'], 'high')

Capability is evidence, not a verdict: each bundle carries its labels, the family, a confidence and the
indicators that fired; a policy decides what to do about it.
"""

from mlwarden.capability.catalog import CAPABILITIES, Catalog
from mlwarden.capability.classifier import BundleResult, Detection, Hit
from mlwarden.capability.service import CapabilityConfig, CapabilityReport, classify, classify_scan

__all__ = [
    "CAPABILITIES",
    "BundleResult",
    "CapabilityConfig",
    "CapabilityReport",
    "Catalog",
    "Detection",
    "Hit",
    "classify",
    "classify_scan",
]
