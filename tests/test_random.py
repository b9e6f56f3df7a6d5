"""fxgrad.random: Threefry known answers, bit-exactness against JAX, moments, transformations.

* Known-answer vectors of Threefry-2x32-20 from Random123's kat_vectors (the all-zeros,
  all-ones and pi-digits keys), and a few outputs of ``jax.random`` 0.10.2 written down,
  so the bits are checked without JAX installed.
* Against JAX (when importable, with ``jax_enable_x64``): keys, splits and folds, and
  every sampler for 20 seeds and several shapes and dtypes. Samplers built from bits and
  IEEE arithmetic must be bit-identical; those that go through transcendental functions
  (XLA's ``log``/``erf_inv``/``lgamma`` round differently from NumPy's) must agree to a
  few ulps.
* Moments of every distribution against their closed forms, jit and vmap against eager
  evaluation, gradients through sampler parameters, and the error messages.
"""

from __future__ import annotations

import doctest
import math
import warnings
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import fxgrad
import fxgrad.numpy as fnp
from fxgrad import random
from fxgrad.errors import FxgradTypeError, ShapeError
from fxgrad.lax.random_bits import fma, threefry2x32, threefry2x32_p
from fxgrad.test_util import check_grads
from tests.records.random_bits import threefry_reference

SEEDS = [
    0,
    1,
    2,
    3,
    5,
    7,
    11,
    42,
    99,
    123,
    1000,
    4096,
    65535,
    2**31 - 1,
    2**32,
    2**32 + 7,
    2**40 + 5,
    -1,
    -7,
    2**62 + 12345,
]
FLOATS = ["float32", "float64"]


def _u32(x) -> np.ndarray:
    return np.asarray(x, dtype=np.uint32)


# ---------------------------------------------------------------------------------------
# Threefry-2x32 known answers (Random123 kat_vectors, threefry2x32_20)
# ---------------------------------------------------------------------------------------

# (key, counter, expected): Random123's kat_vectors lists "threefry2x32 20 ctr key out"
KAT = [
    ((0x00000000, 0x00000000), (0x00000000, 0x00000000), (0x6B200159, 0x99BA4EFE)),
    ((0xFFFFFFFF, 0xFFFFFFFF), (0xFFFFFFFF, 0xFFFFFFFF), (0x1CB996FC, 0xBB002BE7)),
    ((0x13198A2E, 0x03707344), (0x243F6A88, 0x85A308D3), (0xC4923A9C, 0x483DF7A0)),
]


@pytest.mark.parametrize("key,counter,expected", KAT)
def test_threefry_known_answers(key, counter, expected):
    y1, y2 = threefry2x32(*key, *counter)
    assert (int(y1), int(y2)) == expected
    assert tuple(int(v) for v in threefry_reference(*key, *counter)) == expected


def test_threefry_known_answers_vectorised_and_jitted():
    keys = _u32([k for k, _, _ in KAT])
    counters = _u32([c for _, c, _ in KAT])
    expected = _u32([e for _, _, e in KAT])
    for fn in (threefry2x32, fxgrad.jit(threefry2x32)):
        y1, y2 = fn(keys[:, 0], keys[:, 1], counters[:, 0], counters[:, 1])
        np.testing.assert_array_equal(np.asarray(y1), expected[:, 0])
        np.testing.assert_array_equal(np.asarray(y2), expected[:, 1])


@given(
    st.lists(st.integers(0, 2**32 - 1), min_size=2, max_size=2),
    st.lists(st.tuples(st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1)), max_size=6),
)
def test_threefry_broadcasts_key_words_over_counters(key, counters):
    x1 = _u32([c[0] for c in counters])
    x2 = _u32([c[1] for c in counters])
    y1, y2 = threefry2x32(_u32(key[0]), _u32(key[1]), x1, x2)
    expected = threefry_reference(key[0], key[1], x1, x2)
    assert np.asarray(y1).shape == (len(counters),)
    np.testing.assert_array_equal(np.stack([np.asarray(y1), np.asarray(y2)]), expected)


def test_threefry_batches_keys_against_unbatched_counters():
    keys = _u32([[1, 2], [3, 4], [5, 6]])
    counters = _u32(np.arange(4))

    def f(k):
        return fnp.stack(threefry2x32(k[0], k[1], _u32(0), counters))

    out = np.asarray(fxgrad.vmap(f)(keys))
    for i, k in enumerate(keys):
        np.testing.assert_array_equal(out[i], threefry_reference(k[0], k[1], 0, counters))


def test_threefry_rejects_bad_operands():
    with pytest.raises(FxgradTypeError, match="uint32"):
        threefry2x32(np.int32(1), 2, 3, 4)
    with pytest.raises(ShapeError, match="share one shape"):
        threefry2x32(0, 0, _u32([1, 2]), _u32([1, 2, 3]))


def test_threefry_has_a_zero_derivative():
    from fxgrad.interpreters.jvp import jvp_rules

    assert threefry2x32_p in jvp_rules
    k = random.key(0)

    def f(mu, sigma):
        return fnp.sum(random.normal(k, (4,)) * sigma + mu)

    d_mu, d_sigma = fxgrad.grad(f, argnums=(0, 1))(0.5, 2.0)
    assert float(d_mu) == 4.0
    assert math.isclose(float(d_sigma), float(fnp.sum(random.normal(k, (4,)))), rel_tol=1e-14)


