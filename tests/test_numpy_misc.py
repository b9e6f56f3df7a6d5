"""fxgrad.numpy's misc functions beyond the op records: value-dependent sizes, options, errors.

* ``nonzero``/``unique``/set operations/``bincount``/``histogram``/``digitize`` against
  NumPy over random shapes (0-size included), eagerly, under ``jit`` with ``size=``
  (the first entries agree with NumPy, the rest are padding) and under ``vmap``.
* Keyword options of ``diff``, ``gradient``, ``interp``, ``vectorize``, ``apply_along_axis``,
  ``packbits``... against NumPy; the index helpers and dtype utilities.
* The errors: traced sizes name ``size=``, in-place writes name ``inplace=False``.
* Complex numbers: ``grad(..., holomorphic=True)`` of functions built from fxgrad.numpy,
  and JAX's convention for real functions of complex inputs (hand-derived expectations).
"""

from __future__ import annotations

import cmath
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import fxgrad
import fxgrad.numpy as fnp
from fxgrad.errors import ConcretizationError
from fxgrad.test_util import check_grads


@st.composite
def int_arrays(draw, min_dims=1, max_dims=3, max_side=5):
    """Small integer arrays (many ties), 0-size shapes included."""
    ndim = draw(st.integers(min_dims, max_dims))
    shape = tuple(draw(st.lists(st.integers(0, max_side), min_size=ndim, max_size=ndim)))
    rng = np.random.RandomState(draw(st.integers(0, 2**31 - 1)))
    return rng.randint(-2, 3, size=shape)


def _np(x):
    return np.asarray(x)


def _assert_same(actual, expected):
    actual = _np(actual)
    assert actual.shape == np.shape(expected), (actual.shape, np.shape(expected))
    np.testing.assert_array_equal(actual, expected)


# --- nonzero family --------------------------------------------------------------------------


@given(int_arrays())
def test_nonzero_family_matches_numpy(x):
    for actual, expected in zip(fnp.nonzero(x), np.nonzero(x), strict=True):
        _assert_same(actual, expected)
    _assert_same(fnp.argwhere(x), np.argwhere(x))
    _assert_same(fnp.flatnonzero(x), np.flatnonzero(x))
    _assert_same(fnp.where(x)[0], np.where(x)[0])


@given(int_arrays(), st.integers(0, 8))
def test_nonzero_with_size_under_jit(x, size):
    out = fxgrad.jit(lambda v: fnp.nonzero(v, size=size, fill_value=-1))(x)
    for actual, expected in zip(out, np.nonzero(x), strict=True):
        actual = _np(actual)
        k = min(size, expected.shape[0])
        assert actual.shape == (size,)
        np.testing.assert_array_equal(actual[:k], expected[:k])
        assert (actual[k:] == -1).all()


def test_nonzero_fill_value_per_dimension_and_argwhere_size():
    x = np.array([[0, 1], [0, 0]])
    rows, cols = fnp.nonzero(x, size=3, fill_value=(7, 8))
    _assert_same(rows, [0, 7, 7])
    _assert_same(cols, [1, 8, 8])
    _assert_same(fnp.argwhere(x, size=2), [[0, 1], [0, 0]])
    _assert_same(fnp.argwhere(np.array(3)), np.argwhere(np.array(3)))


def test_nonzero_under_vmap_with_size_matches_loop():
    x = np.array([[0, 3, 0, 1], [2, 0, 0, 0], [0, 0, 0, 0]])
    (batched,) = fxgrad.vmap(lambda v: fnp.nonzero(v, size=2))(x)
    expected = [np.pad(np.nonzero(r)[0], (0, 2))[:2] for r in x]
    _assert_same(batched, np.stack(expected))


def test_traced_sizes_raise_a_concretization_error_naming_size():
    with pytest.raises(ConcretizationError, match="size="):
        fxgrad.jit(fnp.nonzero)(np.arange(3))
    with pytest.raises(ConcretizationError, match="size="):
        fxgrad.vmap(fnp.unique)(np.ones((2, 3)))
    with pytest.raises(ConcretizationError, match="size="):
        fxgrad.jit(lambda a, b: fnp.intersect1d(a, b))(np.arange(3), np.arange(2))
    with pytest.raises(ConcretizationError, match="length="):
        fxgrad.jit(fnp.bincount)(np.arange(3))
    with pytest.raises(ConcretizationError):
        fxgrad.jit(fnp.trim_zeros)(np.arange(3))
    with pytest.raises(ValueError, match="0-d"):
        fnp.nonzero(np.array(1))


