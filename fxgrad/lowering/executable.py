"""An ``Executable``: the compiled form of one jaxpr, called with NumPy arrays.

It holds the ordered steps of a ``fusion.Program`` bound to slots of a value list: each
kernel step allocates its output buffers (fresh per call: results become immutable
``Array``s, so a buffer is never reused once returned) and calls the compiled entry
point with the array objects themselves; each library step calls a primitive's NumPy
``impl`` (``dot_general`` is NumPy's BLAS matmul). A call does no tracing, no lookups
by name and no Python per element: a loop over prepared closures.

Big kernels run on several threads (ctypes releases the GIL during the call): a kernel
with rows is split by rows of its first outer axis; a single long reduction is split
along its first inner axis into partial accumulators that ``_fin`` combines. Threads come
from one process-wide pool; work submitted from inside the pool runs serially.
"""

from __future__ import annotations

import ctypes
import math
import operator
import os
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from fxgrad.config import config
from fxgrad.jaxpr import Literal, Var
from fxgrad.lax._define import kernel_classes
from fxgrad.lowering import blas, cache
from fxgrad.lowering.fusion import KernelStep, LibraryStep, Program
from fxgrad.lowering.llvm import COLUMN_TILE
from fxgrad.lowering.llvm_loops import column_mode

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

#: kernels over fewer elements than this run on the calling thread
PARALLEL_MIN_ELEMENTS = 1 << 17
#: matrix products of at least this many multiply-adds are split by rows across threads
PARALLEL_PRODUCT = 1 << 25
#: smaller products of at least this many multiply-adds let OpenBLAS use every thread
#: (its own workers start in microseconds, where a split over the Python pool costs a
#: round trip of ~100us): W3's 128x256x256 products take 120 us instead of 180 us
PARALLEL_BLAS = 1 << 22

Env = list[Any]

_local = threading.local()

#: how many executables this process built (tests assert on it)
stats: dict[str, int] = {"executables": 0}


