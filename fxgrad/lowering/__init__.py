"""``jit``'s compiler: a jaxpr is simplified, fused into kernels, rendered to native code.

The passes, each of which can be dumped with ``dump``:

1. ``simplify`` (DCE, CSE, constant folding, algebraic identities), when present;
2. ``fusion.fuse``: jaxpr -> ordered fused kernels (``kernel_ir``) and library calls;
3. ``decompose``: transcendental kernel ops -> vectorisable arithmetic;
4. ``llvm`` / ``llvm_loops``: kernel IR -> LLVM IR -> object code (O3, host CPU), kept by
   ``cache`` in memory and on disk;
5. ``executable``: buffers, kernel calls and library calls in order.

``compile_jaxpr`` runs them all. With ``config.enable_checks`` the jaxpr is type-checked
after simplification and every kernel is verified.
"""

from __future__ import annotations

from fxgrad.config import config
from fxgrad.jaxpr import ClosedJaxpr, check_jaxpr
from fxgrad.lowering import kernel_ir
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


def lower(closed: ClosedJaxpr) -> Program:
    """Simplify and fuse ``closed`` (no native code yet)."""
    program = fuse(simplify_jaxpr(closed))
    if config.read("enable_checks"):
        for kernel in program.kernels:
            kernel_ir.verify(kernel)
    return program


def compile_jaxpr(closed: ClosedJaxpr, name: str = "jaxpr") -> Executable:
    """Compile ``closed`` to an ``Executable`` taking its non-constant inputs."""
    program = lower(closed)
    if config.read("log_compiles"):
        print(f"fxgrad: lowering {name}:\n{program}")
    return Executable(program, name)


def dump(closed: ClosedJaxpr) -> str:
    """The output of every pass for ``closed``: jaxprs, kernels, LLVM IR (for debugging)."""
    from fxgrad.lowering import llvm

    simplified = simplify_jaxpr(closed)
    program = fuse(simplified)
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
    return "\n".join(parts)
