"""The report model without a browser: matrix.md small enough for a CI summary, the full grid
beside it, diffs as data, scenario sources from GoogleTest, and old results.json files (without
the fields added since) still rendered."""

import json
import re

from conftest import BINARY, ROOT, needs_build
from fixtures import site_report

from conformlib import report, site, traces
from conformlib.scenarios import parse_gtest_json_list, scenario_sources

CI_SUMMARY_LIMIT = 64 * 1024  # well under a CI step summary's limit, readable in any Markdown viewer


def test_matrix_md_fits_a_ci_summary_and_the_grid_has_every_cell(tmp_path):
    doc = site_report.synthetic_report(tmp_path, n_backends=20, n_scenarios=1000)
    md = (tmp_path / "matrix.md").read_text()
    assert len(md.encode()) < CI_SUMMARY_LIMIT, len(md.encode())
    for title in ("## Summary", "## Distinct deviations", "## Changes since the previous run"):
        assert title in md
    assert "matrix-grid.md" in md
    grid = (tmp_path / "matrix-grid.md").read_text()
    for r in doc["results"][::97]:
        line = next(l for l in grid.splitlines() if l.startswith(f"| {r['scenario'].split('.', 1)[1]} |"))
        assert f"[{report.cell_label(report.normalise(r))}]({r['detail']})" in line
    assert grid.count("](diffs/") == len(doc["results"])


def test_the_summary_is_the_same_in_markdown_and_on_the_page(tmp_path):
    doc = site_report.small_report(tmp_path)
    md = (tmp_path / "matrix.md").read_text()
    page = (tmp_path / "index.html").read_text()
    rep = report.Report(doc)
    for b in rep.backends:
        score = "%d%%" % round(100 * rep.score(b)[0] / rep.score(b)[1])
        assert re.search(rf"^\| {re.escape(b)} \| [^|]* \| [^|]* \| {score} \| {rep.unexpected(b)} \|", md, re.M), b
        assert re.search(rf">{re.escape(b)}</a></td>.*?<td[^>]*>{score}</td>", page), b


def test_an_old_results_json_without_the_new_fields_still_renders(tmp_path):
    """results.json as written before statuses, findings, changes, applications... existed."""
    doc = site_report.small_report(tmp_path / "new")
    old = {"schema": 1, "run_info": {k: v for k, v in doc["run_info"].items() if k != "coverage"},
           "score_formula": doc["score_formula"], "scenarios": doc["scenarios"], "backends": {
               b: {k: v for k, v in info.items() if k != "version"} for b, info in doc["backends"].items()},
           "results": [{k: r[k] for k in ("backend", "scenario", "area", "verdict", "message", "duration", "detail")}
                       for r in doc["results"]]}
    out = tmp_path / "old"
    out.mkdir()
    report.write_matrix(out, old)
    md = (out / "matrix.md").read_text()
    assert "No expectations were applied" in md and "No previous run was compared" in md
    assert "## Applications" not in md and "partial" not in md
    data = json.loads((out / "site" / "data.js").read_text()[len("afunixData("):-3])
    assert len(data["cells"]) == 3 and all(len(c) == len(doc["scenarios"]) for c in data["cells"])
    assert report.summary_table(old).splitlines()[2].startswith("native")


def test_a_diff_becomes_steps_with_its_cause_first():
    message, text = site_report.deviation("errno")
    parsed = site.parse_diff(text)
    cause = parsed["cause"]
    assert (cause["actor"], cause["step"], cause["op"]) == ("client", 2, "connect")
    assert '"EACCES"' in cause["observed"] and '"ok"' in cause["expected"]
    [client] = parsed["blocks"]
    roles = [(i["kind"], i.get("step"), i["role"]) for i in client["items"]]
    assert roles == [("step", 2, "cause"), ("step", 3, "knock-on"), ("step", 4, "knock-on"), ("end", None, "knock-on")]


def test_a_diff_line_nobody_knows_is_kept():
    text = "actor a (x):\n  step 1 (op):\n    expected: 1\n    observed: 2\n  something new\nstatus: odd\n"
    parsed = site.parse_diff(text)
    assert [i.get("text") for i in parsed["blocks"][0]["items"]] == [None, "something new", "status: odd"]
    assert site.parse_diff("status: expected ran, observed unsupported")["cause"]["text"].startswith("status:")


