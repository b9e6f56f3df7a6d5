"""Joining, splitting and rearranging arrays, as in NumPy.

concatenate / stack / *stack / append join; split / array_split / *split cut; flip,
roll, rot90, tile, repeat rearrange; take / take_along_axis index; diagonal, diag,
trace, tril, triu work on matrices; pad extends.

Everything lowers to the slicing primitives (``concatenate``, ``slice``, ``pad``,
``rev``, ``dynamic_slice``) where positions are static, and to ``gather`` where they
come from data, so every function differentiates and batches. Static arguments
(sections, shifts, repeats, pad widths) must be Python values or concrete arrays;
``roll`` also accepts a traced shift.

Differences from NumPy (as in JAX): ``take`` and ``take_along_axis`` default to
``mode='fill'`` (out-of-bounds indices give NaN, or the extreme integer), ``repeat``
takes ``total_repeat_length=``, and ``tril``/``triu`` need at least 2-D input.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import Any

import numpy as np

from fxgrad import dtypes
from fxgrad.core import Tracer, get_aval
from fxgrad.errors import ConcretizationError, FxgradTypeError, ShapeError
from fxgrad.lax import elementwise as ew
from fxgrad.lax import indexing as lind
from fxgrad.lax import reduction as lred
from fxgrad.lax import shape as lshape
from fxgrad.lax import slicing as lsl
from fxgrad.numpy._util import asarray_value, canonicalize_axes, canonicalize_axis, promote_dtypes

__all__ = [
    "append",
    "array_split",
    "column_stack",
    "concatenate",
    "diag",
    "diagonal",
    "dsplit",
    "dstack",
    "flip",
    "fliplr",
    "flipud",
    "hsplit",
    "hstack",
    "pad",
    "repeat",
    "roll",
    "rot90",
    "row_stack",
    "split",
    "stack",
    "take",
    "take_along_axis",
    "tile",
    "trace",
    "tril",
    "triu",
    "vsplit",
    "vstack",
]


def _as_list(arrays: Any, fn_name: str) -> list[Any]:
    if isinstance(arrays, (Tracer, np.ndarray)) or hasattr(arrays, "_value"):
        arr = asarray_value(arrays)
        return [lsl.index_in_dim(arr, i, 0, keepdims=False) for i in range(arr.shape[0])]
    arrays = [asarray_value(a) for a in arrays]
    if not arrays:
        raise ValueError(f"fxgrad.numpy.{fn_name}: need at least one array")
    return arrays


def _static_ints(x: Any, what: str, fn_name: str) -> np.ndarray:
    if isinstance(x, Tracer):
        value = x.to_concrete_value()
        if value is None:
            raise ConcretizationError(
                f"fxgrad.numpy.{fn_name}: {what} is a traced value, but it determines the "
                "shape of the result and must be static. Pass a Python int or sequence (a "
                "static argument under jit)."
            )
        x = value
    arr = np.asarray(x)
    if arr.dtype.kind not in "iu" and arr.size:
        raise TypeError(f"fxgrad.numpy.{fn_name}: {what} must be integers, got {arr.dtype}")
    return arr.astype(np.int64)


# --- joining ---------------------------------------------------------------------------------


def concatenate(arrays: Any, axis: int | None = 0, dtype: Any = None) -> Any:
    """Join arrays along an existing ``axis`` (``None``: flatten them first).

    Example:
      >>> import fxgrad.numpy as fnp
      >>> fnp.concatenate([fnp.zeros(2), fnp.ones(1)])
      Array([0., 0., 1.], dtype=float64)
    """
    arrays = _as_list(arrays, "concatenate")
    if axis is None:
        arrays = [lshape.reshape(a, (get_aval(a).size,)) for a in arrays]
        axis = 0
    arrays = promote_dtypes(*arrays)
    if dtype is not None:
        arrays = [ew.convert_element_type(a, dtypes.canonicalize_dtype(dtype)) for a in arrays]
    ndim = get_aval(arrays[0]).ndim
    if ndim == 0:
        raise ValueError("fxgrad.numpy.concatenate: zero-dimensional arrays cannot be concatenated")
    axis = canonicalize_axis(axis, ndim, "concatenate")
    shapes = [tuple(get_aval(a).shape) for a in arrays]
    for s in shapes:
        mismatch = len(s) != ndim or any(
            a != b for i, (a, b) in enumerate(zip(s, shapes[0], strict=True)) if i != axis
        )
        if mismatch:
            shown = ", ".join(str(s) for s in shapes)
            raise ShapeError(
                f"fxgrad.numpy.concatenate: all input array dimensions except for the "
                f"concatenation axis {axis} must match exactly, got shapes {shown}"
            )
    return lsl.concatenate(arrays, axis)


def stack(arrays: Any, axis: int = 0, out: None = None, dtype: Any = None) -> Any:
    """Join arrays of one shape along a new ``axis``.

    Example:
      >>> import fxgrad.numpy as fnp
      >>> fnp.stack([fnp.zeros(2), fnp.ones(2)]).shape
      (2, 2)
    """
    arrays = _as_list(arrays, "stack")
    shapes = {tuple(get_aval(a).shape) for a in arrays}
    if len(shapes) > 1:
        raise ShapeError(
            f"fxgrad.numpy.stack: all input arrays must have the same shape, got {sorted(shapes)}"
        )
    ndim = get_aval(arrays[0]).ndim
    axis = canonicalize_axis(axis, ndim + 1, "stack")
    return concatenate([lshape.expand_dims(a, (axis,)) for a in arrays], axis, dtype)


def _atleast(a: Any, ndim: int) -> Any:
    from fxgrad.numpy._shape_ops import atleast_1d, atleast_2d, atleast_3d

    return {1: atleast_1d, 2: atleast_2d, 3: atleast_3d}[ndim](a)


def hstack(tup: Any, dtype: Any = None) -> Any:
    """Join along the second axis (the first for 1-D arrays)."""
    arrays = [_atleast(a, 1) for a in _as_list(tup, "hstack")]
    axis = 0 if get_aval(arrays[0]).ndim == 1 else 1
    return concatenate(arrays, axis, dtype)


def vstack(tup: Any, dtype: Any = None) -> Any:
    """Join along the first axis, after making 1-D arrays rows."""
    return concatenate([_atleast(a, 2) for a in _as_list(tup, "vstack")], 0, dtype)


row_stack = vstack


def dstack(tup: Any, dtype: Any = None) -> Any:
    """Join along the third axis, after making arrays at least 3-D."""
    return concatenate([_atleast(a, 3) for a in _as_list(tup, "dstack")], 2, dtype)


def column_stack(tup: Any) -> Any:
    """Join 1-D arrays as columns (2-D arrays as they are) along the second axis."""
    arrays = []
    for a in _as_list(tup, "column_stack"):
        if get_aval(a).ndim < 2:
            a = lshape.reshape(a, (get_aval(a).size, 1))
        arrays.append(a)
    return concatenate(arrays, 1)


def append(arr: Any, values: Any, axis: int | None = None) -> Any:
    """``arr`` with ``values`` appended along ``axis`` (flattened when ``None``)."""
    return concatenate([arr, values], axis)


# --- splitting -------------------------------------------------------------------------------


def _split_at(ary: Any, points: Sequence[int], axis: int) -> list[Any]:
    n = get_aval(ary).shape[axis]
    bounds = [0, *points, n]
    pieces = []
    for start, stop in zip(bounds[:-1], bounds[1:], strict=True):
        start, stop, _ = slice(start, stop).indices(n)
        pieces.append(lsl.slice_in_dim(ary, start, max(start, stop), 1, axis))
    return pieces


def _split(ary: Any, sections: Any, axis: int, fn_name: str, equal: bool) -> list[Any]:
    ary = asarray_value(ary)
    axis = canonicalize_axis(axis, get_aval(ary).ndim, fn_name)
    n = get_aval(ary).shape[axis]
    spec = _static_ints(sections, "indices_or_sections", fn_name)
    if spec.ndim == 0:
        count = int(spec)
        if count <= 0:
            raise ValueError(f"fxgrad.numpy.{fn_name}: number of sections must be larger than 0")
        if equal and n % count:
            raise ValueError(
                f"fxgrad.numpy.{fn_name}: array split does not result in an equal division "
                f"({n} elements into {count} sections); use array_split"
            )
        size, extra = divmod(n, count)
        sizes = [size + 1] * extra + [size] * (count - extra)
        points = np.cumsum(sizes)[:-1].tolist()
    else:
        points = spec.tolist()
    return _split_at(ary, points, axis)


def split(ary: Any, indices_or_sections: Any, axis: int = 0) -> list[Any]:
    """Split into equal sections (an int) or at the given indices (a sequence).

    Example:
      >>> import fxgrad.numpy as fnp
      >>> [p.shape for p in fnp.split(fnp.zeros(6), [1, 4])]
      [(1,), (3,), (2,)]
    """
    return _split(ary, indices_or_sections, axis, "split", equal=True)


def array_split(ary: Any, indices_or_sections: Any, axis: int = 0) -> list[Any]:
    """Like ``split``, but an int need not divide the axis (the first sections are longer)."""
    return _split(ary, indices_or_sections, axis, "array_split", equal=False)


def hsplit(ary: Any, indices_or_sections: Any) -> list[Any]:
    """``split`` along the second axis (the first for 1-D arrays)."""
    ndim = get_aval(asarray_value(ary)).ndim
    if ndim == 0:
        raise ValueError("fxgrad.numpy.hsplit only works on arrays of 1 or more dimensions")
    return _split(ary, indices_or_sections, 1 if ndim > 1 else 0, "hsplit", equal=True)


def vsplit(ary: Any, indices_or_sections: Any) -> list[Any]:
    """``split`` along the first axis of an array of 2 or more dimensions."""
    if get_aval(asarray_value(ary)).ndim < 2:
        raise ValueError("fxgrad.numpy.vsplit only works on arrays of 2 or more dimensions")
    return _split(ary, indices_or_sections, 0, "vsplit", equal=True)


def dsplit(ary: Any, indices_or_sections: Any) -> list[Any]:
    """``split`` along the third axis of an array of 3 or more dimensions."""
    if get_aval(asarray_value(ary)).ndim < 3:
        raise ValueError("fxgrad.numpy.dsplit only works on arrays of 3 or more dimensions")
    return _split(ary, indices_or_sections, 2, "dsplit", equal=True)


# --- rearranging -----------------------------------------------------------------------------


def flip(m: Any, axis: int | Sequence[int] | None = None) -> Any:
    """Reverse the order of elements along ``axis`` (all axes when ``None``).

    Example:
      >>> import fxgrad.numpy as fnp
      >>> fnp.flip(fnp.arange(3))
      Array([2, 1, 0], dtype=int64)
    """
    m = asarray_value(m)
    return lsl.rev(m, canonicalize_axes(axis, get_aval(m).ndim, "flip"))


def fliplr(m: Any) -> Any:
    """Reverse the second axis (columns)."""
    m = asarray_value(m)
    if get_aval(m).ndim < 2:
        raise ValueError("fxgrad.numpy.fliplr: input must be at least 2-d")
    return lsl.rev(m, (1,))


def flipud(m: Any) -> Any:
    """Reverse the first axis (rows)."""
    m = asarray_value(m)
    if get_aval(m).ndim < 1:
        raise ValueError("fxgrad.numpy.flipud: input must be at least 1-d")
    return lsl.rev(m, (0,))


def _roll_static(a: Any, shift: int, axis: int) -> Any:
    n = get_aval(a).shape[axis]
    if n == 0 or shift % n == 0:
        return a
    shift %= n
    tail = lsl.slice_in_dim(a, n - shift, n, 1, axis)
    head = lsl.slice_in_dim(a, 0, n - shift, 1, axis)
    return lsl.concatenate([tail, head], axis)


def _roll_dynamic(a: Any, shift: Any, axis: int) -> Any:
    from fxgrad.numpy._ufuncs import remainder, subtract

    n = get_aval(a).shape[axis]
    if n == 0:
        return a
    start = remainder(subtract(n, remainder(shift, n)), n)
    doubled = lsl.concatenate([a, a], axis)
    return lsl.dynamic_slice_in_dim(doubled, start, n, axis)


def roll(a: Any, shift: Any, axis: int | Sequence[int] | None = None) -> Any:
    """Shift elements cyclically along ``axis`` (the flattened array when ``None``).

    ``shift`` may be traced (then the roll is a ``dynamic_slice`` of the array repeated
    twice).

    Example:
      >>> import fxgrad.numpy as fnp
      >>> fnp.roll(fnp.arange(4), 1)
      Array([3, 0, 1, 2], dtype=int64)
    """
    a = asarray_value(a)
    if axis is None:
        flat = lshape.reshape(a, (get_aval(a).size,))
        return lshape.reshape(roll(flat, shift, 0), get_aval(a).shape)
    ndim = get_aval(a).ndim
    axes = np.atleast_1d(np.asarray(axis, dtype=np.int64))
    if isinstance(shift, (list, tuple)) and any(isinstance(s, Tracer) for s in shift):
        shift = stack([ew.convert_element_type(asarray_value(s), np.int64) for s in shift])
    if isinstance(shift, Tracer) and shift.to_concrete_value() is None:
        shift = ew.convert_element_type(shift, np.int64)
        shape = np.broadcast_shapes(get_aval(shift).shape, axes.shape)
        shift = lshape.broadcast_to_shape(shift, shape)
        for i, ax in enumerate(np.broadcast_to(axes, shape)):
            s = lsl.index_in_dim(shift, i, 0, keepdims=False)
            a = _roll_dynamic(a, s, canonicalize_axis(int(ax), ndim, "roll"))
        return a
    shifts = np.asarray(shift.to_concrete_value() if isinstance(shift, Tracer) else shift)
    shifts, axes = np.broadcast_arrays(shifts.astype(np.int64), axes)
    for s, ax in zip(shifts.reshape(-1), axes.reshape(-1), strict=True):
        a = _roll_static(a, int(s), canonicalize_axis(int(ax), ndim, "roll"))
    return a


def rot90(m: Any, k: int = 1, axes: tuple[int, int] = (0, 1)) -> Any:
    """Rotate by 90 degrees ``k`` times in the plane of ``axes`` (from the first towards
    the second)."""
    m = asarray_value(m)
    ndim = get_aval(m).ndim
    if len(axes) != 2:
        raise ValueError("fxgrad.numpy.rot90: len(axes) must be 2")
    ax0, ax1 = (canonicalize_axis(a, ndim, "rot90") for a in axes)
    if ax0 == ax1:
        raise ValueError(f"fxgrad.numpy.rot90: axes must be different, got {tuple(axes)}")
    k = int(k) % 4
    if k == 0:
        return m
    if k == 2:
        return lsl.rev(m, (ax0, ax1))
    perm = list(range(ndim))
    perm[ax0], perm[ax1] = perm[ax1], perm[ax0]
    if k == 1:
        return lshape.transpose(lsl.rev(m, (ax1,)), perm)
    return lsl.rev(lshape.transpose(m, perm), (ax1,))


def tile(A: Any, reps: Any) -> Any:  # noqa: N803 - NumPy's name
    """Repeat the whole array ``reps`` times along each axis.

    Example:
      >>> import fxgrad.numpy as fnp
      >>> fnp.tile(fnp.arange(2), 2)
      Array([0, 1, 0, 1], dtype=int64)
    """
    A = asarray_value(A)  # noqa: N806
    reps = tuple(int(r) for r in np.atleast_1d(_static_ints(reps, "reps", "tile")))
    shape = tuple(get_aval(A).shape)
    ndim = max(len(reps), len(shape))
    shape = (1,) * (ndim - len(shape)) + shape
    reps = (1,) * (ndim - len(reps)) + reps
    if any(r < 0 for r in reps):
        raise ValueError(f"fxgrad.numpy.tile: reps must be non-negative, got {reps}")
    A = lshape.reshape(A, shape)  # noqa: N806
    interleaved = [size for pair in zip(reps, shape, strict=True) for size in pair]
    out = lshape.broadcast_in_dim(A, interleaved, tuple(range(1, 2 * ndim, 2)))
    return lshape.reshape(out, [r * s for r, s in zip(reps, shape, strict=True)])


def _repeat_indices(repeats: np.ndarray, total: int | None) -> np.ndarray:
    """Source positions of ``repeat``; with ``total``, JAX's truncate-or-extend rule."""
    if total is None:
        return np.repeat(np.arange(repeats.size), repeats)
    starts = np.concatenate([[0], np.cumsum(repeats)[:-1]]).astype(np.int64)
    marks = np.zeros(total, np.int64)
    np.add.at(marks, starts[starts < total], 1)
    return np.cumsum(marks) - 1


