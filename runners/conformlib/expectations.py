"""Known deviations per backend: runners/expectations/<backend>.toml, and the statuses they give.

A backend's file lists its known deviations, each tied to a finding (a triage note's anchor or an
upstream bug) and identified by its signature (signatures.py), so that a known FAIL whose deviation
changes shape is reported, not silently accepted:

    [findings.Q1]
    title = "Socket options qemu does not know are refused or ignored"
    url = "docs/triage/qemu-x86_64.md#q1"

    [[deviation]]
    finding = "Q1"
    verdict = "FAIL"                  # or a set of known intermittent verdicts: ["FAIL", "PASS"]
    signature = 'setsockopt: result expected "ok", observed "ENOPROTOOPT"'
    when = { arch = "x86_64" }        # optional; arch, abi, kernel, version (glob patterns)
    scenarios = ["Kinds/Data.PeekOffset/*", "Options.PeekOffsetDefault"]   # names or globs

Statuses (verdicts.py): a cell that matches an entry's verdict and signature is XFAIL; a PASS where
an entry expected a deviation is XPASS; the expected verdict with another signature is FAIL
("changed deviation", both signatures given); a cell no entry names keeps its verdict. Every status
but PASS, XFAIL and UNSUPPORTED is unexpected and fails `./conform run`.

`./conform expect --update RUN` rewrites the files from a run (update()), keeping finding ids and
links; the format is written by dump() so that a regenerated file diffs well.
"""

import fnmatch
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from . import verdicts
from .errors import ConformError

try:
    import tomllib
except ImportError:  # Python < 3.11: Debian's python3-tomli
    import tomli as tomllib

UNTRIAGED = "untriaged"
UNTRIAGED_URL = "docs/triage/README.md#untriaged"
CONDITION_KEYS = {"arch": "machine", "abi": "abi", "kernel": "kernel", "version": "version"}
ENTRY_KEYS = {"finding", "verdict", "signature", "when", "scenarios", "note"}
FINDING_KEYS = {"title", "url"}
TOP_KEYS = {"backend", "findings", "deviation"}
# A set of intermittent verdicts may include these beside at least one deviation.
ALSO_IN_SETS = ("PASS", "UNSUPPORTED")


@dataclass
class Finding:
    id: str
    url: str
    title: str = ""

    def as_json(self):
        return {"id": self.id, "url": self.url, "title": self.title}


@dataclass
class Entry:
    finding: str
    verdicts: tuple
    scenarios: list
    signatures: tuple = ()  # empty: any signature (hand-written entries only)
    when: dict = field(default_factory=dict)
    note: str = ""

    def names(self, scenario):
        return any(p == scenario or fnmatch.fnmatchcase(scenario, p) for p in self.scenarios)

    def applies(self, run_info):
        """Whether the entry's condition holds for this backend's run info (machine, abi, kernel,
        version); an entry without a condition always applies."""
        for key, pattern in self.when.items():
            value = str(run_info.get(CONDITION_KEYS[key]) or "")
            if not fnmatch.fnmatchcase(value, pattern):
                return False
        return True

    def matches(self, verdict, signature):
        if verdict not in self.verdicts:
            return False
        return verdict in ALSO_IN_SETS or not self.signatures or signature in self.signatures


@dataclass
class Expectations:
    backend: str
    path: Path = None
    findings: dict = field(default_factory=dict)  # id -> Finding
    entries: list = field(default_factory=list)

    def finding(self, fid):
        return self.findings.get(fid) or Finding(fid, UNTRIAGED_URL if fid == UNTRIAGED else "")

    def naming(self, scenario):
        """The entries that name the scenario, in file order. Indexed once: a run asks for each of
        its 10,000 cells, and trying each entry's patterns in turn was 2 million fnmatch calls.
        (Made anew when the list of entries is replaced or grows; an entry's scenarios are not
        changed in place once loaded: update() works on copies.)"""
        key = (id(self.entries), len(self.entries))
        index = self.__dict__.get("_naming")
        if index is None or index[0] != key:
            exact, wild = {}, []
            for i, e in enumerate(self.entries):
                for p in e.scenarios:
                    exact.setdefault(p, []).append(i)
                    if any(c in p for c in "*?["):
                        wild.append((re.compile(fnmatch.translate(p)).match, i))
            index = self.__dict__["_naming"] = (key, exact, wild)
        _, exact, wild = index
        found = set(exact.get(scenario, ()))
        found.update(i for match, i in wild if match(scenario))
        return [self.entries[i] for i in sorted(found)]


