"""Kernels compiled on worker threads (``lowering/parallel_compile.py``): the same object
code as the serial path, used by executables with several kernels to compile, and safe
when several threads start such executables at once."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import numpy as np
import pytest

import fxgrad
import fxgrad.numpy as fnp
from fxgrad.lowering import cache, llvm, parallel_compile
from fxgrad.lowering.executable import data_offset
from fxgrad.lowering.kernel_ir import format_kernel

pytestmark = pytest.mark.skipif(
    not parallel_compile.available(), reason="needs two CPUs and llvmlite's C entry points"
)


def _kernels(fun, *args):
    """The kernels that ``jit(fun)`` at ``args`` asks the cache for."""
    seen = []
    original = cache.get_kernel

    def spy(kernel, offset, key=None):
        seen.append(kernel)
        return original(kernel, offset, key)

    cache.get_kernel = spy
    try:
        fxgrad.jit(fun)(*args)
    finally:
        cache.get_kernel = original
    return seen


def _softmax_and_sum(x):
    e = fnp.exp(x - fnp.max(x, axis=1, keepdims=True))
    return e / fnp.sum(e, axis=1, keepdims=True), fnp.sum(fnp.tanh(x) ** 2, axis=0)


def test_unlocked_compile_emits_the_serial_object_code():
    x = fnp.asarray(np.random.default_rng(0).normal(size=(64, 300)).astype(np.float32))
    kernels = _kernels(_softmax_and_sum, x)
    assert kernels
    for kernel in kernels:
        ir_text, _ = llvm.render(kernel, "fx_test_parallel", data_offset())
        serial = llvm.compile_object(ir_text)
        futures = [parallel_compile.submit(ir_text, False) for _ in range(3)]
        assert all(f.result() == serial for f in futures), format_kernel(kernel)


def test_bad_ir_raises_from_the_future():
    future = parallel_compile.submit("define void @f( {", False)
    with pytest.raises(RuntimeError, match="parsing error"):
        future.result()


def test_executables_prefetch_their_kernels(monkeypatch, tmp_path):
    fxgrad.config.update("cache_dir", str(tmp_path))
    submitted = []
    original = parallel_compile.submit

    def spy(ir_text, small):
        submitted.append(small)
        return original(ir_text, small)

    monkeypatch.setattr(parallel_compile, "submit", spy)
    try:
        x = np.random.default_rng(1).normal(size=(48, 517))
        out = fxgrad.jit(_softmax_and_sum)(fnp.asarray(x))
    finally:
        fxgrad.config.update("cache_dir", None)
    assert len(submitted) >= 2 and not cache._pending
    e = np.exp(x - x.max(axis=1, keepdims=True))
    np.testing.assert_allclose(out[0], e / e.sum(axis=1, keepdims=True), rtol=1e-12)
    np.testing.assert_allclose(out[1], (np.tanh(x) ** 2).sum(axis=0), rtol=1e-12)


def test_threads_compiling_at_once(tmp_path):
    fxgrad.config.update("cache_dir", str(tmp_path))
    rng = np.random.default_rng(2)
    inputs = [rng.normal(size=(8 + i, 40 + 7 * i)) for i in range(6)]
    results: dict[int, object] = {}

    def work(i):
        try:
            results[i] = fxgrad.jit(_softmax_and_sum)(fnp.asarray(inputs[i]))
        except BaseException as e:  # reported below
            results[i] = e

    try:
        threads = [threading.Thread(target=work, args=(i,)) for i in range(len(inputs))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        fxgrad.config.update("cache_dir", None)
    for i, x in enumerate(inputs):
        got = results[i]
        assert not isinstance(got, BaseException), got
        e = np.exp(x - x.max(axis=1, keepdims=True))
        np.testing.assert_allclose(got[0], e / e.sum(axis=1, keepdims=True), rtol=1e-12)


_FORK_SCRIPT = r"""
import os, numpy as np
import fxgrad, fxgrad.numpy as fnp

def f(x):
    e = fnp.exp(x - fnp.max(x, axis=1, keepdims=True))
    return e / fnp.sum(e, axis=1, keepdims=True), fnp.sum(fnp.tanh(x) ** 2, axis=0)

fxgrad.jit(f)(fnp.asarray(np.random.default_rng(0).normal(size=(512, 2048))))
pid = os.fork()
if pid == 0:  # new kernels (compiled in parallel) and a big one (split across threads)
    g = lambda x: (fnp.sin(x) * 2 + 1, fnp.sum(fnp.cos(x), axis=1))
    out = fxgrad.jit(g)(fnp.asarray(np.ones((1024, 4096))))
    os._exit(0 if abs(float(out[1][0]) - 4096 * np.cos(1.0)) < 1e-6 else 3)
_, status = os.waitpid(pid, 0)
print("child exit", os.waitstatus_to_exitcode(status))
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_compiles_and_runs(tmp_path):
    """The parent's worker threads do not exist in a forked child; its pools start anew
    (a pool that counted the parent's threads never ran a job, and the child hung)."""
    env = {**os.environ, "FXGRAD_CACHE_DIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", _FORK_SCRIPT], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "child exit 0" in done.stdout, done.stdout + done.stderr
