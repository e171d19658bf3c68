"""Recording the oracle: run every scenario on the native kernel and write expected/.

expected/<scenario>.json holds each trace in canonical form (no run metadata), and
expected/RECORDED.json the kernel and architecture they came from. Recording twice on the same
kernel changes no byte; `check` proves it without writing.
"""

import json
import os
import platform
from pathlib import Path

from . import builds, traces
from .backends import load_backend
from .errors import ConformError
from .execute import Paths, remove_temp_root, run_scenarios, temp_root
from .scenarios import list_scenarios

RECORDED = "RECORDED.json"


def observe_natively(root, scenarios, revision="unknown"):
    """Runs the scenarios on the native backend (batched, as ./conform run does); returns
    {scenario: canonical text} or raises."""
    native = load_backend(root / "runners" / "backends" / "native.toml")
    tmp = temp_root("record")
    trace_dir = tmp / "traces"
    trace_dir.mkdir()
    problems, out, kernel = [], {}, None
    try:
        results = run_scenarios(native, scenarios, Paths(root, trace_dir, tmp, revision), lambda s: None)
        for scenario in scenarios:
            doc = results[scenario].trace
            if doc is None:
                problems.append(f"{scenario}: {results[scenario].verdict}: {results[scenario].message}")
            elif doc["status"] != "ran":
                problems.append(f"{scenario}: UNSUPPORTED natively ({doc.get('reason')}); "
                                "record as root so every scenario runs")
            else:
                out[scenario] = traces.canonical(doc)
                kernel = kernel or doc["run"]
    finally:
        remove_temp_root(tmp)
    if problems:
        raise ConformError("expected/", "cannot record the oracle:\n  " + "\n  ".join(problems))
    return out, kernel


RECORDED_KEYS = ("kernel", "machine", "abi")


def load_recorded(expected_dir):
    """RECORDED.json: where the oracle was recorded ({} when it was never recorded); a file of the
    wrong shape is one ConformError, not a traceback in the middle of writing the matrix."""
    path = Path(expected_dir) / RECORDED
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as e:
        raise ConformError(path, f"cannot read: {e.strerror}") from None
    try:
        doc = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise ConformError(path, f"not UTF-8 (byte {e.start}): re-record with ./conform record") from None
    except ValueError as e:
        raise ConformError(path, f"not valid JSON ({e}): re-record with ./conform record") from None
    if not isinstance(doc, dict) or not all(isinstance(doc.get(k), str) for k in RECORDED_KEYS):
        raise ConformError(path, f"must be an object giving {', '.join(RECORDED_KEYS)} as strings "
                                 "(re-record with ./conform record)")
    return doc


def recorded_metadata(run):
    return {"kernel": run["kernel"], "machine": run["machine"], "abi": run["abi"],
            "schema": traces.SCHEMA}


def record(root, expected_dir):
    """Writes expected/ from a native run; returns (written, removed) file counts."""
    scenarios = list_scenarios(builds.binary(root))
    canon, run = observe_natively(root, scenarios)
    expected_dir.mkdir(exist_ok=True)
    wanted = {traces.file_name(s) for s in scenarios}
    removed = 0
    for old in expected_dir.glob("*.json"):
        if old.name != RECORDED and old.name not in wanted:
            old.unlink()
            removed += 1
    for scenario, text in canon.items():
        (expected_dir / traces.file_name(scenario)).write_text(text)
    (expected_dir / RECORDED).write_text(json.dumps(recorded_metadata(run), indent=2) + "\n")
    return len(canon), removed


def check(root, expected_dir):
    """Runs natively and compares with expected/ byte for byte; returns the differing file names."""
    scenarios = list_scenarios(builds.binary(root))
    canon, _ = observe_natively(root, scenarios)
    differing = []
    for scenario, text in canon.items():
        path = expected_dir / traces.file_name(scenario)
        if not path.exists() or path.read_text() != text:
            differing.append(path.name)
    return differing


def host_description():
    return f"{platform.system()} {os.uname().release} {platform.machine()}"
