"""How a ``pjit`` call is executed on concrete values.

Until native lowering exists for a jaxpr, its equations are evaluated one by one with
each primitive's NumPy ``impl`` (no tracing: the jaxpr is already staged and cached).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fxgrad import core
from fxgrad.jaxpr import ClosedJaxpr, Literal


def execute(closed: ClosedJaxpr, args: Sequence[Any]) -> list[Any]:
    """Evaluate ``closed`` on NumPy values with primitive implementations."""
    jaxpr = closed.jaxpr
    env: dict[Any, Any] = {}
    consts = [core._unwrap_value(c) for c in closed.consts]
    for v, val in zip(jaxpr.in_binders, (*consts, *args), strict=True):
        env[v] = val
    for eqn in jaxpr.eqns:
        in_vals = [x.val if type(x) is Literal else env[x] for x in eqn.inputs]
        outs = eqn.primitive.impl(*in_vals, **eqn.params)
        if eqn.primitive.multiple_results:
            for v, val in zip(eqn.out_binders, outs, strict=True):
                env[v] = val
        else:
            env[eqn.out_binders[0]] = outs
    return [x.val if type(x) is Literal else env[x] for x in jaxpr.outs]
