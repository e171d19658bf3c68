"""Traces from elsewhere: merge a run of the same scenario program made on another machine (Cygwin,
MSYS2, WSL, macOS, FreeBSD...) into a results directory as its own backend row.

What is accepted: a directory, or a .tar/.tar.gz/.tgz/.zip archive of one, holding one trace file per
scenario anywhere below it: what `AFUNIX_TRACE_DIR=out ./afunix-scenarios` writes, or a whole
`./conform run` results directory with a single backend's traces. Before anything is merged the import
is validated like wpt.fyi validates a run: every file a well-formed trace with run metadata, one run
(same backend, kernel, machine, ABI throughout), no scenario twice, none unknown, none missing.
"""

import json
import os
import stat
import tarfile
import zipfile
from pathlib import Path, PurePosixPath

from . import report, traces
from .backends import NAME
from .errors import ConformError
from .execute import judge_trace

NOT_TRACES = {"results.json", "RECORDED.json"}
# Bounds on what an import may hold, checked before anything is extracted or read: a trace is a few
# KiB, a whole run a few MiB.
MAX_TRACE_BYTES = 4 << 20
MAX_TOTAL_BYTES = 256 << 20
MAX_MEMBERS = 20000
CHUNK = 1 << 16


def _safe_member(name):
    p = PurePosixPath(name)
    return not p.is_absolute() and ".." not in p.parts


class _Budget:
    """Counts what an archive's members declare (and then really hold) against the caps."""

    def __init__(self, source):
        self.source, self.members, self.total = source, 0, 0

    def take(self, name, size):
        self.members += 1
        self.total += size
        if self.members > MAX_MEMBERS:
            raise ConformError(self.source, f"more than {MAX_MEMBERS} members: not a run of the scenario program")
        if size > MAX_TRACE_BYTES:
            raise ConformError(self.source, f"member {name} is {size} bytes, over the {MAX_TRACE_BYTES} "
                                            "a trace may have; nothing was extracted")
        if self.total > MAX_TOTAL_BYTES:
            raise ConformError(self.source, f"members add up to more than {MAX_TOTAL_BYTES} bytes; "
                                            "nothing was extracted")


def _copy_bounded(source, name, src, dest):
    """Copies one member, never more than its cap whatever its header said."""
    written = 0
    with open(dest, "xb") as out:
        while chunk := src.read(CHUNK):
            written += len(chunk)
            if written > MAX_TRACE_BYTES:
                raise ConformError(source, f"member {name} holds more than {MAX_TRACE_BYTES} bytes")
            out.write(chunk)


def _extract_zip(source, into):
    with zipfile.ZipFile(source) as z:
        infos = z.infolist()
        budget = _Budget(source)
        for m in infos:  # every member checked before one is extracted
            if not _safe_member(m.filename):
                raise ConformError(source, f"archive member escapes the archive: {m.filename}")
            kind = stat.S_IFMT(m.external_attr >> 16)  # 0 when the archiver gave no file type
            if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
                raise ConformError(source, f"archive member not a plain file inside it: {m.filename}")
            budget.take(m.filename, m.file_size)
        for m in infos:
            dest = Path(into, m.filename)
            if m.is_dir():
                dest.mkdir(parents=True, exist_ok=True)
                continue
            dest.parent.mkdir(parents=True, exist_ok=True)
            with z.open(m) as src:
                _copy_bounded(source, m.filename, src, dest)


def _extract_tar(source, into):
    with tarfile.open(source) as t:
        budget, members = _Budget(source), []
        for m in t:  # stops at the first member over a cap, before reading (decompressing) further
            if not _safe_member(m.name) or not (m.isfile() or m.isdir()):
                raise ConformError(source, f"archive member not a plain file inside it: {m.name}")
            budget.take(m.name, m.size)
            members.append(m)
        for m in members:
            dest = Path(into, m.name)
            if m.isdir():
                dest.mkdir(parents=True, exist_ok=True)
                continue
            dest.parent.mkdir(parents=True, exist_ok=True)
            _copy_bounded(source, m.name, t.extractfile(m), dest)


