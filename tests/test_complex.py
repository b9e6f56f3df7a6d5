"""Complex differentiation: fxgrad follows JAX's conventions.

* ``jvp`` of a holomorphic ``f`` at ``z`` in direction ``t`` is ``f'(z) t``; expected
  derivatives are the closed forms below, evaluated with ``cmath`` (and checked against
  finite differences of NumPy's complex functions, which define the branches).
* ``vjp`` is the transpose, not the conjugate transpose: ``vjp(lambda z: c * z)(ct)`` is
  ``ct * c``. So ``grad`` of a real ``f(x + iy)`` is ``df/dx - i df/dy`` (the conjugate of
  the usual gradient), and ``grad(f, holomorphic=True)`` is ``f'(z)``.
* Where JAX itself is wrong we follow the mathematics: JAX's derivative of ``arccosh``
  has the wrong sign for ``Re z < 0`` (it merges ``sqrt(z - 1) sqrt(z + 1)`` into
  ``sqrt(z**2 - 1)``).

The differential test against JAX runs only where ``import jax`` works.
"""

from __future__ import annotations

import cmath

import numpy as np
import pytest

import fxgrad
import fxgrad.numpy as fnp
from fxgrad import lax

POINTS = [1 + 2j, -1.5 + 0.5j, -2 - 1j, 0.5 - 0.3j, 2 - 0.5j, -0.5 - 0.25j]

# name -> (fxgrad function, NumPy function, closed-form derivative)
HOLOMORPHIC = {
    "exp": (fnp.exp, np.exp, cmath.exp),
    "log": (fnp.log, np.log, lambda z: 1 / z),
    "log1p": (fnp.log1p, np.log1p, lambda z: 1 / (1 + z)),
    "expm1": (fnp.expm1, np.expm1, cmath.exp),
    "exp2": (fnp.exp2, np.exp2, lambda z: cmath.log(2) * 2**z),
    "sin": (fnp.sin, np.sin, cmath.cos),
    "cos": (fnp.cos, np.cos, lambda z: -cmath.sin(z)),
    "tan": (fnp.tan, np.tan, lambda z: 1 / cmath.cos(z) ** 2),
    "sinh": (fnp.sinh, np.sinh, cmath.cosh),
    "cosh": (fnp.cosh, np.cosh, cmath.sinh),
    "tanh": (fnp.tanh, np.tanh, lambda z: 1 / cmath.cosh(z) ** 2),
    "sqrt": (fnp.sqrt, np.sqrt, lambda z: 1 / (2 * cmath.sqrt(z))),
    "rsqrt": (lax.rsqrt, lambda z: 1 / np.sqrt(z), lambda z: -0.5 / (z * cmath.sqrt(z))),
    "square": (fnp.square, np.square, lambda z: 2 * z),
    "reciprocal": (fnp.reciprocal, np.reciprocal, lambda z: -1 / z**2),
    "cube": (lambda z: fnp.power(z, 3), lambda z: z**3, lambda z: 3 * z**2),
    "arcsin": (fnp.arcsin, np.arcsin, lambda z: 1 / cmath.sqrt(1 - z * z)),
    "arccos": (fnp.arccos, np.arccos, lambda z: -1 / cmath.sqrt(1 - z * z)),
    "arctan": (fnp.arctan, np.arctan, lambda z: 1 / (1 + z * z)),
    "arcsinh": (fnp.arcsinh, np.arcsinh, lambda z: 1 / cmath.sqrt(1 + z * z)),
    "arccosh": (fnp.arccosh, np.arccosh, lambda z: 1 / (cmath.sqrt(z - 1) * cmath.sqrt(z + 1))),
    "arctanh": (fnp.arctanh, np.arctanh, lambda z: 1 / (1 - z * z)),
    "logistic": (
        lax.logistic,
        lambda z: 1 / (1 + np.exp(-z)),
        lambda z: cmath.exp(-z) / (1 + cmath.exp(-z)) ** 2,
    ),
}


