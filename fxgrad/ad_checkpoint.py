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
    """Recompute the primal part from the residual inputs, then transpose the rest."""
    from fxgrad.interpreters.jvp import instantiate_zeros
    from fxgrad.interpreters.partial_eval import partial_eval_jaxpr

    linear = [is_undefined_primal(x) for x in args]
    residuals = [x for x in args if not is_undefined_primal(x)]
    cts = [instantiate_zeros(ct) for ct in cts]
    known, unknown, _, num_res = partial_eval_jaxpr(jaxpr, linear, True)
    recomputed = closed_call(known, *residuals)[-num_res:] if num_res else []
    lin_flags = [False] * num_res + [True] * linear.count(True)
    t_closed = transpose_jaxpr(unknown, lin_flags)
    cts_lin = iter(closed_call(t_closed, *recomputed, *cts))
    return [next(cts_lin) if lin else None for lin in linear]


def _saveable_vars(jaxpr: Jaxpr, in_unknowns: Sequence[bool], policy: Callable) -> list[Var]:
    """Values computed from known inputs that the policy allows saving, found by walking
    back from what the unknown side of ``jaxpr`` reads (a saved value stops the walk)."""
    unknown: set[Var] = {v for v, uk in zip(jaxpr.in_binders, in_unknowns, strict=True) if uk}
    producer: dict[Var, JaxprEqn] = {}
    needed: list[Var] = []
    for eqn in jaxpr.eqns:
        if any(isinstance(x, Var) and x in unknown for x in eqn.inputs):
            unknown.update(eqn.out_binders)
            needed.extend(x for x in eqn.inputs if isinstance(x, Var) and x not in unknown)
        else:
            for v in eqn.out_binders:
                producer[v] = eqn
    needed.extend(x for x in jaxpr.outs if isinstance(x, Var) and x not in unknown)
    saved: list[Var] = []
    seen: set[Var] = set()
    while needed:
        v = needed.pop()
        if v in seen:
            continue
        seen.add(v)
        eqn = producer.get(v)
        if eqn is None:
            continue  # an input: always available
        if policy(eqn.primitive, eqn.params):
            saved.append(v)
            continue
        needed.extend(x for x in eqn.inputs if isinstance(x, Var))
    return saved


def _remat_partial_eval(trace, tracers, *, jaxpr, policy, prevent_cse):
    from fxgrad.interpreters.partial_eval import dce_jaxpr, partial_eval_jaxpr

    in_uk = [not t.pval.is_known for t in tracers]
    known, _, out_uk, num_res = partial_eval_jaxpr(jaxpr, in_uk, False)
    known_vals = [t.pval.const for t in tracers if t.pval.is_known]
    n_known_out = out_uk.count(False)
    j = jaxpr.jaxpr
    saved_vars = _saveable_vars(j, in_uk, policy)
    known_inputs = [v for v, uk in zip(j.in_binders, in_uk, strict=True) if not uk]
    # One jaxpr computes the known outputs and the values the policy saves.
    saving = dce_jaxpr(Jaxpr(tuple(known_inputs), j.eqns, tuple(saved_vars), 0))
    known_outs = closed_call(known, *known_vals)[:n_known_out]
    saved = closed_call(ClosedJaxpr(saving, ()), *known_vals) if saved_vars else []
    # The unknown side recomputes everything else from the inputs and the saved values.
    produced = set(saved_vars)
    eqns = tuple(e for e in j.eqns if not any(v in produced for v in e.out_binders))
    unknown_outs = tuple(x for x, uk in zip(j.outs, out_uk, strict=True) if uk)
    recompute = dce_jaxpr(Jaxpr((*saved_vars, *j.in_binders), eqns, unknown_outs, 0))
    inputs = [*(trace.pure(v) for v in saved), *tracers]
    staged = trace.stage(
        remat_p,
        inputs,
        {"jaxpr": ClosedJaxpr(recompute, ()), "policy": policy, "prevent_cse": prevent_cse},
    )
    del num_res
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
      Array(0.77864395, dtype=float64, weak_type=True)
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


remat_p.out_weak_types = lambda *, jaxpr, **_: [a.weak_type for a in jaxpr.out_avals]
