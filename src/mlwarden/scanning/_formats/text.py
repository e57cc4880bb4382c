"""JSON configs beside a model (Keras, Hugging Face, diffusers) and Python source files.

Hugging Face loaders import Python named by a config (``auto_map``) when ``trust_remote_code`` is
set, and render ``chat_template`` with Jinja; Keras rebuilds whatever its config names. Python
files are matched with regular expressions only: nothing is imported or compiled.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any, ClassVar

from mlwarden.core.types import Finding, Severity
from mlwarden.scanning._formats.gguf import analyze_chat_template
from mlwarden.scanning._formats.keras_config import analyze_keras_config
from mlwarden.scanning.interface import Blob, ScanContext, Scanner

_MAX_JSON = 64 << 20
_MAX_CONFIG_DOCUMENT = 256 << 10
_MAX_PYTHON = 16 << 20
_CONFIG_FACTS = (
    "architectures",
    "model_type",
    "_class_name",
    "_diffusers_version",
    "transformers_version",
    "torch_dtype",
    "library_name",
    "pipeline_tag",
)
_KNOWN_LIBRARIES = frozenset(
    {"diffusers", "transformers", "onnxruntime", "optimum", "peft", "sentence_transformers"}
)
_REMOTE_CODE_FIX = "load without trust_remote_code, or review and pin the named code before trusting it"

_PYTHON_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (label, re.compile(pattern))
    for label, pattern in (
        (
            "os.system/popen/exec",
            r"\bos\.(?:system|popen|exec\w*|spawn\w*|fork|kill|remove|unlink|rmdir)\s*\(",
        ),
        ("subprocess", r"\bsubprocess\b"),
        ("eval", r"(?<![\w.])eval\s*\("),
        ("exec", r"(?<![\w.])exec\s*\("),
        ("__import__", r"\b__import__\s*\("),
        ("socket", r"\bsocket\.(?:socket|create_connection)\b|^\s*import\s+socket\b"),
        ("urllib/urlopen", r"\burllib\.request\b|\burlopen\s*\(|\burllib2\b"),
        ("requests", r"\brequests\.(?:get|post|put|request)\s*\("),
        ("pickle/marshal loads", r"\b(?:pickle|cPickle|marshal|dill)\.loads?\s*\("),
        ("ctypes", r"\bctypes\b"),
        ("base64-decoded code", r"\b(?:exec|eval|compile)\s*\(\s*(?:base64|codecs|zlib)\."),
    )
)
"""Calls a model's helper code has no business making. Doctest and comment lines are skipped."""


