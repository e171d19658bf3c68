"""Real programs as the final judge: application stories (applications/*.py) run under a backend.

A story is a short script of what a user of the program does (start the daemon, submit, log in,
sign) and what must be refused (another user at a private socket, a role claimed by the wrong OS
user). Its verdict per backend is one of

    works        every step did what it does on Linux, every refusal held
    broken       a step failed: the program does not work there (the step and its messages say how)
    insecure     the program worked, but a refusal that Linux enforces was not enforced
    UNSUPPORTED  the backend cannot carry the story (the descriptor says why), or the program is
                 not installed ("not available: apt-get install X")
    ERROR        the story itself could not be judged (its set-up failed, a bug here)

How a backend carries programs is the descriptor's business (runners/backends/*.toml): its
`command` with `{binary}` replaced by the program and its arguments, its `env`, and an optional
[applications] table:

    carry = "tree"       (default) every program the story starts runs under the backend, and so do
                         the programs they exec (LD_PRELOAD emulations, proot, fakechroot, bwrap)
    carry = "clients"    the backend does not follow exec (qemu-user without binfmt): daemons run
                         natively, the clients that talk to them run under the backend
    unsupported = "why"  no story can run there (e.g. a guest architecture without Debian's programs)
    command = [...]      replaces `command` for programs (e.g. bwrap binding /etc for user names)
    env = {...}          added to (or replacing) `env` for programs
    workdir_on_host = "{tmp}/work"   where the backend's workdir is on the host (default {tmp})
    user_env = "NAME"    the backend switches to a program's user itself (a rootful container
                         runtime, as podman run --user): its command runs as the story (root), and
                         the variable NAME says uid:gid:group,group... (none: the story's own)
    refused_users = {user = "why"}   users the backend never runs programs for (firejail: nobody);
                         a story that runs a program as one is UNSUPPORTED, since that program's
                         refusal would be the backend's, not the program's
    other_users = "why"  programs cannot run as the story's users there (a story with users is
                         UNSUPPORTED saying why), though its scenarios' actors can switch

Every instance lives in its own temporary directory on its own sockets, every wait is bounded, and
every process a story started is gone when it ends (process groups, then a sweep of orphans that
this process, a child subreaper, inherited)."""

import dataclasses
import grp
import importlib.util
import json
import os
import pwd
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from .backends import expand
from .errors import ConformError

VERDICTS = ("works", "broken", "insecure", "UNSUPPORTED", "ERROR")
CARRY = ("tree", "clients")
APPLICATION_KEYS = {"carry": str, "unsupported": str, "command": list, "env": dict, "workdir_on_host": str,
                    "refused_users": dict, "user_env": str, "other_users": str}
DEADLINE_S = 30  # any one program run or readiness wait, scaled by the backend's timeout_multiplier
DAEMON_GRACE_S = 2  # a daemon's time to exit on Ctrl-C at the end of a story, times the multiplier
LEFTOVER_GRACE_S = 1  # what a wrapper stopped on its way out (fakeroot's faked) gets to exit
OUTPUT_TAIL = 12  # lines of a program's output kept as evidence
SEARCH_PATH = "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"


# ---- what a story declares ----------------------------------------------------------------------

@dataclasses.dataclass
class Application:
    """What an application story needs and what explains its verdict."""
    name: str
    summary: str
    packages: list  # Debian packages ("not available: apt-get install ...")
    programs: list  # absolute paths that must exist
    users: list = dataclasses.field(default_factory=list)  # system users the story runs as
    identities: bool = False  # needs several uids at once (a backend without them: UNSUPPORTED)
    related: list = dataclasses.field(default_factory=list)  # scenario areas that explain a verdict
    file: str = ""


