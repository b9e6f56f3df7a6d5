"""Control-flow workloads, jitted: ``fori_loop`` (W8a), ``grad`` of ``scan`` (W8b) and
``vmap`` of ``while_loop`` (W8c). All float32.

* W8a: ``fori_loop(0, 10**6, lambda i, c: c * 0.999999 + 1e-6, c0)`` on a scalar. The
  NumPy reference is the same loop in Python on ``np.float32`` scalars (what running the
  body without a compiler costs).
* W8b: ``grad`` in ``(W, U)`` of an RNN written with ``scan``,
  ``h_t = tanh(h_{t-1} @ W + x_t @ U)`` from ``h_0 = 0``, hidden and input size 128,
  batch 32, 200 steps, loss ``sum(h_T**2)`` (the final state only; JAX and PyTorch compute
  the same loss). NumPy reference: backpropagation through time by hand.
* W8c: ``vmap`` of a Newton iteration ``y <- (y + x / y) / 2`` in a ``while_loop`` that
  stops when ``|y*y - x| <= 1e-3 x``, from ``y = x``, for 10**5 values in [0.01, 100].
  NumPy reference: the same iteration on the whole vector, masked, until every element
  has converged (which is what a batched while loop does).

``--quick`` shrinks the trip counts (10**3 steps, 10 time steps, 10**3 values). fxgrad's
results are checked against the references before timing.
Run with ``python -m benchmarks control_flow``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

import fxgrad
import fxgrad.numpy as fnp

from ._libs import block, load_jax, load_torch
from ._timing import Settings, Table, measure_all, register, versus_table

# --- W8a --------------------------------------------------------------------------------


def decay_loop(lax_like: Any, steps: int) -> Callable:
    """``c -> fori_loop(0, steps, c * 0.999999 + 1e-6)`` with ``lax_like.fori_loop``."""

    def body(i: Any, c: Any) -> Any:
        return c * 0.999999 + 1e-6

    def run(c: Any) -> Any:
        return lax_like.fori_loop(0, steps, body, c)

    return run


def python_decay_loop(c: np.float32, steps: int) -> np.float32:
    decay, step = np.float32(0.999999), np.float32(1e-6)
    for _ in range(steps):
        c = c * decay + step
    return c


def _w8a(settings: Settings, jax: Any | None) -> Table:
    steps = 10**3 if settings.small else 10**6
    table = versus_table(
        f"W8a: jit(fori_loop) of {steps:.0e} steps of c * 0.999999 + 1e-6, float32 scalar"
    )
    c0 = np.float32(0.5)
    loop = fxgrad.jit(decay_loop(fxgrad.lax, steps))
    fc0 = fnp.asarray(c0)
    want = python_decay_loop(c0, steps)
    np.testing.assert_allclose(np.asarray(loop(fc0)), want, rtol=1e-6, err_msg="W8a")
    calls: dict[str, Callable[[], Any]] = {
        "fxgrad": lambda: loop(fc0),
        "numpy": lambda: python_decay_loop(c0, steps),
    }
    if jax is not None:
        jloop = jax.jit(decay_loop(jax.lax, steps))
        jc0 = jax.numpy.asarray(c0)
        calls["jax"] = block(lambda: jloop(jc0))
    table.add(f"fori_loop, {steps} steps", measure_all(calls, settings))
    return table


# --- W8b --------------------------------------------------------------------------------

HIDDEN, BATCH = 128, 32


def rnn_loss(lax_like: Any, np_like: Any) -> Callable:
    """``loss(w, u, xs) = sum(h_T**2)`` of the ``tanh`` RNN, with ``lax_like.scan``."""

    def loss(w: Any, u: Any, xs: Any) -> Any:
        def cell(h: Any, x_t: Any) -> tuple[Any, None]:
            return np_like.tanh(h @ w + x_t @ u), None

        h0 = np_like.zeros((xs.shape[1], w.shape[0]), dtype=xs.dtype)
        h_last, _ = lax_like.scan(cell, h0, xs)
        return np_like.sum(h_last * h_last)

    return loss


def numpy_rnn_grad(w: np.ndarray, u: np.ndarray, xs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Gradients of ``rnn_loss`` in ``(w, u)`` by backpropagation through time."""
    hs = [np.zeros((xs.shape[1], w.shape[0]), xs.dtype)]
    for x_t in xs:
        hs.append(np.tanh(hs[-1] @ w + x_t @ u))
    dw, du = np.zeros_like(w), np.zeros_like(u)
    dh = np.float32(2) * hs[-1]
    for t in range(len(xs) - 1, -1, -1):
        dz = dh * (1 - hs[t + 1] * hs[t + 1])
        dw += hs[t].T @ dz
        du += xs[t].T @ dz
        dh = dz @ w.T
    return dw, du


