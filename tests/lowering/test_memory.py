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
def test_importing_the_compiler_tunes_malloc_once():
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
