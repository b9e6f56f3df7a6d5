"""Sorting, searching and order statistics beyond the op records.

NumPy agreement over random shapes (0-size included) with ties and NaNs for ``sort``,
``argsort`` (stability), ``lexsort``, ``searchsorted`` (both sides, both methods, under
``jit`` and ``vmap``) and the quantile family; ``top_k`` against a plain Python
reference; derivatives that follow the sort permutation; and the errors.
"""

from __future__ import annotations

import warnings
from functools import partial

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import fxgrad
import fxgrad.lax as lax
import fxgrad.numpy as fnp
from fxgrad.errors import FxgradTypeError, ShapeError
from fxgrad.test_util import check_close, check_grads


@st.composite
def arrays(draw, min_dims=1, max_dims=3, nans=True):
    """A float64 array with ties (integer values) or distinct values, maybe NaNs."""
    ndim = draw(st.integers(min_dims, max_dims))
    shape = tuple(draw(st.lists(st.integers(0, 5), min_size=ndim, max_size=ndim)))
    rng = np.random.RandomState(draw(st.integers(0, 2**31 - 1)))
    if draw(st.booleans()):
        x = rng.randint(-2, 3, size=shape).astype(np.float64)
    else:
        x = np.asarray(rng.randn(*shape))
    if nans and x.size and draw(st.booleans()):
        x.reshape(-1)[rng.rand(x.size) < 0.3] = np.nan
    return x


def _axis(draw, ndim):
    return draw(st.one_of(st.none(), st.integers(-ndim, ndim - 1)))


def _quiet(fn, *args, **kwargs):
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


# --- sort / argsort / lexsort ----------------------------------------------------------------


@given(data=st.data())
def test_sort_and_argsort_match_numpy(data):
    x = data.draw(arrays())
    axis = _axis(data.draw, x.ndim)
    np.testing.assert_array_equal(np.asarray(fnp.sort(x, axis=axis)), np.sort(x, axis=axis))
    actual = np.asarray(fnp.argsort(x, axis=axis))
    assert actual.dtype == np.int64
    np.testing.assert_array_equal(actual, np.argsort(x, axis=axis, kind="stable"))


def _descending_argsort_reference(x, axis):
    """Stable descending order: NaNs first, ties in their original order."""
    flipped = np.flip(x, axis)
    order = np.flip(np.argsort(flipped, axis=axis, kind="stable"), axis)
    return x.shape[axis] - 1 - order


@given(data=st.data())
def test_descending_sort_and_argsort(data):
    x = data.draw(arrays())
    axis = data.draw(st.integers(-x.ndim, x.ndim - 1))
    expected = np.flip(np.sort(x, axis=axis), axis)
    np.testing.assert_array_equal(np.asarray(fnp.sort(x, axis=axis, descending=True)), expected)
    actual = np.asarray(fnp.argsort(x, axis=axis, descending=True))
    np.testing.assert_array_equal(actual, _descending_argsort_reference(x, axis))
    if x.size and not np.isnan(x).any():
        np.testing.assert_array_equal(actual, np.argsort(-x, axis=axis, kind="stable"))


@given(data=st.data())
def test_lexsort_matches_numpy(data):
    n = data.draw(st.integers(0, 8))
    num_keys = data.draw(st.integers(1, 3))
    rng = np.random.RandomState(data.draw(st.integers(0, 1000)))
    keys = [rng.randint(0, 3, size=(2, n)) for _ in range(num_keys)]
    np.testing.assert_array_equal(np.asarray(fnp.lexsort(keys)), np.lexsort(keys))
    np.testing.assert_array_equal(np.asarray(fnp.lexsort(keys, axis=0)), np.lexsort(keys, axis=0))


