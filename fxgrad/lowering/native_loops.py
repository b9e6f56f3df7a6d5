"""``while`` and ``scan`` equations -> ``loop_ir.Loop``, when their bodies are all kernels.

The body (and cond) jaxprs are lowered like any jaxpr (simplify, fuse); if every step is
a fused kernel, a matrix product BLAS can run (a float ``dot_general`` of 1-D or 2-D
operands without batch axes) or a reshape view of a buffer, the loop becomes one
``Loop``: the carry lives in buffers of its own, each kernel step becomes a ``Call`` and
each product a ``Gemm``, writing a buffer of its own, and the carry update is a set of
``Copy``s after the calls (through temporaries when a result is another carry's current
value, as in a swap). Scanned inputs are read in place (``Ref`` with a step) and stacked
outputs written in place.

``build`` returns a ``NativeLoop``: the ``Loop`` and how to fill its parameters from the
equation's operands (``("in", i)``), constants (``("const", array)``), outputs
(``("out", i)``) and scratch space (``("scratch", None)``), or ``None`` when a body has
another library call (then the loop runs compiled bodies from Python, see
``control``).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from fxgrad.config import config
from fxgrad.core import ShapedArray
from fxgrad.jaxpr import ClosedJaxpr, JaxprEqn, Literal, Var
from fxgrad.lowering import blas, loop_ir
from fxgrad.lowering import lanes as lane_analysis
from fxgrad.lowering.fusion import KernelStep, Program
from fxgrad.lowering.kernel_ir import DTYPES, Kernel, dtype_name
from fxgrad.lowering.loop_ir import (
    Branch,
    Buffer,
    Call,
    Copy,
    Gemm,
    Loop,
    Nested,
    Op,
    Ref,
    Window,
)

_VIEWS = ("reshape", "squeeze")


def _is_view(eqn: JaxprEqn) -> bool:
    """A squeeze, or a reshape that does not transpose, of a buffer: the same bytes."""
    name = eqn.primitive.name
    if name not in _VIEWS or not isinstance(eqn.inputs[0], Var):
        return False
    return name == "squeeze" or eqn.params.get("dimensions") is None


@dataclass(frozen=True)
class NativeLoop:
    """A ``Loop`` with the source of each parameter and the trip count (None: while)."""

    loop: Loop
    params: tuple[tuple[str, Any], ...]
    length: int | None
    max_steps: int | None


class _NotNative(Exception):  # noqa: N818 - control flow, not an error
    """A body has a step a native loop cannot run."""


def _dtype(aval: Any) -> str:
    return dtype_name(aval.dtype)


class _Builder:
    def __init__(self, lower: Any):
        self.lower = lower
        self.kernels: list[Kernel] = []
        self.kernel_ids: dict[Kernel, int] = {}
        self.buffers: list[Buffer] = []
        self.sources: dict[int, tuple[str, Any]] = {}
        self.depth = 0  # how deep in nested loops the ops being built run

    def buffer(
        self, aval: Any, role: str, source: tuple[str, Any] | None = None, size: int | None = None
    ) -> Ref:
        """A new buffer for a value of ``aval`` (``size`` elements: a slice of it)."""
        dtype = _dtype(aval)
        if dtype not in DTYPES:
            raise _NotNative(dtype)
        size = math.prod(aval.shape) if size is None else size
        if role == "local" and size * np.dtype(dtype).itemsize > loop_ir.LOCAL_BYTES:
            role, source = "scratch", ("scratch", None)
        self.buffers.append(Buffer(dtype, size, role))
        if source is not None:
            self.sources[len(self.buffers) - 1] = source
        return Ref(len(self.buffers) - 1)

    def operand(self, x: Any, index: int) -> Ref:
        if isinstance(x, Literal):
            return self.const(np.asarray(x.val, dtype=x.aval.dtype), x.aval)
        return self.buffer(x.aval, "param", ("in", index))

    def const(self, value: Any, aval: Any) -> Ref:
        array = np.ascontiguousarray(value, dtype=aval.dtype)
        return self.buffer(aval, "param", ("const", array))

    def program(self, closed: ClosedJaxpr, in_refs: list[Ref], ops: list) -> list[Ref]:
        """Append the steps of ``closed`` run on ``in_refs`` to ``ops``; its output refs."""
        program: Program = self.lower(closed)
        env: dict[Var, Ref] = {}
        for v, value in program.consts:
            env[v] = self.const(value, v.aval)
        env.update(zip(program.invars, in_refs, strict=True))
        for step in program.steps:
            if isinstance(step, KernelStep):
                outs = [self.buffer(v.aval, "local") for v in step.outputs]
                refs = (*(env[v] for v in step.inputs), *outs)
                ops.append(Call(self.kernel(step.kernel), refs))
                env.update(zip(step.outputs, outs, strict=True))
                continue
            eqn = step.eqn
            name = eqn.primitive.name
            if name == "dot_general" or name in _BODY_STEPS:
                operands = [
                    env[x] if isinstance(x, Var) else self.const(x.val, x.aval) for x in eqn.inputs
                ]
                if name == "dot_general":
                    outs = [self.buffer(eqn.out_binders[0].aval, "local")]
                    ops.append(_gemm(eqn, *operands, outs[0]))
                else:
                    outs = _BODY_STEPS[name](self, eqn, operands, ops)
                env.update(zip(eqn.out_binders, outs, strict=True))
                continue
            if not _is_view(eqn):
                raise _NotNative(eqn.primitive.name)
            env[eqn.out_binders[0]] = env[eqn.inputs[0]]
        return [env[x] if isinstance(x, Var) else self.const(x.val, x.aval) for x in program.outs]

    def kernel(self, kernel: Kernel) -> int:
        found = self.kernel_ids.get(kernel)
        if found is None:
            found = self.kernel_ids[kernel] = len(self.kernels)
            self.kernels.append(kernel)
        return found

    def carry_update(self, ops: list, state: list[Ref], results: list[Ref], avals: list) -> None:
        """Copies ``results -> state``; a result that is another carry goes via a temporary."""
        staged = []
        for k, (dst, src) in enumerate(zip(state, results, strict=True)):
            size = math.prod(avals[k].shape)
            if src == dst:
                continue
            if src in state:
                tmp = self.buffer(avals[k], "local")
                ops.append(Copy(tmp, src, size))
                src = tmp
            staged.append(Copy(dst, src, size))
        ops.extend(staged)

    def finish(self, **fields: Any) -> tuple[Loop, tuple[tuple[str, Any], ...]]:
        """The loop with parameters and scratch buffers renumbered first."""
        order = [k for k, b in enumerate(self.buffers) if b.role != "local"]
        order += [k for k, b in enumerate(self.buffers) if b.role == "local"]
        new = {old: i for i, old in enumerate(order)}

        def ref(r: Ref) -> Ref:
            return Ref(new[r.buffer], r.step, r.inner)

        def ops(os: tuple) -> tuple:
            return tuple(op(o) for o in os)

        def op(o: Op) -> Op:
            if isinstance(o, Call):
                return Call(o.kernel, tuple(ref(r) for r in o.refs))
            if isinstance(o, Gemm):
                return dataclasses.replace(o, a=ref(o.a), b=ref(o.b), out=ref(o.out))
            if isinstance(o, Nested):
                return dataclasses.replace(
                    o,
                    init=ops(o.init),
                    cond=ops(o.cond),
                    pred=None if o.pred is None else ref(o.pred),
                    body=ops(o.body),
                    finish=ops(o.finish),
                )
            if isinstance(o, Branch):
                return Branch(ref(o.index), o.dtype, tuple(ops(c) for c in o.cases))
            if isinstance(o, Window):
                starts = tuple(ref(r) for r in o.starts)
                return dataclasses.replace(o, starts=starts, whole=ref(o.whole), part=ref(o.part))
            return Copy(ref(o.dst), ref(o.src), o.size)

        n_params = len(self.sources)
        loop = Loop(
            kernels=tuple(self.kernels),
            buffers=tuple(self.buffers[k] for k in order),
            n_params=n_params,
            init=tuple(op(o) for o in fields["init"]),
            cond=tuple(op(o) for o in fields["cond"]),
            pred=ref(fields["pred"]) if fields["pred"] is not None else None,
            body=tuple(op(o) for o in fields["body"]),
            finish=tuple(op(o) for o in fields["finish"]),
            reverse=fields["reverse"],
            lanes=fields["lanes"],
        )
        params = tuple(self.sources[k] for k in order[:n_params])
        return loop, params


def _gemm(eqn: JaxprEqn, a: Ref, b: Ref, out: Ref) -> Gemm:
    """The ``Gemm`` of a ``dot_general`` BLAS can run, or ``_NotNative``.

    Each operand must be a row-major matrix as it lies: its contracted axes one block at
    its start or its end (``(k, m)`` or ``(m, k)`` for the left operand), paired in the
    same order as the other operand's; there are no batch axes.
    """
    entry = blas.gemm_entry_points()
    (lc, rc), (lb, rb) = eqn.params["dimension_numbers"]
    x, y = eqn.inputs
    dtype = _dtype(x.aval)
    if entry is None or lb or rb or dtype not in ("float32", "float64"):
        raise _NotNative("dot_general")
    if _dtype(y.aval) != dtype or _dtype(eqn.out_binders[0].aval) != dtype:
        raise _NotNative("dot_general")
    pairs = sorted(zip(lc, rc, strict=True))
    lc, rc = tuple(p[0] for p in pairs), tuple(p[1] for p in pairs)
    if list(rc) != sorted(rc):
        raise _NotNative("dot_general")
    xs, ys = tuple(x.aval.shape), tuple(y.aval.shape)
    nc = len(lc)
    k = math.prod(xs[d] for d in lc)
    if lc == tuple(range(len(xs) - nc, len(xs))):  # (m, k)
        trans_a, m = False, math.prod(xs[: len(xs) - nc])
    elif lc == tuple(range(nc)):  # (k, m)
        trans_a, m = True, math.prod(xs[nc:])
    else:
        raise _NotNative("dot_general")
    if rc == tuple(range(nc)):  # (k, n)
        trans_b, n = False, math.prod(ys[nc:])
    elif rc == tuple(range(len(ys) - nc, len(ys))):  # (n, k)
        trans_b, n = True, math.prod(ys[: len(ys) - nc])
    else:
        raise _NotNative("dot_general")
    return Gemm(dtype, m, n, k, trans_a, trans_b, a, b, out, entry[0])


def _state(b: _Builder, avals: list, init_refs: list[Ref]) -> tuple[list[Ref], list[Copy]]:
    state = [b.buffer(a, "local") for a in avals]
    copies = [
        Copy(s, r, math.prod(a.shape)) for s, r, a in zip(state, init_refs, avals, strict=True)
    ]
    return state, copies


def _outputs(b: _Builder, eqn: JaxprEqn, state: list[Ref], avals: list) -> list[Copy]:
    """Copies of the final carries into the loop's first outputs."""
    outs = [b.buffer(eqn.out_binders[i].aval, "param", ("out", i)) for i in range(len(state))]
    return [Copy(o, s, math.prod(a.shape)) for o, s, a in zip(outs, state, avals, strict=True)]


