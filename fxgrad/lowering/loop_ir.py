"""The loop construct of the kernel IR: a loop whose body runs fused kernels on buffers.

A ``Loop`` is what a ``while`` or ``scan`` equation becomes when its body (and cond)
lower to kernels only (no library calls): one native function whose outer loop runs the
body's kernels, so no Python runs per iteration. It is backend-neutral, like ``Kernel``:
``llvm_control`` renders it for the CPU, and a GPU backend renders the same nodes.

Storage is a list of ``Buffer``s. The first ``n_params`` are given by the caller (loop
inputs and constants, outputs, and ``scratch`` space for big temporaries); the others are
``local`` (small: a backend keeps them on the stack, where its optimiser promotes scalars
to registers). A ``Ref`` names a buffer, advanced by ``step`` elements per loop position
(a slice of a scanned input ``xs[i]`` or a row ``ys[i]`` of a stacked output).

The entry point runs loop steps ``t`` in ``[start, end)`` (the caller passes the trip
count at run time, so a 10-step and a 10**6-step loop share their code). Each step:

1. ``cond`` calls, then stop unless the bool buffer ``pred`` is true (while loops);
2. ``body``: kernel ``Call``s, ``Gemm``s (matrix products, a BLAS call on the CPU) and
   ``Copy``s, in order (the carry update is a copy from the body's results into the
   carry buffers, after the calls).

A counted loop (``pred is None``) has position ``t``, or ``end - 1 - t`` when
``reverse``. ``init`` copies run before the first step and ``finish`` copies after the
last. With ``lanes = N`` the loop is *lane-local* (a batched ``while_loop``: every value
is a vector over N independent lanes and a lane that is done keeps its carry): the whole
loop then runs tile by tile over the lanes, the calls and copies of the body covering the
tile's lanes only, and ``pred`` is a per-lane bool buffer the tile is done with once no
lane of it is true.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fxgrad.lowering.kernel_ir import DTYPES, Kernel, KernelIRError, format_kernel, short_dtype

#: local buffers up to this many bytes are kept on the stack (bigger ones are scratch)
LOCAL_BYTES = 1024
#: lanes per tile of a lane-local loop (a tile's buffers stay in the L1 cache)
TILE_LANES = 256

ROLES = ("param", "scratch", "local")


@dataclass(frozen=True, slots=True)
class Buffer:
    """``size`` elements of ``dtype``; ``role``: ``param``, ``scratch`` or ``local``."""

    dtype: str
    size: int
    role: str


@dataclass(frozen=True, slots=True)
class Ref:
    """Buffer ``buffer`` advanced by ``step * position`` elements (0: the whole buffer),
    and by ``inner[d - 1] * position_d`` for the position of the loop nested at depth
    ``d`` (a ``Nested`` loop's scanned slice of a value of the outer body)."""

    buffer: int
    step: int = 0
    inner: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class Call:
    """Run kernel ``kernel`` (an index into ``Loop.kernels``) on its inputs, then outputs."""

    kernel: int
    refs: tuple[Ref, ...]


@dataclass(frozen=True, slots=True)
class Copy:
    """Copy ``size`` elements from ``src`` to ``dst`` (same dtype)."""

    dst: Ref
    src: Ref
    size: int


@dataclass(frozen=True, slots=True)
class Gemm:
    """``out = op(a) @ op(b)``: ``(m, k)`` by ``(k, n)`` into row-major ``(m, n)``.

    ``a`` is stored row-major ``(m, k)``, or ``(k, m)`` when ``trans_a``; ``b`` is
    ``(k, n)``, or ``(n, k)`` when ``trans_b``. ``dtype`` is float32 or float64.
    ``index_bits`` is the integer width of the library entry point that runs it (part of
    its ABI, so of the cache key). With ``k == 0`` the product is zeros.
    """

    dtype: str
    m: int
    n: int
    k: int
    trans_a: bool
    trans_b: bool
    a: Ref
    b: Ref
    out: Ref
    index_bits: int = 64


@dataclass(frozen=True, slots=True)
class Nested:
    """A loop inside a loop's body (a ``while`` or ``scan`` of the body's jaxpr).

    Runs ``init``, then steps ``t`` in ``[0, length)`` (each after ``cond``, while the
    bool buffer ``pred`` is true, when ``pred`` is given), then ``finish``. The position
    of a step is ``t`` (``length - 1 - t`` when ``reverse``); refs read it through their
    ``inner[depth - 1]``.
    """

    depth: int
    length: int
    init: tuple[Op, ...]
    cond: tuple[Op, ...]
    pred: Ref | None
    body: tuple[Op, ...]
    finish: tuple[Op, ...]
    reverse: bool = False


@dataclass(frozen=True, slots=True)
class Branch:
    """Run ``cases[index]`` for the integer (or bool) scalar in ``index``, clamped to
    ``[0, len(cases) - 1]`` (a ``cond``/``switch`` inside a loop's body)."""

    index: Ref
    dtype: str
    cases: tuple[tuple[Op, ...], ...]


@dataclass(frozen=True, slots=True)
class Window:
    """A box of a row-major array ``whole`` of ``shape``, at dynamic offsets, copied to
    (``read``: ``lax.dynamic_slice``) or from (the write of
    ``lax.dynamic_update_slice``) the row-major array ``part`` of ``sizes``.

    ``starts`` holds one integer scalar buffer per axis (dtypes in ``start_dtypes``);
    each start is clamped to ``[0, shape - size]``, as the primitives do.
    """

    dtype: str
    shape: tuple[int, ...]
    sizes: tuple[int, ...]
    starts: tuple[Ref, ...]
    start_dtypes: tuple[str, ...]
    whole: Ref
    part: Ref
    read: bool


Op = Call | Gemm | Copy | Nested | Branch | Window


@dataclass(frozen=True, slots=True)
class Loop:
    """A native loop over fused kernels: see the module docstring."""

    kernels: tuple[Kernel, ...]
    buffers: tuple[Buffer, ...]
    n_params: int
    init: tuple[Copy, ...]
    cond: tuple[Call, ...]
    pred: Ref | None
    body: tuple[Op, ...]
    finish: tuple[Copy, ...]
    reverse: bool = False
    lanes: int = 0

    def __str__(self) -> str:
        return format_loop(self)


#: the trip count of a while loop without ``max_steps`` (it stops on its predicate)
UNBOUNDED = 1 << 62


def walk(ops: tuple) -> list[Op]:
    """``ops`` and every op nested in them (bodies of nested loops, cases of branches)."""
    found: list[Op] = []
    for op in ops:
        found.append(op)
        if isinstance(op, Nested):
            found += walk((*op.init, *op.cond, *op.body, *op.finish))
        elif isinstance(op, Branch):
            for case in op.cases:
                found += walk(case)
    return found


def rows(kernel: Kernel) -> int:
    """The extent of a kernel's first outer axis: its entry point runs rows ``[0, rows)``."""
    return kernel.outer[0] if kernel.outer else 1


# ---------------------------------------------------------------------------------------
# Verifier and printer
# ---------------------------------------------------------------------------------------


def _fail(loop: Loop, message: str) -> None:
    raise KernelIRError(f"{message}\n{format_loop(loop)}")


def _check_ref(loop: Loop, ref: Ref, dtype: str | None, what: str) -> None:
    if not 0 <= ref.buffer < len(loop.buffers):
        _fail(loop, f"{what}: missing buffer b{ref.buffer}")
    buffer = loop.buffers[ref.buffer]
    if dtype is not None and buffer.dtype != dtype:
        _fail(loop, f"{what}: b{ref.buffer} is {buffer.dtype}, expected {dtype}")
    if ref.step and buffer.role != "param":
        _fail(loop, f"{what}: only parameters are indexed by the loop position")


def _check_gemm(loop: Loop, op: Gemm) -> None:
    if op.dtype not in ("float32", "float64") or min(op.m, op.n, op.k) < 0:
        _fail(loop, f"gemm: bad product {op}")
    if op.index_bits not in (32, 64):
        _fail(loop, f"gemm: bad index width {op.index_bits}")
    operands = ((op.a, op.m * op.k, "a"), (op.b, op.k * op.n, "b"), (op.out, op.m * op.n, "out"))
    for ref, size, what in operands:
        _check_ref(loop, ref, op.dtype, f"gemm {what}")
        innermost = [step for step in (ref.step, *ref.inner) if step]
        held = innermost[-1] if innermost else loop.buffers[ref.buffer].size
        if held != size:
            _fail(loop, f"gemm {what}: b{ref.buffer} holds {held} elements, expected {size}")


def _check_window(loop: Loop, op: Window) -> None:
    if len(op.sizes) != len(op.shape) or len(op.starts) != len(op.shape):
        _fail(loop, f"window: {len(op.starts)} starts for sizes {op.sizes} of {op.shape}")
    if any(not 0 <= k <= n for k, n in zip(op.sizes, op.shape, strict=True)):
        _fail(loop, f"window: sizes {op.sizes} do not fit in {op.shape}")
    for ref, dtype in zip(op.starts, op.start_dtypes, strict=True):
        _check_ref(loop, ref, dtype, "window start")
        if np.dtype(dtype).kind not in "iu":
            _fail(loop, f"window: start of dtype {dtype}")
    _check_ref(loop, op.whole, op.dtype, "window whole")
    _check_ref(loop, op.part, op.dtype, "window part")


def verify(loop: Loop) -> None:
    """Raise ``KernelIRError`` unless ``loop`` satisfies the invariants of the IR."""
    for k, buffer in enumerate(loop.buffers):
        if buffer.dtype not in DTYPES or buffer.role not in ROLES or buffer.size < 0:
            _fail(loop, f"b{k}: bad buffer {buffer}")
        if (buffer.role != "local") != (k < loop.n_params):
            _fail(loop, f"b{k}: parameters and scratch buffers come first")
    _check_ops(loop, (*loop.init, *loop.cond, *loop.body, *loop.finish), 0)
    if loop.pred is not None:
        _check_ref(loop, loop.pred, "bool", "pred")
    if loop.lanes and loop.pred is None:
        _fail(loop, "a lane-local loop is a while loop")


def _check_ops(loop: Loop, ops: tuple, depth: int) -> None:
    """Check ``ops`` run at nesting ``depth`` (0: the body of the loop itself)."""
    for op in ops:
        for ref in _refs(op):
            if len(ref.inner) > depth:
                _fail(loop, f"{_op(op)}: b{ref.buffer} indexed by a loop it is not inside")
        if isinstance(op, Nested):
            if op.depth != depth + 1 or op.length < 0:
                _fail(loop, f"nested loop at depth {depth + 1}: bad {op.depth}, {op.length}")
            if op.pred is not None:
                _check_ref(loop, op.pred, "bool", "nested pred")
            _check_ops(loop, (*op.init, *op.finish), depth)
            _check_ops(loop, (*op.cond, *op.body), depth + 1)
        elif isinstance(op, Branch):
            _check_ref(loop, op.index, op.dtype, "branch index")
            if np.dtype(op.dtype).kind not in "iub" or not op.cases:
                _fail(loop, f"branch on {op.dtype} with {len(op.cases)} cases")
            for case in op.cases:
                _check_ops(loop, case, depth)
        elif isinstance(op, Call):
            kernel = loop.kernels[op.kernel]
            dtypes = [i.dtype for i in kernel.inputs] + [s.dtype for s in kernel.stores]
            if len(op.refs) != len(dtypes):
                _fail(loop, f"call of k{op.kernel}: {len(op.refs)} buffers for {len(dtypes)}")
            for ref, dtype in zip(op.refs, dtypes, strict=True):
                _check_ref(loop, ref, dtype, f"call of k{op.kernel}")
        elif isinstance(op, Gemm):
            _check_gemm(loop, op)
        elif isinstance(op, Window):
            _check_window(loop, op)
        else:
            _check_ref(loop, op.src, None, "copy")
            _check_ref(loop, op.dst, loop.buffers[op.src.buffer].dtype, "copy")


def _refs(op: Op) -> tuple[Ref, ...]:
    """The refs ``op`` itself reads or writes (not those of the ops it contains)."""
    if isinstance(op, Call):
        return op.refs
    if isinstance(op, Gemm):
        return (op.a, op.b, op.out)
    if isinstance(op, Copy):
        return (op.dst, op.src)
    if isinstance(op, Branch):
        return (op.index,)
    if isinstance(op, Window):
        return (*op.starts, op.whole, op.part)
    return (op.pred,) if op.pred is not None else ()


_POSITIONS = "ijklmnopqrs"


def _ref(ref: Ref) -> str:
    terms = [f"i*{ref.step}"] if ref.step else []
    terms += [f"{_POSITIONS[d + 1]}*{s}" for d, s in enumerate(ref.inner) if s]
    return f"b{ref.buffer}" + (f"[{' + '.join(terms)}]" if terms else "")


def _op_lines(op: Op, indent: str) -> list[str]:
    """Lines of ``op``: one, or a header and the indented ops of a nested loop or branch."""
    if isinstance(op, Nested):
        pred = f" while {_ref(op.pred)}" if op.pred is not None else ""
        lines = [f"{indent}loop depth={op.depth} length={op.length} reverse={op.reverse}{pred}"]
        for section in ("init", "cond", "body", "finish"):
            for inner in getattr(op, section):
                lines += _op_lines(inner, indent + f"  {section}: ")
        return lines
    if isinstance(op, Branch):
        lines = [f"{indent}branch on {_ref(op.index)} ({short_dtype(op.dtype)})"]
        for k, case in enumerate(op.cases):
            for inner in case:
                lines += _op_lines(inner, indent + f"  case {k}: ")
        return lines
    return [indent + _op(op)]


def _op(op: Op) -> str:
    if isinstance(op, Call):
        return f"call k{op.kernel}(" + ", ".join(_ref(r) for r in op.refs) + ")"
    if isinstance(op, Window):
        starts = ", ".join(_ref(r) for r in op.starts)
        box = f"{_ref(op.whole)}{list(op.shape)}[{starts} +{list(op.sizes)}]"
        if op.read:
            return f"window {short_dtype(op.dtype)} {_ref(op.part)} <- {box}"
        return f"window {short_dtype(op.dtype)} {box} <- {_ref(op.part)}"
    if isinstance(op, Gemm):
        flags = ("T" if op.trans_a else "N") + ("T" if op.trans_b else "N")
        return (
            f"gemm {short_dtype(op.dtype)} {op.m}x{op.k}x{op.n} {flags} i{op.index_bits} "
            f"{_ref(op.out)} <- {_ref(op.a)}, {_ref(op.b)}"
        )
    return f"copy {_ref(op.dst)} <- {_ref(op.src)} ({op.size})"


def format_loop(loop: Loop) -> str:
    """A stable text form of ``loop`` (the compile cache hashes it)."""
    kind = "while" if loop.pred is not None else "for"
    lines = [f"loop {kind} reverse={loop.reverse} lanes={loop.lanes}"]
    for k, b in enumerate(loop.buffers):
        lines.append(f"  b{k}: {b.role} {short_dtype(b.dtype)}[{b.size}]")
    for section in ("init", "cond", "body", "finish"):
        for op in getattr(loop, section):
            lines += _op_lines(op, f"  {section}: ")
    if loop.pred is not None:
        lines.append(f"  pred: {_ref(loop.pred)}")
    for k, kernel in enumerate(loop.kernels):
        lines.append(f"  k{k}:")
        lines.extend("    " + line for line in format_kernel(kernel).splitlines())
    return "\n".join(lines)
