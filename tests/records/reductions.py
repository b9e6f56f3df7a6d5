"""Records for reductions, cumulative reductions, sorting and order statistics.

Values are checked against NumPy, gradients (order 2, forward and reverse) against
finite differences, ``vmap`` against a loop and ``jit`` against eager evaluation.
Functions whose derivative is undefined at ties (max, sort, top_k, cummax, ...) draw
distinct values; the NaN-aware functions draw arrays with NaNs in fixed places.
"""

import numpy as np

import fxgrad.lax as lax
import fxgrad.numpy as fnp
from tests.op_records import OpRecord, rand_distinct, rand_normal, rand_positive

F = (np.float64, np.float32)


def rand_with_nans(rng, shape, dtype):
    """Normal values with NaNs where ``(i + 2 j) % 5 == 1`` (i, j: the last two indices).

    At most one NaN in every five entries of a row or column, so no slice is all NaN.
    """
    x = rng.randn(*shape).astype(dtype)
    i, j = np.indices(shape[-2:])
    x[..., (i + 2 * j) % 5 == 1] = np.nan
    return x


def rand_sorted(rng, shape, dtype):
    return np.sort(rng.randn(*shape)).astype(dtype)


def rand_quantile(rng, shape, dtype):
    """Levels in (0.05, 0.95), away from the kinks of linear interpolation."""
    return (rng.rand(*shape) * 0.9 + 0.05).astype(dtype)


def rand_bool(rng, shape, dtype):
    return rng.rand(*shape) > 0.5


def rand_small_int(rng, shape, dtype):
    return rng.randint(-3, 4, size=shape).astype(np.int32)


def _flip_fn(fn, axis):
    """The NumPy reference of a reverse cumulative op."""
    return lambda x: np.flip(fn(np.flip(x, axis), axis=axis), axis)


def _logcumsumexp(x, axis):
    return np.logaddexp.accumulate(x, axis=axis)


def _top_k_ref(x, k):
    idx = np.argsort(-x, axis=-1, kind="stable")[..., :k]
    return np.take_along_axis(x, idx, axis=-1), idx


def _np_quantile(x, q, axis=None, method="linear", keepdims=False):
    return np.quantile(x, q, axis=axis, method=method, keepdims=keepdims)


