"""Reductions: sum, prod, mean, var, max, argmax, all, cumsum, their NaN-aware variants.

Dtypes follow NumPy: sums and products of booleans and small integers accumulate in
the default integer dtype (unsigned ones in uint64); ``mean``, ``var`` and ``std`` of
integers are computed in the default float; ``argmax``/``argmin``/``count_nonzero``
return the default integer dtype (int64). ``where=`` masks entries out (they count as
the reduction's identity), ``initial=`` is folded into the result once, and ``out=``
raises, because fxgrad arrays are immutable.

NaN-aware variants replace NaNs by the reduction's identity before reducing (so their
gradients stay finite) and return NaN for slices that are all NaN, as NumPy does, but
without NumPy's RuntimeWarning. ``nanargmax``/``nanargmin`` return -1 for an all-NaN
slice (as ``jax.numpy``) instead of raising, which would be impossible under ``jit``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from fxgrad import dtypes
from fxgrad.array import Array
from fxgrad.core import Tracer, get_aval
from fxgrad.errors import FxgradTypeError, ShapeError
from fxgrad.interpreters.reverse import tape_linear_unary
from fxgrad.lax import elementwise as ew
from fxgrad.lax import reduction as red
from fxgrad.lax.shape import broadcast_in_dim, broadcast_to_shape, reshape
from fxgrad.lax.shape import expand_dims as _lax_expand_dims
from fxgrad.lax.sorting import gather_along_axis
from fxgrad.numpy._util import (
    asarray_value,
    canonicalize_axes,
    canonicalize_axis,
    eager_buffers,
)

__all__ = [
    "all",
    "amax",
    "amin",
    "any",
    "argmax",
    "argmin",
    "average",
    "count_nonzero",
    "cumprod",
    "cumsum",
    "cumulative_prod",
    "cumulative_sum",
    "max",
    "mean",
    "min",
    "nanargmax",
    "nanargmin",
    "nancumprod",
    "nancumsum",
    "nanmax",
    "nanmean",
    "nanmin",
    "nanprod",
    "nanstd",
    "nansum",
    "nanvar",
    "prod",
    "ptp",
    "std",
    "sum",
    "var",
]

# --- helpers ---------------------------------------------------------------------------------


def _no_out(fn_name: str, out: Any) -> None:
    if out is not None:
        raise FxgradTypeError(
            f"fxgrad.numpy.{fn_name}: out= is not supported because fxgrad arrays are "
            f"immutable; use the returned array instead (y = fnp.{fn_name}(...))."
        )


def _keep(out: Any, axes: tuple[int, ...], keepdims: bool) -> Any:
    return _lax_expand_dims(out, axes) if keepdims and axes else out


def _full(x: Any, value: Any, dtype: Any = None) -> Any:
    aval = get_aval(x)
    aval = aval.update(dtype=aval.dtype if dtype is None else np.dtype(dtype), weak_type=False)
    return ew.full_like_aval(aval, value)


def _sum_dtype(dtype: np.dtype) -> np.dtype:
    if dtype.kind == "b":
        return dtypes.default_int_dtype()
    if dtype.kind == "i" and dtype.itemsize < dtypes.default_int_dtype().itemsize:
        return dtypes.default_int_dtype()
    if dtype.kind == "u" and dtype.itemsize < 8:
        return np.dtype(np.uint64)
    return dtype


def _where_mask(a: Any, where: Any, fn_name: str) -> Any:
    """``where`` as a bool array of ``a``'s shape, or None."""
    if where is None:
        return None
    mask = asarray_value(where)
    if mask.dtype != np.bool_:
        mask = ew.ne(mask, _full(mask, 0))
    try:
        return broadcast_to_shape(mask, get_aval(a).shape)
    except ShapeError:
        raise ShapeError(
            f"fxgrad.numpy.{fn_name}: where= of shape {mask.shape} cannot be broadcast to "
            f"the array's shape {get_aval(a).shape}"
        ) from None


def _fill(a: Any, mask: Any, value: Any) -> Any:
    """``a`` where ``mask`` (None: everywhere), else ``value``."""
    if mask is None:
        return a
    if isinstance(value, (bool, int, float)):
        value = _full(a, value)
    else:
        value = broadcast_to_shape(value, get_aval(a).shape)
    return ew.select(mask, a, value)


