"""Tests of the jaxpr simplification passes (fxgrad/lowering/simplify.py).

Every pass is checked on small staged programs for the structure it should produce,
and, on every program here plus hypothesis-generated ones, for exactness: the
simplified jaxpr must type-check, have no more equations and the same output types
(weak types included), and evaluate to bit-identical values (signed zeros and NaNs
included) on random inputs with special values.
"""

from __future__ import annotations

import doctest

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import fxgrad
import fxgrad.numpy as fnp
from fxgrad import lax
from fxgrad.core import Primitive, ShapedArray
from fxgrad.jaxpr import ClosedJaxpr, Jaxpr, JaxprEqn, Literal, Var, check_jaxpr, eval_jaxpr
from fxgrad.lax._define import primitives
from fxgrad.lowering import simplify as simp

P = primitives
F64 = np.dtype("float64")
SPECIAL = np.array([0.0, -0.0, 1.0, -1.0, np.inf, -np.inf, np.nan, 2.5, -3.75, 1e-310])

# ---------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------


def _random_args(closed: ClosedJaxpr, rng: np.random.Generator) -> list[np.ndarray]:
    args = []
    for aval in closed.in_avals:
        dtype = np.dtype(aval.dtype)
        if dtype.kind == "f":
            pool = np.concatenate([SPECIAL, rng.standard_normal(8)]).astype(dtype)
            x = rng.choice(pool, size=aval.shape)
        elif dtype.kind == "b":
            x = rng.integers(0, 2, size=aval.shape).astype(bool)
        else:
            x = rng.integers(-5, 6, size=aval.shape).astype(dtype)
        args.append(np.asarray(x, dtype=dtype))
    return args


def _assert_identical(a, b) -> None:
    a, b = np.asarray(a), np.asarray(b)
    assert a.dtype == b.dtype and a.shape == b.shape, (a.dtype, a.shape, b.dtype, b.shape)
    if a.dtype.kind in "fc":
        np.testing.assert_array_equal(np.isnan(a), np.isnan(b))
        ok = ~np.isnan(a)
        np.testing.assert_array_equal(a[ok], b[ok])
        np.testing.assert_array_equal(np.signbit(a.real[ok]), np.signbit(b.real[ok]))
    else:
        np.testing.assert_array_equal(a, b)


def _num_eqns(closed: ClosedJaxpr) -> int:
    return len(closed.jaxpr.eqns)


def _check_equivalent(before: ClosedJaxpr, after: ClosedJaxpr, seed: int = 0) -> None:
    check_jaxpr(after.jaxpr)
    assert _num_eqns(after) <= _num_eqns(before)
    assert after.out_avals == before.out_avals  # ShapedArray equality includes weak_type
    assert after.in_avals == before.in_avals
    rng = np.random.default_rng(seed)
    for _ in range(3):
        args = _random_args(before, rng)
        with np.errstate(all="ignore"):  # some impls (reduce_sum) warn on inf - inf
            want = eval_jaxpr(before.jaxpr, before.consts, *args)
            got = eval_jaxpr(after.jaxpr, after.consts, *args)
        for w, g in zip(want, got, strict=True):
            _assert_identical(w, g)


def _run_each_pass(closed: ClosedJaxpr) -> ClosedJaxpr:
    """Every pass alone, then ``simplify``; all checked for equivalence. Returns the latter."""
    for _, run in simp.PASSES:
        _check_equivalent(closed, run(closed))
    result = simp.simplify(closed, check=True)
    _check_equivalent(closed, result)
    return result


def _prims(closed: ClosedJaxpr) -> list[str]:
    return [e.primitive.name for e in closed.jaxpr.eqns]


def _jaxpr(fun, *args) -> ClosedJaxpr:
    return fxgrad.make_jaxpr(fun)(*args)


X = np.linspace(-1.0, 1.0, 6).reshape(2, 3)
V = np.linspace(-1.0, 1.0, 3)

# ---------------------------------------------------------------------------------------
# DCE
# ---------------------------------------------------------------------------------------


