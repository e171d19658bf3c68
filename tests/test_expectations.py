"""Known deviations: expectation files, signatures, statuses, updating, comparing, JUnit.

The unit tests build their traces and runs by hand; the end-to-end ones run a fixture backend that
swaps connect's ENOENT for another errno (AFUNIX_FIXTURE_CONNECT_ERRNO picks which), triage it with
`./conform expect --update`, and then make it deviate differently, stop deviating, or lose an entry."""

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from conformlib import compare, expectations, junit, signatures, traces
from conformlib.errors import ConformError
from conformlib.verdicts import STATUSES, VERDICTS, code

from conftest import FIXTURE_BACKENDS, ROOT, conform, expected_traces, needs_build, needs_root, observations

SHIPPED = ROOT / "runners" / "expectations"
BACKENDS = ROOT / "runners" / "backends"
TRIAGE = ROOT / "docs" / "triage"


# ---- verdict semantics -------------------------------------------------------------------------

def test_every_verdict_says_what_it_means():
    assert {c.name for c in VERDICTS} <= {c.name for c in STATUSES}
    assert [c.name for c in STATUSES if not c.unexpected] == ["PASS", "XFAIL", "UNSUPPORTED"]
    assert code("XFAIL").is_failure and not code("XPASS").is_failure
    assert {c.name for c in VERDICTS if c.retried} == {"FAIL", "CRASH"}
    with pytest.raises(KeyError, match="unknown verdict 'MAYBE'"):
        code("MAYBE")


# ---- signatures ----------------------------------------------------------------------------------

def trace(*observations_, end="exit 0", role="client", status="ran"):
    return {"schema": 1, "scenario": "Area.Scenario", "status": status,
            "actors": [{"role": role, "identity": "runner", "observations": list(observations_), "end": end}]}


CONNECT_OK = {"op": "connect", "addr": "srv.sock", "result": "ok"}
SEND = {"op": "send", "data": "hello", "result": 5}


def test_signature_names_the_first_differing_step_and_values_only():
    expected = trace(CONNECT_OK, SEND)
    observed = trace(dict(CONNECT_OK, result="ECONNREFUSED"), dict(SEND, result="EPIPE"))
    assert signatures.of_traces(expected, observed) == 'connect: result expected "ok", observed "ECONNREFUSED"'
    assert signatures.of_traces(expected, expected) is None
    d = signatures.first_difference(traces.behaviour(expected), traces.behaviour(observed))
    assert (d["kind"], d["actor"], d["step"], d["op"], d["field"]) == ("value", "client", 1, "connect", "result")


def test_signature_of_a_missing_step_an_extra_key_and_an_end():
    expected = trace(CONNECT_OK, SEND)
    assert signatures.of_traces(expected, trace(CONNECT_OK)).startswith("send: expected 5, observed nothing")
    extra = trace(CONNECT_OK, dict(SEND, leaked_fds=1))
    assert signatures.of_traces(expected, extra) == "send: leaked_fds expected nothing, observed 1"
    died = trace(CONNECT_OK, SEND, end="signal SIGSEGV")
    assert signatures.of_traces(expected, died) == 'end of client: expected "exit 0", observed "signal SIGSEGV"'
    assert signatures.of_traces(expected, trace(status="unsupported")) == "status: expected ran, observed unsupported"


