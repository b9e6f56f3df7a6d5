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
  ``R_dot = (C - Omega) R``. Wide inputs split ``A = [A1 A2]`` with square ``A1``; the
  extra columns of a complete ``Q`` (``m > n``) follow LAPACK's Householder
  construction (Roberts & Roberts 2024, https://arxiv.org/abs/2409.13374), as in JAX.
  ``geqrf`` (the packed Householder form) has no derivative, as in JAX.
* eigh: Giles (2008), "An extended collection of matrix derivative results": with
  ``X = V^H A_dot V``, ``w_dot = diag(X)`` and ``V_dot = V (F o X)``,
  ``F_ij = 1 / (w_j - w_i)``.
* SVD: Townsend (2016), "Differentiating the singular value decomposition"
  (https://j-towns.github.io/papers/svd-derivative.pdf), thin or square case.
* eig: Giles (2008) / Boeddeker et al. (2017, https://arxiv.org/abs/1701.00392):
  ``X = V^-1 A_dot V``, ``w_dot = diag(X)``, ``V_dot = V (F o X) + V diag(c)`` with
  ``c`` keeping geev's normalisation (unit norm, real largest component), as JAX does;
  left eigenvectors are the right ones of ``A^H`` (for ``conj(w)``).
* SVD with ``full_matrices=True`` on a non-square input has no derivative (as in JAX).

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
from fxgrad.errors import MissingRuleError
from fxgrad.lax import elementwise as ew
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
    check_matrix,
    cholesky,
    cholesky_p,
    define_stack_primitive,
    lapack_stack,
    symmetrize,
    triangular_solve,
    triangular_solve_p,
)
from fxgrad.lax.pivoted_lu import (
    lu,
    lu_p,
    lu_pivots_to_permutation,
    lu_pivots_to_permutation_p,
    lu_solve,
)
from fxgrad.lax.reduction import argmax, reduce_sum
from fxgrad.lax.slicing import concatenate, pad, slice_in_dim

__all__ = [
    "cholesky",
    "cholesky_p",
    "eig",
    "eig_p",
    "eigh",
    "eigh_p",
    "geqrf",
    "geqrf_p",
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


def _qr_complete_columns_jvp(q: Any, q_dot_mn: Any) -> Any:
    """Tangent of the last ``m - n`` columns of a complete Householder ``Q`` (``m > n``).

    LAPACK's ``Q = I - V T V^H`` (compact WY, ``V = [V_n; V_p]`` unit lower trapezoidal)
    ties the extra columns to the first ``n``: with ``Z = Q_pn (Q_nn - I)^-1``
    (``= V_p V_n^-1``), ``Q_mp = E_mp + (Q_mn - E_mn) Z^H``. Differentiating, with
    ``Z_dot = (Q_pn_dot - Z Q_nn_dot) (Q_nn - I)^-1`` and the unitarity identity
    ``(Q_mn - E_mn) (Q_nn - I)^-H = -(Q_mn + Q_mp Z)``, gives
    ``Q_mp_dot = Q_mn_dot Z^H - (Q_mn + Q_mp Z) (Q_pn_dot - Z Q_nn_dot)^H``
    (Roberts & Roberts 2024, https://arxiv.org/abs/2409.13374, eqs. 32-33; JAX's rule).
    It needs every Householder ``tau`` nonzero, as the reflectors are then smooth.
    """
    *batch, m, _ = _shape(q)
    n = _shape(q_dot_mn)[-1]
    rows, cols = len(batch), len(batch) + 1
    q_mn, q_mp = slice_in_dim(q, 0, n, axis=cols), slice_in_dim(q, n, m, axis=cols)
    q_nn, q_pn = slice_in_dim(q_mn, 0, n, axis=rows), slice_in_dim(q_mn, n, m, axis=rows)
    dq_nn = slice_in_dim(q_dot_mn, 0, n, axis=rows)
    dq_pn = slice_in_dim(q_dot_mn, n, m, axis=rows)
    z_h = lu_solve(_H(ew.sub(q_nn, _eye_like(q_nn))), _H(q_pn))
    z = _H(z_h)
    basis = ew.add(q_mn, _matmul(q_mp, z))
    dq_mp = ew.sub(_matmul(q_dot_mn, z_h), _matmul(basis, _H(ew.sub(dq_pn, _matmul(z, dq_nn)))))
    return concatenate([q_dot_mn, dq_mp], cols)


def _qr_jvp(primals, tangents, *, full_matrices):
    (x,), (x_dot,) = primals, tangents
    *batch, m, n = _shape(x)
    q, r = qr_p.bind(x, full_matrices=full_matrices)
    rows, cols = len(batch), len(batch) + 1
    if m > n:
        if not full_matrices:
            return [q, r], list(_qr_tall_jvp(q, r, x_dot))
        # Complete: the thin factors' tangents, then Q's extra columns; R's extra rows
        # are zero.
        q_mn = slice_in_dim(q, 0, n, axis=cols)
        r_nn = slice_in_dim(r, 0, n, axis=rows)
        dq_mn, dr_nn = _qr_tall_jvp(q_mn, r_nn, x_dot)
        r_dot = pad(
            dr_nn, np.zeros((), get_aval(x).dtype), [*[(0, 0, 0)] * rows, (0, m - n, 0), (0, 0, 0)]
        )
        return [q, r], [_qr_complete_columns_jvp(q, dq_mn), r_dot]
    # Square or wide: x = [x1 x2] with square x1 = Q R1, and R2 = Q^H x2.
    r1, r2 = slice_in_dim(r, 0, m, axis=cols), slice_in_dim(r, m, n, axis=cols)
    dx1, dx2 = slice_in_dim(x_dot, 0, m, axis=cols), slice_in_dim(x_dot, m, n, axis=cols)
    q_dot, r1_dot = _qr_tall_jvp(q, r1, dx1)
    if m == n:
        return [q, r], [q_dot, r1_dot]
    r2_dot = _matmul(_H(q), ew.sub(dx2, _matmul(q_dot, r2)))
    return [q, r], [q_dot, concatenate([r1_dot, r2_dot], cols)]


qr_p = define_stack_primitive(
    "qr",
    impl=_qr_impl,
    abstract_eval=_qr_abstract_eval,
    jvp=_qr_jvp,
)


def qr(x: Any, *, pivoting: bool = False, full_matrices: bool = True) -> tuple[Any, Any]:
    """QR decomposition ``x = Q @ R`` (JAX's ``lax.linalg.qr``).

    Args:
      x: ``[..., m, n]`` floating or complex.
      pivoting: column pivoting is not supported (``True`` raises).
      full_matrices: ``Q`` is ``m x m`` and ``R`` ``m x n``; otherwise ``Q`` is
        ``m x k`` and ``R`` ``k x n`` with ``k = min(m, n)``.

    Returns:
      ``(Q, R)`` in the dtype of ``x``, differentiable in every mode (for
      ``full_matrices=True`` and ``m > n`` through LAPACK's Householder construction of
      the extra columns of ``Q``, as in JAX).

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


def _geqrf_impl(x):
    x = np.asarray(x)
    *batch, m, n = x.shape
    outs = [((n, m), x.dtype), ((min(m, n),), x.dtype)]
    # NumPy's mode='raw' is LAPACK geqrf's output in Fortran order: h is a^T.
    h, taus = lapack_stack(lambda a: np.linalg.qr(a, mode="raw"), x, outs)
    return [np.ascontiguousarray(np.swapaxes(h, -1, -2), x.dtype), np.asarray(taus, x.dtype)]


def _geqrf_abstract_eval(x):
    check_matrix("geqrf", x)
    *batch, m, n = x.shape
    dtype = np.dtype(x.dtype)
    return [ShapedArray((*batch, m, n), dtype), ShapedArray((*batch, min(m, n)), dtype)]


def _geqrf_jvp(primals, tangents):
    raise MissingRuleError(
        "Differentiation rule for 'geqrf' (lax.linalg.geqrf, and fxgrad.numpy.linalg.qr "
        "with mode='raw') is not implemented, as in JAX: the Householder reflectors and "
        "their scales are LAPACK's storage format, not a quantity with a useful derivative. "
        "Differentiate mode='reduced', 'complete' or 'r' instead."
    )


geqrf_p = define_stack_primitive(
    "geqrf",
    impl=_geqrf_impl,
    abstract_eval=_geqrf_abstract_eval,
    jvp=_geqrf_jvp,
)


def geqrf(x: Any) -> tuple[Any, Any]:
    """Householder QR in LAPACK's packed form (LAPACK ``geqrf``; JAX's ``lax.linalg.geqrf``).

    ``Q = H_1 ... H_k`` with ``H_i = I - taus[i] v_i v_i^H``, ``v_i`` being 1 at row
    ``i``, zero above it, and ``a[i + 1:, i]`` below it; ``R`` is the upper triangle of
    ``a``. Not differentiable (as in JAX).

    Args:
      x: ``[..., m, n]`` floating or complex.

    Returns:
      ``(a, taus)``: ``a`` of the shape and dtype of ``x``, ``taus`` ``[..., min(m, n)]``.
      ``fxgrad.numpy.linalg.qr(x, mode='raw')`` returns ``(a^T, taus)``, as NumPy does.

    Example:
      >>> import numpy as np
      >>> from fxgrad.lax.linalg import geqrf
      >>> a, taus = geqrf(np.array([[3.0], [4.0]]))
      >>> np.round(np.asarray(a), 6), np.asarray(taus)
      (array([[-5. ],
             [ 0.5]]), array([1.6]))
    """
    _geqrf_abstract_eval(get_aval(x))
    return tuple(geqrf_p.bind(x))


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


eigh_p = define_stack_primitive(
    "eigh",
    impl=_eigh_impl,
    abstract_eval=_eigh_abstract_eval,
    jvp=_eigh_jvp,
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
        # As in JAX; Giles (2008) shows the full case, with the extra vectors' gauge.
        raise MissingRuleError(
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


svd_p = define_stack_primitive(
    "svd",
    impl=_svd_impl,
    abstract_eval=_svd_abstract_eval,
    jvp=_svd_jvp,
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


def _lapack_gauge(v: Any, u: Any) -> Any:
    """``u + v diag(c)``: the tangent ``u`` made to keep LAPACK's normalisation of ``v``.

    ``A v_j = w_j v_j`` fixes the tangent of ``v_j`` only up to ``c_j v_j``; geev fixes
    ``v_j`` by a unit 2-norm and a real largest-magnitude component (row ``k_j``), which
    gives ``c_j = -Re(v_j^H u_j) - i Im(u[k_j, j]) / v[k_j, j]`` (as JAX does).
    """
    shape = _shape(v)
    rows = len(shape) - 2
    k = argmax(ew.abs(v), rows, np.int32)
    row_index = _constant_of(
        np.tile(np.arange(shape[-1], dtype=np.int32)[:, None], shape[-1]), shape, np.int32
    )
    mask = _to_dtype(ew.eq(row_index, _row_vector(k, shape)), get_aval(v).dtype)
    norm_part = ew.real(reduce_sum(ew.mul(ew.conj(v), u), (rows,)))
    u_top = ew.imag(reduce_sum(ew.mul(mask, u), (rows,)))
    v_top = ew.real(reduce_sum(ew.mul(mask, v), (rows,)))
    c = ew.complex(ew.neg(norm_part), ew.neg(ew.div(u_top, v_top)))
    return ew.add(u, _scale_columns(v, c))


def _eig_vector_jvp(w: Any, v: Any, a_dot: Any) -> tuple[Any, Any]:
    """Tangents of eigenvalues ``w`` and right eigenvectors ``v`` for a tangent ``a_dot``.

    Giles (2008), section 3.1: ``P = V^-1 A_dot V``, ``w_dot = diag(P)`` and
    ``V_dot = V (F o P)``, then LAPACK's normalisation (``_lapack_gauge``).
    """
    p = lu_solve(v, _matmul(a_dot, v))
    return _diagonal(p), _lapack_gauge(v, _matmul(v, ew.mul(_inverse_gaps(w), p)))


def _eig_jvp(primals, tangents, *, compute_left_eigenvectors, compute_right_eigenvectors):
    (x,), (x_dot,) = primals, tangents
    outs = eig_p.bind(
        x,
        compute_left_eigenvectors=compute_left_eigenvectors,
        compute_right_eigenvectors=True,
    )
    w, vr = outs[0], outs[-1]
    a_dot = _to_dtype(x_dot, get_aval(w).dtype)
    if not (compute_left_eigenvectors or compute_right_eigenvectors):
        return [w], [_diagonal(lu_solve(vr, _matmul(a_dot, vr)))]
    w_dot, vr_dot = _eig_vector_jvp(w, vr, a_dot)
    primals_out, tangents_out = [w], [w_dot]
    if compute_left_eigenvectors:
        # Left eigenvectors of A are the right eigenvectors of A^H, for conj(w).
        vl = outs[1]
        _, vl_dot = _eig_vector_jvp(ew.conj(w), vl, _H(a_dot))
        primals_out.append(vl)
        tangents_out.append(vl_dot)
    if compute_right_eigenvectors:
        primals_out.append(vr)
        tangents_out.append(vr_dot)
    return primals_out, tangents_out


eig_p = define_stack_primitive(
    "eig",
    impl=_eig_impl,
    abstract_eval=_eig_abstract_eval,
    jvp=_eig_jvp,
)


def eig(
    x: Any,
    *,
    compute_left_eigenvectors: bool = True,
    compute_right_eigenvectors: bool = True,
    enable_eigvec_derivs: bool = True,
) -> list[Any]:
    """Eigendecomposition of general square matrices (JAX's ``lax.linalg.eig``).

    Evaluated by LAPACK's geev through NumPy on the CPU. Outputs are always complex;
    eigenvectors have unit 2-norm and a real largest-magnitude component (geev's
    normalisation). Derivatives of the eigenvalues and of both kinds of eigenvectors
    follow Giles (2008) and differentiate through that normalisation, so they match
    finite differences where the eigenvalues are distinct (NaN or huge near repeated
    ones, where the eigenvectors are not unique).

    Args:
      x: ``[..., n, n]`` floating or complex.
      compute_left_eigenvectors: also return ``vl`` with ``vl.H @ x = w * vl.H``.
      compute_right_eigenvectors: also return ``vr`` with ``x @ vr = vr * w``.
      enable_eigvec_derivs: accepted for JAX compatibility. JAX refuses eigenvector
        derivatives unless it is True (they assume distinct eigenvalues, which it
        cannot check); fxgrad always provides them, as if it were True.

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
