"""cond / switch / while_loop / fori_loop / scan / map against Python control flow,
under grad, vmap and jit."""

import numpy as np
import pytest

import fxgrad
import fxgrad.numpy as fnp
from fxgrad import lax
from fxgrad.errors import ControlFlowError, WhileLoopReverseModeError
from fxgrad.test_util import check_grads


def _branchy(x, y):
    return lax.cond(x > 0, lambda a, b: fnp.sin(a) * b, lambda a, b: a * a + b, x, y)


def _branchy_ref(x, y):
    return np.sin(x) * y if x > 0 else x * x + y


@pytest.mark.parametrize("x", [-1.3, 0.7])
def test_cond_value_grad_jit(x):
    np.testing.assert_allclose(float(_branchy(x, 2.0)), _branchy_ref(x, 2.0))
    np.testing.assert_allclose(float(fxgrad.jit(_branchy)(x, 2.0)), _branchy_ref(x, 2.0))
    check_grads(_branchy, (x, 2.0), order=2)
    eps = 1e-6
    fd = (_branchy_ref(x + eps, 2.0) - _branchy_ref(x - eps, 2.0)) / (2 * eps)
    np.testing.assert_allclose(float(fxgrad.jit(fxgrad.grad(_branchy))(x, 2.0)), fd, rtol=1e-6)


def test_cond_vmap_with_batched_predicate_matches_loop():
    xs = np.array([-1.0, 0.5, 2.0])
    ys = np.array([1.0, 2.0, 3.0])
    out = fxgrad.vmap(_branchy)(xs, ys)
    np.testing.assert_allclose(
        np.asarray(out), [_branchy_ref(a, b) for a, b in zip(xs, ys, strict=True)]
    )
    g = fxgrad.vmap(fxgrad.grad(_branchy))(xs, ys)
    expected = [np.cos(a) * b if a > 0 else 2 * a for a, b in zip(xs, ys, strict=True)]
    np.testing.assert_allclose(np.asarray(g), expected)


def test_gradient_through_untaken_singular_branch_is_finite():
    def f(x):
        return lax.cond(x > 0, fnp.sqrt, lambda v: v * 0.0, x)

    assert float(fxgrad.grad(f)(0.0)) == 0.0
    g = fxgrad.grad(lambda xs: fnp.sum(fxgrad.vmap(f)(xs)))(fnp.array([0.0, 4.0]))
    np.testing.assert_allclose(np.asarray(g), [0.0, 0.25])


def test_cond_closes_over_outer_tracer():
    def f(x):
        return lax.cond(
            True,
            lambda: x * 3.0,
            lambda: x,
        )

    assert float(fxgrad.grad(f)(1.0)) == 3.0


def test_cond_branch_type_mismatch_names_branch_and_types():
    with pytest.raises(ControlFlowError, match="true_fun.*f32|false_fun.*f64"):
        lax.cond(True, lambda x: x.astype(np.float32), lambda x: x, fnp.ones(2))


def test_switch_clamps_and_selects():
    branches = [lambda x: x, lambda x: x * 2.0, lambda x: x * 3.0]
    assert float(lax.switch(1, branches, 5.0)) == 10.0
    assert float(lax.switch(9, branches, 5.0)) == 15.0
    assert float(lax.switch(-4, branches, 5.0)) == 5.0
    out = fxgrad.vmap(lambda i, x: lax.switch(i, branches, x))(fnp.array([0, 1, 2]), fnp.ones(3))
    np.testing.assert_allclose(np.asarray(out), [1.0, 2.0, 3.0])


def _rnn(w, xs):
    def body(c, x):
        c = fnp.tanh(c * w + x)
        return c, c * 2.0

    c, ys = lax.scan(body, 0.5, xs)
    return c + fnp.sum(ys)


def _rnn_ref(w, xs):
    c, total = 0.5, 0.0
    for x in xs:
        c = np.tanh(c * w + x)
        total += 2 * c
    return c + total


def test_scan_matches_loop_and_differentiates():
    xs = np.linspace(-1, 1, 6)
    np.testing.assert_allclose(float(_rnn(0.3, xs)), _rnn_ref(0.3, xs))
    np.testing.assert_allclose(float(fxgrad.jit(_rnn)(0.3, xs)), _rnn_ref(0.3, xs))
    check_grads(_rnn, (0.3, xs), order=2)
    out = fxgrad.vmap(_rnn, (0, None))(fnp.array([0.1, 0.9]), xs)
    np.testing.assert_allclose(np.asarray(out), [_rnn_ref(0.1, xs), _rnn_ref(0.9, xs)])
    g = fxgrad.vmap(fxgrad.grad(_rnn), (None, 0))(0.3, np.stack([xs, 2 * xs]))
    eps = 1e-6
    fd = [(_rnn_ref(0.3 + eps, v) - _rnn_ref(0.3 - eps, v)) / (2 * eps) for v in (xs, 2 * xs)]
    np.testing.assert_allclose(np.asarray(g), fd, rtol=1e-6)


