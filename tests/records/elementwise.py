"""Records for every elementwise primitive, through its ``fxgrad.numpy`` ufunc where
NumPy has one and through ``fxgrad.lax`` otherwise.

Each record draws from the op's domain (positive for log/sqrt, (-0.9, 0.9) for arcsin,
> 1 for arccosh, no ties for max/min, ...). Differentiable ops are checked to order 2;
comparisons, rounding and bit operations have ``grad_order=0``. Binary ops include the
broadcasting shapes (3, 1) x (1, 4) and () x (2, 3); ops defined on complex numbers get
complex records. References for the special functions NumPy lacks are the independent
Python oracles below (``math`` and plain series), never fxgrad itself.
"""

from __future__ import annotations

import math

import numpy as np

import fxgrad.numpy as fnp
from fxgrad import lax
from fxgrad.lax import elementwise as ew
from tests.op_records import (
    OpRecord,
    rand_distinct,
    rand_greater_than_one,
    rand_normal,
    rand_positive,
    rand_unit,
)

F = (np.float64, np.float32)
C = (np.complex128, np.complex64)
INTS = (np.int32, np.int64)
BIN_SHAPES = {"": [(3, 4), (3, 4)], "_bcast": [(3, 1), (1, 4)], "_scalar": [(), (2, 3)]}


# ---------------------------------------------------------------------------------------
# Domains
# ---------------------------------------------------------------------------------------


def rand_nonzero(rng, shape, dtype):
    """Magnitudes in [0.5, 2) with random signs: away from the kinks of abs, sign, cbrt."""
    signs = np.where(rng.rand(*shape) < 0.5, -1.0, 1.0)
    return (signs * (rng.rand(*shape) * 1.5 + 0.5)).astype(dtype)


def rand_off_integer(rng, shape, dtype):
    """Values within 0.1..0.4 of an integer, away from floor/round discontinuities."""
    base = rng.randint(-4, 5, size=shape)
    frac = rng.rand(*shape) * 0.3 + 0.1
    return (base + np.where(rng.rand(*shape) < 0.5, frac, -frac)).astype(dtype)


def rand_negative_off_integer(rng, shape, dtype):
    """-(n + f) with n in 0..4 and f in [0.2, 0.8]: negative, away from the poles."""
    return -(rng.randint(0, 5, size=shape) + rng.rand(*shape) * 0.6 + 0.2).astype(dtype)


def rand_specials(rng, shape, dtype):
    """Normal values with some inf, -inf and NaN mixed in (for isfinite)."""
    out = rng.randn(*shape)
    specials = np.array([np.inf, -np.inf, np.nan])
    mask = rng.rand(*shape) < 0.3
    out[mask] = specials[rng.randint(0, 3, size=int(mask.sum()))]
    return out.astype(dtype)


def rand_small_int(rng, shape, dtype):
    """Small non-negative integers (shift amounts)."""
    return rng.randint(0, 6, size=shape).astype(dtype)


def rand_bits(rng, shape, dtype):
    info = np.iinfo(dtype)
    return rng.randint(max(info.min, -1000), min(info.max, 1000), size=shape).astype(dtype)


def rand_lower(rng, shape, dtype):
    return (rng.rand(*shape) * -0.5 - 0.5).astype(dtype)


def rand_upper(rng, shape, dtype):
    return (rng.rand(*shape) * 0.5 + 0.5).astype(dtype)


def rand_clamp_operand(rng, shape, dtype):
    """Values in +-(0.1, 0.4) or beyond +-1.1: away from the bounds of rand_lower/upper."""
    inside = (rng.rand(*shape) * 0.3 + 0.1) * np.where(rng.rand(*shape) < 0.5, -1, 1)
    outside = (rng.rand(*shape) + 1.1) * np.where(rng.rand(*shape) < 0.5, -1, 1)
    return np.where(rng.rand(*shape) < 0.5, inside, outside).astype(dtype)


def rand_rem_divisor(rng, shape, dtype):
    return rand_nonzero(rng, shape, dtype) * 1.3


def rand_complex_safe(rng, shape, dtype):
    """Complex numbers with 0.2 <= |re|, |im| <= 0.8: away from 0, +-1, +-i, the poles of
    tan and tanh, and every branch cut of NumPy's complex functions (which lie on the
    axes), so a finite-difference step never crosses a cut."""

    def part():
        signs = np.where(rng.rand(*shape) < 0.5, -1.0, 1.0)
        return signs * (rng.rand(*shape) * 0.6 + 0.2)

    return (part() + 1j * part()).astype(dtype)


