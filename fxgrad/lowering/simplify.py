"""Simplification passes on jaxprs: the first stage of ``jit``'s lowering.

Each pass maps a ``ClosedJaxpr`` (or a ``Jaxpr`` without constvars) to an equivalent
``ClosedJaxpr`` with the same inputs, and returns its argument itself when it finds
nothing to do; ``simplify`` runs them in turn until none changes anything (bounded).

* ``dce``: drops equations whose outputs are unused (never those of primitives marked
  ``effectful = True``) and unused constants; prunes unused outputs and inputs of
  ``jit`` calls (kernel class ``"call"``).
* ``cse``: merges equations applying the same primitive with equal params to the same
  inputs (``add``/``mul``/... in either order), and equal constants.
* ``constant_folding``: evaluates, with the primitive's ``impl``, equations whose inputs
  are all known; results become literals (scalars), broadcasts of a literal (arrays
  whose elements are all equal) or new constants (at most ``MAX_FOLDED_SIZE``
  elements, and never larger than the constants they came from, so a broadcast of a
  constant stays a cheap, fusable broadcast).
* ``algebraic_identities``: ``x*1``, ``x/1``, ``neg(neg(x))``, chains of transposes,
  reshapes/squeezes and broadcasts, no-op layout changes and casts, ``select_n`` with a
  known predicate, ``integer_pow`` with ``y=1``, reductions over no axes (but not a
  float ``reduce_sum``: NumPy adds its elements to +0.0, so it maps -0.0 to +0.0).

Values are preserved bit for bit as NumPy computes them, with the same dtypes and weak
types, so only identities exact in IEEE arithmetic are used: ``x + (-0.0)`` and
``x - (+0.0)`` are rewritten to ``x`` but ``x + 0.0`` is not (``-0.0 + 0.0`` is
``+0.0``), and neither is ``x * 0`` (NaN, inf) nor ``x * 1`` on complex numbers
(``(1+inf j) * (1+0j)`` is ``nan+inf j``). XLA's simplifier does rewrite ``x + 0.0``
(``jax.jit(lambda x: x + 0.0)(-0.0)`` is ``-0.0``); fxgrad keeps ``jit`` equal to eager.

A *splat* is a value whose elements all equal one known scalar: a scalar literal, a
``broadcast_in_dim`` of one, or a constant with equal elements. Folding keeps splats
as broadcasts of a literal, which fusion turns into a register instead of a load.
Passes recurse into jaxpr-valued params (``pjit``'s ``jaxpr``) keeping their signature.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fxgrad import core
from fxgrad.core import Primitive, ShapedArray
from fxgrad.jaxpr import ClosedJaxpr, Jaxpr, JaxprEqn, Literal, Var, check_jaxpr
from fxgrad.lax._define import kernel_classes, primitives

Atom = Var | Literal
Pass = Callable[[ClosedJaxpr | Jaxpr], ClosedJaxpr]

#: the largest array (in elements) constant folding materialises or creates
MAX_FOLDED_SIZE = 100_000

# ---------------------------------------------------------------------------------------
# Entry points
# ---------------------------------------------------------------------------------------


def simplify(
    closed: ClosedJaxpr | Jaxpr,
    *,
    passes: tuple[tuple[str, Pass], ...] | None = None,
    max_iterations: int = 16,
    dump: Callable[[str, ClosedJaxpr], None] | None = None,
    check: bool = False,
) -> ClosedJaxpr:
    """Run ``passes`` (default: ``PASSES``) until nothing changes.

    Args:
      closed: the program; a ``Jaxpr`` must have no constvars.
      passes: ``(name, pass)`` pairs, each ``ClosedJaxpr -> ClosedJaxpr``.
      max_iterations: at most this many rounds over ``passes``.
      dump: called as ``dump("input", closed)`` first, then ``dump(name, result)`` after
        each pass that changed the program (``config.log_compiles`` style debugging).
      check: run ``check_jaxpr`` on the result of every pass that changed the program.

    Returns:
      An equivalent ``ClosedJaxpr`` with the same inputs and output types.

    Example:
      >>> import fxgrad, fxgrad.numpy as fnp
      >>> closed = fxgrad.make_jaxpr(lambda x: fnp.sin(x) * 1.0 + fnp.sin(x))(1.0)
      >>> print(simplify(closed))
      { lambda ; a:f64[]. let
          b:f64[] = sin a
          c:f64[] = add b b
        in (c,) }
    """
    current = _as_closed(closed)
    chosen = PASSES if passes is None else passes
    if dump is not None:
        dump("input", current)
    for _ in range(max_iterations):
        changed = False
        for name, run in chosen:
            result = run(current)
            if result is current:
                continue
            changed = True
            current = result
            if check:
                check_jaxpr(current.jaxpr)
            if dump is not None:
                dump(name, current)
        if not changed:
            break
    return current


def dce(closed: ClosedJaxpr | Jaxpr) -> ClosedJaxpr:
    """Dead code elimination: drop unused equations and constants (see module docstring)."""
    return _dce(_as_closed(closed), _Ctx())


def cse(closed: ClosedJaxpr | Jaxpr) -> ClosedJaxpr:
    """Common subexpression elimination: merge equal equations and equal constants."""
    return _cse(_as_closed(closed), _Ctx())


def constant_folding(closed: ClosedJaxpr | Jaxpr) -> ClosedJaxpr:
    """Evaluate equations whose inputs are all known at compile time."""
    return _rewrite(_as_closed(closed), _Ctx(), _fold_rule, _constant_folding)


def algebraic_identities(closed: ClosedJaxpr | Jaxpr) -> ClosedJaxpr:
    """Rewrite exact algebraic identities and layout-op chains (see module docstring)."""
    return _rewrite(_as_closed(closed), _Ctx(), _identity_rule, _algebraic_identities)


def _as_closed(closed: ClosedJaxpr | Jaxpr) -> ClosedJaxpr:
    if isinstance(closed, ClosedJaxpr):
        return closed
    if isinstance(closed, Jaxpr):
        if closed.num_consts:
            raise ValueError(
                f"simplify: a Jaxpr with {closed.num_consts} constvars needs their values; "
                "pass a ClosedJaxpr instead."
            )
        return ClosedJaxpr(closed, ())
    raise TypeError(f"simplify: expected a ClosedJaxpr or a Jaxpr, got {type(closed).__name__}")


# ---------------------------------------------------------------------------------------
# Shared machinery: context, sub-jaxprs, effects, the forward rewriter
# ---------------------------------------------------------------------------------------


@dataclass
class _Ctx:
    """One run of a pass over a program and the jaxprs nested in its params."""

    memo: dict[Any, tuple[Any, Any]] = field(default_factory=dict)
    new_consts: bool = True  # False inside a raw Jaxpr param: its consts come from outside


Runner = Callable[[ClosedJaxpr, _Ctx], ClosedJaxpr]

_ATOMIC_PARAMS = frozenset({int, float, bool, str, type(None), np.dtype})


def _map_params(eqn: JaxprEqn, ctx: _Ctx, run: Runner) -> dict[str, Any]:
    """``eqn.params`` with every jaxpr in it passed through ``run`` (the same dict if none
    changes)."""
    params = eqn.params
    if not _has_jaxprs(eqn, ctx):
        return params
    new = None
    for k, v in params.items():
        nv = _map_param(v, ctx, run)
        if nv is not v:
            new = dict(params) if new is None else new
            new[k] = nv
    return params if new is None else new


def _map_param(value: Any, ctx: _Ctx, run: Runner) -> Any:
    if type(value) in _ATOMIC_PARAMS:
        return value
    if isinstance(value, tuple):
        mapped = tuple(_map_param(v, ctx, run) for v in value)
        return value if all(a is b for a, b in zip(mapped, value, strict=True)) else mapped
    if not isinstance(value, (ClosedJaxpr, Jaxpr)):
        return value
    key = (run, id(value))
    hit = ctx.memo.get(key)
    if hit is None:
        hit = ctx.memo[key] = (value, _run_nested(value, ctx, run))  # pins id(value)
    return hit[1]


def _run_nested(value: ClosedJaxpr | Jaxpr, ctx: _Ctx, run: Runner) -> ClosedJaxpr | Jaxpr:
    if isinstance(value, ClosedJaxpr):
        return run(value, _Ctx(ctx.memo))
    # A raw Jaxpr's constvars are bound by its user: treat them as opaque inputs.
    opened = ClosedJaxpr(Jaxpr(value.in_binders, value.eqns, value.outs, 0), ())
    result = run(opened, _Ctx(ctx.memo, new_consts=False))
    if result is opened:
        return value
    out = result.jaxpr
    assert out.in_binders == value.in_binders, "a pass changed a nested jaxpr's inputs"
    return Jaxpr(out.in_binders, out.eqns, out.outs, value.num_consts)


def _subjaxprs(value: Any) -> Iterator[Jaxpr]:
    if isinstance(value, ClosedJaxpr):
        yield value.jaxpr
    elif isinstance(value, Jaxpr):
        yield value
    elif isinstance(value, tuple):
        for v in value:
            yield from _subjaxprs(v)


def _has_jaxprs(eqn: JaxprEqn, ctx: _Ctx) -> bool:
    key = ("has_jaxprs", id(eqn.params))
    hit = ctx.memo.get(key)
    if hit is None:
        found = any(True for v in eqn.params.values() for _ in _subjaxprs(v))
        hit = ctx.memo[key] = (eqn.params, found)
    return hit[1]


def _is_effectful(eqn: JaxprEqn, ctx: _Ctx) -> bool:
    """True for primitives marked ``effectful`` and equations whose sub-jaxprs have one."""
    if getattr(eqn.primitive, "effectful", False):
        return True
    if not _has_jaxprs(eqn, ctx):
        return False
    for jaxpr in (j for v in eqn.params.values() for j in _subjaxprs(v)):
        key = ("effects", id(jaxpr))
        hit = ctx.memo.get(key)
        if hit is None:
            hit = ctx.memo[key] = (jaxpr, any(_is_effectful(e, ctx) for e in jaxpr.eqns))
        if hit[1]:
            return True
    return False


def _kernel_class(prim: Primitive) -> str | None:
    return kernel_classes.get(prim, (None, None))[0]


def _prim(name: str, eqn: JaxprEqn) -> bool:
    """``eqn`` applies fxgrad's own primitive ``name`` (not a user one of the same name)."""
    return eqn.primitive.name == name and primitives.get(name) is eqn.primitive


