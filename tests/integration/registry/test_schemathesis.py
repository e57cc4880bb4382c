"""Schemathesis against the registry's own OpenAPI schema, over loopback: no input gives a 5xx.

Three callers (no token, a reader, an admin) and both generation modes (data that fits the schema and
data that does not), every operation, against a real server on SQLite and on PostgreSQL (conftest's
``backend``: the PostgreSQL run finds what SQLite forgives, e.g. 32-bit ids) that holds one real
pushed model. Every operation is also run with the path pinned to that model, so the read
routes reach real rows instead of stopping at a 404 or a 422 on the name. Checks: no 5xx, responses
conform to the schema (the declared problem+json 4xx included), and every 4xx is problem+json.
"""

from __future__ import annotations

import os
import uuid
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from .conftest import Material, Server

MAX_EXAMPLES = int(os.environ.get("MLWARDEN_SCHEMATHESIS_EXAMPLES", "25"))  # per operation, mode and pass
CALLERS = ["anonymous", "reader", "admin"]
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
                case.validate_response(
                    response, checks=[not_a_server_error, response_schema_conformance], headers=headers
                )
                problem_json_for_4xx(response, case)

            try:
                run()
            except Unsatisfiable:
                continue  # negative mode: nothing in this operation's schema can be made invalid
            except Exception as err:  # noqa: BLE001 - collect every operation's failure, report them all
                failures.append(f"{operation.label} [{mode.value}]: {err}")
    return failures


@pytest.mark.parametrize("caller", CALLERS)
def test_no_input_gives_a_server_error(
    server: Server, tokens: dict[str, str], seeded: dict[str, str], caller: str
) -> None:
    if caller == "anonymous":  # every /v1 route stops at the 401, so pinning the path would add nothing
        failures = _fuzz(server, None, None)
    else:
        token = server.admin_token if caller == "admin" else tokens[caller]
        failures = _fuzz(server, token, None) + _fuzz(server, token, seeded)
    assert not failures, "\n\n".join(failures)
