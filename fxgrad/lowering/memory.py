"""Keep freed buffers in the process heap, so that a call does not page-fault them in.

A jitted step allocates its intermediates and outputs afresh on every call (NumPy
arrays, through ``malloc``). glibc serves an allocation above its *mmap threshold*
(128 KiB at start, raised on the fly) with a fresh ``mmap`` and returns it to the
system when it is freed, and it gives the top of the heap back to the system once more
than its *trim threshold* (twice the mmap threshold) is free there. Either way the next
call touches new pages, and the kernel zero-fills each 4 KiB page on first touch. For
the buffers of a small training step (128 x 256 float32 is exactly 128 KiB) this cost
as much as all the arithmetic: the W3 training step took 1.5 ms instead of 0.8 ms.

``tune_malloc`` sets both thresholds once (32 MiB and 64 MiB: glibc's own upper bound
for the dynamic mmap threshold, and twice it), so buffers up to 32 MiB are reused from
the heap. The process then keeps up to 64 MiB of freed memory at the top of its heap, as
the caching allocators of other array libraries do. It runs when the compiler first
compiles a function, on glibc only; ``FXGRAD_MALLOC_TUNING=0`` leaves ``malloc`` as it is.
"""

from __future__ import annotations

import ctypes
import functools
import os
import sys

#: ``mallopt`` parameters of glibc (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
#: buffers up to this many bytes come from the heap
MMAP_THRESHOLD = 32 << 20
#: freed bytes kept at the top of the heap
TRIM_THRESHOLD = 64 << 20


@functools.cache
def tune_malloc() -> bool:
    """Set glibc's mmap and trim thresholds (see the module docstring); whether it did."""
    if os.environ.get("FXGRAD_MALLOC_TUNING", "1") == "0" or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None)
    except OSError:
        return False
    # gnu_get_libc_version exists in glibc only: the thresholds below are glibc's
    if not hasattr(libc, "gnu_get_libc_version") or not hasattr(libc, "mallopt"):
        return False
    mallopt = libc.mallopt
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    )
