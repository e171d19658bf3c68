#!/usr/bin/python3
"""Benchmark of the runner itself: what a run costs, side by side in one run with what a user would
compare it against, as a Markdown report.

  native (./conform)   `./conform run --backend native`, wall time and per scenario
  program alone        the scenario program running all scenarios in one process, no runner
  CPython              CPython's own test_socket AF_UNIX classes (Debian: libpython3.X-testsuite),
                       per test: the per-scenario cost as a ratio of it
  syscalls             system calls per scenario over the whole native suite (strace -f -c of
                       every scenario-program process, batched as ./conform runs them)
  batched vs isolated  native, and every backend with --matrix, in both modes (and whether every
                       verdict agrees)
  half vs all          the executor on half and on all the scenarios: the cost is linear
  matrix               `./conform run` over every available backend, wall time, and each backend's
                       own wall time and CPU within it (--matrix); the CPU the run needed bounds
                       its wall time from below on this many cores

Figures depend on the machine and on what else runs on it: the report starts with the load average.
Not a test: nothing is asserted. Usage: bench/runner.py [--rounds N] [--matrix] [--isolate-matrix]
[--out FILE]
"""

import argparse
import json
import os
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
from conformlib.scenarios import list_scenarios  # noqa: E402

BINARY = ROOT / "build" / "conformance" / "afunix-scenarios"
PYTHON = "/usr/bin/python3"
CPYTHON_CLASSES = ["SendmsgUnixStreamTest", "RecvmsgUnixStreamTest", "RecvmsgIntoUnixStreamTest",
                   "RecvmsgSCMRightsStreamTest", "RecvmsgIntoSCMRightsStreamTest", "TestUnixDomain",
                   "TestLinuxAbstractNamespace", "SendRecvFdsTests"]


def load():
    return open("/proc/loadavg").read().split()[:3]


def timed(argv, **kw):
    start = time.monotonic()
    proc = subprocess.run(argv, capture_output=True, text=True, **kw)
    return time.monotonic() - start, proc


