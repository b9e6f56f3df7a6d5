"""fxgrad.numpy.linalg and the lax.linalg primitives, beyond the shared op records.

Values are compared with NumPy over hypothesis-drawn batch shapes, sizes 1..5 and the
four inexact dtypes; derivatives with finite differences (``check_grads``) and, on
ill-conditioned inputs, with the identities that define them; ``vmap`` with a loop and
``jit`` with eager evaluation for the functions with several outputs; and the error
messages name the function and the shapes.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fxgrad
import fxgrad.numpy as fnp
from fxgrad.errors import FxgradTypeError, ShapeError
from fxgrad.lax import linalg as lax_linalg
from fxgrad.test_util import check_grads

DTYPES = [np.float32, np.float64, np.complex64, np.complex128]
batch_shapes = st.lists(st.integers(0, 3), max_size=2).map(tuple)
sizes = st.integers(1, 5)
dtypes = st.sampled_from(DTYPES)


def _tol(dtype):
    return 5e-4 if np.dtype(dtype) in (np.float32, np.complex64) else 1e-9


def _randn(shape, dtype=np.float64, seed=0):
    rng = np.random.RandomState(seed)
    x = rng.randn(*shape)
    if np.dtype(dtype).kind == "c":
        x = x + 1j * rng.randn(*shape)
    return x.astype(dtype)


def _wellcond(shape, dtype=np.float64, seed=0):
    m, n = shape[-2:]
    return (0.5 * _randn(shape, dtype, seed) + max(m, n) * np.eye(m, n)).astype(dtype)


def _mh(x):
    return np.conj(np.swapaxes(x, -1, -2))


def _spd(shape, dtype=np.float64, seed=0):
    x = _randn(shape, dtype, seed)
    return (x @ _mh(x) / shape[-1] + np.eye(shape[-1])).astype(dtype)


def _hermitian_distinct(shape, dtype=np.float64, seed=0, w=None):
    q, _ = np.linalg.qr(_randn(shape, dtype, seed))
    if w is None:
        w = np.arange(1.0, shape[-1] + 1)
    return ((q * np.asarray(w)) @ _mh(q)).astype(dtype)


def _close(actual, expected, dtype, tol=None):
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    tol = _tol(dtype) if tol is None else tol
    np.testing.assert_allclose(actual, expected, rtol=tol, atol=tol)


# ---------------------------------------------------------------------------------------
# Values against NumPy
# ---------------------------------------------------------------------------------------


@given(batch_shapes, sizes, dtypes)
def test_square_functions_match_numpy(batch, n, dtype):
    a = _wellcond((*batch, n, n), dtype)
    b = _randn((*batch, n, 2), dtype, seed=1)
    for name in ("inv", "det", "eigvals", "svdvals", "cond", "matrix_rank", "pinv"):
        out = getattr(fnp.linalg, name)(a)
        expected = getattr(np.linalg, name)(a)
        assert np.asarray(out).dtype == np.result_type(expected, out.dtype), name
        _close(out, expected, dtype)
    _close(fnp.linalg.solve(a, b), np.linalg.solve(a, b), dtype)
    vec = _randn((n,), dtype, seed=2)
    _close(fnp.linalg.solve(a, vec), np.linalg.solve(a, vec), dtype)
    sign, logdet = fnp.linalg.slogdet(a)
    expected = np.linalg.slogdet(a)
    _close(sign, expected.sign, dtype)
    _close(logdet, expected.logabsdet, dtype)
    assert np.asarray(logdet).dtype == expected.logabsdet.dtype
    spd = _spd((*batch, n, n), dtype)
    _close(fnp.linalg.cholesky(spd), np.linalg.cholesky(spd), dtype)
    _close(fnp.linalg.cholesky(spd, upper=True), np.linalg.cholesky(spd, upper=True), dtype)
    for k in (-2, 0, 1, 3):
        _close(fnp.linalg.matrix_power(a, k), np.linalg.matrix_power(a, k), dtype)


@given(batch_shapes, sizes, dtypes, st.sampled_from(["L", "U"]))
def test_eigh_matches_numpy(batch, n, dtype, uplo):
    a = _hermitian_distinct((*batch, n, n), dtype)
    w, v = fnp.linalg.eigh(a, uplo)
    expected = np.linalg.eigh(a, uplo)
    _close(w, expected.eigenvalues, dtype)
    assert np.asarray(w).dtype == expected.eigenvalues.dtype
    assert np.asarray(v).dtype == np.dtype(dtype)
    # Eigenvectors are unique up to phase: compare |v| and the reconstruction.
    _close(np.abs(np.asarray(v)), np.abs(expected.eigenvectors), dtype)
    v = np.asarray(v)
    _close((v * np.asarray(w)[..., None, :]) @ _mh(v), a, dtype)
    _close(fnp.linalg.eigvalsh(a, uplo), np.linalg.eigvalsh(a, uplo), dtype)
    # Without symmetrizing, only the UPLO triangle is read, as in NumPy.
    noisy = a + np.triu(_randn(a.shape, dtype, 3), 1) if uplo == "L" else a
    _close(
        fnp.linalg.eigvalsh(noisy, uplo, symmetrize_input=False),
        np.linalg.eigvalsh(noisy, uplo),
        dtype,
    )


@given(batch_shapes, sizes, sizes, dtypes)
def test_rectangular_functions_match_numpy(batch, m, n, dtype):
    a = _randn((*batch, m, n), dtype)
    for mode in ("reduced", "complete"):
        q, r = fnp.linalg.qr(a, mode)
        expected = np.linalg.qr(a, mode)
        _close(q, expected.Q, dtype)
        _close(r, expected.R, dtype)
    _close(fnp.linalg.qr(a, "r"), np.linalg.qr(a, "r"), dtype)
    _close(fnp.linalg.svdvals(a), np.linalg.svdvals(a), dtype)
    for full in (True, False):
        u, s, vh = fnp.linalg.svd(a, full_matrices=full)
        eu, es, evh = np.linalg.svd(a, full_matrices=full)
        assert np.asarray(u).shape == eu.shape and np.asarray(vh).shape == evh.shape
        k = min(m, n)
        u, vh = np.asarray(u), np.asarray(vh)
        _close((u[..., :k] * np.asarray(s)[..., None, :]) @ vh[..., :k, :], a, dtype)
    _close(fnp.linalg.pinv(a), np.linalg.pinv(a), dtype)
    _close(fnp.linalg.matrix_rank(a), np.linalg.matrix_rank(a), dtype)


@settings(max_examples=60)
@given(
    st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple),
    st.sampled_from([None, "fro", "nuc", np.inf, -np.inf, 0, 1, -1, 2, -2, 3, 0.5]),
    st.integers(0, 3),
    st.booleans(),
    st.sampled_from([np.float64, np.complex64]),
)
def test_norm_matches_numpy(shape, ord, axis_kind, keepdims, dtype):  # noqa: A002
    x = _randn(shape, dtype)
    nd = len(shape)
    axis = [None, -1, (0, nd - 1), (nd - 1, 0)][axis_kind]
    try:
        expected = np.linalg.norm(x, ord, axis, keepdims)
    except (ValueError, TypeError) as err:
        with pytest.raises(type(err)):
            fnp.linalg.norm(x, ord, axis, keepdims)
        return
    out = fnp.linalg.norm(x, ord, axis, keepdims)
    assert np.asarray(out).dtype == expected.dtype
    _close(out, expected, dtype)


@given(
    st.lists(st.integers(1, 4), min_size=2, max_size=3).map(tuple),
    st.booleans(),
    st.sampled_from([1, 2, np.inf, -np.inf, 0, 3]),
)
def test_vector_and_matrix_norm_match_numpy(shape, keepdims, ord):  # noqa: A002
    x = _randn(shape)
    for axis in (None, 0, (0, -1)):
        _close(
            fnp.linalg.vector_norm(x, axis=axis, keepdims=keepdims, ord=ord),
            np.linalg.vector_norm(x, axis=axis, keepdims=keepdims, ord=ord),
            np.float64,
        )
    if ord in (1, 2, np.inf, -np.inf):
        _close(
            fnp.linalg.matrix_norm(x, ord=ord, keepdims=keepdims),
            np.linalg.matrix_norm(x, ord=ord, keepdims=keepdims),
            np.float64,
        )


def test_empty_matrices_match_numpy():
    for shape in [(0, 0), (2, 0, 0)]:
        z = np.zeros(shape)
        for name in ("inv", "det", "cholesky", "eigvalsh", "svdvals", "pinv", "matrix_rank"):
            _close(getattr(fnp.linalg, name)(z), getattr(np.linalg, name)(z), np.float64)
        _close(fnp.linalg.slogdet(z).logabsdet, np.linalg.slogdet(z).logabsdet, np.float64)
    for shape in [(0, 3), (3, 0)]:
        z = np.zeros(shape)
        _close(fnp.linalg.qr(z, "complete").Q, np.linalg.qr(z, "complete").Q, np.float64)
        _close(fnp.linalg.pinv(z), np.linalg.pinv(z), np.float64)
        _close(fnp.linalg.svdvals(z), np.linalg.svdvals(z), np.float64)


def test_eig_matches_numpy_and_left_eigenvectors():
    a = _randn((2, 4, 4), seed=4)
    w, v = fnp.linalg.eig(a)
    ew, ev = np.linalg.eig(a)
    _close(w, ew, np.float64)
    _close(v, ev, np.float64)
    assert np.asarray(w).dtype == np.complex128
    w, vl, vr = lax_linalg.eig(a)
    vl, w = np.asarray(vl), np.asarray(w)
    _close(_mh(vl) @ a, w[..., :, None] * _mh(vl), np.float64)
    _close(np.linalg.norm(vl, axis=-2), np.ones((2, 4)), np.float64)
    _close(fnp.linalg.eigvals(a), np.linalg.eigvals(a), np.float64)


@pytest.mark.parametrize("shape_b", [(6,), (6, 2)])
def test_lstsq_matches_numpy(shape_b):
    b = _randn(shape_b, seed=1)
    for a in (_randn((6, 3)), _randn((6, 2)) @ _randn((2, 3), seed=2), _randn((6, 8))):
        x, resid, rank, s = fnp.linalg.lstsq(a, b, numpy_resid=True)
        ex, eresid, erank, es = np.linalg.lstsq(a, b)
        _close(x, ex, np.float64)
        _close(resid, eresid, np.float64)
        assert int(rank) == erank
        _close(s, es, np.float64)
        _, resid, _, _ = fnp.linalg.lstsq(a, b)
        _close(resid, np.sum((b - a @ ex) ** 2, axis=0), np.float64)


def test_pinv_cutoffs_match_numpy():
    a = _randn((5, 2)) @ _randn((2, 4), seed=1)
    for kwargs in ({}, {"rcond": 0.5}, {"rtol": None}, {"rtol": 1e-3}):
        _close(fnp.linalg.pinv(a, **kwargs), np.linalg.pinv(a, **kwargs), np.float64)
    h = _hermitian_distinct((4, 4), w=[-3.0, -1.0, 2.0, 5.0])
    _close(fnp.linalg.pinv(h, hermitian=True), np.linalg.pinv(h, hermitian=True), np.float64)
    u, s, vh = fnp.linalg.svd(h, hermitian=True)
    _close(s, np.linalg.svd(h, hermitian=True).S, np.float64)
    _close((np.asarray(u) * np.asarray(s)) @ np.asarray(vh), h, np.float64)
    for kwargs in ({"tol": 1.0}, {"rtol": 0.3}, {"hermitian": True}):
        _close(fnp.linalg.matrix_rank(h, **kwargs), np.linalg.matrix_rank(h, **kwargs), np.float64)


def test_cond_matches_numpy_for_every_norm():
    a = _randn((2, 3, 3), seed=5)
    for p in (None, 1, -1, 2, -2, np.inf, -np.inf, "fro", "nuc"):
        _close(fnp.linalg.cond(a, p), np.linalg.cond(a, p), np.float64, tol=1e-8)
    assert np.isinf(np.asarray(fnp.linalg.cond(np.ones((3, 3)), 1)))


@given(st.lists(st.integers(1, 9), min_size=3, max_size=6), st.booleans(), st.booleans())
def test_multi_dot_matches_numpy(dims, first_1d, last_1d):
    arrays = [_randn((dims[i], dims[i + 1]), seed=i) for i in range(len(dims) - 1)]
    if first_1d:
        arrays[0] = arrays[0][0]
    if last_1d:
        arrays[-1] = arrays[-1][:, 0]
    _close(fnp.linalg.multi_dot(arrays), np.linalg.multi_dot(arrays), np.float64)


def test_multi_dot_order_is_optimal():
    from fxgrad.numpy.linalg import _chain_order

    def cost(dims, i, j, split):
        if i == j:
            return 0
        k = split[i][j]
        return (
            cost(dims, i, k, split)
            + cost(dims, k + 1, j, split)
            + (dims[i] * dims[k + 1] * dims[j + 1])
        )

    def brute(dims, i, j):
        if i == j:
            return 0
        return min(
            brute(dims, i, k) + brute(dims, k + 1, j) + dims[i] * dims[k + 1] * dims[j + 1]
            for k in range(i, j)
        )

    rng = np.random.RandomState(0)
    for _ in range(20):
        dims = list(rng.randint(1, 20, size=rng.randint(3, 7)))
        n = len(dims) - 2
        assert cost(dims, 0, n, _chain_order(dims)) == brute(dims, 0, n)


def test_tensorsolve_and_tensorinv_match_numpy():
    a = _wellcond((6, 6)).reshape(2, 3, 6)
    b = _randn((2, 3), seed=1)
    _close(fnp.linalg.tensorsolve(a, b), np.linalg.tensorsolve(a, b), np.float64)
    moved = np.moveaxis(a, 2, 0)
    _close(
        fnp.linalg.tensorsolve(moved, b, axes=(0,)),
        np.linalg.tensorsolve(moved, b, axes=(0,)),
        np.float64,
    )
    _close(fnp.linalg.tensorinv(a, 2), np.linalg.tensorinv(a, 2), np.float64)
    _close(fnp.linalg.tensorinv(moved, 1), np.linalg.tensorinv(moved, 1), np.float64)


def test_numpy2_aliases_match_numpy():
    x, y = _randn((2, 3, 4)), _randn((2, 4, 3), seed=1)
    _close(fnp.linalg.matmul(x, y), np.linalg.matmul(x, y), np.float64)
    _close(fnp.linalg.tensordot(x, y[0], axes=1), np.linalg.tensordot(x, y[0], axes=1), np.float64)
    _close(fnp.linalg.vecdot(x, x), np.linalg.vecdot(x, x), np.float64)
    _close(fnp.linalg.diagonal(x, offset=1), np.linalg.diagonal(x, offset=1), np.float64)
    _close(fnp.linalg.trace(x, offset=-1), np.linalg.trace(x, offset=-1), np.float64)
    _close(fnp.linalg.matrix_transpose(x), np.linalg.matrix_transpose(x), np.float64)
    _close(fnp.linalg.outer(x[0, 0], y[0, 0]), np.linalg.outer(x[0, 0], y[0, 0]), np.float64)
    _close(fnp.linalg.cross(x[..., :3], y[0, 0]), np.linalg.cross(x[..., :3], y[0, 0]), np.float64)


def test_integer_and_list_inputs_promote_like_numpy():
    a = [[2, 1], [1, 3]]
    for name in ("inv", "det", "pinv", "svdvals", "eigvalsh"):
        out = getattr(fnp.linalg, name)(a)
        expected = getattr(np.linalg, name)(np.asarray(a))
        assert np.asarray(out).dtype == expected.dtype, name
        _close(out, expected, np.float64)
    # matrix_power keeps an integer dtype for non-negative powers, as NumPy does.
    out = fnp.linalg.matrix_power(np.asarray(a), 3)
    assert np.asarray(out).dtype == np.int64
    np.testing.assert_array_equal(out, np.linalg.matrix_power(np.asarray(a), 3))


def test_singular_and_indefinite_inputs_give_inf_or_nan():
    sign, logdet = fnp.linalg.slogdet(np.ones((3, 3)))
    assert float(sign) == 0.0 and float(logdet) == -np.inf
    assert float(fnp.linalg.det(np.ones((3, 3)))) == 0.0
    assert not np.isfinite(np.asarray(fnp.linalg.inv(np.ones((2, 2))))).all()
    # Only the matrix that is not positive definite turns into NaNs.
    stack = np.stack([np.eye(2), -np.eye(2)])
    chol = np.asarray(fnp.linalg.cholesky(stack))
    np.testing.assert_array_equal(chol[0], np.eye(2))
    assert np.isnan(chol[1]).all()
    out = lax_linalg.triangular_solve(np.zeros((2, 2)), np.ones((2, 1)), left_side=True, lower=True)
    assert np.isinf(np.asarray(out)[0]).all()


# ---------------------------------------------------------------------------------------
# The lax primitives
# ---------------------------------------------------------------------------------------


@given(batch_shapes, sizes, sizes, dtypes)
def test_lu_reconstructs_the_permuted_input(batch, m, n, dtype):
    a = _randn((*batch, m, n), dtype)
    lu, pivots, perm = (np.asarray(x) for x in lax_linalg.lu(a))
    assert pivots.dtype == perm.dtype == np.int32
    k = min(m, n)
    lower = np.tril(lu[..., :, :k], -1) + np.eye(m, k)
    upper = np.triu(lu[..., :k, :])
    permuted = np.take_along_axis(a, perm[..., :, None].astype(np.int64), axis=-2)
    _close(lower @ upper, permuted, dtype)
    np.testing.assert_array_equal(lax_linalg.lu_pivots_to_permutation(pivots, m), perm)
    # Partial pivoting on |re| + |im| (LAPACK's i?amax) bounds |L| by 1, or sqrt(2).
    assert np.all(np.abs(lower) <= (np.sqrt(2) if np.dtype(dtype).kind == "c" else 1) + 1e-6)


@pytest.mark.parametrize(
    "left_side,lower,transpose_a,conjugate_a,unit_diagonal",
    list(itertools.product([True, False], repeat=5)),
)
def test_triangular_solve_every_option(left_side, lower, transpose_a, conjugate_a, unit_diagonal):
    kw = {
        "left_side": left_side,
        "lower": lower,
        "transpose_a": transpose_a,
        "conjugate_a": conjugate_a,
        "unit_diagonal": unit_diagonal,
    }
    a = _wellcond((2, 3, 3), np.complex128)
    b = _randn((2, 3, 2) if left_side else (2, 2, 3), np.complex128, seed=1)
    x = np.asarray(lax_linalg.triangular_solve(a, b, **kw))
    op = np.tril(a) if lower else np.triu(a)
    if unit_diagonal:
        op[..., range(3), range(3)] = 1
    op = np.conj(op) if conjugate_a else op
    op = np.swapaxes(op, -1, -2) if transpose_a else op
    _close(op @ x if left_side else x @ op, b, np.complex128)
    check_grads(lambda a, b: lax_linalg.triangular_solve(a, b, **kw), (a, b), order=1)


def test_triangular_solve_vmap_with_shared_matrix():
    a = _wellcond((3, 3))
    bs = _randn((4, 3, 2), seed=1)
    for left_side in (True, False):
        b = bs if left_side else np.swapaxes(bs, -1, -2)
        for in_axis in (0, 2):
            batched = np.moveaxis(b, 0, in_axis)

            def f(b, left_side=left_side):
                return lax_linalg.triangular_solve(a, b, left_side=left_side, lower=True)

            out = fxgrad.vmap(f, in_axes=in_axis)(batched)
            _close(out, np.stack([np.asarray(f(x)) for x in b]), np.float64)


def test_lapack_failures_do_not_poison_the_stack():
    good = _spd((3, 3))
    stack = np.stack([good, -good, good])
    out = np.asarray(lax_linalg.cholesky(stack))
    _close(out[0], np.linalg.cholesky(good), np.float64)
    assert np.isnan(out[1]).all()


# ---------------------------------------------------------------------------------------
# Derivatives
# ---------------------------------------------------------------------------------------

GRAD_CASES = {
    "inv_complex": (fnp.linalg.inv, lambda: [_wellcond((3, 3), np.complex128)]),
    "solve_broadcast": (fnp.linalg.solve, lambda: [_wellcond((2, 3, 3)), _randn((3, 2), seed=1)]),
    "det_complex": (fnp.linalg.det, lambda: [_wellcond((3, 3), np.complex128)]),
    "slogdet": (lambda a: fnp.linalg.slogdet(a), lambda: [_randn((3, 3))]),
    "cholesky_upper_complex": (
        lambda a: fnp.linalg.cholesky(a, upper=True),
        lambda: [_spd((3, 3), np.complex128)],
    ),
    "cholesky_lower_triangle_only": (
        lambda a: fnp.linalg.cholesky(a, symmetrize_input=False),
        lambda: [_spd((3, 3)) + np.triu(_randn((3, 3), seed=2), 1)],
    ),
    "eigh_upper_only": (
        lambda a: fnp.linalg.eigh(a, "U", symmetrize_input=False).eigenvalues,
        lambda: [_hermitian_distinct((3, 3)) + np.tril(_randn((3, 3), seed=2), -1)],
    ),
    "eigh_vectors_real": (
        lambda a: fnp.linalg.eigh(a).eigenvectors ** 2,
        lambda: [_hermitian_distinct((2, 3, 3))],
    ),
    "svd_square_full": (lambda a: fnp.linalg.svd(a)[0] ** 2, lambda: [_hermitian_distinct((3, 3))]),
    "svd_hermitian": (
        lambda a: fnp.linalg.svd(a, hermitian=True).S,
        lambda: [_hermitian_distinct((3, 3), w=[-3.0, 1.0, 2.0])],
    ),
    "qr_complete_square": (lambda a: fnp.linalg.qr(a, "complete"), lambda: [_wellcond((3, 3))]),
    "qr_wide": (lambda a: fnp.linalg.qr(a), lambda: [_wellcond((2, 3, 5))]),
    "lu_wide": (lambda a: lax_linalg.lu(a)[0], lambda: [_randn((3, 5))]),
    "lu_tall": (lambda a: lax_linalg.lu(a)[0], lambda: [_randn((5, 3))]),
    "eig_values_complex": (
        fnp.linalg.eigvals,
        lambda: [_hermitian_distinct((3, 3)) + 0.3j * _randn((3, 3))],
    ),
    "eig_vectors_gauge": (
        lambda a: fnp.abs(fnp.linalg.eig(a).eigenvectors),
        lambda: [_hermitian_distinct((3, 3)) + 0.3 * _randn((3, 3), seed=3)],
    ),
    "pinv_hermitian": (
        lambda a: fnp.linalg.pinv(a, hermitian=True),
        lambda: [_hermitian_distinct((3, 3), w=[-2.0, 1.0, 3.0])],
    ),
    "pinv_repeated_singular_values": (fnp.linalg.pinv, lambda: [np.eye(4, 3) + 0.0]),
    "lstsq_matrix_rhs": (
        lambda a, b: fnp.linalg.lstsq(a, b)[:2],
        lambda: [_randn((5, 3)), _randn((5, 2), seed=1)],
    ),
    "matrix_power_negative": (
        lambda a: fnp.linalg.matrix_power(a, -1),
        lambda: [_wellcond((3, 3))],
    ),
    "cond_inf": (lambda a: fnp.linalg.cond(a, np.inf), lambda: [_wellcond((3, 3))]),
    "norm_vector_general_p": (lambda x: fnp.linalg.norm(x, 2.5), lambda: [_randn((4,)) + 2]),
    "norm_2_complex": (
        lambda x: fnp.linalg.norm(x, 2),
        lambda: [_hermitian_distinct((3, 3), np.complex128)],
    ),
    "tensorinv": (lambda a: fnp.linalg.tensorinv(a), lambda: [_wellcond((4, 4)).reshape(2, 2, 4)]),
}


@pytest.mark.parametrize("name", sorted(GRAD_CASES))
def test_grads_match_finite_differences(name):
    fun, make_args = GRAD_CASES[name]
    check_grads(fun, make_args(), order=2, modes=("fwd", "rev"))


def test_det_derivative_is_jacobis_formula():
    a, da = _wellcond((2, 3, 3)), _randn((2, 3, 3), seed=1)
    y, y_dot = fxgrad.jvp(fnp.linalg.det, (a,), (da,))
    expected = np.linalg.det(a) * np.trace(np.linalg.solve(a, da), axis1=-2, axis2=-1)
    _close(y_dot, expected, np.float64)
    g = fxgrad.grad(lambda a: fnp.linalg.det(a))(a[0])
    _close(g, np.linalg.det(a[0]) * np.linalg.inv(a[0]).T, np.float64)


def _ill_conditioned(n, cond, seed=0, spd=False):
    rng = np.random.RandomState(seed)
    u, _ = np.linalg.qr(rng.randn(n, n))
    v, _ = np.linalg.qr(rng.randn(n, n))
    s = np.logspace(0, -np.log10(cond), n)
    return (u * s) @ (u.T if spd else v.T)


@pytest.mark.parametrize("cond", [1e3, 1e6, 1e9])
def test_derivatives_on_ill_conditioned_inputs_satisfy_their_identities(cond):
    """The tolerance fxgrad.numpy.linalg's docstring states: cond * 1e-14, relative."""
    n = 5
    a, spd = _ill_conditioned(n, cond), _ill_conditioned(n, cond, spd=True)
    da = _randn((n, n), seed=7)
    dsym = (da + da.T) / 2
    tol = cond * 1e-14

    def rel(residual, scale):
        return np.linalg.norm(residual) / np.linalg.norm(scale)

    x, dx = (np.asarray(t) for t in fxgrad.jvp(fnp.linalg.inv, (a,), (da,)))
    assert rel(a @ dx + da @ x, da @ x) < tol  # d(A X) = 0
    y, dy = fxgrad.jvp(fnp.linalg.slogdet, (a,), (da,))
    expected = np.trace(np.linalg.solve(a, da))  # d log|det A| = tr(A^-1 dA)
    assert abs(float(dy.logabsdet) - expected) < tol * abs(expected)
    chol, dchol = (np.asarray(t) for t in fxgrad.jvp(fnp.linalg.cholesky, (spd,), (dsym,)))
    assert np.allclose(np.triu(dchol, 1), 0)
    assert rel(dchol @ chol.T + chol @ dchol.T - dsym, dsym) < tol
    (w, v), (dw, dv) = fxgrad.jvp(fnp.linalg.eigh, (spd,), (dsym,))
    w, v, dw, dv = (np.asarray(t) for t in (w, v, dw, dv))
    residual = spd @ dv + dsym @ v - dv * w - v * dw  # d(A V - V diag(w)) = 0
    assert rel(residual, dsym) < tol
    (q, r), (dq, dr) = fxgrad.jvp(fnp.linalg.qr, (a,), (da,))
    q, r, dq, dr = (np.asarray(t) for t in (q, r, dq, dr))
    assert rel(dq @ r + q @ dr - da, da) < tol and np.allclose(np.tril(dr, -1), 0)
    assert rel(q.T @ dq + dq.T @ q, dq) < tol  # Q^T dQ is skew-symmetric
    (u, s, vh), (du, ds, dvh) = fxgrad.jvp(
        lambda a: fnp.linalg.svd(a, full_matrices=False), (a,), (da,)
    )
    u, s, vh, du, ds, dvh = (np.asarray(t) for t in (u, s, vh, du, ds, dvh))
    recon = du @ (s[:, None] * vh) + u @ (ds[:, None] * vh) + u @ (s[:, None] * dvh)
    assert rel(recon - da, da) < tol


