"""Scheduled, served and externally kept audit checkpoints, on SQLite and PostgreSQL (see conftest).

Real servers over loopback sign checkpoints on their own and serve them without a token; the CLI signs
one on demand and checks the log against copies kept elsewhere, which is what exposes an operator who
rewrites the log and re-signs it with the log's own key.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, delete, func, select, text, update

from mlwarden.cli import main as cli_main
from mlwarden.registry.audit import AuditLog, NoteSigner, audit_engine, open_checkpoint, verify
from mlwarden.registry.audit.log import audit_checkpoints, audit_entries, audit_head
from mlwarden.registry.checkpoints import CheckpointScheduler
from mlwarden.registry.db import make_engine, upgrade

from .conftest import Material, Server, database_for, make_server

ORIGIN = "mlwarden-registry"  # the server's default audit_origin, also its generated key's name
StartServer = Callable[..., Server]


def _wait(predicate: Callable[[], bool], seconds: float = 15.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("timed out")


def _served(srv: Server) -> httpx.Response:
    return httpx.get(f"{srv.url}/v1/audit/checkpoint", timeout=5)  # no token: public by design


def _signer(srv: Server) -> NoteSigner:
    return NoteSigner.from_skey((srv.data_dir / "audit.skey").read_text())


def _sizes(url: str) -> tuple[int, int, int]:
    """(log size, latest checkpoint size, number of checkpoints) straight from the database."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            size = int(conn.execute(select(audit_head.c.size)).scalar_one())
            latest = int(conn.execute(select(func.max(audit_checkpoints.c.size))).scalar() or 0)
            count = int(conn.execute(select(func.count()).select_from(audit_checkpoints)).scalar_one())
    finally:
        engine.dispose()
    return size, latest, count


def _metric(srv: Server, outcome: str) -> float:
    body = httpx.get(f"{srv.url}/metrics", timeout=5).text
    match = re.search(rf'^mlwarden_registry_checkpoints_total{{outcome="{outcome}"}} (\S+)$', body, re.M)
    return float(match.group(1)) if match else 0.0


@pytest.fixture
def server_with(backend: str, material: Material, jwks_key: object, tmp_path: Path) -> Iterator[StartServer]:
    """Start a server with extra ``[registry]`` settings; stopped (SIGTERM) at the end."""
    started: list[Server] = []

    with database_for(backend) as database:

        def start(**extra: object) -> Server:
            root = tmp_path / f"s{len(started)}"
            root.mkdir()
            srv = make_server(root, backend, material, database, **extra)
            started.append(srv)
            srv.start()
            return srv

        try:
            yield start
        finally:
            for srv in started:
                srv.stop()


def test_server_signs_serves_and_idles(server_with: StartServer, material: Material) -> None:
    srv = server_with(audit_checkpoint_seconds=0.2)
    verifier = _signer(srv).verifier()
    _wait(lambda: _served(srv).status_code == 200)  # the first-start token entry gets signed
    r = _served(srv)
    assert r.headers["content-type"] == "text/plain; charset=utf-8"
    assert open_checkpoint(r.text, verifier, ORIGIN).size == _sizes(srv.database_url())[0]

    admin = srv.client()
    admin.create_token("ci", ["team:reader"])
    admin.push("team/cp", "1.0", material.model("benign"), signatures=[material.sig("benign")])
    size = _sizes(srv.database_url())[0]
    _wait(lambda: open_checkpoint(_served(srv).text, verifier, ORIGIN).size == size)
    engine = make_engine(srv.database_url())
    try:
        report = verify(engine, verifier)
    finally:
        engine.dispose()
    assert report.ok and report.unsigned == 0, report.summary()

    # Nothing changes: ticks go on (counted as unchanged) but sign nothing new.
    before = _sizes(srv.database_url())
    unchanged = _metric(srv, "unchanged")
    time.sleep(1.0)
    assert _sizes(srv.database_url()) == before
    assert _metric(srv, "unchanged") > unchanged
    assert _metric(srv, "signed") >= 2 and _metric(srv, "failed") == 0
    assert '"event": "audit_checkpoint"' in srv.log.read_text()  # structured log line per signature

    spec = httpx.get(f"{srv.url}/v1/openapi.json", timeout=5).json()["paths"]["/v1/audit/checkpoint"]["get"]
    assert "text/plain" in spec["responses"]["200"]["content"]
    assert "application/problem+json" in spec["responses"]["404"]["content"]


