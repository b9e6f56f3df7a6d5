"""The ``threefry2x32`` primitive, key operations, and the lax-level sampling machinery.

Threefry-2x32 (Salmon, Moraes, Dror and Shaw, "Parallel random numbers: as easy as 1,
2, 3", SC 2011, https://www.thesalmons.org/john/random123/papers/random123sc11.pdf) is a
counter-based generator: a keyed bijection of a pair of 32-bit words, here with 20
rounds, the rotation constants and the key schedule of the paper (Random123's
``threefry2x32_20``, JAX's ``threefry2x32`` primitive). A pure function of (key,
counter), it needs no state, vectorises over counters, and gives the same bits under
``jit``, ``vmap`` and on every device. It is integer-valued and declares a zero
derivative (``defzero``), so differentiating a sampler never differentiates its key.

The key operations follow JAX's default ``jax_threefry_partitionable=True`` mode bit
for bit (https://github.com/jax-ml/jax/blob/main/docs/jep/263-prng.md):

* ``random_seed``: a 64-bit integer seed becomes the key ``(seed >> 32, seed & 0xFFFFFFFF)``;
* ``random_split(key, shape)``: one new key per 64-bit counter ``0 .. n - 1``, each the
  hash of the counter's (hi, lo) words;
* ``random_fold_in(key, data)``: the hash of the counter pair ``(0, data)``;
* ``random_bits(key, width, shape)``: the hash of each element's row-major index; the
  two output words are xor-ed (32 bits), concatenated (64) or truncated (8, 16).

A key is a uint32 array whose last axis has size 2. The rest of the module turns bits
into numbers exactly as JAX's samplers do: ``unit_floats`` (floats in [0, 1)), ``fma``
(the fused multiply-add XLA contracts ``a * b + c`` into), ``random_integers``,
``shuffle_along``, ``standard_normal``, and the rejection loops of the Gamma
(Marsaglia-Tsang) and Poisson (Knuth, Hormann) samplers. Everything is written with
lax primitives, so it traces, batches and compiles like any other lax code.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction
from typing import Any

import numpy as np

from fxgrad.core import ShapedArray, get_aval, tangent_aval
from fxgrad.errors import FxgradTypeError, ShapeError
from fxgrad.interpreters import batching
from fxgrad.interpreters.jvp import Zero, defzero
from fxgrad.lax import elementwise as ew
from fxgrad.lax._define import define_primitive
from fxgrad.lax.control_flow import while_loop
from fxgrad.lax.reduction import reduce_or
from fxgrad.lax.shape import broadcast_in_dim, broadcast_to_shape, reshape
from fxgrad.lax.slicing import concatenate, index_in_dim, iota, slice_in_dim
from fxgrad.lax.sorting import sort_key_val

__all__ = [
    "KEY_SHAPE",
    "check_key",
    "fma",
    "fma_p",
    "gamma_one",
    "gamma_sample_grad",
    "poisson_knuth",
    "poisson_rejection",
    "random_bits",
    "random_fold_in",
    "random_integers",
    "random_seed",
    "random_split",
    "shuffle_along",
    "split_in_two",
    "standard_normal",
    "threefry2x32",
    "threefry2x32_p",
    "unit_floats",
]

#: the trailing shape of a threefry key's data
KEY_SHAPE = (2,)

_UINT32 = np.dtype(np.uint32)
_UINT_DTYPES = {
    8: np.dtype(np.uint8),
    16: np.dtype(np.uint16),
    32: _UINT32,
    64: np.dtype(np.uint64),
}

# Rotation distances of the two alternating groups of four rounds, and the key-schedule
# parity constant (Salmon et al. 2011, table 4; Random123's threefry.h).
_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))
_PARITY = np.uint32(0x1BD11BDA)

# --- threefry2x32 ----------------------------------------------------------------------


def _rotate_left(x: np.ndarray, r: int) -> np.ndarray:
    return (x << np.uint32(r)) | (x >> np.uint32(32 - r))


def _threefry2x32_impl(key1, key2, x1, x2):
    """20 rounds of Threefry-2x32 on uint32 NumPy arrays (wrapping arithmetic)."""
    arrays = [np.asarray(a, dtype=_UINT32) for a in (key1, key2, x1, x2)]
    shape = np.broadcast_shapes(*(a.shape for a in arrays))
    size = math.prod(shape)
    # Work on flat 1-d arrays: arithmetic on 0-d arrays returns NumPy scalars, which
    # warn on wraparound. Scalars stay of size 1 and broadcast; the state words are
    # fresh full-size arrays, updated in place.
    k1, k2, c1, c2 = (a.reshape(-1) if a.size != 1 else a.reshape(1) for a in arrays)
    schedule = (k1, k2, k1 ^ k2 ^ _PARITY)
    y1 = np.broadcast_to(c1 + schedule[0], (size,)).copy()
    y2 = np.broadcast_to(c2 + schedule[1], (size,)).copy()
    for block in range(5):
        for r in _ROTATIONS[block % 2]:
            y1 += y2
            y2 = _rotate_left(y2, r)
            y2 ^= y1
        y1 += schedule[(block + 1) % 3]
        y2 += schedule[(block + 2) % 3]
        y2 += np.uint32(block + 1)
    return [y1.reshape(shape), y2.reshape(shape)]


def _common_shape(avals: Sequence[ShapedArray]) -> tuple[int, ...]:
    """The shape shared by the non-scalar operands (scalars broadcast, as in JAX)."""
    shapes = {tuple(a.shape) for a in avals if a.shape}
    if len(shapes) > 1:
        shown = ", ".join(str(tuple(a.shape)) for a in avals)
        raise ShapeError(
            f"threefry2x32 got operands of shapes {shown}: the key words and counters must "
            "be scalars or share one shape. Broadcast them first (lax.broadcast_in_dim)."
        )
    return shapes.pop() if shapes else ()


def _threefry2x32_abstract_eval(*avals: ShapedArray) -> list[ShapedArray]:
    bad = [a.str_short() for a in avals if np.dtype(a.dtype) != _UINT32]
    if bad:
        shown = ", ".join(a.str_short() for a in avals)
        raise FxgradTypeError(
            f"threefry2x32 needs uint32 key words and counters (key1, key2, x1, x2), got "
            f"{shown}. Convert them with lax.convert_element_type(x, 'uint32')."
        )
    shape = _common_shape(avals)
    return [ShapedArray(shape, _UINT32), ShapedArray(shape, _UINT32)]


def _threefry2x32_batch(axis_size, vals, dims):
    """Batch axes go to the front; batched scalars broadcast over the common shape."""
    avals = [get_aval(v) for v in vals]
    unbatched = [
        a if d is batching.not_mapped else ShapedArray(a.shape[:d] + a.shape[d + 1 :], a.dtype)
        for a, d in zip(avals, dims, strict=True)
    ]
    shape = _common_shape(unbatched)
    full = (axis_size, *shape)
    moved = []
    for x, d, a in zip(vals, dims, unbatched, strict=True):
        if d is batching.not_mapped:
            # an unbatched scalar stays a scalar; an array gains the batch axis
            moved.append(
                x if not a.shape else broadcast_in_dim(x, full, tuple(range(1, len(full))))
            )
            continue
        x = batching.moveaxis(x, d, 0)
        if not a.shape and shape:
            x = broadcast_in_dim(x, full, (0,))
        moved.append(x)
    return threefry2x32_p.bind(*moved), [0, 0]


threefry2x32_p = define_primitive(
    "threefry2x32",
    impl=_threefry2x32_impl,
    abstract_eval=_threefry2x32_abstract_eval,
    jvp=None,  # integer-valued: a zero derivative, registered with defzero below
    batch=_threefry2x32_batch,
    kernel="library",
    multiple_results=True,
)
defzero(threefry2x32_p)


def _as_uint32(x: Any, name: str) -> Any:
    if isinstance(x, int) and not isinstance(x, bool):
        return np.asarray(x, dtype=_UINT32)  # OverflowError outside [0, 2**32), as NumPy
    if isinstance(x, (list, tuple)):
        return np.asarray(x, dtype=_UINT32)
    aval = get_aval(x)
    if np.dtype(aval.dtype) != _UINT32:
        raise FxgradTypeError(
            f"threefry2x32: {name} must be uint32, got {aval.str_short()}. Convert it with "
            "lax.convert_element_type(x, 'uint32')."
        )
    return x


def threefry2x32(key1: Any, key2: Any, x1: Any, x2: Any) -> tuple[Any, Any]:
    """The Threefry-2x32 hash (20 rounds) of the counter pairs ``(x1, x2)`` under a key.

    Elementwise over uint32 arrays: the key words and the counters are scalars or share
    one shape. Python ints are taken as uint32.

    Args:
      key1, key2: the two words of the key.
      x1, x2: the two words of each counter.

    Returns:
      ``(y1, y2)``: two uint32 arrays of the common shape.

    Example:
      >>> from fxgrad.lax.random_bits import threefry2x32
      >>> [hex(int(y)) for y in threefry2x32(0, 0, 0, 0)]  # Random123's known answer
      ['0x6b200159', '0x99ba4efe']
    """
    names = ("key1", "key2", "x1", "x2")
    args = [_as_uint32(a, n) for a, n in zip((key1, key2, x1, x2), names, strict=True)]
    _threefry2x32_abstract_eval(*(get_aval(a) for a in args))  # eager: check before impl
    y1, y2 = threefry2x32_p.bind(*args)
    return y1, y2


# --- keys ----------------------------------------------------------------------------------


def check_key(name: str, key: Any, *, allow_batched: bool = False) -> Any:
    """``key`` as a uint32 key array, after checking its dtype and (trailing) shape."""
    if isinstance(key, (list, tuple)) or type(key).__module__ == "numpy":
        key = np.asarray(key)
    try:
        aval = get_aval(key)
    except TypeError:
        raise FxgradTypeError(
            f"fxgrad.random.{name}: expected a PRNG key (a uint32 array of shape (2,), from "
            f"fxgrad.random.key or split), got {type(key).__name__}."
        ) from None
    if np.dtype(aval.dtype) != _UINT32 or aval.shape[-1:] != KEY_SHAPE:
        raise FxgradTypeError(
            f"fxgrad.random.{name}: expected a PRNG key, a uint32 array of shape (2,) (or "
            f"(..., 2) for a batch of keys), got {aval.str_short()}. Make keys with "
            "fxgrad.random.key(seed) / PRNGKey(seed) and new ones with split or fold_in."
        )
    if not allow_batched and aval.ndim != 1:
        raise ShapeError(
            f"fxgrad.random.{name} takes a single key (shape (2,)), got a batch of keys of "
            f"shape {aval.shape[:-1]} (data shape {aval.shape}). Map over the keys with "
            f"fxgrad.vmap, e.g. vmap(lambda k: fxgrad.random.{name}(k, ...))(keys)."
        )
    return key


def _key_words(key: Any) -> tuple[Any, Any]:
    k1 = reshape(slice_in_dim(key, 0, 1, axis=0), ())
    k2 = reshape(slice_in_dim(key, 1, 2, axis=0), ())
    return k1, k2


def _stack_words(y1: Any, y2: Any) -> Any:
    shape = tuple(get_aval(y1).shape)
    column = (*shape, 1)
    return concatenate([reshape(y1, column), reshape(y2, column)], len(shape))


def _counters(shape: Sequence[int]) -> tuple[Any, Any]:
    """The row-major index of each element of ``shape``, as (hi, lo) uint32 words."""
    size = math.prod(shape)
    if size > 2**32:
        raise NotImplementedError(
            f"fxgrad.random: {size} values ({shape}) exceed the 2**32 counters fxgrad "
            "generates per key; split the key and draw in blocks."
        )
    hi = np.zeros((), _UINT32)
    if not shape:
        return hi, np.zeros((), _UINT32)
    return hi, reshape(iota(_UINT32, size), tuple(shape))


def random_seed(seed: Any) -> Any:
    """Key data ``(seed >> 32, seed & 0xFFFFFFFF)`` of an integer seed (JAX's rule).

    Seeds of 32 bits or fewer have a zero high word; negative seeds use their two's
    complement bits in their own width.
    """
    if isinstance(seed, bool):
        seed = int(seed)
    if isinstance(seed, int):
        seed = np.int64(seed)  # OverflowError beyond int64, as JAX's conversion
    aval = get_aval(seed)
    dtype = np.dtype(aval.dtype)
    if aval.shape:
        raise ShapeError(
            f"fxgrad.random.key takes a scalar seed, got an array of shape {aval.shape}. "
            "Make a batch of keys with fxgrad.vmap(fxgrad.random.key)(seeds)."
        )
    if dtype == np.bool_:
        seed, dtype = ew.convert_element_type(seed, np.int32), np.dtype(np.int32)
    if dtype.kind not in "iu":
        raise FxgradTypeError(
            f"fxgrad.random.key: the seed must be an integer, got {aval.str_short()}."
        )
    lo = ew.convert_element_type(seed, _UINT32)
    if dtype.itemsize == 8:
        hi = ew.convert_element_type(ew.shift_right_logical(seed, 32), _UINT32)
    else:
        hi = np.zeros((), _UINT32)
    return concatenate([reshape(hi, (1,)), reshape(lo, (1,))], 0)


def random_split(key: Any, shape: Sequence[int]) -> Any:
    """``prod(shape)`` new keys, of data shape ``(*shape, 2)``."""
    k1, k2 = _key_words(key)
    hi, lo = _counters(shape)
    y1, y2 = threefry2x32_p.bind(k1, k2, hi, lo)
    return _stack_words(y1, y2)


def random_fold_in(key: Any, data: Any) -> Any:
    """A new key from ``key`` and a uint32 scalar ``data``."""
    k1, k2 = _key_words(key)
    y1, y2 = threefry2x32_p.bind(k1, k2, np.zeros((), _UINT32), data)
    return concatenate([reshape(y1, (1,)), reshape(y2, (1,))], 0)


def random_bits(key: Any, bit_width: int, shape: Sequence[int]) -> Any:
    """Uniform random unsigned integers of ``bit_width`` bits (8, 16, 32 or 64)."""
    if bit_width not in _UINT_DTYPES:
        raise ValueError(f"random_bits: bit_width must be 8, 16, 32 or 64, got {bit_width}")
    shape = tuple(int(d) for d in shape)
    k1, k2 = _key_words(key)
    hi, lo = _counters(shape)
    y1, y2 = threefry2x32_p.bind(k1, k2, hi, lo)
    if bit_width == 64:
        wide = _UINT_DTYPES[64]
        y1 = ew.convert_element_type(y1, wide)
        y2 = ew.convert_element_type(y2, wide)
        return ew.bitwise_or(ew.shift_left(y1, np.asarray(32, wide)), y2)
    bits = ew.bitwise_xor(y1, y2)
    if bit_width == 32:
        return bits
    return ew.convert_element_type(bits, _UINT_DTYPES[bit_width])


def unit_floats(key: Any, shape: Sequence[int], dtype: Any) -> Any:
    """Floats ``m * 2**-nmant`` in [0, 1) from the top ``nmant`` bits of random words.

    Equal to JAX's ``bitcast(bits >> (nbits - nmant) | bits_of(1.0)) - 1``: the integer
    ``m`` converts to the float exactly and the scaling by a power of two is exact.
    """
    dtype = np.dtype(dtype)
    info = np.finfo(dtype)
    words = random_bits(key, info.bits, shape)
    shift = np.asarray(info.bits - info.nmant, _UINT_DTYPES[info.bits])
    mantissa = ew.shift_right_logical(words, shift)
    return ew.mul(ew.convert_element_type(mantissa, dtype), np.asarray(2.0**-info.nmant, dtype))


# --- integer building blocks of the samplers ------------------------------------------------


def split_in_two(key: Any) -> tuple[Any, Any]:
    """``split(key)`` as two keys."""
    keys = random_split(key, (2,))
    return index_in_dim(keys, 0, 0, keepdims=False), index_in_dim(keys, 1, 0, keepdims=False)


def shuffle_along(key: Any, x: Any, axis: int) -> Any:
    """Shuffle ``x`` along ``axis`` by sorting on random 32-bit keys (JAX's algorithm).

    Ties between sort keys would bias the shuffle, so it re-sorts with fresh keys
    ``ceil(3 ln(n) / ln(2**32 - 1))`` times: once up to n ~ 1600, twice beyond.
    """
    shape = tuple(get_aval(x).shape)
    size = math.prod(shape)
    rounds = int(np.ceil(3 * np.log(max(1, size)) / np.log(np.iinfo(np.uint32).max)))
    for _ in range(rounds):
        key, subkey = split_in_two(key)
        _, x = sort_key_val(random_bits(subkey, 32, shape), x, axis)
    return x


def _clip_to(x: Any, dtype: np.dtype) -> Any:
    """Integer ``x`` clipped to the range of ``dtype`` (in x's dtype), then cast."""
    src = np.dtype(get_aval(x).dtype)
    info, src_info = np.iinfo(dtype), np.iinfo(src)
    lo = np.asarray(max(int(info.min), int(src_info.min)), src)
    hi = np.asarray(min(int(info.max), int(src_info.max)), src)
    return ew.convert_element_type(ew.clamp(lo, x, hi), dtype)


def random_integers(key: Any, shape: Sequence[int], minval: Any, maxval: Any, dtype: Any) -> Any:
    """Integers in ``[minval, maxval)`` of a 32- or 64-bit ``dtype`` (JAX's ``_randint``).

    Two words of random bits, ``hi`` and ``lo``, are reduced as ``(hi * 2**nbits + lo) mod
    span`` without overflow, using ``2**nbits mod span == (2**(nbits/2) mod span)**2``.
    ``maxval <= minval`` gives ``minval``; a ``maxval`` beyond the dtype's range widens
    the span by one (which wraps to 0, a no-op remainder, for the full range).
    """
    shape = tuple(shape)
    dtype = np.dtype(dtype)
    nbits = np.iinfo(dtype).bits
    unsigned = _UINT_DTYPES[nbits]
    top = _clip_to(np.asarray(np.iinfo(dtype).max, dtype), np.dtype(get_aval(maxval).dtype))
    out_of_range = broadcast_to_shape(ew.gt(maxval, top), shape)
    minval = broadcast_to_shape(_clip_to(minval, dtype), shape)
    maxval = broadcast_to_shape(_clip_to(maxval, dtype), shape)
    key_hi, key_lo = split_in_two(key)
    higher_bits = random_bits(key_hi, nbits, shape)
    lower_bits = random_bits(key_lo, nbits, shape)
    one = broadcast_in_dim(np.asarray(1, unsigned), shape, ())
    span = ew.convert_element_type(ew.sub(maxval, minval), unsigned)
    span = ew.select(ew.le(maxval, minval), one, span)
    wider = ew.bitwise_and(out_of_range, ew.gt(maxval, minval))
    span = ew.select(wider, ew.add(span, one), span)
    half = broadcast_in_dim(np.asarray(2 ** (nbits // 2), unsigned), shape, ())
    multiplier = ew.rem(half, span)
    multiplier = ew.rem(ew.mul(multiplier, multiplier), span)
    offset = ew.add(ew.mul(ew.rem(higher_bits, span), multiplier), ew.rem(lower_bits, span))
    offset = ew.rem(offset, span)
    return ew.add(minval, ew.convert_element_type(offset, dtype))


# --- fma -----------------------------------------------------------------------------------


def _two_sum(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(s, e)`` with ``s = fl(a + b)`` and ``s + e == a + b`` exactly (Knuth)."""
    s = a + b
    b_virtual = s - a
    return s, (a - (s - b_virtual)) + (b - b_virtual)


def _two_product(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(p, e)`` with ``p = fl(a * b)`` and ``p + e == a * b`` exactly (Dekker, Veltkamp)."""

    def halves(x):
        t = x * 134217729.0  # 2**27 + 1
        hi = t - (t - x)
        return hi, x - hi

    p = a * b
    (a_hi, a_lo), (b_hi, b_lo) = halves(a), halves(b)
    return p, (((a_hi * b_hi - p) + a_hi * b_lo) + a_lo * b_hi) + a_lo * b_lo


def _fma_narrow(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """float16/32: the float64 product is exact and the float64 sum rounds once; the
    second rounding, to the narrow type, is wrong only from a float64 sum lying exactly
    half-way between two narrow values, which the sum's exact error resolves."""
    dtype = a.dtype
    wide = np.float64
    total, err = _two_sum(a.astype(wide) * b.astype(wide), c.astype(wide))
    rounded = total.astype(dtype)
    offset = total - rounded.astype(wide)  # exact
    neighbour = np.nextafter(rounded, np.where(offset > 0, np.inf, -np.inf).astype(dtype))
    half = (neighbour.astype(wide) - rounded.astype(wide)) * 0.5
    beyond = (err != 0) & ((err > 0) == (offset > 0))
    return np.where((offset == half) & (offset != 0) & beyond, neighbour, rounded)


def _fma_impl(a, b, c):
    a, b, c = (np.asarray(v) for v in (a, b, c))
    with np.errstate(all="ignore"):
        if a.dtype.itemsize < 8:
            return _fma_narrow(a, b, c).astype(a.dtype)
        prod, prod_err = _two_product(a, b)
        total, sum_err = _two_sum(prod, c)
        exact = total + (sum_err + prod_err)
        # Dekker's split overflows beyond ~1e300: fall back to two roundings there
        out = np.where(np.isfinite(exact), exact, a * b + c).astype(a.dtype)
        # below ~2**-960 the product's rounding error underflows: round the exact
        # rational value instead (rare, so an element-by-element loop)
        tiny = (np.abs(prod) < 2.0**-960) & (a * b != 0) & np.isfinite(c)
        if tiny.any():
            flat = out.reshape(-1)
            a, b, c = (np.broadcast_to(v, out.shape).reshape(-1) for v in (a, b, c))
            for i in np.flatnonzero(tiny):
                flat[i] = float(
                    Fraction(float(a[i])) * Fraction(float(b[i])) + Fraction(float(c[i]))
                )
        return out


def _fma_abstract_eval(a: ShapedArray, b: ShapedArray, c: ShapedArray) -> ShapedArray:
    avals = (a, b, c)
    if len({tuple(v.shape) for v in avals}) > 1:
        shown = ", ".join(v.str_short() for v in avals)
        raise ShapeError(f"fma needs operands of one shape, got {shown}; broadcast them first.")
    if len({np.dtype(v.dtype) for v in avals}) > 1 or np.dtype(a.dtype).kind != "f":
        shown = ", ".join(v.str_short() for v in avals)
        raise FxgradTypeError(f"fma needs operands of one real floating dtype, got {shown}.")
    return ShapedArray(a.shape, a.dtype, all(v.weak_type for v in avals))


def _fma_jvp(primals, tangents):
    a, b, c = primals
    a_dot, b_dot, c_dot = tangents
    out = fma_p.bind(a, b, c)
    terms = []
    if type(a_dot) is not Zero:
        terms.append(ew.mul(a_dot, b))
    if type(b_dot) is not Zero:
        terms.append(ew.mul(a, b_dot))
    if type(c_dot) is not Zero:
        terms.append(c_dot)
    if not terms:
        return out, Zero(tangent_aval(get_aval(out)))
    tangent = terms[0]
    for term in terms[1:]:
        tangent = ew.add(tangent, term)
    return out, tangent


fma_p = define_primitive(
    "fma",
    impl=_fma_impl,
    abstract_eval=_fma_abstract_eval,
    jvp=_fma_jvp,
    batch=None,
    kernel="library",
)
batching.defbroadcasting(fma_p)


def fma(a: Any, b: Any, c: Any) -> Any:
    """``a * b + c`` with a single rounding (a fused multiply-add), elementwise.

    XLA's CPU backend contracts ``a * b + c`` into an FMA, so this is how JAX's
    ``uniform(key, shape, dtype, minval, maxval)`` computes ``floats * (maxval - minval)
    + minval``; fxgrad computes it the same way to return the same bits. NumPy has no
    FMA, so the value is built from exact float64 products and error-free sums
    (Dekker 1971, Knuth TAOCP vol. 2): correctly rounded for float16 and float32, and
    for float64 except in rare ties of the last place. Operands broadcast and share a
    real floating dtype (Python scalars adapt).

    Example:
      >>> import numpy as np
      >>> from fxgrad.lax.random_bits import fma
      >>> x = np.float32(1 + 2**-12)
      >>> float(fma(x, x, np.float32(-1))) == 2**-11 + 2**-24  # x*x - 1 rounds to 2**-11
      True
    """
    args = ew.elementwise_args(a, b, c, name="fma")
    _fma_abstract_eval(*(get_aval(v) for v in args))  # eager: check before impl
    return fma_p.bind(*args)


# --- sampling loops (lax-level; the distributions in fxgrad/random.py call them) ----------


def _scalar(value: Any, dtype: Any) -> np.ndarray:
    return np.asarray(value, dtype=dtype)


def _fill(value: Any, dtype: Any, shape: tuple[int, ...]) -> Any:
    return broadcast_in_dim(np.asarray(value, dtype=dtype), shape, ())


def standard_normal(key: Any, shape: Sequence[int], dtype: Any) -> Any:
    """JAX's normal: ``sqrt(2) * erf_inv(u)``, ``u = max(lo, 2 * f + lo)`` uniform in (-1, 1).

    ``lo = nextafter(-1, 0)``; ``1 - lo`` rounds to exactly 2 in every float type, so the
    product is exact and the sum rounds once, as JAX's fused multiply-add does.
    """
    dtype = np.dtype(dtype)
    shape = tuple(shape)
    lo = np.nextafter(_scalar(-1.0, dtype), _scalar(0.0, dtype))
    scale = _scalar(1.0, dtype) - lo
    assert scale == 2.0, scale
    lo_full = _fill(lo, dtype, shape)
    u = ew.max(
        lo_full, ew.add(ew.mul(unit_floats(key, shape, dtype), _fill(scale, dtype, shape)), lo_full)
    )
    return ew.mul(_fill(np.sqrt(2.0), dtype, shape), ew.erf_inv(u))


def gamma_one(key: Any, alpha: Any, log_space: bool) -> Any:
    """One Gamma(alpha) sample (scalar ``alpha``), JAX's algorithm step for step.

    Marsaglia and Tsang, "A simple method for generating gamma variables" (2000),
    https://doi.org/10.1145/358407.358414; for alpha < 1, Gamma(alpha + 1) * U**(1/alpha).
    """
    dtype = np.dtype(get_aval(alpha).dtype)
    zero, one = _scalar(0.0, dtype), _scalar(1.0, dtype)
    third = _scalar(1.0 / 3.0, dtype)
    boost_mask = ew.ge(alpha, one)
    alpha_orig = alpha
    alpha = ew.select(boost_mask, alpha, ew.add(alpha, one))
    d = ew.sub(alpha, third)
    c = ew.div(third, ew.sqrt(d))

    def accept(state):
        _, x2, v, u = state
        squeeze = ew.ge(u, ew.sub(one, ew.mul(_scalar(0.0331, dtype), ew.mul(x2, x2))))
        tail = ew.add(ew.mul(x2, _scalar(0.5, dtype)), ew.mul(d, ew.add(ew.sub(one, v), ew.log(v))))
        return ew.bitwise_and(squeeze, ew.ge(ew.log(u), tail))

    def draw(state):
        keys = random_split(state[0], (3,))
        key, x_key, u_key = (index_in_dim(keys, i, 0, keepdims=False) for i in range(3))

        def next_x(kxv):
            k, sub = split_in_two(kxv[0])
            x = standard_normal(sub, (), dtype)
            return k, x, ew.add(one, ew.mul(x, c))

        _, x, v = while_loop(lambda kxv: ew.le(kxv[2], zero), next_x, (x_key, zero, -one))
        u = unit_floats(u_key, (), dtype)
        return key, ew.mul(x, x), ew.mul(ew.mul(v, v), v), u

    key, subkey = split_in_two(key)
    _, _, v, _ = while_loop(accept, draw, (key, zero, one, _scalar(2.0, dtype)))
    if log_space:
        log_u = ew.log1p(ew.neg(unit_floats(subkey, (), dtype)))  # -exponential()
        skip = ew.bitwise_or(boost_mask, ew.eq(log_u, zero))
        log_boost = ew.select(skip, zero, ew.mul(log_u, ew.div(one, alpha_orig)))
        return ew.add(ew.add(ew.log(d), ew.log(v)), log_boost)
    u = ew.sub(one, unit_floats(subkey, (), dtype))
    boost = ew.select(boost_mask, one, ew.pow(u, ew.div(one, alpha_orig)))
    return ew.mul(ew.mul(d, v), boost)


def poisson_knuth(key: Any, lam: Any, shape: tuple[int, ...], dtype: np.dtype) -> Any:
    """Poisson counts by Knuth's method: multiply float32 uniforms until below exp(-lam).

    One key per step for the whole array; the loop runs until every lane is done.
    """
    f32 = np.dtype(np.float32)
    neg_lam = ew.neg(lam)

    def body(carry):
        k, rng, log_prod = carry
        rng, subkey = split_in_two(rng)
        k = ew.select(ew.gt(log_prod, neg_lam), ew.add(k, _scalar(1, dtype)), k)
        u = unit_floats(subkey, shape, f32)
        return k, rng, ew.add(log_prod, ew.log(u))

    def running(carry):
        return _any(ew.gt(carry[2], neg_lam))

    init = (_fill(0, dtype, shape), key, _fill(0.0, f32, shape))
    k = while_loop(running, body, init)[0]
    return ew.sub(k, _scalar(1, dtype))


def _any(x: Any) -> Any:
    return reduce_or(x, tuple(range(get_aval(x).ndim)))


def poisson_rejection(key: Any, lam: Any, shape: tuple[int, ...], dtype: np.dtype) -> Any:
    """Poisson counts by Hormann's transformed rejection (PTRS), in float32.

    Hormann, "The transformed rejection method for generating Poisson random
    variables" (1993). As in JAX, the whole array draws one pair of uniforms per step
    and the loop runs until every lane has accepted; a lane keeps the value of the last
    step in which it accepted.
    """
    f32 = np.dtype(np.float32)

    def c(v):
        return _fill(v, f32, shape)

    log_lam = ew.log(lam)
    b = ew.add(c(0.931), ew.mul(c(2.53), ew.sqrt(lam)))
    a = ew.add(c(-0.059), ew.mul(c(0.02483), b))
    inv_alpha = ew.add(c(1.1239), ew.div(c(1.1328), ew.sub(b, c(3.4))))
    v_r = ew.sub(c(0.9277), ew.div(c(3.6224), ew.sub(b, c(2.0))))

    def body(carry):
        k_out, accepted, rng = carry
        keys = random_split(rng, (3,))
        rng, key_u, key_v = (index_in_dim(keys, j, 0, keepdims=False) for j in range(3))
        u = ew.sub(unit_floats(key_u, shape, f32), c(0.5))
        v = unit_floats(key_v, shape, f32)
        u_shifted = ew.sub(c(0.5), ew.abs(u))
        slope = ew.add(ew.div(ew.mul(c(2.0), a), u_shifted), b)
        k = ew.floor(ew.add(ew.add(ew.mul(slope, u), lam), c(0.43)))
        s = ew.log(ew.div(ew.mul(v, inv_alpha), ew.add(ew.div(a, ew.mul(u_shifted, u_shifted)), b)))
        t = ew.sub(ew.add(ew.neg(lam), ew.mul(k, log_lam)), ew.lgamma(ew.add(k, c(1.0))))
        accept1 = ew.bitwise_and(ew.ge(u_shifted, c(0.07)), ew.le(v, v_r))
        reject = ew.bitwise_or(
            ew.lt(k, c(0.0)), ew.bitwise_and(ew.lt(u_shifted, c(0.013)), ew.gt(v, u_shifted))
        )
        accept = ew.bitwise_or(accept1, ew.bitwise_and(ew.bitwise_not(reject), ew.le(s, t)))
        k_out = ew.select(accept, k, k_out)
        return k_out, ew.bitwise_or(accepted, accept), rng

    init = (c(-1.0), _fill(False, np.dtype(bool), shape), key)
    k = while_loop(lambda carry: _any(ew.bitwise_not(carry[1])), body, init)[0]
    return ew.convert_element_type(k, dtype)


def gamma_sample_grad(a: Any, x: Any) -> Any:
    """``dx/da`` of a Gamma(a) sample ``x`` at a fixed CDF: the implicit reparameterisation
    gradient (Figurnov, Mohamed and Mnih, 2018, https://arxiv.org/abs/1805.08498).

    ``dx/da = -(dP(a, x)/da) / p(x; a)``, with ``P`` the regularised lower incomplete gamma
    function and ``p`` the density. ``dP/da`` is summed from the series
    ``P = sum_n u_n``, ``u_0 = exp(a log x - x - lgamma(a + 1))``,
    ``u_n = u_(n-1) x / (a + n)``, differentiated term by term; every term is at most 1, so
    nothing overflows. Computed in float64 (the sum cancels in the upper tail) and cast
    back; a loop runs until every element's terms are negligible.
    """
    dtype = np.dtype(get_aval(x).dtype)
    wide = np.dtype(np.float64)
    a = ew.convert_element_type(a, wide)
    x = ew.convert_element_type(x, wide)
    shape = tuple(get_aval(x).shape)
    log_x = ew.log(x)
    u = ew.exp(ew.sub(ew.sub(ew.mul(a, log_x), x), ew.lgamma(ew.add(a, _fill(1.0, wide, shape)))))
    du = ew.mul(u, ew.sub(log_x, ew.digamma(ew.add(a, _fill(1.0, wide, shape)))))
    eps = _fill(np.finfo(wide).eps, wide, shape)

    def unfinished(state):
        n, u_n, du_n, total = state
        small = ew.le(ew.abs(du_n), ew.mul(eps, ew.abs(total)))
        decaying = ew.lt(x, ew.add(a, n))  # terms only shrink once a + n > x
        done = ew.bitwise_and(ew.bitwise_and(small, decaying), ew.le(u_n, eps))
        return ew.bitwise_and(_any(ew.bitwise_not(done)), _any(ew.lt(n, _fill(1e5, wide, shape))))

    def step(state):
        n, u_n, du_n, total = state
        n = ew.add(n, _fill(1.0, wide, shape))
        a_n = ew.add(a, n)
        ratio = ew.div(x, a_n)
        du_n = ew.mul(ew.sub(du_n, ew.div(u_n, a_n)), ratio)
        u_n = ew.mul(u_n, ratio)
        return n, u_n, du_n, ew.add(total, du_n)

    state = (_fill(0.0, wide, shape), u, du, du)
    d_cdf = while_loop(unfinished, step, state)[3]
    log_density = ew.sub(ew.sub(ew.mul(ew.sub(a, _fill(1.0, wide, shape)), log_x), x), ew.lgamma(a))
    grad = ew.neg(ew.div(d_cdf, ew.exp(log_density)))
    grad = ew.select(ew.gt(x, _fill(0.0, wide, shape)), grad, _fill(0.0, wide, shape))
    return ew.convert_element_type(grad, dtype)
