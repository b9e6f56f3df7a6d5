"""Helpers shared by the transformations of ``fxgrad.api`` and ``fxgrad.staging``:
flattening arguments, checking them, and naming them in error messages."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from fxgrad import core
from fxgrad import numpy as fnp
from fxgrad.array import Array
from fxgrad.core import Tracer
from fxgrad.errors import (
    FxgradTypeError,
)
from fxgrad.tree_util import (
    keystr,
    tree_flatten,
    tree_flatten_with_path,
    tree_unflatten,
)

# ---------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------


class ShapeDtypeStruct:
    """A shape and dtype standing for an array (input to ``eval_shape`` and ``jit``)."""

    __slots__ = ("shape", "dtype", "weak_type")

    def __init__(self, shape: Sequence[int], dtype: Any, weak_type: bool = False):
        self.shape = tuple(int(s) for s in shape)
        self.dtype = np.dtype(dtype)
        self.weak_type = weak_type

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    def __repr__(self) -> str:
        return f"ShapeDtypeStruct(shape={self.shape}, dtype={self.dtype.name})"

    def __eq__(self, other: Any) -> bool:
        return (
            isinstance(other, ShapeDtypeStruct)
            and self.shape == other.shape
            and self.dtype == other.dtype
        )

    def __hash__(self) -> int:
        return hash((self.shape, self.dtype))


core.register_aval_handler(ShapeDtypeStruct, lambda x: core.shaped(x.shape, x.dtype, x.weak_type))


def _fun_name(fun: Callable) -> str:
    return getattr(fun, "__name__", None) or type(fun).__name__


def _as_value(x: Any, what: str) -> Any:
    """A leaf of a transformation's input as an array value (Array or tracer)."""
    if isinstance(x, (Tracer, Array)):
        return x
    if isinstance(x, (np.ndarray, np.generic, bool, int, float, complex)):
        return fnp.asarray(x)
    if isinstance(x, ShapeDtypeStruct):
        return x
    if "output" in what:
        fix = (
            "return other values outside the transformed function, or through has_aux=True "
            "where the transformation supports it."
        )
    else:
        fix = "mark other arguments static (jit's static_argnums) or close over them."
    raise FxgradTypeError(
        f"{what} is not a valid array: got a value of type {type(x).__name__} ({x!r:.60}). "
        "Transformations accept pytrees (tuples, lists, dicts, registered classes) whose "
        f"leaves are arrays or Python scalars; {fix}"
    )


def _flatten_args(
    args: Any, what: str, leaf_names: Callable[[], list[str]] | None = None
) -> tuple[list[Any], Any]:
    """The leaves of ``args`` as array values, and its tree structure.

    ``leaf_names`` (called only when a leaf is invalid) names each leaf, so the error
    says which argument it was (``argument 'y['w']' of jit(f)``) rather than ``what``.
    """
    leaves, treedef = tree_flatten(args)
    if leaf_names is None:
        return [_as_value(x, what) for x in leaves], treedef
    values = []
    for i, x in enumerate(leaves):
        try:
            values.append(_as_value(x, what))
        except FxgradTypeError:
            bad = i
            break
    else:
        return values, treedef
    return _as_value(leaves[bad], f"{leaf_names()[bad]} of {what}"), treedef  # raises


def _check_argnums(fun_name: str, argnums: Any, nargs: int) -> tuple[int, ...]:
    nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    for n in nums:
        if not isinstance(n, int):
            raise TypeError(f"{fun_name}: argnums must be ints, got {argnums!r}")
        if not -nargs <= n < nargs:
            raise TypeError(
                f"{fun_name}: argnums={argnums} refers to argument {n}, but the function was "
                f"called with only {nargs} positional argument(s)."
            )
    return tuple(n % nargs for n in nums)


