"""One line per pydantic validation error, naming the key path as the user wrote it (``rules[2].max``).

pydantic's own messages name internal locations (the discriminator tag sits in the path) and span several
lines; a policy author needs the file, the key and what is allowed there, on one line.
"""

from __future__ import annotations

import types
import typing
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails


def describe(exc: ValidationError, root: type[BaseModel]) -> str:
    """The first error as ``path: message``, with a count of the others."""
    errors = exc.errors(include_url=False)
    first = _one(errors[0], root)
    more = len(errors) - 1
    return first + (f" (and {more} more error{'s' if more > 1 else ''})" if more else "")


def _one(error: ErrorDetails, root: type[BaseModel]) -> str:
    parts, node, parent = _resolve(root, error["loc"])
    kind = error["type"]
    value = error.get("input")
    ctx = error.get("ctx") or {}
    if kind == "extra_forbidden":
        allowed = ", ".join(_keys(parent)) if parent is not None else ""
        return f"{_path(parts)}: unknown key" + (f" (allowed: {allowed})" if allowed else "")
    if kind == "missing":
        return f"{_path(parts)}: required key is missing"
    if kind == "literal_error":
        choices = _literal_choices(node) or [c.strip(" '\"") for c in str(ctx.get("expected", "")).split(",")]
        return f"{_path(parts)}: {value!r} is not one of {', '.join(choices)}"
    if kind == "union_tag_invalid":
        tags = ", ".join(t.strip(" '\"") for t in str(ctx.get("expected_tags", "")).split(","))
        return f"{_path([*parts, 'type'])}: {ctx.get('tag')!r} is not one of {tags}"
    if kind == "union_tag_not_found":
        return f"{_path(parts)}: 'type' is missing"
    message = error["msg"]
    message = message[:1].lower() + message[1:]
    if kind == "value_error":  # our validators' messages name the value themselves
        return f"{_path(parts)}: {message.removeprefix('value error, ')}"
    shown = value if isinstance(value, str | int | float | bool) or value is None else None
    suffix = f" (got {shown!r})" if shown is not None and len(repr(shown)) <= 80 else ""
    return f"{_path(parts)}: {message}{suffix}"


def _path(parts: list[str | int]) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _keys(model: type[BaseModel]) -> list[str]:
    return [field.alias or name for name, field in model.model_fields.items()]


def _resolve(
    root: type[BaseModel], loc: tuple[str | int, ...]
) -> tuple[list[str | int], Any, type[BaseModel] | None]:
    """Walk ``loc`` through the model's annotations, dropping union tags pydantic inserts into it.

    Returns the user-visible path, the annotation at its end and the model holding the last key.
    """
    parts: list[str | int] = []
    node: Any = root
    parent: type[BaseModel] | None = None
    for element in loc:
        node = _unwrap(node)
        if isinstance(element, str) and (variant := _variant(node, element)) is not None:
            node = variant  # the discriminator value pydantic puts in the path; not a key
            continue
        parts.append(element)
        if isinstance(node, type) and issubclass(node, BaseModel) and isinstance(element, str):
            parent = node
            field = node.model_fields.get(element)
            node = field.annotation if field is not None else None
        elif typing.get_origin(node) is list and isinstance(element, int):
            node = typing.get_args(node)[0]
        elif typing.get_origin(node) is dict:
            node = typing.get_args(node)[1]
        else:
            node = None
    return parts, _unwrap(node), parent


def _unwrap(node: Any) -> Any:
    """``Annotated[X, ...]`` → X and ``X | None`` → X; other unions stay as they are."""
    while True:
        origin = typing.get_origin(node)
        if origin is typing.Annotated:
            node = typing.get_args(node)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(node) if a is not type(None)]
            if len(args) != 1:
                return node
            node = args[0]
        else:
            return node


def _variant(node: Any, tag: str) -> type[BaseModel] | None:
    if typing.get_origin(node) not in (typing.Union, types.UnionType):
        return None
    for member in typing.get_args(node):
        member = _unwrap(member)
        if (
            isinstance(member, type)
            and issubclass(member, BaseModel)
            and "type" in member.model_fields
            and tag in _literal_choices(member.model_fields["type"].annotation)
        ):
            return member
    return None


def _literal_choices(node: Any) -> list[str]:
    node = _unwrap(node)
    if typing.get_origin(node) is typing.Literal:
        return [str(arg) for arg in typing.get_args(node)]
    return []
