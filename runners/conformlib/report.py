"""The published results of a run: results.json (machine-readable), matrix.md and matrix.html
(scenarios by area x backends, each cell linking to its diff), and one diff file per cell."""

import html
import json
import os
from collections import defaultdict
from pathlib import Path

from . import applications, coverage, junit, traces
from .annotate import annotate
from .errors import ConformError
from .scenarios import SECURITY_AREA, area_of  # noqa: F401 (SECURITY_AREA: for renderers)
from .verdicts import SCORE_FORMULA, STATUS_NAMES, VERDICT_NAMES

SCHEMA = 1
SECURITY_WORDS = {"attacks": {"PASS": "held", "FAIL": "breached"},
                  "controls": {"PASS": "works", "FAIL": "broken"}}
# The summary's columns: statuses (a verdict read against the backend's expectation file).
COLUMNS = STATUS_NAMES
CHANGE_MARKS = {"regressed": "▼", "fixed": "▲", "changed": "Δ", "new": "+"}


def cell_file(backend, scenario):
    return f"diffs/{backend}/{traces.file_name(scenario)[:-5]}.txt"


def _write_cells(out_dir, results, backends, observed=None):
    """Writes one detail file per cell; returns the results.json rows. observed collects the
    cells' traces (for their signatures) when given."""
    rows = []
    for r in results:
        rel = cell_file(r.backend, r.scenario)
        path = out_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"{r.backend} / {r.scenario}: {r.verdict}\n"
                        + (f"{r.message}\n" if r.message else "")
                        + (f"\n{r.diff}\n" if r.diff else "")
                        + (f"\nevidence:\n{r.evidence}\n" if r.evidence else ""))
        rows.append({"backend": r.backend, "scenario": r.scenario, "area": area_of(r.scenario),
                     "verdict": r.verdict, "message": r.message, "duration": round(r.duration, 3),
                     "detail": rel})
        if r.run:
            backends[r.backend].setdefault("run_info", r.run)
        if observed is not None and r.trace and "actors" in r.trace:
            observed[(r.backend, r.scenario)] = r.trace
    return rows


_DETAIL_KEYS = ("status: ", "signature: ", "expected signature: ", "finding: ", "reason: ", "change: ")


def _detail_header(out_dir, row):
    """Puts the cell's status, signature and finding under the first line of its detail file."""
    path = out_dir / row["detail"]
    if not path.exists():
        return
    lines = path.read_text().split("\n")
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
    path.write_text("\n".join(lines[:1] + head + rest))


def _save(out_dir, doc, observed=None):
    doc["results"].sort(key=lambda x: (x["backend"], x["scenario"]))
    annotate(doc, out_dir, observed)
    doc["score_formula"] = SCORE_FORMULA
    for row in doc["results"]:
        _detail_header(out_dir, row)
    # Atomically: a run killed while writing leaves the previous results.json or the new one, never half.
    tmp = out_dir / f".results.json.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(doc, indent=1) + "\n")
    os.replace(tmp, out_dir / "results.json")
    write_matrix(out_dir, doc)
    junit.write(out_dir, doc)
    return doc


def write_results(out_dir, run_info, backends, scenarios, results, partial_reason=None):
    """backends: name -> dict(description, kind, available, reason); results: list of Result.
    partial_reason: why the run did not finish (then "partial" is true), or None."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    observed = {}
    rows = _write_cells(out_dir, results, backends, observed)
    doc = {"schema": SCHEMA, "run_info": run_info, "score_formula": SCORE_FORMULA,
           "partial": partial_reason is not None, "partial_reason": partial_reason,
           "scenarios": list(scenarios), "backends": backends, "results": rows}
    return _save(out_dir, doc, observed)


def add_backend(out_dir, name, info, results):
    """Adds one more backend's results (e.g. imported from another machine) to a results directory."""
    out_dir = Path(out_dir)
    doc = load_results(out_dir / "results.json")
    doc["backends"][name] = info
    doc["results"] = [r for r in doc["results"] if r["backend"] != name]
    observed = {}
    doc["results"] += _write_cells(out_dir, results, doc["backends"], observed)
    return _save(out_dir, doc, observed)


