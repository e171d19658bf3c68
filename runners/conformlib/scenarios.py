"""Scenarios by name: the list, as the scenario program itself reports it (GoogleTest's test list),
where each is written (GoogleTest's JSON test list gives every test's file and line), and the
naming rules the runner and the matrix rely on, in one place.

    Suite.Name                          area "Suite"
    Kinds/Suite.Name/stream             a parameterised scenario: area "Suite", kind "stream"
    Attack.Name                         the security area: an attack when the oracle's trace has an
                                        attacker (an actor that is not judged), else a same-user control
"""

import json
import os
import subprocess
import tempfile
from pathlib import Path

from . import traces
from .errors import ConformError

SECURITY_AREA = "Attack"


def area_of(scenario):
    """Area of 'Peercred.X' or 'Kinds/Peercred.X/stream' is 'Peercred'."""
    suite = scenario.split(".", 1)[0]
    return suite.split("/")[-1]


def is_security(scenario):
    return area_of(scenario) == SECURITY_AREA


def is_attack(expected_doc):
    """An attack has an attacker: an actor whose observations are evidence, not judged."""
    return any(not traces.judged(a) for a in expected_doc["actors"])


def security_split(scenarios, expected_loader):
    """{"attacks": [...], "controls": [...]}: the security area's scenarios with an attacker (verdicts
    held / breached) and the same-user controls beside them (works / broken), as the oracle shows
    them. expected_loader(scenario) gives the oracle's trace or None; a corrupt one is left out here
    (its cell is ERROR in the run)."""
    attacks, controls = [], []
    for scenario in scenarios:
        if not is_security(scenario):
            continue
        try:
            doc = expected_loader(scenario)
        except ConformError:
            continue
        if doc is not None:
            (attacks if is_attack(doc) else controls).append(scenario)
    return {"attacks": attacks, "controls": controls}


def parse_gtest_list(text):
    """Names from `--gtest_list_tests` output: 'Suite.' lines, then indented test names (parameterised
    ones carry a '# GetParam() = ...' comment that is not part of the name)."""
    names = []
    suite = None
    for line in text.splitlines():
        if not line.strip():
            continue
        if not line.startswith(" "):
            suite = line.split("#")[0].strip()
            if not suite.endswith("."):
                raise ValueError(f"unexpected line in the test list: {line!r}")
        else:
            if suite is None:
                raise ValueError(f"test name before any suite: {line!r}")
            names.append(suite + line.split("#")[0].strip())
    return names


def parse_gtest_json_list(doc, root):
    """{scenario: "conformance/scenarios/<file>.cc:<line>"} from `--gtest_list_tests
    --gtest_output=json:FILE`. Paths are made relative to the project (the compiler saw absolute
    ones); a file outside it keeps its path from 'conformance/' on, or stays as it is."""
    sources = {}
    root = os.path.realpath(root)
    for suite in doc.get("testsuites", []):
        for test in suite.get("testsuite", []):
            file, line = test.get("file"), test.get("line")
            if not file or not line:
                continue
            real = os.path.realpath(file)
            if real.startswith(root + os.sep):
                file = os.path.relpath(real, root)
            elif "/conformance/" in file:
                file = "conformance/" + file.rsplit("/conformance/", 1)[1]
            sources[f"{suite['name']}.{test['name']}"] = f"{file}:{line}"
    return sources


def _run_list(binary, *extra):
    try:
        return subprocess.run([str(binary), "--gtest_list_tests", *extra], capture_output=True, text=True,
                              timeout=60, check=True).stdout
    except FileNotFoundError:
        raise ConformError(binary, "scenario program not built (./conform build)") from None
    except subprocess.CalledProcessError as e:
        raise ConformError(binary, f"--gtest_list_tests failed with exit {e.returncode}") from None


def list_scenarios(binary):
    out = _run_list(binary)
    try:
        return parse_gtest_list(out)
    except ValueError as e:
        raise ConformError(binary, str(e)) from None


def what_it_said(log_text, lines=8):
    """The part of the scenario program's output that says why it failed: GoogleTest's failure
    messages ("file:line: Failure" up to the "[  FAILED  ]" line) when there are any, since the last
    lines are only its summary; else the last lines."""
    out, inside = [], False
    for line in log_text.splitlines():
        if line.endswith(": Failure") or line.startswith("unknown file: Failure"):
            inside = True
            continue
        if inside and line.startswith("[  FAILED  ]"):
            inside = False
            continue
        if inside and line.strip() and line.strip() != "Failed":
            out.append(line.strip())
    if not out:
        out = [line for line in log_text.strip().splitlines()][-lines:]
    return "\n".join(out[-lines:])


def scenario_sources(binary, root):
    """Where each scenario is defined, for links from the matrix to the code."""
    with tempfile.TemporaryDirectory(prefix="afunix-list-") as tmp:
        listing = Path(tmp) / "tests.json"
        _run_list(binary, f"--gtest_output=json:{listing}")
        try:
            doc = json.loads(listing.read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise ConformError(binary, f"--gtest_output=json gave no usable test list: {e}") from None
    return parse_gtest_json_list(doc, root)
