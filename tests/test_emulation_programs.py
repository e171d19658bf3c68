"""Real programs on our LD_PRELOAD emulations (emulations/): socat, Python's socket module and
OpenSSH's ssh-agent/ssh-add, each run unmodified under every emulation backend's descriptor (and
natively, as the control that proves the checks themselves).

Each test checks that application bytes really round-trip, that the socket file is the design's
regular file (so the library was in effect), and what the peer credentials say. Readiness comes from
the programs themselves (a "ready" line, socat's "listening on", ssh-agent's SSH_AUTH_SOCK line), with
bounded deadlines; every process is killed and every file removed at the end.
"""

import ast
import errno
import json
import os
import select
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from conformlib.backends import expand, load_backend

ROOT = Path(__file__).resolve().parent.parent
BUILD = Path(os.environ.get("AFUNIX_BUILD_DIR", ROOT / "build"))
PYTHON = "/usr/bin/python3"
DEADLINE = 20  # seconds for any one program or readiness wait

EMULATIONS = ["cygwin-2014", "cygwin-2014-nohandshake", "proposal-1", "proposal-2"]
BACKENDS = ["native"] + EMULATIONS
COOKIE = {"cygwin-2014": b"!<socket >", "cygwin-2014-nohandshake": b"!<socket >",
          "proposal-1": b"!<socket >", "proposal-2": b"!<socket-table> "}
ENOTSUP = 95


class Env:
    """One backend's environment for a test, in a world-searchable temporary directory (the ssh tests
    run programs as another user), with the processes it started."""

    def __init__(self, backend):
        self.backend = backend
        self.dir = Path(tempfile.mkdtemp(prefix=f"afunix-prog-{backend}-"))
        self.dir.chmod(0o755)
        self.env = dict(os.environ)
        self.env.pop("LD_PRELOAD", None)
        self.procs = []
        if backend == "native":
            return
        desc = load_backend(ROOT / "runners" / "backends" / f"{backend}.toml")
        values = {"build": str(BUILD), "root": str(ROOT), "tmp": str(self.dir)}
        self.env.update({key: expand(value, values) for key, value in desc.env.items()})
        lib = self.env.get("LD_PRELOAD", "")
        if not os.path.exists(lib):
            self.cleanup()
            pytest.skip(f"{lib} is not built (cmake -S . -B build -G Ninja && ninja -C build)")
        # Programs run as other users below; the build tree may sit under a directory they cannot
        # search (a CI clone in a private temporary directory), and the loader would then skip the
        # library with a mere warning. A copy beside the test's files is readable by everyone.
        copy = self.dir / Path(lib).name
        shutil.copyfile(lib, copy)
        copy.chmod(0o755)
        self.env["LD_PRELOAD"] = str(copy)

    def start(self, argv, user=None, stdin=subprocess.DEVNULL, **kw):
        p = subprocess.Popen(argv, env=self.env, cwd=self.dir, stdin=stdin, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, start_new_session=True, user=user,
                             group=user, extra_groups=[] if user is not None else None, **kw)
        self.procs.append(p)
        return p

    def run(self, argv, user=None, input=None, **kw):
        return subprocess.run(argv, env=self.env, cwd=self.dir, input=input, capture_output=True,
                              timeout=DEADLINE, user=user, group=user,
                              extra_groups=[] if user is not None else None, **kw)

    def cleanup(self):
        for p in self.procs:
            try:  # the whole session: socat's forked children too
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait(timeout=DEADLINE)
            for f in (p.stdout, p.stderr, p.stdin):
                if f:
                    f.close()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(params=BACKENDS)
def env(request):
    e = Env(request.param)
    yield e
    e.cleanup()
    assert not e.dir.exists()


def read_line_until(stream, predicate, what):
    """Reads lines from a process's pipe until one satisfies predicate; fails after DEADLINE."""
    deadline = time.monotonic() + DEADLINE
    seen = []
    while time.monotonic() < deadline:
        ready, _, _ = select.select([stream], [], [], max(0, deadline - time.monotonic()))
        if not ready:
            break
        line = stream.readline()
        if not line:
            break
        seen.append(line)
        if predicate(line):
            return line
    pytest.fail(f"no {what} within {DEADLINE}s; got {seen!r}")


def check_socket_file(env, path):
    """The name is the design's socket file (a regular file with its cookie), or a real socket."""
    st = os.lstat(path)
    if env.backend == "native":
        assert stat.S_ISSOCK(st.st_mode)
    else:
        assert stat.S_ISREG(st.st_mode), f"{path} is not the emulation's regular socket file"
        assert Path(path).read_bytes().startswith(COOKIE[env.backend])


def finish(proc, what):
    try:
        out, err = proc.communicate(timeout=DEADLINE)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{what} did not finish within {DEADLINE}s")
    return out, err