def _same_aval(a: ShapedArray, b: ShapedArray) -> bool:
    return (
        tuple(a.shape) == tuple(b.shape)
        and np.dtype(a.dtype) == np.dtype(b.dtype)
        and bool(a.weak_type) == bool(b.weak_type)
    )


def _concrete(const: Any) -> np.ndarray | None:
    """The value of a constant; ``None`` for a tracer (a jaxpr staged inside a
    transformation closes over them: folding its primal value would drop its tangent)."""
    if isinstance(const, core.Tracer):
        return None
    return np.asarray(core._unwrap_value(const))


def _is_uniform(value: np.ndarray) -> bool:
    """All elements of ``value`` are bitwise equal (so -0.0 and 0.0, or NaNs, differ)."""
    if value.size <= 1:
        return True
    if value.size > MAX_FOLDED_SIZE:
        return False
    flat = np.ascontiguousarray(value).reshape(-1)
    raw = flat.view(np.uint8).reshape(flat.size, flat.dtype.itemsize)
    return bool((raw == raw[0]).all())


class _Rewriter:
    """Rebuilds a program equation by equation, substituting replaced variables.

    ``defs`` maps each variable of the new program to the equation binding it, so rules
    can look at how their inputs were computed. Folded constants reuse the variable
    they replace as a new constvar, so no substitution is needed for them.
    """

    def __init__(self, closed: ClosedJaxpr, ctx: _Ctx):
        self.closed = closed
        self.ctx = ctx
        self.constvars: list[Var] = list(closed.jaxpr.constvars)
        self.consts: list[Any] = list(closed.consts)
        self.subst: dict[Var, Atom] = {}
        self.eqns: list[JaxprEqn] = []
        self.defs: dict[Var, JaxprEqn] = {}
        self.changed = False
        self._values: dict[Var, np.ndarray | None] = {}
        self._splats: dict[Var, np.ndarray | None] = {}
        self._const_index = {v: i for i, v in enumerate(self.constvars)}

    def read(self, x: Atom) -> Atom:
        return self.subst.get(x, x) if type(x) is Var else x

    def replace(self, var: Var, atom: Atom) -> None:
        self.subst[var] = atom
        self.changed = True

    def emit(self, eqn: JaxprEqn) -> None:
        self.eqns.append(eqn)
        for v in eqn.out_binders:
            self.defs[v] = eqn

    def add_const(self, var: Var, value: np.ndarray) -> None:
        value.flags.writeable = False
        self._const_index[var] = len(self.constvars)
        self.constvars.append(var)
        self.consts.append(core._wrap_value(value, var.aval.weak_type))
        self._values[var] = value
        self.changed = True

    def value(self, x: Atom) -> np.ndarray | None:
        """The concrete value of a literal or constvar, else ``None``."""
        if type(x) is Literal:
            return np.asarray(x.val, dtype=x.aval.dtype)
        if x not in self._values:
            index = self._const_index.get(x)
            self._values[x] = None if index is None else _concrete(self.consts[index])
        return self._values[x]

    def splat(self, x: Atom) -> np.ndarray | None:
        """The 0-d array every element of ``x`` equals, if known."""
        if type(x) is Literal:
            value = np.asarray(x.val, dtype=x.aval.dtype)
            return value if value.ndim == 0 else None
        if x not in self._splats:
            result = None
            eqn = self.defs.get(x)
            if eqn is not None and _prim("broadcast_in_dim", eqn):
                result = self.splat(eqn.inputs[0])
            else:
                value = self.value(x)
                if value is not None and value.size > 0 and _is_uniform(value):
                    result = value.reshape(-1)[:1].reshape(())
            self._splats[x] = result
        return self._splats[x]

    def finish(self) -> ClosedJaxpr:
        if not self.changed:
            return self.closed
        jaxpr = self.closed.jaxpr
        outs = tuple(self.read(x) for x in jaxpr.outs)
        in_binders = tuple(self.constvars) + jaxpr.invars
        new = Jaxpr(in_binders, tuple(self.eqns), outs, len(self.constvars))
        return ClosedJaxpr(new, tuple(self.consts))


