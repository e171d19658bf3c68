"""Python's socket module (the interpreter Debian ships, /usr/bin/python3): a stream server that
reverses what it receives, a datagram server that answers the sender's bound address, and a
server that passes an open file to its client with SCM_RIGHTS.

    server: bind, listen, print "ready"        client: connect, sendall 1 MiB, shutdown(SHUT_WR)
            accept, recv to EOF, send reversed          recv to EOF: the reversed megabyte
    server: bind a SOCK_DGRAM, print "ready"   client: bind its own name, sendto, recv: upper case
            recvfrom, sendto(sender)
    server: accept, open a file, sendmsg with  client: recvmsg, read the file through the descriptor
            SCM_RIGHTS, close its copy                  it received: the file's contents

Each script prints one JSON line of what it saw; the story compares it with what Linux does."""

from conformlib.applications import Application

APP = Application(
    name="python-socket",
    summary="stream and datagram round trips, SCM_RIGHTS descriptor passing (python3's socket module)",
    packages=["python3"],
    programs=["/usr/bin/python3"],
    related=["Data", "FdPassing", "Addressing", "Lifecycle"],
)

PYTHON = "/usr/bin/python3"

STREAM_SERVER = r"""
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(sys.argv[1]); s.listen(5)
print("ready", flush=True)
c, _ = s.accept()
data = b""
while True:
    chunk = c.recv(65536)
    if not chunk:
        break
    data += chunk
c.sendall(data[::-1]); c.close()
print("served", len(data), flush=True)
"""

STREAM_CLIENT = r"""
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(float(sys.argv[2]))
s.connect(sys.argv[1])
payload = os.urandom(1 << 20)
s.sendall(payload); s.shutdown(socket.SHUT_WR)
back = b""
while True:
    chunk = s.recv(65536)
    if not chunk:
        break
    back += chunk
print("reversed" if back == payload[::-1] else f"wrong: {len(back)} bytes")
"""

DGRAM_SERVER = r"""
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print("ready", flush=True)
data, addr = s.recvfrom(100)
s.sendto(data.upper(), addr)
print("sender", addr, flush=True)
"""

DGRAM_CLIENT = r"""
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[2]); s.settimeout(float(sys.argv[3]))
s.sendto(b"ping over datagrams", sys.argv[1])
print(s.recv(100).decode())
"""

FD_SERVER = r"""
import array, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(sys.argv[1]); s.listen(1)
print("ready", flush=True)
c, _ = s.accept()
with open(sys.argv[2], "rb") as f:
    c.sendmsg([b"here"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [f.fileno()]))])
c.recv(1); c.close()
print("passed", flush=True)
"""

FD_CLIENT = r"""
import array, os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(float(sys.argv[2]))
s.connect(sys.argv[1])
fds = array.array("i")
msg, anc, flags, _ = s.recvmsg(16, socket.CMSG_SPACE(fds.itemsize))
for level, kind, data in anc:
    if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
        fds.frombytes(data[:len(data) - len(data) % fds.itemsize])
if len(fds) != 1:
    print(f"no descriptor: message {msg!r}, {len(anc)} control messages, flags {flags}")
    sys.exit(1)
os.lseek(fds[0], 0, 0)
print(os.read(fds[0], 100).decode())
s.send(b"x")
"""


def story(s):
    wait = str(s.deadline)
    for name, text in [("stream-server.py", STREAM_SERVER), ("stream-client.py", STREAM_CLIENT),
                       ("dgram-server.py", DGRAM_SERVER), ("dgram-client.py", DGRAM_CLIENT),
                       ("fd-server.py", FD_SERVER), ("fd-client.py", FD_CLIENT)]:
        s.write(name, text)
    path = s.path("stream.sock")
    stream = s.start("stream server ready", [PYTHON, s.path("stream-server.py"), path], ready=lambda l: l.strip() == "ready")
    r = s.run("megabyte reversed", [PYTHON, s.path("stream-client.py"), path, wait])
    if s.check("megabyte reversed", r.returncode == 0 and r.stdout.strip() == "reversed",
               "the client gets its megabyte back reversed", r, fatal=False, logs=[stream]):
        s.wait_line("server saw end of stream", stream, lambda l: l.startswith("served 1048576"))

    path = s.path("dgram.sock")
    server = s.start("datagram server ready", [PYTHON, s.path("dgram-server.py"), path], ready=lambda l: l.strip() == "ready")
    r = s.run("datagram answered", [PYTHON, s.path("dgram-client.py"), path, s.path("client.sock"), wait])
    if s.check("datagram answered", r.returncode == 0 and r.stdout.strip() == "PING OVER DATAGRAMS",
               "the answer sent to the client's bound name arrives", r, fatal=False, logs=[server]):
        line = s.wait_line("sender named by its path", server, lambda l: l.startswith("sender"))
        sender = line.split(None, 1)[1].strip()
        s.check("sender named by its path", sender == s.path("client.sock"),
                f"recvfrom names the sender {s.path('client.sock')} (got {sender})", fatal=False)

    path = s.path("fd.sock")
    s.write("passed.txt", "contents read through a passed descriptor\n")
    passer = s.start("descriptor server ready", [PYTHON, s.path("fd-server.py"), path, s.path("passed.txt")],
                     ready=lambda l: l.strip() == "ready")
    r = s.run("descriptor passed", [PYTHON, s.path("fd-client.py"), path, wait])
    s.check("descriptor passed", r.returncode == 0 and r.stdout.strip() == "contents read through a passed descriptor",
            "the client reads the server's file through the descriptor it received", r, fatal=False, logs=[passer])