def _is_nearest(value, exact: Fraction, dtype) -> bool:
    below = np.nextafter(value, dtype(-np.inf))
    above = np.nextafter(value, dtype(np.inf))
    error = abs(Fraction(float(value)) - exact)
    return error <= abs(Fraction(float(below)) - exact) and error <= abs(
        Fraction(float(above)) - exact
    )


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@given(st.data())
def test_fma_rounds_once(dtype, data):
    bound = 100.0 if dtype == np.float16 else 1e3  # keep a * b finite in float16
    floats = st.floats(-bound, bound, width=np.finfo(dtype).bits)
    a, b = dtype(data.draw(floats)), dtype(data.draw(floats))
    # c close to -a*b: the cancellation that separates one rounding from two
    c = dtype(-float(a) * float(b) * (1 + data.draw(st.floats(-1e-3, 1e-3))))
    out = np.asarray(fma(a, b, c))
    assert out.dtype == dtype
    exact = Fraction(float(a)) * Fraction(float(b)) + Fraction(float(c))
    assert _is_nearest(out[()], exact, dtype), (a, b, c, out)


def test_fma_known_double_rounding_cases():
    x = np.float32(1 + 2**-12)  # x * x = 1 + 2**-11 + 2**-24: a tie when rounded alone
    assert float(fma(x, x, np.float32(-1))) == 2**-11 + 2**-24
    assert float(x * x - np.float32(1)) == 2**-11
    y = 1 + 2**-30  # float64: y * y - 1 = 2**-29 + 2**-60 exactly
    assert float(fma(np.float64(y), np.float64(y), np.float64(-1))) == 2**-29 + 2**-60


# ---------------------------------------------------------------------------------------
# Known outputs of jax.random 0.10.2 (threefry, partitionable, x64), written down
# ---------------------------------------------------------------------------------------


def test_keys_match_written_down_jax_outputs():
    np.testing.assert_array_equal(np.asarray(random.PRNGKey(42)), [0, 42])
    np.testing.assert_array_equal(np.asarray(random.PRNGKey(-1)), [2**32 - 1, 2**32 - 1])
    np.testing.assert_array_equal(np.asarray(random.PRNGKey(2**40 + 5)), [256, 5])
    np.testing.assert_array_equal(np.asarray(random.PRNGKey(np.int32(-1))), [0, 2**32 - 1])
    np.testing.assert_array_equal(
        np.asarray(random.split(random.PRNGKey(42), 3)),
        [[1832780943, 270669613], [64467757, 2916123636], [2465931498, 255383827]],
    )
    np.testing.assert_array_equal(
        np.asarray(random.fold_in(random.PRNGKey(42), 2**31)), [3181546281, 2228815013]
    )


def test_samplers_match_written_down_jax_outputs():
    k = random.PRNGKey(0)
    np.testing.assert_array_equal(
        np.asarray(random.bits(k, (2,), "uint32")), [4070199207, 4202968722]
    )
    np.testing.assert_array_equal(
        np.asarray(random.bits(k, (3,))),
        np.array([7719171245655871230, 3989946895414531357, 17807037942121513089], np.uint64),
    )
    assert np.asarray(random.uniform(k, (2,), "float32")).tolist() == [
        0.9476670026779175,
        0.9785798788070679,
    ]
    assert np.asarray(random.uniform(k, (3,), "float64", -3.3, 7.1)).tolist() == [
        1.0519539618504186,
        -1.050527272102682,
        6.739343195637573,
    ]
    np.testing.assert_array_equal(np.asarray(random.randint(k, (5,), 0, 10)), [5, 1, 5, 7, 3])
    np.testing.assert_array_equal(np.asarray(random.permutation(k, 5)), [0, 1, 4, 3, 2])
    np.testing.assert_array_equal(
        np.asarray(random.choice(k, 10, (4,), replace=False)), [0, 1, 8, 5]
    )
    np.testing.assert_array_equal(
        np.asarray(random.bernoulli(random.PRNGKey(1), 0.5, (8,))),
        [True, True, False, False, True, False, False, True],
    )
    np.testing.assert_allclose(
        np.asarray(random.normal(k, (3,))),
        [-0.2058421394796434, -0.7847657764467411, 1.8160866726679836],
        rtol=1e-14,
    )


# ---------------------------------------------------------------------------------------
# Against JAX
# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def jax(request):
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    # XLA's compile times dominate these tests: keep compiled programs between runs and
    # between xdist workers, in pytest's own cache directory.
    cache = getattr(request.config, "cache", None)
    if cache is not None:
        jax.config.update("jax_compilation_cache_dir", str(cache.mkdir("jax-compilation")))
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    return jax


def _exact(ours, theirs, what=""):
    ours, theirs = np.asarray(ours), np.asarray(theirs)
    assert ours.shape == theirs.shape, (what, ours.shape, theirs.shape)
    assert ours.dtype == theirs.dtype, (what, ours.dtype, theirs.dtype)
    np.testing.assert_array_equal(ours, theirs, err_msg=what)


def _close(ours, theirs, what="", ulps=512, eps=None):
    """Equal up to rounding: XLA's transcendental functions are not NumPy's (XLA's float64
    ``log1p`` differs from glibc's by up to ~100 ulps, its float32 ``erf_inv`` by more in
    the tails), so "close" means within a few hundred ulps."""
    ours, theirs = np.asarray(ours), np.asarray(theirs)
    assert ours.shape == theirs.shape and ours.dtype == theirs.dtype, what
    eps = np.finfo(ours.dtype).eps if eps is None else eps
    np.testing.assert_allclose(ours, theirs, rtol=ulps * eps, atol=ulps * eps, err_msg=what)


