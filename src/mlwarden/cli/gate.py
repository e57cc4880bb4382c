"""``mlwarden gate`` and ``mlwarden approve``: the deploy decision, and the signed approval it can need."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from mlwarden.cli._io import password_from_env, read_input, say, write_atomic
from mlwarden.cli._signing import add_trust_options, signing_material, trust_anchors
from mlwarden.cli.exit_codes import EXIT_DENIED, EXIT_OK
from mlwarden.errors import MlwardenError

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import TextIO

    from mlwarden.signing import Trust

P = TypeVar("P", bound=argparse.ArgumentParser)

GATE_EXAMPLES = """\
examples:
  mlwarden gate ./model --policy production --signature model.sig --key publisher.pub \\
      --attestations att --approver-key approver.pub
  mlwarden gate ./model --policy baseline --format sarif -o mlwarden.sarif   for GitHub code scanning
  mlwarden gate ./model --policy my-policy.yaml --format json --evidence-out evidence.json
  mlwarden gate ./model --policy production --opa-url http://127.0.0.1:8181/v1/data/mlwarden/gate

The evidence (docs/evidence.schema.json) is collected in one pass: the scan runs while the model is
hashed for its signatures. Policies: 'mlwarden policy list', docs/policy.md.
exit codes: 0 allowed (or a warn-only policy), 1 denied (also for a missing, empty or invalid
policy), 2 usage or runtime error.
"""

APPROVE_EXAMPLES = """\
examples:
  mlwarden approve ./faceswap --key approver.pem --reason "consented dubbing project #142" \\
      --expires 2027-03-31 -o att/approval.json

