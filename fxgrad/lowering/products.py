"""Rewrites of matrix products before fusion: out of ``scan`` bodies, and transposed.

``hoist_products`` makes one big product of one small product per step. Two rewrites of
a ``scan`` equation, both exact in real arithmetic (their sums are associated
differently, so results may differ in the last bits, as any reordering of a reduction by
``jit`` may):

* **Products of a scanned input and a constant.** ``dot_general(x, c)`` in the body,
  ``x`` a slice of ``xs`` and ``c`` a loop constant (the ``x_t @ U`` of an RNN cell),
  is, for every step at once, ``dot_general(xs, c)`` before the loop; the body reads its
  slice as one more scanned input.
* **Accumulated products.** A carry updated only as ``acc + dot_general(u, v)`` (or the
  transpose of that product), ``u`` and ``v`` being per-step values (the gradient of a
  weight accumulated in the reverse scan of an RNN), is ``acc_0 + dot_general(us, vs)``
  after the loop, contracting the step axis too: the body stacks ``u`` and ``v`` as
  outputs (a scanned input is used as it is) and no longer carries ``acc``.

* **Constants read transposed.** ``dot_general(x, c)`` contracting the last axis of a
  constant matrix ``c`` (the ``dz @ W.T`` of the reverse scan of an RNN) is
  ``dot_general(x, transpose(c))`` with the transpose made once before the loop. BLAS
  multiplies a row-major operand about twice as fast as a transposed view at the sizes of
  one RNN step (32x128 by 128x128); the products are the same sums of the same factors.

XLA does neither of the first two; for ``grad`` of an RNN they turn three of the five
small products per step into three big ones. A rewrite is skipped when the values it
would stack exceed ``MAX_STACKED_BYTES``.

``transposed_products`` lets BLAS write a transposed product directly, and
``outer_products`` makes products without a sum (every contracted axis of size 1) plain
multiplications that fuse.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from fxgrad.core import ShapedArray
from fxgrad.jaxpr import ClosedJaxpr, Jaxpr, JaxprEqn, Literal, Var
from fxgrad.lax._define import primitives

#: the most bytes of per-step values a rewrite stacks
MAX_STACKED_BYTES = 1 << 26


def _nbytes(aval: Any, length: int) -> int:
    return length * math.prod(aval.shape) * np.dtype(aval.dtype).itemsize


def _bind(name: str, inputs: tuple, out: Var | None = None, **params: Any) -> JaxprEqn:
    """A new equation applying primitive ``name`` (its output typed by ``abstract_eval``)."""
    prim = primitives[name]
    aval = prim.abstract_eval(*(x.aval for x in inputs), **params)
    if out is None:
        out = Var(aval)
    else:
        assert tuple(out.aval.shape) == tuple(aval.shape), (out.aval, aval)
    return JaxprEqn(prim, inputs, params, (out,), None)


def _uses(jaxpr: Jaxpr) -> dict[Var, int]:
    counts: dict[Var, int] = {}
    for x in [x for e in jaxpr.eqns for x in e.inputs] + list(jaxpr.outs):
        if isinstance(x, Var):
            counts[x] = counts.get(x, 0) + 1
    return counts


class _Scan:
    """A scan equation being rewritten: its body's parts and the equations around it."""

    def __init__(self, eqn: JaxprEqn):
        p = eqn.params
        self.length, self.n_consts, self.n_carry = p["length"], p["num_consts"], p["num_carry"]
        body = p["jaxpr"].jaxpr
        k, c = self.n_consts, self.n_carry
        self.eqn = eqn
        self.consts, self.carry, self.xs = (
            list(body.in_binders[:k]),
            list(body.in_binders[k : k + c]),
            list(body.in_binders[k + c :]),
        )
        self.eqns = list(body.eqns)
        self.outs = list(body.outs)
        self.inputs = list(eqn.inputs)
        self.out_binders = list(eqn.out_binders)
        self.before: list[JaxprEqn] = []
        self.after: list[JaxprEqn] = []
        self.stacked = 0
        self.changed = False

    def _outer(self, var: Var) -> Any:
        """The outer atom a const or xs input of the body receives."""
        if var in self.consts:
            return self.inputs[self.consts.index(var)]
        if var in self.xs:
            return self.inputs[self.n_consts + self.n_carry + self.xs.index(var)]
        return None

    def fits(self, *avals: Any) -> bool:
        extra = sum(_nbytes(a, self.length) for a in avals)
        if self.stacked + extra > MAX_STACKED_BYTES:
            return False
        self.stacked += extra
        return True

    def stack(self, var: Var) -> Var:
        """The outer stacked values of body value ``var`` (a new ys output if needed)."""
        outer = self._outer(var) if var in self.xs else None
        if isinstance(outer, Var):
            return outer
        for k, x in enumerate(self.outs[self.n_carry :]):
            if x is var:
                return self.out_binders[self.n_carry + k]
        aval = var.aval
        stacked = Var(ShapedArray((self.length, *aval.shape), aval.dtype, aval.weak_type))
        self.outs.append(var)
        self.out_binders.append(stacked)
        return stacked

    def finish(self) -> list[JaxprEqn]:
        params = dict(self.eqn.params)
        body = Jaxpr((*self.consts, *self.carry, *self.xs), tuple(self.eqns), tuple(self.outs))
        params["jaxpr"] = ClosedJaxpr(body, ())
        params["num_carry"] = len(self.carry)
        params["num_consts"] = self.n_consts
        scan = JaxprEqn(
            self.eqn.primitive,
            tuple(self.inputs),
            params,
            tuple(self.out_binders),
            self.eqn.source_info,
        )
        return [*self.before, scan, *self.after]


