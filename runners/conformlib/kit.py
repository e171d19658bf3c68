"""The recorder kit: everything another system needs to record the scenario program's traces and
bring them back here as a matrix row (`./conform import`), in one archive.

The layers people most want judged (Cygwin, MSYS2, WSL, macOS, FreeBSD) cannot run on this machine,
so their rows come from the same scenario program built there. The kit holds the program's sources
(conformance/, cmake/, the top-level CMakeLists.txt), GoogleTest's sources from Debian's googletest
package (a foreign system may have none), and two POSIX sh scripts from kit_files/: build.sh needs
only a C++17 compiler, make and CMake; record.sh runs every scenario and packs the traces with the
system's description into the archive `./conform import` takes.
"""

import io
import tarfile
import time
from pathlib import Path

from .errors import ConformError

GTEST_SOURCES = Path("/usr/src/googletest")
KIT_FILES = Path(__file__).resolve().parent / "kit_files"
# What of the project the scenario program is built from.
SOURCES = ("CMakeLists.txt", "cmake/features.cmake", "cmake/afunix_features.h.in", "conformance")
SKIPPED_SUFFIXES = (".pyc",)


def kit_name(revision):
    return f"afunix-recorder-kit-{revision}"


def _add_tree(tar, source, arcname):
    for path in sorted([source] + (sorted(source.rglob("*")) if source.is_dir() else [])):
        if path.is_dir() or path.suffix in SKIPPED_SUFFIXES or "__pycache__" in path.parts:
            continue
        if path.is_symlink() or not path.is_file():
            continue  # the kit holds regular files only, like the importer accepts
        rel = path.relative_to(source) if source.is_dir() else Path()
        _add_file(tar, path.read_bytes(), f"{arcname}/{rel}" if source.is_dir() else arcname,
                  executable=bool(path.stat().st_mode & 0o100))


def _add_file(tar, data, arcname, executable=False):
    info = tarfile.TarInfo(arcname)
    info.size = len(data)
    info.mode = 0o755 if executable else 0o644
    info.mtime = int(time.time())
    tar.addfile(info, io.BytesIO(data))


def make_kit(root, output, revision):
    """Writes the kit archive (.tar.gz) to `output`; returns its path."""
    root = Path(root)
    if not (GTEST_SOURCES / "googletest" / "CMakeLists.txt").exists():
        raise ConformError(GTEST_SOURCES, "GoogleTest's sources are missing: apt-get install googletest")
    top = kit_name(revision)
    output = Path(output)
    tmp = output.with_name(output.name + ".partial")
    with tarfile.open(tmp, "w:gz") as tar:
        for rel in SOURCES:
            if not (root / rel).exists():
                raise ConformError(root / rel, "missing from the checkout: the kit cannot be made")
            _add_tree(tar, root / rel, f"{top}/{rel}")
        _add_file(tar, (GTEST_SOURCES / "CMakeLists.txt").read_bytes(), f"{top}/third_party/googletest/CMakeLists.txt")
        _add_tree(tar, GTEST_SOURCES / "googletest", f"{top}/third_party/googletest/googletest")
        for script in ("build.sh", "record.sh"):
            _add_file(tar, (KIT_FILES / script).read_bytes(), f"{top}/{script}", executable=True)
        _add_file(tar, (KIT_FILES / "README.md").read_bytes(), f"{top}/README.md")
        _add_file(tar, (revision + "\n").encode(), f"{top}/SUITE_REVISION")
    tmp.replace(output)
    return output
