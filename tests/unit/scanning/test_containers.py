"""Containers: tolerant zip reading, tar, 7z, single-stream compression, .npy/.npz, nesting and limits."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import pickle
import struct
import tarfile
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest

from mlwarden.scanning import ScanConfig, ScanLimits, Severity, scan_path
from tests.conftest import constructs, findings_of

PAYLOAD = b"\x80\x02cos\nsystem\nX\x04\x00\x00\x00trueq\x00\x85R."  # os.system('true'), never loaded
BENIGN = pickle.dumps({"weights": [0.1, 0.2]}, protocol=2)
Write = Callable[[str, bytes], Path]


def zip_bytes(members: dict[str, bytes], method: int = zipfile.ZIP_STORED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=method) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def torch_like(pkl: bytes, root: str = "archive", pkl_name: str = "data.pkl") -> bytes:
    return zip_bytes({f"{root}/{pkl_name}": pkl, f"{root}/version": b"3\n", f"{root}/data/0": b"\x00" * 64})


def rules(path: Path) -> set[str]:
    return {f.rule_id for f in scan_path(path).all_findings()}


def test_payload_in_any_member_name_of_a_torch_zip(write: Write) -> None:
    path = write("model.bin", torch_like(PAYLOAD, root="weird_root", pkl_name="other.pkl"))
    report = scan_path(path)
    assert constructs(report) == {"os.system"}
    assert {f.member for f in findings_of(report, Severity.HIGH)} == {"weird_root/other.pkl"}


def test_storage_members_are_not_read(write: Write) -> None:
    path = write("model.pt", torch_like(BENIGN))
    report = scan_path(path)
    assert report.all_findings() == []
    assert "archive/data/0" not in report.files[0].formats


def test_bad_crc_does_not_hide_the_member(write: Write) -> None:
    data = bytearray(torch_like(PAYLOAD))
    central = data.rfind(b"PK\x01\x02", 0, data.rfind(b"PK\x05\x06"))
    first_central = data.find(b"PK\x01\x02")
    assert first_central <= central
    struct.pack_into("<L", data, first_central + 16, 0xDEADBEEF)  # CRC of the first member (data.pkl)
    struct.pack_into("<L", data, 14, 0xDEADBEEF)
    path = write("crc.pt", bytes(data))
    with pytest.raises(zipfile.BadZipFile), zipfile.ZipFile(path) as archive:
        archive.read("archive/data.pkl")
    found = rules(path)
    assert {"zip/crc-mismatch", "pickle/dangerous-global"} <= found


def test_overwritten_local_magic_is_still_read(write: Write) -> None:
    data = bytearray(torch_like(PAYLOAD))
    data[0:4] = b"XXXX"
    path = write("magic.pt", bytes(data))
    found = rules(path)
    assert {"zip/bad-local-header", "pickle/dangerous-global"} <= found


def test_encrypted_flag_and_name_mismatch(write: Write) -> None:
    data = bytearray(torch_like(PAYLOAD))
    struct.pack_into("<H", data, 6, 0x1)  # local header flags
    central = data.find(b"PK\x01\x02")
    struct.pack_into("<H", data, central + 8, 0x1)  # central flags
    data[30 : 30 + len("archive/data.pkl")] = b"archive/DATA.PKL"  # local name differs from central
    path = write("flags.pt", bytes(data))
    found = rules(path)
    assert {"zip/encrypted-flag", "zip/name-mismatch", "pickle/dangerous-global"} <= found


def test_duplicate_names_and_both_scanned(write: Write) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive, pytest.warns(UserWarning):
        archive.writestr("archive/data.pkl", PAYLOAD)
        archive.writestr("archive/data.pkl", BENIGN)
    found = rules(write("dup.pt", buffer.getvalue()))
    assert {"zip/duplicate-name", "pickle/dangerous-global"} <= found


def test_hidden_member_not_in_central_directory(write: Write) -> None:
    hidden = zip_bytes({"evil.pkl": PAYLOAD})
    visible = zip_bytes({"ok.pkl": BENIGN})
    # Put a complete local entry for evil.pkl in front; the central directory only lists ok.pkl.
    cut = hidden.find(b"PK\x01\x02")
    data = hidden[:cut] + visible
    # Offsets in visible's directory are now shifted; the reader detects the prefix and adjusts.
    found = rules(write("hidden.zip", data))
    assert "pickle/dangerous-global" in found
    assert found & {"zip/hidden-member", "zip/prepended-data"}


def test_path_traversal_member(write: Write) -> None:
    assert "zip/path-traversal" in rules(write("t.zip", zip_bytes({"../../etc/x": b"hi"})))


def test_member_bytes_limit_is_a_finding(write: Write) -> None:
    path = write("bomb.zip", zip_bytes({"zeros.bin": b"\x00" * (4 << 20)}, zipfile.ZIP_DEFLATED))
    report = scan_path(path, ScanConfig(limits=ScanLimits(max_member_bytes=1 << 20)))
    assert "limit/member-bytes" in {f.rule_id for f in report.all_findings()}


def test_nesting_depth_limit(write: Write) -> None:
    data = PAYLOAD
    for level in range(6):
        data = zip_bytes({f"level{level}.zip": data})
    shallow = scan_path(write("deep.zip", data), ScanConfig(limits=ScanLimits(max_depth=3)))
    assert "limit/depth" in {f.rule_id for f in shallow.all_findings()}
    deep = scan_path(write("deep2.zip", data))
    assert constructs(deep) == {"os.system"}


def test_member_count_limit(write: Write) -> None:
    data = zip_bytes({f"m{i}.txt": b"x" for i in range(50)})
    report = scan_path(write("many.zip", data), ScanConfig(limits=ScanLimits(max_members=10)))
    assert "limit/members" in {f.rule_id for f in report.all_findings()}


@pytest.mark.parametrize(
    ("name", "compress"),
    [
        ("x.gz", gzip.compress),
        ("x.bz2", bz2.compress),
        ("x.xz", lzma.compress),
        ("x.lzma", lambda d: lzma.compress(d, format=lzma.FORMAT_ALONE)),
        ("x.z", zlib.compress),
    ],
)
def test_compressed_streams(write: Write, name: str, compress: Callable[[bytes], bytes]) -> None:
    assert constructs(scan_path(write(name, compress(PAYLOAD)))) == {"os.system"}


def test_lz4_stream(write: Write) -> None:
    lz4_frame = pytest.importorskip("lz4.frame")
    assert constructs(scan_path(write("x.lz4", lz4_frame.compress(PAYLOAD)))) == {"os.system"}


def test_tar_members_and_link_escape(tmp_path: Path, write: Write) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        info = tarfile.TarInfo("inner/model.bin")
        info.size = len(PAYLOAD)
        archive.addfile(info, io.BytesIO(PAYLOAD))
        link = tarfile.TarInfo("inner/passwd")
        link.type = tarfile.SYMTYPE
        link.linkname = "../../../etc/passwd"
        archive.addfile(link)
    report = scan_path(write("bundle.tar", buffer.getvalue()))
    assert "os.system" in constructs(report)
    assert "tar/link-escape" in {f.rule_id for f in report.all_findings()}


def test_7z_archive(write: Write, tmp_path: Path) -> None:
    py7zr = pytest.importorskip("py7zr")
    target = tmp_path / "m.7z"
    with py7zr.SevenZipFile(target, "w") as archive:
        archive.writestr(PAYLOAD, "model.ckpt")
    assert constructs(scan_path(target)) == {"os.system"}


def test_npy_object_array_pickle_is_scanned(write: Write) -> None:
    header = b"{'descr': '|O', 'fortran_order': False, 'shape': (1,), }"
    header += b" " * (63 - (10 + len(header)) % 64) + b"\n"
    data = b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + PAYLOAD
    report = scan_path(write("weights.npy", data))
    assert constructs(report) == {"os.system"}
    assert any(f.member == "<array pickle>" for f in report.all_findings())


def test_real_numpy_files_are_clean(tmp_path: Path) -> None:
    np = pytest.importorskip("numpy")
    np.save(tmp_path / "a.npy", np.arange(12.0).reshape(3, 4))
    np.savez_compressed(tmp_path / "b.npz", x=np.ones(5), y=np.zeros((2, 2), dtype=np.int8))
    np.save(tmp_path / "c.npy", np.array([{"k": 1}, None], dtype=object), allow_pickle=True)
    report = scan_path(tmp_path)
    assert findings_of(report, Severity.MEDIUM) == []


def test_truncated_npy_is_malformed(write: Write, tmp_path: Path) -> None:
    np = pytest.importorskip("numpy")
    np.save(tmp_path / "full.npy", np.arange(100.0))
    data = (tmp_path / "full.npy").read_bytes()[:-40]
    assert "malformed/numpy" in rules(write("cut.npy", data))


def test_real_joblib_and_sklearn_dumps_are_clean(tmp_path: Path) -> None:
    joblib = pytest.importorskip("joblib")
    np = pytest.importorskip("numpy")
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x = np.random.default_rng(0).normal(size=(60, 4))
    y = (x[:, 0] > 0).astype(int)
    pipeline = make_pipeline(StandardScaler(), LogisticRegression()).fit(x, y)
    forest = RandomForestClassifier(n_estimators=3, random_state=0).fit(x, y)
    for compress in (0, 3, ("gzip", 3), ("bz2", 3), ("xz", 3), ("lzma", 3), ("lz4", 3)):
        joblib.dump(forest, tmp_path / f"forest-{compress}.joblib", compress=compress)
    joblib.dump({"a": np.arange(10), "o": np.array([1, "x"], dtype=object)}, tmp_path / "mixed.joblib")
    with (tmp_path / "pipeline.pkl").open("wb") as fh:
        pickle.dump(pipeline, fh)
    report = scan_path(tmp_path)
    assert findings_of(report, Severity.MEDIUM) == [], [f.message for f in report.all_findings()]
    assert len(report.files) == 9


def test_joblib_object_array_payload_is_found(tmp_path: Path) -> None:
    joblib = pytest.importorskip("joblib")
    np = pytest.importorskip("numpy")

    class Boom:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (os.system, ("true",))

    array = np.empty(1, dtype=object)
    array[0] = Boom()
    joblib.dump({"w": np.arange(4.0), "o": array}, tmp_path / "evil.joblib")
    assert constructs(scan_path(tmp_path / "evil.joblib")) == {"posix.system"}
