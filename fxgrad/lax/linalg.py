"""``dot_general``: batched tensor contraction, the one matrix-multiply primitive.

``dimension_numbers = ((lhs_contract, rhs_contract), (lhs_batch, rhs_batch))``. The
output's axes are the batch axes, then the lhs free axes, then the rhs free axes (XLA's
convention, as in JAX). It is bilinear: the JVP is ``dot(t_l, r) + dot(l, t_r)`` and
each transpose is another ``dot_general`` followed by a ``transpose`` that puts the
axes back in the operand's order.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from fxgrad.core import ShapedArray, get_aval
from fxgrad.errors import FxgradTypeError, ShapeError
from fxgrad.interpreters import batching
from fxgrad.interpreters.jvp import Zero, add_tangents
from fxgrad.interpreters.transpose import is_undefined_primal
from fxgrad.lax._define import define_primitive
from fxgrad.lax.shape import transpose

DimensionNumbers = tuple[tuple[tuple[int, ...], tuple[int, ...]], tuple[tuple[int, ...], ...]]


def _free_axes(ndim: int, contract: Sequence[int], batch: Sequence[int]) -> list[int]:
    return [i for i in range(ndim) if i not in contract and i not in batch]


def _dot_general_impl(lhs, rhs, *, dimension_numbers, precision=None, preferred_element_type=None):
    lhs, rhs = np.asarray(lhs), np.asarray(rhs)
    (lc, rc), (lb, rb) = dimension_numbers
    lf = _free_axes(lhs.ndim, lc, lb)
    rf = _free_axes(rhs.ndim, rc, rb)
    # Lay both operands out as (batch, free, contract) and use matmul.
    lhs_t = np.transpose(lhs, (*lb, *lf, *lc))
    rhs_t = np.transpose(rhs, (*rb, *rc, *rf))
    nb = len(lb)
    batch_shape = lhs_t.shape[:nb]
    lf_shape = lhs_t.shape[nb : nb + len(lf)]
    rf_shape = rhs_t.shape[nb + len(rc) :]
    k = int(np.prod(lhs_t.shape[nb + len(lf) :], dtype=np.int64))
    m = int(np.prod(lf_shape, dtype=np.int64))
    n = int(np.prod(rf_shape, dtype=np.int64))
    out = np.matmul(lhs_t.reshape(*batch_shape, m, k), rhs_t.reshape(*batch_shape, k, n))
    out_dtype = _out_dtype(lhs.dtype, preferred_element_type)
    return out.reshape((*batch_shape, *lf_shape, *rf_shape)).astype(out_dtype, copy=False)


def _out_dtype(dtype, preferred_element_type):
    return np.dtype(preferred_element_type) if preferred_element_type is not None else dtype


def _dot_general_abstract_eval(
    lhs, rhs, *, dimension_numbers, precision=None, preferred_element_type=None
):
    (lc, rc), (lb, rb) = dimension_numbers
    if len(lc) != len(rc) or len(lb) != len(rb):
        raise ShapeError(
            f"dot_general requires equal numbers of lhs and rhs contracting and batch "
            f"dimensions, got dimension_numbers={dimension_numbers}"
        )
    for axes, ndim, side in ((lc + lb, lhs.ndim, "lhs"), (rc + rb, rhs.ndim, "rhs")):
        if any(a < 0 or a >= ndim for a in axes) or len(set(axes)) != len(axes):
            raise ShapeError(
                f"dot_general: {side} dimension numbers {axes} are out of range or repeated "
                f"for a {side} of rank {ndim}"
            )
    for kind, la, ra in (("contracting", lc, rc), ("batch", lb, rb)):
        ls = tuple(lhs.shape[a] for a in la)
        rs = tuple(rhs.shape[a] for a in ra)
        if ls != rs:
            raise ShapeError(
                f"dot_general requires {kind} dimensions to have the same shape, got "
                f"lhs {ls} (axes {tuple(la)} of {lhs.shape}) and rhs {rs} (axes "
                f"{tuple(ra)} of {rhs.shape})"
            )
    if np.dtype(lhs.dtype) != np.dtype(rhs.dtype):
        raise FxgradTypeError(
            f"dot_general requires operands of the same dtype, got {np.dtype(lhs.dtype).name} "
            f"and {np.dtype(rhs.dtype).name}; use fxgrad.numpy.dot/matmul, which promote."
        )
    batch = [lhs.shape[a] for a in lb]
    lfree = [lhs.shape[a] for a in _free_axes(lhs.ndim, lc, lb)]
    rfree = [rhs.shape[a] for a in _free_axes(rhs.ndim, rc, rb)]
    dtype = _out_dtype(np.dtype(lhs.dtype), preferred_element_type)
    return ShapedArray(tuple(batch + lfree + rfree), dtype, lhs.weak_type and rhs.weak_type)


def _dot_general_jvp(primals, tangents, **params):
    lhs, rhs = primals
    tl, tr = tangents
    out = dot_general_p.bind(lhs, rhs, **params)
    t_out: Any = Zero(get_aval(out))
    if type(tl) is not Zero:
        t_out = add_tangents(t_out, dot_general_p.bind(tl, rhs, **params))
    if type(tr) is not Zero:
        t_out = add_tangents(t_out, dot_general_p.bind(lhs, tr, **params))
    return out, t_out


def _ranges_like(*lists):
    start = 0
    for xs in lists:
        yield list(range(start, start + len(xs)))
        start += len(xs)


def _transpose_lhs(ct, x_aval, y, dimension_numbers, params, swap_ans=False):
    """Cotangent of ``x`` in ``dot_general(x, y)`` (or of ``y`` in ``(y, x)`` if swapped)."""
    (x_contract, y_contract), (x_batch, y_batch) = dimension_numbers
    y_ndim = get_aval(y).ndim
    x_kept = _free_axes(x_aval.ndim, x_contract, x_batch)
    y_kept = _free_axes(y_ndim, y_contract, y_batch)
    if swap_ans:
        ans_batch, ans_y, _ = _ranges_like(x_batch, y_kept, x_kept)
    else:
        ans_batch, _, ans_y = _ranges_like(x_batch, x_kept, y_kept)
    dims = ((tuple(ans_y), tuple(y_kept)), (tuple(ans_batch), tuple(y_batch)))
    x_contract_by_y = [x_contract[i] for i in np.argsort(y_contract)]
    out_axes = np.argsort(list(x_batch) + x_kept + x_contract_by_y)
    x_bar = dot_general_p.bind(ct, y, dimension_numbers=dims, **params)
    return transpose(x_bar, tuple(int(a) for a in out_axes))


def _dot_general_transpose(
    ct, lhs, rhs, *, dimension_numbers, precision=None, preferred_element_type=None
):
    params = {"precision": precision, "preferred_element_type": None}
    (lc, rc), (lb, rb) = dimension_numbers
    if is_undefined_primal(lhs):
        if type(ct) is Zero:
            return [Zero(lhs.aval), None]
        return [_transpose_lhs(ct, lhs.aval, rhs, dimension_numbers, params), None]
    assert is_undefined_primal(rhs)
    if type(ct) is Zero:
        return [None, Zero(rhs.aval)]
    swapped = ((rc, lc), (rb, lb))
    return [None, _transpose_lhs(ct, rhs.aval, lhs, swapped, params, swap_ans=True)]


def _shift(axes, at):
    return tuple(a + (a >= at) for a in axes)


def _dot_general_batch(
    axis_size, vals, dims, *, dimension_numbers, precision=None, preferred_element_type=None
):
    lhs, rhs = vals
    ld, rd = dims
    (lc, rc), (lb, rb) = dimension_numbers
    params = {"precision": precision, "preferred_element_type": preferred_element_type}
    nm = batching.not_mapped
    if ld is not nm and rd is not nm:
        lhs = batching.moveaxis(lhs, ld, 0)
        rhs = batching.moveaxis(rhs, rd, 0)
        new_dims = ((_shift(lc, 0), _shift(rc, 0)), ((0, *_shift(lb, 0)), (0, *_shift(rb, 0))))
        return dot_general_p.bind(lhs, rhs, dimension_numbers=new_dims, **params), 0
    if ld is not nm:
        lhs = batching.moveaxis(lhs, ld, 0)
        new_dims = ((_shift(lc, 0), rc), (_shift(lb, 0), rb))
        out = dot_general_p.bind(lhs, rhs, dimension_numbers=new_dims, **params)
        return out, len(lb)
    rhs = batching.moveaxis(rhs, rd, 0)
    new_dims = ((lc, _shift(rc, 0)), (lb, _shift(rb, 0)))
    out = dot_general_p.bind(lhs, rhs, dimension_numbers=new_dims, **params)
    lhs_free = get_aval(lhs).ndim - len(lc) - len(lb)
    return out, len(lb) + lhs_free


dot_general_p = define_primitive(
    "dot_general",
    impl=_dot_general_impl,
    abstract_eval=_dot_general_abstract_eval,
    jvp=_dot_general_jvp,
    transpose=_dot_general_transpose,
    batch=_dot_general_batch,
    kernel="library",
)


def _canonical_dims(dimension_numbers) -> DimensionNumbers:
    (lc, rc), (lb, rb) = dimension_numbers
    return (
        (tuple(int(a) for a in lc), tuple(int(a) for a in rc)),
        (tuple(int(a) for a in lb), tuple(int(a) for a in rb)),
    )


def dot_general(
    lhs: Any,
    rhs: Any,
    dimension_numbers: Any,
    precision: Any = None,
    preferred_element_type: Any = None,
) -> Any:
    """General tensor contraction (JAX's ``lax.dot_general``).

    Args:
      lhs, rhs: arrays of the same dtype.
      dimension_numbers: ``((lhs_contracting, rhs_contracting), (lhs_batch, rhs_batch))``.
      precision: accepted for compatibility; computations use the operand precision.
      preferred_element_type: dtype of the result (defaults to the operands' dtype).

    Returns:
      An array with the batch axes, then lhs free axes, then rhs free axes.
    """
    pet = None if preferred_element_type is None else np.dtype(preferred_element_type)
    return dot_general_p.bind(
        lhs,
        rhs,
        dimension_numbers=_canonical_dims(dimension_numbers),
        precision=None if precision is None else str(precision),
        preferred_element_type=pet,
    )


def dot(lhs: Any, rhs: Any, precision: Any = None, preferred_element_type: Any = None) -> Any:
    """Vector/matrix product of rank-1 or rank-2 arrays (JAX's ``lax.dot``)."""
    lhs_ndim = get_aval(lhs).ndim
    rhs_ndim = get_aval(rhs).ndim
    if lhs_ndim not in (1, 2) or rhs_ndim not in (1, 2):
        raise ShapeError(
            f"lax.dot requires operands of rank 1 or 2, got ranks {lhs_ndim} and {rhs_ndim}; "
            "use lax.dot_general or fxgrad.numpy.matmul for batched products"
        )
    dims = (((lhs_ndim - 1,), (0,)), ((), ()))
    return dot_general(lhs, rhs, dims, precision, preferred_element_type)
