"""mlwarden.hashing: digests, order, shards, ignore paths, symlinks and special files, incremental."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import blake3
import pytest

import mlwarden.hashing
from mlwarden.errors import UsageError
from mlwarden.hashing import HashingConfig, HashingError, Manifest, hash_model
from mlwarden.hashing import engine as engine_mod


def _write(root: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    return root


@pytest.fixture
def model(tmp_path: Path) -> Path:
    return _write(
        tmp_path / "model",
        {
            "config.json": b'{"a": 1}',
            "weights/part1.bin": os.urandom(3000),
            "weights/part2.bin": b"",
            "a/b": b"ab",
            "a-b/c": b"abc",
        },
    )


def test_facade_all_is_sorted_and_complete() -> None:
    assert mlwarden.hashing.__all__ == sorted(mlwarden.hashing.__all__)
    assert all(hasattr(mlwarden.hashing, n) for n in mlwarden.hashing.__all__)


def test_files_digests_match_hashlib_and_order_is_code_point(model: Path) -> None:
    m = hash_model(model)
    names = [r.name for r in m.resources]
    # '-' (U+002D) sorts before '/' (U+002F): code-point order, not path-component order.
    assert names == ["a-b/c", "a/b", "config.json", "weights/part1.bin", "weights/part2.bin"]
    for r in m.resources:
        assert r.algorithm == "sha256"
        assert r.digest == hashlib.sha256((model / r.name).read_bytes()).hexdigest()
    raw = b"".join(bytes.fromhex(r.digest) for r in m.resources)
    assert m.root_digest == hashlib.sha256(raw).hexdigest()
    assert m.model_name == "model"


def test_empty_file_is_hashed_in_files_mode(model: Path) -> None:
    m = hash_model(model)
    assert m.digests()["weights/part2.bin"] == hashlib.sha256(b"").hexdigest()


def test_large_multi_chunk_file_sha256_and_blake3(tmp_path: Path) -> None:
    data = os.urandom(40 * 1024 * 1024 + 123)  # several 8 MiB chunks; blake3 takes the threaded path
    root = _write(tmp_path / "big", {"w.bin": data})
    assert hash_model(root).digests()["w.bin"] == hashlib.sha256(data).hexdigest()
    m = hash_model(root, HashingConfig().use_blake3())
    assert m.resources[0].algorithm == "blake3"
    assert m.digests()["w.bin"] == blake3.blake3(data).hexdigest()
    # Evicted from the page cache: the read path instead of the mapped one, same digests. (Eviction is
    # best effort on a busy machine; test_pipelined_cold_reads_give_the_same_digests forces that path.)
    fd = os.open(root / "w.bin", os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)
    assert hash_model(root).digests()["w.bin"] == hashlib.sha256(data).hexdigest()


def test_pipelined_cold_reads_give_the_same_digests(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The reader-thread path (cold ranges of at least _PIPELINE_MIN), with small blocks to cycle buffers."""
    monkeypatch.setattr(engine_mod, "_MMAP_MIN", 1 << 40)  # never map: always the read paths
    monkeypatch.setattr(engine_mod, "_PIPELINE_MIN", 1 << 20)
    monkeypatch.setattr(engine_mod, "_PIPELINE_CHUNK", 64 * 1024 + 7)
    data = os.urandom(3 * 1024 * 1024 + 5)
    root = _write(tmp_path / "m", {"w.bin": data, "small.txt": b"x" * 100})
    sharded = HashingConfig().use_shards(1024 * 1024)
    assert hash_model(root).digests()["w.bin"] == hashlib.sha256(data).hexdigest()
    assert (
        hash_model(root, sharded).digests()["w.bin:0:1048576"] == hashlib.sha256(data[: 1 << 20]).hexdigest()
    )
    assert (
        hash_model(root, HashingConfig().use_blake3()).digests()["w.bin"] == blake3.blake3(data).hexdigest()
    )
    seen: list[int] = []
    hash_model(root, progress=seen.append)
    assert sum(seen) == len(data) + 100