def usable_cpus() -> int:
    """The CPUs this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def num_threads() -> int:
    """How many threads a big kernel is split into (``FXGRAD_NUM_THREADS`` or the CPUs)."""
    text = os.environ.get("FXGRAD_NUM_THREADS")
    if text:
        return max(1, int(text))
    return usable_cpus()


_NUM_THREADS = num_threads()


class LazyThreadPool:
    """A ``ThreadPoolExecutor`` made on first use, and made again in a forked child: the
    parent's worker threads do not exist there, and a pool that still counted them would
    never run a job (the child would hang)."""

    def __init__(self, **options: Any) -> None:
        self._options = options
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=self._forget)

    def get(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                from concurrent.futures import ThreadPoolExecutor  # imports logging

                self._pool = ThreadPoolExecutor(**self._options)
            return self._pool

    def _forget(self) -> None:
        self._pool = None
        self._lock = threading.Lock()


def _mark_worker() -> None:
    _local.worker = True


_pool = LazyThreadPool(
    max_workers=max(1, _NUM_THREADS - 1),
    thread_name_prefix="fxgrad-kernel",
    initializer=_mark_worker,
)


def _chunks(n: int, parts: int) -> list[tuple[int, int]]:
    step, extra = divmod(n, parts)
    bounds, start = [], 0
    for p in range(parts):
        end = start + step + (1 if p < extra else 0)
        bounds.append((start, end))
        start = end
    return bounds


def _run_parallel(calls: list[Callable[[], None]]) -> None:
    """Run ``calls``, all but the first on the pool; the caller runs the first."""
    if len(calls) == 1 or getattr(_local, "worker", False):
        for call in calls:
            call()
        return
    futures = [_pool.get().submit(call) for call in calls[1:]]
    calls[0]()
    for future in futures:
        future.result()


def array_data_offset() -> int:
    """The byte offset of the data pointer inside a NumPy array object (CPython layout)."""
    probes = [np.empty(1), np.empty(3, np.float32)]
    for offset in range(8, 129, 8):
        if all(ctypes.c_void_p.from_address(id(a) + offset).value == a.ctypes.data for a in probes):
            return offset
    raise RuntimeError("fxgrad.lowering: cannot locate the data pointer of NumPy arrays")


_DATA_OFFSET: int | None = None


def data_offset() -> int:
    global _DATA_OFFSET
    if _DATA_OFFSET is None:
        _DATA_OFFSET = array_data_offset()
    return _DATA_OFFSET


def _as_buffer(value: Any, dtype: np.dtype) -> np.ndarray:
    if type(value) is np.ndarray and value.dtype is dtype and value.flags.c_contiguous:
        return value
    return np.ascontiguousarray(value, dtype=dtype)


# ---------------------------------------------------------------------------------------
# Steps
# ---------------------------------------------------------------------------------------


class _KernelParts:
    """What running one kernel step takes: the compiled entry point, the (slot, dtype) of
    each input, the (slot, shape, dtype) of each output, the rows of its first outer
    axis and, for a kernel split across threads, the runner that does it."""

    __slots__ = ("main", "ins", "outs", "rows", "runner")

    def __init__(self, step: KernelStep, slot: Callable[[Var], int], key: str):
        kernel = step.kernel
        compiled = cache.get_kernel(kernel, data_offset(), key)
        self.ins = [
            (slot(v), np.dtype(i.dtype)) for v, i in zip(step.inputs, kernel.inputs, strict=True)
        ]
        self.outs = [(slot(v), tuple(v.aval.shape), np.dtype(v.aval.dtype)) for v in step.outputs]
        self.main = compiled.main
        self.rows = rows = kernel.outer[0] if kernel.outer else 1
        elements = math.prod(kernel.domain)
        self.runner: Callable[..., None] | None = None
        if math.prod(kernel.outer) == 0:
            pass
        elif compiled.part is not None and _NUM_THREADS > 1:
            self.runner = _split_runner(compiled, kernel)
        elif rows >= 2 and elements >= PARALLEL_MIN_ELEMENTS and _NUM_THREADS > 1:
            # a column-mode reduction streams whole rows; narrower slices of them per
            # thread cost more in cache and TLB misses than the second core brings
            per_thread = COLUMN_TILE if column_mode(kernel) and len(kernel.outer) == 1 else 1
            parts = min(rows // per_thread, _NUM_THREADS)
            if parts > 1:
                self.runner = _rows_runner(compiled.main, _chunks(rows, parts))


def _kernel_step(parts: _KernelParts, fresh: dict[int, np.dtype]) -> Callable[[Env], None]:
    """The step that runs ``parts``. ``fresh`` maps the slots written by earlier kernel
    steps of the same executable to their dtypes: those hold new C-contiguous arrays of
    that dtype, so an input read from one is passed without the check of ``_as_buffer``."""
    main, ins, outs, rows, runner = parts.main, parts.ins, parts.outs, parts.rows, parts.runner
    if runner is None and len(ins) == 1 and len(outs) == 1:
        return _unary_run(main, ins[0], outs[0], rows, fresh.get(ins[0][0]) is ins[0][1])
    in_slots = [s for s, _ in ins]
    checks = [(j, dt) for j, (s, dt) in enumerate(ins) if fresh.get(s) is not dt]
    out_specs = [(shape, dt) for _, shape, dt in outs]
    out_slots = [s for s, _, _ in outs]
    empty, ndarray, contiguous = np.empty, np.ndarray, np.ascontiguousarray
    if runner is None and len(outs) == 1:
        ((out_slot, shape, out_dtype),) = outs

        def run_one(env: Env) -> None:
            buffers = [env[s] for s in in_slots]
            for j, dt in checks:
                a = buffers[j]
                if type(a) is not ndarray or a.dtype is not dt or not a.flags.c_contiguous:
                    buffers[j] = contiguous(a, dtype=dt)
            result = empty(shape, out_dtype)
            if rows:
                main(*buffers, result, 0, rows)
            env[out_slot] = result

        return run_one

    def run(env: Env) -> None:
        buffers = [env[s] for s in in_slots]
        for j, dt in checks:
            buffers[j] = _as_buffer(buffers[j], dt)
        results = [empty(shape, dt) for shape, dt in out_specs]
        if runner is not None:
            runner(*buffers, *results)
        elif rows:
            main(*buffers, *results, 0, rows)
        for s, result in zip(out_slots, results, strict=True):
            env[s] = result

    return run


def _unary_run(main: Any, ins: tuple, outs: tuple, rows: int, fresh: bool) -> Callable[[Env], None]:
    """The common one-input, one-output, one-thread kernel step, with less Python
    (``fresh``: its input is known to be a C-contiguous array of the right dtype)."""
    in_slot, in_dtype = ins
    out_slot, shape, out_dtype = outs
    empty, ndarray = np.empty, np.ndarray
    if fresh:

        def run_fresh(env: Env) -> None:
            result = empty(shape, out_dtype)
            if rows:
                main(env[in_slot], result, 0, rows)
            env[out_slot] = result

        return run_fresh

    def run(env: Env) -> None:
        a = env[in_slot]
        if type(a) is not ndarray or a.dtype is not in_dtype or not a.flags.c_contiguous:
            a = np.ascontiguousarray(a, dtype=in_dtype)
        result = empty(shape, out_dtype)
        if rows:
            main(a, result, 0, rows)
        env[out_slot] = result

    return run


def _direct_run(
    parts: _KernelParts, sources: list[tuple[bool, Any]]
) -> Callable[[Sequence[Any]], list[Any]]:
    """A whole program that is one single-threaded kernel with one output, as one closure:
    no value list, no loop over steps. ``sources`` says for each kernel input whether it
    is argument number ``value`` (True) or the constant ``value`` (False)."""
    main, rows = parts.main, parts.rows
    _, shape, out_dtype = parts.outs[0]
    empty, ndarray, contiguous = np.empty, np.ndarray, np.ascontiguousarray
    dtypes = [dt for _, dt in parts.ins]
    if len(sources) == 1 and sources[0][0]:
        index, in_dtype = sources[0][1], dtypes[0]

        def run_unary(args: Sequence[Any]) -> list[Any]:
            a = args[index]
            if type(a) is not ndarray or a.dtype is not in_dtype or not a.flags.c_contiguous:
                a = contiguous(a, dtype=in_dtype)
            result = empty(shape, out_dtype)
            if rows:
                main(a, result, 0, rows)
            return [result]

        return run_unary
    reads = [
        (is_arg, value if is_arg else _as_buffer(value, dt), dt)
        for (is_arg, value), dt in zip(sources, dtypes, strict=True)
    ]

    def run(args: Sequence[Any]) -> list[Any]:
        buffers = [_as_buffer(args[value], dt) if is_arg else value for is_arg, value, dt in reads]
        result = empty(shape, out_dtype)
        if rows:
            main(*buffers, result, 0, rows)
        return [result]

    return run


def _rows_runner(main: Any, bounds: list[tuple[int, int]]) -> Callable[..., None]:
    def runner(*arrays: np.ndarray) -> None:
        _run_parallel([lambda lo=lo, hi=hi: main(*arrays, lo, hi) for lo, hi in bounds])

    return runner


def _split_runner(compiled: cache.CompiledKernel, kernel: Any) -> Callable[..., None]:
    n_reduce = sum(1 for n in kernel.nodes if n.op == "reduce")
    bounds = _chunks(kernel.inner[0], min(kernel.inner[0], _NUM_THREADS))
    part, fin = compiled.part, compiled.fin
    stride = 2 * n_reduce * 8

    def runner(*arrays: np.ndarray) -> None:
        acc = np.zeros((len(bounds), 2 * n_reduce), np.int64)
        base = acc.ctypes.data
        _run_parallel(
            [
                lambda j=j, lo=lo, hi=hi: part(*arrays, lo, hi, base + j * stride)
                for j, (lo, hi) in enumerate(bounds)
            ]
        )
        fin(*arrays, base, len(bounds))

    return runner


def _matrix_product(eqn: Any) -> Callable[..., np.ndarray] | None:
    """One BLAS call for a float ``dot_general`` without batch axes: each operand viewed as
    a matrix (free axes x contracted axes, transposed as a view where its layout allows,
    else copied), ``np.dot``, reshaped. Cheaper than ``impl``'s checks and copies inside a
    loop, and than NumPy's non-BLAS ``dot`` of stacked operands."""
    if eqn.primitive.name != "dot_general":
        return None
    (lc, rc), (lb, rb) = eqn.params["dimension_numbers"]
    a, b = eqn.inputs
    dtype = np.dtype(a.aval.dtype)
    if lb or rb or dtype.kind != "f" or np.dtype(b.aval.dtype) != dtype:
        return None
    if np.dtype(eqn.out_binders[0].aval.dtype) != dtype:
        return None
    left = _as_matrix(tuple(a.aval.shape), tuple(lc), contracted_last=True)
    right = _as_matrix(tuple(b.aval.shape), tuple(rc), contracted_last=False)
    out_shape = tuple(eqn.out_binders[0].aval.shape)
    asarray, dot = np.asarray, blas.on_one_thread(np.dot)
    rows = math.prod(d for i, d in enumerate(a.aval.shape) if i not in lc)
    contracted = math.prod(a.aval.shape[i] for i in lc)
    multiply_adds = math.prod(a.aval.shape) * math.prod(out_shape) // max(rows, 1)
    # split the longer of the rows and the contracted axis (a weight gradient ``x.T @ dz``
    # over a long batch has few rows and a long contraction)
    by_rows = rows >= contracted
    parts = min(rows if by_rows else contracted, _NUM_THREADS)
    plain = len(a.aval.shape) == len(b.aval.shape) == len(out_shape) == 2
    serial = multiply_adds < PARALLEL_PRODUCT or parts < 2 or not blas.available()
    if serial and multiply_adds >= PARALLEL_BLAS and _NUM_THREADS > 1:
        dot = blas.on_threads(np.dot, _NUM_THREADS)
    if plain and tuple(lc) == (1,) and tuple(rc) == (0,) and serial:
        # already (rows, contracted) @ (contracted, cols): no views, no reshape
        # (``np.dot`` makes arrays of its operands as ``asarray`` would)
        return dot
    if serial:
        if plain:

            def matrix_product(x: Any, y: Any) -> np.ndarray:
                return dot(left(asarray(x)), right(asarray(y)))

            return matrix_product

        def product(x: Any, y: Any) -> np.ndarray:
            return dot(left(asarray(x)), right(asarray(y))).reshape(out_shape)

        return product
    if not by_rows:
        return _split_contraction(left, right, _chunks(contracted, parts), out_shape)
    bounds = _chunks(rows, parts)
    empty = np.empty

    def split_product(x: Any, y: Any) -> np.ndarray:
        lhs, rhs = left(asarray(x)), right(asarray(y))
        out = empty((rows, rhs.shape[1]), dtype)
        _run_parallel([lambda lo=lo, hi=hi: dot(lhs[lo:hi], rhs, out[lo:hi]) for lo, hi in bounds])
        return out.reshape(out_shape)

    return split_product


