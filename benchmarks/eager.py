"""Per-call overhead: eager ops, eager grad, and calls to a jitted function.

On tiny arrays the arithmetic is free and what is measured is everything around it:
dispatch through ``bind``, wrapping results in ``Array``, tracing for ``grad``, and the
cache lookup of ``jit``. Three tables:

1. An eager ``fxgrad.numpy`` op (add, exp, sum, matmul) on shapes (4,) and (100,),
   against the same NumPy call and JAX's eager (un-jitted) ``jax.numpy`` call.
2. Eager ``grad`` of ``sum(tanh(x * w + b))`` on 10-element arrays, and of the mean
   squared error of a small MLP (8-16-16-1, tanh, batch 32) with respect to its weights,
   against HIPS autograd and JAX's eager ``jax.grad``, with the hand-written NumPy
   gradient as a floor.
3. A call of an already-compiled ``jit`` function (the same function and its gradient),
   against ``jax.jit``.

All in float64 (JAX with ``jax_enable_x64``). Libraries that are not installed are left
out of the tables.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import numpy as np

import fxgrad
import fxgrad.numpy as fnp

from ._libs import block, load_jax, optional
from ._timing import Settings, Table, measure_all, register

_OPS = ("add", "exp", "sum", "matmul")


def _op_calls(n: int, jnp: Any | None) -> dict[str, dict[str, Callable | None]]:
    """For each op on size-``n`` inputs, the zero-argument call of each library."""
    rng = np.random.default_rng(n)
    x, y = rng.normal(size=n), rng.normal(size=n)
    m = rng.normal(size=(n, n))
    fx, fy, fm = fnp.asarray(x), fnp.asarray(y), fnp.asarray(m)
    calls: dict[str, dict[str, Callable | None]] = {
        "add": {"numpy": lambda: x + y, "fxgrad": lambda: fx + fy},
        "exp": {"numpy": lambda: np.exp(x), "fxgrad": lambda: fnp.exp(fx)},
        "sum": {"numpy": lambda: np.sum(x), "fxgrad": lambda: fnp.sum(fx)},
        "matmul": {"numpy": lambda: m @ x, "fxgrad": lambda: fm @ fx},
    }
    if jnp is not None:
        jx, jy, jm = jnp.asarray(x), jnp.asarray(y), jnp.asarray(m)
        calls["add"]["jax"] = block(lambda: jx + jy)
        calls["exp"]["jax"] = block(lambda: jnp.exp(jx))
        calls["sum"]["jax"] = block(lambda: jnp.sum(jx))
        calls["matmul"]["jax"] = block(lambda: jm @ jx)
    return calls


def _eager_ops(settings: Settings, jax: Any | None) -> Table:
    table = Table(
        "Eager op, per call",
        columns=["numpy", "fxgrad", "jax"],
        ratios=[("fxgrad", "numpy"), ("fxgrad", "jax")],
    )
    jnp = jax.numpy if jax is not None else None
    for n in (4, 100):
        calls = _op_calls(n, jnp)
        for name in _OPS:
            shape = f"({n}, {n}) @ ({n},)" if name == "matmul" else f"({n},)"
            table.add(f"{name} {shape}", measure_all(calls[name], settings))
    return table


def _tanh_layer(tanh: Callable, total: Callable) -> Callable:
    def f(w, b, x):
        return total(tanh(x * w + b))

    return f


def _grad_numpy_by_hand(w: np.ndarray, b: np.ndarray, x: np.ndarray) -> np.ndarray:
    t = np.tanh(x * w + b)
    return (1.0 - t * t) * x


_MLP_SIZES = (8, 16, 16, 1)
_MLP_BATCH = 32


def _mlp_loss(tanh: Callable, mean: Callable) -> Callable:
    """Mean squared error of a tanh MLP, for one library's ``tanh`` and ``mean``."""

    def loss(params, x, y):
        h = x
        for w, b in params[:-1]:
            h = tanh(h @ w + b)
        w, b = params[-1]
        return mean((h @ w + b - y) ** 2)

    return loss


def _mlp_grad_numpy_by_hand(params: list, x: np.ndarray, y: np.ndarray) -> list:
    """The gradient of ``_mlp_loss`` written out with NumPy (backpropagation by hand)."""
    hs = [x]
    for w, b in params[:-1]:
        hs.append(np.tanh(hs[-1] @ w + b))
    w, b = params[-1]
    delta = 2.0 * (hs[-1] @ w + b - y) / y.size
    grads = []
    for i in range(len(params) - 1, -1, -1):
        w, _ = params[i]
        grads.append((hs[i].T @ delta, delta.sum(axis=0)))
        if i:
            delta = (delta @ w.T) * (1.0 - hs[i] * hs[i])
    return grads[::-1]


