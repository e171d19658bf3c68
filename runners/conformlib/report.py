"""The published results of a run, as one model rendered three ways.

results.json is the record (written by write_results, one row per cell). Report is what a reader
is shown, computed from it once: scores, expected and unexpected counts, distinct deviations,
changes since the previous run, what backends left behind, security, applications, coverage. Its
sections render to Markdown (matrix.md, small enough for a CI summary; matrix-grid.md, the full
grid), to HTML (the landing view of the static site, see site/) and to JSON (the site's data).

Fields that other parts of the suite add to results.json (status, unexpected, signature, finding,
change, attempts, left_behind, source; partial, deviations, comparison, applications, backend
versions) are shown when present; every renderer works without them.
"""

import html
import json
import os
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from . import applications as applications_mod
from . import coverage, junit, traces, verdicts
from .annotate import annotate
from .errors import ConformError
from .scenarios import SECURITY_AREA, area_of  # noqa: F401 (SECURITY_AREA: for renderers)
from .verdicts import SCORE_FORMULA, STATUS_NAMES, VERDICT_NAMES

SCHEMA = 1
SECURITY_WORDS = {"attacks": {"PASS": "held", "FAIL": "breached"},
                  "controls": {"PASS": "works", "FAIL": "broken"}}
# Verdicts (the runner's, against the oracle) and statuses (a verdict read against the backend's
# expectation file) are defined in verdicts.py; without expectations a cell's status is its verdict.
VERDICTS = VERDICT_NAMES
STATUSES = STATUS_NAMES
UNEXPECTED_STATUSES = {name for name in STATUS_NAMES if verdicts.is_unexpected(name)}
CHANGES = ("regressed", "fixed", "changed", "new")
# A cell's mark for how it changed since the previous run (beside its status word).
CHANGE_MARKS = {"regressed": "▼", "fixed": "▲", "changed": "Δ", "new": "+"}
APPLICATION_VERDICTS = ("works", "broken", "insecure", "UNSUPPORTED", "ERROR")
# Optional per-result fields copied from a Result when it has them (added by other parts of the suite).
OPTIONAL_RESULT_FIELDS = ("status", "unexpected", "signature", "finding", "change", "attempts", "left_behind")
# How much of each list matrix.md and the landing view show before pointing to the rest.
MARKDOWN_DEVIATIONS = 5
HTML_DEVIATIONS = 15
LISTED_CHANGES = 30
PROJECT = Path(__file__).resolve().parents[2]


def cell_file(backend, scenario):
    return f"diffs/{backend}/{traces.file_name(scenario)[:-5]}.txt"


def trace_file(backend, scenario):
    return f"traces/{backend}/{traces.file_name(scenario)}"


# ---- results.json ---------------------------------------------------------------------------

def _result_row(r, sources):
    row = {"backend": r.backend, "scenario": r.scenario, "area": area_of(r.scenario), "verdict": r.verdict,
           "message": r.message, "diff": r.diff, "evidence": r.evidence, "duration": round(r.duration, 3),
           "detail": cell_file(r.backend, r.scenario)}
    for name in OPTIONAL_RESULT_FIELDS:
        value = getattr(r, name, None)
        if value is not None and value != []:
            row[name] = value
    if sources and r.scenario in sources:
        row["source"] = sources[r.scenario]
    return row


def _cells(results, backends, sources=None, observed=None, details=None):
    """The results.json rows of these Results; details collects each cell's detail file's text
    (written by save(), once, with its header). observed collects the cells' traces (for their
    signatures) when given."""
    rows = []
    for r in results:
        if details is not None:
            details[cell_file(r.backend, r.scenario)] = (
                f"{r.backend} / {r.scenario}: {r.verdict}\n"
                + (f"{r.message}\n" if r.message else "")
                + (f"\n{r.diff}\n" if r.diff else "")
                + (f"\nevidence:\n{r.evidence}\n" if r.evidence else ""))
        rows.append(_result_row(r, sources))
        if r.run:
            backends[r.backend].setdefault("run_info", r.run)
        if observed is not None and r.trace and "actors" in r.trace:
            observed[(r.backend, r.scenario)] = r.trace
    return rows


_DETAIL_KEYS = ("status: ", "signature: ", "expected signature: ", "finding: ", "reason: ", "change: ")


def _with_header(text, row):
    """A detail file's text with the cell's status, signature and finding under its first line
    (replacing the ones it had)."""
    lines = text.split("\n")
    rest = lines[1:]
    while rest and rest[0].startswith(_DETAIL_KEYS):
        rest.pop(0)
    head = []
    if row.get("status") and row["status"] != row["verdict"] or row.get("unexpected"):
        head.append(f"status: {row['status']}" + (" (unexpected)" if row.get("unexpected") else " (expected)"))
    if row.get("signature"):
        head.append(f"signature: {row['signature']}")
    sigs = (row.get("expectation") or {}).get("signatures")
    if sigs and row.get("status") == "FAIL":
        head.append("expected signature: " + " | ".join(sigs))
    if row.get("finding"):
        head.append(f"finding: {row['finding']['id']} ({row['finding']['url']})")
    if row.get("reason"):
        head.append(f"reason: {row['reason']}")
    if row.get("change"):
        head.append(f"change: {row['change']} since the previous run")
    return "\n".join(lines[:1] + head + rest)


