"""``while_loop``, ``fori_loop`` and ``map``.

``while_p(*cond_consts, *body_consts, *init, cond_jaxpr, body_jaxpr, cond_nconsts,
body_nconsts, max_steps)`` runs ``body`` while ``cond`` holds. Rules:

* JVP: the body carries tangents alongside the primals (a fixed point decides which).
* Reverse mode: the trip count is only known at run time, so the residuals of a
  ``while_loop`` cannot be laid out in advance. Without ``max_steps`` partial
  evaluation stages the whole loop (forward mode through ``linearize`` still works)
  and transposing it raises ``WhileLoopReverseModeError``. With ``max_steps=N`` the
  loop is differentiated as a ``scan`` of N masked steps (a step after the condition
  fails leaves the carry unchanged), whose residuals reverse mode saves — JAX cannot
  reverse-differentiate ``while_loop`` at all.
* Batching: with a batched predicate the loop runs until every example is done, and
  examples that are done keep their carry (``select_n``).

``fori_loop`` with concrete bounds is a ``scan`` (so it differentiates fully), else a
``while_loop``; ``map`` is a ``scan`` without a carry.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from fxgrad.core import Tracer, concrete_value, get_aval, tangent_aval
from fxgrad.errors import ControlFlowError, WhileLoopReverseModeError
from fxgrad.interpreters import batching
from fxgrad.interpreters.batching import batch_jaxpr, not_mapped
from fxgrad.interpreters.jvp import Zero, instantiate_zeros, jvp_jaxpr
from fxgrad.interpreters.partial_eval import (
    closed_call,
    partial_eval_jaxpr,
    partial_eval_rules,
    trace_to_jaxpr,
)
from fxgrad.lax._define import define_primitive
from fxgrad.lax.control_flow.common import (
    check_same_types,
    open_consts,
    pad_jaxpr,
    reorder_jaxpr,
    run_closed,
    trace_fun,
)
from fxgrad.lax.control_flow.scan import _fixpoint, _split, scan
from fxgrad.tree_util import tree_flatten, tree_structure, tree_unflatten

__all__ = ["fori_loop", "map", "while_loop", "while_p"]


def _while_impl(*args, cond_jaxpr, body_jaxpr, cond_nconsts, body_nconsts, max_steps):
    cond_consts, body_consts, carry = _split(args, cond_nconsts, body_nconsts)
    steps = 0
    while bool(run_closed(cond_jaxpr, [*cond_consts, *carry])[0]):
        if max_steps is not None and steps >= max_steps:
            break
        carry = run_closed(body_jaxpr, [*body_consts, *carry])
        steps += 1
    return [np.asarray(c) for c in carry]


def _while_abstract_eval(*avals, cond_jaxpr, body_jaxpr, cond_nconsts, body_nconsts, max_steps):
    return list(body_jaxpr.out_avals)


def _while_jvp(primals, tangents, *, cond_jaxpr, body_jaxpr, cond_nconsts, body_nconsts, max_steps):
    cond_consts, body_consts, init = _split(primals, cond_nconsts, body_nconsts)
    _, bc_t, init_t = _split(tangents, cond_nconsts, body_nconsts)
    bc_nz = [type(t) is not Zero for t in bc_t]
    init_nz = [type(t) is not Zero for t in init_t]
    n_carry = len(init)

    def step(carry_nz):
        return jvp_jaxpr(body_jaxpr, [*bc_nz, *carry_nz], False)[1]

    carry_nz = _fixpoint(step, init_nz)
    body_jvp, _ = jvp_jaxpr(body_jaxpr, [*bc_nz, *carry_nz], carry_nz)
    nbt, nct = sum(bc_nz), sum(carry_nz)
    nb = body_nconsts
    in_perm = [
        *range(nb),
        *range(nb + n_carry, nb + n_carry + nbt),
        *range(nb, nb + n_carry),
        *range(nb + n_carry + nbt, nb + n_carry + nbt + nct),
    ]
    body = reorder_jaxpr(body_jvp, in_perm, None)
    carry_t_avals = [
        tangent_aval(a) for a, z in zip(body_jaxpr.out_avals, carry_nz, strict=True) if z
    ]
    cond = pad_jaxpr(cond_jaxpr, [], carry_t_avals)
    bc_t = [t for t, z in zip(bc_t, bc_nz, strict=True) if z]
    init_t = [
        instantiate_zeros(t) if type(t) is Zero else t
        for t, z in zip(init_t, carry_nz, strict=True)
        if z
    ]
    outs = while_p.bind(
        *cond_consts,
        *body_consts,
        *bc_t,
        *init,
        *init_t,
        cond_jaxpr=cond,
        body_jaxpr=body,
        cond_nconsts=cond_nconsts,
        body_nconsts=nb + nbt,
        max_steps=max_steps,
    )
    carry_out, carry_t = outs[:n_carry], iter(outs[n_carry:])
    tangents_out = [
        next(carry_t) if z else Zero(tangent_aval(a))
        for z, a in zip(carry_nz, body_jaxpr.out_avals, strict=True)
    ]
    return carry_out, tangents_out


def _while_partial_eval(
    trace, tracers, *, cond_jaxpr, body_jaxpr, cond_nconsts, body_nconsts, max_steps
):
    params = dict(
        cond_jaxpr=cond_jaxpr,
        body_jaxpr=body_jaxpr,
        cond_nconsts=cond_nconsts,
        body_nconsts=body_nconsts,
        max_steps=max_steps,
    )
    if max_steps is not None:
        return _masked_scan(tracers, **params)
    return _while_split(trace, tracers, params)


def _while_split(trace, tracers, params):
    """Known carries by a loop run now; unknown ones by the whole loop, staged.

    The staged loop recomputes the known carries alongside (their per-iteration values
    cannot be saved without a bound); transposing it raises a clear error.
    """
    cond_jaxpr, body_jaxpr = params["cond_jaxpr"], params["body_jaxpr"]
    nc, nb = params["cond_nconsts"], params["body_nconsts"]
    cc, bc, init = _split(tracers, nc, nb)
    cc_uk = [not t.pval.is_known for t in cc]
    bc_uk = [not t.pval.is_known for t in bc]
    init_uk = [not t.pval.is_known for t in init]

    def step(carry_uk):
        return partial_eval_jaxpr(body_jaxpr, [*bc_uk, *carry_uk], False)[2]

    carry_uk = _fixpoint(step, init_uk)
    cond_uk = partial_eval_jaxpr(cond_jaxpr, [*cc_uk, *carry_uk], False)[2][0]
    staged = trace.stage(while_p, tracers, params)
    if cond_uk or all(carry_uk):
        return staged
    known_body, _, _, _ = partial_eval_jaxpr(body_jaxpr, [*bc_uk, *carry_uk], carry_uk)
    n_known = carry_uk.count(False)
    body_k = open_consts(
        trace_to_jaxpr(
            lambda *a: closed_call(known_body, *a)[:n_known],
            known_body.in_avals,
            name="while_known",
        )
    )
    cond_k, _, _, _ = partial_eval_jaxpr(cond_jaxpr, [*cc_uk, *carry_uk], False)
    cond_k = open_consts(
        trace_to_jaxpr(
            lambda *a: closed_call(cond_k, *a)[:1],
            cond_k.in_avals,
            name="while_known_cond",
        )
    )
    k_cc = [t.pval.const for t, u in zip(cc, cc_uk, strict=True) if not u]
    k_bc = [t.pval.const for t, u in zip(bc, bc_uk, strict=True) if not u]
    k_init = [t.pval.const for t, u in zip(init, carry_uk, strict=True) if not u]
    known_out = iter(
        while_p.bind(
            *k_cc,
            *k_bc,
            *k_init,
            cond_jaxpr=cond_k,
            body_jaxpr=body_k,
            cond_nconsts=len(k_cc),
            body_nconsts=len(k_bc),
            max_steps=None,
        )
    )
    return [s if u else trace.pure(next(known_out)) for s, u in zip(staged, carry_uk, strict=True)]


def _masked_scan(args, *, cond_jaxpr, body_jaxpr, cond_nconsts, body_nconsts, max_steps):
    """The loop as ``max_steps`` scan steps that stop changing the carry once done."""
    cond_consts, body_consts, init = _split(args, cond_nconsts, body_nconsts)

    def step(state, _):
        active, carry = state
        pred = closed_call(cond_jaxpr, *cond_consts, *carry)[0]
        from fxgrad.lax import elementwise as ew

        active = ew.bitwise_and(active, pred)
        new = closed_call(body_jaxpr, *body_consts, *carry)
        carry = [ew.select(active, n, c) for n, c in zip(new, carry, strict=True)]
        return (active, carry), None

    (_, carry), _ = scan(step, (np.bool_(True), list(init)), None, length=max_steps)
    return carry


def _while_transpose(cts, *args, **params):
    raise WhileLoopReverseModeError(
        "Reverse-mode differentiation (grad, vjp, jacrev) of lax.while_loop is only "
        "possible when the number of iterations is bounded: pass max_steps=N to "
        "while_loop (the loop is then differentiated as N masked steps), or use "
        "lax.fori_loop with static bounds or lax.scan. Forward mode (jvp, jacfwd) works "
        "without a bound."
    )


def _while_batch(
    axis_size, vals, dims, *, cond_jaxpr, body_jaxpr, cond_nconsts, body_nconsts, max_steps
):
    cc, bc, init = _split(vals, cond_nconsts, body_nconsts)
    cc_d, bc_d, init_d = _split(dims, cond_nconsts, body_nconsts)
    cc_b = [d is not not_mapped for d in cc_d]
    bc_b = [d is not not_mapped for d in bc_d]
    init_b = [d is not not_mapped for d in init_d]

    def step(carry_b):
        out_b = batch_jaxpr(body_jaxpr, axis_size, [*bc_b, *carry_b], False)[1]
        pred_b = batch_jaxpr(cond_jaxpr, axis_size, [*cc_b, *carry_b], False)[1][0]
        return [True] * len(carry_b) if pred_b else out_b

    carry_b = _fixpoint(step, init_b)
    pred_batched = batch_jaxpr(cond_jaxpr, axis_size, [*cc_b, *carry_b], False)[1][0]
    cc = [batching.moveaxis(x, d, 0) if b else x for x, d, b in zip(cc, cc_d, cc_b, strict=True)]
    bc = [batching.moveaxis(x, d, 0) if b else x for x, d, b in zip(bc, bc_d, bc_b, strict=True)]
    init = [
        batching.move_bdim(x, d, 0, axis_size) if b else x
        for x, d, b in zip(init, init_d, carry_b, strict=True)
    ]
    body_b = batch_jaxpr(body_jaxpr, axis_size, [*bc_b, *carry_b], carry_b)[0]
    cond_b = batch_jaxpr(cond_jaxpr, axis_size, [*cc_b, *carry_b], False)[0]
    params = dict(cond_nconsts=cond_nconsts, body_nconsts=body_nconsts, max_steps=max_steps)
    if not pred_batched:
        outs = while_p.bind(*cc, *bc, *init, cond_jaxpr=cond_b, body_jaxpr=body_b, **params)
        return outs, [0 if b else not_mapped for b in carry_b]
    cond_any, body_masked = _masked_bodies(cond_b, body_b, len(cc), len(bc))
    outs = _bind_masked(cc, bc, init, cond_any, body_masked, cond_nconsts, body_nconsts, max_steps)
    return outs, [0] * len(outs)


def _bind_masked(cc, bc, init, cond_any, body_masked, cond_nconsts, body_nconsts, max_steps):
    # The masked body needs the cond consts too: it re-evaluates the predicate per lane.
    return while_p.bind(
        *cc,
        *cc,
        *bc,
        *init,
        cond_jaxpr=cond_any,
        body_jaxpr=body_masked,
        cond_nconsts=cond_nconsts,
        body_nconsts=cond_nconsts + body_nconsts,
        max_steps=max_steps,
    )


def _masked_bodies(cond_b, body_b, n_cc, n_bc):
    """Cond: any lane active. Body: step active lanes only (batched predicate)."""
    from fxgrad.lax import elementwise as ew
    from fxgrad.lax.reduction import reduce_max
    from fxgrad.lax.shape import broadcast_in_dim

    def any_active(*args):
        pred = closed_call(cond_b, *args)[0]
        return [ew.gt(reduce_max(ew.convert_element_type(pred, np.int32), (0,)), np.int32(0))]

    def masked_body(*args):
        cc, bc, carry = _split(args, n_cc, n_bc)
        pred = closed_call(cond_b, *cc, *carry)[0]
        new = closed_call(body_b, *bc, *carry)
        out = []
        for n, c in zip(new, carry, strict=True):
            which = broadcast_in_dim(pred, get_aval(c).shape, (0,))
            out.append(ew.select(which, n, c))
        return out

    cond_avals = cond_b.in_avals
    body_avals = body_b.in_avals
    cond_any = open_consts(trace_to_jaxpr(any_active, cond_avals, name="while_any"))
    carry_avals = body_avals[n_bc:]
    masked = open_consts(
        trace_to_jaxpr(
            masked_body,
            [*cond_avals[:n_cc], *body_avals[:n_bc], *carry_avals],
            name="while_masked",
        )
    )
    return cond_any, masked


while_p = define_primitive(
    "while",
    impl=_while_impl,
    abstract_eval=_while_abstract_eval,
    jvp=_while_jvp,
    transpose=_while_transpose,
    batch=_while_batch,
    kernel="control",
    multiple_results=True,
)
partial_eval_rules[while_p] = _while_partial_eval


# ---------------------------------------------------------------------------------------
# User API
# ---------------------------------------------------------------------------------------


def while_loop(
    cond_fun: Callable, body_fun: Callable, init_val: Any, *, max_steps: int | None = None
) -> Any:
    """Run ``val = body_fun(val)`` while ``cond_fun(val)`` is true; return ``val``.

    Equivalent to the Python loop ``while cond_fun(val): val = body_fun(val)``, but
    staged as one primitive that works on traced values.

    Args:
      cond_fun: ``val -> scalar bool``.
      body_fun: ``val -> val`` (same structure, shapes and dtypes).
      init_val: the initial value (a pytree of arrays).
      max_steps: an upper bound on the number of iterations (beyond JAX). With it,
        reverse-mode differentiation works (a masked, bounded loop); the loop also stops
        after ``max_steps`` iterations. Without it, ``grad`` raises
        ``WhileLoopReverseModeError`` (forward mode works).
    """
    from fxgrad.array import to_value as asarray_value

    if max_steps is not None:
        max_steps = int(max_steps)
        if max_steps < 0:
            raise ValueError(f"lax.while_loop: max_steps must be >= 0, got {max_steps}")
    init_flat, in_tree = tree_flatten(init_val)
    init_flat = [asarray_value(x) for x in init_flat]
    avals = [get_aval(x) for x in init_flat]
    tree = tree_structure((init_val,))
    cond, cond_consts, cond_tree = trace_fun(cond_fun, tree, avals, "lax.while_loop cond_fun")
    pred_avals = cond.out_avals
    if (
        len(pred_avals) != 1
        or pred_avals[0].shape != ()
        or np.dtype(pred_avals[0].dtype) != np.bool_
    ):
        shown = ", ".join(a.str_short() for a in pred_avals)
        raise ControlFlowError(
            f"lax.while_loop: cond_fun must return a scalar boolean, got ({shown}). Reduce "
            "it with .all()/.any() or compare to get a bool scalar."
        )
    body, body_consts, body_tree = trace_fun(body_fun, tree, avals, "lax.while_loop body_fun")
    check_same_types(
        "lax.while_loop",
        "init_val",
        "the value returned by body_fun",
        in_tree,
        body_tree,
        avals,
        body.out_avals,
        "body_fun must return a value with exactly the structure, shapes and dtypes of its input.",
    )
    outs = while_p.bind(
        *cond_consts,
        *body_consts,
        *init_flat,
        cond_jaxpr=cond,
        body_jaxpr=body,
        cond_nconsts=len(cond_consts),
        body_nconsts=len(body_consts),
        max_steps=max_steps,
    )
    return tree_unflatten(in_tree, outs)


def _static_int(x: Any) -> int | None:
    if isinstance(x, (int, np.integer)):
        return int(x)
    value = concrete_value(x) if isinstance(x, Tracer) else x
    if value is None:
        return None
    try:
        arr = np.asarray(value)
    except Exception:  # noqa: BLE001 - any failure means "not concrete"
        return None
    if arr.shape == () and arr.dtype.kind in "iu":
        return int(arr)
    return None


def fori_loop(
    lower: Any, upper: Any, body_fun: Callable, init_val: Any, *, unroll: int | bool | None = None
) -> Any:
    """``for i in range(lower, upper): val = body_fun(i, val)``; returns ``val``.

    With concrete (Python int) bounds this is a ``scan`` and differentiates in both
    modes; with traced bounds it is a ``while_loop`` (forward-mode only, as in JAX).
    """
    lo, hi = _static_int(lower), _static_int(upper)
    if lo is not None and hi is not None:
        dtype = (
            np.result_type(np.asarray(lower).dtype, np.asarray(upper).dtype)
            if not (isinstance(lower, int) and isinstance(upper, int))
            else np.dtype(np.int64)
        )
        length = max(hi - lo, 0)

        def step(state, _):
            i, val = state
            return (i + np.asarray(1, dtype), body_fun(i, val)), None

        (_, val), _ = scan(step, (np.asarray(lo, dtype), init_val), None, length=length)
        return val
    from fxgrad.array import to_value as asarray_value
    from fxgrad.lax import elementwise as ew

    lower, upper = asarray_value(lower), asarray_value(upper)
    dtype = np.result_type(get_aval(lower).dtype, get_aval(upper).dtype)
    lower = ew.convert_element_type(lower, dtype)
    upper = ew.convert_element_type(upper, dtype)

    def cond(state):
        return ew.lt(state[0], state[1])

    def body(state):
        i, hi_, val = state
        return (ew.add(i, np.asarray(1, dtype)), hi_, body_fun(i, val))

    return while_loop(cond, body, (lower, upper, init_val))[2]


def map(f: Callable, xs: Any, *, batch_size: int | None = None) -> Any:  # noqa: A001
    """``stack([f(x) for x in xs])`` over the leading axis, as a ``scan``.

    ``batch_size`` is accepted for JAX compatibility; the result is the same.
    """
    _, ys = scan(lambda carry, x: (carry, f(x)), (), xs)
    return ys


while_p.out_weak_types = lambda *, body_jaxpr, **_: [a.weak_type for a in body_jaxpr.out_avals]
