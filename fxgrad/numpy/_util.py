"""Shared machinery of ``fxgrad.numpy``: conversion, dtype promotion, broadcasting.

NumPy functions accept anything array-like and promote dtypes (with weak Python
scalars, see ``fxgrad.dtypes``) and shapes (broadcasting) before calling a primitive,
whose operands must agree exactly. ``elementwise`` does both; for concrete arguments
outside any transformation it calls the primitive's implementation directly, letting
NumPy broadcast, which keeps an eager operation close to NumPy's own cost.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from fxgrad import core, dtypes
from fxgrad.array import Array
from fxgrad.core import Primitive, Tracer, get_aval
from fxgrad.errors import ShapeError
from fxgrad.interpreters.reverse import tape_elementwise
from fxgrad.lax import elementwise as ew
from fxgrad.lax.shape import broadcast_small_or_view, broadcast_to_shape

_PY_SCALARS = (bool, int, float, complex)


def asarray_value(x: Any, dtype: Any = None) -> Any:
    """``x`` as an fxgrad value (Array or tracer), converting lists and scalars."""
    if isinstance(x, Tracer):
        if dtype is not None and np.dtype(dtype) != x.dtype:
            return ew.convert_element_type(x, dtype)
        return x
    if type(x) is Array:
        if dtype is not None and np.dtype(dtype) != x.dtype:
            return ew.convert_element_type(x, dtype)
        return x
    return Array(_to_numpy(x, dtype), weak_type=dtype is None and type(x) in _PY_SCALARS)


def _to_numpy(x: Any, dtype: Any) -> np.ndarray:
    if dtype is not None:
        dtype = dtypes.canonicalize_dtype(dtype)
    if type(x) in _PY_SCALARS:
        return np.asarray(x, dtype=dtype if dtype is not None else dtypes.dtype(x))
    if isinstance(x, (list, tuple)):
        if any(isinstance(e, Tracer) for e in _flatten_nested(x)):
            raise TypeError("nested sequences containing traced values: use fxgrad.numpy.stack")
        arr = np.asarray(
            [np.asarray(e) if isinstance(e, Array) else e for e in x]
            if any(isinstance(e, Array) for e in x)
            else x
        )
        if dtype is None:
            dtype = _python_default_dtype(arr, x)
        return arr.astype(dtype, copy=False)
    arr = np.asarray(x)
    if arr.dtype == object:
        raise TypeError(f"cannot convert {type(x).__name__} to an fxgrad array")
    if dtype is not None:
        arr = arr.astype(dtype, copy=False)
    else:
        arr = arr.astype(dtypes.canonicalize_dtype(arr.dtype), copy=False)
    return arr


def _flatten_nested(x):
    for e in x:
        if isinstance(e, (list, tuple)):
            yield from _flatten_nested(e)
        else:
            yield e


def _python_default_dtype(arr: np.ndarray, original: Any) -> np.dtype:
    """Lists of Python numbers take the configured default dtypes (float64 by default)."""
    kind = arr.dtype.kind
    if kind == "f" and arr.dtype == np.float64:
        return dtypes.default_float_dtype()
    if kind == "i" and arr.dtype == np.int64:
        return dtypes.default_int_dtype()
    if kind == "c" and arr.dtype == np.complex128:
        return dtypes.default_complex_dtype()
    return dtypes.canonicalize_dtype(arr.dtype)


def _is_concrete_eager(args: Sequence[Any]) -> bool:
    state = core._local_state
    if state.dynamic is not state.base:
        return False
    for a in args:
        if isinstance(a, Tracer):
            return False
    return True


_PROMOTION_CACHE: dict[Any, tuple[np.dtype, bool]] = {}


def _promotion_key(args: Sequence[Any]) -> tuple | None:
    key = []
    for a in args:
        t = type(a)
        if t is Array:
            key.append((a._value.dtype, a.weak_type))
        elif t in _PY_SCALARS:
            key.append(t)
        elif t is np.ndarray:
            key.append((a.dtype, False))
        elif isinstance(a, Tracer):
            aval = a.aval
            key.append((aval.dtype, aval.weak_type))
        else:
            return None
    key.append(dtypes.default_float_dtype())
    return tuple(key)


def _result_type(args: Sequence[Any]) -> tuple[np.dtype, bool]:
    """``dtypes.result_type_with_weak``, cached for arrays, tracers and Python scalars."""
    key = _promotion_key(args)
    if key is None:
        return dtypes.result_type_with_weak(*args)
    found = _PROMOTION_CACHE.get(key)
    if found is None:
        found = _PROMOTION_CACHE[key] = dtypes.result_type_with_weak(*args)
    return found


def promote_dtypes(*args: Any) -> list[Any]:
    """Convert ``args`` to their common dtype (NumPy rules with weak Python scalars)."""
    dtype, weak = _result_type(args)
    out = []
    for a in args:
        if type(a) in _PY_SCALARS:
            # An Array carries the weak type into traced code (a weak Literal).
            out.append(Array(dtypes.convert_scalar(a, dtype), weak_type=weak))
        else:
            if not isinstance(a, (Array, Tracer)):
                a = asarray_value(a)
            out.append(a if a.dtype == dtype else _convert(a, dtype, weak))
    return out


def _convert(x: Any, dtype: np.dtype, weak: bool) -> Any:
    """``x`` cast to ``dtype``, keeping the weak type the promotion decided (as JAX)."""
    if not weak:
        return ew.convert_element_type(x, dtype)
    return ew.convert_element_type_p.bind(x, new_dtype=dtype, weak_type=True)


def promote_shapes(fn_name: str, *args: Any) -> list[Any]:
    """Broadcast ``args`` to their common shape (NumPy rules)."""
    shapes = [get_aval(a).shape for a in args]
    first = shapes[0]
    if all(s == first for s in shapes):
        return list(args)
    try:
        shape = np.broadcast_shapes(*shapes)
    except ValueError:
        shown = " ".join(str(tuple(s)) for s in shapes)
        raise ShapeError(
            f"fxgrad.numpy.{fn_name}: operands could not be broadcast together with shapes {shown}"
        ) from None
    return [broadcast_to_shape(a, shape) for a in args]


def promote_args(fn_name: str, *args: Any) -> list[Any]:
    return promote_shapes(fn_name, *promote_dtypes(*args))


def promote_args_inexact(fn_name: str, *args: Any) -> list[Any]:
    """Promote, then convert integer and bool results to the default float dtype."""
    args = promote_dtypes(*args)
    dtype = get_aval(args[0]).dtype
    if dtype.kind not in "fc":
        new = dtypes.to_inexact_dtype(dtype)
        args = [ew.convert_element_type(a, new) for a in args]
    return promote_shapes(fn_name, *args)


def _eager_promotion(args: Sequence[Any]) -> tuple[np.dtype, bool] | None:
    """Cached ``result_type_with_weak`` for Arrays and Python scalars, else None."""
    for a in args:
        t = type(a)
        if t is not Array and t not in _PY_SCALARS and t is not np.ndarray:
            return None
    return _result_type(args)


def _eager_elementwise(fn_name, prim, args, inexact, params):
    """Apply ``prim``'s implementation to concrete values, letting NumPy broadcast."""
    promoted = _eager_promotion(args)
    if promoted is None:
        vals = promote_dtypes(*args)
        dtype = get_aval(vals[0]).dtype
        weak = False
    else:
        dtype, weak = promoted
        vals = args
    if inexact and dtype.kind not in "fc":
        dtype = dtypes.to_inexact_dtype(dtype)
        weak = False
    raw = []
    for v in vals:
        t = type(v)
        if t is Array:
            v = v._value
            raw.append(v if v.dtype == dtype else v.astype(dtype))
        elif t in _PY_SCALARS:
            raw.append(_scalar_value(v, dtype))
        else:
            v = np.asarray(v)
            raw.append(v if v.dtype == dtype else v.astype(dtype))
    out = _apply_impl(fn_name, prim, raw, params)
    return Array.__new__(Array)._init(out, weak and getattr(out, "dtype", None) == dtype)


