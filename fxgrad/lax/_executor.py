"""How a ``pjit`` call is executed on concrete values: compiled, or interpreted.

``execute`` compiles a staged ``ClosedJaxpr`` once with ``fxgrad.lowering`` (fused
native kernels and library calls) and runs the cached ``Executable`` on every later
call. The cache is keyed by the identity of the ``ClosedJaxpr`` (``jit`` stages one per
input signature and keeps it, so its argument shapes and dtypes are fixed by it) and
holds a reference to it, so an identity is never reused while cached; it keeps the
``MAX_ENTRIES`` most recently compiled jaxprs.

``interpret`` evaluates the equations one by one with each primitive's NumPy ``impl``:
the reference semantics, used for debugging (``FXGRAD_JIT_INTERPRET=1`` makes
``execute`` use it) and when lowering fails (with a ``RuntimeWarning`` naming why).
"""

from __future__ import annotations

import os
import threading
import warnings
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

from fxgrad import core
from fxgrad.jaxpr import ClosedJaxpr, Literal

MAX_ENTRIES = 4096

_lock = threading.Lock()
_cache: OrderedDict[int, tuple[ClosedJaxpr, Callable[[Sequence[Any]], list[Any]]]] = OrderedDict()
_interpret_only = os.environ.get("FXGRAD_JIT_INTERPRET", "").strip().lower() in ("1", "true")

#: compilations of jaxprs by ``execute`` in this process (tests assert on it)
stats: dict[str, int] = {"compiles": 0, "fallbacks": 0}


def clear() -> None:
    """Forget every compiled executable (``fxgrad.clear_caches``)."""
    with _lock:
        _cache.clear()


def interpret(closed: ClosedJaxpr, args: Sequence[Any]) -> list[Any]:
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


class _Interpreted:
    """Stands in for an executable when lowering failed."""

    def __init__(self, closed: ClosedJaxpr):
        self.closed = closed

    def run(self, args: Sequence[Any]) -> list[Any]:
        return interpret(self.closed, args)

    __call__ = run


def _compile(closed: ClosedJaxpr, name: str) -> Any:
    from fxgrad.lowering import compile_jaxpr

    if _interpret_only:
        return _Interpreted(closed)
    consts = tuple(core._unwrap_value(c) for c in closed.consts)
    unwrapped = closed if consts == tuple(closed.consts) else ClosedJaxpr(closed.jaxpr, consts)
    try:
        executable = compile_jaxpr(unwrapped, name)
    except Exception as error:  # a bug in lowering must not make a program fail
        stats["fallbacks"] += 1
        warnings.warn(
            f"fxgrad.jit: compiling {name} failed ({type(error).__name__}: {error}); "
            "interpreting it instead. Please report this with the jaxpr "
            "(fxgrad.make_jaxpr).",
            RuntimeWarning,
            stacklevel=4,
        )
        return _Interpreted(closed)
    stats["compiles"] += 1
    return executable


def executable_for(
    closed: ClosedJaxpr, name: str = "jaxpr"
) -> Callable[[Sequence[Any]], list[Any]]:
    """The compiled form of ``closed`` as ``run(args) -> outputs`` (compiled on first use).

    Callers that run one jaxpr many times (``jit``'s cached calls) keep it and skip the
    cache lookup of ``execute``; it stays valid after the cache drops the jaxpr.
    """
    entry = _cache.get(id(closed))
    if entry is None or entry[0] is not closed:
        with _lock:
            entry = _cache.get(id(closed))
            if entry is None or entry[0] is not closed:
                entry = (closed, _compile(closed, name).run)
                _cache[id(closed)] = entry
                while len(_cache) > MAX_ENTRIES:
                    _cache.popitem(last=False)
    return entry[1]


def execute(closed: ClosedJaxpr, args: Sequence[Any], name: str = "jaxpr") -> list[Any]:
    """Run ``closed`` on NumPy values with compiled code (compiled on first use)."""
    return executable_for(closed, name)(args)
