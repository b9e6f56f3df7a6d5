"""Checking derivatives against finite differences: ``check_grads`` and friends.

``check_jvp`` compares a forward-mode tangent, in one random direction, with the
central difference ``(f(x + eps t) - f(x - eps t)) / (2 eps)``. ``check_vjp`` checks
the defining identity of the adjoint, ``<J t, c> == <t, J^T c>``, with ``J t`` from
finite differences and ``J^T c`` from reverse mode. For complex values the inner
product is ``Re(sum(conj(x) * y))`` and, following JAX's convention, the cotangent is
conjugated on the way in and out. ``check_grads`` applies these recursively to any
order, so ``order=2`` also checks the derivatives of the derivative functions.

Tolerances depend on the dtype (``default_tolerance``); they can be overridden per
call with ``atol``/``rtol``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from fxgrad.tree_util import tree_leaves, tree_map, tree_reduce

__all__ = [
    "EPS",
    "check_close",
    "check_grads",
    "check_jvp",
    "check_vjp",
    "default_tolerance",
    "numerical_jvp",
]

EPS = 1e-4

#: absolute and relative tolerance of gradient checks, by dtype
default_tolerance: dict[np.dtype, float] = {
    np.dtype(np.float16): 1e-1,
    np.dtype(np.float32): 2e-2,
    np.dtype(np.float64): 1e-5,
    np.dtype(np.complex64): 2e-2,
    np.dtype(np.complex128): 1e-5,
}


def _np(x: Any) -> np.ndarray:
    return np.asarray(x)


def _tolerance(dtype: np.dtype, override: float | None) -> float:
    if override is not None:
        return override
    return default_tolerance.get(np.dtype(dtype), 1e-5)


def check_close(
    actual: Any,
    expected: Any,
    atol: float | None = None,
    rtol: float | None = None,
    err_msg: str = "",
) -> None:
    """Assert that two pytrees of arrays are close, with per-dtype default tolerances."""

    def check(a, e):
        a, e = _np(a), _np(e)
        dtype = np.result_type(a.dtype, e.dtype) if a.dtype.kind in "fc" else e.dtype
        tol_a = _tolerance(dtype, atol)
        tol_r = _tolerance(dtype, rtol)
        np.testing.assert_allclose(a, e, atol=tol_a, rtol=tol_r, err_msg=err_msg)

    tree_map(check, actual, expected)


def _scalar_mul(xs: Any, a: float) -> Any:
    return tree_map(lambda x: _np(x) * np.asarray(a, dtype=_np(x).dtype), xs)


def _add(xs: Any, ys: Any) -> Any:
    return tree_map(lambda x, y: (_np(x) + _np(y)).astype(_np(x).dtype), xs, ys)


def _sub(xs: Any, ys: Any) -> Any:
    return tree_map(lambda x, y: (_np(x) - _np(y)).astype(_np(x).dtype), xs, ys)


def _conj(xs: Any) -> Any:
    return tree_map(lambda x: np.conj(_np(x)), xs)


def _inner_prod(xs: Any, ys: Any) -> float:
    def contract(x, y):
        x, y = _np(x), _np(y)
        if x.dtype.kind == "V" or y.dtype.kind == "V":  # float0
            return 0.0
        return float(np.real(np.dot(np.conj(x).reshape(-1), y.reshape(-1))))

    return tree_reduce(lambda a, b: a + b, tree_map(contract, xs, ys), 0.0)


def _rand_like(rng: np.random.RandomState, x: Any) -> np.ndarray:
    x = _np(x)
    if x.dtype.kind == "c":
        out = rng.randn(*x.shape) + 1j * rng.randn(*x.shape)
    elif x.dtype.kind == "f":
        out = rng.randn(*x.shape)
    else:
        return np.zeros(x.shape, x.dtype)
    return np.asarray(out, dtype=x.dtype)


def numerical_jvp(
    f: Callable, primals: Sequence[Any], tangents: Sequence[Any], eps: float = EPS
) -> Any:
    """The central-difference approximation of the JVP of ``f`` at ``primals``."""
    delta = _scalar_mul(tangents, eps)
    f_pos = f(*_add(primals, delta))
    f_neg = f(*_sub(primals, delta))
    return tree_map(
        lambda p, n: ((_np(p) - _np(n)) / np.asarray(2 * eps, dtype=_np(p).dtype)).astype(
            _np(p).dtype
        ),
        f_pos,
        f_neg,
    )


def _float_args(args: Sequence[Any]) -> tuple[Any, ...]:
    return tuple(tree_map(lambda x: _np(x), tuple(args)))


def check_jvp(
    f: Callable,
    f_jvp: Callable,
    args: Sequence[Any],
    atol: float | None = None,
    rtol: float | None = None,
    eps: float = EPS,
    err_msg: str = "",
) -> None:
    """Check ``f_jvp(args, tangents) -> (out, out_tangent)`` against finite differences."""
    rng = np.random.RandomState(0)
    args = _float_args(args)
    tangent = tree_map(lambda x: _rand_like(rng, x), args)
    v_out, t_out = f_jvp(args, tangent)
    check_close(v_out, f(*args), atol=atol, rtol=rtol, err_msg=f"{err_msg} primal output")
    t_out_expected = numerical_jvp(f, args, tangent, eps=eps)
    check_close(
        t_out,
        t_out_expected,
        atol=atol,
        rtol=rtol,
        err_msg=f"{err_msg} tangent vs finite differences (eps={eps})",
    )


def check_vjp(
    f: Callable,
    f_vjp: Callable,
    args: Sequence[Any],
    atol: float | None = None,
    rtol: float | None = None,
    eps: float = EPS,
    err_msg: str = "",
) -> None:
    """Check ``f_vjp(*args) -> (out, vjp_fun)`` with ``<J t, c> == <t, J^T c>``."""
    rng = np.random.RandomState(0)
    args = _float_args(args)
    v_out, vjpfun = f_vjp(*args)
    check_close(v_out, f(*args), atol=atol, rtol=rtol, err_msg=f"{err_msg} primal output")
    tangent = tree_map(lambda x: _rand_like(rng, x), args)
    tangent_out = numerical_jvp(f, args, tangent, eps=eps)
    cotangent = tree_map(lambda x: _rand_like(rng, x), v_out)
    cotangent_out = _conj(vjpfun(_conj(cotangent)))
    ip = _inner_prod(tangent, cotangent_out)
    ip_expected = _inner_prod(tangent_out, cotangent)
    dtypes = [_np(x).dtype for x in tree_leaves(v_out)] or [np.dtype(np.float64)]
    worst = max(dtypes, key=lambda d: _tolerance(d, None))
    tol_a = _tolerance(worst, atol)
    tol_r = _tolerance(worst, rtol)
    np.testing.assert_allclose(
        ip,
        ip_expected,
        atol=tol_a,
        rtol=tol_r,
        err_msg=f"{err_msg} <t, J^T c> vs <J t, c> (finite differences, eps={eps})",
    )


def check_grads(
    f: Callable,
    args: Sequence[Any],
    order: int,
    modes: Sequence[str] = ("fwd", "rev"),
    atol: float | None = None,
    rtol: float | None = None,
    eps: float | None = None,
) -> None:
    """Check derivatives of ``f`` at ``args`` up to ``order``, in forward and/or reverse mode.

    Args:
      f: function of the positional ``args`` (pytrees of arrays) returning arrays.
      args: the point at which to check.
      order: 1 checks first derivatives; 2 also checks the derivatives of the JVP and
        VJP functions themselves, and so on.
      modes: ``"fwd"`` (JVP) and/or ``"rev"`` (VJP).
      atol, rtol: tolerances (default: by dtype, ``default_tolerance``).
      eps: finite-difference step (default ``EPS``).

    Raises:
      AssertionError: naming the mode, order and mismatch when a check fails.

    Example:
      >>> import fxgrad.numpy as fnp
      >>> from fxgrad.test_util import check_grads
      >>> check_grads(fnp.sin, (0.5,), order=2)
    """
    from fxgrad.api import jvp, vjp

    eps = eps or EPS
    for mode in modes:
        if mode not in ("fwd", "rev"):
            raise ValueError(f"check_grads: unknown mode {mode!r}; use 'fwd' and/or 'rev'")

    def _check(fun: Callable, fun_args: Sequence[Any], order_left: int, level: int) -> None:
        if "fwd" in modes:

            def f_jvp(a, t):
                return jvp(fun, a, t)

            check_jvp(
                fun,
                f_jvp,
                fun_args,
                atol,
                rtol,
                eps,
                err_msg=f"JVP (forward mode) at derivative order {level}:",
            )
            if order_left > 1:

                def fun_jvp(*a_and_t):
                    n = len(a_and_t) // 2
                    return jvp(fun, tuple(a_and_t[:n]), tuple(a_and_t[n:]))

                rng = np.random.RandomState(1)
                tangent = tree_map(lambda x: _rand_like(rng, x), _float_args(fun_args))
                _check(fun_jvp, (*fun_args, *tangent), order_left - 1, level + 1)
        if "rev" in modes:
            check_vjp(
                fun,
                lambda *a: vjp(fun, *a),
                fun_args,
                atol,
                rtol,
                eps,
                err_msg=f"VJP (reverse mode) at derivative order {level}:",
            )
            if order_left > 1:

                def fun_vjp(a, ct):
                    return vjp(fun, *a)[1](ct)

                out = fun(*fun_args)
                rng = np.random.RandomState(2)
                cotangent = tree_map(lambda x: _rand_like(rng, x), out)
                _check(
                    fun_vjp, (tuple(_float_args(fun_args)), cotangent), order_left - 1, level + 1
                )

    _check(f, tuple(args), order, 1)
