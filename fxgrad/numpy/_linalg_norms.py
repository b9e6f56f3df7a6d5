"""Norms, condition numbers and ranks of ``fxgrad.numpy.linalg``.

``norm`` covers every NumPy ``ord`` for vectors (``None``/2, ``inf``, ``-inf``, 0, 1,
any ``p``) and matrices (``'fro'``, ``'nuc'``, ``inf``, ``-inf``, 1, -1, 2, -2);
``vector_norm`` and ``matrix_norm`` are NumPy 2's array-API forms. ``cond`` and
``matrix_rank`` use singular values (``svd`` with ``compute_uv=False``, whose derivative
stays finite at repeated values). All are written with ``fxgrad.numpy`` and the lax
decompositions, so they differentiate, batch and compile.
"""

from __future__ import annotations

import operator
from typing import Any

import numpy as np

import fxgrad.numpy as fnp
from fxgrad.errors import FxgradTypeError, ShapeError
from fxgrad.lax import decompositions as lax_dec
from fxgrad.numpy._linalg_util import _dtype, _inexact, _inverse, _matrix, _shape, _svdvals
from fxgrad.numpy._util import canonicalize_axis

__all__ = ["cond", "matrix_norm", "matrix_rank", "norm", "vector_norm"]


def _sq_abs(x: Any) -> Any:
    return fnp.real(fnp.conjugate(x) * x) if _dtype(x).kind == "c" else x * x


def _vector_norm(x: Any, ord: Any, axis: int, keepdims: bool) -> Any:  # noqa: A002
    kw = {"axis": axis, "keepdims": keepdims}
    if ord is None or ord == 2:
        return fnp.sqrt(fnp.sum(_sq_abs(x), **kw))
    if isinstance(ord, str):
        raise ValueError(f"fxgrad.numpy.linalg.norm: invalid norm order {ord!r} for vectors")
    if ord == np.inf:
        return fnp.max(fnp.abs(x), **kw)
    if ord == -np.inf:
        return fnp.min(fnp.abs(x), **kw)
    if ord == 0:
        return fnp.sum((x != 0).astype(np.finfo(_dtype(x)).dtype), **kw)
    if ord == 1:
        return fnp.sum(fnp.abs(x), **kw)
    absx = fnp.abs(x)
    return fnp.sum(absx**ord, **kw) ** (1.0 / ord)


def _matrix_norm(x: Any, ord: Any, axes: tuple[int, int], keepdims: bool) -> Any:  # noqa: A002
    row, col = axes
    if ord in (None, "fro", "f"):
        out = fnp.sqrt(fnp.sum(_sq_abs(x), axis=axes))
    elif ord in (2, -2, "nuc"):
        s = _svdvals(fnp.moveaxis(x, (row, col), (-2, -1)))
        out = {2: fnp.max, -2: fnp.min, "nuc": fnp.sum}[ord](s, axis=-1)
    elif ord in (1, -1):
        sums = fnp.sum(fnp.abs(x), axis=row)
        pick = fnp.max if ord == 1 else fnp.min
        out = pick(sums, axis=col - 1 if col > row else col)
    elif ord in (np.inf, -np.inf):
        sums = fnp.sum(fnp.abs(x), axis=col)
        pick = fnp.max if ord == np.inf else fnp.min
        out = pick(sums, axis=row - 1 if row > col else row)
    else:
        raise ValueError(f"fxgrad.numpy.linalg.norm: invalid norm order {ord!r} for matrices")
    if keepdims:
        shape = list(_shape(x))
        shape[row] = shape[col] = 1
        out = fnp.reshape(out, shape)
    return out


def norm(x: Any, ord: Any = None, axis: Any = None, keepdims: bool = False) -> Any:  # noqa: A002
    """Vector or matrix norm (NumPy's ``norm``, every ``ord``).

    With ``axis=None``: a 1-D ``x`` gets a vector norm, a 2-D one a matrix norm, and
    ``ord=None`` means the 2-norm of ``x.ravel()`` for any shape. An int ``axis`` selects
    vector norms; a pair, matrix norms. Vector ``ord``: ``None``/2, ``inf``, ``-inf``, 0
    (count of nonzeros), 1, any other number ``p`` (``sum(|x|^p)^(1/p)``). Matrix
    ``ord``: ``None``/``'fro'``, ``'nuc'``, ``inf``, ``-inf``, 1, -1, 2, -2.

    Example:
      >>> import fxgrad.numpy as fnp
      >>> fnp.linalg.norm(fnp.array([3.0, 4.0]))
      Array(5., dtype=float64)
      >>> fnp.linalg.norm(fnp.array([[1.0, -2.0], [3.0, 4.0]]), ord=1)
      Array(6., dtype=float64)
    """
    (x,) = _inexact("norm", x)
    nd = len(_shape(x))
    if axis is None:
        if ord is None or (ord in ("f", "fro") and nd == 2) or (ord == 2 and nd == 1):
            out = fnp.sqrt(fnp.sum(_sq_abs(x)))
            return fnp.reshape(out, (1,) * nd) if keepdims else out
        axis = tuple(range(nd))
    elif not isinstance(axis, tuple):
        try:
            axis = (operator.index(axis),)
        except TypeError:
            raise FxgradTypeError(
                f"fxgrad.numpy.linalg.norm: axis must be None, an int or a tuple of ints, got "
                f"{axis!r}"
            ) from None
    axes = tuple(canonicalize_axis(a, nd, "norm") for a in axis)
    if len(axes) == 1:
        return _vector_norm(x, ord, axes[0], keepdims)
    if len(axes) == 2:
        if axes[0] == axes[1]:
            raise ValueError(f"fxgrad.numpy.linalg.norm: duplicate axes given: {axis}")
        return _matrix_norm(x, ord, axes, keepdims)
    # ValueError, as NumPy: the shape is fine, the ord/axis combination is not.
    raise ValueError(
        f"fxgrad.numpy.linalg.norm: improper number of dimensions to norm: axis={axis} for "
        f"an array of shape {_shape(x)}; give one axis (vector norm) or two (matrix norm)"
    )


