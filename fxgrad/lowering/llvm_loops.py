"""The loop nests of one kernel, written as LLVM IR (the other half of ``llvm.py``).

Per outer index the evaluation order of ``kernel_ir`` is followed: one pass over the
inner axes per reduction depth, then the store pass, then the outer stores. A kernel
without inner axes is one loop nest whose innermost loop is the one LLVM vectorises.
A single reduction along a strided axis whose outputs are contiguous (a sum over the
leading axis of a matrix) runs in *column mode* instead: tiles of ``COLUMN_TILE``
accumulators, each inner step updating a whole tile in a vector loop; float sums add
``SUM_BLOCK`` rows into a tile of partial sums in their own dtype, folded into the main
accumulators after each block, so column and row sums have the same error bound.

Every loop body evaluates the *fast* expansion of the kernel (``decompose``). If that
expansion carries guards (``sin``/``cos`` of huge arguments), the loop counts the lanes
whose guard fails, and when any did, runs again over the same range with the *precise*
expansion (libm calls); a reduction pass restarts from its initial value. Values
computed once per outer index (outer stores after the reductions) always use the precise
expansion: they are scalar code anyway.

Each entry point is a thin wrapper that reads the data pointers out of the NumPy array
objects it is given and calls a body function whose pointer arguments are ``noalias``
(outputs are always fresh buffers), so LLVM needs no runtime alias checks.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from fxgrad.lowering import decompose
from fxgrad.lowering.kernel_ir import (
    Kernel,
    combiner_init,
    reduce_depths,
    store_is_inner,
)
from fxgrad.lowering.llvm import (
    COLUMN_TILE,
    EMITTERS,
    SUM_BLOCK,
    IRFunction,
    acc_dtype,
    combine,
    compensated,
    compensated_total,
    const_text,
    convert,
    ltype,
    mtype,
    neumaier,
)

Idx = dict[int, str]  # index-space axis -> its current index value


@dataclass
class _Acc:
    """The accumulator of one reduction: its slot (main dtype) and compensation slot."""

    node: int
    combiner: str
    dtype: str
    main: str
    slot: str
    comp: str | None


def _cone(nodes: tuple, roots: list[int]) -> set[int]:
    """The nodes ``roots`` depend on, not looking through reductions."""
    seen: set[int] = set()
    stack = list(roots)
    while stack:
        i = stack.pop()
        if i in seen:
            continue
        seen.add(i)
        if nodes[i].op != "reduce":
            stack.extend(nodes[i].args)
    return seen


class _Version:
    """One expansion (fast or precise) of the kernel, with what the emitter needs."""

    def __init__(self, expansion: decompose.Expansion):
        self.kernel = expansion.kernel
        self.nodes = expansion.kernel.nodes
        self.mapping = expansion.mapping
        self.guards = expansion.guards

    def cone(self, roots: list[int]) -> set[int]:
        """Nodes ``roots`` depend on, not looking through reductions."""
        return _cone(self.nodes, roots)

    def guards_for(self, roots: list[int]) -> list[int]:
        cone = self.cone(roots)
        return [g for g, value in self.guards if value in cone]


#: kernels over fewer elements than this are compiled quickly rather than well
SMALL_KERNEL = 1 << 12
#: rows up to this many elements keep a reduction's operand in an output (see
#: ``_cached_operands``): the reload then comes from cache, not memory
CACHE_ROW_MAX = 1 << 14
#: ops costly enough that storing and reloading their value beats computing it twice
_COSTLY_OPS = frozenset(decompose.EXPANSIONS) | {"div", "sqrt", "rsqrt", "pow", "atan2"}
#: single reductions over at least this many elements get ``_part``/``_fin`` entry points
SPLIT_MIN_ELEMENTS = 1 << 16


def is_small(kernel: Kernel) -> bool:
    return math.prod(kernel.domain) < SMALL_KERNEL


def is_splittable(kernel: Kernel) -> bool:
    """Whether ``kernel`` gets ``_part``/``_fin`` entry points: a long single reduction
    pass without outer axes and without inner stores (see ``llvm.py``)."""
    if kernel.outer or not kernel.has_reduction or math.prod(kernel.inner) < SPLIT_MIN_ELEMENTS:
        return False
    if any(store_is_inner(kernel, s) for s in kernel.stores):
        return False
    depths = reduce_depths(kernel)
    return max(depths[i] for i, n in enumerate(kernel.nodes) if n.op == "reduce") == 1


def column_mode(kernel: Kernel) -> bool:
    """Whether ``kernel`` reduces in column mode: one pass along a strided inner axis, no
    inner stores, and some input contiguous along the last outer axis while none is along
    the innermost inner axis (a sum over the leading axis of a matrix)."""
    if not kernel.inner or not kernel.outer or not kernel.has_reduction:
        return False
    if any(store_is_inner(kernel, s) for s in kernel.stores):
        return False
    depths = reduce_depths(kernel)
    if max(depths) != 1:
        return False
    last, innermost = len(kernel.outer) - 1, len(kernel.domain) - 1
    if kernel.outer[last] < 8:
        return False
    strides = [inp.strides for inp in kernel.inputs]
    return any(abs(st[last]) == 1 for st in strides) and not any(
        abs(st[innermost]) == 1 for st in strides
    )


def _cached_operands(kernel: Kernel, passes: list[list[int]]) -> dict[int, int]:
    """Reduction operands that the store pass needs again: ``{operand node: store}``.

    Softmax reduces ``exp(x - max)`` and then stores ``exp(x - max) / sum``: computed in
    the sum pass, the exponential would be computed again per element in the store pass.
    Instead the sum pass writes it into that store's output, and the store pass reads it
    back (the output row, at most ``CACHE_ROW_MAX`` elements, is still in cache). Only
    for a single inner axis along which the store's output is not broadcast (each inner
    index its own element), an operand of the store's dtype whose computation includes
    a costly op, and one operand per store (and not when the store pass is guarded:
    ``KernelCodegen`` checks that).
    """
    if len(kernel.inner) != 1 or kernel.inner[0] > CACHE_ROW_MAX or not passes:
        return {}
    nodes = kernel.nodes
    axis = len(kernel.domain) - 1
    cached: dict[int, int] = {}
    for reduces in passes:
        for r in reduces:
            operand = nodes[r].args[0]
            costly = any(nodes[i].op in _COSTLY_OPS for i in _cone(nodes, [operand]))
            if operand in cached or not costly:
                continue
            for k, store in enumerate(kernel.stores):
                if k in cached.values() or not store_is_inner(kernel, store):
                    continue
                if store.strides[axis] == 0 or store.dtype != nodes[operand].dtype:
                    continue
                if operand in _cone(nodes, [store.node]):
                    cached[operand] = k
                    break
    return cached


class KernelCodegen:
    """Writes the LLVM module of one kernel (see ``llvm.py`` for the entry points)."""

    def __init__(self, kernel: Kernel, name: str, data_offset: int):
        self.kernel = kernel
        self.name = name
        self.data_offset = data_offset
        self.fast = _Version(decompose.expand(kernel, precise=False))
        self.precise = _Version(decompose.expand(kernel, precise=True))
        self.n_outer = len(kernel.outer)
        self.extents = kernel.domain
        self.decls: set[str] = set()
        depths = reduce_depths(kernel)
        reduces = [i for i, n in enumerate(kernel.nodes) if n.op == "reduce"]
        self.passes = [
            [r for r in reduces if depths[r] == d] for d in sorted({depths[r] for r in reduces})
        ]
        self.inner_stores = [k for k, s in enumerate(kernel.stores) if store_is_inner(kernel, s)]
        # A guarded store pass may re-run precisely after the fast run overwrote the
        # outputs, so it cannot read operands back from them.
        store_roots = [self.fast.kernel.stores[k].node for k in self.inner_stores]
        guarded = bool(self.fast.guards_for(store_roots))
        self.cached = {} if guarded else _cached_operands(kernel, self.passes)
        self.outer_stores = [k for k in range(len(kernel.stores)) if k not in self.inner_stores]
        self.n_buffers = len(kernel.inputs) + len(kernel.stores)
        #: functions the bodies call (``_precise_row``), emitted after them
        self.helpers: dict[str, str] = {}

    # --- the module ---------------------------------------------------------------------

    def module(self) -> tuple[str, list[str]]:
        functions = [self._entry("", self._rows_body, ["i64 %start", "i64 %end"])]
        names = [self.name]
        if is_splittable(self.kernel):
            functions.append(
                self._entry("_part", self._part_body, ["i64 %start", "i64 %end", "ptr %acc"])
            )
            functions.append(self._entry("_fin", self._fin_body, ["ptr %acc", "i64 %nparts"]))
            names += [self.name + "_part", self.name + "_fin"]
        functions += self.helpers.values()
        text = "\n".join(sorted(self.decls)) + "\n\n" + "\n".join(functions)
        return text, names

    def body_function(self) -> str:
        """Only ``@NAME_body(ptr noalias data..., i64 %start, i64 %end)``: the rows entry
        point on data pointers, always inlined (a native loop calls it on its buffers),
        followed by the functions it calls."""
        body = self._body_text("", self._rows_body, ["i64 %start", "i64 %end"])
        return "\n".join([body, *self.helpers.values()])

    def _body_text(self, suffix: str, body: Callable[[IRFunction], None], extra: list[str]) -> str:
        fn = IRFunction(self.decls)
        self.ptrs = [f"%d{j}" for j in range(self.n_buffers)]
        body(fn)
        params = [f"ptr noalias %d{j}" for j in range(self.n_buffers)] + extra
        return fn.text(
            f"internal fastcc void @{self.name}{suffix}_body({', '.join(params)}) alwaysinline"
        )

    def _entry(self, suffix: str, body: Callable[[IRFunction], None], extra: list[str]) -> str:
        inner = self._body_text(suffix, body, extra)
        wrapper = IRFunction(self.decls)
        data = []
        for j in range(self.n_buffers):
            at = wrapper.inst(f"getelementptr i8, ptr %a{j}, i64 {self.data_offset}")
            data.append(wrapper.inst(f"load ptr, ptr {at}"))
        args = [f"ptr {d}" for d in data] + extra
        wrapper.line(f"call fastcc void @{self.name}{suffix}_body({', '.join(args)})")
        params = [f"ptr %a{j}" for j in range(self.n_buffers)] + extra
        outer = wrapper.text(f"void @{self.name}{suffix}({', '.join(params)})")
        return inner + "\n" + outer

    # --- values ---------------------------------------------------------------------------

    def _offset(self, fn: IRFunction, base: int, strides: tuple[int, ...], idx: Idx) -> str:
        offset = str(base)
        for d, s in enumerate(strides):
            if s == 0:
                continue
            term = fn.inst(f"mul i64 {idx[d]}, {s}")
            offset = fn.inst(f"add i64 {offset}, {term}")
        return offset

    def _address(self, fn: IRFunction, j: int, dtype: str, offset: str) -> str:
        """The address of element ``offset`` of buffer ``j`` (inputs, then outputs)."""
        return fn.inst(f"getelementptr inbounds {mtype(dtype)}, ptr {self.ptrs[j]}, i64 {offset}")

    def _read(self, fn: IRFunction, at: str, dtype: str) -> str:
        value = fn.inst(f"load {mtype(dtype)}, ptr {at}")
        return fn.inst(f"icmp ne i8 {value}, 0") if dtype == "bool" else value

    def _load(self, fn: IRFunction, j: int, idx: Idx) -> str:
        inp = self.kernel.inputs[j]
        offset = self._offset(fn, inp.offset, inp.strides, idx)
        return self._read(fn, self._address(fn, j, inp.dtype, offset), inp.dtype)

    def _store(self, fn: IRFunction, k: int, value: str, idx: Idx) -> None:
        store = self.kernel.stores[k]
        offset = self._offset(fn, 0, store.strides, idx)
        if store.dtype == "bool":
            value = fn.inst(f"zext i1 {value} to i8")
        at = self._address(fn, len(self.kernel.inputs) + k, store.dtype, offset)
        fn.line(f"store {mtype(store.dtype)} {value}, ptr {at}")

    def _load_output(self, fn: IRFunction, k: int, idx: Idx) -> str:
        """Read back what ``_store`` wrote to output ``k`` at ``idx``."""
        store = self.kernel.stores[k]
        offset = self._offset(fn, 0, store.strides, idx)
        at = self._address(fn, len(self.kernel.inputs) + k, store.dtype, offset)
        return self._read(fn, at, store.dtype)

    def _emit(
        self, fn: IRFunction, version: _Version, roots: list[int], env: dict, idx: Idx
    ) -> None:
        """Emit the nodes ``roots`` need into ``env`` (node -> value)."""
        for i in sorted(version.cone(roots)):
            if i in env:
                continue
            node = version.nodes[i]
            if node.op == "const":
                env[i] = const_text(node.param, node.dtype)
            elif node.op == "load":
                env[i] = self._load(fn, node.param, idx)
            elif node.op == "reduce":
                raise AssertionError("a reduction is read before its pass ran")
            else:
                args = [env[a] for a in node.args]
                first = node.args[1] if node.op == "select" else node.args[0]
                env[i] = EMITTERS[node.op](fn, node, args, version.nodes[first].dtype)

    def _reduced_env(self, version: _Version, finals: dict[int, str]) -> dict[int, str]:
        return {version.mapping[r]: value for r, value in finals.items()}

    def _count_failures(self, fn: IRFunction, env: dict, guards: list[int], bad: str) -> None:
        for g in guards:
            failed = fn.inst(f"zext i1 {fn.inst(f'xor i1 {env[g]}, true')} to i32")
            count = fn.inst(f"load i32, ptr {bad}")
            fn.line(f"store i32 {fn.inst(f'add i32 {count}, {failed}')}, ptr {bad}")

    def _guarded(self, fn: IRFunction, guards: list[int], run: Callable[..., None]) -> None:
        """``run(fast, guards, bad)``; again with the precise expansion if a guard failed."""
        if not guards:
            run(self.fast, [], None)
            return
        bad = fn.alloca("i32")
        fn.line(f"store i32 0, ptr {bad}")
        run(self.fast, guards, bad)
        failed = fn.inst(f"icmp ne i32 {fn.inst(f'load i32, ptr {bad}')}, 0")
        fn.branch_if(failed, lambda: fn.scalar_loops(lambda: run(self.precise, [], None)))

    def _stores(
        self,
        fn: IRFunction,
        version: _Version,
        stores: list[int],
        env: dict,
        idx: Idx,
        guards: list[int],
        bad: str | None,
    ) -> None:
        roots = [version.kernel.stores[k].node for k in stores]
        self._emit(fn, version, roots + guards, env, idx)
        for k, root in zip(stores, roots, strict=True):
            self._store(fn, k, env[root], idx)
        if bad is not None:
            self._count_failures(fn, env, guards, bad)

    # --- loops ----------------------------------------------------------------------------

    def _nest(
        self,
        fn: IRFunction,
        axes: list[int],
        ranges: dict[int, tuple[str, str]],
        idx: Idx,
        body: Callable[[Idx], None],
    ) -> None:
        if not axes:
            body(idx)
            return
        d = axes[0]
        lo, hi = ranges.get(d, ("0", str(self.extents[d])))
        fn.loop(lo, hi, lambda i: self._nest(fn, axes[1:], ranges, {**idx, d: i}, body))

    def _rows_body(self, fn: IRFunction) -> None:
        outer = list(range(self.n_outer))
        ranges = {0: ("%start", "%end")} if outer else {}
        if not self.kernel.inner:
            if not outer:
                run = fn.inst("icmp slt i64 %start, %end")
                fn.branch_if(
                    run,
                    lambda: self._stores(
                        fn, self.precise, list(range(len(self.kernel.stores))), {}, {}, [], None
                    ),
                )
                return
            self._nest(fn, outer[:-1], ranges, {}, lambda idx: self._vector_row(fn, idx, ranges))
            return
        if outer and self._column_mode():
            last = outer[-1]
            lo, hi = ranges.get(last, ("0", str(self.extents[last])))
            self._nest(fn, outer[:-1], ranges, {}, lambda idx: self._column_tiles(fn, idx, lo, hi))
        elif outer:
            self._nest(fn, outer, ranges, {}, lambda idx: self._row(fn, idx))
        else:
            fn.branch_if(fn.inst("icmp slt i64 %start, %end"), lambda: self._row(fn, {}))

    def _vector_row(self, fn: IRFunction, idx: Idx, ranges: dict[int, tuple[str, str]]) -> None:
        axis = self.n_outer - 1
        lo, hi = ranges.get(axis, ("0", str(self.extents[axis])))
        stores = list(range(len(self.kernel.stores)))
        roots = [self.fast.kernel.stores[k].node for k in stores]

        def run(version: _Version, guards: list[int], bad: str | None) -> None:
            if version is self.precise:  # rows a guard failed on: an unoptimised helper
                outer = [idx[d] for d in range(axis)]
                args = [f"ptr {p}" for p in self.ptrs] + [f"i64 {v}" for v in (*outer, lo, hi)]
                fn.line(f"call void @{self._precise_row(axis, stores)}({', '.join(args)})")
                return
            fn.loop(
                lo,
                hi,
                lambda i: self._stores(fn, version, stores, {}, {**idx, axis: i}, guards, bad),
            )

        self._guarded(fn, self.fast.guards_for(roots), run)

    def _precise_row(self, axis: int, stores: list[int]) -> str:
        """The name of ``@NAME_precise_row(data..., outer indices..., lo, hi)``: the precise
        expansion over one row range, as a separate ``optnone`` function.

        It only runs for rows holding a ``sin``/``cos`` argument beyond the fast range,
        and calls libm for those; inline, LLVM optimised and compiled it like the fast
        loop, which for an elementwise kernel such as W1 was a third of the compile time.
        """
        name = f"{self.name}_precise_row"
        if name not in self.helpers:
            fn = IRFunction(self.decls)
            idx = {d: f"%o{d}" for d in range(axis)}
            fn.loop(
                "%lo",
                "%hi",
                lambda i: self._stores(fn, self.precise, stores, {}, {**idx, axis: i}, [], None),
            )
            params = [f"ptr noalias %d{j}" for j in range(self.n_buffers)]
            params += [f"i64 %o{d}" for d in range(axis)] + ["i64 %lo", "i64 %hi"]
            header = f"internal void @{name}({', '.join(params)}) noinline optnone"
            self.helpers[name] = fn.text(header)
        return name

    def _row(self, fn: IRFunction, idx: Idx) -> None:
        """One outer index of a kernel with inner axes: passes, store pass, outer stores."""
        finals: dict[int, str] = {}
        for reduces in self.passes:
            accs = self._reduce_pass(fn, idx, reduces, finals, {})
            finals.update(self._finish(fn, accs))
        if self.inner_stores:
            self._store_pass(fn, idx, finals)
        if self.outer_stores:
            env = self._reduced_env(self.precise, finals)
            self._stores(fn, self.precise, self.outer_stores, env, idx, [], None)

    def _store_pass(self, fn: IRFunction, idx: Idx, finals: dict[int, str]) -> None:
        inner = list(range(self.n_outer, len(self.extents)))
        roots = [self.fast.kernel.stores[k].node for k in self.inner_stores]

        def run(version: _Version, guards: list[int], bad: str | None) -> None:
            base = self._reduced_env(version, finals)

            def stores(full: Idx) -> None:
                env = dict(base)
                for operand, k in self.cached.items():  # written by the reduction pass
                    env[version.mapping[operand]] = self._load_output(fn, k, full)
                self._stores(fn, version, self.inner_stores, env, full, guards, bad)

            self._nest(fn, inner, {}, idx, stores)

        self._guarded(fn, self.fast.guards_for(roots), run)

    # --- reductions -----------------------------------------------------------------------

    def _accumulators(self, fn: IRFunction, reduces: list[int]) -> list[_Acc]:
        accs = []
        for r in reduces:
            combiner, dt = self.kernel.nodes[r].param, self.kernel.nodes[r].dtype
            main = acc_dtype(combiner, dt)
            comp = fn.alloca("double") if compensated(combiner, dt) else None
            accs.append(_Acc(r, combiner, dt, main, fn.alloca(ltype(main)), comp))
        return accs

    def _init(self, fn: IRFunction, accs: list[_Acc]) -> None:
        for a in accs:
            init = const_text(combiner_init(a.combiner, a.main), a.main)
            fn.line(f"store {ltype(a.main)} {init}, ptr {a.slot}")
            if a.comp is not None:
                fn.line(f"store double 0.0, ptr {a.comp}")

    def _reduce_pass(
        self,
        fn: IRFunction,
        idx: Idx,
        reduces: list[int],
        finals: dict[int, str],
        ranges: dict[int, tuple[str, str]],
    ) -> list[_Acc]:
        """Run one pass over the inner axes; returns the filled accumulators.

        Operands in ``self.cached`` are also written to their output (only row kernels
        have any: the split and column-mode passes have no inner stores).

        Passes with a float sum run the innermost axis in blocks of ``SUM_BLOCK``: each
        block is reduced in the value's own dtype (vector partial sums), then folded into
        the main accumulator (float64 for float32 sums, compensated for float64 sums).
        """
        accs = self._accumulators(fn, reduces)
        blocked = any(a.combiner == "add" and a.dtype.startswith("float") for a in accs)
        inner = list(range(self.n_outer, len(self.extents)))
        operands = [self.fast.nodes[self.fast.mapping[r]].args[0] for r in reduces]

        def run(version: _Version, guards: list[int], bad: str | None) -> None:
            self._init(fn, accs)
            base = self._reduced_env(version, finals)
            roots = [version.nodes[version.mapping[r]].args[0] for r in reduces]

            def accumulate(full: Idx, targets: list[tuple[str, str]]) -> None:
                env = dict(base)
                self._emit(fn, version, roots + guards, env, full)
                for r in reduces:
                    k = self.cached.get(self.kernel.nodes[r].args[0])
                    if k is not None:
                        self._store(fn, k, env[version.nodes[version.mapping[r]].args[0]], full)
                for a, root, (slot, dt) in zip(accs, roots, targets, strict=True):
                    value = convert(fn, env[root], a.dtype, dt)
                    old = fn.inst(f"load {ltype(dt)}, ptr {slot}")
                    fn.line(
                        f"store {ltype(dt)} {combine(fn, a.combiner, dt, old, value)}, ptr {slot}"
                    )
                if bad is not None:
                    self._count_failures(fn, env, guards, bad)

            if not blocked:
                targets = [(a.slot, a.main) for a in accs]
                self._nest(fn, inner, ranges, idx, lambda full: accumulate(full, targets))
            else:
                self._nest(
                    fn,
                    inner[:-1],
                    ranges,
                    idx,
                    lambda outer_idx: self._blocks(
                        fn, inner[-1], ranges, outer_idx, accs, accumulate
                    ),
                )

        self._guarded(fn, self.fast.guards_for(operands), run)
        return accs

    def _blocks(self, fn, axis, ranges, idx, accs, accumulate) -> None:
        """The innermost axis in blocks of ``SUM_BLOCK``, folded into the main accumulators."""
        lo, hi = ranges.get(axis, ("0", str(self.extents[axis])))
        blocks = [(fn.alloca(ltype(a.dtype)), a.dtype) for a in accs]

        def block(start: str) -> None:
            for a, (blk, dt) in zip(accs, blocks, strict=True):
                init = const_text(combiner_init(a.combiner, dt), dt)
                fn.line(f"store {ltype(dt)} {init}, ptr {blk}")
            end = fn.inst(f"add i64 {start}, {SUM_BLOCK}")
            end = fn.inst(f"select i1 {fn.inst(f'icmp slt i64 {end}, {hi}')}, i64 {end}, i64 {hi}")
            fn.loop(start, end, lambda i: accumulate({**idx, axis: i}, blocks))
            for a, (blk, dt) in zip(accs, blocks, strict=True):
                value = fn.inst(f"load {ltype(dt)}, ptr {blk}")
                self._fold(fn, a, convert(fn, value, dt, a.main))

        fn.loop(lo, hi, block, step=SUM_BLOCK)

    def _fold(self, fn: IRFunction, a: _Acc, value: str) -> None:
        """Fold a partial result (of the main dtype) into ``a``'s main accumulator."""
        if a.comp is not None:
            neumaier(fn, a.slot, a.comp, value)
            return
        old = fn.inst(f"load {ltype(a.main)}, ptr {a.slot}")
        new = combine(fn, a.combiner, a.main, old, value, reassoc=False)
        fn.line(f"store {ltype(a.main)} {new}, ptr {a.slot}")

    def _finish(self, fn: IRFunction, accs: list[_Acc]) -> dict[int, str]:
        """Final values of reductions (compensation added, narrowed to their dtype)."""
        finals = {}
        for a in accs:
            value = fn.inst(f"load {ltype(a.main)}, ptr {a.slot}")
            if a.comp is not None:
                value = compensated_total(fn, value, fn.inst(f"load double, ptr {a.comp}"))
            finals[a.node] = convert(fn, value, a.main, a.dtype)
        return finals

    # --- column reductions -----------------------------------------------------------------

    def _column_mode(self) -> bool:
        return column_mode(self.kernel)

    def _column_tiles(self, fn: IRFunction, idx: Idx, lo: str, hi: str) -> None:
        """Outer indices ``[lo, hi)`` of the last outer axis in tiles of ``COLUMN_TILE``
        accumulators each; every inner step updates a whole tile (a vector loop)."""
        last = self.n_outer - 1
        inner = list(range(self.n_outer, len(self.extents)))
        reduces = self.passes[0]
        accs = []
        for r in reduces:
            combiner, dt = self.kernel.nodes[r].param, self.kernel.nodes[r].dtype
            main = acc_dtype(combiner, dt)
            comp = fn.alloca(f"[{COLUMN_TILE} x double]") if compensated(combiner, dt) else None
            accs.append(
                _Acc(r, combiner, dt, main, fn.alloca(f"[{COLUMN_TILE} x {ltype(main)}]"), comp)
            )
        operands = [self.fast.nodes[self.fast.mapping[r]].args[0] for r in reduces]
        # float sums add blocks of SUM_BLOCK rows in their own dtype (a vector of partial
        # sums per tile), folded into the main accumulators, as reduction passes do
        blocked = any(a.combiner == "add" and a.dtype.startswith("float") for a in accs)
        blocks = [(fn.alloca(f"[{COLUMN_TILE} x {ltype(a.dtype)}]"), a.dtype, None) for a in accs]

        def lane(slot: str, j: str, t0: str, ty: str) -> str:
            offset = fn.inst(f"sub i64 {j}, {t0}")
            return fn.inst(f"getelementptr inbounds {ty}, ptr {slot}, i64 {offset}")

        def tile(t0: str) -> None:
            t1 = fn.inst(f"add i64 {t0}, {COLUMN_TILE}")
            t1 = fn.inst(f"select i1 {fn.inst(f'icmp slt i64 {t1}, {hi}')}, i64 {t1}, i64 {hi}")

            def init(j: str) -> None:
                for a in accs:
                    ty = ltype(a.main)
                    value = const_text(combiner_init(a.combiner, a.main), a.main)
                    fn.line(f"store {ty} {value}, ptr {lane(a.slot, j, t0, ty)}")
                    if a.comp is not None:
                        fn.line(f"store double 0.0, ptr {lane(a.comp, j, t0, 'double')}")

            def run(version: _Version, guards: list[int], bad: str | None) -> None:
                fn.loop(t0, t1, init)
                roots = [version.nodes[version.mapping[r]].args[0] for r in reduces]

                def step(full: Idx, targets: list[tuple[str, str, str | None]]) -> None:
                    env: dict = {}
                    self._emit(fn, version, roots + guards, env, full)
                    j = full[last]
                    for a, root, (slot, dt, comp) in zip(accs, roots, targets, strict=True):
                        value = convert(fn, env[root], a.dtype, dt)
                        at = lane(slot, j, t0, ltype(dt))
                        if comp is not None:
                            neumaier(fn, at, lane(comp, j, t0, "double"), value)
                            continue
                        old = fn.inst(f"load {ltype(dt)}, ptr {at}")
                        new = combine(fn, a.combiner, dt, old, value, reassoc=False)
                        fn.line(f"store {ltype(dt)} {new}, ptr {at}")
                    if bad is not None:
                        self._count_failures(fn, env, guards, bad)

                if not blocked:
                    targets = [(a.slot, a.main, a.comp) for a in accs]
                    self._nest(
                        fn,
                        inner,
                        {},
                        idx,
                        lambda inner_idx: fn.loop(
                            t0, t1, lambda j: step({**inner_idx, last: j}, targets)
                        ),
                    )
                    return
                axis = inner[-1]
                self._nest(
                    fn,
                    inner[:-1],
                    {},
                    idx,
                    lambda outer_idx: fn.loop(
                        "0",
                        str(self.extents[axis]),
                        lambda start: self._column_block(
                            fn, accs, blocks, (t0, t1), start, axis, outer_idx, step
                        ),
                        step=SUM_BLOCK,
                    ),
                )

            self._guarded(fn, self.fast.guards_for(operands), run)

            def finish(j: str) -> None:
                finals = {}
                for a in accs:
                    value = fn.inst(
                        f"load {ltype(a.main)}, ptr {lane(a.slot, j, t0, ltype(a.main))}"
                    )
                    if a.comp is not None:
                        comp = fn.inst(f"load double, ptr {lane(a.comp, j, t0, 'double')}")
                        value = compensated_total(fn, value, comp)
                    finals[a.node] = convert(fn, value, a.main, a.dtype)
                env = self._reduced_env(self.precise, finals)
                self._stores(fn, self.precise, self.outer_stores, env, {**idx, last: j}, [], None)

            fn.loop(t0, t1, finish)

        fn.loop(lo, hi, tile, step=COLUMN_TILE)

    def _column_block(self, fn, accs, blocks, tile, start, axis, idx, step) -> None:
        """Rows ``[start, start + SUM_BLOCK)`` of a column tile into ``blocks``, then
        folded into the tile's main accumulators."""
        t0, t1 = tile

        def lane(slot: str, j: str, ty: str) -> str:
            offset = fn.inst(f"sub i64 {j}, {t0}")
            return fn.inst(f"getelementptr inbounds {ty}, ptr {slot}, i64 {offset}")

        def clear(j: str) -> None:
            for a, (blk, dt, _) in zip(accs, blocks, strict=True):
                init = const_text(combiner_init(a.combiner, dt), dt)
                fn.line(f"store {ltype(dt)} {init}, ptr {lane(blk, j, ltype(dt))}")

        def fold(j: str) -> None:
            for a, (blk, dt, _) in zip(accs, blocks, strict=True):
                value = fn.inst(f"load {ltype(dt)}, ptr {lane(blk, j, ltype(dt))}")
                value = convert(fn, value, dt, a.main)
                at = lane(a.slot, j, ltype(a.main))
                if a.comp is not None:
                    neumaier(fn, at, lane(a.comp, j, "double"), value)
                    continue
                old = fn.inst(f"load {ltype(a.main)}, ptr {at}")
                new = combine(fn, a.combiner, a.main, old, value, reassoc=False)
                fn.line(f"store {ltype(a.main)} {new}, ptr {at}")

        fn.loop(t0, t1, clear)
        end = fn.inst(f"add i64 {start}, {SUM_BLOCK}")
        extent = str(self.extents[axis])
        below = fn.inst(f"icmp slt i64 {end}, {extent}")
        end = fn.inst(f"select i1 {below}, i64 {end}, i64 {extent}")
        last = self.n_outer - 1
        fn.loop(
            start,
            end,
            lambda i: fn.loop(t0, t1, lambda j: step({**idx, axis: i, last: j}, blocks)),
        )
        fn.loop(t0, t1, fold)

    # --- split reductions -------------------------------------------------------------------

    def _part_body(self, fn: IRFunction) -> None:
        reduces = self.passes[0]
        accs = self._reduce_pass(fn, {}, reduces, {}, {self.n_outer: ("%start", "%end")})
        for i, a in enumerate(accs):
            self._write_slot(fn, 2 * i, a.main, fn.inst(f"load {ltype(a.main)}, ptr {a.slot}"))
            if a.comp is not None:
                comp = fn.inst(f"load double, ptr {a.comp}")
                self._write_slot(fn, 2 * i + 1, "float64", comp)

    def _write_slot(self, fn: IRFunction, slot: int, dt: str, value: str) -> None:
        at = fn.inst(f"getelementptr i64, ptr %acc, i64 {slot}")
        if dt == "bool":
            value = fn.inst(f"zext i1 {value} to i8")
        fn.line(f"store {mtype(dt)} {value}, ptr {at}")

    def _read_slot(self, fn: IRFunction, slot: str, dt: str) -> str:
        at = fn.inst(f"getelementptr i64, ptr %acc, i64 {slot}")
        value = fn.inst(f"load {mtype(dt)}, ptr {at}")
        if dt == "bool":
            value = fn.inst(f"icmp ne i8 {value}, 0")
        return value

    def _fin_body(self, fn: IRFunction) -> None:
        accs = self._accumulators(fn, self.passes[0])
        self._init(fn, accs)
        n = len(accs)

        def merge(part: str) -> None:
            base = fn.inst(f"mul i64 {part}, {2 * n}")
            for i, a in enumerate(accs):
                value = self._read_slot(fn, fn.inst(f"add i64 {base}, {2 * i}"), a.main)
                self._fold(fn, a, value)
                if a.comp is not None:
                    extra = self._read_slot(fn, fn.inst(f"add i64 {base}, {2 * i + 1}"), "float64")
                    self._fold(fn, a, extra)

        fn.loop("0", "%nparts", merge)
        finals = self._finish(fn, accs)
        env = self._reduced_env(self.precise, finals)
        self._stores(fn, self.precise, self.outer_stores, env, {}, [], None)
