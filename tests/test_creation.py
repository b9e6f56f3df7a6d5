"""Array creation functions of fxgrad.numpy against NumPy (values, shapes, dtypes)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fxgrad
import fxgrad.numpy as fnp
from fxgrad.config import config
from fxgrad.errors import ConcretizationError, ShapeError
from fxgrad.test_util import check_grads

shapes = st.lists(st.integers(0, 3), max_size=3).map(tuple)


def _check(actual, expected, tol=1e-12):
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    assert actual.dtype == expected.dtype, (actual.dtype, expected.dtype)
    np.testing.assert_allclose(actual, expected, rtol=tol, atol=tol, equal_nan=True)


# --- array / asarray ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "obj",
    [
        [[1, 2], [3, 4]],
        [1.5, 2],
        [True, False],
        [1, 2.0, 3j],
        [],
        [[]],
        ((1, 2), (3, 4)),
        3,
        2.5,
        np.arange(4, dtype=np.int16),
        [np.float32(1), np.float32(2)],
    ],
)
def test_array_matches_numpy(obj):
    _check(fnp.array(obj), np.array(obj))
    _check(fnp.asarray(obj), np.asarray(obj))


@pytest.mark.parametrize("dtype", [np.int32, np.float32, bool, complex, float])
@pytest.mark.parametrize("ndmin", [0, 1, 3])
def test_array_dtype_and_ndmin(dtype, ndmin):
    obj = [[1.0, 0.0, 2.5]]
    _check(fnp.array(obj, dtype=dtype, ndmin=ndmin), np.array(obj, dtype=dtype, ndmin=ndmin))


def test_array_uses_weak_scalar_promotion():
    # NumPy would say float64 here; Python scalars are weak in fxgrad (as in JAX).
    assert fnp.array([np.float32(1), 2.0]).dtype == np.float32
    assert fnp.array([fnp.ones(2, np.float32), [1.0, 2.0]]).dtype == np.float32
    assert fnp.array([np.int8(1), 2]).dtype == np.int8


def test_array_of_arrays_and_tracers_stacks():
    a, b = fnp.ones(3), fnp.zeros(3)
    _check(fnp.array([a, b]), np.array([np.ones(3), np.zeros(3)]))

    def f(x, y):
        return fnp.array([[x, y], [y * 2.0, x]]).sum(axis=(0, 1)) ** 2

    x, y = np.random.randn(2), np.random.randn(2)
    _check(f(x, y), (2 * x + 3 * y) ** 2)
    check_grads(f, [x, y], order=2)
    out = fxgrad.vmap(lambda v: fnp.array([v, -v, 1.0]))(np.ones(4))
    _check(out, np.stack([np.ones(4), -np.ones(4), np.ones(4)], axis=1))
    assert fxgrad.jit(lambda v: fnp.array([v, v], dtype=np.float32))(np.ones(2)).dtype == np.float32


def test_default_float_config_is_respected():
    with config.override(default_float="float32"):
        assert fnp.asarray(1.5).dtype == np.float32
        assert fnp.array([1.0, 2.0]).dtype == np.float32
        assert fnp.zeros(2).dtype == np.float32
        assert fnp.ones((1,)).dtype == np.float32
        assert fnp.eye(2).dtype == np.float32
        assert fnp.arange(2.0).dtype == np.float32
        assert fnp.linspace(0, 1, 3).dtype == np.float32
        assert fnp.full(2, 1.0).dtype == np.float32
        assert fnp.array(np.ones(2)).dtype == np.float64  # explicit float64 stays
        assert fnp.asarray([1, 2]).dtype == np.int64
    assert fnp.asarray(1.5).dtype == np.float64


def test_array_errors():
    with pytest.raises(ShapeError, match="ragged"):
        fnp.array([[1, 2], [3]])
    with pytest.raises(NotImplementedError, match="order='F'"):
        fnp.array([1], order="F")

    def ragged(x):
        return fnp.array([x, fnp.ones(3)])

    with pytest.raises(ShapeError, match="equal shapes"):
        fxgrad.jit(ragged)(np.ones(2))


# --- filled arrays ------------------------------------------------------------------------


@settings(max_examples=20)
@given(shapes, st.sampled_from([None, np.int32, np.float32, bool, np.complex64]))
def test_filled_arrays_match_numpy(shape, dtype):
    _check(fnp.zeros(shape, dtype), np.zeros(shape, dtype))
    _check(fnp.ones(shape, dtype), np.ones(shape, dtype))
    assert fnp.empty(shape, dtype).shape == shape
    _check(fnp.full(shape, 7, dtype), np.full(shape, 7, dtype))
    proto = np.ones((2, 1), np.int16)
    _check(fnp.zeros_like(proto, dtype), np.zeros_like(proto, dtype))
    _check(fnp.ones_like(proto, dtype, shape), np.ones_like(proto, dtype, shape=shape))
    _check(fnp.full_like(proto, 2.7, dtype, shape), np.full_like(proto, 2.7, dtype, shape=shape))
    assert fnp.empty_like(proto, shape=shape).shape == shape


def test_full_dtype_and_broadcast():
    for fill in (2, 2.0, True, 1j, np.float32(3)):
        _check(fnp.full((2,), fill), np.full((2,), fill))
    _check(fnp.full((2, 3), [1.0, 2.0, 3.0]), np.full((2, 3), [1.0, 2.0, 3.0]))
    with pytest.raises(ShapeError, match=r"full.*\(2,\).*\(3,\)"):
        fnp.full(3, [1.0, 2.0])
    with pytest.raises(ValueError, match="negative dimension"):
        fnp.zeros((2, -1))
    with pytest.raises(TypeError, match="static"):
        fxgrad.jit(lambda n: fnp.zeros(n))(3)
    check_grads(lambda v: fnp.full((3, 2), v) * 2.0, [np.random.randn(2)], order=2)


# --- ranges -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args,kwargs",
    [
        ((5,), {}),
        ((5.0,), {}),
        ((2, 7), {}),
        ((1, 5, 0.5), {}),
        ((10, 2, -3), {}),
        ((0, 1, 0.1), {}),
        ((3,), {"dtype": np.float32}),
        ((0, 5, 2), {"dtype": np.int8}),
        ((0,), {}),
        ((5, 2), {}),
    ],
)
def test_arange_matches_numpy(args, kwargs):
    _check(fnp.arange(*args, **kwargs), np.arange(*args, **kwargs))


def test_arange_dtype_rules_follow_weak_promotion():
    # as in JAX: NumPy scalars are strong, Python scalars weak
    assert fnp.arange(np.float32(5)).dtype == np.float32
    assert fnp.arange(0, 5, np.int8(1)).dtype == np.int8
    assert fnp.arange(fnp.asarray(3, np.int16)).dtype == np.int16
    with pytest.raises(ValueError, match="step must not be zero"):
        fnp.arange(0, 1, 0)
    with pytest.raises(ConcretizationError, match="arange.*stop"):
        fxgrad.jit(lambda n: fnp.arange(n))(3)


@settings(max_examples=25)
@given(
    st.integers(0, 6),
    st.booleans(),
    shapes.filter(lambda s: len(s) <= 2),
    st.sampled_from([None, np.float32, np.int32]),
    st.data(),
)
def test_linspace_matches_numpy(num, endpoint, shape, dtype, data):
    start = np.random.RandomState(0).randn(*shape) * 5
    stop = np.asarray(3.5)
    axis = data.draw(st.integers(-len(shape) - 1, len(shape)))
    expected, step = np.linspace(start, stop, num, endpoint, True, dtype, axis)
    actual, actual_step = fnp.linspace(start, stop, num, endpoint, True, dtype, axis)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    if np.dtype(dtype or float).kind in "iu":
        # floor near integers can differ by rounding; compare before flooring instead
        ref = np.linspace(start, stop, num, endpoint, axis=axis)
        assert np.asarray(actual).dtype == expected.dtype
        assert np.all(np.abs(np.asarray(actual) - np.floor(ref)) <= 1)
    else:
        _check(actual, expected, tol)
    np.testing.assert_allclose(np.asarray(actual_step), step, rtol=1e-12, equal_nan=True)


def test_linspace_exact_endpoint_and_grad():
    out = np.asarray(fnp.linspace(0.1, 0.7, 7))
    assert out[-1] == 0.7 and out[0] == 0.1
    check_grads(lambda a, b: fnp.linspace(a, b, 5, axis=1), [np.ones(2), np.arange(2.0)], 2)


@pytest.mark.parametrize(
    "args,kwargs",
    [
        ((0, 2, 5), {}),
        ((0, 3, 4), {"base": 2.0, "endpoint": False}),
        ((0, 2, 3), {"base": [2.0, 10.0], "axis": 1}),
        ((np.array([0.0, 1.0]), 2, 3), {"axis": -1}),
        ((0, 2, 3), {"dtype": np.float32}),
    ],
)
def test_logspace_matches_numpy(args, kwargs):
    tol = 1e-6 if kwargs.get("dtype") == np.float32 else 1e-12
    _check(fnp.logspace(*args, **kwargs), np.logspace(*args, **kwargs), tol)


@pytest.mark.parametrize(
    "start,stop,kwargs",
    [
        (1, 1000, {"num": 4}),
        (-1, -1000, {"num": 4}),
        (2, 2j, {"num": 3}),
        ([1.0, 2.0], 1000.0, {"num": 4, "endpoint": False, "axis": 1}),
        (1, 256, {"num": 9, "dtype": np.float32}),
        (8, 1, {"num": 4}),
    ],
)
def test_geomspace_matches_numpy(start, stop, kwargs):
    tol = 1e-6 if kwargs.get("dtype") == np.float32 else 1e-12
    _check(fnp.geomspace(start, stop, **kwargs), np.geomspace(start, stop, **kwargs), tol)


def test_geomspace_endpoints_exact_and_errors():
    out = np.asarray(fnp.geomspace(3.0, 7.0, 5))
    assert out[0] == 3.0 and out[-1] == 7.0
    with pytest.raises(ValueError, match="zero"):
        fnp.geomspace(0.0, 1.0, 3)
    with pytest.raises(ValueError, match="non-negative"):
        fnp.linspace(0, 1, -1)
    check_grads(lambda a: fnp.geomspace(a, 4.0 * a, 4), [np.array([1.0, 2.0])], order=2)


# --- matrices and grids -------------------------------------------------------------------


@settings(max_examples=20)
@given(st.integers(0, 4), st.one_of(st.none(), st.integers(0, 4)), st.integers(-4, 4))
def test_eye_tri_identity(n, m, k):
    _check(fnp.eye(n, m, k), np.eye(n, m, k))
    _check(fnp.eye(n, m, k, dtype=int), np.eye(n, m, k, dtype=int))
    _check(fnp.tri(n, m, k), np.tri(n, m, k))
    _check(fnp.identity(n, np.float32), np.identity(n, np.float32))


@settings(max_examples=20)
@given(
    st.lists(st.integers(0, 3), min_size=0, max_size=3),
    st.sampled_from(["xy", "ij"]),
    st.booleans(),
)
def test_meshgrid_matches_numpy(sizes, indexing, sparse):
    xs = [np.arange(s, dtype=float) + i for i, s in enumerate(sizes)]
    actual = fnp.meshgrid(*xs, indexing=indexing, sparse=sparse)
    expected = np.meshgrid(*xs, indexing=indexing, sparse=sparse)
    assert len(actual) == len(expected)
    for a, e in zip(actual, expected, strict=True):
        _check(a, e)


def test_meshgrid_flattens_and_errors():
    x = np.arange(4.0).reshape(2, 2)
    for a, e in zip(fnp.meshgrid(x, np.ones(3)), np.meshgrid(x, np.ones(3)), strict=True):
        _check(a, e)
    with pytest.raises(ValueError, match="indexing"):
        fnp.meshgrid(np.ones(2), indexing="yx")


@settings(max_examples=15)
@given(shapes, st.sampled_from([None, np.int32, float]))
def test_indices_matches_numpy(dims, dtype):
    _check(fnp.indices(dims, dtype), np.indices(dims, dtype or int))
    sparse = np.indices(dims, dtype or int, sparse=True)
    for a, e in zip(fnp.indices(dims, dtype, sparse=True), sparse, strict=True):
        _check(a, e)


@settings(max_examples=20)
@given(shapes, st.integers(-3, 3))
def test_diagflat_matches_numpy(shape, k):
    v = np.asarray(np.random.RandomState(0).randn(*shape))
    _check(fnp.diagflat(v, k), np.diagflat(v, k))
    _check(fnp.diagflat(v.astype(np.int32), k), np.diagflat(v.astype(np.int32), k))


def test_diagflat_nan_stays_on_diagonal_and_grads():
    v = np.array([1.0, np.inf, np.nan])
    _check(fnp.diagflat(v, 1), np.diagflat(v, 1))
    check_grads(lambda x: fnp.diagflat(x, -2), [np.random.randn(2, 2)], order=2)
    out = fxgrad.vmap(lambda x: fnp.diagflat(x, 1))(np.arange(6.0).reshape(3, 2))
    _check(out, np.stack([np.diagflat(r, 1) for r in np.arange(6.0).reshape(3, 2)]))


def test_fromfunction_and_copy():
    _check(
        fnp.fromfunction(lambda i, j: i * 10 + j, (2, 3)),
        np.fromfunction(lambda i, j: i * 10 + j, (2, 3)),
    )
    _check(
        fnp.fromfunction(lambda i: i, (4,), dtype=int),
        np.fromfunction(lambda i: i, (4,), dtype=int),
    )
    x = np.arange(3.0)
    _check(fnp.copy(x), x)
    check_grads(lambda a: fnp.copy(a) * 2.0, [x], order=1)
