"""Training workloads on a small MLP: a jitted SGD step (W3) and per-example gradients (W6).

The model is a 64-256-256-10 MLP with ``tanh`` hidden layers and a softmax
cross-entropy loss on one-hot labels, in float32, on a batch of 128:

* W3: one jitted training step, ``value_and_grad`` of the mean loss plus an SGD update
  returning the new parameters. References: the same step under ``jax.jit``, a
  hand-written NumPy forward pass + backpropagation + update, and a PyTorch step
  (autograd, then an in-place SGD update) when PyTorch is installed.
* W6: per-example gradients, ``jit(vmap(grad(loss), in_axes=(None, 0, 0)))``. References:
  the same under JAX, NumPy backpropagation that keeps the batch axis of every weight
  gradient (``einsum('bi,bj->bij')``), and ``torch.func.vmap(torch.func.grad(...))``.

Before timing, fxgrad's loss and gradients are checked against the NumPy backpropagation,
so a benchmark of a wrong result fails loudly. Run with ``python -m benchmarks training``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

import fxgrad
import fxgrad.numpy as fnp

from ._libs import block, load_jax, load_torch
from ._timing import Settings, Table, measure_all, register, versus_table

SIZES = (64, 256, 256, 10)
BATCH = 128
LEARNING_RATE = 0.01

Params = list[tuple[Any, Any]]


def init_params(seed: int = 0) -> Params:
    """float32 ``(w, b)`` per layer, ``w`` scaled by ``1/sqrt(fan_in)``, ``b`` zero."""
    rng = np.random.default_rng(seed)
    params = []
    for fan_in, fan_out in zip(SIZES[:-1], SIZES[1:], strict=True):
        w = rng.standard_normal((fan_in, fan_out)) / np.sqrt(fan_in)
        params.append((w.astype(np.float32), np.zeros(fan_out, np.float32)))
    return params


def make_batch(seed: int = 1, batch: int = BATCH) -> tuple[np.ndarray, np.ndarray]:
    """Inputs ``(batch, 64)`` and one-hot labels ``(batch, 10)``, float32."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, SIZES[0])).astype(np.float32)
    y = np.eye(SIZES[-1], dtype=np.float32)[rng.integers(0, SIZES[-1], batch)]
    return x, y


def make_loss(np_like: Any) -> Callable:
    """The mean softmax cross-entropy of the MLP, written with ``np_like``.

    Works on a batch ``x: (b, 64)`` and on one example ``x: (64,)`` (the mean of a
    scalar is the scalar), so W6 can ``vmap`` the same function.
    """

    def loss(params: Params, x: Any, y: Any) -> Any:
        h = x
        for w, b in params[:-1]:
            h = np_like.tanh(h @ w + b)
        w, b = params[-1]
        logits = h @ w + b
        shifted = logits - np_like.max(logits, axis=-1, keepdims=True)
        log_norm = np_like.log(np_like.sum(np_like.exp(shifted), axis=-1, keepdims=True))
        return -np_like.mean(np_like.sum((shifted - log_norm) * y, axis=-1))

    return loss


def make_step(api: Any, loss: Callable) -> Callable:
    """``step(params, x, y) -> (loss, new_params)``: ``value_and_grad`` + SGD, in ``api``."""

    def step(params: Params, x: Any, y: Any) -> tuple[Any, Params]:
        value, grads = api.value_and_grad(loss)(params, x, y)
        new_params = api.tree_util.tree_map(lambda p, g: p - LEARNING_RATE * g, params, grads)
        return value, new_params

    return step


