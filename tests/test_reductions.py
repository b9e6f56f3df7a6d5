"""Reductions and cumulative reductions beyond the op records.

NumPy agreement over random shapes (0-size included), axes and ``keepdims`` (with NaNs
and ties in the data), NumPy's dtype rules, tie-breaking and NaN rules of
``argmax``/``argmin``, derivatives that stay exact at zeros (``prod``, ``cumprod``) or
for widely spread inputs (``cumlogsumexp``), composed transformations, and the errors.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import fxgrad
import fxgrad.lax as lax
import fxgrad.numpy as fnp
from fxgrad.errors import FxgradTypeError, ShapeError
from fxgrad.test_util import check_close, check_grads

# --- NumPy agreement over shapes and axes --------------------------------------------------


@st.composite
def arrays(draw, max_dims=3, allow_empty=True):
    """A float64 array (with ties and, sometimes, NaNs) and an axis spec for it."""
    ndim = draw(st.integers(0, max_dims))
    low = 0 if allow_empty else 1
    shape = tuple(draw(st.lists(st.integers(low, 4), min_size=ndim, max_size=ndim)))
    rng = np.random.RandomState(draw(st.integers(0, 2**31 - 1)))
    if draw(st.booleans()):
        x = rng.randint(-2, 3, size=shape).astype(np.float64)  # many ties
    else:
        x = np.asarray(rng.randn(*shape))
    if x.size and draw(st.booleans()):
        x.reshape(-1)[rng.rand(x.size) < 0.3] = np.nan
    return x


@st.composite
def axis_specs(draw, ndim, tuples=True):
    options = [st.none()]
    if ndim:
        options.append(st.integers(-ndim, ndim - 1))
        if tuples:
            options.append(
                st.lists(st.integers(0, ndim - 1), unique=True, max_size=ndim).map(tuple)
            )
    return draw(st.one_of(*options))


def _numpy(fn, *args, **kwargs):
    """NumPy's result, or the exception type it raises (warnings silenced)."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        try:
            return fn(*args, **kwargs), None
        except (ValueError, TypeError, IndexError) as error:
            return None, type(error)


def _check_against_numpy(ours, theirs, x, **kwargs):
    expected, error = _numpy(theirs, x, **kwargs)
    if error is not None:
        with pytest.raises((ValueError, TypeError)):
            ours(x, **kwargs)
        return
    actual = np.asarray(ours(x, **kwargs))
    expected = np.asarray(expected)
    assert actual.shape == expected.shape, (actual.shape, expected.shape, kwargs)
    assert actual.dtype == expected.dtype, (actual.dtype, expected.dtype, kwargs)
    np.testing.assert_allclose(actual, expected, rtol=1e-10, atol=1e-10, err_msg=str(kwargs))


AXIS_REDUCTIONS = [
    "sum", "prod", "mean", "var", "std", "max", "min", "ptp", "all", "any",
    "count_nonzero", "nansum", "nanprod", "nanmean", "nanvar", "nanstd", "nanmax", "nanmin",
    "median", "nanmedian",
]  # fmt: skip


@pytest.mark.parametrize("name", AXIS_REDUCTIONS)
@given(data=st.data())
def test_reduction_matches_numpy(name, data):
    x = data.draw(arrays())
    axis = data.draw(axis_specs(x.ndim))
    keepdims = data.draw(st.booleans())
    # NumPy's median fails to reshape empty arrays reduced over a tuple of axes.
    assume(not (name.endswith("median") and isinstance(axis, tuple) and x.size == 0))
    _check_against_numpy(getattr(fnp, name), getattr(np, name), x, axis=axis, keepdims=keepdims)


