"""Eager reverse mode (``fxgrad/interpreters/reverse.py``) against linearize + transpose.

Eagerly, ``vjp``/``grad`` record a tape of pullbacks instead of linearizing. Both
routes must give the same cotangents: every operation record is differentiated both
ways at the same point and cotangent, and the semantics that the general route carries
(the ``where`` rule, integer outputs, custom derivatives, control flow, ``jit`` inside
``grad``, transformations of the returned ``f_vjp``) are checked on the tape.
"""

from __future__ import annotations

import zlib

import numpy as np
import pytest

import fxgrad
import fxgrad.numpy as fnp
from fxgrad import lax
from fxgrad.config import config
from fxgrad.interpreters import reverse
from tests.op_records import all_records

RECORDS = [r for r in all_records() if r.grad_order and "rev" in r.grad_modes]


def _vjp_both_ways(fun, args, seed):
    """``(tape cotangents, linearize + transpose cotangents)`` at a random cotangent."""
    out, f_vjp = fxgrad.vjp(fun, *args)
    rng = np.random.RandomState(seed)
    leaves, tree = fxgrad.tree_util.tree_flatten(out)
    cts = []
    for leaf in leaves:
        leaf = np.asarray(leaf)
        ct = np.asarray(rng.randn(*leaf.shape))
        if leaf.dtype.kind == "c":
            ct = ct + 1j * np.asarray(rng.randn(*leaf.shape))
        if leaf.dtype.kind not in "fc":
            ct = np.zeros(leaf.shape, fxgrad.dtypes.float0)
        cts.append(ct.astype(leaf.dtype) if leaf.dtype.kind in "fc" else ct)
    ct_tree = fxgrad.tree_util.tree_unflatten(tree, cts)
    by_tape = f_vjp(ct_tree)
    # The second and third pulls of the same signature run the traced NumPy pullbacks.
    for _ in range(2):
        again = f_vjp(ct_tree)
        leaves = fxgrad.tree_util.tree_leaves
        for a, b in zip(leaves(again), leaves(by_tape), strict=True):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
            assert np.asarray(a).dtype == np.asarray(b).dtype
    with config.override(eager_vjp_tape=False):
        out2, f_vjp2 = fxgrad.vjp(fun, *args)
        by_transpose = f_vjp2(ct_tree)
    return by_tape, by_transpose


@pytest.mark.parametrize("record", [pytest.param(r, id=r.name) for r in RECORDS])
def test_tape_matches_linearize_transpose(record):
    dtype = np.float64
    if any(np.dtype(d).kind == "c" for d in record.dtypes) and np.float64 not in [
        np.dtype(d) for d in record.dtypes
    ]:
        dtype = np.complex128
    seed = zlib.crc32(record.name.encode())
    args = [fnp.asarray(a) for a in record.make_args(np.random.RandomState(seed), dtype)]
    by_tape, by_transpose = _vjp_both_ways(
        lambda *a: record.fun(*a, *record.static_args), args, seed
    )
    for got, want in zip(by_tape, by_transpose, strict=True):
        got, want = np.asarray(got), np.asarray(want)
        assert got.shape == want.shape and got.dtype == want.dtype
        np.testing.assert_allclose(got, want, rtol=1e-11, atol=1e-12)