def test_dce_removes_unused_equations_and_constants():
    k = np.array([1.0, 2.0, 3.0])

    def f(x):
        _ = fnp.sin(x) * k  # dead, with its constant
        return fnp.cos(x)

    closed = _jaxpr(f, V)
    out = simp.dce(closed)
    assert _prims(out) == ["cos"]
    assert out.consts == () and out.jaxpr.num_consts == 0
    _check_equivalent(closed, out)
    assert simp.dce(out) is out  # a fixed point is returned unchanged


def test_dce_keeps_inputs_even_when_unused():
    closed = _jaxpr(lambda x, y: fnp.sin(x), V, V)
    out = simp.dce(closed)
    assert len(out.jaxpr.invars) == 2


_effect_log: list = []


def _make_effectful() -> Primitive:
    prim = Primitive("test_effect")
    prim.effectful = True

    def impl(x):
        _effect_log.append(1)
        return np.asarray(x)

    prim.impl = impl
    prim.abstract_eval = lambda x: x
    return prim


effect_p = _make_effectful()


def test_dce_never_removes_effectful_equations():
    def f(x):
        effect_p.bind(x)  # result unused
        return fnp.cos(x)

    closed = _jaxpr(f, V)
    for _, run in simp.PASSES:
        assert "test_effect" in _prims(run(closed))
    assert _prims(simp.simplify(closed)) == ["test_effect", "cos"]


def test_dce_keeps_calls_with_effects_inside():
    def f(x):
        fxgrad.jit(lambda v: effect_p.bind(v) + 1.0)(x)
        return fnp.cos(x)

    out = simp.simplify(_jaxpr(f, V))
    assert _prims(out) == ["pjit", "cos"]
    assert "test_effect" in _prims(out.jaxpr.eqns[0].params["jaxpr"])


def test_dce_prunes_unused_outputs_and_inputs_of_jit_calls():
    inner = fxgrad.jit(lambda a, b: (fnp.sin(a), fnp.cos(b), a * b))

    def f(x, y):
        s, c, p = inner(x, y)
        return s * 2.0

    closed = _jaxpr(f, V, V)
    out = simp.dce(closed)
    call = out.jaxpr.eqns[0]
    assert call.primitive.name == "pjit" and len(call.inputs) == 1 and len(call.out_binders) == 1
    assert _prims(call.params["jaxpr"]) == ["sin"]
    check_jaxpr(call.params["jaxpr"].jaxpr)
    _check_equivalent(closed, out)


def test_dce_removes_a_call_whose_outputs_are_all_unused():
    def f(x):
        fxgrad.jit(fnp.sin)(x)
        return x * 2.0

    out = simp.dce(_jaxpr(f, V))
    assert "pjit" not in _prims(out)


def test_passes_recurse_into_call_bodies_and_keep_sharing():
    body = fxgrad.jit(lambda a: fnp.transpose(fnp.transpose(a)) * 1.0 + fnp.sin(a) * fnp.sin(a))

    def f(x):
        return body(x) + body(x)

    closed = _jaxpr(f, X)
    out = _run_each_pass(closed)
    # both calls shared one body object, so CSE still merges them after rewriting it
    assert _prims(out) == ["pjit", "add"]
    assert _prims(out.jaxpr.eqns[0].params["jaxpr"]) == ["sin", "mul", "add"]


def _make_body_call() -> Primitive:
    """A primitive applying its ``body`` param (a Jaxpr whose constvars are its leading
    inputs, or a ClosedJaxpr), as control-flow primitives do; not a ``jit`` call."""
    prim = Primitive("test_body_call", multiple_results=True)

    def impl(*args, body):
        if isinstance(body, ClosedJaxpr):
            return [np.asarray(v) for v in eval_jaxpr(body.jaxpr, body.consts, *args)]
        consts, rest = args[: body.num_consts], args[body.num_consts :]
        return [np.asarray(v) for v in eval_jaxpr(body, consts, *rest)]

    prim.impl = impl
    prim.abstract_eval = lambda *avals, body: list(body.out_avals)
    return prim


body_call_p = _make_body_call()