def _problem(path, where, problem):
    return ConformError(path, f"{where}: {problem}")


def _str_list(value, path, where, key):
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        raise _problem(path, where, f"'{key}' must be a non-empty string or list of strings")
    return value


def parse(text, path, backend):
    """Expectations from a file's text; raises ConformError naming the file, the entry and the
    problem (one line)."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConformError(path, f"not valid TOML: {e}") from None
    unknown = set(doc) - TOP_KEYS
    if unknown:
        raise _problem(path, "top level", f"unknown key '{sorted(unknown)[0]}' (known: {', '.join(sorted(TOP_KEYS))})")
    if doc.get("backend", backend) != backend:
        raise _problem(path, "top level", f"backend '{doc['backend']}' is not the file's name '{backend}'")
    out = Expectations(backend, Path(path))
    findings = doc.get("findings", {})
    if not isinstance(findings, dict):
        raise _problem(path, "findings", "must be a table of [findings.<id>]")
    for fid, f in findings.items():
        where = f"finding {fid}"
        if not isinstance(f, dict):
            raise _problem(path, where, "must be a table with title and url")
        if set(f) - FINDING_KEYS:
            raise _problem(path, where, f"unknown key '{sorted(set(f) - FINDING_KEYS)[0]}' (known: title, url)")
        url = f.get("url")
        if not isinstance(url, str) or not (url.startswith(("http://", "https://")) or
                                            (url.startswith("docs/") and "#" in url)):
            raise _problem(path, where, "url must be a docs/...#anchor of a triage note or an http(s) URL")
        if not isinstance(f.get("title", ""), str):
            raise _problem(path, where, "title must be a string")
        out.findings[fid] = Finding(fid, url, f.get("title", ""))
    entries = doc.get("deviation", [])
    if not isinstance(entries, list):
        raise _problem(path, "deviation", "must be an array of [[deviation]] tables")
    for i, e in enumerate(entries, 1):
        where = f"deviation {i}"
        if not isinstance(e, dict):
            raise _problem(path, where, "must be a table")
        if isinstance(e.get("scenarios"), list) and e["scenarios"] and isinstance(e["scenarios"][0], str):
            where += f" ({e['scenarios'][0]})"
        if set(e) - ENTRY_KEYS:
            raise _problem(path, where, f"unknown key '{sorted(set(e) - ENTRY_KEYS)[0]}' "
                                        f"(known: {', '.join(sorted(ENTRY_KEYS))})")
        for key in ("finding", "verdict", "scenarios"):
            if key not in e:
                raise _problem(path, where, f"missing '{key}'")
        fid = e["finding"]
        if not isinstance(fid, str) or not fid:
            raise _problem(path, where, "'finding' must be a finding id")
        if fid != UNTRIAGED and fid not in out.findings:
            raise _problem(path, where, f"finding '{fid}' is not defined: add [findings.{fid}] with its url")
        vs = _str_list(e["verdict"], path, where, "verdict")
        for v in vs:
            if v not in verdicts.EXPECTABLE and v not in ALSO_IN_SETS:
                raise _problem(path, where, f"verdict '{v}' cannot be expected "
                                            f"(one of {', '.join(verdicts.EXPECTABLE)}, or a set with PASS)")
        if not any(v in verdicts.EXPECTABLE for v in vs):
            raise _problem(path, where, f"verdict {vs} names no deviation ({', '.join(verdicts.EXPECTABLE)})")
        scenarios = _str_list(e["scenarios"], path, where, "scenarios")
        sigs = _str_list(e["signature"], path, where, "signature") if "signature" in e else []
        when = e.get("when", {})
        if not isinstance(when, dict) or set(when) - set(CONDITION_KEYS) or \
                not all(isinstance(v, str) for v in when.values()):
            raise _problem(path, where, f"'when' must be a table of glob strings for {', '.join(CONDITION_KEYS)}")
        if not isinstance(e.get("note", ""), str):
            raise _problem(path, where, "'note' must be a string")
        out.entries.append(Entry(fid, tuple(vs), scenarios, tuple(sigs), dict(when), e.get("note", "")))
    return out


def load(directory, backend):
    """The backend's expectations (empty when it has no file)."""
    path = Path(directory) / f"{backend}.toml"
    if not path.exists():
        return Expectations(backend, path)
    try:
        text = path.read_text()
    except OSError as e:
        raise ConformError(path, f"cannot read: {e.strerror}") from None
    return parse(text, path, backend)