def rand_bool(rng, shape, dtype):
    return rng.rand(*shape) < 0.5


# ---------------------------------------------------------------------------------------
# Oracles for functions NumPy lacks (float64 Python, independent of fxgrad)
# ---------------------------------------------------------------------------------------


def _vectorize(fn):
    def ref(*args):
        args = np.broadcast_arrays(*[np.asarray(a) for a in args])
        out = np.array(
            [fn(*map(float, vals)) for vals in zip(*[a.ravel() for a in args], strict=True)]
        )
        return out.reshape(args[0].shape).astype(args[-1].dtype)

    return ref


def digamma_oracle(x: float) -> float:
    """digamma by the recurrence up to 30 and the asymptotic series (x > 0)."""
    acc = 0.0
    while x < 30.0:
        acc -= 1.0 / x
        x += 1.0
    r2 = 1.0 / (x * x)
    series = r2 * (1 / 12 - r2 * (1 / 120 - r2 * (1 / 252 - r2 * (1 / 240 - r2 / 132))))
    return acc + math.log(x) - 0.5 / x - series


def trigamma_oracle(x: float) -> float:
    """polygamma(1, x) by the recurrence up to 30 and the asymptotic series (x > 0)."""
    acc = 0.0
    while x < 30.0:
        acc += 1.0 / (x * x)
        x += 1.0
    r = 1.0 / x
    r2 = r * r
    series = r + r2 / 2 + r * r2 * (1 / 6 - r2 * (1 / 30 - r2 * (1 / 42 - r2 / 30)))
    return acc + series


def erf_inv_oracle(y: float) -> float:
    """Newton's method on math.erf (|y| < 1)."""
    x = 0.0
    for _ in range(100):
        x -= (math.erf(x) - y) / (2.0 / math.sqrt(math.pi) * math.exp(-x * x))
    return x


erf_ref = _vectorize(math.erf)
erfc_ref = _vectorize(math.erfc)
lgamma_ref = _vectorize(math.lgamma)
digamma_ref = _vectorize(digamma_oracle)
trigamma_ref = _vectorize(lambda m, x: trigamma_oracle(x))
erf_inv_ref = _vectorize(erf_inv_oracle)


def _logistic_ref(x):
    return (1.0 / (1.0 + np.exp(-x))).astype(x.dtype)


def _round_away_ref(x):
    return (np.sign(x) * np.floor(np.abs(x) + 0.5)).astype(x.dtype)


def _bitcast_ref(x):
    return x.view(np.dtype(f"i{x.dtype.itemsize}"))


def _select_three(p, x, y, z):
    which = lax.convert_element_type(p > 0, np.int32) + lax.convert_element_type(p > 1, np.int32)
    return lax.select_n(which, x, y, z)


def _shift_right_logical_ref(x, y):
    unsigned = np.dtype(f"u{x.dtype.itemsize}")
    return np.right_shift(x.view(unsigned), y.astype(unsigned)).view(x.dtype)


def rand_with_zeros(rng, shape, dtype):
    """Normal values with about a third of them exactly zero (zero cotangents)."""
    out = np.asarray(rand_normal(rng, shape, dtype))
    return np.where(rng.rand(*shape) < 0.35, np.zeros((), out.dtype), out).astype(dtype)


def _zero_safe_ref(op):
    """NumPy's ``where(ct == 0, 0, op(ct, y))``: the where rule's product or quotient."""

    def ref(ct, y):
        with np.errstate(all="ignore"):
            return np.where(ct == 0, np.zeros((), ct.dtype), op(ct, y)).astype(ct.dtype)

    return ref


# ---------------------------------------------------------------------------------------
# Records
# ---------------------------------------------------------------------------------------


def _scalar_safe(rand):
    """``rand`` also for shape (): the shared drawers call ``rng.rand(*shape)``, which
    returns a Python float there."""

    def draw(rng, shape, dtype):
        if shape == ():
            return np.asarray(rand(rng, (1,), dtype)).reshape(())
        return rand(rng, shape, dtype)

    return draw


def _safe(rand):
    return tuple(map(_scalar_safe, rand)) if isinstance(rand, tuple) else _scalar_safe(rand)


def _unary(name, fun, ref, rand=rand_normal, dtypes=F, order=2, shape=(3, 4), **kw):
    if dtypes == C and rand is rand_normal:
        rand = rand_complex_safe
    return OpRecord(
        f"ew_{name}", fun, [shape], ref, dtypes=dtypes, rand=_safe(rand), grad_order=order, **kw
    )


