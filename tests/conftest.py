"""Shared helpers for the project's own tests.

./conform test runs them in parallel (pytest-xdist, --dist loadgroup): a test that touches what other
tests share (the checkout's results/ directory) or a module whose module-scoped fixture is costly
carries an xdist_group mark, so its tests run on one worker, one after another."""

import fcntl
import json
import os
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