Rule = Callable[[_Rewriter, JaxprEqn], bool]


def _rewrite(closed: ClosedJaxpr, ctx: _Ctx, rule: Rule, run: Runner) -> ClosedJaxpr:
    """Apply ``rule`` to each equation in order; it emits replacements and returns True,
    or returns False to keep the equation. Nested jaxprs go through ``run``."""
    rw = _Rewriter(closed, ctx)
    for eqn in closed.jaxpr.eqns:
        inputs = tuple(rw.read(x) for x in eqn.inputs)
        params = _map_params(eqn, ctx, run)
        if params is not eqn.params or any(
            a is not b for a, b in zip(inputs, eqn.inputs, strict=True)
        ):
            eqn = JaxprEqn(eqn.primitive, inputs, params, eqn.out_binders, eqn.source_info)
            rw.changed = True
        if not rule(rw, eqn):
            rw.emit(eqn)
    return rw.finish()


def _with_eqn(eqn: JaxprEqn, prim_name: str, inputs: tuple[Atom, ...], **params: Any) -> JaxprEqn:
    """An equation binding ``eqn``'s outputs (and keeping its source_info) differently."""
    return JaxprEqn(primitives[prim_name], inputs, params, eqn.out_binders, eqn.source_info)


# ---------------------------------------------------------------------------------------
# Dead code elimination
# ---------------------------------------------------------------------------------------


