"""mlwarden.provenance.dataset: digests, the RFC 6962 Merkle root, rows and schema, diff, load, verify."""

from __future__ import annotations

import bz2
import gzip
import hashlib
import json
import lzma
import os
import subprocess
import sys
from pathlib import Path

import blake3
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import mlwarden.provenance
from mlwarden import __version__
from mlwarden.core.merkle import inclusion_proof, leaf_hash, root_of
from mlwarden.errors import ConfigError, UsageError
from mlwarden.provenance import (
    DATASET_PREDICATE_TYPE,
    Column,
    DatasetError,
    DatasetManifest,
    DatasetVerificationError,
    Difference,
    ParseLimits,
    build_manifest,
    diff,
    load_manifest,
    merkle_root,
    verify_directory,
    verify_inclusion,
)
from mlwarden.provenance.dataset import (
    describe_differences,
    media_type_of,
)
from mlwarden.signing import generate_key, sign_statement


def sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def mth(leaves: list[bytes]) -> bytes:
    """RFC 6962 section 2.1 Merkle Tree Hash, written independently of mlwarden."""
    if len(leaves) == 1:
        return sha(b"\x00" + leaves[0])
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return sha(b"\x01" + mth(leaves[:k]) + mth(leaves[k:]))


def expected_root(root: Path, digest: str = "sha256") -> str:
    """Recompute a dataset's root from the files on disk: leaves sorted by code point of the path."""
    paths = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    new = hashlib.sha256 if digest == "sha256" else blake3.blake3
    return mth([p.encode() + b"\x00" + new((root / p).read_bytes()).digest() for p in paths]).hex()


def tree(root: Path, files: dict[str, bytes | str]) -> Path:
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(data, str):
            path.write_text(data, encoding="utf-8")
        else:
            path.write_bytes(data)
    return root


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return tree(
        tmp_path / "data",
        {
            "a-b/c.txt": b"abc",  # '-' (U+002D) sorts before '/' (U+002F): code points, not components
            "a/b.txt": b"ab",
            "train.csv": "id,text,score,ok\n1,hello,0.5,true\n2,world,1,false\n",
            "caf\u00e9/\u65e5\u672c.bin": os.urandom(5000),
            "empty.bin": b"",
        },
    )


# -- digests and the Merkle root -------------------------------------------------------------------


def test_digests_and_root_match_an_independent_rfc6962_implementation(data: Path) -> None:
    manifest = build_manifest(data, rows=False)
    assert [f.path for f in manifest.files] == sorted(f.path for f in manifest.files)
    assert [f.path for f in manifest.files][:2] == ["a-b/c.txt", "a/b.txt"]
    for entry in manifest.files:
        raw = (data / entry.path).read_bytes()
        assert entry.digest == hashlib.sha256(raw).hexdigest()
        assert entry.size == len(raw)
    assert manifest.merkle_root == expected_root(data)
    statement = manifest.to_statement()
    assert statement["_type"] == "https://in-toto.io/Statement/v1"
    assert statement["predicateType"] == DATASET_PREDICATE_TYPE
    assert statement["subject"] == [{"name": "data", "digest": {"sha256": expected_root(data)}}]
    assert statement["predicate"]["merkle_tree"] == "rfc6962-sha256"
    assert statement["predicate"]["tool"] == {"name": "mlwarden", "version": __version__}


def test_blake3_digests_feed_the_same_sha256_tree(data: Path) -> None:
    manifest = build_manifest(data, algorithm="blake3", rows=False)
    entry = manifest.entry("a/b.txt")
    assert entry is not None and entry.digest == blake3.blake3(b"ab").hexdigest()
    assert manifest.merkle_root == expected_root(data, "blake3")
    assert manifest.to_predicate()["files"][0]["digest"].keys() == {"blake3"}
    assert manifest.merkle_root != build_manifest(data, rows=False).merkle_root


def _leaf(path: str, digest: bytes) -> tuple[tuple[str, str], bytes]:
    return (path, digest.hex()), path.encode() + b"\x00" + digest


