"""Runs scenarios under a backend and turns what happened into verdicts.

Scenarios run in batches: each backend's scenarios are split into shards, and a shard runs in one
long-lived scenario-program process that runs its scenarios in turn, announcing each one's begin and
end on a channel (conformance/harness/batch.h). A crash, a hang or garbage costs only the scenario
that was running: it gets its verdict (CRASH with the signal, TIMEOUT, ERROR) and the rest of the
shard resumes in a fresh process. So does a scenario that left state behind in the process
(descriptors, signal dispositions, limits, children...): the harness checks after each one. With
isolate=True every scenario has a process of its own, as a deviation's confirmation attempt always
does. Shards run in parallel, more of them than there are cores, since scenarios spend much of their
time waiting (watchdogs, deadlines, hung emulations).

Every process runs in its own session and process group; whatever the backend does (hang, crash,
fork, flood its output, plant a trace) the run ends in bounded time, keeps a bounded log and leaves no
process behind. shutdown() stops everything at once (an interrupted run).
"""

import ctypes
import dataclasses
import errno
import itertools
import os
import secrets
import selectors
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import builds, leftovers, signatures, traces
from .backends import expand
from .errors import ConformError
from .scenarios import area_of, what_it_said
from .verdicts import RETRIED, VERDICT_NAMES

# Deadlines, scaled by the backend's timeout_multiplier, derived from what scenarios take (natively
# the slowest takes 0.22 s; context.cc says how the harness's own deadlines follow from it). The
# harness ends a scenario's actors at its scenario deadline (4 s) and reports which actor hung; the
# runner waits a little longer and kills the whole process group only when the harness hangs too. A
# process also gets a moment to start (qemu, proot and bwrap set up before the first scenario).
HARNESS_SCENARIO_DEADLINE_S = 4
RUNNER_GRACE_S = 2
START_ALLOWANCE_S = 5
PR_SET_CHILD_SUBREAPER = 36

# What each verdict means (which are retried, which are failures) is defined once, in verdicts.py.
VERDICTS = VERDICT_NAMES

# Scenarios per shard: large enough that starting a process (milliseconds natively, tenths of a
# second under qemu or proot) is paid rarely, small enough that shards balance over the workers.
SHARD_SIZE = 48
# A scenario's captured output (stdout and stderr of every process of the scenario): the first and
# the last bytes are kept, and the log says how much was dropped in between.
OUTPUT_HEAD = 32 * 1024
OUTPUT_TAIL = 32 * 1024
# The errors that mean the harness hit a limit of the machine or the account, not a deviation.
LIMITS = {
    "EMFILE": "the descriptor limit (RLIMIT_NOFILE)",
    "ENFILE": "the system's descriptor limit",
    "ENOMEM": "the memory limit",
    "EAGAIN": "the process or memory limit",
    "ENOSPC": "no space left on the device",
    "EDQUOT": "the disk quota",
}


def default_jobs():
    """Parallel shards: three per core, since scenarios spend much of their time asleep (watchdogs,
    deadlines, emulations waiting for each other)."""
    return 3 * (os.cpu_count() or 1)


# Beyond default_jobs(), up to GROW_FACTOR times as many shards run while the CPUs have room for
# them: at least a core's worth idle over the last CPU_SAMPLE_S (the shards are waiting on
# watchdogs, deadlines or a hung emulation), one more shard per sample at most. On a machine busy
# with other work a run keeps to the base number. An explicit --jobs is the number, no more.
GROW_FACTOR = 2
CPU_SAMPLE_S = 0.5


class CpuRoom:
    """How many cores' worth of CPU time the whole machine left idle over the last sample
    (/proc/stat), and whether one more shard may start now."""

    def __init__(self):
        self._last = self._read()
        self._at = time.monotonic()
        self._grown_at = 0.0
        self._idle_cores = 0.0

    @staticmethod
    def _read():
        try:
            with open("/proc/stat") as f:
                fields = [int(x) for x in f.readline().split()[1:9]]
        except (OSError, ValueError):
            return None
        return fields[3] + fields[4], sum(fields)  # idle + iowait, everything

    def idle_cores(self):
        now = time.monotonic()
        if now - self._at >= CPU_SAMPLE_S:
            current = self._read()
            if current is not None and self._last is not None and current[1] > self._last[1]:
                share = (current[0] - self._last[0]) / (current[1] - self._last[1])
                self._idle_cores = share * (os.cpu_count() or 1)
            self._last, self._at = current, now
        return self._idle_cores

    def may_grow(self):
        """True at most once per sample, while at least one core is idle."""
        now = time.monotonic()
        if now - self._grown_at < CPU_SAMPLE_S or self.idle_cores() < 1.0:
            return False
        self._grown_at = now
        return True


# ---- results ------------------------------------------------------------------------------------

@dataclass
class Result:
    """One cell: a scenario's verdict on a backend. to_dict()/from_dict() are its one serialised form
    (results.json rows, the pytest report property)."""
    backend: str
    scenario: str
    verdict: str
    message: str = ""
    diff: str = ""
    duration: float = 0.0
    evidence: str = ""  # what the attackers observed (not judged)
    run: dict = None  # the trace's run metadata (where it ran), when there was a trace
    attempts: list = field(default_factory=list)  # [{verdict, message, diff, trace}] when retried
    trace: dict = field(default=None, repr=False, compare=False)  # the observed trace (in memory only)
    left_behind: list = field(default_factory=list)  # what it left outside its directory (leftovers.py)

    SERIALISED = ("backend", "scenario", "verdict", "message", "diff", "duration", "evidence", "run",
                  "attempts", "left_behind")

    @property
    def area(self):
        return area_of(self.scenario)

    def to_dict(self):
        d = {k: getattr(self, k) for k in self.SERIALISED}
        for optional in ("attempts", "left_behind"):
            if not d[optional]:
                del d[optional]
        return d

    @classmethod
    def from_dict(cls, d):
        return cls(**{k: d[k] for k in cls.SERIALISED if k in d})


