"""Array creation: array, asarray, zeros, ones, full, *_like, arange, linspace, eye.

Floating-point results default to float64, as in NumPy;
``fxgrad.config.update("default_float", "float32")`` changes that.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fxgrad import dtypes
from fxgrad.array import Array
from fxgrad.core import Tracer, get_aval
from fxgrad.lax import elementwise as ew
from fxgrad.numpy._util import asarray_value


def _shape_tuple(shape: Any, fn_name: str) -> tuple[int, ...]:
    if isinstance(shape, (int, np.integer)):
        return (int(shape),)
    try:
        return tuple(int(s) for s in shape)
    except TypeError:
        raise TypeError(
            f"fxgrad.numpy.{fn_name}: shape must be an int or a sequence of ints, got "
            f"{shape!r}. Shapes must be static: under jit, pass them as static arguments."
        ) from None


def array(
    object: Any, dtype: Any = None, copy: bool = True, order: Any = None, ndmin: int = 0
) -> Any:  # noqa: A002
    """Create an array from array-like ``object`` (lists of arrays are stacked)."""
    if isinstance(object, (list, tuple)) and _contains_tracer(object):
        from fxgrad.numpy._shape_ops import stack

        out = stack([array(o) for o in object])
        if dtype is not None:
            out = ew.convert_element_type(out, dtypes.canonicalize_dtype(dtype))
        return out
    out = asarray_value(object, dtype)
    if ndmin > out.ndim:
        from fxgrad.lax.shape import reshape

        out = reshape(out, (1,) * (ndmin - out.ndim) + tuple(out.shape))
    return out


def _contains_tracer(x: Any) -> bool:
    if isinstance(x, Tracer):
        return True
    if isinstance(x, (list, tuple)):
        return any(_contains_tracer(e) for e in x)
    return False


def asarray(a: Any, dtype: Any = None, order: Any = None, *, copy: Any = None) -> Any:
    """Convert ``a`` to an array without copying when possible."""
    return array(a, dtype=dtype)


def full(shape: Any, fill_value: Any, dtype: Any = None) -> Any:
    """An array of ``shape`` filled with ``fill_value``."""
    shape = _shape_tuple(shape, "full")
    fill = asarray_value(fill_value, dtype)
    if isinstance(fill, Tracer) or fill.ndim:
        from fxgrad.lax.shape import broadcast_to_shape

        return broadcast_to_shape(fill, shape)
    return Array(np.full(shape, fill._value, dtype=fill.dtype))


def zeros(shape: Any, dtype: Any = None) -> Any:
    """An array of zeros (float64 by default)."""
    dtype = dtypes.canonicalize_dtype(dtype if dtype is not None else float)
    return Array(np.zeros(_shape_tuple(shape, "zeros"), dtype=dtype))


def ones(shape: Any, dtype: Any = None) -> Any:
    """An array of ones (float64 by default)."""
    dtype = dtypes.canonicalize_dtype(dtype if dtype is not None else float)
    return Array(np.ones(_shape_tuple(shape, "ones"), dtype=dtype))


def empty(shape: Any, dtype: Any = None) -> Any:
    """Like ``zeros`` (fxgrad arrays are always initialised)."""
    return zeros(shape, dtype)


def _like(a: Any, dtype: Any, shape: Any) -> tuple[tuple[int, ...], np.dtype]:
    aval = get_aval(asarray_value(a)) if not hasattr(a, "shape") else None
    a_shape = a.shape if aval is None else aval.shape
    a_dtype = a.dtype if aval is None else aval.dtype
    out_shape = tuple(a_shape) if shape is None else _shape_tuple(shape, "full_like")
    out_dtype = dtypes.canonicalize_dtype(dtype) if dtype is not None else np.dtype(a_dtype)
    return out_shape, out_dtype


def zeros_like(a: Any, dtype: Any = None, shape: Any = None) -> Any:
    shape, dtype = _like(a, dtype, shape)
    return Array(np.zeros(shape, dtype))


def ones_like(a: Any, dtype: Any = None, shape: Any = None) -> Any:
    shape, dtype = _like(a, dtype, shape)
    return Array(np.ones(shape, dtype))


def empty_like(a: Any, dtype: Any = None, shape: Any = None) -> Any:
    return zeros_like(a, dtype, shape)


def full_like(a: Any, fill_value: Any, dtype: Any = None, shape: Any = None) -> Any:
    shape, dtype = _like(a, dtype, shape)
    return full(shape, fill_value, dtype)


def arange(start: Any, stop: Any = None, step: Any = None, dtype: Any = None) -> Any:
    """Evenly spaced values in ``[start, stop)``; the bounds must be concrete."""
    for name, v in (("start", start), ("stop", stop), ("step", step)):
        if isinstance(v, Tracer) and v.to_concrete_value() is None:
            from fxgrad.errors import ConcretizationError

            raise ConcretizationError(
                f"fxgrad.numpy.arange: argument {name} is a traced value, but the length "
                "of the result must be known when tracing. Pass a Python number (a static "
                "argument under jit)."
            )
    vals = [np.asarray(v).item() if v is not None else None for v in (start, stop, step)]
    start, stop, step = vals
    if stop is None:
        start, stop = 0, start
    if step is None:
        step = 1
    if dtype is None:
        kinds = [type(v) for v in (start, stop, step)]
        if float in kinds:
            dtype = dtypes.default_float_dtype()
        elif complex in kinds:
            dtype = dtypes.default_complex_dtype()
        else:
            dtype = dtypes.default_int_dtype()
    return Array(np.arange(start, stop, step, dtype=dtypes.canonicalize_dtype(dtype)))


def linspace(
    start: Any,
    stop: Any,
    num: int = 50,
    endpoint: bool = True,
    retstep: bool = False,
    dtype: Any = None,
    axis: int = 0,
) -> Any:
    """``num`` evenly spaced samples over ``[start, stop]`` (differentiable in the ends)."""
    num = int(num)
    if num < 0:
        raise ValueError(f"fxgrad.numpy.linspace: num must be non-negative, got {num}")
    start = asarray_value(start)
    stop = asarray_value(stop)
    out_dtype = (
        dtypes.canonicalize_dtype(dtype)
        if dtype is not None
        else dtypes.to_inexact_dtype(dtypes.result_type(start, stop))
    )
    calc = dtypes.to_inexact_dtype(out_dtype)
    start = ew.convert_element_type(start, calc)
    stop = ew.convert_element_type(stop, calc)
    div = (num - 1) if endpoint else num
    steps = np.arange(num, dtype=calc)
    from fxgrad.lax.shape import broadcast_to_shape, expand_dims

    bshape = np.broadcast_shapes(start.shape, stop.shape)
    start_b = expand_dims(broadcast_to_shape(start, bshape), (0,))
    stop_b = expand_dims(broadcast_to_shape(stop, bshape), (0,))
    steps_b = steps.reshape((num,) + (1,) * len(bshape))
    delta = ew.sub(stop_b, start_b)
    if div > 0:
        step_size = ew.div(delta, np.asarray(div, dtype=calc))
        from fxgrad.numpy._ufuncs import add, multiply

        out = add(start_b, multiply(steps_b, step_size))
        if endpoint and num > 1:
            from fxgrad.numpy._ufuncs import where

            is_last = steps_b == num - 1
            out = where(is_last, stop_b, out)
    else:
        step_size = ew.mul(delta, np.asarray(np.nan, dtype=calc))
        from fxgrad.numpy._ufuncs import add, multiply

        out = add(start_b, multiply(steps_b, delta))
    if axis != 0:
        from fxgrad.numpy._shape_ops import moveaxis

        out = moveaxis(out, 0, axis)
    if out_dtype.kind in "iu":
        from fxgrad.numpy._ufuncs import floor

        out = floor(out)
    out = ew.convert_element_type(out, out_dtype)
    if retstep:
        return out, step_size.reshape(bshape) if hasattr(step_size, "reshape") else step_size
    return out


def eye(N: int, M: int | None = None, k: int = 0, dtype: Any = None) -> Any:  # noqa: N803
    """A 2-D array with ones on the ``k``-th diagonal."""
    dtype = dtypes.canonicalize_dtype(dtype if dtype is not None else float)
    return Array(np.eye(int(N), None if M is None else int(M), int(k), dtype=dtype))


def identity(n: int, dtype: Any = None) -> Any:
    return eye(n, dtype=dtype)


__all__ = [
    "arange",
    "array",
    "asarray",
    "empty",
    "empty_like",
    "eye",
    "full",
    "full_like",
    "identity",
    "linspace",
    "ones",
    "ones_like",
    "zeros",
    "zeros_like",
]
