"""Real third-party backends end to end: each runs a few scenarios exactly as the runner runs them
(its descriptor in runners/backends/, the scenarios batched in one process, a deviation confirmed in
a process of its own) and is judged against a native run of the same scenarios made here. A backend whose tool or cross build is missing, or
that cannot work on this machine (no ptrace, no user namespaces), is skipped with the reason.

What each backend must show is what its expectation file (runners/expectations/<backend>.toml, tied
to docs/triage/<backend>.md) says about these scenarios: every cell PASS or XFAIL with the triaged
signature. When a backend is fixed upstream the file (and the note) change, not this test."""

import functools
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from conformlib import expectations, signatures, traces
from conformlib.backends import load_backend
from conformlib.execute import Paths, new_executor, probe, run_scenario
from conformlib.scenarios import list_scenarios
from conformlib.versions import backend_version

from conftest import BINARY, ROOT, needs_build

pytestmark = [needs_build]

BACKENDS_DIR = ROOT / "runners" / "backends"
# Opt-in backends (runners/cross/README.md): tested when their cross build is there.
CROSS_DIR = ROOT / "runners" / "cross"


def descriptor(name):
    path = BACKENDS_DIR / f"{name}.toml"
    return load_backend(path if path.exists() else CROSS_DIR / f"{name}.toml")

# A few scenarios that touch what these backends translate: a pathname bound and read back (proot
# and fakechroot rewrite it), peer credentials between two test identities (setuid under a
# translator; unsupported in a user namespace), and a receive that blocks until the watchdog fires
# (timeouts scaled by the backend's multiplier).
BOUND_NAME = "Addressing.GetsocknameAfterBind"
IDENTITIES = "Peercred.ServerSeesClientCredsAfterAccept"
BLOCKING = "EarlySend.RecvBeforeAcceptBlocks"
SCENARIOS = (BOUND_NAME, IDENTITIES, BLOCKING)

BACKENDS = ("qemu-x86_64", "qemu-aarch64", "qemu-arm", "proot", "fakechroot", "bwrap-userns",
            "bwrap-unprivileged", "bwrap-mapped-ids", "valgrind", "strace", "firejail", "crun", "fakeroot", "fakeroot-user",
            "qemu-s390x", "qemu-riscv64", "qemu-i386")
EXPECTATIONS = ROOT / "runners" / "expectations"

# getsockname of "srv.sock" bound relative in a scenario directory: natively the bare name, 2 + 8 +
# 1 bytes; proot and fakechroot return the absolute path under the guest directory (recorded as
# "<scenario-dir>/srv.sock", its length as if relative), proot with its NUL, fakechroot without.
EXPECTED_NAME = {
    "native": {"addr": "srv.sock", "addrlen": 11, "nul_terminated": True},
    "proot": {"addr": "<scenario-dir>/srv.sock", "addrlen": 11, "nul_terminated": True},
    "fakechroot": {"addr": "<scenario-dir>/srv.sock", "addrlen": 10, "nul_terminated": False},
}


def fresh_dir(name):
    # Not under pytest's tmp_path: its ancestors are private, and test identities must be able to
    # reach their scenario directories (the harness refuses otherwise, as root).
    d = Path(tempfile.mkdtemp(prefix=f"afunix-test-{name}-"))
    d.chmod(0o755)
    return d


def run_dirs(name):
    """A fresh trace directory and temporary root for one of the backend's runs, both open to
    every user: fakeroot-user's unprivileged user writes the traces too, and must reach them."""
    base = fresh_dir(name)
    trace_dir, tmp = base / "traces", base / "tmp"
    trace_dir.mkdir()
    tmp.mkdir(mode=0o755)
    tmp.chmod(0o755)
    return trace_dir, tmp


def run_backend(name, tmp_path, scenarios, expected=None):
    """Verdicts (scenario -> Result) of one backend, judged against `expected` traces when given."""
    backend = descriptor(name)
    trace_dir, tmp = run_dirs(name)
    paths = Paths(ROOT, trace_dir, tmp)
    try:
        return {s: run_scenario(backend, s, paths, (expected or {}).get(s)) for s in scenarios}
    finally:
        shutil.rmtree(trace_dir.parent, ignore_errors=True)


