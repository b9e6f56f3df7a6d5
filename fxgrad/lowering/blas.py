"""Matrix products on one BLAS thread each: the thread count of NumPy's OpenBLAS.

OpenBLAS splits even a small product (a 32x128 by 128x128 RNN step) across all cores,
and its worker threads spin while they wait. Inside a loop that calls one such product
per step, on a machine whose cores are busy, the spinning workers are descheduled and a
20-microsecond product takes milliseconds (a big product suffers the same way). So the
executable calls BLAS with one thread, ``openblas_set_num_threads_local`` (OpenBLAS >=
0.3.27: the count of the calling thread only, set in a fraction of a microsecond), and
splits a big product by rows across its own thread pool, whose waits block instead of
spinning, as it splits big kernels. Mid-sized products (``executable.PARALLEL_BLAS``
multiply-adds and up, below the pool split) are the exception: they take long enough
for OpenBLAS's own threads to pay, and a round trip through the pool would not. With
another BLAS (MKL, Accelerate, a system library
without that entry point) products run unchanged, threaded by the library.

Native loops (``loop_ir.Gemm``) call the same OpenBLAS's ``cblas_sgemm``/``cblas_dgemm``
from generated code. ``gemm_entry_points`` finds them (only under names whose integer
width is known: NumPy's ILP64 ``scipy_cblas_?gemm64_``/``cblas_?gemm64_`` or the LP64
``scipy_cblas_?gemm``); generated code calls them as ``GEMM_SYMBOLS[dtype]``, names the
LLVM backend binds to their addresses, so cached object code holds no address.
"""

from __future__ import annotations

import ctypes
import functools
import glob
import os
from collections.abc import Callable
from typing import Any

import numpy as np

#: the symbols generated code calls for a matrix product, by dtype
GEMM_SYMBOLS = {"float32": "fxgrad_blas_sgemm", "float64": "fxgrad_blas_dgemm"}

# (prefix, suffix, integer bits) of cblas names whose integer width is known
_GEMM_NAMES = (("scipy_cblas_", "64_", 64), ("cblas_", "64_", 64), ("scipy_cblas_", "", 32))


@functools.cache
def _openblas() -> ctypes.CDLL | None:
    """The OpenBLAS NumPy bundles (the one with per-thread thread counts), or None."""
    directory = os.path.join(os.path.dirname(np.__file__), os.pardir, "numpy.libs")
    for path in sorted(glob.glob(os.path.join(directory, "*openblas*"))):
        try:
            library = ctypes.CDLL(path)
        except OSError:
            continue
        if getattr(library, "openblas_set_num_threads_local", None) is not None:
            return library
    return None


@functools.cache
def _set_local_threads() -> Any:
    """``openblas_set_num_threads_local`` of the OpenBLAS NumPy loaded, or None."""
    library = _openblas()
    if library is None:
        return None
    setter = library.openblas_set_num_threads_local
    # no ``argtypes``: ctypes passes a Python int as a C int unconverted, which halves
    # the cost of a call made twice per product inside loops
    setter.restype = ctypes.c_int
    return setter


@functools.cache
def gemm_entry_points() -> tuple[int, dict[str, int]] | None:
    """``(integer bits, {dtype: address})`` of the bundled OpenBLAS's ``cblas_?gemm``
    (row-major ``C = alpha op(A) op(B) + beta C``), or None without one."""
    library = _openblas()
    if library is None:
        return None
    for prefix, suffix, bits in _GEMM_NAMES:
        found = {}
        for dtype, letter in (("float32", "s"), ("float64", "d")):
            entry = getattr(library, f"{prefix}{letter}gemm{suffix}", None)
            if entry is None:
                break
            found[dtype] = ctypes.cast(entry, ctypes.c_void_p).value
        else:
            return bits, found
    return None


def available() -> bool:
    """Whether the BLAS thread count can be set per thread (NumPy's bundled OpenBLAS)."""
    return _set_local_threads() is not None


def on_one_thread(product: Callable[..., Any]) -> Callable[..., Any]:
    """``product`` run with one BLAS thread on the calling thread (unchanged without
    OpenBLAS)."""
    return on_threads(product, 1)


def on_threads(product: Callable[..., Any], threads: int) -> Callable[..., Any]:
    """``product`` run with ``threads`` BLAS threads for the calling thread, whatever
    ``OPENBLAS_NUM_THREADS`` says (unchanged without OpenBLAS)."""
    setter = _set_local_threads()
    if setter is None:
        return product

    def call(*args: Any) -> Any:
        previous = setter(threads)
        try:
            return product(*args)
        finally:
            setter(previous)

    return call