@pytest.mark.parametrize("name", ["argmax", "argmin"])
@given(data=st.data())
def test_argmax_argmin_match_numpy(name, data):
    """First occurrence wins ties, the first NaN wins over numbers, empty slices raise."""
    x = data.draw(arrays())
    axis = data.draw(axis_specs(x.ndim, tuples=False))
    keepdims = data.draw(st.booleans())
    _check_against_numpy(getattr(fnp, name), getattr(np, name), x, axis=axis, keepdims=keepdims)


@pytest.mark.parametrize("name", ["nanargmax", "nanargmin"])
@given(data=st.data())
def test_nanargmax_nanargmin_match_numpy(name, data):
    x = data.draw(arrays())
    axis = data.draw(axis_specs(x.ndim, tuples=False))
    nan_slices = np.all(np.isnan(x), axis=axis)
    if x.size and np.any(nan_slices):
        # NumPy raises for an all-NaN slice; fxgrad returns -1 there (as jax.numpy).
        out = np.asarray(getattr(fnp, name)(x, axis=axis))
        assert np.all(out[nan_slices] == -1)
        return
    _check_against_numpy(getattr(fnp, name), getattr(np, name), x, axis=axis)


@pytest.mark.parametrize("name", ["cumsum", "cumprod", "nancumsum", "nancumprod"])
@given(data=st.data())
def test_cumulative_matches_numpy(name, data):
    x = data.draw(arrays())
    axis = data.draw(axis_specs(x.ndim, tuples=False))
    _check_against_numpy(getattr(fnp, name), getattr(np, name), x, axis=axis)


@pytest.mark.parametrize("name", ["cumulative_sum", "cumulative_prod"])
@given(data=st.data())
def test_cumulative_include_initial_matches_numpy(name, data):
    x = data.draw(arrays(max_dims=2))
    axis = data.draw(axis_specs(x.ndim, tuples=False))
    include = data.draw(st.booleans())
    _check_against_numpy(
        getattr(fnp, name), getattr(np, name), x, axis=axis, include_initial=include
    )


@given(data=st.data())
def test_where_and_initial_match_numpy(data):
    x = data.draw(arrays(allow_empty=False))
    axis = data.draw(axis_specs(x.ndim))
    rng = np.random.RandomState(data.draw(st.integers(0, 1000)))
    where = rng.rand(*x.shape) < 0.7
    for name in ("sum", "prod", "mean", "var", "all", "any", "nansum", "nanmean"):
        _check_against_numpy(getattr(fnp, name), getattr(np, name), x, axis=axis, where=where)
    for name in ("max", "min"):
        _check_against_numpy(
            getattr(fnp, name), getattr(np, name), x, axis=axis, where=where, initial=0.5
        )
    _check_against_numpy(fnp.sum, np.sum, x, axis=axis, initial=2.0)


# --- dtypes --------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.bool_, np.int8, np.uint8, np.int32, np.int64, np.float32])
@pytest.mark.parametrize(
    "name", ["sum", "prod", "cumsum", "cumprod", "mean", "var", "std", "nansum", "median"]
)
def test_result_dtype_matches_numpy(name, dtype):
    x = np.array([[1, 0, 1], [1, 1, 0]]).astype(dtype)
    expected = getattr(np, name)(x, axis=0)
    actual = getattr(fnp, name)(x, axis=0)
    assert np.asarray(actual).dtype == expected.dtype
    np.testing.assert_allclose(np.asarray(actual), expected, rtol=1e-6)


@pytest.mark.parametrize("name", ["argmax", "argmin", "nanargmax", "count_nonzero"])
def test_index_results_are_int64(name):
    out = getattr(fnp, name)(np.array([[1.0, 3.0], [2.0, 0.0]]), axis=0)
    assert np.asarray(out).dtype == np.int64


def test_sum_dtype_argument():
    x = np.array([200, 100], np.uint8)
    assert np.asarray(fnp.sum(x, dtype=np.uint8)) == np.sum(x, dtype=np.uint8)
    assert np.asarray(fnp.mean(x, dtype=np.float32)).dtype == np.float32


