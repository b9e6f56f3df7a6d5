"""Kernel IR -> LLVM IR text -> optimised native object code, through llvmlite.

``render`` writes one LLVM module per kernel (``EMITTERS`` is the one table from kernel op
to LLVM instructions); ``compile_object`` parses and verifies it, runs LLVM's O3 pipeline
for the host CPU with loop and SLP vectorisation, and emits an object file;
``load_object`` places it in memory (``elf_loader``, or a process-wide MCJIT engine) and
returns function addresses. Rendering needs no LLVM; ``llvmlite.binding``, which loads
all of LLVM (30 to 45 ms), is imported when something is first compiled or linked.

Each module defines ``NAME(objects..., i64 start, i64 end)``: its pointer arguments are
the NumPy arrays themselves (``PyArrayObject*``; the data pointer is read at a fixed
offset, checked at start-up), inputs first, then outputs, and it runs the outer index
range ``[start, end)`` of the first outer axis (of the only one, for a flat elementwise
kernel), so a caller can split a big kernel across threads. A kernel with no outer axes
and one reduction pass also gets ``NAME_part(objects..., start, end, acc*)`` (reduce the
slice ``[start, end)`` of the first inner axis into 8-byte accumulator slots) and
``NAME_fin(objects..., acc*, nparts)`` (combine the slots, finish, store).

Numerics: no fast-math flags on elementwise code. Transcendentals are expanded by
``decompose`` (vectorisable polynomials, error bounds stated there) or call libm (scalar,
correctly rounded or nearly so). Reductions may reorder (``reassoc`` on the accumulator
only, so they vectorise into lane-wise partial sums): float32 sums accumulate in float64
(relative error <= 2**-24 + n 2**-53 of sum |x|); float64 sums add blocks of 256
elements (vector partial sums) and combine the block sums with Neumaier's compensated
summation (error <= (256 + 2) 2**-53 sum |x|, against NumPy's pairwise O(log n)). Max
and min propagate NaN, as NumPy's do.
"""

from __future__ import annotations

import struct
import threading
from collections.abc import Callable
from types import ModuleType
from typing import TYPE_CHECKING, Any

import llvmlite

from fxgrad.lowering import elf_loader
from fxgrad.lowering.kernel_ir import Kernel, Node, dtype_kind

#: bump when the generated code changes (cache keys also hash the codegen sources)
CODEGEN_VERSION = "1"
#: float64 sums add blocks of this many elements before compensated accumulation
SUM_BLOCK = 256
#: reductions over a strided axis keep this many accumulators (one per output) at once
COLUMN_TILE = 1024

_LTYPE = {
    "bool": "i1",
    "int8": "i8",
    "int16": "i16",
    "int32": "i32",
    "int64": "i64",
    "uint8": "i8",
    "uint16": "i16",
    "uint32": "i32",
    "uint64": "i64",
    "float32": "float",
    "float64": "double",
}
_BITS = {"i1": 1, "i8": 8, "i16": 16, "i32": 32, "i64": 64, "float": 32, "double": 64}


def ltype(dtype: str) -> str:
    """The LLVM register type of ``dtype``."""
    return _LTYPE[dtype]


def mtype(dtype: str) -> str:
    """The LLVM memory type of ``dtype`` (bool is a byte in NumPy arrays)."""
    return "i8" if dtype == "bool" else _LTYPE[dtype]


def const_text(value: Any, dtype: str) -> str:
    """An LLVM constant of ``dtype`` (floats as exact hex doubles)."""
    if dtype == "bool":
        return "true" if value else "false"
    if dtype.startswith("float"):
        v = float(value)
        if dtype == "float32":
            v = struct.unpack("<f", struct.pack("<f", v))[0] if v == v else v
        bits = struct.unpack("<Q", struct.pack("<d", v))[0]
        return f"0x{bits:016X}"
    bits = _BITS[_LTYPE[dtype]]
    v = int(value) & ((1 << bits) - 1)
    return str(v - (1 << bits) if v >= 1 << (bits - 1) else v)


# ---------------------------------------------------------------------------------------
# A function being written
# ---------------------------------------------------------------------------------------


