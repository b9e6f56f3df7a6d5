"""Eager reverse mode: ``vjp`` of concrete inputs by recording a tape of pullbacks.

Reverse mode in general is linearize + transpose (``transpose.vjp_flat``): a JVP runs
under partial evaluation, which stages the tangent equations, and the staged equations
are transposed. That is what ``grad`` needs under ``jit``, ``vmap`` or another ``grad``.
When ``vjp`` is called eagerly on concrete arrays (no transformation active) it does
the same work with one interpreter level instead of two: each primitive is evaluated
on its concrete inputs and a pullback is recorded next to it, as HIPS autograd does.
Most of the cost of eager ``grad`` on small arrays is per-primitive interpreter
overhead, so halving the levels matters.

The pullbacks are not written by hand, so forward and reverse mode cannot drift apart:

* A primitive linear in an input (``add``, ``mul`` in either operand, ``dot_general``,
  ``reduce_sum``, ``broadcast_in_dim``, ``reshape``...) pulls back through its
  transpose rule, with the other operands fixed at their values.
* An elementwise primitive whose input and output have the same shape and a real
  floating dtype has a diagonal derivative: its JVP multiplies the tangent by a factor,
  and so does its pullback. A cotangent without zeros goes through the JVP partial
  itself; otherwise the partial of ones is the factor, and the product treats a zero
  cotangent as exact, as the transpose rules do (the ``where`` rule).
* Any other primitive (control flow, ``jit``, custom derivatives, linear algebra,
  complex arithmetic...) is differentiated alone by ``transpose.vjp_flat_traced``,
  which handles everything, and its pullback is recorded.

``fxgrad.lax`` registers which primitives take the first two routes
(``fxgrad/lax/_reverse_rules.py``). Outputs that cannot carry a gradient (integer and
boolean results, primitives with a zero derivative) are plain arrays, not tracers.

Pullbacks are written with ``lax`` primitives, so the returned ``f_vjp`` can itself be
called under ``jit``, ``vmap`` or ``grad``. Called with concrete cotangents, the
backward pass runs on NumPy values instead: a pullback met before is traced once to a
jaxpr and replayed by the primitives' implementations (see "Pullbacks on NumPy values"
below), and the backward pass of a whole tape met before runs as one flat program of
those calls (``tape_program.py``). ``fxgrad.numpy``'s elementwise functions record on
the tape directly (``tape_elementwise``) when their operands need no promotion.
``config.eager_vjp_tape = False`` sends eager ``vjp`` through linearize + transpose as
well.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from fxgrad import core
from fxgrad._quiet import ignore_fp_errors, restore_fp_errors
from fxgrad.config import config
from fxgrad.core import Primitive, Trace, Tracer, get_aval, new_main, tangent_aval
from fxgrad.interpreters import array_ops
from fxgrad.interpreters.jvp import Zero
from fxgrad.interpreters.transpose import UndefPrimal, transpose_rules
from fxgrad.jaxpr import Var

#: ``primitive -> (linear input indices, joint)``: the primitive is linear in each of
#: those inputs for fixed values of the others (``joint``: in all of them together, so
#: one transpose-rule call serves every active input).
linear_inputs: dict[Primitive, tuple[tuple[int, ...], bool]] = {}

#: ``primitive -> JVP partials``: ``partials[i](t, out, *primals, **params)`` is the
#: tangent contribution of input ``i`` of an elementwise primitive (``None``: none).
elementwise_partials: dict[Primitive, tuple[Callable[..., Any] | None, ...]] = {}

#: Primitives whose outputs have a zero derivative (``stop_gradient``, ``floor``...).
zero_derivative: set[Primitive] = set()


def _missing_mul(ct: Any, factor: Any) -> Any:
    raise RuntimeError("fxgrad.lax has not been imported; import fxgrad first")


#: ``scale(ct, factor)``: the cotangent times an elementwise factor, where a zero
#: cotangent annihilates an infinite factor (installed by ``fxgrad.lax``).
scale_cotangent: Callable[[Any, Any], Any] = _missing_mul


def install(scale: Callable[[Any, Any], Any], array_type: type) -> None:
    """Called by ``fxgrad.lax``: the cotangent scaling and the ``Array`` type."""
    global scale_cotangent, _array_type
    scale_cotangent = scale
    _array_type = array_type


# ---------------------------------------------------------------------------------------
# The trace
# ---------------------------------------------------------------------------------------


class ReverseTracer(Tracer):
    """A concrete ``primal`` recorded on a tape: ``vid`` names it there (``None`` for a
    constant, which needs no cotangent)."""

    __slots__ = ("primal", "vid", "_aval")

    def __init__(self, trace: ReverseTrace, primal: Any, vid: int | None):
        self._trace = trace
        self.primal = primal
        self.vid = vid
        self._aval = None

    @property
    def aval(self) -> core.ShapedArray:
        aval = self._aval
        if aval is None:
            aval = self._aval = get_aval(self.primal)
        return aval

    def to_concrete_value(self) -> Any:
        return self.primal


class _Node:
    """One recorded primitive application.

    ``in_ids`` names the active inputs (those with cotangents), ``out_ids`` the outputs
    (``None`` for an output without a gradient). A node pulled back by rules keeps
    what they read (``primitive``, ``primals``, ``out``, ``params``, ``active``); a
    generic node keeps the linearized pullback in ``pull`` instead.
    """

    __slots__ = ("primitive", "primals", "out", "params", "active", "in_ids", "out_ids", "pull")

    def __init__(self, primitive, primals, out, params, active, in_ids, out_ids, pull=None):
        self.primitive = primitive
        self.primals = primals
        self.out = out
        self.params = params
        self.active = active
        self.in_ids = in_ids
        self.out_ids = out_ids
        self.pull = pull


class _Tape:
    __slots__ = ("nodes", "next_id")

    def __init__(self) -> None:
        self.nodes: list[_Node] = []
        self.next_id = 0

    def new_id(self) -> int:
        self.next_id += 1
        return self.next_id


_array_type: type | None = None  # fxgrad.Array, once fxgrad.array has been imported


def _kind(x: Any) -> str:
    """The dtype kind of a concrete value (``"f"``, ``"c"``, ``"i"``...)."""
    if type(x) is _array_type:
        return x._value.dtype.kind
    return get_aval(x).dtype.kind


def _shape(x: Any) -> tuple[int, ...]:
    if type(x) is _array_type:
        return x._value.shape
    return tuple(get_aval(x).shape)


class ReverseTrace(Trace):
    __slots__ = ()

    def pure(self, val: Any) -> ReverseTracer:
        return ReverseTracer(self, val, None)

    lift = pure

    def full_raise(self, val: Any) -> Any:
        # A constant stays as it is (``process_primitive`` takes it as its own primal):
        # below this level there is only evaluation, so every other argument is
        # concrete, and boxing constants cost a tracer per operand.
        if not isinstance(val, Tracer):
            return val
        return Trace.full_raise(self, val)

    def process_primitive(self, primitive: Primitive, tracers: list, params: dict) -> Any:
        primals = []
        active = []
        for i, t in enumerate(tracers):
            if type(t) is ReverseTracer:
                primals.append(t.primal)
                if t.vid is not None:
                    active.append(i)
            else:
                primals.append(t)
        if not active or primitive in zero_derivative:
            return core._eval_fast(primitive, primals, params)
        if not primitive.multiple_results:
            # The primals are concrete (only the evaluation level is below this one).
            out = core._eval_fast(primitive, primals, params)
            if _kind(out) not in "fc":
                return out
            if _has_rules(primitive, primals, active, out):
                return self._record(primitive, primals, out, params, active, tracers)
        return self._record_generic(primitive, primals, tracers, active, params)

    def _record(
        self,
        primitive: Primitive,
        primals: list,
        out: Any,
        params: dict,
        active: list[int],
        tracers: Sequence[Any],
    ) -> ReverseTracer:
        """Record ``out = primitive(*primals)``, pulled back by rules, on the tape."""
        tape: _Tape = self.main.global_data
        vid = tape.next_id = tape.next_id + 1  # tape.new_id(), inlined: once per operation
        in_ids = []
        for i in active:
            in_ids.append(tracers[i].vid)
        tape.nodes.append(_Node(primitive, primals, out, params, active, in_ids, [vid]))
        return ReverseTracer(self, out, vid)

    def _record_generic(
        self, primitive: Primitive, primals: list, tracers: list, active: list[int], params
    ) -> Any:
        """Differentiate ``primitive`` alone by linearize + transpose and record that."""
        from fxgrad.interpreters.transpose import vjp_flat_traced

        def apply(*active_vals: Any) -> list[Any]:
            args = list(primals)
            for i, v in zip(active, active_vals, strict=True):
                args[i] = v
            out = primitive.bind(*args, **params)
            return list(out) if primitive.multiple_results else [out]

        outs, f_vjp = vjp_flat_traced(apply, [primals[i] for i in active], name=primitive.name)
        out_avals = [get_aval(o) for o in outs]

        def pull(cts: list[Any]) -> list[Any]:
            cts = [
                Zero(tangent_aval(a)) if c is None else c
                for c, a in zip(cts, out_avals, strict=True)
            ]
            return f_vjp(cts)

        tape: _Tape = self.main.global_data
        boxed, out_ids = [], []
        for o in outs:
            if _kind(o) in "fc":
                vid = tape.new_id()
                boxed.append(ReverseTracer(self, o, vid))
                out_ids.append(vid)
            else:
                boxed.append(o)
                out_ids.append(None)
        in_ids = [tracers[i].vid for i in active]
        tape.nodes.append(_Node(primitive, None, None, None, active, in_ids, out_ids, pull))
        return boxed if primitive.multiple_results else boxed[0]


def tape_elementwise(primitive: Primitive, args: Sequence[Any], params: dict) -> Any:
    """``primitive.bind(*args, **params)`` for an elementwise ``primitive`` whose
    operands are Arrays and tracers of the tape on top of the interpreter stack, all of
    one shape and one real floating dtype; ``None`` in any other case.

    The same evaluation and record as ``ReverseTrace.process_primitive``, without the
    promotion checks of ``fxgrad.numpy`` and the dispatch of ``bind``: eager ``grad``
    of small functions is mostly that overhead.
    """
    state = core._local_state
    main = state.stack[-1]
    trace = main.trace
    if type(trace) is not ReverseTrace or state.dynamic is not state.base:
        return None
    primals = []
    active = []
    first = None
    for i, a in enumerate(args):
        if type(a) is ReverseTracer:
            if a._trace.main is not main:
                return None
            if a.vid is not None:
                active.append(i)
            a = a.primal
        if type(a) is not _array_type:
            return None
        value = a._value
        if first is None:
            first = value
            if value.dtype.kind != "f":
                return None
        elif value.shape != first.shape or value.dtype != first.dtype:
            return None
        primals.append(a)
    if not active:
        return None
    if primitive in zero_derivative:
        return core._eval_fast(primitive, primals, params)
    linear = linear_inputs.get(primitive, ((), False))[0]
    partials = elementwise_partials.get(primitive)
    if partials is None:
        return None
    for i in active:
        if partials[i] is None and i not in linear:
            return None
    out = core._eval_fast(primitive, primals, params)
    kind = _kind(out)
    if kind == "f":
        return trace._record(primitive, primals, out, params, active, args)
    return out if kind != "c" else None  # complex: bind takes the general route


def tape_linear_unary(primitive: Primitive, x: Any, params: dict) -> Any:
    """``primitive.bind(x, **params)`` for a ``primitive`` of one operand that it is
    linear in (``reduce_sum``...), when ``x`` is a tracer of the tape on top of the
    interpreter stack; ``None`` in any other case. What ``process_primitive`` does,
    without the dispatch of ``bind``."""
    state = core._local_state
    main = state.stack[-1]
    if (
        type(x) is not ReverseTracer
        or x._trace.main is not main
        or x.vid is None
        or state.dynamic is not state.base
        or 0 not in linear_inputs.get(primitive, ((), False))[0]
    ):
        return None
    primals = [x.primal]
    out = core._eval_fast(primitive, primals, params)
    if _kind(out) not in "fc":
        return out
    return main.trace._record(primitive, primals, out, params, [0], [x])


def _has_rules(primitive: Primitive, primals: list, active: list[int], out: Any) -> bool:
    """Whether ``_pull_by_rules`` covers ``primitive`` for these active inputs: each is
    linear, or real with the output's shape under a diagonal elementwise derivative."""
    linear = linear_inputs.get(primitive, ((), False))[0]
    for i in active:
        if i not in linear and not _diagonal(primitive, primals, i, out):
            return False
    return True