LAX_RECORDS = [
    OpRecord(
        "lax_reduce_prod",
        lambda x: lax.reduce_prod(x, (1,)),
        [(3, 4)],
        lambda x: np.prod(x, axis=1),
    ),
    OpRecord(
        "lax_reduce_prod_all", lambda x: lax.reduce_prod(x, (0, 1)), [(2, 3)], lambda x: np.prod(x)
    ),
    OpRecord(
        "lax_reduce_and",
        lambda x: lax.reduce_and(x, (0,)),
        [(4, 3)],
        lambda x: np.all(x, axis=0),
        dtypes=(np.bool_,),
        rand=rand_bool,
        grad_order=0,
    ),
    OpRecord(
        "lax_reduce_or",
        lambda x: lax.reduce_or(x, (1,)),
        [(4, 3)],
        lambda x: np.any(x, axis=1),
        dtypes=(np.bool_,),
        rand=rand_bool,
        grad_order=0,
    ),
    OpRecord(
        "lax_reduce_xor_int",
        lambda x: lax.reduce_xor(x, (1,)),
        [(4, 3)],
        lambda x: np.bitwise_xor.reduce(x, axis=1),
        dtypes=(np.int32,),
        rand=rand_small_int,
        grad_order=0,
    ),
    OpRecord(
        "lax_argmax",
        lambda x: lax.argmax(x, 1, np.int32),
        [(3, 5)],
        lambda x: np.argmax(x, axis=1).astype(np.int32),
        grad_order=0,
    ),
    OpRecord(
        "lax_argmin",
        lambda x: lax.argmin(x, 0, np.int64),
        [(3, 5)],
        lambda x: np.argmin(x, axis=0),
        grad_order=0,
    ),
    OpRecord(
        "lax_cumsum", lambda x: lax.cumsum(x, axis=1), [(3, 4)], lambda x: np.cumsum(x, axis=1)
    ),
    OpRecord(
        "lax_cumsum_reverse",
        lambda x: lax.cumsum(x, axis=0, reverse=True),
        [(3, 4)],
        _flip_fn(np.cumsum, 0),
    ),
    OpRecord(
        "lax_cumprod", lambda x: lax.cumprod(x, axis=1), [(3, 4)], lambda x: np.cumprod(x, axis=1)
    ),
    OpRecord(
        "lax_cumprod_reverse",
        lambda x: lax.cumprod(x, axis=0, reverse=True),
        [(3, 2)],
        _flip_fn(np.cumprod, 0),
    ),
    OpRecord(
        "lax_cummax",
        lambda x: lax.cummax(x, axis=1),
        [(3, 5)],
        lambda x: np.maximum.accumulate(x, axis=1),
        rand=rand_distinct,
    ),
    OpRecord(
        "lax_cummin_reverse",
        lambda x: lax.cummin(x, axis=1, reverse=True),
        [(3, 5)],
        _flip_fn(np.minimum.accumulate, 1),
        rand=rand_distinct,
    ),
    OpRecord(
        "lax_cumlogsumexp",
        lambda x: lax.cumlogsumexp(x, axis=1),
        [(2, 6)],
        lambda x: _logcumsumexp(x, 1),
    ),
    OpRecord(
        "lax_cumlogsumexp_reverse",
        lambda x: lax.cumlogsumexp(x, axis=0, reverse=True),
        [(5, 2)],
        _flip_fn(_logcumsumexp, 0),
    ),
    OpRecord(
        "lax_sort",
        lambda x: lax.sort(x, dimension=0),
        [(4, 3)],
        lambda x: np.sort(x, axis=0),
        rand=rand_distinct,
    ),
    OpRecord(
        "lax_sort_key_val",
        lambda k, v: lax.sort_key_val(k, v)[1],
        [(3, 5), (3, 5)],
        lambda k, v: np.take_along_axis(v, np.argsort(k, axis=-1), axis=-1),
        rand=(rand_distinct, rand_normal),
    ),
    OpRecord(
        "lax_sort_two_keys",
        lambda a, b: lax.sort((a, b), num_keys=2)[1],
        [(6,), (6,)],
        lambda a, b: b[np.lexsort((b, a))],
        rand=(lambda r, s, d: np.array([1.0, 0.0, 1.0, 0.0, 2.0, 1.0], d), rand_distinct),
        grad_order=0,
    ),
    OpRecord(
        "lax_top_k_values",
        lambda x: lax.top_k(x, 3)[0],
        [(2, 6)],
        lambda x: _top_k_ref(x, 3)[0],
        rand=rand_distinct,
    ),
    OpRecord(
        "lax_top_k_indices",
        lambda x: lax.top_k(x, 3)[1],
        [(2, 6)],
        lambda x: _top_k_ref(x, 3)[1].astype(np.int32),
        rand=rand_distinct,
        grad_order=0,
    ),
    OpRecord(
        "lax_top_k_axis0",
        lambda x: lax.top_k(x, 2, axis=0)[0],
        [(4, 3)],
        lambda x: np.swapaxes(_top_k_ref(np.swapaxes(x, 0, 1), 2)[0], 0, 1),
        rand=rand_distinct,
    ),
    OpRecord(
        "lax_reduce_generic",
        lambda x: lax.reduce(x, 0.0, lax.add, (0,)),
        [(3, 4)],
        lambda x: np.sum(x, axis=0),
    ),
]

_MASK = np.array([[1, 0, 1], [1, 1, 0], [0, 1, 1]]) > 0

