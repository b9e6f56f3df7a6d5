"""``jit``'s compiler: a jaxpr is simplified, fused into kernels, rendered to native code.

The passes, each of which can be dumped: ``simplify`` (DCE, CSE, constant folding; when
present), ``fusion.fuse`` (jaxpr -> ordered kernels and library calls, ``kernel_ir``),
``decompose`` (transcendental kernel ops -> vectorisable arithmetic), ``llvm`` (kernel
IR -> LLVM IR -> object code, cached by ``cache``) and ``executable`` (buffers and calls
in order). ``compile_jaxpr`` runs them all; ``dump`` shows the output of each.
"""

from __future__ import annotations

__all__: list[str] = []
