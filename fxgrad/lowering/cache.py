"""Compiled kernels, cached in memory and on disk.

A kernel's key is the SHA-256 of its kernel-IR text (``kernel_ir.format_kernel``), the
target (triple, host CPU and features), the llvmlite and LLVM versions, the codegen
version and the array-object layout the entry points read. In memory the key maps to the
loaded functions; on disk to the object code LLVM emitted, so a second process links the
object (no LLVM IR generation, no optimisation, no code generation).

The directory is ``fxgrad.config.resolve_cache_dir() / "kernels"``: the ``cache_dir``
flag (``config.update("cache_dir", path)`` or ``FXGRAD_CACHE_DIR``), else the user cache
directory. ``FXGRAD_DISK_CACHE=0``, ``config.update("disk_cache", False)`` or
``set_disk_cache(False)`` turns the disk cache off. Files are written atomically
(temporary file, then rename), so concurrent processes never read half a file, and carry
a SHA-256 checksum of the object: a corrupt or unreadable entry is ignored and
recompiled. Every operation holds one lock, so threads may compile concurrently.
``prefetch_kernels`` starts the compilations of an executable's kernels on worker
threads (``parallel_compile``), which LLVM runs in parallel.
``FXGRAD_DUMP_IR=<dir>`` writes the kernel IR, LLVM IR and optimised LLVM IR of every
kernel (and native loop) compiled.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import pathlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fxgrad.config import config, resolve_cache_dir
from fxgrad.lowering import llvm
from fxgrad.lowering.kernel_ir import Kernel, format_kernel
from fxgrad.lowering.llvm_loops import is_small, is_splittable

if TYPE_CHECKING:  # imported when a native loop is compiled (control flow only)
    from fxgrad.lowering import loop_ir

_lock = threading.RLock()
_memory: dict[str, CompiledKernel] = {}
_disk_enabled = os.environ.get("FXGRAD_DISK_CACHE", "1").strip().lower() not in (
    "0",
    "false",
    "no",
    "off",
)

#: what happened so far in this process (tests assert on these)
stats: dict[str, int] = {"compiled": 0, "disk_hits": 0, "memory_hits": 0, "disk_writes": 0}


def clear_memory() -> None:
    """Forget the kernels loaded in this process; the disk cache is kept."""
    with _lock:
        _memory.clear()


@dataclass
class CompiledKernel:
    """The loaded entry points of one kernel (``part``/``fin`` for split reductions)."""

    name: str
    main: Any
    part: Any = None
    fin: Any = None
    source: str = field(default="compiled", repr=False)


def set_disk_cache(enabled: bool) -> None:
    """Turn the on-disk cache on or off for this process."""
    global _disk_enabled
    _disk_enabled = bool(enabled)


def disk_cache_enabled() -> bool:
    return _disk_enabled and config.read("disk_cache")


def cache_directory() -> pathlib.Path:
    """Where compiled kernels are stored on disk."""
    return resolve_cache_dir() / "kernels"


def kernel_key(kernel: Kernel, data_offset: int) -> str:
    text = "\n".join((format_kernel(kernel), target_id(), f"data_offset={data_offset}"))
    return hashlib.sha256(text.encode()).hexdigest()


# The target id (``llvm.target_id``: triple, host CPU name and features as LLVM sees
# them, versions, codegen fingerprint) takes LLVM to compute, and loading LLVM is most of
# a warm start's time. So the disk cache keeps it in a host record, a file named by a
# fingerprint computed without LLVM: the CPU as /proc/cpuinfo describes it (vendor,
# family, model, stepping, feature flags), the machine, the llvmlite version and the
# codegen fingerprint. A process whose fingerprint has a record reads its target id
# there; otherwise it asks LLVM and writes the record.
_CPUINFO_KEYS = (
    "vendor_id",
    "cpu family",
    "model",
    "model name",
    "stepping",
    "flags",
    "CPU implementer",
    "CPU architecture",
    "CPU variant",
    "CPU part",
    "CPU revision",
    "Features",
    "isa",
)
_target: dict[str, str] = {}


def host_fingerprint() -> str | None:
    """A hash of what the target id depends on, computed without LLVM; None where the
    CPU cannot be described so (not Linux)."""
    import platform

    try:
        lines = []
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as cpuinfo:
            for line in cpuinfo:  # the first processor's block is enough
                if not line.strip():
                    break
                key = line.split(":", 1)[0].strip()
                if key in _CPUINFO_KEYS:
                    lines.append(line.strip())
    except OSError:
        return None
    if not lines:
        return None
    import llvmlite  # the package only: its version, not LLVM

    text = "\n".join(
        (
            *lines,
            platform.machine(),
            llvmlite.__version__,
            llvm.CODEGEN_VERSION,
            llvm.codegen_fingerprint(),
        )
    )
    return hashlib.sha256(text.encode()).hexdigest()


def target_id() -> str:
    """``llvm.target_id()``, from the disk cache's host record when there is one for this
    machine (no LLVM needed), else from LLVM (and recorded)."""
    tid = _target.get("id")
    if tid is not None:
        return tid
    with _lock:
        tid = _target.get("id")
        if tid is None:
            record = None
            if disk_cache_enabled():
                fingerprint = host_fingerprint()
                if fingerprint is not None:
                    record = cache_directory() / "hosts" / f"{fingerprint}.txt"
            tid = _read_host_record(record) if record is not None else None
            if tid is None:
                tid = llvm.target_id()
                if record is not None:
                    _write_atomically(record, tid.encode())
            _target["id"] = tid
        return tid


def _read_host_record(path: pathlib.Path) -> str | None:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    # a record is written whole (renamed into place); an empty or foreign file is ignored
    return text if text.endswith(llvm.codegen_fingerprint()) else None


_MAGIC = b"fxgrad-object-1\n"


def _read_disk(key: str) -> bytes | None:
    """The object code stored for ``key``, if present and intact (LLVM crashes on a
    malformed object, so every entry carries a checksum that is verified first)."""
    if not disk_cache_enabled():
        return None
    try:
        data = (cache_directory() / f"{key}.o").read_bytes()
    except OSError:
        return None
    header = len(_MAGIC) + 32
    if len(data) <= header or not data.startswith(_MAGIC):
        return None
    obj = data[header:]
    if hashlib.sha256(obj).digest() != data[len(_MAGIC) : header]:
        return None
    return obj


def _write_disk(key: str, obj: bytes) -> None:
    if not disk_cache_enabled():
        return
    if _write_atomically(
        cache_directory() / f"{key}.o", _MAGIC + hashlib.sha256(obj).digest() + obj
    ):
        stats["disk_writes"] += 1


def _write_atomically(path: pathlib.Path, data: bytes) -> bool:
    """Write ``data`` to a temporary file beside ``path``, then rename it into place, so
    no reader sees half a file; False if the disk refused (that only costs
    recompilation next time)."""
    import tempfile  # only when writing: it imports shutil, random, bz2 and lzma

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
        return True
    except OSError:
        return False


def _prototypes(n_buffers: int) -> tuple[Any, Any, Any]:
    objs = [ctypes.py_object] * n_buffers
    main = ctypes.CFUNCTYPE(None, *objs, ctypes.c_int64, ctypes.c_int64)
    part = ctypes.CFUNCTYPE(None, *objs, ctypes.c_int64, ctypes.c_int64, ctypes.c_void_p)
    fin = ctypes.CFUNCTYPE(None, *objs, ctypes.c_void_p, ctypes.c_int64)
    return main, part, fin


def _dump(name: str, kernel_text: str, ir_text: str, small: bool) -> None:
    """With ``FXGRAD_DUMP_IR=<dir>``, write each compiled kernel's IR and LLVM IR there."""
    directory = os.environ.get("FXGRAD_DUMP_IR")
    if not directory:
        return
    path = pathlib.Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    (path / f"{name}.kernel.txt").write_text(kernel_text + "\n")
    (path / f"{name}.ll").write_text(ir_text)
    (path / f"{name}.opt.ll").write_text(llvm.optimized_ir(ir_text, small=small))


