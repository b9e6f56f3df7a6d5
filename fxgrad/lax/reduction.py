"""Reductions over axes and cumulative reductions along one axis.

Reductions: ``reduce_sum`` (linear; its transpose broadcasts the cotangent back over
the reduced axes), ``reduce_max``/``reduce_min`` (the tangent is split evenly among the
positions attaining the extremum, JAX's convention), ``reduce_prod``, the bitwise
``reduce_and``/``reduce_or``/``reduce_xor`` and ``argmax``/``argmin`` (NumPy's NaN rule:
the first NaN wins). Cumulative: ``cumsum`` (linear; transposes to a reversed cumsum),
``cumprod``, ``cummax``, ``cummin`` and ``cumlogsumexp``.

Derivatives of products stay exact with zeros in the input: with ``x_safe`` the input
with zeros replaced by one and ``z`` the number of zeros in the product, the derivative
is ``prod(x_safe) * sum(t / x_safe)`` over the nonzero entries when ``z == 0``,
``prod(x_safe) * t[zero position]`` when ``z == 1``, and zero otherwise (the
"product of the others" without dividing by zero). ``cummax``/``cummin`` pass on the
tangent of the position that set the running extremum, found with a running max of
indices and gathered with ``lax.sorting.gather_along_axis``. Batch rules shift the
reduced axes past the batch axis.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from fxgrad.core import ShapedArray, get_aval, tangent_aval
from fxgrad.errors import FxgradTypeError, ShapeError
from fxgrad.interpreters import batching
from fxgrad.interpreters.jvp import Zero, jvp_rules
from fxgrad.interpreters.transpose import transpose_rules
from fxgrad.lax import elementwise as ew
from fxgrad.lax._define import define_primitive
from fxgrad.lax._elementwise_impls import quiet
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
    def rule(axis_size, vals, dims, *, axes, **params):
        (x,), (d,) = vals, dims
        new_axes = tuple(sorted(_batch_axes(axes, d)))
        return prim.bind(x, axes=new_axes, **params), _out_bdim(new_axes, d)

    return rule


def _expand_reduced(x, in_shape, axes):
    """Broadcast a reduced result back to ``in_shape`` along ``axes``."""
    kept = tuple(i for i in range(len(in_shape)) if i not in axes)
    return broadcast_in_dim(x, in_shape, kept)


# --- reduce_sum ----------------------------------------------------------------------


@quiet  # inf - inf is nan, silently (as JAX)
def _reduce_sum_impl(operand, *, axes):
    operand = np.asarray(operand)
    # np.add.reduce is np.sum without its Python-level dispatch (~1.5us less)
    return np.add.reduce(operand, axis=axes, dtype=operand.dtype)


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


# --- shared helpers ------------------------------------------------------------------------


def _check_dtype(name: str, aval: ShapedArray, kinds: str, text: str) -> None:
    dtype = np.dtype(aval.dtype)
    if dtype.kind not in kinds:
        raise FxgradTypeError(f"lax.{name} does not accept dtype {dtype.name}; it requires {text}.")


def _typed_reduce_abstract_eval(name, kinds, text):
    untyped = _reduce_abstract_eval(name)

    def abstract_eval(operand, *, axes):
        _check_dtype(name, operand, kinds, text)
        return untyped(operand, axes=axes)

    return abstract_eval


def _zero_jvp(prim):
    """The rule of a primitive with integer or bool outputs: a symbolic zero tangent."""

    def rule(primals, tangents, **params):
        out = prim.bind(*primals, **params)
        if prim.multiple_results:
            return out, [Zero(tangent_aval(get_aval(o))) for o in out]
        return out, Zero(tangent_aval(get_aval(out)))

    return rule


def _bind_checked(prim, operand, **params):
    """Bind ``prim`` after checking shapes and dtypes (eager evaluation skips abstract_eval)."""
    prim.abstract_eval(get_aval(operand), **params)
    return prim.bind(operand, **params)


def _full_like(x: Any, value: Any, dtype: Any = None) -> Any:
    aval = get_aval(x)
    if dtype is not None:
        aval = aval.update(dtype=np.dtype(dtype), weak_type=False)
    return ew.full_like_aval(aval, value)


def _product_tangent(x, t, prod_fn, sum_fn):
    """The tangent of ``prod_fn(x)`` in direction ``t``, exact with zeros in ``x``.

    ``prod_fn`` multiplies entries of ``x`` over some positions (a reduction or a running
    product) and ``sum_fn`` adds over the same positions.
    """
    zero, one = _full_like(x, 0), _full_like(x, 1)
    is_zero = ew.eq(x, zero)
    x_safe = ew.select(is_zero, one, x)
    prod_safe = prod_fn(x_safe)
    n_zeros = sum_fn(ew.convert_element_type(is_zero, np.int32))
    n_zeros = ew.min(n_zeros, 2)
    weights = ew.select(is_zero, zero, ew.div(one, x_safe))
    no_zero = sum_fn(ew.mul(t, weights))
    one_zero = sum_fn(ew.select(is_zero, t, _full_like(t, 0)))
    picked = ew.select_n(n_zeros, no_zero, one_zero, _full_like(no_zero, 0))
    return ew.mul(prod_safe, picked)


# --- reduce_prod ---------------------------------------------------------------------------


def _reduce_prod_impl(operand, *, axes):
    operand = np.asarray(operand)
    with np.errstate(all="ignore"):  # overflow to inf, silently (as JAX)
        return np.prod(operand, axis=axes, dtype=operand.dtype)


def _reduce_prod_jvp(primals, tangents, *, axes):
    (x,), (t,) = primals, tangents
    out = reduce_prod_p.bind(x, axes=axes)
    if type(t) is Zero:
        return out, Zero(tangent_aval(get_aval(out)))
    t_out = _product_tangent(
        x,
        t,
        lambda v: reduce_prod_p.bind(v, axes=axes),
        lambda v: reduce_sum_p.bind(v, axes=axes),
    )
    return out, t_out


reduce_prod_p = define_primitive(
    "reduce_prod",
    impl=_reduce_prod_impl,
    abstract_eval=_typed_reduce_abstract_eval("reduce_prod", "iufc", "a numeric dtype"),
    jvp=_reduce_prod_jvp,
    batch=None,
    kernel="reduction",
    kernel_op="mul",
)
batching.batch_rules[reduce_prod_p] = _reducer_batch(reduce_prod_p)


def reduce_prod(operand: Any, axes: Sequence[int]) -> Any:
    """Product of ``operand`` over ``axes`` (the derivative is exact with zeros).

    Example:
      >>> import fxgrad, fxgrad.lax as lax, fxgrad.numpy as fnp
      >>> fxgrad.grad(lambda x: lax.reduce_prod(x, (0,)))(fnp.array([2.0, 0.0, 3.0]))
      Array([0., 6., 0.], dtype=float64)
    """
    axes = _normalize_axes(operand, axes)
    if not axes:
        return operand
    return _bind_checked(reduce_prod_p, operand, axes=axes)


# --- reduce_and / reduce_or / reduce_xor ----------------------------------------------------


def _bitwise_reduce_impl(ufunc):
    def impl(operand, *, axes):
        operand = np.asarray(operand)
        return np.asarray(ufunc.reduce(operand, axis=axes), dtype=operand.dtype)

    return impl


def _define_bitwise_reducer(name, ufunc, kernel_op):
    prim = define_primitive(
        name,
        impl=_bitwise_reduce_impl(ufunc),
        abstract_eval=_typed_reduce_abstract_eval(name, "biu", "a bool or integer dtype"),
        jvp=None,
        batch=None,
        kernel="reduction",
        kernel_op=kernel_op,
    )
    jvp_rules[prim] = _zero_jvp(prim)
    batching.batch_rules[prim] = _reducer_batch(prim)
    return prim


reduce_and_p = _define_bitwise_reducer("reduce_and", np.bitwise_and, "and")
reduce_or_p = _define_bitwise_reducer("reduce_or", np.bitwise_or, "or")
reduce_xor_p = _define_bitwise_reducer("reduce_xor", np.bitwise_xor, "xor")


def reduce_and(operand: Any, axes: Sequence[int]) -> Any:
    """Bitwise AND (logical AND for bool) of ``operand`` over ``axes``."""
    axes = _normalize_axes(operand, axes)
    _check_dtype("reduce_and", get_aval(operand), "biu", "a bool or integer dtype")
    return reduce_and_p.bind(operand, axes=axes) if axes else operand


def reduce_or(operand: Any, axes: Sequence[int]) -> Any:
    """Bitwise OR (logical OR for bool) of ``operand`` over ``axes``."""
    axes = _normalize_axes(operand, axes)
    _check_dtype("reduce_or", get_aval(operand), "biu", "a bool or integer dtype")
    return reduce_or_p.bind(operand, axes=axes) if axes else operand


def reduce_xor(operand: Any, axes: Sequence[int]) -> Any:
    """Bitwise XOR (logical XOR for bool) of ``operand`` over ``axes``."""
    axes = _normalize_axes(operand, axes)
    _check_dtype("reduce_xor", get_aval(operand), "biu", "a bool or integer dtype")
    return reduce_xor_p.bind(operand, axes=axes) if axes else operand


# --- argmax / argmin -----------------------------------------------------------------------


def _arg_impl(np_fn):
    def impl(operand, *, axes, index_dtype):
        (axis,) = axes
        return np.asarray(np_fn(np.asarray(operand), axis=axis)).astype(index_dtype)

    return impl


def _arg_abstract_eval(name):
    def abstract_eval(operand, *, axes, index_dtype):
        if len(axes) != 1 or not 0 <= axes[0] < operand.ndim:
            raise ShapeError(
                f"lax.{name}: axis {axes} is invalid for an operand of rank {operand.ndim}; "
                "give one axis in range"
            )
        if operand.shape[axes[0]] == 0:
            raise ValueError(
                f"lax.{name}: attempt to get {name} of an empty sequence (axis {axes[0]} of "
                f"shape {operand.shape} has size 0)"
            )
        if np.dtype(index_dtype).kind not in "iu":
            raise FxgradTypeError(
                f"lax.{name}: index_dtype must be an integer dtype, got {np.dtype(index_dtype)}"
            )
        shape = tuple(s for i, s in enumerate(operand.shape) if i != axes[0])
        return ShapedArray(shape, np.dtype(index_dtype))

    return abstract_eval


def _define_arg_reducer(name, np_fn):
    prim = define_primitive(
        name,
        impl=_arg_impl(np_fn),
        abstract_eval=_arg_abstract_eval(name),
        jvp=None,
        batch=None,
        kernel="library",
    )
    jvp_rules[prim] = _zero_jvp(prim)
    batching.batch_rules[prim] = _reducer_batch(prim)
    return prim


argmax_p = _define_arg_reducer("argmax", np.argmax)
argmin_p = _define_arg_reducer("argmin", np.argmin)


def _arg_reduce(prim, operand, axis, index_dtype):
    ndim = get_aval(operand).ndim
    axis = int(axis)
    if not -ndim <= axis < ndim:
        raise ShapeError(
            f"lax.{prim.name}: axis {axis} is out of bounds for an operand of rank {ndim}"
        )
    return _bind_checked(prim, operand, axes=(axis % ndim,), index_dtype=np.dtype(index_dtype))


def argmax(operand: Any, axis: int, index_dtype: Any) -> Any:
    """Index of the largest entry along ``axis`` (the first one on ties; the first NaN wins).

    Example:
      >>> import numpy as np, fxgrad.lax as lax, fxgrad.numpy as fnp
      >>> lax.argmax(fnp.array([1.0, 3.0, 3.0]), 0, np.int32)
      Array(1, dtype=int32)
    """
    return _arg_reduce(argmax_p, operand, axis, index_dtype)


def argmin(operand: Any, axis: int, index_dtype: Any) -> Any:
    """Index of the smallest entry along ``axis`` (the first one on ties; the first NaN wins)."""
    return _arg_reduce(argmin_p, operand, axis, index_dtype)


# --- generic reduce ------------------------------------------------------------------------

_REDUCERS = {
    ew.add: (reduce_sum, 0),
    ew.mul: (reduce_prod, 1),
    ew.max: (reduce_max, None),
    ew.min: (reduce_min, None),
    ew.bitwise_and: (reduce_and, None),
    ew.bitwise_or: (reduce_or, 0),
    ew.bitwise_xor: (reduce_xor, 0),
}


def reduce(operands: Any, init_values: Any, computation: Any, dimensions: Sequence[int]) -> Any:
    """Reduce ``operands`` over ``dimensions`` with a monoid ``computation``.

    Only single operands with ``computation`` one of ``lax.add``, ``lax.mul``, ``lax.max``,
    ``lax.min``, ``lax.bitwise_and``, ``lax.bitwise_or`` or ``lax.bitwise_xor`` are
    supported; they dispatch to the matching ``reduce_*`` primitive and combine the
    result with ``init_values`` once.
    """
    single = not isinstance(operands, (list, tuple))
    ops = [operands] if single else list(operands)
    inits = [init_values] if single else list(init_values)
    found = _REDUCERS.get(computation)
    if len(ops) != 1 or len(inits) != 1 or found is None:
        name = getattr(computation, "__name__", repr(computation))
        raise NotImplementedError(
            f"lax.reduce supports one operand with computation lax.add, lax.mul, lax.max, "
            f"lax.min, lax.bitwise_and, lax.bitwise_or or lax.bitwise_xor; got "
            f"{len(ops)} operand(s) and computation {name}. Write the reduction with those "
            "functions (or a lax.scan) instead."
        )
    reducer, identity = found
    result = reducer(ops[0], dimensions)
    init = inits[0]
    is_identity = (
        identity is not None
        and isinstance(init, (int, float, bool, np.ndarray, np.generic))
        and np.all(np.asarray(init) == identity)
    )
    if not is_identity:
        result = computation(result, init)
    return result if single else [result]


# --- cumulative reductions -----------------------------------------------------------------


def _cumulative_impl(accumulate):
    def impl(operand, *, axis, reverse):
        x = np.asarray(operand)
        if reverse:
            x = np.flip(x, axis)
        with np.errstate(all="ignore"):
            out = np.asarray(accumulate(x, axis), dtype=x.dtype)
        return np.flip(out, axis) if reverse else out

    return impl


def _cumulative_abstract_eval(name, kinds, text):
    def abstract_eval(operand, *, axis, reverse):
        _check_dtype(name, operand, kinds, text)
        if not 0 <= axis < operand.ndim:
            raise ShapeError(
                f"lax.{name}: axis {axis} is out of bounds for an operand of rank {operand.ndim}"
            )
        return ShapedArray(tuple(operand.shape), operand.dtype, operand.weak_type)

    return abstract_eval


def _cumulative_batch(prim):
    def rule(axis_size, vals, dims, *, axis, reverse):
        (x,), (d,) = vals, dims
        return prim.bind(x, axis=axis + (d <= axis), reverse=reverse), d

    return rule


def _define_cumulative(name, accumulate, kinds, text):
    prim = define_primitive(
        name,
        impl=_cumulative_impl(accumulate),
        abstract_eval=_cumulative_abstract_eval(name, kinds, text),
        jvp=None,
        batch=None,
        kernel="library",
    )
    batching.batch_rules[prim] = _cumulative_batch(prim)
    return prim


cumsum_p = _define_cumulative(
    "cumsum", lambda x, a: np.cumsum(x, axis=a, dtype=x.dtype), "iufc", "a numeric dtype"
)
cumprod_p = _define_cumulative(
    "cumprod", lambda x, a: np.cumprod(x, axis=a, dtype=x.dtype), "iufc", "a numeric dtype"
)
cummax_p = _define_cumulative(
    "cummax", lambda x, a: np.maximum.accumulate(x, axis=a), "biuf", "a real or bool dtype"
)
cummin_p = _define_cumulative(
    "cummin", lambda x, a: np.minimum.accumulate(x, axis=a), "biuf", "a real or bool dtype"
)
cumlogsumexp_p = _define_cumulative(
    "cumlogsumexp",
    lambda x, a: np.logaddexp.accumulate(x, axis=a),
    "f",
    "a real floating dtype",
)


def _cumsum_jvp(primals, tangents, *, axis, reverse):
    (x,), (t,) = primals, tangents
    out = cumsum_p.bind(x, axis=axis, reverse=reverse)
    if type(t) is Zero:
        return out, t
    return out, cumsum_p.bind(t, axis=axis, reverse=reverse)


def _cumsum_transpose(ct, operand, *, axis, reverse):
    if type(ct) is Zero:
        return [Zero(operand.aval)]
    return [cumsum_p.bind(ct, axis=axis, reverse=not reverse)]


def _cumprod_jvp(primals, tangents, *, axis, reverse):
    (x,), (t,) = primals, tangents
    out = cumprod_p.bind(x, axis=axis, reverse=reverse)
    if type(t) is Zero:
        return out, t
    t_out = _product_tangent(
        x,
        t,
        lambda v: cumprod_p.bind(v, axis=axis, reverse=reverse),
        lambda v: cumsum_p.bind(v, axis=axis, reverse=reverse),
    )
    return out, t_out


def _cumulative_extremum_jvp(prim):
    def rule(primals, tangents, *, axis, reverse):
        from fxgrad.lax.sorting import gather_along_axis_p, index_dtype_for, iota_along

        (x,), (t,) = primals, tangents
        out = prim.bind(x, axis=axis, reverse=reverse)
        if type(t) is Zero:
            return out, t
        # Positions that set the running extremum (a NaN sets it from then on); each
        # output takes the tangent of the latest such position before it.
        sets = ew.eq(x, out)
        if np.dtype(get_aval(x).dtype).kind == "f":
            sets = ew.bitwise_or(sets, ew.ne(x, x))
        shape = get_aval(x).shape
        iota = iota_along(shape, axis, index_dtype_for(shape[axis]))
        if reverse:
            marked = ew.select(sets, iota, _full_like(iota, shape[axis] - 1))
            source = cummin_p.bind(marked, axis=axis, reverse=True)
        else:
            marked = ew.select(sets, iota, _full_like(iota, 0))
            source = cummax_p.bind(marked, axis=axis, reverse=False)
        return out, gather_along_axis_p.bind(t, source, axis=axis)

    return rule


def _shifted(x, shape, axis, offset):
    """``x[i - offset]`` along ``axis`` (clamped at the ends) and where that index is valid."""
    from fxgrad.lax.sorting import gather_along_axis_p, index_dtype_for

    n = shape[axis]
    src = np.arange(n) - offset
    valid = broadcast_in_dim((src >= 0) & (src < n), shape, (axis,))
    idx = np.clip(src, 0, n - 1).astype(index_dtype_for(n))
    idx = broadcast_in_dim(idx, shape, (axis,))
    return gather_along_axis_p.bind(x, idx, axis=axis), valid


def _cumlogsumexp_jvp(primals, tangents, *, axis, reverse):
    """A doubling scan of ``h_i = exp(out_{i-1} - out_i) h_{i-1} + exp(x_i - out_i) t_i``.

    Every coefficient is at most one (``out`` is monotone), so the tangent stays finite
    however widely the inputs range, unlike ``exp(-out) * cumsum(exp(x) * t)``.
    """
    (x,), (t,) = primals, tangents
    out = cumlogsumexp_p.bind(x, axis=axis, reverse=reverse)
    if type(t) is Zero:
        return out, t
    shape = get_aval(x).shape
    zero = _full_like(x, 0)

    def weight(diff):
        # exp(diff), with 0 where diff is NaN (-inf - -inf: nothing has accumulated yet)
        return ew.select(ew.eq(diff, diff), ew.exp(diff), zero)

    acc = ew.mul(weight(ew.sub(x, out)), t)
    sign = -1 if reverse else 1
    offset = 1
    while offset < shape[axis]:
        prev_acc, valid = _shifted(acc, shape, axis, sign * offset)
        prev_out, _ = _shifted(out, shape, axis, sign * offset)
        coef = ew.select(valid, weight(ew.sub(prev_out, out)), zero)
        acc = ew.add(acc, ew.mul(coef, prev_acc))
        offset *= 2
    return out, acc


jvp_rules[cumsum_p] = _cumsum_jvp
transpose_rules[cumsum_p] = _cumsum_transpose
jvp_rules[cumprod_p] = _cumprod_jvp
jvp_rules[cummax_p] = _cumulative_extremum_jvp(cummax_p)
jvp_rules[cummin_p] = _cumulative_extremum_jvp(cummin_p)
jvp_rules[cumlogsumexp_p] = _cumlogsumexp_jvp


def _cumulative(prim, operand, axis, reverse):
    ndim = get_aval(operand).ndim
    axis = int(axis)
    if not -ndim <= axis < ndim:
        raise ShapeError(
            f"lax.{prim.name}: axis {axis} is out of bounds for an operand of rank {ndim}"
        )
    return _bind_checked(prim, operand, axis=axis % ndim, reverse=bool(reverse))


def cumsum(operand: Any, axis: int = 0, reverse: bool = False) -> Any:
    """Running sum along ``axis`` (from the end when ``reverse``).

    Example:
      >>> import fxgrad.lax as lax, fxgrad.numpy as fnp
      >>> lax.cumsum(fnp.array([1.0, 2.0, 3.0]), reverse=True)
      Array([6., 5., 3.], dtype=float64)
    """
    return _cumulative(cumsum_p, operand, axis, reverse)


def cumprod(operand: Any, axis: int = 0, reverse: bool = False) -> Any:
    """Running product along ``axis`` (from the end when ``reverse``)."""
    return _cumulative(cumprod_p, operand, axis, reverse)


def cummax(operand: Any, axis: int = 0, reverse: bool = False) -> Any:
    """Running maximum along ``axis``; NaN propagates."""
    return _cumulative(cummax_p, operand, axis, reverse)


def cummin(operand: Any, axis: int = 0, reverse: bool = False) -> Any:
    """Running minimum along ``axis``; NaN propagates."""
    return _cumulative(cummin_p, operand, axis, reverse)


def cumlogsumexp(operand: Any, axis: int = 0, reverse: bool = False) -> Any:
    """Running ``log(sum(exp(x)))`` along ``axis``, computed without overflow.

    The derivative (a running softmax) stays finite however widely ``x`` ranges.

    Example:
      >>> import fxgrad.lax as lax, fxgrad.numpy as fnp
      >>> lax.cumlogsumexp(fnp.array([0.0, 0.0]))
      Array([0.        , 0.69314718], dtype=float64)
    """
    return _cumulative(cumlogsumexp_p, operand, axis, reverse)
