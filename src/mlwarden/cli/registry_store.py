"""``mlwarden registry check``: re-hash every blob in the store and its replicas.

:func:`run_check` is the command; :func:`add_store_check_command` adds it to the ``registry`` group's
sub-parsers. The blob modules (and boto3, for S3) are imported only when the command runs.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any, TextIO

from mlwarden.cli._io import say
from mlwarden.cli.exit_codes import EXIT_DENIED, EXIT_ERROR, EXIT_OK
from mlwarden.errors import MlwardenError

if TYPE_CHECKING:
    from mlwarden.registry.blobs import CheckReport

CHECK_EXAMPLES = """\
examples:
  mlwarden registry check                        the registry's own store and replicas (mlwarden.toml)
  mlwarden registry check --store ./.mlwarden/blobs
  mlwarden registry check --store s3://models/blobs?endpoint_url=http://127.0.0.1:9000 \\
      --replica file:///mnt/backup/blobs --kek env:MLWARDEN_KEK --format json

exit codes: 0 every copy re-hashed to its digest, 1 a copy is corrupted or missing from a store,
2 usage error or a store that cannot be opened.
"""


def add_store_check_command(registry_commands: argparse._SubParsersAction[Any]) -> argparse.ArgumentParser:
    """Add ``check`` to the ``registry`` sub-parsers; its handler returns the exit code."""
    parser: argparse.ArgumentParser = registry_commands.add_parser(
        "check",
        help="re-hash every stored blob; report corruption and missing replicas",
        description="Re-hash every blob in the blob store and in each replica, and report copies that "
        "do not match their digest and digests missing from a store.",
        epilog=CHECK_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--store", metavar="URL", help="directory, file:///path or s3://... (default: the registry's own)"
    )
    parser.add_argument(
        "--replica", action="append", default=[], metavar="URL", help="a replica store (repeatable)"
    )
    parser.add_argument("--kek", metavar="file:PATH|env:VAR", help="key-encryption key of encrypted stores")
    parser.add_argument("--format", choices=["table", "json"], default="table", dest="out_format")
    parser.set_defaults(handler=_cmd_check)
    return parser


def _cmd_check(args: argparse.Namespace) -> int:
    """``--store``/``--replica``/``--kek``, else the registry's configured store, replicas and key."""
    if args.store:
        return run_check(args.store, args.replica, args.kek, args.out_format)
    from mlwarden.registry.settings import load_registry_settings  # noqa: PLC0415

    settings = load_registry_settings(getattr(args, "config", None))
    replicas = args.replica or settings.blob_replicas
    return run_check(settings.blobs, replicas, args.kek or settings.blob_kek, args.out_format)


def run_check(
    store_url: str,
    replica_urls: list[str],
    kek: str | None,
    out_format: str,
    *,
    out: TextIO | None = None,
) -> int:
    """Check the store and its replicas; 0 all good, 1 corruption or missing copies, 2 usage error."""
    from mlwarden.registry.blobs import check, open_store  # noqa: PLC0415 - keeps --help fast

    if out_format not in ("table", "json"):
        say(f"mlwarden: error: unknown --format {out_format!r}; choose table or json")
        return EXIT_ERROR
    try:
        stores = [open_store(url, kek=kek) for url in [store_url, *replica_urls]]
        report = check(stores)
    except MlwardenError as err:
        say(f"mlwarden: error: {err.diagnostics()}")
        return EXIT_ERROR
    render_check(report, out_format, out or sys.stdout)
    return EXIT_OK if report.ok else EXIT_DENIED


def render_check(report: CheckReport, out_format: str, out: TextIO) -> None:
    """JSON (``report.to_dict()``), or a few lines for people: one per problem, then a summary."""
    if out_format == "json":
        json.dump(report.to_dict(), out, indent=2)
        out.write("\n")
        return
    for problem in report.problems:
        detail = f": {problem.detail}" if problem.detail else ""
        digest = f"sha256:{problem.digest}" if problem.digest else "(store)"
        out.write(f"{problem.kind.upper():<10} {digest} in {problem.store}{detail}\n")
    verdict = "OK" if report.ok else "FAILED"
    out.write(
        f"{verdict}: {report.blobs} blob(s), {report.copies_verified} cop(ies) verified "
        f"({report.bytes_hashed} bytes) in {len(report.stores)} store(s); "
        f"{len(report.corrupted())} corrupted or unreadable, {len(report.missing())} missing\n"
    )
