"""Records for ``threefry2x32``, ``fma`` and samplers differentiable in their parameters.

The reference is a plain-Python Threefry-2x32-20 written from the Random123 paper
(Salmon et al., SC 2011, table 4: rotations 13 15 26 6 / 17 29 16 24, key-schedule
parity 0x1BD11BDA, a key injection after every fourth round), checked against the
published known-answer vectors in tests/test_random.py. It shares no code with
fxgrad/lax/random_bits.py.
"""

from __future__ import annotations

import numpy as np

import fxgrad.numpy as fnp
from fxgrad import random
from fxgrad.lax.random_bits import fma, threefry2x32
from tests.op_records import OpRecord

MASK = 0xFFFFFFFF
ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))


def threefry_block(key1: int, key2: int, x1: int, x2: int) -> tuple[int, int]:
    """Threefry-2x32 with 20 rounds on Python ints (one counter pair)."""
    keys = (key1, key2, key1 ^ key2 ^ 0x1BD11BDA)
    a = (x1 + keys[0]) & MASK
    b = (x2 + keys[1]) & MASK
    for round_index in range(20):
        r = ROTATIONS[(round_index // 4) % 2][round_index % 4]
        a = (a + b) & MASK
        b = ((b << r) | (b >> (32 - r))) & MASK
        b ^= a
        if round_index % 4 == 3:
            injection = round_index // 4 + 1
            a = (a + keys[injection % 3]) & MASK
            b = (b + keys[(injection + 1) % 3] + injection) & MASK
    return a, b


def threefry_reference(key1, key2, x1, x2) -> np.ndarray:
    """``stack(threefry2x32(...))`` computed element by element with ``threefry_block``."""
    arrays = np.broadcast_arrays(*(np.asarray(v, dtype=np.uint32) for v in (key1, key2, x1, x2)))
    shape = arrays[0].shape
    flat = [a.reshape(-1) for a in arrays]
    pairs = [threefry_block(*(int(v[i]) for v in flat)) for i in range(flat[0].size)]
    out = np.array(pairs, dtype=np.uint32).reshape(*shape, 2)
    return np.moveaxis(out, -1, 0)


def rand_uint32(rng: np.random.RandomState, shape, dtype) -> np.ndarray:
    return rng.randint(0, 2**32, size=shape, dtype=np.uint64).astype(np.uint32)


def _threefry_stacked(k1, k2, x1, x2):
    return fnp.stack(threefry2x32(k1, k2, x1, x2))


KEY = np.array([0, 42], dtype=np.uint32)


def _uniform_in(lo, hi):
    return random.uniform(KEY, (3, 4), lo.dtype, minval=lo, maxval=hi)


def _uniform_reference(lo, hi):
    """JAX's formula on reference bits: ``max(lo, floats * (hi - lo) + lo)``."""
    dtype = np.dtype(lo.dtype)
    info = np.finfo(dtype)
    counters = np.arange(12, dtype=np.uint32).reshape(3, 4)
    y1, y2 = threefry_reference(KEY[0], KEY[1], np.uint32(0), counters)
    if info.bits == 32:
        words = (y1 ^ y2).astype(np.uint64)
    else:
        words = (y1.astype(np.uint64) << np.uint64(32)) | y2.astype(np.uint64)
    floats = (words >> np.uint64(info.bits - info.nmant)).astype(np.float64) * 2.0**-info.nmant
    return np.maximum(lo, floats * (hi - lo) + lo).astype(dtype)


def _truncated_normal_in(lo, hi):
    return random.truncated_normal(KEY, lo, hi, (4,), lo.dtype)


def _fma_reference(a, b, c):
    wide = np.longdouble  # not exact for float64 products, but well inside the tolerance
    return (a.astype(wide) * b.astype(wide) + c.astype(wide)).astype(a.dtype)


def _between(rng, shape, dtype, lo, hi):
    return (lo + (hi - lo) * rng.rand(*shape)).astype(dtype)


RECORDS = [
    OpRecord("fma", fma, [(3, 4), (3, 4), (3, 4)], _fma_reference),
    OpRecord("fma_broadcast", fma, [(3, 1), (4,), ()], _fma_reference),
    OpRecord(
        "threefry2x32",
        _threefry_stacked,
        [(), (), (5,), (5,)],
        threefry_reference,
        dtypes=(np.uint32,),
        rand=rand_uint32,
        grad_order=0,
    ),
    OpRecord(
        "threefry2x32_all_arrays",
        _threefry_stacked,
        [(2, 3), (2, 3), (2, 3), (2, 3)],
        threefry_reference,
        dtypes=(np.uint32,),
        rand=rand_uint32,
        grad_order=0,
    ),
    OpRecord(
        "random_uniform_minval_maxval",
        _uniform_in,
        [(4,), (3, 1)],
        _uniform_reference,
        rand=(
            lambda rng, s, d: _between(rng, s, d, -2.0, -1.0),
            lambda rng, s, d: _between(rng, s, d, 1.0, 3.0),
        ),
    ),
    OpRecord(
        "random_truncated_normal_bounds",
        _truncated_normal_in,
        [(4,), (4,)],
        None,
        rand=(
            lambda rng, s, d: _between(rng, s, d, -1.5, -0.5),
            lambda rng, s, d: _between(rng, s, d, 0.5, 1.5),
        ),
    ),
]
