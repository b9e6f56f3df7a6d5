"""Sorting, searching and order statistics: sort, argsort, searchsorted, quantile, ...

Everything sorts with ``lax.sort`` (stable, NaNs last, as NumPy), so values are
differentiable: the derivative follows each element to its sorted position, and
quantiles interpolate between gathered order statistics (differentiable in ``a`` and,
for ``method='linear'``, in ``q``). ``partition``/``argpartition`` return a full sort,
which is one valid partition (NumPy leaves the order inside each side unspecified).
``searchsorted`` is written with primitives (an unrolled binary search, or a
comparison count with ``method='compare_all'``) so it works under ``jit`` and ``vmap``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from fxgrad import dtypes
from fxgrad.core import Tracer, get_aval
from fxgrad.errors import FxgradTypeError, ShapeError
from fxgrad.lax import elementwise as ew
from fxgrad.lax import reduction as red
from fxgrad.lax.shape import broadcast_in_dim, reshape, transpose
from fxgrad.lax.sorting import gather_along_axis, iota_along, sort_p
from fxgrad.numpy._util import (
    asarray_value,
    canonicalize_axes,
    canonicalize_axis,
    promote_dtypes,
)

__all__ = [
    "argpartition",
    "argsort",
    "lexsort",
    "median",
    "nanmedian",
    "nanpercentile",
    "nanquantile",
    "partition",
    "percentile",
    "quantile",
    "searchsorted",
    "sort",
    "sort_complex",
]


def _flatten(a: Any) -> Any:
    return reshape(a, (get_aval(a).size,))


def _flip(x: Any, axis: int) -> Any:
    """``x`` reversed along ``axis`` (a gather with a constant reversed index)."""
    shape = get_aval(x).shape
    n = shape[axis]
    if n <= 1:
        return x
    idx = broadcast_in_dim(np.arange(n - 1, -1, -1, dtype=np.int32), shape, (axis,))
    return gather_along_axis(x, idx, axis)


def _sort_axis(a: Any, axis: Any, fn_name: str) -> tuple[Any, int]:
    """The array to sort and the canonical axis (``None`` sorts the flattened array)."""
    a = asarray_value(a)
    if axis is None:
        return _flatten(a), 0
    if a.ndim == 0:
        raise ShapeError(
            f"fxgrad.numpy.{fn_name}: cannot sort a 0-d array along axis {axis}; "
            "pass axis=None to sort it as a 1-element array"
        )
    return a, canonicalize_axis(axis, a.ndim, fn_name)


def _check_sort_options(fn_name: str, kind: Any, order: Any) -> None:
    if order is not None:
        raise NotImplementedError(
            f"fxgrad.numpy.{fn_name}: order= (structured arrays) is not supported"
        )
    del kind  # every sort is stable; kind is accepted for NumPy compatibility


def sort(
    a: Any,
    axis: int | None = -1,
    *,
    kind: Any = None,
    order: Any = None,
    stable: bool = True,
    descending: bool = False,
) -> Any:
    """A sorted copy of ``a`` along ``axis`` (``None``: the flattened array).

    NaNs sort last (first with ``descending=True``), as in NumPy. The derivative moves
    each tangent to its element's sorted position.

    Example:
      >>> import fxgrad.numpy as fnp
      >>> fnp.sort(fnp.array([3.0, 1.0, 2.0]), descending=True)
      Array([3., 2., 1.], dtype=float64)
    """
    _check_sort_options("sort", kind, order)
    a, axis = _sort_axis(a, axis, "sort")
    (out,) = sort_p.bind(a, dimension=axis, is_stable=True, num_keys=1)
    return _flip(out, axis) if descending else out


def _argsort_along(a: Any, axis: int, dtype: np.dtype) -> Any:
    iota = iota_along(get_aval(a).shape, axis, dtype)
    _, perm = sort_p.bind(a, iota, dimension=axis, is_stable=True, num_keys=1)
    return perm


def argsort(
    a: Any,
    axis: int | None = -1,
    *,
    kind: Any = None,
    order: Any = None,
    stable: bool = True,
    descending: bool = False,
    dtype: Any = None,
) -> Any:
    """Indices that sort ``a`` along ``axis`` (stable: ties keep their original order).

    Returns the default integer dtype (int64) unless ``dtype`` is given. With
    ``descending=True`` ties still keep their original order (as ``jax.numpy``).

    Example:
      >>> import fxgrad.numpy as fnp
      >>> fnp.argsort(fnp.array([3.0, 1.0, 2.0]))
      Array([1, 2, 0], dtype=int64)
    """
    _check_sort_options("argsort", kind, order)
    a, axis = _sort_axis(a, axis, "argsort")
    index_dtype = dtypes.canonicalize_dtype(dtype) if dtype is not None else _int_dtype()
    if not descending:
        return _argsort_along(a, axis, index_dtype)
    n = get_aval(a).shape[axis]
    perm = _flip(_argsort_along(_flip(a, axis), axis, index_dtype), axis)
    return ew.sub(ew.full_like_aval(get_aval(perm), n - 1), perm)


def _int_dtype() -> np.dtype:
    return dtypes.default_int_dtype()


def lexsort(keys: Any, axis: int = -1) -> Any:
    """Indices sorting by several keys; the LAST key is the primary one (as NumPy).

    Example:
      >>> import fxgrad.numpy as fnp
      >>> fnp.lexsort([fnp.array([2, 1, 0]), fnp.array([1, 0, 1])])
      Array([1, 2, 0], dtype=int64)
    """
    if isinstance(keys, (list, tuple)):
        keys = [asarray_value(k) for k in keys]
    else:
        arr = asarray_value(keys)
        if arr.ndim == 0:
            raise ShapeError(
                "fxgrad.numpy.lexsort: keys must be a sequence or an array of rank >= 1"
            )
        keys = [reshape(_take_row(arr, i), arr.shape[1:]) for i in range(arr.shape[0])]
    if not keys:
        raise ValueError("fxgrad.numpy.lexsort: needs at least one key")
    shapes = {k.shape for k in keys}
    if len(shapes) != 1:
        raise ShapeError(f"fxgrad.numpy.lexsort: all keys must have the same shape, got {shapes}")
    ndim = keys[0].ndim
    if ndim == 0:
        return ew.full_like_aval(get_aval(keys[0]).update(dtype=_int_dtype(), weak_type=False), 0)
    axis = canonicalize_axis(axis, ndim, "lexsort")
    iota = iota_along(keys[0].shape, axis, _int_dtype())
    outs = sort_p.bind(*keys[::-1], iota, dimension=axis, is_stable=True, num_keys=len(keys))
    return outs[-1]


def _take_row(arr: Any, i: int) -> Any:
    """``arr[i:i+1]`` along the first axis, with a constant gather."""
    shape = (1, *arr.shape[1:])
    idx = ew.full_like_aval(get_aval(arr).update(shape=shape, dtype=np.int32, weak_type=False), i)
    return gather_along_axis(arr, idx, 0)


def _check_kth(kth: Any, n: int, fn_name: str) -> None:
    for k in np.atleast_1d(np.asarray(kth)).ravel():
        if not -n <= int(k) < n:
            raise ValueError(f"fxgrad.numpy.{fn_name}: kth(={int(k)}) out of bounds ({n})")


def partition(a: Any, kth: Any, axis: int = -1) -> Any:
    """A partition of ``a`` around its ``kth`` element (computed as a full sort).

    Element ``kth`` is where it would be in a sorted array, smaller ones before it and
    larger ones after it; this implementation returns the fully sorted array, which
    satisfies that for every ``kth`` at once.
    """
    a, axis = _sort_axis(a, axis, "partition")
    _check_kth(kth, a.shape[axis], "partition")
    return sort(a, axis)


def argpartition(a: Any, kth: Any, axis: int = -1) -> Any:
    """Indices that partition ``a`` around ``kth`` (a full stable argsort)."""
    a, axis = _sort_axis(a, axis, "argpartition")
    _check_kth(kth, a.shape[axis], "argpartition")
    return argsort(a, axis)


def sort_complex(a: Any) -> Any:
    """Sort by real part, then imaginary part, and return a complex array (as NumPy)."""
    a = asarray_value(a)
    out = sort(a, axis=-1) if a.ndim else a
    if a.dtype.kind == "c":
        return out
    small = a.dtype.kind in "biu" and a.dtype.itemsize <= 2
    target = np.dtype(np.complex64) if small else np.dtype(np.complex128)
    return ew.convert_element_type(out, target)


# --- searchsorted --------------------------------------------------------------------------


def _less(x: Any, y: Any) -> Any:
    """``x < y`` in NumPy's sort order: NaN after every number; complex lexicographic."""
    kind = get_aval(x).dtype.kind
    if kind == "c":
        xr, yr = ew.real(x), ew.real(y)
        return ew.bitwise_or(
            ew.lt(xr, yr), ew.bitwise_and(ew.eq(xr, yr), ew.lt(ew.imag(x), ew.imag(y)))
        )
    if kind == "f":
        y_nan_only = ew.bitwise_and(ew.ne(y, y), ew.eq(x, x))
        return ew.bitwise_or(ew.lt(x, y), y_nan_only)
    if kind == "b":
        return ew.bitwise_and(ew.bitwise_not(x), y)
    return ew.lt(x, y)


