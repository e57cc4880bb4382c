"""OPA as the policy engine, against a real tiny HTTP server on 127.0.0.1 that speaks OPA's data API."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from mlwarden.errors import UsageError
from mlwarden.policy import Outcome, evaluate_opa, opa_endpoint

from .samples import evidence


@dataclass
class Reply:
    status: int = 200
    body: bytes = b'{"result": {"allow": true}}'
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)


class FakeOpa(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.replies: dict[str, Reply] = {}
        self.requests: list[tuple[str, str, dict[str, str], bytes]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def answer(self, path: str, result: Any = None, **reply: Any) -> None:
        if result is not None:
            reply.setdefault("body", json.dumps({"result": result}).encode())
        self.replies[path] = Reply(**reply)


class _Handler(BaseHTTPRequestHandler):
    server: FakeOpa

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.server.requests.append((self.command, self.path, dict(self.headers), body))
        reply = self.server.replies.get(
            self.path, Reply(404, b'{"code": "not_found", "message": "no route"}')
        )
        time.sleep(reply.delay)
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", "application/json")
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            self.wfile.write(reply.body)
        except OSError:
            pass  # the client gave up (timeout test)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def opa() -> Iterator[FakeOpa]:
    server = FakeOpa()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


GATE = "/v1/data/mlwarden/gate"


def test_allow_posts_the_evidence_as_input(opa: FakeOpa) -> None:
    opa.answer(GATE, {"allow": True, "reasons": ["signed and clean"]})
    doc = evidence()
    decision = evaluate_opa(opa.url, doc)
    assert decision.allowed and decision.engine == "opa" and decision.error is None
    assert [(o.rule_id, o.outcome, o.reason) for o in decision.outcomes] == [
        ("opa", Outcome.PASS, "signed and clean")
    ]
    method, path, headers, body = opa.requests[0]
    assert (method, path) == ("POST", GATE)
    assert headers["Content-Type"] == "application/json"
    assert json.loads(body) == {"input": doc}
    assert decision.root_digest == doc["subject"]["root_digest"]


def test_deny_with_reasons(opa: FakeOpa) -> None:
    opa.answer(
        GATE,
        {
            "allow": False,
            "deny": ["pickle files are not allowed", {"id": "signed", "msg": "the model is not signed"}],
        },
    )
    decision = evaluate_opa(opa.url, evidence())
    assert not decision.allowed
    assert decision.reasons == ["opa/deny: pickle files are not allowed", "signed: the model is not signed"]
    assert decision.summary().startswith("DENIED by opa http://127.0.0.1:")


def test_deny_entries_deny_even_when_allow_is_true(opa: FakeOpa) -> None:
    opa.answer(GATE, {"allow": True, "deny": [{"rule": "x", "message": "but no"}]})
    decision = evaluate_opa(opa.url, evidence())
    assert not decision.allowed and decision.reasons == ["x: but no"]


def test_allow_false_without_reasons(opa: FakeOpa) -> None:
    opa.answer(GATE, {"allow": False})
    decision = evaluate_opa(opa.url, evidence())
    assert not decision.allowed and decision.reasons == ["opa: OPA did not allow"]
    opa.answer(GATE, {"allow": False, "reasons": ["default deny"]})
    assert evaluate_opa(opa.url, evidence()).reasons == ["opa: default deny"]


def test_warnings_never_deny(opa: FakeOpa) -> None:
    opa.answer(GATE, {"allow": True, "warn": ["licence not declared"]})
    decision = evaluate_opa(opa.url, evidence())
    assert decision.allowed
    assert [(o.outcome, o.enforcement) for o in decision.outcomes] == [
        (Outcome.PASS, "enforce"),
        (Outcome.FAIL, "warn"),
    ]


def test_a_url_naming_a_boolean_rule(opa: FakeOpa) -> None:
    opa.answer("/v1/data/acme/models/allow", True)
    assert evaluate_opa(f"{opa.url}/v1/data/acme/models/allow", evidence()).allowed
    opa.answer("/v1/data/acme/models/allow", False)
    assert not evaluate_opa(f"{opa.url}/v1/data/acme/models/allow", evidence()).allowed


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        (
            Reply(
                500,
                b'{"code": "internal_error", '
                b'"message": "1 error occurred:\\n policy.rego:3: eval_conflict_error"}',
            ),
            "HTTP 500 Internal Server Error: 1 error occurred: policy.rego:3: eval_conflict_error",
        ),
        (Reply(400, b"not json either"), "HTTP 400 Bad Request"),
        (Reply(200, b"<html>hello</html>"), "the answer is not JSON: b'<html>hello</html>'"),
        (Reply(200, b"{}"), "no result: no policy defines this document (is the package loaded?)"),
        (Reply(200, b'{"result": {"deny": []}}'), "result.allow is missing or not a boolean"),
        (Reply(200, b'{"result": {"allow": "yes"}}'), "result.allow is missing or not a boolean"),
        (Reply(200, b'{"result": [1, 2]}'), "result is a list, not an object with allow"),
        (
            Reply(200, b'{"result": {"allow": false, "deny": [42]}}'),
            "result.deny has an entry that is neither",
        ),
        (Reply(200, b'{"result": {"allow": true, "deny": "no"}}'), "result.deny must be a list"),
        (Reply(307, b"", headers={"Location": "http://127.0.0.1:9/elsewhere"}), "HTTP 307"),
    ],
)
def test_bad_answers_deny_with_a_reason(opa: FakeOpa, reply: Reply, reason: str) -> None:
    opa.replies[GATE] = reply
    decision = evaluate_opa(opa.url, evidence())
    assert not decision.allowed
    assert decision.outcomes[0].outcome is Outcome.ERROR
    assert decision.error is not None and decision.error.startswith(f"OPA at {opa.url}{GATE}: {reason}"), (
        decision.error
    )
    assert "\n" not in decision.error


def test_timeout_denies(opa: FakeOpa) -> None:
    opa.answer(GATE, {"allow": True}, delay=1.0)
    started = time.monotonic()
    decision = evaluate_opa(opa.url, evidence(), timeout=0.2)
    assert time.monotonic() - started < 0.9
    assert (
        not decision.allowed
        and decision.error is not None
        and decision.error.endswith("no answer within 0.2 s")
    )


def test_connection_refused_denies() -> None:
    with socket.socket() as sock:  # a port nobody listens on once this socket closes
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    decision = evaluate_opa(f"http://127.0.0.1:{port}", evidence(), timeout=2)
    assert not decision.allowed
    assert decision.error == f"OPA at http://127.0.0.1:{port}{GATE}: cannot connect: Connection refused"


def test_environment_proxies_are_not_used(opa: FakeOpa, monkeypatch: pytest.MonkeyPatch) -> None:
    """The evidence goes only to the server named, never to a proxy from the environment."""
    for name in ("http_proxy", "HTTP_PROXY", "all_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    opa.answer(GATE, {"allow": True})
    assert evaluate_opa(opa.url, evidence()).allowed


def test_endpoint() -> None:
    assert opa_endpoint("http://opa:8181") == "http://opa:8181/v1/data/mlwarden/gate"
    assert opa_endpoint("http://opa:8181/") == "http://opa:8181/v1/data/mlwarden/gate"
    assert opa_endpoint("https://opa.example/prefix") == "https://opa.example/prefix/v1/data/mlwarden/gate"
    assert opa_endpoint("http://opa:8181/v1/data/acme/gate") == "http://opa:8181/v1/data/acme/gate"
    assert opa_endpoint("http://opa:8181", "acme/deploy") == "http://opa:8181/v1/data/acme/deploy"
    for bad in ("file:///etc/passwd", "opa:8181", "ftp://opa/"):
        with pytest.raises(UsageError, match="is not an http"):
            opa_endpoint(bad)
