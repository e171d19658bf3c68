"""The pytest driver's plumbing: options, the (backend, scenario) items, and the results directory.

Each (backend, scenario) is one test item, so -k, -x, -n (xdist), --junitxml and the rest of pytest
work. The record of a run is our own results.json (written here at the end of the session), not
pytest's output: see runners/conformlib/report.py.
"""

import datetime
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "runners"))

from conformlib import record, runlog, scenarios, traces  # noqa: E402
from conformlib import builds  # noqa: E402
from conformlib.backends import load_backends  # noqa: E402
from conformlib.errors import ConformError  # noqa: E402
from conformlib.execute import Paths  # noqa: E402

RESULT_PROPERTY = "afunix_result"
COVERAGE_FILE = ROOT / "conformance" / "coverage.toml"


def pytest_addoption(parser):
    g = parser.getgroup("afunix", "AF_UNIX conformance")
    g.addoption("--backend", action="append", default=[], dest="afunix_backends",
                help="run this backend (repeatable; default: every available one)")
    g.addoption("--backends-dir", action="append", default=[], dest="afunix_backend_dirs",
                help="directory of backend descriptors (repeatable; default: runners/backends)")
    g.addoption("--results", default=str(ROOT / "results" / "pytest"), dest="afunix_results",
                help="directory to write results.json, matrix.md and matrix.html into")
    g.addoption("--expected", default=str(ROOT / "expected"), dest="afunix_expected",
                help="directory of the oracle's traces")


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
        self.unavailable = {b: self.backends[b].availability(ROOT) for b in self.selected}
        self.results_dir = Path(opt.afunix_results).resolve()  # sandboxes bind it by absolute path
        self.expected_dir = Path(opt.afunix_expected)
        self.revision = suite_revision()
        self.oracle = record.load_recorded(self.expected_dir)
        self.scenarios = scenarios.list_scenarios(builds.binary(ROOT, "native"))
        self._paths = {}

    def runnable(self):
        return [b for b in self.selected if self.unavailable[b] is None]

    def paths(self, backend):
        if backend not in self._paths:
            tmp = Path(tempfile.mkdtemp(prefix=f"afunix-{backend}-"))
            runlog.note_temporary_dir(self.results_dir, tmp)
            tmp.chmod(0o755)  # actors of the test identities create their directories inside
            trace_dir = self.results_dir / "traces" / backend
            trace_dir.mkdir(parents=True, exist_ok=True)
            self._paths[backend] = Paths(ROOT, trace_dir, tmp, self.revision)
        return self._paths[backend]

    def expected(self, scenario):
        path = self.expected_dir / traces.file_name(scenario)
        return traces.load(path, require_run_info=False) if path.exists() else None

    def cleanup(self):
        for p in self._paths.values():
            shutil.rmtree(p.tmp, ignore_errors=True)


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
                    "available": s.unavailable[b] is None, "reason": s.unavailable[b]}
                for b in s.selected}
    run_info = {
        "suite_revision": s.revision,
        "started": config.afunix_started,
        "oracle": s.oracle,
        "command": " ".join(sys.argv),
        "run_id": os.environ.get("AFUNIX_RUN_ID"),
        "security": scenarios.security_split(s.scenarios, s.expected),
    }
    runlog.write_header(s.results_dir, run_info, backends, s.scenarios, selected)


def pytest_collection_finish(session):
    if is_controller(session.config) and hasattr(session.config, "afunix"):
        _write_header(session.config, [item.nodeid for item in session.items])


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
            record = json.loads(value)
            if is_controller(config) and hasattr(config, "afunix"):
                runlog.append_cell(config.afunix.results_dir, record)
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
        doc = runlog.finish(s.results_dir, _partial_reason(session, exitstatus), COVERAGE_FILE)
    finally:
        config.afunix_lock.release()
    session.config.afunix_doc = doc


def pytest_sessionstart(session):
    session.config.afunix_started = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


@pytest.fixture
def afunix_session(request):
    return request.config.afunix