class IRFunction:
    """Lines of one LLVM function, with fresh names and an entry block for allocas."""

    def __init__(self, decls: set[str]):
        self.decls = decls
        self.allocas: list[str] = []
        self.lines: list[str] = []
        self.counter = 0
        self.current = "main"
        #: loops emitted while set are left scalar (see ``scalar_loops``)
        self.scalar = False

    def fresh(self, hint: str = "t") -> str:
        self.counter += 1
        return f"{hint}{self.counter}"

    def inst(self, text: str) -> str:
        name = "%" + self.fresh()
        self.lines.append(f"  {name} = {text}")
        return name

    def line(self, text: str) -> None:
        self.lines.append(f"  {text}")

    def block(self, label: str) -> None:
        self.lines.append(f"{label}:")
        self.current = label

    def alloca(self, ty: str) -> str:
        name = "%" + self.fresh("slot")
        self.allocas.append(f"  {name} = alloca {ty}")
        return name

    def call(
        self, ret: str, fname: str, args: list[tuple[str, str]], decl: str | None = None
    ) -> str:
        self.decls.add(decl or f"declare {ret} @{fname}({', '.join(t for t, _ in args)})")
        text = ", ".join(f"{t} {v}" for t, v in args)
        return self.inst(f"call {ret} @{fname}({text})")

    def loop(
        self,
        lo: str,
        hi: str,
        body: Callable[[str], None],
        step: int = 1,
        guard: Callable[[], str] | None = None,
    ) -> None:
        """``for (i = lo; i < hi && guard(); i += step) body(i)`` (``guard`` emits code
        computing an ``i1`` before each step)."""
        head, inside, done = self.fresh("head"), self.fresh("body"), self.fresh("done")
        pre = self.current
        self.line(f"br label %{head}")
        self.block(head)
        i, nxt = "%" + self.fresh("i"), "%" + self.fresh("inext")
        phi_at = len(self.lines)
        self.lines.append("")  # the phi, written once the latch is known
        cond = self.inst(f"icmp slt i64 {i}, {hi}")
        if guard is not None:
            cond = self.inst(f"and i1 {cond}, {guard()}")
        self.line(f"br i1 {cond}, label %{inside}, label %{done}")
        self.block(inside)
        body(i)
        latch = self.current
        self.lines.append(f"  {nxt} = add i64 {i}, {step}")
        self.line(
            f"br label %{head}" + (f", !llvm.loop {self._scalar_loop_id()}" if self.scalar else "")
        )
        self.lines[phi_at] = f"  {i} = phi i64 [{lo}, %{pre}], [{nxt}, %{latch}]"
        self.block(done)

    def scalar_loops(self, emit: Callable[[], None]) -> None:
        """Run ``emit`` with the loops it writes marked not to be vectorised, interleaved
        or unrolled: code for rare cases (the precise re-run of a row whose guard failed,
        which calls libm anyway), where those passes only cost compile time."""
        previous, self.scalar = self.scalar, True
        try:
            emit()
        finally:
            self.scalar = previous

    def _scalar_loop_id(self) -> str:
        """A fresh loop-ID metadata node (module-wide, in ``decls``) for a scalar loop."""
        self.decls.update(_SCALAR_LOOP_HINTS)
        # the hints are !0 to !2; loop IDs take the numbers after every node so far
        number = sum(1 for d in self.decls if d.startswith("!"))
        self.decls.add(f"!{number} = distinct !{{!{number}, !0, !1, !2}}")
        return f"!{number}"

    def branch_if(self, cond: str, then: Callable[[], None]) -> None:
        yes, done = self.fresh("then"), self.fresh("endif")
        self.line(f"br i1 {cond}, label %{yes}, label %{done}")
        self.block(yes)
        then()
        self.line(f"br label %{done}")
        self.block(done)

    def text(self, header: str) -> str:
        """The function: ``header`` is everything between ``define`` and ``{``."""
        body = ["entry:", *self.allocas, "  br label %main", "main:", *self.lines, "  ret void"]
        return f"define {header} {{\n" + "\n".join(body) + "\n}\n"


#: the loop hints of ``IRFunction.scalar_loops`` (metadata nodes !0 to !2)
_SCALAR_LOOP_HINTS = (
    '!0 = !{!"llvm.loop.vectorize.enable", i1 false}',
    '!1 = !{!"llvm.loop.interleave.count", i32 1}',
    '!2 = !{!"llvm.loop.unroll.disable"}',
)


# ---------------------------------------------------------------------------------------
# The op table
# ---------------------------------------------------------------------------------------


def _intrinsic(fn: IRFunction, name: str, ty: str, args: list[str]) -> str:
    suffix = {"float": "f32", "double": "f64"}.get(ty, ty)
    return fn.call(ty, f"llvm.{name}.{suffix}", [(ty, a) for a in args])