def _goes_right(a_vals: Any, v: Any, side: str) -> Any:
    """Whether ``v`` belongs after ``a_vals`` (``a < v`` for left, ``a <= v`` for right)."""
    if side == "left":
        return _less(a_vals, v)
    return ew.bitwise_not(_less(v, a_vals))


def _binary_search(a: Any, v: Any, side: str, dtype: np.dtype) -> Any:
    n = get_aval(a).shape[0]
    m = get_aval(v).shape[0]
    lo = ew.full_like_aval(get_aval(v).update(dtype=dtype, weak_type=False), 0)
    hi = ew.full_like_aval(get_aval(lo), n)
    if n == 0:
        return lo
    one = ew.full_like_aval(get_aval(lo), 1)
    for _ in range(n.bit_length()):
        mid = ew.shift_right_arithmetic(ew.add(lo, hi), one)
        a_mid = gather_along_axis(a, reshape(mid, (m,)), 0)
        right = _goes_right(a_mid, v, side)
        active = ew.lt(lo, hi)
        lo = ew.select(ew.bitwise_and(active, right), ew.add(mid, one), lo)
        hi = ew.select(ew.bitwise_and(active, ew.bitwise_not(right)), mid, hi)
    return lo


def _compare_all(a: Any, v: Any, side: str, dtype: np.dtype) -> Any:
    n = get_aval(a).shape[0]
    m = get_aval(v).shape[0]
    a2 = broadcast_in_dim(a, (m, n), (1,))
    v2 = broadcast_in_dim(v, (m, n), (0,))
    right = ew.convert_element_type(_goes_right(a2, v2, side), dtype)
    return (
        red.reduce_sum(right, (1,)) if n else ew.full_like_aval(get_aval(v).update(dtype=dtype), 0)
    )