def test_jax_default_is_partitionable_threefry(jax):
    # fxgrad follows JAX's *default* bit generation; this pins which one that is.
    assert jax.config.jax_threefry_partitionable
    assert jax.config.jax_default_prng_impl == "threefry2x32"


@pytest.mark.parametrize("seed", SEEDS)
def test_keys_split_fold_in_bits_match_jax(jax, seed):
    key, jkey = random.PRNGKey(seed), jax.random.PRNGKey(seed)
    _exact(key, jkey, "PRNGKey")
    _exact(random.key_data(random.key(seed)), jax.random.key_data(jax.random.key(seed)))
    _exact(random.split(key), jax.random.split(jkey), "split")
    _exact(random.split(key, (2, 3)), jax.random.split(jkey, (2, 3)), "split shape")
    for data in (0, 5, 2**32 - 1):
        _exact(random.fold_in(key, data), jax.random.fold_in(jkey, data), f"fold_in {data}")
    tree = random.split(random.fold_in(random.split(key, 4)[2], 9), 3)[1]
    jtree = jax.random.split(jax.random.fold_in(jax.random.split(jkey, 4)[2], 9), 3)[1]
    _exact(tree, jtree, "split/fold_in tree")
    for dtype in ("uint8", "uint16", "uint32", "uint64"):
        for shape in ((), (7,), (2, 3)):
            _exact(random.bits(key, shape, dtype), jax.random.bits(jkey, shape, dtype), dtype)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("dtype", FLOATS)
def test_uniform_and_bernoulli_match_jax_bit_for_bit(jax, seed, dtype):
    key, jkey = random.PRNGKey(seed), jax.random.PRNGKey(seed)
    for shape in ((), (5,), (3, 4)):
        _exact(random.uniform(key, shape, dtype), jax.random.uniform(jkey, shape, dtype))
        for lo, hi in ((-3.3, 7.1), (2.0, 5.0), (1e-3, 1e3)):
            _exact(
                random.uniform(key, shape, dtype, lo, hi),
                jax.random.uniform(jkey, shape, dtype, lo, hi),
                f"uniform({lo}, {hi})",
            )
        p = np.asarray(0.3, dtype)
        _exact(random.bernoulli(key, p, shape), jax.random.bernoulli(jkey, p, shape))
        _exact(
            random.bernoulli(key, p, shape, mode="high"),
            jax.random.bernoulli(jkey, p, shape, mode="high"),
        )
    lo = np.linspace(-2, 1, 4).astype(dtype)
    hi = np.array([[3.0], [10.0]], dtype)
    _exact(
        random.uniform(key, (2, 4), dtype, lo, hi), jax.random.uniform(jkey, (2, 4), dtype, lo, hi)
    )


@pytest.mark.parametrize("seed", SEEDS[::4])
def test_float16_uniform_matches_jax_bit_for_bit(jax, seed):
    # XLA rounds float16 after each operation (no FMA): fxgrad follows
    key, jkey = random.PRNGKey(seed), jax.random.PRNGKey(seed)
    for lo, hi in ((0.0, 1.0), (-3.3, 7.1)):
        _exact(
            random.uniform(key, (50,), "float16", lo, hi),
            jax.random.uniform(jkey, (50,), "float16", lo, hi),
        )


@pytest.mark.parametrize("seed", SEEDS)
def test_integer_samplers_match_jax_bit_for_bit(jax, seed):
    key, jkey = random.PRNGKey(seed), jax.random.PRNGKey(seed)
    cases = [(0, 10), (-100, 256), (5, 5), (7, 3), (-(2**31), 2**31 - 1)]
    for dtype in ("int8", "uint8", "int16", "int32", "uint32", "int64"):
        for lo, hi in cases:
            info = np.iinfo(dtype)
            lo, hi = max(lo, int(info.min)), min(hi, int(info.max))
            _exact(
                random.randint(key, (6,), lo, hi, dtype),
                jax.random.randint(jkey, (6,), lo, hi, dtype),
                f"randint {dtype} {lo} {hi}",
            )
    _exact(
        random.randint(key, (3, 4), np.arange(4), 10),
        jax.random.randint(jkey, (3, 4), np.arange(4), 10),
    )
    _exact(random.rademacher(key, (9,)), jax.random.rademacher(jkey, (9,)))
    x = np.arange(24).reshape(2, 3, 4)
    _exact(random.permutation(key, 10), jax.random.permutation(jkey, 10))
    _exact(random.permutation(key, x, 2), jax.random.permutation(jkey, x, 2))
    _exact(random.permutation(key, x, 1, True), jax.random.permutation(jkey, x, 1, True))
    _exact(random.choice(key, 10, (3,)), jax.random.choice(jkey, 10, (3,)))
    _exact(random.choice(key, x, (2,), axis=2), jax.random.choice(jkey, x, (2,), axis=2))
    _exact(
        random.choice(key, x, (2,), False, axis=1), jax.random.choice(jkey, x, (2,), False, axis=1)
    )
    p = np.array([0.1, 0.2, 0.3, 0.4])
    _exact(random.choice(key, 4, (2, 3), p=p), jax.random.choice(jkey, 4, (2, 3), p=p))
    _exact(random.choice(key, 4, (3,), False, p), jax.random.choice(jkey, 4, (3,), False, p))
    lam = np.array([0.0, 0.5, 3.0, 9.5])  # Knuth's method: exact
    _exact(random.poisson(key, lam), jax.random.poisson(jkey, lam))


