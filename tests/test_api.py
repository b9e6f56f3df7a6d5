"""The public transformations, with JAX's signatures and semantics.

Every derivative is compared with an analytic result or with central finite
differences computed here in NumPy; every vmap with a Python loop; every jit with the
eager function. Error *messages* are tested in test_errors.py.
"""

import functools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import fxgrad
import fxgrad.numpy as fnp
from fxgrad import lax
from fxgrad.dtypes import float0

RNG = np.random.default_rng(0)


def course_f(x1, x2):
    return fnp.log(x1) + x1 * x2 - fnp.sin(x2)


def numerical_grad(f, x, eps=1e-6):
    """Central differences of scalar ``f`` (NumPy in, float out) at NumPy array ``x``."""
    x = np.asarray(x, dtype=np.float64)
    g = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[idx] = eps
        g[idx] = (float(f(x + e)) - float(f(x - e))) / (2 * eps)
    return g


def numerical_jacobian(f, x, eps=1e-6):
    """``out.shape + in.shape`` Jacobian of ``f`` by central differences."""
    x = np.asarray(x, dtype=np.float64)
    out_shape = np.shape(np.asarray(f(x)))
    jac = np.zeros(out_shape + x.shape)
    for idx in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[idx] = eps
        col = (np.asarray(f(x + e)) - np.asarray(f(x - e))) / (2 * eps)
        jac[(...,) + idx] = col
    return jac


def close(a, b, tol=1e-6):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=tol, atol=tol)


# ---------------------------------------------------------------------------------------
# The course example: f(x1, x2) = ln(x1) + x1 * x2 - sin(x2)
# ---------------------------------------------------------------------------------------

COURSE_JAXPR = """\
{ lambda ; a:f64[] b:f64[]. let
    c:f64[] = log a
    d:f64[] = mul a b
    e:f64[] = add c d
    f:f64[] = sin b
    g:f64[] = sub e f
  in (g,) }"""


def test_course_example_jaxpr_prints_like_jax():
    # The text is what jax.make_jaxpr prints for the same function (x64 enabled).
    assert str(fxgrad.make_jaxpr(course_f)(2.0, 5.0)) == COURSE_JAXPR


def test_course_example_jvp_and_grad():
    value = np.log(2.0) + 2.0 * 5.0 - np.sin(5.0)
    y, y_dot = fxgrad.jvp(course_f, (2.0, 5.0), (1.0, 0.0))
    close(y, value)
    close(y_dot, 5.5)  # 1/x1 + x2
    close(fxgrad.grad(course_f)(2.0, 5.0), 5.5)
    g1, g2 = fxgrad.grad(course_f, argnums=(0, 1))(2.0, 5.0)
    close(g1, 5.5)
    close(g2, 2.0 - np.cos(5.0))  # x1 - cos(x2)
    # reverse mode by hand: vjp with cotangent 1
    _, f_vjp = fxgrad.vjp(course_f, 2.0, 5.0)
    ct1, ct2 = f_vjp(1.0)
    close(ct1, 5.5)
    close(ct2, 2.0 - np.cos(5.0))


# ---------------------------------------------------------------------------------------
# grad / value_and_grad
# ---------------------------------------------------------------------------------------


def poly(x, y, z):
    return fnp.sum(x**2 * y) + fnp.sum(fnp.sin(z)) * fnp.sum(x)


def _poly_np(x, y, z):
    return np.sum(x**2 * y) + np.sum(np.sin(z)) * np.sum(x)


@pytest.mark.parametrize(
    "argnums, expect_tuple",
    [(0, False), (1, False), (2, False), (-1, False), (-3, False), ((0, 2), True), ((2,), True)],
)
def test_grad_argnums_against_finite_differences(argnums, expect_tuple):
    args = [RNG.normal(size=(3,)) for _ in range(3)]
    g = fxgrad.grad(poly, argnums=argnums)(*args)
    nums = argnums if isinstance(argnums, tuple) else (argnums,)
    expected = []
    for n in nums:
        n = n % 3

        def f_n(v, n=n):
            a = list(args)
            a[n] = v
            return _poly_np(*a)

        expected.append(numerical_grad(f_n, args[n]))
    if expect_tuple:
        assert isinstance(g, tuple) and len(g) == len(nums)
        for gi, ei in zip(g, expected, strict=True):
            close(gi, ei, 1e-5)
    else:
        close(g, expected[0], 1e-5)