def _finite_difference(np_fn, z, t, eps=1e-7):
    return (np_fn(np.complex128(z + eps * t)) - np_fn(np.complex128(z - eps * t))) / (2 * eps)


@pytest.mark.parametrize("name", sorted(HOLOMORPHIC))
@pytest.mark.parametrize("z", POINTS, ids=[str(p) for p in POINTS])
def test_jvp_is_the_complex_derivative(name, z):
    fn, np_fn, derivative = HOLOMORPHIC[name]
    for t in (1.0 + 0j, 1j, 0.6 - 0.8j):
        _, tangent = fxgrad.jvp(fn, (np.complex128(z),), (np.complex128(t),))
        expected = derivative(z) * t
        np.testing.assert_allclose(complex(tangent), expected, rtol=1e-12)
        # the closed forms pick NumPy's branches
        np.testing.assert_allclose(expected, _finite_difference(np_fn, z, t), rtol=1e-6)


@pytest.mark.parametrize("name", sorted(HOLOMORPHIC))
def test_holomorphic_grad_is_the_derivative(name):
    fn, _, derivative = HOLOMORPHIC[name]
    z = 0.5 - 0.3j
    g = fxgrad.grad(fn, holomorphic=True)(np.complex128(z))
    np.testing.assert_allclose(complex(g), derivative(z), rtol=1e-12)


def test_arccosh_derivative_in_the_left_half_plane():
    z = np.complex128(-1.5 + 0.5j)
    _, tangent = fxgrad.jvp(fnp.arccosh, (z,), (np.complex128(1.0),))
    # 1 / (sqrt(z - 1) sqrt(z + 1)) = -0.65665535... - 0.35143128...j; JAX gives the negation
    np.testing.assert_allclose(complex(tangent), -0.6566553524938089 - 0.35143127957889675j, 1e-12)


# grad of a real function of z = x + iy is df/dx - i df/dy
REAL_OF_COMPLEX = {
    "abs_squared": (lambda z: fnp.abs(z) ** 2, lambda x, y: (2 * x, 2 * y)),
    "abs": (fnp.abs, lambda x, y: (x / np.hypot(x, y), y / np.hypot(x, y))),
    "real_of_square": (lambda z: fnp.real(z * z), lambda x, y: (2 * x, -2 * y)),
    "imag_of_square": (lambda z: fnp.imag(z * z), lambda x, y: (2 * y, 2 * x)),
    "angle": (fnp.angle, lambda x, y: (-y / (x * x + y * y), x / (x * x + y * y))),
    "real": (fnp.real, lambda x, y: (1.0, 0.0)),
    "imag": (fnp.imag, lambda x, y: (0.0, 1.0)),
    "abs_of_exp": (lambda z: fnp.abs(fnp.exp(z)), lambda x, y: (np.exp(x), 0.0)),
    "real_of_conj_times": (lambda z: fnp.real(fnp.conj(z) * (2 + 1j)), lambda x, y: (2.0, 1.0)),
}


@pytest.mark.parametrize("name", sorted(REAL_OF_COMPLEX))
@pytest.mark.parametrize("z", POINTS[:3], ids=[str(p) for p in POINTS[:3]])
def test_grad_of_real_function_uses_the_conjugate_convention(name, z):
    fn, partials = REAL_OF_COMPLEX[name]
    dx, dy = partials(z.real, z.imag)
    g = fxgrad.grad(fn)(np.complex128(z))
    np.testing.assert_allclose(complex(g), dx - 1j * dy, rtol=1e-12, atol=1e-15)


