"""Numerical helpers of NumPy's top level: differences, interpolation, statistics, binning.

``diff``, ``ediff1d``, ``gradient`` (second-order central differences, one- or
two-sided at the edges, uniform or coordinate spacing), ``trapezoid``, ``unwrap``,
``interp``, ``cov``/``corrcoef``, ``digitize``, ``histogram`` and its 2-D / N-D forms,
``i0`` and the window functions.

Everything is composed from ``fxgrad.numpy`` operations on static shapes, so it
differentiates, batches and jits. ``histogram`` with an integer number of bins works
under ``jit`` (the edges span the data's traced min and max); string bin rules
(``'auto'``, ``'fd'``...) need concrete data.

``i0`` sums the power series of I0 for ``|x| <= 20`` and the asymptotic expansion of
``exp(-|x|) I0(x)`` beyond (both to double precision), so its derivatives come from
the same expressions.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from fxgrad import core, dtypes
from fxgrad.errors import ShapeError
from fxgrad.numpy import _joining as joining
from fxgrad.numpy import _reductions as red
from fxgrad.numpy import _shape_ops as shp
from fxgrad.numpy import _sorting as srt
from fxgrad.numpy import _ufuncs as uf
from fxgrad.numpy._creation import linspace, ones, zeros
from fxgrad.numpy._util import asarray_value, canonicalize_axis, promote_dtypes

__all__ = [
    "bartlett",
    "blackman",
    "corrcoef",
    "cov",
    "diff",
    "digitize",
    "ediff1d",
    "gradient",
    "hamming",
    "hanning",
    "histogram",
    "histogram2d",
    "histogram_bin_edges",
    "histogramdd",
    "i0",
    "interp",
    "kaiser",
    "trapezoid",
    "unwrap",
]

_INDEX = np.dtype(np.int64)
_range = range  # the builtin, for the functions whose `range` argument shadows it


def _inexact(*args: Any) -> list[Any]:
    """``args`` promoted to a common inexact dtype (integers become the default float)."""
    vals = promote_dtypes(*[asarray_value(a) for a in args])
    if vals[0].dtype.kind not in "fc":
        dtype = dtypes.to_inexact_dtype(vals[0].dtype)
        vals = [v.astype(dtype) for v in vals]
    return vals


def _take(a: Any, start: int | None, stop: int | None, axis: int) -> Any:
    index = [slice(None)] * a.ndim
    index[axis] = slice(start, stop)
    return a[tuple(index)]


# ---------------------------------------------------------------------------------------------
# Differences and integrals
# ---------------------------------------------------------------------------------------------


def _edge(value: Any, a: Any, axis: int) -> Any:
    value = asarray_value(value)
    if value.ndim == 0:
        shape = list(a.shape)
        shape[axis] = 1
        value = shp.broadcast_to(value, tuple(shape))
    return value


def diff(a: Any, n: int = 1, axis: int = -1, prepend: Any = None, append: Any = None) -> Any:
    """The ``n``-th discrete difference along ``axis`` (as ``numpy.diff``).

    ``prepend``/``append`` are joined to ``a`` along ``axis`` first (scalars broadcast).
    Booleans use ``!=``, as in NumPy.

    Example:
      >>> import fxgrad.numpy as fnp
      >>> fnp.diff(fnp.array([1.0, 4.0, 9.0, 16.0]))
      Array([3., 5., 7.], dtype=float64)
    """
    a = asarray_value(a)
    n = operator.index(n)
    if n < 0:
        raise ValueError(f"fxgrad.numpy.diff: order must be non-negative, got n={n}")
    if n == 0:
        return a
    if a.ndim == 0:
        raise ValueError("fxgrad.numpy.diff: diff requires input that is at least 1-D")
    axis = canonicalize_axis(axis, a.ndim, "diff")
    parts = [a]
    if prepend is not None:
        parts.insert(0, _edge(prepend, a, axis))
    if append is not None:
        parts.append(_edge(append, a, axis))
    if len(parts) > 1:
        a = joining.concatenate(parts, axis=axis)
    for _ in range(n):
        hi, lo = _take(a, 1, None, axis), _take(a, None, -1, axis)
        a = uf.not_equal(hi, lo) if a.dtype == np.bool_ else uf.subtract(hi, lo)
    return a


def ediff1d(ary: Any, to_end: Any = None, to_begin: Any = None) -> Any:
    """Differences of consecutive elements of ``ravel(ary)``, with optional ends.

    Example:
      >>> import fxgrad.numpy as fnp
      >>> fnp.ediff1d(fnp.array([1, 2, 4]), to_begin=-9)
      Array([-9,  1,  2], dtype=int64)
    """
    ary = shp.ravel(asarray_value(ary))
    parts = [ary[1:] - ary[:-1]]
    if to_begin is not None:
        parts.insert(0, shp.ravel(asarray_value(to_begin)).astype(ary.dtype))
    if to_end is not None:
        parts.append(shp.ravel(asarray_value(to_end)).astype(ary.dtype))
    return joining.concatenate(parts) if len(parts) > 1 else parts[0]


def _gradient_axis(f: Any, spacing: Any, edge_order: int) -> Any:
    """The gradient of ``f`` along its last axis; ``spacing`` a scalar or coordinates."""
    n = f.shape[-1]
    if n < edge_order + 1:
        raise ValueError(
            "fxgrad.numpy.gradient: shape of array too small to calculate a numerical "
            f"gradient, at least (edge_order + 1) = {edge_order + 1} elements are required"
        )
    first, second, third = f[..., 0], f[..., 1], f[..., 2 if n > 2 else 1]
    last, last2, last3 = f[..., -1], f[..., -2], f[..., -3 if n > 2 else -2]
    if spacing.ndim == 0:
        h = spacing
        mid = (f[..., 2:] - f[..., :-2]) / (2.0 * h)
        if edge_order == 1:
            start, end = (second - first) / h, (last - last2) / h
        else:
            start = (-1.5 * first + 2.0 * second - 0.5 * third) / h
            end = (0.5 * last3 - 2.0 * last2 + 1.5 * last) / h
    else:
        dx = spacing[1:] - spacing[:-1]
        dx1, dx2 = dx[:-1], dx[1:]
        a = -dx2 / (dx1 * (dx1 + dx2))
        b = (dx2 - dx1) / (dx1 * dx2)
        c = dx1 / (dx2 * (dx1 + dx2))
        mid = a * f[..., :-2] + b * f[..., 1:-1] + c * f[..., 2:]
        if edge_order == 1:
            start, end = (second - first) / dx[0], (last - last2) / dx[-1]
        else:
            d1, d2 = dx[0], dx[1 if n > 2 else 0]
            start = (
                -(2.0 * d1 + d2) / (d1 * (d1 + d2)) * first
                + (d1 + d2) / (d1 * d2) * second
                - d1 / (d2 * (d1 + d2)) * third
            )
            d1, d2 = dx[-2 if n > 2 else -1], dx[-1]
            end = (
                d2 / (d1 * (d1 + d2)) * last3
                - (d2 + d1) / (d1 * d2) * last2
                + (2.0 * d2 + d1) / (d2 * (d1 + d2)) * last
            )
    return joining.concatenate([start[..., None], mid, end[..., None]], axis=-1)


def gradient(
    f: Any, *varargs: Any, axis: int | Sequence[int] | None = None, edge_order: int | None = None
) -> Any:
    """The gradient of ``f`` by central differences inside and one-sided ones at the edges.

    As ``numpy.gradient``: ``varargs`` gives the spacing, one scalar for every axis or
    one scalar or coordinate array per axis; ``edge_order`` (1 or 2) is the accuracy at
    the boundaries. Returns one array per axis (a tuple), or an array for a single axis.

    Example:
      >>> import fxgrad.numpy as fnp
      >>> fnp.gradient(fnp.array([1.0, 2.0, 4.0, 7.0]))
      Array([1. , 1.5, 2.5, 3. ], dtype=float64)
    """
    f = asarray_value(f)
    if f.dtype.kind not in "fc":
        f = f.astype(dtypes.to_inexact_dtype(f.dtype))
    if axis is None:
        axes = list(range(f.ndim))
    elif isinstance(axis, (tuple, list)):
        axes = [canonicalize_axis(ax, f.ndim, "gradient") for ax in axis]
    else:
        axes = [canonicalize_axis(axis, f.ndim, "gradient")]
    edge_order = 1 if edge_order is None else edge_order
    if edge_order not in (1, 2):
        raise ValueError("fxgrad.numpy.gradient: edge_order must be 1 or 2")
    if not varargs:
        spacings = [1.0] * len(axes)
    elif len(varargs) == 1 and np.ndim(varargs[0]) == 0:
        spacings = [varargs[0]] * len(axes)
    elif len(varargs) == len(axes):
        spacings = list(varargs)
    else:
        raise TypeError(
            f"fxgrad.numpy.gradient: invalid number of spacing arguments ({len(varargs)}); "
            f"give none, one scalar, or one per axis ({len(axes)})"
        )
    out = []
    for ax, spacing in zip(axes, spacings, strict=True):
        spacing = asarray_value(spacing)
        if spacing.ndim == 1 and spacing.shape[0] != f.shape[ax]:
            raise ShapeError(
                f"fxgrad.numpy.gradient: the coordinates for axis {ax} have length "
                f"{spacing.shape[0]}, but that axis has length {f.shape[ax]}"
            )
        if spacing.ndim > 1:
            raise ShapeError("fxgrad.numpy.gradient: spacing must be a scalar or 1-D")
        moved = shp.moveaxis(f, ax, -1)
        spacing = spacing.astype(f.dtype) if spacing.dtype.kind not in "fc" else spacing
        out.append(shp.moveaxis(_gradient_axis(moved, spacing, edge_order), -1, ax))
    return out[0] if len(out) == 1 else tuple(out)


def trapezoid(y: Any, x: Any = None, dx: Any = 1.0, axis: int = -1) -> Any:
    """The integral of ``y`` along ``axis`` by the trapezoidal rule (``numpy.trapezoid``).

    Example:
      >>> import fxgrad.numpy as fnp
      >>> fnp.trapezoid(fnp.array([1.0, 2.0, 3.0]), x=fnp.array([0.0, 1.0, 3.0]))
      Array(6.5, dtype=float64)
    """
    y = asarray_value(y)
    axis = canonicalize_axis(axis, y.ndim, "trapezoid")
    if x is None:
        d = asarray_value(dx)
    else:
        x = asarray_value(x)
        if x.ndim == 1:
            d = diff(x)
            shape = [1] * y.ndim
            shape[axis] = d.shape[0]
            d = d.reshape(tuple(shape))
        else:
            d = diff(x, axis=axis)
    pairs = _take(y, 1, None, axis) + _take(y, None, -1, axis)
    return red.sum(uf.multiply(d, pairs) / 2.0, axis=axis)


def unwrap(p: Any, discont: Any = None, axis: int = -1, period: Any = 2 * math.pi) -> Any:
    """Unwrap a phase: remove jumps larger than ``max(discont, period / 2)`` along ``axis``.

    Example:
      >>> import fxgrad.numpy as fnp
      >>> fnp.unwrap(fnp.array([0.0, 3.0, 6.5])).round(4)
      Array([0.    , 3.    , 0.2168], dtype=float64)
    """
    (p,) = _inexact(p)
    axis = canonicalize_axis(axis, p.ndim, "unwrap")
    dd = diff(p, axis=axis)
    half = asarray_value(period) / 2
    discont = half if discont is None else discont
    ddmod = uf.remainder(dd + half, period) - half
    ddmod = uf.where((ddmod == -half) & (dd > 0), half, ddmod)
    correction = uf.where(uf.absolute(dd) < discont, 0, ddmod - dd).astype(p.dtype)
    first = _take(p, None, 1, axis)
    rest = _take(p, 1, None, axis) + red.cumsum(correction, axis=axis)
    return joining.concatenate([first, rest], axis=axis)


def interp(
    x: Any, xp: Any, fp: Any, left: Any = None, right: Any = None, period: Any = None
) -> Any:
    """Piecewise-linear interpolation of the points ``(xp, fp)`` at ``x`` (``numpy.interp``).

    ``xp`` must be increasing (not checked). Left of ``xp[0]`` the result is ``left``
    (default ``fp[0]``), right of ``xp[-1]`` it is ``right`` (default ``fp[-1]``); as in
    JAX, ``'extrapolate'`` continues the first or last segment. With ``period`` the
    points are periodic and ``left``/``right`` are ignored. The result has the inexact
    dtype common to the inputs (NumPy always returns float64 or complex128).

    Example:
      >>> import fxgrad.numpy as fnp
      >>> fnp.interp(fnp.array([0.5, 1.5, 5.0]), fnp.array([0.0, 1.0, 2.0]),
      ...            fnp.array([0.0, 10.0, 20.0]))
      Array([ 5., 15., 20.], dtype=float64)
    """
    x, xp_, fp_ = _inexact(x, xp, fp)
    xp = xp_.real if xp_.dtype.kind == "c" else xp_
    x = x.real if x.dtype.kind == "c" else x
    if xp.ndim != 1 or fp_.ndim != 1 or xp.shape[0] != fp_.shape[0]:
        raise ShapeError(
            "fxgrad.numpy.interp: xp and fp must be 1-D sequences of the same length, got "
            f"shapes {tuple(xp.shape)} and {tuple(fp_.shape)}"
        )
    if xp.shape[0] == 0:
        raise ValueError("fxgrad.numpy.interp: xp and fp must not be empty")
    fp = fp_
    if period is not None:
        if core.concrete_value(period) is not None and np.asarray(period) == 0:
            raise ValueError("fxgrad.numpy.interp: period must be a non-zero value")
        period = uf.absolute(asarray_value(period)).astype(x.dtype)
        x, xp = uf.remainder(x, period), uf.remainder(xp, period)
        order = srt.argsort(xp)
        xp, fp = xp[order], fp[order]
        xp = joining.concatenate([xp[-1:] - period, xp, xp[:1] + period])
        fp = joining.concatenate([fp[-1:], fp, fp[:1]])
        left = right = "extrapolate"
    n = xp.shape[0]
    if n == 1:
        result = shp.broadcast_to(fp[0], x.shape)
    else:
        i = uf.clip(srt.searchsorted(xp, x, side="right"), 1, n - 1)
        x0, x1, f0, f1 = xp[i - 1], xp[i], fp[i - 1], fp[i]
        dx = x1 - x0
        safe_dx = uf.where(dx == 0, 1, dx)
        result = uf.where(dx == 0, f0, f0 + ((x - x0) / safe_dx) * (f1 - f0))
        result = uf.where(x == xp[-1], fp[-1], result)
    if not (isinstance(left, str) and left == "extrapolate"):
        result = uf.where(x < xp[0], fp[0] if left is None else left, result)
    if not (isinstance(right, str) and right == "extrapolate"):
        result = uf.where(x > xp[-1], fp[-1] if right is None else right, result)
    return result.astype(fp.dtype)


# ---------------------------------------------------------------------------------------------
# Statistics
# ---------------------------------------------------------------------------------------------


def _as_rows(m: Any, rowvar: bool, fn_name: str) -> Any:
    m = asarray_value(m)
    if m.ndim > 2:
        raise ShapeError(f"fxgrad.numpy.{fn_name}: m has more than 2 dimensions")
    m = shp.atleast_2d(m)
    if not rowvar and m.shape[0] != 1:
        m = m.T
    return m


def cov(
    m: Any,
    y: Any = None,
    rowvar: bool = True,
    bias: bool = False,
    ddof: int | None = None,
    fweights: Any = None,
    aweights: Any = None,
    dtype: Any = None,
) -> Any:
    """The covariance matrix of the variables in the rows (``rowvar``) or columns of ``m``.

    As ``numpy.cov``, with frequency and analytic weights; float32 input stays float32
    (NumPy computes in float64).

    Example:
      >>> import fxgrad.numpy as fnp
      >>> fnp.cov(fnp.array([[0.0, 1.0, 2.0], [2.0, 1.0, 0.0]]))
      Array([[ 1., -1.],
             [-1.,  1.]], dtype=float64)
    """
    x = _as_rows(m, rowvar, "cov")
    if y is not None:
        x = joining.concatenate([x, _as_rows(y, rowvar, "cov")], axis=0)
    (x,) = _inexact(x)
    if dtype is not None:
        x = x.astype(dtype)
    if ddof is None:
        ddof = 0 if bias else 1
    w = None
    if fweights is not None:
        w = asarray_value(fweights).astype(x.real.dtype)
    if aweights is not None:
        a = asarray_value(aweights).astype(x.real.dtype)
        w = a if w is None else w * a
    n = x.shape[1]
    if w is None:
        avg = red.mean(x, axis=1)
        fact = asarray_value(float(n - ddof))
    else:
        if w.ndim != 1 or w.shape[0] != n:
            raise ShapeError("fxgrad.numpy.cov: weights must be 1-D with one entry per observation")
        w_sum = red.sum(w)
        avg = red.sum(x * w, axis=1) / w_sum
        if ddof == 0:
            fact = w_sum
        elif aweights is None:
            fact = w_sum - ddof
        else:
            fact = w_sum - ddof * red.sum(w * a) / w_sum
    fact = uf.maximum(fact, 0.0)
    x = x - avg[:, None]
    x_t = x.T if w is None else (x * w).T
    c = (x @ uf.conjugate(x_t)) / fact
    return shp.squeeze(c)


def corrcoef(x: Any, y: Any = None, rowvar: bool = True, dtype: Any = None) -> Any:
    """Pearson correlation coefficients, ``cov(x, y) / outer(std, std)`` (``numpy.corrcoef``).

    Example:
      >>> import fxgrad.numpy as fnp
      >>> fnp.corrcoef(fnp.array([[0.0, 1.0, 2.0], [0.0, 2.0, 4.5]])).round(4)
      Array([[1.    , 0.9979],
             [0.9979, 1.    ]], dtype=float64)
    """
    c = cov(x, y, rowvar, dtype=dtype)
    if c.ndim == 0:
        return c / c
    d = red.sum(c * _eye_like(c), axis=1)
    std = uf.sqrt(d.real if d.dtype.kind == "c" else d)
    c = c / std[:, None] / std[None, :]
    if c.dtype.kind == "c":
        return uf.clip(c.real, -1, 1) + 1j * uf.clip(c.imag, -1, 1)
    return uf.clip(c, -1, 1)


def _eye_like(c: Any) -> Any:
    return asarray_value(np.eye(c.shape[0], dtype=c.dtype))


# ---------------------------------------------------------------------------------------------
# Binning
# ---------------------------------------------------------------------------------------------


def digitize(x: Any, bins: Any, right: bool = False, *, method: str | None = None) -> Any:
    """The index of the bin each value of ``x`` falls in (``numpy.digitize``).

    ``bins`` is monotonically increasing or decreasing (decided by its end points);
    ``right`` says which bin edge is included.

    Example:
      >>> import fxgrad.numpy as fnp
      >>> fnp.digitize(fnp.array([0.5, 1.0, 2.5]), fnp.array([1.0, 2.0, 3.0]))
      Array([0, 1, 2], dtype=int64)
    """
    x, bins = promote_dtypes(asarray_value(x), asarray_value(bins))
    if bins.ndim != 1:
        raise ShapeError(f"fxgrad.numpy.digitize: bins must be 1-D, got shape {tuple(bins.shape)}")
    n = bins.shape[0]
    if n == 0:
        return zeros(x.shape, _INDEX)
    side = "left" if right else "right"
    kwargs = {} if method is None else {"method": method}
    increasing = srt.searchsorted(bins, x, side=side, **kwargs)
    decreasing = n - srt.searchsorted(bins[::-1], x, side=side, **kwargs)
    return uf.where(bins[-1] >= bins[0], increasing, decreasing).astype(_INDEX)


def _bin_edges(a: Any, bins: Any, range_: Any, weights: Any, fn_name: str) -> Any:
    if isinstance(bins, str):
        values = core.concrete_value(a)
        w = None if weights is None else core.concrete_value(weights)
        if values is None or (weights is not None and w is None):
            from fxgrad.errors import ConcretizationError

            raise ConcretizationError(
                f"fxgrad.numpy.{fn_name}: bins={bins!r} chooses the number of bins from the "
                "data, which is traced here (inside jit or vmap). Pass an integer number of "
                "bins or explicit edges instead."
            )
        edges = np.histogram_bin_edges(np.asarray(values), bins, range_, w)
        return asarray_value(edges)
    if np.ndim(bins) == 0:
        count = operator.index(core.concrete_value(bins))
        if count < 1:
            raise ValueError(f"fxgrad.numpy.{fn_name}: bins must be a positive integer")
        (a,) = _inexact(a)
        if range_ is None:
            if a.size == 0:
                lo, hi = asarray_value(0.0, a.dtype), asarray_value(1.0, a.dtype)
            else:
                lo, hi = red.min(a), red.max(a)
        else:
            lo, hi = (asarray_value(v).astype(a.dtype) for v in range_)
            lo_c, hi_c = core.concrete_value(lo), core.concrete_value(hi)
            if lo_c is not None and hi_c is not None and np.asarray(lo_c) > np.asarray(hi_c):
                raise ValueError(f"fxgrad.numpy.{fn_name}: max must be larger than min in range")
        same = lo == hi
        lo, hi = uf.where(same, lo - 0.5, lo), uf.where(same, hi + 0.5, hi)
        return linspace(lo, hi, count + 1)
    edges = asarray_value(bins)
    if edges.ndim != 1:
        raise ShapeError(f"fxgrad.numpy.{fn_name}: bins must be an int, a string or 1-D edges")
    return edges


def histogram_bin_edges(a: Any, bins: Any = 10, range: Any = None, weights: Any = None) -> Any:  # noqa: A002
    """The bin edges ``histogram`` would use (``numpy.histogram_bin_edges``).

    Example:
      >>> import fxgrad.numpy as fnp
      >>> fnp.histogram_bin_edges(fnp.array([0.0, 1.0, 4.0]), bins=4)
      Array([0., 1., 2., 3., 4.], dtype=float64)
    """
    return _bin_edges(shp.ravel(asarray_value(a)), bins, range, weights, "histogram_bin_edges")


def _bin_index(values: Any, edges: Any) -> Any:
    """The bin of each value (``len(edges) - 1`` for values outside every bin)."""
    nbins = edges.shape[0] - 1
    idx = srt.searchsorted(edges, values, side="right") - 1
    idx = uf.where(values == edges[-1], nbins - 1, idx)
    return uf.where((idx >= 0) & (idx < nbins), idx, nbins)


def _counts(index: Any, size: int, weights: Any) -> Any:
    if weights is None:
        return zeros(size, _INDEX).at[index].add(1, mode="drop")
    weights = shp.ravel(asarray_value(weights))
    if weights.shape != index.shape:
        raise ShapeError("fxgrad.numpy.histogram: weights must have the same shape as a")
    return zeros(size, weights.dtype).at[index].add(weights, mode="drop")


def histogram(
    a: Any,
    bins: Any = 10,
    range: Any = None,  # noqa: A002 - NumPy's name
    weights: Any = None,
    density: bool | None = None,
) -> tuple[Any, Any]:
    """The histogram of ``a``: ``(counts, edges)``, as ``numpy.histogram``.

    Bins are half open ``[edge[i], edge[i + 1])`` except the last, which includes its
    right edge; values outside every bin are not counted. With ``density`` the counts
    are normalised to integrate to 1. Counts are int64, or the weights' dtype.

    Example:
      >>> import fxgrad.numpy as fnp
      >>> fnp.histogram(fnp.array([0.0, 1.0, 1.0, 4.0]), bins=4)[0]
      Array([1, 2, 0, 1], dtype=int64)
    """
    a = shp.ravel(asarray_value(a))
    edges = _bin_edges(a, bins, range, weights, "histogram")
    nbins = edges.shape[0] - 1
    counts = _counts(_bin_index(a, edges), nbins, weights)
    if density:
        (counts,) = _inexact(counts)
        widths = (edges[1:] - edges[:-1]).astype(counts.dtype)
        counts = counts / widths / red.sum(counts)
    return counts, edges


def histogramdd(
    sample: Any,
    bins: Any = 10,
    range: Any = None,  # noqa: A002 - NumPy's name
    weights: Any = None,
    density: bool | None = None,
) -> tuple[Any, list[Any]]:
    """The D-dimensional histogram of the ``(N, D)`` ``sample``: ``(counts, [edges...])``.

    Example:
      >>> import fxgrad.numpy as fnp
      >>> fnp.histogramdd(fnp.array([[0.0, 0.0], [1.0, 1.0], [1.0, 0.0]]), bins=2)[0]
      Array([[1., 0.],
             [1., 1.]], dtype=float64)
    """
    if isinstance(sample, (list, tuple)):
        sample = joining.stack([asarray_value(s) for s in sample], axis=-1)
    sample = asarray_value(sample)
    if sample.ndim == 1:
        sample = sample[:, None]
    d = sample.shape[1]
    bins_list = list(bins) if isinstance(bins, (list, tuple)) else [bins] * d
    ranges = list(range) if range is not None else [None] * d
    if len(bins_list) != d or len(ranges) != d:
        raise ValueError(
            "fxgrad.numpy.histogramdd: bins and range need one entry per dimension of sample"
        )
    edges, flat, nbins = [], zeros(sample.shape[0], _INDEX), []
    outside = zeros(sample.shape[0], bool)
    for i in _range(d):
        e = _bin_edges(sample[:, i], bins_list[i], ranges[i], None, "histogramdd")
        idx = _bin_index(sample[:, i], e)
        outside = outside | (idx == e.shape[0] - 1)
        flat = flat * (e.shape[0] - 1) + idx
        edges.append(e)
        nbins.append(e.shape[0] - 1)
    total = int(np.prod(nbins, dtype=np.int64))
    flat = uf.where(outside, total, flat)
    counts = _counts(flat, total, weights)
    (counts,) = _inexact(counts)  # NumPy's histogramdd always returns floats
    counts = counts.reshape(tuple(nbins))
    if density:
        volume = ones((), counts.dtype)
        for i, e in enumerate(edges):
            shape = [1] * d
            shape[i] = nbins[i]
            volume = volume * (e[1:] - e[:-1]).astype(counts.dtype).reshape(tuple(shape))
        counts = counts / volume / red.sum(counts)
    return counts, edges


def histogram2d(
    x: Any,
    y: Any,
    bins: Any = 10,
    range: Any = None,  # noqa: A002 - NumPy's name
    weights: Any = None,
    density: bool | None = None,
) -> tuple[Any, Any, Any]:
    """The 2-D histogram of the points ``(x, y)``: ``(counts, xedges, yedges)``.

    Example:
      >>> import fxgrad.numpy as fnp
      >>> fnp.histogram2d(fnp.array([0.0, 1.0]), fnp.array([0.0, 1.0]), bins=2)[0]
      Array([[1., 0.],
             [0., 1.]], dtype=float64)
    """
    if not isinstance(bins, str) and np.ndim(bins) == 1 and len(bins) != 2:
        bins = [bins, bins]
    elif isinstance(bins, (list, tuple)) and len(bins) != 2:
        bins = [bins, bins]
    x, y = promote_dtypes(asarray_value(x), asarray_value(y))
    counts, edges = histogramdd(joining.stack([x, y], axis=-1), bins, range, weights, density)
    return counts, edges[0], edges[1]


# ---------------------------------------------------------------------------------------------
# Special functions and windows
# ---------------------------------------------------------------------------------------------

_SERIES_TERMS = 45  # the power series of I0, I1 converge to 1e-17 for |x| <= 20
_ASYMPTOTIC_TERMS = 24  # the asymptotic series reaches its smallest term, e**-40, by then
_SERIES_LIMIT = 20.0


def _bessel_series(order: int, x: Any) -> Any:
    """``exp(-|x|) I_order(x)`` from the power series (accurate for ``|x| <= 20``)."""
    q = x * x / 4
    term = ones(x.shape, x.dtype) if order == 0 else x / 2
    total = term
    for k in range(1, _SERIES_TERMS):
        term = term * q / (k * (k + order))
        total = total + term
    return total * uf.exp(-uf.absolute(x))


def _bessel_asymptotic(order: int, x: Any) -> Any:
    """``exp(-|x|) I_order(x)`` from Hankel's expansion (accurate for ``|x| >= 20``)."""
    ax = uf.absolute(x)
    mu = 4.0 * order * order
    term = ones(x.shape, x.dtype)
    total = term
    for k in range(1, _ASYMPTOTIC_TERMS):
        term = -term * (mu - (2 * k - 1) ** 2) / (k * 8.0 * ax)
        total = total + term
    out = total / uf.sqrt(2 * math.pi * ax)
    return out if order == 0 else out * uf.sign(x)


