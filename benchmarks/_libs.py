"""The libraries the benchmarks compare against, each loaded only if it is installed.

JAX is loaded with ``jax_enable_x64`` on (the benchmarks pass it float32 arrays, so this
only keeps its Python scalars and integer defaults like NumPy's); its calls dispatch
asynchronously, so every timed JAX call goes through ``block``. PyTorch runs on the CPU
with one intra-op thread: its OpenMP pool spins while waiting, and on a machine whose
cores are shared with other work a step of W3 then takes 40x longer with two threads
than with one, which would measure the scheduler rather than PyTorch. A library that is
missing is ``None`` and its column is left out of the tables.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable
from typing import Any


def optional(name: str) -> Any | None:
    """The module ``name``, or ``None`` when it is not installed."""
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def load_jax() -> Any | None:
    """``jax`` with ``jax_enable_x64`` on, or ``None``."""
    jax = optional("jax")
    if jax is not None:
        jax.config.update("jax_enable_x64", True)
    return jax


def load_torch() -> Any | None:
    """``torch`` limited to one intra-op thread, or ``None``."""
    # torch.func's transforms warn, on first use, that torch.jit.script is deprecated.
    warnings.filterwarnings("ignore", message=".*torch.jit.script.* is deprecated")
    torch = optional("torch")
    if torch is not None:
        torch.set_num_threads(1)
    return torch


def block(fn: Callable[[], Any]) -> Callable[[], Any]:
    """A JAX call that waits for its asynchronously dispatched result (any pytree)."""
    jax = importlib.import_module("jax")

    def call() -> Any:
        return jax.block_until_ready(fn())

    return call
