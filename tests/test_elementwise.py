"""The elementwise primitives: special-function accuracy, derivative conventions at the
edges (JAX's), the finite-gradient ``where`` rule, rounding, dtypes and errors.

Oracles: Python's ``math`` module, plain series (``tests/records/elementwise.py``),
closed forms, finite differences and, when installed, SciPy. Never values printed by
fxgrad.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import fxgrad
import fxgrad.numpy as fnp
from fxgrad import lax
from fxgrad.config import config
from fxgrad.errors import FxgradTypeError, ShapeError
from fxgrad.lax import _special
from fxgrad.lax import elementwise as ew
from tests.records.elementwise import digamma_oracle, erf_inv_oracle, trigamma_oracle

grad = fxgrad.grad
RNG = np.random.RandomState(0)


def _assert_rel(actual, expected, rtol, atol=0.0):
    actual, expected = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol)


def _grid(lo, hi, n=400, log=False):
    if log:
        return np.exp(RNG.uniform(np.log(lo), np.log(hi), n))
    return RNG.uniform(lo, hi, n)


# ---------------------------------------------------------------------------------------
# Special functions: accuracy against math (and SciPy when present)
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "x",
    [_grid(-0.5, 0.5), _grid(-6, 6), _grid(1e-300, 1e-3, log=True), -_grid(1e-300, 1e-3, log=True)],
    ids=["small", "wide", "tiny", "tiny_negative"],
)
def test_erf_matches_math(x):
    _assert_rel(_special.erf(x), [math.erf(v) for v in x], rtol=1e-14)


@pytest.mark.parametrize(
    "x", [_grid(-6, 0.5), _grid(0.5, 8), _grid(8, 26.5)], ids=["negative", "mid", "tail"]
)
def test_erfc_matches_math_in_relative_terms(x):
    _assert_rel(_special.erfc(x), [math.erfc(v) for v in x], rtol=1e-14)


@pytest.mark.parametrize(
    "x",
    [
        _grid(1e-300, 0.75, log=True),
        _grid(0.75, 3.0),
        _grid(3.0, 8.0),
        _grid(8.0, 1e300, log=True),
    ],
    ids=["small", "core", "shifted", "stirling"],
)
def test_lgamma_matches_math(x):
    # math.lgamma is accurate in absolute terms only near the zeros 1 and 2 (see below).
    _assert_rel(_special.lgamma(x), [math.lgamma(v) for v in x], rtol=1e-14, atol=1e-15)


_ZETA = (None, None, math.pi**2 / 6, 1.2020569031595942, math.pi**4 / 90, 1.0369277551433699)


@pytest.mark.parametrize("root", [1.0, 2.0])
def test_lgamma_keeps_relative_accuracy_at_its_zeros(root):
    # lgamma(1 + h) = -gamma h + sum_k (-1)**k zeta(k) / k h**k; at 2, zeta(k) - 1 and
    # 1 - gamma. Five terms leave an error below 1e-18 for |h| <= 1e-3.
    x = root + np.concatenate([_grid(-1e-3, 1e-3, 200), [2.2e-16, -1.1e-16, 4.4e-16]])
    h = x - root  # exact
    shift = 0.0 if root == 1.0 else 1.0
    taylor = (shift - 0.5772156649015329) * h
    for k in range(2, 6):
        taylor = taylor + (-1) ** k * (_ZETA[k] - shift) / k * h**k
    _assert_rel(_special.lgamma(x), taylor, rtol=1e-14)


def test_lgamma_negative_matches_math_in_absolute_terms():
    x = -_grid(1e-3, 60.0, log=True)
    x = x[np.abs(x - np.round(x)) > 1e-6]
    expected = np.array([math.lgamma(v) for v in x])
    _assert_rel(_special.lgamma(x), expected, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize(
    "x",
    [_grid(1e-6, 1.0), 1.4616321449683623 + _grid(-1e-3, 1e-3), _grid(1.0, 10.0), _grid(10, 1e6)],
    ids=["small", "near_zero_of_digamma", "core", "asymptotic"],
)
def test_digamma_matches_series(x):
    # the oracle sums up to 30 terms: accurate to ~1e-15 in absolute terms
    _assert_rel(_special.digamma(x), [digamma_oracle(v) for v in x], rtol=2e-14, atol=3e-15)


def test_digamma_zero_keeps_relative_accuracy():
    # psi(x0 + h) = psi'(x0) h + O(h**2) at the positive zero x0.
    x0 = 1.4616321449683623
    h = np.array([1e-10, -1e-12, 1e-14])
    trigamma_x0 = 0.9676722454476212  # polygamma(1, x0)
    offset = ((x0 + h) - 1.4616321449683622) - 9.549995429965697e-17  # x - zero, exactly
    # the quadratic term is ~h/2 relative: a value with absolute error 1e-16 would be off
    # by 1e-2 at h = 1e-14
    _assert_rel(_special.digamma(x0 + h), trigamma_x0 * offset, rtol=1e-9)


@pytest.mark.parametrize("x", [_grid(0.01, 50.0, 200)])
def test_polygamma_matches_series(x):
    _assert_rel(_special.polygamma(np.ones_like(x), x), [trigamma_oracle(v) for v in x], rtol=2e-14)
    x = x[x > 1.0]  # the recurrence below cancels for small x
    # m = 2 by differencing the trigamma oracle would be too noisy: check the recurrence
    # psi_m(x + 1) = psi_m(x) + (-1)**m m! / x**(m + 1) instead.
    for m in (2, 3, 5):
        lhs = _special.polygamma(np.full_like(x, m), x + 1.0)
        rhs = _special.polygamma(np.full_like(x, m), x) + (-1) ** m * math.factorial(m) / x ** (
            m + 1
        )
        _assert_rel(lhs, rhs, rtol=1e-12, atol=1e-300)


def test_polygamma_negative_x_reflection():
    # psi_1(1 - x) + psi_1(x) = pi**2 / sin(pi x)**2
    x = -_grid(0.05, 20.0, 100)
    x = x[np.abs(x - np.round(x)) > 0.05]
    lhs = _special.polygamma(np.ones_like(x), 1.0 - x) + _special.polygamma(np.ones_like(x), x)
    _assert_rel(lhs, np.pi**2 / np.sin(np.pi * x) ** 2, rtol=1e-12)


@pytest.mark.parametrize(
    "y", [_grid(-0.99, 0.99), 1.0 - _grid(1.2e-16, 1e-2, log=True), _grid(1e-300, 1e-3, log=True)]
)
def test_erf_inv_inverts_erf(y):
    x = _special.erf_inv(y)
    central = np.abs(y) < 0.999
    _assert_rel(x[central], [erf_inv_oracle(v) for v in y[central]], rtol=1e-13)
    tail = y > 0.5
    # In the tail compare 1 - y with erfc(x): both are exact there.
    _assert_rel([math.erfc(v) for v in x[tail]], 1.0 - y[tail], rtol=1e-13)


def test_special_functions_cross_check_scipy():
    special = pytest.importorskip("scipy.special")
    x = np.concatenate([_grid(1e-3, 30.0, 300, log=True), -_grid(0.01, 10.0, 100)])
    x = x[np.abs(x - np.round(x)) > 1e-3]
    pos = x[(x > 0) & (x < 26.0)]  # SciPy flushes the subnormal tail of erfc to 0
    _assert_rel(_special.erf(x), special.erf(x), rtol=1e-14)
    _assert_rel(_special.erfc(pos), special.erfc(pos), rtol=1e-13)
    _assert_rel(_special.lgamma(x), special.gammaln(x), rtol=1e-11, atol=1e-13)
    _assert_rel(_special.digamma(x), special.psi(x), rtol=1e-12, atol=1e-13)
    for m in (1, 2, 4):
        _assert_rel(_special.polygamma(np.full_like(x, m), x), special.polygamma(m, x), rtol=1e-11)
    y = _grid(-0.999, 0.999)
    _assert_rel(_special.erf_inv(y), special.erfinv(y), rtol=1e-13)


def test_special_values_follow_scipy_conventions():
    inf, nan = np.inf, np.nan
    np.testing.assert_array_equal(
        _special.lgamma(np.array([0.0, -0.0, -1.0, -2.0, inf, -inf])), [inf] * 6
    )
    np.testing.assert_array_equal(
        _special.digamma(np.array([0.0, -0.0, -1.0, inf, -inf, nan])),
        [-inf, inf, nan, inf, nan, nan],
    )
    np.testing.assert_array_equal(
        _special.polygamma(np.array([1.0, 2.0, 1.5, -1.0]), np.array([0.0, -2.0, 2.0, 2.0])),
        [inf, -inf, nan, nan],
    )
    np.testing.assert_array_equal(
        _special.erf_inv(np.array([1.0, -1.0, 1.5, nan, 0.0])), [inf, -inf, nan, nan, 0.0]
    )
    np.testing.assert_array_equal(_special.erf(np.array([inf, -inf, nan])), [1.0, -1.0, nan])
    np.testing.assert_array_equal(_special.erfc(np.array([inf, -inf, 30.0])), [0.0, 2.0, 0.0])
    assert np.signbit(_special.erf(np.array(-0.0)))


@pytest.mark.parametrize("fn", [lax.erf, lax.erfc, lax.erf_inv, lax.lgamma, lax.digamma])
@pytest.mark.parametrize("dtype", [np.float32, np.float16])
def test_special_functions_keep_float32(fn, dtype):
    x = np.array([0.25, 0.5, 0.75], dtype)
    out = fn(x)
    assert out.dtype == dtype
    expected = np.asarray(fn(x.astype(np.float64))).astype(dtype)
    np.testing.assert_array_equal(np.asarray(out), expected)


@pytest.mark.parametrize("shape", [(), (0,), (2, 0, 3), (2, 3)])
def test_special_functions_any_shape(shape):
    x = np.full(shape, 0.5)
    for fn in (_special.erf, _special.lgamma, _special.digamma, _special.erf_inv):
        out = fn(x)
        assert out.shape == shape and out.dtype == np.float64
    assert _special.polygamma(np.ones(shape), x).shape == shape


# ---------------------------------------------------------------------------------------
# Derivative conventions at the edges (JAX's)
# ---------------------------------------------------------------------------------------


def test_abs_derivative_at_zero_is_one_as_in_jax():
    assert grad(fnp.abs)(0.0) == 1.0
    assert grad(fnp.abs)(-0.0) == 1.0
    assert grad(fnp.abs)(-2.0) == -1.0


def test_max_min_split_ties_evenly():
    assert grad(lambda x: fnp.maximum(x, 1.0))(1.0) == 0.5
    assert grad(lambda x: fnp.minimum(x, 1.0))(1.0) == 0.5


@pytest.mark.parametrize(
    "lo,x,hi,expected",
    [
        (0.0, 0.5, 1.0, (0.0, 1.0, 0.0)),
        (0.0, 1.0, 1.0, (0.0, 0.0, 0.0)),  # a tie: nothing passes (JAX)
        (0.0, 0.0, 1.0, (0.0, 0.0, 0.0)),
        (0.0, 2.0, 1.0, (0.0, 0.0, 1.0)),
        (0.5, 0.2, 1.0, (1.0, 0.0, 0.0)),
    ],
)
def test_clamp_derivatives_follow_jax(lo, x, hi, expected):
    grads = grad(lax.clamp, argnums=(0, 1, 2))(lo, x, hi)
    assert tuple(float(g) for g in grads) == expected


def test_clamp_broadcasts_scalar_bounds_and_checks_shapes():
    x = fnp.array([-2.0, 0.5, 3.0])
    np.testing.assert_array_equal(np.asarray(lax.clamp(0.0, x, 1.0)), [0.0, 0.5, 1.0])
    with pytest.raises(ShapeError, match="clamp"):
        lax.clamp(fnp.zeros(2), x, 1.0)
    with pytest.raises(FxgradTypeError, match="one dtype"):
        lax.clamp(np.float32(0), x, np.float32(1))


def test_pow_derivatives_at_zero_base_follow_jax():
    dx = grad(lax.pow, argnums=0)
    dy = grad(lax.pow, argnums=1)
    assert dx(0.0, 2.0) == 0.0
    assert dy(0.0, 2.0) == 0.0
    assert dy(0.0, 0.0) == 0.0
    assert np.isinf(dx(0.0, 0.5))
    assert dx(-1.0, 2.0) == -2.0


def test_integer_pow_derivatives():
    assert grad(lambda x: lax.integer_pow(x, 0))(0.0) == 0.0
    assert grad(lambda x: lax.integer_pow(x, 3))(2.0) == 12.0
    assert grad(lambda x: lax.integer_pow(x, -2))(2.0) == -0.25


def test_polygamma_derivative_in_m_raises():
    with pytest.raises(FxgradTypeError, match="order m"):
        grad(lambda m: lax.polygamma(m, 2.0))(1.0)
    # with respect to x: polygamma(m + 1, x)
    _assert_rel(grad(lambda x: lax.polygamma(1.0, x))(2.0), _special.polygamma(2.0, 2.0), 1e-14)


def test_special_function_derivatives_are_the_next_function():
    _assert_rel(grad(lax.lgamma)(2.5), digamma_oracle(2.5), 1e-13)
    _assert_rel(grad(lax.lgamma)(-1.5), _special.digamma(-1.5), 1e-13)
    _assert_rel(grad(lax.digamma)(2.5), trigamma_oracle(2.5), 1e-13)
    _assert_rel(grad(lax.erf)(0.3), 2 / math.sqrt(math.pi) * math.exp(-0.09), 1e-14)
    y = 0.7
    _assert_rel(
        grad(lax.erf_inv)(y),
        1 / (2 / math.sqrt(math.pi) * math.exp(-(erf_inv_oracle(y) ** 2))),
        1e-12,
    )


# ---------------------------------------------------------------------------------------
# The where rule: a zero cotangent annihilates an infinite partial
# ---------------------------------------------------------------------------------------

UNTAKEN = [
    ("sqrt_at_0", lambda x: fnp.where(x > 0, fnp.sqrt(x), 0.0), 0.0),
    ("log_at_0", lambda x: fnp.where(x > 0, fnp.log(x), 0.0), 0.0),
    ("reciprocal_at_0", lambda x: fnp.where(x != 0, 1.0 / x, 0.0), 0.0),
    ("rsqrt_at_0", lambda x: fnp.where(x > 0, lax.rsqrt(x), 0.0), 0.0),
    ("cbrt_at_0", lambda x: fnp.where(x != 0, fnp.cbrt(x), 0.0), 0.0),
    ("pow_half_at_0", lambda x: fnp.where(x > 0, x**0.5, 0.0), 0.0),
    ("arcsin_at_1", lambda x: fnp.where(x < 1, fnp.arcsin(x), 0.0), 1.0),
    ("arctanh_at_1", lambda x: fnp.where(x < 1, fnp.arctanh(x), 0.0), 1.0),
    ("log_negative", lambda x: fnp.where(x > 0, fnp.log(x), x), -1.0),
]


@pytest.mark.parametrize("name,fun,x", UNTAKEN, ids=[u[0] for u in UNTAKEN])
def test_where_gradient_is_finite_in_the_untaken_branch(name, fun, x):
    expected = 1.0 if name == "log_negative" else 0.0
    assert float(grad(fun)(x)) == expected
    assert float(grad(grad(fun))(x)) == 0.0
    assert float(fxgrad.jit(grad(fun))(x)) == expected
    # forward mode selects the taken branch's tangent
    assert float(fxgrad.jvp(fun, (x,), (1.0,))[1]) == expected


@pytest.mark.parametrize("name,fun,x", UNTAKEN[:4], ids=[u[0] for u in UNTAKEN[:4]])
def test_jax_compatible_where_grad_restores_nan(name, fun, x):
    with config.override(jax_compatible_where_grad=True):
        assert np.isnan(float(grad(fun)(x)))


def test_where_hessian_is_finite_and_matches_the_closed_form():
    # d2/dx2 sqrt(x) = -x**-1.5 / 4 where x > 0; the untaken branch contributes 0 at x = 0
    x = np.array([0.0, 0.25, 1.0, 4.0, -1.0])
    h = np.asarray(fxgrad.hessian(lambda v: fnp.sum(fnp.where(v > 0, fnp.sqrt(v), 0.0)))(x))
    with np.errstate(divide="ignore"):
        closed = np.where(x > 0, -0.25 * np.abs(x) ** -1.5, 0.0)
    np.testing.assert_allclose(h, np.diag(closed), rtol=1e-14)


def test_backward_pass_uses_one_zero_safe_product_per_multiplication():
    jaxpr = fxgrad.make_jaxpr(grad(lambda x: fnp.sum(fnp.sin(x) * x / 3.0)))(np.ones(4))
    names = [eqn.primitive.name for eqn in jaxpr.jaxpr.eqns]
    assert "zero_safe_mul" in names and "zero_safe_div" in names
    assert "select_n" not in names and "eq" not in names
    with config.override(jax_compatible_where_grad=True):
        jaxpr = fxgrad.make_jaxpr(grad(lambda x: fnp.sum(fnp.sin(x) * x / 3.0)))(np.ones(4))
    assert not [e for e in jaxpr.jaxpr.eqns if e.primitive.name.startswith("zero_safe")]


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.complex128])
@pytest.mark.parametrize("name,op", [("mul", np.multiply), ("div", np.divide)])
def test_zero_safe_products_annihilate_infinite_partials(name, op, dtype):
    ct = np.array([0.0, -0.0, 2.0, 0.0, 0.0, -1.5, 3.0], dtype)
    y = np.array([np.inf, -np.inf, 0.5, np.nan, 0.0, 0.0, -2.0], dtype)
    with np.errstate(all="ignore"):
        expected = np.where(ct == 0, np.zeros((), dtype), op(ct, y))
    fun = getattr(ew, f"_zero_safe_{name}")
    for got in (fun(ct, y), fxgrad.jit(fun)(ct, y)):
        got = np.asarray(got)
        assert got.dtype == dtype
        np.testing.assert_array_equal(got, expected)
        assert not np.signbit(got[ct == 0].real).any()  # +0, as the select it replaces


def test_where_gradient_batched_matches_loop():
    fun = UNTAKEN[0][1]
    xs = np.array([0.0, 1.0, 4.0])
    batched = np.asarray(fxgrad.vmap(grad(fun))(xs))
    np.testing.assert_allclose(batched, [0.0, 0.5, 0.25])


def test_eager_ops_never_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fnp.multiply(0.0, np.inf)
        fnp.add(np.inf, -np.inf)
        fnp.divide(1.0, 0.0)
        fnp.exp(1e4)
        fnp.sqrt(-1.0)
        lax.lgamma(np.array([0.0, -1.0]))
        lax.clamp(0.0, fnp.array([np.nan]), 1.0)


# ---------------------------------------------------------------------------------------
# Values at the edges
# ---------------------------------------------------------------------------------------


def test_round_away_from_zero_is_exact_at_halves():
    x = np.array([0.49999999999999994, 0.5, 1.5, 2.5, -0.5, -2.5, -0.3, 2.0**52 + 1, np.inf])
    expected = np.array([0.0, 1.0, 2.0, 3.0, -1.0, -3.0, -0.0, 2.0**52 + 1, np.inf])
    out = np.asarray(lax.round(x))
    np.testing.assert_array_equal(out, expected)
    assert np.signbit(out[6])
    np.testing.assert_array_equal(np.asarray(lax.round(x, 1)), np.round(x))


def test_complex_keeps_infinite_parts():
    out = complex(np.asarray(lax.complex(0.0, np.inf)))
    assert out.real == 0.0 and out.imag == np.inf


def test_convert_complex_to_bool_looks_at_both_parts():
    z = np.array([0j, 1j, 1 + 0j])
    np.testing.assert_array_equal(
        np.asarray(lax.convert_element_type(z, bool)), [False, True, True]
    )


def test_bitcast_convert_type():
    x = np.array([1.0, -0.0, np.inf])
    np.testing.assert_array_equal(
        np.asarray(ew.bitcast_convert_type(x, np.int64)), x.view(np.int64)
    )
    np.testing.assert_array_equal(
        np.asarray(ew.bitcast_convert_type(np.float32(1.0), np.uint32)),
        np.float32(1.0).view(np.uint32),
    )
    with pytest.raises(FxgradTypeError, match="equal width"):
        ew.bitcast_convert_type(x, np.int32)

    def round_trip(v):
        return fnp.sum(ew.bitcast_convert_type(ew.bitcast_convert_type(v, np.int64), np.float64))

    np.testing.assert_array_equal(np.asarray(grad(round_trip)(np.array([1.0, 2.0]))), [0.0, 0.0])


def test_shift_right_logical_and_population_count():
    x = np.array([-8, 8, -1, 0], np.int32)
    y = np.array([1, 2, 31, 3], np.int32)
    expected = (x.view(np.uint32) >> y.view(np.uint32)).view(np.int32)
    np.testing.assert_array_equal(np.asarray(ew.shift_right_logical(x, y)), expected)
    np.testing.assert_array_equal(np.asarray(ew.shift_right_logical(x, np.int32(32))), [0, 0, 0, 0])
    np.testing.assert_array_equal(
        np.asarray(ew.population_count(x)), np.bitwise_count(x.view(np.uint32)).astype(np.int32)
    )


def test_lax_requires_equal_dtypes():
    with pytest.raises(FxgradTypeError, match="same dtype"):
        lax.add(np.float32(1), np.float64(1))
    with pytest.raises(FxgradTypeError, match="does not accept"):
        lax.erf(np.int32(1))


_UNARY = st.sampled_from(["exp", "sin", "tanh", "arctan", "square", "negative", "abs"])
_BINARY = st.sampled_from(["add", "subtract", "multiply", "maximum", "minimum", "arctan2"])


@st.composite
def _broadcastable(draw):
    shape = draw(st.lists(st.integers(0, 3), min_size=0, max_size=3))
    other = [draw(st.sampled_from([d, 1])) for d in shape]
    drop = draw(st.integers(0, len(other)))
    return tuple(shape), tuple(other[drop:])


@given(_BINARY, _broadcastable(), st.booleans())
def test_binary_ufuncs_broadcast_like_numpy(name, shapes, jit):
    a = RNG.randn(*shapes[0])
    b = RNG.randn(*shapes[1])
    fn = getattr(fnp, name)
    out = (fxgrad.jit(fn) if jit else fn)(a, b)
    expected = getattr(np, name)(a, b)
    assert out.shape == expected.shape
    np.testing.assert_allclose(np.asarray(out), expected, rtol=1e-14)


@given(_UNARY, st.lists(st.integers(0, 3), max_size=3))
def test_unary_ufuncs_any_shape_under_vmap(name, shape):
    x = RNG.randn(2, *shape)
    fn = getattr(fnp, name)
    out = fxgrad.vmap(fn)(x)
    np.testing.assert_allclose(np.asarray(out), getattr(np, name)(x), rtol=1e-14)
