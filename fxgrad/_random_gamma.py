"""The Gamma family of ``fxgrad.random``, and the distributions built from it.

Gamma samples use Marsaglia and Tsang's rejection method with one key per element
(``gamma_one`` in ``fxgrad/lax/random_bits.py``), exactly as JAX draws them, and are
differentiable in the shape parameter by implicit reparameterisation (Figurnov, Mohamed
and Mnih, 2018, https://arxiv.org/abs/1805.08498). Beta, Dirichlet, chi-square, F,
Student's t and the generalized normal are JAX's compositions of them; ``ball`` and
``double_sided_maxwell`` add exponential draws and random signs. All go through ``log``,
``lgamma`` or ``pow``, so they agree with JAX to rounding rather than bit for bit.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from typing import Any

import numpy as np

from fxgrad._random_continuous import exponential, maxwell, normal
from fxgrad._random_discrete import rademacher
from fxgrad._random_util import (
    asarray,
    broadcast_shape,
    check_safe_cast,
    const,
    convert,
    float_dtype,
    full,
    is_python_number,
    resolve_shape,
    shape_arg,
    shape_of,
)
from fxgrad.custom_derivatives import custom_jvp
from fxgrad.errors import ShapeError
from fxgrad.lax import elementwise as ew
from fxgrad.lax.random_bits import (
    check_key,
    gamma_one,
    gamma_sample_grad,
    random_split,
    split_in_two,
)
from fxgrad.lax.reduction import reduce_max, reduce_sum
from fxgrad.lax.shape import broadcast_to_shape, expand_dims, reshape

__all__ = [
    "ball",
    "beta",
    "chisquare",
    "dirichlet",
    "double_sided_maxwell",
    "f",
    "gamma",
    "generalized_normal",
    "loggamma",
    "t",
]


def _gamma_samples(key: Any, a: Any, log_space: bool) -> Any:
    """``gamma_one`` over every element of ``a``, with keys ``split(key, a.size)``."""
    if math.prod(shape_of(a)) == 0:
        return ew.mul(a, 0.0)
    return _gamma_sampler(key, a, log_space)


def _gamma_sampler_impl(key: Any, a: Any, log_space: bool) -> Any:
    from fxgrad.api import vmap

    shape = shape_of(a)
    size = math.prod(shape)
    keys = random_split(key, (size,))
    samples = vmap(lambda k, alpha: gamma_one(k, alpha, log_space))(keys, reshape(a, (size,)))
    return reshape(samples, shape)


_gamma_sampler = custom_jvp(_gamma_sampler_impl, nondiff_argnums=(2,))


@_gamma_sampler.defjvp
def _gamma_sampler_jvp(log_space, primals, tangents):
    """Implicit reparameterisation: ``dx/da`` at a fixed CDF value (as JAX)."""
    key, a = primals
    out = _gamma_sampler(key, a, log_space)
    x = ew.stop_gradient(out)
    if log_space:  # d log(x) = dx / x; where exp(log x) rounds to 0, x is the tiniest float
        x = ew.exp(x)
        tiny = full(np.finfo(x.dtype).tiny, x.dtype, x.shape)
        x = ew.select(ew.eq(x, ew.mul(tiny, 0.0)), tiny, x)
    dx_da = gamma_sample_grad(ew.stop_gradient(a), x)
    return out, ew.mul(tangents[1], ew.div(dx_da, x) if log_space else dx_da)


def _gamma(name: str, key: Any, a: Any, shape: Any, dtype: Any, log_space: bool) -> Any:
    key = check_key(name, key)
    dtype = float_dtype(name, dtype)
    a = asarray(a)
    shape = resolve_shape(name, shape, shape_of(a))
    a = broadcast_to_shape(ew.convert_element_type(a, dtype), shape)
    return _gamma_samples(key, a, log_space)


def gamma(key: Any, a: Any, shape: Sequence[int] | None = None, dtype: Any = None) -> Any:
    """Gamma(a, 1) samples, by Marsaglia and Tsang's method (one key per element).

    Differentiable in ``a`` by implicit reparameterisation, as in JAX: the derivative of
    a sample at a fixed value of its CDF (first order only: the derivative's own series
    runs in a ``while_loop``).
    """
    return _gamma("gamma", key, a, shape, dtype, log_space=False)


def loggamma(key: Any, a: Any, shape: Sequence[int] | None = None, dtype: Any = None) -> Any:
    """``log`` of Gamma(a, 1) samples, computed in log space (accurate for tiny ``a``)."""
    return _gamma("loggamma", key, a, shape, dtype, log_space=True)


def beta(key: Any, a: Any, b: Any, shape: Sequence[int] | None = None, dtype: Any = None) -> Any:
    """Beta(a, b) samples from two log-space Gamma samples."""
    key = check_key("beta", key)
    dtype = float_dtype("beta", dtype)
    shape = resolve_shape("beta", shape, shape_of(a), shape_of(b))
    key_a, key_b = split_in_two(key)
    a = broadcast_to_shape(ew.convert_element_type(asarray(a), dtype), shape)
    b = broadcast_to_shape(ew.convert_element_type(asarray(b), dtype), shape)
    log_a = _gamma_samples(key_a, a, log_space=True)
    log_b = _gamma_samples(key_b, b, log_space=True)
    log_max = ew.max(log_a, log_b)
    scaled_a = ew.exp(ew.sub(log_a, log_max))
    scaled_b = ew.exp(ew.sub(log_b, log_max))
    return ew.div(scaled_a, ew.add(scaled_a, scaled_b))


def dirichlet(key: Any, alpha: Any, shape: Sequence[int] | None = None, dtype: Any = None):
    """Dirichlet(alpha) samples (``alpha`` of shape ``(..., k)``): normalised Gamma samples."""
    key = check_key("dirichlet", key)
    dtype = float_dtype("dirichlet", dtype)
    alpha = asarray(alpha)
    ashape = shape_of(alpha)
    if not ashape:
        raise ShapeError("fxgrad.random.dirichlet: alpha must have rank >= 1, got a scalar.")
    shape = resolve_shape("dirichlet", shape, ashape[:-1])
    full_shape = shape + ashape[-1:]
    alpha = broadcast_to_shape(ew.convert_element_type(alpha, dtype), full_shape)
    log_samples = _gamma_samples(key, alpha, log_space=True)
    last = (len(full_shape) - 1,)
    top = expand_dims(ew.stop_gradient(reduce_max(log_samples, last)), last)
    unnormalized = ew.exp(ew.sub(log_samples, broadcast_to_shape(top, full_shape)))
    total = broadcast_to_shape(expand_dims(reduce_sum(unnormalized, last), last), full_shape)
    return ew.div(unnormalized, total)


def _power(x: Any, p: Any, dtype: np.dtype) -> Any:
    """``x ** p`` as ``jax.numpy`` computes it: repeated products for a Python int ``p``."""
    if isinstance(p, int) and not isinstance(p, bool):
        return ew.integer_pow(x, p)
    exponent = const(p, dtype) if is_python_number(p) else ew.convert_element_type(p, dtype)
    return ew.pow(x, broadcast_to_shape(exponent, shape_of(x)))


def _reciprocal(p: Any, dtype: np.dtype) -> Any:
    """``1 / p``: in Python's float64 for a number (then cast, as JAX's weak typing does)."""
    if is_python_number(p):
        return 1.0 / p
    return ew.div(const(1.0, dtype), ew.convert_element_type(asarray(p), dtype))


def generalized_normal(key: Any, p: float, shape: Sequence[int] = (), dtype: Any = None):
    """Samples with density proportional to ``exp(-|x|**p)``: ``±Gamma(1/p)**(1/p)``."""
    key = check_key("generalized_normal", key)
    dtype = float_dtype("generalized_normal", dtype)
    shape = shape_arg("generalized_normal", shape)
    key_g, key_r = split_in_two(key)
    inv_p = _reciprocal(p, dtype)
    alpha = broadcast_to_shape(convert(inv_p, dtype), shape)
    g = _gamma_samples(key_g, alpha, log_space=False)
    r = rademacher(key_r, shape, dtype)
    return ew.mul(r, _power(g, inv_p, dtype))


def ball(key: Any, d: int, p: float = 2, shape: Sequence[int] = (), dtype: Any = None) -> Any:
    """Points uniform in the unit ``p``-norm ball of dimension ``d``: shape ``(*shape, d)``.

    Barthe, Guédon, Mendelson and Naor (2005), https://arxiv.org/abs/math/0503650.
    """
    key = check_key("ball", key)
    dtype = float_dtype("ball", dtype)
    shape = shape_arg("ball", shape)
    d = operator.index(d)
    key_g, key_e = split_in_two(key)
    g = generalized_normal(key_g, p, (*shape, d), dtype)
    e = exponential(key_e, shape, dtype)
    norm = ew.add(reduce_sum(_power(ew.abs(g), p, dtype), (len(shape),)), e)
    scale = _power(norm, _reciprocal(p, dtype), dtype)
    return ew.div(g, broadcast_to_shape(expand_dims(scale, (len(shape),)), (*shape, d)))


# ---------------------------------------------------------------------------------------
# Distributions built from Gamma samples
# ---------------------------------------------------------------------------------------


def _half(x: Any, dtype: np.dtype) -> Any:
    return ew.div(x, const(2.0, dtype))


def _parameter(name: str, x: Any, dtype: np.dtype) -> Any:
    """A distribution parameter converted to ``dtype`` (after JAX's safe-cast check)."""
    check_safe_cast(name, dtype, x)
    return ew.convert_element_type(asarray(x), dtype)


def chisquare(key: Any, df: Any, shape: Sequence[int] | None = None, dtype: Any = None) -> Any:
    """Chi-square samples with ``df`` degrees of freedom: ``2 * Gamma(df / 2)``.

    The Gamma sample is drawn in log space (``loggamma``), as in JAX, and is
    differentiable in ``df`` by implicit reparameterisation. Equal to
    ``jax.random.chisquare`` up to rounding.
    """
    key = check_key("chisquare", key)
    dtype = float_dtype("chisquare", dtype)
    shape = resolve_shape("chisquare", shape, shape_of(df))
    df = _parameter("chisquare", df, dtype)
    log_g = _gamma("chisquare", key, _half(df, dtype), shape, dtype, log_space=True)
    return ew.mul(ew.exp(log_g), full(2.0, dtype, shape))


def f(
    key: Any, dfnum: Any, dfden: Any, shape: Sequence[int] | None = None, dtype: Any = None
) -> Any:
    """F-distribution samples: the ratio ``(X1 / dfnum) / (X2 / dfden)`` of chi-squares.

    Equal to ``jax.random.f`` up to rounding; differentiable in both parameters.
    """
    key = check_key("f", key)
    dtype = float_dtype("f", dtype)
    shape = resolve_shape("f", shape, shape_of(dfnum), shape_of(dfden))
    dfnum = broadcast_to_shape(_parameter("f", dfnum, dtype), shape)
    dfden = broadcast_to_shape(_parameter("f", dfden, dtype), shape)
    key_den, key_num = split_in_two(key)
    num = ew.div(chisquare(key_num, dfnum, shape, dtype), dfnum)
    den = ew.div(chisquare(key_den, dfden, shape, dtype), dfden)
    return ew.div(num, den)


def t(key: Any, df: Any, shape: Sequence[int] | None = None, dtype: Any = None) -> Any:
    """Student's t samples with ``df`` degrees of freedom: ``z * sqrt((df / 2) / g)``,
    ``z`` standard normal and ``g`` Gamma(df / 2).

    Equal to ``jax.random.t`` up to rounding; differentiable in ``df``.
    """
    key = check_key("t", key)
    dtype = float_dtype("t", dtype)
    shape = resolve_shape("t", shape, shape_of(df))
    df = _parameter("t", df, dtype)
    key_n, key_g = split_in_two(key)
    z = normal(key_n, shape, dtype)
    half_df = broadcast_to_shape(_half(df, dtype), shape)
    g = _gamma_samples(key_g, half_df, log_space=False)
    return ew.mul(z, ew.sqrt(ew.div(half_df, g)))


def double_sided_maxwell(
    key: Any, loc: Any, scale: Any, shape: Sequence[int] = (), dtype: Any = None
) -> Any:
    """Double-sided Maxwell samples ``loc + scale * s * m``: a Maxwell draw ``m`` with a
    random sign ``s``.

    The result has shape ``shape + broadcast(loc.shape, scale.shape)`` and, for
    ``shape=()``, JAX's ``params_shape + params_shape`` (it uses the parameters' shape as
    ``shape`` first); fxgrad follows. The parameters combine with NumPy's promotion.
    Equal to ``jax.random.double_sided_maxwell`` up to rounding.
    """
    import fxgrad.numpy as fnp

    key = check_key("double_sided_maxwell", key)
    dtype = float_dtype("double_sided_maxwell", dtype)
    shape = shape_arg("double_sided_maxwell", shape)
    params_shape = broadcast_shape("double_sided_maxwell", shape_of(loc), shape_of(scale))
    shape = (shape or params_shape) + params_shape
    key_maxwell, key_sign = split_in_two(key)
    magnitude = maxwell(key_maxwell, shape, dtype)
    sign = rademacher(key_sign, shape, dtype)
    return fnp.add(fnp.multiply(ew.mul(sign, magnitude), scale), loc)