_LIBM = {
    "exp": ("llvm.exp", None),
    "exp2": ("llvm.exp2", None),
    "log": ("llvm.log", None),
    "sin": ("llvm.sin", None),
    "cos": ("llvm.cos", None),
    "tan": ("llvm.tan", None),
    "asin": ("llvm.asin", None),
    "acos": ("llvm.acos", None),
    "atan": ("llvm.atan", None),
    "sinh": ("llvm.sinh", None),
    "cosh": ("llvm.cosh", None),
    "tanh": ("llvm.tanh", None),
    "pow": ("llvm.pow", None),
    "atan2": ("llvm.atan2", None),
    "expm1": (None, "expm1"),
    "log1p": (None, "log1p"),
    "asinh": (None, "asinh"),
    "acosh": (None, "acosh"),
    "atanh": (None, "atanh"),
    "cbrt": (None, "cbrt"),
    "erf": (None, "erf"),
    "erfc": (None, "erfc"),
    "lgamma": (None, "lgamma"),
    "nextafter": (None, "nextafter"),
}


def _libm(op: str) -> Callable:
    intrinsic, cname = _LIBM[op]

    def emit(fn: IRFunction, node: Node, args: list[str], dt: str) -> str:
        ty = ltype(dt)
        if intrinsic is not None:
            suffix = "f32" if ty == "float" else "f64"
            return fn.call(ty, f"{intrinsic}.{suffix}", [(ty, a) for a in args])
        name = cname + ("f" if ty == "float" else "")
        return fn.call(ty, name, [(ty, a) for a in args])

    return emit


def _is_float(dt: str) -> bool:
    return dtype_kind(dt) == "f"


def _signed(dt: str) -> bool:
    return dtype_kind(dt) == "i"


def _binary(float_op: str, int_op: str, bool_op: str | None = None) -> Callable:
    def emit(fn: IRFunction, node: Node, args: list[str], dt: str) -> str:
        ty = ltype(dt)
        if _is_float(dt):
            return fn.inst(f"{float_op} {ty} {args[0]}, {args[1]}")
        op = bool_op if dt == "bool" and bool_op else int_op
        return fn.inst(f"{op} {ty} {args[0]}, {args[1]}")

    return emit


def _div(fn: IRFunction, node: Node, args: list[str], dt: str) -> str:
    x, y = args
    ty = ltype(dt)
    if _is_float(dt):
        return fn.inst(f"fdiv {ty} {x}, {y}")
    zero = fn.inst(f"icmp eq {ty} {y}, 0")
    if not _signed(dt):
        safe = fn.inst(f"select i1 {zero}, {ty} 1, {ty} {y}")
        q = fn.inst(f"udiv {ty} {x}, {safe}")
        return fn.inst(f"select i1 {zero}, {ty} 0, {ty} {q}")
    minus_one = fn.inst(f"icmp eq {ty} {y}, -1")
    bad = fn.inst(f"or i1 {zero}, {minus_one}")
    safe = fn.inst(f"select i1 {bad}, {ty} 1, {ty} {y}")
    q = fn.inst(f"sdiv {ty} {x}, {safe}")
    neg = fn.inst(f"sub {ty} 0, {x}")
    q = fn.inst(f"select i1 {minus_one}, {ty} {neg}, {ty} {q}")
    return fn.inst(f"select i1 {zero}, {ty} 0, {ty} {q}")


def _rem(fn: IRFunction, node: Node, args: list[str], dt: str) -> str:
    x, y = args
    ty = ltype(dt)
    if _is_float(dt):
        return fn.inst(f"frem {ty} {x}, {y}")
    zero = fn.inst(f"icmp eq {ty} {y}, 0")
    if _signed(dt):
        minus_one = fn.inst(f"icmp eq {ty} {y}, -1")
        bad = fn.inst(f"or i1 {zero}, {minus_one}")
        safe = fn.inst(f"select i1 {bad}, {ty} 1, {ty} {y}")
        r = fn.inst(f"srem {ty} {x}, {safe}")
    else:
        safe = fn.inst(f"select i1 {zero}, {ty} 1, {ty} {y}")
        r = fn.inst(f"urem {ty} {x}, {safe}")
    return fn.inst(f"select i1 {zero}, {ty} {x}, {ty} {r}")


def _neg(fn: IRFunction, node: Node, args: list[str], dt: str) -> str:
    ty = ltype(dt)
    if _is_float(dt):
        return fn.inst(f"fneg {ty} {args[0]}")
    return fn.inst(f"sub {ty} 0, {args[0]}")


