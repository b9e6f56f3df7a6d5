"""Load LLVM in the background while the program prepares its first ``jit`` call.

``jit`` compiles through llvmlite, whose shared library (all of LLVM) takes about 100
ms to load, and fxgrad's lowering package about 30 ms more (its modules define many
dataclasses). ``import fxgrad`` does not pay for them, since eager code never needs
them, but the first jitted call did, on top of its own tracing and compiling. ``start``
imports both on a daemon thread instead; loading the library releases the interpreter
lock, so the program runs on meanwhile (building its data, say), and a first ``jit``
call made after that finds them loaded. A call made sooner waits, through the import
lock, for the import in progress: it never pays twice.

A ``fork`` while the thread holds the import lock would leave that lock held in the
child, so ``os.register_at_fork`` makes a fork wait for the thread first.
``FXGRAD_PRELOAD_LLVM=0`` turns the preload off.
"""

from __future__ import annotations

import os
import sys
import threading


def _load() -> None:
    try:
        import llvmlite.binding  # noqa: F401 - loading it is the point
    except Exception:  # noqa: BLE001 - jit reports a broken llvmlite when it needs it
        return
    try:
        # The lowering package itself (its modules define many dataclasses, ~30 ms),
        # and the host's target machine (~5 ms of LLVM set-up).
        import fxgrad.lowering  # noqa: F401
        import fxgrad.lowering.llvm as llvm

        llvm.target_id()
    except Exception:  # noqa: BLE001 - the first jit call raises the error itself
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