def _scalar_value(x: Any, dtype: np.dtype) -> Any:
    """Python scalar ``x`` as a NumPy scalar of ``dtype`` (floats directly; other kinds
    through ``dtypes.convert_scalar``, which wraps or rejects as promotion requires)."""
    if dtype.kind in "fc" and type(x) is not bool:
        return dtype.type(x)
    return dtypes.convert_scalar(x, dtype)


def _apply_impl(fn_name: str, prim: Primitive, values: Sequence[Any], params: dict) -> Any:
    """``prim.impl(*values)``, letting NumPy broadcast; a shape mismatch is reported as a
    ``ShapeError`` naming ``fxgrad.numpy.<fn_name>``."""
    try:
        return prim.impl(*values, **params)
    except ValueError:
        promote_shapes(fn_name, *values)  # raises a ShapeError naming the function
        raise


def _agree(args: Sequence[Any], inexact: bool) -> bool:
    """Whether ``args`` are arrays or tracers of one shape and one dtype (inexact when
    ``inexact``), so promotion and broadcasting would leave them as they are."""
    first = None
    for a in args:
        if not isinstance(a, (Tracer, Array)):
            return False
        aval = get_aval(a)
        if first is None:
            first = aval
            if inexact and aval.dtype.kind not in "fc":
                return False
        elif aval.shape != first.shape or aval.dtype != first.dtype:
            return False
    return True


