"""Array creation: array, asarray, zeros/ones/empty/full (and ``*_like``), ranges, grids.

Floating-point results default to float64 and integer ones to int64, as in NumPy;
``fxgrad.config.update("default_float", "float32")`` (or ``config.override``) changes
the float default, which also applies to Python floats passed to ``array``. Dtypes of
mixed inputs follow ``fxgrad.dtypes``: Python scalars are weak, so
``array([np.float32(1), 2.0])`` is float32.

Functions whose output shape is data (``arange``, ``eye``, ``zeros``...) need concrete
(static) sizes. ``array`` of a list holding traced values stacks them, and
``linspace``/``logspace``/``geomspace``/``full``/``diagflat`` are differentiable in
their array arguments: they are written with primitives (selection by constant masks,
never a gather).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from fxgrad import dtypes
from fxgrad.array import Array
from fxgrad.core import Tracer, get_aval
from fxgrad.errors import ConcretizationError, ShapeError
from fxgrad.lax import elementwise as ew
from fxgrad.lax import reduction as red
from fxgrad.lax import shape as lshape
from fxgrad.numpy._shape_ops import _as_shape, moveaxis, select_stack
from fxgrad.numpy._util import asarray_value, canonicalize_axis

__all__ = [
    "arange",
    "array",
    "asarray",
    "copy",
    "diagflat",
    "empty",
    "empty_like",
    "eye",
    "fromfunction",
    "full",
    "full_like",
    "geomspace",
    "identity",
    "indices",
    "linspace",
    "logspace",
    "meshgrid",
    "ones",
    "ones_like",
    "tri",
    "zeros",
    "zeros_like",
]


def _dtype_or_default(dtype: Any, default: Callable[[], np.dtype]) -> np.dtype:
    return dtypes.canonicalize_dtype(dtype) if dtype is not None else default()


# --- array / asarray ----------------------------------------------------------------------


def _leaves(x: Any) -> list[Any]:
    if isinstance(x, (list, tuple)):
        return [leaf for e in x for leaf in _leaves(e)]
    return [x]


def _check_order(order: Any, fn_name: str) -> None:
    if order not in (None, "K", "A", "C"):
        raise NotImplementedError(
            f"fxgrad.numpy.{fn_name}: order={order!r} is not supported; fxgrad arrays are "
            "always row-major (order='C')"
        )


def _sequence_dtype(leaves: list[Any]) -> np.dtype:
    """Weak-scalar promotion over the leaves of a nested list (empty: the default float)."""
    if not leaves:
        return dtypes.default_float_dtype()
    operands = []
    for leaf in leaves:
        if isinstance(leaf, (Tracer, Array)) or dtypes.is_weakly_typed(leaf):
            operands.append(leaf)
        else:
            operands.append(np.asarray(leaf).dtype)
    return dtypes.result_type(*operands)


def _stack_traced(x: Any, dtype: np.dtype) -> Any:
    """A nested list holding tracers, as one array: stack level by level."""
    if not isinstance(x, (list, tuple)):
        return asarray_value(x, dtype)
    if not x:
        raise ValueError(
            "fxgrad.numpy.array: an empty sequence cannot be nested next to traced values"
        )
    parts = [_stack_traced(e, dtype) for e in x]
    shapes = {get_aval(p).shape for p in parts}
    if len(shapes) > 1:
        raise ShapeError(
            "fxgrad.numpy.array: the elements of a nested sequence must have equal shapes to "
            f"be stacked, got shapes {sorted(shapes)}"
        )
    import fxgrad.numpy as fnp

    stack = getattr(fnp, "stack", None)
    return stack(parts) if stack is not None else select_stack(parts)


def array(
    object: Any,  # noqa: A002 - NumPy's argument name
    dtype: Any = None,
    copy: bool = True,
    order: Any = "K",
    ndmin: int = 0,
) -> Any:
    """An array from an array-like: nested lists, NumPy arrays, fxgrad arrays, tracers.

    Lists that hold fxgrad arrays or traced values are stacked (differentiably). With
    ``dtype=None`` the dtype follows weak-scalar promotion over the elements: Python
    floats give ``config.default_float`` (float64 unless changed), Python ints int64,
    and NumPy/fxgrad arrays keep their dtype (``[np.float32(1), 2.0]`` is float32).

    Args:
      object: the data.
      dtype: the dtype of the result.
      copy: accepted for NumPy compatibility (arrays are immutable).
      order: ``"K"``, ``"A"`` or ``"C"`` (all row-major).
      ndmin: prepend axes of size 1 up to this rank.

    Returns:
      An ``Array`` (or a tracer, when ``object`` holds traced values).

    Example:
      >>> import fxgrad.numpy as fnp
      >>> fnp.array([[1, 2], [3, 4]], ndmin=3).shape
      (1, 2, 2)
    """
    _check_order(order, "array")
    if isinstance(object, (list, tuple)):
        leaves = _leaves(object)
        target = _dtype_or_default(dtype, lambda: _sequence_dtype(leaves))
        if any(isinstance(leaf, Tracer) for leaf in leaves):
            out = _stack_traced(object, target)
        else:
            try:
                value = np.asarray(object, dtype=target)
            except ValueError as error:
                raise ShapeError(
                    f"fxgrad.numpy.array: cannot make an array from a ragged or invalid nested "
                    f"sequence ({error}); all elements at one level must have the same shape"
                ) from None
            out = Array(value)
    else:
        out = asarray_value(object, None if dtype is None else dtypes.canonicalize_dtype(dtype))
        if dtype is None and isinstance(object, Array) and copy:
            out = object.copy()
    nd = get_aval(out).ndim
    if ndmin > nd:
        out = lshape.reshape(out, (1,) * (ndmin - nd) + tuple(get_aval(out).shape))
    return out


def asarray(a: Any, dtype: Any = None, order: Any = None, *, copy: Any = None) -> Any:
    """Like ``array``, without copying when ``a`` already is an array of ``dtype``."""
    if type(a) is Array and (dtype is None or dtypes.canonicalize_dtype(dtype) == a.dtype):
        _check_order(order, "asarray")
        return a
    return array(a, dtype=dtype, copy=False, order=order)


def copy(a: Any, order: Any = None) -> Any:
    """A copy of ``a`` (arrays are immutable, so this matters only for NumPy inputs)."""
    return array(a, copy=True, order=order)


# --- filled arrays ------------------------------------------------------------------------


def zeros(shape: Any, dtype: Any = None) -> Any:
    """An array of zeros (float64 by default, or ``config.default_float``)."""
    dt = _dtype_or_default(dtype, dtypes.default_float_dtype)
    return Array(np.zeros(_as_shape(shape, "zeros"), dtype=dt))


def ones(shape: Any, dtype: Any = None) -> Any:
    """An array of ones (float64 by default, or ``config.default_float``)."""
    dt = _dtype_or_default(dtype, dtypes.default_float_dtype)
    return Array(np.ones(_as_shape(shape, "ones"), dtype=dt))


def empty(shape: Any, dtype: Any = None) -> Any:
    """Like ``zeros``: fxgrad arrays are always initialised."""
    dt = _dtype_or_default(dtype, dtypes.default_float_dtype)
    return Array(np.zeros(_as_shape(shape, "empty"), dtype=dt))


def full(shape: Any, fill_value: Any, dtype: Any = None) -> Any:
    """An array of ``shape`` filled with ``fill_value`` (broadcast if it is an array).

    The dtype defaults to that of ``fill_value`` (Python scalars: the default dtype of
    their kind). A traced ``fill_value`` gives a traced, differentiable result.
    """
    shape = _as_shape(shape, "full")
    fill = asarray_value(fill_value, None if dtype is None else dtypes.canonicalize_dtype(dtype))
    if get_aval(fill).weak_type and dtype is None:
        fill = ew.convert_element_type(fill, get_aval(fill).dtype)  # a strong result
    fshape = get_aval(fill).shape
    if len(fshape) > len(shape) or any(
        s not in (1, t) for s, t in zip(fshape[::-1], shape[::-1], strict=False)
    ):
        raise ShapeError(
            f"fxgrad.numpy.full: fill_value of shape {fshape} cannot be broadcast to shape {shape}"
        )
    if isinstance(fill, Tracer):
        return lshape.broadcast_to_shape(fill, shape)
    return Array(np.broadcast_to(np.asarray(fill), shape).copy())


def _like(a: Any, dtype: Any, shape: Any, fn_name: str) -> tuple[tuple[int, ...], np.dtype]:
    aval = get_aval(a) if isinstance(a, (Tracer, Array, np.ndarray)) else get_aval(asarray_value(a))
    out_shape = tuple(aval.shape) if shape is None else _as_shape(shape, fn_name)
    out_dtype = dtypes.canonicalize_dtype(dtype) if dtype is not None else np.dtype(aval.dtype)
    return out_shape, out_dtype


def zeros_like(a: Any, dtype: Any = None, shape: Any = None) -> Any:
    """Zeros with the shape and dtype of ``a`` (or the given ``dtype`` / ``shape``)."""
    shape, dtype = _like(a, dtype, shape, "zeros_like")
    return Array(np.zeros(shape, dtype))


def ones_like(a: Any, dtype: Any = None, shape: Any = None) -> Any:
    """Ones with the shape and dtype of ``a`` (or the given ``dtype`` / ``shape``)."""
    shape, dtype = _like(a, dtype, shape, "ones_like")
    return Array(np.ones(shape, dtype))


def empty_like(prototype: Any, dtype: Any = None, shape: Any = None) -> Any:
    """Like ``zeros_like``."""
    shape, dtype = _like(prototype, dtype, shape, "empty_like")
    return Array(np.zeros(shape, dtype))


def full_like(a: Any, fill_value: Any, dtype: Any = None, shape: Any = None) -> Any:
    """``full`` with the shape and dtype of ``a`` (``fill_value`` is cast to that dtype)."""
    shape, dtype = _like(a, dtype, shape, "full_like")
    return full(shape, fill_value, dtype)


# --- ranges -------------------------------------------------------------------------------


def _concrete_scalar(v: Any, name: str, fn_name: str) -> Any:
    if isinstance(v, Tracer):
        value = v.to_concrete_value()
        if value is None:
            raise ConcretizationError(
                f"fxgrad.numpy.{fn_name}: argument {name} is a traced value, but the length "
                "of the result must be known when tracing. Pass a Python number (a static "
                "argument under jit)."
            )
        v = value
    arr = np.asarray(v)
    if arr.ndim:
        raise ValueError(f"fxgrad.numpy.{fn_name}: {name} must be a scalar, got shape {arr.shape}")
    return arr.item()


def arange(start: Any, stop: Any = None, step: Any = None, dtype: Any = None) -> Any:
    """Evenly spaced values in ``[start, stop)`` with spacing ``step``.

    Forms: ``arange(stop)``, ``arange(start, stop)``, ``arange(start, stop, step)``.
    The bounds must be concrete. Without ``dtype`` the result has the promoted dtype
    of the arguments, Python scalars being weak (JAX's rule): ``arange(5)`` is int64,
    ``arange(5.0)`` the default float, ``arange(np.float32(5))`` float32.

    Raises:
      ConcretizationError: a bound is traced. ValueError: ``step`` is zero.

    Example:
      >>> import fxgrad.numpy as fnp
      >>> fnp.arange(1, 2, 0.25)
      Array([1.  , 1.25, 1.5 , 1.75], dtype=float64)
    """
    given = [v for v in (start, stop, step) if v is not None]
    if dtype is None:
        ops = [v if dtypes.is_weakly_typed(v) else dtypes.dtype(v) for v in given]
        dt = dtypes.result_type(*ops)
        if dt.kind == "b":
            dt = dtypes.default_int_dtype()
    else:
        dt = dtypes.canonicalize_dtype(dtype)
    if stop is None:  # arange(stop)
        start, stop = 0, start
    start, stop = (
        _concrete_scalar(start, "start", "arange"),
        _concrete_scalar(stop, "stop", "arange"),
    )
    if step is not None:
        step = _concrete_scalar(step, "step", "arange")
    if step is None:
        step = 1
    if step == 0:
        raise ValueError("fxgrad.numpy.arange: step must not be zero")
    return Array(np.arange(start, stop, step, dtype=dt))


def _linspace_dtypes(start: Any, stop: Any, dtype: Any) -> tuple[np.dtype, np.dtype]:
    """(computation dtype, result dtype), as NumPy: ``result_type(start, stop, float)``."""
    calc = dtypes.result_type(start, stop, 1.0)
    out = dtypes.canonicalize_dtype(dtype) if dtype is not None else calc
    return calc, out


def _static_num(num: Any, fn_name: str) -> int:
    try:
        n = int(_concrete_scalar(num, "num", fn_name))
    except (TypeError, ValueError):
        raise TypeError(f"fxgrad.numpy.{fn_name}: num must be an integer, got {num!r}") from None
    if n < 0:
        raise ValueError(f"fxgrad.numpy.{fn_name}: num must be non-negative, got {n}")
    return n


def _select_first_last(out: Any, first: Any, last: Any) -> Any:
    """Replace ``out[0]`` by ``first`` and ``out[-1]`` by ``last`` (None: keep) via masks."""
    aval = get_aval(out)
    num = aval.shape[0]
    for value, index in ((first, 0), (last, num - 1)):
        if value is None or num == 0:
            continue
        mask = lshape.broadcast_in_dim(np.arange(num) == index, aval.shape, (0,))
        value = lshape.broadcast_to_shape(value, aval.shape)
        out = ew.select_n(mask, out, value)
    return out


def _linspace_leading(start: Any, stop: Any, num: int, endpoint: bool, calc: np.dtype):
    """Samples along a new leading axis, and the step (NaN when it is undefined)."""
    start = ew.convert_element_type(asarray_value(start), calc)
    stop = ew.convert_element_type(asarray_value(stop), calc)
    bshape = np.broadcast_shapes(get_aval(start).shape, get_aval(stop).shape)
    start = lshape.broadcast_to_shape(start, bshape)
    stop = lshape.broadcast_to_shape(stop, bshape)
    out_shape = (num, *bshape)
    tail = tuple(range(1, len(out_shape)))
    start_b = lshape.broadcast_in_dim(start, out_shape, tail)
    stop_b = lshape.broadcast_in_dim(stop, out_shape, tail)
    steps = lshape.broadcast_in_dim(np.arange(num, dtype=calc), out_shape, (0,))
    div = (num - 1) if endpoint else num
    delta = ew.sub(stop, start)
    if div > 0:
        step = ew.div(delta, np.asarray(div, dtype=calc))
        step_b = lshape.broadcast_in_dim(step, out_shape, tail)
        out = ew.add(start_b, ew.mul(steps, step_b))
    else:
        step = Array(np.asarray(np.nan, dtype=calc))
        out = start_b
    if endpoint and num > 1:
        out = _select_first_last(out, None, stop_b)
    return out, step


def linspace(
    start: Any,
    stop: Any,
    num: int = 50,
    endpoint: bool = True,
    retstep: bool = False,
    dtype: Any = None,
    axis: int = 0,
) -> Any:
    """``num`` evenly spaced samples over ``[start, stop]`` (or ``[start, stop)``).

    ``start`` and ``stop`` may be arrays (they broadcast; the samples lie along
    ``axis`` of the result) and traced values: the result is differentiable in both.

    Args:
      start, stop: the end points.
      num: the number of samples (static).
      endpoint: include ``stop``.
      retstep: also return the spacing (NaN when ``num`` samples define no step).
      dtype: the result dtype (integer results are floored, as in NumPy).
      axis: where the sample axis goes in the result.

    Example:
      >>> import fxgrad.numpy as fnp
      >>> fnp.linspace(0.0, 1.0, 5)
      Array([0.  , 0.25, 0.5 , 0.75, 1.  ], dtype=float64)
    """
    num = _static_num(num, "linspace")
    calc, out_dtype = _linspace_dtypes(start, stop, dtype)
    out, step = _linspace_leading(start, stop, num, endpoint, calc)
    axis = canonicalize_axis(axis, get_aval(out).ndim, "linspace")
    if axis != 0:
        out = moveaxis(out, 0, axis)
    if out_dtype.kind in "iu":
        out = ew.floor(out)
    out = ew.convert_element_type(out, out_dtype)
    return (out, step) if retstep else out


def logspace(
    start: Any,
    stop: Any,
    num: int = 50,
    endpoint: bool = True,
    base: Any = 10.0,
    dtype: Any = None,
    axis: int = 0,
) -> Any:
    """``base ** linspace(start, stop, num)``: samples evenly spaced on a log scale."""
    from fxgrad.numpy._ufuncs import power

    num = _static_num(num, "logspace")
    calc, _ = _linspace_dtypes(start, stop, None)
    base = asarray_value(base)
    nd = max(get_aval(asarray_value(x)).ndim for x in (start, stop, base))
    start, stop, base = (_with_rank(asarray_value(x), nd) for x in (start, stop, base))
    y = linspace(start, stop, num, endpoint=endpoint, dtype=calc, axis=axis)
    axis = canonicalize_axis(axis, nd + 1, "logspace")
    out = power(lshape.expand_dims(base, (axis,)), y)
    return out if dtype is None else ew.convert_element_type(out, dtype)


def _with_rank(x: Any, nd: int) -> Any:
    shape = get_aval(x).shape
    return lshape.reshape(x, (1,) * (nd - len(shape)) + tuple(shape))


def geomspace(
    start: Any,
    stop: Any,
    num: int = 50,
    endpoint: bool = True,
    dtype: Any = None,
    axis: int = 0,
) -> Any:
    """Samples evenly spaced on a log scale between the end points themselves.

    Negative and complex end points follow NumPy (the path follows the sign/phase of
    ``start``); the first and last samples equal ``start`` and ``stop`` exactly.

    Raises:
      ValueError: a concrete end point is zero.
    """
    num = _static_num(num, "geomspace")
    calc, out_dtype = _linspace_dtypes(start, stop, dtype)
    if calc.kind != "c" and out_dtype.kind == "c":
        calc = dtypes.to_complex_dtype(calc)
    start = ew.convert_element_type(asarray_value(start), calc)
    stop = ew.convert_element_type(asarray_value(stop), calc)
    for v in (start, stop):
        if not isinstance(v, Tracer) and np.any(np.asarray(v) == 0):
            raise ValueError("fxgrad.numpy.geomspace: a geometric sequence cannot include zero")
    bshape = np.broadcast_shapes(get_aval(start).shape, get_aval(stop).shape)
    start = lshape.broadcast_to_shape(start, bshape)
    stop = lshape.broadcast_to_shape(stop, bshape)
    sign = _unit(start)
    log_start = ew.log(ew.div(start, sign))
    log_stop = ew.log(ew.div(stop, sign))
    logs, _ = _linspace_leading(log_start, log_stop, num, endpoint, calc)
    out = ew.exp(logs)
    tail = tuple(range(1, len(bshape) + 1))
    start_b = lshape.broadcast_in_dim(ew.div(start, sign), (num, *bshape), tail)
    stop_b = lshape.broadcast_in_dim(ew.div(stop, sign), (num, *bshape), tail)
    out = _select_first_last(out, start_b, stop_b if endpoint and num > 1 else None)
    out = ew.mul(out, lshape.broadcast_in_dim(sign, (num, *bshape), tail))
    axis = canonicalize_axis(axis, len(bshape) + 1, "geomspace")
    if axis != 0:
        out = moveaxis(out, 0, axis)
    return ew.convert_element_type(out, out_dtype)


def _unit(x: Any) -> Any:
    """``x / |x|`` for complex ``x``, the sign for real ``x`` (NumPy 2's ``sign``)."""
    if get_aval(x).dtype.kind == "c":
        magnitude = ew.convert_element_type(ew.abs(x), get_aval(x).dtype)
        return ew.div(x, magnitude)
    return ew.sign(x)


# --- matrices and grids -------------------------------------------------------------------


def _static_int(v: Any, name: str, fn_name: str) -> int:
    value = _concrete_scalar(v, name, fn_name)
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool):
        raise TypeError(f"fxgrad.numpy.{fn_name}: {name} must be an integer, got {v!r}")
    return int(value)


def eye(N: int, M: int | None = None, k: int = 0, dtype: Any = None) -> Any:  # noqa: N803
    """A 2-D ``(N, M)`` array with ones on the ``k``-th diagonal (float64 by default)."""
    n = _static_int(N, "N", "eye")
    m = n if M is None else _static_int(M, "M", "eye")
    if n < 0 or m < 0:
        raise ValueError(f"fxgrad.numpy.eye: N and M must be non-negative, got {n} and {m}")
    dt = _dtype_or_default(dtype, dtypes.default_float_dtype)
    return Array(np.eye(n, m, _static_int(k, "k", "eye"), dtype=dt))


def identity(n: int, dtype: Any = None) -> Any:
    """The ``(n, n)`` identity matrix."""
    return eye(n, dtype=dtype)


def tri(N: int, M: int | None = None, k: int = 0, dtype: Any = None) -> Any:  # noqa: N803
    """Ones at and below the ``k``-th diagonal of an ``(N, M)`` array, zeros above."""
    n = _static_int(N, "N", "tri")
    m = n if M is None else _static_int(M, "M", "tri")
    if n < 0 or m < 0:
        raise ValueError(f"fxgrad.numpy.tri: N and M must be non-negative, got {n} and {m}")
    dt = _dtype_or_default(dtype, dtypes.default_float_dtype)
    return Array(np.tri(n, m, _static_int(k, "k", "tri"), dtype=dt))


def meshgrid(*xi: Any, copy: bool = True, sparse: bool = False, indexing: str = "xy") -> list[Any]:
    """Coordinate arrays from 1-D coordinate vectors (a list, as in JAX).

    With ``indexing="xy"`` (Cartesian) the first two output axes are swapped relative
    to ``"ij"`` (matrix) indexing. ``sparse=True`` returns broadcastable arrays with
    size-1 axes instead of full grids. Inputs are flattened first.
    """
    if indexing not in ("xy", "ij"):
        raise ValueError(f"fxgrad.numpy.meshgrid: indexing must be 'xy' or 'ij', got {indexing!r}")
    arrays = [asarray_value(x) for x in xi]
    n = len(arrays)
    sizes = [get_aval(a).size for a in arrays]
    outs = []
    for i, a in enumerate(arrays):
        shape = [1] * n
        shape[i] = sizes[i]
        if indexing == "xy" and n > 1:
            shape[0], shape[1] = shape[1], shape[0]
        outs.append(lshape.reshape(a, shape))
    if sparse:
        return outs
    full_shape = list(sizes)
    if indexing == "xy" and n > 1:
        full_shape[0], full_shape[1] = full_shape[1], full_shape[0]
    return [lshape.broadcast_to_shape(o, tuple(full_shape)) for o in outs]


def indices(dimensions: Sequence[int], dtype: Any = None, sparse: bool = False) -> Any:
    """The index grid of an array of shape ``dimensions``, stacked along a new axis 0.

    Returns an array of shape ``(len(dimensions), *dimensions)`` (int64 by default), or
    with ``sparse=True`` a tuple of broadcastable arrays.
    """
    dims = _as_shape(dimensions, "indices")
    dt = _dtype_or_default(dtype, dtypes.default_int_dtype)
    if sparse:
        return tuple(Array(g) for g in np.indices(dims, dtype=dt, sparse=True))
    return Array(np.indices(dims, dtype=dt))


def diagflat(v: Any, k: int = 0) -> Any:
    """A 2-D array with the flattened ``v`` on its ``k``-th diagonal, zeros elsewhere.

    Differentiable in ``v``; built from constant masks (a NaN or infinity in ``v``
    stays on the diagonal).
    """
    v = asarray_value(v)
    k = _static_int(k, "k", "diagflat")
    aval = get_aval(v)
    n = aval.size
    flat = lshape.reshape(v, (n,))
    size = n + abs(k)
    row0 = max(-k, 0)
    zeros = aval.strip_weak_type()
    # rows[r] = flat[r - row0] for row0 <= r < row0 + n: place the vector with a mask.
    place = np.arange(size)[:, None] == np.arange(n)[None, :] + row0
    spread = lshape.broadcast_in_dim(flat, (size, n), (1,))
    rows = red.reduce_sum(
        ew.select_n(place, ew.full_like_aval(zeros.update(shape=(size, n)), 0), spread), (1,)
    )
    diagonal = np.arange(size)[None, :] - np.arange(size)[:, None] == k
    on = lshape.broadcast_in_dim(rows, (size, size), (0,))
    return ew.select_n(diagonal, ew.full_like_aval(zeros.update(shape=(size, size)), 0), on)


def fromfunction(function: Callable[..., Any], shape: Any, *, dtype: Any = float, **kwargs):
    """``function(*indices(shape, dtype), **kwargs)``: call it once on the index grids.

    As in NumPy, ``function`` receives whole coordinate arrays (not scalars), and its
    return value is passed back unchanged.
    """
    dt = _dtype_or_default(dtype, dtypes.default_float_dtype)
    grids = np.indices(_as_shape(shape, "fromfunction"), dtype=dt)
    return function(*[Array(g) for g in grids], **kwargs)
