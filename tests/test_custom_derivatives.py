"""custom_jvp / custom_vjp under grad, jvp, vmap, jit, higher order and control flow."""

import numpy as np
import pytest

import fxgrad
import fxgrad.numpy as fnp
from fxgrad import lax
from fxgrad.errors import FxgradTypeError, MissingRuleError
from fxgrad.test_util import check_grads


@fxgrad.custom_jvp
def log1pexp(x):
    return fnp.log1p(fnp.exp(x))


@log1pexp.defjvp
def _log1pexp_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    return log1pexp(x), t * (1.0 - 1.0 / (1.0 + fnp.exp(x)))


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def test_custom_jvp_is_stable_where_autodiff_is_not():
    assert float(fxgrad.grad(log1pexp)(100.0)) == 1.0
    assert float(fxgrad.jit(fxgrad.grad(log1pexp))(100.0)) == 1.0
    xs = np.array([-3.0, 0.0, 2.0])
    np.testing.assert_allclose(np.asarray(fxgrad.vmap(fxgrad.grad(log1pexp))(xs)), _sigmoid(xs))


def test_custom_jvp_higher_order_and_finite_differences():
    check_grads(log1pexp, (0.3,), order=2)
    s = _sigmoid(0.0)
    np.testing.assert_allclose(float(fxgrad.grad(fxgrad.grad(log1pexp))(0.0)), s * (1 - s))


def test_custom_jvp_inside_scan_and_cond():
    def f(x):
        carry, _ = lax.scan(lambda c, _: (log1pexp(c), None), x, None, length=3)
        return lax.cond(x > 0, log1pexp, lambda v: v, carry)

    check_grads(f, (0.5,), order=1)


def test_defjvps_and_nondiff_argnums():
    @fxgrad.custom_jvp
    def scaled(x, y):
        return x * y

    scaled.defjvps(lambda t, out, x, y: t * y, lambda t, out, x, y: t * x)
    check_grads(scaled, (1.5, -0.5), order=1)

    from functools import partial

    @partial(fxgrad.custom_jvp, nondiff_argnums=(0,))
    def app(f, x):
        return f(x)

    @app.defjvp
    def _app_jvp(f, primals, tangents):
        (x,), (t,) = primals, tangents
        return app(f, x), 2.0 * t

    assert float(fxgrad.grad(lambda x: app(fnp.sin, x))(0.3)) == 2.0


def test_custom_jvp_rule_with_wrong_shape_is_named():
    @fxgrad.custom_jvp
    def f(x):
        return x

    f.defjvp(lambda p, t: (p[0], fnp.ones(3)))
    with pytest.raises(FxgradTypeError, match="JVP rule of custom_jvp function f.*shape"):
        fxgrad.grad(f)(1.0)


@fxgrad.custom_vjp
def clip_gradient(x):
    return x


clip_gradient.defvjp(lambda x: (x, None), lambda _, g: (fnp.clip(g, -1.0, 1.0),))


def test_custom_vjp_clips_gradients_under_jit_and_vmap():
    assert float(fxgrad.grad(lambda x: 3.0 * clip_gradient(x))(2.0)) == 1.0
    assert float(fxgrad.jit(fxgrad.grad(lambda x: 3.0 * clip_gradient(x)))(2.0)) == 1.0
    out = fxgrad.vmap(fxgrad.grad(lambda x: 3.0 * clip_gradient(x) * x))(fnp.array([0.1, 2.0]))
    np.testing.assert_allclose(np.asarray(out), [0.6, 7.0])


def test_custom_vjp_matches_finite_differences_and_rejects_jvp():
    @fxgrad.custom_vjp
    def f(x, y):
        return fnp.sin(x) * y

    f.defvjp(
        lambda x, y: (f(x, y), (fnp.cos(x), fnp.sin(x), y)),
        lambda res, g: (res[0] * res[2] * g, res[1] * g),
    )
    check_grads(f, (0.4, 1.3), order=1, modes=("rev",))
    with pytest.raises(FxgradTypeError, match="forward-mode"):
        fxgrad.jvp(f, (0.4, 1.3), (1.0, 0.0))


def test_custom_vjp_bwd_with_wrong_structure_is_named():
    @fxgrad.custom_vjp
    def f(x):
        return x

    f.defvjp(lambda x: (x, None), lambda r, g: (g, g))
    with pytest.raises(FxgradTypeError, match="bwd rule of custom_vjp function f"):
        fxgrad.grad(f)(1.0)


def test_implicit_fixed_point_differentiation():
    # x* = tanh(a x*) solved by iteration; d x*/d a by the implicit function theorem.
    @fxgrad.custom_vjp
    def fixed_point(a):
        return lax.fori_loop(0, 200, lambda i, x: fnp.tanh(a * x + 0.5), 0.0)

    def fwd(a):
        x = fixed_point(a)
        return x, (a, x)

    def bwd(res, g):
        a, x = res
        dfdx = a * (1 - fnp.tanh(a * x + 0.5) ** 2)
        dfda = x * (1 - fnp.tanh(a * x + 0.5) ** 2)
        return (g * dfda / (1 - dfdx),)

    fixed_point.defvjp(fwd, bwd)
    a = 0.4
    eps = 1e-6
    fd = (float(fixed_point(a + eps)) - float(fixed_point(a - eps))) / (2 * eps)
    np.testing.assert_allclose(float(fxgrad.grad(fixed_point)(a)), fd, rtol=1e-6)


