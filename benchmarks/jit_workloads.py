"""Compiled workloads: fused elementwise chains, reductions, per-call overhead of ``jit``.

All in float32, each timed in this process against NumPy and, when installed, ``jax.jit``
(JAX with ``jax_enable_x64``, on float32 arrays):

* W1: ``tanh(x*0.5 + y) * exp(-x*x) + sin(y) * 0.1`` on 2**22 (and, unless ``--quick``,
  2**24) elements, with the bandwidth floor: the bytes the fused kernel must move
  (two inputs, one output) at the copy bandwidth measured with ``np.copyto``.
* W2: ``logsumexp`` of 2**24 elements; ``softmax`` over the rows of a (4096, 1024)
  matrix; a column sum of that matrix.
* W4: one call of a cached jitted ``x + 1`` on a 4-element array (per-call overhead).

Run with ``python -m benchmarks jit_workloads`` (``--quick`` for a smoke test).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

import fxgrad
import fxgrad.numpy as fnp

from ._libs import block, load_jax
from ._timing import Settings, Table, measure, measure_all, register, versus_table

# --- W1 ---------------------------------------------------------------------------------


def _chain_numpy(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.tanh(x * np.float32(0.5) + y) * np.exp(-x * x) + np.sin(y) * np.float32(0.1)


def chain(np_like: Any) -> Callable:
    """W1's elementwise chain written with ``np_like`` (``fxgrad.numpy`` or ``jax.numpy``)."""

    def fused(x: Any, y: Any) -> Any:
        return np_like.tanh(x * 0.5 + y) * np_like.exp(-x * x) + np_like.sin(y) * 0.1

    return fused


def _copy_seconds_per_byte(settings: Settings) -> float:
    src = np.ones(1 << 24, np.float32)
    dst = np.empty_like(src)
    seconds = measure(lambda: np.copyto(dst, src), settings)
    return seconds / (2 * src.nbytes)


def _w1(settings: Settings, jax: Any | None, sizes: list[int]) -> Table:
    table = Table(
        "W1: fused elementwise chain tanh(x*0.5 + y) * exp(-x*x) + sin(y) * 0.1 (float32)",
        ["fxgrad", "numpy", "jax", "floor"],
        ratios=[("fxgrad", "numpy"), ("fxgrad", "jax"), ("fxgrad", "floor")],
    )
    per_byte = _copy_seconds_per_byte(settings)
    f = fxgrad.jit(chain(fnp))
    for n in sizes:
        rng = np.random.default_rng(n)
        x = rng.standard_normal(n).astype(np.float32)
        y = rng.standard_normal(n).astype(np.float32)
        fx, fy = fnp.asarray(x), fnp.asarray(y)
        calls: dict[str, Callable[[], Any]] = {
            "fxgrad": lambda fx=fx, fy=fy: f(fx, fy),
            "numpy": lambda x=x, y=y: _chain_numpy(x, y),
        }
        if jax is not None:
            g = jax.jit(chain(jax.numpy))
            jx, jy = jax.numpy.asarray(x), jax.numpy.asarray(y)
            calls["jax"] = block(lambda g=g, jx=jx, jy=jy: g(jx, jy))
        times: dict[str, float | None] = dict(measure_all(calls, settings))
        times["floor"] = 3 * x.nbytes * per_byte
        table.add(f"n = 2**{n.bit_length() - 1}", times)
    return table


# --- W2 ---------------------------------------------------------------------------------


def _logsumexp(np_like: Any) -> Callable:
    def logsumexp(x: Any) -> Any:
        m = np_like.max(x)
        return np_like.log(np_like.sum(np_like.exp(x - m))) + m

    return logsumexp


def _softmax(np_like: Any) -> Callable:
    def softmax(x: Any) -> Any:
        e = np_like.exp(x - np_like.max(x, axis=1, keepdims=True))
        return e / np_like.sum(e, axis=1, keepdims=True)

    return softmax


def _column_sum(np_like: Any) -> Callable:
    def column_sum(x: Any) -> Any:
        return np_like.sum(x, axis=0)

    return column_sum


def _w2(settings: Settings, jax: Any | None, n: int) -> Table:
    table = versus_table("W2: reductions (float32)")
    rng = np.random.default_rng(2)
    vector = rng.standard_normal(n).astype(np.float32)
    matrix = rng.standard_normal((4096, 1024)).astype(np.float32)
    cases = [
        (f"logsumexp, 2**{n.bit_length() - 1}", _logsumexp, vector),
        ("softmax rows, (4096, 1024)", _softmax, matrix),
        ("column sum, (4096, 1024)", _column_sum, matrix),
    ]
    for name, make, data in cases:
        f = fxgrad.jit(make(fnp))
        fdata = fnp.asarray(data)
        calls: dict[str, Callable[[], Any]] = {
            "fxgrad": lambda f=f, fdata=fdata: f(fdata),
            "numpy": lambda make=make, data=data: make(np)(data),
        }
        if jax is not None:
            g = jax.jit(make(jax.numpy))
            jdata = jax.numpy.asarray(data)
            calls["jax"] = block(lambda g=g, jdata=jdata: g(jdata))
        table.add(name, measure_all(calls, settings))
    return table


# --- W4 ---------------------------------------------------------------------------------


def _w4(settings: Settings, jax: Any | None) -> Table:
    table = Table(
        "W4: per-call overhead of a cached jitted x + 1, float32[4]",
        ["fxgrad", "numpy", "jax"],
        ratios=[("fxgrad", "jax")],
    )
    x = np.arange(4, dtype=np.float32)
    f = fxgrad.jit(lambda v: v + 1)
    fx = fnp.asarray(x)
    calls: dict[str, Callable[[], Any]] = {"fxgrad": lambda: f(fx), "numpy": lambda: x + 1}
    if jax is not None:
        g = jax.jit(lambda v: v + 1)
        jx = jax.numpy.asarray(x)
        calls["jax"] = block(lambda: g(jx))
    table.add("x + 1", measure_all(calls, settings))
    return table


@register("jit_workloads", "compiled kernels: fused chains, reductions, jit call overhead")
def run(settings: Settings) -> list[Table]:
    jax = load_jax()
    sizes = [1 << 22] if settings.small else [1 << 22, 1 << 24]
    return [_w1(settings, jax, sizes), _w2(settings, jax, 1 << 24), _w4(settings, jax)]
