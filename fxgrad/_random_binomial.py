"""Binomial and multinomial counts of ``fxgrad.random``, as JAX (and TensorFlow) draw them.

For ``n * min(p, 1 - p) <= 10`` a binomial count is found by *inversion*: add geometric
waiting times until they pass ``n`` (Devroye, "Non-Uniform Random Variate Generation",
1986, X.4.3). Otherwise Hormann's transformed rejection with squeeze, BTRS ("The
generation of binomial random variates", 1993,
https://doi.org/10.1080/00949659308811496) with Stirling's series for the log
factorials. As in JAX, both loops draw one set of uniforms per step for the whole array
and run until every element is done, and ``p > 1/2`` samples ``n - Binomial(n, 1 - p)``.
Counts are floats (JAX's default dtype for them), ``nan`` for a negative or ``nan`` ``n``
or an invalid ``p``, ``inf`` for an infinite ``n``.

A multinomial draw is a sequence of binomials in a ``scan``: the count of each outcome
among the trials the earlier outcomes left, with the outcome's share of the remaining
probability.

The loops round logarithms (``log``, ``log1p``) to integers, so a count equals JAX's
unless a value lies within rounding of an integer boundary, and one lane rounding
differently can change the number of steps (and then every lane that was still drawing).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from fxgrad._random_util import (
    asarray,
    float_dtype,
    promote_inexact,
    resolve_shape,
    shape_arg,
    shape_of,
)
from fxgrad.core import get_aval
from fxgrad.errors import ShapeError
from fxgrad.lax import elementwise as ew
from fxgrad.lax.control_flow import scan, while_loop
from fxgrad.lax.random_bits import check_key, random_split, split_in_two, unit_floats
from fxgrad.lax.reduction import cumsum
from fxgrad.lax.slicing import index_in_dim

__all__ = ["binomial", "multinomial"]

# log(k!) - Stirling's approximation of it, for k = 0..9 (beyond, the series below)
_STIRLING_TAIL = (
    0.0810614667953272,
    0.0413406959554092,
    0.0276779256849983,
    0.02079067210376509,
    0.0166446911898211,
    0.0138761288230707,
    0.0118967099458917,
    0.0104112652619720,
    0.00925546218271273,
    0.00833056343336287,
)


def _stirling_tail(k: Any) -> Any:
    """``log(k!) - (k + 1/2) log(k + 1) + (k + 1) - log(2 pi) / 2`` (the error of
    Stirling's formula at ``k + 1``): the table for ``k <= 9``, else its series.

    As in JAX, the series is evaluated at ``k`` clamped to [0, 9] (so beyond 9 it is
    the value at 9, a slight overestimate of the tail that only loosens the bound).
    """
    import fxgrad.numpy as fnp

    dtype = np.dtype(get_aval(k).dtype)
    table = np.asarray(_STIRLING_TAIL, dtype)
    use_table = k <= 9
    k = fnp.clip(k, 0.0, 9.0)
    kp1sq = (k + 1) * (k + 1)
    series = (1.0 / 12 - (1.0 / 360 - 1.0 / 1260 / kp1sq) / kp1sq) / (k + 1)
    index = fnp.clip(fnp.floor(k).astype(np.int32), 0, 9)  # a nan k reads entry 0, as XLA
    looked_up = fnp.take(table, index)
    return fnp.where(use_table, looked_up, series)


def _inversion(key: Any, count: Any, prob: Any, shape: tuple[int, ...]) -> Any:
    """The number of geometric(prob) waiting times that fit in ``count`` trials."""
    import fxgrad.numpy as fnp

    dtype = np.dtype(get_aval(prob).dtype)
    log1m_prob = fnp.log1p(-prob)

    def body(carry):
        n_geom, geom_sum, rng = carry
        subkey, rng = split_in_two(rng)
        n_geom = fnp.where(geom_sum <= count, n_geom + 1, n_geom)
        u = unit_floats(subkey, shape, dtype)
        geom_sum = geom_sum + fnp.ceil(fnp.log(u) / log1m_prob)
        return n_geom, geom_sum, rng

    def running(carry):
        return fnp.any(carry[1] <= count)

    zeros = fnp.zeros(shape, dtype)
    n_geom = while_loop(running, body, (zeros, zeros, key))[0]
    return n_geom - 1


def _btrs(key: Any, count: Any, prob: Any, shape: tuple[int, ...]) -> Any:
    """Hormann's BTRS: transformed rejection with a squeeze, one proposal per step."""
    import fxgrad.numpy as fnp

    dtype = np.dtype(get_aval(prob).dtype)
    stddev = fnp.sqrt(count * prob * (1 - prob))
    b = 1.15 + 2.53 * stddev
    a = -0.0873 + 0.0248 * b + 0.01 * prob
    c = count * prob + 0.5
    v_r = 0.92 - 4.2 / b
    r = prob / (1 - prob)
    alpha = (2.83 + 5.1 / b) * stddev
    m = fnp.floor((count + 1) * prob)
    log_bound_m = (m + 0.5) * fnp.log((m + 1) / (r * (count - m + 1)))
    tail_m, tail_count_m = _stirling_tail(m), _stirling_tail(count - m)

    def body(carry):
        k_out, accepted, rng = carry
        keys = random_split(rng, (3,))
        rng, key_u, key_v = (index_in_dim(keys, j, 0, keepdims=False) for j in range(3))
        u = unit_floats(key_u, shape, dtype) - 0.5
        v = unit_floats(key_v, shape, dtype)
        us = 0.5 - fnp.abs(u)
        accept_squeeze = (us >= 0.07) & (v <= v_r)
        k = fnp.floor((2 * a / us + b) * u + c)
        reject = (k < 0) | (k > count)
        log_v = fnp.log(v * alpha / (a / (us * us) + b))
        bound = (
            log_bound_m
            + (count + 1) * fnp.log((count - m + 1) / (count - k + 1))
            + (k + 0.5) * fnp.log(r * (count - k + 1) / (k + 1))
            + tail_m
            + tail_count_m
            - _stirling_tail(k)
            - _stirling_tail(count - k)
        )
        accept = accept_squeeze | (~reject & (log_v <= bound))
        return fnp.where(accept, k, k_out), accepted | accept, rng

    init = (fnp.full(shape, -1.0, dtype), fnp.zeros(shape, bool), key)
    return while_loop(lambda carry: fnp.any(~carry[1]), body, init)[0]


def _binomial(key: Any, count: Any, prob: Any, shape: tuple[int, ...], dtype: np.dtype) -> Any:
    import fxgrad.numpy as fnp

    count = fnp.broadcast_to(count.astype(get_aval(prob).dtype), shape)
    prob = fnp.broadcast_to(prob, shape)
    p_lt_half = prob < 0.5
    q = fnp.where(p_lt_half, prob, 1.0 - prob)
    count_nan_or_neg = fnp.isnan(count) | (count < 0.0)
    count_inf = fnp.isinf(count)
    q_is_nan = fnp.isnan(q)
    q_below_0 = q < 0.0
    q = fnp.where(q_is_nan | q_below_0, 0.01, q)
    use_inversion = count_nan_or_neg | (count * q <= 10.0)
    count = fnp.floor(count)
    count_inversion = fnp.where(use_inversion, count, 0.0)
    count_btrs = fnp.where(use_inversion, 1e4, count)
    q_btrs = fnp.where(use_inversion, 0.5, q)
    samples = fnp.where(
        use_inversion,
        _inversion(key, count_inversion, q, shape),
        _btrs(key, count_btrs, q_btrs, shape),
    ).astype(dtype)
    invalid = q_below_0 | q_is_nan | count_nan_or_neg
    samples = fnp.where(invalid, np.asarray(np.nan, dtype), samples)
    samples = fnp.where(count_inf & ~invalid, np.asarray(np.inf, dtype), samples)
    keep = p_lt_half | count_nan_or_neg | q_is_nan | count_inf
    return fnp.where(keep, samples, count.astype(dtype) - samples)


def binomial(
    key: Any, n: Any, p: Any, shape: Sequence[int] | None = None, dtype: Any = None
) -> Any:
    """Binomial(n, p) counts, as floats (default dtype float64, as JAX's).

    Args:
      key: a PRNG key.
      n: the number of trials (a float is floored, as NumPy does).
      p: the probability of success of each trial.
      shape: the output shape; ``n`` and ``p`` must broadcast to it (default: their
        broadcast shape).
      dtype: a float dtype.

    Returns:
      Counts of ``shape`` and ``dtype``: ``nan`` where ``n`` is negative or ``nan`` or
      ``p`` is outside [0, 1] or ``nan``, ``inf`` where ``n`` is infinite.

    Not differentiable (integer-valued). Equal to ``jax.random.binomial`` unless a
    logarithm rounds differently across an integer boundary (see the module docstring).

    Example:
      >>> import fxgrad
      >>> x = fxgrad.random.binomial(fxgrad.random.key(0), 20, 0.3, (4000,))
      >>> bool(abs(float(x.mean()) - 6.0) < 0.15)
      True
    """
    key = check_key("binomial", key)
    dtype = float_dtype("binomial", dtype)
    n, p = asarray(n), asarray(p)
    shape = resolve_shape("binomial", shape, shape_of(n), shape_of(p))
    (p,) = promote_inexact(ew.stop_gradient(p))
    return _binomial(key, ew.stop_gradient(n), p, shape, dtype)


def multinomial(
    key: Any,
    n: Any,
    p: Any,
    *,
    shape: Sequence[int] | None = None,
    dtype: Any = None,
    unroll: int | bool = 1,
) -> Any:
    """Multinomial counts of ``n`` trials over the outcomes of the last axis of ``p``.

    Args:
      key: a PRNG key.
      n: the number of trials; broadcasts to ``shape[:-1]``.
      p: outcome probabilities along the last axis (they need not sum to 1: each
        outcome's count uses its share of the probability left by the earlier ones).
      shape: the full output shape, outcomes last (default: ``p.shape``); ``p`` must
        broadcast to it.
      dtype: a float dtype (default float64, as JAX's).
      unroll: how many outcomes each step of the ``scan`` handles (as ``lax.scan``).

    Returns:
      Counts of ``shape`` and ``dtype``, summing to ``n`` along the last axis.

    Example:
      >>> import fxgrad, fxgrad.numpy as fnp
      >>> counts = fxgrad.random.multinomial(fxgrad.random.key(0), 10, fnp.array([0.2, 0.8]))
      >>> float(counts.sum())
      10.0
    """
    import fxgrad.numpy as fnp

    key = check_key("multinomial", key)
    dtype = float_dtype("multinomial", dtype)
    n, p = promote_inexact(ew.stop_gradient(asarray(n)), ew.stop_gradient(asarray(p)))
    shape = shape_of(p) if shape is None else shape_arg("multinomial", shape)
    if not shape:
        raise ShapeError(
            "fxgrad.random.multinomial: p needs a last axis of outcomes; got a scalar p "
            "and shape (). Pass p of shape (..., k)."
        )
    n = fnp.broadcast_to(n, shape[:-1])
    p = fnp.moveaxis(fnp.broadcast_to(p, shape), -1, 0)
    remaining = cumsum(p, 0, reverse=True)
    ratios = p / fnp.where(remaining == 0, 1, remaining)
    keys = random_split(key, (shape[-1],))

    def step(remainder, ratio_key):
        ratio, subkey = ratio_key
        count = binomial(subkey, remainder, fnp.clip(ratio, 0, 1), dtype=remainder.dtype)
        return remainder - count, count

    _, counts = scan(step, n, (ratios, keys), unroll=unroll)
    return fnp.moveaxis(counts, 0, -1).astype(dtype)
