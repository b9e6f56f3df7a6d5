"""``fxgrad.random``: splittable PRNG keys (threefry2x32) and samplers, bit-compatible with JAX.

There is no global random state. A *key* is a value and every sampler is a pure function
of the key it is given, so results are reproducible and the same under ``jit``, ``vmap``
and on every device. Derive new keys with ``split`` or ``fold_in``; never use one key
for two purposes (docs/random.md).

Keys and bits follow JAX's default implementation (threefry2x32 with
``jax_threefry_partitionable=True``, the default since JAX 0.5.0). Samplers built from
bits and IEEE arithmetic (``uniform``, ``bernoulli``, ``randint``, ``permutation``,
``choice``, ``rademacher``, ``categorical``, ``poisson`` below 10) return JAX's values bit
for bit; those that go through ``log``, ``erf_inv``, ``lgamma``... agree to rounding,
because XLA's implementations of these functions are not NumPy's.

Unlike JAX, ``key(seed)`` returns raw key data (uint32, shape ``(2,)``, like
``PRNGKey``) rather than a typed key array; ``key_data`` and ``wrap_key_data`` accept and
return that data. Default dtypes are fxgrad's NumPy-style ones (float64, int64), as JAX's
with ``jax_enable_x64``. The primitive, key operations and sampling loops live in
``fxgrad/lax/random_bits.py``.
"""

from __future__ import annotations

import math
import operator
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from fxgrad import dtypes
from fxgrad.core import Tracer, get_aval
from fxgrad.custom_derivatives import custom_jvp
from fxgrad.errors import FxgradTypeError, ShapeError
from fxgrad.lax import elementwise as ew
from fxgrad.lax.random_bits import (
    check_key,
    fma,
    gamma_one,
    gamma_sample_grad,
    poisson_knuth,
    poisson_rejection,
    random_bits,
    random_fold_in,
    random_integers,
    random_seed,
    random_split,
    shuffle_along,
    split_in_two,
    standard_normal,
    unit_floats,
)
from fxgrad.lax.reduction import reduce_max, reduce_sum
from fxgrad.lax.shape import broadcast_in_dim, broadcast_to_shape, expand_dims, reshape
from fxgrad.lax.slicing import index_in_dim, slice_in_dim
from fxgrad.lax.sorting import top_k