def conform_run(backends, results, *extra):
    argv = [PYTHON, str(ROOT / "conform"), "run", "--no-install", "--results", str(results)]
    for b in backends:
        argv += ["--backend", b]
    wall, proc = timed([*argv, *extra], cwd=ROOT)
    doc_path = Path(results) / "results.json"
    if not doc_path.exists():
        raise SystemExit(f"./conform run wrote no results:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return wall, json.loads(doc_path.read_text())


def program_alone():
    with tempfile.TemporaryDirectory() as traces_dir, tempfile.TemporaryDirectory() as work:
        Path(work).chmod(0o755)
        env = dict(os.environ, AFUNIX_TRACE_DIR=traces_dir, AFUNIX_WORKDIR=work)
        wall, proc = timed([str(BINARY)], env=env)
        return wall, len(list(Path(traces_dir).glob("*.json")))


def cpython():
    """(wall, tests) of CPython's AF_UNIX socket tests, or (None, why)."""
    code = ("import sys, time, unittest\n"
            "from test import test_socket as t\n"
            f"names = {CPYTHON_CLASSES!r}\n"
            "suite = unittest.TestSuite(unittest.defaultTestLoader.loadTestsFromTestCase(getattr(t, n))"
            " for n in names if hasattr(t, n))\n"
            "start = time.monotonic()\n"
            "r = unittest.TextTestRunner(stream=open('/dev/null', 'w')).run(suite)\n"
            "print(time.monotonic() - start, r.testsRun, len(r.failures) + len(r.errors))\n")
    proc = subprocess.run([PYTHON, "-c", code], capture_output=True, text=True)
    if proc.returncode != 0 and "No module named 'test.test_socket'" in proc.stderr:
        v = sys.version_info
        return None, f"CPython's test package is not installed (Debian: libpython{v.major}.{v.minor}-testsuite)"
    wall, n, bad = proc.stdout.split()
    return float(wall), int(n)


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
    _, doc = conform_run(["strace-native"], Path(tmp) / "r", "--backends-dir", str(bdir))
    calls = 0
    for f in out.iterdir():
        for line in f.read_text().splitlines():
            parts = line.split()
            if parts and parts[-1] == "total":
                calls += int(parts[3])
    n = len(doc["results"])
    verdicts = {r["verdict"] for r in doc["results"]}
    return calls / n, f"{calls} calls, {n} scenarios, verdicts {sorted(verdicts)}"


def executor_wall(backends, names, paths_for, expected, isolate=False):
    ex = execute.new_executor(isolate=isolate)
    try:
        start = time.monotonic()
        for b in backends:
            ex.plan(b, names, paths_for(b), expected)
        results = {(b.name, s): ex.result(b, s) for b in backends for s in names}
        return time.monotonic() - start, results
    finally:
        ex.shutdown()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=3, help="rounds of the native figures (median)")
    p.add_argument("--matrix", action="store_true", help="also the full matrix, batched")
    p.add_argument("--isolate-matrix", action="store_true",
                   help="also the full matrix with --isolate, and the verdict comparison")
    p.add_argument("--out", help="also write the report here")
    args = p.parse_args()
    lines = []

    def say(line=""):
        print(line, flush=True)
        lines.append(line)

    names = list_scenarios(BINARY)
    say(f"# Runner benchmark ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})")
    say()
    say(f"{os.cpu_count()} CPUs, Linux {os.uname().release}; load average at start {' '.join(load())}; "
        f"{len(names)} scenarios")
    say()
    tmp = tempfile.mkdtemp(prefix="afunix-bench-")
    try:
        native_walls = []
        for i in range(args.rounds):
            wall, doc = conform_run(["native"], Path(tmp) / f"native{i}")
            native_walls.append(wall)
        native = statistics.median(native_walls)
        alone = statistics.median(program_alone()[0] for _ in range(args.rounds))
        cp = [cpython() for _ in range(args.rounds)]
        say("| measurement | wall | per scenario / test |")
        say("|---|---|---|")
        say(f"| `./conform run --backend native` ({len(names)} scenarios, median of {args.rounds}) | "
            f"{native:.2f} s | {1000 * native / len(names):.2f} ms |")
        cpu = doc["backends"]["native"].get("execution", {}).get("cpu_s")
        own = doc["run_info"].get("runner_cpu_s")
        if cpu is not None and own is not None:
            say(f"| CPU of that run: scenario processes / the runner itself | {cpu:.2f} s / {own:.2f} s | "
                f"{1000 * cpu / len(names):.2f} ms / {1000 * own / len(names):.2f} ms |")
        say(f"| the scenario program alone, all in one process | {alone:.2f} s | "
            f"{1000 * alone / len(names):.2f} ms |")
        if cp[0][0] is None:
            say(f"| CPython test_socket AF_UNIX classes | {cp[0][1]} | |")
        else:
            cwall = statistics.median(c[0] for c in cp)
            per_test = cwall / cp[0][1]
            say(f"| CPython test_socket AF_UNIX classes ({cp[0][1]} tests) | {cwall:.2f} s | "
                f"{1000 * per_test:.2f} ms |")
            say(f"| ratio: per scenario through ./conform / CPython per test | | "
                f"{(native / len(names)) / per_test:.2f}x |")
        per, detail = syscalls_per_scenario(tmp)
        say(f"| syscalls per scenario, native suite (strace -f -c) | | "
            f"{per:.0f} ({detail}) |" if per is not None else f"| syscalls per scenario | {detail} | |")

        # Half and all, batched and isolated, natively, through the executor.
        backends = load_backends([ROOT / "runners" / "backends"])
        native_b = backends["native"]

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

        half = names[::2]
        w_half, _ = executor_wall([native_b], half, paths_for, expected)
        w_all, r_b = executor_wall([native_b], names, paths_for, expected)
        w_iso, r_i = executor_wall([native_b], names, paths_for, expected, isolate=True)
        same = sum(r_b[k].verdict == r_i[k].verdict for k in r_b)
        say(f"| native, executor, half the scenarios ({len(half)}) | {w_half:.2f} s | "
            f"{1000 * w_half / len(half):.2f} ms |")
        say(f"| native, executor, all ({len(names)}) | {w_all:.2f} s | {1000 * w_all / len(names):.2f} ms |")
        say(f"| native, executor, all, --isolate | {w_iso:.2f} s | {1000 * w_iso / len(names):.2f} ms "
            f"(same verdict batched and isolated: {same}/{len(names)}) |")
        say()

        if args.matrix or args.isolate_matrix:
            available = [n for n, b in sorted(backends.items())
                         if b.kind != "fixture" and b.availability(ROOT) is None]
            say(f"Matrix: {len(available)} backends ({', '.join(available)}); load average "
                f"{' '.join(load())}")
            say()
            wall, doc = conform_run(available, Path(tmp) / "matrix")
            say(f"`./conform run`, all backends, batched: {wall:.1f} s wall")
            say()
            iso = None
            if args.isolate_matrix:
                iso_wall, iso = conform_run(available, Path(tmp) / "matrix-iso", "--isolate")
                say(f"`./conform run --isolate`, all backends: {iso_wall:.1f} s wall")
                say()
            w_half_m, _ = executor_wall([backends[b] for b in available], half, paths_for, expected)
            say(f"executor, all backends, half the scenarios: {w_half_m:.1f} s (all of them: see above)")
            say()
            cpus = {b: doc["backends"][b].get("execution", {}).get("cpu_s") or 0.0 for b in available}
            total = sum(cpus.values()) + (doc["run_info"].get("runner_cpu_s") or 0.0)
            say(f"CPU the batched run needed: {total:.0f} s (scenario processes and the runner), so at "
                f"least {total / (os.cpu_count() or 1):.0f} s of wall time on {os.cpu_count()} CPUs")
            say()
            say("| backend | wall within the run | CPU | scenarios | processes | verdicts | unexpected | same verdict with --isolate |")
            say("|---|---|---|---|---|---|---|---|")
            for b in available:
                info = doc["backends"][b].get("execution", {})
                rows = [r for r in doc["results"] if r["backend"] == b]
                counts = {}
                for r in rows:
                    counts[r["verdict"]] = counts.get(r["verdict"], 0) + 1
                agree = ""
                if iso is not None:
                    iv = {r["scenario"]: r["verdict"] for r in iso["results"] if r["backend"] == b}
                    n_same = sum(iv.get(r["scenario"]) == r["verdict"] for r in rows)
                    differ = [r["scenario"] for r in rows if iv.get(r["scenario"]) != r["verdict"]]
                    agree = f"{n_same}/{len(rows)}" + (f" (differ: {', '.join(differ[:5])})" if differ else "")
                say(f"| {b} | {info.get('wall_s', 0):.1f} s | {cpus[b]:.1f} s | {len(rows)} | {info.get('processes', '?')} | "
                    + ", ".join(f"{v} {n}" for v, n in sorted(counts.items()))
                    + f" | {sum(1 for r in rows if r.get('unexpected'))} | {agree} |")
            say()
        say(f"load average at the end {' '.join(load())}")
        for root in roots:
            execute.remove_temp_root(root)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if args.out:
        Path(args.out).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
