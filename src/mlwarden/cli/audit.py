"""``mlwarden audit verify | proof | export | keygen | checkpoint``: the registry's tamper-evident log.

Hooked into ``mlwarden.cli.main.build_parser`` by :func:`add_audit_commands`. Only argparse is imported
here; SQLAlchemy and the log are imported when a command runs, so ``mlwarden --help`` stays fast.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from mlwarden.cli._io import read_input, say, write_atomic

if TYPE_CHECKING:
    from sqlalchemy import Engine

EXIT_OK = 0
DEFAULT_DATABASE = "sqlite:///.mlwarden/registry/registry.db"

AUDIT_EXAMPLES = """\
examples:
  mlwarden audit keygen --name registry.example.com/audit --out audit.key
                                    an Ed25519 note key (audit.key, secret) and its verifier key (audit.vkey)
  mlwarden audit verify --key audit.vkey
                                    check every entry and signed checkpoint of the registry's log
  mlwarden audit verify --input audit.jsonl --key audit.vkey    the same, on an export
  mlwarden audit verify --key audit.vkey --checkpoint cp-week19.txt
                                    also check the log against a checkpoint kept elsewhere (e.g. fetched
                                    from GET /v1/audit/checkpoint): fails if history was rewritten since
  mlwarden audit checkpoint --key audit.skey > cp.txt
                                    sign the log's current size now (cron, where no server runs)
  mlwarden audit proof --index 41                  inclusion proof of entry 41 (latest checkpoint)
  mlwarden audit proof --consistency 1000 2000     the log at 1000 entries is a prefix of the log at 2000
  mlwarden audit export -o audit.jsonl             every entry and checkpoint as JSON lines

Leaves and nodes are hashed as in RFC 6962/9162; checkpoints are C2SP signed notes (tlog-checkpoint)
with Ed25519. --db defaults to [registry] database_url (or MLWARDEN_REGISTRY__DATABASE_URL), else
sqlite:///<[registry] data_dir>/registry.db (data_dir: .mlwarden/registry).

