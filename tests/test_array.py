"""``fxgrad.Array``: immutability, operators, conversions, attributes, repr, pickling.

Values are compared with NumPy on the same data; reprs with the text JAX prints for
the same arrays (x64 enabled).
"""

import copy
import operator
import pickle

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import fxgrad
import fxgrad.numpy as fnp
from fxgrad import Array

A = np.array([[1.0, -2.0, 3.5], [0.5, 4.0, -1.0]])
B = np.array([[2.0, 1.0, -0.5], [3.0, -2.0, 1.5]])


def close(a, b):
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape and a.dtype == b.dtype, (a.shape, a.dtype, b.shape, b.dtype)
    np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------------------------------
# Immutability
# ---------------------------------------------------------------------------------------


def test_setitem_raises_and_names_at():
    x = fnp.arange(3.0)
    with pytest.raises(TypeError, match=r"immutable.*\.at\[idx\]\.set"):
        x[0] = 1.0
    close(x, np.arange(3.0))


def test_setitem_on_tracers_raises_too():
    def f(x):
        x[0] = 1.0
        return x

    with pytest.raises(TypeError, match=r"\.at\["):
        fxgrad.jit(f)(fnp.arange(3.0))
    with pytest.raises(TypeError, match=r"\.at\["):
        fxgrad.grad(lambda x: f(x).sum())(fnp.arange(3.0))


def test_buffer_is_read_only():
    x = fnp.arange(3.0)
    view = np.asarray(x)
    with pytest.raises(ValueError, match="read-only"):
        view[0] = 5.0
    close(x, np.arange(3.0))


@pytest.mark.parametrize(
    "make",
    [
        fnp.asarray,
        fnp.array,
        Array,
        fxgrad.device_put,
        lambda a: fxgrad.jit(lambda v: v * 1.0)(a),
        lambda a: fnp.sin(a),
        lambda a: fxgrad.lax.reshape(a, (1, 3)),
    ],
    ids=["asarray", "array", "Array", "device_put", "jit", "sin", "lax.reshape"],
)
def test_numpy_input_is_neither_frozen_nor_aliased(make):
    a = np.ones(3)
    x = make(a)
    before = np.asarray(x).copy()
    a[0] = 5.0  # the caller's array stays writeable ...
    close(x, before)  # ... and the Array does not see the change


# ---------------------------------------------------------------------------------------
# Operators
# ---------------------------------------------------------------------------------------

BINARY = [
    operator.add,
    operator.sub,
    operator.mul,
    operator.truediv,
    operator.pow,
    operator.lt,
    operator.le,
    operator.gt,
    operator.ge,
    operator.eq,
    operator.ne,
]


@pytest.mark.parametrize("op", BINARY, ids=lambda op: op.__name__)
def test_binary_operators_match_numpy(op):
    a, b = np.abs(A) + 0.5, B
    x, y = fnp.asarray(a), fnp.asarray(b)
    close(op(x, y), op(a, b))
    close(op(x, b), op(a, b))  # NumPy right operand
    close(op(a, y), op(a, b))  # NumPy left operand: the Array's reflected op wins
    close(op(x, 2.0), op(a, 2.0))
    close(op(2.0, x), op(2.0, a))  # reflected with a Python scalar


@pytest.mark.parametrize(
    "op",
    [
        operator.floordiv,
        operator.mod,
        operator.and_,
        operator.or_,
        operator.xor,
        operator.lshift,
        operator.rshift,
    ],
    ids=lambda op: op.__name__,
)
def test_integer_operators_match_numpy(op):
    a = np.array([5, 7, 12, 3])
    b = np.array([2, 3, 5, 1])
    close(op(fnp.asarray(a), fnp.asarray(b)), op(a, b))
    close(op(fnp.asarray(a), 2), op(a, 2))
    close(op(7, fnp.asarray(b)), op(7, b))