NUMPY_REDUCTION_RECORDS = [
    OpRecord(
        "np_sum_where_initial",
        lambda x: fnp.sum(x, axis=1, where=np.array([True, False, True, True]), initial=1.5),
        [(3, 4)],
        lambda x: np.sum(x, axis=1, where=np.array([True, False, True, True]), initial=1.5),
    ),
    OpRecord(
        "np_sum_keepdims",
        lambda x: fnp.sum(x, axis=(0, 2), keepdims=True),
        [(2, 3, 2)],
        lambda x: np.sum(x, axis=(0, 2), keepdims=True),
    ),
    OpRecord("np_prod", lambda x: fnp.prod(x, axis=0), [(3, 4)], lambda x: np.prod(x, axis=0)),
    OpRecord(
        "np_prod_where",
        lambda x: fnp.prod(x, where=np.array([[True, False]] * 3)),
        [(3, 2)],
        lambda x: np.prod(x, where=np.array([[True, False]] * 3)),
    ),
    OpRecord(
        "np_mean_where",
        lambda x: fnp.mean(x, axis=0, where=_MASK),
        [(3, 3)],
        lambda x: np.mean(x, axis=0, where=_MASK),
    ),
    OpRecord(
        "np_var_ddof",
        lambda x: fnp.var(x, axis=1, ddof=1),
        [(3, 4)],
        lambda x: np.var(x, axis=1, ddof=1),
    ),
    OpRecord(
        "np_std_where",
        lambda x: fnp.std(x, axis=1, where=np.array([True, True, False, True])),
        [(2, 4)],
        lambda x: np.std(x, axis=1, where=np.array([True, True, False, True])),
    ),
    OpRecord(
        "np_max_initial_where",
        lambda x: fnp.max(x, axis=0, initial=-0.25, where=np.array([True, False, True])),
        [(4, 3)],
        lambda x: np.max(x, axis=0, initial=-0.25, where=np.array([True, False, True])),
        rand=rand_distinct,
    ),
    OpRecord(
        "np_min_keepdims",
        lambda x: fnp.min(x, axis=1, keepdims=True),
        [(3, 4)],
        lambda x: np.min(x, axis=1, keepdims=True),
        rand=rand_distinct,
    ),
    OpRecord(
        "np_ptp",
        lambda x: fnp.ptp(x, axis=1),
        [(3, 4)],
        lambda x: np.ptp(x, axis=1),
        rand=rand_distinct,
    ),
    OpRecord(
        "np_argmax",
        lambda x: fnp.argmax(x, axis=1, keepdims=True),
        [(3, 4)],
        lambda x: np.argmax(x, axis=1, keepdims=True),
        grad_order=0,
    ),
    OpRecord("np_argmin_flat", fnp.argmin, [(3, 4)], np.argmin, grad_order=0),
    OpRecord(
        "np_all",
        lambda x: fnp.all(x > 0, axis=0),
        [(3, 4)],
        lambda x: np.all(x > 0, axis=0),
        grad_order=0,
    ),
    OpRecord(
        "np_any",
        lambda x: fnp.any(x > 0.5, axis=1),
        [(3, 4)],
        lambda x: np.any(x > 0.5, axis=1),
        grad_order=0,
    ),
    OpRecord(
        "np_count_nonzero",
        lambda x: fnp.count_nonzero(x > 0, axis=1),
        [(3, 4)],
        lambda x: np.count_nonzero(x > 0, axis=1),
        grad_order=0,
    ),
    OpRecord(
        "np_cumsum", lambda x: fnp.cumsum(x, axis=0), [(3, 4)], lambda x: np.cumsum(x, axis=0)
    ),
    OpRecord("np_cumprod_flat", fnp.cumprod, [(2, 3)], np.cumprod),
    OpRecord(
        "np_cumulative_sum_initial",
        lambda x: fnp.cumulative_sum(x, axis=1, include_initial=True),
        [(3, 4)],
        lambda x: np.cumulative_sum(x, axis=1, include_initial=True),
    ),
    OpRecord(
        "np_cumulative_prod_initial",
        lambda x: fnp.cumulative_prod(x, include_initial=True),
        [(4,)],
        lambda x: np.cumulative_prod(x, include_initial=True),
    ),
    OpRecord(
        "np_average",
        lambda x, w: fnp.average(x, axis=1, weights=w),
        [(3, 4), (4,)],
        lambda x, w: np.average(x, axis=1, weights=w),
        rand=(rand_normal, rand_positive),
    ),
    OpRecord(
        "np_average_returned",
        lambda x: fnp.average(x, axis=0, returned=True)[1],
        [(3, 4)],
        lambda x: np.average(x, axis=0, returned=True)[1],
        grad_order=0,
    ),
]

