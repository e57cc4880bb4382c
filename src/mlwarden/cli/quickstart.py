"""``mlwarden quickstart``: build a demo workspace and gate it with the production policy, offline.

Hooked into ``mlwarden.cli.main.build_parser`` by :func:`add_quickstart_command`. Only argparse is
imported here; the library and rich are imported when the command runs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from mlwarden.cli._io import say

if TYPE_CHECKING:
    from mlwarden.services.quickstart import QuickstartResult

EXIT_OK = 0
EXIT_UNEXPECTED = 1

QUICKSTART_EXAMPLES = """\
examples:
  mlwarden quickstart                         build ./mlwarden-quickstart and gate its four models
  mlwarden quickstart --dir /tmp/mlw-demo     somewhere else
  mlwarden quickstart --format json           the outcomes as JSON (progress stays on stderr)

The workspace holds two keys (keys/publisher.pem signs, keys/approver.pem approves), the production
policy with the approver's key in its approvers role, and four models: benign (signed, with scan,
capability and SLSA provenance attestations), malicious (a pickle calling os.system; signed and
attested all the same), faceswap (an ONNX graph shaped like inswapper_128; gated before and after
the approver signs an approval) and unsigned. Every file is written by mlwarden itself, nothing is
downloaded, and the malicious pickle is only ever scanned.

Re-running rebuilds a quickstart workspace in place; a --dir holding anything else is refused
unless --force is given (even then, only the quickstart's own entries are replaced).

exit codes: 0 every model got the decision the demo expects (denials included: they are the point),
1 a decision differed from the expected one (a bug: please report it), 2 usage or runtime error.
"""


def add_quickstart_command(commands: argparse._SubParsersAction[Any], parser_class: type[Any]) -> None:
    """Add ``quickstart`` to the top-level sub-commands (``parser_class``: main's one-line-error parser)."""
    del parser_class  # the sub-parser's class comes from the sub-parsers action
    quickstart = commands.add_parser(
        "quickstart",
        help="build a demo workspace and run scan, classify, sign, attest and gate on it (offline, seconds)",
        description="Create signed, attested, malicious, face-swap and unsigned demo models with two keys, "
        "gate each with the production policy, and show what was allowed and why the others were denied.",
        epilog=QUICKSTART_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    quickstart.add_argument(
        "--dir",
        type=Path,
        default=Path("mlwarden-quickstart"),
        metavar="DIR",
        help="workspace to create (default: ./mlwarden-quickstart)",
    )
    quickstart.add_argument(
        "--force",
        action="store_true",
        help="write into DIR even if it is not a previous quickstart workspace",
    )
    quickstart.add_argument(
        "--format", "-f", choices=["table", "json"], default="table", help="output format (default: table)"
    )
    quickstart.add_argument("--quiet", "-q", action="store_true", help="no progress lines on stderr")
    quickstart.set_defaults(handler=_cmd_quickstart)


def _cmd_quickstart(args: argparse.Namespace) -> int:
    from mlwarden.services.quickstart import run_quickstart  # noqa: PLC0415

    def progress(line: str) -> None:
        say(f"mlwarden quickstart: {line}")

    result = run_quickstart(args.dir, force=args.force, progress=None if args.quiet else progress)
    if args.format == "json":
        import json  # noqa: PLC0415

        json.dump(result.to_dict(), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        render_summary(result, sys.stdout)
    if not result.ok:
        wrong = ", ".join(o.label for o in result.outcomes if not o.as_expected)
        say(f"mlwarden quickstart: unexpected decision for {wrong}; please report this as a bug")
        return EXIT_UNEXPECTED
    return EXIT_OK


def render_summary(result: QuickstartResult, out: TextIO) -> None:
    """The outcome table, then the commands to try next."""
    from rich.console import Console  # noqa: PLC0415
    from rich.table import Table  # noqa: PLC0415

    console = Console(file=out, highlight=False, soft_wrap=False)
    table = Table(title=f"mlwarden quickstart: production policy on {result.workspace}", title_justify="left")
    table.add_column("model")
    table.add_column("decision")
    table.add_column("why", overflow="fold")
    for outcome in result.outcomes:
        decision = "[green]allow[/green]" if outcome.allowed else "[red]deny[/red]"
        if not outcome.as_expected:
            decision += " [bold yellow](unexpected)[/bold yellow]"
        table.add_row(outcome.label, decision, outcome.reason, end_section=False)
    console.print(table)
    denied = sum(not o.allowed for o in result.outcomes)
    console.print(
        f"{len(result.outcomes) - denied} allowed, {denied} denied in {result.seconds:.1f}s; decisions in "
        f"{result.workspace / 'reports'}",
        markup=False,
    )
    out.write("\nTry next:\n")
    for command, shows in result.try_next:
        out.write(f"  {command}\n      # {shows}\n")
