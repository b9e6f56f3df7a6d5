"""Records for slicing, gather/scatter, NumPy indexing and the joining functions.

Index arrays are fixed constants inside each function (the suites draw every argument
with one floating dtype); batched and traced indices are tested in
``tests/test_lax_slicing.py`` and ``tests/test_indexing.py``. Each reference is NumPy
(copy-and-assign for the updates), or a small loop where NumPy has no counterpart.
"""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np

import fxgrad.numpy as fnp
from fxgrad import lax
from tests.op_records import OpRecord, rand_distinct, rand_positive

IDX = np.array([2, 0, -1, 2])  # repeats, and a negative index
UNIQUE = np.array([3, 0, 1])
KEPT = IDX >= 0  # lax scatters drop negative (out-of-bounds) indices


def _rand(rng, shape, dtype):
    return np.asarray(rng.randn(*shape)).astype(dtype)


def pad_reference(x, value, config):
    """``lax.pad`` by placing every input element at its output position."""
    x = np.asarray(x)
    out_shape = [
        lo + hi + n + max(n - 1, 0) * interior
        for n, (lo, hi, interior) in zip(x.shape, config, strict=True)
    ]
    out = np.full(out_shape, value, dtype=x.dtype)
    for index in itertools.product(*(range(n) for n in x.shape)):
        target = [
            lo + i * (interior + 1) for i, (lo, _, interior) in zip(index, config, strict=True)
        ]
        if all(0 <= t < n for t, n in zip(target, out_shape, strict=True)):
            out[tuple(target)] = x[index]
    return out


def _assign(x, index, values, op=None):
    out = np.array(x, copy=True)
    if op is None:
        out[index] = values
    else:
        op.at(out, index, values)
    return out


# Row gather: x[IDX] as a gather (clamped), and the matching scatters.
ROWS = lax.GatherDimensionNumbers(offset_dims=(1,), collapsed_slice_dims=(0,), start_index_map=(0,))
SROWS = lax.ScatterDimensionNumbers(
    update_window_dims=(1,), inserted_window_dims=(0,), scatter_dims_to_operand_dims=(0,)
)
# Windows of size (2, 2) at (row, col) starts, clamped into bounds.
STARTS = np.array([[0, 1], [2, 2], [5, -1]])
WINDOWS = lax.GatherDimensionNumbers(
    offset_dims=(1, 2), collapsed_slice_dims=(), start_index_map=(0, 1)
)
# Batching dims: out[b, :] = x[b, IDX_B[b], :].
IDX_B = np.array([[1], [0], [2]])
BATCHED = lax.GatherDimensionNumbers(
    offset_dims=(1,),
    collapsed_slice_dims=(1,),
    start_index_map=(1,),
    operand_batching_dims=(0,),
    start_indices_batching_dims=(0,),
)


def _windows_reference(x):
    starts = np.clip(STARTS, 0, np.array(x.shape) - 2)
    return np.stack([x[r : r + 2, c : c + 2] for r, c in starts])