def test_shards_cover_exact_ranges_and_drop_empty_files(tmp_path: Path) -> None:
    data = bytes(range(10))
    root = _write(tmp_path / "m", {"x": data, "empty": b"", "we:ird": b"12345"})
    m = hash_model(root, HashingConfig().use_shards(4))
    got = m.digests()
    assert sorted(got) == sorted(["x:0:4", "x:4:8", "x:8:10", "we:ird:0:4", "we:ird:4:5"])
    assert got["x:4:8"] == hashlib.sha256(data[4:8]).hexdigest()
    assert got["we:ird:4:5"] == hashlib.sha256(b"5").hexdigest()
    assert [r.name for r in m.resources] == sorted(got)


def test_default_and_custom_ignore_paths(model: Path) -> None:
    _write(model, {".git/HEAD": b"ref", ".gitignore": b"*", ".github/w.yml": b"", "sub/.git/x": b"keep"})
    names = set(hash_model(model).digests())
    assert ".gitignore" not in names and ".git/HEAD" not in names and ".github/w.yml" not in names
    assert "sub/.git/x" in names  # only the top level is ignored, as in model-signing
    cfg = HashingConfig().add_ignore_paths(["weights/", "config.json"])
    names = set(hash_model(model, cfg).digests())
    assert names == {"a/b", "a-b/c", "sub/.git/x"}
    assert cfg.ignore_paths == tuple(sorted(cfg.ignore_paths))
    assert "weights" in cfg.ignore_paths  # trailing slash normalised


def test_ignore_path_does_not_match_a_name_prefix(tmp_path: Path) -> None:
    root = _write(tmp_path / "m", {"log": b"1", "logs/x": b"2", "logger.py": b"3"})
    assert set(hash_model(root, HashingConfig().add_ignore_paths(["log"])).digests()) == {
        "logs/x",
        "logger.py",
    }


def test_serialization_parameters_files_and_shards() -> None:
    assert HashingConfig().serialization_parameters() == {
        "method": "files",
        "hash_type": "sha256",
        "allow_symlinks": False,
        "ignore_paths": [".git", ".gitattributes", ".github", ".gitignore"],
    }
    shards = HashingConfig().use_shards().serialization_parameters()
    assert shards["method"] == "shards" and shards["shard_size"] == 1_000_000_000


def test_config_round_trips_from_model_signing_parameters() -> None:
    params = {
        "hash_type": "sha256",
        "method": "shards",
        "ignore_paths": [".gitattributes", ".gitignore", ".github", ".git"],
        "shard_size": 1000000000.0,
        "allow_symlinks": False,
    }
    cfg = HashingConfig.from_serialization_parameters(params)
    assert cfg == HashingConfig().use_shards()
    assert isinstance(cfg.shard_size, int)
    for bad in ({**params, "shard_size": 1.5}, {**params, "hash_type": "blake2b"}, {**params, "method": "x"}):
        with pytest.raises(ValueError):
            HashingConfig.from_serialization_parameters(bad)


def test_config_validation() -> None:
    with pytest.raises(UsageError):
        HashingConfig(algorithm="blake3", method="shards")
    with pytest.raises(UsageError):
        HashingConfig().add_ignore_paths(["/etc"])
    with pytest.raises(UsageError):
        HashingConfig().add_ignore_paths(["../x"])
    with pytest.raises(UsageError):
        HashingConfig().use_shards(0)
    assert HashingConfig().use_shards().use_blake3().method == "files"


def test_symlink_refused_by_default(model: Path) -> None:
    (model / "link").symlink_to("config.json")
    with pytest.raises(HashingError, match=r"symlink in model: .*link"):
        hash_model(model)


