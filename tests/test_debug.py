"""debug.print / debug.callback / pure_callback and the debug_nans check."""

import numpy as np
import pytest

import fxgrad
import fxgrad.numpy as fnp
from fxgrad.config import config
from fxgrad.errors import MissingRuleError, NaNError


def test_debug_print_runs_each_call_under_jit(capsys):
    @fxgrad.jit
    def f(x):
        fxgrad.debug.print("x = {} and {y}", x, y=x * 2)
        return x * 2

    f(fnp.arange(3))
    f(fnp.arange(3))
    assert capsys.readouterr().out == "x = [0 1 2] and [0 2 4]\n" * 2


def test_debug_callback_under_vmap_and_grad():
    seen = []
    fxgrad.vmap(lambda x: fxgrad.debug.callback(seen.append, x))(fnp.arange(2.0))
    assert [float(v) for v in seen] == [0.0, 1.0]
    seen.clear()

    def f(x):
        fxgrad.debug.callback(seen.append, x)
        return x * x

    assert float(fxgrad.grad(f)(3.0)) == 6.0
    assert [float(v) for v in seen] == [3.0]


def test_debug_callback_survives_in_jaxpr():
    jaxpr = fxgrad.make_jaxpr(lambda x: (fxgrad.debug.print("{}", x), x)[1])(1.0)
    assert "debug_callback" in str(jaxpr)


def _sin_callback(x):
    return fxgrad.pure_callback(
        np.sin, fxgrad.ShapeDtypeStruct(x.shape, x.dtype), x, vmap_method="sequential"
    )


def test_pure_callback_eager_jit_vmap():
    x = np.linspace(0, 1, 4)
    np.testing.assert_allclose(np.asarray(_sin_callback(fnp.asarray(x))), np.sin(x))
    np.testing.assert_allclose(np.asarray(fxgrad.jit(_sin_callback)(x)), np.sin(x))
    xs = np.stack([x, 2 * x])
    np.testing.assert_allclose(np.asarray(fxgrad.vmap(_sin_callback)(xs)), np.sin(xs))


def test_pure_callback_vmap_methods_and_errors():
    def f(x):
        return fxgrad.pure_callback(np.sin, fxgrad.ShapeDtypeStruct(x.shape, x.dtype), x)

    with pytest.raises(MissingRuleError, match="vmap_method"):
        fxgrad.vmap(f)(fnp.ones((2, 3)))
    with pytest.raises(MissingRuleError, match="custom_jvp"):
        fxgrad.grad(lambda x: f(x).sum())(fnp.ones(3))

    def g(x):
        return fxgrad.pure_callback(
            lambda a: np.sin(a),
            fxgrad.ShapeDtypeStruct(x.shape, x.dtype),
            x,
            vmap_method="broadcast_all",
        )

    xs = np.random.RandomState(0).randn(2, 3)
    np.testing.assert_allclose(np.asarray(fxgrad.vmap(g)(xs)), np.sin(xs))


def test_pure_callback_result_shape_is_checked():
    with pytest.raises(Exception, match="shape"):
        fxgrad.pure_callback(
            lambda a: np.ones(5), fxgrad.ShapeDtypeStruct((3,), np.float64), fnp.ones(3)
        )


def test_debug_nans_names_the_primitive_and_line():
    def f(x):
        y = x * 2.0
        return fnp.log(y - 4.0)

    with config.override(debug_nans=True):
        with pytest.raises(NaNError, match="'log'.*test_debug.py"):
            fxgrad.jit(f)(1.0)
    assert np.isnan(float(fxgrad.jit(f)(1.0)))
