"""``import fxgrad`` starts loading LLVM in the background (``fxgrad._preload``)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

_PROBE = """
import sys, threading
import fxgrad
for thread in threading.enumerate():
    if thread.name == "fxgrad-preload-llvm":
        thread.join()
print("llvmlite.binding" in sys.modules, "fxgrad.lowering.llvm" in sys.modules)
"""


def _probe(setting: str, cache_dir) -> str:
    env = {**os.environ, "FXGRAD_PRELOAD_LLVM": setting, "FXGRAD_CACHE_DIR": str(cache_dir)}
    out = subprocess.run(
        [sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True, check=True
    )
    assert out.stderr == ""
    return out.stdout.strip()


def test_llvm_is_loaded_in_the_background_unless_turned_off(tmp_path):
    assert _probe("0", tmp_path) == "False False"
    # no host record in the disk cache: the lowering package and LLVM are loaded
    assert _probe("1", tmp_path) == "True True"
    # with the record that first run wrote, kernels are likely on disk: LLVM is left to
    # the first compilation, and only the lowering package is loaded
    assert _probe("1", tmp_path) == "False True"


_FORK = """
import multiprocessing
import fxgrad

def double(x):
    import fxgrad.numpy as fnp
    return float(fxgrad.jit(lambda a: a * 2.0)(fnp.asarray(x)))

if __name__ == "__main__":
    with multiprocessing.get_context("fork").Pool(2) as pool:
        print(pool.map(double, [1.0, 2.5]))
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_fork_right_after_import_does_not_deadlock(tmp_path):
    script = tmp_path / "fork_after_import.py"
    script.write_text(_FORK)
    out = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip() == "[2.0, 5.0]"
