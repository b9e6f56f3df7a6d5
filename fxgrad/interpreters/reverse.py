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
  floating dtype has a diagonal derivative: its JVP multiplies the tangent by a factor.
  The pullback multiplies the cotangent by the same factor, obtained from the JVP
  partial at a tangent of ones. The product is the transpose rules' (a zero cotangent
  annihilates an infinite factor: the ``where`` rule).
* Any other primitive (control flow, ``jit``, custom derivatives, linear algebra,
  complex arithmetic...) is differentiated alone by ``transpose.vjp_flat``, which
  handles everything, and its pullback is recorded.

``fxgrad.lax`` registers which primitives take the first two routes
(``fxgrad/lax/_reverse_rules.py``). Outputs that cannot carry a gradient (integer and
boolean results, primitives with a zero derivative) are plain arrays, not tracers.
Pullbacks use ``lax`` primitives, not NumPy, so the returned ``f_vjp`` can itself be
called under ``jit``, ``vmap`` or ``grad``. ``config.eager_vjp_tape = False`` sends
eager ``vjp`` through linearize + transpose as well.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from fxgrad import core
from fxgrad.config import config
from fxgrad.core import Primitive, Trace, Tracer, get_aval, new_main, tangent_aval
from fxgrad.interpreters import array_ops
from fxgrad.interpreters.jvp import Zero
from fxgrad.interpreters.transpose import UndefPrimal, transpose_rules

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


def install_scale(fn: Callable[[Any, Any], Any]) -> None:
    global scale_cotangent
    scale_cotangent = fn


# ---------------------------------------------------------------------------------------
# The trace
# ---------------------------------------------------------------------------------------


class ReverseTracer(Tracer):
    """A concrete ``primal`` recorded on a tape: ``vid`` names it there (``None`` for a
    constant, which needs no cotangent)."""

    __slots__ = ("primal", "vid")

    def __init__(self, trace: ReverseTrace, primal: Any, vid: int | None):
        self._trace = trace
        self.primal = primal
        self.vid = vid

    @property
    def aval(self) -> core.ShapedArray:
        return get_aval(self.primal)

    def to_concrete_value(self) -> Any:
        return self.primal


class _Node:
    """One recorded primitive: ``pull(cts_out) -> cts`` for the inputs ``in_ids``."""

    __slots__ = ("pull", "in_ids", "out_ids")

    def __init__(self, pull: Callable[[list[Any]], list[Any]], in_ids: list, out_ids: list):
        self.pull = pull
        self.in_ids = in_ids
        self.out_ids = out_ids


class _Tape:
    __slots__ = ("nodes", "next_id")

    def __init__(self) -> None:
        self.nodes: list[_Node] = []
        self.next_id = 0

    def new_id(self) -> int:
        self.next_id += 1
        return self.next_id


def _differentiable(x: Any) -> bool:
    return get_aval(x).dtype.kind in "fc"


class ReverseTrace(Trace):
    __slots__ = ()

    def pure(self, val: Any) -> ReverseTracer:
        return ReverseTracer(self, val, None)

    lift = pure

    def process_primitive(self, primitive: Primitive, tracers: list, params: dict) -> Any:
        primals = [t.primal for t in tracers]
        active = [i for i, t in enumerate(tracers) if t.vid is not None]
        if not active or primitive in zero_derivative:
            return core._eval_fast(primitive, primals, params)
        if not primitive.multiple_results:
            # The primals are concrete (only the evaluation level is below this one).
            out = core._eval_fast(primitive, primals, params)
            if not _differentiable(out):
                return out
            pull = _recorded_pullback(primitive, primals, active, out, params)
            if pull is not None:
                return self._record(pull, tracers, active, [out])[0]
        return self._record_generic(primitive, primals, tracers, active, params)

    def _record(
        self, pull: Callable, tracers: list, active: list[int], outs: list[Any]
    ) -> list[Any]:
        """Box the differentiable ``outs`` as tracers and put ``pull`` on the tape."""
        tape: _Tape = self.main.global_data
        boxed, out_ids = [], []
        for o in outs:
            if _differentiable(o):
                vid = tape.new_id()
                boxed.append(ReverseTracer(self, o, vid))
                out_ids.append(vid)
            else:
                boxed.append(o)
                out_ids.append(None)
        tape.nodes.append(_Node(pull, [tracers[i].vid for i in active], out_ids))
        return boxed

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

        boxed = self._record(pull, tracers, active, outs)
        return boxed if primitive.multiple_results else boxed[0]


