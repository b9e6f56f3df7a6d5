"""Per-call overhead: eager ops, eager grad, and calls to a jitted function.

On tiny arrays the arithmetic is free and what is measured is everything around it:
dispatch through ``bind``, wrapping results in ``Array``, tracing for ``grad``, and the
cache lookup of ``jit``. Three tables:

1. An eager ``fxgrad.numpy`` op (add, exp, sum, matmul) on shapes (4,) and (100,),
   against the same NumPy call and JAX's eager (un-jitted) ``jax.numpy`` call.
2. Eager ``grad`` of ``sum(tanh(x * w + b))`` on 10-element arrays, against HIPS
   autograd and JAX's eager ``jax.grad``, with the hand-written NumPy gradient as a floor.
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

from ._timing import Settings, Table, measure, register


def _optional(name: str) -> Any | None:
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def _load_jax() -> Any | None:
    jax = _optional("jax")
    if jax is not None:
        jax.config.update("jax_enable_x64", True)
    return jax


def _jax_call(fn: Callable[[], Any]) -> Callable[[], Any]:
    """A JAX call that waits for its (asynchronously dispatched) result."""

    def call() -> Any:
        return fn().block_until_ready()

    return call


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
        calls["add"]["jax"] = _jax_call(lambda: jx + jy)
        calls["exp"]["jax"] = _jax_call(lambda: jnp.exp(jx))
        calls["sum"]["jax"] = _jax_call(lambda: jnp.sum(jx))
        calls["matmul"]["jax"] = _jax_call(lambda: jm @ jx)
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
            times = {lib: measure(fn, settings) for lib, fn in calls[name].items()}
            table.add(f"{name} {shape}", times)
    return table


def _tanh_layer(tanh: Callable, total: Callable) -> Callable:
    def f(w, b, x):
        return total(tanh(x * w + b))

    return f


def _grad_numpy_by_hand(w: np.ndarray, b: np.ndarray, x: np.ndarray) -> np.ndarray:
    t = np.tanh(x * w + b)
    return (1.0 - t * t) * x


def _eager_grad(settings: Settings, jax: Any | None) -> Table:
    table = Table(
        "Eager grad of sum(tanh(x * w + b)), 10 elements, per call",
        columns=["numpy by hand", "fxgrad", "autograd", "jax"],
        ratios=[("fxgrad", "autograd"), ("fxgrad", "jax")],
    )
    rng = np.random.default_rng(0)
    w, b, x = (rng.normal(size=10) for _ in range(3))
    times: dict[str, float | None] = {
        "numpy by hand": measure(lambda: _grad_numpy_by_hand(w, b, x), settings),
    }
    fw, fb, fx = fnp.asarray(w), fnp.asarray(b), fnp.asarray(x)
    fx_grad = fxgrad.grad(_tanh_layer(fnp.tanh, fnp.sum))
    np.testing.assert_allclose(np.asarray(fx_grad(fw, fb, fx)), _grad_numpy_by_hand(w, b, x))
    times["fxgrad"] = measure(lambda: fx_grad(fw, fb, fx), settings)

    autograd = _optional("autograd")
    if autograd is not None:
        anp = importlib.import_module("autograd.numpy")
        ag_grad = autograd.grad(_tanh_layer(anp.tanh, anp.sum))
        times["autograd"] = measure(lambda: ag_grad(w, b, x), settings)
    if jax is not None:
        jnp = jax.numpy
        jw, jb, jx = jnp.asarray(w), jnp.asarray(b), jnp.asarray(x)
        jax_grad = jax.grad(_tanh_layer(jnp.tanh, jnp.sum))
        times["jax"] = measure(_jax_call(lambda: jax_grad(jw, jb, jx)), settings)
    table.add("grad wrt w", times)
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
        times = {"fxgrad": measure(lambda fn=fn: fn(fw, fb, fx), settings)}
        if name in jax_fns:
            jfn = jax_fns[name]
            times["jax"] = measure(_jax_call(lambda jfn=jfn: jfn(jw, jb, jx)), settings)
        table.add(name, times)
    return table


@register("eager", "per-call overhead of eager ops, eager grad and cached jit calls")
def run(settings: Settings) -> list[Table]:
    jax = _load_jax()
    return [
        _eager_ops(settings, jax),
        _eager_grad(settings, jax),
        _jit_calls(settings, jax),
    ]
