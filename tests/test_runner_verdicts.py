"""The runner end to end, against fixture backends that misbehave in one known way each: the
verdicts must name exactly the scenarios the misbehaviour touches, with a diff that shows it.

Which scenarios are touched is derived from the oracle (expected/), never listed by hand."""

import json
import os
import uuid
from pathlib import Path

import pytest

from conftest import FIXTURE_BACKENDS, conform, expected_traces, needs_build, needs_root, observations

pytestmark = [needs_build, needs_root]


def run_fixture(tmp_path, backend, *extra, env=None):
    results = tmp_path / "results"
    proc = conform("run", "--backends-dir", str(FIXTURE_BACKENDS), "--backend", backend,
                   "--results", str(results), *extra, env=env)
    doc_path = results / "results.json"
    assert doc_path.exists(), f"no results.json; conform said:\n{proc.stdout}\n{proc.stderr}"
    doc = json.loads(doc_path.read_text())
    verdicts = {r["scenario"]: r for r in doc["results"] if r["backend"] == backend}
    return proc, doc, verdicts, results


def by_verdict(verdicts, verdict):
    return {s for s, r in verdicts.items() if r["verdict"] == verdict}


def scenarios_where(predicate):
    return {name for name, doc in expected_traces().items() if any(predicate(o) for o in observations(doc))}


def area(scenario):
    return scenario.split(".", 1)[0]


def areas_of(scenarios):
    return sorted({area(s) for s in scenarios})


def scenarios_in(areas):
    return {name for name in expected_traces() if area(name) in areas}


def only_areas(areas):
    """pytest -k for exactly the scenarios of these areas. A cell's id is backend::scenario: '::'
    and '.' anchor the area at the start of the scenario's name, so that neither the backend's own
    name (fixture-no-peercred) nor an area that ends the same way (Kinds/Addressing for Addressing)
    is matched."""
    return ["--", "-k", " or ".join(f"::{a}." for a in areas)]


# The misbehaviours whose scenarios are few run the areas those scenarios are in, not the whole
# suite: every scenario the oracle says is touched is run and judged (a full run judged those same
# cells), and the untouched scenarios of the same areas, run in the same batches, are the controls
# that must pass. A full run added hundreds of controls that prove nothing more and cost a third of
# this file's CPU.


def test_swapped_errno_fails_exactly_the_scenarios_that_see_it(tmp_path):
    touched = scenarios_where(lambda o: o["op"] == "connect" and o.get("result") == "ENOENT")
    assert touched, "the oracle has no connect failing with ENOENT: this test would prove nothing"
    areas = areas_of(touched)
    proc, doc, verdicts, results = run_fixture(tmp_path, "fixture-connect-enoent-as-eacces", *only_areas(areas))
    assert set(verdicts) == scenarios_in(areas) and set(verdicts) - touched
    assert by_verdict(verdicts, "FAIL") == touched
    assert by_verdict(verdicts, "PASS") == set(verdicts) - touched
    one = sorted(touched)[0]
    detail = (results / verdicts[one]["detail"]).read_text()
    assert '"result": "ENOENT"' in detail and '"result": "EACCES"' in detail and "actor " in detail
    # No expectation file lists the fixture's deviation: the run fails and names the cell.
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert f"unexpected: fixture-connect-enoent-as-eacces {one}: FAIL" in proc.stdout


def test_missing_peercred_fails_exactly_the_scenarios_that_read_it(tmp_path):
    touched = scenarios_where(lambda o: o["op"] == "peercred" and o.get("result") != "ENOPROTOOPT"
                              or o["op"] == "getsockopt" and o.get("option") == "SO_PEERCRED"
                              and o.get("result") == "ok"
                              or any("uid" in c for c in o.get("connections", [])))
    assert touched
    areas = areas_of(touched)
    _, _, verdicts, results = run_fixture(tmp_path, "fixture-no-peercred", *only_areas(areas))
    assert set(verdicts) == scenarios_in(areas) and set(verdicts) - touched
    assert by_verdict(verdicts, "FAIL") == touched
    assert by_verdict(verdicts, "PASS") == set(verdicts) - touched
    for scenario in touched:
        assert "ENOPROTOOPT" in (results / verdicts[scenario]["detail"]).read_text()


# listen() is in every area (half the suite calls it): a sample of areas, with every socket kind
# (Kinds/Addressing), both listen steps and pairs made through a listener, dozens of crashes in each
# batch between scenarios that must pass. Each crash is also confirmed in a process of its own.
CRASH_SAMPLE = ("Addressing", "Kinds/Addressing", "Peercred", "Inputs", "EarlySend")