def vector_norm(x: Any, /, *, axis: Any = None, keepdims: bool = False, ord: Any = 2) -> Any:  # noqa: A002
    """The vector norm over ``axis`` (all axes by default, or a tuple of axes flattened).

    Example:
      >>> import fxgrad.numpy as fnp
      >>> fnp.linalg.vector_norm(fnp.ones((2, 2)), ord=1)
      Array(4., dtype=float64)
    """
    (x,) = _inexact("vector_norm", x)
    shape = _shape(x)
    nd = len(shape)
    if axis is None:
        out = norm(fnp.ravel(x), ord=ord, axis=0)
        axes = tuple(range(nd))
    elif isinstance(axis, tuple):
        axes = tuple(canonicalize_axis(a, nd, "vector_norm") for a in axis)
        rest = [i for i in range(nd) if i not in axes]
        moved = fnp.transpose(x, (*axes, *rest))
        size = int(np.prod([shape[i] for i in axes], dtype=np.int64))
        out = norm(fnp.reshape(moved, (size, *[shape[i] for i in rest])), ord=ord, axis=0)
    else:
        axes = (canonicalize_axis(axis, nd, "vector_norm"),)
        out = norm(x, ord=ord, axis=axes[0])
    if keepdims:
        out = fnp.reshape(out, tuple(1 if i in axes else d for i, d in enumerate(shape)))
    return out


def matrix_norm(x: Any, /, *, keepdims: bool = False, ord: Any = "fro") -> Any:  # noqa: A002
    """The matrix norm of each matrix of ``[..., m, n]`` (``norm(x, ord, (-2, -1))``).

    Example:
      >>> import fxgrad.numpy as fnp
      >>> fnp.linalg.matrix_norm(fnp.eye(3), ord="nuc")
      Array(3., dtype=float64)
    """
    (x,) = _inexact("matrix_norm", x)
    _matrix("matrix_norm", x, name="x")
    return norm(x, ord=ord, axis=(-2, -1), keepdims=keepdims)


def cond(x: Any, p: Any = None) -> Any:
    """The condition number of ``[..., m, n]`` in the norm ``p`` (NumPy's ``cond``).

    ``p`` in ``None``/2/-2 uses singular values (any shape); the other norms
    (``'fro'``, ``'nuc'``, ``inf``, ``-inf``, 1, -1) need square matrices and compute
    ``norm(x) * norm(inv(x))``. A singular matrix has condition number ``inf``.

    Example:
      >>> import fxgrad.numpy as fnp
      >>> fnp.linalg.cond(fnp.array([[1.0, 0.0], [0.0, 4.0]]))
      Array(4., dtype=float64)
    """
    (x,) = _inexact("cond", x)
    shape = _matrix("cond", x, name="x", square=p not in (None, 2, -2))
    if 0 in shape[-2:]:
        raise ShapeError(f"fxgrad.numpy.linalg.cond: not defined on empty matrices {shape}")
    if p is None or p in (2, -2):
        s = _svdvals(x)
        r = s[..., -1] / s[..., 0] if p == -2 else s[..., 0] / s[..., -1]
    else:
        r = norm(x, p, axis=(-2, -1)) * norm(_inverse(x), p, axis=(-2, -1))
    # NaN from a singular matrix means inf, unless x itself had NaNs.
    x_nan = fnp.any(fnp.isnan(x), axis=(-2, -1))
    return fnp.where(fnp.isnan(r) & ~x_nan, np.inf, r)


def matrix_rank(A: Any, tol: Any = None, hermitian: bool = False, *, rtol: Any = None) -> Any:  # noqa: N803
    """The number of singular values above a tolerance, for ``[..., m, n]`` (NumPy's).

    ``tol`` is absolute; otherwise ``rtol * max(s)`` with ``rtol`` defaulting to
    ``max(m, n) * eps``. A 0-D or 1-D ``A`` has rank 1 unless it is all zeros.

    Example:
      >>> import fxgrad.numpy as fnp
      >>> fnp.linalg.matrix_rank(fnp.array([[1.0, 2.0], [2.0, 4.0]]))
      Array(1, dtype=int64)
    """
    if rtol is not None and tol is not None:
        raise ValueError("fxgrad.numpy.linalg.matrix_rank: tol and rtol cannot both be set")
    (a,) = _inexact("matrix_rank", A)
    shape = _shape(a)
    if len(shape) < 2:
        return fnp.any(a != 0).astype(np.int64)
    if 0 in shape[-2:]:
        return fnp.zeros(shape[:-2], np.int64)
    if hermitian:  # singular values of a Hermitian matrix: |eigenvalues|
        s = fnp.abs(lax_dec.eigh(a)[1])
    else:
        s = _svdvals(a)
    if tol is None:
        if rtol is None:
            rtol = max(shape[-2:]) * np.finfo(_dtype(s)).eps
        tol = fnp.max(s, axis=-1, keepdims=True) * fnp.asarray(rtol)[..., None]
    else:
        tol = fnp.asarray(tol)[..., None]
    return fnp.count_nonzero(s > tol, axis=-1).astype(np.int64)
