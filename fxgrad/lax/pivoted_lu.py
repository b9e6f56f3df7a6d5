"""LU decomposition with partial pivoting as primitives (``jax.lax.linalg.lu``).

``lu`` factors a stack ``[..., m, n]`` as ``P A = L U`` with a blocked, vectorised
right-looking elimination (NumPy has no LU routine; the pivot choice is LAPACK getrf's).
Its JVP (``X = L^-1 P A_dot U^-1``; ``L_dot = L tril(X, -1)``, ``U_dot = triu(X) U``,
rectangular inputs padded to square factors first) is linear in the tangent and written
with primitives, so reverse mode transposes it and it differentiates again.
``lu_pivots_to_permutation`` turns LAPACK-style row swaps into a row order, and
``lu_solve`` solves square systems from the factors. The other decompositions
(``fxgrad.lax.decompositions``) build on this module.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fxgrad.core import ShapedArray, get_aval
from fxgrad.errors import FxgradTypeError, ShapeError
from fxgrad.interpreters.jvp import Zero
from fxgrad.lax import elementwise as ew
from fxgrad.lax.linalg import (
    _col_vector,
    _constant_of,
    _eye_like,
    _matmul,
    _shape,
    _to_dtype,
    _tril,
    _triu,
    check_matrix,
    define_stack_primitive,
    triangular_solve,
)
from fxgrad.lax.slicing import pad, slice_in_dim

__all__ = [
    "lu",
    "lu_p",
    "lu_pivots_to_permutation",
    "lu_pivots_to_permutation_p",
    "lu_solve",
    "permutation_matrix",
]


def _lu_factor(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Blocked right-looking LU with partial pivoting over a stack (LAPACK getrf's choice).

    NumPy has no LU routine, so this runs ``min(m, n)`` vectorised elimination steps on
    panels of ``_LU_BLOCK`` columns, and updates the trailing matrix with one matrix
    product per panel. The pivot is the first entry of largest ``|re| + |im|`` (LAPACK's
    ``i?amax``); a zero pivot column is left as is (a singular ``U``), as getrf does.
    """
    *batch, m, n = x.shape
    k = min(m, n)
    count = int(np.prod(batch, dtype=np.int64))
    a = np.array(x.reshape(count, m, n), copy=True)
    pivots = np.zeros((count, k), np.int32)
    perm = np.tile(np.arange(m, dtype=np.int32), (count, 1))
    with np.errstate(all="ignore"):
        for j0 in range(0, k, _LU_BLOCK):
            j1 = min(j0 + _LU_BLOCK, k)
            for j in range(j0, j1):
                _lu_step(a, pivots, perm, j, j1)
            if j1 < n:
                # U12 = L11^-1 A12, then the Schur complement A22 -= L21 U12.
                l11 = np.tril(a[:, j0:j1, j0:j1], -1) + np.eye(j1 - j0, dtype=a.dtype)
                a[:, j0:j1, j1:] = np.linalg.solve(l11, a[:, j0:j1, j1:])
                a[:, j1:, j1:] -= a[:, j1:, j0:j1] @ a[:, j0:j1, j1:]
    return (
        a.reshape(*batch, m, n),
        pivots.reshape(*batch, k),
        perm.reshape(*batch, m),
    )


_LU_BLOCK = 32


def _lu_step(a: np.ndarray, pivots: np.ndarray, perm: np.ndarray, j: int, end: int) -> None:
    """Eliminate column ``j``, updating the panel columns ``j + 1 .. end - 1`` only."""
    rows = np.arange(a.shape[0])
    col = a[:, j:, j]
    size = np.abs(col.real) + np.abs(col.imag) if a.dtype.kind == "c" else np.abs(col)
    p = j + np.argmax(size, axis=1)
    pivots[:, j] = p
    a[rows, j], a[rows, p] = a[rows, p], a[rows, j].copy()
    perm[rows, j], perm[rows, p] = perm[rows, p], perm[rows, j].copy()
    piv = a[:, j, j]
    nonzero = piv != 0
    below = a[:, j + 1 :, j]
    scaled = below / np.where(nonzero, piv, 1)[:, None]
    a[:, j + 1 :, j] = np.where(nonzero[:, None], scaled, below)
    a[:, j + 1 :, j + 1 : end] -= a[:, j + 1 :, j, None] * a[:, j, None, j + 1 : end]


