#!/usr/bin/python3
"""Benchmark of the runner itself: what a run costs, side by side in one run with what a user would
compare it against, as a Markdown report whose tables go into README as they are.

Every wall time is of a whole process, from its start to its end, measured from outside
(time.monotonic around subprocess.run), unless the row says "inside the process":

  native (./conform)   `./conform run --backend native`, without and with its application stories
  program alone        the scenario program running all scenarios in one process, no runner
  CPython              CPython's own test_socket AF_UNIX classes (Debian: libpython3.X-testsuite):
                       a python3 process importing test.test_socket and running them, start to end
                       (the same method as ./conform's row), and, for reference, unittest's run alone
                       inside that process; and through CPython's own runner (python3 -m test),
                       as its developers run it; per test, as ratios of the per-scenario cost
  syscalls             system calls per scenario over the whole native suite (strace -f -c of
                       every scenario-program process, batched as ./conform runs them)
  half vs all          the executor (no pytest) on half and on all the scenarios: the cost is linear
  batched vs isolated  the executor, natively, both ways, and whether every verdict agrees
  --matrix             `./conform run` over the eleven original backends, without and with the
                       application stories, each backend's wall time and CPU within it, and the
                       executor on half and all of their scenarios
  --full-matrix        `./conform run` over every default backend (seventeen), without and with stories
  --isolate-matrix     the eleven with --isolate too, and per backend how many verdicts agree
  --reproduce N        native, batched, N times in a row: traces byte for byte those of expected/

Figures depend on the machine and on what else runs on it: the report gives the load average
before and after each part, and says when the machine was not idle. Not a test: nothing is
asserted. Usage: bench/runner.py [--rounds N] [--matrix] [--full-matrix] [--isolate-matrix]
[--reproduce N] [--all] [--out FILE]
"""

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "runners"))
from conformlib import execute, traces  # noqa: E402
from conformlib.backends import load_backends  # noqa: E402
from conformlib.expectations import KnownDeviations  # noqa: E402
from conformlib.scenarios import list_scenarios  # noqa: E402

BINARY = ROOT / "build" / "conformance" / "afunix-scenarios"
PYTHON = "/usr/bin/python3"
CPYTHON_CLASSES = ["SendmsgUnixStreamTest", "RecvmsgUnixStreamTest", "RecvmsgIntoUnixStreamTest",
                   "RecvmsgSCMRightsStreamTest", "RecvmsgIntoSCMRightsStreamTest", "TestUnixDomain",
                   "TestLinuxAbstractNamespace", "SendRecvFdsTests"]
# The backends the targets of issue 9 were set for; the six added later are in --full-matrix.
ORIGINAL_ELEVEN = ["bwrap-userns", "cygwin-2014", "cygwin-2014-nohandshake", "fakechroot", "native", "proot",
                   "proposal-1", "proposal-2", "qemu-aarch64", "qemu-arm", "qemu-x86_64"]
# Results directories of runs with unexpected cells, copied out of the benchmark's temporary
# directory so that a surprising count can be looked into afterwards.
KEPT = []
# Above this 1-minute load average (per CPU) the figures are upper bounds, not what the machine gives.
IDLE_LOAD_PER_CPU = 0.25


def load():
    return tuple(float(x) for x in open("/proc/loadavg").read().split()[:3])


def load_text(values):
    return " ".join(f"{v:.2f}" for v in values)


def timed(argv, **kw):
    start = time.monotonic()
    proc = subprocess.run(argv, capture_output=True, text=True, **kw)
    return time.monotonic() - start, proc


def pytest_wall(stdout):
    """The 'in 3.27s' of pytest's summary line: the scenario phase without ./conform around it."""
    found = re.findall(r" in ([0-9.]+)s", stdout)
    return float(found[-1]) if found else None