def _build_while(b: _Builder, eqn: JaxprEqn, allow_lanes: bool = True) -> tuple[Loop, tuple]:
    p = eqn.params
    nc, nb = p["cond_nconsts"], p["body_nconsts"]
    refs = [b.operand(x, i) for i, x in enumerate(eqn.inputs)]
    cc, bc, init = refs[:nc], refs[nc : nc + nb], refs[nc + nb :]
    avals = list(p["body_jaxpr"].out_avals)
    lane = lane_analysis.lane_cond(eqn) if allow_lanes else None
    cond_jaxpr = lane[0] if lane is not None else p["cond_jaxpr"]
    state, init_copies = _state(b, avals, init)
    cond_ops: list = []
    (pred,) = b.program(cond_jaxpr, [*cc, *state], cond_ops)
    body_ops: list = []
    results = b.program(p["body_jaxpr"], [*bc, *state], body_ops)
    b.carry_update(body_ops, state, results, avals)
    lanes = 0
    if lane is not None:
        if b.buffers[pred.buffer].size != lane[1] or not _tileable(b, cond_ops + body_ops, lane[1]):
            # the per-lane cond only makes sense tile by tile: lower the real cond instead
            return _build_while(_Builder(b.lower), eqn, allow_lanes=False)
        lanes = lane[1]
    return b.finish(
        init=init_copies,
        cond=cond_ops,
        pred=pred,
        body=body_ops,
        finish=_outputs(b, eqn, state, avals),
        reverse=False,
        lanes=lanes,
    )


