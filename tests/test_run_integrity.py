"""A run that never lies: every selected cell accounted for exactly once, runs isolated from each
other, interrupts that stop everything and say the run is partial, hostile inputs refused with one
line. Each case is one the issue found broken; inputs are constructed, backends are fixtures, and
the runs select a few scenarios with -k so that the file stays fast."""

import importlib.machinery
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid
import zipfile
from pathlib import Path

import pytest
from conformlib import importer, report, runlog
from conformlib.errors import ConformError

from conftest import EXPECTED, FIXTURE_BACKENDS, ROOT, conform, expected_traces, needs_build, needs_root

# Two scenarios that exist in every build: the cells of a small run.
TWO = "Addressing.ConnectMissing"
TWO_NAMES = ["Addressing.ConnectMissingPath", "Addressing.ConnectMissingAbstractName"]


def results_of(results_dir):
    return json.loads((Path(results_dir) / "results.json").read_text())


def cells(doc):
    return [(r["backend"], r["scenario"]) for r in doc["results"]]


def run(tmp_path, *extra, backend="native", fixtures=False, env=None):
    results = tmp_path / "results"
    dirs = ["--backends-dir", str(FIXTURE_BACKENDS)] if fixtures else []
    proc = conform("run", *dirs, "--backend", backend, "--results", str(results), *extra, env=env)
    return proc, results


def copy_expected(tmp_path):
    d = tmp_path / "expected"
    shutil.copytree(EXPECTED, d)
    return d


def one_line(proc):
    """The error conform printed: one line, and no Python traceback anywhere."""
    assert "Traceback" not in proc.stdout + proc.stderr, proc.stdout + proc.stderr
    lines = [line for line in proc.stderr.strip().splitlines() if line.startswith("conform: error: ")]
    assert len(lines) == 1, proc.stdout + proc.stderr
    return lines[0]


# ---- accounting -------------------------------------------------------------------------------

@needs_build
@needs_root
def test_a_corrupt_expected_file_is_an_error_cell_and_fails_the_run(tmp_path):
    expected = copy_expected(tmp_path)
    broken = expected / f"{TWO_NAMES[0]}.json"
    broken.write_bytes(broken.read_bytes() + b"\xff")
    proc, results = run(tmp_path, "--", "-k", TWO, "--expected", str(expected))
    doc = results_of(results)
    assert sorted(cells(doc)) == sorted(("native", s) for s in TWO_NAMES)
    row = next(r for r in doc["results"] if r["scenario"] == TWO_NAMES[0])
    assert row["verdict"] == "ERROR" and "not UTF-8" in row["message"]
    assert proc.returncode == 1 and not doc["partial"]


@needs_build
@needs_root
@pytest.mark.parametrize("xdist", [[], ["-n", "2"]], ids=["one-process", "xdist"])
def test_an_item_that_raises_is_an_error_cell_with_the_reason(tmp_path, xdist):
    """Any exception in an item (here a plugin standing for a bug in the runner) is the cell's ERROR,
    with the exception's line, never a dropped cell."""
    (tmp_path / "raising_plugin.py").write_text(
        "def pytest_runtest_setup(item):\n"
        f"    if {TWO_NAMES[0]!r} in item.nodeid:\n"
        "        raise RuntimeError('simulated runner bug')\n")
    env = dict(os.environ, PYTHONPATH=str(tmp_path))
    proc, results = run(tmp_path, "--", *xdist, "-k", TWO, "-p", "raising_plugin", env=env)
    doc = results_of(results)
    assert sorted(cells(doc)) == sorted(("native", s) for s in TWO_NAMES)
    row = next(r for r in doc["results"] if r["scenario"] == TWO_NAMES[0])
    assert row["verdict"] == "ERROR" and "RuntimeError: simulated runner bug" in row["message"], row
    assert proc.returncode == 1 and not doc["partial"]


def test_accounting_lists_every_selected_cell_exactly_once():
    selected = [("a", "S.one"), ("a", "S.two"), ("b", "S.one")]
    records = [{"backend": "a", "scenario": "S.two", "verdict": "PASS"},
               {"backend": "a", "scenario": "S.two", "verdict": "ERROR"},  # a teardown error after it
               runlog.unjudged_record("b", "S.one", "KeyError: 'x'"),
               {"backend": "z", "scenario": "S.one", "verdict": "PASS"}]  # not selected
    out = runlog.account(selected, records, not_run="not run: interrupted")
    assert [(r["backend"], r["scenario"], r["verdict"]) for r in out] == \
        [("a", "S.one", "ERROR"), ("a", "S.two", "PASS"), ("b", "S.one", "ERROR")]
    assert out[0]["message"] == "not run: interrupted" and "KeyError: 'x'" in out[2]["message"]


