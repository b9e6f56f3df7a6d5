"""``vmap``: the user-facing vectorising transformation, with JAX's signature.

It flattens the arguments, resolves ``in_axes`` (an int, ``None`` or a tree prefix of
the arguments) to one batch axis per leaf, runs ``batching.vmap_flat`` and moves each
output's batch axis to where ``out_axes`` asks. Errors name ``vmap``, the function, the
argument by pytree path and the fix.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Hashable
from typing import Any

import numpy as np

from fxgrad._api_util import _arg_names, _as_value, _flat_fun, _fun_name, _OutStore
from fxgrad.core import get_aval
from fxgrad.errors import BatchingError
from fxgrad.interpreters import batching
from fxgrad.tree_util import (
    keystr,
    tree_flatten,
    tree_flatten_with_path,
    tree_leaves,
    tree_structure,
    tree_unflatten,
)


def _broadcast_prefix(prefix: Any, full: Any, what: str, fun_name: str) -> list[Any]:
    """One entry of the prefix tree ``prefix`` per leaf of ``full``."""
    prefix_leaves, prefix_def = tree_flatten(prefix, is_leaf=lambda x: x is None)
    try:
        subtrees = prefix_def.flatten_up_to(full)
    except ValueError as e:
        target = "positional arguments" if what == "in_axes" else "outputs"
        raise BatchingError(
            f"vmap({fun_name}): {what} must be an int, None, or a tree prefix of the "
            f"{target} (same structure, with an int or None where a whole subtree shares a "
            f"batch axis); got {what}={prefix!r} for {target} of structure "
            f"{tree_structure(full)}. Detail: {e}"
        ) from None
    out = []
    for axis, sub in zip(prefix_leaves, subtrees, strict=True):
        out.extend([axis] * len(tree_leaves(sub)))
    return out


def vmap(
    fun: Callable,
    in_axes: Any = 0,
    out_axes: Any = 0,
    axis_name: Hashable | None = None,
    axis_size: int | None = None,
    spmd_axis_name: Any = None,
) -> Callable:
    """Vectorise ``fun`` over a batch axis of its inputs.

    Args:
      fun: the function to vectorise.
      in_axes: an int, None, or a tree prefix of the positional arguments (a tuple with
        one entry per argument) giving each input's batch axis (None: not batched).
      out_axes: where the batch axis goes in the outputs (a tree prefix of the output).
      axis_size: the batch size, required when no input is batched.

    Example:
      >>> import fxgrad, fxgrad.numpy as fnp
      >>> fxgrad.vmap(lambda x: x @ x)(fnp.ones((3, 2)))
      Array([2., 2., 2.], dtype=float64)
    """
    name = _fun_name(fun)
    if isinstance(in_axes, list):
        in_axes = tuple(in_axes)
    _validate_axes_spec(in_axes, "in_axes", name)

    @functools.wraps(fun)
    def vmapped(*args: Any, **kwargs: Any):
        if isinstance(in_axes, tuple) and len(in_axes) != len(args):
            raise BatchingError(
                f"vmap({name}): in_axes has {len(in_axes)} entries but the function was called "
                f"with {len(args)} positional argument(s). Give one in_axes entry per "
                "positional argument (keyword arguments are always batched along axis 0)."
            )
        raw_args, in_tree = tree_flatten((args, kwargs))
        axes = _broadcast_prefix((in_axes, 0), (args, kwargs), "in_axes", name)
        leaf_names = _arg_names(fun, args, kwargs)
        # Unmapped leaves pass through unchanged (a Python int stays an int, as in JAX).
        flat_args = [
            x if ax is None else _as_value(x, f"{leaf} of vmap({name})")
            for x, ax, leaf in zip(raw_args, axes, leaf_names, strict=True)
        ]
        dims, size = _resolve_in_axes(name, flat_args, axes, axis_size, leaf_names)
        store = _OutStore()
        flat = _flat_fun(fun, in_tree, store)
        outs, out_dims = batching.vmap_flat(
            flat,
            size,
            dims,
            flat_args,
            name=f"vmap({name})",
            arg_names=leaf_names,
            axis_name=axis_name,
        )
        out_tree = store.treedef
        out_tree_obj = tree_unflatten(out_tree, [0] * out_tree.num_leaves)
        out_spec = _broadcast_prefix(out_axes, out_tree_obj, "out_axes", name)
        out_paths = [keystr(p) for p, _ in tree_flatten_with_path(out_tree_obj)[0]]
        moved = [
            _move_out(name, o, d, s, size, f"output{p}")
            for o, d, s, p in zip(outs, out_dims, out_spec, out_paths, strict=True)
        ]
        return tree_unflatten(out_tree, moved)

    return vmapped


def _validate_axes_spec(spec: Any, what: str, name: str) -> None:
    for leaf in tree_leaves(spec):
        if not isinstance(leaf, (int, np.integer)):
            raise BatchingError(
                f"vmap({name}): {what} must contain only ints and None, got {leaf!r} "
                f"({type(leaf).__name__})"
            )


def _resolve_in_axes(name, flat_args, axes, axis_size, leaf_names):
    """The batch dimension of every flat input leaf, and the common batch size."""
    dims = []
    sizes = []
    for x, ax, leaf in zip(flat_args, axes, leaf_names, strict=True):
        if ax is None:
            dims.append(batching.not_mapped)
            continue
        aval = get_aval(x)
        if not -aval.ndim <= ax < aval.ndim:
            raise BatchingError(
                f"vmap({name}) was requested to map its {leaf} along axis {ax}, which "
                f"implies that its rank should be at least {max(ax + 1, -ax)}, but is only "
                f"{aval.ndim} (its shape is {aval.shape}). Fix in_axes for this argument, or "
                "use None for arguments that are not batched."
            )
        ax = ax % aval.ndim
        dims.append(ax)
        sizes.append((leaf, aval, ax))
    distinct = {aval.shape[ax] for _, aval, ax in sizes}
    if axis_size is not None:
        distinct.add(int(axis_size))
    if len(distinct) > 1:
        detail = "".join(
            f"\n  * axis {ax} of {leaf} of type {aval.str_short()} has size {aval.shape[ax]}"
            for leaf, aval, ax in sizes
        )
        if axis_size is not None:
            detail += f"\n  * axis_size={axis_size}"
        raise BatchingError(
            f"vmap({name}) got inconsistent sizes for the mapped axes:{detail}\nAll mapped "
            "inputs must have the same size along their in_axes; check in_axes (an axis "
            "that should not be mapped takes None)."
        )
    if not distinct:
        raise BatchingError(
            f"vmap({name}) must have at least one non-None value in in_axes, or be given "
            "axis_size= to say how many times to run the function."
        )
    return dims, distinct.pop()


def _move_out(name: str, x: Any, bdim: Any, out_axis: Any, size: int, leaf: str) -> Any:
    if out_axis is None:
        if bdim is not batching.not_mapped:
            raise BatchingError(
                f"vmap({name}) has out_axes=None for {leaf}, which depends on the batched "
                "inputs; only outputs that are the same for every batch member can have "
                "out_axes=None. Use an int out_axes for it."
            )
        return x
    ndim = get_aval(x).ndim + (bdim is batching.not_mapped)
    if not -ndim <= out_axis < ndim:
        raise BatchingError(
            f"vmap({name}): out_axes={out_axis} is out of range for {leaf}, which has rank "
            f"{ndim} with the batch axis; use an axis in [{-ndim}, {ndim})."
        )
    return batching.move_bdim(x, bdim, out_axis % ndim, size)
