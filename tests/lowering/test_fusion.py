"""Fusion: which jaxprs become how many kernels, and that the fused programs compute
what NumPy does."""

from __future__ import annotations

import numpy as np
import pytest

import fxgrad
import fxgrad.numpy as fnp
from fxgrad.lowering import kernel_ir
from fxgrad.lowering.fusion import KernelStep, LibraryStep, fuse


def _program(fun, *args):
    return fuse(fxgrad.make_jaxpr(fun)(*args))


def _kernels(fun, *args):
    return _program(fun, *args).kernels


def _library_names(fun, *args):
    steps = _program(fun, *args).steps
    return [s.eqn.primitive.name for s in steps if isinstance(s, LibraryStep)]


def _check(fun, reference, *args, rtol=1e-5):
    out = fxgrad.jit(fun)(*[fnp.asarray(a) for a in args])
    expected = reference(*args)
    if isinstance(expected, tuple):
        for o, e in zip(out, expected, strict=True):
            np.testing.assert_allclose(np.asarray(o), e, rtol=rtol, atol=rtol)
    else:
        np.testing.assert_allclose(np.asarray(out), expected, rtol=rtol, atol=rtol)


def softmax(x, axis=-1):
    m = fnp.max(x, axis=axis, keepdims=True)
    e = fnp.exp(x - m)
    return e / fnp.sum(e, axis=axis, keepdims=True)


def softmax_np(x, axis=-1):
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def logsumexp(x, axis=None):
    m = fnp.max(x, axis=axis, keepdims=True)
    return fnp.log(fnp.sum(fnp.exp(x - m), axis=axis, keepdims=True)) + m


def logsumexp_np(x, axis=None):
    m = np.max(x, axis=axis, keepdims=True)
    return np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m


def layer_norm(x, g, b):
    mean = fnp.mean(x, axis=-1, keepdims=True)
    var = fnp.mean((x - mean) ** 2, axis=-1, keepdims=True)
    return (x - mean) / fnp.sqrt(var + 1e-5) * g + b


def layer_norm_np(x, g, b):
    mean = x.mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(x.var(-1, keepdims=True) + 1e-5) * g + b


def cross_entropy(logits, labels):
    return fnp.mean(fnp.sum(-labels * (logits - logsumexp(logits, axis=-1)), axis=-1))


def cross_entropy_np(logits, labels):
    return np.mean(np.sum(-labels * (logits - logsumexp_np(logits, axis=-1)), axis=-1))


RNG = np.random.default_rng(0)
X = RNG.standard_normal((64, 128)).astype(np.float32)


def test_elementwise_chain_is_one_kernel():
    y = RNG.standard_normal((64, 128)).astype(np.float32)

    def f(x, y):
        return fnp.tanh(x * 0.5 + y) * fnp.exp(-x * x) + fnp.sin(y) * 0.1

    kernels = _kernels(f, X, y)
    assert len(kernels) == 1
    assert kernels[0].outer == (64 * 128,) and not kernels[0].inner  # axes merged
    _check(f, lambda x, y: np.tanh(x * 0.5 + y) * np.exp(-x * x) + np.sin(y) * 0.1, X, y)


def test_broadcasts_and_transposes_become_strides():
    row = RNG.standard_normal(128).astype(np.float32)
    col = RNG.standard_normal((64, 1)).astype(np.float32)
    kernels = _kernels(lambda x, r, c: (x + r) * c + x.T.T, X, row, col)
    assert len(kernels) == 1
    strides = sorted(i.strides for i in kernels[0].inputs)
    assert (0, 1) in strides and (1, 0) in strides and (128, 1) in strides
    _check(lambda x, r, c: (x + r) * c + x.T.T, lambda x, r, c: (x + r) * c + x, X, row, col)


def test_softmax_is_one_kernel_per_row():
    kernels = _kernels(softmax, X)
    assert len(kernels) <= 2
    (kernel,) = kernels
    assert kernel.outer == (64,) and kernel.inner == (128,)
    assert max(kernel_ir.reduce_depths(kernel)) == 2
    _check(softmax, softmax_np, X)


def test_softmax_over_leading_axis():
    assert len(_kernels(lambda x: softmax(x, axis=0), X)) <= 2
    _check(lambda x: softmax(x, axis=0), lambda x: softmax_np(x, axis=0), X)


def test_long_logsumexp_is_two_splittable_kernels():
    x = RNG.standard_normal(1 << 17).astype(np.float32)
    kernels = _kernels(logsumexp, x)
    assert len(kernels) == 2
    assert all(not k.outer and max(kernel_ir.reduce_depths(k)) == 1 for k in kernels)
    _check(logsumexp, logsumexp_np, x)


