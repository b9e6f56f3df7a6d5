"""NumPy's elementwise functions (ufuncs), built on the lax elementwise primitives.

Each function promotes its arguments NumPy-style (``_util.elementwise``). Functions
that NumPy computes in floating point for integer input (``exp``, ``sqrt``,
``true_divide``, ...) convert integers to the default float dtype first.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from fxgrad import dtypes
from fxgrad.array import Array
from fxgrad.core import get_aval
from fxgrad.lax import elementwise as ew
from fxgrad.numpy._util import (
    _is_concrete_eager,
    asarray_value,
    elementwise,
    promote_args,
    promote_dtypes,
)


def _unary(name: str, prim, *, inexact: bool = False, doc: str = ""):
    def fn(x: Any, /) -> Any:
        return elementwise(name, prim, x, inexact=inexact)

    fn.__name__ = name
    fn.__qualname__ = name
    fn.__doc__ = doc or f"Elementwise ``{name}``, as ``numpy.{name}``."
    return fn


def _binary(name: str, prim, *, inexact: bool = False, doc: str = ""):
    def fn(x1: Any, x2: Any, /) -> Any:
        return elementwise(name, prim, x1, x2, inexact=inexact)

    fn.__name__ = name
    fn.__qualname__ = name
    fn.__doc__ = doc or f"Elementwise ``{name}`` with broadcasting, as ``numpy.{name}``."
    return fn


add = _binary("add", ew.add_p)
subtract = _binary("subtract", ew.sub_p)
multiply = _binary("multiply", ew.mul_p)
true_divide = _binary("true_divide", ew.div_p, inexact=True)
divide = true_divide
maximum = _binary("maximum", ew.max_p)
minimum = _binary("minimum", ew.min_p)
arctan2 = _binary("arctan2", ew.atan2_p, inexact=True)
atan2 = arctan2
nextafter = _binary("nextafter", ew.nextafter_p, inexact=True)
equal = _binary("equal", ew.eq_p)
not_equal = _binary("not_equal", ew.ne_p)
less = _binary("less", ew.lt_p)
less_equal = _binary("less_equal", ew.le_p)
greater = _binary("greater", ew.gt_p)
greater_equal = _binary("greater_equal", ew.ge_p)
bitwise_and = _binary("bitwise_and", ew.and_p)
bitwise_or = _binary("bitwise_or", ew.or_p)
bitwise_xor = _binary("bitwise_xor", ew.xor_p)
left_shift = _binary("left_shift", ew.shift_left_p)
right_shift = _binary("right_shift", ew.shift_right_arithmetic_p)

negative = _unary("negative", ew.neg_p)
exp = _unary("exp", ew.exp_p, inexact=True)
exp2 = _unary("exp2", ew.exp2_p, inexact=True)
log = _unary("log", ew.log_p, inexact=True)
log1p = _unary("log1p", ew.log1p_p, inexact=True)
expm1 = _unary("expm1", ew.expm1_p, inexact=True)
tanh = _unary("tanh", ew.tanh_p, inexact=True)
sin = _unary("sin", ew.sin_p, inexact=True)
cos = _unary("cos", ew.cos_p, inexact=True)
tan = _unary("tan", ew.tan_p, inexact=True)
arcsin = _unary("arcsin", ew.asin_p, inexact=True)
arccos = _unary("arccos", ew.acos_p, inexact=True)
arctan = _unary("arctan", ew.atan_p, inexact=True)
sinh = _unary("sinh", ew.sinh_p, inexact=True)
cosh = _unary("cosh", ew.cosh_p, inexact=True)
arcsinh = _unary("arcsinh", ew.asinh_p, inexact=True)
arccosh = _unary("arccosh", ew.acosh_p, inexact=True)
arctanh = _unary("arctanh", ew.atanh_p, inexact=True)
asin, acos, atan = arcsin, arccos, arctan
asinh, acosh, atanh = arcsinh, arccosh, arctanh
sqrt = _unary("sqrt", ew.sqrt_p, inexact=True)
cbrt = _unary("cbrt", ew.cbrt_p, inexact=True)
square = _unary("square", ew.square_p)


def absolute(x: Any, /) -> Any:
    """``|x|`` elementwise, as ``numpy.absolute``; complex input gives a real magnitude.

    A bool array is returned unchanged (as NumPy and ``jax.numpy`` do), though
    ``lax.abs`` rejects bool.

    Example:
      >>> import fxgrad.numpy as fnp
      >>> fnp.absolute(fnp.array([-1.5, 2.0]))
      Array([1.5, 2. ], dtype=float64)
    """
    x = asarray_value(x)
    if x.dtype == np.bool_:
        return x
    return elementwise("absolute", ew.abs_p, x)


abs = absolute  # noqa: A001 - NumPy's name
isfinite_ = None


def positive(x: Any, /) -> Any:
    """``+x``."""
    return asarray_value(x)


def sign(x: Any, /) -> Any:
    """-1, 0 or 1 by the sign of ``x`` (``x / |x|`` for complex, as JAX)."""
    return elementwise("sign", ew.sign_p, x)


def floor(x: Any, /) -> Any:
    x = asarray_value(x)
    if x.dtype.kind in "iub":
        return x
    return elementwise("floor", ew.floor_p, x)


def ceil(x: Any, /) -> Any:
    x = asarray_value(x)
    if x.dtype.kind in "iub":
        return x
    return elementwise("ceil", ew.ceil_p, x)


def trunc(x: Any, /) -> Any:
    x = asarray_value(x)
    if x.dtype.kind in "iub":
        return x
    return where(less(x, 0), ceil(x), floor(x))


fix = trunc


def rint(x: Any, /) -> Any:
    x = asarray_value(x)
    if x.dtype.kind in "iub":
        return x
    return ew.round(x, 1)


def round(a: Any, decimals: int = 0, out: None = None) -> Any:  # noqa: A001
    """Round half to even to ``decimals`` places, as ``numpy.round``."""
    a = asarray_value(a)
    if a.dtype.kind in "iub":
        if decimals >= 0:
            return a
        factor = 10 ** (-decimals)
        return multiply(true_divide(a, factor).round().astype(a.dtype), factor)
    if decimals == 0:
        return ew.round(a, 1)
    factor = a.dtype.type(10.0**decimals)
    return true_divide(ew.round(multiply(a, factor), 1), factor)


around = round


def isfinite(x: Any, /) -> Any:
    x = asarray_value(x)
    if x.dtype.kind in "iub":
        return full_like_bool(x, True)
    if x.dtype.kind == "c":
        return logical_and(isfinite(ew.real(x)), isfinite(ew.imag(x)))
    return ew.is_finite(x)


def isinf(x: Any, /) -> Any:
    x = asarray_value(x)
    if x.dtype.kind in "iub":
        return full_like_bool(x, False)
    if x.dtype.kind == "c":
        return logical_or(isinf(ew.real(x)), isinf(ew.imag(x)))
    return equal(absolute(x), np.inf)


def isnan(x: Any, /) -> Any:
    x = asarray_value(x)
    if x.dtype.kind in "iub":
        return full_like_bool(x, False)
    return not_equal(x, x)


def full_like_bool(x: Any, value: bool) -> Any:
    return ew.full_like_aval(get_aval(x).update(dtype=np.bool_, weak_type=False), value)


def logical_not(x: Any, /) -> Any:
    x = asarray_value(x)
    return ew.bitwise_not(_as_bool(x))


def _as_bool(x: Any) -> Any:
    x = asarray_value(x)
    if x.dtype == np.bool_:
        return x
    return ew.ne(x, ew.full_like_aval(get_aval(x).update(weak_type=False), 0))


def logical_and(x1: Any, x2: Any, /) -> Any:
    return elementwise("logical_and", ew.and_p, _as_bool(x1), _as_bool(x2))


def logical_or(x1: Any, x2: Any, /) -> Any:
    return elementwise("logical_or", ew.or_p, _as_bool(x1), _as_bool(x2))


def logical_xor(x1: Any, x2: Any, /) -> Any:
    return elementwise("logical_xor", ew.xor_p, _as_bool(x1), _as_bool(x2))


def invert(x: Any, /) -> Any:
    """Bitwise NOT (``~x``); logical NOT for booleans."""
    return elementwise("invert", ew.not_p, x)


bitwise_not = bitwise_invert = invert


def power(x1: Any, x2: Any, /) -> Any:
    """``x1 ** x2`` elementwise. A static integer exponent uses ``lax.integer_pow``."""
    if type(x2) is int:
        x1 = asarray_value(x1)
        if x1.dtype.kind in "iu" and x2 < 0:
            raise ValueError("Integers to negative integer powers are not allowed.")
        return ew.integer_pow(x1, x2)
    x1, x2 = promote_args("power", x1, x2)
    dtype = get_aval(x1).dtype
    if dtype.kind in "iub":
        return _integer_power(x1, x2)
    return ew.pow(x1, x2)


pow = power  # noqa: A001 - NumPy's name


def _integer_power(x: Any, y: Any) -> Any:
    """Integer ``x ** y`` by repeated squaring over the bits of ``y`` (y >= 0)."""
    dtype = get_aval(x).dtype
    acc = ew.full_like_aval(get_aval(x), 1)
    base = x
    for _ in range(dtype.itemsize * 8):
        bit = ew.ne(ew.bitwise_and(y, ew.full_like_aval(get_aval(y), 1)), 0)
        acc = ew.select(bit, ew.mul(acc, base), acc)
        base = ew.mul(base, base)
        y = ew.shift_right_arithmetic(y, ew.full_like_aval(get_aval(y), 1))
    return acc


def float_power(x1: Any, x2: Any, /) -> Any:
    """``x1 ** x2`` computed in float64 (complex128 for complex input), as NumPy."""
    x1, x2 = promote_args("float_power", x1, x2)
    kind = get_aval(x1).dtype.kind
    dtype = np.dtype(np.complex128 if kind == "c" else np.float64)
    return ew.pow(ew.convert_element_type(x1, dtype), ew.convert_element_type(x2, dtype))


def reciprocal(x: Any, /) -> Any:
    x = asarray_value(x)
    return true_divide(ew.full_like_aval(get_aval(x), 1), x)


def floor_divide(x1: Any, x2: Any, /) -> Any:
    """Floor division (rounds towards minus infinity), as ``numpy.floor_divide``."""
    x1, x2 = promote_args("floor_divide", x1, x2)
    dtype = get_aval(x1).dtype
    if dtype.kind in "iu":
        q = ew.div(x1, x2)
        r = ew.rem(x1, x2)
        zero = ew.full_like_aval(get_aval(r), 0)
        fix = ew.bitwise_and(ew.ne(r, zero), ew.ne(ew.lt(r, zero), ew.lt(x2, zero)))
        return ew.select(fix, ew.sub(q, ew.full_like_aval(get_aval(q), 1)), q)
    if dtype.kind == "b":
        return ew.bitwise_and(x1, x2)
    return ew.floor(ew.div(x1, x2))


def remainder(x1: Any, x2: Any, /) -> Any:
    """Remainder with the sign of the divisor, as ``numpy.remainder`` / ``%``."""
    x1, x2 = promote_args("remainder", x1, x2)
    r = ew.rem(x1, x2)
    zero = ew.full_like_aval(get_aval(r), 0)
    fix = ew.bitwise_and(ew.ne(r, zero), ew.ne(ew.lt(r, zero), ew.lt(x2, zero)))
    return ew.select(fix, ew.add(r, x2), r)


mod = remainder


def fmod(x1: Any, x2: Any, /) -> Any:
    """Remainder with the sign of the dividend (C's ``fmod``)."""
    x1, x2 = promote_args("fmod", x1, x2)
    return ew.rem(x1, x2)


def divmod(x1: Any, x2: Any, /) -> tuple[Any, Any]:  # noqa: A001
    return floor_divide(x1, x2), remainder(x1, x2)


def where(
    condition: Any,
    x: Any = None,
    y: Any = None,
    /,
    *,
    size: int | None = None,
    fill_value: Any = None,
) -> Any:
    """``x`` where ``condition`` else ``y``, broadcasting all three (as ``numpy.where``).

    Gradients flow only into the selected branch, and stay finite in the other branch
    even where it is infinite or NaN (see docs/sharp_bits.md). With one argument this is
    ``nonzero(condition, size=size, fill_value=fill_value)``.
    """
    if x is None and y is None:
        from fxgrad.numpy import nonzero

        return nonzero(condition, size=size, fill_value=fill_value)
    if size is not None or fill_value is not None:
        raise ValueError("fxgrad.numpy.where: size= and fill_value= need the 1-argument form")
    if x is None or y is None:
        raise ValueError("fxgrad.numpy.where takes either 1 or 3 arguments")
    return _select(_as_bool(condition), x, y)


def promote_args_shapes_only(fn_name: str, *args: Any) -> list[Any]:
    from fxgrad.numpy._util import promote_shapes

    return promote_shapes(fn_name, *args)


def real(val: Any, /) -> Any:
    val = asarray_value(val)
    return ew.real(val) if val.dtype.kind == "c" else val


def imag(val: Any, /) -> Any:
    val = asarray_value(val)
    if val.dtype.kind == "c":
        return ew.imag(val)
    return ew.full_like_aval(get_aval(val).update(weak_type=False), 0)


def conjugate(x: Any, /) -> Any:
    x = asarray_value(x)
    return ew.conj(x) if x.dtype.kind == "c" else x


conj = conjugate


def clip(arr: Any = None, /, min: Any = None, max: Any = None, *, a_min=None, a_max=None):  # noqa: A002
    """Clip values to ``[min, max]`` (either may be ``None``)."""
    lo = min if min is not None else a_min
    hi = max if max is not None else a_max
    out = asarray_value(arr)
    if lo is not None:
        out = maximum(out, lo)
    if hi is not None:
        out = minimum(out, hi)
    return out


# ---------------------------------------------------------------------------------------
# Exponents, logarithms and angles
# ---------------------------------------------------------------------------------------

_LN2 = 0.6931471805599453
_LN10 = 2.302585092994046


def _inexact(fn_name: str, *args: Any) -> list[Any]:
    """Promote (weak scalars included), then convert ints and bools to the default float."""
    from fxgrad.numpy._util import promote_args_inexact

    return promote_args_inexact(fn_name, *args)


def _scalar_like(x: Any, value: Any) -> Any:
    """``value`` as an array of ``x``'s shape and dtype (strong)."""
    return ew.full_like_aval(get_aval(x).update(weak_type=False), value)


def _real_only(fn_name: str, x: Any) -> None:
    if get_aval(x).dtype.kind == "c":
        raise TypeError(
            f"fxgrad.numpy.{fn_name} is not defined for complex input (as in NumPy); pass "
            "the real and imaginary parts separately."
        )


def _select(condition: Any, on_true: Any, on_false: Any) -> Any:
    """``on_true`` where the bool ``condition`` holds, else ``on_false``, promoting and
    broadcasting like ``where``. Concrete operands outside any transformation go straight
    to the primitive's implementation, as ``_util.elementwise`` does for the others."""
    if _is_concrete_eager((condition, on_true, on_false)):
        vals = promote_dtypes(on_true, on_false)
        raw = [v._value if type(v) is Array else v for v in vals]
        cond = condition._value if type(condition) is Array else np.asarray(condition)
        try:
            out = ew.select_n_p.impl(cond, raw[1], raw[0])
        except ValueError:
            promote_args_shapes_only("where", condition, *vals)  # a ShapeError naming where
            raise
        weak = all(dtypes.is_weakly_typed(v) for v in (on_true, on_false))
        return Array(np.asarray(out), weak_type=weak)
    on_true, on_false = promote_dtypes(on_true, on_false)
    condition, on_true, on_false = promote_args_shapes_only("where", condition, on_true, on_false)
    return ew.select_n(condition, on_false, on_true)


def log2(x: Any, /) -> Any:
    """Base-2 logarithm, ``log(x) / log(2)`` (as jax.numpy; NumPy's is exact at powers of 2)."""
    return _scaled_log(x, _LN2)


def log10(x: Any, /) -> Any:
    """Base-10 logarithm, ``log(x) / log(10)``."""
    return _scaled_log(x, _LN10)


def _scaled_log(x: Any, base_log: float) -> Any:
    out = log(x)
    if get_aval(out).dtype.kind == "c":
        # part by part: a complex division would turn log(0) = -inf + 0j into NaNs
        return ew.complex(true_divide(ew.real(out), base_log), true_divide(ew.imag(out), base_log))
    return true_divide(out, base_log)


def deg2rad(x: Any, /) -> Any:
    """Degrees to radians; integers become the default float."""
    (x,) = _inexact("deg2rad", x)
    return multiply(x, np.pi / 180.0)


def rad2deg(x: Any, /) -> Any:
    """Radians to degrees; integers become the default float."""
    (x,) = _inexact("rad2deg", x)
    return multiply(x, 180.0 / np.pi)


radians = deg2rad
degrees = rad2deg


def logaddexp(x1: Any, x2: Any, /) -> Any:
    """``log(exp(x1) + exp(x2))`` without overflow.

    Written ``big + log1p(exp(small - big))`` with one branch choice for both terms, so
    the derivative is exact everywhere, 1/2 each at a tie. Equal infinities give
    themselves (NaN-free), as NumPy.
    """
    x1, x2 = _inexact("logaddexp", x1, x2)
    return _logaddexp(x1, x2, exp, 1.0)


def logaddexp2(x1: Any, x2: Any, /) -> Any:
    """``log2(2**x1 + 2**x2)`` without overflow (see ``logaddexp``)."""
    x1, x2 = _inexact("logaddexp2", x1, x2)
    return _logaddexp(x1, x2, exp2, 1.0 / _LN2)


def _logaddexp(x1, x2, exp_fn, scale):
    _real_only("logaddexp", x1)
    first = greater_equal(x1, x2)
    big = _select(first, x1, x2)
    diff = _select(first, subtract(x2, x1), subtract(x1, x2))  # <= 0, or NaN
    infinite = equal(absolute(big), np.inf)
    diff = _select(infinite, 0.0, diff)  # inf - inf
    tail = log1p(exp_fn(diff))
    if scale != 1.0:
        tail = multiply(tail, scale)
    return _select(infinite, big, add(big, tail))


def hypot(x1: Any, x2: Any, /) -> Any:
    """``sqrt(x1**2 + x2**2)`` without overflow or underflow; inf if either is infinite."""
    x1, x2 = _inexact("hypot", x1, x2)
    _real_only("hypot", x1)
    a1, a2 = absolute(x1), absolute(x2)
    big, small = maximum(a1, a2), minimum(a1, a2)
    ratio = true_divide(small, _select(equal(big, 0.0), 1.0, big))
    out = multiply(big, sqrt(add(1.0, square(ratio))))
    return _select(logical_or(equal(a1, np.inf), equal(a2, np.inf)), np.inf, out)


# sin(pi x) / (pi x) = sum_n (-1)^n (pi x)^(2n) / (2n + 1)!, used for |x| < 1e-3
_SINC_TAYLOR = tuple((-1) ** n * np.pi ** (2 * n) / math.factorial(2 * n + 1) for n in range(4))


def sinc(x: Any, /) -> Any:
    """The normalised sinc, ``sin(pi x) / (pi x)`` with ``sinc(0) = 1``.

    Near 0 a Taylor polynomial is used (and the quotient sees a safe argument), so the
    derivatives at 0 are right up to order 6 (``sinc''(0) = -pi**2 / 3``), as JAX's
    custom rule gives.
    """
    (x,) = _inexact("sinc", x)
    near = less(absolute(x), 1e-3)
    pi_x = multiply(_select(near, 0.5, x), np.pi)
    t = square(_select(near, x, 0.0))
    poly = _SINC_TAYLOR[-1]
    for c in _SINC_TAYLOR[-2::-1]:
        poly = add(multiply(poly, t), c)
    return _select(near, poly, true_divide(sin(pi_x), pi_x))


def angle(z: Any, deg: bool = False) -> Any:
    """The argument of ``z`` (radians, or degrees with ``deg=True``); pi for negative reals."""
    z = asarray_value(z)
    if z.dtype.kind == "c":
        re, im = ew.real(z), ew.imag(z)
    else:
        (re,) = _inexact("angle", z)
        im = _scalar_like(re, 0.0)
    out = arctan2(im, re)
    return multiply(out, 180.0 / np.pi) if deg else out


def fabs(x: Any, /) -> Any:
    """Absolute value of real numbers, in floating point (integers become floats)."""
    (x,) = _inexact("fabs", x)
    _real_only("fabs", x)
    return absolute(x)


def heaviside(x1: Any, x2: Any, /) -> Any:
    """0 where ``x1 < 0``, ``x2`` where ``x1 == 0``, 1 where ``x1 > 0`` (NaN stays NaN)."""
    x1, x2 = _inexact("heaviside", x1, x2)
    _real_only("heaviside", x1)
    x1, x2 = promote_args_shapes_only("heaviside", x1, x2)
    step = _select(greater(x1, 0.0), 1.0, 0.0)
    out = _select(equal(x1, 0.0), x2, step)
    return _select(not_equal(x1, x1), x1, out)


def fmax(x1: Any, x2: Any, /) -> Any:
    """Elementwise maximum that ignores NaN (NaN only where both are NaN)."""
    return _nan_ignoring(maximum(x1, x2), *promote_dtypes(x1, x2))


def fmin(x1: Any, x2: Any, /) -> Any:
    """Elementwise minimum that ignores NaN (NaN only where both are NaN)."""
    return _nan_ignoring(minimum(x1, x2), *promote_dtypes(x1, x2))


def _nan_ignoring(out, x1, x2):
    if get_aval(out).dtype.kind not in "fc":
        return out
    out = _select(not_equal(x2, x2), x1, out)
    return _select(not_equal(x1, x1), x2, out)


# ---------------------------------------------------------------------------------------
# Floating-point representation: signbit, copysign, ldexp, frexp, modf, spacing
# ---------------------------------------------------------------------------------------

# (exponent bias, mantissa bits) by float width
_FLOAT_LAYOUT = {2: (15, 10), 4: (127, 23), 8: (1023, 52)}


def _int_of_width(dtype: np.dtype) -> np.dtype:
    return np.dtype(f"i{dtype.itemsize}")


def signbit(x: Any, /) -> Any:
    """True where the sign bit is set (so also for -0.0 and negative NaNs)."""
    x = asarray_value(x)
    _real_only("signbit", x)
    kind = x.dtype.kind
    if kind == "b" or kind == "u":
        return full_like_bool(x, False)
    if kind == "i":
        return ew.lt(x, _scalar_like(x, 0))
    bits = ew.bitcast_convert_type(x, _int_of_width(x.dtype))
    return ew.lt(bits, _scalar_like(bits, 0))


def copysign(x1: Any, x2: Any, /) -> Any:
    """``|x1|`` with the sign bit of ``x2``; the derivative in ``x1`` is +-1, in ``x2`` 0."""
    x1, x2 = _inexact("copysign", x1, x2)
    _real_only("copysign", x1)
    magnitude = absolute(x1)
    return _select(signbit(x2), negative(magnitude), magnitude)


def _power_of_two(n: Any, dtype: np.dtype) -> Any:
    """2.0**n (exact) for integer n in the normal range of ``dtype``, built from its bits."""
    bias, mantissa = _FLOAT_LAYOUT[dtype.itemsize]
    n = ew.convert_element_type(n, _int_of_width(dtype))
    field = ew.add(n, _scalar_like(n, bias))
    bits = ew.shift_left(field, _scalar_like(field, mantissa))
    return ew.bitcast_convert_type(bits, dtype)


def ldexp(x1: Any, x2: Any, /) -> Any:
    """``x1 * 2**x2`` for integer ``x2``, by exact multiplications by powers of two.

    The power is applied in four steps so that any result that is representable is
    reached; a subnormal result may be rounded twice.
    """
    x1 = asarray_value(x1)
    x2 = asarray_value(x2)
    if x2.dtype.kind not in "iub":
        raise TypeError(
            f"fxgrad.numpy.ldexp requires an integer exponent x2, got {x2.dtype.name}; "
            "round it first, e.g. x2.astype(int)."
        )
    if x1.dtype.kind not in "fc":
        x1 = ew.convert_element_type(x1, dtypes.to_inexact_dtype(x1.dtype))
    _real_only("ldexp", x1)
    x1, n = promote_args_shapes_only("ldexp", x1, ew.convert_element_type(x2, np.int32))
    bias, mantissa = _FLOAT_LAYOUT[x1.dtype.itemsize]
    limit = 4 * (bias - 4)  # each quarter stays in the normal range
    n = ew.clamp(-limit, n, limit)
    quarter = ew.div(n, _scalar_like(n, 4))
    rest = ew.sub(n, ew.mul(quarter, _scalar_like(quarter, 3)))
    out = x1
    for part in (quarter, quarter, quarter, rest):
        out = ew.mul(out, _power_of_two(part, x1.dtype))
    return out


def frexp(x: Any, /) -> tuple[Any, Any]:
    """``(mantissa, exponent)`` with ``x = mantissa * 2**exponent``, ``0.5 <= |mantissa| < 1``.

    The exponent is int32 (as NumPy); 0, inf and NaN give ``(x, 0)``. The mantissa is
    ``x`` times an exact power of two, so it is differentiable with slope ``2**-exponent``.
    """
    (x,) = _inexact("frexp", x)
    _real_only("frexp", x)
    dtype = x.dtype
    bias, mantissa = _FLOAT_LAYOUT[dtype.itemsize]
    int_dtype = _int_of_width(dtype)
    # Subnormals: scale into the normal range first (exact), then correct the exponent.
    tiny = ew.lt(ew.abs(x), _scalar_like(x, np.finfo(dtype).tiny))
    boost = mantissa + 2
    scaled = ew.select_n(tiny, x, ew.mul(x, _scalar_like(x, 2.0**boost)))
    bits = ew.bitcast_convert_type(scaled, int_dtype)
    field = ew.bitwise_and(
        ew.shift_right_logical(bits, _scalar_like(bits, mantissa)), _scalar_like(bits, 2 * bias + 1)
    )
    exponent = ew.sub(field, _scalar_like(field, bias - 1))
    exponent = ew.select_n(tiny, exponent, ew.sub(exponent, _scalar_like(exponent, boost)))
    special = ew.bitwise_or(
        ew.eq(x, _scalar_like(x, 0.0)), ew.eq(field, _scalar_like(field, 2 * bias + 1))
    )
    exponent = ew.select_n(special, exponent, _scalar_like(exponent, 0))
    neg_exp = ew.neg(exponent)
    half = ew.div(neg_exp, _scalar_like(neg_exp, 2))
    scale_a = _power_of_two(half, dtype)
    scale_b = _power_of_two(ew.sub(neg_exp, half), dtype)
    mant = ew.mul(ew.mul(x, scale_a), scale_b)
    mant = ew.select_n(special, mant, x)
    return mant, ew.convert_element_type(exponent, np.int32)


def modf(x: Any, /) -> tuple[Any, Any]:
    """``(fractional part, integral part)``, both with the sign of ``x`` (as NumPy).

    The fractional part has derivative 1, the integral part 0.
    """
    (x,) = _inexact("modf", x)
    _real_only("modf", x)
    whole = trunc(x)
    negative_x = signbit(x)
    # For negative x use -(|x| - trunc(|x|)): it is -0.0 at negative integers, as NumPy.
    flipped = negative(x)
    frac = _select(negative_x, negative(subtract(flipped, trunc(flipped))), subtract(x, whole))
    zero = _select(negative_x, -0.0, 0.0)
    return _select(equal(absolute(x), np.inf), zero, frac), whole


def spacing(x: Any, /) -> Any:
    """The distance from ``x`` to the next float away from zero (negative for x < 0).

    Piecewise constant, so its derivative is 0. (NumPy's float16 version differs for
    negative numbers.)
    """
    (x,) = _inexact("spacing", x)
    _real_only("spacing", x)
    x = ew.stop_gradient(x)
    # NumPy's sign convention: negative only for x < 0 (spacing(-0.0) > 0).
    away = _select(less(x, 0.0), -np.inf, np.inf)
    return subtract(nextafter(x, away), x)


# ---------------------------------------------------------------------------------------
# Integers: gcd, lcm, bitwise_count
# ---------------------------------------------------------------------------------------


def _integer_args(fn_name: str, *args: Any) -> list[Any]:
    args = promote_args(fn_name, *args)
    if get_aval(args[0]).dtype.kind not in "iu":
        raise TypeError(
            f"fxgrad.numpy.{fn_name} requires integer arguments, got "
            f"{get_aval(args[0]).dtype.name}."
        )
    return args


def gcd(x1: Any, x2: Any, /) -> Any:
    """Greatest common divisor of ``|x1|`` and ``|x2|`` (``gcd(0, 0) = 0``).

    Euclid's algorithm, unrolled to its worst case for the dtype (consecutive Fibonacci
    numbers: 1.44 steps per bit), so it runs unchanged under ``jit`` and ``vmap``.
    """
    x1, x2 = _integer_args("gcd", x1, x2)
    return _gcd(x1, x2)


def _gcd(x1, x2):
    a, b = absolute(x1), absolute(x2)
    steps = int(1.45 * 8 * get_aval(a).dtype.itemsize) + 2
    for _ in range(steps):
        done = equal(b, 0)
        a, b = _select(done, a, b), _select(done, b, fmod(a, b))
    return a


def lcm(x1: Any, x2: Any, /) -> Any:
    """Least common multiple of ``|x1|`` and ``|x2|`` (0 if either is 0)."""
    x1, x2 = _integer_args("lcm", x1, x2)
    g = _gcd(x1, x2)
    zero = equal(g, 0)
    out = absolute(multiply(ew.div(x1, _select(zero, 1, g)), x2))
    return _select(zero, 0, out)


def bitwise_count(x: Any, /) -> Any:
    """The number of 1 bits in ``|x|``, as uint8 (``numpy.bitwise_count``)."""
    x = asarray_value(x)
    if x.dtype.kind not in "iu":
        raise TypeError(f"fxgrad.numpy.bitwise_count requires integers, got {x.dtype.name}.")
    return ew.convert_element_type(ew.population_count(ew.abs(x)), np.uint8)


bitwise_left_shift = left_shift
bitwise_right_shift = right_shift


del isfinite_

__all__ = [
    "abs",
    "absolute",
    "acos",
    "acosh",
    "add",
    "angle",
    "arccos",
    "arccosh",
    "arcsin",
    "arcsinh",
    "arctan",
    "arctan2",
    "arctanh",
    "around",
    "asin",
    "asinh",
    "atan",
    "atan2",
    "atanh",
    "bitwise_and",
    "bitwise_count",
    "bitwise_invert",
    "bitwise_left_shift",
    "bitwise_not",
    "bitwise_or",
    "bitwise_right_shift",
    "bitwise_xor",
    "cbrt",
    "ceil",
    "clip",
    "conj",
    "conjugate",
    "copysign",
    "cos",
    "cosh",
    "deg2rad",
    "degrees",
    "divide",
    "divmod",
    "equal",
    "exp",
    "exp2",
    "expm1",
    "fabs",
    "fix",
    "float_power",
    "floor",
    "floor_divide",
    "fmax",
    "fmin",
    "fmod",
    "frexp",
    "gcd",
    "greater",
    "greater_equal",
    "heaviside",
    "hypot",
    "imag",
    "invert",
    "isfinite",
    "isinf",
    "isnan",
    "lcm",
    "ldexp",
    "left_shift",
    "less",
    "less_equal",
    "log",
    "log10",
    "log1p",
    "log2",
    "logaddexp",
    "logaddexp2",
    "logical_and",
    "logical_not",
    "logical_or",
    "logical_xor",
    "maximum",
    "minimum",
    "mod",
    "modf",
    "multiply",
    "negative",
    "nextafter",
    "not_equal",
    "positive",
    "pow",
    "power",
    "rad2deg",
    "radians",
    "real",
    "reciprocal",
    "remainder",
    "right_shift",
    "rint",
    "round",
    "sign",
    "signbit",
    "sin",
    "sinc",
    "sinh",
    "spacing",
    "sqrt",
    "square",
    "subtract",
    "tan",
    "tanh",
    "true_divide",
    "trunc",
    "where",
]