def test_lax_sort_several_operands_by_several_keys():
    rng = np.random.RandomState(0)
    a = rng.randint(0, 3, size=(2, 7)).astype(np.float64)
    b = rng.randint(0, 2, size=(2, 7)).astype(np.int32)
    payload = rng.randn(2, 7)
    order = np.lexsort((b, a), axis=-1)
    outs = lax.sort((a, b, payload), num_keys=2)
    for out, ref in zip(outs, (a, b, payload), strict=True):
        np.testing.assert_array_equal(np.asarray(out), np.take_along_axis(ref, order, -1))
    keys, vals = lax.sort_key_val(a, payload, dimension=0)
    np.testing.assert_array_equal(np.asarray(vals), np.take_along_axis(
        payload, np.argsort(a, axis=0, kind="stable"), 0))  # fmt: skip
    np.testing.assert_array_equal(np.asarray(keys), np.sort(a, axis=0))


def test_sort_is_stable_for_ties_and_zero_signs():
    keys = np.array([1.0, -0.0, 0.0, 1.0, np.nan, -0.0, np.nan])
    _, positions = lax.sort_key_val(keys, np.arange(7))
    np.testing.assert_array_equal(np.asarray(positions), np.argsort(keys, kind="stable"))


def test_partition_and_argpartition_partition():
    rng = np.random.RandomState(0)
    x = rng.randn(4, 9)
    for kth in (0, 4, 8, -1):
        part = np.asarray(fnp.partition(x, kth, axis=1))
        k = kth % 9
        np.testing.assert_array_equal(part[:, k], np.sort(x, axis=1)[:, k])
        assert np.all(part[:, :k] <= part[:, k : k + 1])
        assert np.all(part[:, k + 1 :] >= part[:, k : k + 1])
        idx = np.asarray(fnp.argpartition(x, kth, axis=1))
        np.testing.assert_array_equal(np.take_along_axis(x, idx, 1)[:, k], part[:, k])


@pytest.mark.parametrize(
    "dtype", [np.int8, np.int16, np.uint8, np.int32, np.float32, np.float64, np.complex64]
)
def test_sort_complex_dtype_matches_numpy(dtype):
    x = np.array([3, 1, 2, 0]).astype(dtype)
    expected = np.sort_complex(x)
    actual = np.asarray(fnp.sort_complex(x))
    assert actual.dtype == expected.dtype
    np.testing.assert_array_equal(actual, expected)


# --- top_k -------------------------------------------------------------------------------------


def _top_k_reference(x, k):
    """Largest first, NaN largest of all, the lower index first among ties."""
    rows = x.reshape(int(np.prod(x.shape[:-1])), x.shape[-1])
    values, indices = [], []
    for row in rows:
        order = sorted(range(len(row)), key=lambda i: (not np.isnan(row[i]), -row[i], i))
        indices.append(order[:k])
        values.append(row[order[:k]])
    shape = (*x.shape[:-1], k)
    values = np.array(values, dtype=x.dtype).reshape(shape)
    return values, np.array(indices, dtype=np.int64).reshape(shape)


@given(data=st.data())
def test_top_k_matches_reference(data):
    x = data.draw(arrays(max_dims=2))
    k = data.draw(st.integers(0, x.shape[-1]))
    values, indices = lax.top_k(x, k)
    ref_values, ref_indices = _top_k_reference(x, k)
    assert np.asarray(indices).dtype == np.int32
    np.testing.assert_array_equal(np.asarray(indices), ref_indices)
    np.testing.assert_array_equal(np.asarray(values), ref_values)


# --- searchsorted --------------------------------------------------------------------------------


@given(data=st.data())
def test_searchsorted_matches_numpy(data):
    a = np.sort(data.draw(arrays(max_dims=1)))
    v = data.draw(arrays(min_dims=0, max_dims=2))
    for side in ("left", "right"):
        expected = np.searchsorted(a, v, side=side)
        for method in ("scan", "compare_all"):
            actual = np.asarray(fnp.searchsorted(a, v, side=side, method=method))
            assert actual.dtype == np.int64
            np.testing.assert_array_equal(actual, expected, err_msg=f"{side} {method}")