class NotJudged(Exception):
    """There is no trace to judge; the verdict says why (CRASH, TIMEOUT or ERROR)."""

    def __init__(self, verdict, message):
        super().__init__(f"{verdict}: {message}")
        self.verdict = verdict
        self.message = message


# ---- where things are ---------------------------------------------------------------------------

@dataclass
class Paths:
    """Where things are for one backend's run."""
    root: Path  # the project
    trace_dir: Path  # observed traces of this backend
    tmp: Path  # a fresh directory for this backend's run, removed afterwards
    suite_revision: str = "unknown"
    run_tmp: Path = None  # in one process's Paths: the backend's tmp (tmp is then the process's own)

    def build_dir(self, build):
        return builds.build_dir(self.root, build)

    def binary(self, build):
        return builds.binary(self.root, build)


def placeholders(backend, paths):
    values = {
        "binary": paths.binary(backend.build),
        "build": paths.build_dir(backend.build),
        "root": paths.root,
        "tmp": paths.tmp,
        "run_tmp": paths.run_tmp or paths.tmp,
        "trace_dir": paths.trace_dir,
    }
    values["workdir"] = expand(backend.workdir, values) if backend.workdir else str(paths.tmp)
    return values


def command_for(backend, scenarios, paths, nonce="", channel=None):
    """argv and environment of one scenario-program process running `scenarios` (a name or a list)."""
    if isinstance(scenarios, str):
        scenarios = [scenarios]
    values = placeholders(backend, paths)
    argv = [expand(a, values) for a in backend.command]
    argv.append("--gtest_filter=" + ":".join(scenarios))
    env = dict(os.environ)
    env.update({k: expand(v, values) for k, v in backend.env.items()})
    env.update({
        "AFUNIX_TRACE_DIR": str(paths.trace_dir),
        "AFUNIX_WORKDIR": values["workdir"],
        "AFUNIX_TIMEOUT_SCALE": str(backend.timeout_multiplier),
        "AFUNIX_BACKEND": backend.name,
        "AFUNIX_SUITE_REVISION": paths.suite_revision,
        "AFUNIX_NONCE": nonce,
    })
    if channel is not None:
        env["AFUNIX_BATCH_FD"] = str(channel)
    if backend.adversary:  # the attackers' knowledge of this backend's wire protocol
        env["AFUNIX_ADVERSARY"] = expand(backend.adversary, values)
    for capability, reason in backend.unsupported.items():
        env[f"AFUNIX_UNSUPPORTED_{capability.upper()}"] = reason
    return argv, env


def runner_deadline(backend):
    """How long one scenario may run before the runner kills its process group."""
    return (HARNESS_SCENARIO_DEADLINE_S + RUNNER_GRACE_S) * backend.timeout_multiplier


# ---- processes ----------------------------------------------------------------------------------

_subreaper = False
# Every scenario-program process the runner has started and not yet cleaned up: pid -> process
# group. kill_orphans() spares them; shutdown() kills them.
_live = {}
# pid -> the nonce (AFUNIX_NONCE) of each of those processes: daemons they start inherit it.
_live_nonces = {}
_live_lock = threading.Lock()
_tmp_roots = set()


def become_subreaper():
    """Descendants that leave the scenario's process group (setsid, double fork) are re-parented to
    this process instead of init, so kill_orphans() can still find them."""
    global _subreaper
    if not _subreaper:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
        _subreaper = True


def kill_group(pgid):
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _children():
    """This process's children: from each of its threads' children lists where the kernel has them
    (a few small files), else from a scan of every process."""
    try:
        found = []
        for task in os.listdir("/proc/self/task"):
            with open(f"/proc/self/task/{task}/children") as f:
                found.extend(int(p) for p in f.read().split())
        return found
    except (OSError, ValueError):
        pass
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


def kill_orphans(everything=False):
    """Kills and reaps whatever scenarios left re-parented to us (never a process still running a
    shard, nor anything else this process started: only children the runner does not know). A
    daemon that a still-running process started in a session of its own (fakeroot's faked) is
    re-parented here too, while that process still needs it: it is spared as long as the process
    whose AFUNIX_NONCE it carries runs, unless `everything` (the run is being stopped)."""
    for _ in range(10):
        with _live_lock:
            needed = set() if everything else set(_live_nonces.values())
            pids = [p for p in _children()
                    if p not in _live and not _is_ours(p) and _nonce_of(p) not in needed]
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass


def _nonce_of(pid):
    """The AFUNIX_NONCE in a process's environment, or None (none, gone, or unreadable)."""
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            env = f.read()
    except OSError:
        return None
    for item in env.split(b"\0"):
        if item.startswith(b"AFUNIX_NONCE="):
            return item[len(b"AFUNIX_NONCE="):].decode(errors="replace") or None
    return None


def _is_ours(pid):
    """A child this Python process started for itself (pytest's helpers, git): not in a session of
    its own. Scenario processes are session leaders, and what they leave behind is in theirs."""
    try:
        return os.getsid(pid) == os.getsid(0)
    except OSError:
        return True