LAX = [
    OpRecord(
        "slicing_lax_concatenate",
        lambda x, y: lax.concatenate([x, y, x], 1),
        [(2, 3), (2, 1)],
        lambda x, y: np.concatenate([x, y, x], 1),
    ),
    OpRecord(
        "slicing_lax_pad",
        lambda x, v: lax.pad(x, v, [(1, -1, 1), (-1, 2, 0)]),
        [(3, 4), ()],
        lambda x, v: pad_reference(x, v, [(1, -1, 1), (-1, 2, 0)]),
        rand=_rand,
    ),
    OpRecord(
        "slicing_lax_pad_interior_crop",
        lambda x: lax.pad(x, 0.0, [(-2, -1, 2)]),
        [(4,)],
        lambda x: pad_reference(x, 0.0, [(-2, -1, 2)]),
    ),
    OpRecord(
        "slicing_lax_slice_strided",
        lambda x: lax.slice(x, (1, 0), (4, 3), (2, 2)),
        [(5, 4)],
        lambda x: x[1:4:2, 0:3:2],
    ),
    OpRecord(
        "slicing_lax_slice_in_dim",
        lambda x: lax.slice_in_dim(x, -3, None, 1, axis=1),
        [(2, 4)],
        lambda x: x[:, -3:],
    ),
    OpRecord(
        "slicing_lax_index_in_dim",
        lambda x: lax.index_in_dim(x, -1, axis=1, keepdims=False),
        [(2, 4)],
        lambda x: x[:, -1],
    ),
    OpRecord(
        "slicing_lax_rev", lambda x: lax.rev(x, (0, 2)), [(2, 3, 2)], lambda x: x[::-1, :, ::-1]
    ),
    OpRecord(
        "slicing_lax_dynamic_slice",
        lambda x: lax.dynamic_slice(x, (1, -2), (2, 2)),
        [(4, 4)],
        lambda x: x[1:3, 2:4],
    ),
    OpRecord(
        "slicing_lax_dynamic_slice_clamped",
        lambda x: lax.dynamic_slice(x, (3, 7), (2, 3)),
        [(4, 4)],
        lambda x: x[2:4, 1:4],
    ),
    OpRecord(
        "slicing_lax_dynamic_index_in_dim",
        lambda x: lax.dynamic_index_in_dim(x, 2, axis=1, keepdims=False),
        [(2, 4)],
        lambda x: x[:, 2],
    ),
    OpRecord(
        "slicing_lax_dynamic_update_slice",
        lambda x, u: lax.dynamic_update_slice(x, u, (2, 3)),
        [(4, 4), (2, 2)],
        lambda x, u: _assign(x, (slice(2, 4), slice(2, 4)), u),
    ),
    OpRecord(
        "slicing_lax_dynamic_update_index_in_dim",
        lambda x, u: lax.dynamic_update_index_in_dim(x, u, -1, axis=0),
        [(3, 4), (4,)],
        lambda x, u: _assign(x, 2, u),
    ),
    OpRecord(
        "slicing_lax_gather_rows",
        lambda x: lax.gather(x, IDX[:, None] % 3, ROWS, (1, 4)),
        [(3, 4)],
        lambda x: x[IDX % 3],
    ),
    OpRecord(
        "slicing_lax_gather_windows_clip",
        lambda x: lax.gather(x, STARTS, WINDOWS, (2, 2), mode="clip"),
        [(4, 3)],
        _windows_reference,
    ),
    OpRecord(
        "slicing_lax_gather_fill",
        lambda x: lax.gather(
            x, np.array([[1], [3], [-1]]), ROWS, (1, 2), mode="fill", fill_value=0.5
        ),
        [(3, 2)],
        lambda x: np.stack([x[1], np.full(2, 0.5, x.dtype), np.full(2, 0.5, x.dtype)]),
    ),
    OpRecord(
        "slicing_lax_gather_batching_dims",
        lambda x: lax.gather(x, IDX_B, BATCHED, (1, 1, 4)),
        [(3, 3, 4)],
        lambda x: np.stack([x[b, IDX_B[b, 0]] for b in range(3)]),
    ),
    OpRecord(
        "slicing_lax_scatter_add",
        lambda x, u: lax.scatter_add(x, IDX[:, None], u, SROWS),
        [(3, 2), (4, 2)],
        lambda x, u: _assign(x, IDX[KEPT], u[KEPT], np.add),  # -1: dropped
    ),
    OpRecord(
        "slicing_lax_scatter",
        lambda x, u: lax.scatter(x, UNIQUE[:, None], u, SROWS),
        [(4, 2), (3, 2)],
        lambda x, u: _assign(x, UNIQUE, u),
    ),
    OpRecord(
        "slicing_lax_scatter_duplicates",
        lambda x, u: lax.scatter(x, np.array([[1], [1]]), u, SROWS),
        [(3, 2), (2, 2)],
        lambda x, u: _assign(x, 1, u[1]),
    ),
    OpRecord(
        "slicing_lax_scatter_mul_unique",
        lambda x, u: lax.scatter_mul(x, UNIQUE[:, None], u, SROWS, unique_indices=True),
        [(4, 2), (3, 2)],
        lambda x, u: _assign(x, UNIQUE, u, np.multiply),
    ),
    OpRecord(
        "slicing_lax_scatter_mul_repeated_operand",
        lambda x: lax.scatter_mul(
            x, IDX[:, None], np.arange(8.0).reshape(4, 2).astype(x.dtype), SROWS
        ),
        [(3, 2)],
        lambda x: _assign(
            x, IDX[KEPT], np.arange(8.0).reshape(4, 2)[KEPT].astype(x.dtype), np.multiply
        ),
    ),
    OpRecord(
        "slicing_lax_scatter_min",
        lambda x, u: lax.scatter_min(x, IDX[:, None], u, SROWS),
        [(3, 2), (4, 2)],
        lambda x, u: _assign(x, IDX[KEPT], u[KEPT], np.minimum),  # -1: dropped
        rand=rand_distinct,
    ),
    OpRecord(
        "slicing_lax_scatter_max",
        lambda x, u: lax.scatter_max(x, IDX[:, None], u, SROWS),
        [(3, 2), (4, 2)],
        lambda x, u: _assign(x, IDX[KEPT], u[KEPT], np.maximum),  # -1: dropped
        rand=rand_distinct,
    ),
]


