"""Records for fxgrad.numpy einsum, products, creation and shape functions.

Every function here is differentiable in its array arguments, so each record runs the
value, grad (order 2), vmap and jit suites of ``tests/test_op_records.py``.
"""

import warnings

import numpy as np

import fxgrad.numpy as fnp
from tests.op_records import OpRecord, rand_positive


def _einsum(spec, **kw):
    return OpRecord(
        f"np_einsum[{spec}]",
        lambda *ops: fnp.einsum(spec, *ops),
        kw.pop("shapes"),
        lambda *ops: np.einsum(spec, *ops),
        **kw,
    )


def _rand(rng, shape, dtype):
    """Normal values as an array, also for shape () (where ``rng.randn()`` is a float)."""
    return np.asarray(rng.randn(*shape)).astype(dtype)


def _np_cross(a, b, **kw):
    with warnings.catch_warnings():  # NumPy 2 deprecates 2-vectors; fxgrad supports them
        warnings.simplefilter("ignore", DeprecationWarning)
        return np.cross(a, b, **kw)


EINSUM = [
    _einsum("ij,jk->ik", shapes=[(2, 3), (3, 4)]),
    _einsum("ij,jk,kl->il", shapes=[(2, 3), (3, 4), (4, 2)]),
    _einsum("bij,bjk->bik", shapes=[(2, 2, 3), (2, 3, 2)]),
    _einsum("ii->i", shapes=[(3, 3)]),
    _einsum("ii", shapes=[(3, 3)]),
    _einsum("iij->ji", shapes=[(2, 2, 3)]),
    _einsum("ij->", shapes=[(2, 3)]),
    _einsum("ij,ij", shapes=[(2, 3), (2, 3)]),
    _einsum("i,j->ij", shapes=[(2,), (3,)]),
    _einsum("...ij,...jk->...ik", shapes=[(2, 2, 3), (3, 2)]),
    _einsum("...i,i", shapes=[(2, 3), (3,)]),
    _einsum("ab,cd,bc->ad", shapes=[(2, 3), (4, 2), (3, 4)]),
    _einsum(",ij", shapes=[(), (2, 3)], rand=_rand),
    _einsum("ijk,kji->", shapes=[(2, 3, 2), (2, 3, 2)]),
]

PRODUCTS = [
    OpRecord("np_matmul_vec_mat", fnp.matmul, [(3,), (3, 2)], np.matmul),
    OpRecord("np_matmul_mat_vec", fnp.matmul, [(2, 3), (3,)], np.matmul),
    OpRecord("np_matmul_vec_vec", fnp.matmul, [(3,), (3,)], np.matmul),
    OpRecord("np_matmul_batch_bcast", fnp.matmul, [(2, 1, 2, 3), (3, 3, 2)], np.matmul),
    OpRecord("np_dot_nd", fnp.dot, [(2, 3), (2, 3, 2)], np.dot),
    OpRecord("np_dot_vec", fnp.dot, [(2, 3), (3,)], np.dot),
    OpRecord("np_dot_scalar", fnp.dot, [(), (3,)], np.dot, rand=_rand),
    OpRecord(
        "np_tensordot_pairs",
        lambda a, b: fnp.tensordot(a, b, axes=([1, 0], [0, -1])),
        [(3, 2, 2), (2, 3)],
        lambda a, b: np.tensordot(a, b, axes=([1, 0], [0, -1])),
    ),
    OpRecord("np_tensordot_int", fnp.tensordot, [(2, 3, 2), (3, 2, 2)], np.tensordot),
    OpRecord("np_inner", fnp.inner, [(2, 3), (2, 3)], np.inner),
    OpRecord("np_outer", fnp.outer, [(2, 2), (3,)], np.outer),
    OpRecord("np_vdot", fnp.vdot, [(2, 3), (6,)], np.vdot),
    OpRecord("np_kron", fnp.kron, [(2, 2), (3,)], np.kron),
    OpRecord("np_cross3", fnp.cross, [(2, 3), (3,)], _np_cross),
    OpRecord(
        "np_cross_axis",
        lambda a, b: fnp.cross(a, b, axisa=0, axisb=-1, axisc=0),
        [(2, 2), (2, 3)],
        lambda a, b: _np_cross(a, b, axisa=0, axisb=-1, axisc=0),
    ),
    OpRecord("np_cross2", fnp.cross, [(3, 2), (2,)], _np_cross),
    OpRecord("np_vecdot", fnp.vecdot, [(2, 3), (3,)], np.vecdot),
    OpRecord("np_matvec", fnp.matvec, [(2, 3), (2, 1, 3)], np.matvec),
    OpRecord("np_vecmat", fnp.vecmat, [(3,), (2, 3, 2)], np.vecmat),
]

