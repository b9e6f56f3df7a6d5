"""The jaxpr IR: a typed, first-order, straight-line program of primitive applications.

A ``Jaxpr`` has input binders (``Var``s), a list of equations and outputs (``Var``s or
``Literal``s). Each ``JaxprEqn`` applies one primitive with static ``params`` to atoms
and binds fresh output variables; every variable is bound exactly once (SSA). A
``ClosedJaxpr`` pairs a jaxpr whose leading inputs are *constvars* with the constant
values they are bound to.

This module also holds ``eval_jaxpr`` (an interpreter that re-binds each primitive, so
evaluating a jaxpr under a transformation transforms it), ``check_jaxpr`` (a type
checker run after every transformation when ``config.enable_checks`` is set) and the
pretty-printer, whose output resembles JAX's::

    { lambda ; a:f64[] b:f64[]. let
        c:f64[] = log a
        d:f64[] = mul a b
      in (d,) }
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fxgrad.core import Primitive, ShapedArray, get_aval


@dataclass(frozen=True, slots=True, eq=False)
class Var:
    """A variable bound once in a jaxpr; compared and hashed by identity."""

    aval: ShapedArray

    def __repr__(self) -> str:
        return f"Var({self.aval.str_short()})"


@dataclass(frozen=True, slots=True, eq=False)
class Literal:
    """A scalar constant written inline in an equation."""

    val: Any
    aval: ShapedArray

    def __repr__(self) -> str:
        return _format_literal(self)


Atom = Var | Literal


@dataclass(frozen=True, slots=True, eq=False)
class JaxprEqn:
    """``out_binders = primitive[params](*inputs)``."""

    primitive: Primitive
    inputs: tuple[Atom, ...]
    params: dict[str, Any]
    out_binders: tuple[Var, ...]
    source_info: str | None = None


@dataclass(frozen=True, slots=True, eq=False)
class Jaxpr:
    """A straight-line program: ``in_binders`` (constvars first), ``eqns`` and ``outs``."""

    in_binders: tuple[Var, ...]
    eqns: tuple[JaxprEqn, ...]
    outs: tuple[Atom, ...]
    num_consts: int = 0

    @property
    def constvars(self) -> tuple[Var, ...]:
        return self.in_binders[: self.num_consts]

    @property
    def invars(self) -> tuple[Var, ...]:
        return self.in_binders[self.num_consts :]

    @property
    def in_avals(self) -> list[ShapedArray]:
        return [v.aval for v in self.invars]

    @property
    def out_avals(self) -> list[ShapedArray]:
        return [x.aval for x in self.outs]

    def __str__(self) -> str:
        return pp_jaxpr(self)

    __repr__ = __str__


@dataclass(frozen=True, slots=True, eq=False)
class ClosedJaxpr:
    """A jaxpr together with the values of its constvars."""

    jaxpr: Jaxpr
    consts: tuple[Any, ...] = field(default=())

    @property
    def in_avals(self) -> list[ShapedArray]:
        return self.jaxpr.in_avals

    @property
    def out_avals(self) -> list[ShapedArray]:
        return self.jaxpr.out_avals

    @property
    def eqns(self) -> tuple[JaxprEqn, ...]:
        return self.jaxpr.eqns

    def __str__(self) -> str:
        return pp_jaxpr(self.jaxpr)

    __repr__ = __str__

    def _repr_pretty_(self, p, cycle):  # IPython
        p.text(str(self))


def eval_jaxpr(jaxpr: Jaxpr, consts: Sequence[Any], *args: Any) -> list[Any]:
    """Evaluate ``jaxpr`` by binding each primitive; under a transformation, transforms it."""
    env: dict[Var, Any] = {}

    def read(x: Atom) -> Any:
        return x.val if type(x) is Literal else env[x]

    for v, val in zip(jaxpr.in_binders, (*consts, *args), strict=True):
        env[v] = val
    for eqn in jaxpr.eqns:
        in_vals = [read(x) for x in eqn.inputs]
        outs = eqn.primitive.bind(*in_vals, **eqn.params)
        if not eqn.primitive.multiple_results:
            outs = [outs]
        for v, val in zip(eqn.out_binders, outs, strict=True):
            env[v] = val
    return [read(x) for x in jaxpr.outs]


def jaxpr_as_fun(closed: ClosedJaxpr):
    """A function of the non-const inputs of ``closed`` that evaluates it."""

    def fun(*args):
        return eval_jaxpr(closed.jaxpr, closed.consts, *args)

    return fun


# ---------------------------------------------------------------------------------------
# Type checking
# ---------------------------------------------------------------------------------------


class JaxprTypeError(TypeError):
    """A jaxpr is ill-typed: an internal error in a transformation or rule."""


def _same_type(a: ShapedArray, b: ShapedArray) -> bool:
    return tuple(a.shape) == tuple(b.shape) and np.dtype(a.dtype) == np.dtype(b.dtype)


def check_jaxpr(jaxpr: Jaxpr) -> None:
    """Raise ``JaxprTypeError`` unless ``jaxpr`` is well formed and well typed."""
    env: set[Var] = set()
    for v in jaxpr.in_binders:
        if v in env:
            raise JaxprTypeError(f"variable bound twice: {v}")
        env.add(v)
    for eqn in jaxpr.eqns:
        for x in eqn.inputs:
            if isinstance(x, Var) and x not in env:
                raise JaxprTypeError(f"unbound variable {x} in equation {eqn.primitive}")
        if eqn.primitive.abstract_eval is not None:
            in_avals = [x.aval for x in eqn.inputs]
            out_avals = eqn.primitive.abstract_eval(*in_avals, **eqn.params)
            if not eqn.primitive.multiple_results:
                out_avals = [out_avals]
            for v, aval in zip(eqn.out_binders, out_avals, strict=True):
                if not _same_type(v.aval, aval):
                    raise JaxprTypeError(
                        f"equation {eqn.primitive} binds {v.aval.str_short()} but its "
                        f"abstract evaluation gives {aval.str_short()}"
                    )
        for v in eqn.out_binders:
            if v in env:
                raise JaxprTypeError(f"variable bound twice: {v}")
            env.add(v)
    for x in jaxpr.outs:
        if isinstance(x, Var) and x not in env:
            raise JaxprTypeError(f"unbound output variable {x}")


# ---------------------------------------------------------------------------------------
# Pretty-printing
# ---------------------------------------------------------------------------------------


def _var_names():
    letters = "abcdefghijklmnopqrstuvwxyz"
    n = 0
    while True:
        name = ""
        k = n
        while True:
            name = letters[k % 26] + name
            k = k // 26 - 1
            if k < 0:
                break
        yield name
        n += 1


def _format_literal(lit: Literal) -> str:
    val = np.asarray(lit.val)
    if val.ndim == 0:
        item = val.item()
        if isinstance(item, float):
            return repr(float(item))
        return repr(item)
    return f"{lit.aval.str_short()}"


def _format_param(value: Any, names: dict, indent: int) -> str:
    if isinstance(value, ClosedJaxpr):
        return "\n" + _pp_jaxpr(value.jaxpr, {}, indent + 4)
    if isinstance(value, Jaxpr):
        return "\n" + _pp_jaxpr(value, {}, indent + 4)
    if (
        isinstance(value, tuple)
        and value
        and all(isinstance(v, (Jaxpr, ClosedJaxpr)) for v in value)
    ):
        return "(" + ",".join(_format_param(v, names, indent) for v in value) + ")"
    if isinstance(value, np.dtype):
        return value.name
    if isinstance(value, type) and issubclass(value, np.generic):
        return np.dtype(value).name
    if callable(value) and hasattr(value, "__name__"):
        return value.__name__
    return repr(value) if isinstance(value, str) else str(value)


def _pp_jaxpr(jaxpr: Jaxpr, names: dict, indent: int) -> str:
    gen = _var_names()

    def name(v: Atom) -> str:
        if isinstance(v, Literal):
            return _format_literal(v)
        if v not in names:
            names[v] = next(gen)
        return names[v]

    def binder(v: Var) -> str:
        return f"{name(v)}:{v.aval.str_short()}"

    pad = " " * indent
    consts = " ".join(binder(v) for v in jaxpr.constvars)
    args = " ".join(binder(v) for v in jaxpr.invars)
    lines = [f"{pad}{{ lambda {consts}; {args}. let"]
    for eqn in jaxpr.eqns:
        outs = " ".join(binder(v) for v in eqn.out_binders)
        params = ""
        if eqn.params:
            items = ", ".join(
                f"{k}={_format_param(v, names, indent + 4)}" for k, v in sorted(eqn.params.items())
            )
            params = f"[{items}]"
        ins = " ".join(name(x) for x in eqn.inputs)
        lines.append(f"{pad}    {outs} = {eqn.primitive.name}{params} {ins}".rstrip())
    outs = ", ".join(name(x) for x in jaxpr.outs)
    trailing = "," if len(jaxpr.outs) == 1 else ""
    lines.append(f"{pad}  in ({outs}{trailing}) }}")
    return "\n".join(lines)


def pp_jaxpr(jaxpr: Jaxpr) -> str:
    """Render ``jaxpr`` as readable text."""
    return _pp_jaxpr(jaxpr, {}, 0)


def literal_from(val: Any) -> Literal:
    """A ``Literal`` for a scalar constant."""
    return Literal(val, get_aval(val))
