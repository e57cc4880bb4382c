"""The audit log on SQLite (WAL file) and PostgreSQL: appends, checkpoints, proofs, and tampering by
hand with raw SQL, each caught by ``verify``.

PostgreSQL is expected at $MLWARDEN_TEST_POSTGRES (default postgresql://postgres@127.0.0.1:5432/test);
each test gets its own schema, dropped afterwards. If it is unreachable the tests fail, saying so.
"""

from __future__ import annotations

import io
import os
import threading
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text

from mlwarden.core.merkle import leaf_hash, verify_consistency, verify_inclusion
from mlwarden.registry.audit import (
    AUDIT_METADATA,
    AuditError,
    AuditLog,
    Event,
    NoteSigner,
    audit_engine,
    create_schema,
    verify,
)
from mlwarden.registry.audit.note import open_checkpoint

POSTGRES_URL = os.environ.get("MLWARDEN_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
ORIGIN = "registry.test/audit"


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    if request.param == "sqlite":
        eng = audit_engine(f"sqlite:///{tmp_path_factory.mktemp('audit') / 'registry.db'}")
        create_schema(eng)
        yield eng
        eng.dispose()
        return
    schema = f"audit_{uuid.uuid4().hex[:12]}"
    admin = audit_engine(POSTGRES_URL)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:  # noqa: BLE001 - any failure to reach the server is the message
        pytest.fail(f"PostgreSQL at {POSTGRES_URL} is unreachable ({exc}); set MLWARDEN_TEST_POSTGRES")
    url = POSTGRES_URL.replace("postgresql://", "postgresql+psycopg://", 1)
    from sqlalchemy import create_engine

    eng = create_engine(url, connect_args={"options": f"-csearch_path={schema}"})
    try:
        create_schema(eng)
        yield eng
    finally:
        eng.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def signer() -> NoteSigner:
    return NoteSigner.generate(ORIGIN)


def filled(engine: Engine, signer: NoteSigner, n: int = 12, checkpoint_every: int = 4) -> AuditLog:
    log = AuditLog(engine, signer)
    actions = ["push", "pull", "promote", "approve", "quarantine", "rollback", "token.create", "auth.failure"]
    for i in range(n):
        log.append(actions[i % len(actions)], f"user{i % 3}", f"models/m{i}", {"n": i, "note": 'é\n"x"'})
        if (i + 1) % checkpoint_every == 0:
            log.checkpoint()
    return log


def sql(engine: Engine, *statements: str) -> None:
    with engine.begin() as conn:
        for statement in statements:
            conn.execute(text(statement))


def kinds(engine: Engine, signer: NoteSigner) -> dict[str, int]:
    report = verify(engine, signer.vkey)
    assert not report.ok
    return {k: v for k, v in report.counts().items() if v}


def test_append_checkpoint_verify_and_proofs(engine: Engine, signer: NoteSigner) -> None:
    log = filled(engine, signer)
    assert log.size() == 12
    note = log.latest_checkpoint()
    assert note is not None
    cp = open_checkpoint(note, signer.verifier())
    assert cp.size == 12 and cp.origin == ORIGIN
    report = verify(engine, signer.vkey)
    assert report.ok, report.problems
    assert (report.entries, report.checkpoints, report.signed_size, report.unsigned) == (12, 3, 12, 0)
    assert report.root_hash == cp.root_hash
    assert "intact" in report.summary()

    proof = log.inclusion_proof(5)
    assert proof.size == 12 and proof.checkpoint == note
    verify_inclusion(proof.leaf_hash, 5, 12, proof.hashes, cp.root_hash)
    consistency = log.consistency_proof(4)
    old = open_checkpoint(consistency.old_checkpoint or "", signer.verifier())
    verify_consistency(4, 12, consistency.hashes, old.root_hash, cp.root_hash)
    with pytest.raises(AuditError):
        log.inclusion_proof(3, 99)

    log.append("policy.change", "admin", "policies/production", {"version": 2})
    report = verify(engine, signer.vkey)
    assert report.ok and report.unsigned == 1 and "not yet checkpointed" in report.summary()
    assert log.checkpoint() == log.checkpoint()  # one checkpoint per size

    out = io.StringIO()
    assert log.export(out) == 13
    exported = verify(out.getvalue().splitlines(), signer.vkey)
    assert exported.ok and exported.entries == 13 and exported.root_hash == report.root_hash


def test_leaf_is_canonical_json_of_the_row(engine: Engine, signer: NoteSigner) -> None:
    log = AuditLog(engine, signer)
    log.append("push", "alice", "m/1", {"b": 1, "a": ["é"]})
    with engine.connect() as conn:
        row = conn.execute(text('SELECT "time", leaf_hash FROM audit_entries WHERE "index" = 0')).one()
    data = (
        '{"action":"push","actor":"alice","details":{"a":["é"],"b":1},"index":0,"subject":"m/1",'
        f'"time":"{row[0]}"}}'
    ).encode()
    assert leaf_hash(data) == bytes(row[1])


def test_edited_row_is_detected(engine: Engine, signer: NoteSigner) -> None:
    filled(engine, signer)
    sql(engine, "UPDATE audit_entries SET actor = 'mallory' WHERE \"index\" = 6")
    report = verify(engine, signer.vkey)
    assert kinds(engine, signer) == {"edited": 1}
    first = report.first_problem()
    assert first is not None and first.index == 6 and "index 6 was edited" in report.summary()


def test_edited_row_with_recomputed_leaf_hash_is_detected(engine: Engine, signer: NoteSigner) -> None:
    filled(engine, signer)
    with engine.connect() as conn:
        row = conn.execute(text('SELECT "time" FROM audit_entries WHERE "index" = 5')).one()
    from mlwarden.registry.audit import leaf_data

    forged = leaf_hash(leaf_data(5, row[0], "user2", "approve", "models/m5", {"n": 5, "note": 'é\n"x"'}))
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE audit_entries SET action = 'approve', leaf_hash = :h WHERE \"index\" = 5"),
            {"h": forged},
        )
    report = verify(engine, signer.vkey)
    assert not report.ok
    first = report.first_problem()
    assert first is not None and first.kind == "edited" and first.index == 4  # after the checkpoint at 4