def _recorded_pullback(
    primitive: Primitive, primals: list, active: list[int], out: Any, params: dict
) -> Callable[[list[Any]], list[Any]] | None:
    """The pullback of a linear or diagonal elementwise primitive, or ``None``."""
    linear, joint = linear_inputs.get(primitive, ((), False))
    partials = elementwise_partials.get(primitive)
    nonlinear = [i for i in active if i not in linear]
    if nonlinear:
        if partials is None or get_aval(out).dtype.kind != "f":
            return None
        shape = np.shape(out)
        for i in nonlinear:
            aval = get_aval(primals[i])
            if aval.dtype.kind != "f" or aval.shape != shape or partials[i] is None:
                return None
    rule = transpose_rules.get(primitive) if len(nonlinear) < len(active) else None

    def pull(cts: list[Any]) -> list[Any]:
        (ct,) = cts
        result: dict[int, Any] = {}
        lin = [i for i in active if i in linear]
        groups = [lin] if joint else [[i] for i in lin]
        for group in groups:
            if not group:
                continue
            args = [
                UndefPrimal(tangent_aval(get_aval(p))) if k in group else p
                for k, p in enumerate(primals)
            ]
            cts_in = rule(ct, *args, **params)
            for i in group:
                result[i] = cts_in[i]
        for i in nonlinear:
            result[i] = _scale_by_partial(partials[i], ct, out, primals, params)
        return [result[i] for i in active]

    return pull


def _scale_by_partial(partial: Callable, ct: Any, out: Any, primals: list, params: dict) -> Any:
    """``ct`` times the diagonal derivative that JVP ``partial`` applies to a tangent.

    A concrete cotangent without zeros goes through ``partial`` itself (``ct * f'(x)``
    in the JVP's own arithmetic, as the transposed linearization computes it). Otherwise
    the derivative is ``partial`` of ones and a zero cotangent annihilates an infinite
    derivative, as the transpose rules' products do (the ``where`` rule).
    """
    value = core.concrete_value(ct)
    if value is not None and np.asarray(value).all():  # no zero entry
        return partial(ct, out, *primals, **params)
    ones = core._wrap_value(np.ones(np.shape(out), get_aval(out).dtype), False)
    return scale_cotangent(ct, partial(ones, out, *primals, **params))


# ---------------------------------------------------------------------------------------
# vjp
# ---------------------------------------------------------------------------------------


def eager_tape_applies(primals: Sequence[Any]) -> bool:
    """Whether ``vjp`` at ``primals`` can record a tape: no transformation is active,
    every primal is concrete, and ``config.eager_vjp_tape`` is on."""
    state = core._state()
    if len(state.stack) != 1 or state.dynamic is not state.base:
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
            vid = tape.new_id() if _differentiable(p) else None
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

    def f_vjp(cts: Sequence[Any]) -> list[Any]:
        ct_env: dict[int, Any] = {}
        for vid, ct in zip(out_ids, cts, strict=True):
            _accumulate(ct_env, vid, ct)
        for node in reversed(nodes):
            cts_out = [ct_env.pop(v, None) if v is not None else None for v in node.out_ids]
            if all(c is None for c in cts_out):
                continue
            for vid, ct_in in zip(node.in_ids, node.pull(cts_out), strict=True):
                _accumulate(ct_env, vid, ct_in)
        return [
            ct_env.get(vid, Zero(aval)) if vid is not None else Zero(aval)
            for vid, aval in zip(in_ids, in_avals, strict=True)
        ]

    return primals_out, f_vjp


def _accumulate(ct_env: dict[int, Any], vid: int | None, ct: Any) -> None:
    if vid is None or ct is None or type(ct) is Zero:
        return
    prev = ct_env.get(vid)
    ct_env[vid] = ct if prev is None else array_ops.add(prev, ct)