@functools.lru_cache(maxsize=None)
def usable(name):
    """None when the backend can run here, else why not (skip reason)."""
    backend = descriptor(name)
    missing = backend.availability()
    if missing:
        return missing
    if backend.build != "native":
        binary = Paths(ROOT, ROOT, ROOT).binary(backend.build)
        if not binary.exists():
            return (f"cross build {backend.build} missing ({binary.relative_to(ROOT)}): ./conform build, or "
                    f"cmake --preset {backend.build} && cmake --build --preset {backend.build}")
    # Tools that need a kernel feature a container may deny: try them once (the descriptor's own
    # probe where it has one, as the runner does).
    if backend.probe:
        return probe(backend, ROOT)
    smoke = {
        "proot": ["proot", "true"],
        "bwrap-userns": ["bwrap", "--unshare-user", "--unshare-pid", "--ro-bind", "/", "/", "true"],
        "fakechroot": ["fakechroot", "true"],
    }.get(name)
    if smoke:
        proc = subprocess.run(smoke, capture_output=True, text=True, timeout=60)
        if proc.returncode != 0:
            return f"{smoke[0]} cannot run here: {(proc.stderr or proc.stdout).strip()[:200]}"
    return None


def per_backend(names):
    """Parameters, one per backend, with the backend's tests in one xdist group: they read one run
    of the backend (batch_of), made once on the worker that runs them."""
    return [pytest.param(n, marks=pytest.mark.xdist_group(f"backend-{n}")) for n in names]


_batches = {}


def batch_of(name, native):
    """The backend's run of SCENARIOS as ./conform run makes it: one batch, in one process but for
    the confirmation of a deviation, judged against native's traces. Returns ({scenario: Result},
    processes started). Made once per backend: every test of the backend reads the same run."""
    if name not in _batches:
        backend = descriptor(name)
        trace_dir, tmp = run_dirs(name)
        ex = new_executor(jobs=1)
        try:
            ex.plan(backend, SCENARIOS, Paths(ROOT, trace_dir, tmp), native.get)
            results = {s: ex.result(backend, s) for s in SCENARIOS}
            processes = ex.stats()[name]["processes"]
        finally:
            ex.shutdown()
            shutil.rmtree(trace_dir.parent, ignore_errors=True)
        _batches[name] = (results, processes)
    return _batches[name]


@pytest.fixture(scope="module")
def native(tmp_path_factory):
    """The native traces of SCENARIOS, recorded now with the native descriptor."""
    available = set(list_scenarios(BINARY))
    missing = [s for s in SCENARIOS if s not in available]
    assert not missing, f"scenarios renamed or gone: {missing}; update this test and docs/triage/"
    tmp = tmp_path_factory.mktemp("native")
    results = run_backend("native", tmp, SCENARIOS)
    docs = {}
    for s, r in results.items():
        assert r.trace is not None, f"native gave no trace for {s}: {r.verdict} {r.message}"
        docs[s] = r.trace
    return docs


def native_verdict(doc):
    return "UNSUPPORTED" if doc["status"] == "unsupported" else "PASS"


def name_of_getsockname(doc):
    o = [o for a in doc["actors"] for o in a["observations"] if o["op"] == "getsockname" and o.get("result") == "ok"][0]
    return {key: o.get(key) for key in ("addr", "addrlen", "nul_terminated")}


def status(name, result, native_doc):
    """The cell's status against the backend's expectation file, as ./conform run gives it."""
    backend = descriptor(name)
    row = {"backend": name, "scenario": result.scenario, "verdict": result.verdict,
           "signature": signatures.of_cell(result.verdict, result.message, result.trace, native_doc)}
    info = dict((result.trace or {}).get("run") or {}, version=backend_version(backend))
    return expectations.classify(row, expectations.load(EXPECTATIONS, name), info), row["signature"]


@pytest.mark.parametrize("name", per_backend(BACKENDS))
def test_backend_against_native(name, native):
    why = usable(name)
    if why:
        pytest.skip(f"{name}: {why}")
    results, _ = batch_of(name, native)

    for scenario, result in results.items():
        got, signature = status(name, result, native[scenario])
        if native_verdict(native[scenario]) == "UNSUPPORTED":
            assert result.verdict == "UNSUPPORTED"  # not root: the test identities are unavailable natively too
            continue
        assert not got["unexpected"], (
            f"{name} on {scenario}: {got['status']} ({got['reason']}); see runners/expectations/{name}.toml\n"
            f"{result.message}\n{result.diff}")
    # proot and fakechroot return the name bound as "srv.sock" as an absolute path under the guest
    # directory: a known deviation, which this test must see as such (not as a pass by accident).
    if name in ("proot", "fakechroot"):
        assert status(name, results[BOUND_NAME], native[BOUND_NAME])[0]["status"] == "XFAIL"

    # A blocking receive under the backend is "blocked" exactly as natively: the multiplier keeps
    # slow backends from turning a quick call into a false block, or a block into anything else.
    blocking = results[BLOCKING].trace
    assert traces.behaviour(blocking) == traces.behaviour(native[BLOCKING])

    # The translators really translate: the name bound as "srv.sock" comes back as an absolute path
    # through the guest directory (and as the bare name natively).
    if name in EXPECTED_NAME:
        assert name_of_getsockname(results[BOUND_NAME].trace) == EXPECTED_NAME[name], (
            f"{name}: getsockname does not give the path under the backend's guest directory")
    assert name_of_getsockname(native[BOUND_NAME]) == EXPECTED_NAME["native"]


