"""``fxgrad.lowering.memory``: glibc keeps freed buffers in the heap once jit is used."""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys

import pytest

from fxgrad.lowering import memory


def _glibc() -> bool:
    try:
        ctypes.CDLL(None).gnu_get_libc_version  # noqa: B018 - probing for the symbol
    except (OSError, AttributeError):
        return False
    return sys.platform.startswith("linux")


@pytest.mark.skipif(not _glibc(), reason="mallopt thresholds are a glibc feature")
def test_tune_malloc_sets_the_thresholds_once():
    assert memory.tune_malloc() is True
    assert memory.tune_malloc() is True  # cached: set once per process


@pytest.mark.parametrize("setting, expected", [("0", "False"), ("1", str(_glibc()))])
def test_the_environment_variable_turns_the_tuning_off(setting, expected):
    code = "from fxgrad.lowering import memory; print(memory.tune_malloc())"
    env = {**os.environ, "FXGRAD_MALLOC_TUNING": setting}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == expected


_FIRST_COMPILE = """
import threading
import fxgrad, fxgrad.numpy as fnp
for thread in threading.enumerate():
    if thread.name == "fxgrad-preload-llvm":
        thread.join()
from fxgrad.lowering import memory
before = memory.tune_malloc.cache_info().currsize
fxgrad.jit(lambda x: x + 1.0)(fnp.ones(3))
print(before, memory.tune_malloc.cache_info().currsize)
"""


def test_malloc_is_tuned_by_the_first_compile_not_by_the_import():
    # the preload thread imports the lowering package in every program, jit or not
    out = subprocess.run(
        [sys.executable, "-c", _FIRST_COMPILE], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "0 1"