class Capture:
    """A scenario's output: the first OUTPUT_HEAD and the last OUTPUT_TAIL bytes, and how many in
    between were dropped."""

    def __init__(self):
        self.head = bytearray()
        self.tail = bytearray()
        self.dropped = 0

    def add(self, data):
        room = OUTPUT_HEAD - len(self.head)
        if room > 0:
            self.head += data[:room]
            data = data[room:]
        if data:
            self.tail += data
            if len(self.tail) > 2 * OUTPUT_TAIL:
                cut = len(self.tail) - OUTPUT_TAIL
                self.dropped += cut
                del self.tail[:cut]

    def finish(self):
        if len(self.tail) > OUTPUT_TAIL:
            cut = len(self.tail) - OUTPUT_TAIL
            self.dropped += cut
            del self.tail[:cut]

    def bytes(self):
        self.finish()
        if not self.dropped:
            return bytes(self.head + self.tail)
        return bytes(self.head) + (f"\n[afunix runner: {self.dropped} bytes of output dropped here; "
                                   f"the first {OUTPUT_HEAD} and the last {OUTPUT_TAIL} are kept]\n"
                                   ).encode() + bytes(self.tail)


@dataclass
class Execution:
    """What happened to one scenario in a scenario-program process, before anyone compared it with
    anything."""
    backend: str
    scenario: str
    returncode: int  # the process's exit status when it ended during this scenario, else None
    timed_out: bool
    timeout: float
    trace_path: Path
    log_path: Path
    duration: float
    start_error: str = ""
    nonce: str = ""
    harness_error: str = ""
    ended: bool = False  # the harness announced the scenario's end (its trace is written)
    log_tail: str = ""
    left_behind: list = field(default_factory=list)  # what appeared outside its directory (leftovers.py)


class Process:
    """One scenario-program process running a list of scenarios, watched through its channel."""

    def __init__(self, backend, scenarios, paths):
        self.backend = backend
        self.scenarios = list(scenarios)
        self.nonce = secrets.token_hex(8)
        self.tmp = Path(tempfile.mkdtemp(prefix="p", dir=paths.tmp))
        self.tmp.chmod(0o755)  # actors of the test identities create their directories inside
        self.paths = dataclasses.replace(paths, tmp=self.tmp, run_tmp=paths.tmp)
        self.proc = None
        self.start_error = ""
        self.cpu_s = 0.0  # user + system CPU of the process and every process it waited for
        self.watch = leftovers.Watch(backend, self.paths)
        self.ack = None  # the harness waits on this pipe after each scenario for the leftovers check
        self.watch_started = False

    def scenario_ended(self):
        """What the scenario that just ended left behind; then lets the harness go on."""
        # A process that never announced a scenario (its backend closed the runner's channel, as
        # crun's container does) cannot say what its start-up made: nothing is attributed.
        found = self.watch.check() if self.watch_started else []
        self.go_on()
        return found

    def go_on(self):
        if self.ack is not None:
            try:
                os.write(self.ack, b"g")
            except OSError:  # the process is gone, or its backend closed the pipe
                pass

    def reap(self):
        """proc.wait(), through wait4 so that the process tree's CPU time is known."""
        if self.proc.returncode is None:
            try:
                _, status, usage = os.wait4(self.proc.pid, 0)
            except ChildProcessError:  # reaped elsewhere: Popen knows its status
                return self.proc.wait()
            self.proc.returncode = os.waitstatus_to_exitcode(status)
            self.cpu_s = usage.ru_utime + usage.ru_stime
        return self.proc.returncode

    def start(self):
        chan_r, chan_w = os.pipe2(os.O_CLOEXEC)
        out_r, out_w = os.pipe2(os.O_CLOEXEC)
        ack_r, self.ack = os.pipe2(os.O_CLOEXEC)
        argv, env = command_for(self.backend, self.scenarios, self.paths, self.nonce, chan_w)
        argv = self.watch.wrap(argv)
        env["AFUNIX_BATCH_ACK_FD"] = str(ack_r)
        try:
            with _live_lock:
                self.proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=out_w,
                                             stderr=out_w, pass_fds=(chan_w, ack_r), start_new_session=True)
                _live[self.proc.pid] = self.proc.pid
                _live_nonces[self.proc.pid] = self.nonce
        except OSError as e:
            self.start_error = f"cannot start {argv[0]}: {e.strerror}"
            os.close(chan_r)
            os.close(out_r)
            os.close(self.ack)
            self.ack = None
            return False
        finally:
            os.close(chan_w)
            os.close(out_w)
            os.close(ack_r)
        self.chan, self.out = chan_r, out_r
        os.set_blocking(chan_r, False)
        os.set_blocking(out_r, False)
        try:
            self.pidfd = os.pidfd_open(self.proc.pid)
        except (AttributeError, OSError):
            self.pidfd = None
        return True

    def kill(self):
        if self.proc is not None:
            kill_group(self.proc.pid)

    def cleanup(self):
        """After the process ended: its group, whatever escaped it, its pipes and its directory."""
        if self.proc is not None:
            kill_group(self.proc.pid)
            self.reap()
            with _live_lock:
                _live.pop(self.proc.pid, None)
                _live_nonces.pop(self.proc.pid, None)
            kill_orphans()
            for fd in (self.chan, self.out, self.pidfd):
                if fd is not None:
                    os.close(fd)
        if self.ack is not None:
            os.close(self.ack)
            self.ack = None
        self.watch.remove()
        shutil.rmtree(self.tmp, ignore_errors=True)


