"""Backend descriptors: one small TOML file per backend (format in docs/backends.md)."""

import math
import os
import re
import shutil
import stat
from dataclasses import dataclass, field
from pathlib import Path

from . import builds
from .errors import ConformError

try:
    import tomllib
except ImportError:  # Python < 3.11: Debian's python3-tomli
    import tomli as tomllib

MAX_DESCRIPTOR_BYTES = 1 << 20
KINDS = ("oracle", "emulator", "sandbox", "emulation", "fixture")
# Results merged from another machine by ./conform import have kind "imported" (no descriptor).
BUILDS = builds.ALL
KEYS = {
    "description": str,
    "kind": str,
    "build": str,
    "command": list,
    "timeout_multiplier": (int, float),
    "workdir": str,
    "env": dict,
    "requires": dict,
    "unsupported": dict,
    "adversary": str,
    "max_parallel": int,
    "applications": dict,  # how real programs run under it (runners/conformlib/applications.py)
    "probe": bool,
    "state_dirs": list,  # where it keeps state outside the scenario directory (leftovers.py)
}
REQUIRES_KEYS = ("commands", "files", "packages")
CAPABILITIES = ("identities",)
# Every number a descriptor may give, with the range that makes sense: outside it a deadline would be
# disabled (nan, inf), never end (1e300) or fire at once (0, negative).
NUMBER_RANGES = {"timeout_multiplier": (0.01, 100.0)}
# A backend's name is its file's stem; it appears in paths, Markdown tables, HTML and pytest ids.
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
PLACEHOLDERS = ("binary", "build", "root", "tmp", "run_tmp", "workdir", "trace_dir")
_PLACEHOLDER = re.compile(r"\{([A-Za-z_]+)\}")


@dataclass
class Backend:
    name: str
    path: Path
    description: str
    kind: str
    build: str = "native"
    command: list = field(default_factory=lambda: ["{binary}"])
    timeout_multiplier: float = 1.0
    workdir: str = ""
    env: dict = field(default_factory=dict)
    requires: dict = field(default_factory=dict)
    unsupported: dict = field(default_factory=dict)
    adversary: str = ""
    max_parallel: int = 0  # at most this many of its processes at once (0: as many as the run has)
    applications: dict = field(default_factory=dict)
    # Run the backend's command once on the scenario program's listing before its scenarios (see
    # execute.probe): for tools that need a kernel feature (namespaces, ptrace) a machine may deny.
    probe: bool = False
    # Directories besides the system's temporary ones where the backend keeps files of its own
    # (a daemon's state, a socket table): watched for what scenarios leave there (leftovers.py).
    state_dirs: list = field(default_factory=list)

    def build_dir(self, root):
        return builds.build_dir(root, self.build)

    def missing(self, root=None):
        """What is missing for this backend to run, as descriptions; empty when available.
        Without root only what comes from outside is checked (before building); with root, also
        what the build makes: files under {build} and the libraries LD_PRELOAD names, since a
        missing preload library is silently ignored by the loader and the backend would run as
        native."""
        gaps = []
        for cmd in self.requires.get("commands", []):
            if shutil.which(cmd) is None:
                gaps.append(f"command {cmd}")
        values = {"root": root, "build": self.build_dir(root)} if root is not None else {}
        built = [f for f in self.requires.get("files", []) if _PLACEHOLDER.search(f)]
        for f in self.requires.get("files", []):
            if f in built and root is None:
                continue
            f = expand(f, values)
            if not os.path.exists(f):
                gaps.append(f"file {f}")
        if root is not None:
            for lib in re.split(r"[:\s]+", expand(self.env.get("LD_PRELOAD", ""), values)):
                if lib and not _PLACEHOLDER.search(lib) and not os.path.exists(lib):
                    gaps.append(f"library {lib} (not built?)")
        return gaps

    def install_hint(self):
        pkgs = self.requires.get("packages", [])
        return f"apt-get install {' '.join(pkgs)}" if pkgs else "see " + str(self.path)

    def availability(self, root=None):
        """None when available, else the reason ("not available: apt-get install X")."""
        gaps = self.missing(root)
        if not gaps:
            return None
        return f"not available ({', '.join(gaps)} missing): {self.install_hint()}"


def _check_type(path, key, value, expected):
    if not isinstance(value, expected) or isinstance(value, bool) and expected is not bool:
        names = expected.__name__ if isinstance(expected, type) else " or ".join(t.__name__ for t in expected)
        raise ConformError(path, f"'{key}' must be a {names}, not {type(value).__name__}")


