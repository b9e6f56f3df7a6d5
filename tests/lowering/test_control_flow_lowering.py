"""Compiled control flow: native loops, lane-local loops and compiled bodies.

Every program is staged once and run three ways: compiled (``compile_jaxpr``),
interpreted (``_executor.interpret``, the primitives' NumPy ``impl``s) and, where it is
simple, as a plain Python loop over NumPy scalars; the results must agree exactly (the
same kernels and the same IEEE operations in the same order). The executables' step
kinds say which layer ran each loop, and the native loop's IR says that a 10**6-step
loop compiles to the same code as a 10-step one.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fxgrad
import fxgrad.numpy as fnp
from fxgrad import lax
from fxgrad.lax import _executor
from fxgrad.lowering import cache, compile_jaxpr, control, lower, native_loops


def _run(fun, *args):
    """``(compiled outputs, interpreted outputs, step kinds)`` of ``fun`` on ``args``."""
    closed = fxgrad.make_jaxpr(fun)(*args)
    flat = [np.asarray(a) for a in args]
    executable = compile_jaxpr(closed)
    compiled = [np.asarray(x) for x in executable(flat)]
    interpreted = [np.asarray(x) for x in _executor.interpret(closed, flat)]
    return compiled, interpreted, executable.step_kinds


def _check(fun, *args, kind=None, rtol=0.0):
    """Compiled == interpreted (within ``rtol`` where kernels use their own ``tanh``...)."""
    compiled, interpreted, kinds = _run(fun, *args)
    assert len(compiled) == len(interpreted)
    for c, i in zip(compiled, interpreted, strict=True):
        assert c.dtype == i.dtype and c.shape == i.shape
        np.testing.assert_allclose(c, i, rtol=rtol, atol=0)
    if kind is not None:
        assert kind in kinds, kinds
    return compiled, kinds


def _eqn(fun, *args):
    closed = fxgrad.make_jaxpr(fun)(*args)
    (eqn,) = [e for e in closed.jaxpr.eqns if e.primitive.name in ("while", "scan")]
    return eqn


# --- native loops --------------------------------------------------------------------


def test_fori_loop_is_a_native_loop_equal_to_a_python_loop():
    def f(c):
        return lax.fori_loop(0, 1000, lambda i, c: c * 0.999 + 1e-3, c)

    (out,), _ = _check(f, np.float32(3.0), kind="native scan")
    c = np.float32(3.0)
    for _ in range(1000):
        c = c * np.float32(0.999) + np.float32(1e-3)
    assert out == c and out.dtype == np.float32


def test_million_step_loop_compiles_to_the_same_code_as_ten_steps():
    def loop(n):
        return lambda c: lax.fori_loop(0, n, lambda i, c: c * 0.999999 + 1e-6, c)

    short = native_loops.build(_eqn(loop(10), np.float32(1)), lower)
    long = native_loops.build(_eqn(loop(10**6), np.float32(1)), lower)
    assert short is not None and long is not None
    assert str(short.loop) == str(long.loop)
    assert (short.length, long.length) == (10, 10**6)
    fxgrad.jit(loop(10))(np.float32(1))
    compiled = cache.stats["compiled"]
    out = fxgrad.jit(loop(10**6))(np.float32(1))
    assert cache.stats["compiled"] == compiled  # nothing new to compile
    assert np.isfinite(np.asarray(out))


@pytest.mark.parametrize("reverse", [False, True])
def test_scan_with_xs_and_ys(reverse):
    def f(c, xs, ws):
        def body(carry, x):
            a, n = carry
            a = a * x[0] + x[1]
            return (a, n + 1), (a * 2.0, fnp.sum(x) > 0.0)

        (a, n), ys = lax.scan(body, (c, np.int32(0)), xs, reverse=reverse)
        return a, n, ys[0] + ws, ys[1]

    rng = np.random.default_rng(0)
    xs = rng.standard_normal((7, 2)).astype(np.float32)
    ws = rng.standard_normal(7).astype(np.float32)
    _check(f, np.float32(0.5), xs, ws, kind="native scan")


def test_scan_of_zero_length_and_zero_size():
    def f(c, xs):
        return lax.scan(lambda c, x: (c + fnp.sum(x), x * 2.0), c, xs)

    _check(f, np.float64(1.0), np.zeros((0, 3)), kind="native scan")
    _check(f, np.float64(1.0), np.zeros((4, 0)), kind="native scan")


def test_carry_swap_and_mixed_dtypes():
    def f(a, b, flag):
        def body(i, s):
            a, b, flag, k = s
            return (b, a * 1.5, ~flag, k * np.int16(3) + np.int16(1))

        return lax.fori_loop(0, 5, body, (a, b, flag, np.int16(1)))

    _check(f, np.float64(1.0), np.float64(-2.0), np.bool_(True), kind="native scan")


@pytest.mark.parametrize("bounds", [(-3, 4), (5, 2), (-7, -7), (2, 9)])
def test_fori_loop_with_traced_int32_bounds(bounds):
    def f(lo, hi, x):
        return lax.fori_loop(lo, hi, lambda i, c: c * 2.0 + i.astype(np.float32), x)

    lo, hi = (np.int32(b) for b in bounds)
    (out,), _ = _check(f, lo, hi, np.float32(1.0), kind="native while")
    c = np.float32(1.0)
    for i in range(bounds[0], bounds[1]):
        c = c * np.float32(2.0) + np.float32(i)
    assert out == c


@pytest.mark.parametrize("max_steps", [None, 0, 3, 100])
def test_while_loop_with_max_steps(max_steps):
    def f(x):
        return lax.while_loop(
            lambda c: c[0] < 50.0,
            lambda c: (c[0] * 1.5 + 1.0, c[1] + 1),
            (x, 0),
            max_steps=max_steps,
        )

    (value, steps), _ = _check(f, np.float64(1.0), kind="native while")
    expected = 0
    c = 1.0
    while c < 50.0 and (max_steps is None or expected < max_steps):
        c, expected = c * 1.5 + 1.0, expected + 1
    assert steps == expected and value == c


def test_while_loop_with_a_large_carry_and_a_reduction_in_the_cond():
    def f(x):
        return lax.while_loop(lambda x: fnp.sum(x) < 1e4, lambda x: x * 1.1 + 0.5, x)

    x = np.linspace(0.0, 1.0, 3001)
    (out,), _ = _check(f, x, kind="native while")
    ref = x.copy()
    while ref.sum() < 1e4:
        ref = ref * 1.1 + 0.5
    np.testing.assert_allclose(out, ref, rtol=1e-12)


def test_nested_native_loops():
    def f(x):
        def outer(i, c):
            return lax.fori_loop(0, i, lambda j, d: d * 0.5 + j.astype(np.float64), c) + 1.0

        return lax.fori_loop(0, 6, outer, x)

    (out,), _ = _check(f, np.float64(2.0), kind="native scan")
    c = 2.0
    for i in range(6):
        for j in range(i):
            c = c * 0.5 + j
        c += 1.0
    assert out == c


@pytest.mark.parametrize("reverse", [False, True])
def test_a_scan_inside_a_scan_reads_and_writes_slices_natively(reverse):
    rng = np.random.default_rng(11)
    xss = rng.standard_normal((4, 3, 2))  # outer steps, inner steps, values

    def f(xss):
        def outer(c, xs):
            def inner(d, x):
                d = d * 0.5 + x
                return d, d * 2.0

            d, ys = lax.scan(inner, c, xs, reverse=reverse)
            return d + 1.0, ys

        return lax.scan(outer, np.zeros(2), xss)

    (c, yss), _ = _check(f, xss, kind="native scan")
    want_c, want = np.zeros(2), []
    for xs in xss:
        d, ys = want_c, [None] * len(xs)
        for t in reversed(range(len(xs))) if reverse else range(len(xs)):
            d = d * 0.5 + xs[t]
            ys[t] = d * 2.0
        want_c = d + 1.0
        want.append(ys)
    np.testing.assert_array_equal(c, want_c)
    np.testing.assert_array_equal(yss, np.array(want))


@pytest.mark.parametrize("max_steps", [None, 3])
def test_a_while_loop_inside_a_scan_with_a_product(max_steps):
    m = np.array([[0.5, 0.25], [0.125, 0.5]])

    def f(xs):
        def outer(c, x):
            def not_small(v):
                return fnp.sum(fnp.abs(v)) > 1e-2

            v = lax.while_loop(not_small, lambda v: m @ v, c + x, max_steps=max_steps)
            return v, fnp.sum(v)

        return lax.scan(outer, np.ones(2), xs)

    xs = np.arange(10.0).reshape(5, 2)
    (c, ys), _ = _check(f, xs, kind="native scan")
    want_c, want = np.ones(2), []
    for x in xs:
        v, steps = want_c + x, 0
        while np.abs(v).sum() > 1e-2 and (max_steps is None or steps < max_steps):
            v, steps = m @ v, steps + 1
        want_c = v
        want.append(v.sum())
    np.testing.assert_allclose(c, want_c, rtol=1e-15)
    np.testing.assert_allclose(ys, want, rtol=1e-15)


@pytest.mark.parametrize("dtype", [np.int32, np.uint8, np.int64])
def test_a_switch_inside_a_loop_clamps_its_index_natively(dtype):
    branches = [lambda c: c + 1.0, lambda c: c * 3.0, lambda c: c - 2.0]

    def f(ks):
        def body(c, k):
            return lax.switch(k, branches, c), c

        return lax.scan(body, np.float64(0.5), ks)

    ks = np.array([-3, 0, 1, 2, 7, 200, 1], dtype=np.int64)
    ks = ks.astype(dtype) if dtype != np.uint8 else np.array([0, 1, 2, 3, 255, 1, 0], np.uint8)
    (c, ys), _ = _check(f, ks, kind="native scan")
    want, trace = 0.5, []
    for k in ks.astype(np.int64):
        trace.append(want)
        want = branches[min(max(int(k), 0), 2)](want)
    assert c == want
    np.testing.assert_array_equal(ys, trace)


# --- lane-local loops (vmap of while_loop) ---------------------------------------------


def _newton(a):
    def cond(s):
        x, i = s
        return (fnp.abs(x * x - a) > 1e-6 * a) & (i < 40)

    def body(s):
        x, i = s
        return (0.5 * (x + a / x), i + 1)

    return lax.while_loop(cond, body, (a, 0))


@pytest.mark.parametrize("n", [1, 255, 1000])
def test_vmapped_while_loop_runs_by_tiles_of_lanes(n):
    a = np.random.default_rng(n).uniform(0.01, 100.0, n).astype(np.float32)
    before = control.stats["lane_loops"]
    (x, steps), kinds = _check(fxgrad.vmap(_newton), a, kind="native while")
    assert control.stats["lane_loops"] == before + 1
    np.testing.assert_allclose(x, np.sqrt(a), rtol=1e-5)
    for k in [0, n // 2, n - 1]:  # each lane ran exactly its own number of steps
        xk, sk = (np.asarray(v) for v in _newton(a[k]))
        assert sk == steps[k] and xk == x[k]


def test_vmapped_while_loop_with_max_steps_and_a_batched_constant():
    def f(a, b):
        def one(a, b):
            return lax.while_loop(lambda x: x < b, lambda x: x * 2.0 + 1.0, a, max_steps=4)

        return fxgrad.vmap(one)(a, b)

    a = np.arange(600, dtype=np.float64)
    b = np.linspace(1.0, 5000.0, 600)
    (out,), _ = _check(f, a, b, kind="native while")
    ref = a.copy()
    for _ in range(4):
        ref = np.where(ref < b, ref * 2.0 + 1.0, ref)
    np.testing.assert_array_equal(out, ref)


def test_a_vector_while_loop_with_a_global_cond_is_not_split_into_lanes():
    def f(x):
        return lax.while_loop(
            lambda x: fnp.max(x) < 100.0, lambda x: fnp.where(x < 50.0, x * 3.0, x), x
        )

    before = control.stats["lane_loops"]
    (out,), _ = _check(f, np.linspace(1.0, 2.0, 700), kind="native while")
    assert control.stats["lane_loops"] == before
    assert out.max() >= 100.0


# --- compiled bodies -----------------------------------------------------------------


def test_scan_with_a_matmul_is_a_native_loop_calling_blas():
    rng = np.random.default_rng(1)
    w = rng.standard_normal((8, 8)) / 3
    xs = rng.standard_normal((5, 4, 8))

    def f(w, xs):
        def cell(h, x):
            h = fnp.tanh(h @ w + x)
            return h, h.sum()

        return lax.scan(cell, np.zeros((4, 8)), xs)

    _check(f, w, xs, kind="native scan", rtol=1e-14)
    grads = fxgrad.jit(fxgrad.grad(lambda w, xs: fnp.sum(f(w, xs)[0] ** 2)))
    closed = fxgrad.make_jaxpr(fxgrad.grad(lambda w, xs: fnp.sum(f(w, xs)[0] ** 2)))(w, xs)
    expected = _executor.interpret(closed, [w, xs])[0]
    np.testing.assert_allclose(np.asarray(grads(w, xs)), expected, rtol=1e-12, atol=1e-14)


def test_loop_whose_body_holds_a_cond():
    def f(x):
        def body(i, c):
            return lax.cond(i % 3 == 0, lambda c: c * 2.0, lambda c: c - 1.0, c)

        return lax.fori_loop(0, 10, body, x)

    (out,), kinds = _check(f, np.float64(1.5), kind="native scan")
    c = 1.5
    for i in range(10):
        c = c * 2.0 if i % 3 == 0 else c - 1.0
    assert out == c


@pytest.mark.parametrize("index", [-2, 0, 1, 2, 7])
def test_switch_picks_the_compiled_branch(index):
    def f(i, x):
        return lax.switch(i, [lambda x: x + 1.0, lambda x: x * 3.0, lambda x: fnp.sin(x)], x)

    (out,), _ = _check(f, np.int32(index), np.float32(0.75), kind="compiled cond", rtol=1e-6)
    branch = min(max(index, 0), 2)
    expected = [np.float32(1.75), np.float32(2.25), np.sin(np.float32(0.75))][branch]
    np.testing.assert_allclose(out, expected, rtol=1e-6)


def test_while_loop_around_a_matmul():
    m = np.array([[0.5, 0.1], [0.2, 0.4]])

    def f(v):
        return lax.while_loop(lambda v: fnp.sum(v) > 1e-3, lambda v: m @ v, v)

    _check(f, np.array([1.0, 2.0]), kind="native while")


def test_without_a_blas_entry_point_products_run_compiled_bodies(monkeypatch):
    monkeypatch.setattr(native_loops.blas, "gemm_entry_points", lambda: None)
    m = np.array([[0.5, 0.1], [0.2, 0.4]])

    def f(v):
        return lax.while_loop(lambda v: fnp.sum(v) > 1e-3, lambda v: m @ v, v)

    (out,), _ = _check(f, np.array([1.0, 2.0]), kind="compiled while")
    v = np.array([1.0, 2.0])
    while v.sum() > 1e-3:
        v = m @ v
    np.testing.assert_array_equal(out, v)


@pytest.mark.parametrize(
    "a_shape, b_shape, dims",
    [
        ((4, 3), (3, 5), ((1,), (0,))),
        ((3, 4), (3, 5), ((0,), (0,))),
        ((4, 3), (5, 3), ((1,), (1,))),
        ((3, 4), (5, 3), ((0,), (1,))),
        ((3,), (3, 5), ((0,), (0,))),
        ((4, 3), (3,), ((1,), (0,))),
        ((3,), (3,), ((0,), (0,))),
        ((2, 3, 4), (3, 4, 5), ((1, 2), (0, 1))),  # trailing block by leading block
        ((2, 3, 4), (5, 2, 3), ((0, 1), (1, 2))),  # both transposed, several axes
        ((2, 3, 4), (2, 3, 5), ((1, 0), (1, 0))),  # pairs listed in another order
        ((4, 0), (0, 5), ((1,), (0,))),  # empty contraction: zeros
        ((0, 3), (3, 5), ((1,), (0,))),  # empty product
    ],
)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_products_in_native_loops_match_the_interpreter(a_shape, b_shape, dims, dtype):
    rng = np.random.default_rng(len(a_shape) * 10 + len(b_shape))
    xs = rng.standard_normal((3, *a_shape)).astype(dtype)
    w = rng.standard_normal(b_shape).astype(dtype)

    def f(w, xs):
        def cell(s, x):
            # the left operand depends on the carry, so the product stays in the loop
            product = lax.dot_general(x * s, w, (dims, ((), ())))
            return s + fnp.sum(product) * dtype(1e-3), product

        return lax.scan(cell, dtype(1.0), xs)

    tol = 1e-5 if dtype == np.float32 else 1e-13
    (s, ys), kinds = _check(f, w, xs, kind="native scan", rtol=tol)
    want_s, want_ys = dtype(1.0), []
    for x in xs:
        product = np.tensordot(x * want_s, w, dims).astype(dtype)
        want_ys.append(product)
        want_s = dtype(want_s + product.sum() * dtype(1e-3))
    np.testing.assert_allclose(ys, np.array(want_ys).reshape(ys.shape), rtol=tol, atol=tol)
    np.testing.assert_allclose(s, want_s, rtol=tol)
    closed = fxgrad.make_jaxpr(f)(w, xs)
    (scan,) = [e for e in closed.jaxpr.eqns if e.primitive.name == "scan"]
    native = native_loops.build(scan, lower)
    assert native is not None and "gemm" in str(native.loop)


def test_a_lowering_failure_falls_back_to_the_interpreter(monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("no native loop today")

    monkeypatch.setattr(native_loops, "build", broken)
    f = fxgrad.jit(lambda x: lax.fori_loop(0, 4, lambda i, c: c + i, x))
    with pytest.warns(RuntimeWarning, match="no native loop today"):
        out = f(np.int64(1))
    assert int(np.asarray(out)) == 7


@settings(max_examples=25, deadline=None)
@given(
    length=st.integers(0, 6),
    reverse=st.booleans(),
    dtype=st.sampled_from([np.float32, np.float64, np.int32]),
    width=st.integers(1, 5),
)
def test_scans_match_the_interpreter(length, reverse, dtype, width):
    xs = (np.arange(length * width).reshape(length, width) % 5 - 2).astype(dtype)

    def f(c, xs):
        def body(c, x):
            new = c * 2 + x - fnp.max(x)
            return new, (new * x, c, x, new)

        return lax.scan(body, c, xs, reverse=reverse)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # integer overflow is fine here
        _check(f, np.ones(width, dtype), xs, kind="native scan")


# --- products hoisted out of scans -----------------------------------------------------


@pytest.mark.parametrize("length", [0, 1, 6])
@pytest.mark.parametrize("reverse", [False, True])
def test_products_are_hoisted_out_of_scans(length, reverse):
    rng = np.random.default_rng(length)
    w = rng.standard_normal((5, 5)) / 3
    u = rng.standard_normal((3, 5))
    xs = rng.standard_normal((length, 4, 3))

    def f(w, u, xs):
        def cell(carry, x):
            h, acc, acc_t = carry
            h = fnp.tanh(h @ w + x @ u)
            return (h, acc + x.T @ h, acc_t + (h.T @ x).T), h[0]

        zeros = (np.zeros((4, 5)), np.zeros((3, 5)) + 1.0, np.zeros((3, 5)))
        return lax.scan(cell, zeros, xs, reverse=reverse)

    compiled, kinds = _check(f, w, u, xs, kind="native scan", rtol=1e-13)
    closed = fxgrad.make_jaxpr(f)(w, u, xs)
    program = lower(closed)
    outside = [s.eqn.primitive.name for s in program.steps if hasattr(s, "eqn")]
    assert outside.count("dot_general") == 3  # x @ u before the loop, two sums after it
    # the reference: a Python loop over NumPy
    h, acc, acc_t = np.zeros((4, 5)), np.ones((3, 5)), np.zeros((3, 5))
    for x in xs[::-1] if reverse else xs:
        h = np.tanh(h @ w + x @ u)
        acc, acc_t = acc + x.T @ h, acc_t + (h.T @ x).T
    for got, want in zip(compiled[:3], (h, acc, acc_t), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)


def test_the_loop_verifier_rejects_broken_loops():
    from fxgrad.lowering import loop_ir
    from fxgrad.lowering.kernel_ir import KernelIRError
    from fxgrad.lowering.loop_ir import Branch, Buffer, Copy, Gemm, Loop, Nested, Ref, Window

    def loop(**changes):
        fields = dict(
            kernels=(),
            buffers=(Buffer("float32", 1, "param"), Buffer("float32", 1, "local")),
            n_params=1,
            init=(Copy(Ref(1), Ref(0), 1),),
            cond=(),
            pred=None,
            body=(),
            finish=(Copy(Ref(0), Ref(1), 1),),
        )
        return Loop(**{**fields, **changes})

    loop_ir.verify(loop())
    assert "copy b1 <- b0 (1)" in str(loop())
    with pytest.raises(KernelIRError, match="expected"):
        loop_ir.verify(loop(buffers=(Buffer("float32", 1, "param"), Buffer("int32", 1, "local"))))
    with pytest.raises(KernelIRError, match="come first"):
        loop_ir.verify(loop(n_params=2))
    with pytest.raises(KernelIRError, match="loop position"):
        loop_ir.verify(loop(init=(Copy(Ref(1, step=1), Ref(0), 1),)))
    with pytest.raises(KernelIRError, match="while loop"):
        loop_ir.verify(loop(lanes=4))
    product = Gemm("float32", 1, 1, 1, False, False, Ref(0), Ref(1), Ref(1))
    loop_ir.verify(loop(body=(product,)))
    assert "gemm f32 1x1x1 NN i64 b1 <- b0, b1" in str(loop(body=(product,)))
    with pytest.raises(KernelIRError, match="holds 1 elements, expected 2"):
        loop_ir.verify(loop(body=(Gemm("float32", 1, 1, 2, False, False, Ref(0), Ref(1), Ref(1)),)))
    with pytest.raises(KernelIRError, match="not inside"):
        loop_ir.verify(loop(body=(Copy(Ref(1, inner=(1,)), Ref(0), 1),)))
    inner = Nested(1, 3, (), (), None, (Copy(Ref(1, inner=(0,)), Ref(0), 1),), ())
    loop_ir.verify(loop(body=(inner,)))
    assert "loop depth=1 length=3" in str(loop(body=(inner,)))
    with pytest.raises(KernelIRError, match="depth"):
        loop_ir.verify(loop(body=(Nested(2, 3, (), (), None, (), ()),)))
    window = Window("float32", (1,), (1,), (Ref(0),), ("float32",), Ref(1), Ref(0), True)
    with pytest.raises(KernelIRError, match="start"):
        loop_ir.verify(loop(body=(window,)))
    with pytest.raises(KernelIRError, match="branch on float32"):
        loop_ir.verify(loop(body=(Branch(Ref(0), "float32", ((),)),)))
    with pytest.raises(KernelIRError, match="bad product"):
        loop_ir.verify(loop(body=(Gemm("int32", 1, 1, 1, False, False, Ref(0), Ref(1), Ref(1)),)))


@pytest.mark.parametrize("reverse", [False, True])
def test_constants_read_transposed_are_transposed_once_before_the_loop(reverse):
    rng = np.random.default_rng(5)
    w, v = rng.standard_normal((5, 5)) / 3, rng.standard_normal((4, 5))
    hs = rng.standard_normal((6, 4, 5))

    def f(w, v, hs):
        def cell(carry, h):
            return fnp.tanh(carry @ w.T + h) + (v.T @ h).sum() / 10, None

        return lax.scan(cell, np.zeros((4, 5)), hs, reverse=reverse)[0]

    (compiled,), _ = _check(f, w, v, hs, kind="native scan", rtol=1e-13)
    program = lower(fxgrad.make_jaxpr(f)(w, v, hs))
    (scan,) = [s.eqn for s in program.steps if getattr(s, "eqn", None) is not None]
    dims = [
        e.params["dimension_numbers"]
        for e in scan.params["jaxpr"].jaxpr.eqns
        if e.primitive.name == "dot_general"
    ]
    assert dims == [(((1,), (0,)), ((), ()))] * 2  # both read row-major
    want = np.zeros((4, 5))
    for h in hs[::-1] if reverse else hs:
        want = np.tanh(want @ w.T + h) + (v.T @ h).sum() / 10
    np.testing.assert_allclose(compiled, want, rtol=1e-12)
    loss = lambda w: f(w, v, hs).sum()  # noqa: E731
    np.testing.assert_allclose(
        fxgrad.jit(fxgrad.grad(loss))(w), fxgrad.grad(loss)(w), rtol=1e-12, atol=1e-14
    )


@pytest.mark.parametrize("index_dtype", [np.int32, np.int64, np.uint8])
@pytest.mark.parametrize(
    "shape, sizes",
    [
        ((7,), (3,)),
        ((5, 4), (2, 4)),
        ((5, 4), (2, 3)),
        ((3, 4, 5), (1, 4, 5)),
        ((3, 4, 5), (2, 1, 3)),
    ],
)
def test_dynamic_slices_and_updates_in_native_loops(index_dtype, shape, sizes):
    rng = np.random.default_rng(len(shape) * 7 + sum(sizes))
    x = rng.standard_normal(shape)
    steps = 9

    def f(x):
        def body(i, carry):
            acc, buf = carry
            # starts run past both ends (clamped as lax does); uint8 starts stay >= 0
            offset = 0 if index_dtype == np.uint8 else -2
            starts = [(i * (d + 1) + offset).astype(index_dtype) for d in range(len(shape))]
            part = lax.dynamic_slice(buf, starts, sizes)
            acc = acc + fnp.sum(part) * 0.1
            buf = lax.dynamic_update_slice(buf, part * 0.5 + 1.0, starts)
            return acc, buf

        return lax.fori_loop(0, steps, body, (np.float64(0.0), x))

    (acc, buf), kinds = _check(f, x, kind="native scan", rtol=1e-15)
    want_acc, want = 0.0, x.copy()
    for i in range(steps):
        offset = 0 if index_dtype == np.uint8 else -2
        # lax.dynamic_slice counts a negative start from the end (as JAX), then clamps
        starts = [
            int(np.asarray(i * (d + 1) + offset).astype(index_dtype)) for d in range(len(shape))
        ]
        starts = [s + n if s < 0 else s for s, n in zip(starts, shape, strict=True)]
        starts = [min(max(s, 0), n - k) for s, n, k in zip(starts, shape, sizes, strict=True)]
        box = tuple(slice(s, s + k) for s, k in zip(starts, sizes, strict=True))
        part = want[box].copy()
        want_acc += part.sum() * 0.1
        want[box] = part * 0.5 + 1.0
    np.testing.assert_allclose(acc, want_acc, rtol=1e-13)
    np.testing.assert_allclose(buf, want, rtol=1e-15)


@pytest.mark.parametrize("axis", [0, 1])
def test_concatenations_and_rolls_in_native_loops(axis):
    x = np.arange(12.0).reshape(3, 4)

    def f(x):
        def body(i, c):
            n = c.shape[axis]
            last = lax.slice_in_dim(c, n - 1, n, axis=axis)
            shifted = fnp.concatenate([last * 0.5, c], axis=axis)
            kept = lax.slice_in_dim(shifted, 0, c.shape[axis], axis=axis)
            return fnp.roll(kept, 1, axis=1 - axis) + i

        return lax.fori_loop(0, 5, body, x)

    (out,), _ = _check(f, x, kind="native scan")
    want = x.copy()
    for i in range(5):
        last = np.take(want, [-1], axis=axis) * 0.5
        shifted = np.concatenate([last, want], axis=axis)
        kept = np.take(shifted, range(want.shape[axis]), axis=axis)
        want = np.roll(kept, 1, axis=1 - axis) + i
    np.testing.assert_array_equal(out, want)