def test_allowed_symlink_inside_root_hashes_target_under_link_name(model: Path) -> None:
    (model / "link").symlink_to("config.json")
    m = hash_model(model, HashingConfig().set_allow_symlinks(True))
    assert m.digests()["link"] == m.digests()["config.json"]


def test_symlink_escaping_root_is_an_error_even_when_allowed(tmp_path: Path, model: Path) -> None:
    (tmp_path / "secret").write_bytes(b"s")
    (model / "esc").symlink_to(tmp_path / "secret")
    with pytest.raises(HashingError, match=r"escapes the model directory: .*esc"):
        hash_model(model, HashingConfig().set_allow_symlinks(True))


def test_symlink_to_directory_and_broken_symlink(model: Path) -> None:
    (model / "dirlink").symlink_to("weights")
    with pytest.raises(HashingError, match="not point to a regular file"):
        hash_model(model, HashingConfig().set_allow_symlinks(True))
    (model / "dirlink").unlink()
    (model / "broken").symlink_to("nowhere")
    with pytest.raises(HashingError, match="broken"):
        hash_model(model, HashingConfig().set_allow_symlinks(True))


def test_special_file_is_an_error(model: Path) -> None:
    os.mkfifo(model / "weights" / "pipe")
    with pytest.raises(HashingError, match=r"special file in model: .*pipe"):
        hash_model(model)


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read anything")
def test_unreadable_file_is_an_error(model: Path) -> None:
    target = model / "config.json"
    target.chmod(0)
    try:
        with pytest.raises(HashingError, match=r"cannot read .*config.json"):
            hash_model(model)
    finally:
        target.chmod(0o644)


def test_not_a_directory(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"")
    with pytest.raises(HashingError, match="not a directory"):
        hash_model(tmp_path / "f")
    with pytest.raises(HashingError, match="cannot read model directory"):
        hash_model(tmp_path / "missing")


def test_empty_directory_has_no_resources(tmp_path: Path) -> None:
    (tmp_path / "m" / "d").mkdir(parents=True)
    m = hash_model(tmp_path / "m")
    assert m.resources == () and m.root_digest == hashlib.sha256(b"").hexdigest()


def test_incremental_reuses_unchanged_files_only(model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = hash_model(model)
    hashed: list[str] = []
    real = engine_mod._hash_task

    def counting(task: engine_mod._Task, algorithm: str, threaded_min: int, progress: object) -> str:
        hashed.append(task.file.name)
        return real(task, algorithm, threaded_min, None)

    monkeypatch.setattr(engine_mod, "_hash_task", counting)
    (model / "config.json").write_bytes(b'{"a": 2}')
    second = hash_model(model, previous=first)
    assert hashed == ["config.json"]
    assert second == hash_model(model)  # same as a full re-hash
    hashed.clear()
    hash_model(model, HashingConfig().use_blake3(), previous=second)  # other serialization: no reuse
    assert len(hashed) == 5


def test_manifest_predicate_shape(model: Path) -> None:
    m = hash_model(model)
    pred = m.to_predicate()
    assert set(pred) == {"serialization", "resources"}
    assert pred["resources"][0] == {"name": "a-b/c", "algorithm": "sha256", "digest": m.resources[0].digest}
    assert isinstance(m, Manifest)


def test_progress_counts_every_byte(model: Path) -> None:
    seen: list[int] = []
    hash_model(model, progress=seen.append)
    assert sum(seen) == sum(p.stat().st_size for p in model.rglob("*") if p.is_file())


def test_large_shards_at_unaligned_offsets(tmp_path: Path) -> None:
    data = os.urandom(12_000_000)
    root = _write(tmp_path / "m", {"w.bin": data})
    size = 5_000_003  # not a multiple of the page size: exercises the mapped path's alignment
    got = hash_model(root, HashingConfig().use_shards(size)).digests()
    assert got == {
        f"w.bin:{s}:{min(s + size, len(data))}": hashlib.sha256(data[s : s + size]).hexdigest()
        for s in range(0, len(data), size)
    }
