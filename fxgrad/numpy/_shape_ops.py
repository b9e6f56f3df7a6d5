"""Shape manipulation: reshape, transpose, swapaxes, moveaxis, squeeze, expand_dims, ravel,
broadcast_to, atleast_*d."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from fxgrad.errors import ShapeError
from fxgrad.lax import shape as lshape
from fxgrad.numpy._util import asarray_value, canonicalize_axes, canonicalize_axis


def reshape(
    a: Any, shape: Any = None, order: str = "C", *, newshape: Any = None, copy: Any = None
) -> Any:
    """``a`` with a new shape; one dimension may be -1 (inferred)."""
    if shape is None:
        shape = newshape
    if order != "C":
        raise NotImplementedError("fxgrad.numpy.reshape supports only order='C'")
    a = asarray_value(a)
    if isinstance(shape, (int, np.integer)):
        shape = (int(shape),)
    shape = [int(s) for s in shape]
    if shape.count(-1) > 1:
        raise ShapeError("fxgrad.numpy.reshape: can only specify one unknown dimension")
    if -1 in shape:
        known = int(np.prod([s for s in shape if s != -1], dtype=np.int64))
        if known == 0 or a.size % known:
            raise ShapeError(
                f"fxgrad.numpy.reshape: cannot reshape array of size {a.size} into shape "
                f"{tuple(shape)}"
            )
        shape[shape.index(-1)] = a.size // known
    if int(np.prod(shape, dtype=np.int64)) != a.size:
        raise ShapeError(
            f"fxgrad.numpy.reshape: cannot reshape array of size {a.size} into shape {tuple(shape)}"
        )
    return lshape.reshape(a, shape)


def ravel(a: Any, order: str = "C") -> Any:
    return reshape(a, (-1,), order)


def transpose(a: Any, axes: Sequence[int] | None = None) -> Any:
    """Permute axes (reverse them when ``axes`` is None)."""
    a = asarray_value(a)
    if axes is None:
        axes = tuple(range(a.ndim))[::-1]
    axes = tuple(canonicalize_axis(ax, a.ndim, "transpose") for ax in axes)
    if sorted(axes) != list(range(a.ndim)):
        raise ValueError(f"fxgrad.numpy.transpose: axes {axes} don't match array of rank {a.ndim}")
    return lshape.transpose(a, axes)


def permute_dims(a: Any, axes: Sequence[int]) -> Any:
    return transpose(a, axes)


def matrix_transpose(x: Any, /) -> Any:
    x = asarray_value(x)
    if x.ndim < 2:
        raise ValueError("matrix_transpose requires an array of rank >= 2")
    return swapaxes(x, -1, -2)


def swapaxes(a: Any, axis1: int, axis2: int) -> Any:
    a = asarray_value(a)
    perm = list(range(a.ndim))
    i = canonicalize_axis(axis1, a.ndim, "swapaxes")
    j = canonicalize_axis(axis2, a.ndim, "swapaxes")
    perm[i], perm[j] = perm[j], perm[i]
    return lshape.transpose(a, perm)


def moveaxis(a: Any, source: Any, destination: Any) -> Any:
    a = asarray_value(a)
    src = [source] if isinstance(source, (int, np.integer)) else list(source)
    dst = [destination] if isinstance(destination, (int, np.integer)) else list(destination)
    if len(src) != len(dst):
        raise ValueError("fxgrad.numpy.moveaxis: source and destination need equal lengths")
    src = [canonicalize_axis(s, a.ndim, "moveaxis") for s in src]
    dst = [canonicalize_axis(d, a.ndim, "moveaxis") for d in dst]
    perm = [i for i in range(a.ndim) if i not in src]
    for d, s in sorted(zip(dst, src, strict=True)):
        perm.insert(d, s)
    return lshape.transpose(a, perm)


def squeeze(a: Any, axis: Any = None) -> Any:
    a = asarray_value(a)
    if axis is None:
        axes = tuple(i for i, s in enumerate(a.shape) if s == 1)
    else:
        axes = canonicalize_axes(axis, a.ndim, "squeeze")
        for ax in axes:
            if a.shape[ax] != 1:
                raise ValueError(
                    f"fxgrad.numpy.squeeze: cannot select an axis to squeeze out which has "
                    f"size not equal to one (axis {ax} of shape {a.shape})"
                )
    return lshape.squeeze(a, axes)


def expand_dims(a: Any, axis: Any) -> Any:
    a = asarray_value(a)
    axes = [axis] if isinstance(axis, (int, np.integer)) else list(axis)
    out_ndim = a.ndim + len(axes)
    axes = [canonicalize_axis(ax, out_ndim, "expand_dims") for ax in axes]
    return lshape.expand_dims(a, axes)


def broadcast_to(array: Any, shape: Any) -> Any:
    array = asarray_value(array)
    shape = (int(shape),) if isinstance(shape, (int, np.integer)) else tuple(int(s) for s in shape)
    return lshape.broadcast_to_shape(array, shape)


def atleast_1d(*arys: Any) -> Any:
    outs = [reshape(a, (1,)) if asarray_value(a).ndim == 0 else asarray_value(a) for a in arys]
    return outs[0] if len(outs) == 1 else outs


def atleast_2d(*arys: Any) -> Any:
    outs = []
    for a in arys:
        a = asarray_value(a)
        outs.append(reshape(a, (1,) * (2 - a.ndim) + tuple(a.shape)) if a.ndim < 2 else a)
    return outs[0] if len(outs) == 1 else outs


def atleast_3d(*arys: Any) -> Any:
    outs = []
    for a in arys:
        a = asarray_value(a)
        if a.ndim == 0:
            a = reshape(a, (1, 1, 1))
        elif a.ndim == 1:
            a = reshape(a, (1, a.shape[0], 1))
        elif a.ndim == 2:
            a = reshape(a, (*a.shape, 1))
        outs.append(a)
    return outs[0] if len(outs) == 1 else outs


def shape(a: Any) -> tuple[int, ...]:
    return tuple(asarray_value(a).shape)


def ndim(a: Any) -> int:
    return asarray_value(a).ndim


def size(a: Any, axis: int | None = None) -> int:
    a = asarray_value(a)
    return a.size if axis is None else a.shape[axis]


__all__ = [
    "atleast_1d",
    "atleast_2d",
    "atleast_3d",
    "broadcast_to",
    "expand_dims",
    "matrix_transpose",
    "moveaxis",
    "ndim",
    "permute_dims",
    "ravel",
    "reshape",
    "shape",
    "size",
    "squeeze",
    "swapaxes",
    "transpose",
]
