"""Slicing, gather and scatter primitives against NumPy and loop references.

Gather and scatter are checked on random dimension numbers (batching dimensions and
every mode included) against a plain-Python loop that follows XLA's operation
semantics element by element; the slicing primitives against NumPy slicing.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import fxgrad
from fxgrad import lax
from fxgrad.errors import FxgradTypeError, MissingRuleError, ShapeError
from fxgrad.test_util import check_grads
from tests.records.slicing import pad_reference

# ---------------------------------------------------------------------------------------------
# Loop references (XLA semantics, one element at a time)
# ---------------------------------------------------------------------------------------------


def _start(ivec, index_map, shape, window):
    """Clamped window start along each axis, and whether the unclamped one was in bounds."""
    start, in_bounds = [0] * len(shape), True
    for k, d in enumerate(index_map):
        s, limit = int(ivec[k]), shape[d] - window[d]
        in_bounds &= 0 <= s <= limit
        start[d] = min(max(s, 0), limit)
    return start, in_bounds


def gather_reference(operand, indices, dn, slice_sizes, mode="clip", fill=np.nan):
    dropped = set(dn.collapsed_slice_dims) | set(dn.operand_batching_dims)
    offset_src = [d for d in range(operand.ndim) if d not in dropped]
    out_rank = indices.ndim - 1 + len(offset_src)
    batch_sizes = list(indices.shape[:-1])
    out_shape = []
    for p in range(out_rank):
        if p in dn.offset_dims:
            out_shape.append(slice_sizes[offset_src[dn.offset_dims.index(p)]])
        else:
            out_shape.append(batch_sizes.pop(0))
    out = np.zeros(out_shape, operand.dtype)
    for out_index in np.ndindex(*out_shape):
        batch = [out_index[p] for p in range(out_rank) if p not in dn.offset_dims]
        start, in_bounds = _start(
            indices[tuple(batch)], dn.start_index_map, operand.shape, slice_sizes
        )
        for od, idim in zip(dn.operand_batching_dims, dn.start_indices_batching_dims, strict=True):
            start[od] = batch[idim]
        for j, p in enumerate(dn.offset_dims):
            start[offset_src[j]] += out_index[p]
        out[out_index] = operand[tuple(start)] if in_bounds or mode == "clip" else fill
    return out


def scatter_reference(operand, indices, updates, dn, mode="drop", combine=None):
    """Returns the result and, per operand element, the list of values written to it."""
    out = np.array(operand, copy=True)
    window_src = [
        d
        for d in range(operand.ndim)
        if d not in dn.inserted_window_dims and d not in dn.operand_batching_dims
    ]
    window = [1] * operand.ndim
    for j, d in enumerate(window_src):
        window[d] = updates.shape[dn.update_window_dims[j]]
    writes: dict[tuple, list] = {}
    for u_index in np.ndindex(*updates.shape):
        scatter = [u_index[d] for d in range(updates.ndim) if d not in dn.update_window_dims]
        start, in_bounds = _start(
            indices[tuple(scatter)], dn.scatter_dims_to_operand_dims, operand.shape, window
        )
        if not in_bounds and mode != "clip":
            continue
        for od, idim in zip(
            dn.operand_batching_dims, dn.scatter_indices_batching_dims, strict=True
        ):
            start[od] = scatter[idim]
        for j, d in enumerate(window_src):
            start[d] += u_index[dn.update_window_dims[j]]
        target = tuple(start)
        value = updates[u_index]
        writes.setdefault(target, []).append(value)
        out[target] = value if combine is None else combine(out[target], value)
    return out, writes


def _random_case(seed):
    """Random operand shape, gather dimension numbers (with batching dims) and indices."""
    rng = np.random.RandomState(seed)
    ndim = rng.randint(1, 4)
    shape = tuple(int(s) for s in rng.randint(1, 5, size=ndim))
    dims = list(rng.permutation(ndim))
    n_batching = rng.randint(0, ndim) if ndim > 1 else 0
    operand_batching = sorted(int(d) for d in dims[:n_batching])
    mapped = [int(d) for d in dims[n_batching:][: rng.randint(1, ndim - n_batching + 1)]]
    collapsed = sorted(d for d in mapped if rng.rand() < 0.5)
    slice_sizes = [
        1 if d in operand_batching or d in collapsed else rng.randint(1, shape[d] + 1)
        for d in range(ndim)
    ]
    batch = [int(s) for s in rng.randint(1, 4, size=rng.randint(0, 3))]
    indices_batching = []
    for d in operand_batching:
        pos = rng.randint(0, len(batch) + 1)
        indices_batching = [p + (p >= pos) for p in indices_batching]
        batch.insert(pos, shape[d])
        indices_batching.append(pos)
    indices = rng.randint(-2, 6, size=(*batch, len(mapped)))
    n_offset = ndim - len(collapsed) - len(operand_batching)
    offset_dims = sorted(int(p) for p in rng.permutation(len(batch) + n_offset)[:n_offset])
    dn = lax.GatherDimensionNumbers(
        offset_dims=tuple(offset_dims),
        collapsed_slice_dims=tuple(collapsed),
        start_index_map=tuple(mapped),
        operand_batching_dims=tuple(operand_batching),
        start_indices_batching_dims=tuple(indices_batching),
    )
    return rng, rng.randn(*shape), indices, dn, slice_sizes


def _scatter_dnums(dn):
    return lax.ScatterDimensionNumbers(
        update_window_dims=dn.offset_dims,
        inserted_window_dims=dn.collapsed_slice_dims,
        scatter_dims_to_operand_dims=dn.start_index_map,
        operand_batching_dims=dn.operand_batching_dims,
        scatter_indices_batching_dims=dn.start_indices_batching_dims,
    )


# ---------------------------------------------------------------------------------------------
# gather / scatter values
# ---------------------------------------------------------------------------------------------

seeds = st.integers(0, 2**31 - 1)


@given(seeds, st.sampled_from(["clip", "fill", "promise_in_bounds"]))
def test_gather_matches_loop_reference(seed, mode):
    _, x, indices, dn, sizes = _random_case(seed)
    out = lax.gather(x, indices, dn, sizes, mode=mode, fill_value=-7.0)
    ref_mode = "fill" if mode == "fill" else "clip"
    expected = gather_reference(x, indices, dn, sizes, ref_mode, fill=-7.0)
    np.testing.assert_array_equal(np.asarray(out), expected)


@given(seeds, st.sampled_from(["clip", "drop", "promise_in_bounds"]))
def test_combining_scatters_match_loop_reference(seed, mode):
    rng, x, indices, dn, sizes = _random_case(seed)
    updates_shape = gather_reference(x, indices, dn, sizes).shape
    updates = np.asarray(rng.randn(*updates_shape))
    sdn = _scatter_dnums(dn)
    ref_mode = "clip" if mode == "clip" else "drop"
    for fn, combine in [
        (lax.scatter_add, np.add),
        (lax.scatter_mul, np.multiply),
        (lax.scatter_min, np.minimum),
        (lax.scatter_max, np.maximum),
    ]:
        expected, _ = scatter_reference(x, indices, updates, sdn, ref_mode, combine)
        out = fn(x, indices, updates, sdn, mode=mode)
        np.testing.assert_allclose(np.asarray(out), expected, rtol=1e-12, err_msg=fn.__name__)


@given(seeds, st.sampled_from(["clip", "drop"]))
def test_scatter_writes_one_of_the_colliding_updates(seed, mode):
    rng, x, indices, dn, sizes = _random_case(seed)
    updates = np.asarray(rng.randn(*gather_reference(x, indices, dn, sizes).shape))
    sdn = _scatter_dnums(dn)
    expected, writes = scatter_reference(x, indices, updates, sdn, mode)
    out = np.asarray(lax.scatter(x, indices, updates, sdn, mode=mode))
    for target, values in writes.items():
        assert out[target] in values
        expected[target] = out[target]
    np.testing.assert_array_equal(out, expected)


def test_gather_fill_defaults_by_dtype():
    dn = lax.GatherDimensionNumbers(offset_dims=(), collapsed_slice_dims=(0,), start_index_map=(0,))
    far = np.array([[7]])
    assert np.isnan(np.asarray(lax.gather(np.arange(3.0), far, dn, (1,), mode="fill")))[0]
    int_out = lax.gather(np.arange(3, dtype=np.int32), far, dn, (1,), mode="fill")
    assert np.asarray(int_out)[0] == np.iinfo(np.int32).min
    uint_out = lax.gather(np.arange(3, dtype=np.uint8), far, dn, (1,), mode="fill")
    assert np.asarray(uint_out)[0] == 255
    assert np.asarray(lax.gather(np.zeros(3, bool), far, dn, (1,), mode="fill"))[0]


def test_scatter_default_mode_drops_and_clip_clamps():
    dn = lax.ScatterDimensionNumbers(
        update_window_dims=(1,), inserted_window_dims=(), scatter_dims_to_operand_dims=(0,)
    )
    x, updates = np.zeros(5), np.ones((2, 2))
    indices = np.array([[4], [-1]])  # both windows would stick out
    np.testing.assert_array_equal(np.asarray(lax.scatter_add(x, indices, updates, dn)), x)
    clipped = lax.scatter_add(x, indices, updates, dn, mode="clip")
    np.testing.assert_array_equal(np.asarray(clipped), [1, 1, 0, 1, 1])


# ---------------------------------------------------------------------------------------------
# gather / scatter derivatives
# ---------------------------------------------------------------------------------------------


@given(seeds, st.sampled_from(["clip", "fill"]))
def test_gather_and_scatter_add_gradients(seed, mode):
    rng, x, indices, dn, sizes = _random_case(seed)
    updates = np.asarray(rng.randn(*gather_reference(x, indices, dn, sizes).shape))
    sdn = _scatter_dnums(dn)
    smode = "clip" if mode == "clip" else "drop"
    check_grads(lambda x: lax.gather(x, indices, dn, sizes, mode=mode, fill_value=0.0), (x,), 1)
    check_grads(lambda x, u: lax.scatter_add(x, indices, u, sdn, mode=smode), (x, updates), 1)


@given(seeds)
def test_scatter_gradient_with_colliding_indices(seed):
    rng, x, indices, dn, sizes = _random_case(seed)
    updates = np.asarray(rng.randn(*gather_reference(x, indices, dn, sizes).shape))
    sdn = _scatter_dnums(dn)
    check_grads(lambda x, u: lax.scatter(x, indices, u, sdn), (x, updates), 2)


def test_scatter_max_splits_the_tangent_between_ties():
    dn = lax.ScatterDimensionNumbers(
        update_window_dims=(), inserted_window_dims=(0,), scatter_dims_to_operand_dims=(0,)
    )
    idx = np.array([[1], [1]])

    def f(x, u):
        return lax.scatter_max(x, idx, u, dn)

    x, u = np.array([1.0, 5.0]), np.array([5.0, 5.0])
    out, tangent = fxgrad.jvp(f, (x, u), (np.array([0.0, 3.0]), np.array([6.0, 0.0])))
    np.testing.assert_allclose(np.asarray(out), [1.0, 5.0])
    np.testing.assert_allclose(np.asarray(tangent), [0.0, 3.0])  # (3 + 6 + 0) / 3
    grads = fxgrad.grad(lambda x, u: f(x, u)[1], argnums=(0, 1))(x, u)
    np.testing.assert_allclose(np.asarray(grads[0]), [0.0, 1 / 3])
    np.testing.assert_allclose(np.asarray(grads[1]), [1 / 3, 1 / 3])


def test_scatter_mul_update_gradient_needs_unique_indices():
    dn = lax.ScatterDimensionNumbers(
        update_window_dims=(), inserted_window_dims=(0,), scatter_dims_to_operand_dims=(0,)
    )
    idx = np.array([[0], [0]])
    f = lambda u: lax.scatter_mul(np.ones(2), idx, u, dn).sum()  # noqa: E731
    with pytest.raises(MissingRuleError, match="unique_indices=True"):
        fxgrad.grad(f)(np.array([2.0, 3.0]))
    # d/dx of x * u0 * u1 is fine: the operand derivative needs no uniqueness.
    g = fxgrad.grad(lambda x: lax.scatter_mul(x, idx, np.array([2.0, 3.0]), dn).sum())(np.ones(2))
    np.testing.assert_allclose(np.asarray(g), [6.0, 1.0])


def test_scatter_transposes_in_its_operand():
    dn = lax.ScatterDimensionNumbers(
        update_window_dims=(), inserted_window_dims=(0,), scatter_dims_to_operand_dims=(0,)
    )
    idx = np.array([[2], [0], [2]])
    zeros = np.zeros(3)
    f_t = fxgrad.linear_transpose(lambda x: lax.scatter(x, idx, zeros, dn), np.zeros(4))
    (ct,) = f_t(np.array([1.0, 2.0, 3.0, 4.0]))
    np.testing.assert_array_equal(np.asarray(ct), [0.0, 2.0, 0.0, 4.0])


# ---------------------------------------------------------------------------------------------
# vmap with batched indices
# ---------------------------------------------------------------------------------------------

IN_AXES = [(0, 0), (None, 0), (0, None), (1, 1)]


def _loop(f, in_axes, args, size):
    outs = []
    for b in range(size):
        ex = [a if ax is None else np.take(a, b, ax) for a, ax in zip(args, in_axes, strict=True)]
        outs.append(np.asarray(f(*ex)))
    return np.stack(outs)


def _batched(rng, arr, axis, size, draw):
    if axis is None:
        return arr
    return np.stack([draw() for _ in range(size)], axis=axis)


@pytest.mark.parametrize("in_axes", IN_AXES)
@pytest.mark.parametrize("seed", range(6))
def test_vmap_gather_and_scatter_with_batched_indices(seed, in_axes):
    rng, x, indices, dn, sizes = _random_case(seed)
    size = 3
    shape, ishape = x.shape, indices.shape
    xs = _batched(rng, x, in_axes[0], size, lambda: rng.randn(*shape))
    ids = _batched(rng, indices, in_axes[1], size, lambda: rng.randint(-2, 6, size=ishape))
    gather = lambda x, i: lax.gather(x, i, dn, sizes, mode="fill", fill_value=0.5)  # noqa: E731
    out = fxgrad.vmap(gather, in_axes=in_axes)(xs, ids)
    np.testing.assert_array_equal(np.asarray(out), _loop(gather, in_axes, (xs, ids), size))
    updates = np.asarray(rng.randn(*gather_reference(x, indices, dn, sizes).shape))
    sdn = _scatter_dnums(dn)
    scatter = lambda x, i: lax.scatter_add(x, i, updates, sdn)  # noqa: E731
    out = fxgrad.jit(fxgrad.vmap(scatter, in_axes=in_axes))(xs, ids)
    np.testing.assert_allclose(np.asarray(out), _loop(scatter, in_axes, (xs, ids), size))


@pytest.mark.parametrize("in_axes", IN_AXES)
def test_vmap_dynamic_slice_with_batched_starts(in_axes):
    rng = np.random.RandomState(0)
    xs = rng.randn(3, 4, 5) if in_axes[0] == 0 else rng.randn(4, 5)
    starts = rng.randint(-6, 6, size=(3, 2))
    if in_axes[0] == 1:
        xs = rng.randn(4, 3, 5)
    if in_axes[1] == 1:
        starts = starts.T
    elif in_axes[1] is None:
        starts = starts[0]

    def f(x, s):
        return lax.dynamic_slice(x, (s[0], s[1]), (2, 3))

    def g(x, s):
        return lax.dynamic_update_slice(x, 10 * x[:2, :3], (s[1], s[0]))

    for fn in (f, g):
        out = fxgrad.vmap(fn, in_axes=in_axes)(xs, starts)
        np.testing.assert_array_equal(np.asarray(out), _loop(fn, in_axes, (xs, starts), 3))
        grad_fn = fxgrad.grad(lambda x, s, fn=fn: (fn(x, s) ** 2).sum())
        batched = fxgrad.vmap(grad_fn, in_axes=in_axes)(xs, starts)
        expected = _loop(grad_fn, in_axes, (xs, starts), 3)
        np.testing.assert_allclose(np.asarray(batched), expected)


# ---------------------------------------------------------------------------------------------
# slicing primitives
# ---------------------------------------------------------------------------------------------

shapes = st.lists(st.integers(0, 4), min_size=1, max_size=3).map(tuple)


@given(shapes, st.data())
def test_slice_matches_numpy(shape, data):
    starts, limits, strides = [], [], []
    for n in shape:
        start = data.draw(st.integers(0, n))
        starts.append(start)
        limits.append(data.draw(st.integers(start, n)))
        strides.append(data.draw(st.integers(1, 3)))
    x = np.random.randn(*shape)
    expected = x[tuple(slice(*t) for t in zip(starts, limits, strides, strict=True))]
    np.testing.assert_array_equal(np.asarray(lax.slice(x, starts, limits, strides)), expected)
    if x.size:
        check_grads(lambda x: lax.slice(x, starts, limits, strides), (x,), 1)


@given(shapes, st.data())
def test_pad_matches_reference(shape, data):
    config = []
    for n in shape:
        interior = data.draw(st.integers(0, 2))
        spread = n + max(n - 1, 0) * interior
        lo = data.draw(st.integers(-spread, 3))
        hi = data.draw(st.integers(-(spread + lo), 3))
        config.append((lo, hi, interior))
    x = np.random.randn(*shape)
    out = lax.pad(x, -1.5, config)
    np.testing.assert_array_equal(np.asarray(out), pad_reference(x, -1.5, config))
    check_grads(lambda x, v: lax.pad(x, v, config), (x, np.array(0.3)), 1)


@given(shapes, st.data())
def test_dynamic_slice_and_update_clamp_like_xla(shape, data):
    sizes = [data.draw(st.integers(0, n)) for n in shape]
    starts = [data.draw(st.integers(-2 * n - 1, 2 * n + 1)) for n in shape]
    x = np.random.randn(*shape)
    # negative indices wrap once, then the start is clamped into [0, n - size]
    wrapped = [s + n if s < 0 else s for s, n in zip(starts, shape, strict=True)]
    clamped = [min(max(s, 0), n - k) for s, n, k in zip(wrapped, shape, sizes, strict=True)]
    box = tuple(slice(s, s + k) for s, k in zip(clamped, sizes, strict=True))
    traced = fxgrad.jit(lambda x, *s: lax.dynamic_slice(x, s, sizes))(x, *starts)
    np.testing.assert_array_equal(np.asarray(traced), x[box])
    update = np.random.randn(*sizes)
    expected = x.copy()
    expected[box] = update
    out = fxgrad.jit(lambda x, u, *s: lax.dynamic_update_slice(x, u, s))(x, update, *starts)
    np.testing.assert_array_equal(np.asarray(out), expected)


def test_concatenate_and_rev():
    x, y = np.random.randn(2, 3), np.random.randn(2, 1)
    np.testing.assert_array_equal(np.asarray(lax.concatenate([x, y], 1)), np.hstack([x, y]))
    np.testing.assert_array_equal(np.asarray(lax.rev(x, (1,))), x[:, ::-1])
    check_grads(lambda x, y: lax.concatenate([y, x, y], 1), (x, y), 2)


def test_iota_full_and_helpers():
    np.testing.assert_array_equal(np.asarray(lax.iota(np.int32, 4)), np.arange(4, dtype=np.int32))
    assert lax.iota(np.int32, 4).dtype == np.int32
    expected = np.broadcast_to(np.arange(3.0)[None, :, None], (2, 3, 2))
    np.testing.assert_array_equal(
        np.asarray(lax.broadcasted_iota("float32", (2, 3, 2), 1)), expected
    )
    np.testing.assert_array_equal(np.asarray(lax.full((2, 1), 3, np.float32)), np.full((2, 1), 3.0))
    assert lax.full((2,), 3, np.float32).dtype == np.float32
    assert lax.full((2,), 1.5).dtype == np.float64
    traced = fxgrad.jit(lambda v: lax.full((3,), v))(np.float32(2.0))
    np.testing.assert_array_equal(np.asarray(traced), np.full(3, 2.0, np.float32))
    z = lax.zeros_like_array(np.ones((2, 3), np.int8))
    assert z.shape == (2, 3) and z.dtype == np.int8 and not np.asarray(z).any()
    x = np.arange(12.0).reshape(3, 4)
    np.testing.assert_array_equal(np.asarray(lax.dynamic_slice_in_dim(x, -1, 2, axis=1)), x[:, 2:])
    out = lax.dynamic_update_slice_in_dim(x, np.zeros((3, 1)), 2, axis=1)
    np.testing.assert_array_equal(np.asarray(out)[:, 2], 0)


def test_slicing_primitives_are_staged_into_jaxprs():
    def f(x, i):
        y = lax.dynamic_slice(x, (i,), (2,))
        return lax.pad(lax.rev(y, (0,)), 0.0, [(1, 1, 0)])

    text = str(fxgrad.make_jaxpr(f)(np.zeros(5), 1))
    for name in ("dynamic_slice", "rev", "pad"):
        assert name in text


# ---------------------------------------------------------------------------------------------
# errors
# ---------------------------------------------------------------------------------------------


def test_shape_and_dtype_errors_are_named():
    x = np.zeros((3, 4))
    with pytest.raises(ShapeError, match="lax.pad.*negative size"):
        lax.pad(x, 0.0, [(-3, -1, 0), (0, 0, 0)])
    with pytest.raises(ShapeError, match="lax.pad.*interior"):
        lax.pad(x, 0.0, [(0, 0, -1), (0, 0, 0)])
    with pytest.raises(ShapeError, match="lax.slice.*start <= limit"):
        lax.slice(x, (0, 2), (3, 5))
    with pytest.raises(FxgradTypeError, match="lax.concatenate.*same dtype"):
        lax.concatenate([x, x.astype(np.float32)], 0)
    with pytest.raises(ShapeError, match="lax.concatenate.*except along dimension 1"):
        lax.concatenate([x, np.zeros((2, 4))], 1)
    with pytest.raises(ShapeError, match="lax.dynamic_slice.*start indices"):
        lax.dynamic_slice(x, (0,), (1, 1))
    with pytest.raises(ShapeError, match="lax.dynamic_slice.*slice_sizes"):
        lax.dynamic_slice(x, (0, 0), (4, 1))
    with pytest.raises(FxgradTypeError, match="integer scalars"):
        lax.dynamic_slice(x, (0.5, 0), (1, 1))
    with pytest.raises(ShapeError, match="dynamic_update_slice.*fit inside"):
        lax.dynamic_update_slice(x, np.zeros((4, 5)), (0, 0))
    rows = lax.GatherDimensionNumbers(
        offset_dims=(1,), collapsed_slice_dims=(0,), start_index_map=(0,)
    )
    with pytest.raises(ShapeError, match="lax.gather.*slice size 1"):
        lax.gather(x, np.zeros((2, 1), int), rows, (2, 4))
    with pytest.raises(FxgradTypeError, match="lax.gather: indices must have an integer dtype"):
        lax.gather(x, np.zeros((2, 1)), rows, (1, 4))
    with pytest.raises(ShapeError, match="index vector"):
        lax.gather(x, np.zeros((2, 2), int), rows, (1, 4))
    srows = lax.ScatterDimensionNumbers(
        update_window_dims=(1,), inserted_window_dims=(0,), scatter_dims_to_operand_dims=(0,)
    )
    with pytest.raises(ShapeError, match="lax.scatter_add.*batch axes of the indices"):
        lax.scatter_add(x, np.zeros((2, 1), int), np.zeros((3, 4)), srows)
    with pytest.raises(ValueError, match="unknown gather/scatter mode"):
        lax.gather(x, np.zeros((2, 1), int), rows, (1, 4), mode="wrap")
    with pytest.raises(ShapeError, match="lax.iota"):
        lax.broadcasted_iota(np.int32, (2, 3), 5)
