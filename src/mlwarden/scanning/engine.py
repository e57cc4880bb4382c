"""Walk paths, sniff each blob by content, dispatch to scanners, and turn limits into findings."""

from __future__ import annotations

import dataclasses
import os
import stat
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlwarden.core.types import Finding, Severity
from mlwarden.errors import ConfigError, ScanError
from mlwarden.scanning.interface import (
    Blob,
    BytesBlob,
    FileBlob,
    FileSniff,
    LimitExceeded,
    ScanContext,
    ScanLimits,
    Scanner,
)
from mlwarden.scanning.report import FileReport, ScanReport
from mlwarden.scanning.sniff import sniff

ProgressCallback = Callable[[str, int], None]
"""Called after each file with its path and size; the CLI draws a progress bar from it."""

_ENGINE = "engine"


@dataclass(frozen=True, slots=True)
class ScanConfig:
    """How to scan. Build one with ``ScanConfig.from_settings`` or directly."""

    limits: ScanLimits = field(default_factory=ScanLimits)
    follow_symlinks: bool = False
    jobs: int = 1
    plugins: tuple[str, ...] = ()
    """Dotted paths (``package.module:Class``) of extra ``Scanner`` classes, loaded only when named."""

    @classmethod
    def from_settings(cls, section: dict[str, Any]) -> ScanConfig:
        """Build from the ``[scan]`` section of the settings; unknown keys are refused."""
        limit_names = {f.name for f in dataclasses.fields(ScanLimits)}
        own = {"follow_symlinks", "jobs", "plugins"}
        unknown = set(section) - limit_names - own
        if unknown:
            raise ConfigError(
                f"unknown [scan] setting(s): {', '.join(sorted(unknown))}",
                hint=f"valid keys: {', '.join(sorted(limit_names | own))}",
            )
        try:
            limits = ScanLimits(**{k: v for k, v in section.items() if k in limit_names})
            return cls(
                limits=limits,
                follow_symlinks=bool(section.get("follow_symlinks", False)),
                jobs=int(section.get("jobs", 1)),
                plugins=tuple(section.get("plugins", ())),
            )
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"invalid [scan] setting: {exc}", hint="check the value types") from None


def scan_path(
    path: str | os.PathLike[str],
    config: ScanConfig | None = None,
    *,
    progress: ProgressCallback | None = None,
) -> ScanReport:
    """Scan a file, a directory (recursively) or an archive. Never loads or executes the content."""
    return scan_paths([path], config, progress=progress)


def scan_paths(
    paths: Sequence[str | os.PathLike[str]],
    config: ScanConfig | None = None,
    *,
    progress: ProgressCallback | None = None,
) -> ScanReport:
    """Scan several paths into one report."""
    config = config or ScanConfig()
    scanners = _scanners(config)  # load plug-ins before any work, so a bad name fails fast
    started = time.monotonic()
    report = ScanReport(roots=[str(p) for p in paths])
    files: list[Path] = []
    for raw in paths:
        root = Path(raw)
        if not root.exists() and not root.is_symlink():
            raise ScanError(f"{root} does not exist", hint="check the path")
        files.extend(_walk(root, config, report.findings))
    if config.jobs > 1 and len(files) > 1:
        results: Iterable[FileReport] = _scan_parallel(files, config)
    else:
        results = (scan_file(f, config, scanners) for f in files)
    for result in results:
        report.files.append(result)
        if progress is not None:
            progress(result.path, result.size)
    _mark_onnx_external_data(report.files)
    report.seconds = time.monotonic() - started
    return report


def _mark_onnx_external_data(files: list[FileReport]) -> None:
    """Raw tensor files that an ONNX model in the same scan names as external data are not 'unknown'."""
    owners: dict[Path, str] = {}
    for file in files:
        for facts in file.facts.values():
            for entry in facts.get("onnx", {}).get("external_data", []):
                location = entry.get("location")
                if isinstance(location, str) and location:
                    owners[(Path(file.path).parent / location).resolve()] = file.path
    if not owners:
        return
    for file in files:
        owner = owners.get(Path(file.path).resolve())
        if owner is None:
            continue
        file.findings = [
            dataclasses.replace(
                f,
                rule_id="onnx/external-data-file",
                severity=Severity.INFO,
                message=f"raw tensor data referenced by {owner}",
                remediation="",
            )
            if f.rule_id == "format/unknown" and f.member is None
            else f
            for f in file.findings
        ]