def _is_nan(a: Any) -> Any | None:
    """The NaN mask of ``a``, or None for dtypes without NaN."""
    return ew.ne(a, a) if get_aval(a).dtype.kind in "fc" else None


def _and_masks(mask: Any | None, other: Any | None) -> Any | None:
    if mask is None:
        return other
    if other is None:
        return mask
    return ew.bitwise_and(mask, other)


def _size(a: Any, axes: tuple[int, ...]) -> int:
    return int(np.prod([get_aval(a).shape[i] for i in axes], dtype=np.int64))


def _count(a: Any, axes: tuple[int, ...], mask: Any | None, dtype: np.dtype) -> Any:
    """How many entries each reduction sees, in ``dtype``."""
    if mask is None:
        return np.asarray(_size(a, axes), dtype=dtype)
    return red.reduce_sum(ew.convert_element_type(mask, dtype), axes)


def _initial(initial: Any, dtype: np.dtype) -> Any:
    return ew.convert_element_type(asarray_value(initial), dtype)


# --- sum / prod ------------------------------------------------------------------------------


def _monoid_reduce(fn_name, reducer, combine, identity, a, axis, dtype, keepdims, initial, where):
    a = asarray_value(a)
    axes = canonicalize_axes(axis, a.ndim, fn_name)
    target = dtypes.canonicalize_dtype(dtype) if dtype is not None else _sum_dtype(a.dtype)
    a = ew.convert_element_type(a, target)
    a = _fill(a, _where_mask(a, where, fn_name), identity)
    result = reducer(a, axes)
    if initial is not None:
        result = combine(result, _initial(initial, target))
    return _keep(result, axes, keepdims)


def sum(  # noqa: A001 - NumPy's name
    a: Any,
    axis: Any = None,
    dtype: Any = None,
    out: None = None,
    keepdims: bool = False,
    initial: Any = None,
    where: Any = None,
) -> Any:
    """Sum of array elements over ``axis`` (as ``numpy.sum``).

    Example:
      >>> import fxgrad.numpy as fnp
      >>> fnp.sum(fnp.array([[1, 2], [3, 4]]), axis=0)
      Array([4, 6], dtype=int64)
    """
    _no_out("sum", out)
    if dtype is None and initial is None and where is None and not keepdims:
        buffers = eager_buffers((a,))
        if buffers is not None and _sum_dtype(buffers[0].dtype) == buffers[0].dtype:
            # eager and already in its sum dtype: the implementation, without dispatch
            axes = canonicalize_axes(axis, buffers[0].ndim, "sum")
            if axes:
                out = red.reduce_sum_p.impl(buffers[0], axes=axes)
                return Array.__new__(Array)._init(out, False)
        elif isinstance(a, Tracer):
            aval = a.aval
            if not aval.weak_type and _sum_dtype(aval.dtype) == aval.dtype:
                # strongly typed in its sum dtype: the primitive, without conversions
                axes = canonicalize_axes(axis, aval.ndim, "sum")
                if axes:
                    params = {"axes": axes}
                    recorded = tape_linear_unary(red.reduce_sum_p, a, params)  # eager grad
                    return red.reduce_sum_p.bind(a, **params) if recorded is None else recorded
    return _monoid_reduce(
        "sum", red.reduce_sum, ew.add, 0, a, axis, dtype, keepdims, initial, where
    )


def prod(
    a: Any,
    axis: Any = None,
    dtype: Any = None,
    out: None = None,
    keepdims: bool = False,
    initial: Any = None,
    where: Any = None,
) -> Any:
    """Product of array elements over ``axis``; its gradient is exact with zeros.

    Example:
      >>> import fxgrad.numpy as fnp
      >>> fnp.prod(fnp.array([1.0, 2.0, 3.0]))
      Array(6., dtype=float64)
    """
    _no_out("prod", out)
    return _monoid_reduce(
        "prod", red.reduce_prod, ew.mul, 1, a, axis, dtype, keepdims, initial, where
    )


# --- mean / var / std ------------------------------------------------------------------------


def _inexact_target(a: Any, dtype: Any) -> tuple[np.dtype, np.dtype]:
    """(result dtype, computation dtype): float16 is accumulated in float32, as NumPy."""
    target = (
        dtypes.canonicalize_dtype(dtype) if dtype is not None else dtypes.to_inexact_dtype(a.dtype)
    )
    compute = np.dtype(np.float32) if target == np.float16 else target
    return target, compute