def _traced_repeats(repeats: Any) -> bool:
    """Whether ``repeats`` is a traced value with no concrete value (under ``jit``/``vmap``)."""
    return isinstance(repeats, Tracer) and repeats.to_concrete_value() is None


def _repeat_traced(a: Any, repeats: Any, axis: int, total: int) -> Any:
    """``repeat`` with traced counts: a gather whose indices come from the counts.

    Output position ``j`` reads element ``i`` when ``starts[i] <= j < starts[i + 1]``,
    with ``starts`` the exclusive cumulative sum of the counts, so the index is
    ``searchsorted(starts, j, side='right') - 1``; positions past the total read the
    last element (JAX's rule). Differentiable in ``a`` (gather transposes to a
    scatter-add); the counts are integers and have no derivative.
    """
    from fxgrad.numpy._sorting import searchsorted

    shape = tuple(get_aval(a).shape)
    n = shape[axis]
    counts_aval = get_aval(repeats)
    if np.dtype(counts_aval.dtype).kind not in "iu":
        raise FxgradTypeError(
            f"fxgrad.numpy.repeat: repeats must be integers, got {counts_aval.str_short()}"
        )
    if counts_aval.shape not in ((), (1,), (n,)):
        raise ValueError(
            f"fxgrad.numpy.repeat: repeats of shape {tuple(counts_aval.shape)} do not match "
            f"{n} elements along axis {axis}; pass one count or one per element"
        )
    if n == 0:
        return lsl.full((*shape[:axis], total, *shape[axis + 1 :]), 0, get_aval(a).dtype)
    counts = ew.convert_element_type(repeats, np.dtype(np.int64))
    if counts_aval.shape != (n,):  # one count for every element
        counts = lshape.broadcast_in_dim(lshape.reshape(counts, ()), (n,), ())
    starts = ew.sub(lred.cumsum(counts, 0), counts)
    positions = np.arange(total, dtype=np.int64)
    index = ew.sub(searchsorted(starts, positions, side="right"), np.int64(1))
    return take(a, index, axis=axis, mode="clip")


