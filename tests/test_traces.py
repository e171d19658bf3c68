"""Traces: validation of what a backend wrote, the canonical expected/ form, and readable diffs."""

import copy
import json

import pytest
from conformlib import traces
from conformlib.errors import ConformError
from conformlib.scenarios import parse_gtest_list

from conftest import EXPECTED, expected_traces

TRACE = {
    "schema": 1, "scenario": "Peercred.X",
    "run": {"backend": "native", "kernel": "6.1", "machine": "x86_64", "abi": "x86_64",
            "suite_revision": "abc"},
    "status": "ran",
    "actors": [
        {"role": "server", "identity": "svc", "end": "exit 0", "observations": [
            {"op": "socket", "type": "SOCK_STREAM", "result": "ok"},
            {"op": "listen", "backlog": 5, "result": "ok"}]},
        {"role": "client", "identity": "stranger", "end": "exit 0", "observations": [
            {"op": "connect", "addr": "srv.sock", "result": "ok"},
            {"op": "peercred", "result": "ok", "pid": "server", "uid": "svc", "gid": "svc"}]},
    ],
}


def write(tmp_path, content):
    path = tmp_path / "Peercred.X.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


def test_valid_trace_loads(tmp_path):
    assert traces.load(write(tmp_path, TRACE))["scenario"] == "Peercred.X"


def broken(mutate):
    doc = copy.deepcopy(TRACE)
    mutate(doc)
    return doc


@pytest.mark.parametrize("content, problem", [
    ('{"schema": 1, "scen', "corrupt trace, not JSON"),
    ("[]", "must be a JSON object"),
    (broken(lambda d: d.update(schema=2)), "schema 2 is not 1"),
    (broken(lambda d: d.pop("scenario")), "missing 'scenario'"),
    (broken(lambda d: d.update(status="maybe")), "status 'maybe' is not one of"),
    (broken(lambda d: d.update(actors={})), "'actors' must be a list"),
    (broken(lambda d: d["actors"][0].pop("end")), "actor 0 has no 'end'"),
    (broken(lambda d: d["actors"][1]["observations"].append({"result": "ok"})), "must be objects with an 'op'"),
    (broken(lambda d: d["run"].pop("kernel")), "'run' metadata must give"),
])
def test_corrupt_trace_names_file_and_problem(tmp_path, content, problem):
    path = write(tmp_path, content)
    with pytest.raises(ConformError) as e:
        traces.load(path)
    assert str(e.value).startswith(f"{path}: ") and problem in str(e.value)


def test_canonical_form_is_stable_and_drops_run_metadata():
    text = traces.canonical(TRACE)
    again = traces.canonical(json.loads(text))
    assert text == again
    assert "run" not in json.loads(text) and "kernel" not in text
    # One observation per line, so reviews of expected/ read like the story.
    assert '        {"op": "connect", "addr": "srv.sock", "result": "ok"},' in text.splitlines()


def test_committed_oracle_is_in_canonical_form():
    oracle = expected_traces()
    assert oracle, "expected/ is empty"
    for name, doc in oracle.items():
        path = EXPECTED / traces.file_name(name)
        assert path.read_text() == traces.canonical(doc), f"{path} is not canonical (hand-edited?)"


def test_behaviour_ignores_where_it_ran():
    other = broken(lambda d: d["run"].update(backend="qemu-arm", abi="armhf"))
    assert traces.behaviour(other) == traces.behaviour(TRACE)
    assert traces.diff(traces.behaviour(TRACE), traces.behaviour(other)) == ""


def test_diff_names_actor_step_expected_and_observed():
    observed = broken(lambda d: d["actors"][1]["observations"][0].update(result="ECONNREFUSED"))
    text = traces.diff(traces.behaviour(TRACE), traces.behaviour(observed))
    assert text.splitlines() == [
        "actor client (stranger):",
        "  step 1 (connect): connect(srv.sock): expected ok, observed ECONNREFUSED",
        '    expected: {"op": "connect", "addr": "srv.sock", "result": "ok"}',
        '    observed: {"op": "connect", "addr": "srv.sock", "result": "ECONNREFUSED"}',
    ]


def test_diff_shows_missing_steps_and_end():
    def crash(d):
        d["actors"][1]["observations"].pop()
        d["actors"][1]["end"] = "signal SIGSEGV"
    text = traces.diff(traces.behaviour(TRACE), traces.behaviour(broken(crash)))
    assert "step 2 (peercred):" in text and "observed: (nothing)" in text
    assert "end [knock-on]: expected 'exit 0', observed 'signal SIGSEGV'" in text


def test_diff_of_status():
    unsupported = broken(lambda d: d.update(status="unsupported", reason="no uids", actors=[]))
    assert traces.diff(traces.behaviour(TRACE), traces.behaviour(unsupported)) == \
        "status: expected ran, observed unsupported (no uids)"


# ---- diffs that explain ----------------------------------------------------------------------

def story(*steps, end="exit 0"):
    return {"status": "ran", "actors": [{"role": "owner", "identity": "runner", "end": end,
                                         "observations": [dict(s) for s in steps]}]}


