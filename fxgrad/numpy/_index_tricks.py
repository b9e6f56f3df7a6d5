"""Index helpers, functional updates, bit packing, block assembly and dtype utilities.

Index builders (``diag_indices``, ``tril_indices``, ``ix_``, ``unravel_index``,
``ravel_multi_index``...) return int64 arrays; those whose result depends only on
static shapes are computed once with NumPy. ``fill_diagonal``, ``put`` and ``place``
are NumPy's in-place writers made functional as in JAX: they require
``inplace=False`` and return an updated copy, built with ``.at[].set`` or ``where``,
so they differentiate and batch. ``packbits``/``unpackbits``, ``block``, ``resize``
and ``rollaxis`` are shape manipulations on static shapes.

The dtype and printing helpers (``isdtype``, ``common_type``, ``min_scalar_type``,
``get_printoptions``...) act on dtypes or host values only, so they delegate to NumPy;
``real_if_close`` and ``asarray_chkfinite`` inspect values and so need concrete input.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from fxgrad import core, dtypes
from fxgrad.errors import ConcretizationError, ShapeError
from fxgrad.numpy import _joining as joining
from fxgrad.numpy import _reductions as red
from fxgrad.numpy import _shape_ops as shp
from fxgrad.numpy import _ufuncs as uf
from fxgrad.numpy._creation import asarray, ones
from fxgrad.numpy._setops import nonzero
from fxgrad.numpy._util import asarray_value, canonicalize_axis

__all__ = [
    "array_repr",
    "array_str",
    "asanyarray",
    "asarray_chkfinite",
    "astype",
    "block",
    "common_type",
    "diag_indices",
    "diag_indices_from",
    "fill_diagonal",
    "from_dlpack",
    "frombuffer",
    "fromiter",
    "fromstring",
    "get_printoptions",
    "isdtype",
    "iterable",
    "ix_",
    "mask_indices",
    "min_scalar_type",
    "packbits",
    "place",
    "printoptions",
    "put",
    "ravel_multi_index",
    "real_if_close",
    "resize",
    "rollaxis",
    "set_printoptions",
    "tril_indices",
    "tril_indices_from",
    "triu_indices",
    "triu_indices_from",
    "unpackbits",
    "unravel_index",
]

_INDEX = np.dtype(np.int64)


def _immutable(fn_name: str) -> ValueError:
    return ValueError(
        f"fxgrad.numpy.{fn_name} cannot modify an array in place: fxgrad arrays are "
        f"immutable. Pass inplace=False to get the updated array back, e.g. "
        f"`a = fnp.{fn_name}(a, ..., inplace=False)`."
    )


def _index_arrays(arrays: Sequence[np.ndarray]) -> tuple[Any, ...]:
    return tuple(asarray_value(np.asarray(a, dtype=_INDEX)) for a in arrays)


def _static_int(value: Any, name: str, fn_name: str) -> int:
    concrete = core.concrete_value(value)
    if concrete is None:
        raise ConcretizationError(f"fxgrad.numpy.{fn_name}: {name} must be a static integer")
    return operator.index(np.asarray(concrete).item() if np.ndim(concrete) == 0 else concrete)


# ---------------------------------------------------------------------------------------------
# Functional writes
# ---------------------------------------------------------------------------------------------


def _cycled(values: Any, count: int, dtype: np.dtype) -> Any:
    """``ravel(values)`` repeated cyclically to ``count`` entries (NumPy's ``put`` rule)."""
    flat = shp.ravel(asarray_value(values)).astype(dtype)
    n = flat.shape[0]
    if n == count:
        return flat
    return flat[asarray_value(np.arange(count, dtype=_INDEX) % n)]


def fill_diagonal(a: Any, val: Any, wrap: bool = False, *, inplace: bool = True) -> Any:
    """``a`` with its main diagonal set to ``val`` (functional ``numpy.fill_diagonal``).

    Needs ``inplace=False`` (as in JAX). ``val`` repeats cyclically along the diagonal;
    ``wrap`` continues the diagonal of a tall matrix after every ``N + 1`` rows.

    Example:
      >>> import fxgrad.numpy as fnp
      >>> fnp.fill_diagonal(fnp.zeros((2, 3)), 5.0, inplace=False)
      Array([[5., 0., 0.],
             [0., 5., 0.]], dtype=float64)
    """
    if inplace:
        raise _immutable("fill_diagonal")
    a = asarray_value(a)
    if a.ndim < 2:
        raise ShapeError("fxgrad.numpy.fill_diagonal: array must be at least 2-d")
    if a.ndim == 2:
        step = a.shape[1] + 1
        end = None if wrap else a.shape[1] * a.shape[1]
    else:
        if len(set(a.shape)) != 1:
            raise ShapeError("fxgrad.numpy.fill_diagonal: all dimensions of input must be equal")
        step = 1 + int(np.cumprod(a.shape[:-1]).sum())
        end = None
    positions = np.arange(a.size, dtype=_INDEX)[:end:step]
    if positions.size == 0 or np.size(val) == 0:
        return a
    values = _cycled(val, positions.size, a.dtype)
    return shp.ravel(a).at[asarray_value(positions)].set(values).reshape(a.shape)


def put(a: Any, ind: Any, v: Any, mode: str | None = None, *, inplace: bool = True) -> Any:
    """``a`` with ``ravel(a)[ind] = v`` (functional ``numpy.put``; needs ``inplace=False``).

    ``v`` repeats cyclically over ``ind``. ``mode``: ``'raise'``/None (out-of-range
    indices raise eagerly, as in NumPy, and are dropped under ``jit``), ``'wrap'`` or
    ``'clip'``. With repeated indices one of the values is kept.

    Example:
      >>> import fxgrad.numpy as fnp
      >>> fnp.put(fnp.zeros(4), fnp.array([0, 2]), fnp.array([1.0, 2.0]), inplace=False)
      Array([1., 0., 2., 0.], dtype=float64)
    """
    if inplace:
        raise _immutable("put")
    a = asarray_value(a)
    flat = shp.ravel(a)
    ind = shp.ravel(asarray_value(ind))
    if ind.dtype.kind not in "iu":
        raise TypeError(f"fxgrad.numpy.put: indices must be integers, got dtype {ind.dtype}")
    n, count = flat.shape[0], ind.shape[0]
    if count == 0 or np.size(v) == 0:
        return a
    values = _cycled(v, count, a.dtype)
    if mode in (None, "raise"):
        concrete = core.concrete_value(ind)
        if concrete is not None:
            concrete = np.asarray(concrete)
            if np.any((concrete < -n) | (concrete >= n)):
                raise IndexError(
                    f"fxgrad.numpy.put: index out of range for an array of size {n} (use "
                    "mode='wrap' or mode='clip')"
                )
        ind = uf.where(ind < 0, ind + n, ind)
        out = flat.at[ind].set(values, mode="drop")
    elif mode == "wrap":
        out = flat.at[uf.remainder(ind, n)].set(values)
    elif mode == "clip":
        out = flat.at[uf.clip(ind, 0, n - 1)].set(values)
    else:
        raise ValueError(f"fxgrad.numpy.put: mode must be 'raise', 'wrap' or 'clip', got {mode!r}")
    return out.reshape(a.shape)


def place(arr: Any, mask: Any, vals: Any, *, inplace: bool = True) -> Any:
    """``arr`` with the masked entries replaced by ``vals`` in turn (functional ``numpy.place``).

    Needs ``inplace=False``. The k-th true entry of ``mask`` gets ``vals[k % len(vals)]``.
    Works under ``jit`` (the positions come from a prefix sum of the mask).

    Example:
      >>> import fxgrad.numpy as fnp
      >>> fnp.place(fnp.arange(5), fnp.arange(5) > 1, fnp.array([7, 8]), inplace=False)
      Array([0, 1, 7, 8, 7], dtype=int64)
    """
    if inplace:
        raise _immutable("place")
    arr = asarray_value(arr)
    mask = shp.ravel(asarray_value(mask) != 0)
    flat = shp.ravel(arr)
    if mask.shape != flat.shape:
        raise ShapeError(
            f"fxgrad.numpy.place: mask and arr must have the same size, got {mask.shape[0]} "
            f"and {flat.shape[0]}"
        )
    vals = shp.ravel(asarray_value(vals)).astype(arr.dtype)
    if vals.shape[0] == 0:
        concrete = core.concrete_value(mask)
        if concrete is not None and np.any(np.asarray(concrete)):
            raise ValueError("fxgrad.numpy.place: cannot insert from an empty array")
        return arr
    position = (red.cumsum(mask.astype(_INDEX)) - 1) % vals.shape[0]
    return uf.where(mask, vals[position], flat).reshape(arr.shape)


# ---------------------------------------------------------------------------------------------
# Index builders
# ---------------------------------------------------------------------------------------------


def diag_indices(n: int, ndim: int = 2) -> tuple[Any, ...]:
    """The indices of the main diagonal of an ``(n,) * ndim`` array (``numpy.diag_indices``).

    Example:
      >>> import fxgrad.numpy as fnp
      >>> fnp.diag_indices(2)
      (Array([0, 1], dtype=int64), Array([0, 1], dtype=int64))
    """
    n = _static_int(n, "n", "diag_indices")
    ndim = _static_int(ndim, "ndim", "diag_indices")
    return _index_arrays([np.arange(n)] * ndim)


def diag_indices_from(arr: Any) -> tuple[Any, ...]:
    """``diag_indices`` for the shape of ``arr`` (all of whose dimensions must be equal)."""
    shape = np.shape(arr) if not hasattr(arr, "shape") else tuple(arr.shape)
    if len(shape) < 2:
        raise ShapeError("fxgrad.numpy.diag_indices_from: input array must be at least 2-d")
    if len(set(shape)) != 1:
        raise ShapeError("fxgrad.numpy.diag_indices_from: all dimensions of input must be equal")
    return diag_indices(shape[0], len(shape))


def tril_indices(n: int, k: int = 0, m: int | None = None) -> tuple[Any, Any]:
    """Row and column indices of the lower triangle of an ``(n, m)`` matrix.

    Example:
      >>> import fxgrad.numpy as fnp
      >>> fnp.tril_indices(2)
      (Array([0, 1, 1], dtype=int64), Array([0, 0, 1], dtype=int64))
    """
    n = _static_int(n, "n", "tril_indices")
    m = n if m is None else _static_int(m, "m", "tril_indices")
    return _index_arrays(np.tril_indices(n, _static_int(k, "k", "tril_indices"), m))


def triu_indices(n: int, k: int = 0, m: int | None = None) -> tuple[Any, Any]:
    """Row and column indices of the upper triangle of an ``(n, m)`` matrix."""
    n = _static_int(n, "n", "triu_indices")
    m = n if m is None else _static_int(m, "m", "triu_indices")
    return _index_arrays(np.triu_indices(n, _static_int(k, "k", "triu_indices"), m))


def _matrix_shape(arr: Any, fn_name: str) -> tuple[int, ...]:
    shape = tuple(arr.shape) if hasattr(arr, "shape") else np.shape(arr)
    if len(shape) != 2:
        raise ShapeError(f"fxgrad.numpy.{fn_name}: input array must be 2-d, got shape {shape}")
    return shape


def tril_indices_from(arr: Any, k: int = 0) -> tuple[Any, Any]:
    """``tril_indices`` for the shape of the 2-D ``arr``."""
    n, m = _matrix_shape(arr, "tril_indices_from")
    return tril_indices(n, k, m)


def triu_indices_from(arr: Any, k: int = 0) -> tuple[Any, Any]:
    """``triu_indices`` for the shape of the 2-D ``arr``."""
    n, m = _matrix_shape(arr, "triu_indices_from")
    return triu_indices(n, k, m)


def mask_indices(
    n: int, mask_func: Callable[[Any, int], Any], k: int = 0, *, size: int | None = None
) -> tuple[Any, Any]:
    """The indices where ``mask_func(ones((n, n)), k)`` is non-zero (``numpy.mask_indices``).

    Example:
      >>> import fxgrad.numpy as fnp
      >>> fnp.mask_indices(2, fnp.triu)
      (Array([0, 0, 1], dtype=int64), Array([0, 1, 1], dtype=int64))
    """
    n = _static_int(n, "n", "mask_indices")
    return nonzero(asarray_value(mask_func(ones((n, n), _INDEX), k)), size=size)


def ix_(*args: Any) -> tuple[Any, ...]:
    """Open-mesh index arrays from 1-D sequences (``numpy.ix_``); booleans become indices.

    Example:
      >>> import fxgrad.numpy as fnp
      >>> [a.shape for a in fnp.ix_(fnp.array([0, 1]), fnp.array([2, 0, 1]))]
      [(2, 1), (1, 3)]
    """
    out = []
    for k, arg in enumerate(args):
        if isinstance(arg, (list, tuple)) and len(arg) == 0:
            arg = asarray_value(np.zeros(0, _INDEX))
        arg = asarray_value(arg)
        if arg.ndim != 1:
            raise ShapeError("fxgrad.numpy.ix_: cross index must be 1 dimensional")
        if arg.dtype == np.bool_:
            (arg,) = nonzero(arg)
        shape = [1] * len(args)
        shape[k] = arg.shape[0]
        out.append(arg.reshape(tuple(shape)))
    return tuple(out)


def _shape_tuple(shape: Any, fn_name: str) -> tuple[int, ...]:
    if np.ndim(shape) == 0:
        shape = (shape,)
    return tuple(_static_int(s, "shape", fn_name) for s in shape)


def unravel_index(indices: Any, shape: Any) -> tuple[Any, ...]:
    """The multi-index of each flat index into an array of ``shape`` (C order).

    Out-of-range indices raise eagerly, as in NumPy; under ``jit`` negative indices
    count from the end and the rest are clipped (as in JAX).

    Example:
      >>> import fxgrad.numpy as fnp
      >>> fnp.unravel_index(fnp.array([5, 1]), (2, 3))
      (Array([1, 0], dtype=int64), Array([2, 1], dtype=int64))
    """
    shape = _shape_tuple(shape, "unravel_index")
    indices = asarray_value(indices)
    if indices.dtype.kind not in "iu":
        raise TypeError(
            f"fxgrad.numpy.unravel_index: indices must be integers, got dtype {indices.dtype}"
        )
    total = int(np.prod(shape, dtype=np.int64))
    concrete = core.concrete_value(indices)
    if concrete is not None:
        bad = np.asarray(concrete)
        bad = bad[(bad < 0) | (bad >= total)]
        if bad.size:
            raise ValueError(
                f"fxgrad.numpy.unravel_index: index {int(bad.reshape(-1)[0])} is out of bounds "
                f"for an array with size {total}"
            )
    flat = indices.astype(_INDEX)
    flat = uf.clip(uf.where(flat < 0, flat + total, flat), 0, max(total - 1, 0))
    out = []
    for d in reversed(shape):
        out.append(flat % d if d else flat)
        flat = flat // d if d else flat
    return tuple(out[::-1])


def ravel_multi_index(
    multi_index: Sequence[Any], dims: Sequence[int], mode: Any = "raise", order: str = "C"
) -> Any:
    """The flat index of each multi-index into an array of shape ``dims``.

    ``mode`` (one, or one per dimension): ``'raise'`` (eager check; clipped under
    ``jit``), ``'wrap'`` or ``'clip'``; ``order`` ``'C'`` or ``'F'``.

    Example:
      >>> import fxgrad.numpy as fnp
      >>> fnp.ravel_multi_index((fnp.array([1, 0]), fnp.array([2, 1])), (2, 3))
      Array([5, 1], dtype=int64)
    """
    dims = _shape_tuple(dims, "ravel_multi_index")
    if len(multi_index) != len(dims):
        raise ValueError(
            f"fxgrad.numpy.ravel_multi_index: got {len(multi_index)} index arrays for "
            f"{len(dims)} dimensions"
        )
    modes = [mode] * len(dims) if isinstance(mode, str) else list(mode)
    if order not in ("C", "F"):
        raise ValueError("fxgrad.numpy.ravel_multi_index: order must be 'C' or 'F'")
    indices = shp.broadcast_arrays(*[asarray_value(i) for i in multi_index])
    fixed = []
    for i, (idx, d, m) in enumerate(zip(indices, dims, modes, strict=True)):
        if idx.dtype.kind not in "iu":
            raise TypeError("fxgrad.numpy.ravel_multi_index: indices must be integers")
        idx = idx.astype(_INDEX)
        if m == "raise":
            concrete = core.concrete_value(idx)
            if concrete is not None and np.any(
                (np.asarray(concrete) < 0) | (np.asarray(concrete) >= d)
            ):
                raise ValueError(
                    f"fxgrad.numpy.ravel_multi_index: invalid entry in coordinates array {i}"
                )
            idx = uf.clip(idx, 0, d - 1)
        elif m == "wrap":
            idx = uf.remainder(idx, d)
        elif m == "clip":
            idx = uf.clip(idx, 0, d - 1)
        else:
            raise ValueError(f"fxgrad.numpy.ravel_multi_index: unknown mode {m!r}")
        fixed.append(idx)
    axes = range(len(dims)) if order == "C" else reversed(range(len(dims)))
    flat = None
    for i in axes:
        flat = fixed[i] if flat is None else flat * dims[i] + fixed[i]
    return flat if flat is not None else asarray_value(np.zeros((), _INDEX))


# ---------------------------------------------------------------------------------------------
# Bits, blocks, resizing
# ---------------------------------------------------------------------------------------------


def _bit_weights(bitorder: str, fn_name: str) -> np.ndarray:
    if bitorder not in ("big", "little"):
        raise ValueError(f"fxgrad.numpy.{fn_name}: bitorder must be 'big' or 'little'")
    weights = 1 << np.arange(8, dtype=np.uint8)
    return weights[::-1] if bitorder == "big" else weights


def packbits(a: Any, axis: int | None = None, bitorder: str = "big") -> Any:
    """Pack the truth values of ``a`` into the bits of uint8 (``numpy.packbits``).

    Example:
      >>> import fxgrad.numpy as fnp
      >>> fnp.packbits(fnp.array([1, 0, 1, 1]))
      Array([176], dtype=uint8)
    """
    a = asarray_value(a)
    if a.dtype.kind not in "biu":
        raise TypeError(f"fxgrad.numpy.packbits: a must be bool or integer, got dtype {a.dtype}")
    weights = _bit_weights(bitorder, "packbits")
    if axis is None:
        a, axis = shp.ravel(a), 0
    axis = canonicalize_axis(axis, a.ndim, "packbits")
    bits = shp.moveaxis(a != 0, axis, -1).astype(np.uint8)
    pad = -bits.shape[-1] % 8
    if pad:
        bits = joining.pad(bits, [(0, 0)] * (bits.ndim - 1) + [(0, pad)])
    bits = bits.reshape(bits.shape[:-1] + (bits.shape[-1] // 8, 8))
    packed = red.sum(bits * asarray_value(weights), axis=-1, dtype=np.uint8)
    return shp.moveaxis(packed, -1, axis)


def unpackbits(
    a: Any, axis: int | None = None, count: int | None = None, bitorder: str = "big"
) -> Any:
    """Unpack the bits of the uint8 array ``a`` (``numpy.unpackbits``).

    Example:
      >>> import fxgrad.numpy as fnp
      >>> fnp.unpackbits(fnp.array([5], dtype=fnp.uint8))
      Array([0, 0, 0, 0, 0, 1, 0, 1], dtype=uint8)
    """
    a = asarray_value(a)
    if a.dtype != np.uint8:
        raise TypeError(f"fxgrad.numpy.unpackbits: expected an input of dtype uint8, got {a.dtype}")
    shifts = np.arange(8, dtype=np.uint8)
    shifts = shifts[::-1] if _bit_weights(bitorder, "unpackbits")[0] == 128 else shifts
    if axis is None:
        a, axis = shp.ravel(a), 0
    axis = canonicalize_axis(axis, a.ndim, "unpackbits")
    moved = shp.moveaxis(a, axis, -1)
    bits = uf.right_shift(moved[..., None], asarray_value(shifts)) & np.uint8(1)
    bits = bits.reshape(moved.shape[:-1] + (moved.shape[-1] * 8,))
    if count is not None:
        count = _static_int(count, "count", "unpackbits")
        n = bits.shape[-1]
        keep = count if count >= 0 else max(n + count, 0)
        if keep <= n:
            bits = bits[..., :keep]
        else:
            bits = joining.pad(bits, [(0, 0)] * (bits.ndim - 1) + [(0, keep - n)])
    return shp.moveaxis(bits, -1, axis)


def _block_depth(arrays: Any, path: str) -> int:
    if isinstance(arrays, tuple):
        raise TypeError(f"fxgrad.numpy.block: {path} is a tuple; only lists may be nested")
    if isinstance(arrays, list):
        if not arrays:
            raise ValueError(f"fxgrad.numpy.block: {path} is an empty list")
        depths = {_block_depth(a, f"{path}[{i}]") for i, a in enumerate(arrays)}
        if len(depths) != 1:
            raise ValueError(f"fxgrad.numpy.block: list depths are mismatched at {path}")
        return depths.pop() + 1
    return 0


def _block_ndim(arrays: Any) -> int:
    if isinstance(arrays, list):
        return max(_block_ndim(a) for a in arrays)
    return asarray_value(arrays).ndim


def _assemble(arrays: Any, depth: int, ndim: int) -> Any:
    if not isinstance(arrays, list):
        a = asarray_value(arrays)
        return a.reshape((1,) * (ndim - a.ndim) + a.shape)
    parts = [_assemble(a, depth - 1, ndim) for a in arrays]
    return joining.concatenate(parts, axis=-depth)


def block(arrays: Any) -> Any:
    """Assemble an array from nested lists of blocks (``numpy.block``).

    The innermost lists join along the last axis, the next ones along the one before.

    Example:
      >>> import fxgrad.numpy as fnp
      >>> fnp.block([[fnp.eye(2), fnp.zeros((2, 1))], [fnp.ones((1, 3))]])
      Array([[1., 0., 0.],
             [0., 1., 0.],
             [1., 1., 1.]], dtype=float64)
    """
    depth = _block_depth(arrays, "arrays")
    if depth == 0:
        return asarray_value(arrays)
    ndim = max(_block_ndim(arrays), depth)
    return _assemble(arrays, depth, ndim)


def resize(a: Any, new_shape: Any) -> Any:
    """``a`` repeated cyclically (in C order) to fill ``new_shape`` (``numpy.resize``).

    Example:
      >>> import fxgrad.numpy as fnp
      >>> fnp.resize(fnp.array([1, 2, 3]), (2, 2))
      Array([[1, 2],
             [3, 1]], dtype=int64)
    """
    a = asarray_value(a)
    shape = _shape_tuple(new_shape, "resize")
    if any(s < 0 for s in shape):
        raise ValueError("fxgrad.numpy.resize: all elements of new_shape must be non-negative")
    total = int(np.prod(shape, dtype=np.int64))
    flat = shp.ravel(a)
    if flat.shape[0] == 0 or total == 0:
        return asarray_value(np.zeros(shape, a.dtype))
    repeats = -(-total // flat.shape[0])
    return joining.concatenate([flat] * repeats)[:total].reshape(shape)


def rollaxis(a: Any, axis: int, start: int = 0) -> Any:
    """Roll ``axis`` backwards until it lies before position ``start`` (``numpy.rollaxis``).

    Example:
      >>> import fxgrad.numpy as fnp
      >>> fnp.rollaxis(fnp.ones((2, 3, 4)), 2).shape
      (4, 2, 3)
    """
    a = asarray_value(a)
    n = a.ndim
    axis = canonicalize_axis(axis, n, "rollaxis")
    if not -n <= start <= n:
        raise ValueError(f"fxgrad.numpy.rollaxis: start={start} is out of range for rank {n}")
    start = start + n if start < 0 else start
    if axis < start:
        start -= 1
    if axis == start:
        return a
    axes = [i for i in range(n) if i != axis]
    axes.insert(start, axis)
    return shp.transpose(a, axes)


# ---------------------------------------------------------------------------------------------
# Conversion, dtypes and printing
# ---------------------------------------------------------------------------------------------


def astype(x: Any, dtype: Any, /, *, copy: bool = False, device: Any = None) -> Any:
    """``x`` converted to ``dtype`` (the array API's ``astype``)."""
    del copy, device
    return asarray_value(x).astype(dtype)


def asanyarray(a: Any, dtype: Any = None, order: Any = None, *, like: Any = None) -> Any:
    """``asarray``: fxgrad has no array subclasses."""
    del like
    return asarray(a, dtype=dtype, order=order)


def asarray_chkfinite(a: Any, dtype: Any = None, order: Any = None) -> Any:
    """``asarray`` that raises ``ValueError`` on infs or NaNs (needs concrete values)."""
    out = asarray(a, dtype=dtype, order=order)
    value = core.concrete_value(out)
    if value is None:
        raise ConcretizationError(
            "fxgrad.numpy.asarray_chkfinite: checking for infs and NaNs needs concrete "
            "values, but the input is traced (inside jit or vmap). Use "
            "fnp.isfinite(a).all() with fxgrad.debug or checkify-style handling instead."
        )
    value = np.asarray(value)
    if value.dtype.kind in "fc" and not np.isfinite(value).all():
        raise ValueError("array must not contain infs or NaNs")
    return out


def real_if_close(a: Any, tol: float = 100) -> Any:
    """The real part of ``a`` if every imaginary part is within ``tol`` machine epsilons of 0.

    The result's dtype depends on the values, so this needs concrete input.

    Example:
      >>> import fxgrad.numpy as fnp
      >>> fnp.real_if_close(fnp.array([2.1 + 4e-14j, 5.2 + 3e-15j]), tol=1000)
      Array([2.1, 5.2], dtype=float64)
    """
    a = asarray_value(a)
    if a.dtype.kind != "c":
        return a
    value = core.concrete_value(a)
    if value is None:
        raise ConcretizationError(
            "fxgrad.numpy.real_if_close: whether the result is real depends on the values, "
            "which are traced here (inside jit or vmap); use fnp.real(a) instead"
        )
    if tol > 1:
        tol = np.finfo(a.dtype).eps * tol
    return a.real if np.all(np.absolute(np.asarray(value).imag) < tol) else a


def isdtype(dtype: Any, kind: Any) -> bool:
    """Whether ``dtype`` is of ``kind`` (a dtype, a kind name such as ``'real floating'``).

    Example:
      >>> import fxgrad.numpy as fnp
      >>> fnp.isdtype(fnp.float32, "real floating"), fnp.isdtype(fnp.int8, "bool")
      (True, False)
    """

    def as_kind(k: Any) -> Any:
        return k if isinstance(k, str) else np.dtype(k)

    kinds = tuple(as_kind(k) for k in kind) if isinstance(kind, tuple) else as_kind(kind)
    return bool(np.isdtype(np.dtype(dtype), kinds))


def iterable(y: Any) -> bool:
    """Whether ``y`` can be iterated over (``numpy.iterable``)."""
    try:
        iter(y)
    except TypeError:
        return False
    return True


def _dtype_of(a: Any) -> np.dtype:
    return dtypes.dtype(a) if not hasattr(a, "dtype") else np.dtype(a.dtype)


def common_type(*arrays: Any) -> type:
    """The inexact scalar type common to ``arrays`` (integers count as float64)."""
    return np.common_type(*[np.empty(0, _dtype_of(a)) for a in arrays])


def min_scalar_type(a: Any) -> np.dtype:
    """The smallest dtype that holds ``a`` (its value for a concrete scalar, else its dtype)."""
    value = core.concrete_value(a)
    if value is None or np.ndim(value) != 0:
        return np.min_scalar_type(np.empty(0, _dtype_of(a)))
    return np.min_scalar_type(np.asarray(value))


def array_repr(
    arr: Any,
    max_line_width: int | None = None,
    precision: int | None = None,
    suppress_small: bool | None = None,
) -> str:
    """NumPy's ``array_repr`` of the (concrete) values of ``arr``."""
    return np.array_repr(np.asarray(arr), max_line_width, precision, suppress_small)


def array_str(
    a: Any,
    max_line_width: int | None = None,
    precision: int | None = None,
    suppress_small: bool | None = None,
) -> str:
    """NumPy's ``array_str`` of the (concrete) values of ``a``."""
    return np.array_str(np.asarray(a), max_line_width, precision, suppress_small)


get_printoptions = np.get_printoptions
set_printoptions = np.set_printoptions
printoptions = np.printoptions


def frombuffer(buffer: Any, dtype: Any = float, count: int = -1, offset: int = 0) -> Any:
    """A 1-D array from the bytes of ``buffer`` (copied; ``numpy.frombuffer``)."""
    return asarray(np.frombuffer(buffer, dtype=dtype, count=count, offset=offset).copy())


def fromiter(iter: Any, dtype: Any, count: int = -1) -> Any:  # noqa: A002 - NumPy's name
    """A 1-D array from an iterable of scalars (``numpy.fromiter``)."""
    return asarray(np.fromiter(iter, dtype=dtype, count=count))


def fromstring(string: str, dtype: Any = float, count: int = -1, *, sep: str) -> Any:
    """A 1-D array from text data separated by ``sep`` (``numpy.fromstring``)."""
    return asarray(np.fromstring(string, dtype=dtype, count=count, sep=sep))


def from_dlpack(x: Any, /, *, device: Any = None, copy: bool | None = None) -> Any:
    """An array from any object with ``__dlpack__`` (copied to an fxgrad array)."""
    del device
    return asarray(np.from_dlpack(x, copy=copy))