def _read_all(fd):
    chunks = []
    while True:
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            break
        except OSError:
            break
        if not data:
            chunks.append(None)  # end of file
            break
        chunks.append(data)
    return chunks


def run_process(backend, scenarios, paths, on_execution, stop=lambda: False, started=None, ended=None):
    """Runs `scenarios` in scenario-program processes, one after the other as needed: a process that
    crashes, hangs, or ends because a scenario left state behind is followed by a fresh one for the
    scenarios it did not finish. on_execution(Execution) is called for each scenario as it ends.
    With a single scenario this is one isolated process, as it always was. started() is called for
    each process started, ended(cpu_seconds) for each that ended."""
    remaining = list(scenarios)
    deadline_s = runner_deadline(backend)
    while remaining and not stop():
        for s in remaining:  # a trace left by an earlier run must never be taken for this one's
            try:
                (paths.trace_dir / traces.file_name(s)).unlink()
            except FileNotFoundError:
                pass
        p = Process(backend, remaining, paths)
        if started:
            started()
        if not p.start():
            for s in remaining:
                on_execution(_execution(backend, s, paths, p, start_error=p.start_error))
            shutil.rmtree(p.tmp, ignore_errors=True)
            return
        try:
            remaining = _watch(p, remaining, deadline_s, on_execution, stop)
        finally:
            p.cleanup()
            if ended:
                ended(p.cpu_s)


def _execution(backend, scenario, paths, p, **kw):
    stem = traces.file_name(scenario)[:-5]
    return Execution(backend.name, scenario, kw.pop("returncode", None), kw.pop("timed_out", False),
                     runner_deadline(backend), paths.trace_dir / (stem + ".json"),
                     paths.trace_dir / (stem + ".log"), kw.pop("duration", 0.0), nonce=p.nonce, **kw)


def _watch(p, remaining, deadline_s, on_execution, stop):
    """Follows one process until it ends; returns the scenarios still to run in a fresh one."""
    backend, paths = p.backend, p.paths
    wanted = set(remaining)
    sel = selectors.DefaultSelector()
    sel.register(p.chan, selectors.EVENT_READ, "chan")
    sel.register(p.out, selectors.EVENT_READ, "out")
    if p.pidfd is not None:
        sel.register(p.pidfd, selectors.EVENT_READ, "exit")
    started = time.monotonic()
    current, current_since = None, started
    captures = {}
    errors = {}
    done = set()
    held = []  # scenarios that left something, until the process has ended
    begun_any = False
    pending = b""
    timed_out = False

    def capture_for():
        name = current or next((s for s in remaining if s not in done), None)
        return captures.setdefault(name, Capture())

    def finish(name, **kw):
        cap = captures.pop(name, None) or Capture()
        data = cap.bytes()
        # Listed before the harness may go on: whatever appeared since the last listing is this one's.
        left = p.scenario_ended()
        ex = _execution(backend, name, paths, p, duration=time.monotonic() - current_since,
                        harness_error=errors.get(name, ""), log_tail=_tail(data), left_behind=left, **kw)
        try:
            ex.log_path.write_bytes(data)
        except OSError as e:
            ex.harness_error = ex.harness_error or f"cannot write {ex.log_path}: {e.strerror} ({errno.errorcode.get(e.errno, e.errno)})"
        done.add(name)
        if ex.left_behind:  # judged once the process has ended: it may still remove them itself
            held.append(ex)
        else:
            on_execution(ex)

    def lines(data):
        nonlocal pending, current, current_since, begun_any
        pending += data
        *complete, pending = pending.split(b"\n")
        for raw in complete:
            word, _, rest = raw.decode("utf-8", "replace").partition(" ")
            name, _, what = rest.partition(" ")
            if word == "begin" and not p.watch_started:
                # The harness waits here once: what start-up made is the process's own, not a scenario's.
                p.watch_started = True
                p.watch.start()
                p.go_on()
            if word == "begin" and name in wanted and name not in done:
                current, current_since, begun_any = name, time.monotonic(), True
            elif word == "end" and name == current:
                current = None
                finish(name, ended=True)
                current_since = time.monotonic()
            elif word == "error" and name in wanted:
                errors.setdefault(name, what)
            elif word == "dirty" and name in done:  # said after its end: its log is written
                note = (f"\n[afunix runner: {name} left {what} in the scenario program; the next "
                        "scenario runs in a fresh process]\n")
                try:
                    with open(paths.trace_dir / (traces.file_name(name)[:-5] + ".log"), "a") as log:
                        log.write(note)
                except OSError:
                    pass
            else:
                capture_for().add(b"[afunix runner: unexpected line on the harness channel: " + raw[:200] + b"]\n")

    exited = False
    while not exited:
        if stop():  # the run is interrupted: nothing more is judged
            p.kill()
            p.reap()
            sel.close()
            for ex in held:
                on_execution(ex)
            return []
        allowance = START_ALLOWANCE_S * backend.timeout_multiplier if not begun_any else 0
        left = current_since + deadline_s + allowance - time.monotonic()
        if left <= 0:
            timed_out = True
            p.kill()
            break
        for key, _ in sel.select(timeout=min(left, 0.5) if p.pidfd is not None else min(left, 0.05)):
            if key.data == "exit":
                exited = True
                continue
            for chunk in _read_all(key.fd):
                if chunk is None:
                    sel.unregister(key.fd)
                    break
                if key.data == "chan":
                    lines(chunk)
                else:
                    capture_for().add(chunk)
        if p.pidfd is None and p.proc.poll() is not None:
            exited = True
    returncode = p.reap() if not timed_out else None
    if timed_out:
        p.reap()
    # What the process said before it ended (the group is killed first: nothing writes any more).
    kill_group(p.proc.pid)
    for fd, kind in ((p.chan, "chan"), (p.out, "out")):
        for chunk in _read_all(fd):
            if chunk is None:
                break
            lines(chunk) if kind == "chan" else capture_for().add(chunk)
    sel.close()
    left_over = [s for s in remaining if s not in done]
    if current is not None:  # the scenario running when the process died or hung
        finish(current, returncode=returncode, timed_out=timed_out)
    elif not begun_any and left_over:  # it never got as far as a scenario: the first one pays
        finish(left_over[0], returncode=returncode, timed_out=timed_out)
    # Left behind is what outlives the process: a backend's per-process files that it removes at
    # its exit (proot's temporary directory for a long socket path) are not.
    for ex in held:
        ex.left_behind = p.watch.still_there(ex.left_behind, killed=timed_out)
        on_execution(ex)
    return [s for s in remaining if s not in done]