def _abs(fn: IRFunction, node: Node, args: list[str], dt: str) -> str:
    ty = ltype(dt)
    if _is_float(dt):
        return _intrinsic(fn, "fabs", ty, args)
    if not _signed(dt):
        return args[0]
    decl = f"declare {ty} @llvm.abs.{ty}({ty}, i1)"
    return fn.call(ty, f"llvm.abs.{ty}", [(ty, args[0]), ("i1", "false")], decl)


def _sign(fn: IRFunction, node: Node, args: list[str], dt: str) -> str:
    x = args[0]
    ty = ltype(dt)
    if _is_float(dt):
        pos = fn.inst(f"fcmp ogt {ty} {x}, 0.0")
        neg = fn.inst(f"fcmp olt {ty} {x}, 0.0")
        one, minus = const_text(1.0, dt), const_text(-1.0, dt)
        r = fn.inst(f"select i1 {neg}, {ty} {minus}, {ty} {x}")
        return fn.inst(f"select i1 {pos}, {ty} {one}, {ty} {r}")
    if not _signed(dt):
        nz = fn.inst(f"icmp ne {ty} {x}, 0")
        return fn.inst(f"zext i1 {nz} to {ty}")
    pos = fn.inst(f"zext i1 {fn.inst(f'icmp sgt {ty} {x}, 0')} to {ty}")
    neg = fn.inst(f"zext i1 {fn.inst(f'icmp slt {ty} {x}, 0')} to {ty}")
    return fn.inst(f"sub {ty} {pos}, {neg}")


def _extremum(which: str) -> Callable:
    def emit(fn: IRFunction, node: Node, args: list[str], dt: str) -> str:
        ty = ltype(dt)
        if _is_float(dt):
            return _intrinsic(fn, "maximum" if which == "max" else "minimum", ty, args)
        if dt == "bool":
            return fn.inst(f"{'or' if which == 'max' else 'and'} i1 {args[0]}, {args[1]}")
        prefix = "s" if _signed(dt) else "u"
        return _intrinsic(fn, f"{prefix}{which}", ty, args)

    return emit


def _float_intrinsic(name: str) -> Callable:
    def emit(fn: IRFunction, node: Node, args: list[str], dt: str) -> str:
        return _intrinsic(fn, name, ltype(dt), args)

    return emit


def _is_finite(fn: IRFunction, node: Node, args: list[str], dt: str) -> str:
    ty = ltype(dt)
    a = _intrinsic(fn, "fabs", ty, args)
    return fn.inst(f"fcmp one {ty} {a}, {const_text(float('inf'), dt)}")


_FCMP = {"eq": "oeq", "ne": "une", "lt": "olt", "le": "ole", "gt": "ogt", "ge": "oge"}
_ICMP_S = {"eq": "eq", "ne": "ne", "lt": "slt", "le": "sle", "gt": "sgt", "ge": "sge"}
_ICMP_U = {"eq": "eq", "ne": "ne", "lt": "ult", "le": "ule", "gt": "ugt", "ge": "uge"}


def _compare(op: str) -> Callable:
    def emit(fn: IRFunction, node: Node, args: list[str], dt: str) -> str:
        ty = ltype(dt)
        if _is_float(dt):
            return fn.inst(f"fcmp {_FCMP[op]} {ty} {args[0]}, {args[1]}")
        table = _ICMP_S if _signed(dt) else _ICMP_U
        return fn.inst(f"icmp {table[op]} {ty} {args[0]}, {args[1]}")

    return emit


def _not(fn: IRFunction, node: Node, args: list[str], dt: str) -> str:
    ty = ltype(dt)
    return fn.inst(f"xor {ty} {args[0]}, {'true' if dt == 'bool' else -1}")


def _shift(kind: str) -> Callable:
    def emit(fn: IRFunction, node: Node, args: list[str], dt: str) -> str:
        x, y = args
        ty = ltype(dt)
        bits = _BITS[ty]
        too_far = fn.inst(f"icmp uge {ty} {y}, {bits}")
        if kind == "left":
            shifted = fn.inst(f"shl {ty} {x}, {fn.inst(f'and {ty} {y}, {bits - 1}')}")
            return fn.inst(f"select i1 {too_far}, {ty} 0, {ty} {shifted}")
        if kind == "arithmetic" and _signed(dt):
            amount = fn.inst(f"select i1 {too_far}, {ty} {bits - 1}, {ty} {y}")
            return fn.inst(f"ashr {ty} {x}, {amount}")
        shifted = fn.inst(f"lshr {ty} {x}, {fn.inst(f'and {ty} {y}, {bits - 1}')}")
        return fn.inst(f"select i1 {too_far}, {ty} 0, {ty} {shifted}")

    return emit


