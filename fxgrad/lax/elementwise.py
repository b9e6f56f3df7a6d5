"""Elementwise primitives, declared from one table.

Each row of ``_TABLE`` gives a primitive's name, its arity, the NumPy implementation,
the dtypes it accepts, its output dtype rule, its JVP (one partial rule per argument,
written with lax functions so it can be differentiated again) and the kernel op that
implements it in ``jit``'s lowering. Adding a unary op is one row.

lax semantics (as in JAX): operands of an elementwise primitive have equal shapes and
equal dtypes; Python scalars are accepted by the wrapper functions and take the other
operand's dtype. ``fxgrad.numpy`` does NumPy-style broadcasting and promotion before it
calls these.

Partial rules have the signature ``partial(t, out, *primals, **params)``: ``t`` is the
tangent of one argument, ``out`` the primal output.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from fxgrad import dtypes
from fxgrad.core import ShapedArray, Tracer, get_aval
from fxgrad.errors import FxgradTypeError, ShapeError
from fxgrad.interpreters import batching
from fxgrad.interpreters.jvp import Zero, add_tangents, instantiate_zeros
from fxgrad.lax import _special
from fxgrad.lax._define import define_primitive

# dtype families accepted by a row
_ANY = "any"
_NUM = "number"  # ints, floats, complex (not bool)
_INT_BOOL = "int_bool"
_INT = "int"
_FLOAT = "float"  # real floating
_INEXACT = "inexact"  # floating or complex
_COMPLEX = "complex"
_REAL_NUM = "real_number"  # ints and floats, not complex
_BOOL = "bool"


def _accepts(kind: str, dtype: np.dtype) -> bool:
    k = dtype.kind
    return {
        _ANY: True,
        _NUM: k in "iufc",
        _INT_BOOL: k in "iub",
        _INT: k in "iu",
        _FLOAT: k == "f",
        _INEXACT: k in "fc",
        _COMPLEX: k == "c",
        _REAL_NUM: k in "iuf",
        _BOOL: k == "b",
    }[kind]


_KIND_TEXT = {
    _ANY: "any dtype",
    _NUM: "a numeric dtype (not bool)",
    _INT_BOOL: "an integer or bool dtype",
    _INT: "an integer dtype",
    _FLOAT: "a real floating dtype",
    _INEXACT: "a floating or complex dtype",
    _COMPLEX: "a complex dtype",
    _REAL_NUM: "a real (non-complex) numeric dtype",
    _BOOL: "bool",
}


def _same(dtype: np.dtype) -> np.dtype:
    return dtype


def _to_bool(dtype: np.dtype) -> np.dtype:
    return np.dtype(bool)


def _to_real(dtype: np.dtype) -> np.dtype:
    return dtypes.real_dtype(dtype) if dtype.kind == "c" else dtype


def _to_complex(dtype: np.dtype) -> np.dtype:
    return dtypes.to_complex_dtype(dtype)


def elementwise_abstract_eval(name: str, kind: str, out_dtype: Callable) -> Callable:
    """The shape/dtype rule of an elementwise primitive: equal shapes, equal dtypes."""

    def abstract_eval(*avals: ShapedArray, **params: Any) -> ShapedArray:
        shapes = {tuple(a.shape) for a in avals}
        if len(shapes) > 1:
            shown = ", ".join(str(tuple(a.shape)) for a in avals)
            raise ShapeError(
                f"lax.{name} got incompatible shapes {shown}: lax elementwise operations "
                "need operands of equal shape. Use fxgrad.numpy (which broadcasts) or "
                "broadcast explicitly with lax.broadcast_in_dim."
            )
        dts = {np.dtype(a.dtype) for a in avals}
        if len(dts) > 1:
            shown = ", ".join(np.dtype(a.dtype).name for a in avals)
            raise FxgradTypeError(
                f"lax.{name} requires arguments of the same dtype, got {shown}. Convert "
                "with lax.convert_element_type or use fxgrad.numpy, which promotes."
            )
        dtype = np.dtype(avals[0].dtype)
        if not _accepts(kind, dtype):
            raise FxgradTypeError(
                f"lax.{name} does not accept dtype {dtype.name}; it requires {_KIND_TEXT[kind]}."
            )
        weak = all(a.weak_type for a in avals)
        return ShapedArray(avals[0].shape, out_dtype(dtype), weak)

    return abstract_eval


try:  # NumPy's own error-state variable: entering it costs ~0.2us, np.errstate ~1.7us
    from numpy._core._ufunc_config import _extobj_contextvar, _make_extobj

    _IGNORE_ERRORS = _make_extobj(all="ignore")
except (ImportError, AttributeError, TypeError):  # pragma: no cover - other NumPy versions
    _extobj_contextvar = None


def _quiet(fn: Callable) -> Callable:
    """Run a NumPy implementation without floating-point warnings (JAX never warns).

    0 * inf, overflow and division by zero are ordinary values here (NaN, inf), and the
    test suite turns warnings into errors. The error state is set through NumPy's
    context variable, so it is thread-safe and cheap enough for every eager operation.
    """
    if _extobj_contextvar is None:  # pragma: no cover
        return np.errstate(all="ignore")(fn)

    def impl(*args, **params):
        token = _extobj_contextvar.set(_IGNORE_ERRORS)
        try:
            return fn(*args, **params)
        finally:
            _extobj_contextvar.reset(token)

    impl.__name__ = getattr(fn, "__name__", "impl")
    return impl


def _cast_like(fn: Callable) -> Callable:
    """Cast the NumPy result back to the input dtype (NumPy upcasts some ops)."""

    def impl(x, *rest, **params):
        out = fn(x, *rest, **params)
        dtype = np.asarray(x).dtype
        return np.asarray(out, dtype=dtype)

    return impl


# ---------------------------------------------------------------------------------------
# NumPy implementations that need more than one ufunc
# ---------------------------------------------------------------------------------------


def _logistic_impl(x):
    x = np.asarray(x)
    one = x.dtype.type(1)
    return np.where(x >= 0, one / (one + np.exp(-x)), np.exp(x) / (one + np.exp(x))).astype(x.dtype)


def _rsqrt_impl(x):
    x = np.asarray(x)
    return (x.dtype.type(1) / np.sqrt(x)).astype(x.dtype)


def _round_impl(x, *, rounding_method=0):
    x = np.asarray(x)
    if rounding_method == 1:  # to nearest even
        return np.round(x)
    # Half away from zero. x - trunc(x) is exact, so halves are detected exactly (the
    # usual floor(|x| + 0.5) rounds 0.49999999999999994 up to 1).
    whole = np.trunc(x)
    return np.where(np.abs(x - whole) >= 0.5, whole + np.sign(x), whole).astype(x.dtype)


def _div_impl(x, y):
    x, y = np.asarray(x), np.asarray(y)
    if x.dtype.kind in "iu":
        # C semantics: round towards zero (NumPy's // rounds down).
        zero = np.zeros((), x.dtype)
        safe_y = np.where(y == 0, np.ones((), y.dtype), y)
        q = np.floor_divide(x, safe_y)
        fix = (np.remainder(x, safe_y) != zero) & ((x < zero) != (safe_y < zero))
        return np.where(y == 0, zero, q + fix.astype(x.dtype)).astype(x.dtype)
    return np.divide(x, y).astype(x.dtype)


def _rem_impl(x, y):
    x, y = np.asarray(x), np.asarray(y)
    if x.dtype.kind in "iu":
        safe_y = np.where(y == 0, np.ones((), y.dtype), y)
        return np.where(y == 0, x, np.fmod(x, safe_y)).astype(x.dtype)
    return np.fmod(x, y).astype(x.dtype)


def _pow_impl(x, y):
    x, y = np.asarray(x), np.asarray(y)
    return np.power(x, y).astype(x.dtype)


def _integer_pow_impl(x, *, y):
    x = np.asarray(x)
    if y >= 0:
        return np.power(x, y).astype(x.dtype)
    return (x.dtype.type(1) / np.power(x, -y)).astype(x.dtype)


def _sign_impl(x):
    x = np.asarray(x)
    if x.dtype.kind == "c":
        mag = np.abs(x)
        return np.where(mag == 0, 0, x / np.where(mag == 0, 1, mag)).astype(x.dtype)
    if x.dtype.kind == "u":
        return (x > 0).astype(x.dtype)
    return np.sign(x)


def _max_impl(x, y):
    # NaN-propagating, as XLA's max.
    return np.maximum(x, y)


def _min_impl(x, y):
    return np.minimum(x, y)


def _not_impl(x):
    x = np.asarray(x)
    return np.logical_not(x) if x.dtype == bool else np.invert(x)


def _complex_impl(x, y):
    # Assign the parts: x + y * 1j would turn an infinite y into a NaN real part.
    x, y = np.asarray(x), np.asarray(y)
    out = np.empty(np.broadcast_shapes(x.shape, y.shape), dtypes.to_complex_dtype(x.dtype))
    out.real = x
    out.imag = y
    return out


def _shift_right_logical_impl(x, y):
    x, y = np.asarray(x), np.asarray(y)
    unsigned = np.dtype(f"u{x.dtype.itemsize}")
    bits = 8 * x.dtype.itemsize
    shifted = np.right_shift(x.view(unsigned), np.clip(y, 0, bits - 1).astype(unsigned))
    # XLA semantics: shifting by the width or more gives 0.
    return np.where((y < 0) | (y >= bits), 0, shifted).astype(unsigned).view(x.dtype)


def _population_count_impl(x):
    x = np.asarray(x)
    unsigned = np.dtype(f"u{x.dtype.itemsize}")
    return np.bitwise_count(x.view(unsigned)).astype(x.dtype)


def _conj_impl(x):
    x = np.asarray(x)
    return np.conj(x).astype(_to_complex(x.dtype))


def _cbrt_impl(x):
    return np.cbrt(x)


def _exp2_impl(x):
    return np.exp2(x)


def _is_finite_impl(x):
    return np.isfinite(x)


def _select_n_impl(which, *cases):
    which = np.asarray(which)
    if len(cases) == 1:
        return np.asarray(cases[0])
    if which.dtype == bool:
        return np.where(which, cases[1], cases[0])
    return np.choose(which, cases, mode="clip")


# ---------------------------------------------------------------------------------------
# JVP partial rules (t, out, *primals) — written with the lax functions defined below
# ---------------------------------------------------------------------------------------


def _const(like: Any, value: float) -> Any:
    """A scalar of ``like``'s dtype, broadcast to its shape."""
    aval = get_aval(like)
    return full_like_aval(aval, value)