def _lu_impl(x):
    return list(_lu_factor(np.asarray(x)))


def _lu_abstract_eval(x):
    check_matrix("lu", x)
    *batch, m, n = x.shape
    return [
        ShapedArray(tuple(x.shape), np.dtype(x.dtype), False),
        ShapedArray((*batch, min(m, n)), np.dtype(np.int32), False),
        ShapedArray((*batch, m), np.dtype(np.int32), False),
    ]


def permutation_matrix(permutation: Any, dtype: Any) -> Any:
    """``P`` with ``P[..., i, j] = (permutation[..., i] == j)``, so ``(P @ a)[i] = a[perm[i]]``."""
    shape = _shape(permutation)
    m = shape[-1]
    square = (*shape, m)
    columns = _constant_of(np.tile(np.arange(m, dtype=np.int32), (m, 1)), square, np.int32)
    rows = _col_vector(_to_dtype(permutation, np.int32), square)
    return ew.convert_element_type(ew.eq(rows, columns), dtype)


def _lu_factors(lu_mat: Any) -> tuple[Any, Any]:
    """Square factors ``L`` (``m x m``, unit diagonal) and ``U`` (``n x n``) of a packed LU.

    For a rectangular ``m x n`` input the missing columns of ``L`` and rows of ``U`` are
    those of the identity, so ``L`` and ``U`` are invertible and ``P A = L[:, :k] U[:k]``.
    """
    *batch, m, n = _shape(lu_mat)
    k = min(m, n)
    nd = len(batch) + 2
    dtype = get_aval(lu_mat).dtype
    zero = np.asarray(0, dtype=dtype)
    no_pad = [(0, 0, 0)] * nd
    lower = _tril(slice_in_dim(lu_mat, 0, k, axis=nd - 1), -1)
    if m > k:
        lower = pad(lower, zero, [*no_pad[:-1], (0, m - k, 0)])
    upper = _triu(slice_in_dim(lu_mat, 0, k, axis=nd - 2))
    if n > k:
        upper = pad(upper, zero, [*no_pad[:-2], (0, n - k, 0), (0, 0, 0)])
        tail = np.diag(np.concatenate([np.zeros(k), np.ones(n - k)]))
        upper = ew.add(upper, _constant_of(tail, _shape(upper), dtype))
    lower = ew.add(lower, _eye_like(lower))
    return lower, upper


def _lu_jvp(primals, tangents):
    (x,), (x_dot,) = primals, tangents
    lu_mat, pivots, perm = lu_p.bind(x)
    dtype = get_aval(x).dtype
    lower, upper = _lu_factors(lu_mat)
    pa_dot = _matmul(permutation_matrix(perm, dtype), x_dot)
    la = triangular_solve(lower, pa_dot, left_side=True, lower=True, unit_diagonal=True)
    lau = triangular_solve(upper, la, left_side=False, lower=False)
    lu_dot = ew.add(_matmul(lower, _tril(lau, -1)), _matmul(_triu(lau), upper))
    return [lu_mat, pivots, perm], [lu_dot, Zero.from_primal(pivots), Zero.from_primal(perm)]


lu_p = define_stack_primitive(
    "lu",
    impl=_lu_impl,
    abstract_eval=_lu_abstract_eval,
    jvp=_lu_jvp,
)


