"""Differential tests: the same programs through fxgrad and JAX (x64) must agree.

Values, gradients, Jacobians, Hessians, vmaps and complex derivatives are compared
leaf by leaf: same pytree structure, shapes, dtypes, weak types and values. Skipped
when JAX is not installed; marked ``slow``. Run it with::

    python -m pytest -m slow tests/test_jax_differential.py
"""

import numpy as np
import pytest

# JAX compiles every operation on first use: these tests take about a minute, so they
# run with `make test-all` (or `pytest -m slow`), not in the quick `make test`.
pytestmark = pytest.mark.slow

jax = pytest.importorskip("jax")
jax.config.update("jax_enable_x64", True)
jnp = jax.numpy

import fxgrad  # noqa: E402
import fxgrad.numpy as fnp  # noqa: E402

FX = {"lib": fxgrad, "np": fnp, "tree_flatten": fxgrad.tree_util.tree_flatten}
JX = {"lib": jax, "np": jnp, "tree_flatten": jax.tree_util.tree_flatten}

RNG = np.random.default_rng(7)
X3 = np.array([0.7, -0.4, 1.3])
M23 = RNG.normal(size=(2, 3))


def _leaf_info(x):
    arr = np.asarray(x)
    return arr, getattr(x, "weak_type", None)


def assert_same(fx_out, jax_out, check_weak=True, tol=1e-10):
    fx_leaves, fx_tree = fxgrad.tree_util.tree_flatten(fx_out)
    jx_leaves, jx_tree = jax.tree_util.tree_flatten(jax_out)
    assert len(fx_leaves) == len(jx_leaves), (fx_tree, jx_tree)
    assert str(fx_tree).replace("PyTreeDef", "") == str(jx_tree).replace("PyTreeDef", ""), (
        fx_tree,
        jx_tree,
    )
    for a, b in zip(fx_leaves, jx_leaves, strict=True):
        av, aw = _leaf_info(a)
        bv, bw = _leaf_info(b)
        assert av.shape == bv.shape, (av.shape, bv.shape)
        assert av.dtype == bv.dtype, (av.dtype, bv.dtype)
        if check_weak and bw is not None:
            assert bool(aw) == bool(bw), f"weak_type: fxgrad {aw}, jax {bw}"
        if av.dtype.kind in "fc":
            np.testing.assert_allclose(av, bv, rtol=tol, atol=tol)
        elif av.dtype.kind != "V":  # float0 has no values
            np.testing.assert_array_equal(av, bv)


# ---------------------------------------------------------------------------------------
# Programs, written once against a NumPy-like module ``xp``
# ---------------------------------------------------------------------------------------


def course(xp):
    return lambda x1, x2: xp.log(x1) + x1 * x2 - xp.sin(x2)


def fan_out(xp):
    def f(x):
        y = xp.sin(x)
        return xp.sum(y * y + y * xp.cos(y) - y)

    return f


def mlp(xp):
    w = M23

    def f(x):
        h = xp.tanh(xp.asarray(w) @ x + 0.1)
        return xp.sum(h**2) + xp.max(h)

    return f


def softplus_mean(xp):
    return lambda x: xp.mean(xp.log1p(xp.exp(x)) * x**2)


def where_relu(xp):
    return lambda x: xp.sum(xp.where(x > 0.2, x**2, -x) + xp.maximum(x, 0.0))


def vector_out(xp):
    return lambda x: xp.outer(xp.sin(x), x) + xp.exp(x)


def pytree_out(xp):
    return lambda x, y: {"p": x * y, "s": xp.sum(x**2 * y)}


SCALAR_PROGRAMS = [fan_out, mlp, softplus_mean, where_relu]


def run(make, transform, *args, **kw):
    """``transform`` applied to the program in both libraries, called on ``args``."""
    fx = transform(FX, make(fnp), **kw)(*[fnp.asarray(a) for a in args])
    jx = transform(JX, make(jnp), **kw)(*[jnp.asarray(a) for a in args])
    return fx, jx


# ---------------------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------------------


def test_course_example():
    for args in [(2.0, 5.0), (np.float64(2.0), np.float64(5.0))]:
        assert_same(course(fnp)(*args), course(jnp)(*args))
        assert_same(fxgrad.grad(course(fnp))(*args), jax.grad(course(jnp))(*args))
        assert_same(
            fxgrad.grad(course(fnp), argnums=(0, 1))(*args),
            jax.grad(course(jnp), argnums=(0, 1))(*args),
        )
        assert_same(
            fxgrad.jvp(course(fnp), args, (1.0, 0.0)), jax.jvp(course(jnp), args, (1.0, 0.0))
        )
    assert str(fxgrad.make_jaxpr(course(fnp))(2.0, 5.0)) == str(
        jax.make_jaxpr(course(jnp))(2.0, 5.0)
    )


