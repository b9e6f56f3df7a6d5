"""Behaviour that the fast eager paths of the core must keep.

Eager ``grad``/``vjp`` transpose the linearization's tape directly, ``bind`` finds the
top trace in one pass, ``fxgrad.numpy`` skips promotion when operands already agree,
arrays cache their abstract value and finished transformations are freed by reference
counting. Each test states a property a user relies on and checks it against NumPy,
finite differences or a plain Python loop.
"""

import dataclasses
import gc

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import fxgrad
import fxgrad.numpy as fnp
from fxgrad import core
from fxgrad.errors import UnexpectedTracerError
from fxgrad.interpreters.partial_eval import linearize_flat

RNG = np.random.default_rng(0)


def close(a, b, tol=1e-9):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=tol, atol=tol)


def _tanh_layer(w, b, x):
    return fnp.sum(fnp.tanh(x * w + b))


def _tanh_layer_grads(w, b, x):
    """The gradients of ``_tanh_layer`` with respect to w and b, by hand in NumPy."""
    d = 1.0 - np.tanh(x * w + b) ** 2
    return d * x, d


def test_grad_matches_the_gradient_written_by_hand():
    w, b, x = (RNG.normal(size=10) for _ in range(3))
    gw, gb = fxgrad.grad(_tanh_layer, argnums=(0, 1))(w, b, x)
    want_w, want_b = _tanh_layer_grads(w, b, x)
    close(gw, want_w)
    close(gb, want_b)


def test_value_and_grad_returns_the_value_and_the_gradient():
    w, b, x = (RNG.normal(size=5) for _ in range(3))
    value, g = fxgrad.value_and_grad(_tanh_layer)(w, b, x)
    close(value, np.sum(np.tanh(x * w + b)))
    close(g, _tanh_layer_grads(w, b, x)[0])


def test_a_vjp_function_can_be_applied_many_times():
    w, b, x = (RNG.normal(size=4) for _ in range(3))
    y, f_vjp = fxgrad.vjp(lambda w: fnp.tanh(x * w + b), w)
    d = 1.0 - np.tanh(x * w + b) ** 2
    for _ in range(3):
        ct = RNG.normal(size=4)
        (g,) = f_vjp(ct)
        close(g, ct * d * x)
    close(y, np.tanh(x * w + b))


def test_grad_retraces_every_call_so_changed_globals_are_seen():
    scale = {"value": 2.0}

    def f(x):
        return fnp.sum(x * scale["value"])

    g = fxgrad.grad(f)
    x = np.ones(3)
    close(g(x), np.full(3, 2.0))
    scale["value"] = 5.0
    close(g(x), np.full(3, 5.0))


def test_python_control_flow_on_concrete_values_follows_each_call():
    def f(x):
        if float(fnp.sum(x)) > 0:
            return fnp.sum(fnp.sin(x))
        return fnp.sum(fnp.cos(x))

    g = fxgrad.grad(f)
    x = np.array([0.5, 1.0])
    close(g(x), np.cos(x))
    close(g(-x), np.sin(x))


def test_tangents_of_unused_intermediates_are_not_in_the_linear_jaxpr():
    w = fnp.asarray(RNG.normal(size=3))

    def f(w):
        fnp.exp(w) * 3.0  # computed, never used
        return [fnp.sum(w * w)]

    (value,), jaxpr, residuals = linearize_flat(f, [w])
    close(value, np.sum(np.asarray(w) ** 2))
    names = [eqn.primitive.name for eqn in jaxpr.eqns]
    assert "exp" not in names
    assert names.count("mul") <= 2


def test_a_value_read_many_times_is_saved_once():
    x = fnp.asarray(RNG.normal(size=3))

    def f(w):
        return [fnp.sum(x * w + x * w * w + x * fnp.sin(w))]

    _, _, residuals = linearize_flat(f, [fnp.asarray(RNG.normal(size=3))])
    assert sum(r is x for r in residuals) <= 1


def test_finished_transformations_leave_no_reference_cycles():
    w, b, x = (fnp.asarray(RNG.normal(size=6)) for _ in range(3))
    g = fxgrad.grad(_tanh_layer)
    g(w, b, x)
    gc.collect()
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(3):
            g(w, b, x)
            fxgrad.jvp(_tanh_layer, (w, b, x), (x, b, w))
            fxgrad.vmap(fnp.sin)(w)
        assert gc.collect() == 0
    finally:
        if was_enabled:
            gc.enable()