def _binary(name, fun, ref, rand=rand_normal, dtypes=F, order=2, shapes=BIN_SHAPES, **kw):
    if dtypes == C and rand is rand_normal:
        rand = rand_complex_safe
    return [
        OpRecord(
            f"ew_{name}{suffix}",
            fun,
            s,
            ref,
            dtypes=dtypes,
            rand=_safe(rand),
            grad_order=order,
            **kw,
        )
        for suffix, s in shapes.items()
    ]


RECORDS: list[OpRecord] = [
    # sign and rounding (piecewise constant: grad_order=0)
    _unary("negative", fnp.negative, np.negative),
    _unary("negative_complex", fnp.negative, np.negative, dtypes=C),
    _unary("sign", fnp.sign, np.sign, order=0),
    _unary("sign_complex", fnp.sign, lambda z: (z / np.abs(z)).astype(z.dtype), dtypes=C, order=0),
    _unary("floor", fnp.floor, np.floor, rand=rand_off_integer, order=0),
    _unary("ceil", fnp.ceil, np.ceil, rand=rand_off_integer, order=0),
    _unary("round_even", fnp.round, np.round, rand=rand_off_integer, order=0),
    _unary("rint", fnp.rint, np.rint, rand=rand_off_integer, order=0),
    _unary(
        "round_away", lambda x: lax.round(x, 0), _round_away_ref, rand=rand_off_integer, order=0
    ),
    _unary("isfinite", fnp.isfinite, np.isfinite, rand=rand_specials, order=0),
    # exponentials and logarithms
    _unary("exp", fnp.exp, np.exp),
    _unary("exp_complex", fnp.exp, np.exp, dtypes=C),
    _unary("exp2", fnp.exp2, np.exp2),
    _unary("exp2_complex", fnp.exp2, np.exp2, dtypes=C),
    _unary("log", fnp.log, np.log, rand=rand_positive),
    _unary("log_complex", fnp.log, np.log, dtypes=C),
    _unary("log1p", fnp.log1p, np.log1p, rand=rand_positive),
    _unary("log1p_complex", fnp.log1p, np.log1p, dtypes=C),
    _unary("expm1", fnp.expm1, np.expm1),
    _unary("expm1_complex", fnp.expm1, np.expm1, dtypes=C),
    _unary("tanh", fnp.tanh, np.tanh),
    _unary("tanh_complex", fnp.tanh, np.tanh, dtypes=C),
    _unary("logistic", lax.logistic, _logistic_ref),
    _unary("logistic_complex", lax.logistic, _logistic_ref, dtypes=C),
    # trigonometric and hyperbolic
    _unary("sin", fnp.sin, np.sin),
    _unary("sin_complex", fnp.sin, np.sin, dtypes=C),
    _unary("cos", fnp.cos, np.cos),
    _unary("cos_complex", fnp.cos, np.cos, dtypes=C),
    _unary("tan", fnp.tan, np.tan, rand=rand_unit),
    _unary("tan_complex", fnp.tan, np.tan, dtypes=C),
    _unary("arcsin", fnp.arcsin, np.arcsin, rand=rand_unit),
    _unary("arcsin_complex", fnp.arcsin, np.arcsin, dtypes=C),
    _unary("arccos", fnp.arccos, np.arccos, rand=rand_unit),
    _unary("arccos_complex", fnp.arccos, np.arccos, dtypes=C),
    _unary("arctan", fnp.arctan, np.arctan),
    _unary("arctan_complex", fnp.arctan, np.arctan, dtypes=C),
    _unary("sinh", fnp.sinh, np.sinh),
    _unary("sinh_complex", fnp.sinh, np.sinh, dtypes=C),
    _unary("cosh", fnp.cosh, np.cosh),
    _unary("cosh_complex", fnp.cosh, np.cosh, dtypes=C),
    _unary("arcsinh", fnp.arcsinh, np.arcsinh),
    _unary("arcsinh_complex", fnp.arcsinh, np.arcsinh, dtypes=C),
    _unary("arccosh", fnp.arccosh, np.arccosh, rand=rand_greater_than_one),
    _unary("arccosh_complex", fnp.arccosh, np.arccosh, dtypes=C),
    _unary("arctanh", fnp.arctanh, np.arctanh, rand=rand_unit),
    _unary("arctanh_complex", fnp.arctanh, np.arctanh, dtypes=C),
    # roots and powers
    _unary("sqrt", fnp.sqrt, np.sqrt, rand=rand_positive),
    _unary("sqrt_complex", fnp.sqrt, np.sqrt, dtypes=C),
    _unary("rsqrt", lax.rsqrt, lambda x: (1 / np.sqrt(x)).astype(x.dtype), rand=rand_positive),
    _unary("rsqrt_complex", lax.rsqrt, lambda z: (1 / np.sqrt(z)).astype(z.dtype), dtypes=C),
    _unary("cbrt", fnp.cbrt, np.cbrt, rand=rand_nonzero),
    _unary("square", fnp.square, np.square),
    _unary("square_complex", fnp.square, np.square, dtypes=C),
    _unary("reciprocal", fnp.reciprocal, np.reciprocal, rand=rand_nonzero),
    _unary("reciprocal_complex", fnp.reciprocal, np.reciprocal, dtypes=C),
    _unary("integer_pow_3", lambda x: fnp.power(x, 3), lambda x: x**3),
    _unary("integer_pow_3_complex", lambda x: fnp.power(x, 3), lambda x: x**3, dtypes=C),
    _unary(
        "integer_pow_neg2", lambda x: lax.integer_pow(x, -2), lambda x: x**-2.0, rand=rand_nonzero
    ),
    _unary("integer_pow_0", lambda x: lax.integer_pow(x, 0), lambda x: np.ones_like(x)),
    _unary("abs", fnp.absolute, np.abs, rand=rand_nonzero),
    _unary("abs_complex", fnp.absolute, np.abs, dtypes=C),
    # complex parts
    _unary("real", fnp.real, np.real, dtypes=C),
    _unary("imag", fnp.imag, np.imag, dtypes=C),
    _unary("conj", fnp.conj, np.conj, dtypes=C),
    _unary("conj_of_real", lax.conj, lambda x: x.astype(np.result_type(x.dtype, np.complex64))),
    OpRecord("ew_complex", lax.complex, [(3, 4), (3, 4)], lambda x, y: x + 1j * y),
    # special functions
    _unary("erf", lax.erf, erf_ref),
    _unary("erfc", lax.erfc, erfc_ref),
    _unary("erf_inv", lax.erf_inv, erf_inv_ref, rand=rand_unit),
    _unary("lgamma", lax.lgamma, lgamma_ref, rand=rand_positive),
    _unary("lgamma_negative", lax.lgamma, lgamma_ref, rand=rand_negative_off_integer),
    _unary("digamma", lax.digamma, digamma_ref, rand=rand_positive),
    OpRecord(
        "ew_polygamma_1",
        lambda x: lax.polygamma(1.0, x),
        [(3, 4)],
        lambda x: trigamma_ref(1.0, x),
        rand=rand_positive,
    ),
    # conversions and selection
    _unary(
        "convert_to_complex",
        lambda x: lax.convert_element_type(x, np.complex128),
        lambda x: x.astype(np.complex128),
        dtypes=(np.float64,),
    ),
    _unary(
        "convert_complex_to_real",
        lambda z: lax.convert_element_type(z, np.float64),
        lambda z: z.real.astype(np.float64),
        dtypes=(np.complex128,),
    ),
    _unary(
        "convert_to_int",
        lambda x: lax.convert_element_type(x, np.int32),
        lambda x: x.astype(np.int32),
        rand=rand_off_integer,
        order=0,
    ),
    _unary(
        "bitcast",
        lambda x: ew.bitcast_convert_type(x, np.dtype(f"i{x.dtype.itemsize}")),
        _bitcast_ref,
        order=0,
    ),
    _unary("stop_gradient", lax.stop_gradient, lambda x: x, order=0),
    OpRecord(
        "ew_select_n",
        lambda p, x, y: lax.select_n(p > 0, x, y),
        [(3, 4)] * 3,
        lambda p, x, y: np.where(p > 0, y, x),
    ),
    OpRecord(
        "ew_select_n_int",
        _select_three,
        [(2, 5)] * 4,
        lambda p, x, y, z: np.choose((p > 0).astype(int) + (p > 1), [x, y, z]),
    ),
    # the where rule's transposes: ct == 0 ? 0 : ct * y (or ct / y), even for y = inf or 0
    *_binary("zero_safe_mul", ew._zero_safe_mul, _zero_safe_ref(np.multiply)),
    *_binary("zero_safe_mul_complex", ew._zero_safe_mul, _zero_safe_ref(np.multiply), dtypes=C),
    *_binary(
        "zero_safe_div",
        ew._zero_safe_div,
        _zero_safe_ref(np.divide),
        rand=(rand_normal, rand_nonzero),
    ),
    *_binary(
        "zero_safe_mul_specials",
        ew._zero_safe_mul,
        _zero_safe_ref(np.multiply),
        rand=(rand_with_zeros, rand_specials),
        order=0,
    ),
    *_binary(
        "zero_safe_div_zeros",
        ew._zero_safe_div,
        _zero_safe_ref(np.divide),
        rand=(rand_with_zeros, rand_with_zeros),
        order=0,
    ),
    OpRecord(
        "ew_where",
        lambda p, x, y: fnp.where(p > 0, x, y),
        [(3, 1), (1, 4), (3, 4)],
        lambda p, x, y: np.where(p > 0, x, y),
    ),
    OpRecord(
        "ew_clamp",
        lax.clamp,
        [(3, 4)] * 3,
        lambda lo, x, hi: np.clip(x, lo, hi),
        rand=(rand_lower, rand_clamp_operand, rand_upper),
    ),
    OpRecord(
        "ew_clamp_scalar_bounds",
        lambda x: lax.clamp(-0.5, x, 0.5),
        [(3, 4)],
        lambda x: np.clip(x, -0.5, 0.5),
        rand=rand_clamp_operand,
    ),
    # bits and logic (integers)
    _unary("invert", fnp.invert, np.invert, rand=rand_bits, dtypes=INTS, order=0),
    _unary("invert_bool", fnp.invert, np.invert, rand=rand_bool, dtypes=(np.bool_,), order=0),
    _unary(
        "population_count",
        ew.population_count,
        lambda x: np.bitwise_count(x.view(f"u{x.dtype.itemsize}")).astype(x.dtype),
        rand=rand_bits,
        dtypes=INTS,
        order=0,
    ),
    *_binary("bitwise_and", fnp.bitwise_and, np.bitwise_and, rand=rand_bits, dtypes=INTS, order=0),
    *_binary("bitwise_or", fnp.bitwise_or, np.bitwise_or, rand=rand_bits, dtypes=INTS, order=0),
    *_binary(
        "bitwise_xor", fnp.bitwise_xor, np.bitwise_xor, rand=rand_bool, dtypes=(np.bool_,), order=0
    ),
    *_binary(
        "left_shift",
        fnp.left_shift,
        np.left_shift,
        rand=(rand_bits, rand_small_int),
        dtypes=INTS,
        order=0,
    ),
    *_binary(
        "right_shift",
        fnp.right_shift,
        np.right_shift,
        rand=(rand_bits, rand_small_int),
        dtypes=INTS,
        order=0,
    ),
    *_binary(
        "shift_right_logical",
        ew.shift_right_logical,
        _shift_right_logical_ref,
        rand=(rand_bits, rand_small_int),
        dtypes=INTS,
        order=0,
        shapes={"": [(3, 4)] * 2},
    ),
    # arithmetic
    *_binary("add", fnp.add, np.add),
    *_binary("add_complex", fnp.add, np.add, dtypes=C, shapes={"": [(3, 4)] * 2}),
    *_binary("subtract", fnp.subtract, np.subtract),
    *_binary("subtract_complex", fnp.subtract, np.subtract, dtypes=C, shapes={"": [(3, 4)] * 2}),
    *_binary("multiply", fnp.multiply, np.multiply),
    *_binary("multiply_complex", fnp.multiply, np.multiply, dtypes=C),
    *_binary("divide", fnp.divide, np.divide, rand=(rand_normal, rand_nonzero)),
    *_binary("divide_complex", fnp.divide, np.divide, dtypes=C),
    *_binary("rem", lax.rem, np.fmod, rand=(rand_normal, rand_rem_divisor)),
    *_binary("power", fnp.power, np.power, rand=(rand_positive, rand_normal)),
    *_binary("power_complex", fnp.power, np.power, dtypes=C, shapes={"": [(3, 4)] * 2}),
    *_binary("maximum", fnp.maximum, np.maximum, rand=rand_distinct),
    *_binary("minimum", fnp.minimum, np.minimum, rand=rand_distinct),
    *_binary("arctan2", fnp.arctan2, np.arctan2, rand=(rand_nonzero, rand_nonzero)),
    *_binary("nextafter", fnp.nextafter, np.nextafter, order=0, shapes={"": [(3, 4)] * 2}),
    # comparisons
    *[
        rec
        for name in ("equal", "not_equal", "less", "less_equal", "greater", "greater_equal")
        for rec in _binary(
            name,
            getattr(fnp, name),
            getattr(np, name),
            rand=rand_off_integer,
            order=0,
            shapes={"": [(3, 4)] * 2, "_bcast": [(3, 1), (1, 4)]},
        )
    ],
    *_binary("equal_complex", fnp.equal, np.equal, dtypes=C, order=0, shapes={"": [(3, 4)] * 2}),
]