SOCKET = {"op": "socket", "type": "SOCK_STREAM", "result": "ok"}
PEEK_OFF = {"op": "setsockopt", "option": "SO_PEEK_OFF", "value": 0, "result": "ok"}
RECV = {"op": "recv", "max": 4, "result": 2, "data": "ab"}


def test_message_names_the_first_cause_with_expected_and_observed():
    e = story(SOCKET, PEEK_OFF, RECV)
    o = story(SOCKET, dict(PEEK_OFF, result="ENOPROTOOPT"), dict(RECV, result=4, data="abcd"))
    assert traces.message(e, o) == ("setsockopt(SO_PEEK_OFF, 0): expected ok, observed ENOPROTOOPT "
                                    "(actor owner, step 2); 1 more difference (1 knock-on)")


def test_first_difference_is_structured_and_stable():
    e = story(SOCKET, PEEK_OFF, RECV)
    o = story(SOCKET, dict(PEEK_OFF, result="ENOPROTOOPT"), dict(RECV, result=4))
    d = traces.first_difference(e, o)
    assert {k: d[k] for k in ("kind", "actor", "step", "op", "operation", "field", "expected", "observed",
                              "knock_on")} == {
        "kind": "value", "actor": "owner", "step": 2, "op": "setsockopt",
        "operation": "setsockopt(SO_PEEK_OFF, 0)", "field": "result", "expected": "ok",
        "observed": "ENOPROTOOPT", "knock_on": False}
    assert traces.first_difference(e, e) is None
    # Whole documents work too (behaviour() is taken first).
    whole = dict(TRACE, actors=e["actors"])
    assert traces.first_difference(whole, dict(TRACE, actors=o["actors"]))["operation"] == d["operation"]


def test_same_operations_align_by_position_not_by_a_sequence_matcher():
    # Equal lines elsewhere would make a sequence matcher pair step 2 with step 3 and invent
    # "(nothing)" steps; by position, steps 2 and 3 are each one changed step.
    send = {"op": "send", "data": "x", "result": 1}
    e = story(SOCKET, send, dict(send, result="EPIPE"))
    o = story(SOCKET, dict(send, result="EPIPE"), send)
    text = traces.diff(e, o)
    assert "(nothing)" not in text
    assert "step 2 (send): send(x): expected 1, observed EPIPE" in text
    assert "step 3 (send) [knock-on]: send(x): expected EPIPE, observed 1" in text


def test_other_operations_fall_back_to_matching_and_still_pair_same_ops():
    e = story(SOCKET, PEEK_OFF, RECV)
    o = story(SOCKET, RECV)
    ds = traces.differences(e, o)
    assert [(d["kind"], d["step"], d["op"]) for d in ds] == [("missing", 2, "setsockopt")]


def test_another_operation_in_the_same_place_names_both_calls_but_groups_by_name():
    e = story(SOCKET, PEEK_OFF)
    o = story(SOCKET, {"op": "close", "fd": "s", "result": "ok"})
    d = traces.first_difference(e, o)
    assert (d["field"], d["expected"], d["observed"]) == ("op", "setsockopt", "close")
    assert traces.message(e, o) == "step 2: expected setsockopt(SO_PEEK_OFF, 0), observed close(s) (actor owner, step 2)"


def test_overrun_says_by_how_many_bytes():
    e = story(SOCKET, RECV)
    o = story(SOCKET, dict(RECV, overrun={"data": 3}))
    assert traces.message(e, o) == "recv(4): wrote past the buffer: data by 3 bytes (actor owner, step 2)"


def test_waiting_actors_are_knock_on_of_the_actor_that_deviated():
    e = {"status": "ran", "actors": [
        {"role": "server", "identity": "runner", "end": "exit 0",
         "observations": [dict(SOCKET), {"op": "bind", "addr": "srv.sock", "result": "ok"},
                          {"op": "post", "event": "listening"}]},
        {"role": "client", "identity": "runner", "end": "exit 0",
         "observations": [{"op": "wait", "event": "listening", "result": "ok"}]}]}
    o = copy.deepcopy(e)
    o["actors"][0]["observations"][1]["result"] = "EADDRINUSE"
    o["actors"][0]["observations"].pop()
    o["actors"][1]["observations"][0]["result"] = "timeout"
    ds = traces.differences(e, o)
    assert [(d["actor"], d["knock_on"]) for d in ds] == [("server", False), ("server", True), ("client", True)]
    assert traces.message(e, o).startswith("bind(srv.sock): expected ok, observed EADDRINUSE (actor server, step 2)")


def test_gtest_list_parsing_plain_and_parameterised():
    text = ("Peercred.\n  ClientSeesListenerCreds\n  SocketpairSeesCreator\n"
            "Kinds/Data.\n  MessageBoundaries/seqpacket_pathname  # GetParam() = 4-byte object <05-00>\n")
    assert parse_gtest_list(text) == ["Peercred.ClientSeesListenerCreds", "Peercred.SocketpairSeesCreator",
                                      "Kinds/Data.MessageBoundaries/seqpacket_pathname"]
    with pytest.raises(ValueError):
        parse_gtest_list("Running main() from gtest_main.cc\nPeercred.\n  X\n")


def test_parameterised_names_map_to_file_names():
    assert traces.file_name("Kinds/Data.Boundaries/stream") == "Kinds~Data.Boundaries~stream.json"
