"""Runs one scenario under one backend, in its own process group, and turns what happened into a
verdict. Whatever the backend does (hang, crash, fork, garbage) the run ends in bounded time and
leaves no process behind."""

import ctypes
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import builds, traces
from .backends import expand
from .scenarios import area_of, what_it_said
from .errors import ConformError

# The harness's own scenario deadline is 20 s (scaled); the runner waits a little longer so that the
# harness can report a hung actor itself, and kills the whole group only when the harness hangs too.
SCENARIO_DEADLINE_S = 20
RUNNER_GRACE_S = 10
PR_SET_CHILD_SUBREAPER = 36

VERDICTS = ("PASS", "FAIL", "FLAKY", "UNSUPPORTED", "TIMEOUT", "CRASH", "ERROR")
# Verdicts worth a second attempt: cheap to repeat, and a deviation that does not repeat is
# FLAKY, not FAIL. (A TIMEOUT costs its full deadline again; it is not retried.)
RETRIED = ("FAIL", "CRASH")


@dataclass
class Result:
    backend: str
    scenario: str
    verdict: str
    message: str = ""
    diff: str = ""
    duration: float = 0.0
    evidence: str = ""  # what the attackers observed (not judged)
    trace: dict = field(default=None, repr=False)

    @property
    def area(self):
        return area_of(self.scenario)


@dataclass
class Paths:
    """Where things are for one run."""
    root: Path  # the project
    trace_dir: Path  # observed traces of this backend
    tmp: Path  # a fresh directory for this backend's run, removed afterwards
    suite_revision: str = "unknown"

    def build_dir(self, build):
        return builds.build_dir(self.root, build)

    def binary(self, build):
        return builds.binary(self.root, build)


def command_for(backend, scenario, paths):
    values = placeholders(backend, paths)
    argv = [expand(a, values) for a in backend.command]
    argv.append(f"--gtest_filter={scenario}")
    env = dict(os.environ)
    env.update({k: expand(v, values) for k, v in backend.env.items()})
    env.update({
        "AFUNIX_TRACE_DIR": str(paths.trace_dir),
        "AFUNIX_WORKDIR": values["workdir"],
        "AFUNIX_TIMEOUT_SCALE": str(backend.timeout_multiplier),
        "AFUNIX_BACKEND": backend.name,
        "AFUNIX_SUITE_REVISION": paths.suite_revision,
    })
    if backend.adversary:  # the attackers' knowledge of this backend's wire protocol
        env["AFUNIX_ADVERSARY"] = expand(backend.adversary, values)
    for capability, reason in backend.unsupported.items():
        env[f"AFUNIX_UNSUPPORTED_{capability.upper()}"] = reason
    return argv, env


def placeholders(backend, paths):
    values = {
        "binary": paths.binary(backend.build),
        "build": paths.build_dir(backend.build),
        "root": paths.root,
        "tmp": paths.tmp,
        "trace_dir": paths.trace_dir,
    }
    values["workdir"] = expand(backend.workdir, values) if backend.workdir else str(paths.tmp)
    return values


def kill_group(pgid):
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


_subreaper = False


def become_subreaper():
    """Descendants that leave the scenario's process group (setsid, double fork) are re-parented to
    this process instead of init, so kill_orphans() can still find them."""
    global _subreaper
    if not _subreaper:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
        _subreaper = True


def _children():
    me = os.getpid()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        # Fields after the command name (which may contain spaces) start with state, then ppid.
        if int(stat.rsplit(")", 1)[1].split()[1]) == me:
            found.append(int(entry))
    return found


def kill_orphans():
    """Kills and reaps whatever the last scenario left re-parented to us."""
    for _ in range(10):
        pids = _children()
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass


@dataclass
class Execution:
    """What happened when the scenario program ran, before anyone compared it with anything."""
    backend: str
    scenario: str
    returncode: int
    timed_out: bool
    timeout: float
    trace_path: Path
    log_path: Path
    duration: float
    start_error: str = ""


