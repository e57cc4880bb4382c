"""The registry end to end over loopback, on SQLite and PostgreSQL (see conftest)."""

from __future__ import annotations

import contextlib
import json
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import jwt
import pytest
from sqlalchemy import select

from mlwarden.registry.audit.log import audit_entries
from mlwarden.registry.client import RegistryClient, RegistryError
from mlwarden.registry.db import make_engine
from mlwarden.registry.tarstream import tar_chunks
from mlwarden.services.approve import approve
from mlwarden.signing import dump_bundle

from .conftest import Material, Server, database_for, make_server


def _name(prefix: str = "m") -> str:
    return f"team/{prefix}-{uuid.uuid4().hex[:8]}"


def test_no_credentials_is_401_problem_json(server: Server) -> None:
    for headers in ({}, {"Authorization": "Bearer mlw_nothere_secret"}, {"Authorization": "Basic eDp5"}):
        r = httpx.get(f"{server.url}/v1/models", headers=headers)
        assert r.status_code == 401
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.headers["www-authenticate"].startswith("Bearer")
        assert r.json()["status"] == 401
    assert server.client().whoami()["grants"] == [{"namespace": "*", "role": "admin"}]


def test_push_pull_roundtrip_and_409_on_overwrite(server: Server, material: Material, tmp_path: Path) -> None:
    client, name = server.client(), _name()
    doc = client.push(name, "1.0", material.model("benign"), signatures=[material.sig("benign")])
    assert doc["decision"]["allowed"] and doc["state"] == "active" and doc["publisher"] == "admin"
    assert {f["path"] for f in doc["files"]} == {p.name for p in material.model("benign").iterdir()}
    with pytest.raises(RegistryError) as err:
        client.push(name, "1.0", material.model("benign"), signatures=[material.sig("benign")])
    assert err.value.status == 409
    client.pull(name, "1.0", tmp_path / "pulled")
    for original in material.model("benign").iterdir():
        assert (tmp_path / "pulled" / original.name).read_bytes() == original.read_bytes()
    assert [v["version"] for v in client.versions(name)] == ["1.0"]
    assert client.signatures(name, "1.0")[0]["mediaType"].startswith("application/vnd.dev.sigstore.bundle")


@pytest.mark.parametrize(
    ("kind", "signer", "title"),
    [
        ("malicious", "publisher", "Gate denied"),
        ("unsigned", None, "Unsigned"),
        ("benign", "stranger", "Signature rejected"),
    ],
)
def test_push_refused_leaves_no_version(
    server: Server, material: Material, kind: str, signer: str | None, title: str
) -> None:
    client, name = server.client(), _name(kind)
    sigs = [material.sig(kind, signer)] if signer else []
    with pytest.raises(RegistryError) as err:
        client.push(name, "1.0", material.model(kind), signatures=sigs)
    assert err.value.status == 422 and err.value.problem["title"] == title
    assert all(m["name"] != name.split("/")[1] for m in client.models())


def test_two_person_rule_and_promotion_gate(
    server: Server, material: Material, tokens: dict[str, str], tmp_path: Path
) -> None:
    name = _name("faceswap")
    publisher = server.client(tokens["publisher+approver"])
    shown = publisher.push(name, "1.0", material.model("faceswap"), signatures=[material.sig("faceswap")])
    assert shown["capability"] == "high"
    with pytest.raises(RegistryError) as err:
        publisher.promote(name, "production", "1.0")
    assert err.value.status == 422 and err.value.problem["title"] == "Approval required"
    bundle = dump_bundle(
        approve(material.model("faceswap"), material.keys["approver"], reason="consented dubbing")
    ).encode()
    with pytest.raises(RegistryError) as err:  # the publisher holds the approver role, but published it
        publisher.approve(name, "1.0", bundle)
    assert err.value.status == 403 and err.value.problem["title"] == "Two-person rule"
    forged = dump_bundle(approve(material.model("faceswap"), material.keys["stranger"], reason="x")).encode()
    approver = server.client(tokens["approver"])
    with pytest.raises(RegistryError) as err:
        approver.approve(name, "1.0", forged)
    assert err.value.status == 422
    assert approver.approve(name, "1.0", bundle)["approver"] == "approver-user"
    promoted = publisher.promote(name, "production", "1.0")
    assert promoted["decision"]["allowed"]
    assert server.client().resolve(name, "production")["version"] == "1.0"


