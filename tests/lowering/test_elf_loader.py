"""The loader of kernel objects that needs no LLVM (``elf_loader``), and the disk cache's
host record, which together let a warm start run without loading LLVM."""

from __future__ import annotations

import ctypes
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import fxgrad
import fxgrad.numpy as fnp
from fxgrad.lowering import cache, elf_loader, llvm

pytestmark = pytest.mark.skipif(
    not elf_loader.supported(), reason="the native loader runs on x86-64 Linux only"
)

# An external call (cosf, through a stub), a constant pool, a read-only table indexed at
# run time, a call between the module's own functions and a memset.
_MODULE = """
@table = internal constant [4 x double] [double 1.5, double 2.5, double 3.5, double 4.5]
declare float @cosf(float)
declare void @llvm.memset.p0.i64(ptr, i8, i64, i1)

define internal double @helper(double %x) noinline {
  %y = fmul double %x, 0x400921FB54442D18
  ret double %y
}

define double @lookup(i64 %i, double %x) {
  %p = getelementptr [4 x double], ptr @table, i64 0, i64 %i
  %v = load double, ptr %p
  %h = call double @helper(double %x)
  %r = fadd double %v, %h
  ret double %r
}

define float @cosine(float %x) {
  %c = call float @cosf(float %x)
  %d = fadd float %c, 0x3FF0000000000000
  ret float %d
}

define void @clear(ptr %p, i64 %n) {
  call void @llvm.memset.p0.i64(ptr %p, i8 0, i64 %n, i1 false)
  ret void
}
"""


def _compiled_module() -> bytes:
    return llvm.compile_object(_MODULE)


def test_loads_calls_constants_and_library_functions():
    lookup, cosine, clear = elf_loader.load(_compiled_module(), ["lookup", "cosine", "clear"])
    lookup_fn = ctypes.CFUNCTYPE(ctypes.c_double, ctypes.c_int64, ctypes.c_double)(lookup)
    for i, base in enumerate((1.5, 2.5, 3.5, 4.5)):
        assert lookup_fn(i, 0.25) == base + 0.25 * np.pi
    cosine_fn = ctypes.CFUNCTYPE(ctypes.c_float, ctypes.c_float)(cosine)
    libm_cosf = ctypes.CDLL(None).cosf
    libm_cosf.restype, libm_cosf.argtypes = ctypes.c_float, [ctypes.c_float]
    for x in (0.0, 0.5, -2.0, 100.0):
        assert cosine_fn(x) == np.float32(libm_cosf(x)) + np.float32(1)
    buffer = np.full(1000, 7, np.uint8)
    ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int64)(clear)(buffer.ctypes.data, 999)
    assert (buffer[:999] == 0).all() and buffer[999] == 7


def test_same_addresses_as_mcjit_give_same_results():
    obj = _compiled_module()
    native = elf_loader.load(obj, ["lookup"])[0]
    before = dict(llvm.load_counts)
    # the MCJIT path, as taken when the loader is off
    os.environ["FXGRAD_NATIVE_LOADER"] = "0"
    try:
        mcjit = llvm.load_object(obj, ["lookup"])[0]
    finally:
        del os.environ["FXGRAD_NATIVE_LOADER"]
    assert llvm.load_counts["mcjit"] == before["mcjit"] + 1
    proto = ctypes.CFUNCTYPE(ctypes.c_double, ctypes.c_int64, ctypes.c_double)
    for i in range(4):
        assert proto(native)(i, -3.0) == proto(mcjit)(i, -3.0)


def test_unusual_objects_are_refused_not_loaded_wrong():
    with pytest.raises(elf_loader.UnsupportedObject, match="not an ELF"):
        elf_loader.load(b"\x7fELX" + bytes(100), [])
    missing = "declare double @no_such_function_anywhere(double)\n" + textwrap.dedent(
        """
        define double @f(double %x) {
          %y = call double @no_such_function_anywhere(double %x)
          ret double %y
        }
        """
    )
    with pytest.raises(elf_loader.UnsupportedObject, match="no_such_function_anywhere"):
        elf_loader.load(llvm.compile_object(missing), ["f"])
    writable = """
    @counter = global i64 0
    define i64 @bump() {
      %v = load i64, ptr @counter
      %w = add i64 %v, 1
      store i64 %w, ptr @counter
      ret i64 %w
    }
    """
    obj = llvm.compile_object(writable)
    with pytest.raises(elf_loader.UnsupportedObject, match="writable"):
        elf_loader.load(obj, ["bump"])
    # load_object falls back to MCJIT, and the function works
    before = llvm.load_counts["mcjit"]
    bump = ctypes.CFUNCTYPE(ctypes.c_int64)(llvm.load_object(obj, ["bump"])[0])
    assert llvm.load_counts["mcjit"] == before + 1
    assert [bump(), bump()] == [1, 2]
    with pytest.raises(elf_loader.UnsupportedObject, match="not defined"):
        elf_loader.load(_compiled_module(), ["lookup", "no_such_name"])


