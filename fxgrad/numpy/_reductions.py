"""Reductions: sum, mean, max, min, var, std, ... with ``axis``/``keepdims``/``dtype``.

Sums of booleans and small integers accumulate in the default integer dtype, as in
NumPy. ``mean``, ``var`` and ``std`` of integers are computed in the default float.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fxgrad import dtypes
from fxgrad.core import get_aval
from fxgrad.lax import elementwise as ew
from fxgrad.lax import reduction as red
from fxgrad.lax.shape import expand_dims as _lax_expand_dims
from fxgrad.numpy._util import asarray_value, canonicalize_axes


def _keep(out: Any, axes: tuple[int, ...], keepdims: bool) -> Any:
    return _lax_expand_dims(out, axes) if keepdims and axes else out


def _sum_dtype(dtype: np.dtype) -> np.dtype:
    if dtype.kind == "b":
        return dtypes.default_int_dtype()
    if dtype.kind == "i" and dtype.itemsize < dtypes.default_int_dtype().itemsize:
        return dtypes.default_int_dtype()
    if dtype.kind == "u" and dtype.itemsize < 8:
        return np.dtype(np.uint64)
    return dtype


def _where_fill(a: Any, where: Any, fill: Any) -> Any:
    if where is None:
        return a
    from fxgrad.numpy._ufuncs import where as np_where

    return np_where(where, a, fill)


def sum(
    a: Any,
    axis: Any = None,
    dtype: Any = None,
    out: None = None,
    keepdims: bool = False,
    initial: Any = None,
    where: Any = None,
) -> Any:  # noqa: A001
    """Sum of array elements over ``axis`` (as ``numpy.sum``)."""
    a = asarray_value(a)
    axes = canonicalize_axes(axis, a.ndim, "sum")
    target = dtypes.canonicalize_dtype(dtype) if dtype is not None else _sum_dtype(a.dtype)
    a = ew.convert_element_type(a, target)
    a = _where_fill(a, where, 0)
    result = red.reduce_sum(a, axes)
    if initial is not None:
        result = ew.add(result, initial)
    return _keep(result, axes, keepdims)


def _count(a: Any, axes: tuple[int, ...]) -> int:
    return int(np.prod([a.shape[i] for i in axes], dtype=np.int64))


def mean(
    a: Any,
    axis: Any = None,
    dtype: Any = None,
    out: None = None,
    keepdims: bool = False,
    *,
    where: Any = None,
) -> Any:
    """Arithmetic mean over ``axis``; integers are averaged in the default float dtype."""
    a = asarray_value(a)
    axes = canonicalize_axes(axis, a.ndim, "mean")
    target = (
        dtypes.canonicalize_dtype(dtype) if dtype is not None else dtypes.to_inexact_dtype(a.dtype)
    )
    a = ew.convert_element_type(a, target)
    if where is not None:
        from fxgrad.numpy._ufuncs import where as np_where

        total = sum(np_where(where, a, 0), axis=axes, keepdims=keepdims)
        count = sum(
            np_where(where, ew.full_like_aval(get_aval(a), 1), 0), axis=axes, keepdims=keepdims
        )
        return ew.div(total, count)
    total = red.reduce_sum(a, axes)
    n = _count(a, axes)
    result = ew.div(total, np.asarray(n, dtype=target)) if n else ew.div(total, 0.0)
    return _keep(result, axes, keepdims)


def _extremum(name, reducer, a, axis, keepdims, initial, where, combine):
    a = asarray_value(a)
    axes = canonicalize_axes(axis, a.ndim, name)
    if where is not None:
        if initial is None:
            raise ValueError(f"reduction operation {name} with where= requires initial=")
        a = _where_fill(a, where, initial)
    if axes and any(a.shape[i] == 0 for i in axes) and initial is None:
        raise ValueError(
            f"zero-size array to reduction operation {name} which has no identity; pass initial="
        )
    result = reducer(a, axes)
    if initial is not None:
        result = combine(result, initial)
    return _keep(result, axes, keepdims)


def max(
    a: Any,
    axis: Any = None,
    out: None = None,
    keepdims: bool = False,
    initial: Any = None,
    where: Any = None,
) -> Any:  # noqa: A001
    """Maximum over ``axis`` (NaN-propagating, as ``numpy.max``)."""
    return _extremum("max", red.reduce_max, a, axis, keepdims, initial, where, ew.max)


def min(
    a: Any,
    axis: Any = None,
    out: None = None,
    keepdims: bool = False,
    initial: Any = None,
    where: Any = None,
) -> Any:  # noqa: A001
    """Minimum over ``axis`` (NaN-propagating, as ``numpy.min``)."""
    return _extremum("min", red.reduce_min, a, axis, keepdims, initial, where, ew.min)


amax, amin = max, min


def var(
    a: Any,
    axis: Any = None,
    dtype: Any = None,
    out: None = None,
    ddof: int = 0,
    keepdims: bool = False,
    *,
    where: Any = None,
    correction: Any = None,
) -> Any:
    """Variance over ``axis`` with ``ddof`` (or ``correction``) degrees of freedom removed."""
    if correction is not None:
        ddof = correction
    a = asarray_value(a)
    axes = canonicalize_axes(axis, a.ndim, "var")
    target = (
        dtypes.canonicalize_dtype(dtype) if dtype is not None else dtypes.to_inexact_dtype(a.dtype)
    )
    a = ew.convert_element_type(a, target)
    centered = ew.sub(a, mean(a, axis=axes, keepdims=True))
    if centered.dtype.kind == "c":
        sq = ew.real(ew.mul(centered, ew.conj(centered)))
    else:
        sq = ew.mul(centered, centered)
    n = _count(a, axes) - ddof
    total = red.reduce_sum(sq, axes)
    result = ew.div(total, np.asarray(n, dtype=get_aval(total).dtype))
    return _keep(result, axes, keepdims)


def std(
    a: Any,
    axis: Any = None,
    dtype: Any = None,
    out: None = None,
    ddof: int = 0,
    keepdims: bool = False,
    *,
    where: Any = None,
    correction: Any = None,
) -> Any:
    """Standard deviation: the square root of ``var``."""
    return ew.sqrt(var(a, axis, dtype, out, ddof, keepdims, where=where, correction=correction))


__all__ = [
    "amax",
    "amin",
    "max",
    "mean",
    "min",
    "std",
    "sum",
    "var",
]