def test_quarantine_blocks_pull_and_rollback(
    server: Server, material: Material, tokens: dict[str, str], tmp_path: Path
) -> None:
    client, name = server.client(tokens["publisher"]), _name("qr")
    for version in ("1.0", "1.1"):
        client.push(name, version, material.model("benign"), signatures=[material.sig("benign")])
        client.promote(name, "staging", version)
    since = max([e["id"] for e in client.events(limit=1000)], default=0)
    with pytest.raises(RegistryError) as err:  # a reader may not quarantine
        server.client(tokens["reader"]).quarantine(name, "1.1", "no")
    assert err.value.status == 403
    server.client(tokens["approver"]).quarantine(name, "1.1", "CVE in tokenizer")
    with pytest.raises(RegistryError) as err:
        client.pull(name, "1.1", tmp_path / "q")
    assert err.value.status == 423
    assert not (tmp_path / "q").exists()
    events = client.events(since=since)
    assert any(e["kind"] == "quarantine" and e["version"] == "1.1" for e in events)
    assert client.rollback(name, "staging")["version"] == "1.0"
    assert client.resolve(name, "staging")["version"] == "1.0"
    with pytest.raises(RegistryError) as err:
        client.promote(name, "staging", "1.1")
    assert err.value.status == 409


def test_release_lifts_quarantine_admin_only(
    server: Server, material: Material, tokens: dict[str, str], tmp_path: Path
) -> None:
    publisher, name = server.client(tokens["publisher"]), _name("rel")
    publisher.push(name, "1.0", material.model("benign"), signatures=[material.sig("benign")])
    admin = server.client(tokens["admin"])
    with pytest.raises(RegistryError) as err:  # nothing to release yet
        admin.release(name, "1.0", "not quarantined")
    assert err.value.status == 409
    publisher.quarantine(name, "1.0", "suspected backdoor")
    with pytest.raises(RegistryError) as err:
        publisher.pull(name, "1.0", tmp_path / "blocked")
    assert err.value.status == 423
    since = max([e["id"] for e in publisher.events(limit=1000)], default=0)
    for role in ("reader", "publisher", "approver", "outsider"):
        with pytest.raises(RegistryError) as err:
            server.client(tokens[role]).release(name, "1.0", "let me")
        assert err.value.status == 403, role
    r = httpx.post(
        f"{server.url}/v1/models/{name}/versions/1.0/release",
        json={"reason": ""},
        headers={"Authorization": f"Bearer {tokens['admin']}"},
    )
    assert r.status_code == 422  # a reason is required
    done = admin.release(name, "1.0", "false positive, see SEC-42")
    assert done["state"] == "active" and done["reason"] == "false positive, see SEC-42"
    publisher.pull(name, "1.0", tmp_path / "pulled")
    assert (tmp_path / "pulled" / "config.json").is_file()
    shown = publisher.show(name, "1.0")
    assert shown["state"] == "active" and shown["state_reason"] is None
    assert publisher.promote(name, "staging", "1.0")["version"] == "1.0"
    events = publisher.events(since=since)
    assert [e["kind"] for e in events if e["version"] == "1.0"][:1] == ["release"]
    engine = make_engine(server.database_url())
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                select(audit_entries.c.action, audit_entries.c.actor, audit_entries.c.details)
                .where(audit_entries.c.subject == f"{name}@1.0")
                .order_by(audit_entries.c.index)
            ).all()
    finally:
        engine.dispose()
    released = [json.loads(d) for a, who, d in rows if a == "release" and who == "admin-user"]
    assert [a for a, _, _ in rows] == ["push", "quarantine", "release", "pull"]  # the pull after release
    assert released[0]["reason"] == "false positive, see SEC-42"
    assert released[0]["quarantined_for"] == "suspected backdoor"


