"""``jit``'s call primitive: ``pjit`` applies a ClosedJaxpr to its arguments.

Because ``jit`` is a primitive, its call shows up as one equation in enclosing jaxprs
(``jit(jit(f))`` nests), and every transformation treats it like any other primitive.
Evaluating it runs the jaxpr (``lowering`` replaces this with compiled code).
Transformations without a dedicated rule evaluate the jaxpr under themselves through
``inline``: ``grad(jit(f))`` differentiates the body equation by equation.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fxgrad.config import config
from fxgrad.errors import NaNError
from fxgrad.jaxpr import ClosedJaxpr, Literal, eval_jaxpr
from fxgrad.lax._define import define_primitive
from fxgrad.lax._executor import execute


def _pjit_impl(*args: Any, jaxpr: ClosedJaxpr, name: str) -> list[Any]:
    """``jaxpr`` applied to NumPy values ``args`` (constants first) with compiled code.

    (``jit``'s cached calls do the same without ``bind``, holding the executable and
    the ``debug_nans``/``debug_infs`` flags of their cache entry.)
    """
    outs = execute(jaxpr, args, name)
    if config.read("debug_nans") or config.read("debug_infs"):
        check_non_finite(jaxpr, args, outs, name)
    return outs


def _bad(values: Any) -> bool:
    nans, infs = config.read("debug_nans"), config.read("debug_infs")
    for v in values:
        arr = np.asarray(v)
        if arr.dtype.kind not in "fc":
            continue
        if (nans and np.isnan(arr).any()) or (infs and np.isinf(arr).any()):
            return True
    return False


def check_non_finite(closed: ClosedJaxpr, args: Any, outs: Any, name: str) -> None:
    """When ``outs`` hold a value ``debug_nans``/``debug_infs`` forbids, re-run ``closed``
    equation by equation and raise ``NaNError`` naming the first primitive producing one."""
    if not _bad(outs):
        return
    jaxpr = closed.jaxpr
    env = dict(zip(jaxpr.in_binders, (*closed.consts, *args), strict=True))
    for eqn in jaxpr.eqns:
        in_vals = [x.val if type(x) is Literal else env[x] for x in eqn.inputs]
        with np.errstate(all="ignore"):
            results = eqn.primitive.impl(*in_vals, **eqn.params)
        if not eqn.primitive.multiple_results:
            results = [results]
        if _bad(results) and not _bad(in_vals):
            where = f" at {eqn.source_info}" if eqn.source_info else ""
            kind = "NaN" if config.read("debug_nans") else "inf"
            raise NaNError(
                f"jit({name}): the primitive '{eqn.primitive.name}'{where} produced a "
                f"{kind} value from finite inputs (config debug_nans/debug_infs is on). "
                "Guard the operation's domain (fxgrad.numpy.where, clip) or give it a "
                "stable derivative with fxgrad.custom_jvp."
            )
        env.update(zip(eqn.out_binders, results, strict=True))
    raise NaNError(
        f"jit({name}) returned a non-finite value, but no single primitive produced it from "
        "finite inputs (an input of the function may already contain one)."
    )


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