def _write_details(out_dir, rows, details):
    """Each row's detail file, with its header: from details (the run's new cells, written once)
    or, for a cell judged again (a results directory re-annotated), rewritten in place."""
    made = set()
    for row in rows:
        rel = row.get("detail")
        if not rel:
            continue
        path = out_dir / rel
        if details is not None and rel in details:
            if path.parent not in made:
                path.parent.mkdir(parents=True, exist_ok=True)
                made.add(path.parent)
            path.write_text(_with_header(details[rel], row))
        elif path.exists():
            path.write_text(_with_header(path.read_text(), row))


def save(out_dir, doc, observed=None, judge=True, details=None):
    """Writes results.json and everything rendered from it (after a change to doc). judge: first
    give every cell its signature, its status against the expectation files, the distinct
    deviations and the comparison with the previous run (annotate.py); False renders doc exactly
    as it is (constructed fixtures). details: detail file -> text, for cells new to the directory."""
    out_dir = Path(out_dir)
    doc["results"].sort(key=lambda x: (x["backend"], x["scenario"]))
    if judge:
        annotate(doc, out_dir, observed)
    doc["score_formula"] = SCORE_FORMULA
    _write_details(out_dir, doc["results"], details)
    # Atomically: a run killed while writing leaves the previous results.json or the new one, never half.
    tmp = out_dir / f".results.json.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(doc, indent=1) + "\n")
    os.replace(tmp, out_dir / "results.json")
    write_matrix(out_dir, doc)
    junit.write(out_dir, doc)
    return doc


def write_results(out_dir, run_info, backends, scenarios, results, partial_reason=None, sources=None,
                  judge=True):
    """backends: name -> dict(description, kind, available, reason); results: list of Result.
    partial_reason: why the run did not finish (then "partial" is true), or None.
    sources: scenario -> "file:line" (scenarios.scenario_sources). judge: see save()."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    observed, details = {}, {}
    rows = _cells(results, backends, sources, observed, details)
    doc = {"schema": SCHEMA, "run_info": run_info, "score_formula": SCORE_FORMULA,
           "partial": partial_reason is not None, "partial_reason": partial_reason,
           "scenarios": list(scenarios), "backends": backends, "results": rows}
    return save(out_dir, doc, observed, judge, details)


def add_backend(out_dir, name, info, results):
    """Adds one more backend's results (e.g. imported from another machine) to a results directory."""
    out_dir = Path(out_dir)
    doc = load_results(out_dir / "results.json")
    doc["backends"][name] = info
    doc["results"] = [r for r in doc["results"] if r["backend"] != name]
    sources = {r["scenario"]: r["source"] for r in doc["results"] if r.get("source")}
    observed, details = {}, {}
    doc["results"] += _cells(results, doc["backends"], sources, observed, details)
    return save(out_dir, doc, observed, details=details)


def write_coverage(out_dir, scenarios, coverage_file):
    """coverage.md and coverage.html beside the matrix; returns the summary counts."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    md = coverage.coverage_markdown(scenarios, coverage_file)
    (out_dir / "coverage.md").write_text(md)
    rows = coverage.coverage_rows(scenarios, coverage_file)
    table = Table(["item", "behaviour", "status", "scenarios or reason"], [
        [r["id"], r["text"],
         Cell(r["status"], status={"covered": "PASS", "left out": "UNSUPPORTED"}.get(r["status"], "FAIL")),
         ", ".join(r["scenarios"]) if r["scenarios"] else (r["reason"] or r["note"])] for r in rows])
    section = Section("coverage", "Coverage of the AF_UNIX checklist", tables=[table])
    (out_dir / "coverage.html").write_text(standalone_html("Checklist coverage", [section]))
    return coverage.coverage_summary(rows)


MAX_RESULTS_BYTES = 256 << 20


def load_results(path):
    """results.json, checked well enough for the matrix and the importer to rely on; anything else
    is one ConformError naming the file and the problem."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_RESULTS_BYTES + 1)
    except OSError as e:
        raise ConformError(path, f"cannot read: {e.strerror}") from None
    if len(raw) > MAX_RESULTS_BYTES:
        raise ConformError(path, f"larger than {MAX_RESULTS_BYTES >> 20} MiB: not a results.json")
    try:
        doc = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise ConformError(path, f"not UTF-8 (byte {e.start}): not a results.json") from None
    except ValueError as e:
        raise ConformError(path, f"not valid JSON (truncated?): {e}") from None
    validate_results(doc, path)
    return doc


