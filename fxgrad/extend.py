"""The supported way to add a primitive to fxgrad from outside the package.

A primitive needs an implementation on NumPy arrays and an abstract evaluation rule;
each transformation it should support needs its rule. ``define_primitive`` registers
all of them in one call (see ``docs/adding_a_primitive.md``)::

    import numpy as np
    from fxgrad import extend

    def _cube_impl(x):
        return x * x * x

    def _cube_jvp(primals, tangents):
        (x,), (t,) = primals, tangents
        return cube(x), 3.0 * x * x * extend.instantiate_zeros(t)

    cube_p = extend.define_primitive(
        "cube", impl=_cube_impl, abstract_eval=lambda x: x, jvp=_cube_jvp,
        batch=extend.vectorized_batch_rule("cube"),
    )

    def cube(x):
        return cube_p.bind(x)

Rules must be written with fxgrad operations (``fxgrad.numpy`` or ``fxgrad.lax``), not
with NumPy, so that they can be traced, differentiated again and batched.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fxgrad.core import Primitive, ShapedArray, Tracer
from fxgrad.interpreters import batching
from fxgrad.interpreters.jvp import Zero, instantiate_zeros
from fxgrad.interpreters.transpose import UndefPrimal, is_undefined_primal
from fxgrad.lax._define import define_primitive, primitives

__all__ = [
    "Primitive",
    "ShapedArray",
    "Tracer",
    "UndefPrimal",
    "Zero",
    "define_primitive",
    "instantiate_zeros",
    "is_undefined_primal",
    "not_mapped",
    "primitives",
    "vectorized_batch_rule",
]

not_mapped = batching.not_mapped


def vectorized_batch_rule(name: str) -> Callable[..., Any]:
    """The batch rule of a unary elementwise primitive named ``name``."""

    def rule(axis_size, vals, dims, **params):
        (x,), (d,) = vals, dims
        return primitives[name].bind(x, **params), d

    return rule
