"""NumPy implementations of the elementwise primitives (the ``impl`` rules).

Each function takes NumPy arrays and returns exactly the shape and dtype the
primitive's abstract evaluation gives; NumPy upcasts some results, so several cast
back. Semantics follow XLA where NumPy differs: integer ``div`` rounds towards zero,
shifts by the bit width or more give 0, ``round`` rounds half away from zero, ``max``
and ``min`` propagate NaN. ``quiet`` wraps an implementation so that it never emits
floating-point warnings (0 * inf and 1 / 0 are ordinary values here, as in JAX).

The primitives themselves, with their other rules, are declared in
``fxgrad.lax.elementwise`` (the table) and ``fxgrad.lax.elementwise_params``.
"""

from __future__ import annotations

import numpy as np

from fxgrad import dtypes
from fxgrad._quiet import quiet  # noqa: F401 - re-exported for the impl modules


def logistic_impl(x):
    x = np.asarray(x)
    one = x.dtype.type(1)
    return np.where(x >= 0, one / (one + np.exp(-x)), np.exp(x) / (one + np.exp(x))).astype(x.dtype)


def rsqrt_impl(x):
    x = np.asarray(x)
    return (x.dtype.type(1) / np.sqrt(x)).astype(x.dtype)


def round_impl(x, *, rounding_method=0):
    x = np.asarray(x)
    if rounding_method == 1:  # to nearest even
        return np.round(x)
    # Half away from zero. x - trunc(x) is exact, so halves are detected exactly (the
    # usual floor(|x| + 0.5) rounds 0.49999999999999994 up to 1).
    whole = np.trunc(x)
    return np.where(np.abs(x - whole) >= 0.5, whole + np.sign(x), whole).astype(x.dtype)


def div_impl(x, y):
    x, y = np.asarray(x), np.asarray(y)
    if x.dtype.kind in "iu":
        # C semantics: round towards zero (NumPy's // rounds down).
        zero = np.zeros((), x.dtype)
        safe_y = np.where(y == 0, np.ones((), y.dtype), y)
        q = np.floor_divide(x, safe_y)
        fix = (np.remainder(x, safe_y) != zero) & ((x < zero) != (safe_y < zero))
        return np.where(y == 0, zero, q + fix.astype(x.dtype)).astype(x.dtype)
    return np.divide(x, y).astype(x.dtype)


def rem_impl(x, y):
    x, y = np.asarray(x), np.asarray(y)
    if x.dtype.kind in "iu":
        safe_y = np.where(y == 0, np.ones((), y.dtype), y)
        return np.where(y == 0, x, np.fmod(x, safe_y)).astype(x.dtype)
    return np.fmod(x, y).astype(x.dtype)


def pow_impl(x, y):
    x, y = np.asarray(x), np.asarray(y)
    return np.power(x, y).astype(x.dtype)


def integer_pow_impl(x, *, y):
    x = np.asarray(x)
    if y >= 0:
        return np.power(x, y).astype(x.dtype)
    return (x.dtype.type(1) / np.power(x, -y)).astype(x.dtype)


def sign_impl(x):
    x = np.asarray(x)
    if x.dtype.kind == "c":
        mag = np.abs(x)
        return np.where(mag == 0, 0, x / np.where(mag == 0, 1, mag)).astype(x.dtype)
    if x.dtype.kind == "u":
        return (x > 0).astype(x.dtype)
    return np.sign(x)


def max_impl(x, y):
    # NaN-propagating, as XLA's max.
    return np.maximum(x, y)


def min_impl(x, y):
    return np.minimum(x, y)


def not_impl(x):
    x = np.asarray(x)
    return np.logical_not(x) if x.dtype == bool else np.invert(x)


def complex_impl(x, y):
    # Assign the parts: x + y * 1j would turn an infinite y into a NaN real part.
    x, y = np.asarray(x), np.asarray(y)
    out = np.empty(np.broadcast_shapes(x.shape, y.shape), dtypes.to_complex_dtype(x.dtype))
    out.real = x
    out.imag = y
    return out


def shift_right_logical_impl(x, y):
    x, y = np.asarray(x), np.asarray(y)
    unsigned = np.dtype(f"u{x.dtype.itemsize}")
    bits = 8 * x.dtype.itemsize
    shifted = np.right_shift(x.view(unsigned), np.clip(y, 0, bits - 1).astype(unsigned))
    # XLA semantics: shifting by the width or more gives 0.
    return np.where((y < 0) | (y >= bits), 0, shifted).astype(unsigned).view(x.dtype)


def population_count_impl(x):
    x = np.asarray(x)
    unsigned = np.dtype(f"u{x.dtype.itemsize}")
    return np.bitwise_count(x.view(unsigned)).astype(x.dtype)


def conj_impl(x):
    x = np.asarray(x)
    return np.conj(x).astype(dtypes.to_complex_dtype(x.dtype))


def cbrt_impl(x):
    return np.cbrt(x)


def exp2_impl(x):
    return np.exp2(x)


def is_finite_impl(x):
    return np.isfinite(x)


def select_n_impl(which, *cases):
    which = np.asarray(which)
    if len(cases) == 1:
        return np.asarray(cases[0])
    if which.dtype == bool:
        return np.where(which, cases[1], cases[0])
    return np.choose(which, cases, mode="clip")


def convert_impl(x, *, new_dtype, weak_type=False):
    x = np.asarray(x)
    if np.dtype(new_dtype) == np.bool_:
        return x != 0
    if x.dtype.kind == "c" and np.dtype(new_dtype).kind != "c":
        x = x.real
    with np.errstate(all="ignore"):
        return x.astype(new_dtype)


def bitcast_impl(x, *, new_dtype):
    return np.asarray(x).view(new_dtype)  # same width: any strides


def clamp_impl(lo, x, hi):
    return np.minimum(np.maximum(x, lo), hi)


def _zero_where_ct_is_zero(ufunc: np.ufunc, ct, y):
    """``ufunc(ct, y)`` with 0 written wherever ``ct == 0`` (whatever ``y`` is there).

    Computed in place into a fresh array: about twice as fast as ``np.where``.
    """
    ct = np.asarray(ct)
    out = ufunc(ct, y, out=np.empty_like(ct))
    np.copyto(out, 0, where=ct == 0)
    return out


def zero_safe_mul_impl(ct, y):
    """``ct * y`` where ``ct != 0`` and 0 where ``ct == 0``, even if ``y`` is inf or NaN."""
    return _zero_where_ct_is_zero(np.multiply, ct, y)


def zero_safe_div_impl(ct, y):
    """``ct / y`` where ``ct != 0`` and 0 where ``ct == 0``, even if ``y`` is 0 or NaN."""
    return _zero_where_ct_is_zero(np.divide, ct, y)