def validate_results(doc, where):
    def bad(problem):
        raise ConformError(where, f"not a results.json of this suite: {problem}")

    if not isinstance(doc, dict):
        bad("the top level must be an object")
    if doc.get("schema") != SCHEMA:
        bad(f"schema {doc.get('schema')!r} is not {SCHEMA}")
    if not isinstance(doc.get("run_info"), dict):
        bad("'run_info' must be an object")
    if not isinstance(doc["run_info"].get("oracle", {}), dict):
        bad("'run_info.oracle' must be an object")
    scenarios = doc.get("scenarios")
    if not isinstance(scenarios, list) or not all(isinstance(s, str) for s in scenarios):
        bad("'scenarios' must be a list of names")
    backends = doc.get("backends")
    if not isinstance(backends, dict) or not all(isinstance(b, dict) and isinstance(b.get("kind"), str)
                                                 for b in backends.values()):
        bad("'backends' must map each name to an object with a 'kind'")
    rows = doc.get("results")
    if not isinstance(rows, list):
        bad("'results' must be a list")
    for i, r in enumerate(rows):
        if not isinstance(r, dict) or not all(isinstance(r.get(k), str) for k in ("backend", "scenario", "verdict")):
            bad(f"result {i} must be an object with backend, scenario and verdict strings")
        if r["backend"] not in backends:
            bad(f"result {i} is for backend '{r['backend']}', which 'backends' does not list")
        if r["verdict"] not in VERDICT_NAMES:
            bad(f"result {i} has verdict '{r['verdict']}', not one of {', '.join(VERDICT_NAMES)}")
    return doc


# ---- the model ------------------------------------------------------------------------------

def normalise(row):
    """A results.json row with every optional field present: what the renderers read."""
    cell = dict(row)
    cell.setdefault("area", area_of(row["scenario"]))
    cell.setdefault("message", "")
    cell.setdefault("diff", "")
    cell.setdefault("evidence", "")
    cell.setdefault("detail", cell_file(row["backend"], row["scenario"]))
    status = row.get("status") or row["verdict"]
    cell["status"] = status
    if row.get("unexpected") is None:  # no expectations: every deviation is unexpected
        cell["unexpected"] = status in UNEXPECTED_STATUSES
    cell.setdefault("signature", None)
    cell.setdefault("finding", None)
    cell.setdefault("change", None)
    cell["attempts"] = row.get("attempts") or []
    cell["left_behind"] = row.get("left_behind") or []
    cell.setdefault("source", None)
    return cell


def deviates(cell):
    return cell["verdict"] not in ("PASS", "UNSUPPORTED")


def deviation_key(cell):
    """What groups cells into one distinct deviation: the signature when the run gave one, else
    what the cause step changed (derived_signature), else the verdict's one-line message."""
    if cell.get("signature"):
        return cell["signature"]
    derived = derived_signature(cell["diff"])
    if derived:
        return derived if cell["verdict"] == "FAIL" else f"{cell['verdict']}: {derived}"
    first = (cell["message"] or cell["verdict"]).splitlines()[0]
    return first if cell["status"] in first else f"{cell['status']}: {first}"


def derived_signature(diff):
    """'connect: result ok -> EACCES', 'getsockname: addr differs': the operation of the first
    difference and the fields it changed, leaving out what differs from scenario to scenario (the
    actor, the step number, addresses and data), so that one bug in a backend is one deviation."""
    from .site import parse_diff
    cause = parse_diff(diff)["cause"] if diff else None
    if not cause:
        return None
    if cause["kind"] == "note":
        return cause["text"]
    if cause["kind"] in ("end", "identity"):
        return f"{cause['kind']}: {cause['observed']} instead of {cause['expected']}"
    try:
        exp, obs = (json.loads(cause[k]) if cause[k] not in ("", "(nothing)") else None
                    for k in ("expected", "observed"))
    except json.JSONDecodeError:
        return f"{cause['op']}: differs"
    if not isinstance(exp, dict) or not isinstance(obs, dict):
        return f"{cause['op']}: " + ("an extra step" if exp is None else "a step missing")
    changed = [k for k in dict.fromkeys([*exp, *obs]) if k != "op" and exp.get(k) != obs.get(k)]
    return f"{cause['op']}: " + ", ".join(
        f"result {exp.get('result')} -> {obs.get('result')}" if k == "result" and isinstance(obs.get(k), str)
        else f"{k} differs" for k in changed)


@dataclass
class Deviation:
    signature: str
    count: int
    finding: dict = None
    scenarios: list = field(default_factory=list)
    statuses: dict = field(default_factory=dict)  # status -> cells, when the run says