def test_eager_grad_records_a_tape(monkeypatch):
    calls = []
    original = reverse.vjp_flat_tape

    def spy(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(reverse, "vjp_flat_tape", spy)
    g = fxgrad.grad(lambda x: fnp.sum(fnp.tanh(x) * 2.0))(fnp.arange(3.0))
    np.testing.assert_allclose(g, 2.0 / np.cosh(np.arange(3.0)) ** 2)
    assert calls == [1]
    # Under a transformation, grad linearizes instead.
    fxgrad.jit(fxgrad.grad(lambda x: fnp.sum(fnp.sin(x))))(fnp.arange(3.0))
    fxgrad.vmap(fxgrad.grad(lambda x: fnp.sin(x)))(fnp.arange(3.0))
    assert calls == [1]
    with config.override(eager_vjp_tape=False):
        fxgrad.grad(lambda x: fnp.sum(fnp.tanh(x)))(fnp.arange(3.0))
    assert calls == [1]


def test_where_rule_keeps_gradients_finite():
    # The sqrt branch is not taken at 0: its infinite derivative meets a zero cotangent.
    def f(x):
        return fnp.sum(fnp.where(x > 0, fnp.sqrt(fnp.abs(x)), 0.0))

    x = fnp.array([0.0, 4.0, -1.0])
    for _ in range(3):  # by binds, then by the traced NumPy pullbacks
        np.testing.assert_array_equal(fxgrad.grad(f)(x), [0.0, 0.25, 0.0])
    with config.override(jax_compatible_where_grad=True):
        for _ in range(3):  # the flag is part of a traced pullback's signature
            assert np.isnan(np.asarray(fxgrad.grad(f)(x))[0])


def test_integer_outputs_and_zero_derivatives_are_not_recorded():
    def f(x):
        i = fnp.argmax(x)  # an integer: no gradient flows through it
        return x[i] * fnp.floor(x[0]) + lax.stop_gradient(x[1]) * x[1]

    x = fnp.array([1.5, 3.0, 2.0])
    np.testing.assert_allclose(fxgrad.grad(f)(x), [0.0, 1.0 + 3.0, 0.0])


def test_python_control_flow_on_values():
    def f(x):
        if x > 0:  # the primal is concrete on the tape
            return x**3
        return -x

    assert float(fxgrad.grad(f)(2.0)) == 12.0
    assert float(fxgrad.grad(f)(-2.0)) == -1.0


def test_unused_and_integer_inputs():
    def f(x, n, unused):
        return fnp.sum(x * n)

    gx, gn, gu = fxgrad.grad(f, argnums=(0, 1, 2), allow_int=True)(
        fnp.ones(3), fnp.arange(3), fnp.ones(2)
    )
    np.testing.assert_array_equal(gx, [0.0, 1.0, 2.0])
    assert gn.dtype == fxgrad.dtypes.float0 and gn.shape == (3,)
    np.testing.assert_array_equal(gu, [0.0, 0.0])


def test_weak_type_of_the_gradient_follows_the_input():
    assert fxgrad.grad(lambda x: x * x)(3.0).weak_type
    assert not fxgrad.grad(lambda x: x * x)(fnp.float64(3.0)).weak_type


def test_jit_custom_vjp_and_control_flow_inside_grad():
    @fxgrad.custom_vjp
    def clip_grad(x):
        return x

    clip_grad.defvjp(lambda x: (x, None), lambda _, g: (fnp.clip(g, -1.0, 1.0),))

    @fxgrad.jit
    def inner(x):
        return fnp.sin(x) * 3.0

    def f(x):
        y = lax.fori_loop(0, 3, lambda i, c: c * x, 1.0)  # x**3
        return fnp.sum(clip_grad(inner(x)) * 5.0) + y

    x = 0.7
    want = np.clip(5.0, -1, 1) * 3.0 * np.cos(x) + 3 * x**2
    np.testing.assert_allclose(fxgrad.grad(f)(x), want, rtol=1e-12)


def test_higher_order_and_closures():
    f = lambda x: fnp.sin(x) * x  # noqa: E731
    d2 = fxgrad.grad(fxgrad.grad(f))(0.3)
    np.testing.assert_allclose(d2, 2 * np.cos(0.3) - 0.3 * np.sin(0.3), rtol=1e-12)

    # An eager grad of a function closing over an outer JVP tracer is not eager.
    def outer(y):
        return fxgrad.grad(lambda x: x * y * x)(2.0)

    _, t = fxgrad.jvp(outer, (3.0,), (1.0,))
    np.testing.assert_allclose(t, 4.0)


def test_vjp_function_is_transformable():
    x = fnp.array([0.5, 1.0, 2.0])
    fun = lambda x: fnp.exp(x) * fnp.sum(x)  # noqa: E731
    out, f_vjp = fxgrad.vjp(fun, x)
    cts = fnp.stack([fnp.ones(3), fnp.arange(3.0)])
    batched = fxgrad.vmap(f_vjp)(cts)[0]
    jitted = fxgrad.jit(f_vjp)(cts[1])[0]
    looped = np.stack([np.asarray(f_vjp(c)[0]) for c in cts])
    np.testing.assert_allclose(batched, looped, rtol=1e-13)
    np.testing.assert_allclose(jitted, looped[1], rtol=1e-13)
    # and differentiable: d/dc sum(c @ J) = J @ ones, the JVP along ones
    g = fxgrad.grad(lambda c: fnp.sum(f_vjp(c)[0]))(cts[1])
    np.testing.assert_allclose(g, fxgrad.jvp(fun, (x,), (fnp.ones(3),))[1], rtol=1e-13)


def test_has_aux_and_escaped_tracers():
    leaked = []

    def f(x):
        y = fnp.sin(x)
        leaked.append(y)
        return fnp.sum(y), {"y": y}

    g, aux = fxgrad.grad(f, has_aux=True)(fnp.arange(3.0))
    assert isinstance(aux["y"], fxgrad.Array)
    np.testing.assert_allclose(aux["y"], np.sin(np.arange(3.0)))
    np.testing.assert_allclose(g, np.cos(np.arange(3.0)))
    with pytest.raises(fxgrad.errors.UnexpectedTracerError):
        fnp.sin(leaked[0]) + 1.0


def test_float32_and_mixed_scalars():
    x = fnp.array([0.25, 0.5], dtype=np.float32)
    g = fxgrad.grad(lambda x: fnp.sum(fnp.tanh(x * 0.5 + 1) ** 2 / 3))(x)
    assert g.dtype == np.float32
    t = np.tanh(np.asarray(x, np.float64) * 0.5 + 1)
    np.testing.assert_allclose(g, 2 * t * (1 - t**2) * 0.5 / 3, rtol=1e-6)
