"""Backend descriptors: every malformed file gets one line naming the file and the problem."""

import os
import stat

import pytest
from conformlib.backends import load_backend, load_backends
from conformlib.errors import ConformError
from conformlib.execute import probe

from conftest import FIXTURE_BACKENDS, ROOT, needs_build

GOOD = 'description = "d"\nkind = "emulator"\n'


def write(tmp_path, text, name="b.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_minimal_descriptor_gets_defaults(tmp_path):
    b = load_backend(write(tmp_path, GOOD, "qemu-x.toml"))
    assert (b.name, b.kind, b.build, b.command, b.timeout_multiplier) == \
        ("qemu-x", "emulator", "native", ["{binary}"], 1.0)


def test_full_descriptor(tmp_path):
    b = load_backend(write(tmp_path, GOOD + '''
build = "armhf"
command = ["qemu-arm", "-L", "/usr/arm-linux-gnueabihf", "{binary}"]
timeout_multiplier = 3
workdir = "{tmp}/work"
[env]
LD_PRELOAD = "{build}/x.so"
[requires]
commands = ["qemu-arm"]
packages = ["qemu-user"]
[unsupported]
identities = "one uid mapped"
'''))
    assert b.build == "armhf" and b.timeout_multiplier == 3.0
    assert b.env == {"LD_PRELOAD": "{build}/x.so"}
    assert b.unsupported == {"identities": "one uid mapped"}


@pytest.mark.parametrize("text, problem", [
    ('description = "d"\nkind = ', "not valid TOML"),
    (GOOD + 'comand = ["{binary}"]\n', "unknown key 'comand'"),
    ('kind = "emulator"\n', "missing required key 'description'"),
    ('description = "d"\nkind = "magic"\n', "kind 'magic' is not one of"),
    (GOOD + 'build = "mips"\n', "build 'mips' is not one of"),
    (GOOD + 'command = ["qemu-arm"]\n', "put {binary} in it"),
    (GOOD + 'command = "{binary}"\n', "'command' must be a list"),
    (GOOD + 'command = ["{binary}", "{binry}"]\n', "unknown placeholder {binry}"),
    (GOOD + 'timeout_multiplier = 0\n', "'timeout_multiplier' must be positive"),
    (GOOD + 'timeout_multiplier = "slow"\n', "'timeout_multiplier' must be a int or float"),
    (GOOD + '[env]\nX = 1\n', "env 'X' must be a string"),
    (GOOD + '[requires]\ncommands = "qemu"\n', "'requires.commands' must be a list of strings"),
    (GOOD + '[requires]\nbinaries = ["x"]\n', "unknown key 'requires.binaries'"),
    (GOOD + '[unsupported]\nteleport = "no"\n', "unknown capability 'unsupported.teleport'"),
    (GOOD + 'probe = "yes"\n', "'probe' must be a bool"),
])
def test_malformed_descriptor_names_file_and_problem(tmp_path, text, problem):
    path = write(tmp_path, text)
    with pytest.raises(ConformError) as e:
        load_backend(path)
    message = str(e.value)
    assert message.startswith(f"{path}: ") and problem in message
    assert "\n" not in message


def test_unreadable_descriptor(tmp_path):
    with pytest.raises(ConformError, match="cannot read"):
        load_backend(tmp_path / "missing.toml")


def test_duplicate_backend_names_across_directories(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    write(a, GOOD, "x.toml"), write(b, GOOD, "x.toml")
    with pytest.raises(ConformError, match="also defined in"):
        load_backends([a, b])


def test_availability_names_what_is_missing_and_how_to_install(tmp_path):
    b = load_backend(write(tmp_path, GOOD + '[requires]\ncommands = ["no-such-tool-xyz"]\n'
                                     'files = ["/no/such/file"]\npackages = ["pkg-a", "pkg-b"]\n'))
    reason = b.availability()
    assert "command no-such-tool-xyz" in reason and "file /no/such/file" in reason
    assert reason.endswith("apt-get install pkg-a pkg-b")


def test_availability_when_present(tmp_path):
    tool = tmp_path / "tool"
    tool.write_text("#!/bin/sh\n")
    tool.chmod(tool.stat().st_mode | stat.S_IXUSR)
    b = load_backend(write(tmp_path, GOOD + f'[requires]\ncommands = ["{tool}"]\nfiles = ["{tool}"]\n'))
    assert b.availability() is None


def test_shipped_descriptors_are_valid_and_fixtures_stay_out_of_the_matrix():
    shipped = load_backends([ROOT / "runners" / "backends"])
    assert "native" in shipped and shipped["native"].kind == "oracle"
    assert [n for n, b in shipped.items() if b.kind == "oracle"] == ["native"]
    assert not [n for n, b in shipped.items() if b.kind == "fixture"]
    fixtures = load_backends([FIXTURE_BACKENDS])
    assert fixtures and all(b.kind == "fixture" and n.startswith("fixture-") for n, b in fixtures.items())


def test_a_preload_library_that_was_not_built_makes_the_backend_unavailable(tmp_path):
    """The loader ignores a missing LD_PRELOAD library with a warning: the backend would run as
    native and pass everything. Once built artefacts are checked (root given) it is reported."""
    b = load_backend(write(tmp_path, GOOD + '[env]\nLD_PRELOAD = "{build}/emulations/libnothing.so"\n'
                                     '[requires]\nfiles = ["{build}/emulations/libnothing.so"]\n'))
    assert b.availability() is None  # before building, nothing built is required yet
    reason = b.availability(tmp_path)
    assert f"library {tmp_path}/build/emulations/libnothing.so (not built?)" in reason
    assert f"file {tmp_path}/build/emulations/libnothing.so" in reason
    (tmp_path / "build" / "emulations").mkdir(parents=True)
    (tmp_path / "build" / "emulations" / "libnothing.so").write_text("")
    assert b.availability(tmp_path) is None


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "1e300", "-2", "0.0", "1e-9"])
def test_timeout_multiplier_must_be_finite_positive_and_sane(tmp_path, value):
    """nan would disable every deadline (the run waits forever), inf and 1e300 would never end."""
    path = write(tmp_path, GOOD + f"timeout_multiplier = {value}\n")
    with pytest.raises(ConformError) as e:
        load_backend(path)
    message = str(e.value)
    assert message.startswith(f"{path}: ") and "'timeout_multiplier'" in message and "\n" not in message


