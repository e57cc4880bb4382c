"""``mlwarden`` entry point: argparse sub-commands, one error funnel, documented exit codes.

Exit codes: 0 clean/allowed, 1 unsafe/denied, 2 usage or runtime error (see ``exit_codes``).
Set ``MLWARDEN_DEBUG=1`` to see a traceback for an internal error.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, TextIO

from mlwarden import __version__
from mlwarden.cli._io import password_from_env, read_input, say, write_atomic
from mlwarden.cli._signing import add_trust_options, signing_material, trust_anchors
from mlwarden.cli.audit import add_audit_commands
from mlwarden.cli.data import add_data_commands
from mlwarden.cli.exit_codes import EXIT_DENIED, EXIT_ERROR, EXIT_OK
from mlwarden.cli.gate import add_gate_commands
from mlwarden.cli.policy import add_policy_commands
from mlwarden.cli.quickstart import add_quickstart_command
from mlwarden.cli.registry import add_registry_commands
from mlwarden.cli.train import add_train_command
from mlwarden.errors import MlwardenError, UsageError

if TYPE_CHECKING:
    from mlwarden.core.config import Settings
    from mlwarden.hashing import HashingConfig, Manifest
    from mlwarden.scanning import ScanConfig

Handler = Callable[[argparse.Namespace], int]

SCAN_EXAMPLES = """\
examples:
  mlwarden scan model.pt                      scan one file (format found from its bytes)
  mlwarden scan ./models --jobs 4             scan a directory tree on 4 processes
  mlwarden scan model.bin --format json       machine-readable report on stdout
  mlwarden scan . --format sarif -o scan.sarif --fail-on medium
                                              SARIF for code scanning; fail on medium or above

exit codes: 0 nothing at or above --fail-on, 1 unsafe content found, 2 usage or runtime error.
settings: [scan] in mlwarden.toml or MLWARDEN_SCAN__<KEY> variables (max_depth, max_members,
max_member_bytes, max_total_bytes, max_pickle_ops, max_seconds, jobs, follow_symlinks, plugins).
"""


CLASSIFY_EXAMPLES = """\
examples:
  mlwarden classify inswapper_128.onnx            one model file
  mlwarden classify ./LivePortrait/weights        a multi-file bundle, judged together
  mlwarden classify ./models --each --format json every entry of a model zoo on its own

