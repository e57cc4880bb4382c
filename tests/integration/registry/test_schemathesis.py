"""Schemathesis against the registry's own OpenAPI schema, over loopback: no input gives a 5xx.

Three callers (no token, a reader, an admin) and both generation modes (data that fits the schema and
data that does not), every operation, against a real server on SQLite and on PostgreSQL (conftest's
``backend``: the PostgreSQL run finds what SQLite forgives, e.g. 32-bit ids) that holds one real
pushed model. Every operation is also run with the path pinned to that model, so the read
routes reach real rows instead of stopping at a 404 or a 422 on the name. Checks: no 5xx, and every
response conforms to the schema: a declared status code, a declared content type, the declared headers
(``WWW-Authenticate`` on 401, ``Retry-After`` on 429, ``ETag`` on a pull) and the body schema (the
problem+json ``Problem`` included); and every 4xx is problem+json carrying its status.
"""

from __future__ import annotations

import os
import time
import uuid
from typing import Any
from unittest.mock import ANY

import httpx
import jwt
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.errors import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from .conftest import Material, Server

MAX_EXAMPLES = int(os.environ.get("MLWARDEN_SCHEMATHESIS_EXAMPLES", "25"))  # per operation, mode and pass
CALLERS = ["anonymous", "reader", "admin"]
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
PUBLIC = {"/healthz", "/readyz", "/metrics", "/v1/audit/checkpoint"}  # answered without a token
schemathesis.serializer.alias("application/x-tar", "application/octet-stream")  # push bodies: raw bytes


@pytest.fixture(scope="module")
def seeded(server: Server, material: Material, tokens: dict[str, str]) -> dict[str, str]:
    """One real version (``team/<name>@1.0``, on alias ``staging``) for the read routes to find."""
    name = f"st-{uuid.uuid4().hex[:8]}"
    client = server.client(tokens["publisher"])
    client.push(f"team/{name}", "1.0", material.model("benign"), signatures=[material.sig("benign")])
    client.promote(f"team/{name}", "staging", "1.0")
    return {"namespace": "team", "name": name, "version": "1.0", "alias": "staging", "path": "config.json"}


def problem_json_for_4xx(response: Any, case: Case) -> None:
    """A client's mistake is answered as RFC 9457 problem+json carrying the same status."""
    if 400 <= response.status_code < 500:
        content_type = response.headers.get("content-type", [""])
        content_type = content_type[0] if isinstance(content_type, list) else content_type
        assert content_type.startswith("application/problem+json"), (case.operation.label, content_type)
        body = response.json()
        assert body["status"] == response.status_code and body["title"], body