@pytest.mark.parametrize("n", [1, 2, 3, 7])
def test_rfc6962_shapes(n: int) -> None:
    leaves = [_leaf(f"f{i}", sha(bytes([i]))) for i in range(n)]
    h = [sha(b"\x00" + data) for _, data in leaves]

    def node(left: bytes, right: bytes) -> bytes:
        return sha(b"\x01" + left + right)

    expected = {
        1: h[0] if n == 1 else b"",
        2: node(h[0], h[1]) if n == 2 else b"",
        3: node(node(h[0], h[1]), h[2]) if n == 3 else b"",  # split at 2: the odd leaf is not duplicated
        7: node(node(node(h[0], h[1]), node(h[2], h[3])), node(node(h[4], h[5]), h[6])) if n == 7 else b"",
    }[n]
    assert merkle_root(leaf for leaf, _ in leaves) == expected.hex()
    assert merkle_root(reversed([leaf for leaf, _ in leaves])) == expected.hex()  # order is by path


# The Certificate Transparency reference vectors for RFC 6962 (leaf inputs and the roots of the
# first n leaves), as used by transparency-dev/merkle and every CT log implementation.
CT_LEAVES = [b"", b"\x00", b"\x10", b"\x20\x21", b"\x30\x31", b"\x40\x41\x42\x43", bytes(range(0x50, 0x58))]
CT_LEAVES.append(bytes(range(0x60, 0x70)))
CT_ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]


def test_tree_hash_and_audit_paths_match_the_ct_vectors() -> None:
    hashes = [leaf_hash(leaf) for leaf in CT_LEAVES]
    for n in range(1, 9):
        assert root_of(hashes, 0, n).hex() == CT_ROOTS[n - 1]
        assert mth(CT_LEAVES[:n]).hex() == CT_ROOTS[n - 1]
    assert [h.hex() for h in inclusion_proof(hashes, 0, 8)] == [
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ]


def test_inclusion_proofs_verify_for_every_file_and_fail_when_altered(tmp_path: Path) -> None:
    for n in (1, 2, 3, 5, 8, 13):
        root = tree(tmp_path / f"d{n}", {f"part-{i:02}.bin": bytes([i]) * i for i in range(n)})
        manifest = build_manifest(root, rows=False)
        for entry in manifest.files:
            proof = manifest.inclusion_proof(entry.path)
            assert verify_inclusion(proof, manifest.merkle_root)
            assert not verify_inclusion({**proof, "digest": sha(b"other").hex()}, manifest.merkle_root)
            assert not verify_inclusion({**proof, "path": entry.path + "x"}, manifest.merkle_root)
            if n > 1:
                assert not verify_inclusion(
                    {**proof, "index": (proof["index"] + 1) % n}, manifest.merkle_root
                )
                assert not verify_inclusion({**proof, "hashes": proof["hashes"][:-1]}, manifest.merkle_root)
    assert not verify_inclusion({"path": "x"}, "00" * 32)
    with pytest.raises(UsageError):
        manifest.inclusion_proof("not-there")


