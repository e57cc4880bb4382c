"""``mlwarden data manifest`` and ``mlwarden data verify`` end to end: real files, real keys, real Parquet."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mlwarden.cli.main import main
from mlwarden.signing import generate_key, public_key_pem


def rfc6962_root(leaves: list[bytes]) -> bytes:
    """RFC 6962 Merkle Tree Hash, independent of mlwarden."""
    if len(leaves) == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return hashlib.sha256(b"\x01" + rfc6962_root(leaves[:k]) + rfc6962_root(leaves[k:])).digest()


def dataset(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    (root / "images").mkdir(parents=True)
    (root / "train.csv").write_text('id,text,label\n1,"two\nlines",0.5\n2,plain,1\n', encoding="utf-8")
    (root / "dev.jsonl").write_text('{"q": "a", "n": 1}\n{"q": "b", "n": 2}\nnot json\n', encoding="utf-8")
    (root / "test.csv.gz").write_bytes(gzip.compress(b"x,y\n1,true\n2,false\n3,true\n"))
    pq.write_table(pa.table({"id": [1, 2, 3, 4], "name": ["a", "b", "c", "d"]}), root / "extra.parquet")
    (root / "images" / "0.png").write_bytes(os.urandom(2048))
    return root


def keys(tmp_path: Path, name: str, password: bytes | None = None) -> tuple[Path, Path]:
    private = generate_key(password=password)
    priv, pub = tmp_path / f"{name}.pem", tmp_path / f"{name}.pub"
    priv.write_bytes(private)
    pub.write_bytes(public_key_pem(private, password))
    return priv, pub


def run(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def one_line(err: str) -> bool:
    return err.count("\n") == 1 and err.startswith("mlwarden: error: ") and "Traceback" not in err


def test_manifest_json_on_stdout_is_the_statement(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = dataset(tmp_path)
    code, out, err = run(capsys, "data", "manifest", root, "--source", "s3://bucket/data/", "--name", "demo")
    assert code == 0, err
    statement = json.loads(out)
    predicate = statement["predicate"]
    assert statement["predicateType"] == "https://mlwarden.dev/attestation/dataset-manifest/v1"
    files = {f["path"]: f for f in predicate["files"]}
    assert list(files) == ["dev.jsonl", "extra.parquet", "images/0.png", "test.csv.gz", "train.csv"]
    leaves = [p.encode() + b"\x00" + hashlib.sha256((root / p).read_bytes()).digest() for p in files]
    assert statement["subject"] == [{"name": "demo", "digest": {"sha256": rfc6962_root(leaves).hex()}}]
    assert predicate["source_uri"] == "s3://bucket/data/"
    assert (files["train.csv"]["rows"], files["dev.jsonl"]["rows"], files["extra.parquet"]["rows"]) == (
        2,
        3,
        4,
    )
    assert files["test.csv.gz"]["compression"] == "gzip" and files["test.csv.gz"]["rows"] == 3
    assert files["extra.parquet"]["columns"] == [
        {"name": "id", "type": "int64"},
        {"name": "name", "type": "string"},
    ]
    assert "rows" not in files["images/0.png"]
    assert err == "mlwarden: warning: dev.jsonl: 1 line not valid JSON (line 3)\n"


def test_signed_manifest_verifies_and_every_failure_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = dataset(tmp_path)
    priv, pub = keys(tmp_path, "publisher")
    _, other_pub = keys(tmp_path, "other")
    bundle_path = tmp_path / "data.sig"
    code, out, err = run(capsys, "data", "manifest", root, "--key", priv, "-o", bundle_path, "--quiet")
    assert (code, out, err) == (0, "", "")
    bundle = json.loads(bundle_path.read_text())
    assert bundle["mediaType"] == "application/vnd.dev.sigstore.bundle.v0.3+json"
    statement = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))
    root_digest = statement["subject"][0]["digest"]["sha256"]

    code, out, err = run(capsys, "data", "verify", root, "--manifest", bundle_path, "--key", pub)
    assert code == 0, err
    assert f"5 file(s) match Merkle root {root_digest}, signed by key" in out

    code, _, err = run(capsys, "data", "verify", root, "--manifest", bundle_path, "--key", other_pub)
    assert code == 1 and one_line(err) and "wrong key" in err

    code, _, err = run(capsys, "data", "verify", root, "--manifest", bundle_path)
    assert code == 1 and one_line(err) and "the manifest is signed; pass --key to check who signed it" in err

    tampered = dict(bundle)
    body = dict(statement)
    body["predicate"] = {**statement["predicate"], "source_uri": "https://evil.example/"}
    payload = json.dumps(body).encode()
    tampered["dsseEnvelope"] = {**bundle["dsseEnvelope"], "payload": base64.b64encode(payload).decode()}
    (tmp_path / "edited.sig").write_text(json.dumps(tampered))
    code, _, err = run(capsys, "data", "verify", root, "--manifest", tmp_path / "edited.sig", "--key", pub)
    assert code == 1 and one_line(err) and "bad signature" in err

    (root / "train.csv").write_text("id,text,label\n1,poisoned,0\n", encoding="utf-8")
    (root / "images" / "1.png").write_bytes(b"new")
    (root / "dev.jsonl").unlink()
    code, _, err = run(capsys, "data", "verify", root, "--manifest", bundle_path, "--key", pub)
    assert code == 1 and one_line(err)
    assert "modified: train.csv; added: images/1.png; removed: dev.jsonl" in err


def test_plain_manifest_inside_the_directory_and_key_mismatch(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = dataset(tmp_path)
    _, pub = keys(tmp_path, "publisher")
    inside = root / "MANIFEST.json"
    code, out, err = run(capsys, "data", "manifest", root, "-o", inside)
    assert code == 0 and out == ""
    assert "wrote manifest of 5 file(s), 12 row(s) to" in err  # the manifest does not describe itself
    assert all(f["path"] != "MANIFEST.json" for f in json.loads(inside.read_text())["predicate"]["files"])
    code, out, err = run(capsys, "data", "verify", root, "--manifest", inside)
    assert code == 0 and "(manifest not signed)" in out, err
    code, _, err = run(capsys, "data", "verify", root, "--manifest", inside, "--key", pub)
    assert code == 1 and one_line(err) and "is not signed, but --key was given" in err


def test_previous_manifest_records_the_difference(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = dataset(tmp_path)
    first = tmp_path / "v1.json"
    assert run(capsys, "data", "manifest", root, "-o", first)[0] == 0
    (root / "images" / "0.png").rename(root / "images" / "zero.png")
    (root / "train.csv").write_text("id,text,label\n1,a,0\n2,b,1\n3,c,0\n", encoding="utf-8")
    (root / "new.txt").write_text("hello", encoding="utf-8")
    code, out, err = run(capsys, "data", "manifest", root, "--previous", first, "--quiet")
    assert code == 0, err
    previous = json.loads(out)["predicate"]["previous"]
    assert previous["merkle_root"] == json.loads(first.read_text())["subject"][0]["digest"]["sha256"]
    change = previous["diff"]
    assert change["added"] == ["new.txt"] and change["modified"] == ["train.csv"] and change["removed"] == []
    assert change["renamed"] == [{"from": "images/0.png", "to": "images/zero.png"}]
    assert change["row_changes"] == [{"path": "train.csv", "before": 2, "after": 3}]
    code, out, err = run(capsys, "data", "manifest", root, "--previous", first, "-o", tmp_path / "v2.json")
    assert "since the previous manifest: 1 added, 1 modified, 1 renamed, 3 unchanged, rows 12 -> 13" in err


def test_table_format_and_encrypted_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = dataset(tmp_path)
    code, out, err = run(capsys, "data", "manifest", root, "--format", "table")
    assert code == 0, err
    assert "train.csv" in out and "extra.parquet" in out and "id:int, text:string, label:float" in out
    assert "Merkle root" in out and "5 file(s)" in out and "1 line not valid JSON (line 3)" in out
    priv, pub = keys(tmp_path, "locked", password=b"s3cret")
    code, _, err = run(capsys, "data", "manifest", root, "--key", priv, "--format", "table")
    assert code == 2 and one_line(err) and "--output" in err
    monkeypatch.setenv("DATA_KEY_PASSWORD", "s3cret")
    signed = tmp_path / "locked.sig"
    args = (
        "data",
        "manifest",
        root,
        "--key",
        priv,
        "--password-env",
        "DATA_KEY_PASSWORD",
        "-o",
        signed,
        "-q",
    )
    code, _, err = run(capsys, *args)
    assert code == 0, err
    monkeypatch.setenv("DATA_PUBLIC_KEY", pub.read_text())
    code, out, err = run(capsys, "data", "verify", root, "--manifest", signed, "--key", "env:DATA_PUBLIC_KEY")
    assert code == 0 and "signed by key" in out, err
    monkeypatch.setenv("DATA_KEY_PASSWORD", "wrong")
    code, _, err = run(capsys, *args)
    assert code == 2 and one_line(err)


def test_reproducible_with_source_date_epoch_and_blake3(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = dataset(tmp_path)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    first = run(capsys, "data", "manifest", root, "--hash", "blake3", "-q")
    second = run(capsys, "data", "manifest", root, "--hash", "blake3", "-q")
    assert first == second and first[0] == 0
    predicate = json.loads(first[1])["predicate"]
    assert predicate["created"] == "2023-11-14T22:13:20Z" and predicate["hash_algorithm"] == "blake3"
    out = tmp_path / "b3.json"
    assert run(capsys, "data", "manifest", root, "--hash", "blake3", "--no-rows", "-o", out)[0] == 0
    assert run(capsys, "data", "verify", root, "--manifest", out)[0] == 0


def test_bad_input_exits_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    code, out, err = run(capsys, "data", "manifest", empty)
    assert code == 2 and out == "" and one_line(err) and "no files to describe" in err
    code, _, err = run(capsys, "data", "manifest", tmp_path / "missing")
    assert code == 2 and one_line(err) and "cannot read dataset directory" in err
    root = dataset(tmp_path)
    code, _, err = run(capsys, "data", "verify", root, "--manifest", tmp_path / "nope.json")
    assert code == 2 and one_line(err) and "cannot read manifest" in err
    (tmp_path / "junk.json").write_text("not json")
    code, _, err = run(capsys, "data", "verify", root, "--manifest", tmp_path / "junk.json")
    assert code == 2 and one_line(err) and "is not JSON" in err
    code, _, err = run(capsys, "data", "manifest", root, "--source", "https://u:p@host/data")
    assert code == 2 and one_line(err) and "credentials" in err
    code, _, err = run(capsys, "data")
    assert code == 2 and one_line(err)
    code, _, err = run(capsys, "data", "manifest", root, "--previous", tmp_path / "junk.json")
    assert code == 2 and one_line(err)
    manifest = tmp_path / "m.json"
    assert run(capsys, "data", "manifest", root, "-o", manifest, "-q")[0] == 0
    code, _, err = run(capsys, "data", "verify", tmp_path / "missing", "--manifest", manifest)
    assert code == 2 and one_line(err)


def test_help_shows_examples_and_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["data", "--help"], ["data", "manifest", "--help"], ["data", "verify", "--help"]):
        with pytest.raises(SystemExit) as done:
            main(argv)
        assert done.value.code == 0
        out = capsys.readouterr().out
        assert "examples:" in out and "exit codes:" in out


def test_subprocess_and_light_import(tmp_path: Path) -> None:
    root = dataset(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "mlwarden", "data", "manifest", str(root), "--format", "json", "-q"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["predicate"]["totals"]["files"] == 5
    light = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, mlwarden.cli.data; "
            "print(sorted(m for m in ('pyarrow', 'rich', 'mlwarden.provenance') if m in sys.modules))",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert light.stdout.strip() == "[]"
