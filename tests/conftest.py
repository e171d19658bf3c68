"""Shared helpers for the project's own tests.

./conform test runs them in parallel (pytest-xdist, --dist loadgroup): a test that touches what other
tests share (the checkout's results/ directory) or a module whose module-scoped fixture is costly
carries an xdist_group mark, so its tests run on one worker, one after another."""

import fcntl
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "runners"))

FIXTURE_BACKENDS = ROOT / "tests" / "fixtures" / "backends"
EXPECTED = ROOT / "expected"
BINARY = ROOT / "build" / "conformance" / "afunix-scenarios"


def conform(*args, env=None, timeout=900):
    """Runs ./conform (never installing anything) and returns the CompletedProcess."""
    args = list(args)
    if args[0] in ("run", "test", "build", "record"):
        args.insert(1, "--no-install")
    return subprocess.run([sys.executable, str(ROOT / "conform"), *args], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=ROOT)


def expected_traces():
    """The oracle, by scenario name."""
    out = {}
    for path in sorted(EXPECTED.glob("*.json")):
        if path.name == "RECORDED.json":
            continue
        doc = json.loads(path.read_text())
        out[doc["scenario"]] = doc
    return out


def observations(doc):
    return [o for actor in doc["actors"] for o in actor["observations"]]


needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (test identities)")
needs_build = pytest.mark.skipif(not BINARY.exists(), reason="scenario program not built: ./conform build")


