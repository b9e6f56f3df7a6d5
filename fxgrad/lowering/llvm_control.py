"""A native loop (``loop_ir.Loop``) -> one LLVM function running its kernels in a loop.

The module holds each kernel's body function (``KernelCodegen.body_function``, always
inlined) and ``NAME(objects..., i64 start, i64 end)``, with the prototype of a kernel's
entry point: the NumPy arrays of the loop's parameters, then the range of loop steps.
Local buffers are ``alloca``s: once the kernel bodies are inlined, LLVM's scalar
replacement keeps a scalar carry in registers across iterations, so a loop of scalar
arithmetic is a loop of a few instructions. A copy is ``llvm.memcpy`` (a register move
after that promotion). A ``Gemm`` calls the BLAS entry point ``blas.GEMM_SYMBOLS[dtype]``
(row-major ``cblas_?gemm``), a name the engine binds when it links the object.

A lane-local loop (``Loop.lanes``) runs as an outer loop over tiles of
``loop_ir.TILE_LANES`` lanes; inside it, the while loop of that tile calls each vector
kernel on the tile's rows only and stops once the per-lane predicate is false on every
lane of the tile.
"""

from __future__ import annotations

import math

import numpy as np

from fxgrad.lowering import blas, loop_ir
from fxgrad.lowering.llvm import IRFunction, mtype
from fxgrad.lowering.llvm_loops import KernelCodegen
from fxgrad.lowering.loop_ir import Branch, Call, Copy, Gemm, Loop, Nested, Ref, Window

_MEMCPY = "declare void @llvm.memcpy.p0.p0.i64(ptr, ptr, i64, i1)"
_MEMSET = "declare void @llvm.memset.p0.i64(ptr, i8, i64, i1)"
# CBLAS enumerations
_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112