@pytest.mark.parametrize("closed_body", [False, True])
def test_passes_simplify_nested_bodies_keeping_their_signature(closed_body):
    k = np.array([1.0, 2.0, 3.0])
    body = _jaxpr(lambda x: (fnp.sin(x) * 1.0 + x * k, x * 2.0), V)  # k is a constvar
    assert body.jaxpr.num_consts == 1
    param = body if closed_body else body.jaxpr

    def fun(x):
        consts = () if closed_body else (np.asarray(k),)
        return body_call_p.bind(*consts, x, body=param)

    closed = _jaxpr(fun, V)
    out = _run_each_pass(closed)
    new_body = out.jaxpr.eqns[-1].params["body"]
    assert type(new_body) is type(param)
    inner = new_body.jaxpr if closed_body else new_body
    assert len(inner.invars) == 1 and len(inner.outs) == 2  # the signature is kept
    if not closed_body:
        assert inner.in_binders == param.in_binders and inner.num_consts == 1
    assert "mul" in _prims(ClosedJaxpr(inner, ())) and len(inner.eqns) < len(body.jaxpr.eqns)


# ---------------------------------------------------------------------------------------
# CSE
# ---------------------------------------------------------------------------------------


def test_cse_merges_equal_equations():
    def f(x, y):
        return fnp.sin(x) + fnp.sin(x), x * y - y * x, fnp.exp(x)

    closed = _jaxpr(f, V, V)
    out = simp.dce(simp.cse(closed))
    assert sorted(_prims(out)) == sorted(["sin", "add", "mul", "sub", "exp"])
    _check_equivalent(closed, out)


def test_cse_does_not_swap_max_or_min_operands():
    # max(-0., 0.) is -0. but max(0., -0.) is 0.: not commutative bit for bit
    closed = _jaxpr(lambda x, y: (fnp.maximum(x, y), fnp.maximum(y, x)), V, V)
    assert _prims(simp.dce(simp.cse(closed))) == ["max", "max"]


def test_cse_distinguishes_params_and_literal_dtypes():
    def f(x):
        return fnp.sum(x, axis=0), fnp.sum(x, axis=1), lax.integer_pow(x, 2), lax.integer_pow(x, 3)

    closed = _jaxpr(f, X)
    assert simp.cse(closed) is closed

    a = Var(ShapedArray((), F64))
    b, c = Var(ShapedArray((), F64)), Var(ShapedArray((), F64))
    strong = Literal(np.float64(2.0), ShapedArray((), F64))
    weak = Literal(np.float64(2.0), ShapedArray((), F64, True))
    neg_zero = Literal(np.float64(-0.0), ShapedArray((), F64))
    zero = Literal(np.float64(0.0), ShapedArray((), F64))
    mul = P["mul"]
    for lit_b, lit_c, merged in [
        (strong, strong, True),
        (strong, weak, False),
        (zero, neg_zero, False),
    ]:
        eqns = (JaxprEqn(mul, (a, lit_b), {}, (b,)), JaxprEqn(mul, (a, lit_c), {}, (c,)))
        closed = ClosedJaxpr(Jaxpr((a,), eqns, (b, c)))
        out = simp.dce(simp.cse(closed))
        assert len(out.jaxpr.eqns) == (1 if merged else 2)


def test_cse_merges_equal_constants():
    k1, k2 = np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 3.0])
    closed = _jaxpr(lambda x: fnp.sin(x * k1) + fnp.sin(x * k2), V)
    assert len(closed.consts) == 2
    out = simp.dce(simp.cse(closed))
    assert len(out.consts) == 1 and _prims(out) == ["mul", "sin", "add"]
    _check_equivalent(closed, out)


def test_cse_skips_equations_with_unhashable_params():
    opaque_p = Primitive("test_opaque")
    opaque_p.impl = lambda x, options: np.asarray(x)
    opaque_p.abstract_eval = lambda x, options: x
    closed = _jaxpr(
        lambda x: (opaque_p.bind(x, options={"a": 1}), opaque_p.bind(x, options={"a": 1})), V
    )
    assert simp.cse(closed) is closed
    keyed = _jaxpr(
        lambda x: (opaque_p.bind(x, options=np.ones(2)), opaque_p.bind(x, options=np.ones(2))), V
    )
    assert len(simp.dce(simp.cse(keyed)).jaxpr.eqns) == 1


