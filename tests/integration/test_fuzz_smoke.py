"""A few hundred fuzzed inputs through the scanner and the pickle machine: nothing may escape.

The strategies and the oracle live in ``bench/fuzz_scanner.py`` (run it for a long campaign).
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlwarden.scanning import scan_bytes
from mlwarden.scanning._formats.pickle_vm import PickleMachine
from tests.conftest import load_script

ROOT = Path(__file__).resolve().parents[2]


def _load_fuzzer() -> ModuleType:
    return load_script("fuzz_scanner", "bench")


fuzz = _load_fuzzer()

SMOKE = settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)


@pytest.mark.parametrize("name", sorted(fuzz.SEEDS))
def test_seeds_are_scanned_cleanly(name: str) -> None:
    """Every seed is a valid file of its format: recognised, and no parse error."""
    report = scan_bytes(fuzz.SEEDS[name], name)
    assert report.format not in ("unknown", "empty"), report.format
    rules = {f.rule_id for f in report.findings}
    assert "malformed/parse-error" not in rules, report.findings
    if name in ("pickle-evil", "pickle-stack-global"):
        assert any(f.construct == "os.system" for f in report.findings), report.findings


@SMOKE
@given(case=fuzz.fuzz_inputs())
def test_fuzzed_inputs_never_escape(case: tuple[str, bytes]) -> None:
    """Raw calls: an escaping exception fails the test with its own traceback."""
    _kind, data = case
    PickleMachine(data).run()
    report = scan_bytes(data, "fuzz.bin")
    assert report.size == len(data)
    report.to_dict()


@SMOKE
@given(
    case=st.one_of(fuzz.opcode_streams(), fuzz.mutated_seeds(), fuzz.rewrapped(), fuzz.safetensors_headers())
)
def test_fuzz_oracle_records_nothing(case: tuple[str, bytes]) -> None:
    """The bench oracle: no crash, report is JSON matching docs/scan-report.schema.json, no hang."""
    stats = fuzz.Stats()
    fuzz.check_input(*case, stats, hang_seconds=60.0)
    assert stats.examples == 1
    assert not stats.crashes, stats.crashes[0]["detail"]
    assert stats.slowest < 30.0, f"{stats.slowest:.1f}s on {stats.slowest_kind}"


def test_fuzz_script_main_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The command-line driver itself: a tiny run, no crash, the summary printed, exit 0."""
    crash_dir = tmp_path / "crashes"
    code = fuzz.main(
        ["--examples", "40", "--batch", "20", "--seconds", "60", "--seed", "1", "--crash-dir", str(crash_dir)]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert "examples run:     40" in out
    assert "crashes:          0" in out
    assert "slowest input:" in out
    assert not crash_dir.exists() or not any(crash_dir.iterdir())
