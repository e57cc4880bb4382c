"""Waivers: accepted, owned, dated exceptions to one rule.

A waiver names a rule and, for rules that report items, optionally a finding rule id (``finding``) and a
file glob (``file``, :func:`fnmatch.fnmatchcase`, ``*`` crossing ``/``); it then waives only the items it
matches. It is valid through its ``expires`` date (UTC), judged at the evidence ``time``.

An expired waiver does not quietly stop applying: its rule fails, naming the waiver, its owner and the
date, until someone renews or removes it. Every waiver that waived something is listed in the decision.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase

from mlwarden.policy.schema import Waiver


@dataclass(frozen=True, slots=True)
class Item:
    """One thing a rule objects to: a finding above the limit, a file in a refused format."""

    text: str
    file: str | None = None
    finding: str | None = None


@dataclass(slots=True)
class RuleWaivers:
    """The waivers of one rule, split by whether they were still valid at the evidence time."""

    active: list[Waiver] = field(default_factory=list)
    expired: list[Waiver] = field(default_factory=list)

    def whole_rule(self) -> Waiver | None:
        """An active waiver without finding or file: it waives everything the rule reports."""
        return next((w for w in self.active if w.finding is None and w.file is None), None)

    def matching(self, item: Item) -> Waiver | None:
        """The first active waiver that covers ``item``."""
        for waiver in self.active:
            if waiver.finding is not None and waiver.finding != item.finding:
                continue
            if waiver.file is not None and (item.file is None or not fnmatchcase(item.file, waiver.file)):
                continue
            return waiver
        return None


def by_rule(waivers: Sequence[Waiver], at: dt.datetime) -> dict[str, RuleWaivers]:
    """Group waivers by rule id; a waiver is expired once the UTC date at ``at`` is past ``expires``."""
    today = at.astimezone(dt.UTC).date()
    out: dict[str, RuleWaivers] = {}
    for waiver in waivers:
        book = out.setdefault(waiver.rule, RuleWaivers())
        (book.expired if today > waiver.expires else book.active).append(waiver)
    return out


def expired_reason(waiver: Waiver) -> str:
    """The reason an expired waiver gives its rule."""
    return f"waiver for {waiver.describe()} expired on {waiver.expires.isoformat()} ({waiver.owner})"
