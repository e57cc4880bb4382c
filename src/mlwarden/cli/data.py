"""``mlwarden data manifest`` and ``mlwarden data verify``: dataset provenance on the command line.

Hooked into ``mlwarden.cli.main.build_parser`` by :func:`add_data_commands`. Only argparse is imported
here; the library, rich and pyarrow are imported when a command runs, so ``mlwarden --help`` stays fast.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from mlwarden.cli._io import password_from_env, read_input, say, write_atomic
from mlwarden.cli.exit_codes import EXIT_OK

if TYPE_CHECKING:
    import datetime as dt

    from mlwarden.provenance.dataset import DatasetManifest, ParseLimits


DATA_EXAMPLES = """\
examples:
  mlwarden data manifest ./data --source s3://bucket/train/ -o data.manifest.json
                                              describe a dataset: digests, Merkle root, rows, schema
  mlwarden data manifest ./data --previous v1.json --key publisher.pem -o v2.sig
                                              sign it, with the difference from the last manifest
  mlwarden data manifest ./data --format table    a table for people (nothing written without -o)
  mlwarden data verify ./data --manifest v2.sig --key publisher.pub
                                              check who signed it, then every file against it

The manifest is an in-toto Statement v1 (predicate type
https://mlwarden.dev/attestation/dataset-manifest/v1) whose subject digest is the RFC 6962 Merkle
root of the files; with --key it is a Sigstore bundle like a model signature. Rows and schema are
read from CSV/TSV, JSON Lines (also .gz, .bz2, .xz) and Parquet (footer only; needs
pip install 'mlwarden[data]'), within [data] max_parse_bytes / max_parse_seconds.

exit codes: manifest: 0 written, 2 usage or runtime error (empty or unreadable directory).
verify: 0 every file matches, 1 a file was added, removed, modified or renamed, or the signature
does not verify (or is missing when --key is given, or present when it is not), 2 unreadable input.
"""


def add_data_commands(
    commands: argparse._SubParsersAction[Any], parser_class: type[argparse.ArgumentParser]
) -> None:
    """Add ``data manifest`` and ``data verify`` to the top-level sub-commands."""
    data = commands.add_parser(
        "data",
        help="dataset provenance: signed manifests of data directories, and checks against them",
        description="Describe a dataset (digests, Merkle root, rows, schema, source, changes) and verify it.",
        epilog=DATA_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = data.add_subparsers(
        dest="data_command", metavar="SUBCOMMAND", parser_class=parser_class, required=True
    )

    manifest = sub.add_parser(
        "manifest",
        help="describe a dataset directory (optionally signed)",
        description="Hash every file of a dataset directory (all cores, one read per byte), count the rows "
        "and read the schema of tabular files, and write an in-toto statement, signed with --key.",
        epilog=DATA_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    manifest.add_argument("path", metavar="DIR", type=Path, help="the dataset directory")
    manifest.add_argument(
        "--output", "-o", type=Path, metavar="FILE", help="write the manifest to FILE (default: stdout)"
    )
    manifest.add_argument(
        "--previous",
        type=Path,
        metavar="FILE",
        help="an earlier manifest (plain or signed) to record the difference from; it is not authenticated, "
        "the difference names its Merkle root",
    )
    manifest.add_argument(
        "--source", metavar="URI", help="where the data came from, e.g. s3://bucket/prefix/"
    )
    manifest.add_argument("--name", metavar="NAME", help="the dataset's name (default: the directory name)")
    manifest.add_argument(
        "--hash", choices=["sha256", "blake3"], default="sha256", help="file digest (default: sha256)"
    )
    manifest.add_argument("--no-rows", action="store_true", help="digests only: do not read rows or schemas")
    manifest.add_argument(
        "--key", type=Path, metavar="KEY", help="sign with this PEM EC private key (or env:VAR to read $VAR)"
    )
    manifest.add_argument("--password-env", metavar="VAR", help="the key's password is in $VAR")
    manifest.add_argument(
        "--format",
        "-f",
        choices=["json", "table"],
        default="json",
        help="json: the statement (or signed bundle); table: a summary for people (default: json)",
    )
    manifest.add_argument(
        "--ignore",
        action="append",
        default=[],
        metavar="PATH",
        help="path inside DIR to leave out (repeatable; .git and friends and an -o inside DIR always are)",
    )
    manifest.add_argument(
        "--allow-symlinks", action="store_true", help="follow symlinks that stay inside DIR"
    )
    manifest.add_argument(
        "--max-parse-bytes", type=int, metavar="BYTES", help="bytes read per file for rows (default: 1 GiB)"
    )
    manifest.add_argument(
        "--max-parse-seconds", type=float, metavar="S", help="seconds spent per file on rows (default: 60)"
    )
    manifest.add_argument("--quiet", "-q", action="store_true", help="no summary or data warnings on stderr")
    manifest.set_defaults(handler=_cmd_manifest)

    verify = sub.add_parser(
        "verify",
        help="check a dataset directory against its manifest",
        description="Re-hash a dataset directory and compare it with a manifest; with --key, first check who "
        "signed the manifest.",
        epilog=DATA_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    verify.add_argument("path", metavar="DIR", type=Path, help="the dataset directory")
    verify.add_argument(
        "--manifest", "-m", required=True, type=Path, metavar="FILE", help="the manifest or bundle"
    )
    verify.add_argument(
        "--key", type=Path, metavar="PUB", help="PEM public key the manifest must be signed with (or env:VAR)"
    )
    verify.set_defaults(handler=_cmd_verify)


def _created() -> dt.datetime | None:
    """``SOURCE_DATE_EPOCH`` (reproducible builds) when set, else now."""
    import datetime as dt  # noqa: PLC0415

    from mlwarden.errors import UsageError  # noqa: PLC0415

    value = os.environ.get("SOURCE_DATE_EPOCH")
    if not value:
        return None
    try:
        return dt.datetime.fromtimestamp(int(value), dt.UTC)
    except (ValueError, OverflowError, OSError):
        raise UsageError(
            f"SOURCE_DATE_EPOCH={value!r} is not a Unix time", hint="unset it or give seconds since 1970"
        ) from None


def _limits(args: argparse.Namespace) -> ParseLimits:
    """``[data]`` settings, then the command-line limits over them."""
    from dataclasses import replace  # noqa: PLC0415

    from mlwarden.core.config import load_settings  # noqa: PLC0415
    from mlwarden.provenance.dataset import ParseLimits  # noqa: PLC0415

    limits = ParseLimits.from_settings(load_settings(getattr(args, "config", None)).get("data", {}))
    if args.max_parse_bytes is not None:
        limits = replace(limits, max_bytes=args.max_parse_bytes)
    if args.max_parse_seconds is not None:
        limits = replace(limits, max_seconds=args.max_parse_seconds)
    return limits


def _inside(path: Path, root: Path) -> str | None:
    """``path`` relative to ``root`` (POSIX) when it lies inside it, else None."""
    target, base = path.resolve(), root.resolve()
    return target.relative_to(base).as_posix() if target != base and target.is_relative_to(base) else None


def _cmd_manifest(args: argparse.Namespace) -> int:
    import json  # noqa: PLC0415

    from mlwarden.errors import UsageError  # noqa: PLC0415
    from mlwarden.provenance.dataset import build_manifest, load_manifest  # noqa: PLC0415

    if args.key is not None and args.format == "table" and args.output is None:
        raise UsageError(
            "--key with --format table writes nothing", hint="add --output FILE for the signed bundle"
        )
    limits = _limits(args)
    key: bytes | None = None
    password = password_from_env(args.password_env)
    if args.key is not None:  # a wrong key or password fails now, not after hashing the dataset
        from mlwarden.signing import load_private_key  # noqa: PLC0415

        key = read_input(args.key, "key")
        load_private_key(key, password)
    previous = load_manifest(args.previous) if args.previous is not None else None
    ignore = list(args.ignore)
    if args.output is not None and (inner := _inside(args.output, args.path)) is not None:
        ignore.append(inner)  # never describe the manifest itself
    manifest = build_manifest(
        args.path,
        source_uri=args.source,
        name=args.name,
        algorithm=args.hash,
        previous=previous,
        rows=not args.no_rows,
        ignore=ignore,
        allow_symlinks=args.allow_symlinks,
        limits=limits,
        created=_created(),
    )
    statement = manifest.to_statement()
    if key is not None:
        from mlwarden.signing import dump_bundle, sign_statement  # noqa: PLC0415

        bundle = sign_statement(statement, key, password=password)
        text = dump_bundle(bundle) + "\n"
    else:
        text = json.dumps(statement, indent=2, ensure_ascii=False) + "\n"

    if args.output is not None:

        def write(out: TextIO) -> None:
            out.write(text)

        write_atomic(args.output, write)
    elif args.format == "json":
        sys.stdout.write(text)
    if args.format == "table":
        _table(manifest, sys.stdout)
    if not args.quiet:
        if args.format == "json":  # the table lists them itself
            for entry in manifest.files:
                for warning in entry.warnings:
                    say(f"mlwarden: warning: {entry.path}: {warning}")
        if args.output is not None:
            what = "signed manifest" if args.key is not None else "manifest"
            rows = manifest.total_rows
            say(
                f"mlwarden: wrote {what} of {len(manifest.files)} file(s)"
                + (f", {rows} row(s)" if rows is not None and manifest.rows_counted else "")
                + f" to {args.output} (Merkle root {manifest.merkle_root})"
            )
        if manifest.previous is not None:
            say(f"mlwarden: since the previous manifest: {manifest.previous.diff.summary()}")
    return EXIT_OK


def _cmd_verify(args: argparse.Namespace) -> int:
    from mlwarden.provenance.dataset import (  # noqa: PLC0415
        DatasetManifest,
        DatasetVerificationError,
        describe_differences,
        is_signed_bundle,
        read_document,
        verify_directory,
    )

    document = read_document(args.manifest)
    signer = None
    if is_signed_bundle(document):
        if args.key is None:
            raise DatasetVerificationError(
                "the manifest is signed; pass --key to check who signed it",
                hint="an unchecked signature proves nothing",
            )
        from mlwarden.signing import KeyTrust, verify_statement  # noqa: PLC0415

        statement, signer = verify_statement(document, KeyTrust(read_input(args.key, "public key")))
        manifest = DatasetManifest.from_statement(statement)
    else:
        if args.key is not None:
            raise DatasetVerificationError(
                f"{args.manifest} is not signed, but --key was given",
                hint="sign it with 'mlwarden data manifest --key', or drop --key",
            )
        manifest = DatasetManifest.from_statement(document)
    extra = [inner] if (inner := _inside(args.manifest, args.path)) is not None else []
    differences = verify_directory(args.path, manifest, extra_ignore=extra)
    if differences:
        raise DatasetVerificationError(
            f"{args.path} does not match its manifest: {describe_differences(differences)}",
            hint=f"the manifest lists {len(manifest.files)} file(s), root {manifest.merkle_root[:16]}…",
        )
    by = f", signed by {signer.describe()}" if signer is not None else " (manifest not signed)"
    print(f"verified {args.path}: {len(manifest.files)} file(s) match Merkle root {manifest.merkle_root}{by}")
    return EXIT_OK


def _human(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"  # pragma: no cover - the loop always returns


_SHOWN_COLUMNS = 6


def _table(manifest: DatasetManifest, out: TextIO) -> None:
    from rich.console import Console  # noqa: PLC0415 - only people's output pays for rich
    from rich.markup import escape  # noqa: PLC0415
    from rich.table import Table  # noqa: PLC0415

    console = Console(file=out, soft_wrap=False, highlight=False, width=None if out.isatty() else 140)
    table = Table(title=f"dataset {escape(manifest.name)}", title_justify="left", header_style="bold")
    table.add_column("path", overflow="fold")
    table.add_column("size", justify="right", no_wrap=True)
    table.add_column("rows", justify="right", no_wrap=True)
    table.add_column("columns", overflow="fold")
    for entry in manifest.files:
        rows = "" if not entry.tabular else ("?" if entry.rows is None else f"{entry.rows:,}")
        columns = ""
        if entry.columns:
            shown = ", ".join(f"{c.name}:{c.type}" for c in entry.columns[:_SHOWN_COLUMNS])
            more = len(entry.columns) - _SHOWN_COLUMNS
            columns = shown + (f", … (+{more})" if more > 0 else "")
        flag = " [yellow]![/]" if entry.warnings else ""
        table.add_row(escape(entry.path) + flag, _human(entry.size), rows, escape(columns))
    console.print(table)
    total_rows = manifest.total_rows
    rows_text = (
        ""
        if not manifest.rows_counted
        else (f", {total_rows:,} rows" if total_rows is not None else ", rows ?")
    )
    console.print(f"{len(manifest.files)} file(s), {_human(manifest.total_bytes)}{rows_text}")
    console.print(f"Merkle root ({manifest.algorithm} files, RFC 6962 SHA-256 tree): {manifest.merkle_root}")
    if manifest.source_uri:
        console.print(f"source: {escape(manifest.source_uri)}")
    if manifest.previous is not None:
        console.print(f"since {manifest.previous.merkle_root[:16]}…: {manifest.previous.diff.summary()}")
    for entry in manifest.files:
        for warning in entry.warnings:
            console.print(f"[yellow]warning[/] {escape(entry.path)}: {escape(warning)}")
        for note in entry.notes:
            console.print(f"[dim]note {escape(entry.path)}: {escape(note)}[/]")
