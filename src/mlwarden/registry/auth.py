"""Authentication and role-based access: API tokens, optional OIDC JWTs, roles per model namespace.

Tokens look like ``mlw_<id>_<secret>``: the id finds the row, and only the SHA-256 of the secret is
stored (the secret is 256 random bits, so a fast hash is enough and a stolen database holds no usable
token). A token is shown once, has grants ``{namespace, role}``, expires and can be revoked. OIDC
bearer JWTs are verified against a JWKS (file or URL) with issuer and audience checks; their roles come
from a claim listing ``"namespace:role"`` strings. Namespace ``*`` grants a role everywhere.

Roles are cumulative, not a ladder: ``admin`` may do everything, ``publisher`` pushes, promotes and
rolls back, ``approver`` approves and quarantines, only ``admin`` releases a quarantine, and every
role reads.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select

from mlwarden.errors import MlwardenError
from mlwarden.registry import models as m

ROLES = ("reader", "publisher", "approver", "admin")
PERMISSIONS: dict[str, frozenset[str]] = {
    "read": frozenset(ROLES),
    "push": frozenset({"publisher", "admin"}),
    "promote": frozenset({"publisher", "admin"}),
    "rollback": frozenset({"publisher", "admin"}),
    "approve": frozenset({"approver", "admin"}),
    "quarantine": frozenset({"approver", "publisher", "admin"}),
    "release": frozenset({"admin"}),  # lifting a quarantine undoes a safety action: admins only
    "admin": frozenset({"admin"}),
}
TOKEN_PREFIX = "mlw_"  # noqa: S105 - a prefix, not a secret


class ProblemError(MlwardenError):
    """An error the API returns as ``application/problem+json`` with ``status``."""

    def __init__(self, status: int, title: str, detail: str, *, kind: str = "", **extra: Any) -> None:
        super().__init__(detail, hint=title)
        self.status = status
        self.title = title
        self.detail = detail
        self.kind = kind or title.lower().replace(" ", "-")
        self.extra = extra

    def to_dict(self) -> dict[str, Any]:
        """The RFC 9457 body."""
        return {
            "type": f"https://mlwarden.dev/problems/{self.kind}",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            **self.extra,
        }


def unauthorized(detail: str) -> ProblemError:
    """401: who are you?"""
    return ProblemError(401, "Unauthorized", detail)


@dataclass(frozen=True)
class Grant:
    """One role in one namespace (``*``: all namespaces)."""

    namespace: str
    role: str

    def to_dict(self) -> dict[str, str]:
        return {"namespace": self.namespace, "role": self.role}


@dataclass(frozen=True)
class Principal:
    """An authenticated caller and what it may do."""

    name: str
    grants: tuple[Grant, ...]
    via: str  # token | oidc
    token_id: str | None = None

    def roles_in(self, namespace: str) -> set[str]:
        """The roles held in ``namespace`` (including those granted for ``*``)."""
        return {g.role for g in self.grants if g.namespace in ("*", namespace)}

    def can(self, action: str, namespace: str) -> bool:
        """Whether ``action`` (a key of :data:`PERMISSIONS`) is allowed in ``namespace``."""
        return bool(self.roles_in(namespace) & PERMISSIONS[action])

    def require(self, action: str, namespace: str) -> None:
        """Raise a 403 problem unless allowed."""
        if not self.can(action, namespace):
            needed = " or ".join(sorted(PERMISSIONS[action]))
            raise ProblemError(
                403,
                "Forbidden",
                f"{self.name} may not {action} in namespace {namespace!r} (needs {needed})",
            )


def parse_grants(raw: Any) -> tuple[Grant, ...]:
    """Grants from JSON (``[{"namespace", "role"}]``) or ``"namespace:role"`` strings; unknown roles fail."""
    grants: list[Grant] = []
    for item in raw if isinstance(raw, list) else []:
        if isinstance(item, str):
            namespace, _, role = item.rpartition(":")
        elif isinstance(item, dict):
            namespace, role = str(item.get("namespace", "")), str(item.get("role", ""))
        else:
            raise ProblemError(422, "Invalid grant", f"a grant must be 'namespace:role', not {item!r}")
        if role not in ROLES or not namespace:
            raise ProblemError(
                422, "Invalid grant", f"grant {item!r}: the role must be one of {', '.join(ROLES)}"
            )
        grants.append(Grant(namespace, role))
    return tuple(grants)


def new_token() -> tuple[str, str, str]:
    """(id, secret hash, the token text shown once)."""
    token_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    return token_id, hash_secret(secret), f"{TOKEN_PREFIX}{token_id}_{secret}"


def hash_secret(secret: str) -> str:
    """SHA-256 of a token's secret half (hex)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def split_token(text: str) -> tuple[str, str] | None:
    """(id, secret) of an ``mlw_`` token, or None when it is not one."""
    if not text.startswith(TOKEN_PREFIX):
        return None
    token_id, sep, secret = text[len(TOKEN_PREFIX) :].partition("_")
    return (token_id, secret) if sep and token_id and secret else None