def bessel_ie(order: int, x: Any) -> Any:
    """``exp(-|x|) * I_order(x)`` for order 0 or 1, differentiable (used by ``i0``, ``i0e``)."""
    (x,) = _inexact(x)
    small = uf.absolute(x) <= _SERIES_LIMIT
    x_small = uf.where(small, x, 0.0)
    x_large = uf.where(small, _SERIES_LIMIT + 1, x)
    return uf.where(small, _bessel_series(order, x_small), _bessel_asymptotic(order, x_large))


def i0(x: Any) -> Any:
    """The modified Bessel function of the first kind of order 0 (``numpy.i0``), real ``x``.

    Example:
      >>> import fxgrad.numpy as fnp
      >>> fnp.i0(fnp.array([0.0, 1.0])).round(6)
      Array([1.      , 1.266066], dtype=float64)
    """
    (x,) = _inexact(x)
    if x.dtype.kind == "c":
        raise TypeError("fxgrad.numpy.i0: complex input is not supported")
    small = uf.absolute(x) <= _SERIES_LIMIT
    x_small = uf.where(small, x, 0.0)
    x_large = uf.where(small, _SERIES_LIMIT + 1, x)
    series = _bessel_series(0, x_small) * uf.exp(uf.absolute(x_small))
    # exp(|x| / 2) twice: I0 stays finite up to where it overflows itself, as in NumPy
    half = uf.exp(uf.absolute(x_large) / 2)
    large = _bessel_asymptotic(0, x_large) * half * half
    return uf.where(small, series, large)


