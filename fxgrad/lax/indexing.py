"""Gather and scatter: XLA's general indexing primitives, with JAX's signatures.

``gather`` takes slices of ``operand`` of static size ``slice_sizes`` at the start
positions listed in ``start_indices`` (its last axis is the index vector).
``scatter`` and its combining variants (``scatter_add``/``mul``/``min``/``max``) write
windows of ``updates`` at such positions. The dimension numbers follow XLA's operation
semantics (https://openxla.org/xla/operation_semantics#gather), batching dimensions
included: an operand batching dimension is indexed by the position along the matching
``start_indices`` dimension, which is how ``vmap`` batches both sides at once.

Out-of-bounds start positions (``mode``): ``'clip'`` clamps each start so the whole
slice or window is in bounds; ``'fill'`` (gather) returns ``fill_value`` for a slice
that would leave the operand; ``'drop'`` (scatter) skips such a window;
``'promise_in_bounds'`` clamps for gather and drops for scatter (what XLA does). The
default is ``'clip'`` for gather and ``'drop'`` for scatter, as in JAX.

Differentiation: ``gather`` is linear in the operand and transposes to ``scatter_add``
into zeros; ``scatter_add`` transposes to ``gather`` (updates) and the identity
(operand). ``scatter``'s JVP uses JAX's trick for colliding indices: scatter integer ids
to find which update won each location, mask the losers, then ``scatter_add`` primals
and tangents alike. ``scatter_mul`` differentiates in its updates only for
``unique_indices=True``; ``scatter_min``/``scatter_max`` split the tangent evenly
between ties, like ``reduce_max``. The NumPy implementations are vectorised
(fancy indexing and ``np.<ufunc>.at``).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from fxgrad import dtypes
from fxgrad.core import ShapedArray, get_aval
from fxgrad.errors import FxgradTypeError, MissingRuleError, ShapeError
from fxgrad.interpreters import batching
from fxgrad.interpreters.batching import not_mapped
from fxgrad.interpreters.jvp import Zero, instantiate_zeros, jvp_rules
from fxgrad.interpreters.transpose import is_undefined_primal
from fxgrad.lax import elementwise as ew
from fxgrad.lax._define import define_primitive
from fxgrad.lax.slicing import bind_checked

__all__ = [
    "GatherDimensionNumbers",
    "GatherScatterMode",
    "ScatterDimensionNumbers",
    "gather",
    "gather_p",
    "scatter",
    "scatter_add",
    "scatter_add_p",
    "scatter_max",
    "scatter_max_p",
    "scatter_min",
    "scatter_min_p",
    "scatter_mul",
    "scatter_mul_p",
    "scatter_p",
]


class GatherScatterMode(enum.Enum):
    """How gather and scatter treat out-of-bounds indices (see the module docstring)."""

    CLIP = "clip"
    FILL_OR_DROP = "fill"
    PROMISE_IN_BOUNDS = "promise_in_bounds"

    @staticmethod
    def from_any(mode: Any, default: GatherScatterMode) -> GatherScatterMode:
        if mode is None:
            return default
        if isinstance(mode, GatherScatterMode):
            return mode
        names = {"clip": "CLIP", "fill": "FILL_OR_DROP", "drop": "FILL_OR_DROP"}
        names["promise_in_bounds"] = "PROMISE_IN_BOUNDS"
        if mode not in names:
            raise ValueError(
                f"unknown gather/scatter mode {mode!r}; use 'clip', 'fill', 'drop' or "
                "'promise_in_bounds'"
            )
        return GatherScatterMode[names[mode]]


class GatherDimensionNumbers(NamedTuple):
    """How the axes of operand, start indices and output of a gather correspond.

    Attributes:
      offset_dims: output axes holding the slice axes (sorted), in operand order.
      collapsed_slice_dims: operand axes of slice size 1 left out of the output.
      start_index_map: ``start_indices[..., k]`` indexes operand axis ``start_index_map[k]``.
      operand_batching_dims: operand axes indexed by the position along the matching
        ``start_indices_batching_dims`` axis of the indices (sorted).
      start_indices_batching_dims: the matching axes of ``start_indices``.
    """

    offset_dims: tuple[int, ...]
    collapsed_slice_dims: tuple[int, ...]
    start_index_map: tuple[int, ...]
    operand_batching_dims: tuple[int, ...] = ()
    start_indices_batching_dims: tuple[int, ...] = ()


class ScatterDimensionNumbers(NamedTuple):
    """How the axes of operand, scatter indices and updates of a scatter correspond.

    Attributes:
      update_window_dims: updates axes holding the window axes (sorted).
      inserted_window_dims: operand axes of window size 1 absent from the updates.
      scatter_dims_to_operand_dims: ``indices[..., k]`` indexes operand axis ``[k]``.
      operand_batching_dims: operand axes indexed by the position along the matching
        ``scatter_indices_batching_dims`` axis of the indices (sorted).
      scatter_indices_batching_dims: the matching axes of the indices.
    """

    update_window_dims: tuple[int, ...]
    inserted_window_dims: tuple[int, ...]
    scatter_dims_to_operand_dims: tuple[int, ...]
    operand_batching_dims: tuple[int, ...] = ()
    scatter_indices_batching_dims: tuple[int, ...] = ()


def _canonical_dnums(dnums: Any, cls: type) -> Any:
    if isinstance(dnums, dict):
        dnums = cls(**dnums)
    return cls(*(tuple(int(d) for d in field) for field in dnums))


def default_fill_value(dtype: np.dtype) -> Any:
    """NaN for inexact dtypes, the most negative (signed) / largest (unsigned) integer, True."""
    dtype = np.dtype(dtype)
    if dtype.kind in "fc":
        return np.nan
    if dtype.kind == "i":
        return int(np.iinfo(dtype).min)
    if dtype.kind == "u":
        return int(np.iinfo(dtype).max)
    return True


# ---------------------------------------------------------------------------------------------
# Shared NumPy machinery: the operand positions addressed by each index vector
# ---------------------------------------------------------------------------------------------


def _window_starts(operand_shape, indices, index_map, batching_pairs, window):
    """Per-row start positions ``(B, ndim)`` and a mask of rows whose window is in bounds.

    ``indices`` has shape ``batch_shape + (K,)``; row ``b`` of the result is the start of
    the window addressed by the ``b``-th index vector (batch axes flattened, C order).
    """
    batch_shape = indices.shape[:-1]
    n_rows = int(np.prod(batch_shape, dtype=np.int64))
    rows = indices.reshape(n_rows, indices.shape[-1]).astype(np.int64)
    starts = np.zeros((rows.shape[0], len(operand_shape)), np.int64)
    for k, d in enumerate(index_map):
        starts[:, d] = rows[:, k]
    upper = np.asarray(operand_shape, np.int64) - np.asarray(window, np.int64)
    mapped = list(index_map)
    in_bounds = np.all((starts[:, mapped] >= 0) & (starts[:, mapped] <= upper[mapped]), axis=1)
    starts = np.clip(starts, 0, np.maximum(upper, 0))
    if batching_pairs:
        grid = np.indices(batch_shape, dtype=np.int64).reshape(len(batch_shape), -1)
        for operand_dim, indices_dim in batching_pairs:
            starts[:, operand_dim] = grid[indices_dim]
    return starts, in_bounds


def _window_positions(starts, window):
    """Fancy-index tuple addressing, for each row, its whole window ``(B, *window)``."""
    n_rows, ndim = starts.shape
    positions = []
    for d in range(ndim):
        shape = [n_rows] + [1] * ndim
        ramp_shape = [1] * (ndim + 1)
        ramp_shape[d + 1] = window[d]
        ramp = np.arange(window[d], dtype=np.int64).reshape(ramp_shape)
        positions.append(starts[:, d].reshape(shape) + ramp)
    return tuple(positions)


# ---------------------------------------------------------------------------------------------
# gather
# ---------------------------------------------------------------------------------------------


def _gather_impl(
    operand,
    indices,
    *,
    dimension_numbers,
    slice_sizes,
    indices_are_sorted,
    unique_indices,
    mode,
    fill_value,
):
    operand, indices = np.asarray(operand), np.asarray(indices)
    dn = dimension_numbers
    batch_shape = indices.shape[:-1]
    pairs = list(zip(dn.operand_batching_dims, dn.start_indices_batching_dims, strict=True))
    starts, in_bounds = _window_starts(
        operand.shape, indices, dn.start_index_map, pairs, slice_sizes
    )
    if operand.size == 0 or starts.shape[0] == 0:
        vals = np.zeros((starts.shape[0], *slice_sizes), operand.dtype)
    else:
        vals = operand[_window_positions(starts, slice_sizes)]
    if mode is GatherScatterMode.FILL_OR_DROP:
        fill = default_fill_value(operand.dtype) if fill_value is None else fill_value
        mask = in_bounds.reshape((-1,) + (1,) * operand.ndim)
        vals = np.where(mask, vals, np.asarray(fill).astype(operand.dtype))
    dropped = set(dn.collapsed_slice_dims) | set(dn.operand_batching_dims)
    offset_sizes = [k for d, k in enumerate(slice_sizes) if d not in dropped]
    vals = vals.reshape(tuple(batch_shape) + tuple(offset_sizes))
    return vals.transpose(_gather_out_permutation(len(batch_shape), dn.offset_dims))


def _gather_out_permutation(n_batch: int, offset_dims: Sequence[int]) -> list[int]:
    """Maps ``[batch axes..., offset axes...]`` to the output order given by offset_dims."""
    out_ndim = n_batch + len(offset_dims)
    perm, next_batch = [], 0
    for p in range(out_ndim):
        if p in offset_dims:
            perm.append(n_batch + list(offset_dims).index(p))
        else:
            perm.append(next_batch)
            next_batch += 1
    return perm


def _check_axes(fn: str, what: str, axes: Sequence[int], ndim: int, sort: bool) -> None:
    if any(not 0 <= a < ndim for a in axes) or len(set(axes)) != len(axes):
        raise ShapeError(f"lax.{fn}: {what} {tuple(axes)} must be distinct axes below {ndim}")
    if sort and list(axes) != sorted(axes):
        raise ShapeError(f"lax.{fn}: {what} {tuple(axes)} must be sorted")


def _check_indices(fn: str, indices: ShapedArray, n_index: int) -> None:
    if np.dtype(indices.dtype).kind not in "iu":
        raise FxgradTypeError(
            f"lax.{fn}: indices must have an integer dtype, got {indices.str_short()}"
        )
    if indices.ndim == 0 or indices.shape[-1] != n_index:
        raise ShapeError(
            f"lax.{fn}: the last axis of the indices (shape {indices.shape}) is the index "
            f"vector and must have size {n_index}, the number of mapped operand axes"
        )


def _check_batching(fn, operand, indices, operand_dims, indices_dims, names):
    if len(operand_dims) != len(indices_dims):
        raise ShapeError(
            f"lax.{fn}: {names[0]} {operand_dims} and {names[1]} {indices_dims} must have "
            "equal lengths"
        )
    _check_axes(fn, names[0], operand_dims, operand.ndim, sort=True)
    _check_axes(fn, names[1], indices_dims, indices.ndim - 1, sort=False)
    for od, idim in zip(operand_dims, indices_dims, strict=True):
        if operand.shape[od] != indices.shape[idim]:
            raise ShapeError(
                f"lax.{fn}: operand batching axis {od} (size {operand.shape[od]}) and indices "
                f"batching axis {idim} (size {indices.shape[idim]}) must have equal sizes"
            )


def _gather_abstract_eval(operand, indices, *, dimension_numbers, slice_sizes, **_):
    dn = dimension_numbers
    _check_indices("gather", indices, len(dn.start_index_map))
    _check_axes("gather", "start_index_map", dn.start_index_map, operand.ndim, sort=False)
    _check_axes("gather", "collapsed_slice_dims", dn.collapsed_slice_dims, operand.ndim, True)
    names = ("operand_batching_dims", "start_indices_batching_dims")
    _check_batching(
        "gather", operand, indices, dn.operand_batching_dims, dn.start_indices_batching_dims, names
    )
    dropped = set(dn.collapsed_slice_dims) | set(dn.operand_batching_dims)
    if len(dropped) != len(dn.collapsed_slice_dims) + len(dn.operand_batching_dims):
        raise ShapeError("lax.gather: collapsed_slice_dims and operand_batching_dims overlap")
    if set(dn.operand_batching_dims) & set(dn.start_index_map):
        raise ShapeError("lax.gather: operand_batching_dims must not appear in start_index_map")
    if len(slice_sizes) != operand.ndim or any(
        not 0 <= k <= n for k, n in zip(slice_sizes, operand.shape, strict=True)
    ):
        raise ShapeError(
            f"lax.gather: slice_sizes {tuple(slice_sizes)} need one entry per operand axis, "
            f"each between 0 and the axis size (operand shape {operand.shape})"
        )
    if any(slice_sizes[d] != 1 for d in dropped):
        raise ShapeError(
            f"lax.gather: collapsed and batching axes need slice size 1, got slice_sizes "
            f"{tuple(slice_sizes)}"
        )
    offset_sizes = [k for d, k in enumerate(slice_sizes) if d not in dropped]
    out_ndim = indices.ndim - 1 + len(offset_sizes)
    if len(dn.offset_dims) != len(offset_sizes):
        raise ShapeError(
            f"lax.gather: offset_dims {dn.offset_dims} must list {len(offset_sizes)} output "
            "axes, one per operand axis that is neither collapsed nor batched"
        )
    _check_axes("gather", "offset_dims", dn.offset_dims, out_ndim, sort=True)
    batch_shape = list(indices.shape[:-1])
    shape = []
    for p in range(out_ndim):
        if p in dn.offset_dims:
            shape.append(offset_sizes[dn.offset_dims.index(p)])
        else:
            shape.append(batch_shape.pop(0))
    return ShapedArray(tuple(shape), operand.dtype, operand.weak_type)


def _gather_jvp(primals, tangents, **params):
    operand, indices = primals
    t_operand = tangents[0]
    out = gather_p.bind(operand, indices, **params)
    if type(t_operand) is Zero:
        return out, Zero(get_aval(out).update(dtype=t_operand.aval.dtype))
    return out, gather_p.bind(t_operand, indices, **{**params, "fill_value": 0})


def _scatter_dnums_of(dn: GatherDimensionNumbers) -> ScatterDimensionNumbers:
    return ScatterDimensionNumbers(
        update_window_dims=dn.offset_dims,
        inserted_window_dims=dn.collapsed_slice_dims,
        scatter_dims_to_operand_dims=dn.start_index_map,
        operand_batching_dims=dn.operand_batching_dims,
        scatter_indices_batching_dims=dn.start_indices_batching_dims,
    )


def _gather_transpose(ct, operand, indices, *, dimension_numbers, mode, **params):
    assert is_undefined_primal(operand) and not is_undefined_primal(indices)
    if type(ct) is Zero:
        return [Zero(operand.aval), None]
    zeros = ew.full_like_aval(operand.aval.update(dtype=get_aval(ct).dtype, weak_type=False), 0)
    # A filled slice received no operand value, so its cotangent is dropped; a clamped
    # slice read the clamped window, so its cotangent goes there.
    scatter_mode = GatherScatterMode.FILL_OR_DROP
    if mode is not GatherScatterMode.FILL_OR_DROP:
        scatter_mode = GatherScatterMode.CLIP
    out = scatter_add_p.bind(
        zeros,
        indices,
        ct,
        dimension_numbers=_scatter_dnums_of(dimension_numbers),
        indices_are_sorted=params["indices_are_sorted"],
        unique_indices=params["unique_indices"],
        mode=scatter_mode,
    )
    return [out, None]


def _shift(axes: Sequence[int]) -> tuple[int, ...]:
    return tuple(a + 1 for a in axes)


def _gather_batch(axis_size, vals, dims, *, dimension_numbers, slice_sizes, **params):
    (operand, indices), (op_dim, idx_dim) = vals, dims
    dn = dimension_numbers
    if idx_dim is not_mapped:
        # The batch axis is one more slice axis, taken whole.
        x = batching.moveaxis(operand, op_dim, 0)
        new = GatherDimensionNumbers(
            offset_dims=(0, *_shift(dn.offset_dims)),
            collapsed_slice_dims=_shift(dn.collapsed_slice_dims),
            start_index_map=_shift(dn.start_index_map),
            operand_batching_dims=_shift(dn.operand_batching_dims),
            start_indices_batching_dims=dn.start_indices_batching_dims,
        )
        sizes = (axis_size, *slice_sizes)
        out = gather_p.bind(x, indices, dimension_numbers=new, slice_sizes=sizes, **params)
        return out, 0
    idx = batching.moveaxis(indices, idx_dim, 0)
    if op_dim is not_mapped:
        # The batch axis is one more index batch axis: the first output batch axis.
        new = dn._replace(
            offset_dims=_shift(dn.offset_dims),
            start_indices_batching_dims=_shift(dn.start_indices_batching_dims),
        )
        out = gather_p.bind(operand, idx, dimension_numbers=new, slice_sizes=slice_sizes, **params)
        return out, 0
    x = batching.moveaxis(operand, op_dim, 0)
    new = GatherDimensionNumbers(
        offset_dims=_shift(dn.offset_dims),
        collapsed_slice_dims=_shift(dn.collapsed_slice_dims),
        start_index_map=_shift(dn.start_index_map),
        operand_batching_dims=(0, *_shift(dn.operand_batching_dims)),
        start_indices_batching_dims=(0, *_shift(dn.start_indices_batching_dims)),
    )
    sizes = (1, *slice_sizes)
    return gather_p.bind(x, idx, dimension_numbers=new, slice_sizes=sizes, **params), 0


gather_p = define_primitive(
    "gather",
    impl=_gather_impl,
    abstract_eval=_gather_abstract_eval,
    jvp=_gather_jvp,
    transpose=_gather_transpose,
    batch=_gather_batch,
    kernel="library",
)


def gather(
    operand: Any,
    start_indices: Any,
    dimension_numbers: GatherDimensionNumbers,
    slice_sizes: Sequence[int],
    *,
    unique_indices: bool = False,
    indices_are_sorted: bool = False,
    mode: str | GatherScatterMode | None = None,
    fill_value: Any = None,
) -> Any:
    """XLA's gather: slices of ``operand`` at the positions in ``start_indices``.

    Args:
      operand: the array to take slices from.
      start_indices: integer array whose last axis is the index vector.
      dimension_numbers: a ``GatherDimensionNumbers``.
      slice_sizes: the slice size along each operand axis.
      unique_indices, indices_are_sorted: promises about the indices (unused hints).
      mode: ``'clip'`` (default), ``'fill'`` or ``'promise_in_bounds'``.
      fill_value: the value of out-of-bounds slices in ``'fill'`` mode (default: NaN
        for inexact dtypes, the extreme integer, or True).

    Returns:
      An array of the operand's dtype; see ``GatherDimensionNumbers`` for its shape.

    Example:
      >>> import numpy as np
      >>> from fxgrad import lax
      >>> dnums = lax.GatherDimensionNumbers(
      ...     offset_dims=(), collapsed_slice_dims=(0,), start_index_map=(0,))
      >>> lax.gather(np.arange(5.0), np.array([[4], [1]]), dnums, (1,))
      Array([4., 1.], dtype=float64)
    """
    dnums = _canonical_dnums(dimension_numbers, GatherDimensionNumbers)
    mode = GatherScatterMode.from_any(mode, GatherScatterMode.CLIP)
    if fill_value is not None:
        fill_value = np.asarray(fill_value).item()
    return bind_checked(
        gather_p,
        operand,
        start_indices,
        dimension_numbers=dnums,
        slice_sizes=tuple(int(k) for k in slice_sizes),
        indices_are_sorted=bool(indices_are_sorted),
        unique_indices=bool(unique_indices),
        mode=mode,
        fill_value=fill_value,
    )


# ---------------------------------------------------------------------------------------------
# scatter and its combining variants
# ---------------------------------------------------------------------------------------------


def _full_window(dn: ScatterDimensionNumbers, operand_ndim: int, updates_shape) -> list[int]:
    """The window size along each operand axis (1 for inserted and batching axes)."""
    window, pos = [], 0
    for d in range(operand_ndim):
        if d in dn.inserted_window_dims or d in dn.operand_batching_dims:
            window.append(1)
        else:
            window.append(updates_shape[dn.update_window_dims[pos]])
            pos += 1
    return window


_COMBINE = {
    "scatter": None,
    "scatter-add": np.add,
    "scatter-mul": np.multiply,
    "scatter-min": np.minimum,
    "scatter-max": np.maximum,
}


def _scatter_impl(name):
    combine = _COMBINE[name]

    def impl(operand, indices, updates, *, dimension_numbers, mode, **_):
        out = np.array(operand, copy=True)
        indices, updates = np.asarray(indices), np.asarray(updates, dtype=out.dtype)
        dn = dimension_numbers
        window = _full_window(dn, out.ndim, updates.shape)
        pairs = list(zip(dn.operand_batching_dims, dn.scatter_indices_batching_dims, strict=True))
        starts, in_bounds = _window_starts(
            out.shape, indices, dn.scatter_dims_to_operand_dims, pairs, window
        )
        scatter_axes = [d for d in range(updates.ndim) if d not in dn.update_window_dims]
        updates = updates.transpose(scatter_axes + list(dn.update_window_dims))
        updates = updates.reshape((starts.shape[0], *window))
        if mode is not GatherScatterMode.CLIP:
            starts, updates = starts[in_bounds], updates[in_bounds]
        if starts.shape[0] == 0 or updates.size == 0:
            return out
        positions = _window_positions(starts, window)
        if combine is None:
            out[positions] = updates
        elif out.dtype == np.bool_ and combine is np.add:
            np.logical_or.at(out, positions, updates)
        else:
            combine.at(out, positions, updates)
        return out

    return impl


def _scatter_abstract_eval(name):
    fn = name.replace("-", "_")

    def abstract_eval(operand, indices, updates, *, dimension_numbers, **_):
        dn = dimension_numbers
        _check_indices(fn, indices, len(dn.scatter_dims_to_operand_dims))
        if np.dtype(operand.dtype) != np.dtype(updates.dtype):
            raise FxgradTypeError(
                f"lax.{fn}: updates dtype {np.dtype(updates.dtype).name} must match the operand "
                f"dtype {np.dtype(operand.dtype).name}"
            )
        to_operand = dn.scatter_dims_to_operand_dims
        _check_axes(fn, "scatter_dims_to_operand_dims", to_operand, operand.ndim, sort=False)
        _check_axes(fn, "inserted_window_dims", dn.inserted_window_dims, operand.ndim, True)
        names = ("operand_batching_dims", "scatter_indices_batching_dims")
        _check_batching(
            fn, operand, indices, dn.operand_batching_dims, dn.scatter_indices_batching_dims, names
        )
        n_window = operand.ndim - len(dn.inserted_window_dims) - len(dn.operand_batching_dims)
        expected_rank = indices.ndim - 1 + n_window
        if len(dn.update_window_dims) != n_window or updates.ndim != expected_rank:
            raise ShapeError(
                f"lax.{fn}: updates of shape {updates.shape} need rank {expected_rank} (the "
                f"{indices.ndim - 1} index batch axes plus {n_window} window axes) and "
                f"update_window_dims {dn.update_window_dims} must list {n_window} axes"
            )
        _check_axes(fn, "update_window_dims", dn.update_window_dims, updates.ndim, sort=True)
        scatter_sizes = [s for d, s in enumerate(updates.shape) if d not in dn.update_window_dims]
        if scatter_sizes != list(indices.shape[:-1]):
            raise ShapeError(
                f"lax.{fn}: the non-window axes of updates {tuple(scatter_sizes)} must match "
                f"the batch axes of the indices {indices.shape[:-1]}"
            )
        window = _full_window(dn, operand.ndim, updates.shape)
        if any(w > n for w, n in zip(window, operand.shape, strict=True)):
            raise ShapeError(
                f"lax.{fn}: update windows {tuple(window)} do not fit in the operand of shape "
                f"{operand.shape}"
            )
        return ShapedArray(operand.shape, operand.dtype, operand.weak_type)

    return abstract_eval


def _scatter_batch(prim):
    def rule(axis_size, vals, dims, *, dimension_numbers, **params):
        operand, indices, updates = (
            batching.bdim_at_front(x, d, axis_size) for x, d in zip(vals, dims, strict=True)
        )
        dn = dimension_numbers
        new = ScatterDimensionNumbers(
            update_window_dims=_shift(dn.update_window_dims),
            inserted_window_dims=_shift(dn.inserted_window_dims),
            scatter_dims_to_operand_dims=_shift(dn.scatter_dims_to_operand_dims),
            operand_batching_dims=(0, *_shift(dn.operand_batching_dims)),
            scatter_indices_batching_dims=(0, *_shift(dn.scatter_indices_batching_dims)),
        )
        return prim.bind(operand, indices, updates, dimension_numbers=new, **params), 0

    return rule


def _gather_of_scatter(x, indices, updates_shape, dn, params, fill_value=0):
    """The gather reading, for each update element, the operand element it addresses."""
    ndim = get_aval(x).ndim
    gather_dn = GatherDimensionNumbers(
        offset_dims=dn.update_window_dims,
        collapsed_slice_dims=dn.inserted_window_dims,
        start_index_map=dn.scatter_dims_to_operand_dims,
        operand_batching_dims=dn.operand_batching_dims,
        start_indices_batching_dims=dn.scatter_indices_batching_dims,
    )
    mode = GatherScatterMode.CLIP
    if params["mode"] is not GatherScatterMode.CLIP:
        mode = GatherScatterMode.FILL_OR_DROP
    return gather_p.bind(
        x,
        indices,
        dimension_numbers=gather_dn,
        slice_sizes=tuple(_full_window(dn, ndim, updates_shape)),
        indices_are_sorted=params["indices_are_sorted"],
        unique_indices=params["unique_indices"],
        mode=mode,
        fill_value=fill_value,
    )


def _zeros_like(x: Any, dtype: Any = None) -> Any:
    aval = get_aval(x)
    return ew.full_like_aval(aval.update(dtype=dtype or aval.dtype, weak_type=False), 0)


def _ones_like(x: Any) -> Any:
    return ew.full_like_aval(get_aval(x).update(weak_type=False), 1)


# --- scatter_add ------------------------------------------------------------------------------


def _scatter_add_jvp(primals, tangents, **params):
    operand, indices, updates = primals
    out = scatter_add_p.bind(operand, indices, updates, **params)
    t_op, t_up = instantiate_zeros(tangents[0]), instantiate_zeros(tangents[2])
    return out, scatter_add_p.bind(t_op, indices, t_up, **params)


def _scatter_add_transpose(ct, operand, indices, updates, *, dimension_numbers, **params):
    op_undef, up_undef = is_undefined_primal(operand), is_undefined_primal(updates)
    up_aval = updates.aval if up_undef else get_aval(updates)
    if type(ct) is Zero:
        return [Zero(operand.aval) if op_undef else None, None, Zero(up_aval) if up_undef else None]
    up_ct = None
    if up_undef:
        up_ct = _gather_of_scatter(ct, indices, up_aval.shape, dimension_numbers, params)
    return [ct if op_undef else None, None, up_ct]


# --- scatter (set) ----------------------------------------------------------------------------


def _scatter_jvp(primals, tangents, *, dimension_numbers, **params):
    """JAX's id trick: find the update that won each location, then scatter-add."""
    operand, indices, updates = primals
    t_op, t_up = tangents[0], tangents[2]
    dn = dimension_numbers
    full = {"dimension_numbers": dn, **params}
    if type(t_op) is Zero and type(t_up) is Zero:
        out = scatter_p.bind(operand, indices, updates, **full)
        return out, Zero(get_aval(out).update(dtype=t_op.aval.dtype))
    t_op, t_up = instantiate_zeros(t_op), instantiate_zeros(t_up)
    up_shape = get_aval(updates).shape
    n_ids = int(np.prod(get_aval(indices).shape[:-1], dtype=np.int64))
    id_dtype = np.dtype(np.int64)
    from fxgrad.lax.shape import broadcast_in_dim, reshape
    from fxgrad.lax.slicing import iota

    # Ids 1..n, one per update window (0 marks "not written").
    scatter_axes = [d for d in range(len(up_shape)) if d not in dn.update_window_dims]
    ids = ew.add(iota(id_dtype, n_ids), np.ones((), id_dtype))
    ids = reshape(ids, get_aval(indices).shape[:-1])
    ids = broadcast_in_dim(ids, up_shape, tuple(scatter_axes))
    scattered_ids = scatter_p.bind(_zeros_like(operand, id_dtype), indices, ids, **full)
    gathered_ids = _gather_of_scatter(scattered_ids, indices, up_shape, dn, params)
    untouched = ew.eq(scattered_ids, np.zeros((), id_dtype))
    won = ew.eq(gathered_ids, ids)

    def masked(x, x_updates):
        x = ew.select_n(untouched, _zeros_like(x), x)
        x_updates = ew.select_n(won, _zeros_like(x_updates), x_updates)
        return scatter_add_p.bind(x, indices, x_updates, **full)

    return masked(operand, updates), masked(t_op, t_up)