def full_like_aval(aval: ShapedArray, value: Any) -> Any:
    from fxgrad.lax.shape import broadcast_in_dim

    scalar = np.asarray(value, dtype=aval.dtype)
    if not aval.shape:
        return scalar
    return broadcast_in_dim(scalar, aval.shape, ())


_J = {
    # linear / structural
    "neg": (lambda t, out, x: neg(t),),
    "add": (lambda t, out, x, y: t, lambda t, out, x, y: t),
    "sub": (lambda t, out, x, y: t, lambda t, out, x, y: neg(t)),
    "mul": (lambda t, out, x, y: mul(t, y), lambda t, out, x, y: mul(x, t)),
    "div": (lambda t, out, x, y: div(t, y), lambda t, out, x, y: mul(neg(t), div(out, y))),
    # exponentials and logs
    "exp": (lambda t, out, x: mul(t, out),),
    "exp2": (lambda t, out, x: mul(t, mul(out, _const(out, math.log(2.0)))),),
    "log": (lambda t, out, x: div(t, x),),
    "log1p": (lambda t, out, x: div(t, add(x, _const(x, 1.0))),),
    "expm1": (lambda t, out, x: mul(t, add(out, _const(out, 1.0))),),
    "tanh": (lambda t, out, x: mul(t, sub(_const(out, 1.0), square(out))),),
    "logistic": (lambda t, out, x: mul(t, mul(out, sub(_const(out, 1.0), out))),),
    # trigonometric
    "sin": (lambda t, out, x: mul(t, cos(x)),),
    "cos": (lambda t, out, x: neg(mul(t, sin(x))),),
    "tan": (lambda t, out, x: mul(t, add(_const(out, 1.0), square(out))),),
    "asin": (lambda t, out, x: mul(t, rsqrt(sub(_const(x, 1.0), square(x)))),),
    "acos": (lambda t, out, x: neg(mul(t, rsqrt(sub(_const(x, 1.0), square(x))))),),
    "atan": (lambda t, out, x: div(t, add(_const(x, 1.0), square(x))),),
    "sinh": (lambda t, out, x: mul(t, cosh(x)),),
    "cosh": (lambda t, out, x: mul(t, sinh(x)),),
    "asinh": (lambda t, out, x: mul(t, rsqrt(add(square(x), _const(x, 1.0)))),),
    "acosh": (lambda t, out, x: _acosh_jvp(t, x),),
    "atanh": (lambda t, out, x: div(t, sub(_const(x, 1.0), square(x))),),
    "atan2": (
        lambda t, out, x, y: mul(t, div(y, add(square(x), square(y)))),
        lambda t, out, x, y: mul(t, div(neg(x), add(square(x), square(y)))),
    ),
    # roots and powers
    "sqrt": (lambda t, out, x: div(t, mul(out, _const(out, 2.0))),),
    "rsqrt": (lambda t, out, x: mul(t, mul(div(out, x), _const(out, -0.5))),),
    "cbrt": (lambda t, out, x: mul(t, div(_const(out, 1.0 / 3.0), square(out))),),
    "square": (lambda t, out, x: mul(t, mul(x, _const(x, 2.0))),),
    "integer_pow": (lambda t, out, x, *, y: _integer_pow_jvp(t, x, y),),
    "pow": (
        lambda t, out, x, y: mul(t, mul(y, pow(x, sub(y, _const(y, 1.0))))),
        lambda t, out, x, y: mul(t, mul(out, _log_or_zero(x))),
    ),
    "abs": (lambda t, out, x: _abs_jvp(t, x),),
    "max": (
        lambda t, out, x, y: mul(t, _balanced_where(gt(x, y), eq(x, y), x)),
        lambda t, out, x, y: mul(t, _balanced_where(lt(x, y), eq(x, y), y)),
    ),
    "min": (
        lambda t, out, x, y: mul(t, _balanced_where(lt(x, y), eq(x, y), x)),
        lambda t, out, x, y: mul(t, _balanced_where(gt(x, y), eq(x, y), y)),
    ),
    "rem": (
        lambda t, out, x, y: t,
        lambda t, out, x, y: mul(neg(t), _trunc(div(x, y))),
    ),
    # complex parts
    "real": (lambda t, out, x: real(t),),
    "imag": (lambda t, out, x: imag(t),),
    "conj": (lambda t, out, x: conj(t),),
    "complex": (
        lambda t, out, x, y: complex(t, _zeros_like(t)),
        lambda t, out, x, y: complex(_zeros_like(t), t),
    ),
    # special functions
    "erf": (
        lambda t, out, x: mul(t, mul(_const(x, 2.0 / math.sqrt(math.pi)), exp(neg(square(x))))),
    ),
    "erfc": (
        lambda t, out, x: mul(t, mul(_const(x, -2.0 / math.sqrt(math.pi)), exp(neg(square(x))))),
    ),
    "erf_inv": (
        lambda t, out, x: mul(t, mul(_const(x, math.sqrt(math.pi) / 2.0), exp(square(out)))),
    ),
    "lgamma": (lambda t, out, x: mul(t, digamma(x)),),
    "digamma": (lambda t, out, x: mul(t, polygamma(_const(x, 1.0), x)),),
    "polygamma": (
        lambda t, out, m, x: _polygamma_m_jvp(t, out, m, x),
        lambda t, out, m, x: mul(t, polygamma(add(m, _const(m, 1.0)), x)),
    ),
}


