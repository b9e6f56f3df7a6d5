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
the tangent computation (a linear jaxpr, later transposed for reverse mode).
See Autodidax, "Part 4: linearize and vjp", and "You Only Linearize Once"
(https://arxiv.org/abs/2204.10923).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from fxgrad.core import (
    Primitive,
    ShapedArray,
    Trace,
    Tracer,
    _user_frame,
    concrete_value,
    get_aval,
    new_main,
)
from fxgrad.jaxpr import ClosedJaxpr, Jaxpr, JaxprEqn, Literal, Var

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
        avals_out = primitive.abstract_eval(*avals_in, **params)
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
    from fxgrad.config import config

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


class _LambdaBinding:
    __slots__ = ()


class _ConstRecipe:
    __slots__ = ("val",)

    def __init__(self, val: Any):
        self.val = val


class _EqnRecipe:
    __slots__ = ("prim", "tracers_in", "params", "out_binders")

    def __init__(self, prim, tracers_in, params, out_binders):
        self.prim = prim
        self.tracers_in = tracers_in
        self.params = params
        self.out_binders = out_binders


class PartialEvalTracer(Tracer):
    __slots__ = ("pval", "recipe", "out_index")

    def __init__(self, trace, pval: PartialVal, recipe=None, out_index: int = 0):
        self._trace = trace
        self.pval = pval
        self.recipe = recipe
        self.out_index = out_index

    @property
    def aval(self) -> ShapedArray:
        return self.pval.aval

    def full_lower(self) -> Any:
        if self.pval.is_known:
            from fxgrad.core import full_lower

            return full_lower(self.pval.const)
        return self

    def to_concrete_value(self) -> Any:
        if self.pval.is_known:
            return concrete_value(self.pval.const)
        return None


class PartialEvalTrace(Trace):
    __slots__ = ()

    def new_arg(self, pval: PartialVal) -> PartialEvalTracer:
        if pval.is_known:
            return PartialEvalTracer(self, pval)
        return PartialEvalTracer(self, pval, _LambdaBinding())

    def pure(self, val: Any) -> PartialEvalTracer:
        return PartialEvalTracer(self, PartialVal.known(val))

    lift = pure

    def instantiate_const(self, tracer: PartialEvalTracer) -> PartialEvalTracer:
        if not tracer.pval.is_known:
            return tracer
        val = tracer.pval.const
        return PartialEvalTracer(self, PartialVal.unknown(get_aval(val)), _ConstRecipe(val))

    def process_primitive(self, primitive: Primitive, tracers: list, params: dict) -> Any:
        if all(t.pval.is_known for t in tracers):
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
        tracers_in = [self.instantiate_const(self.full_raise(t)) for t in tracers]
        avals_out = primitive.abstract_eval(*[t.aval for t in tracers_in], **params)
        if not primitive.multiple_results:
            avals_out = [avals_out]
        recipe = _EqnRecipe(primitive, tracers_in, params, [Var(a) for a in avals_out])
        return [
            PartialEvalTracer(self, PartialVal.unknown(a), recipe, i)
            for i, a in enumerate(avals_out)
        ]


def _toposort(out_tracers: Sequence[PartialEvalTracer]) -> list[PartialEvalTracer]:
    """Tracers reachable from ``out_tracers``, parents before children (iterative DFS)."""
    order: list[PartialEvalTracer] = []
    visited: set[int] = set()
    stack: list[tuple[PartialEvalTracer, bool]] = [(t, False) for t in reversed(out_tracers)]
    while stack:
        tracer, expanded = stack.pop()
        if expanded:
            order.append(tracer)
            continue
        if id(tracer) in visited:
            continue
        visited.add(id(tracer))
        stack.append((tracer, True))
        if isinstance(tracer.recipe, _EqnRecipe):
            for parent in reversed(tracer.recipe.tracers_in):
                if id(parent) not in visited:
                    stack.append((parent, False))
    return order