exit codes: 0 no bundle at or above --fail-on, 1 a deepfake-capable bundle (high by default),
2 usage or runtime error. Extra catalogues: [capability] catalogs = ["my-families.json"].
"""


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line naming the fix, and exit code 2."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message}", hint=f"see '{self.prog} --help'")


def build_parser() -> argparse.ArgumentParser:
    """The full command-line grammar."""
    parser = _Parser(
        prog="mlwarden",
        description="Keep malicious, tampered and unapproved deepfake-capable models out of production.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Run 'mlwarden COMMAND --help' for a command's options and examples.",
    )
    parser.add_argument("--version", action="version", version=f"mlwarden {__version__}")
    parser.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help="settings file (default: ./mlwarden.toml if present; env MLWARDEN_CONFIG)",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    scan = commands.add_parser(
        "scan",
        help="statically scan model files for embedded code and tampering",
        description="Scan model files, directories and archives without loading or executing them.",
        epilog=SCAN_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    scan.add_argument("paths", nargs="+", metavar="PATH", help="file, directory or archive")
    scan.add_argument(
        "--format",
        "-f",
        choices=["table", "json", "sarif"],
        default="table",
        help="output format (default: table)",
    )
    scan.add_argument("--output", "-o", type=Path, metavar="FILE", help="write the report to FILE")
    scan.add_argument(
        "--fail-on",
        default="high",
        metavar="SEVERITY",
        help="exit 1 when a finding is at or above this: info, low, medium, high, critical (default: high)",
    )
    scan.add_argument(
        "--jobs",
        "-j",
        type=int,
        metavar="N",
        help="worker processes for directories (default: [scan] jobs, else all cores)",
    )
    scan.add_argument("--follow-symlinks", action="store_true", help="scan through symlinks inside the tree")
    scan.add_argument("--quiet", "-q", action="store_true", help="no progress bar and no summary line")
    scan.add_argument(
        "--no-capability",
        action="store_true",
        help="leave out the deepfake-capability section (it never changes the exit code)",
    )
    scan.set_defaults(handler=_cmd_scan)

    classify = commands.add_parser(
        "classify",
        help="recognise deepfake-capable models (face swap, lip-sync, voice cloning...) from their structure",
        description="Classify models by deepfake capability from tensor names and shapes, ONNX graphs and "
        "configs, without loading them. Each PATH is one bundle (a file, an archive or a directory).",
        epilog=CLASSIFY_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    classify.add_argument(
        "paths", nargs="+", metavar="PATH", help="file, directory or archive (one bundle each)"
    )
    classify.add_argument(
        "--format",
        "-f",
        choices=["table", "json", "sarif"],
        default="table",
        help="output format (default: table)",
    )
    classify.add_argument("--output", "-o", type=Path, metavar="FILE", help="write the report to FILE")
    classify.add_argument(
        "--each",
        action="store_true",
        help="treat every entry directly inside a directory PATH as its own bundle",
    )
    classify.add_argument(
        "--fail-on",
        default="high",
        choices=["low", "medium", "high", "never"],
        help="exit 1 when a bundle's capability severity is at or above this (default: high)",
    )
    classify.add_argument("--jobs", "-j", type=int, metavar="N", help="worker processes (default: all cores)")
    classify.add_argument("--quiet", "-q", action="store_true", help="no progress bar and no summary line")
    classify.set_defaults(handler=_cmd_classify)
    _add_signing_commands(commands)
    add_data_commands(commands, _Parser)
    add_train_command(commands, _Parser)
    add_gate_commands(commands, _Parser)
    add_policy_commands(commands, _Parser)
    add_quickstart_command(commands, _Parser)
    add_registry_commands(commands, _Parser)
    add_audit_commands(commands, _Parser)
    return parser


SIGNING_EXAMPLES = """\
examples:
  mlwarden keygen --out publisher.pem             writes publisher.pem (private) and publisher.pub
  mlwarden hash ./model --hash blake3             root digest and per-file digests
  mlwarden sign ./model --key publisher.pem -o model.sig
  mlwarden sign ./model --key publisher.pem -o model.sig --incremental   re-sign; unchanged files not re-read
  mlwarden sign ./model --key leaf.key --cert leaf.pem --chain intermediate.pem -o model.sig
  mlwarden attest ./model --type scan --key publisher.pem -o att/scan.att.json
  mlwarden verify ./model --signature model.sig --key publisher.pub
  mlwarden verify ./model --signature model.sig --cert-identity release@example.com --ca root.pem
  mlwarden verify ./model --signature model.sig --signature registry.sig \\
      --key publisher.pub --key registry.pub --attestations att --require-attestation scan
  mlwarden verify ./model --signature model.sig --sigstore-identity you@example.com \\
      --issuer https://accounts.google.com --trusted-root trusted_root.json     (offline)

