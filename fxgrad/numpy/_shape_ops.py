"""Shape manipulation and shape/dtype queries.

Layout functions (reshape, transpose, swapaxes, moveaxis, squeeze, expand_dims,
broadcast_to, atleast_*d) are thin wrappers over the ``reshape``, ``transpose``,
``squeeze`` and ``broadcast_in_dim`` primitives, which are linear, so they
differentiate and batch for free. The wrappers validate axes and shapes first, so an
error names the NumPy function and the shapes involved rather than a primitive.
Queries (shape, ndim, size, result_type, can_cast, promote_types, isscalar) read
static information only and work on tracers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from fxgrad import dtypes
from fxgrad.core import Tracer, get_aval
from fxgrad.errors import ShapeError
from fxgrad.lax import shape as lshape
from fxgrad.numpy._util import asarray_value, canonicalize_axes, canonicalize_axis

__all__ = [
    "atleast_1d",
    "atleast_2d",
    "atleast_3d",
    "broadcast_arrays",
    "broadcast_shapes",
    "broadcast_to",
    "can_cast",
    "expand_dims",
    "isscalar",
    "matrix_transpose",
    "moveaxis",
    "ndim",
    "permute_dims",
    "promote_types",
    "ravel",
    "reshape",
    "result_type",
    "shape",
    "size",
    "squeeze",
    "swapaxes",
    "transpose",
]


def _check_order(order: Any, fn_name: str) -> None:
    if order not in ("C", "K", "A", None):
        raise NotImplementedError(
            f"fxgrad.numpy.{fn_name}: order={order!r} is not supported; fxgrad arrays are "
            "row-major, so only order='C' is. For Fortran order, transpose around a C-order "
            "reshape: reshape(a.T, shape[::-1]).T"
        )


def _as_shape(shape: Any, fn_name: str, allow_minus_one: bool = False) -> tuple[int, ...]:
    """``shape`` (an int or a sequence of ints) as a tuple, checked to be non-negative."""
    if isinstance(shape, (int, np.integer)):
        shape = (shape,)
    try:
        dims = tuple(_operator_index(s) for s in shape)
    except TypeError:
        raise TypeError(
            f"fxgrad.numpy.{fn_name}: shape must be an int or a sequence of ints, got "
            f"{shape!r}. Shapes are static: under jit, pass them as static arguments."
        ) from None
    for d in dims:
        if d < 0 and not (allow_minus_one and d == -1):
            raise ValueError(
                f"fxgrad.numpy.{fn_name}: negative dimension {d} in shape {dims}"
                + ("; only -1 (inferred) is allowed" if allow_minus_one else "")
            )
    return dims


def _operator_index(x: Any) -> int:
    """``operator.index`` that also accepts concrete 0-d integer arrays."""
    import operator

    if isinstance(x, Tracer):
        raise TypeError(f"a traced value {x!r} cannot be used as a dimension")
    return operator.index(x)


def reshape(
    a: Any, shape: Any = None, order: str = "C", *, newshape: Any = None, copy: Any = None
) -> Any:
    """``a`` with a new shape and the same elements in row-major (C) order.

    Args:
      a: an array.
      shape: an int or a tuple of ints; one entry may be -1 (inferred from the size).
      order: only ``"C"`` (also ``"K"``/``"A"``, which mean C for fxgrad arrays).
      newshape: NumPy's deprecated name of ``shape``.
      copy: accepted for NumPy compatibility (arrays are immutable).

    Raises:
      ShapeError: the sizes disagree. NotImplementedError: ``order="F"``.

    Example:
      >>> import fxgrad.numpy as fnp
      >>> fnp.reshape(fnp.arange(6), (2, -1)).shape
      (2, 3)
    """
    if shape is None:
        if newshape is None:
            raise TypeError("fxgrad.numpy.reshape: missing the shape argument")
        shape = newshape
    elif newshape is not None:
        raise TypeError("fxgrad.numpy.reshape: pass shape or newshape, not both")
    _check_order(order, "reshape")
    a = asarray_value(a)
    dims = list(_as_shape(shape, "reshape", allow_minus_one=True))
    size = get_aval(a).size
    if dims.count(-1) > 1:
        raise ShapeError(
            f"fxgrad.numpy.reshape: can only specify one unknown dimension (-1), got {tuple(dims)}"
        )
    if -1 in dims:
        known = int(np.prod([s for s in dims if s != -1], dtype=np.int64))
        if known == 0 or size % known:
            raise ShapeError(
                f"fxgrad.numpy.reshape: cannot reshape an array of shape {get_aval(a).shape} "
                f"(size {size}) into shape {tuple(dims)}"
            )
        dims[dims.index(-1)] = size // known
    if int(np.prod(dims, dtype=np.int64)) != size:
        raise ShapeError(
            f"fxgrad.numpy.reshape: cannot reshape an array of shape {get_aval(a).shape} "
            f"(size {size}) into shape {tuple(dims)} (size {int(np.prod(dims))})"
        )
    return lshape.reshape(a, dims)


def ravel(a: Any, order: str = "C") -> Any:
    """The elements of ``a`` as a 1-D array, in row-major order."""
    _check_order(order, "ravel")
    return reshape(a, (-1,))


def transpose(a: Any, axes: Sequence[int] | None = None) -> Any:
    """Permute the axes of ``a`` (reverse them when ``axes`` is None)."""
    a = asarray_value(a)
    nd = get_aval(a).ndim
    if axes is None:
        return lshape.transpose(a, tuple(range(nd))[::-1])
    axes = tuple(canonicalize_axis(ax, nd, "transpose") for ax in axes)
    if sorted(axes) != list(range(nd)):
        raise ValueError(
            f"fxgrad.numpy.transpose: axes {axes} are not a permutation of the axes of an "
            f"array of shape {get_aval(a).shape}"
        )
    return lshape.transpose(a, axes)


def permute_dims(a: Any, /, axes: Sequence[int]) -> Any:
    """Array-API name of ``transpose`` (``axes`` required)."""
    return transpose(a, axes)


def matrix_transpose(x: Any, /) -> Any:
    """Swap the last two axes."""
    x = asarray_value(x)
    if get_aval(x).ndim < 2:
        raise ShapeError(
            f"fxgrad.numpy.matrix_transpose: needs an array of rank >= 2, got shape "
            f"{get_aval(x).shape}"
        )
    return swapaxes(x, -1, -2)


def swapaxes(a: Any, axis1: int, axis2: int) -> Any:
    """Interchange two axes."""
    a = asarray_value(a)
    nd = get_aval(a).ndim
    perm = list(range(nd))
    i = canonicalize_axis(axis1, nd, "swapaxes")
    j = canonicalize_axis(axis2, nd, "swapaxes")
    perm[i], perm[j] = perm[j], perm[i]
    return lshape.transpose(a, perm)


def _axis_list(axis: Any, ndim: int, fn_name: str, what: str) -> list[int]:
    axes = [axis] if isinstance(axis, (int, np.integer)) else list(axis)
    axes = [canonicalize_axis(ax, ndim, fn_name) for ax in axes]
    if len(set(axes)) != len(axes):
        raise ValueError(f"fxgrad.numpy.{fn_name}: repeated axis in {what} {axis!r}")
    return axes


def moveaxis(a: Any, source: Any, destination: Any) -> Any:
    """Move axes ``source`` to positions ``destination``; the others keep their order."""
    a = asarray_value(a)
    nd = get_aval(a).ndim
    src = _axis_list(source, nd, "moveaxis", "source")
    dst = _axis_list(destination, nd, "moveaxis", "destination")
    if len(src) != len(dst):
        raise ValueError(
            f"fxgrad.numpy.moveaxis: source {source!r} and destination {destination!r} must "
            "have the same number of elements"
        )
    perm = [i for i in range(nd) if i not in src]
    for d, s in sorted(zip(dst, src, strict=True)):
        perm.insert(d, s)
    return lshape.transpose(a, perm)


def squeeze(a: Any, axis: Any = None) -> Any:
    """Remove axes of size 1 (all of them, or those in ``axis``, which must have size 1)."""
    a = asarray_value(a)
    shp = get_aval(a).shape
    if axis is None:
        axes = tuple(i for i, s in enumerate(shp) if s == 1)
    else:
        axes = canonicalize_axes(axis, len(shp), "squeeze")
        for ax in axes:
            if shp[ax] != 1:
                raise ValueError(
                    f"fxgrad.numpy.squeeze: cannot select an axis to squeeze out which has "
                    f"size not equal to one: axis {ax} of shape {shp} has size {shp[ax]}"
                )
    return lshape.squeeze(a, axes)


def expand_dims(a: Any, axis: Any) -> Any:
    """Insert axes of size 1 at positions ``axis`` (an int or a tuple) of the result."""
    a = asarray_value(a)
    axes = [axis] if isinstance(axis, (int, np.integer)) else list(axis)
    out_ndim = get_aval(a).ndim + len(axes)
    canon = [canonicalize_axis(ax, out_ndim, "expand_dims") for ax in axes]
    if len(set(canon)) != len(canon):
        raise ValueError(f"fxgrad.numpy.expand_dims: repeated axis in {axis!r}")
    return lshape.expand_dims(a, canon)


def broadcast_shapes(*shapes: Any) -> tuple[int, ...]:
    """The shape that arrays of ``shapes`` broadcast to (NumPy rules)."""
    norm = [_as_shape(s, "broadcast_shapes") for s in shapes]
    try:
        return tuple(int(d) for d in np.broadcast_shapes(*norm))
    except ValueError:
        raise ShapeError(
            "fxgrad.numpy.broadcast_shapes: shapes "
            + " and ".join(str(s) for s in norm)
            + " do not broadcast (sizes must match or be 1, aligned from the right)"
        ) from None


def broadcast_to(array: Any, shape: Any) -> Any:
    """``array`` broadcast to ``shape`` (no copy conceptually; arrays are immutable)."""
    array = asarray_value(array)
    shape = _as_shape(shape, "broadcast_to")
    src = get_aval(array).shape
    ok = len(src) <= len(shape) and all(
        s in (1, t) for s, t in zip(src[::-1], shape[::-1], strict=False)
    )
    if not ok:
        raise ShapeError(
            f"fxgrad.numpy.broadcast_to: cannot broadcast an array of shape {src} to shape "
            f"{shape} (sizes must match or be 1, aligned from the right)"
        )
    return lshape.broadcast_to_shape(array, shape)


def broadcast_arrays(*args: Any) -> list[Any]:
    """The arguments broadcast against each other (a list, as in JAX)."""
    arrays = [asarray_value(a) for a in args]
    if not arrays:
        return []
    target = broadcast_shapes(*[get_aval(a).shape for a in arrays])
    return [lshape.broadcast_to_shape(a, target) for a in arrays]


def _at_least(arys: tuple, fn) -> Any:
    outs = [fn(asarray_value(a)) for a in arys]
    return outs[0] if len(outs) == 1 else outs


def atleast_1d(*arys: Any) -> Any:
    """Each input with at least one axis (a single input returns an array, several a list)."""
    return _at_least(arys, lambda a: lshape.reshape(a, (1,)) if get_aval(a).ndim == 0 else a)


def atleast_2d(*arys: Any) -> Any:
    """Each input with at least two axes; new axes go in front."""

    def fn(a):
        s = get_aval(a).shape
        return lshape.reshape(a, (1,) * (2 - len(s)) + s) if len(s) < 2 else a

    return _at_least(arys, fn)


def atleast_3d(*arys: Any) -> Any:
    """Each input with at least three axes: ``(N,) -> (1, N, 1)``, ``(M, N) -> (M, N, 1)``."""

    def fn(a):
        s = get_aval(a).shape
        if len(s) == 0:
            return lshape.reshape(a, (1, 1, 1))
        if len(s) == 1:
            return lshape.reshape(a, (1, s[0], 1))
        if len(s) == 2:
            return lshape.reshape(a, (*s, 1))
        return a

    return _at_least(arys, fn)


def _aval_of(a: Any):
    if isinstance(a, Tracer) or hasattr(a, "aval"):
        return get_aval(a)
    return get_aval(asarray_value(a))


def shape(a: Any) -> tuple[int, ...]:
    """The shape of an array-like (works on tracers)."""
    return tuple(_aval_of(a).shape)


def ndim(a: Any) -> int:
    """The number of axes of an array-like."""
    return _aval_of(a).ndim


def size(a: Any, axis: int | Sequence[int] | None = None) -> int:
    """The number of elements, or the product of the sizes of ``axis``."""
    s = _aval_of(a).shape
    if axis is None:
        return int(np.prod(s, dtype=np.int64))
    axes = canonicalize_axes(axis, len(s), "size")
    return int(np.prod([s[ax] for ax in axes], dtype=np.int64))


def result_type(*args: Any) -> np.dtype:
    """The dtype NumPy's promotion (with weak Python scalars, see ``fxgrad.dtypes``) gives.

    Example:
      >>> import numpy as np
      >>> result_type(np.float32, 2.0), result_type(1, 2.0)
      (dtype('float32'), dtype('float64'))
    """
    return dtypes.result_type(*[_dtype_operand(a) for a in args])


def _dtype_operand(a: Any) -> Any:
    if isinstance(a, (list, tuple)):
        return asarray_value(a)
    return a


def promote_types(a: Any, b: Any) -> np.dtype:
    """NumPy's promotion of two dtypes (``numpy.promote_types``)."""
    return dtypes.promote_types(a, b)