def test_repeated_eigenvalues_documented_behaviour():
    """Eigenvalue derivatives stay finite at ties; eigenvector derivatives are NaN."""
    a = _hermitian_distinct((3, 3), w=[1.0, 1.0, 2.0])
    da = _randn((3, 3), seed=1)
    da = da + da.T
    g = fxgrad.grad(lambda a: fnp.sum(fnp.linalg.eigvalsh(a) ** 2))(a)
    _close(g, 2 * a, np.float64, tol=1e-8)  # d tr(A^2) = 2 A
    _, w_dot = fxgrad.jvp(fnp.linalg.eigvalsh, (np.eye(3),), (da,))
    assert np.isfinite(np.asarray(w_dot)).all()
    _, (_, v_dot) = fxgrad.jvp(fnp.linalg.eigh, (np.eye(3),), (da,))
    assert not np.isfinite(np.asarray(v_dot)).all()


def test_derivatives_raise_where_jax_does_not_define_them():
    from fxgrad.errors import MissingRuleError

    with pytest.raises(MissingRuleError, match="full_matrices=False"):
        fxgrad.grad(lambda a: fnp.sum(fnp.linalg.svd(a)[0]))(_randn((4, 2)))
    with pytest.raises(MissingRuleError, match=r"geqrf.*mode='raw'.*'reduced'"):
        fxgrad.grad(lambda a: fnp.sum(fnp.linalg.qr(a, "raw")[0]))(_randn((4, 2)))


