"""What a backend leaves behind outside the scenario's directory, per scenario, and its removal.

A scenario's own directory is the harness's to make and remove; anything else a backend creates (its
temporary sockets, links, lock and state files) and leaves when the scenario has ended is a finding:
the cell lists it (`left_behind` in results.json) and the run removes it.

Where a backend could write, and how each place is watched:

- the system's temporary directories (/tmp, /var/tmp, /dev/shm) and the backend's declared
  `state_dirs`: shards run in parallel, so a shared directory cannot say which scenario wrote what.
  As root each scenario-program process gets its own: the process starts in a mount namespace of
  its own (build/runners/helpers/afunix-private-ns, about 1 ms of CPU per process; unshare and
  mount(8) from a shell, about 7 ms, when it is not built) where a fresh directory of the runner's is mounted over each of them,
  with the runner's own directories (the project, the run's temporary and trace directories) bound
  back at their paths. Whatever appears there appeared in that process. Without root (or where
  mount namespaces are denied) they are not watched, and run_info says so.
- the process's own {tmp} (inside the run's temporary directory): always watched, it is the
  process's own.

A process runs one scenario at a time, and the harness waits for the runner's word after it
announces a scenario's end (AFUNIX_BATCH_ACK_FD, conformance/harness/batch.h): the runner lists the
watched directories (their top level only: a few entries, never a walk of a tree) before the word,
so everything new since the previous listing appeared during that scenario, even when a backend's
processes are parallel to other shards'. The first listing is taken after the process has started
(the first scenario's begin), so what a backend's process makes for itself at start-up (proot's
glue directory) is not a scenario's. Nothing is deleted while the process runs (a backend may keep
per-process state there), and a cell's list keeps only what is still there once the process has
ended (proot removes the directories it made for long socket paths at its exit: not left behind).
The private directories go, whole, when the process has ended, so nothing that existed before the
run, or belongs to another process or run, is ever touched.

The same process also gets a network namespace of its own, with only the loopback device, up (as
root, where CLONE_NEWNET is permitted; the same helper, or unshare --net and ip(8)): shards run in
parallel, and what one process listens on over 127.0.0.1 (the emulations' sockets, a port-guessing
attacker's targets, /proc/net/tcp) and its abstract AF_UNIX names would otherwise be reachable
from, and collide with, the scenarios running beside it. No backend needs the host's network.
Measured over 1000 processes (load average 12 to 22 on 2 cores): the helper took 8.4 ms of CPU
per process with it, 7.8 ms without (`true` alone 3.7 ms), and the kernel's threads that dismantle
the namespaces 0.8 ms more. Without it run_info.network says why, and the run's shards are not
isolated from each other.
"""

import os
import shlex
import shutil
import subprocess
import sys
import threading
from pathlib import Path

from . import builds

# The system's temporary directories: where a backend's own temporary files go.
SYSTEM_TEMP_DIRS = ("/tmp", "/var/tmp", "/dev/shm")

# What this runner process found it can isolate: probe name -> "" (it can) or why not. Each probe
# runs once per process.
_found = {}
_found_lock = threading.Lock()


def _once(name, why_not):
    with _found_lock:
        if name not in _found:
            _found[name] = why_not() or ""
        return _found[name] or None


def isolation():
    """None when each process can have private temporary directories here, else why not."""
    return _once("temporary dirs", _why_not_isolated)


def _why_not_isolated():
    if os.geteuid() != 0:
        return "the runner is not root (a mount namespace with private temporary directories needs CAP_SYS_ADMIN)"
    return _why_it_fails(["unshare", "--mount", "--propagation", "private", "mount", "-n", "--bind", "/", "/"],
                         "unshare --mount")


def _why_it_fails(argv, what):
    """None when argv runs and succeeds, else why not, in one line."""
    try:
        r = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as e:
        return f"{what} could not run: {e}"
    if r.returncode != 0:
        said = (r.stderr or r.stdout).decode(errors="replace").strip().splitlines()
        return f"{what} failed here" + (f": {said[-1]}" if said else "")
    return None


def network_isolation():
    """None when each process can have a network namespace of its own here, else why not."""
    return _once("network", _why_no_network_namespace)


def _why_no_network_namespace():
    if os.geteuid() != 0:
        # An unprivileged user gets one only inside a user namespace, which would change the
        # identities the scenarios observe.
        return "the runner is not root (a network namespace needs CAP_SYS_ADMIN)"
    return _why_it_fails(["unshare", "--net", *_LOOPBACK_UP], "unshare --net")


# Brings the loopback device of a new network namespace up, without the helper: ip(8) (iproute2),
# else the runner's own Python (SIOCGIFFLAGS, then SIOCSIFFLAGS with IFF_UP), for a Debian without
# iproute2 (a container image's).
IP_LOOPBACK_UP = ["ip", "link", "set", "lo", "up"]
PYTHON_LOOPBACK_UP = [sys.executable, "-c", "import fcntl, socket, struct; s = socket.socket(socket.AF_INET, "
                      "socket.SOCK_DGRAM); f = struct.unpack_from('H', fcntl.ioctl(s, 0x8913, struct.pack("
                      "'16s24x', b'lo')), 16)[0]; fcntl.ioctl(s, 0x8914, struct.pack('16sH22x', b'lo', f | 1))"]
_LOOPBACK_UP = IP_LOOPBACK_UP if shutil.which("ip") else PYTHON_LOOPBACK_UP


def describe_network():
    """For run_info: whether each scenario-program process has a network of its own."""
    why = network_isolation()
    if why is None:
        return {"per_process": True,
                "how": "a network namespace per scenario-program process, with only its loopback device: "
                       "loopback TCP/UDP and abstract AF_UNIX names are not shared between parallel shards"}
    return {"per_process": False,
            "why_not": why + "; scenarios running in parallel shards share loopback TCP/UDP and abstract "
                             "AF_UNIX names (one can reach or collide with another's)"}


