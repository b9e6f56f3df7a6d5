"""``fxgrad.scipy.special``: the differentiable special functions of ``scipy.special``.

Names, arguments and edge values follow ``scipy.special`` (and ``jax.scipy.special``);
every function is built from ``fxgrad.numpy``/``fxgrad.lax`` operations, so it works
under ``grad``, ``vmap`` and ``jit``. Notes on the numerics:

- ``logsumexp`` shifts by the (gradient-stopped) maximum; ``-inf`` entries get a zero
  gradient, and an all ``-inf`` reduction gives ``-inf`` with zero (not NaN) gradient.
- ``xlogy``/``xlog1py`` are 0 at ``x == 0`` (even where ``log(y)`` is infinite) and have
  custom derivatives: ``d/dx = log(y)``, ``d/dy = x / y``, taken as 0 at ``x == 0`` so
  gradients stay finite there. ``entr`` is ``-xlogy(x, x)`` (``-inf`` for ``x < 0``).
- ``log_ndtr`` is ``log(ndtr(x))`` for ``x <= 0`` (``erfc`` keeps relative accuracy
  into the lower tail), ``log1p(-ndtr(-x))`` for ``x > 0`` and the asymptotic series
  (``series_order`` terms) below ``x = -37`` (float64; ``-12`` for float32), where
  ``erfc`` would underflow; its derivative is ``exp(log_pdf(x) - log_ndtr(x))``.
- ``ndtri`` is ``sqrt(2) erfinv(2 (p - 1/2))`` for ``|p - 1/2| <= 1/4`` (exact argument,
  relative accuracy near the root); in the tails it starts from Abramowitz & Stegun
  26.2.23 (error < 4.5e-4) and takes three Newton steps on ``log_ndtr(x) = log(p)``,
  which converge quadratically to full precision even for ``p`` near the smallest
  float. Its derivative is ``sqrt(2 pi) exp(x**2 / 2)``.
- ``i0e``/``i1e`` sum the power series for ``|x| <= 20`` and Hankel's asymptotic
  expansion beyond; ``zeta`` is the Hurwitz zeta by Euler-Maclaurin summation.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np

from fxgrad import lax
from fxgrad.core import get_aval
from fxgrad.custom_derivatives import custom_jvp
from fxgrad.lax._special import BERNOULLI_EVEN  # B_2 ... B_24, for the Euler-Maclaurin tail of zeta
from fxgrad.numpy import _misc
from fxgrad.numpy import _reductions as red
from fxgrad.numpy import _shape_ops as shp
from fxgrad.numpy import _ufuncs as uf
from fxgrad.numpy._util import _convert, asarray_value, canonicalize_axes, promote_args_inexact

__all__ = [
    "beta",
    "betaln",
    "digamma",
    "entr",
    "erf",
    "erfc",
    "erfinv",
    "expit",
    "gamma",
    "gammaln",
    "gammasgn",
    "i0",
    "i0e",
    "i1",
    "i1e",
    "log_ndtr",
    "log_softmax",
    "logit",
    "logsumexp",
    "multigammaln",
    "ndtr",
    "ndtri",
    "polygamma",
    "softmax",
    "xlog1py",
    "xlogy",
    "zeta",
]

_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)


def _float(fn_name: str, *args: Any) -> list[Any]:
    """``args`` promoted and broadcast to one floating dtype (integers become float64)."""
    return promote_args_inexact(fn_name, *[asarray_value(a) for a in args])


def _strong(x: Any) -> Any:
    """``x`` strongly typed: JAX's ``ndtr``, ``ndtri`` and ``log_ndtr`` return strong
    arrays even for Python scalars (they compute with arrays of the dtype)."""
    return lax.convert_element_type(x, get_aval(x).dtype)


def _weak_as(out: Any, x: Any) -> Any:
    """``out`` weakly typed when the argument ``x`` is (as JAX's Bessel functions)."""
    if get_aval(asarray_value(x)).weak_type and not get_aval(out).weak_type:
        return _convert(out, get_aval(out).dtype, weak=True)
    return out


# ---------------------------------------------------------------------------------------------
# Reductions: logsumexp, softmax
# ---------------------------------------------------------------------------------------------


def _keep(out: Any, axes: tuple[int, ...], keepdims: bool) -> Any:
    return out if keepdims else shp.squeeze(out, axes) if axes else out


def logsumexp(
    a: Any,
    axis: Any = None,
    b: Any = None,
    keepdims: bool = False,
    return_sign: bool = False,
    where: Any = None,
) -> Any:
    """``log(sum(b * exp(a), axis))``, computed stably (``scipy.special.logsumexp``).

    ``b`` scales the terms (it may be negative: then ``return_sign=True`` returns
    ``(log|s|, sign(s))``, and without it a negative sum gives NaN, as in SciPy);
    ``where`` masks entries out.

    Example:
      >>> import fxgrad.numpy as fnp
      >>> from fxgrad.scipy.special import logsumexp
      >>> logsumexp(fnp.array([1000.0, 1000.0])).round(6)
      Array(1000.693147, dtype=float64)
    """
    if b is None:
        (a,) = _float("logsumexp", a)
    else:
        a, b = _float("logsumexp", a, b)
    axes = canonicalize_axes(axis, a.ndim, "logsumexp")
    if where is not None:
        mask = shp.broadcast_to(asarray_value(where), a.shape)
        a = uf.where(mask, a, -np.inf)
        if b is not None:
            b = uf.where(mask, b, 0)
    amax = red.max(a, axis=axes, keepdims=True) if a.size else a.sum(axis=axes, keepdims=True)
    amax = lax.stop_gradient(uf.where(uf.isfinite(amax), amax, 0))
    terms = uf.exp(a - amax)
    if b is not None:
        terms = terms * b
    total = red.sum(terms, axis=axes, keepdims=True)
    sign = uf.sign(total)
    magnitude = uf.absolute(total) if (return_sign or b is not None) else total
    if b is not None and not return_sign:
        magnitude = uf.where(total < 0, np.nan, magnitude)
    empty = magnitude == 0
    safe = uf.where(empty, 1, magnitude)
    out = uf.where(empty, -np.inf, uf.log(safe) + amax)
    out = _keep(out, axes, keepdims)
    if return_sign:
        return out, _keep(sign, axes, keepdims)
    return out


def _shifted(x: Any, axis: Any, fn_name: str) -> tuple[Any, tuple[int, ...]]:
    (x,) = _float(fn_name, x)
    axes = canonicalize_axes(axis, x.ndim, fn_name)
    xmax = red.max(x, axis=axes, keepdims=True)
    xmax = lax.stop_gradient(uf.where(uf.isfinite(xmax), xmax, 0))
    return x - xmax, axes


def softmax(x: Any, /, *, axis: Any = None) -> Any:
    """``exp(x) / sum(exp(x), axis)`` (``scipy.special.softmax``; all axes by default).

    Example:
      >>> import fxgrad.numpy as fnp
      >>> from fxgrad.scipy.special import softmax
      >>> softmax(fnp.array([0.0, 0.0]))
      Array([0.5, 0.5], dtype=float64)
    """
    shifted, axes = _shifted(x, axis, "softmax")
    unnormalized = uf.exp(shifted)
    return unnormalized / red.sum(unnormalized, axis=axes, keepdims=True)


def log_softmax(x: Any, /, *, axis: Any = None) -> Any:
    """``x - logsumexp(x, axis)`` (``scipy.special.log_softmax``)."""
    shifted, axes = _shifted(x, axis, "log_softmax")
    return shifted - uf.log(red.sum(uf.exp(shifted), axis=axes, keepdims=True))


# ---------------------------------------------------------------------------------------------
# Elementwise functions
# ---------------------------------------------------------------------------------------------


def expit(x: Any) -> Any:
    """The logistic sigmoid ``1 / (1 + exp(-x))``."""
    (x,) = _float("expit", x)
    return lax.logistic(x)


def logit(x: Any) -> Any:
    """``log(x / (1 - x))``: -inf at 0, inf at 1, NaN outside [0, 1]."""
    (x,) = _float("logit", x)
    return uf.log(x) - uf.log1p(-x)


def erf(x: Any) -> Any:
    """The error function."""
    (x,) = _float("erf", x)
    return lax.erf(x)


def erfc(x: Any) -> Any:
    """The complementary error function ``1 - erf(x)`` (accurate for large ``x``)."""
    (x,) = _float("erfc", x)
    return lax.erfc(x)


def erfinv(x: Any) -> Any:
    """The inverse of ``erf`` on [-1, 1] (infinite at the ends, NaN outside)."""
    (x,) = _float("erfinv", x)
    return lax.erf_inv(x)


def gammaln(x: Any) -> Any:
    """``log|Gamma(x)|`` (+inf at the poles)."""
    (x,) = _float("gammaln", x)
    return lax.lgamma(x)


def gammasgn(x: Any) -> Any:
    """The sign of ``Gamma(x)``: 1 for ``x > 0`` (and +0), alternating between the
    negative poles, NaN at the negative integers (as SciPy)."""
    (x,) = _float("gammasgn", x)
    odd = uf.remainder(uf.floor(x), 2) == 1
    sign = uf.where((x > 0) | ((x == 0) & ~uf.signbit(x)), 1.0, uf.where(odd, -1.0, 1.0))
    sign = uf.where((x == 0) & uf.signbit(x), -1.0, sign)
    integer_pole = (x < 0) & (uf.floor(x) == x)
    return uf.where(integer_pole | uf.isnan(x), np.nan, sign).astype(x.dtype)


def gamma(x: Any) -> Any:
    """The gamma function (``inf`` at +0, ``-inf`` at -0, NaN at negative integers)."""
    (x,) = _float("gamma", x)
    return gammasgn(x) * uf.exp(lax.lgamma(x))


def betaln(a: Any, b: Any) -> Any:
    """``log|B(a, b)| = gammaln(a) + gammaln(b) - gammaln(a + b)``."""
    a, b = _float("betaln", a, b)
    return lax.lgamma(a) + lax.lgamma(b) - lax.lgamma(a + b)


def beta(a: Any, b: Any) -> Any:
    """The beta function ``Gamma(a) Gamma(b) / Gamma(a + b)``."""
    a, b = _float("beta", a, b)
    sign = gammasgn(a) * gammasgn(b) * gammasgn(a + b)
    return sign * uf.exp(betaln(a, b))


def digamma(x: Any) -> Any:
    """The digamma function ``d/dx log Gamma(x)``."""
    (x,) = _float("digamma", x)
    return lax.digamma(x)


def polygamma(n: Any, x: Any) -> Any:
    """The ``n``-th derivative of the digamma function (integer ``n >= 0``)."""
    n, x = _float("polygamma", n, x)
    return uf.where(n == 0, lax.digamma(x), lax.polygamma(uf.maximum(n, 1), x))


def multigammaln(a: Any, d: int) -> Any:
    """The log of the multivariate gamma function of dimension ``d``.

    Example:
      >>> from fxgrad.scipy.special import multigammaln
      >>> multigammaln(3.5, 3).round(6)
      Array(3.895898, dtype=float64)
    """
    d = int(d)
    if d < 1:
        raise ValueError(f"fxgrad.scipy.special.multigammaln: d must be a positive int, got {d}")
    (a,) = _float("multigammaln", a)
    total = a * 0 + d * (d - 1) / 4 * math.log(math.pi)
    for j in range(d):
        total = total + lax.lgamma(a - j / 2)
    return total


@custom_jvp
def _xlogy(x: Any, y: Any) -> Any:
    safe_y = uf.where(x == 0, 1, y)
    return uf.where(x == 0, 0, x * uf.log(safe_y))


@_xlogy.defjvp
def _xlogy_jvp(primals, tangents):
    x, y = primals
    x_dot, y_dot = tangents
    safe_y = uf.where(x == 0, 1, y)
    return _xlogy(x, y), x_dot * uf.log(y) + y_dot * uf.where(x == 0, 0, x / safe_y)


def xlogy(x: Any, y: Any) -> Any:
    """``x * log(y)``, and 0 where ``x == 0`` (even for ``y == 0``).

    Example:
      >>> from fxgrad.scipy.special import xlogy
      >>> float(xlogy(0.0, 0.0))
      0.0
    """
    x, y = _float("xlogy", x, y)
    return _xlogy(x, y)


@custom_jvp
def _xlog1py(x: Any, y: Any) -> Any:
    safe_y = uf.where(x == 0, 0, y)
    return uf.where(x == 0, 0, x * uf.log1p(safe_y))


@_xlog1py.defjvp
def _xlog1py_jvp(primals, tangents):
    x, y = primals
    x_dot, y_dot = tangents
    safe_y = uf.where(x == 0, 0, y)
    return _xlog1py(x, y), x_dot * uf.log1p(y) + y_dot * uf.where(x == 0, 0, x / (1 + safe_y))


def xlog1py(x: Any, y: Any) -> Any:
    """``x * log1p(y)``, and 0 where ``x == 0`` (even for ``y == -1``)."""
    x, y = _float("xlog1py", x, y)
    return _xlog1py(x, y)


def entr(x: Any) -> Any:
    """The entropy term ``-x log(x)`` (0 at 0, ``-inf`` for negative ``x``)."""
    (x,) = _float("entr", x)
    safe = uf.where(x < 0, 1, x)
    return uf.where(x < 0, -np.inf, -_xlogy(safe, safe))


# ---------------------------------------------------------------------------------------------
# The normal distribution
# ---------------------------------------------------------------------------------------------


def ndtr(x: Any) -> Any:
    """The standard normal CDF ``(1 + erf(x / sqrt(2))) / 2``, accurate in both tails."""
    (x,) = _float("ndtr", x)
    z = x / math.sqrt(2)
    upper = 1 - 0.5 * lax.erfc(uf.where(z > 0, z, 0))
    lower = 0.5 * lax.erfc(uf.where(z > 0, 0, -z))
    return _strong(uf.where(z > 0, upper, lower))


def _log_ndtr_lower(dtype: np.dtype) -> float:
    """Below this, ``erfc`` would lose precision to underflow: use the asymptotic series."""
    return -37.0 if dtype == np.float64 else -12.0


def _log_ndtr_asymptotic(x: Any, series_order: int) -> Any:
    """``log(ndtr(x))`` for very negative ``x`` from the asymptotic series of ``erfc``."""
    x2 = x * x
    total = x * 0 + 1
    term = x * 0 + 1
    for n in range(1, series_order + 1):
        term = -term * (2 * n - 1) / x2
        total = total + term
    return -0.5 * x2 - uf.log(-x) - _LOG_SQRT_2PI + uf.log(total)


def _log_ndtr_value(x: Any, series_order: int) -> Any:
    lower = _log_ndtr_lower(x.dtype)
    middle = uf.clip(x, lower, 0.0)
    tail_low = uf.minimum(x, lower)
    positive = uf.maximum(x, 0.0)
    mid_value = uf.log(ndtr(middle))
    low_value = _log_ndtr_asymptotic(tail_low, series_order)
    # log(1 - ndtr(-x)) with ndtr(-x) accurate: keeps relative accuracy as x grows
    high_value = uf.log1p(-ndtr(-positive))
    return uf.where(x < lower, low_value, uf.where(x > 0, high_value, mid_value))


@functools.partial(custom_jvp, nondiff_argnums=(1,))
def _log_ndtr(x: Any, series_order: int) -> Any:
    return _log_ndtr_value(x, series_order)


@_log_ndtr.defjvp
def _log_ndtr_jvp(series_order, primals, tangents):
    (x,), (x_dot,) = primals, tangents
    out = _log_ndtr(x, series_order)
    slope = uf.exp(-0.5 * x * x - _LOG_SQRT_2PI - out)
    return out, x_dot * slope


def log_ndtr(x: Any, series_order: int = 3) -> Any:
    """``log(ndtr(x))``, accurate for very negative ``x`` (``scipy.special.log_ndtr``).

    Example:
      >>> from fxgrad.scipy.special import log_ndtr
      >>> log_ndtr(-40.0).round(4)
      Array(-804.6084, dtype=float64)
    """
    series_order = int(series_order)
    if not 0 <= series_order <= 30:
        raise ValueError("fxgrad.scipy.special.log_ndtr: series_order must be in [0, 30]")
    (x,) = _float("log_ndtr", x)
    return _strong(_log_ndtr(x, series_order))


def _ndtri_guess(q: Any) -> Any:
    """Abramowitz & Stegun 26.2.23 for ``0 < q <= 1/2`` (absolute error < 4.5e-4)."""
    t = uf.sqrt(-2.0 * uf.log(q))
    num = 2.515517 + t * (0.802853 + t * 0.010328)
    den = 1.0 + t * (1.432788 + t * (0.189269 + t * 0.001308))
    return -(t - num / den)


_NDTRI_SERIES_ORDER = 10  # asymptotic terms: exact to rounding below x = -37


@custom_jvp
def _ndtri(p: Any) -> Any:
    # centre: erf_inv of 2 (p - 1/2), exact for p in [1/4, 3/4], keeps relative accuracy
    # near the root at 1/2; tails: Newton steps on log_ndtr(x) = log(min(p, 1 - p)).
    central = uf.absolute(p - 0.5) <= 0.25
    centre = math.sqrt(2) * lax.erf_inv(2 * uf.where(central, p - 0.5, 0.0))
    q = uf.where(p > 0.5, 1 - p, p)
    inside = (q > 0) & (p < 1) & (p > 0) & ~central
    safe_q = uf.where(inside, q, 0.1)
    log_q = uf.log(safe_q)
    x = _ndtri_guess(safe_q)
    for _ in range(3):  # error 4.5e-4 -> 4e-6 -> 3e-10 -> 1e-18 (worst case, x = -37)
        value = _log_ndtr_value(x, _NDTRI_SERIES_ORDER)
        slope = uf.exp(-0.5 * x * x - _LOG_SQRT_2PI - value)
        x = x - (value - log_q) / slope
    x = uf.where(p > 0.5, -x, x)
    x = uf.where(central, centre, x)
    x = uf.where(p == 0, -np.inf, uf.where(p == 1, np.inf, x))
    return uf.where((p < 0) | (p > 1) | uf.isnan(p), np.nan, x)


@_ndtri.defjvp
def _ndtri_jvp(primals, tangents):
    (p,), (p_dot,) = primals, tangents
    x = _ndtri(p)
    return x, p_dot * uf.exp(0.5 * x * x + _LOG_SQRT_2PI)


def ndtri(p: Any) -> Any:
    """The inverse of ``ndtr``: the standard normal quantile of ``p``.

    Example:
      >>> from fxgrad.scipy.special import ndtri
      >>> ndtri(0.975).round(6)
      Array(1.959964, dtype=float64)
    """
    (p,) = _float("ndtri", p)
    return _strong(_ndtri(p))


# ---------------------------------------------------------------------------------------------
# Bessel and zeta functions
# ---------------------------------------------------------------------------------------------


def i0e(x: Any) -> Any:
    """The exponentially scaled modified Bessel function ``exp(-|x|) I0(x)``."""
    return _weak_as(_misc.bessel_ie(0, x), x)


def i1e(x: Any) -> Any:
    """The exponentially scaled modified Bessel function ``exp(-|x|) I1(x)``."""
    return _weak_as(_misc.bessel_ie(1, x), x)


def i0(x: Any) -> Any:
    """The modified Bessel function of the first kind of order 0."""
    return _weak_as(_misc.i0(x), x)


def i1(x: Any) -> Any:
    """The modified Bessel function of the first kind of order 1."""
    (x,) = _float("i1", x)
    half = uf.exp(uf.absolute(x) / 2)
    return _weak_as(_misc.bessel_ie(1, x) * half * half, x)


_ZETA_TERMS = 12  # direct terms before the Euler-Maclaurin correction


def zeta(x: Any, q: Any = None) -> Any:
    """The Hurwitz zeta function ``sum((k + q) ** -x for k >= 0)`` (Riemann's for ``q=1``).

    Defined for ``x > 1`` (``inf`` at 1, NaN below) and ``q > 0``; differentiable in
    both arguments.

    Example:
      >>> from fxgrad.scipy.special import zeta
      >>> round(float(zeta(2.0)), 10)
      1.6449340668
    """
    x, q = _float("zeta", x, 1.0 if q is None else q)
    ok = (x > 1) & (q > 0)
    s = uf.where(ok, x, 2.0)
    a = uf.where(ok, q, 1.0)
    total = s * 0
    for k in range(_ZETA_TERMS):
        total = total + (a + k) ** -s
    n = a + _ZETA_TERMS
    total = total + n ** (1 - s) / (s - 1) + 0.5 * n**-s
    factor = s * n ** (-s - 1)  # s (s+1) ... (s+2j-2) n^(-s-2j+1) / (2j)!, j = 1
    for j, b2j in enumerate(BERNOULLI_EVEN, start=1):
        total = total + b2j / math.factorial(2 * j) * factor
        factor = factor * (s + 2 * j - 1) * (s + 2 * j) / (n * n)
    total = uf.where(ok, total, np.nan)
    return uf.where((x == 1) & (q > 0), np.inf, total)