@needs_build
@needs_root
def test_a_worker_that_dies_gives_error_cells_not_a_backend_not_run(tmp_path):
    # pytest-xdist workers (-n): the fixture kills the worker that runs the cell, not the run.
    proc, results = run(tmp_path, "--", "-n", "2", "-k", TWO, backend="fixture-kill-runner", fixtures=True)
    doc = results_of(results)
    assert sorted(cells(doc)) == sorted(("fixture-kill-runner", s) for s in TWO_NAMES)
    assert {r["verdict"] for r in doc["results"]} == {"ERROR"}
    assert all("crashed" in r["message"] for r in doc["results"]), doc["results"]
    assert proc.returncode == 1


@needs_build
@needs_root
def test_a_runner_killed_mid_run_leaves_partial_results_that_say_so(tmp_path):
    proc, results = run(tmp_path, "-j", "1", "--", "-k", TWO, backend="fixture-kill-runner", fixtures=True)
    doc = results_of(results)
    assert doc["partial"] and "SIGKILL" in doc["partial_reason"]
    assert sorted(cells(doc)) == sorted(("fixture-kill-runner", s) for s in TWO_NAMES)
    assert all(r["verdict"] == "ERROR" and r["message"].startswith("not run: ") for r in doc["results"])
    assert "PARTIAL run" in proc.stdout and proc.returncode == 1


@needs_build
@needs_root
def test_a_run_stopped_early_is_partial(tmp_path):
    proc, results = run(tmp_path, "-j", "1", "--", "-k", "Addressing.Connect", "-x",
                        backend="fixture-connect-enoent-as-eacces", fixtures=True)
    doc = results_of(results)
    assert doc["partial"] and "stopped early" in doc["partial_reason"]
    assert len({c for c in cells(doc)}) == len(cells(doc)) > 1
    assert any(r["message"].startswith("not run: ") for r in doc["results"])
    assert proc.returncode == 1


# Tests that use the checkout's own results/ (results/latest, run-* directories) run one after
# another on one worker: each looks at what the others change.
CHECKOUT_RESULTS = pytest.mark.xdist_group("checkout-results")


def latest_state():
    latest = ROOT / "results" / "latest"
    return os.readlink(latest) if latest.is_symlink() else None


def run_dirs():
    d = ROOT / "results"
    return set(d.glob("run-*")) if d.is_dir() else set()


@needs_build
@needs_root
@CHECKOUT_RESULTS
def test_a_run_that_selects_nothing_says_so_exits_nonzero_and_keeps_latest():
    before, dirs = latest_state(), run_dirs()
    proc = conform("run", "--backend", "native", "--", "-k", "NoSuchScenarioAnywhere")
    assert proc.returncode != 0
    assert "nothing selected" in proc.stdout
    assert latest_state() == before and run_dirs() == dirs


@needs_build
@needs_root
def test_a_broken_recorded_json_is_one_line_and_no_matrix_claimed(tmp_path):
    expected = copy_expected(tmp_path)
    (expected / "RECORDED.json").write_text("[1, 2]\n")
    proc, results = run(tmp_path, "--", "-k", TWO, "--expected", str(expected))
    assert proc.returncode != 0 and "Traceback" not in proc.stdout + proc.stderr
    assert "RECORDED.json: must be an object" in proc.stdout + proc.stderr
    assert "matrix:" not in proc.stdout and not (results / "matrix.html").exists()


@pytest.mark.parametrize("text, problem", [
    ('{"schema": 1, "run_info": {}, "scenarios"', "not valid JSON"),
    ("[1, 2]", "the top level must be an object"),
    ('{"schema": 1, "run_info": {"oracle": [1, 2]}, "scenarios": [], "backends": {}, "results": []}',
     "'run_info.oracle' must be an object"),
    ('{"schema": 1, "run_info": {}, "scenarios": [], "backends": {}, "results": [[1, 2]]}', "result 0 must"),
    ('{"schema": 1, "run_info": {}, "scenarios": [], "backends": {}, '
     '"results": [{"backend": "x", "scenario": "S.a", "verdict": "PASS"}]}', "which 'backends' does not list"),
    ('{"schema": 1, "run_info": {}, "scenarios": [], "backends": {"x": {"kind": "oracle"}}, '
     '"results": [{"backend": "x", "scenario": "S.a", "verdict": "GREAT"}]}', "verdict 'GREAT'"),
])
def test_results_json_of_the_wrong_shape_is_one_line(tmp_path, text, problem):
    path = tmp_path / "results.json"
    path.write_text(text)
    with pytest.raises(ConformError) as e:
        report.load_results(path)
    assert str(e.value).startswith(f"{path}: ") and problem in str(e.value) and "\n" not in str(e.value)


