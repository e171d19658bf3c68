"""The coverage table: which behaviour of the checklist (conformance/checklist.md, areas A-I,
numbered items) the scenarios exercise.

conformance/coverage.toml maps each checklist item to scenario name patterns (globs over the
names `--gtest_list_tests` gives, e.g. "Kinds/Data.MessageBoundaries/*") or to `left_out =
"reason"`. Nothing is hidden: a checklist item the file does not map, an item with neither
patterns nor a reason, and an item whose patterns match no scenario are all "not covered", and a
pattern that matches nothing is named as a problem. Scenarios no item claims are listed too.

    coverage_rows(scenario_names, coverage_file)      -> one dict per item (for HTML)
    coverage_markdown(scenario_names, coverage_file)  -> the table as Markdown
    coverage_problems(rows)                           -> what a check should fail on

Python standard library only (tomllib: Python 3.11+).
"""

import fnmatch
import re
try:
    import tomllib
except ImportError:  # Python < 3.11: Debian's python3-tomli
    import tomli as tomllib
from collections import OrderedDict
from pathlib import Path

from .errors import ConformError

COVERED = "covered"
LEFT_OUT = "left out"
NOT_COVERED = "not covered"

_AREA = re.compile(r"^##\s+([A-Z])\.\s+(.*?)\s*$")
# "12. text" up to the next "  N. " on the same line: the checklist packs several items per line,
# two spaces apart (one space before a number is part of the text: "length 2.").
_ITEM = re.compile(r"(?:^|\s{2,})(\d+)\.\s+(.*?)(?=\s{2,}\d+\.\s|\s*$)")


def checklist_items(checklist_file):
    """[(id, area letter, area title, text)] in checklist order, ids like 'A16'."""
    path = Path(checklist_file)
    try:
        lines = path.read_text().splitlines()
    except OSError as e:
        raise ConformError(path, f"cannot read the checklist: {e.strerror}") from None
    items, letter, title = [], None, None
    for line in lines:
        m = _AREA.match(line)
        if m:
            letter, title = m.group(1), m.group(2)
            continue
        if letter is None or not line[:1].isdigit():
            continue
        for number, text in _ITEM.findall(line):
            items.append((f"{letter}{number}", letter, title, text.strip()))
    return items


def load_coverage(coverage_file):
    """The parsed coverage file, checked for shape. Raises ConformError naming what is wrong."""
    path = Path(coverage_file)
    try:
        doc = tomllib.loads(path.read_text())
    except OSError as e:
        raise ConformError(path, f"cannot read the coverage file: {e.strerror}") from None
    except tomllib.TOMLDecodeError as e:
        raise ConformError(path, f"not valid TOML: {e}") from None
    items = doc.get("items", {})
    if not isinstance(items, dict):
        raise ConformError(path, "[items] must be a table of checklist items")
    for item_id, item in items.items():
        if not isinstance(item, dict):
            raise ConformError(path, f"items.{item_id} must be a table")
        patterns = item.get("scenarios", [])
        if not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns):
            raise ConformError(path, f"items.{item_id}.scenarios must be a list of name patterns")
        if "left_out" in item and not (isinstance(item["left_out"], str) and item["left_out"].strip()):
            raise ConformError(path, f"items.{item_id}.left_out must give the reason")
    return doc


def _checklist_path(doc, coverage_file, checklist_file):
    if checklist_file is not None:
        return Path(checklist_file)
    name = doc.get("checklist")
    if not name:
        raise ConformError(coverage_file, "no 'checklist' file named (path relative to the coverage file)")
    return Path(coverage_file).parent / name


def body_of(scenario):
    """'Kinds/Data.MessageBoundaries/dgram_pathname' -> 'Kinds/Data.MessageBoundaries'."""
    suite, _, test = scenario.partition(".")
    return suite + "." + test.split("/")[0]


def _matching(names, pattern, name_set):
    """The names fnmatch's pattern matches, in order: one compiled expression filtering the list
    (half the CPU of 340,000 fnmatchcase calls per report, 0.04 of 0.07 s) and exact names looked up."""
    if not any(c in pattern for c in "*?["):
        return [pattern] if pattern in name_set else []
    return list(filter(re.compile(fnmatch.translate(pattern)).match, names))