def _popcount(fn: IRFunction, node: Node, args: list[str], dt: str) -> str:
    return _intrinsic(fn, "ctpop", ltype(dt), args)


def _fma(fn: IRFunction, node: Node, args: list[str], dt: str) -> str:
    return _intrinsic(fn, "fma", ltype(dt), args)


def _select(fn: IRFunction, node: Node, args: list[str], dt: str) -> str:
    ty = ltype(dt)
    return fn.inst(f"select i1 {args[0]}, {ty} {args[1]}, {ty} {args[2]}")


def convert(fn: IRFunction, value: str, src: str, dst: str) -> str:
    """``value`` of dtype ``src`` converted to ``dst`` (NumPy's ``astype``, saturating)."""
    if src == dst:
        return value
    st, dt_ = ltype(src), ltype(dst)
    sk, dk = dtype_kind(src), dtype_kind(dst)
    if dst == "bool":
        if sk == "f":
            return fn.inst(f"fcmp une {st} {value}, 0.0")
        return fn.inst(f"icmp ne {st} {value}, 0")
    if sk == "f" and dk == "f":
        op = "fpext" if _BITS[dt_] > _BITS[st] else "fptrunc"
        return fn.inst(f"{op} {st} {value} to {dt_}")
    if sk == "f":
        return _float_to_int(fn, value, src, dst)
    if dk == "f":
        op = "sitofp" if sk == "i" else "uitofp"
        return fn.inst(f"{op} {st} {value} to {dt_}")
    if _BITS[dt_] == _BITS[st]:
        return value
    if _BITS[dt_] < _BITS[st]:
        return fn.inst(f"trunc {st} {value} to {dt_}")
    op = "sext" if sk == "i" else "zext"
    return fn.inst(f"{op} {st} {value} to {dt_}")


def _float_to_int(fn: IRFunction, value: str, src: str, dst: str) -> str:
    """NumPy's float -> int cast on x86: NaN and out-of-range values give INT_MIN of the
    32/64-bit conversion, narrower and unsigned types truncate that (as C casts via int)."""
    st, dt_ = ltype(src), ltype(dst)
    if dst == "uint64":
        return fn.call(
            dt_, f"llvm.fptoui.sat.i64.{'f32' if st == 'float' else 'f64'}", [(st, value)]
        )
    wide = "i64" if dst in ("int64", "uint32") else "i32"
    bits = _BITS[wide]
    lo = const_text(-(2.0 ** (bits - 1)), src)
    hi = const_text(2.0 ** (bits - 1), src)
    above = fn.inst(f"fcmp oge {st} {value}, {lo}")
    below = fn.inst(f"fcmp olt {st} {value}, {hi}")
    ok = fn.inst(f"and i1 {above}, {below}")
    raw = fn.inst(f"freeze {wide} {fn.inst(f'fptosi {st} {value} to {wide}')}")
    result = fn.inst(f"select i1 {ok}, {wide} {raw}, {wide} {-(1 << (bits - 1))}")
    if _BITS[dt_] < bits:
        result = fn.inst(f"trunc {wide} {result} to {dt_}")
    return result


def _convert(fn: IRFunction, node: Node, args: list[str], dt: str) -> str:
    return convert(fn, args[0], dt, node.dtype)


def _bitcast(fn: IRFunction, node: Node, args: list[str], dt: str) -> str:
    return fn.inst(f"bitcast {ltype(dt)} {args[0]} to {ltype(node.dtype)}")


#: kernel op -> emitter ``(fn, node, argument values, argument dtype) -> value``
EMITTERS: dict[str, Callable[[IRFunction, Node, list[str], str], str]] = {
    "add": _binary("fadd", "add", "or"),
    "sub": _binary("fsub", "sub"),
    "mul": _binary("fmul", "mul", "and"),
    "div": _div,
    "rem": _rem,
    "neg": _neg,
    "abs": _abs,
    "sign": _sign,
    "max": _extremum("max"),
    "min": _extremum("min"),
    "fma": _fma,
    "copysign": _float_intrinsic("copysign"),
    "floor": _float_intrinsic("floor"),
    "ceil": _float_intrinsic("ceil"),
    "round": _float_intrinsic("round"),
    "round_even": _float_intrinsic("roundeven"),
    "sqrt": _float_intrinsic("sqrt"),
    "is_finite": _is_finite,
    **{op: _libm(op) for op in _LIBM},
    "logistic": None,  # always expanded by decompose
    **{op: _compare(op) for op in _FCMP},
    "and": _binary("and", "and"),
    "or": _binary("or", "or"),
    "xor": _binary("xor", "xor"),
    "not": _not,
    "shift_left": _shift("left"),
    "shift_right_arithmetic": _shift("arithmetic"),
    "shift_right_logical": _shift("logical"),
    "popcount": _popcount,
    "select": _select,
    "convert": _convert,
    "bitcast": _bitcast,
}