@pytest.mark.parametrize("seed", SEEDS)
def test_categorical_matches_jax(jax, seed):
    key, jkey = random.PRNGKey(seed), jax.random.PRNGKey(seed)
    logits = np.log(np.array([[0.1, 0.2, 0.7], [0.5, 0.25, 0.25]]))
    _exact(random.categorical(key, logits), jax.random.categorical(jkey, logits))
    _exact(
        random.categorical(key, logits, 0, (5, 3)), jax.random.categorical(jkey, logits, 0, (5, 3))
    )
    _exact(
        random.categorical(key, logits, shape=(2, 2), replace=False),
        jax.random.categorical(jkey, logits, shape=(2, 2), replace=False),
    )


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("dtype", FLOATS)
def test_transcendental_samplers_match_jax_to_a_few_ulps(jax, seed, dtype):
    key, jkey = random.PRNGKey(seed), jax.random.PRNGKey(seed)
    for name in ("normal", "exponential", "laplace", "logistic", "gumbel"):
        ours, theirs = getattr(random, name), getattr(jax.random, name)
        for shape in ((), (6,), (2, 3)):
            _close(ours(key, shape, dtype), theirs(jkey, shape, dtype), f"{name} {shape}")
    _close(random.gumbel(key, (5,), dtype, "high"), jax.random.gumbel(jkey, (5,), dtype, "high"))
    _close(
        random.normal(key, (3,), "complex128" if dtype == "float64" else "complex64"),
        jax.random.normal(jkey, (3,), "complex128" if dtype == "float64" else "complex64"),
    )
    _close(
        random.truncated_normal(key, -1.0, 2.0, (5,), dtype),
        jax.random.truncated_normal(jkey, -1.0, 2.0, (5,), dtype),
    )


@pytest.mark.parametrize("seed", SEEDS[::4])
@pytest.mark.parametrize("dtype", FLOATS)
def test_gamma_family_matches_jax_to_a_few_ulps(jax, seed, dtype):
    key, jkey = random.PRNGKey(seed), jax.random.PRNGKey(seed)
    a = np.array([0.3, 1.0, 2.5, 10.0])
    _close(random.gamma(key, a, dtype=dtype), jax.random.gamma(jkey, a, dtype=dtype))
    _close(random.loggamma(key, a, dtype=dtype), jax.random.loggamma(jkey, a, dtype=dtype))
    _close(
        random.beta(key, 0.5, 2.0, (3,), dtype),
        jax.random.beta(jkey, 0.5, 2.0, (3,), dtype),
    )
    alpha = np.array([0.5, 2.0, 1.0])
    _close(
        random.dirichlet(key, alpha, (2,), dtype),
        jax.random.dirichlet(jkey, alpha, (2,), dtype),
    )
    if dtype == "float64":  # compositions of the above: one dtype keeps XLA's compiles few
        _close(random.ball(key, 3, 2, (2,), dtype), jax.random.ball(jkey, 3, 2, (2,), dtype))
        _close(
            random.generalized_normal(key, 1.5, (3,), dtype),
            jax.random.generalized_normal(jkey, 1.5, (3,), dtype),
        )


@pytest.mark.parametrize("seed", SEEDS[::4])
@pytest.mark.parametrize("dtype", FLOATS)
def test_linear_algebra_samplers_match_jax(jax, seed, dtype):
    key, jkey = random.PRNGKey(seed), jax.random.PRNGKey(seed)
    cov = np.array([[2.0, 0.3, 0.1], [0.3, 1.0, -0.2], [0.1, -0.2, 0.5]])
    mean = np.array([1.0, -1.0, 0.0])
    eps = np.finfo(dtype).eps  # float32 draws, float64 output
    for method in ("cholesky", "eigh", "svd"):
        _close(
            random.multivariate_normal(key, mean, cov, (4,), dtype, method),
            jax.random.multivariate_normal(jkey, mean, cov, (4,), dtype, method),
            method,
            eps=eps,
        )
    for n, m, shape in ((3, None, ()), (4, 2, (2,)), (2, 5, ())):
        _close(
            random.orthogonal(key, n, shape, dtype, m),
            jax.random.orthogonal(jkey, n, shape, dtype, m),
            f"orthogonal {n} {m}",
        )


def test_poisson_rejection_agrees_with_jax_on_most_keys(jax):
    # lam >= 10 runs Hormann's rejection loop until every lane (including placeholder
    # lanes) accepts, so one comparison that XLA's lgamma rounds differently changes the
    # iteration count and with it every lane: equality is typical, not guaranteed.
    lam = np.array([10.0, 12.0, 100.0, 1000.0])
    agree = sum(
        np.array_equal(
            np.asarray(random.poisson(random.PRNGKey(s), lam)),
            np.asarray(jax.random.poisson(jax.random.PRNGKey(s), lam)),
        )
        for s in range(20)
    )
    assert agree >= 16


# ---------------------------------------------------------------------------------------
# Moments
# ---------------------------------------------------------------------------------------

N = 20000


def _moments(x, axis=0):
    x = np.asarray(x, dtype=np.float64)
    return x.mean(axis), x.var(axis)


def _check_moments(x, mean, var, sigmas=5.0):
    m, v = _moments(x)
    n = np.asarray(x).shape[0]
    assert np.all(np.abs(m - mean) <= sigmas * np.sqrt(var / n) + 1e-12), (m, mean)
    # the sample variance's standard error, with a generous allowance for heavy tails
    assert np.all(np.abs(v - var) <= sigmas * var * np.sqrt(8.0 / n) + 1e-12), (v, var)


