"""``mlwarden train`` end to end: a real training command, real keys, real manifests, real files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from mlwarden.cli.main import main
from mlwarden.hashing import HashingConfig, hash_model
from mlwarden.signing import (
    KeyTrust,
    VerificationError,
    generate_key,
    public_key_pem,
    sign_statement,
    verify_statement,
)

TRAIN = textwrap.dedent(
    """
    import os, pathlib, sys
    out = pathlib.Path(os.environ["MLWARDEN_OUTPUT_DIR"])
    (out / "weights.bin").write_bytes(os.urandom(2048))
    (out / "seed.txt").write_text(os.environ.get("MLWARDEN_SEED", "none"))
    (pathlib.Path.cwd() / "ran.marker").write_text("the command ran")
    print("epoch 1/1 done")
    sys.exit(int(sys.argv[1]) if sys.argv[1:] else 0)
    """
)
DATASET_TYPE = "https://mlwarden.dev/attestation/dataset-manifest/v1"
ROOT = "ab" * 32


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory holding train.py, a key pair, and dataset manifests (plain and signed)."""
    (tmp_path / "train.py").write_text(TRAIN)
    key = generate_key()
    (tmp_path / "builder.pem").write_bytes(key)
    (tmp_path / "builder.pub").write_bytes(public_key_pem(key))
    (tmp_path / "other.pub").write_bytes(public_key_pem(generate_key()))
    data_key = generate_key()
    (tmp_path / "data.pub").write_bytes(public_key_pem(data_key))
    statement = {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "train-set", "digest": {"sha256": ROOT}}],
        "predicateType": DATASET_TYPE,
        "predicate": {},
    }
    (tmp_path / "data.json").write_text(json.dumps(statement))
    (tmp_path / "data.sig").write_text(json.dumps(sign_statement(statement, data_key)))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def train(*args: str) -> int:
    return main(["train", *args])


def one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    return lines[0]


def test_signed_provenance_verifies_and_names_the_trained_model(
    work: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    code = train(
        "--output", "model", "--key", "builder.pem", "--seed", "7",
        "--data", "data.sig", "--data-key", "data.pub",
        "--", sys.executable, "train.py",
    )  # fmt: skip
    out, err = capfd.readouterr()
    assert code == 0, err
    assert "epoch 1/1 done" in out  # the command's own output reaches the terminal
    assert "recorded signed provenance" in one_line(err)
    assert (work / "model" / "seed.txt").read_text() == "7"

    provenance = work / "model.provenance.json"  # beside the model, not inside
    umask = os.umask(0)
    os.umask(umask)
    assert provenance.stat().st_mode & 0o777 == 0o666 & ~umask  # shareable, not the temp file's 0600
    assert [p.name for p in work.iterdir() if p.name.endswith(".tmp")] == []
    bundle = json.loads(provenance.read_text())
    statement, signer = verify_statement(bundle, KeyTrust((work / "builder.pub").read_bytes()))
    assert signer.method == "key"
    assert statement["predicateType"] == "https://slsa.dev/provenance/v1"
    assert statement["subject"][0]["digest"]["sha256"] == hash_model(work / "model").root_digest
    (dataset,) = [
        d
        for d in statement["predicate"]["buildDefinition"]["resolvedDependencies"]
        if d["annotations"].get("kind") == "dataset"
    ]
    assert dataset["digest"] == {"sha256": ROOT}
    assert dataset["annotations"]["manifestVerified"] is True
    with pytest.raises(VerificationError):
        verify_statement(bundle, KeyTrust((work / "other.pub").read_bytes()))


def test_without_a_key_the_statement_is_written_unsigned_and_says_so(
    work: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    code = train(
        "--output", "model", "--data", "data.json", "--hash", "blake3", "--", sys.executable, "train.py"
    )
    err = capfd.readouterr().err
    assert code == 0, err
    assert "UNSIGNED" in one_line(err) and "--key" in err
    statement: dict[str, Any] = json.loads((work / "model.provenance.json").read_text())
    assert statement["_type"] == "https://in-toto.io/Statement/v1"
    config = HashingConfig().use_blake3()
    assert statement["subject"][0]["digest"]["sha256"] == hash_model(work / "model", config).root_digest


def test_provenance_inside_the_output_is_left_out_of_its_digest(work: Path) -> None:
    code = train(
        "--output", "model", "--provenance", "model/provenance.json", "--", sys.executable, "train.py"
    )
    assert code == 0
    statement = json.loads((work / "model" / "provenance.json").read_text())
    config = HashingConfig().add_ignore_paths(["provenance.json"])
    assert statement["subject"][0]["digest"]["sha256"] == hash_model(work / "model", config).root_digest


def test_a_failing_command_records_nothing(work: Path, capfd: pytest.CaptureFixture[str]) -> None:
    code = train("--output", "model", "--key", "builder.pem", "--", sys.executable, "train.py", "3")
    assert code == 2
    assert (
        one_line(capfd.readouterr().err)
        == "mlwarden: error: training command exited 3; no provenance recorded"
    )
    assert not (work / "model.provenance.json").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--output", "model"], "no training command given"),
        (["--output", "model", "--"], "no training command given"),
        (["--", sys.executable, "train.py"], "--output"),
        (
            ["--output", "model", "--", "no-such-trainer-xyz"],
            "training command not found: no-such-trainer-xyz",
        ),
        (["--output", "model", "--seed", "x=abc", "--", sys.executable, "train.py"], "not an integer"),
        (["--output", "model", "--password-env", "PW", "--", sys.executable, "train.py"], "needs --key"),
        (["--output", "model", "--data-key", "data.pub", "--", sys.executable, "train.py"], "needs --data"),
        (["--output", "model", "--key", "data.pub", "--", sys.executable, "train.py"], "private key"),
        (["--output", "model", "--key", "missing.pem", "--", sys.executable, "train.py"], "cannot read key"),
        (
            [
                "--output",
                "model",
                "--data",
                "data.json",
                "--data-key",
                "data.pub",
                "--",
                sys.executable,
                "train.py",
            ],
            "is not signed",
        ),
        (
            [
                "--output",
                "model",
                "--data",
                "data.sig",
                "--data-key",
                "other.pub",
                "--",
                sys.executable,
                "train.py",
            ],
            "does not verify",
        ),
        (
            ["--output", "model", "--provenance", "nodir/p.json", "--", sys.executable, "train.py"],
            "not a writable directory",
        ),
    ],
)
def test_bad_input_is_one_line_exit_2_and_nothing_runs(
    work: Path, capfd: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert train(*args) == 2
    err = one_line(capfd.readouterr().err)
    assert err.startswith("mlwarden: error:") and message in err
    assert not (work / "ran.marker").exists()  # checked before the training started
    assert not (work / "model.provenance.json").exists()


def test_help_shows_examples_and_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["train", "--help"])
    assert exited.value.code == 0
    text = capsys.readouterr().out
    assert "examples:" in text and "exit codes:" in text and "MLWARDEN_SEED" in text


