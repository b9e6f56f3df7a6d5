"""fxgrad.numpy.einsum and einsum_path against NumPy, under grad, vmap and jit."""

from __future__ import annotations

import string

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fxgrad
import fxgrad.numpy as fnp
from fxgrad.errors import ShapeError
from fxgrad.test_util import check_grads

# --- random specifications ------------------------------------------------------------------


@st.composite
def einsum_problems(draw, max_ops=3, allow_zero=True):
    """(subscripts, operand shapes): repeated labels, size-1 broadcasting, '...', 0-size."""
    letters = "abcdE"
    size_choices = [0, 1, 2, 3] if allow_zero else [1, 2, 3]
    sizes = {c: draw(st.sampled_from(size_choices)) for c in letters}
    n_ops = draw(st.integers(1, max_ops))
    ell_shape = tuple(draw(st.lists(st.integers(1, 3), max_size=2)))
    terms, shapes = [], []
    any_ell = False
    for _ in range(n_ops):
        labels = draw(st.lists(st.sampled_from(letters), max_size=3))
        shape = []
        for c in labels:
            repeated = labels.count(c) > 1
            broadcast = not repeated and draw(st.integers(0, 4)) == 0
            shape.append(1 if broadcast else sizes[c])
        term = "".join(labels)
        if draw(st.booleans()):
            any_ell = True
            cut = draw(st.integers(0, len(labels)))
            n_ell = draw(st.integers(0, len(ell_shape)))
            ell = list(ell_shape[len(ell_shape) - n_ell :])
            ell = [1 if draw(st.integers(0, 3)) == 0 else d for d in ell]
            term = term[:cut] + "..." + term[cut:]
            shape = shape[:cut] + ell + shape[cut:]
        terms.append(term)
        shapes.append(tuple(shape))
    spec = ",".join(terms)
    if draw(st.booleans()):
        used = sorted({c for t in terms for c in t if c != "."})
        out = draw(st.permutations(used))
        out = out[: draw(st.integers(0, len(out)))]
        out_text = "".join(out)
        if any_ell:
            cut = draw(st.integers(0, len(out_text)))
            out_text = out_text[:cut] + "..." + out_text[cut:]
        spec += "->" + out_text
    return spec, shapes


def _operands(shapes, dtype=np.float64, seed=0):
    rng = np.random.RandomState(seed)
    return [np.asarray(rng.randn(*s)).astype(dtype) for s in shapes]


@settings(max_examples=60)
@given(einsum_problems(), st.sampled_from([False, "greedy", "auto"]))
def test_einsum_matches_numpy(problem, optimize):
    spec, shapes = problem
    ops = _operands(shapes)
    expected = np.einsum(spec, *ops)
    actual = fnp.einsum(spec, *ops, optimize=optimize)
    assert np.asarray(actual).shape == expected.shape
    assert np.asarray(actual).dtype == expected.dtype
    np.testing.assert_allclose(np.asarray(actual), expected, rtol=1e-10, atol=1e-10)


def _to_sublists(spec):
    """'ab,b->a' as NumPy's interleaved sublists, with ints for letters."""
    ins, _, out = spec.partition("->")
    index = {c: i for i, c in enumerate(string.ascii_letters)}

    def convert(term):
        parts = term.split("...")
        res = [index[c] for c in parts[0]]
        if len(parts) == 2:
            res += [Ellipsis] + [index[c] for c in parts[1]]
        return res

    return [convert(t) for t in ins.split(",")], (convert(out) if "->" in spec else None)


@settings(max_examples=30)
@given(einsum_problems(max_ops=2))
def test_interleaved_form_matches_numpy(problem):
    spec, shapes = problem
    ops = _operands(shapes)
    subs, out = _to_sublists(spec)
    args = [x for pair in zip(ops, subs, strict=True) for x in pair]
    if out is not None:
        args.append(out)
    expected = np.einsum(*args)
    actual = fnp.einsum(*args)
    np.testing.assert_allclose(np.asarray(actual), expected, rtol=1e-10, atol=1e-10)
    assert np.asarray(actual).shape == expected.shape