def _plain_dims(dot: JaxprEqn) -> tuple | None:
    (lc, rc), (lb, rb) = dot.params["dimension_numbers"]
    return None if lb or rb else (tuple(lc), tuple(rc))


def _hoist_inputs(scan: _Scan) -> None:
    """``dot_general(x, c)`` with ``x`` scanned and ``c`` constant: before the loop."""
    for eqn in list(scan.eqns):
        if eqn.primitive.name != "dot_general":
            continue
        x, c = eqn.inputs
        dims = _plain_dims(eqn)
        if dims is None or x not in scan.xs or c not in scan.consts:
            continue
        xs, const = scan._outer(x), scan._outer(c)
        if not isinstance(xs, Var) or not isinstance(const, Var):
            continue
        if not scan.fits(eqn.out_binders[0].aval):
            continue
        lc, rc = dims
        before = _bind(
            "dot_general",
            (xs, const),
            **dict(eqn.params, dimension_numbers=((tuple(d + 1 for d in lc), rc), ((), ()))),
        )
        scan.before.append(before)
        scan.eqns.remove(eqn)
        scan.xs.append(eqn.out_binders[0])  # the body now reads the product's slice
        scan.inputs.append(before.out_binders[0])
        scan.changed = True


def _pretranspose_constants(scan: _Scan) -> None:
    """``dot_general`` reading a constant 2-D float operand transposed: transpose it once,
    before the loop, and read it row-major in the body."""
    for position, eqn in enumerate(scan.eqns):
        if eqn.primitive.name != "dot_general" or _plain_dims(eqn) is None:
            continue
        (lc, rc), _ = eqn.params["dimension_numbers"]
        a, b = eqn.inputs
        if a is b or any(len(v.aval.shape) != 2 for v in (a, b)):
            continue
        if any(np.dtype(v.aval.dtype).kind != "f" for v in (a, b)):
            continue
        if b in scan.consts and tuple(rc) == (1,):
            side, dims = 1, ((tuple(lc), (0,)), ((), ()))
        elif a in scan.consts and tuple(lc) == (0,):
            side, dims = 0, (((1,), tuple(rc)), ((), ()))
        else:
            continue
        outer = scan._outer(eqn.inputs[side])
        if not isinstance(outer, Var):
            continue
        flip = _bind("transpose", (outer,), permutation=(1, 0))
        scan.before.append(flip)
        inner = Var(flip.out_binders[0].aval)
        scan.consts.append(inner)
        scan.inputs.insert(scan.n_consts, flip.out_binders[0])
        scan.n_consts += 1
        inputs = (a, inner) if side == 1 else (inner, b)
        params = dict(eqn.params, dimension_numbers=dims)
        scan.eqns[position] = JaxprEqn(
            eqn.primitive, inputs, params, eqn.out_binders, eqn.source_info
        )
        scan.changed = True