def _zeros_like(x):
    return full_like_aval(get_aval(x), 0)


def _trunc(x):
    return mul(sign(x), floor(abs(x)))


def _log_or_zero(x):
    """log(x) where x != 0, else 0: the y-partial of x**y at x = 0 (where out = 0)."""
    is_zero = eq(x, _zeros_like(x))
    safe = select_n(is_zero, x, _const(x, 1.0))
    return log(safe)


def _balanced_where(strict, tie, like):
    """1 where ``strict``, 1/2 where ``tie``, else 0: max/min split ties evenly (as JAX)."""
    one = _const(like, 1.0)
    half = _const(like, 0.5)
    zero = _zeros_like(like)
    return select_n(strict, select_n(tie, zero, half), one)


def _abs_jvp(t, x):
    aval = get_aval(x)
    if aval.dtype.kind == "c":
        mag = abs(x)
        is_zero = eq(mag, _zeros_like(mag))
        safe = select_n(is_zero, mag, _const(mag, 1.0))
        return select_n(is_zero, div(real(mul(conj(x), t)), safe), _zeros_like(mag))
    # JAX's convention: derivative +1 at 0 (and -0.0), so abs'(0) is a subgradient.
    return select_n(ge(x, _zeros_like(x)), neg(t), t)


def _acosh_jvp(t, x):
    """1 / (sqrt(x - 1) sqrt(x + 1)). For complex x the two roots cannot be merged:
    sqrt((x - 1)(x + 1)) has the opposite sign where Re x < 0 (JAX merges them, and its
    complex derivative is wrong in that half-plane)."""
    minus, plus = sub(x, _const(x, 1.0)), add(x, _const(x, 1.0))
    if get_aval(x).dtype.kind == "c":
        return mul(t, mul(rsqrt(minus), rsqrt(plus)))
    return mul(t, rsqrt(mul(minus, plus)))


def _polygamma_m_jvp(t, out, m, x):
    raise FxgradTypeError(
        "the derivative of lax.polygamma(m, x) with respect to the order m is not defined "
        "(m is an integer); differentiate with respect to x only, for example by closing "
        "over m: grad(lambda x: polygamma(m, x))."
    )


def _integer_pow_jvp(t, x, y):
    if y == 0:
        return _zeros_like(t)
    factor = _const(x, float(y)) if y - 1 == 0 else mul(_const(x, float(y)), integer_pow(x, y - 1))
    return mul(t, factor)


# ---------------------------------------------------------------------------------------
# The table
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Row:
    name: str
    arity: int
    impl: Callable[..., Any]
    kind: str
    out_dtype: Callable[[np.dtype], np.dtype] = _same
    differentiable: bool = True


_q = _quiet

