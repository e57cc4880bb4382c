"""Walking paths, dispatch by content, limits and plug-ins."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from mlwarden.errors import ConfigError, ScanError
from mlwarden.scanning import ScanConfig, ScanLimits, Scanner, Severity, scan_path, scan_paths
from mlwarden.scanning.registry import builtin_scanners
from tests.conftest import constructs

PAYLOAD = b"cos\nsystem\n(S'true'\ntR."
Write = Callable[[str, bytes], Path]


def test_format_decided_by_content_not_extension(write: Write) -> None:
    for name in ("weights.safetensors", "model.npy", "README", "config.json"):
        path = write(name, PAYLOAD)
        assert constructs(scan_path(path)) == {"os.system"}, name


def test_symlink_escaping_root_is_a_finding(tmp_path: Path) -> None:
    root = tmp_path / "model"
    root.mkdir()
    (root / "ok.json").write_text("{}")
    (root / "secret").symlink_to("/etc/hostname")
    (root / "inner").symlink_to(root / "ok.json")
    report = scan_path(root)
    rules = {f.rule_id: f for f in report.findings}
    assert rules["path/symlink-escape"].severity == Severity.HIGH
    assert "path/symlink-skipped" in rules
    assert [Path(f.path).name for f in report.files] == ["ok.json"]


def test_special_files_are_findings_not_hangs(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe")
    report = scan_path(tmp_path)
    assert [f.rule_id for f in report.findings] == ["path/special-file"]


def test_one_hostile_file_never_aborts_a_directory(tmp_path: Path) -> None:
    (tmp_path / "a_evil.pkl").write_bytes(PAYLOAD)
    (tmp_path / "b_garbage.bin").write_bytes(b"\x80\x05" + os.urandom(4096))
    (tmp_path / "c_truncated.zip").write_bytes(b"PK\x03\x04" + b"\x00" * 20)
    (tmp_path / "d_ok.json").write_text('{"a": 1}')
    report = scan_path(tmp_path)
    assert len(report.files) == 4
    assert constructs(report) == {"os.system"}


def test_parallel_scan_matches_serial(tmp_path: Path) -> None:
    for i in range(12):
        (tmp_path / f"f{i}.pkl").write_bytes(PAYLOAD if i % 3 == 0 else b"\x80\x02}q\x00.")
    serial = scan_path(tmp_path)
    parallel = scan_path(tmp_path, ScanConfig(jobs=2))
    key = sorted((f.path, len(f.findings)) for f in serial.files)
    assert sorted((f.path, len(f.findings)) for f in parallel.files) == key


def test_time_limit_is_a_finding(write: Write) -> None:
    path = write("slow.pkl", b"\x80\x02" + b"N0" * 300_000 + b"N.")
    report = scan_path(path, ScanConfig(limits=ScanLimits(max_pickle_ops=1000)))
    assert "limit/ops" in {f.rule_id for f in report.all_findings()}


def test_unknown_binary_is_medium_and_text_is_silent(write: Write) -> None:
    unknown = scan_path(write("blob.dat", bytes(range(256)) * 4))
    assert [(f.rule_id, f.severity) for f in unknown.all_findings()] == [("format/unknown", Severity.MEDIUM)]
    assert scan_path(write("notes.txt", b"just words\n")).all_findings() == []


def test_missing_path_raises_scan_error(tmp_path: Path) -> None:
    with pytest.raises(ScanError, match="does not exist"):
        scan_paths([tmp_path / "nope"])


def test_config_rejects_unknown_keys() -> None:
    with pytest.raises(ConfigError, match="unknown"):
        ScanConfig.from_settings({"max_dept": 3})
    assert ScanConfig.from_settings({"max_depth": 3, "jobs": 2}).limits.max_depth == 3


class _CountingScanner(Scanner):
    name = "counting"
    formats = frozenset({"text"})

    def scan(self, blob, ctx):  # type: ignore[no-untyped-def]
        yield ctx.finding("plugin/seen", Severity.LOW, f"{len(blob)} bytes", scanner=self.name)


def test_plugins_load_only_when_named(write: Write) -> None:
    path = write("notes.txt", b"hello\n")
    config = ScanConfig(plugins=(f"{__name__}:_CountingScanner",))
    assert [f.rule_id for f in scan_path(path, config).all_findings()] == ["plugin/seen"]
    with pytest.raises(ConfigError):
        scan_path(path, ScanConfig(plugins=("no.such.module:X",)))


@pytest.mark.parametrize("scanner", builtin_scanners(), ids=lambda s: s.name)
def test_every_builtin_scanner_conforms(scanner: Scanner) -> None:
    assert isinstance(scanner, Scanner)
    assert scanner.name and scanner.formats
    from mlwarden.scanning.sniff import FORMATS

    assert scanner.formats <= set(FORMATS)


def test_scanning_never_imports_ml_frameworks(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    torch.save({"w": torch.zeros(3)}, tmp_path / "m.pt")
    torch.save({"w": torch.zeros(3)}, tmp_path / "legacy.pt", _use_new_zipfile_serialization=False)
    code = (
        "import sys; from mlwarden.scanning import scan_path; scan_path(sys.argv[1]);"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'torch','tensorflow','keras','joblib','onnx','onnxruntime','sklearn','pandas','dill'}); print(bad)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


def test_public_facade_exports() -> None:
    import mlwarden.scanning as facade

    assert sorted(facade.__all__) == facade.__all__
    assert all(hasattr(facade, name) for name in facade.__all__)


def test_text_typed_by_name_only_where_loaders_go_by_name(write: Write) -> None:
    source = b'"""Custom modeling code."""\nimport os\nos.system("true")\n'
    report = scan_path(write("modeling_custom.py", source))
    assert {"code/python-source", "code/dangerous-call"} <= {f.rule_id for f in report.all_findings()}
    assert scan_path(write("notes.txt", source)).all_findings() == []
    template = b"{{ ''.__class__.__mro__[1].__subclasses__() }}"
    report = scan_path(write("chat_template.jinja", template))
    assert max(f.severity for f in report.all_findings()) == Severity.CRITICAL


def test_onnx_external_data_file_is_not_unknown(tmp_path: Path) -> None:
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    np = pytest.importorskip("numpy")
    weight = numpy_helper.from_array(np.ones((64, 64), dtype=np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 64])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 64])],
        [weight],
    )
    model = helper.make_model(graph)
    onnx.save_model(
        model,
        tmp_path / "m.onnx",
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location="m.weights",
        size_threshold=0,
    )
    report = scan_path(tmp_path)
    by_file = {Path(f.path).name: {x.rule_id for x in f.findings} for f in report.files}
    assert by_file["m.weights"] == {"onnx/external-data-file"}
    assert max((f.severity for f in report.all_findings()), default=Severity.INFO) == Severity.INFO
