"""``mlwarden registry serve|check|approve`` and the client verbs ``push pull models versions show promote
quarantine release rollback token``.

The registry URL comes from ``--registry``, else ``[registry] url`` / ``MLWARDEN_REGISTRY__URL``; the
token from ``--token-file``, else ``MLWARDEN_REGISTRY__TOKEN`` (never from a command-line argument,
which other users can read in the process list). Uploading an approval is ``mlwarden registry
approve``: the top-level ``mlwarden approve`` signs one locally, this sends it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, TypeVar

from mlwarden.cli._io import read_input, say
from mlwarden.cli.exit_codes import EXIT_OK
from mlwarden.errors import UsageError

P = TypeVar("P", bound=argparse.ArgumentParser)

PUSH_EXAMPLES = """\
examples:
  mlwarden push team/classifier 1.0 ./model --signature model.sig --attestations att/
  mlwarden pull team/classifier @production ./deploy    every file's SHA-256 checked as it streams
  mlwarden promote team/classifier production 1.0       gated with the alias's policy
  mlwarden registry approve team/faceswap 2.0 approval.json   (signed with 'mlwarden approve')
  mlwarden quarantine team/classifier 1.1 --reason "CVE-2026-1234 in the tokenizer"
  mlwarden release team/classifier 1.1 --reason "false positive, see SEC-42"   (admin only)
  mlwarden rollback team/classifier production          back to the last good version it held
  mlwarden token create ci --grant team:publisher --days 30

The registry: --registry URL or MLWARDEN_REGISTRY__URL; the token: --token-file or
MLWARDEN_REGISTRY__TOKEN. exit codes: 0 done, 1 denied by a policy gate, 2 error.
"""

GC_EXAMPLES = """\
examples:
  mlwarden registry gc --dry-run                  what would go, with the registry's own settings
  mlwarden registry gc --grace 86400 -f json      only orphans older than a day; a JSON report
  (cron / a Kubernetes CronJob: run it daily beside the servers; it never touches referenced blobs)

