"""The samplers of ``jax.random`` added to ``fxgrad.random`` beyond the basic ones.

For each of ``cauchy``, ``lognormal``, ``pareto``, ``weibull_min``, ``rayleigh``,
``maxwell``, ``double_sided_maxwell``, ``triangular``, ``wald``, ``chisquare``, ``f``, ``t``,
``geometric``, ``binomial`` and ``multinomial``:

* against JAX (when importable, with ``jax_enable_x64``) for several seeds and both float
  dtypes: bit-identical where the sampler is IEEE arithmetic and ``sqrt`` (``triangular``)
  or rounds to integers (``geometric``, ``binomial``, ``multinomial``, identical on these
  seeds), otherwise within a few tens of ulps (XLA's ``log``/``erf_inv``/``tan``/``pow``
  round differently from NumPy's; the differences measured are below 20 ulps);
* the distribution, without JAX: a Kolmogorov-Smirnov distance to the closed-form CDF, or
  moments against their closed forms (seeded, with bounds several standard errors wide);
* ``jit``, ``vmap`` over keys and ``jit(vmap)`` against an eager loop over the keys;
* gradients through the float parameters, argument checks and shapes as in JAX.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import fxgrad
import fxgrad.numpy as fnp
from fxgrad import random
from fxgrad.errors import FxgradTypeError, ShapeError
from fxgrad.test_util import check_grads
from tests import test_random as base

jax = base.jax  # the module-scoped fixture: JAX with x64, or a skip without it
FLOATS, SEEDS = base.FLOATS, base.SEEDS
_check_moments, _close, _exact = base._check_moments, base._close, base._exact

N = 20000

# name -> sampler(random_module, key, dtype): the same call for fxgrad and JAX
CONTINUOUS = {
    "cauchy": lambda r, k, dt: r.cauchy(k, (7,), dt),
    "lognormal": lambda r, k, dt: r.lognormal(k, 0.5, (7,), dt),
    "pareto": lambda r, k, dt: r.pareto(k, 2.5, (7,), dt),
    "weibull_min": lambda r, k, dt: r.weibull_min(k, 1.5, 2.0, (7,), dt),
    "rayleigh": lambda r, k, dt: r.rayleigh(k, 1.5, (7,), dt),
    "maxwell": lambda r, k, dt: r.maxwell(k, (2, 3), dt),
    "double_sided_maxwell": lambda r, k, dt: r.double_sided_maxwell(k, 0.5, 2.0, (7,), dt),
    "wald": lambda r, k, dt: r.wald(k, 1.5, (7,), dt),
    "chisquare": lambda r, k, dt: r.chisquare(k, np.array([0.5, 3.0, 20.0], dt), None, dt),
    "f": lambda r, k, dt: r.f(k, 3.0, 5.0, (7,), dt),
    "t": lambda r, k, dt: r.t(k, 4.0, (7,), dt),
}
EXACT = {
    "triangular": lambda r, k, dt: r.triangular(k, -1.0, 0.3, 2.0, (3, 4), dt),
    "triangular_arrays": lambda r, k, dt: r.triangular(
        k, np.zeros(3, dt), np.array([0.0, 0.5, 1.0], dt), np.ones((2, 1), dt), None, dt
    ),
    "geometric": lambda r, k, dt: r.geometric(k, np.asarray([0.01, 0.3, 0.9], dt), (4, 3)),
    "binomial_inversion": lambda r, k, dt: r.binomial(k, 20.0, 0.3, (7,), dt),
    "binomial_rejection": lambda r, k, dt: r.binomial(k, 200.0, 0.3, (7,), dt),
    "binomial_edges": lambda r, k, dt: r.binomial(
        k,
        np.array([5.0, 100.0, 1000.0, -1.0, np.inf, 50.0, 7.5, 0.0]),
        np.array([0.5, 0.9, 0.2, 0.3, 0.3, np.nan, 1.0, 0.4]),
        dtype=dt,
    ),
    "multinomial": lambda r, k, dt: r.multinomial(k, 30.0, np.array([0.2, 0.3, 0.5]), dtype=dt),
    "multinomial_batched": lambda r, k, dt: r.multinomial(
        k, np.array([10.0, 500.0]), np.array([[0.1, 0.0, 0.9], [0.5, 0.25, 0.25]]), dtype=dt
    ),
}


# ---------------------------------------------------------------------------------------
# Against JAX
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS[::2])
@pytest.mark.parametrize("dtype", FLOATS)
def test_continuous_samplers_match_jax_to_rounding(jax, seed, dtype):
    key, jkey = random.PRNGKey(seed), jax.random.PRNGKey(seed)
    for name, fn in CONTINUOUS.items():
        _close(fn(random, key, dtype), fn(jax.random, jkey, dtype), name, ulps=64)


@pytest.mark.parametrize("seed", SEEDS[::2])
@pytest.mark.parametrize("dtype", FLOATS)
def test_exact_samplers_match_jax_bit_for_bit(jax, seed, dtype):
    key, jkey = random.PRNGKey(seed), jax.random.PRNGKey(seed)
    for name, fn in EXACT.items():
        _exact(fn(random, key, dtype), fn(jax.random, jkey, dtype), name)


def test_defaults_and_shapes_match_jax(jax):
    key, jkey = random.PRNGKey(3), jax.random.PRNGKey(3)
    calls = [
        lambda r, k: r.lognormal(k),
        lambda r, k: r.lognormal(k, np.array([0.5, 1.0]), dtype="complex128"),
        lambda r, k: r.double_sided_maxwell(k, np.zeros(2), 1.0),  # JAX's (2, 2)
        lambda r, k: r.double_sided_maxwell(k, np.zeros(2), np.ones((3, 1)), (4,)),
        lambda r, k: r.weibull_min(k, np.array([1.0, 2.0]), 3.0, (4, 1)),
        lambda r, k: r.weibull_min(k, 1.0, np.float32(3.0), (2,), "float32"),
        lambda r, k: r.geometric(k, 0.25),
        lambda r, k: r.geometric(k, np.float32(0.25), (3,), "int8"),
        lambda r, k: r.binomial(k, np.array([3, 4]), 0.5),
        lambda r, k: r.binomial(k, 10, np.float32(0.5), (2,)),
        lambda r, k: r.multinomial(k, 5, np.array([0.5, 0.5]), shape=(3, 2), dtype="float32"),
        lambda r, k: r.pareto(k, np.array([1.0, 2.0]), (3, 2)),
        lambda r, k: r.t(k, 3),
        lambda r, k: r.f(k, np.array([2.0, 3.0]), 4.0),
        lambda r, k: r.chisquare(k, 2, (2,), "float32"),
    ]
    for i, call in enumerate(calls):
        ours, theirs = np.asarray(call(random, key)), np.asarray(call(jax.random, jkey))
        assert ours.shape == theirs.shape and ours.dtype == theirs.dtype, (i, ours, theirs)
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, err_msg=str(i))


def test_randint_edge_cases_match_jax(jax):
    cases = [
        ((6,), 0, 256, "uint8"),
        ((6,), -200, 300, "int8"),
        ((6,), 2.7, 9.9, "int32"),
        ((6,), 0, 2**63 - 1, "int64"),
        ((6,), -(2**63), 2**63 - 1, "int64"),
        ((6,), 10, 3, "int64"),
        ((), 0, 5, None),
        ((6,), -5, 5, "uint32"),
        ((6,), 0, 2**32, "uint32"),
        ((6,), np.int8(-3), np.int8(100), "int64"),
        ((4,), np.array([0, 10, 20, 30]), 40, "int16"),
        ((6,), True, 5, None),
        ((6,), 0, 65536, "uint16"),
        ((6,), 0, 1, "int64"),
        ((6,), np.uint64(0), np.uint64(2**64 - 1), "uint64"),
        ((2, 3), np.array([[0], [100]]), np.array([5, 50, 500]), "int64"),
    ]
    for seed in (0, 7, 2**40 + 5):
        key, jkey = random.PRNGKey(seed), jax.random.PRNGKey(seed)
        for shape, lo, hi, dtype in cases:
            _exact(
                random.randint(key, shape, lo, hi, dtype),
                jax.random.randint(jkey, shape, lo, hi, dtype),
                f"randint {shape} {lo} {hi} {dtype}",
            )


def test_every_jax_sampler_exists():
    # names of jax.random 0.10.2; key_dtype (typed keys) and random_gamma_p (a primitive
    # fxgrad does not need: gamma is a custom_jvp of lax code) are the documented gaps
    jax_names = (
        "PRNGKey ball bernoulli beta binomial bits categorical cauchy chisquare choice clone "
        "dirichlet double_sided_maxwell exponential f fold_in gamma generalized_normal "
        "geometric gumbel key key_data key_impl laplace loggamma logistic lognormal maxwell "
        "multinomial multivariate_normal normal orthogonal pareto permutation poisson "
        "rademacher randint rayleigh split t triangular truncated_normal uniform wald "
        "weibull_min wrap_key_data"
    ).split()
    missing = [n for n in jax_names if n not in random.__all__ or not hasattr(random, n)]
    assert not missing


def test_every_jax_sampler_exists_in_installed_jax(jax):
    gaps = {"key_dtype", "random_gamma_p"}
    names = {n for n in dir(jax.random) if not n.startswith("_")} - gaps
    assert sorted(names - set(random.__all__)) == []


# ---------------------------------------------------------------------------------------
# Distributions (no JAX needed)
# ---------------------------------------------------------------------------------------


def _ks_distance(samples, cdf) -> float:
    """The Kolmogorov-Smirnov distance between ``samples`` and the CDF ``cdf``."""
    x = np.sort(np.asarray(samples, dtype=np.float64).ravel())
    n = x.size
    f = cdf(x)
    return float(max(np.max(np.arange(1, n + 1) / n - f), np.max(f - np.arange(n) / n)))


def _normal_cdf(x):
    return 0.5 * (1 + np.vectorize(math.erf)(x / math.sqrt(2)))


def _maxwell_cdf(x):
    x = np.maximum(x, 0)
    return np.vectorize(math.erf)(x / math.sqrt(2)) - math.sqrt(2 / math.pi) * x * np.exp(
        -(x**2) / 2
    )


def _wald_cdf(x, mu):
    root = np.sqrt(1 / x)
    return _normal_cdf(root * (x / mu - 1)) + np.exp(2 / mu) * _normal_cdf(-root * (x / mu + 1))


def _triangular_cdf(x, a, c, b):
    return np.where(
        x <= c,
        (x - a) ** 2 / ((b - a) * (c - a)),
        1 - (b - x) ** 2 / ((b - a) * (b - c)),
    )


# name -> (sampler of N values, CDF)
KS_CASES = {
    "cauchy": (lambda k, dt: random.cauchy(k, (N,), dt), lambda x: 0.5 + np.arctan(x) / np.pi),
    "lognormal": (
        lambda k, dt: random.lognormal(k, 0.5, (N,), dt),
        lambda x: _normal_cdf(np.log(x) / 0.5),
    ),
    "pareto": (lambda k, dt: random.pareto(k, 3.0, (N,), dt), lambda x: 1 - x**-3.0),
    "weibull_min": (
        lambda k, dt: random.weibull_min(k, 2.0, 1.5, (N,), dt),
        lambda x: 1 - np.exp(-((x / 2.0) ** 1.5)),
    ),
    "rayleigh": (
        lambda k, dt: random.rayleigh(k, 1.5, (N,), dt),
        lambda x: 1 - np.exp(-(x**2) / (2 * 1.5**2)),
    ),
    "maxwell": (lambda k, dt: random.maxwell(k, (N,), dt), _maxwell_cdf),
    "double_sided_maxwell": (
        lambda k, dt: random.double_sided_maxwell(k, 1.0, 2.0, (N,), dt),
        lambda x: 0.5 + np.sign(x - 1.0) * _maxwell_cdf(np.abs(x - 1.0) / 2.0) / 2,
    ),
    "triangular": (
        lambda k, dt: random.triangular(k, -1.0, 0.5, 2.0, (N,), dt),
        lambda x: _triangular_cdf(x, -1.0, 0.5, 2.0),
    ),
    "wald": (lambda k, dt: random.wald(k, 1.5, (N,), dt), lambda x: _wald_cdf(x, 1.5)),
}


@pytest.mark.parametrize("name", KS_CASES)
@pytest.mark.parametrize("dtype", FLOATS)
def test_continuous_distributions_follow_their_cdf(name, dtype):
    sample, cdf = KS_CASES[name]
    x = sample(random.key(5), dtype)
    assert x.shape == (N,) and x.dtype == np.dtype(dtype)
    # sqrt(N) * D exceeds 1.95 with probability 0.001 for a correct sampler
    assert _ks_distance(x, cdf) < 1.95 / math.sqrt(N), name


def test_gamma_based_moments():
    k = random.key(8)
    for df in (0.5, 3.0, 20.0):
        _check_moments(random.chisquare(k, df, (N,)), df, 2 * df)
    d1, d2 = 5.0, 12.0
    var_f = 2 * d2**2 * (d1 + d2 - 2) / (d1 * (d2 - 2) ** 2 * (d2 - 4))
    x = np.asarray(random.f(k, d1, d2, (N,)))
    assert abs(x.mean() - d2 / (d2 - 2)) < 5 * math.sqrt(var_f / N)
    nu = 9.0
    x = np.asarray(random.t(k, nu, (N,)))
    assert abs(x.mean()) < 5 * math.sqrt(nu / (nu - 2) / N)
    assert abs(x.var() - nu / (nu - 2)) < 0.1  # kurtosis 6 / (nu - 4): se ~ 0.02
    # quartiles of t(1) = Cauchy: +-1
    x = np.asarray(random.t(k, 1.0, (N,)))
    assert abs(np.mean(np.abs(x) < 1.0) - 0.5) < 5 * math.sqrt(0.25 / N)


def test_discrete_moments():
    k = random.key(13)
    for p in (0.05, 0.3, 0.9):
        _check_moments(random.geometric(k, p, (N,)), 1 / p, (1 - p) / p**2)
    for n, p in ((20, 0.3), (7, 0.95), (200, 0.7), (1000, 0.2), (50, 0.5)):
        x = random.binomial(k, n, p, (N,))
        assert np.all((np.asarray(x) >= 0) & (np.asarray(x) <= n))
        _check_moments(x, n * p, n * p * (1 - p))
    p = np.array([0.2, 0.3, 0.5])
    counts = np.asarray(fxgrad.vmap(lambda kk: random.multinomial(kk, 30, p))(random.split(k, N)))
    np.testing.assert_array_equal(counts.sum(-1), 30)
    _check_moments(counts, 30 * p, 30 * p * (1 - p))


def test_binomial_special_values():
    out = np.asarray(
        random.binomial(
            random.key(0),
            np.array([-1.0, np.nan, np.inf, 10.0, 10.0, 10.0, 0.0, 12.7]),
            np.array([0.5, 0.5, 0.5, -0.1, np.nan, 1.0, 0.5, 0.0]),
        )
    )
    assert np.isnan(out[:2]).all() and out[2] == np.inf and np.isnan(out[3:5]).all()
    np.testing.assert_array_equal(out[5:], [10.0, 0.0, 0.0])


# ---------------------------------------------------------------------------------------
# jit and vmap over keys
# ---------------------------------------------------------------------------------------

K = random.key(21)
TRANSFORMED = {
    "cauchy": (False, lambda k: random.cauchy(k, (3,))),
    "lognormal": (False, lambda k: random.lognormal(k, fnp.array([0.5, 2.0]))),
    "pareto": (False, lambda k: random.pareto(k, 2.0, (3,))),
    "weibull_min": (False, lambda k: random.weibull_min(k, 1.0, 2.0, (3,))),
    "rayleigh": (False, lambda k: random.rayleigh(k, 2.0, (3,))),
    "maxwell": (False, lambda k: random.maxwell(k, (3,))),
    "double_sided_maxwell": (False, lambda k: random.double_sided_maxwell(k, 0.0, 1.0, (3,))),
    "wald": (False, lambda k: random.wald(k, 2.0, (3,))),
    "chisquare": (False, lambda k: random.chisquare(k, 3.0, (3,))),
    "f": (False, lambda k: random.f(k, 2.0, 3.0, (3,))),
    "t": (False, lambda k: random.t(k, 3.0, (3,))),
    "triangular": (True, lambda k: random.triangular(k, 0.0, 0.2, 1.0, (3,))),
    "geometric": (True, lambda k: random.geometric(k, 0.3, (3,))),
    "binomial": (True, lambda k: random.binomial(k, fnp.array([5.0, 300.0]), 0.4)),
    "multinomial": (True, lambda k: random.multinomial(k, 20.0, fnp.array([0.3, 0.7]))),
}


@pytest.mark.parametrize("name", TRANSFORMED)
def test_jit_and_vmap_match_eager(name):
    exact, fn = TRANSFORMED[name]
    keys = random.split(K, 3)
    loop = np.stack([np.asarray(fn(k)) for k in keys])

    def compare(a, b, what):
        if exact:
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b), err_msg=what)
        else:  # compiled transcendental kernels may round differently from NumPy
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-12, err_msg=what)

    compare(fxgrad.jit(fn)(K), fn(K), f"jit {name}")
    compare(fxgrad.vmap(fn)(keys), loop, f"vmap {name}")
    compare(fxgrad.jit(fxgrad.vmap(fn))(keys), loop, f"jit(vmap) {name}")


# ---------------------------------------------------------------------------------------
# Gradients through parameters
# ---------------------------------------------------------------------------------------


def test_grads_through_parameters_match_finite_differences():
    k = random.key(4)
    check_grads(lambda s: random.lognormal(k, s, (3,)), (0.7,), order=2)
    check_grads(lambda b: random.pareto(k, b, (3,)), (2.5,), order=2)
    check_grads(lambda s: random.rayleigh(k, s, (3,)), (1.5,), order=2)
    check_grads(lambda m: random.wald(k, m, (3,)), (1.5,), order=2)
    check_grads(lambda s, c: random.weibull_min(k, s, c, (3,)), (1.5, 2.0), order=2)
    check_grads(lambda a, m, b: random.triangular(k, a, m, b, (3,)), (-1.0, 0.2, 2.0), order=1)
    check_grads(lambda loc, s: random.double_sided_maxwell(k, loc, s, (3,)), (0.5, 2.0), order=2)


def test_gamma_based_grads_match_jax(jax):
    jnp = jax.numpy
    k, jk = random.PRNGKey(1), jax.random.PRNGKey(1)
    for name, args in (("chisquare", (3.0,)), ("t", (4.0,)), ("f", (3.0, 5.0))):
        argnums = tuple(range(len(args)))

        def ours(*a, name=name):
            return fnp.sum(getattr(random, name)(k, *a, (4,)))

        def theirs(*a, name=name):
            return jnp.sum(getattr(jax.random, name)(jk, *a, (4,)))

        got = fxgrad.grad(ours, argnums=argnums)(*args)
        want = jax.grad(theirs, argnums=argnums)(*args)
        np.testing.assert_allclose(
            [float(v) for v in got], [float(v) for v in want], rtol=1e-10, err_msg=name
        )


# ---------------------------------------------------------------------------------------
# Arguments and errors
# ---------------------------------------------------------------------------------------


def test_default_dtypes_and_shapes():
    k = random.key(0)
    assert random.cauchy(k).shape == () and random.cauchy(k).dtype == np.float64
    assert random.lognormal(k).dtype == np.float64
    assert random.geometric(k, 0.5).dtype == np.int64
    assert random.binomial(k, 3, 0.5).dtype == np.float64
    assert random.pareto(k, np.ones((2, 3))).shape == (2, 3)
    assert random.triangular(k, 0.0, np.zeros(4), 1.0).shape == (4,)
    assert random.double_sided_maxwell(k, np.zeros(2), 1.0).shape == (2, 2)  # as JAX
    assert random.maxwell(k, (0, 3)).shape == (0, 3)
    assert random.multinomial(k, 4, np.ones((2, 3)) / 3).shape == (2, 3)
    assert random.multinomial(k, 4, np.ones(3) / 3, shape=(5, 3)).shape == (5, 3)


def test_errors_name_the_problem():
    k = random.key(0)
    with pytest.raises(FxgradTypeError, match="cauchy: dtype must be a float"):
        random.cauchy(k, (2,), "int32")
    with pytest.raises(FxgradTypeError, match="pareto.*float64.*without losing precision"):
        random.pareto(k, np.ones(2), dtype="float32")
    with pytest.raises(ShapeError, match="wald.*must broadcast to the shape"):
        random.wald(k, np.ones(3), (2,))
    with pytest.raises(FxgradTypeError, match="geometric: dtype must be an integer"):
        random.geometric(k, 0.5, dtype="float32")
    with pytest.raises(FxgradTypeError, match="binomial: dtype must be a float"):
        random.binomial(k, 3, 0.5, dtype="int64")
    with pytest.raises(ShapeError, match="multinomial.*last axis"):
        random.multinomial(k, 3, 0.5)
    with pytest.raises(ShapeError, match="single key"):
        random.triangular(random.split(k, 2), 0.0, 0.5, 1.0)