def mean(
    a: Any,
    axis: Any = None,
    dtype: Any = None,
    out: None = None,
    keepdims: bool = False,
    *,
    where: Any = None,
) -> Any:
    """Arithmetic mean over ``axis``; integers are averaged in the default float dtype.

    Example:
      >>> import fxgrad.numpy as fnp
      >>> fnp.mean(fnp.array([1, 2, 3, 4]))
      Array(2.5, dtype=float64)
    """
    _no_out("mean", out)
    a = asarray_value(a)
    axes = canonicalize_axes(axis, a.ndim, "mean")
    target, compute = _inexact_target(a, dtype)
    a = ew.convert_element_type(a, compute)
    mask = _where_mask(a, where, "mean")
    total = red.reduce_sum(_fill(a, mask, 0), axes)
    result = ew.div(total, _count(a, axes, mask, compute))
    return _keep(ew.convert_element_type(result, target), axes, keepdims)


def _ddof(ddof: Any, correction: Any, fn_name: str) -> Any:
    if correction is None:
        return ddof
    if ddof != 0:
        raise ValueError(f"fxgrad.numpy.{fn_name}: ddof and correction can't both be provided")
    return correction


def _variance(a, axis, dtype, ddof, keepdims, mask_fn, mean_value, fn_name, nan_for_no_dof):
    a = asarray_value(a)
    axes = canonicalize_axes(axis, a.ndim, fn_name)
    target, compute = _inexact_target(a, dtype)
    a = ew.convert_element_type(a, compute)
    mask = mask_fn(a)
    a = _fill(a, mask, 0)
    count = _count(a, axes, mask, dtypes.real_dtype(compute))
    if mean_value is None:
        total = red.reduce_sum(a, axes)
        center = _keep(ew.div(total, ew.convert_element_type(count, compute)), axes, True)
    else:
        center = ew.convert_element_type(asarray_value(mean_value), compute)
    centered = ew.sub(a, center)
    if centered.dtype.kind == "c":
        sq = ew.real(ew.mul(centered, ew.conj(centered)))
    else:
        sq = ew.mul(centered, centered)
    total = red.reduce_sum(_fill(sq, mask, 0), axes)
    dof = ew.sub(count, ddof)
    result = ew.div(total, ew.max(dof, 0))
    if nan_for_no_dof:
        result = ew.select(ew.le(dof, 0), _full(result, np.nan), result)
    result = ew.convert_element_type(result, dtypes.real_dtype(target))
    return _keep(result, axes, keepdims)


def _moment_function(fn_name: str, *, ignore_nan: bool, root: bool, doc: str) -> Callable:
    """``var``, ``std``, ``nanvar`` or ``nanstd``: NumPy's one signature for all four.

    ``ignore_nan`` drops NaN elements (a slice with no degrees of freedom left gives
    NaN); ``root`` takes the square root of the variance (the standard deviation).
    """

    def moment(
        a: Any,
        axis: Any = None,
        dtype: Any = None,
        out: None = None,
        ddof: Any = 0,
        keepdims: bool = False,
        *,
        where: Any = None,
        mean: Any = None,
        correction: Any = None,
    ) -> Any:
        _no_out(fn_name, out)
        ddof = _ddof(ddof, correction, fn_name)
        if ignore_nan:  # the mask of the non-NaN elements, taken before they are zeroed
            a = asarray_value(a)
            mask = _not_nan_mask(a, where, fn_name)
            a = _nan_filled(a, 0)
            mask_fn = lambda x: mask  # noqa: E731
        else:
            mask_fn = lambda x: _where_mask(x, where, fn_name)  # noqa: E731
        result = _variance(a, axis, dtype, ddof, keepdims, mask_fn, mean, fn_name, ignore_nan)
        return ew.sqrt(result) if root else result

    moment.__name__ = moment.__qualname__ = fn_name
    moment.__doc__ = doc
    return moment