def _split_contraction(
    left: Callable[[np.ndarray], np.ndarray],
    right: Callable[[np.ndarray], np.ndarray],
    bounds: list[tuple[int, int]],
    out_shape: tuple[int, ...],
) -> Callable[..., np.ndarray]:
    """A product whose contracted axis is split across threads, the partial products
    summed (the sum is associated differently from one BLAS call's, as a reduction
    reordered by ``jit`` may be)."""
    asarray, dot = np.asarray, blas.on_one_thread(np.dot)

    def split_sum(x: Any, y: Any) -> np.ndarray:
        lhs, rhs = left(asarray(x)), right(asarray(y))
        partial: list[Any] = [None] * len(bounds)

        def part(k: int, lo: int, hi: int) -> None:
            partial[k] = dot(lhs[:, lo:hi], rhs[lo:hi])

        _run_parallel(
            [lambda k=k, lo=lo, hi=hi: part(k, lo, hi) for k, (lo, hi) in enumerate(bounds)]
        )
        total = partial[0]
        for term in partial[1:]:
            np.add(total, term, out=total)
        return total.reshape(out_shape)

    return split_sum


def _as_matrix(
    shape: tuple[int, ...], contract: tuple[int, ...], contracted_last: bool
) -> Callable[[np.ndarray], np.ndarray]:
    """``x -> x`` as a (free, contracted) matrix (``contracted_last``) or the transpose."""
    free = tuple(i for i in range(len(shape)) if i not in contract)
    f = math.prod(shape[i] for i in free)
    c = math.prod(shape[i] for i in contract)
    identity = tuple(range(len(shape)))
    order, rows, cols = (
        ((*free, *contract), f, c) if contracted_last else ((*contract, *free), c, f)
    )
    if order == identity:
        return lambda x: x.reshape(rows, cols)
    flipped = (*contract, *free) if contracted_last else (*free, *contract)
    if flipped == identity:
        return lambda x: x.reshape(cols, rows).T
    return lambda x: np.transpose(x, order).reshape(rows, cols)