def _tileable(b: _Builder, ops: list, lanes: int) -> bool:
    """Whether every call and copy of a lane-local loop can be restricted to a tile."""
    for op in ops:
        if isinstance(op, (Gemm, Nested, Branch, Window)):
            return False
        if isinstance(op, Copy):
            sizes = {op.size, b.buffers[op.dst.buffer].size, b.buffers[op.src.buffer].size}
            if sizes != {lanes}:
                return False
            continue
        kernel = b.kernels[op.kernel]
        if kernel.inner or (kernel.outer and kernel.outer != (lanes,)):
            return False
        if not kernel.outer:
            continue
        strides = [i.strides[0] for i in kernel.inputs] + [s.strides[0] for s in kernel.stores]
        if any(s not in (0, 1) for s in strides) or any(i.offset for i in kernel.inputs):
            return False
        for ref, stride in zip(op.refs, strides, strict=True):
            if stride == 1 and b.buffers[ref.buffer].size != lanes:
                return False
    return True


def _build_scan(b: _Builder, eqn: JaxprEqn) -> tuple[Loop, tuple]:
    p = eqn.params
    n_consts, n_carry = p["num_consts"], p["num_carry"]
    refs = [b.operand(x, i) for i, x in enumerate(eqn.inputs[: n_consts + n_carry])]
    for i, x in enumerate(eqn.inputs[n_consts + n_carry :], n_consts + n_carry):
        if isinstance(x, Literal):
            raise _NotNative("literal xs")
        step = math.prod(x.aval.shape[1:])
        refs.append(Ref(b.buffer(x.aval, "param", ("in", i), size=step).buffer, step))
    consts, init, xs = (
        refs[:n_consts],
        refs[n_consts : n_consts + n_carry],
        refs[n_consts + n_carry :],
    )
    avals = list(p["jaxpr"].out_avals)
    carry_avals, y_avals = avals[:n_carry], avals[n_carry:]
    state, init_copies = _state(b, carry_avals, init)
    body_ops: list = []
    results = b.program(p["jaxpr"], [*consts, *state, *xs], body_ops)
    for k, (src, aval) in enumerate(zip(results[n_carry:], y_avals, strict=True)):
        size = math.prod(aval.shape)
        out = b.buffer(aval, "param", ("out", n_carry + k))
        body_ops.append(Copy(Ref(out.buffer, size), src, size))
    b.carry_update(body_ops, state, results[:n_carry], carry_avals)
    finish = _outputs(b, eqn, state, carry_avals)
    return b.finish(
        init=init_copies,
        cond=[],
        pred=None,
        body=body_ops,
        finish=finish,
        reverse=bool(p["reverse"]),
        lanes=0,
    )


