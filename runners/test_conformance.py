"""One test item per (backend, scenario): replay the scenario under the backend, diff it against the
Linux oracle in expected/, and report the verdict (PASS, FAIL, FLAKY, UNSUPPORTED, TIMEOUT, CRASH, ERROR).

The scenarios themselves run in batches, ahead of the items (see conftest.py): an item waits for its
cell's Result."""

import json

import pytest
from conftest import RESULT_PROPERTY


def test_scenario(backend, scenario, afunix_session, request):
    progress = request.config.pluginmanager.get_plugin("afunix-progress")
    result = afunix_session.result(backend, scenario, waiting=progress.tick)
    progress.tick(afunix_session.executor)
    request.node.user_properties.append((RESULT_PROPERTY, json.dumps(result.to_dict())))
    if result.verdict == "UNSUPPORTED":
        pytest.skip(f"UNSUPPORTED: {result.message}")
    if result.verdict != "PASS":
        pytest.fail(f"{result.verdict}: {result.message}\n{result.diff}", pytrace=False)