# --- unique and set operations -------------------------------------------------------------


@given(int_arrays(), st.booleans())
def test_unique_matches_numpy(x, with_nan):
    x = x.astype(np.float64)
    if with_nan and x.size:
        x.reshape(-1)[::3] = np.nan
    for equal_nan in (True, False):
        actual = fnp.unique(x, True, True, True, equal_nan=equal_nan)
        expected = np.unique(x, True, True, True, equal_nan=equal_nan)
        for a, e in zip(actual, expected, strict=True):
            _assert_same(a, e)


@given(int_arrays(min_dims=2, max_dims=3), st.data())
def test_unique_along_an_axis_matches_numpy(x, data):
    axis = data.draw(st.integers(-x.ndim, x.ndim - 1))
    if x.shape[axis] == 0 or x.size == 0:
        return
    actual = fnp.unique(x, return_index=True, return_inverse=True, return_counts=True, axis=axis)
    expected = np.unique(x, return_index=True, return_inverse=True, return_counts=True, axis=axis)
    for a, e in zip(actual, expected, strict=True):
        _assert_same(a, e)


@given(int_arrays(max_dims=2), st.integers(0, 8))
def test_unique_with_size_under_jit(x, size):
    fn = fxgrad.jit(
        lambda v: fnp.unique(v, return_index=True, return_counts=True, size=size, fill_value=99)
    )
    values, index, counts = (_np(o) for o in fn(x))
    ev, ei, ec = np.unique(x, return_index=True, return_counts=True)
    k = min(size, ev.shape[0])
    np.testing.assert_array_equal(values[:k], ev[:k])
    np.testing.assert_array_equal(index[:k], ei[:k])
    np.testing.assert_array_equal(counts[:k], ec[:k])
    assert (values[k:] == 99).all() and (counts[k:] == 0).all()


def test_unique_default_fill_is_the_smallest_value_and_grad_goes_to_first_occurrence():
    _assert_same(fnp.unique(np.array([3.0, 1.0, 3.0]), size=4), [1.0, 3.0, 1.0, 1.0])
    g = fxgrad.grad(lambda v: fnp.sum(fnp.unique(v) * np.array([1.0, 10.0])))(
        np.array([2.0, 1.0, 2.0])
    )
    _assert_same(g, [10.0, 1.0, 0.0])


def test_unique_array_api_family():
    x = np.array([3, 1, 3, 2, 1, 1])
    _assert_same(fnp.unique_values(x), np.sort(np.unique_values(x)))
    counts = fnp.unique_counts(x)
    _assert_same(counts.values, [1, 2, 3])
    _assert_same(counts.counts, [3, 1, 2])
    inverse = fnp.unique_inverse(x)
    _assert_same(inverse.inverse_indices, np.unique_inverse(x).inverse_indices)
    every = fnp.unique_all(np.array([np.nan, 1.0, np.nan]))
    _assert_same(every.values, [1.0, np.nan, np.nan])  # NaNs are not merged
    _assert_same(every.indices, [1, 0, 2])


@given(int_arrays(max_dims=2), int_arrays(max_dims=2))
def test_set_operations_match_numpy(a, b):
    _assert_same(fnp.union1d(a, b), np.union1d(a, b))
    _assert_same(fnp.intersect1d(a, b), np.intersect1d(a, b))
    _assert_same(fnp.setdiff1d(a, b), np.setdiff1d(a, b))
    _assert_same(fnp.setxor1d(a, b), np.setxor1d(a, b))
    for method in ("compare_all", "sort"):
        _assert_same(fnp.isin(a, b, method=method), np.isin(a, b))
        _assert_same(fnp.isin(a, b, invert=True, method=method), np.isin(a, b, invert=True))
    for actual, expected in zip(
        fnp.intersect1d(a, b, return_indices=True),
        np.intersect1d(a, b, return_indices=True),
        strict=True,
    ):
        _assert_same(actual, expected)


