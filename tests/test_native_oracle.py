"""The oracle itself: native Linux must reproduce expected/ exactly, every time."""

import difflib
import json
from pathlib import Path

import pytest
from conformlib import execute, traces

from conftest import ROOT, conform, expected_traces, needs_build, needs_root

pytestmark = [needs_build, needs_root]

REPEATS = 20


def test_native_run_passes_every_scenario(native_run):
    returncode, stdout, stderr, results = native_run
    assert returncode == 0, stdout[-3000:] + stderr
    doc = json.loads((results / "results.json").read_text())
    verdicts = {r["scenario"]: r["verdict"] for r in doc["results"]}
    assert set(verdicts) == set(expected_traces()), "scenario list and expected/ disagree: ./conform record"
    assert {v for v in verdicts.values()} == {"PASS"}
    assert doc["backends"]["native"]["run_info"]["backend"] == "native"
    assert doc["run_info"]["coverage"]["not covered"] == 0
    for name in ("matrix.md", "matrix-grid.md", "index.html", "site/data.js", "coverage.md", "coverage.html"):
        assert (results / name).stat().st_size > 0
    # The scenario directories were in memory (scratch_dir), and went with the run.
    made = (results / "temporary-dirs.txt").read_text().split()
    assert made and all(Path(d).parent == Path(execute.scratch_dir()) and not Path(d).exists() for d in made), made


def test_rerecording_changes_no_byte():
    proc = conform("record", "--check")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "reproduced byte for byte" in proc.stdout


# The twenty runs in CHUNKS items of REPEATS // CHUNKS runs in a row each: ./conform test's workers
# run the items at the same time (the runs are still twenty, each batched, and they compete for the
# CPUs, which makes them no easier), so this is not the one item the whole session waits for.
CHUNKS = 4


@pytest.mark.parametrize("chunk", range(CHUNKS))
def test_twenty_native_runs_give_identical_traces(chunk):
    """Batched, as ./conform runs them: many scenarios per process, in parallel processes."""
    from conformlib import execute
    from conformlib.backends import load_backend
    native = load_backend(ROOT / "runners" / "backends" / "native.toml")
    oracle = {name: traces.canonical(doc) for name, doc in expected_traces().items()}
    names = sorted(oracle)
    per_chunk = REPEATS // CHUNKS
    for i in range(chunk * per_chunk, (chunk + 1) * per_chunk):
        tmp = execute.temp_root("oracle-test")
        try:
            trace_dir = tmp / "traces"
            trace_dir.mkdir()
            results = execute.run_scenarios(native, names, execute.Paths(ROOT, trace_dir, tmp), lambda s: None)
            differing = sorted(n for n in names
                               if results[n].trace is None or traces.canonical(results[n].trace) != oracle[n])
            assert not differing, (f"run {i + 1} of {REPEATS}: differs from expected/ in {differing}; first: "
                                   + _what_differs(expected_traces()[differing[0]], results[differing[0]]))
            assert [p.name for p in tmp.iterdir()] == ["traces"], "scenario directories left behind"
        finally:
            execute.remove_temp_root(tmp)


def _what_differs(expected, result):
    """The trace's first lines that differ (the run had no oracle to judge by, so the verdict's
    message says nothing): a flake seen once in a CI log must be diagnosable from the log alone."""
    if result.trace is None:
        return f"no trace ({result.verdict}: {result.message})"
    shown = traces.diff(expected, result.trace) or "\n".join(difflib.unified_diff(
        traces.canonical(expected).splitlines(), traces.canonical(result.trace).splitlines(), lineterm=""))
    return "\n" + "\n".join(shown.splitlines()[:40])