@pytest.mark.parametrize("shape", [(5, 2), (2, 4, 3)])
@pytest.mark.parametrize("dtype", [np.float64, np.complex128])
def test_qr_complete_tall_derivative_matches_lapack(shape, dtype):
    """Q's extra columns follow LAPACK's Householder construction: compare with central
    differences of NumPy's complete QR, and check_grads to order 2."""
    a, da = _randn(shape, dtype), _randn(shape, dtype, seed=1)
    (q, r), (dq, dr) = fxgrad.jvp(lambda a: tuple(fnp.linalg.qr(a, "complete")), (a,), (da,))
    eps = 1e-6
    plus, minus = np.linalg.qr(a + eps * da, "complete"), np.linalg.qr(a - eps * da, "complete")
    _close(dq, (plus.Q - minus.Q) / (2 * eps), np.float64, tol=1e-7)
    _close(dr, (plus.R - minus.R) / (2 * eps), np.float64, tol=1e-7)
    check_grads(lambda a: fnp.linalg.qr(a, "complete"), (a,), order=2, modes=("fwd", "rev"))


@pytest.mark.parametrize("left,right", [(True, False), (True, True), (False, True)])
@pytest.mark.parametrize("dtype", [np.float64, np.complex128])
def test_eig_eigenvector_derivatives(left, right, dtype):
    """Left and right eigenvectors differentiate through geev's normalisation (unit norm,
    real largest component), so the raw vectors match finite differences."""
    a = _randn((3, 3), dtype, seed=5)

    def f(a):
        return lax_linalg.eig(a, compute_left_eigenvectors=left, compute_right_eigenvectors=right)

    check_grads(f, (a,), order=2, modes=("fwd", "rev"))