SHAPES = [
    OpRecord(
        "np_reshape_infer",
        lambda x: fnp.reshape(x, (3, -1)),
        [(2, 3, 2)],
        lambda x: np.reshape(x, (3, -1)),
    ),
    OpRecord("np_ravel", fnp.ravel, [(2, 3)], np.ravel),
    OpRecord(
        "np_transpose_axes",
        lambda x: fnp.transpose(x, (1, -1, 0)),
        [(2, 3, 2)],
        lambda x: np.transpose(x, (1, -1, 0)),
    ),
    OpRecord(
        "np_swapaxes", lambda x: fnp.swapaxes(x, 0, 2), [(2, 3, 2)], lambda x: np.swapaxes(x, 0, 2)
    ),
    OpRecord(
        "np_moveaxis",
        lambda x: fnp.moveaxis(x, (0, 1), (-1, 0)),
        [(2, 3, 2)],
        lambda x: np.moveaxis(x, (0, 1), (-1, 0)),
    ),
    OpRecord("np_squeeze", fnp.squeeze, [(1, 3, 1)], np.squeeze),
    OpRecord(
        "np_expand_dims_tuple",
        lambda x: fnp.expand_dims(x, (0, -1)),
        [(2, 3)],
        lambda x: np.expand_dims(x, (0, -1)),
    ),
    OpRecord(
        "np_broadcast_to",
        lambda x: fnp.broadcast_to(x, (2, 3, 3)),
        [(3, 1)],
        lambda x: np.broadcast_to(x, (2, 3, 3)),
    ),
    OpRecord(
        "np_broadcast_arrays",
        lambda x, y: fnp.multiply(*fnp.broadcast_arrays(x, y)),
        [(3, 1), (2,)],
        lambda x, y: np.multiply(*np.broadcast_arrays(x, y)),
    ),
    OpRecord("np_atleast_3d", fnp.atleast_3d, [(3,)], np.atleast_3d),
    OpRecord("np_atleast_2d", fnp.atleast_2d, [()], np.atleast_2d, rand=_rand),
]

CREATION = [
    OpRecord(
        "np_linspace",
        lambda a, b: fnp.linspace(a, b, 4, axis=-1),
        [(2,), (2,)],
        lambda a, b: np.linspace(a, b, 4, axis=-1),
    ),
    OpRecord(
        "np_linspace_no_endpoint",
        lambda a, b: fnp.linspace(a, b, 3, endpoint=False),
        [(), (2,)],
        lambda a, b: np.linspace(a, b, 3, endpoint=False),
        rand=_rand,
    ),
    OpRecord(
        "np_logspace",
        lambda a, b: fnp.logspace(a, b, 3, base=2.0),
        [(2,), ()],
        lambda a, b: np.logspace(a, b, 3, base=2.0),
        rand=_rand,
    ),
    OpRecord(
        "np_geomspace",
        lambda a, b: fnp.geomspace(a, b, 4),
        [(2,), (2,)],
        lambda a, b: np.geomspace(a, b, 4),
        rand=rand_positive,
    ),
    OpRecord(
        "np_full_traced",
        lambda v: fnp.full((2, 3), v),
        [(3,)],
        lambda v: np.full((2, 3), v),
    ),
    OpRecord("np_diagflat", lambda v: fnp.diagflat(v, -1), [(2, 2)], lambda v: np.diagflat(v, -1)),
    OpRecord(
        "np_array_stack",
        lambda x, y: fnp.array([[x, y], [y, x]]),
        [(3,), (3,)],
        lambda x, y: np.array([[x, y], [y, x]]),
    ),
    OpRecord(
        "np_meshgrid",
        lambda x, y: fnp.add(*fnp.meshgrid(x, y)),
        [(2,), (3,)],
        lambda x, y: np.add(*np.meshgrid(x, y)),
    ),
]

RECORDS = EINSUM + PRODUCTS + SHAPES + CREATION