def conform_run(backends, results, *extra, applications=False):
    """(wall, pytest's own wall, results.json) of one `./conform run`."""
    argv = [PYTHON, str(ROOT / "conform"), "run", "--no-install", "--no-compare", "--results", str(results)]
    if not applications:
        argv.append("--no-applications")
    for b in backends:
        argv += ["--backend", b]
    wall, proc = timed([*argv, *extra], cwd=ROOT)
    doc_path = Path(results) / "results.json"
    if not doc_path.exists():
        raise SystemExit(f"./conform run wrote no results:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    doc = json.loads(doc_path.read_text())
    unexpected = sum(1 for r in doc["results"] if r.get("unexpected"))
    if unexpected:  # kept to be looked at: the benchmark's own directory goes at its end
        kept = tempfile.mkdtemp(prefix="afunix-bench-unexpected-")
        shutil.copytree(results, kept, dirs_exist_ok=True)
        KEPT.append(f"{unexpected} unexpected in `{' '.join([*argv[2:], *extra])}`: {kept}")
        print(f"bench: {KEPT[-1]}", file=sys.stderr, flush=True)
    return wall, pytest_wall(proc.stdout), doc


def program_alone():
    """The scenario program by itself, its directories where the runner puts them (scratch_dir)."""
    in_scratch = {"dir": execute.scratch_dir()}
    with tempfile.TemporaryDirectory(**in_scratch) as traces_dir, tempfile.TemporaryDirectory(**in_scratch) as work:
        Path(work).chmod(0o755)
        env = dict(os.environ, AFUNIX_TRACE_DIR=traces_dir, AFUNIX_WORKDIR=work)
        wall, proc = timed([str(BINARY)], env=env)
        return wall, len(list(Path(traces_dir).glob("*.json")))


def cpython():
    """(process wall, unittest's run inside it, tests, failures) of CPython's AF_UNIX socket tests,
    or (None, why)."""
    code = ("import sys, time, unittest\n"
            "from test import test_socket as t\n"
            f"names = {CPYTHON_CLASSES!r}\n"
            "suite = unittest.TestSuite(unittest.defaultTestLoader.loadTestsFromTestCase(getattr(t, n))"
            " for n in names if hasattr(t, n))\n"
            "start = time.monotonic()\n"
            "r = unittest.TextTestRunner(stream=open('/dev/null', 'w')).run(suite)\n"
            "print(time.monotonic() - start, r.testsRun, len(r.failures) + len(r.errors))\n")
    wall, proc = timed([PYTHON, "-c", code])
    if proc.returncode != 0:
        v = sys.version_info
        if "test_socket" in proc.stderr:
            return None, (f"CPython's test package is not installed (Debian: libpython{v.major}.{v.minor}-testsuite, "
                          "which ./conform setup installs)")
        return None, "CPython's tests did not run: " + (proc.stderr.strip().splitlines() or ["?"])[-1]
    inside, n, bad = proc.stdout.split()
    return wall, float(inside), int(n), int(bad)


def cpython_regrtest():
    """(process wall, tests) of the same classes through CPython's own test runner, `python3 -m test
    test_socket -m Class...`, start to end: each suite through its own runner, as their developers
    run them; or (None, why)."""
    argv = [PYTHON, "-m", "test", "test_socket", "-v"]
    for name in CPYTHON_CLASSES:
        argv += ["-m", name]
    with tempfile.TemporaryDirectory() as cwd:
        wall, proc = timed(argv, cwd=cwd)
    ran = re.search(r"^Ran (\d+) tests?", proc.stdout + proc.stderr, re.M)
    if proc.returncode != 0 or not ran:
        return None, "CPython's test runner did not run them: " + ((proc.stdout + proc.stderr).strip().splitlines()
                                                                   or ["?"])[-1]
    return wall, int(ran.group(1))


def syscalls_per_scenario(tmp):
    """strace -f -c of every scenario-program process of a batched native run."""
    if shutil.which("strace") is None:
        return None, "strace is not installed"
    out = Path(tmp) / "strace"
    out.mkdir()
    bdir = Path(tmp) / "backends"
    bdir.mkdir()
    (bdir / "strace-native.toml").write_text(
        'description = "native, each process under strace -f -c"\nkind = "fixture"\n'
        f'command = ["sh", "-c", "exec strace -f -c -o {out}/$$ \\"$@\\"", "strace", "{{binary}}"]\n'
        "timeout_multiplier = 3.0\n")
    _, _, doc = conform_run(["strace-native"], Path(tmp) / "r", "--backends-dir", str(bdir))
    calls = 0
    for f in out.iterdir():
        for line in f.read_text().splitlines():
            parts = line.split()
            if parts and parts[-1] == "total":
                calls += int(parts[3])
    n = len(doc["results"])
    verdicts = {r["verdict"] for r in doc["results"]}
    return calls / n, f"{calls} calls, {n} scenarios, verdicts {', '.join(sorted(verdicts))}"


def executor_wall(backends, names, paths_for, expected, isolate=False):
    """The executor as ./conform run drives it (known deviations not confirmed again), no pytest."""
    ex = execute.new_executor(isolate=isolate, known=KnownDeviations(ROOT / "runners" / "expectations"))
    try:
        start = time.monotonic()
        for b in backends:
            ex.plan(b, names, paths_for(b), expected)
        results = {(b.name, s): ex.result(b, s) for b in backends for s in names}
        return time.monotonic() - start, results
    finally:
        ex.shutdown()


def reproduce(times):
    """./conform record --check, `times` runs in a row (batched): (runs that reproduced expected/ byte
    for byte, wall of all)."""
    wall, proc = timed([PYTHON, str(ROOT / "conform"), "record", "--check", "--no-install", "--repeat", str(times)],
                       cwd=ROOT)
    failed_at = re.search(r"\(run (\d+) of", proc.stdout)
    ok = times if proc.returncode == 0 else (int(failed_at.group(1)) - 1 if failed_at else 0)
    return ok, wall, proc.stdout.strip().splitlines()[-1:]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=3, help="rounds of the native figures (median)")
    p.add_argument("--matrix", action="store_true", help="the eleven original backends, without and with stories")
    p.add_argument("--full-matrix", action="store_true", help="every default backend, without and with stories")
    p.add_argument("--isolate-matrix", action="store_true",
                   help="the eleven with --isolate too, and per backend the verdicts that agree")
    p.add_argument("--reproduce", type=int, default=0, metavar="N",
                   help="native, batched, N runs in a row against expected/ byte for byte")
    p.add_argument("--all", action="store_true", help="everything above (--reproduce 20)")
    p.add_argument("--out", help="also write the report here")
    p.add_argument("--only", help="comma-separated backends: the matrices keep only these (a quick try of the "
                                  "benchmark itself; its figures are not the matrix's)")
    args = p.parse_args()
    if args.all:
        args.matrix = args.full_matrix = args.isolate_matrix = True
        args.reproduce = args.reproduce or 20
    lines = []
    loads = []

    def say(line=""):
        print(line, flush=True)
        lines.append(line)

    def mark_load(where):
        loads.append((where, load()))

    names = list_scenarios(BINARY)
    cpus = os.cpu_count() or 1
    rev = subprocess.run(["git", "-C", str(ROOT), "describe", "--always", "--dirty"], capture_output=True,
                         text=True).stdout.strip()
    started = time.monotonic()
    mark_load("start")
    say(f"# Runner benchmark ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, suite {rev})")
    say()
    say(f"{cpus} CPUs, Linux {os.uname().release}; {len(names)} scenarios; load average at the start "
        f"{load_text(loads[0][1])}")
    say()
    tmp = tempfile.mkdtemp(prefix="afunix-bench-")
    backends = load_backends([ROOT / "runners" / "backends"])

    def expected(s):
        path = ROOT / "expected" / traces.file_name(s)
        return traces.load(path, require_run_info=False) if path.exists() else None

    roots = []

    def paths_for(b):
        root = execute.temp_root(b.name)
        roots.append(root)
        td = Path(tmp) / "exec" / b.name / str(len(roots))
        td.mkdir(parents=True)
        return execute.Paths(ROOT, td, root)

    try:
        # ---- native, beside CPython ----
        plain, plain_pytest, with_apps = [], [], []
        for i in range(args.rounds):
            wall, inner, doc = conform_run(["native"], Path(tmp) / f"native{i}")
            plain.append(wall)
            plain_pytest.append(inner or 0.0)
            wall_apps, _, doc_apps = conform_run(["native"], Path(tmp) / f"native-apps{i}", applications=True)
            with_apps.append(wall_apps)
        native = statistics.median(plain)
        alone = statistics.median(program_alone()[0] for _ in range(args.rounds))
        cp = [cpython() for _ in range(args.rounds)]
        regr = [cpython_regrtest() for _ in range(args.rounds)]
        half = names[::2]
        w_half, _ = executor_wall([backends["native"]], half, paths_for, expected)
        w_all, r_b = executor_wall([backends["native"]], names, paths_for, expected)
        w_iso, r_i = executor_wall([backends["native"]], names, paths_for, expected, isolate=True)
        same = sum(r_b[k].verdict == r_i[k].verdict for k in r_b)
        per, detail = syscalls_per_scenario(tmp)
        mark_load("after the native figures")
        n = len(names)
        ms = lambda s, k=n: f"{1000 * s / k:.2f} ms"  # noqa: E731
        say(f"## Native and CPython (median of {args.rounds})")
        say()
        say("| measurement | wall | per scenario / test |")
        say("|---|---|---|")
        say(f"| `./conform run --backend native --no-applications`, {n} scenarios (process, start to end) | "
            f"{native:.2f} s | {ms(native)} |")
        say(f"| the same, pytest's own figure (collection, the scenarios, the matrix; no ./conform start-up, "
            f"builds check) | {statistics.median(plain_pytest):.2f} s | {ms(statistics.median(plain_pytest))} |")
        say(f"| `./conform run --backend native` with its {len(doc_apps.get('applications') or [])} application "
            f"stories | {statistics.median(with_apps):.2f} s | |")
        cpu = doc["backends"]["native"].get("execution", {}).get("cpu_s")
        own = doc["run_info"].get("runner_cpu_s")
        if cpu is not None and own is not None:
            say(f"| CPU of the run without stories: scenario processes / the runner (pytest) | "
                f"{cpu:.2f} s / {own:.2f} s | {ms(cpu)} / {ms(own)} |")
        say(f"| the scenario program alone, all in one process, no runner | {alone:.2f} s | {ms(alone)} |")
        say(f"| the executor alone (inside a process: no start-up, no pytest), all {n}, batched | {w_all:.2f} s | "
            f"{ms(w_all)} |")
        say(f"| the executor alone, half the scenarios ({len(half)}) | {w_half:.2f} s | {ms(w_half, len(half))} |")
        say(f"| the executor alone, all, `--isolate` (one process per scenario) | {w_iso:.2f} s | {ms(w_iso)} "
            f"(same verdict batched and isolated: {same}/{n}) |")
        if cp[0][0] is None:
            say(f"| CPython test_socket AF_UNIX classes | {cp[0][1]} | |")
        else:
            tests = cp[0][2]
            c_wall = statistics.median(c[0] for c in cp)
            c_inside = statistics.median(c[1] for c in cp)
            say(f"| CPython test_socket AF_UNIX classes, {tests} tests ({cp[0][3]} failed): python3 process, "
                f"start to end | {c_wall:.2f} s | {ms(c_wall, tests)} |")
            say(f"| the same, unittest's run alone (inside the process) | {c_inside:.2f} s | {ms(c_inside, tests)} |")
            say(f"| **ratio** per scenario through `./conform` / per CPython test, both whole processes | | "
                f"**{(native / n) / (c_wall / tests):.2f}x** (target 0.4x) |")
            say(f"| ratio per scenario in the executor / per CPython test in unittest's run (both inside a "
                f"process) | | {(w_all / n) / (c_inside / tests):.2f}x |")
        if regr[0][0] is None:
            say(f"| CPython's classes through CPython's own runner | {regr[0][1]} | |")
        else:
            r_tests = regr[0][1]
            r_wall = statistics.median(r[0] for r in regr)
            say(f"| CPython's classes through CPython's own runner (`python3 -m test test_socket -v -m ...`, "
                f"{r_tests} tests), start to end | {r_wall:.2f} s | {ms(r_wall, r_tests)} |")
            say(f"| ratio per scenario through `./conform` / per CPython test through `python3 -m test`, each "
                f"suite through its own runner | | **{(native / n) / (r_wall / r_tests):.2f}x** (target 0.4x) |")
        say("| system calls per scenario, native suite, batched (strace -f -c) | | "
            + (f"{per:.0f} ({detail}) |" if per is not None else f"{detail} |"))
        say()

        if args.reproduce:
            ok, wall, last = reproduce(args.reproduce)
            mark_load("after --reproduce")
            say(f"Native, batched, {args.reproduce} runs in a row (`./conform record --check --repeat "
                f"{args.reproduce}`): {ok}/{args.reproduce} byte for byte the traces of expected/ ({wall:.0f} s; "
                f"{' '.join(last)})")
            say()

        def available(names_):
            return [b for b in names_ if b in backends and backends[b].availability(ROOT) is None
                    and execute.probe(backends[b], ROOT) is None]

        only = set(args.only.split(",")) if args.only else None
        eleven = [b for b in available(ORIGINAL_ELEVEN) if only is None or b in only]
        if args.matrix or args.isolate_matrix:
            missing = sorted(set(ORIGINAL_ELEVEN) - set(eleven) - (set(ORIGINAL_ELEVEN) - only if only else set()))
            say(f"## The eleven original backends ({len(eleven)} available"
                + (f"; not available here: {', '.join(missing)}" if missing else "") + ")")
            say()
            wall, inner, doc = conform_run(eleven, Path(tmp) / "matrix")
            mark_load("after the matrix without stories")
            wall_apps, inner_apps, doc_apps = conform_run(eleven, Path(tmp) / "matrix-apps", applications=True)
            mark_load("after the matrix with stories")
            base = execute.default_jobs()
            wall_fixed, inner_fixed, _ = conform_run(eleven, Path(tmp) / "matrix-fixed", "--jobs", str(base))
            mark_load("after the matrix with a fixed number of shards")
            iso = None
            if args.isolate_matrix:
                iso_wall, iso_inner, iso = conform_run(eleven, Path(tmp) / "matrix-iso", "--isolate")
                mark_load("after the isolated matrix")
            w_half_m, _ = executor_wall([backends[b] for b in eleven], half, paths_for, expected)
            w_all_m, _ = executor_wall([backends[b] for b in eleven], names, paths_for, expected)
            mark_load("after the executor's matrix")
            say("| measurement | wall |")
            say("|---|---|")
            say(f"| `./conform run`, the eleven, no application stories (target 60 s) | **{wall:.1f} s** "
                f"(pytest {inner:.1f} s) |")
            say(f"| `./conform run`, the eleven, with the application stories (the default) | {wall_apps:.1f} s "
                f"(pytest {inner_apps:.1f} s; {len(doc_apps.get('applications') or [])} stories) |")
            say(f"| the same without stories, `--jobs {base}` (the base number of shards, never more: "
                f"the default grows to {execute.GROW_FACTOR * base} while a core is idle) | {wall_fixed:.1f} s "
                f"(pytest {inner_fixed:.1f} s) |")
            if iso is not None:
                say(f"| `./conform run --isolate`, the eleven, no stories | {iso_wall:.1f} s |")
            say(f"| the executor alone, the eleven, half the scenarios ({len(half)} each) / all | "
                f"{w_half_m:.1f} s / {w_all_m:.1f} s |")
            cpu_s = {b: doc["backends"][b].get("execution", {}).get("cpu_s") or 0.0 for b in eleven}
            total = sum(cpu_s.values()) + (doc["run_info"].get("runner_cpu_s") or 0.0)
            say(f"| CPU the run without stories needed (scenario processes and the runner) | {total:.0f} s: at "
                f"least {total / cpus:.0f} s of wall time on {cpus} CPUs |")
            say()
            say("| backend | wall within the run | CPU | processes | verdicts | unexpected |"
                + (" same verdict with --isolate |" if iso else ""))
            say("|---|---|---|---|---|---|" + ("---|" if iso else ""))
            agree_all = [0, 0]
            for b in eleven:
                info = doc["backends"][b].get("execution", {})
                rows = [r for r in doc["results"] if r["backend"] == b]
                counts = {}
                for r in rows:
                    counts[r["verdict"]] = counts.get(r["verdict"], 0) + 1
                agree = ""
                if iso is not None:
                    iv = {r["scenario"]: r["verdict"] for r in iso["results"] if r["backend"] == b}
                    n_same = sum(iv.get(r["scenario"]) == r["verdict"] for r in rows)
                    differ = [f"{r['scenario']} ({r['verdict']} / {iv.get(r['scenario'])})"
                              for r in rows if iv.get(r["scenario"]) != r["verdict"]]
                    agree_all[0] += n_same
                    agree_all[1] += len(rows)
                    agree = f" {n_same}/{len(rows)}" + (f" (differ: {'; '.join(differ[:5])})" if differ else "") + " |"
                say(f"| {b} | {info.get('wall_s', 0):.1f} s | {cpu_s[b]:.1f} s | {info.get('processes', '?')} | "
                    + ", ".join(f"{v} {k}" for v, k in sorted(counts.items()))
                    + f" | {sum(1 for r in rows if r.get('unexpected'))} |" + agree)
            say()
            if iso is not None:
                say(f"Batched and isolated agree on {agree_all[0]} of {agree_all[1]} cells.")
                say()

        if args.full_matrix:
            every = [b for b in available(sorted(b for b, d in backends.items() if d.kind != "fixture"))
                     if only is None or b in only]
            say(f"## Every default backend ({len(every)}: {', '.join(every)})")
            say()
            wall, inner, doc = conform_run(every, Path(tmp) / "full")
            mark_load("after the full matrix without stories")
            wall_apps, inner_apps, doc_apps = conform_run(every, Path(tmp) / "full-apps", applications=True)
            mark_load("after the full matrix with stories")
            say("| measurement | wall |")
            say("|---|---|")
            say(f"| `./conform run`, every default backend, no application stories | {wall:.1f} s (pytest {inner:.1f} s) |")
            say(f"| `./conform run`, every default backend, with the stories (the default `./conform run`) | "
                f"{wall_apps:.1f} s (pytest {inner_apps:.1f} s; {len(doc_apps.get('applications') or [])} stories) |")
            slowest = sorted(((doc["backends"][b].get("execution", {}).get("wall_s") or 0, b) for b in every),
                             reverse=True)[:4]
            say("| the slowest backends within the run without stories | "
                + ", ".join(f"{b} {w:.1f} s" for w, b in slowest) + " |")
            unexpected = sum(1 for r in doc_apps["results"] if r.get("unexpected"))
            say(f"| unexpected scenario results in the run with stories | {unexpected} |")
            say()

        mark_load("end")
        say("Load average (1, 5, 15 min) while it ran: "
            + "; ".join(f"{where} {load_text(v)}" for where, v in loads))
        worst = max(v[0] for _, v in loads)
        if worst > IDLE_LOAD_PER_CPU * cpus:
            say(f"**The machine was not idle** (1-minute load average up to {worst:.2f} on {cpus} CPUs): these "
                "figures are upper bounds of what it gives when quiet.")
        say(f"The benchmark took {time.monotonic() - started:.0f} s.")
        for line in KEPT:
            say(f"Kept for a look (unexpected cells): {line}")
        for root in roots:
            execute.remove_temp_root(root)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if args.out:
        Path(args.out).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
