"""The registry's business logic, with no HTTP in it: push, pull, aliases, approvals, quarantine, tokens.

Every action is one database transaction that also appends its audit-log entry, so an action and its
record commit together or not at all. Bytes never sit in a transaction: a push is unpacked into a
staging directory as it arrives (``registry.upload``), gated there with the registry's own policy and
trust, moved into the content-addressed blob store, and only then is the version row written; a crash
at any earlier point leaves no visible version (staging is swept on the next start, and unreferenced
blobs are invisible until ``registry gc`` removes them).

The upload is one uncompressed tar stream (``application/x-tar``) with three top-level folders:
``model/`` (the model's files, as signed), ``signatures/`` (one or more OMS bundles, ``*.sig``) and
``attestations/`` (signed in-toto bundles, ``*.json``: scan, capability, provenance, dataset
manifests). One request per version keeps "a version is visible only when complete" a property of one
request instead of a session protocol, and a tar streams in both directions without buffering.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import Connection, Engine, func, select, update
from sqlalchemy.exc import IntegrityError

from mlwarden.errors import MlwardenError
from mlwarden.hashing import Manifest
from mlwarden.registry import models as m
from mlwarden.registry.auth import Grant, Principal, ProblemError, new_token, parse_grants
from mlwarden.registry.blobs import BlobNotFound, BlobStore, LocalBlobStore
from mlwarden.registry.settings import RegistrySettings
from mlwarden.registry.upload import Received, UploadReceiver

if TYPE_CHECKING:
    from mlwarden.registry.audit.note import NoteSigner

NAME_RE = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
VERSION_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,63}")
ALIAS_RE = re.compile(r"[a-z][a-z0-9-]{0,31}")
TOKEN_ID_RE = re.compile(r"[0-9a-f]{1,32}")
log = logging.getLogger("mlwarden.registry")
INT4_MAX = 2**31 - 1  # ids are INTEGER columns: 32 bits on PostgreSQL
HIGH_CAPABILITY = ("high", "critical")


class AuditSink(Protocol):
    """What the registry needs of the audit log (``mlwarden.registry.audit.AuditLog``)."""

    def append(
        self,
        action: str,
        actor: str,
        subject: str,
        details: dict[str, Any],
        *,
        connection: Connection | None = None,
    ) -> int: ...

    def checkpoint(self) -> str: ...

    def latest_checkpoint(self) -> str | None: ...

    def size(self) -> int: ...

    def signed_size(self) -> int: ...


def now() -> dt.datetime:
    """The current time, UTC, to the second."""
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def iso(when: dt.datetime | None) -> str | None:
    """RFC 3339 (UTC, ``Z``); SQLite hands back naive datetimes, written in UTC."""
    if when is None:
        return None
    aware = when if when.tzinfo else when.replace(tzinfo=dt.UTC)
    return aware.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def check_name(kind: str, value: str, pattern: re.Pattern[str]) -> str:
    """Refuse names that are not plain identifiers (they become paths, URLs and audit subjects)."""
    if not pattern.fullmatch(value):
        raise ProblemError(422, "Invalid name", f"{kind} {value!r} must match {pattern.pattern}")
    return value


@dataclass(frozen=True)
class Ref:
    """A model by namespace and name."""

    namespace: str
    name: str

    def __post_init__(self) -> None:
        check_name("namespace", self.namespace, NAME_RE)
        check_name("model", self.name, NAME_RE)

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass
class FileStream:
    """A file of a version on its way out: size, digest, and the verifying chunk iterator."""

    path: str
    size: int
    digest: str
    chunks: Iterator[bytes]


@dataclass
class GcReport:
    """What :meth:`Registry.collect_garbage` found (and removed, unless ``dry_run``)."""

    dry_run: bool
    blobs: int = 0  # blobs in the store before
    young: int = 0  # unreferenced but within the grace period
    removed: list[str] = field(default_factory=list)
    removed_bytes: int = 0
    temp_files: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "blobs": self.blobs,
            "referenced": self.blobs - self.young - len(self.removed),
            "young": self.young,
            "removed": self.removed,
            "removed_bytes": self.removed_bytes,
            "temp_files": self.temp_files,
        }


class Registry:
    """The registry over a metadata engine, a blob store and an audit log."""

    def __init__(
        self, settings: RegistrySettings, engine: Engine, store: BlobStore, audit: AuditSink
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.store = store
        self.audit = audit

    def audit_failure(self, client: str, why: str) -> None:
        """Record a failed login (the API rate-limits them per client before they get here)."""
        self.audit.append("auth.failure", "anonymous", client, {"reason": why})

    # -- start-up --------------------------------------------------------------------------------------

    def sweep_staging(self) -> int:
        """Remove uploads a previous process left half-received (kill -9, power loss)."""
        staging = self.settings.staging_dir
        removed = 0
        if staging.is_dir():
            for entry in staging.iterdir():
                shutil.rmtree(entry, ignore_errors=True) if entry.is_dir() else entry.unlink(missing_ok=True)
                removed += 1
        staging.mkdir(parents=True, exist_ok=True)
        return removed

    def warm_up(self) -> None:
        """Import the gate (scanner, classifier, policy engine) and compile the configured policies now,
        so the first push does not pay for them; a policy that fails to load is logged and denies later."""
        from mlwarden.policy import InvalidPolicyError  # noqa: PLC0415
        from mlwarden.services.gate import preload  # noqa: PLC0415

        for policy in sorted({self.settings.push_policy, *self.settings.alias_policies.values()}):
            try:
                preload(policy)
            except InvalidPolicyError as err:
                log.warning("policy %r does not load; it will deny: %s", policy, err.message)

    def bootstrap_admin(self) -> str | None:
        """A new all-namespace admin token when none is valid (first start), else None.

        There are no default credentials: the token is random and shown once by the caller.
        """
        moment = now()
        with self.engine.begin() as conn:
            rows = conn.execute(
                select(m.tokens.c.grants, m.tokens.c.expires_at).where(m.tokens.c.revoked_at.is_(None))
            ).all()
            for grants, expires in rows:
                aware = expires if expires.tzinfo else expires.replace(tzinfo=dt.UTC)
                if aware > moment and Grant("*", "admin") in parse_grants(grants):
                    return None
            token = self._insert_token(
                conn,
                "admin",
                (Grant("*", "admin"),),
                self.settings.token_days,
                "first-start admin",
                "registry",
            )
            self.audit.append("token.bootstrap", "registry", "admin", {"token_id": token[0]}, connection=conn)
        return token[1]

    # -- tokens ----------------------------------------------------------------------------------------

    def _insert_token(
        self, conn: Connection, principal: str, grants: Sequence[Grant], days: int, description: str, by: str
    ) -> tuple[str, str]:
        token_id, secret_hash, text = new_token()
        moment = now()
        conn.execute(
            m.tokens.insert().values(
                id=token_id,
                secret_hash=secret_hash,
                principal=principal,
                grants=[g.to_dict() for g in grants],
                description=description,
                created_at=moment,
                created_by=by,
                expires_at=moment + dt.timedelta(days=days),
            )
        )
        return token_id, text

    def create_token(
        self, caller: Principal, principal: str, grants: Any, days: int | None, description: str
    ) -> dict[str, Any]:
        """A new token for ``principal``; the caller must administer every namespace it grants."""
        parsed = parse_grants(grants)
        if not parsed:
            raise ProblemError(422, "Invalid grant", "a token needs at least one grant")
        if not principal.strip() or len(principal) > 255:
            raise ProblemError(422, "Invalid principal", "the principal must be 1 to 255 characters")
        for grant in parsed:
            if grant.namespace != "*":
                check_name("namespace", grant.namespace, NAME_RE)
        for grant in parsed:
            if not (
                caller.can("admin", grant.namespace)
                and (grant.namespace != "*" or "admin" in caller.roles_in("*"))
            ):
                raise ProblemError(
                    403, "Forbidden", f"{caller.name} does not administer namespace {grant.namespace!r}"
                )
        lifetime = days or self.settings.token_days
        if not 0 < lifetime <= 3650:
            raise ProblemError(422, "Invalid lifetime", "days must be between 1 and 3650")
        with self.engine.begin() as conn:
            token_id, text = self._insert_token(conn, principal, parsed, lifetime, description, caller.name)
            self.audit.append(
                "token.create",
                caller.name,
                principal,
                {"token_id": token_id, "grants": [g.to_dict() for g in parsed], "days": lifetime},
                connection=conn,
            )
        return {**self._token_row(token_id), "token": text}

    def _token_row(self, token_id: str) -> dict[str, Any]:
        with self.engine.connect() as conn:
            row = conn.execute(select(m.tokens).where(m.tokens.c.id == token_id)).mappings().first()
        if row is None:
            raise ProblemError(404, "Not found", f"no token {token_id!r}")
        return _token_dict(row)

    def _manages(self, caller: Principal, row: Any) -> bool:
        grants = parse_grants(row["grants"])
        return row["principal"] == caller.name or all(
            caller.can("admin", g.namespace) and (g.namespace != "*" or "admin" in caller.roles_in("*"))
            for g in grants
        )

    def list_tokens(self, caller: Principal) -> list[dict[str, Any]]:
        """Tokens the caller may see: its own and those it administers (never a secret)."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(m.tokens).order_by(m.tokens.c.created_at)).mappings().all()
        return [_token_dict(r) for r in rows if self._manages(caller, r)]

    def revoke_token(self, caller: Principal, token_id: str) -> dict[str, Any]:
        """Revoke a token (its own, or one the caller administers)."""
        if not TOKEN_ID_RE.fullmatch(token_id):  # ids are hex; anything else names no token
            raise ProblemError(404, "Not found", f"no token {token_id!r} you may manage")
        with self.engine.begin() as conn:
            row = conn.execute(select(m.tokens).where(m.tokens.c.id == token_id)).mappings().first()
            if row is None or not self._manages(caller, row):
                raise ProblemError(404, "Not found", f"no token {token_id!r} you may manage")
            if row["revoked_at"] is None:
                conn.execute(update(m.tokens).where(m.tokens.c.id == token_id).values(revoked_at=now()))
                self.audit.append(
                    "token.revoke", caller.name, row["principal"], {"token_id": token_id}, connection=conn
                )
        return self._token_row(token_id)

    # -- reading ---------------------------------------------------------------------------------------

    def list_models(self, caller: Principal) -> list[dict[str, Any]]:
        """Models in the namespaces the caller may read, with their version count and aliases."""
        with self.engine.connect() as conn:
            rows = (
                conn.execute(
                    select(m.models, func.count(m.versions.c.id).label("versions"))
                    .select_from(m.models.outerjoin(m.versions))
                    .group_by(m.models.c.id)
                    .order_by(m.models.c.namespace, m.models.c.name)
                )
                .mappings()
                .all()
            )
            out = []
            for r in rows:
                if not caller.can("read", r["namespace"]):
                    continue
                out.append(
                    {
                        "namespace": r["namespace"],
                        "name": r["name"],
                        "versions": r["versions"],
                        "created_at": iso(r["created_at"]),
                        "aliases": self._aliases(conn, r["id"]),
                    }
                )
        return out

    def _aliases(self, conn: Connection, model_id: int) -> dict[str, str]:
        rows = conn.execute(
            select(m.aliases.c.alias, m.versions.c.version)
            .join(m.versions, m.versions.c.id == m.aliases.c.version_id)
            .where(m.aliases.c.model_id == model_id)
            .order_by(m.aliases.c.alias)
        ).all()
        return {a: v for a, v in rows}

    def _model(self, conn: Connection, ref: Ref) -> Any:
        row = (
            conn.execute(
                select(m.models).where(m.models.c.namespace == ref.namespace, m.models.c.name == ref.name)
            )
            .mappings()
            .first()
        )
        if row is None:
            raise ProblemError(404, "Not found", f"no model {ref}")
        return row

    def _version(self, conn: Connection, ref: Ref, version: str) -> tuple[Any, Any]:
        check_name("version", version, VERSION_RE)
        model = self._model(conn, ref)
        row = (
            conn.execute(
                select(m.versions).where(
                    m.versions.c.model_id == model["id"], m.versions.c.version == version
                )
            )
            .mappings()
            .first()
        )
        if row is None:
            raise ProblemError(404, "Not found", f"no version {version} of {ref}")
        return model, row

    def list_versions(self, caller: Principal, ref: Ref) -> list[dict[str, Any]]:
        """The versions of a model, oldest first."""
        caller.require("read", ref.namespace)
        with self.engine.connect() as conn:
            model = self._model(conn, ref)
            rows = (
                conn.execute(
                    select(m.versions).where(m.versions.c.model_id == model["id"]).order_by(m.versions.c.id)
                )
                .mappings()
                .all()
            )
            aliases = self._aliases(conn, model["id"])
        return [
            {
                "version": r["version"],
                "root_digest": r["root_digest"],
                "state": r["state"],
                "publisher": r["publisher"],
                "created_at": iso(r["created_at"]),
                "total_bytes": r["total_bytes"],
                "aliases": sorted(a for a, v in aliases.items() if v == r["version"]),
            }
            for r in rows
        ]

    def show(self, caller: Principal, ref: Ref, version: str) -> dict[str, Any]:
        """Everything about a version: files, signers, the push decision, lineage, attestations."""
        caller.require("read", ref.namespace)
        with self.engine.connect() as conn:
            model, row = self._version(conn, ref, version)
            return self._describe(conn, ref, model, row)

    def resolve_alias(self, caller: Principal, ref: Ref, alias: str) -> dict[str, Any]:
        """The version an alias points at."""
        caller.require("read", ref.namespace)
        check_name("alias", alias, ALIAS_RE)
        with self.engine.connect() as conn:
            model = self._model(conn, ref)
            version_id = self._alias_target(conn, ref, model, alias)
            row = conn.execute(select(m.versions).where(m.versions.c.id == version_id)).mappings().one()
            return self._describe(conn, ref, model, row)

    @staticmethod
    def _alias_target(conn: Connection, ref: Ref, model: Any, alias: str) -> int:
        """The version id ``alias`` points at; 404 when the model has no such alias."""
        version_id = conn.execute(
            select(m.aliases.c.version_id).where(
                m.aliases.c.model_id == model["id"], m.aliases.c.alias == alias
            )
        ).scalar()
        if version_id is None:
            raise ProblemError(404, "Not found", f"{ref} has no alias {alias!r}")
        return int(version_id)

    def _describe(self, conn: Connection, ref: Ref, model: Any, row: Any) -> dict[str, Any]:
        file_rows = (
            conn.execute(select(m.files).where(m.files.c.version_id == row["id"]).order_by(m.files.c.path))
            .mappings()
            .all()
        )
        atts = (
            conn.execute(
                select(
                    m.attestations.c.kind,
                    m.attestations.c.signer,
                    m.attestations.c.uploaded_by,
                    m.attestations.c.created_at,
                )
                .where(m.attestations.c.version_id == row["id"])
                .order_by(m.attestations.c.id)
            )
            .mappings()
            .all()
        )
        aliases = self._aliases(conn, model["id"])
        decision = row["decision"]
        return {
            "namespace": ref.namespace,
            "model": ref.name,
            "version": row["version"],
            "root_digest": row["root_digest"],
            "total_bytes": row["total_bytes"],
            "state": row["state"],
            "state_reason": row["state_reason"],
            "publisher": row["publisher"],
            "created_at": iso(row["created_at"]),
            "signers": row["signers"],
            "files": [{"path": f["path"], "digest": f["digest"], "size": f["size"]} for f in file_rows],
            "decision": {
                "allowed": decision.get("allowed"),
                "policy": decision.get("policy"),
                "reasons": decision.get("reasons", []),
            },
            "capability": (row["evidence"].get("capability") or {}).get("severity"),
            "lineage": row["lineage"],
            "attestations": [
                {
                    "kind": a["kind"],
                    "signer": a["signer"],
                    "uploaded_by": a["uploaded_by"],
                    "created_at": iso(a["created_at"]),
                }
                for a in atts
            ],
            "aliases": sorted(a for a, v in aliases.items() if v == row["version"]),
        }

    def signatures(self, caller: Principal, ref: Ref, version: str) -> list[dict[str, Any]]:
        """The version's OMS signature bundles (to verify a pulled copy offline)."""
        caller.require("read", ref.namespace)
        with self.engine.connect() as conn:
            _, row = self._version(conn, ref, version)
            bundles = (
                conn.execute(
                    select(m.signatures.c.bundle)
                    .where(m.signatures.c.version_id == row["id"])
                    .order_by(m.signatures.c.id)
                )
                .scalars()
                .all()
            )
        return [json.loads(b) for b in bundles]

    def open_file(self, caller: Principal, ref: Ref, version: str, path: str) -> FileStream:
        """A file's verifying stream; refused while the version is quarantined. Audited as a pull."""
        if "\x00" in path:  # no stored path holds NUL (and PostgreSQL text cannot be compared with it)
            raise ProblemError(404, "Not found", f"{ref}@{version} has no file {path!r}")
        files = self._pull(caller, ref, version, path)
        if not files:
            raise ProblemError(404, "Not found", f"{ref}@{version} has no file {path!r}")
        f = files[0]
        reader = self.store.open(f["digest"])
        return FileStream(path, f["size"], f["digest"], iter(reader))

    def open_archive(self, caller: Principal, ref: Ref, version: str) -> list[FileStream]:
        """A version's files in path order, each a verifying stream that opens its blob only when it is
        read (an archive reads them one at a time). Audited as one pull."""

        def chunks(digest: str) -> Iterator[bytes]:
            with self.store.open(digest) as reader:
                yield from reader

        return [
            FileStream(f["path"], f["size"], f["digest"], chunks(f["digest"]))
            for f in self._pull(caller, ref, version, None)
        ]

    def _pull(self, caller: Principal, ref: Ref, version: str, path: str | None) -> list[dict[str, Any]]:
        """Check access and quarantine, list the files (one ``path`` or all), record the pull."""
        caller.require("read", ref.namespace)
        with self.engine.connect() as conn:
            _, row = self._version(conn, ref, version)
            if row["state"] != "active":
                raise ProblemError(
                    423,
                    "Quarantined",
                    f"{ref}@{version} is quarantined: {row['state_reason'] or 'no reason given'}",
                )
            query = select(m.files).where(m.files.c.version_id == row["id"])
            if path is not None:
                query = query.where(m.files.c.path == path)
            files = [dict(f) for f in conn.execute(query.order_by(m.files.c.path)).mappings()]
        if files:  # recorded (durably, sharing commits with concurrent pulls) before a byte leaves
            what: dict[str, Any] = {"files": len(files)} if path is None else {"path": path}
            self.audit.append(
                "pull", caller.name, f"{ref}@{version}", {"root_digest": row["root_digest"], **what}
            )
        return files

    def events(self, caller: Principal, since: int, limit: int) -> list[dict[str, Any]]:
        """Registry events after ``since`` (gateways poll this to unload quarantined versions)."""
        with self.engine.connect() as conn:
            if since >= INT4_MAX and conn.dialect.name == "postgresql":
                return []  # no id comes after the largest INTEGER (and comparing with it overflows)
            rows = (
                conn.execute(
                    select(m.events)
                    .where(m.events.c.id > since)
                    .order_by(m.events.c.id)
                    .limit(max(1, min(limit, 1000)))
                )
                .mappings()
                .all()
            )
        return [
            {
                **{k: r[k] for k in ("id", "kind", "namespace", "model", "version", "alias", "root_digest")},
                "at": iso(r["at"]),
            }
            for r in rows
            if caller.can("read", r["namespace"])
        ]

    # -- push ------------------------------------------------------------------------------------------

    def version_exists(self, ref: Ref, version: str) -> bool:
        """Whether ``ref@version`` is already taken (checked before an upload is read)."""
        check_name("version", version, VERSION_RE)
        with self.engine.connect() as conn:
            found = conn.execute(
                select(m.versions.c.id)
                .join(m.models, m.models.c.id == m.versions.c.model_id)
                .where(
                    m.models.c.namespace == ref.namespace,
                    m.models.c.name == ref.name,
                    m.versions.c.version == version,
                )
            ).first()
        return found is not None

    def new_staging(self) -> Path:
        """A fresh directory for one upload, inside the data directory."""
        path = self.settings.staging_dir / uuid.uuid4().hex
        path.mkdir(parents=True)
        return path

    def receiver(self, staging: Path) -> UploadReceiver:
        """A receiver that unpacks an upload into ``staging`` as it arrives (see ``registry.upload``)."""
        local = isinstance(self.store, LocalBlobStore) and self.store.durable
        return UploadReceiver(staging / "unpacked", write_back=local)

    def push(self, caller: Principal, ref: Ref, version: str, upload: Received) -> dict[str, Any]:
        """Gate an unpacked upload (see the module docstring), store its files, publish the version."""
        caller.require("push", ref.namespace)
        check_name("version", version, VERSION_RE)
        if self.version_exists(ref, version):
            raise ProblemError(409, "Version exists", f"{ref}@{version} exists and versions are immutable")
        work, model_dir = upload.root, upload.model_dir
        if not upload.model_files:
            raise ProblemError(422, "Empty model", "the upload has no files under model/")
        sigs = (
            [p.read_bytes() for p in sorted((work / "signatures").glob("*"))]
            if (work / "signatures").is_dir()
            else []
        )
        if not sigs:
            raise ProblemError(422, "Unsigned", "the upload carries no signature under signatures/")
        att_dir = work / "attestations"
        result = self._gate(
            model_dir,
            sigs,
            att_dir if att_dir.is_dir() else None,
            self.settings.push_policy,
            known=upload.manifest(),
        )
        evidence = result.evidence
        if not evidence["signatures"]["verified"]:
            raise ProblemError(
                422,
                "Signature rejected",
                "no signature verifies against the registry's trusted keys: "
                + str(evidence["signatures"]["error"]),
            )
        if not result.decision.allowed:
            raise ProblemError(
                422,
                "Gate denied",
                f"policy {self.settings.push_policy!r} denied the push: "
                + "; ".join(result.decision.reasons),
                decision=result.decision.to_dict(),
            )
        stored = []
        for name, (digest, size) in sorted(upload.model_files.items()):
            self.store.adopt(model_dir / name, digest)  # a rename on the local store: no second copy
            stored.append((name, digest, size))
        verified_files = {a["file"] for a in evidence["attestations"]}
        bundles = [
            (a["kind"], a["signer"], (att_dir / a["file"]).read_text(encoding="utf-8"))
            for a in evidence["attestations"]
            if a["file"] in verified_files and (att_dir / a["file"]).is_file()
        ]
        moment = now()
        root = evidence["subject"]["root_digest"]
        try:
            with self.engine.begin() as conn:
                model_id = self._ensure_model(conn, ref, caller.name, moment)
                inserted = conn.execute(
                    m.versions.insert().values(
                        model_id=model_id,
                        version=version,
                        root_digest=root,
                        total_bytes=sum(s for _, _, s in stored),
                        state="active",
                        publisher=caller.name,
                        signers=evidence["signatures"]["signers"],
                        decision=_decision(result.decision),
                        evidence=evidence,
                        lineage=lineage(evidence),
                        created_at=moment,
                    )
                ).inserted_primary_key
                assert inserted is not None
                version_id = inserted[0]
                conn.execute(
                    m.files.insert(),
                    [{"version_id": version_id, "path": p, "digest": d, "size": s} for p, d, s in stored],
                )
                conn.execute(
                    m.signatures.insert(), [{"version_id": version_id, "bundle": b.decode()} for b in sigs]
                )
                if bundles:
                    conn.execute(
                        m.attestations.insert(),
                        [
                            {
                                "version_id": version_id,
                                "kind": k,
                                "signer": s,
                                "uploaded_by": caller.name,
                                "bundle": b,
                                "created_at": moment,
                            }
                            for k, s, b in bundles
                        ],
                    )
                self._event(conn, "push", ref, version=version, root=root, at=moment)
                self.audit.append(
                    "push",
                    caller.name,
                    f"{ref}@{version}",
                    {"root_digest": root, "files": len(stored), "policy": self.settings.push_policy},
                    connection=conn,
                )
        except IntegrityError:
            raise ProblemError(
                409, "Version exists", f"{ref}@{version} exists and versions are immutable"
            ) from None
        with self.engine.connect() as conn:
            model, row = self._version(conn, ref, version)
            return self._describe(conn, ref, model, row)

    def _ensure_model(self, conn: Connection, ref: Ref, by: str, moment: dt.datetime) -> int:
        values = {"namespace": ref.namespace, "name": ref.name, "created_at": moment, "created_by": by}
        if conn.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert  # noqa: PLC0415

            conn.execute(pg_insert(m.models).values(**values).on_conflict_do_nothing())
        else:
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert  # noqa: PLC0415

            conn.execute(sqlite_insert(m.models).values(**values).on_conflict_do_nothing())
        return int(self._model(conn, ref)["id"])

    def _event(
        self,
        conn: Connection,
        kind: str,
        ref: Ref,
        *,
        version: str | None = None,
        alias: str | None = None,
        root: str | None = None,
        at: dt.datetime,
    ) -> None:
        conn.execute(
            m.events.insert().values(
                kind=kind,
                namespace=ref.namespace,
                model=ref.name,
                version=version,
                alias=alias,
                root_digest=root,
                at=at,
            )
        )

    def _gate(
        self,
        model_dir: Path,
        sigs: Sequence[bytes],
        att_dir: Path | None,
        policy: str,
        *,
        known: Manifest | None = None,
    ) -> Any:
        from mlwarden.services.gate import GateRequest, run_gate  # noqa: PLC0415
        from mlwarden.signing import KeyTrust  # noqa: PLC0415

        trust = [KeyTrust(p.read_bytes()) for p in self.settings.trusted_keys]
        approvers = [KeyTrust(p.read_bytes()) for p in self.settings.approver_keys]
        request = GateRequest(
            path=model_dir,
            policy=policy,
            signatures=list(sigs),
            trust=trust,
            attestations=att_dir,
            attestation_trust=[*trust, *approvers],
            settings={"scan": dict(self.settings.scan)},
            known_digests=known,
        )
        try:
            return run_gate(request)
        except ProblemError:
            raise
        except Exception as err:
            from mlwarden.policy import InvalidPolicyError  # noqa: PLC0415

            if isinstance(err, InvalidPolicyError):
                raise ProblemError(
                    422, "Gate denied", f"policy {policy!r} is invalid, so it denies: {err.message}"
                ) from None
            raise

    # -- garbage collection --------------------------------------------------------------------------

    def collect_garbage(
        self, actor: str, *, grace_seconds: float = 3600.0, dry_run: bool = False
    ) -> GcReport:
        """Delete blobs no version references that are older than ``grace_seconds``; audited.

        Orphans come from pushes that died between storing their blobs and committing their version
        (a crash, a lost database). The grace period spares blobs of pushes still in flight: a push
        stores blobs only after its gate and commits right after, and re-using a stored blob refreshes
        its time. Temporary upload files of the local store older than the grace period go too.
        """
        cutoff = time.time() - grace_seconds
        with self.engine.connect() as conn:
            referenced = set(conn.execute(select(m.files.c.digest).distinct()).scalars())
        report = GcReport(dry_run=dry_run)
        for digest in sorted(self.store.iter_digests()):
            report.blobs += 1
            if digest in referenced:
                continue
            try:
                if self.store.modified(digest) > cutoff:
                    report.young += 1
                    continue
                size = self.store.stored_size(digest)
                if not dry_run:
                    self.store.delete(digest)
            except BlobNotFound:
                continue  # deleted meanwhile
            report.removed.append(digest)
            report.removed_bytes += size
        if isinstance(self.store, LocalBlobStore) and not dry_run:
            report.temp_files = self.store.clean_temp(older_than=grace_seconds)
        if report.removed and not dry_run:
            self.audit.append(
                "gc",
                actor,
                "blobs",
                {"removed": report.removed, "bytes": report.removed_bytes, "grace_seconds": grace_seconds},
            )
        return report

    # -- aliases, approvals, quarantine ----------------------------------------------------------------

    def _materialize(self, conn: Connection, version_id: int, into: Path) -> tuple[Path, list[bytes], Path]:
        model_dir, att_dir = into / "model", into / "attestations"
        model_dir.mkdir(parents=True)
        att_dir.mkdir()
        for f in conn.execute(select(m.files).where(m.files.c.version_id == version_id)).mappings():
            dest = model_dir / f["path"]
            dest.parent.mkdir(parents=True, exist_ok=True)
            self.store.get_file(f["digest"], dest)  # verifies the digest as it streams
        sigs = [
            b.encode()
            for b in conn.execute(
                select(m.signatures.c.bundle).where(m.signatures.c.version_id == version_id)
            ).scalars()
        ]
        rows = conn.execute(
            select(m.attestations.c.id, m.attestations.c.kind, m.attestations.c.bundle).where(
                m.attestations.c.version_id == version_id
            )
        ).all()
        for att_id, kind, bundle in rows:
            (att_dir / f"{att_id:06d}-{re.sub(r'[^a-z0-9-]', '_', kind.lower())[:40]}.json").write_text(
                bundle, encoding="utf-8"
            )
        return model_dir, sigs, att_dir

    def promote(self, caller: Principal, ref: Ref, alias: str, version: str) -> dict[str, Any]:
        """Point ``alias`` at ``version`` if it passes the alias's policy (and the two-person rule)."""
        caller.require("promote", ref.namespace)
        check_name("alias", alias, ALIAS_RE)
        policy = self.settings.policy_for_alias(alias)
        with self.engine.connect() as conn:
            model, row = self._version(conn, ref, version)
            if row["state"] != "active":
                raise ProblemError(
                    409, "Quarantined", f"{ref}@{version} is quarantined and cannot be promoted"
                )
            approvals = (
                conn.execute(
                    select(m.attestations.c.uploaded_by).where(
                        m.attestations.c.version_id == row["id"], m.attestations.c.kind == "approval"
                    )
                )
                .scalars()
                .all()
            )
            capability = (row["evidence"].get("capability") or {}).get("severity")
            if capability in HIGH_CAPABILITY and not [a for a in approvals if a != row["publisher"]]:
                raise ProblemError(
                    422,
                    "Approval required",
                    f"{ref}@{version} has {capability} deepfake capability: an approver other than the "
                    f"publisher ({row['publisher']}) must approve it first",
                )
            with tempfile.TemporaryDirectory(dir=self.settings.staging_dir) as tmp:
                model_dir, sigs, att_dir = self._materialize(conn, row["id"], Path(tmp))
                result = self._gate(model_dir, sigs, att_dir, policy)
        if not result.decision.allowed:
            raise ProblemError(
                422,
                "Gate denied",
                f"policy {policy!r} of alias {alias!r} denied {ref}@{version}: "
                + "; ".join(result.decision.reasons),
                decision=result.decision.to_dict(),
            )
        moment = now()
        with self.engine.begin() as conn:
            current = self._version(conn, ref, version)[1]
            if current["state"] != "active":  # quarantined while the gate ran
                raise ProblemError(
                    409, "Quarantined", f"{ref}@{version} is quarantined and cannot be promoted"
                )
            self._move_alias(conn, model["id"], alias, row["id"], caller.name, moment)
            conn.execute(
                m.alias_history.insert().values(
                    model_id=model["id"],
                    alias=alias,
                    version_id=row["id"],
                    action="promote",
                    decision=_decision(result.decision),
                    at=moment,
                    by=caller.name,
                )
            )
            self._event(
                conn, "promote", ref, version=version, alias=alias, root=row["root_digest"], at=moment
            )
            self.audit.append(
                "promote",
                caller.name,
                f"{ref}@{alias}",
                {"version": version, "root_digest": row["root_digest"], "policy": policy},
                connection=conn,
            )
        return {
            "namespace": ref.namespace,
            "model": ref.name,
            "alias": alias,
            "version": version,
            "policy": policy,
            "decision": _decision(result.decision),
        }

    def _move_alias(
        self, conn: Connection, model_id: int, alias: str, version_id: int, by: str, moment: dt.datetime
    ) -> None:
        changed = conn.execute(
            update(m.aliases)
            .where(m.aliases.c.model_id == model_id, m.aliases.c.alias == alias)
            .values(version_id=version_id, updated_at=moment, updated_by=by)
        ).rowcount
        if not changed:
            conn.execute(
                m.aliases.insert().values(
                    model_id=model_id, alias=alias, version_id=version_id, updated_at=moment, updated_by=by
                )
            )

    def approve(self, caller: Principal, ref: Ref, version: str, bundle: bytes) -> dict[str, Any]:
        """Store a signed approval of ``version``: approver role, not the publisher, an approver key."""
        from mlwarden.services.approve import APPROVAL_PREDICATE_TYPE  # noqa: PLC0415
        from mlwarden.signing import KeyTrust, VerificationError, verify_statement  # noqa: PLC0415

        caller.require("approve", ref.namespace)
        with self.engine.connect() as conn:
            _, row = self._version(conn, ref, version)
        if caller.name == row["publisher"]:
            raise ProblemError(
                403, "Two-person rule", f"{caller.name} published {ref}@{version} and cannot also approve it"
            )
        reasons = []
        body: dict[str, Any] | None = None
        signer: Any = None
        for key in self.settings.approver_keys:
            try:
                body, signer = verify_statement(bundle, KeyTrust(key.read_bytes()))
                break
            except VerificationError as err:
                reasons.append(err.message)
        if body is None or signer is None:
            raise ProblemError(
                422,
                "Approval rejected",
                "the approval is not signed by a registry approver key: "
                + ("; ".join(dict.fromkeys(reasons)) or "no approver keys configured"),
            )
        if body.get("predicateType") != APPROVAL_PREDICATE_TYPE:
            raise ProblemError(
                422, "Approval rejected", f"not an approval (predicate type {body.get('predicateType')!r})"
            )
        digests = {s.get("digest", {}).get("sha256") for s in body.get("subject", []) if isinstance(s, dict)}
        if row["root_digest"] not in digests:
            raise ProblemError(
                422, "Approval rejected", f"the approval is about other bytes, not {ref}@{version}"
            )
        signer_doc = {"method": signer.method, "identity": signer.identity, "issuer": signer.issuer}
        if any(s.get("identity") == signer.identity for s in row["signers"]):
            raise ProblemError(
                403, "Two-person rule", "the approval is signed by a key that also signed the model"
            )
        moment = now()
        with self.engine.begin() as conn:
            conn.execute(
                m.attestations.insert().values(
                    version_id=row["id"],
                    kind="approval",
                    signer=signer_doc,
                    uploaded_by=caller.name,
                    bundle=bundle.decode("utf-8", errors="replace"),
                    created_at=moment,
                )
            )
            self._event(conn, "approve", ref, version=version, root=row["root_digest"], at=moment)
            self.audit.append(
                "approve",
                caller.name,
                f"{ref}@{version}",
                {
                    "root_digest": row["root_digest"],
                    "signer": signer_doc,
                    "reason": body.get("predicate", {}).get("reason"),
                },
                connection=conn,
            )
        return {
            "namespace": ref.namespace,
            "model": ref.name,
            "version": version,
            "approver": caller.name,
            "signer": signer_doc,
        }

    def quarantine(self, caller: Principal, ref: Ref, version: str, reason: str) -> dict[str, Any]:
        """Block pulls of a version and announce it (``quarantine`` event) so gateways unload it."""
        caller.require("quarantine", ref.namespace)
        moment = now()
        with self.engine.begin() as conn:
            _, row = self._version(conn, ref, version)
            if row["state"] != "quarantined":
                conn.execute(
                    update(m.versions)
                    .where(m.versions.c.id == row["id"])
                    .values(state="quarantined", state_reason=reason[:2000])
                )
                self._event(conn, "quarantine", ref, version=version, root=row["root_digest"], at=moment)
                self.audit.append(
                    "quarantine",
                    caller.name,
                    f"{ref}@{version}",
                    {"root_digest": row["root_digest"], "reason": reason},
                    connection=conn,
                )
        return {
            "namespace": ref.namespace,
            "model": ref.name,
            "version": version,
            "state": "quarantined",
            "reason": reason,
        }

    def release(self, caller: Principal, ref: Ref, version: str, reason: str) -> dict[str, Any]:
        """Lift a quarantine (admin only): pulls and promotions work again; announced as ``release``.

        Audited like the quarantine, with the reason given and the quarantine's own reason. Releasing a
        version that is not quarantined is a 409, so a mistyped version is noticed, not silently "done".
        """
        caller.require("release", ref.namespace)
        moment = now()
        with self.engine.begin() as conn:
            _, row = self._version(conn, ref, version)
            if row["state"] != "quarantined":
                raise ProblemError(409, "Not quarantined", f"{ref}@{version} is not quarantined")
            conn.execute(
                update(m.versions)
                .where(m.versions.c.id == row["id"], m.versions.c.state == "quarantined")
                .values(state="active", state_reason=None)
            )
            self._event(conn, "release", ref, version=version, root=row["root_digest"], at=moment)
            self.audit.append(
                "release",
                caller.name,
                f"{ref}@{version}",
                {"root_digest": row["root_digest"], "reason": reason, "quarantined_for": row["state_reason"]},
                connection=conn,
            )
        return {
            "namespace": ref.namespace,
            "model": ref.name,
            "version": version,
            "state": "active",
            "reason": reason,
        }

    def rollback(self, caller: Principal, ref: Ref, alias: str, version: str | None) -> dict[str, Any]:
        """Move ``alias`` back to an earlier version it held (the newest good one unless ``version``)."""
        caller.require("rollback", ref.namespace)
        check_name("alias", alias, ALIAS_RE)
        moment = now()
        with self.engine.begin() as conn:
            model = self._model(conn, ref)
            current = self._alias_target(conn, ref, model, alias)
            held = conn.execute(
                select(m.versions.c.id, m.versions.c.version, m.versions.c.state, m.versions.c.root_digest)
                .join(m.alias_history, m.alias_history.c.version_id == m.versions.c.id)
                .where(m.alias_history.c.model_id == model["id"], m.alias_history.c.alias == alias)
                .order_by(m.alias_history.c.id.desc())
            ).all()
            candidates = [h for h in held if h.id != current and h.state == "active"]
            if version is not None:
                candidates = [h for h in candidates if h.version == version]
            if not candidates:
                which = f"version {version}" if version else "an earlier good version"
                raise ProblemError(
                    409,
                    "No rollback target",
                    f"{alias!r} of {ref} never held {which} (active, other than the current)",
                )
            target = candidates[0]
            self._move_alias(conn, model["id"], alias, target.id, caller.name, moment)
            conn.execute(
                m.alias_history.insert().values(
                    model_id=model["id"],
                    alias=alias,
                    version_id=target.id,
                    action="rollback",
                    decision=None,
                    at=moment,
                    by=caller.name,
                )
            )
            self._event(
                conn, "rollback", ref, version=target.version, alias=alias, root=target.root_digest, at=moment
            )
            self.audit.append(
                "rollback",
                caller.name,
                f"{ref}@{alias}",
                {"version": target.version, "root_digest": target.root_digest},
                connection=conn,
            )
        return {"namespace": ref.namespace, "model": ref.name, "alias": alias, "version": target.version}