def _nested_scan(b: _Builder, eqn: JaxprEqn, operands: list[Ref], ops: list) -> list[Ref]:
    """A ``scan`` inside a loop body: a ``Nested`` loop; its carries and stacked ys."""
    p = eqn.params
    n_consts, n_carry, length = p["num_consts"], p["num_carry"], int(p["length"])
    consts, init = operands[:n_consts], operands[n_consts : n_consts + n_carry]
    depth = b.depth + 1
    xs = []
    for x, r in zip(eqn.inputs[n_consts + n_carry :], operands[n_consts + n_carry :], strict=True):
        inner = (*r.inner, *([0] * (depth - 1 - len(r.inner))), math.prod(x.aval.shape[1:]))
        xs.append(Ref(r.buffer, r.step, inner))
    avals = list(p["jaxpr"].out_avals)
    state, init_copies = _state(b, avals[:n_carry], init)
    body: list = []
    b.depth = depth
    results = b.program(p["jaxpr"], [*consts, *state, *xs], body)
    ys = []
    for k, src in enumerate(results[n_carry:]):
        size = math.prod(avals[n_carry + k].shape)
        out = b.buffer(eqn.out_binders[n_carry + k].aval, "local")
        body.append(Copy(Ref(out.buffer, 0, (*([0] * (depth - 1)), size)), src, size))
        ys.append(out)
    b.carry_update(body, state, results[:n_carry], avals[:n_carry])
    b.depth = depth - 1
    ops.append(Nested(depth, length, tuple(init_copies), (), None, tuple(body), (), p["reverse"]))
    return [*state, *ys]


def _nested_while(b: _Builder, eqn: JaxprEqn, operands: list[Ref], ops: list) -> list[Ref]:
    """A ``while`` inside a loop body: a ``Nested`` loop guarded by its cond."""
    p = eqn.params
    nc, nb = p["cond_nconsts"], p["body_nconsts"]
    avals = list(p["body_jaxpr"].out_avals)
    state, init_copies = _state(b, avals, operands[nc + nb :])
    depth = b.depth + 1
    b.depth = depth
    cond: list = []
    (pred,) = b.program(p["cond_jaxpr"], [*operands[:nc], *state], cond)
    body: list = []
    results = b.program(p["body_jaxpr"], [*operands[nc : nc + nb], *state], body)
    b.carry_update(body, state, results, avals)
    b.depth = depth - 1
    steps = loop_ir.UNBOUNDED if p["max_steps"] is None else int(p["max_steps"])
    ops.append(Nested(depth, steps, tuple(init_copies), tuple(cond), pred, tuple(body), ()))
    return state