def _dce(closed: ClosedJaxpr, ctx: _Ctx, used_outputs: tuple[bool, ...] | None = None):
    jaxpr = closed.jaxpr
    outs = jaxpr.outs
    changed = False
    if used_outputs is not None and not all(used_outputs):
        outs = tuple(x for x, used in zip(outs, used_outputs, strict=True) if used)
        changed = True
    live: set[Var] = {x for x in outs if type(x) is Var}
    kept: list[JaxprEqn] = []
    for eqn in reversed(jaxpr.eqns):
        used = tuple(v in live for v in eqn.out_binders)
        effectful = _is_effectful(eqn, ctx)
        if not any(used) and not effectful:
            changed = True
            continue
        new = _dce_eqn(eqn, used, effectful, ctx)
        changed = changed or new is not eqn
        kept.append(new)
        live.update(x for x in new.inputs if type(x) is Var)
    constvars, consts = jaxpr.constvars, closed.consts
    if any(v not in live for v in constvars):
        pairs = [(v, c) for v, c in zip(constvars, consts, strict=True) if v in live]
        constvars = tuple(v for v, _ in pairs)
        consts = tuple(c for _, c in pairs)
        changed = True
    if not changed:
        return closed
    new_jaxpr = Jaxpr(constvars + jaxpr.invars, tuple(reversed(kept)), outs, len(constvars))
    return ClosedJaxpr(new_jaxpr, tuple(consts))


def _dce_eqn(eqn: JaxprEqn, used: tuple[bool, ...], effectful: bool, ctx: _Ctx) -> JaxprEqn:
    if not _is_prunable_call(eqn):
        params = _map_params(eqn, ctx, _dce)
        if params is eqn.params:
            return eqn
        return JaxprEqn(eqn.primitive, eqn.inputs, params, eqn.out_binders, eqn.source_info)
    if effectful:
        used = (True,) * len(used)
    inner = eqn.params["jaxpr"]
    key = ("call", id(inner), used)
    hit = ctx.memo.get(key)
    if hit is None:
        hit = ctx.memo[key] = (inner, _prune_call_body(inner, used, ctx))
    new_inner, used_inputs = hit[1]
    if new_inner is inner:
        return eqn
    inputs = tuple(x for x, u in zip(eqn.inputs, used_inputs, strict=True) if u)
    outs = tuple(v for v, u in zip(eqn.out_binders, used, strict=True) if u)
    params = {**eqn.params, "jaxpr": new_inner}
    return JaxprEqn(eqn.primitive, inputs, params, outs, eqn.source_info)


