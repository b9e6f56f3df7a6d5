"""Fusion: a jaxpr becomes an ordered list of fused kernels and library calls.

Every value of the jaxpr is either *materialized* (written to a buffer) or computed
inside the kernel of each materialized value that needs it. Materialized are: the
jaxpr's outputs, the operands of library calls (``dot_general``, control flow, gather,
and every primitive without a kernel lowering: their NumPy ``impl`` runs, so every jaxpr
runs), and whatever the passes below decide. A kernel is built from its root value down
to materialized values, inputs and literals (its *cone*):

* elementwise primitives become kernel-IR ops (``ELEMENTWISE_LOWERINGS``);
* ``broadcast_in_dim``, ``transpose``, ``squeeze``, ``slice``, ``rev`` and ``reshape``
  become index maps: each value is read through an affine map from the kernel's index
  space, so they end up as strides and offsets of the loads;
* ``reduce_*`` becomes a ``reduce`` node when its reduced axes can be the kernel's inner
  axes (a softmax row: max, sum of exp, then the normalised store, in one kernel).

A value is *cut* (materialized, and fusion restarts) when a chain of fused equations
grows longer than ``MAX_FUSION_DEPTH``; when its index map cannot be expressed (a
reshape that does not factor into the operand's axes); when a reduction does not line up
with the kernel's inner axes; when a kernel with one huge row would otherwise chain
reductions on one core; and when a value that is expensive to compute (a reduction, or
many transcendental ops) would be recomputed by several kernels. Values cheap to
recompute are duplicated into each consumer, as XLA does. Nested ``pjit`` calls are
inlined first, so ``jit(jit(f))`` fuses across the boundary.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from fxgrad.jaxpr import ClosedJaxpr, Jaxpr, JaxprEqn, Literal, Var
from fxgrad.lax._define import kernel_classes
from fxgrad.lowering import kernel_ir
from fxgrad.lowering.kernel_ir import DTYPES, OPS, Input, Kernel, Node, Store, dtype_name
from fxgrad.lowering.products import outer_products, transposed_products

#: a kernel with this many elements or more per row is split across threads by rows; a
#: kernel with fewer rows than this and a long reduction is split along the reduction.
PARALLEL_ROWS = 4
SPLIT_REDUCTION_MIN = 1 << 16
#: a chain of more fused equations than this is cut into several kernels
MAX_FUSION_DEPTH = 160
#: duplicating a value into several kernels is fine below this cost per element
DUPLICATE_COST_LIMIT = 24

Row = tuple[int, ...]  # coefficients of one value axis over the kernel's index space
Map = tuple[tuple[Row, ...], tuple[int, ...]]  # (rows, offsets), one per value axis


@dataclass(frozen=True, slots=True)
class KernelStep:
    """Run ``kernel``: its inputs are the values of ``inputs``, its stores bind ``outputs``."""

    kernel: Kernel
    inputs: tuple[Var, ...]
    outputs: tuple[Var, ...]


@dataclass(frozen=True, slots=True)
class LibraryStep:
    """Evaluate one equation with its primitive's NumPy ``impl`` (or a library routine)."""

    eqn: JaxprEqn


Step = KernelStep | LibraryStep


@dataclass(frozen=True, slots=True)
class Program:
    """The lowered form of a jaxpr: constants, inputs, ordered steps and outputs."""

    consts: tuple[tuple[Var, Any], ...]
    invars: tuple[Var, ...]
    steps: tuple[Step, ...]
    outs: tuple[Var | Literal, ...]

    @property
    def kernels(self) -> list[Kernel]:
        return [s.kernel for s in self.steps if isinstance(s, KernelStep)]

    def __str__(self) -> str:
        return format_program(self)


class _Cut(Exception):  # noqa: N818 - control flow, not an error
    """Raised while building a kernel: ``var`` must be materialized; fusion restarts."""

    def __init__(self, var: Var):
        super().__init__()
        self.var = var


# ---------------------------------------------------------------------------------------
# Inlining nested calls
# ---------------------------------------------------------------------------------------


#: primitives whose ``impl`` just runs the jaxpr in this param: compiled, the body is
#: inlined (a custom derivative rule has no use once the program is lowered)
_CUSTOM_CALLS = {"custom_jvp_call": "call_jaxpr", "custom_vjp_call": "call_jaxpr"}


