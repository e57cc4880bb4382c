"""``mlwarden train``: run a training command and record signed SLSA v1 provenance for its output.

Only argparse is imported here; the library is imported when the command runs, so ``mlwarden``
starts as fast as before.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from mlwarden.cli._io import password_from_env, read_input, say, write_atomic
from mlwarden.cli.exit_codes import EXIT_OK
from mlwarden.errors import UsageError

if TYPE_CHECKING:
    from mlwarden.hashing import HashingConfig
    from mlwarden.provenance.training import TrainingRun

P = TypeVar("P", bound=argparse.ArgumentParser)

TRAIN_EXAMPLES = """\
examples:
  mlwarden train --data train.manifest.json --output runs/m1 -- python train.py --out runs/m1
  mlwarden train --data train.sig --data-key data.pub --base-model ./base --seed 1234 \\
      --key builder.pem --output out/model -- torchrun --nproc-per-node 8 train.py
  mlwarden train --seed 42 --seed data=7 --output out -- ./train.sh

The command after -- runs without a shell, in the current directory (or --workdir), with the
terminal inherited; Ctrl-C and SIGTERM reach it. Before it starts, the dataset manifests are read
(and verified with --data-key), the base model is hashed and the git state and environment
(Python, installed packages, OS, CUDA) are recorded, so a bad input fails at once. After it exits 0
the output directory is hashed (as 'mlwarden hash' does); its root digest is the subject of an
in-toto Statement v1 with an SLSA Provenance v1 predicate, signed with --key as a Sigstore bundle.
Kept in a folder of attestations, it is what 'mlwarden verify MODEL ... --attestations DIR
--require-attestation provenance' looks for (hash with the model signature's --hash).

The command sees: MLWARDEN_SEED and PYTHONHASHSEED (--seed N), MLWARDEN_SEED_<NAME> (--seed
NAME=N) and MLWARDEN_OUTPUT_DIR. Only seed and determinism variables are recorded from the
environment, and secret-looking options (--hf-token X) are redacted from the recorded command.

