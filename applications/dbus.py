"""D-Bus: a private dbus-daemon whose policy lets one user in; its clients authenticate with
EXTERNAL, which means "ask the kernel who I am" (SO_PEERCRED on the bus's Unix socket).

    daemon$ dbus-daemon --config-file=bus.conf --nofork --print-address
            bus.conf: <listen>unix:path=run/bus</listen> <auth>EXTERNAL</auth>
                      <policy context="default"> <allow user="daemon"/> ... </policy>
    daemon$ dbus-send --print-reply --dest=org.freedesktop.DBus ... GetId
            the bus's id (32 hex digits)
    daemon$ dbus-send ... GetConnectionUnixUser string::1.1
            uint32 1: the bus knows the caller's uid (the second connection, :1.1, asks about itself)
    nobody$ dbus-send ... GetId
            refused: the bus drops a connection whose uid its policy does not allow"""

import re

from conformlib.applications import Application

APP = Application(
    name="dbus",
    summary="private dbus-daemon: EXTERNAL authentication and method calls; a client of another uid refused",
    packages=["dbus-daemon", "dbus-bin"],
    programs=["/usr/bin/dbus-daemon", "/usr/bin/dbus-send"],
    users=["daemon", "nobody"],
    identities=True,
    related=["Peercred", "Credentials", "Permissions", "Readiness"],
)

OWNER, OTHER = "daemon", "nobody"

CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>afunix</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="{owner}"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""


def call(s, step, user, method, *args):
    return s.run(step, ["dbus-send", f"--bus=unix:path={s.path('run/bus')}", "--print-reply",
                        f"--reply-timeout={int(5000 * s.scale)}",
                        "--dest=org.freedesktop.DBus", "/org/freedesktop/DBus",
                        f"org.freedesktop.DBus.{method}", *args], user=user, timeout=10 * s.scale)


def story(s):
    s.mkdir("run", owner=OWNER, mode=0o755)
    s.write("bus.conf", CONFIG.format(socket=s.path("run/bus"), owner=OWNER))
    bus = s.start("bus listens", ["dbus-daemon", f"--config-file={s.path('bus.conf')}", "--nofork", "--print-address"],
                  user=OWNER, ready=lambda line: line.startswith("unix:"))

    r = call(s, "method call", OWNER, "GetId")
    bus_id = re.search(r'string "([0-9a-f]{32})"', r.stdout)
    s.check("method call", r.returncode == 0 and bus_id is not None, "GetId answers the bus's id", r, logs=[bus])
    r = call(s, "bus knows the caller's uid", OWNER, "GetConnectionUnixUser", "string::1.1")
    uid = s.ids(OWNER)[0]
    s.check("bus knows the caller's uid", r.returncode == 0 and f"uint32 {uid}" in r.stdout,
            f"GetConnectionUnixUser of the caller itself: uint32 {uid} ({OWNER})", r)

    r = call(s, "another uid refused", OTHER, "GetId")
    s.refused("another uid refused", r.returncode != 0 and bus_id.group(1) not in r.stdout,
              f"{OTHER}'s GetId " + ("was refused" if r.returncode != 0 else "was answered") + f" (exit {r.returncode})")
    s.output("another uid refused", bus)
