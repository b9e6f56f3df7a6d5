"""The kernel IR: a small, closed set of scalar ops over an index space, shared by backends.

A ``Kernel`` is a loop nest over the index space ``outer + inner``. ``inputs`` are
row-major buffers read with one element stride per index-space axis (0 broadcasts)
plus a constant offset, so broadcasts, transposes, reshapes, slices and reversals of an
input are all a choice of strides. ``nodes`` is an expression DAG in topological order:
each ``Node`` applies one op of ``OPS`` to earlier nodes (by index). ``reduce`` nodes fold
their operand over the ``inner`` axes with a combiner (``add``, ``mul``, ``max``, ``min``,
``and``, ``or``, ``xor``) and are constant over them; ``stores`` write nodes to output
buffers with strides over the index space (0 on the inner axes for reduced values:
such *outer* stores are written once per outer index, the others in the store pass).

Levels: a node is *inner* if it varies along the inner axes (a load with a nonzero inner
stride, or any inner argument; a ``reduce`` never is), else *outer*. Evaluation per outer
index: the reductions run in passes over the inner axes, ordered by how many reductions
they depend on (``reduce_depths``); then inner stores run in one more pass; then outer
values are stored. A softmax row is one kernel: pass 1 takes the max, pass 2 sums
``exp(x - max)``, the store pass writes ``exp(x - max) / sum``.

The set of ops is closed: every backend implements every op of ``OPS`` for every dtype
the op accepts. ``verify`` checks a kernel; ``format_kernel`` prints it in a stable text
form, which is also what the compile caches hash.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from fxgrad.dtypes import SHORT_NAMES

#: dtypes a kernel can hold, by NumPy name
DTYPES: tuple[str, ...] = (
    "bool",
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "float32",
    "float64",
)

_SHORT = {name: SHORT_NAMES[name] for name in DTYPES}

COMBINERS: tuple[str, ...] = ("add", "mul", "max", "min", "and", "or", "xor")


@dataclass(frozen=True, slots=True)
class OpSpec:
    """What an op accepts and returns.

    Attributes:
      arity: number of arguments (``select`` counts its predicate).
      kinds: NumPy dtype kinds accepted for the (non-predicate) arguments: ``f`` float,
        ``i`` signed, ``u`` unsigned, ``b`` bool.
      result: ``"same"`` (the argument dtype), ``"bool"`` or ``"given"`` (the node's own
        dtype, for ``convert``/``bitcast``/``const``/``load``).
    """

    arity: int
    kinds: str
    result: str = "same"


_F, _NUM, _ANY, _INT, _IB = "f", "fiu", "fiub", "iu", "iub"

#: the closed set of kernel ops
OPS: dict[str, OpSpec] = {
    # leaves
    "const": OpSpec(0, _ANY, "given"),
    "load": OpSpec(0, _ANY, "given"),
    # arithmetic (integers wrap; bool add/mul/max/min are or/and/or/and, as in NumPy)
    "add": OpSpec(2, _ANY),
    "sub": OpSpec(2, _NUM),
    "mul": OpSpec(2, _ANY),
    "div": OpSpec(2, _NUM),  # integers: C division towards zero, x / 0 = 0
    "rem": OpSpec(2, _NUM),  # C fmod; integers: x % 0 = x
    "neg": OpSpec(1, _NUM),
    "abs": OpSpec(1, _NUM),
    "sign": OpSpec(1, _NUM),
    "max": OpSpec(2, _ANY),  # floats: NaN-propagating
    "min": OpSpec(2, _ANY),
    "fma": OpSpec(3, _F),  # x * y + z, rounded once
    "copysign": OpSpec(2, _F),
    "floor": OpSpec(1, _F),
    "ceil": OpSpec(1, _F),
    "round": OpSpec(1, _F),  # half away from zero
    "round_even": OpSpec(1, _F),  # half to even
    "sqrt": OpSpec(1, _F),
    "is_finite": OpSpec(1, _F, "bool"),
    # transcendental (decompose.py expands the common ones into the ops above)
    "exp": OpSpec(1, _F),
    "exp2": OpSpec(1, _F),
    "expm1": OpSpec(1, _F),
    "log": OpSpec(1, _F),
    "log1p": OpSpec(1, _F),
    "tanh": OpSpec(1, _F),
    "logistic": OpSpec(1, _F),
    "sin": OpSpec(1, _F),
    "cos": OpSpec(1, _F),
    "tan": OpSpec(1, _F),
    "asin": OpSpec(1, _F),
    "acos": OpSpec(1, _F),
    "atan": OpSpec(1, _F),
    "sinh": OpSpec(1, _F),
    "cosh": OpSpec(1, _F),
    "asinh": OpSpec(1, _F),
    "acosh": OpSpec(1, _F),
    "atanh": OpSpec(1, _F),
    "cbrt": OpSpec(1, _F),
    "erf": OpSpec(1, _F),
    "erfc": OpSpec(1, _F),
    "lgamma": OpSpec(1, _F),
    "atan2": OpSpec(2, _F),
    "pow": OpSpec(2, _F),
    "nextafter": OpSpec(2, _F),
    # comparisons (floats: ordered, except ne)
    "eq": OpSpec(2, _ANY, "bool"),
    "ne": OpSpec(2, _ANY, "bool"),
    "lt": OpSpec(2, _ANY, "bool"),
    "le": OpSpec(2, _ANY, "bool"),
    "gt": OpSpec(2, _ANY, "bool"),
    "ge": OpSpec(2, _ANY, "bool"),
    # bitwise
    "and": OpSpec(2, _IB),
    "or": OpSpec(2, _IB),
    "xor": OpSpec(2, _IB),
    "not": OpSpec(1, _IB),
    "shift_left": OpSpec(2, _INT),  # shifts by >= the bit width give 0 (or -1)
    "shift_right_arithmetic": OpSpec(2, _INT),
    "shift_right_logical": OpSpec(2, _INT),
    "popcount": OpSpec(1, _INT),
    # selection and conversion
    "select": OpSpec(3, _ANY),  # select(pred, on_true, on_false)
    "convert": OpSpec(1, _ANY, "given"),  # floats to ints saturate; to bool: x != 0
    "bitcast": OpSpec(1, "fiu", "given"),  # same width
    # reduction over the inner axes
    "reduce": OpSpec(1, _ANY),
}

#: ops that backends may compute with a library call (no vectorised form of their own)
LIBM_OPS: frozenset[str] = frozenset(
    "exp exp2 expm1 log log1p tanh logistic sin cos tan asin acos atan sinh cosh asinh "
    "acosh atanh cbrt erf erfc lgamma atan2 pow nextafter".split()
)


@dataclass(frozen=True, slots=True)
class Node:
    """``op(*args)`` of dtype ``dtype``; ``param`` is the const value, load input or combiner."""

    op: str
    args: tuple[int, ...]
    dtype: str
    param: Any = None


@dataclass(frozen=True, slots=True)
class Input:
    """A row-major buffer read at ``offset + sum(index[d] * strides[d])``."""

    dtype: str
    strides: tuple[int, ...]
    offset: int = 0


@dataclass(frozen=True, slots=True)
class Store:
    """Node ``node`` written at ``sum(index[d] * strides[d])`` of a fresh output buffer."""

    node: int
    dtype: str
    strides: tuple[int, ...]
    size: int


@dataclass(frozen=True, slots=True)
class Kernel:
    """A fused loop nest: see the module docstring."""

    outer: tuple[int, ...]
    inner: tuple[int, ...]
    inputs: tuple[Input, ...]
    nodes: tuple[Node, ...]
    stores: tuple[Store, ...]

    @property
    def domain(self) -> tuple[int, ...]:
        return self.outer + self.inner

    @property
    def has_reduction(self) -> bool:
        return any(n.op == "reduce" for n in self.nodes)

    def __str__(self) -> str:
        return format_kernel(self)


class KernelIRError(AssertionError):
    """A kernel violates an invariant of the IR (an internal error in lowering)."""


def short_dtype(dtype: str) -> str:
    return _SHORT.get(dtype, dtype)


def dtype_kind(dtype: str) -> str:
    return np.dtype(dtype).kind


def dtype_name(dtype: Any) -> str:
    """The kernel-IR name of a NumPy dtype (``"float32"``...), memoized: NumPy computes
    ``dtype.name`` in Python, about 5us a call, and lowering asks once per value."""
    name = _DTYPE_NAMES.get(dtype)
    if name is None:
        name = _DTYPE_NAMES[dtype] = np.dtype(dtype).name
    return name


_DTYPE_NAMES: dict[Any, str] = {}


def combiner_init(combiner: str, dtype: str) -> Any:
    """The identity of ``combiner`` on ``dtype`` (a Python scalar)."""
    dt = np.dtype(dtype)
    kind = dt.kind
    if combiner in ("add", "or", "xor"):
        return False if kind == "b" else (0.0 if kind == "f" else 0)
    if combiner == "mul":
        return True if kind == "b" else (1.0 if kind == "f" else 1)
    if combiner == "and":
        return True if kind == "b" else (-1 if kind == "i" else int(np.iinfo(dt).max))
    if combiner == "max":
        if kind == "b":
            return False
        return float("-inf") if kind == "f" else int(np.iinfo(dt).min)
    if combiner == "min":
        if kind == "b":
            return True
        return float("inf") if kind == "f" else int(np.iinfo(dt).max)
    raise KernelIRError(f"unknown combiner {combiner!r}")


# ---------------------------------------------------------------------------------------
# Levels and passes
# ---------------------------------------------------------------------------------------


def inner_levels(kernel: Kernel) -> list[bool]:
    """For each node, whether it varies along the inner axes."""
    n_outer = len(kernel.outer)
    inner = []
    for node in kernel.nodes:
        if node.op == "load":
            strides = kernel.inputs[node.param].strides
            inner.append(any(s != 0 for s in strides[n_outer:]))
        elif node.op == "reduce":
            inner.append(False)
        else:
            inner.append(any(inner[a] for a in node.args))
    return inner


def store_is_inner(kernel: Kernel, store: Store) -> bool:
    """Whether ``store`` writes along the inner axes (in the store pass after reductions)."""
    return any(s != 0 for s in store.strides[len(kernel.outer) :])


def reduce_depths(kernel: Kernel) -> list[int]:
    """For each node, how many nested reductions it depends on (``reduce`` included)."""
    depths: list[int] = []
    for node in kernel.nodes:
        d = max((depths[a] for a in node.args), default=0)
        depths.append(d + 1 if node.op == "reduce" else d)
    return depths


# ---------------------------------------------------------------------------------------
# Verifier
# ---------------------------------------------------------------------------------------


def _fail(kernel: Kernel, message: str) -> None:
    raise KernelIRError(f"{message}\n{format_kernel(kernel)}")


def _check_node(kernel: Kernel, i: int, node: Node) -> None:
    spec = OPS.get(node.op)
    if spec is None:
        _fail(kernel, f"%{i}: unknown op {node.op!r}")
    if node.dtype not in DTYPES:
        _fail(kernel, f"%{i}: unsupported dtype {node.dtype!r}")
    if len(node.args) != spec.arity:
        _fail(kernel, f"%{i}: {node.op} takes {spec.arity} arguments, got {len(node.args)}")
    if any(not 0 <= a < i for a in node.args):
        _fail(kernel, f"%{i}: arguments {node.args} must refer to earlier nodes")
    arg_dtypes = [kernel.nodes[a].dtype for a in node.args]
    if node.op == "select":
        if arg_dtypes[0] != "bool":
            _fail(kernel, f"%{i}: select predicate must be bool, got {arg_dtypes[0]}")
        arg_dtypes = arg_dtypes[1:]
    if len(set(arg_dtypes)) > 1:
        _fail(kernel, f"%{i}: {node.op} arguments have different dtypes {arg_dtypes}")
    if arg_dtypes and dtype_kind(arg_dtypes[0]) not in spec.kinds:
        _fail(kernel, f"%{i}: {node.op} does not accept {arg_dtypes[0]}")
    if spec.result == "same" and arg_dtypes and node.dtype != arg_dtypes[0]:
        _fail(kernel, f"%{i}: {node.op} of {arg_dtypes[0]} cannot have dtype {node.dtype}")
    if spec.result == "bool" and node.dtype != "bool":
        _fail(kernel, f"%{i}: {node.op} returns bool, not {node.dtype}")
    if node.op == "load":
        if not isinstance(node.param, int) or not 0 <= node.param < len(kernel.inputs):
            _fail(kernel, f"%{i}: load of a missing input {node.param!r}")
        if kernel.inputs[node.param].dtype != node.dtype:
            _fail(kernel, f"%{i}: load dtype differs from its input's")
    elif node.op == "bitcast":
        if np.dtype(node.dtype).itemsize != np.dtype(arg_dtypes[0]).itemsize:
            _fail(kernel, f"%{i}: bitcast between different widths")
    elif node.op == "reduce":
        if node.param not in COMBINERS:
            _fail(kernel, f"%{i}: unknown combiner {node.param!r}")
        if not kernel.inner:
            _fail(kernel, f"%{i}: reduce in a kernel without inner axes")
    elif node.op == "const" and not isinstance(node.param, bool | int | float):
        _fail(kernel, f"%{i}: const value must be a Python scalar, got {node.param!r}")


def verify(kernel: Kernel) -> None:
    """Raise ``KernelIRError`` unless ``kernel`` satisfies every invariant of the IR."""
    ndim = len(kernel.domain)
    if any(not isinstance(s, int) or s < 0 for s in kernel.domain):
        _fail(kernel, f"bad index space {kernel.domain}")
    for j, inp in enumerate(kernel.inputs):
        if inp.dtype not in DTYPES or len(inp.strides) != ndim:
            _fail(kernel, f"in{j}: bad dtype or strides")
    for i, node in enumerate(kernel.nodes):
        _check_node(kernel, i, node)
    inner = inner_levels(kernel)
    if not kernel.stores:
        _fail(kernel, "a kernel must store at least one value")
    for k, store in enumerate(kernel.stores):
        if not 0 <= store.node < len(kernel.nodes):
            _fail(kernel, f"out{k}: stores a missing node")
        if kernel.nodes[store.node].dtype != store.dtype:
            _fail(kernel, f"out{k}: dtype differs from its node's")
        if len(store.strides) != ndim:
            _fail(kernel, f"out{k}: needs one stride per index-space axis")
        if inner[store.node] and not store_is_inner(kernel, store):
            _fail(kernel, f"out{k}: a value varying along the inner axes needs inner strides")


# ---------------------------------------------------------------------------------------
# Printer
# ---------------------------------------------------------------------------------------


def _format_param(node: Node) -> str:
    if node.op == "const":
        return f"[{node.param!r}]"
    if node.op == "load":
        return f"[in{node.param}]"
    if node.param is not None:
        return f"[{node.param}]"
    return ""


def format_kernel(kernel: Kernel) -> str:
    """A stable text form of ``kernel`` (equal kernels print equally; caches hash it)."""
    lines = [f"kernel outer={kernel.outer} inner={kernel.inner}"]
    for j, inp in enumerate(kernel.inputs):
        lines.append(f"  in{j}: {short_dtype(inp.dtype)} strides={inp.strides} offset={inp.offset}")
    for i, node in enumerate(kernel.nodes):
        args = " ".join(f"%{a}" for a in node.args)
        text = f"  %{i} = {node.op}{_format_param(node)} {args}".rstrip()
        lines.append(f"{text} : {short_dtype(node.dtype)}")
    for k, store in enumerate(kernel.stores):
        lines.append(
            f"  out{k}: {short_dtype(store.dtype)}[{store.size}] = %{store.node} "
            f"strides={store.strides}"
        )
    return "\n".join(lines)