def repeat(
    a: Any, repeats: Any, axis: int | None = None, *, total_repeat_length: int | None = None
) -> Any:
    """Repeat each element ``repeats`` times (an int, or one count per element).

    With ``total_repeat_length`` the result has that length along ``axis``: truncated,
    or extended with the last element (as in JAX). ``repeats`` may be traced (an array
    argument under ``jit`` or ``vmap``) only with ``total_repeat_length``, which fixes
    the result's shape; the result stays differentiable in ``a``.

    Example:
      >>> import fxgrad, fxgrad.numpy as fnp
      >>> fnp.repeat(fnp.arange(3), [1, 2, 0])
      Array([0, 1, 1], dtype=int64)
      >>> f = fxgrad.jit(lambda r: fnp.repeat(fnp.arange(3), r, total_repeat_length=4))
      >>> f(fnp.array([1, 2, 0]))
      Array([0, 1, 1, 2], dtype=int64)
    """
    a = asarray_value(a)
    if axis is None:
        a = lshape.reshape(a, (get_aval(a).size,))
        axis = 0
    shape = tuple(get_aval(a).shape)
    axis = canonicalize_axis(axis, len(shape), "repeat")
    n = shape[axis]
    if _traced_repeats(repeats):
        if total_repeat_length is None:
            raise ConcretizationError(
                "fxgrad.numpy.repeat: repeats is a traced value, so the total number of "
                "repeats (the length of the result) is not known when tracing. Pass "
                "total_repeat_length=<int> (the result is truncated, or extended with the "
                "last element, to that length), or make repeats static (a Python int or "
                "sequence, or a static argument under jit)."
            )
        return _repeat_traced(a, repeats, axis, operator.index(total_repeat_length))
    counts = _static_ints(repeats, "repeats", "repeat")
    if np.any(counts < 0):
        raise ValueError("fxgrad.numpy.repeat: repeats may not contain negative values")
    if counts.size == 1:
        r = int(counts.reshape(()))
        if total_repeat_length is None or total_repeat_length == n * r:
            dims = tuple(d if d <= axis else d + 1 for d in range(len(shape)))
            expanded = lshape.broadcast_in_dim(a, (*shape[: axis + 1], r, *shape[axis + 1 :]), dims)
            return lshape.reshape(expanded, (*shape[:axis], n * r, *shape[axis + 1 :]))
        counts = np.full(n, r, np.int64)
    if counts.shape != (n,):
        raise ValueError(
            f"fxgrad.numpy.repeat: repeats of shape {counts.shape} do not match {n} elements "
            f"along axis {axis}"
        )
    total = None if total_repeat_length is None else int(total_repeat_length)
    index = _repeat_indices(counts, total)
    if n == 0:
        return lsl.full((*shape[:axis], index.size, *shape[axis + 1 :]), 0, get_aval(a).dtype)
    return take(a, index, axis=axis, mode="clip")