def test_searchsorted_with_sorter_and_ints():
    a = np.array([5, 1, 3, 3, 9])
    sorter = np.argsort(a, kind="stable")
    v = np.array([0, 3, 4, 10])
    for side in ("left", "right"):
        np.testing.assert_array_equal(
            np.asarray(fnp.searchsorted(a, v, side=side, sorter=sorter)),
            np.searchsorted(a, v, side=side, sorter=sorter),
        )


def test_searchsorted_under_jit_and_vmap():
    rng = np.random.RandomState(0)
    a = np.sort(rng.randn(3, 17), axis=1)
    v = rng.randn(3, 5)
    expected = np.stack([np.searchsorted(a[i], v[i]) for i in range(3)])
    for method in ("scan", "compare_all"):
        fn = fxgrad.jit(fxgrad.vmap(partial(fnp.searchsorted, method=method)))
        np.testing.assert_array_equal(np.asarray(fn(a, v)), expected)
    over_v = fxgrad.vmap(lambda v: fnp.searchsorted(a[0], v, side="right"), in_axes=1)(v)
    np.testing.assert_array_equal(np.asarray(over_v), np.searchsorted(a[0], v, side="right").T)


# --- quantiles ---------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["linear", "lower", "higher", "midpoint", "nearest"])
@pytest.mark.parametrize("nan_variant", [False, True])
@given(data=st.data())
def test_quantile_matches_numpy(method, nan_variant, data):
    x = data.draw(arrays(nans=nan_variant))
    axis = data.draw(
        st.one_of(
            st.none(),
            st.integers(0, x.ndim - 1),
            st.lists(st.integers(0, x.ndim - 1), min_size=1, unique=True).map(tuple),
        )
    )
    reduced = x.size if axis is None else np.prod([x.shape[i] for i in np.atleast_1d(axis)])
    if reduced == 0 or (nan_variant and x.size == 0):
        # NumPy raises an IndexError (fxgrad a ValueError, tested below); its nanquantile
        # of an empty array returns nanmean's shape, ignoring q.
        return
    q = data.draw(
        st.one_of(
            st.floats(0, 1),
            st.lists(st.floats(0, 1), min_size=1, max_size=3).map(np.array),
        )
    )
    keepdims = data.draw(st.booleans())
    ours = fnp.nanquantile if nan_variant else fnp.quantile
    theirs = np.nanquantile if nan_variant else np.quantile
    try:
        expected = _quiet(theirs, x, q, axis=axis, method=method, keepdims=keepdims)
    except ValueError:
        assert x.size == 0  # NumPy cannot reshape some empty arrays reduced over tuples
        return
    actual = np.asarray(ours(x, q, axis=axis, method=method, keepdims=keepdims))
    assert actual.shape == np.shape(expected)
    np.testing.assert_allclose(actual, expected, rtol=1e-12, atol=1e-12)


def test_median_and_percentile_variants_match_numpy():
    rng = np.random.RandomState(0)
    x = rng.randn(4, 5)
    x[1, 2] = np.nan
    x[3, :] = np.nan
    for name in ("median", "nanmedian"):
        for axis in (None, 0, 1, (0, 1)):
            expected = _quiet(getattr(np, name), x, axis=axis)
            np.testing.assert_allclose(np.asarray(getattr(fnp, name)(x, axis=axis)), expected)
    q = np.array([[10.0, 50.0], [90.0, 100.0]])
    np.testing.assert_allclose(
        np.asarray(fnp.nanpercentile(x, q, axis=1)), _quiet(np.nanpercentile, x, q, axis=1)
    )
    np.testing.assert_allclose(
        np.asarray(fnp.percentile(x, 30, axis=0, keepdims=True)),
        np.percentile(x, 30, axis=0, keepdims=True),
    )
    assert np.isnan(np.asarray(fnp.median(np.zeros((0,)))))
    assert np.asarray(fnp.median(np.arange(5, dtype=np.float32))).dtype == np.float32


# --- derivatives -------------------------------------------------------------------------------


