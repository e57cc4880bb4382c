"""The registry's audit log: an RFC 6962 Merkle log in the registry database, with signed checkpoints.

Every registry action appends one entry inside the action's own transaction, so the entry commits or
rolls back with it. An entry's leaf is ``SHA-256(0x00 || leaf_data)`` where ``leaf_data`` is the UTF-8
canonical JSON of the entry (see :func:`leaf_data`)::

    {"action":"push","actor":"alice","details":{"digest":"sha256:…"},"index":0,"subject":"m/1","time":"…Z"}

Canonical means: keys sorted, no whitespace, strings as ``json.dumps(ensure_ascii=False)`` writes them
(RFC 8785 escapes), integers in decimal, no NaN or infinities; ``time`` is UTC
``YYYY-MM-DDTHH:MM:SS.ffffffZ``. Any tool can recompute a leaf from a row or an exported line.

Trust comes only from checkpoints: C2SP tlog checkpoints (origin, size, root) signed with the log's
Ed25519 note key. :func:`verify` needs nothing but the entries and the verifier key: it recomputes
every leaf, replays the tree, and checks every checkpoint's signature and root, then says which entries
were edited, deleted, inserted or reordered. Entries after the latest checkpoint are not yet covered
by a signature (the report counts them); call :meth:`AuditLog.checkpoint` often.

Schema (one place; migrations include :data:`AUDIT_METADATA` and must run :func:`initialize`):

* ``audit_entries(index PK, time, actor, action, subject, details, leaf_hash)``
* ``audit_checkpoints(size PK, root_hash, note, time)``
* ``audit_head(id = 1, size, frontier)``: the tree size and its frontier (the perfect-subtree roots),
  so an append costs O(log n). Updating this single row first is what serializes appends: a row lock
  on PostgreSQL, the database write lock on SQLite. It is a cache that ``verify`` cross-checks, never
  trusted.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Engine,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    bindparam,
    create_engine,
    event,
    func,
    insert,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError

from mlwarden.core.merkle import (
    CompactTree,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    root_of,
)
from mlwarden.registry.audit.errors import AuditError, NoteError
from mlwarden.registry.audit.note import Checkpoint, NoteSigner, NoteVerifier, open_checkpoint

KNOWN_ACTIONS = frozenset(
    {
        "push",
        "pull",
        "promote",
        "approve",
        "quarantine",
        "release",
        "rollback",
        "token.create",
        "token.revoke",
        "policy.change",
        "auth.failure",
    }
)
"""The actions the registry records; others are allowed (the log does not judge what happened)."""

AUDIT_METADATA = MetaData()
"""The audit tables, apart from the registry's other tables so migrations can include them as a unit."""

_Index = BigInteger().with_variant(Integer(), "sqlite")  # INTEGER PRIMARY KEY is SQLite's rowid: fastest

audit_entries = Table(
    "audit_entries",
    AUDIT_METADATA,
    Column("index", _Index, primary_key=True, autoincrement=False),
    Column("time", String(32), nullable=False),
    Column("actor", Text, nullable=False),
    Column("action", String(64), nullable=False),
    Column("subject", Text, nullable=False),
    Column("details", Text, nullable=False),
    Column("leaf_hash", LargeBinary(32), nullable=False),
)
audit_checkpoints = Table(
    "audit_checkpoints",
    AUDIT_METADATA,
    Column("size", _Index, primary_key=True, autoincrement=False),
    Column("root_hash", LargeBinary(32), nullable=False),
    Column("note", Text, nullable=False),
    Column("time", String(32), nullable=False),
)
audit_head = Table(
    "audit_head",
    AUDIT_METADATA,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("size", BigInteger, nullable=False),
    Column("frontier", LargeBinary, nullable=False),
)
_HEAD_ID = 1

# Built once: statement construction is most of an append's CPU time otherwise.
_BUMP_HEAD = (
    update(audit_head)
    .where(audit_head.c.id == bindparam("head_id"))
    .values(size=audit_head.c.size + bindparam("count", type_=BigInteger()))
    .returning(audit_head.c.size, audit_head.c.frontier)
)
_INSERT_ENTRIES = insert(audit_entries)
_SET_FRONTIER = (
    update(audit_head)
    .where(audit_head.c.id == bindparam("head_id"))
    .values(frontier=bindparam("new_frontier", type_=LargeBinary()))
)
_PG_INSERT_ONE_SET_FRONTIER = text(
    "WITH new_entry AS ("
    'INSERT INTO audit_entries ("index", time, actor, action, subject, details, leaf_hash) '
    "VALUES (:index, :time, :actor, :action, :subject, :details, :leaf_hash)) "
    "UPDATE audit_head SET frontier = :new_frontier WHERE id = :head_id"
)

# ---------------------------------------------------------------------------------------------------
# Canonical leaf data


