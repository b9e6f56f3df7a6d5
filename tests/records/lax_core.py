"""Records for the lax shape primitives and dot_general (through the lax API)."""

import numpy as np

from fxgrad import lax
from tests.op_records import OpRecord


def _np_dot_general(lhs, rhs, dimension_numbers):
    (lc, rc), (lb, rb) = dimension_numbers
    letters = "abcdefghijklmnopqrstuvwxyz"
    lhs_sub = list(letters[: lhs.ndim])
    rhs_sub = list(letters[lhs.ndim : lhs.ndim + rhs.ndim])
    for a, b in zip(lc, rc, strict=True):
        rhs_sub[b] = lhs_sub[a]
    for a, b in zip(lb, rb, strict=True):
        rhs_sub[b] = lhs_sub[a]
    batch = [lhs_sub[a] for a in lb]
    lfree = [s for i, s in enumerate(lhs_sub) if i not in lc and i not in lb]
    rfree = [s for i, s in enumerate(rhs_sub) if i not in rc and i not in rb]
    spec = f"{''.join(lhs_sub)},{''.join(rhs_sub)}->{''.join(batch + lfree + rfree)}"
    return np.einsum(spec, lhs, rhs)


def _dg(dims):
    return OpRecord(
        f"dot_general_{dims}",
        lambda x, y: lax.dot_general(x, y, dims),
        _DG_SHAPES[dims],
        lambda x, y: _np_dot_general(x, y, dims),
    )


_DG_SHAPES = {
    (((1,), (0,)), ((), ())): [(3, 4), (4, 5)],
    (((0,), (1,)), ((), ())): [(4, 3), (5, 4)],
    (((2,), (1,)), ((0,), (0,))): [(2, 3, 4), (2, 4, 5)],
    (((1,), (2,)), ((0,), (1,))): [(2, 4, 3), (5, 2, 4)],
    (((0, 2), (1, 0)), ((), ())): [(3, 2, 4), (4, 3)],
    (((), ()), ((), ())): [(2, 3), (4,)],
}

RECORDS = [
    OpRecord(
        "lax_broadcast_in_dim",
        lambda x: lax.broadcast_in_dim(x, (2, 3, 4), (1, 2)),
        [(3, 1)],
        lambda x: np.broadcast_to(x, (2, 3, 4)),
    ),
    OpRecord(
        "lax_broadcast_in_dim_middle",
        lambda x: lax.broadcast_in_dim(x, (3, 5, 4), (0, 2)),
        [(3, 4)],
        lambda x: np.broadcast_to(x[:, None, :], (3, 5, 4)),
    ),
    OpRecord("lax_reshape", lambda x: lax.reshape(x, (4, 3)), [(2, 6)], lambda x: x.reshape(4, 3)),
    OpRecord(
        "lax_reshape_dimensions",
        lambda x: lax.reshape(x, (6, 2), (1, 0)),
        [(2, 6)],
        lambda x: x.T.reshape(6, 2),
    ),
    OpRecord(
        "lax_transpose",
        lambda x: lax.transpose(x, (2, 0, 1)),
        [(2, 3, 4)],
        lambda x: np.transpose(x, (2, 0, 1)),
    ),
    OpRecord(
        "lax_squeeze",
        lambda x: lax.squeeze(x, (0, 2)),
        [(1, 3, 1, 2)],
        lambda x: np.squeeze(x, (0, 2)),
    ),
    OpRecord(
        "lax_expand_dims",
        lambda x: lax.expand_dims(x, (0, 3)),
        [(3, 2)],
        lambda x: np.expand_dims(x, (0, 3)),
    ),
    OpRecord(
        "lax_reduce_sum",
        lambda x: lax.reduce_sum(x, (0, 2)),
        [(2, 3, 4)],
        lambda x: np.sum(x, (0, 2)),
    ),
    *[_dg(d) for d in _DG_SHAPES],
]