def write_coverage(out_dir, scenarios, coverage_file):
    """coverage.md and coverage.html beside the matrix; returns the summary counts."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    md = coverage.coverage_markdown(scenarios, coverage_file)
    (out_dir / "coverage.md").write_text(md)
    rows = coverage.coverage_rows(scenarios, coverage_file)
    e = html.escape
    body = [f"<!doctype html><html><head><meta charset='utf-8'><title>Checklist coverage</title>"
            f"<style>{_STYLE}</style></head><body><h1>Coverage of the AF_UNIX checklist</h1>",
            "<table><tr><th>item</th><th>behaviour</th><th>status</th><th>scenarios or reason</th></tr>"]
    for r in rows:
        detail = ", ".join(r["scenarios"]) if r["scenarios"] else (r["reason"] or r["note"])
        css = {"covered": "PASS", "left out": "UNSUPPORTED"}.get(r["status"], "FAIL")
        body.append(f"<tr><td>{e(r['id'])}</td><td>{e(r['text'])}</td><td class='{css}'>{e(r['status'])}</td>"
                    f"<td>{e(detail)}</td></tr>")
    body.append("</table></body></html>")
    (out_dir / "coverage.html").write_text("\n".join(body) + "\n")
    return coverage.coverage_summary(rows)


def _coverage_line(doc):
    counts = doc["run_info"].get("coverage")
    if not counts:
        return ""
    return ("Checklist coverage: " + ", ".join(f"{n} {k}" for k, n in counts.items())
            + " (coverage.md, coverage.html).")


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


class Matrix:
    """results.json, indexed for the tables."""

    def __init__(self, doc):
        self.doc = doc
        self.cells = {(r["backend"], r["scenario"]): r for r in doc["results"]}
        ran = {r["backend"] for r in doc["results"]}
        order = lambda name: (doc["backends"][name]["kind"] != "oracle", name)
        self.backends = sorted((b for b in doc["backends"] if b in ran), key=order)
        self.unavailable = sorted(b for b, info in doc["backends"].items() if b not in ran)
        self.areas = defaultdict(list)
        for s in doc["scenarios"]:
            self.areas[area_of(s)].append(s)

    def counts(self, backend, scenarios=None):
        """{status: n}, plus 'expected'/'unexpected' totals and the raw 'verdicts'."""
        c = dict.fromkeys(COLUMNS, 0)
        c["expected"] = c["unexpected"] = 0
        c["verdicts"] = {}
        for s in scenarios if scenarios is not None else self.doc["scenarios"]:
            cell = self.cells.get((backend, s))
            if cell:
                c[cell.get("status", cell["verdict"])] += 1
                c["unexpected" if cell.get("unexpected") else "expected"] += 1
                c["verdicts"][cell["verdict"]] = c["verdicts"].get(cell["verdict"], 0) + 1
        return c

    def score(self, backend, scenarios=None):
        """(passed, applicable): a cell passes when its verdict is PASS (XPASS included); XFAIL is
        still a deviation; UNSUPPORTED is not applicable."""
        v = self.counts(backend, scenarios)["verdicts"]
        applicable = sum(v.values()) - v.get("UNSUPPORTED", 0)
        return v.get("PASS", 0), applicable

    def deviations(self, backend):
        return (self.doc.get("deviations") or {}).get(backend, [])

    def version(self, backend):
        return self.doc["backends"].get(backend, {}).get("version") or ""


def _pct(passed, applicable):
    return f"{100 * passed / applicable:.0f}%" if applicable else "n/a"


def summary_rows(m):
    """(backend, kind, counts, score) per backend that ran."""
    rows = []
    for b in m.backends:
        c = m.counts(b)
        rows.append((b, m.doc["backends"][b]["kind"], c, _pct(*m.score(b))))
    return rows


def matrix_markdown(doc):
    m = Matrix(doc)
    info = doc["run_info"]
    out = ["# AF_UNIX conformance matrix", "",
           f"Suite revision {info.get('suite_revision')}, run {info.get('started')}. "
           f"Oracle: Linux {info.get('oracle', {}).get('kernel')} ({info.get('oracle', {}).get('machine')}). "
           f"{SCORE_FORMULA}.", "",
           _coverage_line(doc), "",
           "## Summary", "",
           "Expected = PASS, XFAIL (a known deviation, runners/expectations/) and UNSUPPORTED; unexpected "
           "results fail the run. Δ = changes since the previous run.", "",
           "| backend | version | kind | " + " | ".join(COLUMNS) + " | expected | unexpected | distinct deviations"
           " | Δ | score |",
           "|---|---|---|" + "---|" * len(COLUMNS) + "---|---|---|---|---|"]
    for b, kind, c, score in summary_rows(m):
        out.append(f"| {b} | {m.version(b)} | {kind} | " + " | ".join(str(c[v]) for v in COLUMNS)
                   + f" | {c['expected']} | {c['unexpected']} | {len(m.deviations(b))} | {_change_summary(m, b)}"
                   f" | {score} |")
    for b in m.unavailable:
        info_b = doc["backends"][b]
        out.append(f"| {b} | {info_b.get('version') or ''} | {info_b['kind']} | {info_b.get('reason') or 'not run'} |"
                   + " |" * (len(COLUMNS) + 4))
    out += deviations_markdown(m)
    out += security_markdown(m)
    out += applications.applications_markdown(doc, application_backends(m))
    out += ["", "## By area (passed / applicable)", "",
            "| area | " + " | ".join(m.backends) + " |", "|---|" + "---|" * len(m.backends)]
    for area in sorted(m.areas):
        cells = []
        for b in m.backends:
            p, a = m.score(b, m.areas[area])
            cells.append(f"{p}/{a}")
        out.append(f"| {area} | " + " | ".join(cells) + " |")
    out += ["", "## Scenarios", ""]
    for area in sorted(m.areas):
        out += [f"### {area}", "", "| scenario | " + " | ".join(m.backends) + " |",
                "|---|" + "---|" * len(m.backends)]
        for s in m.areas[area]:
            cells = []
            for b in m.backends:
                cell = m.cells.get((b, s))
                cells.append(f"[{cell_label(cell)}]({cell['detail']})" if cell else "-")
            out.append(f"| {s.split('.', 1)[1]} | " + " | ".join(cells) + " |")
        out.append("")
    return "\n".join(out)


def application_backends(m):
    """The Applications section's columns: the backends that ran, then any with only application rows."""
    extra = sorted({r["backend"] for r in m.doc.get("applications") or []} - set(m.backends))
    return m.backends + extra