def numpy_backprop(
    params: Params, x: np.ndarray, y: np.ndarray, per_example: bool = False
) -> tuple[np.ndarray, Params]:
    """The loss and its gradients by hand: forward pass, then backpropagation.

    With ``per_example``, every gradient keeps the batch axis (the gradient of each
    example's own loss); otherwise they are gradients of the batch mean.
    """
    activations = [x]
    for w, b in params[:-1]:
        activations.append(np.tanh(activations[-1] @ w + b))
    w, b = params[-1]
    logits = activations[-1] @ w + b
    shifted = logits - logits.max(axis=-1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    per_example_loss = -(log_probs * y).sum(axis=-1)
    delta = np.exp(log_probs) * y.sum(axis=-1, keepdims=True) - y
    if not per_example:
        delta = delta / np.float32(x.shape[0])
    grads: Params = []
    for layer in range(len(params) - 1, -1, -1):
        a = activations[layer]
        if per_example:
            grads.append((np.einsum("bi,bj->bij", a, delta), delta))
        else:
            grads.append((a.T @ delta, delta.sum(axis=0)))
        if layer > 0:
            delta = (delta @ params[layer][0].T) * (1 - a * a)
    loss = per_example_loss if per_example else per_example_loss.mean()
    return loss, grads[::-1]


def numpy_step(params: Params, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, Params]:
    """W3 in NumPy: backpropagation and the SGD update."""
    value, grads = numpy_backprop(params, x, y)
    lr = np.float32(LEARNING_RATE)
    pairs = zip(params, grads, strict=True)
    return value, [(w - lr * gw, b - lr * gb) for (w, b), (gw, gb) in pairs]


def _check(what: str, got: Any, want: Any) -> None:
    """fxgrad's pytree of arrays against the NumPy reference, at float32 tolerances."""
    got_leaves = fxgrad.tree_util.tree_leaves(got)
    want_leaves = fxgrad.tree_util.tree_leaves(want)
    assert len(got_leaves) == len(want_leaves), what
    for g, w in zip(got_leaves, want_leaves, strict=True):
        np.testing.assert_allclose(np.asarray(g), w, rtol=2e-4, atol=2e-5, err_msg=what)


def _torch_loss(torch: Any) -> Callable:
    def loss(params: Params, x: Any, y: Any) -> Any:
        h = x
        for w, b in params[:-1]:
            h = torch.tanh(h @ w + b)
        w, b = params[-1]
        log_probs = torch.log_softmax(h @ w + b, dim=-1)
        return -(log_probs * y).sum(dim=-1).mean()

    return loss


def _torch_step(torch: Any, params: Params, x: np.ndarray, y: np.ndarray) -> Callable:
    tparams = [
        (torch.tensor(w, requires_grad=True), torch.tensor(b, requires_grad=True))
        for w, b in params
    ]
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)
    loss = _torch_loss(torch)
    leaves = [p for layer in tparams for p in layer]

    def step() -> Any:
        value = loss(tparams, tx, ty)
        value.backward()
        with torch.no_grad():
            for p in leaves:
                p -= LEARNING_RATE * p.grad
                p.grad = None
        return value

    return step


# --- W3 ---------------------------------------------------------------------------------


def _w3(settings: Settings, jax: Any | None, torch: Any | None) -> Table:
    table = versus_table(
        "W3: jitted training step (value_and_grad + SGD), MLP 64-256-256-10, batch 128"
    )
    params, (x, y) = init_params(), make_batch()
    step = fxgrad.jit(make_step(fxgrad, make_loss(fnp)))
    fparams = fxgrad.tree_util.tree_map(fnp.asarray, params)
    fx, fy = fnp.asarray(x), fnp.asarray(y)
    _check("W3 step", step(fparams, fx, fy), numpy_step(params, x, y))
    calls: dict[str, Callable[[], Any]] = {
        "fxgrad": lambda: step(fparams, fx, fy),
        "numpy": lambda: numpy_step(params, x, y),
    }
    if jax is not None:
        jstep = jax.jit(make_step(jax, make_loss(jax.numpy)))
        jparams = jax.tree_util.tree_map(jax.numpy.asarray, params)
        jx, jy = jax.numpy.asarray(x), jax.numpy.asarray(y)
        calls["jax"] = block(lambda: jstep(jparams, jx, jy))
    if torch is not None:
        calls["torch"] = _torch_step(torch, params, x, y)
    table.add("train step", measure_all(calls, settings))
    return table


# --- W6 ---------------------------------------------------------------------------------


def _w6(settings: Settings, jax: Any | None, torch: Any | None) -> Table:
    table = versus_table(
        "W6: per-example gradients jit(vmap(grad(loss), in_axes=(None, 0, 0))), batch 128"
    )
    params, (x, y) = init_params(), make_batch()
    per_example = fxgrad.jit(fxgrad.vmap(fxgrad.grad(make_loss(fnp)), in_axes=(None, 0, 0)))
    fparams = fxgrad.tree_util.tree_map(fnp.asarray, params)
    fx, fy = fnp.asarray(x), fnp.asarray(y)
    _check("W6 grads", per_example(fparams, fx, fy), numpy_backprop(params, x, y, True)[1])
    calls: dict[str, Callable[[], Any]] = {
        "fxgrad": lambda: per_example(fparams, fx, fy),
        "numpy": lambda: numpy_backprop(params, x, y, per_example=True),
    }
    if jax is not None:
        jloss = make_loss(jax.numpy)
        jfn = jax.jit(jax.vmap(jax.grad(jloss), in_axes=(None, 0, 0)))
        jparams = jax.tree_util.tree_map(jax.numpy.asarray, params)
        jx, jy = jax.numpy.asarray(x), jax.numpy.asarray(y)
        calls["jax"] = block(lambda: jfn(jparams, jx, jy))
    if torch is not None:
        tfn = torch.func.vmap(torch.func.grad(_torch_loss(torch)), in_dims=(None, 0, 0))
        tparams = [(torch.from_numpy(w), torch.from_numpy(b)) for w, b in params]
        tx, ty = torch.from_numpy(x), torch.from_numpy(y)
        calls["torch"] = lambda: tfn(tparams, tx, ty)
    table.add("per-example grads", measure_all(calls, settings))
    return table


@register("training", "MLP training step (W3) and per-example gradients (W6)")
def run(settings: Settings) -> list[Table]:
    jax, torch = load_jax(), load_torch()
    return [_w3(settings, jax, torch), _w6(settings, jax, torch)]
