"""Control flow in an ``Executable``: ``while``, ``scan`` and ``cond`` steps, compiled.

Two layers, tried in order for each control-flow equation:

1. **Native loop.** When a loop's body (and cond) lower to fused kernels only,
   ``native_loops.build`` makes it a ``loop_ir.Loop`` and the step is one call of its
   compiled function: the loop runs in native code, its trip count passed at run time
   (so a 10**6-step loop compiles to the same code as a 10-step one).
2. **Compiled bodies.** Otherwise (a body calls BLAS, or holds another loop) each body,
   cond and branch jaxpr is compiled once to its own ``Executable`` (cached by jaxpr, so
   nested loops compile recursively, once) and the step alternates them on the carry
   from Python: per iteration one call of each compiled executable, with no tracing,
   no dispatch by name and no wrapping of values. ``scan`` reads each ``xs[i]`` as a
   view and writes each ``ys[i]`` into one preallocated stacked buffer; a ``y`` that is
   a constant of the body (a residual of ``linearize``) or a slice of ``xs`` is not
   copied at all. Big stacked buffers come from a pool of arrays that nothing else
   references any more (``sys.getrefcount``), so a call does not pay a page fault per
   4 KiB of fresh memory.

Both keep the semantics of the primitives' ``impl``s (``lax.control_flow``): the cond
runs before every step and ``max_steps`` bounds a while loop; a reverse scan walks
``xs`` backwards and stacks ``ys`` in place; ``cond`` clamps its index. Every other
equation (and any failure to compile a body) is the enclosing executable's business.
"""

from __future__ import annotations

import math
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np

from fxgrad.jaxpr import ClosedJaxpr, JaxprEqn, Literal, Var
from fxgrad.lowering import blas, cache, loop_ir, native_loops
from fxgrad.lowering.loop_ir import Gemm

Env = list[Any]
Slot = Callable[[Var], int]

#: no while loop runs more steps than this (the native loop's step range)
UNBOUNDED = loop_ir.UNBOUNDED
#: compiled bodies kept for reuse across executables
MAX_BODIES = 1024

#: stacked outputs of at least this many bytes come from a pool of reusable arrays
POOLED_BYTES = 1 << 18
POOL_PER_SHAPE = 2
MAX_POOLED_SHAPES = 64
#: ``sys.getrefcount`` of a pooled array referenced only by the pool (the pool's list, the
#: loop variable and the call's argument)
_UNREFERENCED = 3

_lock = threading.RLock()
_bodies: OrderedDict[int, tuple[ClosedJaxpr, Any]] = OrderedDict()
_pool_lock = threading.Lock()
_pool: dict[tuple[tuple[int, ...], np.dtype], list[np.ndarray]] = {}

#: what control-flow steps were built in this process (tests assert on these)
stats: dict[str, int] = {"native_loops": 0, "lane_loops": 0, "compiled_bodies": 0}


def _lower(closed: ClosedJaxpr) -> Any:
    from fxgrad.lowering import lower

    return lower(closed)


def compiled_body(closed: ClosedJaxpr, name: str) -> Any:
    """``closed`` compiled to an ``Executable`` (once per jaxpr, kept while cached)."""
    from fxgrad.lowering.executable import Executable

    with _lock:
        entry = _bodies.get(id(closed))
        if entry is not None and entry[0] is closed:
            _bodies.move_to_end(id(closed))
            return entry[1]
        executable = Executable(_lower(closed), name)
        stats["compiled_bodies"] += 1
        _bodies[id(closed)] = (closed, executable)
        while len(_bodies) > MAX_BODIES:
            _bodies.popitem(last=False)
        return executable


def control_step(eqn: JaxprEqn, slot: Slot, data_offset: int) -> tuple[str, Callable] | None:
    """``(kind, run)`` for a control-flow equation, or None if it has no compiled form."""
    name = eqn.primitive.name
    if name in ("while", "scan"):
        native = native_loops.build(eqn, _lower)
        if native is not None:
            return _native_step(eqn, native, slot, data_offset)
    if name == "while":
        return "compiled while", _while_step(eqn, slot)
    if name == "scan":
        return "compiled scan", _scan_step(eqn, slot)
    if name == "cond":
        return "compiled cond", _cond_step(eqn, slot)
    return None


