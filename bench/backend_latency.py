#!/usr/bin/python3
"""Wake-up latency under backends, next to native in the same minutes: the measurement behind each
descriptor's timeout_multiplier (docs/triage/timeouts.md).

  bench/backend_latency.py [--rounds 3] [--wakeups 100] BACKEND...

Runs bench/wakeup_latency.c (an actor blocked in accept() while another wakes on an event and
connects) under each backend's own command, exactly as the scenario program would run (its
descriptor's placeholders, environment and workdir), alternating with a native run in every
round, and prints per backend the worst latency over all rounds and its ratio to native's worst.
Cross builds use the cross compiler of their toolchain file (cmake/toolchains/<build>.cmake).
Not a test: figures from a shared machine are noisy; say how loaded it was when quoting them."""

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "runners"))

from conformlib.backends import load_backends  # noqa: E402
from conformlib.execute import Paths, command_for  # noqa: E402

SOURCE = ROOT / "bench" / "wakeup_latency.c"


def program_for(build):
    """The latency program for one build, compiled into that build's directory when missing."""
    out = Paths(ROOT, ROOT, ROOT).build_dir(build) / "bench" / "afunix-wakeup-latency"
    if out.exists() and out.stat().st_mtime >= SOURCE.stat().st_mtime:
        return out
    compiler = "gcc"
    if build != "native":
        toolchain = (ROOT / "cmake" / "toolchains" / f"{build}.cmake").read_text()
        compiler = re.search(r"AFUNIX_CROSS_TRIPLE (\S+)\)", toolchain).group(1) + "-gcc"
    out.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([compiler, "-O2", "-o", str(out), str(SOURCE)], check=True)
    return out


def measure(backend, wakeups):
    tmp = Path(tempfile.mkdtemp(prefix=f"afunix-latency-{backend.name}-"))
    tmp.chmod(0o755)
    (tmp / "traces").mkdir()
    try:
        paths = Paths(ROOT, tmp / "traces", tmp)
        argv, env = command_for(backend, "latency", paths)
        binary = str(paths.binary(backend.build))
        program = str(program_for(backend.build))
        argv = [a.replace(binary, program) for a in argv]
        env["AFUNIX_WAKEUPS"] = str(wakeups)
        out = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600).stdout
        lines = [line for line in out.splitlines() if line.startswith("{")]
        return json.loads(lines[-1]) if lines else None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--wakeups", type=int, default=100)
    p.add_argument("backends", nargs="+")
    args = p.parse_args()
    backends = load_backends([ROOT / "runners" / "backends"])
    worst = {}
    for r in range(args.rounds):
        for name in ["native", *args.backends]:
            got = measure(backends[name], args.wakeups)
            value = got["worst_us"] if got else None
            print(f"round {r + 1} {name:<16} {json.dumps(got)}", flush=True)
            if value is not None:
                worst[name] = max(worst.get(name, 0), value)
    print()
    print(f"{'backend':<16} {'worst ms':>9} {'/ native':>9}")
    for name in ["native", *args.backends]:
        if name in worst:
            print(f"{name:<16} {worst[name] / 1000:>9.1f} {worst[name] / worst['native']:>9.1f}")
        else:
            print(f"{name:<16} {'no result':>9}")


if __name__ == "__main__":
    main()
