"""Matrix products on one BLAS thread each: the thread count of NumPy's OpenBLAS.

OpenBLAS splits even a small product (a 32x128 by 128x128 RNN step) across all cores,
and its worker threads spin while they wait. Inside a loop that calls one such product
per step, on a machine whose cores are busy, the spinning workers are descheduled and a
20-microsecond product takes milliseconds (a big product suffers the same way). So the
executable calls BLAS with one thread, ``openblas_set_num_threads_local`` (OpenBLAS >=
0.3.27: the count of the calling thread only, set in a fraction of a microsecond), and
splits a big product by rows across its own thread pool, whose waits block instead of
spinning, as it splits big kernels. With another BLAS (MKL, Accelerate, a system library
without that entry point) products run unchanged, threaded by the library.
"""

from __future__ import annotations

import ctypes
import functools
import glob
import os
from collections.abc import Callable
from typing import Any

import numpy as np


@functools.cache
def _set_local_threads() -> Any:
    """``openblas_set_num_threads_local`` of the OpenBLAS NumPy loaded, or None."""
    directory = os.path.join(os.path.dirname(np.__file__), os.pardir, "numpy.libs")
    for path in sorted(glob.glob(os.path.join(directory, "*openblas*"))):
        try:
            library = ctypes.CDLL(path)
        except OSError:
            continue
        setter = getattr(library, "openblas_set_num_threads_local", None)
        if setter is not None:
            # no ``argtypes``: ctypes passes a Python int as a C int unconverted, which
            # halves the cost of a call made twice per product inside loops
            setter.restype = ctypes.c_int
            return setter
    return None


def available() -> bool:
    """Whether the BLAS thread count can be set per thread (NumPy's bundled OpenBLAS)."""
    return _set_local_threads() is not None


def on_one_thread(product: Callable[..., Any]) -> Callable[..., Any]:
    """``product`` run with one BLAS thread on the calling thread (unchanged without
    OpenBLAS)."""
    setter = _set_local_threads()
    if setter is None:
        return product

    def call(*args: Any) -> Any:
        previous = setter(1)
        try:
            return product(*args)
        finally:
            setter(previous)

    return call