def _branch(b: _Builder, eqn: JaxprEqn, operands: list[Ref], ops: list) -> list[Ref]:
    """A ``cond`` inside a loop body: a ``Branch`` whose cases write the same buffers."""
    outs = [b.buffer(v.aval, "local") for v in eqn.out_binders]
    cases = []
    for branch in eqn.params["branches"]:
        case: list = []
        results = b.program(branch, operands[1:], case)
        for dst, src, v in zip(outs, results, eqn.out_binders, strict=True):
            case.append(Copy(dst, src, math.prod(v.aval.shape)))
        cases.append(tuple(case))
    ops.append(Branch(operands[0], _dtype(eqn.inputs[0].aval), tuple(cases)))
    return outs


def _dynamic_slice(b: _Builder, eqn: JaxprEqn, operands: list[Ref], ops: list) -> list[Ref]:
    """``lax.dynamic_slice`` in a loop body: a reading ``Window``."""
    x, out = eqn.inputs[0], eqn.out_binders[0]
    part = b.buffer(out.aval, "local")
    ops.append(_window(eqn, x.aval, out.aval.shape, operands[0], part, operands[1:], True))
    return [part]


def _dynamic_update_slice(b: _Builder, eqn: JaxprEqn, operands: list[Ref], ops: list) -> list[Ref]:
    """``lax.dynamic_update_slice`` in a loop body: a copy, then a writing ``Window``."""
    x, update = eqn.inputs[0], eqn.inputs[1]
    whole = b.buffer(eqn.out_binders[0].aval, "local")
    ops.append(Copy(whole, operands[0], math.prod(x.aval.shape)))
    shape = tuple(update.aval.shape)
    ops.append(_window(eqn, x.aval, shape, whole, operands[1], operands[2:], False))
    return [whole]


def _window(eqn, aval, sizes, whole: Ref, part: Ref, starts: list[Ref], read: bool) -> Window:
    dtypes = tuple(_dtype(i.aval) for i in eqn.inputs[len(eqn.inputs) - len(starts) :])
    if any(np.dtype(d).kind not in "iu" for d in dtypes):
        raise _NotNative(eqn.primitive.name)
    shape = tuple(aval.shape)
    return Window(_dtype(aval), shape, tuple(sizes), tuple(starts), dtypes, whole, part, read)


def _concatenate(b: _Builder, eqn: JaxprEqn, operands: list[Ref], ops: list) -> list[Ref]:
    """``lax.concatenate`` in a loop body: each operand written into its box of the
    result by a ``Window`` at constant offsets."""
    out = eqn.out_binders[0]
    axis, shape = eqn.params["dimension"], tuple(out.aval.shape)
    whole = b.buffer(out.aval, "local")
    int64 = np.dtype(np.int64)
    zero = b.const(np.int64(0), _I64)
    offset = 0
    for x, ref in zip(eqn.inputs, operands, strict=True):
        sizes = tuple(x.aval.shape)
        at = b.const(np.int64(offset), _I64) if offset else zero
        starts = tuple(at if d == axis else zero for d in range(len(shape)))
        dtype = _dtype(out.aval)
        ops.append(
            Window(dtype, shape, sizes, starts, (int64.name,) * len(shape), whole, ref, False)
        )
        offset += sizes[axis]
    return [whole]


#: the abstract value of a constant start offset
_I64 = ShapedArray((), np.dtype(np.int64))

_BODY_STEPS = {
    "concatenate": _concatenate,
    "scan": _nested_scan,
    "while": _nested_while,
    "cond": _branch,
    "dynamic_slice": _dynamic_slice,
    "dynamic_update_slice": _dynamic_update_slice,
}


def build(eqn: JaxprEqn, lower: Any) -> NativeLoop | None:
    """The native loop of a ``while`` or ``scan`` equation, or None (see the docstring).

    ``lower`` lowers a body ``ClosedJaxpr`` to a ``fusion.Program``.
    """
    name = eqn.primitive.name
    try:
        if name == "while":
            loop, params = _build_while(_Builder(lower), eqn)
            native = NativeLoop(loop, params, None, eqn.params["max_steps"])
        elif name == "scan":
            loop, params = _build_scan(_Builder(lower), eqn)
            native = NativeLoop(loop, params, int(eqn.params["length"]), None)
        else:
            return None
    except _NotNative:
        return None
    if config.read("enable_checks"):
        loop_ir.verify(native.loop)
    return native