def _jax():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    return jax


def test_eig_derivatives_match_jax():
    """Tangents agree with JAX's (enable_eigvec_derivs=True); LAPACK leaves the sign of a
    real left eigenvector free and fxgrad makes its largest component positive, so left
    vectors (and their tangents) agree up to that per-column sign."""
    jax = _jax()
    a, da = _randn((2, 4, 4), seed=6), _randn((2, 4, 4), seed=7)
    (w, vl, vr), (dw, dvl, dvr) = fxgrad.jvp(lambda a: tuple(lax_linalg.eig(a)), (a,), (da,))
    eig = jax.lax.linalg.eig
    (jw, jvl, jvr), (jdw, jdvl, jdvr) = jax.jvp(
        lambda a: tuple(eig(a, enable_eigvec_derivs=True)), (a,), (da,)
    )
    for ours, theirs in ((w, jw), (vr, jvr), (dw, jdw), (dvr, jdvr)):
        _close(ours, theirs, np.float64, tol=1e-8)
    sign = np.asarray(vl)[..., :1, :] / np.asarray(jvl)[..., :1, :]
    _close(vl, sign * np.asarray(jvl), np.float64, tol=1e-8)
    _close(dvl, sign * np.asarray(jdvl), np.float64, tol=1e-8)


def test_qr_complete_derivative_matches_jax():
    jax = _jax()
    a, da = _randn((5, 3), seed=2), _randn((5, 3), seed=3)
    _, ours = fxgrad.jvp(lambda a: tuple(fnp.linalg.qr(a, "complete")), (a,), (da,))
    _, theirs = jax.jvp(lambda a: tuple(jax.numpy.linalg.qr(a, "complete")), (a,), (da,))
    for x, y in zip(ours, theirs, strict=True):
        _close(x, y, np.float64, tol=1e-8)