def _is_prunable_call(eqn: JaxprEqn) -> bool:
    """A ``jit`` call: ``params["jaxpr"]`` maps the inputs to the outputs one to one."""
    inner = eqn.params.get("jaxpr")
    return (
        _kernel_class(eqn.primitive) == "call"
        and isinstance(inner, ClosedJaxpr)
        and len(inner.jaxpr.invars) == len(eqn.inputs)
        and len(inner.jaxpr.outs) == len(eqn.out_binders)
    )


def _prune_call_body(inner: ClosedJaxpr, used: tuple[bool, ...], ctx: _Ctx):
    """The body computing only the ``used`` outputs, without inputs it does not read."""
    body = _dce(inner, _Ctx(ctx.memo), used)
    jaxpr = body.jaxpr
    read = {x for e in jaxpr.eqns for x in e.inputs if type(x) is Var}
    read.update(x for x in jaxpr.outs if type(x) is Var)
    used_inputs = tuple(v in read for v in jaxpr.invars)
    if not all(used_inputs):
        invars = tuple(v for v, u in zip(jaxpr.invars, used_inputs, strict=True) if u)
        jaxpr = Jaxpr(jaxpr.constvars + invars, jaxpr.eqns, jaxpr.outs, jaxpr.num_consts)
        body = ClosedJaxpr(jaxpr, body.consts)
    return body, used_inputs


# ---------------------------------------------------------------------------------------
# Common subexpression elimination
# ---------------------------------------------------------------------------------------

# Exactly commutative for non-complex operands (max/min are not: max(-0., 0.) keeps
# its first argument).
_COMMUTATIVE = frozenset({"add", "mul", "and", "or", "xor", "eq", "ne"})


def _cse(closed: ClosedJaxpr, ctx: _Ctx) -> ClosedJaxpr:
    order: dict[Var, int] = {}
    seen: dict[Any, tuple[Var, ...]] = {}

    def rule(rw: _Rewriter, eqn: JaxprEqn) -> bool:
        if _is_effectful(eqn, rw.ctx):
            return False
        key = _eqn_key(eqn, order)
        if key is None:
            return False
        previous = seen.get(key)
        if previous is None:
            seen[key] = eqn.out_binders
            return False
        for v, p in zip(eqn.out_binders, previous, strict=True):
            rw.replace(v, p)
        return True

    return _rewrite(_merge_equal_consts(closed), ctx, rule, _cse)


def _merge_equal_consts(closed: ClosedJaxpr) -> ClosedJaxpr:
    """Point uses of a constant equal to an earlier one at the earlier one (DCE drops it)."""
    seen: dict[Any, Var] = {}
    subst: dict[Var, Var] = {}
    for v, c in zip(closed.jaxpr.constvars, closed.consts, strict=True):
        value = _concrete(c)
        key: Any = ("id", id(c))
        if value is not None and value.size <= MAX_FOLDED_SIZE:
            key = (value.dtype.str, value.shape, value.tobytes())
        key = (key, v.aval)
        if key in seen:
            subst[v] = seen[key]
        else:
            seen[key] = v
    if not subst:
        return closed
    jaxpr = closed.jaxpr

    def sub(x: Atom) -> Atom:
        return subst.get(x, x) if type(x) is Var else x

    eqns = tuple(
        JaxprEqn(
            e.primitive, tuple(sub(x) for x in e.inputs), e.params, e.out_binders, e.source_info
        )
        for e in jaxpr.eqns
    )
    outs = tuple(sub(x) for x in jaxpr.outs)
    return ClosedJaxpr(Jaxpr(jaxpr.in_binders, eqns, outs, jaxpr.num_consts), closed.consts)


def _atom_key(x: Atom, order: dict[Var, int]) -> tuple:
    if type(x) is Literal:
        value = np.asarray(x.val, dtype=x.aval.dtype)
        return (0, value.dtype.str, bool(x.aval.weak_type), value.shape, value.tobytes())
    if x not in order:
        order[x] = len(order)
    return (1, order[x])


def _param_key(value: Any) -> Any:
    if isinstance(value, (ClosedJaxpr, Jaxpr)):
        return value  # hashed and compared by identity
    if isinstance(value, (tuple, list)):
        return (type(value), tuple(_param_key(v) for v in value))
    if isinstance(value, np.ndarray):
        return (np.ndarray, value.dtype.str, value.shape, value.tobytes())
    return (type(value), value)


def _eqn_key(eqn: JaxprEqn, order: dict[Var, int]) -> Any:
    inputs = [_atom_key(x, order) for x in eqn.inputs]
    name = eqn.primitive.name
    if name in _COMMUTATIVE and _prim(name, eqn) and eqn.inputs[0].aval.dtype.kind != "c":
        inputs.sort()
    params = tuple(sorted((k, _param_key(v)) for k, v in eqn.params.items()))
    key = (eqn.primitive, tuple(inputs), params, tuple(v.aval for v in eqn.out_binders))
    try:
        hash(key)
    except TypeError:
        return None
    return key