def _log(message: str) -> None:
    if config.read("log_compiles"):
        print(f"fxgrad: {message}")


#: kernels being compiled on worker threads: key -> (future object code, LLVM IR, names)
_pending: dict[str, tuple[Any, str, list[str]]] = {}


def _forget_pending() -> None:
    """In a forked child: compilations the parent's workers were running never finish
    there; the child compiles those kernels again when it needs them."""
    global _lock
    _pending.clear()
    _lock = threading.RLock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pending)


def prefetch_kernels(kernels: list[Kernel], data_offset: int) -> list[str]:
    """The cache keys of ``kernels``, for the ``get_kernel`` calls that follow; those
    neither loaded, on disk, nor pending start compiling on worker threads
    (``parallel_compile``), so each of those calls waits for its kernel instead of
    compiling it in turn. With fewer than two to compile, or no second CPU, nothing is
    started."""
    keys = [kernel_key(kernel, data_offset) for kernel in kernels]
    if len(kernels) < 2:
        return keys
    todo: dict[str, Kernel] = {}
    with _lock:
        for key, kernel in zip(keys, kernels, strict=True):
            if key in _memory or key in _pending or key in todo:
                continue
            if disk_cache_enabled() and (cache_directory() / f"{key}.o").exists():
                continue
            todo[key] = kernel
        if len(todo) < 2:
            return keys
        from fxgrad.lowering import parallel_compile  # loads LLVM

        if parallel_compile.available():
            for key, kernel in todo.items():
                ir_text, names = llvm.render(kernel, "fx_" + key[:24], data_offset)
                future = parallel_compile.submit(ir_text, is_small(kernel))
                _pending[key] = (future, ir_text, names)
    return keys


