"""Joining, splitting and rearranging functions of fxgrad.numpy against NumPy.

Shapes and axes are drawn by hypothesis (0-size axes included); the OpRecords in
``tests/records/slicing.py`` cover gradients, vmap and jit of each function.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fxgrad
import fxgrad.numpy as fnp
from fxgrad.errors import ConcretizationError, FxgradTypeError, ShapeError
from fxgrad.test_util import check_grads

shapes = st.lists(st.integers(0, 4), min_size=1, max_size=3).map(tuple)


def _randn(shape):
    return np.asarray(np.random.randn(*shape))


def _same(actual, expected):
    actual = np.asarray(actual)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    assert actual.dtype == expected.dtype, (actual.dtype, expected.dtype)
    np.testing.assert_array_equal(actual, expected)


@given(shapes, st.data())
def test_concatenate_stack_and_append(shape, data):
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    sizes = data.draw(st.lists(st.integers(0, 3), min_size=1, max_size=3))
    arrays = []
    for size in sizes:
        s = list(shape)
        s[axis] = size
        arrays.append(_randn(s))
    _same(fnp.concatenate(arrays, axis), np.concatenate(arrays, axis))
    _same(fnp.concatenate(arrays, None), np.concatenate(arrays, None))
    _same(fnp.append(arrays[0], arrays[-1], axis), np.append(arrays[0], arrays[-1], axis))
    same = [_randn(shape) for _ in sizes]
    new_axis = data.draw(st.integers(-len(shape) - 1, len(shape)))
    _same(fnp.stack(same, new_axis), np.stack(same, new_axis))
    for name in ("hstack", "vstack", "dstack"):
        _same(getattr(fnp, name)(same), getattr(np, name)(same))
    _same(
        fnp.column_stack([a.reshape(-1) for a in same]),
        np.column_stack([a.reshape(-1) for a in same]),
    )


def test_concatenate_promotes_dtypes():
    out = fnp.concatenate([np.arange(2), np.ones(1, np.float32)])
    _same(out, np.concatenate([np.arange(2), np.ones(1, np.float32)]))
    assert fnp.concatenate([np.arange(2), np.arange(2)], dtype=np.float32).dtype == np.float32
    assert fnp.stack([np.arange(2)] * 2, dtype=np.float64).dtype == np.float64
    _same(fnp.concatenate(np.arange(6.0).reshape(2, 3)), np.arange(6.0))  # an array: its rows


@given(shapes, st.data())
def test_split_family(shape, data):
    x = _randn(shape)
    axis = data.draw(st.integers(0, len(shape) - 1))
    points = sorted(data.draw(st.lists(st.integers(-6, 6), max_size=3)))
    for got, want in zip(fnp.split(x, points, axis), np.split(x, points, axis), strict=True):
        _same(got, want)
    sections = data.draw(st.integers(1, 4))
    for got, want in zip(
        fnp.array_split(x, sections, axis), np.array_split(x, sections, axis), strict=True
    ):
        _same(got, want)
    if shape[axis] % sections == 0:
        got = fnp.split(x, sections, axis)
        for g, w in zip(got, np.split(x, sections, axis), strict=True):
            _same(g, w)
    for name, need in (("hsplit", 1), ("vsplit", 2), ("dsplit", 3)):
        if len(shape) >= need:
            for g, w in zip(getattr(fnp, name)(x, [1]), getattr(np, name)(x, [1]), strict=True):
                _same(g, w)


@given(shapes, st.data())
def test_flip_roll_rot90_tile(shape, data):
    x = _randn(shape)
    axes = data.draw(st.none() | st.integers(0, len(shape) - 1) | st.just((0, -1)))
    if axes == (0, -1) and len(shape) == 1:
        axes = 0
    _same(fnp.flip(x, axes), np.flip(x, axes))
    shift = data.draw(st.integers(-7, 7))
    roll_axis = data.draw(st.none() | st.integers(-len(shape), len(shape) - 1))
    _same(fnp.roll(x, shift, roll_axis), np.roll(x, shift, roll_axis))
    traced = fxgrad.jit(lambda x, s: fnp.roll(x, s, roll_axis))(x, shift)
    _same(traced, np.roll(x, shift, roll_axis))
    if len(shape) >= 2:
        k = data.draw(st.integers(-5, 5))
        _same(fnp.rot90(x, k, (1, 0)), np.rot90(x, k, (1, 0)))
        _same(fnp.fliplr(x), np.fliplr(x))
    _same(fnp.flipud(x), np.flipud(x))
    reps = data.draw(st.integers(0, 2) | st.lists(st.integers(0, 2), min_size=1, max_size=4))
    _same(fnp.tile(x, reps), np.tile(x, reps))


def test_roll_with_batched_shifts():
    x = np.arange(12.0).reshape(3, 4)
    shifts = np.array([1, -2, 7])
    out = fxgrad.vmap(lambda row, s: fnp.roll(row, s))(x, shifts)
    _same(out, np.stack([np.roll(r, s) for r, s in zip(x, shifts, strict=True)]))
    out = fxgrad.vmap(lambda s: fnp.roll(x, (s, 1), (0, 1)))(shifts)
    _same(out, np.stack([np.roll(x, (s, 1), (0, 1)) for s in shifts]))


@given(shapes, st.data())
def test_repeat(shape, data):
    x = _randn(shape)
    axis = data.draw(st.none() | st.integers(0, len(shape) - 1))
    n = x.size if axis is None else shape[axis]
    repeats = data.draw(st.integers(0, 3) | st.lists(st.integers(0, 3), min_size=n, max_size=n))
    _same(fnp.repeat(x, repeats, axis), np.repeat(x, repeats, axis))


def test_repeat_total_repeat_length_truncates_or_extends_like_jax():
    # Expected values are JAX's (jax.numpy.repeat).
    _same(
        fnp.repeat(fnp.arange(3), np.array([1, 2, 0]), total_repeat_length=5),
        np.array([0, 1, 1, 2, 2]),
    )
    _same(fnp.repeat(fnp.arange(3), [1, 2, 0], total_repeat_length=2), np.array([0, 1]))
    _same(fnp.repeat(fnp.arange(3), 2, total_repeat_length=5), np.array([0, 0, 1, 1, 2]))
    with pytest.raises(ConcretizationError, match="repeats.*total_repeat_length"):
        fxgrad.jit(lambda r: fnp.repeat(fnp.arange(3), r))(np.array([1, 1, 1]))


def _repeat_oracle(x, repeats, axis, total):
    """NumPy's repeat, then JAX's rule: truncate, or extend with the last element."""
    if axis is None:
        x, axis = x.ravel(), 0
    out = np.repeat(x, repeats, axis)
    if out.shape[axis] >= total:
        return np.take(out, np.arange(total), axis)
    last = np.take(x, [x.shape[axis] - 1], axis)
    pad = np.repeat(last, total - out.shape[axis], axis)
    return np.concatenate([out, pad], axis)


@settings(max_examples=25, deadline=None)
@given(shapes, st.data())
def test_repeat_traced_repeats_under_jit(shape, data):
    x = _randn(shape)
    axis = data.draw(st.none() | st.integers(0, len(shape) - 1))
    n = x.size if axis is None else shape[axis]
    if n == 0:
        return
    repeats = np.array(data.draw(st.lists(st.integers(0, 3), min_size=n, max_size=n)))
    total = data.draw(st.integers(0, 8))
    fun = fxgrad.jit(lambda x, r: fnp.repeat(x, r, axis, total_repeat_length=total))
    _same(fun(x, repeats), _repeat_oracle(x, repeats, axis, total))
    one = np.array(data.draw(st.integers(0, 3)))
    _same(fun(x, one), _repeat_oracle(x, int(one), axis, total))


def test_repeat_traced_repeats_vmap_and_grad():
    x = _randn((2, 3))
    counts = np.array([[1, 2, 3], [3, 0, 2], [0, 0, 0]])
    out = fxgrad.vmap(lambda r: fnp.repeat(x, r, axis=1, total_repeat_length=5))(counts)
    _same(out, np.stack([_repeat_oracle(x, r, 1, 5) for r in counts]))
    out = fxgrad.vmap(lambda x, r: fnp.repeat(x, r, axis=0, total_repeat_length=4), in_axes=(1, 0))(
        x, counts[:, :2]
    )
    _same(out, np.stack([_repeat_oracle(x[:, i], r, 0, 4) for i, r in enumerate(counts[:, :2])]))

    def loss(x, r):
        return fnp.sum(fnp.repeat(x, r, axis=1, total_repeat_length=7) ** 2)

    g = fxgrad.jit(fxgrad.grad(loss))(x, np.array([1, 2, 3]))
    # Each element is read once per repeat; the last one also fills the 7th position.
    np.testing.assert_allclose(np.asarray(g), 2 * x * np.array([1, 2, 4]), rtol=1e-12)
    check_grads(lambda x: fnp.repeat(x, np.array([2, 0, 1]), 1, total_repeat_length=4), (x,), 2)


def test_repeat_traced_repeats_errors_and_jax():
    x = _randn((2, 3))
    with pytest.raises(ValueError, match=r"repeat.*\(2,\).*3 elements along axis 1"):
        fxgrad.jit(lambda r: fnp.repeat(x, r, axis=1, total_repeat_length=4))(np.array([1, 2]))
    with pytest.raises(FxgradTypeError, match="repeats must be integers"):
        fxgrad.jit(lambda r: fnp.repeat(x, r, axis=1, total_repeat_length=4))(np.ones(3))
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    counts = np.array([0, 2, 1])
    for total in (0, 2, 3, 6):
        expected = jax.jit(lambda r, t=total: jax.numpy.repeat(x, r, 1, total_repeat_length=t))
        ours = fxgrad.jit(lambda r, t=total: fnp.repeat(x, r, 1, total_repeat_length=t))
        _same(ours(counts), np.asarray(expected(counts)))


@given(shapes, st.data())
def test_take_modes(shape, data):
    x = _randn(shape)
    axis = data.draw(st.none() | st.integers(0, len(shape) - 1))
    n = x.size if axis is None else shape[axis]
    index_shape = data.draw(st.lists(st.integers(0, 3), max_size=2))
    indices = np.random.randint(-2 * n - 1, 2 * n + 2, size=index_shape)
    if n:
        for mode in ("clip", "wrap"):
            _same(fnp.take(x, indices, axis, mode=mode), np.take(x, indices, axis, mode=mode))
    # 'fill' (the default): negative indices count from the end, others give NaN
    valid = (indices >= -n) & (indices < n)
    if axis is None:
        out_shape, mask_shape = valid.shape, valid.shape
    else:
        out_shape = shape[:axis] + valid.shape + shape[axis + 1 :]
        mask_shape = (1,) * axis + valid.shape + (1,) * (len(shape) - axis - 1)
    if n:
        taken = np.take(x, np.where(valid, indices, 0), axis)
        expected = np.where(valid.reshape(mask_shape), taken, np.nan)
    else:
        expected = np.full(out_shape, np.nan)
    _same(fnp.take(x, indices, axis), expected)


@given(shapes, st.data())
def test_take_along_axis_broadcasts(shape, data):
    x = _randn(shape)
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    n = shape[axis]
    ishape = [data.draw(st.sampled_from([1, s])) for s in shape]
    ishape[axis] = data.draw(st.integers(0, 3))
    if n == 0:
        ishape[axis] = 0
    indices = np.random.randint(-n, max(n, 1), size=ishape)
    _same(fnp.take_along_axis(x, indices, axis), np.take_along_axis(x, indices, axis))
    out = fxgrad.jit(lambda x, i: fnp.take_along_axis(x, i, axis))(x, indices)
    _same(out, np.take_along_axis(x, indices, axis))


def test_take_fill_value_and_errors():
    x = fnp.arange(4)
    _same(fnp.take(x, np.array([9, 1]), fill_value=-5), np.array([-5, 1]))
    _same(fnp.take(x, np.array([9]))[0:1], np.array([np.iinfo(np.int64).min]))
    with pytest.raises(NotImplementedError, match="raise"):
        fnp.take(x, [1], mode="raise")
    with pytest.raises(TypeError, match="integers"):
        fnp.take(x, np.array([1.0]))


@given(st.lists(st.integers(0, 4), min_size=2, max_size=4).map(tuple), st.data())
def test_diagonal_diag_trace_tril_triu(shape, data):
    x = _randn(shape)
    offset = data.draw(st.integers(-5, 5))
    axis1, axis2 = data.draw(st.permutations(range(len(shape))))[:2]
    _same(fnp.diagonal(x, offset, axis1, axis2), np.diagonal(x, offset, axis1, axis2))
    np.testing.assert_allclose(
        np.asarray(fnp.trace(x, offset, axis1, axis2)), np.trace(x, offset, axis1, axis2)
    )
    k = data.draw(st.integers(-4, 4))
    _same(fnp.tril(x, k), np.tril(x, k))
    _same(fnp.triu(x, k), np.triu(x, k))
    if len(shape) == 2:
        _same(fnp.diag(x, k), np.diag(x, k))
    v = _randn(shape[:1])
    _same(fnp.diag(v, k), np.diag(v, k))


@given(shapes, st.data(), st.sampled_from(["constant", "edge", "reflect", "symmetric", "wrap"]))
def test_pad_modes(shape, data, mode):
    width = data.draw(
        st.integers(0, 5)
        | st.tuples(st.integers(0, 5), st.integers(0, 5))
        | st.lists(
            st.tuples(st.integers(0, 5), st.integers(0, 5)),
            min_size=len(shape),
            max_size=len(shape),
        )
    )
    x = _randn(shape)
    widths = np.broadcast_to(np.asarray(width), (len(shape), 2))
    if mode != "constant" and any(n == 0 and w.any() for n, w in zip(shape, widths, strict=True)):
        with pytest.raises(ValueError, match="empty axis"):
            fnp.pad(x, width, mode=mode)
        return
    _same(fnp.pad(x, width, mode=mode), np.pad(x, width, mode=mode))


def test_pad_constant_values():
    x = np.arange(6.0).reshape(2, 3)
    cv = ((1.0, 2.0), (3.0, 4.0))
    _same(
        fnp.pad(x, ((1, 2), (2, 1)), constant_values=cv),
        np.pad(x, ((1, 2), (2, 1)), constant_values=cv),
    )
    traced = fxgrad.jit(lambda x, v: fnp.pad(x, 1, constant_values=v))(x, 7.0)
    _same(traced, np.pad(x, 1, constant_values=7.0))
    grad = fxgrad.grad(lambda v: fnp.pad(x, 1, constant_values=v).sum())(1.0)
    np.testing.assert_allclose(np.asarray(grad), 4 * 5 - 6)
    _same(
        fnp.pad(np.arange(3), 1, constant_values=2.7), np.pad(np.arange(3), 1, constant_values=2.7)
    )


def test_error_messages():
    with pytest.raises(ValueError, match="zero-dimensional"):
        fnp.concatenate([np.float64(1.0), np.float64(2.0)])
    with pytest.raises(ShapeError, match="concatenation axis"):
        fnp.concatenate([np.zeros((2, 3)), np.zeros((3, 3))], 1)
    with pytest.raises(ShapeError, match="same shape"):
        fnp.stack([np.zeros(2), np.zeros(3)])
    with pytest.raises(ValueError, match="equal division"):
        fnp.split(np.zeros(5), 2)
    with pytest.raises(ValueError, match="at least 2-d"):
        fnp.fliplr(np.zeros(3))
    with pytest.raises(ValueError, match="at least 2-d"):
        fnp.tril(np.zeros(3))
    with pytest.raises(NotImplementedError, match="'median' is not implemented"):
        fnp.pad(np.zeros(3), 1, mode="median")
    with pytest.raises(NotImplementedError, match="reflect_type"):
        fnp.pad(np.zeros(3), 1, mode="reflect", reflect_type="odd")
    with pytest.raises(ValueError, match="negative"):
        fnp.pad(np.zeros(3), -1)
    with pytest.raises(ValueError, match="negative"):
        fnp.repeat(np.zeros(3), -1)
    with pytest.raises(ValueError, match="do not match 3 elements"):
        fnp.repeat(np.zeros(3), [1, 2])
    with pytest.raises(ConcretizationError, match="indices_or_sections"):
        fxgrad.jit(lambda n: fnp.split(np.zeros(4), n))(2)