def _diagonal(primitive: Primitive, primals: list, i: int, out: Any) -> bool:
    """Whether input ``i`` of an elementwise ``primitive`` has a diagonal real derivative
    given by a JVP partial (same shape as the output, both real floating)."""
    partials = elementwise_partials.get(primitive)
    if partials is None or partials[i] is None:
        return False
    x = primals[i]
    return _kind(out) == "f" and _kind(x) == "f" and _shape(x) == _shape(out)


def _has_no_zeros(ct: Any) -> bool:
    """Whether ``ct`` is concrete and has no zero entry."""
    value = ct._value if type(ct) is _array_type else core.concrete_value(ct)
    if value is None:
        return False
    value = np.asarray(value)
    return np.count_nonzero(value) == value.size  # 4x cheaper than value.all()


def _zero_free(node: _Node, ct: Any) -> bool:
    """The ``no_zeros`` argument of ``_pullback`` for ``node``: only an elementwise
    (diagonal) pullback depends on whether the cotangent has a zero entry."""
    return node.primitive in elementwise_partials and _has_no_zeros(ct)


def _pull_by_rules(node: _Node, ct: Any) -> list[Any]:
    """The cotangents of ``node``'s active inputs given its output's cotangent."""
    return _pullback(
        node.primitive, node.params, node.active, ct, node.out, node.primals, _zero_free(node, ct)
    )