def _decision(decision: Any) -> dict[str, Any]:
    doc = decision.to_dict()
    return doc if isinstance(doc, dict) else {"allowed": decision.allowed}


def _token_dict(row: Any) -> dict[str, Any]:
    return {
        "id": row["id"],
        "principal": row["principal"],
        "grants": row["grants"],
        "description": row["description"],
        "created_at": iso(row["created_at"]),
        "created_by": row["created_by"],
        "expires_at": iso(row["expires_at"]),
        "revoked_at": iso(row["revoked_at"]),
    }


def lineage(evidence: dict[str, Any]) -> dict[str, Any]:
    """Datasets, base model and builder, read from the verified SLSA provenance attestation(s)."""
    out: dict[str, Any] = {"datasets": [], "base_model": None, "builder": None, "provenance_signer": None}
    for att in evidence.get("attestations", []):
        if att.get("kind") != "provenance":
            continue
        predicate = att.get("predicate") or {}
        build = predicate.get("buildDefinition") or {}
        out["builder"] = ((predicate.get("runDetails") or {}).get("builder") or {}).get("id")
        out["provenance_signer"] = att.get("signer")
        for dep in build.get("resolvedDependencies") or []:
            if not isinstance(dep, dict):
                continue
            kind = (dep.get("annotations") or {}).get("kind")
            entry = {"name": dep.get("name"), "uri": dep.get("uri"), "digest": dep.get("digest")}
            if kind == "dataset":
                out["datasets"].append(entry)
            elif kind == "base-model":
                out["base_model"] = entry
    out["dataset_manifests"] = [
        a.get("file") for a in evidence.get("attestations", []) if a.get("kind") == "dataset"
    ]
    return out


