"""fxgrad.scipy.special and fxgrad.scipy.stats.norm.

Values are checked against closed forms and the ``math`` module everywhere, and against
SciPy over wide ranges (tails included) when SciPy is installed (it is not a
dependency). Every function passes ``check_grads`` (order 2, forward and reverse) at
a few points, and the documented edge cases hold: finite gradients of ``logsumexp`` at
``-inf`` entries and of ``xlogy``/``xlog1py`` at ``x = 0``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import fxgrad
import fxgrad.numpy as fnp
from fxgrad.scipy import special as sp
from fxgrad.scipy.stats import norm
from fxgrad.test_util import check_grads


def _np(x):
    return np.asarray(x)


# --- closed forms -----------------------------------------------------------------------------


def test_closed_forms_and_math_module():
    xs = [-3.2, -0.7, 0.1, 0.5, 1.3, 2.9, 6.0]
    np.testing.assert_allclose(_np(sp.erf(np.array(xs))), [math.erf(x) for x in xs], rtol=1e-14)
    np.testing.assert_allclose(_np(sp.erfc(np.array(xs))), [math.erfc(x) for x in xs], rtol=1e-14)
    positive = np.array([0.1, 0.5, 1.3, 2.9, 6.0, 30.0])
    np.testing.assert_allclose(
        _np(sp.gammaln(positive)), [math.lgamma(x) for x in positive], rtol=1e-13
    )
    np.testing.assert_allclose(_np(sp.gamma(np.array(xs))), [math.gamma(x) for x in xs], rtol=1e-13)
    np.testing.assert_allclose(
        _np(sp.ndtr(np.array(xs))), [0.5 * math.erfc(-x / math.sqrt(2)) for x in xs], rtol=1e-14
    )
    np.testing.assert_allclose(_np(sp.expit(np.array(xs))), [1 / (1 + math.exp(-x)) for x in xs])
    assert float(sp.digamma(1.0)) == pytest.approx(-np.euler_gamma, rel=1e-14)
    assert float(sp.polygamma(1, 1.0)) == pytest.approx(math.pi**2 / 6, rel=1e-13)
    assert float(sp.zeta(2.0)) == pytest.approx(math.pi**2 / 6, rel=1e-14)
    assert float(sp.zeta(4.0, 1.0)) == pytest.approx(math.pi**4 / 90, rel=1e-14)
    assert float(sp.zeta(3.0, 2.0)) == pytest.approx(1.2020569031595942 - 1, rel=1e-13)
    a, b = 2.5, 0.75
    assert float(sp.betaln(a, b)) == pytest.approx(
        math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b), rel=1e-14
    )
    assert float(sp.beta(3.0, 4.0)) == pytest.approx(1 / 60, rel=1e-13)
    expected = 3 * 2 / 4 * math.log(math.pi) + sum(math.lgamma(4.0 - j / 2) for j in range(3))
    assert float(sp.multigammaln(4.0, 3)) == pytest.approx(expected, rel=1e-14)
    assert float(sp.xlogy(2.0, 3.0)) == pytest.approx(2 * math.log(3), rel=1e-15)
    assert float(sp.xlog1py(2.0, 3.0)) == pytest.approx(2 * math.log(4), rel=1e-15)
    assert float(sp.entr(0.5)) == pytest.approx(-0.5 * math.log(0.5), rel=1e-15)


def test_edge_values():
    assert float(sp.xlogy(0.0, 0.0)) == 0.0
    assert float(sp.xlog1py(0.0, -1.0)) == 0.0
    assert float(sp.entr(0.0)) == 0.0 and float(sp.entr(-1.0)) == -np.inf
    assert _np(sp.logit(np.array([0.0, 1.0]))).tolist() == [-np.inf, np.inf]
    assert _np(sp.ndtri(np.array([0.0, 1.0]))).tolist() == [-np.inf, np.inf]
    assert np.isnan(_np(sp.ndtri(np.array([-0.1, 1.1])))).all()
    assert float(sp.logsumexp(np.array([-np.inf, -np.inf]))) == -np.inf
    assert float(sp.logsumexp(np.array([np.inf, 1.0]))) == np.inf
    assert float(sp.zeta(1.0)) == np.inf and np.isnan(float(sp.zeta(0.5)))
    assert np.isnan(float(sp.gamma(-2.0)))


def test_logsumexp_matches_a_direct_sum_and_options():
    rng = np.random.RandomState(0)
    a, b = rng.randn(3, 4), rng.randn(3, 4)
    direct = np.log(np.sum(np.exp(a), axis=1))
    np.testing.assert_allclose(_np(sp.logsumexp(a, axis=1)), direct, rtol=1e-14)
    s = np.sum(b * np.exp(a), axis=0)
    value, sign = sp.logsumexp(a, axis=0, b=b, return_sign=True)
    np.testing.assert_allclose(_np(value), np.log(np.abs(s)), rtol=1e-13)
    np.testing.assert_array_equal(_np(sign), np.sign(s))
    big = np.array([1000.0, 1000.0 + math.log(3)])
    assert float(sp.logsumexp(big)) == pytest.approx(1000.0 + math.log(4), rel=1e-15)
    kept = sp.logsumexp(a, axis=(0, 1), keepdims=True)
    assert kept.shape == (1, 1)
    masked = sp.logsumexp(a, axis=1, where=a > 0)
    expected = [np.log(np.sum(np.exp(r[r > 0]))) if (r > 0).any() else -np.inf for r in a]
    np.testing.assert_allclose(_np(masked), expected, rtol=1e-14)


def test_softmax_and_log_softmax():
    x = np.random.RandomState(1).randn(3, 5) * 10
    out = _np(sp.softmax(x, axis=1))
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-14)
    np.testing.assert_allclose(out, np.exp(x) / np.exp(x).sum(axis=1, keepdims=True), rtol=1e-12)
    expected = x - np.log(np.exp(x).sum(axis=1, keepdims=True))
    np.testing.assert_allclose(_np(sp.log_softmax(x, axis=1)), expected, rtol=1e-12, atol=1e-14)
    assert _np(sp.softmax(x)).sum() == pytest.approx(1.0)


def test_normal_distribution_is_consistent():
    x = np.linspace(-8, 8, 2001)
    integral = float(fnp.trapezoid(norm.pdf(x, 0.5, 1.5), x))
    assert integral == pytest.approx(1.0, abs=1e-6)
    q = np.array([1e-12, 0.01, 0.3, 0.5, 0.9, 1 - 1e-9])
    np.testing.assert_allclose(_np(norm.cdf(norm.ppf(q, 2.0, 3.0), 2.0, 3.0)), q, rtol=1e-12)
    np.testing.assert_allclose(_np(norm.isf(q)), -_np(norm.ppf(q)), rtol=1e-14)
    np.testing.assert_allclose(_np(norm.sf(x)), _np(norm.cdf(-x)), rtol=1e-15)
    # deep lower tail: log(ndtr) by the asymptotic series
    xs = np.array([-50.0, -200.0])
    series = (
        -0.5 * xs**2
        - np.log(-xs)
        - 0.5 * np.log(2 * np.pi)
        + np.log1p(-1 / xs**2 + 3 / xs**4 - 15 / xs**6)
    )
    np.testing.assert_allclose(_np(norm.logcdf(xs)), series, rtol=1e-13)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_ndtri_inverts_ndtr_over_the_whole_range(dtype):
    tiny = np.finfo(dtype).tiny
    p = np.array([tiny * 10, 1e-30, 1e-10, 1e-3, 0.2, 0.5, 0.7, 0.999], dtype=dtype)
    p = p[p > 0]
    x = sp.ndtri(p)
    assert _np(x).dtype == dtype
    rtol = 1e-12 if dtype == np.float64 else 2e-5  # exp(log p) near 1e-307: rounding 1e-13
    log_p = _np(sp.log_ndtr(x, series_order=10)).astype(np.float64)
    np.testing.assert_allclose(np.exp(log_p), p, rtol=rtol)


# --- against SciPy ---------------------------------------------------------------------------


def test_against_scipy_over_wide_ranges():
    scipy_special = pytest.importorskip("scipy.special")
    wide = np.concatenate([-np.logspace(-3, 3, 40), [0.0], np.logspace(-3, 3, 40)])
    for name in ("erf", "erfc", "expit", "ndtr", "log_ndtr", "i0e", "i1e", "entr"):
        with np.errstate(all="ignore"):
            expected = getattr(scipy_special, name)(wide)
        actual = _np(getattr(sp, name)(wide))
        np.testing.assert_allclose(actual, expected, rtol=2e-13, atol=1e-300, err_msg=name)
    positive = np.logspace(-3, 2.5, 60)
    for name in ("gammaln", "digamma", "gamma"):
        np.testing.assert_allclose(
            _np(getattr(sp, name)(positive)),
            getattr(scipy_special, name)(positive),
            rtol=1e-12,
            err_msg=name,
        )
    p = np.concatenate(
        [np.logspace(-300, -1, 50), np.linspace(0.1, 0.9, 9), 1 - np.logspace(-15, -1, 20)]
    )
    np.testing.assert_allclose(_np(sp.ndtri(p)), scipy_special.ndtri(p), rtol=1e-13)
    near_half = 0.5 + np.array([-1e-12, -3e-9, 0.0, 1e-15, 2e-6, 0.2])
    np.testing.assert_allclose(
        _np(sp.ndtri(near_half)), scipy_special.ndtri(near_half), rtol=1e-13, atol=1e-300
    )
    u = np.linspace(-0.999, 0.999, 41)
    np.testing.assert_allclose(_np(sp.erfinv(u)), scipy_special.erfinv(u), rtol=1e-13)
    s = np.array([1.1, 1.5, 2.0, 3.3, 8.0, 20.0])
    q = np.array([0.05, 0.5, 1.0, 2.7, 10.0, 0.3])
    np.testing.assert_allclose(_np(sp.zeta(s, q)), scipy_special.zeta(s, q), rtol=1e-13)
    np.testing.assert_allclose(
        _np(sp.polygamma(np.array([1, 2, 3]), np.array([0.3, 2.0, 7.5]))),
        scipy_special.polygamma([1, 2, 3], [0.3, 2.0, 7.5]),
        rtol=1e-12,
    )


def test_norm_against_scipy():
    stats = pytest.importorskip("scipy.stats")
    x = np.linspace(-40, 12, 53)
    for name in ("pdf", "logpdf", "cdf", "logcdf", "sf", "logsf"):
        np.testing.assert_allclose(
            _np(getattr(norm, name)(x, 0.5, 2.0)),
            getattr(stats.norm, name)(x, 0.5, 2.0),
            rtol=1e-12,
            atol=1e-300,
            err_msg=name,
        )
    q = np.linspace(0.001, 0.999, 31)
    np.testing.assert_allclose(_np(norm.ppf(q, 1.0, 2.0)), stats.norm.ppf(q, 1.0, 2.0), rtol=1e-13)


# --- derivatives -------------------------------------------------------------------------------

_X = np.array([-1.3, -0.2, 0.4, 2.1])
_POS = np.array([0.3, 1.1, 2.5, 7.0])
_PROB = np.array([0.1, 0.3, 0.6, 0.9])

GRAD_CASES = {
    "logsumexp": (lambda a: sp.logsumexp(a), (_X,)),
    "logsumexp_b_axis": (lambda a, b: sp.logsumexp(a[None] * b, axis=1, b=b), (_X, _POS[:, None])),
    "softmax": (lambda a: sp.softmax(a), (_X,)),
    "log_softmax": (lambda a: sp.log_softmax(a), (_X,)),
    "expit": (sp.expit, (_X,)),
    "logit": (sp.logit, (np.array([0.3, 0.45, 0.6]),)),
    "erf": (sp.erf, (_X,)),
    "erfc": (sp.erfc, (_X,)),
    "erfinv": (sp.erfinv, (np.array([-0.6, 0.1, 0.5]),)),
    "gammaln": (sp.gammaln, (_POS,)),
    "gamma": (sp.gamma, (np.array([0.7, 1.5, 2.5]),)),
    "digamma": (sp.digamma, (_POS,)),
    "polygamma": (lambda x: sp.polygamma(1, x), (_POS,)),
    "beta": (sp.beta, (_POS, _POS[::-1])),
    "betaln": (sp.betaln, (_POS, _POS[::-1])),
    "multigammaln": (lambda a: sp.multigammaln(a, 2), (_POS + 1,)),
    "xlogy": (sp.xlogy, (_X, _POS)),
    "xlog1py": (sp.xlog1py, (_X, _POS)),
    "entr": (sp.entr, (_POS,)),
    "ndtr": (sp.ndtr, (_X * 3,)),
    "log_ndtr": (sp.log_ndtr, (np.array([-45.0, -10.0, 0.3, 9.0]),)),
    "ndtri": (sp.ndtri, (_PROB,)),
    "i0e": (sp.i0e, (np.array([-30.0, -2.0, 0.5, 25.0]),)),
    "i1e": (sp.i1e, (np.array([-30.0, -2.0, 0.5, 25.0]),)),
    "zeta": (sp.zeta, (np.array([1.5, 2.5, 4.0]), np.array([0.5, 1.0, 3.0]))),
    "norm_pdf": (norm.pdf, (_X, 0.3, 1.5)),
    "norm_logcdf": (norm.logcdf, (_X, 0.3, 1.5)),
    "norm_ppf": (norm.ppf, (_PROB, 0.3, 1.5)),
    "norm_isf": (norm.isf, (_PROB, 0.3, 1.5)),
    "norm_logsf": (norm.logsf, (_X, 0.3, 1.5)),
}


# ndtri's rule is exercised at order 2 by its op record; order 1 here keeps the suite fast
_FIRST_ORDER_ONLY = {"norm_ppf", "norm_isf"}


@pytest.mark.parametrize("name", sorted(GRAD_CASES))
def test_check_grads(name):
    fn, args = GRAD_CASES[name]
    args = tuple(np.asarray(a, dtype=np.float64) for a in args)
    order = 1 if name in _FIRST_ORDER_ONLY else 2
    check_grads(fn, args, order=order, modes=("fwd", "rev"), rtol=1e-4, atol=1e-4)


def test_logsumexp_gradients_are_finite_at_minus_infinity():
    g = _np(fxgrad.grad(sp.logsumexp)(np.array([-np.inf, 0.0, np.log(3.0)])))
    np.testing.assert_allclose(g, [0.0, 0.25, 0.75])
    g = _np(fxgrad.grad(sp.logsumexp)(np.array([-np.inf, -np.inf])))
    np.testing.assert_array_equal(g, [0.0, 0.0])
    h = _np(fxgrad.hessian(sp.logsumexp)(np.array([-np.inf, 0.0, 0.0])))
    assert np.isfinite(h).all()
    np.testing.assert_allclose(h[1:, 1:], [[0.25, -0.25], [-0.25, 0.25]])


def test_xlogy_and_xlog1py_gradients_at_zero():
    gx, gy = fxgrad.grad(sp.xlogy, argnums=(0, 1))(0.0, 2.0)
    assert float(gx) == pytest.approx(math.log(2.0)) and float(gy) == 0.0
    gx, gy = fxgrad.grad(sp.xlogy, argnums=(0, 1))(0.0, 0.0)
    assert float(gx) == -np.inf and float(gy) == 0.0  # d/dx log(y) is -inf: the true value
    gx, gy = fxgrad.grad(sp.xlog1py, argnums=(0, 1))(0.0, -1.0)
    assert float(gy) == 0.0
    gx, gy = fxgrad.grad(sp.xlog1py, argnums=(0, 1))(0.0, 1.0)
    assert float(gx) == pytest.approx(math.log(2.0)) and float(gy) == 0.0
    assert float(fxgrad.grad(sp.entr)(-1.0)) == 0.0
    # the second derivative in y at x = 0 is 0, not NaN
    assert float(fxgrad.grad(fxgrad.grad(sp.xlogy, argnums=1), argnums=1)(0.0, 1.0)) == 0.0


def test_transformations_compose():
    x = np.random.RandomState(2).randn(3, 4)
    batched = fxgrad.vmap(sp.logsumexp)(x)
    np.testing.assert_allclose(_np(batched), [float(sp.logsumexp(r)) for r in x], rtol=1e-14)
    jitted = fxgrad.jit(lambda v: sp.log_ndtr(v) + sp.ndtri(sp.expit(v)))(x)
    eager = sp.log_ndtr(x) + sp.ndtri(sp.expit(x))
    np.testing.assert_allclose(_np(jitted), _np(eager), rtol=1e-13)
    grads = fxgrad.jit(fxgrad.vmap(fxgrad.grad(lambda v: sp.logsumexp(v))))(x)
    np.testing.assert_allclose(_np(grads), _np(sp.softmax(x, axis=1)), rtol=1e-13)


@pytest.mark.parametrize(
    "module",
    ["fxgrad.scipy", "fxgrad.scipy.special", "fxgrad.scipy.stats", "fxgrad.scipy.stats.norm"],
)
def test_docstring_examples_run(module):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0


@pytest.mark.parametrize(
    "name, weak",
    [
        # as JAX (x64): the normal-distribution functions compute with arrays of the
        # dtype and return strong arrays; the Bessel functions keep a Python scalar weak
        ("ndtr", False),
        ("ndtri", False),
        ("log_ndtr", False),
        ("i0", True),
        ("i0e", True),
        ("i1", True),
        ("i1e", True),
        ("erf", True),
    ],
)
def test_weak_type_of_special_functions_of_python_scalars(name, weak):
    import fxgrad
    from fxgrad.scipy import special

    fn = getattr(special, name)
    assert fn(0.3).weak_type is weak
    assert fxgrad.jit(fn)(0.3).weak_type is weak
    assert fn(fxgrad.numpy.float64(0.3)).weak_type is False
