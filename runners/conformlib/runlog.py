"""The account of a run, kept on disk as it goes, so that results.json lists every selected
(backend, scenario) cell exactly once, even when the run is interrupted or dies.

    results/run-.../
      .afunix-results   marks (and, while a run holds it locked, reserves) a results directory
      run-header.json   written once the selection is known: run_info, backends, scenarios, selected cells
      cells.jsonl       one verdict record per line, appended as each cell finishes
      temporary-dirs.txt the run's temporary directories, removed at the end whatever happened
      results.json      written by finish(): one row per selected cell; "partial" when it did not finish

finish() may be called by pytest at the end of its session or, when pytest could not get there
(killed, crashed, interrupted), by ./conform from the same files: both give the same document.
"""

import datetime
import fcntl
import json
import os
import resource
import shutil
from pathlib import Path

from .errors import ConformError

MARKER = ".afunix-results"
HEADER = "run-header.json"
CELLS = "cells.jsonl"
RESULTS = "results.json"
TMPDIRS = "temporary-dirs.txt"


# ---- the results directory ------------------------------------------------------------------

def create_run_dir(parent, stamp):
    """A new directory parent/run-<stamp>, created exclusively: two runs started in the same second
    get run-<stamp> and run-<stamp>-2, never the same one."""
    parent = Path(parent)
    parent.mkdir(parents=True, exist_ok=True)
    for n in range(1, 1000):
        path = parent / (f"run-{stamp}" if n == 1 else f"run-{stamp}-{n}")
        try:
            path.mkdir()
        except FileExistsError:
            continue
        (path / MARKER).touch()
        return path
    raise ConformError(parent, f"cannot create a results directory: run-{stamp}-1..999 all exist")


def is_results_dir(path):
    return (path / MARKER).exists() or (path / RESULTS).exists()


class ResultsLock:
    """Holds a results directory for one run: another run on the same directory is refused, not
    interleaved (they would delete each other's traces)."""

    def __init__(self, path):
        self.path = Path(path)
        self._fd = None

    def acquire(self):
        self._fd = os.open(self.path / MARKER, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._fd)
            self._fd = None
            raise ConformError(self.path, "another run is using this results directory right now") from None
        return self

    def release(self):
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def prepare(path):
    """Makes `path` ready for a new run and locks it: created when missing; a results directory of
    an earlier run is emptied (its stale traces would sit beside the new results.json); any other
    non-empty directory is refused. Returns the held ResultsLock."""
    path = Path(path)
    if path.is_symlink() or (path.exists() and not path.is_dir()):
        raise ConformError(path, "not a directory: give --results a new or empty directory")
    path.mkdir(parents=True, exist_ok=True)
    entries = [e for e in path.iterdir() if e.name != MARKER]
    if entries and not is_results_dir(path):
        raise ConformError(path, "not empty and not a results directory: give --results a new or empty "
                                 "directory (nothing was deleted)")
    lock = ResultsLock(path).acquire()
    for e in entries:
        if e.is_dir() and not e.is_symlink():
            shutil.rmtree(e)
        else:
            e.unlink()
    return lock


# ---- the log ----------------------------------------------------------------------------------

def cell_id(backend, scenario):
    return f"{backend}::{scenario}"


def write_header(results_dir, run_info, backends, scenarios, selected, sources=None):
    """selected: [(backend, scenario)] in run order; sources: scenario -> "file:line"."""
    doc = {"run_info": run_info, "backends": backends, "scenarios": list(scenarios),
           "selected": [list(c) for c in selected], "sources": sources or {}}
    _write_atomically(Path(results_dir) / HEADER, json.dumps(doc, indent=1) + "\n")


def load_header(results_dir):
    path = Path(results_dir) / HEADER
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        raise ConformError(path, f"unreadable run header: {e}") from None


def append_cell(results_dir, record):
    """One finished cell, appended and flushed at once (a run killed a moment later keeps it).
    record: a dict, or its JSON text as the item serialised it (one line: not parsed and
    serialised again)."""
    text = record if isinstance(record, str) else json.dumps(record)
    with open(Path(results_dir) / CELLS, "a") as f:
        f.write(text.replace("\n", " ") + "\n")


def read_cells(results_dir):
    """The records so far; a last line cut short by a kill is ignored."""
    out = []
    try:
        text = (Path(results_dir) / CELLS).read_text(errors="replace")
    except FileNotFoundError:
        return out
    for line in text.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and {"backend", "scenario", "verdict"} <= set(record):
            out.append(record)
    return out


def error_record(backend, scenario, message):
    return {"backend": backend, "scenario": scenario, "verdict": "ERROR", "message": message,
            "diff": "", "duration": 0.0, "evidence": "", "run": None}


def unjudged_record(backend, scenario, reason):
    """A cell whose item produced no verdict: it raised, or the worker running it died."""
    return error_record(backend, scenario, f"the runner could not judge this cell: {reason}")


def account(selected, records, not_run="not run"):
    """Exactly one record per selected cell, in selection order: the first record a cell got (a
    verdict, or the ERROR saying why its item could not give one); a cell that never ran is ERROR
    saying why (not_run). Records of cells that were not selected are dropped."""
    first = {}
    for r in records:
        first.setdefault(cell_id(r["backend"], r["scenario"]), r)
    return [first.get(cell_id(b, s)) or error_record(b, s, not_run) for b, s in selected]


def note_temporary_dir(results_dir, path):
    """A temporary directory the run made, so that ./conform removes it even when the process that
    made it was killed."""
    with open(Path(results_dir) / TMPDIRS, "a") as f:
        f.write(f"{path}\n")


def temporary_dirs(results_dir):
    try:
        return [line for line in (Path(results_dir) / TMPDIRS).read_text().splitlines() if line]
    except OSError:
        return []


def finish(results_dir, partial_reason=None, coverage_file=None, execution=None):
    """Writes results.json (and the matrix) from the header and the cells so far. Returns the
    document, or None when the run selected nothing (then nothing is written). execution: backend ->
    how its cells ran (wall time, processes), from the executor."""
    from . import report  # report imports the execution layer; keep this module light
    from .execute import Result

    results_dir = Path(results_dir)
    header = load_header(results_dir)
    if header is None or not header["selected"]:
        return None
    selected = [tuple(c) for c in header["selected"]]
    records = account(selected, read_cells(results_dir),
                      not_run=f"not run: {partial_reason}" if partial_reason else
                      "not run: no result reached the runner")
    results = [Result.from_dict(r) for r in records]
    run_info = dict(header["run_info"])
    run_info["finished"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    # The runner's own CPU (this process: collection, judging, bookkeeping, not the scenarios): what
    # bench/runner.py reports as the runner's cost per cell, which a loaded machine barely changes.
    own = resource.getrusage(resource.RUSAGE_SELF)
    run_info["runner_cpu_s"] = round(own.ru_utime + own.ru_stime, 3)
    if coverage_file is not None:
        run_info["coverage"] = report.write_coverage(results_dir, header["scenarios"], coverage_file)
    backends = header["backends"]
    for name, stats in (execution or {}).items():
        if name in backends:
            backends[name]["execution"] = stats
    doc = report.write_results(results_dir, run_info, backends, header["scenarios"], results,
                               partial_reason=partial_reason, sources=header.get("sources"))
    return doc


def _write_atomically(path, text):
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