NAN_RECORDS = [
    OpRecord(
        "np_nansum",
        lambda x: fnp.nansum(x, axis=1),
        [(3, 4)],
        lambda x: np.nansum(x, axis=1),
        rand=rand_with_nans,
    ),
    OpRecord(
        "np_nanprod",
        lambda x: fnp.nanprod(x, axis=0),
        [(3, 4)],
        lambda x: np.nanprod(x, axis=0),
        rand=rand_with_nans,
    ),
    OpRecord(
        "np_nanmean",
        lambda x: fnp.nanmean(x, axis=1),
        [(3, 4)],
        lambda x: np.nanmean(x, axis=1),
        rand=rand_with_nans,
    ),
    OpRecord(
        "np_nanvar",
        lambda x: fnp.nanvar(x, axis=1),
        [(3, 4)],
        lambda x: np.nanvar(x, axis=1),
        rand=rand_with_nans,
    ),
    OpRecord(
        "np_nanstd",
        lambda x: fnp.nanstd(x, axis=0, ddof=1),
        [(4, 3)],
        lambda x: np.nanstd(x, axis=0, ddof=1),
        rand=rand_with_nans,
    ),
    OpRecord(
        "np_nanmax",
        lambda x: fnp.nanmax(x, axis=1),
        [(3, 4)],
        lambda x: np.nanmax(x, axis=1),
        rand=rand_with_nans,
    ),
    OpRecord(
        "np_nanmin",
        lambda x: fnp.nanmin(x, axis=0),
        [(4, 3)],
        lambda x: np.nanmin(x, axis=0),
        rand=rand_with_nans,
    ),
    OpRecord(
        "np_nanargmax",
        lambda x: fnp.nanargmax(x, axis=1),
        [(3, 4)],
        lambda x: np.nanargmax(x, axis=1),
        rand=rand_with_nans,
        grad_order=0,
    ),
    OpRecord(
        "np_nanargmin", fnp.nanargmin, [(3, 4)], np.nanargmin, rand=rand_with_nans, grad_order=0
    ),
    OpRecord(
        "np_nancumsum",
        lambda x: fnp.nancumsum(x, axis=1),
        [(3, 4)],
        lambda x: np.nancumsum(x, axis=1),
        rand=rand_with_nans,
    ),
    OpRecord("np_nancumprod", fnp.nancumprod, [(3, 4)], np.nancumprod, rand=rand_with_nans),
    OpRecord(
        "np_nanmedian",
        lambda x: fnp.nanmedian(x, axis=1),
        [(3, 4)],
        lambda x: np.nanmedian(x, axis=1),
        rand=rand_with_nans,
    ),
    OpRecord(
        "np_nanquantile",
        lambda x: fnp.nanquantile(x, 0.3, axis=0),
        [(4, 3)],
        lambda x: np.nanquantile(x, 0.3, axis=0),
        rand=rand_with_nans,
    ),
    OpRecord(
        "np_nanpercentile",
        lambda x: fnp.nanpercentile(x, 70.0, axis=1),
        [(3, 5)],
        lambda x: np.nanpercentile(x, 70.0, axis=1),
        rand=rand_with_nans,
    ),
]