# --- indexing --------------------------------------------------------------------------------


def _normalize_indices(indices: Any, n: int, mode: str) -> Any:
    from fxgrad.numpy._indexing import _wrap_negative

    if mode == "wrap":
        from fxgrad.numpy._ufuncs import remainder

        return remainder(indices, n) if isinstance(indices, Tracer) else np.remainder(indices, n)
    return _wrap_negative(indices, n)


def _integer_indices(indices: Any, fn_name: str) -> Any:
    if not isinstance(indices, Tracer):
        indices = np.asarray(indices)
        if indices.dtype.kind not in "iu" and not (indices.size == 0):
            raise TypeError(
                f"fxgrad.numpy.{fn_name}: indices must be integers, got {indices.dtype}"
            )
        return indices.astype(np.int64)
    if np.dtype(indices.dtype).kind not in "iu":
        raise TypeError(f"fxgrad.numpy.{fn_name}: indices must be integers, got {indices.dtype}")
    return indices


def _gather_mode(mode: str | None, fn_name: str) -> str:
    mode = "fill" if mode is None else mode
    if mode == "raise":
        raise NotImplementedError(
            f"fxgrad.numpy.{fn_name}: mode='raise' is not supported (indices cannot be "
            "checked inside transformations); use 'fill', 'clip', 'wrap' or "
            "'promise_in_bounds'"
        )
    if mode not in ("fill", "clip", "wrap", "promise_in_bounds"):
        raise ValueError(f"fxgrad.numpy.{fn_name}: invalid mode {mode!r}")
    return mode


