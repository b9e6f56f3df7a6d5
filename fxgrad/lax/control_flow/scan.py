"""``scan``: a loop carrying state and mapping over a leading axis, as one primitive.

``scan_p(*consts, *init, *xs, jaxpr, num_consts, num_carry, length, reverse)`` runs
``carry, y = body(consts, carry, x)`` for each slice ``x`` of ``xs`` along axis 0 and
stacks the ``y``s. Rules:

* JVP: the body is replaced by its JVP; which carry tangents are nonzero is found by
  iterating to a fixed point.
* Partial evaluation (``linearize``): the body splits into a known body, run now by a
  scan that also stacks each iteration's residuals as extra outputs, and an unknown
  (linear) body staged as a second scan that reads the stacked residuals as inputs.
  This is where reverse mode saves per-iteration residuals.
* Transpose: a scan in the opposite direction over the transposed body; cotangents of
  the constants are accumulated in the carry.
* Batching: consts are batched at axis 0, carries at 0 (to a fixed point), ``xs`` and
  ``ys`` at axis 1 (axis 0 is the scanned one).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from fxgrad.core import ShapedArray, get_aval, tangent_aval
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
from fxgrad.jaxpr import ClosedJaxpr, Jaxpr, Var
from fxgrad.lax._define import define_primitive
from fxgrad.lax.control_flow.common import (
    check_same_types,
    open_consts,
    run_closed,
    trace_fun,
)
from fxgrad.tree_util import tree_flatten, tree_structure, tree_unflatten

__all__ = ["scan", "scan_p"]


def _split(seq: Sequence[Any], *sizes: int) -> list[list[Any]]:
    out, start = [], 0
    for n in sizes:
        out.append(list(seq[start : start + n]))
        start += n
    out.append(list(seq[start:]))
    return out


def _scan_impl(*args, jaxpr, num_consts, num_carry, length, reverse):
    consts, carry, xs = _split(args, num_consts, num_carry)
    xs = [np.asarray(x) for x in xs]
    n_ys = len(jaxpr.out_avals) - num_carry
    ys_steps: list[list[Any]] = [[] for _ in range(n_ys)]
    order = range(length - 1, -1, -1) if reverse else range(length)
    for i in order:
        outs = run_closed(jaxpr, [*consts, *carry, *(x[i] for x in xs)])
        carry = outs[:num_carry]
        for k, y in enumerate(outs[num_carry:]):
            ys_steps[k].append(y)
    ys = []
    for k, aval in enumerate(jaxpr.out_avals[num_carry:]):
        steps = ys_steps[k][::-1] if reverse else ys_steps[k]
        ys.append(np.stack(steps) if steps else np.zeros((0, *aval.shape), aval.dtype))
    return [*(np.asarray(c) for c in carry), *ys]


def _scan_abstract_eval(*avals, jaxpr, num_consts, num_carry, length, reverse):
    carry_avals = jaxpr.out_avals[:num_carry]
    y_avals = [
        ShapedArray((length, *a.shape), a.dtype, a.weak_type) for a in jaxpr.out_avals[num_carry:]
    ]
    return [*carry_avals, *y_avals]


def _fixpoint(step: Callable[[list[bool]], list[bool]], init: list[bool]) -> list[bool]:
    """Iterate ``flags = flags | step(flags)`` on the carry flags until stable."""
    flags = list(init)
    for _ in range(len(flags) + 1):
        new = [a or b for a, b in zip(flags, step(flags), strict=True)]
        if new == flags:
            return flags
        flags = new
    return flags


def _scan_jvp(primals, tangents, *, jaxpr, num_consts, num_carry, length, reverse):
    n_xs = len(primals) - num_consts - num_carry
    nz = [type(t) is not Zero for t in tangents]
    const_nz, init_nz, xs_nz = _split(nz, num_consts, num_carry)

    def step(carry_nz):
        out_nz = jvp_jaxpr(jaxpr, [*const_nz, *carry_nz, *xs_nz], False)[1]
        return out_nz[:num_carry]

    carry_nz = _fixpoint(step, init_nz)
    n_ys = len(jaxpr.out_avals) - num_carry
    jvp_body, out_nz = jvp_jaxpr(
        jaxpr, [*const_nz, *carry_nz, *xs_nz], [*carry_nz, *([False] * n_ys)]
    )
    ys_nz = out_nz[num_carry:]
    # jvp_body: (consts, carry, xs, const_t, carry_t, xs_t) -> (carry, ys, carry_t, ys_t);
    # scan needs (consts, const_t, carry, carry_t, xs, xs_t) -> (carry, carry_t, ys, ys_t).
    nct, ncat, nxt = sum(const_nz), sum(carry_nz), sum(xs_nz)
    n_in = num_consts + num_carry + n_xs
    c0, ca0, x0 = 0, num_consts, num_consts + num_carry
    ct0, cat0, xt0 = n_in, n_in + nct, n_in + nct + ncat
    in_perm = [
        *range(c0, c0 + num_consts),
        *range(ct0, ct0 + nct),
        *range(ca0, ca0 + num_carry),
        *range(cat0, cat0 + ncat),
        *range(x0, x0 + n_xs),
        *range(xt0, xt0 + nxt),
    ]
    nyt = sum(ys_nz)
    out_perm = [
        *range(num_carry),
        *range(num_carry + n_ys, num_carry + n_ys + ncat),
        *range(num_carry, num_carry + n_ys),
        *range(num_carry + n_ys + ncat, num_carry + n_ys + ncat + nyt),
    ]
    from fxgrad.lax.control_flow.common import reorder_jaxpr

    body = reorder_jaxpr(jvp_body, in_perm, out_perm)
    consts, init, xs = _split(primals, num_consts, num_carry)
    const_t, init_t, xs_t = _split(tangents, num_consts, num_carry)
    const_t = [t for t, z in zip(const_t, const_nz, strict=True) if z]
    init_t = [instantiate_zeros(t) if z else None for t, z in zip(init_t, carry_nz, strict=True)]
    init_t = [
        _zeros_like_tangent(a) if t is None or type(t) is Zero else t
        for t, a, z in zip(init_t, init, carry_nz, strict=True)
        if z
    ]
    xs_t = [t for t, z in zip(xs_t, xs_nz, strict=True) if z]
    outs = scan_p.bind(
        *consts,
        *const_t,
        *init,
        *init_t,
        *xs,
        *xs_t,
        jaxpr=body,
        num_consts=num_consts + nct,
        num_carry=num_carry + ncat,
        length=length,
        reverse=reverse,
    )
    carry_out, carry_t_out, ys, ys_t = _split(outs, num_carry, ncat, n_ys)
    carry_t_it, ys_t_it = iter(carry_t_out), iter(ys_t)
    out_avals = _scan_abstract_eval(
        *(get_aval(p) for p in primals),
        jaxpr=jaxpr,
        num_consts=num_consts,
        num_carry=num_carry,
        length=length,
        reverse=reverse,
    )
    tangents_out = [
        next(carry_t_it) if z else Zero(tangent_aval(a))
        for z, a in zip(carry_nz, out_avals[:num_carry], strict=True)
    ] + [
        next(ys_t_it) if z else Zero(tangent_aval(a))
        for z, a in zip(ys_nz, out_avals[num_carry:], strict=True)
    ]
    return [*carry_out, *ys], tangents_out


def _zeros_like_tangent(x: Any) -> Any:
    return array_ops.zeros(tangent_aval(get_aval(x)))


def _forward_input_residuals(
    known: ClosedJaxpr,
    num_res: int,
    const_uk: list[bool],
    carry_uk: list[bool],
    xs_uk: list[bool],
) -> tuple[ClosedJaxpr, list[tuple[str, int]]]:
    """Residuals of the known body that are its own const or xs inputs need not be stacked
    per step: the unknown scan reads the outer value (a const as a const: a weight matrix
    ``W`` is not copied ``length`` times; an xs as its xs). Returns the known body without
    those outputs and, per residual, ``("const", i)``/``("xs", i)`` (known const/xs ``i``)
    or ``("res", j)`` (the known scan's ``j``-th remaining residual)."""
    if num_res == 0:
        return known, []
    jaxpr = known.jaxpr
    n_kc, n_kcarry = const_uk.count(False), carry_uk.count(False)
    invars = list(jaxpr.invars)
    const_vars = {v: i for i, v in enumerate(invars[:n_kc])}
    xs_vars = {v: i for i, v in enumerate(invars[n_kc + n_kcarry :])}
    n_kept = len(jaxpr.outs) - num_res
    sources, kept = [], list(range(n_kept))
    for k, out in enumerate(jaxpr.outs[n_kept:]):
        if isinstance(out, Var) and out in const_vars:
            sources.append(("const", const_vars[out]))
        elif isinstance(out, Var) and out in xs_vars:
            sources.append(("xs", xs_vars[out]))
        else:
            sources.append(("res", len(kept) - n_kept))
            kept.append(n_kept + k)
    if len(kept) == len(jaxpr.outs):
        return known, sources
    body = Jaxpr(jaxpr.in_binders, jaxpr.eqns, tuple(jaxpr.outs[i] for i in kept), jaxpr.num_consts)
    return ClosedJaxpr(body, known.consts), sources


def _scan_partial_eval(trace, tracers, *, jaxpr, num_consts, num_carry, length, reverse):
    n_xs = len(tracers) - num_consts - num_carry
    n_ys = len(jaxpr.out_avals) - num_carry
    uk = [not t.pval.is_known for t in tracers]
    const_uk, init_uk, xs_uk = _split(uk, num_consts, num_carry)

    def step(carry_uk):
        return partial_eval_jaxpr(jaxpr, [*const_uk, *carry_uk, *xs_uk], False)[2][:num_carry]

    carry_uk = _fixpoint(step, init_uk)
    known, unknown, out_uk, num_res = partial_eval_jaxpr(
        jaxpr, [*const_uk, *carry_uk, *xs_uk], [*carry_uk, *([False] * n_ys)]
    )
    ys_uk = out_uk[num_carry:]
    known, sources = _forward_input_residuals(known, num_res, const_uk, carry_uk, xs_uk)
    consts, init, xs = _split(tracers, num_consts, num_carry)
    # Known scan: (known consts, known carry, known xs) -> (known carry, known ys, res).
    k_consts = [t.pval.const for t, u in zip(consts, const_uk, strict=True) if not u]
    k_init = [t.pval.const for t, u in zip(init, carry_uk, strict=True) if not u]
    k_xs = [t.pval.const for t, u in zip(xs, xs_uk, strict=True) if not u]
    n_k_carry = carry_uk.count(False)
    n_k_ys = ys_uk.count(False)
    known_outs = scan_p.bind(
        *k_consts,
        *k_init,
        *k_xs,
        jaxpr=known,
        num_consts=len(k_consts),
        num_carry=n_k_carry,
        length=length,
        reverse=reverse,
    )
    k_carry_out, k_ys, residuals = _split(known_outs, n_k_carry, n_k_ys)
    # Unknown scan: inputs (unknown consts, invariant residuals, unknown carry, per-step
    # residuals, unknown xs); its body reads residuals first, then the unknown inputs.
    n_u_consts = const_uk.count(True)
    n_u_carry = carry_uk.count(True)
    n_u_xs = xs_uk.count(True)
    invariant, per_step = [], []  # (body input index, outer value)
    for i, source in enumerate(sources):
        kind, j = source
        if kind == "const":
            invariant.append((i, trace.pure(k_consts[j])))
        else:
            outer = k_xs[j] if kind == "xs" else residuals[j]
            per_step.append((i, trace.pure(outer)))
    from fxgrad.lax.control_flow.common import reorder_jaxpr

    first_u = num_res + n_u_consts
    in_perm = [
        *range(num_res, first_u),
        *(i for i, _ in invariant),
        *range(first_u, first_u + n_u_carry),
        *(i for i, _ in per_step),
        *range(first_u + n_u_carry, first_u + n_u_carry + n_u_xs),
    ]
    unknown_body = reorder_jaxpr(unknown, in_perm, None)
    u_consts = [t for t, u in zip(consts, const_uk, strict=True) if u]
    u_init = [
        t if u0 else trace.pure(t.pval.const)
        for t, u, u0 in zip(init, carry_uk, init_uk, strict=True)
        if u
    ]
    u_xs = [t for t, u in zip(xs, xs_uk, strict=True) if u]
    staged = trace.stage(
        scan_p,
        [*u_consts, *(v for _, v in invariant), *u_init, *(v for _, v in per_step), *u_xs],
        {
            "jaxpr": unknown_body,
            "num_consts": n_u_consts + len(invariant),
            "num_carry": n_u_carry,
            "length": length,
            "reverse": reverse,
        },
    )
    u_carry_out, u_ys = staged[:n_u_carry], staged[n_u_carry:]
    del n_xs
    kc, uc = iter(k_carry_out), iter(u_carry_out)
    ky, uy = iter(k_ys), iter(u_ys)
    carry_out = [next(uc) if u else trace.pure(next(kc)) for u in carry_uk]
    ys_out = [next(uy) if u else trace.pure(next(ky)) for u in ys_uk]
    return [*carry_out, *ys_out]


def _scan_transpose(cts, *args, jaxpr, num_consts, num_carry, length, reverse):
    consts, init, xs = _split(args, num_consts, num_carry)
    const_lin = [is_undefined_primal(c) for c in consts]
    xs_lin = [is_undefined_primal(x) for x in xs]
    # Every carry is linear. A carry whose initial value is a constant (a zero tangent
    # that partial evaluation instantiated) simply receives no cotangent.
    init_lin = [is_undefined_primal(c) for c in init]
    res_consts = [c for c in consts if not is_undefined_primal(c)]
    res_xs = [x for x in xs if not is_undefined_primal(x)]
    ct_carry, ct_ys = cts[:num_carry], cts[num_carry:]
    ct_carry = [instantiate_zeros(c) for c in ct_carry]
    ct_ys = [instantiate_zeros(c) for c in ct_ys]
    lin_const_avals = [c.aval for c in consts if is_undefined_primal(c)]
    # Transposed body: (res_consts, res_xs, ct_carry_out, ct_ys) ->
    #                  (ct_lin_consts, ct_carry_in, ct_lin_xs).
    body_t = transpose_jaxpr(jaxpr, [*const_lin, *([True] * num_carry), *xs_lin])
    n_rc, n_rx = len(res_consts), len(res_xs)
    n_lc = len(lin_const_avals)
    res_x_avals = [_slice_aval(get_aval(x)) for x in res_xs]
    ct_y_avals = [_slice_aval(get_aval(c)) for c in ct_ys]
    carry_avals = [tangent_aval(a) for a in lin_const_avals] + [
        tangent_aval(a) for a in jaxpr.out_avals[:num_carry]
    ]

    def rev_body(*a):
        rc, acc, ct_c, rx, ct_y = _split(a, n_rc, n_lc, num_carry, n_rx)
        outs = closed_call(body_t, *rc, *rx, *ct_c, *ct_y)
        ct_consts_i, ct_carry_in, ct_xs_i = _split(outs, n_lc, num_carry)
        acc = [array_ops.add(x, y) for x, y in zip(acc, ct_consts_i, strict=True)]
        return [*acc, *ct_carry_in, *ct_xs_i]

    body = open_consts(
        trace_to_jaxpr(
            rev_body,
            [*(get_aval(c) for c in res_consts), *carry_avals, *res_x_avals, *ct_y_avals],
            name="scan_transpose",
        )
    )
    acc0 = [array_ops.zeros(tangent_aval(a)) for a in lin_const_avals]
    outs = scan_p.bind(
        *res_consts,
        *acc0,
        *ct_carry,
        *res_xs,
        *ct_ys,
        jaxpr=body,
        num_consts=n_rc,
        num_carry=n_lc + num_carry,
        length=length,
        reverse=not reverse,
    )
    ct_consts, ct_init, ct_xs = _split(outs, n_lc, num_carry)
    ci, xi = iter(ct_consts), iter(ct_xs)
    return [
        *(next(ci) if lin else None for lin in const_lin),
        *(ct if lin else None for ct, lin in zip(ct_init, init_lin, strict=True)),
        *(next(xi) if lin else None for lin in xs_lin),
    ]


def _slice_aval(aval: ShapedArray) -> ShapedArray:
    return ShapedArray(aval.shape[1:], aval.dtype, aval.weak_type)


def _scan_batch(axis_size, vals, dims, *, jaxpr, num_consts, num_carry, length, reverse):
    consts, init, xs = _split(vals, num_consts, num_carry)
    const_d, init_d, xs_d = _split(dims, num_consts, num_carry)
    const_b = [d is not not_mapped for d in const_d]
    init_b = [d is not not_mapped for d in init_d]
    xs_b = [d is not not_mapped for d in xs_d]
    n_ys = len(jaxpr.out_avals) - num_carry

    def step(carry_b):
        return batch_jaxpr(jaxpr, axis_size, [*const_b, *carry_b, *xs_b], False)[1][:num_carry]

    carry_b = _fixpoint(step, init_b)
    body, out_b = batch_jaxpr(
        jaxpr, axis_size, [*const_b, *carry_b, *xs_b], [*carry_b, *([False] * n_ys)]
    )
    consts = [
        batching.moveaxis(c, d, 0) if b else c
        for c, d, b in zip(consts, const_d, const_b, strict=True)
    ]
    init = [
        batching.move_bdim(c, d, 0, axis_size) if b else c
        for c, d, b in zip(init, init_d, carry_b, strict=True)
    ]
    xs = [batching.moveaxis(x, d, 1) if b else x for x, d, b in zip(xs, xs_d, xs_b, strict=True)]
    outs = scan_p.bind(
        *consts,
        *init,
        *xs,
        jaxpr=body,
        num_consts=num_consts,
        num_carry=num_carry,
        length=length,
        reverse=reverse,
    )
    out_dims = [0 if b else not_mapped for b in out_b[:num_carry]] + [
        1 if b else not_mapped for b in out_b[num_carry:]
    ]
    return outs, out_dims


scan_p = define_primitive(
    "scan",
    impl=_scan_impl,
    abstract_eval=_scan_abstract_eval,
    jvp=_scan_jvp,
    transpose=_scan_transpose,
    batch=_scan_batch,
    kernel="control",
    multiple_results=True,
)
partial_eval_rules[scan_p] = _scan_partial_eval


# ---------------------------------------------------------------------------------------
# User API
# ---------------------------------------------------------------------------------------


def scan(
    f: Callable,
    init: Any,
    xs: Any = None,
    length: int | None = None,
    reverse: bool = False,
    unroll: int | bool = 1,
    _split_transpose: bool = False,
):
    """Loop ``carry, y = f(carry, x)`` over the leading axis of ``xs``, stacking the ``y``s.

    Equivalent to::

        def scan(f, init, xs, length=None):
            carry, ys = init, []
            for x in xs:
                carry, y = f(carry, x)
                ys.append(y)
            return carry, stack(ys)

    but staged once as a ``scan`` primitive: under ``jit`` the loop is not unrolled, and
    reverse-mode differentiation saves each iteration's residuals.

    Args:
      f: ``(carry, x) -> (carry, y)``; the output carry must have the input carry's type.
      init: the initial carry (a pytree of arrays).
      xs: a pytree of arrays scanned along axis 0, or None (then give ``length``).
      length: the number of iterations (required when ``xs`` is None).
      reverse: scan from the end of ``xs``.
      unroll: accepted for JAX compatibility; the loop is never unrolled at trace time.

    Returns:
      ``(final_carry, stacked_ys)``.
    """
    from fxgrad.array import to_value as asarray_value

    init_flat, init_tree = tree_flatten(init)
    init_flat = [asarray_value(x) for x in init_flat]
    xs_flat, xs_tree = tree_flatten(xs)
    xs_flat = [asarray_value(x) for x in xs_flat]
    lengths = {get_aval(x).shape[0] if get_aval(x).shape else None for x in xs_flat}
    if None in lengths:
        raise ControlFlowError("lax.scan: every leaf of xs must have a leading axis to scan")
    if length is not None:
        lengths.add(int(length))
    if len(lengths) > 1:
        shapes = [get_aval(x).shape for x in xs_flat]
        raise ControlFlowError(
            f"lax.scan got inconsistent lengths: the leading axes of xs have shapes {shapes}"
            + (f" and length={length}" if length is not None else "")
            + ". Every leaf of xs must have the same leading dimension."
        )
    if not lengths:
        raise ControlFlowError("lax.scan: give xs with a leading axis, or length=")
    n = lengths.pop()
    carry_avals = [get_aval(x) for x in init_flat]
    x_avals = [_slice_aval(get_aval(x)) for x in xs_flat]
    in_tree = tree_structure((init, tree_unflatten(xs_tree, [0] * len(xs_flat))))

    def body(carry, x):
        return f(carry, x)

    closed, consts, out_tree = trace_fun(body, in_tree, [*carry_avals, *x_avals], "lax.scan body")
    out_example = tree_unflatten(out_tree, list(range(out_tree.num_leaves)))
    if not (isinstance(out_example, tuple) and len(out_example) == 2):
        raise ControlFlowError(
            "lax.scan: the body function must return a pair (carry, y); it returned "
            f"structure {out_tree}"
        )
    carry_out_tree = tree_structure(out_example[0])
    n_carry = len(init_flat)
    check_same_types(
        "lax.scan",
        "the input carry",
        "the carry returned by the body",
        init_tree,
        carry_out_tree,
        carry_avals,
        closed.out_avals[: carry_out_tree.num_leaves],
        "The body must return a carry with exactly the structure, shapes and dtypes of "
        "its input carry.",
    )
    outs = scan_p.bind(
        *consts,
        *init_flat,
        *xs_flat,
        jaxpr=closed,
        num_consts=len(consts),
        num_carry=n_carry,
        length=n,
        reverse=bool(reverse),
    )
    carry = tree_unflatten(init_tree, outs[:n_carry])
    ys = tree_unflatten(tree_structure(out_example[1]), outs[n_carry:])
    return carry, ys


scan_p.out_weak_types = lambda *, jaxpr, **_: [a.weak_type for a in jaxpr.out_avals]