def _accumulated(scan: _Scan, k: int, producers: dict, uses: dict) -> tuple | None:
    """``(add, transpose or None, dot)`` when carry ``k`` is ``acc + [transpose](dot)``."""
    acc, out = scan.carry[k], scan.outs[k]
    add = producers.get(out) if isinstance(out, Var) else None
    if add is None or add.primitive.name != "add" or uses[acc] != 1 or acc not in add.inputs:
        return None
    term = add.inputs[1] if add.inputs[0] is acc else add.inputs[0]
    if term is acc or not isinstance(term, Var):
        return None
    first = producers.get(term)
    transpose = None
    if first is not None and first.primitive.name == "transpose" and uses[term] == 1:
        transpose, first = first, producers.get(first.inputs[0])
        if uses[transpose.inputs[0]] != 1:
            return None
    if first is None or first.primitive.name != "dot_general" or _plain_dims(first) is None:
        return None
    u, v = first.inputs
    if not all(isinstance(w, Var) and w not in scan.consts for w in (u, v)):
        return None
    return add, transpose, first


def _hoist_accumulators(scan: _Scan) -> None:
    """Carries updated as ``acc + [transpose](dot_general(u, v))``: summed after the loop."""
    k = 0
    while k < len(scan.carry):
        body = Jaxpr((), tuple(scan.eqns), tuple(scan.outs))
        producers = {v: e for e in body.eqns for v in e.out_binders}
        found = _accumulated(scan, k, producers, _uses(body))
        if found is None or not scan.fits(*(w.aval for w in found[2].inputs if w not in scan.xs)):
            k += 1
            continue
        add, transpose, dot = found
        us, vs = (scan.stack(w) for w in dot.inputs)
        lc, rc = _plain_dims(dot)
        total = _bind(
            "dot_general",
            (us, vs),
            **dict(
                dot.params,
                dimension_numbers=(
                    ((0, *(d + 1 for d in lc)), (0, *(d + 1 for d in rc))),
                    ((), ()),
                ),
            ),
        )
        scan.after.append(total)
        term = total.out_binders[0]
        if transpose is not None:
            scan.after.append(_bind("transpose", (term,), **transpose.params))
            term = scan.after[-1].out_binders[0]
        init = scan.inputs[scan.n_consts + k]
        acc_first = add.inputs[0] is scan.carry[k]
        operands = (init, term) if acc_first else (term, init)
        scan.after.append(_bind("add", operands, scan.out_binders[k]))
        del scan.carry[k], scan.outs[k], scan.inputs[scan.n_consts + k], scan.out_binders[k]
        scan.n_carry -= 1
        _remove_chain(scan, [add, transpose, dot])
        scan.changed = True


def _remove_chain(scan: _Scan, chain: list) -> None:
    """Drop the equations of a hoisted accumulation whose results nothing else reads."""
    for eqn in chain:
        if eqn is None:
            continue
        uses = _uses(Jaxpr((), tuple(e for e in scan.eqns if e is not eqn), tuple(scan.outs)))
        if all(uses.get(v, 0) == 0 for v in eqn.out_binders):
            scan.eqns.remove(eqn)


def hoist_products(closed: ClosedJaxpr) -> ClosedJaxpr:
    """``closed`` with the products of its ``scan`` equations hoisted (module docstring)."""
    jaxpr = closed.jaxpr
    eqns: list[JaxprEqn] = []
    changed = False
    for eqn in jaxpr.eqns:
        if eqn.primitive.name != "scan" or any(isinstance(x, Literal) for x in eqn.inputs):
            eqns.append(eqn)
            continue
        scan = _Scan(eqn)
        _hoist_inputs(scan)
        _hoist_accumulators(scan)
        _pretranspose_constants(scan)
        if scan.changed:
            eqns.extend(scan.finish())
            changed = True
        else:
            eqns.append(eqn)
    if not changed:
        return closed
    new = Jaxpr(jaxpr.in_binders, tuple(eqns), jaxpr.outs, jaxpr.num_consts)
    return ClosedJaxpr(new, closed.consts)