def coverage_rows(scenario_names, coverage_file, checklist_file=None):
    """One row per checklist item, in checklist order, then items the coverage file has that the
    checklist does not. Each row: id, area, area_title, text, status, scenarios (matched names),
    count, reason (left out), unmatched (patterns matching no scenario), note, in_checklist."""
    doc = load_coverage(coverage_file)
    mapped = doc.get("items", {})
    names = list(scenario_names)
    name_set = set(names)
    rows = []
    checklist = [(i, letter, title, text, True)
                 for i, letter, title, text in checklist_items(_checklist_path(doc, coverage_file, checklist_file))]
    known = {c[0] for c in checklist}
    extra = [(i, i[:1], "", mapped[i].get("text", ""), False) for i in mapped if i not in known]
    for item_id, letter, title, text, in_checklist in checklist + extra:
        entry = mapped.get(item_id)
        row = {"id": item_id, "area": letter, "area_title": title, "text": text, "scenarios": [],
               "count": 0, "reason": "", "unmatched": [], "note": "", "in_checklist": in_checklist}
        if entry is None:
            row["status"] = NOT_COVERED
            row["note"] = "not mapped in the coverage file"
            rows.append(row)
            continue
        row["note"] = entry.get("note", "")
        matched = []
        for pattern in entry.get("scenarios", []):
            hits = _matching(names, pattern, name_set)
            if not hits:
                row["unmatched"].append(pattern)
            matched.extend(h for h in hits if h not in matched)
        row["scenarios"] = matched
        row["count"] = len(matched)
        if matched:
            row["status"] = COVERED
        elif entry.get("left_out"):
            row["status"] = LEFT_OUT
            row["reason"] = entry["left_out"]
        else:
            row["status"] = NOT_COVERED
            if not entry.get("scenarios"):
                row["note"] = row["note"] or "neither scenarios nor a reason given"
        rows.append(row)
    return rows


def unclaimed_scenarios(scenario_names, rows):
    """Scenarios no checklist item claims (behaviour beyond the checklist), in list order."""
    claimed = {n for r in rows for n in r["scenarios"]}
    return [n for n in scenario_names if n not in claimed]


def coverage_problems(rows):
    """What a coverage check must fail on: patterns that match no scenario, items not covered,
    items in the coverage file that the checklist does not have."""
    problems = []
    for r in rows:
        for p in r["unmatched"]:
            problems.append(f"{r['id']}: pattern {p!r} matches no scenario")
        if r["status"] == NOT_COVERED:
            problems.append(f"{r['id']}: not covered ({r['note'] or 'no scenario matches'})")
        if not r["in_checklist"]:
            problems.append(f"{r['id']}: in the coverage file but not in the checklist")
    return problems


def coverage_summary(rows):
    counts = OrderedDict((s, 0) for s in (COVERED, LEFT_OUT, NOT_COVERED))
    for r in rows:
        counts[r["status"]] += 1
    return counts


def _bodies(names):
    """Scenario names grouped by body: 'Kinds/Data.MessageBoundaries (8 kinds)'."""
    groups = OrderedDict()
    for n in names:
        groups.setdefault(body_of(n), []).append(n)
    out = []
    for body, members in groups.items():
        if len(members) == 1 and members[0] == body:
            out.append(body)
        else:
            out.append(f"{body} ({len(members)} kind{'s' if len(members) != 1 else ''})")
    return out


def _cell(text):
    return text.replace("|", "\\|").replace("\n", " ")


def coverage_markdown(scenario_names, coverage_file, checklist_file=None):
    """The coverage table as Markdown: a summary, then per area every checklist item with its
    status and the scenarios (grouped by body) that cover it, the reason it is left out, or why
    it is not covered; then the scenarios beyond the checklist."""
    names = list(scenario_names)
    rows = coverage_rows(names, coverage_file, checklist_file)
    counts = coverage_summary(rows)
    lines = ["## Coverage of the AF_UNIX checklist", "",
             f"{len(rows)} checklist items: {counts[COVERED]} covered, {counts[LEFT_OUT]} left out, "
             f"{counts[NOT_COVERED]} not covered, by {len(names)} scenario instances.", ""]
    problems = coverage_problems(rows)
    if problems:
        lines += ["Problems:", ""] + [f"- {_cell(p)}" for p in problems] + [""]
    area = None
    for r in rows:
        if r["area"] != area:
            area = r["area"]
            title = r["area_title"] or "beyond the checklist"
            lines += ["", f"### {area}. {title}", "", "| item | behaviour | status | scenarios |",
                      "|---|---|---|---|"]
        if r["status"] == COVERED:
            detail = f"{r['count']}: " + ", ".join(_bodies(r["scenarios"]))
            if r["unmatched"]:
                detail += "; matching nothing: " + ", ".join(r["unmatched"])
        elif r["status"] == LEFT_OUT:
            detail = r["reason"]
        else:
            detail = r["note"] or "no scenario matches " + ", ".join(r["unmatched"])
        if r["note"] and r["status"] == COVERED:
            detail += f" ({r['note']})"
        lines.append(f"| {r['id']} | {_cell(r['text'])} | {r['status']} | {_cell(detail)} |")
    extra = unclaimed_scenarios(names, rows)
    lines += ["", f"### Beyond the checklist ({len(extra)} scenario instances)", ""]
    lines += [f"- {b}" for b in _bodies(extra)] if extra else ["(none)"]
    return "\n".join(lines) + "\n"
