"""Shared machinery of the control-flow primitives.

Control-flow primitives carry their bodies as ClosedJaxprs. User functions of pytrees
are staged with ``trace_to_jaxpr``; values the functions close over become explicit
leading operands (so a closed-over tracer of an outer transformation is transformed
like any other argument), and the jaxprs carry no constants. Rules rebuild bodies with
the jaxpr-level transformations of the interpreters (``jvp_jaxpr``, ``batch_jaxpr``,
``partial_eval_jaxpr``, ``transpose_jaxpr``) and the re-plumbing helpers below.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from fxgrad import core
from fxgrad.core import ShapedArray, get_aval
from fxgrad.errors import ControlFlowError
from fxgrad.interpreters.partial_eval import closed_call, trace_to_jaxpr
from fxgrad.jaxpr import ClosedJaxpr, Jaxpr, eval_jaxpr
from fxgrad.tree_util import keystr, tree_flatten, tree_flatten_with_path, tree_unflatten


def abstractify(x: Any) -> ShapedArray:
    return get_aval(x)


def trace_fun(fun: Callable, in_tree: Any, in_avals: Sequence[ShapedArray], name: str):
    """Stage ``fun`` (of the pytree ``in_tree``) for ``in_avals``.

    Returns ``(closed, consts, out_tree)``: ``closed`` takes ``consts`` (the values the
    function closes over) followed by the flat arguments, and has no constants itself.
    """
    store: dict[str, Any] = {}

    def flat_fun(*flat_args):
        args = tree_unflatten(in_tree, flat_args)
        out = fun(*args)
        leaves, store["tree"] = tree_flatten(out)
        return [_as_array(x, name) for x in leaves]

    closed = trace_to_jaxpr(flat_fun, list(in_avals), name=name)
    return open_consts(closed), list(closed.consts), store["tree"]


def _as_array(x: Any, name: str) -> Any:
    if isinstance(x, (core.Tracer, np.ndarray, np.generic, bool, int, float, complex)) or (
        type(x) in core._aval_handlers
    ):
        return x
    raise ControlFlowError(
        f"{name} returned a value of type {type(x).__name__}; the functions given to "
        "control-flow primitives must return pytrees of arrays."
    )


def open_consts(closed: ClosedJaxpr) -> ClosedJaxpr:
    """``closed`` with its constvars turned into leading inputs (and no constants)."""
    j = closed.jaxpr
    return ClosedJaxpr(Jaxpr(j.in_binders, j.eqns, j.outs, 0), ())


def run_closed(closed: ClosedJaxpr, args: Sequence[Any]) -> list[Any]:
    """Evaluate ``closed`` on concrete NumPy values, returning NumPy values."""
    outs = eval_jaxpr(closed.jaxpr, closed.consts, *args)
    return [np.asarray(core._unwrap_value(o)) for o in outs]


def reorder_jaxpr(
    closed: ClosedJaxpr, in_perm: Sequence[int] | None, out_perm: Sequence[int] | None
) -> ClosedJaxpr:
    """A jaxpr whose input ``i`` is input ``in_perm[i]`` of ``closed`` (same for outputs)."""
    in_avals = closed.in_avals
    n_in = len(in_avals)
    in_perm = list(range(n_in)) if in_perm is None else list(in_perm)
    assert sorted(in_perm) == list(range(n_in))
    new_avals = [in_avals[i] for i in in_perm]

    def fun(*args):
        original = [None] * n_in
        for pos, i in enumerate(in_perm):
            original[i] = args[pos]
        outs = closed_call(closed, *original)
        return outs if out_perm is None else [outs[i] for i in out_perm]

    return open_consts(trace_to_jaxpr(fun, new_avals, name="reorder"))


def pad_jaxpr(
    closed: ClosedJaxpr, before: Sequence[ShapedArray], after: Sequence[ShapedArray]
) -> ClosedJaxpr:
    """``closed`` with unused inputs of types ``before``/``after`` around its inputs."""
    avals = [*before, *closed.in_avals, *after]
    n_before, n_mid = len(before), len(closed.in_avals)

    def fun(*args):
        return closed_call(closed, *args[n_before : n_before + n_mid])

    return open_consts(trace_to_jaxpr(fun, avals, name="pad"))


def join_consts(closeds: Sequence[ClosedJaxpr], consts: Sequence[Sequence[Any]]):
    """Give every jaxpr the union of all their leading const inputs.

    Returns ``(jaxprs, all_consts)``: jaxpr ``i`` takes ``all_consts`` followed by its
    original non-const inputs.
    """
    const_avals = [[get_aval(c) for c in cs] for cs in consts]
    joined = []
    for i, closed in enumerate(closeds):
        before = [a for cs in const_avals[:i] for a in cs]
        after = [a for cs in const_avals[i + 1 :] for a in cs]
        n_own = len(const_avals[i])
        own_and_args = closed.in_avals
        avals = [*before, *own_and_args[:n_own], *after, *own_and_args[n_own:]]
        n_before, n_after = len(before), len(after)

        def fun(*args, closed=closed, n_before=n_before, n_own=n_own, n_after=n_after):
            own = args[n_before : n_before + n_own]
            rest = args[n_before + n_own + n_after :]
            return closed_call(closed, *own, *rest)

        joined.append(open_consts(trace_to_jaxpr(fun, avals, name="join_consts")))
    return joined, [c for cs in consts for c in cs]


def same_type(a: ShapedArray, b: ShapedArray) -> bool:
    return tuple(a.shape) == tuple(b.shape) and np.dtype(a.dtype) == np.dtype(b.dtype)


def check_same_types(
    what: str,
    name_a: str,
    name_b: str,
    tree_a: Any,
    tree_b: Any,
    avals_a: Sequence[ShapedArray],
    avals_b: Sequence[ShapedArray],
    fix: str,
) -> None:
    """Raise ``ControlFlowError`` naming the first leaf whose structure or type differs."""
    if tree_a != tree_b:
        raise ControlFlowError(
            f"{what}: {name_a} and {name_b} must have the same pytree structure, but "
            f"{name_a} has structure {tree_a} and {name_b} has {tree_b}. {fix}"
        )
    example = tree_unflatten(tree_a, list(range(len(avals_a))))
    paths = [keystr(p) for p, _ in tree_flatten_with_path(example)[0]]
    for path, a, b in zip(paths, avals_a, avals_b, strict=True):
        if not same_type(a, b):
            where = f" at {path}" if path else ""
            raise ControlFlowError(
                f"{what}: {name_a} and {name_b} must have identical types, but{where} "
                f"{name_a} has type {a.str_short()} and {name_b} has {b.str_short()}. {fix}"
            )


def joined_weak(avals: Sequence[ShapedArray], others: Sequence[ShapedArray]) -> list:
    """Output avals that are weak only where every branch is weak."""
    return [
        a.update(weak_type=a.weak_type and b.weak_type) for a, b in zip(avals, others, strict=True)
    ]