# ---------------------------------------------------------------------------------------
# Reductions
# ---------------------------------------------------------------------------------------


def acc_dtype(combiner: str, dtype: str) -> str:
    """The accumulator dtype: float32 sums accumulate in float64."""
    return "float64" if combiner == "add" and dtype == "float32" else dtype


def compensated(combiner: str, dtype: str) -> bool:
    """Whether the reduction combines block sums with Neumaier's compensation."""
    return combiner == "add" and dtype == "float64"


def combine(
    fn: IRFunction, combiner: str, dt: str, acc: str, value: str, reassoc: bool = True
) -> str:
    """``combiner(acc, value)`` on dtype ``dt`` (reassociable: reductions may reorder)."""
    ty = ltype(dt)
    if _is_float(dt):
        flag = "reassoc " if reassoc else ""
        if combiner == "add":
            return fn.inst(f"fadd {flag}{ty} {acc}, {value}")
        if combiner == "mul":
            return fn.inst(f"fmul {flag}{ty} {acc}, {value}")
        return _intrinsic(fn, "maximum" if combiner == "max" else "minimum", ty, [acc, value])
    if dt == "bool":
        op = {"add": "or", "max": "or", "or": "or", "mul": "and", "min": "and", "and": "and"}
        return fn.inst(f"{op.get(combiner, 'xor')} i1 {acc}, {value}")
    if combiner in ("max", "min"):
        prefix = "s" if _signed(dt) else "u"
        return _intrinsic(fn, f"{prefix}{combiner}", ty, [acc, value])
    return fn.inst(f"{combiner} {ty} {acc}, {value}")


def neumaier(fn: IRFunction, acc_slot: str, comp_slot: str, value: str) -> None:
    """``acc += value`` with Neumaier's compensation term kept in ``comp_slot``."""
    acc = fn.inst(f"load double, ptr {acc_slot}")
    comp = fn.inst(f"load double, ptr {comp_slot}")
    total = fn.inst(f"fadd double {acc}, {value}")
    abs_acc = _intrinsic(fn, "fabs", "double", [acc])
    abs_val = _intrinsic(fn, "fabs", "double", [value])
    bigger = fn.inst(f"fcmp oge double {abs_acc}, {abs_val}")
    lost_a = fn.inst(f"fadd double {fn.inst(f'fsub double {acc}, {total}')}, {value}")
    lost_v = fn.inst(f"fadd double {fn.inst(f'fsub double {value}, {total}')}, {acc}")
    lost = fn.inst(f"select i1 {bigger}, double {lost_a}, double {lost_v}")
    fn.line(f"store double {fn.inst(f'fadd double {comp}, {lost}')}, ptr {comp_slot}")
    fn.line(f"store double {total}, ptr {acc_slot}")


def compensated_total(fn: IRFunction, acc: str, comp: str) -> str:
    """``acc + comp``, ignoring a compensation spoilt by infinities (inf - inf = NaN)."""
    magnitude = _intrinsic(fn, "fabs", "double", [comp])
    finite = fn.inst(f"fcmp olt double {magnitude}, 0x7FF0000000000000")
    safe = fn.inst(f"select i1 {finite}, double {comp}, double 0.0")
    return fn.inst(f"fadd double {acc}, {safe}")


# ---------------------------------------------------------------------------------------
# Target and compilation
# ---------------------------------------------------------------------------------------

_lock = threading.RLock()
_state: dict[str, Any] = {}

if TYPE_CHECKING:
    import llvmlite.binding as llvm


def binding() -> ModuleType:
    """``llvmlite.binding``, imported on first use: loading LLVM's shared library takes
    30 to 45 ms, which a process whose kernels are all in the disk cache never needs."""
    import llvmlite.binding

    return llvmlite.binding


def create_target_machine(opt: int) -> llvm.TargetMachine:
    """A new target machine for the host CPU at code-generation level ``opt`` (LLVM's
    native target must be initialised: ``_target_machine`` does it)."""
    llvm = binding()
    return llvm.Target.from_default_triple().create_target_machine(
        cpu=llvm.get_host_cpu_name(),
        features=llvm.get_host_cpu_features().flatten(),
        opt=opt,
        reloc="pic",
        codemodel="default",
    )