class Report:
    """results.json, indexed and summarised for every renderer."""

    def __init__(self, doc, base="."):
        self.doc = doc
        self.base = base  # where the suite's own files are, for links (source_base)
        self.info = doc.get("run_info") or {}
        self.rows = [normalise(r) for r in doc.get("results", [])]
        self.cells = {(c["backend"], c["scenario"]): c for c in self.rows}
        ran = {c["backend"] for c in self.rows}
        meta = doc.get("backends") or {}
        order = lambda name: (meta.get(name, {}).get("kind") != "oracle", name)
        self.backends = sorted(ran, key=order)
        self.unavailable = sorted(b for b in meta if b not in ran)
        self.meta = {b: meta.get(b, {"kind": "?", "description": ""}) for b in list(meta) + sorted(ran)}
        self.scenarios = list(doc.get("scenarios") or sorted({c["scenario"] for c in self.rows}))
        self.areas = defaultdict(list)
        for s in self.scenarios:
            self.areas[area_of(s)].append(s)
        self.sources = {c["scenario"]: c["source"] for c in self.rows if c.get("source")}
        self._deviations = {}
        self.oracle = next((b for b in self.backends if self.meta[b].get("kind") == "oracle"), None)

    # -- figures --
    def counts(self, backend, scenarios=None, key="verdict"):
        c = Counter()
        for s in self.scenarios if scenarios is None else scenarios:
            cell = self.cells.get((backend, s))
            if cell:
                c[cell[key]] += 1
        return c

    def score(self, backend, scenarios=None):
        c = self.counts(backend, scenarios)
        return c["PASS"], sum(c.values()) - c["UNSUPPORTED"]

    def unexpected(self, backend):
        return sum(1 for c in self.rows if c["backend"] == backend and c["unexpected"])

    def expected_deviations(self, backend):
        return sum(1 for c in self.rows if c["backend"] == backend and c["status"] == "XFAIL")

    def has_expectations(self):
        return any("status" in r for r in self.doc.get("results", []))

    def deviations(self, backend):
        """Distinct deviations of a backend, largest first: results.json's own grouping when the run
        made one, else cells grouped by deviation_key."""
        if backend not in self._deviations:
            self._deviations[backend] = self._group_deviations(backend)
        return self._deviations[backend]

    def _group_deviations(self, backend):
        given = (self.doc.get("deviations") or {}).get(backend)
        if given is not None:
            devs = [Deviation(d.get("signature") or "?", d.get("count", len(d.get("scenarios", []))),
                              d.get("finding"), list(d.get("scenarios", [])), dict(d.get("statuses") or {}))
                    for d in given]
        else:
            groups = {}
            for c in self.rows:
                if c["backend"] == backend and deviates(c):
                    d = groups.setdefault(deviation_key(c), Deviation(deviation_key(c), 0, c["finding"]))
                    d.count += 1
                    d.scenarios.append(c["scenario"])
            devs = list(groups.values())
        return sorted(devs, key=lambda d: (-d.count, d.signature))

    def changes(self, backend):
        return [(c["scenario"], c["change"]) for c in self.rows if c["backend"] == backend and c["change"]]

    def left_behind(self, backend):
        return [(c["scenario"], p) for c in self.rows if c["backend"] == backend for p in c["left_behind"]]

    def applications(self):
        return self.doc.get("applications") or []

    def security(self):
        """(scenario, kind) for the Security section: attacks, then the same-user controls."""
        sec = self.info.get("security") or {}
        return [(s, kind) for kind in ("attacks", "controls") for s in sec.get(kind, [])]

    def finding_href(self, finding):
        """A finding's URL; one relative to the project (docs/triage/...) made relative to the page."""
        url = (finding or {}).get("url") or ""
        return url if not url or re.match(r"^[a-z]+:", url) else f"{self.base}/{url}"

    def backend_version(self, backend):
        m = self.meta.get(backend, {})
        return m.get("version") or (m.get("run_info") or {}).get("version") or ""


# ---- sections: what every renderer shows ----------------------------------------------------

@dataclass
class Cell:
    """One table cell: its text (always: colour is never the only sign), a status for colour, a
    link to a file, an explore-view filter (a dict of its URL parameters), a hover title."""
    text: str
    status: str = None
    href: str = None
    explore: dict = None
    title: str = None


@dataclass
class Table:
    columns: list
    rows: list  # of lists of str | Cell
    caption: str = None
    more: str = None  # a last line saying what was left out and where it is


@dataclass
class Section:
    id: str
    title: str
    intro: str = ""  # plain text with *emphasis* and [links](href)
    tables: list = field(default_factory=list)


def explore_href(params):
    from urllib.parse import urlencode
    return "#explore?" + urlencode({k: v for k, v in params.items() if v not in (None, "", False)})


def _open(backend, scenario):
    """The explore view showing one cell, its diff open."""
    return {"backend": backend, "scenarios": scenario, "open": f"{backend}:{scenario}"}


def _pct(passed, applicable):
    return f"{100 * passed / applicable:.0f}%" if applicable else "n/a"


def run_line(rep):
    info = rep.info
    oracle = info.get("oracle") or {}
    return (f"Suite revision {info.get('suite_revision')}, run {info.get('started')}. "
            f"Oracle: Linux {oracle.get('kernel')} ({oracle.get('machine')}). "
            f"{SCORE_FORMULA[0].upper() + SCORE_FORMULA[1:]}; UNSUPPORTED never counts as a failure.")


def partial_line(rep):
    if not rep.doc.get("partial"):
        return ""
    return "**This run is partial**: " + (rep.doc.get("partial_reason") or "it did not finish") + "."


def coverage_line(rep):
    counts = rep.info.get("coverage")
    if not counts:
        return ""
    return ("Checklist coverage: " + ", ".join(f"{n} {k}" for k, n in counts.items())
            + " ([coverage.html](coverage.html), [coverage.md](coverage.md)).")


