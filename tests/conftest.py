"""Shared helpers for the project's own tests."""

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
