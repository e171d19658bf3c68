"""The static site written into every results directory: index.html and site/.

It works from a file:// URL and from any static host, offline, with no external assets. The
landing view is pre-rendered HTML (report.py's sections, the same ones matrix.md shows). The explore
view is rendered in the browser, on demand, from site/data.js: the grid as compact JSON (one status
letter per cell, a small record for each cell that has more to say), loaded once. The diffs of one
backend in one area are in site/diffs/<backend>-<area>.js (indices into data.js's lists), loaded the
first time one of those cells is opened. Data comes as
scripts, not fetched JSON, because browsers refuse fetch() from file:// pages.
"""

import ast
import html
import json
import os
import re
import shutil
from pathlib import Path

from .. import traces

ASSETS = Path(__file__).resolve().parent / "assets"
STYLE = (ASSETS / "style.css").read_text()
# One letter per status in the grid data; "." is a cell that has no result.
CODES = {"PASS": "P", "XFAIL": "x", "XPASS": "X", "FAIL": "F", "FLAKY": "K", "UNSUPPORTED": "U",
         "TIMEOUT": "T", "CRASH": "C", "ERROR": "E"}
NO_RESULT = "."


class Strings:
    """A string table, so that a message shared by 600 cells is written once."""

    def __init__(self):
        self.index, self.values = {}, []

    def __call__(self, s):
        if s is None:
            return -1
        if s not in self.index:
            self.index[s] = len(self.values)
            self.values.append(s)
        return self.index[s]


# ---- diffs as data --------------------------------------------------------------------------

_ACTOR = re.compile(r"^actor (\S+)(?: \((.*)\))?:(?: (missing|unexpected))?$")
# traces.diff's lines. Since the diff names its first cause, a step line ends with what differs
# ("step 2 (connect) [knock-on]: connect(srv.sock): expected ok, observed EACCES"); older results
# have "step 2 (connect):" alone, and no marks.
_STEP = re.compile(r"^step (\d+) \(([^)]*)\)( \[knock-on\])?:(?: (.*))?$")
_SIDE = re.compile(r"^(expected|observed): (.*)$")
_END = re.compile(r"^(end|identity)( \[knock-on\])?: expected (.*), observed (.*)$")
_ATTEMPT = re.compile(r"^attempt (\d+):$")


def _unquote(value):
    """'exit 0' -> exit 0 (the diff shows an end as Python's repr of the string)."""
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        try:
            return ast.literal_eval(value)
        except (ValueError, SyntaxError):
            pass
    return value


def parse_diff(text):
    """traces.diff's text as blocks a page can lay out: per actor its differing steps (expected
    and observed), the first difference of each actor marked as such and the later ones as knock-on
    steps. Lines it does not know are kept as notes, so nothing in the text is lost.

    Returns {"cause": the first difference (what the verdict's message names) or None,
             "blocks": [{"actor", "identity", "items": [{"kind": "step"|"end"|"identity"|"note", ...}]}
                        | {"heading": str} | {"note": str}]}."""
    blocks, block, step = [], None, None
    marked = False  # the diff marks knock-on differences itself (traces.diff since first_difference)
    for raw in (text or "").splitlines():
        line = raw.strip()
        if not line:
            continue
        indent = len(raw) - len(raw.lstrip())
        m = _ATTEMPT.match(line)
        if m and indent == 0:
            blocks.append({"heading": f"attempt {m.group(1)}"})
            block = step = None
            continue
        m = _ACTOR.match(line)
        if m and indent == 0:
            block = {"actor": m.group(1), "identity": m.group(2) or "", "items": []}
            if m.group(3):
                block["items"].append({"kind": "note", "text": f"this actor is {m.group(3)}"})
            blocks.append(block)
            step = None
            continue
        if block is None:
            blocks.append({"note": line})
            continue
        m = _STEP.match(line)
        if m:
            step = {"kind": "step", "step": int(m.group(1)), "op": m.group(2), "expected": "", "observed": "",
                    "description": m.group(4) or "", "knock_on": bool(m.group(3))}
            marked = marked or bool(m.group(3) or m.group(4))
            block["items"].append(step)
            continue
        m = _SIDE.match(line)
        if m and step is not None:
            step[m.group(1)] = m.group(2)
            continue
        m = _END.match(line)
        if m:
            block["items"].append({"kind": m.group(1), "expected": _unquote(m.group(3)),
                                   "observed": _unquote(m.group(4)), "knock_on": bool(m.group(2))})
            marked = marked or bool(m.group(2))
            step = None
            continue
        block["items"].append({"kind": "note", "text": line})
        step = None
    cause = None
    for b in blocks:
        if "heading" in b:
            break  # a later attempt never names the cause of the first
        differences = [i for i in b.get("items", []) if i["kind"] in ("step", "end", "identity")]
        for n, item in enumerate(differences):
            knock_on = item.pop("knock_on", False)
            if not marked:  # an older diff: every difference after an actor's first is knock-on
                knock_on = n > 0
            item["role"] = "knock-on" if knock_on else "first"
        independent = [i for i in differences if i["role"] == "first"]
        if independent and cause is None:
            cause = dict(independent[0], actor=b["actor"], identity=b["identity"])
            independent[0]["role"] = "cause"
        if "note" in b and cause is None:
            cause = {"kind": "note", "text": b["note"]}
    return {"cause": cause, "blocks": blocks}