The approval's subject is the model's root digest: it approves exactly these bytes. Who approved is
the key that signed it; policies require that key to hold the approver role and not to be the
model's signer (two-person rule).
"""


def add_gate_commands(commands: argparse._SubParsersAction[P], parser_class: type[P]) -> None:
    """Add ``gate`` and ``approve`` to the ``mlwarden`` sub-commands."""
    del parser_class  # sub-parsers already use the CLI's parser class
    gate = commands.add_parser(
        "gate",
        help="decide allow or deny for a model under a policy",
        description="Collect scan, capability, signature and attestation evidence and evaluate a policy.",
        epilog=GATE_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    gate.add_argument("path", metavar="PATH", type=Path)
    gate.add_argument(
        "--policy", required=True, metavar="NAME|FILE", help="baseline, production, dev or a file"
    )
    gate.add_argument("--signature", action="append", default=[], type=Path, metavar="SIG", help="a bundle")
    add_trust_options(gate)
    gate.add_argument(
        "--attestations", type=Path, metavar="DIR", help="folder of signed attestations (*.json)"
    )
    gate.add_argument(
        "--attestation-key",
        action="append",
        default=[],
        type=Path,
        metavar="PUB",
        help="key trusted to sign attestations (default: the trust options)",
    )
    gate.add_argument(
        "--approver-key",
        action="append",
        default=[],
        type=Path,
        metavar="PUB",
        help="key whose approvals are read (the policy decides whether it holds the approver role)",
    )
    gate.add_argument("--opa-url", metavar="URL", help="ask this OPA server's data API instead of the policy")
    gate.add_argument("--format", "-f", choices=["table", "json", "sarif"], default="table")
    gate.add_argument("--output", "-o", type=Path, metavar="FILE", help="write the decision here")
    gate.add_argument("--evidence-out", type=Path, metavar="FILE", help="also write the evidence document")
    gate.set_defaults(handler=_cmd_gate)

    approve = commands.add_parser(
        "approve",
        help="sign an approval of exactly these model bytes",
        description="Write a signed approval attestation (who, why, scope, expiry) for a model.",
        epilog=APPROVE_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    approve.add_argument("path", metavar="PATH", type=Path)
    approve.add_argument("--key", required=True, type=Path, metavar="KEY", help="approver's PEM private key")
    approve.add_argument("--password-env", metavar="VAR", help="the key's password is in $VAR")
    approve.add_argument("--cert", type=Path, metavar="CERT", help="certificate method: the key's leaf")
    approve.add_argument("--chain", type=Path, action="append", default=[], metavar="CHAIN")
    approve.add_argument("--reason", required=True, help="why these bytes may ship")
    approve.add_argument("--expires", metavar="DATE", help="YYYY-MM-DD or RFC 3339 (default: never)")
    approve.add_argument("--scope", help="what the approval covers, e.g. 'production, EU only'")
    approve.add_argument(
        "--hash", choices=["sha256", "blake3"], default="sha256", help="as the model was signed"
    )
    approve.add_argument("--output", "-o", type=Path, metavar="FILE", help="default: approval.att.json")
    approve.set_defaults(handler=_cmd_approve)


def _cmd_gate(args: argparse.Namespace) -> int:
    from mlwarden.core.config import load_settings  # noqa: PLC0415
    from mlwarden.services.gate import GateRequest, run_gate  # noqa: PLC0415
    from mlwarden.signing import KeyTrust  # noqa: PLC0415

    anchors = trust_anchors(args, required=False)
    attestation_keys = [KeyTrust(read_input(p, "public key")) for p in args.attestation_key]
    attestation_anchors: list[Trust] = [*(attestation_keys or anchors)]
    attestation_anchors += [KeyTrust(read_input(p, "approver key")) for p in args.approver_key]
    request = GateRequest(
        path=args.path,
        policy=args.policy,
        signatures=[read_input(p, "signature") for p in args.signature],
        trust=anchors,
        attestations=args.attestations,
        attestation_trust=attestation_anchors,
        opa_url=args.opa_url,
        settings=load_settings(args.config),
    )
    try:
        result = run_gate(request)  # imports the policy engine on a thread while the model is hashed
    except MlwardenError as err:
        from mlwarden.policy import Decision, InvalidPolicyError, render_decision  # noqa: PLC0415

        if not isinstance(err, InvalidPolicyError):
            raise
        # A missing, empty or invalid policy denies, with the reason.
        say(f"mlwarden: denied: {err.diagnostics()}")
        decision = Decision.from_error(err, source=args.policy)
        if args.format != "table":  # machines reading JSON or SARIF see the deny too
            _emit(args, lambda out: render_decision(decision, args.format, out), allowed=False)
        return EXIT_DENIED
    from mlwarden.policy import render_decision  # noqa: PLC0415 - already imported by run_gate

    if args.evidence_out is not None:
        text = json.dumps(result.evidence, indent=2, ensure_ascii=False) + "\n"
        write_atomic(args.evidence_out, text, what="--evidence-out")
    allowed = result.decision.allowed
    _emit(args, lambda out: render_decision(result.decision, args.format, out), allowed=allowed)
    return EXIT_OK if allowed else EXIT_DENIED


def _emit(args: argparse.Namespace, write: Callable[[TextIO], None], *, allowed: bool) -> None:
    if args.output is None:
        write(sys.stdout)
        return
    write_atomic(args.output, write)
    say(f"mlwarden: {'allowed' if allowed else 'denied'}; {args.format} written to {args.output}")


def _cmd_approve(args: argparse.Namespace) -> int:
    from mlwarden.hashing import HashingConfig  # noqa: PLC0415
    from mlwarden.services.approve import approve  # noqa: PLC0415
    from mlwarden.services.gate import parse_when  # noqa: PLC0415
    from mlwarden.signing import dump_bundle  # noqa: PLC0415

    key, chain = signing_material(args)
    output: Path = args.output or Path("approval.att.json")
    if output.resolve().is_relative_to(args.path.resolve()):
        raise MlwardenError(
            f"{output} is inside the model",
            hint="write approvals beside the model, e.g. -o att/approval.json",
        )
    config = HashingConfig().use_blake3() if args.hash == "blake3" else HashingConfig()
    bundle = approve(
        args.path,
        key,
        reason=args.reason,
        expires=parse_when(args.expires) if args.expires else None,
        scope=args.scope,
        config=config,
        password=password_from_env(args.password_env),
        certificate_chain=chain,
    )
    write_atomic(output, dump_bundle(bundle))
    say(f"mlwarden: approval of {args.path} written to {output}")
    return EXIT_OK