def _inlinable_body(eqn: JaxprEqn) -> ClosedJaxpr | None:
    """The body of a call equation that lowering inlines, or None."""
    if kernel_classes.get(eqn.primitive, ("library", None))[0] != "call":
        return None
    body = eqn.params.get(_CUSTOM_CALLS.get(eqn.primitive.name, "jaxpr"))
    return body if isinstance(body, ClosedJaxpr) else None


def inline_calls(closed: ClosedJaxpr) -> tuple[tuple[tuple[Var, Any], ...], Jaxpr]:
    """Flatten nested ``pjit`` equations and hoist array literals into constants.

    Returns the constants as ``(var, value)`` pairs and the flat jaxpr. Each inlined body
    gets fresh variables, so a jaxpr called twice stays in SSA form.
    """
    jaxpr = closed.jaxpr
    consts: list[tuple[Var, Any]] = list(zip(jaxpr.constvars, closed.consts, strict=True))
    eqns: list[JaxprEqn] = []

    def read(env: dict[Var, Any], x: Any) -> Any:
        if isinstance(x, Var):
            return env.get(x, x)
        if np.shape(x.val) != ():
            hoisted = Var(x.aval)
            consts.append((hoisted, np.asarray(x.val, dtype=x.aval.dtype)))
            return hoisted
        return x

    def walk(body: Jaxpr, env: dict[Var, Any], fresh: bool) -> list[Any]:
        for eqn in body.eqns:
            ins = tuple(read(env, x) for x in eqn.inputs)
            sub = _inlinable_body(eqn)
            if sub is not None:
                sub_env: dict[Var, Any] = {}
                for v, c in zip(sub.jaxpr.constvars, sub.consts, strict=True):
                    sub_env[v] = Var(v.aval)
                    consts.append((sub_env[v], c))
                sub_env.update(zip(sub.jaxpr.invars, ins, strict=True))
                env.update(zip(eqn.out_binders, walk(sub.jaxpr, sub_env, True), strict=True))
                continue
            outs = tuple(Var(v.aval) for v in eqn.out_binders) if fresh else eqn.out_binders
            env.update(zip(eqn.out_binders, outs, strict=True))
            eqns.append(JaxprEqn(eqn.primitive, ins, eqn.params, outs, eqn.source_info))
        return [read(env, x) for x in body.outs]

    outs = walk(jaxpr, {}, fresh=False)
    flat = Jaxpr(jaxpr.in_binders, tuple(eqns), tuple(outs), jaxpr.num_consts)
    return tuple(consts), flat


# ---------------------------------------------------------------------------------------
# Elementwise lowerings: equation -> kernel nodes
# ---------------------------------------------------------------------------------------

Emit = Callable[..., int]  # emit(op, args, dtype, param=None) -> node index


def _dtype(aval: Any) -> str:
    return dtype_name(aval.dtype)


def _lower_same(op: str) -> Callable:
    def lower(emit: Emit, eqn: JaxprEqn, args: list[int]) -> int:
        return emit(op, tuple(args), _dtype(eqn.out_binders[0].aval))

    return lower


def _lower_round(emit: Emit, eqn: JaxprEqn, args: list[int]) -> int:
    op = "round_even" if eqn.params.get("rounding_method", 0) == 1 else "round"
    return emit(op, tuple(args), _dtype(eqn.out_binders[0].aval))


def _lower_rsqrt(emit: Emit, eqn: JaxprEqn, args: list[int]) -> int:
    dtype = _dtype(eqn.out_binders[0].aval)
    return emit("div", (emit("const", (), dtype, 1.0), emit("sqrt", tuple(args), dtype)), dtype)


def _lower_square(emit: Emit, eqn: JaxprEqn, args: list[int]) -> int:
    return emit("mul", (args[0], args[0]), _dtype(eqn.out_binders[0].aval))


def _lower_integer_pow(emit: Emit, eqn: JaxprEqn, args: list[int]) -> int:
    dtype = _dtype(eqn.out_binders[0].aval)
    y = int(eqn.params["y"])
    one = emit("const", (), dtype, 1.0 if dtype.startswith("float") else 1)
    result, base, n = None, args[0], abs(y)
    while n:  # exponentiation by squaring
        if n & 1:
            result = base if result is None else emit("mul", (result, base), dtype)
        n >>= 1
        if n:
            base = emit("mul", (base, base), dtype)
    result = one if result is None else result
    return emit("div", (one, result), dtype) if y < 0 else result