var = _moment_function(
    "var",
    ignore_nan=False,
    root=False,
    doc="""Variance over ``axis`` with ``ddof`` (or ``correction``) degrees of freedom removed.

    ``mean`` may pass a precomputed mean (with ``keepdims=True`` shape). Complex input
    gives a real variance.

    Example:
      >>> import fxgrad.numpy as fnp
      >>> fnp.var(fnp.array([1.0, 2.0, 3.0, 4.0]))
      Array(1.25, dtype=float64)
    """,
)
std = _moment_function(
    "std", ignore_nan=False, root=True, doc="Standard deviation: the square root of ``var``."
)


# --- max / min / ptp -------------------------------------------------------------------------


def _extremum(name, reducer, combine, a, axis, keepdims, initial, where):
    a = asarray_value(a)
    axes = canonicalize_axes(axis, a.ndim, name)
    if where is not None:
        if initial is None:
            raise ValueError(
                f"fxgrad.numpy.{name}: reduction operation {name} with where= requires "
                "initial= (the value a fully masked slice takes)"
            )
        a = _fill(a, _where_mask(a, where, name), _initial(initial, a.dtype))
    if axes and _size(a, axes) == 0 and initial is None:
        raise ValueError(
            f"fxgrad.numpy.{name}: zero-size array to reduction operation {name} which has "
            "no identity; pass initial="
        )
    if axes and _size(a, axes) == 0:
        # An empty reduction is just ``initial`` (NumPy's rule), in the result's shape.
        from fxgrad.lax.elementwise import full_like_aval

        shape = tuple(s for i, s in enumerate(a.shape) if i not in axes)
        result = full_like_aval(a.aval.update(shape=shape, weak_type=False), initial)
        return _keep(result, axes, keepdims)
    result = reducer(a, axes)
    if initial is not None:
        result = combine(result, _initial(initial, a.dtype))
    return _keep(result, axes, keepdims)


def max(  # noqa: A001 - NumPy's name
    a: Any,
    axis: Any = None,
    out: None = None,
    keepdims: bool = False,
    initial: Any = None,
    where: Any = None,
) -> Any:
    """Maximum over ``axis`` (NaN-propagating, as ``numpy.max``).

    Example:
      >>> import fxgrad.numpy as fnp
      >>> fnp.max(fnp.array([[1.0, 5.0], [3.0, 2.0]]), axis=1)
      Array([5., 3.], dtype=float64)
    """
    _no_out("max", out)
    return _extremum("max", red.reduce_max, ew.max, a, axis, keepdims, initial, where)


def min(  # noqa: A001 - NumPy's name
    a: Any,
    axis: Any = None,
    out: None = None,
    keepdims: bool = False,
    initial: Any = None,
    where: Any = None,
) -> Any:
    """Minimum over ``axis`` (NaN-propagating, as ``numpy.min``)."""
    _no_out("min", out)
    return _extremum("min", red.reduce_min, ew.min, a, axis, keepdims, initial, where)


amax, amin = max, min


def ptp(a: Any, axis: Any = None, out: None = None, keepdims: bool = False) -> Any:
    """Range of values (maximum minus minimum) over ``axis``."""
    _no_out("ptp", out)
    return ew.sub(max(a, axis, keepdims=keepdims), min(a, axis, keepdims=keepdims))


# --- all / any / count_nonzero ---------------------------------------------------------------


def _truthy(a: Any) -> Any:
    a = asarray_value(a)
    return a if a.dtype == np.bool_ else ew.ne(a, _full(a, 0))


def all(  # noqa: A001 - NumPy's name
    a: Any, axis: Any = None, out: None = None, keepdims: bool = False, *, where: Any = None
) -> Any:
    """Whether every element over ``axis`` is truthy (NaN counts as true)."""
    _no_out("all", out)
    b = _truthy(a)
    axes = canonicalize_axes(axis, b.ndim, "all")
    b = _fill(b, _where_mask(b, where, "all"), True)
    return _keep(red.reduce_and(b, axes), axes, keepdims)


def any(  # noqa: A001 - NumPy's name
    a: Any, axis: Any = None, out: None = None, keepdims: bool = False, *, where: Any = None
) -> Any:
    """Whether any element over ``axis`` is truthy (NaN counts as true)."""
    _no_out("any", out)
    b = _truthy(a)
    axes = canonicalize_axes(axis, b.ndim, "any")
    b = _fill(b, _where_mask(b, where, "any"), False)
    return _keep(red.reduce_or(b, axes), axes, keepdims)


