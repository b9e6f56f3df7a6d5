"""Python functions carried as primitive parameters, and the batch rule those primitives share.

``custom_jvp`` / ``custom_vjp`` carry the user's derivative rules, and ``pure_callback`` /
``debug.callback`` carry the user's callback, as a parameter of their primitive. Params are
cache keys, hashed and compared, and a Python function has no useful structural equality, so
``CallableParam`` compares and hashes by identity and prints a readable name in jaxprs.

Batching such a primitive wraps the function in a batched version and binds the primitive
again on operands whose batch axes are all moved to the front: ``bind_batch_major``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from fxgrad.core import Primitive
from fxgrad.interpreters import batching
from fxgrad.interpreters.batching import NotMapped


class CallableParam:
    """A Python callable used as a primitive parameter (hashed by identity)."""

    __slots__ = ("fn", "name")

    def __init__(self, fn: Callable[..., Any], name: str) -> None:
        self.fn = fn
        self.name = name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.fn(*args, **kwargs)

    def __repr__(self) -> str:
        return self.name


def bind_batch_major(
    primitive: Primitive,
    axis_size: int,
    vals: Sequence[Any],
    dims: Sequence[int | NotMapped],
    **params: Any,
) -> tuple[list[Any], list[int]]:
    """Binds ``primitive`` (multiple results) on ``vals`` with every batch axis at the front.

    The body of a batch rule whose ``params`` already describe the batched computation:
    every output is batched along axis 0.
    """
    moved = [batching.bdim_at_front(x, d, axis_size) for x, d in zip(vals, dims, strict=True)]
    outs = primitive.bind(*moved, **params)
    return outs, [0] * len(outs)