def test_cse_keeps_effectful_equations_apart():
    closed = _jaxpr(lambda x: effect_p.bind(x) + effect_p.bind(x), V)
    assert _prims(simp.simplify(closed)).count("test_effect") == 2


# ---------------------------------------------------------------------------------------
# Constant folding
# ---------------------------------------------------------------------------------------


def test_folding_scalars_become_literals():
    def f(x):
        c = lax.exp(np.float64(0.5)) * np.float64(2.0)
        return x * c

    closed = _jaxpr(f, np.float64(1.0))
    out = simp.simplify(closed)
    assert _prims(out) == ["mul"]
    lit = out.jaxpr.eqns[0].inputs[1]
    assert isinstance(lit, Literal) and lit.val == np.exp(0.5) * 2.0
    _check_equivalent(closed, out)


def test_folding_arrays_become_constants_or_splats():
    k = np.array([1.0, 2.0, 3.0])

    def f(x):
        return x + fnp.sin(k) * 2.0, x * (fnp.ones(3) * 3.0 + 1.0)

    closed = _jaxpr(f, V)
    out = simp.simplify(closed)
    assert _prims(out) == ["add", "broadcast_in_dim", "mul"]
    np.testing.assert_array_equal(np.asarray(out.consts[0]), np.sin(k) * 2.0)
    assert out.jaxpr.eqns[1].inputs[0].val == 4.0
    _check_equivalent(closed, out)


def test_folding_keeps_broadcasts_of_constants_and_iota_unmaterialised():
    k = np.arange(300.0)

    def f(x):
        return x + fnp.broadcast_to(k, (200, 300)), lax.iota(np.int64, 50)

    closed = _jaxpr(f, np.zeros((200, 300)))
    out = simp.constant_folding(closed)
    assert "broadcast_in_dim" in _prims(out) and "iota" in _prims(out)
    assert all(np.asarray(c).size <= 300 for c in out.consts)


def test_folding_respects_the_size_cap(monkeypatch):
    monkeypatch.setattr(simp, "MAX_FOLDED_SIZE", 10)
    k = np.arange(20.0)
    closed = _jaxpr(lambda x: x + fnp.sin(k), np.zeros(20))
    assert simp.constant_folding(closed) is closed


def test_folding_skips_failing_impls():
    fail_p = Primitive("test_fail")
    fail_p.abstract_eval = lambda x: x

    def impl(x):
        raise FloatingPointError("boom")

    fail_p.impl = impl
    closed = _jaxpr(lambda x: x + fail_p.bind(np.float64(1.0)), np.float64(1.0))
    assert _prims(simp.constant_folding(closed)) == ["test_fail", "add"]


def test_folding_preserves_weak_types():
    weak = ShapedArray((), F64, True)
    x, prod, total = Var(weak), Var(weak), Var(weak)
    two, three = Literal(np.float64(2.0), weak), Literal(np.float64(3.0), weak)
    eqns = (
        JaxprEqn(P["mul"], (two, three), {}, (prod,)),
        JaxprEqn(P["add"], (x, prod), {}, (total,)),
    )
    closed = ClosedJaxpr(Jaxpr((x,), eqns, (prod, total)))
    out = _run_each_pass(closed)
    assert _prims(out) == ["add"]
    folded = out.jaxpr.outs[0]
    assert isinstance(folded, Literal) and folded.aval == weak and folded.val == 6.0


def test_folding_leaves_traced_constants_alone():
    # A jaxpr staged inside grad closes over a JVP tracer: folding sin(x) with x's
    # primal value would drop its tangent.
    captured = []

    def f(x):
        captured.append(_jaxpr(lambda y: y * x + fnp.sin(x) + fnp.sin(x), 1.0))
        return x

    fxgrad.grad(f)(2.0)
    out = simp.simplify(captured[0])
    assert _prims(out) == ["mul", "sin", "add", "add"]


# ---------------------------------------------------------------------------------------
# Algebraic identities
# ---------------------------------------------------------------------------------------


