"""Rematerialisation: ``checkpoint`` (``remat``), saving policies, ``checkpoint_name``.

``checkpoint(f)`` binds ``f`` as the ``remat`` call primitive. Under reverse mode the
partial-evaluation rule splits its (linearized) body so that the forward pass saves
only what the policy allows — by default only the inputs of ``f`` — and the backward
pass *recomputes* everything else from them: the linear part is staged together with
the primal equations it needs, which the transpose evaluates forward before it runs
backwards. This trades compute for memory (Griewank & Walther, "Evaluating
Derivatives", ch. 12; with ``scan`` this gives the sqrt(N)-memory schedule).

Policies decide, per equation, whether its outputs may be saved:
``nothing_saveable`` (default), ``everything_saveable``, ``dots_saveable`` (results of
``dot_general``), ``save_only_these_names(*names)`` (values tagged with
``checkpoint_name``). ``print_saved_residuals(f, *args)`` lists what reverse mode keeps.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

from fxgrad.core import get_aval
from fxgrad.interpreters.batching import batch_jaxpr
from fxgrad.interpreters.jvp import Zero, jvp_jaxpr
from fxgrad.interpreters.partial_eval import (
    closed_call,
    partial_eval_rules,
    trace_to_jaxpr,
)
from fxgrad.interpreters.transpose import is_undefined_primal, transpose_jaxpr
from fxgrad.jaxpr import ClosedJaxpr, Jaxpr, JaxprEqn, Literal, Var
from fxgrad.lax._define import define_primitive
from fxgrad.lax.control_flow.common import run_closed, trace_fun
from fxgrad.tree_util import tree_flatten, tree_unflatten

__all__ = [
    "checkpoint",
    "checkpoint_name",
    "checkpoint_policies",
    "print_saved_residuals",
    "remat",
    "saved_residuals",
]


# ---------------------------------------------------------------------------------------
# Policies
# ---------------------------------------------------------------------------------------


def nothing_saveable(prim: Any, params: dict) -> bool:
    return False


def everything_saveable(prim: Any, params: dict) -> bool:
    return True


def dots_saveable(prim: Any, params: dict) -> bool:
    return prim.name == "dot_general"


def save_only_these_names(*names: str) -> Callable[[Any, dict], bool]:
    wanted = set(names)

    def policy(prim: Any, params: dict) -> bool:
        return prim.name == "name" and params.get("name") in wanted

    return policy


class checkpoint_policies:  # noqa: N801 - JAX's namespace name
    """The saving policies, under JAX's names."""

    nothing_saveable = staticmethod(nothing_saveable)
    everything_saveable = staticmethod(everything_saveable)
    dots_saveable = staticmethod(dots_saveable)
    checkpoint_dots = staticmethod(dots_saveable)
    save_only_these_names = staticmethod(save_only_these_names)


# ---------------------------------------------------------------------------------------
# checkpoint_name: an identity that tags a value
# ---------------------------------------------------------------------------------------


def _name_jvp(primals, tangents, *, name):
    (x,), (t,) = primals, tangents
    return name_p.bind(x, name=name), t


def _name_transpose(ct, x, *, name):
    return [ct]


def _name_batch(axis_size, vals, dims, *, name):
    return name_p.bind(vals[0], name=name), dims[0]


name_p = define_primitive(
    "name",
    impl=lambda x, *, name: x,
    abstract_eval=lambda x, *, name: x,
    jvp=_name_jvp,
    transpose=_name_transpose,
    batch=_name_batch,
    kernel="elementwise",
    kernel_op="copy",
)


def checkpoint_name(x: Any, name: str) -> Any:
    """Tag every leaf of ``x`` with ``name`` for ``save_only_these_names`` policies."""
    from fxgrad.tree_util import tree_map

    return tree_map(lambda leaf: name_p.bind(leaf, name=str(name)), x)


# ---------------------------------------------------------------------------------------
# The remat primitive
# ---------------------------------------------------------------------------------------


def _remat_impl(*args, jaxpr, policy, prevent_cse):
    return run_closed(jaxpr, args)


def _remat_abstract_eval(*avals, jaxpr, policy, prevent_cse):
    return list(jaxpr.out_avals)


def _remat_jvp(primals, tangents, *, jaxpr, policy, prevent_cse):
    nonzeros = [type(t) is not Zero for t in tangents]
    jvp_closed, out_nz = jvp_jaxpr(jaxpr, nonzeros, False)
    nz_tangents = [t for t in tangents if type(t) is not Zero]
    outs = remat_p.bind(
        *primals, *nz_tangents, jaxpr=jvp_closed, policy=policy, prevent_cse=prevent_cse
    )
    n = len(jaxpr.out_avals)
    it = iter(outs[n:])
    from fxgrad.core import tangent_aval

    tangents_out = [
        next(it) if nz else Zero(tangent_aval(a))
        for a, nz in zip(jaxpr.out_avals, out_nz, strict=True)
    ]
    return outs[:n], tangents_out


