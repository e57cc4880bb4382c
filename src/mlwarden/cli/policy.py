"""``mlwarden policy list | show | validate | eval | test | evidence-schema``: policies as code, tested.

Hooked into ``mlwarden.cli.main.build_parser`` by :func:`add_policy_commands`. Only argparse is imported
here; pydantic, PyYAML, CEL and rich are imported when a command runs, so ``mlwarden --help`` stays fast.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from mlwarden.cli._io import read_input, say, write_atomic

if TYPE_CHECKING:
    from mlwarden.policy import Decision, Policy

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_ERROR = 2

POLICY_EXAMPLES = """\
examples:
  mlwarden policy list                              the shipped policies
  mlwarden policy show production > policy.yaml     start your own from a shipped one
  mlwarden policy validate policy.yaml              schema, references and CEL; exit 0 or 2
  mlwarden policy eval evidence.json --policy policy.yaml --format sarif -o policy.sarif
  mlwarden policy eval evidence.json --opa-url http://127.0.0.1:8181
  mlwarden policy test policy.yaml tests/evidence/  every recorded evidence file against its expectation

A policy argument is a shipped name (baseline, production, dev) or a file path; write ./NAME to mean a
file that has a shipped policy's name. Recorded evidence files say what they expect by their name
(NAME.allow.json, NAME.deny.json) or by a top-level "expect" key:
  "expect": "deny"   or   "expect": {"decision": "deny", "rules": {"safe-formats": "fail"}}