exit codes: verify: 0 intact, 1 tampered or a --checkpoint not matching (the first problem and the
counts on one line), 2 usage or runtime error. proof, export, keygen, checkpoint: 0 done, 2 error.
"""


def add_audit_commands(
    commands: argparse._SubParsersAction[Any], parser_class: type[argparse.ArgumentParser]
) -> None:
    """Add ``audit verify | proof | export | keygen | checkpoint`` to the top-level sub-commands."""
    audit = commands.add_parser(
        "audit",
        help="the registry's tamper-evident audit log: verify, proofs, export, keys, checkpoints",
        description="Verify the registry's Merkle audit log offline, give inclusion and consistency proofs, "
        "export it as JSON lines, create its checkpoint signing key and sign checkpoints.",
        epilog=AUDIT_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = audit.add_subparsers(
        dest="audit_command", metavar="SUBCOMMAND", parser_class=parser_class, required=True
    )

    def db_option(p: argparse.ArgumentParser) -> None:
        p.add_argument("--db", metavar="URL", help="database URL (default: the registry's, see below)")

    verify = sub.add_parser(
        "verify",
        help="check the whole log with only its verifier key",
        description="Recompute every leaf from its entry, rebuild the tree, and check every checkpoint's "
        "signature and root; name edited, deleted, inserted and reordered entries.",
        epilog=AUDIT_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    db_option(verify)
    verify.add_argument("--input", "-i", type=Path, metavar="FILE", help="verify an export instead of --db")
    verify.add_argument(
        "--key",
        "-k",
        required=True,
        type=Path,
        metavar="VKEY",
        help="the log's verifier key file (or env:VAR)",
    )
    verify.add_argument("--origin", metavar="NAME", help="the log's origin line (default: the key name)")
    verify.add_argument(
        "--checkpoint",
        action="append",
        default=[],
        type=Path,
        metavar="FILE",
        help="a signed checkpoint kept outside the database (repeatable): it must verify with --key and "
        "match the log's root at its size",
    )
    verify.add_argument("--format", "-f", choices=["text", "json"], default="text", help="report format")
    verify.set_defaults(handler=_cmd_verify)

    proof = sub.add_parser(
        "proof",
        help="an inclusion or consistency proof, as JSON",
        description="An RFC 9162 inclusion proof of one entry, or a consistency proof between two sizes, "
        "with the signed checkpoints they check against.",
        epilog=AUDIT_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    db_option(proof)
    which = proof.add_mutually_exclusive_group(required=True)
    which.add_argument("--index", type=int, metavar="N", help="the entry to prove")
    which.add_argument("--consistency", type=int, nargs=2, metavar=("OLD", "NEW"), help="two tree sizes")
    proof.add_argument(
        "--size", type=int, metavar="M", help="tree size for --index (default: latest checkpoint)"
    )
    proof.set_defaults(handler=_cmd_proof)

    export = sub.add_parser(
        "export",
        help="write every entry and checkpoint as JSON lines",
        description="Entries in index order, then checkpoints; 'audit verify --input' checks the file.",
        epilog=AUDIT_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    db_option(export)
    export.add_argument("--output", "-o", type=Path, metavar="FILE", help="write to FILE (default: stdout)")
    export.set_defaults(handler=_cmd_export)

    keygen = sub.add_parser(
        "keygen",
        help="create the log's checkpoint signing key (Ed25519 note key)",
        description="Write a C2SP note signing key (Go sumdb/note format) to --out and its verifier key "
        "beside it (.vkey).",
        epilog=AUDIT_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    keygen.add_argument("--name", required=True, metavar="NAME", help="key name = the log's origin")
    keygen.add_argument("--out", required=True, type=Path, metavar="FILE", help="private key file to create")
    keygen.set_defaults(handler=_cmd_keygen)

    checkpoint = sub.add_parser(
        "checkpoint",
        help="sign a checkpoint of the log's current size now and print it",
        description="Sign the log's current size and root with the registry's note key and store the "
        "checkpoint, as the running server does every [registry] audit_checkpoint_seconds; for cron "
        "where the server does not run continuously. Prints the signed note.",
        epilog=AUDIT_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    db_option(checkpoint)
    checkpoint.add_argument(
        "--key",
        "-k",
        type=Path,
        metavar="KEYFILE",
        help="the note signing key (default: the server's: [registry] audit_key, else <data_dir>/audit.skey)",
    )
    checkpoint.add_argument(
        "--origin",
        metavar="NAME",
        help="the log's origin line (default: [registry] audit_origin, as the server)",
    )
    checkpoint.set_defaults(handler=_cmd_checkpoint)


def database_url(args: argparse.Namespace) -> str:
    """``--db``, else the registry's configured database, else its default SQLite file."""
    if getattr(args, "db", None):
        return str(args.db)
    from mlwarden.core.config import load_settings  # noqa: PLC0415

    registry = load_settings(getattr(args, "config", None)).get("registry", {})
    for key in ("database_url", "database"):
        if registry.get(key):
            return str(registry[key])
    if registry.get("data_dir"):
        return f"sqlite:///{Path(str(registry['data_dir'])) / 'registry.db'}"
    return DEFAULT_DATABASE


def _engine(args: argparse.Namespace) -> Engine:
    from mlwarden.errors import UsageError  # noqa: PLC0415
    from mlwarden.registry.audit import audit_engine  # noqa: PLC0415

    url = database_url(args)
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        path = Path(url[len("sqlite:///") :])
        if not path.is_file():
            raise UsageError(
                f"no registry database at {path}", hint="give --db URL or run the registry first"
            )
    try:
        return audit_engine(url)
    except Exception as exc:  # noqa: BLE001 - SQLAlchemy raises several types for a bad URL
        raise UsageError(
            f"invalid database URL {url!r}: {exc}", hint="sqlite:///PATH or postgresql://…"
        ) from None


def _cmd_verify(args: argparse.Namespace) -> int:
    from mlwarden.errors import UsageError  # noqa: PLC0415
    from mlwarden.registry.audit import AuditTamperedError, verify  # noqa: PLC0415

    vkey = read_input(args.key, "verifier key").decode("utf-8", "replace").strip()
    if args.input is not None and args.db:
        raise UsageError("give --db or --input, not both", hint="--input verifies an export file")
    external = {str(path): _read_note(path) for path in args.checkpoint}
    if args.input is not None:
        report = verify(args.input, vkey, origin=args.origin, external_checkpoints=external)
    else:
        engine = _engine(args)
        try:
            report = verify(engine, vkey, origin=args.origin, external_checkpoints=external)
        finally:
            engine.dispose()
    if args.format == "json":
        sys.stdout.write(json.dumps(report.to_json(), indent=2) + "\n")
    if not report.ok:
        raise AuditTamperedError(report.summary(), hint="restore the database from a backup and investigate")
    if args.format == "text":
        print(report.summary())
    return EXIT_OK