def _chain(x, y):
    return fnp.tanh(x * 0.5 + y) * fnp.exp(-x * x) + fnp.sin(y) * 0.1 + fnp.sum(x * y)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_jit_kernels_load_natively_and_match_mcjit(monkeypatch, dtype):
    rng = np.random.default_rng(0)
    # big enough for the vector loops, with large arguments for sin's precise path
    x = rng.standard_normal(5000).astype(dtype)
    y = (rng.standard_normal(5000) * 10.0 ** rng.integers(0, 8, 5000)).astype(dtype)
    results = {}
    for mode in ("1", "0"):
        monkeypatch.setenv("FXGRAD_NATIVE_LOADER", mode)
        cache.clear_memory()
        before = dict(llvm.load_counts)
        results[mode] = np.asarray(fxgrad.jit(lambda a, b: _chain(a, b))(x, y))
        loaded = {k: llvm.load_counts[k] - before[k] for k in before}
        assert loaded["native" if mode == "1" else "mcjit"] >= 1, loaded
        assert loaded["mcjit" if mode == "1" else "native"] == 0, loaded
    np.testing.assert_array_equal(results["1"], results["0"])
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(results["1"], _chain(x, y), rtol=rtol)


_CHILD = """
import json, sys, threading
import numpy as np
import fxgrad, fxgrad.numpy as fnp
from fxgrad.lowering import cache, llvm
f = fxgrad.jit(lambda x: fnp.tanh(x) * 2.0 + fnp.sum(x))
out = np.asarray(f(np.linspace(-1, 1, 3000)))
for thread in threading.enumerate():
    if thread.name == "fxgrad-preload-llvm":
        thread.join()
print(json.dumps({
    "llvm_loaded": "llvmlite.binding" in sys.modules,
    "compiled": cache.stats["compiled"],
    "disk_hits": cache.stats["disk_hits"],
    "target_id": cache.target_id(),
    "llvm_target_id": llvm.target_id() if sys.argv[1] == "check" else None,
    "out": out.tolist(),
}))
"""


def _child(cache_dir, mode="run"):
    env = dict(os.environ, FXGRAD_CACHE_DIR=str(cache_dir))
    env.pop("FXGRAD_NATIVE_LOADER", None)
    result = subprocess.run(
        [sys.executable, "-c", _CHILD, mode], env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_warm_start_runs_without_loading_llvm(tmp_path):
    cold = _child(tmp_path)
    assert cold["llvm_loaded"] and cold["compiled"] >= 1
    records = list((tmp_path / "kernels" / "hosts").iterdir())
    assert len(records) == 1
    warm = _child(tmp_path)
    assert not warm["llvm_loaded"], "a warm start loaded LLVM"
    assert warm["compiled"] == 0 and warm["disk_hits"] == cold["compiled"]
    assert warm["out"] == cold["out"]
    # the recorded target id is the one LLVM computes
    checked = _child(tmp_path, "check")
    assert checked["target_id"] == checked["llvm_target_id"] == cold["target_id"]
    # a damaged record is ignored, and LLVM's target id is used (and recorded again)
    records[0].write_text("garbage")
    again = _child(tmp_path)
    assert again["llvm_loaded"] and again["target_id"] == cold["target_id"]
    assert records[0].read_text() == cold["target_id"]


def test_host_fingerprint_names_the_backend(monkeypatch):
    first = cache.host_fingerprint()
    if first is None:
        pytest.skip("no /proc/cpuinfo")
    monkeypatch.setattr(llvm, "_CODEGEN_FINGERPRINT", "an-edited-backend")
    assert cache.host_fingerprint() != first


def test_threads_load_objects_concurrently():
    from concurrent.futures import ThreadPoolExecutor

    obj = _compiled_module()
    proto = ctypes.CFUNCTYPE(ctypes.c_double, ctypes.c_int64, ctypes.c_double)

    def load_and_call(i):
        lookup = proto(elf_loader.load(obj, ["lookup"])[0])
        return lookup(i % 4, float(i))

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(load_and_call, range(32)))
    assert results == [1.5 + (i % 4) + i * np.pi for i in range(32)]