def test_identities_exact_arithmetic():
    def f(x):
        return (
            x * 1.0,
            1.0 * x,
            x / 1.0,
            x + (-0.0),
            -0.0 + x,
            x - 0.0,
            lax.neg(lax.neg(x)),
            lax.integer_pow(x, 1),
        )

    closed = _jaxpr(f, V)
    out = simp.simplify(closed)
    assert out.jaxpr.eqns == () and all(o is out.jaxpr.invars[0] for o in out.jaxpr.outs)
    _check_equivalent(closed, out)


@pytest.mark.parametrize(
    "fun",
    [
        lambda x: x + 0.0,  # -0.0 + 0.0 is +0.0
        lambda x: 0.0 + x,
        lambda x: x - (-0.0),
        lambda x: x * 0.0,  # inf * 0 is nan
        lambda x: x * 2.0,
        lambda x: x / 2.0,
        lambda x: 1.0 / x,
        lambda x: 1.0 - x,
    ],
)
def test_identities_not_exact_in_ieee_are_kept(fun):
    closed = _jaxpr(fun, V)
    out = simp.simplify(closed)
    assert len([p for p in _prims(out) if p != "broadcast_in_dim"]) == 1
    _check_equivalent(closed, out)


def test_identities_on_complex_and_int_and_weak_values():
    z = np.array([1 + 2j, -3j])
    closed = _jaxpr(lambda x: x * (1 + 0j), z)  # (1+inf j)*(1+0j) = nan+inf j in NumPy
    assert "mul" in _prims(simp.simplify(closed))
    ints = _jaxpr(lambda i: (i + 0, i * 1, i - 0, 0 + i), np.arange(3))
    assert simp.simplify(ints).jaxpr.eqns == ()
    # a weak scalar times a strong 1.0 is strong: replacing it by x would change the type
    weak_x = Var(ShapedArray((), F64, True))
    out_var = Var(ShapedArray((), F64))
    one = Literal(np.float64(1.0), ShapedArray((), F64))
    eqn = JaxprEqn(P["mul"], (weak_x, one), {}, (out_var,))
    closed = ClosedJaxpr(Jaxpr((weak_x,), (eqn,), (out_var,)))
    assert simp.algebraic_identities(closed) is closed


def test_identities_layout_chains():
    def f(x):
        t = fnp.transpose(fnp.transpose(x))
        r = fnp.reshape(fnp.reshape(x, (6,)), (3, 2))
        s = fnp.squeeze(fnp.expand_dims(x, 0), 0)
        b = lax.broadcast_in_dim(lax.broadcast_in_dim(V, (3, 3), (1,)), (4, 3, 3), (1, 2))
        return t, r, s, b

    closed = _jaxpr(f, X)
    out = _run_each_pass(closed)
    assert _prims(out) == ["reshape", "broadcast_in_dim"]
    assert out.jaxpr.outs[0] is out.jaxpr.invars[0] and out.jaxpr.outs[2] is out.jaxpr.invars[0]
    bcast = out.jaxpr.eqns[1]
    assert bcast.params["broadcast_dimensions"] == (2,) and bcast.params["shape"] == (4, 3, 3)


def test_identities_broadcast_of_keepdims_reduction():
    def f(x):
        return x - fnp.broadcast_to(fnp.sum(x, axis=1, keepdims=True), (3, 4))

    closed = _jaxpr(f, np.arange(12.0).reshape(3, 4))
    out = _run_each_pass(closed)
    assert _prims(out) == ["reduce_sum", "broadcast_in_dim", "sub"]
    assert out.jaxpr.eqns[1].params["broadcast_dimensions"] == (0,)


def test_identities_broadcast_of_other_reshapes_is_kept():
    def f(x):
        return lax.broadcast_in_dim(fnp.reshape(x, (2, 6)), (5, 2, 6), (1, 2))

    closed = _jaxpr(f, np.arange(12.0).reshape(3, 4))
    assert _prims(_run_each_pass(closed)) == ["reshape", "broadcast_in_dim"]


def test_identities_compose_permutations():
    def f(x):
        return fnp.transpose(fnp.transpose(x, (1, 2, 0)), (1, 2, 0))

    closed = _jaxpr(f, np.arange(24.0).reshape(2, 3, 4))
    out = _run_each_pass(closed)
    assert _prims(out) == ["transpose"]
    assert out.jaxpr.eqns[0].params["permutation"] == (2, 0, 1)


