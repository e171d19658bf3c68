"""The application stories (applications/*.py) and their runner (runners/conformlib/applications.py):
real Debian programs judged works / broken / insecure per backend.

Natively every story works and every refusal is exercised; fixture backends prove the verdicts can
go wrong for the right reasons: without SO_PEERCRED the programs that trust peer credentials
(PostgreSQL's peer authentication, D-Bus's EXTERNAL) stop working while socat does not care, and
with directories that cannot be closed postfix's private sockets are reachable: insecure."""

import json
import os

import pytest
from conftest import FIXTURE_BACKENDS, ROOT, conform, needs_build, needs_root
from conformlib import applications as A
from conformlib import report
from conformlib.backends import load_backend, load_backends
from conformlib.errors import ConformError

BUILD = ROOT / "build"
STORIES = A.load_stories(ROOT / "applications")
SHIPPED = load_backends([ROOT / "runners" / "backends"])
FIXTURES = load_backends([FIXTURE_BACKENDS])
needs_fixtures = pytest.mark.skipif(not (BUILD / "tests" / "fixtures").is_dir(),
                                    reason="fixture libraries not built: ./conform build")


def judge(app, backend):
    a, story = STORIES[app]
    why = A.availability(a)
    if why:
        pytest.skip(why)
    return A.run_story(a, story, backend, ROOT, BUILD)


def shown(v):
    return f"{v.application} on {v.backend}: {v.verdict}: {v.reason}\n{v.evidence}"


def statuses(v):
    return [s["status"] for s in v.steps]


@needs_root
@pytest.mark.parametrize("app", sorted(STORIES))
def test_every_story_works_natively_and_its_refusals_were_tried(app):
    v = judge(app, SHIPPED["native"])
    assert v.verdict == "works", shown(v)
    assert "failed" not in statuses(v) and "NOT REFUSED" not in statuses(v)
    if STORIES[app][0].identities:  # a refusal held because it was tried, not because it was skipped
        assert "refused" in statuses(v), shown(v)
    assert not any(s["step"] == "clean up" for s in v.steps), shown(v)  # nothing had to be killed


@needs_root
@needs_fixtures
@pytest.mark.parametrize("app", ["postgresql", "dbus"])
def test_without_peer_credentials_the_stories_that_trust_them_fail(app):
    v = judge(app, FIXTURES["fixture-no-peercred"])
    assert v.verdict in ("broken", "insecure"), shown(v)
    assert v.failed_step, shown(v)


@needs_root
@needs_fixtures
def test_socat_does_not_need_peer_credentials():
    v = judge("socat", FIXTURES["fixture-no-peercred"])
    assert v.verdict == "works", shown(v)


@needs_root
@needs_fixtures
def test_directories_that_cannot_be_closed_make_postfix_insecure():
    v = judge("postfix", FIXTURES["fixture-ignore-dir-modes"])
    assert v.verdict == "insecure", shown(v)
    assert v.failed_step == "nobody refused at private/local", shown(v)
    assert "NOT REFUSED" in statuses(v)
    # The mail still went through: insecure, not broken.
    assert any(s["step"] == "delivered to the mailbox" and s["status"] == "ok" for s in v.steps), shown(v)


# ---- what a backend can carry, and what cannot run ----------------------------------------------

SH = A.Application(name="sh", summary="", packages=["dash"], programs=["/bin/sh"], users=["nobody"],
                   identities=True)


def test_a_backend_without_other_uids_cannot_carry_a_story_of_several_users():
    v = A.run_story(SH, lambda s: pytest.fail("must not run"), SHIPPED["bwrap-userns"], ROOT, BUILD)
    assert v.verdict == "UNSUPPORTED"
    assert v.reason == SHIPPED["bwrap-userns"].unsupported["identities"]


def test_a_user_the_backend_refuses_makes_the_story_unsupported_not_a_refusal_that_held():
    """firejail refuses nobody itself: the program never ran, so its refusal was not tried."""
    v = A.run_story(SH, lambda s: pytest.fail("must not run"), SHIPPED["firejail"], ROOT, BUILD)
    assert v.verdict == "UNSUPPORTED", shown(v)
    assert v.reason.startswith("the story runs a program as nobody: firejail never runs a program for the user nobody")


def test_a_backend_that_cannot_run_programs_as_other_users_says_why_for_stories_with_users():
    """bwrap-mapped-ids hosts the scenarios' identities, but not a story's daemons as its users:
    UNSUPPORTED with the reason, never 'broken' by the wrapper's own failure."""
    v = A.run_story(SH, lambda s: pytest.fail("must not run"), SHIPPED["bwrap-mapped-ids"], ROOT, BUILD)
    assert v.verdict == "UNSUPPORTED", shown(v)
    assert v.reason.startswith("the story runs programs as ") and "podman's :U" in v.reason


