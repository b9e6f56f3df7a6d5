"""Compiling several kernels at once, on worker threads.

A cold ``jit`` of a training step compiles a dozen kernels, and LLVM's O3 pipeline is
most of its time to first result. llvmlite serialises every call into LLVM behind one
process-wide lock, so threads alone do not overlap compilations. LLVM itself is
thread-safe when each thread works in its own ``LLVMContext`` with its own target
machine, so the long calls of a compilation (parse, verify, optimise, emit) are made
here on a worker's own context and target machine, through llvmlite's C entry points
without its lock; the short bookkeeping calls around them keep the lock.

``submit(ir_text, small)`` returns a future of the object code; ``compile_object`` in
``llvm.py`` stays the serial path. When llvmlite's internals are not as expected
(another version), or only one CPU is available, ``available()`` is false and callers
compile serially.
"""

from __future__ import annotations

import concurrent.futures
import os
import threading
from ctypes import c_char_p, string_at

import llvmlite.binding as llvm

from fxgrad.lowering import llvm as lowering_llvm
from fxgrad.lowering.executable import LazyThreadPool, usable_cpus

try:
    from llvmlite.binding import ffi as _ffi

    _RAW = {
        name: getattr(_ffi.lib, name)._cfn
        for name in (
            "LLVMPY_ParseAssembly",
            "LLVMPY_VerifyModule",
            "LLVMPY_RunNewModulePassManager",
            "LLVMPY_TargetMachineEmitToMemory",
        )
    }
    _OutputString = _ffi.OutputString
except (ImportError, AttributeError):  # pragma: no cover - another llvmlite
    _RAW = {}

#: worker threads (at most this many, and no more than the CPUs)
MAX_WORKERS = 4

_pool = LazyThreadPool(
    max_workers=min(MAX_WORKERS, usable_cpus()), thread_name_prefix="fxgrad-llvm"
)
_local = threading.local()  # each worker's target machines


def _hold_llvm() -> None:  # a fork waits until no worker is inside a locked call
    _ffi.lib._lock.__enter__()


def _release_llvm() -> None:
    _ffi.lib._lock.__exit__(None, None, None)


if _RAW and hasattr(os, "register_at_fork"):
    os.register_at_fork(
        before=_hold_llvm, after_in_parent=_release_llvm, after_in_child=_release_llvm
    )


def available() -> bool:
    """Whether kernels can be compiled concurrently here."""
    return bool(_RAW) and usable_cpus() > 1


def submit(ir_text: str, small: bool) -> concurrent.futures.Future:
    """Start compiling ``ir_text`` (as ``llvm.compile_object`` would) on a worker."""
    lowering_llvm.initialize()  # before any worker runs
    return _pool.get().submit(compile_object_unlocked, ir_text, small)


def _target_machine(opt: int) -> llvm.TargetMachine:
    """This thread's own target machine at code-generation level ``opt``."""
    machines = getattr(_local, "machines", None)
    if machines is None:
        machines = _local.machines = {}
    tm = machines.get(opt)
    if tm is None:
        tm = machines[opt] = lowering_llvm.create_target_machine(opt)
    return tm


def compile_object_unlocked(ir_text: str, small: bool) -> bytes:
    """``llvm.compile_object`` in a context of its own, with the long calls made without
    llvmlite's lock (same pipeline, same object code)."""
    tm = _target_machine(1 if small else 3)
    context = llvm.create_context()
    module = None
    try:
        source = c_char_p(ir_text.encode())
        with _OutputString() as error:
            module = llvm.ModuleRef(_RAW["LLVMPY_ParseAssembly"](context, source, error), context)
            if error:
                raise RuntimeError(f"LLVM IR parsing error\n{error}")
        module.triple = tm.triple
        module.data_layout = str(tm.target_data)
        with _OutputString() as error:
            if _RAW["LLVMPY_VerifyModule"](module, error):
                raise RuntimeError(str(error))
        pb = llvm.create_pass_builder(tm, lowering_llvm.pipeline_options(small))
        _RAW["LLVMPY_RunNewModulePassManager"](pb.getModulePassManager(), module, pb)
        with _OutputString() as error:
            buffer = _RAW["LLVMPY_TargetMachineEmitToMemory"](tm, module, 1, error)
            if not buffer:
                raise RuntimeError(str(error))
        try:
            return string_at(
                _ffi.lib.LLVMPY_GetBufferStart(buffer), _ffi.lib.LLVMPY_GetBufferSize(buffer)
            )
        finally:
            _ffi.lib.LLVMPY_DisposeMemoryBuffer(buffer)
    finally:
        if module is not None:
            module.close()
        context.close()
