"""Two runs side by side: per backend, which cells regressed, were fixed, changed deviation, or are
new or gone, as text, Markdown or JSON (`./conform compare RUN_A RUN_B`; every `./conform run`
compares itself with the previous run in results/).

Cells are compared by verdict and signature, not by status: a comparison says what the backend
did differently, whatever the expectation files said at either time.

    regressed  PASS (or UNSUPPORTED) before, a failure now
    fixed      a failure before, PASS now
    changed    a failure both times with another verdict or signature; or PASS <-> UNSUPPORTED
    new        a scenario (or a backend) only the second run has
    removed    a scenario (or a backend) only the first run has
"""

import json
import tempfile
from pathlib import Path

from . import report, signatures, traces, verdicts
from .errors import ConformError

KINDS = ("regressed", "fixed", "changed", "new", "removed")


def load_run(source, expected_dir=None):
    """A results document from a results directory, its results.json, or an archive (.tar, .tar.gz,
    .zip) of either; an archive of bare traces (what ./conform import takes) is judged against
    expected_dir. Cells without a signature (older runs) get one from their traces when present."""
    from .importer import unpack
    source = Path(source)
    if source.is_file() and source.name == "results.json":
        return _with_signatures(report.load_results(source), source.parent, expected_dir)
    if source.is_dir() and (source / "results.json").exists():
        return _with_signatures(report.load_results(source / "results.json"), source, expected_dir)
    with tempfile.TemporaryDirectory(prefix="afunix-compare-") as tmp:
        d, _ = unpack(source, tmp)
        found = sorted(Path(d).rglob("results.json"), key=lambda p: len(p.parts))
        if found:
            return _with_signatures(report.load_results(found[0]), found[0].parent, expected_dir)
        return _judge_traces(d, source, expected_dir)


def _expected_loader(expected_dir):
    def load(scenario):
        if expected_dir is None:
            return None
        path = Path(expected_dir) / traces.file_name(scenario)
        return traces.load(path, require_run_info=False) if path.exists() else None
    return load


def _with_signatures(doc, results_dir, expected_dir):
    from .annotate import add_signatures
    if any("signature" not in r for r in doc["results"]):
        add_signatures(doc, results_dir, _expected_loader(expected_dir))
    return doc


def _judge_traces(directory, source, expected_dir):
    from .execute import judge_trace
    expected = _expected_loader(expected_dir)
    docs = {}
    for path in sorted(Path(directory).rglob("*.json")):
        if path.name == "RECORDED.json":
            continue
        doc = traces.load(path)
        docs[doc["scenario"]] = doc
    if not docs:
        raise ConformError(source, "neither a results directory nor traces: nothing to compare")
    run = next(iter(docs.values()))["run"]
    name = run["backend"]
    rows = []
    for s, doc in sorted(docs.items()):
        r = judge_trace(name, s, doc, expected(s))
        rows.append({"backend": name, "scenario": s, "verdict": r.verdict, "message": r.message,
                     "signature": signatures.of_cell(r.verdict, r.message, doc, expected(s))})
    return {"run_info": {"suite_revision": run.get("suite_revision"), "source": str(source)},
            "scenarios": sorted(docs), "backends": {name: {"kind": "imported", "run_info": run}}, "results": rows}


def _cell(row):
    return {"verdict": row["verdict"], "signature": row.get("signature")}


def classify(before, after):
    """The change between two rows of one cell (None when nothing changed)."""
    va, vb = before["verdict"], after["verdict"]
    fa, fb = verdicts.is_failure(va), verdicts.is_failure(vb)
    if not fa and fb:
        return "regressed"
    if fa and not fb:
        return "fixed" if vb == "PASS" else "changed"
    if fa and fb:
        return "changed" if (va, before.get("signature")) != (vb, after.get("signature")) else None
    return "changed" if va != vb else None


def _oracle(doc):
    o = doc.get("run_info", {}).get("oracle") or {}
    return {k: o.get(k) for k in ("kernel", "machine", "suite_revision") if o.get(k)}