def _pullback(
    primitive: Primitive,
    params: dict,
    active: list[int],
    ct: Any,
    out: Any,
    primals: Sequence[Any],
    no_zeros: bool,
) -> list[Any]:
    """The cotangents of the ``active`` inputs of ``primitive`` given ``ct``.

    A diagonal input takes ``partial(ct)`` when the cotangent has no zero entry (the
    transposed linearization's arithmetic); otherwise, and for inputs that are only
    linear, the transpose rule or the partial of ones scaled zero-safely keeps
    zero cotangents exactly zero (the ``where`` rule).
    """
    linear, joint = linear_inputs.get(primitive, ((), False))
    result: dict[int, Any] = {}
    by_transpose = []
    for i in active:
        if _diagonal(primitive, primals, i, out):
            partial = elementwise_partials[primitive][i]
            if no_zeros:
                result[i] = partial(ct, out, *primals, **params)
                continue
            if i not in linear:
                ones = array_ops.zeros(get_aval(out).strip_weak_type()) + 1  # lax add: traceable
                result[i] = scale_cotangent(ct, partial(ones, out, *primals, **params))
                continue
        by_transpose.append(i)
    if by_transpose:
        rule = transpose_rules[primitive]
        for group in [by_transpose] if joint else [[i] for i in by_transpose]:
            args = [
                UndefPrimal(tangent_aval(get_aval(p))) if k in group else p
                for k, p in enumerate(primals)
            ]
            cts_in = rule(ct, *args, **params)
            for i in group:
                result[i] = cts_in[i]
    return [result[i] for i in active]


