"""Products: dot, matmul (with batch broadcasting), tensordot, inner, outer, vdot."""

from __future__ import annotations

from typing import Any

import numpy as np

from fxgrad.core import get_aval
from fxgrad.errors import ShapeError
from fxgrad.lax import linalg as llinalg
from fxgrad.lax import shape as lshape
from fxgrad.numpy._util import asarray_value, promote_dtypes


def _promote(a: Any, b: Any) -> tuple[Any, Any]:
    a, b = promote_dtypes(asarray_value(a), asarray_value(b))
    return a, b


def matmul(a: Any, b: Any, /, *, precision: Any = None, preferred_element_type: Any = None):
    """Matrix product with NumPy's rules: 1-D operands are promoted and leading axes
    broadcast."""
    a, b = _promote(a, b)
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError("matmul: operands must not be scalars; use multiply or *")
    a_vec, b_vec = a.ndim == 1, b.ndim == 1
    if a_vec:
        a = lshape.reshape(a, (1, a.shape[0]))
    if b_vec:
        b = lshape.reshape(b, (b.shape[0], 1))
    if a.shape[-1] != b.shape[-2]:
        raise ShapeError(
            f"matmul: contracting dimensions differ: a has shape {a.shape} and b has shape "
            f"{b.shape} ({a.shape[-1]} != {b.shape[-2]})"
        )
    batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    a = lshape.broadcast_to_shape(a, (*batch, *a.shape[-2:]))
    b = lshape.broadcast_to_shape(b, (*batch, *b.shape[-2:]))
    nb = len(batch)
    dims = (((nb + 1,), (nb,)), (tuple(range(nb)), tuple(range(nb))))
    out = llinalg.dot_general(a, b, dims, precision, preferred_element_type)
    if a_vec:
        out = lshape.squeeze(out, (nb,))
    if b_vec:
        out = lshape.squeeze(out, (get_aval(out).ndim - 1,))
    return out


def dot(a: Any, b: Any, *, precision: Any = None, preferred_element_type: Any = None) -> Any:
    """NumPy's ``dot``: sum over the last axis of ``a`` and second-to-last of ``b``."""
    a, b = _promote(a, b)
    if a.ndim == 0 or b.ndim == 0:
        from fxgrad.numpy._ufuncs import multiply

        return multiply(a, b)
    contract_b = 0 if b.ndim == 1 else b.ndim - 2
    dims = (((a.ndim - 1,), (contract_b,)), ((), ()))
    if a.shape[-1] != b.shape[contract_b]:
        raise ShapeError(
            f"dot: shapes {a.shape} and {b.shape} not aligned: {a.shape[-1]} (dim "
            f"{a.ndim - 1}) != {b.shape[contract_b]} (dim {contract_b})"
        )
    return llinalg.dot_general(a, b, dims, precision, preferred_element_type)


def tensordot(
    a: Any, b: Any, axes: Any = 2, *, precision: Any = None, preferred_element_type: Any = None
) -> Any:
    """Sum products over ``axes`` (an int N: last N of ``a`` with first N of ``b``)."""
    a, b = _promote(a, b)
    if isinstance(axes, (int, np.integer)):
        n = int(axes)
        ax_a = tuple(range(a.ndim - n, a.ndim))
        ax_b = tuple(range(n))
    else:
        ax_a, ax_b = axes
        ax_a = (ax_a,) if isinstance(ax_a, (int, np.integer)) else tuple(ax_a)
        ax_b = (ax_b,) if isinstance(ax_b, (int, np.integer)) else tuple(ax_b)
        ax_a = tuple(int(x) % a.ndim for x in ax_a)
        ax_b = tuple(int(x) % b.ndim for x in ax_b)
    return llinalg.dot_general(a, b, ((ax_a, ax_b), ((), ())), precision, preferred_element_type)


def inner(a: Any, b: Any, *, precision: Any = None, preferred_element_type: Any = None):
    a, b = _promote(a, b)
    if a.ndim == 0 or b.ndim == 0:
        from fxgrad.numpy._ufuncs import multiply

        return multiply(a, b)
    return tensordot(
        a,
        b,
        ((a.ndim - 1,), (b.ndim - 1,)),
        precision=precision,
        preferred_element_type=preferred_element_type,
    )


def outer(a: Any, b: Any, out: None = None) -> Any:
    from fxgrad.numpy._ufuncs import multiply

    a, b = _promote(a, b)
    a = lshape.reshape(a, (a.size, 1))
    b = lshape.reshape(b, (1, b.size))
    return multiply(a, b)


def vdot(a: Any, b: Any, *, precision: Any = None, preferred_element_type: Any = None):
    from fxgrad.numpy._ufuncs import conjugate

    a, b = _promote(a, b)
    a = lshape.reshape(conjugate(a), (a.size,))
    b = lshape.reshape(b, (b.size,))
    return dot(a, b, precision=precision, preferred_element_type=preferred_element_type)


__all__ = [
    "dot",
    "inner",
    "matmul",
    "outer",
    "tensordot",
    "vdot",
]