def summary_section(rep):
    expectations = rep.has_expectations()
    # A status no cell of the run has is left out (said in the intro): 16 columns do not fit 1280 px.
    every = STATUSES if expectations else VERDICTS
    seen = Counter()
    for b in rep.backends:
        seen.update(rep.counts(b, key="status"))
    shown = [v for v in every if seen[v] or v in ("PASS", "FAIL")]
    cols = ["backend", "kind", "version", "score", "unexpected"]
    cols += ["expected deviations"] if expectations else []
    cols += shown + ["changes", "left behind"]
    rows = []
    for b in rep.backends:
        statuses = rep.counts(b, key="status")
        unexpected = rep.unexpected(b)
        row = [Cell(b, explore={"backend": b}, title=rep.meta[b].get("description")), rep.meta[b].get("kind", ""),
               rep.backend_version(b), Cell(_pct(*rep.score(b)), title="%d of %d applicable" % rep.score(b)),
               Cell(str(unexpected), status="FAIL" if unexpected else None,
                    explore={"backend": b, "unexpected": 1} if unexpected else None)]
        if expectations:
            row.append(Cell(str(rep.expected_deviations(b)), explore={"backend": b, "status": "XFAIL"}))
        for v in shown:
            n = statuses[v]
            row.append(Cell(str(n), explore={"backend": b, "status": v}) if n else "0")
        changes = rep.changes(b)
        row.append(Cell(str(len(changes)), explore={"backend": b, "status": "changed"}) if changes else "0")
        row.append(str(len(rep.left_behind(b))))
        rows.append(row)
    for b in rep.unavailable:
        m = rep.meta[b]
        rows.append([b, m.get("kind", ""), m.get("version", ""), "not run", m.get("reason") or "not available"]
                    + [""] * (len(cols) - 5))
    intro = run_line(rep)
    omitted = [v for v in every if v not in shown]
    if omitted:
        intro += f" No cell of this run is {' or '.join([', '.join(omitted[:-1]), omitted[-1]] if len(omitted) > 1 else omitted)}."
    if not expectations:
        intro += " No expectations were applied: every deviation counts as unexpected."
    return Section("summary", "Summary", intro, [Table(cols, rows)])


def deviations_section(rep, limit):
    tables = []
    for b in rep.backends:
        devs = rep.deviations(b)
        if not devs:
            continue
        with_statuses = any(d.statuses for d in devs)
        rows = []
        for d in devs[:limit]:
            finding = ""
            if d.finding:
                text = d.finding.get("id", "finding") + (f" {d.finding['title']}" if d.finding.get("title") else "")
                finding = Cell(text, href=rep.finding_href(d.finding) or None)
            example = d.scenarios[0] if d.scenarios else ""
            rows.append([Cell(str(d.count), explore={"backend": b, "deviation": d.signature}),
                         Cell(d.signature, explore={"backend": b, "deviation": d.signature})]
                        + ([", ".join(f"{n} {st}" for st, n in sorted(d.statuses.items()))] if with_statuses else [])
                        + [finding, example + (f" and {len(d.scenarios) - 1} more" if len(d.scenarios) > 1 else "")])
        more = (f"{len(devs) - limit} smaller deviations not listed: see the explore view or matrix-grid.md"
                if len(devs) > limit else None)
        tables.append(Table(["cells", "deviation"] + (["statuses"] if with_statuses else []) + ["finding", "scenarios"],
                            rows,
                            caption=f"{b}: {len(devs)} distinct deviations in "
                                    f"{sum(d.count for d in devs)} cells", more=more))
    intro = ("Cells that deviate from Linux, grouped by what went wrong (the run's signature, else the "
             "operation of the first difference and what it changed), largest first, with the finding that "
             "tracks each when there is one. Each links to its cells in the explore view.")
    return Section("deviations", "Distinct deviations", intro, tables)


SECURITY_LEGEND = ("An attack is *held* when the victims observed only what Linux lets them observe, "
                   "*breached* when the attacker got further; each cell links to the evidence. Controls are "
                   "same-user cases that must keep working, so that no backend holds by refusing everyone.")


def security_section(rep):
    pairs = rep.security()
    if not pairs:
        return None
    rows = []
    for s, kind in pairs:
        row = [s.split(".", 1)[1] + (" (control)" if kind == "controls" else "")]
        for b in rep.backends:
            cell = rep.cells.get((b, s))
            if cell:
                row.append(Cell(SECURITY_WORDS[kind].get(cell["verdict"], cell["verdict"]), status=cell["status"],
                                href=cell["detail"], explore=_open(b, s)))
            else:
                row.append("-")
        rows.append(row)
    return Section("security", "Security (attack x backend)", SECURITY_LEGEND,
                   [Table(["scenario"] + rep.backends, rows)])


APPLICATION_STATUS = {"works": "PASS", "broken": "FAIL", "insecure": "CRASH", "UNSUPPORTED": "UNSUPPORTED",
                      "ERROR": "ERROR"}


