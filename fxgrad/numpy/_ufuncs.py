"""NumPy's elementwise functions (ufuncs), built on the lax elementwise primitives.

Each function promotes its arguments NumPy-style (``_util.elementwise``). Functions
that NumPy computes in floating point for integer input (``exp``, ``sqrt``,
``true_divide``, ...) convert integers to the default float dtype first.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fxgrad import dtypes
from fxgrad.core import get_aval
from fxgrad.lax import elementwise as ew
from fxgrad.numpy._util import asarray_value, elementwise, promote_args


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
absolute = _unary("absolute", ew.abs_p)
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
    x1, x2 = promote_args("float_power", x1, x2)
    dtype = dtypes.to_inexact_dtype(get_aval(x1).dtype)
    if dtype.kind == "f":
        dtype = np.dtype(np.float64)
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


def where(condition: Any, x: Any = None, y: Any = None, /) -> Any:
    """``x`` where ``condition`` else ``y``, broadcasting all three (as ``numpy.where``).

    Gradients flow only into the selected branch, and stay finite in the other branch
    even where it is infinite or NaN (see docs/sharp_bits.md).
    """
    if x is None and y is None:
        from fxgrad.numpy import nonzero

        return nonzero(condition)
    if x is None or y is None:
        raise ValueError("fxgrad.numpy.where takes either 1 or 3 arguments")
    condition = _as_bool(condition)
    x, y = promote_args("where", x, y)
    condition, x, y = promote_args_shapes_only("where", condition, x, y)
    return ew.select_n(condition, y, x)


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


del isfinite_

__all__ = [
    "abs",
    "absolute",
    "acos",
    "acosh",
    "add",
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
    "bitwise_invert",
    "bitwise_not",
    "bitwise_or",
    "bitwise_xor",
    "cbrt",
    "ceil",
    "clip",
    "conj",
    "conjugate",
    "cos",
    "cosh",
    "divide",
    "divmod",
    "equal",
    "exp",
    "exp2",
    "expm1",
    "fix",
    "float_power",
    "floor",
    "floor_divide",
    "fmod",
    "greater",
    "greater_equal",
    "imag",
    "invert",
    "isfinite",
    "isinf",
    "isnan",
    "left_shift",
    "less",
    "less_equal",
    "log",
    "log1p",
    "logical_and",
    "logical_not",
    "logical_or",
    "logical_xor",
    "maximum",
    "minimum",
    "mod",
    "multiply",
    "negative",
    "nextafter",
    "not_equal",
    "positive",
    "pow",
    "power",
    "real",
    "reciprocal",
    "remainder",
    "right_shift",
    "rint",
    "round",
    "sign",
    "sin",
    "sinh",
    "sqrt",
    "square",
    "subtract",
    "tan",
    "tanh",
    "true_divide",
    "trunc",
    "where",
]
