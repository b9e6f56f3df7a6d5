"""Continuous distributions of ``fxgrad.random`` from uniform and normal draws.

Each sampler is JAX's algorithm step for step (``jax.random`` 0.10, threefry keys,
``jax_enable_x64``): the same bits, the same transformation, the same order of
operations. Those made of IEEE arithmetic and ``sqrt`` alone (``triangular``) return
JAX's values bit for bit; those that go through ``erf_inv``, ``log``, ``tan``, ``pow``...
agree to rounding, because XLA's implementations of these functions are not NumPy's
(docs/random.md says by how much). The Gamma family is in ``_random_gamma.py``.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import Any

import numpy as np

from fxgrad import dtypes
from fxgrad._random_util import (
    asarray,
    check_safe_cast,
    const,
    convert,
    float_dtype,
    full,
    promote_inexact,
    resolve_shape,
    shape_arg,
    shape_of,
    uniform_range,
)
from fxgrad.core import get_aval
from fxgrad.errors import ShapeError
from fxgrad.lax import elementwise as ew
from fxgrad.lax.random_bits import (
    check_key,
    random_split,
    split_in_two,
    standard_normal,
    unit_floats,
)
from fxgrad.lax.reduction import reduce_sum
from fxgrad.lax.shape import broadcast_to_shape
from fxgrad.lax.slicing import index_in_dim

__all__ = [
    "cauchy",
    "exponential",
    "gumbel",
    "laplace",
    "logistic",
    "lognormal",
    "maxwell",
    "multivariate_normal",
    "normal",
    "orthogonal",
    "pareto",
    "rayleigh",
    "triangular",
    "truncated_normal",
    "wald",
    "weibull_min",
]

# ---------------------------------------------------------------------------------------
# Normal family
# ---------------------------------------------------------------------------------------


def normal(key: Any, shape: Sequence[int] = (), dtype: Any = None) -> Any:
    """Standard normal samples: ``sqrt(2) * erf_inv(u)`` for ``u`` uniform in (-1, 1).

    Complex dtypes give a standard complex normal (real and imaginary parts of variance
    1/2), as in JAX. Values match JAX's to a few ulps (``erf_inv`` differs in rounding).

    Example:
      >>> import fxgrad
      >>> x = fxgrad.random.normal(fxgrad.random.key(0), (1000,))
      >>> bool(abs(float(x.mean())) < 0.1)
      True
    """
    key = check_key("normal", key)
    dtype = float_dtype("normal", dtype, allow_complex=True)
    shape = shape_arg("normal", shape)
    if dtype.kind != "c":
        return standard_normal(key, shape, dtype)
    real = dtypes.real_dtype(dtype)
    key_re, key_im = random_split(key, (2,))
    scale = full(1.0 / np.sqrt(2.0), real, shape)
    re = ew.mul(standard_normal(key_re, shape, real), scale)
    im = ew.mul(standard_normal(key_im, shape, real), scale)
    return ew.complex(re, im)


def truncated_normal(
    key: Any, lower: Any, upper: Any, shape: Sequence[int] | None = None, dtype: Any = None
) -> Any:
    """Standard normal samples truncated to the open interval ``(lower, upper)``.

    Differentiable in ``lower`` and ``upper`` (through ``erf`` and ``erf_inv``).
    """
    key = check_key("truncated_normal", key)
    dtype = float_dtype("truncated_normal", dtype)
    shape = resolve_shape("truncated_normal", shape, shape_of(lower), shape_of(upper))
    sqrt2 = const(np.sqrt(2.0), dtype)
    lower = broadcast_to_shape(ew.convert_element_type(asarray(lower), dtype), shape)
    upper = broadcast_to_shape(ew.convert_element_type(asarray(upper), dtype), shape)
    a = ew.erf(ew.div(lower, sqrt2))
    b = ew.erf(ew.div(upper, sqrt2))
    u = uniform_range(key, shape, dtype, a, b)
    out = ew.mul(sqrt2, ew.erf_inv(u))
    lo = ew.nextafter(ew.stop_gradient(lower), full(np.inf, dtype, shape))
    hi = ew.nextafter(ew.stop_gradient(upper), full(-np.inf, dtype, shape))
    return ew.min(hi, ew.max(lo, out))


def multivariate_normal(
    key: Any,
    mean: Any,
    cov: Any,
    shape: Sequence[int] | None = None,
    dtype: Any = None,
    method: str = "cholesky",
) -> Any:
    """Samples of a multivariate normal: ``mean + factor @ normal(...)``, ``cov = F F^T``.

    Args:
      key: a PRNG key.
      mean: shape ``(..., n)``.
      cov: a positive definite covariance of shape ``(..., n, n)``.
      shape: the batch shape of the result (default: the broadcast batch shapes of
        ``mean`` and ``cov``).
      dtype: a float dtype (default: that of ``mean``/``cov``).
      method: how to factor ``cov``: ``"cholesky"`` (default), or ``"eigh"`` or ``"svd"``
        for a singular covariance.

    Returns:
      An array of shape ``shape + mean.shape[-1:]``.
    """
    from fxgrad.numpy import add, einsum

    key = check_key("multivariate_normal", key)
    if method not in ("svd", "eigh", "cholesky"):
        raise ValueError(
            f"multivariate_normal: method must be 'svd', 'eigh' or 'cholesky', got {method!r}"
        )
    mean, cov = promote_inexact(mean, cov)
    dtype = get_aval(mean).dtype if dtype is None else dtype
    dtype = float_dtype("multivariate_normal", dtype)
    mean_shape, cov_shape = shape_of(mean), shape_of(cov)
    if len(mean_shape) < 1 or len(cov_shape) < 2 or cov_shape[-2:] != mean_shape[-1:] * 2:
        raise ShapeError(
            "fxgrad.random.multivariate_normal: mean must have shape (..., n) and cov shape "
            f"(..., n, n); got mean {mean_shape} and cov {cov_shape}."
        )
    batch = (mean_shape[:-1], cov_shape[:-2])
    shape = resolve_shape("multivariate_normal", shape, *batch)
    factor = _covariance_factor(cov, method)
    samples = standard_normal(key, shape + mean_shape[-1:], dtype)
    return add(mean, einsum("...ij,...j->...i", factor, samples))


def _covariance_factor(cov: Any, method: str) -> Any:
    """``F`` with ``F @ F^T == cov``, by the decomposition ``method`` names (as JAX)."""
    from fxgrad.numpy import linalg, sqrt

    if method == "cholesky":
        return linalg.cholesky(cov)
    if method == "eigh":
        w, v = linalg.eigh(cov)
        return v * sqrt(w[..., None, :])
    u, s, _ = linalg.svd(cov)
    return u * sqrt(s[..., None, :])


def orthogonal(
    key: Any, n: int, shape: Sequence[int] = (), dtype: Any = None, m: int | None = None
) -> Any:
    """A random matrix of shape ``(*shape, n, m)`` with orthonormal rows or columns.

    Uniform (Haar) on the orthogonal group O(n) for ``m = n`` (the default): the QR
    decomposition of a normal matrix with the signs of R's diagonal moved into Q
    (Mezzadri, 2007, https://arxiv.org/abs/math-ph/0609050), as in JAX.
    """
    from fxgrad.numpy import linalg, sign, swapaxes

    key = check_key("orthogonal", key)
    dtype = float_dtype("orthogonal", dtype, allow_complex=True)
    shape = shape_arg("orthogonal", shape)
    n = operator.index(n)
    m = n if m is None else operator.index(m)
    z = normal(key, (*shape, max(n, m), min(n, m)), dtype)
    q, r = linalg.qr(z)
    x = q * sign(linalg.diagonal(r))[..., None, :]
    return swapaxes(x, -1, -2) if n < m else x


# ---------------------------------------------------------------------------------------
# Distributions from uniform floats through logarithms
# ---------------------------------------------------------------------------------------


def _gumbel(key: Any, shape: tuple[int, ...], dtype: np.dtype, mode: str) -> Any:
    finfo = np.finfo(dtype)
    if mode == "low":
        u = uniform_range(key, shape, dtype, float(finfo.tiny), 1.0)
        return ew.neg(ew.log(ew.neg(ew.log(u))))
    u = unit_floats(key, (2, *shape), dtype)
    high = index_in_dim(u, 0, 0, keepdims=False)
    low = index_in_dim(u, 1, 0, keepdims=False)
    # 2**-nmant * low is exact, so contracting this sum to an FMA (XLA) changes nothing
    refined = ew.add(
        ew.add(high, ew.mul(const(2.0**-finfo.nmant, dtype), low)), const(finfo.tiny, dtype)
    )
    x = ew.select(ew.ge(high, const(0.5, dtype)), high, refined)
    return ew.neg(ew.log(ew.neg(ew.log1p(ew.neg(x)))))


def gumbel(key: Any, shape: Sequence[int] = (), dtype: Any = None, mode: str | None = None):
    """Standard Gumbel samples ``-log(-log(u))``; ``mode="high"`` uses twice the bits."""
    key = check_key("gumbel", key)
    dtype = float_dtype("gumbel", dtype)
    mode = "low" if mode is None else mode
    if mode == "highest":
        raise NotImplementedError("fxgrad.random.gumbel: mode='highest' is not implemented")
    if mode not in ("high", "low"):
        raise ValueError(f"fxgrad.random.gumbel: mode must be 'low' or 'high', got {mode!r}")
    return _gumbel(key, shape_arg("gumbel", shape), dtype, mode)


def exponential(key: Any, shape: Sequence[int] = (), dtype: Any = None) -> Any:
    """Exponential(1) samples ``-log1p(-u)``."""
    key = check_key("exponential", key)
    dtype = float_dtype("exponential", dtype)
    u = unit_floats(key, shape_arg("exponential", shape), dtype)
    return ew.neg(ew.log1p(ew.neg(u)))


def laplace(key: Any, shape: Sequence[int] = (), dtype: Any = None) -> Any:
    """Laplace(0, 1) samples ``sign(u) * log1p(-|u|)`` for ``u`` uniform in (-1, 1)."""
    key = check_key("laplace", key)
    dtype = float_dtype("laplace", dtype)
    low = -1.0 + float(np.finfo(dtype).epsneg)
    u = uniform_range(key, shape_arg("laplace", shape), dtype, low, 1.0)
    return ew.mul(ew.sign(u), ew.log1p(ew.neg(ew.abs(u))))


def logistic(key: Any, shape: Sequence[int] = (), dtype: Any = None) -> Any:
    """Standard logistic samples ``log(u) - log1p(-u)``."""
    key = check_key("logistic", key)
    dtype = float_dtype("logistic", dtype)
    u = uniform_range(key, shape_arg("logistic", shape), dtype, float(np.finfo(dtype).tiny), 1.0)
    return ew.sub(ew.log(u), ew.log1p(ew.neg(u)))


# ---------------------------------------------------------------------------------------
# Transformations of one uniform or normal draw
# ---------------------------------------------------------------------------------------


def cauchy(key: Any, shape: Sequence[int] = (), dtype: Any = None) -> Any:
    """Standard Cauchy samples ``tan(pi * (u - 1/2))``, ``u`` uniform in ``[eps, 1)``.

    Equal to ``jax.random.cauchy`` up to rounding (XLA's ``tan`` is not NumPy's).

    Example:
      >>> import fxgrad
      >>> x = fxgrad.random.cauchy(fxgrad.random.key(0), (1001,))
      >>> bool(abs(float(fxgrad.numpy.median(x))) < 0.2)
      True
    """
    key = check_key("cauchy", key)
    dtype = float_dtype("cauchy", dtype)
    u = uniform_range(key, shape_arg("cauchy", shape), dtype, float(np.finfo(dtype).eps), 1.0)
    return ew.tan(ew.mul(const(np.pi, dtype), ew.sub(u, const(0.5, dtype))))


_ONE_FLOAT32 = np.float32(1)  # JAX's default sigma (a strongly typed float32 1)


def lognormal(
    key: Any, sigma: Any = _ONE_FLOAT32, shape: Sequence[int] | None = None, dtype: Any = None
) -> Any:
    """Log-normal samples ``exp(sigma * z)`` for standard normal ``z`` (complex dtypes too).

    ``sigma`` (differentiable) must broadcast to ``shape``; the default shape is its
    shape. Equal to ``jax.random.lognormal`` up to rounding (``erf_inv``, ``exp``).
    """
    key = check_key("lognormal", key)
    dtype = float_dtype("lognormal", dtype, allow_complex=True)
    shape = resolve_shape("lognormal", shape, shape_of(sigma))
    check_safe_cast("lognormal", dtype, sigma)
    sigma = broadcast_to_shape(convert(sigma, dtype), shape)
    return ew.exp(ew.mul(normal(key, shape, dtype), sigma))


def pareto(key: Any, b: Any, shape: Sequence[int] | None = None, dtype: Any = None) -> Any:
    """Pareto(b) samples on ``[1, inf)``: ``exp(e / b)`` for standard exponential ``e``.

    Differentiable in ``b``. Equal to ``jax.random.pareto`` up to rounding (``log1p``,
    ``exp``).
    """
    key = check_key("pareto", key)
    dtype = float_dtype("pareto", dtype)
    shape = resolve_shape("pareto", shape, shape_of(b))
    check_safe_cast("pareto", dtype, b)
    b = broadcast_to_shape(convert(b, dtype), shape)
    return ew.exp(ew.div(exponential(key, shape, dtype), b))


def weibull_min(
    key: Any, scale: Any, concentration: Any, shape: Sequence[int] = (), dtype: Any = None
) -> Any:
    """Weibull samples ``scale * (-log1p(-u)) ** (1 / concentration)`` (the inverse CDF).

    As in JAX, ``shape`` is the shape of the uniform draws and the parameters broadcast
    against it with NumPy's promotion (an array parameter may widen the shape or the
    dtype). Differentiable in both parameters; equal to JAX's up to rounding.
    """
    import fxgrad.numpy as fnp

    key = check_key("weibull_min", key)
    dtype = float_dtype("weibull_min", dtype)
    u = uniform_range(key, shape_arg("weibull_min", shape), dtype, 0.0, 1.0)
    exponent = fnp.true_divide(1.0, concentration)
    return fnp.multiply(fnp.power(ew.neg(ew.log1p(ew.neg(u))), exponent), scale)


def rayleigh(key: Any, scale: Any, shape: Sequence[int] | None = None, dtype: Any = None) -> Any:
    """Rayleigh samples ``scale * sqrt(-2 log(u))``; differentiable in ``scale``.

    Equal to ``jax.random.rayleigh`` up to rounding (``log``).
    """
    key = check_key("rayleigh", key)
    dtype = float_dtype("rayleigh", dtype)
    shape = resolve_shape("rayleigh", shape, shape_of(scale))
    check_safe_cast("rayleigh", dtype, scale)
    u = unit_floats(key, shape, dtype)
    scale = broadcast_to_shape(convert(scale, dtype), shape)
    return ew.mul(scale, ew.sqrt(ew.mul(ew.log(u), full(-2.0, dtype, shape))))


def maxwell(key: Any, shape: Sequence[int] = (), dtype: Any = None) -> Any:
    """One-sided Maxwell samples: the Euclidean norm of three standard normals.

    Equal to ``jax.random.maxwell`` up to rounding (``erf_inv``, the order of the sum).
    """
    key = check_key("maxwell", key)
    dtype = float_dtype("maxwell", dtype)
    shape = shape_arg("maxwell", shape)
    z = normal(key, (*shape, 3), dtype)
    return ew.sqrt(reduce_sum(ew.mul(z, z), (len(shape),)))


def triangular(
    key: Any,
    left: Any,
    mode: Any,
    right: Any,
    shape: Sequence[int] | None = None,
    dtype: Any = None,
) -> Any:
    """Triangular samples on ``[left, right]`` peaking at ``mode``, by the inverse CDF.

    Built from uniform bits with IEEE arithmetic and ``sqrt`` (correctly rounded), so it
    is bit-identical to ``jax.random.triangular``. Differentiable in the three bounds.
    """
    key = check_key("triangular", key)
    dtype = float_dtype("triangular", dtype)
    shape = resolve_shape("triangular", shape, *(shape_of(x) for x in (left, mode, right)))
    check_safe_cast("triangular", dtype, left, mode, right)
    left, mode, right = (broadcast_to_shape(convert(x, dtype), shape) for x in (left, mode, right))
    width = ew.sub(right, left)
    below = ew.sub(mode, left)
    u = unit_floats(key, shape, dtype)
    out_low = ew.add(left, ew.sqrt(ew.mul(ew.mul(u, width), below)))
    one_minus_u = ew.sub(full(1.0, dtype, shape), u)
    out_high = ew.sub(right, ew.sqrt(ew.mul(ew.mul(one_minus_u, width), ew.sub(right, mode))))
    return ew.select(ew.lt(u, ew.div(below, width)), out_low, out_high)


def wald(key: Any, mean: Any, shape: Sequence[int] | None = None, dtype: Any = None) -> Any:
    """Wald (inverse Gaussian) samples of mean ``mean`` and shape 1.

    Michael, Schucany and Haas, "Generating random variates using transformations with
    multiple roots" (1976), https://doi.org/10.2307/2683801: a root of a quadratic in a
    squared normal draw, chosen by a uniform draw. Equal to ``jax.random.wald`` up to
    rounding (``erf_inv``, and XLA's fused multiply-adds). Differentiable in ``mean``.
    """
    key = check_key("wald", key)
    dtype = float_dtype("wald", dtype)
    shape = resolve_shape("wald", shape, shape_of(mean))
    check_safe_cast("wald", dtype, mean)
    key_v, key_z = split_in_two(key)
    mean = broadcast_to_shape(convert(mean, dtype), shape)
    v = normal(key_v, shape, dtype)
    z = unit_floats(key_z, shape, dtype)
    y = ew.integer_pow(v, 2)
    mean_sq = ew.integer_pow(mean, 2)
    four, half = full(4.0, dtype, shape), full(0.5, dtype, shape)
    sqrt_term = ew.sqrt(
        ew.add(ew.mul(ew.mul(four, mean), y), ew.mul(mean_sq, ew.integer_pow(y, 2)))
    )
    x = ew.sub(
        ew.add(mean, ew.mul(ew.mul(mean_sq, y), half)), ew.mul(ew.mul(mean, half), sqrt_term)
    )
    accept_x = ew.le(z, ew.div(mean, ew.add(mean, x)))
    return ew.select(accept_x, x, ew.div(mean_sq, x))
