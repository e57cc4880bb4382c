"""``mlwarden audit keygen | verify | proof | export`` end to end on a real SQLite registry database.

Runs through ``mlwarden.cli.main.main`` once ``add_audit_commands`` is wired into it; until then through
an equivalent parser built with the same ``_Parser`` and error funnel.
"""

from __future__ import annotations

import argparse
import base64
import json
import sqlite3
from collections.abc import Sequence
from pathlib import Path

import pytest

from mlwarden.cli import main as cli_main
from mlwarden.cli._io import say
from mlwarden.cli.audit import add_audit_commands
from mlwarden.cli.exit_codes import EXIT_ERROR
from mlwarden.core.merkle import verify_consistency, verify_inclusion
from mlwarden.errors import MlwardenError
from mlwarden.registry.audit import AuditLog, NoteSigner, audit_engine, create_schema
from mlwarden.registry.audit.note import NoteVerifier, open_checkpoint


def _wired() -> bool:
    parser = cli_main.build_parser()
    return any(isinstance(a, argparse._SubParsersAction) and "audit" in a.choices for a in parser._actions)


def run(argv: Sequence[str]) -> int:
    if _wired():
        return cli_main.main(list(argv))
    parser = cli_main._Parser(prog="mlwarden")
    parser.add_argument("--config", type=Path)
    add_audit_commands(parser.add_subparsers(dest="command", parser_class=cli_main._Parser), cli_main._Parser)
    try:
        args = parser.parse_args(list(argv))
        return int(args.handler(args))
    except MlwardenError as exc:
        say(f"mlwarden: error: {exc.diagnostics()}")
        return exc.exit_code


@pytest.fixture
def registry(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[str, Path, Path]:
    key = tmp_path / "audit.key"
    assert run(["audit", "keygen", "--name", "registry.test/audit", "--out", str(key)]) == 0
    vkey = tmp_path / "audit.vkey"
    assert capsys.readouterr().out.strip() == vkey.read_text().strip()
    assert key.stat().st_mode & 0o777 == 0o600
    db = tmp_path / "registry.db"
    engine = audit_engine(f"sqlite:///{db}")
    create_schema(engine)
    log = AuditLog(engine, NoteSigner.from_skey(key.read_text()))
    for i in range(10):
        log.append("push", "alice", f"models/m{i}", {"digest": f"sha256:{i:064x}"})
        if i in (3, 9):
            log.checkpoint()
    engine.dispose()
    return f"sqlite:///{db}", db, vkey


def test_verify_proof_export(
    registry: tuple[str, Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url, _db, vkey = registry
    assert run(["audit", "verify", "--db", url, "--key", str(vkey)]) == 0
    assert "audit log intact: 10 entries, 2 signed checkpoint(s)" in capsys.readouterr().out

    assert run(["audit", "proof", "--db", url, "--index", "6"]) == 0
    proof = json.loads(capsys.readouterr().out)
    verifier = NoteVerifier.from_vkey(vkey.read_text())
    cp = open_checkpoint(proof["checkpoint"], verifier)
    b = base64.b64decode
    verify_inclusion(b(proof["leaf_hash"]), 6, proof["size"], [b(x) for x in proof["hashes"]], cp.root_hash)

    assert run(["audit", "proof", "--db", url, "--consistency", "4", "10"]) == 0
    c = json.loads(capsys.readouterr().out)
    old = open_checkpoint(c["old_checkpoint"], verifier)
    new = open_checkpoint(c["new_checkpoint"], verifier)
    verify_consistency(4, 10, [b(x) for x in c["hashes"]], old.root_hash, new.root_hash)

    out = tmp_path / "audit.jsonl"
    assert run(["audit", "export", "--db", url, "-o", str(out)]) == 0
    lines = out.read_text().splitlines()
    assert len(lines) == 12 and json.loads(lines[0])["type"] == "entry"
    assert run(["audit", "verify", "--input", str(out), "--key", str(vkey), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["ok"] is True


def test_hand_edited_row_fails_verify(
    registry: tuple[str, Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    url, db, vkey = registry
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE audit_entries SET subject = 'models/evil' WHERE \"index\" = 2")
    assert run(["audit", "verify", "--db", url, "--key", str(vkey)]) == 1
    err = capsys.readouterr().err
    assert "audit log tampered: entry at index 2 was edited" in err and "1 edited" in err
    assert len(err.strip().splitlines()) == 1


def test_usage_errors(
    registry: tuple[str, Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url, _db, vkey = registry
    assert (
        run(["audit", "verify", "--db", f"sqlite:///{tmp_path / 'none.db'}", "--key", str(vkey)])
        == EXIT_ERROR
    )
    assert "no registry database" in capsys.readouterr().err
    assert run(["audit", "verify", "--db", url]) == EXIT_ERROR
    bad = tmp_path / "bad.vkey"
    bad.write_text("not a key\n")
    assert run(["audit", "verify", "--db", url, "--key", str(bad)]) == EXIT_ERROR
    assert run(["audit", "keygen", "--name", "x", "--out", str(tmp_path / "audit.key")]) == EXIT_ERROR
    assert "already exists" in capsys.readouterr().err
    assert run(["audit", "proof", "--db", url, "--index", "50"]) == EXIT_ERROR


def test_database_from_settings(registry: tuple[str, Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    url, _db, vkey = registry
    monkeypatch.setenv("MLWARDEN_REGISTRY__DATABASE_URL", url)
    assert run(["audit", "verify", "--key", str(vkey)]) == 0
