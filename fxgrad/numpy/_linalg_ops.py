"""Products: matmul, dot, tensordot, inner, outer, vdot, kron, cross, vecdot, matvec, vecmat.

Every product promotes its operands to a common dtype (NumPy's rules) and checks the
shapes first, so a mismatch names the function and both shapes. Contractions are
``dot_general`` calls: directly where the layout is fixed (``dot``, ``tensordot``), and
through ``einsum``'s label machinery where batch axes broadcast (``matmul``, ``vecdot``,
``matvec``, ``vecmat``), which squeezes size-1 batch axes instead of materialising the
broadcast operand. ``cross`` picks components with a mask and a sum and stacks them with
``select_n``, so it needs no gather or slicing primitive.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fxgrad.array import Array
from fxgrad.core import get_aval
from fxgrad.errors import ShapeError
from fxgrad.lax import elementwise as ew
from fxgrad.lax import linalg as llinalg
from fxgrad.lax import reduction as red
from fxgrad.lax import shape as lshape
from fxgrad.numpy._einsum import contract
from fxgrad.numpy._shape_ops import select_stack
from fxgrad.numpy._util import asarray_value, canonicalize_axis, eager_buffers, promote_dtypes

__all__ = [
    "cross",
    "dot",
    "inner",
    "kron",
    "matmul",
    "matvec",
    "outer",
    "tensordot",
    "vdot",
    "vecdot",
    "vecmat",
]


def _promote(*args: Any) -> list[Any]:
    return promote_dtypes(*[asarray_value(a) for a in args])


def _shape(x: Any) -> tuple[int, ...]:
    return tuple(get_aval(x).shape)


def _multiply(a: Any, b: Any) -> Any:
    from fxgrad.numpy._ufuncs import multiply

    return multiply(a, b)


def _conj(x: Any) -> Any:
    return ew.conj(x) if get_aval(x).dtype.kind == "c" else x


def _broadcast_batch(fn_name: str, a_batch: tuple, b_batch: tuple, sa: tuple, sb: tuple):
    try:
        return np.broadcast_shapes(a_batch, b_batch)
    except ValueError:
        raise ShapeError(
            f"fxgrad.numpy.{fn_name}: the batch (leading) axes of operands with shapes {sa} "
            f"and {sb} do not broadcast: {a_batch} vs {b_batch}"
        ) from None


def _batch_labels(ndim_batch: int, total: int) -> tuple[int, ...]:
    """Integer labels of batch axes, right-aligned against ``total`` broadcast axes."""
    return tuple(range(total - ndim_batch, total))


def matmul(a: Any, b: Any, /, *, precision: Any = None, preferred_element_type: Any = None):
    """Matrix product with NumPy's rules (``a @ b``).

    1-D operands are treated as a row (``a``) or column (``b``) vector and the added
    axis is removed from the result; leading (batch) axes broadcast.

    Args:
      a, b: arrays of rank >= 1.
      precision: passed to ``dot_general``.
      preferred_element_type: the dtype of the result.

    Returns:
      Shape ``broadcast(a.shape[:-2], b.shape[:-2]) + (a.shape[-2], b.shape[-1])``
      (without the vector axes), in the promoted dtype.

    Raises:
      ShapeError: a scalar operand, mismatched inner sizes, or batch axes that do not
        broadcast.

    Example:
      >>> import fxgrad.numpy as fnp
      >>> fnp.matmul(fnp.ones((2, 3)), fnp.ones(3))
      Array([3., 3.], dtype=float64)
    """
    if precision is None and preferred_element_type is None:
        buffers = eager_buffers((a, b))
        if buffers is not None:
            x, y = buffers
            if (
                x.dtype == y.dtype
                and x.dtype.kind in "iufc"
                and 1 <= x.ndim <= 2
                and 1 <= y.ndim <= 2
                and x.shape[-1] == y.shape[0]
            ):
                # eager vectors and matrices of one dtype: what dot_general's
                # implementation computes for them (np.dot), without promotion or dispatch
                return Array.__new__(Array)._init(np.dot(x, y), False)
    a, b = _promote(a, b)
    sa, sb = _shape(a), _shape(b)
    if not sa or not sb:
        raise ShapeError(
            f"fxgrad.numpy.matmul: operands must have rank >= 1, got shapes {sa} and {sb}; "
            "use fxgrad.numpy.multiply (or *) to scale by a scalar"
        )
    k_b = sb[0] if len(sb) == 1 else sb[-2]
    if sa[-1] != k_b:
        raise ShapeError(
            f"fxgrad.numpy.matmul: a has shape {sa} and b has shape {sb}; the last axis of a "
            f"({sa[-1]}) must equal the {'only' if len(sb) == 1 else 'second-to-last'} "
            f"axis of b ({k_b})"
        )
    if len(sa) <= 2 and len(sb) <= 2:
        # Vectors and matrices: one dot_general, no broadcasting (the common case).
        dims = (((len(sa) - 1,), (0,)), ((), ()))
        return llinalg.dot_general(a, b, dims, precision, preferred_element_type)
    if len(sa) == len(sb) and sa[:-2] == sb[:-2]:
        nd = len(sa)
        batch_axes = tuple(range(nd - 2))
        dims = (((nd - 1,), (nd - 2,)), (batch_axes, batch_axes))
        return llinalg.dot_general(a, b, dims, precision, preferred_element_type)
    a_batch, b_batch = sa[:-2], sb[:-2]
    batch = _broadcast_batch("matmul", a_batch, b_batch, sa, sb)
    nb = len(batch)
    a_labels = ("k",) if len(sa) == 1 else (*_batch_labels(len(a_batch), nb), "m", "k")
    b_labels = ("k",) if len(sb) == 1 else (*_batch_labels(len(b_batch), nb), "k", "n")
    out = (*range(nb), *(("m",) if len(sa) > 1 else ()), *(("n",) if len(sb) > 1 else ()))
    return contract(
        [a, b],
        [a_labels, b_labels],
        out,
        precision=precision,
        preferred_element_type=preferred_element_type,
    )


def dot(a: Any, b: Any, *, precision: Any = None, preferred_element_type: Any = None) -> Any:
    """NumPy's ``dot``: sum over the last axis of ``a`` and the second-to-last of ``b``.

    For N-D ``a`` and M-D ``b`` (M >= 2) the result has shape
    ``a.shape[:-1] + b.shape[:-2] + b.shape[-1:]`` (no broadcasting: every axis is
    kept); a 1-D ``b`` contracts with the last axis of ``a``; a scalar multiplies.

    Example:
      >>> import fxgrad.numpy as fnp
      >>> fnp.dot(fnp.ones((2, 3)), fnp.ones((4, 3, 5))).shape
      (2, 4, 5)
    """
    a, b = _promote(a, b)
    sa, sb = _shape(a), _shape(b)
    if not sa or not sb:
        out = _multiply(a, b)
        if preferred_element_type is not None:
            out = ew.convert_element_type(out, preferred_element_type)
        return out
    contract_b = 0 if len(sb) == 1 else len(sb) - 2
    if sa[-1] != sb[contract_b]:
        raise ShapeError(
            f"fxgrad.numpy.dot: shapes {sa} and {sb} not aligned: {sa[-1]} (axis "
            f"{len(sa) - 1} of a) != {sb[contract_b]} (axis {contract_b} of b)"
        )
    dims = (((len(sa) - 1,), (contract_b,)), ((), ()))
    return llinalg.dot_general(a, b, dims, precision, preferred_element_type)


def _tensordot_axes(axes: Any, sa: tuple, sb: tuple) -> tuple[tuple[int, ...], tuple[int, ...]]:
    if isinstance(axes, (int, np.integer)):
        n = int(axes)
        if n < 0 or n > len(sa) or n > len(sb):
            raise ShapeError(
                f"fxgrad.numpy.tensordot: axes={n} must be between 0 and the smaller rank "
                f"of the operands, whose shapes are {sa} and {sb}"
            )
        return tuple(range(len(sa) - n, len(sa))), tuple(range(n))
    try:
        ax_a, ax_b = axes
    except (TypeError, ValueError):
        raise ValueError(
            f"fxgrad.numpy.tensordot: axes must be an int, a pair of ints or a pair of "
            f"sequences of ints, got {axes!r}"
        ) from None
    ax_a = (ax_a,) if isinstance(ax_a, (int, np.integer)) else tuple(ax_a)
    ax_b = (ax_b,) if isinstance(ax_b, (int, np.integer)) else tuple(ax_b)
    if len(ax_a) != len(ax_b):
        raise ShapeError(
            f"fxgrad.numpy.tensordot: axes {axes!r} name {len(ax_a)} axes of a but "
            f"{len(ax_b)} axes of b; they must be paired one to one"
        )
    ax_a = tuple(canonicalize_axis(x, len(sa), "tensordot") for x in ax_a)
    ax_b = tuple(canonicalize_axis(x, len(sb), "tensordot") for x in ax_b)
    if len(set(ax_a)) != len(ax_a) or len(set(ax_b)) != len(ax_b):
        raise ValueError(f"fxgrad.numpy.tensordot: repeated axis in axes={axes!r}")
    return ax_a, ax_b


def tensordot(
    a: Any, b: Any, axes: Any = 2, *, precision: Any = None, preferred_element_type: Any = None
) -> Any:
    """Sum of products over the given axes (as ``numpy.tensordot``).

    Args:
      a, b: arrays.
      axes: an int ``N`` (the last ``N`` axes of ``a`` with the first ``N`` of ``b``),
        or a pair ``(axes_a, axes_b)`` of ints or equal-length sequences (negative
        axes count from the end).

    Returns:
      The free axes of ``a`` followed by the free axes of ``b``.

    Example:
      >>> import fxgrad.numpy as fnp
      >>> fnp.tensordot(fnp.ones((2, 3, 4)), fnp.ones((4, 3)), axes=([1, 2], [1, 0]))
      Array([12., 12.], dtype=float64)
    """
    a, b = _promote(a, b)
    sa, sb = _shape(a), _shape(b)
    ax_a, ax_b = _tensordot_axes(axes, sa, sb)
    for i, j in zip(ax_a, ax_b, strict=True):
        if sa[i] != sb[j]:
            raise ShapeError(
                f"fxgrad.numpy.tensordot: shape mismatch for sum: axis {i} of a (shape {sa}) "
                f"has size {sa[i]} but axis {j} of b (shape {sb}) has size {sb[j]}"
            )
    return llinalg.dot_general(a, b, ((ax_a, ax_b), ((), ())), precision, preferred_element_type)


def inner(a: Any, b: Any, *, precision: Any = None, preferred_element_type: Any = None):
    """Sum of products over the last axes of ``a`` and ``b`` (scalars multiply).

    Returns:
      Shape ``a.shape[:-1] + b.shape[:-1]``.
    """
    a, b = _promote(a, b)
    sa, sb = _shape(a), _shape(b)
    if not sa or not sb:
        return dot(a, b, preferred_element_type=preferred_element_type)
    if sa[-1] != sb[-1]:
        raise ShapeError(
            f"fxgrad.numpy.inner: the last axes of a (shape {sa}) and b (shape {sb}) must "
            f"have equal sizes, got {sa[-1]} and {sb[-1]}"
        )
    dims = (((len(sa) - 1,), (len(sb) - 1,)), ((), ()))
    return llinalg.dot_general(a, b, dims, precision, preferred_element_type)


def outer(a: Any, b: Any, out: None = None) -> Any:
    """``a.ravel()[:, None] * b.ravel()[None, :]``, of shape ``(a.size, b.size)``."""
    if out is not None:
        raise NotImplementedError("fxgrad.numpy.outer does not support out= (arrays are immutable)")
    a, b = _promote(a, b)
    a = lshape.reshape(a, (get_aval(a).size, 1))
    b = lshape.reshape(b, (1, get_aval(b).size))
    return _multiply(a, b)


def vdot(a: Any, b: Any, *, precision: Any = None, preferred_element_type: Any = None):
    """Dot product of the flattened arrays, conjugating ``a`` first (a scalar)."""
    a, b = _promote(a, b)
    na, nb = get_aval(a).size, get_aval(b).size
    if na != nb:
        raise ShapeError(
            f"fxgrad.numpy.vdot: a (shape {_shape(a)}) and b (shape {_shape(b)}) must have "
            f"the same number of elements, got {na} and {nb}"
        )
    a = lshape.reshape(_conj(a), (na,))
    b = lshape.reshape(b, (nb,))
    return llinalg.dot_general(a, b, (((0,), (0,)), ((), ())), precision, preferred_element_type)


def kron(a: Any, b: Any) -> Any:
    """Kronecker product: blocks ``a[i, j] * b`` (ranks are aligned by leading 1s).

    Returns:
      Shape ``tuple(sa * sb for sa, sb in zip(a.shape, b.shape))`` after padding the
      shorter shape with leading ones.
    """
    a, b = _promote(a, b)
    nd = max(get_aval(a).ndim, get_aval(b).ndim)
    sa = (1,) * (nd - get_aval(a).ndim) + _shape(a)
    sb = (1,) * (nd - get_aval(b).ndim) + _shape(b)
    a = lshape.reshape(a, [d for s in sa for d in (s, 1)])
    b = lshape.reshape(b, [d for s in sb for d in (1, s)])
    out = _multiply(a, b)
    return lshape.reshape(out, tuple(x * y for x, y in zip(sa, sb, strict=True)))


# --- cross --------------------------------------------------------------------------------


def _component(x: Any, i: int) -> Any:
    """``x[..., i]`` without a gather: select the component with a mask, then sum."""
    aval = get_aval(x)
    mask = lshape.broadcast_in_dim(np.arange(aval.shape[-1]) == i, aval.shape, (aval.ndim - 1,))
    zeros = ew.full_like_aval(aval.strip_weak_type(), 0)
    return red.reduce_sum(ew.select_n(mask, zeros, x), (aval.ndim - 1,))


def cross(
    a: Any, b: Any, axisa: int = -1, axisb: int = -1, axisc: int = -1, axis: int | None = None
) -> Any:
    """Cross product of vectors of length 2 or 3 along ``axisa`` / ``axisb``.

    ``axis`` overrides all three axes. Vectors of length 2 have an implicit zero third
    component; when both have length 2 the result is the scalar z-component (no vector
    axis), as in NumPy. The other axes broadcast and the vectors of the result lie
    along ``axisc``.
    """
    if axis is not None:
        axisa = axisb = axisc = axis
    a, b = _promote(a, b)
    a = _move_to_end(a, axisa, "axisa")
    b = _move_to_end(b, axisb, "axisb")
    na, nb = _shape(a)[-1], _shape(b)[-1]
    if na not in (2, 3) or nb not in (2, 3):
        raise ShapeError(
            f"fxgrad.numpy.cross: incompatible dimensions for cross product: the vector axes "
            f"have lengths {na} and {nb}; each must be 2 or 3"
        )
    try:
        batch = np.broadcast_shapes(_shape(a)[:-1], _shape(b)[:-1])
    except ValueError:
        raise ShapeError(
            f"fxgrad.numpy.cross: the non-vector axes of a (shape {_shape(a)[:-1]}) and b "
            f"(shape {_shape(b)[:-1]}) do not broadcast"
        ) from None
    a_parts = [lshape.broadcast_to_shape(_component(a, i), batch) for i in range(na)]
    b_parts = [lshape.broadcast_to_shape(_component(b, i), batch) for i in range(nb)]
    a0, a1 = a_parts[0], a_parts[1]
    b0, b1 = b_parts[0], b_parts[1]
    z = ew.sub(ew.mul(a0, b1), ew.mul(a1, b0))
    if na == 2 and nb == 2:
        return z
    if na == 2:
        x, y = ew.mul(a1, b_parts[2]), ew.neg(ew.mul(a0, b_parts[2]))
    elif nb == 2:
        x, y = ew.neg(ew.mul(a_parts[2], b1)), ew.mul(a_parts[2], b0)
    else:
        a2, b2 = a_parts[2], b_parts[2]
        x = ew.sub(ew.mul(a1, b2), ew.mul(a2, b1))
        y = ew.sub(ew.mul(a2, b0), ew.mul(a0, b2))
    out = select_stack([x, y, z], axis=-1)
    nd = len(batch) + 1
    return lshape.transpose(out, _move_last_to(canonicalize_axis(axisc, nd, "cross"), nd))


def _move_to_end(x: Any, axis: int, name: str) -> Any:
    ndim = get_aval(x).ndim
    if ndim == 0:
        raise ShapeError(f"fxgrad.numpy.cross: {name} refers to an axis of a scalar operand")
    ax = canonicalize_axis(axis, ndim, "cross")
    return lshape.transpose(x, [*(i for i in range(ndim) if i != ax), ax])


def _move_last_to(dest: int, ndim: int) -> tuple[int, ...]:
    perm = list(range(ndim - 1))
    perm.insert(dest, ndim - 1)
    return tuple(perm)


# --- NumPy 2 gufunc-style products -----------------------------------------------------


def _vector_labels(ndim: int, total: int, axis: int) -> tuple:
    """Labels of an operand right-aligned in ``total`` axes; the contracted one is 'v'."""
    return tuple("v" if g == axis else g for g in range(total - ndim, total))


def vecdot(
    x1: Any,
    x2: Any,
    /,
    *,
    axis: int = -1,
    precision: Any = None,
    preferred_element_type: Any = None,
) -> Any:
    """``sum(conj(x1) * x2, axis)`` with broadcasting (NumPy 2's ``vecdot``).

    The operands broadcast first, then ``axis`` (of the broadcast shape) is contracted.
    """
    x1, x2 = _promote(x1, x2)
    s1, s2 = _shape(x1), _shape(x2)
    try:
        full = np.broadcast_shapes(s1, s2)
    except ValueError:
        raise ShapeError(
            f"fxgrad.numpy.vecdot: operands of shapes {s1} and {s2} do not broadcast"
        ) from None
    nd = len(full)
    if nd == 0:
        raise ShapeError("fxgrad.numpy.vecdot: operands must have rank >= 1, got two scalars")
    ax = canonicalize_axis(axis, nd, "vecdot")
    labels = [_vector_labels(len(s1), nd, ax), _vector_labels(len(s2), nd, ax)]
    out = tuple(g for g in range(nd) if g != ax)
    return contract(
        [_conj(x1), x2],
        labels,
        out,
        precision=precision,
        preferred_element_type=preferred_element_type,
    )


def _matrix_vector(fn_name: str, mat: Any, vec: Any, mat_first: bool) -> Any:
    sm, sv = _shape(mat), _shape(vec)
    if len(sm) < 2 or len(sv) < 1:
        raise ShapeError(
            f"fxgrad.numpy.{fn_name}: needs a matrix of rank >= 2 and a vector of rank >= 1, "
            f"got shapes {sm} and {sv}"
        )
    k_axis = -1 if mat_first else -2
    if sm[k_axis] != sv[-1]:
        shown = (sm, sv) if mat_first else (sv, sm)
        raise ShapeError(
            f"fxgrad.numpy.{fn_name}: operands of shapes {shown[0]} and {shown[1]} do not "
            f"match: the vector has length {sv[-1]} but the matrix axis {k_axis} has "
            f"size {sm[k_axis]}"
        )
    batch = _broadcast_batch(fn_name, sm[:-2], sv[:-1], sm, sv)
    nb = len(batch)
    mat_core = ("m", "k") if mat_first else ("k", "m")
    mat_labels = (*_batch_labels(len(sm) - 2, nb), *mat_core)
    vec_labels = (*_batch_labels(len(sv) - 1, nb), "k")
    return contract([mat, vec], [mat_labels, vec_labels], (*range(nb), "m"))


def matvec(x1: Any, x2: Any, /) -> Any:
    """Matrix-vector product over the last axes: ``(..., m, n) x (..., n) -> (..., m)``."""
    x1, x2 = _promote(x1, x2)
    return _matrix_vector("matvec", x1, x2, mat_first=True)


def vecmat(x1: Any, x2: Any, /) -> Any:
    """``conj(x1) @ x2`` over the last axes: ``(..., n) x (..., n, m) -> (..., m)``."""
    x1, x2 = _promote(x1, x2)
    return _matrix_vector("vecmat", x2, _conj(x1), mat_first=False)
