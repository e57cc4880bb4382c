"""Approvals: a signed statement that a named principal accepts exactly these model bytes.

The approver is whoever signed the approval (the key or certificate identity the gate authenticates),
never a name written in the predicate, which anyone could type. The predicate records why, for what
scope and until when; the subject is the model's OMS root digest, so an approval cannot be moved to
other bytes.
"""

from __future__ import annotations

import datetime as dt
import os
from typing import Any

from mlwarden.errors import UsageError
from mlwarden.hashing import HashingConfig
from mlwarden.services.attest import attest

APPROVAL_PREDICATE_TYPE = "https://mlwarden.dev/attestation/approval/v1"


def approval_predicate(
    reason: str, *, expires: dt.datetime | None, scope: str | None, now: dt.datetime | None = None
) -> dict[str, Any]:
    """The approval predicate; refuses an empty reason or an expiry in the past."""
    created = (now or dt.datetime.now(dt.UTC)).replace(microsecond=0)
    if not reason.strip():
        raise UsageError("an approval needs a reason", hint="pass --reason 'why these bytes may ship'")
    if expires is not None:
        expires = expires if expires.tzinfo else expires.replace(tzinfo=dt.UTC)
        if expires <= created:
            raise UsageError(f"--expires {expires:%Y-%m-%d} is not in the future", hint="give a later date")
    return {
        "reason": reason.strip(),
        "scope": scope,
        "created": created.isoformat().replace("+00:00", "Z"),
        "expires": expires.isoformat().replace("+00:00", "Z") if expires else None,
    }


def approve(
    model_path: str | os.PathLike[str],
    private_key_pem: bytes,
    *,
    reason: str,
    expires: dt.datetime | None = None,
    scope: str | None = None,
    config: HashingConfig | None = None,
    password: bytes | None = None,
    certificate_chain: bytes | None = None,
) -> dict[str, Any]:
    """Hash the model and sign an approval of its root digest; returns the bundle."""
    predicate = approval_predicate(reason, expires=expires, scope=scope)
    return attest(
        model_path,
        "approval",
        private_key_pem,
        predicate=predicate,
        predicate_type=APPROVAL_PREDICATE_TYPE,
        config=config,
        password=password,
        certificate_chain=certificate_chain,
    )