def _fuzz(server: Server, token: str | None, pinned: dict[str, str] | None) -> list[str]:
    schema = schemathesis.openapi.from_url(f"{server.url}/v1/openapi.json")
    # The caller's credential is ours to choose: no made-up bearer tokens from the security scheme (they
    # would count as failed logins, and after 10 a minute every caller on loopback gets a 429).
    schema.config.generation.update(with_security_parameters=False)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        names = {p.name for p in operation.path_parameters}
        fixed = {k: v for k, v in (pinned or {}).items() if k in names} or None
        if pinned is not None and not fixed:
            continue  # nothing to pin: the unpinned run already covered it
        # negative data needs something typed to break: a body or a query (any text is a valid path string)
        negatable = bool(list(operation.query)) or bool(operation.body)
        modes = [GenerationMode.POSITIVE, GenerationMode.NEGATIVE] if negatable else [GenerationMode.POSITIVE]
        for mode in modes:
            strategy = operation.as_strategy(generation_mode=mode, path_parameters=fixed)

            @given(case=strategy)
            @settings(
                max_examples=MAX_EXAMPLES,
                deadline=None,
                database=None,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            def run(case: Case) -> None:
                response = case.call(base_url=server.url, headers=headers, timeout=60)
                case.validate_response(response, checks=CHECKS, headers=headers)
                problem_json_for_4xx(response, case)

            try:
                run()
            except Unsatisfiable:
                continue  # negative mode: nothing in this operation's schema can be made invalid
            # FailureGroup (what the checks raise) is a BaseExceptionGroup, not an Exception
            except (Exception, FailureGroup) as err:  # noqa: BLE001 - collect every operation's failures
                failures.append(f"{operation.label} [{mode.value}]: {err}")
    return failures


@pytest.mark.parametrize("caller", CALLERS)
def test_responses_conform_and_none_is_a_server_error(
    server: Server, tokens: dict[str, str], seeded: dict[str, str], caller: str
) -> None:
    if caller == "anonymous":  # every /v1 route stops at the 401, so pinning the path would add nothing
        failures = _fuzz(server, None, None)
    else:
        token = server.admin_token if caller == "admin" else tokens[caller]
        failures = _fuzz(server, token, None) + _fuzz(server, token, seeded)
    assert not failures, "\n\n".join(failures)


def test_schema_declares_security_and_problems(server: Server) -> None:
    """Bearer on every route but the public ones; every problem is problem+json ``Problem`` (422 too)."""
    schema = httpx.get(f"{server.url}/v1/openapi.json").json()
    assert schema["components"]["securitySchemes"] == {
        "bearer": {"type": "http", "scheme": "bearer", "description": ANY}
    }
    assert "HTTPValidationError" not in schema["components"]["schemas"]
    assert {"type", "title", "status", "detail", "instance"} <= set(
        schema["components"]["schemas"]["Problem"]["properties"]
    )
    assert set(schema["paths"]["/healthz"]["get"]["responses"]) == {"200"}  # was: every app-wide problem
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            where = f"{method.upper()} {path}"
            if path in PUBLIC:
                assert "security" not in operation, where
            else:
                assert operation["security"] == [{"bearer": []}], where
                assert {"401", "429"} <= set(operation["responses"]), where
            for status, response in operation["responses"].items():
                if status.startswith(("4", "5")):
                    assert response["content"] == {
                        "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
                    }, (where, status)


# Regressions: answers the conformance checks (or reading the code behind them) found undeclared or malformed.


def _declared(server: Server, method: str, path: str) -> set[str]:
    schema = httpx.get(f"{server.url}/v1/openapi.json").json()
    return set(schema["paths"][path][method]["responses"])


def _problem(r: httpx.Response, status: int) -> None:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["status"] == status


def test_json_body_that_is_not_utf8_is_a_declared_400(server: Server, seeded: dict[str, str]) -> None:
    """Negative mode's ``b"\\xfc"`` as a JSON body: FastAPI answers 400, which was undeclared."""
    url = f"{server.url}/v1/models/{seeded['namespace']}/{seeded['name']}/versions/1.0/quarantine"
    headers = {"Authorization": f"Bearer {server.admin_token}", "Content-Type": "application/json"}
    _problem(httpx.post(url, content=b"\xfc", headers=headers), 400)
    assert "400" in _declared(server, "post", "/v1/models/{namespace}/{name}/versions/{version}/quarantine")


def test_405_keeps_its_allow_header(server: Server) -> None:
    """The problem+json handler dropped Starlette's headers: a 405 lacked ``Allow`` (RFC 9110 requires it)."""
    r = httpx.patch(f"{server.url}/v1/tokens", headers={"Authorization": f"Bearer {server.admin_token}"})
    _problem(r, 405)
    # Starlette names the methods of the first route that matched the path only (here POST, not GET too)
    assert {m.strip() for m in r.headers["allow"].split(",")} <= {"GET", "POST"}


def test_oidc_roles_claim_naming_no_role_is_a_declared_422(server: Server, jwks_key: object) -> None:
    """A valid JWT whose roles claim names an unknown role gets a 422, even on a route without parameters."""
    claims = {
        "sub": "mallory@example.com",
        "iss": "https://issuer.example",
        "aud": "mlwarden-registry",
        "exp": int(time.time()) + 300,
        "mlwarden_roles": ["team:overlord"],
    }
    token = jwt.encode(claims, jwks_key, algorithm="RS256", headers={"kid": "test-key"})  # type: ignore[arg-type]
    _problem(httpx.get(f"{server.url}/v1/whoami", headers={"Authorization": f"Bearer {token}"}), 422)
    assert "422" in _declared(server, "get", "/v1/whoami")
