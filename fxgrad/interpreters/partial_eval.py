"""Staging to jaxprs, and partial evaluation (the known/unknown split behind linearize).

Two interpreters live here.

``StagingTrace`` (used by ``jit`` and ``make_jaxpr``) records every primitive it sees
as an equation; its tracers stand for abstract values only. It runs as the *dynamic*
trace, so operations on constants inside the traced function are staged too.

``PartialEvalTrace`` (used by ``linearize`` and hence ``vjp``/``grad``) evaluates a
function on values of which some are *known* (concrete, or tracers of lower levels)
and some *unknown* (abstract). Primitives whose inputs are all known are evaluated now;
the others are recorded, and the recorded graph becomes a jaxpr over the unknowns
whose constants are the known values it reads (the *residuals*). Applied to a JVP with
known primals and unknown tangents, this splits the primal computation (done now) from
the tangent computation (a linear jaxpr, later transposed for reverse mode). The
recorded equations form a ``Tape`` in recording order, which eager ``vjp``/``grad``
transpose directly, without building a jaxpr first. See Autodidax, "Part 4:
linearize and vjp", and "You Only Linearize Once" (https://arxiv.org/abs/2204.10923).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from fxgrad import core
from fxgrad.config import config
from fxgrad.core import (
    Primitive,
    ShapedArray,
    Trace,
    Tracer,
    _user_frame,
    abstract_eval,
    concrete_value,
    full_lower,
    get_aval,
    new_main,
    tangent_aval,
)
from fxgrad.interpreters.jvp import instantiate_zeros, jvp_flat
from fxgrad.jaxpr import ClosedJaxpr, Jaxpr, JaxprEqn, Literal, Var, eval_jaxpr

# ---------------------------------------------------------------------------------------
# Staging (jit, make_jaxpr)
# ---------------------------------------------------------------------------------------


class StagingTracer(Tracer):
    """A value of a jaxpr under construction: only its abstract value is known."""

    __slots__ = ("_aval", "debug_origin")

    def __init__(self, trace: StagingTrace, aval: ShapedArray, debug_origin: str | None = None):
        self._trace = trace
        self._aval = aval
        self.debug_origin = debug_origin

    @property
    def aval(self) -> ShapedArray:
        return self._aval


class JaxprBuilder:
    """Accumulates the equations, constants and variables of a jaxpr being staged."""

    def __init__(self) -> None:
        self.eqns: list[JaxprEqn] = []
        self.tracer_to_var: dict[int, Var] = {}
        self.const_tracers: dict[int, StagingTracer] = {}
        self.constvals: dict[Var, Any] = {}
        self.tracers: list[StagingTracer] = []

    def new_tracer(self, trace: StagingTrace, aval: ShapedArray, origin=None) -> StagingTracer:
        tracer = StagingTracer(trace, aval, origin)
        self.tracers.append(tracer)
        return tracer

    def add_var(self, tracer: StagingTracer) -> Var:
        assert id(tracer) not in self.tracer_to_var
        var = self.tracer_to_var[id(tracer)] = Var(tracer.aval)
        return var

    def getvar(self, tracer: StagingTracer) -> Var:
        var = self.tracer_to_var.get(id(tracer))
        assert var is not None, "tracer of another jaxpr under construction"
        return var

    def add_const(self, tracer: StagingTracer, val: Any) -> Var:
        var = self.add_var(tracer)
        self.constvals[var] = val
        return var

    def build(self, in_tracers: Sequence[StagingTracer], out_tracers: Sequence[Any]):
        """The ClosedJaxpr with inputs ``in_tracers`` and outputs ``out_tracers``."""
        constvars = list(self.constvals)
        constvals = [self.constvals[v] for v in constvars]
        invars = [self.getvar(t) for t in in_tracers]
        outs = [self.getvar(t) for t in out_tracers]
        jaxpr = Jaxpr(tuple(constvars + invars), tuple(self.eqns), tuple(outs), len(constvars))
        return inline_literals(jaxpr, constvals)


def _is_scalar_literal(val: Any) -> bool:
    if isinstance(val, (bool, int, float, complex)):
        return True
    if isinstance(val, Tracer):
        return False
    return np.ndim(val) == 0 and concrete_value(val) is not None and hasattr(val, "dtype")


def inline_literals(jaxpr: Jaxpr, consts: Sequence[Any]) -> ClosedJaxpr:
    """Replace scalar constvars by ``Literal``s written into the equations."""
    constvars = jaxpr.constvars
    literals: dict[Var, Literal] = {}
    new_constvars, new_consts = [], []
    for v, val in zip(constvars, consts, strict=True):
        if _is_scalar_literal(val):
            literals[v] = Literal(np.asarray(val, dtype=v.aval.dtype)[()], v.aval)
        else:
            new_constvars.append(v)
            new_consts.append(val)
    if not literals:
        return ClosedJaxpr(jaxpr, tuple(consts))

    def sub(x):
        return literals.get(x, x) if isinstance(x, Var) else x

    eqns = tuple(
        JaxprEqn(
            e.primitive, tuple(sub(x) for x in e.inputs), e.params, e.out_binders, e.source_info
        )
        for e in jaxpr.eqns
    )
    outs = tuple(sub(x) for x in jaxpr.outs)
    new_jaxpr = Jaxpr(tuple(new_constvars) + jaxpr.invars, eqns, outs, len(new_constvars))
    return ClosedJaxpr(new_jaxpr, tuple(new_consts))


class StagingTrace(Trace):
    __slots__ = ()

    @property
    def builder(self) -> JaxprBuilder:
        return self.main.global_data

    def new_arg(self, aval: ShapedArray, origin: str | None = None) -> StagingTracer:
        tracer = self.builder.new_tracer(self, aval, origin)
        self.builder.add_var(tracer)
        return tracer

    def pure(self, val: Any) -> StagingTracer:
        builder = self.builder
        tracer = builder.const_tracers.get(id(val))
        if tracer is None:
            aval = get_aval(val)
            tracer = builder.new_tracer(self, aval)
            # ``constvals`` keeps ``val`` alive, so its id is not reused while building.
            builder.add_const(tracer, val)
            builder.const_tracers[id(val)] = tracer
        return tracer

    lift = pure

    def process_primitive(self, primitive: Primitive, tracers: list, params: dict) -> Any:
        avals_in = [t.aval for t in tracers]
        avals_out = abstract_eval(primitive, avals_in, params)
        if not primitive.multiple_results:
            avals_out = [avals_out]
        builder = self.builder
        origin = _combined_origin(tracers)
        out_tracers = [builder.new_tracer(self, a, origin) for a in avals_out]
        inputs = tuple(builder.getvar(t) for t in tracers)
        outvars = tuple(builder.add_var(t) for t in out_tracers)
        builder.eqns.append(JaxprEqn(primitive, inputs, params, outvars, _source_info()))
        return out_tracers if primitive.multiple_results else out_tracers[0]


def _combined_origin(tracers: Sequence[StagingTracer]) -> str | None:
    """Which function arguments a staged value depends on, for error messages."""
    origins: list[str] = []
    for t in tracers:
        origin = getattr(t, "debug_origin", None)
        if origin:
            for part in origin.split(" and "):
                if part not in origins:
                    origins.append(part)
    if not origins:
        return None
    if len(origins) > 3:
        origins = [*origins[:3], f"{len(origins) - 3} more"]
    return " and ".join(origins)


def _source_info() -> str | None:
    if config.read("enable_checks") or config.read("debug_nans"):
        return _user_frame()
    return None


def trace_to_jaxpr(
    fun: Callable[..., Sequence[Any]],
    in_avals: Sequence[ShapedArray],
    *,
    name: str = "jit",
    arg_names: Sequence[str] | None = None,
) -> ClosedJaxpr:
    """Stage ``fun`` (flat arrays in, flat list out) to a ClosedJaxpr for ``in_avals``."""
    builder = JaxprBuilder()
    with new_main(StagingTrace, builder, dynamic=True, name=name) as main:
        trace = StagingTrace(main)
        names = arg_names or [None] * len(in_avals)
        tracers_in = [trace.new_arg(a, n) for a, n in zip(in_avals, names, strict=True)]
        outs = fun(*tracers_in)
        tracers_out = [trace.full_raise(o) for o in outs]
        closed = builder.build(tracers_in, tracers_out)
    return closed


# ---------------------------------------------------------------------------------------
# Partial evaluation (linearize)
# ---------------------------------------------------------------------------------------


#: primitive -> ``rule(trace, tracers, **params) -> outputs``, for primitives (control
#: flow) that split into a known part evaluated now and an unknown part staged.
partial_eval_rules: dict[Primitive, Callable[..., Any]] = {}


class PartialVal:
    """A value of which either the concrete ``const`` or only the ``aval`` is known."""

    __slots__ = ("aval", "const")

    def __init__(self, aval: ShapedArray, const: Any):
        self.aval = aval
        self.const = const

    @classmethod
    def known(cls, val: Any) -> PartialVal:
        return cls(get_aval(val), val)

    @classmethod
    def unknown(cls, aval: ShapedArray) -> PartialVal:
        return cls(aval, None)

    @property
    def is_known(self) -> bool:
        return self.const is not None


class Tape:
    """What a ``PartialEvalTrace`` records, in order: the staged equations (over
    ``Var``s) and the known values they read, bound to constvars.

    Recording order is a topological order, so a tape is already a jaxpr body: reverse
    mode transposes it directly (``transpose.backward_pass_eqns``) and ``to_jaxpr``
    only drops the equations the requested outputs do not need.
    """

    __slots__ = ("eqns", "constvals", "constvars", "known_tracers")

    def __init__(self) -> None:
        self.eqns: list[JaxprEqn] = []
        #: constvar -> value, in order of first use.
        self.constvals: dict[Var, Any] = {}
        #: id(value) -> its constvar. ``constvals`` keeps each value alive, so an id is
        #: not reused while the tape exists (same for ``known_tracers``).
        self.constvars: dict[int, Var] = {}
        #: id(value) -> the known tracer boxing it, so a value used many times (a
        #: weight, a primal) is boxed once.
        self.known_tracers: dict[int, PartialEvalTracer] = {}

    def constvar(self, val: Any, aval: ShapedArray) -> Var:
        """The constvar bound to the known value ``val`` (one per value)."""
        var = self.constvars.get(id(val))
        if var is None:
            var = self.constvars[id(val)] = Var(aval)
            self.constvals[var] = val
        return var

    def to_jaxpr(self, invars: Sequence[Var], outs: Sequence[Var]) -> tuple[Jaxpr, list[Any]]:
        """The jaxpr computing ``outs`` from ``invars`` and the constants it reads."""
        live: set[Var] = set(outs)
        kept: list[JaxprEqn] = []
        for eqn in reversed(self.eqns):
            for v in eqn.out_binders:
                if v in live:
                    kept.append(eqn)
                    live.update(eqn.inputs)
                    break
        kept.reverse()
        constvars = [v for v in self.constvals if v in live]
        consts = [self.constvals[v] for v in constvars]
        jaxpr = Jaxpr((*constvars, *invars), tuple(kept), tuple(outs), len(constvars))
        return jaxpr, consts


class PartialEvalTracer(Tracer):
    """A partially known value: ``pval.const`` when known, else only ``pval.aval``.

    ``var`` is the ``Var`` it binds on its trace's ``Tape``: always set for unknown
    values (inputs and staged outputs), and set for a known value once a staged
    equation reads it (then a constvar).
    """

    __slots__ = ("pval", "var")

    def __init__(self, trace: PartialEvalTrace, pval: PartialVal, var: Var | None = None):
        self._trace = trace
        self.pval = pval
        self.var = var

    @property
    def aval(self) -> ShapedArray:
        return self.pval.aval

    def full_lower(self) -> Any:
        const = self.pval.const
        if const is not None:
            return full_lower(const)
        return self

    def to_concrete_value(self) -> Any:
        const = self.pval.const
        if const is not None:
            return concrete_value(const)
        return None


class PartialEvalTrace(Trace):
    __slots__ = ()

    def new_arg(self, pval: PartialVal) -> PartialEvalTracer:
        if pval.is_known:
            return PartialEvalTracer(self, pval)
        return PartialEvalTracer(self, pval, Var(pval.aval))

    def pure(self, val: Any) -> PartialEvalTracer:
        known = self.main.global_data.known_tracers
        tracer = known.get(id(val))
        if tracer is None:
            tracer = known[id(val)] = PartialEvalTracer(self, PartialVal(get_aval(val), val))
        return tracer

    lift = pure

    def instantiate_const(self, tracer: PartialEvalTracer) -> PartialEvalTracer:
        """``tracer`` as an unknown: a known value becomes a constvar of the tape."""
        pval = tracer.pval
        if pval.const is None:
            return tracer
        var = self.main.global_data.constvar(pval.const, pval.aval)
        return PartialEvalTracer(self, PartialVal(pval.aval, None), var)

    def process_primitive(self, primitive: Primitive, tracers: list, params: dict) -> Any:
        for t in tracers:
            if t.pval.const is None:
                break
        else:
            return primitive.bind(*[t.pval.const for t in tracers], **params)
        rule = partial_eval_rules.get(primitive)
        if rule is not None:
            return rule(self, tracers, **params)
        if primitive.inline is not None:
            return primitive.inline(*tracers, **params)
        outs = self.stage(primitive, tracers, params)
        return outs if primitive.multiple_results else outs[0]

    def stage(self, primitive: Primitive, tracers: Sequence[Any], params: dict) -> list:
        """Record ``primitive`` applied to ``tracers`` as unknown; returns output tracers."""
        main = self.main
        tape: Tape = main.global_data
        inputs = []
        avals_in = []
        for t in tracers:
            if not (isinstance(t, PartialEvalTracer) and t._trace.main is main):
                t = self.full_raise(t)
            pval = t.pval
            var = t.var
            if var is None:
                var = t.var = tape.constvar(pval.const, pval.aval)
            inputs.append(var)
            avals_in.append(pval.aval)
        avals_out = abstract_eval(primitive, avals_in, params)
        if not primitive.multiple_results:
            avals_out = [avals_out]
        outs = [PartialEvalTracer(self, PartialVal(a, None), Var(a)) for a in avals_out]
        out_binders = tuple(t.var for t in outs)
        tape.eqns.append(JaxprEqn(primitive, tuple(inputs), params, out_binders))
        return outs


def _run_partial_eval(
    fun: Callable[..., Sequence[Any]],
    pvals_in: Sequence[PartialVal],
    instantiate: Sequence[bool] | None,
    name: str,
) -> tuple[Tape, list[PartialEvalTracer], list[PartialEvalTracer]]:
    """Run ``fun`` under a new ``PartialEvalTrace``: its tape, input and output tracers.

    ``instantiate(num_outputs)`` marks outputs to make unknown even when known.
    """
    tape = Tape()
    with new_main(PartialEvalTrace, tape, name=name) as main:
        trace = main.trace
        tracers_in = [trace.new_arg(p) for p in pvals_in]
        outs = fun(*tracers_in)
        tracers_out = [trace.full_raise(o) for o in outs]
        if instantiate is not None:
            tracers_out = [
                trace.instantiate_const(t) if inst else t
                for t, inst in zip(tracers_out, instantiate(len(tracers_out)), strict=True)
            ]
    return tape, tracers_in, tracers_out


def partial_eval_flat(
    fun: Callable[..., Sequence[Any]],
    pvals_in: Sequence[PartialVal],
    *,
    instantiate: Callable[[int], Sequence[bool]],
    name: str = "linearize",
) -> tuple[Jaxpr, list[PartialVal], list[Any]]:
    """Evaluate ``fun`` on partially known inputs.

    Returns the jaxpr of the unknown part (inputs: its constants, then the unknown
    inputs in order; outputs: the unknown outputs), the output ``PartialVal``s and the
    constant values. ``instantiate(num_outputs)`` says which outputs to make unknown
    even when their value is known.
    """
    tape, tracers_in, tracers_out = _run_partial_eval(fun, pvals_in, instantiate, name)
    invars = [t.var for t in tracers_in if not t.pval.is_known]
    outs = [t.var for t in tracers_out if not t.pval.is_known]
    jaxpr, consts = tape.to_jaxpr(invars, outs)
    return jaxpr, [t.pval for t in tracers_out], consts


def dce_jaxpr(jaxpr: Jaxpr, used_outputs: Sequence[bool] | None = None) -> Jaxpr:
    """Remove equations whose outputs are not needed (inputs are kept)."""
    outs = jaxpr.outs
    if used_outputs is not None:
        outs = tuple(o for o, used in zip(outs, used_outputs, strict=True) if used)
    live: set[Var] = {x for x in outs if isinstance(x, Var)}
    kept: list[JaxprEqn] = []
    for eqn in reversed(jaxpr.eqns):
        if any(v in live for v in eqn.out_binders) or getattr(eqn.primitive, "effectful", False):
            kept.append(eqn)
            live.update(x for x in eqn.inputs if isinstance(x, Var))
    return Jaxpr(jaxpr.in_binders, tuple(reversed(kept)), outs, jaxpr.num_consts)


def _as_array_value(x: Any) -> Any:
    """Python scalars become (weak) arrays once, so every use shares one residual."""
    if type(x) in (bool, int, float, complex):
        return core._wrap_value(np.asarray(x, dtype=get_aval(x).dtype), True)
    return x


class Linearized:
    """The result of ``linearize_tape``: the linear part of a function at a point.

    ``tape`` holds the staged tangent equations and their residuals (its constants),
    ``in_vars`` the tangent input of each primal input and ``out_vars`` the tangent of
    each output (a constvar for an output whose tangent is a constant zero).
    """

    __slots__ = ("tape", "in_vars", "out_vars")

    def __init__(self, tape: Tape, in_vars: list[Var], out_vars: list[Var]):
        self.tape = tape
        self.in_vars = in_vars
        self.out_vars = out_vars

    def to_jaxpr(self) -> tuple[Jaxpr, list[Any]]:
        """The tangent jaxpr (residuals, then tangent inputs) and the residual values."""
        return self.tape.to_jaxpr(self.in_vars, self.out_vars)


def linearize_tape(
    fun: Callable[..., Sequence[Any]], primals: Sequence[Any], *, name: str = "linearize"
) -> tuple[list[Any], Linearized]:
    """Evaluate ``fun`` at ``primals`` and record its JVP, linear in the tangents.

    The JVP runs under partial evaluation with known primals and unknown tangents:
    primal operations are evaluated now, tangent operations are recorded on a tape.
    """
    primals = [_as_array_value(x) for x in primals]
    pvals_in = [PartialVal.unknown(tangent_aval(get_aval(x))) for x in primals]

    def fun_jvp(*tangents):
        # The primals stay below this partial-evaluation level, so primal operations
        # skip it and only tangents are staged.
        primals_out, tangents_out = jvp_flat(fun, primals, tangents, name=name)
        return [*primals_out, *(instantiate_zeros(t) for t in tangents_out)]

    def tangents_unknown(num_outs: int) -> list[bool]:
        half = num_outs // 2
        return [False] * half + [True] * half

    tape, tracers_in, tracers_out = _run_partial_eval(fun_jvp, pvals_in, tangents_unknown, name)
    num = len(tracers_out) // 2
    primals_out = [t.pval.const for t in tracers_out[:num]]
    lin = Linearized(tape, [t.var for t in tracers_in], [t.var for t in tracers_out[num:]])
    return primals_out, lin


def linearize_flat(
    fun: Callable[..., Sequence[Any]], primals: Sequence[Any], *, name: str = "linearize"
) -> tuple[list[Any], Jaxpr, list[Any]]:
    """Evaluate ``fun`` at ``primals`` and stage its JVP as a jaxpr linear in tangents.

    Returns ``(primals_out, jaxpr, residuals)``: ``jaxpr`` takes the residuals, then one
    tangent per primal input, and returns one tangent per output.
    """
    primals_out, lin = linearize_tape(fun, primals, name=name)
    jaxpr, consts = lin.to_jaxpr()
    return primals_out, jaxpr, consts


# ---------------------------------------------------------------------------------------
# Jaxpr-level transformations used by primitives that carry jaxprs (control flow)
# ---------------------------------------------------------------------------------------


def closed_call(closed: ClosedJaxpr, *args: Any) -> list[Any]:
    """Evaluate ``closed`` on ``args`` under the current transformations."""
    return eval_jaxpr(closed.jaxpr, closed.consts, *args)


def trace_jaxpr(
    fun: Callable[..., Sequence[Any]], in_avals: Sequence[ShapedArray], name: str = "jaxpr"
) -> ClosedJaxpr:
    """Stage ``fun`` to a ClosedJaxpr whose constants are hoisted to ``consts``."""
    return trace_to_jaxpr(fun, in_avals, name=name)


def partial_eval_jaxpr(
    closed: ClosedJaxpr, in_unknowns: Sequence[bool], instantiate: Sequence[bool] | bool
) -> tuple[ClosedJaxpr, ClosedJaxpr, list[bool], int]:
    """Split ``closed`` into a known and an unknown jaxpr.

    Returns ``(known, unknown, out_unknowns, num_res)``: ``known`` maps the known inputs
    to the known outputs followed by ``num_res`` residuals; ``unknown`` maps the
    residuals followed by the unknown inputs to the unknown outputs. Outputs with
    ``instantiate`` set are unknown even when computable from known inputs.
    """
    in_avals = closed.in_avals
    if isinstance(instantiate, bool):
        instantiate = [instantiate] * len(closed.out_avals)
    known_avals = [a for a, uk in zip(in_avals, in_unknowns, strict=True) if not uk]
    found: dict[str, Any] = {}

    def fun_known(*known_vals):
        it = iter(known_vals)
        pvals = [
            PartialVal.unknown(a) if uk else PartialVal.known(next(it))
            for a, uk in zip(in_avals, in_unknowns, strict=True)
        ]
        jaxpr_uk, pvals_out, residuals = partial_eval_flat(
            lambda *a: closed_call(closed, *a),
            pvals,
            instantiate=lambda n: list(instantiate),
            name="partial_eval_jaxpr",
        )
        found["jaxpr"] = jaxpr_uk
        found["out_unknowns"] = [not p.is_known for p in pvals_out]
        found["res_avals"] = [get_aval(r) for r in residuals]
        known_outs = [p.const for p in pvals_out if p.is_known]
        return [*known_outs, *residuals]

    known = trace_to_jaxpr(fun_known, known_avals, name="partial_eval_jaxpr")
    jaxpr_uk: Jaxpr = found["jaxpr"]
    # The unknown jaxpr's constvars are exactly the residuals: make them inputs.
    unknown = ClosedJaxpr(Jaxpr(jaxpr_uk.in_binders, jaxpr_uk.eqns, jaxpr_uk.outs, 0), ())
    return known, unknown, found["out_unknowns"], len(found["res_avals"])