_TABLE: tuple[_Row, ...] = (
    _Row("neg", 1, _q(np.negative), _NUM),
    _Row("sign", 1, _sign_impl, _NUM, differentiable=False),
    _Row("floor", 1, np.floor, _FLOAT, differentiable=False),
    _Row("ceil", 1, np.ceil, _FLOAT, differentiable=False),
    _Row("round", 1, _q(_round_impl), _FLOAT, differentiable=False),
    _Row("is_finite", 1, _is_finite_impl, _FLOAT, _to_bool, differentiable=False),
    _Row("exp", 1, _q(np.exp), _INEXACT),
    _Row("exp2", 1, _q(_exp2_impl), _INEXACT),
    _Row("log", 1, _q(np.log), _INEXACT),
    _Row("log1p", 1, _q(np.log1p), _INEXACT),
    _Row("expm1", 1, _q(np.expm1), _INEXACT),
    _Row("tanh", 1, _q(np.tanh), _INEXACT),
    _Row("logistic", 1, _q(_logistic_impl), _INEXACT),
    _Row("sin", 1, _q(np.sin), _INEXACT),
    _Row("cos", 1, _q(np.cos), _INEXACT),
    _Row("tan", 1, _q(np.tan), _INEXACT),
    _Row("asin", 1, _q(np.arcsin), _INEXACT),
    _Row("acos", 1, _q(np.arccos), _INEXACT),
    _Row("atan", 1, _q(np.arctan), _INEXACT),
    _Row("sinh", 1, _q(np.sinh), _INEXACT),
    _Row("cosh", 1, _q(np.cosh), _INEXACT),
    _Row("asinh", 1, _q(np.arcsinh), _INEXACT),
    _Row("acosh", 1, _q(np.arccosh), _INEXACT),
    _Row("atanh", 1, _q(np.arctanh), _INEXACT),
    _Row("sqrt", 1, _q(np.sqrt), _INEXACT),
    _Row("rsqrt", 1, _q(_rsqrt_impl), _INEXACT),
    _Row("cbrt", 1, _q(_cbrt_impl), _FLOAT),
    _Row("square", 1, _q(np.square), _NUM),
    _Row("abs", 1, _q(np.abs), _NUM, _to_real),
    _Row("not", 1, _not_impl, _INT_BOOL, differentiable=False),
    _Row("real", 1, np.real, _COMPLEX, _to_real),
    _Row("imag", 1, np.imag, _COMPLEX, _to_real),
    _Row("conj", 1, _q(_conj_impl), _INEXACT, _to_complex),
    _Row("erf", 1, _q(_special.erf), _FLOAT),
    _Row("erfc", 1, _q(_special.erfc), _FLOAT),
    _Row("erf_inv", 1, _q(_special.erf_inv), _FLOAT),
    _Row("lgamma", 1, _q(_special.lgamma), _FLOAT),
    _Row("digamma", 1, _q(_special.digamma), _FLOAT),
    _Row("add", 2, _q(np.add), _ANY),
    _Row("sub", 2, _q(np.subtract), _NUM),
    _Row("mul", 2, _q(np.multiply), _ANY),
    _Row("div", 2, _q(_div_impl), _NUM),
    _Row("rem", 2, _q(_rem_impl), _NUM),
    _Row("pow", 2, _q(_pow_impl), _INEXACT),
    _Row("max", 2, _q(_max_impl), _ANY),
    _Row("min", 2, _q(_min_impl), _ANY),
    _Row("atan2", 2, _q(np.arctan2), _FLOAT),
    _Row("nextafter", 2, _q(np.nextafter), _FLOAT, differentiable=False),
    _Row("polygamma", 2, _q(_special.polygamma), _FLOAT),
    _Row("complex", 2, _complex_impl, _FLOAT, _to_complex),
    _Row("eq", 2, np.equal, _ANY, _to_bool, differentiable=False),
    _Row("ne", 2, np.not_equal, _ANY, _to_bool, differentiable=False),
    _Row("lt", 2, np.less, _ANY, _to_bool, differentiable=False),
    _Row("le", 2, np.less_equal, _ANY, _to_bool, differentiable=False),
    _Row("gt", 2, np.greater, _ANY, _to_bool, differentiable=False),
    _Row("ge", 2, np.greater_equal, _ANY, _to_bool, differentiable=False),
    _Row("and", 2, np.bitwise_and, _INT_BOOL, differentiable=False),
    _Row("or", 2, np.bitwise_or, _INT_BOOL, differentiable=False),
    _Row("xor", 2, np.bitwise_xor, _INT_BOOL, differentiable=False),
    _Row("shift_left", 2, np.left_shift, _INT, differentiable=False),
    _Row("shift_right_arithmetic", 2, np.right_shift, _INT, differentiable=False),
    _Row("shift_right_logical", 2, _shift_right_logical_impl, _INT, differentiable=False),
    _Row("population_count", 1, _population_count_impl, _INT, differentiable=False),
)


# ---------------------------------------------------------------------------------------
# Transposes of the linear ones
# ---------------------------------------------------------------------------------------


def _unary_linear_transpose(fn: Callable) -> Callable:
    def transpose(ct, x, **params):
        return [fn(instantiate_zeros(ct))]

    return transpose


def _add_transpose(ct, x, y):
    return [ct, ct]


def _sub_transpose(ct, x, y):
    return [ct, neg(ct) if type(ct) is not Zero else ct]


def _mul_transpose(ct, x, y):
    from fxgrad.interpreters.transpose import is_undefined_primal

    if is_undefined_primal(x):
        return [_mul_ct(ct, y), None]
    return [None, _mul_ct(ct, x)]


def _mul_ct(ct, factor):
    """``ct * factor``, where a zero cotangent annihilates an infinite ``factor``.

    This is what keeps gradients through ``where`` finite in the branch not taken
    (``where(x > 0, sqrt(x), 0)`` at 0): the unselected branch receives a zero
    cotangent, and 0 * inf would otherwise be NaN. ``config.jax_compatible_where_grad``
    restores plain multiplication (and JAX's NaNs).
    """
    from fxgrad.config import config

    if config.read("jax_compatible_where_grad") or get_aval(ct).dtype.kind not in "fc":
        return mul(ct, factor)
    zero = _zeros_like(ct)
    return select_n(eq(ct, zero), mul(ct, factor), zero)


