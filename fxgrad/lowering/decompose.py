"""Transcendental kernel ops rewritten as straight-line arithmetic that vectorises.

LLVM's loop vectoriser cannot vectorise a loop that calls ``expf`` or ``sin`` (it would
call the scalar function once per lane), and NumPy's own SIMD loops run at several times
the speed of scalar libm. So ``expand`` replaces ``exp``, ``expm1``, ``log``, ``log1p``,
``tanh``, ``logistic``, ``sin`` and ``cos`` (float32 and float64) by range reduction plus
polynomial evaluation with ``fma``, built from the closed op set of ``kernel_ir``; every
backend shares them. No fast-math: special values (NaN, +-inf, 0, subnormals, overflow
and underflow) are handled by explicit selects.

Algorithms (the classic fdlibm / Cody-Waite schemes, Taylor coefficients of one degree
more than needed):

* exp: ``x = k ln2 + r`` with ln2 split in two, ``|r| <= ln2/2``; ``exp(r)`` by its
  Taylor polynomial (degree 7 for float32, 13 for float64); ``2**k`` applied as two
  exact power-of-two factors so that gradual underflow rounds once.
* expm1: the same reduction; ``p = expm1(r)``; ``k == 0 -> p``, moderate ``k`` ->
  ``(2**k - 1) + 2**k p`` (both exact), large ``k -> 2**k (1 + p) - 1``.
* log: ``x = 2**e m`` with ``m`` in ``[sqrt(2)/2, sqrt(2))``, ``f = m - 1``,
  ``s = f / (2 + f)``, ``log(1 + f) = f - (f**2/2 - s (f**2/2 + R(s**2)))`` (fdlibm).
* log1p: ``u = 1 + x``; ``log(u) * x / (u - 1)`` (Goldberg), ``x`` where ``u == 1``.
* tanh: ``e / (e + 2)`` with ``e = expm1(2|x|)``, sign restored (float32: a fitted odd
  polynomial below 0.55, ``1 - 2 / (exp(2|x|) + 1)`` above); logistic:
  ``1 / (1 + exp(-x))`` or ``exp(x) / (1 + exp(x))`` by sign, as NumPy's formula.
* sin, cos: ``x = q pi/2 + r`` reduced in float64 (also for float32 inputs) with pi/2
  split in three (33 + 33 + 53 bits, exact products for ``|q| < 2**20``); Taylor
  polynomials on ``|r| <= pi/4`` in the value's dtype and the quadrant of ``q``. The
  reduction is only exact for ``|x| <= 1e6``, so these expansions carry a *guard*
  (``|x| <= 1e6``): the backend re-runs a row whose guard fails with the ``precise``
  expansion, which keeps ``sin`` and ``cos`` as libm calls (correct for every input, NaN
  and inf included).

Accuracy, tested by ``tests/lowering/test_accuracy.py`` over each function's whole
range plus NaN, +-inf, +-0 and subnormals. float32, against the correctly rounded
result: exp, expm1, log, sin, cos within 2 ulp; log1p, tanh, logistic within 3 ulp
(measured: 1 ulp for exp, log, sin, cos, tanh; 2 for expm1, log1p, logistic; NumPy's
own float32 SIMD functions measure up to 3). float64, against NumPy's result: within 3
ulp (measured: 1 for exp, log, sin, cos; 2 for expm1, log1p; 3 for the ratios tanh and
logistic).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from fxgrad.lowering.kernel_ir import Kernel, Node, Store

#: ops whose expansion is only valid on part of the domain (see ``guards``)
GUARDED: frozenset[str] = frozenset({"sin", "cos"})
SIN_COS_LIMIT = 1.0e6

_PIO2_1 = 1.5707963267341256  # pi/2 to 33 bits
_PIO2_2 = 6.077100506303966e-11  # the next 33 bits
_PIO2_3 = 2.0222662487959506e-21  # the rest, to 53 bits
_TWO_OVER_PI = 0.6366197723675814
_LOG2E = 1.4426950408889634
_SQRT2 = 1.4142135623730951


@dataclass(frozen=True, slots=True)
class _Float:
    """Constants of one float dtype."""

    int_dtype: str
    mant_bits: int
    bias: int
    exp_mask: int
    ln2_hi: float
    ln2_lo: float
    exp_lo: float  # exp(x) rounds to 0 below
    exp_hi: float  # exp(x) overflows above
    tanh_clamp: float  # tanh(x) rounds to 1 above
    exp_degree: int
    log_terms: int
    sin_degree: int  # highest odd power of r in sin(r)
    cos_degree: int  # highest even power of r in cos(r)
    min_normal: float


_F32 = _Float(
    "int32",
    23,
    127,
    0xFF,
    0.693145751953125,
    1.4286068e-06,
    -104.0,
    88.8,
    10.0,
    7,
    4,
    11,
    10,
    1.1754943508222875e-38,  # float32's smallest normal
)
_F64 = _Float(
    "int64",
    52,
    1023,
    0x7FF,
    6.93147180369123816490e-01,
    1.90821492927058770002e-10,
    -746.0,
    710.0,
    20.0,
    13,
    10,
    17,
    18,
    2.2250738585072014e-308,  # float64's smallest normal
)
_FLOATS = {"float32": _F32, "float64": _F64}


def _inv_factorials(first: int, last: int, step: int = 1, alternate: bool = False) -> list[float]:
    out = []
    for i, n in enumerate(range(first, last + 1, step)):
        sign = -1 if alternate and i % 2 == 0 else 1
        out.append(sign / math.factorial(n))  # int division: correctly rounded
    return out


class _Math:
    """Emits kernel nodes of one float dtype (and its same-width integer dtype)."""

    def __init__(self, emit: Callable[..., int], dtype: str):
        self.emit = emit
        self.dtype = dtype
        self.spec = _FLOATS[dtype]
        self.idt = self.spec.int_dtype

    def c(self, value: float, dtype: str | None = None) -> int:
        dtype = dtype or self.dtype
        if dtype.startswith("float"):
            value = float(np.dtype(dtype).type(value))
        return self.emit("const", (), dtype, value)

    def op(self, name: str, *args: int, dtype: str | None = None) -> int:
        return self.emit(name, args, dtype or self.dtype)

    def cmp(self, name: str, x: int, y: int) -> int:
        return self.emit(name, (x, y), "bool")

    def sel(self, pred: int, a: int, b: int, dtype: str | None = None) -> int:
        return self.emit("select", (pred, a, b), dtype or self.dtype)

    def horner(self, x: int, coeffs: list[float]) -> int:
        """``coeffs[0] + x * (coeffs[1] + x * (...))``."""
        acc = self.c(coeffs[-1])
        for coef in reversed(coeffs[:-1]):
            acc = self.op("fma", acc, x, self.c(coef))
        return acc

    def pow2(self, k_int: int) -> int:
        """``2.0 ** k`` for an integer node ``k`` in the normal exponent range."""
        biased = self.op("add", k_int, self.c(self.spec.bias, self.idt), dtype=self.idt)
        bits = self.op("shift_left", biased, self.c(self.spec.mant_bits, self.idt), dtype=self.idt)
        return self.emit("bitcast", (bits,), self.dtype)

    def scale(self, p: int, k_int: int) -> int:
        """``p * 2.0 ** k`` for an integer node ``k``, as two exact factors (one rounding)."""
        half = self.op("shift_right_arithmetic", k_int, self.c(1, self.idt), dtype=self.idt)
        rest = self.op("sub", k_int, half, dtype=self.idt)
        return self.op("mul", self.op("mul", p, self.pow2(half)), self.pow2(rest))

    def round_to_int(self, x: int) -> tuple[int, int]:
        """``x`` rounded to the nearest integer, as a float node and as an integer node.

        Adding ``1.5 * 2**mant_bits`` rounds (to nearest even) and leaves the integer in
        the low mantissa bits: no float-to-int conversion, which vectorises poorly.
        Valid for ``|x| < 2**(mant_bits - 1)``.
        """
        magic = 1.5 * 2.0**self.spec.mant_bits
        shifted = self.op("add", x, self.c(magic))
        rounded = self.op("sub", shifted, self.c(magic))
        magic_bits = int(np.array(magic, self.dtype).view(self.idt))
        bits = self.emit("bitcast", (shifted,), self.idt)
        return rounded, self.op("sub", bits, self.c(magic_bits, self.idt), dtype=self.idt)

    def reduce_ln2(self, x: int) -> tuple[int, int, int]:
        """``k`` (float and integer nodes) and ``r`` with ``x = k ln2 + r``, ``|r| <= ln2/2``."""
        k, k_int = self.round_to_int(self.op("mul", x, self.c(_LOG2E)))
        r = self.op("fma", k, self.c(-self.spec.ln2_hi), x)
        return k, k_int, self.op("fma", k, self.c(-self.spec.ln2_lo), r)

    def expm1_poly(self, r: int) -> int:
        q = self.horner(r, _inv_factorials(2, self.spec.exp_degree))
        return self.op("fma", self.op("mul", r, r), q, r)


def _exp(m: _Math, x: int) -> int:
    s = m.spec
    xc = m.sel(m.cmp("lt", x, m.c(s.exp_lo)), m.c(s.exp_lo), x)
    xc = m.sel(m.cmp("gt", xc, m.c(s.exp_hi)), m.c(s.exp_hi), xc)
    _, k_int, r = m.reduce_ln2(xc)
    p = m.op("add", m.c(1.0), m.expm1_poly(r))
    return m.scale(p, k_int)


def _expm1(m: _Math, x: int) -> int:
    s = m.spec
    xc = m.sel(m.cmp("gt", x, m.c(s.exp_hi)), m.c(s.exp_hi), x)
    k, k_int, r = m.reduce_ln2(xc)
    p = m.expm1_poly(r)
    two_k = m.pow2(k_int)
    moderate = m.op("add", m.op("sub", two_k, m.c(1.0)), m.op("mul", two_k, p))
    large = m.op("sub", m.scale(m.op("add", m.c(1.0), p), k_int), m.c(1.0))
    limit = float(s.mant_bits + 1)
    result = m.sel(m.cmp("gt", k, m.c(limit)), large, moderate)
    result = m.sel(m.cmp("eq", k, m.c(0.0)), p, result)
    lowest = -(s.mant_bits + 2) * math.log(2.0)
    result = m.sel(m.cmp("lt", x, m.c(lowest)), m.c(-1.0), result)
    return m.sel(m.cmp("eq", x, m.c(0.0)), x, result)  # keeps the sign of zero


def _log(m: _Math, x: int) -> int:
    s = m.spec
    idt = m.idt
    small = m.cmp("lt", x, m.c(s.min_normal))
    xs = m.sel(small, m.op("mul", x, m.c(2.0 ** (s.mant_bits + 1))), x)
    bits = m.emit("bitcast", (xs,), idt)
    exp_field = m.op(
        "and",
        m.op("shift_right_logical", bits, m.c(s.mant_bits, idt), dtype=idt),
        m.c(s.exp_mask, idt),
        dtype=idt,
    )
    mant = m.op("and", bits, m.c((1 << s.mant_bits) - 1, idt), dtype=idt)
    one_bits = m.c(s.bias << s.mant_bits, idt)
    mv = m.emit("bitcast", (m.op("or", mant, one_bits, dtype=idt),), m.dtype)
    big = m.cmp("gt", mv, m.c(_SQRT2))
    mv = m.sel(big, m.op("mul", mv, m.c(0.5)), mv)
    e = m.emit("convert", (m.op("sub", exp_field, m.c(s.bias, idt), dtype=idt),), m.dtype)
    e = m.op("add", e, m.sel(big, m.c(1.0), m.c(0.0)))
    e = m.op("sub", e, m.sel(small, m.c(float(s.mant_bits + 1)), m.c(0.0)))
    f = m.op("sub", mv, m.c(1.0))
    s_ = m.op("div", f, m.op("add", f, m.c(2.0)))
    z = m.op("mul", s_, s_)
    r = m.op("mul", z, m.horner(z, [2.0 / (2 * k + 1) for k in range(1, s.log_terms + 1)]))
    hfsq = m.op("mul", m.op("mul", f, f), m.c(0.5))
    tail = m.op("fma", s_, m.op("add", hfsq, r), m.op("mul", e, m.c(s.ln2_lo)))
    result = m.op("fma", e, m.c(s.ln2_hi), m.op("sub", f, m.op("sub", hfsq, tail)))
    result = m.sel(m.cmp("ge", x, m.c(0.0)), result, m.c(math.nan))
    result = m.sel(m.cmp("eq", x, m.c(0.0)), m.c(-math.inf), result)
    return m.sel(m.cmp("eq", x, m.c(math.inf)), x, result)


def _log1p(m: _Math, x: int) -> int:
    u = m.op("add", m.c(1.0), x)
    ratio = m.op("div", x, m.op("sub", u, m.c(1.0)))
    result = m.op("mul", _log(m, u), ratio)
    result = m.sel(m.cmp("eq", u, m.c(1.0)), x, result)
    return m.sel(m.cmp("eq", x, m.c(math.inf)), x, result)


#: tanh(a) = a + a**3 P(a**2) on [0, 0.55] for float32: relative error 2.8e-9 (fitted)
_TANH_F32_SMALL = 0.55
_TANH_F32_POLY = [
    -0.33333320421628976,
    0.13332691874776004,
    -0.053864113498895944,
    0.021122704108835457,
    -0.006349337105749665,
]


def _tanh(m: _Math, x: int) -> int:
    a = m.op("abs", x)
    limit = m.c(m.spec.tanh_clamp)
    a = m.sel(m.cmp("gt", a, limit), limit, a)
    if m.dtype == "float32":
        # small |x|: an odd polynomial; else 1 - 2 / (exp(2|x|) + 1), at least 0.5
        z = m.op("mul", a, a)
        small = m.op("fma", m.op("mul", a, z), m.horner(z, _TANH_F32_POLY), a)
        e = _exp(m, m.op("add", a, a))
        large = m.op("sub", m.c(1.0), m.op("div", m.c(2.0), m.op("add", e, m.c(1.0))))
        t = m.sel(m.cmp("lt", a, m.c(_TANH_F32_SMALL)), small, large)
    else:
        e = _expm1(m, m.op("add", a, a))
        t = m.op("div", e, m.op("add", e, m.c(2.0)))
    return m.op("copysign", t, x)


def _logistic(m: _Math, x: int) -> int:
    e = _exp(m, m.op("neg", m.op("abs", x)))
    d = m.op("add", m.c(1.0), e)
    one = m.c(1.0)
    return m.sel(m.cmp("ge", x, m.c(0.0)), m.op("div", one, d), m.op("div", e, d))


def _sin_cos(m: _Math, x: int, want_cos: bool) -> tuple[int, int]:
    spec = m.spec
    d = _Math(m.emit, "float64")
    xd = x if m.dtype == "float64" else m.emit("convert", (x,), "float64")
    q, n = d.round_to_int(d.op("mul", xd, d.c(_TWO_OVER_PI)))
    r = d.op("fma", q, d.c(-_PIO2_1), xd)
    r = d.op("fma", q, d.c(-_PIO2_2), r)
    r = d.op("fma", q, d.c(-_PIO2_3), r)
    if m.dtype != "float64":
        r = m.emit("convert", (r,), m.dtype)  # the polynomials run in the value's dtype
    z = m.op("mul", r, r)
    sin_poly = m.horner(z, _inv_factorials(3, spec.sin_degree, 2, alternate=True))
    sin_r = m.op("fma", m.op("mul", r, z), sin_poly, r)
    half_z = m.op("mul", z, m.c(0.5))
    w = m.op("sub", m.c(1.0), half_z)
    cos_tail = _cos_tail(m, z, spec.cos_degree)
    cos_r = m.op("add", w, m.op("add", m.op("sub", m.op("sub", m.c(1.0), w), half_z), cos_tail))
    if want_cos:
        n = d.op("add", n, d.c(1, "int64"), dtype="int64")
    swap = d.cmp("ne", d.op("and", n, d.c(1, "int64"), dtype="int64"), d.c(0, "int64"))
    flip = d.cmp("ne", d.op("and", n, d.c(2, "int64"), dtype="int64"), d.c(0, "int64"))
    value = m.sel(swap, cos_r, sin_r)
    value = m.sel(flip, m.op("neg", value), value)
    if not want_cos:
        value = m.sel(m.cmp("eq", x, m.c(0.0)), x, value)  # keeps the sign of zero
    guard = m.cmp("le", m.op("abs", x), m.c(SIN_COS_LIMIT))
    return value, guard


def _cos_tail(d: _Math, z: int, degree: int) -> int:
    """``z**2 (1/4! - z/6! + z**2/8! - ...)``: the tail of cos(r) after ``1 - z/2``."""
    coeffs = [(-1) ** k / math.factorial(2 * k) for k in range(2, degree // 2 + 1)]
    return d.op("mul", d.op("mul", z, z), d.horner(z, coeffs))


def _unguarded(fn: Callable[[_Math, int], int]) -> Callable[[_Math, int], tuple[int, None]]:
    def rule(m: _Math, x: int) -> tuple[int, None]:
        return fn(m, x), None

    return rule


#: float op -> expansion ``(math, arg) -> (value node, guard node or None)``
EXPANSIONS: dict[str, Callable[[_Math, int], tuple[int, int | None]]] = {
    "exp": _unguarded(_exp),
    "expm1": _unguarded(_expm1),
    "log": _unguarded(_log),
    "log1p": _unguarded(_log1p),
    "tanh": _unguarded(_tanh),
    "logistic": _unguarded(_logistic),
    "sin": lambda m, x: _sin_cos(m, x, want_cos=False),
    "cos": lambda m, x: _sin_cos(m, x, want_cos=True),
}


@dataclass(frozen=True, slots=True)
class Expansion:
    """A kernel with its transcendental ops expanded.

    Attributes:
      kernel: the expanded kernel (same inputs, index space and stores).
      mapping: for each node of the original kernel, its node in ``kernel``.
      guards: ``(guard, value)`` pairs: ``value`` is exact only where ``guard`` holds.
    """

    kernel: Kernel
    mapping: tuple[int, ...]
    guards: tuple[tuple[int, int], ...]


def expand(kernel: Kernel, *, precise: bool) -> Expansion:
    """Expand the transcendental ops of ``kernel`` (``precise``: leave guarded ops as calls)."""
    nodes: list[Node] = []
    ids: dict[Node, int] = {}

    def emit(op: str, args: tuple[int, ...], dtype: str, param: object = None) -> int:
        node = Node(op, tuple(args), dtype, param)
        found = ids.get(node)
        if found is None:
            nodes.append(node)
            found = ids[node] = len(nodes) - 1
        return found

    mapping: list[int] = []
    guards: list[tuple[int, int]] = []
    for node in kernel.nodes:
        args = tuple(mapping[a] for a in node.args)
        rule = EXPANSIONS.get(node.op) if node.dtype in _FLOATS else None
        if rule is None or (precise and node.op in GUARDED):
            mapping.append(emit(node.op, args, node.dtype, node.param))
            continue
        value, guard = rule(_Math(emit, node.dtype), args[0])
        if guard is not None:
            guards.append((guard, value))
        mapping.append(value)
    stores = tuple(Store(mapping[s.node], s.dtype, s.strides, s.size) for s in kernel.stores)
    expanded = Kernel(kernel.outer, kernel.inner, kernel.inputs, tuple(nodes), stores)
    return Expansion(expanded, tuple(mapping), tuple(guards))
