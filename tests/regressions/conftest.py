"""Regression tests for every published bypass of picklescan, modelscan, fickling and ModelAudit.

Source catalogue: research note ``bypasses.md`` (families A-G + appendices). Each test builds its
payload byte by byte (never by pickling a live object, never by loading anything), writes it to a real
file inside the container the advisory used, and scans it with the public API.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Make the sibling helper module importable whatever pytest's import mode is.
sys.path.insert(0, str(Path(__file__).resolve().parent))
