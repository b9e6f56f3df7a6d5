"""Small ``lax`` functions JAX programs call, built from the primitives.

``full_like``, ``collapse`` and ``batch_matmul`` add no primitive: each is a composition
that every transformation already handles.
"""

from __future__ import annotations

import math
from typing import Any

from fxgrad import dtypes
from fxgrad.core import get_aval
from fxgrad.errors import ShapeError
from fxgrad.lax.elementwise import convert_element_type_p
from fxgrad.lax.linalg import dot_general
from fxgrad.lax.shape import reshape
from fxgrad.lax.slicing import full

__all__ = ["batch_matmul", "collapse", "full_like"]


def full_like(x: Any, fill_value: Any, dtype: Any = None, shape: Any = None, sharding: Any = None):
    """An array like ``x`` (its shape and dtype, or ``shape``/``dtype`` when given)
    filled with ``fill_value``, as JAX's ``lax.full_like``; weakly typed when ``x`` is
    and ``dtype`` is not given.

    Example:
      >>> import fxgrad.numpy as fnp
      >>> from fxgrad import lax
      >>> lax.full_like(fnp.zeros((2,), "float32"), 7)
      Array([7., 7.], dtype=float32)
    """
    aval = get_aval(x)
    target = dtypes.canonicalize_dtype(dtype) if dtype is not None else aval.dtype
    out = full(aval.shape if shape is None else tuple(shape), fill_value, target)
    weak = dtype is None and aval.weak_type
    if weak == get_aval(out).weak_type:
        return out
    return convert_element_type_p.bind(out, new_dtype=target, weak_type=weak)


def collapse(operand: Any, start_dimension: int, stop_dimension: int | None = None) -> Any:
    """``operand`` with axes ``[start_dimension, stop_dimension)`` merged into one, as
    JAX's ``lax.collapse`` (``stop_dimension=None``: through the last axis).

    Example:
      >>> import fxgrad.numpy as fnp
      >>> from fxgrad import lax
      >>> lax.collapse(fnp.zeros((2, 3, 4)), 1).shape
      (2, 12)
    """
    shape = tuple(get_aval(operand).shape)
    ndim = len(shape)
    start = start_dimension + ndim if start_dimension < 0 else start_dimension
    stop = ndim if stop_dimension is None else stop_dimension
    stop = stop + ndim if stop < 0 else stop
    if not 0 <= start <= stop <= ndim:
        raise ShapeError(
            f"lax.collapse: dimensions [{start_dimension}, {stop_dimension}) are not a range "
            f"of the axes of an array of shape {shape}"
        )
    return reshape(operand, (*shape[:start], math.prod(shape[start:stop]), *shape[stop:]))


def batch_matmul(lhs: Any, rhs: Any, precision: Any = None) -> Any:
    """Matrix products over the leading (batch) axes, as JAX's ``lax.batch_matmul``:
    ``lhs`` ``(..., m, k)`` and ``rhs`` ``(..., k, n)`` with the same batch axes.

    Example:
      >>> import fxgrad.numpy as fnp
      >>> from fxgrad import lax
      >>> lax.batch_matmul(fnp.ones((5, 2, 3)), fnp.ones((5, 3, 4))).shape
      (5, 2, 4)
    """
    ls, rs = tuple(get_aval(lhs).shape), tuple(get_aval(rhs).shape)
    if len(ls) < 2 or len(ls) != len(rs) or ls[:-2] != rs[:-2] or ls[-1] != rs[-2]:
        raise ShapeError(
            f"lax.batch_matmul: operands must be (..., m, k) and (..., k, n) with the same "
            f"batch axes, got shapes {ls} and {rs}"
        )
    nd = len(ls)
    batch = tuple(range(nd - 2))
    return dot_general(lhs, rhs, (((nd - 1,), (nd - 2,)), (batch, batch)), precision)