Bundles are OpenSSF Model Signing v1.0 (in-toto / DSSE / Sigstore bundle v0.3): model_signing
verifies ours and we verify theirs. verify exits 1 when the model does not match its signatures
(modified, missing or unsigned extra files, another model, wrong key or identity, expired or
untrusted certificate, edited bundle, missing attestation), 2 on bad input.
"""


def _add_signing_commands(commands: argparse._SubParsersAction[_Parser]) -> None:
    def hashing_options(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--hash", choices=["sha256", "blake3"], default="sha256", help="digest (default: sha256)"
        )
        p.add_argument(
            "--shard-size",
            type=int,
            metavar="BYTES",
            help="hash fixed-size shards of each file instead of whole files",
        )
        p.add_argument(
            "--ignore",
            action="append",
            default=[],
            metavar="PATH",
            help="path inside the model to leave out (repeatable; .git and friends always are)",
        )
        p.add_argument(
            "--allow-symlinks", action="store_true", help="hash symlinks that stay inside the model"
        )

    def sub(name: str, summary: str, description: str) -> argparse.ArgumentParser:
        return commands.add_parser(
            name,
            help=summary,
            description=description,
            epilog=SIGNING_EXAMPLES,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )

    hash_cmd = sub(
        "hash",
        "hash a model directory (OMS manifest and root digest)",
        "Hash every file of a model directory, all cores, one read per byte.",
    )
    hash_cmd.add_argument("path", metavar="PATH", type=Path)
    hashing_options(hash_cmd)
    hash_cmd.add_argument("--format", "-f", choices=["table", "json"], default="table")
    hash_cmd.set_defaults(handler=_cmd_hash)

    keygen = sub(
        "keygen",
        "create an ECDSA signing key pair",
        "Write a PEM private key and its public key beside it (.pub).",
    )
    keygen.add_argument("--out", required=True, type=Path, metavar="KEY", help="private key file to create")
    keygen.add_argument("--curve", choices=["P-256", "P-384"], default="P-256")
    keygen.add_argument("--password-env", metavar="VAR", help="encrypt the key with the password in $VAR")
    keygen.set_defaults(handler=_cmd_keygen)

    def signer_options(p: argparse.ArgumentParser, *, sigstore: bool) -> None:
        p.add_argument(
            "--key",
            type=Path,
            metavar="KEY",
            help="PEM EC private key (P-256/P-384), or env:VAR to read $VAR",
        )
        p.add_argument("--password-env", metavar="VAR", help="the key's password is in $VAR")
        p.add_argument(
            "--cert",
            type=Path,
            metavar="CERT",
            help="certificate method: the key's PEM leaf certificate (code signing)",
        )
        p.add_argument(
            "--chain", type=Path, action="append", default=[], metavar="CHAIN", help="intermediate CA PEM(s)"
        )
        if sigstore:
            p.add_argument(
                "--sigstore",
                action="store_true",
                help="Sigstore keyless signing (needs mlwarden[sigstore], network and an OIDC identity)",
            )
            p.add_argument(
                "--identity-token", metavar="TOKEN", help="OIDC token for --sigstore (default: ambient)"
            )
            p.add_argument("--sigstore-staging", action="store_true", help="use Sigstore's staging instance")
            p.add_argument(
                "--trust-config", type=Path, metavar="FILE", help="client trust config of a private Sigstore"
            )

    sign = sub(
        "sign",
        "sign a model directory (OMS v1.0 bundle)",
        "Hash and sign a model directory; writes a Sigstore bundle.",
    )
    sign.add_argument("path", metavar="PATH", type=Path)
    signer_options(sign, sigstore=True)
    sign.add_argument("--output", "-o", type=Path, metavar="SIG", help="bundle to write (default: model.sig)")
    sign.add_argument(
        "--incremental",
        action="store_true",
        help="reuse digests of files unchanged (size, mtime, ctime, inode) since the previous signature in "
        "--output, once that signature verifies with this key",
    )
    hashing_options(sign)
    sign.set_defaults(handler=_cmd_sign)

    verify = sub(
        "verify",
        "verify a model directory against its signature(s) and attestations",
        "Re-hash the model and check it against signed OMS bundles. Every trust option given must be\n"
        "matched by one --signature (publisher and registry, say), and every --require-attestation by a\n"
        "signed attestation about exactly these bytes.",
    )
    verify.add_argument("path", metavar="PATH", type=Path)
    verify.add_argument(
        "--signature", required=True, action="append", type=Path, metavar="SIG", help="a bundle (repeatable)"
    )
    add_trust_options(verify)
    attest_group = verify.add_argument_group("attestations")
    attest_group.add_argument(
        "--attestations", type=Path, metavar="DIR", help="folder of signed attestations"
    )
    attest_group.add_argument(
        "--require-attestation",
        action="append",
        default=[],
        metavar="KIND",
        help="scan, capability, provenance or a predicate type URI (repeatable)",
    )
    attest_group.add_argument(
        "--attestation-key",
        action="append",
        default=[],
        type=Path,
        metavar="PUB",
        help="key trusted for attestations (default: the model's trust options)",
    )
    verify.add_argument("--format", "-f", choices=["table", "json"], default="table")
    verify.set_defaults(handler=_cmd_verify)

    attest = sub(
        "attest",
        "sign an attestation (scan, capability, provenance) about a model",
        "Write a signed in-toto statement whose subject is the model's OMS root digest. scan and\n"
        "capability are computed now; provenance (from 'mlwarden train') or any other predicate is\n"
        "given with --predicate.",
    )
    attest.add_argument("path", metavar="PATH", type=Path)
    attest.add_argument(
        "--type",
        required=True,
        metavar="KIND",
        help="scan, capability, provenance, or a predicate type URI (with --predicate)",
    )
    attest.add_argument("--predicate", type=Path, metavar="FILE", help="predicate or unsigned statement JSON")
    signer_options(attest, sigstore=False)
    attest.add_argument(
        "--output", "-o", type=Path, metavar="FILE", help="bundle to write (default: <kind>.att.json)"
    )
    hashing_options(attest)
    attest.set_defaults(handler=_cmd_attest)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code instead of raising."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        handler: Handler | None = getattr(args, "handler", None)
        if handler is None:
            parser.print_help(sys.stderr)
            return EXIT_ERROR
        return handler(args)
    except MlwardenError as exc:
        say(f"mlwarden: error: {exc.diagnostics()}")
        return exc.exit_code
    except KeyboardInterrupt:
        say("mlwarden: interrupted; nothing was decided")
        return EXIT_ERROR
    except BrokenPipeError:
        sys.stderr.close()  # the reader went away (| head); nothing more to say
        return EXIT_ERROR
    except Exception as exc:  # the one funnel: no traceback reaches a user
        if os.environ.get("MLWARDEN_DEBUG"):
            raise
        say(
            f"mlwarden: internal error: {type(exc).__name__}: {exc}; "
            "rerun with MLWARDEN_DEBUG=1 and report it with the traceback"
        )
        return EXIT_ERROR


def _cmd_scan(args: argparse.Namespace) -> int:
    from mlwarden.cli._output import OutputFormat, render  # noqa: PLC0415 - keep start-up light
    from mlwarden.core.config import load_settings  # noqa: PLC0415
    from mlwarden.core.types import Severity  # noqa: PLC0415
    from mlwarden.scanning import scan_paths  # noqa: PLC0415

    try:
        threshold = Severity.parse(args.fail_on)
    except ValueError as exc:
        raise UsageError(f"--fail-on: {exc}", hint="for example --fail-on high") from None
    settings = load_settings(args.config)
    config = _scan_config(args, settings)
    config = replace(config, follow_symlinks=args.follow_symlinks or config.follow_symlinks)
    fmt = OutputFormat(args.format)
    with _progress(enabled=not args.quiet) as progress:
        report = scan_paths(args.paths, config, progress=progress)
    capability = None
    if not args.no_capability:
        from mlwarden.capability import CapabilityConfig, classify_scan  # noqa: PLC0415

        capability = classify_scan(report, CapabilityConfig.from_settings(settings.get("capability", {})))
    if args.output is not None:
        write_atomic(
            args.output, lambda out: render(report, fmt, out, threshold=threshold, capability=capability)
        )
        if not args.quiet:
            top = report.max_severity
            say(
                f"mlwarden: wrote {fmt.value} report for {len(report.files)} file(s) to {args.output} "
                f"(highest severity: {top.label if top is not None else 'none'})"
            )
    else:
        render(report, fmt, sys.stdout, threshold=threshold, capability=capability)
    return EXIT_DENIED if report.fails(threshold) else EXIT_OK


def _scan_config(args: argparse.Namespace, settings: Settings) -> ScanConfig:
    """[scan] settings, with --jobs (default: [scan] jobs, else every core) applied."""
    from mlwarden.scanning import ScanConfig  # noqa: PLC0415

    config = ScanConfig.from_settings(settings.get("scan", {}))
    jobs = args.jobs if args.jobs is not None else settings.get("scan", {}).get("jobs", os.cpu_count() or 1)
    if jobs < 1:
        raise UsageError("--jobs must be at least 1", hint="for example --jobs 4")
    return replace(config, jobs=jobs)


def _cmd_classify(args: argparse.Namespace) -> int:
    from mlwarden.capability import CapabilityConfig, classify_scan  # noqa: PLC0415
    from mlwarden.cli._output import OutputFormat, render_capability  # noqa: PLC0415
    from mlwarden.core.config import load_settings  # noqa: PLC0415
    from mlwarden.scanning import scan_paths  # noqa: PLC0415

    settings = load_settings(args.config)
    scan_config = _scan_config(args, settings)
    config = CapabilityConfig.from_settings(settings.get("capability", {}))
    if args.each:
        config = replace(config, each=True)
    with _progress(enabled=not args.quiet) as progress:
        report = scan_paths(args.paths, scan_config, progress=progress)
    result = classify_scan(report, config)
    fmt = OutputFormat(args.format)
    if args.output is not None:
        write_atomic(args.output, lambda out: render_capability(result, fmt, out))
        if not args.quiet:
            say(
                f"mlwarden: wrote {fmt.value} capability report for {len(result.bundles)} bundle(s) to "
                f"{args.output} (highest severity: {result.severity})"
            )
    else:
        render_capability(result, fmt, sys.stdout)
    order = ("none", "low", "medium", "high")
    if args.fail_on == "never":
        return EXIT_OK
    return EXIT_DENIED if order.index(result.severity) >= order.index(args.fail_on) else EXIT_OK


class _progress:  # noqa: N801 - used as a context manager function
    """A rich progress bar on stderr, only when stderr is a terminal."""

    def __init__(self, *, enabled: bool) -> None:
        self.enabled = enabled and sys.stderr.isatty()
        self._bar: object | None = None

    def __enter__(self) -> Callable[[str, int], None] | None:
        if not self.enabled:
            return None
        from rich.progress import (  # noqa: PLC0415
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        bar = Progress(
            TextColumn("scanning"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            transient=True,
            console=None,
        )
        bar.start()
        task = bar.add_task("", total=None)
        self._bar = bar

        def advance(path: str, size: int) -> None:
            bar.update(task, advance=1, description=Path(path).name[:40])

        return advance

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()  # type: ignore[attr-defined]


def _hashing_config(args: argparse.Namespace, extra_ignore: tuple[str, ...] = ()) -> HashingConfig:
    from mlwarden.hashing import HashingConfig  # noqa: PLC0415

    config = HashingConfig().use_blake3() if args.hash == "blake3" else HashingConfig()
    if args.shard_size is not None:
        config = config.use_shards(args.shard_size)
    return config.add_ignore_paths([*args.ignore, *extra_ignore]).set_allow_symlinks(args.allow_symlinks)


def _cmd_hash(args: argparse.Namespace) -> int:
    import json  # noqa: PLC0415

    from mlwarden.hashing import hash_model  # noqa: PLC0415

    manifest = hash_model(args.path, _hashing_config(args))
    if args.format == "json":
        json.dump(
            {"name": manifest.model_name, "root_digest": manifest.root_digest, **manifest.to_predicate()},
            sys.stdout,
            indent=2,
        )
        sys.stdout.write("\n")
    else:
        for resource in manifest.resources:
            print(f"{resource.digest}  {resource.name}")
        count = len(manifest.resources)
        print(f"{manifest.root_digest}  (root, {manifest.config.algorithm}, {count} resources)")
    return EXIT_OK


def _cmd_keygen(args: argparse.Namespace) -> int:
    from mlwarden.signing import generate_key, public_key_pem  # noqa: PLC0415

    public = args.out.with_suffix(".pub")
    for path in (args.out, public):
        if path.exists():
            raise UsageError(
                f"{path} already exists", hint="choose another --out; keys are never overwritten"
            )
    password = password_from_env(args.password_env)
    private = generate_key(args.curve, password)
    try:
        fd = os.open(args.out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(private)
        public.write_bytes(public_key_pem(private, password))
    except OSError as exc:
        raise MlwardenError(
            f"cannot write {exc.filename}: {exc.strerror}", hint="choose a writable --out"
        ) from None
    say(f"mlwarden: wrote {args.out} (private, mode 600) and {public}")
    return EXIT_OK


def _cmd_sign(args: argparse.Namespace) -> int:
    from mlwarden.signing import dump_bundle, sign  # noqa: PLC0415

    output: Path = args.output or Path("model.sig")
    extra: tuple[str, ...] = ()
    if output.resolve().is_relative_to(args.path.resolve()):
        extra = (output.resolve().relative_to(args.path.resolve()).as_posix(),)  # never sign the signature
    config = _hashing_config(args, extra)
    if args.sigstore:
        if args.key or args.cert or args.incremental:
            raise UsageError(
                "--sigstore signs without --key, --cert or --incremental", hint="drop those options"
            )
        bundle = _sign_sigstore(args, config)
    else:
        key, chain = signing_material(args)
        password = password_from_env(args.password_env)
        manifest = _incremental_manifest(args, config, key, password, output) if args.incremental else None
        bundle = sign(args.path, key, config, password=password, certificate_chain=chain, manifest=manifest)
    text = dump_bundle(bundle)

    def write(out: TextIO) -> None:
        out.write(text)

    write_atomic(output, write)
    say(f"mlwarden: signed {args.path}; bundle written to {output}")
    return EXIT_OK


def _incremental_manifest(
    args: argparse.Namespace, config: HashingConfig, key: bytes, password: bytes | None, output: Path
) -> Manifest:
    from mlwarden.hashing import hash_model  # noqa: PLC0415
    from mlwarden.signing import load_private_key  # noqa: PLC0415
    from mlwarden.signing.incremental import previous_manifest, save_state, state_path  # noqa: PLC0415

    public = load_private_key(key, password).public_key()
    state = state_path(args.path)
    previous = previous_manifest(output.read_bytes() if output.is_file() else None, public, state, config)
    manifest = hash_model(args.path, config, previous=previous)
    save_state(manifest, state)
    if previous is None:
        say("mlwarden: incremental: no previous signature by this key to reuse; hashed every file")
    else:
        old = {(r.name, r.digest) for r in previous.resources}
        reused = sum((r.name, r.digest) in old for r in manifest.resources)
        say(f"mlwarden: incremental: reused {reused} of {len(manifest.resources)} digest(s) from {output}")
    return manifest


def _sign_sigstore(args: argparse.Namespace, config: HashingConfig) -> dict[str, object]:
    from mlwarden.signing.api import hash_for_signing, model_payload  # noqa: PLC0415
    from mlwarden.signing.bundle import INTOTO_PAYLOAD_TYPE  # noqa: PLC0415
    from mlwarden.signing.sigstore import sign_sigstore  # noqa: PLC0415

    payload = model_payload(hash_for_signing(args.path, config))
    return sign_sigstore(
        INTOTO_PAYLOAD_TYPE,
        payload,
        identity_token=args.identity_token,
        staging=args.sigstore_staging,
        trust_config=args.trust_config,
    )


def _cmd_verify(args: argparse.Namespace) -> int:
    import json  # noqa: PLC0415

    from mlwarden.services.attest import collect_attestations, require  # noqa: PLC0415
    from mlwarden.signing import KeyTrust, pair_signatures, verify_all  # noqa: PLC0415

    anchors = trust_anchors(args)
    bundles = [read_input(path, "signature") for path in args.signature]
    if args.require_attestation and args.attestations is None:
        raise UsageError("--require-attestation needs --attestations DIR", hint="pass the attestation folder")
    result = verify_all(args.path, pair_signatures(bundles, anchors))
    manifest = result.manifest
    attested = None
    if args.attestations is not None:
        attestation_anchors = [KeyTrust(read_input(p, "public key")) for p in args.attestation_key] or anchors
        attested = collect_attestations(args.attestations, manifest.root_digest, attestation_anchors)
        require(attested, args.require_attestation)
    if args.format == "json":
        doc = {
            "verified": True,
            "path": str(args.path),
            "root_digest": manifest.root_digest,
            "algorithm": manifest.config.algorithm,
            "resources": len(manifest.resources),
            "signers": [
                {"method": s.method, "identity": s.identity, "issuer": s.issuer} for s in result.signers
            ],
            "attestations": [
                {
                    "kind": a.kind,
                    "predicate_type": a.predicate_type,
                    "signer": a.signer.identity,
                    "file": a.source,
                }
                for a in (attested.found if attested else [])
            ],
        }
        json.dump(doc, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return EXIT_OK
    print(
        f"verified {args.path}: {len(manifest.resources)} resources, root {manifest.config.algorithm} "
        f"{manifest.root_digest}"
    )
    for signer in result.signers:
        print(f"  signed by {signer.describe()}")
    for found in attested.found if attested else []:
        print(f"  attestation {found.kind} ({found.source}) signed by {found.signer.describe()}")
    return EXIT_OK


def _cmd_attest(args: argparse.Namespace) -> int:
    from mlwarden.core.config import load_settings  # noqa: PLC0415
    from mlwarden.services.attest import (  # noqa: PLC0415
        PREDICATE_TYPES,
        attest,
        evidence_predicate,
        predicate_from_file,
    )
    from mlwarden.signing import dump_bundle  # noqa: PLC0415

    kind: str = args.type
    if kind not in PREDICATE_TYPES and ":" not in kind:
        raise UsageError(
            f"unknown attestation type {kind!r}",
            hint="use scan, capability, provenance or a predicate type URI",
        )
    key, chain = signing_material(args)
    if args.predicate is not None:
        predicate_type, predicate = predicate_from_file(kind, read_input(args.predicate, "predicate"))
    elif kind in ("scan", "capability"):
        predicate_type, predicate = (
            PREDICATE_TYPES[kind],
            evidence_predicate(kind, args.path, load_settings(args.config)),
        )
    else:
        raise UsageError(
            f"a {kind} attestation needs --predicate FILE", hint="for example the file 'mlwarden train' wrote"
        )
    output: Path = args.output or Path(f"{kind if kind in PREDICATE_TYPES else 'attestation'}.att.json")
    extra: tuple[str, ...] = ()
    if output.resolve().is_relative_to(args.path.resolve()):
        extra = (output.resolve().relative_to(args.path.resolve()).as_posix(),)
    bundle = attest(
        args.path,
        kind,
        key,
        predicate=predicate,
        predicate_type=predicate_type,
        config=_hashing_config(args, extra),
        password=password_from_env(args.password_env),
        certificate_chain=chain,
    )
    text = dump_bundle(bundle)

    def write(out: TextIO) -> None:
        out.write(text)

    write_atomic(output, write)
    say(f"mlwarden: wrote {kind} attestation for {args.path} to {output}")
    return EXIT_OK
