"""``lax.fft`` and ``fxgrad.numpy.fft``: values and dtypes against ``np.fft``, derivatives.

Oracles: NumPy's transforms (values, shapes, dtypes), the explicit DFT matrices built by
applying NumPy's transforms to the identity (transposes, under fxgrad's complex
convention ``vjp = J^T`` with the real pairing ``Re(sum(a * b))``), Parseval's theorem
(closed-form gradients) and finite differences (``check_grads``).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import fxgrad
import fxgrad.numpy as fnp
from fxgrad import lax
from fxgrad.errors import FxgradTypeError, ShapeError
from fxgrad.test_util import check_grads

NORMS = [None, "backward", "ortho", "forward"]
ONE_AXIS = ["fft", "ifft", "rfft", "irfft", "hfft", "ihfft"]
MANY_AXES = ["fftn", "ifftn", "rfftn", "irfftn", "fft2", "ifft2", "rfft2", "irfft2"]
REAL_INPUT = {"rfft", "ihfft", "rfftn", "rfft2"}


def _input(rng, name, shape, dtype=np.float64):
    x = rng.randn(*shape)
    if name not in REAL_INPUT:
        x = x + 1j * rng.randn(*shape)
    return x.astype(dtype if name in REAL_INPUT else np.result_type(dtype, np.complex64))


def _assert_matches_numpy(actual, expected, tol=1e-10):
    actual = np.asarray(actual)
    assert actual.dtype == expected.dtype, (actual.dtype, expected.dtype)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    np.testing.assert_allclose(actual, expected, rtol=tol, atol=tol)


# --- values ------------------------------------------------------------------------------


@given(
    name=st.sampled_from(ONE_AXIS),
    shape=st.lists(st.integers(1, 5), min_size=1, max_size=3),
    n=st.one_of(st.none(), st.integers(1, 7)),
    axis_seed=st.integers(0, 10),
    norm=st.sampled_from(NORMS),
)
def test_one_axis_transforms_match_numpy(name, shape, n, axis_seed, norm):
    axis = axis_seed % len(shape) - len(shape) * (axis_seed % 2)
    if name in ("irfft", "hfft") and n is None and shape[axis] == 1:
        n = 3  # NumPy's default length 2 * (m - 1) would be 0
    x = _input(np.random.RandomState(axis_seed), name, shape)
    expected = getattr(np.fft, name)(x, n=n, axis=axis, norm=norm)
    _assert_matches_numpy(getattr(fnp.fft, name)(x, n=n, axis=axis, norm=norm), expected)


@given(
    name=st.sampled_from(MANY_AXES),
    shape=st.lists(st.integers(1, 4), min_size=2, max_size=4),
    data=st.data(),
    norm=st.sampled_from(NORMS),
)
def test_many_axes_transforms_match_numpy(name, shape, data, norm):
    ndim = len(shape)
    if name.endswith("2"):
        axes = data.draw(
            st.lists(
                st.integers(-ndim, ndim - 1), min_size=2, max_size=2, unique_by=lambda a: a % ndim
            )
        )
    else:
        axes = data.draw(st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True))
    s = data.draw(
        st.one_of(st.none(), st.lists(st.integers(1, 5), min_size=len(axes), max_size=len(axes)))
    )
    if name.startswith("irfft") and s is None and shape[axes[-1]] == 1:
        s = [shape[a] for a in axes[:-1]] + [2]
    x = _input(np.random.RandomState(len(shape)), name, shape)
    expected = getattr(np.fft, name)(x, s=s, axes=axes, norm=norm)
    _assert_matches_numpy(getattr(fnp.fft, name)(x, s=s, axes=axes, norm=norm), expected)


def test_default_axes_with_s_use_the_trailing_axes():
    x = np.random.randn(2, 4, 3)
    expected = np.fft.fftn(x, s=(3, 5), axes=(1, 2))
    _assert_matches_numpy(fnp.fft.fftn(x, s=(3, 5)), expected)
    expected = np.fft.fftn(x, s=(4, 5), axes=(1, 2))
    _assert_matches_numpy(fnp.fft.fftn(x, s=(-1, 5)), expected)  # -1: the whole axis


@pytest.mark.parametrize(
    "name,dtype,expected",
    [
        ("fft", np.float32, np.complex64),
        ("fft", np.float16, np.complex64),
        ("fft", np.int32, np.complex128),
        ("fft", np.bool_, np.complex128),
        ("fft", np.complex64, np.complex64),
        ("rfft", np.float32, np.complex64),
        ("rfft", np.int8, np.complex128),
        ("irfft", np.complex64, np.float32),
        ("irfft", np.float64, np.float64),
        ("irfft", np.float16, np.float16),
        ("irfftn", np.float16, np.float16),
        ("hfft", np.float16, np.float16),
        ("irfft", np.int8, np.float64),
        ("hfft", np.complex64, np.float32),
        ("ihfft", np.float32, np.complex64),
    ],
)
def test_dtypes_follow_numpy(name, dtype, expected):
    x = np.arange(1, 7).astype(dtype)
    out = getattr(fnp.fft, name)(x)
    assert out.dtype == expected
    assert getattr(np.fft, name)(x).dtype == expected  # the oracle agrees
    tol = 1e-2 if expected == np.float16 else 1e-5
    np.testing.assert_allclose(out, getattr(np.fft, name)(x), rtol=tol, atol=tol)


def test_zero_size_batch_axes():
    x = np.zeros((0, 4))
    _assert_matches_numpy(fnp.fft.fft(x), np.fft.fft(x))
    _assert_matches_numpy(fnp.fft.rfft(x), np.fft.rfft(x))


def test_empty_axes_return_the_input():
    x = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(fnp.fft.fftn(x, axes=()), np.fft.fftn(x, axes=()))


def test_lax_fft_types_and_shapes():
    rng = np.random.RandomState(0)
    x = rng.randn(2, 3, 8)
    out = lax.fft(x, lax.FftType.RFFT, (3, 8))
    _assert_matches_numpy(out, np.fft.rfftn(x, axes=(1, 2)))
    back = lax.fft(out, "irfft", (3, 8))
    _assert_matches_numpy(back, x)
    # FFT of a real operand converts it, as JAX's lax.fft does
    _assert_matches_numpy(lax.fft(x, "FFT", (8,)), np.fft.fft(x))
    _assert_matches_numpy(lax.fft(x.astype(complex), lax.FftType.IFFT, (8,)), np.fft.ifft(x))


# --- helpers: fftfreq, rfftfreq, fftshift, ifftshift ------------------------------------------


@pytest.mark.parametrize("n", [1, 2, 5, 8])
@pytest.mark.parametrize("d", [1.0, 0.25])
def test_frequencies_match_numpy(n, d):
    _assert_matches_numpy(fnp.fft.fftfreq(n, d), np.fft.fftfreq(n, d))
    _assert_matches_numpy(fnp.fft.rfftfreq(n, d), np.fft.rfftfreq(n, d))
    assert fnp.fft.fftfreq(n, d, dtype=np.float32).dtype == np.float32


def test_frequencies_are_differentiable_in_the_spacing():
    n, d = 6, 0.5
    k = np.fft.fftfreq(n) * n  # the integer frequencies
    # d/dd sum(k / (n d)) = -sum(k) / (n d^2)
    grad = fxgrad.grad(lambda d: fnp.sum(fnp.fft.fftfreq(n, d)))(d)
    np.testing.assert_allclose(grad, -np.sum(k) / (n * d**2))
    weights = np.arange(n // 2 + 1.0)
    grad = fxgrad.grad(lambda d: fnp.sum(fnp.fft.rfftfreq(n, d) * weights))(d)
    np.testing.assert_allclose(grad, -np.sum(weights * np.arange(n // 2 + 1)) / (n * d**2))


@given(
    shape=st.lists(st.integers(0, 5), min_size=1, max_size=3),
    data=st.data(),
)
def test_shifts_match_numpy(shape, data):
    x = np.arange(int(np.prod(shape))).reshape(shape)
    ndim = len(shape)
    axes = data.draw(
        st.one_of(
            st.none(),
            st.integers(-ndim, ndim - 1),
            st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True),
        )
    )
    np.testing.assert_array_equal(fnp.fft.fftshift(x, axes), np.fft.fftshift(x, axes))
    np.testing.assert_array_equal(fnp.fft.ifftshift(x, axes), np.fft.ifftshift(x, axes))


# --- derivatives ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ONE_AXIS)
@pytest.mark.parametrize("n", [None, 5, 8])
@pytest.mark.parametrize("norm", [None, "ortho"])
def test_one_axis_grads(name, n, norm):
    x = _input(np.random.RandomState(1), name, (2, 6))
    check_grads(lambda a: getattr(fnp.fft, name)(a, n=n, norm=norm), (x,), order=2)


@pytest.mark.parametrize("name", MANY_AXES)
def test_many_axes_grads(name):
    x = _input(np.random.RandomState(2), name, (3, 4, 3))
    check_grads(lambda a: getattr(fnp.fft, name)(a, s=(3, 5), axes=(0, 2)), (x,), order=2)


def _dense(fn, n_in, dtype):
    """The matrix of the real- or complex-linear map ``fn`` of vectors, column by column."""
    return np.stack([fn(np.eye(n_in, dtype=dtype)[i]) for i in range(n_in)], axis=1)


@pytest.mark.parametrize("n", [5, 6])
def test_transposes_are_the_transposed_matrices(n):
    """vjp(ct) = Re(J^T ct) for real inputs, J^T ct for complex ones (JAX's convention)."""
    rng = np.random.RandomState(n)
    m = n // 2 + 1
    cases = [
        ("fft", np.fft.fft, n, complex, n),
        ("ifft", np.fft.ifft, n, complex, n),
        ("rfft", np.fft.rfft, n, float, m),
    ]
    for name, np_fn, n_in, dtype, n_out in cases:
        matrix = _dense(np_fn, n_in, dtype)
        ct = rng.randn(n_out) + 1j * rng.randn(n_out)
        x = np.zeros(n_in, dtype)
        _, f_vjp = fxgrad.vjp(getattr(fnp.fft, name), x)
        expected = matrix.T @ ct
        (actual,) = f_vjp(ct)
        np.testing.assert_allclose(
            actual, expected.real if dtype is float else expected, atol=1e-12, err_msg=name
        )
    # irfft is only real-linear (it drops Im c_0 and, for even n, Im c_{n/2}); its matrix
    # acts on (Re c, Im c) stacked.
    real_part = _dense(lambda v: np.fft.irfft(v.astype(complex), n), m, float)
    imag_part = _dense(lambda v: np.fft.irfft(1j * v, n), m, float)
    ct = rng.randn(n)
    _, f_vjp = fxgrad.vjp(lambda c: fnp.fft.irfft(c, n), np.zeros(m, complex))
    (actual,) = f_vjp(ct)
    # <ct, irfft(c)> = Re(sum(vjp(ct) * c)), so Re(vjp) pairs with Re c, -Im(vjp) with Im c
    np.testing.assert_allclose(actual.real, real_part.T @ ct, atol=1e-12)
    np.testing.assert_allclose(-actual.imag, imag_part.T @ ct, atol=1e-12)


def test_parseval_gradients():
    rng = np.random.RandomState(3)
    x = rng.randn(7)
    z = rng.randn(7) + 1j * rng.randn(7)
    # sum |fft(x)|^2 = n sum |x|^2, so the gradient is 2 n x; for complex z JAX's
    # convention gives the conjugate of the usual gradient: 2 n conj(z)
    grad = fxgrad.grad(lambda x: fnp.sum(fnp.abs(fnp.fft.fft(x)) ** 2))(x)
    np.testing.assert_allclose(grad, 14 * x)
    grad = fxgrad.grad(lambda z: fnp.sum(fnp.abs(fnp.fft.fft(z)) ** 2))(z)
    np.testing.assert_allclose(grad, 14 * np.conj(z))
    grad = fxgrad.grad(lambda x: fnp.sum(fnp.abs(fnp.fft.fft(x, norm="ortho")) ** 2))(x)
    np.testing.assert_allclose(grad, 2 * x)


@pytest.mark.parametrize("name", ["fft", "rfft", "irfft", "hfft", "ihfft", "rfftn"])
def test_real_valued_losses_grads(name):
    x = _input(np.random.RandomState(4), name, (3, 4))
    weights = np.random.RandomState(5).rand(*np.shape(getattr(np.fft, name)(x)))

    def loss(a):
        out = getattr(fnp.fft, name)(a)
        return fnp.sum(fnp.abs(out) ** 2 * weights) + fnp.sum(fnp.real(out) * weights)

    check_grads(loss, (x,), order=2)


# --- transformations ----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["fft", "rfft", "irfft", "fft2", "irfftn"])
@pytest.mark.parametrize("in_axis", [0, 1, 2])
def test_vmap_matches_loop(name, in_axis):
    x = np.moveaxis(_input(np.random.RandomState(6), name, (3, 4, 5)), 0, in_axis)
    fn = getattr(fnp.fft, name)
    out = fxgrad.vmap(fn, in_axes=in_axis)(x)
    expected = np.stack([np.asarray(fn(np.take(x, i, in_axis))) for i in range(3)])
    np.testing.assert_allclose(out, expected, atol=1e-12)


def test_jit_vmap_grad_compose():
    x = np.random.RandomState(7).randn(3, 8)

    def loss(a):
        return fnp.sum(fnp.abs(fnp.fft.rfft(a, n=10)) ** 2 * fnp.arange(6.0))

    per_row = fxgrad.jit(fxgrad.vmap(fxgrad.grad(loss)))(x)
    expected = np.stack([np.asarray(fxgrad.grad(loss)(row)) for row in x])
    np.testing.assert_allclose(per_row, expected, atol=1e-10)
    hess = fxgrad.jit(fxgrad.hessian(loss))(x[0])
    np.testing.assert_allclose(hess, fxgrad.hessian(loss)(x[0]), atol=1e-10)


# --- errors ------------------------------------------------------------------------------


def test_errors_name_the_problem():
    x = np.ones((2, 4))
    with pytest.raises(ValueError, match="invalid norm value 'bad'"):
        fnp.fft.fft(x, norm="bad")
    with pytest.raises(ValueError, match=r"invalid number of FFT data points \(0\)"):
        fnp.fft.fft(x, n=0)
    with pytest.raises(TypeError, match="only real-valued inputs"):
        fnp.fft.rfft(x.astype(complex))
    with pytest.raises(ValueError, match="repeated axes"):
        fnp.fft.fftn(x, axes=(0, 0))
    with pytest.raises(ValueError, match="different lengths"):
        fnp.fft.fftn(x, s=(2, 3), axes=(0,))
    with pytest.raises(ShapeError, match="axis 2 is out of bounds"):
        fnp.fft.fft(x, axis=2)
    with pytest.raises(ShapeError, match="0-d array"):
        fnp.fft.fft(np.float64(1.0))
    with pytest.raises(
        ShapeError, match=r"trailing axes .* to be \(3,\), got operand shape \(2, 4\)"
    ):
        lax.fft(x.astype(complex), "irfft", (4,))
    with pytest.raises(ShapeError, match=r"trailing axes .* to be \(5,\)"):
        lax.fft(x, "fft", (5,))
    with pytest.raises(FxgradTypeError, match="RFFT.*real floating"):
        lax.fft(x.astype(complex), "rfft", (4,))
    with pytest.raises(ValueError, match="unknown fft_type"):
        lax.fft(x, "dct", (4,))