def _library_step(step: LibraryStep, slot: Callable[[Var], int]) -> Callable[[Env], None]:
    eqn = step.eqn
    impl = _matrix_product(eqn) or eqn.primitive.impl
    params = {} if impl is not eqn.primitive.impl else dict(eqn.params)
    reads = [(True, x.val) if isinstance(x, Literal) else (False, slot(x)) for x in eqn.inputs]
    outs = [slot(v) for v in eqn.out_binders]
    multiple = eqn.primitive.multiple_results
    if not params and not multiple and len(reads) == 2 and not reads[0][0] and not reads[1][0]:
        (_, first), (_, second) = reads
        out = outs[0]

        def run_binary(env: Env) -> None:
            env[out] = impl(env[first], env[second])

        return run_binary

    def run(env: Env) -> None:
        args = [value if literal else env[value] for literal, value in reads]
        result = impl(*args, **params)
        if multiple:
            for s, r in zip(outs, result, strict=True):
                env[s] = r
        else:
            env[outs[0]] = result

    return run


# ---------------------------------------------------------------------------------------
# The executable
# ---------------------------------------------------------------------------------------


class Executable:
    """Runs a ``Program``: ``executable(args) -> list of NumPy arrays``."""

    def __init__(self, program: Program, name: str = "jaxpr"):
        self.program = program
        self.name = name
        slots: dict[Var, int] = {}

        def slot(v: Var) -> int:
            found = slots.get(v)
            if found is None:
                found = slots[v] = len(slots)
            return found

        for v, _ in program.consts:
            slot(v)
        self._n_args = len(program.invars)
        self._first_arg = len(slots)
        for v in program.invars:
            slot(v)
        steps = []
        #: what each step is ("kernel", "library <name>", "native scan", ...), for tests
        self.step_kinds: list[str] = []
        kernel_parts = []
        fresh: dict[int, np.dtype] = {}  # slot -> dtype of the outputs of kernel steps
        kernels = [step.kernel for step in program.steps if isinstance(step, KernelStep)]
        keys = iter(cache.prefetch_kernels(kernels, data_offset()))  # compiled in parallel
        for step in program.steps:
            if isinstance(step, KernelStep):
                parts = _KernelParts(step, slot, next(keys))
                kernel_parts.append(parts)
                steps.append(_kernel_step(parts, fresh))
                fresh.update((s, dt) for s, _, dt in parts.outs)
                self.step_kinds.append("kernel")
                continue
            built = None
            if kernel_classes.get(step.eqn.primitive, ("library", None))[0] == "control":
                # imported here: native loops and their IR are only for control flow,
                # and importing them costs the preload thread ~10 ms
                from fxgrad.lowering.control import control_step

                built = control_step(step.eqn, slot, data_offset())
            if built is None:
                built = (f"library {step.eqn.primitive.name}", _library_step(step, slot))
            self.step_kinds.append(built[0])
            steps.append(built[1])
        outs = []
        constant_outs: dict[int, Any] = {}
        for x in program.outs:
            if isinstance(x, Literal):
                index = len(slots) + len(constant_outs)
                constant_outs[index] = np.asarray(x.val, dtype=x.aval.dtype)
                outs.append(index)
            else:
                outs.append(slot(x))
        template: list[Any] = [None] * (len(slots) + len(constant_outs))
        for v, value in program.consts:
            template[slots[v]] = value
        for index, value in constant_outs.items():
            template[index] = value
        self._template = template
        self._steps = steps
        self._outs = outs
        #: ``run(args) -> outputs``: what ``__call__`` does, as a plain function (callers
        #: that run it often keep this and skip a call layer)
        self.run: Callable[[Sequence[Any]], list[Any]] = _steps_run(
            template, self._first_arg, self._n_args, steps, outs
        )
        if len(steps) == 1 and len(kernel_parts) == 1 and len(outs) == 1:
            direct = self._direct(kernel_parts[0])
            if direct is not None:
                self.run = direct
        stats["executables"] += 1
        if config.read("log_compiles"):
            n_kernels = len(program.kernels)
            n_lib = len(program.steps) - n_kernels
            print(
                f"fxgrad: built executable for {name}: {n_kernels} kernels, {n_lib} library calls"
            )

    def _direct(self, parts: _KernelParts) -> Callable[[Sequence[Any]], list[Any]] | None:
        """The program as one closure when it is a single one-threaded kernel whose one
        output is the program's one output (``jit(lambda x: x + 1)``), else None."""
        if parts.runner is not None or len(parts.outs) != 1 or parts.outs[0][0] != self._outs[0]:
            return None
        sources: list[tuple[bool, Any]] = []
        first, end = self._first_arg, self._first_arg + self._n_args
        for s, _ in parts.ins:
            if first <= s < end:
                sources.append((True, s - first))
            elif s < first:
                sources.append((False, self._template[s]))
            else:
                return None
        return _direct_run(parts, sources)

    def __call__(self, args: Sequence[Any]) -> list[Any]:
        return self.run(args)


def _steps_run(
    template: Env, first: int, n_args: int, steps: list[Callable[[Env], None]], outs: list[int]
) -> Callable[[Sequence[Any]], list[Any]]:
    """The general call of an executable: a value list made from ``template`` and the
    arguments, every step in order, the outputs read off (everything it needs bound once,
    as it runs per step of a compiled loop body)."""
    end = first + n_args
    if len(outs) == 1:
        (only,) = outs

        def run_one(args: Sequence[Any]) -> list[Any]:
            env = template.copy()
            env[first:end] = args
            for step in steps:
                step(env)
            return [env[only]]

        return run_one
    read = operator.itemgetter(*outs) if outs else (lambda env: ())

    def run(args: Sequence[Any]) -> list[Any]:
        env = template.copy()
        env[first:end] = args
        for step in steps:
            step(env)
        return list(read(env))

    return run