class _LoopCodegen:
    def __init__(self, loop: Loop, name: str, data_offset: int):
        self.loop = loop
        self.name = name
        self.data_offset = data_offset
        self.decls: set[str] = {_MEMCPY}
        self.ptrs: list[str] = []

    def module(self) -> tuple[str, list[str]]:
        functions = []
        for k, kernel in enumerate(self.loop.kernels):
            codegen = KernelCodegen(kernel, f"{self.name}_k{k}", self.data_offset)
            functions.append(codegen.body_function())
            self.decls |= codegen.decls
        fn = IRFunction(self.decls)
        self._pointers(fn)
        self._sequence(fn, self.loop.init, ("0",), None)
        if self.loop.lanes:
            fn.loop("0", str(self.loop.lanes), lambda lo: self._tile(fn, lo), loop_ir.TILE_LANES)
        elif self.loop.pred is None:
            fn.loop("%start", "%end", lambda t: self._counted_step(fn, t))
        else:
            self._while(fn, None, lambda t: self._sequence(fn, self.loop.body, ("0",), None))
        self._sequence(fn, self.loop.finish, ("0",), None)
        params = ", ".join(f"ptr %a{j}" for j in range(self.loop.n_params))
        functions.append(fn.text(f"void @{self.name}({params}, i64 %start, i64 %end)"))
        text = "\n".join(sorted(self.decls)) + "\n\n" + "\n".join(functions)
        return text, [self.name]

    def _pointers(self, fn: IRFunction) -> None:
        for j, buffer in enumerate(self.loop.buffers):
            if j < self.loop.n_params:
                at = fn.inst(f"getelementptr i8, ptr %a{j}, i64 {self.data_offset}")
                self.ptrs.append(fn.inst(f"load ptr, ptr {at}"))
            else:
                self.ptrs.append(fn.alloca(f"[{max(buffer.size, 1)} x {mtype(buffer.dtype)}]"))

    def _address(self, fn: IRFunction, ref: Ref, pos: tuple, lane: str | None = None) -> str:
        """The address of ``ref`` at loop positions ``pos`` (the loop's, then those of the
        nested loops around the op) and element ``lane``."""
        mt = mtype(self.loop.buffers[ref.buffer].dtype)
        offset = None
        for position, step in zip(pos, (ref.step, *ref.inner), strict=False):
            if step:
                term = fn.inst(f"mul i64 {position}, {step}")
                offset = term if offset is None else fn.inst(f"add i64 {offset}, {term}")
        if lane is not None:
            offset = lane if offset is None else fn.inst(f"add i64 {offset}, {lane}")
        if offset is None:
            return self.ptrs[ref.buffer]
        return fn.inst(f"getelementptr inbounds {mt}, ptr {self.ptrs[ref.buffer]}, i64 {offset}")

    def _sequence(self, fn: IRFunction, ops: tuple, pos: tuple, tile: tuple[str, str] | None):
        """Emit ``ops`` at loop positions ``pos`` (on lanes ``tile`` if given)."""
        for op in ops:
            if isinstance(op, Call):
                self._call(fn, op, pos, tile)
            elif isinstance(op, Gemm):
                self._gemm(fn, op, pos)
            elif isinstance(op, Nested):
                self._nested(fn, op, pos)
            elif isinstance(op, Branch):
                self._branch(fn, op, pos)
            elif isinstance(op, Window):
                self._window(fn, op, pos)
            else:
                self._copy(fn, op, pos, tile)

    def _call(self, fn: IRFunction, op: Call, pos: tuple, tile: tuple[str, str] | None) -> None:
        kernel = self.loop.kernels[op.kernel]
        if 0 in kernel.outer:
            return
        if tile is not None and kernel.outer:
            lo, hi = tile
        else:
            lo, hi = "0", str(loop_ir.rows(kernel))
        args = [f"ptr {self._address(fn, r, pos)}" for r in op.refs]
        fname = f"{self.name}_k{op.kernel}_body"
        fn.line(f"call fastcc void @{fname}({', '.join(args)}, i64 {lo}, i64 {hi})")

    def _gemm(self, fn: IRFunction, op: Gemm, pos: tuple) -> None:
        if op.m == 0 or op.n == 0:
            return
        out = self._address(fn, op.out, pos)
        if op.k == 0:
            self.decls.add(_MEMSET)
            size = op.m * op.n * np.dtype(op.dtype).itemsize
            fn.line(f"call void @llvm.memset.p0.i64(ptr {out}, i8 0, i64 {size}, i1 false)")
            return
        real, index = mtype(op.dtype), f"i{op.index_bits}"
        symbol = blas.GEMM_SYMBOLS[op.dtype]
        self.decls.add(
            f"declare void @{symbol}(i32, i32, i32, {index}, {index}, {index}, {real}, ptr, "
            f"{index}, ptr, {index}, {real}, ptr, {index})"
        )
        lda = op.m if op.trans_a else op.k
        ldb = op.k if op.trans_b else op.n
        a, b = self._address(fn, op.a, pos), self._address(fn, op.b, pos)
        flags = [_TRANS if t else _NO_TRANS for t in (op.trans_a, op.trans_b)]
        fn.line(
            f"call void @{symbol}(i32 {_ROW_MAJOR}, i32 {flags[0]}, i32 {flags[1]}, "
            f"{index} {op.m}, {index} {op.n}, {index} {op.k}, {real} 1.0, ptr {a}, "
            f"{index} {lda}, ptr {b}, {index} {ldb}, {real} 0.0, ptr {out}, {index} {op.n})"
        )

    def _clamped(self, fn: IRFunction, ref: Ref, dtype: str, pos: tuple, last: int) -> str:
        """The integer (or bool) scalar in ``ref`` as an i64 clamped to ``[0, last]``."""
        mt = mtype(dtype)
        value = fn.inst(f"load {mt}, ptr {self._address(fn, ref, pos)}")
        unsigned = np.dtype(dtype).kind in "ub"
        if mt != "i64":
            value = fn.inst(f"{'zext' if unsigned else 'sext'} {mt} {value} to i64")
        if not unsigned:
            negative = fn.inst(f"icmp slt i64 {value}, 0")
            value = fn.inst(f"select i1 {negative}, i64 0, i64 {value}")
        beyond = fn.inst(f"icmp ugt i64 {value}, {last}")
        return fn.inst(f"select i1 {beyond}, i64 {last}, i64 {value}")

    def _window(self, fn: IRFunction, op: Window, pos: tuple) -> None:
        """Clamp the starts, then copy the box row block by row block (``llvm.memcpy``
        of the trailing axes that are whole in the box, merged)."""
        if 0 in op.sizes:
            return
        starts = [
            self._clamped(fn, ref, dtype, pos, n - k)
            for ref, dtype, n, k in zip(op.starts, op.start_dtypes, op.shape, op.sizes, strict=True)
        ]
        rank = len(op.shape)
        # the box's trailing axes [merge, rank) are whole except the first: one memcpy each
        merge = rank - 1 if rank else 0
        while merge > 0 and op.sizes[merge] == op.shape[merge]:
            merge -= 1
        whole_strides = [math.prod(op.shape[d + 1 :]) for d in range(rank)]
        part_strides = [math.prod(op.sizes[d + 1 :]) for d in range(rank)]
        run = (op.sizes[merge] * whole_strides[merge]) if rank else 1
        mt = mtype(op.dtype)
        size = run * np.dtype(op.dtype).itemsize
        whole, part = self._address(fn, op.whole, pos), self._address(fn, op.part, pos)

        def copy(idx: list[str]) -> None:
            w_off, p_off = "0", "0"
            for d in range(rank):
                at = fn.inst(f"add i64 {starts[d]}, {idx[d]}") if d < merge else starts[d]
                w_off = fn.inst(f"add i64 {w_off}, {fn.inst(f'mul i64 {at}, {whole_strides[d]}')}")
                if d < merge:
                    term = fn.inst(f"mul i64 {idx[d]}, {part_strides[d]}")
                    p_off = fn.inst(f"add i64 {p_off}, {term}")
            w = fn.inst(f"getelementptr inbounds {mt}, ptr {whole}, i64 {w_off}")
            p = fn.inst(f"getelementptr inbounds {mt}, ptr {part}, i64 {p_off}")
            dst, src = (p, w) if op.read else (w, p)
            fn.line(f"call void @llvm.memcpy.p0.p0.i64(ptr {dst}, ptr {src}, i64 {size}, i1 false)")

        def nest(d: int, idx: list[str]) -> None:
            if d == merge:
                copy(idx)
                return
            fn.loop("0", str(op.sizes[d]), lambda i: nest(d + 1, [*idx, i]))

        nest(0, [])

    def _copy(self, fn: IRFunction, op: Copy, pos: tuple, tile: tuple[str, str] | None) -> None:
        itemsize = np.dtype(self.loop.buffers[op.src.buffer].dtype).itemsize
        if op.size == 0:
            return
        if tile is None:
            dst, src = self._address(fn, op.dst, pos), self._address(fn, op.src, pos)
            size = str(op.size * itemsize)
        else:
            lo, hi = tile
            dst, src = self._address(fn, op.dst, pos, lo), self._address(fn, op.src, pos, lo)
            size = fn.inst(f"mul i64 {fn.inst(f'sub i64 {hi}, {lo}')}, {itemsize}")
        fn.line(f"call void @llvm.memcpy.p0.p0.i64(ptr {dst}, ptr {src}, i64 {size}, i1 false)")

    def _counted_step(self, fn: IRFunction, t: str) -> None:
        pos = t
        if self.loop.reverse:
            last = fn.inst("add i64 %start, %end")
            pos = fn.inst(f"sub i64 {fn.inst(f'sub i64 {last}, 1')}, {t}")
        self._sequence(fn, self.loop.body, (pos,), None)

    def _nested(self, fn: IRFunction, op: Nested, pos: tuple) -> None:
        """A loop inside the body: init, the counted (or guarded) steps, finish."""
        self._sequence(fn, op.init, pos, None)

        def step(t: str) -> None:
            position = fn.inst(f"sub i64 {op.length - 1}, {t}") if op.reverse else t
            self._sequence(fn, op.body, (*pos, position), None)

        guard = None
        if op.pred is not None:
            pred = op.pred

            def guard() -> str:
                self._sequence(fn, op.cond, (*pos, "0"), None)
                value = fn.inst(f"load i8, ptr {self._address(fn, pred, pos)}")
                return fn.inst(f"icmp ne i8 {value}, 0")

        fn.loop("0", str(op.length), step, guard=guard)
        self._sequence(fn, op.finish, pos, None)

    def _branch(self, fn: IRFunction, op: Branch, pos: tuple) -> None:
        """The case of the clamped index, as a chain of tests."""
        index = self._clamped(fn, op.index, op.dtype, pos, len(op.cases) - 1)
        for k, case in enumerate(op.cases):
            hit = fn.inst(f"icmp eq i64 {index}, {k}")
            fn.branch_if(hit, lambda case=case: self._sequence(fn, case, pos, None))

    def _while(self, fn: IRFunction, tile: tuple[str, str] | None, body) -> None:
        """``for (t = start; t < end && cond(); t++) body(t)``: cond runs before each step."""

        def active() -> str:
            self._sequence(fn, self.loop.cond, ("0",), tile)
            return self._predicate(fn, tile)

        fn.loop("%start", "%end", body, guard=active)

    def _predicate(self, fn: IRFunction, tile: tuple[str, str] | None) -> str:
        """The cond's result (any lane of the tile's, for a lane-local loop) as an i1."""
        assert self.loop.pred is not None
        if tile is None:
            value = fn.inst(f"load i8, ptr {self._address(fn, self.loop.pred, ('0',))}")
            return fn.inst(f"icmp ne i8 {value}, 0")
        flag = fn.alloca("i8")
        fn.line(f"store i8 0, ptr {flag}")

        def lane(i: str) -> None:
            value = fn.inst(f"load i8, ptr {self._address(fn, self.loop.pred, ('0',), i)}")
            old = fn.inst(f"load i8, ptr {flag}")
            fn.line(f"store i8 {fn.inst(f'or i8 {old}, {value}')}, ptr {flag}")

        fn.loop(tile[0], tile[1], lane)
        return fn.inst(f"icmp ne i8 {fn.inst(f'load i8, ptr {flag}')}, 0")

    def _tile(self, fn: IRFunction, lo: str) -> None:
        end = fn.inst(f"add i64 {lo}, {loop_ir.TILE_LANES}")
        below = fn.inst(f"icmp slt i64 {end}, {self.loop.lanes}")
        hi = fn.inst(f"select i1 {below}, i64 {end}, i64 {self.loop.lanes}")
        tile = (lo, hi)
        self._while(fn, tile, lambda t: self._sequence(fn, self.loop.body, ("0",), tile))


def render_loop(loop: Loop, name: str, data_offset: int) -> tuple[str, list[str]]:
    """LLVM IR of ``loop``: the module text and the name of its entry point."""
    return _LoopCodegen(loop, name, data_offset).module()
