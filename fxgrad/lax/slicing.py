"""Slicing primitives: concatenate, pad, slice, dynamic_slice, dynamic_update_slice, rev, iota.

All of them except ``iota`` are linear in their array operands, so each JVP applies the
primitive to the tangents and each transpose is the "inverse" layout change:
``slice`` <-> ``pad`` with zeros, ``concatenate`` -> slices, ``dynamic_slice`` <->
``dynamic_update_slice`` into zeros, ``rev`` -> ``rev``.

Dynamic start indices follow XLA: they are clamped so the whole slice (or update)
stays inside the operand, ``start = clamp(start, 0, dim - size)``; the wrapper
functions first wrap negative indices once (``start + dim``), as JAX does. Batching a
``dynamic_slice`` whose start indices vary over the batch turns it into a ``gather``
(and a ``dynamic_update_slice`` into a ``scatter``) with the batch axis as a batching
dimension; see ``fxgrad/lax/indexing.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from fxgrad import dtypes
from fxgrad.core import ShapedArray, Tracer, get_aval
from fxgrad.errors import FxgradTypeError, ShapeError
from fxgrad.interpreters import batching
from fxgrad.interpreters.batching import not_mapped
from fxgrad.interpreters.jvp import Zero, instantiate_zeros, jvp_rules
from fxgrad.interpreters.transpose import is_undefined_primal
from fxgrad.lax import elementwise as ew
from fxgrad.lax._define import define_primitive
from fxgrad.lax.shape import broadcast_in_dim, expand_dims, reshape, squeeze

__all__ = [
    "broadcasted_iota",
    "concatenate",
    "concatenate_p",
    "dynamic_index_in_dim",
    "dynamic_slice",
    "dynamic_slice_in_dim",
    "dynamic_slice_p",
    "dynamic_update_index_in_dim",
    "dynamic_update_slice",
    "dynamic_update_slice_in_dim",
    "dynamic_update_slice_p",
    "full",
    "index_in_dim",
    "iota",
    "iota_p",
    "pad",
    "pad_p",
    "rev",
    "rev_p",
    "slice",
    "slice_in_dim",
    "slice_p",
    "zeros_like_array",
]

_slice = slice  # the builtin, shadowed below by lax.slice


def _zeros(aval: ShapedArray) -> Any:
    return ew.full_like_aval(aval.update(weak_type=False), 0)


def bind_checked(prim: Any, *args: Any, **params: Any) -> Any:
    """``prim.bind`` after its abstract evaluation, so eager calls (which go straight to
    the NumPy implementation) raise the same named errors as traced ones."""
    prim.abstract_eval(*(get_aval(a) for a in args), **params)
    return prim.bind(*args, **params)


def _linear_jvp(prim, n_linear: int):
    """JVP of a primitive linear in its first ``n_linear`` operands (the rest are indices)."""

    def rule(primals, tangents, **params):
        out = prim.bind(*primals, **params)
        lin = [instantiate_zeros(t) for t in tangents[:n_linear]]
        return out, prim.bind(*lin, *primals[n_linear:], **params)

    return rule


def _check_int_scalars(name: str, what: str, avals: Sequence[ShapedArray], count: int) -> None:
    if len(avals) != count:
        raise ShapeError(
            f"lax.{name}: expected {count} {what} (one per operand axis), got {len(avals)}"
        )
    for i, a in enumerate(avals):
        if a.shape != () or np.dtype(a.dtype).kind not in "iu":
            raise FxgradTypeError(
                f"lax.{name}: {what} must be integer scalars, but index {i} has type "
                f"{a.str_short()}"
            )


# --- concatenate -----------------------------------------------------------------------------


def _concatenate_impl(*operands, dimension):
    return np.concatenate([np.asarray(o) for o in operands], axis=dimension)


def _concatenate_abstract_eval(*operands, dimension):
    if not operands:
        raise ShapeError("lax.concatenate: needs at least one operand")
    first = operands[0]
    if first.ndim == 0:
        raise ShapeError("lax.concatenate: cannot concatenate scalars (rank-0 operands)")
    if not 0 <= dimension < first.ndim:
        raise ShapeError(
            f"lax.concatenate: dimension {dimension} is out of bounds for operands of rank "
            f"{first.ndim}"
        )
    if len({np.dtype(o.dtype) for o in operands}) > 1:
        shown = ", ".join(o.str_short() for o in operands)
        raise FxgradTypeError(
            f"lax.concatenate: operands must have the same dtype, got {shown}. Convert them "
            "with lax.convert_element_type or use fxgrad.numpy.concatenate, which promotes."
        )
    for o in operands:
        same_rank = o.ndim == first.ndim
        if not same_rank or any(
            a != b
            for i, (a, b) in enumerate(zip(o.shape, first.shape, strict=True))
            if i != dimension
        ):
            shown = ", ".join(o.str_short() for o in operands)
            raise ShapeError(
                f"lax.concatenate: operands must have equal shapes except along dimension "
                f"{dimension}, got {shown}"
            )
    shape = list(first.shape)
    shape[dimension] = sum(o.shape[dimension] for o in operands)
    return ShapedArray(tuple(shape), first.dtype, all(o.weak_type for o in operands))


def _concatenate_transpose(ct, *operands, dimension):
    outs: list[Any] = []
    start = 0
    for o in operands:
        size = o.aval.shape[dimension] if is_undefined_primal(o) else get_aval(o).shape[dimension]
        if not is_undefined_primal(o):
            outs.append(None)
        elif type(ct) is Zero:
            outs.append(Zero(o.aval))
        else:
            outs.append(slice_in_dim(ct, start, start + size, axis=dimension))
        start += size
    return outs


def _concatenate_batch(axis_size, vals, dims, *, dimension):
    moved = [batching.bdim_at_front(x, d, axis_size) for x, d in zip(vals, dims, strict=True)]
    return concatenate_p.bind(*moved, dimension=dimension + 1), 0


concatenate_p = define_primitive(
    "concatenate",
    impl=_concatenate_impl,
    abstract_eval=_concatenate_abstract_eval,
    jvp=None,
    transpose=_concatenate_transpose,
    batch=_concatenate_batch,
    kernel="shape",
)


def _concatenate_jvp(primals, tangents, *, dimension):
    out = concatenate_p.bind(*primals, dimension=dimension)
    return out, concatenate_p.bind(*map(instantiate_zeros, tangents), dimension=dimension)


def concatenate(operands: Sequence[Any], dimension: int) -> Any:
    """Concatenate arrays of one dtype along ``dimension`` (JAX's ``lax.concatenate``).

    Args:
      operands: arrays of equal rank, dtype and shape except along ``dimension``.
      dimension: the axis to join along (non-negative).

    Returns:
      The joined array.

    Example:
      >>> import numpy as np
      >>> from fxgrad import lax
      >>> lax.concatenate([np.zeros(2), np.ones(1)], 0)
      Array([0., 0., 1.], dtype=float64)
    """
    operands = list(operands)
    if len(operands) == 1:
        return operands[0]
    return bind_checked(concatenate_p, *operands, dimension=int(dimension))


# --- pad -------------------------------------------------------------------------------------


def _pad_impl(operand, padding_value, *, padding_config):
    operand = np.asarray(operand)
    value = np.asarray(padding_value, dtype=operand.dtype)
    spread = [
        n + max(n - 1, 0) * interior
        for n, (_, _, interior) in zip(operand.shape, padding_config, strict=True)
    ]
    out = np.full(spread, value, dtype=operand.dtype)
    out[tuple(_slice(None, None, interior + 1) for _, _, interior in padding_config)] = operand
    widths = [(max(lo, 0), max(hi, 0)) for lo, hi, _ in padding_config]
    if any(w != (0, 0) for w in widths):
        out = np.pad(out, widths, constant_values=value)
    crop = tuple(
        _slice(max(-lo, 0), n - max(-hi, 0))
        for n, (lo, hi, _) in zip(out.shape, padding_config, strict=True)
    )
    return out[crop]


def _pad_abstract_eval(operand, padding_value, *, padding_config):
    if padding_value.shape != ():
        raise ShapeError(
            f"lax.pad: padding_value must be a scalar, got shape {padding_value.shape}"
        )
    if np.dtype(padding_value.dtype) != np.dtype(operand.dtype):
        raise FxgradTypeError(
            f"lax.pad: padding_value dtype {np.dtype(padding_value.dtype).name} must match the "
            f"operand dtype {np.dtype(operand.dtype).name}"
        )
    if len(padding_config) != operand.ndim:
        raise ShapeError(
            f"lax.pad: padding_config needs one (low, high, interior) triple per operand axis "
            f"({operand.ndim}), got {len(padding_config)}"
        )
    shape = []
    for axis, (n, (lo, hi, interior)) in enumerate(zip(operand.shape, padding_config, strict=True)):
        if interior < 0:
            raise ShapeError(
                f"lax.pad: interior padding must be non-negative, got {interior} on axis {axis}"
            )
        size = lo + hi + n + max(n - 1, 0) * interior
        if size < 0:
            raise ShapeError(
                f"lax.pad: padding {(lo, hi, interior)} of axis {axis} (size {n}) gives a "
                f"negative size {size}"
            )
        shape.append(size)
    return ShapedArray(tuple(shape), operand.dtype, operand.weak_type)


def _pad_transpose(ct, operand, padding_value, *, padding_config):
    if type(ct) is Zero:
        op_ct = Zero(operand.aval) if is_undefined_primal(operand) else None
        pv_ct = Zero(padding_value.aval) if is_undefined_primal(padding_value) else None
        return [op_ct, pv_ct]
    from fxgrad.lax.reduction import reduce_sum

    unpad_config = tuple((-lo, -hi, 0) for lo, hi, _ in padding_config)
    unpadded = pad(ct, np.zeros((), get_aval(ct).dtype), unpad_config)
    strides = tuple(interior + 1 for _, _, interior in padding_config)
    op_ct = slice(unpadded, (0,) * len(strides), get_aval(unpadded).shape, strides)
    pv_ct = None
    if is_undefined_primal(padding_value):
        all_axes = tuple(range(get_aval(ct).ndim))
        pv_ct = ew.sub(reduce_sum(ct, all_axes), reduce_sum(op_ct, all_axes))
    return [op_ct if is_undefined_primal(operand) else None, pv_ct]


def _pad_batch(axis_size, vals, dims, *, padding_config):
    (operand, value), (op_dim, value_dim) = vals, dims
    config = ((0, 0, 0), *padding_config)
    x = batching.bdim_at_front(operand, op_dim, axis_size)
    if value_dim is not_mapped:
        return pad_p.bind(x, value, padding_config=config), 0
    # A padding value that varies over the batch: pad with zeros, then select it in.
    aval = get_aval(x)
    padded = pad_p.bind(x, np.zeros((), aval.dtype), padding_config=config)
    ones = ew.full_like_aval(ShapedArray(aval.shape, np.dtype(bool)), True)
    mask = pad_p.bind(ones, np.asarray(False), padding_config=config)
    value = batching.moveaxis(value, value_dim, 0)
    value = broadcast_in_dim(value, get_aval(padded).shape, (0,))
    return ew.select_n(mask, value, padded), 0


pad_p = define_primitive(
    "pad",
    impl=_pad_impl,
    abstract_eval=_pad_abstract_eval,
    jvp=None,
    transpose=_pad_transpose,
    batch=_pad_batch,
    kernel="shape",
)


def pad(operand: Any, padding_value: Any, padding_config: Sequence[Sequence[int]]) -> Any:
    """Pad ``operand`` with ``padding_value`` (JAX's ``lax.pad``).

    Args:
      operand: the array to pad.
      padding_value: a scalar of the operand's dtype (Python scalars adapt).
      padding_config: one ``(low, high, interior)`` triple per axis: ``low``/``high``
        elements before/after (negative values crop), ``interior`` elements between
        each pair of neighbours.

    Returns:
      An array with axis sizes ``low + high + n + max(n - 1, 0) * interior``.

    Example:
      >>> import numpy as np
      >>> from fxgrad import lax
      >>> lax.pad(np.array([1.0, 2.0]), 0.0, [(1, -1, 1)])
      Array([0., 1., 0.], dtype=float64)
    """
    config = tuple((int(lo), int(hi), int(interior)) for lo, hi, interior in padding_config)
    dtype = get_aval(operand).dtype
    if type(padding_value) in (bool, int, float, complex):
        padding_value = dtypes.convert_scalar(padding_value, dtype)
    return bind_checked(pad_p, operand, padding_value, padding_config=config)


# --- slice -----------------------------------------------------------------------------------


def _slice_impl(operand, *, start_indices, limit_indices, strides):
    strides = strides or (1,) * len(start_indices)
    return np.asarray(operand)[
        tuple(
            _slice(s, e, st) for s, e, st in zip(start_indices, limit_indices, strides, strict=True)
        )
    ]


def _slice_shape(start_indices, limit_indices, strides):
    strides = strides or (1,) * len(start_indices)
    return tuple(
        -(-(e - s) // st) for s, e, st in zip(start_indices, limit_indices, strides, strict=True)
    )


def _slice_abstract_eval(operand, *, start_indices, limit_indices, strides):
    n = operand.ndim
    if len(start_indices) != n or len(limit_indices) != n or (strides and len(strides) != n):
        raise ShapeError(
            f"lax.slice: start_indices {start_indices}, limit_indices {limit_indices} and "
            f"strides {strides} must each have one entry per axis of the operand "
            f"(shape {operand.shape})"
        )
    for axis, (s, e, dim) in enumerate(
        zip(start_indices, limit_indices, operand.shape, strict=True)
    ):
        if not 0 <= s <= e <= dim:
            raise ShapeError(
                f"lax.slice: axis {axis} needs 0 <= start <= limit <= {dim}, got start {s} "
                f"and limit {e} for operand shape {operand.shape}"
            )
    if strides and any(st < 1 for st in strides):
        raise ShapeError(f"lax.slice: strides must be positive, got {strides}")
    shape = _slice_shape(start_indices, limit_indices, strides)
    return ShapedArray(shape, operand.dtype, operand.weak_type)


def _slice_transpose(ct, operand, *, start_indices, limit_indices, strides):
    if type(ct) is Zero:
        return [Zero(operand.aval)]
    in_shape = operand.aval.shape
    out_shape = get_aval(ct).shape
    strides = strides or (1,) * len(in_shape)
    config = []
    for s, st, n, m in zip(start_indices, strides, in_shape, out_shape, strict=True):
        real_limit = s + (m - 1) * st + 1 if m else s
        config.append((s, n - real_limit, st - 1 if m else 0))
    return [pad(ct, np.zeros((), get_aval(ct).dtype), config)]


def _slice_batch(axis_size, vals, dims, *, start_indices, limit_indices, strides):
    (x,), (d,) = vals, dims
    x = batching.moveaxis(x, d, 0)
    return (
        slice_p.bind(
            x,
            start_indices=(0, *start_indices),
            limit_indices=(axis_size, *limit_indices),
            strides=None if strides is None else (1, *strides),
        ),
        0,
    )


slice_p = define_primitive(
    "slice",
    impl=_slice_impl,
    abstract_eval=_slice_abstract_eval,
    jvp=None,
    transpose=_slice_transpose,
    batch=_slice_batch,
    kernel="shape",
)


def slice(  # noqa: A001 - JAX's name
    operand: Any,
    start_indices: Sequence[int],
    limit_indices: Sequence[int],
    strides: Sequence[int] | None = None,
) -> Any:
    """The static slice ``operand[start:limit:stride, ...]`` (JAX's ``lax.slice``).

    Args:
      operand: the array to slice.
      start_indices: per-axis start, ``0 <= start``.
      limit_indices: per-axis exclusive end, ``start <= limit <= dim``.
      strides: per-axis positive step (default 1).

    Returns:
      An array of shape ``ceil((limit - start) / stride)`` per axis.

    Example:
      >>> import numpy as np
      >>> from fxgrad import lax
      >>> lax.slice(np.arange(6.0), (1,), (6,), (2,))
      Array([1., 3., 5.], dtype=float64)
    """
    start = tuple(int(s) for s in start_indices)
    limit = tuple(int(e) for e in limit_indices)
    stride = None if strides is None else tuple(int(s) for s in strides)
    if stride is not None and all(s == 1 for s in stride):
        stride = None
    shape = get_aval(operand).shape
    if stride is None and all(s == 0 for s in start) and limit == tuple(shape):
        return operand
    return bind_checked(slice_p, operand, start_indices=start, limit_indices=limit, strides=stride)


def slice_in_dim(
    operand: Any, start_index: int | None, limit_index: int | None, stride: int = 1, axis: int = 0
) -> Any:
    """``lax.slice`` along one ``axis``; negative indices count from the end."""
    shape = get_aval(operand).shape
    axis = int(axis) % len(shape) if shape else int(axis)
    size = shape[axis]
    start = 0 if start_index is None else int(start_index)
    limit = size if limit_index is None else int(limit_index)
    start = start + size if start < 0 else start
    limit = limit + size if limit < 0 else limit
    starts = [0] * len(shape)
    limits = list(shape)
    strides = [1] * len(shape)
    starts[axis], limits[axis], strides[axis] = start, limit, int(stride)
    return slice(operand, starts, limits, strides)


def index_in_dim(operand: Any, index: int, axis: int = 0, keepdims: bool = True) -> Any:
    """The ``index``-th entry along ``axis`` (kept as a size-1 axis unless ``keepdims=False``)."""
    shape = get_aval(operand).shape
    axis = int(axis) % len(shape) if shape else int(axis)
    index = int(index)
    size = shape[axis]
    if not -size <= index < size:
        raise IndexError(f"index {index} is out of bounds for axis {axis} with size {size}")
    index = index + size if index < 0 else index
    out = slice_in_dim(operand, index, index + 1, 1, axis)
    return out if keepdims else squeeze(out, (axis,))


# --- dynamic_slice ---------------------------------------------------------------------------


def _clamped_starts(shape, starts, sizes):
    return [
        min(max(int(np.asarray(s)), 0), n - k) for n, s, k in zip(shape, starts, sizes, strict=True)
    ]


def _dynamic_slice_impl(operand, *start_indices, slice_sizes):
    operand = np.asarray(operand)
    starts = _clamped_starts(operand.shape, start_indices, slice_sizes)
    return operand[tuple(_slice(s, s + k) for s, k in zip(starts, slice_sizes, strict=True))]


def _dynamic_slice_abstract_eval(operand, *start_indices, slice_sizes):
    _check_int_scalars("dynamic_slice", "start indices", start_indices, operand.ndim)
    if len(slice_sizes) != operand.ndim or any(
        not 0 <= k <= n for k, n in zip(slice_sizes, operand.shape, strict=True)
    ):
        raise ShapeError(
            f"lax.dynamic_slice: slice_sizes {slice_sizes} must have one entry per axis of the "
            f"operand, each between 0 and the axis size (operand shape {operand.shape})"
        )
    return ShapedArray(tuple(slice_sizes), operand.dtype, operand.weak_type)


def _dynamic_slice_transpose(ct, operand, *start_indices, slice_sizes):
    nones = [None] * len(start_indices)
    if type(ct) is Zero:
        return [Zero(operand.aval), *nones]
    zeros = _zeros(operand.aval.update(dtype=get_aval(ct).dtype))
    return [dynamic_update_slice_p.bind(zeros, ct, *start_indices), *nones]


def _stack_indices(axis_size, indices, dims):
    """Scalar indices (some batched) as one ``(axis_size, len(indices))`` index array."""
    dtype = np.result_type(*[get_aval(i).dtype for i in indices])
    cols = []
    for i, d in zip(indices, dims, strict=True):
        i = ew.convert_element_type(i, dtype)
        i = batching.bdim_at_front(i, d, axis_size)
        cols.append(reshape(i, (axis_size, 1)))
    return concatenate(cols, 1)


def _dynamic_slice_batch(axis_size, vals, dims, *, slice_sizes):
    operand, *starts = vals
    op_dim, *start_dims = dims
    if all(d is not_mapped for d in start_dims):
        x = batching.moveaxis(operand, op_dim, 0)
        zero = np.zeros((), get_aval(starts[0]).dtype if starts else np.int64)
        return dynamic_slice_p.bind(x, zero, *starts, slice_sizes=(axis_size, *slice_sizes)), 0
    from fxgrad.lax import indexing

    n = len(slice_sizes)
    indices = _stack_indices(axis_size, starts, start_dims)
    mode = indexing.GatherScatterMode.CLIP
    if op_dim is not_mapped:
        dnums = indexing.GatherDimensionNumbers(
            offset_dims=tuple(range(1, n + 1)),
            collapsed_slice_dims=(),
            start_index_map=tuple(range(n)),
        )
        return indexing.gather(operand, indices, dnums, slice_sizes, mode=mode), 0
    x = batching.moveaxis(operand, op_dim, 0)
    dnums = indexing.GatherDimensionNumbers(
        offset_dims=tuple(range(1, n + 1)),
        collapsed_slice_dims=(),
        start_index_map=tuple(range(1, n + 1)),
        operand_batching_dims=(0,),
        start_indices_batching_dims=(0,),
    )
    return indexing.gather(x, indices, dnums, (1, *slice_sizes), mode=mode), 0


dynamic_slice_p = define_primitive(
    "dynamic_slice",
    impl=_dynamic_slice_impl,
    abstract_eval=_dynamic_slice_abstract_eval,
    jvp=None,
    transpose=_dynamic_slice_transpose,
    batch=_dynamic_slice_batch,
    kernel="shape",
)


def _index_array(i: Any) -> Any:
    if isinstance(i, (int, np.integer)) and not isinstance(i, bool):
        return np.asarray(i, dtype=dtypes.default_int_dtype())
    return i


def _normalize_starts(
    fn_name: str, shape: Sequence[int], start_indices: Any, allow_negative: Any
) -> list[Any]:
    """Start indices as integer scalars, negative ones wrapped once (``i + dim``)."""
    aval = None if isinstance(start_indices, (list, tuple)) else get_aval(start_indices)
    if aval is not None:
        if aval.ndim != 1:
            raise ShapeError(
                f"lax.{fn_name}: start_indices must be a sequence or a 1-D array, got an "
                f"array of shape {aval.shape}"
            )
        start_indices = [
            squeeze(slice(start_indices, (k,), (k + 1,)), (0,)) for k in range(aval.shape[0])
        ]
    starts = list(start_indices)
    if len(starts) != len(shape):
        raise ShapeError(
            f"lax.{fn_name}: got {len(starts)} start indices for an operand of rank "
            f"{len(shape)}; pass one per axis"
        )
    if isinstance(allow_negative, bool):
        allow_negative = [allow_negative] * len(shape)
    out = []
    for s, n, allow in zip(starts, shape, allow_negative, strict=True):
        if isinstance(s, (int, np.integer)) and not isinstance(s, bool):
            s = int(s)
            out.append(_index_array(s + n if allow and s < 0 else s))
            continue
        s_aval = get_aval(s)
        if s_aval.shape != () or np.dtype(s_aval.dtype).kind not in "iu":
            raise FxgradTypeError(
                f"lax.{fn_name}: start indices must be integer scalars, got {s_aval.str_short()}"
            )
        if allow and np.dtype(s_aval.dtype).kind == "i":
            n_arr = np.asarray(n, s_aval.dtype)
            s = ew.select_n(ew.lt(s, np.zeros((), s_aval.dtype)), s, ew.add(s, n_arr))
        out.append(s)
    return out


def dynamic_slice(
    operand: Any,
    start_indices: Any,
    slice_sizes: Sequence[int],
    *,
    allow_negative_indices: bool | Sequence[bool] = True,
) -> Any:
    """The slice of static size ``slice_sizes`` starting at traced ``start_indices``.

    Negative start indices count from the end; the start is then clamped so the
    slice lies inside ``operand`` (XLA's semantics, as in JAX).

    Example:
      >>> import numpy as np
      >>> from fxgrad import lax
      >>> lax.dynamic_slice(np.arange(5.0), (4,), (2,))
      Array([3., 4.], dtype=float64)
    """
    shape = get_aval(operand).shape
    starts = _normalize_starts("dynamic_slice", shape, start_indices, allow_negative_indices)
    sizes = tuple(int(k) for k in slice_sizes)
    return bind_checked(dynamic_slice_p, operand, *starts, slice_sizes=sizes)


def dynamic_slice_in_dim(
    operand: Any,
    start_index: Any,
    slice_size: int,
    axis: int = 0,
    *,
    allow_negative_indices: bool = True,
) -> Any:
    """``dynamic_slice`` along one ``axis`` (full size along the others)."""
    shape = get_aval(operand).shape
    axis = int(axis) % len(shape)
    starts: list[Any] = [0] * len(shape)
    sizes = list(shape)
    starts[axis], sizes[axis] = start_index, int(slice_size)
    return dynamic_slice(operand, starts, sizes, allow_negative_indices=allow_negative_indices)


def dynamic_index_in_dim(
    operand: Any,
    index: Any,
    axis: int = 0,
    keepdims: bool = True,
    *,
    allow_negative_indices: bool = True,
) -> Any:
    """The entry at traced ``index`` along ``axis`` (clamped into range)."""
    shape = get_aval(operand).shape
    axis = int(axis) % len(shape)
    out = dynamic_slice_in_dim(
        operand, index, 1, axis, allow_negative_indices=allow_negative_indices
    )
    return out if keepdims else squeeze(out, (axis,))


# --- dynamic_update_slice --------------------------------------------------------------------


def _dynamic_update_slice_impl(operand, update, *start_indices):
    out = np.array(operand, copy=True)
    update = np.asarray(update)
    starts = _clamped_starts(out.shape, start_indices, update.shape)
    out[tuple(_slice(s, s + k) for s, k in zip(starts, update.shape, strict=True))] = update
    return out


def _dynamic_update_slice_abstract_eval(operand, update, *start_indices):
    _check_int_scalars("dynamic_update_slice", "start indices", start_indices, operand.ndim)
    if np.dtype(operand.dtype) != np.dtype(update.dtype):
        raise FxgradTypeError(
            f"lax.dynamic_update_slice: update dtype {np.dtype(update.dtype).name} must match "
            f"the operand dtype {np.dtype(operand.dtype).name}"
        )
    if update.ndim != operand.ndim or any(
        u > n for u, n in zip(update.shape, operand.shape, strict=True)
    ):
        raise ShapeError(
            f"lax.dynamic_update_slice: update of shape {update.shape} must have the operand's "
            f"rank and fit inside the operand of shape {operand.shape}"
        )
    return ShapedArray(operand.shape, operand.dtype, operand.weak_type)


def _dynamic_update_slice_transpose(ct, operand, update, *start_indices):
    nones = [None] * len(start_indices)
    op_undef, up_undef = is_undefined_primal(operand), is_undefined_primal(update)
    up_aval = update.aval if up_undef else get_aval(update)
    if type(ct) is Zero:
        return [
            Zero(operand.aval) if op_undef else None,
            Zero(update.aval) if up_undef else None,
            *nones,
        ]
    op_ct = up_ct = None
    if op_undef:
        zeros = _zeros(up_aval.update(dtype=get_aval(ct).dtype))
        op_ct = dynamic_update_slice_p.bind(ct, zeros, *start_indices)
    if up_undef:
        up_ct = dynamic_slice_p.bind(ct, *start_indices, slice_sizes=tuple(up_aval.shape))
    return [op_ct, up_ct, *nones]


def _dynamic_update_slice_batch(axis_size, vals, dims):
    operand, update, *starts = vals
    op_dim, up_dim, *start_dims = dims
    x = batching.bdim_at_front(operand, op_dim, axis_size)
    u = batching.bdim_at_front(update, up_dim, axis_size)
    if all(d is not_mapped for d in start_dims):
        zero = np.zeros((), get_aval(starts[0]).dtype if starts else np.int64)
        return dynamic_update_slice_p.bind(x, u, zero, *starts), 0
    from fxgrad.lax import indexing

    n = len(starts)
    indices = _stack_indices(axis_size, starts, start_dims)
    dnums = indexing.ScatterDimensionNumbers(
        update_window_dims=tuple(range(1, n + 1)),
        inserted_window_dims=(),
        scatter_dims_to_operand_dims=tuple(range(1, n + 1)),
        operand_batching_dims=(0,),
        scatter_indices_batching_dims=(0,),
    )
    mode = indexing.GatherScatterMode.CLIP
    return indexing.scatter(x, indices, u, dnums, unique_indices=True, mode=mode), 0


dynamic_update_slice_p = define_primitive(
    "dynamic_update_slice",
    impl=_dynamic_update_slice_impl,
    abstract_eval=_dynamic_update_slice_abstract_eval,
    jvp=None,
    transpose=_dynamic_update_slice_transpose,
    batch=_dynamic_update_slice_batch,
    kernel="shape",
)


def dynamic_update_slice(
    operand: Any,
    update: Any,
    start_indices: Any,
    *,
    allow_negative_indices: bool | Sequence[bool] = True,
) -> Any:
    """``operand`` with ``update`` written at traced ``start_indices``.

    Negative start indices count from the end; the start is then clamped so the whole
    update lies inside ``operand`` (XLA's semantics, as in JAX).

    Example:
      >>> import numpy as np
      >>> from fxgrad import lax
      >>> lax.dynamic_update_slice(np.zeros(4), np.ones(2), (3,))
      Array([0., 0., 1., 1.], dtype=float64)
    """
    shape = get_aval(operand).shape
    starts = _normalize_starts("dynamic_update_slice", shape, start_indices, allow_negative_indices)
    dtype = get_aval(operand).dtype
    if type(update) in (bool, int, float, complex):
        update = dtypes.convert_scalar(update, dtype)
    return bind_checked(dynamic_update_slice_p, operand, update, *starts)


def dynamic_update_slice_in_dim(
    operand: Any, update: Any, start_index: Any, axis: int, *, allow_negative_indices: bool = True
) -> Any:
    """``dynamic_update_slice`` at ``start_index`` along ``axis`` (0 along the others)."""
    ndim = get_aval(operand).ndim
    axis = int(axis) % ndim
    starts: list[Any] = [0] * ndim
    starts[axis] = start_index
    return dynamic_update_slice(
        operand, update, starts, allow_negative_indices=allow_negative_indices
    )


def dynamic_update_index_in_dim(
    operand: Any, update: Any, index: Any, axis: int, *, allow_negative_indices: bool = True
) -> Any:
    """Write ``update`` (without or with a size-1 ``axis``) at ``index`` along ``axis``."""
    ndim = get_aval(operand).ndim
    axis = int(axis) % ndim
    if get_aval(update).ndim == ndim - 1:
        update = expand_dims(update, (axis,))
    return dynamic_update_slice_in_dim(
        operand, update, index, axis, allow_negative_indices=allow_negative_indices
    )


# --- rev -------------------------------------------------------------------------------------


def _rev_impl(operand, *, dimensions):
    operand = np.asarray(operand)
    return np.flip(operand, dimensions) if dimensions else operand


def _rev_abstract_eval(operand, *, dimensions):
    if len(set(dimensions)) != len(dimensions) or any(
        not 0 <= d < operand.ndim for d in dimensions
    ):
        raise ShapeError(
            f"lax.rev: dimensions {dimensions} must be distinct axes of the operand "
            f"(rank {operand.ndim})"
        )
    return operand


def _rev_transpose(ct, operand, *, dimensions):
    if type(ct) is Zero:
        return [Zero(operand.aval)]
    return [rev_p.bind(ct, dimensions=dimensions)]


def _rev_batch(axis_size, vals, dims, *, dimensions):
    (x,), (d,) = vals, dims
    x = batching.moveaxis(x, d, 0)
    return rev_p.bind(x, dimensions=tuple(a + 1 for a in dimensions)), 0


rev_p = define_primitive(
    "rev",
    impl=_rev_impl,
    abstract_eval=_rev_abstract_eval,
    jvp=None,
    transpose=_rev_transpose,
    batch=_rev_batch,
    kernel="shape",
)


def rev(operand: Any, dimensions: Sequence[int]) -> Any:
    """Reverse ``operand`` along each axis in ``dimensions``.

    Example:
      >>> import numpy as np
      >>> from fxgrad import lax
      >>> lax.rev(np.arange(3.0), (0,))
      Array([2., 1., 0.], dtype=float64)
    """
    ndim = get_aval(operand).ndim
    dims = tuple(sorted({int(d) % ndim if ndim else int(d) for d in dimensions}))
    if not dims:
        return operand
    return bind_checked(rev_p, operand, dimensions=dims)


# --- iota ------------------------------------------------------------------------------------


def _iota_impl(*, dtype, shape, dimension):
    ramp = np.arange(shape[dimension], dtype=dtype)
    expanded = [1] * len(shape)
    expanded[dimension] = shape[dimension]
    return np.array(np.broadcast_to(ramp.reshape(expanded), shape))


def _iota_abstract_eval(*, dtype, shape, dimension):
    if not 0 <= dimension < len(shape) or any(s < 0 for s in shape):
        raise ShapeError(
            f"lax.iota: dimension {dimension} must be an axis of the non-negative shape {shape}"
        )
    if np.dtype(dtype).kind not in "iuf":
        raise FxgradTypeError(f"lax.iota: dtype must be integer or floating, got {dtype}")
    return ShapedArray(tuple(shape), np.dtype(dtype), False)


iota_p = define_primitive(
    "iota",
    impl=_iota_impl,
    abstract_eval=_iota_abstract_eval,
    jvp=None,
    batch=None,
    kernel="elementwise",
    kernel_op="iota",
)


def broadcasted_iota(dtype: Any, shape: Sequence[int], dimension: int) -> Any:
    """An array of ``shape`` whose value is the index along ``dimension``.

    Example:
      >>> from fxgrad import lax
      >>> lax.broadcasted_iota("int64", (2, 3), 1)
      Array([[0, 1, 2],
             [0, 1, 2]], dtype=int64)
    """
    shape = tuple(int(s) for s in shape)
    dimension = int(dimension)
    dimension = dimension + len(shape) if dimension < 0 else dimension
    dtype = dtypes.canonicalize_dtype(dtype)
    return bind_checked(iota_p, dtype=dtype, shape=shape, dimension=dimension)


def iota(dtype: Any, size: int) -> Any:
    """``[0, 1, ..., size - 1]`` of ``dtype`` (JAX's ``lax.iota``)."""
    return broadcasted_iota(dtype, (int(size),), 0)


# --- helpers ---------------------------------------------------------------------------------


def full(shape: Sequence[int], fill_value: Any, dtype: Any = None) -> Any:
    """An array of ``shape`` filled with the scalar ``fill_value`` (JAX's ``lax.full``).

    Example:
      >>> from fxgrad import lax
      >>> lax.full((2,), 3.0)  # a Python scalar fill is weakly typed, as in JAX
      Array([3., 3.], dtype=float64, weak_type=True)
      >>> lax.full((2,), 3, "float32")
      Array([3., 3.], dtype=float32)
    """
    shape = tuple(int(s) for s in shape)
    aval = get_aval(fill_value)
    if aval.shape != ():
        raise ShapeError(f"lax.full: fill_value must be a scalar, got shape {aval.shape}")
    dtype = dtypes.canonicalize_dtype(dtype) if dtype is not None else aval.dtype
    if isinstance(fill_value, Tracer):
        return broadcast_in_dim(ew.convert_element_type(fill_value, dtype), shape, ())
    from fxgrad.array import Array

    weak = aval.weak_type and dtype == aval.dtype
    return Array(np.full(shape, np.asarray(fill_value).astype(dtype)), weak_type=weak)


def zeros_like_array(x: Any) -> Any:
    """Zeros with the shape and dtype of ``x``."""
    return _zeros(get_aval(x))


for _prim, _n in (
    (concatenate_p, None),
    (pad_p, 2),
    (slice_p, 1),
    (dynamic_slice_p, 1),
    (dynamic_update_slice_p, 2),
    (rev_p, 1),
):
    jvp_rules[_prim] = _concatenate_jvp if _n is None else _linear_jvp(_prim, _n)
