"""NumPy indexing (``x[idx]``) and index updates (``x.at[idx]``) against NumPy.

Random index expressions mix integers, slices with any step, ``None``, ``...``,
integer arrays (broadcasting, adjacent or not) and boolean masks; each is checked
eagerly, under ``jit`` (index arrays traced) and for gradients. Updates are compared
with NumPy's copy-and-assign and ``np.<ufunc>.at``.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import fxgrad
import fxgrad.numpy as fnp
from fxgrad.errors import ConcretizationError, MissingRuleError, ShapeError
from fxgrad.test_util import check_grads

# ---------------------------------------------------------------------------------------------
# Random index expressions
# ---------------------------------------------------------------------------------------------


@st.composite
def indexed(draw, allow_masks=True, min_size=0):
    """``(shape, index)`` with an in-bounds NumPy index for an array of ``shape``."""
    shape = tuple(draw(st.lists(st.integers(min_size, 4), min_size=0, max_size=4)))
    array_shape = tuple(draw(st.lists(st.integers(1, 3), max_size=2)))
    items, dim = [], 0
    used_ellipsis = False
    while dim < len(shape) and (used_ellipsis or draw(st.booleans())):
        n = shape[dim]
        choices = ["slice", "none"]
        if n:
            choices += ["int", "array"] + (["mask"] if allow_masks else [])
        if not used_ellipsis:
            choices.append("ellipsis")
        kind = draw(st.sampled_from(choices))
        if kind == "none":
            items.append(None)
        elif kind == "ellipsis":
            items.append(Ellipsis)
            used_ellipsis = True
            dim = len(shape) - draw(st.integers(0, len(shape) - dim))
        elif kind == "slice":
            bound = st.none() | st.integers(-n - 2, n + 2)
            step = st.none() | st.integers(-3, 3).filter(bool)
            items.append(slice(draw(bound), draw(bound), draw(step)))
            dim += 1
        elif kind == "int":
            items.append(draw(st.integers(-n, n - 1)))
            dim += 1
        elif kind == "array":
            # Each array broadcasts to ``array_shape`` (some axes kept at size 1).
            sub = tuple(s if draw(st.booleans()) else 1 for s in array_shape)
            rng = np.random.RandomState(draw(st.integers(0, 999)))
            items.append(rng.randint(-n, n, size=sub))
            dim += 1
        else:
            mask = np.random.RandomState(draw(st.integers(0, 99))).rand(n) > 0.4
            items.append(mask)
            dim += 1
    if draw(st.booleans()) and items:
        items.insert(draw(st.integers(0, len(items))), None)
    index = tuple(items) if (len(items) != 1 or draw(st.booleans())) else items[0]
    return shape, index


def _randn(shape):
    return np.asarray(np.random.randn(*shape))


def _arrays_of(index):
    """The integer arrays of ``index`` (to trace them) and a function rebuilding it."""
    items = index if isinstance(index, tuple) else (index,)
    slots = [i for i, it in enumerate(items) if isinstance(it, np.ndarray) and it.dtype != bool]

    def rebuild(*arrays):
        out = list(items)
        for i, a in zip(slots, arrays, strict=True):
            out[i] = a
        return tuple(out) if isinstance(index, tuple) else out[0]

    return [items[i] for i in slots], rebuild


def _numpy_accepts(x, index):
    """Whether NumPy accepts ``index`` (masks may not broadcast with other arrays); if
    not, fxgrad must raise the same ``IndexError``."""
    try:
        x[index]
    except IndexError:
        with pytest.raises(IndexError):
            fnp.asarray(x)[index]
        return False
    return True


@given(indexed())
def test_getitem_matches_numpy(case):
    shape, index = case
    x = np.arange(int(np.prod(shape)), dtype=np.float64).reshape(shape)
    assume(_numpy_accepts(x, index))
    expected = x[index]
    out = fnp.asarray(x)[index]
    assert out.shape == expected.shape
    np.testing.assert_array_equal(np.asarray(out), expected)


@given(indexed(allow_masks=False))
def test_getitem_under_jit_with_traced_index_arrays(case):
    shape, index = case
    x = _randn(shape)
    arrays, rebuild = _arrays_of(index)
    out = fxgrad.jit(lambda x, *a: x[rebuild(*a)])(x, *arrays)
    np.testing.assert_array_equal(np.asarray(out), x[index])


@given(indexed(allow_masks=False, min_size=1))
def test_getitem_gradients(case):
    shape, index = case
    x = _randn(shape)
    assume(x[index].size > 0)
    check_grads(lambda x: fnp.asarray(x)[index], (x,), order=1)


@pytest.mark.parametrize(
    "index",
    [
        (1, slice(None, None, -2)),
        (np.array([0, 2, 2]), slice(1, 3)),
        (slice(None), np.array([[0], [2]]), np.array([1, 0, 1])),
        (np.array([1, -1]), None, np.array([0, 3])),
        (Ellipsis, np.array([3, 3, 0])),
    ],
)
def test_getitem_second_order_gradients(index):
    x = np.random.randn(3, 4, 2)
    check_grads(lambda x: fnp.sin(fnp.asarray(x)[index]), (x,), order=2)


def test_traced_scalar_indices_clamp_like_jax():
    x = np.arange(60.0).reshape(4, 5, 3)
    f = fxgrad.jit(lambda x, i, j: x[i, 1:, j])
    np.testing.assert_array_equal(np.asarray(f(x, 2, -1)), x[2, 1:, -1])
    np.testing.assert_array_equal(np.asarray(f(x, 9, -9)), x[3, 1:, 0])
    g = fxgrad.jit(lambda x, i: x[[i, 0], i])  # a list holding a traced scalar
    np.testing.assert_array_equal(np.asarray(g(x, 1)), x[[1, 0], 1])


def test_out_of_bounds_gather_clamps_and_scatter_drops():
    x = fnp.arange(5.0)
    np.testing.assert_array_equal(np.asarray(x[10]), 4.0)
    np.testing.assert_array_equal(np.asarray(x[-10]), 0.0)
    np.testing.assert_array_equal(np.asarray(x[np.array([10, -10, -1])]), [4.0, 0.0, 4.0])
    filled = x.at[np.array([10, 1])].get(mode="fill", fill_value=-1.0)
    np.testing.assert_array_equal(np.asarray(filled), [-1.0, 1.0])
    assert np.isnan(np.asarray(x.at[7].get(mode="fill")))
    dropped = x.at[np.array([10, -10, -1])].set(100.0)
    np.testing.assert_array_equal(np.asarray(dropped), [0, 1, 2, 3, 100])
    np.testing.assert_array_equal(np.asarray(x.at[9].add(1.0)), np.arange(5.0))
    clipped = x.at[np.array([10, -10])].set(100.0, mode="clip")
    np.testing.assert_array_equal(np.asarray(clipped), [100, 1, 2, 3, 100])


@pytest.mark.parametrize("i", [-9, -3, -1, 0, 2, 3, 7])
def test_updates_at_traced_scalars_drop_or_clip_like_static_ones(i):
    x = np.arange(24.0).reshape(2, 3, 4)
    expected_drop = x.copy()
    expected_clip = x.copy()
    j = i + 2 if i < 0 else i
    if 0 <= j < 2:
        expected_drop[j, 1:3] += 5.0
    expected_clip[min(max(j, 0), 1), 1:3] += 5.0

    def f(x, i, mode):
        return fnp.asarray(x).at[i, 1:3].add(5.0, mode=mode)

    for mode, expected in ((None, expected_drop), ("clip", expected_clip)):
        np.testing.assert_array_equal(np.asarray(f(x, i, mode)), expected)  # static
        traced = fxgrad.jit(f, static_argnums=2)(x, i, mode)
        np.testing.assert_array_equal(np.asarray(traced), expected)
        batched = fxgrad.vmap(f, in_axes=(None, 0, None))(x, np.array([i, 0]), mode)
        np.testing.assert_array_equal(np.asarray(batched)[0], expected)


def test_boolean_masks_need_concrete_values():
    x = fnp.arange(6.0)
    np.testing.assert_array_equal(np.asarray(x[x > 2]), [3, 4, 5])
    with pytest.raises(ConcretizationError, match="boolean mask.*where"):
        fxgrad.jit(lambda x: x[x > 2])(x)
    with pytest.raises(ConcretizationError, match="boolean mask"):
        fxgrad.vmap(lambda x: x[x > 2])(x.reshape(2, 3))
    # A mask that is a constant inside jit is fine.
    mask = np.array([True, False] * 3)
    np.testing.assert_array_equal(np.asarray(fxgrad.jit(lambda x: x[mask])(x)), [0, 2, 4])


def test_index_errors():
    x = fnp.zeros((2, 3))
    with pytest.raises(IndexError, match="too many indices"):
        x[0, 0, 0]
    with pytest.raises(IndexError, match="single ellipsis"):
        x[..., 0, ...]
    with pytest.raises(IndexError, match="valid indices"):
        x[1.5]
    with pytest.raises(IndexError, match="valid indices"):
        x[np.array([0.5])]
    with pytest.raises(IndexError, match="boolean index"):
        x[np.array([True, False, True])]
    with pytest.raises(IndexError, match="could not be broadcast"):
        x[np.array([0, 1]), np.array([0, 1, 2])]
    with pytest.raises(ConcretizationError, match="slice.*dynamic_slice"):
        fxgrad.jit(lambda x, i: x[i:])(x, 1)
    with pytest.raises(TypeError, match="immutable"):
        x[0] = 1.0
    with pytest.raises(ShapeError, match=r"at\[idx\].set"):
        x.at[0].set(np.ones(2))


# ---------------------------------------------------------------------------------------------
# x.at[idx]
# ---------------------------------------------------------------------------------------------

UFUNCS = {"add": np.add, "multiply": np.multiply, "min": np.minimum, "max": np.maximum}


def _positions(shape, index):
    """Flat positions that ``x[index]`` reads, to find repeated targets."""
    return np.arange(int(np.prod(shape))).reshape(shape)[index]


@given(indexed(), st.sampled_from(["set", "add", "multiply", "min", "max"]))
def test_at_updates_match_numpy(case, method):
    shape, index = case
    x = _randn(shape)
    assume(_numpy_accepts(x, index))
    target = _positions(shape, index)
    values = _randn(target.shape)
    out = np.asarray(getattr(fnp.asarray(x).at[index], method)(values))
    if method == "set":
        expected = x.copy()
        expected[index] = values
        # Where several values target one element, any of them may land.
        flat_out, flat_exp = out.reshape(-1), expected.reshape(-1)
        for pos in np.unique(target):
            candidates = values.reshape(-1)[target.reshape(-1) == pos]
            if candidates.size > 1:
                assert flat_out[pos] in candidates
                flat_exp[pos] = flat_out[pos]
    else:
        expected = x.copy()
        UFUNCS[method].at(expected, index, values)
    np.testing.assert_allclose(out, expected, rtol=1e-12)


@given(indexed(allow_masks=False, min_size=1))
def test_at_set_and_add_gradients(case):
    shape, index = case
    x = _randn(shape)
    values = _randn(_positions(shape, index).shape)
    check_grads(lambda x, v: fnp.asarray(x).at[index].set(v), (x, values), order=1)
    check_grads(lambda x, v: fnp.asarray(x).at[index].add(v), (x, values), order=1)


def test_at_updates_under_jit_with_traced_indices():
    x = np.random.randn(4, 5)
    idx = np.array([3, 0, 3, -1])

    def f(x, i, v):
        x = fnp.asarray(x)
        return x.at[i, 1:3].add(v).at[i[0]].set(0.0).at[:, i].max(v[0, 0])

    v = np.random.randn(4, 2)
    expected = x.copy()
    np.add.at(expected, (idx, slice(1, 3)), v)
    expected[idx[0]] = 0.0
    np.maximum.at(expected, (slice(None), idx), v[0, 0])
    np.testing.assert_allclose(np.asarray(fxgrad.jit(f)(x, idx, v)), expected)
    check_grads(lambda x, v: f(x, idx, v), (x, v), order=2)


def test_at_divide_power_apply_and_get():
    x = fnp.arange(1.0, 6.0)
    idx = np.array([0, 0, 3])
    np.testing.assert_allclose(np.asarray(x.at[idx].divide(2.0)), [0.25, 2, 3, 2, 5])
    np.testing.assert_allclose(np.asarray(x.at[idx].power(2.0)), [1, 2, 3, 16, 5])
    np.testing.assert_allclose(np.asarray(x.at[1:3].mul(3.0)), [1, 6, 9, 4, 5])
    # apply runs once per selected element, even when the index repeats it
    np.testing.assert_allclose(np.asarray(x.at[idx].apply(lambda v: v + 10)), [11, 2, 3, 14, 5])
    np.testing.assert_allclose(np.asarray(x.at[idx].get()), [1, 1, 4])
    ints = fnp.arange(5)
    assert ints.at[1].add(2).dtype == ints.dtype
    assert x.at[np.array([1, 2])].set(7).dtype == x.dtype


def test_at_multiply_update_gradient_needs_unique_indices():
    x = np.ones(3)
    idx = np.array([0, 0])
    with pytest.raises(MissingRuleError, match="unique_indices"):
        fxgrad.grad(lambda v: fnp.asarray(x).at[idx].multiply(v).sum())(np.ones(2))
    g = fxgrad.grad(
        lambda v: fnp.asarray(x).at[np.array([0, 2])].multiply(v, unique_indices=True).sum()
    )
    np.testing.assert_allclose(np.asarray(g(np.ones(2))), [1.0, 1.0])


# ---------------------------------------------------------------------------------------------
# vmap
# ---------------------------------------------------------------------------------------------


def _loop(f, in_axes, args, size=3):
    outs = []
    for b in range(size):
        ex = [a if ax is None else np.take(a, b, ax) for a, ax in zip(args, in_axes, strict=True)]
        outs.append(np.asarray(f(*ex)))
    return np.stack(outs)


FUNCS = {
    "getitem": lambda x, i: x[i, 1:],
    "getitem_split": lambda x, i: x[i[:2], None, i[1:]],
    "scalar": lambda x, i: x[1:, i[1]],
    "set": lambda x, i: x.at[i, 2].set(7.0),
    "add": lambda x, i: x.at[i].add(x[0]),
    "min": lambda x, i: x.at[:, i].min(-0.5),
}


@pytest.mark.parametrize("name", sorted(FUNCS))
@pytest.mark.parametrize("in_axes", [(0, 0), (None, 0), (0, None), (2, 1)])
def test_vmap_indexing_with_batched_indices(name, in_axes):
    rng = np.random.RandomState(0)
    f = lambda x, i: FUNCS[name](fnp.asarray(x), i)  # noqa: E731
    x = rng.randn(*{0: (3, 4, 5), 2: (4, 5, 3), None: (4, 5)}[in_axes[0]])
    idx = rng.randint(-4, 4, size={0: (3, 3), 1: (3, 3), None: (3,)}[in_axes[1]])
    out = fxgrad.vmap(f, in_axes=in_axes)(x, idx)
    np.testing.assert_allclose(np.asarray(out), _loop(f, in_axes, (x, idx)))
    jitted = fxgrad.jit(fxgrad.vmap(f, in_axes=in_axes))(x, idx)
    np.testing.assert_allclose(np.asarray(jitted), _loop(f, in_axes, (x, idx)))
