"""An external policy engine: ask an Open Policy Agent server, for teams that already write Rego.

The contract (docs/policy.md, "OPA"): POST ``{"input": <evidence document>}`` to OPA's data API,
``<url>/v1/data/mlwarden/gate`` (or the ``/v1/data/...`` path given in the URL), and read::

    {"result": {"allow": true|false,
                "deny":    ["reason", {"id": "rule-id", "msg": "reason"}, ...],   optional
                "warn":    [... same shapes, reported but never denying ...],      optional
                "reasons": ["free text explaining the decision", ...]}}            optional

The model is allowed only when ``allow`` is true and ``deny`` is empty. ``{"result": true}`` (a URL
naming a boolean rule) is accepted too. Any failure (unreachable server, timeout, HTTP error, not JSON,
no ``result``: the package is not loaded) is a denying decision with the reason, never an exception.
Proxies from the environment are not used and redirects are not followed: the evidence goes only to
the server named.
"""

from __future__ import annotations

import http.client
import json
import socket
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from mlwarden.errors import UsageError
from mlwarden.policy.decision import Decision, Outcome, RuleOutcome
from mlwarden.policy.evidence import Evidence, validate_evidence

DEFAULT_PACKAGE = "mlwarden/gate"
DEFAULT_TIMEOUT = 10.0
MAX_RESPONSE_BYTES = 16 << 20


def opa_endpoint(url: str, package: str = DEFAULT_PACKAGE) -> str:
    """The data API URL for ``url``: kept when it already names ``/v1/data/...``; raises UsageError."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise UsageError(f"--opa-url {url!r} is not an http(s) URL", hint="for example http://127.0.0.1:8181")
    path = parts.path.rstrip("/")
    if "/v1/data" not in path:
        path = f"{path}/v1/data/{package.strip('/')}"
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # urllib then raises HTTPError with the 3xx status


def evaluate_opa(
    url: str,
    evidence: Mapping[str, Any] | Evidence,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    package: str = DEFAULT_PACKAGE,
) -> Decision:
    """Post the evidence to OPA and turn its answer into a :class:`Decision` (deny on any failure)."""
    raw: Mapping[str, Any]
    if isinstance(evidence, Evidence):
        typed, raw = evidence, evidence.model_dump(by_alias=True)
    else:
        typed, raw = validate_evidence(evidence), evidence
    endpoint = opa_endpoint(url, package)
    subject = typed.subject

    def decide(outcomes: list[RuleOutcome], error: str | None = None) -> Decision:
        return Decision(
            allowed=error is None and not any(o.blocking for o in outcomes),
            mode="enforce",
            policy=f"opa {endpoint}",
            source=endpoint,
            outcomes=tuple(outcomes),
            engine="opa",
            subject_path=subject.path,
            subject_name=subject.name,
            root_digest=subject.root_digest,
            time=typed.time,
            error=error,
        )

    try:
        return decide(_outcomes(_post(endpoint, {"input": raw}, timeout)))
    except _OpaError as exc:
        reason = f"OPA at {endpoint}: {exc}"
        return decide([RuleOutcome("opa", "opa", Outcome.ERROR, reason)], reason)


class _OpaError(Exception):
    """Why OPA gave no usable answer (one line)."""


def _post(endpoint: str, body: Mapping[str, Any], timeout: float) -> Any:
    data = json.dumps(body).encode()
    request = urllib.request.Request(  # noqa: S310 - the scheme is checked in opa_endpoint
        endpoint,
        data=data,
        method="POST",
        headers={"Content-Type": "application/json", "Accept": "application/json"},
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect())
    try:
        with opener.open(request, timeout=timeout) as response:
            payload = response.read(MAX_RESPONSE_BYTES + 1)
    except urllib.error.HTTPError as exc:
        try:
            detail = _error_detail(exc)
        finally:
            exc.close()
        raise _OpaError(f"HTTP {exc.code} {exc.reason}{detail}") from None
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, TimeoutError | socket.timeout):
            raise _OpaError(f"no answer within {timeout:g} s") from None
        raise _OpaError(f"cannot connect: {getattr(reason, 'strerror', None) or reason}") from None
    except TimeoutError:
        raise _OpaError(f"no answer within {timeout:g} s") from None
    except (OSError, http.client.HTTPException) as exc:
        raise _OpaError(f"connection failed: {type(exc).__name__}: {exc}") from None
    if len(payload) > MAX_RESPONSE_BYTES:
        raise _OpaError("answer larger than 16 MiB")
    try:
        document = json.loads(payload)
    except (UnicodeDecodeError, ValueError):
        raise _OpaError(f"the answer is not JSON: {payload[:60]!r}") from None
    if not isinstance(document, dict) or "result" not in document:
        raise _OpaError("no result: no policy defines this document (is the package loaded?)")
    return document["result"]


def _error_detail(exc: urllib.error.HTTPError) -> str:
    """OPA's own error message, when the body is its JSON error object."""
    try:
        body = json.loads(exc.read(4096) or b"{}")
    except (OSError, ValueError, http.client.HTTPException):
        return ""
    message = body.get("message") if isinstance(body, dict) else None
    return f": {' '.join(str(message).split())[:200]}" if message else ""


def _outcomes(result: Any) -> list[RuleOutcome]:
    if isinstance(result, bool):
        result = {"allow": result}
    if not isinstance(result, dict):
        raise _OpaError(f"result is a {type(result).__name__}, not an object with allow")
    allow = result.get("allow")
    if not isinstance(allow, bool):
        raise _OpaError("result.allow is missing or not a boolean")
    reasons = _texts(result.get("reasons", []), "reasons")
    outcomes = [
        RuleOutcome(rule_id, "opa", Outcome.FAIL, text)
        for rule_id, text in _entries(result.get("deny", []), "deny")
    ]
    outcomes += [
        RuleOutcome(rule_id, "opa", Outcome.FAIL, text, enforcement="warn")
        for rule_id, text in _entries(result.get("warn", []), "warn")
    ]
    if not allow and not any(o.blocking for o in outcomes):
        outcomes.insert(0, RuleOutcome("opa", "opa", Outcome.FAIL, "; ".join(reasons) or "OPA did not allow"))
    elif allow and not any(o.blocking for o in outcomes):
        outcomes.insert(0, RuleOutcome("opa", "opa", Outcome.PASS, "; ".join(reasons) or "OPA allowed"))
    return outcomes


def _texts(value: Any, key: str) -> list[str]:
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _OpaError(f"result.{key} must be a list of strings")
    return value


def _entries(value: Any, key: str) -> list[tuple[str, str]]:
    """``deny``/``warn`` entries: strings, or objects with ``msg``/``message``/``reason`` and ``id``/``rule``.

    Rego sets serialise as lists, so both arrive here as lists.
    """
    if not isinstance(value, list):
        raise _OpaError(f"result.{key} must be a list")
    out: list[tuple[str, str]] = []
    for entry in value:
        if isinstance(entry, str):
            out.append((f"opa/{key}", entry))
            continue
        if isinstance(entry, dict):
            text = next(
                (entry[k] for k in ("msg", "message", "reason") if isinstance(entry.get(k), str)), None
            )
            ident = next((entry[k] for k in ("id", "rule") if isinstance(entry.get(k), str)), f"opa/{key}")
            if text is not None:
                out.append((ident, text))
                continue
        raise _OpaError(f"result.{key} has an entry that is neither a string nor an object with msg")
    return out
