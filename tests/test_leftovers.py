"""What backends leave behind outside the scenario directory (runners/conformlib/leftovers.py), and
a backend that lies about credentials, against fixture backends that misbehave in that one way:
the cells must name exactly the scenarios the misbehaviour touches, derived from the oracle
(expected/), and the run must leave nothing in the machine's temporary directories."""

import json
import os
import sys

from conftest import FIXTURE_BACKENDS, ROOT, conform, expected_traces, needs_build, needs_root

sys.path.insert(0, str(ROOT / "runners"))
from conformlib import leftovers  # noqa: E402

pytestmark = [needs_build, needs_root]

LEFT_PREFIX = "afunix-fixture-left-"


def run(tmp_path, backend, *extra, backends_dir=FIXTURE_BACKENDS):
    results = tmp_path / "results"
    proc = conform("run", "--no-applications", "--backends-dir", str(backends_dir), "--backend", backend,
                   "--results", str(results), *extra)
    doc_path = results / "results.json"
    assert doc_path.exists(), f"no results.json; conform said:\n{proc.stdout}\n{proc.stderr}"
    doc = json.loads(doc_path.read_text())
    return proc, doc, {r["scenario"]: r for r in doc["results"] if r["backend"] == backend}


def binds_a_pathname_socket(doc):
    """The oracle's actors bind a pathname socket (a bind step, or a pair made over one)."""
    for actor in doc["actors"]:
        for o in actor["observations"]:
            if o["op"] == "bind" and o.get("result") == "ok" and not str(o.get("addr", "")).startswith("@") \
                    and o.get("addr") not in ("unnamed", "<autobind>"):
                return True
            if o["op"] == "pair" and "pathname" in o["kind"]:
                return True
    return False


def left_in(directory):
    return sorted(n for n in os.listdir(directory) if n.startswith(LEFT_PREFIX))


def test_a_file_left_in_the_temp_directory_is_named_in_exactly_the_cells_that_made_it(tmp_path):
    before = left_in("/tmp")
    proc, doc, verdicts = run(tmp_path, "fixture-leave-tmp-file")
    touched = {s for s, d in expected_traces().items() if binds_a_pathname_socket(d)}
    assert touched and touched != set(verdicts), "the oracle must have scenarios with and without pathname binds"
    left = {s for s, r in verdicts.items() if r.get("left_behind")}
    assert left == touched
    for s in left:
        assert all(p.startswith("/tmp/" + LEFT_PREFIX) for p in verdicts[s]["left_behind"]), verdicts[s]
    # The leak is reported, not a deviation: every cell still passes.
    assert {r["verdict"] for r in verdicts.values()} == {"PASS"}
    info = doc["run_info"]["left_behind"]
    assert "/tmp" in info["watched"] and info["per_scenario"]
    summary = (tmp_path / "results" / "matrix.md").read_text()
    leaked = sum(len(r["left_behind"]) for r in verdicts.values() if r.get("left_behind"))
    assert f"| {leaked} |" in summary.split("## What backends left behind")[0]
    assert "## What backends left behind" in summary
    # and in the table ./conform run prints at the end
    header, _, row = proc.stdout.split("\nbackend ", 1)[1].splitlines()[:3]
    assert row.split()[("backend " + header).split().index("left")] == str(leaked), proc.stdout
    # Every file was made in the process's private /tmp, which is gone: nothing reached the real one.
    assert left_in("/tmp") == before


def test_the_confirmation_attempt_is_watched_and_cleaned_too(tmp_path):
    before = left_in("/tmp")
    _, _, verdicts = run(tmp_path, "fixture-leave-tmp-file-deviating")
    confirmed = {s for s, r in verdicts.items() if len(r.get("attempts", [])) == 2}
    twice = {s for s in confirmed if any(p.endswith("(attempt 2)") for p in verdicts[s].get("left_behind", []))}
    assert twice, "no deviating cell bound a pathname socket: this test would prove nothing"
    for s in twice:
        first = [p for p in verdicts[s]["left_behind"] if not p.endswith("(attempt 2)")]
        assert first, f"{s}: the first attempt's leftovers are missing: {verdicts[s]['left_behind']}"
    assert left_in("/tmp") == before