@needs_root
def test_a_backend_that_switches_users_itself_is_told_whom_to_run_as(tmp_path):
    """crun: the container runtime starts as root and switches (podman run --user), so the story
    runs its command as root and names the program's user in user_env."""
    path = tmp_path / "switches.toml"
    path.write_text('description = "d"\nkind = "sandbox"\ncommand = ["{binary}"]\n'
                    '[applications]\nuser_env = "AFUNIX_TEST_USER"\n')
    seen = []

    def story(s):
        show = ["/usr/bin/python3", "-c", "import os; print(os.getuid(), os.environ.get('AFUNIX_TEST_USER'))"]
        seen.append(s.run("under the backend", show, user="nobody", groups=["daemon"]).stdout.split())
        seen.append(s.run("set-up, natively", show, user="nobody", native=True).stdout.split())
    app = A.Application(name="x", summary="", packages=["python3"], programs=["/usr/bin/python3"], users=["nobody"])
    v = A.run_story(app, story, load_backend(path), ROOT, BUILD)
    assert v.verdict == "works", shown(v)
    nobody, daemon = A.Story.ids("nobody"), A.Story.gid("daemon")
    assert seen == [["0", f"{nobody[0]}:{nobody[1]}:{daemon}"], [str(nobody[0]), "None"]]


@pytest.mark.parametrize("backend", ["qemu-aarch64", "qemu-arm"])
def test_foreign_guests_say_why_the_programs_cannot_run(backend):
    v = A.run_story(SH, lambda s: pytest.fail("must not run"), SHIPPED[backend], ROOT, BUILD)
    assert v.verdict == "UNSUPPORTED" and "x86_64 Debian programs" in v.reason


def test_qemu_user_runs_only_the_clients():
    assert A.carriage(SHIPPED["qemu-x86_64"])[0] == "clients"
    assert A.carriage(SHIPPED["proot"])[0] == "tree" and A.carriage(SHIPPED["cygwin-2014"])[0] == "tree"


def test_a_missing_program_says_what_to_install():
    app = A.Application(name="x", summary="", packages=["x-server"], programs=["/nonexistent/x-server"])
    v = A.run_story(app, lambda s: pytest.fail("must not run"), SHIPPED["native"], ROOT, BUILD)
    assert v.verdict == "UNSUPPORTED"
    assert v.reason.startswith("not available: apt-get install x-server")


def test_a_bad_applications_table_names_the_descriptor(tmp_path):
    path = tmp_path / "b.toml"
    path.write_text('description = "d"\nkind = "emulator"\n[applications]\ncarry = "everything"\n')
    with pytest.raises(ConformError, match="b.toml.*applications.carry 'everything'"):
        A.carriage(load_backend(path))
    path.write_text('description = "d"\nkind = "emulator"\n[applications]\ncary = "tree"\n')
    with pytest.raises(ConformError, match="unknown key 'applications.cary'"):
        A.carriage(load_backend(path))


def test_a_broken_story_file_is_named(tmp_path):
    (tmp_path / "bad.py").write_text("APP = 1\n")
    with pytest.raises(ConformError, match="bad.py"):
        A.load_stories(tmp_path)


def test_a_story_that_raises_is_an_error_not_a_verdict_and_leaves_nothing():
    def story(s):
        s.start("sleeper", ["sleep", "600"], native=True)
        raise KeyError("oops")
    app = A.Application(name="x", summary="", packages=["coreutils"], programs=["/bin/sleep"])
    v = A.run_story(app, story, SHIPPED["native"], ROOT, BUILD)
    assert v.verdict == "ERROR" and "KeyError" in v.reason
    assert not [line for line in os.popen("ps -eo args").read().splitlines() if "afunix-app-x-native" in line]


DAEMON = A.Application(name="daemon", summary="", packages=["coreutils"], programs=["/bin/sleep"])


def test_a_daemon_that_outlives_its_story_is_an_error_not_works():
    """A program that leaves a daemon behind (here: one that left the story's sessions) has not
    worked the way it does on Linux, where the story leaves nothing running."""
    # Popen returns once the child has exec'd, in a session of its own: no race with the story.
    daemonize = "import subprocess as s; s.Popen(['sleep', '600'], start_new_session=True, stdout=s.DEVNULL, stderr=s.DEVNULL)"
    v = A.run_story(DAEMON, lambda s: s.run("daemonizes", ["/usr/bin/python3", "-c", daemonize]), SHIPPED["native"],
                    ROOT, BUILD)
    assert v.verdict == "ERROR" and v.reason.startswith("processes outlived the story: "), shown(v)
    assert "sleep 600" in v.reason, shown(v)