@pytest.mark.parametrize("name", per_backend(BACKENDS))
def test_a_batch_runs_in_one_process_under_the_backend(name, native):
    """The harness says which scenario is running through a pipe the runner passes it; a backend
    that closes inherited descriptors (firejail and crun do unless told) hides it, and then every
    scenario costs a process of its own (firejail and crun took 200 s for what now takes 5) and
    nothing it leaves behind can be attributed to a scenario. One process runs the batch; only a
    deviation's confirmation attempt gets another."""
    why = usable(name)
    if why:
        pytest.skip(f"{name}: {why}")
    results, processes = batch_of(name, native)
    confirmations = sum(1 for r in results.values() if r.attempts)
    assert processes == 1 + confirmations, (
        f"{name}: {processes} processes for {len(SCENARIOS)} scenarios in one batch "
        f"({confirmations} confirmations): the runner's channel does not reach the harness")


@pytest.mark.parametrize("name", per_backend(["bwrap-userns", "bwrap-unprivileged"]))
def test_identity_scenario_under_bwrap_says_why(name, native):
    why = usable(name)
    if why:
        pytest.skip(f"{name}: {why}")
    result = batch_of(name, native)[0][IDENTITIES]
    assert result.verdict == "UNSUPPORTED"
    assert "namespace" in result.message and "svc" in result.message


@pytest.mark.parametrize("name", per_backend(["fakeroot", "fakeroot-user"]))
def test_identity_switch_faked_by_fakeroot_is_never_run_as_the_wrong_user(name, native):
    """fakeroot's setuid() succeeds and changes nothing the kernel sees: the harness must notice
    (/proc/self/status) and say so, where natively (as root) the same scenario passes."""
    why = usable(name)
    if why:
        pytest.skip(f"{name}: {why}")
    result = batch_of(name, native)[0][IDENTITIES]
    assert result.verdict == "UNSUPPORTED", result.message
    assert "faked" in result.message and "svc" in result.message


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root (test identities)")
@pytest.mark.parametrize("name", per_backend(["proot", "fakechroot", "strace", "valgrind", "firejail", "crun",
                                              "bwrap-mapped-ids"]))
def test_translators_let_actors_switch_identity(name, native):
    """proot, fakechroot and the tracers and sandboxes that keep root's capabilities, run as root,
    must not stand in the way of the actors' setuid: the credentials scenario passes, with the
    test identities really in use."""
    why = usable(name)
    if why:
        pytest.skip(f"{name}: {why}")
    result = batch_of(name, native)[0][IDENTITIES]
    assert result.verdict == "PASS", result.message + "\n" + result.diff
    identities = {a["identity"] for a in result.trace["actors"]}
    assert identities == {"svc", "stranger"}


FORGING = ("Kinds/Credentials.RootMayForge/dgram_pathname", "Kinds/Credentials.StrangerCannotForge/dgram_pathname")


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root (a multi-id map)")
def test_credentials_are_forged_as_mapped_root_and_refused_to_a_mapped_user(tmp_path):
    """bwrap-mapped-ids runs as rootless containers do: the program is root only inside its user
    namespace, the test users are mapped ids. Mapped root may forge another user's credentials (and
    a pid of its own pid namespace), a mapped unprivileged user may not, exactly as natively."""
    why = usable("bwrap-mapped-ids")
    if why:
        pytest.skip(f"bwrap-mapped-ids: {why}")
    expected = {s: traces.load(ROOT / "expected" / traces.file_name(s), require_run_info=False) for s in FORGING}
    results = run_backend("bwrap-mapped-ids", tmp_path, FORGING, expected=expected)
    for scenario, result in results.items():
        assert result.verdict == "PASS", f"{scenario}: {result.verdict} {result.message}\n{result.diff}"
        sends = [o for a in result.trace["actors"] for o in a["observations"] if o["op"] == "sendmsg" and "creds" in o]
        assert sends, f"{scenario}: no credentials were sent"
    refused = [o["result"] for a in results[FORGING[1]].trace["actors"] for o in a["observations"]
               if o["op"] == "sendmsg" and "creds" in o]
    assert "EPERM" in refused