# ---------------------------------------------------------------------------------------
# Constant folding
# ---------------------------------------------------------------------------------------

# One-operand layout changes: a layout change of a splat is a splat.
_SPLAT_PRESERVING = frozenset(
    {"broadcast_in_dim", "reshape", "transpose", "squeeze", "rev", "slice"}
)


def _constant_folding(closed: ClosedJaxpr, ctx: _Ctx) -> ClosedJaxpr:
    """``constant_folding`` within a run (``ctx``) over nested jaxprs."""
    return _rewrite(closed, ctx, _fold_rule, _constant_folding)


def _fold_rule(rw: _Rewriter, eqn: JaxprEqn) -> bool:
    prim = eqn.primitive
    if (
        prim.impl is None
        or _kernel_class(prim) in ("call", "control")
        or _is_effectful(eqn, rw.ctx)
    ):
        return False
    if _prim("broadcast_in_dim", eqn) and type(eqn.inputs[0]) is Literal:
        return False  # already the canonical form of a splat
    if not prim.multiple_results:
        splat = _fold_splat(rw, eqn)
        if splat is not None:
            _emit_splat(rw, eqn, eqn.out_binders[0], splat)
            return True
    return _fold_values(rw, eqn)


def _fold_splat(rw: _Rewriter, eqn: JaxprEqn) -> np.ndarray | None:
    """The scalar every output element equals, computed without materialising arrays."""
    if not eqn.inputs:
        return None
    name = eqn.primitive.name
    if name in _SPLAT_PRESERVING and _prim(name, eqn) and len(eqn.inputs) == 1:
        return rw.splat(eqn.inputs[0])
    if _kernel_class(eqn.primitive) != "elementwise":
        return None
    scalars = [rw.splat(x) for x in eqn.inputs]
    if any(s is None for s in scalars):
        return None
    outs = _evaluate(eqn.primitive, scalars, eqn.params)
    if outs is None or outs[0].shape != ():
        return None
    return outs[0].astype(eqn.out_binders[0].aval.dtype, copy=False)


def _emit_splat(rw: _Rewriter, eqn: JaxprEqn, var: Var, scalar: np.ndarray) -> None:
    aval = var.aval
    literal = Literal(np.asarray(scalar, dtype=aval.dtype)[()], aval.update(shape=()))
    if aval.shape == ():
        rw.replace(var, literal)
        return
    new = JaxprEqn(
        primitives["broadcast_in_dim"],
        (literal,),
        {"shape": tuple(aval.shape), "broadcast_dimensions": ()},
        (var,),
        eqn.source_info,
    )
    rw.emit(new)
    rw.changed = True


def _fold_values(rw: _Rewriter, eqn: JaxprEqn) -> bool:
    """Evaluate ``eqn`` on materialised inputs and emit literals, splats or constants."""
    values, stored = [], 0
    for x in eqn.inputs:
        value = rw.value(x)
        if value is None:
            scalar = rw.splat(x)
            if scalar is None:
                return False
            value = np.broadcast_to(scalar, x.aval.shape)
        stored += value.size if value.strides != (0,) * value.ndim else 1
        values.append(value)
    avals = [x.aval for x in eqn.inputs] + [v.aval for v in eqn.out_binders]
    if any(math.prod(a.shape) > MAX_FOLDED_SIZE for a in avals):
        return False
    outs = _evaluate(eqn.primitive, values, eqn.params)
    if outs is None:
        return False
    plan = []
    for var, out in zip(eqn.out_binders, outs, strict=True):
        if out.shape != tuple(var.aval.shape):
            return False  # an impl disagreeing with abstract_eval: leave it to run time
        out = out.astype(var.aval.dtype, copy=False)
        if out.ndim == 0 or (_is_uniform(out) and out.size and not eqn.primitive.multiple_results):
            plan.append((var, "splat", out.reshape(-1)[:1].reshape(())))
        elif rw.ctx.new_consts and out.size <= max(stored, 1):
            plan.append((var, "const", np.array(out)))
        else:
            return False
    for var, kind, value in plan:
        if kind == "splat":
            _emit_splat(rw, eqn, var, value)
        else:
            rw.add_const(var, value)
    return True


def _evaluate(prim: Primitive, values: list[np.ndarray], params: dict) -> list[np.ndarray] | None:
    """``prim.impl`` on ``values``, or ``None`` if it fails (the failure then happens at
    run time, as it would have without folding)."""
    try:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = prim.impl(*values, **params)
    except Exception:  # noqa: BLE001 - folding is opportunistic
        return None
    outs = out if prim.multiple_results else [out]
    return [np.asarray(core._unwrap_value(o)) for o in outs]