# ---------------------------------------------------------------------------------------
# qr(mode='raw') and slogdet(method='qr')
# ---------------------------------------------------------------------------------------


@given(batch_shapes, st.integers(0, 5), sizes, dtypes)
def test_qr_raw_matches_numpy(batch, m, n, dtype):
    a = _randn((*batch, m, n), dtype)
    h, tau = fnp.linalg.qr(a, "raw")
    eh, etau = np.linalg.qr(a, "raw")
    assert np.asarray(h).dtype == eh.dtype and np.asarray(tau).dtype == etau.dtype
    _close(h, eh, dtype)
    _close(tau, etau, dtype)
    jh, jtau = fxgrad.jit(lambda a: fnp.linalg.qr(a, "raw"))(a)
    _close(jh, eh, dtype)
    _close(jtau, etau, dtype)


def test_qr_raw_vmap_and_jax_convention():
    a = _randn((3, 5, 4), seed=1)
    h, tau = fxgrad.vmap(lambda a: fnp.linalg.qr(a, "raw"), in_axes=2)(a)
    for i in range(4):
        eh, etau = np.linalg.qr(a[:, :, i], "raw")
        _close(h[i], eh, np.float64)
        _close(tau[i], etau, np.float64)
    jax = _jax()
    jh, jtau = jax.numpy.linalg.qr(a, "raw")
    h, tau = fnp.linalg.qr(a, "raw")
    _close(h, jh, np.float64)
    _close(tau, jtau, np.float64)