class Authenticator:
    """Turns an ``Authorization`` header into a :class:`Principal`, or raises a 401 problem."""

    def __init__(self, engine: Engine, oidc: OidcVerifier | None = None) -> None:
        self.engine = engine
        self.oidc = oidc

    def authenticate(self, header: str | None, now: dt.datetime | None = None) -> Principal:
        if not header:
            raise unauthorized("no credentials: send 'Authorization: Bearer <token>'")
        scheme, _, credential = header.partition(" ")
        credential = credential.strip()
        if scheme.lower() != "bearer" or not credential:
            raise unauthorized("use the Bearer scheme")
        parts = split_token(credential)
        if parts is None:
            if self.oidc is None:
                raise unauthorized("invalid token")
            return self.oidc.verify(credential)
        token_id, secret = parts
        with self.engine.connect() as connection:
            row = connection.execute(select(m.tokens).where(m.tokens.c.id == token_id)).mappings().first()
        # compare against a dummy when the id is unknown, so timing does not reveal which ids exist
        expected = row["secret_hash"] if row is not None else hash_secret("")
        if not hmac.compare_digest(expected, hash_secret(secret)) or row is None:
            raise unauthorized("invalid token")
        moment = now or dt.datetime.now(dt.UTC)
        if row["revoked_at"] is not None:
            raise unauthorized("token revoked")
        if _aware(row["expires_at"]) <= moment:
            raise unauthorized("token expired")
        return Principal(row["principal"], parse_grants(row["grants"]), "token", token_id)


def _aware(when: dt.datetime) -> dt.datetime:
    """SQLite returns naive datetimes; they were written in UTC."""
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


class OidcVerifier:
    """Verifies OIDC bearer JWTs against a JWKS file or URL (PyJWT), with issuer and audience."""

    def __init__(self, jwks: str, *, issuer: str | None, audience: str | None, roles_claim: str) -> None:
        import jwt  # noqa: PLC0415

        self.issuer = issuer
        self.audience = audience
        self.roles_claim = roles_claim
        self._client: jwt.PyJWKClient | None = None
        self._keys: jwt.PyJWKSet | None = None
        if jwks.startswith(("https://", "http://")):
            self._client = jwt.PyJWKClient(jwks, cache_keys=True, lifespan=300)
        else:
            try:
                self._keys = jwt.PyJWKSet.from_dict(json.loads(Path(jwks).read_text(encoding="utf-8")))
            except (OSError, ValueError, jwt.PyJWTError) as err:
                raise MlwardenError(
                    f"cannot read JWKS {jwks}: {err}", hint="check [registry] oidc_jwks"
                ) from None

    def verify(self, token: str) -> Principal:
        """The principal named by a valid JWT (``sub``), with roles from the roles claim."""
        import jwt  # noqa: PLC0415

        try:
            header = jwt.get_unverified_header(token)
            if self._client is not None:
                key: Any = self._client.get_signing_key_from_jwt(token).key
            else:
                assert self._keys is not None
                kid = header.get("kid")
                candidates = [k for k in self._keys.keys if kid is None or k.key_id == kid]
                if not candidates:
                    raise jwt.InvalidTokenError("no JWKS key matches the token's kid")
                key = candidates[0].key
            claims = jwt.decode(
                token,
                key,
                algorithms=["RS256", "ES256", "PS256", "EdDSA"],
                issuer=self.issuer,
                audience=self.audience,
                options={"require": ["exp", "sub"], "verify_aud": self.audience is not None},
            )
        except jwt.PyJWTError as err:
            raise unauthorized(f"invalid token: {err}") from None
        grants = parse_grants(claims.get(self.roles_claim, []))
        return Principal(str(claims["sub"]), grants, "oidc")


@dataclass
class FailureLimiter:
    """Failed logins per client in a sliding minute; beyond the limit, answer 429 without checking."""

    per_minute: int
    _seen: dict[str, deque[float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def retry_after(self, client: str) -> int | None:
        """Seconds to wait when ``client`` is over the limit, else None."""
        now = time.monotonic()
        with self._lock:
            times = self._seen.get(client)
            if not times:
                return None
            while times and times[0] <= now - 60:
                times.popleft()
            if len(times) < self.per_minute:
                return None
            return max(1, int(60 - (now - times[0])) + 1)

    def failed(self, client: str) -> None:
        """Record one failure."""
        with self._lock:
            if len(self._seen) > 100_000:  # bounded memory under a spray of addresses
                self._seen.clear()
            self._seen.setdefault(client, deque()).append(time.monotonic())