@pytest.mark.parametrize("dtype", FLOATS)
def test_continuous_moments(dtype):
    k = random.key(7)
    _check_moments(random.uniform(k, (N,), dtype), 0.5, 1 / 12)
    _check_moments(random.uniform(k, (N,), dtype, -2.0, 4.0), 1.0, 3.0)
    _check_moments(random.normal(k, (N,), dtype), 0.0, 1.0)
    _check_moments(random.exponential(k, (N,), dtype), 1.0, 1.0)
    _check_moments(random.laplace(k, (N,), dtype), 0.0, 2.0)
    _check_moments(random.logistic(k, (N,), dtype), 0.0, np.pi**2 / 3)
    _check_moments(random.gumbel(k, (N,), dtype), np.euler_gamma, np.pi**2 / 6)
    a, b = -0.5, 1.5
    pdf_a, pdf_b = (math.exp(-(t**2) / 2) / math.sqrt(2 * math.pi) for t in (a, b))
    mass = (math.erf(b / math.sqrt(2)) - math.erf(a / math.sqrt(2))) / 2
    mean = (pdf_a - pdf_b) / mass
    var = 1 + (a * pdf_a - b * pdf_b) / mass - mean**2
    x = random.truncated_normal(k, a, b, (N,), dtype)
    assert float(fnp.min(x)) > a and float(fnp.max(x)) < b
    _check_moments(x, mean, var)


def test_gamma_family_moments():
    k = random.key(3)
    for a in (0.3, 1.0, 4.0):
        _check_moments(random.gamma(k, a, (N,)), a, a)
    _check_moments(random.beta(k, 2.0, 3.0, (N,)), 0.4, 2 * 3 / (25 * 6))
    alpha = np.array([1.0, 2.0, 3.0])
    x = np.asarray(random.dirichlet(k, alpha, (N,)))
    np.testing.assert_allclose(x.sum(-1), 1.0, rtol=1e-12)
    mean = alpha / alpha.sum()
    _check_moments(x, mean, mean * (1 - mean) / (alpha.sum() + 1))
    x = random.generalized_normal(k, 1.0, (N,))  # Laplace(0, 1)
    _check_moments(x, 0.0, 2.0)
    points = np.asarray(random.ball(k, 3, 2, (N,)))
    assert np.all(np.linalg.norm(points, axis=-1) <= 1.0)
    # the radius of a uniform point in the unit 3-ball has mean 3/4
    assert abs(np.linalg.norm(points, axis=-1).mean() - 0.75) < 0.01


def test_discrete_moments():
    k = random.key(11)
    _check_moments(random.bernoulli(k, 0.3, (N,)), 0.3, 0.21)
    _check_moments(random.bernoulli(k, 0.3, (N,), mode="high"), 0.3, 0.21)
    _check_moments(random.randint(k, (N,), -3, 7), 1.5, (10**2 - 1) / 12)
    _check_moments(random.rademacher(k, (N,)), 0.0, 1.0)
    for lam in (0.7, 4.0, 25.0, 300.0):
        _check_moments(random.poisson(k, lam, (N,)), lam, lam)
    counts = np.bincount(np.asarray(random.categorical(k, np.log([0.2, 0.3, 0.5]), shape=(N,))))
    np.testing.assert_allclose(counts / N, [0.2, 0.3, 0.5], atol=0.015)
    counts = np.bincount(np.asarray(random.choice(k, 3, (N,), p=np.array([0.6, 0.1, 0.3]))))
    np.testing.assert_allclose(counts / N, [0.6, 0.1, 0.3], atol=0.015)


def test_multivariate_normal_moments():
    cov = np.array([[2.0, 0.6, 0.0], [0.6, 1.0, -0.3], [0.0, -0.3, 0.5]])
    mean = np.array([1.0, -2.0, 0.5])
    x = np.asarray(random.multivariate_normal(random.key(5), mean, cov, (N,)))
    np.testing.assert_allclose(x.mean(0), mean, atol=0.05)
    np.testing.assert_allclose(np.cov(x.T), cov, atol=0.06)


def test_orthogonal_is_orthogonal():
    x = np.asarray(random.orthogonal(random.key(4), 5, (3,)))
    np.testing.assert_allclose(
        x @ np.swapaxes(x, -1, -2), np.broadcast_to(np.eye(5), (3, 5, 5)), atol=1e-12
    )
    wide = np.asarray(random.orthogonal(random.key(4), 2, (), "float64", 6))
    np.testing.assert_allclose(wide @ wide.T, np.eye(2), atol=1e-12)
    # Haar measure: E[x_00] = 0 and E[x_00**2] = 1/n
    firsts = np.asarray(
        fxgrad.vmap(lambda k: random.orthogonal(k, 3)[0, 0])(random.split(random.key(9), 4000))
    )
    assert abs(firsts.mean()) < 0.03 and abs((firsts**2).mean() - 1 / 3) < 0.02


def test_permutations_are_permutations_and_uniform():
    k = random.key(1)
    x = np.arange(30).reshape(5, 6)
    p = np.asarray(random.permutation(k, x, 1))
    np.testing.assert_array_equal(np.sort(p, 1), x)
    np.testing.assert_array_equal(p - p[:1], x - x[:1])  # every row in the same column order
    q = np.asarray(random.permutation(k, x, 1, independent=True))
    np.testing.assert_array_equal(np.sort(q, 1), x)
    firsts = np.asarray(fxgrad.vmap(lambda kk: random.permutation(kk, 4))(random.split(k, 4000)))
    np.testing.assert_allclose(np.bincount(firsts[:, 0]) / 4000, 0.25, atol=0.03)
    c = np.asarray(random.choice(k, 10, (10,), replace=False))
    np.testing.assert_array_equal(np.sort(c), np.arange(10))