def test_signature_is_the_same_whatever_the_run_specific_noise():
    expected = trace({"op": "getpeername", "result": "ok", "addr": "srv.sock"})

    def run(port, tmp, pid):
        return trace({"op": "getpeername", "result": "ok", "addr": f"127.0.0.1:{port}",
                      "note": f"{tmp}/scn-Ab12Cd/srv.sock pid {pid}", "pid": pid})
    a = signatures.of_traces(expected, run(40123, "/tmp/afunix-cygwin-2014-x1y2z3", 1234))
    b = signatures.of_traces(expected, run(51999, "/tmp/afunix-cygwin-2014-qqqqqq/p7hi9mn5h", 98765))
    assert a == b and "40123" not in a and "{port}" in a
    # TMPDIR need not be /tmp: the temporary root is noise wherever it is, and only it.
    n = signatures.normalise
    assert n("/var/tmp/x.y/afunix-cygwin-2014-k9/p0a1b2c3d/srv.sock") == n("/tmp/afunix-cygwin-2014-q1/srv.sock")
    assert n("at /var/tmp/x/afunix-native-k9/srv.sock") == "at {tmp}/srv.sock"
    assert n("ab/afunix-native-k9/srv.sock") == "ab/afunix-native-k9/srv.sock"  # relative: not a temp root
    assert signatures.normalise("/w/tmp/afunix-proposal-1-ab/afunix-emu-traverse/3") == "{tmp}/afunix-emu-traverse/3"
    # ...but a different value is a different deviation.
    c = signatures.of_traces(expected, trace({"op": "getpeername", "result": "ENOTCONN"}))
    assert c != a


def test_signature_without_a_trace_is_the_verdict_and_the_message():
    assert signatures.of_cell("TIMEOUT", "the scenario program was still running after 30 s; its "
                                         "process group was killed") == signatures.of_cell(
        "TIMEOUT", "the scenario program was still running after 150 s; its process group was killed")
    assert signatures.of_cell("FLAKY", "attempt 1: FAIL: x; attempt 2: PASS") == "FLAKY: FAIL, then PASS"
    assert signatures.of_cell("PASS", "") is None and signatures.of_cell("UNSUPPORTED", "why") is None


# ---- expectation files ---------------------------------------------------------------------------

GOOD = '''
[findings.F1]
title = "connect says EACCES"
url = "docs/triage/README.md#method"

[[deviation]]
finding = "F1"
verdict = "FAIL"
signature = 'connect: result expected "ENOENT", observed "EACCES"'
scenarios = ["Addressing.ConnectMissingPath", "Kinds/Addressing.*"]
'''


def parse(text, backend="b"):
    return expectations.parse(text, Path(f"runners/expectations/{backend}.toml"), backend)


@pytest.mark.parametrize("text, problem", [
    ("[[deviation]\n", "not valid TOML"),
    ("colour = 1\n" + GOOD, "top level: unknown key 'colour'"),
    (GOOD.replace('finding = "F1"', 'finding = "F9"'), "deviation 1 (Addressing.ConnectMissingPath): finding 'F9' is not defined"),
    (GOOD.replace('verdict = "FAIL"', 'verdict = "ERROR"'), "verdict 'ERROR' cannot be expected"),
    (GOOD.replace('verdict = "FAIL"', 'verdict = ["PASS"]'), "names no deviation"),
    (GOOD.replace('scenarios = ["Addressing.ConnectMissingPath", "Kinds/Addressing.*"]', ''), "missing 'scenarios'"),
    (GOOD.replace('scenarios =', 'when = { colour = "red" }\nscenarios ='), "'when' must be a table"),
    (GOOD.replace('url = "docs/triage/README.md#method"', 'url = "somewhere"'), "finding F1: url must be"),
    (GOOD.replace('signature =', 'sig ='), "unknown key 'sig'"),
])
def test_malformed_file_is_one_line_naming_file_entry_and_problem(text, problem):
    with pytest.raises(ConformError) as e:
        parse(text)
    assert problem in str(e.value) and str(e.value).startswith("runners/expectations/b.toml: ")
    assert "\n" not in str(e.value)


def row(scenario, verdict, signature=None, backend="b"):
    return {"backend": backend, "scenario": scenario, "verdict": verdict, "signature": signature, "message": ""}


SIG = 'connect: result expected "ENOENT", observed "EACCES"'