def test_vjp_is_the_transpose_not_the_adjoint():
    c = np.complex128(2 - 3j)
    ct = np.complex128(0.5 + 1j)
    _, f_vjp = fxgrad.vjp(lambda z: c * z, np.complex128(1 + 1j))
    np.testing.assert_allclose(complex(f_vjp(ct)[0]), ct * c)
    _, f_vjp = fxgrad.vjp(fnp.conj, np.complex128(1 + 1j))
    np.testing.assert_allclose(complex(f_vjp(ct)[0]), np.conj(ct))
    _, f_vjp = fxgrad.vjp(fnp.real, np.complex128(1 + 1j))
    np.testing.assert_allclose(complex(f_vjp(np.float64(2.0))[0]), 2.0)
    _, f_vjp = fxgrad.vjp(fnp.imag, np.complex128(1 + 1j))
    np.testing.assert_allclose(complex(f_vjp(np.float64(2.0))[0]), -2j)


def test_abs_jvp_at_complex_points_and_zero():
    z = np.complex128(3 + 4j)
    t = np.complex128(1 - 2j)
    _, tangent = fxgrad.jvp(fnp.abs, (z,), (t,))
    np.testing.assert_allclose(float(tangent), (np.conj(z) * t).real / 5.0)
    _, tangent = fxgrad.jvp(fnp.abs, (np.complex128(0),), (t,))
    assert float(tangent) == 0.0


def test_complex_and_conj_of_real_inputs():
    dx = fxgrad.grad(lambda x: fnp.real(lax.complex(x, 2.0) ** 2))(1.5)  # x**2 - 4
    np.testing.assert_allclose(float(dx), 3.0)
    dy = fxgrad.grad(lambda y: fnp.imag(lax.complex(1.5, y) ** 2))(2.0)  # 2 x y
    np.testing.assert_allclose(float(dy), 3.0)
    assert float(fxgrad.grad(lambda x: fnp.real(lax.conj(x)))(1.0)) == 1.0


# ---------------------------------------------------------------------------------------
# Differential test against JAX (runs where jax is importable)
# ---------------------------------------------------------------------------------------

JAX_NAMES = {
    "exp": "exp",
    "log": "log",
    "log1p": "log1p",
    "expm1": "expm1",
    "sin": "sin",
    "cos": "cos",
    "tan": "tan",
    "sinh": "sinh",
    "cosh": "cosh",
    "tanh": "tanh",
    "sqrt": "sqrt",
    "square": "square",
    "reciprocal": "reciprocal",
    "arcsin": "arcsin",
    "arccos": "arccos",
    "arctan": "arctan",
    "arcsinh": "arcsinh",
    "arctanh": "arctanh",
    "arccosh": "arccosh",
}


@pytest.mark.parametrize("name", sorted(JAX_NAMES))
def test_jvp_matches_jax(name):
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    jnp = pytest.importorskip("jax.numpy")
    fn = HOLOMORPHIC[name][0]
    jfn = getattr(jnp, JAX_NAMES[name])
    for z in POINTS:
        if name == "arccosh" and z.real < 0:
            continue  # JAX's rule has the wrong sign there (see the module docstring)
        t = np.complex128(0.6 - 0.8j)
        ours = complex(fxgrad.jvp(fn, (np.complex128(z),), (t,))[1])
        theirs = complex(jax.jvp(jfn, (np.complex128(z),), (t,))[1])
        np.testing.assert_allclose(ours, theirs, rtol=1e-12)


@pytest.mark.parametrize("name", sorted(REAL_OF_COMPLEX))
def test_grad_matches_jax(name):
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    jnp = pytest.importorskip("jax.numpy")
    jax_fns = {
        "abs_squared": lambda z: jnp.abs(z) ** 2,
        "abs": jnp.abs,
        "real_of_square": lambda z: jnp.real(z * z),
        "imag_of_square": lambda z: jnp.imag(z * z),
        "angle": jnp.angle,
        "real": jnp.real,
        "imag": jnp.imag,
        "abs_of_exp": lambda z: jnp.abs(jnp.exp(z)),
        "real_of_conj_times": lambda z: jnp.real(jnp.conj(z) * (2 + 1j)),
    }
    for z in POINTS[:3]:
        ours = complex(fxgrad.grad(REAL_OF_COMPLEX[name][0])(np.complex128(z)))
        theirs = complex(jax.grad(jax_fns[name])(np.complex128(z)))
        np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-15)
