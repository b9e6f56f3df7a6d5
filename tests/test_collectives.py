"""Collectives over named vmap axes (``fxgrad.lax.parallel``) against NumPy."""

from __future__ import annotations

import numpy as np
import pytest

import fxgrad
import fxgrad.numpy as fnp
from fxgrad import lax
from fxgrad.test_util import check_grads

RNG = np.random.default_rng(0)


@pytest.mark.parametrize(
    "collective, reference",
    [
        (lax.psum, lambda x: np.broadcast_to(x.sum(0), x.shape)),
        (lax.pmean, lambda x: np.broadcast_to(x.mean(0), x.shape)),
        (lax.pmax, lambda x: np.broadcast_to(x.max(0), x.shape)),
        (lax.pmin, lambda x: np.broadcast_to(x.min(0), x.shape)),
    ],
)
@pytest.mark.parametrize("in_axes", [0, 1])
def test_collectives_reduce_over_the_named_axis(collective, reference, in_axes):
    x = RNG.standard_normal((4, 3))
    out = fxgrad.vmap(lambda v: collective(v, "i"), in_axes=in_axes, axis_name="i")(x)
    want = reference(np.moveaxis(x, in_axes, 0))
    np.testing.assert_allclose(out, want, rtol=1e-13)
    jitted = fxgrad.jit(fxgrad.vmap(lambda v: collective(v, "i"), in_axes=in_axes, axis_name="i"))
    np.testing.assert_allclose(jitted(x), want, rtol=1e-13)


def test_unbatched_values_pytrees_and_axis_index():
    x = np.arange(3.0)
    out = fxgrad.vmap(lambda v: (lax.psum(2.0, "i"), lax.pmean({"a": v}, "i")), axis_name="i")(x)
    np.testing.assert_array_equal(out[0], [6.0, 6.0, 6.0])
    np.testing.assert_array_equal(out[1]["a"], [1.0, 1.0, 1.0])
    index = fxgrad.vmap(lambda v: lax.axis_index("i") + 0 * v, axis_name="i")(np.zeros(4))
    np.testing.assert_array_equal(index, [0, 1, 2, 3])


def test_nested_named_axes():
    m = RNG.standard_normal((2, 3))

    def f(v):
        return lax.psum(v, "j") + 10 * lax.psum(v, "i") + 100 * lax.psum(v, ("i", "j"))

    out = fxgrad.vmap(fxgrad.vmap(f, axis_name="j"), axis_name="i")(m)
    want = m.sum(1, keepdims=True) + 10 * m.sum(0, keepdims=True) + 100 * m.sum()
    np.testing.assert_allclose(out, want, rtol=1e-13)


def test_derivatives_through_psum_and_pmean():
    x = RNG.uniform(1, 2, 5)

    def normalised(x):
        return fnp.sum(
            fxgrad.vmap(lambda v: (v - lax.pmean(v, "i")) / lax.psum(v, "i"), axis_name="i")(x) ** 2
        )

    check_grads(normalised, (x,), order=2)
    # grad inside vmap: psum transposes to psum, so this is the gradient of the total
    per_example = fxgrad.vmap(
        fxgrad.grad(lambda v: ((v - lax.pmean(v, "i")) / lax.psum(v, "i")) ** 2), axis_name="i"
    )(x)
    np.testing.assert_allclose(per_example, fxgrad.grad(normalised)(x), rtol=1e-12)


def test_an_unbound_axis_name_is_a_name_error():
    with pytest.raises(NameError, match="unbound axis name 'k'"):
        lax.psum(1.0, "k")
    with pytest.raises(NameError, match="names bound here: \\['i'\\]"):
        fxgrad.vmap(lambda v: lax.psum(v, "k"), axis_name="i")(np.ones(2))


def test_collectives_inside_jit_and_control_flow_inside_vmap():
    x = np.array([1.0, 3.0, 4.0])
    total = x.sum()
    jitted = fxgrad.vmap(fxgrad.jit(lambda v: v / lax.psum(v, "i")), axis_name="i")(x)
    np.testing.assert_allclose(jitted, x / total)

    def scanned(v):
        return lax.scan(lambda c, _: (c + lax.psum(v, "i"), None), 0.0, None, length=2)[0]

    np.testing.assert_allclose(fxgrad.vmap(scanned, axis_name="i")(x), [2 * total] * 3)

    def branched(v):
        return lax.cond(v > 2, lambda v: lax.psum(v, "i"), lambda v: v, v)

    np.testing.assert_allclose(fxgrad.vmap(branched, axis_name="i")(x), [1.0, total, total])