def test_grad_pytree_argument_and_kwargs_passthrough():
    params = {"w": fnp.array([1.0, 2.0]), "b": (fnp.array(0.5),)}

    def loss(p, x, *, scale):
        return scale * fnp.sum((p["w"] * x + p["b"][0]) ** 2)

    x = fnp.array([3.0, -1.0])
    g = fxgrad.grad(loss)(params, x, scale=2.0)
    assert set(g) == {"w", "b"} and isinstance(g["b"], tuple)
    r = np.array([1.0, 2.0]) * np.array([3.0, -1.0]) + 0.5
    close(g["w"], 2.0 * 2 * r * np.array([3.0, -1.0]))
    close(g["b"][0], 2.0 * 2 * r.sum())


def test_grad_has_aux_returns_concrete_aux():
    def f(x):
        y = fnp.sin(x)
        return fnp.sum(y), {"y": y, "n": 3, "name": "hi"}

    x = fnp.array([0.1, 0.2])
    g, aux = fxgrad.grad(f, has_aux=True)(x)
    close(g, np.cos([0.1, 0.2]))
    assert not isinstance(aux["y"], fxgrad.core.Tracer)
    close(aux["y"], np.sin([0.1, 0.2]))
    assert aux["n"] == 3 and aux["name"] == "hi"
    # the aux value is an ordinary array that can be used afterwards
    close(aux["y"] * 2, 2 * np.sin([0.1, 0.2]))
    (v, aux2), g2 = fxgrad.value_and_grad(f, has_aux=True)(x)
    close(v, np.sin([0.1, 0.2]).sum())
    close(g2, g)
    close(aux2["y"], aux["y"])


def test_grad_has_aux_with_integer_aux_under_jit():
    def f(x, n):
        return x * n, n * 2

    g, aux = fxgrad.jit(lambda x, n: fxgrad.grad(f, has_aux=True)(x, n))(1.5, 3.0)
    close(g, 3.0)
    close(aux, 6.0)


def test_grad_holomorphic():
    z = 1.0 + 2.0j
    g = fxgrad.grad(lambda z: z**3 + 2 * z, holomorphic=True)(z)
    close(g, 3 * z**2 + 2)
    g = fxgrad.grad(lambda z: fnp.sin(z), holomorphic=True)(fnp.asarray(z))
    close(g, np.cos(z))


def _complex_fd_grad(f, z, eps=1e-6):
    """JAX's convention for real ``f`` of complex ``z``: df/dx - i df/dy (by differences)."""
    dx = (f(z + eps) - f(z - eps)) / (2 * eps)
    dy = (f(z + 1j * eps) - f(z - 1j * eps)) / (2 * eps)
    return dx - 1j * dy


def test_grad_of_real_function_of_complex_input_follows_jax_convention():
    def f(z):
        return fnp.real(z**2) + 3.0 * fnp.imag(z) + fnp.abs(z)

    z = 1.0 + 2.0j
    expected = _complex_fd_grad(lambda v: float(np.real(v**2) + 3 * np.imag(v) + abs(v)), z)
    close(fxgrad.grad(f)(z), expected, 1e-8)


def test_grad_through_conj():
    z = 1.0 + 2.0j
    g = fxgrad.grad(lambda z: fnp.real(z * fnp.conj(z)))(z)
    close(g, _complex_fd_grad(lambda v: abs(v) ** 2, z), 1e-8)


def test_grad_allow_int_gives_float0():
    gx, gn = fxgrad.grad(lambda x, n: x * n, argnums=(0, 1), allow_int=True)(2.0, 3)
    close(gx, 3.0)
    assert np.asarray(gn).dtype == float0
    assert np.shape(gn) == ()
    g = fxgrad.grad(lambda x, n: fnp.sum(x) * 1.0, argnums=1, allow_int=True)(1.0, fnp.arange(4))
    assert np.asarray(g).dtype == float0 and np.shape(g) == (4,)


def test_grad_weak_type_follows_the_input():
    # As in JAX: a Python-scalar input gives a weakly typed gradient.
    assert fxgrad.grad(lambda x: x * x)(3.0).weak_type
    assert not fxgrad.grad(lambda x: x * x)(np.float64(3.0)).weak_type
    g32 = fxgrad.grad(lambda x: x * x)(np.float32(3.0))
    assert g32.dtype == np.float32 and not g32.weak_type


