"""The scenario list, as the scenario program itself reports it (GoogleTest's test list)."""

import subprocess

from .errors import ConformError


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


def list_scenarios(binary):
    try:
        out = subprocess.run([str(binary), "--gtest_list_tests"], capture_output=True, text=True,
                             timeout=60, check=True).stdout
    except FileNotFoundError:
        raise ConformError(binary, "scenario program not built (./conform build)") from None
    except subprocess.CalledProcessError as e:
        raise ConformError(binary, f"--gtest_list_tests failed with exit {e.returncode}") from None
    try:
        return parse_gtest_list(out)
    except ValueError as e:
        raise ConformError(binary, str(e)) from None