def test_crashing_backend_is_crash_with_the_signal_and_the_run_goes_on(tmp_path):
    _, _, verdicts, _ = run_fixture(tmp_path, "fixture-crash-in-listen", *only_areas(CRASH_SAMPLE))
    assert set(verdicts) == scenarios_in(CRASH_SAMPLE)
    # listen() is called by a listen step, and by every connected pair made through a listener.
    touched = scenarios_where(lambda o: o["op"] == "listen" or o["op"] == "pair"
                              and not o["kind"].startswith("dgram") and "socketpair" not in o["kind"])
    touched &= set(verdicts)
    assert touched and touched != set(verdicts)
    assert len(touched) > 50 and {area(s) for s in touched} == set(CRASH_SAMPLE)
    assert by_verdict(verdicts, "CRASH") == touched
    assert all("SIGSEGV" in verdicts[s]["message"] for s in touched)
    assert by_verdict(verdicts, "PASS") == set(verdicts) - touched


def test_hanging_backend_is_timeout_and_leaves_nothing(tmp_path):
    mark = f"afunix-test-{uuid.uuid4()}"
    env = dict(os.environ, AFUNIX_TEST_MARK=mark)
    _, _, verdicts, _ = run_fixture(tmp_path, "fixture-hang", "--", "-k", "Peercred", env=env)
    assert verdicts and by_verdict(verdicts, "TIMEOUT") == set(verdicts)
    assert "process group was killed" in next(iter(verdicts.values()))["message"]
    assert processes_marked(mark) == []


def test_backend_leaving_detached_processes_leaves_nothing_after_the_run(tmp_path):
    mark = f"afunix-test-{uuid.uuid4()}"
    env = dict(os.environ, AFUNIX_TEST_MARK=mark)
    _, _, verdicts, _ = run_fixture(tmp_path, "fixture-leave-daemon", "--", "-k", "Addressing", env=env)
    assert verdicts and by_verdict(verdicts, "PASS") == set(verdicts)
    assert processes_marked(mark) == []


def test_a_helper_daemon_lives_as_long_as_its_scenario_process_not_as_the_others(tmp_path):
    """A backend's daemon in a session of its own (fakeroot's faked) is re-parented to the runner:
    cleaning up after one scenario process must not kill the daemon another one still needs (that
    hung fakeroot's actors at random under the batched runner, FR4), and the run still leaves
    nothing behind."""
    mark = f"afunix-test-{uuid.uuid4()}"
    daemons = tmp_path / "daemons"
    daemons.mkdir()
    env = dict(os.environ, AFUNIX_TEST_MARK=mark, AFUNIX_FIXTURE_DAEMON_DIR=str(daemons))
    _, _, verdicts, _ = run_fixture(tmp_path, "fixture-session-daemon", "--jobs", "4", "--", "-k", "Peercred", env=env)
    assert verdicts and by_verdict(verdicts, "PASS") == set(verdicts)
    started = sorted(p.name for p in daemons.glob("daemon-*"))
    assert len(started) > 2, f"too few scenario processes to overlap: {started}"
    assert sorted(p.name for p in daemons.glob("lost-*")) == []
    assert processes_marked(mark) == []


def test_corrupt_trace_is_error_naming_the_file(tmp_path):
    _, _, verdicts, _ = run_fixture(tmp_path, "fixture-garbage-trace", "--", "-k", "Peercred")
    assert verdicts and by_verdict(verdicts, "ERROR") == set(verdicts)
    for s, r in verdicts.items():
        assert "corrupt trace, not JSON" in r["message"] and s.replace("/", "~") + ".json" in r["message"]


def test_missing_capability_is_unsupported_with_the_reason_not_a_failure(tmp_path):
    needs_identities = {name for name, doc in expected_traces().items()
                        if any(a["identity"] != "runner" for a in doc["actors"])
                        or any(o["op"] == "become" for o in observations(doc))}
    assert needs_identities
    areas = areas_of(needs_identities)
    proc, _, verdicts, _ = run_fixture(tmp_path, "fixture-no-identities", *only_areas(areas))
    assert set(verdicts) == scenarios_in(areas) and set(verdicts) - needs_identities
    assert by_verdict(verdicts, "UNSUPPORTED") == needs_identities
    assert by_verdict(verdicts, "PASS") == set(verdicts) - needs_identities
    assert all("fixture declares no test identities" in verdicts[s]["message"] for s in needs_identities)
    assert proc.returncode == 0


def processes_marked(mark):
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if mark.encode() in (entry / "environ").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def test_deviation_that_does_not_repeat_is_flaky_with_both_attempts(tmp_path):
    _, _, verdicts, results = run_fixture(tmp_path, "fixture-flaky-connect", "--", "-k", "Peercred or Addressing")
    # Every scenario whose oracle shows a connect succeeding (directly or inside a connected pair).
    touched = scenarios_where(lambda o: o["op"] == "connect" and o.get("result") == "ok"
                              or o["op"] == "pair" and "socketpair" not in o["kind"])
    touched &= set(verdicts)
    assert touched
    assert by_verdict(verdicts, "FLAKY") == touched
    assert by_verdict(verdicts, "PASS") == set(verdicts) - touched
    r = verdicts[sorted(touched)[0]]
    assert "attempt 1: FAIL" in r["message"] and "attempt 2: PASS" in r["message"]
    assert '"result": "EACCES"' in (results / r["detail"]).read_text()
