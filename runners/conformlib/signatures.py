"""Deviation signatures: what differs, not where. A signature names the first differing step's
operation and the expected vs observed values that differ, with run-specific noise (ports, pids,
temporary paths, secrets) normalised away, so that the same deviation gives the same signature run
after run and in every scenario that shows it. Two cells with one signature are one deviation.

    connect: result expected "ENOENT", observed "EACCES"
    recvmsg: msg_flags expected "MSG_CTRUNC", observed "none"
    end of server: expected "exit 0", observed "signal SIGSEGV"
    TIMEOUT: the scenario program was still running after {n} s; its process group was killed

The structural first difference is traces.first_difference, the diff's first cause, shared with
traces.diff and the FAIL message; this module only renders it.
"""

import json
import re

from . import traces

MAX_VALUE = 80  # characters of one rendered value; longer ones are cut (with a marker)

# Run-specific noise, most specific first. Each is (pattern, replacement).
_NOISE = [
    # The run's fresh directory, and the batch process's own directory inside it (execute.py),
    # wherever the temporary root is (TMPDIR may be anything): a whole path up to its afunix-*
    # component. The look-behind keeps a later afunix-* component (afunix-emu-traverse) as it is.
    (re.compile(r"(?<![A-Za-z0-9._-])(?:/[A-Za-z0-9._-]+)+?/afunix-[A-Za-z0-9._-]+(/p[A-Za-z0-9_]{8})?"),
     "{tmp}"),
    (re.compile(r"scn-[A-Za-z0-9]{6}"), "scn-XXXXXX"),  # a scenario directory (mkdtemp)
    (re.compile(r"\b(\d{1,3}(?:\.\d{1,3}){3}|localhost|\[::1\]):\d+"), r"\1:{port}"),
    (re.compile(r"\b(port|pid|tid|inode|ino)([ =:]+)\d+", re.I), r"\1\2{n}"),
    (re.compile(r"(<foreign>d)[0-9A-Fa-f]{4}"), r"\1{port}"),  # an emulation's datagram name: its UDP port
    (re.compile(r"\b[0-9a-f]{16,}\b", re.I), "{hex}"),  # secrets, nonces, hashes
    (re.compile(r"\b\d+(\.\d+)? s\b"), "{n} s"),  # durations in messages
]
_NOISY_KEYS = {"port", "pid", "tid", "inode", "ino", "secret", "nonce"}


def normalise(value, key=None):
    """value with run-specific noise replaced by placeholders; structure kept."""
    if key in _NOISY_KEYS and isinstance(value, int) and not isinstance(value, bool):
        return "{" + key + "}"
    if isinstance(value, str):
        for pattern, repl in _NOISE:
            value = pattern.sub(repl, value)
        return value
    if isinstance(value, list):
        return [normalise(v) for v in value]
    if isinstance(value, dict):
        return {k: normalise(v, k) for k, v in value.items()}
    return value


# The diff's first cause (steps aligned by position when both traces made the same operations,
# knock-on differences skipped): the message and the signature name the same thing.
first_difference = traces.first_difference


def _value(v, key=None):
    if v is None:
        return "nothing"
    text = json.dumps(normalise(v, key), separators=(",", ":"), sort_keys=False)
    return text if len(text) <= MAX_VALUE else text[:MAX_VALUE - 1] + "…"


def render(d):
    """The signature text of a first difference: the operation (its name, not its arguments, so
    that one cause groups across scenarios), the field, and the expected vs observed values."""
    kind, field, op = d["kind"], d.get("field"), d.get("op")
    exp, obs = _value(d.get("expected"), field), _value(d.get("observed"), field)
    if kind == "status":
        return f"status: expected {d['expected']}, observed {d['observed']}"
    if kind == "actor":
        return f"actor {d['actor']}: " + ("missing" if d.get("observed") is None else "not in the oracle")
    if kind == "identity":
        return f"identity of {d['actor']}: expected {exp}, observed {obs}"
    if kind == "end":
        return f"end of {d['actor']}: expected {exp}, observed {obs}"
    if kind == "missing":
        return f"{op}: expected {exp}, observed nothing (step never made)"
    if kind == "extra":
        return f"{op}: not in the oracle, observed {obs}"
    if field == "op":
        return f"step: expected {exp}, observed {obs}"
    return f"{op}: {field} expected {exp}, observed {obs}"


def of_traces(expected, observed):
    """Signature of an observed trace against the oracle's, None when their behaviour agrees."""
    d = first_difference(traces.behaviour(expected), traces.behaviour(observed))
    return render(d) if d else None


_ATTEMPT = re.compile(r"attempt \d+: ([A-Z]+)")


def of_message(verdict, message):
    """Signature of a cell with no trace to compare (the program hung, crashed before writing one,
    or wrote garbage): the verdict and the first line of the runner's message, normalised."""
    first = (message or "").splitlines()[0] if message else ""
    first = re.sub(r"/[^\s:;]*/(traces|results)/[^\s:;]*", "{results}", first)
    first = first.split("; it said:")[0]
    return f"{verdict}: {normalise(first)}".rstrip(": ")


def of_cell(verdict, message, observed=None, expected=None):
    """The signature of one cell; None for PASS and UNSUPPORTED (nothing deviated).
    observed/expected: the trace documents when there are valid ones."""
    if verdict in ("PASS", "UNSUPPORTED"):
        return None
    if verdict == "FLAKY":
        seen = _ATTEMPT.findall(message or "")
        return "FLAKY: " + (", then ".join(seen) if seen else normalise(message or ""))
    if verdict != "ERROR" and observed is not None and expected is not None:
        sig = of_traces(expected, observed)
        if sig:
            return sig
    return of_message(verdict, message)
