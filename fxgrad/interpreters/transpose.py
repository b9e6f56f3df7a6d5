"""Reverse mode: transposition of linear jaxprs, and ``vjp`` = linearize + transpose.

``linearize`` (JVP under partial evaluation) produces a jaxpr that is linear in its
tangent inputs; its other inputs are residuals computed by the primal pass.
``backward_pass`` walks that jaxpr backwards and, for each equation, asks
``transpose_rules[primitive]`` for the cotangents of its linear inputs given the
cotangent of its output. Only linear primitives carry a transpose rule; there are no
hand-written VJPs, so forward and reverse derivatives cannot drift apart.

Linear inputs are marked with ``UndefPrimal(aval)``. A transpose rule has the form
``rule(ct, *invals, **params) -> [ct_in or None per input]`` where ``invals`` holds
``UndefPrimal`` for linear inputs and the concrete residual for the others. Cotangents
that are symbolically zero are ``Zero`` and equations that receive only zero
cotangents are skipped. Equations that touch no linear input (residual arithmetic)
are evaluated forward first.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from fxgrad.core import Primitive, ShapedArray, get_aval, tangent_aval
from fxgrad.errors import MissingRuleError
from fxgrad.interpreters.jvp import Zero, add_tangents, instantiate_zeros
from fxgrad.jaxpr import Jaxpr, Literal, Var

transpose_rules: dict[Primitive, Callable[..., Any]] = {}


class UndefPrimal:
    """Marks a linear input of a jaxpr being transposed; only its aval is known."""

    __slots__ = ("aval",)

    def __init__(self, aval: ShapedArray):
        self.aval = aval

    def __repr__(self) -> str:
        return f"UndefPrimal({self.aval.str_short()})"


def is_undefined_primal(x: Any) -> bool:
    return type(x) is UndefPrimal


def backward_pass(jaxpr: Jaxpr, args: Sequence[Any], cts_out: Sequence[Any]) -> list[Any]:
    """Cotangents of the ``UndefPrimal`` entries of ``args`` (``Zero`` when unreached).

    ``args`` gives a value for every input binder of ``jaxpr`` (constvars included):
    a residual, or ``UndefPrimal`` for a linear input.
    """
    primal_env: dict[Var, Any] = {}
    ct_env: dict[Var, Any] = {}

    def read_primal(x):
        if type(x) is Literal:
            return x.val
        return primal_env.get(x, UndefPrimal(x.aval))

    def write_cotangent(x, ct):
        if type(x) is Literal or ct is None or type(ct) is Zero:
            return
        ct_env[x] = add_tangents(ct_env[x], ct) if x in ct_env else ct

    def read_cotangent(v):
        return ct_env.pop(v, Zero(tangent_aval(v.aval)))

    for v, val in zip(jaxpr.in_binders, args, strict=True):
        if not is_undefined_primal(val):
            primal_env[v] = val

    # Forward: evaluate equations on residuals only (no linear input).
    linear_eqns = []
    for eqn in jaxpr.eqns:
        in_vals = [read_primal(x) for x in eqn.inputs]
        if any(is_undefined_primal(v) for v in in_vals):
            linear_eqns.append(eqn)
            continue
        outs = eqn.primitive.bind(*in_vals, **eqn.params)
        if not eqn.primitive.multiple_results:
            outs = [outs]
        for v, val in zip(eqn.out_binders, outs, strict=True):
            primal_env[v] = val

    for x, ct in zip(jaxpr.outs, cts_out, strict=True):
        write_cotangent(x, ct)

    for eqn in reversed(linear_eqns):
        cts = [read_cotangent(v) for v in eqn.out_binders]
        if all(type(ct) is Zero for ct in cts):
            continue
        in_vals = [read_primal(x) for x in eqn.inputs]
        rule = transpose_rules.get(eqn.primitive)
        if rule is None:
            raise MissingRuleError(
                f"Reverse-mode differentiation (transpose) of '{eqn.primitive.name}' is not "
                "implemented. Transpose rules are registered next to the primitive in "
                "fxgrad/lax/; forward mode (jvp, jacfwd) may work instead."
            )
        if eqn.primitive.multiple_results:
            cts_in = rule(cts, *in_vals, **eqn.params)
        else:
            cts_in = rule(cts[0], *in_vals, **eqn.params)
        for x, ct in zip(eqn.inputs, cts_in, strict=True):
            if ct is not None and type(x) is Var and x not in primal_env:
                write_cotangent(x, ct)

    return [
        read_cotangent(v)
        for v, val in zip(jaxpr.in_binders, args, strict=True)
        if is_undefined_primal(val)
    ]


def vjp_flat(
    fun: Callable[..., Sequence[Any]], primals: Sequence[Any], *, name: str = "vjp"
) -> tuple[list[Any], Callable[[Sequence[Any]], list[Any]]]:
    """Primal outputs of ``fun`` and a function mapping output cotangents to input ones.

    The returned ``f_vjp`` accepts ``Zero`` or arrays and returns ``Zero`` for inputs
    the outputs do not depend on.
    """
    from fxgrad.interpreters.partial_eval import linearize_flat

    primals_out, jaxpr, consts = linearize_flat(fun, primals, name=name)
    in_avals = [tangent_aval(get_aval(x)) for x in primals]

    def f_vjp(cts: Sequence[Any]) -> list[Any]:
        args = [*consts, *(UndefPrimal(a) for a in in_avals)]
        return backward_pass(jaxpr, args, cts)

    return primals_out, f_vjp


# ---------------------------------------------------------------------------------------
# Helpers for declaring rules
# ---------------------------------------------------------------------------------------


def deflinear_transpose(primitive: Primitive, transpose: Callable[..., Any]) -> None:
    """Register ``transpose(ct, *invals, **params) -> cts`` for a linear primitive."""
    transpose_rules[primitive] = transpose


def instantiate(ct: Any) -> Any:
    return instantiate_zeros(ct)


def transpose_jaxpr(closed: Any, linear: Sequence[bool]) -> Any:
    """The transpose of ``closed`` with respect to its ``linear`` inputs, as a ClosedJaxpr.

    The result takes the non-linear inputs (residuals) followed by one cotangent per
    output, and returns one cotangent per linear input (zeros where unreached).
    """
    from fxgrad.interpreters.partial_eval import trace_to_jaxpr

    in_avals = closed.in_avals
    res_avals = [a for a, lin in zip(in_avals, linear, strict=True) if not lin]
    lin_avals = [tangent_aval(a) for a, lin in zip(in_avals, linear, strict=True) if lin]
    ct_avals = [tangent_aval(a) for a in closed.out_avals]

    def fun(*args):
        res = iter(args[: len(res_avals)])
        cts = args[len(res_avals) :]
        full = [
            UndefPrimal(tangent_aval(a)) if lin else next(res)
            for a, lin in zip(in_avals, linear, strict=True)
        ]
        consts = list(closed.consts)
        cts_in = backward_pass(closed.jaxpr, [*consts, *full], list(cts))
        return [instantiate_zeros(c) for c in cts_in]

    del lin_avals
    return trace_to_jaxpr(fun, [*res_avals, *ct_avals], name="transpose_jaxpr")
