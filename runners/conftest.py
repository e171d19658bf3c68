"""The pytest driver's plumbing: options, the (backend, scenario) items, and the results directory.

Each (backend, scenario) is one test item, so -k, -x, -n (xdist), --junitxml and the rest of pytest
work. The items do not run the scenarios themselves: once collected, the selected cells are handed to
one Executor (runners/conformlib/execute.py) that runs them in batches over parallel processes, and
each item waits for its cell's Result. The record of a run is our own results.json (written here at
the end of the session), not pytest's output: see runners/conformlib/report.py.
"""

import contextlib
import datetime
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "runners"))

from conformlib import record, runlog, scenarios, traces  # noqa: E402
from conformlib import builds  # noqa: E402
from conformlib.backends import load_backends  # noqa: E402
from conformlib.errors import ConformError  # noqa: E402
from conformlib import execute, leftovers  # noqa: E402
from conformlib.execute import Paths, probe  # noqa: E402
from conformlib.expectations import KnownDeviations, load_dir as load_expectations  # noqa: E402
from conformlib.versions import backend_version  # noqa: E402

RESULT_PROPERTY = "afunix_result"
COVERAGE_FILE = ROOT / "conformance" / "coverage.toml"


def pytest_addoption(parser):
    g = parser.getgroup("afunix", "AF_UNIX conformance")
    g.addoption("--backend", action="append", default=[], dest="afunix_backends",
                help="run this backend (repeatable; default: every available one)")
    g.addoption("--backends-dir", action="append", default=[], dest="afunix_backend_dirs",
                help="directory of backend descriptors (repeatable; default: runners/backends)")
    g.addoption("--results", default=str(ROOT / "results" / "pytest"), dest="afunix_results",
                help="directory to write results.json, the matrix (index.html, matrix.md) into")
    g.addoption("--expected", default=str(ROOT / "expected"), dest="afunix_expected",
                help="directory of the oracle's traces")
    g.addoption("--jobs", type=int, default=0, dest="afunix_jobs",
                help="scenario processes running at once (default: three per core, up to six while a core is idle)")
    g.addoption("--isolate", action="store_true", dest="afunix_isolate",
                help="one scenario-program process per scenario instead of batches")
    g.addoption("--expectations", default=str(ROOT / "runners" / "expectations"), dest="afunix_expectations",
                help="directory of the backends' known deviations (<backend>.toml)")
    g.addoption("--confirm-all", action="store_true", dest="afunix_confirm_all",
                help="confirm every deviation with an isolated second attempt, known ones too")
    g.addoption("--compare-with", default="", dest="afunix_compare_with",
                help="an earlier results directory to compare this run with")