def test_an_empty_dataset_is_refused(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no files to describe"):
        build_manifest(tmp_path / "empty")
    only_git = tree(tmp_path / "git", {".git/HEAD": "ref: main\n"})
    with pytest.raises(DatasetError, match="no files to describe"):
        build_manifest(only_git)
    with pytest.raises(DatasetError, match="at least one file"):
        merkle_root([])


def test_unreadable_roots_and_symlinks_fail_closed(tmp_path: Path, data: Path) -> None:
    with pytest.raises(DatasetError, match="cannot read dataset directory"):
        build_manifest(tmp_path / "missing")
    with pytest.raises(DatasetError, match="not a directory"):
        build_manifest(data / "train.csv")
    (data / "link.csv").symlink_to(data / "train.csv")
    with pytest.raises(DatasetError, match="symlink in dataset: "):
        build_manifest(data)
    allowed = build_manifest(data, allow_symlinks=True)
    link = allowed.entry("link.csv")
    assert link is not None and link.rows == 2 and allowed.allow_symlinks


# -- rows and schema --------------------------------------------------------------------------------


def test_csv_quoted_newlines_bom_types_and_ragged_rows(tmp_path: Path) -> None:
    text = (
        "\ufeffid,comment,score,flag,blank\r\n"
        '1,"line one\nline two, with a comma",1.5,true,\r\n'
        "\r\n"
        '2,"say ""hi""",2,FALSE,\r\n'
        "3,plain,-3e4,true,,extra\r\n"
        "4,short\r\n"
    )
    root = tree(tmp_path / "d", {"t.csv": text, "h.csv": "a,b\n", "e.csv": "", "s.tsv": "x\ty\n1\tn\n"})
    manifest = build_manifest(root)
    entry = manifest.entry("t.csv")
    assert entry is not None
    assert (
        entry.media_type == "text/csv" and entry.rows == 4
    )  # the quoted newline and blank line are not rows
    assert entry.columns == (
        Column("id", "int"),
        Column("comment", "string"),
        Column("score", "float"),
        Column("flag", "bool"),
        Column("blank", "empty"),
    )
    assert entry.warnings == ("2 rows without 5 fields (first at line 6, with 6)",)
    header_only = manifest.entry("h.csv")
    assert header_only is not None and header_only.rows == 0
    assert header_only.columns == (Column("a", "empty"), Column("b", "empty"))
    empty = manifest.entry("e.csv")
    assert empty is not None and empty.rows == 0 and empty.notes == ("no header row: the file is empty",)
    tsv = manifest.entry("s.tsv")
    assert tsv is not None and tsv.media_type == "text/tab-separated-values"
    assert tsv.rows == 1 and tsv.columns == (Column("x", "int"), Column("y", "string"))
    assert manifest.total_rows == 4 + 0 + 0 + 1


def test_csv_types_come_from_the_first_rows_only_and_latin1_is_read(tmp_path: Path) -> None:
    rows = "".join(f"{i},{i}\n" for i in range(5)) + "x,1.5\n"
    root = tree(tmp_path / "d", {"t.csv": "a,b\n" + rows, "l.csv": "name\ncaf\u00e9\n".encode("latin-1")})
    manifest = build_manifest(root, limits=ParseLimits(schema_rows=5))
    entry = manifest.entry("t.csv")
    assert entry is not None and entry.rows == 6 and entry.columns == (Column("a", "int"), Column("b", "int"))
    latin = manifest.entry("l.csv")
    assert latin is not None and latin.rows == 1 and latin.warnings == ("not valid UTF-8; read as Latin-1",)


def test_csv_errors_and_duplicate_columns_are_warnings(tmp_path: Path) -> None:
    huge = "a,b\n1,2\n" + "3," + "x" * 200_000 + "\n"  # past csv.field_size_limit()
    root = tree(tmp_path / "d", {"huge.csv": huge, "dup.csv": "a,b,a\n1,2,3\n", "nul.csv": "a\n\x00\n"})
    manifest = build_manifest(root)
    entry = manifest.entry("huge.csv")
    assert entry is not None and entry.rows is None
    assert entry.warnings[0].startswith("CSV error at line 3: field larger than field limit")
    assert entry.columns == (Column("a", "int"), Column("b", "int"))
    dup = manifest.entry("dup.csv")
    assert dup is not None and dup.rows == 1 and dup.warnings == ("duplicate column names: a",)
    nul = manifest.entry("nul.csv")
    assert nul is not None and (nul.rows is not None or nul.warnings)


def test_jsonl_bad_lines_are_warnings_with_line_numbers(tmp_path: Path) -> None:
    lines = [
        '{"id": 1, "text": "a", "score": 1, "tags": ["x"]}',
        "",
        '{"id": 2, "text": null, "score": 2.5, "meta": {"k": true}}',
        '{"id": 3, "text": "c", "broken": ',
        "[1, 2]",
        "[" * 100_000 + "]" * 100_000,  # deeper than the JSON parser recurses: a warning, not a crash
        '{"id": 4, "text": "d"}',
    ]
    root = tree(tmp_path / "d", {"x.jsonl": "\n".join(lines) + "\n", "y.ndjson": '{"a": 1}\n'})
    manifest = build_manifest(root)
    entry = manifest.entry("x.jsonl")
    assert entry is not None and entry.media_type == "application/jsonl"
    assert entry.rows == 6  # non-blank lines, bad ones included
    assert entry.columns == (
        Column("id", "integer"),
        Column("text", "string|null"),
        Column("score", "number"),
        Column("tags", "array"),
        Column("meta", "object"),
    )
    assert entry.warnings == (
        "2 lines not valid JSON (lines 4, 6)",
        "1 row is not a JSON object (of the first 1000)",
    )
    ndjson = manifest.entry("y.ndjson")
    assert ndjson is not None and ndjson.rows == 1 and ndjson.columns == (Column("a", "integer"),)


def test_compressed_text_is_stream_decompressed(tmp_path: Path) -> None:
    csv_text = b"a,b\n" + b"".join(b'%d,"x\ny"\n' % i for i in range(1000))
    jsonl = b'{"k": 1}\n' * 10
    root = tree(
        tmp_path / "d",
        {
            "t.csv.gz": gzip.compress(csv_text),
            "j.jsonl.bz2": bz2.compress(jsonl),
            "j.jsonl.xz": lzma.compress(jsonl),
            "fake.csv.gz": b"a,b\n1,2\n",
            "cut.csv.gz": gzip.compress(csv_text)[:200],
            "other.tar.gz": gzip.compress(b"not a table"),
        },
    )
    manifest = build_manifest(root)
    entry = manifest.entry("t.csv.gz")
    assert entry is not None and (entry.media_type, entry.compression) == ("text/csv", "gzip")
    assert entry.rows == 1000 and entry.columns == (Column("a", "int"), Column("b", "string"))
    assert entry.digest == hashlib.sha256(gzip.compress(csv_text)).hexdigest() or entry.size > 0
    for name, kind in (("j.jsonl.bz2", "bzip2"), ("j.jsonl.xz", "xz")):
        found = manifest.entry(name)
        assert found is not None and found.compression == kind and found.rows == 10
    fake = manifest.entry("fake.csv.gz")
    assert fake is not None and fake.rows is None and "not gzip-compressed" in fake.warnings[0]
    cut = manifest.entry("cut.csv.gz")
    assert cut is not None and cut.rows is None and "cannot decompress (gzip)" in cut.warnings[0]
    other = manifest.entry("other.tar.gz")
    assert other is not None and other.media_type == "application/gzip" and not other.tabular


def test_parquet_rows_and_schema_from_the_footer(tmp_path: Path) -> None:
    root = tmp_path / "d"
    root.mkdir()
    table = pa.table(
        {
            "id": pa.array(range(2500), pa.int64()),
            "label": pa.array([f"l{i % 3}" for i in range(2500)]),
            "score": pa.array([i / 7 for i in range(2500)], pa.float32()),
            "tags": pa.array([[i] for i in range(2500)], pa.list_(pa.int32())),
        }
    )
    pq.write_table(table, root / "part-0.parquet", row_group_size=1000)
    (root / "bad.parquet").write_bytes(b"PAR1 this is not really parquet PAR1")
    (root / "short.pq").write_bytes(b"PAR1")
    manifest = build_manifest(root)
    entry = manifest.entry("part-0.parquet")
    assert entry is not None and entry.media_type == "application/vnd.apache.parquet"
    assert entry.rows == 2500
    assert entry.columns == (
        Column("id", "int64"),
        Column("label", "string"),
        Column("score", "float"),
        Column("tags", "list<element: int32>"),
    )
    bad = manifest.entry("bad.parquet")
    assert bad is not None and bad.rows is None and bad.warnings
    short = manifest.entry("short.pq")
    assert short is not None and short.warnings == ("too short to be a Parquet file",)


def test_parquet_without_pyarrow_is_a_note_naming_the_extra(tmp_path: Path) -> None:
    root = tmp_path / "d"
    root.mkdir()
    pq.write_table(pa.table({"a": [1, 2]}), root / "t.parquet")
    code = (
        "import sys, json\n"
        "sys.modules['pyarrow'] = None\n"
        "sys.modules['pyarrow.parquet'] = None\n"
        "from mlwarden.provenance import build_manifest\n"
        "entry = build_manifest(sys.argv[1]).to_predicate()['files'][0]\n"
        "print(json.dumps(entry))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(root)], capture_output=True, text=True, check=False, timeout=60
    )
    assert done.returncode == 0, done.stderr
    entry = json.loads(done.stdout)
    assert entry["rows"] is None and entry["columns"] is None
    assert entry["notes"] == ["rows and schema of Parquet files need pyarrow: pip install 'mlwarden[data]'"]


def test_limits_turn_into_notes_and_keep_the_header(tmp_path: Path) -> None:
    big = "a,b\n" + "1,2\n" * 400_000
    bomb = gzip.compress(b'{"z": 0}\n' * 2_000_000)  # 18 MB of JSON in well under 1 MB
    root = tree(
        tmp_path / "d",
        {
            "big.csv": big,
            "bomb.jsonl.gz": bomb,
            "wide.jsonl": '{"k": "' + "x" * 5000 + '"}\n',
            "long.csv": "a\n" + "x" * 20_000,
        },
    )
    limits = ParseLimits(max_bytes=1 << 20, max_line_length=4096)
    manifest = build_manifest(root, limits=limits)
    entry = manifest.entry("big.csv")
    assert entry is not None and entry.rows is None
    assert entry.columns == (Column("a", "int"), Column("b", "int"))
    assert entry.notes == ("row count skipped: more than 1048576 bytes to read (max_parse_bytes)",)
    bombed = manifest.entry("bomb.jsonl.gz")
    assert bombed is not None and bombed.rows is None and "max_parse_bytes" in bombed.notes[0]
    long_line = manifest.entry("long.csv")
    assert long_line is not None and long_line.rows is None and "max_line_length" in long_line.notes[0]
    wide = manifest.entry("wide.jsonl")
    assert wide is not None and wide.rows is None and "max_line_length" in wide.notes[0]
    assert manifest.total_rows is None
    slow = build_manifest(root, limits=ParseLimits(max_seconds=1e-9))
    slow_entry = slow.entry("big.csv")
    assert slow_entry is not None and slow_entry.rows is None and "max_parse_seconds" in slow_entry.notes[0]
    unread = build_manifest(root, rows=False)
    assert all(f.rows is None and f.columns is None and not f.notes for f in unread.files)
    assert unread.to_predicate()["rows_counted"] is False


def test_parse_limits_from_settings() -> None:
    assert ParseLimits.from_settings({"max_parse_bytes": 10, "max_parse_seconds": 1.5}) == ParseLimits(
        max_bytes=10, max_seconds=1.5
    )
    with pytest.raises(ConfigError, match="unknown setting"):
        ParseLimits.from_settings({"max_bytes": 10})
    with pytest.raises(ConfigError, match="positive"):
        ParseLimits.from_settings({"max_parse_seconds": 0})
    with pytest.raises(UsageError):
        ParseLimits(schema_rows=True)


def test_media_types_by_suffix() -> None:
    assert media_type_of("x/Train.CSV") == ("text/csv", None)
    assert media_type_of("x.tsv.gz") == ("text/tab-separated-values", "gzip")
    assert media_type_of("x.parquet") == ("application/vnd.apache.parquet", None)
    assert media_type_of("img.png") == ("image/png", None)
    assert media_type_of("archive.tar.gz") == ("application/gzip", None)
    assert media_type_of(".csv") == ("application/octet-stream", None)
    assert media_type_of("README") == ("application/octet-stream", None)


# -- manifest document ------------------------------------------------------------------------------


def test_source_uri_name_and_created(data: Path) -> None:
    import datetime as dt

    when = dt.datetime(2024, 5, 6, 7, 8, 9, tzinfo=dt.UTC)
    manifest = build_manifest(data, source_uri="s3://bucket/train/", name="train-v2", created=when)
    predicate = manifest.to_predicate()
    assert predicate["source_uri"] == "s3://bucket/train/"
    assert predicate["created"] == "2024-05-06T07:08:09Z"
    assert manifest.to_statement()["subject"][0]["name"] == "train-v2"
    for bad in ("bucket/train", "", "s3://bucket/x y"):
        with pytest.raises(UsageError, match="not a URI"):
            build_manifest(data, source_uri=bad)
    for secret in (
        "https://user:pw@host/data",
        "https://b.s3.amazonaws.com/x?X-Amz-Signature=abc",
        "https://h/x?sig=1",
    ):
        with pytest.raises(UsageError, match="credentials"):
            build_manifest(data, source_uri=secret)


def test_statement_round_trips_through_json_and_a_bundle(data: Path) -> None:
    manifest = build_manifest(data, source_uri="hf://datasets/org/name")
    text = json.dumps(manifest.to_statement())
    assert load_manifest(text.encode()) == manifest
    (data.parent / "m.json").write_text(text)
    assert load_manifest(data.parent / "m.json") == manifest
    bundle = sign_statement(manifest.to_statement(), generate_key())
    assert load_manifest(json.dumps(bundle).encode()) == manifest  # decoded only, not authenticated


def test_edited_manifests_are_detected_or_refused(data: Path) -> None:
    statement = build_manifest(data).to_statement()

    def edited(change: str) -> bytes:
        doc = json.loads(json.dumps(statement))
        predicate = doc["predicate"]
        if change == "digest":
            predicate["files"][0]["digest"]["sha256"] = "0" * 64
        elif change == "subject":
            doc["subject"][0]["digest"]["sha256"] = "1" * 64
        elif change == "traversal":
            predicate["files"][0]["path"] = "../etc/passwd"
        elif change == "duplicate":
            predicate["files"].append(predicate["files"][0])
        elif change == "type":
            doc["predicateType"] = "https://model_signing/signature/v1.0"
        return json.dumps(doc).encode()

    for change in ("digest", "subject"):
        with pytest.raises(DatasetVerificationError, match="inconsistent manifest") as err:
            load_manifest(edited(change))
        assert err.value.exit_code == 1
    with pytest.raises(DatasetError, match="relative POSIX path"):
        load_manifest(edited("traversal"))
    with pytest.raises(DatasetError, match="listed twice"):
        load_manifest(edited("duplicate"))
    with pytest.raises(DatasetError, match="not a dataset manifest"):
        load_manifest(edited("type"))
    with pytest.raises(DatasetError, match="not JSON"):
        load_manifest(b"{")
    with pytest.raises(DatasetError, match="cannot read manifest"):
        load_manifest(data / "nope.json")


# -- diff and verification --------------------------------------------------------------------------


def test_diff_added_removed_modified_renamed_rows_and_schema(tmp_path: Path) -> None:
    root = tree(
        tmp_path / "d",
        {
            "keep.bin": b"same",
            "train.csv": "id,label\n1,a\n2,b\n",
            "old-name.jsonl": '{"a": 1}\n',
            "gone.txt": "bye",
        },
    )
    old = build_manifest(root)
    (root / "train.csv").write_text("id,label,weight\n1,a,0.5\n2,b,1\n3,c,2\n")
    (root / "old-name.jsonl").rename(root / "new-name.jsonl")
    (root / "gone.txt").unlink()
    (root / "new.txt").write_text("hello")
    new = build_manifest(root, previous=old)
    change = diff(old, new)
    assert change.added == ("new.txt",)
    assert change.removed == ("gone.txt",)
    assert change.modified == ("train.csv",)
    assert change.renamed == (("old-name.jsonl", "new-name.jsonl"),)
    assert change.unchanged == 1
    assert [(c.path, c.before, c.after) for c in change.row_changes] == [("train.csv", 2, 3)]
    assert change.schema_changes[0].added == ("weight",) and not change.schema_changes[0].removed
    assert (change.rows_before, change.rows_after) == (3, 4)
    assert change.summary() == "1 added, 1 removed, 1 modified, 1 renamed, 1 unchanged, rows 3 -> 4"
    assert new.previous is not None and new.previous.merkle_root == old.merkle_root
    assert new.previous.diff == change
    predicate = new.to_predicate()["previous"]
    assert predicate["merkle_root"] == old.merkle_root and predicate["diff"]["renamed"] == [
        {"from": "old-name.jsonl", "to": "new-name.jsonl"}
    ]
    assert load_manifest(json.dumps(new.to_statement()).encode()) == new
    assert not diff(new, new).changed and diff(new, new).unchanged == len(new.files)
    with pytest.raises(UsageError, match="uses sha256 and this one blake3") as err:
        build_manifest(root, algorithm="blake3", previous=old)
    assert "--hash sha256" in err.value.hint


def test_verify_directory_names_every_difference(data: Path) -> None:
    manifest = build_manifest(data)
    assert verify_directory(data, manifest) == []
    (data / "train.csv").write_text("id,text\n1,tampered\n")
    (data / "a/b.txt").rename(data / "a/renamed.txt")
    (data / "empty.bin").unlink()
    (data / "extra.csv").write_text("x\n1\n")
    differences = verify_directory(data, manifest)
    assert differences == [
        Difference("modified", "train.csv"),
        Difference("added", "extra.csv"),
        Difference("removed", "empty.bin"),
        Difference("renamed", "a/renamed.txt", "a/b.txt"),
    ]
    assert describe_differences(differences) == (
        "modified: train.csv; added: extra.csv; removed: empty.bin; renamed: a/b.txt -> a/renamed.txt"
    )
    (data / "manifest.json").write_text("{}")
    assert Difference("added", "manifest.json") not in verify_directory(
        data, manifest, extra_ignore=["manifest.json"]
    )


def test_verify_uses_the_manifests_algorithm_and_ignore_paths(data: Path) -> None:
    (data / "notes").mkdir()
    (data / "notes" / "scratch.txt").write_text("draft")
    manifest = build_manifest(data, algorithm="blake3", ignore=["notes"])
    assert manifest.entry("notes/scratch.txt") is None and "notes" in manifest.ignore_paths
    reloaded = load_manifest(json.dumps(manifest.to_statement()).encode())
    (data / "notes" / "scratch.txt").write_text("changed: ignored")
    assert verify_directory(data, reloaded) == []


def test_facade_exports() -> None:
    for name in (
        "build_manifest",
        "load_manifest",
        "diff",
        "verify_directory",
        "DatasetManifest",
        "merkle_root",
    ):
        assert name in mlwarden.provenance.__all__ and hasattr(mlwarden.provenance, name)
    assert DatasetManifest.__module__ == "mlwarden.provenance.dataset"
