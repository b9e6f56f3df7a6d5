"""``define_primitive``: one call that declares a primitive with every rule it has.

Each keyword is a rule; leaving one out is a visible decision (``None``), and
``tests/test_rule_coverage.py`` lists the gaps. Rules are stored where the machinery
that applies them looks for them: ``impl`` / ``abstract_eval`` / ``inline`` on the
``Primitive``; ``jvp`` in ``interpreters.jvp.jvp_rules``; ``transpose`` in
``interpreters.transpose.transpose_rules``; ``batch`` in
``interpreters.batching.batch_rules``; and the kernel classification used by
``jit``'s lowering in ``kernel_classes``.

Kernel classes: ``"elementwise"`` (fusable scalar op, named by ``kernel_op``),
``"reduction"``, ``"shape"`` (indexing/layout, fusable as loads), ``"library"``
(BLAS/LAPACK/NumPy call), ``"control"`` (control flow), ``"call"`` (jit).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fxgrad.core import Primitive
from fxgrad.interpreters.batching import batch_rules
from fxgrad.interpreters.jvp import jvp_rules
from fxgrad.interpreters.transpose import transpose_rules

#: primitive -> (kernel class, kernel op name or None)
kernel_classes: dict[Primitive, tuple[str, str | None]] = {}

#: every primitive defined through ``define_primitive``, by name
primitives: dict[str, Primitive] = {}


def define_primitive(
    name: str,
    *,
    impl: Callable[..., Any],
    abstract_eval: Callable[..., Any],
    jvp: Callable[..., Any] | None,
    transpose: Callable[..., Any] | None = None,
    batch: Callable[..., Any] | None,
    kernel: str = "library",
    kernel_op: str | None = None,
    multiple_results: bool = False,
    inline: Callable[..., Any] | None = None,
) -> Primitive:
    """Create primitive ``name`` and register its rules.

    Args:
      name: the primitive's name, as printed in jaxprs (JAX's name where one exists).
      impl: evaluates on NumPy values; returns NumPy values of exactly the dtype and
        shape ``abstract_eval`` gives.
      abstract_eval: ``(*avals, **params) -> aval`` (a list when ``multiple_results``);
        raises a named error for bad shapes or dtypes.
      jvp: ``(primals, tangents, **params) -> (primal_out, tangent_out)``, or ``None``
        if the primitive is not differentiable (for example integer-valued).
      transpose: for primitives linear in some inputs:
        ``(ct, *invals, **params) -> [ct per input or None]``.
      batch: ``(axis_size, vals, dims, **params) -> (out, out_dim)``.
      kernel: the kernel class for ``jit``'s lowering (see the module docstring).
      kernel_op: for elementwise primitives, the kernel op implementing it.
      multiple_results: the primitive returns a list of values.
      inline: expresses the primitive through others, used by interpreters lacking a rule.

    Returns:
      The new ``Primitive``.
    """
    if name in primitives:
        raise ValueError(f"primitive {name!r} is already defined")
    prim = Primitive(name, multiple_results=multiple_results)
    prim.impl = impl
    prim.abstract_eval = abstract_eval
    prim.inline = inline
    if jvp is not None:
        jvp_rules[prim] = jvp
    if transpose is not None:
        transpose_rules[prim] = transpose
    if batch is not None:
        batch_rules[prim] = batch
    kernel_classes[prim] = (kernel, kernel_op)
    primitives[name] = prim
    return prim
