"""``cond`` and ``switch``: the ``cond`` primitive, which runs one of several branches.

``cond_p(index, *operands, branches)`` evaluates ``branches[clamp(index)]`` on the
operands. Rules:

* JVP: every branch is replaced by its JVP (with the union of the branches' nonzero
  output tangents), so the derivative of the taken branch is computed.
* Partial evaluation (``linearize``): each branch is split into a known part, run now
  by a known ``cond`` that also returns the branch's residuals (other branches' slots
  filled with zeros), and an unknown part staged as a second ``cond`` on the residuals.
* Transpose: branch-wise; the untaken branches do not run in the backward pass, so
  their derivatives cannot contribute NaNs.
* Batching: with an unbatched index each branch is batched; with a batched index every
  branch runs on the whole batch and the results are combined with ``select_n``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from fxgrad.core import ShapedArray, get_aval
from fxgrad.errors import ControlFlowError
from fxgrad.interpreters import array_ops, batching
from fxgrad.interpreters.batching import batch_jaxpr, not_mapped
from fxgrad.interpreters.jvp import Zero, instantiate_zeros, jvp_jaxpr
from fxgrad.interpreters.partial_eval import (
    closed_call,
    partial_eval_jaxpr,
    partial_eval_rules,
    trace_to_jaxpr,
)
from fxgrad.interpreters.transpose import is_undefined_primal, transpose_jaxpr
from fxgrad.jaxpr import ClosedJaxpr
from fxgrad.lax._define import define_primitive
from fxgrad.lax.control_flow.common import (
    check_same_types,
    join_consts,
    open_consts,
    run_closed,
    trace_fun,
)
from fxgrad.tree_util import tree_flatten, tree_unflatten

__all__ = ["cond", "cond_p", "switch"]


def _clamp_index(index: Any, n: int) -> int:
    return int(np.clip(np.asarray(index), 0, n - 1))


def _cond_impl(index, *operands, branches):
    return run_closed(branches[_clamp_index(index, len(branches))], operands)


def _cond_abstract_eval(index, *operands, branches):
    if index.shape != () or np.dtype(index.dtype).kind not in "iub":
        raise ControlFlowError(
            f"cond's index must be a scalar integer or bool, got {index.str_short()}"
        )
    outs = list(branches[0].out_avals)
    for br in branches[1:]:
        outs = [
            a.update(weak_type=a.weak_type and b.weak_type)
            for a, b in zip(outs, br.out_avals, strict=True)
        ]
    return outs


def _union(flags: Sequence[Sequence[bool]]) -> list[bool]:
    return [any(fs) for fs in zip(*flags, strict=True)]


def _cond_jvp(primals, tangents, *, branches):
    index, *ops = primals
    op_tangents = tangents[1:]
    nonzeros = [type(t) is not Zero for t in op_tangents]
    out_nz = _union([jvp_jaxpr(br, nonzeros, False)[1] for br in branches])
    jvp_branches = tuple(jvp_jaxpr(br, nonzeros, out_nz)[0] for br in branches)
    nz_tangents = [t for t in op_tangents if type(t) is not Zero]
    outs = cond_p.bind(index, *ops, *nz_tangents, branches=jvp_branches)
    n_out = len(branches[0].out_avals)
    primals_out = outs[:n_out]
    it = iter(outs[n_out:])
    tangents_out = [
        next(it) if nz else Zero(_tangent_aval(a))
        for a, nz in zip(branches[0].out_avals, out_nz, strict=True)
    ]
    return primals_out, tangents_out


def _tangent_aval(aval: ShapedArray) -> ShapedArray:
    from fxgrad.core import tangent_aval

    return tangent_aval(aval)


def _with_zero_residuals(
    known: ClosedJaxpr, n_known_out: int, res_slots: list, own: int
) -> ClosedJaxpr:
    """``known`` returning the residuals of every branch (zeros except its own slot)."""

    def fun(*args):
        outs = closed_call(known, *args)
        known_outs, own_res = outs[:n_known_out], outs[n_known_out:]
        residuals = []
        for i, avals in enumerate(res_slots):
            if i == own:
                residuals.extend(own_res)
            else:
                residuals.extend(array_ops.zeros(a) for a in avals)
        return [*known_outs, *residuals]

    return open_consts(trace_to_jaxpr(fun, known.in_avals, name="cond_known"))


def _using_slot(unknown: ClosedJaxpr, res_slots: list, own: int) -> ClosedJaxpr:
    """``unknown`` taking every branch's residuals and using only its own slot."""
    all_res = [a for avals in res_slots for a in avals]
    start = sum(len(avals) for avals in res_slots[:own])
    n_own = len(res_slots[own])
    rest_avals = unknown.in_avals[n_own:]

    def fun(*args):
        res = args[: len(all_res)]
        rest = args[len(all_res) :]
        return closed_call(unknown, *res[start : start + n_own], *rest)

    return open_consts(trace_to_jaxpr(fun, [*all_res, *rest_avals], name="cond_unknown"))