def test_average_matches_numpy():
    rng = np.random.RandomState(0)
    x = rng.randn(3, 4)
    w_full = rng.rand(3, 4)
    avg, scale = fnp.average(x, weights=w_full, returned=True)
    ref_avg, ref_scale = np.average(x, weights=w_full, returned=True)
    check_close(avg, ref_avg)
    check_close(scale, ref_scale)
    w_axis = rng.rand(3)
    check_close(
        fnp.average(x, axis=0, weights=w_axis, keepdims=True),
        np.average(x, axis=0, weights=w_axis, keepdims=True),
    )
    ints = np.arange(6).reshape(2, 3)
    out = fnp.average(ints, axis=1, weights=np.array([1, 2, 3]))
    expected = np.average(ints, axis=1, weights=np.array([1, 2, 3]))
    assert np.asarray(out).dtype == expected.dtype
    check_close(out, expected)


# --- NaN behaviour -------------------------------------------------------------------------


def test_nan_propagation_and_nan_variants():
    x = np.array([[1.0, np.nan, 3.0], [np.nan, np.nan, np.nan], [4.0, 5.0, 6.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in ("max", "min", "sum", "mean", "median", "nanmax", "nanmin", "nanmean",
                     "nansum", "nanmedian", "nanvar"):  # fmt: skip
            expected = getattr(np, name)(x, axis=1)
            np.testing.assert_array_equal(np.asarray(getattr(fnp, name)(x, axis=1)), expected)
    np.testing.assert_array_equal(np.asarray(fnp.argmax(x, axis=1)), [1, 0, 2])
    np.testing.assert_array_equal(np.asarray(fnp.nanargmax(x, axis=1)), [2, -1, 2])
    np.testing.assert_array_equal(np.asarray(fnp.nanargmin(x, axis=1)), [0, -1, 0])
    np.testing.assert_array_equal(
        np.asarray(lax.cummax(x, axis=1)), np.maximum.accumulate(x, axis=1)
    )


def test_argmax_ties_take_first_occurrence():
    x = np.array([[3, 1, 3, 3], [0, 0, 0, 0], [-1, 2, 2, -1]])
    np.testing.assert_array_equal(np.asarray(fnp.argmax(x, axis=1)), [0, 0, 1])
    np.testing.assert_array_equal(np.asarray(fnp.argmin(x, axis=1)), [1, 0, 0])
    np.testing.assert_array_equal(np.asarray(fnp.argmax(x, axis=0)), np.argmax(x, axis=0))
    batched = fxgrad.vmap(lambda r: fnp.argmax(r))(x)
    np.testing.assert_array_equal(np.asarray(batched), [0, 0, 1])


def test_nan_gradients_stay_finite():
    x = np.array([1.0, np.nan, 2.0, 3.0])
    for fn in (fnp.nansum, fnp.nanmean, fnp.nanvar, fnp.nanmax, fnp.nanprod):
        g = np.asarray(fxgrad.grad(fn)(x))
        assert g[1] == 0 and np.all(np.isfinite(g)), (fn.__name__, g)


# --- exact derivatives ----------------------------------------------------------------------


def _products_of_others(x):
    return np.array([np.prod(np.delete(x, i)) for i in range(len(x))])


@pytest.mark.parametrize(
    "x",
    [[2.0, 0.0, 3.0, 4.0], [0.0, 1.5, -2.0], [2.0, 0.0, 0.0, 3.0], [1.5, -2.0, 0.5, 3.0]],
)
def test_prod_gradient_exact_with_zeros(x):
    x = np.array(x)
    expected = _products_of_others(x)
    check_close(fxgrad.grad(fnp.prod)(x), expected)
    check_close(fxgrad.jacfwd(fnp.prod)(x), expected)


def test_prod_gradient_with_zero_along_axis():
    x = np.array([[1.0, 0.0, 2.0], [3.0, 4.0, 5.0]])
    jac = np.asarray(fxgrad.jacrev(lambda a: fnp.prod(a, axis=1))(x))
    for row in range(2):
        np.testing.assert_allclose(jac[row, row], _products_of_others(x[row]))
        np.testing.assert_allclose(jac[row, 1 - row], 0.0)


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("x", [[2.0, 0.0, 3.0, 4.0], [0.0, 2.0, 0.0, 5.0], [1.5, -2.0, 3.0]])
def test_cumprod_jacobian_exact_with_zeros(x, reverse):
    x = np.array(x)
    n = len(x)
    expected = np.zeros((n, n))
    for i in range(n):
        window = range(i, n) if reverse else range(i + 1)
        for j in window:
            expected[i, j] = np.prod([x[k] for k in window if k != j])
    f = lambda a: lax.cumprod(a, reverse=reverse)  # noqa: E731
    check_close(fxgrad.jacfwd(f)(x), expected)
    check_close(fxgrad.jacrev(f)(x), expected)


def test_cumlogsumexp_jacobian_for_widely_spread_inputs():
    x = np.array([-1000.0, 0.0, 3.0, 1000.0, 2.0])
    out = np.logaddexp.accumulate(x)
    lower = np.tri(len(x), dtype=bool)
    expected = np.exp(np.where(lower, x[None, :] - out[:, None], -np.inf))
    for dtype in (np.float64, np.float32):
        jac = np.asarray(fxgrad.jacrev(lax.cumlogsumexp)(x.astype(dtype)))
        assert np.all(np.isfinite(jac))
        np.testing.assert_allclose(jac, expected, atol=1e-6)
    out_rev = np.logaddexp.accumulate(x[::-1])[::-1]
    expected_rev = np.exp(np.where(lower.T, x[None, :] - out_rev[:, None], -np.inf))
    check_close(fxgrad.jacfwd(lambda a: lax.cumlogsumexp(a, reverse=True))(x), expected_rev)


@pytest.mark.parametrize("prim", [lax.cummax, lax.cummin])
def test_cummax_cummin_jacobian_picks_running_extremum(prim):
    x = np.array([0.3, 2.0, -1.0, 5.0, 4.0, -3.0])
    ufunc = np.maximum if prim is lax.cummax else np.minimum
    out = ufunc.accumulate(x)
    expected = (x[None, :] == out[:, None]) & np.tri(len(x), dtype=bool)
    check_close(fxgrad.jacrev(prim)(x), expected.astype(float))
    check_close(
        fxgrad.jacfwd(lambda a: prim(a, reverse=True))(x),
        np.flip(fxgrad.jacfwd(prim)(x[::-1]), (0, 1)),
    )


@pytest.mark.parametrize(
    "fn",
    [
        lambda x: fnp.sum(lax.cumprod(x, axis=1) ** 2),
        lambda x: fnp.sum(lax.cummax(x, axis=0) * fnp.reshape(fnp.arange(4.0), (4, 1))),
        lambda x: fnp.sum(lax.cumlogsumexp(x, axis=1, reverse=True)),
        lambda x: fnp.sum(fnp.prod(x, axis=0)) * fnp.sum(fnp.var(x, axis=1)),
    ],
)
def test_jit_vmap_grad_composition(fn):
    rng = np.random.RandomState(1)
    xs = rng.permutation(48).reshape(2, 4, 6) * 0.1 + 0.05
    composed = fxgrad.jit(fxgrad.vmap(fxgrad.grad(fn)))(xs)
    loop = np.stack([np.asarray(fxgrad.grad(fn)(x)) for x in xs])
    check_close(composed, loop)
    check_grads(fn, [xs[0]], order=2, modes=("fwd", "rev"))


# --- lax-level reductions ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "prim, ufunc",
    [
        (lax.reduce_and, np.bitwise_and),
        (lax.reduce_or, np.bitwise_or),
        (lax.reduce_xor, np.bitwise_xor),
    ],  # fmt: skip
)
@pytest.mark.parametrize("dtype", [np.bool_, np.int8, np.uint16, np.int64])
def test_bitwise_reductions_match_numpy(prim, ufunc, dtype):
    rng = np.random.RandomState(0)
    x = rng.randint(0, 8, size=(3, 4)).astype(dtype)
    for axes in [(0,), (1,), (0, 1)]:
        expected = ufunc.reduce(x, axis=axes)
        actual = np.asarray(prim(x, axes))
        assert actual.dtype == x.dtype
        np.testing.assert_array_equal(actual, expected)
    empty = np.zeros((0, 2), dtype)
    np.testing.assert_array_equal(np.asarray(prim(empty, (0,))), ufunc.reduce(empty, axis=0))


def test_lax_reduce_dispatches_and_folds_init_value():
    x = np.arange(12.0).reshape(3, 4)
    check_close(lax.reduce(x, 0.0, lax.add, (0,)), x.sum(0))
    check_close(lax.reduce(x, 10.0, lax.add, (1,)), x.sum(1) + 10.0)
    check_close(lax.reduce(x, -np.inf, lax.max, (0, 1)), x.max())
    check_close(lax.reduce(x, 1.0, lax.mul, (1,)), x.prod(1))
    outs = lax.reduce([x], [np.inf], lax.min, (0,))
    check_close(outs[0], x.min(0))


def test_lax_argmax_signature_and_index_dtype():
    x = np.array([[1.0, 5.0, 5.0], [7.0, 2.0, 7.0]])
    out = lax.argmax(x, 1, np.int32)
    assert np.asarray(out).dtype == np.int32
    np.testing.assert_array_equal(np.asarray(out), [1, 0])
    np.testing.assert_array_equal(np.asarray(lax.argmin(x, 0, np.int64)), [0, 1, 0])


# --- errors --------------------------------------------------------------------------------


def test_out_argument_is_rejected():
    with pytest.raises(FxgradTypeError, match="immutable"):
        fnp.sum(np.ones(3), out=np.zeros(()))
    with pytest.raises(FxgradTypeError, match="out="):
        fnp.cumsum(np.ones(3), out=np.zeros(3))


def test_reduction_errors():
    with pytest.raises(ValueError, match="requires initial"):
        fnp.max(np.ones(3), where=np.array([True, False, True]))
    with pytest.raises(ValueError, match="zero-size"):
        fnp.min(np.zeros((0, 2)), axis=0)
    with pytest.raises(ValueError, match="empty sequence"):
        fnp.argmax(np.zeros((2, 0)), axis=1)
    with pytest.raises(ValueError, match="axis argument is required"):
        fnp.cumulative_sum(np.ones((2, 2)))
    with pytest.raises(ShapeError, match="out of bounds"):
        fnp.sum(np.ones((2, 2)), axis=2)
    with pytest.raises(ShapeError, match="weights"):
        fnp.average(np.ones((2, 3)), axis=1, weights=np.ones(2))
    with pytest.raises(ValueError, match="ddof and correction"):
        fnp.var(np.ones(3), ddof=1, correction=1)


def test_lax_errors():
    with pytest.raises(NotImplementedError, match="lax.reduce supports"):
        lax.reduce(np.ones(3), 0.0, lambda a, b: a - b, (0,))
    with pytest.raises(FxgradTypeError, match="reduce_and.*float64"):
        lax.reduce_and(np.ones(3), (0,))
    with pytest.raises(FxgradTypeError, match="cumlogsumexp.*int64"):
        lax.cumlogsumexp(np.arange(3))
    with pytest.raises(ShapeError, match="cumsum: axis 2"):
        lax.cumsum(np.ones((2, 2)), axis=2)
    with pytest.raises(ValueError, match="argmax of an empty"):
        lax.argmax(np.zeros((0, 2)), 0, np.int32)
