"""A whole backward pass of an eager tape as one program of NumPy calls.

``reverse.vjp_flat_tape`` pulls a tape back node by node: for each node it builds the
signature of its pullback, looks the traced pullback up and runs it. On small arrays
that bookkeeping costs more than the arithmetic. A training loop records the same tape
on every step, so the backward pass of a tape met before is flattened into one
``TapeProgram``: the traced pullbacks of all its nodes, their slots renumbered into one
list, the additions that accumulate cotangents as steps of their own. Running it is one
loop of NumPy calls, looked up by one signature for the whole tape.

Which pullback a node takes depends on values, not only on types: an elementwise node
pulls back through its JVP partial only when its cotangent has no zero entry, and
otherwise scales the partial of ones zero-safely (the ``where`` rule, see
``reverse._pullback``). A program assumes no zeros and counts the nonzero entries of
each such cotangent in a guard step. When a guard finds a zero, the program's results
are discarded: that call falls back to the node-by-node pass, and the program is
rebuilt with the zero-safe pullback at that node, which is right for any cotangent.
So a tape whose cotangents have zeros at a node (a ``where``, a ReLU) settles after a
few calls on a program without a guard there.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from fxgrad import core
from fxgrad.config import config
from fxgrad.interpreters import reverse

#: tape signature -> ``TapeProgram``, ``reverse._SEEN_ONCE`` (met once) or
#: ``reverse._UNTRACEABLE`` (some node cannot be traced: always node by node)
_tape_programs: dict[tuple, Any] = {}
_MAX_TAPE_PROGRAMS = 1024


def tape_signature(
    nodes: Sequence[reverse._Node], in_ids: Sequence[int | None], out_ids: Sequence[int | None]
) -> tuple | None:
    """What a tape's backward pass depends on besides the cotangents' types: each node's
    primitive, params, operand types and wiring, and the tracing flags; ``None`` when a
    node has no traceable pullback (a generic node, unhashable params)."""
    # One flat list (explicit loops: a comprehension is a call in CPython 3.11); the
    # counts keep nodes of different arities apart.
    parts: list[Any] = [config.trace_token(), len(in_ids), *in_ids, len(out_ids), *out_ids]
    append = parts.append
    type_key = reverse._type_key
    for node in nodes:
        if node.pull is not None:
            return None
        append(node.primitive)
        append(node.out_ids[0])
        parts += node.in_ids  # the ids of the active inputs: as many as ``active``
        parts += node.active
        append(type_key(node.out))
        append(len(node.primals))
        for p in node.primals:
            append(type_key(p))
        params = node.params
        append(len(params))
        parts += params.values()  # a primitive's params always come in one order
    key = tuple(parts)
    try:
        hash(key)
    except TypeError:
        return None
    return key


class TapeProgram:
    """The backward pass of one tape signature as a flat list of NumPy calls.

    ``run`` takes the cotangents of the tape's outputs (NumPy values, ``None`` for a
    symbolic zero) and the tape's nodes, and returns one NumPy cotangent per input of
    the tape (``None`` where no cotangent reaches it).
    """

    __slots__ = ("consts", "gathers", "steps", "outs", "guards", "zero_safe", "ct_args")

    def __init__(self, consts, ct_args, gathers, steps, outs, guards, zero_safe) -> None:
        self.consts = consts
        self.ct_args = ct_args  # which output cotangents are arguments, in order
        self.gathers = gathers  # (node position, -1 for its output or primal index)
        self.steps = steps
        self.outs = outs
        self.guards = guards  # (slot of a nonzero count, the size it must be, node)
        self.zero_safe = zero_safe  # node positions pulled back zero-safely

    def run(self, cts: Sequence[Any], nodes: Sequence[reverse._Node]) -> list[Any] | int:
        """The input cotangents, or the position of a node whose guard found a zero."""
        raw = reverse._raw
        env = list(self.consts)
        env += [cts[j] for j in self.ct_args]
        for i, k in self.gathers:
            node = nodes[i]
            env.append(raw(node.out) if k < 0 else raw(node.primals[k]))
        reverse.run_steps(env, self.steps)
        for slot, size, node in self.guards:
            if env[slot] != size:
                return node
        return [None if s is None else env[s] for s in self.outs]


def build(
    nodes: Sequence[reverse._Node],
    in_ids: Sequence[int | None],
    out_ids: Sequence[int | None],
    ct_avals: Sequence[core.ShapedArray | None],
    zero_safe: frozenset[int],
) -> TapeProgram | None:
    """The ``TapeProgram`` of a tape whose output cotangents have ``ct_avals`` (``None``
    for a symbolic zero), with the nodes in ``zero_safe`` pulled back zero-safely and a
    guard before every other elementwise pullback; ``None`` if a pullback cannot be
    traced."""
    # References are ("c", i) constant, ("a", i) argument, ("s", i) step output,
    # resolved to positions in one list once all are known.
    consts: list[Any] = []
    args: list[Any] = []  # ("ct", j) or ("node", position, k)
    steps: list[tuple[Any, list[tuple[str, int]], dict]] = []
    env: dict[int, tuple[tuple[str, int], core.ShapedArray]] = {}  # tape id -> ct
    guards: list[tuple[tuple[str, int], int, int]] = []

    def emit(fn: Any, ins: list[tuple[str, int]], params: dict) -> tuple[str, int]:
        steps.append((fn, ins, params))
        return ("s", len(steps) - 1)

    def accumulate(vid: int | None, ref: tuple[str, int], aval: core.ShapedArray) -> None:
        if vid is None:
            return
        prev = env.get(vid)
        env[vid] = (ref, aval) if prev is None else (emit(np.add, [prev[0], ref], {}), aval)

    for j, (vid, aval) in enumerate(zip(out_ids, ct_avals, strict=True)):
        if aval is not None:
            args.append(("ct", j))
            accumulate(vid, ("a", len(args) - 1), aval)
    for pos in range(len(nodes) - 1, -1, -1):
        node = nodes[pos]
        entry = env.pop(node.out_ids[0], None)
        if entry is None:
            continue
        ct_ref, ct_aval = entry
        program = reverse.traced_pullback(node, ct_aval, False)  # zero-safe
        if program is None:
            return None
        if node.primitive in reverse.elementwise_partials and pos not in zero_safe:
            # The pullback for a cotangent without zeros, guarded, unless it is the
            # same program (a linear input such as add's, whose rules agree).
            fast = reverse.traced_pullback(node, ct_aval, True)
            if fast is None:
                return None
            if not fast.same_as(program):
                guards.append((emit(np.count_nonzero, [ct_ref], {}), ct_aval.size, pos))
                program = fast
        local: dict[int, tuple[str, int]] = {}  # the node program's slots -> references
        for slot, value in enumerate(program.consts):
            consts.append(value)
            local[slot] = ("c", len(consts) - 1)
        base = len(program.consts)
        local[base] = ct_ref
        used = {i for _, ins, _ in program.steps for i in ins} | set(program.outs)
        for k in range(program.n_args - 1):  # the node's output, then its primals
            if base + 1 + k in used:
                args.append(("node", pos, k - 1))
                local[base + 1 + k] = ("a", len(args) - 1)
        nxt = base + program.n_args
        for fn, ins, params in program.steps:
            local[nxt] = emit(fn, [local[i] for i in ins], params)
            nxt += 1
        for vid, slot, aval in zip(node.in_ids, program.outs, program.out_avals, strict=True):
            accumulate(vid, local[slot], aval)
    outs = [env[vid][0] if vid is not None and vid in env else None for vid in in_ids]
    return _resolve(consts, args, steps, outs, guards, zero_safe)


def _resolve(consts, args, steps, outs, guards, zero_safe) -> TapeProgram:
    """Number ``build``'s references: constants, then arguments, then step outputs."""
    offsets = {"c": 0, "a": len(consts), "s": len(consts) + len(args)}

    def slot(ref: tuple[str, int] | None) -> int | None:
        return None if ref is None else offsets[ref[0]] + ref[1]

    return TapeProgram(
        consts=consts,
        ct_args=[a[1] for a in args if a[0] == "ct"],
        gathers=[(a[1], a[2]) for a in args if a[0] == "node"],
        steps=[(fn, tuple(slot(r) for r in ins), params) for fn, ins, params in steps],
        outs=[slot(r) for r in outs],
        guards=[(slot(r), size, node) for r, size, node in guards],
        zero_safe=zero_safe,
    )