# ---- the data -------------------------------------------------------------------------------

def _link(out_dir, rel):
    return rel if (out_dir / rel).exists() else None


def _source_link(base, source):
    """'conformance/scenarios/x.cc:12' -> base/conformance/scenarios/x.cc#L12 (a repository
    browser's line anchor; a local file ignores it)."""
    if not source:
        return None
    file, _, line = source.rpartition(":")
    if not file:
        file, line = source, ""
    return f"{base}/{file}" + (f"#L{line}" if line.isdigit() else "")


def _exists_locally(out_dir, href):
    if re.match(r"^[a-z]+:", href):
        return True  # a web copy: the publisher vouches for it
    return (out_dir / href.split("#", 1)[0]).exists()


def cell_links(rep, cell, out_dir, base):
    """[label, href] for the files behind one cell, only those that are there."""
    b, s = cell["backend"], cell["scenario"]
    name = traces.file_name(s)
    links = []
    for label, rel in (("observed trace", f"traces/{b}/{name}"), ("program output", f"traces/{b}/{name[:-5]}.log"),
                       ("verdict and diff", cell["detail"])):
        if _link(out_dir, rel):
            links.append([label, rel])
    if rep.oracle and rep.oracle != b and _link(out_dir, f"traces/{rep.oracle}/{name}"):
        links.append(["oracle trace", f"traces/{rep.oracle}/{name}"])
    elif _exists_locally(out_dir, f"{base}/expected/{name}"):
        links.append(["oracle trace", f"{base}/expected/{name}"])
    source = _source_link(base, cell.get("source"))
    if source and _exists_locally(out_dir, source):
        links.append([f"source ({cell['source']})", source])
    return links


def cell_detail(rep, cell, out_dir, base):
    d = {"message": cell["message"], "verdict": cell["verdict"], "status": cell["status"],
         "diff": parse_diff(cell["diff"]), "links": cell_links(rep, cell, out_dir, base)}
    for key in ("evidence", "signature", "change", "left_behind", "reason"):
        if cell.get(key):
            d[key] = cell[key]
    if cell.get("finding"):
        d["finding"] = dict(cell["finding"], url=rep.finding_href(cell["finding"]))
    if cell["attempts"]:
        d["attempts"] = [{"verdict": a.get("verdict", "?"), "message": a.get("message", ""),
                          "diff": parse_diff(a.get("diff", "")),
                          "trace": a.get("trace") if a.get("trace") and _link(out_dir, a["trace"]) else None}
                         for a in cell["attempts"]]
    return d


def has_detail(cell):
    return bool(cell["status"] != "PASS" or cell["message"] or cell["diff"] or cell["change"] or cell["evidence"]
                or cell["attempts"] or cell["left_behind"])


