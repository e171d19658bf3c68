"""The oracle itself: native Linux must reproduce expected/ exactly, every time."""

import json
import subprocess
import tempfile
from pathlib import Path

from conformlib import traces

from conftest import BINARY, conform, expected_traces, needs_build, needs_root

pytestmark = [needs_build, needs_root]

REPEATS = 20


def test_native_run_passes_every_scenario(tmp_path):
    proc = conform("run", "--backend", "native", "--results", str(tmp_path / "r"))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr
    doc = json.loads((tmp_path / "r" / "results.json").read_text())
    verdicts = {r["scenario"]: r["verdict"] for r in doc["results"]}
    assert set(verdicts) == set(expected_traces()), "scenario list and expected/ disagree: ./conform record"
    assert {v for v in verdicts.values()} == {"PASS"}
    assert doc["backends"]["native"]["run_info"]["backend"] == "native"
    assert doc["run_info"]["coverage"]["not covered"] == 0
    for name in ("matrix.md", "matrix.html", "coverage.md", "coverage.html"):
        assert (tmp_path / "r" / name).stat().st_size > 0


def test_rerecording_changes_no_byte():
    proc = conform("record", "--check")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "reproduced byte for byte" in proc.stdout


def test_twenty_native_runs_give_identical_traces():
    oracle = {name: traces.behaviour(doc) for name, doc in expected_traces().items()}
    for i in range(REPEATS):
        with tempfile.TemporaryDirectory() as trace_dir, tempfile.TemporaryDirectory() as work:
            Path(work).chmod(0o755)
            env = {"AFUNIX_TRACE_DIR": trace_dir, "AFUNIX_WORKDIR": work, "PATH": "/usr/bin:/bin"}
            subprocess.run([str(BINARY)], env=env, capture_output=True, timeout=600, check=True)
            seen = {}
            for path in Path(trace_dir).glob("*.json"):
                doc = traces.load(path)
                seen[doc["scenario"]] = traces.behaviour(doc)
            differing = sorted(n for n in oracle if seen.get(n) != oracle[n])
            assert not differing, f"run {i + 1} of {REPEATS}: differs from expected/ in {differing}"
            assert list(Path(work).iterdir()) == [], "scenario directories left behind"