def test_float_floordiv_and_mod_match_numpy():
    a = np.array([5.5, -7.25, 12.0])
    close(fnp.asarray(a) // 2.0, a // 2.0)
    close(fnp.asarray(a) % 2.0, a % 2.0)
    q, r = divmod(fnp.asarray(a), 2.0)
    close(q, a // 2.0)
    close(r, a % 2.0)


def test_matmul_and_reflected_matmul():
    m = np.arange(6.0).reshape(2, 3)
    v = np.array([1.0, -1.0, 2.0])
    close(fnp.asarray(m) @ fnp.asarray(v), m @ v)
    close(m @ fnp.asarray(v), m @ v)
    close(fnp.asarray(m) @ v, m @ v)
    close(fnp.asarray(m) @ fnp.asarray(m.T), m @ m.T)


def test_unary_operators():
    x = fnp.asarray(A)
    close(-x, -A)
    close(+x, +A)
    close(abs(x), abs(A))
    close(~fnp.asarray(np.array([True, False])), np.array([False, True]))
    close(~fnp.asarray(np.array([1, -2])), ~np.array([1, -2]))


def test_weak_scalars_keep_the_array_dtype():
    x32 = fnp.asarray(np.ones(2, np.float32))
    assert (x32 * 2.0).dtype == np.float32
    assert (2.0 * x32).dtype == np.float32
    assert (fnp.arange(3) + 1.5).dtype == np.float64
    assert (fnp.arange(3, dtype=np.int32) + 1).dtype == np.int32


# ---------------------------------------------------------------------------------------
# Conversions and Python protocols
# ---------------------------------------------------------------------------------------


def test_array_protocol():
    x = fnp.asarray(A)
    out = np.asarray(x)
    assert isinstance(out, np.ndarray) and out.dtype == np.float64
    close(out, A)
    out32 = np.asarray(x, dtype=np.float32)
    assert out32.dtype == np.float32
    assert np.array(x, copy=True).flags.writeable
    close(np.sin(x), np.sin(A))  # NumPy functions accept Arrays


def test_len_iteration_and_scalars():
    x = fnp.asarray(A)
    assert len(x) == 2
    rows = list(x)
    assert len(rows) == 2 and all(isinstance(r, Array) for r in rows)
    close(rows[1], A[1])
    with pytest.raises(TypeError, match="unsized"):
        len(fnp.asarray(1.0))
    with pytest.raises(TypeError, match="0-d"):
        iter(fnp.asarray(1.0))
    assert float(fnp.asarray(2.5)) == 2.5
    assert int(fnp.asarray(3)) == 3
    assert complex(fnp.asarray(1 + 2j)) == 1 + 2j
    assert bool(fnp.asarray(True)) is True
    with pytest.raises(ValueError, match="ambiguous"):
        bool(fnp.arange(3.0))
    assert [10, 20, 30][fnp.asarray(1)] == 20
    with pytest.raises(TypeError, match="integer"):
        [10, 20, 30][fnp.asarray(1.0)]
    assert fnp.asarray(2.5).item() == 2.5
    assert fnp.asarray(A).tolist() == A.tolist()
    assert f"{fnp.asarray(1.5):.3f}" == "1.500"
    assert 4.0 in fnp.asarray(A[1]) and 9.0 not in fnp.asarray(A[1])
    with pytest.raises(ValueError):  # as in JAX, only 1-d arrays support `in`
        4.0 in fnp.asarray(A)  # noqa: B015


def test_attributes():
    x = fnp.asarray(np.ones((2, 3, 4), np.float32))
    assert x.shape == (2, 3, 4)
    assert x.dtype == np.float32
    assert x.ndim == 3
    assert x.size == 24
    assert x.itemsize == 4 and x.nbytes == 96
    assert x.T.shape == (4, 3, 2)
    assert x.aval.shape == (2, 3, 4)
    assert x.block_until_ready() is x
    assert not x.weak_type and fnp.asarray(1.0).weak_type


def test_methods_match_numpy():
    x = fnp.asarray(A)
    close(x.astype(np.int32), A.astype(np.int32))
    close(x.astype(np.float32), A.astype(np.float32))
    close(x.reshape(3, 2), A.reshape(3, 2))
    close(x.reshape((6,)), A.reshape(6))
    close(x.reshape(-1), A.reshape(-1))
    close(x.transpose(), A.T)
    close(x.T, A.T)
    close(x.flatten(), A.flatten())
    close(x.ravel(), A.ravel())
    close(x.sum(), A.sum())
    close(x.sum(axis=0), A.sum(axis=0))
    close(x.sum(axis=1, keepdims=True), A.sum(axis=1, keepdims=True))
    close(x.mean(axis=1), A.mean(axis=1))
    close(x.max(), A.max())
    close(x.min(axis=0), A.min(axis=0))
    close(x.var(), A.var())
    close(x.std(axis=0), A.std(axis=0))
    close(x.swapaxes(0, 1), A.swapaxes(0, 1))
    close(x.squeeze(), A.squeeze())
    close(x.dot(A.T), A.dot(A.T))
    close(x.clip(-1.0, 1.0), A.clip(-1.0, 1.0))
    close(x.round(), A.round())
    close(x.copy(), A)
    close(fnp.asarray(A + 1j * B).real, A)
    close(fnp.asarray(A + 1j * B).imag, B)
    close(fnp.asarray(A + 1j * B).conj(), A - 1j * B)


def test_methods_work_on_tracers():
    def f(x):
        return (x.reshape(3, 2).T.sum(axis=0) * x.mean()).astype(np.float64)

    expected = (A.reshape(3, 2).T.sum(axis=0) * A.mean()).astype(np.float64)
    close(fxgrad.jit(f)(A), expected)
    close(fxgrad.vmap(f)(np.stack([A, 2 * A])), np.stack([expected, 4 * expected]))


# ---------------------------------------------------------------------------------------
# repr, str, hashing, pickling
# ---------------------------------------------------------------------------------------

# The expected texts are what JAX prints for the same arrays (jax_enable_x64=True).
REPRS = [
    (lambda: fnp.arange(3.0), "Array([0., 1., 2.], dtype=float64)"),
    (lambda: fnp.arange(3), "Array([0, 1, 2], dtype=int64)"),
    (lambda: fnp.arange(3.0) > 1, "Array([False, False,  True], dtype=bool)"),
    (lambda: fnp.asarray(1.0), "Array(1., dtype=float64, weak_type=True)"),
    (lambda: fnp.asarray(2), "Array(2, dtype=int64, weak_type=True)"),
    (lambda: fnp.asarray(1.0) + 1, "Array(2., dtype=float64, weak_type=True)"),
    (lambda: fnp.ones((2, 3)), "Array([[1., 1., 1.],\n       [1., 1., 1.]], dtype=float64)"),
    (lambda: fnp.ones((0, 3)), "Array([], shape=(0, 3), dtype=float64)"),
    (lambda: fnp.ones((0,)), "Array([], dtype=float64)"),
    (lambda: fnp.arange(3.0, dtype=np.float32), "Array([0., 1., 2.], dtype=float32)"),
    (lambda: fnp.asarray(1 + 2j), "Array(1.+2.j, dtype=complex128, weak_type=True)"),
    (lambda: fnp.asarray(np.array([1e-10, 1e10])), "Array([1.e-10, 1.e+10], dtype=float64)"),
]


@pytest.mark.parametrize("make, text", REPRS, ids=[t for _, t in REPRS])
def test_repr_like_jax(make, text):
    assert repr(make()) == text


def test_repr_of_large_array_is_summarised():
    text = repr(fnp.arange(2000.0))
    assert text.startswith("Array([0.000e+00, 1.000e+00") and "..." in text
    assert text.endswith("dtype=float64)")


def test_str_is_numpy_str():
    assert str(fnp.asarray(A)) == str(A)


def test_hash_raises_type_error():
    with pytest.raises(TypeError, match="unhashable"):
        hash(fnp.arange(3.0))
    with pytest.raises(TypeError, match="unhashable"):
        {fnp.asarray(1.0): 1}


def test_pickle_and_copy_roundtrip():
    for x in (fnp.asarray(A), fnp.asarray(1.0), fnp.arange(3), fnp.ones((0, 2))):
        for y in (pickle.loads(pickle.dumps(x)), copy.copy(x), copy.deepcopy(x)):
            assert isinstance(y, Array)
            assert y.weak_type == x.weak_type
            close(y, x)
            with pytest.raises(ValueError, match="read-only"):
                np.asarray(y)[...] = 0


# ---------------------------------------------------------------------------------------
# Hypothesis: operators on random shapes match NumPy
# ---------------------------------------------------------------------------------------


@given(
    shape=st.lists(st.integers(0, 3), max_size=3).map(tuple),
    dtype=st.sampled_from([np.float32, np.float64, np.int32, np.int64]),
)
def test_arithmetic_matches_numpy_for_any_shape(shape, dtype):
    rng = np.random.default_rng(0)
    a = (rng.normal(size=shape) * 4).astype(dtype)
    b = (rng.normal(size=shape) * 4).astype(dtype)
    x, y = fnp.asarray(a), fnp.asarray(b)
    close(x + y, a + b)
    close(x * y - a, a * b - a)
    close(x > y, a > b)
    close(-x, -a)
    assert (x + y).shape == shape
    if shape:
        rows = list(x)
        assert len(rows) == shape[0]
        for row, expected in zip(rows, a, strict=True):
            close(row, expected)
