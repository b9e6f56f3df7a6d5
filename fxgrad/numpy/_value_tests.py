"""Tests of values: ``isclose``, ``allclose``, ``array_equal``, ``array_equiv``,
``isreal``/``iscomplex`` and their ``*obj`` forms, ``isposinf``/``isneginf`` and
``nan_to_num``, built on the elementwise functions of ``_ufuncs``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fxgrad import dtypes
from fxgrad.core import get_aval
from fxgrad.lax import elementwise as ew
from fxgrad.numpy._ufuncs import (
    _inexact,
    _real_only,
    _scalar_like,
    _select,
    absolute,
    add,
    equal,
    full_like_bool,
    imag,
    isfinite,
    isnan,
    less_equal,
    logical_and,
    logical_not,
    logical_or,
    multiply,
    not_equal,
    real,
    subtract,
)
from fxgrad.numpy._util import asarray_value, promote_args


def isclose(a: Any, b: Any, rtol: Any = 1e-05, atol: Any = 1e-08, equal_nan: bool = False) -> Any:
    """``|a - b| <= atol + rtol * |b|`` elementwise; equal infinities are close.

    Integer arguments are compared in floating point, as NumPy does.
    """
    a, b = _inexact("isclose", a, b)
    diff = absolute(subtract(a, b))
    bound = add(multiply(absolute(b), rtol), atol)
    finite = logical_and(isfinite(a), isfinite(b))
    out = _select(finite, less_equal(diff, bound), equal(a, b))
    if equal_nan:
        out = logical_or(out, logical_and(isnan(a), isnan(b)))
    return out


def _all(x: Any) -> Any:
    """True if every element of the bool array ``x`` is (True for an empty array)."""
    from fxgrad.lax.reduction import reduce_sum

    failures = ew.convert_element_type(logical_not(x), np.int32)
    count = reduce_sum(failures, tuple(range(get_aval(failures).ndim)))
    return ew.eq(count, _scalar_like(count, 0))


def allclose(a: Any, b: Any, rtol: Any = 1e-05, atol: Any = 1e-08, equal_nan: bool = False) -> Any:
    """Whether ``isclose`` holds everywhere, as a 0-d bool array (as jax.numpy)."""
    return _all(isclose(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan))


def array_equal(a1: Any, a2: Any, equal_nan: bool = False) -> Any:
    """Whether the arrays have the same shape and elements (a 0-d bool array)."""
    a1, a2 = asarray_value(a1), asarray_value(a2)
    if get_aval(a1).shape != get_aval(a2).shape:
        return asarray_value(np.bool_(False))
    a1, a2 = promote_args("array_equal", a1, a2)
    same = ew.eq(a1, a2)
    if equal_nan:
        same = logical_or(same, logical_and(isnan(a1), isnan(a2)))
    return _all(same)


def array_equiv(a1: Any, a2: Any) -> Any:
    """Whether the arrays broadcast to one shape and are equal there (a 0-d bool array)."""
    a1, a2 = asarray_value(a1), asarray_value(a2)
    try:
        np.broadcast_shapes(get_aval(a1).shape, get_aval(a2).shape)
    except ValueError:
        return asarray_value(np.bool_(False))
    return _all(equal(a1, a2))


def iscomplexobj(x: Any) -> bool:
    """Whether ``x`` has a complex dtype (whatever its values)."""
    return dtypes.dtype(x).kind == "c"


def isrealobj(x: Any) -> bool:
    """Whether ``x`` does not have a complex dtype."""
    return not iscomplexobj(x)


def isreal(x: Any, /) -> Any:
    """True where the imaginary part is 0 (everywhere for real dtypes)."""
    x = asarray_value(x)
    if x.dtype.kind != "c":
        return full_like_bool(x, True)
    return ew.eq(ew.imag(x), _scalar_like(ew.imag(x), 0.0))


def iscomplex(x: Any, /) -> Any:
    """True where the imaginary part is not 0 (nowhere for real dtypes)."""
    x = asarray_value(x)
    if x.dtype.kind != "c":
        return full_like_bool(x, False)
    return ew.ne(ew.imag(x), _scalar_like(ew.imag(x), 0.0))


def isposinf(x: Any, /) -> Any:
    """True where ``x`` is +inf."""
    return _isinf_signed("isposinf", x, np.inf)


def isneginf(x: Any, /) -> Any:
    """True where ``x`` is -inf."""
    return _isinf_signed("isneginf", x, -np.inf)


def _isinf_signed(fn_name: str, x: Any, value: float) -> Any:
    x = asarray_value(x)
    _real_only(fn_name, x)
    if x.dtype.kind in "iub":
        return full_like_bool(x, False)
    return ew.eq(x, _scalar_like(x, value))


def nan_to_num(
    x: Any, copy: bool = True, nan: Any = 0.0, posinf: Any = None, neginf: Any = None
) -> Any:
    """NaN to ``nan``, +-inf to ``posinf``/``neginf`` (default: the dtype's largest finite
    values); complex numbers part by part; integers unchanged. Gradient 1 where finite."""
    x = asarray_value(x)
    if x.dtype.kind in "iub":
        return x
    if x.dtype.kind == "c":
        parts = [nan_to_num(p, nan=nan, posinf=posinf, neginf=neginf) for p in (real(x), imag(x))]
        return ew.complex(*parts)
    info = np.finfo(x.dtype)
    posinf = info.max if posinf is None else posinf
    neginf = info.min if neginf is None else neginf
    dtype = x.dtype.type
    out = _select(not_equal(x, x), dtype(nan), x)
    out = _select(equal(x, np.inf), dtype(posinf), out)
    return _select(equal(x, -np.inf), dtype(neginf), out)


__all__ = [
    "isclose",
    "allclose",
    "array_equal",
    "array_equiv",
    "iscomplexobj",
    "isrealobj",
    "isreal",
    "iscomplex",
    "isposinf",
    "isneginf",
    "nan_to_num",
]