def _div_transpose(ct, x, y):
    from fxgrad.interpreters.transpose import is_undefined_primal

    assert is_undefined_primal(x) and not is_undefined_primal(y)
    from fxgrad.config import config

    if config.read("jax_compatible_where_grad") or get_aval(ct).dtype.kind not in "fc":
        return [div(ct, y), None]
    zero = _zeros_like(ct)
    return [select_n(eq(ct, zero), div(ct, y), zero), None]


def _real_transpose(ct, x):
    return [complex(instantiate_zeros(ct), _zeros_like(instantiate_zeros(ct)))]


def _imag_transpose(ct, x):
    ct = instantiate_zeros(ct)
    return [complex(_zeros_like(ct), neg(ct))]


def _complex_transpose(ct, x, y):
    ct = instantiate_zeros(ct)
    return [real(ct), imag(neg(ct))]


def _conj_transpose(ct, x):
    ct = instantiate_zeros(ct)
    if np.dtype(x.aval.dtype).kind == "c":
        return [conj(ct)]
    return [real(ct)]


_TRANSPOSES: dict[str, Callable] = {
    "neg": _unary_linear_transpose(lambda ct: neg(ct)),
    "add": _add_transpose,
    "sub": _sub_transpose,
    "mul": _mul_transpose,
    "div": _div_transpose,
    "real": _real_transpose,
    "imag": _imag_transpose,
    "complex": _complex_transpose,
    "conj": _conj_transpose,
}


# ---------------------------------------------------------------------------------------
# Building the primitives and their lax functions
# ---------------------------------------------------------------------------------------


def _make_jvp(prim, partials):
    def rule(primals, tangents, **params):
        out = prim.bind(*primals, **params)
        tangent_out: Any = Zero(
            get_aval(out).update(dtype=dtypes.tangent_dtype(get_aval(out).dtype))
        )
        for partial, t in zip(partials, tangents, strict=True):
            if partial is None or type(t) is Zero:
                continue
            tangent_out = add_tangents(tangent_out, partial(t, out, *primals, **params))
        return out, tangent_out

    return rule


def _zero_jvp(prim):
    def rule(primals, tangents, **params):
        out = prim.bind(*primals, **params)
        aval = get_aval(out)
        return out, Zero(aval.update(dtype=dtypes.tangent_dtype(aval.dtype)))

    return rule


def _define_row(row: _Row):
    def impl(*args, **params):
        return row.impl(*args, **params)

    prim = define_primitive(
        row.name,
        impl=row.impl,
        abstract_eval=elementwise_abstract_eval(row.name, row.kind, row.out_dtype),
        jvp=None,
        transpose=_TRANSPOSES.get(row.name),
        batch=None,
        kernel="elementwise",
        kernel_op=row.name,
    )
    from fxgrad.interpreters.batching import batch_rules
    from fxgrad.interpreters.jvp import jvp_rules

    batch_rules[prim] = batching.broadcast_batcher(prim)
    if row.differentiable:
        jvp_rules[prim] = _make_jvp(prim, _J[row.name])
    else:
        jvp_rules[prim] = _zero_jvp(prim)
    return prim


_PRIMS = {row.name: _define_row(row) for row in _TABLE}


def _is_python_scalar(x: Any) -> bool:
    return type(x) in (bool, int, float, complex)


def elementwise_args(*args: Any, name: str | None = None) -> list[Any]:
    """Give Python scalars the dtype of the array operands and broadcast to one shape.

    With ``name``, also check that the operands share one dtype (eagerly, the primitive's
    NumPy implementation would otherwise promote silently).
    """
    strong = [a for a in args if not _is_python_scalar(a)]
    if len(strong) < len(args):
        if strong:
            dtype = get_aval(strong[0]).dtype
            args = tuple(np.asarray(a, dtype=dtype) if _is_python_scalar(a) else a for a in args)
        else:
            dtype = dtypes.result_type(*args)
            args = tuple(np.asarray(a, dtype=dtype) for a in args)
    avals = [get_aval(a) for a in args]
    if name is not None and any(a.dtype != avals[0].dtype for a in avals):
        shown = ", ".join(np.dtype(a.dtype).name for a in avals)
        raise FxgradTypeError(
            f"lax.{name} requires arguments of the same dtype, got {shown}. Convert with "
            "lax.convert_element_type or use fxgrad.numpy, which promotes."
        )
    shapes = [a.shape for a in avals]
    first = shapes[0]
    if all(s == first for s in shapes):
        return list(args)
    from fxgrad.lax.shape import broadcast_to_shape

    try:
        shape = np.broadcast_shapes(*shapes)
    except ValueError:
        return list(args)  # the primitive's abstract eval reports the mismatch
    return [broadcast_to_shape(a, shape) for a in args]


# Primitives, under the names JAX gives them (``<name>_p``).
neg_p = _PRIMS["neg"]
sign_p = _PRIMS["sign"]
floor_p = _PRIMS["floor"]
ceil_p = _PRIMS["ceil"]
round_p = _PRIMS["round"]
is_finite_p = _PRIMS["is_finite"]
exp_p = _PRIMS["exp"]
exp2_p = _PRIMS["exp2"]
log_p = _PRIMS["log"]
log1p_p = _PRIMS["log1p"]
expm1_p = _PRIMS["expm1"]
tanh_p = _PRIMS["tanh"]
logistic_p = _PRIMS["logistic"]
sin_p = _PRIMS["sin"]
cos_p = _PRIMS["cos"]
tan_p = _PRIMS["tan"]
asin_p = _PRIMS["asin"]
acos_p = _PRIMS["acos"]
atan_p = _PRIMS["atan"]
sinh_p = _PRIMS["sinh"]
cosh_p = _PRIMS["cosh"]
asinh_p = _PRIMS["asinh"]
acosh_p = _PRIMS["acosh"]
atanh_p = _PRIMS["atanh"]
sqrt_p = _PRIMS["sqrt"]
rsqrt_p = _PRIMS["rsqrt"]
cbrt_p = _PRIMS["cbrt"]
square_p = _PRIMS["square"]
abs_p = _PRIMS["abs"]
not_p = _PRIMS["not"]
real_p = _PRIMS["real"]
imag_p = _PRIMS["imag"]
conj_p = _PRIMS["conj"]
erf_p = _PRIMS["erf"]
erfc_p = _PRIMS["erfc"]
erf_inv_p = _PRIMS["erf_inv"]
lgamma_p = _PRIMS["lgamma"]
digamma_p = _PRIMS["digamma"]
add_p = _PRIMS["add"]
sub_p = _PRIMS["sub"]
mul_p = _PRIMS["mul"]
div_p = _PRIMS["div"]
rem_p = _PRIMS["rem"]
pow_p = _PRIMS["pow"]
max_p = _PRIMS["max"]
min_p = _PRIMS["min"]
atan2_p = _PRIMS["atan2"]
nextafter_p = _PRIMS["nextafter"]
polygamma_p = _PRIMS["polygamma"]
complex_p = _PRIMS["complex"]
eq_p = _PRIMS["eq"]
ne_p = _PRIMS["ne"]
lt_p = _PRIMS["lt"]
le_p = _PRIMS["le"]
gt_p = _PRIMS["gt"]
ge_p = _PRIMS["ge"]
and_p = _PRIMS["and"]
or_p = _PRIMS["or"]
xor_p = _PRIMS["xor"]
shift_left_p = _PRIMS["shift_left"]
shift_right_arithmetic_p = _PRIMS["shift_right_arithmetic"]
shift_right_logical_p = _PRIMS["shift_right_logical"]
population_count_p = _PRIMS["population_count"]