def applications_section(rep):
    apps = rep.applications()
    if not apps:
        return None
    names = list(dict.fromkeys(a.get("application", "?") for a in apps))
    backends = [b for b in rep.backends if any(a.get("backend") == b for a in apps)]
    backends += sorted({a.get("backend") for a in apps} - set(backends) - {None})
    by = {(a.get("application"), a.get("backend")): a for a in apps}
    rows = []
    for name in names:
        row = [name]
        for b in backends:
            a = by.get((name, b))
            if not a:
                row.append("-")
                continue
            why = "; ".join(x for x in (a.get("reason"), a.get("failed_step") and f"failed step: {a['failed_step']}")
                            if x)
            related = a.get("related") or []
            word = a.get("verdict", "?") + (f" ({a['failed_step']})" if a.get("failed_step") else "")
            row.append(Cell(word, status=APPLICATION_STATUS.get(a.get("verdict")), title=why or None,
                            explore=_related_view(b, related)))
        rows.append(row)
    notes = []
    for a in apps:
        if a.get("verdict") != "works" and (a.get("reason") or a.get("failed_step")):
            notes.append([a.get("application", "?"), a.get("backend", "?"), Cell(a.get("verdict", "?"),
                          status=APPLICATION_STATUS.get(a.get("verdict"))), a.get("failed_step") or "",
                          (a.get("reason") or "").split("\n")[0], applications_mod._related_summary(a)])
    tables = [Table(["application"] + backends, rows)]
    if notes:
        tables.append(Table(["application", "backend", "verdict", "failed step", "reason", "related scenarios"],
                            notes, caption="Why, where an application does not simply work"))
    return Section("applications", "Applications (program x backend)", applications_mod.LEGEND, tables)


# Up to this many related scenarios are named in an application cell's link; more (hundreds, for an
# emulation without SOCK_SEQPACKET) would make every link kilobytes long: the link then shows the
# backend's deviating cells in those areas.
LINKED_SCENARIOS = 20


def _related_view(backend, related):
    if not related:
        return None
    if len(related) <= LINKED_SCENARIOS:
        return {"backend": backend, "scenarios": ",".join(related)}
    areas = {area_of(s) for s in related}
    return {"backend": backend, "status": "deviating", "area": areas.pop() if len(areas) == 1 else None}


def changes_section(rep):
    comparison = rep.doc.get("comparison")
    any_change = any(c["change"] for c in rep.rows)
    if not any_change and not comparison:
        return Section("changes", "Changes since the previous run",
                       "No previous run was compared with this one.")
    intro = "Compared with the previous run" + _comparison_words(comparison) + "."
    removed = ((comparison or {}).get("backends") or {}) if isinstance(comparison, dict) else {}
    with_removed = any(isinstance(k, dict) and k.get("removed") for k in removed.values())
    rows, listed = [], []
    for b in rep.backends:
        ch = rep.changes(b)
        n = Counter(c for _, c in ch)
        rows.append([Cell(b, explore={"backend": b, "status": "changed"} if ch else None)]
                    + [Cell(str(n[k]), status={"regressed": "FAIL", "fixed": "PASS"}.get(k) if n[k] else None)
                       for k in CHANGES]
                    + ([str(len((removed.get(b) or {}).get("removed") or []))] if with_removed else []))
        listed += [(b, s, c) for s, c in ch]
    tables = [Table(["backend"] + list(CHANGES) + (["removed"] if with_removed else []), rows)]
    if listed:
        order = {c: i for i, c in enumerate(CHANGES)}
        listed.sort(key=lambda x: (order.get(x[2], 9), x[0], x[1]))
        tables.append(Table(["change", "backend", "scenario", "now"], [
            [c, b, Cell(s, explore=_open(b, s)), Cell(rep.cells[(b, s)]["status"],
                                                                   status=rep.cells[(b, s)]["status"])]
            for b, s, c in listed[:LISTED_CHANGES]],
            more=f"{len(listed) - LISTED_CHANGES} more changes: filter the explore view by 'changed'"
            if len(listed) > LISTED_CHANGES else None))
    return Section("changes", "Changes since the previous run", intro, tables)


def _comparison_words(comparison):
    """' with run-20261201-... (revision abc, started ...); note: ...' from compare.compare's
    document (or its error), or from any other flat comparison a run recorded."""
    if not isinstance(comparison, dict):
        return ""
    if comparison.get("error"):
        return f": {comparison['error']}"
    prev = comparison.get("a")
    if isinstance(prev, dict):
        said = " ".join(x for x in (prev.get("name"), prev.get("suite_revision") and
                                    f"(revision {prev['suite_revision']}, started {prev.get('started')})") if x)
        notes = list(comparison.get("notes") or [])
        if comparison.get("backends_only_in_a"):
            notes.append("not run this time: " + ", ".join(comparison["backends_only_in_a"]))
        return (f", {said}" if said else "") + ("; " + "; ".join(notes) if notes else "")
    said = [f"{k}: {v}" for k, v in comparison.items() if isinstance(v, (str, int, float)) and v != ""]
    return " (" + "; ".join(said) + ")" if said else ""