def test_value_and_grad_matches_value_and_grad():
    x = RNG.normal(size=(4,))

    def f(x):
        return fnp.sum(fnp.tanh(x) ** 2)

    v, g = fxgrad.value_and_grad(f)(x)
    close(v, np.sum(np.tanh(x) ** 2))
    close(g, numerical_grad(lambda v: np.sum(np.tanh(v) ** 2), x), 1e-6)


def test_grad_of_float32_stays_float32():
    x = np.array([1.0, 2.0], dtype=np.float32)
    g = fxgrad.grad(lambda x: fnp.sum(x**2))(x)
    assert g.dtype == np.float32
    close(g, 2 * x)


# ---------------------------------------------------------------------------------------
# jvp / vjp / linearize / linear_transpose
# ---------------------------------------------------------------------------------------


def test_jvp_pytrees_and_has_aux():
    def f(p):
        return {"s": fnp.sin(p["a"]) * p["b"], "c": fnp.cos(p["a"])}, fnp.exp(p["b"])

    p = {"a": fnp.array([0.3, 0.4]), "b": fnp.array(2.0)}
    t = {"a": fnp.array([1.0, -1.0]), "b": fnp.array(0.5)}
    out, out_t, aux = fxgrad.jvp(f, (p,), (t,), has_aux=True)
    a, b = np.array([0.3, 0.4]), 2.0
    ta, tb = np.array([1.0, -1.0]), 0.5
    close(out["s"], np.sin(a) * b)
    close(out_t["s"], np.cos(a) * ta * b + np.sin(a) * tb)
    close(out_t["c"], -np.sin(a) * ta)
    close(aux, np.exp(2.0))
    assert not isinstance(aux, fxgrad.core.Tracer)


def test_jvp_scalar_tangent_adopts_primal_dtype_and_int_primals():
    y, y_dot = fxgrad.jvp(fnp.sin, (np.float32(1.0),), (1.0,))
    assert y_dot.dtype == np.float32
    close(y_dot, np.cos(np.float32(1.0)), 1e-6)
    # integer primals take float0 tangents and contribute nothing
    y, y_dot = fxgrad.jvp(lambda x, n: x * n, (2.0, fnp.asarray(3)), (1.0, np.zeros((), float0)))
    close(y, 6.0)
    close(y_dot, 3.0)


def test_jvp_output_tangent_of_constant_is_zero():
    y, y_dot = fxgrad.jvp(lambda x: fnp.ones(3), (1.0,), (1.0,))
    close(y_dot, np.zeros(3))
    y, y_dot = fxgrad.jvp(lambda x: 1.0, (1.0,), (1.0,))
    assert isinstance(y_dot, fxgrad.Array) and y_dot.weak_type  # as in JAX
    close(y_dot, 0.0)


def test_vjp_has_aux_and_pytree_cotangents():
    def f(x, y):
        return {"p": x * y, "q": fnp.sin(x)}, x + 1.0

    x, y = fnp.array([1.0, 2.0]), fnp.array([3.0, 4.0])
    out, f_vjp, aux = fxgrad.vjp(f, x, y, has_aux=True)
    close(aux, [2.0, 3.0])
    ct = {"p": fnp.array([1.0, 1.0]), "q": fnp.array([0.5, 2.0])}
    cx, cy = f_vjp(ct)
    close(cx, np.array([3.0, 4.0]) + np.array([0.5, 2.0]) * np.cos([1.0, 2.0]))
    close(cy, [1.0, 2.0])


def test_vjp_and_jvp_are_adjoint():
    a = RNG.normal(size=(3, 4))

    def f(x):
        return fnp.tanh(fnp.asarray(a) @ x)

    x = RNG.normal(size=(4,))
    t = RNG.normal(size=(4,))
    c = RNG.normal(size=(3,))
    _, jt = fxgrad.jvp(f, (x,), (t,))
    _, f_vjp = fxgrad.vjp(f, x)
    (ct,) = f_vjp(c)
    close(np.dot(np.asarray(jt), c), np.dot(np.asarray(ct), t), 1e-10)