ENDPOINTS = {
    # name: (method, path template, json body, permission)
    "models": ("GET", "/v1/models", None, "read"),
    "versions": ("GET", "/v1/models/{ns}/{m}/versions", None, "read"),
    "show": ("GET", "/v1/models/{ns}/{m}/versions/1.0", None, "read"),
    "pull": ("GET", "/v1/models/{ns}/{m}/versions/1.0/files/config.json", None, "read"),
    "archive": ("GET", "/v1/models/{ns}/{m}/versions/1.0/archive", None, "read"),
    "events": ("GET", "/v1/events", None, "read"),
    "push": ("PUT", "/v1/models/{ns}/{m}/versions/9.9", None, "push"),
    "promote": ("PUT", "/v1/models/{ns}/{m}/aliases/matrix", {"version": "nope"}, "promote"),
    "rollback": ("POST", "/v1/models/{ns}/{m}/aliases/none/rollback", {}, "rollback"),
    "approve": ("POST", "/v1/models/{ns}/{m}/versions/1.0/approvals", {}, "approve"),
    "quarantine": ("POST", "/v1/models/{ns}/{m}/versions/nope/quarantine", {"reason": "x"}, "quarantine"),
    "release": ("POST", "/v1/models/{ns}/{m}/versions/nope/release", {"reason": "x"}, "release"),
    "token": ("POST", "/v1/tokens", {"principal": "x", "grants": ["team:reader"]}, "admin"),
}
ALLOWED = {
    "read": {"reader", "publisher", "approver", "admin"},
    "push": {"publisher", "admin"},
    "promote": {"publisher", "admin"},
    "rollback": {"publisher", "admin"},
    "approve": {"approver", "admin"},
    "quarantine": {"publisher", "approver", "admin"},
    "release": {"admin"},
    "admin": {"admin"},
}


def test_role_by_endpoint_matrix(server: Server, material: Material, tokens: dict[str, str]) -> None:
    name = _name("matrix")
    ns, model = name.split("/")
    server.client(tokens["publisher"]).push(
        name, "1.0", material.model("benign"), signatures=[material.sig("benign")]
    )
    failures = []
    for role in ("reader", "publisher", "approver", "admin", "outsider", "anonymous"):
        headers = {} if role == "anonymous" else {"Authorization": f"Bearer {tokens[role]}"}
        for endpoint, (method, template, body, permission) in ENDPOINTS.items():
            url = server.url + template.format(ns=ns, m=model)
            r = httpx.request(method, url, headers=headers, json=body, timeout=60)
            if role == "anonymous":
                expected_denied = 401
            elif role in ALLOWED[permission]:
                expected_denied = None
            else:
                expected_denied = 403
            if endpoint in ("models", "events") and role == "outsider":
                expected_denied = None  # listing works; it is filtered to readable namespaces
            ok = r.status_code == expected_denied if expected_denied else r.status_code not in (401, 403)
            assert r.status_code < 500, (role, endpoint, r.text)
            if not ok:
                failures.append((role, endpoint, r.status_code, r.text[:120]))
    assert not failures, failures
    outsider = server.client(tokens["outsider"])
    assert all(m["namespace"] != "team" for m in outsider.models())


def test_token_revocation(server: Server) -> None:
    admin = server.client()
    made = admin.create_token("temp", ["team:reader"], days=1)
    temp = server.client(made["token"])
    assert temp.whoami()["principal"] == "temp"
    assert "token" not in admin.tokens()[0]
    admin.revoke_token(made["id"])
    with pytest.raises(RegistryError) as err:
        temp.whoami()
    assert err.value.status == 401


def test_oidc_jwt(server: Server, jwks_key: object) -> None:
    claims = {
        "sub": "alice@example.com",
        "iss": "https://issuer.example",
        "aud": "mlwarden-registry",
        "exp": int(time.time()) + 300,
        "mlwarden_roles": ["team:reader"],
    }
    good = jwt.encode(claims, jwks_key, algorithm="RS256", headers={"kid": "test-key"})  # type: ignore[arg-type]
    with RegistryClient(server.url, good) as client:
        me = client.whoami()
    assert me == {
        "principal": "alice@example.com",
        "via": "oidc",
        "grants": [{"namespace": "team", "role": "reader"}],
    }
    bad = jwt.encode({**claims, "aud": "other"}, jwks_key, algorithm="RS256", headers={"kid": "test-key"})  # type: ignore[arg-type]
    with pytest.raises(RegistryError) as err, RegistryClient(server.url, bad) as client:
        client.whoami()
    assert err.value.status == 401