def test_short_logsumexp_is_one_kernel():
    x = RNG.standard_normal(300).astype(np.float32)
    assert len(_kernels(logsumexp, x)) == 1
    assert len(_kernels(lambda x: logsumexp(x, axis=1), X)) == 1
    _check(lambda x: logsumexp(x, axis=1), lambda x: logsumexp_np(x, axis=1), X)


@pytest.mark.parametrize("axis", [0, 1, None])
def test_mean_and_var(axis):
    assert len(_kernels(lambda x: fnp.var(x, axis=axis), X)) == 1
    assert len(_kernels(lambda x: (fnp.mean(x, axis=axis), fnp.var(x, axis=axis)), X)) <= 2
    _check(
        lambda x: (fnp.mean(x, axis=axis), fnp.var(x, axis=axis)),
        lambda x: (x.mean(axis=axis), x.var(axis=axis)),
        X.astype(np.float64),
        rtol=1e-10,
    )


def test_layer_norm_and_cross_entropy():
    g = RNG.standard_normal(128).astype(np.float32)
    b = RNG.standard_normal(128).astype(np.float32)
    assert len(_kernels(layer_norm, X, g, b)) <= 2
    _check(layer_norm, layer_norm_np, X, g, b, rtol=1e-4)
    labels = np.eye(128, dtype=np.float32)[RNG.integers(0, 128, 64)]
    assert len(_kernels(cross_entropy, X, labels)) <= 2
    _check(cross_entropy, cross_entropy_np, X, labels)


def test_dot_is_a_library_call_and_its_epilogue_fuses():
    w = RNG.standard_normal((128, 32)).astype(np.float32)
    b = RNG.standard_normal(32).astype(np.float32)

    def f(x, w, b):
        return fnp.tanh(x @ w + b)

    assert _library_names(f, X, w, b) == ["dot_general"]
    assert len(_kernels(f, X, w, b)) == 1
    _check(f, lambda x, w, b: np.tanh(x @ w + b), X, w, b)


def test_primitives_without_kernels_run_as_library_calls():
    def f(x):
        return fnp.cumsum(fnp.sort(x, axis=1), axis=1) * 2.0

    names = _library_names(f, X)
    assert "sort" in names and "cumsum" in names
    _check(f, lambda x: np.cumsum(np.sort(x, axis=1), axis=1) * 2.0, X)


def test_expensive_values_used_by_several_kernels_are_materialized():
    def f(x):
        t = fnp.exp(fnp.sin(fnp.tanh(fnp.log1p(x * x))))
        return fnp.sum(t, axis=0), fnp.sum(t, axis=1)

    program = _program(f, X)
    # t is computed once and read by both reductions instead of being recomputed
    assert len(program.kernels) == 3
    _check(
        f,
        lambda x: tuple(np.sum(np.exp(np.sin(np.tanh(np.log1p(x * x)))), axis=a) for a in (0, 1)),
        X,
    )


def test_cheap_values_are_recomputed():
    def f(x):
        t = x * 2.0 + 1.0
        return fnp.sum(t, axis=0), fnp.sum(t, axis=1)

    assert len(_program(f, X).kernels) == 2


def test_reshape_that_does_not_factor_is_cut():
    def f(x):
        return (x.T * 2.0).reshape(128 * 64) + 1.0

    kernels = _kernels(f, X)
    assert len(kernels) == 2
    _check(f, lambda x: (x.T * 2.0).reshape(128 * 64) + 1.0, X)


def test_reshape_that_factors_is_fused():
    def f(x):
        return (x * 2.0).reshape(64, 2, 64).sum(axis=1) + 1.0

    assert len(_kernels(f, X)) == 1
    _check(f, lambda x: (x * 2.0).reshape(64, 2, 64).sum(axis=1) + 1.0, X)


def test_slices_and_reversals_are_offsets():
    def f(x):
        return x[::-1, 1:] * x[:, :-1] + x[::2, ::3].sum()

    kernels = _kernels(f, X)
    assert len(kernels) <= 2
    assert any(i.offset != 0 for k in kernels for i in k.inputs)
    _check(f, lambda x: x[::-1, 1:] * x[:, :-1] + x[::2, ::3].sum(), X)


def test_nested_jit_is_inlined():
    inner = fxgrad.jit(lambda x: fnp.exp(x) * 2.0)

    def f(x):
        return inner(x) + inner(x.T).T

    program = _program(f, X)
    assert all(isinstance(s, KernelStep) for s in program.steps)
    assert len(program.kernels) == 1
    _check(f, lambda x: 4.0 * np.exp(x), X)