def _reads(eqn: JaxprEqn, slot: Slot) -> list[tuple[bool, Any]]:
    return [(True, x.val) if isinstance(x, Literal) else (False, slot(x)) for x in eqn.inputs]


def _native_step(
    eqn: JaxprEqn, native: native_loops.NativeLoop, slot: Slot, data_offset: int
) -> tuple[str, Callable[[Env], None]]:
    loop = native.loop
    main = cache.get_loop(loop, data_offset).main
    if any(isinstance(op, Gemm) for op in loop_ir.walk(loop.body + loop.cond)):
        main = blas.on_one_thread(main)  # the products of one step are small
    fills: list[tuple[str, Any, Any]] = []  # (kind, slot / value / shape, dtype)
    outs: list[tuple[int, int]] = []  # (slot, parameter)
    for j, (kind, value) in enumerate(native.params):
        buffer = loop.buffers[j]
        if kind == "in":
            x = eqn.inputs[value]
            fills.append(("in", slot(x), np.dtype(x.aval.dtype)))
        elif kind == "const":
            fills.append(("const", value, None))
        elif kind == "out":
            v = eqn.out_binders[value]
            fills.append(("out", tuple(v.aval.shape), np.dtype(v.aval.dtype)))
            outs.append((slot(v), j))
        else:
            fills.append(("out", (buffer.size,), np.dtype(buffer.dtype)))
    if native.length is not None:
        end = native.length
    else:
        end = UNBOUNDED if native.max_steps is None else native.max_steps
    empty, ascontiguous, ndarray = np.empty, np.ascontiguousarray, np.ndarray

    def run(env: Env) -> None:
        arrays = []
        for kind, value, dtype in fills:
            if kind == "in":
                a = env[value]
                if type(a) is not ndarray or a.dtype is not dtype or not a.flags.c_contiguous:
                    a = ascontiguous(a, dtype=dtype)
                arrays.append(a)
            elif kind == "const":
                arrays.append(value)
            else:
                arrays.append(empty(value, dtype))
        main(*arrays, 0, end)
        for s, j in outs:
            env[s] = arrays[j]

    stats["native_loops"] += 1
    if loop.lanes:
        stats["lane_loops"] += 1
    return ("native " + eqn.primitive.name), run


def _while_step(eqn: JaxprEqn, slot: Slot) -> Callable[[Env], None]:
    p = eqn.params
    nc, nb, max_steps = p["cond_nconsts"], p["body_nconsts"], p["max_steps"]
    cond = compiled_body(p["cond_jaxpr"], "while cond")
    body = compiled_body(p["body_jaxpr"], "while body")
    reads = _reads(eqn, slot)
    outs = [(slot(v), np.dtype(v.aval.dtype)) for v in eqn.out_binders]

    def run(env: Env) -> None:
        args = [value if literal else env[value] for literal, value in reads]
        cc, bc, carry = args[:nc], args[nc : nc + nb], args[nc + nb :]
        steps = 0
        while cond([*cc, *carry])[0]:
            if max_steps is not None and steps >= max_steps:
                break
            carry = body([*bc, *carry])
            steps += 1
        for (s, dtype), value in zip(outs, carry, strict=True):
            env[s] = np.asarray(value, dtype)

    return run


def _ys_sources(eqn: JaxprEqn) -> list[tuple[str, int]]:
    """Where each stacked output of a scan comes from: ``("const", i)`` when the body returns
    its constant ``i`` (a residual of linearize: a read-only broadcast view instead of
    ``length`` copies), ``("xs", j)`` when it returns the slice of ``xs[j]`` (the stacked
    output is ``xs[j]`` itself), else ``("stack", k)``: output ``k`` of the body."""
    p = eqn.params
    n_consts, n_carry = p["num_consts"], p["num_carry"]
    invars = list(p["jaxpr"].jaxpr.invars)
    sources = []
    for k, x in enumerate(p["jaxpr"].jaxpr.outs[n_carry:], n_carry):
        position = invars.index(x) if isinstance(x, Var) and x in invars else -1
        if 0 <= position < n_consts:
            sources.append(("const", position))
        elif position >= n_consts + n_carry:
            sources.append(("xs", position - n_consts - n_carry))
        else:
            sources.append(("stack", k))
    return sources


