"""Shape manipulation and shape/dtype queries of fxgrad.numpy against NumPy."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fxgrad
import fxgrad.numpy as fnp
from fxgrad.errors import ShapeError
from fxgrad.test_util import check_grads

shapes = st.lists(st.integers(0, 3), max_size=4).map(tuple)


def _arange(shape):
    return np.arange(int(np.prod(shape)), dtype=np.float64).reshape(shape)


def _check(actual, expected):
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    assert actual.dtype == expected.dtype
    np.testing.assert_array_equal(actual, expected)


@settings(max_examples=30)
@given(shapes, st.data())
def test_reshape_and_ravel(shape, data):
    x = _arange(shape)
    new = list(data.draw(st.permutations(shape)))
    if new and data.draw(st.booleans()) and np.prod([d for d in new if d]) and 0 not in new:
        new[data.draw(st.integers(0, len(new) - 1))] = -1
    _check(fnp.reshape(x, tuple(new)), np.reshape(x, tuple(new)))
    _check(fnp.ravel(x), np.ravel(x))
    _check(fnp.asarray(x).reshape(*new) if new else fnp.asarray(x).reshape(()), x.reshape(new))


@settings(max_examples=30)
@given(shapes, st.data())
def test_axis_permutations(shape, data):
    x = _arange(shape)
    nd = len(shape)
    perm = data.draw(st.permutations(range(nd)))
    signed = [p - nd if data.draw(st.booleans()) else p for p in perm]
    _check(fnp.transpose(x, signed), np.transpose(x, signed))
    _check(fnp.permute_dims(x, tuple(perm)), np.permute_dims(x, tuple(perm)))
    _check(fnp.transpose(x), np.transpose(x))
    if nd:
        i, j = data.draw(st.integers(-nd, nd - 1)), data.draw(st.integers(-nd, nd - 1))
        _check(fnp.swapaxes(x, i, j), np.swapaxes(x, i, j))
        k = data.draw(st.integers(0, nd))
        src = data.draw(st.permutations(range(nd)))[:k]
        dst = data.draw(st.permutations(range(-nd, 0)))[:k]
        _check(fnp.moveaxis(x, src, dst), np.moveaxis(x, src, dst))
        _check(fnp.moveaxis(x, src[0] if k else 0, -1), np.moveaxis(x, src[0] if k else 0, -1))
    if nd >= 2:
        _check(fnp.matrix_transpose(x), np.matrix_transpose(x))


@settings(max_examples=30)
@given(st.lists(st.integers(1, 3), max_size=4).map(tuple), st.data())
def test_squeeze_and_expand_dims(shape, data):
    shape = tuple(1 if data.draw(st.booleans()) else d for d in shape)
    x = _arange(shape)
    _check(fnp.squeeze(x), np.squeeze(x))
    ones = [i for i, d in enumerate(shape) if d == 1]
    if ones:
        axes = tuple(data.draw(st.lists(st.sampled_from(ones), unique=True, min_size=1)))
        _check(fnp.squeeze(x, axes), np.squeeze(x, axes))
    n_new = data.draw(st.integers(1, 3))
    out_nd = len(shape) + n_new
    axes = data.draw(
        st.lists(st.integers(0, out_nd - 1), min_size=n_new, max_size=n_new, unique=True)
    )
    axes = tuple(a - out_nd if data.draw(st.booleans()) else a for a in axes)
    _check(fnp.expand_dims(x, axes), np.expand_dims(x, axes))
    _check(fnp.expand_dims(x, -1), np.expand_dims(x, -1))


@st.composite
def broadcastable(draw):
    target = tuple(draw(st.lists(st.integers(0, 3), max_size=3)))
    n = draw(st.integers(1, 3))
    out = []
    for _ in range(n):
        cut = draw(st.integers(0, len(target)))
        out.append(tuple(1 if draw(st.booleans()) else d for d in target[cut:]))
    return target, out


@settings(max_examples=30)
@given(broadcastable())
def test_broadcasting(problem):
    target, srcs = problem
    xs = [_arange(s) for s in srcs]
    assert fnp.broadcast_shapes(*srcs) == np.broadcast_shapes(*srcs)
    for a, e in zip(fnp.broadcast_arrays(*xs), np.broadcast_arrays(*xs), strict=True):
        _check(a, e)
    for x in xs:
        _check(fnp.broadcast_to(x, target), np.broadcast_to(x, target))


@pytest.mark.parametrize("shape", [(), (2,), (2, 3), (2, 3, 1), (1, 2, 3, 4)])
def test_atleast(shape):
    x = _arange(shape)
    for fn, ref in (
        (fnp.atleast_1d, np.atleast_1d),
        (fnp.atleast_2d, np.atleast_2d),
        (fnp.atleast_3d, np.atleast_3d),
    ):
        _check(fn(x), ref(x))
        pair = fn(x, 1.0)
        assert isinstance(pair, list) and len(pair) == 2
        _check(pair[0], ref(x))
        assert pair[1].shape == ref(1.0).shape


def test_shape_functions_work_under_transformations():
    def f(x):
        assert fnp.shape(x) == (2, 3) and fnp.ndim(x) == 2 and fnp.size(x) == 6
        assert fnp.size(x, 1) == 3 and fnp.size(x, (0, 1)) == 6
        assert fnp.isscalar(x.sum()) and not fnp.isscalar(x)
        return fnp.reshape(x, (3, 2)).T

    x = np.random.randn(2, 3)
    _check(fxgrad.jit(f)(x), x.reshape(3, 2).T)
    check_grads(f, [x], order=2)
    out = fxgrad.vmap(f, in_axes=1)(np.random.randn(2, 4, 3))
    assert out.shape == (4, 2, 3)
    assert fnp.shape([[1, 2, 3]]) == (1, 3) and fnp.ndim(3.0) == 0 and fnp.size([1, 2]) == 2


def test_dtype_queries():
    assert fnp.result_type(np.float32, 2.0) == np.float32
    assert fnp.result_type(1, 2.0) == np.float64
    assert fnp.result_type(np.int8, np.uint8) == np.int16
    assert fnp.result_type(fnp.ones(2, np.int32), [1.5]) == np.float64
    assert fnp.promote_types("int32", "float32") == np.float64
    assert fnp.promote_types(np.uint8, np.int8) == np.int16
    assert fnp.can_cast(np.int32, np.float64) and not fnp.can_cast(np.float64, np.int32)
    assert fnp.can_cast(fnp.ones(2, np.float32), np.float64)
    assert fnp.can_cast(np.float64, np.float32, casting="same_kind")
    for value, expected in [
        (1, True),
        (1.0, True),
        (np.float32(1), True),
        (np.array(1.0), True),
        (fnp.asarray(1.0), True),
        (fnp.ones(2), False),
        ([1], False),
        (None, False),
    ]:
        assert fnp.isscalar(value) is expected, value


@pytest.mark.parametrize(
    "call,error,match",
    [
        (lambda: fnp.reshape(np.ones(6), (4, -1)), ShapeError, r"reshape.*\(6,\).*\(4, -1\)"),
        (lambda: fnp.reshape(np.ones(6), (5,)), ShapeError, r"reshape.*size 6.*\(5,\)"),
        (lambda: fnp.reshape(np.ones(6), (-1, -1)), ShapeError, "one unknown"),
        (lambda: fnp.reshape(np.ones(6), (2, 3), order="F"), NotImplementedError, "order='F'"),
        (lambda: fnp.reshape(np.ones(6), (3, -2)), ValueError, "negative dimension -2"),
        (lambda: fnp.transpose(np.ones((2, 3)), (0, 0)), ValueError, "not a permutation"),
        (lambda: fnp.transpose(np.ones((2, 3)), (0, 2)), ShapeError, "axis 2 is out of bounds"),
        (lambda: fnp.swapaxes(np.ones((2, 3)), 0, 5), ShapeError, "swapaxes.*axis 5"),
        (lambda: fnp.moveaxis(np.ones((2, 3)), (0, 0), (0, 1)), ValueError, "repeated axis"),
        (lambda: fnp.moveaxis(np.ones((2, 3)), (0, 1), 0), ValueError, "same number"),
        (lambda: fnp.squeeze(np.ones((1, 2)), 1), ValueError, r"squeeze.*axis 1.*\(1, 2\)"),
        (lambda: fnp.expand_dims(np.ones(2), (0, 0)), ValueError, "repeated axis"),
        (lambda: fnp.expand_dims(np.ones(2), 3), ShapeError, "expand_dims.*axis 3"),
        (lambda: fnp.broadcast_to(np.ones(3), (2, 4)), ShapeError, r"\(3,\).*\(2, 4\)"),
        (lambda: fnp.broadcast_to(np.ones((2, 3)), (3,)), ShapeError, r"broadcast_to"),
        (lambda: fnp.broadcast_shapes((2,), (3,)), ShapeError, r"\(2,\) and \(3,\)"),
        (
            lambda: fnp.broadcast_arrays(np.ones(2), np.ones((3, 3))),
            ShapeError,
            "broadcast_shapes",
        ),
        (lambda: fnp.matrix_transpose(np.ones(3)), ShapeError, "rank >= 2"),
    ],
)
def test_shape_errors(call, error, match):
    with pytest.raises(error, match=match):
        call()
