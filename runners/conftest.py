"""The pytest driver's plumbing: options, the (backend, scenario) items, and the results directory.

Each (backend, scenario) is one test item, so -k, -x, -n (xdist), --junitxml and the rest of pytest
work. The record of a run is our own results.json (written here at the end of the session), not
pytest's output: see runners/conformlib/report.py.
"""

import datetime
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "runners"))

from conformlib import report, traces  # noqa: E402
from conformlib.backends import load_backends  # noqa: E402
from conformlib.errors import ConformError  # noqa: E402
from conformlib.execute import Paths, Result, area_of  # noqa: E402
from conformlib.scenarios import list_scenarios  # noqa: E402

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
        self.scenarios = list_scenarios(Paths(ROOT, ROOT, ROOT).binary("native"))
        self._paths = {}

    def runnable(self):
        return [b for b in self.selected if self.unavailable[b] is None]

    def paths(self, backend):
        if backend not in self._paths:
            tmp = Path(tempfile.mkdtemp(prefix=f"afunix-{backend}-"))
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


def pytest_configure(config):
    config.afunix_results = []
    try:
        config.afunix = Session(config)
    except ConformError as e:
        raise pytest.UsageError(str(e)) from None


def pytest_generate_tests(metafunc):
    if {"backend", "scenario"} <= set(metafunc.fixturenames):
        s = metafunc.config.afunix
        pairs = [(b, sc) for b in s.runnable() for sc in s.scenarios]
        metafunc.parametrize(("backend", "scenario"), pairs, ids=[f"{b}::{sc}" for b, sc in pairs])


# Results reach the controller through the reports' user_properties, so xdist workers need no
# shared state.
_collected = []


def pytest_runtest_logreport(report):
    if report.when != "call":
        return
    for name, value in report.user_properties:
        if name == RESULT_PROPERTY:
            _collected.append(json.loads(value))


def pytest_sessionfinish(session):
    config = session.config
    s = getattr(config, "afunix", None)
    if s is None:
        return
    s.cleanup()
    if hasattr(config, "workerinput"):
        return  # an xdist worker: the controller writes the results
    results = [Result(**{k: v for k, v in r.items() if k != "run"}) for r in _collected]
    for r, raw in zip(results, _collected):
        r.trace = {"run": raw["run"]} if raw.get("run") else None
    oracle_file = s.expected_dir / "RECORDED.json"
    oracle = json.loads(oracle_file.read_text()) if oracle_file.exists() else {}
    run_info = {
        "suite_revision": s.revision,
        "started": config.afunix_started,
        "finished": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "oracle": oracle,
        "command": " ".join(sys.argv),
    }
    backends = {b: {"description": s.backends[b].description, "kind": s.backends[b].kind,
                    "available": s.unavailable[b] is None, "reason": s.unavailable[b]}
                for b in s.selected}
    run_info["security"] = security_scenarios(s)
    run_info["coverage"] = report.write_coverage(s.results_dir, s.scenarios, COVERAGE_FILE)
    doc = report.write_results(s.results_dir, run_info, backends, s.scenarios, results)
    session.config.afunix_doc = doc


def security_scenarios(s):
    """Scenarios with an attacker (security verdicts: held / breached) and the same-user controls
    beside them (works / broken), as the oracle shows them."""
    attacks, controls = [], []
    for scenario in s.scenarios:
        if area_of(scenario) != report.SECURITY_AREA:
            continue
        try:
            doc = s.expected(scenario)
        except ConformError:
            continue
        if doc is not None:
            (attacks if any(not traces.judged(a) for a in doc["actors"]) else controls).append(scenario)
    return {"attacks": attacks, "controls": controls}


def pytest_sessionstart(session):
    session.config.afunix_started = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


@pytest.fixture
def afunix_session(request):
    return request.config.afunix