def count_nonzero(a: Any, axis: Any = None, *, keepdims: bool = False) -> Any:
    """How many elements over ``axis`` are nonzero, in the default integer dtype."""
    b = _truthy(a)
    axes = canonicalize_axes(axis, b.ndim, "count_nonzero")
    counts = red.reduce_sum(ew.convert_element_type(b, dtypes.default_int_dtype()), axes)
    return _keep(counts, axes, keepdims)


# --- argmax / argmin -------------------------------------------------------------------------


def _arg_extremum(fn_name, reducer, a, axis, keepdims):
    a = asarray_value(a)
    ndim = a.ndim
    if axis is None or ndim == 0:
        if axis is not None:
            canonicalize_axis(axis, ndim, fn_name)
        flat = reshape(a, (a.size,))
        if a.size == 0:
            raise ValueError(
                f"fxgrad.numpy.{fn_name}: attempt to get {fn_name} of an empty sequence"
            )
        out = reducer(flat, 0, dtypes.default_int_dtype())
        return reshape(out, (1,) * ndim) if keepdims else out
    axis = canonicalize_axis(axis, ndim, fn_name)
    if a.shape[axis] == 0:
        raise ValueError(f"fxgrad.numpy.{fn_name}: attempt to get {fn_name} of an empty sequence")
    out = reducer(a, axis, dtypes.default_int_dtype())
    return _keep(out, (axis,), keepdims)


def argmax(a: Any, axis: int | None = None, out: None = None, *, keepdims: bool = False) -> Any:
    """Index of the maximum along ``axis`` (of the flattened array if None).

    The first occurrence wins ties, and the first NaN wins over numbers (as NumPy).

    Example:
      >>> import fxgrad.numpy as fnp
      >>> fnp.argmax(fnp.array([1.0, 3.0, 3.0]))
      Array(1, dtype=int64)
    """
    _no_out("argmax", out)
    return _arg_extremum("argmax", red.argmax, a, axis, keepdims)


def argmin(a: Any, axis: int | None = None, out: None = None, *, keepdims: bool = False) -> Any:
    """Index of the minimum along ``axis``; see ``argmax``."""
    _no_out("argmin", out)
    return _arg_extremum("argmin", red.argmin, a, axis, keepdims)


# --- cumulative ------------------------------------------------------------------------------


def _prepend(x: Any, axis: int, value: Any) -> Any:
    """``x`` with one ``value`` entry put in front along ``axis``."""
    shape = list(get_aval(x).shape)
    n = shape[axis]
    shape[axis] = n + 1
    shape = tuple(shape)
    fill = ew.full_like_aval(get_aval(x).update(shape=shape, weak_type=False), value)
    if n == 0:
        return fill
    src = np.clip(np.arange(n + 1) - 1, 0, n - 1).astype(np.int32)
    shifted = gather_along_axis(x, broadcast_in_dim(src, shape, (axis,)), axis)
    first = broadcast_in_dim(np.arange(n + 1) == 0, shape, (axis,))
    return ew.select(first, fill, shifted)


def _cumulative(
    fn_name,
    prim_fn,
    identity,
    a,
    axis,
    dtype,
    *,
    nan_to_identity=False,
    include_initial=False,
    require_axis=False,
):
    a = asarray_value(a)
    if axis is None:
        if require_axis and a.ndim > 1:
            raise ValueError(
                f"fxgrad.numpy.{fn_name}: for arrays with more than one dimension the axis "
                "argument is required"
            )
        a = reshape(a, (a.size,))
        axis = 0
    elif a.ndim == 0:
        canonicalize_axis(axis, 0, fn_name)
        a, axis = reshape(a, (1,)), 0
    else:
        axis = canonicalize_axis(axis, a.ndim, fn_name)
    if nan_to_identity and a.dtype.kind in "fc":
        a = _fill(a, ew.eq(a, a), identity)
    target = dtypes.canonicalize_dtype(dtype) if dtype is not None else _sum_dtype(a.dtype)
    out = prim_fn(ew.convert_element_type(a, target), axis)
    return _prepend(out, axis, identity) if include_initial else out


def cumsum(a: Any, axis: int | None = None, dtype: Any = None, out: None = None) -> Any:
    """Running sum along ``axis`` (of the flattened array if None).

    Example:
      >>> import fxgrad.numpy as fnp
      >>> fnp.cumsum(fnp.array([1, 2, 3]))
      Array([1, 3, 6], dtype=int64)
    """
    _no_out("cumsum", out)
    return _cumulative("cumsum", red.cumsum, 0, a, axis, dtype)


