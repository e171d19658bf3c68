"""The published results of a run: results.json (machine-readable), matrix.md and matrix.html
(scenarios by area x backends, each cell linking to its diff), and one diff file per cell."""

import html
import json
import os
from collections import defaultdict
from pathlib import Path

from . import applications, coverage, traces
from .errors import ConformError
from .execute import VERDICTS
from .scenarios import SECURITY_AREA, area_of  # noqa: F401 (SECURITY_AREA: for renderers)

SCHEMA = 1
SECURITY_WORDS = {"attacks": {"PASS": "held", "FAIL": "breached"},
                  "controls": {"PASS": "works", "FAIL": "broken"}}
SCORE_FORMULA = "PASS / (scenarios - UNSUPPORTED)"


def cell_file(backend, scenario):
    return f"diffs/{backend}/{traces.file_name(scenario)[:-5]}.txt"


def _write_cells(out_dir, results, backends):
    """Writes one detail file per cell; returns the results.json rows."""
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
    return rows


def _save(out_dir, doc):
    doc["results"].sort(key=lambda x: (x["backend"], x["scenario"]))
    # Atomically: a run killed while writing leaves the previous results.json or the new one, never half.
    tmp = out_dir / f".results.json.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(doc, indent=1) + "\n")
    os.replace(tmp, out_dir / "results.json")
    write_matrix(out_dir, doc)
    return doc


def write_results(out_dir, run_info, backends, scenarios, results, partial_reason=None):
    """backends: name -> dict(description, kind, available, reason); results: list of Result.
    partial_reason: why the run did not finish (then "partial" is true), or None."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = _write_cells(out_dir, results, backends)
    doc = {"schema": SCHEMA, "run_info": run_info, "score_formula": SCORE_FORMULA,
           "partial": partial_reason is not None, "partial_reason": partial_reason,
           "scenarios": list(scenarios), "backends": backends, "results": rows}
    return _save(out_dir, doc)


def add_backend(out_dir, name, info, results):
    """Adds one more backend's results (e.g. imported from another machine) to a results directory."""
    out_dir = Path(out_dir)
    doc = load_results(out_dir / "results.json")
    doc["backends"][name] = info
    doc["results"] = [r for r in doc["results"] if r["backend"] != name]
    doc["results"] += _write_cells(out_dir, results, doc["backends"])
    return _save(out_dir, doc)


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
        if r["verdict"] not in VERDICTS:
            bad(f"result {i} has verdict '{r['verdict']}', not one of {', '.join(VERDICTS)}")
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
        c = dict.fromkeys(VERDICTS, 0)
        for s in scenarios if scenarios is not None else self.doc["scenarios"]:
            cell = self.cells.get((backend, s))
            if cell:
                c[cell["verdict"]] += 1
        return c

    def score(self, backend, scenarios=None):
        c = self.counts(backend, scenarios)
        applicable = sum(c.values()) - c["UNSUPPORTED"]
        return c["PASS"], applicable


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
           f"Score = {SCORE_FORMULA}; UNSUPPORTED never counts as a failure.", "",
           _coverage_line(doc), "",
           "## Summary", "",
           "| backend | kind | " + " | ".join(VERDICTS) + " | score |",
           "|---|---|" + "---|" * len(VERDICTS) + "---|"]
    for b, kind, c, score in summary_rows(m):
        out.append(f"| {b} | {kind} | " + " | ".join(str(c[v]) for v in VERDICTS) + f" | {score} |")
    for b in m.unavailable:
        info_b = doc["backends"][b]
        out.append(f"| {b} | {info_b['kind']} | {info_b.get('reason') or 'not run'} |" + " |" * len(VERDICTS))
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
                cells.append(f"[{cell['verdict']}]({cell['detail']})" if cell else "-")
            out.append(f"| {s.split('.', 1)[1]} | " + " | ".join(cells) + " |")
        out.append("")
    return "\n".join(out)


def application_backends(m):
    """The Applications section's columns: the backends that ran, then any with only application rows."""
    extra = sorted({r["backend"] for r in m.doc.get("applications") or []} - set(m.backends))
    return m.backends + extra


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
           f"({e(str(info.get('oracle', {}).get('machine')))}). Score = {e(SCORE_FORMULA)}; "
           "UNSUPPORTED never counts as a failure. Each cell links to its diff.</p>",
           f"<p><a href='coverage.html'>{e(_coverage_line(doc))}</a></p>",
           "<h2>Summary</h2><table><tr><th>backend</th><th>kind</th><th>description</th>"
           + "".join(f"<th>{v}</th>" for v in VERDICTS) + "<th>score</th></tr>"]
    for b, kind, c, score in summary_rows(m):
        out.append(f"<tr><td>{e(b)}</td><td>{e(kind)}</td><td>{e(doc['backends'][b]['description'])}</td>"
                   + "".join(f"<td>{c[v]}</td>" for v in VERDICTS) + f"<td>{score}</td></tr>")
    for b in m.unavailable:
        info_b = doc["backends"][b]
        out.append(f"<tr><td>{e(b)}</td><td>{e(info_b['kind'])}</td><td>{e(info_b['description'])}</td>"
                   f"<td colspan='{len(VERDICTS) + 1}'>{e(info_b.get('reason') or 'not run')}</td></tr>")
    out.append("</table>")
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
                    title = e(cell["message"] or cell["verdict"], quote=True)
                    row.append(f"<td class='{cell['verdict']}'><a href='{e(cell['detail'])}' "
                               f"title='{title}'>{cell['verdict']}</a></td>")
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
    """The plain-text table ./conform run prints at the end."""
    m = Matrix(doc)
    header = f"{'backend':<26} " + " ".join(f"{v:>11}" for v in VERDICTS) + f" {'score':>6}"
    lines = [header, "-" * len(header)]
    for b, _, c, score in summary_rows(m):
        lines.append(f"{b:<26} " + " ".join(f"{c[v]:>11}" for v in VERDICTS) + f" {score:>6}")
    for b in m.unavailable:
        lines.append(f"{b:<26} {doc['backends'][b].get('reason') or 'not run'}")
    return "\n".join(lines)