_CANONICAL = json.JSONEncoder(
    ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False
).encode
_string = json.encoder.encode_basestring  # what json.dumps(str, ensure_ascii=False) uses, minus the overhead


def canonical_json(value: Any) -> str:
    """Sorted keys, no whitespace, UTF-8 text, no NaN/Infinity: one text per JSON value."""
    try:
        return _CANONICAL(value)
    except (TypeError, ValueError) as exc:
        raise AuditError(
            f"audit details are not plain JSON: {exc}", hint="use str, int, bool, list, dict"
        ) from None


def format_time(when: dt.datetime) -> str:
    """UTC, microseconds, ``Z``: ``2026-05-09T07:35:25.123456Z`` (naive times are taken as UTC)."""
    if when.tzinfo is not None:
        when = when.astimezone(dt.UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _leaf_bytes(index: int, time: str, actor: str, action: str, subject: str, details_json: str) -> bytes:
    return (
        f'{{"action":{_string(action)},"actor":{_string(actor)},"details":{details_json},'
        f'"index":{index},"subject":{_string(subject)},"time":{_string(time)}}}'
    ).encode()


def leaf_data(index: int, time: str, actor: str, action: str, subject: str, details: Any) -> bytes:
    """The bytes a leaf hashes: canonical JSON of the entry's six fields (``details`` as a JSON value)."""
    return _leaf_bytes(index, time, actor, action, subject, canonical_json(details))


def _leaf_from_text(
    index: int, time: Any, actor: Any, action: Any, subject: Any, details: Any, stored: bytes
) -> bytes:
    """The leaf hash of a stored row, whose ``details`` column holds JSON text.

    The log writes canonical text, so hashing the text as stored reproduces the stored leaf without a
    JSON parse (the fast path of ``verify``); only when it does not is the text parsed and
    canonicalized, which makes the result independent of how the database formats JSON.
    """
    time, actor, action, subject = str(time), str(actor), str(action), str(subject)
    if isinstance(details, str):
        fast = leaf_hash(_leaf_bytes(index, time, actor, action, subject, details))
        if fast == stored:
            return fast
    try:
        parsed = json.loads(details)
    except (TypeError, ValueError):
        parsed = {"__unparsable_details__": str(details)}  # never equal to a real entry's canonical data
    return leaf_hash(leaf_data(index, time, actor, action, subject, parsed))


def _leaf_from_value(
    index: int, time: Any, actor: Any, action: Any, subject: Any, details: Any, _stored: bytes
) -> bytes:
    return leaf_hash(leaf_data(index, str(time), str(actor), str(action), str(subject), details))


# ---------------------------------------------------------------------------------------------------
# Engines and schema


def audit_engine(url: str, *, synchronous: str = "FULL") -> Engine:
    """An engine for ``url`` set up for the audit log.

    ``postgresql://`` uses psycopg 3. SQLite connections get WAL, ``synchronous`` (FULL by default: the
    WAL is fsynced at every commit, so a committed entry survives power loss; NORMAL survives only an
    application crash) and a 30 s busy timeout so concurrent writers queue instead of failing.
    """
    if url.startswith(("postgresql://", "postgres://")):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True)
    if synchronous.upper() not in {"OFF", "NORMAL", "FULL", "EXTRA"}:
        raise AuditError(f"unknown SQLite synchronous mode {synchronous!r}", hint="use FULL or NORMAL")
    engine = create_engine(url, connect_args={"timeout": 30})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous.upper()}")
        cursor.close()

    return engine


def initialize(connection: Connection) -> None:
    """Create the head row of an empty log (idempotent); migrations call this after creating tables."""
    if connection.execute(select(audit_head.c.id).where(audit_head.c.id == _HEAD_ID)).first() is None:
        connection.execute(insert(audit_head).values(id=_HEAD_ID, size=0, frontier=b""))


def create_schema(engine: Engine) -> None:
    """``AUDIT_METADATA.create_all`` plus the head row, until the registry's migrations do it."""
    AUDIT_METADATA.create_all(engine)
    with engine.begin() as conn:
        initialize(conn)


def has_schema(engine: Engine) -> bool:
    """Whether the audit tables exist in the database behind ``engine``."""
    names = set(inspect(engine).get_table_names())
    return {"audit_entries", "audit_checkpoints"} <= names


# ---------------------------------------------------------------------------------------------------
# Proof documents


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@dataclass(frozen=True)
class InclusionProof:
    """Entry ``index`` is leaf ``leaf_hash`` of the tree of ``size`` entries with root ``root_hash``."""

    index: int
    size: int
    leaf_hash: bytes
    hashes: tuple[bytes, ...]
    root_hash: bytes
    checkpoint: str | None

    def to_json(self) -> dict[str, Any]:
        """Base64 hashes, like C2SP checkpoints; ``checkpoint`` is the signed note for ``size`` if any."""
        return {
            "type": "inclusion",
            "index": self.index,
            "size": self.size,
            "leaf_hash": _b64(self.leaf_hash),
            "hashes": [_b64(h) for h in self.hashes],
            "root_hash": _b64(self.root_hash),
            "checkpoint": self.checkpoint,
        }