# ---------------------------------------------------------------------------------------
# jit and vmap
# ---------------------------------------------------------------------------------------

K = random.key(2)

BIT_EXACT = {
    "split": lambda k: random.split(k, 3),
    "fold_in": lambda k: random.fold_in(k, 17),
    "bits": lambda k: random.bits(k, (4,)),
    "uniform": lambda k: random.uniform(k, (5,), "float32", -3.3, 7.1),
    "bernoulli": lambda k: random.bernoulli(k, 0.4, (5,)),
    "randint": lambda k: random.randint(k, (4,), -5, 100),
    "permutation": lambda k: random.permutation(k, 7),
    "choice": lambda k: random.choice(k, 5, (3,), p=np.ones(5) / 5),
    "categorical": lambda k: random.categorical(k, fnp.zeros((2, 4))),
    "poisson": lambda k: random.poisson(k, fnp.array([2.0, 30.0])),
    "rademacher": lambda k: random.rademacher(k, (3,)),
}
APPROXIMATE = {
    "normal": lambda k: random.normal(k, (3,)),
    "truncated_normal": lambda k: random.truncated_normal(k, -1.0, 1.0, (3,)),
    "exponential": lambda k: random.exponential(k, (3,)),
    "gumbel": lambda k: random.gumbel(k, (3,)),
    "laplace": lambda k: random.laplace(k, (3,)),
    "logistic": lambda k: random.logistic(k, (3,)),
    "gamma": lambda k: random.gamma(k, fnp.array([0.5, 2.0])),
    "beta": lambda k: random.beta(k, 0.5, 0.5, (3,)),
    "dirichlet": lambda k: random.dirichlet(k, fnp.ones(3)),
    "multivariate_normal": lambda k: random.multivariate_normal(k, np.zeros(2), np.eye(2), (3,)),
    "ball": lambda k: random.ball(k, 2, 2.0, (2,)),
    "orthogonal": lambda k: random.orthogonal(k, 3),
    "multivariate_normal_eigh": lambda k: random.multivariate_normal(
        k, np.zeros(2), np.array([[2.0, 0.5], [0.5, 1.0]]), (3,), method="eigh"
    ),
}


def _compare(exact, a, b, what):
    a, b = np.asarray(a), np.asarray(b)
    if exact:
        np.testing.assert_array_equal(a, b, err_msg=what)
    else:  # the compiled transcendental kernels may round differently from NumPy
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12, err_msg=what)


@pytest.mark.parametrize("name", [*BIT_EXACT, *APPROXIMATE])
def test_jit_and_vmap_match_eager(name):
    exact = name in BIT_EXACT
    fn = BIT_EXACT.get(name) or APPROXIMATE[name]
    keys = random.split(K, 3)
    loop = np.stack([np.asarray(fn(k)) for k in keys])
    _compare(exact, fxgrad.jit(fn)(K), fn(K), f"jit {name}")
    _compare(exact, fxgrad.vmap(fn)(keys), loop, f"vmap {name}")
    _compare(exact, fxgrad.jit(fxgrad.vmap(fn))(keys), loop, f"jit(vmap) {name}")


def test_kernel_cache_key_names_the_backend_as_imported(monkeypatch):
    # The compiled samplers' worker crashes: a process keyed the kernels it compiled with
    # a hash of the backend files read at its first compilation, so after an edit of those
    # files an old backend's objects were cached under the new backend's key (on disk,
    # shared by every process), and a process running the new backend called them.
    import pathlib

    from fxgrad.lowering import llvm

    before = llvm.target_id()
    monkeypatch.delitem(llvm._state, "target_id")
    original = pathlib.Path.read_bytes

    def edited(path):
        data = original(path)
        return data + b"# edited" if path.parent.name == "lowering" else data

    monkeypatch.setattr(pathlib.Path, "read_bytes", edited)
    assert llvm.target_id() == before


def test_vmap_over_split_keys_matches_jax_loop():
    keys = random.split(random.key(0), 4)
    out = fxgrad.vmap(lambda k: random.normal(k, (3,)))(keys)
    assert out.shape == (4, 3)
    for i in range(4):
        np.testing.assert_array_equal(np.asarray(out[i]), np.asarray(random.normal(keys[i], (3,))))


def test_vmap_over_seeds_and_fold_in_data():
    seeds = fnp.arange(4)
    keys = fxgrad.vmap(random.key)(seeds)
    for i in range(4):
        np.testing.assert_array_equal(np.asarray(keys[i]), np.asarray(random.key(i)))
    folded = fxgrad.vmap(lambda d: random.fold_in(K, d))(fnp.arange(3, dtype="uint32"))
    for i in range(3):
        np.testing.assert_array_equal(np.asarray(folded[i]), np.asarray(random.fold_in(K, i)))
    jitted = fxgrad.jit(random.PRNGKey)(np.int64(-1))
    np.testing.assert_array_equal(np.asarray(jitted), [2**32 - 1, 2**32 - 1])


def test_vmap_over_parameters_and_keys_together():
    keys = random.split(K, 3)
    lows = fnp.array([-1.0, 0.0, 1.0])
    out = fxgrad.vmap(lambda k, lo: random.uniform(k, (2,), minval=lo, maxval=lo + 1))(keys, lows)
    for i in range(3):
        expected = random.uniform(keys[i], (2,), minval=lows[i], maxval=lows[i] + 1)
        np.testing.assert_array_equal(np.asarray(out[i]), np.asarray(expected))


