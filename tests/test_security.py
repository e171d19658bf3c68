"""Adversarial conformance: every attack scenario must be able to report a breach, and the
same-user controls must keep working whatever a backend does to attackers."""

import json

import pytest

from conftest import FIXTURE_BACKENDS, conform, expected_traces, needs_build, needs_root

# One worker for the module: leaky_runs (two runs of every Attack scenario) are made once.
pytestmark = [needs_build, needs_root, pytest.mark.xdist_group("security")]

# Fixtures that let attacks through: attackers keeping root (kernel-API attacks), and listeners
# also open on loopback TCP (port guessing).
LEAKY_FIXTURES = ["fixture-attacker-keeps-root", "fixture-tcp-bridge"]


def attacks_and_controls():
    attacks, controls = set(), set()
    for name, doc in expected_traces().items():
        if name.startswith("Attack."):
            (attacks if any(a.get("judged") is False for a in doc["actors"]) else controls).add(name)
    return attacks, controls


@pytest.fixture(scope="module")
def leaky_runs(tmp_path_factory):
    runs = {}
    for backend in LEAKY_FIXTURES:
        out = tmp_path_factory.mktemp(backend)
        # Shards in parallel: the port-guessing attacker connects to every loopback listener of svc
        # it sees, which is its own process's only (a network namespace per process,
        # leftovers.py); without one, under fixture-tcp-bridge it reached a control's server
        # running at the same time in another shard (a FLAKY control).
        proc = conform("run", "--backends-dir", str(FIXTURE_BACKENDS), "--backend", backend,
                       "--results", str(out), "--", "-k", "Attack")
        assert (out / "results.json").exists(), proc.stdout + proc.stderr
        runs[backend] = (out, json.loads((out / "results.json").read_text()))
    return runs


def test_the_oracle_has_attacks_and_controls():
    attacks, controls = attacks_and_controls()
    assert len(attacks) >= 6 and len(controls) >= 3
    for name in attacks:  # on Linux the attacker's way in is closed: the attacker is evidence only
        roles = [a for a in expected_traces()[name]["actors"] if a.get("judged") is not False]
        assert roles, f"{name} has no victim to judge"


def test_every_attack_is_detected_by_some_leaky_fixture(leaky_runs):
    attacks, _ = attacks_and_controls()
    breached = set()
    for out, doc in leaky_runs.values():
        breached |= {r["scenario"] for r in doc["results"] if r["verdict"] == "FAIL"}
    assert breached == attacks


def test_controls_keep_working_under_leaky_fixtures(leaky_runs):
    _, controls = attacks_and_controls()
    for backend, (out, doc) in leaky_runs.items():
        verdicts = {r["scenario"]: r["verdict"] for r in doc["results"]}
        assert {verdicts[c] for c in controls} == {"PASS"}, backend


def test_breach_is_published_with_the_attackers_evidence(leaky_runs):
    out, doc = leaky_runs["fixture-tcp-bridge"]
    row = next(r for r in doc["results"] if r["scenario"] == "Attack.PortGuessingReachesNoServer")
    assert row["verdict"] == "FAIL"
    detail = (out / row["detail"]).read_text()
    assert '"data": "GUESSED"' in detail  # the victim saw the attacker's bytes
    assert "evidence:" in detail and "scan_tcp_listeners" in detail and "not judged" in detail
    md = (out / "matrix.md").read_text()
    assert "## Security" in md and "| PortGuessingReachesNoServer | [breached](" in md
    assert "(control) | [works](" in md
    assert "<h2 id='h-security'>Security" in (out / "index.html").read_text()