def load_stories(directory):
    """applications/*.py: each defines APP (an Application) and story(s). Returns them by name."""
    stories = {}
    for path in sorted(Path(directory).glob("*.py")):
        spec = importlib.util.spec_from_file_location(f"afunix_application_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
        except Exception as e:  # noqa: BLE001 - a broken story file is named, not fatal to the rest
            raise ConformError(path, f"cannot load: {type(e).__name__}: {e}") from None
        app = getattr(module, "APP", None)
        if not isinstance(app, Application) or not callable(getattr(module, "story", None)):
            raise ConformError(path, "an application story defines APP = Application(...) and story(s)")
        app.file = f"applications/{path.name}"
        stories[app.name] = (app, module.story)
    return stories


# ---- how a backend carries programs --------------------------------------------------------------

def carriage(backend):
    """(carry, command, env, reason): how programs run under this backend; reason is set when they
    cannot. Validates the descriptor's [applications] table (naming the file)."""
    table = getattr(backend, "applications", None) or {}
    for key, value in table.items():
        if key not in APPLICATION_KEYS:
            raise ConformError(backend.path, f"unknown key 'applications.{key}' (known: {', '.join(APPLICATION_KEYS)})")
        if not isinstance(value, APPLICATION_KEYS[key]):
            raise ConformError(backend.path, f"'applications.{key}' must be a {APPLICATION_KEYS[key].__name__}")
    carry = table.get("carry", "tree")
    if carry not in CARRY:
        raise ConformError(backend.path, f"applications.carry '{carry}' is not one of {', '.join(CARRY)}")
    command = table.get("command", backend.command)
    if "{binary}" not in command:
        raise ConformError(backend.path, "the applications command needs {binary} as one argument")
    env = dict(backend.env)
    env.update(table.get("env", {}))
    return carry, command, env, table.get("unsupported")


# ---- verdicts ------------------------------------------------------------------------------------

class Broken(Exception):
    """A step did not do what it does on Linux."""


class Unavailable(Exception):
    """The story cannot run here; the message says why."""


@dataclasses.dataclass
class Verdict:
    application: str
    backend: str
    verdict: str
    reason: str = ""
    failed_step: str = ""
    evidence: str = ""
    steps: list = dataclasses.field(default_factory=list)
    related: list = dataclasses.field(default_factory=list)
    duration: float = 0.0

    def as_json(self):
        d = dataclasses.asdict(self)
        d["duration"] = round(self.duration, 2)
        return d


@dataclasses.dataclass
class Ran:
    """One program run: what a reader of the evidence needs."""
    argv: list
    returncode: int
    stdout: str
    stderr: str
    data: bytes = b""  # stdout as bytes

    def says(self, text):
        return text in self.stdout or text in self.stderr

    def tail(self):
        lines = (self.stdout.strip().splitlines() + self.stderr.strip().splitlines())[-OUTPUT_TAIL:]
        return "\n".join("    " + l for l in lines)


def _short(argv):
    text = " ".join(str(a) for a in argv)
    return text if len(text) < 200 else text[:200] + " ..."


# ---- the story's view ----------------------------------------------------------------------------

class Story:
    """What a story uses: its directory (as programs see it and as this process sees it), the
    system users, and programs run, started and judged step by step."""

    def __init__(self, app, backend, root, build_dir):
        self.app = app
        self.backend = backend.name
        self.carry, self._command, self._env, _ = carriage(backend)
        self._user_env = (getattr(backend, "applications", None) or {}).get("user_env")
        self.scale = backend.timeout_multiplier
        self.deadline = DEADLINE_S * self.scale
        self.base = Path(tempfile.mkdtemp(prefix=f"afunix-app-{app.name}-{backend.name}-"))
        self.base.chmod(0o755)  # the story's users must reach their directories inside
        _bases.append(self.base)
        (self.base / "trace").mkdir()  # {trace_dir}: sandboxes bind it
        values = {"build": str(build_dir), "root": str(root), "tmp": str(self.base),
                  "trace_dir": str(self.base / "trace"), "binary": "{binary}"}
        workdir = expand(backend.workdir, values) if backend.workdir else str(self.base)
        values["workdir"] = workdir
        # Where the backend's programs see the instance, and where it is on the host.
        self.guest_root = Path(workdir)
        self.host_root = self._host_of_workdir(backend, workdir)
        self.host_root.mkdir(parents=True, exist_ok=True)
        self.host_root.chmod(0o1777 if self.host_root != self.base else 0o755)
        self._values = values
        self._command = [expand(a, values) for a in self._command]
        self._env = {k: expand(v, values) for k, v in self._env.items()}
        self._copy_preloads()
        self.steps = []
        self.insecure = []
        self.failures = []
        self._procs = []
        self._cleanups = []

    def _host_of_workdir(self, backend, workdir):
        """The host directory behind the backend's workdir: the same path when it is one of the
        host's ({tmp} itself), otherwise [applications] workdir_on_host, by default {tmp} (the
        pattern of proot -b {tmp}:/guest and bwrap --bind {tmp} /guest)."""
        if Path(workdir) == self.base or Path(workdir).is_relative_to(self.base):
            return Path(workdir)
        on_host = (getattr(backend, "applications", None) or {}).get("workdir_on_host", "{tmp}")
        return Path(expand(on_host, {"tmp": str(self.base)}))

    def _copy_preloads(self):
        """Programs run as other users; the build tree may sit where they cannot read (a private
        clone), and the loader would silently skip the library. A readable copy goes beside."""
        pre = self._env.get("LD_PRELOAD")
        if not pre:
            return
        copies = []
        for lib in pre.split(":"):
            if not os.path.exists(lib):
                raise Unavailable(f"{lib} is not built (./conform build)")
            copy = self.base / "lib" / Path(lib).name
            copy.parent.mkdir(exist_ok=True, mode=0o755)
            shutil.copyfile(lib, copy)
            copy.chmod(0o755)
            copies.append(str(copy))
        self._env["LD_PRELOAD"] = ":".join(copies)

    # paths
    def path(self, name):
        """The path programs under the backend use for a file of the instance."""
        return str(self.guest_root / name)

    def host(self, name):
        """The same file as this process (native, outside the backend) reaches it."""
        return self.host_root / name

    def mkdir(self, name, owner=None, mode=0o755):
        p = self.host(name)
        p.mkdir(parents=True, exist_ok=True)
        if owner:
            os.chown(p, *self.ids(owner)[:2])
        p.chmod(mode)
        return p

    def write(self, name, text, owner=None, mode=0o644):
        p = self.host(name)
        p.write_text(text)
        if owner:
            os.chown(p, *self.ids(owner)[:2])
        p.chmod(mode)
        return p

    @staticmethod
    def ids(user):
        """(uid, gid, name) of a system user (None: this process's)."""
        if user is None:
            return os.getuid(), os.getgid(), None
        try:
            pw = pwd.getpwnam(user)
        except KeyError:
            raise Unavailable(f"no system user '{user}'") from None
        return pw.pw_uid, pw.pw_gid, user

    @staticmethod
    def gid(group):
        try:
            return grp.getgrnam(group).gr_gid
        except KeyError:
            raise Unavailable(f"no system group '{group}'") from None

    def env_names(self):
        """The variables the backend puts in programs' environment, its descriptor's and those its
        wrapper adds (fakechroot's FAKECHROOT_BASE...), as a program under it sees them (not
        /usr/bin/env: fakechroot substitutes its own). Daemons that clean their environment
        (postfix's import_environment) must keep them."""
        r = self.run("the backend's environment", ["/usr/bin/python3", "-c", "import os\nfor k in os.environ: print(k + '=')"])
        base = set(self._spawn_args(None, None, None, False)["env"])
        seen = {line.split("=", 1)[0] for line in r.stdout.splitlines() if "=" in line}
        return sorted((seen - base) | set(self._env))

    # running programs
    def _argv(self, argv, under):
        argv = [str(a) for a in argv]
        # By absolute path: some backends take the program as a file name (qemu-user), not a command.
        argv[0] = shutil.which(argv[0], path=SEARCH_PATH) or argv[0]
        if not under:
            return argv
        i = self._command.index("{binary}")
        return self._command[:i] + argv + self._command[i + 1:]

    def _spawn_args(self, user, groups, env, under):
        uid, gid, name = self.ids(user)
        e = {"PATH": SEARCH_PATH, "LANG": "C.UTF-8",
             "HOME": str(self.host_root), "TZ": "UTC"}
        if name:
            e.update(USER=name, LOGNAME=name)
        if under:
            e.update(self._env)
        e.update(env or {})
        kw = {"env": e, "cwd": str(self.base), "start_new_session": True}
        if user is None:
            return kw
        gids = [self.gid(g) for g in groups or []]
        if under and self._user_env:  # the backend switches, as it is told
            e[self._user_env] = f"{uid}:{gid}:" + ",".join(str(g) for g in gids)
        else:
            kw.update(user=uid, group=gid, extra_groups=gids)
        return kw

    def _under(self, server):
        return not (server and self.carry == "clients")

    def run(self, step, argv, user=None, groups=None, input=None, env=None, server=False,
            native=False, timeout=None, binary=False):
        """Runs a program to completion (bounded) under the backend (native=True: outside it, for
        set-up; server=True: a daemon's own helper, native when the backend carries only clients)."""
        under = not native and self._under(server)
        full = self._argv(argv, under)
        kw = self._spawn_args(user, groups, env, under)
        limit = timeout or self.deadline
        try:
            p = subprocess.Popen(full, stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)
        except OSError as e:
            raise Broken(f"{step}: cannot start {argv[0]}: {e.strerror}") from None
        try:
            out, err = p.communicate(input.encode() if isinstance(input, str) else input, timeout=limit)
        except subprocess.TimeoutExpired:
            _killpg(p.pid)
            p.wait()
            # A daemon that left the session may still hold the pipes: take what is there, no more.
            out, err = _read_available(p.stdout), _read_available(p.stderr)
            r = Ran(full, -1, out.decode(errors="replace"), err.decode(errors="replace"))
            self._note(step, "hung", f"{_short(argv)} still running after {limit:.0f} s\n{r.tail()}")
            raise Broken(f"{step}: {Path(str(argv[0])).name} did not finish within {limit:.0f} s")
        _killpg(p.pid)  # whatever it left in its session goes too
        r = Ran(full, p.returncode, "" if binary else out.decode(errors="replace"),
                err.decode(errors="replace"), out)
        self._note(step, "ran", f"$ {_short(argv)}" + (f"  (as {user})" if user else "")
                   + f"\n  exit {r.returncode}" + (f"\n{r.tail()}" if r.tail() else ""))
        return r

    def start(self, step, argv, user=None, groups=None, env=None, ready=None, server=True, native=False):
        """Starts a daemon (in its own session) and waits, bounded, for a line of its output for
        which ready(line) is true. Returns the Popen; it is stopped when the story ends."""
        under = not native and self._under(server)
        full = self._argv(argv, under)
        kw = self._spawn_args(user, groups, env, under)
        p = subprocess.Popen(full, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, **kw)
        self._procs.append(p)
        where = "under the backend" if under else "natively"
        self._note(step, "started", f"$ {_short(argv)}" + (f"  (as {user}, {where})" if user else f"  ({where})"))
        if ready is not None:
            self.wait_line(step, p, ready)
        return p

    def wait_line(self, step, p, ready):
        """Reads the daemon's output (unbuffered: select() must see what is pending) until a line
        for which ready(line) is true; bounded."""
        deadline = time.monotonic() + self.deadline
        p.seen = getattr(p, "seen", [])
        pending = getattr(p, "pending", [])
        fd = p.stdout.fileno()
        partial = b""
        closed = False
        while True:
            while pending:
                line = pending.pop(0)
                p.seen.append(line.rstrip())
                if ready(line):
                    p.pending = pending
                    return line
            if time.monotonic() >= deadline:
                break
            r, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
            if not r:
                break
            chunk = os.read(fd, 65536)
            if not chunk:
                closed = True
                break
            partial += chunk
            *lines, partial = partial.split(b"\n")
            pending = [l.decode(errors="replace") + "\n" for l in lines]
        p.pending = []
        tail = "\n".join("    " + l for l in p.seen[-OUTPUT_TAIL:])
        rc = p.poll()
        if rc is None and closed:  # its output ended: it is exiting, or it closed it and runs on
            try:
                rc = p.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        why = (f"exited {rc}" if rc is not None else "closed its output without saying so" if closed
               else f"did not say so within {self.deadline:.0f} s")
        self._note(step, "not ready", (f"exited {rc}" if rc is not None else "no such line")
                   + (f"\n{tail}" if tail else ""))
        raise Broken(f"{step}: {Path(str(p.args[0])).name} {why}")

    def output(self, step, p, quiet=0.3):
        """Notes what a daemon said since the last look (evidence), waiting until it is quiet."""
        fd = p.stdout.fileno()
        got = b""
        deadline = time.monotonic() + 5 * self.scale
        while time.monotonic() < deadline:
            r, _, _ = select.select([fd], [], [], quiet)
            if not r:
                break
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            got += chunk
        lines = [l.rstrip() for l in getattr(p, "pending", [])] + got.decode(errors="replace").splitlines()
        p.pending = []
        p.seen = getattr(p, "seen", []) + lines
        if lines:
            self._note(step, "daemon said", "\n".join("    " + l for l in lines[-OUTPUT_TAIL:]))
        return "\n".join(lines)

    def wait_for(self, step, predicate, what, evidence=None):
        """Polls a condition this process can observe (a file appearing), bounded."""
        deadline = time.monotonic() + self.deadline
        while time.monotonic() < deadline:
            if predicate():
                self._note(step, "ok", what)
                return
            time.sleep(0.1)
        detail = evidence() if evidence else ""
        self._note(step, "failed", f"not within {self.deadline:.0f} s: {what}" + (f"\n{detail}" if detail else ""))
        raise Broken(f"{step}: not within {self.deadline:.0f} s: {what}")

    def stop(self, step, p, sig=signal.SIGTERM):
        """Asks a daemon to stop the way its manual says, and waits (bounded) for it to exit."""
        try:
            os.kill(p.pid, sig)
        except ProcessLookupError:
            pass
        try:
            rc = p.wait(timeout=self.deadline)
        except subprocess.TimeoutExpired:
            rc = None
        self.check(step, rc is not None, f"it exits after {signal.Signals(sig).name}" + (f" (exit {rc})" if rc is not None else ""))
        return rc

    def processes(self):
        """What still runs from this instance (daemons that left our sessions included)."""
        return instance_processes(self.base)

    def on_cleanup(self, func):
        self._cleanups.append(func)

    # judging
    def check(self, step, ok, message, ran=None, fatal=True, logs=()):
        """A step that must work as on Linux; otherwise the story is broken here. fatal=False: the
        story goes on to its next, independent part (the verdict is still broken). logs: daemons
        whose output since the last look is evidence when the step fails."""
        self._note(step, "ok" if ok else "failed", message if ok else f"expected: {message}")
        if ok:
            return True
        for p in logs:
            self.output(step, p)
        failure = f"{step}: expected {message}" + (f" (exit {ran.returncode})" if ran else "")
        if fatal:
            raise Broken(failure)
        self.failures.append(failure)
        return False

    def evidence_on_failure(self, step, describe):
        """Context manager: when the block fails, notes describe() (a log file's tail)."""
        story = self

        class _Guard:
            def __enter__(self):
                return self

            def __exit__(self, kind, exc, tb):
                if kind is not None and issubclass(kind, Broken):
                    story._note(step, "evidence", describe())
                return False
        return _Guard()

    def refused(self, step, refused, message, ran=None):
        """A refusal Linux enforces; when it does not hold, the story is insecure (and goes on)."""
        self._note(step, "refused" if refused else "NOT REFUSED", message)
        if not refused:
            self.insecure.append(f"{step}: {message}")

    def _note(self, step, status, detail):
        for where in sorted({str(self.host_root), str(self.base)}, key=len, reverse=True):
            detail = detail.replace(where, "$INSTANCE")
        self.steps.append({"step": step, "status": status, "detail": detail})

    # the end
    def finish(self):
        for func in reversed(self._cleanups):
            try:
                func()
            except Exception as e:  # noqa: BLE001 - cleanup goes on whatever one step says
                self._note("clean up", "warning", f"{type(e).__name__}: {e}")
        self._interrupt_daemons()
        for p in self._procs:
            _killpg(p.pid)
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
            if p.stdout:
                p.stdout.close()
        left = sweep(self.base)
        if left:
            self._note("clean up", "warning", "killed what was left running: " + "; ".join(left))
        shutil.rmtree(self.base, ignore_errors=True)
        return left


    def _interrupt_daemons(self):
        """Daemons still running are stopped as a user stops a program in the foreground, with
        Ctrl-C (SIGINT to its process group), and get DAEMON_GRACE_S to exit before they are killed:
        a wrapper that cleans up on it does so (fakeroot stops its faked daemon, which it started
        in a session of its own; killed outright, it would leave it behind)."""
        running = [p for p in self._procs if p.poll() is None]
        for p in running:
            try:
                os.killpg(p.pid, signal.SIGINT)
            except (ProcessLookupError, PermissionError):
                pass
        deadline = time.monotonic() + DAEMON_GRACE_S * self.scale
        for p in running:
            try:
                p.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass


def _read_available(f):
    if f is None:
        return b""
    got = b""
    os.set_blocking(f.fileno(), False)
    try:
        while True:
            chunk = os.read(f.fileno(), 65536)
            if not chunk:
                break
            got += chunk
    except BlockingIOError:
        pass
    f.close()
    return got


def _killpg(pid):
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _proc_text(pid, name):
    try:
        with open(f"/proc/{pid}/{name}", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def instance_processes(base):
    """(pid, command) of every process that runs from the story's directory or names it in its
    command line or environment."""
    me = os.getpid()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        pid = int(entry)
        try:
            cwd = os.readlink(f"/proc/{pid}/cwd")
        except OSError:
            cwd = ""
        cmd = _proc_text(pid, "cmdline")
        if str(base) in cmd or cwd.startswith(str(base)) or str(base) in _proc_text(pid, "environ"):
            if not _proc_text(pid, "stat").split(") ")[-1].startswith("Z"):
                found.append((pid, cmd.strip()))
    return found


def sweep(base):
    """Kills every process that still runs from the story's directory or names it (daemons that
    left our sessions: postfix's master, a forked helper); and reaps what was re-parented to us."""
    left = []
    grace = time.monotonic() + LEFTOVER_GRACE_S
    while instance_processes(base) and time.monotonic() < grace:
        time.sleep(0.05)
    for _ in range(5):
        found = instance_processes(base)
        if not found:
            break
        for pid, cmd in found:
            try:
                os.kill(pid, signal.SIGKILL)
                left.append(f"{pid} {cmd[:80]}")
            except ProcessLookupError:
                pass
        time.sleep(0.1)
    while True:  # zombies re-parented to this process (a subreaper)
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid == 0:
            break
    return left


# ---- running stories -----------------------------------------------------------------------------

def availability(app):
    """None, or why the application cannot run on this machine."""
    missing = [p for p in app.programs if not os.path.exists(p)]
    if missing:
        return f"not available: apt-get install {' '.join(app.packages)} ({', '.join(missing)} missing)"
    return None


def cannot_run(app, backend):
    """The verdict of a story that cannot run under this backend (UNSUPPORTED saying why, or ERROR
    for a bad descriptor), or None when it can."""
    v = Verdict(app.name, backend.name, "UNSUPPORTED")
    try:
        _, _, _, unsupported = carriage(backend)
    except ConformError as e:
        v.verdict, v.reason = "ERROR", str(e)
        return v
    why = availability(app) or unsupported
    table = getattr(backend, "applications", None) or {}
    refused = table.get("refused_users", {})
    for user in app.users:
        if not why and user in refused:
            why = f"the story runs a program as {user}: {refused[user]}"
    if not why and app.users and "other_users" in table:
        why = f"the story runs programs as {', '.join(app.users)}: {table['other_users']}"
    if not why and app.identities and "identities" in backend.unsupported:
        why = backend.unsupported["identities"]
    if not why and app.users and os.geteuid() != 0:
        why = "needs root to run programs as " + ", ".join(app.users)
    if why:
        v.reason = why
        return v
    return None


def run_story(app, story, backend, root, build_dir):
    """The verdict of one application story under one backend."""
    started = time.monotonic()
    v = cannot_run(app, backend)
    if v is not None:
        return v
    v = Verdict(app.name, backend.name, "UNSUPPORTED")
    carry = carriage(backend)[0]
    s = None
    try:
        s = Story(app, backend, root, build_dir)
        for user in app.users:
            s.ids(user)
        story(s)
        if s.failures:
            raise Broken("; ".join(s.failures))
        if s.insecure:
            v.verdict, v.reason = "insecure", "; ".join(s.insecure)
            v.failed_step = s.insecure[0].split(":", 1)[0]
        else:
            v.verdict = "works"
            v.reason = "every step worked and every refusal held" + (
                " (daemons native, clients under the backend)" if carry == "clients" else "")
    except Broken as e:
        v.failed_step, _, _ = str(e).partition(":")
        v.verdict, v.reason = ("insecure" if s and s.insecure else "broken"), str(e)
        if s and s.insecure:
            v.reason = "; ".join(s.insecure) + f"; then {e}"
    except Unavailable as e:
        v.verdict, v.reason = "UNSUPPORTED", str(e)
    except Exception as e:  # noqa: BLE001 - a bug in a story is its ERROR, not the run's end
        v.verdict, v.reason = "ERROR", f"{type(e).__name__}: {e}"
    finally:
        if s is not None:
            left = s.finish()
            v.steps = s.steps
            v.evidence = "\n".join(f"[{st['status']}] {st['step']}: {st['detail']}" for st in s.steps)
            if left and v.verdict == "works":
                v.verdict, v.reason = "ERROR", "processes outlived the story: " + "; ".join(left)
    v.duration = time.monotonic() - started
    return v


def related_scenarios(app, backend, results):
    """The scenarios of the story's areas that deviated on this backend: what explains a verdict."""
    from .scenarios import area_of
    return sorted(r["scenario"] for r in results
                  if r["backend"] == backend and area_of(r["scenario"]) in app.related
                  and r["verdict"] not in ("PASS", "UNSUPPORTED"))


def _said(v):
    return (f"application {v.application} on {v.backend}: {v.verdict}"
            + (f" ({v.reason.splitlines()[0][:150]})" if v.verdict != "works" and v.reason else ""))


def run_all(stories, backends, root, build_dir_of, results=(), say=print, only=None):
    """Every (application, backend), one after another in this process; returns the results.json
    rows. (./conform runs them in parallel, each in a process of its own: StoryPool.)"""
    become_subreaper()
    rows = []
    for name, (app, story) in sorted(stories.items()):
        if only and name not in only:
            continue
        for b in backends:
            v = run_story(app, story, b, root, build_dir_of(b))
            v.related = related_scenarios(app, b.name, results)
            say(_said(v))
            rows.append(v.as_json())
    return rows


# ---- stories in parallel -------------------------------------------------------------------------

def default_story_jobs():
    """Stories running at once. They mostly wait (a daemon starting, a readiness line, a bounded
    wait on a broken backend: 30 s times its multiplier), so more of them than there are cores;
    bounded, since some are CPU-heavy (initdb, or anything under valgrind or qemu)."""
    return 3 * (os.cpu_count() or 1)


# A whole story, on top of its steps' own bounds (each DEADLINE_S times the multiplier): only a
# story whose own bounds failed (a bug) reaches it.
STORY_BOUND_S = 20 * DEADLINE_S
# After SIGTERM, how long a story process gets to stop its programs and remove its directory.
STOP_GRACE_S = 5


class StoryPool:
    """Runs (application, backend) stories in parallel, each in a process of its own: a child
    subreaper in a session of its own, so what one story leaves behind (a daemon, a zombie) is
    swept by that process and never mistaken for another story's. At most `jobs` at once, the
    slowest backends first; it runs beside the scenarios (./conform starts it before them), and
    rows() waits for the last story and adds what explains each verdict.

    `lock` and `pids` are for whoever kills the descendants of this process (./conform): under
    `lock`, `pids` are the story processes, which are not strays."""

    def __init__(self, root, backends, stories_dir=None, only=None, jobs=None, say=print,
                 unavailable=None):
        self.root = Path(root)
        self.say = say
        self.jobs = max(1, jobs or default_story_jobs())
        self.stories_dir = Path(stories_dir or self.root / STORIES_DIR)
        self.stories = load_stories(self.stories_dir)
        unknown = [a for a in only or [] if a not in self.stories]
        if unknown:
            raise ConformError(self.root / STORIES_DIR,
                               f"no application story {', '.join(unknown)} (have: {', '.join(self.stories)})")
        self.lock = threading.Lock()
        self.pids = set()
        self._verdicts = []
        self._stopping = False
        self._todo = []
        for name, (app, _) in sorted(self.stories.items()):
            if only and name not in only:
                continue
            for b in backends:
                if (unavailable or {}).get(b.name):
                    v = Verdict(name, b.name, "UNSUPPORTED", f"backend not available: {unavailable[b.name]}")
                else:
                    v = cannot_run(app, b)
                if v is not None:  # decided here, without a process
                    self._verdicts.append(v)
                else:
                    self._todo.append((app, b))
        # The slowest backends first: the run ends together.
        self._todo.sort(key=lambda c: -c[1].timeout_multiplier)
        self._threads = []
        self._tmp = Path(tempfile.mkdtemp(prefix="afunix-stories-"))

    def start(self):
        become_subreaper()  # a story process killed by stop(): its programs come here, to be killed
        for i in range(min(self.jobs, len(self._todo))):
            t = threading.Thread(target=self._worker, name=f"afunix-story-{i}", daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def _next(self):
        with self.lock:
            if self._stopping or not self._todo:
                return None
            return self._todo.pop(0)

    def _worker(self):
        while True:
            cell = self._next()
            if cell is None:
                return
            app, backend = cell
            try:
                v = self._run(app, backend)
            except Exception as e:  # noqa: BLE001 - the runner's own failure, said in the cell
                v = Verdict(app.name, backend.name, "ERROR", f"the story runner failed: {type(e).__name__}: {e}")
            with self.lock:
                if self._stopping:
                    return
                self._verdicts.append(v)
            self.say(_said(v))

    def _run(self, app, backend):
        out = self._tmp / f"{app.name}~{backend.name}.json"
        err = self._tmp / f"{app.name}~{backend.name}.err"
        argv = [sys.executable, "-m", "conformlib.applications", str(self.root), str(self.stories_dir), app.name,
                str(backend.path), str(out)]
        env = dict(os.environ, AFUNIX_STORY_PARENT=str(os.getpid()), PYTHONPATH=os.pathsep.join(
            [str(Path(__file__).resolve().parent.parent)] + [p for p in [os.environ.get("PYTHONPATH")] if p]))
        started = time.monotonic()
        with open(err, "wb") as errf:
            with self.lock:
                if self._stopping:
                    return Verdict(app.name, backend.name, "ERROR", "not run: the run was stopped")
                p = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=errf, stderr=errf,
                                     start_new_session=True)
                self.pids.add(p.pid)
            bound = STORY_BOUND_S * backend.timeout_multiplier
            try:
                p.wait(timeout=bound)
                timed_out = False
            except subprocess.TimeoutExpired:
                timed_out = True
                _stop_process(p)
            finally:
                with self.lock:
                    self.pids.discard(p.pid)
        if out.exists():
            v = Verdict(**json.loads(out.read_text()))
            return v
        said = err.read_text(errors="replace").strip().splitlines()[-OUTPUT_TAIL:]
        why = (f"the story did not end within {bound:.0f} s" if timed_out else
               f"the story's process exited {p.returncode} without a verdict")
        return Verdict(app.name, backend.name, "ERROR", why + (":\n" + "\n".join(said) if said else ""),
                       duration=time.monotonic() - started)

    def rows(self, results=()):
        """Waits for every story; the results.json rows, each with the scenarios that explain it."""
        for t in self._threads:
            t.join()
        shutil.rmtree(self._tmp, ignore_errors=True)
        rows = []
        for v in sorted(self._verdicts, key=lambda v: (v.application, v.backend)):
            app = self.stories[v.application][0]
            v.related = related_scenarios(app, v.backend, results)
            rows.append(v.as_json())
        return rows

    def stop(self):
        """Stops every story now (an interrupted run): each story process is asked to clean up
        (SIGTERM: it stops its programs and removes its directory), then killed."""
        with self.lock:
            self._stopping = True
            self._todo.clear()
            running = list(self.pids)
        for pid in running:
            try:
                os.killpg(pid, signal.SIGTERM)
            except (ProcessLookupError, PermissionError):
                pass
        end = time.monotonic() + STOP_GRACE_S
        while time.monotonic() < end:
            with self.lock:
                if not self.pids:
                    break
            time.sleep(0.05)
        with self.lock:
            late = list(self.pids)
        for pid in late:  # still cleaning up after the grace: killed (their programs are swept by the caller)
            _killpg(pid)
        for t in self._threads:
            t.join(timeout=STOP_GRACE_S)
        shutil.rmtree(self._tmp, ignore_errors=True)


# The directories of the stories this process made (a story process makes one): removed on the way
# out whatever happened.
_bases = []


def _stop_process(p):
    """SIGTERM to a story process (it cleans up), SIGKILL to its group after STOP_GRACE_S."""
    try:
        os.killpg(p.pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        p.wait(timeout=STOP_GRACE_S)
    except subprocess.TimeoutExpired:
        pass
    _killpg(p.pid)
    p.wait()


def _story_process(argv):
    """python3 -m conformlib.applications ROOT STORIES_DIR APPLICATION DESCRIPTOR OUT: one story,
    its verdict written to OUT as JSON. SIGTERM ends the story the way a failure does (its programs stopped,
    its directory removed) and writes no verdict."""
    from .backends import load_backend
    root, stories_dir, name, descriptor, out = argv

    def terminated(signum, frame):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # once: the clean-up it starts is not interrupted
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, terminated)
    # The runner dying without stopping it (SIGKILL) ends the story too, the way SIGTERM does.
    import ctypes
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG
    if str(os.getppid()) != os.environ.get("AFUNIX_STORY_PARENT", str(os.getppid())):
        raise SystemExit(128 + signal.SIGTERM)  # it died before the line above
    become_subreaper()
    app, story = load_stories(stories_dir)[name]
    backend = load_backend(descriptor)
    try:
        v = run_story(app, story, backend, Path(root), backend.build_dir(Path(root)))
    finally:
        for base in _bases:  # whatever an interrupted clean-up did not get to
            if base.exists():
                sweep(base)
                shutil.rmtree(base, ignore_errors=True)
    tmp = Path(out + ".tmp")
    tmp.write_text(json.dumps(dataclasses.asdict(v)))
    tmp.replace(out)


def become_subreaper():
    """Daemons that leave our sessions (postfix's master) are re-parented here, not to init, so the
    sweep can reap them."""
    import ctypes
    try:
        ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    except OSError:
        pass


# ---- installation ---------------------------------------------------------------------------------

# Answers for packages that ask during installation: postfix's "General type of mail
# configuration" is "No configuration", so the package writes no main.cf and no system mail
# service can start; the stories use private instances only.
DEBCONF_PRESEED = "postfix postfix/main_mailer_type select No configuration\n"
POLICY_RC_D = Path("/usr/sbin/policy-rc.d")
# Packages whose installation enables a system service (Debian's maintainer scripts): the project
# never depends on them, and disables what its own installation enabled.
SERVICES = {"postfix": ["postfix"], "postgresql": ["postgresql"]}


def packages(stories):
    return sorted({p for app, _ in stories.values() for p in app.packages})


def install(ensure_packages, stories, install=True, say=print):
    """Installs the applications' packages without letting them start system services: debconf
    answers first, a temporary policy-rc.d (exit 101: "action forbidden") unless one is already
    there, and afterwards the services that this installation enabled are disabled again."""
    wanted = packages(stories)
    if not install or os.geteuid() != 0 or shutil.which("dpkg-query") is None:
        return ensure_packages(wanted, install=False)
    before = {p for p in wanted if _installed(p)}
    if set(wanted) <= before:
        return []
    if shutil.which("debconf-set-selections"):
        subprocess.run(["debconf-set-selections"], input=DEBCONF_PRESEED, text=True, capture_output=True)
    ours = not POLICY_RC_D.exists()
    if ours:
        POLICY_RC_D.write_text("#!/bin/sh\n# afunix-conformance: no services start while it installs\nexit 101\n")
        POLICY_RC_D.chmod(0o755)
    try:
        missing = ensure_packages(wanted, install=True)
    finally:
        if ours:
            POLICY_RC_D.unlink()
    for pkg in wanted:
        if pkg in before or not _installed(pkg):
            continue
        for service in SERVICES.get(pkg, []):
            if shutil.which("systemctl"):
                subprocess.run(["systemctl", "disable", "--now", service], capture_output=True, timeout=60)
            say(f"{pkg}: system service '{service}' left stopped and disabled (the applications use private instances)")
    return missing


def _installed(pkg):
    r = subprocess.run(["dpkg-query", "-W", "-f=${Status}", pkg], capture_output=True, text=True)
    return r.returncode == 0 and "install ok installed" in r.stdout


# ---- the matrix section -------------------------------------------------------------------------

LEGEND = ("Real, unmodified Debian programs run under each backend (applications/*.py). *works*: every step "
          "did what it does on Linux and every refusal held; *broken*: a step failed (which one is "
          "given); *insecure*: it worked, but a refusal Linux enforces was not enforced. The scenarios "
          "beside a cell are the deviations of that backend in the areas that explain it.")


def application_rows(doc):
    """{application: {backend: row}} from results.json (tolerates its absence)."""
    table = {}
    for row in doc.get("applications") or []:
        table.setdefault(row["application"], {})[row["backend"]] = row
    return table


def _related_summary(row, limit=3):
    rel = row.get("related") or []
    if not rel:
        return ""
    by_area = {}
    for s in rel:
        by_area.setdefault(s.split(".", 1)[0].split("/")[-1], []).append(s)
    return "; ".join(f"{a} {len(v)} deviating (" + ", ".join(x.split(".", 1)[1] for x in v[:limit])
                     + (", ..." if len(v) > limit else "") + ")" for a, v in sorted(by_area.items()))


def write_into(results_json, rows):
    """Adds the applications to a results.json (replacing earlier rows of the same cells)."""
    doc = json.loads(Path(results_json).read_text())
    keep = [r for r in doc.get("applications") or []
            if (r["application"], r["backend"]) not in {(x["application"], x["backend"]) for x in rows}]
    doc["applications"] = sorted(keep + rows, key=lambda r: (r["application"], r["backend"]))
    Path(results_json).write_text(json.dumps(doc, indent=1) + "\n")
    return doc


# ---- the phase of ./conform run -------------------------------------------------------------------

STORIES_DIR = "applications"


def phase(root, backends, selected, unavailable, results_json, say=print, only=None, pool=None):
    """Every story under every selected backend, in parallel, into results.json and the matrix.
    unavailable: backend -> reason, for backends that did not run (their cells say why). pool: a
    StoryPool already started for them (./conform run starts it beside the scenarios)."""
    from . import report
    root = Path(root)
    if pool is None:
        pool = start_phase(root, backends, selected, unavailable, say, only)
    doc = json.loads(Path(results_json).read_text())
    rows = pool.rows(doc.get("results", []))
    doc = write_into(results_json, rows)
    report.write_matrix(Path(results_json).parent, doc)
    return doc


def mark_partial(results_json, reason):
    """A run whose stories were interrupted: its results.json and matrix say it is partial."""
    from . import report
    doc = json.loads(Path(results_json).read_text())
    doc["partial"], doc["partial_reason"] = True, reason
    Path(results_json).write_text(json.dumps(doc, indent=1) + "\n")
    report.write_matrix(Path(results_json).parent, doc)


def start_phase(root, backends, selected, unavailable, say=print, only=None, jobs=None):
    """The stories of phase(), started now: the StoryPool running them."""
    return StoryPool(root, [backends[b] for b in selected], only=only, jobs=jobs, say=say,
                     unavailable=unavailable).start()


if __name__ == "__main__":
    # Through the package's own module, not this __main__ copy: the stories' Application is that one.
    from conformlib.applications import _story_process as main
    main(sys.argv[1:])