# ---------------------------------------------------------------------------------------
# Pullbacks on NumPy values
# ---------------------------------------------------------------------------------------
#
# Evaluated through ``bind``, a pullback of a few primitives costs a few microseconds per
# primitive in dispatch and wrapping, several times NumPy's own time on small arrays.
# When ``f_vjp`` gets concrete cotangents, a pullback seen before is instead traced once
# to a jaxpr (from the same rules) and that jaxpr is run by calling each primitive's
# ``impl`` on NumPy values: the backward pass then costs about what NumPy does. A
# pullback is traced the second time its signature (primitive, params, active inputs,
# input and output types, cotangent with or without zeros, the flags that change
# tracing) is met, so one-off shapes do not pay for tracing.

#: ``_programs`` values of a signature met once, not traced yet, and of one whose
#: pullback has a primitive without an ``impl`` (it keeps pulling back through ``bind``)
_SEEN_ONCE = object()
_UNTRACEABLE = object()
#: signature -> the traced pullback (a ``_Program``), or one of the markers above
_programs: dict[tuple, Any] = {}
_MAX_PROGRAMS = 4096


def _raw(x: Any) -> Any:
    """The NumPy value of a concrete value (an Array's buffer)."""
    return x._value if type(x) is _array_type else x


def _node_key(node: _Node, ct_dtype: np.dtype, ct_shape: tuple, no_zeros: bool) -> tuple:
    """The signature of ``node``'s pullback for a cotangent of ``ct_dtype``/``ct_shape``:
    what tracing it depends on. Raises TypeError for unhashable params."""
    key = (
        node.primitive,
        config.trace_token(),  # flags that change what tracing produces
        no_zeros,
        ct_dtype,
        ct_shape,
        _type_key(node.out),
        *node.active,
        *[_type_key(p) for p in node.primals],
        *node.params.values(),  # a primitive's params always have the same names
    )
    hash(key)
    return key


