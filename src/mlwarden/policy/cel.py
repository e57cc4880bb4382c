"""CEL custom rules on the official runtime (``cel-expr-python``, the CEL C++ implementation).

An expression sees ``evidence`` (the evidence document, a map), ``now`` (its ``time`` as a CEL
timestamp) and ``severity``, a map ordering severity names (none 0, info 1, low 2, medium 3, high 4,
critical 5) so ``severity[f.severity] >= severity.high`` compares them. ``severity_rank(name)`` gives the
same numbers (-1 for an unknown name) but is a Python callback, about three times slower per call: prefer
the map inside loops over findings. The standard ``strings`` extension (``lowerAscii``, ``split``, ...)
is loaded.

Expressions are type-checked and compiled once, when the policy is loaded: a syntax error, an undeclared
name or a result that cannot be a bool makes the policy invalid. At evaluation time a CEL error (a
missing key, division by zero) or a non-bool result is that rule's error, never an exception.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mlwarden.policy.evidence import RANK


class CelCompileError(ValueError):
    """The expression does not compile; the message is one line (position and problem)."""


@dataclass(frozen=True, slots=True)
class CelResult:
    """A bool, or the error that stopped the evaluation."""

    value: bool | None
    error: str | None = None


def _cel() -> Any:
    """The runtime module, imported on first use (it ships no type information)."""
    from cel_expr_python import cel  # type: ignore[import-untyped]  # noqa: PLC0415

    return cel


@functools.cache
def _environment() -> Any:
    """The CEL environment; built on first use (~0.1 s), shared by every policy of the process."""
    from cel_expr_python.ext import ext_strings  # type: ignore[import-untyped]  # noqa: PLC0415

    cel = _cel()

    def severity_rank(name: str) -> int:
        return RANK.get(name, -1)

    rank = cel.Overload(
        "severity_rank_string", return_type=cel.Type.INT, parameters=[cel.Type.STRING], impl=severity_rank
    )
    return cel.NewEnv(
        variables={
            "evidence": cel.Type.Map(cel.Type.STRING, cel.Type.DYN),
            "now": cel.Type.TIMESTAMP,
            "severity": cel.Type.Map(cel.Type.STRING, cel.Type.INT),
        },
        extensions=[ext_strings.ExtStrings()],
        functions=[cel.FunctionDecl("severity_rank", [rank])],
    )


def _one_line(message: str) -> str:
    """cel-cpp errors span lines (source excerpt, caret); keep the position and the problem."""
    first = message.strip().splitlines()[0] if message.strip() else "invalid expression"
    first = re.sub(r"^[A-Z_]+: ", "", first)  # the absl status code (INVALID_ARGUMENT, NOT_FOUND, ...)
    for prefix in ("ERROR: ", "<input>:"):
        first = first.removeprefix(prefix)
    return first.strip()


class CelProgram:
    """One compiled, type-checked boolean expression."""

    __slots__ = ("_program", "source")

    def __init__(self, source: str) -> None:
        cel = _cel()
        env = _environment()
        try:
            program = env.compile(source)
        except RuntimeError as exc:
            raise CelCompileError(_one_line(str(exc))) from None
        result_type = program.return_type()
        if result_type != cel.Type.BOOL and result_type != cel.Type.DYN:
            raise CelCompileError(f"the expression is a {result_type.name().lower()}, not a bool")
        self._program = program
        self.source = source

    def run(self, activation: Any) -> CelResult:
        """Evaluate against an activation from :func:`activation`."""
        cel = _cel()
        try:
            result = self._program.eval(activation)
        except Exception as exc:  # noqa: BLE001 - the runtime's failures become this rule's error
            return CelResult(None, _one_line(str(exc)) or type(exc).__name__)
        kind = result.type()
        if kind == cel.Type.ERROR:
            return CelResult(None, _one_line(str(result.value())))
        value = result.value()
        if kind != cel.Type.BOOL or not isinstance(value, bool):
            return CelResult(None, f"the expression gave a {kind.name().lower()}, not a bool")
        return CelResult(value)


def activation(evidence: Mapping[str, Any], now: dt.datetime) -> Any:
    """Variable bindings shared by every expression of one evaluation.

    The runtime converts the whole document when the activation is made (about 7 µs per finding), so it
    is made once per evaluation and only when some expression runs.
    """
    return _environment().Activation({"evidence": evidence, "now": now, "severity": RANK})
