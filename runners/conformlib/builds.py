"""Where the builds live: the one place that knows `build/` is the native build and `build-<name>/`
every other (cross) build, and where the scenario program is inside one.

    build_dir(root, "native")   -> root/build
    build_dir(root, "aarch64")  -> root/build-aarch64
    binary(root, build)         -> <build_dir>/conformance/afunix-scenarios
"""

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