@dataclass(frozen=True)
class ConsistencyProof:
    """The tree of ``old_size`` entries is a prefix of the tree of ``new_size`` entries."""

    old_size: int
    new_size: int
    hashes: tuple[bytes, ...]
    old_root: bytes
    new_root: bytes
    old_checkpoint: str | None
    new_checkpoint: str | None

    def to_json(self) -> dict[str, Any]:
        """Base64 hashes and, where stored, the signed checkpoints of both sizes."""
        return {
            "type": "consistency",
            "old_size": self.old_size,
            "new_size": self.new_size,
            "hashes": [_b64(h) for h in self.hashes],
            "old_root": _b64(self.old_root),
            "new_root": _b64(self.new_root),
            "old_checkpoint": self.old_checkpoint,
            "new_checkpoint": self.new_checkpoint,
        }


# ---------------------------------------------------------------------------------------------------
# The log


@dataclass(frozen=True)
class Event:
    """One action to record (for :meth:`AuditLog.append_many`)."""

    action: str
    actor: str
    subject: str = ""
    details: Mapping[str, Any] = field(default_factory=dict)
    time: dt.datetime | None = None


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class _Pending:
    """One caller's event waiting for a group commit."""

    __slots__ = ("error", "event", "index")

    def __init__(self, event_: Event) -> None:
        self.event = event_
        self.index: int | None = None
        self.error: BaseException | None = None


def _prepare(e: Event, clock: Callable[[], dt.datetime]) -> tuple[str, str]:
    """Check an event; its canonical details text and its time."""
    if not isinstance(e.action, str) or not e.action or len(e.action) > 64:
        raise AuditError(f"invalid audit action {e.action!r}", hint="a short name such as 'push'")
    if not isinstance(e.actor, str) or not isinstance(e.subject, str):
        raise AuditError("audit actor and subject must be strings", hint="pass names, not objects")
    if not isinstance(e.details, Mapping):
        raise AuditError("audit details must be a mapping", hint="pass a dict of JSON values")
    return canonical_json(dict(e.details)), format_time(e.time if e.time is not None else clock())


