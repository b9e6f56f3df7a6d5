"""Vectorisation: the batching interpreter behind ``vmap``.

A ``BatchTracer`` holds a value with one extra axis, ``bdim``, along which it varies
over the batch (or ``not_mapped`` when the value is the same for every batch member).
For each primitive the ``BatchTrace`` calls ``batch_rules[primitive]``, a function
``(axis_size, vals, dims, **params) -> (out, out_dim)`` that computes the whole batch
at once with primitives, so batching composes with every other transformation.

Most rules come from three families (Autodidax, "Part 2: vmap"): vectorised unary
ops (``defvectorized``), broadcasting n-ary ops (``defbroadcasting``) and reductions
(``defreducer``); the rest are written next to their primitive in ``fxgrad/lax``.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Sequence
from typing import Any

from fxgrad.core import (
    Primitive,
    ShapedArray,
    Trace,
    Tracer,
    full_lower,
    get_aval,
    inline_or_raise,
    new_main,
    shaped,
)
from fxgrad.interpreters import array_ops

batch_rules: dict[Primitive, Callable[..., Any]] = {}
#: collective primitives (``lax.psum`` ...): ``rule(trace, tracers, params)``, run by every
#: BatchTrace, batched or not, since only a trace knows whether it carries their axis name
collective_rules: dict[Primitive, Callable[..., Any]] = {}
#: the axis name of each active vmap that has one (``vmap(..., axis_name=...)``)
axis_names: dict[Any, Any] = {}
#: the axis name of the vmap whose batch rule is running (sub-jaxprs inherit it)
_rule_axis_name: contextvars.ContextVar[Any] = contextvars.ContextVar(
    "fxgrad_rule_axis_name", default=None
)


def find_axis(name: Any) -> Any:
    """The innermost active vmap main trace named ``name``, or None."""
    from fxgrad.core import _local_state

    for main in reversed(_local_state.stack):
        if main.trace_type is BatchTrace and axis_names.get(main) == name:
            return main
    return None


def bound_axis_names() -> list[Any]:
    """The axis names of the active vmaps, innermost first (for error messages)."""
    from fxgrad.core import _local_state

    return [axis_names[m] for m in reversed(_local_state.stack) if m in axis_names]


class NotMapped:
    """The batch dimension of a value that does not vary over the batch."""

    _instance = None

    def __new__(cls):
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "not_mapped"


not_mapped = NotMapped()


class BatchTracer(Tracer):
    __slots__ = ("val", "bdim", "debug_origin")

    def __init__(
        self, trace: BatchTrace, val: Any, bdim: int | NotMapped, debug_origin: str | None = None
    ):
        self._trace = trace
        self.val = val
        self.bdim = bdim
        self.debug_origin = debug_origin

    @property
    def aval(self) -> ShapedArray:
        aval = get_aval(self.val)
        if self.bdim is not_mapped:
            return aval
        shape = list(aval.shape)
        del shape[self.bdim]
        return shaped(tuple(shape), aval.dtype, aval.weak_type)

    def full_lower(self) -> Any:
        if self.bdim is not_mapped:
            return full_lower(self.val)
        return self


class BatchTrace(Trace):
    __slots__ = ()

    @property
    def axis_size(self) -> int:
        return self.main.global_data

    def pure(self, val: Any) -> BatchTracer:
        return BatchTracer(self, val, not_mapped)

    lift = pure

    def process_primitive(self, primitive: Primitive, tracers: list, params: dict) -> Any:
        collective = collective_rules.get(primitive)
        if collective is not None:
            return collective(self, tracers, params)
        vals = [t.val for t in tracers]
        dims = [t.bdim for t in tracers]
        if all(d is not_mapped for d in dims):
            return primitive.bind(*vals, **params)
        rule = batch_rules.get(primitive)
        if rule is None:
            return inline_or_raise(
                primitive,
                tracers,
                params,
                f"vmap of '{primitive.name}' is not implemented; batch rules are registered "
                "next to the primitive in fxgrad/lax/.",
            )
        name = axis_names.get(self.main)
        if name is None:
            out, out_dims = rule(self.axis_size, vals, dims, **params)
        else:
            # a rule that batches a sub-jaxpr (jit, scan, cond ...) batches it along this
            # same named axis, so collectives inside it still find their axis
            token = _rule_axis_name.set(name)
            try:
                out, out_dims = rule(self.axis_size, vals, dims, **params)
            finally:
                _rule_axis_name.reset(token)
        origin = _combined_origin(tracers)
        if primitive.multiple_results:
            return [BatchTracer(self, x, d, origin) for x, d in zip(out, out_dims, strict=True)]
        return BatchTracer(self, out, out_dims, origin)


def _combined_origin(tracers: Sequence[Any]) -> str | None:
    from fxgrad.interpreters.partial_eval import _combined_origin as combine

    if not any(getattr(t, "debug_origin", None) for t in tracers):
        return None
    return combine(tracers)


def vmap_flat(
    fun: Callable[..., Sequence[Any]],
    axis_size: int,
    in_dims: Sequence[int | NotMapped],
    args: Sequence[Any],
    *,
    name: str = "vmap",
    arg_names: Sequence[str | None] | None = None,
    axis_name: Any = None,
) -> tuple[list[Any], list[int | NotMapped]]:
    """Run ``fun`` batched; returns outputs with their batch dimensions. Collectives
    (``lax.psum`` ...) inside ``fun`` reduce over this batch axis by ``axis_name``."""
    names = arg_names or [None] * len(args)
    if axis_name is None:
        axis_name = _rule_axis_name.get()
    token = _rule_axis_name.set(None)  # the function's own rules set it again
    with new_main(BatchTrace, axis_size, name=name) as main:
        if axis_name is not None:
            axis_names[main] = axis_name
        try:
            trace = BatchTrace(main)
            tracers_in = [
                BatchTracer(trace, x, d, n) if d is not not_mapped else x
                for x, d, n in zip(args, in_dims, names, strict=True)
            ]
            outs = fun(*tracers_in)
            tracers_out = [trace.full_raise(o) for o in outs]
            vals_out = [full_lower(t.val) for t in tracers_out]
            dims_out = [t.bdim for t in tracers_out]
        finally:
            axis_names.pop(main, None)
            _rule_axis_name.reset(token)
    return vals_out, dims_out


# ---------------------------------------------------------------------------------------
# Moving batch axes
# ---------------------------------------------------------------------------------------


def moveaxis(x: Any, src: int, dst: int) -> Any:
    if src == dst:
        return x
    return array_ops.moveaxis(x, src, dst)


def move_bdim(x: Any, bdim: int | NotMapped, dst: int, axis_size: int) -> Any:
    """``x`` with its batch axis at ``dst`` (broadcast there if ``x`` is unbatched)."""
    if bdim is not_mapped:
        return array_ops.broadcast_axis(x, axis_size, dst)
    ndim = len(get_aval(x).shape)
    dst = dst % ndim if dst < 0 else dst
    return moveaxis(x, bdim, dst)


def bdim_at_front(x: Any, bdim: int | NotMapped, axis_size: int) -> Any:
    return move_bdim(x, bdim, 0, axis_size)


# ---------------------------------------------------------------------------------------
# Rule families
# ---------------------------------------------------------------------------------------


def defvectorized(primitive: Primitive) -> None:
    """A unary elementwise primitive: apply it to the batched value as is."""

    def rule(axis_size, vals, dims, **params):
        (x,), (d,) = vals, dims
        return primitive.bind(x, **params), d

    batch_rules[primitive] = rule


def broadcast_batcher(primitive: Primitive) -> Callable[..., Any]:
    """The rule of an n-ary elementwise primitive whose operands share one shape.

    Batched operands have their batch axis moved to the front; unbatched ones get a
    leading axis of size 1... of the full batch size, since elementwise primitives in
    fxgrad require equal shapes.
    """

    def rule(axis_size, vals, dims, **params):
        ndims = {get_aval(x).ndim - (d is not not_mapped) for x, d in zip(vals, dims, strict=True)}
        first = next((x, d) for x, d in zip(vals, dims, strict=True) if d is not not_mapped)
        if all(d == first[1] for d in dims) and len(ndims) == 1:
            return primitive.bind(*vals, **params), first[1]
        moved = [bdim_at_front(x, d, axis_size) for x, d in zip(vals, dims, strict=True)]
        return primitive.bind(*moved, **params), 0

    return rule


def defbroadcasting(primitive: Primitive) -> None:
    batch_rules[primitive] = broadcast_batcher(primitive)


def batch_jaxpr(
    closed: Any, axis_size: int, in_batched: Sequence[bool], instantiate: Sequence[bool] | bool
) -> tuple[Any, list[bool]]:
    """A ClosedJaxpr computing ``closed`` over a batch (axis 0 of the batched inputs).

    Outputs that end up batched (or are instantiated) have their batch axis at 0.
    Returns ``(batched_closed, out_batched)``.
    """
    from fxgrad.interpreters.partial_eval import closed_call, trace_to_jaxpr

    in_avals = closed.in_avals
    if isinstance(instantiate, bool):
        instantiate = [instantiate] * len(closed.out_avals)
    avals = [
        ShapedArray((axis_size, *a.shape), a.dtype, a.weak_type) if b else a
        for a, b in zip(in_avals, in_batched, strict=True)
    ]
    out_batched: list[bool] = []

    def fun(*args):
        dims = [0 if b else not_mapped for b in in_batched]
        outs, out_dims = vmap_flat(
            lambda *a: closed_call(closed, *a), axis_size, dims, args, name="batch_jaxpr"
        )
        result = []
        flags = []
        for x, d, inst in zip(outs, out_dims, instantiate, strict=True):
            if d is not_mapped and not inst:
                result.append(x)
                flags.append(False)
            else:
                result.append(move_bdim(x, d, 0, axis_size))
                flags.append(True)
        out_batched[:] = flags
        return result

    batched = trace_to_jaxpr(fun, avals, name="batch_jaxpr")
    return batched, out_batched