def cumprod(a: Any, axis: int | None = None, dtype: Any = None, out: None = None) -> Any:
    """Running product along ``axis``; its gradient is exact with zeros."""
    _no_out("cumprod", out)
    return _cumulative("cumprod", red.cumprod, 1, a, axis, dtype)


def nancumsum(a: Any, axis: int | None = None, dtype: Any = None, out: None = None) -> Any:
    """Running sum treating NaN as zero."""
    _no_out("nancumsum", out)
    return _cumulative("nancumsum", red.cumsum, 0, a, axis, dtype, nan_to_identity=True)


def nancumprod(a: Any, axis: int | None = None, dtype: Any = None, out: None = None) -> Any:
    """Running product treating NaN as one."""
    _no_out("nancumprod", out)
    return _cumulative("nancumprod", red.cumprod, 1, a, axis, dtype, nan_to_identity=True)


def cumulative_sum(
    x: Any, /, *, axis: int | None = None, dtype: Any = None, include_initial: bool = False
) -> Any:
    """Running sum (NumPy 2 / array API); ``include_initial`` prepends a zero.

    ``axis`` may be omitted only for arrays of rank <= 1.
    """
    return _cumulative(
        "cumulative_sum",
        red.cumsum,
        0,
        x,
        axis,
        dtype,
        include_initial=include_initial,
        require_axis=True,
    )


def cumulative_prod(
    x: Any, /, *, axis: int | None = None, dtype: Any = None, include_initial: bool = False
) -> Any:
    """Running product (NumPy 2 / array API); ``include_initial`` prepends a one."""
    return _cumulative(
        "cumulative_prod",
        red.cumprod,
        1,
        x,
        axis,
        dtype,
        include_initial=include_initial,
        require_axis=True,
    )


# --- NaN-aware reductions ----------------------------------------------------------------------


def _nan_filled(a: Any, value: Any) -> Any:
    a = asarray_value(a)
    nan = _is_nan(a)
    return a if nan is None else ew.select(nan, _full(a, value), a)


def nansum(
    a: Any,
    axis: Any = None,
    dtype: Any = None,
    out: None = None,
    keepdims: bool = False,
    initial: Any = None,
    where: Any = None,
) -> Any:
    """Sum treating NaN as zero."""
    _no_out("nansum", out)
    return sum(_nan_filled(a, 0), axis, dtype, None, keepdims, initial, where)


def nanprod(
    a: Any,
    axis: Any = None,
    dtype: Any = None,
    out: None = None,
    keepdims: bool = False,
    initial: Any = None,
    where: Any = None,
) -> Any:
    """Product treating NaN as one."""
    _no_out("nanprod", out)
    return prod(_nan_filled(a, 1), axis, dtype, None, keepdims, initial, where)


def _not_nan_mask(a: Any, where: Any, fn_name: str) -> Any | None:
    nan = _is_nan(a)
    valid = None if nan is None else ew.bitwise_not(nan)
    return _and_masks(_where_mask(a, where, fn_name), valid)


def nanmean(
    a: Any,
    axis: Any = None,
    dtype: Any = None,
    out: None = None,
    keepdims: bool = False,
    *,
    where: Any = None,
) -> Any:
    """Mean of the non-NaN elements; NaN for a slice that is all NaN."""
    _no_out("nanmean", out)
    a = asarray_value(a)
    mask = _not_nan_mask(a, where, "nanmean")
    return mean(_nan_filled(a, 0), axis, dtype, None, keepdims, where=mask)


nanvar = _moment_function(
    "nanvar",
    ignore_nan=True,
    root=False,
    doc="Variance of the non-NaN elements; NaN where no degrees of freedom remain.",
)
nanstd = _moment_function(
    "nanstd", ignore_nan=True, root=True, doc="Standard deviation of the non-NaN elements."
)


