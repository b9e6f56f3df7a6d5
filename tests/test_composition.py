"""A catalogue of tricky programs under stacks of transformations (JAX ``core_test`` style).

Each program maps an array to a scalar. Oracles are computed outside the code under
test: first derivatives by central differences of the program's values, second
derivatives by central differences of its (separately checked) gradient, batched
results by Python loops. Every stack of transformations must agree with them.
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import fxgrad
import fxgrad.numpy as fnp
from fxgrad import grad, hessian, jacfwd, jacrev, jit, jvp, lax, linearize, vjp, vmap

RNG = np.random.default_rng(1)
C = np.array([0.5, -1.5, 2.0])


def _fan_out(x):
    y = fnp.sin(x)
    z = y * y + y * fnp.cos(y) - y
    return fnp.sum(z * y)


def _closure(x):
    c = fnp.asarray(C)
    return fnp.sum(c * x**2) + fnp.sum(fnp.exp(c) * x)


_inner_jit = jit(lambda v: fnp.sin(v) * v)


def _nested_jit(x):
    mid = jit(lambda v: _inner_jit(v) + jit(fnp.cos)(v))(x)
    return fnp.sum(jit(lambda a, b: a * b)(mid, x))


def _pytree_in_out(x):
    def layer(p):
        return {"h": fnp.tanh(p["a"] * p["b"]), "aux": [p["a"] + 1.0, p["b"] * 2.0]}

    out = jit(layer)({"a": x, "b": x * 0.5 + 1.0})
    return fnp.sum(out["h"] * out["aux"][0]) + fnp.sum(out["aux"][1])


def _reuse(x):
    y = x
    for _ in range(8):
        y = 0.5 * y + 0.3 * fnp.sin(y) * x
    return fnp.sum(y * y)


def _constants(x):
    k = np.array([1.0, 2.0, 3.0])
    return fnp.sum(fnp.ones(3) * x * 2.0 + k * x**3) + 1.5 + fnp.sum(fnp.zeros(3))


def _int_side(x):
    n = fnp.arange(3)
    w = (n * 2 + 1).astype(x.dtype)
    count = fnp.sum(n > 0)  # an integer that only scales the result
    return fnp.sum(x * w) * count.astype(x.dtype) + fnp.sum(fnp.exp(x))


def _mlp(x):
    w = fnp.asarray(np.linspace(-1.0, 1.0, 12).reshape(4, 3))
    h = fnp.tanh(w @ x + 0.1)
    return fnp.sum(h**2) + fnp.max(h)


def _relu_where(x):
    r = fnp.maximum(x, 0.0) + fnp.where(x > 0.2, x**2, -x)
    return fnp.sum(r * fnp.sin(x))


def _broadcast(x):
    outer = fnp.outer(x, x)
    return fnp.sum(fnp.sin(outer) + fnp.mean(outer, axis=0))


def _indexing(x):
    head, tail = x[0], x[1:]
    return head * fnp.sum(tail**2) + x[::-1] @ x + x[-1] * fnp.sum(x[None, :2])


def _cond(x):
    def pos(v):
        return fnp.sin(v) * v

    def neg(v):
        return v**3

    return fnp.sum(lax.cond(fnp.sum(x) > 0, pos, neg, x) + lax.cond(x[1] > 0, pos, neg, x))


def _fori_loop(x):
    def body(i, carry):
        return carry * 0.5 + fnp.sin(carry) * x + i

    return fnp.sum(lax.fori_loop(0, 4, body, x))


def _scan(x):
    def step(c, xi):
        c = c * fnp.tanh(xi) + xi
        return c, c * 2.0

    c, ys = lax.scan(step, 1.0, x)
    return c + fnp.sum(ys**2)


PROGRAMS = {
    "fan_out": _fan_out,
    "closure": _closure,
    "nested_jit": _nested_jit,
    "pytree_in_out": _pytree_in_out,
    "reuse": _reuse,
    "constants": _constants,
    "int_side": _int_side,
    "mlp": _mlp,
    "relu_where": _relu_where,
    "broadcast": _broadcast,
    "indexing": _indexing,
    "cond": _cond,
    "fori_loop": _fori_loop,
    "scan": _scan,
}

# Points away from the kinks of max/maximum/where.
X0 = np.array([0.7, -0.4, 1.3])
XS = np.array([[0.7, -0.4, 1.3], [0.9, 0.5, -1.1], [-0.6, 1.7, 0.35], [1.2, -1.3, 0.6]])


def _value(f, v):
    return float(np.asarray(f(fnp.asarray(v))))


def fd_grad(f, x, eps=1e-6):
    x = np.asarray(x, dtype=np.float64)
    g = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[idx] = eps
        g[idx] = (_value(f, x + e) - _value(f, x - e)) / (2 * eps)
    return g


def fd_jacobian_of(g, x, eps=1e-5):
    """``g(x).shape + x.shape`` Jacobian of an array function by central differences."""
    x = np.asarray(x, dtype=np.float64)
    cols = []
    for idx in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[idx] = eps
        cols.append((np.asarray(g(x + e)) - np.asarray(g(x - e))) / (2 * eps))
    out_shape = np.shape(np.asarray(g(x)))
    return np.stack(cols, axis=-1).reshape(out_shape + x.shape)


def close(a, b, tol=1e-6):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=tol, atol=tol)


# ---------------------------------------------------------------------------------------
# First derivatives under stacks
# ---------------------------------------------------------------------------------------

GRAD_STACKS = {
    "grad": lambda f: grad(f),
    "jit(grad)": lambda f: jit(grad(f)),
    "grad(jit)": lambda f: grad(jit(f)),
    "jit(grad(jit))": lambda f: jit(grad(jit(f))),
    "vjp": lambda f: lambda x: vjp(f, x)[1](1.0)[0],
    "jacrev": lambda f: jacrev(f),
    "jacfwd": lambda f: jacfwd(f),
    "linearize": lambda f: (
        lambda x: np.array([np.asarray(linearize(f, x)[1](fnp.asarray(e))) for e in np.eye(3)])
    ),
    "value_and_grad": lambda f: lambda x: fxgrad.value_and_grad(f)(x)[1],
}


@pytest.mark.parametrize("stack", list(GRAD_STACKS))
@pytest.mark.parametrize("prog", list(PROGRAMS))
def test_first_derivative_stacks(prog, stack):
    f = PROGRAMS[prog]
    expected = fd_grad(f, X0)
    close(GRAD_STACKS[stack](f)(fnp.asarray(X0)), expected, 1e-6)


@pytest.mark.parametrize("prog", list(PROGRAMS))
def test_values_under_jit_and_vmap(prog):
    f = PROGRAMS[prog]
    loop = np.array([_value(f, x) for x in XS])
    close(jit(f)(fnp.asarray(X0)), _value(f, X0), 1e-12)
    close(vmap(f)(XS), loop, 1e-12)
    close(vmap(jit(f))(XS), loop, 1e-12)
    close(jit(vmap(f))(XS), loop, 1e-12)
    # vmap of vmap over a (2, 4, 3) batch, the inner one along axis 1 of the outer slice
    xss = np.stack([XS, XS[::-1] * 0.5])
    loop2 = np.array([[_value(f, x) for x in xs] for xs in xss])
    close(vmap(vmap(f, in_axes=1))(np.swapaxes(xss, 1, 2)), loop2, 1e-12)


@pytest.mark.parametrize("prog", list(PROGRAMS))
def test_batched_gradients(prog):
    f = PROGRAMS[prog]
    loop = np.stack([fd_grad(f, x) for x in XS])
    close(vmap(grad(f))(XS), loop)
    close(jit(vmap(grad(f)))(XS), loop)
    close(vmap(jit(grad(f)))(XS), loop)
    close(grad(lambda xs: fnp.sum(vmap(f)(xs)))(XS), loop)  # grad of vmap
    close(vmap(grad(f), in_axes=1)(XS.T), loop)


@pytest.mark.parametrize("prog", list(PROGRAMS))
def test_linearize_inside_vmap_and_jvp_of_vjp(prog):
    f = PROGRAMS[prog]
    ts = RNG.normal(size=XS.shape)
    grads = np.stack([fd_grad(f, x) for x in XS])
    out = vmap(lambda x, t: linearize(f, x)[1](t))(XS, ts)
    close(out, np.sum(grads * ts, axis=1))

    # jvp of vjp: forward-over-reverse gives the gradient and a Hessian-vector product
    def g(x):
        return vjp(f, x)[1](1.0)[0]

    t = ts[0]
    g_val, hvp = jvp(g, (fnp.asarray(X0),), (fnp.asarray(t),))
    close(g_val, fd_grad(f, X0))
    h = fd_jacobian_of(lambda v: np.asarray(grad(f)(fnp.asarray(v))), X0)
    close(hvp, h @ t, 1e-5)


# ---------------------------------------------------------------------------------------
# Second derivatives
# ---------------------------------------------------------------------------------------

HESSIAN_STACKS = {
    "hessian": lambda f: hessian(f),
    "jacfwd(jacrev)": lambda f: jacfwd(jacrev(f)),
    "jacrev(jacfwd)": lambda f: jacrev(jacfwd(f)),
    "jacfwd(jacfwd)": lambda f: jacfwd(jacfwd(f)),
    "jacrev(jacrev)": lambda f: jacrev(jacrev(f)),
    "jacfwd(grad)": lambda f: jacfwd(grad(f)),
    "jit(hessian)": lambda f: jit(hessian(f)),
    "hessian(jit)": lambda f: hessian(jit(f)),
}


@pytest.mark.parametrize("stack", list(HESSIAN_STACKS))
@pytest.mark.parametrize(
    "prog",
    ["fan_out", "nested_jit", "pytree_in_out", "mlp", "int_side", "indexing", "cond", "scan"],
)
def test_hessian_stacks(prog, stack):
    f = PROGRAMS[prog]
    expected = fd_jacobian_of(lambda v: np.asarray(grad(f)(fnp.asarray(v))), X0)
    close(HESSIAN_STACKS[stack](f)(fnp.asarray(X0)), expected, 1e-5)


def test_vmap_of_hessian_matches_loop():
    f = PROGRAMS["mlp"]
    loop = np.stack([np.asarray(hessian(f)(fnp.asarray(x))) for x in XS])
    close(vmap(hessian(f))(XS), loop, 1e-10)
    close(jit(vmap(hessian(f)))(XS), loop, 1e-10)


@pytest.mark.parametrize("x", [0.3, -1.2, 2.5])
def test_third_order_grad_of_sin(x):
    d1, d2, d3 = grad(fnp.sin), grad(grad(fnp.sin)), grad(grad(grad(fnp.sin)))
    close(d1(x), np.cos(x), 1e-12)
    close(d2(x), -np.sin(x), 1e-12)
    close(d3(x), -np.cos(x), 1e-12)
    close(jit(d3)(x), -np.cos(x), 1e-12)
    close(vmap(d3)(np.array([x, 2 * x])), -np.cos([x, 2 * x]), 1e-12)
    close(grad(grad(grad(grad(fnp.sin))))(x), np.sin(x), 1e-12)
    # forward-over-forward-over-reverse
    close(jacfwd(jacfwd(grad(fnp.sin)))(x), -np.cos(x), 1e-12)


def _mlp_loss(params, x, y):
    h = fnp.tanh(params["w1"] @ x + params["b1"])
    pred = fnp.sum(params["w2"] * h)
    return (pred - y) ** 2 + 0.01 * fnp.sum(params["w1"] ** 2)


def test_hessian_of_mlp_loss_against_finite_differences_of_its_gradient():
    params = {
        "w1": RNG.normal(size=(3, 2)),
        "b1": RNG.normal(size=(3,)),
        "w2": RNG.normal(size=(3,)),
    }
    x, y = np.array([0.3, -0.7]), 0.25
    h = hessian(_mlp_loss)(params, x, y)
    eps = 1e-5
    g = grad(_mlp_loss)
    for p_name, p_val in params.items():
        for idx in np.ndindex(p_val.shape):
            plus = {k: v.copy() for k, v in params.items()}
            minus = {k: v.copy() for k, v in params.items()}
            plus[p_name][idx] += eps
            minus[p_name][idx] -= eps
            gp, gm = g(plus, x, y), g(minus, x, y)
            for q_name in params:
                col = (np.asarray(gp[q_name]) - np.asarray(gm[q_name])) / (2 * eps)
                # h[q][p] has shape q.shape + p.shape
                close(np.asarray(h[q_name][p_name])[(...,) + idx], col, 1e-6)
    # the Hessian is symmetric across blocks
    close(h["w1"]["b1"], np.transpose(np.asarray(h["b1"]["w1"]), (1, 2, 0)), 1e-10)


# ---------------------------------------------------------------------------------------
# Closures over traced values, 0-d and 0-size arrays
# ---------------------------------------------------------------------------------------


def _grad_of_jit_closure(x):
    # the jitted function closes over a value traced by the enclosing transformation
    g = jit(lambda y: x * fnp.sin(y) * y)
    return grad(lambda y: fnp.sum(g(y)))(x)


def _grad_of_jit_closure_np(x):
    return x * (np.cos(x) * x + np.sin(x))


def test_grad_of_jit_with_closure_over_traced_values():
    xs = np.array([0.2, 0.9, -1.4])
    close(vmap(_grad_of_jit_closure)(xs), _grad_of_jit_closure_np(xs), 1e-12)
    close(jit(vmap(_grad_of_jit_closure))(xs), _grad_of_jit_closure_np(xs), 1e-12)
    # d/dx [x * (cos(x) x + sin(x))] = cos x * x + sin x + x (2 cos x - x sin x)
    expected = np.cos(0.7) * 0.7 + np.sin(0.7) + 0.7 * (2 * np.cos(0.7) - 0.7 * np.sin(0.7))
    close(grad(_grad_of_jit_closure)(0.7), expected, 1e-12)
    close(jit(grad(_grad_of_jit_closure))(0.7), expected, 1e-12)


def test_jit_with_closure_over_batched_value_is_not_cached_across_traces():
    jf_outer = []

    def outer(x):
        f = jit(lambda y: y * x)
        jf_outer.append(f)
        return f(fnp.ones(2))

    out = vmap(outer)(fnp.array([1.0, 2.0, 3.0]))
    close(out, [[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]])
    assert jf_outer[0]._cache_size() == 0  # its constants were tracers


def test_zero_dim_programs():
    def f(x):
        return fnp.sin(x) * fnp.exp(x) + x**3

    def df(x):
        return np.cos(x) * np.exp(x) + np.sin(x) * np.exp(x) + 3 * x**2

    x = 0.4
    close(grad(f)(x), df(x), 1e-12)
    close(jit(grad(f))(x), df(x), 1e-12)
    close(jacfwd(f)(x), df(x), 1e-12)
    close(jacrev(f)(x), df(x), 1e-12)
    assert jacfwd(f)(x).shape == () and hessian(f)(x).shape == ()
    close(vmap(grad(f))(np.array([x, -x])), df(np.array([x, -x])), 1e-12)


def test_zero_size_programs():
    def f(x):
        return fnp.sum(fnp.sin(x) * x) + 1.0

    x = fnp.ones((0, 3))
    g = grad(f)(x)
    assert g.shape == (0, 3)
    assert jit(grad(f))(x).shape == (0, 3)
    assert vmap(grad(f))(fnp.ones((2, 0))).shape == (2, 0)
    assert vmap(grad(f))(fnp.ones((0, 2))).shape == (0, 2)
    assert jacfwd(f)(x).shape == (0, 3)
    assert jacrev(f)(x).shape == (0, 3)
    assert jacrev(lambda v: v * 2.0)(fnp.ones((0,))).shape == (0, 0)
    close(f(x), 1.0)


# ---------------------------------------------------------------------------------------
# Hypothesis: shapes, including 0-size
# ---------------------------------------------------------------------------------------

shapes = st.lists(st.integers(0, 3), min_size=0, max_size=3).map(tuple)


@given(shape=shapes, batch=st.integers(1, 3))
def test_elementwise_program_for_any_shape(shape, batch):
    x = RNG.uniform(0.2, 1.5, size=shape)

    def f(v):
        return fnp.sum(fnp.log(v) * fnp.cos(v) + v**2)

    def df(v):
        return np.cos(v) / v - np.log(v) * np.sin(v) + 2 * v

    close(grad(f)(x), df(x), 1e-10)
    close(jit(grad(jit(f)))(x), df(x), 1e-10)
    xs = RNG.uniform(0.2, 1.5, size=(batch,) + shape)
    close(vmap(grad(f))(xs), df(xs), 1e-10)
    close(jit(vmap(grad(f)))(xs), df(xs), 1e-10)
    _, t = jvp(f, (x,), (np.ones(shape),))
    close(t, np.sum(df(x)), 1e-10)


@given(n=st.integers(1, 4), m=st.integers(1, 3))
def test_vmap_of_matmul_gradient_for_any_shape(n, m):
    a = RNG.normal(size=(n, m))
    xs = RNG.normal(size=(2, m))

    def f(x):
        return fnp.sum(fnp.tanh(fnp.asarray(a) @ x))

    def df(x):
        return a.T @ (1 - np.tanh(a @ x) ** 2)

    close(vmap(grad(f))(xs), np.stack([df(x) for x in xs]), 1e-10)
    close(hessian(f)(xs[0]), fd_jacobian_of(df, xs[0]), 1e-5)