@given(batch_shapes, st.integers(0, 5), dtypes)
def test_slogdet_qr_matches_numpy(batch, n, dtype):
    a = _randn((*batch, n, n), dtype)
    sign, logdet = fnp.linalg.slogdet(a, method="qr")
    expected = np.linalg.slogdet(a)
    assert np.asarray(sign).dtype == expected.sign.dtype
    assert np.asarray(logdet).dtype == expected.logabsdet.dtype
    _close(sign, expected.sign, dtype)
    _close(logdet, expected.logabsdet, dtype)


def test_slogdet_qr_singular_and_transformations():
    for z in (np.zeros((3, 3)), np.array([[1.0, 0.0], [2.0, 0.0]])):
        sign, logdet = fnp.linalg.slogdet(z, method="qr")
        assert float(sign) == 0.0 and float(logdet) == -np.inf
    a = _wellcond((2, 3, 3))
    check_grads(lambda a: fnp.linalg.slogdet(a, method="qr"), (a,), order=2, modes=("fwd", "rev"))
    ac = _wellcond((3, 3), np.complex128)
    check_grads(lambda a: fnp.linalg.slogdet(a, method="qr"), (ac,), order=2, modes=("fwd", "rev"))
    slogdet_qr = fxgrad.vmap(lambda a: fnp.linalg.slogdet(a, method="qr"), in_axes=2)
    batched = slogdet_qr(np.moveaxis(a, 0, 2))
    for i in range(2):
        expected = np.linalg.slogdet(a[i])
        _close(batched.sign[i], expected.sign, np.float64)
        _close(batched.logabsdet[i], expected.logabsdet, np.float64)
    jitted = fxgrad.jit(lambda a: fnp.linalg.slogdet(a, method="qr"))(a)
    _close(jitted.logabsdet, np.linalg.slogdet(a).logabsdet, np.float64)
    with pytest.raises(ValueError, match=r"slogdet.*'cholesky'.*'lu'.*'qr'"):
        fnp.linalg.slogdet(a, method="cholesky")


