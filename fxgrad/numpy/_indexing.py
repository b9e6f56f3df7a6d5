"""NumPy indexing of fxgrad arrays: ``x[idx]`` and ``x.at[idx].set(v)`` (and friends).

Every NumPy index form is accepted: integers (negative count from the end), slices with
any step, ``None``, ``...``, integer arrays and lists (advanced indexing, with NumPy's
rule for where the broadcast index axes go: in place when the advanced indices are
adjacent, first otherwise), boolean masks, traced integer scalars, and mixtures.

Lowering: an index made only of static integers and slices becomes ``rev`` + ``slice``
+ ``squeeze`` + ``reshape`` (cheap, and cheap to differentiate); traced integer scalars
add a ``dynamic_slice``; integer arrays turn the whole index into one ``gather``.

Out-of-bounds indices never raise, as in JAX: **gather clamps, scatter drops**.
``x[10]`` on a length-5 axis reads ``x[4]``; ``x.at[10].set(v)`` leaves ``x`` unchanged.
``x.at[idx].get(mode='fill', fill_value=...)`` returns ``fill_value`` instead, and
``.set(..., mode='clip')`` clamps. (NumPy raises ``IndexError``.)

Boolean masks select a data-dependent number of elements, so they need concrete
values: they work eagerly, and under ``jit``/``vmap`` raise a ``ConcretizationError``
(use ``fnp.where(mask, x, 0)`` or a function with a ``size=`` argument instead).

``x.at[idx]`` is JAX's ``_IndexUpdateRef`` API: ``get``, ``set``, ``add``, ``multiply``
(``mul``), ``divide``, ``power``, ``min``, ``max`` and ``apply``, with the keywords
``mode``, ``indices_are_sorted``, ``unique_indices`` (and ``fill_value`` for ``get``).
With repeated indices, ``add``/``multiply``/``min``/``max`` combine every update;
``set`` keeps one of them; ``apply`` applies the function once per selected element
(JAX applies it once per occurrence).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from fxgrad.array import Array
from fxgrad.core import Tracer, get_aval
from fxgrad.errors import ConcretizationError, ShapeError
from fxgrad.lax import elementwise as ew
from fxgrad.lax import indexing as lind
from fxgrad.lax import slicing as lsl
from fxgrad.lax.shape import broadcast_to_shape, reshape, squeeze, transpose
from fxgrad.numpy._util import asarray_value

__all__: list[str] = []

_INDEX_DTYPE = np.dtype(np.int64)
_INDEX_ERROR = (
    "only integers, slices (`:`), ellipsis (`...`), None and integer or boolean arrays "
    "are valid indices"
)


@dataclass(frozen=True, slots=True)
class _Entry:
    """One item of a normalised index.

    kind: ``"none"`` (new axis), ``"ellipsis"`` (a marker: it consumes no axis but
    separates advanced indices, as in NumPy), ``"slice"`` (value: start, stop, step
    from ``slice.indices``), ``"int"`` (a static int), ``"scalar"`` (a traced integer
    scalar) or ``"array"`` (an integer array). ``dim`` is the operand axis it indexes.
    """

    kind: str
    value: Any = None
    dim: int | None = None


_ADVANCED = ("int", "scalar", "array")


# ---------------------------------------------------------------------------------------------
# Parsing an index
# ---------------------------------------------------------------------------------------------


def _static_int(x: Any, what: str) -> int | None:
    if x is None:
        return None
    if isinstance(x, Tracer):
        value = x.to_concrete_value()
        if value is None:
            raise ConcretizationError(
                f"fxgrad.numpy indexing: the {what} of a slice is a traced value, but slice "
                "bounds must be static. Use fxgrad.lax.dynamic_slice (or "
                "dynamic_slice_in_dim) for a slice of static size at a traced start."
            )
        x = value
    try:
        return int(np.asarray(x).item()) if not isinstance(x, int) else x
    except (TypeError, ValueError):
        raise IndexError(f"slice {what} must be an integer or None, got {x!r}") from None


def _mask_entries(mask: np.ndarray) -> list[Any]:
    return [np.asarray(a, _INDEX_DTYPE) for a in np.nonzero(mask)]


def _classify(item: Any) -> tuple[str, Any]:
    """The kind of one raw index item and its converted value."""
    if item is None:
        return "none", None
    if item is Ellipsis:
        return "ellipsis", None
    if isinstance(item, slice):
        parts = (_static_int(item.start, "start"), _static_int(item.stop, "stop"))
        return "slice", (*parts, _static_int(item.step, "step"))
    if isinstance(item, (bool, np.bool_)):
        return "bool", bool(item)
    if isinstance(item, (int, np.integer)):
        return "int", int(item)
    if isinstance(item, (list, tuple)):
        item = _sequence_index(item)
    if isinstance(item, Tracer):
        kind = np.dtype(item.dtype).kind
        if kind == "b":
            value = item.to_concrete_value()
            if value is None:
                raise ConcretizationError(
                    f"fxgrad.numpy indexing: a boolean mask of shape {item.shape} is a traced "
                    "value here (inside jit/vmap), but the number of elements it selects "
                    "must be known when tracing. Use fnp.where(mask, x, 0) to keep the shape, "
                    "or fnp.nonzero(mask, size=...) for a static number of indices."
                )
            return "mask", np.asarray(value)
        if kind not in "iu":
            raise IndexError(f"{_INDEX_ERROR}; got a traced array of dtype {item.dtype}")
        return ("scalar" if item.ndim == 0 else "array"), item
    if isinstance(item, (np.ndarray, Array)):
        arr = np.asarray(item)
        if arr.dtype.kind == "b":
            return ("bool", bool(arr)) if arr.ndim == 0 else ("mask", arr)
        if arr.dtype.kind not in "iu":
            raise IndexError(f"{_INDEX_ERROR}; got an array of dtype {arr.dtype}")
        return ("int", int(arr)) if arr.ndim == 0 else ("array", arr)
    raise IndexError(f"{_INDEX_ERROR}; got {type(item).__name__} {item!r}")


def _contains_tracer(item: Any) -> bool:
    if isinstance(item, (list, tuple)):
        return any(_contains_tracer(e) for e in item)
    return isinstance(item, Tracer)


def _sequence_index(item: Any) -> Any:
    """A list used as an index: an integer (or boolean) array."""
    if _contains_tracer(item):
        from fxgrad.numpy._joining import stack

        return stack([_sequence_index(e) if isinstance(e, (list, tuple)) else e for e in item])
    arr = np.asarray(item)
    if arr.size == 0:
        return arr.astype(_INDEX_DTYPE)
    return arr


def _parse(idx: Any, shape: tuple[int, ...]) -> list[_Entry]:
    """``idx`` as a list of entries, Ellipsis expanded and trailing axes filled with ``:``."""
    items = idx if isinstance(idx, tuple) else (idx,)
    classified = [_classify(item) for item in items]
    consumed = 0
    for kind, value in classified:
        if kind in ("slice", "int", "scalar", "array"):
            consumed += 1
        elif kind == "mask":
            consumed += value.ndim
    n_ellipsis = sum(kind == "ellipsis" for kind, _ in classified)
    if n_ellipsis > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    if consumed > len(shape):
        raise IndexError(
            f"too many indices for array: array is {len(shape)}-dimensional, but {consumed} "
            "were indexed"
        )
    entries: list[_Entry] = []
    dim = 0
    for kind, value in classified:
        if kind == "ellipsis":
            entries.append(_Entry("ellipsis"))
            for _ in range(len(shape) - consumed):
                entries.append(_Entry("slice", slice(None).indices(shape[dim]), dim))
                dim += 1
        elif kind == "none":
            entries.append(_Entry("none"))
        elif kind == "bool":
            entries.append(_Entry("none"))
            if not value:
                entries.append(_Entry("empty"))
        elif kind == "mask":
            if value.shape != shape[dim : dim + value.ndim]:
                raise IndexError(
                    f"boolean index of shape {value.shape} does not match the indexed axes "
                    f"{shape[dim : dim + value.ndim]} of the array (shape {shape})"
                )
            for arr in _mask_entries(value):
                entries.append(_Entry("array", arr, dim))
                dim += 1
        elif kind == "slice":
            entries.append(_Entry("slice", slice(*value).indices(shape[dim]), dim))
            dim += 1
        else:
            entries.append(_Entry(kind, value, dim))
            dim += 1
    for d in range(dim, len(shape)):
        entries.append(_Entry("slice", slice(None).indices(shape[d]), d))
    return entries


# ---------------------------------------------------------------------------------------------
# Lowering: static slicing, dynamic scalars, gather
# ---------------------------------------------------------------------------------------------


def _apply_slices(x: Any, entries: list[_Entry], ints_too: bool) -> Any:
    """Apply every slice entry (and, with ``ints_too``, static ints) with rev + slice."""
    shape = get_aval(x).shape
    starts, limits, strides = [0] * len(shape), list(shape), [1] * len(shape)
    reversed_dims = []
    for e in entries:
        if e.kind == "int" and ints_too:
            starts[e.dim], limits[e.dim] = e.value, e.value + 1
        if e.kind != "slice":
            continue
        start, stop, step = e.value
        n = shape[e.dim]
        count = len(range(start, stop, step))
        if step < 0:
            reversed_dims.append(e.dim)
            start, step = n - 1 - start, -step
        if count == 0:
            start = 0
        starts[e.dim], strides[e.dim] = start, step
        limits[e.dim] = start + (count - 1) * step + 1 if count else start
    x = lsl.rev(x, reversed_dims)
    return lsl.slice(x, starts, limits, strides)


def _clamp_static(i: int, n: int, dim: int) -> int:
    if n == 0:
        raise IndexError(f"index {i} is out of bounds for axis {dim} with size 0")
    i = i + n if i < 0 else i
    return min(max(i, 0), n - 1)


def _wrap_negative(i: Any, n: int) -> Any:
    """``i + n`` where ``i < 0``, as an index-dtype value (NumPy arrays stay static)."""
    if not isinstance(i, Tracer):
        i = np.asarray(i).astype(_INDEX_DTYPE)
        return np.where(i < 0, i + n, i)
    signed = np.dtype(i.dtype).kind == "i"
    i = ew.convert_element_type(i, _INDEX_DTYPE)
    if not signed:
        return i
    zero, size = np.zeros((), _INDEX_DTYPE), np.asarray(n, _INDEX_DTYPE)
    return ew.select_n(ew.lt(i, zero), i, ew.add(i, size))


def _final_layout(result: Any, entries: list[_Entry], lead: int) -> Any:
    """Insert the ``None`` axes and apply ``False`` indices after the ``lead`` axes."""
    shape = list(get_aval(result).shape)
    out_shape = shape[:lead]
    pos = lead
    empties = []
    for e in entries:
        if e.kind == "none":
            out_shape.append(1)
        elif e.kind == "empty":
            empties.append(len(out_shape) - 1)
        elif e.kind == "slice":
            out_shape.append(shape[pos])
            pos += 1
    result = reshape(result, out_shape)
    for axis in empties:
        result = lsl.slice_in_dim(result, 0, 0, axis=axis)
    return result


def _basic_index(x: Any, entries: list[_Entry]) -> Any:
    shape = get_aval(x).shape
    entries = [
        _Entry("int", _clamp_static(e.value, shape[e.dim], e.dim), e.dim) if e.kind == "int" else e
        for e in entries
    ]
    x = _apply_slices(x, entries, ints_too=True)
    scalars = [e for e in entries if e.kind == "scalar"]
    if scalars:
        sliced = get_aval(x).shape
        starts: list[Any] = [0] * len(sliced)
        sizes = list(sliced)
        for e in scalars:
            if sliced[e.dim] == 0:
                raise IndexError(f"index is out of bounds for axis {e.dim} with size 0")
            starts[e.dim], sizes[e.dim] = _wrap_negative(e.value, sliced[e.dim]), 1
        x = lsl.dynamic_slice(x, starts, sizes, allow_negative_indices=False)
    x = squeeze(x, [e.dim for e in entries if e.kind in ("int", "scalar")])
    return _final_layout(x, entries, 0)


def _stack_index_arrays(arrays: list[Any]) -> tuple[Any, tuple[int, ...]]:
    """Broadcast the index arrays together and stack them on a new last axis."""
    shapes = [tuple(get_aval(a).shape) for a in arrays]
    try:
        shape = np.broadcast_shapes(*shapes)
    except ValueError:
        shown = " ".join(str(s) for s in shapes)
        raise IndexError(
            f"shape mismatch: indexing arrays could not be broadcast together with shapes {shown}"
        ) from None
    if not any(isinstance(a, Tracer) for a in arrays):
        stacked = np.stack([np.broadcast_to(a, shape) for a in arrays], axis=-1)
        return stacked.astype(_INDEX_DTYPE), shape
    cols = [reshape(broadcast_to_shape(a, shape), (*shape, 1)) for a in arrays]
    return lsl.concatenate(cols, len(shape)), shape


def _advanced_index(x: Any, entries: list[_Entry], mode: Any, fill_value: Any, **hints) -> Any:
    x = _apply_slices(x, entries, ints_too=False)
    shape = get_aval(x).shape
    advanced = [e for e in entries if e.kind in _ADVANCED]
    arrays = [_wrap_negative(e.value, shape[e.dim]) for e in advanced]
    indices, index_shape = _stack_index_arrays(arrays)
    adv_dims = tuple(e.dim for e in advanced)
    rest = [d for d in range(len(shape)) if d not in adv_dims]
    lead = len(index_shape)
    if any(shape[d] == 0 for d in adv_dims):
        if int(np.prod(index_shape, dtype=np.int64)) != 0:
            empty = next(d for d in adv_dims if shape[d] == 0)
            raise IndexError(f"index is out of bounds for axis {empty} with size 0")
        out_shape = (*index_shape, *(shape[d] for d in rest))
        result = lsl.full(out_shape, 0, get_aval(x).dtype)
    else:
        dnums = lind.GatherDimensionNumbers(
            offset_dims=tuple(range(lead, lead + len(rest))),
            collapsed_slice_dims=tuple(sorted(adv_dims)),
            start_index_map=adv_dims,
        )
        sizes = [1 if d in adv_dims else shape[d] for d in range(len(shape))]
        result = lind.gather(x, indices, dnums, sizes, mode=mode, fill_value=fill_value, **hints)
    result = _final_layout(result, entries, lead)
    positions = [i for i, e in enumerate(entries) if e.kind in _ADVANCED]
    if positions != list(range(positions[0], positions[-1] + 1)):
        return result
    # Adjacent advanced indices: their axes replace them in place.
    before = sum(1 for e in entries[: positions[0]] if e.kind in ("none", "slice"))
    ndim = get_aval(result).ndim
    perm = [*range(lead, lead + before), *range(lead), *range(lead + before, ndim)]
    return transpose(result, perm)


def getitem(
    x: Any,
    idx: Any,
    *,
    mode: Any = None,
    fill_value: Any = None,
    indices_are_sorted: bool = False,
    unique_indices: bool = False,
) -> Any:
    """``x[idx]`` with NumPy semantics (out-of-bounds indices clamp; see the module doc).

    Args:
      x: the array.
      idx: any NumPy index.
      mode: ``None``/``'clip'``/``'promise_in_bounds'`` (clamp) or ``'fill'``.
      fill_value: the value of out-of-bounds elements in ``'fill'`` mode.
      indices_are_sorted, unique_indices: hints forwarded to ``gather``.

    Returns:
      The indexed array, of ``x``'s dtype.
    """
    x = asarray_value(x)
    entries = _parse(idx, tuple(get_aval(x).shape))
    mode = lind.GatherScatterMode.from_any(mode, lind.GatherScatterMode.CLIP)
    fill = mode is lind.GatherScatterMode.FILL_OR_DROP
    if any(e.kind == "array" or (fill and e.kind in _ADVANCED) for e in entries):
        if any(e.kind == "empty" for e in entries):
            raise IndexError("a False index cannot be combined with array indices")
        hints = {"indices_are_sorted": indices_are_sorted, "unique_indices": unique_indices}
        return _advanced_index(x, entries, mode, fill_value, **hints)
    return _basic_index(x, entries)


# ---------------------------------------------------------------------------------------------
# x.at[idx]
# ---------------------------------------------------------------------------------------------


def _broadcast_values(values: Any, shape: tuple[int, ...], method: str) -> Any:
    aval = get_aval(values)
    while aval.ndim > len(shape) and aval.shape[0] == 1:
        values = squeeze(values, (0,))
        aval = get_aval(values)
    try:
        return broadcast_to_shape(values, shape)
    except ShapeError:
        raise ShapeError(
            f"x.at[idx].{method}(values): values of shape {aval.shape} cannot be broadcast to "
            f"the shape {shape} of x[idx]"
        ) from None


def _box(shape: tuple[int, ...], entries: list[_Entry]) -> Any:
    """``(starts, sizes, int_dims, in_bounds)`` when the index selects one box.

    That is an index of integers (static or traced) and step-1 slices. ``in_bounds``
    is ``True``, ``False`` (a static integer is out of bounds) or a traced bool.
    Returns None for other indices.
    """
    starts: list[Any] = []
    sizes, int_dims = [], []
    in_bounds: Any = True
    for e in entries:
        if e.kind == "ellipsis":
            continue
        if e.kind == "slice" and e.value[2] == 1:
            start, stop, _ = e.value
            starts.append(start)
            sizes.append(max(stop - start, 0))
            continue
        if e.kind not in ("int", "scalar"):
            return None
        n = shape[e.dim]
        if e.kind == "int":
            i = e.value + n if e.value < 0 else e.value
            inside: Any = 0 <= i < n
        else:
            i = _wrap_negative(e.value, n)
            zero, size = np.zeros((), _INDEX_DTYPE), np.asarray(n, _INDEX_DTYPE)
            inside = ew.bitwise_and(ew.ge(i, zero), ew.lt(i, size))
        in_bounds = _both(in_bounds, inside)
        starts.append(i)
        sizes.append(1)
        int_dims.append(e.dim)
    return starts, sizes, int_dims, in_bounds


def _both(a: Any, b: Any) -> Any:
    """Logical and of two static or traced bools."""
    if a is False or b is False:
        return False
    if a is True:
        return b
    return a if b is True else ew.bitwise_and(a, b)


def _box_update(x, box, values, op, method, mode):
    """The update of a box: ``dynamic_update_slice``, with dropped out-of-bounds writes."""
    starts, sizes, int_dims, in_bounds = box
    clip = mode is lind.GatherScatterMode.CLIP
    if in_bounds is False and not clip:
        return x
    target = tuple(s for d, s in enumerate(sizes) if d not in int_dims)
    update = reshape(_broadcast_values(values, target, method), sizes)
    if op != "set":
        if all(isinstance(s, int) for s in starts):
            old = lsl.slice(x, starts, [s + k for s, k in zip(starts, sizes, strict=True)])
        else:
            old = lsl.dynamic_slice(x, starts, sizes, allow_negative_indices=False)
        update = _COMBINE[op](old, update)
    out = lsl.dynamic_update_slice(x, update, starts, allow_negative_indices=False)
    if in_bounds is True or in_bounds is False or clip:
        return out
    return ew.select_n(in_bounds, x, out)


_COMBINE = {"add": ew.add, "mul": ew.mul, "min": ew.min, "max": ew.max}
_SCATTER = {
    "set": lind.scatter,
    "add": lind.scatter_add,
    "mul": lind.scatter_mul,
    "min": lind.scatter_min,
    "max": lind.scatter_max,
}


def _scatter_update(x: Any, idx: Any, values: Any, op: str, method: str, **kw: Any) -> Any:
    x = asarray_value(x)
    aval = get_aval(x)
    values = asarray_value(values)
    values = ew.convert_element_type(values, aval.dtype)
    mode = lind.GatherScatterMode.from_any(kw.pop("mode"), lind.GatherScatterMode.FILL_OR_DROP)
    entries = _parse(idx, tuple(aval.shape))
    box = _box(aval.shape, entries) if aval.size else None
    if box is not None and (box[3] is not False or mode is not lind.GatherScatterMode.CLIP):
        return _box_update(x, box, values, op, method, mode)
    # General case: find the flat positions x[idx] reads, then scatter into them.
    if aval.size == 0:
        return x
    get_mode = "clip" if mode is lind.GatherScatterMode.CLIP else "fill"
    flat = reshape(lsl.iota(_INDEX_DTYPE, aval.size), aval.shape)
    positions = getitem(flat, idx, mode=get_mode, fill_value=-1)
    pos_shape = tuple(get_aval(positions).shape)
    updates = _broadcast_values(values, pos_shape, method)
    dnums = lind.ScatterDimensionNumbers(
        update_window_dims=(), inserted_window_dims=(0,), scatter_dims_to_operand_dims=(0,)
    )
    indices = reshape(positions, (*pos_shape, 1))
    out = _SCATTER[op](reshape(x, (aval.size,)), indices, updates, dnums, mode=mode, **kw)
    return reshape(out, aval.shape)


class _IndexUpdateRef:
    """``x.at[idx]``: methods returning updated copies of ``x`` (JAX's ``_IndexUpdateRef``)."""

    __slots__ = ("array", "index")

    def __init__(self, array: Any, index: Any):
        self.array = array
        self.index = index

    def __repr__(self) -> str:
        return f"_IndexUpdateRef({self.array!r}, {self.index!r})"

    def get(
        self,
        *,
        indices_are_sorted: bool = False,
        unique_indices: bool = False,
        mode: Any = None,
        fill_value: Any = None,
    ) -> Any:
        """``x[idx]``; ``mode='fill'`` returns ``fill_value`` for out-of-bounds indices."""
        return getitem(
            self.array,
            self.index,
            mode=mode,
            fill_value=fill_value,
            indices_are_sorted=indices_are_sorted,
            unique_indices=unique_indices,
        )

    def _update(self, op: str, method: str, values: Any, kw: dict) -> Any:
        return _scatter_update(self.array, self.index, values, op, method, **kw)

    def set(self, values: Any, *, indices_are_sorted=False, unique_indices=False, mode=None):
        """``x`` with ``x[idx] = values`` (out-of-bounds indices are dropped by default)."""
        kw = {"indices_are_sorted": indices_are_sorted, "unique_indices": unique_indices}
        return self._update("set", "set", values, {**kw, "mode": mode})

    def add(self, values: Any, *, indices_are_sorted=False, unique_indices=False, mode=None):
        """``x`` with ``x[idx] += values``; repeated indices accumulate."""
        kw = {"indices_are_sorted": indices_are_sorted, "unique_indices": unique_indices}
        return self._update("add", "add", values, {**kw, "mode": mode})

    def multiply(self, values: Any, *, indices_are_sorted=False, unique_indices=False, mode=None):
        """``x`` with ``x[idx] *= values``; repeated indices multiply."""
        kw = {"indices_are_sorted": indices_are_sorted, "unique_indices": unique_indices}
        return self._update("mul", "multiply", values, {**kw, "mode": mode})

    mul = multiply

    def divide(self, values: Any, *, indices_are_sorted=False, unique_indices=False, mode=None):
        """``x`` with ``x[idx] /= values`` (true division, as ``fnp.divide``)."""
        from fxgrad.numpy._creation import ones_like
        from fxgrad.numpy._ufuncs import divide

        kw = {"indices_are_sorted": indices_are_sorted, "unique_indices": unique_indices}
        ones = ones_like(self.array)
        scale = _scatter_update(ones, self.index, values, "mul", "divide", mode=mode, **kw)
        return divide(self.array, scale)

    def power(self, values: Any, *, indices_are_sorted=False, unique_indices=False, mode=None):
        """``x`` with ``x[idx] **= values``."""
        from fxgrad.numpy._creation import ones_like
        from fxgrad.numpy._ufuncs import power

        kw = {"indices_are_sorted": indices_are_sorted, "unique_indices": unique_indices}
        ones = ones_like(self.array)
        exponent = _scatter_update(ones, self.index, values, "mul", "power", mode=mode, **kw)
        return power(self.array, exponent)

    def min(self, values: Any, *, indices_are_sorted=False, unique_indices=False, mode=None):  # noqa: A003
        """``x`` with ``x[idx] = minimum(x[idx], values)``."""
        kw = {"indices_are_sorted": indices_are_sorted, "unique_indices": unique_indices}
        return self._update("min", "min", values, {**kw, "mode": mode})

    def max(self, values: Any, *, indices_are_sorted=False, unique_indices=False, mode=None):  # noqa: A003
        """``x`` with ``x[idx] = maximum(x[idx], values)``."""
        kw = {"indices_are_sorted": indices_are_sorted, "unique_indices": unique_indices}
        return self._update("max", "max", values, {**kw, "mode": mode})

    def apply(
        self,
        func: Callable[[Any], Any],
        *,
        indices_are_sorted: bool = False,
        unique_indices: bool = False,
        mode: Any = None,
    ) -> Any:
        """``x`` with ``func`` (elementwise) applied to ``x[idx]``, once per element."""
        from fxgrad.numpy._ufuncs import where

        x = asarray_value(self.array)
        kw = {"indices_are_sorted": indices_are_sorted, "unique_indices": unique_indices}
        no = lsl.full(get_aval(x).shape, False, np.dtype(bool))
        mask = _scatter_update(no, self.index, True, "set", "apply", mode=mode, **kw)
        applied = ew.convert_element_type(asarray_value(func(x)), get_aval(x).dtype)
        return where(mask, applied, x)


class IndexUpdateHelper:
    """The ``x.at`` property: ``x.at[idx]`` is an ``_IndexUpdateRef``.

    Example:
      >>> import fxgrad.numpy as fnp
      >>> x = fnp.zeros(3)
      >>> x.at[1].set(5.0)
      Array([0., 5., 0.], dtype=float64)
      >>> x.at[fnp.array([0, 0])].add(1.0)
      Array([2., 0., 0.], dtype=float64)
    """

    __slots__ = ("array",)

    def __init__(self, array: Any):
        self.array = array

    def __getitem__(self, index: Any) -> _IndexUpdateRef:
        return _IndexUpdateRef(self.array, index)

    def __repr__(self) -> str:
        return f"IndexUpdateHelper({self.array!r})"
