"""Audit log throughput and verification time, against the issue's targets.

Targets: >= 1,000 durable appends/s on SQLite and on PostgreSQL; verify a 1,000,000-entry log in <= 30 s.

"Durable" here means committed and on stable storage when ``append`` returns: SQLite in WAL mode with
``synchronous=FULL`` (the WAL is fsynced at every commit, so the entry survives a power cut), and
PostgreSQL with its defaults (``fsync=on``, ``synchronous_commit=on``). ``synchronous=NORMAL`` (the
registry engine's setting) is shown too: it survives an application crash but may lose the last
commits on power loss. Each durable commit costs one fsync, so a single sequential writer is bound by
the disk's fsync latency; concurrent writers share commits (``AuditLog`` group commit) and batches
share one transaction (``append_many``).

    python bench/registry_audit.py [--entries 1000000] [--postgres URL | --no-postgres] [--pg-verify]
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import Engine, create_engine, text

from mlwarden.core.merkle import CompactTree, leaf_hash
from mlwarden.registry.audit import AuditLog, Event, NoteSigner, audit_engine, create_schema, verify
from mlwarden.registry.audit.log import AUDIT_METADATA, leaf_data
from mlwarden.registry.audit.note import Checkpoint

TARGET_APPENDS = 1000.0
TARGET_VERIFY_S = 30.0
ORIGIN = "bench.mlwarden/audit"


def rate(n: int, fn: Callable[[], None]) -> float:
    start = time.perf_counter()
    fn()
    return n / (time.perf_counter() - start)


def append_rates(engine: Engine, signer: NoteSigner, label: str, n: int = 400, threads: int = 16) -> None:
    log = AuditLog(engine, signer)

    def sequential() -> None:
        for i in range(n):
            log.append("pull", "bench", f"models/m{i}", {"i": i})

    def concurrent() -> None:
        def work() -> None:
            for i in range(n // threads * 4):
                log.append("pull", "bench", f"models/m{i}", {"i": i})

        pool = [threading.Thread(target=work) for _ in range(threads)]
        for t in pool:
            t.start()
        for t in pool:
            t.join()

    def batched() -> None:
        for b in range(n * 10 // 100):
            log.append_many([Event("pull", "bench", f"models/m{b}", {"i": i}) for i in range(100)])

    results = [
        ("1 writer, 1 commit per append", rate(n, sequential)),
        (f"{threads} writers, group commit", rate(n // threads * 4 * threads, concurrent)),
        ("batches of 100 per commit", rate(n * 10, batched)),
    ]
    log.checkpoint()
    assert verify(engine, signer.vkey).ok
    for what, r in results:
        print(f"  {label:<28} {what:<32} {r:9.0f} appends/s   {r / TARGET_APPENDS:5.2f}x target")


def generate_sqlite(path: Path, signer: NoteSigner, entries: int) -> None:
    """A log of ``entries`` rows written straight with executemany, checkpoints every 100,000."""
    engine = audit_engine(f"sqlite:///{path}", synchronous="OFF")
    create_schema(engine)
    engine.dispose()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA synchronous=OFF")
    tree = CompactTree()
    stamp = "2026-01-01T00:00:00.000000Z"
    batch: list[tuple[object, ...]] = []
    checkpoints: list[tuple[object, ...]] = []
    for i in range(entries):
        details = {"digest": f"sha256:{i:064x}", "alias": "production"}
        leaf = leaf_hash(leaf_data(i, stamp, "ci-bot", "push", f"models/m{i % 997}", details))
        tree.append(leaf)
        batch.append(
            (
                i,
                stamp,
                "ci-bot",
                "push",
                f"models/m{i % 997}",
                json.dumps(details, separators=(",", ":")),
                leaf,
            )
        )
        if len(batch) == 50_000:
            conn.executemany("INSERT INTO audit_entries VALUES (?, ?, ?, ?, ?, ?, ?)", batch)
            batch.clear()
        if tree.size % 100_000 == 0 or tree.size == entries:
            note = signer.sign(Checkpoint(ORIGIN, tree.size, tree.root()).text())
            checkpoints.append((tree.size, tree.root(), note, stamp))
    conn.executemany("INSERT INTO audit_entries VALUES (?, ?, ?, ?, ?, ?, ?)", batch)
    conn.executemany("INSERT INTO audit_checkpoints VALUES (?, ?, ?, ?)", checkpoints)
    conn.execute("UPDATE audit_head SET size = ?, frontier = ? WHERE id = 1", (tree.size, tree.to_bytes()))
    conn.commit()
    conn.close()


def time_verify(engine: Engine, signer: NoteSigner, label: str, entries: int) -> None:
    start = time.perf_counter()
    report = verify(engine, signer.vkey)
    seconds = time.perf_counter() - start
    assert report.ok and report.entries == entries, report.summary()
    scaled = seconds * 1_000_000 / entries
    print(
        f"  {label:<28} verify {entries:,} entries: {seconds:6.1f} s "
        f"({scaled:5.1f} s per million, {TARGET_VERIFY_S / scaled:4.2f}x target)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument(
        "--postgres",
        default=os.environ.get("MLWARDEN_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test"),
    )
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument(
        "--pg-verify", action="store_true", help="also verify a log of --entries on PostgreSQL"
    )
    args = parser.parse_args()
    signer = NoteSigner.generate(ORIGIN)
    print(f"signer {signer.vkey}")
    print("appends (each figure: entries committed per second of wall time)")
    with tempfile.TemporaryDirectory(dir=".") as tmp:
        for mode in ("FULL", "NORMAL"):
            engine = audit_engine(f"sqlite:///{Path(tmp) / f'append-{mode}.db'}", synchronous=mode)
            create_schema(engine)
            append_rates(engine, signer, f"SQLite WAL synchronous={mode}")
            engine.dispose()
        if not args.no_postgres:
            schema = f"bench_{uuid.uuid4().hex[:10]}"
            admin = audit_engine(args.postgres)
            with admin.begin() as conn:
                conn.execute(text(f'CREATE SCHEMA "{schema}"'))
            url = args.postgres.replace("postgresql://", "postgresql+psycopg://", 1)
            engine = create_engine(url, connect_args={"options": f"-csearch_path={schema}"}, pool_size=20)
            try:
                AUDIT_METADATA.create_all(engine)
                create_schema(engine)
                append_rates(engine, signer, "PostgreSQL (fsync, sync commit)")
                if args.pg_verify:
                    with engine.begin() as conn:
                        conn.execute(text("DELETE FROM audit_entries"))
                        conn.execute(text("DELETE FROM audit_checkpoints"))
                    db = Path(tmp) / "copy.db"
                    generate_sqlite(db, signer, args.entries)
                    src = sqlite3.connect(db)
                    with engine.begin() as conn:
                        raw = conn.connection.driver_connection
                        assert raw is not None
                        with raw.cursor() as cur:
                            with cur.copy("COPY audit_entries FROM STDIN") as copy:
                                for row in src.execute("SELECT * FROM audit_entries"):
                                    copy.write_row(row)
                            cur.execute("DELETE FROM audit_head")
                            head = src.execute("SELECT id, size, frontier FROM audit_head").fetchone()
                            cur.execute("INSERT INTO audit_head VALUES (%s, %s, %s)", head)
                            for row in src.execute("SELECT * FROM audit_checkpoints"):
                                cur.execute("INSERT INTO audit_checkpoints VALUES (%s, %s, %s, %s)", row)
                    time_verify(engine, signer, "PostgreSQL", args.entries)
            finally:
                engine.dispose()
                with admin.begin() as conn:
                    conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
                admin.dispose()
        print("verification")
        db = Path(tmp) / "verify.db"
        start = time.perf_counter()
        generate_sqlite(db, signer, args.entries)
        print(f"  (generated {args.entries:,} entries in {time.perf_counter() - start:.1f} s)")
        engine = audit_engine(f"sqlite:///{db}")
        time_verify(engine, signer, "SQLite", args.entries)
        engine.dispose()


if __name__ == "__main__":
    main()