_SEARCH_METHODS = ("scan", "scan_unrolled", "sort", "compare_all")


def searchsorted(
    a: Any, v: Any, side: str = "left", sorter: Any = None, *, method: str = "scan"
) -> Any:
    """Indices where ``v`` would be inserted into the sorted 1-D ``a`` to keep it sorted.

    ``side='left'`` gives the first suitable index, ``'right'`` the last. ``sorter``
    (indices sorting ``a``) is applied first. ``method='compare_all'`` counts with one
    comparison per pair (fast for small ``a``); the other methods run an unrolled
    binary search. Returns the default integer dtype, with ``v``'s shape.

    Example:
      >>> import fxgrad.numpy as fnp
      >>> fnp.searchsorted(fnp.array([1.0, 2.0, 3.0]), fnp.array([2.0, 2.5]))
      Array([1, 2], dtype=int64)
    """
    if side not in ("left", "right"):
        raise ValueError(f"fxgrad.numpy.searchsorted: side must be 'left' or 'right', got {side!r}")
    if method not in _SEARCH_METHODS:
        raise ValueError(
            f"fxgrad.numpy.searchsorted: method must be one of {_SEARCH_METHODS}, got {method!r}"
        )
    a = asarray_value(a)
    if a.ndim != 1:
        raise ShapeError(f"fxgrad.numpy.searchsorted: a must be 1-D, got shape {a.shape}")
    if sorter is not None:
        sorter = asarray_value(sorter)
        if sorter.dtype.kind not in "iu" or sorter.shape != a.shape:
            raise FxgradTypeError(
                "fxgrad.numpy.searchsorted: sorter must be integer indices of a's shape "
                f"{a.shape}, got {sorter.dtype.name}{list(sorter.shape)}"
            )
        a = gather_along_axis(a, sorter, 0)
    a, v = promote_dtypes(a, asarray_value(v))
    v_shape = get_aval(v).shape
    v_flat = _flatten(v)
    dtype = _int_dtype()
    if method == "compare_all":
        out = _compare_all(a, v_flat, side, dtype)
    else:
        out = _binary_search(a, v_flat, side, dtype)
    return reshape(out, v_shape)


# --- order statistics ----------------------------------------------------------------------

_QUANTILE_METHODS = ("linear", "lower", "higher", "midpoint", "nearest")


