"""The watchdog calls an operation "blocked" only when nothing in the scenario could still end it.

fixture-slow-listen keeps listen() on the CPU for half a second (the watchdog is 200 ms): an actor
waiting meanwhile for what the listening actor does next must see it, as natively, and an operation
that blocks natively must still be "blocked". Beyond the watchdog's limit (the event timeout, 2 s)
the same wait is "blocked" again: that run proves the fixture puts the watchdog to the test."""

import dataclasses

import pytest
from conformlib import execute, traces
from conformlib.backends import load_backend

from conftest import FIXTURE_BACKENDS, ROOT, expected_traces, needs_build, needs_root, observations

pytestmark = [needs_build, needs_root]

# A listener passed to another process, which waits for it in recvmsg while the passer listens
# (natively: received); and operations that block natively after a listen (still "blocked").
WAITS_FOR_A_LISTENER = "Kinds/Inheritance.ListenerPassedToAnotherProcess/"
BLOCK_NATIVELY = ("Kinds/Data.RecvOnEmptySocket/", "Kinds/Lifecycle.BlockingConnectToFullBacklogBlocks/")


def run(backend, prefixes):
    oracle = expected_traces()
    names = sorted(n for n in oracle if n.startswith(prefixes))
    tmp = execute.temp_root("watchdog-test")
    try:
        trace_dir = tmp / "traces"
        trace_dir.mkdir()
        results = execute.run_scenarios(backend, names, execute.Paths(ROOT, trace_dir, tmp), lambda s: None)
        return {n: results[n].trace for n in names}, oracle
    finally:
        execute.remove_temp_root(tmp)


def blocked_steps(doc):
    return [o["op"] for o in observations(doc) if o.get("result") == "blocked"]


def test_a_running_actor_is_waited_for_and_a_blocked_call_is_still_blocked():
    slow = load_backend(FIXTURE_BACKENDS / "fixture-slow-listen.toml")
    observed, oracle = run(slow, (WAITS_FOR_A_LISTENER, *BLOCK_NATIVELY))
    waiting = [n for n in observed if n.startswith(WAITS_FOR_A_LISTENER)]
    blocking = [n for n in observed if n.startswith(BLOCK_NATIVELY) and blocked_steps(oracle[n])]
    assert len(waiting) >= 4 and len(blocking) >= 10, "the scenarios this test relies on were renamed"
    assert not any(blocked_steps(oracle[n]) for n in waiting)
    differing = [n for n in observed if observed[n] is None or traces.canonical(observed[n]) != traces.canonical(oracle[n])]
    assert not differing, f"{differing[0]}:\n{traces.diff(oracle[differing[0]], observed[differing[0]])}"


def test_past_the_event_timeout_a_running_actor_is_no_longer_waited_for():
    slow = load_backend(FIXTURE_BACKENDS / "fixture-slow-listen.toml")
    slower = dataclasses.replace(slow, env={**slow.env, "AFUNIX_FIXTURE_LISTEN_MS": "2600"})
    observed, _ = run(slower, (WAITS_FOR_A_LISTENER,))
    assert observed and all(observed[n] is not None and blocked_steps(observed[n]) == ["recvmsg"]
                            for n in observed), observed