def load_backend(path):
    """Parses and validates one descriptor; raises ConformError naming the file and the problem."""
    path = Path(path)
    if not NAME.match(path.stem):
        raise ConformError(path, f"backend name '{path.stem}' (the file name) may hold only letters, digits, "
                                 "'.', '_' and '-', starting with a letter or digit")
    try:
        # Non-blocking, and only a regular file: a FIFO named x.toml must not hang the run.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        with open(fd, "rb") as f:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise ConformError(path, "not a regular file")
            raw = f.read(MAX_DESCRIPTOR_BYTES + 1)
    except OSError as e:
        raise ConformError(path, f"cannot read: {e.strerror}") from None
    if len(raw) > MAX_DESCRIPTOR_BYTES:
        raise ConformError(path, f"larger than {MAX_DESCRIPTOR_BYTES} bytes: not a backend descriptor")
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise ConformError(path, f"not UTF-8 text (byte {e.start}): a descriptor is UTF-8 TOML") from None
    except tomllib.TOMLDecodeError as e:
        raise ConformError(path, f"not valid TOML: {e}") from None

    for key, value in data.items():
        if key not in KEYS:
            raise ConformError(path, f"unknown key '{key}' (known: {', '.join(KEYS)})")
        _check_type(path, key, value, KEYS[key])
    for key in ("description", "kind"):
        if key not in data:
            raise ConformError(path, f"missing required key '{key}'")
    if data["kind"] not in KINDS:
        raise ConformError(path, f"kind '{data['kind']}' is not one of {', '.join(KINDS)}")
    if data.get("build", "native") not in BUILDS:
        raise ConformError(path, f"build '{data['build']}' is not one of {', '.join(BUILDS)}")
    command = data.get("command", ["{binary}"])
    if not command or not all(isinstance(a, str) for a in command):
        raise ConformError(path, "'command' must be a non-empty list of strings")
    if "{binary}" not in " ".join(command):
        raise ConformError(path, "'command' must run the scenario program: put {binary} in it")
    for text in [*command, *data.get("env", {}).values(), data.get("workdir", ""), data.get("adversary", "")]:
        for name in _PLACEHOLDER.findall(str(text)):
            if name not in PLACEHOLDERS:
                raise ConformError(path, f"unknown placeholder {{{name}}} (known: {', '.join(PLACEHOLDERS)})")
    for key, (low, high) in NUMBER_RANGES.items():
        if key in data:
            value = data[key]
            if not math.isfinite(value) or value <= 0:
                raise ConformError(path, f"'{key}' must be positive and finite, not {value}")
            if not low <= value <= high:
                raise ConformError(path, f"'{key}' = {value} is outside the sane range {low} to {high}")
    if data.get("max_parallel", 1) < 1:
        raise ConformError(path, "'max_parallel' must be at least 1")
    for key, value in data.get("env", {}).items():
        if not isinstance(value, str):
            raise ConformError(path, f"env '{key}' must be a string")
    for key, value in data.get("requires", {}).items():
        if key not in REQUIRES_KEYS:
            raise ConformError(path, f"unknown key 'requires.{key}' (known: {', '.join(REQUIRES_KEYS)})")
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConformError(path, f"'requires.{key}' must be a list of strings")
    for key, value in data.get("unsupported", {}).items():
        if key not in CAPABILITIES:
            raise ConformError(path, f"unknown capability 'unsupported.{key}' (known: {', '.join(CAPABILITIES)})")
        if not isinstance(value, str) or not value:
            raise ConformError(path, f"'unsupported.{key}' must say why, as a string")

    for d in data.get("state_dirs", []):
        if not isinstance(d, str) or not os.path.isabs(d) or _PLACEHOLDER.search(d):
            raise ConformError(path, f"'state_dirs' must list absolute directories (no placeholders), not {d!r}")

    return Backend(
        name=path.stem,
        path=path,
        description=data["description"],
        kind=data["kind"],
        build=data.get("build", "native"),
        command=command,
        timeout_multiplier=float(data.get("timeout_multiplier", 1.0)),
        workdir=data.get("workdir", ""),
        env=data.get("env", {}),
        requires=data.get("requires", {}),
        unsupported=data.get("unsupported", {}),
        adversary=data.get("adversary", ""),
        max_parallel=data.get("max_parallel", 0),
        applications=data.get("applications", {}),
        probe=data.get("probe", False),
        state_dirs=data.get("state_dirs", []),
    )


def load_backends(directories):
    """Every descriptor in the given directories, by name; a duplicate name is an error."""
    backends = {}
    for d in directories:
        d = Path(d)
        if not d.is_dir():
            raise ConformError(d, "no such backends directory")
        for path in sorted(d.glob("*.toml")):
            b = load_backend(path)
            if b.name in backends:
                raise ConformError(path, f"backend '{b.name}' is also defined in {backends[b.name].path}")
            backends[b.name] = b
    return backends


def expand(text, values):
    """Replaces the {placeholder}s (all known: load_backend checked them)."""
    return _PLACEHOLDER.sub(lambda m: str(values.get(m.group(1), m.group(0))), text)
