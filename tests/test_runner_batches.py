"""Batched execution keeps every scenario as isolated as a process of its own would: fixture backends
crash, hang, or leave state behind in one scenario in the middle of a batch, and every other scenario
of the batch must come out exactly as it does alone. Also what the runner refuses to be fooled by or
buried under: planted traces, floods of output, limits of the harness itself, interrupts.

Which scenarios misbehave is chosen from the scenario list (never hard-coded names), and each test
checks the runner's evidence that a fresh process took over (the traces' nonces)."""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest

from conftest import FIXTURE_BACKENDS, ROOT, conform, needs_build, needs_root

pytestmark = [needs_build, needs_root]

SUBSET = "Peercred"  # a few dozen scenarios, each quick (pytest -k: any name containing it)


def run(tmp_path, backend, *extra, env=None, k=SUBSET):
    results = tmp_path / "results"
    proc = conform("run", "--backends-dir", str(FIXTURE_BACKENDS), "--backend", backend,
                   "--results", str(results), *extra, "--", "-k", k, env=env)
    doc_path = results / "results.json"
    assert doc_path.exists(), f"no results.json; conform said:\n{proc.stdout}\n{proc.stderr}"
    doc = json.loads(doc_path.read_text())
    return proc, {r["scenario"]: r for r in doc["results"] if r["backend"] == backend}, results


def nonce(results, backend, scenario):
    path = results / "traces" / backend / (scenario.replace("/", "~") + ".json")
    return json.loads(path.read_text())["run"]["nonce"] if path.exists() else None


def subset():
    """The scenarios of SUBSET in the order the program runs them (the native run lists them)."""
    from conformlib.scenarios import list_scenarios
    from conftest import BINARY
    return [s for s in list_scenarios(BINARY) if SUBSET.lower() in s.lower()]


MISBEHAVIOURS = ["crash", "hang", "fd", "sigpipe", "umask", "rlimit", "cwd", "env", "child"]


def test_a_scenario_that_misbehaves_mid_batch_costs_only_itself(tmp_path):
    from conformlib.execute import SHARD_SIZE, shards_of
    # With one worker the subset runs in its first batch in this order (shards of SHARD_SIZE).
    names = shards_of(subset(), SHARD_SIZE)[0]
    assert len(names) >= 3 * len(MISBEHAVIOURS), "subset too small to space the misbehaviours out"
    # Every third scenario misbehaves, so each one has well-behaved neighbours on both sides.
    targets = {names[1 + 3 * i]: how for i, how in enumerate(MISBEHAVIOURS)}
    env = dict(os.environ, AFUNIX_FIXTURE_MISBEHAVE=",".join(f"{s}={h}" for s, h in targets.items()))
    # One worker: the whole subset is one batch, so every misbehaviour happens mid-batch.
    _, verdicts, results = run(tmp_path, "fixture-misbehave-mid-shard", "--jobs", "1", env=env)
    assert set(verdicts) == set(subset())
    by_how = {how: s for s, how in targets.items()}
    assert verdicts[by_how["crash"]]["verdict"] == "CRASH"
    assert "SIGSEGV" in verdicts[by_how["crash"]]["message"]
    assert verdicts[by_how["hang"]]["verdict"] == "TIMEOUT"
    others = {s: r["verdict"] for s, r in verdicts.items() if s not in targets}
    assert set(others.values()) == {"PASS"}, {s: v for s, v in others.items() if v != "PASS"}
    # After each misbehaviour a fresh process ran the next scenario; before it, the same process
    # ran the one before (the batch really was a batch).
    for target in targets:
        i = names.index(target)
        before, after = nonce(results, "fixture-misbehave-mid-shard", names[i - 1]), \
            nonce(results, "fixture-misbehave-mid-shard", names[i + 1])
        assert before and after and before != after, target
        if targets[target] not in ("crash", "hang"):
            assert nonce(results, "fixture-misbehave-mid-shard", target) == before, target
            log = (results / "traces" / "fixture-misbehave-mid-shard"
                   / (target.replace("/", "~") + ".log")).read_text()
            assert "the next scenario runs in a fresh process" in log, target
    quiet = names[-1]
    assert nonce(results, "fixture-misbehave-mid-shard", quiet) == \
        nonce(results, "fixture-misbehave-mid-shard", names[-2]) or names[-2] in targets


