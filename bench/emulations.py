#!/usr/bin/env python3
"""Benchmark of the LD_PRELOAD emulations against native AF_UNIX, side by side in one run.

Runs build/bench/afunix-bench natively and under each emulation backend's descriptor
(runners/backends/*.toml with kind = "emulation"), interleaving the backends round by round so
that machine noise spreads evenly, takes the median of each metric over the rounds, and prints a
Markdown table with the ratio to native:

  connect   socket()+connect() until connect() returns (median, us)
  first     socket()+connect() until the server's first byte after accept() arrives (median, us):
            connect and accept latency including any handshake
  rtt       one-byte request and reply on an open, warmed-up connection (mean, us)
  bulk      MiB/s for a one-way transfer in 64 KiB writes

Client and server share one CPU (see afunix_bench.cc) so the figures are stable from run to run.
Not a test: nothing is asserted. Usage: bench/emulations.py [--rounds N] [--build DIR] [--quick]
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "runners"))
from conformlib.backends import load_backend  # noqa: E402

METRICS = [("connect_us", "connect() (us)", False),
           ("first_byte_us", "connect+accept+first byte (us)", False),
           ("rtt_us", "1-byte round trip (us)", False),
           ("bulk_mib_s", "bulk (MiB/s)", True)]


def emulation_backends():
    out = []
    for path in sorted((ROOT / "runners" / "backends").glob("*.toml")):
        b = load_backend(path)
        if b.kind == "emulation":
            out.append(b)
    return out


def environment(backend, build, tmp):
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    if backend is None:
        return env
    values = {"build": str(build), "root": str(ROOT), "tmp": str(tmp)}
    for key, value in backend.env.items():
        for name, v in values.items():
            value = value.replace("{" + name + "}", v)
        env[key] = value
    return env


def run_once(binary, env, args, tmp):
    work = Path(tempfile.mkdtemp(dir=tmp))
    try:
        r = subprocess.run([str(binary), *args, "--dir", str(work)], env=env, capture_output=True,
                           text=True, timeout=600)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if r.returncode != 0:
        raise RuntimeError(f"afunix-bench failed: {r.stderr.strip()}")
    return json.loads(r.stdout)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--build", default=str(ROOT / "build"))
    ap.add_argument("--quick", action="store_true", help="fewer iterations (a smoke run)")
    opt = ap.parse_args()
    build = Path(opt.build)
    binary = build / "bench" / "afunix-bench"
    if not binary.exists():
        sys.exit(f"{binary} is not built: cmake -S . -B build -G Ninja && ninja -C build")
    args = ["--connects", "100", "--pingpongs", "2000", "--bulk-mb", "32"] if opt.quick else \
           ["--connects", "200", "--pingpongs", "20000", "--bulk-mb", "512"]

    backends = [("native", None)] + [(b.name, b) for b in emulation_backends()]
    results = {name: [] for name, _ in backends}
    tmp = Path(tempfile.mkdtemp(prefix="afunix-bench-"))
    try:
        for _ in range(opt.rounds):
            for name, b in backends:
                env = environment(b, build, tmp)
                lib = env.get("LD_PRELOAD")
                if lib and not os.path.exists(lib):
                    sys.exit(f"{lib} is not built")
                results[name].append(run_once(binary, env, args, tmp))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    med = {name: {m: statistics.median(r[m] for r in runs) for m, _, _ in METRICS}
           for name, runs in results.items()}
    base = med["native"]
    print(f"Median of {opt.rounds} interleaved rounds ({' '.join(args)}); "
          "ratio = emulation / native for times, native / emulation for throughput "
          "(so >1 is always slower).\n")
    head = "| backend | " + " | ".join(f"{title} | ratio" for _, title, _ in METRICS) + " |"
    print(head)
    print("|" + "---|" * (1 + 2 * len(METRICS)))
    for name, _ in backends:
        cells = []
        for m, _, higher_is_better in METRICS:
            v = med[name][m]
            ratio = (base[m] / v) if higher_is_better else (v / base[m])
            cells += [f"{v:.1f}" if v >= 10 else f"{v:.2f}", f"{ratio:.2f}x"]
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
