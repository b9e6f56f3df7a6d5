"""``associative_scan``: an inclusive prefix scan in O(log n) parallel steps.

For an associative ``fn``, ``associative_scan(fn, xs)[i] = fn(...fn(fn(x0, x1), x2)..., xi)``.
It is computed with the odd/even recursion of Blelloch ("Prefix sums and their
applications", 1990): combine neighbouring pairs, scan the half-length result
recursively, then fill in the even positions. Everything is built from slicing,
concatenation and ``fn`` itself, so it is differentiable, batchable and jittable
without a primitive of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fxgrad.core import get_aval
from fxgrad.errors import ControlFlowError
from fxgrad.lax.shape import reshape
from fxgrad.lax.slicing import concatenate, slice_in_dim
from fxgrad.tree_util import tree_flatten, tree_unflatten

__all__ = ["associative_scan"]


def _interleave(a: Any, b: Any, axis: int) -> Any:
    """Elements of ``a`` at even and of ``b`` at odd positions along ``axis``."""
    na, nb = get_aval(a).shape[axis], get_aval(b).shape[axis]
    if na == nb + 1:
        pad = slice_in_dim(a, na - 1, na, axis=axis)
        a = slice_in_dim(a, 0, na - 1, axis=axis)
    else:
        pad = None
    from fxgrad.lax.shape import expand_dims

    pair = concatenate([expand_dims(a, (axis + 1,)), expand_dims(b, (axis + 1,))], axis + 1)
    shape = list(get_aval(a).shape)
    shape[axis] = 2 * shape[axis]
    out = reshape(pair, shape)
    if pad is not None:
        out = concatenate([out, pad], axis)
    return out


def associative_scan(fn: Callable, elems: Any, reverse: bool = False, axis: int = 0) -> Any:
    """Inclusive scan of ``elems`` (a pytree) with the associative binary ``fn``.

    Args:
      fn: associative ``(a, b) -> c`` on pytrees shaped like ``elems`` (vectorised over
        the scanned axis).
      elems: a pytree of arrays with the same length along ``axis``.
      reverse: scan from the end.
      axis: the scanned axis.

    Example:
      >>> import fxgrad.numpy as fnp
      >>> from fxgrad import lax
      >>> lax.associative_scan(lambda a, b: a + b, fnp.arange(5.0))
      Array([ 0.,  1.,  3.,  6., 10.], dtype=float64)
    """
    from fxgrad.array import to_value as asarray_value
    from fxgrad.lax.slicing import rev

    leaves, tree = tree_flatten(elems)
    leaves = [asarray_value(x) for x in leaves]
    if not leaves:
        return elems
    ndim = get_aval(leaves[0]).ndim
    axis = axis % ndim if ndim else 0
    lengths = {get_aval(x).shape[axis] for x in leaves}
    if len(lengths) != 1:
        raise ControlFlowError(
            f"lax.associative_scan: every leaf must have the same length along axis {axis}, "
            f"got {sorted(lengths)}"
        )
    if reverse:
        leaves = [rev(x, (axis,)) for x in leaves]

    def combine(a, b):
        out = fn(tree_unflatten(tree, a), tree_unflatten(tree, b))
        return tree_flatten(out)[0]

    def scan(xs):
        n = get_aval(xs[0]).shape[axis]
        if n < 2:
            return xs
        evens = [slice_in_dim(x, 0, n - 1, stride=2, axis=axis) for x in xs]
        odds = [slice_in_dim(x, 1, n, stride=2, axis=axis) for x in xs]
        scanned_odd = scan(combine(evens, odds))
        if n % 2 == 0:
            firsts = [
                slice_in_dim(s, 0, get_aval(s).shape[axis] - 1, axis=axis) for s in scanned_odd
            ]
        else:
            firsts = scanned_odd
        rest = [slice_in_dim(x, 2, n, stride=2, axis=axis) for x in xs]
        scanned_even = combine(firsts, rest) if get_aval(rest[0]).shape[axis] else rest
        scanned_even = [
            concatenate([slice_in_dim(x, 0, 1, axis=axis), e], axis)
            for x, e in zip(xs, scanned_even, strict=True)
        ]
        return [_interleave(e, o, axis) for e, o in zip(scanned_even, scanned_odd, strict=True)]

    out = scan(leaves)
    if reverse:
        out = [rev(x, (axis,)) for x in out]
    return tree_unflatten(tree, out)
