"""A primitive defined through fxgrad.extend works under every transformation."""

import numpy as np

import fxgrad
import fxgrad.numpy as fnp
from fxgrad import extend
from fxgrad.test_util import check_grads


def _cube_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    return cube(x), 3.0 * x * x * extend.instantiate_zeros(t)


cube_p = extend.define_primitive(
    "test_extend_cube",
    impl=lambda x: x * x * x,
    abstract_eval=lambda x: x,
    jvp=_cube_jvp,
    batch=extend.vectorized_batch_rule("test_extend_cube"),
)


def cube(x):
    return cube_p.bind(x)


def test_value_grad_vmap_jit():
    x = np.linspace(-2.0, 2.0, 5)
    np.testing.assert_allclose(np.asarray(cube(fnp.asarray(x))), x**3)
    np.testing.assert_allclose(np.asarray(fxgrad.vmap(fxgrad.grad(cube))(x)), 3 * x**2)
    np.testing.assert_allclose(
        np.asarray(fxgrad.jit(fxgrad.vmap(fxgrad.grad(fxgrad.grad(cube))))(x)), 6 * x
    )
    check_grads(cube, (x,), order=2)


def test_jaxpr_shows_the_primitive():
    assert "test_extend_cube" in str(fxgrad.make_jaxpr(cube)(1.0))
