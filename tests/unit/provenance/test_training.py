"""Training provenance: a real command, a real git repository, real manifests and keys."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from mlwarden import __version__
from mlwarden.errors import UsageError
from mlwarden.hashing import HashingConfig, hash_model
from mlwarden.provenance.training import (
    BUILD_TYPE,
    DATASET_MANIFEST_TYPE,
    DEFAULT_BUILDER_ID,
    SLSA_PROVENANCE_TYPE,
    STATEMENT_TYPE,
    TrainingCommandError,
    TrainingError,
    TrainingRun,
    base_model_input,
    dataset_input,
    determinism_env,
    environment_lock,
    git_state,
    parse_seeds,
    redact_command,
    run_training,
    seed_environment,
    strip_credentials,
)
from mlwarden.signing import KeyTrust, generate_key, public_key_pem, sign_statement

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")

# A tiny "training": writes a model, and the seed variables it saw, into $MLWARDEN_OUTPUT_DIR.
TRAIN = textwrap.dedent(
    """
    import json, os, pathlib, sys
    out = pathlib.Path(os.environ["MLWARDEN_OUTPUT_DIR"])
    (out / "weights.bin").write_bytes(bytes(range(256)) * 64)
    (out / "config.json").write_text('{"layers": 2}')
    seen = {k: v for k, v in os.environ.items() if "SEED" in k}
    (out / "seen-env.json").write_text(json.dumps(seen, sort_keys=True))
    sys.exit(int(sys.argv[1]) if sys.argv[1:] and sys.argv[1].isdigit() else 0)
    """
)


def git(repo: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "Trainer",
        "GIT_AUTHOR_EMAIL": "trainer@example.com",
        "GIT_COMMITTER_NAME": "Trainer",
        "GIT_COMMITTER_EMAIL": "trainer@example.com",
    }
    done = subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, env=env, check=True, timeout=30
    )
    return done.stdout.decode().strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git repository holding train.py, committed on main, with a remote carrying a token."""
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    (root / "train.py").write_text(TRAIN)
    git(root, "add", "train.py")
    git(root, "commit", "-q", "-m", "training script")
    git(root, "remote", "add", "origin", "https://oauth2:ghp_s3cr3t@github.com/org/models.git")
    return root


def dataset_statement(root_hex: str, name: str = "train-set", source: str | None = None) -> dict[str, Any]:
    predicate: dict[str, Any] = {"files": 1}
    if source is not None:
        predicate["source_uri"] = source
    return {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": name, "digest": {"sha256": root_hex}}],
        "predicateType": DATASET_MANIFEST_TYPE,
        "predicate": predicate,
    }


def write_json(path: Path, doc: dict[str, Any]) -> Path:
    path.write_text(json.dumps(doc))
    return path


def train(
    tmp_path: Path, workdir: Path | None = None, *args: str, **kwargs: Any
) -> tuple[TrainingRun, dict[str, Any]]:
    """Run the tiny training in ``workdir`` (a fresh directory by default) into tmp_path/out."""
    if workdir is None:
        workdir = tmp_path / "work"
        workdir.mkdir(exist_ok=True)
        (workdir / "train.py").write_text(TRAIN)
    run = run_training(
        [sys.executable, "train.py", *args], output_dir=tmp_path / "out", workdir=workdir, **kwargs
    )
    statement = run.to_statement()
    json.dumps(statement)  # JSON-ready, as signed
    return run, statement