def _scatter_transpose(ct, operand, indices, updates, *, dimension_numbers, **params):
    op_undef, up_undef = is_undefined_primal(operand), is_undefined_primal(updates)
    up_aval = updates.aval if up_undef else get_aval(updates)
    if up_undef and not params["unique_indices"]:
        raise MissingRuleError(
            "Transposing lax.scatter with respect to its updates is only defined for "
            "unique_indices=True (with colliding indices, which update lands is unspecified). "
            "Differentiate through scatter with grad/vjp instead, which uses scatter_add."
        )
    if type(ct) is Zero:
        return [Zero(operand.aval) if op_undef else None, None, Zero(up_aval) if up_undef else None]
    op_ct = up_ct = None
    if op_undef:
        zeros = ew.full_like_aval(up_aval.update(dtype=get_aval(ct).dtype, weak_type=False), 0)
        op_ct = scatter_p.bind(ct, indices, zeros, dimension_numbers=dimension_numbers, **params)
    if up_undef:
        up_ct = _gather_of_scatter(ct, indices, up_aval.shape, dimension_numbers, params)
    return [op_ct, None, up_ct]


# --- scatter_mul ------------------------------------------------------------------------------


def _scatter_mul_jvp(primals, tangents, **params):
    operand, indices, updates = primals
    t_op, t_up = tangents[0], tangents[2]
    out = scatter_mul_p.bind(operand, indices, updates, **params)
    t_out: Any = Zero(get_aval(out).update(dtype=dtypes.tangent_dtype(get_aval(out).dtype)))
    if type(t_op) is not Zero:
        t_out = scatter_mul_p.bind(t_op, indices, updates, **params)
    if type(t_up) is not Zero:
        if not params["unique_indices"]:
            raise MissingRuleError(
                "The derivative of lax.scatter_mul (used by x.at[idx].multiply/divide/power) "
                "with respect to its updates is only implemented for unique_indices=True. Pass "
                "unique_indices=True if no index repeats, or stop the gradient of the updates."
            )
        spread = scatter_add_p.bind(_zeros_like(operand), indices, t_up, **params)
        t_up_out = ew.mul(operand, spread)
        t_out = t_up_out if type(t_out) is Zero else ew.add(t_out, t_up_out)
    return out, t_out


