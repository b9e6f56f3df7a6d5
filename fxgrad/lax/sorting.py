"""Sorting primitives: ``sort`` (several operands, lexicographic keys) and ``top_k``.

``sort`` sorts every operand along ``dimension`` by the permutation that sorts the
first ``num_keys`` operands lexicographically (NumPy's order: NaNs last, ``-0.0 == 0.0``,
complex numbers by real then imaginary part). The permutation is stable whether or
not ``is_stable`` is set, so results never depend on the algorithm.

Derivatives: a sort is a data-dependent permutation. Its JVP sorts an iota alongside
the operands to recover that permutation and moves each tangent with it, through
``gather_along_axis`` (``out[..., i, ...] = x[..., idx[..., i, ...], ...]``). That
primitive is linear in ``x`` and transposes to ``scatter_add_along_axis``, which
transposes back, so reverse mode and higher orders need no other rule. ``top_k``
differentiates the same way through the indices it returns. The two gather/scatter
primitives are an along-one-axis special case of XLA's general gather/scatter, which
keeps them cheap to batch (move the batch axis to the front, shift ``axis``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from fxgrad.core import ShapedArray, get_aval, tangent_aval
from fxgrad.errors import FxgradTypeError, ShapeError
from fxgrad.interpreters import batching
from fxgrad.interpreters.jvp import Zero
from fxgrad.lax._define import define_primitive
from fxgrad.lax.shape import broadcast_in_dim, transpose

__all__ = [
    "sort",
    "sort_key_val",
    "sort_p",
    "top_k",
    "top_k_p",
]


def iota_along(shape: Sequence[int], dimension: int, dtype: Any = np.int32) -> Any:
    """An integer array of ``shape`` counting 0, 1, ... along ``dimension``."""
    shape = tuple(shape)
    ramp = np.arange(shape[dimension], dtype=dtype)
    return broadcast_in_dim(ramp, shape, (dimension,))


def index_dtype_for(size: int) -> np.dtype:
    """int32 when it can index ``size`` positions, else int64."""
    return np.dtype(np.int32) if size < 2**31 else np.dtype(np.int64)


def _front(vals, dims, axis_size):
    return [batching.bdim_at_front(x, d, axis_size) for x, d in zip(vals, dims, strict=True)]


# --- gather_along_axis / scatter_add_along_axis ------------------------------------------


def _check_along_axis(name, data_shape, indices, axis):
    if not 0 <= axis < len(data_shape) or indices.ndim != len(data_shape):
        raise ShapeError(
            f"lax.{name}: indices of shape {indices.shape} do not match an operand of shape "
            f"{tuple(data_shape)} along axis {axis}; they need the operand's rank"
        )
    for i, (a, b) in enumerate(zip(data_shape, indices.shape, strict=True)):
        if i != axis and a != b:
            raise ShapeError(
                f"lax.{name}: indices of shape {indices.shape} must match the operand "
                f"shape {tuple(data_shape)} on every axis but {axis}"
            )
    if np.dtype(indices.dtype).kind not in "iu":
        raise FxgradTypeError(
            f"lax.{name}: indices must be integers, got {np.dtype(indices.dtype).name}"
        )


def _gather_along_axis_impl(operand, indices, *, axis):
    operand, indices = np.asarray(operand), np.asarray(indices)
    if indices.size == 0:
        return np.zeros(indices.shape, operand.dtype)
    indices = np.clip(indices, 0, operand.shape[axis] - 1)
    return np.take_along_axis(operand, indices, axis=axis)


def _gather_along_axis_abstract_eval(operand, indices, *, axis):
    _check_along_axis("gather_along_axis", operand.shape, indices, axis)
    if operand.shape[axis] == 0 and indices.size:
        raise ShapeError("lax.gather_along_axis: cannot gather from an axis of size 0")
    return ShapedArray(tuple(indices.shape), operand.dtype, operand.weak_type)


def _gather_along_axis_jvp(primals, tangents, *, axis):
    (x, idx), (t, _) = primals, tangents
    out = gather_along_axis_p.bind(x, idx, axis=axis)
    if type(t) is Zero:
        return out, Zero(tangent_aval(get_aval(out)))
    return out, gather_along_axis_p.bind(t, idx, axis=axis)


def _gather_along_axis_transpose(ct, operand, indices, *, axis):
    if type(ct) is Zero:
        return [Zero(operand.aval), None]
    size = operand.aval.shape[axis]
    return [scatter_add_along_axis_p.bind(ct, indices, axis=axis, size=size), None]


def _along_axis_batch(prim):
    def rule(axis_size, vals, dims, *, axis, **params):
        moved = _front(vals, dims, axis_size)
        return prim.bind(*moved, axis=axis + 1, **params), 0

    return rule


gather_along_axis_p = define_primitive(
    "gather_along_axis",
    impl=_gather_along_axis_impl,
    abstract_eval=_gather_along_axis_abstract_eval,
    jvp=_gather_along_axis_jvp,
    transpose=_gather_along_axis_transpose,
    batch=None,
    kernel="library",
)
batching.batch_rules[gather_along_axis_p] = _along_axis_batch(gather_along_axis_p)


def _scatter_add_along_axis_impl(updates, indices, *, axis, size):
    updates, indices = np.asarray(updates), np.asarray(indices)
    upd = np.moveaxis(updates, axis, -1)
    idx = np.moveaxis(indices, axis, -1)
    lead = upd.shape[:-1]
    out = np.zeros((*lead, size), updates.dtype)
    if upd.size:
        rows = int(np.prod(lead, dtype=np.int64))
        flat_out = out.reshape(rows, size)
        row_ids = np.arange(rows)[:, None]
        np.add.at(flat_out, (row_ids, idx.reshape(rows, -1)), upd.reshape(rows, -1))
        out = flat_out.reshape((*lead, size))
    return np.moveaxis(out, -1, axis)


def _scatter_add_along_axis_abstract_eval(updates, indices, *, axis, size):
    _check_along_axis("scatter_add_along_axis", updates.shape, indices, axis)
    if tuple(updates.shape) != tuple(indices.shape):
        raise ShapeError(
            f"lax.scatter_add_along_axis: updates {updates.shape} and indices "
            f"{indices.shape} must have the same shape"
        )
    shape = list(updates.shape)
    shape[axis] = size
    return ShapedArray(tuple(shape), updates.dtype, updates.weak_type)


def _scatter_add_along_axis_jvp(primals, tangents, *, axis, size):
    (u, idx), (t, _) = primals, tangents
    out = scatter_add_along_axis_p.bind(u, idx, axis=axis, size=size)
    if type(t) is Zero:
        return out, Zero(tangent_aval(get_aval(out)))
    return out, scatter_add_along_axis_p.bind(t, idx, axis=axis, size=size)


def _scatter_add_along_axis_transpose(ct, updates, indices, *, axis, size):
    if type(ct) is Zero:
        return [Zero(updates.aval), None]
    return [gather_along_axis_p.bind(ct, indices, axis=axis), None]


scatter_add_along_axis_p = define_primitive(
    "scatter_add_along_axis",
    impl=_scatter_add_along_axis_impl,
    abstract_eval=_scatter_add_along_axis_abstract_eval,
    jvp=_scatter_add_along_axis_jvp,
    transpose=_scatter_add_along_axis_transpose,
    batch=None,
    kernel="library",
)
batching.batch_rules[scatter_add_along_axis_p] = _along_axis_batch(scatter_add_along_axis_p)


def gather_along_axis(operand: Any, indices: Any, axis: int) -> Any:
    """``out[..., i, ...] = operand[..., indices[..., i, ...], ...]`` along ``axis``.

    ``indices`` has the rank of ``operand`` and its shape on every other axis; indices
    out of range are clamped (as JAX's gather does by default).
    """
    ndim = get_aval(operand).ndim
    return gather_along_axis_p.bind(operand, indices, axis=int(axis) % ndim if ndim else 0)


# --- sort ----------------------------------------------------------------------------------


def _sort_permutation(keys, dimension):
    if len(keys) == 1:
        return np.argsort(keys[0], axis=dimension, kind="stable")
    return np.lexsort(keys[::-1], axis=dimension)


def _sort_impl(*operands, dimension, is_stable, num_keys):
    operands = [np.asarray(op) for op in operands]
    perm = _sort_permutation(operands[:num_keys], dimension)
    return [np.take_along_axis(op, perm, axis=dimension) for op in operands]


def _sort_abstract_eval(*operands, dimension, is_stable, num_keys):
    if not 1 <= num_keys <= len(operands):
        raise ValueError(
            f"lax.sort: num_keys={num_keys} must be between 1 and the number of operands "
            f"({len(operands)})"
        )
    shapes = {tuple(op.shape) for op in operands}
    if len(shapes) != 1:
        shown = ", ".join(op.str_short() for op in operands)
        raise ShapeError(f"lax.sort: all operands must have the same shape, got {shown}")
    ndim = operands[0].ndim
    if not 0 <= dimension < ndim:
        raise ShapeError(
            f"lax.sort: dimension {dimension} is out of bounds for operands of rank {ndim}; "
            "sorting needs an operand of rank >= 1"
        )
    return [ShapedArray(tuple(op.shape), op.dtype, op.weak_type) for op in operands]


def _sort_jvp(primals, tangents, *, dimension, is_stable, num_keys):
    shape = get_aval(primals[0]).shape
    iota = iota_along(shape, dimension, index_dtype_for(shape[dimension]))
    *outs, perm = sort_p.bind(
        *primals, iota, dimension=dimension, is_stable=is_stable, num_keys=num_keys
    )
    tangents_out = [
        t if type(t) is Zero else gather_along_axis_p.bind(t, perm, axis=dimension)
        for t in tangents
    ]
    return outs, tangents_out


def _sort_batch(axis_size, vals, dims, *, dimension, is_stable, num_keys):
    moved = _front(vals, dims, axis_size)
    outs = sort_p.bind(*moved, dimension=dimension + 1, is_stable=is_stable, num_keys=num_keys)
    return outs, [0] * len(outs)


sort_p = define_primitive(
    "sort",
    impl=_sort_impl,
    abstract_eval=_sort_abstract_eval,
    jvp=_sort_jvp,
    batch=_sort_batch,
    kernel="library",
    multiple_results=True,
)


def sort(
    operand: Any | Sequence[Any],
    dimension: int = -1,
    is_stable: bool = True,
    num_keys: int = 1,
) -> Any:
    """Sort one array, or several arrays by the first ``num_keys`` of them, along ``dimension``.

    Args:
      operand: an array, or a sequence of arrays of one shape.
      dimension: the axis to sort along.
      is_stable: accepted for JAX compatibility; fxgrad's sort is always stable.
      num_keys: how many leading operands form the (lexicographic) sort key.

    Returns:
      The sorted array, or a tuple of the operands permuted by the key order.

    Example:
      >>> import fxgrad.lax as lax, fxgrad.numpy as fnp
      >>> lax.sort(fnp.array([3.0, 1.0, 2.0]))
      Array([1., 2., 3.], dtype=float64)
    """
    single = not isinstance(operand, (list, tuple))
    operands = (operand,) if single else tuple(operand)
    if not operands:
        raise ValueError("lax.sort: needs at least one operand")
    ndim = get_aval(operands[0]).ndim
    dimension = int(dimension)
    if ndim and -ndim <= dimension < ndim:
        dimension %= ndim
    params = dict(dimension=dimension, is_stable=bool(is_stable), num_keys=int(num_keys))
    sort_p.abstract_eval(*(get_aval(op) for op in operands), **params)  # eager skips it
    outs = sort_p.bind(*operands, **params)
    return outs[0] if single else tuple(outs)


def sort_key_val(
    keys: Any, values: Any, dimension: int = -1, is_stable: bool = True
) -> tuple[Any, Any]:
    """Sort ``keys`` along ``dimension`` and permute ``values`` the same way."""
    return sort((keys, values), dimension=dimension, is_stable=is_stable, num_keys=1)


# --- top_k ---------------------------------------------------------------------------------


def _descending_keys(x):
    """lexsort keys (last = primary) ordering ``x`` largest first, NaN first, ties by index."""
    if x.dtype.kind in "biu":
        return (~x,)
    if x.dtype.kind == "c":
        return (-x,)
    return (-x, ~np.isnan(x))


def _top_k_impl(operand, *, k):
    x = np.asarray(operand)
    if x.shape[-1] == 0 or k == 0:
        idx = np.zeros((*x.shape[:-1], k), np.int64)
    else:
        idx = np.lexsort(_descending_keys(x), axis=-1)[..., :k]
    return [np.take_along_axis(x, idx, axis=-1), idx.astype(np.int32)]


def _top_k_abstract_eval(operand, *, k):
    if operand.ndim == 0:
        raise ShapeError("lax.top_k: the operand must have rank >= 1, got a scalar")
    if not 0 <= k <= operand.shape[-1]:
        raise ValueError(
            f"lax.top_k: k={k} must be between 0 and the size of the last axis "
            f"({operand.shape[-1]})"
        )
    shape = (*operand.shape[:-1], k)
    return [
        ShapedArray(shape, operand.dtype, operand.weak_type),
        ShapedArray(shape, np.dtype(np.int32)),
    ]


def _top_k_jvp(primals, tangents, *, k):
    (x,), (t,) = primals, tangents
    values, indices = top_k_p.bind(x, k=k)
    idx_t = Zero(tangent_aval(get_aval(indices)))
    if type(t) is Zero:
        return [values, indices], [Zero(tangent_aval(get_aval(values))), idx_t]
    axis = get_aval(x).ndim - 1
    return [values, indices], [gather_along_axis_p.bind(t, indices, axis=axis), idx_t]


def _top_k_batch(axis_size, vals, dims, *, k):
    (x,), (d,) = vals, dims
    ndim = get_aval(x).ndim
    if d == ndim - 1:
        x = batching.moveaxis(x, d, 0)
        d = 0
    return top_k_p.bind(x, k=k), [d, d]


top_k_p = define_primitive(
    "top_k",
    impl=_top_k_impl,
    abstract_eval=_top_k_abstract_eval,
    jvp=_top_k_jvp,
    batch=_top_k_batch,
    kernel="library",
    multiple_results=True,
)


def top_k(operand: Any, k: int, *, axis: int = -1) -> tuple[Any, Any]:
    """The ``k`` largest entries along ``axis`` and their int32 indices, largest first.

    Ties keep the lower index first; NaN counts as larger than every number.

    Example:
      >>> import fxgrad.lax as lax, fxgrad.numpy as fnp
      >>> values, indices = lax.top_k(fnp.array([1.0, 4.0, 2.0]), 2)
      >>> indices
      Array([1, 2], dtype=int32)
    """
    ndim = get_aval(operand).ndim
    if ndim == 0:
        raise ShapeError("lax.top_k: the operand must have rank >= 1, got a scalar")
    axis = int(axis)
    if not -ndim <= axis < ndim:
        raise ShapeError(f"lax.top_k: axis {axis} is out of bounds for rank {ndim}")
    axis %= ndim
    k = int(k)
    if not 0 <= k <= get_aval(operand).shape[axis]:
        raise ValueError(
            f"lax.top_k: k={k} must be between 0 and the size of axis {axis} "
            f"({get_aval(operand).shape[axis]})"
        )
    if axis == ndim - 1:
        values, indices = top_k_p.bind(operand, k=k)
        return values, indices
    perm = [i for i in range(ndim) if i != axis] + [axis]
    inverse = tuple(int(i) for i in np.argsort(perm))
    values, indices = top_k_p.bind(transpose(operand, perm), k=k)
    return transpose(values, inverse), transpose(indices, inverse)