def load_audit_signer(
    settings: RegistrySettings, key: Path | None = None, *, create: bool = False
) -> NoteSigner:
    """The audit log's checkpoint signer: ``key``, else ``settings.audit_key``, else ``data_dir/audit.skey``.

    ``create`` (the server's start) generates the key file (mode 600) when missing, and writes the
    verifier key beside it (``audit.vkey``) for ``mlwarden audit verify --key``.
    """
    import os  # noqa: PLC0415

    from mlwarden.registry.audit import AuditError  # noqa: PLC0415
    from mlwarden.registry.audit.note import NoteSigner  # noqa: PLC0415

    key_file = key or settings.audit_key or settings.data_dir / "audit.skey"
    if create and key is None and not key_file.exists():
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(NoteSigner.generate(settings.audit_origin).skey + "\n")
    try:
        text = key_file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        why = err.strerror if isinstance(err, OSError) and err.strerror else "not a text key file"
        raise AuditError(
            f"cannot read the audit signing key {key_file}: {why}",
            hint="pass the key written by 'mlwarden audit keygen' or the registry's data_dir/audit.skey",
        ) from None
    signer = NoteSigner.from_skey(text.strip())
    public = key_file.with_suffix(".vkey")  # what 'audit verify --key' needs; audit keygen's naming
    if create and not public.exists():
        try:
            public.write_text(signer.vkey + "\n", encoding="utf-8")
        except OSError:
            log.warning("cannot write the audit verifier key beside %s (read-only?)", key_file)
    return signer