def test_vjp_and_linearize_of_function_with_integer_output():
    def f(x):
        return x * 2.0, fnp.arange(3)

    (y, n), f_vjp = fxgrad.vjp(f, 1.0)
    close(n, [0, 1, 2])
    (ct,) = f_vjp((1.0, np.zeros(3, float0)))
    close(ct, 2.0)
    _, f_jvp = fxgrad.linearize(f, 1.0)
    close(f_jvp(1.0)[0], 2.0)


def test_linearize_matches_jvp_and_is_linear():
    def f(x, y):
        return fnp.sin(x) * fnp.exp(y)

    x, y = fnp.array([0.1, 0.7]), fnp.array([0.3, -0.2])
    out, f_jvp = fxgrad.linearize(f, x, y)
    close(out, np.sin([0.1, 0.7]) * np.exp([0.3, -0.2]))
    tx, ty = fnp.array([1.0, 2.0]), fnp.array([-1.0, 0.5])
    _, expected = fxgrad.jvp(f, (x, y), (tx, ty))
    close(f_jvp(tx, ty), expected)
    close(f_jvp(2.0 * tx, 2.0 * ty), 2.0 * np.asarray(expected))


def test_linearize_evaluates_primal_once():
    calls = []

    def f(x):
        calls.append(1)
        return fnp.sin(x)

    _, f_jvp = fxgrad.linearize(f, 1.0)
    f_jvp(1.0)
    f_jvp(2.0)
    assert len(calls) == 1


def test_linear_transpose_of_matmul_is_transpose():
    a = RNG.normal(size=(3, 4))

    def f(x, y):
        return fnp.asarray(a) @ x + 2.0 * y

    f_t = fxgrad.linear_transpose(f, fnp.zeros(4), fnp.zeros(3))
    ct = RNG.normal(size=(3,))
    cx, cy = f_t(ct)
    close(cx, a.T @ ct)
    close(cy, 2.0 * ct)


# ---------------------------------------------------------------------------------------
# jacfwd / jacrev / hessian
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("jac", [fxgrad.jacfwd, fxgrad.jacrev], ids=["jacfwd", "jacrev"])
@pytest.mark.parametrize("in_shape", [(), (3,), (2, 3)])
def test_jacobian_shapes_and_values(jac, in_shape):
    a = RNG.normal(size=(4,) + in_shape)

    def f(x):
        return fnp.tanh(fnp.asarray(a) * x) * 2.0

    x = RNG.normal(size=in_shape)
    j = jac(f)(x)
    assert j.shape == (4,) + in_shape + in_shape
    expected = numerical_jacobian(lambda v: np.tanh(a * v) * 2.0, x)
    close(j, expected, 1e-6)


@pytest.mark.parametrize("jac", [fxgrad.jacfwd, fxgrad.jacrev], ids=["jacfwd", "jacrev"])
def test_jacobian_argnums_tuple_and_pytree_output_nest_like_jax(jac):
    def f(x, y):
        return {"xy": fnp.outer(x, y), "s": fnp.sum(x * x)}

    x, y = fnp.array([1.0, 2.0]), fnp.array([3.0, 4.0, 5.0])
    j = jac(f, argnums=(0, 1))(x, y)
    assert set(j) == {"xy", "s"}
    assert isinstance(j["xy"], tuple) and len(j["xy"]) == 2
    assert j["xy"][0].shape == (2, 3, 2) and j["xy"][1].shape == (2, 3, 3)
    assert j["s"][0].shape == (2,) and j["s"][1].shape == (3,)
    close(j["s"][0], 2 * np.array([1.0, 2.0]))
    close(j["s"][1], np.zeros(3))
    # d (x_i y_j) / d x_k = delta_ik y_j
    expected = np.einsum("ik,j->ijk", np.eye(2), [3.0, 4.0, 5.0])
    close(j["xy"][0], expected)
    j0 = jac(f)(x, y)
    assert not isinstance(j0["xy"], tuple) and j0["xy"].shape == (2, 3, 2)


@pytest.mark.parametrize("jac", [fxgrad.jacfwd, fxgrad.jacrev], ids=["jacfwd", "jacrev"])
def test_jacobian_of_pytree_input_and_has_aux(jac):
    def f(p):
        y = p["w"] * p["b"]
        return y, {"sum": fnp.sum(y)}

    p = {"w": fnp.array([1.0, 2.0, 3.0]), "b": fnp.array(2.0)}
    j, aux = jac(f, has_aux=True)(p)
    close(j["w"], 2.0 * np.eye(3))
    close(j["b"], [1.0, 2.0, 3.0])
    close(aux["sum"], 12.0)
    assert not isinstance(aux["sum"], fxgrad.core.Tracer)