def test_slogdet_qr_gradient_matches_jax():
    jax = _jax()
    a = _wellcond((3, 3), seed=4)
    g = fxgrad.grad(lambda a: fnp.linalg.slogdet(a, method="qr").logabsdet)(a)
    jg = jax.grad(lambda a: jax.numpy.linalg.slogdet(a, method="qr")[1])(a)
    _close(g, jg, np.float64)


# ---------------------------------------------------------------------------------------
# vmap and jit of the functions with several outputs
# ---------------------------------------------------------------------------------------

MULTI_OUTPUT = {
    "eigh": (lambda a: fnp.linalg.eigh(a), lambda: _hermitian_distinct((3, 3))),
    "svd": (lambda a: fnp.linalg.svd(a, full_matrices=False), lambda: _randn((4, 3))),
    "qr": (lambda a: fnp.linalg.qr(a), lambda: _randn((3, 4))),
    "lu": (lambda a: lax_linalg.lu(a), lambda: _randn((3, 3))),
    "slogdet": (lambda a: fnp.linalg.slogdet(a), lambda: _randn((3, 3))),
    "eig": (lambda a: fnp.linalg.eig(a), lambda: _randn((3, 3))),
    "lstsq": (lambda a: fnp.linalg.lstsq(a, np.ones(4)), lambda: _randn((4, 3))),
}