# ---------------------------------------------------------------------------------------
# Algebraic identities
# ---------------------------------------------------------------------------------------


def _algebraic_identities(closed: ClosedJaxpr, ctx: _Ctx) -> ClosedJaxpr:
    """``algebraic_identities`` within a run (``ctx``) over nested jaxprs."""
    return _rewrite(closed, ctx, _identity_rule, _algebraic_identities)


def _identity_rule(rw: _Rewriter, eqn: JaxprEqn) -> bool:
    rule = _IDENTITIES.get(eqn.primitive.name)
    if rule is None or not _prim(eqn.primitive.name, eqn):
        return False
    result = rule(rw, eqn)
    if result is None:
        return False
    if isinstance(result, JaxprEqn):
        rw.emit(result)
        rw.changed = True
        return True
    if not _same_aval(result.aval, eqn.out_binders[0].aval):
        return False  # e.g. a weak x in a strong x*1: the result type would change
    rw.replace(eqn.out_binders[0], result)
    return True


def _is_one(scalar: np.ndarray | None) -> bool:
    return scalar is not None and scalar.dtype.kind in "biuf" and bool(scalar == 1)


def _is_zero(scalar: np.ndarray | None, *, negative: bool) -> bool:
    """``scalar`` is zero; for floats (and both parts of complex), of the given sign."""
    if scalar is None or bool(scalar != 0):
        return False
    if scalar.dtype.kind in "biu":
        return True
    parts = (scalar.real, scalar.imag) if scalar.dtype.kind == "c" else (scalar,)
    return all(bool(np.signbit(p)) == negative for p in parts)


def _real(eqn: JaxprEqn) -> bool:
    return eqn.out_binders[0].aval.dtype.kind != "c"


def _first_of_type(eqn: JaxprEqn, *candidates: Atom | None) -> Atom | None:
    """The first candidate with the type of ``eqn``'s output (weak types included)."""
    out = eqn.out_binders[0].aval
    for c in candidates:
        if c is not None and _same_aval(c.aval, out):
            return c
    return None


def _mul(rw: _Rewriter, eqn: JaxprEqn) -> Atom | None:
    x, y = eqn.inputs
    if not _real(eqn):
        return None
    return _first_of_type(
        eqn, x if _is_one(rw.splat(y)) else None, y if _is_one(rw.splat(x)) else None
    )


def _div(rw: _Rewriter, eqn: JaxprEqn) -> Atom | None:
    x, y = eqn.inputs
    return x if _real(eqn) and _is_one(rw.splat(y)) else None


def _add(rw: _Rewriter, eqn: JaxprEqn) -> Atom | None:
    x, y = eqn.inputs
    return _first_of_type(
        eqn,
        x if _is_zero(rw.splat(y), negative=True) else None,
        y if _is_zero(rw.splat(x), negative=True) else None,
    )


def _sub(rw: _Rewriter, eqn: JaxprEqn) -> Atom | None:
    x, y = eqn.inputs
    return x if _is_zero(rw.splat(y), negative=False) else None


def _defining(rw: _Rewriter, x: Atom, *names: str) -> JaxprEqn | None:
    """The equation computing ``x`` if it applies one of the primitives ``names``."""
    eqn = rw.defs.get(x) if type(x) is Var else None
    if eqn is None or not any(_prim(n, eqn) for n in names):
        return None
    return eqn


def _neg(rw: _Rewriter, eqn: JaxprEqn) -> Atom | None:
    inner = _defining(rw, eqn.inputs[0], "neg")
    return None if inner is None else inner.inputs[0]


def _transpose(rw: _Rewriter, eqn: JaxprEqn) -> Atom | JaxprEqn | None:
    (x,) = eqn.inputs
    perm = tuple(eqn.params["permutation"])
    inner = _defining(rw, x, "transpose")
    if inner is not None:
        x, inner_perm = inner.inputs[0], inner.params["permutation"]
        perm = tuple(inner_perm[p] for p in perm)
    if perm == tuple(range(len(perm))):
        return x
    if inner is None:
        return None
    return _with_eqn(eqn, "transpose", (x,), permutation=perm)


def _is_plain_reshape(eqn: JaxprEqn) -> bool:
    """A row-major reshape: ``squeeze`` or ``reshape`` without a transposition."""
    return _prim("squeeze", eqn) or (_prim("reshape", eqn) and eqn.params["dimensions"] is None)


