"""``insert``, ``delete``, ``put_along_axis``, ``concat`` and ``unstack``.

These complete the joining family of ``_joining.py``. Where the positions are static
(Python ints, slices, concrete index arrays) the output layout is worked out once with
NumPy on index arrays and applied with one ``take`` along the axis, so the values stay
differentiable and batchable. ``delete`` with a traced index array needs
``assume_unique_indices=True`` (then the output size is known), as in JAX.
``put_along_axis`` is NumPy's in-place writer made functional: it requires
``inplace=False`` and returns an updated copy built with ``.at[].set``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from fxgrad import core
from fxgrad.errors import ConcretizationError, ShapeError
from fxgrad.numpy import _joining as joining
from fxgrad.numpy import _shape_ops as shp
from fxgrad.numpy._creation import arange, ones
from fxgrad.numpy._setops import nonzero
from fxgrad.numpy._util import asarray_value, canonicalize_axis

__all__ = ["concat", "delete", "insert", "put_along_axis", "unstack"]

_INDEX = np.dtype(np.int64)


def concat(arrays: Sequence[Any], /, *, axis: int | None = 0) -> Any:
    """Join ``arrays`` along ``axis`` (the array API's name for ``concatenate``).

    Example:
      >>> import fxgrad.numpy as fnp
      >>> fnp.concat([fnp.zeros(2), fnp.ones(1)])
      Array([0., 0., 1.], dtype=float64)
    """
    return joining.concatenate(arrays, axis=axis)


def unstack(x: Any, /, *, axis: int = 0) -> tuple[Any, ...]:
    """The slices of ``x`` along ``axis``, as a tuple (the inverse of ``stack``).

    Example:
      >>> import fxgrad.numpy as fnp
      >>> fnp.unstack(fnp.arange(4).reshape(2, 2))
      (Array([0, 1], dtype=int64), Array([2, 3], dtype=int64))
    """
    x = asarray_value(x)
    if x.ndim == 0:
        raise ValueError("fxgrad.numpy.unstack: input must be at least 1-D")
    axis = canonicalize_axis(axis, x.ndim, "unstack")
    moved = shp.moveaxis(x, axis, 0)
    return tuple(moved[i] for i in range(moved.shape[0]))


def _static_positions(obj: Any, fn_name: str) -> np.ndarray | slice | None:
    """``obj`` as a slice or a concrete int array, or None when it is traced."""
    if isinstance(obj, slice):
        return obj
    value = core.concrete_value(obj)
    if value is None:
        return None
    value = np.asarray(value)
    if value.dtype == np.bool_:
        raise TypeError(f"fxgrad.numpy.{fn_name}: boolean obj is not supported; use integers")
    if value.dtype.kind not in "iu":
        raise TypeError(f"fxgrad.numpy.{fn_name}: obj must be integers, got dtype {value.dtype}")
    return value


def _flat_or_axis(arr: Any, axis: Any, fn_name: str) -> tuple[Any, int]:
    arr = asarray_value(arr)
    if axis is None:
        return shp.ravel(arr), 0
    return arr, canonicalize_axis(axis, arr.ndim, fn_name)


def delete(
    arr: Any, obj: Any, axis: int | None = None, *, assume_unique_indices: bool = False
) -> Any:
    """``arr`` without the entries at ``obj`` along ``axis`` (``numpy.delete``).

    ``obj`` is an int, a slice or integer indices (negative ones count from the end;
    duplicates count once). A traced index array needs ``assume_unique_indices=True``.

    Example:
      >>> import fxgrad.numpy as fnp
      >>> fnp.delete(fnp.arange(5), [0, 3])
      Array([1, 2, 4], dtype=int64)
    """
    arr, axis = _flat_or_axis(arr, axis, "delete")
    n = arr.shape[axis]
    positions = _static_positions(obj, "delete")
    if positions is None:
        if not assume_unique_indices:
            raise ConcretizationError(
                "fxgrad.numpy.delete: the indices are traced here (inside jit or vmap), so the "
                "size of the result is unknown. Pass assume_unique_indices=True if they are "
                "unique and in bounds, or concrete indices."
            )
        idx = shp.ravel(asarray_value(obj)).astype(_INDEX)
        idx = idx + (idx < 0) * n
        keep_mask = ones(n, bool).at[idx].set(False, mode="drop")
        (keep,) = nonzero(keep_mask, size=n - idx.shape[0])
        return joining.take(arr, keep, axis=axis)
    if not isinstance(positions, slice):
        bad = positions[(positions < -n) | (positions >= n)]
        if bad.size:
            raise IndexError(
                f"fxgrad.numpy.delete: index {int(bad.reshape(-1)[0])} is out of bounds for "
                f"axis {axis} with size {n}"
            )
    keep = np.delete(np.arange(n), positions)
    return joining.take(arr, asarray_value(keep.astype(_INDEX)), axis=axis)


def insert(arr: Any, obj: Any, values: Any, axis: int | None = None) -> Any:
    """``arr`` with ``values`` inserted before the positions ``obj`` along ``axis``.

    As ``numpy.insert``: a scalar ``obj`` inserts the whole of ``values`` as a block
    (its first axis becomes ``axis``); a sequence or slice inserts one slice per index
    (in the sorted order of the indices, stable for ties). ``obj`` must be static.

    Example:
      >>> import fxgrad.numpy as fnp
      >>> fnp.insert(fnp.array([1, 2, 3]), 1, fnp.array([7, 8]))
      Array([1, 7, 8, 2, 3], dtype=int64)
    """
    arr, axis = _flat_or_axis(arr, axis, "insert")
    n = arr.shape[axis]
    positions = _static_positions(obj, "insert")
    if positions is None:
        raise ConcretizationError(
            "fxgrad.numpy.insert: obj is traced here (inside jit or vmap), but the positions "
            "of the inserted values must be static"
        )
    values = asarray_value(values).astype(arr.dtype)
    if isinstance(positions, slice):
        positions = np.arange(*positions.indices(n))
    scalar = positions.ndim == 0
    if scalar or positions.size == 1:
        index = int(positions.reshape(-1)[0])
        if not -n <= index <= n:
            raise IndexError(
                f"fxgrad.numpy.insert: index {index} is out of bounds for axis {axis} with size {n}"
            )
        index = index + n if index < 0 else index
        values = values.reshape((1,) * (arr.ndim - values.ndim) + values.shape)
        if scalar:
            values = shp.moveaxis(values, 0, axis)
        count = values.shape[axis]
        new = index + np.arange(count)
    else:
        positions = positions.reshape(-1)
        positions = np.where(positions < 0, positions + n, positions)
        if np.any((positions < 0) | (positions > n)):
            raise IndexError(f"fxgrad.numpy.insert: an index is out of bounds for size {n}")
        count = positions.size
        order = np.argsort(positions, kind="stable")
        new = positions.copy()
        new[order] += np.arange(count)
    shape = list(arr.shape)
    shape[axis] = count
    try:
        block = shp.broadcast_to(values, tuple(shape))
    except Exception as err:
        raise ShapeError(
            f"fxgrad.numpy.insert: values of shape {tuple(values.shape)} do not broadcast to "
            f"the inserted shape {tuple(shape)}"
        ) from err
    total = n + count
    source = np.empty(total, dtype=_INDEX)
    is_new = np.zeros(total, dtype=bool)
    is_new[new] = True
    source[new] = n + np.arange(count)
    source[~is_new] = np.arange(n)
    joined = joining.concatenate([arr, block], axis=axis)
    return joining.take(joined, asarray_value(source), axis=axis)


def put_along_axis(
    arr: Any,
    indices: Any,
    values: Any,
    axis: int | None,
    inplace: bool = True,
    *,
    mode: str | None = None,
) -> Any:
    """``arr`` with ``values`` written at ``indices`` along ``axis`` (functional).

    The counterpart of ``take_along_axis``; needs ``inplace=False`` (as in JAX).
    ``mode`` is passed to ``.at[].set`` (out-of-bounds writes are dropped by default).

    Example:
      >>> import fxgrad.numpy as fnp
      >>> a = fnp.zeros((2, 3))
      >>> fnp.put_along_axis(a, fnp.array([[2], [0]]), 5.0, axis=1, inplace=False)
      Array([[0., 0., 5.],
             [5., 0., 0.]], dtype=float64)
    """
    if inplace:
        raise ValueError(
            "fxgrad.numpy.put_along_axis cannot modify an array in place: fxgrad arrays are "
            "immutable. Pass inplace=False to get the updated array back."
        )
    arr = asarray_value(arr)
    indices = asarray_value(indices)
    if indices.dtype.kind not in "iu":
        raise TypeError(
            f"fxgrad.numpy.put_along_axis: indices must be integers, got {indices.dtype}"
        )
    if axis is None:
        shape = arr.shape
        flat = shp.ravel(arr)
        out = put_along_axis(flat, shp.ravel(indices), values, 0, inplace=False, mode=mode)
        return out.reshape(shape)
    axis = canonicalize_axis(axis, arr.ndim, "put_along_axis")
    if indices.ndim != arr.ndim:
        raise ShapeError(
            "fxgrad.numpy.put_along_axis: indices and arr must have the same number of "
            f"dimensions, got {indices.ndim} and {arr.ndim}"
        )
    shape = np.broadcast_shapes(
        tuple(1 if i == axis else s for i, s in enumerate(arr.shape)), indices.shape
    )
    index = []
    for i in range(arr.ndim):
        if i == axis:
            index.append(shp.broadcast_to(indices, shape))
            continue
        grid = [1] * arr.ndim
        grid[i] = shape[i]
        index.append(shp.broadcast_to(arange(shape[i], dtype=_INDEX).reshape(tuple(grid)), shape))
    values = shp.broadcast_to(asarray_value(values).astype(arr.dtype), shape)
    return arr.at[tuple(index)].set(values, mode=mode)