def _unary(prim):
    def fn(x: Any) -> Any:
        if not isinstance(x, Tracer):
            prim.abstract_eval(get_aval(x))  # eager: the NumPy impl would not check dtypes
        return prim.bind(x)

    fn.__name__ = prim.name
    fn.__doc__ = f"Elementwise ``{prim.name}`` (the ``{prim.name}`` primitive)."
    return fn


def _binary(prim):
    def fn(x: Any, y: Any) -> Any:
        return prim.bind(*elementwise_args(x, y, name=prim.name))

    fn.__name__ = prim.name
    fn.__doc__ = (
        f"Elementwise ``{prim.name}`` of two arrays of equal dtype (the ``{prim.name}`` "
        "primitive); Python scalars take the other operand's dtype, shapes broadcast."
    )
    return fn


neg = _unary(neg_p)
sign = _unary(sign_p)
floor = _unary(floor_p)
ceil = _unary(ceil_p)
is_finite = _unary(is_finite_p)
exp = _unary(exp_p)
exp2 = _unary(exp2_p)
log = _unary(log_p)
log1p = _unary(log1p_p)
expm1 = _unary(expm1_p)
tanh = _unary(tanh_p)
logistic = _unary(logistic_p)
sin = _unary(sin_p)
cos = _unary(cos_p)
tan = _unary(tan_p)
asin = _unary(asin_p)
acos = _unary(acos_p)
atan = _unary(atan_p)
sinh = _unary(sinh_p)
cosh = _unary(cosh_p)
asinh = _unary(asinh_p)
acosh = _unary(acosh_p)
atanh = _unary(atanh_p)
sqrt = _unary(sqrt_p)
rsqrt = _unary(rsqrt_p)
cbrt = _unary(cbrt_p)
square = _unary(square_p)
abs = _unary(abs_p)  # noqa: A001 - JAX's name
bitwise_not = _unary(not_p)
real = _unary(real_p)
imag = _unary(imag_p)
conj = _unary(conj_p)
erf = _unary(erf_p)
erfc = _unary(erfc_p)
erf_inv = _unary(erf_inv_p)
lgamma = _unary(lgamma_p)
digamma = _unary(digamma_p)
add = _binary(add_p)
sub = _binary(sub_p)
mul = _binary(mul_p)
div = _binary(div_p)
rem = _binary(rem_p)
pow = _binary(pow_p)  # noqa: A001 - JAX's name
max = _binary(max_p)  # noqa: A001 - JAX's name
min = _binary(min_p)  # noqa: A001 - JAX's name
atan2 = _binary(atan2_p)
nextafter = _binary(nextafter_p)
polygamma = _binary(polygamma_p)
complex = _binary(complex_p)  # noqa: A001 - JAX's name
eq = _binary(eq_p)
ne = _binary(ne_p)
lt = _binary(lt_p)
le = _binary(le_p)
gt = _binary(gt_p)
ge = _binary(ge_p)
bitwise_and = _binary(and_p)
bitwise_or = _binary(or_p)
bitwise_xor = _binary(xor_p)
shift_left = _binary(shift_left_p)
shift_right_arithmetic = _binary(shift_right_arithmetic_p)
shift_right_logical = _binary(shift_right_logical_p)
population_count = _unary(population_count_p)


def round(x: Any, rounding_method: int = 0) -> Any:  # noqa: A001 - JAX's name
    """Round to the nearest integer: half away from zero (0, the default) or to even (1)."""
    return round_p.bind(x, rounding_method=int(rounding_method))


# ---------------------------------------------------------------------------------------
# Primitives with parameters: integer_pow, convert_element_type, select_n, clamp
# ---------------------------------------------------------------------------------------


def _integer_pow_abstract_eval(x: ShapedArray, *, y: int) -> ShapedArray:
    if not _accepts(_NUM, np.dtype(x.dtype)):
        raise FxgradTypeError(f"lax.integer_pow does not accept dtype {x.dtype}")
    if y < 0 and np.dtype(x.dtype).kind in "iu":
        raise FxgradTypeError(
            f"lax.integer_pow of an integer array to a negative power ({y}) is not defined."
        )
    return x


def _integer_pow_jvp_rule(primals, tangents, *, y):
    (x,), (t,) = primals, tangents
    return integer_pow(x, y), _integer_pow_jvp(t, x, y)


integer_pow_p = define_primitive(
    "integer_pow",
    impl=_q(_integer_pow_impl),
    abstract_eval=_integer_pow_abstract_eval,
    jvp=_integer_pow_jvp_rule,
    batch=None,
    kernel="elementwise",
    kernel_op="integer_pow",
)
batching.batch_rules[integer_pow_p] = batching.broadcast_batcher(integer_pow_p)


def integer_pow(x: Any, y: int) -> Any:
    """``x ** y`` for a static Python integer ``y`` (computed by repeated multiplication)."""
    return integer_pow_p.bind(x, y=int(y))


