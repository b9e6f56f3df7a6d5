"""The value / grad / vmap / jit suites over every record of ``tests/op_records.py``."""

from __future__ import annotations

import zlib

import numpy as np
import pytest

import fxgrad
from fxgrad.test_util import check_close, check_grads
from tests.op_records import all_records

RECORDS = all_records()
_VALUE_TOL = {
    np.dtype(np.float32): 1e-5,
    np.dtype(np.float64): 1e-12,
    np.dtype(np.complex64): 1e-5,
    np.dtype(np.complex128): 1e-12,
}


def _params(records, with_dtypes=True):
    out = []
    for r in records:
        if with_dtypes:
            out.extend(
                pytest.param(r, np.dtype(d), id=f"{r.name}-{np.dtype(d).name}") for d in r.dtypes
            )
        else:
            out.append(pytest.param(r, id=r.name))
    return out


def _rng(record) -> np.random.RandomState:
    # crc32, not hash(): str hashes change between processes (and xdist workers).
    return np.random.RandomState(zlib.crc32(record.name.encode()))


def _call(record, args):
    return record.fun(*args, *record.static_args)


@pytest.mark.parametrize("record,dtype", _params([r for r in RECORDS if r.reference]))
def test_value_matches_numpy(record, dtype):
    args = record.make_args(_rng(record), dtype)
    actual = _call(record, [fxgrad.numpy.asarray(a) for a in args])
    expected = record.reference(*args, *record.static_args)
    tol = record.tol if record.tol is not None else _VALUE_TOL.get(dtype, 1e-12)
    actual_np = np.asarray(actual)
    expected_np = np.asarray(expected)
    assert actual_np.shape == expected_np.shape, (actual_np.shape, expected_np.shape)
    if expected_np.dtype.kind in "fc" and actual_np.dtype.kind in "fc":
        np.testing.assert_allclose(actual_np, expected_np, rtol=tol, atol=tol)
    else:
        np.testing.assert_array_equal(actual_np, expected_np)


@pytest.mark.parametrize("record", _params([r for r in RECORDS if r.grad_order], False))
def test_grads_match_finite_differences(record):
    dtype = (
        np.complex128
        if any(np.dtype(d).kind == "c" for d in record.dtypes)
        and not any(np.dtype(d) == np.float64 for d in record.dtypes)
        else np.float64
    )
    args = record.make_args(_rng(record), dtype)
    check_grads(
        lambda *a: _call(record, a),
        args,
        order=record.grad_order,
        modes=record.grad_modes,
        atol=record.grad_tol,
        rtol=record.grad_tol,
    )


def _batch_placements(shapes):
    """(in_axes, batched shapes) for each placement of a batch axis of size 3."""
    n = len(shapes)
    placements = []
    for i in range(n):
        for where in ("front", "back"):
            axes = [None] * n
            axes[i] = 0 if where == "front" else len(shapes[i])
            placements.append(tuple(axes))
    if n > 1:
        placements.append(tuple([0] * n))
    return placements


@pytest.mark.parametrize("record", _params([r for r in RECORDS if r.batch], False))
def test_vmap_matches_loop(record):
    rng = _rng(record)
    dtype = np.dtype(record.dtypes[0])
    size = 3
    for in_axes in _batch_placements(record.shapes):
        args = []
        for _shape, ax in zip(record.shapes, in_axes, strict=True):
            if ax is None:
                args.append(record.make_args(rng, dtype)[len(args)])
                continue
            stacked = np.stack(
                [record.make_args(rng, dtype)[len(args)] for _ in range(size)], axis=ax
            )
            args.append(stacked)
        batched = fxgrad.vmap(lambda *a: _call(record, a), in_axes=in_axes)(*args)
        per_example = []
        for b in range(size):
            ex = [
                np.take(a, b, axis=ax) if ax is not None else a
                for a, ax in zip(args, in_axes, strict=True)
            ]
            per_example.append(np.asarray(_call(record, [fxgrad.numpy.asarray(e) for e in ex])))
        expected = np.stack(per_example)
        check_close(np.asarray(batched), expected, err_msg=f"in_axes={in_axes}")


@pytest.mark.parametrize("record,dtype", _params(RECORDS))
def test_jit_matches_eager(record, dtype):
    args = [fxgrad.numpy.asarray(a) for a in record.make_args(_rng(record), dtype)]
    eager = _call(record, args)
    jitted = fxgrad.jit(lambda *a: _call(record, a))(*args)
    check_close(np.asarray(jitted), np.asarray(eager))
    assert np.asarray(jitted).dtype == np.asarray(eager).dtype