exit codes: 0 provenance recorded; 2 usage or runtime error, or the command failed or left no
output (nothing is recorded then).
"""


def add_train_command(commands: argparse._SubParsersAction[P], parser_class: type[P]) -> None:
    """Add ``train`` to ``commands``; ``parser_class`` (main's one-line-error parser) types the sub-parser."""
    train = commands.add_parser(
        "train",
        help="run a training command and record signed SLSA provenance for the model it writes",
        description="Run a training command and record what went in (code, data, base model,\n"
        "environment, seeds) and what came out (the model's root digest) as SLSA Provenance v1.",
        epilog=TRAIN_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    train.add_argument(
        "--output",
        "-o",
        required=True,
        type=Path,
        metavar="DIR",
        help="the model directory the command writes (created if missing; hashed after the run)",
    )
    train.add_argument(
        "--data",
        action="append",
        default=[],
        type=Path,
        metavar="MANIFEST",
        help="dataset manifest (statement or signed bundle) the run reads; repeatable",
    )
    train.add_argument(
        "--data-key",
        type=Path,
        metavar="PUB",
        help="public key every --data manifest must be signed with (unsigned ones are refused)",
    )
    train.add_argument(
        "--base-model", type=Path, metavar="PATH", help="model directory or file the run starts from"
    )
    train.add_argument(
        "--provenance",
        type=Path,
        metavar="FILE",
        help="where to write the provenance (default: <output>.provenance.json, beside the output)",
    )
    train.add_argument(
        "--key",
        type=Path,
        metavar="KEY",
        help="PEM private key to sign the provenance with, or env:VAR to read $VAR (hidden from the command)",
    )
    train.add_argument(
        "--password-env", metavar="VAR", help="the key's password is in $VAR (hidden from the command)"
    )
    train.add_argument(
        "--seed",
        action="append",
        default=[],
        metavar="N|NAME=N",
        help="seed exported to the command and recorded: N as MLWARDEN_SEED and PYTHONHASHSEED, "
        "NAME=N as MLWARDEN_SEED_NAME; repeatable",
    )
    train.add_argument(
        "--builder-id",
        metavar="URI",
        help="who vouches for the run (default: https://mlwarden.dev/builders/local@v1)",
    )
    train.add_argument("--workdir", type=Path, metavar="DIR", help="run the command in DIR (default: here)")
    train.add_argument(
        "--hash",
        choices=["sha256", "blake3"],
        default="sha256",
        help="file digest for the output and base model (default: sha256)",
    )
    train.add_argument(
        "--ignore",
        action="append",
        default=[],
        metavar="PATH",
        help="path inside the output to leave out of its digest, such as logs/ (repeatable)",
    )
    train.add_argument(
        "--allow-symlinks", action="store_true", help="hash symlinks that stay inside the output"
    )
    train.add_argument(
        "command",
        nargs=argparse.REMAINDER,
        metavar="-- CMD ...",
        help="the training command and its arguments",
    )
    train.set_defaults(handler=_cmd_train)


def _command(args: argparse.Namespace) -> list[str]:
    command = list(args.command)
    if command[:1] == ["--"]:  # argparse keeps the separator in a REMAINDER
        command = command[1:]
    if not command or not command[0]:
        raise UsageError(
            "mlwarden train: no training command given",
            hint="put it after --, for example: mlwarden train --output out -- python train.py",
        )
    return command


def _provenance_path(args: argparse.Namespace) -> Path:
    """``--provenance``, else ``<output>.provenance.json`` beside (never inside) the output directory."""
    output = args.output.resolve()
    if not output.name:
        raise UsageError(
            f"--output {args.output} is not a model directory", hint="name the directory to hash"
        )
    path: Path = (
        args.provenance if args.provenance is not None else output.with_name(output.name + ".provenance.json")
    )
    target = path.resolve()
    if target == output:
        raise UsageError("--provenance cannot be the output directory", hint="name a file beside it")
    if target.is_dir():
        raise UsageError(f"--provenance {path} is a directory", hint="name the file to write")
    parent = target.parent
    if not target.is_relative_to(output) and (not parent.is_dir() or not os.access(parent, os.W_OK)):
        raise UsageError(
            f"cannot write provenance to {path}: {parent} is not a writable directory",
            hint="choose another --provenance (checked before training starts)",
        )
    return path


def _hashing_config(args: argparse.Namespace, provenance: Path) -> HashingConfig:
    from mlwarden.hashing import HashingConfig  # noqa: PLC0415 - keep start-up light

    config = HashingConfig().use_blake3() if args.hash == "blake3" else HashingConfig()
    ignore = list(args.ignore)
    output, target = args.output.resolve(), provenance.resolve()
    if target.is_relative_to(output):  # never hash the provenance into its own subject
        ignore.append(target.relative_to(output).as_posix())
    return config.add_ignore_paths(ignore).set_allow_symlinks(args.allow_symlinks)


def _signing_key(args: argparse.Namespace) -> tuple[bytes, bytes | None] | None:
    """The private key and password, checked before training so a bad key cannot waste the run."""
    if args.key is None:
        if args.password_env is not None:
            raise UsageError("--password-env needs --key", hint="give the key to sign with")
        return None
    from mlwarden.signing import load_private_key  # noqa: PLC0415

    pem, password = read_input(args.key, "key"), password_from_env(args.password_env)
    load_private_key(pem, password)
    return pem, password


def _child_environment(args: argparse.Namespace) -> dict[str, str]:
    """Our environment minus the signing secrets: the training code has no business with them."""
    hidden = {args.password_env}
    if args.key is not None and str(args.key).startswith("env:"):
        hidden.add(str(args.key)[4:])
    return {name: value for name, value in os.environ.items() if name not in hidden}


def _cmd_train(args: argparse.Namespace) -> int:
    import json  # noqa: PLC0415 - keep start-up light

    from mlwarden.provenance.training import (  # noqa: PLC0415
        DEFAULT_BUILDER_ID,
        parse_seeds,
        run_training,
    )

    command = _command(args)
    seeds = parse_seeds(args.seed)
    provenance = _provenance_path(args)
    config = _hashing_config(args, provenance)
    key = _signing_key(args)
    trust = None
    if args.data_key is not None:
        if not args.data:
            raise UsageError("--data-key needs --data", hint="name the dataset manifests to verify")
        from mlwarden.signing import KeyTrust  # noqa: PLC0415

        trust = KeyTrust(read_input(args.data_key, "public key"))

    run = run_training(
        command,
        output_dir=args.output,
        data_manifests=args.data,
        data_trust=trust,
        base_model=args.base_model,
        seeds=seeds,
        builder_id=args.builder_id or DEFAULT_BUILDER_ID,
        workdir=args.workdir,
        env=_child_environment(args),
        hashing_config=config,
    )
    statement = run.to_statement()
    if key is not None:
        from mlwarden.signing import dump_bundle, sign_statement  # noqa: PLC0415

        text = dump_bundle(sign_statement(statement, key[0], password=key[1]))
    else:
        text = json.dumps(statement, indent=2, ensure_ascii=False) + "\n"
    write_atomic(provenance, text, what="--provenance")
    say(_summary(run, provenance, signed=key is not None))
    return EXIT_OK


def _summary(run: TrainingRun, provenance: Path, *, signed: bool) -> str:
    files = len(run.output.resources)
    facts: list[str] = [
        f"root {run.root_digest[:16]}…",
        f"{files} file{'s' if files != 1 else ''}",
        f"{len(run.datasets)} dataset{'s' if len(run.datasets) != 1 else ''}",
        f"ran {run.duration_seconds:.1f}s",
    ]
    if run.git is None:
        facts.append("no git commit")
    elif run.git.get("dirty"):
        facts.append("git tree dirty")
    if run.signals:
        facts.append(f"stopped by {', '.join(sorted(set(run.signals)))}")
    what = "signed" if signed else "UNSIGNED"
    tail = "" if signed else "; pass --key KEY to sign it"
    details = ", ".join(facts)
    return f"mlwarden: recorded {what} provenance for {run.output_dir} ({details}) in {provenance}{tail}"