def _fill_scalars(args: Sequence[Any], inexact: bool) -> list[Any] | None:
    """``args`` with each Python scalar filled to the shape of the other operands (and
    NumPy arrays as Arrays), when those agree in shape and dtype and the scalars do not
    change that dtype; else None.

    Only outside staging (a transformation of concrete values, such as eager ``grad``):
    the filled scalar is a NumPy broadcast, which a jaxpr would carry as a constant of
    the full shape, where staging keeps a ``broadcast_in_dim``.
    """
    state = core._local_state
    if state.dynamic is not state.base:
        return None
    first = None
    for a in args:
        if type(a) not in _PY_SCALARS:
            if not isinstance(a, (Tracer, Array, np.ndarray)):
                return None
            aval = get_aval(a)
            if first is None:
                first = aval
            elif aval.shape != first.shape or aval.dtype != first.dtype:
                return None
    if first is None or (inexact and first.dtype.kind not in "fc"):
        return None
    dtype, weak = _result_type(args)
    if dtype != first.dtype:
        return None
    return [
        _filled(a, dtype, weak, first)
        if type(a) in _PY_SCALARS
        else Array(a)
        if type(a) is np.ndarray
        else a
        for a in args
    ]


def _filled(x: Any, dtype: np.dtype, weak: bool, aval: core.ShapedArray) -> Array:
    """Python scalar ``x`` as an Array of ``dtype`` and ``aval``'s shape, weakly typed
    when the promotion's result is (as ``promote_dtypes`` converts scalars)."""
    value = np.asarray(_scalar_value(x, dtype), dtype)
    return Array.__new__(Array)._init(broadcast_small_or_view(value, tuple(aval.shape)), weak)


def eager_buffers(args: Sequence[Any]) -> list[np.ndarray] | None:
    """The NumPy buffers of ``args`` when every one is an eager ``Array`` that is not
    weakly typed and no transformation is active, else None: the condition under which
    a function may call a primitive's implementation directly."""
    if core._local_state.dynamic is not core._local_state.base:
        return None
    values = []
    for a in args:
        if type(a) is not Array or a.weak_type:
            return None
        values.append(a._value)
    return values


def _same_typed_arrays(args: Sequence[Any], inexact: bool) -> list[np.ndarray] | None:
    """``eager_buffers(args)`` when they share one dtype (inexact when ``inexact``), so
    promotion would leave them as they are."""
    values = eager_buffers(args)
    if not values:
        return None
    dtype = values[0].dtype
    if inexact and dtype.kind not in "fc":
        return None
    for v in values[1:]:
        if v.dtype != dtype:
            return None
    return values


def elementwise(fn_name: str, prim: Primitive, *args: Any, inexact: bool = False, **params):
    """Apply an elementwise primitive with NumPy promotion and broadcasting."""
    values = _same_typed_arrays(args, inexact)
    if values is not None:
        return Array.__new__(Array)._init(_apply_impl(fn_name, prim, values, params), False)
    recorded = tape_elementwise(prim, args, params)  # eager grad's tape
    if recorded is not None:
        return recorded
    if _is_concrete_eager(args):
        return _eager_elementwise(fn_name, prim, args, inexact, params)
    if _agree(args, inexact):
        return prim.bind(*args, **params)
    filled = _fill_scalars(args, inexact)
    if filled is not None:
        return prim.bind(*filled, **params)
    if inexact:
        vals = promote_args_inexact(fn_name, *args)
    else:
        vals = promote_args(fn_name, *args)
    return prim.bind(*vals, **params)


def check_arraylike(fn_name: str, *args: Any) -> None:
    for i, a in enumerate(args):
        if not (core.is_array_like(a) or isinstance(a, (list, tuple))):
            raise TypeError(
                f"fxgrad.numpy.{fn_name} requires array-like arguments; argument {i} has type "
                f"{type(a).__name__}"
            )


def canonicalize_axis(axis: int, ndim: int, fn_name: str = "") -> int:
    axis = int(axis)
    if not -ndim <= axis < max(ndim, 1) and not (ndim == 0 and axis in (0, -1)):
        where = f"fxgrad.numpy.{fn_name}: " if fn_name else ""
        raise ShapeError(f"{where}axis {axis} is out of bounds for an array of rank {ndim}")
    return axis % ndim if ndim else 0


def canonicalize_axes(axis: Any, ndim: int, fn_name: str = "") -> tuple[int, ...]:
    """``axis`` (None, int or tuple) as a sorted tuple of non-negative axes."""
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, (tuple, list)):
        axes = [canonicalize_axis(a, ndim, fn_name) for a in axis]
        if len(set(axes)) != len(axes):
            raise ValueError(f"fxgrad.numpy.{fn_name}: repeated axis in {axis}")
        return tuple(sorted(axes))
    return (canonicalize_axis(axis, ndim, fn_name),)
