"""What a run's results get after every cell is judged, in one place: each cell's deviation
signature, its status against the backend's expectation file, the backend's distinct deviations,
and the comparison with the previous run. report.py calls annotate() before it writes results.json,
so a run, an import and a re-render all give the same fields (docs in verdicts.py, expectations.py,
signatures.py, compare.py)."""

from pathlib import Path

from . import compare, expectations, signatures, traces
from .errors import ConformError

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_EXPECTATIONS = ROOT / "runners" / "expectations"


def expected_loader(expected_dir):
    cache = {}

    def load(scenario):
        if scenario not in cache:
            path = Path(expected_dir) / traces.file_name(scenario)
            try:
                cache[scenario] = traces.load(path, require_run_info=False) if path.exists() else None
            except ConformError:
                cache[scenario] = None
        return cache[scenario]
    return load


def _observed(results_dir, row, observed):
    doc = (observed or {}).get((row["backend"], row["scenario"]))
    if doc is not None and "actors" in doc:
        return doc
    path = Path(results_dir) / "traces" / row["backend"] / traces.file_name(row["scenario"])
    if not path.exists():
        return None
    try:
        doc = traces.load(path, require_run_info=False)
    except ConformError:
        return None
    return doc if doc["scenario"] == row["scenario"] else None


def add_signatures(doc, results_dir, expected, observed=None, again=False):
    """Gives every row its signature (None for PASS and UNSUPPORTED). observed: in-memory traces by
    (backend, scenario), for imports whose traces are not under results_dir. again: recompute the
    ones already there (./conform expect, so that files are written with this revision's rules)."""
    for row in doc["results"]:
        if (row.get("signature") is not None and not again) or row["verdict"] in ("PASS", "UNSUPPORTED"):
            row.setdefault("signature", None)
            continue
        obs = _observed(results_dir, row, observed) if row["verdict"] != "ERROR" else None
        row["signature"] = signatures.of_cell(row["verdict"], row.get("message", ""), obs,
                                              expected(row["scenario"]) if obs else None)
    return doc


def annotate(doc, results_dir, observed=None):
    info = doc.setdefault("run_info", {})
    expected_dir = info.get("expected_dir") or str(ROOT / "expected")
    add_signatures(doc, results_dir, expected_loader(expected_dir), observed)
    exp_dir = info.get("expectations_dir") or str(DEFAULT_EXPECTATIONS)
    expectations.apply(doc, exp_dir)
    doc["deviations"] = expectations.deviations(doc)
    previous = info.get("previous_run")
    if previous and Path(previous).resolve() != Path(results_dir).resolve():
        try:
            before = compare.load_run(previous, expected_dir)
        except (ConformError, OSError, ValueError, KeyError) as e:
            doc["comparison"] = {"error": f"cannot compare with {previous}: {e}"}
        else:
            c = compare.compare(before, doc, Path(previous).name, Path(results_dir).name)
            doc["comparison"] = c
            compare.mark_changes(doc, c)
    for row in doc["results"]:
        row.setdefault("change", None)
    return doc