def take(
    a: Any,
    indices: Any,
    axis: int | None = None,
    out: None = None,
    mode: str | None = None,
    unique_indices: bool = False,
    indices_are_sorted: bool = False,
    fill_value: Any = None,
) -> Any:
    """Elements of ``a`` at ``indices`` along ``axis`` (the flattened array when ``None``).

    ``mode``: ``'fill'`` (default, as in JAX: out-of-bounds positions give
    ``fill_value``, NaN by default), ``'clip'``, ``'wrap'`` or ``'promise_in_bounds'``.
    Negative indices count from the end, except in ``'clip'`` mode, which clamps them
    to 0 (as NumPy and JAX do).

    Example:
      >>> import fxgrad.numpy as fnp
      >>> fnp.take(fnp.arange(5.0), fnp.array([4, -1, 7]))
      Array([ 4.,  4., nan], dtype=float64)
    """
    a = asarray_value(a)
    if axis is None:
        a = lshape.reshape(a, (get_aval(a).size,))
        axis = 0
    shape = tuple(get_aval(a).shape)
    axis = canonicalize_axis(axis, len(shape), "take")
    mode = _gather_mode(mode, "take")
    indices = _integer_indices(indices, "take")
    index_shape = tuple(get_aval(indices).shape)
    out_shape = (*shape[:axis], *index_shape, *shape[axis + 1 :])
    if shape[axis] == 0:
        if int(np.prod(index_shape, dtype=np.int64)) and mode != "fill":
            raise IndexError("fxgrad.numpy.take: cannot do a non-empty take from an empty axis")
        fill = lind.default_fill_value(get_aval(a).dtype) if fill_value is None else fill_value
        return lsl.full(out_shape, fill, get_aval(a).dtype)
    if mode != "clip":  # NumPy's (and JAX's) 'clip' clamps negative indices to 0
        indices = _normalize_indices(indices, shape[axis], mode)
    indices = lshape.reshape(indices, (*index_shape, 1))
    n_idx = len(index_shape)
    dnums = lind.GatherDimensionNumbers(
        offset_dims=(*range(axis), *range(axis + n_idx, len(out_shape))),
        collapsed_slice_dims=(axis,),
        start_index_map=(axis,),
    )
    sizes = [1 if d == axis else s for d, s in enumerate(shape)]
    return lind.gather(
        a,
        indices,
        dnums,
        sizes,
        mode="clip" if mode == "wrap" else mode,
        fill_value=fill_value,
        unique_indices=unique_indices,
        indices_are_sorted=indices_are_sorted,
    )


