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


# ---- differences ----------------------------------------------------------------------------
#
# Two traces are compared actor by actor. Within an actor, steps are aligned by position when both
# traces made the same operations in the same order (the common case: same story, other outcomes);
# only when the operations themselves differ is a sequence matcher used, over the operation names,
# so that a step with the same operation and other values is still one changed step, not a missing
# one plus an invented one.
#
# Every difference is a Difference; the first one of a trace is its cause, and the ones that follow
# from it are marked knock-on (see _mark_knock_on). first_difference() is the stable, structured
# entry point (deviation signatures are computed from it); diff() and message() render them.

# Keys of an observation that describe what the call was asked to do (its arguments) come before
# "result"; these never name an argument even when they do.
_NOT_ARGUMENTS = ("op", "level")
# What a step's outcome is recorded under, by precedence.
_OUTCOME_KEYS = ("result",)
# Results that mean "waited for something another actor did not do": the actor's own differences
# that start this way follow from another actor's.
_WAITING = ("timeout", "blocked")


class Difference(dict):
    """One difference between the expected and the observed trace, as plain data:
      kind      "status" | "actor" | "identity" | "value" | "missing" | "extra" | "end"
      actor     role of the actor (None for "status")
      step      1-based step in the expected trace ("extra": where it would be); None for the rest
      op        the operation's name ("setsockopt"), None for status/identity/end/actor
      operation the call as a reader names it: "setsockopt(SO_PEEK_OFF, 0)"
      field     which field differs ("result", "addrlen", "overrun", ...; "end", "status", ...)
      expected  the oracle's value (None when absent)
      observed  the backend's value (None when absent)
      knock_on  True when it follows from an earlier difference of the trace
      observed_step  1-based step in the observed trace (None when it has none there)
      observed_operation  (field "op" only) the call the backend made in its place
    A dict, so it serialises as it is; keys are stable."""


def operation(obs):
    """The call as a reader names it: the op and its arguments in recorded order, e.g.
    `setsockopt(SO_PEEK_OFF, 0)`, `connect(srv.sock)`, `getsockname()`."""
    args = []
    for key, value in obs.items():
        if key in _OUTCOME_KEYS:
            break
        if key in _NOT_ARGUMENTS:
            continue
        args.append(_short(value))
    return f"{obs.get('op', '?')}({', '.join(args)})"


def _short(value, limit=24):
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _fields(e, o):
    """Keys whose values differ, outcome first, then in the observations' order."""
    keys = list(dict.fromkeys([*e.keys(), *o.keys()]))
    order = sorted(range(len(keys)), key=lambda n: (keys[n] not in _OUTCOME_KEYS, n))
    return [keys[n] for n in order if e.get(keys[n]) != o.get(keys[n])]


