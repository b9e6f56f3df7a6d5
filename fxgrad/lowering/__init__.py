"""``jit``'s compiler: a jaxpr is simplified, fused into kernels, rendered to native code.

The passes, each of which can be dumped with ``dump``:

1. ``simplify`` (DCE, CSE, constant folding, algebraic identities), when present, then
   ``products`` (matrix products out of scan bodies);
2. ``fusion.fuse``: jaxpr -> ordered fused kernels (``kernel_ir``) and library calls;
3. ``decompose``: transcendental kernel ops -> vectorisable arithmetic;
4. ``llvm`` / ``llvm_loops``: kernel IR -> LLVM IR -> object code (O3, host CPU), kept by
   ``cache`` in memory and on disk;
5. ``executable``: buffers, kernel calls and library calls in order; ``control`` runs
   control flow: a loop whose body is all kernels becomes one native loop
   (``native_loops`` -> ``loop_ir`` -> ``llvm_control``), any other body is compiled to an
   executable of its own that the loop step calls per iteration.

``compile_jaxpr`` runs them all. With ``config.enable_checks`` the jaxpr is type-checked
after simplification and every kernel is verified.
"""

from __future__ import annotations

from fxgrad.config import config
from fxgrad.jaxpr import ClosedJaxpr, check_jaxpr
from fxgrad.lowering import kernel_ir, memory
from fxgrad.lowering.executable import Executable, data_offset
from fxgrad.lowering.fusion import Program, fuse

__all__ = ["Executable", "Program", "compile_jaxpr", "dump", "lower", "simplify_jaxpr"]


def simplify_jaxpr(closed: ClosedJaxpr) -> ClosedJaxpr:
    """``fxgrad.lowering.simplify.simplify`` when that pass exists, else ``closed``."""
    try:
        from fxgrad.lowering.simplify import simplify
    except ImportError:
        return closed
    simplified = simplify(closed)
    if config.read("enable_checks"):
        check_jaxpr(simplified.jaxpr)
    return simplified


def hoist_jaxpr(closed: ClosedJaxpr) -> ClosedJaxpr:
    """``closed`` with matrix products hoisted out of its scans (``products``)."""
    from fxgrad.lowering.products import hoist_products

    hoisted = hoist_products(closed)
    if hoisted is not closed and config.read("enable_checks"):
        check_jaxpr(hoisted.jaxpr)
    return hoisted


def lower(closed: ClosedJaxpr) -> Program:
    """Simplify and fuse ``closed`` (no native code yet)."""
    program = fuse(hoist_jaxpr(simplify_jaxpr(closed)))
    if config.read("enable_checks"):
        for kernel in program.kernels:
            kernel_ir.verify(kernel)
    return program


def compile_jaxpr(closed: ClosedJaxpr, name: str = "jaxpr") -> Executable:
    """Compile ``closed`` to an ``Executable`` taking its non-constant inputs."""
    # Compiled calls reuse their buffers from the heap: set on the first compile, not at
    # import (the preload thread imports this package in every program).
    memory.tune_malloc()
    program = lower(closed)
    if config.read("log_compiles"):
        print(f"fxgrad: lowering {name}:\n{program}")
    return Executable(program, name)


def dump(closed: ClosedJaxpr) -> str:
    """The output of every pass for ``closed``: jaxprs, kernels, LLVM IR (for debugging)."""
    from fxgrad.lowering import llvm

    simplified = simplify_jaxpr(closed)
    program = fuse(hoist_jaxpr(simplified))
    parts = [
        "# jaxpr",
        str(closed),
        "# simplified jaxpr",
        str(simplified),
        "# program",
        str(program),
    ]
    for i, kernel in enumerate(program.kernels):
        text, _ = llvm.render(kernel, f"kernel{i}", data_offset())
        parts += [f"# LLVM IR of kernel {i}", text]
    from fxgrad.lowering import native_loops
    from fxgrad.lowering.fusion import LibraryStep
    from fxgrad.lowering.llvm_control import render_loop

    for i, step in enumerate(program.steps):
        native = native_loops.build(step.eqn, lower) if isinstance(step, LibraryStep) else None
        if native is not None:
            text, _ = render_loop(native.loop, f"loop{i}", data_offset())
            parts += [f"# native loop of step {i}", str(native.loop), "# its LLVM IR", text]
    return "\n".join(parts)
