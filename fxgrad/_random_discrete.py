"""Discrete distributions of ``fxgrad.random``: booleans, integers, indices and counts.

Each sampler is JAX's algorithm step for step (``jax.random`` 0.10, threefry keys,
``jax_enable_x64``). Those made of bits, integer arithmetic and comparisons of uniform
floats (``bernoulli``, ``rademacher``, ``randint``, ``permutation``, ``choice``,
``categorical``, ``poisson`` below 10) return JAX's values bit for bit; those that round
a logarithm to an integer (``geometric``, ``poisson`` from 10) are equal to JAX's unless
a value lies within rounding of an integer boundary. Binomial and multinomial counts are
in ``_random_binomial.py``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from fxgrad import dtypes
from fxgrad._random_continuous import gumbel
from fxgrad._random_util import (
    asarray,
    check_shape,
    const,
    full,
    int_dtype,
    promote_inexact,
    resolve_shape,
    shape_arg,
    shape_of,
)
from fxgrad.core import get_aval
from fxgrad.errors import FxgradTypeError, ShapeError
from fxgrad.lax import elementwise as ew
from fxgrad.lax.random_bits import (
    check_key,
    poisson_knuth,
    poisson_rejection,
    random_integers,
    shuffle_along,
    unit_floats,
)
from fxgrad.lax.shape import broadcast_to_shape, expand_dims, reshape
from fxgrad.lax.slicing import index_in_dim, slice_in_dim
from fxgrad.lax.sorting import top_k

__all__ = [
    "bernoulli",
    "categorical",
    "choice",
    "geometric",
    "permutation",
    "poisson",
    "rademacher",
    "randint",
    "shuffle",
]


def bernoulli(key: Any, p: Any = 0.5, shape: Sequence[int] | None = None, mode: str = "low"):
    """Booleans that are True with probability ``p``: ``uniform(key, shape) < p``.

    ``mode="high"`` uses twice the bits, for accurate tiny ``p``. Bit-identical to JAX.
    """
    key = check_key("bernoulli", key)
    if mode not in ("high", "low"):
        raise ValueError(f"fxgrad.random.bernoulli: mode must be 'high' or 'low', got {mode!r}")
    p = asarray(p)
    dtype = np.dtype(get_aval(p).dtype)
    if dtype.kind != "f":
        raise FxgradTypeError(
            f"fxgrad.random.bernoulli: the probability p must be floating, got {dtype.name}."
        )
    shape = resolve_shape("bernoulli", shape, shape_of(p))
    p = broadcast_to_shape(p, shape)
    if mode == "low":
        return ew.lt(unit_floats(key, shape, dtype), p)
    u = unit_floats(key, (2, *shape), dtype)
    u1, u2 = index_in_dim(u, 0, 0, keepdims=False), index_in_dim(u, 1, 0, keepdims=False)
    u2 = ew.mul(u2, const(2.0 ** -np.finfo(dtype).nmant, dtype))
    return ew.lt(u2, ew.sub(p, u1))


def rademacher(key: Any, shape: Sequence[int] = (), dtype: Any = None) -> Any:
    """-1 or +1 with equal probability (default dtype int64). Bit-identical to JAX."""
    key = check_key("rademacher", key)
    dtype = dtypes.default_int_dtype() if dtype is None else dtypes.canonicalize_dtype(dtype)
    shape = shape_arg("rademacher", shape)
    coin = ew.convert_element_type(bernoulli(key, 0.5, shape), dtype)
    return ew.sub(ew.mul(coin, const(2, dtype)), const(1, dtype))


def _as_int(x: Any) -> Any:
    x = asarray(x)
    if np.dtype(get_aval(x).dtype).kind not in "iu":
        x = ew.convert_element_type(x, dtypes.default_int_dtype())
    return x


def _int32_within(x: Any, lo: int, hi: int) -> Any:
    x = ew.convert_element_type(x, np.int32)
    return ew.clamp(const(lo, np.int32), x, const(hi, np.int32))


def randint(key: Any, shape: Sequence[int], minval: Any, maxval: Any, dtype: Any = None) -> Any:
    """Uniform integers in ``[minval, maxval)`` (default dtype int64). Bit-identical to JAX.

    As in JAX, each value uses twice the dtype's bits reduced modulo the span, so the
    bias is tiny unless the span is close to ``2**bits``.

    Example:
      >>> import fxgrad
      >>> fxgrad.random.randint(fxgrad.random.key(0), (5,), 0, 10)
      Array([5, 1, 5, 7, 3], dtype=int64)
    """
    key = check_key("randint", key)
    dtype = int_dtype("randint", dtype)
    shape = shape_arg("randint", shape)
    minval, maxval = _as_int(minval), _as_int(maxval)
    check_shape("randint", shape, shape_of(minval), shape_of(maxval))
    sample_dtype = dtype
    info = np.iinfo(dtype)
    if info.bits < 32:  # sample in 32 bits, as JAX, to keep the bias small
        sample_dtype = np.dtype(np.int32)
        minval = _int32_within(minval, info.min, info.max)
        maxval = _int32_within(maxval, info.min, int(info.max) + 1)
    return ew.convert_element_type(random_integers(key, shape, minval, maxval, sample_dtype), dtype)


def permutation(key: Any, x: Any, axis: int = 0, independent: bool = False) -> Any:
    """A random permutation of ``arange(x)`` (int ``x``) or of ``x`` along ``axis``.

    With ``independent=True`` every slice along ``axis`` is shuffled independently.
    Bit-identical to JAX.

    Example:
      >>> import fxgrad
      >>> fxgrad.random.permutation(fxgrad.random.key(0), 5)
      Array([0, 1, 4, 3, 2], dtype=int64)
    """
    import fxgrad.numpy as fnp

    key = check_key("permutation", key)
    if isinstance(x, (int, np.integer)) and not isinstance(x, bool):
        return shuffle_along(key, fnp.arange(int(x)), 0)
    x = asarray(x)
    ndim = get_aval(x).ndim
    if ndim == 0:
        if np.dtype(get_aval(x).dtype).kind not in "iu":
            raise FxgradTypeError("fxgrad.random.permutation: x must be an integer or an array")
        return shuffle_along(key, fnp.arange(int(x)), 0)
    if not -ndim <= axis < ndim:
        raise ShapeError(f"fxgrad.random.permutation: axis {axis} is out of range for rank {ndim}")
    axis %= ndim
    if independent or ndim == 1:
        return shuffle_along(key, x, axis)
    order = shuffle_along(key, fnp.arange(shape_of(x)[axis]), 0)
    return fnp.take(x, order, axis=axis)


def shuffle(key: Any, x: Any, axis: int = 0) -> Any:
    """Deprecated (as in JAX): ``permutation(key, x, axis, independent=True)``."""
    warnings.warn(
        "fxgrad.random.shuffle is deprecated, as jax.random.shuffle was; use "
        "fxgrad.random.permutation(key, x, axis, independent=True).",
        DeprecationWarning,
        stacklevel=2,
    )
    return permutation(key, x, axis, independent=True)


def choice(
    key: Any,
    a: Any,
    shape: Sequence[int] = (),
    replace: bool = True,
    p: Any = None,
    axis: int = 0,
    mode: str | None = None,
) -> Any:
    """Random samples from ``a`` (or ``arange(a)``) along ``axis``, as ``jax.random.choice``.

    Without ``p`` it is bit-identical to JAX; with ``p`` it goes through a cumulative
    sum (with replacement) or Gumbel noise (without), equal to JAX's unless a sample
    sits within an ulp of a boundary.
    """
    import fxgrad.numpy as fnp

    key = check_key("choice", key)
    if not isinstance(shape, Sequence):
        raise FxgradTypeError(f"fxgrad.random.choice: shape must be a sequence, got {shape!r}")
    shape = shape_arg("choice", shape)
    arr = asarray(a)
    arr_shape = shape_of(arr)
    if not arr_shape:
        n_inputs = int(a)
    else:
        if not -len(arr_shape) <= axis < len(arr_shape):
            raise ShapeError(f"fxgrad.random.choice: axis {axis} is out of range for {arr_shape}")
        axis %= len(arr_shape)
        n_inputs = arr_shape[axis]
    n_draws = math.prod(shape)
    if n_draws == 0:
        return fnp.zeros(shape, dtype=get_aval(arr).dtype)
    if n_inputs <= 0:
        raise ValueError(
            "fxgrad.random.choice: a must be greater than 0 unless no samples are taken"
        )
    if not replace and n_draws > n_inputs:
        raise ValueError(
            f"fxgrad.random.choice: cannot take a larger sample (size {n_draws}) than the "
            f"population (size {n_inputs}) when replace=False."
        )
    if p is None:
        if replace:
            ind = randint(key, shape, 0, n_inputs)
            result = ind if not arr_shape else fnp.take(arr, ind, axis=axis)
        else:
            population = n_inputs if not arr_shape else arr
            result = permutation(key, population, axis)
            result = slice_in_dim(result, 0, n_draws, axis=axis if arr_shape else 0)
    else:
        ind = _choice_indices(key, p, n_inputs, n_draws, shape, replace, mode)
        result = ind if not arr_shape else fnp.take(arr, ind, axis=axis)
    out_shape = shape if not arr_shape else arr_shape[:axis] + shape + arr_shape[axis + 1 :]
    return reshape(result, out_shape)


def _choice_indices(key, p, n_inputs, n_draws, shape, replace, mode):
    import fxgrad.numpy as fnp

    (p,) = promote_inexact(p)
    if shape_of(p) != (n_inputs,):
        raise ShapeError(
            "fxgrad.random.choice: p must be None or a 1D vector with the same size as "
            f"a.shape[axis]; p has shape {shape_of(p)} and a.shape[axis] is {n_inputs}."
        )
    dtype = np.dtype(get_aval(p).dtype)
    if replace:
        p_cuml = fnp.cumsum(p)
        total = index_in_dim(p_cuml, n_inputs - 1, 0, keepdims=False)
        u = unit_floats(key, shape, dtype)
        r = ew.mul(broadcast_to_shape(total, shape), ew.sub(full(1.0, dtype, shape), u))
        return fnp.searchsorted(p_cuml, r).astype(dtypes.default_int_dtype())
    g = ew.add(gumbel(key, (n_inputs,), dtype, mode), ew.log(p))
    return ew.convert_element_type(top_k(g, n_draws)[1], dtypes.default_int_dtype())


def categorical(
    key: Any,
    logits: Any,
    axis: int = -1,
    shape: Sequence[int] | None = None,
    replace: bool = True,
    mode: str | None = None,
) -> Any:
    """Indices drawn with probabilities ``softmax(logits, axis)`` (the Gumbel-max trick).

    Returns int64 indices of shape ``shape`` (default: ``logits.shape`` without ``axis``).
    With ``replace=False`` the indices along the leading axes are distinct (Gumbel top-k).
    """
    import fxgrad.numpy as fnp

    key = check_key("categorical", key)
    logits = asarray(logits)
    lshape = shape_of(logits)
    if not -len(lshape) <= axis < len(lshape):
        raise ShapeError(f"fxgrad.random.categorical: axis {axis} is out of range for {lshape}")
    axis_pos = axis % len(lshape)
    batch_shape = lshape[:axis_pos] + lshape[axis_pos + 1 :]
    shape = resolve_shape("categorical", shape, batch_shape)
    prefix = shape[: len(shape) - len(batch_shape)]
    dtype = np.dtype(get_aval(logits).dtype)
    if replace:
        neg_axis = axis_pos - len(lshape)
        sample_shape = list(shape[len(shape) - len(batch_shape) :])
        sample_shape.insert(axis_pos, lshape[axis_pos])
        noise = gumbel(key, (*prefix, *sample_shape), dtype, mode)
        expanded = broadcast_to_shape(
            expand_dims(logits, tuple(range(len(prefix)))), shape_of(noise)
        )
        return fnp.argmax(ew.add(noise, expanded), axis=neg_axis)
    k = math.prod(prefix)
    if k > lshape[axis_pos]:
        raise ValueError(
            f"fxgrad.random.categorical: the number of samples without replacement ({k}) "
            f"cannot exceed the number of categories ({lshape[axis_pos]})."
        )
    perturbed = ew.add(logits, gumbel(key, lshape, dtype, mode))
    _, indices = top_k(fnp.moveaxis(perturbed, axis_pos, -1), k)
    indices = fnp.moveaxis(indices, -1, 0)
    return reshape(indices, shape)


def poisson(key: Any, lam: Any, shape: Sequence[int] | None = None, dtype: Any = None) -> Any:
    """Poisson(lam) counts (default dtype int64); ``lam`` is used in float32, as in JAX.

    Knuth's multiplication method for ``lam < 10``, Hormann's transformed rejection
    ("The transformed rejection method for generating Poisson random variables", 1993)
    otherwise. Not differentiable (integer-valued).
    """
    key = check_key("poisson", key)
    dtype = int_dtype("poisson", dtype)
    lam = asarray(lam)
    shape = resolve_shape("poisson", shape, shape_of(lam))
    lam = broadcast_to_shape(ew.convert_element_type(ew.stop_gradient(lam), np.float32), shape)
    use_knuth = ew.bitwise_or(ew.ne(lam, lam), ew.lt(lam, full(10.0, np.float32, shape)))
    lam_knuth = ew.select(use_knuth, lam, full(0.0, np.float32, shape))
    lam_rejection = ew.select(use_knuth, full(1e5, np.float32, shape), lam)
    result = ew.select(
        use_knuth,
        poisson_knuth(key, lam_knuth, shape, dtype),
        poisson_rejection(key, lam_rejection, shape, dtype),
    )
    return ew.select(ew.eq(lam, full(0.0, np.float32, shape)), full(0, dtype, shape), result)


def geometric(key: Any, p: Any, shape: Sequence[int] | None = None, dtype: Any = None) -> Any:
    """The number of Bernoulli(p) trials up to the first success (1, 2, ...).

    ``floor(log(u) / log1p(-p)) + 1`` for ``u`` uniform in the dtype of ``p`` (a Python
    float ``p`` is float64), with ``u = 0`` taken as 1, as in JAX. The default dtype is
    int64. Equal to ``jax.random.geometric`` unless a ratio of logarithms lies within
    rounding of an integer (XLA's ``log`` is not NumPy's).
    """
    key = check_key("geometric", key)
    dtype = int_dtype("geometric", dtype)
    (p,) = promote_inexact(ew.stop_gradient(asarray(p)))
    shape = resolve_shape("geometric", shape, shape_of(p))
    float_type = np.dtype(get_aval(p).dtype)
    u = unit_floats(key, shape, float_type)
    u = ew.select(ew.eq(u, full(0.0, float_type, shape)), full(1.0, float_type, shape), u)
    log_one_minus_p = broadcast_to_shape(ew.log1p(ew.neg(p)), shape)
    trials = ew.add(ew.floor(ew.div(ew.log(u), log_one_minus_p)), full(1.0, float_type, shape))
    return ew.convert_element_type(trials, dtype)
