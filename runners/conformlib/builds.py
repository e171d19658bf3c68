"""Where the builds live: the one place that knows `build/` is the native build and `build-<name>/`
every other (cross) build, and where the scenario program is inside one.

    build_dir(root, "native")   -> root/build
    build_dir(root, "aarch64")  -> root/build-aarch64
    binary(root, build)         -> <build_dir>/conformance/afunix-scenarios
"""

import fcntl
import os
import time
from pathlib import Path

NATIVE = "native"
# Builds besides native, each configured with cmake/toolchains/<name>.cmake.
CROSS = ("aarch64", "armhf", "s390x", "riscv64", "i386")
# Builds that check the recorder itself rather than feed a backend: clang with warnings as errors
# in the harness (./conform test builds it). The POSIX-only profile is built from the recorder kit
# by tests/test_portable.py.
CHECKS = {"clang": {"env": {"CC": "clang", "CXX": "clang++"}, "cmake": ["-DAFUNIX_WERROR=ON"]}}
ALL = (NATIVE, *CROSS, *CHECKS)
SCENARIO_PROGRAM = Path("conformance") / "afunix-scenarios"


def build_dir(root, build=NATIVE):
    return Path(root) / ("build" if build == NATIVE else f"build-{build}")


def binary(root, build=NATIVE):
    return build_dir(root, build) / SCENARIO_PROGRAM


def configured_source(bdir):
    """The source tree a build directory was configured for (CMakeCache.txt's
    CMAKE_HOME_DIRECTORY), or None when it is not configured."""
    try:
        text = (Path(bdir) / "CMakeCache.txt").read_text(errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("CMAKE_HOME_DIRECTORY:"):
            return Path(line.split("=", 1)[1].strip())
    return None


def configured_elsewhere(root, bdir):
    """The other source tree bdir was configured for (a copied checkout carries its original's
    build/), or None when it belongs to root or is not configured."""
    source = configured_source(bdir)
    if source is None:
        return None
    try:
        same = source.resolve() == Path(root).resolve()
    except OSError:
        same = False
    return None if same else source


class BuildLock:
    """One ./conform at a time builds a given build directory: two cmake/ninja runs in one tree
    (a `./conform run` and a `./conform test` started together) overwrite each other's files.
    The lock is a file beside the build directory (the directory itself may be emptied and made
    again while it is held); the kernel releases it when its holder dies. A second builder waits,
    saying for whom, and gives up after `deadline_s`."""

    def __init__(self, root, build=NATIVE, deadline_s=3600, say=print, poll_s=0.2):
        bdir = build_dir(root, build)
        self.path = bdir.with_name(f".{bdir.name}.lock")
        self.deadline_s, self.say, self.poll_s = deadline_s, say, poll_s
        self._f = None

    def __enter__(self):
        f = open(self.path, "a+")
        end = time.monotonic() + self.deadline_s
        said = False
        while True:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not said:
                    f.seek(0)
                    holder = f.read().strip() or "another process"
                    self.say(f"waiting for {holder}, which is building {self.path.name[1:-5]}/")
                    said = True
                if time.monotonic() >= end:
                    f.close()
                    raise TimeoutError(f"{self.path.name[1:-5]}/ still being built by another process "
                                       f"after {self.deadline_s:.0f} s")
                time.sleep(self.poll_s)
        f.seek(0)
        f.truncate()
        f.write(f"./conform (pid {os.getpid()})\n")
        f.flush()
        self._f = f
        return self

    def __exit__(self, *exc):
        self._f.close()  # closing releases the lock
        self._f = None