def left_behind_section(rep):
    rows = [[b, Cell(s, explore=_open(b, s)), p] for b in rep.backends for s, p in rep.left_behind(b)]
    if not rows:
        return None
    return Section("left-behind", "What backends left behind",
                   "Files a backend left outside the scenario's own directory: a run must leave nothing.",
                   [Table(["backend", "scenario", "left behind"], rows[:LISTED_CHANGES],
                          more=f"{len(rows) - LISTED_CHANGES} more in results.json" if len(rows) > LISTED_CHANGES
                          else None)])


def coverage_section(rep):
    line = coverage_line(rep)
    return Section("coverage", "Checklist coverage", line) if line else None


def by_area_section(rep):
    rows = [[Cell(area, explore={"area": area})]
            + [Cell("%d/%d" % rep.score(b, rep.areas[area]), explore={"backend": b, "area": area})
               for b in rep.backends] for area in sorted(rep.areas)]
    return Section("areas", "By area (passed / applicable)", "", [Table(["area"] + rep.backends, rows)])


def cell_label(cell):
    """A grid cell's word: its status, with the mark of its change since the previous run."""
    mark = CHANGE_MARKS.get(cell.get("change") or "", "")
    return cell["status"] + (f" {mark}" if mark else "")


def grid_sections(rep):
    out = []
    for area in sorted(rep.areas):
        rows = []
        for s in rep.areas[area]:
            row = [s.split(".", 1)[1]]
            for b in rep.backends:
                cell = rep.cells.get((b, s))
                row.append(Cell(cell_label(cell), status=cell["status"], href=cell["detail"]) if cell else "-")
            rows.append(row)
        out.append(Section(f"area-{area}", area, "", [Table(["scenario"] + rep.backends, rows)]))
    return out


def landing_sections(rep, deviation_limit):
    """What matrix.md and the site's landing view show, in order."""
    sections = [summary_section(rep), deviations_section(rep, deviation_limit), security_section(rep),
                applications_section(rep), changes_section(rep), left_behind_section(rep), coverage_section(rep),
                by_area_section(rep)]
    return [s for s in sections if s is not None]


# ---- Markdown ------------------------------------------------------------------------------

def _md_cell(c):
    if isinstance(c, Cell):
        text = c.text.replace("|", "\\|").replace("\n", " ")
        return f"[{text}]({c.href})" if c.href else text
    return str(c).replace("|", "\\|").replace("\n", " ")


def markdown(sections, level=2):
    out = []
    for s in sections:
        out += ["#" * level + " " + s.title, ""]
        if s.intro:
            out += [s.intro, ""]
        for t in s.tables:
            if t.caption:
                out += [f"**{t.caption}**", ""]
            out.append("| " + " | ".join(t.columns) + " |")
            out.append("|" + "---|" * len(t.columns))
            out += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in t.rows]
            if t.more:
                out += ["", f"_{t.more}_"]
            out.append("")
    return out


def matrix_markdown(doc, base="."):
    """matrix.md: what fits a CI summary. The full grid is matrix-grid.md."""
    rep = Report(doc, base)
    out = ["# AF_UNIX conformance matrix", ""]
    if partial_line(rep):
        out += [partial_line(rep), ""]
    out += ["The full scenario x backend grid is in [matrix-grid.md](matrix-grid.md); explore it, with every "
            "diff, in [index.html](index.html).", ""]
    return "\n".join(out + markdown(landing_sections(rep, MARKDOWN_DEVIATIONS)))


def grid_markdown(doc):
    rep = Report(doc)
    out = ["# AF_UNIX conformance matrix: every scenario", "", run_line(rep), "",
           "A cell's mark says how it changed since the previous run: ▼ regressed, ▲ fixed, Δ changed "
           "deviation, + new.", ""]
    if partial_line(rep):
        out += [partial_line(rep), ""]
    out += markdown([by_area_section(rep)]) + ["## Scenarios", ""] + markdown(grid_sections(rep), level=3)
    return "\n".join(out)


# ---- HTML ----------------------------------------------------------------------------------

_LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)\)")
_EM = re.compile(r"\*\*([^*]+)\*\*|\*([^*]+)\*")


def inline_html(text):
    """Plain text with [links](href), **strong** and *emphasis*, escaped."""
    e = html.escape(text)
    e = _LINK.sub(lambda m: f"<a href=\"{m.group(2)}\">{m.group(1)}</a>", e)
    return _EM.sub(lambda m: f"<strong>{m.group(1)}</strong>" if m.group(1) else f"<em>{m.group(2)}</em>", e)


def _html_cell(c, header=False):
    tag = "th" if header else "td"
    if not isinstance(c, Cell):
        return f"<{tag}>{html.escape(str(c))}</{tag}>"
    attrs = f" class='st st-{c.status}'" if c.status else ""
    if c.title:
        attrs += f" title='{html.escape(c.title, quote=True)}'"
    text = html.escape(c.text)
    if c.explore:  # on the site, a cell opens the explore view on what it counts
        text = f"<a href='{html.escape(explore_href(c.explore), quote=True)}'>{text}</a>"
    elif c.href:
        text = f"<a href='{html.escape(c.href, quote=True)}'>{text}</a>"
    return f"<{tag}{attrs}>{text}</{tag}>"