def test_set_operations_with_size_under_jit_and_assume_unique():
    a, b = np.array([5, 1, 3, 1, 7]), np.array([3, 9, 7])
    fn = fxgrad.jit(lambda u, v: fnp.setdiff1d(u, v, size=4, fill_value=0))
    _assert_same(fn(a, b), [1, 5, 0, 0])
    _assert_same(fnp.setdiff1d(np.array([8, 2, 4]), b, assume_unique=True), [8, 2, 4])
    _assert_same(fnp.in1d(np.array([[1, 3]]), b), [False, True])
    fn = fxgrad.jit(lambda u, v: fnp.union1d(u, v, size=7))
    _assert_same(fn(a, b), [1, 3, 5, 7, 9, 1, 1])


@given(int_arrays(max_dims=1), st.integers(0, 3))
def test_bincount_matches_numpy(x, minlength):
    x = np.abs(x)
    _assert_same(fnp.bincount(x, minlength=minlength), np.bincount(x, minlength=minlength))
    w = np.linspace(0.0, 1.0, x.shape[0])
    np.testing.assert_allclose(_np(fnp.bincount(x, w)), np.bincount(x, w))
    out = fxgrad.jit(lambda v: fnp.bincount(v, length=3))(x)
    _assert_same(out, np.bincount(x, minlength=3)[:3])


@given(int_arrays(max_dims=2), st.data())
def test_extract_compress_trim_zeros_match_numpy(x, data):
    cond = x > 0
    _assert_same(fnp.extract(cond, x), np.extract(cond, x))
    if x.ndim:
        axis = data.draw(st.integers(0, x.ndim - 1))
        sel = np.arange(x.shape[axis]) % 2 == 0
        _assert_same(fnp.compress(sel, x, axis=axis), np.compress(sel, x, axis=axis))
    if x.ndim == 1:
        for trim in ("f", "b", "fb"):
            _assert_same(fnp.trim_zeros(x, trim), np.trim_zeros(x, trim))


def test_compress_and_extract_with_size_under_jit():
    x = np.arange(6.0).reshape(2, 3)
    fn = fxgrad.jit(lambda v: fnp.compress(np.array([True, False, True]), v, axis=1, size=3))
    _assert_same(fn(x), [[0.0, 2.0, 0.0], [3.0, 5.0, 0.0]])
    fn = fxgrad.jit(lambda v: fnp.extract(v > 2, v, size=4, fill_value=-1.0))
    _assert_same(fn(x), [3.0, 4.0, 5.0, -1.0])


# --- binning ---------------------------------------------------------------------------------


@st.composite
def float_samples(draw):
    n = draw(st.integers(0, 30))
    rng = np.random.RandomState(draw(st.integers(0, 2**31 - 1)))
    x = np.round(rng.randn(n) * 2, 1)  # rounded: values land on bin edges
    return x


@given(float_samples(), st.integers(1, 6), st.booleans(), st.booleans())
def test_histogram_matches_numpy(x, bins, density, use_range):
    kwargs = {"range": (-1.0, 2.0)} if use_range else {}
    if density and x.size == 0:
        return
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        expected = np.histogram(x, bins, density=density, **kwargs)
    actual = fnp.histogram(x, bins, density=density, **kwargs)
    for a, e in zip(actual, expected, strict=True):
        np.testing.assert_allclose(_np(a), e, rtol=1e-12, atol=1e-12)
    if x.size:
        edges = np.array([-2.0, -0.5, 0.0, 0.3, 3.0])
        np.testing.assert_allclose(
            _np(fnp.histogram(x, edges, weights=x**2)[0]), np.histogram(x, edges, weights=x**2)[0]
        )
        jitted = fxgrad.jit(lambda v: fnp.histogram(v, bins)[0])(x)
        _assert_same(jitted, np.histogram(x, bins)[0])


@given(float_samples(), st.booleans(), st.booleans())
def test_digitize_matches_numpy(x, right, decreasing):
    bins = np.array([-1.0, -0.2, 0.0, 0.5, 2.0])
    bins = bins[::-1] if decreasing else bins
    _assert_same(fnp.digitize(x, bins, right), np.digitize(x, bins, right))