def _lower_convert(emit: Emit, eqn: JaxprEqn, args: list[int]) -> int:
    old = _dtype(eqn.inputs[0].aval)
    new = _dtype(eqn.out_binders[0].aval)
    return args[0] if old == new else emit("convert", (args[0],), new)


def _lower_bitcast(emit: Emit, eqn: JaxprEqn, args: list[int]) -> int:
    return emit("bitcast", (args[0],), _dtype(eqn.out_binders[0].aval))


def _lower_select(emit: Emit, eqn: JaxprEqn, args: list[int]) -> int:
    which, cases = args[0], args[1:]
    dtype = _dtype(eqn.out_binders[0].aval)
    which_dtype = _dtype(eqn.inputs[0].aval)
    if len(cases) == 1:
        return cases[0]
    if which_dtype == "bool":
        return emit("select", (which, cases[1], cases[0]), dtype)
    # np.choose(mode="clip"): which < 0 picks case 0, which >= n the last case
    result = cases[-1]
    for i in range(len(cases) - 2, -1, -1):
        bound = emit("const", (), which_dtype, i)
        result = emit("select", (emit("le", (which, bound), "bool"), cases[i], result), dtype)
    return result


def _lower_clamp(emit: Emit, eqn: JaxprEqn, args: list[int]) -> int:
    lo, x, hi = args
    dtype = _dtype(eqn.out_binders[0].aval)
    return emit("min", (emit("max", (x, lo), dtype), hi), dtype)


def _lower_copy(emit: Emit, eqn: JaxprEqn, args: list[int]) -> int:
    return args[0]


def _lower_zero_safe(op: str) -> Callable:
    """``ct op y`` where ``ct != 0``, and +0 where ``ct == 0`` (even if ``y`` is inf/NaN)."""

    def lower(emit: Emit, eqn: JaxprEqn, args: list[int]) -> int:
        ct, y = args
        dtype = _dtype(eqn.out_binders[0].aval)
        zero = emit("const", (), dtype, 0.0)
        is_zero = emit("eq", (ct, zero), "bool")
        return emit("select", (is_zero, zero, emit(op, (ct, y), dtype)), dtype)

    return lower


_SAME_NAME = (
    "neg sign floor ceil is_finite exp exp2 log log1p expm1 tanh logistic sin cos tan asin "
    "acos atan sinh cosh asinh acosh atanh sqrt cbrt abs not erf erfc lgamma add sub mul div "
    "rem pow max min atan2 nextafter eq ne lt le gt ge and or xor shift_left "
    "shift_right_arithmetic shift_right_logical"
).split()

#: kernel op of an elementwise primitive -> how to build its kernel nodes
ELEMENTWISE_LOWERINGS: dict[str, Callable[[Emit, JaxprEqn, list[int]], int]] = {
    **{name: _lower_same(name) for name in _SAME_NAME},
    "population_count": _lower_same("popcount"),
    "round": _lower_round,
    "rsqrt": _lower_rsqrt,
    "square": _lower_square,
    "integer_pow": _lower_integer_pow,
    "convert": _lower_convert,
    "bitcast": _lower_bitcast,
    "select": _lower_select,
    "clamp": _lower_clamp,
    "copy": _lower_copy,
    "zero_safe_mul": _lower_zero_safe("mul"),
    "zero_safe_div": _lower_zero_safe("div"),
}

_OP_OF_LOWERING = {name: name for name in _SAME_NAME} | {
    "population_count": "popcount",
    "round": "round",
    "rsqrt": "sqrt",
    "square": "mul",
    "integer_pow": "mul",
    "bitcast": "bitcast",
    "clamp": "max",
    "zero_safe_mul": "mul",
    "zero_safe_div": "div",
}

_SHAPE_PRIMITIVES = ("broadcast_in_dim", "transpose", "squeeze", "reshape", "slice", "rev")

#: rough cost per element of an op, for deciding whether to recompute or materialize
_TRANSCENDENTAL_COST = 10


def _op_cost(op: str) -> int:
    if op in kernel_ir.LIBM_OPS:
        return _TRANSCENDENTAL_COST
    return 4 if op in ("div", "rem", "sqrt") else 1


def _kernel_dtypes_ok(eqn: JaxprEqn) -> bool:
    for x in (*eqn.inputs, *eqn.out_binders):
        if _dtype(x.aval) not in DTYPES:
            return False
    return True


