"""Callbacks into Python from traced code: ``pure_callback``, ``debug.callback``,
``debug.print``.

``pure_callback(f, result_shape_dtypes, *args)`` calls a Python function on concrete
NumPy values when the program runs (eagerly, or from a compiled ``jit`` function) and
returns its result as arrays of the declared shapes and dtypes. It is a primitive, so
it can be staged; it has no derivative (wrap it in ``custom_jvp`` to give it one) and
batches according to ``vmap_method``.

``debug.callback(f, *args)`` calls ``f`` for its side effects. Its primitive is marked
effectful, so no simplification removes it and it runs, in program order, every time
the staged program runs. Under ``vmap`` it is called once per example; under ``grad``
it sees the primal values. ``debug.print(fmt, *args, **kwargs)`` formats with
``str.format``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from fxgrad._callable_params import CallableParam, bind_batch_major
from fxgrad.core import ShapedArray
from fxgrad.errors import FxgradTypeError, MissingRuleError
from fxgrad.interpreters import batching
from fxgrad.interpreters.batching import not_mapped
from fxgrad.lax._define import define_primitive
from fxgrad.tree_util import tree_flatten, tree_unflatten

__all__ = ["callback", "print", "pure_callback"]

_builtin_print = print


def _flatten_result(name: str, result: Any, out_tree: Any) -> list[Any]:
    leaves, tree = tree_flatten(result)
    if tree != out_tree:
        raise FxgradTypeError(
            f"pure_callback: the callback {name} returned a value with structure {tree}, "
            f"but result_shape_dtypes declared {out_tree}"
        )
    return leaves


def _check_shapes(name: str, leaves: Sequence[Any], out_avals: Sequence[ShapedArray]):
    out = []
    for i, (leaf, aval) in enumerate(zip(leaves, out_avals, strict=True)):
        arr = np.asarray(leaf)
        if arr.shape != tuple(aval.shape):
            raise FxgradTypeError(
                f"pure_callback: the callback {name} returned an array of shape {arr.shape} "
                f"for result leaf {i}, but result_shape_dtypes declared {tuple(aval.shape)}"
            )
        out.append(arr.astype(aval.dtype, copy=False))
    return out


# ---------------------------------------------------------------------------------------
# pure_callback
# ---------------------------------------------------------------------------------------


def _pure_callback_impl(*args, callback, out_avals, vmap_method):
    return _check_shapes(callback.name, callback(*args), out_avals)


def _pure_callback_abstract_eval(*avals, callback, out_avals, vmap_method):
    return list(out_avals)


def _pure_callback_jvp(primals, tangents, *, callback, out_avals, vmap_method):
    raise MissingRuleError(
        f"pure_callback {callback.name} cannot be differentiated: fxgrad cannot see inside "
        "the Python function. Wrap the callback in fxgrad.custom_jvp (or custom_vjp) and "
        "give it a derivative rule."
    )


def _pure_callback_batch(axis_size, vals, dims, *, callback, out_avals, vmap_method):
    params = dict(callback=callback, vmap_method=vmap_method)
    batched_avals = tuple(
        ShapedArray((axis_size, *a.shape), a.dtype, a.weak_type) for a in out_avals
    )
    if vmap_method in ("expand_dims", "broadcast_all", "legacy_vectorized"):
        moved = []
        for x, d in zip(vals, dims, strict=True):
            if d is not_mapped:
                if vmap_method == "expand_dims":
                    from fxgrad.lax.shape import expand_dims

                    moved.append(expand_dims(x, (0,)))
                else:
                    moved.append(batching.bdim_at_front(x, d, axis_size))
            else:
                moved.append(batching.moveaxis(x, d, 0))
        outs = pure_callback_p.bind(*moved, out_avals=batched_avals, **params)
        return outs, [0] * len(outs)
    if vmap_method != "sequential":
        raise MissingRuleError(
            f"vmap of pure_callback {callback.name} requires a vmap_method: 'sequential' "
            "(call once per example), 'expand_dims' (unbatched inputs get a leading axis "
            "of size 1), or 'broadcast_all' (all inputs broadcast to the batch size)."
        )

    def sequential(*batched_args):
        results = [callback(*(a[i] for a in batched_args)) for i in range(axis_size)]
        return [np.stack([r[k] for r in results]) for k in range(len(out_avals))]

    return bind_batch_major(
        pure_callback_p,
        axis_size,
        vals,
        dims,
        callback=CallableParam(sequential, f"sequential({callback.name})"),
        out_avals=batched_avals,
        vmap_method=vmap_method,
    )


pure_callback_p = define_primitive(
    "pure_callback",
    impl=_pure_callback_impl,
    abstract_eval=_pure_callback_abstract_eval,
    jvp=_pure_callback_jvp,
    batch=_pure_callback_batch,
    kernel="library",
    multiple_results=True,
)


def pure_callback(
    callback: Callable,
    result_shape_dtypes: Any,
    *args: Any,
    sharding: Any = None,
    vmap_method: str | None = None,
    **kwargs: Any,
) -> Any:
    """Call the Python function ``callback(*args, **kwargs)`` on concrete values.

    Args:
      callback: a pure function of NumPy arrays returning arrays of the declared types.
      result_shape_dtypes: a pytree of objects with ``shape`` and ``dtype`` (for example
        ``fxgrad.ShapeDtypeStruct``) describing the result.
      *args: pytrees of arrays passed to ``callback``.
      vmap_method: how ``vmap`` calls it: ``"sequential"``, ``"expand_dims"``,
        ``"broadcast_all"`` (``"legacy_vectorized"`` is accepted as ``broadcast_all``).

    Returns:
      The callback's result as fxgrad arrays.
    """
    from fxgrad.numpy._util import asarray_value

    flat_args, in_tree = tree_flatten((args, kwargs))
    flat_args = [asarray_value(x) for x in flat_args]
    shapes, out_tree = tree_flatten(result_shape_dtypes)
    out_avals = tuple(ShapedArray(tuple(s.shape), np.dtype(s.dtype)) for s in shapes)
    name = getattr(callback, "__name__", repr(callback))

    def flat_callback(*flat_vals):
        a, k = tree_unflatten(in_tree, [np.asarray(v) for v in flat_vals])
        return _flatten_result(name, callback(*a, **k), out_tree)

    outs = pure_callback_p.bind(
        *flat_args,
        callback=CallableParam(flat_callback, name),
        out_avals=out_avals,
        vmap_method=vmap_method,
    )
    return tree_unflatten(out_tree, outs)


# ---------------------------------------------------------------------------------------
# debug.callback and debug.print
# ---------------------------------------------------------------------------------------


def _debug_callback_impl(*args, callback, ordered):
    callback(*args)
    return []


def _debug_callback_jvp(primals, tangents, *, callback, ordered):
    debug_callback_p.bind(*primals, callback=callback, ordered=ordered)
    return [], []


def _debug_callback_batch(axis_size, vals, dims, *, callback, ordered):

    def per_example(*batched):
        for i in range(axis_size):
            callback(*(b[i] for b in batched))

    return bind_batch_major(
        debug_callback_p,
        axis_size,
        vals,
        dims,
        callback=CallableParam(per_example, f"per_example({callback.name})"),
        ordered=ordered,
    )


def _debug_callback_transpose(cts, *args, callback, ordered):
    return [None] * len(args)


debug_callback_p = define_primitive(
    "debug_callback",
    impl=_debug_callback_impl,
    abstract_eval=lambda *avals, callback, ordered: [],
    jvp=_debug_callback_jvp,
    transpose=_debug_callback_transpose,
    batch=_debug_callback_batch,
    kernel="library",
    multiple_results=True,
)
debug_callback_p.effectful = True


def callback(callback: Callable, *args: Any, ordered: bool = False, **kwargs: Any) -> None:
    """Call ``callback(*args, **kwargs)`` for its side effects, with concrete values.

    Works under ``jit`` (it runs every time the compiled function runs), ``vmap`` (once
    per example) and ``grad`` (with primal values). Nothing is returned.
    """
    from fxgrad.numpy._util import asarray_value

    flat_args, in_tree = tree_flatten((args, kwargs))
    flat_args = [asarray_value(x) for x in flat_args]
    name = getattr(callback, "__name__", repr(callback))

    def flat_callback(*flat_vals):
        a, k = tree_unflatten(in_tree, [np.asarray(v) for v in flat_vals])
        callback(*a, **k)

    debug_callback_p.bind(
        *flat_args, callback=CallableParam(flat_callback, name), ordered=bool(ordered)
    )


def print(fmt: str, *args: Any, ordered: bool = False, **kwargs: Any) -> None:  # noqa: A001
    """Print ``fmt.format(*args, **kwargs)`` with the values of (possibly traced) arrays.

    Example:
      >>> import fxgrad, fxgrad.numpy as fnp
      >>> @fxgrad.jit
      ... def f(x):
      ...     fxgrad.debug.print("x = {}", x)
      ...     return x * 2
      >>> _ = f(fnp.arange(3))
      x = [0 1 2]
    """

    def formatter(*a, **k):
        _builtin_print(fmt.format(*a, **k))

    callback(formatter, *args, ordered=ordered, **kwargs)
