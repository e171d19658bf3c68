"""socat: a Unix stream echo server and a datagram server that answers the sender, with socat as
the client of both.

    socat -t 2 UNIX-LISTEN:echo.sock,fork EXEC:cat     (a child per connection, exec'ing cat)
    socat -t 10 - UNIX-CONNECT:echo.sock               1 byte, then 300000 bytes, must come back
    socat -t 2 UNIX-RECVFROM:upper.sock,fork EXEC:'tr a-z A-Z'
    socat - UNIX-SENDTO:upper.sock,bind=client.sock    "ping" comes back as "PING" to client.sock

No credentials, no other users: this is the story that must keep working where peer credentials
or permissions are wrong, and it fails where plain data or datagram addressing does."""

import os

from conformlib.applications import Application

APP = Application(
    name="socat",
    summary="stream echo through a forking server, datagram reply to the sender's bound address",
    packages=["socat"],
    programs=["/usr/bin/socat"],
    related=["Data", "Addressing", "Lifecycle", "Readiness"],
)


def story(s):
    # After the client's end of file, a server's child waits -t seconds (0.5 by default) for cat or
    # tr to answer: a slow backend starts them slower than that (valgrind: a second or more).
    answer = str(2 * s.scale)
    echo = s.path("echo.sock")
    echo_server = s.start("echo server listens", ["socat", "-d", "-d", "-t", answer, f"UNIX-LISTEN:{echo},fork", "EXEC:cat"],
            ready=lambda line: "listening on" in line)
    for size in (1, 300000):
        payload = os.urandom(size)
        r = s.run(f"{size} bytes echoed", ["socat", "-t", "10", "-", f"UNIX-CONNECT:{echo}"], input=payload, binary=True)
        s.check(f"{size} bytes echoed", r.returncode == 0 and r.data == payload,
                f"the {size} bytes back through socat and cat (got {len(r.data)} bytes)", r, fatal=False,
                logs=[echo_server])

    upper = s.path("upper.sock")
    upper_server = s.start("datagram server receives", ["socat", "-d", "-d", "-t", answer, f"UNIX-RECVFROM:{upper},fork",
                                                              "EXEC:tr a-z A-Z"],
            ready=lambda line: "receiving on" in line)
    r = s.run("datagram answered", ["socat", "-t", str(2 * s.scale), "-", f"UNIX-SENDTO:{upper},bind={s.path('client.sock')}"],
              input="ping\n")
    s.check("datagram answered", r.returncode == 0 and r.stdout.strip() == "PING",
            "'PING' sent back to the client's bound address", r, fatal=False, logs=[upper_server])