def _tail(data, lines=8):
    return what_it_said(data.decode("utf-8", "replace"), lines)


# ---- judging ------------------------------------------------------------------------------------

def _limit_named(what):
    for name, limit in LIMITS.items():
        if f"({name})" in what:
            return f" ({limit})"
    return ""


def observed_trace(ex):
    """The trace the execution wrote; raises NotJudged saying why there is none to judge."""
    if ex.start_error:
        raise NotJudged("ERROR", ex.start_error)
    if ex.harness_error:
        limit = _limit_named(ex.harness_error)
        raise NotJudged("ERROR", (f"harness limit{limit}: " if limit or "limit" in ex.harness_error else
                                  "the harness could not do its own work: ") + ex.harness_error
                        + "; the backend was not judged")
    if ex.timed_out:
        raise NotJudged("TIMEOUT", f"the scenario program was still running after {ex.timeout:.0f} s; "
                                   "its process group was killed")
    if not ex.trace_path.exists():
        if ex.returncode is not None and ex.returncode < 0:
            raise NotJudged("CRASH", f"the scenario program died of {signal.Signals(-ex.returncode).name} "
                                     "before writing a trace")
        how = f"exited {ex.returncode}" if ex.returncode is not None else "went on"
        raise NotJudged("ERROR", f"the scenario program {how} without writing a trace"
                                 + (f"; it said:\n{ex.log_tail}" if ex.log_tail else ""))
    try:
        observed = traces.load(ex.trace_path)
    except ConformError as e:
        raise NotJudged("ERROR", str(e)) from None
    if observed["scenario"] != ex.scenario:
        raise NotJudged("ERROR", f"{ex.trace_path}: trace is for {observed['scenario']}, not {ex.scenario}")
    if ex.nonce and observed["run"].get("nonce") != ex.nonce:
        raise NotJudged("ERROR", f"{ex.trace_path}: not written by the process the runner started for "
                                 f"{ex.scenario} (its nonce is {observed['run'].get('nonce')!r}); another "
                                 "job sharing the trace directory or a wrapper wrote it")
    return observed


def judge(ex, expected):
    try:
        observed = observed_trace(ex)
    except NotJudged as e:
        return Result(ex.backend, ex.scenario, e.verdict, e.message, duration=ex.duration)
    result = judge_trace(ex.backend, ex.scenario, observed, expected)
    result.duration = ex.duration
    return result


def judge_trace(backend, scenario, observed, expected):
    """The verdict for a valid trace, against the oracle's (None when there is none)."""
    def result(verdict, message="", diff=""):
        return Result(backend, scenario, verdict, message, diff, evidence=traces.evidence(observed),
                      run=observed.get("run"), trace=observed)

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
    # The message names the first cause: the call, and the expected and observed values.
    return result("FAIL", traces.message(exp, obs), d)


def _attempt(result, trace):
    return {"verdict": result.verdict, "message": result.message, "diff": result.diff, "trace": trace}


def confirmed(first, again, first_trace, again_trace, first_batched=True):
    """The verdict after a deviation's confirmation attempt (isolated): the same verdict stands; a
    different one is FLAKY, saying both. Verdicts, not diffs, are compared: a backend's deviation may
    carry values no normaliser can know (an emulation's port in a made-up address) and still be the
    same deviation every time."""
    result = dataclasses.replace(first, duration=first.duration + again.duration,
                                 attempts=[_attempt(first, first_trace), _attempt(again, again_trace)],
                                 left_behind=first.left_behind + [f"{p} (attempt 2)" for p in again.left_behind])
    if again.verdict != first.verdict:
        how = "batched" if first_batched else "isolated"
        result.message = (f"attempt 1: {first.verdict} ({how}): {first.message}; attempt 2: {again.verdict} "
                          "(isolated)" + (f": {again.message}" if again.message else ""))
        if again.diff:
            result.diff += "\n\nattempt 2:\n" + again.diff
        result.verdict = "FLAKY"
    return result


# ---- scheduling ---------------------------------------------------------------------------------

@dataclass
class _Job:
    backend: object
    scenarios: list
    paths: Paths
    expected: object  # scenario -> the oracle's trace or None (may raise ConformError)
    isolated: bool
    first: dict = None  # confirmation attempts: scenario -> (attempt-1 Result, its trace's path)
    priority: float = 0.0


