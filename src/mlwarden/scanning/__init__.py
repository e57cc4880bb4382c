"""Static model-file scanning. Parses bytes; never imports ML frameworks, loads or executes models.

    >>> from mlwarden.scanning import scan_path
    >>> report = scan_path("model.pt")                 # doctest: +SKIP
    >>> report.max_severity                             # doctest: +SKIP
    <Severity.CRITICAL: 4>

Formats are recognised by content (magic bytes and structure), never by file name.
"""

from mlwarden.core.types import Finding, Severity
from mlwarden.scanning.engine import ScanConfig, scan_bytes, scan_path, scan_paths
from mlwarden.scanning.interface import Blob, FileSniff, ScanContext, ScanLimits, Scanner
from mlwarden.scanning.report import FileReport, ScanReport

__all__ = [
    "Blob",
    "FileReport",
    "FileSniff",
    "Finding",
    "ScanConfig",
    "ScanContext",
    "ScanLimits",
    "ScanReport",
    "Scanner",
    "Severity",
    "scan_bytes",
    "scan_path",
    "scan_paths",
]