def test_jacfwd_equals_jacrev_on_random_function():
    w = RNG.normal(size=(3, 5))

    def f(x):
        return fnp.sin(fnp.asarray(w) @ x) * fnp.sum(x**2)

    x = RNG.normal(size=(5,))
    close(fxgrad.jacfwd(f)(x), fxgrad.jacrev(f)(x), 1e-10)


def test_holomorphic_jacobians():
    z = fnp.array([1.0 + 1.0j, 2.0 - 0.5j])
    expected = np.diag(2 * np.asarray(z))
    close(fxgrad.jacfwd(lambda z: z**2, holomorphic=True)(z), expected)
    close(fxgrad.jacrev(lambda z: z**2, holomorphic=True)(z), expected)


def test_hessian_of_quadratic_form_and_cubic():
    a = RNG.normal(size=(3, 3))

    def f(x):
        return x @ (fnp.asarray(a) @ x)

    x = RNG.normal(size=(3,))
    close(fxgrad.hessian(f)(x), a + a.T, 1e-10)
    h = fxgrad.hessian(lambda x: fnp.sum(x**3))(fnp.array([1.0, 2.0, 3.0]))
    close(h, np.diag([6.0, 12.0, 18.0]))


def test_hessian_argnums_tuple_nests_blocks():
    def f(x, y):
        return fnp.sum(x**2 * y)

    x, y = fnp.array([1.0, 2.0]), fnp.array([3.0, 4.0])
    (hxx, hxy), (hyx, hyy) = fxgrad.hessian(f, argnums=(0, 1))(x, y)
    close(hxx, np.diag(2 * np.array([3.0, 4.0])))
    close(hxy, np.diag(2 * np.array([1.0, 2.0])))
    close(hyx, np.diag(2 * np.array([1.0, 2.0])))
    close(hyy, np.zeros((2, 2)))


def test_hessian_has_aux():
    h, aux = fxgrad.hessian(lambda x: (fnp.sum(x**3), x * 2), has_aux=True)(fnp.arange(3.0))
    close(h, np.diag([0.0, 6.0, 12.0]))
    close(aux, [0.0, 2.0, 4.0])


# ---------------------------------------------------------------------------------------
# vmap
# ---------------------------------------------------------------------------------------


def test_vmap_in_axes_int_none_tuple_negative_list():
    x = RNG.normal(size=(4, 3))
    y = RNG.normal(size=(3,))

    def f(a, b):
        return fnp.sin(a) * b

    close(fxgrad.vmap(f, in_axes=(0, None))(x, y), np.sin(x) * y)
    close(fxgrad.vmap(f, in_axes=[0, None])(x, y), np.sin(x) * y)
    close(fxgrad.vmap(f, in_axes=(1, None))(x.T, y), np.sin(x) * y)
    close(fxgrad.vmap(f, in_axes=(-1, None))(x.T, y), np.sin(x) * y)
    close(fxgrad.vmap(f, in_axes=(0, 0))(x, x), np.sin(x) * x)
    close(fxgrad.vmap(f)(x, x), np.sin(x) * x)


def test_vmap_dict_prefix_in_axes():
    d = {"a": RNG.normal(size=(5, 2)), "b": RNG.normal(size=(2,)), "c": RNG.normal(size=(2, 5))}

    def f(p):
        return p["a"] * p["b"] + p["c"]

    out = fxgrad.vmap(f, in_axes=({"a": 0, "b": None, "c": 1},))(d)
    expected = np.stack([d["a"][i] * d["b"] + d["c"][:, i] for i in range(5)])
    close(out, expected)


def test_vmap_out_axes_none_negative_and_pytrees():
    x = RNG.normal(size=(4, 2, 3))

    def f(v):
        return {"id": v, "sum": fnp.sum(v, axis=0), "const": fnp.ones(2)}

    out = fxgrad.vmap(f, out_axes={"id": -1, "sum": 1, "const": None})(x)
    close(out["id"], np.moveaxis(x, 0, -1))
    close(out["sum"], np.sum(x, axis=1).T)
    assert out["const"].shape == (2,)
    out = fxgrad.vmap(lambda v: (v * 2, 1.0), out_axes=(0, None))(x)
    close(out[0], 2 * x)
    close(out[1], 1.0)
    assert fxgrad.vmap(lambda v: v, out_axes=-2)(x).shape == (2, 4, 3)