def test_non_utf8_descriptor_is_one_line(tmp_path):
    path = tmp_path / "b.toml"
    path.write_bytes(GOOD.encode() + b'# caf\xe9\n')
    with pytest.raises(ConformError, match=r"b.toml: not UTF-8 text \(byte \d+\)"):
        load_backend(path)


@pytest.mark.parametrize("name", ["a|b", "a b", "<i>x", "-x", "a`b", "[x](y)"])
def test_backend_names_that_break_tables_or_paths_are_refused(tmp_path, name):
    path = write(tmp_path, GOOD, f"{name}.toml")
    with pytest.raises(ConformError, match="may hold only letters") as e:
        load_backend(path)
    assert "\n" not in str(e.value)


def test_a_fifo_named_like_a_descriptor_is_refused_not_waited_on(tmp_path):
    os.mkfifo(tmp_path / "x.toml")
    with pytest.raises(ConformError, match="x.toml: not a regular file"):
        load_backends([tmp_path])


@needs_build
def test_a_backend_whose_tool_cannot_work_here_is_not_available_with_what_it_said(tmp_path):
    """A sandbox that needs a kernel feature this machine denies is one line 'not available' with
    the tool's own words (found by running its command once), not a column of ERRORs."""
    denied = load_backend(write(tmp_path, GOOD + 'probe = true\ncommand = ["sh", "-c", '
                                '"echo clone: no user namespaces here >&2; exit 1", "{binary}"]\n', "denied.toml"))
    reason = probe(denied, ROOT)
    assert reason.startswith("not available: ") and "clone: no user namespaces here" in reason
    assert "exit 1" in reason


@needs_build
def test_a_backend_whose_command_lists_the_scenarios_passes_its_probe(tmp_path):
    works = load_backend(write(tmp_path, GOOD + 'probe = true\ncommand = ["sh", "-c", "exec \\"$@\\"", '
                               '"sh", "{binary}"]\n', "works.toml"))
    assert probe(works, ROOT) is None
    silent = load_backend(write(tmp_path, GOOD + 'probe = true\ncommand = ["sh", "-c", "true", "{binary}"]\n',
                                "silent.toml"))
    assert "cannot run the scenario program" in probe(silent, ROOT)  # exit 0 but no listing


def test_a_cross_build_that_was_not_built_is_named_by_the_probe(tmp_path):
    b = load_backend(write(tmp_path, GOOD + 'probe = true\nbuild = "s390x"\n', "x.toml"))
    assert "build-s390x/conformance/afunix-scenarios is not built" in probe(b, tmp_path)


@needs_build
def test_a_backend_that_lists_but_hangs_in_every_scenario_is_not_available(tmp_path, monkeypatch):
    """qemu-i386 loading the program's interpreter lists the scenarios, then hangs in every fork:
    the probe runs a scenario too, so such a backend is one line, not a column of TIMEOUTs."""
    import conformlib.execute as execute
    monkeypatch.setattr(execute, "PROBE_TIMEOUT_S", 3)
    hangs = load_backend(write(tmp_path, GOOD + 'probe = true\ncommand = ["sh", "-c", '
                               '"case $1 in --gtest_list_tests) exec \\"$0\\" \\"$1\\";; esac; exec sleep 600", '
                               '"{binary}"]\n', "hangs.toml"))
    reason = execute.probe(hangs, ROOT)
    assert reason.startswith("not available: ") and "did not finish the scenario" in reason
    assert "within 3 s" in reason


def test_opt_in_and_control_descriptors_are_valid():
    cross = load_backends([ROOT / "runners" / "cross"])
    assert set(cross) == {"qemu-s390x", "qemu-riscv64", "qemu-i386"}
    assert {b.build for b in cross.values()} == {"s390x", "riscv64", "i386"}
    controls = load_backends([ROOT / "runners" / "controls"])
    assert controls["linux-i386-compat"].kind == "oracle" and controls["linux-i386-compat"].build == "i386"
