"""The normal distribution, as ``jax.scipy.stats.norm``: ``pdf``, ``cdf``, ``ppf``, ...

Every function takes ``loc`` (mean) and ``scale`` (standard deviation), broadcasts them
against its first argument and is differentiable in all three. The tails use
``log_ndtr`` and ``ndtri`` from ``fxgrad.scipy.special``, so ``logcdf`` and ``ppf``
stay accurate far from the mean.

>>> from fxgrad.scipy.stats import norm
>>> norm.cdf(1.96).round(4)
Array(0.975, dtype=float64)
"""

from __future__ import annotations

import math
from typing import Any

from fxgrad.numpy import _ufuncs as uf
from fxgrad.numpy._util import asarray_value, promote_args_inexact
from fxgrad.scipy import special

__all__ = ["cdf", "isf", "logcdf", "logpdf", "logsf", "pdf", "ppf", "sf"]

_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)


def _standardize(fn_name: str, x: Any, loc: Any, scale: Any) -> tuple[Any, Any]:
    x, loc, scale = promote_args_inexact(
        f"scipy.stats.norm.{fn_name}", asarray_value(x), asarray_value(loc), asarray_value(scale)
    )
    return (x - loc) / scale, scale


def logpdf(x: Any, loc: Any = 0, scale: Any = 1) -> Any:
    """``log`` of the normal density at ``x``."""
    z, scale = _standardize("logpdf", x, loc, scale)
    return -0.5 * z * z - _LOG_SQRT_2PI - uf.log(scale)


def pdf(x: Any, loc: Any = 0, scale: Any = 1) -> Any:
    """The normal density at ``x``.

    >>> from fxgrad.scipy.stats import norm
    >>> norm.pdf(0.0).round(6)
    Array(0.398942, dtype=float64)
    """
    return uf.exp(logpdf(x, loc, scale))


def cdf(x: Any, loc: Any = 0, scale: Any = 1) -> Any:
    """The probability of a value at most ``x``."""
    z, _ = _standardize("cdf", x, loc, scale)
    return special.ndtr(z)


def logcdf(x: Any, loc: Any = 0, scale: Any = 1) -> Any:
    """``log(cdf(x))``, accurate in the lower tail."""
    z, _ = _standardize("logcdf", x, loc, scale)
    return special.log_ndtr(z)


def sf(x: Any, loc: Any = 0, scale: Any = 1) -> Any:
    """The survival function ``1 - cdf(x)``, accurate in the upper tail."""
    z, _ = _standardize("sf", x, loc, scale)
    return special.ndtr(-z)


def logsf(x: Any, loc: Any = 0, scale: Any = 1) -> Any:
    """``log(sf(x))``."""
    z, _ = _standardize("logsf", x, loc, scale)
    return special.log_ndtr(-z)


def ppf(q: Any, loc: Any = 0, scale: Any = 1) -> Any:
    """The quantile function, the inverse of ``cdf``.

    >>> from fxgrad.scipy.stats import norm
    >>> norm.ppf(0.5, loc=3.0)
    Array(3., dtype=float64)
    """
    q, loc, scale = promote_args_inexact(
        "scipy.stats.norm.ppf", asarray_value(q), asarray_value(loc), asarray_value(scale)
    )
    return loc + scale * special.ndtri(q)


def isf(q: Any, loc: Any = 0, scale: Any = 1) -> Any:
    """The inverse of ``sf``: ``ppf(1 - q)``, computed without the cancellation."""
    q, loc, scale = promote_args_inexact(
        "scipy.stats.norm.isf", asarray_value(q), asarray_value(loc), asarray_value(scale)
    )
    return loc - scale * special.ndtri(q)