def html_sections(sections, contents=False):
    out = []
    if contents:
        out.append("<nav class='contents' aria-label='Sections'>" + " ".join(
            f"<a href='#{html.escape(s.id)}'>{html.escape(s.title)}</a>" for s in sections) + "</nav>")
    for s in sections:
        out.append(f"<section id='{html.escape(s.id)}' aria-labelledby='h-{html.escape(s.id)}'>"
                   f"<h2 id='h-{html.escape(s.id)}'>{html.escape(s.title)}</h2>")
        if s.intro:
            out.append(f"<p>{inline_html(s.intro)}</p>")
        for t in s.tables:
            out.append("<div class='scroll'><table>")
            if t.caption:
                out.append(f"<caption>{html.escape(t.caption)}</caption>")
            out.append("<thead><tr>" + "".join(f"<th scope='col'>{html.escape(c)}</th>" for c in t.columns)
                       + "</tr></thead><tbody>")
            for row in t.rows:
                out.append("<tr>" + "".join(_html_cell(c) for c in row) + "</tr>")
            out.append("</tbody></table></div>")
            if t.more:
                out.append(f"<p class='more'>{html.escape(t.more)}</p>")
        out.append("</section>")
    return "\n".join(out)


def standalone_html(title, sections):
    from .site import STYLE
    return ("<!doctype html><html lang='en'><head><meta charset='utf-8'>"
            f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body><main>"
            f"<h1>{html.escape(title)}</h1>\n{html_sections(sections)}\n</main></body></html>\n")


# ---- writing it all --------------------------------------------------------------------------

def source_base(out_dir):
    """Where links to the suite's own files (scenario sources, the oracle's traces) point: a web
    copy when AFUNIX_SOURCE_URL is set (e.g. a repository browser at the suite's revision), else
    the checkout, relative to the results directory."""
    url = os.environ.get("AFUNIX_SOURCE_URL")
    return url.rstrip("/") if url else os.path.relpath(PROJECT, Path(out_dir).resolve())


def write_matrix(out_dir, doc):
    from . import site
    out_dir = Path(out_dir)
    base = source_base(out_dir)
    (out_dir / "matrix.md").write_text(matrix_markdown(doc, base) + "\n")
    (out_dir / "matrix-grid.md").write_text(grid_markdown(doc) + "\n")
    rep = Report(doc, base)
    site.write_site(out_dir, rep, html_sections(landing_sections(rep, HTML_DEVIATIONS), contents=True),
                    partial_line(rep), base)


def matrix_html(doc, base="."):
    """The landing view's sections as one HTML fragment (what index.html shows above the explore view)."""
    rep = Report(doc, base)
    return html_sections(landing_sections(rep, HTML_DEVIATIONS), contents=True)


def summary_table(doc):
    """The plain-text table ./conform run prints at the end (the summary section, as text), then
    each backend's largest distinct deviations and the changes since the previous run."""
    rep = Report(doc)
    short = {"UNSUPPORTED": "UNSUPP"}
    header = (f"{'backend':<24} " + " ".join(f"{short.get(v, v):>7}" for v in STATUSES)
              + f" {'expect':>6} {'unexp':>5} {'distinct':>8} {'left':>5} {'score':>5}  version")
    lines = [header, "-" * len(header)]
    for b in rep.backends:
        c = rep.counts(b, key="status")
        unexpected = rep.unexpected(b)
        lines.append(f"{b:<24} " + " ".join(f"{c[v]:>7}" for v in STATUSES)
                     + f" {sum(c.values()) - unexpected:>6} {unexpected:>5} {len(rep.deviations(b)):>8}"
                     f" {len(rep.left_behind(b)):>5} {_pct(*rep.score(b)):>5}  {rep.backend_version(b)}")
    for b in rep.unavailable:
        lines.append(f"{b:<24} {rep.meta[b].get('reason') or 'not run'}")
    lines += ["", SCORE_FORMULA + "; 'left' = what the backend left outside the scenario directories "
              "(removed; matrix.md, 'What backends left behind')."]
    for b in rep.backends:
        devs = rep.deviations(b)
        if not devs:
            continue
        lines += ["", f"{b}: {sum(d.count for d in devs)} cells not PASS, {len(devs)} distinct deviations:"]
        for d in devs[:5]:
            lines.append(f"  {d.count:>4} x {d.signature[:110]}  [{(d.finding or {}).get('id') or 'no expectation'}]")
        if len(devs) > 5:
            lines.append(f"       ... {len(devs) - 5} more (matrix.md, 'Distinct deviations')")
    comp = doc.get("comparison")
    if isinstance(comp, dict) and comp.get("backends"):
        lines += ["", f"since the previous run ({(comp.get('a') or {}).get('name')}):"]
        for b, kinds in comp["backends"].items():
            n = ", ".join(f"{len(v)} {k}" for k, v in kinds.items() if v)
            lines.append(f"  {b}: {n or 'no change'}")
        lines += [f"  note: {n}" for n in comp.get("notes", [])]
    if partial_line(rep):
        lines += ["", partial_line(rep).replace("**", "")]
    return "\n".join(lines)