# ---- Python's socket module -------------------------------------------------------------------------

PY_SERVER = r"""
import json, os, socket, stat, struct, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(sys.argv[1])
s.listen(5)
print("ready", flush=True)
c, addr = s.accept()
try:
    creds = list(struct.unpack("3i", c.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12)))
except OSError as e:
    creds = e.errno
data = b""
while True:
    chunk = c.recv(65536)
    if not chunk:
        break
    data += chunk
c.sendall(data[::-1])
c.close()
try:
    open(sys.argv[1], "rb").close()
    opened = "ok"
except OSError as e:
    opened = e.errno
print(json.dumps({"addr": addr, "creds": creds, "len": len(data), "name": s.getsockname(),
                  "family": c.family, "is_sock": stat.S_ISSOCK(os.stat(sys.argv[1]).st_mode),
                  "open": opened}))
"""

PY_CLIENT = r"""
import json, os, socket, struct, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
if sys.argv[3] == "timeout":
    s.settimeout(15)  # nonblocking connect, poll, SO_ERROR underneath
s.connect(sys.argv[1])
try:
    creds = list(struct.unpack("3i", s.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12)))
except OSError as e:
    creds = e.errno
payload = os.urandom(int(sys.argv[2]))
s.sendall(payload)
s.shutdown(socket.SHUT_WR)
back = b""
while True:
    chunk = s.recv(65536)
    if not chunk:
        break
    back += chunk
print(json.dumps({"ok": back == payload[::-1], "creds": creds, "peer": s.getpeername(),
                  "domain": s.getsockopt(socket.SOL_SOCKET, socket.SO_DOMAIN), "pid": os.getpid()}))
"""


@pytest.mark.parametrize("mode", ["blocking", "timeout"])
def test_python_stream_server_and_client(env, mode):
    path = str(env.dir / "py.sock")
    server = env.start([PYTHON, "-c", PY_SERVER, path], text=True)
    read_line_until(server.stdout, lambda l: l.strip() == "ready", "ready line from the server")
    check_socket_file(env, path)
    client = env.run([PYTHON, "-c", PY_CLIENT, path, str(1 << 20), mode], text=True)
    assert client.returncode == 0, client.stderr
    c = json.loads(client.stdout)
    out, err = finish(server, "the Python server")
    assert server.returncode == 0, err
    s = json.loads(out)

    assert c["ok"], "the reversed megabyte did not come back"
    assert s["len"] == 1 << 20
    assert s["name"] == path and c["peer"] == path
    assert s["addr"] == ""  # the client never bound: unnamed on Linux, family-only in Cygwin
    assert s["family"] == socket_af_unix() and c["domain"] == socket_af_unix()
    assert s["is_sock"], "stat() of the socket file should say socket"
    assert s["open"] == errno.ENXIO, "a socket file cannot be opened"
    if env.backend == "cygwin-2014-nohandshake":
        assert s["creds"] == ENOTSUP and c["creds"] == ENOTSUP
    else:
        assert s["creds"] == [c["pid"], os.geteuid(), os.getegid()]
        assert c["creds"] == [server.pid, os.geteuid(), os.getegid()]


def socket_af_unix():
    return int(socket.AF_UNIX)


PY_EXEC_SERVER = r"""
import socket, subprocess, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(sys.argv[1])
s.listen(5)
print("ready", flush=True)
c, _ = s.accept()
# The accepted connection goes to a new program: its state must survive exec().
r = subprocess.run([sys.executable, "-c", sys.argv[2], str(c.fileno())], pass_fds=[c.fileno()],
                   timeout=20)
sys.exit(r.returncode)
"""

PY_EXEC_CHILD = r"""
import json, socket, struct, sys
c = socket.socket(fileno=int(sys.argv[1]))
try:
    creds = list(struct.unpack("3i", c.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12)))
except OSError as e:
    creds = e.errno
line = c.recv(100)
c.sendall(json.dumps({"family": c.family, "name": c.getsockname(), "creds": creds,
                      "got": line.decode()}).encode())
c.close()
"""

PY_EXEC_CLIENT = r"""
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
s.sendall(b"hello child")
print(os.getpid(), flush=True)
data = b""
while True:
    chunk = s.recv(4096)
    if not chunk:
        break
    data += chunk
print(data.decode())
"""