def test_histogram2d_and_dd_match_numpy():
    rng = np.random.RandomState(0)
    x, y, z = rng.randn(3, 40)
    for a, e in zip(
        fnp.histogram2d(x, y, bins=(3, 4), weights=z),
        np.histogram2d(x, y, bins=(3, 4), weights=z),
        strict=True,
    ):
        np.testing.assert_allclose(_np(a), e)
    sample = np.stack([x, y, z], axis=1)
    actual, edges = fnp.histogramdd(sample, bins=3, density=True)
    expected, expected_edges = np.histogramdd(sample, bins=3, density=True)
    np.testing.assert_allclose(_np(actual), expected)
    for a, e in zip(edges, expected_edges, strict=True):
        np.testing.assert_allclose(_np(a), e)


def test_string_bins_need_concrete_data():
    x = np.random.RandomState(1).randn(50)
    np.testing.assert_allclose(_np(fnp.histogram(x, "auto")[0]), np.histogram(x, "auto")[0])
    with pytest.raises(ConcretizationError, match="integer number of bins"):
        fxgrad.jit(lambda v: fnp.histogram(v, "auto"))(x)


# --- differences, interpolation --------------------------------------------------------------


@given(int_arrays(min_dims=1, max_dims=3, max_side=6), st.data())
def test_diff_and_gradient_match_numpy(x, data):
    x = x.astype(np.float64) * 1.5
    axis = data.draw(st.integers(-x.ndim, x.ndim - 1))
    n = data.draw(st.integers(0, 3))
    _assert_same(fnp.diff(x, n, axis=axis), np.diff(x, n, axis=axis))
    if x.shape[axis] >= 3:
        edge_order = data.draw(st.sampled_from([1, 2]))
        expected = np.gradient(x, 0.7, axis=axis, edge_order=edge_order)
        actual = fnp.gradient(x, 0.7, axis=axis, edge_order=edge_order)
        np.testing.assert_allclose(_np(actual), expected, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(
            _np(fnp.trapezoid(x, axis=axis)), np.trapezoid(x, axis=axis), atol=1e-12
        )


def test_diff_of_booleans_and_errors():
    b = np.array([True, False, False, True])
    _assert_same(fnp.diff(b), np.diff(b))
    with pytest.raises(ValueError, match="non-negative"):
        fnp.diff(np.ones(3), -1)
    with pytest.raises(ValueError, match="spacing|too small"):
        fnp.gradient(np.ones(2), edge_order=2)


def test_interp_options_and_derivative():
    xp, fp = np.array([0.0, 1.0, 3.0]), np.array([1.0, 3.0, 2.0])
    x = np.array([-1.0, 0.0, 0.5, 1.0, 2.9, 3.0, 4.0])
    _assert_same(fnp.interp(x, xp, fp), np.interp(x, xp, fp))
    _assert_same(fnp.interp(x, xp, fp, -5.0, 5.0), np.interp(x, xp, fp, -5.0, 5.0))
    np.testing.assert_allclose(
        _np(fnp.interp(x, xp, fp, period=2.5)), np.interp(x, xp, fp, period=2.5)
    )
    extrapolated = fnp.interp(
        np.array([-1.0, 4.0]), xp, fp, left="extrapolate", right="extrapolate"
    )
    _assert_same(extrapolated, [-1.0, 1.5])
    slope = fxgrad.grad(lambda v: fnp.interp(v, xp, fp))(2.0)
    assert float(slope) == pytest.approx(-0.5)


# --- functional helpers ----------------------------------------------------------------------


@given(st.integers(1, 3), st.data())
def test_apply_along_axis_matches_numpy(ndim, data):
    shape = tuple(data.draw(st.lists(st.integers(1, 4), min_size=ndim, max_size=ndim)))
    x = np.random.RandomState(0).randn(*shape)
    axis = data.draw(st.integers(-ndim, ndim - 1))

    def fn(v):
        return v[::-1] * v[0]

    np.testing.assert_allclose(
        _np(fnp.apply_along_axis(fn, axis, x)), np.apply_along_axis(fn, axis, x)
    )


def test_vectorize_options():
    add = fnp.vectorize(lambda a, b: a + b)
    _assert_same(
        add(np.arange(3.0)[:, None], np.arange(2.0)), np.add.outer(np.arange(3.0), np.arange(2.0))
    )
    power = fnp.vectorize(lambda a, n: a**n, excluded={1})
    _assert_same(power(np.arange(3.0), 2), [0.0, 1.0, 4.0])
    scaled = fnp.vectorize(lambda a, *, scale: a * scale, excluded={"scale"})
    _assert_same(scaled(np.arange(3.0), scale=2.0), [0.0, 2.0, 4.0])
    both = fnp.vectorize(lambda a: (a, fnp.sum(a)), signature="(n)->(n),()")
    full, total = both(np.ones((2, 3)))
    assert full.shape == (2, 3) and total.shape == (2,)
    assert fnp.vectorize(lambda a: a * 2)(np.zeros((0, 3))).shape == (0, 3)
    with pytest.raises(ValueError, match="inconsistent size"):
        fnp.vectorize(lambda a, b: a @ b, signature="(n),(n)->()")(np.ones(3), np.ones(4))
    with pytest.raises(ValueError, match="signature"):
        fnp.vectorize(lambda a: a, signature="(n)->(")(np.ones(3))
    grads = fxgrad.grad(lambda v: fnp.sum(fnp.vectorize(fnp.sin)(v)))(np.arange(3.0))
    np.testing.assert_allclose(_np(grads), np.cos(np.arange(3.0)))


def test_select_choose_piecewise_errors():
    with pytest.raises(TypeError, match="boolean"):
        fnp.select([np.arange(3)], [np.arange(3)])
    with pytest.raises(ValueError, match="invalid entry"):
        fnp.choose(np.array([0, 3]), [np.zeros(2), np.ones(2)])
    _assert_same(fnp.choose(np.array([0, 3]), [np.zeros(2), np.ones(2)], mode="clip"), [0.0, 1.0])
    with pytest.raises(ValueError, match="funclist"):
        fnp.piecewise(np.ones(3), [np.ones(3, bool)], [1, 2, 3])


def test_in_place_writers_require_inplace_false():
    for fn, args in [
        (fnp.fill_diagonal, (np.zeros((2, 2)), 1.0)),
        (fnp.put, (np.zeros(3), [0], [1.0])),
        (fnp.place, (np.zeros(3), np.ones(3, bool), [1.0])),
    ]:
        with pytest.raises(ValueError, match="inplace=False"):
            fn(*args)
    with pytest.raises(IndexError, match="out of range"):
        fnp.put(np.zeros(3), [5], [1.0], inplace=False)
    out = fxgrad.jit(lambda a, i: fnp.put(a, i, 7.0, inplace=False))(np.zeros(3), np.array([5, 1]))
    _assert_same(out, [0.0, 7.0, 0.0])  # dropped under jit, as in JAX


@given(int_arrays(min_dims=1, max_dims=3), st.data())
def test_insert_and_delete_match_numpy(x, data):
    axis = data.draw(st.one_of(st.none(), st.integers(-x.ndim, x.ndim - 1)))
    n = x.size if axis is None else x.shape[axis]
    positions = data.draw(st.lists(st.integers(-n, max(n - 1, -n)), max_size=3)) if n else []
    _assert_same(
        fnp.delete(x, np.array(positions, dtype=int), axis=axis),
        np.delete(x, np.array(positions, dtype=int), axis=axis),
    )
    where = data.draw(st.integers(-n, n))
    _assert_same(fnp.insert(x, where, 7, axis=axis), np.insert(x, where, 7, axis=axis))
    spots = data.draw(st.lists(st.integers(0, n), min_size=2, max_size=3))
    _assert_same(fnp.insert(x, spots, -1, axis=axis), np.insert(x, spots, -1, axis=axis))


def test_put_along_axis_concat_unstack():
    a = np.arange(12.0).reshape(3, 4)
    idx = np.argsort(-a, axis=1)[:, :2]
    expected = a.copy()
    np.put_along_axis(expected, idx, -1.0, axis=1)
    _assert_same(fnp.put_along_axis(a, idx, -1.0, axis=1, inplace=False), expected)
    with pytest.raises(ValueError, match="inplace=False"):
        fnp.put_along_axis(a, idx, -1.0, axis=1)
    _assert_same(fnp.concat([a, a], axis=1), np.concat([a, a], axis=1))
    for actual, want in zip(fnp.unstack(a, axis=1), np.unstack(a, axis=1), strict=True):
        _assert_same(actual, want)
    traced = fxgrad.jit(lambda v, i: fnp.delete(v, i, assume_unique_indices=True))
    _assert_same(traced(np.arange(5), np.array([4, 0])), [1, 2, 3])
    with pytest.raises(ConcretizationError, match="assume_unique_indices"):
        fxgrad.jit(lambda v, i: fnp.delete(v, i))(np.arange(5), np.array([0]))


# --- index helpers, bits, dtypes ---------------------------------------------------------------


@given(st.lists(st.integers(1, 4), min_size=1, max_size=3), st.data())
def test_ravel_and_unravel_index_match_numpy(dims, data):
    dims = tuple(dims)
    flat = np.arange(int(np.prod(dims)))
    for actual, expected in zip(
        fnp.unravel_index(flat, dims), np.unravel_index(flat, dims), strict=True
    ):
        _assert_same(actual, expected)
    multi = np.unravel_index(flat, dims)
    order = data.draw(st.sampled_from(["C", "F"]))
    _assert_same(
        fnp.ravel_multi_index(multi, dims, order=order),
        np.ravel_multi_index(multi, dims, order=order),
    )
    with pytest.raises(ValueError, match="out of bounds"):
        fnp.unravel_index(np.array([flat.size]), dims)


@given(st.integers(1, 3), st.data())
def test_packbits_roundtrip_matches_numpy(ndim, data):
    shape = tuple(data.draw(st.lists(st.integers(0, 10), min_size=ndim, max_size=ndim)))
    bits = np.random.RandomState(3).randint(0, 2, size=shape)
    axis = data.draw(st.one_of(st.none(), st.integers(0, ndim - 1)))
    order = data.draw(st.sampled_from(["big", "little"]))
    packed = np.packbits(bits, axis=axis, bitorder=order)
    _assert_same(fnp.packbits(bits, axis=axis, bitorder=order), packed)
    _assert_same(
        fnp.unpackbits(packed, axis=axis, bitorder=order),
        np.unpackbits(packed, axis=axis, bitorder=order),
    )


def test_index_helpers_match_numpy():
    for actual, expected in zip(
        fnp.ix_([0, 2], np.array([True, False, True])),
        np.ix_([0, 2], np.array([True, False, True])),
        strict=True,
    ):
        _assert_same(actual, expected)
    for fn in ("tril_indices", "triu_indices"):
        for actual, expected in zip(
            getattr(fnp, fn)(4, 1, 5), getattr(np, fn)(4, 1, 5), strict=True
        ):
            _assert_same(actual, expected)
    a = np.zeros((5, 3))
    expected = a.copy()
    np.fill_diagonal(expected, [1.0, 2.0], wrap=True)
    _assert_same(fnp.fill_diagonal(a, np.array([1.0, 2.0]), wrap=True, inplace=False), expected)
    _assert_same(fnp.resize(np.arange(3), (2, 4)), np.resize(np.arange(3), (2, 4)))


def test_polynomial_roots_and_division_match_numpy():
    p = np.array([0.0, 2.0, -3.0, -11.0, 6.0, 0.0])
    np.testing.assert_allclose(np.sort(_np(fnp.roots(p))), np.sort(np.roots(p)), atol=1e-12)
    np.testing.assert_allclose(_np(fnp.poly(np.diag([1.0, 2.0]))), np.poly(np.diag([1.0, 2.0])))
    u, v = np.array([3.0, 0.0, 1.0, -2.0]), np.array([1.0, 2.0])
    q, r = fnp.polydiv(u, v, trim_leading_zeros=True)
    eq, er = np.polydiv(u, v)
    np.testing.assert_allclose(_np(q), eq)
    np.testing.assert_allclose(_np(r), er)
    with pytest.raises(ConcretizationError):
        fxgrad.jit(fnp.roots)(p)


def test_dtype_and_printing_utilities():
    for dt, kind in [
        (np.float32, "real floating"),
        (np.int8, "integral"),
        (np.complex64, "numeric"),
        (np.bool_, ("bool", "integral")),
        (np.uint8, np.uint8),
    ]:
        assert fnp.isdtype(dt, kind) == np.isdtype(
            np.dtype(dt), kind if not isinstance(kind, type) else np.dtype(kind)
        )
    assert fnp.common_type(np.ones(2, np.float32), np.ones(2, np.int8)) is np.float64
    assert fnp.min_scalar_type(300) == np.min_scalar_type(300)
    assert fnp.iterable([1]) and not fnp.iterable(3)
    assert _np(fnp.real_if_close(np.array([1 + 1e-16j]))).dtype == np.float64
    with fnp.printoptions(precision=2):
        assert fnp.get_printoptions()["precision"] == 2
    assert fnp.array_str(fnp.arange(3)) == np.array_str(np.arange(3))
    _assert_same(fnp.frombuffer(b"\x01\x02", dtype=np.uint8), [1, 2])
    with pytest.raises(ValueError, match="infs or NaNs"):
        fnp.asarray_chkfinite([1.0, np.inf])


# --- complex numbers -----------------------------------------------------------------------

POINTS = [3 + 4j, -1.5 + 0.5j, 0.25 - 2j]


@pytest.mark.parametrize("z", POINTS)
def test_holomorphic_grads_of_numpy_built_functions(z):
    coeffs = np.array([2.0 - 1j, 0.5j, -3.0, 1.0 + 1j])

    def poly(v):
        return fnp.polyval(coeffs, v)

    def poly_prime(v):
        return 3 * coeffs[0] * v**2 + 2 * coeffs[1] * v + coeffs[2]

    cases = [
        (poly, poly_prime),
        (lambda v: fnp.exp(v) * fnp.sin(v), lambda v: cmath.exp(v) * (cmath.sin(v) + cmath.cos(v))),
        (lambda v: fnp.sum(fnp.vander(fnp.stack([v, 2 * v]), 3)), lambda v: 2 * v + 1 + 8 * v + 2),
        (lambda v: fnp.trapezoid(fnp.stack([v, v**2, v**3])), lambda v: 0.5 + 2 * v + 1.5 * v**2),
        (lambda v: 1 / (1 + v * v), lambda v: -2 * v / (1 + v * v) ** 2),
    ]
    for fn, derivative in cases:
        actual = complex(fxgrad.grad(fn, holomorphic=True)(fnp.asarray(z)))
        assert actual == pytest.approx(derivative(z), rel=1e-12)


@pytest.mark.parametrize("z", POINTS)
def test_real_functions_of_complex_inputs_follow_jax(z):
    """``grad`` of a real ``f(x + iy)`` is ``df/dx - i df/dy`` (JAX's convention)."""
    x, y, r = z.real, z.imag, abs(z)
    expected = {
        "abs": (fnp.abs, complex(x / r, -y / r)),
        "abs_squared": (lambda v: fnp.abs(v) ** 2, complex(2 * x, -2 * y)),
        "angle": (fnp.angle, complex(-y / r**2, -x / r**2)),
        "real": (fnp.real, 1 + 0j),
        "imag": (fnp.imag, -1j),
        "real_of_square": (lambda v: fnp.real(v * v), complex(2 * x, 2 * y)),
    }
    for name, (fn, want) in expected.items():
        got = complex(fxgrad.grad(fn)(fnp.asarray(z)))
        assert got == pytest.approx(want, rel=1e-12, abs=1e-15), name


def test_complex_misc_functions_differentiate():
    z = np.array([1 + 2j, -0.5 + 1j, 2 - 1j])
    check_grads(lambda v: fnp.polyval(np.array([1.0, -2j, 3.0]), v), (z,), order=2)
    check_grads(lambda v: fnp.diff(v * v), (z,), order=2)
    check_grads(lambda v: fnp.cov(fnp.stack([v, v * v])), (z,), order=1)