__all__ = [
    "PRNGKey",
    "ball",
    "bernoulli",
    "beta",
    "bits",
    "categorical",
    "choice",
    "clone",
    "dirichlet",
    "exponential",
    "fold_in",
    "gamma",
    "generalized_normal",
    "gumbel",
    "key",
    "key_data",
    "key_impl",
    "laplace",
    "loggamma",
    "logistic",
    "multivariate_normal",
    "normal",
    "orthogonal",
    "permutation",
    "poisson",
    "rademacher",
    "randint",
    "shuffle",
    "split",
    "truncated_normal",
    "uniform",
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
    return random_split(key, _shape("split", shape))


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
# Argument helpers
# ---------------------------------------------------------------------------------------


def _shape(name: str, shape: Any) -> tuple[int, ...]:
    if isinstance(shape, (int, np.integer)):
        shape = (shape,)
    try:
        shape = tuple(operator.index(d) for d in shape)
    except TypeError:
        raise FxgradTypeError(
            f"fxgrad.random.{name}: shape must be a tuple of non-negative Python ints, got "
            f"{shape!r}. Under jit, shapes are static: pass them as Python values."
        ) from None
    if any(d < 0 for d in shape):
        raise ShapeError(f"fxgrad.random.{name}: shape {shape} has a negative dimension.")
    return shape


def _shape_of(x: Any) -> tuple[int, ...]:
    if isinstance(x, (list, tuple)):
        return np.shape(x)
    return tuple(get_aval(x).shape)


def _check_shape(name: str, shape: tuple[int, ...], *param_shapes: tuple[int, ...]) -> None:
    """Parameters must broadcast to ``shape`` exactly (JAX's rule)."""
    try:
        joined = np.broadcast_shapes(shape, *param_shapes)
    except ValueError:
        joined = None
    if joined != shape:
        raise ShapeError(
            f"fxgrad.random.{name}: parameter shapes {list(param_shapes)} must broadcast to "
            f"the shape argument {shape}, but they give {joined}. Pass shape=None to use the "
            "parameters' broadcast shape, or a shape they broadcast to."
        )


def _resolve_shape(name: str, shape: Any, *param_shapes: tuple[int, ...]) -> tuple[int, ...]:
    """``shape`` checked against the parameters' shapes; for None, their broadcast shape."""
    if shape is None:
        return _broadcast_shape(name, *param_shapes)
    shape = _shape(name, shape)
    _check_shape(name, shape, *param_shapes)
    return shape


def _broadcast_shape(name: str, *shapes: tuple[int, ...]) -> tuple[int, ...]:
    try:
        return tuple(np.broadcast_shapes(*shapes))
    except ValueError:
        raise ShapeError(
            f"fxgrad.random.{name}: the parameter shapes {list(shapes)} do not broadcast."
        ) from None


def _float_dtype(name: str, dtype: Any, allow_complex: bool = False) -> np.dtype:
    dtype = dtypes.default_float_dtype() if dtype is None else dtypes.canonicalize_dtype(dtype)
    if dtype.kind != "f" and not (allow_complex and dtype.kind == "c"):
        kind = "a float or complex" if allow_complex else "a float"
        raise FxgradTypeError(
            f"fxgrad.random.{name}: dtype must be {kind} dtype, got {dtype.name}."
        )
    return dtype


def _int_dtype(name: str, dtype: Any) -> np.dtype:
    dtype = dtypes.default_int_dtype() if dtype is None else dtypes.canonicalize_dtype(dtype)
    if dtype.kind not in "iu":
        raise FxgradTypeError(f"fxgrad.random.{name}: dtype must be an integer dtype, got {dtype}.")
    return dtype


def _is_python_number(x: Any) -> bool:
    return isinstance(x, (int, float, np.number)) and not isinstance(x, bool)


def _convert(x: Any, dtype: np.dtype) -> Any:
    """``x`` (a Python number, list, NumPy or fxgrad array, or tracer) as ``dtype``."""
    if isinstance(x, (Tracer,)) or type(x).__module__.startswith("fxgrad"):
        return ew.convert_element_type(x, dtype)
    return np.asarray(x, dtype=dtype)


def _const(value: float, dtype: np.dtype) -> np.ndarray:
    return np.asarray(value, dtype=dtype)


def _full(value: float, dtype: np.dtype, shape: tuple[int, ...]) -> Any:
    return broadcast_in_dim(_const(value, dtype), shape, ())


def _asarray(x: Any) -> Any:
    from fxgrad.numpy._util import asarray_value

    return asarray_value(x)


def _promote_inexact(*args: Any) -> list[Any]:
    """``args`` converted to one inexact dtype (NumPy promotion), shapes unchanged."""
    from fxgrad.numpy._util import promote_dtypes

    args = promote_dtypes(*args)
    dtype = np.dtype(get_aval(args[0]).dtype)
    if dtype.kind not in "fc":
        args = [ew.convert_element_type(a, dtypes.to_inexact_dtype(dtype)) for a in args]
    return args


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
    return random_bits(key, dtype.itemsize * 8, _shape("bits", shape))


def _exact_product(scale: np.ndarray, dtype: np.dtype) -> bool:
    """Whether ``x * scale`` is exact for every uniform float x: scale a power of two
    (large enough that ``x * scale`` stays normal)."""
    smallest = np.finfo(dtype).tiny * 2.0 ** np.finfo(dtype).nmant
    return bool(np.isfinite(scale) and scale >= smallest and np.frexp(scale)[0] == 0.5)


def _uniform(key: Any, shape: tuple[int, ...], dtype: np.dtype, minval: Any, maxval: Any):
    """JAX's uniform: ``max(minval, floats * (maxval - minval) + minval)``.

    XLA's CPU backend fuses the multiply-add into one FMA for float32 and float64 (and
    rounds after each operation for float16), so this does the same to give JAX's bits.
    """
    _check_shape("uniform", shape, _shape_of(minval), _shape_of(maxval))
    floats = unit_floats(key, shape, dtype)
    static = _is_python_number(minval) and _is_python_number(maxval)
    if static and float(minval) == 0.0 and float(maxval) == 1.0:
        return floats  # max(0, f * 1 + 0) == f
    lo = broadcast_to_shape(_convert(minval, dtype), shape)
    hi = broadcast_to_shape(_convert(maxval, dtype), shape)
    if static:
        scale = np.asarray(maxval, dtype) - np.asarray(minval, dtype)
        if _exact_product(scale, dtype):  # the product is exact: two roundings = one
            return ew.max(lo, ew.add(ew.mul(floats, _full(scale, dtype, shape)), lo))
    if dtype.itemsize < 4:
        return ew.max(lo, ew.add(ew.mul(floats, ew.sub(hi, lo)), lo))
    return ew.max(lo, fma(floats, ew.sub(hi, lo), lo))


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
    dtype = _float_dtype("uniform", dtype)
    return _uniform(key, _shape("uniform", shape), dtype, minval, maxval)


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
    dtype = _float_dtype("normal", dtype, allow_complex=True)
    shape = _shape("normal", shape)
    if dtype.kind != "c":
        return standard_normal(key, shape, dtype)
    real = dtypes.real_dtype(dtype)
    key_re, key_im = random_split(key, (2,))
    scale = _full(1.0 / np.sqrt(2.0), real, shape)
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
    dtype = _float_dtype("truncated_normal", dtype)
    shape = _resolve_shape("truncated_normal", shape, _shape_of(lower), _shape_of(upper))
    sqrt2 = _const(np.sqrt(2.0), dtype)
    lower = broadcast_to_shape(ew.convert_element_type(_asarray(lower), dtype), shape)
    upper = broadcast_to_shape(ew.convert_element_type(_asarray(upper), dtype), shape)
    a = ew.erf(ew.div(lower, sqrt2))
    b = ew.erf(ew.div(upper, sqrt2))
    u = _uniform(key, shape, dtype, a, b)
    out = ew.mul(sqrt2, ew.erf_inv(u))
    lo = ew.nextafter(ew.stop_gradient(lower), _full(np.inf, dtype, shape))
    hi = ew.nextafter(ew.stop_gradient(upper), _full(-np.inf, dtype, shape))
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
    mean, cov = _promote_inexact(mean, cov)
    dtype = get_aval(mean).dtype if dtype is None else dtype
    dtype = _float_dtype("multivariate_normal", dtype)
    mean_shape, cov_shape = _shape_of(mean), _shape_of(cov)
    if len(mean_shape) < 1 or len(cov_shape) < 2 or cov_shape[-2:] != mean_shape[-1:] * 2:
        raise ShapeError(
            "fxgrad.random.multivariate_normal: mean must have shape (..., n) and cov shape "
            f"(..., n, n); got mean {mean_shape} and cov {cov_shape}."
        )
    batch = (mean_shape[:-1], cov_shape[:-2])
    shape = _resolve_shape("multivariate_normal", shape, *batch)
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
    dtype = _float_dtype("orthogonal", dtype, allow_complex=True)
    shape = _shape("orthogonal", shape)
    n = operator.index(n)
    m = n if m is None else operator.index(m)
    z = normal(key, (*shape, max(n, m), min(n, m)), dtype)
    q, r = linalg.qr(z)
    x = q * sign(linalg.diagonal(r))[..., None, :]
    return swapaxes(x, -1, -2) if n < m else x


# ---------------------------------------------------------------------------------------
# Discrete samplers
# ---------------------------------------------------------------------------------------


def bernoulli(key: Any, p: Any = 0.5, shape: Sequence[int] | None = None, mode: str = "low"):
    """Booleans that are True with probability ``p``: ``uniform(key, shape) < p``.

    ``mode="high"`` uses twice the bits, for accurate tiny ``p``. Bit-identical to JAX.
    """
    key = check_key("bernoulli", key)
    if mode not in ("high", "low"):
        raise ValueError(f"fxgrad.random.bernoulli: mode must be 'high' or 'low', got {mode!r}")
    p = _asarray(p)
    dtype = np.dtype(get_aval(p).dtype)
    if dtype.kind != "f":
        raise FxgradTypeError(
            f"fxgrad.random.bernoulli: the probability p must be floating, got {dtype.name}."
        )
    shape = _resolve_shape("bernoulli", shape, _shape_of(p))
    p = broadcast_to_shape(p, shape)
    if mode == "low":
        return ew.lt(unit_floats(key, shape, dtype), p)
    u = unit_floats(key, (2, *shape), dtype)
    u1, u2 = index_in_dim(u, 0, 0, keepdims=False), index_in_dim(u, 1, 0, keepdims=False)
    u2 = ew.mul(u2, _const(2.0 ** -np.finfo(dtype).nmant, dtype))
    return ew.lt(u2, ew.sub(p, u1))


def rademacher(key: Any, shape: Sequence[int] = (), dtype: Any = None) -> Any:
    """-1 or +1 with equal probability (default dtype int64). Bit-identical to JAX."""
    key = check_key("rademacher", key)
    dtype = dtypes.default_int_dtype() if dtype is None else dtypes.canonicalize_dtype(dtype)
    shape = _shape("rademacher", shape)
    coin = ew.convert_element_type(bernoulli(key, 0.5, shape), dtype)
    return ew.sub(ew.mul(coin, _const(2, dtype)), _const(1, dtype))


def _as_int(x: Any) -> Any:
    x = _asarray(x)
    if np.dtype(get_aval(x).dtype).kind not in "iu":
        x = ew.convert_element_type(x, dtypes.default_int_dtype())
    return x


def _int32_within(x: Any, lo: int, hi: int) -> Any:
    x = ew.convert_element_type(x, np.int32)
    return ew.clamp(_const(lo, np.int32), x, _const(hi, np.int32))


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
    dtype = _int_dtype("randint", dtype)
    shape = _shape("randint", shape)
    minval, maxval = _as_int(minval), _as_int(maxval)
    _check_shape("randint", shape, _shape_of(minval), _shape_of(maxval))
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
    x = _asarray(x)
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
    order = shuffle_along(key, fnp.arange(_shape_of(x)[axis]), 0)
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
    shape = _shape("choice", shape)
    arr = _asarray(a)
    arr_shape = _shape_of(arr)
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

    (p,) = _promote_inexact(p)
    if _shape_of(p) != (n_inputs,):
        raise ShapeError(
            "fxgrad.random.choice: p must be None or a 1D vector with the same size as "
            f"a.shape[axis]; p has shape {_shape_of(p)} and a.shape[axis] is {n_inputs}."
        )
    dtype = np.dtype(get_aval(p).dtype)
    if replace:
        p_cuml = fnp.cumsum(p)
        total = index_in_dim(p_cuml, n_inputs - 1, 0, keepdims=False)
        u = unit_floats(key, shape, dtype)
        r = ew.mul(broadcast_to_shape(total, shape), ew.sub(_full(1.0, dtype, shape), u))
        return fnp.searchsorted(p_cuml, r).astype(dtypes.default_int_dtype())
    g = ew.add(gumbel(key, (n_inputs,), dtype, mode), ew.log(p))
    return ew.convert_element_type(top_k(g, n_draws)[1], dtypes.default_int_dtype())


# ---------------------------------------------------------------------------------------
# Distributions from uniform floats through transcendental functions
# ---------------------------------------------------------------------------------------


def _gumbel(key: Any, shape: tuple[int, ...], dtype: np.dtype, mode: str) -> Any:
    finfo = np.finfo(dtype)
    if mode == "low":
        u = _uniform(key, shape, dtype, float(finfo.tiny), 1.0)
        return ew.neg(ew.log(ew.neg(ew.log(u))))
    u = unit_floats(key, (2, *shape), dtype)
    high = index_in_dim(u, 0, 0, keepdims=False)
    low = index_in_dim(u, 1, 0, keepdims=False)
    # 2**-nmant * low is exact, so contracting this sum to an FMA (XLA) changes nothing
    refined = ew.add(
        ew.add(high, ew.mul(_const(2.0**-finfo.nmant, dtype), low)), _const(finfo.tiny, dtype)
    )
    x = ew.select(ew.ge(high, _const(0.5, dtype)), high, refined)
    return ew.neg(ew.log(ew.neg(ew.log1p(ew.neg(x)))))


def gumbel(key: Any, shape: Sequence[int] = (), dtype: Any = None, mode: str | None = None):
    """Standard Gumbel samples ``-log(-log(u))``; ``mode="high"`` uses twice the bits."""
    key = check_key("gumbel", key)
    dtype = _float_dtype("gumbel", dtype)
    mode = "low" if mode is None else mode
    if mode == "highest":
        raise NotImplementedError("fxgrad.random.gumbel: mode='highest' is not implemented")
    if mode not in ("high", "low"):
        raise ValueError(f"fxgrad.random.gumbel: mode must be 'low' or 'high', got {mode!r}")
    return _gumbel(key, _shape("gumbel", shape), dtype, mode)


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
    logits = _asarray(logits)
    lshape = _shape_of(logits)
    if not -len(lshape) <= axis < len(lshape):
        raise ShapeError(f"fxgrad.random.categorical: axis {axis} is out of range for {lshape}")
    axis_pos = axis % len(lshape)
    batch_shape = lshape[:axis_pos] + lshape[axis_pos + 1 :]
    shape = _resolve_shape("categorical", shape, batch_shape)
    prefix = shape[: len(shape) - len(batch_shape)]
    dtype = np.dtype(get_aval(logits).dtype)
    if replace:
        neg_axis = axis_pos - len(lshape)
        sample_shape = list(shape[len(shape) - len(batch_shape) :])
        sample_shape.insert(axis_pos, lshape[axis_pos])
        noise = gumbel(key, (*prefix, *sample_shape), dtype, mode)
        expanded = broadcast_to_shape(
            expand_dims(logits, tuple(range(len(prefix)))), _shape_of(noise)
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


def exponential(key: Any, shape: Sequence[int] = (), dtype: Any = None) -> Any:
    """Exponential(1) samples ``-log1p(-u)``."""
    key = check_key("exponential", key)
    dtype = _float_dtype("exponential", dtype)
    u = unit_floats(key, _shape("exponential", shape), dtype)
    return ew.neg(ew.log1p(ew.neg(u)))


def laplace(key: Any, shape: Sequence[int] = (), dtype: Any = None) -> Any:
    """Laplace(0, 1) samples ``sign(u) * log1p(-|u|)`` for ``u`` uniform in (-1, 1)."""
    key = check_key("laplace", key)
    dtype = _float_dtype("laplace", dtype)
    low = -1.0 + float(np.finfo(dtype).epsneg)
    u = _uniform(key, _shape("laplace", shape), dtype, low, 1.0)
    return ew.mul(ew.sign(u), ew.log1p(ew.neg(ew.abs(u))))


def logistic(key: Any, shape: Sequence[int] = (), dtype: Any = None) -> Any:
    """Standard logistic samples ``log(u) - log1p(-u)``."""
    key = check_key("logistic", key)
    dtype = _float_dtype("logistic", dtype)
    u = _uniform(key, _shape("logistic", shape), dtype, float(np.finfo(dtype).tiny), 1.0)
    return ew.sub(ew.log(u), ew.log1p(ew.neg(u)))


# ---------------------------------------------------------------------------------------
# Gamma family (Marsaglia and Tsang's rejection sampler, one key per element) and Poisson
# ---------------------------------------------------------------------------------------


def _gamma_samples(key: Any, a: Any, log_space: bool) -> Any:
    """``gamma_one`` over every element of ``a``, with keys ``split(key, a.size)``."""
    if math.prod(_shape_of(a)) == 0:
        return ew.mul(a, 0.0)
    return _gamma_sampler(key, a, log_space)


def _gamma_sampler_impl(key: Any, a: Any, log_space: bool) -> Any:
    from fxgrad.api import vmap

    shape = _shape_of(a)
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
        tiny = _full(np.finfo(x.dtype).tiny, x.dtype, x.shape)
        x = ew.select(ew.eq(x, ew.mul(tiny, 0.0)), tiny, x)
    dx_da = gamma_sample_grad(ew.stop_gradient(a), x)
    return out, ew.mul(tangents[1], ew.div(dx_da, x) if log_space else dx_da)


def _gamma(name: str, key: Any, a: Any, shape: Any, dtype: Any, log_space: bool) -> Any:
    key = check_key(name, key)
    dtype = _float_dtype(name, dtype)
    a = _asarray(a)
    shape = _resolve_shape(name, shape, _shape_of(a))
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
    dtype = _float_dtype("beta", dtype)
    shape = _resolve_shape("beta", shape, _shape_of(a), _shape_of(b))
    key_a, key_b = split_in_two(key)
    a = broadcast_to_shape(ew.convert_element_type(_asarray(a), dtype), shape)
    b = broadcast_to_shape(ew.convert_element_type(_asarray(b), dtype), shape)
    log_a = _gamma_samples(key_a, a, log_space=True)
    log_b = _gamma_samples(key_b, b, log_space=True)
    log_max = ew.max(log_a, log_b)
    scaled_a = ew.exp(ew.sub(log_a, log_max))
    scaled_b = ew.exp(ew.sub(log_b, log_max))
    return ew.div(scaled_a, ew.add(scaled_a, scaled_b))


def dirichlet(key: Any, alpha: Any, shape: Sequence[int] | None = None, dtype: Any = None):
    """Dirichlet(alpha) samples (``alpha`` of shape ``(..., k)``): normalised Gamma samples."""
    key = check_key("dirichlet", key)
    dtype = _float_dtype("dirichlet", dtype)
    alpha = _asarray(alpha)
    ashape = _shape_of(alpha)
    if not ashape:
        raise ShapeError("fxgrad.random.dirichlet: alpha must have rank >= 1, got a scalar.")
    shape = _resolve_shape("dirichlet", shape, ashape[:-1])
    full = shape + ashape[-1:]
    alpha = broadcast_to_shape(ew.convert_element_type(alpha, dtype), full)
    log_samples = _gamma_samples(key, alpha, log_space=True)
    last = (len(full) - 1,)
    top = expand_dims(ew.stop_gradient(reduce_max(log_samples, last)), last)
    unnormalized = ew.exp(ew.sub(log_samples, broadcast_to_shape(top, full)))
    total = broadcast_to_shape(expand_dims(reduce_sum(unnormalized, last), last), full)
    return ew.div(unnormalized, total)


def _power(x: Any, p: Any, dtype: np.dtype) -> Any:
    """``x ** p`` as ``jax.numpy`` computes it: repeated products for a Python int ``p``."""
    if isinstance(p, int) and not isinstance(p, bool):
        return ew.integer_pow(x, p)
    exponent = _const(p, dtype) if _is_python_number(p) else ew.convert_element_type(p, dtype)
    return ew.pow(x, broadcast_to_shape(exponent, _shape_of(x)))


def _reciprocal(p: Any, dtype: np.dtype) -> Any:
    """``1 / p``: in Python's float64 for a number (then cast, as JAX's weak typing does)."""
    if _is_python_number(p):
        return 1.0 / p
    return ew.div(_const(1.0, dtype), ew.convert_element_type(_asarray(p), dtype))


def generalized_normal(key: Any, p: float, shape: Sequence[int] = (), dtype: Any = None):
    """Samples with density proportional to ``exp(-|x|**p)``: ``±Gamma(1/p)**(1/p)``."""
    key = check_key("generalized_normal", key)
    dtype = _float_dtype("generalized_normal", dtype)
    shape = _shape("generalized_normal", shape)
    key_g, key_r = split_in_two(key)
    inv_p = _reciprocal(p, dtype)
    alpha = broadcast_to_shape(_convert(inv_p, dtype), shape)
    g = _gamma_samples(key_g, alpha, log_space=False)
    r = rademacher(key_r, shape, dtype)
    return ew.mul(r, _power(g, inv_p, dtype))


def ball(key: Any, d: int, p: float = 2, shape: Sequence[int] = (), dtype: Any = None) -> Any:
    """Points uniform in the unit ``p``-norm ball of dimension ``d``: shape ``(*shape, d)``.

    Barthe, Guédon, Mendelson and Naor (2005), https://arxiv.org/abs/math/0503650.
    """
    key = check_key("ball", key)
    dtype = _float_dtype("ball", dtype)
    shape = _shape("ball", shape)
    d = operator.index(d)
    key_g, key_e = split_in_two(key)
    g = generalized_normal(key_g, p, (*shape, d), dtype)
    e = exponential(key_e, shape, dtype)
    norm = ew.add(reduce_sum(_power(ew.abs(g), p, dtype), (len(shape),)), e)
    scale = _power(norm, _reciprocal(p, dtype), dtype)
    return ew.div(g, broadcast_to_shape(expand_dims(scale, (len(shape),)), (*shape, d)))


def poisson(key: Any, lam: Any, shape: Sequence[int] | None = None, dtype: Any = None) -> Any:
    """Poisson(lam) counts (default dtype int64); ``lam`` is used in float32, as in JAX.

    Knuth's multiplication method for ``lam < 10``, Hormann's transformed rejection
    ("The transformed rejection method for generating Poisson random variables", 1993)
    otherwise. Not differentiable (integer-valued).
    """
    key = check_key("poisson", key)
    dtype = _int_dtype("poisson", dtype)
    lam = _asarray(lam)
    shape = _resolve_shape("poisson", shape, _shape_of(lam))
    lam = broadcast_to_shape(ew.convert_element_type(ew.stop_gradient(lam), np.float32), shape)
    use_knuth = ew.bitwise_or(ew.ne(lam, lam), ew.lt(lam, _full(10.0, np.float32, shape)))
    lam_knuth = ew.select(use_knuth, lam, _full(0.0, np.float32, shape))
    lam_rejection = ew.select(use_knuth, _full(1e5, np.float32, shape), lam)
    result = ew.select(
        use_knuth,
        poisson_knuth(key, lam_knuth, shape, dtype),
        poisson_rejection(key, lam_rejection, shape, dtype),
    )
    return ew.select(ew.eq(lam, _full(0.0, np.float32, shape)), _full(0, dtype, shape), result)