def test_batched_and_isolated_give_the_same_verdicts(tmp_path):
    """Every misbehaviour at once, each with well-behaved neighbours: batched as ./conform runs
    them and with a process per scenario, every cell gets the same verdict."""
    names = subset()
    targets = {names[1 + 3 * i]: how for i, how in enumerate(MISBEHAVIOURS)}
    env = dict(os.environ, AFUNIX_FIXTURE_MISBEHAVE=",".join(f"{s}={h}" for s, h in targets.items()))
    _, batched, _ = run(tmp_path / "b", "fixture-misbehave-mid-shard", env=env)
    _, isolated, _ = run(tmp_path / "i", "fixture-misbehave-mid-shard", "--isolate", env=env)
    assert set(batched) == set(names)
    assert {s: r["verdict"] for s, r in batched.items()} == {s: r["verdict"] for s, r in isolated.items()}
    by_how = {how: s for s, how in targets.items()}
    assert batched[by_how["crash"]]["verdict"] == "CRASH" and batched[by_how["hang"]]["verdict"] == "TIMEOUT"
    assert {r["verdict"] for s, r in batched.items() if s not in targets} == {"PASS"}


def test_a_planted_trace_is_never_a_verdict(tmp_path):
    _, verdicts, _ = run(tmp_path, "fixture-planted-trace")
    assert verdicts and {r["verdict"] for r in verdicts.values()} == {"ERROR"}
    for r in verdicts.values():
        assert "not written by the process the runner started" in r["message"]


def test_output_flood_is_capped_with_head_tail_and_what_was_dropped(tmp_path):
    names = subset()[:2]
    _, verdicts, results = run(tmp_path, "fixture-flood", k=" or ".join(n.split(".")[1] for n in names))
    assert set(names) <= set(verdicts)
    assert {verdicts[n]["verdict"] for n in names} == {"TIMEOUT"}
    for n in names:
        log = results / "traces" / "fixture-flood" / (n.replace("/", "~") + ".log")
        text = log.read_text()
        assert log.stat().st_size < 100 * 1024
        assert text.startswith("y\ny\n") and text.endswith("y\n")
        assert "bytes of output dropped here" in text
    total = sum(f.stat().st_size for f in results.rglob("*") if f.is_file())
    assert total < 5 * 1024 * 1024


@pytest.mark.parametrize("backend, limit", [("fixture-fd-limit", "RLIMIT_NOFILE"),
                                            ("fixture-disk-full", "ENOSPC")])
def test_a_limit_of_the_harness_is_error_naming_it_not_a_deviation(tmp_path, backend, limit):
    _, verdicts, _ = run(tmp_path, backend)
    assert verdicts and {r["verdict"] for r in verdicts.values()} == {"ERROR"}
    for r in verdicts.values():
        assert r["message"].startswith("harness limit") and limit in r["message"], r["message"]