def shared_dir(tmp_path_factory):
    """A directory every xdist worker of this test session sees (pytest's base temporary directory,
    above the workers' own)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def shared_once(tmp_path_factory, name, make):
    """A directory that make(directory) fills once per test session, whatever the worker: the first
    worker to ask makes it while the others wait (a make that fails is tried again by the next one).
    Returns the directory; it is not to be changed (copy it)."""
    base = shared_dir(tmp_path_factory)
    out, done = base / f"shared-{name}", base / f"shared-{name}.done"
    with open(base / f"shared-{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            shutil.rmtree(out, ignore_errors=True)
            out.mkdir()
            make(out)
            done.touch()
    return out


@pytest.fixture(scope="session")
def native_run(tmp_path_factory):
    """One `./conform run --backend native` (every scenario, with its application stories), made once
    per test session and shared by the tests that only read it: under xdist the first worker to need
    it makes it while the others wait. Returns (returncode, stdout, stderr, results directory); the
    directory is not to be changed (copy it)."""
    base = shared_dir(tmp_path_factory)
    out, record = base / "shared-native-run", base / "shared-native-run.json"
    with open(base / "shared-native-run.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not record.exists():
            proc = conform("run", "--backend", "native", "--results", str(out))
            record.write_text(json.dumps([proc.returncode, proc.stdout, proc.stderr]))
    returncode, stdout, stderr = json.loads(record.read_text())
    return returncode, stdout, stderr, out


# ---- the order xdist hands the items out in --------------------------------------------------
# --dist loadgroup gives each worker the next unit of the collection (a test, or every test of one
# xdist_group) whenever it runs low, in collection order: a long item collected last starts last and
# runs alone while the other workers have finished (the session's tail). Under xdist the longest units
# are collected first, longest first; the others keep their order after them. Rough seconds of wall
# time per item on the idle 2-core machine, during a whole ./conform test (a group: the whole group);
# only the order matters, so rough is enough.
LONG = {
    "group:kit": 40,  # the kit built when its content changed (minutes), recorded and imported
    "group:browser": 35,  # one chromium for every page test, a real run
    "group:security": 30,  # two runs of every Attack scenario in one shard each
    "test_native_oracle.py::test_twenty_native_runs_give_identical_traces": 30,  # each of the 4 chunks
    "test_leftovers.py::test_native_and_the_sandbox_leave_nothing_behind": 28,
    "group:checkout-results": 20,
    "test_expectations.py::test_triaged_fixture_is_xfail_then_changed_fixed_and_removed_entries_fail_the_run": 20,
    "test_native_oracle.py::test_native_run_passes_every_scenario": 18,  # makes the shared native run
    "test_runner_batches.py::test_batched_and_isolated_give_the_same_verdicts": 18,
    "test_runner_batches.py::test_a_planted_trace_is_never_a_verdict": 16,
    "test_leftovers.py::test_credentials_that_say_root_to_unprivileged_readers_fail_exactly_where_they_are_read": 15,
    "test_leftovers.py::test_the_confirmation_attempt_is_watched_and_cleaned_too": 12,
    "test_leftovers.py::test_a_file_left_in_the_temp_directory_is_named_in_exactly_the_cells_that_made_it": 10,
    "test_native_oracle.py::test_rerecording_changes_no_byte": 10,
    "test_runner_verdicts.py::test_deviation_that_does_not_repeat_is_flaky_with_both_attempts": 10,
    "test_site_report.py::test_matrix_md_fits_a_ci_summary_and_the_grid_has_every_cell": 10,
    "test_run_integrity.py::test_a_worker_that_dies_gives_error_cells_not_a_backend_not_run": 9,
    "test_run_integrity.py::test_an_item_that_raises_is_an_error_cell_with_the_reason": 9,
    "test_runner_verdicts.py::test_crashing_backend_is_crash_with_the_signal_and_the_run_goes_on": 9,
    "test_runner_verdicts.py::test_missing_peercred_fails_exactly_the_scenarios_that_read_it": 8,
    "test_runner_verdicts.py::test_missing_capability_is_unsupported_with_the_reason_not_a_failure": 8,
    "test_runner_verdicts.py::test_hanging_backend_is_timeout_and_leaves_nothing": 8,
    "test_runner_verdicts.py::test_a_helper_daemon_lives_as_long_as_its_scenario_process_not_as_the_others": 8,
    "test_runner_verdicts.py::test_backend_leaving_detached_processes_leaves_nothing_after_the_run": 8,
    "group:backend-valgrind": 25,  # the third-party backends' tests, one group per backend
    "group:backend-crun": 12,
    "group:backend-qemu-x86_64": 9,
    "group:backend-qemu-aarch64": 9,
    "group:backend-qemu-arm": 9,
    "test_run_integrity.py::test_a_corrupt_expected_file_is_an_error_cell_and_fails_the_run": 7,
    "test_runner_batches.py::test_a_scenario_that_misbehaves_mid_batch_costs_only_itself": 7,
    "test_runner_batches.py::test_an_interrupt_kills_every_scenario_process_and_removes_the_temporary_directories": 6,
    "test_runner_batches.py::test_output_flood_is_capped_with_head_tail_and_what_was_dropped": 6,
    "test_runner_batches.py::test_cpu_of_the_scenario_processes_and_of_the_runner_is_accounted": 6,
    "test_runner_batches.py::test_a_limit_of_the_harness_is_error_naming_it_not_a_deviation": 6,
    "test_runner_verdicts.py::test_swapped_errno_fails_exactly_the_scenarios_that_see_it": 6,
    "test_runner_verdicts.py::test_corrupt_trace_is_error_naming_the_file": 6,
    "test_inputs_sensitivity.py::test_reading_past_addrlen_is_caught_by_exactly_the_stale_byte_scenarios": 6,
    "test_applications.py::test_conform_run_judges_the_applications_into_results_json": 5,
    "test_import.py::test_import_directory_becomes_a_backend_row": 5,  # the shared native run and traces
}


def _unit(item):
    mark = item.get_closest_marker("xdist_group")
    if mark:
        return "group:" + (mark.args[0] if mark.args else mark.kwargs.get("name", "default"))
    return item.nodeid


def _weight(item):
    mark = item.get_closest_marker("xdist_group")
    if mark:
        return LONG.get(_unit(item), 0)
    path, _, name = item.nodeid.partition("::")
    return LONG.get(f"{path.rpartition('/')[2]}::{name.partition('[')[0]}", 0)


def pytest_collection_modifyitems(config, items):
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return  # one process: the order of the files, module fixtures made once each
    first, weight = {}, {}
    for i, item in enumerate(items):
        unit = _unit(item)
        first.setdefault(unit, i)
        weight[unit] = max(weight.get(unit, 0), _weight(item))
    # Every worker sorts the same collection the same way (xdist checks that they agree).
    items.sort(key=lambda item: (-weight[_unit(item)], first[_unit(item)]))