@settings(max_examples=15)
@given(einsum_problems(max_ops=3, allow_zero=False))
def test_einsum_gradients(problem):
    spec, shapes = problem
    ops = _operands(shapes, seed=1)
    check_grads(lambda *xs: fnp.einsum(spec, *xs), ops, order=1)


@settings(max_examples=15)
@given(einsum_problems(max_ops=2, allow_zero=False), st.data())
def test_einsum_vmap_matches_loop(problem, data):
    spec, shapes = problem
    batched = data.draw(st.lists(st.booleans(), min_size=len(shapes), max_size=len(shapes)))
    rng = np.random.RandomState(2)
    args, in_axes = [], []
    for shape, b in zip(shapes, batched, strict=True):
        if b:
            axis = data.draw(st.integers(0, len(shape)))
            full = list(shape)
            full.insert(axis, 3)
            args.append(rng.randn(*full))
            in_axes.append(axis)
        else:
            args.append(np.asarray(rng.randn(*shape)))
            in_axes.append(None)
    if not any(batched):
        return
    out = fxgrad.vmap(lambda *xs: fnp.einsum(spec, *xs), in_axes=tuple(in_axes))(*args)
    loop = []
    for i in range(3):
        example = [
            a if ax is None else np.take(a, i, ax) for a, ax in zip(args, in_axes, strict=True)
        ]
        loop.append(np.einsum(spec, *example))
    np.testing.assert_allclose(np.asarray(out), np.stack(loop), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize(
    "spec,shapes",
    [
        ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 2)]),
        ("ii,i->", [(3, 3), (3,)]),
        ("...ij,...j->...i", [(2, 3, 3), (3,)]),
        ("ab,bc,cd,de", [(2, 3), (3, 2), (2, 3), (3, 2)]),
    ],
)
def test_einsum_second_order_grads_and_jit(spec, shapes):
    ops = _operands(shapes, seed=3)
    check_grads(lambda *xs: fnp.einsum(spec, *xs), ops, order=2)
    jitted = fxgrad.jit(lambda *xs: fnp.einsum(spec, *xs))(*ops)
    np.testing.assert_allclose(np.asarray(jitted), np.einsum(spec, *ops), rtol=1e-12)


# --- details ---------------------------------------------------------------------------------


def test_implicit_output_orders_labels_like_numpy():
    a = np.ones((2, 3))
    assert fnp.einsum("Ba", a).shape == np.einsum("Ba", a).shape == (2, 3)
    assert fnp.einsum("aB", a).shape == np.einsum("aB", a).shape == (3, 2)
    assert fnp.einsum(a, [0, 30]).shape == np.einsum(a, [0, 30]).shape
    assert fnp.einsum(a, [30, 0]).shape == np.einsum(a, [30, 0]).shape


def test_diagonal_does_not_leak_off_diagonal_nans():
    x = np.array([[1.0, np.nan], [np.inf, 2.0]])
    np.testing.assert_array_equal(np.asarray(fnp.einsum("ii->i", x)), [1.0, 2.0])
    g = fxgrad.grad(lambda m: fnp.einsum("ii", m))(x)
    np.testing.assert_array_equal(np.asarray(g), np.eye(2))


@pytest.mark.parametrize(
    "dtypes_in",
    [(np.int8, np.float32), (np.int32, np.int32), (np.bool_, np.bool_), (np.complex64, np.float64)],
)
def test_dtype_promotion_matches_numpy(dtypes_in):
    ops = [np.arange(1, 7).reshape(2, 3).astype(dtypes_in[0]), np.ones(3, dtypes_in[1])]
    expected = np.einsum("ij,j->i", *ops)
    actual = np.asarray(fnp.einsum("ij,j->i", *ops))
    assert actual.dtype == expected.dtype
    np.testing.assert_allclose(actual, expected)


def test_python_scalars_and_preferred_element_type():
    assert float(fnp.einsum(",", 3.0, 2)) == 6.0
    a = np.arange(4, dtype=np.int8)
    out = fnp.einsum("i,i", a, a, preferred_element_type=np.float32)
    assert out.dtype == np.float32 and float(out) == 14.0


