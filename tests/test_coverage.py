"""The coverage table (runners/conformlib/coverage.py over conformance/coverage.toml): every
checklist item is listed, covered or left out with a reason, and the check can fail."""

import json
import os
import subprocess
from pathlib import Path

import pytest

from conformlib.coverage import (COVERED, LEFT_OUT, NOT_COVERED, checklist_items, coverage_markdown,
                                 coverage_problems, coverage_rows, load_coverage)
from conformlib.errors import ConformError

from conftest import EXPECTED, ROOT

COVERAGE = ROOT / "conformance" / "coverage.toml"
CHECKLIST = ROOT / "conformance" / "checklist.md"
BRIEF_NAME = "linux-afunix-behaviour-checklist.md"


def brief_locations():
    """Where the shared brief may be: ../shared/brief/ from the project root (so beside a CI clone
    too), and, from a git worktree, beside the main checkout it belongs to."""
    places = [ROOT.parent / "shared" / "brief"]
    common = subprocess.run(["git", "rev-parse", "--git-common-dir"], cwd=ROOT, capture_output=True,
                            text=True)
    if common.returncode == 0:
        main_checkout = (ROOT / common.stdout.strip()).resolve().parent
        places.append(main_checkout.parent / "shared" / "brief")
    return [p / BRIEF_NAME for p in places]


def scenario_names():
    """The scenarios as the oracle knows them (expected/ mirrors --gtest_list_tests)."""
    return [json.loads(p.read_text())["scenario"] for p in sorted(EXPECTED.glob("*.json"))
            if p.name != "RECORDED.json"]


def test_checklist_has_every_area_and_item_numbers():
    items = checklist_items(CHECKLIST)
    assert {letter for _, letter, _, _ in items} == set("ABCDEFGHI")
    ids = [i for i, _, _, _ in items]
    assert len(ids) == len(set(ids)), "an item number parsed twice"
    assert ids[0] == "A1" and ids[-1] == "I120"
    assert "A12" in ids and "B35" in ids and "C48" in ids  # items after "length 2." / "read 0." / "recv 0."


def test_repository_checklist_is_the_brief():
    found = [p for p in brief_locations() if p.exists()]
    if not found:
        where = ", ".join(str(p) for p in brief_locations())
        if os.environ.get("CI"):  # CI has the brief beside its clone: its absence is a fault there
            pytest.fail(f"the shared brief is not at {where}")
        pytest.skip(f"the shared brief is not beside this checkout (looked at {where})")
    assert checklist_items(CHECKLIST) == checklist_items(found[0]), f"{CHECKLIST} differs from {found[0]}"


def test_brief_locations_are_relative_to_the_project():
    assert brief_locations()[0] == ROOT.parent / "shared" / "brief" / BRIEF_NAME


def test_every_checklist_item_is_in_the_coverage_file_with_its_text():
    mapped = load_coverage(COVERAGE)["items"]
    for item_id, _, _, text in checklist_items(CHECKLIST):
        assert item_id in mapped, f"{item_id} is not in coverage.toml"
        assert mapped[item_id].get("text") == text, f"{item_id}: text differs from the checklist"
        assert mapped[item_id].get("scenarios") or mapped[item_id].get("left_out"), item_id


def test_every_checklist_item_appears_in_the_table():
    names = scenario_names()
    md = coverage_markdown(names, COVERAGE)
    for item_id, _, _, _ in checklist_items(CHECKLIST):
        assert f"| {item_id} |" in md, f"{item_id} missing from the table"


def test_the_suite_covers_or_explains_every_item():
    rows = coverage_rows(scenario_names(), COVERAGE)
    assert coverage_problems(rows) == []
    assert {r["status"] for r in rows} <= {COVERED, LEFT_OUT}
    assert all(r["reason"] for r in rows if r["status"] == LEFT_OUT)


def fake(tmp_path, coverage, checklist="## A. Names\n1. first thing.  2. second thing.\n"):
    (tmp_path / "checklist.md").write_text(checklist)
    path = tmp_path / "coverage.toml"
    path.write_text('checklist = "checklist.md"\n' + coverage)
    return path


