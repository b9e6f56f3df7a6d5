"""``lax.reduce_window`` (sum / max / min pooling): values against a loop, derivatives.

The loop reference (tests/records/fft_conv.py) visits every window position and skips
padding and dilation holes; ``init_value`` is combined once per window, as in JAX.
Max/min derivatives route each output's tangent to the first maximal element of its
window (JAX's choice at ties); they are checked against finite differences on inputs
without ties and against hand-computed values with ties.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fxgrad
import fxgrad.numpy as fnp
from fxgrad import lax
from fxgrad.errors import FxgradTypeError, ShapeError
from fxgrad.lax.windowed import select_and_gather_add_p, select_and_scatter_add_p
from fxgrad.test_util import check_grads
from tests.records.fft_conv import reduce_window_reference

COMPUTATIONS = {"sum": (lax.add, 0.0), "max": (lax.max, -np.inf), "min": (lax.min, np.inf)}


@st.composite
def window_cases(draw):
    ndim = draw(st.integers(1, 3))
    shape = [draw(st.integers(1, 5)) for _ in range(ndim)]
    window = [draw(st.integers(1, 3)) for _ in range(ndim)]
    strides = [draw(st.integers(1, 3)) for _ in range(ndim)]
    base = [draw(st.integers(1, 2)) for _ in range(ndim)]
    wdil = [draw(st.integers(1, 2)) for _ in range(ndim)]
    padding = draw(
        st.one_of(
            st.sampled_from(["VALID", "SAME", "SAME_LOWER"]),
            st.just([(draw(st.integers(-1, 2)), draw(st.integers(0, 2))) for _ in range(ndim)]),
        )
    )
    if not isinstance(padding, str):
        for i in range(ndim):  # no axis cropped away entirely
            if (shape[i] - 1) * base[i] + 1 + sum(padding[i]) < 1:
                padding[i] = (0, padding[i][1])
    return shape, window, strides, padding, base, wdil


def _distinct(shape, seed=0):
    rng = np.random.RandomState(seed)
    n = int(np.prod(shape))
    return (rng.permutation(n) * 0.5 + rng.rand(n) * 0.1).reshape(shape) - n * 0.25


@given(case=window_cases(), kind=st.sampled_from(sorted(COMPUTATIONS)), init_kind=st.booleans())
def test_values_match_loop(case, kind, init_kind):
    shape, window, strides, padding, base, wdil = case
    computation, identity = COMPUTATIONS[kind]
    init = identity if init_kind else 0.75
    x = _distinct(shape)
    out = lax.reduce_window(x, init, computation, window, strides, padding, base, wdil)
    expected = reduce_window_reference(x, init, kind, window, strides, padding, base, wdil)
    assert out.shape == expected.shape
    np.testing.assert_allclose(out, expected, atol=1e-12)


@settings(max_examples=10)
@given(case=window_cases(), kind=st.sampled_from(sorted(COMPUTATIONS)))
def test_grads_match_finite_differences(case, kind):
    shape, window, strides, padding, base, wdil = case
    computation, identity = COMPUTATIONS[kind]
    x = _distinct(shape, seed=1)
    # windows holding only padding give +-inf; keep the finite ones
    expected = reduce_window_reference(x, identity, kind, window, strides, padding, base, wdil)
    finite = np.isfinite(expected)

    def fn(a):
        out = lax.reduce_window(a, identity, computation, window, strides, padding, base, wdil)
        return fnp.where(finite, out, 0.0)

    check_grads(fn, (x,), order=2)


def test_max_pool_gradient_goes_to_the_first_maximum():
    x = np.array([1.0, 3.0, 3.0, 2.0])
    grad = fxgrad.grad(
        lambda a: fnp.sum(lax.reduce_window(a, -np.inf, lax.max, (2,), (1,), "VALID"))
    )(x)
    np.testing.assert_array_equal(grad, [0.0, 2.0, 1.0, 0.0])  # the values JAX gives
    grad = fxgrad.grad(
        lambda a: fnp.sum(lax.reduce_window(a, np.inf, lax.min, (3,), (1,), "VALID"))
    )(np.array([2.0, 1.0, 1.0, 5.0]))
    np.testing.assert_array_equal(grad, [0.0, 2.0, 0.0, 0.0])


def test_avg_pool_2d():
    x = np.random.RandomState(2).randn(2, 6, 6, 3)  # NHWC
    out = lax.reduce_window(x, 0.0, lax.add, (1, 2, 2, 1), (1, 2, 2, 1), "VALID") / 4.0
    expected = x.reshape(2, 3, 2, 3, 2, 3).mean(axis=(2, 4))
    np.testing.assert_allclose(out, expected, atol=1e-12)
    check_grads(
        lambda a: lax.reduce_window(a, 0.0, lax.add, (1, 2, 2, 1), (1, 2, 2, 1), "VALID"),
        (x,),
        order=2,
    )


def test_init_value_and_dtypes():
    x = np.arange(5, dtype=np.int32)
    out = lax.reduce_window(x, 0, lax.add, (2,), (1,), "VALID")
    assert out.dtype == np.int32
    np.testing.assert_array_equal(out, [1, 3, 5, 7])
    out = lax.reduce_window(x, np.iinfo(np.int32).min, lax.max, (2,), (2,), "SAME")
    np.testing.assert_array_equal(out, [1, 3, 4])
    x32 = np.arange(5.0, dtype=np.float32)
    out = lax.reduce_window(x32, 10.0, lax.add, (2,), (1,), [(1, 1)])
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, [10, 11, 13, 15, 17, 14])  # JAX's values
    out = lax.reduce_window(x32, 2.5, lax.max, (2,), (2,), "VALID")  # init acts as a floor
    np.testing.assert_array_equal(out, [2.5, 3.0])


def test_traced_init_value_is_differentiable():
    x = np.array([1.0, 4.0, 2.0, 0.5])

    def fn(init):
        return fnp.sum(lax.reduce_window(x, init, lax.max, (2,), (2,), "VALID"))

    # windows (1, 4) and (2, 0.5): max(4, init) + max(2, init) at init = 3
    np.testing.assert_allclose(fxgrad.grad(fn)(3.0), 1.0)
    np.testing.assert_allclose(fxgrad.jit(fn)(3.0), 4.0 + 3.0)


def test_select_and_scatter_is_the_transpose_of_select_and_gather():
    rng = np.random.RandomState(3)
    x = _distinct((5, 6))
    params = dict(
        select_prim="max",
        window_dimensions=(2, 3),
        window_strides=(2, 1),
        padding=((1, 0), (0, 1)),
        base_dilation=(1, 2),
        window_dilation=(2, 1),
    )
    t = rng.randn(5, 6)
    gathered = select_and_gather_add_p.bind(t, x, **params)
    source = rng.randn(*gathered.shape)
    scattered = select_and_scatter_add_p.bind(source, x, **params)
    assert scattered.shape == x.shape
    np.testing.assert_allclose(np.sum(np.asarray(gathered) * source), np.sum(scattered * t))


@pytest.mark.parametrize("kind", sorted(COMPUTATIONS))
@pytest.mark.parametrize("in_axis", [0, 1, 2])
def test_vmap_and_jit(kind, in_axis):
    computation, identity = COMPUTATIONS[kind]
    x = np.moveaxis(_distinct((3, 4, 5)), 0, in_axis)

    def fn(a):
        out = lax.reduce_window(a, identity, computation, (2, 2), (1, 2), "SAME")
        return fnp.sum(out**2)

    grads = fxgrad.jit(fxgrad.vmap(fxgrad.grad(fn), in_axes=in_axis))(x)
    expected = np.stack([np.asarray(fxgrad.grad(fn)(np.take(x, i, in_axis))) for i in range(3)])
    np.testing.assert_allclose(grads, expected, atol=1e-12)


def test_errors():
    x = np.ones((4, 4))
    with pytest.raises(NotImplementedError, match="lax.add.*lax.max"):
        lax.reduce_window(x, 1.0, lax.mul, (2, 2), (1, 1))
    with pytest.raises(ShapeError, match="window_dimensions needs one entry per operand axis"):
        lax.reduce_window(x, 0.0, lax.add, (2,), (1, 1))
    with pytest.raises(ShapeError, match="window_dimensions must be positive"):
        lax.reduce_window(x, 0.0, lax.add, (0, 2), (1, 1))
    with pytest.raises(FxgradTypeError, match="init_value must be a scalar of the operand's"):
        lax.reduce_window(x, np.float32(1.0), lax.add, (2, 2), (1, 1))
    with pytest.raises(ValueError, match="unrecognized padding type"):
        lax.reduce_window(x, 0.0, lax.add, (2, 2), (1, 1), "FULL")