def compare(a, b, a_name="A", b_name="B"):
    """The comparison document of run a (before) and run b (after)."""
    ia, ib = a.get("run_info", {}), b.get("run_info", {})
    notes = []
    sa, sb = set(a.get("scenarios") or []), set(b.get("scenarios") or [])
    if ia.get("suite_revision") != ib.get("suite_revision"):
        notes.append(f"different suite revisions ({ia.get('suite_revision')} vs {ib.get('suite_revision')}): "
                     f"compared on the {len(sa & sb)} scenarios both have; "
                     f"{len(sb - sa)} only in {b_name}, {len(sa - sb)} only in {a_name}")
    if _oracle(a) and _oracle(b) and _oracle(a) != _oracle(b):
        notes.append(f"different oracles ({_oracle(a)} vs {_oracle(b)}): a change may be the oracle's")
    cells_a = {(r["backend"], r["scenario"]): r for r in a["results"]}
    cells_b = {(r["backend"], r["scenario"]): r for r in b["results"]}
    ran_a = {bk for bk, _ in cells_a}
    ran_b = {bk for bk, _ in cells_b}
    out = {"a": {"name": a_name, "suite_revision": ia.get("suite_revision"), "started": ia.get("started")},
           "b": {"name": b_name, "suite_revision": ib.get("suite_revision"), "started": ib.get("started")},
           "notes": notes, "backends_only_in_a": sorted(ran_a - ran_b), "backends_only_in_b": sorted(ran_b - ran_a),
           "backends": {}}
    for backend in sorted(ran_a & ran_b):
        kinds = {k: [] for k in KINDS}
        for key in sorted(k for k in cells_b if k[0] == backend):
            rb = cells_b[key]
            ra = cells_a.get(key)
            if ra is None:
                kinds["new"].append({"scenario": key[1], "after": _cell(rb)})
                continue
            change = classify(ra, rb)
            if change:
                kinds[change].append({"scenario": key[1], "before": _cell(ra), "after": _cell(rb)})
        for key in sorted(k for k in cells_a if k[0] == backend and k not in cells_b):
            kinds["removed"].append({"scenario": key[1], "before": _cell(cells_a[key])})
        out["backends"][backend] = kinds
    return out


def mark_changes(doc, comparison):
    """Sets each row's "change" (regressed / fixed / changed / new / None) from a comparison whose
    second run is doc."""
    change = {}
    for backend, kinds in comparison["backends"].items():
        for kind in ("regressed", "fixed", "changed", "new"):
            for c in kinds[kind]:
                change[(backend, c["scenario"])] = kind
    for backend in comparison.get("backends_only_in_b", []):
        for r in doc["results"]:
            if r["backend"] == backend:
                change[(backend, r["scenario"])] = "new"
    for r in doc["results"]:
        r["change"] = change.get((r["backend"], r["scenario"]))
    return doc


def totals(comparison):
    return {b: {k: len(v) for k, v in kinds.items()} for b, kinds in comparison["backends"].items()}


def _describe(c):
    def side(x):
        return x["verdict"] + (f" [{x['signature']}]" if x.get("signature") else "")
    if "before" in c and "after" in c:
        return f"{c['scenario']}: {side(c['before'])} -> {side(c['after'])}"
    return f"{c['scenario']}: {side(c.get('after') or c.get('before'))}"


def text(comparison, limit=20):
    out = [f"comparing {comparison['a']['name']} ({comparison['a']['suite_revision']}) with "
           f"{comparison['b']['name']} ({comparison['b']['suite_revision']})"]
    out += [f"note: {n}" for n in comparison["notes"]]
    for key, word in (("backends_only_in_a", "gone"), ("backends_only_in_b", "new")):
        if comparison[key]:
            out.append(f"backends {word}: {', '.join(comparison[key])}")
    for backend, kinds in comparison["backends"].items():
        n = {k: len(v) for k, v in kinds.items()}
        out.append(f"{backend}: " + ", ".join(f"{n[k]} {k}" for k in KINDS)
                   + ("" if any(n.values()) else " (no change)"))
        for k in KINDS:
            for c in kinds[k][:limit]:
                out.append(f"  {k:<9} {_describe(c)}")
            if len(kinds[k]) > limit:
                out.append(f"  {k:<9} ... and {len(kinds[k]) - limit} more")
    return "\n".join(out)


def markdown(comparison):
    a, b = comparison["a"], comparison["b"]
    out = [f"# Comparison: {a['name']} → {b['name']}", "",
           f"Suite revisions {a['suite_revision']} → {b['suite_revision']}.", ""]
    out += [f"> {n}" for n in comparison["notes"]]
    if comparison["notes"]:
        out.append("")
    out += ["| backend | " + " | ".join(KINDS) + " |", "|---|" + "---|" * len(KINDS)]
    for backend, kinds in comparison["backends"].items():
        out.append(f"| {backend} | " + " | ".join(str(len(kinds[k])) for k in KINDS) + " |")
    for backend, kinds in comparison["backends"].items():
        if not any(kinds.values()):
            continue
        out += ["", f"## {backend}", ""]
        for k in KINDS:
            for c in kinds[k]:
                out.append(f"- **{k}** " + _describe(c).replace("|", "\\|"))
    return "\n".join(out) + "\n"


def render(comparison, fmt):
    if fmt == "json":
        return json.dumps(comparison, indent=1) + "\n"
    if fmt == "md":
        return markdown(comparison)
    return text(comparison) + "\n"