def marked(mark):
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if mark.encode() in (entry / "environ").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                pass
    return found


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupt_kills_every_scenario_process_and_removes_the_temporary_directories(tmp_path, sig):
    mark = f"afunix-test-{uuid.uuid4()}"
    # A temporary directory of its own (world-searchable, as the runner's must be): whatever other
    # tests running at the same time leave there is not this run's.
    tmp = Path(tempfile.mkdtemp(prefix="afunix-test-interrupt-"))
    tmp.chmod(0o755)
    env = dict(os.environ, AFUNIX_TEST_MARK=mark, TMPDIR=str(tmp))
    with open(tmp_path / "pytest.out", "wb") as out:  # a file: a full pipe would block pytest
        proc = subprocess.Popen([sys.executable, "-X", "faulthandler", "-m", "pytest", "runners/test_conformance.py",
                                 "-p", "no:cacheprovider",
                                 "-q", "--backends-dir", str(FIXTURE_BACKENDS), "--backend", "fixture-hang",
                                 "--results", str(tmp_path / "r"), "-k", "Peercred"],
                                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while len(marked(mark)) < 4 and time.monotonic() < deadline:  # pytest and its scenario processes
        time.sleep(0.1)
    assert len(marked(mark)) >= 4, "the hanging scenarios never started"
    proc.send_signal(sig)
    # Bounded: a runner that ignores the interrupt hangs with fixture-hang for ever. 30 s, not 10: in
    # two full ./conform test runs at load 15-20 it took more than 10 s (alone it takes under 1 s; the
    # cause was not found: the dump below says where it was, should it happen again).
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGABRT)  # faulthandler: every thread's stack, for whoever reads this
        proc.wait(timeout=30)
        said = (tmp_path / "pytest.out").read_text(errors="replace")
        pytest.fail(f"pytest still running 30 s after {sig.name}; where it was:\n{said[-6000:]}")
    time.sleep(0.2)
    assert marked(mark) == []
    try:
        assert list(tmp.glob("afunix-*")) == [], "temporary directories left behind"
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_cpu_of_the_scenario_processes_and_of_the_runner_is_accounted(tmp_path):
    """bench/runner.py reads a run's CPU from results.json: every process's CPU (its actors
    included) per backend, and the runner's own. The fixture spends 0.3 s of CPU time in each."""
    _, verdicts, results = run(tmp_path, "fixture-burns-cpu", "--jobs", "2")
    assert verdicts and {r["verdict"] for r in verdicts.values()} == {"PASS"}
    doc = json.loads((results / "results.json").read_text())
    execution = doc["backends"]["fixture-burns-cpu"]["execution"]
    assert execution["processes"] >= 2
    assert execution["cpu_s"] >= 0.3 * execution["processes"]
    assert doc["run_info"]["runner_cpu_s"] > 0


def test_more_shards_start_only_while_a_core_is_idle_and_one_at_a_time(monkeypatch):
    """The executor grows past its base number of shards only on CPU time the machine leaves idle
    (/proc/stat), at most one more shard per sample: a machine busy with other work is not
    oversubscribed."""
    from conformlib import execute
    assert execute.Executor(jobs=3).max_jobs == 3  # an explicit --jobs is the number, no more
    assert execute.Executor().max_jobs == execute.GROW_FACTOR * execute.default_jobs()
    clock = [1000.0]
    monkeypatch.setattr(execute.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(execute.os, "cpu_count", lambda: 2)
    counters = iter([(0, 0),          # at the start
                     (200, 200),      # both cores idle over the first sample
                     (200, 400),      # both busy over the next
                     (300, 600)])     # half of two cores idle: one core's worth
    monkeypatch.setattr(execute.CpuRoom, "_read", staticmethod(lambda: next(counters)))
    room = execute.CpuRoom()
    clock[0] += execute.CPU_SAMPLE_S
    assert room.may_grow()  # two idle cores
    assert not room.may_grow()  # one more per sample at most
    clock[0] += execute.CPU_SAMPLE_S
    assert not room.may_grow()  # busy
    clock[0] += execute.CPU_SAMPLE_S
    assert room.may_grow()  # one core idle


def test_scenario_directories_are_in_memory_unless_tmpdir_says_where(tmp_path):
    """Thousands of sockets and directories made and removed: in a tmpfs, not on the disk
    (execute.scratch_dir says why); a TMPDIR the user set wins."""
    ask = [sys.executable, "-c", "from conformlib import execute; print(execute.scratch_dir())"]
    env = {k: v for k, v in os.environ.items() if k != "TMPDIR"}
    env["PYTHONPATH"] = str(ROOT / "runners")
    default = subprocess.run(ask, env=env, capture_output=True, text=True, check=True).stdout.strip()
    told = subprocess.run(ask, env=dict(env, TMPDIR=str(tmp_path)), capture_output=True, text=True,
                          check=True).stdout.strip()
    from conformlib import execute
    assert execute._is_tmpfs(execute.MEMORY_DIR) and not execute._is_tmpfs("/proc")
    assert execute._is_tmpfs(default), default
    assert told == str(tmp_path)