def test_deleted_row_is_detected(engine: Engine, signer: NoteSigner) -> None:
    filled(engine, signer)
    sql(engine, 'DELETE FROM audit_entries WHERE "index" = 3')
    report = verify(engine, signer.vkey)
    assert kinds(engine, signer) == {"deleted": 1}
    assert report.first_problem() is not None and report.first_problem().index == 3  # type: ignore[union-attr]


def test_deleted_and_renumbered_rows_are_detected(engine: Engine, signer: NoteSigner) -> None:
    filled(engine, signer)
    sql(engine, 'DELETE FROM audit_entries WHERE "index" = 3')
    for i in range(4, 12):
        sql(engine, f'UPDATE audit_entries SET "index" = {i - 1} WHERE "index" = {i}')
    assert kinds(engine, signer) == {"deleted": 1}


def test_deleted_last_rows_are_detected(engine: Engine, signer: NoteSigner) -> None:
    filled(engine, signer)
    sql(engine, 'DELETE FROM audit_entries WHERE "index" >= 10')
    assert kinds(engine, signer) == {"deleted": 1}


def test_inserted_row_is_detected(engine: Engine, signer: NoteSigner) -> None:
    log = filled(engine, signer)
    for i in reversed(range(5, 12)):
        sql(engine, f'UPDATE audit_entries SET "index" = {i + 1} WHERE "index" = {i}')
    with engine.connect() as conn:
        t = conn.execute(text('SELECT "time" FROM audit_entries WHERE "index" = 4')).scalar_one()
    from mlwarden.registry.audit import leaf_data

    forged = leaf_hash(leaf_data(5, t, "admin", "approve", "models/evil", {}))
    with engine.begin() as conn:
        conn.execute(
            text(
                'INSERT INTO audit_entries ("index", "time", actor, action, subject, details, leaf_hash) '
                "VALUES (5, :t, 'admin', 'approve', 'models/evil', '{}', :h)"
            ),
            {"t": t, "h": forged},
        )
    report = verify(engine, signer.vkey)
    assert kinds(engine, signer) == {"inserted": 1}
    first = report.first_problem()
    assert first is not None and first.index == 5 and "inserted" in first.message
    assert log.size() == 12  # the head was not touched


