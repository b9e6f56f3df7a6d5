"""Records for ``fxgrad.numpy.linalg`` and the ``lax.linalg`` primitives.

Inputs are drawn where the functions are smooth: well-conditioned matrices (a random
matrix plus ``n I``), symmetric positive-definite ones for ``cholesky``, and Hermitian
matrices with well-separated eigenvalues for ``eigh``. Functions of eigenvectors and
singular vectors are tested through gauge-invariant combinations (squares of the
entries, ``u**2 @ vh**2``), since the vectors themselves are unique only up to sign or
phase. The QR factors are smooth (LAPACK's Householder convention) and tested directly.
"""

import numpy as np

import fxgrad.numpy as fnp
from fxgrad.lax import linalg as lax_linalg
from tests.op_records import OpRecord, rand_normal

F = (np.float64, np.float32)
C = (np.complex128, np.complex64)


def _randn(rng, shape, dtype):
    x = rng.randn(*shape)
    if np.dtype(dtype).kind == "c":
        x = x + 1j * rng.randn(*shape)
    return x


def _eye(shape):
    return np.eye(shape[-2], shape[-1])


def rand_wellcond(rng, shape, dtype):
    """A random matrix plus ``n I`` along the diagonal: condition number ~ 3."""
    n = max(shape[-2:]) if len(shape) >= 2 else 1
    return (_randn(rng, shape, dtype) * 0.5 + n * _eye(shape)).astype(dtype)


def rand_spd(rng, shape, dtype):
    """Hermitian positive definite: ``x x^H + n I``."""
    x = _randn(rng, shape, dtype)
    n = shape[-1]
    return (x @ np.conj(np.swapaxes(x, -1, -2)) / n + np.eye(n)).astype(dtype)


def rand_hermitian_distinct(rng, shape, dtype):
    """Hermitian with eigenvalues about 1, 2, ..., n (gaps near 1) in a random basis."""
    n = shape[-1]
    q, _ = np.linalg.qr(_randn(rng, shape, dtype))
    w = np.arange(1.0, n + 1) + 0.1 * rng.rand(*shape[:-1])
    return ((q * w[..., None, :]) @ np.conj(np.swapaxes(q, -1, -2))).astype(dtype)


def rand_separated_singular(rng, shape, dtype):
    """``U diag(s) V^H`` with singular values about 1, 2, ..., k (well separated)."""
    m, n = shape[-2:]
    k = min(m, n)
    u, _ = np.linalg.qr(_randn(rng, (*shape[:-2], m, k), dtype))
    v, _ = np.linalg.qr(_randn(rng, (*shape[:-2], n, k), dtype))
    s = np.arange(k, 0, -1.0) + 0.1 * rng.rand(*shape[:-2], k)
    return ((u * s[..., None, :]) @ np.conj(np.swapaxes(v, -1, -2))).astype(dtype)


def rand_triangular(rng, shape, dtype):
    return rand_wellcond(rng, shape, dtype)


def _lu_reference(a):
    """Doolittle LU with partial pivoting, written independently of fxgrad's."""
    a = np.array(a, dtype=a.dtype)
    out = np.empty_like(a)
    for idx in np.ndindex(*a.shape[:-2]):
        m_ = a[idx].copy()
        rows, cols = m_.shape
        for j in range(min(rows, cols)):
            p = j + int(np.argmax(np.abs(m_[j:, j].real) + np.abs(m_[j:, j].imag)))
            m_[[j, p]] = m_[[p, j]]
            if m_[j, j] != 0:
                m_[j + 1 :, j] /= m_[j, j]
            m_[j + 1 :, j + 1 :] -= np.outer(m_[j + 1 :, j], m_[j, j + 1 :])
        out[idx] = m_
    return out


def _sq(x):
    return (np.conj(x) * x).real


def _fsq(x):
    return fnp.real(fnp.conj(x) * x)