def test_identities_noop_layout_ops_and_casts():
    def f(x):
        return (
            P["transpose"].bind(x, permutation=(0, 1)),
            P["reshape"].bind(x, new_sizes=(2, 3), dimensions=None),
            P["broadcast_in_dim"].bind(x, shape=(2, 3), broadcast_dimensions=(0, 1)),
            P["squeeze"].bind(x, dimensions=()),
            P["convert_element_type"].bind(x, new_dtype=F64, weak_type=False),
            P["reduce_max"].bind(x, axes=()),
            P["reduce_prod"].bind(x, axes=()),
        )

    closed = _jaxpr(f, X)
    out = _run_each_pass(closed)
    assert out.jaxpr.eqns == ()


def test_identities_float_sum_over_no_axes_is_kept():
    # NumPy's sum starts from +0.0: np.sum(-0.0, axis=()) is +0.0
    closed = _jaxpr(lambda x: P["reduce_sum"].bind(x, axes=()), X)
    assert _prims(_run_each_pass(closed)) == ["reduce_sum"]
    ints = _jaxpr(lambda x: P["reduce_sum"].bind(x, axes=()), np.arange(3))
    assert _run_each_pass(ints).jaxpr.eqns == ()


def test_identities_keep_reshapes_with_dimensions():
    def f(x):
        y = P["reshape"].bind(x, new_sizes=(6,), dimensions=(0, 1))
        return P["reshape"].bind(y, new_sizes=(2, 3), dimensions=None)

    closed = _jaxpr(f, X)
    assert _prims(_run_each_pass(closed)) == ["reshape", "reshape"]


def test_identities_keep_casts_that_change_type():
    closed = _jaxpr(lambda x: lax.convert_element_type(x, np.float32), X)
    assert _prims(simp.simplify(closed)) == ["convert_element_type"]


def test_identities_select_with_known_predicate():
    def f(x, y):
        return (
            fnp.where(True, x, y),
            fnp.where(False, x, y),
            lax.select_n(np.int32(5), x, y, x * 2.0),  # clipped to the last case
            lax.select_n(x > 0, y, y),
        )

    closed = _jaxpr(f, V, V)
    out = _run_each_pass(closed)
    a, b = out.jaxpr.invars
    assert out.jaxpr.outs[0] is a and out.jaxpr.outs[1] is b and out.jaxpr.outs[3] is b


def test_rewritten_equations_keep_source_info():
    # tests run with enable_checks, so staging records where each equation came from
    def f(x):
        return fnp.transpose(fnp.transpose(x, (1, 2, 0)), (1, 2, 0)) + fnp.ones((2, 3, 4)) * 2.0

    closed = _jaxpr(f, np.zeros((3, 4, 2)))
    out = simp.simplify(closed)
    assert len(out.jaxpr.eqns) == 3
    assert all(e.source_info and "test_simplify.py" in e.source_info for e in out.jaxpr.eqns)


# ---------------------------------------------------------------------------------------
# simplify: fixed point, dumps, programs from transformations
# ---------------------------------------------------------------------------------------


def test_simplify_dumps_each_changing_pass_and_reaches_a_fixed_point():
    seen = []
    closed = _jaxpr(lambda x: fnp.sin(x) * 1.0 + fnp.sin(x), V)
    out = simp.simplify(closed, dump=lambda name, j: seen.append((name, str(j))))
    assert seen[0] == ("input", str(closed))
    names = {name for name, _ in seen}
    assert {"algebraic_identities", "cse", "dce"} <= names
    assert seen[-1][1] == str(out)
    for _, run in simp.PASSES:
        assert run(out) is out


def test_simplify_accepts_open_jaxprs_and_rejects_unbound_constvars():
    closed = _jaxpr(lambda x: x * 1.0, V)
    out = simp.simplify(closed.jaxpr)
    assert isinstance(out, ClosedJaxpr) and out.jaxpr.eqns == ()
    k = np.arange(3.0)
    with_consts = _jaxpr(lambda x: x * k, V)
    with pytest.raises(ValueError, match="constvars"):
        simp.simplify(with_consts.jaxpr)


