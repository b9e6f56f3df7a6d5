"""``fxgrad.random``: splittable PRNG keys (threefry2x32) and samplers, bit-compatible with JAX.

There is no global random state. A *key* is a value and every sampler is a pure function
of the key it is given, so results are reproducible and the same under ``jit``, ``vmap``
and on every device. Derive new keys with ``split`` or ``fold_in``; never use one key
for two purposes (docs/random.md).

Keys and bits follow JAX's default implementation (threefry2x32 with
``jax_threefry_partitionable=True``, the default since JAX 0.5.0). Samplers built from
bits and IEEE arithmetic (``uniform``, ``bernoulli``, ``randint``, ``permutation``,
``choice``, ``rademacher``, ``categorical``, ``triangular``, ``poisson`` below 10) return
JAX's values bit for bit; those that go through ``log``, ``erf_inv``, ``lgamma``... agree
to rounding, because XLA's implementations of these functions are not NumPy's.

Unlike JAX, ``key(seed)`` returns raw key data (uint32, shape ``(2,)``, like
``PRNGKey``) rather than a typed key array; ``key_data`` and ``wrap_key_data`` accept and
return that data. Default dtypes are fxgrad's NumPy-style ones (float64, int64), as JAX's
with ``jax_enable_x64``.

This module holds the keys, ``bits`` and ``uniform``; the distributions live in
``_random_continuous.py``, ``_random_discrete.py``, ``_random_gamma.py`` and
``_random_binomial.py`` (re-exported here), the primitive, key operations and sampling
loops in ``fxgrad/lax/random_bits.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from fxgrad import dtypes
from fxgrad._random_binomial import binomial, multinomial
from fxgrad._random_continuous import (
    cauchy,
    exponential,
    gumbel,
    laplace,
    logistic,
    lognormal,
    maxwell,
    multivariate_normal,
    normal,
    orthogonal,
    pareto,
    rayleigh,
    triangular,
    truncated_normal,
    wald,
    weibull_min,
)
from fxgrad._random_discrete import (
    bernoulli,
    categorical,
    choice,
    geometric,
    permutation,
    poisson,
    rademacher,
    randint,
    shuffle,
)
from fxgrad._random_gamma import (
    ball,
    beta,
    chisquare,
    dirichlet,
    double_sided_maxwell,
    f,
    gamma,
    generalized_normal,
    loggamma,
    t,
)
from fxgrad._random_util import float_dtype, shape_arg, uniform_range
from fxgrad.core import get_aval
from fxgrad.errors import FxgradTypeError, ShapeError
from fxgrad.lax import elementwise as ew
from fxgrad.lax.random_bits import (
    check_key,
    random_bits,
    random_fold_in,
    random_seed,
    random_split,
)

__all__ = [
    "PRNGKey",
    "ball",
    "bernoulli",
    "beta",
    "binomial",
    "bits",
    "categorical",
    "cauchy",
    "chisquare",
    "choice",
    "clone",
    "dirichlet",
    "double_sided_maxwell",
    "exponential",
    "f",
    "fold_in",
    "gamma",
    "generalized_normal",
    "geometric",
    "gumbel",
    "key",
    "key_data",
    "key_impl",
    "laplace",
    "loggamma",
    "logistic",
    "lognormal",
    "maxwell",
    "multinomial",
    "multivariate_normal",
    "normal",
    "orthogonal",
    "pareto",
    "permutation",
    "poisson",
    "rademacher",
    "randint",
    "rayleigh",
    "shuffle",
    "split",
    "t",
    "triangular",
    "truncated_normal",
    "uniform",
    "wald",
    "weibull_min",
    "wrap_key_data",
]

_IMPL = "threefry2x32"

# ---------------------------------------------------------------------------------------
# Keys
# ---------------------------------------------------------------------------------------


def _check_impl(name: str, impl: Any) -> None:
    if impl is not None and str(impl) != _IMPL:
        raise ValueError(
            f"fxgrad.random.{name}: only the '{_IMPL}' implementation exists, got impl={impl!r}."
        )


def PRNGKey(seed: Any, *, impl: Any = None) -> Any:  # noqa: N802 - JAX's name
    """A PRNG key from an integer seed: uint32 key data of shape ``(2,)``.

    The key is ``(seed >> 32, seed & 0xFFFFFFFF)`` for a 64-bit seed (a Python int is
    taken as int64; 32-bit seeds have a zero high word), as in JAX.

    Args:
      seed: a scalar integer (Python int, NumPy integer, or an integer array, traced or
        not).
      impl: ``None`` or ``"threefry2x32"``, the only implementation.

    Returns:
      A uint32 array of shape ``(2,)``.

    Example:
      >>> import fxgrad
      >>> fxgrad.random.PRNGKey(42)
      Array([ 0, 42], dtype=uint32)
    """
    _check_impl("PRNGKey", impl)
    return random_seed(seed)


def key(seed: Any, *, impl: Any = None) -> Any:
    """A PRNG key from an integer seed (the same value as ``PRNGKey(seed)``).

    Unlike JAX, which returns a typed scalar key array here, fxgrad returns the raw key
    data: a uint32 array of shape ``(2,)``. It is accepted everywhere JAX accepts a key.

    Example:
      >>> import fxgrad
      >>> fxgrad.random.key(0)
      Array([0, 0], dtype=uint32)
    """
    _check_impl("key", impl)
    return random_seed(seed)


def key_data(keys: Any) -> Any:
    """The uint32 data of a key or a batch of keys (shape ``(..., 2)``): the keys themselves."""
    return check_key("key_data", keys, allow_batched=True)


def wrap_key_data(key_bits_array: Any, *, impl: Any = None) -> Any:
    """Keys from uint32 key data of shape ``(..., 2)`` (the data itself, after checking it)."""
    _check_impl("wrap_key_data", impl)
    return check_key("wrap_key_data", key_bits_array, allow_batched=True)


def key_impl(keys: Any) -> str:
    """The name of the implementation of ``keys``: always ``"threefry2x32"``."""
    check_key("key_impl", keys, allow_batched=True)
    return _IMPL


def clone(key: Any) -> Any:
    """The key itself (JAX uses ``clone`` for its key-reuse checker, which fxgrad lacks)."""
    return check_key("clone", key, allow_batched=True)


def split(key: Any, num: int | Sequence[int] = 2) -> Any:
    """New keys from ``key``: data of shape ``(num, 2)`` (or ``(*num, 2)`` for a shape).

    Example:
      >>> import fxgrad
      >>> fxgrad.random.split(fxgrad.random.key(0))
      Array([[1797259609, 2579123966],
             [ 928981903, 3453687069]], dtype=uint32)
    """
    key = check_key("split", key)
    shape = tuple(num) if isinstance(num, Sequence) else (num,)
    return random_split(key, shape_arg("split", shape))


def fold_in(key: Any, data: Any) -> Any:
    """A new key, a deterministic function of ``key`` and the 32-bit integer ``data``.

    Example:
      >>> import fxgrad
      >>> fxgrad.random.fold_in(fxgrad.random.key(0), 5)
      Array([1524306142, 1887795613], dtype=uint32)
    """
    key = check_key("fold_in", key)
    if isinstance(data, int):
        data = np.asarray(data, dtype=np.uint32)  # OverflowError outside [0, 2**32), as JAX
    elif isinstance(data, (float, list, np.generic, np.ndarray)):
        data = np.asarray(data).astype(np.uint32)  # wraps, as a cast in JAX
    if get_aval(data).shape:
        raise ShapeError(
            f"fxgrad.random.fold_in takes a scalar data, got shape {get_aval(data).shape}; "
            "map over the data with fxgrad.vmap."
        )
    return random_fold_in(key, ew.convert_element_type(data, np.uint32))


# ---------------------------------------------------------------------------------------
# Bits and uniform floats
# ---------------------------------------------------------------------------------------


def bits(key: Any, shape: Sequence[int] = (), dtype: Any = None) -> Any:
    """Uniform random unsigned integers of ``shape`` (default dtype: uint64, as JAX x64).

    Example:
      >>> import fxgrad
      >>> fxgrad.random.bits(fxgrad.random.key(0), (2,), "uint32")
      Array([4070199207, 4202968722], dtype=uint32)
    """
    key = check_key("bits", key)
    if dtype is None:
        dtype = np.dtype(f"uint{dtypes.default_int_dtype().itemsize * 8}")
    dtype = dtypes.canonicalize_dtype(dtype)
    if dtype.kind != "u":
        raise FxgradTypeError(f"fxgrad.random.bits: dtype must be unsigned, got {dtype.name}.")
    return random_bits(key, dtype.itemsize * 8, shape_arg("bits", shape))


def uniform(
    key: Any, shape: Sequence[int] = (), dtype: Any = None, minval: Any = 0.0, maxval: Any = 1.0
) -> Any:
    """Uniform floats in ``[minval, maxval)``, bit-identical to ``jax.random.uniform``.

    Args:
      key: a PRNG key.
      shape: the output shape; ``minval`` and ``maxval`` must broadcast to it.
      dtype: a float dtype (default: fxgrad's default float, float64).
      minval, maxval: the range (differentiable).

    Returns:
      An array of ``shape`` and ``dtype``.

    Example:
      >>> import fxgrad
      >>> fxgrad.random.uniform(fxgrad.random.key(0), (2,), "float32")
      Array([0.947667 , 0.9785799], dtype=float32)
    """
    key = check_key("uniform", key)
    dtype = float_dtype("uniform", dtype)
    return uniform_range(key, shape_arg("uniform", shape), dtype, minval, maxval)
