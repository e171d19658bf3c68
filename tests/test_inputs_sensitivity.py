"""The Inputs area can fail: three fixture backends, each wrong in one way a real backend can be
wrong about the addresses programs pass, must be caught by exactly the scenarios that target that
way, and native by none. Which scenarios target it is derived from the oracle (expected/), never
listed by hand. Each run takes the Inputs area and a control sample (Peercred, and one Addressing
scenario that returns a name; not the socket kinds, whose pair recipe uses the names it gets back
without recording them), not the whole suite."""

import json

from conftest import FIXTURE_BACKENDS, conform, expected_traces, needs_build, needs_root, observations

pytestmark = [needs_build, needs_root]

SAMPLE = "Inputs or (Peercred and not Kinds) or GetsocknameAfterBind"
ADDRESS_TAKERS = ("bind", "connect", "sendto", "sendmsg")


def run(tmp_path, backend):
    results = tmp_path / backend
    where = [] if backend == "native" else ["--backends-dir", str(FIXTURE_BACKENDS)]
    proc = conform("run", "--no-applications", *where, "--backend", backend, "--results", str(results),
                   "--", "-k", SAMPLE)
    doc_path = results / "results.json"
    assert doc_path.exists(), f"no results.json; conform said:\n{proc.stdout}\n{proc.stderr}"
    doc = json.loads(doc_path.read_text())
    verdicts = {r["scenario"]: r for r in doc["results"] if r["backend"] == backend}
    assert any(s.startswith("Inputs.") for s in verdicts) and any(s.startswith("Peercred.") for s in verdicts)
    return verdicts


def deviating(verdicts):
    return {s for s, r in verdicts.items() if r["verdict"] != "PASS"}


def targeted(verdicts, predicate):
    """The run's scenarios whose oracle has an observation the predicate picks."""
    oracle = expected_traces()
    return {s for s in verdicts if any(predicate(o) for o in observations(oracle[s]))}


def passes_stale_bytes(o):
    return o["op"] in ADDRESS_TAKERS and "stale" in o


def passes_absolute_path(o):
    return o["op"] in ADDRESS_TAKERS and any(
        str(o.get(key, "")).startswith("<scenario-dir>/") for key in ("addr", "to"))


def returns_a_name(o):
    return o.get("name_class") in ("pathname", "abstract")


# The control: native passes the sample. The fixtures' tests do not read native's verdicts (which
# scenarios they must fail is derived from the oracle), so they do not wait for this run: under
# xdist a module fixture they asked for was made again on every worker that ran one of them.
def test_native_passes_the_inputs_area_and_the_sample(tmp_path):
    native = run(tmp_path, "native")
    assert native and deviating(native) == set()


def test_reading_past_addrlen_is_caught_by_exactly_the_stale_byte_scenarios(tmp_path):
    verdicts = run(tmp_path, "fixture-reads-past-addrlen")
    touched = targeted(verdicts, passes_stale_bytes)
    assert touched and all("ReadsOnlyAddrlen" in s for s in touched)
    assert deviating(verdicts) == touched
    assert {s for s in touched if verdicts[s]["verdict"] == "FAIL"} == touched
    # The name the fixture read on to is in the diff.
    assert "srv.sockice.sock" in verdicts["Inputs.BindReadsOnlyAddrlenOfReusedPath"]["message"]


def test_translating_only_relative_paths_is_caught_by_exactly_the_absolute_path_scenarios(tmp_path):
    verdicts = run(tmp_path, "fixture-relative-paths-only")
    touched = targeted(verdicts, passes_absolute_path)
    assert touched and all(s.startswith("Inputs.") for s in touched)
    assert deviating(verdicts) == touched
    assert "ENOENT" in verdicts["Inputs.BindAbsoluteConnectRelative"]["message"]


def test_a_length_one_short_is_caught_by_exactly_the_scenarios_that_return_a_name(tmp_path):
    verdicts = run(tmp_path, "fixture-length-one-short")
    touched = targeted(verdicts, returns_a_name)
    assert touched and touched != set(verdicts)
    assert deviating(verdicts) == touched
    # The name itself is whole: the length and the NUL outside it say what is wrong.
    message = verdicts["Inputs.GetsocknameIntoReusedBuffers"]["message"]
    assert "addrlen expected 11, observed 10" in message