def test_simplify_max_iterations_and_pass_selection():
    closed = _jaxpr(lambda x: fnp.sin(x) * 1.0, V)
    only_cse = simp.simplify(closed, passes=(("cse", simp.cse),))
    assert only_cse is closed
    one_round = simp.simplify(closed, max_iterations=1)
    assert _prims(one_round) == ["sin"]


def test_docstring_examples_run():
    failures, _ = doctest.testmod(simp)
    assert failures == 0


@pytest.mark.parametrize(
    "fun",
    [
        fxgrad.grad(lambda x: fnp.sum(fnp.tanh(x) * 2.0)),
        fxgrad.grad(lambda x: fnp.sum(fnp.where(x > 0, x * x, fnp.sin(x)))),
        fxgrad.jacfwd(lambda x: fnp.exp(x) * x),
        fxgrad.hessian(lambda x: fnp.sum(fnp.sin(x) ** 3)),
        fxgrad.vmap(lambda x: fnp.sum(fnp.transpose(fnp.outer(x, x)) / 1.0)),
    ],
)
def test_simplify_programs_from_transformations(fun):
    closed = _jaxpr(fun, V)
    out = _run_each_pass(closed)
    assert _num_eqns(out) < _num_eqns(closed)


# ---------------------------------------------------------------------------------------
# Hypothesis: random programs
# ---------------------------------------------------------------------------------------

K = np.array([[0.5, -0.0, 2.0], [1.0, 1.0, 1.0]])

# Each op takes two earlier values (all of shape (2, 3)) and returns one.
_FLOAT_OPS = [
    lambda a, b: a + b,
    lambda a, b: a - b,
    lambda a, b: a * b,
    lambda a, b: a / b,
    lambda a, b: fnp.maximum(a, b),
    lambda a, b: fnp.sin(a),
    lambda a, b: fnp.exp(a),
    lambda a, b: -a,
    lambda a, b: lax.neg(lax.neg(a)),
    lambda a, b: a * 1.0,
    lambda a, b: 1.0 * a,
    lambda a, b: a + 0.0,
    lambda a, b: a + (-0.0),
    lambda a, b: a - 0.0,
    lambda a, b: a * 0.0,
    lambda a, b: a / 1.0,
    lambda a, b: a * (fnp.ones((2, 3), a.dtype) * 2.0 - 1.0),
    lambda a, b: a + fnp.zeros((2, 3), a.dtype),
    lambda a, b: a * K.astype(a.dtype) + fnp.sin(K.astype(a.dtype)),
    lambda a, b: fnp.transpose(fnp.transpose(a)),
    lambda a, b: fnp.reshape(fnp.reshape(a, (3, 2)), (2, 3)),
    lambda a, b: fnp.squeeze(fnp.expand_dims(a, 0), 0),
    lambda a, b: fnp.broadcast_to(fnp.sum(a, axis=0), (2, 3)),
    lambda a, b: fnp.broadcast_to(fnp.sum(fnp.broadcast_to(a, (4, 2, 3)), axis=0), (2, 3)),
    lambda a, b: fnp.where(True, a, b),
    lambda a, b: fnp.where(a > b, a, b),
    lambda a, b: lax.select_n(np.int32(2), a, b, a),
    lambda a, b: lax.integer_pow(a, 1),
    lambda a, b: lax.integer_pow(a, 2),
    lambda a, b: a.astype(a.dtype),
    lambda a, b: lax.convert_element_type(lax.convert_element_type(a, np.float32), a.dtype),
    lambda a, b: P["reduce_sum"].bind(a, axes=()),
    lambda a, b: fnp.sin(a) + fnp.sin(a),
    lambda a, b: fxgrad.jit(lambda u, v: (u * v, u + 1.0))(a, b)[0],
    lambda a, b: a * b + b * a,
    lambda a, b: fnp.where(fnp.ones((2, 3)) > 0, a, b),
    lambda a, b: a + (-fnp.zeros((2, 3), a.dtype)),
    lambda a, b: a + (fnp.zeros((2, 3), a.dtype) - 0.0),
    lambda a, b: a * fnp.exp(fnp.full((2, 3), -0.0, a.dtype)),
    lambda a, b: a + fnp.sum(K).astype(a.dtype),
    lambda a, b: fnp.sum(a * a, axis=1, keepdims=True) * b,
]