def test_concurrent_pushes(server: Server, material: Material) -> None:
    same, results, lock = _name("race"), [], threading.Lock()

    def push(model: str) -> None:
        try:
            server.client().push(model, "1.0", material.model("benign"), signatures=[material.sig("benign")])
            outcome = 201
        except RegistryError as err:
            outcome = err.status
        with lock:
            results.append((model, outcome))

    others = [_name("par") for _ in range(3)]
    threads = [threading.Thread(target=push, args=(m,)) for m in [same, same, same, *others]]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(o for m, o in results if m == same) == [201, 409, 409]
    assert all(o == 201 for m, o in results if m != same)
    assert [v["version"] for v in server.client().versions(same)] == ["1.0"]


def test_blob_altered_on_disk_is_detected_at_pull(server: Server, material: Material, tmp_path: Path) -> None:
    name = _name("rot")
    doc = server.client().push(name, "1.0", material.model("benign"), signatures=[material.sig("benign")])
    target = next(f for f in doc["files"] if f["path"] == "model.safetensors")
    blob = next(p for p in (server.data_dir / "blobs").rglob(target["digest"]) if p.is_file())
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0xFF
    blob.chmod(0o644)
    blob.write_bytes(bytes(data))
    with pytest.raises(RegistryError):
        server.client().pull(name, "1.0", tmp_path / "pulled")
    assert not (tmp_path / "pulled").exists()
    metrics = httpx.get(f"{server.url}/metrics").text
    assert "mlwarden_registry_verify_failures_total 1.0" in metrics or "verify_failures_total" in metrics


def test_operations_endpoints(server: Server) -> None:
    assert httpx.get(f"{server.url}/healthz").json() == {"status": "ok"}
    assert httpx.get(f"{server.url}/readyz").json() == {"status": "ready"}
    metrics = httpx.get(f"{server.url}/metrics").text
    assert "mlwarden_registry_requests_total" in metrics
    schema = httpx.get(f"{server.url}/v1/openapi.json").json()
    assert "/v1/models/{namespace}/{name}/versions/{version}" in schema["paths"]


def test_kill_9_during_upload_leaves_no_version(
    backend: str, material: Material, jwks_key: object, tmp_path: Path
) -> None:
    with database_for(backend) as database:
        srv = make_server(tmp_path, backend, material, database)
        srv.start()
        try:
            _kill_during_upload(srv, material, tmp_path)
        finally:
            srv.stop()


def _kill_during_upload(srv: Server, material: Material, tmp_path: Path) -> None:
    name = _name("killed")
    big = tmp_path / "big"
    big.mkdir()
    (big / "weights.bin").write_bytes(b"\0" * (8 << 20))
    started = threading.Event()

    def slow_body() -> Iterator[bytes]:
        data = (big / "weights.bin").read_bytes()
        pieces = [data[i : i + (1 << 20)] for i in range(0, len(data), 1 << 20)]
        for i, chunk in enumerate(tar_chunks([("model/weights.bin", len(data), pieces)])):
            yield chunk
            if i == 2:
                started.set()
                time.sleep(30)  # the server dies while waiting for the rest

    def upload() -> None:
        headers = {"Authorization": f"Bearer {srv.admin_token}", "Content-Type": "application/x-tar"}
        with contextlib.suppress(httpx.HTTPError):
            httpx.put(
                f"{srv.url}/v1/models/{name}/versions/1.0", content=slow_body(), headers=headers, timeout=60
            )

    thread = threading.Thread(target=upload, daemon=True)
    thread.start()
    assert started.wait(30)
    time.sleep(0.5)
    assert list((srv.data_dir / "staging").iterdir()), "the upload should be in staging when the server dies"
    srv.kill()
    srv.start()
    assert list((srv.data_dir / "staging").iterdir()) == []
    client = srv.client()
    assert all(not m["name"].startswith("killed") for m in client.models())
    with pytest.raises(RegistryError) as err:
        client.show(name, "1.0")
    assert err.value.status == 404
    pushed = client.push(name, "1.0", material.model("benign"), signatures=[material.sig("benign")])
    assert pushed["version"] == "1.0"