def cell_label(cell):
    """A cell's word: its status, with the mark of its change since the previous run."""
    mark = CHANGE_MARKS.get(cell.get("change") or "", "")
    return cell.get("status", cell["verdict"]) + (f" {mark}" if mark else "")


def _change_summary(m, backend):
    c = (m.doc.get("comparison") or {}).get("backends", {}).get(backend)
    if not c:
        return ""
    n = {k: len(v) for k, v in c.items() if v}
    return ", ".join(f"{v} {k}" for k, v in n.items()) or "none"


def deviation_headline(m, backend):
    """"cygwin-2014: 630 FAIL cells, 14 distinct deviations (2 with unexpected cells)"."""
    devs = m.deviations(backend)
    verdicts_seen = m.counts(backend)["verdicts"]
    cells = sum(g["count"] for g in devs)
    words = ", ".join(f"{n} {v}" for v, n in sorted(verdicts_seen.items()) if v not in ("PASS", "UNSUPPORTED"))
    unexpected = sum(1 for g in devs if set(g.get("statuses", {})) - {"XFAIL"})
    return (f"{backend}: {words or 'no'} cell{'' if cells == 1 else 's'}, {len(devs)} distinct deviation"
            f"{'' if len(devs) == 1 else 's'}" + (f" ({unexpected} with unexpected cells)" if unexpected else ""))