def _scan_parallel(files: list[Path], config: ScanConfig) -> Iterator[FileReport]:
    from concurrent.futures import ProcessPoolExecutor  # noqa: PLC0415 - only parallel scans pay for it

    jobs = min(config.jobs, len(files))
    # Largest first so one big checkpoint does not finish alone at the end.
    order = sorted(range(len(files)), key=lambda i: -_size(files[i]))
    results: dict[int, FileReport] = {}
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        chunk = max(1, min(64, len(files) // (jobs * 8)))
        batch = [files[i] for i in order]
        for index, result in zip(
            order, pool.map(_scan_worker, batch, [config] * len(batch), chunksize=chunk), strict=True
        ):
            results[index] = result
            yield result


def _scan_worker(path: Path, config: ScanConfig) -> FileReport:
    return scan_file(path, config, _scanners(config))


def _size(path: Path) -> int:
    try:
        return path.lstat().st_size
    except OSError:
        return 0


def _walk(root: Path, config: ScanConfig, findings: list[Finding]) -> Iterator[Path]:
    """Regular files under ``root``; links are not followed unless asked, and never outside root."""
    if not root.is_dir() or (root.is_symlink() and not config.follow_symlinks):
        if root.is_symlink() and not config.follow_symlinks and root.is_dir():
            findings.append(
                _path_finding(
                    root,
                    "path/symlink-skipped",
                    Severity.INFO,
                    "symlinked directory not followed",
                    "pass --follow-symlinks to scan it",
                )
            )
            return
        yield root
        return
    real_root = root.resolve()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames.sort()
        here = Path(dirpath)
        for name in sorted(filenames) + [d for d in dirnames if (here / d).is_symlink()]:
            entry = here / name
            yield from _entry(entry, real_root, config, findings)


def _entry(entry: Path, real_root: Path, config: ScanConfig, findings: list[Finding]) -> Iterator[Path]:
    try:
        st = entry.lstat()
    except OSError as exc:
        findings.append(
            _path_finding(
                entry,
                "path/unreadable",
                Severity.HIGH,
                f"cannot stat: {exc.strerror}",
                "fix the permissions; an unreadable file cannot be vouched for",
            )
        )
        return
    if stat.S_ISLNK(st.st_mode):
        try:
            target = entry.resolve(strict=True)
        except (OSError, RuntimeError):
            findings.append(
                _path_finding(
                    entry,
                    "path/symlink-dangling",
                    Severity.MEDIUM,
                    f"symlink to a missing target ({entry.readlink()})",
                    "remove the broken link",
                )
            )
            return
        if not target.is_relative_to(real_root):
            findings.append(
                _path_finding(
                    entry,
                    "path/symlink-escape",
                    Severity.HIGH,
                    f"symlink points outside the scanned tree, to {target}",
                    "ship the file itself; a link out of the model directory can make "
                    "a loader read arbitrary files",
                )
            )
            return
        if not config.follow_symlinks:
            findings.append(
                _path_finding(
                    entry,
                    "path/symlink-skipped",
                    Severity.INFO,
                    f"symlink to {target} not followed (its target is scanned if inside the tree)",
                    "pass --follow-symlinks to scan through links",
                )
            )
            return
        if target.is_file():
            yield entry
        return
    if stat.S_ISREG(st.st_mode):
        yield entry
    elif not stat.S_ISDIR(st.st_mode):
        findings.append(
            _path_finding(
                entry,
                "path/special-file",
                Severity.HIGH,
                "not a regular file (device, FIFO or socket)",
                "remove it; model directories hold regular files only",
            )
        )


def _path_finding(path: Path, rule: str, severity: Severity, message: str, remediation: str) -> Finding:
    return Finding(
        rule_id=rule,
        severity=severity,
        message=message,
        file=str(path),
        remediation=remediation,
        scanner=_ENGINE,
    )


def scan_file(path: Path, config: ScanConfig, scanners: Sequence[Scanner]) -> FileReport:
    """Scan one regular file; every failure becomes a finding in the returned report."""
    started = time.monotonic()
    try:
        blob = FileBlob(path)
    except OSError as exc:
        finding = _path_finding(
            path,
            "path/unreadable",
            Severity.HIGH,
            f"cannot read: {exc.strerror or exc}",
            "fix the permissions; an unreadable file cannot be vouched for",
        )
        return FileReport(path=str(path), size=_size(path), format="unreadable", findings=[finding])
    size = len(blob)
    ctx = ScanContext(file=str(path), limits=config.limits, nested=_nested_dispatch(scanners))
    try:
        findings = list(_dispatch(blob, ctx, scanners))
    finally:
        blob.close()
    return FileReport(
        path=str(path),
        size=size,
        format=ctx.formats.get("", "unknown"),
        findings=findings,
        formats=ctx.formats,
        facts=ctx.facts,
        seconds=time.monotonic() - started,
    )


def scan_bytes(data: bytes, name: str = "<bytes>", config: ScanConfig | None = None) -> FileReport:
    """Scan content already in memory (an upload, a nested payload) under the display name ``name``."""
    config = config or ScanConfig()
    scanners = _scanners(config)
    started = time.monotonic()
    ctx = ScanContext(file=name, limits=config.limits, nested=_nested_dispatch(scanners))
    findings = list(_dispatch(BytesBlob(data), ctx, scanners))
    return FileReport(
        path=name,
        size=len(data),
        format=ctx.formats.get("", "unknown"),
        findings=findings,
        formats=ctx.formats,
        facts=ctx.facts,
        seconds=time.monotonic() - started,
    )


def _nested_dispatch(scanners: Sequence[Scanner]) -> Callable[[Blob, str, ScanContext], Iterator[Finding]]:
    def nested(blob: Blob, name: str, parent: ScanContext) -> Iterator[Finding]:
        child = dataclasses.replace(parent, members=(*parent.members, name), depth=parent.depth + 1)
        if child.depth > child.limits.max_depth:
            yield child.finding(
                "limit/depth",
                Severity.HIGH,
                f"containers nested deeper than {child.limits.max_depth} levels; not opened",
                scanner=_ENGINE,
                remediation="flatten the archive; deep nesting hides content",
            )
            return
        yield from _dispatch(blob, child, scanners)

    return nested


def _dispatch(blob: Blob, ctx: ScanContext, scanners: Sequence[Scanner]) -> Iterator[Finding]:
    key = ctx.member or ""
    try:
        ctx.check_time()
        kind = _name_hint(sniff(blob), ctx.members[-1] if ctx.members else ctx.file)
        ctx.formats[key] = kind.format
        chosen = [s for s in scanners if s.handles(kind)]
        if not chosen:
            yield from _unhandled(kind, ctx)
            return
        for scanner in chosen:
            yield from scanner.scan(blob, ctx)
    except LimitExceeded as exc:
        yield ctx.finding(
            exc.rule_id,
            Severity.HIGH,
            f"{exc}; the rest of this content was not scanned",
            scanner=_ENGINE,
            remediation="inspect the file by hand or raise the limit in [scan]",
        )
    except MemoryError:
        yield ctx.finding(
            "limit/memory",
            Severity.HIGH,
            "ran out of memory; the rest was not scanned",
            scanner=_ENGINE,
            remediation="inspect the file by hand",
        )
    except RecursionError:
        yield ctx.finding(
            "limit/depth",
            Severity.HIGH,
            "structure nested too deeply to analyse",
            scanner=_ENGINE,
            remediation="inspect the file by hand",
        )
    except Exception as exc:  # noqa: BLE001 - hostile bytes must never crash the scan of a directory
        yield ctx.finding(
            "malformed/parse-error",
            Severity.MEDIUM,
            f"could not be parsed ({type(exc).__name__}: {exc})",
            scanner=_ENGINE,
            remediation="re-export the file with its original tool",
        )


def _name_hint(kind: FileSniff, name: str) -> FileSniff:
    """Text is typed by name only where the loaders themselves go by name.

    transformers imports ``*.py`` named in ``auto_map``; tokenizers read ``chat_template.jinja``.
    Binary formats are never typed by name.
    """
    if kind.format != "text":
        return kind
    lower = name.rsplit("/", 1)[-1].lower()
    if lower.endswith(".py"):
        return FileSniff("python", "by name")
    if lower.endswith((".jinja", ".j2")) or lower.startswith("chat_template"):
        return FileSniff("jinja", "by name")
    return kind


def _unhandled(kind: FileSniff, ctx: ScanContext) -> Iterator[Finding]:
    fmt = kind.format
    if fmt == "empty":
        yield ctx.finding("format/empty", Severity.INFO, "empty file", scanner=_ENGINE)
        return
    if fmt == "text":
        if kind.detail == "json-like":
            yield ctx.finding(
                "malformed/json",
                Severity.LOW,
                "looks like JSON but does not parse",
                scanner=_ENGINE,
                remediation="fix or remove the file",
            )
        return
    yield ctx.finding(
        "format/unknown",
        Severity.MEDIUM,
        "unrecognised binary format: not analysed, cannot be vouched for",
        scanner=_ENGINE,
        remediation="convert the model to a known format such as safetensors",
    )


def _scanners(config: ScanConfig) -> tuple[Scanner, ...]:
    from mlwarden.scanning.registry import builtin_scanners, load_plugins  # noqa: PLC0415

    return builtin_scanners() + load_plugins(config.plugins)