def _read_note(path: Path) -> str:
    """A saved signed note; CRLF and a lost or doubled final newline are undone (not signed bytes)."""
    text = read_input(path, "checkpoint").decode("utf-8", "replace").replace("\r\n", "\n")
    return text.rstrip("\n") + "\n"


def _cmd_checkpoint(args: argparse.Namespace) -> int:
    from mlwarden.registry.audit import AuditError, AuditLog  # noqa: PLC0415
    from mlwarden.registry.audit.log import has_schema  # noqa: PLC0415
    from mlwarden.registry.service import load_audit_signer  # noqa: PLC0415
    from mlwarden.registry.settings import load_registry_settings  # noqa: PLC0415

    settings = load_registry_settings(getattr(args, "config", None))
    signer = load_audit_signer(settings, args.key)  # the server's key loading; never creates a key here
    engine = _engine(args)
    try:
        if not has_schema(engine):
            raise AuditError("no audit log in this database", hint="check --db")
        note = AuditLog(engine, signer, args.origin or settings.audit_origin).checkpoint()
    finally:
        engine.dispose()
    sys.stdout.write(note)
    return EXIT_OK


def _cmd_proof(args: argparse.Namespace) -> int:
    from mlwarden.registry.audit import AuditLog, NoteSigner  # noqa: PLC0415
    from mlwarden.registry.audit.log import has_schema  # noqa: PLC0415

    engine = _engine(args)
    try:
        if not has_schema(engine):
            from mlwarden.registry.audit import AuditError  # noqa: PLC0415

            raise AuditError("no audit log in this database", hint="check --db")
        log = AuditLog(engine, NoteSigner.generate("proof-reader"))  # proofs need no signing key
        if args.index is not None:
            document = log.inclusion_proof(args.index, args.size).to_json()
        else:
            old, new = args.consistency
            document = log.consistency_proof(old, new).to_json()
    finally:
        engine.dispose()
    sys.stdout.write(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    return EXIT_OK


def _cmd_export(args: argparse.Namespace) -> int:
    from mlwarden.registry.audit import AuditError, export  # noqa: PLC0415
    from mlwarden.registry.audit.log import has_schema  # noqa: PLC0415

    engine = _engine(args)
    count = 0
    try:
        if not has_schema(engine):
            raise AuditError("no audit log in this database", hint="check --db")

        def write(out: TextIO) -> None:
            nonlocal count
            count = export(engine, out)

        if args.output is not None:
            write_atomic(args.output, write)
            say(f"mlwarden: exported {count} audit entries to {args.output}")
        else:
            write(sys.stdout)
    finally:
        engine.dispose()
    return EXIT_OK


def _cmd_keygen(args: argparse.Namespace) -> int:
    import os  # noqa: PLC0415

    from mlwarden.errors import MlwardenError, UsageError  # noqa: PLC0415
    from mlwarden.registry.audit import NoteSigner  # noqa: PLC0415

    out: Path = args.out
    vkey_path = out.with_name(out.stem + ".vkey") if out.suffix else out.with_name(out.name + ".vkey")
    if vkey_path == out:
        raise UsageError("--out must not end in .vkey", hint="e.g. --out audit.key")
    for path in (out, vkey_path):
        if path.exists():
            raise UsageError(
                f"{path} already exists", hint="choose another --out; keys are never overwritten"
            )
    signer = NoteSigner.generate(args.name)
    try:
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(signer.skey + "\n")
    except OSError as exc:
        raise MlwardenError(
            f"cannot write {out}: {exc.strerror or exc}", hint="choose a writable --out"
        ) from None
    write_atomic(vkey_path, signer.vkey + "\n", what="--out")
    say(f"mlwarden: wrote note signing key {out} (keep it secret) and verifier key {vkey_path}")
    print(signer.vkey)
    return EXIT_OK