def test_a_wrappers_own_helper_daemon_is_stopped_by_the_wrapper_not_blamed_on_the_program():
    """fakeroot's faked: the wrapper stops it when its program is interrupted, so the story stops
    its daemons with Ctrl-C (the wrapper's way out) before it kills what remains."""
    def story(s):  # the daemon says it runs: the wrapper has its helper and its trap by then
        s.start("daemon", ["sh", "-c", "echo ready; exec sleep 600"], ready=lambda line: line.strip() == "ready")
    v = A.run_story(DAEMON, story, FIXTURES["fixture-helper-daemon"], ROOT, BUILD)
    assert v.verdict == "works", shown(v)
    assert not any(s["step"] == "clean up" for s in v.steps), shown(v)


def test_a_daemon_that_ends_its_output_without_its_ready_line_is_named_for_what_it_did():
    """Not "did not say so within 30 s" after a tenth of a second: it exited, and with what."""
    def story(s):  # its output ends at once; it exits a moment later
        s.start("daemon", ["sh", "-c", "echo starting; exec >&- 2>&-; sleep 0.5; exit 3"],
                ready=lambda line: line.strip() == "ready")
    v = A.run_story(DAEMON, story, SHIPPED["native"], ROOT, BUILD)
    assert v.verdict == "broken" and v.reason == "daemon: sh exited 3", shown(v)
    assert v.duration < A.DEADLINE_S, shown(v)


# ---- results.json and the matrix -----------------------------------------------------------------

def test_the_matrix_shows_applications_beside_the_scenarios_that_explain_them(tmp_path):
    backends = {b: {"description": b, "kind": k, "available": True, "reason": None}
                for b, k in [("native", "oracle"), ("emu", "emulation")]}
    rows = [report_row("native", "Permissions.Private/stream", "PASS"),
            report_row("emu", "Permissions.Private/stream", "FAIL")]
    doc = {"schema": 1, "run_info": {}, "scenarios": ["Permissions.Private/stream"], "backends": backends,
           "results": rows}
    assert "Applications" not in report.matrix_markdown(doc)  # absent rows: no section
    app = A.Application(name="postfix", summary="", packages=[], programs=[], related=["Permissions"])
    doc["applications"] = [
        A.Verdict("postfix", "native", "works").as_json(),
        dict(A.Verdict("postfix", "emu", "insecure", "nobody refused at private/local: connected",
                       "nobody refused at private/local").as_json(),
             related=A.related_scenarios(app, "emu", rows))]
    md = report.matrix_markdown(doc)
    assert "## Applications" in md
    assert "| postfix | works | insecure (nobody refused at private/local) |" in md
    assert "| postfix | emu | insecure | nobody refused at private/local | nobody refused at private/local: connected " \
           "| Permissions 1 deviating (Private/stream) |" in md
    html = report.matrix_html(doc)
    assert "id='applications'" in html and "insecure (nobody refused at private/local)" in html


def report_row(backend, scenario, verdict):
    return {"backend": backend, "scenario": scenario, "area": scenario.split(".")[0], "verdict": verdict,
            "message": "", "duration": 0, "detail": f"diffs/{backend}/x.txt"}


@needs_root
@needs_build
@needs_fixtures
def test_conform_run_judges_the_applications_into_results_json(tmp_path):
    results = tmp_path / "results"
    proc = conform("run", "--backends-dir", str(FIXTURE_BACKENDS), "--backend", "fixture-no-peercred",
                   "--results", str(results), "--application", "socat", "--application", "dbus",
                   "--", "-k", "Peercred and CredsAfterAccept")
    doc = json.loads((results / "results.json").read_text())
    got = {r["application"]: r for r in doc["applications"]}
    assert set(got) == {"socat", "dbus"}, proc.stdout + proc.stderr
    assert got["socat"]["verdict"] == "works"
    assert got["dbus"]["verdict"] in ("broken", "insecure")
    assert got["dbus"]["related"] and all(s.split(".")[0].split("/")[-1] in STORIES["dbus"][0].related
                                          for s in got["dbus"]["related"])
    assert "## Applications" in (results / "matrix.md").read_text()


# ---- stories in parallel -------------------------------------------------------------------------

RENDEZVOUS_STORY = '''
import os
from pathlib import Path
from conformlib.applications import Application

APP = Application(name="{name}", summary="", packages=["dash"], programs=["/bin/sh"])


def story(s):
    here = Path(os.environ["AFUNIX_TEST_RENDEZVOUS"])
    (here / "{name}").write_text(str(os.getpid()))
    s.wait_for("the other story runs too", lambda: (here / "{other}").exists(), "{other} started")
'''


