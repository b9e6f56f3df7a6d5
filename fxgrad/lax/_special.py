"""NumPy implementations of special functions NumPy lacks (erf, lgamma, digamma, ...).

These are the eager ``impl``s of the special-function primitives; ``jit`` lowers the
same primitives to native code separately. They are vectorised over NumPy arrays and
keep the input dtype.
"""

from __future__ import annotations

import math

import numpy as np


def _vectorize(fn):
    ufunc = np.frompyfunc(fn, 1, 1)

    def impl(x):
        x = np.asarray(x)
        return ufunc(x.astype(np.float64)).astype(x.dtype)

    return impl


erf = _vectorize(math.erf)
erfc = _vectorize(math.erfc)
lgamma = _vectorize(lambda v: math.lgamma(v) if v > 0 or v != math.floor(v) else math.inf)


def _digamma_scalar(x: float) -> float:
    if x <= 0 and x == math.floor(x):
        return math.nan
    result = 0.0
    if x < 0:
        # Reflection: psi(1 - x) - psi(x) = pi cot(pi x)
        return _digamma_scalar(1.0 - x) - math.pi / math.tan(math.pi * x)
    while x < 6.0:
        result -= 1.0 / x
        x += 1.0
    inv = 1.0 / x
    inv2 = inv * inv
    series = inv2 * (
        1.0 / 12 - inv2 * (1.0 / 120 - inv2 * (1.0 / 252 - inv2 * (1.0 / 240 - inv2 / 132)))
    )
    return result + math.log(x) - 0.5 * inv - series


digamma = _vectorize(_digamma_scalar)


def _hurwitz_zeta(s: float, q: float) -> float:
    """zeta(s, q) = sum_k (k + q)^-s by Euler-Maclaurin summation (s > 1, q > 0)."""
    if q <= 0 and q == math.floor(q):
        return math.inf
    n = 10
    total = 0.0
    for k in range(n):
        total += (q + k) ** -s
    a = q + n
    total += a ** (1 - s) / (s - 1) + 0.5 * a**-s
    bernoulli = (1.0 / 6, -1.0 / 30, 1.0 / 42, -1.0 / 30, 5.0 / 66, -691.0 / 2730, 7.0 / 6)
    factor = s * a ** (-s - 1)
    fact = 2.0
    for j, b in enumerate(bernoulli):
        total += b / fact * factor
        factor *= (s + 2 * j + 1) * (s + 2 * j + 2) / (a * a)
        fact *= (2 * j + 3) * (2 * j + 4)
    return total


def _polygamma_scalar(m: float, x: float) -> float:
    if m == 0:
        return _digamma_scalar(x)
    if m != math.floor(m) or m < 0:
        return math.nan
    sign = 1.0 if int(m) % 2 == 1 else -1.0
    return sign * math.gamma(m + 1) * _hurwitz_zeta(m + 1, x)


_polygamma_ufunc = np.frompyfunc(_polygamma_scalar, 2, 1)


def polygamma(m, x):
    m, x = np.asarray(m), np.asarray(x)
    return _polygamma_ufunc(m.astype(np.float64), x.astype(np.float64)).astype(x.dtype)


def _erf_inv_scalar(y: float) -> float:
    if y <= -1.0:
        return -math.inf if y == -1.0 else math.nan
    if y >= 1.0:
        return math.inf if y == 1.0 else math.nan
    # Giles' single-precision approximation, refined by Newton steps on erf.
    w = -math.log((1.0 - y) * (1.0 + y))
    if w < 5.0:
        w -= 2.5
        p = 2.81022636e-08
        for c in (
            3.43273939e-07,
            -3.5233877e-06,
            -4.39150654e-06,
            0.00021858087,
            -0.00125372503,
            -0.00417768164,
            0.246640727,
            1.50140941,
        ):
            p = c + p * w
    else:
        w = math.sqrt(w) - 3.0
        p = -0.000200214257
        for c in (
            0.000100950558,
            0.00134934322,
            -0.00367342844,
            0.00573950773,
            -0.0076224613,
            0.00943887047,
            1.00167406,
            2.83297682,
        ):
            p = c + p * w
    x = p * y
    for _ in range(3):
        err = math.erf(x) - y
        x -= err / (2.0 / math.sqrt(math.pi) * math.exp(-x * x))
    return x


erf_inv = _vectorize(_erf_inv_scalar)
