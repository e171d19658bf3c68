"""The scenario program off Linux: the recorder kit (./conform kit) builds in an empty directory
from its own contents, in the POSIX-only profile (every Linux extension forced off, the way a system
without them builds it), and its traces import cleanly as a row of their own: every scenario it can
run matches the oracle, every other one is UNSUPPORTED naming the feature it needs."""

import hashlib
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

import pytest

from conftest import ROOT, conform, expected_traces, needs_build, needs_root

# One worker for the module: kit_row (a kit made, built, recorded and imported) is made once.
pytestmark = [needs_build, needs_root, pytest.mark.xdist_group("kit")]

FEATURE_REASON = re.compile(r"^needs (.+), which this platform does not offer \((.+)\)$")
# Scenarios that need exactly one thing the POSIX-only profile lacks, and the feature they must name.
NEEDS = {
    "Kinds/Readiness.EpollEdgeTriggered/stream_pathname": "epoll",
    "Kinds/Data.MessageBoundaries/dgram_abstract": "abstract names",
    "Kinds/Addressing.AutobindNames/dgram": "autobind",
}


def bare_env(**extra):
    """What a foreign system's shell has: a PATH and a HOME, nothing of this project's."""
    return {"PATH": "/usr/bin:/bin", "HOME": tempfile.gettempdir(), **extra}


# The kit's program, built once per kit content: its build is most of this file's cost (GoogleTest
# and every scenario compiled from nothing), and sources that did not change need no second proof.
# Built without optimisation or debug information (-DCMAKE_BUILD_TYPE=None): what is proved here is
# that the kit builds from its own contents, which the flags do not change, in a third of the time.
KIT_CACHE = ROOT / "build" / "kit-test"
KIT_PROGRAM = Path("build") / "conformance" / "afunix-scenarios"


def kit_digest(kit):
    """The kit's content, without the revision it names (a commit that changes no file of the kit
    changes SUITE_REVISION only)."""
    h = hashlib.sha256()
    for f in sorted(p for p in kit.rglob("*") if p.is_file() and p.name != "SUITE_REVISION"):
        h.update(str(f.relative_to(kit)).encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()[:20]


def build_kit(kit):
    """Builds the unpacked kit with its own build.sh, or takes the program built from the same
    content before."""
    cached = KIT_CACHE / kit_digest(kit) / "afunix-scenarios"
    if cached.exists():
        (kit / KIT_PROGRAM).parent.mkdir(parents=True)
        shutil.copy2(cached, kit / KIT_PROGRAM)
        return
    built = subprocess.run(["sh", "./build.sh", "-DAFUNIX_POSIX_ONLY=ON", "-DCMAKE_BUILD_TYPE=None"], cwd=kit,
                           env=bare_env(), capture_output=True, text=True, timeout=1800)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    assert "(POSIX-only profile)" in built.stdout
    shutil.rmtree(KIT_CACHE, ignore_errors=True)  # one kit kept: the last one built
    cached.parent.mkdir(parents=True)
    shutil.copy2(kit / KIT_PROGRAM, cached)


@pytest.fixture(scope="module")
def kit_row(tmp_path_factory):
    """The kit made, unpacked in an empty directory, built POSIX-only, recorded, imported."""
    where = Path(tempfile.mkdtemp(prefix="afunix-kit-"))
    try:
        archive = where / "kit.tar.gz"
        made = conform("kit", "--output", str(archive))
        assert made.returncode == 0, made.stdout + made.stderr
        with tarfile.open(archive) as t:
            t.extractall(where / "unpacked")
        (kit,) = (where / "unpacked").iterdir()
        assert not (kit / "runners").exists() and not (kit / "expected").exists(), "the kit holds the recorder only"
        build_kit(kit)
        recorded = subprocess.run(["sh", "./record.sh", "posix-kit"], cwd=kit, env=bare_env(),
                                  capture_output=True, text=True, timeout=900)
        assert recorded.returncode == 0, recorded.stdout + recorded.stderr
        traces_archive = kit / "traces-posix-kit.tar.gz"
        assert traces_archive.exists(), recorded.stdout

        results = tmp_path_factory.mktemp("results")
        run = conform("run", "--backend", "native", "--results", str(results), "--", "-k", "BindExistingPath")
        assert (results / "results.json").exists(), run.stdout + run.stderr
        imported = conform("import", str(traces_archive), "--into", str(results))
        assert imported.returncode == 0, imported.stdout + imported.stderr
        doc = __import__("json").loads((results / "results.json").read_text())
        yield {r["scenario"]: r for r in doc["results"] if r["backend"] == "posix-kit"}, doc
    finally:
        shutil.rmtree(where, ignore_errors=True)


def test_every_scenario_of_the_kit_row_matches_the_oracle_or_names_its_feature(kit_row):
    row, _ = kit_row
    assert set(row) == set(expected_traces()), "the import is complete"
    verdicts = {}
    for scenario, r in row.items():
        verdicts.setdefault(r["verdict"], []).append(scenario)
        if r["verdict"] == "UNSUPPORTED":
            assert FEATURE_REASON.match(r["message"]), f"{scenario}: {r['message']}"
    assert set(verdicts) == {"PASS", "UNSUPPORTED"}, {v: s[:5] for v, s in verdicts.items() if v not in ("PASS", "UNSUPPORTED")}
    # Not vacuous either way: most of the suite runs without Linux's extensions, and a good part needs them.
    assert len(verdicts["PASS"]) > 300 and len(verdicts["UNSUPPORTED"]) > 100


def test_unsupported_scenarios_name_the_feature_they_need(kit_row):
    row, _ = kit_row
    for scenario, feature in NEEDS.items():
        assert row[scenario]["verdict"] == "UNSUPPORTED", scenario
        assert FEATURE_REASON.match(row[scenario]["message"]).group(1) == feature, row[scenario]["message"]
    system = FEATURE_REASON.match(row[next(iter(NEEDS))]["message"]).group(2)
    assert system.endswith("POSIX-only profile") and os.uname().sysname in system


def test_the_row_says_what_recorded_it(kit_row):
    _, doc = kit_row
    info = doc["backends"]["posix-kit"]
    assert info["kind"] == "imported" and os.uname().machine in info["description"]


def test_clang_build_of_the_harness_is_warning_free():
    """./conform test builds build-clang/ with -Werror on the harness; a warning fails that build."""
    log = ROOT / "build-clang" / "build.log"
    if not log.exists():
        pytest.skip("build-clang/ not built (./conform test builds it)")
    text = log.read_text(errors="replace")
    assert "warning:" not in text and (ROOT / "build-clang" / "conformance" / "afunix-scenarios").exists()
