"""Regressions for inputs that crashed the registry (500) before; each must now be a 4xx or a plain answer.

Found by ``test_schemathesis.py`` or while reading the code it pointed at; most only crashed on
PostgreSQL (32-bit ids, text that cannot hold NUL), so these run on both databases (see conftest).
"""

from __future__ import annotations

import uuid

import httpx
import pytest

from .conftest import Material, Server


@pytest.fixture(scope="module")
def version_url(server: Server, material: Material) -> str:
    """A real version, so the requests below get past the model lookup to the column that crashed."""
    name = f"team/in-{uuid.uuid4().hex[:8]}"
    server.client().push(name, "1.0", material.model("benign"), signatures=[material.sig("benign")])
    return f"{server.url}/v1/models/{name}/versions/1.0"


def _problem(r: httpx.Response, status: int) -> None:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["status"] == status


def _auth(server: Server) -> dict[str, str]:
    return {"Authorization": f"Bearer {server.admin_token}"}


@pytest.mark.parametrize("since", [2**31 - 1, 2**31, 4611686018427387904])
def test_events_since_beyond_32_bits(server: Server, since: int) -> None:
    """``GET /v1/events?since=4611686018427387904``: was 500 on PostgreSQL (integer out of range)."""
    r = httpx.get(f"{server.url}/v1/events", params={"since": since}, headers=_auth(server))
    assert r.status_code == 200, r.text
    assert r.json() == []


def test_revoke_token_id_with_nul(server: Server) -> None:
    """``DELETE /v1/tokens/ab%00cd``: was 500 on PostgreSQL (NUL in a text parameter)."""
    _problem(httpx.delete(f"{server.url}/v1/tokens/ab%00cd", headers=_auth(server)), 404)


def test_pull_path_with_nul(server: Server, version_url: str) -> None:
    """``GET …/files/config%00.json``: was 500 on PostgreSQL (NUL in a text parameter)."""
    _problem(httpx.get(f"{version_url}/files/config%00.json", headers=_auth(server)), 404)


@pytest.mark.parametrize(
    "body",
    [
        {"principal": "a\x00b", "grants": ["team:reader"]},
        {"principal": "ci", "grants": ["team:reader"], "description": "x\x00"},
        {"principal": "ci", "grants": ["te\x00am:reader"]},
        {"principal": "ci", "grants": ["Not A Namespace:reader"]},
    ],
)
def test_create_token_with_bad_text(server: Server, body: dict[str, object]) -> None:
    """NUL in a principal or description, or a grant for a namespace that cannot exist: was 500 / stored."""
    _problem(httpx.post(f"{server.url}/v1/tokens", json=body, headers=_auth(server)), 422)


@pytest.mark.parametrize("action", ["quarantine", "release"])
def test_reason_with_nul(server: Server, version_url: str, action: str) -> None:
    """``{"reason": "cve\\u0000"}`` on a real version: quarantine was 500 on PostgreSQL (NUL in text)."""
    r = httpx.post(f"{version_url}/{action}", json={"reason": "cve\x00"}, headers=_auth(server))
    _problem(r, 422)
    assert httpx.get(version_url, headers=_auth(server)).json()["state"] == "active"