def take_along_axis(
    arr: Any,
    indices: Any,
    axis: int | None = -1,
    mode: str | None = None,
    fill_value: Any = None,
) -> Any:
    """``arr`` indexed along ``axis`` by ``indices`` of the same rank (other axes broadcast).

    Example:
      >>> import fxgrad.numpy as fnp
      >>> x = fnp.array([[3.0, 1.0], [0.0, 2.0]])
      >>> fnp.take_along_axis(x, fnp.array([[1], [0]]), axis=1)
      Array([[1.],
             [0.]], dtype=float64)
    """
    arr = asarray_value(arr)
    indices = _integer_indices(indices, "take_along_axis")
    if axis is None:
        arr = lshape.reshape(arr, (get_aval(arr).size,))
        axis = 0
    a_shape, i_shape = tuple(get_aval(arr).shape), tuple(get_aval(indices).shape)
    if len(a_shape) != len(i_shape):
        raise ShapeError(
            f"fxgrad.numpy.take_along_axis: indices (shape {i_shape}) must have the same "
            f"number of dimensions as the array (shape {a_shape})"
        )
    axis = canonicalize_axis(axis, len(a_shape), "take_along_axis")
    mode = _gather_mode(mode, "take_along_axis")
    others = [d for d in range(len(a_shape)) if d != axis]
    try:
        common = {d: np.broadcast_shapes((a_shape[d],), (i_shape[d],))[0] for d in others}
    except ValueError:
        raise ShapeError(
            f"fxgrad.numpy.take_along_axis: array shape {a_shape} and indices shape {i_shape} "
            f"do not broadcast outside axis {axis}"
        ) from None
    arr = lshape.broadcast_to_shape(arr, [common.get(d, a_shape[d]) for d in range(len(a_shape))])
    i_target = [common.get(d, i_shape[d]) for d in range(len(i_shape))]
    indices = lshape.broadcast_to_shape(indices, i_target)
    if 0 in get_aval(arr).shape or 0 in i_target:
        fill = lind.default_fill_value(get_aval(arr).dtype) if fill_value is None else fill_value
        return lsl.full(i_target, fill, get_aval(arr).dtype)
    indices = _normalize_indices(indices, a_shape[axis], mode)
    indices = lshape.reshape(indices, (*i_target, 1))
    dnums = lind.GatherDimensionNumbers(
        offset_dims=(),
        collapsed_slice_dims=(axis,),
        start_index_map=(axis,),
        operand_batching_dims=tuple(others),
        start_indices_batching_dims=tuple(others),
    )
    gather_mode = "clip" if mode == "wrap" else mode
    sizes = [1] * len(a_shape)
    return lind.gather(arr, indices, dnums, sizes, mode=gather_mode, fill_value=fill_value)