def test_a_tracer_escaping_grad_is_still_detected():
    leaked = []

    def f(x):
        leaked.append(x)
        return fnp.sum(x * x)

    fxgrad.grad(f)(np.ones(2))
    with pytest.raises(UnexpectedTracerError, match="escaped"):
        fnp.sin(leaked[0])


def test_a_dead_tracer_is_detected_even_above_live_ones():
    leaked = []

    def inner(x):
        leaked.append(x)
        return fnp.sum(x)

    def outer(y):
        fxgrad.grad(inner)(y)  # the inner transformation finishes here
        return fnp.sum(leaked[0] * y)

    with pytest.raises(UnexpectedTracerError):
        fxgrad.grad(outer)(np.ones(2))


@given(
    st.sampled_from([(3,), (2, 3), (1, 3), (3, 1)]),
    st.sampled_from([(3,), (1,), (), (2, 1, 1)]),
    st.sampled_from(["float32", "float64"]),
)
def test_grad_through_promotion_and_broadcasting_matches_numpy(shape_x, shape_y, dtype):
    x = RNG.normal(size=shape_x).astype(dtype)
    y = RNG.normal(size=shape_y)  # float64: promotes float32 operands

    def f(x, y):
        return fnp.sum(fnp.sin(x * y) + x)

    gx, gy = fxgrad.grad(f, argnums=(0, 1))(x, y)
    shape = np.broadcast_shapes(x.shape, y.shape)
    dz = np.cos(x * y)
    want_x = _unbroadcast(np.broadcast_to(dz * y + 1.0, shape), x.shape)
    want_y = _unbroadcast(np.broadcast_to(dz * x, shape), y.shape)
    assert np.asarray(gx).dtype == np.dtype(dtype)
    tol = 1e-5 if dtype == "float32" else 1e-9
    close(gx, want_x, tol)
    close(gy, want_y, tol)


def _unbroadcast(g, shape):
    """Sum ``g`` down to ``shape`` (the inverse of NumPy broadcasting)."""
    g = g.sum(tuple(range(g.ndim - len(shape))))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and g.shape[i] != 1)
    return g.sum(axes, keepdims=True).reshape(shape)


def test_integer_inputs_still_name_the_argument():
    with pytest.raises(TypeError, match=r"argument 1\['k'\] has dtype int"):
        fxgrad.grad(lambda a, b: fnp.sum(a) + fnp.sum(b["k"]), argnums=(0, 1))(
            np.ones(2), {"k": np.arange(2)}
        )


def test_invalid_leaves_still_name_the_argument():
    with pytest.raises(TypeError, match="argument 0 of grad"):
        fxgrad.grad(lambda a: a)("not an array")


def test_an_array_keeps_its_abstract_value_and_stays_read_only():
    a = fnp.asarray(np.arange(3.0))
    aval = core.get_aval(a)
    assert aval == core.ShapedArray((3,), np.dtype("float64"), False)
    assert core.get_aval(a) is aval
    weak = fnp.asarray(2.0) * 1.5
    assert core.get_aval(weak).weak_type == weak.weak_type
    out = a + a
    with pytest.raises(ValueError):
        np.asarray(out)[0] = 1.0


def test_tangent_types_do_not_change_what_an_abstract_value_is():
    aval = core.ShapedArray((2,), np.dtype("int32"))
    tangent = core.tangent_aval(aval)
    assert tangent.dtype == fxgrad.dtypes.float0
    assert aval == core.ShapedArray((2,), np.dtype("int32"))
    assert hash(aval) == hash(core.ShapedArray((2,), np.dtype("int32")))
    wider = dataclasses.replace(aval, shape=(5,))
    assert core.tangent_aval(wider).shape == (5,)


def test_jacobians_with_aux_and_several_arguments_match_finite_differences():
    a, b = RNG.normal(size=3), RNG.normal(size=2)

    def f(a, b):
        return fnp.outer(fnp.sin(a), b), fnp.sum(a)

    for jac in (fxgrad.jacfwd, fxgrad.jacrev):
        (ja, jb), aux = jac(f, argnums=(0, 1), has_aux=True)(a, b)
        want_a = np.einsum("ij,ik->ijk", np.outer(np.cos(a), b), np.eye(3))
        want_b = np.einsum("i,jk->ijk", np.sin(a), np.eye(2))
        close(ja, want_a)
        close(jb, want_b)
        close(aux, np.sum(a))