def _torch_rnn_grad(torch: Any, w: np.ndarray, u: np.ndarray, xs: np.ndarray) -> Callable:
    tw = torch.tensor(w, requires_grad=True)
    tu = torch.tensor(u, requires_grad=True)
    txs = torch.from_numpy(xs)

    def grads() -> Any:
        h = torch.zeros((xs.shape[1], w.shape[0]))
        for x_t in txs:
            h = torch.tanh(h @ tw + x_t @ tu)
        return torch.autograd.grad((h * h).sum(), (tw, tu))

    return grads


def _w8b(settings: Settings, jax: Any | None, torch: Any | None) -> Table:
    steps = 10 if settings.small else 200
    table = versus_table(
        f"W8b: jit(grad) of a scan RNN, H = {HIDDEN}, B = {BATCH}, T = {steps}, loss sum(h_T**2)"
    )
    rng = np.random.default_rng(82)
    scale = np.float32(1 / np.sqrt(HIDDEN))
    w = (rng.standard_normal((HIDDEN, HIDDEN)) * scale).astype(np.float32)
    u = (rng.standard_normal((HIDDEN, HIDDEN)) * scale).astype(np.float32)
    xs = rng.standard_normal((steps, BATCH, HIDDEN)).astype(np.float32)
    grad_fn = fxgrad.jit(fxgrad.grad(rnn_loss(fxgrad.lax, fnp), argnums=(0, 1)))
    fw, fu, fxs = fnp.asarray(w), fnp.asarray(u), fnp.asarray(xs)
    for got, want in zip(grad_fn(fw, fu, fxs), numpy_rnn_grad(w, u, xs), strict=True):
        np.testing.assert_allclose(np.asarray(got), want, rtol=1e-3, atol=1e-4, err_msg="W8b")
    calls: dict[str, Callable[[], Any]] = {
        "fxgrad": lambda: grad_fn(fw, fu, fxs),
        "numpy": lambda: numpy_rnn_grad(w, u, xs),
    }
    if jax is not None:
        jgrad = jax.jit(jax.grad(rnn_loss(jax.lax, jax.numpy), argnums=(0, 1)))
        jw, ju, jxs = (jax.numpy.asarray(a) for a in (w, u, xs))
        calls["jax"] = block(lambda: jgrad(jw, ju, jxs))
    if torch is not None:
        calls["torch"] = _torch_rnn_grad(torch, w, u, xs)
    table.add(f"grad of scan, T = {steps}", measure_all(calls, settings))
    return table


# --- W8c --------------------------------------------------------------------------------

TOLERANCE = 1e-3


def newton_sqrt(lax_like: Any, np_like: Any) -> Callable:
    """``sqrt`` of one value by Newton's iteration in ``lax_like.while_loop``."""

    def sqrt(x: Any) -> Any:
        def not_converged(y: Any) -> Any:
            return np_like.abs(y * y - x) > TOLERANCE * x

        def newton_step(y: Any) -> Any:
            return 0.5 * (y + x / y)

        return lax_like.while_loop(not_converged, newton_step, x)

    return sqrt


def numpy_newton_sqrt(x: np.ndarray) -> np.ndarray:
    """``newton_sqrt`` on a whole vector: step the elements that have not converged."""
    y = x.copy()
    half, tolerance = np.float32(0.5), np.float32(TOLERANCE)
    active = np.abs(y * y - x) > tolerance * x
    while active.any():
        y = np.where(active, half * (y + x / y), y)
        active = np.abs(y * y - x) > tolerance * x
    return y


def _w8c(settings: Settings, jax: Any | None) -> Table:
    n = 10**3 if settings.small else 10**5
    table = versus_table(
        f"W8c: jit(vmap(while_loop)) Newton sqrt of {n:.0e} values to relative 1e-3"
    )
    x = np.random.default_rng(83).uniform(0.01, 100.0, n).astype(np.float32)
    sqrt = fxgrad.jit(fxgrad.vmap(newton_sqrt(fxgrad.lax, fnp)))
    fx = fnp.asarray(x)
    got = np.asarray(sqrt(fx))
    np.testing.assert_allclose(got, numpy_newton_sqrt(x), rtol=1e-5, err_msg="W8c")
    np.testing.assert_allclose(got, np.sqrt(x), rtol=TOLERANCE, err_msg="W8c accuracy")
    calls: dict[str, Callable[[], Any]] = {
        "fxgrad": lambda: sqrt(fx),
        "numpy": lambda: numpy_newton_sqrt(x),
    }
    if jax is not None:
        jsqrt = jax.jit(jax.vmap(newton_sqrt(jax.lax, jax.numpy)))
        jx = jax.numpy.asarray(x)
        calls["jax"] = block(lambda: jsqrt(jx))
    table.add(f"vmap(while_loop), n = {n}", measure_all(calls, settings))
    return table


@register("control_flow", "jitted fori_loop (W8a), grad of scan (W8b), vmap of while (W8c)")
def run(settings: Settings) -> list[Table]:
    jax, torch = load_jax(), load_torch()
    return [_w8a(settings, jax), _w8b(settings, jax, torch), _w8c(settings, jax)]
