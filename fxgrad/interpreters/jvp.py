"""Forward-mode differentiation: the JVP interpreter.

A ``JVPTracer`` carries a primal value and its tangent. For each primitive the
``JVPTrace`` looks up ``jvp_rules[primitive]``, a function
``(primals, tangents, **params) -> (primal_out, tangent_out)`` written with primitives
only, so the rule can itself be traced, differentiated again or batched.

Tangents that are known to be zero are kept symbolic as ``Zero(aval)``: an input that
is not being differentiated costs nothing, a primitive whose tangents are all zero is
simply evaluated on its primals, and integer values get ``float0`` tangents that never
materialise (as in JAX). Rules receive ``Zero`` objects and must handle them; the
``defjvp`` / ``deflinear`` helpers below do it for the common shapes of rule.

Reverse mode is not written here: ``vjp`` = this interpreter under partial evaluation
(``partial_eval.linearize``) followed by transposition (``transpose.backward_pass``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from fxgrad.core import (
    Primitive,
    ShapedArray,
    Trace,
    Tracer,
    concrete_value,
    full_lower,
    get_aval,
    inline_or_raise,
    new_main,
    tangent_aval,
)
from fxgrad.interpreters import array_ops

jvp_rules: dict[Primitive, Callable[..., Any]] = {}


class Zero:
    """A symbolic zero tangent (or cotangent) of abstract value ``aval``."""

    __slots__ = ("aval",)

    def __init__(self, aval: ShapedArray):
        self.aval = aval

    @staticmethod
    def from_primal(x: Any) -> Zero:
        return Zero(tangent_aval(get_aval(x)))

    def __repr__(self) -> str:
        return f"Zero({self.aval.str_short()})"


def instantiate_zeros(t: Any) -> Any:
    """A concrete array for ``t`` if it is a symbolic ``Zero``, else ``t``."""
    if type(t) is Zero:
        return array_ops.zeros(t.aval)
    return t


def add_tangents(a: Any, b: Any) -> Any:
    """``a + b`` where either may be a symbolic ``Zero``."""
    if type(a) is Zero:
        return b
    if type(b) is Zero:
        return a
    return array_ops.add(a, b)


class JVPTracer(Tracer):
    __slots__ = ("primal", "tangent", "_aval")

    def __init__(self, trace: JVPTrace, primal: Any, tangent: Any):
        self._trace = trace
        self.primal = primal
        self.tangent = tangent
        self._aval = None

    @property
    def aval(self) -> ShapedArray:
        aval = self._aval
        if aval is None:
            aval = self._aval = get_aval(self.primal)
        return aval

    def full_lower(self) -> Any:
        if type(self.tangent) is Zero:
            return full_lower(self.primal)
        return self

    def to_concrete_value(self) -> Any:
        return concrete_value(self.primal)


class JVPTrace(Trace):
    __slots__ = ()

    def pure(self, val: Any) -> JVPTracer:
        return JVPTracer(self, val, Zero(tangent_aval(get_aval(val))))

    lift = pure

    def process_primitive(self, primitive: Primitive, tracers: list, params: dict) -> Any:
        primals = [t.primal for t in tracers]
        tangents = [t.tangent for t in tracers]
        for t in tangents:
            if type(t) is not Zero:
                break
        else:
            return primitive.bind(*primals, **params)
        rule = jvp_rules.get(primitive)
        if rule is None:
            return inline_or_raise(
                primitive,
                tracers,
                params,
                f"Differentiation rule for '{primitive.name}' is not implemented; jvp "
                "rules are registered next to the primitive in fxgrad/lax/.",
            )
        primal_out, tangent_out = rule(primals, tangents, **params)
        if primitive.multiple_results:
            return [JVPTracer(self, p, t) for p, t in zip(primal_out, tangent_out, strict=True)]
        return JVPTracer(self, primal_out, tangent_out)


def jvp_flat(
    fun: Callable[..., Sequence[Any]],
    primals: Sequence[Any],
    tangents: Sequence[Any],
    *,
    name: str = "jvp",
) -> tuple[list[Any], list[Any]]:
    """Run ``fun`` on ``primals`` pushing ``tangents`` forward; tangents may be ``Zero``.

    Returns the primal outputs and the output tangents (possibly symbolic ``Zero``s).
    """
    with new_main(JVPTrace, name=name) as main:
        trace = main.trace
        tracers_in = [JVPTracer(trace, x, t) for x, t in zip(primals, tangents, strict=True)]
        outs = fun(*tracers_in)
        tracers_out = [trace.full_raise(o) for o in outs]
        primals_out = [full_lower(t.primal) for t in tracers_out]
        tangents_out = [t.tangent for t in tracers_out]
    return primals_out, tangents_out


# ---------------------------------------------------------------------------------------
# Helpers for declaring rules
# ---------------------------------------------------------------------------------------


def defjvp(primitive: Primitive, *partial_rules: Callable[..., Any] | None) -> None:
    """Declare the JVP of a single-output primitive by one rule per argument.

    ``partial_rules[i](t_i, *primals, **params)`` returns the tangent contribution of
    argument ``i`` (its tangent times the partial derivative); ``None`` marks an argument
    the output does not depend on differentiably. Contributions are summed, skipping
    symbolic zeros.
    """

    def rule(primals, tangents, **params):
        primal_out = primitive.bind(*primals, **params)
        tangent_out: Any = Zero(tangent_aval(get_aval(primal_out)))
        for partial, t in zip(partial_rules, tangents, strict=True):
            if partial is None or type(t) is Zero:
                continue
            tangent_out = add_tangents(tangent_out, partial(t, *primals, **params))
        return primal_out, tangent_out

    jvp_rules[primitive] = rule


def defjvp_with_output(primitive: Primitive, *partial_rules: Callable[..., Any] | None) -> None:
    """Like ``defjvp`` but each rule also receives the primal output first (``exp``)."""

    def rule(primals, tangents, **params):
        primal_out = primitive.bind(*primals, **params)
        tangent_out: Any = Zero(tangent_aval(get_aval(primal_out)))
        for partial, t in zip(partial_rules, tangents, strict=True):
            if partial is None or type(t) is Zero:
                continue
            tangent_out = add_tangents(tangent_out, partial(t, primal_out, *primals, **params))
        return primal_out, tangent_out

    jvp_rules[primitive] = rule


def deflinear(primitive: Primitive) -> None:
    """The JVP of a primitive linear in all its inputs: apply it to the tangents."""

    def rule(primals, tangents, **params):
        primal_out = primitive.bind(*primals, **params)
        tangents = [instantiate_zeros(t) for t in tangents]
        return primal_out, primitive.bind(*tangents, **params)

    jvp_rules[primitive] = rule


def defzero(primitive: Primitive) -> None:
    """The output of ``primitive`` has a zero derivative (comparisons, floor, sign...)."""

    def rule(primals, tangents, **params):
        primal_out = primitive.bind(*primals, **params)
        if primitive.multiple_results:
            return primal_out, [Zero(tangent_aval(get_aval(p))) for p in primal_out]
        return primal_out, Zero(tangent_aval(get_aval(primal_out)))

    jvp_rules[primitive] = rule


def jvp_jaxpr(
    closed: Any, nonzeros: Sequence[bool], instantiate: Sequence[bool] | bool
) -> tuple[Any, list[bool]]:
    """The JVP of a ClosedJaxpr as a ClosedJaxpr.

    The result takes the primals followed by the tangents of the inputs marked in
    ``nonzeros`` and returns the primal outputs followed by the tangents of the outputs
    that are nonzero (or instantiated). Returns ``(jvp_closed, out_nonzeros)``.
    """
    from fxgrad.interpreters.partial_eval import closed_call, trace_to_jaxpr

    in_avals = closed.in_avals
    n_out = len(closed.out_avals)
    if isinstance(instantiate, bool):
        instantiate = [instantiate] * n_out
    tangent_avals = [tangent_aval(a) for a, nz in zip(in_avals, nonzeros, strict=True) if nz]
    out_nonzeros: list[bool] = []

    def fun(*args):
        primals = args[: len(in_avals)]
        it = iter(args[len(in_avals) :])
        tangents = [
            next(it) if nz else Zero(tangent_aval(a))
            for a, nz in zip(in_avals, nonzeros, strict=True)
        ]
        primals_out, tangents_out = jvp_flat(
            lambda *a: closed_call(closed, *a), primals, tangents, name="jvp_jaxpr"
        )
        nz_out = [
            type(t) is not Zero or inst for t, inst in zip(tangents_out, instantiate, strict=True)
        ]
        out_nonzeros[:] = nz_out
        kept = [instantiate_zeros(t) for t, nz in zip(tangents_out, nz_out, strict=True) if nz]
        return [*primals_out, *kept]

    jvp_closed = trace_to_jaxpr(fun, [*in_avals, *tangent_avals], name="jvp_jaxpr")
    return jvp_closed, out_nonzeros