def test_vmap_unbatched_output_is_broadcast():
    out = fxgrad.vmap(lambda v: fnp.ones(2))(fnp.zeros((3, 5)))
    close(out, np.ones((3, 2)))


def test_vmap_axis_size_with_all_none_in_axes():
    out = fxgrad.vmap(lambda v: v + 1.0, in_axes=None, axis_size=4)(fnp.array([1.0, 2.0]))
    close(out, np.tile([2.0, 3.0], (4, 1)))
    out = fxgrad.vmap(lambda v, w: v * w, in_axes=(None, 0), axis_size=3)(2.0, fnp.arange(3.0))
    close(out, [0.0, 2.0, 4.0])


def test_vmap_kwargs_are_batched_along_axis_0():
    x, y = RNG.normal(size=(3, 2)), RNG.normal(size=(3, 2))
    out = fxgrad.vmap(lambda a, *, b: a - b, in_axes=(1,))(x.T, b=y)
    close(out, x - y)


def test_vmap_passes_unmapped_python_values_through():
    seen = []

    def f(x, n, label):
        seen.append((type(n), label))
        return x**n

    out = fxgrad.vmap(f, in_axes=(0, None, None))(fnp.arange(3.0), 2, "square")
    close(out, [0.0, 1.0, 4.0])
    assert seen == [(int, "square")]
    # so a static argument of an inner jit stays hashable
    inner = fxgrad.jit(lambda x, n: x**n, static_argnums=1)
    close(fxgrad.vmap(inner, in_axes=(0, None))(fnp.arange(3.0), 3), [0.0, 1.0, 8.0])


def test_nested_vmap_is_an_outer_product():
    x, y = RNG.normal(size=(3,)), RNG.normal(size=(4,))
    f = fxgrad.vmap(fxgrad.vmap(lambda a, b: a * b, in_axes=(None, 0)), in_axes=(0, None))
    close(f(x, y), np.outer(x, y))


def test_vmap_of_closure_over_batched_values():
    xs, ys = RNG.normal(size=(3,)), RNG.normal(size=(4, 2))

    def outer(x):
        return fxgrad.vmap(lambda y: fnp.sin(x) * y + x)(ys)

    out = fxgrad.vmap(outer)(xs)
    expected = np.stack([np.sin(x) * ys + x for x in xs])
    close(out, expected)


@given(
    batch=st.integers(0, 4),
    shape=st.lists(st.integers(0, 3), min_size=0, max_size=2),
    data=st.data(),
)
def test_vmap_matches_loop_for_any_axis(batch, shape, data):
    axis = data.draw(st.integers(-len(shape) - 1, len(shape)))
    full = list(shape)
    full.insert(axis % (len(shape) + 1), batch)
    x = RNG.normal(size=full)

    def f(v):
        return fnp.sum(fnp.cos(v) * v) + 1.0

    out = fxgrad.vmap(f, in_axes=axis)(x)
    xm = np.moveaxis(x, axis, 0)
    expected = np.array([np.sum(np.cos(v) * v) + 1.0 for v in xm]).reshape(batch)
    close(out, expected)


# ---------------------------------------------------------------------------------------
# jit
# ---------------------------------------------------------------------------------------


def test_jit_matches_eager_with_pytrees_and_kwargs():
    def f(p, x, *, shift=0.0):
        h = fnp.tanh(p["w"] @ x + p["b"])
        return {"out": h + shift, "norm": [fnp.sum(h**2)]}

    p = {"w": RNG.normal(size=(3, 2)), "b": RNG.normal(size=(3,))}
    x = RNG.normal(size=(2,))
    eager = f(p, x, shift=1.0)
    jitted = fxgrad.jit(f)(p, x, shift=1.0)
    close(jitted["out"], eager["out"])
    assert isinstance(jitted["norm"], list)
    close(jitted["norm"][0], eager["norm"][0])