def unpack(source, into):
    """The directory to read: source itself, or the archive extracted into `into`. Returns
    (directory, name): name(path) is how a file below it is named to the user (for an archive,
    the archive and the member, never the temporary copy)."""
    source = Path(source)
    if source.is_dir():
        return source, lambda path: str(path)
    try:
        mode = os.stat(source).st_mode
    except FileNotFoundError:
        raise ConformError(source, "no such file or directory") from None
    except OSError as e:
        raise ConformError(source, f"cannot read: {e.strerror}") from None
    if not stat.S_ISREG(mode):
        raise ConformError(source, "not a directory, nor a .tar, .tar.gz or .zip archive")
    try:
        if zipfile.is_zipfile(source):
            _extract_zip(source, into)
        elif tarfile.is_tarfile(source):
            _extract_tar(source, into)
        else:
            raise ConformError(source, "not a directory, nor a .tar, .tar.gz or .zip archive")
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError) as e:
        raise ConformError(source, f"cannot unpack: {e}") from None
    return Path(into), lambda path: f"{source} (member {Path(path).relative_to(into)})"


def _trace_files(directory, name):
    """The *.json files below directory, without following links; anything there that is not a
    regular file (a link, a FIFO, a device) is refused: import reads only plain trace files."""
    found = []
    for top, dirs, files in os.walk(directory, followlinks=False):
        for d in dirs:
            if os.path.islink(os.path.join(top, d)):
                raise ConformError(name(os.path.join(top, d)), "a symbolic link: import reads only plain "
                                                               "files inside the directory")
        for f in files:
            path = Path(top, f)
            if not f.endswith(".json") or f in NOT_TRACES:
                continue
            if not stat.S_ISREG(os.lstat(path).st_mode):
                kind = "a symbolic link" if path.is_symlink() else "not a regular file"
                raise ConformError(name(path), f"{kind}: import reads only plain trace files")
            found.append(path)
    return sorted(found)


def _load_trace(path, where):
    """One trace, read without following a link or blocking on a FIFO, and bounded."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as e:
        raise ConformError(where, f"cannot read trace: {e.strerror}") from None
    with open(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ConformError(where, "not a regular file: import reads only plain trace files")
        raw = f.read(MAX_TRACE_BYTES + 1)
    if len(raw) > MAX_TRACE_BYTES:
        raise ConformError(where, f"larger than {MAX_TRACE_BYTES} bytes: not a trace")
    try:
        doc = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise ConformError(where, f"corrupt trace, not UTF-8 (byte {e.start})") from None
    except ValueError as e:
        msg = getattr(e, "msg", str(e))
        raise ConformError(where, f"corrupt trace, not JSON: {msg}") from None
    traces.validate(doc, where)
    traces.validate_run_info(doc, where)
    return doc


def read_traces(directory, manifest, name_of=str):
    """Loads and validates every trace below directory against the scenario manifest; name_of(path)
    is how a file is named in messages. Returns (run metadata, {scenario: trace}); raises
    ConformError on the first problem."""
    docs, files = {}, {}
    for path in _trace_files(directory, name_of):
        where = name_of(path)
        doc = _load_trace(path, where)
        scenario = doc["scenario"]
        if scenario in docs:
            raise ConformError(where, f"second trace for {scenario} (first: {files[scenario]}): one run per import")
        docs[scenario], files[scenario] = doc, where
    if not docs:
        raise ConformError(name_of(directory), "no traces found (expected one <scenario>.json per scenario)")

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
        raise ConformError(name_of(directory), f"incomplete: {len(missing)} of {len(manifest)} scenarios have no trace "
                                      f"(first: {missing[0]}); an incomplete run is never shown as complete")
    return first, docs


def import_run(source, results_dir, expected_loader, name=None, replace=False, tmp=None):
    """Validates `source` and merges it into results_dir; returns (backend name, Result list)."""
    results_json = Path(results_dir) / "results.json"
    if not results_json.exists():
        raise ConformError(results_dir, "no results.json to merge into: run ./conform run first")
    doc = report.load_results(results_json)
    directory, name_of = unpack(source, tmp)
    run, docs = read_traces(directory, doc["scenarios"], name_of)
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
