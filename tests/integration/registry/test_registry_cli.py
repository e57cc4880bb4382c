"""The CLI verbs against a real server, and the packaged migration against the models."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from mlwarden.cli.main import _Parser
from mlwarden.cli.registry import add_registry_commands
from mlwarden.registry.client import RegistryError

from .conftest import Material, Server, database_for


def run(argv: list[str]) -> int:
    parser = _Parser(prog="mlwarden")
    parser.add_argument("--config", type=Path)
    add_registry_commands(parser.add_subparsers(dest="command", parser_class=_Parser), _Parser)
    args: argparse.Namespace = parser.parse_args(argv)
    return int(args.handler(args))


def test_cli_verbs(
    server: Server,
    material: Material,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("MLWARDEN_REGISTRY__URL", server.url)
    monkeypatch.setenv("MLWARDEN_REGISTRY__TOKEN", server.admin_token)
    monkeypatch.chdir(tmp_path)
    model = str(material.model("benign"))
    assert run(["push", "cli/benign", "1.0", model, "--signature", str(material.sig("benign"))]) == 0
    assert run(["promote", "cli/benign", "staging", "1.0"]) == 0
    capsys.readouterr()
    assert run(["show", "cli/benign", "@staging", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["version"] == "1.0"
    assert (
        run(["pull", "cli/benign", "1.0", str(tmp_path / "out"), "--signature-out", str(tmp_path / "s.sig")])
        == 0
    )
    assert (tmp_path / "out" / "model.safetensors").read_bytes() == (
        material.model("benign") / "model.safetensors"
    ).read_bytes()
    assert run(["pull", "cli/benign", "@staging", str(tmp_path / "by-alias")]) == 0  # the alias target
    assert (tmp_path / "by-alias" / "model.safetensors").is_file()
    assert run(["quarantine", "cli/benign", "1.0", "--reason", "CVE-2026-1234"]) == 0
    with pytest.raises(RegistryError) as err:
        run(["pull", "cli/benign", "1.0", str(tmp_path / "blocked")])
    assert err.value.status == 423
    capsys.readouterr()
    assert run(["release", "cli/benign", "1.0", "--reason", "false positive"]) == 0
    assert capsys.readouterr().out == "cli/benign@1.0 released: false positive\n"
    assert run(["pull", "cli/benign", "1.0", str(tmp_path / "again")]) == 0
    assert run(["token", "create", "ci", "--grant", "cli:publisher", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["token"].startswith("mlw_")
    assert run(["models"]) == 0
    assert "cli/benign" in capsys.readouterr().out


@pytest.mark.parametrize("backend_name", ["sqlite", "postgresql"])
def test_migration_matches_models(backend_name: str, tmp_path: Path) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from mlwarden.registry.audit.log import AUDIT_METADATA
    from mlwarden.registry.db import make_engine, upgrade
    from mlwarden.registry.models import REGISTRY_METADATA

    from .conftest import _pg_available

    if backend_name == "postgresql" and not _pg_available():
        pytest.skip("PostgreSQL is not reachable")
    with database_for(backend_name) as url:
        engine = make_engine(url or f"sqlite:///{tmp_path / 'm.db'}")
        try:
            upgrade(engine)
            upgrade(engine)  # idempotent
            with engine.connect() as conn:
                diffs = compare_metadata(
                    MigrationContext.configure(conn), [REGISTRY_METADATA, AUDIT_METADATA]
                )
                sqlite = backend_name == "sqlite"
                mode = conn.exec_driver_sql("PRAGMA journal_mode").scalar() if sqlite else "wal"
                sync = conn.exec_driver_sql("PRAGMA synchronous").scalar() if sqlite else 2
        finally:
            engine.dispose()
    assert diffs == []
    assert mode == "wal"
    assert sync == 2  # FULL: durable across power loss


def test_gc_removes_only_old_orphans(
    server: Server, material: Material, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Blobs left by a push that died after storing them go; referenced and young ones stay; audited."""
    import os

    from sqlalchemy import select

    from mlwarden.registry.audit.log import audit_entries
    from mlwarden.registry.blobs import LocalBlobStore
    from mlwarden.registry.db import make_engine

    name = f"gc/m-{os.urandom(4).hex()}"
    pushed = server.client().push(name, "1.0", material.model("benign"), signatures=[material.sig("benign")])
    store = LocalBlobStore(server.data_dir / "blobs")
    old_orphan = store.put([b"left by a crashed push"]).digest
    young_orphan = store.put([b"a push in progress"]).digest
    os.utime(store.path_of(old_orphan), (1_000_000_000, 1_000_000_000))  # 2001
    referenced = {f["digest"] for f in pushed["files"]}
    os.utime(store.path_of(next(iter(referenced))), (1_000_000_000, 1_000_000_000))  # old but in use

    config = ["--config", str(server.config)]
    assert run([*config, "registry", "gc", "--dry-run", "--format", "json"]) == 0
    dry = json.loads(capsys.readouterr().out)
    assert dry["dry_run"] and old_orphan in dry["removed"] and young_orphan not in dry["removed"]
    assert store.exists(old_orphan)  # a dry run deletes nothing

    assert run([*config, "registry", "gc"]) == 0
    assert "removed 1 (" in capsys.readouterr().out
    assert not store.exists(old_orphan)
    assert store.exists(young_orphan) and all(store.exists(d) for d in referenced)
    server.client().pull(name, "1.0", tmp_path / "pulled")  # the version is whole
    assert (tmp_path / "pulled" / "config.json").is_file()

    assert run([*config, "registry", "gc", "--grace", "0", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["removed"] == [young_orphan]
    engine = make_engine(server.database_url())
    try:
        with engine.connect() as conn:
            gcs = (
                conn.execute(select(audit_entries.c.details).where(audit_entries.c.action == "gc"))
                .scalars()
                .all()
            )
    finally:
        engine.dispose()
    assert [json.loads(d)["removed"] for d in gcs][-2:] == [[old_orphan], [young_orphan]]


def test_server_writes_the_verifier_key_audit_verify_needs(server: Server) -> None:
    from mlwarden.cli import main as cli_main

    server.client().models()  # any action: the log is not empty
    vkey = server.data_dir / "audit.vkey"
    assert vkey.read_text().startswith("mlwarden-registry+")
    assert cli_main.main(["audit", "verify", "--db", server.database_url(), "--key", str(vkey)]) == 0


def test_a_server_with_another_audit_key_refuses_to_start(
    material: Material, jwks_key: object, tmp_path: Path
) -> None:
    """Replicas (or a restart) with a different key would sign checkpoints no single key verifies."""
    from mlwarden.registry.audit.note import NoteSigner

    from .conftest import make_server

    srv = make_server(tmp_path, "sqlite", material, None, audit_checkpoint_seconds=3600)
    srv.start()
    srv.stop()  # a clean stop signs the final checkpoint with the generated data_dir/audit.skey
    other = tmp_path / "other.skey"
    other.write_text(NoteSigner.generate("mlwarden-registry").skey + "\n")
    second = make_server(tmp_path, "sqlite", material, None, audit_key=str(other))
    with pytest.raises(AssertionError, match="does not verify with this server's audit key"):
        second.start()
    second.stop()


def test_check_defaults_to_the_registrys_own_store(
    server: Server, material: Material, capsys: pytest.CaptureFixture[str]
) -> None:
    server.client().push(
        f"check/m-{material.root.name[-6:]}",
        "1.0",
        material.model("benign"),
        signatures=[material.sig("benign")],
    )
    capsys.readouterr()
    assert run(["--config", str(server.config), "registry", "check", "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["copies_verified"] >= 3 and report["stores"] == [
        (server.data_dir / "blobs").resolve().as_uri()
    ]