def describe(backends=()):
    """For run_info: what the run watches for leftovers."""
    why = isolation()
    state = sorted({d for b in backends for d in getattr(b, "state_dirs", [])})
    if why is None:
        watched = list(SYSTEM_TEMP_DIRS) + state
        return {"watched": watched + ["each process's {tmp}"], "per_scenario": True,
                "how": "a private copy of each directory per scenario-program process (a mount namespace); "
                       "listed after every scenario, removed when the process ends"}
    return {"watched": ["each process's {tmp}"], "per_scenario": True,
            "not_watched": list(SYSTEM_TEMP_DIRS) + state,
            "why_not": why + "; shared directories cannot be attributed to one of the parallel scenarios"}


def _same_owner_and_mode(model, directory):
    st = os.stat(model)
    os.chmod(directory, st.st_mode & 0o7777)  # /tmp's sticky 1777: the test users write there too
    os.chown(directory, st.st_uid, st.st_gid)


def _under(path, top):
    try:
        rel = Path(path).relative_to(top)
    except ValueError:
        return None
    return rel.parts[0] if rel.parts else ""


class Watch:
    """The places one scenario-program process could leave things, and what each already held."""

    def __init__(self, backend, paths):
        self.tmp = Path(paths.tmp)
        self.helper = builds.build_dir(paths.root, "native") / "runners" / "helpers" / "afunix-private-ns"
        self.net = network_isolation() is None
        self.places = [("{tmp}", self.tmp)]  # (what the backend calls it, where it is on the host)
        self.covers = []  # (directory the backend sees, private host directory mounted over it)
        self.binds = []  # (host directory, mount point inside a private directory)
        if isolation() is None:
            needed = [paths.root, paths.run_tmp or paths.tmp, paths.trace_dir, paths.tmp]
            private = self.tmp / ".private"
            for i, seen in enumerate(list(SYSTEM_TEMP_DIRS) + list(getattr(backend, "state_dirs", []))):
                if not os.path.isdir(seen):
                    continue
                inside = next(((s, m) for s, m in self.covers if _under(seen, s)), None)
                if inside and not any(_under(seen, os.path.join(s, "")) for s, _ in self.binds):
                    # A state directory inside a private one: made there, listed there.
                    mine = inside[1] / Path(seen).relative_to(inside[0])
                    mine.mkdir(parents=True, exist_ok=True)
                    _same_owner_and_mode(seen, mine)
                    self.places.append((seen, mine))
                    continue
                mine = private / str(i)
                mine.mkdir(parents=True)
                _same_owner_and_mode(seen, mine)
                for top in sorted({_under(n, seen) for n in needed} - {None}):
                    if top == "":  # the watched directory is itself needed: leave it shared
                        break
                    (mine / top).mkdir()
                    self.binds.append((os.path.join(seen, top), mine / top))
                else:
                    self.covers.append((seen, mine))
                    self.places.append((seen, mine))
        self.seen = self._listing()
        self.hosts = {}  # what check() reported -> where it is on the host

    def wrap(self, argv):
        """argv in a mount namespace of its own with the private directories mounted (as root), and
        in a network namespace of its own with loopback up (where permitted)."""
        if not self.covers and not self.net:
            return argv
        mounts = []
        for source, target in self.binds:  # the runner's directories first, while they are reachable
            mounts += ["--bind", str(source), str(target)]
        for seen, mine in self.covers:
            mounts += ["--rbind", str(mine), seen]
        if self.helper.exists():  # the build's small program: no shell, mount(8) or ip(8) per process
            return [str(self.helper), *(["--net"] if self.net else []), *mounts, "--", *argv]
        script = ('while [ "$1" != -- ]; do mount -n "$1" "$2" "$3" || exit 125; shift 3; done; '
                  'shift; exec "$@"')
        unshare = ["unshare"] + (["--mount", "--propagation", "private"] if self.covers else [])
        if self.net:
            unshare += ["--net"]
            lo = " ".join(shlex.quote(a) for a in _LOOPBACK_UP)
            script = f"{lo} || exit 125; " + script
        return [*unshare, "sh", "-c", script, "sh", *mounts, "--", *argv]

    def _listing(self):
        found = {}
        for name, host in self.places:
            try:
                with os.scandir(host) as it:
                    for e in it:
                        found[(name, e.name)] = e.is_dir(follow_symlinks=False)
            except OSError:
                pass
        return found

    def start(self):
        """The first scenario begins: what is there now is the process's own (start-up, mount points)."""
        self.seen = self._listing()

    def check(self):
        """What appeared since the previous listing, as the backend names it ("/tmp/x", "{tmp}/d/")."""
        now = self._listing()
        new = sorted(k for k in now if k not in self.seen)
        self.seen.update(now)
        found = []
        for place, name in new:
            shown = f"{place}/{name}" + ("/" if now[(place, name)] else "")
            self.hosts[shown] = os.path.join(dict(self.places)[place], name)
            found.append(shown)
        return found

    def still_there(self, found, killed=False):
        """Of what check() found, what is still there now that the process has ended (a backend may
        remove its files at exit); `killed`: the runner killed the process, so it had no chance to."""
        kept = [f for f in found if os.path.lexists(self.hosts.get(f, ""))]
        return [f + " (its process was killed by the runner)" for f in kept] if killed else kept

    def remove(self):
        """The process has ended: its private directories go, whole (never a shared directory)."""
        shutil.rmtree(self.tmp / ".private", ignore_errors=True)
