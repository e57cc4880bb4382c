"""Real registry servers over loopback (uvicorn in a subprocess), on SQLite and on PostgreSQL.

Each server gets its own data directory (and, on PostgreSQL, its own database, dropped afterwards),
real keys, real demo models and real OMS signatures.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from mlwarden.registry.client import RegistryClient
from mlwarden.services.quickstart import workspace_policy, write_model
from mlwarden.signing import dump_bundle, generate_key, key_fingerprint, public_key_pem, sign

PG_ADMIN = os.environ.get("MLWARDEN_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
BACKENDS = ["sqlite", "postgresql"]


def _pg_available() -> bool:
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN, connect_timeout=3):
            return True
    except Exception:  # noqa: BLE001 - any failure means: skip PostgreSQL
        return False


@dataclass
class Material:
    """Keys, models and signatures shared by every test of the session."""

    root: Path
    keys: dict[str, bytes] = field(default_factory=dict)

    def pub(self, who: str) -> Path:
        return self.root / "keys" / f"{who}.pub"

    def model(self, kind: str) -> Path:
        return self.root / "models" / kind

    def sig(self, kind: str, who: str = "publisher") -> Path:
        return self.root / "sigs" / f"{kind}.{who}.sig"


@pytest.fixture(scope="session")
def material(tmp_path_factory: pytest.TempPathFactory) -> Material:
    root = tmp_path_factory.mktemp("registry-material")
    mat = Material(root)
    (root / "keys").mkdir()
    (root / "sigs").mkdir()
    for who in ("publisher", "approver", "stranger"):
        key = generate_key("P-256")
        mat.keys[who] = key
        (root / "keys" / f"{who}.pem").write_bytes(key)
        mat.pub(who).write_bytes(public_key_pem(key))
    for kind in ("benign", "malicious", "faceswap", "unsigned"):
        write_model(kind, mat.model(kind))
    for kind in ("benign", "malicious", "faceswap"):
        mat.sig(kind).write_text(dump_bundle(sign(mat.model(kind), mat.keys["publisher"])), encoding="utf-8")
    mat.sig("benign", "stranger").write_text(
        dump_bundle(sign(mat.model("benign"), mat.keys["stranger"])), encoding="utf-8"
    )
    # production: the shipped policy minus provenance (demo models have none), approver key in the role
    policy = workspace_policy(key_fingerprint(public_key_pem(mat.keys["approver"])))
    lines = policy.splitlines()
    start = next(i for i, line in enumerate(lines) if "id: provenance" in line)
    del lines[start : start + 4]
    (root / "production.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return mat


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    """One registry process; ``restart`` keeps its data directory and database."""

    url: str
    data_dir: Path
    config: Path
    backend: str
    log: Path
    proc: subprocess.Popen[bytes] | None = None
    admin_token: str = ""
    clients: list[RegistryClient] = field(default_factory=list)
    database: str | None = None  # None: SQLite in data_dir

    def database_url(self) -> str:
        """The metadata database (for tests that look behind the API, e.g. at the audit log)."""
        return self.database or f"sqlite:///{(self.data_dir / 'registry.db').resolve()}"

    def start(self) -> None:
        env = {**os.environ, "MLWARDEN_CONFIG": str(self.config)}
        env = {k: v for k, v in env.items() if not k.startswith("MLWARDEN_REGISTRY__")}
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "mlwarden.registry.server"], env=env, stdout=log, stderr=log
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"registry exited: {self.log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        else:
            raise AssertionError(f"registry not ready: {self.log.read_text()[-3000:]}")
        token_file = self.data_dir / "admin.token"
        if not self.admin_token and token_file.exists():
            self.admin_token = token_file.read_text().strip()

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        for client in self.clients:
            client.close()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def client(self, token: str | None = None) -> RegistryClient:
        client = RegistryClient(self.url, self.admin_token if token is None else token)
        self.clients.append(client)
        return client


def make_server(
    root: Path, backend: str, material: Material, database: str | None, **extra: object
) -> Server:
    data = root / "data"
    port = free_port()
    registry = {
        "data_dir": str(data),
        "port": port,
        "trusted_keys": [str(material.pub("publisher"))],
        "approver_keys": [str(material.pub("approver"))],
        "bootstrap_token_file": str(data / "admin.token"),
        "alias_policies": {"staging": "baseline", "production": str(material.root / "production.yaml")},
        "oidc_jwks": str(material.root / "jwks.json"),
        "oidc_issuer": "https://issuer.example",
        "oidc_audience": "mlwarden-registry",
        **extra,
    }
    if database:
        registry["database_url"] = database
    lines = ["[registry]"]
    for key, value in registry.items():
        if isinstance(value, dict):
            continue
        lines.append(f"{key} = {json.dumps(value)}")
    lines.append("[registry.alias_policies]")
    lines += [f"{k} = {json.dumps(v)}" for k, v in registry["alias_policies"].items()]  # type: ignore[attr-defined]
    config = root / "mlwarden.toml"
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return Server(f"http://127.0.0.1:{port}", data, config, backend, root / "server.log", database=database)


@pytest.fixture(scope="session")
def jwks_key(material: Material) -> object:
    from cryptography.hazmat.primitives.asymmetric import rsa
    from jwt.algorithms import RSAAlgorithm

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
    jwk.update({"kid": "test-key", "alg": "RS256", "use": "sig"})
    (material.root / "jwks.json").write_text(json.dumps({"keys": [jwk]}), encoding="utf-8")
    return key


@pytest.fixture(scope="module", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    if request.param == "postgresql" and not _pg_available():
        pytest.skip("PostgreSQL is not reachable at " + PG_ADMIN)
    return str(request.param)


@contextlib.contextmanager
def database_for(backend: str) -> Iterator[str | None]:
    if backend == "sqlite":
        yield None
        return
    import psycopg

    name = f"mlw_registry_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def server(
    backend: str, material: Material, jwks_key: object, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    with database_for(backend) as database:
        srv = make_server(tmp_path_factory.mktemp(f"registry-{backend}"), backend, material, database)
        srv.start()
        try:
            yield srv
        finally:
            srv.stop()


@pytest.fixture(scope="module")
def tokens(server: Server) -> dict[str, str]:
    """One token per role in namespace ``team``, plus a reader of another namespace."""
    admin = server.client()
    out = {}
    for role in ("reader", "publisher", "approver", "admin"):
        out[role] = admin.create_token(f"{role}-user", [f"team:{role}"])["token"]
    out["outsider"] = admin.create_token("outsider", ["elsewhere:admin"])["token"]
    out["publisher+approver"] = admin.create_token("pubapp", ["team:publisher", "team:approver"])["token"]
    return out