def _remat_batch(axis_size, vals, dims, *, jaxpr, policy, prevent_cse):
    from fxgrad.interpreters import batching

    in_b = [d is not batching.not_mapped for d in dims]
    batched, out_b = batch_jaxpr(jaxpr, axis_size, in_b, False)
    vals = [
        batching.moveaxis(x, d, 0) if b else x for x, d, b in zip(vals, dims, in_b, strict=True)
    ]
    outs = remat_p.bind(*vals, jaxpr=batched, policy=policy, prevent_cse=prevent_cse)
    return outs, [0 if b else batching.not_mapped for b in out_b]


def _remat_transpose(cts, *args, jaxpr, policy, prevent_cse):
    linear = [is_undefined_primal(x) for x in args]
    residuals = [x for x in args if not is_undefined_primal(x)]
    from fxgrad.interpreters.jvp import instantiate_zeros

    cts = [instantiate_zeros(ct) for ct in cts]
    t_closed = transpose_jaxpr(jaxpr, linear)
    cts_lin = iter(closed_call(t_closed, *residuals, *cts))
    return [next(cts_lin) if lin else None for lin in linear]


def _split_for_remat(jaxpr: Jaxpr, in_unknowns: Sequence[bool], policy: Callable):
    """Split ``jaxpr`` into a known jaxpr and an unknown one that recomputes.

    Returns ``(known_eqns_outs, saved_vars, unknown_eqns)`` pieces as a tuple
    ``(known_jaxpr, unknown_jaxpr, out_unknowns, num_saved)`` in the same convention
    as ``partial_eval_jaxpr``: ``known`` maps known inputs to known outputs followed by
    the saved values; ``unknown`` maps the saved values then the unknown inputs to the
    unknown outputs, recomputing the known equations it needs.
    """
    unknown: set[Var] = {v for v, uk in zip(jaxpr.in_binders, in_unknowns, strict=True) if uk}
    known_eqns, unknown_eqns = [], []
    for eqn in jaxpr.eqns:
        if any(isinstance(x, Var) and x in unknown for x in eqn.inputs):
            unknown_eqns.append(eqn)
            unknown.update(eqn.out_binders)
        else:
            known_eqns.append(eqn)
    out_unknowns = [isinstance(x, Var) and x in unknown for x in jaxpr.outs]
    known_inputs = [v for v, uk in zip(jaxpr.in_binders, in_unknowns, strict=True) if not uk]
    # Values the unknown side needs from the known side.
    needed = _free_vars(
        unknown_eqns, [x for x, uk in zip(jaxpr.outs, out_unknowns, strict=True) if uk], unknown
    )
    producer = {v: e for e in known_eqns for v in e.out_binders}
    saved: list[Var] = []
    recompute: list[JaxprEqn] = []
    seen: set[Var] = set()
    stack = list(needed)
    while stack:
        v = stack.pop()
        if v in seen:
            continue
        seen.add(v)
        eqn = producer.get(v)
        if eqn is None or policy(eqn.primitive, eqn.params):
            saved.append(v)  # an input of the jaxpr, or allowed by the policy
            continue
        if eqn not in recompute:
            recompute.append(eqn)
        stack.extend(x for x in eqn.inputs if isinstance(x, Var))
    recompute = [e for e in known_eqns if e in recompute]  # keep program order
    known_outs = [x for x, uk in zip(jaxpr.outs, out_unknowns, strict=True) if not uk]
    known = Jaxpr(tuple(known_inputs), tuple(known_eqns), (*known_outs, *saved), 0)
    unknown_inputs = [v for v, uk in zip(jaxpr.in_binders, in_unknowns, strict=True) if uk]
    unknown_outs = [x for x, uk in zip(jaxpr.outs, out_unknowns, strict=True) if uk]
    unknown_jaxpr = Jaxpr(
        (*saved, *unknown_inputs), (*recompute, *unknown_eqns), tuple(unknown_outs), 0
    )
    from fxgrad.interpreters.partial_eval import dce_jaxpr

    known = dce_jaxpr(known)
    unknown_jaxpr = dce_jaxpr(unknown_jaxpr)
    return ClosedJaxpr(known, ()), ClosedJaxpr(unknown_jaxpr, ()), out_unknowns, len(saved)


def _free_vars(eqns: Sequence[JaxprEqn], outs: Sequence[Any], bound: set[Var]) -> list[Var]:
    defined = set(bound)
    free: list[Var] = []
    for eqn in eqns:
        for x in eqn.inputs:
            if isinstance(x, Var) and x not in defined and x not in free:
                free.append(x)
        defined.update(eqn.out_binders)
    for x in outs:
        if isinstance(x, Var) and x not in defined and x not in free:
            free.append(x)
    return free