SORTING_RECORDS = [
    OpRecord(
        "np_sort",
        lambda x: fnp.sort(x, axis=0),
        [(4, 3)],
        lambda x: np.sort(x, axis=0),
        rand=rand_distinct,
    ),
    OpRecord(
        "np_sort_flat_descending",
        lambda x: fnp.sort(x, axis=None, descending=True),
        [(2, 3)],
        lambda x: np.sort(x, axis=None)[::-1],
        rand=rand_distinct,
    ),
    OpRecord(
        "np_argsort",
        lambda x: fnp.argsort(x, axis=1),
        [(3, 4)],
        lambda x: np.argsort(x, axis=1, kind="stable"),
        grad_order=0,
    ),
    OpRecord(
        "np_argsort_descending",
        lambda x: fnp.argsort(x, descending=True),
        [(5,)],
        lambda x: np.argsort(-x, kind="stable"),
        rand=rand_distinct,
        grad_order=0,
    ),
    OpRecord(
        "np_lexsort",
        lambda a, b: fnp.lexsort((a, b)),
        [(6,), (6,)],
        lambda a, b: np.lexsort((a, b)),
        rand=(rand_normal, lambda r, s, d: np.array([1, 0, 1, 0, 2, 1], d)),
        grad_order=0,
    ),
    OpRecord(
        "np_partition",
        lambda x: fnp.partition(x, 2),
        [(3, 5)],
        lambda x: np.sort(x, axis=-1),
        rand=rand_distinct,
    ),
    OpRecord(
        "np_argpartition",
        lambda x: fnp.argpartition(x, 1, axis=0),
        [(4, 3)],
        lambda x: np.argsort(x, axis=0, kind="stable"),
        grad_order=0,
    ),
    OpRecord(
        "np_searchsorted_left",
        fnp.searchsorted,
        [(6,), (2, 3)],
        np.searchsorted,
        rand=(rand_sorted, rand_normal),
        grad_order=0,
    ),
    OpRecord(
        "np_searchsorted_right_compare_all",
        lambda a, v: fnp.searchsorted(a, v, side="right", method="compare_all"),
        [(5,), (4,)],
        lambda a, v: np.searchsorted(a, v, side="right"),
        rand=(rand_sorted, rand_normal),
        grad_order=0,
    ),
    OpRecord("np_sort_complex", fnp.sort_complex, [(5,)], np.sort_complex, grad_order=0),
    OpRecord(
        "np_median",
        lambda x: fnp.median(x, axis=1),
        [(3, 4)],
        lambda x: np.median(x, axis=1),
        rand=rand_distinct,
    ),
    OpRecord(
        "np_median_odd_keepdims",
        lambda x: fnp.median(x, axis=0, keepdims=True),
        [(5, 2)],
        lambda x: np.median(x, axis=0, keepdims=True),
        rand=rand_distinct,
    ),
    OpRecord(
        "np_quantile_q_array",
        lambda x, q: fnp.quantile(x, q, axis=1),
        [(3, 5), (2,)],
        lambda x, q: np.quantile(x, q, axis=1),
        rand=(rand_distinct, rand_quantile),
    ),
    OpRecord(
        "np_quantile_axes",
        lambda x: fnp.quantile(x, 0.4, axis=(0, 2), keepdims=True),
        [(2, 3, 3)],
        lambda x: _np_quantile(x, 0.4, axis=(0, 2), keepdims=True),
        rand=rand_distinct,
    ),
    OpRecord(
        "np_quantile_midpoint",
        lambda x: fnp.quantile(x, 0.3, method="midpoint"),
        [(6,)],
        lambda x: np.quantile(x, 0.3, method="midpoint"),
        rand=rand_distinct,
    ),
    OpRecord(
        "np_percentile",
        lambda x: fnp.percentile(x, 25.0, axis=0),
        [(5, 2)],
        lambda x: np.percentile(x, 25.0, axis=0),
        rand=rand_distinct,
    ),
]

RECORDS = LAX_RECORDS + NUMPY_REDUCTION_RECORDS + NAN_RECORDS + SORTING_RECORDS
