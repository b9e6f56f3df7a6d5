"""checkpoint/remat: same gradients, fewer saved residuals, policies, under transformations."""

import numpy as np
import pytest

import fxgrad
import fxgrad.numpy as fnp
from fxgrad import ad_checkpoint as adc
from fxgrad import lax
from fxgrad.test_util import check_grads


def _layer(w, x):
    return fnp.sin(fnp.tanh(x @ w) * 2.0)


def _loss(w, x):
    return fnp.sum(fxgrad.checkpoint(_layer)(w, x))


@pytest.fixture
def data():
    rng = np.random.RandomState(0)
    return rng.randn(3, 3), rng.randn(2, 3)


def test_remat_gradients_equal_plain_gradients(data):
    w, x = data
    plain = fxgrad.grad(lambda w, x: fnp.sum(_layer(w, x)))(w, x)
    np.testing.assert_allclose(np.asarray(fxgrad.grad(_loss)(w, x)), np.asarray(plain), rtol=1e-12)
    check_grads(_loss, (w, x), order=2)
    np.testing.assert_allclose(
        np.asarray(fxgrad.jit(fxgrad.grad(_loss))(w, x)), np.asarray(plain), rtol=1e-12
    )
    batched = fxgrad.vmap(fxgrad.grad(_loss), (None, 0))(w, np.stack([x, 2 * x]))
    assert batched.shape == (2, 3, 3)


def _origins(f, *args):
    return sorted(desc for _, desc in adc.saved_residuals(f, *args))


def test_remat_saves_only_inputs_by_default(data):
    w, x = data
    plain = _origins(lambda w, x: fnp.sum(_layer(w, x)), w, x)
    assert any(d.startswith("output of") for d in plain)
    rematted = _origins(_loss, w, x)
    assert all(d.startswith("from the argument") for d in rematted)


def test_policies_save_dots_or_named_values(data):
    w, x = data
    dots = adc.checkpoint_policies.dots_saveable
    f = lambda w, x: fnp.sum(fxgrad.checkpoint(_layer, policy=dots)(w, x))  # noqa: E731
    assert "output of dot_general" in _origins(f, w, x)

    def named(w, x):
        return fnp.sin(adc.checkpoint_name(fnp.tanh(x @ w), "t") * 2.0)

    policy = adc.checkpoint_policies.save_only_these_names("t")
    g = lambda w, x: fnp.sum(fxgrad.checkpoint(named, policy=policy)(w, x))  # noqa: E731
    origins = _origins(g, w, x)
    assert "output of name" in origins
    assert "output of dot_general" not in origins
    check_grads(g, (w, x), order=1)


def test_remat_inside_scan(data):
    w, _ = data

    def f(w, xs):
        step = fxgrad.checkpoint(lambda c, x: (fnp.tanh(c @ w + x), None))
        c, _ = lax.scan(step, fnp.ones(3), xs)
        return fnp.sum(c)

    check_grads(f, (w, np.random.RandomState(1).randn(4, 3)), order=1)


def test_print_saved_residuals_lists_shapes(data, capsys):
    w, x = data
    adc.print_saved_residuals(_loss, w, x)
    out = capsys.readouterr().out
    assert "f64[3,3]" in out and "f64[2,3]" in out


def test_remat_of_a_function_containing_a_scan():
    def block(h, xs):
        h, _ = lax.scan(lambda c, x: (fnp.tanh(c * 0.9 + x), None), h, xs)
        return h

    f = fxgrad.checkpoint(block)
    check_grads(f, (0.1, np.linspace(-1, 1, 4)), order=1)
    outer = lambda h0, xs: lax.scan(lambda h, x: (f(h, x), None), h0, xs)[0]  # noqa: E731
    check_grads(outer, (0.1, np.ones((3, 4)) * 0.3), order=1)