def load_dir(directory):
    """Every file in a directory (validating them all)."""
    return {p.stem: load(directory, p.stem) for p in sorted(Path(directory).glob("*.toml"))}


# ---- statuses ---------------------------------------------------------------------------------

def classify(row, exp, run_info):
    """The status of one results.json row against its backend's expectations: returns the fields
    the row gets (status, unexpected, finding, expectation, reason)."""
    verdict, signature = row["verdict"], row.get("signature")
    entries = [e for e in exp.naming(row["scenario"]) if e.applies(run_info)]
    out = {"status": verdict, "unexpected": verdicts.is_unexpected(verdict), "finding": None,
           "expectation": None, "reason": ""}
    if not entries:
        if out["unexpected"]:
            out["reason"] = f"{verdict} not in {exp.backend}'s expectations" + (f": {signature}" if signature else "")
        return out
    matched = next((e for e in entries if e.matches(verdict, signature)), None)
    entry = matched or next((e for e in entries if verdict in e.verdicts), entries[0])
    out["finding"] = exp.finding(entry.finding).as_json()
    out["expectation"] = {"verdicts": list(entry.verdicts), "signatures": list(entry.signatures)}
    if matched:
        out["status"] = verdict if verdict in ("PASS", "UNSUPPORTED") else "XFAIL"
        out["unexpected"] = False
        return out
    expected = "/".join(entry.verdicts)
    out["unexpected"] = True
    if verdict == "PASS":
        out["status"] = "XPASS"
        out["reason"] = f"passed, but {expected} was expected (finding {entry.finding}): fixed, or a stale entry"
    elif verdict in entry.verdicts:
        out["status"] = "FAIL"
        out["reason"] = (f"changed deviation (finding {entry.finding}): expected signature "
                         + " | ".join(entry.signatures) + f"; observed {signature}")
    else:
        out["reason"] = f"{verdict}, but {expected} was expected (finding {entry.finding})" + (
            f": {signature}" if signature else "")
    return out


class KnownDeviations:
    """Asked while a run goes: is this first attempt's deviation one that its backend's file lists
    with this very verdict and signature (it would be XFAIL)? The runner confirms every other
    deviation with an isolated second attempt and leaves these at one: the entry was triaged from a
    run in which that deviation was confirmed alone, and a second attempt of each of an emulation's
    600 known deviations would double its run to learn nothing. `./conform run --confirm-all`
    confirms them too (the run that compares batched with --isolate uses it)."""

    def __init__(self, directory):
        self.directory = directory
        self._files = {}

    def __call__(self, backend, scenario, verdict, signature, run_info=None):
        if backend not in self._files:
            self._files[backend] = load(self.directory, backend)
        row = {"scenario": scenario, "verdict": verdict, "signature": signature}
        return classify(row, self._files[backend], run_info or {})["status"] == "XFAIL"


def apply(doc, directory):
    """Gives every row of a results document its status against the files in `directory`."""
    cache = {}
    for row in doc["results"]:
        b = row["backend"]
        if b not in cache:
            cache[b] = load(directory, b)
        info = dict(doc["backends"].get(b, {}).get("run_info") or {})
        info["version"] = doc["backends"].get(b, {}).get("version") or ""
        row.update(classify(row, cache[b], info))
    return doc


def unexpected(doc):
    """The rows that make a run fail, in the order a reader wants them (by backend, scenario)."""
    return [r for r in doc["results"] if r.get("unexpected", verdicts.is_unexpected(r["verdict"]))]