def _scatter_mul_transpose(ct, operand, indices, updates, *, dimension_numbers, **params):
    op_undef, up_undef = is_undefined_primal(operand), is_undefined_primal(updates)
    if op_undef and up_undef:
        raise MissingRuleError("lax.scatter_mul is not linear in operand and updates together")
    full = {"dimension_numbers": dimension_numbers, **params}
    if op_undef:
        if type(ct) is Zero:
            return [Zero(operand.aval), None, None]
        return [scatter_mul_p.bind(ct, indices, updates, **full), None, None]
    if not params["unique_indices"]:
        raise MissingRuleError(
            "Transposing lax.scatter_mul with respect to its updates needs unique_indices=True"
        )
    if type(ct) is Zero:
        return [None, None, Zero(updates.aval)]
    up_shape = updates.aval.shape
    up_ct = _gather_of_scatter(ew.mul(ct, operand), indices, up_shape, dimension_numbers, params)
    return [None, None, up_ct]


# --- scatter_min / scatter_max ----------------------------------------------------------------


def _scatter_extremum_jvp(prim):
    def rule(primals, tangents, *, dimension_numbers, **params):
        operand, indices, updates = primals
        full = {"dimension_numbers": dimension_numbers, **params}
        out = prim.bind(operand, indices, updates, **full)
        t_op, t_up = instantiate_zeros(tangents[0]), instantiate_zeros(tangents[2])
        up_shape = get_aval(updates).shape
        # Every contender equal to the result shares its tangent evenly (like reduce_max).
        out_at_updates = _gather_of_scatter(out, indices, up_shape, dimension_numbers, params)
        dtype = get_aval(t_op).dtype
        won = ew.convert_element_type(ew.eq(updates, out_at_updates), dtype)
        kept = ew.convert_element_type(ew.eq(operand, out), dtype)
        count = ew.add(kept, scatter_add_p.bind(_zeros_like(kept), indices, won, **full))
        count = ew.max(count, np.ones((), dtype))
        inverse = ew.div(_ones_like(count), count)
        share = _gather_of_scatter(inverse, indices, up_shape, dimension_numbers, params)
        t_from_operand = ew.mul(ew.div(kept, count), t_op)
        t_from_updates = ew.mul(ew.mul(won, share), t_up)
        t_out = ew.add(
            t_from_operand, scatter_add_p.bind(_zeros_like(t_op), indices, t_from_updates, **full)
        )
        return out, t_out

    return rule


