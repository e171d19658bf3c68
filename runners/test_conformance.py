"""One test item per (backend, scenario): replay the scenario under the backend, diff it against the
Linux oracle in expected/, and report the verdict (PASS, FAIL, FLAKY, UNSUPPORTED, TIMEOUT, CRASH, ERROR)."""

import json

import pytest
from conftest import RESULT_PROPERTY
from conformlib.errors import ConformError
from conformlib.execute import Result, run_scenario


def test_scenario(backend, scenario, afunix_session, request):
    s = afunix_session
    try:
        result = run_scenario(s.backends[backend], scenario, s.paths(backend), s.expected(scenario))
    except ConformError as e:  # a corrupt expected/ file: this cell cannot be judged
        result = Result(backend, scenario, "ERROR", str(e))
    record = {"backend": result.backend, "scenario": result.scenario, "verdict": result.verdict,
              "message": result.message, "diff": result.diff, "duration": result.duration,
              "evidence": result.evidence,
              "run": (result.trace or {}).get("run")}
    request.node.user_properties.append((RESULT_PROPERTY, json.dumps(record)))
    if result.verdict == "UNSUPPORTED":
        pytest.skip(f"UNSUPPORTED: {result.message}")
    if result.verdict != "PASS":
        pytest.fail(f"{result.verdict}: {result.message}\n{result.diff}", pytrace=False)