def _svd_gauge(svd):
    def f(a):
        u, _, vh = svd(a)
        return _square_product(u, vh)

    return f


def _square_product(u, vh):
    # Invariant under u[:, i] -> u[:, i] * z, vh[i] -> vh[i] / z with |z| = 1.
    if isinstance(u, np.ndarray):
        return _sq(u) @ _sq(vh)
    return _fsq(u) @ _fsq(vh)


def _eigh_gauge_fx(a):
    w, v = fnp.linalg.eigh(a)
    return _fsq(v) * w[..., None, :]


def _eigh_gauge_np(a):
    w, v = np.linalg.eigh(a)
    return _sq(v) * w[..., None, :]


RECORDS = [
    # --- solving, inverting, determinants ---------------------------------------------
    OpRecord("linalg_inv", fnp.linalg.inv, [(3, 3)], np.linalg.inv, rand=rand_wellcond),
    OpRecord(
        "linalg_inv_batch", fnp.linalg.inv, [(2, 3, 3)], np.linalg.inv, dtypes=C, rand=rand_wellcond
    ),
    OpRecord(
        "linalg_solve_vector",
        fnp.linalg.solve,
        [(3, 3), (3,)],
        np.linalg.solve,
        rand=(rand_wellcond, rand_normal),
    ),
    OpRecord(
        "linalg_solve_matrix",
        fnp.linalg.solve,
        [(2, 3, 3), (2, 3, 2)],
        np.linalg.solve,
        rand=(rand_wellcond, rand_normal),
    ),
    OpRecord(
        "linalg_solve_complex",
        fnp.linalg.solve,
        [(3, 3), (3, 2)],
        np.linalg.solve,
        dtypes=C,
        rand=(rand_wellcond, rand_normal),
    ),
    OpRecord("linalg_det", fnp.linalg.det, [(3, 3)], np.linalg.det, rand=rand_wellcond),
    OpRecord(
        "linalg_det_batch", fnp.linalg.det, [(2, 4, 4)], np.linalg.det, dtypes=C, rand=rand_wellcond
    ),
    OpRecord("linalg_det_general", fnp.linalg.det, [(3, 3)], np.linalg.det),
    OpRecord(
        "linalg_slogdet_logabs",
        lambda a: fnp.linalg.slogdet(a).logabsdet,
        [(3, 3)],
        lambda a: np.linalg.slogdet(a).logabsdet,
    ),
    OpRecord(
        "linalg_slogdet_complex",
        lambda a: fnp.linalg.slogdet(a).logabsdet,
        [(3, 3)],
        lambda a: np.linalg.slogdet(a).logabsdet,
        dtypes=C,
        rand=rand_wellcond,
    ),
    OpRecord(
        "linalg_slogdet_sign_complex",
        lambda a: fnp.linalg.slogdet(a).sign,
        [(3, 3)],
        lambda a: np.linalg.slogdet(a).sign,
        dtypes=C,
        rand=rand_wellcond,
    ),
    OpRecord("linalg_cholesky", fnp.linalg.cholesky, [(4, 4)], np.linalg.cholesky, rand=rand_spd),
    OpRecord(
        "linalg_cholesky_upper",
        lambda a: fnp.linalg.cholesky(a, upper=True),
        [(2, 3, 3)],
        lambda a: np.linalg.cholesky(a, upper=True),
        dtypes=C,
        rand=rand_spd,
    ),
    # --- eigenvalues, singular values, QR -------------------------------------------------
    OpRecord(
        "linalg_eigvalsh",
        fnp.linalg.eigvalsh,
        [(4, 4)],
        np.linalg.eigvalsh,
        rand=rand_hermitian_distinct,
    ),
    OpRecord(
        "linalg_eigvalsh_complex",
        fnp.linalg.eigvalsh,
        [(2, 3, 3)],
        np.linalg.eigvalsh,
        dtypes=C,
        rand=rand_hermitian_distinct,
    ),
    OpRecord(
        "linalg_eigh_vectors",
        _eigh_gauge_fx,
        [(4, 4)],
        _eigh_gauge_np,
        rand=rand_hermitian_distinct,
    ),
    OpRecord(
        "linalg_eigh_vectors_complex",
        _eigh_gauge_fx,
        [(3, 3)],
        _eigh_gauge_np,
        dtypes=C,
        rand=rand_hermitian_distinct,
    ),
    OpRecord(
        "linalg_svdvals_wide",
        fnp.linalg.svdvals,
        [(3, 5)],
        np.linalg.svdvals,
        rand=rand_separated_singular,
    ),
    OpRecord(
        "linalg_svdvals_tall_complex",
        fnp.linalg.svdvals,
        [(2, 4, 3)],
        np.linalg.svdvals,
        dtypes=C,
        rand=rand_separated_singular,
    ),
    OpRecord(
        "linalg_svd_vectors_tall",
        _svd_gauge(lambda a: fnp.linalg.svd(a, full_matrices=False)),
        [(4, 3)],
        _svd_gauge(lambda a: np.linalg.svd(a, full_matrices=False)),
        rand=rand_separated_singular,
    ),
    OpRecord(
        "linalg_svd_vectors_wide_complex",
        _svd_gauge(lambda a: fnp.linalg.svd(a, full_matrices=False)),
        [(3, 4)],
        _svd_gauge(lambda a: np.linalg.svd(a, full_matrices=False)),
        dtypes=C,
        rand=rand_separated_singular,
    ),
    OpRecord(
        "linalg_svd_vectors_square",
        _svd_gauge(fnp.linalg.svd),
        [(3, 3)],
        _svd_gauge(np.linalg.svd),
        rand=rand_separated_singular,
    ),
    OpRecord(
        "linalg_qr_q_tall",
        lambda a: fnp.linalg.qr(a).Q,
        [(4, 3)],
        lambda a: np.linalg.qr(a).Q,
        rand=rand_wellcond,
    ),
    OpRecord(
        "linalg_qr_r_wide",
        lambda a: fnp.linalg.qr(a, mode="r"),
        [(3, 5)],
        lambda a: np.linalg.qr(a, mode="r"),
        rand=rand_wellcond,
    ),
    OpRecord(
        "linalg_qr_q_complex",
        lambda a: fnp.linalg.qr(a).Q,
        [(2, 3, 3)],
        lambda a: np.linalg.qr(a).Q,
        dtypes=C,
        rand=rand_wellcond,
    ),
    OpRecord(
        "linalg_qr_r_complex_wide",
        lambda a: fnp.linalg.qr(a).R,
        [(2, 4)],
        lambda a: np.linalg.qr(a).R,
        dtypes=C,
        rand=rand_wellcond,
    ),
    OpRecord(
        "linalg_qr_complete_q_tall",
        lambda a: fnp.linalg.qr(a, "complete").Q,
        [(5, 3)],
        lambda a: np.linalg.qr(a, "complete").Q,
        rand=rand_wellcond,
    ),
    OpRecord(
        "linalg_qr_complete_r_tall_complex",
        lambda a: fnp.linalg.qr(a, "complete").R,
        [(2, 4, 2)],
        lambda a: np.linalg.qr(a, "complete").R,
        dtypes=C,
        rand=rand_wellcond,
    ),
    OpRecord(
        "linalg_qr_raw_h",
        lambda a: fnp.linalg.qr(a, "raw")[0],
        [(4, 3)],
        lambda a: np.linalg.qr(a, "raw")[0],
        grad_order=0,
    ),
    OpRecord(
        "linalg_qr_raw_tau_complex",
        lambda a: fnp.linalg.qr(a, "raw")[1],
        [(2, 3, 4)],
        lambda a: np.linalg.qr(a, "raw")[1],
        dtypes=C,
        grad_order=0,
    ),
    OpRecord(
        "linalg_slogdet_qr",
        lambda a: fnp.linalg.slogdet(a, method="qr").logabsdet,
        [(2, 3, 3)],
        lambda a: np.linalg.slogdet(a).logabsdet,
        rand=rand_wellcond,
    ),
    OpRecord(
        "linalg_slogdet_qr_sign_complex",
        lambda a: fnp.linalg.slogdet(a, method="qr").sign,
        [(3, 3)],
        lambda a: np.linalg.slogdet(a).sign,
        dtypes=C,
        rand=rand_wellcond,
    ),
    # Eigenvectors of general matrices, directly: their derivatives follow geev's
    # normalisation (unit norm, real largest component), as NumPy's values do.
    OpRecord(
        "linalg_eig_vectors",
        lambda a: fnp.linalg.eig(a).eigenvectors,
        [(3, 3)],
        lambda a: np.linalg.eig(a).eigenvectors,
        dtypes=(np.float64,),
    ),
    OpRecord(
        "linalg_eig_left_vectors_complex",
        lambda a: lax_linalg.eig(a, compute_right_eigenvectors=False)[1],
        [(3, 3)],
        None,
        dtypes=(np.complex128,),
    ),
    OpRecord(
        "linalg_eigvals",
        fnp.linalg.eigvals,
        [(3, 3)],
        np.linalg.eigvals,
        rand=rand_hermitian_distinct,
    ),
    # --- pseudo-inverse, least squares, powers, products, norms ---------------------------
    OpRecord(
        "linalg_pinv_tall", fnp.linalg.pinv, [(4, 3)], np.linalg.pinv, rand=rand_separated_singular
    ),
    OpRecord(
        "linalg_pinv_wide_complex",
        fnp.linalg.pinv,
        [(2, 4)],
        np.linalg.pinv,
        dtypes=C,
        rand=rand_separated_singular,
    ),
    OpRecord(
        "linalg_lstsq",
        lambda a, b: fnp.linalg.lstsq(a, b)[0],
        [(5, 3), (5,)],
        lambda a, b: np.linalg.lstsq(a, b)[0],
        rand=(rand_separated_singular, rand_normal),
    ),
    OpRecord(
        "linalg_matrix_power_3",
        lambda a: fnp.linalg.matrix_power(a, 3),
        [(3, 3)],
        lambda a: np.linalg.matrix_power(a, 3),
    ),
    OpRecord(
        "linalg_matrix_power_neg2",
        lambda a: fnp.linalg.matrix_power(a, -2),
        [(3, 3)],
        lambda a: np.linalg.matrix_power(a, -2),
        rand=rand_wellcond,
    ),
    OpRecord(
        "linalg_multi_dot",
        lambda a, b, c: fnp.linalg.multi_dot([a, b, c]),
        [(2, 6), (6, 3), (3, 4)],
        lambda a, b, c: np.linalg.multi_dot([a, b, c]),
    ),
    OpRecord(
        "linalg_cond", fnp.linalg.cond, [(3, 3)], np.linalg.cond, rand=rand_separated_singular
    ),
    OpRecord(
        "linalg_cond_fro",
        lambda a: fnp.linalg.cond(a, "fro"),
        [(3, 3)],
        lambda a: np.linalg.cond(a, "fro"),
        rand=rand_wellcond,
    ),
    OpRecord(
        "linalg_tensorsolve",
        fnp.linalg.tensorsolve,
        [(2, 3, 6), (2, 3)],
        np.linalg.tensorsolve,
        rand=(lambda r, s, d: rand_wellcond(r, (6, 6), d).reshape(s), rand_normal),
    ),
    OpRecord(
        "linalg_tensorinv",
        lambda a: fnp.linalg.tensorinv(a, ind=1),
        [(6, 2, 3)],
        lambda a: np.linalg.tensorinv(a, ind=1),
        rand=lambda r, s, d: rand_wellcond(r, (6, 6), d).reshape(s),
    ),
    OpRecord("linalg_norm_vector", fnp.linalg.norm, [(5,)], np.linalg.norm),
    OpRecord(
        "linalg_norm_vector_p3",
        lambda x: fnp.linalg.norm(x, 3, axis=-1),
        [(2, 4)],
        lambda x: np.linalg.norm(x, 3, axis=-1),
    ),
    OpRecord(
        "linalg_norm_vector_1_complex",
        lambda x: fnp.linalg.norm(x, 1, axis=0),
        [(4, 2)],
        lambda x: np.linalg.norm(x, 1, axis=0),
        dtypes=C,
    ),
    OpRecord(
        "linalg_norm_vector_inf",
        lambda x: fnp.linalg.norm(x, np.inf),
        [(6,)],
        lambda x: np.linalg.norm(x, np.inf),
    ),
    OpRecord("linalg_norm_fro_complex", fnp.linalg.norm, [(3, 4)], np.linalg.norm, dtypes=C),
    OpRecord(
        "linalg_norm_nuc",
        lambda x: fnp.linalg.norm(x, "nuc"),
        [(3, 4)],
        lambda x: np.linalg.norm(x, "nuc"),
        rand=rand_separated_singular,
    ),
    OpRecord(
        "linalg_norm_2_batch",
        lambda x: fnp.linalg.norm(x, 2, axis=(1, 2)),
        [(2, 3, 3)],
        lambda x: np.linalg.norm(x, 2, axis=(1, 2)),
        rand=rand_separated_singular,
    ),
    OpRecord(
        "linalg_norm_minus2",
        lambda x: fnp.linalg.norm(x, -2),
        [(4, 3)],
        lambda x: np.linalg.norm(x, -2),
        rand=rand_separated_singular,
    ),
    OpRecord(
        "linalg_norm_1_keepdims",
        lambda x: fnp.linalg.norm(x, 1, (0, 1), True),
        [(3, 4)],
        lambda x: np.linalg.norm(x, 1, (0, 1), True),
    ),
    OpRecord(
        "linalg_norm_inf_axes",
        lambda x: fnp.linalg.norm(x, np.inf, (2, 0)),
        [(3, 2, 4)],
        lambda x: np.linalg.norm(x, np.inf, (2, 0)),
    ),
    OpRecord(
        "linalg_matrix_norm_minus1",
        lambda x: fnp.linalg.matrix_norm(x, ord=-1),
        [(2, 3, 4)],
        lambda x: np.linalg.matrix_norm(x, ord=-1),
    ),
    OpRecord(
        "linalg_vector_norm_axes",
        lambda x: fnp.linalg.vector_norm(x, axis=(0, 2)),
        [(2, 3, 4)],
        lambda x: np.linalg.vector_norm(x, axis=(0, 2)),
    ),
    # --- the lax.linalg primitives ----------------------------------------------------------
    OpRecord("lax_linalg_lu", lambda a: lax_linalg.lu(a)[0], [(2, 4, 4)], _lu_reference),
    OpRecord(
        "lax_linalg_lu_rect_complex",
        lambda a: lax_linalg.lu(a)[0],
        [(3, 5)],
        _lu_reference,
        dtypes=C,
    ),
    OpRecord(
        "lax_linalg_triangular_solve_left_lower",
        lambda a, b: lax_linalg.triangular_solve(a, b, left_side=True, lower=True),
        [(3, 3), (3, 2)],
        lambda a, b: np.linalg.solve(np.tril(a), b),
        rand=(rand_triangular, rand_normal),
    ),
    OpRecord(
        "lax_linalg_triangular_solve_right_upper_h",
        lambda a, b: lax_linalg.triangular_solve(a, b, transpose_a=True, conjugate_a=True),
        [(3, 3), (2, 3)],
        lambda a, b: np.linalg.solve(np.triu(a), np.conj(b).T).conj().T,
        dtypes=C,
        rand=(rand_triangular, rand_normal),
    ),
]