def status_counts(rows):
    """{status: n} over the statuses, plus 'expected' and 'unexpected' totals."""
    c = dict.fromkeys(verdicts.STATUS_NAMES, 0)
    c["expected"] = c["unexpected"] = 0
    for r in rows:
        c[r.get("status", r["verdict"])] += 1
        c["unexpected" if r.get("unexpected") else "expected"] += 1
    return c


def deviations(doc):
    """Every backend's distinct deviations: its non-PASS cells grouped by signature, largest first,
    each with its count, verdicts, finding and scenarios."""
    out = {}
    for b in doc["backends"]:
        groups = {}
        for r in doc["results"]:
            if r["backend"] != b or r["verdict"] in ("PASS", "UNSUPPORTED"):
                continue
            sig = r.get("signature") or r["verdict"]
            g = groups.setdefault(sig, {"signature": sig, "count": 0, "verdicts": {}, "statuses": {},
                                        "finding": None, "scenarios": []})
            g["count"] += 1
            g["verdicts"][r["verdict"]] = g["verdicts"].get(r["verdict"], 0) + 1
            st = r.get("status", r["verdict"])
            g["statuses"][st] = g["statuses"].get(st, 0) + 1
            g["finding"] = g["finding"] or r.get("finding")
            g["scenarios"].append(r["scenario"])
        if groups:
            out[b] = sorted(groups.values(), key=lambda g: (-g["count"], g["signature"]))
    return out


# ---- updating from a run ----------------------------------------------------------------------

def update(exp, rows, run_info=None, drop_passing=False, union=False):
    """New expectations for one backend from its results rows (with signatures), and the lines
    saying what changed. Entries that still hold are kept as they are. A cell whose deviation
    changed keeps its finding under the new signature. Cells no entry names become entries under
    "untriaged", one per (verdict, signature). A pattern whose cells all pass now is dropped only
    with drop_passing (otherwise it stays, and the run shows XPASS). Scenarios the run did not
    include, and entries whose condition does not hold for this run, are left alone. union: a
    changed cell's new signature is added to the entry that names it instead (for a deviation whose
    shape varies from run to run: update from one run, then with union from another)."""
    run_info = run_info or {}
    by = {r["scenario"]: r for r in rows}
    live = [e for e in exp.entries if e.applies(run_info)]

    def holder(entries, s):
        r = by[s]
        return next((e for e in entries if e.names(s) and e.matches(r["verdict"], r.get("signature"))), None)

    changes = []
    if union:
        live = [Entry(e.finding, e.verdicts, list(e.scenarios), e.signatures, dict(e.when), e.note) for e in live]
        exp = Expectations(exp.backend, exp.path, exp.findings,
                           live + [e for e in exp.entries if not e.applies(run_info)])
        for s, r in by.items():
            if holder(live, s) or r["verdict"] not in verdicts.EXPECTABLE + ALSO_IN_SETS:
                continue
            entry = next((e for e in live if e.names(s) and r["verdict"] in e.verdicts), None) or \
                next((e for e in live if e.names(s)), None)
            if entry is None or (r["verdict"] == "UNSUPPORTED" and r["verdict"] not in entry.verdicts):
                continue
            if r["verdict"] not in entry.verdicts:
                entry.verdicts = entry.verdicts + (r["verdict"],)
            if r.get("signature") and entry.signatures and r["verdict"] not in ALSO_IN_SETS:
                entry.signatures = entry.signatures + (r["signature"],)
            changes.append(f"{exp.backend} {s}: another outcome of finding {entry.finding}'s deviation added "
                           f"to its entry: {r['verdict']} {r.get('signature') or ''}".rstrip())
    held = {s: holder(live, s) for s in by}
    kept = []
    for e in exp.entries:
        if e not in live:
            kept.append(e)
            continue
        patterns = []
        for p in e.scenarios:
            cells = [s for s in by if p == s or fnmatch.fnmatchcase(s, p)]
            if not cells or any(held[s] is e for s in cells):
                patterns.append(p)
                continue
            passing = [s for s in cells if by[s]["verdict"] == "PASS"]
            if passing and not drop_passing:
                patterns.append(p)
            for s in passing:
                changes.append(f"{exp.backend} {s}: passes now; " + (
                    f"dropped from finding {e.finding}" if drop_passing
                    else f"kept under finding {e.finding}, so it shows XPASS (--drop-passing removes it)"))
        if patterns:
            kept.append(Entry(e.finding, e.verdicts, patterns, e.signatures, dict(e.when), e.note))
    moved = {}  # (finding, verdict, signature, when) -> scenarios
    for s, r in by.items():
        if r["verdict"] in ("PASS", "UNSUPPORTED") or holder(kept, s):
            continue
        if r["verdict"] not in verdicts.EXPECTABLE:
            changes.append(f"{exp.backend} {s}: {r['verdict']} is never an expected result; fix the run first")
            continue
        before = next((e for e in live if e.names(s)), None)
        sig = r.get("signature") or ""
        if before:
            key = (before.finding, r["verdict"], sig, tuple(sorted(before.when.items())))
            changes.append(f"{exp.backend} {s}: deviation changed, kept under finding {before.finding} "
                           f"(check that it still fits): {r['verdict']} {sig}")
        else:
            key = (UNTRIAGED, r["verdict"], sig, ())
            changes.append(f"{exp.backend} {s}: new {r['verdict']}, untriaged: {sig}")
        moved.setdefault(key, []).append(s)
    for (fid, verdict, sig, when), scenarios in moved.items():
        sigs = (sig,) if sig else ()
        target = next((e for e in kept if e.finding == fid and e.signatures == sigs and e.verdicts == (verdict,)
                       and tuple(sorted(e.when.items())) == when), None)
        if target:
            target.scenarios = target.scenarios + [s for s in scenarios if s not in target.scenarios]
        else:
            kept.append(Entry(fid, (verdict,), scenarios, sigs, dict(when)))
    return Expectations(exp.backend, exp.path, dict(exp.findings), kept), changes