def _define_scatter(name: str, jvp, transpose):
    prim = define_primitive(
        name,
        impl=_scatter_impl(name),
        abstract_eval=_scatter_abstract_eval(name),
        jvp=jvp,
        transpose=transpose,
        batch=None,
        kernel="library",
    )
    batching.batch_rules[prim] = _scatter_batch(prim)
    return prim


scatter_p = _define_scatter("scatter", _scatter_jvp, _scatter_transpose)
scatter_add_p = _define_scatter("scatter-add", _scatter_add_jvp, _scatter_add_transpose)
scatter_mul_p = _define_scatter("scatter-mul", _scatter_mul_jvp, _scatter_mul_transpose)
scatter_min_p = _define_scatter("scatter-min", None, None)
scatter_max_p = _define_scatter("scatter-max", None, None)
for _prim in (scatter_min_p, scatter_max_p):
    jvp_rules[_prim] = _scatter_extremum_jvp(_prim)


def _scatter_fn(prim, verb: str):
    def fn(
        operand: Any,
        scatter_indices: Any,
        updates: Any,
        dimension_numbers: ScatterDimensionNumbers,
        *,
        indices_are_sorted: bool = False,
        unique_indices: bool = False,
        mode: str | GatherScatterMode | None = None,
    ) -> Any:
        dnums = _canonical_dnums(dimension_numbers, ScatterDimensionNumbers)
        dtype = get_aval(operand).dtype
        if type(updates) in (bool, int, float, complex):
            updates = dtypes.convert_scalar(updates, dtype)
        return bind_checked(
            prim,
            operand,
            scatter_indices,
            updates,
            dimension_numbers=dnums,
            indices_are_sorted=bool(indices_are_sorted),
            unique_indices=bool(unique_indices),
            mode=GatherScatterMode.from_any(mode, GatherScatterMode.FILL_OR_DROP),
        )

    fn.__name__ = prim.name.replace("-", "_")
    fn.__doc__ = f"""XLA's scatter that {verb} (JAX's ``lax.{fn.__name__}``).

    Args:
      operand: the array to update.
      scatter_indices: integer array whose last axis is the index vector.
      updates: the windows to combine in, shaped as ``ScatterDimensionNumbers`` says.
      dimension_numbers: a ``ScatterDimensionNumbers``.
      indices_are_sorted, unique_indices: promises about the indices.
      mode: ``'drop'``/``'fill'`` (default: out-of-bounds windows are skipped),
        ``'clip'`` or ``'promise_in_bounds'``.

    Returns:
      The updated array, of the operand's shape and dtype.
    """
    return fn


scatter = _scatter_fn(scatter_p, "overwrites the addressed elements")
scatter_add = _scatter_fn(scatter_add_p, "adds the updates")
scatter_mul = _scatter_fn(scatter_mul_p, "multiplies by the updates")
scatter_min = _scatter_fn(scatter_min_p, "keeps the minimum")
scatter_max = _scatter_fn(scatter_max_p, "keeps the maximum")