def test_final_checkpoint_on_shutdown_then_cli(
    server_with: StartServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    srv = server_with(audit_checkpoint_seconds=3600)
    r = _served(srv)
    assert r.status_code == 404 and r.headers["content-type"].startswith("application/problem+json")
    srv.client().create_token("ci", ["team:reader"])
    srv.stop()  # SIGTERM: the lifespan ends and signs what the interval never got to
    size, latest, _count = _sizes(srv.database_url())
    assert size >= 2 and latest == size

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLWARDEN_CONFIG", raising=False)
    monkeypatch.setenv("MLWARDEN_REGISTRY__DATA_DIR", str(srv.data_dir))  # --key defaults to its key
    url = srv.database_url()
    capsys.readouterr()
    assert cli_main.main(["audit", "checkpoint", "--db", url]) == 0  # nothing new: the stored note
    verifier = _signer(srv).verifier()
    assert open_checkpoint(capsys.readouterr().out, verifier, ORIGIN).size == size

    engine = make_engine(url)
    try:
        AuditLog(engine, _signer(srv), ORIGIN).append("policy.change", "ops", "production", {"by": "cron"})
    finally:
        engine.dispose()
    key = srv.data_dir / "audit.skey"
    assert cli_main.main(["audit", "checkpoint", "--db", url, "--key", str(key)]) == 0
    note = capsys.readouterr().out
    assert open_checkpoint(note, verifier, ORIGIN).size == size + 1
    assert _sizes(url)[1] == size + 1

    vkey = tmp_path / "audit.vkey"
    vkey.write_text(verifier.vkey + "\n")
    kept = tmp_path / "kept.txt"
    kept.write_text(note.rstrip("\n"))  # saved without its final newline: still the same note
    assert cli_main.main(["audit", "verify", "--db", url, "--key", str(vkey), "--checkpoint", str(kept)]) == 0
    assert "consistent with 1 external checkpoint(s)" in capsys.readouterr().out

    missing = tmp_path / "missing-key"
    assert cli_main.main(["audit", "checkpoint", "--db", url, "--key", str(missing)]) == 2
    assert "cannot read the audit signing key" in capsys.readouterr().err


@pytest.fixture
def registry_db(backend: str, tmp_path: Path) -> Iterator[str]:
    """A migrated registry database (no server) for the offline checks."""
    with database_for(backend) as database:
        url = database or f"sqlite:///{tmp_path / 'registry.db'}"
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        yield url


def _append(engine: Engine, signer: NoteSigner, actor: str, count: int) -> None:
    log = AuditLog(engine, signer, ORIGIN)
    for i in range(count):
        log.append("push", actor, f"team/m{i}", {"digest": f"sha256:{i:064x}"})


def _rewrite(engine: Engine, signer: NoteSigner, count: int) -> None:
    """What an operator with the database and the key can do: a new history, every checkpoint re-signed."""
    with engine.begin() as conn:
        conn.execute(delete(audit_entries))
        conn.execute(delete(audit_checkpoints))
        conn.execute(update(audit_head).values(size=0, frontier=b""))
    _append(engine, signer, "mallory", count)
    AuditLog(engine, signer, ORIGIN).checkpoint()


def test_verify_against_kept_checkpoints(
    registry_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    signer = NoteSigner.generate(ORIGIN)
    vkey = tmp_path / "audit.vkey"
    vkey.write_text(signer.vkey + "\n")
    engine = make_engine(registry_db)
    try:
        _append(engine, signer, "alice", 6)
        week1 = tmp_path / "week1.txt"
        week1.write_text(AuditLog(engine, signer, ORIGIN).checkpoint())
        _append(engine, signer, "alice", 3)
        week2 = tmp_path / "week2.txt"
        week2.write_text(AuditLog(engine, signer, ORIGIN).checkpoint())
        foreign = tmp_path / "foreign.txt"  # the true size and root, signed by another key of that name
        true = open_checkpoint(week2.read_text(), signer.verifier(), ORIGIN)
        foreign.write_text(NoteSigner.generate(ORIGIN).sign(true.text()))
    finally:
        engine.dispose()

    def run(*extra: str) -> int:
        capsys.readouterr()
        return cli_main.main(["audit", "verify", "--db", registry_db, "--key", str(vkey), *extra])

    assert run("--checkpoint", str(week1), "--checkpoint", str(week2)) == 0
    assert "consistent with 2 external checkpoint(s)" in capsys.readouterr().out
    assert run("--checkpoint", str(foreign)) == 1
    err = capsys.readouterr().err
    assert f"external checkpoint {foreign}" in err and "no signature by" in err
    assert run("--checkpoint", str(tmp_path / "nope.txt")) == 2

    engine = make_engine(registry_db)
    try:
        _rewrite(engine, signer, 12)  # longer than both kept checkpoints
    finally:
        engine.dispose()
    assert run() == 0  # the rewritten log is self-consistent: only a kept copy can tell
    assert run("--checkpoint", str(week2)) == 1
    err = capsys.readouterr().err
    assert "history rewritten since the checkpoint of size 9" in err and str(week2) in err

    engine = make_engine(registry_db)
    try:
        _rewrite(engine, signer, 4)  # shorter than the kept checkpoint
    finally:
        engine.dispose()
    assert run("--checkpoint", str(week1)) == 1
    assert "history rewritten since the checkpoint of size 6" in capsys.readouterr().err


def test_concurrent_checkpoints_at_one_size(registry_db: str, backend: str) -> None:
    """Two processes sign the same size at once: both get the one stored note, neither raises.

    The clock is read after the existence check and before the insert, so a barrier there makes both
    callers miss each other's row every round: the unique size then decides, deterministically.
    """
    signer = NoteSigner.generate(ORIGIN)
    armed = threading.Event()
    barrier = threading.Barrier(2, timeout=20)

    def clock() -> dt.datetime:
        if armed.is_set():
            barrier.wait()
        return dt.datetime.now(dt.UTC)

    # PostgreSQL: the registry's own engine. SQLite: the CLI's (deferred transactions), since the
    # registry's BEGIN IMMEDIATE already serializes the two there.
    make = make_engine if backend == "postgresql" else audit_engine
    engines = [make(registry_db), make(registry_db)]
    logs = [AuditLog(e, signer, ORIGIN, clock=clock) for e in engines]
    try:
        results: list[str] = []
        errors: list[BaseException] = []

        def sign(log: AuditLog) -> None:
            try:
                results.append(log.checkpoint())
            except BaseException as exc:  # noqa: BLE001 - collected for the assertion
                errors.append(exc)

        for round_ in range(5):
            logs[0].append("push", "alice", f"team/m{round_}", {})
            results.clear()
            errors.clear()
            armed.set()
            threads = [threading.Thread(target=sign, args=(log,)) for log in logs]
            for t in threads:
                t.start()
            for t in threads:
                t.join(30)
            armed.clear()
            assert errors == [] and len(results) == 2 and results[0] == results[1]
            with engines[0].connect() as conn:
                rows = conn.execute(
                    text("SELECT COUNT(*) FROM audit_checkpoints WHERE size = :n"), {"n": round_ + 1}
                ).scalar_one()
            assert rows == 1
        assert verify(engines[0], signer.verifier()).ok
    finally:
        for e in engines:
            e.dispose()


def test_scheduler_survives_failures(tmp_path: Path) -> None:
    """A failing tick is counted and logged, the next one retries; stop is immediate and signs last."""
    engine = make_engine(f"sqlite:///{tmp_path / 'r.db'}")
    upgrade(engine)
    signer = NoteSigner.generate(ORIGIN)
    log = AuditLog(engine, signer, ORIGIN)
    outcomes: list[str] = []
    scheduler = CheckpointScheduler(log, 3600, outcomes.append)
    try:
        log.append("push", "alice", "team/m", {})
        with engine.begin() as conn:
            conn.execute(text("ALTER TABLE audit_checkpoints RENAME TO audit_checkpoints_away"))
        assert scheduler.tick() == "failed"
        with engine.begin() as conn:
            conn.execute(text("ALTER TABLE audit_checkpoints_away RENAME TO audit_checkpoints"))
        assert scheduler.tick() == "signed"
        assert scheduler.tick() == "unchanged"

        log.append("push", "alice", "team/m", {})
        scheduler.start()
        began = time.monotonic()
        scheduler.stop()
        assert time.monotonic() - began < 5  # the hour-long wait ends at once
        assert outcomes == ["failed", "signed", "unchanged", "signed"]
        assert log.signed_size() == log.size() == 2
    finally:
        engine.dispose()