class TextScanner(Scanner):
    """Keras and Hugging Face JSON configs; Python source shipped beside a model."""

    name: ClassVar[str] = "text"
    formats: ClassVar[frozenset[str]] = frozenset({"json", "python", "jinja"})

    def scan(self, blob: Blob, ctx: ScanContext) -> Iterator[Finding]:
        fmt = ctx.formats.get(ctx.member or "")
        if fmt == "python":
            yield from self._python(blob, ctx)
        elif fmt == "jinja":
            source = bytes(blob.data()).decode("utf-8", "replace")
            yield from self._template_findings("chat template", source, ctx)
        else:
            yield from self._json(blob, ctx)

    def _json(self, blob: Blob, ctx: ScanContext) -> Iterator[Finding]:
        if len(blob) > _MAX_JSON:
            yield ctx.finding(
                "limit/json-size",
                Severity.MEDIUM,
                f"JSON larger than {_MAX_JSON:,} bytes not analysed",
                scanner=self.name,
                remediation="inspect the file by hand",
            )
            return
        try:
            doc = json.loads(bytes(blob.data()))
        except (ValueError, RecursionError) as exc:
            yield ctx.finding(
                "malformed/json",
                Severity.LOW,
                f"JSON could not be parsed ({str(exc)[:100]})",
                scanner=self.name,
                remediation="fix or remove the file",
            )
            return
        if not isinstance(doc, dict):
            return
        if isinstance(doc.get("class_name"), str) and ("config" in doc or "module" in doc):
            yield from analyze_keras_config(doc, ctx, self.name)
        facts = {k: doc[k] for k in _CONFIG_FACTS if isinstance(doc.get(k), str | list) and len(doc[k]) < 256}
        yield from self._remote_code(doc, ctx, facts)
        yield from self._chat_templates(doc, ctx)
        if len(blob) <= _MAX_CONFIG_DOCUMENT:
            facts["document"] = doc  # small configs in full, for capability rules over any field
        if facts:
            ctx.facts.setdefault(ctx.member or "", {})["config"] = facts

    def _remote_code(self, doc: dict[str, Any], ctx: ScanContext, facts: dict[str, Any]) -> Iterator[Finding]:
        auto_map = doc.get("auto_map")
        if isinstance(auto_map, dict) and auto_map:
            targets: list[str] = []
            for value in auto_map.values():
                for item in value if isinstance(value, list) else [value]:
                    if isinstance(item, str) and item not in targets:
                        targets.append(item)
            facts["auto_map"] = targets[:64]
            foreign = [t for t in targets if "--" in t]
            shown = ", ".join(targets[:6]) + (" ..." if len(targets) > 6 else "")
            if foreign:
                yield ctx.finding(
                    "hf/remote-code",
                    Severity.HIGH,
                    f"auto_map loads code from another repository ({', '.join(foreign[:3])}) "
                    "under trust_remote_code",
                    scanner=self.name,
                    construct=foreign[0],
                    remediation=_REMOTE_CODE_FIX,
                    classes=targets[:64],
                )
            else:
                yield ctx.finding(
                    "hf/remote-code",
                    Severity.MEDIUM,
                    f"auto_map names custom code loaded with trust_remote_code: {shown}",
                    scanner=self.name,
                    construct=targets[0] if targets else "auto_map",
                    remediation=_REMOTE_CODE_FIX,
                    classes=targets[:64],
                )
        pipelines = doc.get("custom_pipelines")
        if isinstance(pipelines, dict) and pipelines:
            names = [str(k) for k in list(pipelines)[:6]]
            yield ctx.finding(
                "hf/remote-code",
                Severity.MEDIUM,
                f"custom_pipelines registers pipeline code: {', '.join(names)}",
                scanner=self.name,
                construct=names[0],
                remediation=_REMOTE_CODE_FIX,
            )
        if isinstance(
            doc.get("_class_name"), str
        ):  # diffusers model_index.json: component -> [library, class]
            for component, spec in list(doc.items())[:256]:
                if (
                    isinstance(spec, list)
                    and len(spec) == 2
                    and isinstance(spec[0], str)
                    and isinstance(spec[1], str)
                    and spec[0].split(".", 1)[0] not in _KNOWN_LIBRARIES
                ):
                    yield ctx.finding(
                        "hf/remote-code",
                        Severity.MEDIUM,
                        f"pipeline component {component!r} loads {spec[1]} from module {spec[0]!r}",
                        scanner=self.name,
                        construct=f"{spec[0]}.{spec[1]}",
                        remediation=_REMOTE_CODE_FIX,
                    )

    def _chat_templates(self, doc: dict[str, Any], ctx: ScanContext) -> Iterator[Finding]:
        template = doc.get("chat_template")
        sources: list[tuple[str, str]] = []
        if isinstance(template, str):
            sources.append(("chat_template", template))
        elif isinstance(template, list):
            sources.extend(
                (f"chat_template.{entry.get('name', '?')}", entry["template"])
                for entry in template[:64]
                if isinstance(entry, dict) and isinstance(entry.get("template"), str)
            )
        for label, source in sources:
            yield from self._template_findings(label, source, ctx)

    def _template_findings(self, label: str, source: str, ctx: ScanContext) -> Iterator[Finding]:
        for severity, rule_tail, construct, message in analyze_chat_template(source):
            yield ctx.finding(
                f"hf/{rule_tail}",
                severity,
                f"{label}: {message}",
                scanner=self.name,
                construct=construct,
                remediation="do not load this tokenizer; use the chat template published "
                "by the model's authors",
            )

    def _python(self, blob: Blob, ctx: ScanContext) -> Iterator[Finding]:
        yield ctx.finding(
            "code/python-source",
            Severity.MEDIUM,
            "Python source beside a model runs with trust_remote_code",
            scanner=self.name,
            remediation="review the code, or load without trust_remote_code",
        )
        text = bytes(blob.data()[:_MAX_PYTHON]).decode("utf-8", "replace")
        hits: dict[str, tuple[int, str]] = {}
        for lineno, line in enumerate(text.splitlines(), 1):
            stripped = line.lstrip()
            if stripped.startswith(("#", ">>>", "...")):
                continue
            for label, pattern in _PYTHON_PATTERNS:
                if label not in hits and pattern.search(line):
                    hits[label] = (lineno, stripped[:100])
        for label, (lineno, line) in hits.items():
            yield ctx.finding(
                "code/dangerous-call",
                Severity.HIGH,
                f"line {lineno} uses {label}: {line}",
                scanner=self.name,
                construct=label,
                remediation="do not run this code until the call is explained and reviewed",
                line=lineno,
            )