class Executor:
    """Runs the planned (backend, scenario) cells over `jobs` parallel workers and hands out their
    Results as they are ready. With on_demand, nothing is planned ahead: a cell asked for runs then,
    in a process of its own (pytest-xdist workers, which learn their items one by one)."""

    def __init__(self, jobs=None, isolate=False, on_demand=False, known=None):
        self.jobs = max(1, jobs or default_jobs())
        # Workers beyond self.jobs start a shard only while the CPUs have room (CpuRoom).
        self.max_jobs = self.jobs if jobs else self.jobs * GROW_FACTOR
        self._room = CpuRoom()
        self.isolate = isolate
        self.on_demand = on_demand
        # known(backend, scenario, verdict, signature, run_info): a deviation the backend's
        # expectation file lists exactly, left unconfirmed (expectations.KnownDeviations).
        self.known = known
        self._cond = threading.Condition()
        self._queue = []
        self._results = {}
        self._running = {}  # backend -> shards running
        self._threads = []
        self._stopping = False
        self._progress = {}  # backend -> [done, total, first start, last end]
        self._processes = {}  # backend -> scenario-program processes started
        self._cpu = {}  # backend -> CPU seconds of its scenario-program processes (and their actors)
        self._seq = itertools.count()

    # -- planning --
    def plan(self, backend, scenarios, paths, expected):
        """Adds one backend's scenarios (in the order the program lists them)."""
        scenarios = list(scenarios)
        if not scenarios:
            return
        with self._cond:
            prog = self._progress.setdefault(backend.name, [0, 0, None, None])
            prog[1] += len(scenarios)
            size = 1 if self.isolate else _shard_size(len(scenarios), self.jobs)
            for chunk in shards_of(scenarios, size):
                # Longest first: the slow backends' shards start early and the run ends together.
                cost = len(chunk) * backend.timeout_multiplier
                self._queue.append(_Job(backend, chunk, paths, expected, size == 1,
                                        priority=-cost + next(self._seq) * 1e-9))
            self._cond.notify_all()

    def start(self):
        with self._cond:
            if self._threads:
                return
            become_subreaper()
            for i in range(self.max_jobs):
                t = threading.Thread(target=self._worker, args=(i >= self.jobs,), name=f"afunix-shard-{i}",
                                     daemon=True)
                t.start()
                self._threads.append(t)

    def result(self, backend, scenario, paths=None, expected=None, waiting=None, poll_s=1.0):
        """The Result of one cell, waiting for it. waiting(executor) is called about every poll_s
        seconds while it is not ready (progress output)."""
        key = (backend.name, scenario)
        with self._cond:
            if key not in self._results and self.on_demand and key not in self._planned_keys():
                self._queue.append(_Job(backend, [scenario], paths, expected, True, priority=-1e9))
                self._progress.setdefault(backend.name, [0, 0, None, None])[1] += 1
                self._cond.notify_all()
        self.start()
        with self._cond:
            while key not in self._results:
                if self._stopping:
                    raise KeyboardInterrupt("the run was stopped")
                self._cond.wait(timeout=poll_s)
                if waiting and key not in self._results:
                    self._cond.release()
                    try:
                        waiting(self)
                    finally:
                        self._cond.acquire()
            return self._results.pop(key)

    def _planned_keys(self):
        return {(j.backend.name, s) for j in self._queue for s in j.scenarios}

    def progress(self):
        """backend -> (done, total, seconds since its first scenario started, seconds it took so far
        when done)."""
        now = time.monotonic()
        with self._cond:
            return {b: (d, t, (now - s) if s else 0.0, (e - s) if (s and e and d == t) else None)
                    for b, (d, t, s, e) in self._progress.items()}

    def stats(self):
        """backend -> {"wall_s": first start to last result, "processes": how many were started,
        "cpu_s": the CPU they used, actors included}."""
        with self._cond:
            return {b: {"wall_s": round((e - s) if s and e else 0.0, 3), "processes": self._processes.get(b, 0),
                        "cpu_s": round(self._cpu.get(b, 0.0), 3)}
                    for b, (d, t, s, e) in self._progress.items()}

    def shutdown(self):
        """Stops every worker and kills every scenario process now (an interrupted run)."""
        with self._cond:
            self._stopping = True
            self._queue.clear()
            self._cond.notify_all()
        kill_all()
        for t in self._threads:
            t.join(timeout=5)
        kill_orphans(everything=True)

    # -- workers --
    def _next_job(self, extra=False):
        with self._cond:
            while not self._stopping:
                ready = [j for j in self._queue
                         if self._running.get(j.backend.name, 0) < (j.backend.max_parallel or self.max_jobs)]
                if ready and extra and not self._room.may_grow():
                    self._cond.wait(timeout=CPU_SAMPLE_S)
                    continue
                if ready:
                    job = min(ready, key=lambda j: j.priority)
                    self._queue.remove(job)
                    self._running[job.backend.name] = self._running.get(job.backend.name, 0) + 1
                    prog = self._progress[job.backend.name]
                    if prog[2] is None:
                        prog[2] = time.monotonic()
                    return job
                self._cond.wait(timeout=1.0)
            return None

    def _worker(self, extra=False):
        while True:
            job = self._next_job(extra)
            if job is None:
                return
            try:
                self._run(job)
            except Exception as e:  # the runner's own failure (ENOSPC for a log...): say so per cell
                for s in job.scenarios:
                    self._deliver(Result(job.backend.name, s, "ERROR", f"the runner failed: {e!r}"), job)
            finally:
                with self._cond:
                    self._running[job.backend.name] -= 1
                    self._cond.notify_all()

    def _run(self, job):
        def on_execution(ex):
            try:
                expected = job.expected(ex.scenario)
            except ConformError as e:  # a corrupt expected/ file: this cell cannot be judged
                self._deliver(Result(ex.backend, ex.scenario, "ERROR", str(e), duration=ex.duration), job)
                return
            result = judge(ex, expected)
            result.left_behind = ex.left_behind
            trace = f"traces/{ex.backend}/{ex.trace_path.name}"
            if job.first is not None:  # the confirmation of a deviation
                first, first_trace, batched = job.first[ex.scenario]
                self._deliver(confirmed(first, result, first_trace, trace, batched), job)
            elif result.verdict in RETRIED and not self._is_known(job, result, expected):
                kept = _set_aside(ex)
                with self._cond:
                    self._queue.append(_Job(job.backend, [ex.scenario], job.paths, job.expected, True,
                                            first={ex.scenario: (result, kept or trace, not job.isolated)},
                                            priority=-1e12 + next(self._seq) * 1e-9))
                    self._cond.notify_all()
            else:
                self._deliver(result, job)

        def started():
            with self._cond:
                self._processes[job.backend.name] = self._processes.get(job.backend.name, 0) + 1

        def ended(cpu_s):
            with self._cond:
                self._cpu[job.backend.name] = self._cpu.get(job.backend.name, 0.0) + cpu_s

        run_process(job.backend, job.scenarios, job.paths, on_execution, stop=lambda: self._stopping,
                    started=started, ended=ended)

    def _is_known(self, job, result, expected):
        if self.known is None:
            return False
        observed = result.trace if expected is not None else None
        signature = signatures.of_cell(result.verdict, result.message, observed, expected)
        return self.known(job.backend.name, result.scenario, result.verdict, signature, result.run)

    def _deliver(self, result, job):
        with self._cond:
            self._results[(result.backend, result.scenario)] = result
            prog = self._progress[result.backend]
            prog[0] += 1
            prog[3] = time.monotonic()
            self._cond.notify_all()