def _getitem(name, index):
    return OpRecord(
        f"slicing_np_getitem_{name}", lambda x: x[index], [(4, 3, 5)], lambda x: x[index]
    )


GETITEM = [
    _getitem("int", (1, -1)),
    _getitem("slices", (slice(None, None, -2), slice(1, None), slice(4, 0, -3))),
    _getitem("none_ellipsis", (None, Ellipsis, 2, None)),
    _getitem("array", IDX),
    _getitem("arrays_adjacent", (slice(None), IDX[:, None] % 3, IDX % 5)),
    _getitem("arrays_split", (IDX % 4, slice(1, 3), IDX % 5)),
    _getitem("int_and_array", (0, slice(None), IDX)),
    _getitem("mask", np.array([True, False, True, True])),
    _getitem("list", ([0, 2], 1)),
]


def _at(name, method, index, shapes, reference, options=None, **kw):
    return OpRecord(
        f"slicing_np_at_{name}",
        lambda x, v: getattr(x.at[index], method)(v, **(options or {})),
        shapes,
        reference,
        **kw,
    )


AT = [
    _at(
        "set_basic",
        "set",
        (1, slice(0, 2)),
        [(3, 4), (2,)],
        lambda x, v: _assign(x, (1, slice(0, 2)), v),
    ),
    _at(
        "set_strided",
        "set",
        (slice(None, None, -2), 1),
        [(3, 4), (2,)],
        lambda x, v: _assign(x, (slice(None, None, -2), 1), v),
    ),
    _at(
        "set_array",
        "set",
        (UNIQUE % 3, slice(1, 3)),
        [(3, 4), (3, 2)],
        lambda x, v: _assign(x, (UNIQUE % 3, slice(1, 3)), v),
    ),
    _at("set_broadcast", "set", IDX, [(3, 4), (4,)], lambda x, v: _assign(x, IDX, v)),
    _at("add", "add", (IDX, 0), [(3, 4), (4,)], lambda x, v: _assign(x, (IDX, 0), v, np.add)),
    _at(
        "add_box",
        "add",
        (slice(1, 3), 2),
        [(3, 4), ()],
        lambda x, v: _assign(x, (slice(1, 3), 2), x[1:3, 2] + v),
        rand=_rand,
    ),
    _at(
        "multiply",
        "multiply",
        (UNIQUE, 1),
        [(4, 2), (3,)],
        lambda x, v: _assign(x, (UNIQUE, 1), v, np.multiply),
        {"unique_indices": True},
    ),
    _at(
        "min",
        "min",
        IDX,
        [(3, 4), (4, 4)],
        lambda x, v: _assign(x, IDX, v, np.minimum),
        rand=rand_distinct,
    ),
    _at(
        "max",
        "max",
        (slice(None), IDX),
        [(2, 3), (2, 4)],
        lambda x, v: _assign(x, (slice(None), IDX), v, np.maximum),
        rand=rand_distinct,
    ),
    OpRecord(
        "slicing_np_at_divide_power",
        lambda x, v: x.at[UNIQUE].divide(v, unique_indices=True).at[0].power(2.0),
        [(4,), (3,)],
        lambda x, v: _assign(_assign(x, UNIQUE, x[UNIQUE] / v), 0, (x[UNIQUE] / v)[1] ** 2),
        rand=rand_positive,
    ),
    OpRecord(
        "slicing_np_at_apply",
        lambda x: x.at[IDX].apply(fnp.sin),
        [(4,)],
        lambda x: _assign(x, IDX, np.sin(x[IDX])),
    ),
]

