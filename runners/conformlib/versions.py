"""Each backend's version, recorded in run info, since a deviation belongs to a version: the
package manager's version of the backend's first package (exact, and the same thing a bug report
asks for), else the first line of its tool's own --version; the oracle is the running kernel; an
emulation model built from this tree is the suite revision it was built from."""

import os
import shutil
import subprocess


def package_version(pkg):
    if shutil.which("dpkg-query") is None:
        return ""
    r = subprocess.run(["dpkg-query", "-W", "-f=${Status}\t${Version}", pkg], capture_output=True, text=True)
    status, _, version = r.stdout.partition("\t")
    return version if r.returncode == 0 and "install ok installed" in status else ""


def tool_version(tool):
    path = shutil.which(tool)
    if not path:
        return ""
    try:
        r = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=10,
                           stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError):
        return ""
    lines = (r.stdout or r.stderr).strip().splitlines()
    return next((line.strip() for line in lines if line.strip() and not set(line.strip()) <= set("_-|/\\ ")), "")


def backend_version(backend, suite_revision="unknown"):
    if backend.kind == "oracle":
        return f"Linux {os.uname().release}"
    if backend.kind in ("emulation", "fixture"):
        return f"{backend.kind} model at suite {suite_revision}"
    for pkg in backend.requires.get("packages", []):
        v = package_version(pkg)
        if v:
            return f"{pkg} {v}"
    for tool in backend.requires.get("commands", []):
        v = tool_version(tool)
        if v:
            return v
    return ""
