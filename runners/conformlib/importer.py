"""Traces from elsewhere: merge a run of the same scenario program made on another machine (Cygwin,
MSYS2, WSL, macOS, FreeBSD...) into a results directory as its own backend row.

What is accepted: a directory, or a .tar/.tar.gz/.tgz/.zip archive of one, holding one trace file per
scenario anywhere below it: what `AFUNIX_TRACE_DIR=out ./afunix-scenarios` writes, or a whole
`./conform run` results directory with a single backend's traces. Before anything is merged the import
is validated like wpt.fyi validates a run: every file a well-formed trace with run metadata, one run
(same backend, kernel, machine, ABI throughout), no scenario twice, none unknown, none missing.
"""

import re
import tarfile
import zipfile
from pathlib import Path, PurePosixPath

from . import report, traces
from .errors import ConformError
from .execute import judge_trace

NOT_TRACES = {"results.json", "RECORDED.json"}
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def _safe_member(name):
    p = PurePosixPath(name)
    return not p.is_absolute() and ".." not in p.parts


def unpack(source, into):
    """The directory to read: source itself, or the archive extracted into `into`."""
    source = Path(source)
    if source.is_dir():
        return source
    if not source.exists():
        raise ConformError(source, "no such file or directory")
    try:
        if zipfile.is_zipfile(source):
            with zipfile.ZipFile(source) as z:
                bad = [m for m in z.namelist() if not _safe_member(m)]
                if bad:
                    raise ConformError(source, f"archive member escapes the archive: {bad[0]}")
                z.extractall(into)
        elif tarfile.is_tarfile(source):
            with tarfile.open(source) as t:
                for m in t.getmembers():
                    if not _safe_member(m.name) or not (m.isfile() or m.isdir()):
                        raise ConformError(source, f"archive member not a plain file inside it: {m.name}")
                t.extractall(into)
        else:
            raise ConformError(source, "not a directory, nor a .tar, .tar.gz or .zip archive")
    except (tarfile.TarError, zipfile.BadZipFile, OSError) as e:
        raise ConformError(source, f"cannot unpack: {e}") from None
    return Path(into)


def read_traces(directory, manifest):
    """Loads and validates every trace below directory against the scenario manifest.
    Returns (run metadata, {scenario: trace}); raises ConformError on the first problem."""
    docs, files = {}, {}
    for path in sorted(Path(directory).rglob("*.json")):
        if path.name in NOT_TRACES or path.name.endswith(".partial"):
            continue
        doc = traces.load(path)
        name = doc["scenario"]
        if name in docs:
            raise ConformError(path, f"second trace for {name} (first: {files[name]}): one run per import")
        docs[name], files[name] = doc, path
    if not docs:
        raise ConformError(directory, "no traces found (expected one <scenario>.json per scenario)")

    first = next(iter(docs.values()))["run"]
    for name, doc in docs.items():
        for key in ("backend", "kernel", "machine", "abi"):
            if doc["run"][key] != first[key]:
                raise ConformError(files[name], f"run {key} '{doc['run'][key]}' differs from '{first[key]}' "
                                                "in the other traces: one run per import")
    unknown = sorted(set(docs) - set(manifest))
    if unknown:
        raise ConformError(files[unknown[0]], f"unknown scenario {unknown[0]} ({len(unknown)} unknown in all): "
                                              "was it made by another suite revision?")
    missing = [s for s in manifest if s not in docs]
    if missing:
        raise ConformError(directory, f"incomplete: {len(missing)} of {len(manifest)} scenarios have no trace "
                                      f"(first: {missing[0]}); an incomplete run is never shown as complete")
    return first, docs


def import_run(source, results_dir, expected_loader, name=None, replace=False, tmp=None):
    """Validates `source` and merges it into results_dir; returns (backend name, Result list)."""
    results_json = Path(results_dir) / "results.json"
    if not results_json.exists():
        raise ConformError(results_dir, "no results.json to merge into: run ./conform run first")
    doc = report.load_results(results_json)
    run, docs = read_traces(unpack(source, tmp), doc["scenarios"])
    name = name or run["backend"]
    if not NAME.match(name):
        raise ConformError(source, f"backend name '{name}' is not usable: give one with --name")
    if name in doc["backends"] and not (replace and doc["backends"][name].get("kind") == "imported"):
        raise ConformError(results_json, f"backend '{name}' is already in these results: choose another --name"
                                         + (" (or --replace an earlier import)" if replace is False else ""))
    results = [judge_trace(name, s, docs[s], expected_loader(s)) for s in doc["scenarios"]]
    info = {"description": f"imported: {run['machine']} {run['kernel']} ({run['abi']} build)",
            "kind": "imported", "available": True, "reason": None, "source": str(source)}
    report.add_backend(results_dir, name, info, results)
    return name, results