def _check_q(q: Any, scale: float, fn_name: str) -> None:
    if isinstance(q, Tracer):
        return
    values = np.asarray(q)
    if values.dtype.kind not in "biuf":
        raise FxgradTypeError(f"fxgrad.numpy.{fn_name}: q must be real, got {values.dtype.name}")
    if values.size and not (np.all(values >= 0) and np.all(values <= scale)):
        what = "Quantiles" if scale == 1 else "Percentiles"
        raise ValueError(f"fxgrad.numpy.{fn_name}: {what} must be in the range [0, {scale:g}]")


def _move_axes_last(a: Any, axes: tuple[int, ...]) -> tuple[Any, tuple[int, ...]]:
    """``a`` with ``axes`` merged into one trailing axis; returns it and the kept shape."""
    rest = [i for i in range(a.ndim) if i not in axes]
    kept_shape = tuple(a.shape[i] for i in rest)
    n = int(np.prod([a.shape[i] for i in axes], dtype=np.int64))
    moved = transpose(a, (*rest, *axes))
    return reshape(moved, (*kept_shape, n)), kept_shape


def _interpolate(sorted_a, pos, count, method):
    """The order statistic at fractional position ``pos`` (shape ``kept + (m,)``)."""
    idx_dtype = np.dtype(np.int64)
    last = ew.max(ew.sub(count, ew.full_like_aval(get_aval(count), 1)), 0)
    axis = get_aval(sorted_a).ndim - 1

    def take(position):
        position = ew.clamp(ew.full_like_aval(get_aval(pos), 0), position, last)
        return gather_along_axis(sorted_a, ew.convert_element_type(position, idx_dtype), axis)

    if method == "nearest":
        return take(ew.round(pos, 1))
    low_pos = ew.floor(pos)
    low = take(low_pos)
    high = take(ew.ceil(pos))
    if method == "lower":
        return low
    if method == "higher":
        return high
    if method == "midpoint":
        return ew.mul(ew.add(low, high), 0.5)
    frac = ew.convert_element_type(ew.sub(pos, low_pos), get_aval(low).dtype)
    diff = ew.sub(high, low)
    # NumPy's lerp: interpolate from the nearer end, so frac == 1 gives `high` exactly.
    from_low = ew.add(low, ew.mul(diff, frac))
    from_high = ew.sub(high, ew.mul(diff, ew.sub(1.0, frac)))
    return ew.select(ew.ge(frac, 0.5), from_high, from_low)


def _quantile(a, q, axis, method, keepdims, fn_name, *, scale, ignore_nan, empty_is_nan=False):
    if method not in _QUANTILE_METHODS:
        raise ValueError(
            f"fxgrad.numpy.{fn_name}: method must be one of {_QUANTILE_METHODS}, got {method!r}"
        )
    _check_q(q, scale, fn_name)
    a = asarray_value(a)
    a = ew.convert_element_type(a, dtypes.to_inexact_dtype(a.dtype))
    if a.dtype.kind == "c":
        raise FxgradTypeError(f"fxgrad.numpy.{fn_name}: a must be real, got {a.dtype.name}")
    a, q = promote_dtypes(a, asarray_value(q))
    if scale != 1:
        q = ew.div(q, ew.full_like_aval(get_aval(q), scale))
    axes = canonicalize_axes(axis, a.ndim, fn_name)
    q_shape = get_aval(q).shape
    flat, kept_shape = _move_axes_last(a, axes)
    n = get_aval(flat).shape[-1]
    if n == 0:
        if not empty_is_nan:
            raise ValueError(f"fxgrad.numpy.{fn_name}: cannot take a quantile of an empty slice")
        # NumPy's median of an empty slice is NaN (the mean of no values).
        shape = (*q_shape, *(1 if i in axes else s for i, s in enumerate(a.shape)))
        nan = ew.full_like_aval(get_aval(a).update(shape=(), weak_type=False), np.nan)
        return broadcast_in_dim(nan, shape if keepdims else (*q_shape, *kept_shape), ())
    m = int(np.prod(q_shape, dtype=np.int64))
    (sorted_a,) = sort_p.bind(flat, dimension=len(kept_shape), is_stable=True, num_keys=1)
    out_shape = (*kept_shape, m)
    q_b = broadcast_in_dim(reshape(q, (m,)), out_shape, (len(kept_shape),))
    is_nan = ew.ne(flat, flat)
    if ignore_nan:
        valid = ew.convert_element_type(ew.bitwise_not(is_nan), a.dtype)
        count = broadcast_in_dim(
            red.reduce_sum(valid, (len(kept_shape),)), out_shape, tuple(range(len(kept_shape)))
        )
        nan_out = ew.eq(count, ew.full_like_aval(get_aval(count), 0))
    else:
        count = ew.full_like_aval(get_aval(q_b), n)
        any_nan = red.reduce_or(is_nan, (len(kept_shape),))
        nan_out = broadcast_in_dim(any_nan, out_shape, tuple(range(len(kept_shape))))
    pos = ew.mul(q_b, ew.sub(count, ew.full_like_aval(get_aval(count), 1)))
    result = _interpolate(sorted_a, pos, count, method)
    result = ew.select(nan_out, ew.full_like_aval(get_aval(result), np.nan), result)
    # (kept..., m) -> q.shape + kept (+ reduced axes of size 1 with keepdims)
    result = transpose(result, (len(kept_shape), *range(len(kept_shape))))
    if keepdims:
        kept_shape = tuple(1 if i in axes else s for i, s in enumerate(a.shape))
    return reshape(result, (*q_shape, *kept_shape))


