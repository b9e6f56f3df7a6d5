"""Accuracy of the vectorised transcendental functions (``lowering/decompose.py``).

Bounds, in units in the last place (ulp) of the result's dtype:

* float32, against the float64 NumPy result rounded to float32 (i.e. against the
  correctly rounded result, to within 2**-29 relative): exp, expm1, log, sin, cos <= 2;
  log1p, tanh, logistic <= 3.
* float64, against NumPy's float64 result (itself within about 1 ulp of exact):
  every function <= 3.

Inputs cover the whole finite range of each function (including arguments that
overflow, underflow to subnormals or, for sin/cos, take the libm path beyond 1e6) and
the special values NaN, +-inf, +-0 and subnormals.
"""

from __future__ import annotations

import numpy as np
import pytest

import fxgrad
import fxgrad.lax as lax
import fxgrad.numpy as fnp


def _samples(name: str, dtype: type, n: int = 1 << 15) -> np.ndarray:
    rng = np.random.default_rng(abs(hash((name, np.dtype(dtype).name))) % 2**32)
    f32 = dtype == np.float32
    if name == "log":
        x = np.exp(rng.uniform(-103 if f32 else -744, 88 if f32 else 709, n))
    elif name == "log1p":
        x = np.concatenate([rng.uniform(-1, 1, n // 2), np.exp(rng.uniform(-40, 40, n // 2))])
    elif name in ("exp", "expm1"):
        wide = rng.uniform(-110 if f32 else -750, 90 if f32 else 712, n // 2)
        x = np.concatenate([wide, rng.uniform(-1, 1, n // 4), rng.uniform(-1e-6, 1e-6, n // 4)])
    elif name in ("sin", "cos"):
        x = np.concatenate(
            [
                rng.uniform(-10, 10, n // 2),
                rng.uniform(-1e6, 1e6, n // 4),
                rng.uniform(-1e12, 1e12, n // 4),
            ]
        )
    else:
        x = np.concatenate(
            [
                rng.uniform(-25, 25, n // 2),
                rng.uniform(-1, 1, n // 4),
                rng.uniform(-1e-3, 1e-3, n // 4),
            ]
        )
    specials = [0.0, -0.0, np.inf, -np.inf, np.nan, 1e-40, -1e-40, 5e-324, 1.0, -1.0, 0.5]
    return np.concatenate([x, specials]).astype(dtype)


def _ulps(got: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """|got - ref| in ulps of ``ref`` (in got's dtype); 0 where both are NaN or equal."""
    dtype = got.dtype
    with np.errstate(over="ignore", invalid="ignore"):
        ref_t = ref.astype(dtype)
        spacing = np.spacing(np.abs(ref_t)).astype(np.float64)
        spacing = np.maximum(spacing, float(np.finfo(dtype).smallest_subnormal))
        err = np.abs(got.astype(np.float64) - ref.astype(np.float64)) / spacing
    same = (np.isnan(got) & np.isnan(ref_t)) | (got == ref_t)
    err[same] = 0.0
    err[np.isnan(err)] = np.inf
    return err


def _logistic_np(x):
    with np.errstate(over="ignore"):
        return np.where(x >= 0, 1 / (1 + np.exp(-x)), np.exp(x) / (1 + np.exp(x)))


FUNCTIONS = {
    "exp": (lax.exp, np.exp, 2),
    "expm1": (lax.expm1, np.expm1, 2),
    "log": (lax.log, np.log, 2),
    "log1p": (lax.log1p, np.log1p, 3),
    "tanh": (lax.tanh, np.tanh, 3),
    "logistic": (lax.logistic, _logistic_np, 3),
    "sin": (lax.sin, np.sin, 2),
    "cos": (lax.cos, np.cos, 2),
}


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_ulp_bound(name, dtype):
    fun, reference, f32_bound = FUNCTIONS[name]
    x = _samples(name, dtype)
    got = np.asarray(fxgrad.jit(fun)(fnp.asarray(x)))
    with np.errstate(all="ignore"):
        ref = reference(x.astype(np.float64)) if dtype == np.float32 else reference(x)
    bound = f32_bound if dtype == np.float32 else 3
    err = _ulps(got, ref)
    worst = int(np.argmax(err))
    assert err[worst] <= bound, (
        f"{name}({x[worst]!r}) = {got[worst]!r}, expected {ref[worst]!r}: "
        f"{err[worst]:.2f} ulp > {bound}"
    )


@pytest.mark.parametrize("name", ["sin", "cos"])
def test_huge_arguments_take_the_exact_path(name):
    x = np.array([1e7, -3e9, 1e22, 1.7e308, 2.0**60], np.float64)
    got = np.asarray(fxgrad.jit(getattr(lax, name))(fnp.asarray(x)))
    np.testing.assert_allclose(got, getattr(np, name)(x), rtol=1e-15, atol=1e-300)


def test_signed_zeros_are_kept():
    x = np.array([-0.0, 0.0], np.float64)
    for fun in (lax.sin, lax.tanh, lax.expm1, lax.log1p):
        got = np.asarray(fxgrad.jit(fun)(fnp.asarray(x)))
        np.testing.assert_array_equal(np.signbit(got), [True, False])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sum_error_bound(dtype):
    # |error| <= (256 + 2) u sum|x| for float64 (blocks of 256 plus compensation); float32
    # sums fold blocks into float64, so their error is the final rounding plus a block's
    rng = np.random.default_rng(7)
    x = (rng.standard_normal(1 << 20) * np.exp(rng.uniform(-8, 8, 1 << 20))).astype(dtype)
    exact = float(np.sum(x.astype(np.longdouble)))
    got = float(fxgrad.jit(fnp.sum)(fnp.asarray(x)))
    u = float(np.finfo(dtype).eps) / 2
    magnitude = float(np.sum(np.abs(x.astype(np.float64))))
    assert abs(got - exact) <= 258 * u * magnitude
    numpy_err = abs(float(np.sum(x)) - exact)
    assert abs(got - exact) <= max(4 * numpy_err, 4 * u * magnitude)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("rows", [255, 256, 1000])
def test_column_sum_error_bound(dtype, rows):
    # sums over the leading axis run in column mode (tiles of columns, blocks of rows):
    # the same bound as a sum over the last axis, column by column
    rng = np.random.default_rng(rows)
    shape = (rows, 777)
    x = (rng.standard_normal(shape) * np.exp(rng.uniform(-8, 8, shape))).astype(dtype)
    exact = np.sum(x.astype(np.longdouble), axis=0)
    got = np.asarray(fxgrad.jit(lambda v: fnp.sum(v, axis=0))(fnp.asarray(x)))
    u = float(np.finfo(dtype).eps) / 2
    magnitude = np.sum(np.abs(x.astype(np.float64)), axis=0)
    assert np.all(np.abs(got - exact) <= 258 * u * magnitude)