def _align(a, b):
    """Pairs of step indexes (i, j), None where one side has no step: by position when the two
    actors made the same operations, else by a sequence matcher over the operation names."""
    ops_a, ops_b = [x["op"] for x in a], [x["op"] for x in b]
    if ops_a == ops_b:
        return [(i, i) for i in range(len(a))]
    pairs = []
    matcher = difflib.SequenceMatcher(a=ops_a, b=ops_b, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            pairs += [(i1 + k, j1 + k) for k in range(i2 - i1)]
        elif tag == "replace" and i2 - i1 == j2 - j1:
            pairs += [(i1 + k, j1 + k) for k in range(i2 - i1)]  # other operations in the same places
        else:
            pairs += [(i, None) for i in range(i1, i2)] + [(None, j) for j in range(j1, j2)]
    return pairs


def _actor_differences(e, o):
    role = e["role"]
    out = []
    if e["identity"] != o["identity"]:
        out.append(Difference(kind="identity", actor=role, step=None, op=None, operation=f"actor {role}",
                              field="identity", expected=e["identity"], observed=o["identity"]))
    a, b = e["observations"], o["observations"]
    last_step = 0
    for i, j in _align(a, b):
        x = a[i] if i is not None else None
        y = b[j] if j is not None else None
        if i is not None:
            last_step = i + 1
        at = dict(observed_step=None if j is None else j + 1)
        if x is not None and y is not None:
            if x == y:
                continue
            if x["op"] != y["op"]:
                # The values are the operations' names (a signature groups by them); the message
                # shows the observed call in full.
                out.append(Difference(kind="value", actor=role, step=i + 1, op=x["op"], operation=operation(x),
                                      field="op", expected=x["op"], observed=y["op"],
                                      observed_operation=operation(y), **at))
                continue
            f = _fields(x, y)[0]  # one difference per step: the most telling field (the outcome first)
            out.append(Difference(kind="value", actor=role, step=i + 1, op=x["op"], operation=operation(x),
                                  field=f, expected=x.get(f), observed=y.get(f), **at))
        elif x is not None:
            out.append(Difference(kind="missing", actor=role, step=i + 1, op=x["op"], operation=operation(x),
                                  field="op", expected=x.get("result", "done"), observed=None, **at))
        else:
            out.append(Difference(kind="extra", actor=role, step=last_step + 1, op=y["op"], operation=operation(y),
                                  field="op", expected=None, observed=y.get("result", "done"), **at))
    if e["end"] != o["end"]:
        out.append(Difference(kind="end", actor=role, step=None, op=None, operation=f"actor {role}",
                              field="end", expected=e["end"], observed=o["end"]))
    return out


def differences(expected, observed):
    """Every difference between two traces' behaviour (see behaviour()), in trace order, the ones
    that follow from an earlier one marked knock_on. Empty when they agree."""
    if expected["status"] != observed["status"]:
        return [Difference(kind="status", actor=None, step=None, op=None, operation="scenario",
                           field="status", expected=expected["status"], observed=observed["status"],
                           knock_on=False, reason=observed.get("reason", ""))]
    exp_actors = {a["role"]: a for a in expected["actors"]}
    obs_actors = {a["role"]: a for a in observed["actors"]}
    per_actor = []
    for role in list(exp_actors) + [r for r in obs_actors if r not in exp_actors]:
        e, o = exp_actors.get(role), obs_actors.get(role)
        if e is None or o is None:
            per_actor.append([Difference(kind="actor", actor=role, step=None, op=None, operation=f"actor {role}",
                                         field="actor", expected=None if e is None else "present",
                                         observed=None if o is None else "present")])
        else:
            per_actor.append(_actor_differences(e, o))
    return _mark_knock_on([d for d in per_actor if d])


def _is_waiting(d):
    return d["kind"] in ("missing", "end") or (
        d["kind"] == "value" and (d["op"] == "wait" or d["observed"] in _WAITING))


def _mark_knock_on(per_actor):
    """Within an actor, everything after its first difference follows from it (a failed bind makes
    the listen fail, a failed connect the send). Across actors, an actor whose first difference is
    a wait that timed out, a step it never reached or its end follows from another actor's
    difference. The cause of the trace is the first difference that is not knock-on."""
    out = []
    any_primary = any(not _is_waiting(ds[0]) for ds in per_actor)
    for ds in per_actor:
        lead_waits = any_primary and _is_waiting(ds[0])
        for k, d in enumerate(ds):
            d["knock_on"] = k > 0 or lead_waits
            out.append(d)
    if out and all(d["knock_on"] for d in out):
        out[0]["knock_on"] = False
    return out


def first_difference(expected, observed):
    """The cause of a deviation as plain data (a Difference: kind, actor, step, op, operation,
    field, expected, observed), or None when the traces agree. Takes whole trace documents or
    their behaviour(). Deviation signatures are computed from this: its shape is stable."""
    if "actors" in expected and "schema" in expected:
        expected, observed = behaviour(expected), behaviour(observed)
    ds = differences(expected, observed)
    primary = [d for d in ds if not d["knock_on"]]
    return (primary or ds or [None])[0]


def _value(v):
    if v is None:
        return "nothing"
    return v if isinstance(v, str) else json.dumps(v, separators=(", ", ": "))


def describe(d):
    """One line for one difference, naming the call and the expected and observed values:
    `setsockopt(SO_PEEK_OFF, 0): expected ok, observed ENOPROTOOPT`."""
    kind, field = d["kind"], d["field"]
    if kind == "status":
        return (f"scenario: expected {d['expected']}, observed {d['observed']}"
                + (f" ({d['reason']})" if d.get("reason") else ""))
    if kind == "actor":
        return f"actor {d['actor']}: " + ("missing" if d["observed"] is None else "not in the oracle's trace")
    if kind == "identity":
        return f"actor {d['actor']} identity: expected {d['expected']}, observed {d['observed']}"
    if kind == "end":
        return f"actor {d['actor']} end: expected {d['expected']}, observed {d['observed']}"
    if kind == "missing":
        return f"{d['operation']}: expected {_value(d['expected'])}, observed nothing (step never made)"
    if kind == "extra":
        return f"{d['operation']}: expected nothing, observed {_value(d['observed'])} (step not in the oracle's trace)"
    if field == "op":
        return f"step {d['step']}: expected {d['operation']}, observed {d.get('observed_operation', d['observed'])}"
    if field == "overrun":
        return f"{d['operation']}: {_overrun_text(d['observed'])}"
    what = "" if field in _OUTCOME_KEYS else f"{field} "
    return f"{d['operation']}: {what}expected {_value(d['expected'])}, observed {_value(d['observed'])}"


def _overrun_text(value):
    """Overruns are recorded as {buffer: bytes written past its end} (a list of names in older
    traces, which said only which buffers)."""
    if isinstance(value, dict):
        return "wrote past the buffer: " + ", ".join(
            f"{buf} by {n} byte{'s' if n != 1 else ''}" if isinstance(n, int) else f"{buf} ({n})"
            for buf, n in value.items())
    if isinstance(value, list):
        return "wrote past the buffer: " + ", ".join(map(str, value))
    return "overrun: expected none, observed " + _value(value)


def message(expected, observed):
    """The one-line verdict message: the first cause, where it happened, and how many more
    differences there are."""
    ds = differences(expected, observed)
    if not ds:
        return ""
    first = first_difference(expected, observed)
    where = f" (actor {first['actor']}" + (f", step {first['step']})" if first["step"] else ")") if first["actor"] else ""
    rest = len(ds) - 1
    knock = sum(1 for d in ds if d["knock_on"] and d is not first)
    more = ""
    if rest:
        more = f"; {rest} more difference{'s' if rest != 1 else ''}" + (f" ({knock} knock-on)" if knock else "")
    return describe(first) + where + more


def diff(expected, observed):
    """A readable per-actor diff of two traces' behaviour: which actor, which step, what differs,
    expected vs observed in full, knock-on differences marked. Empty when they agree."""
    ds = differences(expected, observed)
    if not ds:
        return ""
    if ds[0]["kind"] == "status":
        return "status: " + describe(ds[0])[len("scenario: "):]
    exp_actors = {a["role"]: a for a in expected["actors"]}
    obs_actors = {a["role"]: a for a in observed["actors"]}
    out, current = [], None
    for d in ds:
        role = d["actor"]
        if role != current:
            current = role
            a = exp_actors.get(role) or obs_actors.get(role)
            out.append(f"actor {role} ({a['identity']}):")
        mark = " [knock-on]" if d["knock_on"] else ""
        if d["kind"] in ("value", "missing", "extra"):
            exp = exp_actors[role]["observations"][d["step"] - 1] if d["kind"] != "extra" else None
            obs = obs_actors[role]["observations"][d["observed_step"] - 1] if d["observed_step"] else None
            out.append(f"  step {d['step']} ({d['op']}){mark}: {describe(d)}")
            out.append(f"    expected: {observation_line(exp) if exp is not None else '(nothing)'}")
            out.append(f"    observed: {observation_line(obs) if obs is not None else '(nothing)'}")
        elif d["kind"] == "end":
            out.append(f"  end{mark}: expected {d['expected']!r}, observed {d['observed']!r}")
        elif d["kind"] == "identity":
            out.append(f"  identity{mark}: expected {d['expected']}, observed {d['observed']}")
        else:
            out[-1] = f"actor {role}: {'missing' if d['observed'] is None else 'unexpected'}"
    return "\n".join(out)