def test_a_declared_state_directory_is_watched(tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    state.chmod(0o1777)
    backends = tmp_path / "backends"
    backends.mkdir()
    (backends / "fixture-leave-state-file.toml").write_text(
        'description = "fixture: leaves a file in its state directory per bound pathname socket"\n'
        'kind = "fixture"\n'
        f'state_dirs = ["{state}"]\n'
        '[env]\n'
        f'LD_PRELOAD = "{ROOT}/build/tests/fixtures/libafunix-fixture-leave-tmp-file.so"\n'
        f'AFUNIX_FIXTURE_LEFT_DIR = "{state}"\n')
    _, doc, verdicts = run(tmp_path, "fixture-leave-state-file", "--", "-k", "Peercred",
                           backends_dir=backends)
    # Only the runner's actors reach it (pytest's directories are private to root).
    touched = {s for s, d in expected_traces().items() if binds_a_pathname_socket(d)} & set(verdicts)
    left = {s for s, r in verdicts.items() if r.get("left_behind")}
    assert left and left <= touched
    assert all(p.startswith(f"{state}/{LEFT_PREFIX}") for s in left for p in verdicts[s]["left_behind"])
    assert str(state) in doc["run_info"]["left_behind"]["watched"]
    assert left_in(state) == []


def test_native_and_the_sandbox_leave_nothing_behind(tmp_path):
    listing = conform("list").stdout
    backends = ["native"] + (["bwrap-userns"] if "bwrap-userns" in listing
                             and "bwrap-userns: not available" not in listing else [])
    results = tmp_path / "results"
    proc = conform("run", "--no-applications", *[a for b in backends for a in ("--backend", b)],
                   "--results", str(results))
    doc = json.loads((results / "results.json").read_text())
    assert {r["backend"] for r in doc["results"]} == set(backends), proc.stdout + proc.stderr
    assert [(r["backend"], r["scenario"], r["left_behind"]) for r in doc["results"] if r.get("left_behind")] == []
    assert doc["run_info"]["left_behind"]["per_scenario"]


def test_without_private_temp_directories_the_run_says_what_it_does_not_watch(monkeypatch):
    monkeypatch.setitem(leftovers._found, "temporary dirs", "the runner is not root")
    info = leftovers.describe()
    assert "/tmp" in info["not_watched"] and "/tmp" not in info["watched"]
    assert "not root" in info["why_not"]


def lied_to(doc):
    """An actor that is not root reads credentials of a peer that is not root (SO_PEERCRED,
    SCM_CREDENTIALS, or an accept loop's peers): a backend that says "root" there is caught."""
    for actor in doc["actors"]:
        who = actor["identity"]
        for o in actor["observations"]:
            if o["op"] == "become" and o.get("result") == "ok":
                who = o["identity"]
            if who == "runner":
                continue
            uids = []
            if o["op"] in ("peercred", "getsockopt") and o.get("result") == "ok" \
                    and o.get("option", "SO_PEERCRED") == "SO_PEERCRED":
                uids.append(o.get("uid"))
            uids += [c.get("uid") for c in o.get("control", []) if c.get("type") == "SCM_CREDENTIALS"]
            uids += [c.get("uid") for c in o.get("connections", [])]
            if any(u is not None and u != "runner" for u in uids):
                return True
    return False


def test_credentials_that_say_root_to_unprivileged_readers_fail_exactly_where_they_are_read(tmp_path):
    _, _, verdicts = run(tmp_path, "fixture-lie-about-creds")
    touched = {s for s, d in expected_traces().items() if lied_to(d)}
    assert touched
    assert {s for s, r in verdicts.items() if r["verdict"] == "FAIL"} == touched
    assert {s for s, r in verdicts.items() if r["verdict"] == "PASS"} == set(verdicts) - touched
    for s in touched:
        assert "runner" in verdicts[s]["message"].split("observed", 1)[1], verdicts[s]["message"]