def _cond_partial_eval(trace, tracers, *, branches):
    index_t, *op_ts = tracers
    if not index_t.pval.is_known:
        return trace.stage(cond_p, tracers, {"branches": branches})
    in_uk = [not t.pval.is_known for t in op_ts]
    out_uk = _union([partial_eval_jaxpr(br, in_uk, False)[2] for br in branches])
    splits = [partial_eval_jaxpr(br, in_uk, out_uk) for br in branches]
    n_known_out = out_uk.count(False)
    res_slots = [list(known.out_avals[n_known_out:]) for known, _, _, _ in splits]
    known_branches = tuple(
        _with_zero_residuals(known, n_known_out, res_slots, i)
        for i, (known, _, _, _) in enumerate(splits)
    )
    unknown_branches = tuple(
        _using_slot(unknown, res_slots, i) for i, (_, unknown, _, _) in enumerate(splits)
    )
    known_ops = [t.pval.const for t in op_ts if t.pval.is_known]
    known_results = cond_p.bind(index_t.pval.const, *known_ops, branches=known_branches)
    known_outs = known_results[:n_known_out]
    residuals = [trace.pure(r) for r in known_results[n_known_out:]]
    unknown_ops = [t for t in op_ts if not t.pval.is_known]
    staged = trace.stage(
        cond_p, [index_t, *residuals, *unknown_ops], {"branches": unknown_branches}
    )
    known_it, staged_it = iter(known_outs), iter(staged)
    return [next(staged_it) if uk else trace.pure(next(known_it)) for uk in out_uk]


def _cond_transpose(cts, index, *operands, branches):
    assert not is_undefined_primal(index)
    linear = [is_undefined_primal(x) for x in operands]
    residuals = [x for x in operands if not is_undefined_primal(x)]
    cts = [instantiate_zeros(ct) for ct in cts]
    t_branches = tuple(transpose_jaxpr(br, linear) for br in branches)
    cts_lin = cond_p.bind(index, *residuals, *cts, branches=t_branches)
    it = iter(cts_lin)
    return [None] + [next(it) if lin else None for lin in linear]


def _cond_batch(axis_size, vals, dims, *, branches):
    index, *ops = vals
    index_dim, *op_dims = dims
    if index_dim is not_mapped:
        in_b = [d is not not_mapped for d in op_dims]
        out_b = _union([batch_jaxpr(br, axis_size, in_b, False)[1] for br in branches])
        new_branches = tuple(batch_jaxpr(br, axis_size, in_b, out_b)[0] for br in branches)
        moved = [
            batching.moveaxis(x, d, 0) if d is not not_mapped else x
            for x, d in zip(ops, op_dims, strict=True)
        ]
        outs = cond_p.bind(index, *moved, branches=new_branches)
        return outs, [0 if b else not_mapped for b in out_b]
    # A batched index: run every branch on the whole batch and select per example.
    moved = [batching.bdim_at_front(x, d, axis_size) for x, d in zip(ops, op_dims, strict=True)]
    index = batching.bdim_at_front(index, index_dim, axis_size)
    per_branch = [
        closed_call(batch_jaxpr(br, axis_size, [True] * len(ops), True)[0], *moved)
        for br in branches
    ]
    from fxgrad.lax import elementwise as ew
    from fxgrad.lax.shape import broadcast_in_dim

    n = len(branches)
    index = ew.convert_element_type(index, np.int32)
    index = ew.clamp(np.int32(0), index, np.int32(n - 1))
    outs = []
    for results in zip(*per_branch, strict=True):
        shape = get_aval(results[0]).shape
        which = broadcast_in_dim(index, shape, (0,))
        outs.append(ew.select_n_p.bind(which, *results))
    return outs, [0] * len(outs)


cond_p = define_primitive(
    "cond",
    impl=_cond_impl,
    abstract_eval=_cond_abstract_eval,
    jvp=_cond_jvp,
    transpose=_cond_transpose,
    batch=_cond_batch,
    kernel="control",
    multiple_results=True,
)
partial_eval_rules[cond_p] = _cond_partial_eval