JOINING = [
    OpRecord(
        "slicing_np_concatenate",
        lambda x, y: fnp.concatenate([x, y], -1),
        [(2, 3), (2, 2)],
        lambda x, y: np.concatenate([x, y], -1),
    ),
    OpRecord(
        "slicing_np_concatenate_none",
        lambda x, y: fnp.concatenate([x, y], None),
        [(2, 3), (4,)],
        lambda x, y: np.concatenate([x, y], None),
    ),
    OpRecord(
        "slicing_np_stack",
        lambda x, y: fnp.stack([x, y], 1),
        [(2, 3), (2, 3)],
        lambda x, y: np.stack([x, y], 1),
    ),
    OpRecord(
        "slicing_np_hstack",
        lambda x, y: fnp.hstack([x, y]),
        [(3,), (2,)],
        lambda x, y: np.hstack([x, y]),
    ),
    OpRecord(
        "slicing_np_vstack",
        lambda x, y: fnp.vstack([x, y]),
        [(3,), (2, 3)],
        lambda x, y: np.vstack([x, y]),
    ),
    OpRecord(
        "slicing_np_dstack",
        lambda x, y: fnp.dstack([x, y]),
        [(2, 3), (2, 3, 2)],
        lambda x, y: np.dstack([x, y]),
    ),
    OpRecord(
        "slicing_np_column_stack",
        lambda x, y: fnp.column_stack([x, y]),
        [(3,), (3, 2)],
        lambda x, y: np.column_stack([x, y]),
    ),
    OpRecord(
        "slicing_np_append",
        lambda x, y: fnp.append(x, y, 0),
        [(2, 3), (1, 3)],
        lambda x, y: np.append(x, y, 0),
    ),
    OpRecord(
        "slicing_np_split",
        lambda x: fnp.concatenate([p * (i + 1) for i, p in enumerate(fnp.split(x, [1, -1], 1))], 1),
        [(2, 5)],
        lambda x: np.concatenate([p * (i + 1) for i, p in enumerate(np.split(x, [1, -1], 1))], 1),
    ),
    OpRecord(
        "slicing_np_array_split",
        lambda x: fnp.concatenate([p * (i + 1) for i, p in enumerate(fnp.array_split(x, 3))]),
        [(7, 2)],
        lambda x: np.concatenate([p * (i + 1) for i, p in enumerate(np.array_split(x, 3))]),
    ),
    OpRecord(
        "slicing_np_hsplit",
        lambda x: fnp.stack(fnp.hsplit(x, 2)),
        [(3, 4)],
        lambda x: np.stack(np.hsplit(x, 2)),
    ),
    OpRecord(
        "slicing_np_vsplit",
        lambda x: fnp.stack(fnp.vsplit(x, 2)),
        [(4, 3)],
        lambda x: np.stack(np.vsplit(x, 2)),
    ),
    OpRecord(
        "slicing_np_dsplit",
        lambda x: fnp.stack(fnp.dsplit(x, [1])[1:]),
        [(2, 2, 3)],
        lambda x: np.stack(np.dsplit(x, [1])[1:]),
    ),
    OpRecord(
        "slicing_np_flip",
        lambda x: fnp.flip(x, (0, -1)),
        [(2, 3, 4)],
        lambda x: np.flip(x, (0, -1)),
    ),
    OpRecord("slicing_np_flip_all", fnp.flip, [(2, 3)], np.flip),
    OpRecord("slicing_np_fliplr", fnp.fliplr, [(2, 3)], np.fliplr),
    OpRecord("slicing_np_flipud", fnp.flipud, [(2, 3)], np.flipud),
    OpRecord(
        "slicing_np_roll",
        lambda x: fnp.roll(x, (1, -4), (0, 1)),
        [(3, 3)],
        lambda x: np.roll(x, (1, -4), (0, 1)),
    ),
    OpRecord("slicing_np_roll_flat", lambda x: fnp.roll(x, 5), [(2, 3)], lambda x: np.roll(x, 5)),
    OpRecord(
        "slicing_np_rot90",
        lambda x: fnp.rot90(x, 1, (2, 0)),
        [(2, 3, 4)],
        lambda x: np.rot90(x, 1, (2, 0)),
    ),
    OpRecord(
        "slicing_np_rot90_k3", lambda x: fnp.rot90(x, -1), [(2, 3)], lambda x: np.rot90(x, -1)
    ),
    OpRecord(
        "slicing_np_tile",
        lambda x: fnp.tile(x, (2, 1, 3)),
        [(2, 3)],
        lambda x: np.tile(x, (2, 1, 3)),
    ),
    OpRecord(
        "slicing_np_repeat_scalar",
        lambda x: fnp.repeat(x, 2, axis=1),
        [(2, 3)],
        lambda x: np.repeat(x, 2, axis=1),
    ),
    OpRecord(
        "slicing_np_repeat_counts",
        lambda x: fnp.repeat(x, [2, 0, 1]),
        [(3,)],
        lambda x: np.repeat(x, [2, 0, 1]),
    ),
    OpRecord(
        "slicing_np_take",
        lambda x: fnp.take(x, IDX, axis=0),
        [(3, 2)],
        lambda x: np.take(x, IDX, axis=0),
    ),
    OpRecord(
        "slicing_np_take_flat_wrap",
        lambda x: fnp.take(x, [7, -9], mode="wrap"),
        [(2, 3)],
        lambda x: np.take(x, [7, -9], mode="wrap"),
    ),
    OpRecord(
        "slicing_np_take_along_axis",
        lambda x: fnp.take_along_axis(x, np.array([[2, 0, -1]]), axis=1),
        [(2, 3)],
        lambda x: np.take_along_axis(x, np.array([[2, 0, 2]]), axis=1),
    ),
    OpRecord(
        "slicing_np_diagonal",
        lambda x: fnp.diagonal(x, -1, 2, 0),
        [(3, 2, 4)],
        lambda x: np.diagonal(x, -1, 2, 0),
    ),
    OpRecord("slicing_np_diag_vector", lambda x: fnp.diag(x, -2), [(3,)], lambda x: np.diag(x, -2)),
    OpRecord("slicing_np_diag_matrix", lambda x: fnp.diag(x, 1), [(3, 4)], lambda x: np.diag(x, 1)),
    OpRecord("slicing_np_trace", lambda x: fnp.trace(x, 1), [(3, 4)], lambda x: np.trace(x, 1)),
    OpRecord("slicing_np_tril", lambda x: fnp.tril(x, -1), [(2, 3, 4)], lambda x: np.tril(x, -1)),
    OpRecord("slicing_np_triu", lambda x: fnp.triu(x, 2), [(3, 4)], lambda x: np.triu(x, 2)),
    OpRecord(
        "slicing_np_pad_constant",
        lambda x, v: fnp.pad(x, ((1, 0), (2, 1)), constant_values=v),
        [(2, 3), ()],
        lambda x, v: np.pad(x, ((1, 0), (2, 1)), constant_values=v),
        rand=_rand,
    ),
]
for _mode in ("edge", "reflect", "symmetric", "wrap"):
    JOINING.append(
        OpRecord(
            f"slicing_np_pad_{_mode}",
            lambda x, m=_mode: fnp.pad(x, ((4, 1), (0, 2)), mode=m),
            [(3, 2)],
            lambda x, m=_mode: np.pad(x, ((4, 1), (0, 2)), mode=m),
        )
    )


def _on_arrays(record: OpRecord) -> OpRecord:
    """The record with its arguments converted to fxgrad arrays first (the grad suite
    calls the function on NumPy arrays, whose own ``[]`` and missing ``.at`` differ)."""
    fun = record.fun
    return dataclasses.replace(record, fun=lambda *args: fun(*map(fnp.asarray, args)))


RECORDS = [_on_arrays(r) for r in LAX + GETITEM + AT + JOINING]
