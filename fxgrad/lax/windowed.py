"""Windowed reductions: ``reduce_window`` (sum / max / min pooling) and its derivatives.

Output position ``j`` of ``reduce_window_<op>`` reduces ``x~[j * s + k * r]`` over the
window offsets ``k``, where ``x~`` is the operand dilated by ``base_dilation`` and padded
by ``padding``; holes and pads hold the identity of ``op`` (0, -inf, +inf), so they
never win. ``lax.reduce_window`` applies a non-identity ``init_value`` once per window,
as XLA does.

* ``reduce_window_sum`` is linear. Its transpose scatters each cotangent over its
  window, which is again a windowed sum (the "conv transpose" with a window of ones):
  the cotangent dilated by the window strides, summed over windows with strides equal
  to ``base_dilation`` and padding ``(k_eff - 1 - lo, d(n) + lo - d(m))`` (``d`` = the
  dilated size, ``k_eff`` the dilated window).
* ``reduce_window_max``/``min``: the tangent of each output is the tangent of the
  element that wins its window (the first one on ties), read by the linear primitive
  ``select_and_gather_add(t, x)`` (XLA's name). Its transpose,
  ``select_and_scatter_add(ct, x)``, adds each cotangent into the winning position;
  the two are each other's transposes and are piecewise constant in ``x``.

Batch rules add a window of size 1 along the batch axis.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from fxgrad import dtypes
from fxgrad.core import ShapedArray, Tracer, get_aval
from fxgrad.errors import FxgradTypeError, ShapeError
from fxgrad.interpreters import batching
from fxgrad.interpreters.jvp import Zero
from fxgrad.interpreters.transpose import is_undefined_primal
from fxgrad.lax import elementwise as ew
from fxgrad.lax._define import define_primitive
from fxgrad.lax.conv import _dilate_dim, _out_dim, np_dilate_pad, np_windows, padtype_to_pads
from fxgrad.lax.shape import broadcast_in_dim
from fxgrad.lax.slicing import bind_checked

__all__ = [
    "reduce_window",
    "reduce_window_max_p",
    "reduce_window_min_p",
    "reduce_window_sum_p",
    "select_and_gather_add_p",
    "select_and_scatter_add_p",
]

_WINDOW_PARAMS = (
    "window_dimensions",
    "window_strides",
    "padding",
    "base_dilation",
    "window_dilation",
)


def _identity(kind: str, dtype: np.dtype) -> Any:
    """The value that never changes a ``kind`` reduction ('sum', 'max' or 'min')."""
    dtype = np.dtype(dtype)
    if kind == "sum":
        return np.zeros((), dtype)
    if dtype.kind == "b":
        return np.asarray(kind == "min")
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return np.asarray(info.min if kind == "max" else info.max, dtype)
    return np.asarray(-np.inf if kind == "max" else np.inf, dtype)


def _window_out_shape(
    shape, window_dimensions, window_strides, padding, base_dilation, window_dilation
):
    return tuple(
        _out_dim(_dilate_dim(n, bd) + lo + hi, _dilate_dim(k, wd), s)
        for n, k, s, (lo, hi), bd, wd in zip(
            shape,
            window_dimensions,
            window_strides,
            padding,
            base_dilation,
            window_dilation,
            strict=True,
        )
    )


def _check_window(name: str, shape: tuple[int, ...], params: dict) -> None:
    ndim = len(shape)
    for what in _WINDOW_PARAMS:
        if len(params[what]) != ndim:
            raise ShapeError(
                f"lax.{name}: {what} needs one entry per operand axis ({ndim} for operand "
                f"shape {shape}), got {tuple(params[what])}"
            )
    for what in ("window_dimensions", "window_strides", "base_dilation", "window_dilation"):
        if any(v < 1 for v in params[what]):
            raise ShapeError(f"lax.{name}: {what} must be positive, got {params[what]}")
    for n, (lo, hi), bd in zip(shape, params["padding"], params["base_dilation"], strict=True):
        if _dilate_dim(n, bd) + lo + hi < 0:
            raise ShapeError(
                f"lax.{name}: negative padding {(lo, hi)} removes more than a whole axis of "
                f"the operand of shape {shape}"
            )


def _np_reduce_window(
    x, kind, window_dimensions, window_strides, padding, base_dilation, window_dilation
):
    x = np.asarray(x)
    ident = _identity(kind, x.dtype)
    out_shape = _window_out_shape(
        x.shape, window_dimensions, window_strides, padding, base_dilation, window_dilation
    )
    if 0 in out_shape:
        return np.zeros(out_shape, x.dtype)
    axes = tuple(range(x.ndim))
    padded = np_dilate_pad(x, axes, base_dilation, padding, ident)
    windows = np_windows(padded, axes, window_dimensions, window_strides, window_dilation)
    reducer = {"sum": np.sum, "max": np.max, "min": np.min}[kind]
    window_axes = tuple(range(x.ndim, 2 * x.ndim))
    return np.asarray(reducer(windows, axis=window_axes), dtype=x.dtype)


def _reduce_window_abstract_eval(name: str) -> Callable[..., ShapedArray]:
    def abstract_eval(operand, **params):
        _check_window(name, operand.shape, params)
        if name == "reduce_window_sum" and np.dtype(operand.dtype).kind == "b":
            raise FxgradTypeError(f"lax.{name} does not accept bool operands")
        shape = _window_out_shape(operand.shape, *(params[p] for p in _WINDOW_PARAMS))
        return ShapedArray(shape, operand.dtype, operand.weak_type)

    return abstract_eval


def _unit_window_batch(prim: Any) -> Callable[..., Any]:
    """Batch rule: a window of size 1 along the batch axis (every operand at the front)."""

    def rule(axis_size, vals, dims, **params):
        moved = [batching.bdim_at_front(x, d, axis_size) for x, d in zip(vals, dims, strict=True)]
        new = dict(params)
        new["window_dimensions"] = (1, *params["window_dimensions"])
        new["window_strides"] = (1, *params["window_strides"])
        new["padding"] = ((0, 0), *params["padding"])
        new["base_dilation"] = (1, *params["base_dilation"])
        new["window_dilation"] = (1, *params["window_dilation"])
        return prim.bind(*moved, **new), 0

    return rule


# --- reduce_window_sum -----------------------------------------------------------------------


def _reduce_window_sum_impl(operand, **params):
    return _np_reduce_window(operand, "sum", *(params[p] for p in _WINDOW_PARAMS))


def _reduce_window_sum_jvp(primals, tangents, **params):
    (x,), (x_dot,) = primals, tangents
    out = reduce_window_sum_p.bind(x, **params)
    if type(x_dot) is Zero:
        return out, Zero(get_aval(out))
    return out, reduce_window_sum_p.bind(x_dot, **params)


def _transposed_window_padding(in_shape, out_shape, params):
    """Pads of the windowed sum that scatters a cotangent back (module docstring)."""
    pads = []
    for n, m, k, s, (lo, _), bd, wd in zip(
        in_shape, out_shape, *(params[p] for p in _WINDOW_PARAMS), strict=True
    ):
        k_eff = _dilate_dim(k, wd)
        pads.append((k_eff - 1 - lo, _dilate_dim(n, bd) + lo - _dilate_dim(m, s)))
    return tuple(pads)


def _reduce_window_sum_transpose(ct, operand, **params):
    assert is_undefined_primal(operand)
    ct_shape = get_aval(ct).shape if type(ct) is not Zero else ()
    if type(ct) is Zero or 0 in ct_shape:
        return [Zero(operand.aval)]
    pads = _transposed_window_padding(operand.aval.shape, ct_shape, params)
    out = reduce_window_sum_p.bind(
        ct,
        window_dimensions=params["window_dimensions"],
        window_strides=params["base_dilation"],
        padding=pads,
        base_dilation=params["window_strides"],
        window_dilation=params["window_dilation"],
    )
    return [out]


reduce_window_sum_p = define_primitive(
    "reduce_window_sum",
    impl=_reduce_window_sum_impl,
    abstract_eval=_reduce_window_abstract_eval("reduce_window_sum"),
    jvp=_reduce_window_sum_jvp,
    transpose=_reduce_window_sum_transpose,
    batch=None,
    kernel="library",
)
batching.batch_rules[reduce_window_sum_p] = _unit_window_batch(reduce_window_sum_p)


# --- reduce_window_max / reduce_window_min ----------------------------------------------------


def _extremum_impl(kind):
    def impl(operand, **params):
        return _np_reduce_window(operand, kind, *(params[p] for p in _WINDOW_PARAMS))

    return impl


def _extremum_jvp(prim, kind):
    def rule(primals, tangents, **params):
        (x,), (x_dot,) = primals, tangents
        out = prim.bind(x, **params)
        if type(x_dot) is Zero:
            return out, Zero(x_dot.aval.update(shape=get_aval(out).shape))
        return out, select_and_gather_add_p.bind(x_dot, x, select_prim=kind, **params)

    return rule


def _define_extremum(kind: str) -> Any:
    name = f"reduce_window_{kind}"
    prim = define_primitive(
        name,
        impl=_extremum_impl(kind),
        abstract_eval=_reduce_window_abstract_eval(name),
        jvp=None,
        batch=None,
        kernel="library",
    )
    from fxgrad.interpreters.jvp import jvp_rules

    jvp_rules[prim] = _extremum_jvp(prim, kind)
    batching.batch_rules[prim] = _unit_window_batch(prim)
    return prim


# --- select_and_gather_add / select_and_scatter_add -------------------------------------------


def _np_selected_positions(x, select_prim, params):
    """Flat index into the padded operand of the winner of each window, and its shape."""
    x = np.asarray(x)
    axes = tuple(range(x.ndim))
    window = [params[p] for p in _WINDOW_PARAMS]
    out_shape = _window_out_shape(x.shape, *window)
    padded = np_dilate_pad(
        x, axes, params["base_dilation"], params["padding"], _identity(select_prim, x.dtype)
    )
    if 0 in out_shape:
        return np.zeros(out_shape, np.int64), padded.shape
    args = (params["window_dimensions"], params["window_strides"], params["window_dilation"])
    windows = np_windows(padded, axes, *args).reshape(*out_shape, -1)
    pick = np.argmax if select_prim == "max" else np.argmin
    winner = pick(windows, axis=-1)[..., None]
    positions = np.arange(padded.size).reshape(padded.shape)
    position_windows = np_windows(positions, axes, *args).reshape(*out_shape, -1)
    return np.take_along_axis(position_windows, winner, axis=-1)[..., 0], padded.shape


def _select_and_gather_add_impl(t, x, *, select_prim, **params):
    t = np.asarray(t)
    flat, padded_shape = _np_selected_positions(x, select_prim, params)
    axes = tuple(range(t.ndim))
    t_padded = np_dilate_pad(t, axes, params["base_dilation"], params["padding"], 0)
    return t_padded.reshape(-1)[flat.reshape(-1)].reshape(flat.shape).astype(t.dtype)


def _select_and_scatter_add_impl(source, x, *, select_prim, **params):
    source = np.asarray(source)
    x = np.asarray(x)
    flat, padded_shape = _np_selected_positions(x, select_prim, params)
    acc = np.zeros(int(np.prod(padded_shape, dtype=np.int64)), source.dtype)
    np.add.at(acc, flat.reshape(-1), source.reshape(-1))
    acc = acc.reshape(padded_shape)
    axes = tuple(range(x.ndim))
    unpad = [(-lo, -hi) for lo, hi in params["padding"]]
    acc = np_dilate_pad(acc, axes, (1,) * x.ndim, unpad, 0)
    return acc[tuple(slice(None, None, bd) for bd in params["base_dilation"])].astype(source.dtype)


def _check_select_operands(name, t, x, select_prim):
    if select_prim not in ("max", "min"):
        raise ValueError(f"lax.{name}: select_prim must be 'max' or 'min', got {select_prim!r}")
    if t.shape != x.shape and name == "select_and_gather_add":
        raise ShapeError(
            f"lax.{name}: tangents and operand must have the same shape, got {t.shape} and "
            f"{x.shape}"
        )
    if np.dtype(t.dtype).kind not in "fc":
        raise FxgradTypeError(
            f"lax.{name}: the linear operand must be floating or complex, got "
            f"{np.dtype(t.dtype).name}"
        )


def _select_and_gather_add_abstract_eval(t, x, *, select_prim, **params):
    _check_select_operands("select_and_gather_add", t, x, select_prim)
    _check_window("select_and_gather_add", x.shape, params)
    shape = _window_out_shape(x.shape, *(params[p] for p in _WINDOW_PARAMS))
    return ShapedArray(shape, t.dtype, t.weak_type)


def _select_and_scatter_add_abstract_eval(source, x, *, select_prim, **params):
    _check_select_operands("select_and_scatter_add", source, x, select_prim)
    _check_window("select_and_scatter_add", x.shape, params)
    shape = _window_out_shape(x.shape, *(params[p] for p in _WINDOW_PARAMS))
    if tuple(source.shape) != shape:
        raise ShapeError(
            f"lax.select_and_scatter_add: source shape {source.shape} must be the windowed "
            f"output shape {shape} of the operand of shape {x.shape}"
        )
    return ShapedArray(tuple(x.shape), source.dtype, source.weak_type)


def _linear_in_first_jvp(prim_name):
    def rule(primals, tangents, **params):
        prim = _SELECT_PRIMS[prim_name]
        (t, x), (t_dot, _) = primals, tangents
        out = prim.bind(t, x, **params)
        if type(t_dot) is Zero:
            return out, Zero(get_aval(out))
        return out, prim.bind(t_dot, x, **params)

    return rule


def _select_and_gather_add_transpose(ct, t, x, **params):
    assert is_undefined_primal(t) and not is_undefined_primal(x)
    if type(ct) is Zero or 0 in get_aval(ct).shape:
        return [Zero(t.aval), None]
    return [select_and_scatter_add_p.bind(ct, x, **params), None]


def _select_and_scatter_add_transpose(ct, source, x, **params):
    assert is_undefined_primal(source) and not is_undefined_primal(x)
    if type(ct) is Zero or 0 in source.aval.shape:
        return [Zero(source.aval), None]
    return [select_and_gather_add_p.bind(ct, x, **params), None]


select_and_gather_add_p = define_primitive(
    "select_and_gather_add",
    impl=_select_and_gather_add_impl,
    abstract_eval=_select_and_gather_add_abstract_eval,
    jvp=_linear_in_first_jvp("select_and_gather_add"),
    transpose=_select_and_gather_add_transpose,
    batch=None,
    kernel="library",
)
select_and_scatter_add_p = define_primitive(
    "select_and_scatter_add",
    impl=_select_and_scatter_add_impl,
    abstract_eval=_select_and_scatter_add_abstract_eval,
    jvp=_linear_in_first_jvp("select_and_scatter_add"),
    transpose=_select_and_scatter_add_transpose,
    batch=None,
    kernel="library",
)
_SELECT_PRIMS = {
    "select_and_gather_add": select_and_gather_add_p,
    "select_and_scatter_add": select_and_scatter_add_p,
}
for _prim in _SELECT_PRIMS.values():
    batching.batch_rules[_prim] = _unit_window_batch(_prim)

reduce_window_max_p = _define_extremum("max")
reduce_window_min_p = _define_extremum("min")
_REDUCERS = {"sum": reduce_window_sum_p, "max": reduce_window_max_p, "min": reduce_window_min_p}


# --- lax.reduce_window -------------------------------------------------------------------------


def _computation_kind(computation: Callable) -> str:
    kinds = {ew.add: "sum", ew.max: "max", ew.min: "min"}
    kind = kinds.get(computation)
    if kind is None:
        raise NotImplementedError(
            f"lax.reduce_window: computation {getattr(computation, '__name__', computation)!r} "
            "is not supported; use lax.add (sum pooling), lax.max (max pooling) or lax.min"
        )
    return kind


def _is_identity(init_value: Any, kind: str, dtype: np.dtype) -> bool:
    if isinstance(init_value, Tracer):
        init_value = init_value.to_concrete_value()
        if init_value is None:
            return False
    return bool(np.asarray(init_value) == _identity(kind, dtype))


def _window_tuple(what: str, val: Any, ndim: int, default: int = 1) -> tuple[int, ...]:
    if val is None:
        return (default,) * ndim
    out = tuple(int(v) for v in val)
    if len(out) != ndim:
        raise ShapeError(
            f"lax.reduce_window: {what} needs one entry per operand axis ({ndim}), got {val!r}"
        )
    return out


def reduce_window(
    operand: Any,
    init_value: Any,
    computation: Callable,
    window_dimensions: Sequence[int],
    window_strides: Sequence[int] | None = None,
    padding: str | Sequence[tuple[int, int]] = "VALID",
    base_dilation: Sequence[int] | None = None,
    window_dilation: Sequence[int] | None = None,
) -> Any:
    """Reduce every window of ``operand`` with ``computation`` (JAX's ``lax.reduce_window``).

    Args:
      operand: the array to pool.
      init_value: a scalar of the operand's dtype, combined once with each window's
        result (the identity, 0 / -inf / +inf, leaves it unchanged).
      computation: ``lax.add`` (sum pooling), ``lax.max`` or ``lax.min``.
      window_dimensions: the window size along every axis.
      window_strides: the stride along every axis (default 1).
      padding: ``'VALID'``, ``'SAME'``, ``'SAME_LOWER'`` or ``(low, high)`` pairs per axis;
        padded positions never win a max/min and add nothing to a sum.
      base_dilation: dilation of the operand (holes between elements), default 1.
      window_dilation: dilation of the window, default 1.

    Returns:
      An array of the operand's dtype with ``floor((d(n) + lo + hi - d(k)) / s) + 1``
      elements per axis.

    Raises:
      NotImplementedError: another ``computation``.
      ShapeError: per-axis arguments of the wrong length or non-positive sizes.

    Example:
      >>> import numpy as np
      >>> from fxgrad import lax
      >>> lax.reduce_window(np.arange(6.0), -np.inf, lax.max, (2,), (2,))
      Array([1., 3., 5.], dtype=float64)
    """
    kind = _computation_kind(computation)
    aval = get_aval(operand)
    ndim = aval.ndim
    window = _window_tuple("window_dimensions", window_dimensions, ndim)
    strides = _window_tuple("window_strides", window_strides, ndim)
    base = _window_tuple("base_dilation", base_dilation, ndim)
    wdil = _window_tuple("window_dilation", window_dilation, ndim)
    if isinstance(padding, str):
        dilated = [_dilate_dim(n, d) for n, d in zip(aval.shape, base, strict=True)]
        eff = [_dilate_dim(k, d) for k, d in zip(window, wdil, strict=True)]
        pads = tuple(padtype_to_pads(dilated, eff, strides, padding))
    else:
        pads = tuple((int(lo), int(hi)) for lo, hi in padding)
    out = bind_checked(
        _REDUCERS[kind],
        operand,
        window_dimensions=window,
        window_strides=strides,
        padding=pads,
        base_dilation=base,
        window_dilation=wdil,
    )
    if _is_identity(init_value, kind, aval.dtype):
        return out
    if type(init_value) in (bool, int, float, complex):
        init_value = dtypes.convert_scalar(init_value, aval.dtype)
    init_aval = get_aval(init_value)
    if init_aval.shape != () or np.dtype(init_aval.dtype) != np.dtype(aval.dtype):
        raise FxgradTypeError(
            f"lax.reduce_window: init_value must be a scalar of the operand's dtype "
            f"{np.dtype(aval.dtype).name}, got {init_aval.str_short()}"
        )
    init = broadcast_in_dim(init_value, get_aval(out).shape, ())
    return computation(out, init)
