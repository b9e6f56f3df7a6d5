"""Reductions over axes: reduce_sum, reduce_max, reduce_min (more families to come).

``reduce_sum`` is linear; its transpose broadcasts the cotangent back over the reduced
axes. ``reduce_max``/``reduce_min`` differentiate by splitting the tangent evenly among
the positions that attain the extremum (JAX's convention). Batch rules shift the
reduced axes past the batch axis.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from fxgrad.core import ShapedArray, get_aval
from fxgrad.errors import ShapeError
from fxgrad.interpreters import batching
from fxgrad.interpreters.jvp import Zero
from fxgrad.lax import elementwise as ew
from fxgrad.lax._define import define_primitive
from fxgrad.lax.shape import broadcast_in_dim


def _reduce_abstract_eval(name):
    def abstract_eval(operand, *, axes):
        for a in axes:
            if a < 0 or a >= operand.ndim:
                raise ShapeError(
                    f"lax.{name}: axis {a} is out of bounds for an array of rank {operand.ndim}"
                )
        shape = tuple(s for i, s in enumerate(operand.shape) if i not in axes)
        return ShapedArray(shape, operand.dtype, operand.weak_type)

    return abstract_eval


def _batch_axes(axes, bdim):
    """The reduced axes of the batched operand whose batch axis is ``bdim``."""
    return tuple(a + (a >= bdim) for a in axes)


def _out_bdim(axes, bdim):
    return bdim - sum(1 for a in axes if a < bdim)


def _reducer_batch(prim):
    def rule(axis_size, vals, dims, *, axes):
        (x,), (d,) = vals, dims
        new_axes = tuple(sorted(_batch_axes(axes, d)))
        return prim.bind(x, axes=new_axes), _out_bdim(new_axes, d)

    return rule


def _expand_reduced(x, in_shape, axes):
    """Broadcast a reduced result back to ``in_shape`` along ``axes``."""
    kept = tuple(i for i in range(len(in_shape)) if i not in axes)
    return broadcast_in_dim(x, in_shape, kept)


# --- reduce_sum ----------------------------------------------------------------------


def _reduce_sum_impl(operand, *, axes):
    operand = np.asarray(operand)
    return np.sum(operand, axis=axes, dtype=operand.dtype)


def _reduce_sum_jvp(primals, tangents, *, axes):
    (x,), (t,) = primals, tangents
    out = reduce_sum_p.bind(x, axes=axes)
    if type(t) is Zero:
        return out, Zero(get_aval(out))
    return out, reduce_sum_p.bind(t, axes=axes)


def _reduce_sum_transpose(ct, operand, *, axes):
    if type(ct) is Zero:
        return [Zero(operand.aval)]
    return [_expand_reduced(ct, operand.aval.shape, axes)]


reduce_sum_p = define_primitive(
    "reduce_sum",
    impl=_reduce_sum_impl,
    abstract_eval=_reduce_abstract_eval("reduce_sum"),
    jvp=_reduce_sum_jvp,
    transpose=_reduce_sum_transpose,
    batch=None,
    kernel="reduction",
    kernel_op="add",
)
batching.batch_rules[reduce_sum_p] = _reducer_batch(reduce_sum_p)


def _normalize_axes(operand: Any, axes: Sequence[int]) -> tuple[int, ...]:
    ndim = get_aval(operand).ndim
    return tuple(sorted({int(a) % ndim if ndim else int(a) for a in axes}))


def reduce_sum(operand: Any, axes: Sequence[int]) -> Any:
    """Sum of ``operand`` over ``axes``."""
    axes = _normalize_axes(operand, axes)
    if not axes:
        return operand
    return reduce_sum_p.bind(operand, axes=axes)


# --- reduce_max / reduce_min ---------------------------------------------------------------


def _extremum_jvp(prim):
    def rule(primals, tangents, *, axes):
        (x,), (t,) = primals, tangents
        out = prim.bind(x, axes=axes)
        if type(t) is Zero:
            return out, Zero(get_aval(out).update(dtype=t.aval.dtype))
        shape = get_aval(x).shape
        location = ew.eq(x, _expand_reduced(out, shape, axes))
        location = ew.convert_element_type(location, get_aval(t).dtype)
        counts = reduce_sum_p.bind(location, axes=axes)
        t_out = ew.div(reduce_sum_p.bind(ew.mul(t, location), axes=axes), counts)
        return out, t_out

    return rule


def _reduce_max_impl(operand, *, axes):
    return np.max(operand, axis=axes)


def _reduce_min_impl(operand, *, axes):
    return np.min(operand, axis=axes)


reduce_max_p = define_primitive(
    "reduce_max",
    impl=_reduce_max_impl,
    abstract_eval=_reduce_abstract_eval("reduce_max"),
    jvp=None,
    batch=None,
    kernel="reduction",
    kernel_op="max",
)
reduce_min_p = define_primitive(
    "reduce_min",
    impl=_reduce_min_impl,
    abstract_eval=_reduce_abstract_eval("reduce_min"),
    jvp=None,
    batch=None,
    kernel="reduction",
    kernel_op="min",
)
for _prim in (reduce_max_p, reduce_min_p):
    from fxgrad.interpreters.jvp import jvp_rules

    jvp_rules[_prim] = _extremum_jvp(_prim)
    batching.batch_rules[_prim] = _reducer_batch(_prim)


def reduce_max(operand: Any, axes: Sequence[int]) -> Any:
    """Maximum of ``operand`` over ``axes``."""
    axes = _normalize_axes(operand, axes)
    if not axes:
        return operand
    return reduce_max_p.bind(operand, axes=axes)


def reduce_min(operand: Any, axes: Sequence[int]) -> Any:
    """Minimum of ``operand`` over ``axes``."""
    axes = _normalize_axes(operand, axes)
    if not axes:
        return operand
    return reduce_min_p.bind(operand, axes=axes)