def test_statuses_against_an_expectation_file():
    exp = parse(GOOD)
    classify = lambda r, info=None: expectations.classify(r, exp, info or {})
    xfail = classify(row("Addressing.ConnectMissingPath", "FAIL", SIG))
    assert (xfail["status"], xfail["unexpected"], xfail["finding"]["id"]) == ("XFAIL", False, "F1")
    assert classify(row("Kinds/Addressing.X/stream", "FAIL", SIG))["status"] == "XFAIL"  # the glob
    xpass = classify(row("Addressing.ConnectMissingPath", "PASS"))
    assert (xpass["status"], xpass["unexpected"]) == ("XPASS", True)
    changed = classify(row("Addressing.ConnectMissingPath", "FAIL", "connect: result expected \"ENOENT\", observed \"EPERM\""))
    assert changed["status"] == "FAIL" and changed["unexpected"]
    assert "changed deviation" in changed["reason"] and SIG in changed["reason"] and "EPERM" in changed["reason"]
    crash = classify(row("Addressing.ConnectMissingPath", "CRASH", "end of x"))
    assert crash["status"] == "CRASH" and crash["unexpected"] and "FAIL was expected" in crash["reason"]
    unknown = classify(row("Other.Thing", "FAIL", "x"))
    assert unknown["status"] == "FAIL" and unknown["unexpected"] and unknown["finding"] is None
    assert classify(row("Other.Thing", "PASS")) == {"status": "PASS", "unexpected": False, "finding": None,
                                                    "expectation": None, "reason": ""}
    assert not classify(row("Other.Thing", "UNSUPPORTED"))["unexpected"]


def test_conditions_and_intermittent_sets():
    exp = parse(GOOD.replace('verdict = "FAIL"', 'verdict = ["FAIL", "PASS"]').replace(
        "scenarios =", 'when = { arch = "aarch*", version = "qemu-user 1:7.2*" }\nscenarios ='))
    on = {"machine": "aarch64", "version": "qemu-user 1:7.2+dfsg-7"}
    off = {"machine": "x86_64", "version": "qemu-user 1:7.2+dfsg-7"}
    r = row("Addressing.ConnectMissingPath", "FAIL", SIG)
    assert expectations.classify(r, exp, on)["status"] == "XFAIL"
    assert expectations.classify(r, exp, off)["status"] == "FAIL"  # the entry does not apply
    assert expectations.classify(row("Addressing.ConnectMissingPath", "PASS"), exp, on)["status"] == "PASS"


def test_update_keeps_findings_adds_untriaged_and_drops_passing_only_when_asked():
    exp = parse(GOOD)
    rows = [row("Addressing.ConnectMissingPath", "FAIL", SIG),       # still holds
            row("Kinds/Addressing.X/stream", "FAIL", "other: thing"),  # changed under F1's glob
            row("Kinds/Addressing.Y/stream", "PASS"),                  # passes now
            row("New.Deviation", "FAIL", "new: one"),                  # nobody triaged it
            row("New.Second", "FAIL", "new: one"),
            row("Still.Passing", "PASS")]
    new, changes = expectations.update(exp, rows)
    again = parse(expectations.dump(new))  # what it writes reads back
    by_finding = {}
    for e in again.entries:
        by_finding.setdefault(e.finding, []).append(e)
    assert set(by_finding) == {"F1", "untriaged"}
    assert again.findings["F1"].url == "docs/triage/README.md#method"
    assert [e.scenarios for e in by_finding["untriaged"]] == [["New.Deviation", "New.Second"]]
    f1 = {(e.signatures, tuple(e.scenarios)) for e in by_finding["F1"]}
    assert ((SIG,), ("Addressing.ConnectMissingPath", "Kinds/Addressing.*")) in f1  # the glob stays: Y passes
    assert (("other: thing",), ("Kinds/Addressing.X/stream",)) in f1  # the changed cell keeps its finding
    assert any("deviation changed, kept under finding F1" in c for c in changes)
    for r in rows:
        status = expectations.classify(r, again, {})["status"]
        assert status == {"Kinds/Addressing.Y/stream": "XPASS", "Still.Passing": "PASS"}.get(r["scenario"], "XFAIL")

    # Asked to drop passing entries: a scenario entry whose cell passes goes.
    rows[0] = row("Addressing.ConnectMissingPath", "PASS")
    dropped, changes = expectations.update(exp, rows, drop_passing=True)
    names = [s for e in dropped.entries for s in e.scenarios]
    assert "Addressing.ConnectMissingPath" not in names and "Kinds/Addressing.*" not in names
    assert any("passes now; dropped from finding F1" in c for c in changes)
    kept, _ = expectations.update(exp, rows)
    assert "Addressing.ConnectMissingPath" in [s for e in kept.entries for s in e.scenarios]
    # Scenarios the run did not include are left alone.
    untouched, _ = expectations.update(exp, [row("Something.Else", "PASS")])
    assert expectations.dump(untouched) == expectations.dump(exp)