def lu(x: Any) -> tuple[Any, Any, Any]:
    """LU decomposition with partial pivoting (JAX's ``lax.linalg.lu``).

    Args:
      x: ``[..., m, n]`` floating or complex.

    Returns:
      ``(lu, pivots, permutation)``: ``lu`` packs the unit-lower ``L`` (below the
      diagonal) and the upper ``U``; ``pivots`` (``[..., min(m, n)]``, int32) says that
      row ``i`` was swapped with row ``pivots[i]`` at step ``i``; ``permutation``
      (``[..., m]``, int32) is the resulting row order: ``x[permutation] = L @ U``.
      A singular matrix gives a ``U`` with zeros on its diagonal (no error).

    Example:
      >>> import numpy as np
      >>> from fxgrad.lax.linalg import lu
      >>> packed, pivots, perm = lu(np.array([[1.0, 2.0], [3.0, 4.0]]))
      >>> perm
      Array([1, 0], dtype=int32)
    """
    check_matrix("lu", get_aval(x))
    return tuple(lu_p.bind(x))


def _lu_pivots_to_permutation_impl(pivots, *, permutation_size):
    pivots = np.asarray(pivots)
    *batch, k = pivots.shape
    flat = pivots.reshape(int(np.prod(batch, dtype=np.int64)), k).astype(np.int64)
    perm = np.tile(np.arange(permutation_size, dtype=np.int32), (flat.shape[0], 1))
    rows = np.arange(flat.shape[0])
    for j in range(k):
        p = flat[:, j]
        valid = (p >= 0) & (p < permutation_size)
        p = np.where(valid, p, j)  # out-of-range pivots swap nothing
        perm[rows, j], perm[rows, p] = perm[rows, p], perm[rows, j].copy()
    return perm.reshape(*batch, permutation_size)


def _lu_pivots_to_permutation_abstract_eval(pivots, *, permutation_size):
    if pivots.ndim < 1 or np.dtype(pivots.dtype).kind not in "iu":
        raise FxgradTypeError(
            "lax.linalg.lu_pivots_to_permutation: pivots must be an integer array of rank "
            f">= 1, got {pivots.str_short()}"
        )
    if pivots.shape[-1] > permutation_size:
        raise ShapeError(
            f"lax.linalg.lu_pivots_to_permutation: {pivots.shape[-1]} pivots cannot fit a "
            f"permutation of size {permutation_size}; pass permutation_size >= "
            f"{pivots.shape[-1]}"
        )
    return ShapedArray((*pivots.shape[:-1], permutation_size), np.dtype(np.int32), False)


def _lu_pivots_to_permutation_jvp(primals, tangents, *, permutation_size):
    out = lu_pivots_to_permutation_p.bind(*primals, permutation_size=permutation_size)
    return out, Zero.from_primal(out)


lu_pivots_to_permutation_p = define_stack_primitive(
    "lu_pivots_to_permutation",
    impl=_lu_pivots_to_permutation_impl,
    abstract_eval=_lu_pivots_to_permutation_abstract_eval,
    jvp=_lu_pivots_to_permutation_jvp,
    multiple_results=False,
)


def lu_pivots_to_permutation(pivots: Any, permutation_size: int) -> Any:
    """The row order produced by applying LAPACK-style ``pivots`` (swaps) to ``arange``.

    Args:
      pivots: ``[..., k]`` integers, as returned by ``lu``.
      permutation_size: ``m >= k``, the number of rows.

    Returns:
      ``[..., permutation_size]`` int32.

    Example:
      >>> import numpy as np
      >>> from fxgrad.lax.linalg import lu_pivots_to_permutation
      >>> lu_pivots_to_permutation(np.array([2, 2], np.int32), 3)
      Array([2, 0, 1], dtype=int32)
    """
    params = {"permutation_size": int(permutation_size)}
    _lu_pivots_to_permutation_abstract_eval(get_aval(pivots), **params)
    return lu_pivots_to_permutation_p.bind(pivots, **params)


def lu_solve(a: Any, b: Any) -> Any:
    """``a^-1 b`` for square ``a [..., n, n]`` and ``b [..., n, k]`` (same batch axes)."""
    lu_mat, _, perm = lu(a)
    pb = _matmul(permutation_matrix(perm, get_aval(a).dtype), b)
    y = triangular_solve(lu_mat, pb, left_side=True, lower=True, unit_diagonal=True)
    return triangular_solve(lu_mat, y, left_side=True, lower=False)