@pytest.mark.parametrize("make", SCALAR_PROGRAMS, ids=lambda m: m.__name__)
def test_value_grad_hessian(make):
    for tr in (
        lambda lib, f: f,
        lambda lib, f: lib["lib"].grad(f),
        lambda lib, f: lib["lib"].value_and_grad(f),
        lambda lib, f: lib["lib"].jit(lib["lib"].grad(f)),
        lambda lib, f: lib["lib"].hessian(f),
        lambda lib, f: lib["lib"].jacfwd(lib["lib"].jacrev(f)),
        lambda lib, f: lib["lib"].grad(lib["lib"].jit(f)),
    ):
        fx, jx = run(make, tr, X3)
        assert_same(fx, jx)


@pytest.mark.parametrize("make", SCALAR_PROGRAMS, ids=lambda m: m.__name__)
def test_vmap_of_grad_and_grad_of_vmap(make):
    xs = RNG.normal(size=(4, 3))
    for tr, x in (
        (lambda lib, f: lib["lib"].vmap(lib["lib"].grad(f)), xs),
        (lambda lib, f: lib["lib"].vmap(lib["lib"].grad(f), in_axes=1), xs.T),
        (lambda lib, f: lib["lib"].jit(lib["lib"].vmap(f)), xs),
        (lambda lib, f: lib["lib"].grad(lambda v: lib["np"].sum(lib["lib"].vmap(f)(v))), xs),
        (lambda lib, f: lib["lib"].vmap(lib["lib"].hessian(f), out_axes=-1), xs),
    ):
        fx, jx = run(make, tr, x)
        assert_same(fx, jx)


@pytest.mark.parametrize("jac", ["jacfwd", "jacrev"])
def test_jacobians_of_vector_and_pytree_outputs(jac):
    fx, jx = run(vector_out, lambda lib, f: getattr(lib["lib"], jac)(f), X3)
    assert_same(fx, jx)
    fx, jx = run(pytree_out, lambda lib, f: getattr(lib["lib"], jac)(f, argnums=(0, 1)), X3, X3 + 1)
    assert_same(fx, jx)
    fx, jx = run(pytree_out, lambda lib, f: getattr(lib["lib"], jac)(f), X3, X3 + 1)
    assert_same(fx, jx)


def test_jacobian_has_aux_and_hessian_argnums():
    def make(xp):
        return lambda x, y: (xp.sum(x**2 * y) + xp.sum(xp.sin(x * y)), {"aux": x * 2})

    for tr in (
        lambda lib, f: lib["lib"].jacfwd(f, has_aux=True),
        lambda lib, f: lib["lib"].jacrev(f, has_aux=True, argnums=(0, 1)),
        lambda lib, f: lib["lib"].hessian(f, has_aux=True, argnums=(0, 1)),
        lambda lib, f: lib["lib"].grad(f, has_aux=True),
        lambda lib, f: lib["lib"].value_and_grad(f, has_aux=True, argnums=1),
    ):
        fx, jx = run(make, tr, X3, X3 - 0.5)
        assert_same(fx, jx)


def test_vmap_axes_variants():
    def make(xp):
        return lambda a, b: {"s": xp.sin(a) * b, "t": xp.sum(a)}

    a = RNG.normal(size=(3, 4))
    b = RNG.normal(size=(4,))
    for kw in (
        {"in_axes": (0, None)},
        {"in_axes": (1, None)},
        {"in_axes": (-1, None), "out_axes": -1},
        {"in_axes": [0, None], "out_axes": {"s": 1, "t": 0}},
    ):
        aa = a if kw["in_axes"][0] == 0 else a.T
        fx = fxgrad.vmap(make(fnp), **kw)(aa, b)
        jx = jax.vmap(make(jnp), **kw)(aa, b)
        assert_same(fx, jx)
    fx = fxgrad.vmap(lambda v: v + 1.0, in_axes=None, axis_size=3)(np.ones(2))
    jx = jax.vmap(lambda v: v + 1.0, in_axes=None, axis_size=3)(np.ones(2))
    assert_same(fx, jx)


def test_jvp_vjp_linearize():
    f_fx, f_jx = mlp(fnp), mlp(jnp)
    t = RNG.normal(size=3)
    assert_same(fxgrad.jvp(f_fx, (X3,), (t,)), jax.jvp(f_jx, (X3,), (t,)))
    out_fx, vjp_fx = fxgrad.vjp(f_fx, X3)
    out_jx, vjp_jx = jax.vjp(f_jx, X3)
    assert_same(out_fx, out_jx)
    assert_same(vjp_fx(1.0), vjp_jx(1.0))
    y_fx, lin_fx = fxgrad.linearize(f_fx, X3)
    y_jx, lin_jx = jax.linearize(f_jx, X3)
    assert_same(y_fx, y_jx)
    assert_same(lin_fx(t), lin_jx(t))
    # linear_transpose
    lt_fx = fxgrad.linear_transpose(lambda x: fnp.asarray(M23) @ x, X3)
    lt_jx = jax.linear_transpose(lambda x: jnp.asarray(M23) @ x, X3)
    ct = RNG.normal(size=2)
    assert_same(lt_fx(ct), lt_jx(ct))