def classify(eqn: JaxprEqn) -> str:
    """``"elementwise"``, ``"shape"``, ``"reduce"`` or ``"library"`` for one equation."""
    kind, op = kernel_classes.get(eqn.primitive, ("library", None))
    if not _kernel_dtypes_ok(eqn):
        return "library"
    if kind == "elementwise" and op in ELEMENTWISE_LOWERINGS and eqn.inputs:
        kernel_op = _OP_OF_LOWERING.get(op)
        if kernel_op is not None:
            in_dtypes = [_dtype(x.aval) for x in eqn.inputs]
            if op == "select":
                in_dtypes = in_dtypes[1:]
            if op == "bitcast":
                new = np.dtype(eqn.params.get("new_dtype"))
                old = np.dtype(in_dtypes[0])
                if new.itemsize != old.itemsize or "b" in (new.kind, old.kind):
                    return "library"
            elif any(np.dtype(d).kind not in OPS[kernel_op].kinds for d in in_dtypes):
                return "library"
        return "elementwise"
    if kind == "shape" and eqn.primitive.name in _SHAPE_PRIMITIVES:
        return "shape"
    if kind == "reduction" and op in kernel_ir.COMBINERS and eqn.params.get("axes") is not None:
        if op in ("and", "or", "xor") and np.dtype(eqn.inputs[0].aval.dtype).kind == "f":
            return "library"
        return "reduce"
    return "library"


# ---------------------------------------------------------------------------------------
# Index maps
# ---------------------------------------------------------------------------------------


def _strip(row: Row) -> Row:
    n = len(row)
    while n and row[n - 1] == 0:
        n -= 1
    return row[:n]


def _unit(d: int) -> Row:
    return (0,) * d + (1,)


def _row_strides(shape: Sequence[int]) -> list[int]:
    strides = [1] * len(shape)
    for i in range(len(shape) - 2, -1, -1):
        strides[i] = strides[i + 1] * shape[i + 1]
    return strides


def _linear(shape: Sequence[int], amap: Map, ndim: int) -> tuple[Row, int]:
    """The flat row-major offset of a value of ``shape`` read through ``amap``."""
    rows, offsets = amap
    coef = [0] * ndim
    offset = 0
    for stride, row, b in zip(_row_strides(shape), rows, offsets, strict=True):
        for d, c in enumerate(row):
            coef[d] += stride * c
        offset += stride * b
    return tuple(coef), offset


