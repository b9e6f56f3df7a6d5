"""Argument handling shared by the ``fxgrad.random`` samplers, and uniform floats in a range.

Every sampler checks its arguments the way ``jax.random`` does: a shape is a tuple of
static non-negative ints; parameters must broadcast to ``shape`` exactly, and
``shape=None`` means the parameters' broadcast shape; dtypes default to fxgrad's
NumPy-style ones (float64, int64), JAX's with ``jax_enable_x64``. Errors name the
sampler, what was expected, what was received, and the fix.

``uniform_range`` is JAX's ``uniform`` below the argument checks: floats in [0, 1) from
the top mantissa bits, then ``max(minval, f * (maxval - minval) + minval)`` with the
multiply-add fused as XLA's CPU backend fuses it, so that the bits are JAX's.
"""

from __future__ import annotations

import operator
from typing import Any

import numpy as np

from fxgrad import dtypes
from fxgrad.core import Tracer, get_aval
from fxgrad.errors import FxgradTypeError, ShapeError
from fxgrad.lax import elementwise as ew
from fxgrad.lax.random_bits import fma, unit_floats
from fxgrad.lax.shape import broadcast_in_dim, broadcast_to_shape


def shape_arg(name: str, shape: Any) -> tuple[int, ...]:
    if isinstance(shape, (int, np.integer)):
        shape = (shape,)
    try:
        shape = tuple(operator.index(d) for d in shape)
    except TypeError:
        raise FxgradTypeError(
            f"fxgrad.random.{name}: shape must be a tuple of non-negative Python ints, got "
            f"{shape!r}. Under jit, shapes are static: pass them as Python values."
        ) from None
    if any(d < 0 for d in shape):
        raise ShapeError(f"fxgrad.random.{name}: shape {shape} has a negative dimension.")
    return shape


def shape_of(x: Any) -> tuple[int, ...]:
    if isinstance(x, (list, tuple)):
        return np.shape(x)
    return tuple(get_aval(x).shape)


def check_shape(name: str, shape: tuple[int, ...], *param_shapes: tuple[int, ...]) -> None:
    """Parameters must broadcast to ``shape`` exactly (JAX's rule)."""
    try:
        joined = np.broadcast_shapes(shape, *param_shapes)
    except ValueError:
        joined = None
    if joined != shape:
        raise ShapeError(
            f"fxgrad.random.{name}: parameter shapes {list(param_shapes)} must broadcast to "
            f"the shape argument {shape}, but they give {joined}. Pass shape=None to use the "
            "parameters' broadcast shape, or a shape they broadcast to."
        )


def resolve_shape(name: str, shape: Any, *param_shapes: tuple[int, ...]) -> tuple[int, ...]:
    """``shape`` checked against the parameters' shapes; for None, their broadcast shape."""
    if shape is None:
        return broadcast_shape(name, *param_shapes)
    shape = shape_arg(name, shape)
    check_shape(name, shape, *param_shapes)
    return shape


def broadcast_shape(name: str, *shapes: tuple[int, ...]) -> tuple[int, ...]:
    try:
        return tuple(np.broadcast_shapes(*shapes))
    except ValueError:
        raise ShapeError(
            f"fxgrad.random.{name}: the parameter shapes {list(shapes)} do not broadcast."
        ) from None


def float_dtype(name: str, dtype: Any, allow_complex: bool = False) -> np.dtype:
    dtype = dtypes.default_float_dtype() if dtype is None else dtypes.canonicalize_dtype(dtype)
    if dtype.kind != "f" and not (allow_complex and dtype.kind == "c"):
        kind = "a float or complex" if allow_complex else "a float"
        raise FxgradTypeError(
            f"fxgrad.random.{name}: dtype must be {kind} dtype, got {dtype.name}."
        )
    return dtype


def int_dtype(name: str, dtype: Any) -> np.dtype:
    dtype = dtypes.default_int_dtype() if dtype is None else dtypes.canonicalize_dtype(dtype)
    if dtype.kind not in "iu":
        raise FxgradTypeError(f"fxgrad.random.{name}: dtype must be an integer dtype, got {dtype}.")
    return dtype