def test_failed_logins_are_rate_limited(material: Material, jwks_key: object, tmp_path: Path) -> None:
    srv = make_server(tmp_path, "sqlite", material, None, login_failures_per_minute=3)
    srv.start()
    try:
        codes = [
            httpx.get(f"{srv.url}/v1/models", headers={"Authorization": "Bearer mlw_x_y"}).status_code
            for _ in range(5)
        ]
        assert codes[:3] == [401, 401, 401] and codes[3:] == [429, 429]
        r = httpx.get(f"{srv.url}/v1/models", headers={"Authorization": f"Bearer {srv.admin_token}"})
        assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
    finally:
        srv.stop()


def test_upload_limit_is_413_whether_announced_or_not(
    material: Material, jwks_key: object, tmp_path: Path
) -> None:
    srv = make_server(tmp_path, "sqlite", material, None, max_upload_bytes=64 << 10)
    srv.start()
    try:
        big = tmp_path / "big"
        big.mkdir()
        (big / "weights.bin").write_bytes(b"\0" * (256 << 10))
        with pytest.raises(RegistryError) as err:  # the client announces the length: refused up front
            srv.client().push(_name("big"), "1.0", big, signatures=[material.sig("benign")])
        assert err.value.status == 413
        data = (big / "weights.bin").read_bytes()
        chunked = tar_chunks(
            [("model/weights.bin", len(data), [data[i : i + 8192] for i in range(0, len(data), 8192)])]
        )
        r = httpx.put(  # no length: refused once the limit is crossed
            f"{srv.url}/v1/models/{_name('big')}/versions/1.0",
            content=chunked,
            headers={"Authorization": f"Bearer {srv.admin_token}", "Content-Type": "application/x-tar"},
        )
        assert r.status_code == 413 and r.headers["content-type"] == "application/problem+json"
        assert list((srv.data_dir / "staging").iterdir()) == []
    finally:
        srv.stop()


def test_multi_gigabyte_push_and_pull_keep_server_memory_flat(
    server: Server, material: Material, tmp_path: Path
) -> None:
    """1 GiB through push and pull: the server's peak RSS grows by far less than the model."""
    import struct

    from mlwarden.signing import sign

    size = 1 << 30
    model = tmp_path / "big"
    model.mkdir()
    header = b""
    for _ in range(4):  # the data length depends on the header length
        n = size - 8 - len(header)
        header = json.dumps({"w": {"dtype": "U8", "shape": [n], "data_offsets": [0, n]}}).encode()
        header += b" " * (-len(header) % 8)
    with (model / "model.safetensors").open("wb") as fh:
        fh.write(struct.pack("<Q", len(header)) + header)
        fh.truncate(size)  # sparse: cheap to create, a whole gibibyte on the wire and on disk
    assert server.proc is not None
    status = Path(f"/proc/{server.proc.pid}/status")

    def grown_mib() -> int:
        line = next(x for x in status.read_text().splitlines() if x.startswith("VmHWM:"))
        return int(line.split()[1]) // 1024 - baseline

    sig = tmp_path / "big.sig"
    sig.write_text(dump_bundle(sign(model, material.keys["publisher"])))
    Path(f"/proc/{server.proc.pid}/clear_refs").write_text("5")  # reset the peak to the current RSS
    baseline = 0
    baseline = grown_mib()
    client, name = server.client(), _name("big")
    client.push(name, "1.0", model, signatures=[sig])
    pushed = grown_mib()
    client.pull(name, "1.0", tmp_path / "pulled")
    assert (tmp_path / "pulled" / "model.safetensors").stat().st_size == size
    assert pushed < 160 and grown_mib() < 160, (pushed, grown_mib())
