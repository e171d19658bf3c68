"""PostgreSQL with peer authentication over its Unix socket: the server asks the kernel which OS
user is at the other end of the socket (SO_PEERCRED) and lets it in only as the role of that name.

    postgres$ initdb -D data --auth=peer -U postgres        (set-up, natively)
    postgres$ postgres -D data -k sock -c listen_addresses= -c port=5432
              ... "database system is ready to accept connections"; socket sock/.s.PGSQL.5432
    postgres$ psql -h sock -U postgres -c "CREATE ROLE daemon LOGIN"
    daemon$   psql -h sock -U daemon -d postgres -c "SELECT current_user"      -> daemon
    nobody$   psql -h sock -U daemon -d postgres ...
              refused: FATAL: Peer authentication failed for user "daemon"
    postgres$ pg_ctl stop -D data -m fast        "server stopped", no process left

The users are Debian's system users: postgres (the postgresql package's server account), daemon
(the role) and nobody (the impostor); the test identities 61001-61003 have no passwd entries, and
peer authentication maps a uid to a name."""

import glob

from conformlib.applications import Application, Unavailable

APP = Application(
    name="postgresql",
    summary="peer authentication over the Unix socket: the matching OS user logs in, another is refused",
    packages=["postgresql"],
    programs=["/usr/bin/pg_config"],
    users=["postgres", "daemon", "nobody"],
    identities=True,
    related=["Peercred", "Credentials", "Permissions", "Lifecycle", "Readiness"],
)

SERVER, ROLE, IMPOSTOR = "postgres", "daemon", "nobody"


def bindir():
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"))
    if not found:
        raise Unavailable("not available: apt-get install postgresql (no /usr/lib/postgresql/*/bin/postgres)")
    return found[-1].rsplit("/", 1)[0]


def psql(s, step, user, role, sql):
    return s.run(step, [f"{bindir()}/psql", "-X", "-At", "-h", s.path("sock"), "-p", "5432", "-U", role, "-d", "postgres",
                        "-c", sql], user=user)


def story(s):
    bin_ = bindir()
    s.mkdir("data", owner=SERVER, mode=0o700)
    s.mkdir("sock", owner=SERVER, mode=0o755)
    r = s.run("initdb", [f"{bin_}/initdb", "-D", s.host("data"), "--auth=peer", "-U", SERVER, "--no-sync",
                         "--no-instructions"], user=SERVER, native=True, timeout=120)
    s.check("initdb", r.returncode == 0, "initdb creates the cluster (set-up, natively)", r)

    server = s.start("server ready", [f"{bin_}/postgres", "-D", s.path("data"), "-k", s.path("sock"),
                             "-c", "listen_addresses=", "-c", "port=5432", "-c", "fsync=off"],
            user=SERVER, ready=lambda line: "ready to accept connections" in line)
    r = psql(s, "server's own user logs in", SERVER, SERVER, f"CREATE ROLE {ROLE} LOGIN")
    s.check("server's own user logs in", r.returncode == 0 and r.says("CREATE ROLE"),
            f"{SERVER} connects as role {SERVER} and creates role {ROLE}", r, logs=[server])
    r = psql(s, "matching OS user logs in", ROLE, ROLE, "SELECT current_user")
    s.check("matching OS user logs in", r.returncode == 0 and r.stdout.strip() == ROLE,
            f"OS user {ROLE} logs in as role {ROLE} (SELECT current_user: {ROLE})", r, logs=[server])

    r = psql(s, "another OS user refused", IMPOSTOR, ROLE, "SELECT current_user")
    s.refused("another OS user refused", r.returncode != 0 and r.stdout.strip() != ROLE,
              f"OS user {IMPOSTOR} claiming role {ROLE}: "
              + ("refused" + (" (Peer authentication failed)" if r.says("Peer authentication failed") else "")
                 if r.returncode != 0 else "let in") + f", exit {r.returncode}")
    s.output("another OS user refused", server)
    # pg_ctl signals the postmaster named in data/postmaster.pid (a wrapper such as fakechroot's
    # shell may stand between this process and it), then waits until it is gone.
    r = s.run("server stops", [f"{bin_}/pg_ctl", "stop", "-D", s.path("data"), "-m", "fast", "-w"],
              user=SERVER, server=True)
    s.check("server stops", r.returncode == 0 and r.says("server stopped"), "pg_ctl stop -m fast: 'server stopped'", r)
    s.wait_for("every server process exits", lambda: not s.processes(), "no process of the instance left running")