def test_sources_are_project_relative(tmp_path):
    doc = {"testsuites": [{"name": "Kinds/Data", "testsuite": [
        {"name": "X/stream", "file": str(ROOT / "conformance/scenarios/data.cc"), "line": 7}]},
        {"name": "Peercred", "testsuite": [{"name": "Y", "file": "/elsewhere/conformance/scenarios/p.cc", "line": 3}]}]}
    assert parse_gtest_json_list(doc, ROOT) == {"Kinds/Data.X/stream": "conformance/scenarios/data.cc:7",
                                                "Peercred.Y": "conformance/scenarios/p.cc:3"}


@needs_build
def test_every_scenario_has_a_source_line_that_defines_it():
    sources = scenario_sources(BINARY, ROOT)
    expected = {p.name for p in (ROOT / "expected").glob("*.*.json")}
    assert {traces.file_name(s) for s in sources} == expected
    for scenario, source in sources.items():
        file, line = source.rsplit(":", 1)
        text = (ROOT / file).read_text().splitlines()[int(line) - 1]
        name = scenario.split(".", 1)[1].split("/")[0]
        assert name in text, f"{scenario}: {source} is {text!r}"


def test_the_cause_is_the_first_difference_the_diff_does_not_mark_knock_on():
    # traces.diff's format since it names the first cause: the server's wait follows from the
    # client's refused connect, so the cause is in the second actor.
    text = ("actor server (svc):\n"
            "  step 5 (accept) [knock-on]: accept(): expected ok, observed blocked\n"
            '    expected: {"op": "accept", "result": "ok"}\n    observed: {"op": "accept", "result": "blocked"}\n'
            "actor client (runner):\n"
            "  step 2 (connect): connect(srv.sock): expected ok, observed EACCES\n"
            '    expected: {"op": "connect", "result": "ok"}\n    observed: {"op": "connect", "result": "EACCES"}\n'
            "  end [knock-on]: expected 'exit 0', observed 'exit 1'\n")
    parsed = site.parse_diff(text)
    cause = parsed["cause"]
    assert (cause["actor"], cause["step"], cause["description"]) == (
        "client", 2, "connect(srv.sock): expected ok, observed EACCES")
    roles = [(b["actor"], i["kind"], i["role"]) for b in parsed["blocks"] for i in b["items"]]
    assert roles == [("server", "step", "knock-on"), ("client", "step", "cause"), ("client", "end", "knock-on")]
    assert parsed["blocks"][1]["items"][1]["expected"] == "exit 0"
    assert report.derived_signature(text) == "connect: result ok -> EACCES"


def test_an_application_explained_by_hundreds_of_scenarios_links_their_area(tmp_path):
    related = [f"Kinds/Data.Case{i:03d}/seqpacket" for i in range(300)]
    doc = {"schema": 1, "run_info": {}, "scenarios": related,
           "backends": {"emu": {"description": "", "kind": "emulation", "available": True, "reason": None}},
           "results": [{"backend": "emu", "scenario": s, "verdict": "FAIL", "message": "", "duration": 0}
                       for s in related],
           "applications": [{"application": "socat", "backend": "emu", "verdict": "broken", "reason": "no",
                             "evidence": "", "failed_step": "send", "related": related}]}
    page = report.matrix_html(doc)
    section = page[page.index("<section id='applications'"):]
    section = section[:section.index("</section>")]
    assert "broken (send)" in section and "scenarios=" not in section and len(section) < 4000, len(section)
    assert "area=Data" in section and "status=deviating" in section
    # A few are named one by one.
    doc["applications"][0]["related"] = related[:3]
    section = report.matrix_html(doc)
    assert "scenarios=" + "%2C".join(s.replace("/", "%2F") for s in related[:3]) in section


def test_the_summary_leaves_out_the_statuses_no_cell_has(tmp_path):
    doc = {"schema": 1, "run_info": {}, "scenarios": ["A.One", "A.Two"],
           "backends": {"emu": {"description": "", "kind": "emulation", "available": True, "reason": None}},
           "results": [{"backend": "emu", "scenario": "A.One", "verdict": "FAIL", "status": "XFAIL", "unexpected": False},
                       {"backend": "emu", "scenario": "A.Two", "verdict": "PASS", "status": "PASS", "unexpected": False}]}
    summary = report.summary_section(report.Report(doc))
    assert [c for c in summary.tables[0].columns if c in report.STATUSES] == ["PASS", "XFAIL", "FAIL"]
    assert "No cell of this run is XPASS, FLAKY, UNSUPPORTED, TIMEOUT, CRASH or ERROR." in summary.intro
