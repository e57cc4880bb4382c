"""keygen, hash, sign and verify from the command line, with real keys and real files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlwarden", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
        check=False,
    )


def model(tmp_path: Path) -> Path:
    root = tmp_path / "model"
    (root / "sub").mkdir(parents=True)
    (root / "weights.bin").write_bytes(os.urandom(1 << 20))
    (root / "config.json").write_text('{"model_type": "demo"}')
    (root / "sub" / "tokenizer.txt").write_text("a b c\n")
    return root


def test_sign_and_verify_round_trip_and_every_failure(tmp_path: Path) -> None:
    root = model(tmp_path)
    assert run("keygen", "--out", "pub.pem", cwd=tmp_path).returncode == 0
    assert oct((tmp_path / "pub.pem").stat().st_mode & 0o777) == "0o600"
    again = run("keygen", "--out", "pub.pem", cwd=tmp_path)
    assert again.returncode == 2 and "already exists" in again.stderr
    assert run("keygen", "--out", "other.pem", "--curve", "P-384", cwd=tmp_path).returncode == 0

    signed = run("sign", "model", "--key", "pub.pem", "-o", "model/model.sig", cwd=tmp_path)
    assert signed.returncode == 0, signed.stderr
    bundle = json.loads((root / "model.sig").read_text())
    assert bundle["mediaType"] == "application/vnd.dev.sigstore.bundle.v0.3+json"

    ok = run("verify", "model", "--signature", "model/model.sig", "--key", "pub.pub", cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr  # the signature inside the model was left out of what is signed
    digest = run("hash", "model", "--ignore", "model.sig", "-f", "json", cwd=tmp_path)
    assert json.loads(digest.stdout)["root_digest"] in ok.stdout

    wrong_key = run("verify", "model", "--signature", "model/model.sig", "--key", "other.pub", cwd=tmp_path)
    assert wrong_key.returncode == 1 and wrong_key.stderr.count("\n") == 1

    (root / "extra.py").write_text("print('hi')\n")
    extra = run("verify", "model", "--signature", "model/model.sig", "--key", "pub.pub", cwd=tmp_path)
    assert extra.returncode == 1 and "extra.py" in extra.stderr
    (root / "extra.py").unlink()

    (root / "config.json").write_text('{"model_type": "tampered"}')
    modified = run("verify", "model", "--signature", "model/model.sig", "--key", "pub.pub", cwd=tmp_path)
    assert (
        modified.returncode == 1 and "config.json" in modified.stderr and "Traceback" not in modified.stderr
    )

    missing = run("verify", "model", "--signature", "nope.sig", "--key", "pub.pub", cwd=tmp_path)
    assert missing.returncode == 2 and "cannot read signature" in missing.stderr


def test_hash_blake3_and_shards(tmp_path: Path) -> None:
    model(tmp_path)
    sha = json.loads(run("hash", "model", "-f", "json", cwd=tmp_path).stdout)
    blake = json.loads(run("hash", "model", "--hash", "blake3", "-f", "json", cwd=tmp_path).stdout)
    shards = json.loads(run("hash", "model", "--shard-size", "65536", "-f", "json", cwd=tmp_path).stdout)
    assert sha["root_digest"] != blake["root_digest"] != shards["root_digest"]
    assert [r["name"] for r in sha["resources"]] == ["config.json", "sub/tokenizer.txt", "weights.bin"]
    assert len(shards["resources"]) == 2 + (1 << 20) // 65536
    table = run("hash", "model", cwd=tmp_path)
    assert table.returncode == 0 and "(root, sha256, 3 resources)" in table.stdout