# ---- isolation between runs -------------------------------------------------------------------

def test_run_directories_are_created_exclusively(tmp_path):
    made = [runlog.create_run_dir(tmp_path, "20260101-000000") for _ in range(3)]
    assert len(set(made)) == 3 and all(d.is_dir() for d in made)


@needs_build
@needs_root
@CHECKOUT_RESULTS
def test_two_runs_started_together_do_not_collide(tmp_path):
    before = latest_state()
    env = dict(os.environ)
    procs = [subprocess.Popen([sys.executable, str(ROOT / "conform"), "run", "--no-install", "--backend", "native",
                               "--", "-k", TWO], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=600)[0] for p in procs]
    dirs = []
    for p, out in zip(procs, outs):
        assert p.returncode == 0, out
        line = next(line for line in out.splitlines() if "results in " in line)
        dirs.append(ROOT / line.split("results in ", 1)[1].strip())
    try:
        assert dirs[0] != dirs[1]
        for d in dirs:
            doc = results_of(d)
            assert {r["verdict"] for r in doc["results"]} == {"PASS"} and len(doc["results"]) == 2
    finally:
        for d in dirs:
            shutil.rmtree(d, ignore_errors=True)
        restore_latest(before)


def restore_latest(target):
    latest = ROOT / "results" / "latest"
    if latest.is_symlink():
        latest.unlink()
    if target:
        latest.symlink_to(target)


@needs_build
@needs_root
@CHECKOUT_RESULTS
def test_results_latest_as_a_real_directory_is_kept_aside_and_replaced_by_a_link():
    latest = ROOT / "results" / "latest"
    before = latest_state()
    (ROOT / "results").mkdir(exist_ok=True)
    if latest.is_symlink():
        latest.unlink()
    latest.mkdir()
    (latest / "mine.txt").write_text("kept")
    kept = None
    try:
        proc = conform("run", "--backend", "native", "--", "-k", TWO)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert latest.is_symlink() and (latest / "results.json").exists()
        kept = next((ROOT / "results").glob("latest-directory-*"))
        assert (kept / "mine.txt").read_text() == "kept"
    finally:
        if kept:
            shutil.rmtree(kept)
        if latest.is_symlink():
            shutil.rmtree(ROOT / "results" / os.readlink(latest), ignore_errors=True)
            latest.unlink()
        elif latest.is_dir():
            shutil.rmtree(latest)
        if before:
            latest.symlink_to(before)