def _convert_impl(x, *, new_dtype, weak_type=False):
    x = np.asarray(x)
    if np.dtype(new_dtype) == np.bool_:
        return x != 0
    if x.dtype.kind == "c" and np.dtype(new_dtype).kind != "c":
        x = x.real
    with np.errstate(all="ignore"):
        return x.astype(new_dtype)


def _convert_abstract_eval(x, *, new_dtype, weak_type=False):
    return ShapedArray(x.shape, np.dtype(new_dtype), weak_type)


def _convert_jvp(primals, tangents, *, new_dtype, weak_type=False):
    (x,), (t,) = primals, tangents
    out = convert_element_type_p.bind(x, new_dtype=new_dtype, weak_type=weak_type)
    old = np.dtype(get_aval(x).dtype)
    new = np.dtype(new_dtype)
    if type(t) is Zero or old.kind not in "fc" or new.kind not in "fc":
        return out, Zero(ShapedArray(get_aval(out).shape, dtypes.tangent_dtype(new)))
    return out, convert_element_type_p.bind(t, new_dtype=new, weak_type=weak_type)


def _convert_transpose(ct, x, *, new_dtype, weak_type=False):
    ct = instantiate_zeros(ct)
    old = np.dtype(x.aval.dtype)
    return [convert_element_type_p.bind(ct, new_dtype=old, weak_type=x.aval.weak_type)]


def _convert_batch(axis_size, vals, dims, **params):
    return convert_element_type_p.bind(vals[0], **params), dims[0]


convert_element_type_p = define_primitive(
    "convert_element_type",
    impl=_convert_impl,
    abstract_eval=_convert_abstract_eval,
    jvp=_convert_jvp,
    transpose=_convert_transpose,
    batch=_convert_batch,
    kernel="elementwise",
    kernel_op="convert",
)


def convert_element_type(operand: Any, new_dtype: Any) -> Any:
    """Elementwise cast of ``operand`` to ``new_dtype`` (complex to real keeps the real part)."""
    new_dtype = dtypes.canonicalize_dtype(new_dtype)
    aval = get_aval(operand)
    if np.dtype(aval.dtype) == new_dtype and not aval.weak_type:
        return operand
    return convert_element_type_p.bind(operand, new_dtype=new_dtype, weak_type=False)


def _select_n_abstract_eval(which, *cases):
    if not cases:
        raise FxgradTypeError("lax.select_n requires at least one case")
    shapes = {tuple(c.shape) for c in cases}
    dts = {np.dtype(c.dtype) for c in cases}
    if len(shapes) > 1 or len(dts) > 1:
        shown = ", ".join(c.str_short() for c in cases)
        raise ShapeError(f"lax.select_n cases must have equal shapes and dtypes, got {shown}")
    case = cases[0]
    if which.shape and tuple(which.shape) != tuple(case.shape):
        raise ShapeError(
            f"lax.select_n predicate shape {which.shape} must be scalar or equal to the "
            f"case shape {case.shape}"
        )
    wdt = np.dtype(which.dtype)
    if wdt == np.bool_:
        if len(cases) > 2:
            raise FxgradTypeError("lax.select_n with a bool predicate takes at most 2 cases")
    elif wdt.kind not in "iu":
        raise FxgradTypeError(f"lax.select_n predicate must be bool or int, got {wdt.name}")
    return ShapedArray(case.shape, case.dtype, all(c.weak_type for c in cases))


def _select_n_jvp(primals, tangents):
    which, *cases = primals
    out = select_n_p.bind(which, *primals[1:])
    case_ts = tangents[1:]
    if all(type(t) is Zero for t in case_ts):
        return out, Zero(case_ts[0].aval)
    case_ts = [instantiate_zeros(t) for t in case_ts]
    return out, select_n_p.bind(which, *case_ts)


def _select_n_transpose(ct, which, *cases):
    from fxgrad.interpreters.transpose import is_undefined_primal

    assert not is_undefined_primal(which)
    if type(ct) is Zero:
        return [None] + [Zero(ct.aval) if is_undefined_primal(c) else None for c in cases]
    zeros = _zeros_like(ct)
    outs = [None]
    for i, c in enumerate(cases):
        if not is_undefined_primal(c):
            outs.append(None)
            continue
        branches = [zeros] * len(cases)
        branches[i] = ct
        outs.append(select_n_p.bind(which, *branches))
    return outs


def _select_n_batch(axis_size, vals, dims):
    which, *cases = vals
    wdim, *cdims = dims
    case_ndim = get_aval(cases[0]).ndim - (cdims[0] is not batching.not_mapped)
    if wdim is batching.not_mapped and not get_aval(which).shape:
        moved = [batching.bdim_at_front(c, d, axis_size) for c, d in zip(cases, cdims, strict=True)]
        return select_n_p.bind(which, *moved), 0
    moved = [batching.bdim_at_front(c, d, axis_size) for c, d in zip(cases, cdims, strict=True)]
    which = batching.bdim_at_front(which, wdim, axis_size)
    if get_aval(which).ndim == 1 and case_ndim > 0:
        from fxgrad.lax.shape import broadcast_in_dim

        which = broadcast_in_dim(which, get_aval(moved[0]).shape, (0,))
    return select_n_p.bind(which, *moved), 0


select_n_p = define_primitive(
    "select_n",
    impl=_select_n_impl,
    abstract_eval=_select_n_abstract_eval,
    jvp=_select_n_jvp,
    transpose=_select_n_transpose,
    batch=_select_n_batch,
    kernel="elementwise",
    kernel_op="select",
)


def select_n(which: Any, *cases: Any) -> Any:
    """``cases[which]`` elementwise; a bool ``which`` picks ``cases[1]`` where True."""
    args = elementwise_args(*cases)
    which_aval = get_aval(which)
    if which_aval.shape and which_aval.shape != get_aval(args[0]).shape:
        from fxgrad.lax.shape import broadcast_to_shape

        shape = np.broadcast_shapes(which_aval.shape, get_aval(args[0]).shape)
        which = broadcast_to_shape(which, shape)
        args = [broadcast_to_shape(a, shape) for a in args]
    elif args and get_aval(args[0]).shape == () and which_aval.shape:
        from fxgrad.lax.shape import broadcast_to_shape

        args = [broadcast_to_shape(a, which_aval.shape) for a in args]
    return select_n_p.bind(which, *args)


