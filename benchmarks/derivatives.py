"""Derivative workloads: a jitted Hessian (W7) and the cost of the finite ``where`` rule.

* W7: ``jit(hessian(f))`` for ``f(x) = sum(tanh(A @ x))``, ``x`` of size 100, ``A`` of
  shape (100, 100), float32. NumPy reference: the Hessian by hand,
  ``A.T @ diag(-2 t (1 - t**2)) @ A`` with ``t = tanh(A @ x)``; PyTorch:
  ``torch.func.hessian`` when installed.
* Wwhere: ``jit(grad(lambda x: sum(where(x > 0, sqrt(x), 0.))))`` on 2**20 float32
  elements (half of them negative), with fxgrad's finite-gradient rule for ``where``
  (the default: a zero cotangent annihilates the infinite or NaN partial of the branch not
  taken) and with ``jax_compatible_where_grad=True`` (JAX's rule, NaN there). The NumPy
  reference is the gradient by hand, ``where(x > 0, 0.5 / sqrt(x), 0)``.

fxgrad's results are checked against the NumPy references before timing. Run with
``python -m benchmarks derivatives``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

import fxgrad
import fxgrad.numpy as fnp

from ._libs import block, load_jax, load_torch
from ._timing import Settings, Table, measure_all, register, versus_table

# --- W7 ---------------------------------------------------------------------------------


def tanh_layer_sum(np_like: Any) -> Callable:
    """``f(x, a) = sum(tanh(a @ x))`` written with ``np_like``."""

    def f(x: Any, a: Any) -> Any:
        return np_like.sum(np_like.tanh(a @ x))

    return f


def numpy_hessian(x: np.ndarray, a: np.ndarray) -> np.ndarray:
    """The Hessian of ``sum(tanh(a @ x))`` in ``x``, by hand."""
    t = np.tanh(a @ x)
    curvature = np.float32(-2.0) * t * (1 - t * t)
    return a.T @ (curvature[:, None] * a)


def _w7(settings: Settings, jax: Any | None, torch: Any | None) -> Table:
    table = versus_table("W7: jit(hessian(f)), f(x) = sum(tanh(A @ x)), x float32[100]")
    rng = np.random.default_rng(7)
    n = 100
    a = (rng.standard_normal((n, n)) / np.sqrt(n)).astype(np.float32)
    x = rng.standard_normal(n).astype(np.float32)
    hess = fxgrad.jit(fxgrad.hessian(tanh_layer_sum(fnp)))
    fx, fa = fnp.asarray(x), fnp.asarray(a)
    np.testing.assert_allclose(
        np.asarray(hess(fx, fa)), numpy_hessian(x, a), rtol=1e-4, atol=1e-5, err_msg="W7"
    )
    calls: dict[str, Callable[[], Any]] = {
        "fxgrad": lambda: hess(fx, fa),
        "numpy": lambda: numpy_hessian(x, a),
    }
    if jax is not None:
        jhess = jax.jit(jax.hessian(tanh_layer_sum(jax.numpy)))
        jx, ja = jax.numpy.asarray(x), jax.numpy.asarray(a)
        calls["jax"] = block(lambda: jhess(jx, ja))
    if torch is not None:
        tx, ta = torch.from_numpy(x), torch.from_numpy(a)
        thess = torch.func.hessian(tanh_layer_sum(torch))
        calls["torch"] = lambda: thess(tx, ta)
    table.add("hessian, n = 100", measure_all(calls, settings))
    return table


# --- Wwhere -----------------------------------------------------------------------------


def safe_sqrt_sum(np_like: Any) -> Callable:
    """``sum(where(x > 0, sqrt(x), 0))`` written with ``np_like``."""

    def f(x: Any) -> Any:
        return np_like.sum(np_like.where(x > 0, np_like.sqrt(x), 0.0))

    return f


def numpy_safe_sqrt_grad(x: np.ndarray) -> np.ndarray:
    """The gradient of ``safe_sqrt_sum`` by hand (finite: zero where ``x <= 0``)."""
    positive = x > 0
    root = np.sqrt(np.where(positive, x, np.float32(1)))
    return np.where(positive, np.float32(0.5) / root, np.float32(0))


def _jit_grad_with_where_rule(jax_compatible: bool, x: Any) -> Callable[[], Any]:
    """A call of a fresh ``jit(grad(...))`` traced and run with the given ``where`` rule."""
    grad_fn = fxgrad.jit(fxgrad.grad(safe_sqrt_sum(fnp)))

    def call() -> Any:
        with fxgrad.config.override(jax_compatible_where_grad=jax_compatible):
            return grad_fn(x)

    return call


def _wwhere(settings: Settings, jax: Any | None) -> Table:
    n = 1 << (16 if settings.small else 20)
    table = versus_table(
        f"Wwhere: jit(grad(sum(where(x > 0, sqrt(x), 0)))), float32[2**{n.bit_length() - 1}]"
    )
    x = np.random.default_rng(8).standard_normal(n).astype(np.float32)
    want = numpy_safe_sqrt_grad(x)
    fx = fnp.asarray(x)
    finite = _jit_grad_with_where_rule(False, fx)
    jax_like = _jit_grad_with_where_rule(True, fx)
    np.testing.assert_allclose(np.asarray(finite()), want, rtol=1e-5, err_msg="Wwhere")
    positive = x > 0
    jax_like_grad = np.asarray(jax_like())
    np.testing.assert_allclose(jax_like_grad[positive], want[positive], rtol=1e-5)
    assert np.isnan(jax_like_grad[~positive]).all(), "jax_compatible_where_grad had no effect"

    rules = {"finite rule (default)": finite, "jax_compatible_where_grad": jax_like}
    calls: dict[str, Callable[[], Any]] = {**rules, "numpy": lambda: numpy_safe_sqrt_grad(x)}
    if jax is not None:
        jgrad = jax.jit(jax.grad(safe_sqrt_sum(jax.numpy)))
        jx = jax.numpy.asarray(x)
        calls["jax"] = block(lambda: jgrad(jx))
    times = measure_all(calls, settings)
    for name in rules:
        table.add(name, {"fxgrad": times[name], "numpy": times["numpy"], "jax": times.get("jax")})
    return table


@register("derivatives", "jitted hessian (W7) and the cost of the finite where rule")
def run(settings: Settings) -> list[Table]:
    jax, torch = load_jax(), load_torch()
    return [_w7(settings, jax, torch), _wwhere(settings, jax)]
