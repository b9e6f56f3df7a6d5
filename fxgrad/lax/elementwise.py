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

The NumPy implementations live in ``_elementwise_impls``; the elementwise primitives
that carry parameters or need rules of their own (``integer_pow``,
``convert_element_type``, ``select_n``, ``clamp``, ``bitcast_convert_type``,
``stop_gradient``) in ``elementwise_params``, re-exported from here.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from fxgrad import core, dtypes
from fxgrad.config import config
from fxgrad.core import Primitive, ShapedArray, Tracer, get_aval
from fxgrad.errors import FxgradTypeError, ShapeError
from fxgrad.interpreters import batching
from fxgrad.interpreters.jvp import Zero, add_tangents, instantiate_zeros, jvp_rules
from fxgrad.interpreters.transpose import is_undefined_primal
from fxgrad.lax import _elementwise_impls as impls
from fxgrad.lax import _special
from fxgrad.lax._define import define_primitive
from fxgrad.lax.shape import broadcast_in_dim, broadcast_small_or_view, broadcast_to_shape

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


_quiet = impls.quiet  # also wraps implementations in other lax families


# JVP partial rules (t, out, *primals) — written with the lax functions defined below
# ---------------------------------------------------------------------------------------


def _staging() -> bool:
    """Whether a ``bind`` without tracer arguments would be staged (inside ``jit`` and
    other staging scopes) rather than evaluated."""
    state = core._local_state
    return state.dynamic is not state.base


def _const(like: Any, value: float) -> Any:
    """A scalar of ``like``'s dtype, broadcast to its shape: an operand for the lax
    functions of the partial rules.

    Eagerly it is the NumPy array the ``broadcast_in_dim`` primitive would compute (a
    constant needs no dispatch); while staging it is that primitive, so that jaxprs
    carry a broadcast rather than a constant of the full shape.
    """
    aval = get_aval(like)
    if aval.shape and not _staging():
        return _scalar_operand(value, aval.dtype, aval.shape)
    return full_like_aval(aval, value)