def test_sort_jacobian_is_the_permutation():
    x = np.array([0.3, -1.2, 2.5, 0.1])
    perm = np.argsort(x)
    expected = np.eye(4)[perm]
    check_close(fxgrad.jacfwd(fnp.sort)(x), expected)
    check_close(fxgrad.jacrev(fnp.sort)(x), expected)
    check_close(fxgrad.jacrev(lambda a: fnp.sort(a, descending=True))(x), expected[::-1])


def test_sort_payload_gradient_with_tied_keys():
    keys = np.array([1.0, 0.0, 1.0, 0.0, 2.0])
    order = np.lexsort((np.arange(5), keys))
    fn = lambda v: lax.sort_key_val(keys, v)[1] * np.arange(1.0, 6.0)  # noqa: E731
    check_close(fxgrad.jacrev(fn)(np.ones(5)), np.diag(np.arange(1.0, 6.0)) @ np.eye(5)[order])
    check_grads(fn, [np.linspace(0, 1, 5)], order=2)


@pytest.mark.parametrize(
    "fn",
    [
        lambda x: fnp.sum(fnp.sort(x, axis=0) ** 2 * fnp.arange(1.0, 5.0).reshape(4, 1)),
        lambda x: fnp.sum(lax.top_k(x, 2)[0] ** 3),
        lambda x: fnp.sum(fnp.quantile(x, np.array([0.2, 0.7]), axis=1) ** 2),
        lambda x: fnp.median(x) * fnp.nanmedian(x),
    ],
)
def test_sort_based_grads_and_composition(fn):
    rng = np.random.RandomState(3)
    xs = (rng.permutation(36).reshape(3, 4, 3) * 0.25 + 0.1) * rng.choice([-1, 1], (3, 4, 3))
    check_grads(fn, [xs[0]], order=2)
    composed = fxgrad.jit(fxgrad.vmap(fxgrad.grad(fn)))(xs)
    loop = np.stack([np.asarray(fxgrad.grad(fn)(x)) for x in xs])
    check_close(composed, loop)


def test_quantile_gradient_in_q():
    x = np.array([4.0, 1.0, 3.0, 2.0])  # sorted: 1 2 3 4, spacing 1 per 1/3 of q
    grad_q = fxgrad.grad(lambda q: fnp.quantile(x, q))(0.4)
    check_close(grad_q, 3.0)


# --- errors ----------------------------------------------------------------------------------


def test_errors():
    with pytest.raises(ShapeError, match="0-d"):
        fnp.sort(np.float64(1.0))
    with pytest.raises(ValueError, match=r"range \[0, 1\]"):
        fnp.quantile(np.ones(3), 1.5)
    with pytest.raises(ValueError, match=r"range \[0, 100\]"):
        fnp.percentile(np.ones(3), -1)
    with pytest.raises(ValueError, match="method"):
        fnp.quantile(np.ones(3), 0.5, method="inverted_cdf")
    with pytest.raises(ValueError, match="empty"):
        fnp.quantile(np.zeros((0,)), 0.5)
    with pytest.raises(ShapeError, match="1-D"):
        fnp.searchsorted(np.ones((2, 2)), 1.0)
    with pytest.raises(ValueError, match="side"):
        fnp.searchsorted(np.ones(2), 1.0, side="middle")
    with pytest.raises(ValueError, match="kth"):
        fnp.partition(np.ones(3), 3)
    with pytest.raises(ValueError, match="k=4"):
        lax.top_k(np.ones(3), 4)
    with pytest.raises(ShapeError, match="same shape"):
        lax.sort((np.ones(3), np.ones(4)))
    with pytest.raises(ValueError, match="num_keys"):
        fxgrad.jit(lambda a: lax.sort(a, num_keys=2))(np.ones(3))
    with pytest.raises(ShapeError, match="rank >= 1"):
        lax.sort(np.float64(2.0))
    with pytest.raises(FxgradTypeError, match="out="):
        fnp.median(np.ones(3), out=np.zeros(()))