def transposed_products(jaxpr: Jaxpr) -> Jaxpr:
    """``transpose(dot(a, b))`` of real matrices, its product's only use, becomes
    ``dot(b, a)``: BLAS writes the transposed product directly, instead of a kernel
    reading the product with a column stride (reverse mode makes this for the cotangent of
    ``x @ W``). Each element is the same sum over the same pairs of factors."""
    uses: dict[Var, int] = {}
    for x in [x for e in jaxpr.eqns for x in e.inputs] + list(jaxpr.outs):
        if isinstance(x, Var):
            uses[x] = uses.get(x, 0) + 1
    producers = {e.out_binders[0]: e for e in jaxpr.eqns if e.primitive.name == "dot_general"}
    swapped: dict[int, JaxprEqn] = {}
    for eqn in jaxpr.eqns:
        x = eqn.inputs[0] if eqn.inputs else None
        dot = producers.get(x) if eqn.primitive.name == "transpose" else None
        if dot is None or tuple(eqn.params["permutation"]) != (1, 0) or uses[x] != 1:
            continue
        (lc, rc), (lb, rb) = dot.params["dimension_numbers"]
        a, b = dot.inputs
        kinds = {np.dtype(v.aval.dtype).kind for v in (a, b)}
        if lb or len(lc) != 1 or len(a.aval.shape) != 2 or len(b.aval.shape) != 2:
            continue
        if kinds != {"f"}:
            continue
        params = dict(dot.params, dimension_numbers=((tuple(rc), tuple(lc)), ((), ())))
        swapped[id(eqn)] = JaxprEqn(dot.primitive, (b, a), params, eqn.out_binders, eqn.source_info)
        swapped[id(dot)] = None
    if not swapped:
        return jaxpr
    eqns = [swapped.get(id(e), e) for e in jaxpr.eqns]
    kept = tuple(e for e in eqns if e is not None)
    return Jaxpr(jaxpr.in_binders, kept, jaxpr.outs, jaxpr.num_consts)


def _operand_broadcast(
    x: Any, batch: tuple, contract: tuple, free_at: int, out_shape: tuple
) -> list[JaxprEqn]:
    """Equations bringing operand ``x`` of an outer product to ``out_shape``: batch axes
    first, its free axes at ``free_at``, its contracted (size 1) axes dropped."""
    rank = len(x.aval.shape)
    free = tuple(d for d in range(rank) if d not in batch and d not in contract)
    eqns: list[JaxprEqn] = []
    order = (*batch, *free, *contract)
    if order != tuple(range(rank)):
        eqns.append(_bind("transpose", (x,), permutation=order))
        x = eqns[-1].out_binders[0]
    kept = tuple(x.aval.shape[: len(batch) + len(free)])
    if kept != tuple(x.aval.shape):
        eqns.append(_bind("reshape", (x,), new_sizes=kept, dimensions=None))
        x = eqns[-1].out_binders[0]
    dims = (*range(len(batch)), *range(free_at, free_at + len(free)))
    eqns.append(_bind("broadcast_in_dim", (x,), shape=out_shape, broadcast_dimensions=tuple(dims)))
    return eqns


def outer_products(jaxpr: Jaxpr) -> Jaxpr:
    """A float ``dot_general`` whose contracted axes all have size 1 (an outer product,
    batched or not: the per-example weight gradients of ``vmap(grad)``) becomes the
    multiplication of its two operands broadcast to the result. Each element is the one
    product it was; fusion then writes it in the layout its consumer reads (a transpose
    included) in one parallel kernel, instead of a product followed by a copy."""
    eqns: list[JaxprEqn] = []
    changed = False
    for eqn in jaxpr.eqns:
        if eqn.primitive.name != "dot_general":
            eqns.append(eqn)
            continue
        (lc, rc), (lb, rb) = eqn.params["dimension_numbers"]
        a, b = eqn.inputs
        out = eqn.out_binders[0]
        dtypes = {np.dtype(v.aval.dtype) for v in (a, b, out)}
        if (
            len(dtypes) != 1
            or next(iter(dtypes)).kind != "f"
            or any(a.aval.shape[d] != 1 for d in lc)
            or not isinstance(a, Var)
            or not isinstance(b, Var)
        ):
            eqns.append(eqn)
            continue
        shape = tuple(out.aval.shape)
        n_lhs_free = len(a.aval.shape) - len(lc) - len(lb)
        left = _operand_broadcast(a, tuple(lb), tuple(lc), len(lb), shape)
        right = _operand_broadcast(b, tuple(rb), tuple(rc), len(lb) + n_lhs_free, shape)
        operands = (left[-1].out_binders[0], right[-1].out_binders[0])
        eqns += [*left, *right, _bind("mul", operands, out)]
        changed = True
    if not changed:
        return jaxpr
    return Jaxpr(jaxpr.in_binders, tuple(eqns), jaxpr.outs, jaxpr.num_consts)
