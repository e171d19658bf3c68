"""Traces: reading and validating them, their canonical form in expected/, and per-actor diffs.

The format is documented in docs/trace-format.md.
"""

import difflib
import json
from pathlib import Path

from .errors import ConformError

SCHEMA = 1
STATUSES = ("ran", "unsupported")
RUN_KEYS = ("backend", "kernel", "machine", "abi", "suite_revision")


def file_name(scenario):
    """Where a scenario's trace lives: parameterised names contain '/', which files cannot."""
    return scenario.replace("/", "~") + ".json"


def validate(doc, where):
    """Checks a trace document's shape; raises ConformError naming the file and what is wrong."""
    if not isinstance(doc, dict):
        raise ConformError(where, "a trace must be a JSON object")
    if doc.get("schema") != SCHEMA:
        raise ConformError(where, f"schema {doc.get('schema')!r} is not {SCHEMA}")
    if not isinstance(doc.get("scenario"), str) or not doc["scenario"]:
        raise ConformError(where, "missing 'scenario' name")
    if doc.get("status") not in STATUSES:
        raise ConformError(where, f"status {doc.get('status')!r} is not one of {', '.join(STATUSES)}")
    actors = doc.get("actors")
    if not isinstance(actors, list):
        raise ConformError(where, "'actors' must be a list")
    for i, actor in enumerate(actors):
        if not isinstance(actor, dict):
            raise ConformError(where, f"actor {i} must be an object")
        for key in ("role", "identity", "end"):
            if not isinstance(actor.get(key), str):
                raise ConformError(where, f"actor {i} has no '{key}' string")
        if not isinstance(actor.get("judged", True), bool):
            raise ConformError(where, f"actor {i} 'judged' must be true or false")
        obs = actor.get("observations")
        if not isinstance(obs, list) or not all(isinstance(o, dict) and "op" in o for o in obs):
            raise ConformError(where, f"actor '{actor['role']}' observations must be objects with an 'op'")
    return doc


def validate_run_info(doc, where):
    run = doc.get("run")
    if not isinstance(run, dict) or not all(isinstance(run.get(k), str) for k in RUN_KEYS):
        raise ConformError(where, f"'run' metadata must give {', '.join(RUN_KEYS)}")
    return run


def load(path, require_run_info=True):
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as e:
        raise ConformError(path, f"cannot read trace: {e.strerror}") from None
    except UnicodeDecodeError as e:
        raise ConformError(path, f"corrupt trace, not UTF-8 (byte {e.start})") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise ConformError(path, f"corrupt trace, not JSON: {e.msg} at line {e.lineno}") from None
    validate(doc, path)
    if require_run_info:
        validate_run_info(doc, path)
    return doc


def judged(actor):
    """Attackers are not judged: their observations are evidence, the victims' are the verdict."""
    return actor.get("judged", True)


def behaviour(doc):
    """The part of a trace that must equal the oracle: what happened, not where it ran, and not
    what an attacker says it did."""
    out = {"status": doc["status"], "actors": [a for a in doc["actors"] if judged(a)]}
    if doc["status"] == "unsupported":
        out["reason"] = doc.get("reason", "")
    return out


def observation_line(obs):
    return json.dumps(obs, separators=(", ", ": "))


def canonical(doc):
    """The expected/ form of a trace: stable key order, one observation per line, no run metadata,
    so that re-recording on the same kernel changes no byte and reviews read like the story."""
    lines = ["{", f'  "schema": {SCHEMA},', f'  "scenario": {json.dumps(doc["scenario"])},',
             f'  "status": {json.dumps(doc["status"])},', '  "actors": [']
    for i, actor in enumerate(doc["actors"]):
        lines.append("    {")
        lines.append(f'      "role": {json.dumps(actor["role"])},')
        lines.append(f'      "identity": {json.dumps(actor["identity"])},')
        if not judged(actor):
            lines.append('      "judged": false,')
        obs = actor["observations"]
        if obs:
            lines.append('      "observations": [')
            for j, o in enumerate(obs):
                lines.append("        " + observation_line(o) + ("," if j < len(obs) - 1 else ""))
            lines.append("      ],")
        else:
            lines.append('      "observations": [],')
        lines.append(f'      "end": {json.dumps(actor["end"])}')
        lines.append("    }" + ("," if i < len(doc["actors"]) - 1 else ""))
    lines.append("  ]")
    lines.append("}")
    return "\n".join(lines) + "\n"


def evidence(doc):
    """The attackers' observations, for the record next to a security verdict."""
    lines = []
    for actor in doc.get("actors", []):
        if not judged(actor):
            lines.append(f"{actor['role']} ({actor['identity']}), not judged:")
            lines.extend("  " + observation_line(o) for o in actor["observations"])
            lines.append(f"  end: {actor['end']}")
    return "\n".join(lines)


def diff(expected, observed):
    """A readable per-actor diff of two traces' behaviour: which actor, which step, expected vs
    observed. Empty when they agree."""
    out = []
    if expected["status"] != observed["status"]:
        out.append(f"status: expected {expected['status']}, observed {observed['status']}"
                   + (f" ({observed.get('reason')})" if observed.get("reason") else ""))
        return "\n".join(out)
    exp_actors = {a["role"]: a for a in expected["actors"]}
    obs_actors = {a["role"]: a for a in observed["actors"]}
    for role in list(exp_actors) + [r for r in obs_actors if r not in exp_actors]:
        e, o = exp_actors.get(role), obs_actors.get(role)
        if e is None or o is None:
            out.append(f"actor {role}: {'missing' if o is None else 'unexpected'}")
            continue
        lines = _diff_actor(e, o)
        if lines:
            out.append(f"actor {role} ({e['identity']}):")
            out.extend("  " + line for line in lines)
    return "\n".join(out)


def _diff_actor(e, o):
    lines = []
    if e["identity"] != o["identity"]:
        lines.append(f"identity: expected {e['identity']}, observed {o['identity']}")
    a = [observation_line(x) for x in e["observations"]]
    b = [observation_line(x) for x in o["observations"]]
    matcher = difflib.SequenceMatcher(a=a, b=b, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        for k in range(max(i2 - i1, j2 - j1)):
            step = (i1 + k if i1 + k < i2 else i2) + 1
            exp = a[i1 + k] if i1 + k < i2 else None
            obs = b[j1 + k] if j1 + k < j2 else None
            op = json.loads(exp or obs)["op"]
            lines.append(f"step {step} ({op}):")
            lines.append(f"  expected: {exp if exp is not None else '(nothing)'}")
            lines.append(f"  observed: {obs if obs is not None else '(nothing)'}")
    if e["end"] != o["end"]:
        lines.append(f"end: expected {e['end']!r}, observed {o['end']!r}")
    return lines