def test_pattern_matching_no_scenario_is_reported(tmp_path):
    cov = fake(tmp_path, '[items.A1]\nscenarios = ["Addressing.Exists", "Addressing.Typo*"]\n'
                         '[items.A2]\nscenarios = ["Nothing.Like.This/*"]\n')
    names = ["Addressing.Exists", "Addressing.Other"]
    rows = {r["id"]: r for r in coverage_rows(names, cov)}
    assert rows["A1"]["status"] == COVERED and rows["A1"]["unmatched"] == ["Addressing.Typo*"]
    assert rows["A2"]["status"] == NOT_COVERED and rows["A2"]["count"] == 0
    problems = coverage_problems(list(rows.values()))
    assert "A1: pattern 'Addressing.Typo*' matches no scenario" in problems
    assert "A2: pattern 'Nothing.Like.This/*' matches no scenario" in problems
    md = coverage_markdown(names, cov)
    assert "Addressing.Typo*" in md and "| A2 | second thing. | not covered |" in md


def test_unmapped_item_is_listed_as_not_covered(tmp_path):
    cov = fake(tmp_path, '[items.A1]\nscenarios = ["Kinds/Addressing.X/*"]\n')
    names = ["Kinds/Addressing.X/stream", "Kinds/Addressing.X/dgram", "Addressing.Unclaimed"]
    rows = {r["id"]: r for r in coverage_rows(names, cov)}
    assert rows["A1"]["count"] == 2
    assert rows["A2"]["status"] == NOT_COVERED and "not mapped" in rows["A2"]["note"]
    md = coverage_markdown(names, cov)
    assert "1 covered, 0 left out, 1 not covered" in md
    assert "Kinds/Addressing.X (2 kinds)" in md
    assert "- Addressing.Unclaimed" in md  # beyond the checklist, listed too


def test_left_out_item_shows_its_reason(tmp_path):
    cov = fake(tmp_path, '[items.A1]\nleft_out = "needs a network namespace"\n'
                         '[items.A2]\nscenarios = ["A.B"]\n')
    rows = {r["id"]: r for r in coverage_rows(["A.B"], cov)}
    assert rows["A1"]["status"] == LEFT_OUT and rows["A1"]["reason"] == "needs a network namespace"
    assert coverage_problems(list(rows.values())) == []
    assert "| A1 | first thing. | left out | needs a network namespace |" in coverage_markdown(["A.B"], cov)


def test_left_out_without_reason_and_bad_shapes_are_refused(tmp_path):
    with pytest.raises(ConformError, match="reason"):
        coverage_rows([], fake(tmp_path, '[items.A1]\nleft_out = ""\n'))
    with pytest.raises(ConformError, match="list of name patterns"):
        coverage_rows([], fake(tmp_path, '[items.A1]\nscenarios = "A.B"\n'))
    with pytest.raises(ConformError, match="TOML"):
        coverage_rows([], fake(tmp_path, '[items.A1\n'))


def test_item_missing_from_the_checklist_is_a_problem(tmp_path):
    cov = fake(tmp_path, '[items.A1]\nscenarios = ["A.B"]\n[items.A2]\nscenarios = ["A.B"]\n'
                         '[items.A99]\ntext = "invented"\nscenarios = ["A.B"]\n')
    rows = coverage_rows(["A.B"], cov)
    assert rows[-1]["id"] == "A99" and not rows[-1]["in_checklist"]
    assert "A99: in the coverage file but not in the checklist" in coverage_problems(rows)


def test_published_coverage_document_is_current():
    """docs/coverage.md is generated (./conform coverage), never edited: it must match the scenarios."""
    import importlib.machinery
    import importlib.util
    from conftest import BINARY, ROOT
    if not BINARY.exists():
        pytest.skip("scenario program not built")
    loader = importlib.machinery.SourceFileLoader("conform_cli", str(ROOT / "conform"))
    spec = importlib.util.spec_from_loader("conform_cli", loader)
    cli = importlib.util.module_from_spec(spec)
    loader.exec_module(cli)
    assert (ROOT / "docs" / "coverage.md").read_text() == cli.coverage_document(), \
        "docs/coverage.md is stale: run ./conform coverage"