def can_cast(from_: Any, to: Any, casting: str = "safe") -> bool:
    """Whether ``numpy.can_cast`` allows casting ``from_`` (a dtype or array) to ``to``."""
    src = from_.dtype if hasattr(from_, "dtype") and not isinstance(from_, type) else from_
    return bool(np.can_cast(dtypes.canonicalize_dtype(src), dtypes.canonicalize_dtype(to), casting))


def isscalar(element: Any) -> bool:
    """True for Python and NumPy scalars and for 0-d arrays and tracers (as in JAX)."""
    if isinstance(element, Tracer) or hasattr(element, "aval"):
        return get_aval(element).ndim == 0
    if isinstance(element, np.ndarray):
        return element.ndim == 0
    return bool(np.isscalar(element))


def select_stack(values: Sequence[Any], axis: int = 0) -> Any:
    """Stack equal-shaped, equal-dtype values along a new ``axis`` with one ``select_n``.

    Needs no concatenate primitive: each value is broadcast along the new axis and
    ``select_n`` picks value ``i`` at position ``i``.
    """
    from fxgrad.lax import elementwise as ew

    aval = get_aval(values[0])
    n = len(values)
    ax = canonicalize_axis(axis, aval.ndim + 1, "stack")
    out_shape = (*aval.shape[:ax], n, *aval.shape[ax:])
    dims = tuple(d for d in range(len(out_shape)) if d != ax)
    cases = [lshape.broadcast_in_dim(v, out_shape, dims) for v in values]
    if n == 1:
        return cases[0]
    which = lshape.broadcast_in_dim(np.arange(n, dtype=np.int32), out_shape, (ax,))
    return ew.select_n(which, *cases)
