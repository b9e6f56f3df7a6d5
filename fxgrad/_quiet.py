"""Running NumPy code without floating-point warnings, cheaply.

0 * inf, overflow and division by zero are ordinary values in fxgrad (NaN, inf), as in
JAX, which never warns; the test suite turns warnings into errors. ``np.errstate``
costs about 1.7us to enter and leave, too much around every eager operation, so the
error state is set through NumPy's own context variable (about 0.2us), which is also
thread-safe. Other NumPy versions fall back to ``np.errstate``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

try:
    from numpy._core._ufunc_config import _extobj_contextvar, _make_extobj

    _IGNORE_ERRORS = _make_extobj(all="ignore")
except (ImportError, AttributeError, TypeError):  # pragma: no cover - other NumPy versions
    _extobj_contextvar = None


def quiet(fn: Callable) -> Callable:
    """``fn`` wrapped to run without floating-point warnings; the unwrapped function is
    its ``__wrapped__`` (traced pullbacks call that inside one ``ignore_fp_errors``)."""
    if _extobj_contextvar is None:  # pragma: no cover
        wrapped = np.errstate(all="ignore")(fn)
    else:

        def wrapped(*args: Any, **params: Any) -> Any:
            token = _extobj_contextvar.set(_IGNORE_ERRORS)
            try:
                return fn(*args, **params)
            finally:
                _extobj_contextvar.reset(token)

    wrapped.__name__ = getattr(fn, "__name__", "impl")
    wrapped.__wrapped__ = fn
    return wrapped


def ignore_fp_errors() -> Any:
    """Start ignoring floating-point errors in this context; returns the token that
    ``restore_fp_errors`` takes (use ``try``/``finally``)."""
    if _extobj_contextvar is None:  # pragma: no cover
        state = np.errstate(all="ignore")
        state.__enter__()
        return state
    return _extobj_contextvar.set(_IGNORE_ERRORS)


def restore_fp_errors(token: Any) -> None:
    """Undo ``ignore_fp_errors``."""
    if _extobj_contextvar is None:  # pragma: no cover
        token.__exit__(None, None, None)
    else:
        _extobj_contextvar.reset(token)
