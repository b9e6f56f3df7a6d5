"""Shape primitives: broadcast_in_dim, reshape, transpose, squeeze (and wrappers).

These are linear in their operand: each JVP applies the primitive to the tangent and
each transpose applies the inverse layout change (``broadcast_in_dim`` transposes to a
sum over the broadcast axes). Batch rules move the batch axis to the front and shift
the static dimension parameters past it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from fxgrad.core import ShapedArray, get_aval
from fxgrad.errors import ShapeError
from fxgrad.interpreters import batching
from fxgrad.interpreters.jvp import Zero, jvp_rules
from fxgrad.lax._define import define_primitive


def _linear_jvp(prim):
    def rule(primals, tangents, **params):
        out = prim.bind(*primals, **params)
        (t,) = tangents
        if type(t) is Zero:
            return out, Zero(get_aval(out).update(dtype=t.aval.dtype))
        return out, prim.bind(t, **params)

    return rule


# --- broadcast_in_dim -------------------------------------------------------------------


def _broadcast_in_dim_impl(operand, *, shape, broadcast_dimensions):
    operand = np.asarray(operand)
    if not broadcast_dimensions:  # a scalar (as the pullback of a full sum)
        return broadcast_small_or_view(operand, shape)
    expanded = [1] * len(shape)
    for src, dst in enumerate(broadcast_dimensions):
        expanded[dst] = operand.shape[src]
    return broadcast_small_or_view(operand.reshape(expanded), shape)


#: Outputs up to this many elements are filled; larger ones are broadcast views.
_SMALL_BROADCAST = 4096


def broadcast_small_or_view(x: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """``np.broadcast_to(x, shape)``, filled into a new array when the result is small.

    ``np.broadcast_to`` costs ~5us of Python; filling a small array costs ~0.5us, and
    eager code on small arrays (the pullbacks of eager ``grad``) broadcasts often.
    """
    if math.prod(shape) <= _SMALL_BROADCAST:
        out = np.empty(shape, x.dtype)
        out[...] = x
        return out
    return np.broadcast_to(x, shape)


def _broadcast_in_dim_abstract_eval(operand, *, shape, broadcast_dimensions):
    if operand.ndim != len(broadcast_dimensions):
        raise ShapeError(
            f"lax.broadcast_in_dim: operand of rank {operand.ndim} needs "
            f"{operand.ndim} broadcast_dimensions, got {broadcast_dimensions}"
        )
    if any(d < 0 or d >= len(shape) for d in broadcast_dimensions) or list(
        broadcast_dimensions
    ) != sorted(set(broadcast_dimensions)):
        raise ShapeError(
            f"lax.broadcast_in_dim: broadcast_dimensions {broadcast_dimensions} must be "
            f"strictly increasing and within the output rank {len(shape)}"
        )
    for src, dst in enumerate(broadcast_dimensions):
        if operand.shape[src] not in (1, shape[dst]):
            raise ShapeError(
                f"lax.broadcast_in_dim: operand shape {operand.shape} cannot be broadcast "
                f"to {shape} with broadcast_dimensions {broadcast_dimensions} (axis {src} "
                f"has size {operand.shape[src]}, target {shape[dst]})"
            )
    return ShapedArray(tuple(shape), operand.dtype, operand.weak_type)


_reduce_sum: Any = None  # fxgrad.lax.reduction.reduce_sum, once that module has loaded


def _broadcast_in_dim_transpose(ct, operand, *, shape, broadcast_dimensions):
    global _reduce_sum
    if _reduce_sum is None:
        # reduction imports this module: its function is looked up on first use, once.
        from fxgrad.lax.reduction import reduce_sum as _reduce_sum
    in_shape = operand.aval.shape
    if type(ct) is Zero:
        return [Zero(operand.aval)]
    new_axes = [d for d in range(len(shape)) if d not in broadcast_dimensions]
    expanded_axes = [
        dst
        for src, dst in enumerate(broadcast_dimensions)
        if in_shape[src] == 1 and shape[dst] != 1
    ]
    summed = _reduce_sum(ct, tuple(sorted(new_axes + expanded_axes)))
    return [reshape(summed, in_shape)]


def _broadcast_in_dim_batch(axis_size, vals, dims, *, shape, broadcast_dimensions):
    (x,), (d,) = vals, dims
    x = batching.moveaxis(x, d, 0)
    new_shape = (axis_size, *shape)
    new_dims = (0, *(b + 1 for b in broadcast_dimensions))
    return broadcast_in_dim_p.bind(x, shape=new_shape, broadcast_dimensions=new_dims), 0


broadcast_in_dim_p = define_primitive(
    "broadcast_in_dim",
    impl=_broadcast_in_dim_impl,
    abstract_eval=_broadcast_in_dim_abstract_eval,
    jvp=None,
    transpose=_broadcast_in_dim_transpose,
    batch=_broadcast_in_dim_batch,
    kernel="shape",
)


def broadcast_in_dim(
    operand: Any, shape: Sequence[int], broadcast_dimensions: Sequence[int]
) -> Any:
    """Broadcast ``operand`` to ``shape``; its axis ``i`` becomes output axis ``bdims[i]``."""
    shape = tuple(int(s) for s in shape)
    broadcast_dimensions = tuple(int(d) for d in broadcast_dimensions)
    aval = get_aval(operand)
    if aval.shape == shape and broadcast_dimensions == tuple(range(len(shape))):
        return operand
    return broadcast_in_dim_p.bind(operand, shape=shape, broadcast_dimensions=broadcast_dimensions)


def broadcast(operand: Any, sizes: Sequence[int]) -> Any:
    """Add leading axes of the given ``sizes`` (JAX's ``lax.broadcast``)."""
    aval = get_aval(operand)
    sizes = tuple(sizes)
    dims = tuple(range(len(sizes), len(sizes) + aval.ndim))
    return broadcast_in_dim(operand, sizes + tuple(aval.shape), dims)


def broadcast_to_shape(x: Any, shape: Sequence[int]) -> Any:
    """NumPy-style broadcast of ``x`` to ``shape`` (trailing axes aligned)."""
    aval = get_aval(x)
    shape = tuple(shape)
    if aval.shape == shape:
        return x
    try:
        np.broadcast_shapes(aval.shape, shape)
    except ValueError:
        raise ShapeError(
            f"cannot broadcast an array of shape {aval.shape} to shape {shape}"
        ) from None
    if np.broadcast_shapes(aval.shape, shape) != shape:
        raise ShapeError(f"cannot broadcast an array of shape {aval.shape} to shape {shape}")
    offset = len(shape) - aval.ndim
    return broadcast_in_dim(x, shape, tuple(range(offset, len(shape))))


# --- reshape ----------------------------------------------------------------------------


def _reshape_impl(operand, *, new_sizes, dimensions):
    return np.reshape(operand, new_sizes)


def _reshape_abstract_eval(operand, *, new_sizes, dimensions):
    if int(np.prod(new_sizes, dtype=np.int64)) != operand.size:
        raise ShapeError(
            f"lax.reshape: cannot reshape an array of shape {operand.shape} "
            f"({operand.size} elements) to {new_sizes}"
        )
    return ShapedArray(tuple(new_sizes), operand.dtype, operand.weak_type)


def _reshape_transpose(ct, operand, *, new_sizes, dimensions):
    if type(ct) is Zero:
        return [Zero(operand.aval)]
    return [reshape(ct, operand.aval.shape)]


def _reshape_batch(axis_size, vals, dims, *, new_sizes, dimensions):
    (x,), (d,) = vals, dims
    x = batching.moveaxis(x, d, 0)
    return reshape_p.bind(x, new_sizes=(axis_size, *new_sizes), dimensions=None), 0


reshape_p = define_primitive(
    "reshape",
    impl=_reshape_impl,
    abstract_eval=_reshape_abstract_eval,
    jvp=None,
    transpose=_reshape_transpose,
    batch=_reshape_batch,
    kernel="shape",
)


def reshape(operand: Any, new_sizes: Sequence[int], dimensions: Sequence[int] | None = None):
    """Reshape ``operand`` to ``new_sizes`` (after transposing by ``dimensions`` if given)."""
    if dimensions is not None:
        operand = transpose(operand, dimensions)
    new_sizes = tuple(int(s) for s in new_sizes)
    if get_aval(operand).shape == new_sizes:
        return operand
    return reshape_p.bind(operand, new_sizes=new_sizes, dimensions=None)


# --- transpose --------------------------------------------------------------------------


def _transpose_impl(operand, *, permutation):
    return np.transpose(operand, permutation)


def _transpose_abstract_eval(operand, *, permutation):
    if sorted(permutation) != list(range(operand.ndim)):
        raise ShapeError(
            f"lax.transpose: permutation {permutation} is not a permutation of the axes of "
            f"an array of rank {operand.ndim}"
        )
    shape = tuple(operand.shape[p] for p in permutation)
    return ShapedArray(shape, operand.dtype, operand.weak_type)


def _transpose_transpose(ct, operand, *, permutation):
    if type(ct) is Zero:
        return [Zero(operand.aval)]
    inverse = tuple(int(i) for i in np.argsort(permutation))
    return [transpose(ct, inverse)]


def _transpose_batch(axis_size, vals, dims, *, permutation):
    (x,), (d,) = vals, dims
    x = batching.moveaxis(x, d, 0)
    perm = (0, *(p + 1 for p in permutation))
    return transpose_p.bind(x, permutation=perm), 0


transpose_p = define_primitive(
    "transpose",
    impl=_transpose_impl,
    abstract_eval=_transpose_abstract_eval,
    jvp=None,
    transpose=_transpose_transpose,
    batch=_transpose_batch,
    kernel="shape",
)


def transpose(operand: Any, permutation: Sequence[int]) -> Any:
    """Permute the axes of ``operand``: output axis ``i`` is input axis ``permutation[i]``."""
    permutation = tuple(int(p) for p in permutation)
    if permutation == tuple(range(len(permutation))):
        return operand
    return transpose_p.bind(operand, permutation=permutation)


# --- squeeze ----------------------------------------------------------------------------


def _squeeze_impl(array, *, dimensions):
    return np.squeeze(array, axis=dimensions) if dimensions else np.asarray(array)


def _squeeze_abstract_eval(array, *, dimensions):
    for d in dimensions:
        if d < 0 or d >= array.ndim or array.shape[d] != 1:
            raise ShapeError(
                f"lax.squeeze: cannot squeeze axis {d} of an array of shape {array.shape}; "
                "only axes of size 1 can be squeezed"
            )
    shape = tuple(s for i, s in enumerate(array.shape) if i not in dimensions)
    return ShapedArray(shape, array.dtype, array.weak_type)


def _squeeze_transpose(ct, array, *, dimensions):
    if type(ct) is Zero:
        return [Zero(array.aval)]
    return [reshape(ct, array.aval.shape)]


def _squeeze_batch(axis_size, vals, dims, *, dimensions):
    (x,), (d,) = vals, dims
    x = batching.moveaxis(x, d, 0)
    return squeeze_p.bind(x, dimensions=tuple(a + 1 for a in dimensions)), 0


squeeze_p = define_primitive(
    "squeeze",
    impl=_squeeze_impl,
    abstract_eval=_squeeze_abstract_eval,
    jvp=None,
    transpose=_squeeze_transpose,
    batch=_squeeze_batch,
    kernel="shape",
)


def squeeze(array: Any, dimensions: Sequence[int]) -> Any:
    """Remove the given axes, each of size 1."""
    ndim = get_aval(array).ndim
    dimensions = tuple(sorted({int(d) % ndim if ndim else int(d) for d in dimensions}))
    if not dimensions:
        return array
    return squeeze_p.bind(array, dimensions=dimensions)


def expand_dims(array: Any, dimensions: Sequence[int]) -> Any:
    """Insert axes of size 1 at the given output positions."""
    aval = get_aval(array)
    out_ndim = aval.ndim + len(dimensions)
    dims = sorted({int(d) % out_ndim for d in dimensions})
    shape = list(aval.shape)
    for d in dims:
        shape.insert(d, 1)
    return reshape(array, shape)


for _prim in (broadcast_in_dim_p, reshape_p, transpose_p, squeeze_p):
    jvp_rules[_prim] = _linear_jvp(_prim)
