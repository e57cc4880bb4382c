"""Shared types, configuration and safe file access used by every capability."""

from mlwarden.core.types import Finding, Severity

__all__ = ["Finding", "Severity"]