def _finding_md(f):
    if not f:
        return "not in the expectation file"
    url = f["url"]
    link = ("../../" + url) if url.startswith("docs/") else url
    return f"[{f['id']}]({link})" + (f" {f['title']}" if f.get("title") else "")


def _scenario_list(scenarios, limit=4):
    shown = ", ".join(s for s in scenarios[:limit])
    return shown + (f" and {len(scenarios) - limit} more" if len(scenarios) > limit else "")


def deviations_markdown(m):
    rows = [b for b in m.backends if m.deviations(b)]
    if not rows:
        return []
    out = ["", "## Distinct deviations per backend", "",
           "Non-PASS cells grouped by signature (the first differing step's operation and values), "
           "largest first.", ""]
    for b in rows:
        out += [f"### {deviation_headline(m, b)}", "", "| cells | statuses | signature | finding | scenarios |",
                "|---|---|---|---|---|"]
        for g in m.deviations(b):
            statuses = ", ".join(f"{n} {s}" for s, n in sorted(g.get("statuses", {}).items()))
            out.append(f"| {g['count']} | {statuses} | `{g['signature'].replace('|', chr(92) + '|')}` | {_finding_md(g['finding'])}"
                       f" | {_scenario_list(g['scenarios'])} |")
        out.append("")
    return out


def deviations_html(m):
    rows = [b for b in m.backends if m.deviations(b)]
    if not rows:
        return []
    e = html.escape
    out = ["<h2>Distinct deviations per backend</h2><p>Non-PASS cells grouped by signature (the first "
           "differing step's operation and values), largest first.</p>"]
    for b in rows:
        out.append(f"<h3>{e(deviation_headline(m, b))}</h3><table><tr><th>cells</th><th>statuses</th>"
                   "<th>signature</th><th>finding</th><th>scenarios</th></tr>")
        for g in m.deviations(b):
            f = g.get("finding")
            link = ""
            if f:
                url = ("../../" + f["url"]) if f["url"].startswith("docs/") else f["url"]
                link = f"<a href='{e(url)}'>{e(f['id'])}</a> {e(f.get('title', ''))}"
            statuses = ", ".join(f"{n} {s}" for s, n in sorted(g.get("statuses", {}).items()))
            out.append(f"<tr><td>{g['count']}</td><td>{e(statuses)}</td><td><code>{e(g['signature'])}</code></td>"
                       f"<td>{link or 'not in the expectation file'}</td><td>{e(_scenario_list(g['scenarios']))}</td></tr>")
        out.append("</table>")
    return out


def security_rows(m):
    """(scenario, kind, [(word, verdict, detail) per backend]) for the Security section: each attack
    held or breached, each same-user control works or is broken; other verdicts keep their names."""
    sec = m.doc["run_info"].get("security") or {}
    rows = []
    for kind in ("attacks", "controls"):
        for s in sec.get(kind, []):
            cells = []
            for b in m.backends:
                cell = m.cells.get((b, s))
                if cell:
                    cells.append((SECURITY_WORDS[kind].get(cell["verdict"], cell["verdict"]), cell["verdict"],
                                  cell["detail"]))
                else:
                    cells.append(("-", "", ""))
            rows.append((s, kind, cells))
    return rows


def _security_label(scenario, kind):
    return scenario.split(".", 1)[1] + (" (control)" if kind == "controls" else "")