# ---------------------------------------------------------------------------------------
# Gradients through parameters
# ---------------------------------------------------------------------------------------


def test_grad_through_location_and_scale():
    z = np.asarray(random.normal(K, (5,)))

    def loss(mu, sigma):
        return fnp.sum((random.normal(K, (5,)) * sigma + mu) ** 2)

    d_mu, d_sigma = fxgrad.grad(loss, argnums=(0, 1))(0.3, 1.7)
    np.testing.assert_allclose(float(d_mu), np.sum(2 * (z * 1.7 + 0.3)), rtol=1e-12)
    np.testing.assert_allclose(float(d_sigma), np.sum(2 * (z * 1.7 + 0.3) * z), rtol=1e-12)
    jitted = fxgrad.jit(fxgrad.grad(loss, argnums=(0, 1)))(0.3, 1.7)
    np.testing.assert_allclose([float(v) for v in jitted], [float(d_mu), float(d_sigma)])


def test_grads_of_uniform_truncated_normal_and_mvn_match_finite_differences():
    check_grads(lambda lo, hi: random.uniform(K, (4,), minval=lo, maxval=hi), (-1.0, 2.0), order=2)
    check_grads(lambda lo, hi: random.truncated_normal(K, lo, hi, (4,)), (-1.0, 1.5), order=1)
    cov = np.array([[2.0, 0.3], [0.3, 1.0]])
    check_grads(
        lambda m, c: random.multivariate_normal(K, m, c, (3,)),
        (np.ones(2), cov),
        order=1,
        atol=1e-6,
        rtol=1e-6,
    )


def test_grads_match_jax(jax):
    jk = jax.random.PRNGKey(0)
    k = random.PRNGKey(0)
    jnp = jax.numpy
    cov = np.array([[2.0, 0.3], [0.3, 1.0]])
    ours = fxgrad.grad(
        lambda m, c: fnp.sum(random.multivariate_normal(k, m, c, (5,)) ** 2), argnums=(0, 1)
    )(np.ones(2), cov)
    theirs = jax.grad(
        lambda m, c: jnp.sum(jax.random.multivariate_normal(jk, m, c, (5,)) ** 2), argnums=(0, 1)
    )(np.ones(2), cov)
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-10)
    ours = fxgrad.grad(
        lambda lo, hi: fnp.sum(random.truncated_normal(k, lo, hi, (4,))), argnums=(0, 1)
    )(-1.0, 1.5)
    theirs = jax.grad(
        lambda lo, hi: jnp.sum(jax.random.truncated_normal(jk, lo, hi, (4,))), argnums=(0, 1)
    )(-1.0, 1.5)
    np.testing.assert_allclose([float(v) for v in ours], [float(v) for v in theirs], rtol=1e-10)


def test_gamma_sample_grad_matches_the_cdf():
    # dx/da at a fixed CDF: -(dP/da) / p(x), with dP/da by central differences of scipy's P
    special = pytest.importorskip("scipy.special")
    stats = pytest.importorskip("scipy.stats")
    from fxgrad.lax.random_bits import gamma_sample_grad

    a = np.array([0.1, 0.5, 1.0, 2.5, 10.0, 100.0, 1000.0, 3.0, 3.0])
    x = np.array([0.05, 0.3, 1.2, 2.0, 14.0, 80.0, 1100.0, 0.01, 15.0])
    h = 1e-6
    d_cdf = (special.gammainc(a + h, x) - special.gammainc(a - h, x)) / (2 * h)
    expected = -d_cdf / stats.gamma.pdf(x, a)
    np.testing.assert_allclose(np.asarray(gamma_sample_grad(a, x)), expected, rtol=2e-6)
    out32 = gamma_sample_grad(a.astype(np.float32), x.astype(np.float32))
    assert out32.dtype == np.float32
    np.testing.assert_allclose(np.asarray(out32), expected, rtol=1e-5)