def _mlp_data() -> tuple[list, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(2)
    params = [
        (rng.normal(size=(m, n)) / np.sqrt(m), rng.normal(size=n) * 0.1)
        for m, n in zip(_MLP_SIZES[:-1], _MLP_SIZES[1:], strict=True)
    ]
    x = rng.normal(size=(_MLP_BATCH, _MLP_SIZES[0]))
    y = rng.normal(size=(_MLP_BATCH, _MLP_SIZES[-1]))
    return params, x, y


def _grad_calls(
    make_loss: Callable, reduce: str, args: tuple, by_hand: Callable, jax: Any | None
) -> dict[str, Callable[[], Any]]:
    """The zero-argument eager ``grad`` call of each library (and of the NumPy gradient
    written by hand) for the loss ``make_loss(lib.tanh, lib.<reduce>)`` at ``args``.

    ``args`` are NumPy pytrees; the gradient is taken with respect to the first. The
    fxgrad gradient is checked against the hand-written one before anything is timed.
    """
    tree_map = fxgrad.tree_util.tree_map
    fx_args = tree_map(fnp.asarray, args)
    fx_grad = fxgrad.grad(make_loss(fnp.tanh, getattr(fnp, reduce)))
    got = fxgrad.tree_util.tree_leaves(fx_grad(*fx_args))
    want = fxgrad.tree_util.tree_leaves(by_hand(*args))
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(np.asarray(g), w, rtol=1e-10, atol=1e-12)
    calls: dict[str, Callable[[], Any]] = {
        "numpy by hand": lambda: by_hand(*args),
        "fxgrad": lambda: fx_grad(*fx_args),
    }
    autograd = optional("autograd")
    if autograd is not None:
        anp = importlib.import_module("autograd.numpy")
        ag_grad = autograd.grad(make_loss(anp.tanh, getattr(anp, reduce)))
        calls["autograd"] = lambda: ag_grad(*args)
    if jax is not None:
        jnp = jax.numpy
        j_args = jax.tree_util.tree_map(jnp.asarray, args)
        jax_grad = jax.grad(make_loss(jnp.tanh, getattr(jnp, reduce)))
        calls["jax"] = block(lambda: jax_grad(*j_args))
    return calls


def _eager_grad(settings: Settings, jax: Any | None) -> Table:
    table = Table(
        "Eager grad, per call",
        columns=["numpy by hand", "fxgrad", "autograd", "jax"],
        ratios=[("fxgrad", "autograd"), ("fxgrad", "jax")],
    )
    rng = np.random.default_rng(0)
    tanh_args = tuple(rng.normal(size=10) for _ in range(3))
    calls = _grad_calls(_tanh_layer, "sum", tanh_args, _grad_numpy_by_hand, jax)
    table.add("sum(tanh(x * w + b)) wrt w, 10 elements", measure_all(calls, settings))
    calls = _grad_calls(_mlp_loss, "mean", _mlp_data(), _mlp_grad_numpy_by_hand, jax)
    table.add("MLP 8-16-16-1 MSE wrt weights, batch 32", measure_all(calls, settings))
    return table


def _jit_calls(settings: Settings, jax: Any | None) -> Table:
    table = Table(
        "Call of a compiled jit function (cache hit), 10 elements, per call",
        columns=["fxgrad", "jax"],
        ratios=[("fxgrad", "jax")],
    )
    rng = np.random.default_rng(1)
    w, b, x = (rng.normal(size=10) for _ in range(3))
    fw, fb, fx = fnp.asarray(w), fnp.asarray(b), fnp.asarray(x)
    f = _tanh_layer(fnp.tanh, fnp.sum)
    fx_fns = {
        "jit(f)": fxgrad.jit(f),
        "jit(grad(f))": fxgrad.jit(fxgrad.grad(f)),
    }
    jax_fns: dict[str, Callable] = {}
    if jax is not None:
        jnp = jax.numpy
        jw, jb, jx = jnp.asarray(w), jnp.asarray(b), jnp.asarray(x)
        jf = _tanh_layer(jnp.tanh, jnp.sum)
        jax_fns = {"jit(f)": jax.jit(jf), "jit(grad(f))": jax.jit(jax.grad(jf))}
    for name, fn in fx_fns.items():
        calls: dict[str, Callable[[], Any]] = {"fxgrad": lambda fn=fn: fn(fw, fb, fx)}
        if name in jax_fns:
            jfn = jax_fns[name]
            calls["jax"] = block(lambda jfn=jfn: jfn(jw, jb, jx))
        table.add(name, measure_all(calls, settings))
    return table


@register("eager", "per-call overhead of eager ops, eager grad and cached jit calls")
def run(settings: Settings) -> list[Table]:
    jax = load_jax()
    return [
        _eager_ops(settings, jax),
        _eager_grad(settings, jax),
        _jit_calls(settings, jax),
    ]