def execute(backend, scenario, paths):
    trace_path = paths.trace_dir / traces.file_name(scenario)
    if trace_path.exists():
        trace_path.unlink()
    argv, env = command_for(backend, scenario, paths)
    timeout = (SCENARIO_DEADLINE_S + RUNNER_GRACE_S) * backend.timeout_multiplier
    log_path = paths.trace_dir / (traces.file_name(scenario)[:-5] + ".log")
    become_subreaper()
    started = time.monotonic()
    returncode, timed_out, start_error = -1, False, ""
    with open(log_path, "wb") as log:
        try:
            proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        except OSError as e:
            start_error = f"cannot start {argv[0]}: {e.strerror}"
        else:
            try:
                returncode = proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                timed_out = True
            # Whatever the scenario forked and left running goes with the group.
            kill_group(proc.pid)
            if timed_out:
                returncode = proc.wait()
            kill_orphans()
    return Execution(backend.name, scenario, returncode, timed_out, timeout, trace_path, log_path,
                     time.monotonic() - started, start_error)


def run_scenario(backend, scenario, paths, expected):
    """expected: the oracle's trace document (or None when there is none). A deviation is tried
    once more: if the second attempt's verdict differs, the verdict is FLAKY and says both."""
    ex = execute(backend, scenario, paths)
    result = judge(ex, expected)
    result.duration = ex.duration
    if result.verdict in RETRIED:
        ex2 = execute(backend, scenario, paths)
        again = judge(ex2, expected)
        result.duration += ex2.duration
        # Verdicts, not diffs: a backend's deviation may carry values no normaliser can know (an
        # emulation's port in a made-up address), and still be the same deviation every time.
        if again.verdict != result.verdict:
            result.message = (f"attempt 1: {result.verdict}: {result.message}; "
                              f"attempt 2: {again.verdict}" + (f": {again.message}" if again.message else ""))
            if again.diff:
                result.diff += "\n\nattempt 2:\n" + again.diff
            result.verdict = "FLAKY"
    return result


def _log_tail(log_path, lines=8):
    try:
        text = log_path.read_text(errors="replace")
    except OSError:
        return ""
    return what_it_said(text, lines)


def observed_trace(ex):
    """The trace the execution wrote, or a Result saying why there is none to judge."""
    def result(verdict, message):
        return Result(ex.backend, ex.scenario, verdict, message)

    if ex.start_error:
        return result("ERROR", ex.start_error)
    if ex.timed_out:
        return result("TIMEOUT", f"the scenario program was still running after {ex.timeout:.0f} s; "
                                 "its process group was killed")
    if not ex.trace_path.exists():
        if ex.returncode < 0:
            return result("CRASH", f"the scenario program died of {signal.Signals(-ex.returncode).name} "
                                   "before writing a trace")
        tail = _log_tail(ex.log_path)
        return result("ERROR", f"the scenario program exited {ex.returncode} without writing a trace"
                               + (f"; it said:\n{tail}" if tail else ""))
    try:
        observed = traces.load(ex.trace_path)
    except ConformError as e:
        return result("ERROR", str(e))
    if observed["scenario"] != ex.scenario:
        return result("ERROR", f"{ex.trace_path}: trace is for {observed['scenario']}, not {ex.scenario}")
    return observed


def judge(ex, expected):
    observed = observed_trace(ex)
    if isinstance(observed, Result):
        return observed
    return judge_trace(ex.backend, ex.scenario, observed, expected)


def judge_trace(backend, scenario, observed, expected):
    """The verdict for a valid trace, against the oracle's (None when there is none)."""
    def result(verdict, message="", diff=""):
        return Result(backend, scenario, verdict, message, diff, evidence=traces.evidence(observed),
                      trace=observed)

    if observed["status"] == "unsupported":
        return result("UNSUPPORTED", observed.get("reason", ""))
    if expected is None:
        return result("ERROR", f"no expected trace for {scenario}: record the oracle with ./conform record")
    exp, obs = traces.behaviour(expected), traces.behaviour(observed)
    if exp == obs:
        return result("PASS")
    d = traces.diff(exp, obs)
    expected_ends = {a["role"]: a["end"] for a in expected["actors"]}
    for actor in observed["actors"]:
        end = actor["end"]
        if end == expected_ends.get(actor["role"]):
            continue
        if end.startswith("signal "):
            return result("CRASH", f"actor {actor['role']} died of {end[len('signal '):]}", d)
        if end == "killed at the scenario deadline":
            return result("TIMEOUT", f"actor {actor['role']} hung until the scenario deadline", d)
    first = d.splitlines()
    return result("FAIL", f"differs from Linux: {first[0]} {first[1].strip() if len(first) > 1 else ''}".strip(), d)