def is_python_number(x: Any) -> bool:
    return isinstance(x, (int, float, np.number)) and not isinstance(x, bool)


def convert(x: Any, dtype: np.dtype) -> Any:
    """``x`` (a Python number, list, NumPy or fxgrad array, or tracer) as ``dtype``."""
    if isinstance(x, (Tracer,)) or type(x).__module__.startswith("fxgrad"):
        return ew.convert_element_type(x, dtype)
    return np.asarray(x, dtype=dtype)


def const(value: float, dtype: np.dtype) -> np.ndarray:
    return np.asarray(value, dtype=dtype)


def full(value: float, dtype: np.dtype, shape: tuple[int, ...]) -> Any:
    return broadcast_in_dim(const(value, dtype), shape, ())


def asarray(x: Any) -> Any:
    from fxgrad.numpy._util import asarray_value

    return asarray_value(x)


def promote_inexact(*args: Any) -> list[Any]:
    """``args`` converted to one inexact dtype (NumPy promotion), shapes unchanged."""
    from fxgrad.numpy._util import promote_dtypes

    args = promote_dtypes(*args)
    dtype = np.dtype(get_aval(args[0]).dtype)
    if dtype.kind not in "fc":
        args = [ew.convert_element_type(a, dtypes.to_inexact_dtype(dtype)) for a in args]
    return args


def _exact_product(scale: np.ndarray, dtype: np.dtype) -> bool:
    """Whether ``x * scale`` is exact for every uniform float x: scale a power of two
    (large enough that ``x * scale`` stays normal)."""
    smallest = np.finfo(dtype).tiny * 2.0 ** np.finfo(dtype).nmant
    return bool(np.isfinite(scale) and scale >= smallest and np.frexp(scale)[0] == 0.5)


def uniform_range(key: Any, shape: tuple[int, ...], dtype: np.dtype, minval: Any, maxval: Any):
    """JAX's uniform: ``max(minval, floats * (maxval - minval) + minval)``.

    XLA's CPU backend fuses the multiply-add into one FMA for float32 and float64 (and
    rounds after each operation for float16), so this does the same to give JAX's bits.
    """
    check_shape("uniform", shape, shape_of(minval), shape_of(maxval))
    floats = unit_floats(key, shape, dtype)
    static = is_python_number(minval) and is_python_number(maxval)
    if static and float(minval) == 0.0 and float(maxval) == 1.0:
        return floats  # max(0, f * 1 + 0) == f
    lo = broadcast_to_shape(convert(minval, dtype), shape)
    hi = broadcast_to_shape(convert(maxval, dtype), shape)
    if static:
        scale = np.asarray(maxval, dtype) - np.asarray(minval, dtype)
        if _exact_product(scale, dtype):  # the product is exact: two roundings = one
            return ew.max(lo, ew.add(ew.mul(floats, full(scale, dtype, shape)), lo))
    if dtype.itemsize < 4:
        return ew.max(lo, ew.add(ew.mul(floats, ew.sub(hi, lo)), lo))
    return ew.max(lo, fma(floats, ew.sub(hi, lo), lo))


def check_safe_cast(name: str, dtype: np.dtype, *args: Any) -> None:
    """Parameters must convert to ``dtype`` without losing precision (JAX's rule).

    Python numbers, integers and booleans always may; a float or complex array only to a
    dtype that holds all its values (``np.can_cast(..., "safe")``).
    """
    for arg in args:
        if isinstance(arg, (list, tuple)):
            arg = np.asarray(arg)
        weak = dtypes.is_weakly_typed(arg)
        arg_dtype = np.dtype(get_aval(arg).dtype) if not weak else np.asarray(arg).dtype
        if arg_dtype.kind in "biu" or (weak and arg_dtype.kind == "f"):
            continue
        if weak or not np.can_cast(arg_dtype, dtype, "safe"):
            raise FxgradTypeError(
                f"fxgrad.random.{name}: a parameter of dtype {arg_dtype.name} cannot be "
                f"converted to dtype={dtype.name} without losing precision. Pass dtype="
                f"{np.result_type(arg_dtype, dtype).name}, or convert the parameter first "
                f"(x.astype({dtype.name!r}))."
            )