def test_inserted_row_at_the_end_is_detected_by_the_head(engine: Engine, signer: NoteSigner) -> None:
    filled(engine, signer)
    sql(
        engine,
        'INSERT INTO audit_entries ("index", "time", actor, action, subject, details, leaf_hash) '
        'SELECT 12, "time", actor, action, subject, details, leaf_hash FROM audit_entries WHERE "index" = 11',
    )
    assert kinds(engine, signer) == {"inserted": 1}


def test_swapped_rows_are_detected_as_reordered(engine: Engine, signer: NoteSigner) -> None:
    filled(engine, signer)
    sql(
        engine,
        'UPDATE audit_entries SET "index" = -1 WHERE "index" = 2',
        'UPDATE audit_entries SET "index" = 2 WHERE "index" = 9',
        'UPDATE audit_entries SET "index" = 9 WHERE "index" = -1',
    )
    report = verify(engine, signer.vkey)
    assert kinds(engine, signer) == {"reordered": 2}
    assert {p.index for p in report.problems} == {2, 9}


def test_checkpoint_signed_by_another_key_is_detected(engine: Engine, signer: NoteSigner) -> None:
    filled(engine, signer)
    impostor = NoteSigner.generate(ORIGIN)
    AuditLog(engine, impostor).append("push", "mallory", "models/evil")
    AuditLog(engine, impostor).checkpoint()
    report = verify(engine, signer.vkey)
    assert kinds(engine, signer) == {"checkpoint": 1}
    assert "size 13" in report.summary() and "no signature by" in report.summary()
    # With the impostor's key it is the log's three real checkpoints that fail.
    assert verify(engine, impostor.vkey).counts()["checkpoint"] == 3


def test_concurrent_appends_have_no_gaps(engine: Engine, signer: NoteSigner) -> None:
    log = AuditLog(engine, signer)
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            for i in range(25):
                if i % 5 == 4:  # mix joined transactions with grouped commits
                    with engine.begin() as conn:
                        log.append("pull", f"w{worker}", f"m{i}", {"i": i}, connection=conn)
                else:
                    log.append("pull", f"w{worker}", f"m{i}", {"i": i})
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    log.checkpoint()
    with engine.connect() as conn:
        indexes = [r[0] for r in conn.execute(text('SELECT "index" FROM audit_entries ORDER BY "index"'))]
    assert indexes == list(range(200))
    report = verify(engine, signer.vkey)
    assert report.ok and report.entries == 200


def test_append_in_rolled_back_transaction_leaves_nothing(engine: Engine, signer: NoteSigner) -> None:
    log = AuditLog(engine, signer)
    log.append("push", "alice", "m/1")
    with pytest.raises(RuntimeError), engine.begin() as conn:
        log.append("promote", "alice", "m/1", {"alias": "prod"}, connection=conn)
        raise RuntimeError("the promotion failed")
    assert log.size() == 1
    assert log.append_many([Event("pull", "bob", "m/1"), Event("pull", "carol", "m/1")]) == [1, 2]
    log.checkpoint()
    assert verify(engine, signer.vkey).ok


def test_bad_input_is_refused(engine: Engine, signer: NoteSigner) -> None:
    log = AuditLog(engine, signer)
    with pytest.raises(AuditError):
        log.append("", "alice")
    with pytest.raises(AuditError):
        log.append("push", "alice", "m", {"x": float("nan")})
    with pytest.raises(AuditError):
        log.append("push", "alice", "m", {"x": object()})
    assert log.size() == 0


def test_verify_needs_the_tables() -> None:
    eng = audit_engine("sqlite://")
    with pytest.raises(AuditError, match="no audit log"):
        verify(eng, NoteSigner.generate("x").vkey)
    AUDIT_METADATA.create_all(eng)  # tables without the head row: appends refuse, verify reports it
    with pytest.raises(AuditError, match="no head row"):
        AuditLog(eng, NoteSigner.generate("x")).append("push", "alice")
    report = verify(eng, NoteSigner.generate("x").vkey)
    assert [p.kind for p in report.problems] == ["head"]