def _remat_partial_eval(trace, tracers, *, jaxpr, policy, prevent_cse):
    in_uk = [not t.pval.is_known for t in tracers]
    known, unknown, out_uk, num_saved = _split_for_remat(jaxpr.jaxpr, in_uk, policy)
    known_vals = [t.pval.const for t in tracers if t.pval.is_known]
    known_results = closed_call(known, *known_vals)
    n_known_out = out_uk.count(False)
    known_outs = known_results[:n_known_out]
    saved = [trace.pure(v) for v in known_results[n_known_out:]]
    unknown_in = [t for t in tracers if not t.pval.is_known]
    staged = trace.stage(
        remat_p,
        [*saved, *unknown_in],
        {"jaxpr": unknown, "policy": policy, "prevent_cse": prevent_cse},
    )
    k_it, u_it = iter(known_outs), iter(staged)
    return [next(u_it) if uk else trace.pure(next(k_it)) for uk in out_uk]


remat_p = define_primitive(
    "checkpoint",
    impl=_remat_impl,
    abstract_eval=_remat_abstract_eval,
    jvp=_remat_jvp,
    transpose=_remat_transpose,
    batch=_remat_batch,
    kernel="call",
    multiple_results=True,
)
partial_eval_rules[remat_p] = _remat_partial_eval


def checkpoint(
    fun: Callable,
    *,
    prevent_cse: bool = True,
    policy: Callable | None = None,
    static_argnums: int | Sequence[int] = (),
) -> Callable:
    """Make ``fun`` recompute its intermediates in the backward pass instead of saving them.

    Args:
      fun: the function to rematerialise.
      prevent_cse: accepted for JAX compatibility.
      policy: which intermediates may still be saved (see ``checkpoint_policies``);
        default: none (only the inputs of ``fun``).
      static_argnums: arguments that are Python values, not arrays.

    Example:
      >>> import fxgrad, fxgrad.numpy as fnp
      >>> f = fxgrad.checkpoint(lambda x: fnp.sin(fnp.sin(x)))
      >>> fxgrad.grad(f)(0.5)
      Array(0.77015115, dtype=float64, weak_type=True)
    """
    policy = policy or nothing_saveable
    static = (static_argnums,) if isinstance(static_argnums, int) else tuple(static_argnums)

    @functools.wraps(fun)
    def remat_fun(*args: Any) -> Any:
        static_vals = {i: args[i] for i in static}
        dyn = [a for i, a in enumerate(args) if i not in static]
        from fxgrad.numpy._util import asarray_value

        flat, in_tree = tree_flatten(tuple(dyn))
        flat = [asarray_value(x) for x in flat]

        def fun_of_dyn(*dyn_args):
            it = iter(dyn_args)
            full = [
                static_vals[i] if i in static_vals else next(it)
                for i in range(len(dyn_args) + len(static_vals))
            ]
            return fun(*full)

        closed, consts, out_tree = trace_fun(
            fun_of_dyn, in_tree, [get_aval(x) for x in flat], getattr(fun, "__name__", "f")
        )
        outs = remat_p.bind(
            *consts, *flat, jaxpr=closed, policy=policy, prevent_cse=bool(prevent_cse)
        )
        return tree_unflatten(out_tree, outs)

    return remat_fun


remat = checkpoint


# ---------------------------------------------------------------------------------------
# Inspecting what reverse mode saves
# ---------------------------------------------------------------------------------------


def saved_residuals(fun: Callable, *args: Any) -> list[tuple[Any, str]]:
    """``(ShapedArray, description)`` for each value ``vjp(fun, *args)`` keeps."""
    from fxgrad.interpreters.partial_eval import linearize_flat
    from fxgrad.numpy._util import asarray_value

    flat, in_tree = tree_flatten(args)
    flat = [asarray_value(x) for x in flat]
    avals = [get_aval(x) for x in flat]
    n_res: list[int] = []

    def stage(*flat_args):
        def flat_fun(*a):
            out = fun(*tree_unflatten(in_tree, a))
            return tree_flatten(out)[0]

        _, _, residuals = linearize_flat(flat_fun, flat_args)
        n_res.append(len(residuals))
        return residuals

    closed = trace_to_jaxpr(stage, avals, name="saved_residuals")
    jaxpr = closed.jaxpr
    producer = {v: e for e in jaxpr.eqns for v in e.out_binders}
    invars = list(jaxpr.invars)
    results = []
    for x in jaxpr.outs:
        aval = x.aval
        if isinstance(x, Literal):
            results.append((aval, "a literal constant"))
        elif x in invars:
            results.append((aval, f"from the argument at flat index {invars.index(x)}"))
        elif x in jaxpr.constvars:
            results.append((aval, "a constant"))
        else:
            eqn = producer[x]
            results.append((aval, f"output of {eqn.primitive.name}"))
    return results


def print_saved_residuals(fun: Callable, *args: Any) -> None:
    """Print the shape, dtype and origin of each value reverse mode saves for ``fun``."""
    for aval, description in saved_residuals(fun, *args):
        print(f"{aval.str_short():<16} {description}")