@pytest.mark.skipif(os.name != "posix", reason="POSIX signals")
def test_sigint_to_mlwarden_reaches_the_command_which_then_fails(work: Path) -> None:
    # No terminal: a SIGINT sent to mlwarden alone is forwarded; the command stops with 130 and
    # nothing is recorded.
    script = textwrap.dedent(
        """
        import os, signal, sys, time
        signal.alarm(30)
        try:
            os.kill(os.getppid(), signal.SIGINT)
            while True:
                time.sleep(0.1)
        except KeyboardInterrupt:
            print("interrupted: saving checkpoint", flush=True)
            sys.exit(130)
        """
    )
    done = subprocess.run(
        [sys.executable, "-m", "mlwarden", "train", "--output", "model", "--", sys.executable, "-c", script],
        cwd=work,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        start_new_session=True,  # no controlling terminal
        check=False,
    )
    assert "interrupted: saving checkpoint" in done.stdout
    assert done.returncode == 2
    assert one_line(done.stderr) == "mlwarden: error: training command exited 130; no provenance recorded"
    assert not (work / "model.provenance.json").exists()


def verify_with_provenance() -> int:
    args = ["--signature", "model.sig", "--key", "builder.pub", "--attestations", "att"]
    return main(["verify", "model", *args, "--require-attestation", "provenance"])


def test_signed_provenance_satisfies_verify_require_attestation(work: Path) -> None:
    # train -> sign the model -> verify the signature and require the provenance attestation
    (work / "att").mkdir()
    code = train(
        "--output", "model", "--key", "builder.pem", "--provenance", "att/model.provenance.json",
        "--", sys.executable, "train.py",
    )  # fmt: skip
    assert code == 0
    assert main(["sign", "model", "--key", "builder.pem", "-o", "model.sig"]) == 0
    assert verify_with_provenance() == 0

    (work / "model" / "weights.bin").write_bytes(b"retrained elsewhere")
    assert main(["sign", "model", "--key", "builder.pem", "-o", "model.sig"]) == 0
    assert verify_with_provenance() == 1  # the provenance is about other bytes


def test_key_from_the_environment_is_hidden_from_the_command(
    work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = generate_key(password=b"s3cret")
    monkeypatch.setenv("BUILDER_KEY", key.decode())
    monkeypatch.setenv("BUILDER_KEY_PASSWORD", "s3cret")
    peek = (
        "import os, pathlib; out = pathlib.Path(os.environ['MLWARDEN_OUTPUT_DIR']); "
        "seen = [v for v in ('BUILDER_KEY', 'BUILDER_KEY_PASSWORD') if v in os.environ]; "
        "(out / 'seen.txt').write_text(repr(seen))"
    )
    code = train(
        "--output", "model", "--key", "env:BUILDER_KEY", "--password-env", "BUILDER_KEY_PASSWORD",
        "--", sys.executable, "-c", peek,
    )  # fmt: skip
    assert code == 0
    assert (work / "model" / "seen.txt").read_text() == "[]"
    bundle = json.loads((work / "model.provenance.json").read_text())
    statement, _ = verify_statement(bundle, KeyTrust(public_key_pem(key, b"s3cret")))
    assert statement["subject"][0]["digest"]["sha256"] == hash_model(work / "model").root_digest