def traced_pullback(node: _Node, ct_aval: core.ShapedArray, no_zeros: bool) -> _Program | None:
    """``node``'s pullback as a ``_Program``, traced now unless cached; ``None`` when it
    cannot run on NumPy values (unhashable params, a primitive without ``impl``)."""
    try:
        key = _node_key(node, ct_aval.dtype, ct_aval.shape, no_zeros)
    except TypeError:
        return None
    program = _programs.get(key)
    if type(program) is not _Program and program is not _UNTRACEABLE:
        program = _store_trace(key, node, ct_aval, no_zeros)
    return program if type(program) is _Program else None


def _store_trace(key: tuple, node: _Node, ct_aval: core.ShapedArray, no_zeros: bool) -> Any:
    """Trace ``node``'s pullback into ``_programs[key]``: a ``_Program``, or
    ``_UNTRACEABLE``."""
    if len(_programs) >= _MAX_PROGRAMS:
        _programs.clear()
    program = _programs[key] = _trace_pullback(node, ct_aval, no_zeros) or _UNTRACEABLE
    return program


def _pull_raw(node: _Node, ct: Any) -> list[Any]:
    """``_pull_by_rules`` for a NumPy cotangent, returning NumPy cotangents."""
    if type(ct) is not np.ndarray:
        ct = np.asarray(ct)
    no_zeros = _zero_free(node, ct)
    primals = node.primals
    try:
        key = _node_key(node, ct.dtype, ct.shape, no_zeros)
        program = _programs.get(key)
    except TypeError:  # unhashable params: never traced
        key, program = None, _UNTRACEABLE
    if program is None:  # first sighting
        if len(_programs) >= _MAX_PROGRAMS:
            _programs.clear()
        _programs[key] = program = _SEEN_ONCE
    elif program is _SEEN_ONCE:  # second sighting: trace it
        program = _store_trace(key, node, core.shaped(ct.shape, ct.dtype, False), no_zeros)
    if type(program) is not _Program:
        boxed = core._wrap_value(ct, False)
        cts = _pullback(
            node.primitive, node.params, node.active, boxed, node.out, primals, no_zeros
        )
        return [_raw(c) for c in cts]
    return program.run([ct, _raw(node.out), *[_raw(p) for p in primals]])


def _type_key(x: Any) -> Any:
    """A hashable stand-in for ``get_aval(x)`` (cheaper for an Array than hashing one)."""
    if type(x) is _array_type:
        value = x._value
        return value.dtype, value.shape, x.weak_type
    return get_aval(x)


def _trace_pullback(node: _Node, ct_aval: core.ShapedArray, no_zeros: bool) -> _Program | None:
    """The pullback of ``node`` as a ``_Program`` of ``(ct, out, *primals)``, or ``None``
    when some primitive in it has no ``impl`` to run on NumPy values."""
    from fxgrad.interpreters.jvp import instantiate_zeros
    from fxgrad.interpreters.partial_eval import trace_to_jaxpr

    def pullback(ct: Any, out: Any, *primals: Any) -> list[Any]:
        cts = _pullback(node.primitive, node.params, node.active, ct, out, primals, no_zeros)
        return [instantiate_zeros(c) for c in cts]

    in_avals = [
        ct_aval,
        get_aval(node.out),
        *[get_aval(p) for p in node.primals],
    ]
    closed = trace_to_jaxpr(pullback, in_avals, name=f"pullback({node.primitive.name})")
    jaxpr = closed.jaxpr
    if any(e.primitive.impl is None or e.primitive.multiple_results for e in jaxpr.eqns):
        return None
    return _Program(jaxpr, [_raw(c) for c in closed.consts])


