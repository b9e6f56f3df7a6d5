"""Matrix decompositions as primitives: LU, QR, eigh, SVD and eig (``jax.lax.linalg``).

Each primitive works on stacks ``[..., m, n]``: its NumPy implementation handles the
leading axes natively, so every batch rule moves the batch axis to the front. Each JVP is
written with primitives and is linear in the tangent (products with residual matrices,
triangular solves, masks), so reverse mode comes from transposing it, and the rule can be
differentiated again. The rules follow the literature:

* LU: ``X = L^-1 P A_dot U^-1``; ``L_dot = L tril(X, -1)``, ``U_dot = triu(X) U``
  (rectangular inputs are padded to square factors first).
* QR: Walter & Lehmann (2018) / Townsend's note (https://j-towns.github.io/papers/
  qr-derivative.pdf): with ``C = Q^H A_dot R^-1`` and ``Omega`` its skew-Hermitian part
  read off the strict lower triangle, ``Q_dot = Q (Omega - C) + A_dot R^-1`` and
  ``R_dot = (C - Omega) R``. Wide inputs split ``A = [A1 A2]`` with square ``A1``.
* eigh: Giles (2008), "An extended collection of matrix derivative results": with
  ``X = V^H A_dot V``, ``w_dot = diag(X)`` and ``V_dot = V (F o X)``,
  ``F_ij = 1 / (w_j - w_i)``.
* SVD: Townsend (2016), "Differentiating the singular value decomposition"
  (https://j-towns.github.io/papers/svd-derivative.pdf), thin or square case.
* eig: Giles (2008) / Boeddeker et al. (2017, https://arxiv.org/abs/1701.00392):
  ``X = V^-1 A_dot V``, ``w_dot = diag(X)``, ``V_dot = V (F o X)`` kept at unit norm.

Repeated eigenvalues (and singular values), as in JAX: ``F`` is infinite for a repeated
pair, because the eigenvectors of a repeated eigenvalue are not unique and have no
derivative. The eigenvalue derivatives stay finite (they never read ``F``; reverse mode
skips the eigenvector branch when its cotangent is zero), so functions of the
eigenvalues only (``eigvalsh``, ``svdvals``, ``slogdet``-like sums) differentiate
everywhere. Functions of the eigenvectors get NaNs at exact ties and large, cancelling
terms near them. What to do: differentiate functions of the eigenvalues only where you
can (``eigvalsh``, ``svdvals``); for a function of the matrix ``V f(w) V^H`` write a
``custom_jvp`` with the divided differences ``(f(w_i) - f(w_j)) / (w_i - w_j)`` (``f'``
on ties, Daleckii-Krein); or break the tie with a tiny symmetric perturbation.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fxgrad.core import ShapedArray, get_aval
from fxgrad.errors import FxgradTypeError, ShapeError
from fxgrad.interpreters.jvp import Zero
from fxgrad.lax import elementwise as ew
from fxgrad.lax._define import define_primitive
from fxgrad.lax.linalg import (
    _H,
    _col_vector,
    _constant_of,
    _diagonal,
    _eye_like,
    _hermitian_part,
    _is_complex,
    _matmul,
    _row_vector,
    _shape,
    _to_dtype,
    _tril,
    _triu,
    batch_at_front,
    check_matrix,
    cholesky,
    cholesky_p,
    lapack_stack,
    symmetrize,
    triangular_solve,
    triangular_solve_p,
)
from fxgrad.lax.reduction import reduce_sum
from fxgrad.lax.slicing import concatenate, pad, slice_in_dim

__all__ = [
    "cholesky",
    "cholesky_p",
    "eig",
    "eig_p",
    "eigh",
    "eigh_p",
    "lu",
    "lu_p",
    "lu_pivots_to_permutation",
    "lu_pivots_to_permutation_p",
    "qr",
    "qr_p",
    "svd",
    "svd_p",
    "triangular_solve",
    "triangular_solve_p",
]


def _real_dtype(dtype: Any) -> np.dtype:
    return np.finfo(np.dtype(dtype)).dtype


def _complex_dtype(dtype: Any) -> np.dtype:
    return np.result_type(np.dtype(dtype), np.complex64)


def _zero_tangent(x: Any) -> Zero:
    return Zero.from_primal(x)


def _inverse_gaps(w: Any, power: int = 1) -> Any:
    """``F[..., i, j] = 1 / (w_j^p - w_i^p)`` off the diagonal and 0 on it.

    Repeated values give infinities (see the module docstring). ``w`` may be real or
    complex; ``F`` has its dtype.
    """
    if power == 2:
        w = ew.mul(w, w)
    shape = _shape(w)
    square = (*shape, shape[-1])
    gap = ew.sub(_row_vector(w, square), _col_vector(w, square))
    eye = _eye_like(gap)
    off_diagonal = ew.sub(ew.full_like_aval(get_aval(gap), 1), eye)
    return ew.mul(ew.div(off_diagonal, ew.add(gap, eye)), off_diagonal)


def _scale_columns(x: Any, v: Any) -> Any:
    """``x * v[..., None, :]`` (column ``j`` of each matrix times ``v[j]``)."""
    return ew.mul(x, _row_vector(_to_dtype(v, get_aval(x).dtype), _shape(x)))


def _scale_rows(x: Any, v: Any) -> Any:
    """``x * v[..., :, None]`` (row ``i`` of each matrix times ``v[i]``)."""
    return ew.mul(x, _col_vector(_to_dtype(v, get_aval(x).dtype), _shape(x)))


def _real_part(x: Any) -> Any:
    return ew.real(x) if _is_complex(x) else x


def _safe_reciprocal(s: Any) -> Any:
    """``1 / s`` with 0 where ``s == 0`` (zero singular values)."""
    zero = ew.full_like_aval(get_aval(s), 0)
    one = ew.full_like_aval(get_aval(s), 1)
    is_zero = ew.eq(s, zero)
    return ew.select_n(is_zero, ew.div(one, ew.select_n(is_zero, s, one)), zero)


# ---------------------------------------------------------------------------------------
# LU with partial pivoting
# ---------------------------------------------------------------------------------------


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
    return [lu_mat, pivots, perm], [lu_dot, _zero_tangent(pivots), _zero_tangent(perm)]


def _lu_batch(axis_size, vals, dims):
    return batch_at_front(lu_p, axis_size, vals, dims, {})


lu_p = define_primitive(
    "lu",
    impl=_lu_impl,
    abstract_eval=_lu_abstract_eval,
    jvp=_lu_jvp,
    batch=_lu_batch,
    kernel="library",
    multiple_results=True,
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
    return out, _zero_tangent(out)


def _lu_pivots_to_permutation_batch(axis_size, vals, dims, *, permutation_size):
    params = {"permutation_size": permutation_size}
    return batch_at_front(lu_pivots_to_permutation_p, axis_size, vals, dims, params)


lu_pivots_to_permutation_p = define_primitive(
    "lu_pivots_to_permutation",
    impl=_lu_pivots_to_permutation_impl,
    abstract_eval=_lu_pivots_to_permutation_abstract_eval,
    jvp=_lu_pivots_to_permutation_jvp,
    batch=_lu_pivots_to_permutation_batch,
    kernel="library",
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


# ---------------------------------------------------------------------------------------
# QR
# ---------------------------------------------------------------------------------------


def _qr_impl(x, *, full_matrices):
    x = np.asarray(x)
    *batch, m, n = x.shape
    k = min(m, n)
    cols = m if full_matrices else k
    if x.size == 0:
        q = np.broadcast_to(np.eye(m, cols, dtype=x.dtype), (*batch, m, cols)).copy()
        return [q, np.zeros((*batch, cols, n), x.dtype)]
    mode = "complete" if full_matrices else "reduced"
    outs = [((m, cols), x.dtype), ((cols, n), x.dtype)]
    q, r = lapack_stack(lambda a: np.linalg.qr(a, mode=mode), x, outs)
    return [np.ascontiguousarray(q, x.dtype), np.ascontiguousarray(r, x.dtype)]


def _qr_abstract_eval(x, *, full_matrices):
    check_matrix("qr", x)
    *batch, m, n = x.shape
    cols = m if full_matrices else min(m, n)
    dtype = np.dtype(x.dtype)
    return [ShapedArray((*batch, m, cols), dtype, False), ShapedArray((*batch, cols, n), dtype)]


def _qr_tall_jvp(q: Any, r: Any, x_dot: Any) -> tuple[Any, Any]:
    """Tangents of ``Q`` (``m x n``) and square ``R`` for ``m >= n``."""
    dx_rinv = triangular_solve(r, x_dot, left_side=False, lower=False)
    c = _matmul(_H(q), dx_rinv)
    c_low = _tril(c, -1)
    omega = ew.sub(c_low, _H(c_low))
    if _is_complex(c):
        # R's diagonal is real, so the imaginary part of diag(C) belongs to Omega.
        half = ew.mul(_eye_like(c), np.asarray(0.5, dtype=get_aval(c).dtype))
        omega = ew.add(omega, ew.mul(ew.sub(c, ew.conj(c)), half))
    q_dot = ew.add(_matmul(q, ew.sub(omega, c)), dx_rinv)
    r_dot = _matmul(ew.sub(c, omega), r)
    return q_dot, r_dot


def _qr_jvp(primals, tangents, *, full_matrices):
    (x,), (x_dot,) = primals, tangents
    *batch, m, n = _shape(x)
    if full_matrices and m > n:
        raise NotImplementedError(
            f"The derivative of lax.linalg.qr with full_matrices=True (mode='complete') is "
            f"not defined for a matrix with more rows than columns (shape {_shape(x)}): "
            f"the last {m - n} columns of Q are not unique. Use full_matrices=False "
            "(mode='reduced')."
        )
    q, r = qr_p.bind(x, full_matrices=full_matrices)
    if m >= n:
        q_dot, r_dot = _qr_tall_jvp(q, r, x_dot)
        return [q, r], [q_dot, r_dot]
    # Wide: x = [x1 x2] with square x1 = Q R1, and R2 = Q^H x2.
    axis = len(batch) + 1
    r1, r2 = slice_in_dim(r, 0, m, axis=axis), slice_in_dim(r, m, n, axis=axis)
    dx1, dx2 = slice_in_dim(x_dot, 0, m, axis=axis), slice_in_dim(x_dot, m, n, axis=axis)
    q_dot, r1_dot = _qr_tall_jvp(q, r1, dx1)
    r2_dot = _matmul(_H(q), ew.sub(dx2, _matmul(q_dot, r2)))
    return [q, r], [q_dot, concatenate([r1_dot, r2_dot], axis)]


def _qr_batch(axis_size, vals, dims, *, full_matrices):
    return batch_at_front(qr_p, axis_size, vals, dims, {"full_matrices": full_matrices})


qr_p = define_primitive(
    "qr",
    impl=_qr_impl,
    abstract_eval=_qr_abstract_eval,
    jvp=_qr_jvp,
    batch=_qr_batch,
    kernel="library",
    multiple_results=True,
)


def qr(x: Any, *, pivoting: bool = False, full_matrices: bool = True) -> tuple[Any, Any]:
    """QR decomposition ``x = Q @ R`` (JAX's ``lax.linalg.qr``).

    Args:
      x: ``[..., m, n]`` floating or complex.
      pivoting: column pivoting is not supported (``True`` raises).
      full_matrices: ``Q`` is ``m x m`` and ``R`` ``m x n``; otherwise ``Q`` is
        ``m x k`` and ``R`` ``k x n`` with ``k = min(m, n)``.

    Returns:
      ``(Q, R)`` in the dtype of ``x``. Derivatives are defined for ``m <= n`` and for
      ``full_matrices=False``.

    Example:
      >>> import numpy as np
      >>> from fxgrad.lax.linalg import qr
      >>> q, r = qr(np.array([[3.0, 1.0], [4.0, 2.0]]))
      >>> np.round(np.asarray(q @ r), 6)
      array([[3., 1.],
             [4., 2.]])
    """
    if pivoting:
        raise NotImplementedError("lax.linalg.qr: pivoting=True is not supported")
    params = {"full_matrices": bool(full_matrices)}
    _qr_abstract_eval(get_aval(x), **params)
    return tuple(qr_p.bind(x, **params))


# ---------------------------------------------------------------------------------------
# eigh: Hermitian eigendecomposition
# ---------------------------------------------------------------------------------------


def _eigh_impl(x, *, lower, sort_eigenvalues):
    x = np.asarray(x)
    n = x.shape[-1]
    real = _real_dtype(x.dtype)

    def call(a):
        w, v = np.linalg.eigh(a, UPLO="L" if lower else "U")
        return v, w

    if x.size == 0:
        return [np.zeros(x.shape, x.dtype), np.zeros(x.shape[:-1], real)]
    v, w = lapack_stack(call, x, [((n, n), x.dtype), ((n,), real)])
    return [np.ascontiguousarray(v, x.dtype), np.ascontiguousarray(w, real)]


def _eigh_abstract_eval(x, *, lower, sort_eigenvalues):
    check_matrix("eigh", x, square=True)
    real = _real_dtype(x.dtype)
    return [ShapedArray(tuple(x.shape), np.dtype(x.dtype)), ShapedArray(tuple(x.shape[:-1]), real)]


def _eigh_jvp(primals, tangents, *, lower, sort_eigenvalues):
    (x,), (x_dot,) = primals, tangents
    v, w = eigh_p.bind(x, lower=lower, sort_eigenvalues=sort_eigenvalues)
    # LAPACK reads one triangle: differentiate the Hermitian matrix it sees.
    a_dot = _hermitian_part(x_dot, lower)
    vh_adot_v = _matmul(_matmul(_H(v), a_dot), v)
    w_dot = _real_part(_diagonal(vh_adot_v))
    gaps = _to_dtype(_inverse_gaps(w), get_aval(x).dtype)
    v_dot = _matmul(v, ew.mul(gaps, vh_adot_v))
    return [v, w], [v_dot, w_dot]


def _eigh_batch(axis_size, vals, dims, **params):
    return batch_at_front(eigh_p, axis_size, vals, dims, params)


eigh_p = define_primitive(
    "eigh",
    impl=_eigh_impl,
    abstract_eval=_eigh_abstract_eval,
    jvp=_eigh_jvp,
    batch=_eigh_batch,
    kernel="library",
    multiple_results=True,
)


def eigh(
    x: Any,
    *,
    lower: bool = True,
    symmetrize_input: bool = True,
    sort_eigenvalues: bool = True,
    subset_by_index: tuple[int, int] | None = None,
) -> tuple[Any, Any]:
    """Eigendecomposition of Hermitian matrices (JAX's ``lax.linalg.eigh``).

    Args:
      x: ``[..., n, n]`` floating or complex.
      lower: read the lower (or upper) triangle when ``symmetrize_input`` is False.
      symmetrize_input: decompose ``(x + x.H) / 2``.
      sort_eigenvalues: eigenvalues always come in ascending order (LAPACK's).
      subset_by_index: ``(lo, hi)`` keeps eigenvalues ``lo .. hi - 1``.

    Returns:
      ``(v, w)``: eigenvectors as the columns of ``v`` (dtype of ``x``) and real
      eigenvalues ``w`` in ascending order, with ``x @ v = v * w[..., None, :]``.
      With repeated eigenvalues the eigenvector derivatives are NaN (the eigenvectors
      are not unique there); eigenvalue derivatives stay finite.

    Example:
      >>> import numpy as np
      >>> from fxgrad.lax.linalg import eigh
      >>> v, w = eigh(np.array([[2.0, 1.0], [1.0, 2.0]]))
      >>> w
      Array([1., 3.], dtype=float64)
    """
    check_matrix("eigh", get_aval(x), square=True)
    if symmetrize_input:
        x = symmetrize(x)
    v, w = eigh_p.bind(x, lower=bool(lower), sort_eigenvalues=bool(sort_eigenvalues))
    if subset_by_index is not None:
        lo, hi = (int(i) for i in subset_by_index)
        nd = len(_shape(x))
        v = slice_in_dim(v, lo, hi, axis=nd - 1)
        w = slice_in_dim(w, lo, hi, axis=nd - 2)
    return v, w


# ---------------------------------------------------------------------------------------
# SVD
# ---------------------------------------------------------------------------------------


def _svd_core_outs(m: int, n: int, full_matrices: bool, compute_uv: bool, dtype: Any):
    k = min(m, n)
    real = _real_dtype(dtype)
    if not compute_uv:
        return [((k,), real)]
    uc, vr = (m, n) if full_matrices else (k, k)
    return [((k,), real), ((m, uc), np.dtype(dtype)), ((vr, n), np.dtype(dtype))]


def _svd_impl(x, *, full_matrices, compute_uv):
    x = np.asarray(x)
    *batch, m, n = x.shape
    outs = _svd_core_outs(m, n, full_matrices, compute_uv, x.dtype)
    if x.size == 0:
        if not compute_uv:
            return [np.zeros((*batch, *outs[0][0]), outs[0][1])]
        (_, real), (us, _), (vs, _) = outs
        return [
            np.zeros((*batch, min(m, n)), real),
            np.broadcast_to(np.eye(*us, dtype=x.dtype), (*batch, *us)).copy(),
            np.broadcast_to(np.eye(*vs, dtype=x.dtype), (*batch, *vs)).copy(),
        ]

    def call(a):
        if not compute_uv:
            return (np.linalg.svd(a, compute_uv=False),)
        u, s, vh = np.linalg.svd(a, full_matrices=full_matrices)
        return s, u, vh

    results = lapack_stack(call, x, outs)
    return [np.ascontiguousarray(r, dtype) for r, (_, dtype) in zip(results, outs, strict=True)]


def _svd_abstract_eval(x, *, full_matrices, compute_uv):
    check_matrix("svd", x)
    *batch, m, n = x.shape
    outs = _svd_core_outs(m, n, full_matrices, compute_uv, x.dtype)
    return [ShapedArray((*batch, *shape), np.dtype(dtype)) for shape, dtype in outs]


def _svd_jvp(primals, tangents, *, full_matrices, compute_uv):
    (x,), (x_dot,) = primals, tangents
    *_, m, n = _shape(x)
    if compute_uv and full_matrices and m != n:
        raise NotImplementedError(
            f"The derivative of lax.linalg.svd with full_matrices=True is not defined for a "
            f"non-square matrix (shape {_shape(x)}): the extra singular vectors are not "
            "unique. Use full_matrices=False, or compute_uv=False (svdvals) for the "
            "singular values only."
        )
    s, u, vh = svd_p.bind(x, full_matrices=False, compute_uv=True)
    v = _H(vh)
    dp = _matmul(_matmul(_H(u), x_dot), v)
    s_dot = _real_part(_diagonal(dp))
    if not compute_uv:
        return [s], [s_dot]
    dtype = get_aval(x).dtype
    gaps = _to_dtype(_inverse_gaps(s, power=2), dtype)
    s_inv = _safe_reciprocal(s)
    dp_h = _H(dp)
    u_inner = ew.mul(gaps, ew.add(_scale_columns(dp, s), _scale_rows(dp_h, s)))
    if _is_complex(x):
        # Gauge: the imaginary part of diag(dP) goes to U (V^H dV has a zero diagonal).
        half = ew.mul(ew.sub(dp, dp_h), np.asarray(0.5, dtype=dtype))
        u_inner = ew.add(u_inner, _scale_columns(ew.mul(half, _eye_like(half)), s_inv))
    u_dot = _matmul(u, u_inner)
    v_dot = _matmul(v, ew.mul(gaps, ew.add(_scale_rows(dp, s), _scale_columns(dp_h, s))))
    if m > n:
        dav = _matmul(x_dot, v)
        u_dot = ew.add(u_dot, _scale_columns(ew.sub(dav, _matmul(u, _matmul(_H(u), dav))), s_inv))
    if n > m:
        dahu = _matmul(_H(x_dot), u)
        v_dot = ew.add(v_dot, _scale_columns(ew.sub(dahu, _matmul(v, _matmul(vh, dahu))), s_inv))
    return [s, u, vh], [s_dot, u_dot, _H(v_dot)]


def _svd_batch(axis_size, vals, dims, **params):
    return batch_at_front(svd_p, axis_size, vals, dims, params)


svd_p = define_primitive(
    "svd",
    impl=_svd_impl,
    abstract_eval=_svd_abstract_eval,
    jvp=_svd_jvp,
    batch=_svd_batch,
    kernel="library",
    multiple_results=True,
)


def svd(
    x: Any,
    *,
    full_matrices: bool = True,
    compute_uv: bool = True,
    subset_by_index: tuple[int, int] | None = None,
) -> Any:
    """Singular value decomposition ``x = u @ diag(s) @ vh`` (JAX's ``lax.linalg.svd``).

    Args:
      x: ``[..., m, n]`` floating or complex.
      full_matrices: ``u`` is ``m x m`` and ``vh`` ``n x n``; otherwise ``m x k`` and
        ``k x n`` with ``k = min(m, n)``.
      compute_uv: return ``(u, s, vh)``; otherwise only ``s``.
      subset_by_index: ``(lo, hi)`` keeps singular values ``lo .. hi - 1``.

    Returns:
      ``(u, s, vh)`` or ``s``; ``s`` is real, descending, ``[..., k]``. Derivatives of
      ``u`` and ``vh`` need ``full_matrices=False`` unless ``x`` is square.

    Example:
      >>> import numpy as np
      >>> from fxgrad.lax.linalg import svd
      >>> svd(np.array([[3.0, 0.0], [0.0, -4.0]]), compute_uv=False)
      Array([4., 3.], dtype=float64)
    """
    params = {"full_matrices": bool(full_matrices), "compute_uv": bool(compute_uv)}
    _svd_abstract_eval(get_aval(x), **params)
    outs = svd_p.bind(x, **params)
    if subset_by_index is not None:
        lo, hi = (int(i) for i in subset_by_index)
        nd = len(_shape(x))
        outs[0] = slice_in_dim(outs[0], lo, hi, axis=nd - 2)
        if compute_uv:
            outs[1] = slice_in_dim(outs[1], lo, hi, axis=nd - 1)
            outs[2] = slice_in_dim(outs[2], lo, hi, axis=nd - 2)
    if not compute_uv:
        return outs[0]
    s, u, vh = outs
    return u, s, vh


# ---------------------------------------------------------------------------------------
# eig: general (non-symmetric) eigendecomposition
# ---------------------------------------------------------------------------------------


def _normalize_columns(v: np.ndarray) -> np.ndarray:
    """Unit 2-norm columns whose largest component is real (LAPACK geev's convention)."""
    v = v / np.linalg.norm(v, axis=-2, keepdims=True)
    big = np.take_along_axis(v, np.argmax(np.abs(v), axis=-2)[..., None, :], axis=-2)
    return v * (np.conj(big) / np.abs(big))


def _eig_impl(x, *, compute_left_eigenvectors, compute_right_eigenvectors):
    x = np.asarray(x)
    n = x.shape[-1]
    cdtype = _complex_dtype(x.dtype)

    def call(a):
        w, vr = np.linalg.eig(a)
        vr = vr.astype(cdtype)
        outs = [w.astype(cdtype)]
        if compute_left_eigenvectors:
            # Rows of vr^-1 are the left eigenvectors (conjugated).
            outs.append(_normalize_columns(np.conj(np.swapaxes(np.linalg.inv(vr), -1, -2))))
        if compute_right_eigenvectors:
            outs.append(vr)
        return outs

    core = [((n,), cdtype)] + [((n, n), cdtype)] * (
        compute_left_eigenvectors + compute_right_eigenvectors
    )
    if x.size == 0:
        return [np.zeros((*x.shape[:-2], *shape), dtype) for shape, dtype in core]
    results = lapack_stack(call, x, core)
    return [np.ascontiguousarray(r, cdtype) for r in results]


def _eig_abstract_eval(x, *, compute_left_eigenvectors, compute_right_eigenvectors):
    check_matrix("eig", x, square=True)
    cdtype = _complex_dtype(x.dtype)
    count = compute_left_eigenvectors + compute_right_eigenvectors
    return [ShapedArray(tuple(x.shape[:-1]), cdtype)] + [
        ShapedArray(tuple(x.shape), cdtype) for _ in range(count)
    ]


def _eig_jvp(primals, tangents, *, compute_left_eigenvectors, compute_right_eigenvectors):
    (x,), (x_dot,) = primals, tangents
    if compute_left_eigenvectors:
        raise NotImplementedError(
            "The derivative of lax.linalg.eig's left eigenvectors is not implemented; "
            "call eig with compute_left_eigenvectors=False (fxgrad.numpy.linalg.eig does)."
        )
    w, vr = eig_p.bind(x, compute_left_eigenvectors=False, compute_right_eigenvectors=True)
    cdtype = get_aval(w).dtype
    vinv_da_v = lu_solve(vr, _matmul(_to_dtype(x_dot, cdtype), vr))
    w_dot = _diagonal(vinv_da_v)
    if not compute_right_eigenvectors:
        return [w], [w_dot]
    v_dot = _matmul(vr, ew.mul(_inverse_gaps(w), vinv_da_v))
    # Keep each eigenvector at unit norm: remove Re(v^H v_dot) v.
    norm_dot = _real_part(reduce_sum(ew.mul(ew.conj(vr), v_dot), (len(_shape(vr)) - 2,)))
    v_dot = ew.sub(v_dot, _scale_columns(vr, norm_dot))
    return [w, vr], [w_dot, v_dot]


def _eig_batch(axis_size, vals, dims, **params):
    return batch_at_front(eig_p, axis_size, vals, dims, params)


eig_p = define_primitive(
    "eig",
    impl=_eig_impl,
    abstract_eval=_eig_abstract_eval,
    jvp=_eig_jvp,
    batch=_eig_batch,
    kernel="library",
    multiple_results=True,
)


def eig(
    x: Any, *, compute_left_eigenvectors: bool = True, compute_right_eigenvectors: bool = True
) -> list[Any]:
    """Eigendecomposition of general square matrices (JAX's ``lax.linalg.eig``).

    Evaluated by LAPACK's geev through NumPy on the CPU. Outputs are always complex.
    Derivatives: eigenvalues, and right eigenvectors normalised to unit length (their
    phase is not fixed, so only phase-invariant functions of them have derivatives that
    match finite differences); left eigenvectors have none.

    Args:
      x: ``[..., n, n]`` floating or complex.
      compute_left_eigenvectors: also return ``vl`` with ``vl.H @ x = w * vl.H``.
      compute_right_eigenvectors: also return ``vr`` with ``x @ vr = vr * w``.

    Returns:
      ``[w]`` followed by ``vl`` and/or ``vr`` as requested.

    Example:
      >>> import numpy as np
      >>> from fxgrad.lax.linalg import eig
      >>> eig(np.array([[0.0, 1.0], [-1.0, 0.0]]), compute_left_eigenvectors=False,
      ...     compute_right_eigenvectors=False)[0]
      Array([0.+1.j, 0.-1.j], dtype=complex128)
    """
    params = {
        "compute_left_eigenvectors": bool(compute_left_eigenvectors),
        "compute_right_eigenvectors": bool(compute_right_eigenvectors),
    }
    _eig_abstract_eval(get_aval(x), **params)
    return list(eig_p.bind(x, **params))