@pytest.mark.parametrize("name", sorted(MULTI_OUTPUT))
def test_vmap_matches_loop(name):
    fun, make = MULTI_OUTPUT[name]
    examples = [make() * (1.0 + 0.1 * i) + 0.01 * i for i in range(3)]
    for axis in (0, 2):
        batched = fxgrad.vmap(fun, in_axes=axis)(np.stack(examples, axis=axis))
        loop = [fun(x) for x in examples]
        for j, out in enumerate(batched):
            _close(out, np.stack([np.asarray(o[j]) for o in loop]), np.float64)


@pytest.mark.parametrize("name", sorted(MULTI_OUTPUT))
def test_jit_matches_eager(name):
    fun, make = MULTI_OUTPUT[name]
    x = make()
    traces = []

    def counted(a):
        traces.append(1)
        return fun(a)

    jitted = fxgrad.jit(counted)
    for out, expected in zip(jitted(x), fun(x), strict=True):
        assert np.asarray(out).dtype == np.asarray(expected).dtype
        _close(out, expected, np.float64)
    jitted(x + 1.0)
    assert len(traces) == 1


def test_composed_transformations():
    a = np.stack([_spd((3, 3), seed=i) for i in range(2)])

    def loss(a):
        return fnp.sum(fnp.linalg.slogdet(a).logabsdet + fnp.linalg.eigvalsh(a) ** 2)

    hess_diag = fxgrad.jit(fxgrad.vmap(fxgrad.grad(lambda a: fnp.sum(fxgrad.grad(loss)(a)))))
    out = np.asarray(hess_diag(a))
    loop = [np.asarray(fxgrad.grad(lambda a: fnp.sum(fxgrad.grad(loss)(a)))(x)) for x in a]
    _close(out, np.stack(loop), np.float64)


# ---------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------

SQUARE_ONLY = ["inv", "det", "slogdet", "cholesky", "eigh", "eigvalsh", "eig", "eigvals"]


@pytest.mark.parametrize("name", SQUARE_ONLY)
def test_non_square_input_names_function_and_shape(name):
    with pytest.raises(ShapeError, match=rf"linalg\.{name}.*square.*\(2, 3\)"):
        getattr(fnp.linalg, name)(np.ones((2, 3)))
    with pytest.raises(ShapeError, match=rf"linalg\.{name}.*two dimensions.*\(3,\)"):
        getattr(fnp.linalg, name)(np.ones(3))


@pytest.mark.parametrize("name", ["svd", "svdvals", "qr", "pinv"])
def test_vector_input_names_function_and_shape(name):
    with pytest.raises(ShapeError, match=rf"linalg\.{name}.*two dimensions.*\(4,\)"):
        getattr(fnp.linalg, name)(np.ones(4))


def test_other_errors_name_function_argument_and_fix():
    with pytest.raises(ShapeError, match=r"solve.*\(2,\).*\(3, 3\).*length 3"):
        fnp.linalg.solve(np.eye(3), np.ones(2))
    with pytest.raises(ShapeError, match=r"solve.*\(2, 3\).*stack of matrices"):
        fnp.linalg.solve(np.stack([np.eye(3)] * 2), np.ones((2, 3)))
    with pytest.raises(ShapeError, match=r"triangular_solve.*left_side=True.*\(3, 2, 2\)"):
        lax_linalg.triangular_solve(np.eye(3), np.ones((3, 2, 2)), left_side=True)
    with pytest.raises(FxgradTypeError, match=r"lax\.linalg\.cholesky.*int64"):
        lax_linalg.cholesky(np.eye(2, dtype=np.int64))
    with pytest.raises(FxgradTypeError, match="exponent must be an integer"):
        fnp.linalg.matrix_power(np.eye(2), 1.5)
    with pytest.raises(ValueError, match="UPLO"):
        fnp.linalg.eigh(np.eye(2), "X")
    with pytest.raises(ValueError, match="unrecognized mode"):
        fnp.linalg.qr(np.eye(2), "bogus")
    with pytest.raises(ValueError, match="invalid norm order"):
        fnp.linalg.norm(np.ones((2, 2)), "bogus")
    with pytest.raises(ValueError, match="improper number of dimensions"):
        fnp.linalg.norm(np.ones((2, 2, 2)), 1)
    with pytest.raises(ShapeError, match=r"lstsq.*\(3, 2\).*\(4,\)"):
        fnp.linalg.lstsq(np.ones((3, 2)), np.ones(4))
    with pytest.raises(ValueError, match="rtol and rcond"):
        fnp.linalg.pinv(np.eye(2), 0.1, rtol=0.1)
    with pytest.raises(ShapeError, match=r"outer.*one-dimensional.*\(2, 2\)"):
        fnp.linalg.outer(np.ones((2, 2)), np.ones(2))
    with pytest.raises(ShapeError, match=r"cross.*3-vectors.*\(2,\)"):
        fnp.linalg.cross(np.ones(2), np.ones(3))
    with pytest.raises(ShapeError, match=r"multi_dot.*\(2, 3\).*\(4, 5\)"):
        fnp.linalg.multi_dot([np.ones((2, 3)), np.ones((4, 5))])
    with pytest.raises(ShapeError, match=r"tensorinv.*\(2, 3\)"):
        fnp.linalg.tensorinv(np.ones((2, 3)), 1)
    with pytest.raises(ShapeError, match=r"lu_pivots_to_permutation.*permutation_size"):
        lax_linalg.lu_pivots_to_permutation(np.zeros(3, np.int32), 2)