class _Program:
    """A jaxpr run on NumPy values by calling each primitive's ``impl``.

    Values live in a list: the constants (the jaxpr's, the results of equations of
    constants alone, computed here once, and literals), then the arguments, then one
    slot per remaining equation, in order. The steps call the implementations without
    their ``quiet`` wrappers; ``run`` ignores floating-point errors once around them all.
    """

    __slots__ = ("consts", "steps", "outs", "out_avals", "n_args")

    def __init__(self, jaxpr: Any, consts: list) -> None:
        n_consts = jaxpr.num_consts
        values = list(consts)
        slots: dict[Any, int] = {v: i for i, v in enumerate(jaxpr.in_binders[:n_consts])}

        def const_slot(key: Any, value: Any) -> None:
            slots[key] = len(values)
            values.append(value)

        deferred = []
        for eqn in jaxpr.eqns:  # equations of constants alone are computed now
            if all(type(x) is not Var or x in slots for x in eqn.inputs):
                vals = [values[slots[x]] if type(x) is Var else x.val for x in eqn.inputs]
                const_slot(eqn.out_binders[0], eqn.primitive.impl(*vals, **eqn.params))
            else:
                deferred.append(eqn)
        literals = [x for e in deferred for x in e.inputs if type(x) is not Var]
        for x in literals + [x for x in jaxpr.outs if type(x) is not Var]:
            const_slot(id(x), x.val)
        base = len(values)
        for i, v in enumerate(jaxpr.in_binders[n_consts:]):
            slots[v] = base + i
        nxt = base + len(jaxpr.in_binders) - n_consts
        steps = []
        for eqn in deferred:
            ins = tuple(slots[x] if type(x) is Var else slots[id(x)] for x in eqn.inputs)
            impl = eqn.primitive.impl
            steps.append((getattr(impl, "__wrapped__", impl), ins, eqn.params))
            slots[eqn.out_binders[0]] = nxt
            nxt += 1
        self.consts = values
        self.steps = steps
        self.outs = [slots[x] if type(x) is Var else slots[id(x)] for x in jaxpr.outs]
        self.out_avals = [x.aval for x in jaxpr.outs]
        self.n_args = len(jaxpr.in_binders) - n_consts

    def same_as(self, other: _Program) -> bool:
        """Whether ``other`` makes the same calls on the same constants."""
        if self.steps != other.steps or self.outs != other.outs:
            return False
        if len(self.consts) != len(other.consts):
            return False
        for a, b in zip(self.consts, other.consts, strict=True):
            a, b = np.asarray(a), np.asarray(b)
            if a.dtype != b.dtype or a.shape != b.shape or not np.array_equal(a, b):
                return False
        return True

    def run(self, args: list) -> list[Any]:
        env = self.consts + args
        run_steps(env, self.steps)
        return [env[i] for i in self.outs]


def run_steps(env: list[Any], steps: Sequence[tuple[Callable, tuple[int, ...], dict]]) -> None:
    """Append to ``env`` the result of each step ``(fn, input slots, params)``, with
    floating-point errors ignored. The common arities are spelled out: building the
    argument list costs more than a NumPy call on a small array."""
    append = env.append
    token = ignore_fp_errors()
    try:
        for fn, ins, params in steps:
            if params:
                append(fn(*[env[i] for i in ins], **params))
            elif len(ins) == 1:
                append(fn(env[ins[0]]))
            elif len(ins) == 2:
                append(fn(env[ins[0]], env[ins[1]]))
            else:
                append(fn(*[env[i] for i in ins]))
    finally:
        restore_fp_errors(token)


# ---------------------------------------------------------------------------------------
# vjp
# ---------------------------------------------------------------------------------------


def _no_transformation() -> bool:
    """Whether only evaluation is on the interpreter stack (nothing staged or traced)."""
    state = core._state()
    return len(state.stack) == 1 and state.dynamic is state.base


def eager_tape_applies(primals: Sequence[Any]) -> bool:
    """Whether ``vjp`` at ``primals`` can record a tape: no transformation is active,
    every primal is concrete, and ``config.eager_vjp_tape`` is on."""
    if not _no_transformation():
        return False
    for p in primals:
        if isinstance(p, Tracer):
            return False
    return bool(config.read("eager_vjp_tape"))