def suite_revision():
    try:
        rev = subprocess.run(["git", "-C", str(ROOT), "describe", "--always", "--dirty"],
                             capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        rev = ""
    return rev or "unknown"


class Session:
    """What every item of a run shares; built once per pytest process (controller or xdist worker)."""

    def __init__(self, config):
        opt = config.option
        dirs = opt.afunix_backend_dirs or [str(ROOT / "runners" / "backends")]
        self.backends = load_backends(dirs)
        unknown = [b for b in opt.afunix_backends if b not in self.backends]
        if unknown:
            raise ConformError(dirs[0], f"no descriptor for backend(s) {', '.join(unknown)} "
                                        f"(have: {', '.join(sorted(self.backends))})")
        self.selected = opt.afunix_backends or sorted(self.backends)
        self.unavailable = {b: self.backends[b].availability(ROOT) or probe(self.backends[b], ROOT)
                            for b in self.selected}
        self.results_dir = Path(opt.afunix_results).resolve()  # sandboxes bind it by absolute path
        self.expected_dir = Path(opt.afunix_expected)
        self.revision = suite_revision()
        self.oracle = record.load_recorded(self.expected_dir)
        load_expectations(opt.afunix_expectations)  # a malformed file stops the run before it starts
        self.scenarios = scenarios.list_scenarios(builds.binary(ROOT, "native"))
        self.sources = scenarios.scenario_sources(builds.binary(ROOT, "native"), ROOT)
        self._paths = {}
        self._expected = {}  # scenario -> the oracle's trace (dict assignment: safe across the shard threads)
        # An xdist worker learns its items one at a time: it runs each cell as it comes.
        known = None if opt.afunix_confirm_all else KnownDeviations(opt.afunix_expectations)
        self.executor = execute.new_executor(jobs=opt.afunix_jobs or None, isolate=opt.afunix_isolate,
                                             on_demand=hasattr(config, "workerinput"), known=known)

    def runnable(self):
        return [b for b in self.selected if self.unavailable[b] is None]

    def paths(self, backend):
        if backend not in self._paths:
            tmp = execute.temp_root(backend)
            runlog.note_temporary_dir(self.results_dir, tmp)
            trace_dir = self.results_dir / "traces" / backend
            trace_dir.mkdir(parents=True, exist_ok=True)
            self._paths[backend] = Paths(ROOT, trace_dir, tmp, self.revision)
        return self._paths[backend]

    def expected(self, scenario):
        """The oracle's trace, read once per run (every backend's cell of a scenario judges against
        it; judging does not change it). A broken file raises each time it is asked for."""
        if scenario not in self._expected:
            path = self.expected_dir / traces.file_name(scenario)
            self._expected[scenario] = traces.load(path, require_run_info=False) if path.exists() else None
        return self._expected[scenario]

    def plan(self, items):
        """Hands the selected cells, in pytest's order, to the executor."""
        by_backend = {}
        for item in items:
            params = getattr(getattr(item, "callspec", None), "params", {})
            if "backend" in params and "scenario" in params:
                by_backend.setdefault(params["backend"], []).append(params["scenario"])
        for name, scenarios in by_backend.items():
            self.executor.plan(self.backends[name], scenarios, self.paths(name), self.expected)

    def result(self, backend, scenario, waiting=None):
        return self.executor.result(self.backends[backend], scenario, self.paths(backend), self.expected,
                                    waiting=waiting)

    def cleanup(self):
        self.executor.shutdown()
        for p in self._paths.values():
            execute.remove_temp_root(p.tmp)


def is_controller(config):
    return not hasattr(config, "workerinput")


_config = None  # the session's config, for the report hook (which is given only the report)


def pytest_configure(config):
    global _config
    _config = config
    config.afunix_results = []
    try:
        config.afunix = Session(config)
        if is_controller(config):
            # The controller owns the results directory: reserved for this run, emptied of an
            # earlier run's traces (before any xdist worker starts writing into it).
            config.afunix_lock = runlog.prepare(config.afunix.results_dir)
    except ConformError as e:
        raise pytest.UsageError(str(e)) from None
    config.pluginmanager.register(Progress(config), "afunix-progress")
    # SIGTERM ends the run the way Ctrl-C does: pytest unwinds, the session finishes (every scenario
    # process is killed and the temporary directories go), and results are written as far as they go.
    if threading_main() and signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
        signal.signal(signal.SIGTERM, _terminated)


def threading_main():
    import threading
    return threading.current_thread() is threading.main_thread()


def _terminated(signum, frame):
    execute.shutdown()
    raise KeyboardInterrupt(f"terminated by {signal.Signals(signum).name}")


class Progress:
    """Per backend, how far the run is (done / total, rate, time left), instead of a dot per cell;
    -v gives pytest's usual line per item instead."""

    INTERVAL_S = 5.0

    def __init__(self, config):
        self.config = config
        self.quiet = config.option.verbose <= 0 and not hasattr(config, "workerinput")
        self.last = time.monotonic()
        self.finished = set()

    @pytest.hookimpl(tryfirst=True)
    def pytest_report_teststatus(self, report, config):
        if self.quiet and report.when == "call" and "test_scenario[" in report.nodeid:
            return report.outcome, "", report.outcome.upper()
        return None

    def tick(self, executor, force=False):
        if not self.quiet:
            return
        now = time.monotonic()
        progress = executor.progress()
        newly = [b for b, (done, total, _, took) in progress.items() if took is not None and b not in self.finished]
        if not force and not newly and now - self.last < self.INTERVAL_S:
            return
        self.last = now
        self.finished.update(newly)
        parts = []
        for b, (done, total, elapsed, took) in sorted(progress.items()):
            if took is not None:
                parts.append(f"{b} {done}/{total} done in {took:.1f} s")
            elif done:
                rate = done / elapsed if elapsed else 0
                eta = (total - done) / rate if rate else 0
                parts.append(f"{b} {done}/{total} {rate:.0f}/s ~{eta:.0f} s left")
            elif elapsed:
                parts.append(f"{b} 0/{total} started")
        tr = self.config.pluginmanager.get_plugin("terminalreporter")
        capture = self.config.pluginmanager.get_plugin("capturemanager")
        if tr is None or not parts:
            return
        # Items run with their output captured: the progress line goes around the capture.
        with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
            tr.ensure_newline()
            tr.write_line("afunix: " + "; ".join(parts))
            tr.flush()


def pytest_generate_tests(metafunc):
    if {"backend", "scenario"} <= set(metafunc.fixturenames):
        s = metafunc.config.afunix
        pairs = [(b, sc) for b in s.runnable() for sc in s.scenarios]
        metafunc.parametrize(("backend", "scenario"), pairs, ids=[runlog.cell_id(b, sc) for b, sc in pairs])


# ---- the account of the run (see conformlib/runlog.py) ------------------------------------------
# Results reach the controller through the reports' user_properties, so xdist workers need no
# shared state; the controller appends each to the run's log as it arrives.

def _cell_of(nodeid):
    """(backend, scenario) of a test_scenario item's node id, else None."""
    if "[" not in nodeid or not nodeid.endswith("]"):
        return None
    backend, sep, scenario = nodeid[nodeid.index("[") + 1:-1].partition("::")
    return (backend, scenario) if sep else None


def _write_header(config, nodeids):
    s = config.afunix
    if getattr(config, "afunix_header", False):
        return
    config.afunix_header = True
    selected = [c for c in map(_cell_of, nodeids) if c]
    backends = {b: {"description": s.backends[b].description, "kind": s.backends[b].kind,
                    "available": s.unavailable[b] is None, "reason": s.unavailable[b],
                    "version": backend_version(s.backends[b], s.revision)}
                for b in s.selected}
    run_info = {
        "suite_revision": s.revision,
        "started": config.afunix_started,
        "oracle": s.oracle,
        "command": " ".join(sys.argv),
        "run_id": os.environ.get("AFUNIX_RUN_ID"),
        "security": scenarios.security_split(s.scenarios, s.expected),
        # Where annotate.py finds the oracle, the known deviations and the run to compare with.
        "expected_dir": str(s.expected_dir.resolve()),
        "expectations_dir": str(Path(config.option.afunix_expectations).resolve()),
        "previous_run": config.option.afunix_compare_with or None,
        "confirmed": ("every deviation" if config.option.afunix_confirm_all else
                      "every deviation its backend's expectation file does not list exactly"),
        "left_behind": leftovers.describe([s.backends[b] for b in s.runnable()]),
        "network": leftovers.describe_network(),
    }
    runlog.write_header(s.results_dir, run_info, backends, s.scenarios, selected, s.sources)


def pytest_collection_finish(session):
    s = getattr(session.config, "afunix", None)
    if s is None:
        return
    if is_controller(session.config):
        _write_header(session.config, [item.nodeid for item in session.items])
    # The selected cells go to the executor now; an xdist worker learns its items one at a time.
    if not s.executor.on_demand and not session.config.option.collectonly:
        s.plan(session.items)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_node_collection_finished(node, ids):
    """Under xdist the controller collects nothing itself: the workers tell it the selection."""
    _write_header(node.config, ids)


def _reason(report):
    text = (getattr(report, "longreprtext", "") or "").strip()
    lines = [line for line in text.splitlines() if line.strip()]
    # pytest's long report ends with "E   SomeError: what"; xdist's crash report is one line.
    last = next((line for line in reversed(lines) if line.startswith("E ")), lines[-1] if lines else "")
    return last.lstrip("E").strip() or f"pytest reported {report.outcome} in {report.when}"


def pytest_runtest_logreport(report):
    config = _config
    for name, value in report.user_properties:
        if name == RESULT_PROPERTY and report.when == "call":
            if is_controller(config) and hasattr(config, "afunix"):
                runlog.append_cell(config.afunix.results_dir, value)
            return
    cell = _cell_of(report.nodeid)
    if report.failed and cell and is_controller(config) and hasattr(config, "afunix"):
        runlog.append_cell(config.afunix.results_dir, runlog.unjudged_record(*cell, _reason(report)))


def _partial_reason(session, exitstatus):
    if exitstatus == pytest.ExitCode.INTERRUPTED:
        return "interrupted"
    if exitstatus == pytest.ExitCode.INTERNAL_ERROR:
        return "pytest stopped on an internal error"
    if session.shouldstop:
        return f"stopped early: {session.shouldstop}"
    if session.shouldfail:
        return f"stopped early: {session.shouldfail}"
    return None


def pytest_sessionfinish(session, exitstatus):
    config = session.config
    s = getattr(config, "afunix", None)
    if s is None:
        return
    s.cleanup()
    if not is_controller(config):
        return  # an xdist worker: the controller writes the results
    try:
        doc = runlog.finish(s.results_dir, _partial_reason(session, exitstatus), COVERAGE_FILE,
                            execution=s.executor.stats())
    finally:
        config.afunix_lock.release()
    session.config.afunix_doc = doc


def pytest_sessionstart(session):
    session.config.afunix_started = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


@pytest.fixture
def afunix_session(request):
    return request.config.afunix