def test_update_with_union_keeps_both_shapes_of_a_varying_deviation():
    exp = parse(GOOD)
    other = row("Addressing.ConnectMissingPath", "FAIL", "connect: result expected \"ENOENT\", observed \"EPERM\"")
    replaced, _ = expectations.update(exp, [other])
    assert expectations.classify(row("Addressing.ConnectMissingPath", "FAIL", SIG), replaced, {})["status"] == "FAIL"
    both, changes = expectations.update(exp, [other], union=True)
    for r in (other, row("Addressing.ConnectMissingPath", "FAIL", SIG)):
        assert expectations.classify(r, both, {})["status"] == "XFAIL"
    assert any("added to its entry" in c for c in changes)
    assert parse(expectations.dump(both)).entries == both.entries
    # A cell that passes in one run and deviates in another: PASS joins the entry's verdicts.
    sometimes, _ = expectations.update(exp, [row("Addressing.ConnectMissingPath", "PASS")], union=True)
    assert expectations.classify(row("Addressing.ConnectMissingPath", "PASS"), sometimes, {})["status"] == "PASS"
    assert expectations.classify(row("Addressing.ConnectMissingPath", "FAIL", SIG), sometimes, {})["status"] == "XFAIL"
    assert parse(expectations.dump(sometimes)).entries[0].verdicts == ("FAIL", "PASS")


# ---- the shipped files ---------------------------------------------------------------------------