def test_gamma_family_gradients():
    def moved(a):
        return fnp.sum(random.gamma(K, a, (3,)))

    # the mean of Gamma(a) is a: averaged over many keys, d sample / da is about 1
    keys = random.split(K, 2000)
    grads = fxgrad.vmap(fxgrad.grad(lambda a, k: random.gamma(k, a)), in_axes=(None, 0))(2.0, keys)
    assert abs(float(fnp.mean(grads)) - 1.0) < 0.05
    np.testing.assert_allclose(
        float(fxgrad.jit(fxgrad.grad(moved))(2.0)), float(fxgrad.grad(moved)(2.0))
    )
    # jvp and grad agree; loggamma's derivative is the gamma one divided by the sample
    _, tangent = fxgrad.jvp(lambda a: random.gamma(K, a, (3,)), (2.0,), (1.0,))
    np.testing.assert_allclose(
        np.asarray(tangent), np.asarray(fxgrad.jacrev(lambda a: random.gamma(K, a, (3,)))(2.0))
    )
    _, log_tangent = fxgrad.jvp(lambda a: random.loggamma(K, a, (3,)), (2.0,), (1.0,))
    np.testing.assert_allclose(
        np.asarray(log_tangent), np.asarray(tangent / random.gamma(K, 2.0, (3,))), rtol=1e-10
    )
    # a constant shape parameter is fine
    out = fxgrad.grad(lambda s: fnp.sum(random.gamma(K, 2.0, (3,)) * s))(1.0)
    np.testing.assert_allclose(float(out), float(fnp.sum(random.gamma(K, 2.0, (3,)))))


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("dtype,rtol", [("float32", 1e-5), ("float64", 1e-12)])
def test_gamma_family_gradients_match_jax(jax, seed, dtype, rtol):
    jnp = jax.numpy
    k, jk = random.PRNGKey(seed), jax.random.PRNGKey(seed)
    weights = np.arange(1.0, 5.0, dtype=dtype)
    a = np.array([0.3, 1.0, 2.5, 10.0], dtype=dtype)
    ours = fxgrad.grad(lambda a: fnp.sum(random.gamma(k, a, dtype=dtype) * weights))(a)
    theirs = jax.grad(lambda a: jnp.sum(jax.random.gamma(jk, a, dtype=dtype) * weights))(a)
    np.testing.assert_allclose(np.asarray(ours), np.asarray(theirs), rtol=rtol)
    ours = fxgrad.grad(lambda a, b: fnp.sum(random.beta(k, a, b, (3,))), argnums=(0, 1))
    theirs = jax.grad(lambda a, b: jnp.sum(jax.random.beta(jk, a, b, (3,))), argnums=(0, 1))
    np.testing.assert_allclose(
        [float(v) for v in ours(2.0, 3.0)], [float(v) for v in theirs(2.0, 3.0)], rtol=1e-12
    )
    alpha = np.array([0.5, 1.0, 2.0])
    ours = fxgrad.grad(lambda al: fnp.sum(random.dirichlet(k, al) ** 2))(alpha)
    theirs = jax.grad(lambda al: jnp.sum(jax.random.dirichlet(jk, al) ** 2))(alpha)
    np.testing.assert_allclose(np.asarray(ours), np.asarray(theirs), rtol=1e-12)


# ---------------------------------------------------------------------------------------
# Keys, arguments and errors
# ---------------------------------------------------------------------------------------


def test_key_representation():
    k = random.key(5)
    assert k.dtype == np.uint32 and k.shape == (2,)
    np.testing.assert_array_equal(np.asarray(random.key_data(k)), np.asarray(k))
    np.testing.assert_array_equal(
        np.asarray(random.wrap_key_data(random.split(k, 3))), np.asarray(random.split(k, 3))
    )
    assert random.key_impl(k) == "threefry2x32"
    np.testing.assert_array_equal(np.asarray(random.clone(k)), np.asarray(k))
    np.testing.assert_array_equal(
        np.asarray(random.uniform(np.asarray(k))), np.asarray(random.uniform(k))
    )


def test_default_dtypes_follow_numpy():
    k = random.key(0)
    assert random.uniform(k).dtype == np.float64
    assert random.normal(k, (2,)).dtype == np.float64
    assert random.randint(k, (2,), 0, 3).dtype == np.int64
    assert random.poisson(k, 3.0).dtype == np.int64
    assert random.bits(k).dtype == np.uint64
    assert random.bernoulli(k).dtype == np.bool_
    assert random.uniform(k, (), np.float32).dtype == np.float32


def test_zero_size_shapes():
    k = random.key(0)
    assert random.uniform(k, (0, 3)).shape == (0, 3)
    assert random.normal(k, (2, 0)).shape == (2, 0)
    assert random.randint(k, (0,), 0, 5).shape == (0,)
    assert random.gamma(k, 1.0, (0,)).shape == (0,)
    assert random.split(k, 0).shape == (0, 2)
    assert random.choice(k, 5, (0,)).shape == (0,)


def test_shuffle_is_deprecated():
    x = np.arange(6)
    with pytest.warns(DeprecationWarning, match="permutation"):
        out = random.shuffle(random.key(0), x)
    np.testing.assert_array_equal(np.asarray(out), np.asarray(random.permutation(random.key(0), x)))


def test_errors_name_the_problem():
    k = random.key(0)
    with pytest.raises(FxgradTypeError, match="uint32 array of shape"):
        random.normal(np.array([1, 2], dtype=np.int32))
    with pytest.raises(FxgradTypeError, match="PRNG key"):
        random.normal(np.zeros(3, np.uint32))
    with pytest.raises(ShapeError, match="single key.*vmap"):
        random.normal(random.split(k, 3))
    with pytest.raises(FxgradTypeError, match="float dtype"):
        random.uniform(k, (2,), "int32")
    with pytest.raises(ShapeError, match="broadcast to the shape"):
        random.uniform(k, (2,), minval=np.zeros(3))
    with pytest.raises(FxgradTypeError, match="integer"):
        random.key(1.5)
    with pytest.raises(ShapeError, match="scalar seed"):
        random.key(np.arange(2))
    with pytest.raises(OverflowError):
        random.key(2**64)
    with pytest.raises(ShapeError, match="scalar"):
        random.fold_in(k, np.arange(3))
    with pytest.raises(ValueError, match="population"):
        random.choice(k, 3, (5,), replace=False)
    with pytest.raises(ValueError, match="only the 'threefry2x32'"):
        random.key(0, impl="rbg")
    with pytest.raises(ValueError, match="method"):
        random.multivariate_normal(k, np.zeros(2), np.eye(2), method="lu")
    with pytest.raises(NotImplementedError, match="highest"):
        random.gumbel(k, (2,), mode="highest")


def test_docstring_examples_run():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        failures, _ = doctest.testmod(random, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert failures == 0
    from fxgrad import _random_binomial, _random_continuous, _random_discrete, _random_gamma
    from fxgrad.lax import random_bits

    for module in (
        random_bits,
        _random_binomial,
        _random_continuous,
        _random_discrete,
        _random_gamma,
    ):
        assert doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE).failed == 0