def test_python_connection_survives_exec(env):
    path = str(env.dir / "exec.sock")
    server = env.start([PYTHON, "-c", PY_EXEC_SERVER, path, PY_EXEC_CHILD], text=True)
    read_line_until(server.stdout, lambda l: l.strip() == "ready", "ready line from the server")
    client = env.run([PYTHON, "-c", PY_EXEC_CLIENT, path], text=True)
    assert client.returncode == 0, client.stderr
    pid_line, reply = client.stdout.splitlines()[:2]
    r = json.loads(reply)
    _, err = finish(server, "the exec'ing server")
    assert server.returncode == 0, err
    assert r["got"] == "hello child"
    assert r["family"] == socket_af_unix(), "after exec the descriptor no longer looks like AF_UNIX"
    assert r["name"] == path
    if env.backend == "cygwin-2014-nohandshake":
        assert r["creds"] == ENOTSUP
    else:
        assert r["creds"] == [int(pid_line), os.geteuid(), os.getegid()]


PY_DGRAM_SERVER = r"""
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print("ready", flush=True)
data, addr = s.recvfrom(100)
s.sendto(data.upper(), addr)
print(repr(addr), flush=True)
"""

PY_DGRAM_CLIENT = r"""
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[2])
s.sendto(b"ping over datagrams", sys.argv[1])
s.settimeout(10)
print(s.recv(100).decode())
"""


def test_python_datagram_reply_to_sender(env):
    path, mine = str(env.dir / "dgram.sock"), str(env.dir / "client.sock")
    server = env.start([PYTHON, "-c", PY_DGRAM_SERVER, path], text=True)
    read_line_until(server.stdout, lambda l: l.strip() == "ready", "ready line from the server")
    check_socket_file(env, path)
    client = env.run([PYTHON, "-c", PY_DGRAM_CLIENT, path, mine], text=True)
    assert client.returncode == 0, client.stderr
    assert client.stdout.strip() == "PING OVER DATAGRAMS"
    out, _ = finish(server, "the datagram server")
    # Linux names the sender by its path; Cygwin makes up "\0dXXXX" from the UDP port.
    if env.backend == "native":
        assert out.strip() == repr(mine)
    else:
        name = ast.literal_eval(out.strip())
        assert isinstance(name, bytes) and name[:2] == b"\0d" and len(name) == 7, out


PY_CONNECT_ERRNO = r"""
import errno, socket, sys
for path in sys.argv[1:]:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(path)
        print("ok", flush=True)
    except OSError as e:
        print(errno.errorcode[e.errno], flush=True)
"""

SECRET = "01234567-89ABCDEF-DEADBEEF-00000001"


def malformed_files(backend):
    """(name, content or None for a FIFO/directory, errno the design's connect gives)."""
    if backend == "proposal-2":
        slot = "40123 0000000001 0000000000 0000000000 00000000000000000001\n"
        return [
            ("truncated", "!<socket-table> s\n" + slot[:30], "EBADF"),
            ("wrong-magic", "!<socket >40123 s " + SECRET + "\0", "EBADF"),
            ("bad-port", "!<socket-table> s\n" + "99999" + slot[5:], "EBADF"),
            ("wrong-type", "!<socket-table> x\n" + slot, "EPROTOTYPE"),
        ]
    extra = " 00000001-00000002-00000003-00000004" if backend == "proposal-1" else ""
    return [
        ("truncated", "!<socket >4012", "EBADF"),
        ("wrong-magic", "!<sOcket >40123 s " + SECRET + extra + "\0", "EBADF"),
        ("bad-port", "!<socket >99999 s " + SECRET + extra + "\0", "EBADF"),
        ("no-port", "!<socket > s " + SECRET + extra + "\0", "EBADF"),
        ("wrong-type", "!<socket >40123 x " + SECRET + extra + "\0", "EPROTOTYPE"),
        ("empty", "", "EBADF"),
    ]


@pytest.mark.parametrize("backend", EMULATIONS)
def test_malformed_socket_files_give_clear_errors(backend):
    env = Env(backend)
    try:
        cases = malformed_files(backend)
        paths = []
        for name, content, _ in cases:
            (env.dir / name).write_text(content)
            paths.append(str(env.dir / name))
        os.mkfifo(env.dir / "fifo")  # opening it for reading would block: must not
        (env.dir / "directory").mkdir()
        paths += [str(env.dir / "fifo"), str(env.dir / "directory"), str(env.dir / "missing")]
        r = env.run([PYTHON, "-c", PY_CONNECT_ERRNO, *paths], text=True)
        assert r.returncode == 0, r.stderr
        want = [e for _, _, e in cases] + ["EBADF", "EBADF", "ENOENT"]
        assert r.stdout.split() == want
    finally:
        env.cleanup()


# ---- socat --------------------------------------------------------------------------------------------

@pytest.fixture
def socat():
    exe = shutil.which("socat")
    if not exe:
        pytest.skip("socat is not installed (apt-get install socat)")
    return exe