def _scan_step(eqn: JaxprEqn, slot: Slot) -> Callable[[Env], None]:
    p = eqn.params
    n_consts, n_carry, length = p["num_consts"], p["num_carry"], p["length"]
    body = compiled_body(p["jaxpr"], "scan body")
    reads = _reads(eqn, slot)
    carry_outs = [(slot(v), np.dtype(v.aval.dtype)) for v in eqn.out_binders[:n_carry]]
    ys_outs = [
        (slot(v), tuple(v.aval.shape), np.dtype(v.aval.dtype)) for v in eqn.out_binders[n_carry:]
    ]
    sources = _ys_sources(eqn)
    reverse = p["reverse"]
    order = range(length - 1, -1, -1) if reverse else range(length)
    call = body.run

    def run(env: Env) -> None:
        args = [value if literal else env[value] for literal, value in reads]
        consts = args[:n_consts]
        carry = args[n_consts : n_consts + n_carry]
        xs = [np.asarray(x) for x in args[n_consts + n_carry :]]
        # the slices of ``xs`` of every step, in the order they run, made in one go
        rows = list(zip(*xs, strict=True)) if xs else [()] * length
        if reverse:
            rows.reverse()
        ys, targets = [], []
        for (_, shape, dtype), (kind, index) in zip(ys_outs, sources, strict=True):
            if kind == "const":
                ys.append(np.broadcast_to(np.asarray(consts[index], dtype), shape))
            elif kind == "xs":
                ys.append(xs[index])
            else:
                ys.append(stack_buffer(shape, dtype))
                targets.append((ys[-1], index))
        for i, row in zip(order, rows, strict=True):
            outs = call([*consts, *carry, *row])
            carry = outs[:n_carry]
            for y, k in targets:
                y[i] = outs[k]
        for (s, dtype), value in zip(carry_outs, carry, strict=True):
            env[s] = np.asarray(value, dtype)
        for (s, _, _), y in zip(ys_outs, ys, strict=True):
            env[s] = y

    return run


def stack_buffer(shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """An uninitialised array for stacked outputs: for big ones, an array of an earlier
    call that nothing references any more when there is one (a fresh multi-megabyte
    array costs a page fault per 4 KiB on first touch, as much as the loop's work)."""
    if math.prod(shape) * dtype.itemsize < POOLED_BYTES:
        return np.empty(shape, dtype)
    key = (shape, dtype)
    with _pool_lock:
        arrays = _pool.setdefault(key, [])
        for array in arrays:
            if sys.getrefcount(array) == _UNREFERENCED:
                return array
        array = np.empty(shape, dtype)
        if len(arrays) < POOL_PER_SHAPE:
            if len(_pool) > MAX_POOLED_SHAPES:
                _pool.clear()
                _pool[key] = arrays
            arrays.append(array)
        return array


def _cond_step(eqn: JaxprEqn, slot: Slot) -> Callable[[Env], None]:
    branches = [compiled_body(b, f"cond branch {i}") for i, b in enumerate(eqn.params["branches"])]
    reads = _reads(eqn, slot)
    outs = [(slot(v), np.dtype(v.aval.dtype)) for v in eqn.out_binders]
    last = len(branches) - 1

    def run(env: Env) -> None:
        args = [value if literal else env[value] for literal, value in reads]
        index = min(max(int(args[0]), 0), last)
        results = branches[index](args[1:])
        for (s, dtype), value in zip(outs, results, strict=True):
            env[s] = np.asarray(value, dtype)

    return run
