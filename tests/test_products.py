"""Products of fxgrad.numpy (matmul, dot, tensordot, ...) against NumPy."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fxgrad
import fxgrad.numpy as fnp
from fxgrad.errors import ShapeError
from fxgrad.test_util import check_grads

dims = st.integers(0, 3)


def _rand(shape, dtype=np.float64, seed=0):
    rng = np.random.RandomState(seed)
    if np.dtype(dtype).kind == "c":
        return np.asarray(rng.randn(*shape) + 1j * rng.randn(*shape)).astype(dtype)
    if np.dtype(dtype).kind in "iu":
        return rng.randint(-3, 4, size=shape).astype(dtype)
    return np.asarray(rng.randn(*shape)).astype(dtype)


def _check(actual, expected, tol=1e-10):
    actual = np.asarray(actual)
    assert actual.shape == np.shape(expected), (actual.shape, np.shape(expected))
    assert actual.dtype == np.asarray(expected).dtype, (actual.dtype, np.asarray(expected).dtype)
    np.testing.assert_allclose(actual, expected, rtol=tol, atol=tol)


@st.composite
def matmul_shapes(draw):
    m, k, n = draw(dims), draw(dims), draw(dims)
    batch = draw(st.lists(st.integers(1, 3), max_size=2))
    a_batch = [1 if draw(st.booleans()) else b for b in batch][draw(st.integers(0, len(batch))) :]
    b_batch = [1 if draw(st.booleans()) else b for b in batch][draw(st.integers(0, len(batch))) :]
    a = (k,) if draw(st.integers(0, 3)) == 0 else (*a_batch, m, k)
    b = (k,) if draw(st.integers(0, 3)) == 0 else (*b_batch, k, n)
    return a, b


@settings(max_examples=40)
@given(matmul_shapes())
def test_matmul_matches_numpy(shapes):
    a, b = _rand(shapes[0]), _rand(shapes[1], seed=1)
    _check(fnp.matmul(a, b), np.matmul(a, b))
    _check(fnp.asarray(a) @ fnp.asarray(b), a @ b)


@settings(max_examples=25)
@given(st.lists(dims, max_size=3), st.lists(dims, max_size=3), dims)
def test_dot_matches_numpy(a_shape, b_shape, k):
    a_shape = (*a_shape, k) if a_shape or k else ()
    if len(b_shape) >= 1:
        b_shape = (*b_shape[:-1], k, b_shape[-1]) if len(b_shape) >= 2 else (k,)
    a, b = _rand(tuple(a_shape)), _rand(tuple(b_shape), seed=1)
    if a.ndim and b.ndim and a.shape[-1] != (b.shape[0] if b.ndim == 1 else b.shape[-2]):
        return
    _check(fnp.dot(a, b), np.dot(a, b))


@settings(max_examples=25)
@given(st.data())
def test_tensordot_matches_numpy(data):
    a_shape = tuple(data.draw(st.lists(dims, min_size=0, max_size=4)))
    n = data.draw(st.integers(0, len(a_shape)))
    axes_a = data.draw(st.permutations(range(len(a_shape))))[:n]
    b_free = data.draw(st.lists(dims, max_size=2))
    b_axes_order = data.draw(st.permutations(range(n + len(b_free))))
    b_shape = [0] * (n + len(b_free))
    axes_b = list(b_axes_order[:n])
    for ax_a, ax_b in zip(axes_a, axes_b, strict=True):
        b_shape[ax_b] = a_shape[ax_a]
    for free, pos in zip(b_free, b_axes_order[n:], strict=True):
        b_shape[pos] = free
    neg = data.draw(st.booleans())
    if neg:
        axes_a = [x - len(a_shape) for x in axes_a]
    a, b = _rand(a_shape), _rand(tuple(b_shape), seed=1)
    axes = (list(axes_a), list(axes_b))
    _check(fnp.tensordot(a, b, axes), np.tensordot(a, b, axes))


@pytest.mark.parametrize("axes", [0, 1, 2, (1, 0), ([1, 2], [0, 1]), [[-1], [-2]]])
def test_tensordot_axes_forms(axes):
    a, b = _rand((2, 3, 4)), _rand((3, 4, 4), seed=1)
    if axes == 1:
        a = _rand((2, 3, 3))
    if axes == (1, 0):
        b = _rand((3, 2))
    _check(fnp.tensordot(a, b, axes), np.tensordot(a, b, axes))


@pytest.mark.parametrize(
    "fn,np_fn,shapes",
    [
        (fnp.inner, np.inner, [(2, 3), (4, 3)]),
        (fnp.inner, np.inner, [(), (2,)]),
        (fnp.outer, np.outer, [(2, 3), (4,)]),
        (fnp.outer, np.outer, [(0,), (2,)]),
        (fnp.vdot, np.vdot, [(2, 3), (3, 2)]),
        (fnp.kron, np.kron, [(2, 3), (2, 1, 2)]),
        (fnp.kron, np.kron, [(0, 2), (3,)]),
        (fnp.vecdot, np.vecdot, [(4, 1, 3), (2, 3)]),
        (fnp.matvec, np.matvec, [(2, 1, 3, 4), (5, 4)]),
        (fnp.vecmat, np.vecmat, [(2, 3), (1, 3, 4)]),
    ],
)
@pytest.mark.parametrize("dtype", [np.float64, np.complex128, np.int32])
def test_products_match_numpy(fn, np_fn, shapes, dtype):
    a, b = _rand(shapes[0], dtype), _rand(shapes[1], dtype, seed=1)
    _check(fn(a, b), np_fn(a, b))


def _np_cross(a, b, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return np.cross(a, b, **kw)


@pytest.mark.parametrize(
    "sa,sb,kw",
    [
        ((4, 3), (4, 3), {}),
        ((4, 3), (3,), {}),
        ((4, 2), (4, 2), {}),
        ((3, 2), (2,), {}),
        ((3, 4), (1, 3), {"axisa": 0, "axisc": 0}),
        ((3, 2, 4), (3, 2, 4), {"axis": 0}),
        ((2, 5), (5, 3), {"axisa": 0, "axisb": -1, "axisc": -1}),
    ],
)
def test_cross_matches_numpy(sa, sb, kw):
    a, b = _rand(sa), _rand(sb, seed=1)
    _check(fnp.cross(a, b, **kw), _np_cross(a, b, **kw))


@pytest.mark.parametrize(
    "fn,shapes",
    [
        (fnp.matmul, [(2, 3, 4), (4, 2)]),
        (fnp.matmul, [(3,), (2, 3, 2)]),
        (fnp.dot, [(2, 3), (4, 3, 2)]),
        (lambda a, b: fnp.tensordot(a, b, ([0, 2], [2, 0])), [(2, 3, 2), (2, 1, 2)]),
        (fnp.cross, [(2, 3), (3,)]),
        (fnp.kron, [(2, 2), (2,)]),
        (fnp.vecdot, [(2, 3), (3,)]),
        (fnp.matvec, [(2, 2, 3), (3,)]),
        (fnp.vecmat, [(3,), (3, 2)]),
    ],
)
def test_product_gradients_and_vmap(fn, shapes):
    args = [_rand(s, seed=i) for i, s in enumerate(shapes)]
    check_grads(fn, args, order=2)
    batched = [_rand((3, *s), seed=5 + i) for i, s in enumerate(shapes)]
    out = fxgrad.vmap(fn)(*batched)
    loop = np.stack([np.asarray(fn(*[b[i] for b in batched])) for i in range(3)])
    np.testing.assert_allclose(np.asarray(out), loop, rtol=1e-12)


def test_promotion_and_preferred_element_type():
    a = np.arange(6, dtype=np.int8).reshape(2, 3)
    _check(fnp.matmul(a, np.ones(3, np.float32)), np.matmul(a, np.ones(3, np.float32)))
    _check(fnp.dot(a, np.ones(3, np.int16)), np.dot(a, np.ones(3, np.int16)))
    out = fnp.matmul(a, a.T, preferred_element_type=np.float32)
    assert out.dtype == np.float32
    np.testing.assert_allclose(np.asarray(out), (a @ a.T).astype(np.float32))
    assert (
        fnp.matmul(fnp.ones((2, 2), np.float32), fnp.ones((2, 2), np.float32)).dtype == np.float32
    )


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda: fnp.matmul(np.ones((2, 3)), np.ones((4, 5))), r"matmul.*\(2, 3\).*\(4, 5\)"),
        (lambda: fnp.matmul(np.ones(()), np.ones(3)), r"matmul.*rank >= 1"),
        (
            lambda: fnp.matmul(np.ones((2, 2, 3)), np.ones((3, 3, 2))),
            r"matmul.*\(2, 2, 3\).*\(3, 3, 2\).*broadcast",
        ),
        (lambda: fnp.dot(np.ones((2, 3)), np.ones((4, 5))), r"dot.*\(2, 3\).*\(4, 5\)"),
        (lambda: fnp.tensordot(np.ones((2, 3)), np.ones((4, 5)), 1), r"tensordot.*\(2, 3\)"),
        (lambda: fnp.tensordot(np.ones((2, 3)), np.ones((3,)), 3), r"tensordot.*axes=3"),
        (lambda: fnp.tensordot(np.ones((2, 3)), np.ones(3), ([0, 1], [0])), "paired"),
        (lambda: fnp.inner(np.ones((2, 3)), np.ones((4,))), r"inner.*\(2, 3\).*\(4,\)"),
        (lambda: fnp.vdot(np.ones(3), np.ones(4)), r"vdot.*\(3,\).*\(4,\)"),
        (lambda: fnp.cross(np.ones(4), np.ones(3)), "cross.*2 or 3"),
        (lambda: fnp.vecdot(np.ones((2, 3)), np.ones(4)), r"vecdot.*\(2, 3\).*\(4,\)"),
        (lambda: fnp.matvec(np.ones((2, 3)), np.ones(4)), r"matvec.*\(2, 3\).*\(4,\)"),
        (lambda: fnp.vecmat(np.ones(4), np.ones((3, 2))), r"vecmat.*\(4,\).*\(3, 2\)"),
    ],
)
def test_product_errors_name_function_and_shapes(call, match):
    with pytest.raises(ShapeError, match=match):
        call()