def connect_registry(settings: RegistrySettings) -> Registry:
    """The registry's data for maintenance beside a running server (``registry gc``): no migration, no
    staging sweep (it would delete uploads in progress), no first-start token, no key generation."""
    from mlwarden.registry.audit.log import has_schema  # noqa: PLC0415
    from mlwarden.registry.db import make_engine  # noqa: PLC0415

    engine = make_engine(settings.database)
    if not has_schema(engine):
        engine.dispose()
        raise MlwardenError(
            f"no registry database at {settings.database}",
            hint="check [registry] data_dir / database_url, or start the server once to create it",
        )
    return _assemble(settings, engine, create_key=False)


def _assemble(settings: RegistrySettings, engine: Engine, *, create_key: bool) -> Registry:
    from mlwarden.registry.audit import AuditError, NoteError  # noqa: PLC0415
    from mlwarden.registry.audit.log import AuditLog  # noqa: PLC0415
    from mlwarden.registry.audit.note import open_checkpoint  # noqa: PLC0415
    from mlwarden.registry.blobs import open_store  # noqa: PLC0415

    signer = load_audit_signer(settings, create=create_key)
    audit = AuditLog(engine, signer, settings.audit_origin)
    latest = audit.latest_checkpoint()
    if latest is not None:  # replicas with different keys would sign checkpoints no one key verifies
        try:
            open_checkpoint(latest, signer.verifier(), settings.audit_origin)
        except NoteError as err:
            raise AuditError(
                f"the audit log's latest checkpoint does not verify with this server's audit key "
                f"({signer.vkey}): {err.message}",
                hint="give every replica the same [registry] audit_key and audit_origin",
            ) from None
    return Registry(
        settings,
        engine,
        open_store(settings.blobs, kek=settings.blob_kek, replicas=settings.blob_replicas),
        audit,
    )


def open_registry(settings: RegistrySettings, *, announce: Any = None) -> Registry:
    """Connect, migrate (``upgrade head``), open the blob store and the audit log, sweep staging,
    and mint the first-start admin token (handed to ``announce``, else printed to stderr once)."""
    import os  # noqa: PLC0415
    import sys  # noqa: PLC0415

    from mlwarden.registry.db import make_engine, upgrade  # noqa: PLC0415

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.database)
    upgrade(engine)
    registry = _assemble(settings, engine, create_key=True)
    registry.sweep_staging()
    token = registry.bootstrap_admin()
    if token is not None:
        if settings.bootstrap_token_file is not None:
            fd = os.open(settings.bootstrap_token_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(token + "\n")
        if announce is not None:
            announce(token)
        else:
            print(
                f"mlwarden registry: first start; one-time admin token (shown once, store it now): {token}",
                file=sys.stderr,
                flush=True,
            )
    return registry