def anchors(md_path):
    """A Markdown file's anchors: GitHub's heading slugs and explicit <a id=...>."""
    text = md_path.read_text()
    out = set(re.findall(r"<a id=\"([^\"]+)\"", text))
    for heading in re.findall(r"^#+ (.+)$", text, re.M):
        heading = re.sub(r"<[^>]+>", "", heading)
        out.add(re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-"))
    return out


def test_shipped_files_are_valid_and_every_entry_is_tied_to_a_triage_note():
    files = expectations.load_dir(SHIPPED)
    # The opt-in rows of runners/cross/ (README there) have their files too.
    names = {p.stem for d in (BACKENDS, ROOT / "runners" / "cross") for p in d.glob("*.toml")}
    assert files, "no expectation files shipped"
    for backend, exp in files.items():
        assert backend in names, f"{exp.path}: no backend descriptor runners/backends/{backend}.toml (or runners/cross/)"
        assert backend != "native", "the oracle has no known deviations"
        for e in exp.entries:
            assert e.finding != expectations.UNTRIAGED, f"{exp.path}: untriaged entry {e.scenarios[:2]}"
            assert e.signatures, f"{exp.path}: entry {e.scenarios[:2]} has no signature"
        for f in exp.findings.values():
            if f.url.startswith("http"):
                continue
            doc, _, anchor = f.url.partition("#")
            assert (ROOT / doc).exists(), f"{exp.path}: finding {f.id}: {doc} does not exist"
            assert anchor in anchors(ROOT / doc), f"{exp.path}: finding {f.id}: no anchor #{anchor} in {doc}"


# ---- compare ---------------------------------------------------------------------------------------

def run_doc(cells, revision="r1"):
    return {"schema": 1, "run_info": {"suite_revision": revision, "oracle": {"kernel": "6.1", "machine": "x86_64"}},
            "scenarios": sorted({s for _, s, _, _ in cells}), "backends": {b: {"kind": "emulator"} for b, _, _, _ in cells},
            "results": [row(s, v, sig, b) for b, s, v, sig in cells]}


def test_compare_constructed_runs():
    a = run_doc([("q", "A.Pass", "PASS", None), ("q", "A.Fail", "FAIL", "x"), ("q", "A.Same", "FAIL", "y"),
                 ("q", "A.Shape", "FAIL", "z"), ("q", "A.Gone", "PASS", None), ("q", "A.Unsup", "UNSUPPORTED", None)])
    b = run_doc([("q", "A.Pass", "FAIL", "x"), ("q", "A.Fail", "PASS", None), ("q", "A.Same", "FAIL", "y"),
                 ("q", "A.Shape", "CRASH", "z2"), ("q", "A.New", "FAIL", "n"), ("q", "A.Unsup", "PASS", None),
                 ("p", "A.Pass", "PASS", None)])
    c = compare.compare(a, b, "a", "b")
    got = {k: [x["scenario"] for x in v] for k, v in c["backends"]["q"].items()}
    assert got == {"regressed": ["A.Pass"], "fixed": ["A.Fail"], "changed": ["A.Shape", "A.Unsup"],
                   "new": ["A.New"], "removed": ["A.Gone"]}
    assert c["backends_only_in_b"] == ["p"] and not c["notes"]
    compare.mark_changes(b, c)
    marks = {(r["backend"], r["scenario"]): r["change"] for r in b["results"]}
    assert marks[("q", "A.Pass")] == "regressed" and marks[("q", "A.Same")] is None and marks[("p", "A.Pass")] == "new"
    text = compare.text(c)
    assert "q: 1 regressed, 1 fixed, 2 changed, 1 new, 1 removed" in text and "FAIL [z] -> CRASH [z2]" in text
    assert "| q | 1 | 1 | 2 | 1 | 1 |" in compare.markdown(c)
    assert json.loads(compare.render(c, "json")) == c


def test_compare_across_suite_revisions_and_oracles_says_so():
    a = run_doc([("q", "A.One", "PASS", None), ("q", "A.Old", "FAIL", "o")], revision="r1")
    b = run_doc([("q", "A.One", "FAIL", "x"), ("q", "A.Added", "PASS", None)], revision="r2")
    b["run_info"]["oracle"]["kernel"] = "6.18"
    c = compare.compare(a, b)
    assert "different suite revisions (r1 vs r2): compared on the 1 scenarios both have" in c["notes"][0]
    assert "different oracles" in c["notes"][1]
    assert [x["scenario"] for x in c["backends"]["q"]["regressed"]] == ["A.One"]


def test_compare_command_reads_results_directories_and_archives(tmp_path):
    import tarfile
    a = run_doc([("q", "A.One", "PASS", None), ("q", "A.Two", "FAIL", "x")])
    b = run_doc([("q", "A.One", "FAIL", "y"), ("q", "A.Two", "PASS", None)])
    for name, doc in (("a", a), ("b", b)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "results.json").write_text(json.dumps(doc))
    with tarfile.open(tmp_path / "a.tar.gz", "w:gz") as tar:
        tar.add(tmp_path / "a", arcname="run-a")
    proc = conform("compare", str(tmp_path / "a.tar.gz"), str(tmp_path / "b"))
    assert proc.returncode == 0, proc.stderr
    assert "q: 1 regressed, 1 fixed, 0 changed, 0 new, 0 removed" in proc.stdout
    assert "regressed A.One: PASS -> FAIL [y]" in proc.stdout
    proc = conform("compare", "--fail-on-regression", str(tmp_path / "a"), str(tmp_path / "b"))
    assert proc.returncode == 1
    proc = conform("compare", str(tmp_path / "a"), str(tmp_path / "nowhere"))
    assert proc.returncode == 2 and "nowhere" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


# ---- JUnit ------------------------------------------------------------------------------------------

def test_junit_shows_xfail_as_skipped_and_the_signature_in_failures():
    exp = parse(GOOD)
    doc = run_doc([("b", "Addressing.ConnectMissingPath", "FAIL", SIG), ("b", "Other.Thing", "FAIL", "other: sig"),
                   ("b", "Fine.One", "PASS", None)])
    for r in doc["results"]:
        r.update(expectations.classify(r, exp, {}))
    suite = ET.fromstring(junit.backend_xml(doc, "b"))
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("3", "1", "1")
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    skipped = cases["ConnectMissingPath"].find("skipped")
    assert "XFAIL" in skipped.get("message") and "F1" in skipped.get("message")
    assert "signature: other: sig" in cases["Thing"].find("failure").text
    assert list(cases["One"]) == []


# ---- end to end, with a fixture backend ---------------------------------------------------------

SWAP = "fixture-connect-enoent-as-eacces"


def swapped_backend_dir(tmp_path, errno):
    """The fixture's descriptor, swapping connect's ENOENT for errno (ENOENT: no deviation)."""
    d = tmp_path / f"backends-{errno}"
    d.mkdir()
    text = (FIXTURE_BACKENDS / f"{SWAP}.toml").read_text()
    text = text.replace("env = { LD_PRELOAD", f'env = {{ AFUNIX_FIXTURE_CONNECT_ERRNO = "{errno}", LD_PRELOAD')
    assert "AFUNIX_FIXTURE_CONNECT_ERRNO" in text
    (d / f"{SWAP}.toml").write_text(text)
    return d


def touched():
    names = {n for n, doc in expected_traces().items()
             if any(o["op"] == "connect" and o.get("result") == "ENOENT" for o in observations(doc))}
    assert names, "the oracle has no connect failing with ENOENT: these tests would prove nothing"
    return names


def run_swap(tmp_path, name, errno, expectations_dir):
    """One run of the fixture; runs share a parent, so each is compared with the one before."""
    (tmp_path / name).mkdir()
    results = tmp_path / "runs" / name
    proc = conform("run", "--backends-dir", str(swapped_backend_dir(tmp_path / name, errno)), "--backend", SWAP,
                   "--results", str(results), "--expectations", str(expectations_dir),
                   "--", "-k", "ConnectMissing or ConnectRegular")
    doc_path = results / "results.json"
    assert doc_path.exists(), proc.stdout + proc.stderr
    return proc, json.loads(doc_path.read_text()), results


@needs_build
@needs_root
def test_triaged_fixture_is_xfail_then_changed_fixed_and_removed_entries_fail_the_run(tmp_path):
    exp_dir = tmp_path / "expectations"
    exp_dir.mkdir()
    cells = touched()

    # 1. Untriaged: the deviation fails the run and is named.
    proc, doc, first = run_swap(tmp_path, "first", "EACCES", exp_dir)
    assert proc.returncode == 1
    fails = {r["scenario"] for r in doc["results"] if r["status"] == "FAIL"}
    assert fails == cells & {r["scenario"] for r in doc["results"]} and fails
    one = sorted(fails)[0]
    assert f"unexpected: {SWAP} {one}: FAIL" in proc.stdout and SIG in proc.stdout

    # 2. Triage: expect --update writes the file; the same run is then every FAIL an XFAIL, exit 0.
    proc = conform("expect", "--update", "--expectations", str(exp_dir), str(first))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    text = (exp_dir / f"{SWAP}.toml").read_text()
    assert 'finding = "untriaged"' in text and one in text
    # The maintainer's triage: the finding gets an id and a link.
    (exp_dir / f"{SWAP}.toml").write_text(text.replace('finding = "untriaged"', 'finding = "S1"')
                                          + '\n[findings.S1]\nurl = "docs/triage/README.md#method"\n')
    proc, doc, second = run_swap(tmp_path, "second", "EACCES", exp_dir)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert {r["status"] for r in doc["results"] if r["verdict"] == "FAIL"} == {"XFAIL"}
    assert {r["finding"]["id"] for r in doc["results"] if r["status"] == "XFAIL"} == {"S1"}
    assert "every result as expected" in proc.stdout
    assert all(r["change"] is None for r in doc["results"])  # compared with the first run: same cells
    assert doc["deviations"][SWAP][0]["count"] == len(fails)
    # A deviation listed exactly is not tried again alone; every unlisted one was (one process each).
    processes = lambda d: d["backends"][SWAP]["execution"]["processes"]  # noqa: E731
    first_doc = json.loads((first / "results.json").read_text())
    assert processes(doc) == processes(first_doc) - len(fails)
    # Updating again from this run keeps the finding id and its link, and changes nothing else.
    before = (exp_dir / f"{SWAP}.toml").read_text()
    proc = conform("expect", "--update", "--expectations", str(exp_dir), str(second))
    after = (exp_dir / f"{SWAP}.toml").read_text()
    assert proc.returncode == 0 and 'finding = "S1"' in after and "docs/triage/README.md#method" in after
    assert expectations.parse(after, exp_dir / f"{SWAP}.toml", SWAP).entries == \
        expectations.parse(before, exp_dir / f"{SWAP}.toml", SWAP).entries

    # 3. The backend deviates differently: changed deviation, both signatures, exit 1.
    proc, doc, third = run_swap(tmp_path, "third", "EPERM", exp_dir)
    assert proc.returncode == 1
    r = next(r for r in doc["results"] if r["scenario"] == one)
    assert r["status"] == "FAIL" and "changed deviation" in r["reason"] and r["change"] == "changed"
    assert processes(doc) == processes(first_doc)  # a changed deviation is confirmed alone again
    line = next(x for x in proc.stdout.splitlines() if x.startswith(f"conform: unexpected: {SWAP} {one}"))
    assert SIG in line and '"EPERM"' in line

    # 4. It stops deviating: XPASS, exit 1; the comparison calls the cells fixed.
    proc, doc, fourth = run_swap(tmp_path, "fourth", "ENOENT", exp_dir)
    assert proc.returncode == 1
    assert {r["status"] for r in doc["results"] if r["scenario"] in fails} == {"XPASS"}
    assert f"unexpected: {SWAP} {one}: XPASS" in proc.stdout
    assert {r["change"] for r in doc["results"] if r["scenario"] in fails} == {"fixed"}

    # 5. An entry removed by hand: the cell is an unexpected FAIL again.
    (exp_dir / f"{SWAP}.toml").write_text((exp_dir / f"{SWAP}.toml").read_text().replace(f'"{one}"', '"Nothing.Here"'))
    proc, doc, _ = run_swap(tmp_path, "fifth", "EACCES", exp_dir)
    assert proc.returncode == 1 and f"unexpected: {SWAP} {one}: FAIL" in proc.stdout

    # compare on two of these real runs, in every format.
    proc = conform("compare", str(second), str(third))
    assert proc.returncode == 0 and f"{SWAP}: 0 regressed, 0 fixed, {len(fails)} changed" in proc.stdout
    proc = conform("compare", "--format", "json", str(second), str(fourth))
    c = json.loads(proc.stdout)
    assert [x["scenario"] for x in c["backends"][SWAP]["fixed"]] == sorted(fails)
    proc = conform("compare", "--format", "md", str(fourth), str(third))
    assert f"| {SWAP} | {len(fails)} | 0 | 0 | 0 | 0 |" in proc.stdout

    # JUnit beside the results: the XFAIL run's cells are skipped with the finding.
    suite = ET.parse(second / "junit" / f"{SWAP}.xml").getroot()
    assert int(suite.get("skipped")) == len(fails) and suite.get("failures") == "0"


def test_malformed_expectations_stop_the_run_with_one_line(tmp_path):
    bad = tmp_path / "expectations"
    bad.mkdir()
    (bad / "proot.toml").write_text('[[deviation]]\nfinding = "X"\nverdict = "FAIL"\nscenarios = ["A.B"]\n')
    proc = conform("run", "--backend", "native", "--expectations", str(bad), "--results", str(tmp_path / "r"))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.strip().splitlines() == [
        f"conform: error: {bad}/proot.toml: deviation 1 (A.B): finding 'X' is not defined: add [findings.X] with its url"]
    assert not (tmp_path / "r").exists()
    proc = conform("expect", "--expectations", str(bad), str(tmp_path / "nowhere"))
    assert proc.returncode == 2 and "no results.json" in proc.stderr