def test_reverse_mode_of_scan_reads_constants_and_inputs_without_stacking_them():
    # the weight is a loop constant and x a scanned input: reverse mode must read them as
    # they are, not save a copy of each per step as a residual
    rng = np.random.default_rng(0)
    w, xs = rng.standard_normal((7, 7)) / 3, rng.standard_normal((11, 3, 7))

    def loss(w, xs):
        def cell(h, x):
            return fnp.tanh(h @ w + x) * x, None

        return lax.scan(cell, fnp.ones((3, 7)), xs)[0].sum()

    closed = fxgrad.make_jaxpr(fxgrad.grad(loss, argnums=(0, 1)))(w, xs)
    forward, backward = [e for e in closed.jaxpr.eqns if e.primitive.name == "scan"]
    assert (11, 7, 7) not in [tuple(v.aval.shape) for v in forward.out_binders]
    assert closed.jaxpr.invars[1] in backward.inputs
    assert backward.params["num_consts"] >= 1
    check_grads(loss, (w, xs), order=2, modes=("rev",))
    check_grads(fxgrad.jit(loss), (w, xs), order=1, modes=("rev",))


def test_scan_reverse_pytrees_and_length():
    def f(w, xs):
        def body(carry, x):
            a, b = carry
            return (a * w + x["u"], b + fnp.sin(x["v"]) * a), {"out": a * b}

        (a, b), ys = lax.scan(body, (fnp.ones(2), fnp.zeros(2)), xs, reverse=True)
        return fnp.sum(a) + fnp.sum(b) + fnp.sum(ys["out"])

    xs = {"u": np.random.randn(4, 2), "v": np.random.randn(4, 2)}
    check_grads(f, (0.8, xs), order=2)
    carry, ys = lax.scan(lambda c, _: (c + 1, c), 0, None, length=4)
    assert int(carry) == 4
    np.testing.assert_array_equal(np.asarray(ys), [0, 1, 2, 3])


def test_scan_carry_type_mismatch_is_a_clear_error():
    with pytest.raises(ControlFlowError, match="carry"):
        lax.scan(lambda c, x: (c.astype(np.float32), x), fnp.zeros(()), fnp.ones(3))


def test_while_loop_forward_and_reverse_rules():
    def f(x):
        return lax.while_loop(lambda c: c < 10.0, lambda c: c * 1.5, x)

    assert float(f(1.0)) == 1.5**6
    assert float(fxgrad.jit(f)(1.0)) == 1.5**6
    _, t = fxgrad.jvp(f, (1.0,), (1.0,))
    assert float(t) == pytest.approx(1.5**6)
    with pytest.raises(WhileLoopReverseModeError, match="max_steps"):
        fxgrad.grad(f)(1.0)

    def g(x):
        return lax.while_loop(lambda c: c < 10.0, lambda c: c * 1.5, x, max_steps=30)

    assert float(fxgrad.grad(g)(1.0)) == pytest.approx(1.5**6)
    out = fxgrad.vmap(f)(fnp.array([1.0, 5.0, 20.0]))
    np.testing.assert_allclose(np.asarray(out), [1.5**6, 11.25, 20.0])
    grads = fxgrad.vmap(fxgrad.grad(g))(fnp.array([1.0, 5.0, 20.0]))
    np.testing.assert_allclose(np.asarray(grads), [1.5**6, 2.25, 1.0])


def test_while_cond_must_return_scalar_bool():
    with pytest.raises(ControlFlowError, match="scalar boolean"):
        lax.while_loop(lambda c: c, lambda c: c, fnp.ones(2))


def test_fori_loop_static_bounds_differentiate_in_reverse():
    def h(x):
        return lax.fori_loop(0, 5, lambda i, c: c * x + i, 1.0)

    def ref(x):
        c = 1.0
        for i in range(5):
            c = c * x + i
        return c

    np.testing.assert_allclose(float(h(0.7)), ref(0.7))
    check_grads(h, (0.7,), order=2)
    traced = fxgrad.jit(lambda n, x: lax.fori_loop(0, n, lambda i, c: c * x, 1.0))
    assert float(traced(3, 2.0)) == 8.0


def test_map_matches_comprehension():
    xs = np.arange(5.0)
    np.testing.assert_allclose(np.asarray(lax.map(lambda x: x**2 + 1, xs)), xs**2 + 1)


@pytest.mark.parametrize("n", [0, 1, 2, 5, 8])
def test_associative_scan_matches_cumulative_ops(n):
    x = np.random.RandomState(n).randn(n, 2)
    add = lax.associative_scan(lambda a, b: a + b, x)
    np.testing.assert_allclose(np.asarray(add), np.cumsum(x, 0))
    rev = lax.associative_scan(lambda a, b: a + b, x, reverse=True)
    np.testing.assert_allclose(np.asarray(rev), np.cumsum(x[::-1], 0)[::-1])
    mx = lax.associative_scan(fnp.maximum, x.T, axis=1)
    np.testing.assert_allclose(np.asarray(mx), np.maximum.accumulate(x.T, 1))


def test_associative_scan_differentiates_and_batches():
    x = np.random.RandomState(0).rand(6) + 0.5
    check_grads(lambda v: lax.associative_scan(lambda a, b: a * b, v), (x,), order=2)
    out = fxgrad.vmap(lambda v: lax.associative_scan(lambda a, b: a + b, v))(np.ones((2, 5)))
    np.testing.assert_allclose(np.asarray(out), np.cumsum(np.ones((2, 5)), 1))
