"""./conform import: traces made elsewhere are validated before they reach the matrix."""

import json
import os
import shutil
import subprocess
import tarfile
import tempfile
import zipfile
from pathlib import Path

import pytest

from conftest import BINARY, conform, expected_traces, needs_build, needs_root, shared_once

# foreign_traces (the program alone, every scenario) and native_run are made once per session
# whatever the worker (shared_once): the tests, each an import of every trace, spread over the
# workers instead of running one after another on one.
pytestmark = [needs_build, needs_root]


@pytest.fixture(scope="module")
def native_results(native_run):
    """A complete native run (the session's shared one: merge() imports into a copy of it)."""
    returncode, stdout, stderr, out = native_run
    assert returncode == 0, stdout + stderr
    return out


@pytest.fixture(scope="session")
def foreign_traces(tmp_path_factory):
    """A run of the scenario program 'on another machine': the program alone, no runner. Shared by
    the session's workers: not to be changed (copy it)."""
    def make(out):
        # Not under pytest's tmp dir: its parent is private, and the test identities must reach it.
        work = Path(tempfile.mkdtemp(prefix="afunix-work-"))
        work.chmod(0o755)
        env = {"AFUNIX_TRACE_DIR": str(out), "AFUNIX_WORKDIR": str(work), "AFUNIX_BACKEND": "elsewhere",
               "PATH": os.environ["PATH"]}
        subprocess.run([str(BINARY)], env=env, capture_output=True, check=True, timeout=600)
        work.rmdir()
    return shared_once(tmp_path_factory, "foreign-traces", make)


def merge(source, results, tmp_path, *extra):
    """Imports into a fresh copy of the results, so each test starts from the same matrix."""
    into = tmp_path / "into"
    shutil.copytree(results, into)
    return conform("import", str(source), "--into", str(into), *extra), into


def copy_of(traces_dir, tmp_path):
    d = tmp_path / "traces"
    shutil.copytree(traces_dir, d)
    return d


def test_import_directory_becomes_a_backend_row(native_results, foreign_traces, tmp_path):
    proc, into = merge(foreign_traces, native_results, tmp_path)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads((into / "results.json").read_text())
    assert doc["backends"]["elsewhere"]["kind"] == "imported"
    rows = [r for r in doc["results"] if r["backend"] == "elsewhere"]
    assert len(rows) == len(expected_traces()) and {r["verdict"] for r in rows} == {"PASS"}
    assert "elsewhere" in (into / "matrix.md").read_text()


@pytest.mark.parametrize("kind", ["tar.gz", "zip"])
def test_import_archives(native_results, foreign_traces, tmp_path, kind):
    archive = tmp_path / f"run.{kind}"
    if kind == "zip":
        with zipfile.ZipFile(archive, "w") as z:
            for f in foreign_traces.iterdir():
                z.write(f, f"run/{f.name}")
    else:
        with tarfile.open(archive, "w:gz") as t:
            t.add(foreign_traces, "run")
    proc, into = merge(archive, native_results, tmp_path, "--name", f"from-{kind.replace('.', '')}")
    assert proc.returncode == 0, proc.stderr


def test_deviating_import_is_judged_against_the_oracle(native_results, foreign_traces, tmp_path):
    d = copy_of(foreign_traces, tmp_path)
    path = next(p for p in sorted(d.glob("*.json")) if '"op":"connect"' in p.read_text())
    doc = json.loads(path.read_text())
    for actor in doc["actors"]:
        for o in actor["observations"]:
            if o["op"] == "connect":
                o["result"] = "EBADF"
    path.write_text(json.dumps(doc))
    proc, into = merge(d, native_results, tmp_path)
    assert proc.returncode == 0, proc.stderr
    result = json.loads((into / "results.json").read_text())
    fails = [r for r in result["results"] if r["backend"] == "elsewhere" and r["verdict"] == "FAIL"]
    assert [r["scenario"] for r in fails] == [doc["scenario"]]
    assert "EBADF" in (into / fails[0]["detail"]).read_text()


def break_one(d, how):
    path = sorted(d.glob("*.json"))[0]
    doc = json.loads(path.read_text())
    if how == "corrupt":
        path.write_text(path.read_text()[:40])
    elif how == "missing":
        path.unlink()
    elif how == "unknown":
        doc["scenario"] = "Peercred.NoSuchScenario"
        (d / "Peercred.NoSuchScenario.json").write_text(json.dumps(doc))
    elif how == "duplicate":
        (d / "sub").mkdir()
        (d / "sub" / path.name).write_text(path.read_text())
    elif how == "inconsistent":
        doc["run"]["kernel"] = "0.0.1"
        path.write_text(json.dumps(doc))
    elif how == "no-run-info":
        del doc["run"]
        path.write_text(json.dumps(doc))
    return path


@pytest.mark.parametrize("how, problem", [
    ("corrupt", "corrupt trace, not JSON"),
    ("missing", "incomplete: 1 of"),
    ("unknown", "unknown scenario Peercred.NoSuchScenario"),
    ("duplicate", "second trace for"),
    ("inconsistent", "differs from '0.0.1' in the other traces"),
    ("no-run-info", "'run' metadata must give"),
])
def test_bad_import_is_refused_with_one_line_and_nothing_merged(native_results, foreign_traces, tmp_path,
                                                                 how, problem):
    d = copy_of(foreign_traces, tmp_path)
    break_one(d, how)
    before = (native_results / "results.json").read_text()
    proc, into = merge(d, native_results, tmp_path)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and problem in lines[0] and lines[0].startswith("conform: error: ")
    assert (into / "results.json").read_text() == before


def test_archive_escaping_its_directory_is_refused(native_results, tmp_path):
    archive = tmp_path / "evil.tar"
    evil = tmp_path / "x.json"
    evil.write_text("{}")
    with tarfile.open(archive, "w") as t:
        t.add(evil, "../../x.json")
    proc, into = merge(archive, native_results, tmp_path)
    assert proc.returncode == 2
    assert "escapes" in proc.stderr or "not a plain file" in proc.stderr


def test_name_clash_is_refused(native_results, foreign_traces, tmp_path):
    proc, into = merge(foreign_traces, native_results, tmp_path, "--name", "native")
    assert proc.returncode == 2 and "already in these results" in proc.stderr