def grid_data(rep, out_dir, base):
    """The explore view's data (site/data.js) and each backend's details (site/diffs/<n>.js)."""
    strings = Strings()
    index = {s: i for i, s in enumerate(rep.scenarios)}
    areas = sorted(rep.areas)
    area_index = {a: i for i, a in enumerate(areas)}
    from ..execute import area_of
    data = {"schema": 1, "statuses": CODES, "areas": areas,
            "scenarios": [[s, area_index[area_of(s)], rep.sources.get(s, "")] for s in rep.scenarios],
            "backends": [], "cells": [], "extra": [], "deviations": [], "oracle": None, "base": base}
    details = []  # per backend, per area: {scenario index: detail}
    for bi, b in enumerate(rep.backends):
        meta = rep.meta[b]
        data["backends"].append({"name": b, "kind": meta.get("kind", ""), "description": meta.get("description", ""),
                                 "version": rep.backend_version(b), "traces": (out_dir / "traces" / b).is_dir()})
        if b == rep.oracle:
            data["oracle"] = bi
        codes, extra, detail = [], {}, {}
        for si, s in enumerate(rep.scenarios):
            cell = rep.cells.get((b, s))
            if cell is None:
                codes.append(NO_RESULT)
                continue
            codes.append(CODES.get(cell["status"], "E"))
            if has_detail(cell):
                # [verdict letter, unexpected, change, message] for filters and hover text.
                extra[si] = [CODES.get(cell["verdict"], "E"), 1 if cell["unexpected"] else 0,
                             cell["change"] or "", strings(cell["message"].splitlines()[0] if cell["message"] else "")]
                detail.setdefault(area_index[area_of(s)], {})[si] = cell_detail(rep, cell, out_dir, base)
        data["cells"].append("".join(codes))
        data["extra"].append(extra)
        data["deviations"].append([{"signature": d.signature, "count": d.count, "finding": d.finding,
                                    "cells": [index[s] for s in d.scenarios if s in index]}
                                   for d in rep.deviations(b)])
        details.append(detail)
    data["strings"] = strings.values
    return data, details


def _script(call, *args):
    """A call of a function of app.js with JSON arguments: compact, and "</" escaped so that no
    string can end the script element."""
    text = ",".join(json.dumps(a, separators=(",", ":"), ensure_ascii=False).replace("</", "<\\/") for a in args)
    return f"{call}({text});\n"


def write_site(out_dir, rep, landing_html, partial, base):
    """index.html (and matrix.html pointing to it) plus site/ in out_dir."""
    out_dir = Path(out_dir)
    site = out_dir / "site"
    if (site / "diffs").is_dir():
        shutil.rmtree(site / "diffs")
    (site / "diffs").mkdir(parents=True, exist_ok=True)
    for asset in ("app.js", "style.css"):
        shutil.copyfile(ASSETS / asset, site / asset)
    data, details = grid_data(rep, out_dir, base)
    (site / "data.js").write_text(_script("afunixData", data))
    for bi, by_area in enumerate(details):
        for ai, detail in by_area.items():
            (site / "diffs" / f"{bi}-{ai}.js").write_text(_script("afunixDetails", bi, ai, detail))
    from ..report import inline_html
    page = (ASSETS / "index.html").read_text()
    info = rep.info
    page = (page.replace("{{RUN}}", html.escape(f"Suite revision {info.get('suite_revision')}, run {info.get('started')}"
                                                f" on {len(rep.backends)} backends x {len(rep.scenarios)} scenarios."))
                .replace("{{PARTIAL}}", f"<p class='partial' role='alert'>{inline_html(partial)}</p>" if partial else "")
                .replace("{{LANDING}}", landing_html))
    (out_dir / "index.html").write_text(page)
    (out_dir / "matrix.html").write_text(
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>AF_UNIX conformance matrix</title>"
        "<meta http-equiv='refresh' content='0; url=index.html'></head><body>"
        "<p>The matrix is <a href='index.html'>index.html</a>.</p></body></html>\n")
    return out_dir / "index.html"


def site_size(out_dir):
    """Bytes of what a browser loads first (the page and the grid data), for the benchmark."""
    out_dir = Path(out_dir)
    return sum(os.path.getsize(out_dir / p) for p in ("index.html", "site/app.js", "site/style.css", "site/data.js"))