# ---------------------------------------------------------------------------------------
# User API
# ---------------------------------------------------------------------------------------


def _index_value(x: Any, what: str) -> Any:
    aval = get_aval(x)
    if aval.shape != ():
        raise ControlFlowError(
            f"{what} must be a scalar, got an array of shape {aval.shape}. To choose per "
            "element, use fxgrad.numpy.where or lax.select_n."
        )
    return x


def _stage_branches(
    name: str, branches: Sequence[Callable], operands: tuple, branch_names: Sequence[str]
):
    flat_ops, in_tree = tree_flatten(operands)
    from fxgrad.array import to_value as asarray_value

    flat_ops = [asarray_value(x) for x in flat_ops]
    avals = [get_aval(x) for x in flat_ops]
    staged = [trace_fun(br, in_tree, avals, f"{name} branch {i}") for i, br in enumerate(branches)]
    closeds = [s[0] for s in staged]
    out_trees = [s[2] for s in staged]
    for i in range(1, len(branches)):
        check_same_types(
            f"lax.{name}",
            branch_names[0],
            branch_names[i],
            out_trees[0],
            out_trees[i],
            closeds[0].out_avals,
            closeds[i].out_avals,
            "Make every branch return the same pytree of arrays with the same shapes and "
            "dtypes (e.g. cast with .astype).",
        )
    joined, consts = join_consts(closeds, [s[1] for s in staged])
    return joined, consts, flat_ops, out_trees[0]


def switch(index: Any, branches: Sequence[Callable], *operands: Any, operand: Any = None):
    """Apply ``branches[index](*operands)``, clamping ``index`` into range (as JAX).

    Only the chosen branch runs. Under ``vmap`` with a batched index, every branch runs
    and the results are selected per example.
    """
    if operand is not None:
        operands = (*operands, operand)
    branches = list(branches)
    if not branches:
        raise ValueError("lax.switch requires at least one branch")
    _index_value(index, "lax.switch's index")
    names = [f"branch {i}" for i in range(len(branches))]
    joined, consts, flat_ops, out_tree = _stage_branches("switch", branches, operands, names)
    from fxgrad.lax import elementwise as ew

    index = ew.convert_element_type(index, np.int32)
    if len(branches) == 1:
        outs = closed_call(joined[0], *consts, *flat_ops)
    else:
        n = len(branches)
        index = ew.clamp(np.int32(0), index, np.int32(n - 1))
        outs = cond_p.bind(index, *consts, *flat_ops, branches=tuple(joined))
    return tree_unflatten(out_tree, outs)


_no_operand = object()


def cond(
    pred: Any, true_fun: Callable, false_fun: Callable, *operands: Any, operand: Any = _no_operand
) -> Any:
    """``true_fun(*operands)`` if ``pred`` else ``false_fun(*operands)``.

    Unlike Python's ``if``, works when ``pred`` is traced (under ``jit``/``vmap``).
    Both branches are traced; only the selected one runs. Gradients flow through the
    taken branch only, and stay finite even if the other branch is singular.

    Example:
      >>> from fxgrad import lax
      >>> lax.cond(True, lambda x: x + 1, lambda x: x - 1, 1.0)
      Array(2., dtype=float64, weak_type=True)
    """
    if operand is not _no_operand:
        operands = (*operands, operand)
    _index_value(pred, "lax.cond's predicate")
    pred_aval = get_aval(pred)
    if np.dtype(pred_aval.dtype).kind not in "biuf":
        raise ControlFlowError(
            f"lax.cond's predicate must be a boolean or number, got {pred_aval.str_short()}"
        )
    from fxgrad.lax import elementwise as ew

    if np.dtype(pred_aval.dtype) != np.bool_:
        pred = ew.ne(pred, np.zeros((), pred_aval.dtype))
    index = ew.convert_element_type(pred, np.int32)
    joined, consts, flat_ops, out_tree = _stage_branches(
        "cond", [false_fun, true_fun], operands, ["false_fun", "true_fun"]
    )
    outs = cond_p.bind(index, *consts, *flat_ops, branches=tuple(joined))
    return tree_unflatten(out_tree, outs)


cond_p.out_weak_types = lambda *, branches: [
    all(br.out_avals[i].weak_type for br in branches) for i in range(len(branches[0].out_avals))
]
