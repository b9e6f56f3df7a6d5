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

from fxgrad.core import Primitive, ShapedArray, tangent_aval
from fxgrad.errors import MissingRuleError
from fxgrad.interpreters import array_ops
from fxgrad.interpreters.jvp import Zero, instantiate_zeros
from fxgrad.interpreters.partial_eval import linearize_tape, trace_to_jaxpr
from fxgrad.jaxpr import Jaxpr, JaxprEqn, Literal, Var

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
    linear_in: list[Var] = []
    for v, val in zip(jaxpr.in_binders, args, strict=True):
        if type(val) is UndefPrimal:
            linear_in.append(v)
        else:
            primal_env[v] = val
    return backward_pass_eqns(jaxpr.eqns, primal_env, jaxpr.outs, cts_out, linear_in)


def backward_pass_eqns(
    eqns: Sequence[JaxprEqn],
    primal_env: dict[Var, Any],
    outs: Sequence[Any],
    cts_out: Sequence[Any],
    linear_in: Sequence[Var],
) -> list[Any]:
    """Transpose ``eqns`` (in recording order): the cotangents of ``linear_in``.

    ``primal_env`` binds every variable that is not linear (residuals); it is extended
    with the equations computable from residuals alone, evaluated forward first. The
    other equations are visited in reverse, each handing the cotangent of its outputs
    to ``transpose_rules[primitive]``. A cotangent missing from the environment is a
    symbolic zero: its equation is skipped.
    """
    linear_eqns = []
    for eqn in eqns:
        for x in eqn.inputs:
            if type(x) is Var and x not in primal_env:
                linear_eqns.append(eqn)
                break
        else:
            in_vals = [x.val if type(x) is Literal else primal_env[x] for x in eqn.inputs]
            out = eqn.primitive.bind(*in_vals, **eqn.params)
            if eqn.primitive.multiple_results:
                primal_env.update(zip(eqn.out_binders, out, strict=True))
            else:
                primal_env[eqn.out_binders[0]] = out

    ct_env: dict[Var, Any] = {}
    for x, ct in zip(outs, cts_out, strict=True):
        _accumulate(ct_env, primal_env, x, ct)

    for eqn in reversed(linear_eqns):
        primitive = eqn.primitive
        if primitive.multiple_results:
            cts = [ct_env.pop(v, None) for v in eqn.out_binders]
            if all(ct is None for ct in cts):
                continue
            ct = [
                Zero(tangent_aval(v.aval)) if c is None else c
                for v, c in zip(eqn.out_binders, cts, strict=True)
            ]
        else:
            ct = ct_env.pop(eqn.out_binders[0], None)
            if ct is None:
                continue
        in_vals = [
            x.val
            if type(x) is Literal
            else primal_env[x]
            if x in primal_env
            else UndefPrimal(x.aval)
            for x in eqn.inputs
        ]
        rule = transpose_rules.get(primitive)
        if rule is None:
            raise MissingRuleError(
                f"Reverse-mode differentiation (transpose) of '{primitive.name}' is not "
                "implemented. Transpose rules are registered next to the primitive in "
                "fxgrad/lax/; forward mode (jvp, jacfwd) may work instead."
            )
        cts_in = rule(ct, *in_vals, **eqn.params)
        for x, ct_in in zip(eqn.inputs, cts_in, strict=True):
            if ct_in is not None:
                _accumulate(ct_env, primal_env, x, ct_in)

    cts_in = [ct_env.pop(v, None) for v in linear_in]
    return [
        Zero(tangent_aval(v.aval)) if ct is None else ct
        for v, ct in zip(linear_in, cts_in, strict=True)
    ]


def _accumulate(ct_env: dict[Var, Any], primal_env: dict[Var, Any], x: Any, ct: Any) -> None:
    """Add ``ct`` to the cotangent of ``x`` (nothing for literals, residuals, zeros)."""
    if type(x) is not Var or type(ct) is Zero or ct is None or x in primal_env:
        return
    prev = ct_env.get(x)
    ct_env[x] = ct if prev is None else array_ops.add(prev, ct)


def vjp_flat(
    fun: Callable[..., Sequence[Any]], primals: Sequence[Any], *, name: str = "vjp"
) -> tuple[list[Any], Callable[[Sequence[Any]], list[Any]]]:
    """Primal outputs of ``fun`` and a function mapping output cotangents to input ones.

    The returned ``f_vjp`` accepts ``Zero`` or arrays and returns ``Zero`` for inputs
    the outputs do not depend on. Eagerly (concrete primals, no transformation active)
    it records pullbacks on a tape (``reverse.vjp_flat_tape``); otherwise it linearizes
    ``fun`` and transposes the linearization (``vjp_flat_traced``).
    """
    from fxgrad.interpreters import reverse

    if reverse.eager_tape_applies(primals):
        return reverse.vjp_flat_tape(fun, primals, name=name)
    return vjp_flat_traced(fun, primals, name=name)


def vjp_flat_traced(
    fun: Callable[..., Sequence[Any]], primals: Sequence[Any], *, name: str = "vjp"
) -> tuple[list[Any], Callable[[Sequence[Any]], list[Any]]]:
    """``vjp_flat`` by linearize + transpose: the linearization's tape is transposed
    directly, without building a jaxpr."""
    primals_out, lin = linearize_tape(fun, primals, name=name)
    tape = lin.tape

    def f_vjp(cts: Sequence[Any]) -> list[Any]:
        primal_env = dict(tape.constvals)
        return backward_pass_eqns(tape.eqns, primal_env, lin.out_vars, cts, lin.in_vars)

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