# --- calling conventions and rule errors (shared by custom_jvp and custom_vjp) ---------------


def _identity_jvp():
    @fxgrad.custom_jvp
    def f(x):
        return x

    return f


def _identity_vjp():
    @fxgrad.custom_vjp
    def f(x):
        return x

    return f


@pytest.mark.parametrize(
    "make, kind", [(_identity_jvp, "custom_jvp"), (_identity_vjp, "custom_vjp")]
)
def test_keyword_arguments_are_rejected(make, kind):
    f = make()
    with pytest.raises(TypeError, match=rf"{kind} function f takes positional arguments only.*'x'"):
        f(x=1.0)


def test_missing_rules_name_the_function_and_the_fix():
    with pytest.raises(MissingRuleError, match=r"No JVP rule .* custom_jvp function f.*f\.defjvp"):
        _identity_jvp()(1.0)
    g = _identity_vjp()
    with pytest.raises(
        MissingRuleError, match=r"No VJP rule .* custom_vjp function f.*defvjp\(fwd"
    ):
        g(1.0)


def test_rules_that_do_not_return_a_pair_are_named():
    f = _identity_jvp()
    f.defjvp(lambda p, t: p[0])
    with pytest.raises(FxgradTypeError, match=r"JVP rule .* pair \(primal_out, tangent_out\)"):
        fxgrad.jvp(f, (1.0,), (1.0,))
    g = _identity_vjp()
    g.defvjp(lambda x: x, lambda r, ct: (ct,))
    with pytest.raises(FxgradTypeError, match=r"fwd rule .* pair \(output, residuals\)"):
        fxgrad.grad(g)(1.0)


def test_custom_functions_bind_as_methods():
    class Scaler:
        def __init__(self, a):
            self.a = a

        @fxgrad.custom_jvp
        def forward(self, x):
            return self.a * fnp.sin(x)

        @forward.defjvp
        def _forward_jvp(primals, tangents):
            (obj, x), (_, t) = primals, tangents
            return obj.forward(x), obj.a * fnp.cos(x) * t

    fxgrad.tree_util.register_pytree_node(
        Scaler, lambda s: ((s.a,), None), lambda _, children: Scaler(*children)
    )
    s = Scaler(2.0)
    np.testing.assert_allclose(float(s.forward(0.3)), 2.0 * np.sin(0.3))
    np.testing.assert_allclose(float(fxgrad.grad(s.forward)(0.3)), 2.0 * np.cos(0.3))


def test_vmap_of_custom_functions_with_closed_over_constants():
    c = fnp.array([1.0, -2.0, 3.0])

    @fxgrad.custom_jvp
    def f(x):
        return fnp.sum(c * fnp.sin(x))

    f.defjvp(lambda p, t: (f(p[0]), fnp.sum(c * fnp.cos(p[0]) * t[0])))

    @fxgrad.custom_vjp
    def g(x):
        return fnp.sum(c * fnp.sin(x))

    g.defvjp(lambda x: (g(x), fnp.cos(x)), lambda cos_x, ct: (ct * c * cos_x,))
    xs = np.random.RandomState(0).randn(4, 3)
    expected = np.sin(xs) @ np.array([1.0, -2.0, 3.0])
    expected_grad = np.cos(xs) * np.array([1.0, -2.0, 3.0])
    for h in (f, g):
        np.testing.assert_allclose(np.asarray(fxgrad.vmap(h)(xs)), expected)
        np.testing.assert_allclose(np.asarray(fxgrad.vmap(h, in_axes=1)(xs.T)), expected)
        np.testing.assert_allclose(np.asarray(fxgrad.vmap(fxgrad.grad(h))(xs)), expected_grad)


def test_custom_vjp_with_pytree_arguments_and_nondiff_argnums():
    from functools import partial

    @partial(fxgrad.custom_vjp, nondiff_argnums=(0,))
    def weighted(scale, params):
        return scale * fnp.sum(params["w"] * params["b"])

    def fwd(scale, params):
        return weighted(scale, params), params

    def bwd(scale, params, ct):
        return ({"b": scale * ct * params["w"], "w": scale * ct * params["b"]},)

    weighted.defvjp(fwd, bwd)
    w, b = np.array([1.0, 2.0]), np.array([3.0, -1.0])
    grads = fxgrad.grad(lambda p: weighted(2.0, p))({"w": w, "b": b})
    np.testing.assert_allclose(np.asarray(grads["w"]), 2.0 * b)
    np.testing.assert_allclose(np.asarray(grads["b"]), 2.0 * w)