def backward(
    nodes: Sequence[reverse._Node],
    in_ids: Sequence[int | None],
    out_ids: Sequence[int | None],
    structure: tuple,
    cts: Sequence[Any],
) -> list[Any] | None:
    """The tape's input cotangents by its ``TapeProgram``, given the output cotangents
    ``cts`` (NumPy values, ``None`` for a symbolic zero) and the tape's ``structure``
    (``tape_signature``); ``None`` when the caller must go node by node: the first time
    this signature is met (it may never recur), when a pullback cannot be traced, and
    when a guard found a zero cotangent (the program is rebuilt for the next call)."""
    ct_avals = [None if c is None else core.shaped(c.shape, c.dtype, False) for c in cts]
    key = (structure, *ct_avals)
    program = _tape_programs.get(key)
    if program is None:  # first sighting
        if len(_tape_programs) >= _MAX_TAPE_PROGRAMS:
            _tape_programs.clear()
        _tape_programs[key] = reverse._SEEN_ONCE
        return None
    if program is reverse._SEEN_ONCE:  # second sighting: build it
        program = build(nodes, in_ids, out_ids, ct_avals, frozenset()) or reverse._UNTRACEABLE
        _tape_programs[key] = program
    if type(program) is not TapeProgram:
        return None
    result = program.run(cts, nodes)
    if type(result) is int:  # a zero cotangent at that node
        zero_safe = program.zero_safe | {result}
        rebuilt = build(nodes, in_ids, out_ids, ct_avals, zero_safe)
        _tape_programs[key] = rebuilt or reverse._UNTRACEABLE
        return None
    return result