def select(pred: Any, on_true: Any, on_false: Any) -> Any:
    """``on_true`` where ``pred`` else ``on_false`` (JAX's ``lax.select``)."""
    return select_n(pred, on_false, on_true)


def _clamp_impl(lo, x, hi):
    return np.minimum(np.maximum(x, lo), hi)


def _clamp_abstract_eval(lo: ShapedArray, x: ShapedArray, hi: ShapedArray) -> ShapedArray:
    for name, bound in (("min", lo), ("max", hi)):
        if tuple(bound.shape) != tuple(x.shape):
            raise ShapeError(
                f"lax.clamp: {name} must be a scalar or have the operand's shape {x.shape}, "
                f"got shape {bound.shape}."
            )
    dts = {np.dtype(a.dtype) for a in (lo, x, hi)}
    if len(dts) > 1:
        shown = ", ".join(np.dtype(a.dtype).name for a in (lo, x, hi))
        raise FxgradTypeError(
            f"lax.clamp requires min, operand and max of one dtype, got {shown}. Convert "
            "with lax.convert_element_type or use fxgrad.numpy.clip, which promotes."
        )
    if np.dtype(x.dtype).kind == "c":
        raise FxgradTypeError("lax.clamp does not accept complex operands (they are unordered).")
    return ShapedArray(x.shape, x.dtype, lo.weak_type and x.weak_type and hi.weak_type)


def _clamp_jvp(primals, tangents):
    """JAX's rule: the operand's tangent passes strictly inside (min, max), min's where it
    is above the operand (and below max), max's where it is below the operand; at a tie
    none passes."""
    lo, x, hi = primals
    t_lo, t_x, t_hi = tangents
    out = clamp_p.bind(lo, x, hi)
    tangent_out: Any = Zero(get_aval(out).update(dtype=dtypes.tangent_dtype(get_aval(out).dtype)))
    if type(t_lo) is not Zero:
        inside = bitwise_and(gt(lo, x), lt(lo, hi))
        tangent_out = add_tangents(tangent_out, select_n(inside, _zeros_like(t_lo), t_lo))
    if type(t_x) is not Zero:
        inside = bitwise_and(gt(x, lo), lt(x, hi))
        tangent_out = add_tangents(tangent_out, select_n(inside, _zeros_like(t_x), t_x))
    if type(t_hi) is not Zero:
        tangent_out = add_tangents(tangent_out, select_n(lt(hi, x), _zeros_like(t_hi), t_hi))
    return out, tangent_out


clamp_p = define_primitive(
    "clamp",
    impl=_q(_clamp_impl),
    abstract_eval=_clamp_abstract_eval,
    jvp=_clamp_jvp,
    batch=None,
    kernel="elementwise",
    kernel_op="clamp",
)
batching.batch_rules[clamp_p] = batching.broadcast_batcher(clamp_p)


def clamp(min: Any, x: Any, max: Any) -> Any:  # noqa: A002 - JAX's argument names
    """``x`` limited to ``[min, max]`` elementwise (JAX's argument order).

    ``min`` and ``max`` are scalars or have ``x``'s shape; Python scalars take ``x``'s
    dtype. The derivative follows JAX: ``x``'s passes strictly between the bounds, a
    bound's where it is active, and nothing at a tie.
    """
    x_aval = get_aval(x)
    args = []
    for bound in (min, max):
        if _is_python_scalar(bound):
            bound = np.asarray(bound, dtype=x_aval.dtype)
        if not get_aval(bound).shape and x_aval.shape:
            from fxgrad.lax.shape import broadcast_in_dim

            bound = broadcast_in_dim(bound, x_aval.shape, ())
        args.append(bound)
    _clamp_abstract_eval(get_aval(args[0]), x_aval, get_aval(args[1]))  # eager: check shapes
    return clamp_p.bind(args[0], x, args[1])


def _bitcast_abstract_eval(x: ShapedArray, *, new_dtype: np.dtype) -> ShapedArray:
    old = np.dtype(x.dtype)
    if old.itemsize != new_dtype.itemsize or np.bool_ in (old.type, new_dtype.type):
        raise FxgradTypeError(
            f"lax.bitcast_convert_type from {old.name} to {new_dtype.name}: fxgrad supports "
            "only non-bool dtypes of equal width (for example float32 <-> int32/uint32)."
        )
    return ShapedArray(x.shape, new_dtype, False)


def _bitcast_jvp(primals, tangents, *, new_dtype):
    out = bitcast_convert_type_p.bind(primals[0], new_dtype=new_dtype)
    return out, Zero(get_aval(out).update(dtype=dtypes.tangent_dtype(new_dtype)))


bitcast_convert_type_p = define_primitive(
    "bitcast_convert_type",
    impl=lambda x, *, new_dtype: np.asarray(x).view(new_dtype),  # same width: any strides
    abstract_eval=_bitcast_abstract_eval,
    jvp=_bitcast_jvp,
    batch=None,
    kernel="elementwise",
    kernel_op="bitcast",
)
batching.defvectorized(bitcast_convert_type_p)


def bitcast_convert_type(operand: Any, new_dtype: Any) -> Any:
    """Reinterpret the bits of ``operand`` as ``new_dtype`` (of the same width)."""
    new_dtype = dtypes.canonicalize_dtype(new_dtype)
    _bitcast_abstract_eval(get_aval(operand), new_dtype=new_dtype)  # eager: check widths
    return bitcast_convert_type_p.bind(operand, new_dtype=new_dtype)


def _stop_gradient_jvp(primals, tangents):
    (x,) = primals
    out = stop_gradient_p.bind(x)
    aval = get_aval(out)
    return out, Zero(aval.update(dtype=dtypes.tangent_dtype(aval.dtype)))


stop_gradient_p = define_primitive(
    "stop_gradient",
    impl=lambda x: x,
    abstract_eval=lambda x: x,
    jvp=_stop_gradient_jvp,
    batch=None,
    kernel="elementwise",
    kernel_op="copy",
)
batching.defvectorized(stop_gradient_p)


def stop_gradient(x: Any) -> Any:
    """The identity on values whose derivative is zero (applies to every leaf of a pytree)."""
    from fxgrad.tree_util import tree_map

    return tree_map(stop_gradient_p.bind, x)