def test_socat_unix_listen_and_connect(env, socat):
    path = str(env.dir / "socat.sock")
    # A forking echo server: every connection gets a child that execs cat on a socketpair.
    server = env.start([socat, "-d", "-d", f"UNIX-LISTEN:{path},fork", "EXEC:cat"], text=True)
    read_line_until(server.stderr, lambda l: "listening on" in l, "socat's 'listening on'")
    check_socket_file(env, path)
    for size in (1, 300000):
        payload = os.urandom(size)
        client = env.run([socat, "-t", "10", "-", f"UNIX-CONNECT:{path}"], input=payload)
        assert client.returncode == 0, client.stderr.decode()
        assert client.stdout == payload, f"{size} bytes did not come back through socat and cat"


# ---- OpenSSH's agent -------------------------------------------------------------------------------

NOBODY = 65534
DAEMON = 1


@pytest.fixture
def ssh(env):
    """A private copy of ssh-agent (Debian's is setgid, and the loader ignores LD_PRELOAD for
    setgid programs), a key, and a directory for the agent owned by the user it runs as."""
    agent, add, keygen = (shutil.which(p) for p in ("ssh-agent", "ssh-add", "ssh-keygen"))
    if not (agent and add and keygen):
        pytest.skip("OpenSSH's ssh-agent/ssh-add are not installed (apt-get install openssh-client)")
    user = NOBODY if os.geteuid() == 0 else None
    copy = env.dir / "ssh-agent"
    shutil.copyfile(agent, copy)
    copy.chmod(0o755)
    run_dir = env.dir / "agent"
    run_dir.mkdir(mode=0o755)
    key = env.dir / "id_ed25519"
    subprocess.run([keygen, "-q", "-t", "ed25519", "-N", "", "-C", "afunix-test", "-f", str(key)],
                   check=True, capture_output=True, timeout=DEADLINE)
    if user is not None:
        for p in (run_dir, key, Path(f"{key}.pub")):
            os.chown(p, user, user)
    fingerprint = subprocess.run([keygen, "-lf", f"{key}.pub"], capture_output=True, text=True,
                                 check=True, timeout=DEADLINE).stdout.split()[1]
    return {"agent": str(copy), "add": add, "user": user, "sock": str(run_dir / "agent.sock"),
            "key": str(key), "fingerprint": fingerprint}


def start_agent(env, ssh):
    agent = env.start([ssh["agent"], "-D", "-a", ssh["sock"]], user=ssh["user"], text=True)
    read_line_until(agent.stdout, lambda l: l.startswith("SSH_AUTH_SOCK="), "ssh-agent's SSH_AUTH_SOCK")
    env.env["SSH_AUTH_SOCK"] = ssh["sock"]
    return agent


def test_ssh_agent_with_ssh_add(env, ssh):
    agent = start_agent(env, ssh)
    check_socket_file(env, ssh["sock"])
    listed = env.run([ssh["add"], "-l"], user=ssh["user"], text=True)
    if env.backend == "cygwin-2014-nohandshake":
        # The agent asks getpeereid() who connected; without the handshake there is no answer, so
        # it drops every client. (Cygwin's OpenSSH cannot run with the handshake switched off.)
        assert listed.returncode != 0
        os.killpg(agent.pid, signal.SIGTERM)
        _, err = finish(agent, "ssh-agent")
        assert "getpeereid" in err and "failed" in err, err
        return
    assert listed.returncode == 1 and "The agent has no identities." in listed.stdout, listed
    added = env.run([ssh["add"], ssh["key"]], user=ssh["user"], text=True)
    assert added.returncode == 0 and "Identity added" in added.stderr, added
    listed = env.run([ssh["add"], "-l"], user=ssh["user"], text=True)
    assert listed.returncode == 0 and ssh["fingerprint"] in listed.stdout, listed
    removed = env.run([ssh["add"], "-D"], user=ssh["user"], text=True)
    assert removed.returncode == 0, removed
    listed = env.run([ssh["add"], "-l"], user=ssh["user"], text=True)
    assert listed.returncode == 1 and "no identities" in listed.stdout


def test_ssh_agent_refuses_another_user(env, ssh):
    if ssh["user"] is None:
        pytest.skip("needs root to run the agent and its client as two different users")
    agent = start_agent(env, ssh)
    os.chmod(ssh["sock"], 0o666)  # the file lets anyone in: only the agent's uid check remains
    listed = env.run([ssh["add"], "-l"], user=DAEMON, text=True)
    assert listed.returncode != 0, listed
    os.killpg(agent.pid, signal.SIGTERM)
    _, err = finish(agent, "ssh-agent")
    if env.backend == "cygwin-2014-nohandshake":
        assert "getpeereid" in err, err
    else:
        assert f"uid mismatch: peer euid {DAEMON} != uid {NOBODY}" in err, err