def test_hessian_through_the_tape_matches_the_analytic_one():
    x = RNG.normal(size=3)
    h = fxgrad.hessian(lambda x: fnp.sum(fnp.sin(x) * x[0]))(x)
    want = np.diag(-np.sin(x) * x[0])
    want[0, :] += np.cos(x)
    want[:, 0] += np.cos(x)
    close(h, want)


_EAGER_DTYPES = [np.float32, np.float64, np.int8, np.int32, np.int64, np.uint8, np.bool_]


@given(
    dtype=st.sampled_from(_EAGER_DTYPES),
    shape=st.sampled_from([(), (4,), (2, 3)]),
    op=st.sampled_from(["add", "multiply", "maximum", "exp", "sin", "negative"]),
)
def test_eager_ops_on_same_typed_arrays_match_numpy(dtype, shape, op):
    # the eager fast path (no promotion, no dispatch) keeps NumPy's dtypes and values,
    # and the result is a read-only, strongly typed Array like any other
    x = (RNG.standard_normal(shape) * 3).astype(dtype)
    y = (RNG.standard_normal(shape) * 3 + 1).astype(dtype)
    fn = getattr(fnp, op)
    unary = op in ("exp", "sin", "negative")
    if op == "negative" and dtype == np.bool_:
        return
    got = fn(fnp.asarray(x)) if unary else fn(fnp.asarray(x), fnp.asarray(y))
    if op in ("exp", "sin") and np.dtype(dtype).kind not in "fc":
        x = x.astype(np.float64)  # integers promote to the default float, as in JAX
    with np.errstate(all="ignore"):
        want = getattr(np, op)(x) if unary else getattr(np, op)(x, y)
    assert got.dtype == want.dtype and not got.weak_type
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-6 if dtype == np.float32 else 1e-12)


def test_eager_fast_paths_keep_their_errors_and_promotions():
    with pytest.raises(fxgrad.errors.ShapeError, match="fxgrad.numpy.add"):
        fnp.add(fnp.ones(3), fnp.ones(4))
    with pytest.raises(fxgrad.errors.ShapeError, match="fxgrad.numpy.matmul"):
        fnp.ones((3, 4)) @ fnp.ones((3, 4))
    # operands of different dtypes, or weakly typed, take the promoting path
    assert (fnp.ones(2, np.float32) + fnp.ones(2, np.int64)).dtype == np.float64
    assert (fnp.ones(2, np.float32) + 1.5).dtype == np.float32
    assert fnp.sum(fnp.ones(3, np.int8)).dtype == np.int64
    assert fnp.sum(fnp.ones(3, np.float32)).dtype == np.float32


@pytest.mark.parametrize("axis", [None, 0, 1, -1, (0, 1)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
def test_eager_sum_matches_numpy(axis, dtype):
    x = RNG.integers(-5, 5, (3, 4)).astype(dtype)
    got = fnp.sum(fnp.asarray(x), axis=axis)
    want = np.sum(x, axis=axis)
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_array_equal(np.asarray(got), want)
    np.testing.assert_array_equal(
        np.asarray(fnp.sum(fnp.asarray(x), axis=axis, keepdims=True)),
        np.sum(x, axis=axis, keepdims=True),
    )


@pytest.mark.parametrize("shapes", [((3, 4), (4,)), ((4,), (4, 2)), ((4,), (4,)), ((3, 4), (4, 2))])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32, np.complex128])
def test_eager_matmul_matches_numpy(shapes, dtype):
    a, b = (RNG.integers(-3, 4, s).astype(dtype) for s in shapes)
    got = fnp.asarray(a) @ fnp.asarray(b)
    want = a @ b
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_allclose(np.asarray(got), want)


@pytest.mark.parametrize("weak", [True, False])
def test_eager_convert_keeps_the_weak_type_param_as_jit_does(weak):
    from fxgrad import lax

    def convert(v):
        return lax.convert_element_type_p.bind(v, new_dtype=np.dtype("float32"), weak_type=weak)

    x = fnp.ones(2, np.int32)
    eager, jitted = convert(x), fxgrad.jit(convert)(x)
    assert eager.weak_type is weak and jitted.weak_type is weak
    assert eager.dtype == jitted.dtype == np.float32
