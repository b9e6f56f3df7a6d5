"""Functions whose output size depends on the input values: nonzero, unique, set operations.

``nonzero``, ``argwhere``, ``flatnonzero``, ``where(cond)``, ``unique`` (and the NumPy 2
``unique_*`` family), ``intersect1d``, ``union1d``, ``setdiff1d``, ``setxor1d``,
``extract``, ``compress``, ``trim_zeros`` and ``bincount`` return as many elements as
the data asks for. Eagerly (also under ``grad``, whose tracers carry concrete values)
the size is read from the data. Under ``jit`` or ``vmap`` it is not known when tracing,
so these functions take a static ``size=`` (as in JAX): the result has exactly ``size``
entries, cut short or padded with ``fill_value``. Without ``size=`` they raise a
``ConcretizationError`` saying so.

One algorithm serves both cases, so eager and jitted results agree: a stable sort (or
``lexsort`` for rows) brings equal values together, a mask marks the first of each run,
and ``_compact`` scatters the marked positions (prefix sum of the mask) into a buffer
of ``size`` entries, dropping the rest. Values are gathered from the input, so the
gradient of ``unique(x)`` flows to the first occurrence of each value. ``isin`` and
``digitize`` have static output shapes and work anywhere; ``histogram`` lives in
``_misc`` with the other binning functions.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from fxgrad import core
from fxgrad.errors import ConcretizationError, ShapeError
from fxgrad.numpy import _joining as joining
from fxgrad.numpy import _reductions as red
from fxgrad.numpy import _shape_ops as shp
from fxgrad.numpy import _sorting as srt
from fxgrad.numpy import _ufuncs as uf
from fxgrad.numpy._creation import arange, full, zeros
from fxgrad.numpy._util import asarray_value, canonicalize_axis

__all__ = [
    "argwhere",
    "bincount",
    "compress",
    "extract",
    "flatnonzero",
    "in1d",
    "intersect1d",
    "isin",
    "nonzero",
    "setdiff1d",
    "setxor1d",
    "trim_zeros",
    "union1d",
    "unique",
    "unique_all",
    "unique_counts",
    "unique_inverse",
    "unique_values",
]

_INDEX = np.dtype(np.int64)


class UniqueAllResult(NamedTuple):
    values: Any
    indices: Any
    inverse_indices: Any
    counts: Any


class UniqueCountsResult(NamedTuple):
    values: Any
    counts: Any


class UniqueInverseResult(NamedTuple):
    values: Any
    inverse_indices: Any


# ---------------------------------------------------------------------------------------------
# Static sizes
# ---------------------------------------------------------------------------------------------


def _static_size(count: Any, size: Any, fn_name: str, arg: str) -> int:
    """``size`` if given, else the concrete value of ``count``, else a ConcretizationError."""
    if size is not None:
        size = core.concrete_value(size)
        if size is None or np.ndim(size) != 0 or int(size) != size or int(size) < 0:
            raise ValueError(
                f"fxgrad.numpy.{fn_name}: size= must be a static non-negative integer, got {size!r}"
            )
        return int(size)
    value = core.concrete_value(count)
    if value is None:
        raise ConcretizationError(
            f"fxgrad.numpy.{fn_name}: the size of the result depends on the values of "
            f"`{arg}`, which are traced here (inside jit or vmap), so it is unknown when "
            f"tracing. Pass a static size= (e.g. {fn_name}(..., size=10, fill_value=0)): "
            "the result then has exactly that many entries, padded with fill_value; or "
            "call it outside jit/vmap."
        )
    return int(np.asarray(value))


def _compact(mask: Any, size: int) -> tuple[Any, Any]:
    """Positions of the True entries of the 1-D ``mask`` (first ``size``), and validity.

    Returns ``(positions, valid)``, both of length ``size``: ``positions[i]`` is the
    index of the i-th True entry where ``valid[i]``, else 0.
    """
    n = mask.shape[0]
    counts = red.cumsum(mask.astype(_INDEX))
    target = uf.where(mask, counts - 1, size)  # `size` is out of bounds: dropped
    out = zeros(size, _INDEX).at[target].set(arange(n, dtype=_INDEX), mode="drop")
    total = counts[-1] if n else zeros((), _INDEX)
    valid = arange(size, dtype=_INDEX) < total
    return out, valid


def _filled(values: Any, valid: Any, fill_value: Any) -> Any:
    """``values`` with invalid rows replaced by ``fill_value`` (broadcast over trailing axes)."""
    if fill_value is None:
        return values
    shape = valid.shape + (1,) * (values.ndim - 1)
    fill = asarray_value(fill_value).astype(values.dtype)
    return uf.where(valid.reshape(shape), values, fill)


# ---------------------------------------------------------------------------------------------
# nonzero family
# ---------------------------------------------------------------------------------------------


def _fill_for_dim(fill_value: Any, i: int, ndim: int, fn_name: str) -> Any:
    if fill_value is None:
        return 0
    if isinstance(fill_value, (tuple, list)):
        if len(fill_value) != ndim:
            raise ValueError(
                f"fxgrad.numpy.{fn_name}: fill_value has {len(fill_value)} entries but the "
                f"input has {ndim} dimensions; give one fill value per dimension or a scalar"
            )
        return fill_value[i]
    if np.ndim(fill_value) != 0:
        raise ValueError(f"fxgrad.numpy.{fn_name}: fill_value must be a scalar or a tuple")
    return fill_value


def nonzero(a: Any, *, size: int | None = None, fill_value: Any = None) -> tuple[Any, ...]:
    """Indices of the non-zero elements, one int64 array per dimension (as ``numpy.nonzero``).

    Under ``jit``/``vmap`` pass ``size=``: the first ``size`` indices are returned, padded
    with ``fill_value`` (default 0; a tuple gives one value per dimension).

    Example:
      >>> import fxgrad.numpy as fnp
      >>> fnp.nonzero(fnp.array([[0, 3], [4, 0]]))
      (Array([0, 1], dtype=int64), Array([1, 0], dtype=int64))
      >>> fnp.nonzero(fnp.array([0, 5, 0, 7]), size=3, fill_value=-1)
      (Array([ 1,  3, -1], dtype=int64),)
    """
    a = asarray_value(a)
    if a.ndim == 0:
        raise ValueError(
            "fxgrad.numpy.nonzero: calling nonzero on 0-d arrays is not allowed (as in "
            "NumPy 2); use fnp.atleast_1d(a).nonzero() instead"
        )
    mask = shp.ravel(a != 0)
    n = _static_size(red.sum(mask), size, "nonzero", "a")
    flat, valid = _compact(mask, n)
    out = []
    for i, idx in enumerate(_unravel(flat, a.shape)):
        fill = _fill_for_dim(fill_value, i, a.ndim, "nonzero")
        out.append(uf.where(valid, idx, asarray_value(fill).astype(_INDEX)))
    return tuple(out)


def _unravel(flat: Any, shape: tuple[int, ...]) -> list[Any]:
    out = []
    for d in reversed(shape):
        out.append(flat % d if d else flat)
        flat = flat // d if d else flat
    return out[::-1]


def flatnonzero(a: Any, *, size: int | None = None, fill_value: Any = None) -> Any:
    """Indices of the non-zero elements of ``ravel(a)`` (as ``numpy.flatnonzero``).

    Example:
      >>> import fxgrad.numpy as fnp
      >>> fnp.flatnonzero(fnp.array([[0, 2], [3, 0]]))
      Array([1, 2], dtype=int64)
    """
    return nonzero(shp.ravel(asarray_value(a)), size=size, fill_value=fill_value)[0]


def argwhere(a: Any, *, size: int | None = None, fill_value: Any = None) -> Any:
    """Indices of the non-zero elements as an ``(N, a.ndim)`` int64 array (``numpy.argwhere``).

    Example:
      >>> import fxgrad.numpy as fnp
      >>> fnp.argwhere(fnp.array([[0, 2], [3, 0]]))
      Array([[0, 1],
             [1, 0]], dtype=int64)
    """
    a = asarray_value(a)
    if a.ndim == 0:
        out = argwhere(shp.atleast_1d(a), size=size, fill_value=fill_value)
        return out[:, :0]
    return joining.stack(nonzero(a, size=size, fill_value=fill_value), axis=-1)


def extract(condition: Any, arr: Any, *, size: int | None = None, fill_value: Any = 0) -> Any:
    """The elements of ``ravel(arr)`` where ``ravel(condition)`` is non-zero (``numpy.extract``).

    Example:
      >>> import fxgrad.numpy as fnp
      >>> fnp.extract(fnp.array([True, False, True]), fnp.array([1.0, 2.0, 3.0]))
      Array([1., 3.], dtype=float64)
    """
    arr = shp.ravel(asarray_value(arr))
    cond = shp.ravel(asarray_value(condition) != 0)
    n = min(cond.shape[0], arr.shape[0])
    cond = cond[:n]
    count = _static_size(red.sum(cond), size, "extract", "condition")
    idx, valid = _compact(cond, count)
    return _filled(arr[idx] if n else zeros(count, arr.dtype), valid, fill_value)


def compress(
    condition: Any,
    a: Any,
    axis: int | None = None,
    *,
    size: int | None = None,
    fill_value: Any = 0,
    out: None = None,
) -> Any:
    """Slices of ``a`` along ``axis`` where ``condition`` is true (``numpy.compress``).

    ``condition`` is 1-D; a shorter one selects among the first entries only. Under
    ``jit``/``vmap`` pass ``size=`` (slices beyond the selected ones are ``fill_value``).

    Example:
      >>> import fxgrad.numpy as fnp
      >>> fnp.compress(fnp.array([False, True]), fnp.array([[1, 2], [3, 4]]), axis=0)
      Array([[3, 4]], dtype=int64)
    """
    if out is not None:
        raise NotImplementedError("fxgrad.numpy.compress: out= is not supported (immutable)")
    a = asarray_value(a)
    cond = asarray_value(condition)
    if cond.ndim != 1:
        raise ShapeError(
            f"fxgrad.numpy.compress: condition must be 1-D, got shape {tuple(cond.shape)}"
        )
    if axis is None:
        a, axis = shp.ravel(a), 0
    axis = canonicalize_axis(axis, a.ndim, "compress")
    length = a.shape[axis]
    cond = cond[:length] != 0
    count = _static_size(red.sum(cond), size, "compress", "condition")
    idx, valid = _compact(cond, count)
    moved = shp.moveaxis(a, axis, 0)
    taken = moved[idx] if length else zeros((count,) + moved.shape[1:], a.dtype)
    return shp.moveaxis(_filled(taken, valid, fill_value), 0, axis)


def trim_zeros(filt: Any, trim: str = "fb", axis: Any = None) -> Any:
    """``filt`` without its leading (``'f'``) and/or trailing (``'b'``) zeros (eager only).

    Example:
      >>> import fxgrad.numpy as fnp
      >>> fnp.trim_zeros(fnp.array([0, 0, 1, 2, 0]))
      Array([1, 2], dtype=int64)
    """
    filt = asarray_value(filt)
    trim = trim.lower()
    if not set(trim) <= {"f", "b"}:
        raise ValueError(
            f"fxgrad.numpy.trim_zeros: trim must contain only 'f' and 'b', got {trim!r}"
        )
    value = core.concrete_value(filt)
    if value is None:
        raise ConcretizationError(
            "fxgrad.numpy.trim_zeros: the size of the result depends on the values of "
            "`filt`, which are traced here (inside jit or vmap). Call trim_zeros outside "
            "jit/vmap, or keep the shape with fnp.where."
        )
    value = np.asarray(value)
    axes = (
        range(value.ndim) if axis is None else [canonicalize_axis(axis, value.ndim, "trim_zeros")]
    )
    index = [slice(None)] * value.ndim
    for ax in axes:
        others = tuple(i for i in range(value.ndim) if i != ax)
        nonzero_along = np.flatnonzero(np.any(value != 0, axis=others))
        if nonzero_along.size == 0:
            index[ax] = slice(0, 0)
            continue
        start = int(nonzero_along[0]) if "f" in trim else 0
        stop = int(nonzero_along[-1]) + 1 if "b" in trim else value.shape[ax]
        index[ax] = slice(start, stop)
    return filt[tuple(index)]


# ---------------------------------------------------------------------------------------------
# unique
# ---------------------------------------------------------------------------------------------


def _rows_differ(rows: Any, equal_nan: bool) -> Any:
    """``rows[i] != rows[i - 1]`` for i >= 1 (any column), NaNs equal when ``equal_nan``."""
    a, b = rows[1:], rows[:-1]
    differ = a != b
    if equal_nan and rows.dtype.kind in "fc":
        differ = differ & ~(uf.isnan(a) & uf.isnan(b))
    return red.any(differ, axis=1)


class _Unique(NamedTuple):
    values: Any  # (size, *rest): the unique rows, in sorted order
    valid: Any  # (size,) bool
    index: Any  # (size,) first occurrence of each unique row in the input
    inverse: Any  # (n,) position of each input row among the unique rows
    counts: Any  # (size,)


def _unique_rows(rows: Any, mask: Any, size: Any, equal_nan: bool, fn_name: str, arg: str):
    """Unique rows of the 2-D ``rows`` (among those where ``mask``, if given)."""
    n, m = rows.shape
    if n == 0:
        count = _static_size(0, size, fn_name, arg)
        empty = zeros((count,), _INDEX)
        return _Unique(zeros((count, m), rows.dtype), empty != 0, empty, zeros((0,), _INDEX), empty)
    keys = [rows[:, j] for j in reversed(range(m))]
    if mask is not None:
        keys.append(~mask)  # the primary key: selected rows first
    perm = srt.lexsort(keys) if keys else arange(n, dtype=_INDEX)
    sorted_rows = rows[perm]
    start = joining.concatenate([full((1,), True), _rows_differ(sorted_rows, equal_nan)])
    if mask is not None:
        start = start & mask[perm]
    count = _static_size(red.sum(start), size, fn_name, arg)
    pos, valid = _compact(start, count)
    group = red.cumsum(start.astype(_INDEX)) - 1  # unique id of each sorted row
    inverse = zeros(n, _INDEX).at[perm].set(group)
    counted = group if mask is None else uf.where(mask[perm], group, count)
    counts = zeros(count, _INDEX).at[counted].add(1, mode="drop")
    return _Unique(sorted_rows[pos], valid, perm[pos], inverse, counts)


def _fill_unique(u: _Unique, fill_value: Any) -> tuple[Any, Any]:
    """Values and indices with padding: ``fill_value`` (default: the smallest value)."""
    if u.values.shape[0] == 0:
        return u.values, u.index
    fill = u.values[0] if fill_value is None else fill_value
    values = _filled(u.values, u.valid, fill)
    index = uf.where(u.valid, u.index, u.index[0])
    return values, index


def unique(
    ar: Any,
    return_index: bool = False,
    return_inverse: bool = False,
    return_counts: bool = False,
    axis: int | None = None,
    *,
    equal_nan: bool = True,
    size: int | None = None,
    fill_value: Any = None,
    sorted: bool = True,  # noqa: A002 - NumPy's name
) -> Any:
    """The sorted unique elements (or rows along ``axis``) of ``ar``, as ``numpy.unique``.

    Optionally also the index of each value's first occurrence, the inverse (which
    unique value each input element is; shaped like ``ar`` when ``axis`` is None, as in
    NumPy 2) and the counts. Under ``jit``/``vmap`` pass ``size=``: the result has
    ``size`` entries, padded with ``fill_value`` (default: the smallest unique value, as
    in JAX), with index padding the first index and count padding 0.

    Example:
      >>> import fxgrad.numpy as fnp
      >>> fnp.unique(fnp.array([3, 1, 3, 2]))
      Array([1, 2, 3], dtype=int64)
      >>> fnp.unique(fnp.array([3, 1, 3]), return_counts=True, size=3, fill_value=0)
      (Array([1, 3, 0], dtype=int64), Array([1, 2, 0], dtype=int64))
    """
    del sorted  # always sorted
    ar = asarray_value(ar)
    if axis is None:
        shape = ar.shape
        rows = shp.ravel(ar).reshape(-1, 1)
    else:
        axis = canonicalize_axis(axis, ar.ndim, "unique")
        moved = shp.moveaxis(ar, axis, 0)
        rest = moved.shape[1:]
        rows = moved.reshape(moved.shape[0], int(np.prod(rest, dtype=np.int64)))
    u = _unique_rows(rows, None, size, equal_nan, "unique", "ar")
    values, index = _fill_unique(u, fill_value)
    if axis is None:
        values = values.reshape(-1)
        inverse = u.inverse.reshape(shape)
    else:
        values = shp.moveaxis(values.reshape((values.shape[0],) + rest), 0, axis)
        inverse = u.inverse
    out = [values]
    if return_index:
        out.append(index)
    if return_inverse:
        out.append(inverse)
    if return_counts:
        out.append(u.counts)
    return out[0] if len(out) == 1 else tuple(out)


def unique_values(x: Any, /, *, size: int | None = None, fill_value: Any = None) -> Any:
    """The sorted unique values of ``x`` (NumPy 2's ``unique_values``; NaNs kept apart)."""
    return unique(x, equal_nan=False, size=size, fill_value=fill_value)


def unique_counts(
    x: Any, /, *, size: int | None = None, fill_value: Any = None
) -> UniqueCountsResult:
    """``(values, counts)`` of ``x`` as a named tuple (NumPy 2's ``unique_counts``)."""
    values, counts = unique(
        x, return_counts=True, equal_nan=False, size=size, fill_value=fill_value
    )
    return UniqueCountsResult(values, counts)


def unique_inverse(
    x: Any, /, *, size: int | None = None, fill_value: Any = None
) -> UniqueInverseResult:
    """``(values, inverse_indices)`` of ``x`` (NumPy 2's ``unique_inverse``)."""
    values, inverse = unique(
        x, return_inverse=True, equal_nan=False, size=size, fill_value=fill_value
    )
    return UniqueInverseResult(values, inverse)


def unique_all(x: Any, /, *, size: int | None = None, fill_value: Any = None) -> UniqueAllResult:
    """``(values, indices, inverse_indices, counts)`` of ``x`` (NumPy 2's ``unique_all``).

    Example:
      >>> import fxgrad.numpy as fnp
      >>> fnp.unique_all(fnp.array([2, 1, 2])).counts
      Array([1, 2], dtype=int64)
    """
    out = unique(
        x,
        return_index=True,
        return_inverse=True,
        return_counts=True,
        equal_nan=False,
        size=size,
        fill_value=fill_value,
    )
    return UniqueAllResult(*out)


# ---------------------------------------------------------------------------------------------
# Set operations on 1-D arrays
# ---------------------------------------------------------------------------------------------


def isin(
    element: Any,
    test_elements: Any,
    assume_unique: bool = False,
    invert: bool = False,
    *,
    method: str = "auto",
) -> Any:
    """Whether each element of ``element`` occurs in ``test_elements`` (``numpy.isin``).

    ``method``: ``'compare_all'`` compares every pair (best for small inputs);
    ``'sort'``/``'binary_search'`` sort ``test_elements`` and search; ``'auto'`` picks.
    Works under ``jit``/``vmap`` (the output has the shape of ``element``).

    Example:
      >>> import fxgrad.numpy as fnp
      >>> fnp.isin(fnp.array([1, 2, 3]), fnp.array([3, 1]))
      Array([ True, False,  True], dtype=bool)
    """
    del assume_unique
    if method not in ("auto", "compare_all", "binary_search", "sort"):
        raise ValueError(
            "fxgrad.numpy.isin: method must be 'auto', 'compare_all', 'binary_search' or "
            f"'sort', got {method!r}"
        )
    element = asarray_value(element)
    test = shp.ravel(asarray_value(test_elements))
    flat = shp.ravel(element)
    n, m = flat.shape[0], test.shape[0]
    if m == 0:
        found = zeros(flat.shape, bool)
    elif method == "compare_all" or (method == "auto" and n * m <= 1 << 16):
        found = red.any(flat[:, None] == test[None, :], axis=1)
    else:
        ordered = srt.sort(test)
        pos = uf.minimum(srt.searchsorted(ordered, flat), m - 1)
        found = ordered[pos] == flat
    found = found.reshape(element.shape)
    return ~found if invert else found


def in1d(ar1: Any, ar2: Any, assume_unique: bool = False, invert: bool = False) -> Any:
    """``isin`` of ``ravel(ar1)``: NumPy's older spelling (removed in NumPy 2.4)."""
    return isin(shp.ravel(asarray_value(ar1)), ar2, assume_unique, invert)


def _unique_1d(values: Any, mask: Any, size: Any, fill_value: Any, fn_name: str, arg: str):
    u = _unique_rows(values.reshape(-1, 1), mask, size, True, fn_name, arg)
    out, index = _fill_unique(u, fill_value)
    return out.reshape(-1), index


def _concat_1d(fn_name: str, ar1: Any, ar2: Any) -> tuple[Any, Any, Any]:
    a = shp.ravel(asarray_value(ar1))
    b = shp.ravel(asarray_value(ar2))
    return a, b, joining.concatenate([a, b])


def union1d(ar1: Any, ar2: Any, *, size: int | None = None, fill_value: Any = None) -> Any:
    """The sorted unique values that are in either array (``numpy.union1d``).

    Example:
      >>> import fxgrad.numpy as fnp
      >>> fnp.union1d(fnp.array([3, 1]), fnp.array([2, 1]))
      Array([1, 2, 3], dtype=int64)
    """
    _, _, both = _concat_1d("union1d", ar1, ar2)
    return _unique_1d(both, None, size, fill_value, "union1d", "ar1 and ar2")[0]


def intersect1d(
    ar1: Any,
    ar2: Any,
    assume_unique: bool = False,
    return_indices: bool = False,
    *,
    size: int | None = None,
    fill_value: Any = None,
) -> Any:
    """The sorted unique values that are in both arrays (``numpy.intersect1d``).

    With ``return_indices``, also the index of each value's first occurrence in
    ``ravel(ar1)`` and in ``ravel(ar2)``.

    Example:
      >>> import fxgrad.numpy as fnp
      >>> fnp.intersect1d(fnp.array([1, 3, 4, 3]), fnp.array([3, 1, 2, 1]))
      Array([1, 3], dtype=int64)
    """
    del assume_unique
    a, b, _ = _concat_1d("intersect1d", ar1, ar2)
    a, b = (shp.ravel(v) for v in _promote_pair(a, b))
    values, index1 = _unique_1d(a, isin(a, b), size, fill_value, "intersect1d", "ar1 and ar2")
    if not return_indices:
        return values
    if b.shape[0] == 0:
        return values, index1, zeros(values.shape, _INDEX)
    perm = srt.argsort(b)
    pos = uf.minimum(srt.searchsorted(b[perm], values), b.shape[0] - 1)
    return values, index1, perm[pos]


def _promote_pair(a: Any, b: Any) -> tuple[Any, Any]:
    from fxgrad.numpy._util import promote_dtypes

    return tuple(promote_dtypes(a, b))


def setdiff1d(
    ar1: Any,
    ar2: Any,
    assume_unique: bool = False,
    *,
    size: int | None = None,
    fill_value: Any = None,
) -> Any:
    """The values of ``ar1`` that are not in ``ar2`` (``numpy.setdiff1d``).

    Sorted and unique; with ``assume_unique=True`` the values of ``ravel(ar1)`` are kept
    in their order, as NumPy does.

    Example:
      >>> import fxgrad.numpy as fnp
      >>> fnp.setdiff1d(fnp.array([5, 1, 3, 1]), fnp.array([3]))
      Array([1, 5], dtype=int64)
    """
    a = shp.ravel(asarray_value(ar1))
    keep = isin(a, ar2, invert=True)
    if assume_unique:
        fill = 0 if fill_value is None else fill_value
        return extract(keep, a, size=size, fill_value=fill)
    return _unique_1d(a, keep, size, fill_value, "setdiff1d", "ar1 and ar2")[0]


def setxor1d(
    ar1: Any,
    ar2: Any,
    assume_unique: bool = False,
    *,
    size: int | None = None,
    fill_value: Any = None,
) -> Any:
    """The sorted unique values that are in exactly one of the arrays (``numpy.setxor1d``).

    Example:
      >>> import fxgrad.numpy as fnp
      >>> fnp.setxor1d(fnp.array([1, 2, 3]), fnp.array([2, 3, 4]))
      Array([1, 4], dtype=int64)
    """
    del assume_unique
    a, b, both = _concat_1d("setxor1d", ar1, ar2)
    keep = joining.concatenate([isin(a, b, invert=True), isin(b, a, invert=True)])
    return _unique_1d(both, keep, size, fill_value, "setxor1d", "ar1 and ar2")[0]


# ---------------------------------------------------------------------------------------------
# Counting
# ---------------------------------------------------------------------------------------------


def bincount(x: Any, weights: Any = None, minlength: int = 0, *, length: int | None = None) -> Any:
    """Number (or total weight) of occurrences of each value in the non-negative ints ``x``.

    The result has ``max(x.max() + 1, minlength)`` entries; under ``jit``/``vmap`` pass
    a static ``length=`` instead (values ``>= length`` are dropped, as in JAX; negative
    values, an error in NumPy, count in bin 0 when traced). Weights keep their floating
    dtype (NumPy casts them to float64); integer weights give float64, as in NumPy.

    Example:
      >>> import fxgrad.numpy as fnp
      >>> fnp.bincount(fnp.array([0, 1, 1, 3]))
      Array([1, 2, 0, 1], dtype=int64)
    """
    x = asarray_value(x)
    if x.ndim != 1:
        raise ShapeError(f"fxgrad.numpy.bincount: x must be 1-D, got shape {tuple(x.shape)}")
    if x.dtype.kind not in "iub":
        raise TypeError(f"fxgrad.numpy.bincount: x must hold integers, got dtype {x.dtype}")
    minlength = int(core.concrete_value(minlength))
    if minlength < 0:
        raise ValueError("fxgrad.numpy.bincount: minlength must be non-negative")
    if length is None:
        value = core.concrete_value(x)
        if value is None:
            raise ConcretizationError(
                "fxgrad.numpy.bincount: the number of bins depends on the values of `x`, "
                "which are traced here (inside jit or vmap). Pass a static length= (values "
                "at or above it are dropped), or call bincount outside jit/vmap."
            )
        value = np.asarray(value)
        if value.size and value.min() < 0:
            raise ValueError("fxgrad.numpy.bincount: x must not contain negative values")
        length = max(int(value.max()) + 1 if value.size else 0, minlength)
    else:
        length = _static_size(None, length, "bincount", "x")
    x = uf.maximum(x.astype(_INDEX), 0)
    if weights is None:
        return zeros(length, _INDEX).at[x].add(1, mode="drop")
    weights = asarray_value(weights)
    if weights.shape != x.shape:
        raise ShapeError(
            f"fxgrad.numpy.bincount: weights must have the shape of x {tuple(x.shape)}, got "
            f"{tuple(weights.shape)}"
        )
    if weights.dtype.kind not in "fc":
        weights = weights.astype(np.float64)
    return zeros(length, weights.dtype).at[x].add(weights, mode="drop")