def _configure_llvm() -> None:
    """Process-wide LLVM settings, made once before the first compilation.

    The loop vectorizer normally compiles each vector loop three times: the vector body,
    a narrower vector loop for the remainder ("epilogue vectorisation") and a scalar
    loop for the last elements. The narrower copy only speeds up the remainder of a
    loop, at most one vector's worth of elements, and made W1's kernel take 20% longer
    to compile (47 ms against 37 ms) for no measurable difference in its run time, so it
    is turned off. The option has existed since LLVM 12; an unknown option would make
    LLVM exit the process, hence the version check.
    """
    if _state.get("configured"):
        return
    _state["configured"] = True
    llvm = binding()
    if llvm.llvm_version_info >= (12,):
        llvm.set_option("fxgrad", "-enable-epilogue-vectorization=false")


def _target_machine(opt: int = 3) -> llvm.TargetMachine:
    """The host target machine at code-generation level ``opt`` (created once)."""
    with _lock:
        tm = _state.get(("tm", opt))
        if tm is None:
            llvm = binding()
            llvm.initialize_native_target()
            llvm.initialize_native_asmprinter()
            _configure_llvm()
            tm = _state[("tm", opt)] = create_target_machine(opt)
        return tm


def initialize() -> None:
    """Load LLVM, initialise its native target and set the process-wide options."""
    _target_machine(3)


#: a small vectorisable loop, compiled by ``warm_up``
_WARM_UP_IR = """
declare float @llvm.fma.f32(float, float, float)
define void @fx_warm_up(ptr noalias %p, i64 %n) {
entry:
  br label %head
head:
  %i = phi i64 [0, %entry], [%next, %body]
  %more = icmp slt i64 %i, %n
  br i1 %more, label %body, label %done
body:
  %at = getelementptr inbounds float, ptr %p, i64 %i
  %x = load float, ptr %at
  %y = call float @llvm.fma.f32(float %x, float %x, float 1.0)
  %z = fdiv float %y, %x
  store float %z, ptr %at
  %next = add i64 %i, 1
  br label %head
done:
  ret void
}
"""


def warm_up() -> None:
    """Compile a small loop once and discard it: LLVM's first compilation in a process
    pays 6 to 9 ms of one-time set-up (the target machine's subtarget, pass and
    instruction-selection tables), which the preload thread takes off the first jit
    call's path when that call is going to compile."""
    if not _state.get("warmed_up"):
        _state["warmed_up"] = True
        compile_object(_WARM_UP_IR)


def pipeline_options(small: bool) -> Any:
    """The tuning of LLVM's optimisation pipeline: O3 with loop and SLP vectorisation and
    unrolling, or O1 without them for a ``small`` kernel."""
    pto = binding().create_pipeline_tuning_options(speed_level=1 if small else 3)
    pto.loop_vectorization = not small
    pto.slp_vectorization = not small
    pto.loop_unrolling = not small
    return pto


def _codegen_fingerprint() -> str:
    """A hash of the modules that generate code, so an edited backend never reuses stale
    cached objects."""
    import hashlib
    import pathlib

    here = pathlib.Path(__file__).parent
    digest = hashlib.sha256()
    # every module of the package: a list of the generating ones went stale as modules
    # that write LLVM IR were added (lanes.py, products.py), and so did the key
    for path in sorted(here.glob("*.py")):
        try:
            digest.update(path.name.encode() + path.read_bytes())
        except OSError:
            digest.update(path.name.encode())
    return digest.hexdigest()[:16]


def codegen_fingerprint() -> str:
    """The hash of the backend's sources as imported (``_codegen_fingerprint``)."""
    return _CODEGEN_FINGERPRINT


# Hashed once, when the backend is imported. Hashed at the first compilation instead, a
# process still running an older backend stored its objects in the shared disk cache
# under the key of the files as since edited, and other processes then ran that code.
_CODEGEN_FINGERPRINT = _codegen_fingerprint()


def target_id() -> str:
    """What compiled code depends on besides the kernel: triple, CPU, versions."""
    with _lock:
        tid = _state.get("target_id")
        if tid is None:
            tm = _target_machine(3)
            llvm = binding()
            tid = "|".join(
                (
                    tm.triple,
                    llvm.get_host_cpu_name(),
                    llvm.get_host_cpu_features().flatten(),
                    llvmlite.__version__,
                    ".".join(map(str, llvm.llvm_version_info)),
                    CODEGEN_VERSION,
                    _CODEGEN_FINGERPRINT,
                )
            )
            _state["target_id"] = tid
        return tid


