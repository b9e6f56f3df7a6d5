"""Helpers shared by ``fxgrad.numpy.linalg`` and its theme modules.

Input checking (``_inexact`` promotes to one floating or complex dtype, ``_matrix``
checks for stacks of matrices and names the function in its errors), batch-axis
broadcasting, and small matrix helpers written with ``fxgrad.numpy`` so everything built
from them differentiates and batches.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import fxgrad.numpy as fnp
from fxgrad import dtypes
from fxgrad.core import get_aval
from fxgrad.errors import FxgradTypeError, ShapeError
from fxgrad.lax import decompositions as lax_dec
from fxgrad.lax import elementwise as ew
from fxgrad.numpy._util import asarray_value, promote_dtypes


def _shape(x: Any) -> tuple[int, ...]:
    return tuple(get_aval(x).shape)


def _dtype(x: Any) -> np.dtype:
    return np.dtype(get_aval(x).dtype)


def _inexact(fn_name: str, *arrays: Any) -> list[Any]:
    """Arrays promoted to one floating or complex dtype (ints become the default float)."""
    vals = promote_dtypes(*[asarray_value(a) for a in arrays])
    dtype = _dtype(vals[0])
    if dtype.kind not in "fc":
        new = dtypes.to_inexact_dtype(dtype)
        vals = [ew.convert_element_type(v, new) for v in vals]
    elif dtype == np.float16:
        raise FxgradTypeError(
            f"fxgrad.numpy.linalg.{fn_name}: float16 is not supported by LAPACK; convert the "
            "input to float32 first"
        )
    return vals


def _matrix(fn_name: str, a: Any, name: str = "a", square: bool = False) -> tuple[int, ...]:
    shape = _shape(a)
    if len(shape) < 2:
        raise ShapeError(
            f"fxgrad.numpy.linalg.{fn_name}: {name} must have at least two dimensions (a "
            f"matrix or a stack of matrices [..., m, n]), got shape {shape}"
        )
    if square and shape[-1] != shape[-2]:
        raise ShapeError(
            f"fxgrad.numpy.linalg.{fn_name}: the last two axes of {name} must form square "
            f"matrices [..., n, n], got shape {shape}"
        )
    return shape


def _mH(x: Any) -> Any:
    """Conjugate transpose of each matrix."""
    x = fnp.matrix_transpose(x)
    return fnp.conjugate(x) if _dtype(x).kind == "c" else x


def _broadcast_batch(fn_name: str, a: Any, b: Any, a_core: int, b_core: int):
    """Broadcast the leading (batch) axes of ``a`` and ``b`` against each other."""
    sa, sb = _shape(a), _shape(b)
    try:
        batch = np.broadcast_shapes(sa[: len(sa) - a_core], sb[: len(sb) - b_core])
    except ValueError:
        raise ShapeError(
            f"fxgrad.numpy.linalg.{fn_name}: the batch axes of a (shape {sa}) and b (shape "
            f"{sb}) do not broadcast"
        ) from None
    a = fnp.broadcast_to(a, (*batch, *sa[len(sa) - a_core :]))
    b = fnp.broadcast_to(b, (*batch, *sb[len(sb) - b_core :]))
    return a, b


def _eye_like(a: Any) -> Any:
    shape = _shape(a)
    return fnp.broadcast_to(fnp.eye(shape[-1], dtype=_dtype(a)), shape)


def _inverse(a: Any) -> Any:
    """The inverse of each (checked, inexact) square matrix, by pivoted LU."""
    return lax_dec.lu_solve(a, _eye_like(a))


def _svdvals(a: Any) -> Any:
    """The singular values of each (checked, inexact) matrix, descending."""
    return lax_dec.svd(a, full_matrices=False, compute_uv=False)