class _OutStore:
    """Records what a function traced with flat outputs returned, around the flat list.

    ``treedef`` and ``num_out`` describe the main output. With ``has_aux``, the auxiliary
    pytree is split: its floating-point tracer leaves are appended to the flat outputs
    (so the transformation lowers them out of its own traces instead of letting them
    escape), and every other leaf is kept here as is (non-tracers, and integer tracers,
    which never carry a tangent and are lowered with ``full_lower``).
    """

    def __init__(self) -> None:
        self.treedef: Any = None
        self.num_out = 0
        self.aux_tree: Any = None
        self.aux_leaves: list[Any] = []
        self.aux_traced: list[int] = []

    def aux(self, traced_vals: Sequence[Any]) -> Any:
        """The auxiliary pytree, given the transformed values of its traced leaves."""
        leaves = list(self.aux_leaves)
        for i, val in zip(self.aux_traced, traced_vals, strict=True):
            leaves[i] = val
        return tree_unflatten(self.aux_tree, leaves)

    def record_aux(self, aux: Any) -> list[Any]:
        leaves, self.aux_tree = tree_flatten(aux)
        self.aux_traced = []
        self.aux_leaves = []
        traced = []
        for i, leaf in enumerate(leaves):
            if isinstance(leaf, Tracer) and np.dtype(leaf.dtype).kind in "fc":
                self.aux_traced.append(i)
                traced.append(leaf)
                leaf = None
            self.aux_leaves.append(core.full_lower(leaf))
        return traced


def _flat_fun(fun: Callable, in_tree: Any, store: _OutStore, has_aux: bool = False, name: str = ""):
    """``fun`` as a function of flat array leaves returning a flat list (see ``_OutStore``).

    ``name`` is the user's function name for messages (``fun`` may be a wrapper).
    """
    name = name or _fun_name(fun)

    def flat(*flat_args):
        args, kwargs = tree_unflatten(in_tree, flat_args)
        out = fun(*args, **kwargs)
        aux_out: list[Any] = []
        if has_aux:
            if not (isinstance(out, (tuple, list)) and len(out) == 2):
                raise TypeError(
                    f"{name} was transformed with has_aux=True, so it must return a pair "
                    f"(output, auxiliary data); it returned {type(out).__name__}."
                )
            out, aux = out
            aux_out = store.record_aux(aux)
        leaves, store.treedef = tree_flatten(out)
        store.num_out = len(leaves)
        values = []
        for x in leaves:  # the label is formatted only for a bad leaf
            values.append(
                x if isinstance(x, (Tracer, Array)) else _as_value(x, f"an output of {name}")
            )
        return values + aux_out

    return flat


def _partial(fun: Callable, args: tuple, kwargs: dict, nums: tuple[int, ...]) -> Callable:
    """``fun`` as a function of the arguments at positions ``nums`` only."""

    def partial_fun(*diff_args: Any) -> Any:
        full = list(args)
        for n, a in zip(nums, diff_args, strict=True):
            full[n] = a
        return fun(*full, **kwargs)

    return partial_fun


def _arg_labels(
    fun: Callable, args: tuple, kwargs: Any, positions: Sequence[int] | None = None
) -> list[str]:
    """The names of the arguments ``args`` and ``kwargs`` of a call of ``fun``.

    Positional arguments take their parameter's name, or ``args[i]`` past the named
    ones (``args`` being the name of ``fun``'s ``*args``); keyword arguments their
    keyword. ``kwargs`` is a dict or its keys. ``positions[k]`` is the position of
    ``args[k]`` in the user's call (static arguments removed by jit shift the others).
    """
    try:
        params = list(inspect.signature(fun).parameters.values())
    except (TypeError, ValueError):
        params = []
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    positional = [p.name for p in params if p.kind in kinds]
    var = next((p.name for p in params if p.kind is inspect.Parameter.VAR_POSITIONAL), "args")
    labels = []
    for k in range(len(args)):
        pos = k if positions is None else positions[k]
        labels.append(
            positional[pos] if pos < len(positional) else f"{var}[{pos - len(positional)}]"
        )
    return labels + [str(key) for key in kwargs]


def _arg_names(
    fun: Callable, args: tuple, kwargs: dict, positions: Sequence[int] | None = None
) -> list[str]:
    """Readable names (``argument 'x['w']'``) of the flat leaves of ``(args, kwargs)``.

    ``positions`` is as for ``_arg_labels``. Keyword arguments come in sorted order,
    as ``tree_flatten`` orders the keys of a dict.
    """
    ordered = sorted(kwargs)
    labels = _arg_labels(fun, args, ordered, positions)
    names = []
    for label, arg in zip(labels, (*args, *(kwargs[k] for k in ordered)), strict=True):
        for path, _ in tree_flatten_with_path(arg)[0]:
            names.append(f"argument '{label}{keystr(path)}'")
    return names