@needs_build
@needs_root
def test_a_reused_results_directory_is_emptied_of_the_earlier_run(tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    (results / "results.json").write_text("{}")
    stale = results / "traces" / "native" / "Stale.Trace.json"
    stale.parent.mkdir(parents=True)
    stale.write_text("{}")
    proc, _ = run(tmp_path, "--", "-k", TWO)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert not stale.exists() and len(results_of(results)["results"]) == 2


@needs_build
@needs_root
def test_a_non_empty_directory_that_is_not_a_results_directory_is_refused_untouched(tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    (results / "thesis.tex").write_text("precious")
    proc, _ = run(tmp_path, "--", "-k", TWO)
    assert proc.returncode != 0 and "not empty and not a results directory" in proc.stdout + proc.stderr
    assert sorted(p.name for p in results.iterdir()) == ["thesis.tex"]


def test_a_results_directory_in_use_by_another_run_is_refused(tmp_path):
    held = runlog.prepare(tmp_path / "r")
    try:
        with pytest.raises(ConformError, match="another run is using this results directory"):
            runlog.prepare(tmp_path / "r")
    finally:
        held.release()
    runlog.prepare(tmp_path / "r").release()


# ---- interrupts -------------------------------------------------------------------------------

def processes_with(marker):
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/environ", "rb") as f:
                    if marker.encode() in f.read():
                        found.append(int(entry))
            except OSError:
                pass
    return found


def cmdline(pid):
    try:  # the process may end between the listing and the read (a scenario killed at its deadline)
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


@needs_build
@needs_root
@pytest.mark.parametrize("sig, status", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_an_interrupt_while_a_scenario_hangs_stops_everything_and_writes_partial_results(tmp_path, sig, status):
    results = tmp_path / "results"
    marker = f"AFUNIX_TEST_MARK={uuid.uuid4().hex}"
    env = dict(os.environ, AFUNIX_TEST_MARK=marker.split("=", 1)[1])
    proc = subprocess.Popen([sys.executable, str(ROOT / "conform"), "run", "--no-install",
                             "--backends-dir", str(FIXTURE_BACKENDS), "--backend", "fixture-hang-long",
                             "--results", str(results), "-j", "1", "--", "-k", TWO],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        # Wait (bounded) until the hanging scenario's processes exist: the sleeps of hang_forever.sh.
        for _ in range(600):
            if any(b"sleep" in cmdline(p) for p in processes_with(marker)):
                break
            time.sleep(0.1)
        else:
            pytest.fail("the hanging fixture never started")
        proc.send_signal(sig)
        out = proc.communicate(timeout=60)[0]
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == status, out
    assert processes_with(marker) == [], "processes of the interrupted run are still running"
    doc = results_of(results)
    assert doc["partial"] and sig.name in doc["partial_reason"]
    assert sorted(cells(doc)) == sorted(("fixture-hang-long", s) for s in TWO_NAMES)
    assert "PARTIAL run" in out
    left = [d for d in runlog.temporary_dirs(results) if Path(d).exists()]
    assert not left, f"temporary directories left behind: {left}"


# ---- import -----------------------------------------------------------------------------------

def foreign_trace(scenario, backend="elsewhere"):
    doc = dict(expected_traces()[scenario])
    doc["run"] = {"backend": backend, "kernel": "6.1", "machine": "x86_64", "abi": "lp64",
                  "suite_revision": "test"}
    return json.dumps(doc)


@pytest.fixture
def small_results(tmp_path):
    """A results directory of a native run of the two scenarios, made without running anything."""
    from conformlib.execute import Result
    out = tmp_path / "into"
    report.write_results(out, {"oracle": {}}, {"native": {"description": "d", "kind": "oracle",
                                                          "available": True, "reason": None}},
                         TWO_NAMES, [Result("native", s, "PASS") for s in TWO_NAMES])
    return out


@pytest.fixture
def foreign(tmp_path):
    d = tmp_path / "foreign"
    d.mkdir()
    for s in TWO_NAMES:
        (d / f"{s}.json").write_text(foreign_trace(s))
    return d


def do_import(source, into, *extra):
    return conform("import", str(source), "--into", str(into), *extra, timeout=120)


def test_a_constructed_import_merges(small_results, foreign):
    proc = do_import(foreign, small_results)
    assert proc.returncode == 0, proc.stderr
    assert {r["verdict"] for r in results_of(small_results)["results"] if r["backend"] == "elsewhere"} == {"PASS"}


def test_a_fifo_named_like_a_trace_is_refused_not_waited_on(small_results, foreign):
    os.mkfifo(foreign / "a.json")
    line = one_line(do_import(foreign, small_results))
    assert "a.json: not a regular file" in line


def test_a_trace_linked_to_dev_zero_is_refused(small_results, foreign):
    (foreign / f"{TWO_NAMES[0]}.json").unlink()
    (foreign / f"{TWO_NAMES[0]}.json").symlink_to("/dev/zero")
    assert "a symbolic link" in one_line(do_import(foreign, small_results))


@pytest.mark.parametrize("what", ["file", "directory"])
def test_a_link_out_of_the_directory_is_not_followed(small_results, foreign, tmp_path, what):
    outside = tmp_path / "outside"
    outside.mkdir()
    name = f"{TWO_NAMES[0]}.json"
    (foreign / name).rename(outside / name)
    if what == "file":
        (foreign / name).symlink_to(outside / name)
    else:
        (foreign / "more").symlink_to(outside)
    assert "a symbolic link" in one_line(do_import(foreign, small_results))


def test_a_non_utf8_trace_is_one_line(small_results, foreign):
    path = foreign / f"{TWO_NAMES[0]}.json"
    path.write_bytes(path.read_bytes()[:-2] + b"\xff}")
    assert "not UTF-8" in one_line(do_import(foreign, small_results))


def zip_with(path, members):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, size in members:
            with z.open(name, "w", force_zip64=True) as f:
                for _ in range(size // (1 << 20)):
                    f.write(bytes(1 << 20))


def test_a_zip_bomb_is_refused_before_anything_is_extracted(small_results, tmp_path):
    bomb = tmp_path / "bomb.zip"
    zip_with(bomb, [("run/a.json", 64 << 20)])
    extracted = tmp_path / "extracted"
    extracted.mkdir()
    with pytest.raises(ConformError, match="over the .* a trace may have; nothing was extracted"):
        importer.unpack(bomb, extracted)
    assert not any(extracted.iterdir())
    assert "nothing was extracted" in one_line(do_import(bomb, small_results))


def test_a_tar_bomb_is_refused_before_anything_is_extracted(tmp_path):
    big = tmp_path / "big.json"
    with open(big, "wb") as f:
        f.truncate(64 << 20)
    bomb = tmp_path / "bomb.tar.gz"
    with tarfile.open(bomb, "w:gz") as t:
        t.add(big, "run/a.json")
    extracted = tmp_path / "extracted"
    extracted.mkdir()
    with pytest.raises(ConformError, match="nothing was extracted"):
        importer.unpack(bomb, extracted)
    assert not any(extracted.iterdir())


def test_many_members_within_the_cap_each_are_capped_in_total(tmp_path, monkeypatch):
    monkeypatch.setattr(importer, "MAX_TOTAL_BYTES", 3 << 20)
    archive = tmp_path / "many.zip"
    zip_with(archive, [(f"run/{i}.json", 1 << 20) for i in range(4)])
    extracted = tmp_path / "extracted"
    extracted.mkdir()
    with pytest.raises(ConformError, match="add up to more than"):
        importer.unpack(archive, extracted)
    assert not any(extracted.iterdir())


def test_messages_name_the_users_archive_not_the_temporary_copy(small_results, foreign, tmp_path):
    (foreign / f"{TWO_NAMES[0]}.json").write_text("{ not json")
    archive = tmp_path / "run.tar.gz"
    with tarfile.open(archive, "w:gz") as t:
        t.add(foreign, "run")
    line = one_line(do_import(archive, small_results))
    assert f"{archive} (member run/{TWO_NAMES[0]}.json)" in line and "afunix-import-" not in line


@pytest.mark.parametrize("text", ['{"schema": 1, "scen', "[1, 2]", '{"schema": 1, "results": {}}'])
def test_a_truncated_or_wrong_shaped_into_results_json_is_one_line(small_results, foreign, text):
    (small_results / "results.json").write_text(text)
    assert "results.json" in one_line(do_import(foreign, small_results))


# ---- builds -----------------------------------------------------------------------------------

def load_conform():
    loader = importlib.machinery.SourceFileLoader("conform_script", str(ROOT / "conform"))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def test_a_build_directory_configured_for_another_tree_is_reconfigured_in_place(tmp_path, monkeypatch):
    script = load_conform()
    checkout, original = tmp_path / "copy", tmp_path / "original"
    bdir = checkout / "build"
    bdir.mkdir(parents=True)
    original.mkdir()
    (bdir / "CMakeCache.txt").write_text(f"CMAKE_HOME_DIRECTORY:INTERNAL={original}\n")
    (bdir / "build.ninja").write_text("# generated for the original\n")
    monkeypatch.setattr(script, "ROOT", checkout)
    assert script.claim_build_dir(bdir) is True  # must be configured again
    assert bdir.is_dir() and not any(bdir.iterdir())


def test_a_build_directory_of_this_checkout_is_kept(tmp_path, monkeypatch):
    script = load_conform()
    bdir = tmp_path / "build"
    bdir.mkdir()
    (bdir / "CMakeCache.txt").write_text(f"CMAKE_HOME_DIRECTORY:INTERNAL={tmp_path}\n")
    (bdir / "build.ninja").write_text("#\n")
    monkeypatch.setattr(script, "ROOT", tmp_path)
    assert script.claim_build_dir(bdir) is False and (bdir / "build.ninja").exists()


# ---- other weak spots -------------------------------------------------------------------------

@needs_build
@needs_root
def test_a_missing_workdir_names_the_real_cause(tmp_path):
    backends = tmp_path / "backends"
    backends.mkdir()
    (backends / "fixture-missing-workdir.toml").write_text(
        'description = "fixture: its workdir does not exist"\nkind = "fixture"\nworkdir = "{tmp}/no-such-dir"\n')
    proc = conform("run", "--backends-dir", str(backends), "--backend", "fixture-missing-workdir",
                   "--results", str(tmp_path / "results"), "--", "-k", TWO_NAMES[0])
    row = results_of(tmp_path / "results")["results"][0]
    assert row["verdict"] == "ERROR" and "no-such-dir: No such file or directory" in row["message"]
    assert "no-such-dir: No such file or directory" in proc.stdout


def test_the_cause_is_found_in_googletest_output():
    from conformlib.scenarios import what_it_said
    log = ("[ RUN      ] A.B\nx.cc:1: Failure\nFailed\ncannot create a scenario directory: EACCES\n"
           "[  FAILED  ] A.B (0 ms)\n" + "summary\n" * 20)
    assert what_it_said(log) == "cannot create a scenario directory: EACCES"
    assert what_it_said("a\nb\nc\n", lines=2) == "b\nc"