def deps_of(statement: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    deps = statement["predicate"]["buildDefinition"]["resolvedDependencies"]
    return [d for d in deps if d.get("annotations", {}).get("kind") == kind]


# -- the statement ----------------------------------------------------------------------------------


def test_statement_is_slsa_v1_with_the_output_root_as_subject(tmp_path: Path) -> None:
    run, statement = train(tmp_path)
    out = tmp_path / "out"
    assert run.root_digest == hash_model(out).root_digest
    assert statement["_type"] == STATEMENT_TYPE
    assert statement["predicateType"] == SLSA_PROVENANCE_TYPE
    (subject,) = statement["subject"]
    assert subject["name"] == "out"
    assert subject["digest"] == {"sha256": hash_model(out).root_digest}
    assert subject["annotations"]["resourceCount"] == 3
    assert subject["annotations"]["serialization"] == HashingConfig().serialization_parameters()

    build = statement["predicate"]["buildDefinition"]
    assert build["buildType"] == BUILD_TYPE
    external = build["externalParameters"]
    assert external["command"] == [sys.executable, "train.py"]
    assert external["workingDirectory"] == str((tmp_path / "work").resolve())
    assert external["outputDirectory"] == str(out.resolve())
    assert external["datasets"] == [] and "baseModel" not in external

    details = statement["predicate"]["runDetails"]
    assert details["builder"]["id"] == DEFAULT_BUILDER_ID
    assert details["builder"]["version"] == {"mlwarden": __version__}
    meta = details["metadata"]
    assert meta["invocationId"].startswith("urn:uuid:")
    assert meta["startedOn"].endswith("Z") and meta["finishedOn"].endswith("Z")
    assert datetime.fromisoformat(meta["startedOn"]) <= datetime.fromisoformat(meta["finishedOn"])
    (status,) = details["byproducts"]
    assert status["annotations"]["exitCode"] == 0
    assert json.loads(base64.b64decode(status["content"])) == status["annotations"]

    (program,) = deps_of(statement, "program")
    with Path(sys.executable).open("rb") as fh:
        assert program["digest"] == {"sha256": hashlib.file_digest(fh, "sha256").hexdigest()}


def test_each_run_has_its_own_invocation_id(tmp_path: Path) -> None:
    _, first = train(tmp_path)
    _, second = train(tmp_path)
    ids = {s["predicate"]["runDetails"]["metadata"]["invocationId"] for s in (first, second)}
    assert len(ids) == 2


def test_blake3_output_digest_matches_mlwarden_hash(tmp_path: Path) -> None:
    config = HashingConfig().use_blake3()
    run, statement = train(tmp_path, hashing_config=config)
    assert run.root_digest == hash_model(tmp_path / "out", config).root_digest
    assert statement["subject"][0]["annotations"]["serialization"]["hash_type"] == "blake3"


def test_files_already_in_the_output_are_counted(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "stale.ckpt").write_bytes(b"old")
    run, statement = train(tmp_path)
    assert run.files_before_run == 1
    assert statement["subject"][0]["annotations"]["filesBeforeRun"] == 1
    assert "stale.ckpt" in hash_model(tmp_path / "out").digests()


def test_custom_builder_id_and_a_bad_one(tmp_path: Path) -> None:
    _, statement = train(tmp_path, builder_id="https://ci.example.com/runners/gpu-7")
    assert statement["predicate"]["runDetails"]["builder"]["id"] == "https://ci.example.com/runners/gpu-7"
    with pytest.raises(UsageError, match="not a URI"):
        train(tmp_path, builder_id="my laptop")


# -- seeds and the environment -------------------------------------------------------------------------


def test_seeds_reach_the_command_and_are_recorded(tmp_path: Path) -> None:
    run, statement = train(tmp_path, seeds={"global": 1234, "data": 7})
    seen = json.loads((tmp_path / "out" / "seen-env.json").read_text())
    assert seen["MLWARDEN_SEED"] == "1234"
    assert seen["PYTHONHASHSEED"] == "1234"
    assert seen["MLWARDEN_SEED_DATA"] == "7"
    external = statement["predicate"]["buildDefinition"]["externalParameters"]
    assert external["seeds"] == {"data": 7, "global": 1234}
    assert external["determinismEnv"]["PYTHONHASHSEED"] == "1234"
    assert external["determinismEnv"]["MLWARDEN_SEED_DATA"] == "7"
    assert run.seeds == {"data": 7, "global": 1234}


def test_a_single_int_is_the_main_seed(tmp_path: Path) -> None:
    _, statement = train(tmp_path, seeds=5)
    assert statement["predicate"]["buildDefinition"]["externalParameters"]["seeds"] == {"global": 5}


def test_seed_and_determinism_variables_already_set_are_recorded_and_nothing_else(tmp_path: Path) -> None:
    env = {
        "PATH": os.environ.get("PATH", os.defpath),
        "CUBLAS_WORKSPACE_CONFIG": ":4096:8",
        "PL_GLOBAL_SEED": "99",
        "HF_TOKEN": "hf_secret",
        "EPOCHS": "1",
        "SEEDLING": "2",
        "WEIRD_SEED": "not-a-number",
    }
    _, statement = train(tmp_path, env=env)
    recorded = statement["predicate"]["buildDefinition"]["externalParameters"]["determinismEnv"]
    assert recorded == {"CUBLAS_WORKSPACE_CONFIG": ":4096:8", "PL_GLOBAL_SEED": "99"}
    assert "hf_secret" not in json.dumps(statement)


def test_parse_seeds() -> None:
    assert parse_seeds(["42", "data=7", "Init = 3"]) == {"global": 42, "data": 7, "init": 3}
    assert parse_seeds([]) == {}
    for bad, message in [
        (["x"], "not an integer"),
        (["data=1.5"], "not an integer"),
        (["1", "2"], "given twice"),
        (["9data=1"], "seed names"),
        (["-1"], "0 to 2\\*\\*64-1"),
        ([str(2**32)], "PYTHONHASHSEED"),
    ]:
        with pytest.raises(UsageError, match=message):
            parse_seeds(bad)
    assert parse_seeds(["big=" + str(2**40)]) == {"big": 2**40}


def test_seed_environment() -> None:
    assert seed_environment({"global": 3, "data": 4}) == {
        "MLWARDEN_SEED": "3",
        "PYTHONHASHSEED": "3",
        "MLWARDEN_SEED_DATA": "4",
    }
    assert seed_environment({"init": 1}) == {"MLWARDEN_SEED_INIT": "1"}


def test_determinism_env_keeps_only_known_and_integer_seed_variables() -> None:
    env = {"PYTHONHASHSEED": "0", "RANDOM_SEED": " 12 ", "SEEDLING": "3", "API_KEY": "k", "X_SEED": "abc"}
    assert determinism_env(env) == {"PYTHONHASHSEED": "0", "RANDOM_SEED": "12"}


def test_secrets_in_the_command_line_are_redacted(tmp_path: Path) -> None:
    args = ("--hf-token", "hf_abc", "--api-key=sk-123", "--data", "https://u:pw@data.example.com/x")
    run, statement = train(tmp_path, None, *args)
    recorded = statement["predicate"]["buildDefinition"]["externalParameters"]
    text = json.dumps(statement)
    assert "hf_abc" not in text and "sk-123" not in text and "pw@" not in text
    assert recorded["command"][2:] == [
        "--hf-token",
        "<redacted>",
        "--api-key=<redacted>",
        "--data",
        "https://data.example.com/x",
    ]
    assert recorded["redactedArguments"] == [3, 4, 6]
    assert run.command[3] == "hf_abc"  # the library caller still has what ran


def test_redact_command_leaves_flags_and_the_program_alone() -> None:
    assert redact_command(["--token-file", "--epochs", "3"]) == (["--token-file", "--epochs", "3"], [])
    assert redact_command(["python", "train.py", "--lr", "0.1"]) == (
        ["python", "train.py", "--lr", "0.1"],
        [],
    )
    assert redact_command(["x", "--password", "p"]) == (["x", "--password", "<redacted>"], [2])


def test_environment_lock_describes_the_interpreter_and_its_distributions() -> None:
    lock = environment_lock()
    assert lock["python"]["version"] == ".".join(map(str, sys.version_info[:3]))
    assert lock["python"]["executable"] == sys.executable
    assert lock["python"]["source"] == "mlwarden"
    assert lock["packages"]["mlwarden"] == __version__
    freeze = "".join(f"{n}=={v}\n" for n, v in sorted(lock["packages"].items()))
    assert lock["packagesSha256"] == hashlib.sha256(freeze.encode()).hexdigest()
    assert lock["os"]["system"] == os.uname().sysname
    assert lock["os"]["release"] == os.uname().release
    assert lock["cpu"]["count"] == os.cpu_count()
    if shutil.which("nvidia-smi") is None and shutil.which("nvcc") is None:
        assert "driverVersion" not in lock.get("cuda", {})


def test_environment_lock_never_imports_a_framework() -> None:
    code = (
        "import sys; from mlwarden.provenance.training import environment_lock; environment_lock(); "
        "print(sorted(m for m in ('torch', 'tensorflow', 'jax', 'numpy') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.strip() == "[]"


def test_environment_lock_asks_the_command_s_own_interpreter(tmp_path: Path) -> None:
    bindir = tmp_path / "otherenv" / "bin"
    bindir.mkdir(parents=True)
    other = bindir / "python3"
    other.symlink_to(sys.executable)  # outside this venv: the base interpreter's packages
    lock = environment_lock(other)
    assert lock["python"]["source"] == "training-command"
    assert lock["python"]["executable"] == str(other)
    assert lock["python"]["virtualenv"] is False
    fallback = environment_lock(tmp_path / "missing" / "python3")
    assert fallback["python"]["source"] == "mlwarden"


def test_a_python_script_s_shebang_names_the_interpreter(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    script = work / "train"
    script.write_text(f"#!{sys.executable}\n{TRAIN}")
    script.chmod(0o755)
    run = run_training(["./train"], output_dir=tmp_path / "out", workdir=work)
    python = run.environment["python"]
    assert python["source"] == "training-command" and python["executable"] == sys.executable
    (program,) = deps_of(run.to_statement(), "program")
    assert program["digest"]["sha256"] == hashlib.sha256(script.read_bytes()).hexdigest()


# -- git ---------------------------------------------------------------------------------------------------


@needs_git
def test_git_commit_dirty_state_and_remote_without_credentials(tmp_path: Path, repo: Path) -> None:
    (repo / "train.py").write_text(TRAIN + "# tuned\n")
    (repo / "notes.txt").write_text("try lr 3e-4\n")
    run, statement = train(tmp_path, repo)
    (source,) = deps_of(statement, "source")
    commit = git(repo, "rev-parse", "HEAD")
    assert source["digest"] == {"gitCommit": commit}
    assert source["uri"] == "git+https://github.com/org/models.git@refs/heads/main"
    notes = source["annotations"]
    assert notes["dirty"] is True and notes["branch"] == "main"
    assert sorted(notes["changes"]) == ["?? notes.txt", "M train.py"]
    assert notes["changeCount"] == 2
    diff = subprocess.run(
        ["git", "-C", str(repo), "diff", "--binary", "HEAD"], capture_output=True, check=True
    )
    assert notes["diffSha256"] == hashlib.sha256(diff.stdout).hexdigest()
    assert "s3cr3t" not in json.dumps(statement) and "oauth2" not in json.dumps(statement)
    assert run.git is not None and run.git["root"] == str(repo)


@needs_git
def test_clean_tree_detached_head_and_no_remote(tmp_path: Path, repo: Path) -> None:
    git(repo, "remote", "remove", "origin")
    state = git_state(repo)
    assert state is not None and state["dirty"] is False and state["changes"] == []
    assert state["remote"] is None and state["branch"] == "main"

    commit = git(repo, "rev-parse", "HEAD")
    git(repo, "checkout", "-q", "--detach")
    _, statement = train(tmp_path, repo)
    (source,) = deps_of(statement, "source")
    assert source["uri"] == f"git+{repo.as_uri()}@{commit}"
    assert source["annotations"] == {"kind": "source", "dirty": False}


@needs_git
def test_git_state_is_absent_outside_a_repository(tmp_path: Path) -> None:
    env = {**os.environ, "GIT_CEILING_DIRECTORIES": str(tmp_path)}
    (tmp_path / "plain").mkdir()
    assert git_state(tmp_path / "plain", env=env) is None
    empty = tmp_path / "empty"
    empty.mkdir()
    git(empty, "init", "-q")
    assert git_state(empty, env=env) is None  # a repository without a commit pins nothing


@pytest.mark.parametrize(
    ("url", "clean"),
    [
        ("https://user:token@github.com/org/r.git", "https://github.com/org/r.git"),
        ("https://ghp_abc@github.com/org/r.git", "https://github.com/org/r.git"),
        (
            "https://gitlab.example.com:8443/g/r.git?private_token=x#frag",
            "https://gitlab.example.com:8443/g/r.git",
        ),
        ("ssh://git@host.example.com:2222/r.git", "ssh://host.example.com:2222/r.git"),
        ("git@github.com:org/r.git", "ssh://github.com/org/r.git"),
        ("/srv/git/r.git", "/srv/git/r.git"),
        ("file:///srv/git/r.git", "file:///srv/git/r.git"),
    ],
)
def test_strip_credentials(url: str, clean: str) -> None:
    assert strip_credentials(url) == clean


# -- dataset manifests and the base model --------------------------------------------------------------


def test_dataset_manifests_are_recorded_by_root_and_file_digest(tmp_path: Path) -> None:
    root = hashlib.sha256(b"dataset").hexdigest()
    plain = write_json(
        tmp_path / "train.manifest.json", dataset_statement(root, source="s3://u:p@bucket/train/")
    )
    key = generate_key()
    bundle = sign_statement(dataset_statement(root.upper(), name="eval-set"), key)
    signed = write_json(tmp_path / "eval.sig", bundle)

    run, statement = train(tmp_path, data_manifests=[plain, signed], data_trust=None)
    first, second = deps_of(statement, "dataset")
    assert first["name"] == "train-set" and first["digest"] == {"sha256": root}
    assert first["uri"] == "s3://bucket/train/"
    assert first["annotations"]["manifestSha256"] == hashlib.sha256(plain.read_bytes()).hexdigest()
    assert first["annotations"]["manifestSigned"] is False
    assert second["name"] == "eval-set" and second["digest"] == {"sha256": root}
    assert second["annotations"]["manifestSha256"] == hashlib.sha256(signed.read_bytes()).hexdigest()
    assert second["annotations"]["manifestSigned"] is True
    assert second["annotations"]["manifestVerified"] is False
    external = statement["predicate"]["buildDefinition"]["externalParameters"]
    assert external["datasets"] == [str(plain), str(signed)]
    assert [d.root_digest for d in run.datasets] == [root, root]


def test_a_manifest_from_the_dataset_producer_is_read(tmp_path: Path) -> None:
    from mlwarden.provenance.dataset import build_manifest

    data = tmp_path / "data"
    data.mkdir()
    (data / "rows.csv").write_text("a,b\n1,2\n")
    manifest = build_manifest(data, source_uri="s3://bucket/rows/")
    path = write_json(tmp_path / "rows.manifest.json", manifest.to_statement())
    found = dataset_input(path)
    assert found.root_digest == manifest.merkle_root
    assert found.source_uri == "s3://bucket/rows/"


def test_signed_manifests_are_verified_with_the_trusted_key(tmp_path: Path) -> None:
    root = hashlib.sha256(b"d").hexdigest()
    key, other = generate_key(), generate_key()
    signed = write_json(tmp_path / "d.sig", sign_statement(dataset_statement(root), key))
    found = dataset_input(signed, KeyTrust(public_key_pem(key)))
    assert found.signed and found.signer is not None and found.signer["method"] == "key"
    assert found.to_descriptor()["annotations"]["manifestVerified"] is True

    with pytest.raises(TrainingError, match="does not verify"):
        dataset_input(signed, KeyTrust(public_key_pem(other)))
    unsigned = write_json(tmp_path / "d.json", dataset_statement(root))
    with pytest.raises(TrainingError, match="is not signed"):
        dataset_input(unsigned, KeyTrust(public_key_pem(key)))


def test_a_bad_dataset_manifest_fails_before_the_command_runs(tmp_path: Path) -> None:
    root = hashlib.sha256(b"d").hexdigest()
    cases = {
        "missing.json": (None, "cannot read"),
        "text.json": ("not json", "is not JSON"),
        "model.json": (
            {**dataset_statement(root), "predicateType": "https://slsa.dev/provenance/v1"},
            "not a dataset",
        ),
        "nodigest.json": ({**dataset_statement(root), "subject": [{"name": "x", "digest": {}}]}, "no sha256"),
        "envelope.json": ({"dsseEnvelope": {"payloadType": "text/plain", "payload": ""}}, "no in-toto"),
    }
    for name, (content, message) in cases.items():
        path = tmp_path / name
        if isinstance(content, str):
            path.write_text(content)
        elif content is not None:
            write_json(path, content)
        with pytest.raises(TrainingError, match=message):
            train(tmp_path, data_manifests=[path])
        assert not (tmp_path / "out" / "weights.bin").exists()


def test_base_model_directory_and_file(tmp_path: Path) -> None:
    base = tmp_path / "base"
    base.mkdir()
    (base / "model.safetensors").write_bytes(b"\x00" * 1000)
    _, statement = train(tmp_path, base_model=base)
    (model,) = deps_of(statement, "base-model")
    assert model["digest"] == {"sha256": hash_model(base).root_digest}
    assert model["annotations"]["form"] == "directory" and model["annotations"]["resourceCount"] == 1
    external = statement["predicate"]["buildDefinition"]["externalParameters"]
    assert external["baseModel"] == str(base)

    single = base / "model.safetensors"
    found = base_model_input(single)
    assert found.form == "file" and found.root_digest == hashlib.sha256(single.read_bytes()).hexdigest()
    with pytest.raises(TrainingError, match="does not exist"):
        base_model_input(tmp_path / "nope")


# -- failures: nothing is recorded ---------------------------------------------------------------------------


def test_a_failing_command_records_nothing_and_carries_its_exit_code(tmp_path: Path) -> None:
    with pytest.raises(TrainingCommandError) as caught:
        train(tmp_path, None, "3")
    assert caught.value.returncode == 3
    assert caught.value.message == "training command exited 3; no provenance recorded"
    assert caught.value.exit_code == 2


def test_a_killed_command_records_nothing(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    (work / "train.py").write_text("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n")
    with pytest.raises(TrainingCommandError, match="killed by SIGKILL") as caught:
        train(tmp_path, work)
    assert caught.value.returncode == -signal.SIGKILL


def test_a_missing_or_unusable_command_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(TrainingError, match="training command not found: no-such-trainer-xyz"):
        run_training(["no-such-trainer-xyz"], output_dir=tmp_path / "out")
    with pytest.raises(TrainingError, match=r"not found: \./nope\.sh"):
        run_training(["./nope.sh"], output_dir=tmp_path / "out", workdir=tmp_path)
    (tmp_path / "plain.sh").write_text("echo hi\n")
    with pytest.raises(TrainingError, match="not executable"):
        run_training(["./plain.sh"], output_dir=tmp_path / "out", workdir=tmp_path)
    with pytest.raises(UsageError, match="no training command"):
        run_training([], output_dir=tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_an_empty_or_removed_output_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(TrainingError, match="left no files"):
        run_training([sys.executable, "-c", "pass"], output_dir=tmp_path / "out")
    remove = f"import shutil; shutil.rmtree({str(tmp_path / 'gone')!r})"
    with pytest.raises(TrainingError, match="missing after the run"):
        run_training([sys.executable, "-c", remove], output_dir=tmp_path / "gone")
    (tmp_path / "file").write_text("x")
    with pytest.raises(TrainingError, match="is not a directory"):
        run_training([sys.executable, "-c", "pass"], output_dir=tmp_path / "file")


@pytest.mark.skipif(not hasattr(signal, "SIGTERM") or os.name != "posix", reason="POSIX signals")
def test_sigterm_to_mlwarden_is_forwarded_to_the_command(tmp_path: Path) -> None:
    # The command asks its parent (this process, inside run_training) to stop; the parent must pass
    # SIGTERM on, and the command then saves a checkpoint and exits 0. An alarm ends it otherwise.
    script = textwrap.dedent(
        """
        import os, pathlib, signal, sys, time
        out = pathlib.Path(os.environ["MLWARDEN_OUTPUT_DIR"])
        def stop(signum, frame):
            (out / "checkpoint.bin").write_bytes(b"saved on SIGTERM")
            sys.exit(0)
        signal.signal(signal.SIGTERM, stop)
        signal.alarm(30)
        os.kill(os.getppid(), signal.SIGTERM)
        while True:
            time.sleep(0.1)
        """
    )
    before = signal.getsignal(signal.SIGTERM)
    run = run_training([sys.executable, "-c", script], output_dir=tmp_path / "out")
    assert (tmp_path / "out" / "checkpoint.bin").read_bytes() == b"saved on SIGTERM"
    assert run.exit_code == 0 and run.signals == ("SIGTERM",)
    (status,) = run.to_statement()["predicate"]["runDetails"]["byproducts"]
    assert status["annotations"]["signals"] == ["SIGTERM"]  # it may have stopped early: say so
    assert signal.getsignal(signal.SIGTERM) == before  # our handler is gone once the run ends