def test_jit_cache_does_not_retrace():
    traces = []

    def f(x, y):
        traces.append(1)
        return x * y + 1.0

    jf = fxgrad.jit(f)
    x = fnp.ones(3)
    close(jf(x, x), 2 * np.ones(3))
    close(jf(x * 2, x), 3 * np.ones(3))
    assert len(traces) == 1 and jf._cache_size() == 1
    jf(fnp.ones(4), fnp.ones(4))  # new shape
    assert len(traces) == 2 and jf._cache_size() == 2
    jf(np.ones(4, np.float32), np.ones(4, np.float32))  # new dtype
    assert len(traces) == 3 and jf._cache_size() == 3
    jf(fnp.ones(4), fnp.ones(4))  # cached
    assert len(traces) == 3
    jf({"a": x}["a"], x)  # same avals through a different container at the call site
    assert len(traces) == 3


def test_jit_weak_type_is_part_of_the_key():
    traces = []

    def f(x):
        traces.append(1)
        return x * 2

    jf = fxgrad.jit(f)
    jf(1.0)
    jf(2.0)
    assert len(traces) == 1
    out = jf(np.float64(1.0))
    assert len(traces) == 2 and not out.weak_type
    # a weak float with a float32 array stays float32
    assert fxgrad.jit(lambda a, b: a * b)(np.float32(2.0), 3.0).dtype == np.float32
    assert fxgrad.jit(lambda a: a)(3.0).weak_type


def test_jit_keeps_weak_type_of_python_scalar_arithmetic():
    assert (fnp.asarray(3.0) * 2).weak_type
    assert fxgrad.jit(lambda x: x * 2)(3.0).weak_type


def test_jit_static_argnums_and_argnames():
    traces = []

    def f(x, n, *, mode="add"):
        traces.append((n, mode))
        return x + n if mode == "add" else x * n

    by_num = fxgrad.jit(f, static_argnums=1, static_argnames="mode")
    close(by_num(fnp.ones(2), 3), [4.0, 4.0])
    close(by_num(fnp.ones(2), 3), [4.0, 4.0])
    assert len(traces) == 1
    close(by_num(fnp.ones(2), 4), [5.0, 5.0])  # new static value retraces
    assert len(traces) == 2
    close(by_num(fnp.ones(2), 4, mode="mul"), [4.0, 4.0])
    assert len(traces) == 3
    # static_argnames refers to a positional parameter: passed by position or by name
    by_name = fxgrad.jit(f, static_argnames=("n",))
    close(by_name(fnp.ones(2), 2), [3.0, 3.0])
    close(by_name(fnp.ones(2), n=2), [3.0, 3.0])
    # static_argnums honoured when the argument is passed by keyword
    close(fxgrad.jit(f, static_argnums=1)(fnp.ones(2), n=5), [6.0, 6.0])
    # negative static_argnums
    close(fxgrad.jit(lambda x, n: x**n, static_argnums=-1)(fnp.arange(3.0), 2), [0, 1, 4])


def test_jit_static_argument_controls_python_control_flow():
    @functools.partial(fxgrad.jit, static_argnames="n")
    def power(x, n):
        out = fnp.ones_like(x)
        for _ in range(n):
            out = out * x
        return out

    close(power(fnp.array([2.0, 3.0]), n=3), [8.0, 27.0])


def test_jit_of_closure_over_an_array_and_of_a_method_with_static_self():
    scale = fnp.array(3.0)
    jf = fxgrad.jit(lambda x: x * scale)
    close(jf(fnp.arange(3.0)), [0.0, 3.0, 6.0])

    class Model:
        def __init__(self, k):
            self.k = k

        def __hash__(self):
            return hash(self.k)

        def __eq__(self, other):
            return isinstance(other, Model) and other.k == self.k

        @functools.partial(fxgrad.jit, static_argnums=0)
        def apply(self, x):
            return x * scale + self.k

    close(Model(1.0).apply(fnp.arange(3.0)), [1.0, 4.0, 7.0])


def test_jit_composes_with_transformations():
    f = fxgrad.jit(lambda x: fnp.sin(x) * x)
    x = fnp.array([0.1, 0.5, 1.0])
    close(fxgrad.vmap(fxgrad.grad(f))(x), np.cos(x) * x + np.sin(x))
    close(fxgrad.grad(lambda v: fnp.sum(f(v)))(x), np.cos(x) * x + np.sin(x))


def test_jit_lower_returns_jaxpr():
    jaxpr = fxgrad.jit(lambda x: fnp.sin(x) + 1.0).lower(1.0)
    assert "sin" in str(jaxpr)