def test_reshape_of_an_input_is_a_view():
    program = _program(lambda x: x.reshape(128, 64), X)
    assert not program.kernels
    _check(lambda x: x.reshape(128, 64), lambda x: x.reshape(128, 64), X)


def test_outputs_that_are_inputs_or_literals():
    out = fxgrad.jit(lambda x: (x, 3.0, x + 1, x + 1))(fnp.asarray(X))
    np.testing.assert_array_equal(np.asarray(out[0]), X)
    assert float(out[1]) == 3.0
    np.testing.assert_array_equal(np.asarray(out[2]), X + 1)
    np.testing.assert_array_equal(np.asarray(out[3]), X + 1)


def test_every_kernel_verifies():
    for fun, args in [
        (softmax, (X,)),
        (layer_norm, (X, X[0], X[1])),
        (lambda x: fnp.var(x, axis=0), (X,)),
    ]:
        for kernel in _kernels(fun, *args):
            kernel_ir.verify(kernel)


def test_long_chains_are_cut_into_bounded_kernels():
    def f(x):
        for _ in range(600):
            x = x * 1.0001 + 0.001
        return x

    x = np.ones(10)
    kernels = _kernels(f, x)
    assert 2 <= len(kernels) <= 20
    expected = x.copy()
    for _ in range(600):
        expected = expected * 1.0001 + 0.001
    _check(f, lambda v: expected, x, rtol=1e-12)


def test_a_transposed_matrix_product_is_computed_transposed():
    rng = np.random.default_rng(5)
    a = rng.standard_normal((6, 4)).astype(np.float32)
    b = rng.standard_normal((4, 9)).astype(np.float32)

    def f(a, b):
        return fxgrad.lax.transpose(a @ b, (1, 0)) + 1.0

    program = fxgrad.lowering.lower(fxgrad.make_jaxpr(f)(a, b))
    kernels = program.kernels
    assert len(kernels) == 1 and all(s == 0 or s == 1 for s in kernels[0].inputs[0].strides)
    out = np.asarray(fxgrad.jit(f)(a, b))
    np.testing.assert_allclose(out, (a @ b).T + 1.0, rtol=1e-6)


@pytest.mark.parametrize(
    "a_shape, b_shape, dims",
    [
        ((5, 1), (1, 4), (((1,), (0,)), ((), ()))),  # plain outer product
        ((3, 5), (3, 4), (((), ()), ((0,), (0,)))),  # batched, no contraction (vmap of grad)
        ((3, 5, 1), (3, 1, 4), (((2,), (1,)), ((0,), (0,)))),
        ((5, 3, 1), (1, 4, 3), (((2,), (0,)), ((1,), (2,)))),  # batch axes not first
        ((2, 1, 3, 1), (1, 2, 1, 4), (((1, 3), (0, 2)), ((0,), (1,)))),
    ],
)
@pytest.mark.parametrize("transposed", [False, True])
def test_outer_products_become_one_fused_multiplication(a_shape, b_shape, dims, transposed):
    rng = np.random.default_rng(len(a_shape))
    a, b = rng.standard_normal(a_shape), rng.standard_normal(b_shape)

    def f(a, b):
        out = fxgrad.lax.dot_general(a, b, dims)
        return fnp.swapaxes(out, -1, -2) if transposed else out

    closed = fxgrad.make_jaxpr(f)(a, b)
    program = fuse(closed)
    assert not [s for s in program.steps if isinstance(s, LibraryStep)]
    assert len([s for s in program.steps if isinstance(s, KernelStep)]) == 1
    want = np.asarray(f(a, b))  # eager: the dot_general implementation
    (lc, rc), (lb, rb) = dims
    a_free = [d for d in range(a.ndim) if d not in lc + lb]
    b_free = [d for d in range(b.ndim) if d not in rc + rb]
    # every element is one product a[..] * b[..]: the same bits as the reference
    a2 = np.transpose(a, (*lb, *a_free, *lc)).reshape([a.shape[d] for d in (*lb, *a_free)])
    b2 = np.transpose(b, (*rb, *b_free, *rc)).reshape([b.shape[d] for d in (*rb, *b_free)])
    batch = list(range(len(lb)))
    a_axes = [10 + k for k in range(len(a_free))]
    b_axes = [20 + k for k in range(len(b_free))]
    ref = np.einsum(a2, batch + a_axes, b2, batch + b_axes, batch + a_axes + b_axes)
    if transposed:
        ref = np.swapaxes(ref, -1, -2)
    np.testing.assert_array_equal(np.asarray(fxgrad.jit(f)(a, b)), ref)
    np.testing.assert_allclose(want, ref, rtol=1e-15)