def vjp_flat_tape(
    fun: Callable[..., Sequence[Any]], primals: Sequence[Any], *, name: str = "vjp"
) -> tuple[list[Any], Callable[[Sequence[Any]], list[Any]]]:
    """``transpose.vjp_flat`` for concrete ``primals``, recorded on a tape.

    Same contract: the primal outputs, and ``f_vjp(cts)`` mapping one cotangent (or
    ``Zero``) per output to one per primal (``Zero`` for primals that do not reach an
    output differentiably).
    """
    tape = _Tape()
    with new_main(ReverseTrace, tape, name=name) as main:
        trace = main.trace
        in_ids = []
        tracers_in = []
        for p in primals:
            vid = tape.new_id() if _kind(p) in "fc" else None
            in_ids.append(vid)
            tracers_in.append(ReverseTracer(trace, p, vid))
        outs = fun(*tracers_in)
        out_ids = []
        primals_out = []
        for o in outs:
            if isinstance(o, ReverseTracer) and o._trace.main is main:
                out_ids.append(o.vid)
                primals_out.append(o.primal)
            else:
                out_ids.append(None)
                primals_out.append(core.full_lower(o))
    nodes = tape.nodes
    in_avals = [tangent_aval(get_aval(p)) for p in primals]
    structure: list[Any] = []  # the tape's signature, once computed

    def f_vjp(cts: Sequence[Any]) -> list[Any]:
        # Concrete cotangents (no transformation of f_vjp active): NumPy values throughout.
        raw = _concrete_backward(cts)
        if raw:
            if not structure:
                structure.append(tape_program.tape_signature(nodes, in_ids, out_ids))
            if structure[0] is not None:
                raw_cts = [None if type(c) is Zero else c._value for c in cts]
                by_program = tape_program.backward(nodes, in_ids, out_ids, structure[0], raw_cts)
                if by_program is not None:
                    return _input_cotangents(by_program, in_avals, raw)
        add = np.add if raw else array_ops.add
        ct_env: dict[int, Any] = {}
        for vid, ct in zip(out_ids, cts, strict=True):
            _accumulate(ct_env, vid, _raw(ct) if raw else ct, add)
        for node in reversed(nodes):
            if node.pull is None:
                ct = ct_env.pop(node.out_ids[0], None)
                if ct is None:
                    continue
                cts_in = _pull_raw(node, ct) if raw else _pull_by_rules(node, ct)
            else:
                cts_out = [ct_env.pop(v, None) if v is not None else None for v in node.out_ids]
                if all(c is None for c in cts_out):
                    continue
                if raw:
                    boxed = [None if c is None else core._wrap_value(c, False) for c in cts_out]
                    cts_in = [None if type(c) is Zero else _raw(c) for c in node.pull(boxed)]
                else:
                    cts_in = node.pull(cts_out)
            for vid, ct_in in zip(node.in_ids, cts_in, strict=True):
                _accumulate(ct_env, vid, ct_in, add)
        cts_in = [ct_env.get(vid) if vid is not None else None for vid in in_ids]
        return _input_cotangents(cts_in, in_avals, raw)

    return primals_out, f_vjp


def _input_cotangents(cts: list[Any], avals: list[core.ShapedArray], raw: bool) -> list[Any]:
    """``f_vjp``'s results from one cotangent per input (``None``: none reached it, a
    symbolic ``Zero``; ``raw``: a NumPy value, wrapped as an Array)."""
    return [
        Zero(aval) if ct is None else core._wrap_value(np.asarray(ct), False) if raw else ct
        for ct, aval in zip(cts, avals, strict=True)
    ]


def _concrete_backward(cts: Sequence[Any]) -> bool:
    """Whether a backward pass over ``cts`` can run on NumPy values: every cotangent is
    an Array or a symbolic zero, and no transformation is active."""
    if not _no_transformation():
        return False
    return all(type(c) is _array_type or type(c) is Zero for c in cts)


def _accumulate(
    ct_env: dict[int, Any], vid: int | None, ct: Any, add: Callable[[Any, Any], Any]
) -> None:
    """Add ``ct`` to the cotangent of ``vid`` (nothing for a constant or a zero)."""
    if vid is None or ct is None or type(ct) is Zero:
        return
    prev = ct_env.get(vid)
    ct_env[vid] = ct if prev is None else add(prev, ct)


from fxgrad.interpreters import tape_program  # noqa: E402 - it builds on this module
