"""postfix: a private instance (its own config_directory, queue_directory, data_directory and
mail spool, nothing in /etc/postfix touched), started as root the way postfix starts, delivering a
message submitted with sendmail; then an unprivileged user tries its sockets.

    root#   postfix -c etc start          master as root; its daemons run as user postfix
    root#   sendmail -C etc daemon@afunix.test < message
            sendmail -> postdrop (setgid postdrop) writes maildrop/, wakes pickup (public/pickup)
            pickup -> cleanup (public/cleanup) -> qmgr (public/qmgr) -> trivial-rewrite
            (private/rewrite) -> local (private/local) -> the mailbox spool/daemon
    nobody$ connect queue/private/local   refused: private/ is rwx------ postfix  (EACCES)
    nobody$ connect queue/public/cleanup  refused: public/ is rwx--x--- postfix:postdrop  (EACCES)
    nobody+postdrop$ connect queue/public/cleanup   accepted: the group may (the control)
    root#   postfix -c etc stop

Every socket in private/ and public/ is rw-rw-rw-: the directories alone keep other users out,
which is the pattern the seed thread's emulations had to honour. master.cf is Debian's, minus the
network services, with chroot off (the instance has no chroot tree) and pickup polling maildrop
every 2 s instead of 60 (postdrop's wake-up is best effort; a slow poll would only slow the
story). main.cf's import_environment keeps the backend's variables (LD_PRELOAD and the like) in
the environment postfix hands to its daemons, as a system built on that layer would."""

import socket

from conformlib.applications import Application

APP = Application(
    name="postfix",
    summary="private instance: sendmail -> postdrop/pickup/cleanup/qmgr/local into a mailbox; "
            "another user refused at private/ and public/",
    packages=["postfix"],
    programs=["/usr/sbin/postfix", "/usr/sbin/sendmail", "/usr/lib/postfix/sbin/master"],
    users=["postfix", "daemon", "nobody"],
    identities=True,
    related=["Permissions", "EarlySend", "Attack", "Lifecycle", "Readiness", "Inheritance"],
)

RECIPIENT, STRANGER = "daemon", "nobody"

MAIN_CF = """\
compatibility_level = 3.6
queue_directory = {queue}
data_directory = {data}
mail_owner = postfix
setgid_group = postdrop
myhostname = afunix.test
mydomain = afunix.test
myorigin = $myhostname
mydestination = $myhostname, localhost
inet_interfaces = loopback-only
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
relayhost =
alias_maps =
alias_database =
local_recipient_maps = unix:passwd.byname
mail_spool_directory = {spool}
maillog_file = {maillog}
maillog_file_prefixes = {maillog}
biff = no
smtputf8_enable = no
import_environment = MAIL_CONFIG MAIL_DEBUG MAIL_LOGTAG TZ LANG=C POSTLOG_SERVICE POSTLOG_HOSTNAME {extra}
"""

# name type private unpriv chroot wakeup maxproc command
MASTER_CF = """\
pickup    unix  n       -       n       2       1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""

# Asks the kernel for a connection, as any local program could; prints "connected" or the errno.
CONNECT = r"""
import errno, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(10)
try:
    s.connect(sys.argv[1])
    print("connected")
except OSError as e:
    print(errno.errorcode.get(e.errno, str(e.errno)))
"""

MESSAGE = "Subject: afunix story {token}\n\nDelivered through postdrop, pickup, cleanup, qmgr and local.\n"


def story(s):
    token = s.base.name
    s.mkdir("etc", mode=0o755)
    s.mkdir("queue", mode=0o755)  # postfix makes its subdirectories (post-install create-missing)
    s.mkdir("data", owner="postfix", mode=0o700)
    s.mkdir("spool", mode=0o1777)
    extra = " ".join(s.env_names())
    s.write("etc/main.cf", MAIN_CF.format(queue=s.path("queue"), data=s.path("data"), spool=s.path("spool"),
                                         maillog=s.path("maillog"), extra=extra))
    s.write("etc/master.cf", MASTER_CF)
    s.write("connect.py", CONNECT)
    etc = s.path("etc")
    maillog = lambda: s.host("maillog").read_text(errors="replace") if s.host("maillog").exists() else ""  # noqa: E731
    log_tail = lambda: "maillog:\n" + "\n".join("    " + l for l in maillog().splitlines()[-15:])  # noqa: E731

    def abort():
        if s.host("queue/pid/master.pid").exists():
            s.run("clean up: postfix abort", ["postfix", "-c", etc, "abort"], server=True, timeout=20)
    s.on_cleanup(abort)
    # "postfix start" returns once the master is up and has gone into the background; a tracer
    # (proot) stays until its last tracee exits, so readiness is the master's own word in the log.
    s.start("postfix starts", ["postfix", "-c", etc, "start"], server=True)
    s.wait_for("postfix starts", lambda: "daemon started" in maillog() and s.host("queue/pid/master.pid").exists(),
               "postfix -c etc start: the master says 'daemon started' (maillog, queue/pid/master.pid)",
               evidence=log_tail)

    r = s.run("sendmail submits", ["sendmail", "-C", etc, "-f", "root@afunix.test", f"{RECIPIENT}@afunix.test"],
              input=MESSAGE.format(token=token))
    s.check("sendmail submits", r.returncode == 0, "sendmail (and postdrop) accept the message", r)
    mailbox = s.host(f"spool/{RECIPIENT}")
    s.wait_for("delivered to the mailbox",
               lambda: mailbox.exists() and f"afunix story {token}" in mailbox.read_text(errors="replace")
               and "status=sent (delivered to mailbox)" in maillog(),
               f"the message in spool/{RECIPIENT}, and local's 'status=sent (delivered to mailbox)' in the maillog",
               evidence=log_tail)

    for service in ("private/local", "public/cleanup"):
        sock = s.host(f"queue/{service}")
        s.check(f"{service} is a socket", sock.exists(), f"queue/{service} exists")
        r = s.run(f"{STRANGER} refused at {service}", ["/usr/bin/python3", s.path("connect.py"), s.path(f"queue/{service}")],
                  user=STRANGER)
        said = r.stdout.strip() or r.stderr.strip()[-200:]
        s.refused(f"{STRANGER} refused at {service}", r.returncode == 0 and said != "connected",
                  f"{STRANGER} connecting to queue/{service}: {said} (Linux: EACCES, the directory's permissions)")
    r = s.run("postdrop member reaches public/cleanup", ["/usr/bin/python3", s.path("connect.py"),
                                                          s.path("queue/public/cleanup")],
              user=STRANGER, groups=["postdrop"])
    s.check("postdrop member reaches public/cleanup", r.stdout.strip() == "connected",
            f"{STRANGER} with group postdrop connects to queue/public/cleanup (got {r.stdout.strip()})", r, fatal=False)

    r = s.run("postfix stops", ["postfix", "-c", etc, "stop"], server=True)
    s.check("postfix stops", r.returncode == 0, "postfix -c etc stop", r)
    s.wait_for("every postfix daemon exits", lambda: not s.processes(), "no process of the instance left running")