def security_markdown(m):
    rows = security_rows(m)
    if not rows:
        return []
    out = ["", "## Security (attack x backend)", "", SECURITY_LEGEND, "",
           "| scenario | " + " | ".join(m.backends) + " |", "|---|" + "---|" * len(m.backends)]
    for s, kind, cells in rows:
        out.append(f"| {_security_label(s, kind)} | "
                   + " | ".join(f"[{w}]({d})" if d else w for w, _, d in cells) + " |")
    return out


SECURITY_LEGEND = ("An attack is *held* when the victims observed only what Linux lets them observe, "
                   "*breached* when the attacker got further; each cell links to the evidence. Controls are "
                   "same-user cases that must keep working, so that no backend holds by refusing everyone.")


def security_html(m):
    rows = security_rows(m)
    if not rows:
        return []
    e = html.escape
    out = ["<h2>Security (attack &times; backend)</h2>",
           "<p>" + e(SECURITY_LEGEND).replace("*held*", "<em>held</em>").replace("*breached*", "<em>breached</em>")
           + "</p><table><tr><th>scenario</th>" + "".join(f"<th>{e(b)}</th>" for b in m.backends) + "</tr>"]
    for s, kind, cells in rows:
        out.append(f"<tr><td>{e(_security_label(s, kind))}</td>" + "".join(
            f"<td class='{v}'><a href='{e(d)}'>{e(w)}</a></td>" if d else "<td>-</td>" for w, v, d in cells)
            + "</tr>")
    out.append("</table>")
    return out


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: left; font-size: 0.9em; }
th { background: #f2f2f2; position: sticky; top: 0; }
td a { text-decoration: none; color: inherit; display: block; }
.PASS { background: #d9f2d9; } .FAIL { background: #f7d4d4; } .FLAKY { background: #f3ecb0; } .UNSUPPORTED { background: #eee; color: #666; }
.XFAIL { background: #f1e0e0; color: #555; } .XPASS { background: #bfe3f5; font-weight: bold; }
.TIMEOUT { background: #fbe3c2; } .CRASH { background: #e9b3b3; font-weight: bold; } .ERROR { background: #e3c9f0; }
"""


def matrix_html(doc):
    m = Matrix(doc)
    info = doc["run_info"]
    e = html.escape
    out = ["<!doctype html><html><head><meta charset='utf-8'><title>AF_UNIX conformance matrix</title>",
           f"<style>{_STYLE}</style></head><body>", "<h1>AF_UNIX conformance matrix</h1>",
           f"<p>Suite revision {e(str(info.get('suite_revision')))}, run {e(str(info.get('started')))}. "
           f"Oracle: Linux {e(str(info.get('oracle', {}).get('kernel')))} "
           f"({e(str(info.get('oracle', {}).get('machine')))}). {e(SCORE_FORMULA)}. "
           "Each cell links to its diff; ▼ regressed, ▲ fixed, Δ changed, + new since the previous run.</p>",
           f"<p><a href='coverage.html'>{e(_coverage_line(doc))}</a></p>",
           "<h2>Summary</h2><table><tr><th>backend</th><th>version</th><th>kind</th><th>description</th>"
           + "".join(f"<th>{v}</th>" for v in COLUMNS)
           + "<th>expected</th><th>unexpected</th><th>distinct deviations</th><th>Δ</th><th>score</th></tr>"]
    for b, kind, c, score in summary_rows(m):
        out.append(f"<tr><td>{e(b)}</td><td>{e(m.version(b))}</td><td>{e(kind)}</td>"
                   f"<td>{e(doc['backends'][b]['description'])}</td>"
                   + "".join(f"<td>{c[v]}</td>" for v in COLUMNS)
                   + f"<td>{c['expected']}</td><td class='{'FAIL' if c['unexpected'] else 'PASS'}'>{c['unexpected']}</td>"
                   f"<td>{len(m.deviations(b))}</td><td>{e(_change_summary(m, b))}</td><td>{score}</td></tr>")
    for b in m.unavailable:
        info_b = doc["backends"][b]
        out.append(f"<tr><td>{e(b)}</td><td>{e(info_b.get('version') or '')}</td><td>{e(info_b['kind'])}</td>"
                   f"<td>{e(info_b['description'])}</td>"
                   f"<td colspan='{len(COLUMNS) + 5}'>{e(info_b.get('reason') or 'not run')}</td></tr>")
    out.append("</table>")
    out += deviations_html(m)
    out += security_html(m)
    out += applications.applications_html(doc, application_backends(m))
    out.append("<h2>By area (passed / applicable)</h2><table><tr><th>area</th>"
               + "".join(f"<th>{e(b)}</th>" for b in m.backends) + "</tr>")
    for area in sorted(m.areas):
        out.append(f"<tr><td><a href='#{e(area)}'>{e(area)}</a></td>"
                   + "".join("<td>%d/%d</td>" % m.score(b, m.areas[area]) for b in m.backends) + "</tr>")
    out.append("</table><h2>Scenarios</h2>")
    for area in sorted(m.areas):
        out.append(f"<h3 id='{e(area)}'>{e(area)}</h3><table><tr><th>scenario</th>"
                   + "".join(f"<th>{e(b)}</th>" for b in m.backends) + "</tr>")
        for s in m.areas[area]:
            row = [f"<td>{e(s.split('.', 1)[1])}</td>"]
            for b in m.backends:
                cell = m.cells.get((b, s))
                if cell:
                    title = e(cell.get("reason") or cell["message"] or cell["verdict"], quote=True)
                    status = cell.get("status", cell["verdict"])
                    row.append(f"<td class='{status}'><a href='{e(cell['detail'])}' "
                               f"title='{title}'>{e(cell_label(cell))}</a></td>")
                else:
                    row.append("<td>-</td>")
            out.append("<tr>" + "".join(row) + "</tr>")
        out.append("</table>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def write_matrix(out_dir, doc):
    out_dir = Path(out_dir)
    (out_dir / "matrix.md").write_text(matrix_markdown(doc) + "\n")
    (out_dir / "matrix.html").write_text(matrix_html(doc))


def summary_table(doc):
    """The plain-text table ./conform run prints at the end, then each backend's distinct
    deviations (the largest few)."""
    m = Matrix(doc)
    short = {"UNSUPPORTED": "UNSUPP", "TIMEOUT": "TIMEOUT"}
    header = (f"{'backend':<24} " + " ".join(f"{short.get(v, v):>7}" for v in COLUMNS)
              + f" {'expect':>6} {'unexp':>5} {'distinct':>8} {'score':>5}  version")
    lines = [header, "-" * len(header)]
    for b, _, c, score in summary_rows(m):
        lines.append(f"{b:<24} " + " ".join(f"{c[v]:>7}" for v in COLUMNS)
                     + f" {c['expected']:>6} {c['unexpected']:>5} {len(m.deviations(b)):>8} {score:>5}  {m.version(b)}")
    for b in m.unavailable:
        lines.append(f"{b:<24} {doc['backends'][b].get('reason') or 'not run'}")
    lines += ["", SCORE_FORMULA + "."]
    for b in m.backends:
        devs = m.deviations(b)
        if not devs:
            continue
        lines += ["", deviation_headline(m, b) + ":"]
        for g in devs[:5]:
            f = g.get("finding") or {}
            lines.append(f"  {g['count']:>4} x {g['signature'][:110]}  [{f.get('id') or 'no expectation'}]")
        if len(devs) > 5:
            lines.append(f"       ... {len(devs) - 5} more (matrix.md, 'Distinct deviations')")
    comp = doc.get("comparison")
    if comp and comp.get("backends"):
        lines += ["", f"since the previous run ({comp['a']['name']}):"]
        for b in comp["backends"]:
            lines.append(f"  {b}: {_change_summary(m, b)}")
        lines += [f"  note: {n}" for n in comp.get("notes", [])]
    return "\n".join(lines)