# --- matrices --------------------------------------------------------------------------------


def diagonal(a: Any, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Any:
    """The ``offset`` diagonal of the ``(axis1, axis2)`` planes, as a new last axis.

    Example:
      >>> import fxgrad.numpy as fnp
      >>> fnp.diagonal(fnp.arange(9.0).reshape(3, 3), 1)
      Array([1., 5.], dtype=float64)
    """
    a = asarray_value(a)
    ndim = get_aval(a).ndim
    if ndim < 2:
        raise ValueError("fxgrad.numpy.diagonal: input must be at least 2-d")
    ax1 = canonicalize_axis(axis1, ndim, "diagonal")
    ax2 = canonicalize_axis(axis2, ndim, "diagonal")
    if ax1 == ax2:
        raise ValueError("fxgrad.numpy.diagonal: axis1 and axis2 cannot be the same")
    perm = [d for d in range(ndim) if d not in (ax1, ax2)] + [ax1, ax2]
    a = lshape.transpose(a, perm)
    offset = int(offset)
    rows, cols = get_aval(a).shape[-2:]
    if offset >= 0:
        a = lsl.slice_in_dim(a, min(offset, cols), cols, 1, ndim - 1)
    else:
        a = lsl.slice_in_dim(a, min(-offset, rows), rows, 1, ndim - 2)
    rows, cols = get_aval(a).shape[-2:]
    size = min(rows, cols)
    a = lsl.slice_in_dim(lsl.slice_in_dim(a, 0, size, 1, ndim - 2), 0, size, 1, ndim - 1)
    batch = tuple(get_aval(a).shape[:-2])
    flat = lshape.reshape(a, (*batch, size * size))
    return lsl.slice_in_dim(flat, 0, size * size, size + 1, ndim - 2)


def diag(v: Any, k: int = 0) -> Any:
    """The ``k``-th diagonal of a 2-D array, or a 2-D array with 1-D ``v`` on it.

    Example:
      >>> import fxgrad.numpy as fnp
      >>> fnp.diag(fnp.array([1.0, 2.0]))
      Array([[1., 0.],
             [0., 2.]], dtype=float64)
    """
    v = asarray_value(v)
    ndim = get_aval(v).ndim
    k = int(k)
    if ndim == 2:
        return diagonal(v, k)
    if ndim != 1:
        raise ValueError(f"fxgrad.numpy.diag: input must be 1-d or 2-d, got {ndim}-d")
    size = get_aval(v).shape[0]
    # Interior padding puts ``size`` zeros between neighbours: a flattened diagonal matrix.
    square = lshape.reshape(lsl.pad(v, 0, [(0, 0, size)]), (size, size))
    config = [(0, k, 0), (k, 0, 0)] if k >= 0 else [(-k, 0, 0), (0, -k, 0)]
    return lsl.pad(square, 0, config)


def trace(
    a: Any,
    offset: int = 0,
    axis1: int = 0,
    axis2: int = 1,
    dtype: Any = None,
    out: None = None,
) -> Any:
    """The sum along a diagonal (``diagonal(a, offset, axis1, axis2).sum(-1)``)."""
    from fxgrad.numpy._reductions import sum as np_sum

    return np_sum(diagonal(a, offset, axis1, axis2), axis=-1, dtype=dtype)


def _triangle(m: Any, k: int, lower: bool, fn_name: str) -> Any:
    m = asarray_value(m)
    shape = tuple(get_aval(m).shape)
    if len(shape) < 2:
        raise ValueError(f"fxgrad.numpy.{fn_name}: argument must be at least 2-d")
    rows, cols = shape[-2:]
    keep = np.tri(rows, cols, int(k), dtype=bool)
    if not lower:
        keep = ~np.tri(rows, cols, int(k) - 1, dtype=bool)
    return ew.select_n(np.broadcast_to(keep, shape), 0, m)


def tril(m: Any, k: int = 0) -> Any:
    """``m`` with the elements above the ``k``-th diagonal zeroed (last two axes)."""
    return _triangle(m, k, True, "tril")


def triu(m: Any, k: int = 0) -> Any:
    """``m`` with the elements below the ``k``-th diagonal zeroed (last two axes)."""
    return _triangle(m, k, False, "triu")


# --- pad -------------------------------------------------------------------------------------

_INDEX_MODES = ("edge", "reflect", "symmetric", "wrap")


def _pad_widths(pad_width: Any, ndim: int) -> np.ndarray:
    widths = _static_ints(pad_width, "pad_width", "pad")
    try:
        widths = np.broadcast_to(widths, (ndim, 2)) if widths.ndim < 2 else widths
        widths = np.broadcast_to(widths, (ndim, 2))
    except ValueError:
        raise ValueError(
            f"fxgrad.numpy.pad: pad_width of shape {np.shape(pad_width)} does not broadcast to "
            f"({ndim}, 2)"
        ) from None
    if np.any(widths < 0):
        raise ValueError("fxgrad.numpy.pad: pad_width cannot contain negative values")
    return widths


def _pad_constant(array: Any, widths: np.ndarray, values: Any) -> Any:
    dtype = get_aval(array).dtype
    values = asarray_value(values)
    values = ew.convert_element_type(values, dtype)
    ndim = get_aval(array).ndim
    if get_aval(values).shape == ():
        return lsl.pad(array, values, [(int(b), int(e), 0) for b, e in widths])
    values = lshape.broadcast_to_shape(values, (ndim, 2))
    for axis, (before, after) in enumerate(widths):
        for side, width in ((0, int(before)), (1, int(after))):
            if width:
                value = lsl.index_in_dim(lsl.index_in_dim(values, axis, 0, False), side, 0, False)
                config = [(0, 0, 0)] * ndim
                config[axis] = (width, 0, 0) if side == 0 else (0, width, 0)
                array = lsl.pad(array, value, config)
    return array


def pad(array: Any, pad_width: Any, mode: str = "constant", **kwargs: Any) -> Any:
    """Pad an array (``numpy.pad``) in mode ``constant``, ``edge``, ``reflect``,
    ``symmetric``, ``wrap`` or ``empty``.

    ``constant_values`` may be traced (and is differentiated). Other NumPy modes and
    ``reflect_type='odd'`` raise ``NotImplementedError``.

    Example:
      >>> import fxgrad.numpy as fnp
      >>> fnp.pad(fnp.array([1.0, 2.0]), (1, 2), mode="reflect")
      Array([2., 1., 2., 1., 2.], dtype=float64)
    """
    array = asarray_value(array)
    shape = tuple(get_aval(array).shape)
    widths = _pad_widths(pad_width, len(shape))
    if callable(mode):
        raise NotImplementedError("fxgrad.numpy.pad: a callable mode is not supported")
    allowed = {"constant": {"constant_values"}, "empty": set()}
    allowed.update({m: set() for m in _INDEX_MODES})
    allowed["reflect"] = allowed["symmetric"] = {"reflect_type"}
    if mode not in allowed:
        raise NotImplementedError(
            f"fxgrad.numpy.pad: mode {mode!r} is not implemented; use 'constant', 'edge', "
            "'reflect', 'symmetric', 'wrap' or 'empty'"
        )
    unexpected = set(kwargs) - allowed[mode]
    if unexpected:
        raise ValueError(
            f"fxgrad.numpy.pad: unsupported keyword arguments for mode {mode!r}: "
            f"{sorted(unexpected)}"
        )
    if kwargs.get("reflect_type", "even") != "even":
        raise NotImplementedError("fxgrad.numpy.pad: only reflect_type='even' is supported")
    if mode in ("constant", "empty"):
        return _pad_constant(array, widths, kwargs.get("constant_values", 0))
    for axis, (before, after) in enumerate(widths):
        if not before and not after:
            continue
        if shape[axis] == 0:
            raise ValueError(
                f"fxgrad.numpy.pad: can't extend empty axis {axis} using mode {mode!r}"
            )
        # NumPy's own pad of the positions gives the source of every output element.
        source = np.pad(np.arange(shape[axis]), (int(before), int(after)), mode=mode)
        array = take(array, source, axis=axis, mode="clip")
    return array
