"""``jit``'s call primitive: ``pjit`` applies a ClosedJaxpr to its arguments.

Because ``jit`` is a primitive, its call shows up as one equation in enclosing jaxprs
(``jit(jit(f))`` nests), and every transformation treats it like any other primitive.
Evaluating it runs the jaxpr (``lowering`` replaces this with compiled code).
Transformations without a dedicated rule evaluate the jaxpr under themselves through
``inline``: ``grad(jit(f))`` differentiates the body equation by equation.
"""

from __future__ import annotations

from typing import Any

from fxgrad.jaxpr import ClosedJaxpr, eval_jaxpr
from fxgrad.lax._define import define_primitive


def _pjit_impl(*args: Any, jaxpr: ClosedJaxpr, name: str) -> list[Any]:
    from fxgrad.lax._executor import execute

    return execute(jaxpr, args)


def _pjit_abstract_eval(*avals, jaxpr: ClosedJaxpr, name: str):
    return list(jaxpr.out_avals)


def _pjit_inline(*args: Any, jaxpr: ClosedJaxpr, name: str) -> list[Any]:
    return eval_jaxpr(jaxpr.jaxpr, jaxpr.consts, *args)


pjit_p = define_primitive(
    "pjit",
    impl=_pjit_impl,
    abstract_eval=_pjit_abstract_eval,
    jvp=None,
    batch=None,
    kernel="call",
    multiple_results=True,
    inline=_pjit_inline,
)
pjit_p.out_weak_types = lambda *, jaxpr, name: [a.weak_type for a in jaxpr.out_avals]