def _optimize(ir_text: str, small: bool) -> tuple[llvm.ModuleRef, llvm.TargetMachine]:
    tm = _target_machine(1 if small else 3)
    llvm = binding()
    module = llvm.parse_assembly(ir_text)
    module.triple = tm.triple
    module.data_layout = str(tm.target_data)
    module.verify()
    pb = llvm.create_pass_builder(tm, pipeline_options(small))
    pb.getModulePassManager().run(module, pb)
    return module, tm


def compile_object(ir_text: str, small: bool = False) -> bytes:
    """Parse, verify and optimise LLVM IR; return object code.

    ``small`` kernels (a few thousand elements) are optimised at O1 without vectorisation:
    they run in microseconds either way, and compile several times faster.
    """
    with _lock:
        module, tm = _optimize(ir_text, small)
        return tm.emit_object(module)


def optimized_ir(ir_text: str, small: bool = False) -> str:
    """The optimised LLVM IR of a module (for dumps and tests of vectorisation)."""
    with _lock:
        return str(_optimize(ir_text, small)[0])


#: objects linked into one execution engine before a fresh engine is started
OBJECTS_PER_ENGINE = 64

# Every engine ever created, and every object buffer linked into one, stay referenced
# for the life of the process: the loaded code lives in the engine's memory, and
# llvmlite's object files point into the Python bytes they were made from.
_engines: list[llvm.ExecutionEngine] = []
_linked: list[tuple[bytes, Any]] = []


def library_symbols() -> dict[str, int]:
    """The names generated code calls into libraries (``blas.GEMM_SYMBOLS``), with their
    addresses in this process (found once)."""
    found = _state.get("library_symbols")
    if found is None:
        from fxgrad.lowering import blas

        entry_points = blas.gemm_entry_points()
        found = {}
        if entry_points is not None:
            for dtype, address in entry_points[1].items():
                found[blas.GEMM_SYMBOLS[dtype]] = address
        _state["library_symbols"] = found
    return found


def _library_symbol(name: str) -> int | None:
    """The address of a library symbol of generated code (the BLAS entry points are
    looked up only when an object calls one)."""
    return library_symbols().get(name) if name.startswith("fxgrad_") else None


def _engine() -> llvm.ExecutionEngine:
    """The engine new objects are linked into. Each engine takes a bounded number of
    objects: a long-lived process loads thousands of kernels, and one engine holding
    them all grew its relocation and section tables without bound."""
    llvm = binding()
    count = _state.get("engine_objects", 0)
    if not _engines:
        for name, address in library_symbols().items():
            llvm.add_symbol(name, address)
    if not _engines or count >= OBJECTS_PER_ENGINE:
        engine = llvm.create_mcjit_compiler(llvm.parse_assembly(""), _target_machine())
        _engines.append(engine)
        count = 0
    _state["engine_objects"] = count + 1
    return _engines[-1]


#: how objects were loaded so far in this process ("native": ``elf_loader``; "mcjit")
load_counts = {"native": 0, "mcjit": 0}


def load_object(obj: bytes, names: list[str]) -> list[int]:
    """Load object code into the process; the addresses of functions ``names``.

    ``elf_loader`` places it without LLVM where it can (x86-64 Linux, objects of the kinds
    it understands); otherwise an MCJIT engine links it.
    """
    # not under the lock: it is held while LLVM loads (``initialize`` on the preload
    # thread), and a warm start must not wait for that
    if elf_loader.supported():
        try:
            addresses = elf_loader.load(obj, names, _library_symbol)
        except elf_loader.UnsupportedObject:
            pass
        else:
            load_counts["native"] += 1
            return addresses
    with _lock:
        engine = _engine()
        object_file = binding().ObjectFileRef.from_data(obj)
        _linked.append((obj, object_file))
        engine.add_object_file(object_file)
        engine.finalize_object()
        addresses = [engine.get_function_address(n) for n in names]
        load_counts["mcjit"] += 1
    if not all(addresses):
        raise RuntimeError(f"fxgrad.lowering.llvm: functions {names} missing after linking")
    return addresses


# ---------------------------------------------------------------------------------------
# Rendering a kernel
# ---------------------------------------------------------------------------------------


def render(kernel: Kernel, name: str, data_offset: int) -> tuple[str, list[str]]:
    """LLVM IR of ``kernel``: the module text and the names of its functions."""
    from fxgrad.lowering.llvm_loops import KernelCodegen

    return KernelCodegen(kernel, name, data_offset).module()