def get_kernel(kernel: Kernel, data_offset: int, key: str | None = None) -> CompiledKernel:
    """The compiled entry points of ``kernel``, from memory, disk, or LLVM (``key``: its
    ``kernel_key``, when the caller has it already)."""
    if key is None:
        key = kernel_key(kernel, data_offset)
    names = ["_part", "_fin"] if is_splittable(kernel) else []
    return _get(
        key,
        names,
        lambda name: llvm.render(kernel, name, data_offset),
        small=is_small(kernel),
        n_buffers=len(kernel.inputs) + len(kernel.stores),
        text=lambda: format_kernel(kernel),
        describe=lambda: (
            f"kernel outer={kernel.outer} inner={kernel.inner} ({len(kernel.nodes)} nodes)"
        ),
    )


def get_loop(loop: loop_ir.Loop, data_offset: int) -> CompiledKernel:
    """The compiled entry point of a native loop (``loop_ir``), from memory, disk, or LLVM.

    It has a kernel's prototype: ``main(*arrays, start, end)`` runs loop steps
    ``[start, end)``.
    """
    from fxgrad.lowering.llvm_control import render_loop
    from fxgrad.lowering.loop_ir import format_loop

    text = format_loop(loop)
    key = hashlib.sha256(
        "\n".join((text, target_id(), f"data_offset={data_offset}")).encode()
    ).hexdigest()
    return _get(
        key,
        [],
        lambda name: render_loop(loop, name, data_offset),
        small=all(is_small(k) for k in loop.kernels),
        n_buffers=loop.n_params,
        text=lambda: text,
        describe=lambda: f"loop ({len(loop.kernels)} kernels)",
    )


def _get(
    key: str,
    suffixes: list[str],
    render: Callable[[str], tuple[str, list[str]]],
    *,
    small: bool,
    n_buffers: int,
    text: Callable[[], str],
    describe: Callable[[], str],
) -> CompiledKernel:
    found = _memory.get(key)
    if found is not None:
        stats["memory_hits"] += 1
        return found
    with _lock:
        found = _memory.get(key)
        if found is not None:
            stats["memory_hits"] += 1
            return found
        name = "fx_" + key[:24]
        names = [name] + [name + s for s in suffixes]
        started = time.perf_counter()
        obj = _read_disk(key)
        source = "disk cache"
        if obj is not None:
            addresses = llvm.load_object(obj, names)
            stats["disk_hits"] += 1
        else:
            source = "compiled"
            pending = _pending.pop(key, None)
            if pending is not None:  # started by prefetch_kernels
                future, ir_text, names = pending
                obj = future.result()
            else:
                ir_text, names = render(name)
                obj = llvm.compile_object(ir_text, small=small)
            _dump(name, text(), ir_text, small)
            addresses = llvm.load_object(obj, names)
            stats["compiled"] += 1
            _write_disk(key, obj)
        elapsed = (time.perf_counter() - started) * 1e3
        _log(f"{describe()} as {name}: {source} in {elapsed:.1f} ms")
        protos = _prototypes(n_buffers)
        fns = [proto(addr) for proto, addr in zip(protos, addresses, strict=False)]
        compiled = CompiledKernel(name, *fns, source=source)
        _memory[key] = compiled
        return compiled