class AuditLog:
    """Append entries, sign checkpoints and serve proofs for the audit log in ``engine``'s database.

    ``origin`` names the log in its checkpoints; it defaults to the signer's key name, as C2SP
    recommends (the key name should match the origin line).
    """

    def __init__(
        self,
        engine: Engine,
        signer: NoteSigner,
        origin: str | None = None,
        *,
        clock: Callable[[], dt.datetime] = _utcnow,
    ) -> None:
        self.engine = engine
        self.signer = signer
        self.origin = signer.name if origin is None else origin
        if not self.origin or "\n" in self.origin:
            raise AuditError(
                "the log origin must be one non-empty line", hint="e.g. registry.example.com/audit"
            )
        self._clock = clock
        self._queue: list[_Pending] = []
        self._queue_lock = threading.Lock()
        self._commit_lock = threading.Lock()

    # -- writing ------------------------------------------------------------------------------------

    def append(
        self,
        action: str,
        actor: str,
        subject: str = "",
        details: Mapping[str, Any] | None = None,
        *,
        connection: Connection | None = None,
        time: dt.datetime | None = None,
    ) -> int:
        """Record one action and return its index.

        With ``connection`` the entry joins the caller's transaction (committed or rolled back with the
        action); without, it is committed here before returning (durable).
        """
        event_ = Event(action, actor, subject, dict(details or {}), time)
        if connection is not None:
            return self._append(connection, [event_])[0]
        return self._group_commit(event_)

    def _group_commit(self, event_: Event) -> int:
        """Commit this event together with those other threads are waiting to commit.

        A durable commit costs one fsync (milliseconds on most disks) whatever it holds, so the thread
        that gets the commit lock writes every queued event in one transaction and wakes the rest:
        each caller still returns only after its own entry is committed.
        """
        _prepare(event_, self._clock)  # a bad event fails alone, before it can spoil a batch
        pending = _Pending(event_)
        with self._queue_lock:
            self._queue.append(pending)
        with self._commit_lock:
            if pending.index is None and pending.error is None:
                with self._queue_lock:
                    batch, self._queue = self._queue, []
                try:
                    with self.engine.begin() as conn:
                        indexes = self._append(conn, [p.event for p in batch])
                except BaseException as exc:  # noqa: BLE001 - handed to every waiting caller, re-raised
                    for p in batch:
                        p.error = exc
                else:
                    for p, index in zip(batch, indexes, strict=True):
                        p.index = index
        if pending.error is not None:
            raise pending.error
        assert pending.index is not None
        return pending.index

    def append_many(self, events: Sequence[Event], *, connection: Connection | None = None) -> list[int]:
        """Record several actions in one transaction (one lock, one commit); their indexes in order."""
        if not events:
            return []
        if connection is not None:
            return self._append(connection, events)
        with self.engine.begin() as conn:
            return self._append(conn, events)

    def _append(self, conn: Connection, events: Sequence[Event]) -> list[int]:
        rows: list[dict[str, Any]] = []
        prepared = [(e, *_prepare(e, self._clock)) for e in events]
        # Taking the head row's lock first serializes appends on both databases (see module docstring).
        head = conn.execute(_BUMP_HEAD, {"head_id": _HEAD_ID, "count": len(events)}).first()
        if head is None:
            raise AuditError(
                "the audit log has no head row", hint="create the schema (create_schema/initialize)"
            )
        first = int(head.size) - len(events)
        tree = CompactTree.from_bytes(first, bytes(head.frontier))
        for offset, (e, details_text, when) in enumerate(prepared):
            index = first + offset
            leaf = leaf_hash(leaf_data(index, when, e.actor, e.action, e.subject, json.loads(details_text)))
            tree.append(leaf)
            rows.append(
                {
                    "index": index,
                    "time": when,
                    "actor": e.actor,
                    "action": e.action,
                    "subject": e.subject,
                    "details": details_text,
                    "leaf_hash": leaf,
                }
            )
        frontier = {"head_id": _HEAD_ID, "new_frontier": tree.to_bytes()}
        if len(rows) == 1 and conn.dialect.name == "postgresql":  # one round trip instead of two
            conn.execute(_PG_INSERT_ONE_SET_FRONTIER, {**rows[0], **frontier})
        else:
            conn.execute(_INSERT_ENTRIES, rows)
            conn.execute(_SET_FRONTIER, frontier)
        return [r["index"] for r in rows]

    def checkpoint(self) -> str:
        """Sign the current size and root (from the stored frontier, O(log n)) and store the note.

        If that size is already signed, the stored note is returned. Safe to call from several
        processes at once (replicas, cron): ``size`` is the primary key, so when two sign the same size
        concurrently one insert fails and that caller returns the note the other stored.
        """
        size = 0
        try:
            with self.engine.begin() as conn:
                head = conn.execute(
                    select(audit_head.c.size, audit_head.c.frontier).where(audit_head.c.id == _HEAD_ID)
                ).first()
                if head is None:
                    raise AuditError("the audit log has no head row", hint="create the schema first")
                tree = CompactTree.from_bytes(int(head.size), bytes(head.frontier))
                size = tree.size
                existing = self._checkpoint_note(conn, size)
                if existing is not None:
                    return existing
                root = tree.root()
                note = self.signer.sign(Checkpoint(self.origin, size, root).text())
                conn.execute(
                    insert(audit_checkpoints).values(
                        size=size, root_hash=root, note=note, time=format_time(self._clock())
                    )
                )
        except IntegrityError:
            with self.engine.connect() as conn:
                stored = self._checkpoint_note(conn, size)
            if stored is None:
                raise
            return stored
        return note

    # -- reading ------------------------------------------------------------------------------------

    def size(self) -> int:
        """The number of committed entries, per the head row."""
        with self.engine.connect() as conn:
            value = conn.execute(select(audit_head.c.size).where(audit_head.c.id == _HEAD_ID)).scalar()
        return int(value or 0)

    def signed_size(self) -> int:
        """The size of the latest checkpoint (0 before the first): later entries are not yet signed."""
        with self.engine.connect() as conn:
            value = conn.execute(select(func.max(audit_checkpoints.c.size))).scalar()
        return int(value or 0)

    def latest_checkpoint(self) -> str | None:
        """The signed note of the largest checkpoint, or None before the first."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(audit_checkpoints.c.note).order_by(audit_checkpoints.c.size.desc()).limit(1)
            ).first()
        return None if row is None else str(row.note)

    def _checkpoint_note(self, conn: Connection, size: int) -> str | None:
        row = conn.execute(select(audit_checkpoints.c.note).where(audit_checkpoints.c.size == size)).first()
        return None if row is None else str(row.note)

    def _default_size(self, conn: Connection) -> int:
        latest = conn.execute(select(func.max(audit_checkpoints.c.size))).scalar()
        if latest is not None:
            return int(latest)
        return int(conn.execute(select(audit_head.c.size).where(audit_head.c.id == _HEAD_ID)).scalar() or 0)

    def _leaf_hashes(self, conn: Connection, size: int) -> list[bytes]:
        rows = conn.execute(
            select(audit_entries.c.leaf_hash)
            .where(audit_entries.c.index < size)
            .order_by(audit_entries.c.index)
        )
        leaves = [bytes(r[0]) for r in rows]
        if len(leaves) != size:
            raise AuditError(
                f"the log has {len(leaves)} entries below index {size}",
                hint="the size is too large, or entries were deleted: run 'mlwarden audit verify'",
            )
        return leaves

    def inclusion_proof(self, index: int, size: int | None = None) -> InclusionProof:
        """The audit path of entry ``index`` in the tree of ``size`` entries (default: the latest
        checkpoint's size, so the proof checks against a signed root)."""
        with self.engine.connect() as conn:
            n = self._default_size(conn) if size is None else size
            leaves = self._leaf_hashes(conn, n)
            hashes = inclusion_proof(leaves, index, n)
            return InclusionProof(
                index, n, leaves[index], tuple(hashes), root_of(leaves), self._checkpoint_note(conn, n)
            )

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> ConsistencyProof:
        """Proof that the log of ``old_size`` entries is a prefix of the log of ``new_size`` entries
        (default: the latest checkpoint's size)."""
        with self.engine.connect() as conn:
            n = self._default_size(conn) if new_size is None else new_size
            leaves = self._leaf_hashes(conn, n)
            hashes = consistency_proof(leaves, old_size, n)
            return ConsistencyProof(
                old_size,
                n,
                tuple(hashes),
                root_of(leaves, 0, old_size),
                root_of(leaves),
                self._checkpoint_note(conn, old_size),
                self._checkpoint_note(conn, n),
            )

    def export(self, out: TextIO) -> int:
        """Write the log as JSON lines (entries by index, then checkpoints); returns the entry count."""
        return export(self.engine, out)


def export(engine: Engine, out: TextIO) -> int:
    """JSON lines: ``{"type":"entry",…}`` per entry in index order, then ``{"type":"checkpoint",…}``.

    ``details`` is the JSON value and ``leaf_hash`` base64, so :func:`verify` and other tools can
    recompute every leaf from the line alone.
    """
    count = 0
    with engine.connect() as conn:
        rows = conn.execution_options(stream_results=True, yield_per=10_000).execute(
            select(audit_entries).order_by(audit_entries.c.index)
        )
        for r in rows:
            try:
                details: Any = json.loads(r.details)
            except (TypeError, ValueError):
                details = {"__unparsable_details__": str(r.details)}
            line = {
                "type": "entry",
                "index": r.index,
                "time": r.time,
                "actor": r.actor,
                "action": r.action,
                "subject": r.subject,
                "details": details,
                "leaf_hash": _b64(bytes(r.leaf_hash)),
            }
            out.write(canonical_json(line) + "\n")
            count += 1
        for c in conn.execute(select(audit_checkpoints).order_by(audit_checkpoints.c.size)):
            line = {"type": "checkpoint", "size": c.size, "time": c.time, "note": c.note}
            out.write(canonical_json(line) + "\n")
    return count


# ---------------------------------------------------------------------------------------------------
# Verification


@dataclass(frozen=True)
class Problem:
    """One finding of :func:`verify`. ``kind``: edited, deleted, inserted, reordered, checkpoint, head."""

    kind: str
    index: int | None
    message: str


KINDS = ("edited", "deleted", "inserted", "reordered", "checkpoint", "head")


@dataclass
class VerifyReport:
    """What :func:`verify` found. ``ok`` means every check passed."""

    entries: int = 0
    checkpoints: int = 0
    verified_checkpoints: int = 0
    signed_size: int = 0
    root_hash: bytes = b""
    problems: list[Problem] = field(default_factory=list)
    external_checkpoints: int = 0  # checkpoints kept outside the log that it is consistent with

    @property
    def ok(self) -> bool:
        """No problem found."""
        return not self.problems

    @property
    def unsigned(self) -> int:
        """Entries after the latest verified checkpoint: intact as far as anyone can tell, not yet signed."""
        return max(0, self.entries - self.signed_size)

    def counts(self) -> dict[str, int]:
        """Problems per kind."""
        result = dict.fromkeys(KINDS, 0)
        for p in self.problems:
            result[p.kind] = result.get(p.kind, 0) + 1
        return result

    def first_problem(self) -> Problem | None:
        """The problem at the lowest index (problems without one come last)."""
        if not self.problems:
            return None
        return min(self.problems, key=lambda p: (p.index is None, p.index or 0))

    def summary(self) -> str:
        """One line: intact with sizes, or the first problem and the counts."""
        if self.ok:
            tail = f", {self.unsigned} newer entries not yet checkpointed" if self.unsigned else ""
            if self.external_checkpoints:
                tail += f", consistent with {self.external_checkpoints} external checkpoint(s)"
            return (
                f"audit log intact: {self.entries} entries, "
                f"{self.verified_checkpoints} signed checkpoint(s), latest at size {self.signed_size}{tail}; "
                f"root {_b64(self.root_hash)}"
            )
        first = self.first_problem()
        assert first is not None
        counts = ", ".join(f"{n} {k}" for k, n in self.counts().items() if n)
        return f"audit log tampered: {first.message} ({counts}; {self.entries} entries checked)"

    def to_json(self) -> dict[str, Any]:
        """Machine-readable report."""
        return {
            "ok": self.ok,
            "entries": self.entries,
            "checkpoints": self.checkpoints,
            "verified_checkpoints": self.verified_checkpoints,
            "signed_size": self.signed_size,
            "unsigned_entries": self.unsigned,
            "external_checkpoints": self.external_checkpoints,
            "root_hash": _b64(self.root_hash),
            "counts": self.counts(),
            "problems": [{"kind": p.kind, "index": p.index, "message": p.message} for p in self.problems],
        }


_Row = tuple[int, str, str, str, str, Any, bytes]  # index, time, actor, action, subject, details, leaf_hash
_MAX_CLASSIFIED = 10_000
_SHIFTS = range(1, 9)


def verify(
    source: Engine | str | Path | Iterable[str],
    verifier_key: str | NoteVerifier,
    *,
    origin: str | None = None,
    external_checkpoints: Mapping[str, str] | None = None,
) -> VerifyReport:
    """Check the whole log offline: ``source`` is an engine, or an export (a path or lines).

    Every leaf is recomputed from the entry's contents, the tree is replayed, every stored checkpoint's
    signature is checked with ``verifier_key`` (its origin must be ``origin``, default the key name)
    and its root compared with the replayed root at its size. The report names each edited, deleted,
    inserted or reordered entry it can tell apart and counts them.

    ``external_checkpoints`` maps a name (e.g. the file it came from) to a signed checkpoint kept
    outside the database, such as one a monitor fetched earlier. Stored checkpoints cannot catch
    someone with the database and the key who rewrites the entries and re-signs every checkpoint; an
    older copy can: it must verify with the key, its size must not exceed the log's and its root must
    equal the replayed root at its size, else the history was rewritten since it was signed.
    """
    verifier = (
        verifier_key if isinstance(verifier_key, NoteVerifier) else NoteVerifier.from_vkey(verifier_key)
    )
    report = VerifyReport()
    external, external_problems = _open_external(external_checkpoints or {}, verifier, origin)
    roots: dict[int, bytes | None] = {cp.size: None for _name, cp in external}
    if isinstance(source, Engine):
        if not has_schema(source):
            raise AuditError("no audit log in this database", hint="check --db; the registry creates the log")
        if source.dialect.name == "sqlite":
            checkpoints, head, tree = _verify_sqlite(source, verifier, origin, report, roots)
        else:
            with source.connect() as conn:
                conn = conn.execution_options(isolation_level="REPEATABLE READ")  # one snapshot
                checkpoints = [(int(c.size), str(c.note)) for c in conn.execute(select(audit_checkpoints))]
                head = conn.execute(
                    select(audit_head.c.size, audit_head.c.frontier).where(audit_head.c.id == _HEAD_ID)
                ).first()
                rows = conn.execution_options(stream_results=True, yield_per=20_000).execute(
                    text(_ENTRIES_SQL)
                )
                tree = _replay(
                    iter(rows), checkpoints, verifier, origin, report, details_text=True, roots=roots
                )
        if head is None:
            report.problems.append(Problem("head", None, "the log's head row is missing"))
        elif report.ok and (int(head.size) != tree.size or bytes(head.frontier) != tree.to_bytes()):
            kind = (
                "deleted"
                if int(head.size) > tree.size
                else "inserted"
                if int(head.size) < tree.size
                else "head"
            )
            report.problems.append(
                Problem(
                    kind,
                    min(int(head.size), tree.size),
                    f"the log's head records {int(head.size)} entries, the table holds {tree.size} "
                    "(or their hashes differ)",
                )
            )
    else:
        entries, checkpoints = _read_export(source)
        _replay(iter(entries), checkpoints, verifier, origin, report, details_text=False, roots=roots)
    report.problems.extend(external_problems)
    _compare_external(external, roots, report)
    return report


def _open_external(
    notes: Mapping[str, str], verifier: NoteVerifier, origin: str | None
) -> tuple[list[tuple[str, Checkpoint]], list[Problem]]:
    """Verify the signatures of external checkpoints: the opened ones, and a problem per bad one."""
    opened: list[tuple[str, Checkpoint]] = []
    problems: list[Problem] = []
    for name, note in notes.items():
        try:
            opened.append((name, open_checkpoint(note, verifier, origin)))
        except NoteError as exc:
            problems.append(Problem("checkpoint", None, f"external checkpoint {name}: {exc.message}"))
    return opened, problems


def _compare_external(
    external: list[tuple[str, Checkpoint]], roots: dict[int, bytes | None], report: VerifyReport
) -> None:
    """Each external checkpoint's root against the replayed root at its size (None: beyond the log)."""
    for name, cp in external:
        root = roots.get(cp.size)
        if root is None:
            why = f"the log now has only {report.entries} entries"
        elif root != cp.root_hash:
            why = "the log's root at that size differs from the signed one"
        else:
            report.external_checkpoints += 1
            continue
        report.problems.append(
            Problem(
                "checkpoint",
                None,
                f"history rewritten since the checkpoint of size {cp.size} ({name}): {why}",
            )
        )


_ENTRIES_SQL = (
    'SELECT "index", "time", actor, action, subject, details, leaf_hash FROM audit_entries ORDER BY "index"'
)


def _verify_sqlite(
    engine: Engine,
    verifier: NoteVerifier,
    origin: str | None,
    report: VerifyReport,
    roots: dict[int, bytes | None],
) -> tuple[list[tuple[int, str]], Any, CompactTree]:
    """SQLite: read from one deferred read transaction on the raw driver connection, so verification
    sees one snapshot without holding the write lock (whatever BEGIN the engine's events would emit)."""
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("BEGIN")
        try:
            checkpoints = [
                (int(r[0]), str(r[1])) for r in cursor.execute("SELECT size, note FROM audit_checkpoints")
            ]
            head = cursor.execute(
                "SELECT size, frontier FROM audit_head WHERE id = ?", (_HEAD_ID,)
            ).fetchone()
            tree = _replay(
                cursor.execute(_ENTRIES_SQL),
                checkpoints,
                verifier,
                origin,
                report,
                details_text=True,
                roots=roots,
            )
        finally:
            cursor.execute("ROLLBACK")
            cursor.close()
    finally:
        raw.close()
    return checkpoints, None if head is None else _Head(int(head[0]), bytes(head[1])), tree


@dataclass(frozen=True)
class _Head:
    size: int
    frontier: bytes


def _read_export(source: str | Path | Iterable[str]) -> tuple[list[_Row], list[tuple[int, str]]]:
    lines: Iterable[str]
    handle = None
    if isinstance(source, str | Path):
        try:
            handle = Path(source).open(encoding="utf-8")  # noqa: SIM115 - closed below
        except OSError as exc:
            raise AuditError(f"cannot read {source}: {exc.strerror or exc}", hint="check the path") from None
        lines = handle
    else:
        lines = source
    entries: list[_Row] = []
    checkpoints: list[tuple[int, str]] = []
    try:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
                if obj.get("type") == "checkpoint":
                    checkpoints.append((int(obj["size"]), str(obj["note"])))
                    continue
                entries.append(
                    (
                        int(obj["index"]),
                        str(obj["time"]),
                        str(obj["actor"]),
                        str(obj["action"]),
                        str(obj["subject"]),
                        obj["details"],
                        base64.b64decode(obj["leaf_hash"]),
                    )
                )
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                raise AuditError(
                    f"line {number} of the export is not an audit record: {exc}",
                    hint="give a file written by 'mlwarden audit export'",
                ) from None
    finally:
        if handle is not None:
            handle.close()
    entries.sort(key=lambda r: r[0])
    return entries, checkpoints


def _replay(
    rows: Iterator[Any],
    checkpoints: list[tuple[int, str]],
    verifier: NoteVerifier,
    origin: str | None,
    report: VerifyReport,
    *,
    details_text: bool,
    roots: dict[int, bytes | None] | None = None,
) -> CompactTree:
    """Recompute leaves in index order, replay the tree and compare it with the checkpoints.

    ``roots``: sizes whose replayed root the caller wants; filled in where the log reaches them.
    """
    signed: dict[int, bytes] = {}
    report.checkpoints = len(checkpoints)
    for size, note in checkpoints:
        try:
            cp = open_checkpoint(note, verifier, origin)
        except NoteError as exc:
            report.problems.append(Problem("checkpoint", size, f"checkpoint at size {size}: {exc.message}"))
            continue
        if cp.size != size:
            report.problems.append(
                Problem("checkpoint", size, f"checkpoint stored at size {size} signs size {cp.size}")
            )
            continue
        signed[size] = cp.root_hash
        report.verified_checkpoints += 1
    sizes = sorted(signed)
    next_cp = 0
    while next_cp < len(sizes) and sizes[next_cp] == 0:
        next_cp += 1  # size 0: nothing to compare beyond the empty root
    tree = CompactTree()
    mismatched: dict[int, tuple[_Row, bytes]] = {}  # index -> (row, recomputed leaf)
    missing: list[int] = []
    duplicates: list[int] = []
    bad_roots: list[tuple[int, int]] = []  # (size, last matching size before it)
    last_good = 0
    expected = 0
    leaf_of = _leaf_from_text if details_text else _leaf_from_value
    wanted = roots if roots is not None else {}
    if 0 in wanted:
        wanted[0] = tree.root()
    for row in rows:
        index = int(row[0])
        if index < expected:
            duplicates.append(index)
            continue
        if index > expected:
            missing.extend(range(expected, min(index, expected + _MAX_CLASSIFIED)))
        expected = index + 1
        stored = bytes(row[6])
        leaf = leaf_of(index, row[1], row[2], row[3], row[4], row[5], stored)
        if leaf != stored and len(mismatched) < _MAX_CLASSIFIED:
            mismatched[index] = ((index, row[1], row[2], row[3], row[4], row[5], stored), leaf)
        tree.append(leaf)
        if tree.size in wanted:
            wanted[tree.size] = tree.root()
        while next_cp < len(sizes) and sizes[next_cp] == tree.size:
            if tree.root() == signed[tree.size]:
                last_good = tree.size
            else:
                bad_roots.append((tree.size, last_good))
            next_cp += 1
    report.entries = tree.size
    report.root_hash = tree.root()
    report.signed_size = max(sizes, default=0)
    for index in duplicates:
        report.problems.append(Problem("inserted", index, f"a second entry claims index {index}"))
    _classify(mismatched, missing, leaf_of, report)
    if sizes[next_cp:] and not any(p.kind == "deleted" for p in report.problems):
        report.problems.append(
            Problem(
                "deleted",
                tree.size,
                f"a checkpoint signs {sizes[-1]} entries but the log has {tree.size}: entries were deleted",
            )
        )
    earliest = min((p.index for p in report.problems if p.index is not None), default=None)
    for size, good in bad_roots:
        if earliest is not None and earliest < size:
            continue  # a consequence of a problem already named
        report.problems.append(
            Problem(
                "edited",
                good,
                f"the signed root at size {size} does not match the entries: entries {good}..{size - 1} "
                "were rewritten (with recomputed leaf hashes)",
            )
        )
        break  # later roots inherit the same difference
    return tree


def _classify(
    mismatched: dict[int, tuple[_Row, bytes]],
    missing: list[int],
    leaf_of: Callable[[int, Any, Any, Any, Any, Any, bytes], bytes],
    report: VerifyReport,
) -> None:
    """Explain leaf mismatches: a row whose contents hash correctly under another index was moved.

    A permutation among rows is a reordering; rows shifted up by d mean d entries inserted before them,
    shifted down by d mean d entries deleted before them; anything else is an edit.
    """
    stored_at = {i: row[6] for i, (row, _leaf) in mismatched.items()}
    origin_of: dict[int, int] = {}
    for i, (row, _leaf) in mismatched.items():
        candidates = [
            *(k for k in mismatched if k != i),
            *(i - d for d in _SHIFTS),
            *(i + d for d in _SHIFTS),
        ]
        for k in candidates:
            if k < 0:
                continue
            h = leaf_of(k, row[1], row[2], row[3], row[4], row[5], row[6])
            if h == row[6] or h == stored_at.get(k):
                origin_of[i] = k
                break
    permuted = _cycles(origin_of)
    shifted_up: dict[int, int] = {}
    shifted_down: dict[int, int] = {}
    for i, k in sorted(origin_of.items()):
        if i in permuted:
            report.problems.append(
                Problem("reordered", i, f"entry at index {i} holds the entry signed at index {k} (reordered)")
            )
        elif k < i:
            shifted_up.setdefault(i - k, i)
        else:
            shifted_down.setdefault(k - i, i)
    for d, first in shifted_up.items():
        for j in range(first - d, first):
            report.problems.append(
                Problem("inserted", j, f"entry at index {j} was inserted (later entries renumbered +{d})")
            )
    for d, first in shifted_down.items():
        report.problems.append(
            Problem(
                "deleted", first, f"{d} entry(ies) deleted before index {first} (later entries renumbered)"
            )
        )
    for i in missing:
        report.problems.append(Problem("deleted", i, f"entry at index {i} is missing (deleted)"))
    named = {p.index for p in report.problems}
    for i in sorted(set(mismatched) - set(origin_of) - named):
        report.problems.append(
            Problem("edited", i, f"entry at index {i} was edited (its contents do not match its leaf hash)")
        )


def _cycles(moves: dict[int, int]) -> set[int]:
    """The positions on cycles of ``position -> original index``: rows permuted among themselves, as
    opposed to chains, which are runs renumbered around an insertion or a deletion."""
    state: dict[int, bool] = {}  # True while on the current walk
    on_cycle: set[int] = set()
    for start in moves:
        path: list[int] = []
        j = start
        while j in moves and j not in state:
            state[j] = True
            path.append(j)
            j = moves[j]
        if state.get(j):
            on_cycle.update(path[path.index(j) :])
        for visited in path:
            state[visited] = False
    return on_cycle