def _no_out(fn_name: str, out: Any, weights: Any = None) -> None:
    if out is not None:
        raise FxgradTypeError(
            f"fxgrad.numpy.{fn_name}: out= is not supported because fxgrad arrays are "
            f"immutable; use the returned array instead (y = fnp.{fn_name}(...))."
        )
    if weights is not None:
        raise NotImplementedError(f"fxgrad.numpy.{fn_name}: weights= is not supported")


def _quantile_function(fn_name: str, *, scale: int, ignore_nan: bool, doc: str) -> Callable:
    """``quantile``, ``percentile`` or their NaN-ignoring twins: one signature for all.

    ``scale`` is what ``q`` is a fraction of (1 for quantiles, 100 for percentiles).
    """

    def quantile_fn(
        a: Any,
        q: Any,
        axis: int | Sequence[int] | None = None,
        out: None = None,
        overwrite_input: bool = False,
        method: str = "linear",
        keepdims: bool = False,
        *,
        weights: Any = None,
    ) -> Any:
        _no_out(fn_name, out, weights)
        return _quantile(a, q, axis, method, keepdims, fn_name, scale=scale, ignore_nan=ignore_nan)

    quantile_fn.__name__ = quantile_fn.__qualname__ = fn_name
    quantile_fn.__doc__ = doc
    return quantile_fn


def _median_function(fn_name: str, *, ignore_nan: bool, doc: str) -> Callable:
    """``median`` or ``nanmedian``: the 0.5 quantile by the midpoint method."""

    def median_fn(
        a: Any,
        axis: int | Sequence[int] | None = None,
        out: None = None,
        overwrite_input: bool = False,
        keepdims: bool = False,
    ) -> Any:
        _no_out(fn_name, out)
        return _quantile(
            a,
            0.5,
            axis,
            "midpoint",
            keepdims,
            fn_name,
            scale=1,
            ignore_nan=ignore_nan,
            empty_is_nan=True,
        )

    median_fn.__name__ = median_fn.__qualname__ = fn_name
    median_fn.__doc__ = doc
    return median_fn


quantile = _quantile_function(
    "quantile",
    scale=1,
    ignore_nan=False,
    doc="""The ``q``-th quantiles of ``a`` over ``axis`` (q in [0, 1]); NaN if a slice has NaN.

    The output has shape ``q.shape`` followed by the reduced shape of ``a``. Methods:
    ``linear`` (default), ``lower``, ``higher``, ``midpoint``, ``nearest``.

    Example:
      >>> import fxgrad.numpy as fnp
      >>> fnp.quantile(fnp.array([1.0, 2.0, 3.0, 4.0]), 0.5)
      Array(2.5, dtype=float64)
    """,
)
percentile = _quantile_function(
    "percentile",
    scale=100,
    ignore_nan=False,
    doc="The ``q``-th percentiles of ``a`` (q in [0, 100]); see ``quantile``.",
)
median = _median_function(
    "median",
    ignore_nan=False,
    doc="The median over ``axis``: the mean of the two middle values for even counts.",
)
nanquantile = _quantile_function(
    "nanquantile",
    scale=1,
    ignore_nan=True,
    doc="``quantile`` ignoring NaNs; NaN for slices that are all NaN.",
)
nanpercentile = _quantile_function(
    "nanpercentile",
    scale=100,
    ignore_nan=True,
    doc="``percentile`` ignoring NaNs; NaN for slices that are all NaN.",
)
nanmedian = _median_function(
    "nanmedian", ignore_nan=True, doc="``median`` ignoring NaNs; NaN for slices that are all NaN."
)