# ---------------------------------------------------------------------------------------
# make_jaxpr / eval_shape / device_put / stop_gradient
# ---------------------------------------------------------------------------------------


def test_make_jaxpr_static_argnums_and_return_shape():
    def f(x, n):
        return x**n

    jaxpr = fxgrad.make_jaxpr(f, static_argnums=1)(fnp.ones(3), 3)
    text = str(jaxpr)
    assert text.startswith("{ lambda ; a:f64[3]. let")
    assert "integer_pow" in text or "pow" in text or "mul" in text
    jaxpr, shape = fxgrad.make_jaxpr(lambda x: (fnp.sum(x), x * 2), return_shape=True)(
        fnp.ones((2, 3), dtype=np.float32)
    )
    assert shape[0] == fxgrad.ShapeDtypeStruct((), np.float32)
    assert shape[1] == fxgrad.ShapeDtypeStruct((2, 3), np.float32)
    assert len(jaxpr.out_avals) == 2


def test_make_jaxpr_shows_nested_jit_as_one_equation():
    inner = fxgrad.jit(lambda x: fnp.sin(x) + 1.0)
    text = str(fxgrad.make_jaxpr(lambda x: inner(x) * 2.0)(1.0))
    assert text.count("sin") == 1
    assert "pjit" in text or "jit" in text


def test_make_jaxpr_of_grad_has_no_tracer_leaks():
    jaxpr = fxgrad.make_jaxpr(fxgrad.grad(lambda x: fnp.sin(x) * x))(1.0)
    assert jaxpr.in_avals[0].shape == () and jaxpr.out_avals[0].shape == ()
    out = fxgrad.core.eval_jaxpr(jaxpr.jaxpr, jaxpr.consts, 0.7)[0]
    close(out, np.cos(0.7) * 0.7 + np.sin(0.7))


def test_eval_shape():
    calls = []

    def f(p, x):
        calls.append(1)
        return {"y": p["w"] @ x, "n": fnp.sum(x).astype(np.float32)}

    p = {"w": fxgrad.ShapeDtypeStruct((5, 3), np.float64)}
    out = fxgrad.eval_shape(f, p, fnp.ones((3, 7)))
    assert out["y"] == fxgrad.ShapeDtypeStruct((5, 7), np.float64)
    assert out["n"].shape == () and out["n"].dtype == np.float32
    assert len(calls) == 1


def test_device_put_and_devices():
    x = fxgrad.device_put({"a": np.arange(3.0), "b": [1.0]})
    assert isinstance(x["a"], fxgrad.Array)
    close(x["a"], np.arange(3.0))
    assert fxgrad.devices()[0].platform == "cpu"
    assert fxgrad.default_backend() == "cpu"


def test_stop_gradient():
    def f(x):
        return x * fxgrad.stop_gradient(x) + fxgrad.lax.stop_gradient(x**2)

    close(fxgrad.grad(f)(3.0), 3.0)
    close(f(3.0), 18.0)
    _, t = fxgrad.jvp(fxgrad.stop_gradient, (fnp.ones(2),), (fnp.ones(2),))
    close(t, np.zeros(2))


def test_tracer_is_public_and_seen_by_user_code():
    seen = []

    def f(x):
        seen.append(isinstance(x, fxgrad.core.Tracer))
        return x * 2

    f(1.0)
    fxgrad.grad(f)(1.0)
    fxgrad.vmap(f)(fnp.ones(2))
    fxgrad.jit(f)(1.0)
    assert seen == [False, True, True, True]


def test_lax_names():
    a, b = RNG.normal(size=(2, 3)), RNG.normal(size=(3, 4))
    close(lax.add(fnp.asarray(a), fnp.asarray(a)), 2 * a)
    close(lax.mul(fnp.asarray(a), 2.0), 2 * a)
    close(lax.dot_general(fnp.asarray(a), fnp.asarray(b), (((1,), (0,)), ((), ()))), a @ b)
    close(lax.reduce_sum(fnp.asarray(a), (1,)), a.sum(1))
    close(lax.sin(fnp.asarray(a)), np.sin(a))
    close(lax.transpose(fnp.asarray(a), (1, 0)), a.T)
    close(lax.reshape(fnp.asarray(a), (3, 2)), a.reshape(3, 2))
