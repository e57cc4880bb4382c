"""HDF5 files (Keras .h5): the model config in the root attributes, and links that leave the file.

h5py reads the structure through a zero-copy, read-only file object over the blob; no dataset is
read. When the HDF5 library cannot open the file, a bounded byte search still finds the config.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, ClassVar

from mlwarden.core.types import Finding, Severity
from mlwarden.scanning._formats.keras_config import analyze_keras_config
from mlwarden.scanning.interface import Blob, BufferReader, ScanContext, Scanner

_MAX_OBJECTS = 100_000
_CONFIG_ATTRS = ("model_config", "training_config")
_INFO_ATTRS = ("keras_version", "backend")
_SEARCH_BYTES = 256 << 20
_MAX_JSON = 16 << 20
_CHUNK = 8 << 20


def _text(value: object) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    item = getattr(value, "item", None)  # a one-element numpy array or scalar
    if callable(item) and getattr(value, "size", 0) == 1:
        return _text(item())
    return None


class Hdf5Scanner(Scanner):
    """Keras model/training configs in root attributes; external links, external and virtual storage."""

    name: ClassVar[str] = "hdf5"
    formats: ClassVar[frozenset[str]] = frozenset({"hdf5"})

    def scan(self, blob: Blob, ctx: ScanContext) -> Iterator[Finding]:
        try:
            import h5py  # noqa: PLC0415 - heavy, and needed only for HDF5 files
        except ImportError:  # pragma: no cover - h5py is a dependency
            yield ctx.finding(
                "hdf5/not-analysed",
                Severity.INFO,
                "h5py is not installed; byte search only",
                scanner=self.name,
                remediation="pip install h5py",
            )
            yield from self._fallback(blob, ctx)
            return
        out: list[Finding] = []
        try:
            with h5py.File(BufferReader(blob.data()), "r") as h5:
                configs = self._root(h5, ctx)
                out.extend(self._links(h5, h5py, ctx))
        except Exception as exc:  # noqa: BLE001 - the HDF5 library raises many types on hostile input
            out.append(
                ctx.finding(
                    "malformed/hdf5",
                    Severity.MEDIUM,
                    f"HDF5 structure could not be read ({type(exc).__name__}: {str(exc)[:120]})",
                    scanner=self.name,
                    remediation="re-save the model; a damaged file cannot be vouched for",
                )
            )
            yield from out
            yield from self._fallback(blob, ctx)
            return
        yield from out
        for attr, text in configs:
            yield from self._config(text, attr, ctx)

    def _root(self, h5: Any, ctx: ScanContext) -> list[tuple[str, str]]:
        facts: dict[str, Any] = {"root_attrs": []}
        ctx.facts.setdefault(ctx.member or "", {})["hdf5"] = facts
        configs: list[tuple[str, str]] = []
        for attr in list(h5.attrs)[:1000]:
            facts["root_attrs"].append(attr)
            if attr in _CONFIG_ATTRS or attr in _INFO_ATTRS:
                text = _text(h5.attrs[attr])
                if text is None:
                    continue
                if attr in _CONFIG_ATTRS:
                    configs.append((attr, text))
                else:
                    facts[attr] = text[:64]
        return configs

    def _links(self, h5: Any, h5py: Any, ctx: ScanContext) -> Iterator[Finding]:
        queue: list[Any] = [h5]
        seen: set[int] = set()
        objects = 0
        while queue:
            group = queue.pop()
            for name in group:
                objects += 1
                if objects > _MAX_OBJECTS:
                    yield ctx.finding(
                        "limit/hdf5-objects",
                        Severity.HIGH,
                        f"more than {_MAX_OBJECTS:,} HDF5 objects; the rest was not checked",
                        scanner=self.name,
                        remediation="inspect the file by hand",
                    )
                    return
                if not objects & 0x3FF:
                    ctx.check_time()
                link = group.get(name, getlink=True)
                path = f"{group.name.rstrip('/')}/{name}"
                if isinstance(link, h5py.ExternalLink):
                    yield ctx.finding(
                        "hdf5/external-link",
                        Severity.HIGH,
                        f"{path} links to {link.path!r} in another file, {link.filename!r}",
                        scanner=self.name,
                        construct=str(link.filename),
                        remediation="resolve the link into the file; loaders follow it to any path",
                    )
                    continue
                if isinstance(link, h5py.SoftLink):
                    continue
                obj = group.get(name)
                key = hash(obj.id)
                if key in seen:
                    continue
                seen.add(key)
                if isinstance(obj, h5py.Group):
                    queue.append(obj)
                elif isinstance(obj, h5py.Dataset):
                    yield from self._dataset(obj, path, ctx)
        ctx.facts.setdefault(ctx.member or "", {}).setdefault("hdf5", {})["objects"] = objects

    def _dataset(self, dset: Any, path: str, ctx: ScanContext) -> Iterator[Finding]:
        external = dset.external
        if external:
            names = sorted({str(entry[0]) for entry in external})[:5]
            yield ctx.finding(
                "hdf5/external-storage",
                Severity.HIGH,
                f"dataset {path} keeps its data in external file(s) {', '.join(names)}",
                scanner=self.name,
                construct=names[0],
                remediation="store the data inside the file; external storage reads any path",
            )
        if dset.is_virtual:
            sources = sorted({str(v.file_name) for v in dset.virtual_sources()} - {"."})[:5]
            if sources:
                yield ctx.finding(
                    "hdf5/virtual-dataset",
                    Severity.MEDIUM,
                    f"virtual dataset {path} maps data from {', '.join(sources)}",
                    scanner=self.name,
                    construct=sources[0],
                    remediation="materialise the dataset; virtual sources can name any file",
                )

    def _config(self, text: str, attr: str, ctx: ScanContext) -> Iterator[Finding]:
        try:
            config = json.loads(text)
        except (ValueError, RecursionError) as exc:
            yield ctx.finding(
                "keras/config-json",
                Severity.MEDIUM,
                f"root attribute {attr!r} is not valid JSON ({str(exc)[:80]})",
                scanner=self.name,
                construct=attr,
                remediation="re-save the model; Keras cannot load an unreadable config",
            )
            return
        yield from analyze_keras_config(config, ctx, self.name)

    def _fallback(self, blob: Blob, ctx: ScanContext) -> Iterator[Finding]:
        """Find JSON objects starting with ``{"class_name"`` by a chunked byte search and analyse them."""
        data = blob.data()
        needle = b'{"class_name"'
        decoder = json.JSONDecoder()
        end = min(len(data), _SEARCH_BYTES)
        start = found = 0
        while start < end and found < 16:
            chunk = bytes(data[start : min(end, start + _CHUNK + len(needle))])
            hit = chunk.find(needle)
            if hit < 0:
                start += _CHUNK
                continue
            pos = start + hit
            found += 1
            text = bytes(data[pos : pos + _MAX_JSON]).decode("utf-8", "replace")
            try:
                config, length = decoder.raw_decode(text)
            except (ValueError, RecursionError):
                start = pos + 1
                continue
            yield from analyze_keras_config(config, ctx, self.name)
            start = pos + max(len(text[:length].encode("utf-8", "replace")), 1)