_INT_OPS = [
    lambda a, b: a + b,
    lambda a, b: a - b,
    lambda a, b: a * b,
    lambda a, b: a + 0,
    lambda a, b: 0 + a,
    lambda a, b: a * 1,
    lambda a, b: a - 0,
    lambda a, b: a // 1,
    lambda a, b: lax.neg(lax.neg(a)),
    lambda a, b: a * (fnp.ones((2, 3), a.dtype) + 1),
    lambda a, b: fnp.transpose(fnp.transpose(a)),
    lambda a, b: fnp.where(False, a, b),
    lambda a, b: fnp.maximum(a, b) + fnp.maximum(a, b),
]


def _program(ops, steps):
    def fun(x, y):
        vals = [x, y]
        for op_index, i, j in steps:
            op = ops[op_index % len(ops)]
            vals.append(op(vals[i % len(vals)], vals[j % len(vals)]))
        return vals[-1], vals[len(vals) // 2], fnp.sum(vals[-1])

    return fun


_steps = st.lists(
    st.tuples(st.integers(0, 100), st.integers(0, 100), st.integers(0, 100)),
    min_size=1,
    max_size=8,
)


@given(steps=_steps, dtype=st.sampled_from([np.float64, np.float32]), seed=st.integers(0, 9))
def test_random_float_programs_are_simplified_exactly(steps, dtype, seed):
    args = (np.zeros((2, 3), dtype), np.zeros((2, 3), dtype))
    closed = _jaxpr(_program(_FLOAT_OPS, steps), *args)
    for _, run in simp.PASSES:
        _check_equivalent(closed, run(closed), seed)
    result = simp.simplify(closed, check=True)
    _check_equivalent(closed, result, seed)
    assert all(run(result) is result for _, run in simp.PASSES)  # a fixed point


@given(steps=_steps, seed=st.integers(0, 9))
def test_random_int_programs_are_simplified_exactly(steps, seed):
    args = (np.zeros((2, 3), np.int32), np.zeros((2, 3), np.int32))
    closed = _jaxpr(_program(_INT_OPS, steps), *args)
    _check_equivalent(closed, simp.simplify(closed, check=True), seed)


# ---------------------------------------------------------------------------------------
# Every op record: its program and its JVP / VJP programs
# ---------------------------------------------------------------------------------------

from tests.op_records import all_records  # noqa: E402

_RECORDS = all_records()


def _record_programs(record):
    def primal(*args):
        return record.fun(*args, *record.static_args)

    def jvp(*args):
        return fxgrad.jvp(primal, args, args)

    def vjp(*args):
        out, pullback = fxgrad.vjp(primal, *args)
        return pullback(out)

    programs = [primal]
    if record.grad_order and "fwd" in record.grad_modes:
        programs.append(jvp)
    if record.grad_order and "rev" in record.grad_modes:
        programs.append(vjp)
    return programs


@pytest.mark.parametrize("record", [pytest.param(r, id=r.name) for r in _RECORDS])
def test_op_record_programs_are_simplified_exactly(record):
    rng = np.random.RandomState(0)
    dtype = record.dtypes[0]
    try:  # records are tested by tests/test_op_records.py; here only simplify is
        args = [np.asarray(a) for a in record.make_args(rng, dtype)]
        programs = [fxgrad.make_jaxpr(p)(*args) for p in _record_programs(record)]
    except Exception as e:  # noqa: BLE001
        pytest.skip(f"the record does not stage: {type(e).__name__}: {e}")
    for closed in programs:
        result = simp.simplify(closed, check=True)
        check_jaxpr(result.jaxpr)
        assert _num_eqns(result) <= _num_eqns(closed)
        assert result.out_avals == closed.out_avals
        with np.errstate(all="ignore"):
            want = eval_jaxpr(closed.jaxpr, closed.consts, *args)
            got = eval_jaxpr(result.jaxpr, result.consts, *args)
        for w, g in zip(want, got, strict=True):
            _assert_identical(w, g)