@needs_root
def test_stories_run_at_the_same_time_each_in_a_process_of_its_own(tmp_path, monkeypatch):
    """Two stories that each wait for the other: run one after the other, the first waits out its
    bound and is broken."""
    stories = tmp_path / "stories"
    stories.mkdir()
    for name, other in (("left", "right"), ("right", "left")):
        (stories / f"{name}.py").write_text(RENDEZVOUS_STORY.format(name=name, other=other))
    here = tmp_path / "rendezvous"
    here.mkdir()
    monkeypatch.setenv("AFUNIX_TEST_RENDEZVOUS", str(here))
    said = []
    pool = A.StoryPool(ROOT, [SHIPPED["native"]], stories_dir=stories, jobs=2, say=said.append).start()
    rows = pool.rows()
    assert [(r["application"], r["verdict"]) for r in rows] == [("left", "works"), ("right", "works")], rows
    pids = {int((here / n).read_text()) for n in ("left", "right")}
    assert len(pids) == 2 and os.getpid() not in pids
    assert sorted(said) == ["application left on native: works", "application right on native: works"]


HANGING_STORY = '''
import os
from conformlib.applications import Application

APP = Application(name="hangs", summary="", packages=["coreutils"], programs=["/bin/sleep"])


def story(s):
    s.start("daemon", ["sleep", "600"], native=True, env={"AFUNIX_TEST_MARK": os.environ["AFUNIX_TEST_MARK"]})
    s.wait_for("never", lambda: False, "something that never happens")
'''


@needs_root
def test_stopping_the_stories_ends_every_program_and_leaves_no_directory(tmp_path, monkeypatch):
    import glob
    import time
    import uuid
    stories = tmp_path / "stories"
    stories.mkdir()
    (stories / "hangs.py").write_text(HANGING_STORY)
    mark = uuid.uuid4().hex
    monkeypatch.setenv("AFUNIX_TEST_MARK", mark)
    pool = A.StoryPool(ROOT, [SHIPPED["native"]], stories_dir=stories, say=lambda line: None).start()

    def marked():
        found = []
        for entry in os.listdir("/proc"):
            try:
                if entry.isdigit() and mark.encode() in open(f"/proc/{entry}/environ", "rb").read():
                    found.append(entry)
            except OSError:
                pass
        return found

    deadline = time.monotonic() + 60
    while not glob.glob("/tmp/afunix-app-hangs-native-*") or len(marked()) < 2:  # story process and sleep
        assert time.monotonic() < deadline, "the story never started its program"
        time.sleep(0.1)
    pool.stop()
    assert marked() == [] and pool.pids == set()
    assert glob.glob("/tmp/afunix-app-hangs-native-*") == []
    assert pool.rows() == []  # a stopped story has no verdict


@needs_root
def test_a_runner_killed_outright_takes_its_stories_with_it(tmp_path):
    """SIGKILL leaves the runner no chance to stop anything: each story process notices its parent's
    death itself (PR_SET_PDEATHSIG), stops its programs and removes its directory."""
    import glob
    import signal
    import subprocess
    import sys
    import time
    import uuid
    stories = tmp_path / "stories"
    stories.mkdir()
    (stories / "hangs.py").write_text(HANGING_STORY.replace('name="hangs"', 'name="orphaned"'))
    mark = uuid.uuid4().hex
    runner = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time\n"
         f"sys.path.insert(0, {str(ROOT / 'runners')!r})\n"
         "from conformlib import applications as A\n"
         "from conformlib.backends import load_backends\n"
         f"native = load_backends([{str(ROOT / 'runners' / 'backends')!r}])['native']\n"
         f"pool = A.StoryPool({str(ROOT)!r}, [native], stories_dir={str(stories)!r}, say=print).start()\n"
         "print(pool._tmp, flush=True)\n"
         "time.sleep(600)\n"],
        env=dict(os.environ, AFUNIX_TEST_MARK=mark), stdout=subprocess.PIPE, text=True)
    # The pool's own directory of verdict files: killed outright, the runner cannot remove it (in a
    # real run the runner is ./conform itself, the outermost process); this test does.
    pool_dir = runner.stdout.readline().strip()

    def marked():
        found = []
        for entry in os.listdir("/proc"):
            try:
                if entry.isdigit() and mark.encode() in open(f"/proc/{entry}/environ", "rb").read():
                    found.append(int(entry))
            except OSError:
                pass
        return found

    try:
        deadline = time.monotonic() + 60
        while len(marked()) < 3:  # the runner, the story's process, its sleep
            assert time.monotonic() < deadline, "the story never started its program"
            time.sleep(0.1)
        runner.send_signal(signal.SIGKILL)
        runner.wait()
        deadline = time.monotonic() + 30
        while marked() or glob.glob("/tmp/afunix-app-orphaned-native-*"):
            assert time.monotonic() < deadline, f"still there: {marked()} {glob.glob('/tmp/afunix-app-orphaned-native-*')}"
            time.sleep(0.1)
    finally:
        for pid in marked():
            os.kill(pid, signal.SIGKILL)
        if pool_dir.startswith("/tmp/afunix-stories-"):
            import shutil
            shutil.rmtree(pool_dir, ignore_errors=True)