def _reshape_like(rw: _Rewriter, eqn: JaxprEqn) -> Atom | JaxprEqn | None:
    """reshape/squeeze of a reshape/squeeze is one reshape; to the same shape, nothing."""
    if not _is_plain_reshape(eqn):
        return None
    (x,) = eqn.inputs
    shape = tuple(eqn.out_binders[0].aval.shape)
    inner = _defining(rw, x, "reshape", "squeeze")
    if inner is not None and not _is_plain_reshape(inner):
        inner = None
    if inner is not None:
        x = inner.inputs[0]
    if tuple(x.aval.shape) == shape:
        return x
    if inner is None:
        return None
    return _with_eqn(eqn, "reshape", (x,), new_sizes=shape, dimensions=None)


def _broadcast_in_dim(rw: _Rewriter, eqn: JaxprEqn) -> Atom | JaxprEqn | None:
    """Compose with a broadcast or a unit-axis-inserting reshape feeding it; drop it when
    it changes nothing; make it a reshape when it only inserts unit axes."""
    (x,) = eqn.inputs
    shape = tuple(eqn.params["shape"])
    dims = tuple(eqn.params["broadcast_dimensions"])
    inner = _defining(rw, x, "broadcast_in_dim", "reshape", "squeeze")
    if inner is not None and _prim("broadcast_in_dim", inner):
        dims = tuple(dims[d] for d in inner.params["broadcast_dimensions"])
    elif inner is not None:
        axes = None
        if _is_plain_reshape(inner):
            axes = _inserted_unit_axes(tuple(inner.inputs[0].aval.shape), tuple(x.aval.shape))
        inner = None if axes is None else inner
        dims = dims if axes is None else tuple(dims[a] for a in axes)
    x = x if inner is None else inner.inputs[0]
    in_shape = tuple(x.aval.shape)
    if in_shape == shape and dims == tuple(range(len(shape))):
        return x
    only_unit_axes = all(in_shape[i] == shape[d] for i, d in enumerate(dims)) and all(
        shape[d] == 1 for d in range(len(shape)) if d not in dims
    )
    if only_unit_axes and type(x) is Var:  # (a literal's broadcast is a splat: keep it)
        return _with_eqn(eqn, "reshape", (x,), new_sizes=shape, dimensions=None)
    if inner is None:
        return None
    return _with_eqn(eqn, "broadcast_in_dim", (x,), shape=shape, broadcast_dimensions=dims)


def _inserted_unit_axes(src: tuple[int, ...], dst: tuple[int, ...]) -> tuple[int, ...] | None:
    """Where each axis of ``src`` lands if ``dst`` is ``src`` with size-1 axes inserted."""
    axes: list[int] = []
    j = 0
    for size in src:
        while j < len(dst) and dst[j] != size:
            if dst[j] != 1:
                return None
            j += 1
        if j == len(dst):
            return None
        axes.append(j)
        j += 1
    return tuple(axes) if all(d == 1 for d in dst[j:]) else None


def _convert_element_type(rw: _Rewriter, eqn: JaxprEqn) -> Atom | None:
    return eqn.inputs[0]  # kept by _identity_rule only when the type is unchanged


def _select_n(rw: _Rewriter, eqn: JaxprEqn) -> Atom | None:
    which, *cases = eqn.inputs
    if all(c is cases[0] for c in cases):
        return cases[0]
    scalar = rw.splat(which)
    if scalar is None:
        return None
    index = min(max(int(scalar), 0), len(cases) - 1)  # the impl clips, as np.choose
    return cases[index]


def _integer_pow(rw: _Rewriter, eqn: JaxprEqn) -> Atom | None:
    return eqn.inputs[0] if eqn.params["y"] == 1 else None


def _reduce(rw: _Rewriter, eqn: JaxprEqn) -> Atom | None:
    if tuple(eqn.params["axes"]) != ():
        return None
    # NumPy sums start from +0.0, so a float sum over no axes turns -0.0 into +0.0.
    if _prim("reduce_sum", eqn) and eqn.inputs[0].aval.dtype.kind in "fc":
        return None
    return eqn.inputs[0]


_IDENTITIES: dict[str, Callable[[_Rewriter, JaxprEqn], Atom | JaxprEqn | None]] = {
    "mul": _mul,
    "div": _div,
    "add": _add,
    "sub": _sub,
    "neg": _neg,
    "transpose": _transpose,
    "reshape": _reshape_like,
    "squeeze": _reshape_like,
    "broadcast_in_dim": _broadcast_in_dim,
    "convert_element_type": _convert_element_type,
    "select_n": _select_n,
    "integer_pow": _integer_pow,
    **{f"reduce_{op}": _reduce for op in ("sum", "max", "min", "prod", "and", "or", "xor")},
}


#: the passes ``simplify`` runs, in order, as ``(name, pass)``
PASSES: tuple[tuple[str, Pass], ...] = (
    ("constant_folding", constant_folding),
    ("algebraic_identities", algebraic_identities),
    ("cse", cse),
    ("dce", dce),
)