def _toml_str(s):
    return json.dumps(s, ensure_ascii=False)


def _toml_list(items, indent="  "):
    if len(items) == 1 and len(items[0]) < 60:
        return f"[{_toml_str(items[0])}]"
    return "[\n" + "".join(f"{indent}{_toml_str(i)},\n" for i in items) + "]"


def dump(exp):
    """The file text: findings first, then deviations grouped by finding (largest first), each
    with its scenarios sorted, so that regenerating a file changes only what changed."""
    lines = [f"# Known deviations of {exp.backend}: see runners/expectations/README.md.",
             "# Regenerate with ./conform expect --update RUN (finding ids and links are kept);",
             f"# entries under finding \"{UNTRIAGED}\" still need a triage note.", "",
             f"backend = {_toml_str(exp.backend)}", ""]
    used = {e.finding for e in exp.entries}
    for fid, f in sorted(exp.findings.items()):
        if fid not in used and fid != UNTRIAGED:
            continue
        lines += [f"[findings.{_key(fid)}]"]
        if f.title:
            lines.append(f"title = {_toml_str(f.title)}")
        lines += [f"url = {_toml_str(f.url)}", ""]
    order = {fid: i for i, fid in enumerate(sorted(exp.findings))}
    entries = sorted(exp.entries, key=lambda e: (e.finding == UNTRIAGED, order.get(e.finding, 1 << 20),
                                                 e.finding, -len(e.scenarios), e.signatures))
    for e in entries:
        lines.append("[[deviation]]")
        lines.append(f"finding = {_toml_str(e.finding)}")
        lines.append("verdict = " + (_toml_str(e.verdicts[0]) if len(e.verdicts) == 1
                                     else "[" + ", ".join(_toml_str(v) for v in e.verdicts) + "]"))
        if e.signatures:
            lines.append("signature = " + (_toml_str(e.signatures[0]) if len(e.signatures) == 1
                                           else _toml_list(list(e.signatures))))
        if e.when:
            lines.append("when = { " + ", ".join(f"{k} = {_toml_str(v)}" for k, v in sorted(e.when.items())) + " }")
        if e.note:
            lines.append(f"note = {_toml_str(e.note)}")
        lines.append("scenarios = " + _toml_list(sorted(e.scenarios)))
        lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def _key(k):
    return k if _BARE_KEY.match(k) else _toml_str(k)
