"""The executable: multithreaded kernels, split reductions, zero-size arrays, and fused
programs over hypothesis-generated shapes, all against NumPy."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import fxgrad
import fxgrad.numpy as fnp
from fxgrad.lowering import executable


@pytest.fixture
def threads(monkeypatch):
    """Split big kernels in 3 parts, even on a machine with fewer CPUs."""
    monkeypatch.setattr(executable, "_NUM_THREADS", 3)


def _jit(fun, *args):
    return np.asarray(fxgrad.jit(fun)(*[fnp.asarray(a) for a in args]))


def test_rows_split_across_threads(threads):
    x = np.random.default_rng(0).standard_normal((3, 70001)).astype(np.float32)
    out = _jit(lambda x: fnp.tanh(x) * 2.0 + 1.0, x)
    np.testing.assert_allclose(out, np.tanh(x) * 2.0 + 1.0, rtol=1e-6, atol=1e-6)
    rows = np.random.default_rng(1).standard_normal((1001, 257))
    out = _jit(lambda x: x - fnp.max(x, axis=1, keepdims=True), rows)
    np.testing.assert_allclose(out, rows - rows.max(axis=1, keepdims=True))


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
def test_long_reductions_split_across_threads(threads, dtype):
    x = (np.random.default_rng(2).standard_normal(200_003) * 10).astype(dtype)
    for fun, ref in [(fnp.sum, np.sum), (fnp.max, np.max), (fnp.min, np.min)]:
        out = _jit(fun, x)
        expected = ref(x.astype(np.float64) if dtype != np.int64 else x)
        np.testing.assert_allclose(out, expected, rtol=1e-6 if dtype == np.float32 else 1e-12)
    y = x.astype(np.float64) / 100.0
    out = _jit(lambda v: fnp.log(fnp.sum(fnp.exp(v - fnp.max(v)))) + fnp.max(v), y)
    m = y.max()
    np.testing.assert_allclose(out, np.log(np.sum(np.exp(y - m))) + m, rtol=1e-12)


def test_sin_rows_with_huge_arguments_take_the_precise_path(threads):
    x = np.linspace(-10, 10, 300_000)
    x[12345] = 1e9
    x[299_999] = np.inf
    out = _jit(lambda v: fnp.sin(v) * 2.0, x)
    with np.errstate(invalid="ignore"):
        expected = np.sin(x) * 2.0
    np.testing.assert_allclose(out, expected, rtol=1e-15, atol=1e-15)
    total = _jit(lambda v: fnp.sum(fnp.cos(v[:-1])), x)
    np.testing.assert_allclose(total, np.sum(np.cos(x[:-1])), rtol=1e-12)


@pytest.mark.parametrize(
    "shape,axis", [((0,), 0), ((3, 0), 1), ((0, 4), 1), ((0, 4), 0), ((2, 0, 3), (0, 2))]
)
def test_zero_size(shape, axis):
    x = np.ones(shape)
    np.testing.assert_array_equal(
        _jit(lambda v: fnp.sum(v * 2.0, axis=axis), x), np.sum(x * 2.0, axis=axis)
    )
    np.testing.assert_array_equal(_jit(lambda v: fnp.exp(v) + 1.0, x), np.exp(x) + 1.0)


def test_scalars_and_non_contiguous_inputs():
    x = np.arange(24.0).reshape(4, 6)
    out = _jit(lambda a, s: a * s + 1.0, x.T, np.float64(3.0))
    np.testing.assert_array_equal(out, x.T * 3.0 + 1.0)
    out = fxgrad.jit(lambda a, s: a * s)(fnp.asarray(x), 2.0)
    np.testing.assert_array_equal(np.asarray(out), x * 2.0)


def test_results_are_fresh_arrays():
    f = fxgrad.jit(lambda v: v + 1.0)
    x = fnp.asarray(np.zeros(5))
    a, b = f(x), f(x)
    assert np.asarray(a).ctypes.data != np.asarray(b).ctypes.data
    np.testing.assert_array_equal(np.asarray(a), np.ones(5))


def test_composition_with_transformations():
    x = np.linspace(-1.0, 1.0, 12).reshape(3, 4)

    def loss(w):
        return fnp.sum(fnp.tanh(w) ** 2)

    expected = 2 * np.tanh(x) * (1 - np.tanh(x) ** 2)
    np.testing.assert_allclose(
        np.asarray(fxgrad.jit(fxgrad.grad(loss))(fnp.asarray(x))), expected, rtol=1e-12
    )
    np.testing.assert_allclose(
        np.asarray(fxgrad.grad(fxgrad.jit(loss))(fnp.asarray(x))), expected, rtol=1e-12
    )
    batched = fxgrad.jit(fxgrad.vmap(fxgrad.grad(loss)))(fnp.asarray(x))
    np.testing.assert_allclose(np.asarray(batched), expected, rtol=1e-12)


_DTYPES = st.sampled_from([np.float32, np.float64, np.int32])


@st.composite
def _fused_case(draw):
    ndim = draw(st.integers(0, 3))
    shape = tuple(draw(st.lists(st.sampled_from([0, 1, 2, 3, 5]), min_size=ndim, max_size=ndim)))
    perm = tuple(draw(st.permutations(range(ndim))))
    # y broadcasts against x.transpose(perm): some axes of size 1
    tshape = tuple(shape[p] for p in perm)
    yshape = tuple(1 if draw(st.booleans()) else s for s in tshape)
    axes = tuple(sorted(draw(st.sets(st.integers(0, max(ndim - 1, 0)), max_size=ndim))))
    return shape, perm, yshape, axes, draw(_DTYPES), draw(st.sampled_from(["sum", "max"]))


@given(_fused_case())
def test_fused_programs_match_numpy(case):
    shape, perm, yshape, axes, dtype, reducer = case
    rng = np.random.default_rng(len(shape))
    x = (rng.standard_normal(shape) * 3).astype(dtype)
    y = (rng.standard_normal(yshape) * 3).astype(dtype)
    size = int(np.prod([x.transpose(perm).shape[a] for a in axes]))
    if reducer == "max" and axes and size == 0:
        reducer = "sum"  # max of nothing has no identity in NumPy
    red, ref_red = (fnp.sum, np.sum) if reducer == "sum" else (fnp.max, np.max)

    def f(x, y):
        t = x.transpose(perm) * y + y * 2
        return red(t, axis=axes) if axes else t

    def ref(x, y):
        t = x.transpose(perm) * y + y * 2
        return ref_red(t, axis=axes) if axes else t

    out = _jit(f, x, y)
    expected = np.asarray(ref(x, y))
    assert out.shape == expected.shape and out.dtype == expected.dtype
    np.testing.assert_allclose(out, expected, rtol=1e-5 if dtype == np.float32 else 1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_column_reductions_split_across_threads(threads, dtype):
    x = np.random.default_rng(3).standard_normal((300, 3001)).astype(dtype)
    out = _jit(lambda v: fnp.sum(v * 2.0, axis=0), x)
    # the documented bound of sums (docs/performance.md, "Accuracy"): 258 u sum|x|
    doubled = x.astype(np.longdouble) * 2
    error = np.abs(out - np.sum(doubled, axis=0))
    u = np.finfo(dtype).eps / 2
    assert np.all(error <= 258 * u * np.sum(np.abs(doubled), axis=0))
    out = _jit(lambda v: fnp.max(v, axis=0) - fnp.min(v, axis=0), x)
    np.testing.assert_array_equal(out, x.max(axis=0) - x.min(axis=0))


@pytest.mark.parametrize(
    "shapes, dims",
    [
        (((700, 300), (300, 200)), ((1,), (0,))),
        (((40, 30, 300), (40, 30, 500)), ((0, 1), (0, 1))),
        (((300, 700), (200, 300)), ((0,), (1,))),
        (((3000, 40), (3000, 50)), ((0,), (0,))),  # long contraction: split and summed
    ],
)
def test_big_matrix_products_split_across_threads(threads, monkeypatch, shapes, dims):
    monkeypatch.setattr(executable, "PARALLEL_PRODUCT", 1 << 20)
    rng = np.random.default_rng(3)
    a, b = (rng.standard_normal(s) for s in shapes)
    f = fxgrad.jit(lambda a, b: fxgrad.lax.dot_general(a, b, (dims, ((), ()))))
    expected = np.tensordot(a, b, dims)
    np.testing.assert_allclose(np.asarray(f(a, b)), expected, rtol=1e-12, atol=1e-12)
