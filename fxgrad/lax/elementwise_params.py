"""Elementwise primitives declared outside the table of ``fxgrad.lax.elementwise``.

These carry static parameters (``integer_pow``'s exponent, the target dtype of
``convert_element_type`` and ``bitcast_convert_type``) or have rules unlike a table
row's: ``select_n`` takes a predicate and any number of cases and is linear in the
cases, ``clamp`` passes the tangent of whichever operand is active, ``stop_gradient``
has a zero derivative. Each is one ``define_primitive`` call with every rule beside it,
written with lax functions so the rules compose to any order.

``fxgrad.lax.elementwise`` re-exports every public name defined here. The table's JVP
rules call ``select_n`` (only when a derivative is taken) while these rules are built
from the table's functions, so this module is imported at the end of that one and
imports from it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fxgrad import dtypes
from fxgrad.core import ShapedArray, get_aval
from fxgrad.errors import FxgradTypeError, ShapeError
from fxgrad.interpreters import batching
from fxgrad.interpreters.jvp import Zero, add_tangents, instantiate_zeros
from fxgrad.interpreters.transpose import is_undefined_primal
from fxgrad.lax import _elementwise_impls as impls
from fxgrad.lax._define import define_primitive
from fxgrad.lax.elementwise import (
    _NUM,
    _accepts,
    _const,
    _is_python_scalar,
    _zeros_like,
    bitwise_and,
    define_broadcasting,
    elementwise_args,
    gt,
    lt,
    mul,
)
from fxgrad.lax.shape import broadcast_in_dim, broadcast_to_shape
from fxgrad.tree_util import tree_map


def _integer_pow_jvp(t, x, y):
    if y == 0:
        return _zeros_like(t)
    factor = _const(x, float(y)) if y - 1 == 0 else mul(_const(x, float(y)), integer_pow(x, y - 1))
    return mul(t, factor)


def _integer_pow_abstract_eval(x: ShapedArray, *, y: int) -> ShapedArray:
    if not _accepts(_NUM, np.dtype(x.dtype)):
        raise FxgradTypeError(f"lax.integer_pow does not accept dtype {x.dtype}")
    if y < 0 and np.dtype(x.dtype).kind in "iu":
        raise FxgradTypeError(
            f"lax.integer_pow of an integer array to a negative power ({y}) is not defined."
        )
    return x


def _integer_pow_jvp_rule(primals, tangents, *, y):
    (x,), (t,) = primals, tangents
    return integer_pow(x, y), _integer_pow_jvp(t, x, y)


integer_pow_p = define_broadcasting(
    "integer_pow",
    impl=impls.quiet(impls.integer_pow_impl),
    abstract_eval=_integer_pow_abstract_eval,
    jvp=_integer_pow_jvp_rule,
)


def integer_pow(x: Any, y: int) -> Any:
    """``x ** y`` for a static Python integer ``y`` (computed by repeated multiplication)."""
    return integer_pow_p.bind(x, y=int(y))


def _convert_abstract_eval(x, *, new_dtype, weak_type=False):
    return ShapedArray(x.shape, np.dtype(new_dtype), weak_type)


def _convert_jvp(primals, tangents, *, new_dtype, weak_type=False):
    (x,), (t,) = primals, tangents
    out = convert_element_type_p.bind(x, new_dtype=new_dtype, weak_type=weak_type)
    old = np.dtype(get_aval(x).dtype)
    new = np.dtype(new_dtype)
    if type(t) is Zero or old.kind not in "fc" or new.kind not in "fc":
        return out, Zero(ShapedArray(get_aval(out).shape, dtypes.tangent_dtype(new)))
    return out, convert_element_type_p.bind(t, new_dtype=new, weak_type=weak_type)


def _convert_transpose(ct, x, *, new_dtype, weak_type=False):
    ct = instantiate_zeros(ct)
    old = np.dtype(x.aval.dtype)
    return [convert_element_type_p.bind(ct, new_dtype=old, weak_type=x.aval.weak_type)]


def _convert_batch(axis_size, vals, dims, **params):
    return convert_element_type_p.bind(vals[0], **params), dims[0]


convert_element_type_p = define_primitive(
    "convert_element_type",
    impl=impls.convert_impl,
    abstract_eval=_convert_abstract_eval,
    jvp=_convert_jvp,
    transpose=_convert_transpose,
    batch=_convert_batch,
    kernel="elementwise",
    kernel_op="convert",
)
convert_element_type_p.weak_type_param = True


def convert_element_type(operand: Any, new_dtype: Any) -> Any:
    """Elementwise cast of ``operand`` to ``new_dtype`` (complex to real keeps the real part)."""
    new_dtype = dtypes.canonicalize_dtype(new_dtype)
    aval = get_aval(operand)
    if np.dtype(aval.dtype) == new_dtype and not aval.weak_type:
        return operand
    return convert_element_type_p.bind(operand, new_dtype=new_dtype, weak_type=False)


def _select_n_abstract_eval(which, *cases):
    if not cases:
        raise FxgradTypeError("lax.select_n requires at least one case")
    shapes = {tuple(c.shape) for c in cases}
    dts = {np.dtype(c.dtype) for c in cases}
    if len(shapes) > 1 or len(dts) > 1:
        shown = ", ".join(c.str_short() for c in cases)
        raise ShapeError(f"lax.select_n cases must have equal shapes and dtypes, got {shown}")
    case = cases[0]
    if which.shape and tuple(which.shape) != tuple(case.shape):
        raise ShapeError(
            f"lax.select_n predicate shape {which.shape} must be scalar or equal to the "
            f"case shape {case.shape}"
        )
    wdt = np.dtype(which.dtype)
    if wdt == np.bool_:
        if len(cases) > 2:
            raise FxgradTypeError("lax.select_n with a bool predicate takes at most 2 cases")
    elif wdt.kind not in "iu":
        raise FxgradTypeError(f"lax.select_n predicate must be bool or int, got {wdt.name}")
    return ShapedArray(case.shape, case.dtype, all(c.weak_type for c in cases))


def _select_n_jvp(primals, tangents):
    which, *cases = primals
    out = select_n_p.bind(which, *primals[1:])
    case_ts = tangents[1:]
    if all(type(t) is Zero for t in case_ts):
        return out, Zero(case_ts[0].aval)
    case_ts = [instantiate_zeros(t) for t in case_ts]
    return out, select_n_p.bind(which, *case_ts)


def _select_n_transpose(ct, which, *cases):
    assert not is_undefined_primal(which)
    if type(ct) is Zero:
        return [None] + [Zero(ct.aval) if is_undefined_primal(c) else None for c in cases]
    zeros = _zeros_like(ct)
    outs = [None]
    for i, c in enumerate(cases):
        if not is_undefined_primal(c):
            outs.append(None)
            continue
        branches = [zeros] * len(cases)
        branches[i] = ct
        outs.append(select_n_p.bind(which, *branches))
    return outs


def _select_n_batch(axis_size, vals, dims):
    which, *cases = vals
    wdim, *cdims = dims
    case_ndim = get_aval(cases[0]).ndim - (cdims[0] is not batching.not_mapped)
    if wdim is batching.not_mapped and not get_aval(which).shape:
        moved = [batching.bdim_at_front(c, d, axis_size) for c, d in zip(cases, cdims, strict=True)]
        return select_n_p.bind(which, *moved), 0
    moved = [batching.bdim_at_front(c, d, axis_size) for c, d in zip(cases, cdims, strict=True)]
    which = batching.bdim_at_front(which, wdim, axis_size)
    if get_aval(which).ndim == 1 and case_ndim > 0:
        which = broadcast_in_dim(which, get_aval(moved[0]).shape, (0,))
    return select_n_p.bind(which, *moved), 0


select_n_p = define_primitive(
    "select_n",
    impl=impls.select_n_impl,
    abstract_eval=_select_n_abstract_eval,
    jvp=_select_n_jvp,
    transpose=_select_n_transpose,
    batch=_select_n_batch,
    kernel="elementwise",
    kernel_op="select",
)


def select_n(which: Any, *cases: Any) -> Any:
    """``cases[which]`` elementwise; a bool ``which`` picks ``cases[1]`` where True."""
    args = elementwise_args(*cases)
    which_aval = get_aval(which)
    if which_aval.shape and which_aval.shape != get_aval(args[0]).shape:
        shape = np.broadcast_shapes(which_aval.shape, get_aval(args[0]).shape)
        which = broadcast_to_shape(which, shape)
        args = [broadcast_to_shape(a, shape) for a in args]
    elif args and get_aval(args[0]).shape == () and which_aval.shape:
        args = [broadcast_to_shape(a, which_aval.shape) for a in args]
    return select_n_p.bind(which, *args)


def select(pred: Any, on_true: Any, on_false: Any) -> Any:
    """``on_true`` where ``pred`` else ``on_false`` (JAX's ``lax.select``)."""
    return select_n(pred, on_false, on_true)


def _clamp_abstract_eval(lo: ShapedArray, x: ShapedArray, hi: ShapedArray) -> ShapedArray:
    for name, bound in (("min", lo), ("max", hi)):
        if tuple(bound.shape) != tuple(x.shape):
            raise ShapeError(
                f"lax.clamp: {name} must be a scalar or have the operand's shape {x.shape}, "
                f"got shape {bound.shape}."
            )
    dts = {np.dtype(a.dtype) for a in (lo, x, hi)}
    if len(dts) > 1:
        shown = ", ".join(np.dtype(a.dtype).name for a in (lo, x, hi))
        raise FxgradTypeError(
            f"lax.clamp requires min, operand and max of one dtype, got {shown}. Convert "
            "with lax.convert_element_type or use fxgrad.numpy.clip, which promotes."
        )
    if np.dtype(x.dtype).kind == "c":
        raise FxgradTypeError("lax.clamp does not accept complex operands (they are unordered).")
    return ShapedArray(x.shape, x.dtype, lo.weak_type and x.weak_type and hi.weak_type)


def _clamp_jvp(primals, tangents):
    """JAX's rule: the operand's tangent passes strictly inside (min, max), min's where it
    is above the operand (and below max), max's where it is below the operand; at a tie
    none passes."""
    lo, x, hi = primals
    t_lo, t_x, t_hi = tangents
    out = clamp_p.bind(lo, x, hi)
    tangent_out: Any = Zero(get_aval(out).update(dtype=dtypes.tangent_dtype(get_aval(out).dtype)))
    if type(t_lo) is not Zero:
        inside = bitwise_and(gt(lo, x), lt(lo, hi))
        tangent_out = add_tangents(tangent_out, select_n(inside, _zeros_like(t_lo), t_lo))
    if type(t_x) is not Zero:
        inside = bitwise_and(gt(x, lo), lt(x, hi))
        tangent_out = add_tangents(tangent_out, select_n(inside, _zeros_like(t_x), t_x))
    if type(t_hi) is not Zero:
        tangent_out = add_tangents(tangent_out, select_n(lt(hi, x), _zeros_like(t_hi), t_hi))
    return out, tangent_out


clamp_p = define_broadcasting(
    "clamp",
    impl=impls.quiet(impls.clamp_impl),
    abstract_eval=_clamp_abstract_eval,
    jvp=_clamp_jvp,
)


def clamp(min: Any, x: Any, max: Any) -> Any:  # noqa: A002 - JAX's argument names
    """``x`` limited to ``[min, max]`` elementwise (JAX's argument order).

    ``min`` and ``max`` are scalars or have ``x``'s shape; Python scalars take ``x``'s
    dtype. The derivative follows JAX: ``x``'s passes strictly between the bounds, a
    bound's where it is active, and nothing at a tie.
    """
    x_aval = get_aval(x)
    args = []
    for bound in (min, max):
        if _is_python_scalar(bound):
            bound = np.asarray(bound, dtype=x_aval.dtype)
        if not get_aval(bound).shape and x_aval.shape:
            bound = broadcast_in_dim(bound, x_aval.shape, ())
        args.append(bound)
    _clamp_abstract_eval(get_aval(args[0]), x_aval, get_aval(args[1]))  # eager: check shapes
    return clamp_p.bind(args[0], x, args[1])


def _bitcast_abstract_eval(x: ShapedArray, *, new_dtype: np.dtype) -> ShapedArray:
    old = np.dtype(x.dtype)
    if old.itemsize != new_dtype.itemsize or np.bool_ in (old.type, new_dtype.type):
        raise FxgradTypeError(
            f"lax.bitcast_convert_type from {old.name} to {new_dtype.name}: fxgrad supports "
            "only non-bool dtypes of equal width (for example float32 <-> int32/uint32)."
        )
    return ShapedArray(x.shape, new_dtype, False)


def _bitcast_jvp(primals, tangents, *, new_dtype):
    out = bitcast_convert_type_p.bind(primals[0], new_dtype=new_dtype)
    return out, Zero(get_aval(out).update(dtype=dtypes.tangent_dtype(new_dtype)))


bitcast_convert_type_p = define_primitive(
    "bitcast_convert_type",
    impl=impls.bitcast_impl,
    abstract_eval=_bitcast_abstract_eval,
    jvp=_bitcast_jvp,
    batch=None,
    kernel="elementwise",
    kernel_op="bitcast",
)
batching.defvectorized(bitcast_convert_type_p)


def bitcast_convert_type(operand: Any, new_dtype: Any) -> Any:
    """Reinterpret the bits of ``operand`` as ``new_dtype`` (of the same width)."""
    new_dtype = dtypes.canonicalize_dtype(new_dtype)
    _bitcast_abstract_eval(get_aval(operand), new_dtype=new_dtype)  # eager: check widths
    return bitcast_convert_type_p.bind(operand, new_dtype=new_dtype)


def _stop_gradient_jvp(primals, tangents):
    (x,) = primals
    out = stop_gradient_p.bind(x)
    aval = get_aval(out)
    return out, Zero(aval.update(dtype=dtypes.tangent_dtype(aval.dtype)))


stop_gradient_p = define_primitive(
    "stop_gradient",
    impl=lambda x: x,
    abstract_eval=lambda x: x,
    jvp=_stop_gradient_jvp,
    batch=None,
    kernel="elementwise",
    kernel_op="copy",
)
batching.defvectorized(stop_gradient_p)


def stop_gradient(x: Any) -> Any:
    """The identity on values whose derivative is zero (applies to every leaf of a pytree)."""
    return tree_map(stop_gradient_p.bind, x)