def tracers_to_jaxpr(
    tracers_in: Sequence[PartialEvalTracer], tracers_out: Sequence[PartialEvalTracer]
) -> tuple[Jaxpr, list[Any]]:
    """The jaxpr computing ``tracers_out`` from ``tracers_in`` and its constants."""
    tracer_to_var: dict[int, Var] = {id(t): Var(t.aval) for t in tracers_in}
    const_vars: dict[int, Var] = {}
    const_vals: list[Any] = []
    constvars: list[Var] = []
    eqns: list[JaxprEqn] = []
    emitted: set[int] = set()
    for t in _toposort(tracers_out):
        recipe = t.recipe
        if isinstance(recipe, _LambdaBinding):
            assert id(t) in tracer_to_var, "unknown input not among the jaxpr inputs"
        elif isinstance(recipe, _ConstRecipe):
            var = const_vars.get(id(recipe.val))
            if var is None:
                var = const_vars[id(recipe.val)] = Var(t.aval)
                constvars.append(var)
                const_vals.append(recipe.val)
            tracer_to_var[id(t)] = var
        elif isinstance(recipe, _EqnRecipe):
            if id(recipe) not in emitted:
                emitted.add(id(recipe))
                inputs = tuple(tracer_to_var[id(x)] for x in recipe.tracers_in)
                eqns.append(JaxprEqn(recipe.prim, inputs, recipe.params, tuple(recipe.out_binders)))
            tracer_to_var[id(t)] = recipe.out_binders[t.out_index]
        else:
            raise AssertionError(f"tracer without recipe: {t}")
    in_binders = tuple(constvars) + tuple(tracer_to_var[id(t)] for t in tracers_in)
    outs = tuple(tracer_to_var[id(t)] for t in tracers_out)
    return Jaxpr(in_binders, tuple(eqns), outs, len(constvars)), const_vals


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
    with new_main(PartialEvalTrace, name=name) as main:
        trace = PartialEvalTrace(main)
        tracers_in = [trace.new_arg(p) for p in pvals_in]
        outs = fun(*tracers_in)
        tracers_out = [trace.full_raise(o) for o in outs]
        tracers_out = [
            trace.instantiate_const(t) if inst else t
            for t, inst in zip(tracers_out, instantiate(len(tracers_out)), strict=True)
        ]
        pvals_out = [t.pval for t in tracers_out]
        unknown_in = [t for t in tracers_in if not t.pval.is_known]
        unknown_out = [t for t in tracers_out if not t.pval.is_known]
        jaxpr, consts = tracers_to_jaxpr(unknown_in, unknown_out)
    return jaxpr, pvals_out, consts


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
        from fxgrad import core

        return core._wrap_value(np.asarray(x, dtype=get_aval(x).dtype), True)
    return x


def linearize_flat(
    fun: Callable[..., Sequence[Any]], primals: Sequence[Any], *, name: str = "linearize"
) -> tuple[list[Any], Jaxpr, list[Any]]:
    """Evaluate ``fun`` at ``primals`` and stage its JVP as a jaxpr linear in tangents.

    Returns ``(primals_out, jaxpr, residuals)``: ``jaxpr`` takes the residuals, then one
    tangent per primal input, and returns one tangent per output.
    """
    from fxgrad.core import tangent_aval
    from fxgrad.interpreters.jvp import instantiate_zeros, jvp_flat

    n = len(primals)
    pvals_in = [PartialVal.known(x) for x in primals] + [
        PartialVal.unknown(tangent_aval(get_aval(x))) for x in primals
    ]

    def fun_jvp(*primals_and_tangents):
        # The primals are known: hand the JVP their lower-level values, so primal
        # operations skip this partial-evaluation level and only tangents are staged.
        primals = [_as_array_value(p.pval.const) for p in primals_and_tangents[:n]]
        primals_out, tangents_out = jvp_flat(fun, primals, primals_and_tangents[n:], name=name)
        return [*primals_out, *(instantiate_zeros(t) for t in tangents_out)]

    def tangents_unknown(num_outs: int) -> list[bool]:
        half = num_outs // 2
        return [False] * half + [True] * half

    jaxpr, pvals_out, consts = partial_eval_flat(
        fun_jvp, pvals_in, instantiate=tangents_unknown, name=name
    )
    num = len(pvals_out) // 2
    primals_out = [p.const for p in pvals_out[:num]]
    return primals_out, jaxpr, consts


# ---------------------------------------------------------------------------------------
# Jaxpr-level transformations used by primitives that carry jaxprs (control flow)
# ---------------------------------------------------------------------------------------


def closed_call(closed: ClosedJaxpr, *args: Any) -> list[Any]:
    """Evaluate ``closed`` on ``args`` under the current transformations."""
    from fxgrad.jaxpr import eval_jaxpr

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