def test_dot_general_hook_is_used():
    calls = []

    def spy(lhs, rhs, dimension_numbers, **kwargs):
        calls.append(dimension_numbers)
        return fxgrad.lax.dot_general(lhs, rhs, dimension_numbers, **kwargs)

    a, b = np.ones((2, 3)), np.ones((3, 4))
    out = fnp.einsum("ij,jk->ik", a, b, _dot_general=spy)
    np.testing.assert_allclose(np.asarray(out), a @ b)
    assert calls == [(((1,), (0,)), ((), ()))]


def test_greedy_contracts_the_small_pair_first():
    a, b, c = np.ones((1000, 2)), np.ones((2, 1000)), np.ones((1000, 2))
    path, _ = fnp.einsum_path("ij,jk,kl->il", a, b, c)
    assert path == ["einsum_path", (1, 2), (0, 1)]


def test_einsum_path_is_valid_for_numpy_and_back():
    ops = _operands([(2, 3), (3, 4), (4, 5), (5, 2)])
    spec = "ab,bc,cd,da->"
    path, report = fnp.einsum_path(spec, *ops)
    assert path[0] == "einsum_path" and len(path) == 4
    assert "Complete contraction:  ab,bc,cd,da->" in report
    assert "Largest intermediate" in report
    expected = np.einsum(spec, *ops)
    np.testing.assert_allclose(np.einsum(spec, *ops, optimize=path), expected)
    np_path, _ = np.einsum_path(spec, *ops, optimize="greedy")
    np.testing.assert_allclose(np.asarray(fnp.einsum(spec, *ops, optimize=np_path)), expected)
    np.testing.assert_allclose(np.asarray(fnp.einsum(spec, *ops, optimize=path)), expected)
    assert fnp.einsum_path(spec, *ops, optimize=False)[0] == ["einsum_path", (0, 1, 2, 3)]
    out = fnp.einsum(spec, *ops, optimize=["einsum_path", (0, 1, 2, 3)])
    np.testing.assert_allclose(np.asarray(out), expected)


@pytest.mark.parametrize(
    "call,error,match",
    [
        (lambda: fnp.einsum("ij,jk", np.ones((2, 3))), ValueError, "2 operand.*1 operand"),
        (lambda: fnp.einsum("i1", np.ones((2, 2))), ValueError, "invalid subscript '1'"),
        (lambda: fnp.einsum("i..j", np.ones((2, 3))), ValueError, "ellipsis"),
        (lambda: fnp.einsum("i->j", np.ones(2)), ValueError, "'j'.*does not appear"),
        (lambda: fnp.einsum("i->ii", np.ones(2)), ValueError, "'i' appears more than once"),
        (lambda: fnp.einsum("ijk", np.ones((2, 3))), ShapeError, r"name 3 axes.*\(2, 3\)"),
        (
            lambda: fnp.einsum("ij,jk", np.ones((2, 3)), np.ones((4, 5))),
            ShapeError,
            r"label 'j'.*size 3.*\(2, 3\).*size 4.*\(4, 5\)",
        ),
        (lambda: fnp.einsum("ii", np.ones((2, 3))), ShapeError, "diagonal.*2 != 3"),
        (lambda: fnp.einsum("...i->i", np.ones((2, 3))), ValueError, "no '...'"),
        (lambda: fnp.einsum("i", np.ones(2), out=np.ones(2)), NotImplementedError, "out="),
        (lambda: fnp.einsum("i", np.ones(2), optimize="fast"), ValueError, "optimize='fast'"),
        (
            lambda: fnp.einsum("i,i", np.ones(2), np.ones(2), optimize=[(0, 5)]),
            ValueError,
            "outside",
        ),
        (lambda: fnp.einsum(np.ones(2), [0, 52]), ValueError, r"\[0, 52\)"),
        (lambda: fnp.einsum("i-j", np.ones(2)), ValueError, "'->'"),
    ],
)
def test_einsum_errors(call, error, match):
    with pytest.raises(error, match=match):
        call()
