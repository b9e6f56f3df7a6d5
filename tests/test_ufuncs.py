"""``fxgrad.numpy``'s elementwise functions: values and dtypes against NumPy, weak-scalar
promotion against ``fxgrad.dtypes``, derivatives against closed forms (JAX's values)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import fxgrad
import fxgrad.numpy as fnp
from fxgrad import dtypes

grad = fxgrad.grad

SPECIALS = np.array(
    [-3.5, -1.0, -0.0, 0.0, 0.3, 2.0, 7.25, 1e-310, -5e-324, 1e300, np.inf, -np.inf, np.nan]
)
OTHERS = np.array([2.0, -1.0, 0.0, -0.0, 0.3, -2.0, 7.25, -2.0, 3.0, -np.inf, np.inf, 3.0, 1.0])

UNARY = ["log2", "log10", "deg2rad", "rad2deg", "degrees", "radians", "fabs", "sinc",
         "signbit", "isposinf", "isneginf", "isreal", "iscomplex", "nan_to_num", "angle",
         "spacing", "positive", "negative", "exp2", "expm1", "log1p"]  # fmt: skip
BINARY = ["logaddexp", "logaddexp2", "hypot", "heaviside", "copysign", "fmax", "fmin",
          "isclose", "float_power", "nextafter", "arctan2"]  # fmt: skip


def _check_equal(actual, expected, signs=True):
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.dtype == expected.dtype, (actual.dtype, expected.dtype)
    assert actual.shape == expected.shape
    if expected.dtype.kind in "fc":
        rtol = {8: 1e-14, 16: 1e-14, 4: 2e-6, 2: 1e-3}[expected.dtype.itemsize]
        np.testing.assert_allclose(actual, expected, rtol=rtol, atol=0, equal_nan=True)
    if expected.dtype.kind == "f" and signs:
        finite = np.isfinite(expected)
        np.testing.assert_array_equal(np.signbit(actual[finite]), np.signbit(expected[finite]))
    if expected.dtype.kind not in "fc":
        np.testing.assert_array_equal(actual, expected)


def _cast(x, dtype):
    with np.errstate(over="ignore"):  # 1e300 becomes inf in float32
        return x.astype(dtype)


@pytest.mark.parametrize("name", UNARY)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_unary_values_match_numpy(name, dtype):
    x = _cast(SPECIALS, dtype)
    with np.errstate(all="ignore"):
        expected = getattr(np, name)(x)
    _check_equal(getattr(fnp, name)(x), expected)


@pytest.mark.parametrize("name", BINARY)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_binary_values_match_numpy(name, dtype):
    x, y = _cast(SPECIALS, dtype), _cast(OTHERS, dtype)
    with np.errstate(all="ignore"):
        expected = getattr(np, name)(x, y)
    _check_equal(getattr(fnp, name)(x, y), expected)


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16])
def test_frexp_ldexp_modf_match_numpy(dtype):
    x = _cast(SPECIALS, dtype)
    for ours, theirs in zip(fnp.frexp(x), np.frexp(x), strict=True):
        _check_equal(ours, theirs)
    for ours, theirs in zip(fnp.modf(x), np.modf(x), strict=True):
        _check_equal(ours, theirs)
    n = np.array([0, 1, -3, 5, 100, -100, 2000, -2100, 1024, -1074, 3, 2, 1])
    with np.errstate(all="ignore"):
        expected = np.ldexp(x, n)
    _check_equal(fnp.ldexp(x, n), expected)
    # round trip
    mantissa, exponent = fnp.frexp(x)
    _check_equal(fnp.ldexp(mantissa, exponent), x)


def test_complex_inputs():
    z = np.array([1 + 2j, -1 + 0j, 0j, np.nan + 1j, np.inf - 1j])
    for name in ("angle", "isreal", "iscomplex", "nan_to_num", "sinc", "log2", "log10"):
        with np.errstate(all="ignore"):
            _check_equal(getattr(fnp, name)(z), getattr(np, name)(z))
    _check_equal(fnp.angle(z, deg=True), np.angle(z, deg=True))
    assert fnp.iscomplexobj(1j) and fnp.iscomplexobj(z) and not fnp.iscomplexobj(1.0)
    assert fnp.isrealobj(fnp.ones(2)) and not fnp.isrealobj(z)
    for name in ("hypot", "copysign", "logaddexp", "heaviside"):
        with pytest.raises(TypeError, match="complex"):
            getattr(fnp, name)(z, z)
    for name in ("signbit", "fabs", "frexp", "modf", "spacing", "isposinf"):
        with pytest.raises(TypeError, match="complex"):
            getattr(fnp, name)(z)


def test_nan_to_num_fill_values_and_integers():
    x = _cast(SPECIALS, np.float32)
    _check_equal(
        fnp.nan_to_num(x, nan=-1.0, posinf=9.0, neginf=-9.0),
        np.nan_to_num(x, nan=-1.0, posinf=9.0, neginf=-9.0),
    )
    ints = np.array([1, -2, 3], np.int16)
    _check_equal(fnp.nan_to_num(ints), ints)


def test_closeness_and_equality():
    a = np.array([1.0, np.inf, -np.inf, np.nan, 1e-9, 0.0])
    b = np.array([1.0 + 1e-6, np.inf, np.inf, np.nan, 0.0, 1e-7])
    _check_equal(fnp.isclose(a, b), np.isclose(a, b))
    _check_equal(fnp.isclose(a, b, equal_nan=True), np.isclose(a, b, equal_nan=True))
    _check_equal(fnp.isclose(a, b, rtol=0.0, atol=1e-8), np.isclose(a, b, rtol=0.0, atol=1e-8))
    _check_equal(fnp.isclose(np.array([1, 2]), 1), np.isclose(np.array([1, 2]), 1))
    assert bool(fnp.allclose([1.0, 2.0], [1.0, 2.0 + 1e-9]))
    assert not bool(fnp.allclose([1.0, np.nan], [1.0, np.nan]))
    assert bool(fnp.allclose([1.0, np.nan], [1.0, np.nan], equal_nan=True))
    assert bool(fnp.allclose(np.zeros((0, 3)), 1.0))
    assert bool(fnp.array_equal([1, 2], [1.0, 2.0])) and not bool(
        fnp.array_equal([1, 2], [1, 2, 3])
    )
    assert not bool(fnp.array_equal([np.nan], [np.nan]))
    assert bool(fnp.array_equal([np.nan], [np.nan], equal_nan=True))
    assert bool(fnp.array_equiv([1, 2], [[1, 2], [1, 2]]))
    assert not bool(fnp.array_equiv([1, 2], [1, 2, 3]))
    assert fnp.allclose(1.0, 1.0).shape == () and fnp.allclose(1.0, 1.0).dtype == np.bool_


_INT_DTYPES = st.sampled_from([np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint32])


@given(_INT_DTYPES, st.lists(st.tuples(st.integers(-100, 100), st.integers(-100, 100)), max_size=8))
def test_gcd_lcm_match_numpy(dtype, pairs):
    info = np.iinfo(dtype)
    a = np.array([p[0] for p in pairs], dtype=np.int64).clip(max(info.min, -100), info.max)
    b = np.array([p[1] for p in pairs], dtype=np.int64).clip(max(info.min, -100), info.max)
    a, b = a.astype(dtype), b.astype(dtype)
    _check_equal(fnp.gcd(a, b), np.gcd(a, b))
    small = (np.abs(a.astype(np.int64)) < 12) & (np.abs(b.astype(np.int64)) < 12)
    _check_equal(fnp.lcm(a[small], b[small]), np.lcm(a[small], b[small]))


def test_gcd_worst_case_and_errors():
    fib = np.array([2**62, 7540113804746346429], np.int64)  # F(92), F(91) below
    a = np.array([7540113804746346429, 2**40 * 3])
    b = np.array([4660046610375530309, 2**20 * 9])
    _check_equal(fnp.gcd(a, b), np.gcd(a, b))
    _check_equal(fnp.gcd(fib, 0), np.gcd(fib, 0))
    _check_equal(fnp.bitwise_count(np.array([-3, 7, 0])), np.bitwise_count(np.array([-3, 7, 0])))
    with pytest.raises(TypeError, match="integer"):
        fnp.gcd(1.5, 2.0)
    with pytest.raises(TypeError, match="integer exponent"):
        fnp.ldexp(1.5, 2.0)


def test_composites_run_under_transformations():
    x = np.array([[0.5, -1.0, 0.0], [2.0, 1e-4, -3.0]])
    y = np.array([[1.0, 2.0, -0.0], [0.0, 1.0, -1.0]])
    for name in ("logaddexp", "hypot", "heaviside", "copysign", "fmax", "isclose"):
        fn = getattr(fnp, name)
        eager = np.asarray(fn(x, y))
        signs = name != "fmax"  # max(0.0, -0.0) may be either zero
        _check_equal(fxgrad.jit(fn)(x, y), eager, signs)
        _check_equal(fxgrad.vmap(fn)(x, y), eager, signs)
    for name in ("sinc", "signbit", "spacing", "nan_to_num", "angle", "log2"):
        fn = getattr(fnp, name)
        eager = np.asarray(fn(x))
        _check_equal(fxgrad.jit(fn)(x), eager)
        _check_equal(fxgrad.vmap(fn, in_axes=1, out_axes=1)(x), eager)
    for i, out in enumerate(fxgrad.jit(fnp.frexp)(x)):
        _check_equal(out, np.frexp(x)[i])


# ---------------------------------------------------------------------------------------
# Derivatives (closed forms; the values JAX gives)
# ---------------------------------------------------------------------------------------


def test_derivatives_of_the_new_functions():
    assert float(grad(fnp.sinc)(0.0)) == 0.0
    np.testing.assert_allclose(float(grad(grad(fnp.sinc))(0.0)), -(np.pi**2) / 3, rtol=1e-12)
    x = 0.3
    expected = (np.cos(np.pi * x) * np.pi * x - np.sin(np.pi * x)) / (np.pi * x**2)
    np.testing.assert_allclose(float(grad(fnp.sinc)(x)), expected, rtol=1e-12)
    assert float(grad(fnp.logaddexp)(1.0, 1.0)) == 0.5
    assert float(grad(fnp.logaddexp, 1)(1.0, 1.0)) == 0.5
    np.testing.assert_allclose(float(grad(grad(fnp.logaddexp))(1.0, 1.0)), 0.25)
    np.testing.assert_allclose(float(grad(fnp.logaddexp)(1.0, 2.0)), 1 / (1 + np.e))
    np.testing.assert_allclose(float(grad(fnp.logaddexp2)(1.0, 2.0)), 1 / 3)
    np.testing.assert_allclose(float(grad(fnp.hypot)(3.0, 4.0)), 0.6)
    np.testing.assert_allclose(float(grad(fnp.hypot, 1)(3.0, 4.0)), 0.8)
    assert float(grad(fnp.copysign)(2.0, -1.0)) == -1.0
    assert float(grad(fnp.copysign, 1)(2.0, -1.0)) == 0.0
    assert float(grad(lambda v: fnp.modf(v)[0])(2.25)) == 1.0
    assert float(grad(lambda v: fnp.modf(v)[0])(-3.0)) == 1.0
    assert float(grad(lambda v: fnp.modf(v)[1])(2.25)) == 0.0
    assert float(grad(lambda v: fnp.frexp(v)[0])(8.0)) == 1 / 16
    assert float(grad(lambda v: fnp.ldexp(v, 3))(1.0)) == 8.0
    assert float(grad(lambda v: fnp.heaviside(v, 0.5))(1.0)) == 0.0
    assert float(grad(lambda h: fnp.heaviside(0.0, h))(0.5)) == 1.0
    assert float(grad(fnp.nan_to_num)(2.0)) == 1.0
    assert float(grad(fnp.spacing)(1.0)) == 0.0
    assert float(grad(fnp.fabs)(-2.0)) == -1.0
    np.testing.assert_allclose(float(grad(fnp.log2)(2.0)), 1 / (2 * np.log(2)))
    np.testing.assert_allclose(float(grad(fnp.deg2rad)(1.0)), np.pi / 180)
    np.testing.assert_allclose(float(grad(fnp.float_power)(2.0, 3.0)), 12.0)


def test_logaddexp_infinities_are_nan_free():
    assert float(fnp.logaddexp(-np.inf, -np.inf)) == -np.inf
    assert float(fnp.logaddexp(np.inf, np.inf)) == np.inf
    assert float(fnp.logaddexp(np.inf, -np.inf)) == np.inf
    assert not np.isnan(float(grad(fnp.logaddexp)(-np.inf, -np.inf)))
    assert float(grad(fnp.logaddexp)(0.0, -np.inf)) == 1.0


# ---------------------------------------------------------------------------------------
# dtype promotion
# ---------------------------------------------------------------------------------------

_DTYPES = [np.dtype(d) for d in ("bool", "int8", "int16", "int32", "int64", "uint8",
                                 "uint16", "uint32", "float16", "float32", "float64",
                                 "complex64", "complex128")]  # fmt: skip
_PLAIN = ["add", "subtract", "multiply", "maximum", "minimum", "equal", "less", "fmax"]
_INEXACT = ["true_divide", "arctan2", "logaddexp", "hypot", "copysign", "heaviside",
            "nextafter", "float_power"]  # fmt: skip
_REAL_ONLY = {"arctan2", "logaddexp", "hypot", "copysign", "heaviside", "nextafter", "less"}


def _expected_dtype(name: str, a: np.dtype, b: np.dtype) -> np.dtype:
    """NumPy's result dtype, except that fxgrad computes integer/bool input of an
    inexact function in the default float (float64) where NumPy picks float16/32."""
    with np.errstate(all="ignore"):
        numpy_dtype = getattr(np, name)(np.ones(1, a), np.ones(1, b)).dtype
    promoted = np.promote_types(a, b)
    if name in _INEXACT and promoted.kind in "biu":
        return dtypes.to_inexact_dtype(promoted)
    return numpy_dtype


@given(st.sampled_from(_PLAIN + _INEXACT), st.sampled_from(_DTYPES), st.sampled_from(_DTYPES))
def test_binary_dtype_promotion_matches_numpy(name, a, b):
    promoted = np.promote_types(a, b)
    if name in _REAL_ONLY and promoted.kind == "c":
        return
    if name in ("subtract",) and promoted == np.bool_:
        return  # NumPy refuses bool - bool
    if name == "nextafter" and promoted.kind in "biu":
        return  # NumPy has no integer nextafter
    x, y = np.ones(2, a), np.ones(2, b)
    out = getattr(fnp, name)(x, y)
    assert out.dtype == _expected_dtype(name, a, b)
    assert not out.weak_type


_WEAK = st.sampled_from([True, 3, 2.5, 1 + 1j])


@given(st.sampled_from(_PLAIN + _INEXACT), st.sampled_from(_DTYPES), _WEAK)
def test_weak_scalars_follow_fxgrad_dtypes(name, a, scalar):
    expected, weak = dtypes.result_type_with_weak(np.ones(1, a), scalar)
    if name in _REAL_ONLY and expected.kind == "c":
        return
    if name in ("subtract",) and expected == np.bool_:
        return
    if name == "nextafter" and expected.kind in "biu":
        return
    if name in _INEXACT and expected.kind in "biu":
        expected = dtypes.to_inexact_dtype(expected)
    if name == "float_power":
        expected = np.dtype(np.complex128 if expected.kind == "c" else np.float64)
    if name in ("equal", "less"):
        expected, weak = np.dtype(np.bool_), False
    out = getattr(fnp, name)(np.ones(2, a), scalar)
    assert out.dtype == expected
    if not weak:  # (a weak result of a higher kind is reported as strong by fxgrad.numpy)
        assert not out.weak_type


@given(st.sampled_from(["log2", "sinc", "deg2rad", "fabs", "spacing", "angle", "exp2"]),
       st.sampled_from([d for d in _DTYPES if d.kind != "c"]))  # fmt: skip
def test_unary_inexact_dtypes(name, a):
    out = getattr(fnp, name)(np.ones(2, a))
    expected = a if a.kind == "f" else dtypes.to_inexact_dtype(a)
    assert out.dtype == expected


def test_float32_stays_float32_with_python_scalars():
    x = np.ones(3, np.float32)
    for fn in (fnp.logaddexp, fnp.hypot, fnp.copysign, fnp.heaviside, fnp.fmax):
        assert fn(x, 2.0).dtype == np.float32
    assert fnp.ldexp(x, 3).dtype == np.float32
    assert fnp.frexp(x)[1].dtype == np.int32
    assert fnp.where(x > 0, x, 0.0).dtype == np.float32
    assert fnp.where(True, 1.0, 2.0).weak_type


def test_where_eager_matches_traced():
    cond = np.array([[True], [False]])
    x = np.arange(3.0)
    y = np.float32(-1.0)
    eager = fnp.where(cond, x, y)
    _check_equal(eager, np.where(cond, x, y))
    _check_equal(fxgrad.jit(fnp.where)(cond, x, y), eager)
    _check_equal(fnp.where(np.array([1, 0, 2]), x, 0.0), np.where([1, 0, 2], x, 0.0))