def shards_of(scenarios, size):
    """The scenarios in shards of at most `size`, each shard every n-th scenario rather than n in a
    row: a story's variants sit together in the listing and wait alike (six "blocked" variants of
    one story), and runs of them made one shard the run's tail (proot: 16 s against 13 s)."""
    n = -(-len(scenarios) // size)
    return [scenarios[i::n] for i in range(n)]


def _shard_size(n, jobs):
    # At least one shard per worker when there are few scenarios; never more than SHARD_SIZE.
    return max(1, min(SHARD_SIZE, -(-n // jobs)))


def _set_aside(ex):
    """Keeps a first attempt's trace and log beside the second's; returns the trace's path relative
    to the results directory, or None when there was none."""
    kept = None
    for path, suffix in ((ex.trace_path, ".json"), (ex.log_path, ".log")):
        if path.exists():
            aside = path.with_name(path.name[:-len(suffix)] + ".attempt-1" + suffix)
            path.replace(aside)
            if suffix == ".json":
                kept = f"traces/{ex.backend}/{aside.name}"
    return kept


def kill_all():
    """Kills every scenario process group the runner started (and is still watching)."""
    with _live_lock:
        groups = list(_live.values())
    for pgid in groups:
        kill_group(pgid)


def shutdown():
    """For an interrupted run (SIGINT, SIGTERM): kills every scenario process group and whatever
    escaped them, and removes the run's temporary directories. Safe to call more than once, from
    any thread."""
    for ex in list(_executors):
        ex.shutdown()
    kill_all()
    kill_orphans(everything=True)
    for root in list(_tmp_roots):
        shutil.rmtree(root, ignore_errors=True)
        _tmp_roots.discard(root)


_executors = []


def new_executor(**kw):
    ex = Executor(**kw)
    _executors.append(ex)
    return ex


# A directory in memory, where Linux has one; where the runs' temporary roots go unless TMPDIR says.
MEMORY_DIR = "/dev/shm"
SCRATCH_MIN_FREE = 32 << 20  # a backend's run holds a few MiB; Docker's /dev/shm is 64 MiB
_scratch = []


def scratch_dir():
    """Where the runs' temporary roots go: TMPDIR when it is set, else /dev/shm when it is a writable
    tmpfs with room, else the system's temporary directory.

    Every scenario creates and removes a directory, its sockets and its trace files. On a disk
    filesystem that is most of the scenario program's system time: ext4 without a journal (the CI
    machine's) scans the inodes deleted in the last minutes on every create, and the native suite
    took 3.0 s of CPU with its directories in /tmp there, 1.0 s in /dev/shm (README, "Where
    scenarios run"). /dev/shm even where /tmp is a tmpfs too: a backend that leaks host paths leaks
    this one, cut to the scenario's buffer, and its known deviations' signatures (runners/expectations/)
    hold that text, so it is the same path on every machine that has one."""
    if not _scratch:
        chosen = tempfile.gettempdir()
        if not os.environ.get("TMPDIR") and _is_tmpfs(MEMORY_DIR):
            try:
                st = os.statvfs(MEMORY_DIR)
                if os.access(MEMORY_DIR, os.W_OK | os.X_OK) and st.f_bavail * st.f_frsize >= SCRATCH_MIN_FREE:
                    chosen = MEMORY_DIR
            except OSError:
                pass
        _scratch.append(chosen)
    return _scratch[0]


def _is_tmpfs(path):
    """Whether path is on a tmpfs: the longest mount point above it in /proc/self/mounts."""
    try:
        real = os.path.realpath(path)
        best, fstype = "", ""
        with open("/proc/self/mounts") as f:
            for line in f:
                fields = line.split()
                point = fields[1].replace("\\040", " ")
                if (real == point or real.startswith(point.rstrip("/") + "/")) and len(point) >= len(best):
                    best, fstype = point, fields[2]
        return fstype == "tmpfs"
    except (OSError, IndexError):
        return False


def temp_root(backend_name):
    """A fresh directory for one backend's run (each process gets its own inside), in
    scratch_dir(), removed by shutdown() or remove_temp_root()."""
    tmp = Path(tempfile.mkdtemp(prefix=f"afunix-{backend_name}-", dir=scratch_dir()))
    tmp.chmod(0o755)  # actors of the test identities create their directories inside
    _tmp_roots.add(tmp)
    return tmp


def remove_temp_root(tmp):
    shutil.rmtree(tmp, ignore_errors=True)
    _tmp_roots.discard(Path(tmp))


# ---- simple entry points ------------------------------------------------------------------------

def run_scenarios(backend, scenarios, paths, expected, jobs=None, isolate=False):
    """Verdicts of one backend's scenarios: {scenario: Result}. expected: scenario -> oracle trace or
    None (a dict or a callable)."""
    loader = expected.get if isinstance(expected, dict) else expected
    ex = new_executor(jobs=jobs, isolate=isolate)
    try:
        ex.plan(backend, scenarios, paths, loader)
        return {s: ex.result(backend, s) for s in scenarios}
    finally:
        ex.shutdown()
        _executors.remove(ex)


def run_scenario(backend, scenario, paths, expected):
    """One scenario in a process of its own; a deviation is tried once more (FLAKY if it does not
    repeat)."""
    return run_scenarios(backend, [scenario], paths, {scenario: expected}, jobs=1, isolate=True)[scenario]


# ---- availability found by trying -----------------------------------------------------------------

PROBE_TIMEOUT_S = 60
_probed = {}


def _run_bounded(argv, env, timeout):
    """(exit status or None when it ran out of time, output, start error) of one bounded run in its
    own process group, which is killed afterwards whatever happened."""
    become_subreaper()
    try:
        proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, start_new_session=True)
    except OSError as e:
        return None, "", f"cannot start {argv[0]}: {e.strerror}"
    try:
        out, _ = proc.communicate(timeout=timeout)
        code = proc.returncode
    except subprocess.TimeoutExpired:
        kill_group(proc.pid)
        out, _ = proc.communicate()
        code = None
    kill_group(proc.pid)
    kill_orphans()
    return code, out.decode(errors="replace").strip(), ""


def probe(backend, root):
    """None when the backend can run the scenario program here, else why not, found by trying once
    (per process) in a fresh {tmp} and trace directory, bounded in time: the backend's own command
    lists the scenarios (--gtest_list_tests), then runs the first one, whose actors must end by
    themselves (a tool that cannot fork or exec here hangs or kills them). Backends without
    `probe = true` are not tried."""
    if not backend.probe:
        return None
    if backend.name in _probed:
        return _probed[backend.name]
    binary = Paths(Path(root), root, root).binary(backend.build)
    if not binary.exists():
        return f"not available: {binary} is not built (./conform build --build {backend.build})"
    tmp = Path(tempfile.mkdtemp(prefix=f"afunix-probe-{backend.name}-", dir=scratch_dir()))
    tmp.chmod(0o755)
    trace_dir = tmp / "traces"
    trace_dir.mkdir()
    paths = Paths(Path(root), trace_dir, tmp)
    try:
        why = _probe(backend, paths)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    _probed[backend.name] = f"not available: {why}" if why else None
    return _probed[backend.name]


def _probe(backend, paths):
    from .scenarios import parse_gtest_list

    def said(text):
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        return f": {lines[-1][:240]}" if lines else ""

    argv, env = command_for(backend, "probe", paths)
    what = f"its command ({argv[0]} ...)"
    argv[-1] = "--gtest_list_tests"
    code, out, error = _run_bounded(argv, env, PROBE_TIMEOUT_S)
    if error:
        return error
    if code is None:
        return f"{what} did not list the scenarios within {PROBE_TIMEOUT_S} s"
    try:
        names = parse_gtest_list(out) if code == 0 else []
    except ValueError:
        names = []
    if not names:
        return f"{what} cannot run the scenario program here (exit {code}){said(out)}"
    first = names[0]
    argv, env = command_for(backend, first, paths)
    code, out, error = _run_bounded(argv, env, PROBE_TIMEOUT_S)
    trace_path = paths.trace_dir / traces.file_name(first)
    if code is None:
        return f"{what} did not finish the scenario {first} within {PROBE_TIMEOUT_S} s (its processes hang here)"
    try:
        doc = traces.load(trace_path) if trace_path.exists() else None
    except ConformError as e:
        return f"{what} ran {first} but its trace is unreadable: {e}"
    if doc is None:
        return f"{what} ran {first} without writing a trace (exit {code}){said(out)}"
    for actor in doc["actors"]:
        if actor["end"].startswith("signal ") or actor["end"] == "killed at the scenario deadline":
            return f"{what} ran {first}, but its actor {actor['role']} ended with {actor['end']}{said(out)}"
    return None
