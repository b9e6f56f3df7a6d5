"""Recognising a lane-local ``while``: the batched loop ``vmap`` makes, which may run by tiles.

``vmap`` of a ``while_loop`` whose predicate is batched gives a loop over N lanes whose
cond is "any lane active" (``reduce_max(convert(p)) > 0`` of a per-lane predicate ``p``)
and whose body keeps the carry of a lane that is done (``select_n(p, carry, new)``; see
``lax.control_flow.loops._masked_bodies``). When, besides, every value is a vector over
the lanes (or a scalar) and every operation is elementwise, each lane evolves on its
own: a lane that is done stays done (its carry, hence its predicate, no longer changes).
Then the loop can run tile by tile over the lanes, each tile until none of its lanes is
active, and every lane still gets exactly the iterations it gets in the whole loop (and
``max_steps``, counted per tile, bounds it the same way). A tile's values stay in the L1
cache and a tile stops as soon as its own lanes are done.

``lane_cond`` checks all this on the equation and returns the cond that computes ``p``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fxgrad.jaxpr import ClosedJaxpr, Jaxpr, JaxprEqn, Literal, Var
from fxgrad.lax._define import kernel_classes


def _producers(jaxpr: Jaxpr) -> dict[Var, JaxprEqn]:
    return {v: e for e in jaxpr.eqns for v in e.out_binders}


def _any_predicate(cond: Jaxpr) -> Var | None:
    """``p`` when ``cond`` returns ``reduce_max(convert(p), axes=(0,)) > 0``."""
    prod = _producers(cond)
    out = cond.outs[0]
    gt = prod.get(out) if isinstance(out, Var) else None
    if gt is None or gt.primitive.name != "gt" or not _is_zero(gt.inputs[1]):
        return None
    red = prod.get(gt.inputs[0]) if isinstance(gt.inputs[0], Var) else None
    if red is None or red.primitive.name != "reduce_max" or tuple(red.params["axes"]) != (0,):
        return None
    conv = prod.get(red.inputs[0]) if isinstance(red.inputs[0], Var) else None
    if conv is None or conv.primitive.name != "convert_element_type":
        return None
    p = conv.inputs[0]
    if not isinstance(p, Var) or np.dtype(p.aval.dtype) != np.bool_ or len(p.aval.shape) != 1:
        return None
    return p


def _is_zero(x: Any) -> bool:
    return isinstance(x, Literal) and np.shape(x.val) == () and x.val == 0


def _mask(body: Jaxpr, k: int, carry: Var) -> Var | None:
    """The lane mask ``m`` when output ``k`` of ``body`` is ``select_n(m, carry, new)``."""
    prod = _producers(body)
    out = body.outs[k]
    sel = prod.get(out) if isinstance(out, Var) else None
    if sel is None or sel.primitive.name != "select_n" or len(sel.inputs) != 3:
        return None
    if sel.inputs[1] is not carry:
        return None
    which = sel.inputs[0]
    bcast = prod.get(which) if isinstance(which, Var) else None
    if bcast is not None and bcast.primitive.name == "broadcast_in_dim":
        if tuple(bcast.params["broadcast_dimensions"])[:1] != (0,):
            return None
        which = bcast.inputs[0]
    return which if isinstance(which, Var) and len(which.aval.shape) == 1 else None


def _lane_local(jaxpr: Jaxpr, lanes: int) -> bool:
    """Every value a vector over ``lanes`` (leading axis) or a scalar; every op elementwise."""
    for eqn in jaxpr.eqns:
        kind = kernel_classes.get(eqn.primitive, ("library", None))[0]
        shapes = [x.aval.shape for x in (*eqn.inputs, *eqn.out_binders)]
        if any(s and s[0] != lanes for s in shapes):
            return False
        out_shape = eqn.out_binders[0].aval.shape
        if kind == "elementwise":
            if not eqn.inputs or any(s and s != out_shape for s in shapes):
                return False
        elif eqn.primitive.name == "broadcast_in_dim":
            operand = eqn.inputs[0].aval.shape
            dims = tuple(eqn.params["broadcast_dimensions"])
            if operand and (dims[:1] != (0,) or not out_shape):
                return False
        else:
            return False
    return all(not v.aval.shape or v.aval.shape[0] == lanes for v in jaxpr.in_binders)


class _Same:
    """Structural equality of a value of the cond and a value of the body."""

    def __init__(self, eqn: JaxprEqn, cond: Jaxpr, body: Jaxpr):
        p = eqn.params
        nc, nb = p["cond_nconsts"], p["body_nconsts"]
        self.cond_leaf = {v: _outer(eqn.inputs, i, nc, 0) for i, v in enumerate(cond.invars)}
        self.body_leaf = {v: _outer(eqn.inputs, i, nb, nc) for i, v in enumerate(body.invars)}
        self.cond_prod, self.body_prod = _producers(cond), _producers(body)
        self.memo: dict[tuple[int, int], bool] = {}

    def __call__(self, a: Any, b: Any) -> bool:
        if isinstance(a, Literal) or isinstance(b, Literal):
            return (
                isinstance(a, Literal)
                and isinstance(b, Literal)
                and a.aval.dtype == b.aval.dtype
                and np.array_equal(a.val, b.val)
            )
        key = (id(a), id(b))
        if key not in self.memo:
            self.memo[key] = self._compare(a, b)
        return self.memo[key]

    def _compare(self, a: Var, b: Var) -> bool:
        if a in self.cond_leaf or b in self.body_leaf:
            la, lb = self.cond_leaf.get(a), self.body_leaf.get(b)
            return la is not None and lb is not None and _same_leaf(la, lb)
        ea, eb = self.cond_prod[a], self.body_prod[b]
        if ea.primitive is not eb.primitive or len(ea.inputs) != len(eb.inputs):
            return False
        if ea.out_binders.index(a) != eb.out_binders.index(b) or ea.params != eb.params:
            return False
        return all(self(x, y) for x, y in zip(ea.inputs, eb.inputs, strict=True))


def _outer(inputs: tuple, i: int, n_consts: int, offset: int) -> tuple:
    """What input ``i`` of a cond/body is: ``("carry", j)`` or ``("value", outer atom)``."""
    if i >= n_consts:
        return ("carry", i - n_consts)
    return ("value", inputs[offset + i])


def _same_leaf(a: tuple, b: tuple) -> bool:
    if a[0] != b[0]:
        return False
    if a[0] == "carry":
        return a[1] == b[1]
    x, y = a[1], b[1]
    if isinstance(x, Literal) and isinstance(y, Literal):
        return x.aval.dtype == y.aval.dtype and np.array_equal(x.val, y.val)
    return x is y


def lane_cond(eqn: JaxprEqn) -> tuple[ClosedJaxpr, int] | None:
    """``(per-lane cond, lanes)`` when ``eqn`` is a lane-local ``while`` (module docstring)."""
    if eqn.primitive.name != "while":
        return None
    cond, body = eqn.params["cond_jaxpr"].jaxpr, eqn.params["body_jaxpr"].jaxpr
    nb = eqn.params["body_nconsts"]
    if cond.num_consts or body.num_consts:
        return None
    p = _any_predicate(cond)
    if p is None:
        return None
    lanes = p.aval.shape[0]
    carries = body.invars[nb:]
    if not carries or any(not c.aval.shape or c.aval.shape[0] != lanes for c in carries):
        return None
    masks = {_mask(body, k, c) for k, c in enumerate(carries)}
    if len(masks) != 1 or None in masks:
        return None
    lane_p = ClosedJaxpr(Jaxpr(cond.in_binders, cond.eqns, (p,), 0), ())
    if not (_lane_local(body, lanes) and _lane_local(_cone(lane_p.jaxpr), lanes)):
        return None
    if not _Same(eqn, cond, body)(p, masks.pop()):
        return None
    return lane_p, lanes


def _cone(jaxpr: Jaxpr) -> Jaxpr:
    """``jaxpr`` without the equations its outputs do not need."""
    needed = {x for x in jaxpr.outs if isinstance(x, Var)}
    kept = []
    for eqn in reversed(jaxpr.eqns):
        if any(v in needed for v in eqn.out_binders):
            kept.append(eqn)
            needed.update(x for x in eqn.inputs if isinstance(x, Var))
    return Jaxpr(jaxpr.in_binders, tuple(reversed(kept)), jaxpr.outs, jaxpr.num_consts)
