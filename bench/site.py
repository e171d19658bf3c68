#!/usr/bin/python3
"""Benchmark of the matrix's page: how fast it loads with 20 backends x 1,000 scenarios, beside the
page it replaced (plain tables of every cell, each a link), in one run.

Makes a synthetic results directory (tests/fixtures/site_report.py: about a third of the cells
deviating, each with a real-format diff), renders it both ways, and opens each in headless Chromium
(tests/browser.py), interleaved round by round, reporting medians:

  load       navigation start to the load event (ms)
  ready      navigation start to the site being usable: its data parsed and its first view laid out
             and painted (ms)
  filter     typing into the explore view's text filter until the grid is redrawn (ms)
  open diff  a click on a FAIL cell until its diff is shown, its backend's details loaded (ms)

Not a test: nothing is asserted. Usage: bench/site.py [--rounds N] [--backends N] [--scenarios N]
[--keep DIR]
"""

import argparse
import importlib.util
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
sys.path.insert(0, str(ROOT / "tests"))
from conformlib import report  # noqa: E402
from conformlib.site import site_size  # noqa: E402
from fixtures import site_report  # noqa: E402
import browser  # noqa: E402

# The last revision whose report.py wrote matrix.html as tables of every cell.
OLD_RENDERER = "435a2f1"

NAVIGATION = "var n = performance.getEntriesByType('navigation')[0]; return n ? n.loadEventEnd : -1"


def old_renderer():
    """report.py as it was, or None outside a git checkout."""
    try:
        source = subprocess.run(["git", "-C", str(ROOT), "show", f"{OLD_RENDERER}:runners/conformlib/report.py"],
                                capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    path = Path(tempfile.mkdtemp(prefix="afunix-old-report-")) / "report.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("conformlib._old_report", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load(driver, url):
    driver.get("about:blank")
    driver.get(url)
    for _ in range(600):
        if driver.execute_script(NAVIGATION) > 0:
            break
        time.sleep(0.05)
    return driver.execute_script(NAVIGATION)


def painted(driver):
    """When the page had drawn its first view after running its scripts."""
    for _ in range(600):
        t = driver.execute_script("return window.afunixPaintedAt")
        if t:
            return t
        time.sleep(0.05)
    return -1


def measure_site(driver, out):
    figures = {}
    figures["landing load"] = load(driver, (out / "index.html").as_uri())
    figures["landing ready"] = painted(driver)
    figures["explore load"] = load(driver, (out / "index.html").as_uri() + "#explore")
    figures["explore ready"] = painted(driver)
    figures["filter"] = driver.execute_script(
        "var q = document.getElementById('f-q'), t = performance.now(); q.value = 'Synthetic01';"
        "q.dispatchEvent(new Event('input')); document.body.offsetHeight; return performance.now() - t")
    figures["open diff"] = driver.execute_async_script(
        "var done = arguments[arguments.length - 1];"
        "var q = document.getElementById('f-q'); q.value = ''; q.dispatchEvent(new Event('input'));"
        "var td = document.querySelector('#grid td.st-FAIL'), t = performance.now(); td.click();"
        "(function wait() { var d = document.getElementById('detail');"
        "  if (d && d.getAttribute('data-loaded')) { document.body.offsetHeight; done(performance.now() - t); }"
        "  else setTimeout(wait, 2); })();")
    return figures


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--backends", type=int, default=20)
    p.add_argument("--scenarios", type=int, default=1000)
    p.add_argument("--keep", type=Path, help="write the synthetic results here and keep them")
    args = p.parse_args()
    reason = browser.missing()
    if reason:
        sys.exit(f"bench/site.py: {reason}")
    tmp = Path(tempfile.mkdtemp(prefix="afunix-bench-site-"))
    out = args.keep or tmp / "results"
    out.mkdir(parents=True, exist_ok=True)
    t = time.monotonic()
    doc = site_report.synthetic_report(out, args.backends, args.scenarios)
    written = time.monotonic() - t
    t = time.monotonic()
    report.write_matrix(out, doc)
    rendered = time.monotonic() - t
    old = old_renderer()
    if old:
        (out / "old-matrix.html").write_text(old.matrix_html(doc))
    rows = {}
    with browser.chromium() as driver:
        for _ in range(args.rounds):
            if old:
                rows.setdefault("old load", []).append(load(driver, (out / "old-matrix.html").as_uri()))
            for k, v in measure_site(driver, out).items():
                rows.setdefault(k, []).append(v)
    cells = len(doc["results"])
    deviating = sum(r["verdict"] != "PASS" for r in doc["results"])
    print(f"{args.backends} backends x {args.scenarios} scenarios = {cells} cells ({deviating} not PASS); "
          f"{args.rounds} rounds, medians; machine load average {os.getloadavg()[0]:.1f}")
    print(f"results.json and diffs written and rendered in {written:.1f} s; rendering alone {rendered:.1f} s")
    print(f"first load: index.html + site/ {site_size(out) / 1024:.0f} KiB"
          + (f"; old matrix.html {(out / 'old-matrix.html').stat().st_size / 1024:.0f} KiB" if old else "")
          + f"; matrix.md {(out / 'matrix.md').stat().st_size / 1024:.0f} KiB; one backend's diffs in one area "
          f"{statistics.median(f.stat().st_size for f in (out / 'site' / 'diffs').iterdir()) / 1024:.0f} KiB (median)")
    print()
    print("| page | median (ms) | min | max |")
    print("|---|---|---|---|")
    for k, v in rows.items():
        print(f"| {k} | {statistics.median(v):.0f} | {min(v):.0f} | {max(v):.0f} |")
    if not args.keep:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