def full_like_aval(aval: ShapedArray, value: Any) -> Any:
    """An array of type ``aval`` filled with ``value`` (a broadcast scalar)."""
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
    "tanh": (lambda t, out, x: mul(t, sub(1.0, square(out))),),
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
    # the where rule's products: see _exact_zero_cotangents
    "zero_safe_mul": (
        lambda t, out, ct, y: _zero_safe_mul(t, y),
        lambda t, out, ct, y: _zero_safe_mul(ct, t),
    ),
    "zero_safe_div": (
        lambda t, out, ct, y: _zero_safe_div(t, y),
        lambda t, out, ct, y: _zero_safe_mul(_zero_safe_div(out, y), neg(t)),
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
    _Row("sign", 1, impls.sign_impl, _NUM, differentiable=False),
    _Row("floor", 1, np.floor, _FLOAT, differentiable=False),
    _Row("ceil", 1, np.ceil, _FLOAT, differentiable=False),
    _Row("round", 1, _q(impls.round_impl), _FLOAT, differentiable=False),
    _Row("is_finite", 1, impls.is_finite_impl, _FLOAT, _to_bool, differentiable=False),
    _Row("exp", 1, _q(np.exp), _INEXACT),
    _Row("exp2", 1, _q(impls.exp2_impl), _INEXACT),
    _Row("log", 1, _q(np.log), _INEXACT),
    _Row("log1p", 1, _q(np.log1p), _INEXACT),
    _Row("expm1", 1, _q(np.expm1), _INEXACT),
    _Row("tanh", 1, _q(np.tanh), _INEXACT),
    _Row("logistic", 1, _q(impls.logistic_impl), _INEXACT),
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
    _Row("rsqrt", 1, _q(impls.rsqrt_impl), _INEXACT),
    _Row("cbrt", 1, _q(impls.cbrt_impl), _FLOAT),
    _Row("square", 1, _q(np.square), _NUM),
    _Row("abs", 1, _q(np.abs), _NUM, _to_real),
    _Row("not", 1, impls.not_impl, _INT_BOOL, differentiable=False),
    _Row("real", 1, np.real, _COMPLEX, _to_real),
    _Row("imag", 1, np.imag, _COMPLEX, _to_real),
    _Row("conj", 1, _q(impls.conj_impl), _INEXACT, _to_complex),
    _Row("erf", 1, _q(_special.erf), _FLOAT),
    _Row("erfc", 1, _q(_special.erfc), _FLOAT),
    _Row("erf_inv", 1, _q(_special.erf_inv), _FLOAT),
    _Row("lgamma", 1, _q(_special.lgamma), _FLOAT),
    _Row("digamma", 1, _q(_special.digamma), _FLOAT),
    _Row("add", 2, _q(np.add), _ANY),
    _Row("sub", 2, _q(np.subtract), _NUM),
    _Row("mul", 2, _q(np.multiply), _ANY),
    _Row("div", 2, _q(impls.div_impl), _NUM),
    _Row("rem", 2, _q(impls.rem_impl), _NUM),
    _Row("pow", 2, _q(impls.pow_impl), _INEXACT),
    _Row("max", 2, _q(impls.max_impl), _ANY),
    _Row("min", 2, _q(impls.min_impl), _ANY),
    _Row("atan2", 2, _q(np.arctan2), _FLOAT),
    _Row("nextafter", 2, _q(np.nextafter), _FLOAT, differentiable=False),
    _Row("polygamma", 2, _q(_special.polygamma), _FLOAT),
    _Row("zero_safe_mul", 2, _q(impls.zero_safe_mul_impl), _INEXACT),
    _Row("zero_safe_div", 2, _q(impls.zero_safe_div_impl), _INEXACT),
    _Row("complex", 2, impls.complex_impl, _FLOAT, _to_complex),
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
    _Row("shift_right_logical", 2, impls.shift_right_logical_impl, _INT, differentiable=False),
    _Row("population_count", 1, impls.population_count_impl, _INT, differentiable=False),
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
    if is_undefined_primal(x):
        return [_mul_ct(ct, y), None]
    return [None, _mul_ct(ct, x)]


def _exact_zero_cotangents(ct: Any) -> bool:
    """Whether a zero ``ct`` must annihilate an infinite partial (the ``where`` rule).

    This is what keeps gradients through ``where`` finite in the branch not taken
    (``where(x > 0, sqrt(x), 0)`` at 0): the unselected branch receives a zero
    cotangent, and 0 * inf would otherwise be NaN. ``config.jax_compatible_where_grad``
    restores plain multiplication (and JAX's NaNs); integer cotangents need no care.
    """
    return not config.read("jax_compatible_where_grad") and get_aval(ct).dtype.kind in "fc"


def _mul_ct(ct, factor):
    """``ct * factor``, where a zero cotangent annihilates an infinite ``factor``."""
    return _zero_safe_mul(ct, factor) if _exact_zero_cotangents(ct) else mul(ct, factor)


def _div_transpose(ct, x, y):
    assert is_undefined_primal(x) and not is_undefined_primal(y)
    return [_zero_safe_div(ct, y) if _exact_zero_cotangents(ct) else div(ct, y), None]


def _zero_safe_mul_transpose(ct, x, y):
    """Linear in either operand for a fixed other one (the mask is on the first)."""
    if is_undefined_primal(x):
        return [_zero_safe_mul(ct, y), None]
    return [None, _zero_safe_mul(x, ct)]


def _zero_safe_div_transpose(ct, x, y):
    assert is_undefined_primal(x) and not is_undefined_primal(y)
    return [_zero_safe_div(ct, y), None]


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
    "zero_safe_mul": _zero_safe_mul_transpose,
    "zero_safe_div": _zero_safe_div_transpose,
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
        tangent_out: Any = None  # the symbolic zero is built only when no term remains
        for partial, t in zip(partials, tangents, strict=True):
            if partial is None or type(t) is Zero:
                continue
            term = partial(t, out, *primals, **params)
            tangent_out = term if tangent_out is None else add_tangents(tangent_out, term)
        if tangent_out is None:
            aval = get_aval(out)
            tangent_out = Zero(aval.update(dtype=dtypes.tangent_dtype(aval.dtype)))
        return out, tangent_out

    return rule


def _zero_jvp(prim):
    def rule(primals, tangents, **params):
        out = prim.bind(*primals, **params)
        aval = get_aval(out)
        return out, Zero(aval.update(dtype=dtypes.tangent_dtype(aval.dtype)))

    return rule


def define_broadcasting(
    name: str,
    *,
    impl: Callable[..., Any],
    abstract_eval: Callable[..., Any],
    jvp: Callable[..., Any] | None,
    transpose: Callable[..., Any] | None = None,
) -> Primitive:
    """``define_primitive`` for an elementwise primitive batched by broadcasting.

    Its kernel op is its name, and its batch rule is ``batching.broadcast_batcher``,
    which needs the primitive itself, so it is registered once the primitive exists.
    """
    prim = define_primitive(
        name,
        impl=impl,
        abstract_eval=abstract_eval,
        jvp=jvp,
        transpose=transpose,
        batch=None,
        kernel="elementwise",
        kernel_op=name,
    )
    batching.batch_rules[prim] = batching.broadcast_batcher(prim)
    return prim


def _define_row(row: _Row) -> Primitive:
    prim = define_broadcasting(
        row.name,
        impl=row.impl,
        abstract_eval=elementwise_abstract_eval(row.name, row.kind, row.out_dtype),
        jvp=None,
        transpose=_TRANSPOSES.get(row.name),
    )
    rule = _make_jvp(prim, _J[row.name]) if row.differentiable else _zero_jvp(prim)
    jvp_rules[prim] = rule
    return prim


_PRIMS = {row.name: _define_row(row) for row in _TABLE}


_PY_SCALARS = (bool, int, float, complex)


def _is_python_scalar(x: Any) -> bool:
    return type(x) in _PY_SCALARS


def _agree(args: tuple[Any, ...]) -> bool:
    """Whether ``args`` are arrays or tracers of one shape and one dtype (no Python
    scalars), which ``elementwise_args`` would return unchanged."""
    first = None
    for a in args:
        if type(a) in _PY_SCALARS:
            return False
        aval = get_aval(a)
        if first is None:
            first = aval
        elif aval is not first and (aval.shape != first.shape or aval.dtype != first.dtype):
            return False
    return True


def elementwise_args(*args: Any, name: str | None = None) -> list[Any]:
    """Give Python scalars the dtype of the array operands and broadcast to one shape.

    With ``name``, also check that the operands share one dtype (eagerly, the primitive's
    NumPy implementation would otherwise promote silently).
    """
    if _agree(args):  # the common case, in the rules of every derivative
        return list(args)
    strong = [a for a in args if not _is_python_scalar(a)]
    if len(strong) < len(args):
        if strong:
            aval = get_aval(strong[0])
            dtype = aval.dtype
            # Eagerly, a scalar beside operands of one shape is filled to that shape in
            # NumPy: the value broadcast_in_dim would give, without its dispatch.
            fill = bool(aval.shape) and not _staging()
            fill = fill and all(get_aval(a).shape == aval.shape for a in strong)
            args = tuple(
                _scalar_operand(a, dtype, aval.shape if fill else None)
                if _is_python_scalar(a)
                else a
                for a in args
            )
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
    try:
        shape = np.broadcast_shapes(*shapes)
    except ValueError:
        return list(args)  # the primitive's abstract eval reports the mismatch
    return [broadcast_to_shape(a, shape) for a in args]


def _scalar_operand(x: Any, dtype: np.dtype, shape: tuple[int, ...] | None) -> np.ndarray:
    """Python scalar ``x`` as an array of ``dtype``, filled to ``shape`` unless None."""
    scalar = np.asarray(x, dtype=dtype)
    return scalar if shape is None else broadcast_small_or_view(scalar, shape)


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
# ``ct == 0 ? 0 : ct * y`` and ``ct == 0 ? 0 : ct / y``: the where rule's transposes
zero_safe_mul_p = _PRIMS["zero_safe_mul"]
zero_safe_div_p = _PRIMS["zero_safe_div"]


def _unary(prim):
    def fn(x: Any) -> Any:
        if not isinstance(x, Tracer):
            # eager: the NumPy impl would not check dtypes (memoized per input type)
            core.abstract_eval(prim, (get_aval(x),), {})
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
_zero_safe_mul = _binary(zero_safe_mul_p)
_zero_safe_div = _binary(zero_safe_div_p)


def round(x: Any, rounding_method: int = 0) -> Any:  # noqa: A001 - JAX's name
    """Round to the nearest integer: half away from zero (0, the default) or to even (1)."""
    return round_p.bind(x, rounding_method=int(rounding_method))


# The primitives with parameters, re-exported under this module's names. They are
# imported last because they are built from the functions above, while the partial
# rules above call select_n only when a derivative is taken.
from fxgrad.lax.elementwise_params import (  # noqa: E402, F401
    bitcast_convert_type,
    bitcast_convert_type_p,
    clamp,
    clamp_p,
    convert_element_type,
    convert_element_type_p,
    integer_pow,
    integer_pow_p,
    select,
    select_n,
    select_n_p,
    stop_gradient,
    stop_gradient_p,
)