def _window(fn_name: str, m: Any) -> int:
    m = core.concrete_value(m)
    if m is None:
        raise TypeError(f"fxgrad.numpy.{fn_name}: the window length M must be a static int")
    return operator.index(int(m)) if np.ndim(m) == 0 else operator.index(m)


def _static_window(fn_name: str, numpy_fn: Callable[[int], np.ndarray], m: Any) -> Any:
    values = numpy_fn(_window(fn_name, m)).astype(dtypes.default_float_dtype())
    return asarray_value(values)


def bartlett(M: int) -> Any:  # noqa: N803 - NumPy's name
    """The Bartlett (triangular) window of length ``M`` (a constant, as ``numpy.bartlett``)."""
    return _static_window("bartlett", np.bartlett, M)


def blackman(M: int) -> Any:  # noqa: N803 - NumPy's name
    """The Blackman window of length ``M`` (``numpy.blackman``)."""
    return _static_window("blackman", np.blackman, M)


def hamming(M: int) -> Any:  # noqa: N803 - NumPy's name
    """The Hamming window of length ``M`` (``numpy.hamming``)."""
    return _static_window("hamming", np.hamming, M)


def hanning(M: int) -> Any:  # noqa: N803 - NumPy's name
    """The Hann window of length ``M`` (``numpy.hanning``)."""
    return _static_window("hanning", np.hanning, M)


def kaiser(M: int, beta: Any) -> Any:  # noqa: N803 - NumPy's name
    """The Kaiser window of length ``M``; differentiable in ``beta`` (``numpy.kaiser``).

    Example:
      >>> import fxgrad.numpy as fnp
      >>> fnp.kaiser(3, 2.0).round(6)
      Array([0.438676, 1.      , 0.438676], dtype=float64)
    """
    m = _window("kaiser", M)
    (beta,) = _inexact(beta)
    if m <= 0:
        return zeros((0,), beta.dtype)
    if m == 1:
        return ones((1,), beta.dtype)
    alpha = (m - 1) / 2.0
    n = np.arange(m, dtype=np.float64)
    ratio = asarray_value(np.sqrt(np.clip(1 - ((n - alpha) / alpha) ** 2, 0, None)), beta.dtype)
    return i0(beta * ratio) / i0(beta)
