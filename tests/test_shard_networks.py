"""Scenario-program processes running at the same time in different shards do not share a network
(runners/conformlib/leftovers.py): each has a network namespace of its own with loopback up, so
one's loopback TCP listeners and abstract AF_UNIX names are out of another's reach. Checked with
the fixture wrapper tests/fixtures/shard_neighbours.py, which makes two processes meet and says
whether they reached each other; without namespaces it does (the first test), so the others can
fail."""

import json
import subprocess
import sys

import pytest

from conftest import FIXTURE_BACKENDS, ROOT, conform, needs_build, needs_root

sys.path.insert(0, str(ROOT / "runners"))
from conformlib import execute, leftovers  # noqa: E402

pytestmark = [needs_root]

NEIGHBOURS = ROOT / "tests" / "fixtures" / "shard_neighbours.py"


class _Backend:
    state_dirs = []


def meet(tmp_path, wrap=lambda argv, i: argv):
    """Two processes of the fixture wrapper at once (each wrapped by `wrap`): their exit statuses,
    sorted, and what they said. Whichever starts first waits for the other: no timing involved."""
    argv = [sys.executable, str(NEIGHBOURS), str(tmp_path), "true"]
    procs = [subprocess.Popen(wrap(argv, i), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True) for i in range(2)]
    said = [p.communicate(timeout=120)[0] for p in procs]
    return sorted(p.returncode for p in procs), "".join(said)


def test_the_fixture_finds_processes_that_share_a_network(tmp_path):
    codes, said = meet(tmp_path)
    assert codes == [0, 125], said
    assert "is another process's" in said and "connected to 127.0.0.1:" in said


@pytest.mark.parametrize("how", ["helper", "unshare and ip", "unshare and python"])
def test_each_wrapped_process_has_a_network_of_its_own_with_loopback_up(tmp_path, monkeypatch, how):
    assert leftovers.network_isolation() is None, leftovers.network_isolation()
    if how == "helper":
        assert (ROOT / "build" / "runners" / "helpers" / "afunix-private-ns").exists(), "./conform build"
    if how == "unshare and python":  # a Debian without iproute2
        monkeypatch.setattr(leftovers, "_LOOPBACK_UP", leftovers.PYTHON_LOOPBACK_UP)
    if how == "unshare and ip":
        monkeypatch.setattr(leftovers, "_LOOPBACK_UP", leftovers.IP_LOOPBACK_UP)
    watches = []
    for i in range(2):
        paths = execute.Paths(root=ROOT, trace_dir=tmp_path, tmp=tmp_path / f"p{i}", run_tmp=tmp_path)
        paths.tmp.mkdir()
        w = leftovers.Watch(_Backend(), paths)
        if how != "helper":
            w.helper = tmp_path / "not-built"
        watches.append(w)
    try:
        codes, said = meet(tmp_path, lambda argv, i: watches[i].wrap(argv))
    finally:
        for w in watches:
            w.remove()
    # A loopback device left down fails the wrapper's listen on 127.0.0.1 (not 0).
    assert codes == [0, 0], said


@needs_build
def test_parallel_shards_of_a_run_do_not_share_a_network(tmp_path):
    results = tmp_path / "results"
    proc = conform("run", "--no-applications", "--backends-dir", str(FIXTURE_BACKENDS),
                   "--backend", "fixture-shard-neighbours", "--results", str(results), "--jobs", "2",
                   "--", "-k", "Peercred")
    assert (results / "results.json").exists(), proc.stdout + proc.stderr
    doc = json.loads((results / "results.json").read_text())
    assert doc["run_info"]["network"]["per_process"], doc["run_info"]["network"]
    verdicts = {r["scenario"]: r for r in doc["results"]}
    assert len(verdicts) >= 4  # two shards of at least two scenarios: the two processes meet
    bad = {s: (r["verdict"], r.get("message", "")) for s, r in verdicts.items() if r["verdict"] != "PASS"}
    assert not bad, bad


def test_without_a_network_namespace_the_run_says_so(monkeypatch):
    monkeypatch.setitem(leftovers._found, "network", "the runner is not root")
    info = leftovers.describe_network()
    assert info["per_process"] is False
    assert "not root" in info["why_not"] and "share loopback" in info["why_not"]