exit codes: 0 done (also when nothing was removed), 2 error (no registry database, unreadable store).
"""


def _client_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--registry", metavar="URL", help="registry URL (default: MLWARDEN_REGISTRY__URL)")
    p.add_argument(
        "--token-file", type=Path, metavar="FILE", help="API token (default: MLWARDEN_REGISTRY__TOKEN)"
    )
    p.add_argument("--format", "-f", choices=["table", "json"], default="table")


def add_registry_commands(commands: argparse._SubParsersAction[P], parser_class: type[P]) -> None:
    """Add ``registry`` (serve, check, approve) and the client verbs to the ``mlwarden`` sub-commands."""
    del parser_class  # sub-parsers already use the CLI's parser class
    registry = commands.add_parser(
        "registry", help="run or check the model registry", description="The model registry server."
    )
    sub = registry.add_subparsers(dest="registry_command", metavar="COMMAND")
    serve = sub.add_parser("serve", help="run the registry API (FastAPI on uvicorn)")
    serve.add_argument("--host", help="bind address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default 8750)")
    serve.add_argument(
        "--data-dir", type=Path, help="SQLite database, blobs and staging (default .mlwarden/registry)"
    )
    serve.add_argument("--database-url", help="sqlite:///PATH or postgresql://…")
    serve.add_argument("--blob-url", help="file:///PATH or s3://bucket/prefix")
    serve.set_defaults(handler=_cmd_serve)
    try:
        from mlwarden.cli.registry_store import add_store_check_command  # noqa: PLC0415
    except ImportError:  # the blob store's checker ships separately
        pass
    else:
        add_store_check_command(sub)
    gc = sub.add_parser(
        "gc",
        help="delete blobs that no version references (left by interrupted pushes)",
        description="Delete stored blobs that no version references and that are older than the grace "
        "period (default one hour, which spares pushes in progress), and stale temporary upload files. "
        "Safe beside a running server; every deletion is recorded in the audit log.",
        epilog=GC_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    gc.add_argument("--data-dir", type=Path, help="as for 'registry serve'")
    gc.add_argument("--database-url", help="as for 'registry serve'")
    gc.add_argument("--blob-url", help="as for 'registry serve'")
    gc.add_argument(
        "--grace", type=float, default=3600.0, metavar="SECONDS", help="minimum age (default 3600)"
    )
    gc.add_argument("--dry-run", action="store_true", help="report what would be deleted; delete nothing")
    gc.add_argument("--format", "-f", choices=["table", "json"], default="table")
    gc.set_defaults(handler=_cmd_gc)
    approve = sub.add_parser("approve", help="upload a signed approval of a version (two-person rule)")
    approve.add_argument("model", metavar="NAMESPACE/MODEL")
    approve.add_argument("version")
    approve.add_argument("approval", type=Path, metavar="APPROVAL", help="bundle from 'mlwarden approve'")
    _client_options(approve)
    approve.set_defaults(handler=_cmd_approve)

    def verb(name: str, summary: str) -> argparse.ArgumentParser:
        p = commands.add_parser(
            name,
            help=summary,
            description=summary,
            epilog=PUSH_EXAMPLES,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        _client_options(p)
        return p

    push = verb("push", "upload a signed model version to the registry (gated server-side)")
    push.add_argument("model", metavar="NAMESPACE/MODEL")
    push.add_argument("version")
    push.add_argument("path", type=Path, metavar="DIR")
    push.add_argument("--signature", action="append", type=Path, required=True, metavar="SIG")
    push.add_argument("--attestations", action="append", type=Path, default=[], metavar="DIR|FILE")
    push.set_defaults(handler=_cmd_push)
    pull = verb("pull", "download a version, verifying every file's digest")
    pull.add_argument("model", metavar="NAMESPACE/MODEL")
    pull.add_argument("version", metavar="VERSION|@ALIAS")
    pull.add_argument("dest", type=Path, metavar="DIR")
    pull.add_argument("--signature-out", type=Path, metavar="FILE", help="also write the first OMS signature")
    pull.set_defaults(handler=_cmd_pull)
    verb("models", "list the models you may read").set_defaults(handler=_cmd_models)
    versions = verb("versions", "list a model's versions")
    versions.add_argument("model", metavar="NAMESPACE/MODEL")
    versions.set_defaults(handler=_cmd_versions)
    show = verb("show", "show a version (or an alias with @ALIAS)")
    show.add_argument("model", metavar="NAMESPACE/MODEL")
    show.add_argument("version", metavar="VERSION|@ALIAS")
    show.set_defaults(handler=_cmd_show)
    promote = verb("promote", "point an alias at a version, if it passes the alias's policy")
    promote.add_argument("model", metavar="NAMESPACE/MODEL")
    promote.add_argument("alias")
    promote.add_argument("version")
    promote.set_defaults(handler=_cmd_promote)
    quarantine = verb("quarantine", "block pulls of a version and tell gateways to unload it")
    quarantine.add_argument("model", metavar="NAMESPACE/MODEL")
    quarantine.add_argument("version")
    quarantine.add_argument("--reason", required=True)
    quarantine.set_defaults(handler=_cmd_quarantine)
    release = verb("release", "lift a version's quarantine (admin only, with a reason)")
    release.add_argument("model", metavar="NAMESPACE/MODEL")
    release.add_argument("version")
    release.add_argument("--reason", required=True)
    release.set_defaults(handler=_cmd_release)
    rollback = verb("rollback", "move an alias back to an earlier good version")
    rollback.add_argument("model", metavar="NAMESPACE/MODEL")
    rollback.add_argument("alias")
    rollback.add_argument("--to", metavar="VERSION", help="default: the newest good version it held")
    rollback.set_defaults(handler=_cmd_rollback)
    token = verb("token", "create, list or revoke API tokens")
    token.add_argument("action", choices=["create", "list", "revoke", "whoami"])
    token.add_argument("subject", nargs="?", metavar="PRINCIPAL|TOKEN_ID")
    token.add_argument("--grant", action="append", default=[], metavar="NAMESPACE:ROLE")
    token.add_argument("--days", type=int)
    token.add_argument("--description", default="")
    token.set_defaults(handler=_cmd_token)


def _cmd_serve(args: argparse.Namespace) -> int:
    from mlwarden.registry.server import serve  # noqa: PLC0415
    from mlwarden.registry.settings import load_registry_settings  # noqa: PLC0415

    settings = load_registry_settings(
        args.config,
        host=args.host,
        port=args.port,
        data_dir=args.data_dir,
        database_url=args.database_url,
        blob_url=args.blob_url,
    )
    serve(settings)
    return EXIT_OK


def _cmd_gc(args: argparse.Namespace) -> int:
    from mlwarden.registry.service import connect_registry  # noqa: PLC0415
    from mlwarden.registry.settings import load_registry_settings  # noqa: PLC0415

    if args.grace < 0:
        raise UsageError("--grace must be zero or more seconds", hint="e.g. --grace 3600")
    settings = load_registry_settings(
        args.config, data_dir=args.data_dir, database_url=args.database_url, blob_url=args.blob_url
    )
    registry = connect_registry(settings)
    try:
        report = registry.collect_garbage("registry-gc", grace_seconds=args.grace, dry_run=args.dry_run)
    finally:
        registry.engine.dispose()
    doc = report.to_dict()
    if args.format == "json":
        print(json.dumps(doc, indent=2))
        return EXIT_OK
    verb = "would remove" if report.dry_run else "removed"
    print(
        f"{doc['blobs']} blobs: {doc['referenced']} referenced, {doc['young']} unreferenced but younger than "
        f"{args.grace:g} s, {verb} {len(report.removed)} ({report.removed_bytes / (1 << 20):.1f} MiB)"
        + (f"; {report.temp_files} stale upload file(s) removed" if report.temp_files else "")
    )
    return EXIT_OK


def _client(args: argparse.Namespace) -> Any:
    from mlwarden.registry.client import RegistryClient  # noqa: PLC0415
    from mlwarden.registry.settings import load_registry_settings  # noqa: PLC0415

    settings = load_registry_settings(args.config)
    url = args.registry or settings.url
    if not url:
        raise UsageError("no registry given", hint="pass --registry URL or set MLWARDEN_REGISTRY__URL")
    token = read_input(args.token_file, "token").decode().strip() if args.token_file else settings.token
    return RegistryClient(url, token)


def _emit(args: argparse.Namespace, doc: Any, table: list[str] | None = None) -> int:
    if args.format == "json" or table is None:
        json.dump(doc, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write("".join(f"{line}\n" for line in table))
    return EXIT_OK


def _cmd_push(args: argparse.Namespace) -> int:
    with _client(args) as client:
        doc = client.push(
            args.model, args.version, args.path, signatures=args.signature, attestations=args.attestations
        )
    files = len(doc["files"])
    say(f"mlwarden: pushed {args.model}@{args.version} (root {doc['root_digest'][:16]}…, {files} files)")
    return _emit(args, doc, [])


def _cmd_pull(args: argparse.Namespace) -> int:
    with _client(args) as client:
        doc = client.pull(args.model, args.version, args.dest)
        if args.signature_out is not None:
            sigs = client.signatures(args.model, doc["version"])
            args.signature_out.write_text(json.dumps(sigs[0], indent=2) + "\n", encoding="utf-8")
    say(f"mlwarden: pulled {args.model}@{doc['version']} into {args.dest}; every digest matched")
    return _emit(args, doc, [])


def _cmd_models(args: argparse.Namespace) -> int:
    with _client(args) as client:
        rows = client.models()
    table = [
        f"{r['namespace']}/{r['name']}  {r['versions']} version(s)  "
        + " ".join(f"@{a}={v}" for a, v in r["aliases"].items())
        for r in rows
    ]
    return _emit(args, rows, table)


def _cmd_versions(args: argparse.Namespace) -> int:
    with _client(args) as client:
        rows = client.versions(args.model)
    table = [
        f"{r['version']}  {r['state']}  {r['root_digest'][:16]}…  {r['publisher']}  {' '.join(r['aliases'])}"
        for r in rows
    ]
    return _emit(args, rows, table)


def _cmd_show(args: argparse.Namespace) -> int:
    with _client(args) as client:
        if args.version.startswith("@"):
            doc = client.resolve(args.model, args.version[1:])
        else:
            doc = client.show(args.model, args.version)
    table = [
        f"{doc['namespace']}/{doc['model']}@{doc['version']}  {doc['state']}  root {doc['root_digest']}",
        f"publisher {doc['publisher']}  capability {doc['capability']}  "
        f"aliases {' '.join(doc['aliases']) or '-'}",
        *(f"  {f['digest'][:16]}…  {f['size']:>12}  {f['path']}" for f in doc["files"]),
    ]
    return _emit(args, doc, table)


def _cmd_promote(args: argparse.Namespace) -> int:
    with _client(args) as client:
        doc = client.promote(args.model, args.alias, args.version)
    return _emit(
        args, doc, [f"{args.model}@{args.alias} -> {args.version} (policy {doc['policy']}: allowed)"]
    )


def _cmd_quarantine(args: argparse.Namespace) -> int:
    with _client(args) as client:
        doc = client.quarantine(args.model, args.version, args.reason)
    return _emit(args, doc, [f"{args.model}@{args.version} quarantined: {args.reason}"])


def _cmd_release(args: argparse.Namespace) -> int:
    with _client(args) as client:
        doc = client.release(args.model, args.version, args.reason)
    return _emit(args, doc, [f"{args.model}@{args.version} released: {args.reason}"])


def _cmd_rollback(args: argparse.Namespace) -> int:
    with _client(args) as client:
        doc = client.rollback(args.model, args.alias, args.to)
    return _emit(args, doc, [f"{args.model}@{args.alias} -> {doc['version']} (rolled back)"])


def _cmd_approve(args: argparse.Namespace) -> int:
    with _client(args) as client:
        doc = client.approve(args.model, args.version, read_input(args.approval, "approval"))
    return _emit(args, doc, [f"{args.model}@{args.version} approved by {doc['approver']}"])


def _cmd_token(args: argparse.Namespace) -> int:
    with _client(args) as client:
        if args.action == "create":
            if not args.subject or not args.grant:
                raise UsageError(
                    "token create needs a principal and --grant",
                    hint="e.g. token create ci --grant team:publisher",
                )
            doc = client.create_token(args.subject, args.grant, days=args.days, description=args.description)
            say("mlwarden: the token is shown once; store it now")
            return _emit(args, doc, [doc["token"]])
        if args.action == "revoke":
            if not args.subject:
                raise UsageError("token revoke needs a token id", hint="see 'mlwarden token list'")
            doc = client.revoke_token(args.subject)
            return _emit(args, doc, [f"revoked {doc['id']} ({doc['principal']})"])
        if args.action == "whoami":
            doc = client.whoami()
            return _emit(args, doc, [f"{doc['principal']} via {doc['via']}"])
        rows = client.tokens()
        table = [
            f"{r['id']}  {r['principal']}  {','.join(g['namespace'] + ':' + g['role'] for g in r['grants'])} "
            f"expires {r['expires_at']}{'  REVOKED' if r['revoked_at'] else ''}"
            for r in rows
        ]
        return _emit(args, rows, table)