def _nan_extremum(fn_name, plain, fill, a, axis, keepdims, initial, where):
    a = asarray_value(a)
    nan = _is_nan(a)
    if nan is None:
        return plain(a, axis, None, keepdims, initial, where)
    result = plain(ew.select(nan, _full(a, fill), a), axis, None, keepdims, initial, where)
    axes = canonicalize_axes(axis, a.ndim, fn_name)
    if initial is None:
        seen = _not_nan_mask(a, where, fn_name)
        all_nan = _keep(red.reduce_and(ew.bitwise_not(seen), axes), axes, keepdims)
        result = ew.select(all_nan, _full(result, np.nan), result)
    return result


def nanmax(
    a: Any,
    axis: Any = None,
    out: None = None,
    keepdims: bool = False,
    initial: Any = None,
    where: Any = None,
) -> Any:
    """Maximum ignoring NaNs; NaN for a slice that is all NaN."""
    _no_out("nanmax", out)
    return _nan_extremum("nanmax", max, -np.inf, a, axis, keepdims, initial, where)


def nanmin(
    a: Any,
    axis: Any = None,
    out: None = None,
    keepdims: bool = False,
    initial: Any = None,
    where: Any = None,
) -> Any:
    """Minimum ignoring NaNs; NaN for a slice that is all NaN."""
    _no_out("nanmin", out)
    return _nan_extremum("nanmin", min, np.inf, a, axis, keepdims, initial, where)


def _nan_arg_extremum(fn_name, plain, fill, a, axis, keepdims):
    a = asarray_value(a)
    nan = _is_nan(a)
    if nan is None:
        return plain(a, axis, keepdims=keepdims)
    idx = plain(ew.select(nan, _full(a, fill), a), axis, keepdims=keepdims)
    all_nan = all(nan, axis, keepdims=keepdims)
    return ew.select(all_nan, _full(idx, -1), idx)


def nanargmax(a: Any, axis: int | None = None, out: None = None, *, keepdims: bool = False) -> Any:
    """Index of the maximum ignoring NaNs; -1 for a slice that is all NaN."""
    _no_out("nanargmax", out)
    return _nan_arg_extremum("nanargmax", argmax, -np.inf, a, axis, keepdims)


def nanargmin(a: Any, axis: int | None = None, out: None = None, *, keepdims: bool = False) -> Any:
    """Index of the minimum ignoring NaNs; -1 for a slice that is all NaN."""
    _no_out("nanargmin", out)
    return _nan_arg_extremum("nanargmin", argmin, np.inf, a, axis, keepdims)


# --- average ---------------------------------------------------------------------------------


def average(
    a: Any,
    axis: Any = None,
    weights: Any = None,
    returned: bool = False,
    *,
    keepdims: bool = False,
) -> Any:
    """Weighted average over ``axis``; with ``returned`` also the sum of the weights.

    ``weights`` has ``a``'s shape, or the shape of ``a`` along ``axis``.

    Example:
      >>> import fxgrad.numpy as fnp
      >>> fnp.average(fnp.array([1.0, 2.0, 4.0]), weights=fnp.array([1.0, 1.0, 2.0]))
      Array(2.75, dtype=float64)
    """
    a = asarray_value(a)
    axes = canonicalize_axes(axis, a.ndim, "average")
    if weights is None:
        avg = mean(a, axes, keepdims=keepdims)
        scale = ew.full_like_aval(get_aval(avg).update(weak_type=False), _size(a, axes))
        return (avg, scale) if returned else avg
    w = asarray_value(weights)
    dtype = dtypes.promote_types(a.dtype, w.dtype)
    if a.dtype.kind in "biu":
        dtype = dtypes.promote_types(dtype, dtypes.default_float_dtype())
    if w.shape != a.shape:
        if axis is None:
            raise ShapeError(
                "fxgrad.numpy.average: axis must be specified when the shapes of a "
                f"{a.shape} and weights {w.shape} differ"
            )
        if w.shape != tuple(a.shape[i] for i in axes):
            raise ShapeError(
                f"fxgrad.numpy.average: weights of shape {w.shape} must match a's shape "
                f"{a.shape} along axis {axis}"
            )
        w = broadcast_in_dim(w, a.shape, axes)
    a = ew.convert_element_type(a, dtype)
    w = ew.convert_element_type(w, dtype)
    scale = _keep(red.reduce_sum(w, axes), axes, keepdims)
    total = _keep(red.reduce_sum(ew.mul(a, w), axes), axes, keepdims)
    avg = ew.div(total, scale)
    return (avg, scale) if returned else avg
