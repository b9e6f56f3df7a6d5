"""Linear algebra primitives: ``dot_general``, ``triangular_solve`` and ``cholesky``.

``dot_general``: ``dimension_numbers = ((lhs_contract, rhs_contract), (lhs_batch,
rhs_batch))``. The output's axes are the batch axes, then the lhs free axes, then the rhs
free axes (XLA's convention, as in JAX). It is bilinear: the JVP is
``dot(t_l, r) + dot(l, t_r)`` and each transpose is another ``dot_general`` followed by a
``transpose`` that puts the axes back in the operand's order.

``triangular_solve`` solves ``op(a) x = b`` (or ``x op(a) = b``) for triangular ``a``; it
is linear in ``b`` (its transpose is the solve with ``op(a)`` transposed), and its JVP in
``a`` is ``-op(a)^-1 op(a_dot) x``. ``cholesky`` follows Murray (2016), "Differentiation of
the Cholesky decomposition" (https://arxiv.org/abs/1602.07527):
``L_dot = L Phi(L^-1 A_dot L^-H)`` with ``Phi`` taking the lower triangle and half the
diagonal. Both work on stacks ``[..., m, m]`` natively, so their batch rules move the batch
axis to the front (``define_stack_primitive``). The other decompositions live in
``fxgrad.lax.pivoted_lu`` (LU) and ``fxgrad.lax.decompositions`` (QR, geqrf, eigh, SVD, eig) and
are reachable here too (``fxgrad.lax.linalg.qr``), as in ``jax.lax.linalg``. The matrix
helpers below (``_mT``, ``_H``, ``_tril``, ...) are written with lax functions so the
rules built from them transform again.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from fxgrad.core import ShapedArray, get_aval
from fxgrad.errors import FxgradTypeError, ShapeError
from fxgrad.interpreters import batching
from fxgrad.interpreters.jvp import Zero, add_tangents
from fxgrad.interpreters.transpose import is_undefined_primal
from fxgrad.lax import elementwise as ew
from fxgrad.lax._define import define_primitive
from fxgrad.lax.reduction import reduce_sum
from fxgrad.lax.shape import broadcast_in_dim, reshape, transpose

DimensionNumbers = tuple[tuple[tuple[int, ...], tuple[int, ...]], tuple[tuple[int, ...], ...]]


def _free_axes(ndim: int, contract: Sequence[int], batch: Sequence[int]) -> list[int]:
    return [i for i in range(ndim) if i not in contract and i not in batch]


def _dot_general_impl(lhs, rhs, *, dimension_numbers, precision=None, preferred_element_type=None):
    lhs, rhs = np.asarray(lhs), np.asarray(rhs)
    (lc, rc), (lb, rb) = dimension_numbers
    out_dtype = _out_dtype(lhs.dtype, preferred_element_type)
    if not lb and lc == (lhs.ndim - 1,) and rc == (0,) and rhs.ndim <= 2 and lhs.ndim:
        # x @ W: NumPy's dot already orders the result (lhs free, rhs free). It calls BLAS
        # only for operands of rank <= 2, so the free axes of x are merged first.
        if lhs.ndim > 2:
            rows = math.prod(lhs.shape[:-1])
            out = np.dot(lhs.reshape(rows, lhs.shape[-1]), rhs)
            out = out.reshape(*lhs.shape[:-1], *rhs.shape[1:])
        else:
            out = np.dot(lhs, rhs)
        return out.astype(out_dtype, copy=False)
    lf = _free_axes(lhs.ndim, lc, lb)
    rf = _free_axes(rhs.ndim, rc, rb)
    # Lay both operands out as (batch, free, contract) and use matmul.
    lhs_t = np.transpose(lhs, (*lb, *lf, *lc))
    rhs_t = np.transpose(rhs, (*rb, *rc, *rf))
    nb = len(lb)
    batch_shape = lhs_t.shape[:nb]
    lf_shape = lhs_t.shape[nb : nb + len(lf)]
    rf_shape = rhs_t.shape[nb + len(rc) :]
    k = math.prod(lhs_t.shape[nb + len(lf) :])
    m = math.prod(lf_shape)
    n = math.prod(rf_shape)
    lhs_mk = lhs_t.reshape(*batch_shape, m, k)
    rhs_kn = rhs_t.reshape(*batch_shape, k, n)
    if k == 1 and nb:
        # Batched outer products (per-example gradients): matmul with an inner dimension
        # of one is several times slower than the broadcast product, which is exact.
        out = lhs_mk * rhs_kn
    else:
        out = np.matmul(lhs_mk, rhs_kn)
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
    # inf and NaN operands give inf/NaN results without NumPy warnings (JAX never warns).
    impl=ew._quiet(_dot_general_impl),
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


# ---------------------------------------------------------------------------------------
# Helpers on stacks of matrices [..., m, n], written with lax functions
# ---------------------------------------------------------------------------------------


def _shape(x: Any) -> tuple[int, ...]:
    return tuple(get_aval(x).shape)


def _is_complex(x: Any) -> bool:
    return np.dtype(get_aval(x).dtype).kind == "c"


def _mT(x: Any) -> Any:
    """Swap the last two axes."""
    nd = len(_shape(x))
    return transpose(x, (*range(nd - 2), nd - 1, nd - 2))


def _H(x: Any) -> Any:
    """The conjugate transpose of each matrix of the stack."""
    x = _mT(x)
    return ew.conj(x) if _is_complex(x) else x


def _conj(x: Any) -> Any:
    return ew.conj(x) if _is_complex(x) else x


def _matmul(a: Any, b: Any) -> Any:
    """``a @ b`` for stacks with equal batch shapes."""
    nd = len(_shape(a))
    batch = tuple(range(nd - 2))
    return dot_general_p.bind(
        a,
        b,
        dimension_numbers=(((nd - 1,), (nd - 2,)), (batch, batch)),
        precision=None,
        preferred_element_type=None,
    )


def _constant(mask: np.ndarray, like: Any) -> Any:
    """A constant ``[m, n]`` matrix broadcast to the shape (and dtype) of ``like``."""
    aval = get_aval(like)
    return _constant_of(mask, tuple(aval.shape), aval.dtype)


def _constant_of(mask: np.ndarray, shape: tuple[int, ...], dtype: Any) -> Any:
    nd = len(shape)
    return broadcast_in_dim(np.asarray(mask, dtype=dtype), shape, (nd - 2, nd - 1))


def _tril(x: Any, k: int = 0) -> Any:
    m, n = _shape(x)[-2:]
    return ew.mul(x, _constant(np.tri(m, n, k), x))


def _triu(x: Any, k: int = 0) -> Any:
    m, n = _shape(x)[-2:]
    return ew.mul(x, _constant(1 - np.tri(m, n, k - 1), x))


def _eye_like(x: Any) -> Any:
    m, n = _shape(x)[-2:]
    return _constant(np.eye(m, n), x)


def _diagonal(x: Any) -> Any:
    """``x[..., i, i]`` of square matrices: ``[..., n, n] -> [..., n]``."""
    nd = len(_shape(x))
    return reduce_sum(ew.mul(x, _eye_like(x)), (nd - 1,))


def _row_vector(v: Any, shape: tuple[int, ...]) -> Any:
    """``v[..., None, :]`` broadcast to ``shape`` (``v`` varies along the columns)."""
    nd = len(shape)
    return broadcast_in_dim(v, shape, (*range(nd - 2), nd - 1))


def _col_vector(v: Any, shape: tuple[int, ...]) -> Any:
    """``v[..., :, None]`` broadcast to ``shape`` (``v`` varies along the rows)."""
    nd = len(shape)
    return broadcast_in_dim(v, shape, tuple(range(nd - 1)))


def _diag_embed(v: Any) -> Any:
    """``[..., n] -> [..., n, n]`` with ``v`` on the diagonal."""
    n = _shape(v)[-1]
    shape = (*_shape(v), n)
    return ew.mul(_row_vector(v, shape), _constant_of(np.eye(n), shape, get_aval(v).dtype))


def _to_dtype(x: Any, dtype: Any) -> Any:
    if np.dtype(get_aval(x).dtype) == np.dtype(dtype):
        return x
    return ew.convert_element_type(x, dtype)


def _hermitian_part(t: Any, lower: bool) -> Any:
    """The Hermitian matrix whose ``lower`` (or upper) triangle is that of ``t``.

    LAPACK's symmetric routines read one triangle only (and the real part of the
    diagonal), so this is the tangent of the matrix they actually see.
    """
    off = _tril(t, -1) if lower else _triu(t, 1)
    diag = ew.mul(t, _eye_like(t))
    if _is_complex(t):
        diag = _to_dtype(ew.real(diag), get_aval(t).dtype)
    return ew.add(ew.add(off, _H(off)), diag)


def batch_at_front(prim: Any, axis_size: int, vals: Sequence[Any], dims: Sequence[Any], params):
    """Batch rule of a primitive whose impl handles stacks: batch axes go to the front."""
    moved = [batching.bdim_at_front(x, d, axis_size) for x, d in zip(vals, dims, strict=True)]
    out = prim.bind(*moved, **params)
    if prim.multiple_results:
        return out, [0] * len(out)
    return out, 0


def define_stack_primitive(
    name: str,
    *,
    impl: Any,
    abstract_eval: Any,
    jvp: Any,
    multiple_results: bool = True,
) -> Any:
    """``define_primitive`` for a LAPACK-style routine whose impl handles stacks.

    Such a primitive is batched by moving the batch axis to the front
    (``batch_at_front``) and lowers to a library call.
    """
    prim: Any = None

    def batch(axis_size, vals, dims, **params):
        return batch_at_front(prim, axis_size, vals, dims, params)

    batch.__name__ = batch.__qualname__ = f"_{name}_batch"
    prim = define_primitive(
        name,
        impl=impl,
        abstract_eval=abstract_eval,
        jvp=jvp,
        batch=batch,
        kernel="library",
        multiple_results=multiple_results,
    )
    return prim


def check_matrix(fn_name: str, aval: Any, *, square: bool = False, arg: str = "x") -> None:
    """Raise a named error unless ``aval`` is a stack of (square) inexact matrices."""
    shape = tuple(aval.shape)
    if len(shape) < 2 or (square and shape[-1] != shape[-2]):
        want = "square matrices [..., n, n]" if square else "matrices [..., m, n]"
        raise ShapeError(
            f"lax.linalg.{fn_name}: argument {arg} must be a stack of {want}, got shape "
            f"{shape}; pass an array with at least two axes"
            + (" whose last two are equal" if square else "")
        )
    if np.dtype(aval.dtype).kind not in "fc":
        raise FxgradTypeError(
            f"lax.linalg.{fn_name}: argument {arg} must have a floating or complex dtype, got "
            f"{np.dtype(aval.dtype).name}; convert it first (fxgrad.numpy.linalg does)"
        )


def lapack_stack(fn: Any, x: np.ndarray, core_outs: Sequence[tuple[tuple[int, ...], Any]]):
    """``fn(x)`` over a stack of matrices, with NaN results where LAPACK fails.

    NumPy raises ``LinAlgError`` for a whole stack when one matrix fails (not positive
    definite, no convergence); JAX returns NaNs for that matrix instead, and so do we:
    the stack is retried one matrix at a time. ``core_outs`` gives the shape and dtype
    of each output for one matrix.
    """
    try:
        with np.errstate(all="ignore"):
            return tuple(fn(x))
    except np.linalg.LinAlgError:
        pass
    batch = x.shape[:-2]
    outs = [np.full((*batch, *shape), np.nan, dtype=dtype) for shape, dtype in core_outs]
    for idx in np.ndindex(*batch):
        try:
            with np.errstate(all="ignore"):
                res = fn(x[idx])
        except np.linalg.LinAlgError:
            continue
        for out, r in zip(outs, res, strict=True):
            out[idx] = r
    return tuple(outs)


# ---------------------------------------------------------------------------------------
# triangular_solve
# ---------------------------------------------------------------------------------------


def _effective_triangle(a: np.ndarray, lower: bool, unit_diagonal: bool) -> np.ndarray:
    a = np.tril(a) if lower else np.triu(a)
    if unit_diagonal:
        idx = np.arange(a.shape[-1])
        a[..., idx, idx] = 1
    return a


def _substitute(a: np.ndarray, b: np.ndarray, lower: bool) -> np.ndarray:
    """Forward/back substitution for ``a x = b`` over a stack (LAPACK trsm semantics).

    Used when ``np.linalg.solve`` refuses a singular triangle: a zero on the diagonal
    gives infinities and NaNs, as trsm does.
    """
    m = a.shape[-1]
    x = np.zeros(np.broadcast_shapes(a.shape[:-2], b.shape[:-2]) + b.shape[-2:], b.dtype)
    order = range(m) if lower else range(m - 1, -1, -1)
    for i in order:
        acc = b[..., i, :] - np.einsum("...j,...jk->...k", a[..., i, :], x)
        x[..., i, :] = acc / a[..., i, i, None]
    return x


def _triangular_solve_impl(a, b, *, left_side, lower, transpose_a, conjugate_a, unit_diagonal):
    a, b = np.asarray(a), np.asarray(b)
    dtype = b.dtype
    op_a = _effective_triangle(a, lower, unit_diagonal)
    if conjugate_a:
        op_a = op_a.conj()
    op_lower = lower
    if transpose_a:
        op_a = np.swapaxes(op_a, -1, -2)
        op_lower = not lower
    if not left_side:  # x op(a) = b  <=>  op(a)^T x^T = b^T
        op_a, b = np.swapaxes(op_a, -1, -2), np.swapaxes(b, -1, -2)
        op_lower = not op_lower
    if op_a.shape[-1] == 0 or b.shape[-1] == 0:
        x = np.zeros(b.shape, dtype)
    else:
        try:
            with np.errstate(all="ignore"):
                x = np.linalg.solve(op_a, b)
        except np.linalg.LinAlgError:
            with np.errstate(all="ignore"):
                x = _substitute(op_a, b, op_lower)
    if not left_side:
        x = np.swapaxes(x, -1, -2)
    return np.ascontiguousarray(x, dtype=dtype)


def _triangular_solve_abstract_eval(
    a, b, *, left_side, lower, transpose_a, conjugate_a, unit_diagonal
):
    check_matrix("triangular_solve", a, square=True, arg="a")
    check_matrix("triangular_solve", b, arg="b")
    if np.dtype(a.dtype) != np.dtype(b.dtype):
        raise FxgradTypeError(
            f"lax.linalg.triangular_solve requires a and b of the same dtype, got "
            f"{np.dtype(a.dtype).name} and {np.dtype(b.dtype).name}"
        )
    m = a.shape[-1]
    side_dim = b.shape[-2] if left_side else b.shape[-1]
    if a.shape[:-2] != b.shape[:-2] or side_dim != m:
        want = f"[..., {m}, n]" if left_side else f"[..., n, {m}]"
        raise ShapeError(
            f"lax.linalg.triangular_solve: with a of shape {tuple(a.shape)} and "
            f"left_side={left_side}, b must have shape {want} with the same batch axes "
            f"{tuple(a.shape[:-2])}, got {tuple(b.shape)}"
        )
    return ShapedArray(tuple(b.shape), np.dtype(b.dtype), False)


def _op(x: Any, transpose_a: bool, conjugate_a: bool) -> Any:
    if conjugate_a:
        x = _conj(x)
    return _mT(x) if transpose_a else x


def _triangular_solve_jvp(primals, tangents, **params):
    a, b = primals
    a_dot, b_dot = tangents
    x = triangular_solve_p.bind(a, b, **params)
    x_dot: Any = Zero(get_aval(x))
    if type(b_dot) is not Zero:
        x_dot = triangular_solve_p.bind(a, b_dot, **params)
    if type(a_dot) is not Zero:
        # Only the triangle of a (without its diagonal when unit_diagonal) is read.
        if params["lower"]:
            a_dot = _tril(a_dot, -1 if params["unit_diagonal"] else 0)
        else:
            a_dot = _triu(a_dot, 1 if params["unit_diagonal"] else 0)
        op_dot = _op(a_dot, params["transpose_a"], params["conjugate_a"])
        rhs = _matmul(op_dot, x) if params["left_side"] else _matmul(x, op_dot)
        x_dot = add_tangents(x_dot, ew.neg(triangular_solve_p.bind(a, rhs, **params)))
    return x, x_dot


def _triangular_solve_transpose(ct, a, b, **params):
    # x = op(a)^-1 b is linear in b; its transpose applies op(a)^-T: flip transpose_a.
    assert is_undefined_primal(b) and not is_undefined_primal(a)
    if type(ct) is Zero:
        return [None, Zero(b.aval)]
    flipped = {**params, "transpose_a": not params["transpose_a"]}
    return [None, triangular_solve_p.bind(a, ct, **flipped)]


def _triangular_solve_batch(axis_size, vals, dims, **params):
    a, b = vals
    a_dim, b_dim = dims
    if a_dim is batching.not_mapped:
        # One matrix, many right-hand sides: fold the batch into b's free axis.
        nd = len(_shape(b))
        if params["left_side"]:
            b = batching.moveaxis(b, b_dim, nd - 1)
            *rest, m, n, size = _shape(b)
            out = triangular_solve_p.bind(a, reshape(b, (*rest, m, n * size)), **params)
            return reshape(out, (*rest, m, n, size)), nd - 1
        b = batching.moveaxis(b, b_dim, nd - 3)
        *rest, size, n, m = _shape(b)
        out = triangular_solve_p.bind(a, reshape(b, (*rest, size * n, m)), **params)
        return reshape(out, (*rest, size, n, m)), nd - 3
    return batch_at_front(triangular_solve_p, axis_size, vals, dims, params)


triangular_solve_p = define_primitive(
    "triangular_solve",
    impl=_triangular_solve_impl,
    abstract_eval=_triangular_solve_abstract_eval,
    jvp=_triangular_solve_jvp,
    transpose=_triangular_solve_transpose,
    batch=_triangular_solve_batch,
    kernel="library",
)


def triangular_solve(
    a: Any,
    b: Any,
    *,
    left_side: bool = False,
    lower: bool = False,
    transpose_a: bool = False,
    conjugate_a: bool = False,
    unit_diagonal: bool = False,
) -> Any:
    """Solve a triangular system (JAX's ``lax.linalg.triangular_solve``).

    With ``left_side=True`` solves ``op(a) @ x = b``, otherwise ``x @ op(a) = b``, where
    ``op(a)`` is ``a``, ``a.T`` (``transpose_a``), ``conj(a)`` (``conjugate_a``) or
    ``a.H`` (both). Only the ``lower`` (or upper) triangle of ``a`` is read, and its
    diagonal is taken to be ones when ``unit_diagonal``. A zero on the diagonal gives
    infinities or NaNs, as LAPACK's trsm does; there is no error.

    Args:
      a: ``[..., m, m]`` floating or complex.
      b: ``[..., m, n]`` (``left_side``) or ``[..., n, m]``, same dtype and batch axes.

    Returns:
      ``x`` with the shape and dtype of ``b``.

    Raises:
      ShapeError: shapes that do not match as above.
      FxgradTypeError: integer operands or mismatched dtypes.

    Example:
      >>> import numpy as np
      >>> from fxgrad.lax.linalg import triangular_solve
      >>> a = np.array([[2.0, 0.0], [1.0, 1.0]])
      >>> triangular_solve(a, np.array([[2.0], [3.0]]), left_side=True, lower=True)
      Array([[1.],
             [2.]], dtype=float64)
    """
    params = {
        "left_side": bool(left_side),
        "lower": bool(lower),
        "transpose_a": bool(transpose_a),
        "conjugate_a": bool(conjugate_a),
        "unit_diagonal": bool(unit_diagonal),
    }
    _triangular_solve_abstract_eval(get_aval(a), get_aval(b), **params)
    return triangular_solve_p.bind(a, b, **params)


# ---------------------------------------------------------------------------------------
# cholesky
# ---------------------------------------------------------------------------------------


def _cholesky_impl(x):
    x = np.asarray(x)
    n = x.shape[-1]
    (out,) = lapack_stack(lambda m: (np.linalg.cholesky(m),), x, [((n, n), x.dtype)])
    return np.ascontiguousarray(out, dtype=x.dtype)


def _cholesky_abstract_eval(x):
    check_matrix("cholesky", x, square=True)
    return ShapedArray(tuple(x.shape), np.dtype(x.dtype), False)


def _cholesky_jvp(primals, tangents):
    (x,), (x_dot,) = primals, tangents
    chol = cholesky_p.bind(x)
    # Murray (2016): L_dot = L Phi(L^-1 A_dot L^-H), Phi = lower triangle, half diagonal.
    a_dot = _hermitian_part(x_dot, lower=True)
    tmp = triangular_solve(chol, a_dot, left_side=True, lower=True)
    tmp = triangular_solve(
        chol, tmp, left_side=False, lower=True, transpose_a=True, conjugate_a=True
    )
    n = _shape(x)[-1]
    phi = ew.mul(tmp, _constant(np.tri(n, n, -1) + 0.5 * np.eye(n), tmp))
    return chol, _matmul(chol, phi)


cholesky_p = define_stack_primitive(
    "cholesky",
    impl=_cholesky_impl,
    abstract_eval=_cholesky_abstract_eval,
    jvp=_cholesky_jvp,
    multiple_results=False,
)


def cholesky(x: Any, *, symmetrize_input: bool = True) -> Any:
    """The lower Cholesky factor ``L`` of Hermitian positive-definite matrices.

    ``x = L @ L.H`` with ``L`` lower triangular and a positive real diagonal (JAX's
    ``lax.linalg.cholesky``). With ``symmetrize_input`` the factorised matrix is
    ``(x + x.H) / 2``, so the derivative is that of a symmetric function; otherwise only
    the lower triangle of ``x`` is read (and so differentiated). A matrix that is not
    positive definite gives NaNs (no error), as in JAX.

    Args:
      x: ``[..., n, n]`` floating or complex.
      symmetrize_input: symmetrize ``x`` first.

    Returns:
      ``L``, with the shape and dtype of ``x``.

    Example:
      >>> import numpy as np
      >>> from fxgrad.lax.linalg import cholesky
      >>> cholesky(np.array([[4.0, 2.0], [2.0, 5.0]]))
      Array([[2., 0.],
             [1., 2.]], dtype=float64)
    """
    check_matrix("cholesky", get_aval(x), square=True)
    if symmetrize_input:
        x = symmetrize(x)
    return cholesky_p.bind(x)


def symmetrize(x: Any) -> Any:
    """``(x + x.H) / 2``, the Hermitian part of each matrix."""
    return ew.mul(ew.add(x, _H(x)), np.asarray(0.5, dtype=get_aval(x).dtype))


def __getattr__(name: str) -> Any:
    # ``lax.linalg.qr`` etc., as in ``jax.lax.linalg``; they live in modules of their own
    # (which import this one, so the lookup is lazy).
    from fxgrad.lax import decompositions

    if name in decompositions.__all__:
        return getattr(decompositions, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
