"""Load LLVM in the background while the program prepares its first ``jit`` call.

``jit`` compiles through llvmlite, whose shared library (all of LLVM) takes 30 to 100
ms to load, and runs fxgrad's lowering package, about 20 ms more to import (its modules
define many dataclasses). ``import fxgrad`` does not pay for them, since eager code
never needs them, but the first jitted call did, on top of its own tracing and
compiling. ``start`` imports both on a daemon thread instead, the lowering package
first (a process whose kernels are all in the disk cache needs only that), then LLVM;
loading the library releases the interpreter lock, so the program runs on meanwhile
(building its data, say), and a first ``jit`` call made after that finds them loaded.
A call made sooner waits, through the import lock, for the import in progress: it never
pays twice.

A ``fork`` while the thread holds the import lock would leave that lock held in the
child, so ``os.register_at_fork`` makes a fork wait for the thread first.
``FXGRAD_PRELOAD_LLVM=0`` turns the preload off.
"""

from __future__ import annotations

import importlib
import os
import sys
import threading


def _load() -> None:
    try:
        # The lowering package first (its modules define many dataclasses, ~20 ms): a
        # warm start, whose kernels are all in the disk cache, needs it and not LLVM.
        from fxgrad.lowering import cache, llvm

        # then the kernels' thread pool (concurrent.futures and logging, ~4 ms)
        importlib.import_module("concurrent.futures")
        _map_llvm()
        # The target id comes from the disk cache's host record, when this machine and
        # backend have run before; else from LLVM, which is then loaded. Loading LLVM
        # on this thread is not free: its Python-level part holds the interpreter lock
        # for 30 to 50 ms in all, taken from the program's first jit call when they
        # overlap. So with a host record, whose kernels are likely on disk, LLVM is left
        # to the first compilation, if any.
        cache.target_id()
        if "llvmlite.binding" in sys.modules:
            llvm.initialize()  # the host's target machine, for the first compilation
            llvm.warm_up()  # LLVM's one-time set-up, off the first compilation's path
    except Exception:  # noqa: BLE001 - the first jit call raises the error itself
        pass


def _map_llvm() -> None:
    """Map LLVM's shared library into the process through ``dlopen`` called by ctypes,
    which releases the interpreter lock for the call (20 to 30 ms of relocation
    processing), so that llvmlite's own load of it later is instant. Linux only; where
    the library is not where expected, llvmlite loads it as usual."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes
    import importlib.util

    spec = importlib.util.find_spec("llvmlite")
    if spec is None or not spec.submodule_search_locations:
        return
    path = os.path.join(spec.submodule_search_locations[0], "binding", "libllvmlite.so")
    if not os.path.exists(path):
        return
    try:
        libc = ctypes.CDLL(None)
        libc.dlopen.restype = ctypes.c_void_p
        libc.dlopen.argtypes = [ctypes.c_char_p, ctypes.c_int]
        libc.dlopen(os.fsencode(path), os.RTLD_NOW)  # kept open: LLVM stays loaded
    except (OSError, AttributeError):
        pass


def start() -> threading.Thread | None:
    """Start loading llvmlite in the background (once); the thread, or None."""
    if os.environ.get("FXGRAD_PRELOAD_LLVM", "1") == "0" or "llvmlite.binding" in sys.modules:
        return None
    thread = threading.Thread(target=_load, name="fxgrad-preload-llvm", daemon=True)
    thread.start()
    if hasattr(os, "register_at_fork"):
        os.register_at_fork(before=thread.join)
    return thread
