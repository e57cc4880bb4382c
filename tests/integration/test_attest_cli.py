"""Certificates, several required signers, attestations and incremental re-signing, from the command line."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from mlwarden.cli.main import main
from mlwarden.hashing import hash_model
from mlwarden.signing.incremental import state_path
from tests.integration.test_signing_cli import model
from tests.pki import make_pki


def run(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlwarden", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
        check=False,
        env={**os.environ, **(env or {})},
    )


def keys(tmp_path: Path, *names: str) -> None:
    for name in names:
        assert main(["keygen", "--out", str(tmp_path / f"{name}.pem")]) == 0


def test_certificate_method_from_the_command_line(tmp_path: Path) -> None:
    model(tmp_path)
    files = make_pki().write(tmp_path)
    signed = run(
        "sign", "model", "--key", "leaf.key", "--cert", "leaf.pem", "--chain", "intermediate.pem",
        "-o", "model.sig", cwd=tmp_path,
    )  # fmt: skip
    assert signed.returncode == 0, signed.stderr
    ok = run(
        "verify", "model", "--signature", "model.sig", "--cert-identity", "release@example.com",
        "--ca", "ca.pem", cwd=tmp_path,
    )  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    assert "signed by certificate release@example.com" in ok.stdout
    wrong = run(
        "verify", "model", "--signature", "model.sig", "--cert-identity", "mallory@example.com",
        "--ca", "ca.pem", cwd=tmp_path,
    )  # fmt: skip
    assert wrong.returncode == 1
    assert wrong.stderr.startswith("mlwarden: error: unexpected signer identity")
    assert wrong.stderr.count("\n") == 1
    no_pair = run("verify", "model", "--signature", "model.sig", "--ca", str(files["ca.pem"]), cwd=tmp_path)
    assert no_pair.returncode == 2 and "--cert-identity and --ca go together" in no_pair.stderr
    no_trust = run("verify", "model", "--signature", "model.sig", cwd=tmp_path)
    assert no_trust.returncode == 2 and "no trust option given" in no_trust.stderr


def test_publisher_and_registry_must_both_sign(tmp_path: Path) -> None:
    model(tmp_path)
    keys(tmp_path, "publisher", "registry")
    for name in ("publisher", "registry"):
        assert main(["sign", str(tmp_path / "model"), "--key", str(tmp_path / f"{name}.pem"),
                     "-o", str(tmp_path / f"{name}.sig")]) == 0  # fmt: skip
    both = ["--key", str(tmp_path / "publisher.pub"), "--key", str(tmp_path / "registry.pub")]
    ok = run(
        "verify", "model", "--signature", "publisher.sig", "--signature", "registry.sig", *both,
        "--format", "json", cwd=tmp_path,
    )  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    doc = json.loads(ok.stdout)
    assert len({s["identity"] for s in doc["signers"]}) == 2
    only_one = run("verify", "model", "--signature", "publisher.sig", *both, cwd=tmp_path)
    assert only_one.returncode == 1
    assert "required signature missing" in only_one.stderr and only_one.stderr.count("\n") == 1


def test_attestations_are_bound_to_the_verified_bytes(tmp_path: Path) -> None:
    root = model(tmp_path)
    keys(tmp_path, "publisher", "stranger")
    key, pub = str(tmp_path / "publisher.pem"), str(tmp_path / "publisher.pub")
    att = tmp_path / "att"
    att.mkdir()
    assert main(["sign", str(root), "--key", key, "-o", str(tmp_path / "model.sig")]) == 0
    assert main(["attest", str(root), "--type", "scan", "--key", key, "-o", str(att / "scan.json")]) == 0
    scan = json.loads(att.joinpath("scan.json").read_text())
    assert scan["verificationMaterial"]["publicKey"]["hint"]
    verify = ["verify", str(root), "--signature", str(tmp_path / "model.sig"), "--key", pub]
    assert main([*verify, "--attestations", str(att), "--require-attestation", "scan"]) == 0

    missing = run(
        *verify, "--attestations", str(att), "--require-attestation", "scan", "--require-attestation",
        "provenance", cwd=tmp_path,
    )  # fmt: skip
    assert missing.returncode == 1 and "missing required attestation(s): provenance" in missing.stderr

    # Provenance from a predicate file (what 'mlwarden train' writes), signed by a stranger: rejected.
    slsa = {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "model", "digest": {"sha256": "00" * 32}}],
        "predicateType": "https://slsa.dev/provenance/v1",
        "predicate": {"buildDefinition": {"buildType": "x"}, "runDetails": {"builder": {"id": "y"}}},
    }
    (tmp_path / "prov.json").write_text(json.dumps(slsa))
    stranger = str(tmp_path / "stranger.pem")
    assert main(["attest", str(root), "--type", "provenance", "--predicate", str(tmp_path / "prov.json"),
                 "--key", stranger, "-o", str(att / "prov.json")]) == 0  # fmt: skip
    by_stranger = run(
        *verify, "--attestations", str(att), "--require-attestation", "provenance", cwd=tmp_path
    )
    assert by_stranger.returncode == 1 and "prov.json: wrong key" in by_stranger.stderr
    # ... unless the stranger is trusted for attestations.
    trusted = run(
        *verify, "--attestations", str(att), "--require-attestation", "provenance",
        "--attestation-key", str(tmp_path / "stranger.pub"), cwd=tmp_path,
    )  # fmt: skip
    assert trusted.returncode == 0, trusted.stderr

    # An attestation about older bytes does not count for the new ones.
    (root / "config.json").write_text('{"model_type": "retrained"}')
    assert main(["sign", str(root), "--key", key, "-o", str(tmp_path / "model.sig")]) == 0
    stale = run(*verify, "--attestations", str(att), "--require-attestation", "scan", cwd=tmp_path)
    assert stale.returncode == 1 and "about other bytes" in stale.stderr


def test_scan_attestation_records_the_findings(tmp_path: Path) -> None:
    root = tmp_path / "model"
    root.mkdir()
    (root / "model.pkl").write_bytes(pickle.dumps(os.system, protocol=2))  # a reference, never called
    keys(tmp_path, "k")
    out = tmp_path / "scan.att.json"
    assert (
        main(["attest", str(root), "--type", "scan", "--key", str(tmp_path / "k.pem"), "-o", str(out)]) == 0
    )
    from mlwarden.signing import KeyTrust, verify_statement

    body, _ = verify_statement(out.read_bytes(), KeyTrust((tmp_path / "k.pub").read_bytes()))
    assert body["subject"][0]["digest"]["sha256"] == hash_model(root).root_digest
    assert body["predicate"]["summary"]["max_severity"] == "critical"


def test_attest_bad_input(tmp_path: Path) -> None:
    model(tmp_path)
    keys(tmp_path, "k")
    unknown = run("attest", "model", "--type", "vibes", "--key", "k.pem", cwd=tmp_path)
    assert unknown.returncode == 2 and "unknown attestation type" in unknown.stderr
    no_predicate = run("attest", "model", "--type", "provenance", "--key", "k.pem", cwd=tmp_path)
    assert no_predicate.returncode == 2 and "needs --predicate" in no_predicate.stderr
    (tmp_path / "bad.json").write_text("[1, 2]")
    bad = run(
        "attest", "model", "--type", "provenance", "--predicate", "bad.json", "--key", "k.pem", cwd=tmp_path
    )
    assert bad.returncode == 2 and "not a JSON object" in bad.stderr
    nokey = run("attest", "model", "--type", "scan", cwd=tmp_path)
    assert nokey.returncode == 2 and "no signing key given" in nokey.stderr


def test_incremental_resign_reuses_only_unchanged_verified_digests(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    root = model(tmp_path)
    keys(tmp_path, "k", "other")
    sign = [
        "sign",
        str(root),
        "--key",
        str(tmp_path / "k.pem"),
        "-o",
        str(tmp_path / "model.sig"),
        "--incremental",
    ]
    first = run(*sign, cwd=tmp_path, env={"XDG_CACHE_HOME": str(tmp_path / "cache")})
    assert first.returncode == 0 and "hashed every file" in first.stderr
    assert state_path(root).is_file()
    (root / "config.json").write_text('{"model_type": "changed"}')
    second = run(*sign, cwd=tmp_path, env={"XDG_CACHE_HOME": str(tmp_path / "cache")})
    assert second.returncode == 0 and "reused 2 of 3 digest(s)" in second.stderr
    sig, pub = str(tmp_path / "model.sig"), str(tmp_path / "k.pub")
    verified = run("verify", str(root), "--signature", sig, "--key", pub, cwd=tmp_path)
    assert verified.returncode == 0, verified.stderr
    # A previous bundle by another key is never trusted for reuse.
    other = [
        "sign",
        str(root),
        "--key",
        str(tmp_path / "other.pem"),
        "-o",
        str(tmp_path / "model.sig"),
        "--incremental",
    ]
    third = run(*other, cwd=tmp_path, env={"XDG_CACHE_HOME": str(tmp_path / "cache")})
    assert third.returncode == 0 and "hashed every file" in third.stderr


def test_keys_from_the_environment(tmp_path: Path) -> None:
    model(tmp_path)
    keys(tmp_path, "k")
    env = {"SIGNING_KEY": (tmp_path / "k.pem").read_text(), "PUBLIC_KEY": (tmp_path / "k.pub").read_text()}
    assert (
        run("sign", "model", "--key", "env:SIGNING_KEY", "-o", "m.sig", cwd=tmp_path, env=env).returncode == 0
    )
    ok = run("verify", "model", "--signature", "m.sig", "--key", "env:PUBLIC_KEY", cwd=tmp_path, env=env)
    assert ok.returncode == 0, ok.stderr
    unset = run("sign", "model", "--key", "env:NOPE_NOT_SET", "-o", "m.sig", cwd=tmp_path)
    assert unset.returncode == 2 and "$NOPE_NOT_SET is not set" in unset.stderr