def test_python_scalar_weak_types():
    for tr in (
        lambda lib: lib["lib"].grad(lambda x: x * x)(3.0),
        lambda lib: lib["lib"].value_and_grad(lambda x: lib["np"].sin(x))(3.0),
        lambda lib: lib["lib"].jvp(lambda x: x * 2.0, (1.0,), (1.0,)),
        lambda lib: lib["lib"].vjp(lambda x: x * 3.0, 2.0)[1](1.0),
        lambda lib: lib["lib"].jit(lambda x: x)(2.0),
        lambda lib: lib["np"].asarray(1.0) * 2,
    ):
        assert_same(tr(FX), tr(JX))


def test_weak_type_of_jit_output_with_scalar_arithmetic():
    fx = fxgrad.jit(lambda x: x * 2)(3.0)
    jx = jax.jit(lambda x: x * 2)(3.0)
    assert_same(fx, jx)


def test_float32_programs():
    x = X3.astype(np.float32)
    for make in SCALAR_PROGRAMS[:3]:
        fx, jx = run(make, lambda lib, f: lib["lib"].grad(f), x)
        assert_same(fx, jx, tol=1e-5)


def test_integer_inputs_allow_int_float0():
    def make(xp):
        return lambda x, n: x * n

    fx = fxgrad.grad(make(fnp), argnums=(0, 1), allow_int=True)(2.0, 3)
    jx = jax.grad(make(jnp), argnums=(0, 1), allow_int=True)(2.0, 3)
    assert_same(fx, jx)


def test_complex_derivatives():
    z = np.array([1.0 + 2.0j, -0.5 + 0.3j])

    def holo(xp):
        return lambda z: xp.sum(z**3 + xp.sin(z) * z)

    assert_same(
        fxgrad.grad(holo(fnp), holomorphic=True)(z), jax.grad(holo(jnp), holomorphic=True)(z)
    )
    assert_same(
        fxgrad.jacfwd(lambda z: z**2 * fnp.exp(z), holomorphic=True)(z),
        jax.jacfwd(lambda z: z**2 * jnp.exp(z), holomorphic=True)(z),
    )
    assert_same(
        fxgrad.jacrev(lambda z: z**2 * fnp.exp(z), holomorphic=True)(z),
        jax.jacrev(lambda z: z**2 * jnp.exp(z), holomorphic=True)(z),
    )

    # real-valued functions of complex inputs: JAX's convention (gradient is conj of
    # the Wirtinger derivative times 2)
    def real_of_complex(xp):
        return lambda z: xp.sum(xp.abs(z) + xp.imag(z) * 3.0 + xp.real(z**2))

    assert_same(fxgrad.grad(real_of_complex(fnp))(z), jax.grad(real_of_complex(jnp))(z))


def test_complex_derivatives_through_conj():
    z = np.array([1.0 + 2.0j, -0.5 + 0.3j])
    # jvp / vjp of a non-holomorphic complex function
    t = np.array([0.3 - 1.0j, 1.0 + 0.5j])
    f_fx = lambda z: fnp.conj(z) * z + fnp.abs(z)  # noqa: E731
    f_jx = lambda z: jnp.conj(z) * z + jnp.abs(z)  # noqa: E731
    assert_same(fxgrad.jvp(f_fx, (z,), (t,)), jax.jvp(f_jx, (z,), (t,)))
    assert_same(fxgrad.vjp(f_fx, z)[1](t), jax.vjp(f_jx, z)[1](t))


def test_eval_shape_and_shape_dtype_struct():
    def make(xp):
        return lambda p, x: {"y": p["w"] @ x, "n": xp.sum(x)}

    p = {"w": np.ones((5, 3))}
    fx = fxgrad.eval_shape(make(fnp), p, np.ones((3, 7)))
    jx = jax.eval_shape(make(jnp), p, np.ones((3, 7)))
    assert fx["y"].shape == jx["y"].shape and fx["y"].dtype == jx["y"].dtype
    assert fx["n"].shape == jx["n"].shape and fx["n"].dtype == jx["n"].dtype


def test_array_reprs():
    for make in (
        lambda xp: xp.arange(3.0),
        lambda xp: xp.arange(3),
        lambda xp: xp.asarray(1.0),
        lambda xp: xp.ones((0, 3)),
        lambda xp: xp.ones((2, 3)) > 0,
        lambda xp: xp.asarray(1.0) + 1,
        lambda xp: xp.arange(3.0, dtype=np.float32) * 2.0,
        lambda xp: xp.asarray(1 + 2j),
    ):
        assert repr(make(fnp)) == repr(make(jnp))
