"""One ./conform at a time builds a build directory (builds.BuildLock)."""

import threading

import pytest
from conformlib import builds


def test_a_second_builder_waits_for_the_first_and_says_for_whom(tmp_path):
    order, said = [], []
    first = builds.BuildLock(tmp_path, "native", say=said.append)
    first.__enter__()
    order.append("first builds")

    def second():
        with builds.BuildLock(tmp_path, "native", deadline_s=30, say=said.append, poll_s=0.01):
            order.append("second builds")

    t = threading.Thread(target=second)
    t.start()
    t.join(0.3)
    assert t.is_alive(), "the second builder did not wait"
    order.append("first done")
    first.__exit__(None, None, None)
    t.join(10)
    assert order == ["first builds", "first done", "second builds"]
    assert said and "building build/" in said[0] and "./conform (pid" in said[0]


def test_a_builder_that_waits_too_long_gives_up_naming_the_directory(tmp_path):
    with builds.BuildLock(tmp_path, "aarch64"):
        with pytest.raises(TimeoutError, match="build-aarch64/ still being built"):
            with builds.BuildLock(tmp_path, "aarch64", deadline_s=0.1, say=lambda m: None, poll_s=0.01):
                pass


def test_other_build_directories_do_not_wait(tmp_path):
    with builds.BuildLock(tmp_path, "native"):
        with builds.BuildLock(tmp_path, "armhf", deadline_s=0.1, say=lambda m: None):
            pass
