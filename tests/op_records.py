"""One table of operation records driving the value / grad / vmap / jit suites.

Each ``OpRecord`` names a function of positional array arguments, the argument shapes
and dtypes to try, how to draw argument values (its domain), and a NumPy reference.
``tests/test_op_records.py`` runs four suites over every record:

* values against the NumPy reference,
* ``check_grads`` (forward and reverse mode, order ``grad_order``) in float64,
* ``vmap`` against a Python loop, for every placement of the batch axis (JAX's
  ``_CheckBatching``): each argument batched alone at axis 0 and at its last axis,
  and all arguments batched together,
* ``jit`` against eager evaluation.

Families contribute their records from modules in ``tests/records/`` (one per
family, each exporting ``RECORDS``), so they can be written independently.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

Shape = tuple[int, ...]


def rand_normal(rng: np.random.RandomState, shape: Shape, dtype: Any) -> np.ndarray:
    dtype = np.dtype(dtype)
    if dtype.kind == "c":
        return np.asarray(rng.randn(*shape) + 1j * rng.randn(*shape)).astype(dtype)
    if dtype.kind == "b":
        return np.asarray(rng.rand(*shape) > 0.5)
    if dtype.kind in "iu":
        return rng.randint(-5 if dtype.kind == "i" else 0, 6, size=shape).astype(dtype)
    return np.asarray(rng.randn(*shape)).astype(dtype)


def rand_positive(rng: np.random.RandomState, shape: Shape, dtype: Any) -> np.ndarray:
    """Values in [0.5, 2.5): away from 0 for log, sqrt, division."""
    return np.asarray(rng.rand(*shape) * 2.0 + 0.5).astype(dtype)


def rand_unit(rng: np.random.RandomState, shape: Shape, dtype: Any) -> np.ndarray:
    """Values in (-0.9, 0.9): inside the domain of arcsin, arctanh, erf_inv."""
    return np.asarray((rng.rand(*shape) * 2.0 - 1.0) * 0.9).astype(dtype)


def rand_greater_than_one(rng: np.random.RandomState, shape: Shape, dtype: Any) -> np.ndarray:
    return np.asarray(rng.rand(*shape) * 2.0 + 1.2).astype(dtype)


def rand_distinct(rng: np.random.RandomState, shape: Shape, dtype: Any) -> np.ndarray:
    """Distinct values (no ties), for max/min/sort whose derivative is undefined at ties."""
    n = int(np.prod(shape, dtype=np.int64))
    vals = rng.permutation(n).astype(np.float64) * 0.5 + rng.rand(n) * 0.1
    return vals.reshape(shape).astype(dtype)


@dataclass(frozen=True)
class OpRecord:
    """How to test one operation.

    Attributes:
      name: unique test id.
      fun: the fxgrad function, taking positional array arguments.
      shapes: the argument shapes.
      reference: NumPy function computing the same value (None: skip the value suite).
      dtypes: dtypes to try in the value and jit suites (each argument gets the same).
      rand: draws one argument ``rand(rng, shape, dtype)``; one per argument if a tuple.
      grad_order: order for ``check_grads`` (0: not differentiable, skip).
      grad_modes: modes for ``check_grads``.
      grad_tol: tolerance override for ``check_grads`` (None: by dtype).
      tol: tolerance of the value comparison (None: by dtype).
      batch: run the vmap suite.
      static_argnums: arguments that are not arrays (passed as is, never batched).
    """

    name: str
    fun: Callable[..., Any]
    shapes: Sequence[Shape]
    reference: Callable[..., Any] | None
    dtypes: Sequence[Any] = (np.float64, np.float32)
    rand: Any = rand_normal
    grad_order: int = 2
    grad_modes: Sequence[str] = ("fwd", "rev")
    grad_tol: float | None = None
    tol: float | None = None
    batch: bool = True
    static_args: Sequence[Any] = field(default=())

    def make_args(self, rng: np.random.RandomState, dtype: Any) -> list[np.ndarray]:
        rands = self.rand if isinstance(self.rand, tuple) else (self.rand,) * len(self.shapes)
        return [r(rng, s, dtype) for r, s in zip(rands, self.shapes, strict=True)]


def all_records() -> list[OpRecord]:
    """Records from every module of ``tests/records``."""
    from tests import records

    found: list[OpRecord] = []
    for info in pkgutil.iter_modules(records.__path__):
        module = importlib.import_module(f"tests.records.{info.name}")
        found.extend(module.RECORDS)
    names = [r.name for r in found]
    duplicates = {n for n in names if names.count(n) > 1}
    assert not duplicates, f"duplicate op record names: {sorted(duplicates)}"
    return found