exit codes: validate: 0 valid, 2 invalid. eval: 0 allowed, 1 denied (also for a missing, empty or
invalid policy, as in 'mlwarden gate'), 2 unusable evidence or usage. test: 0 every expectation held,
1 one did not (or a file has none), 2 unusable policy or no evidence. See docs/policy.md.
"""


def add_policy_commands(
    commands: argparse._SubParsersAction[Any], parser_class: type[argparse.ArgumentParser]
) -> None:
    """Add ``policy list``, ``show``, ``validate``, ``eval``, ``test`` and ``evidence-schema``."""
    policy = commands.add_parser(
        "policy",
        help="policy files: list and show the shipped ones, validate, evaluate and test your own",
        description="Work with mlwarden policies (apiVersion mlwarden.dev/policy/v1): the rules "
        "'mlwarden gate' applies to the evidence it collects about a model.",
        epilog=POLICY_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = policy.add_subparsers(
        dest="policy_command", metavar="SUBCOMMAND", parser_class=parser_class, required=True
    )

    def command(name: str, summary: str, description: str) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = sub.add_parser(
            name,
            help=summary,
            description=description,
            epilog=POLICY_EXAMPLES,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        return parser

    listing = command("list", "list the shipped policies", "List the policies shipped with mlwarden.")
    listing.set_defaults(handler=_cmd_list)

    show = command(
        "show", "print a policy's YAML", "Print a shipped policy (or a policy file, once it validates)."
    )
    show.add_argument("policy", metavar="NAME|FILE")
    show.set_defaults(handler=_cmd_show)

    validate = command(
        "validate",
        "check policy files (schema, references, CEL)",
        "Check each policy file: the schema (unknown keys are errors), rule ids and the names rules and "
        "waivers refer to, and that every CEL expression compiles to a bool.",
    )
    validate.add_argument("files", nargs="+", metavar="FILE", help="policy file or shipped name")
    validate.set_defaults(handler=_cmd_validate)

    evaluate = command(
        "eval",
        "judge one recorded evidence document",
        "Evaluate a policy (or an OPA server) over an evidence document, as 'mlwarden gate' does over the "
        "evidence it collects.",
    )
    evaluate.add_argument("evidence", type=Path, metavar="EVIDENCE", help="evidence document (JSON)")
    engine = evaluate.add_mutually_exclusive_group(required=True)
    engine.add_argument("--policy", "-p", metavar="NAME|FILE", help="shipped policy name or policy file")
    engine.add_argument(
        "--opa-url", metavar="URL", help="ask this OPA server instead (POST to /v1/data/mlwarden/gate)"
    )
    evaluate.add_argument(
        "--opa-timeout", type=float, default=10.0, metavar="S", help="seconds to wait for OPA (default: 10)"
    )
    evaluate.add_argument(
        "--format", "-f", choices=["table", "json", "sarif"], default="table", help="output format"
    )
    evaluate.add_argument("--output", "-o", type=Path, metavar="FILE", help="write the decision to FILE")
    evaluate.set_defaults(handler=_cmd_eval)

    test = command(
        "test",
        "run a policy against recorded evidence and check the expected decisions",
        "Evaluate a policy over recorded evidence files and compare each decision with the file's "
        'expectation (NAME.allow.json / NAME.deny.json, or an "expect" key), so policies have tests.',
    )
    test.add_argument("policy", metavar="POLICY", help="shipped policy name or policy file")
    test.add_argument(
        "evidence",
        nargs="+",
        type=Path,
        metavar="EVIDENCE",
        help="evidence file, or a folder of *.json files",
    )
    test.add_argument("--format", "-f", choices=["table", "json"], default="table", help="output format")
    test.set_defaults(handler=_cmd_test)

    schema = command(
        "evidence-schema",
        "print the JSON Schema of the evidence document",
        "Print the JSON Schema (draft 2020-12) of the evidence document that policies, CEL expressions "
        "and OPA see (docs/evidence.schema.json).",
    )
    schema.set_defaults(handler=_cmd_evidence_schema)


def _cmd_list(args: argparse.Namespace) -> int:
    from mlwarden.policy import load_policy, shipped_names  # noqa: PLC0415

    for name in shipped_names():
        policy = load_policy(name)
        rules = len(policy.document.rules)
        print(f"{name:<12} {policy.mode:<8} {rules} rules  {policy.document.description}")
    return EXIT_OK


def _cmd_show(args: argparse.Namespace) -> int:
    from mlwarden.policy import load_policy  # noqa: PLC0415

    text = load_policy(args.policy).text
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return EXIT_OK


def _cmd_validate(args: argparse.Namespace) -> int:
    import datetime as dt  # noqa: PLC0415

    from mlwarden.policy import PolicyError, load_policy  # noqa: PLC0415

    status = EXIT_OK
    today = dt.datetime.now(dt.UTC).date()
    for name in args.files:
        try:
            policy = load_policy(name)
        except PolicyError as exc:
            say(f"mlwarden: error: {exc.diagnostics()}")
            status = EXIT_ERROR
            continue
        document = policy.document
        print(
            f"{policy.source}: valid ({len(document.rules)} rules, mode {document.mode}, "
            f"{len(document.waivers)} waivers)"
        )
        for waiver in document.waivers:
            if waiver.expires < today:
                say(
                    f"mlwarden: note: {policy.source}: waiver for {waiver.describe()} expired on "
                    f"{waiver.expires.isoformat()} ({waiver.owner}); its rule fails until renewed or removed"
                )
    return status


def _cmd_evidence_schema(args: argparse.Namespace) -> int:
    import json  # noqa: PLC0415

    from mlwarden.policy import evidence_json_schema  # noqa: PLC0415

    json.dump(evidence_json_schema(), sys.stdout, indent=2)
    sys.stdout.write("\n")
    return EXIT_OK


def _read_evidence(path: Path) -> Any:
    import json  # noqa: PLC0415

    from mlwarden.policy import EvidenceError  # noqa: PLC0415

    try:
        return json.loads(read_input(path, "evidence"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise EvidenceError(f"{path}: not JSON: {exc}", hint="give an evidence document (JSON)") from None


def _cmd_eval(args: argparse.Namespace) -> int:
    from mlwarden.policy import (  # noqa: PLC0415
        Decision,
        InvalidPolicyError,
        evaluate,
        evaluate_opa,
        load_policy,
        opa_endpoint,
        render_decision,
        validate_evidence,
    )

    document = validate_evidence(_read_evidence(args.evidence), str(args.evidence))
    if args.opa_url is not None:
        opa_endpoint(args.opa_url)  # a malformed URL is a usage error, not a decision
        decision = evaluate_opa(args.opa_url, document, timeout=args.opa_timeout)
    else:
        try:
            decision = evaluate(load_policy(args.policy), document)
        except InvalidPolicyError as exc:  # as in 'mlwarden gate': an unusable policy denies
            say(f"mlwarden: denied: {exc.diagnostics()}")
            decision = Decision.from_error(exc, source=args.policy)
    if args.output is not None:
        write_atomic(args.output, lambda out: render_decision(decision, args.format, out))
        say(f"mlwarden: {decision.summary()}; {args.format} written to {args.output}")
    else:
        render_decision(decision, args.format, sys.stdout)
    return EXIT_OK if decision.allowed else EXIT_FAILED


@dataclass(slots=True)
class _Case:
    """One recorded evidence file and what became of it."""

    file: Path
    expected: str = ""
    rules: dict[str, str] = field(default_factory=dict)
    got: str = ""
    ok: bool = False
    detail: str = ""
    decision: dict[str, Any] | None = None


def _evidence_files(paths: list[Path]) -> list[Path]:
    from mlwarden.errors import UsageError  # noqa: PLC0415

    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files += sorted(p for p in path.rglob("*.json") if p.is_file())
        else:
            files.append(path)
    if not files:
        raise UsageError("no evidence files found", hint="give *.json evidence files or folders holding them")
    return files


def _expectation(case: _Case, document: Any) -> Any:
    """Read the expectation from the file name and the ``expect`` key; return the bare evidence."""
    by_name = next((d for d in ("allow", "deny") if case.file.name.endswith(f".{d}.json")), "")
    expect = document.pop("expect", None) if isinstance(document, dict) else None
    by_key = ""
    if isinstance(expect, str):
        by_key = expect
    elif isinstance(expect, dict):
        by_key = str(expect.get("decision", ""))
        rules = expect.get("rules", {})
        if not isinstance(rules, dict) or not all(isinstance(v, str) for v in rules.values()):
            raise ValueError('"expect.rules" must map rule ids to pass, fail, waived, error or skipped')
        case.rules = {str(k): v for k, v in rules.items()}
    elif expect is not None:
        raise ValueError('"expect" must be "allow", "deny" or an object with "decision" and "rules"')
    if by_key and by_key not in ("allow", "deny"):
        raise ValueError(f'"expect" decision {by_key!r} is not allow or deny')
    if by_name and by_key and by_name != by_key:
        raise ValueError(f"the file name says {by_name} but its expect key says {by_key}")
    case.expected = by_key or by_name
    if not case.expected and not case.rules:
        raise ValueError(
            'no expectation: name the file NAME.allow.json or NAME.deny.json, or add an "expect" key'
        )
    return document


def _run_case(policy: Policy, case: _Case) -> None:
    from mlwarden.policy import EvidenceError, evaluate, validate_evidence  # noqa: PLC0415

    try:
        document = _expectation(case, _read_evidence(case.file))
        decision = evaluate(policy, validate_evidence(document, str(case.file)))
    except (EvidenceError, ValueError) as exc:
        case.got, case.detail = "error", exc.message if isinstance(exc, EvidenceError) else str(exc)
        return
    case.decision = decision.to_dict()
    case.got = "allow" if decision.allowed else "deny"
    outcomes = {o.rule_id: o.outcome.value for o in decision.outcomes}
    problems = []
    if case.expected and case.expected != case.got:
        problems.append(_why(decision))
    for rule_id, expected in case.rules.items():
        got = outcomes.get(rule_id, "absent")
        if got != expected:
            problems.append(f"{rule_id}: expected {expected}, got {got}")
    case.ok = not problems
    case.detail = "; ".join(problems) if problems else decision.summary()


def _why(decision: Decision) -> str:
    return "; ".join(decision.reasons) if decision.reasons else decision.summary()


def _cmd_test(args: argparse.Namespace) -> int:
    import json  # noqa: PLC0415

    from mlwarden.policy import load_policy  # noqa: PLC0415

    policy = load_policy(args.policy)
    cases = [_Case(path) for path in _evidence_files(args.evidence)]
    for case in cases:
        _run_case(policy, case)
    held = sum(c.ok for c in cases)
    if args.format == "json":
        doc = {
            "policy": policy.name,
            "source": policy.source,
            "held": held,
            "total": len(cases),
            "cases": [
                {
                    "file": str(c.file),
                    "expected": c.expected or None,
                    "expected_rules": c.rules,
                    "got": c.got,
                    "ok": c.ok,
                    "detail": c.detail,
                    "decision": c.decision,
                }
                for c in cases
            ],
        }
        json.dump(doc, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        _test_table(policy, cases, sys.stdout)
    return EXIT_OK if held == len(cases) else EXIT_FAILED


def _test_table(policy: Policy, cases: list[_Case], out: TextIO) -> None:
    from rich.console import Console  # noqa: PLC0415 - only people's output pays for rich
    from rich.markup import escape  # noqa: PLC0415
    from rich.table import Table  # noqa: PLC0415

    console = Console(file=out, soft_wrap=False, highlight=False, width=None if out.isatty() else 160)
    table = Table(title=f"policy test {escape(policy.name)}", title_justify="left", header_style="bold")
    table.add_column("evidence", overflow="fold")
    table.add_column("expected", no_wrap=True)
    table.add_column("got", no_wrap=True)
    table.add_column("result", no_wrap=True)
    table.add_column("detail", overflow="fold")
    for case in cases:
        expected = case.expected + (f" +{len(case.rules)} rule(s)" if case.rules else "")
        result = "[green]ok[/]" if case.ok else "[bold red]FAILED[/]"
        table.add_row(escape(str(case.file)), expected or "?", case.got, result, escape(case.detail))
    console.print(table)
    held = sum(c.ok for c in cases)
    colour = "green" if held == len(cases) else "red"
    console.print(f"[bold {colour}]policy test: {held} of {len(cases)} expectation(s) held[/]")