def _factor(coef: Row, offset: int, shape: Sequence[int], extents: Sequence[int]) -> Map | None:
    """Per-axis map of a ``shape`` value read at flat offset ``offset + coef . k``, if affine."""
    size = math.prod(shape)
    if size == 0 or not 0 <= offset < size:
        return None
    strides = _row_strides(shape)
    offsets = [(offset // s) % n for s, n in zip(strides, shape, strict=True)]
    rows = [[0] * len(extents) for _ in shape]
    for d, c in enumerate(coef):
        if c == 0 or extents[d] <= 1:
            continue
        fits = [
            i
            for i, (s, n) in enumerate(zip(strides, shape, strict=True))
            if n > 1 and c % s == 0 and abs(c) // s < n
        ]
        if not fits:
            return None
        i = max(fits, key=lambda j: strides[j])
        rows[i][d] = c // strides[i]
    for i, n in enumerate(shape):
        lo = hi = offsets[i]
        for d, c in enumerate(rows[i]):
            span = c * (extents[d] - 1)
            lo, hi = lo + min(span, 0), hi + max(span, 0)
        if lo < 0 or hi >= n:
            return None
    return tuple(_strip(tuple(r)) for r in rows), tuple(offsets)


def _shape_operand_map(eqn: JaxprEqn, amap: Map) -> Map:
    """The map of the operand of a layout primitive given the map of its output."""
    rows, offsets = amap
    name, params = eqn.primitive.name, eqn.params
    in_shape = eqn.inputs[0].aval.shape
    if name == "broadcast_in_dim":
        dims = params["broadcast_dimensions"]
        out_shape = params["shape"]
        new_rows = tuple(rows[d] if in_shape[i] == out_shape[d] else () for i, d in enumerate(dims))
        new_offsets = tuple(
            offsets[d] if in_shape[i] == out_shape[d] else 0 for i, d in enumerate(dims)
        )
        return new_rows, new_offsets
    if name == "transpose":
        perm = params["permutation"]
        new_rows, new_offsets = [()] * len(perm), [0] * len(perm)
        for i, p in enumerate(perm):
            new_rows[p], new_offsets[p] = rows[i], offsets[i]
        return tuple(new_rows), tuple(new_offsets)
    if name == "squeeze":
        dims = set(params["dimensions"])
        it = iter(zip(rows, offsets, strict=True))
        pairs = [((), 0) if i in dims else next(it) for i in range(len(in_shape))]
        return tuple(p[0] for p in pairs), tuple(p[1] for p in pairs)
    if name == "slice":
        starts = params["start_indices"]
        steps = params.get("strides") or (1,) * len(starts)
        new_rows = tuple(tuple(s * c for c in r) for r, s in zip(rows, steps, strict=True))
        new_offsets = tuple(st + s * b for st, s, b in zip(starts, steps, offsets, strict=True))
        return new_rows, new_offsets
    if name == "rev":
        dims = set(params["dimensions"])
        new_rows = tuple(tuple(-c for c in r) if i in dims else r for i, r in enumerate(rows))
        new_offsets = tuple(in_shape[i] - 1 - b if i in dims else b for i, b in enumerate(offsets))
        return new_rows, new_offsets
    raise AssertionError(f"no index map for {name}")


# ---------------------------------------------------------------------------------------
# Building one kernel
# ---------------------------------------------------------------------------------------


class _KernelBuilder:
    """Builds the kernel whose root is one materialized value (see the module docstring)."""

    def __init__(self, fusion: _Fusion, root: Var):
        self.fusion = fusion
        self.root = root
        self.extents: list[int] = list(root.aval.shape)
        self.inner_axes: list[int] | None = None
        self.nodes: list[Node] = []
        self.node_ids: dict[Node, int] = {}
        self.memo: dict[Any, int] = {}
        self.inputs: list[tuple[Var, Row, int]] = []
        self.input_ids: dict[Any, int] = {}
        self.computed: dict[Var, set[Any]] = {}
        self.reduce_vars: dict[int, Var] = {}

    def emit(self, op: str, args: tuple[int, ...], dtype: str, param: Any = None) -> int:
        node = Node(op, tuple(args), dtype, param)
        found = self.node_ids.get(node)
        if found is not None:
            return found
        self.nodes.append(node)
        self.node_ids[node] = len(self.nodes) - 1
        return len(self.nodes) - 1

    def _const(self, lit: Literal) -> int:
        dtype = _dtype(lit.aval)
        value = np.asarray(lit.val).item()
        kind = np.dtype(dtype).kind
        value = bool(value) if kind == "b" else float(value) if kind == "f" else int(value)
        return self.emit("const", (), dtype, value)

    def _load(self, var: Var, coef: Row, offset: int) -> int:
        key = (var, _strip(coef), offset)
        idx = self.input_ids.get(key)
        if idx is None:
            idx = len(self.inputs)
            self.inputs.append((var, _strip(coef), offset))
            self.input_ids[key] = idx
        return self.emit("load", (), _dtype(var.aval), idx)

    def is_leaf(self, var: Var) -> bool:
        """Whether ``var`` is read from a buffer rather than computed in this kernel."""
        if var is self.root:
            return False
        return var in self.fusion.materialized or var not in self.fusion.fused_producer

    def value(self, atom: Any, amap: Map, depth: int = 0) -> int:
        """The node computing ``atom`` read through ``amap`` (``depth``: fused levels above)."""
        if isinstance(atom, Literal):
            return self._const(atom)
        if self.is_leaf(atom):
            coef, offset = _linear(atom.aval.shape, amap, len(self.extents))
            return self._load(atom, coef, offset)
        key = (atom, self._key_rows(amap[0]), amap[1])
        found = self.memo.get(key)
        if found is not None:
            return found
        if depth > self.fusion.max_depth:
            raise _Cut(atom)  # bounds kernel size and the recursion of this builder
        eqn = self.fusion.fused_producer[atom]
        kind = self.fusion.kinds[id(eqn)]
        depth += 1
        if kind == "elementwise":
            args = [self.value(x, amap if x.aval.shape else ((), ()), depth) for x in eqn.inputs]
            op = kernel_classes[eqn.primitive][1]
            node = ELEMENTWISE_LOWERINGS[op](self.emit, eqn, args)
        elif kind == "shape":
            node = self._shape(eqn, amap, depth)
        else:
            node = self._reduce(atom, eqn, amap, depth)
        self.memo[key] = node
        self.computed.setdefault(atom, set()).add(key)
        return node

    def _key_rows(self, rows: tuple[Row, ...]) -> tuple[Row, ...]:
        """Rows without the coefficients of extent-1 axes (whose index is always 0)."""
        extents = self.extents
        return tuple(
            _strip(tuple(c if extents[d] != 1 else 0 for d, c in enumerate(r))) for r in rows
        )

    def _shape(self, eqn: JaxprEqn, amap: Map, depth: int) -> int:
        operand = eqn.inputs[0]
        if isinstance(operand, Literal):  # a scalar constant (array literals are hoisted)
            return self._const(operand)
        if eqn.primitive.name != "reshape":
            return self.value(operand, _shape_operand_map(eqn, amap), depth)
        coef, offset = _linear(eqn.out_binders[0].aval.shape, amap, len(self.extents))
        if self.is_leaf(operand):
            return self._load(operand, coef, offset)
        factored = _factor(coef, offset, operand.aval.shape, self.extents)
        if factored is None:
            raise _Cut(operand)
        return self.value(operand, factored, depth)

    def _reduce(self, var: Var, eqn: JaxprEqn, amap: Map, depth: int) -> int:
        rows, offsets = amap
        axes = tuple(eqn.params["axes"])
        in_shape = eqn.inputs[0].aval.shape
        reduced = [in_shape[a] for a in axes]
        used = {d for r in rows for d, c in enumerate(r) if c != 0}
        if self.inner_axes is None:
            unused = [d for d in range(len(self.extents)) if d not in used and self.extents[d] != 1]
            if not unused:
                self.inner_axes = list(range(len(self.extents), len(self.extents) + len(axes)))
                self.extents.extend(reduced)
            elif [self.extents[d] for d in unused] == reduced:
                self.inner_axes = unused
            else:
                raise _Cut(var)
        elif used & set(self.inner_axes) or [self.extents[d] for d in self.inner_axes] != reduced:
            raise _Cut(var)
        kept = iter(zip(rows, offsets, strict=True))
        in_rows, in_offsets = [], []
        for i in range(len(in_shape)):
            if i in axes:
                in_rows.append(_unit(self.inner_axes[axes.index(i)]))
                in_offsets.append(0)
            else:
                r, b = next(kept)
                in_rows.append(r)
                in_offsets.append(b)
        operand = self.value(eqn.inputs[0], (tuple(in_rows), tuple(in_offsets)), depth)
        combiner = kernel_classes[eqn.primitive][1]
        node = self.emit("reduce", (operand,), _dtype(var.aval), combiner)
        self.reduce_vars[node] = var
        return node

    def build(self) -> tuple[Kernel, list[Var]]:
        shape = self.root.aval.shape
        identity = (tuple(_unit(d) for d in range(len(shape))), (0,) * len(shape))
        node = self.value(self.root, identity)
        ndim = len(self.extents)
        inner = self.inner_axes or []
        order = [d for d in range(ndim) if d not in inner] + list(inner)

        def arrange(coef: Row) -> tuple[int, ...]:
            padded = tuple(coef) + (0,) * (ndim - len(coef))
            return tuple(padded[d] for d in order)

        inputs = [Input(_dtype(v.aval), arrange(c), off) for v, c, off in self.inputs]
        store_coef = _pad_strides(_row_strides(shape), ndim)
        store = Store(node, _dtype(self.root.aval), arrange(store_coef), math.prod(shape))
        extents = [self.extents[d] for d in order]
        n_outer = ndim - len(inner)
        kernel = Kernel(
            tuple(extents[:n_outer]),
            tuple(extents[n_outer:]),
            tuple(inputs),
            tuple(self.nodes),
            (store,),
        )
        return canonicalize(kernel), [v for v, _, _ in self.inputs]


def _pad_strides(strides: Sequence[int], ndim: int) -> tuple[int, ...]:
    return tuple(strides) + (0,) * (ndim - len(strides))


def canonicalize(kernel: Kernel) -> Kernel:
    """Drop axes of extent 1 and merge adjacent axes every buffer walks contiguously."""
    n_outer = len(kernel.outer)
    extents = list(kernel.domain)
    if 0 in extents:
        return kernel
    tables = [list(i.strides) for i in kernel.inputs] + [list(s.strides) for s in kernel.stores]
    axes = [d for d in range(len(extents)) if extents[d] != 1]
    groups: list[list[int]] = []  # each group: axes merged into one, outermost first
    for d in axes:
        if groups:
            prev = groups[-1][-1]
            same_level = (prev < n_outer) == (d < n_outer)
            if same_level and all(t[prev] == t[d] * extents[d] for t in tables):
                groups[-1].append(d)
                continue
        groups.append([d])
    new_extents = [math.prod(extents[d] for d in g) for g in groups]
    new_tables = [tuple(t[g[-1]] for g in groups) for t in tables]
    new_outer = sum(1 for g in groups if g[0] < n_outer)
    inputs = tuple(
        Input(i.dtype, s, i.offset)
        for i, s in zip(kernel.inputs, new_tables[: len(kernel.inputs)], strict=True)
    )
    stores = tuple(
        Store(s.node, s.dtype, t, s.size)
        for s, t in zip(kernel.stores, new_tables[len(kernel.inputs) :], strict=True)
    )
    outer = tuple(new_extents[:new_outer])
    inner = tuple(new_extents[new_outer:])
    if not inner and kernel.inner:
        inner = (1,)  # a reduction over axes of extent 1 still has one inner step
        inputs = tuple(Input(i.dtype, (*i.strides, 0), i.offset) for i in inputs)
        stores = tuple(Store(s.node, s.dtype, (*s.strides, 0), s.size) for s in stores)
    return Kernel(outer, inner, inputs, kernel.nodes, stores)


# ---------------------------------------------------------------------------------------
# The fixpoint over materialization decisions
# ---------------------------------------------------------------------------------------


def _fusion_depth_budget() -> int:
    """How many fused levels a kernel may chain: ``MAX_FUSION_DEPTH``, less if the Python
    stack (each level recurses about three frames deep) has less room left."""
    frame, used = sys._getframe(), 0
    while frame is not None:
        frame, used = frame.f_back, used + 1
    room = (sys.getrecursionlimit() - used - 50) // 4
    return max(8, min(MAX_FUSION_DEPTH, room))


class _Fusion:
    def __init__(self, jaxpr: Jaxpr):
        self.jaxpr = jaxpr
        self.max_depth = _fusion_depth_budget()
        self.kinds: dict[int, str] = {id(e): classify(e) for e in jaxpr.eqns}
        self.fused_producer: dict[Var, JaxprEqn] = {}
        for eqn in jaxpr.eqns:
            if self.kinds[id(eqn)] != "library":
                self.fused_producer[eqn.out_binders[0]] = eqn
        self.materialized: set[Var] = {x for x in jaxpr.outs if isinstance(x, Var)}
        for eqn in jaxpr.eqns:
            if self.kinds[id(eqn)] == "library":
                self.materialized.update(x for x in eqn.inputs if isinstance(x, Var))

    def roots(self) -> list[Var]:
        return [
            e.out_binders[0]
            for e in self.jaxpr.eqns
            if self.kinds[id(e)] != "library"
            and e.out_binders[0] in self.materialized
            and not _is_view_step(e, self)
        ]

    def build_all(self) -> dict[Var, tuple[Kernel, list[Var], _KernelBuilder]] | None:
        built = {}
        for root in self.roots():
            builder = _KernelBuilder(self, root)
            try:
                kernel, inputs = builder.build()
                self._check_split(kernel, builder)
            except _Cut as cut:
                assert cut.var not in self.materialized, cut.var
                self.materialized.add(cut.var)
                return None
            built[root] = (kernel, inputs, builder)
        return built

    def _check_split(self, kernel: Kernel, builder: _KernelBuilder) -> None:
        """A kernel with few rows and a long reduction keeps one reduction, no row stores."""
        if not kernel.has_reduction or math.prod(kernel.outer) >= PARALLEL_ROWS:
            return
        if math.prod(kernel.inner) < SPLIT_REDUCTION_MIN:
            return
        depths = kernel_ir.reduce_depths(kernel)
        deepest = max(depths)
        row_store = any(kernel_ir.store_is_inner(kernel, s) for s in kernel.stores)
        for node, var in builder.reduce_vars.items():
            if var is builder.root:
                continue
            if row_store or depths[node] < deepest:
                raise _Cut(var)

    def _cone(self, var: Var) -> set[Var]:
        seen: set[Var] = set()
        stack = [var]
        while stack:
            v = stack.pop()
            eqn = self.fused_producer.get(v)
            if eqn is None or v in seen:
                continue
            seen.add(v)
            stack.extend(x for x in eqn.inputs if isinstance(x, Var) and x not in self.materialized)
        return seen

    def _cost(self, var: Var, memo: dict[Var, float]) -> float:
        if var in memo:
            return memo[var]
        eqn = self.fused_producer.get(var)
        if eqn is None or var in self.materialized:
            return 0.0
        kind = self.kinds[id(eqn)]
        if kind == "reduce":
            cost = math.inf
        elif kind == "shape":
            cost = 0.0
        else:
            op = kernel_classes[eqn.primitive][1]
            cost = float(_op_cost(_OP_OF_LOWERING.get(op, op)))
        for x in eqn.inputs:
            if isinstance(x, Var):
                cost += self._cost(x, memo)
        memo[var] = cost
        return cost

    def duplicates(self, built: dict) -> set[Var]:
        """Values recomputed by several kernels (or maps) whose cost forbids it."""
        counts: dict[Var, int] = {}
        for _, _, builder in built.values():
            for var, keys in builder.computed.items():
                counts[var] = counts.get(var, 0) + len(keys)
        memo: dict[Var, float] = {}
        expensive = {
            v for v, n in counts.items() if n > 1 and self._cost(v, memo) > DUPLICATE_COST_LIMIT
        }
        inside = set()
        for v in expensive:
            inside |= self._cone(v) - {v}
        return expensive - inside


def _is_view_step(eqn: JaxprEqn, fusion: _Fusion) -> bool:
    """A reshape/squeeze of a buffer is a NumPy view: no kernel needed."""
    if eqn.primitive.name not in ("reshape", "squeeze"):
        return False
    operand = eqn.inputs[0]
    return isinstance(operand, Var) and (
        operand in fusion.materialized or operand not in fusion.fused_producer
    )


def fuse(closed: ClosedJaxpr) -> Program:
    """Lower ``closed`` to a ``Program`` of fused kernels and library steps."""
    consts, jaxpr = inline_calls(closed)
    # after inlining: these look across pjit boundaries
    jaxpr = transposed_products(outer_products(jaxpr))
    fusion = _Fusion(jaxpr)
    while True:
        built = fusion.build_all()
        if built is None:
            continue
        extra = fusion.duplicates(built)
        if not extra:
            break
        fusion.materialized |= extra
    steps: list[Step] = []
    for eqn in jaxpr.eqns:
        kind = fusion.kinds[id(eqn)]
        if kind == "library":
            steps.append(LibraryStep(eqn))
            continue
        out = eqn.out_binders[0]
        if out not in fusion.materialized:
            continue
        if _is_view_step(eqn, fusion):
            steps.append(LibraryStep(eqn))
            continue
        kernel, inputs, _ = built[out]
        steps.append(KernelStep(kernel, tuple(inputs), (out,)))
    return Program(tuple(consts), jaxpr.invars, tuple(steps), tuple(jaxpr.outs))


def format_program(program: Program) -> str:
    """A readable listing of the steps of ``program`` (kernels in full)."""
    names: dict[Var, str] = {}

    def name(v: Any) -> str:
        if isinstance(v, Literal):
            return repr(v)
        if v not in names:
            names[v] = f"v{len(names)}"
        return names[v]

    lines = [
        "program ("
        + ", ".join(name(v) for v, _ in program.consts)
        + "; "
        + ", ".join(name(v) for v in program.invars)
        + ")"
    ]
    for step in program.steps:
        if isinstance(step, KernelStep):
            outs = ", ".join(name(v) for v in step.outputs)
            ins = ", ".join(name(v) for v in step.inputs)
            lines.append(f"  {outs} = kernel({ins})")
            lines.extend("    " + line for line in str(step.kernel).splitlines())
        else:
            outs = ", ".join(name(v) for v in step.eqn.out_binders)
            ins = ", ".join(name(v) for v in step.eqn.inputs)
            lines.append(f"  {outs} = library {step.eqn.primitive.name}({ins})")
    lines.append("  return " + ", ".join(name(v) for v in program.outs))
    return "\n".join(lines)
