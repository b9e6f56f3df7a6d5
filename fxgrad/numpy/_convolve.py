"""``convolve`` and ``correlate`` of 1-d arrays, built on ``lax.conv_general_dilated``.

With ``a`` the longer operand and ``n = len(v)``, both reduce to one correlation
``out[k] = sum_j pad(a)[k + j] * w[j]``, padded by ``(n - 1, n - 1)`` for ``'full'``,
``(n // 2, n - 1 - n // 2)`` for ``'same'`` and nothing for ``'valid'``:

* ``convolve(a, v)`` uses ``w = v[::-1]`` (NumPy swaps the operands when ``v`` is longer);
* ``correlate(a, v)[k] = sum_n a[n + k] * conj(v[n])`` uses ``w = conj(v)``; when ``v`` is
  longer, NumPy correlates ``conj(v)`` with ``a`` and reverses the result.

Dtypes follow NumPy (integers stay integers).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fxgrad.core import get_aval
from fxgrad.errors import ShapeError
from fxgrad.lax import elementwise as ew
from fxgrad.lax import shape as lshape
from fxgrad.lax.conv import conv_general_dilated
from fxgrad.lax.slicing import rev
from fxgrad.numpy._util import asarray_value, promote_dtypes

__all__ = ["convolve", "correlate"]

_MODES = ("full", "same", "valid")


def _correlate_core(x, w, mode, precision, preferred_element_type):
    m, n = get_aval(x).shape[0], get_aval(w).shape[0]
    pads = {"full": (n - 1, n - 1), "same": (n // 2, n - 1 - n // 2), "valid": (0, 0)}[mode]
    out = conv_general_dilated(
        lshape.reshape(x, (1, 1, m)),
        lshape.reshape(w, (1, 1, n)),
        (1,),
        [pads],
        precision=precision,
        preferred_element_type=preferred_element_type,
    )
    return lshape.reshape(out, (get_aval(out).shape[-1],))


def _prepare(name: str, a: Any, v: Any, mode: str):
    if mode not in _MODES:
        raise ValueError(
            f"fxgrad.numpy.{name}: mode must be one of 'full', 'same' or 'valid', got {mode!r}"
        )
    a, v = asarray_value(a), asarray_value(v)
    shapes = (get_aval(a).shape, get_aval(v).shape)
    if len(shapes[0]) != 1 or len(shapes[1]) != 1:
        raise ShapeError(
            f"fxgrad.numpy.{name} only supports 1-dimensional inputs, got shapes {shapes[0]} "
            f"and {shapes[1]}"
        )
    if 0 in (shapes[0][0], shapes[1][0]):
        raise ValueError(
            f"fxgrad.numpy.{name}: inputs cannot be empty, got shapes {shapes[0]} and {shapes[1]}"
        )
    a, v = promote_dtypes(a, v)
    dtype = np.dtype(get_aval(a).dtype)
    if dtype.kind == "b":
        a, v = ew.convert_element_type(a, np.int64), ew.convert_element_type(v, np.int64)
    return a, v, dtype


def _finish(out: Any, dtype: np.dtype) -> Any:
    if dtype.kind == "b":
        return ew.ne(out, ew.full_like_aval(get_aval(out), 0))
    return out


def convolve(
    a: Any,
    v: Any,
    mode: str = "full",
    *,
    precision: Any = None,
    preferred_element_type: Any = None,
) -> Any:
    """Discrete linear convolution of two 1-d arrays (NumPy's ``convolve``).

    Args:
      a, v: 1-d, non-empty arrays (promoted to a common dtype).
      mode: ``'full'`` (length ``M + N - 1``), ``'same'`` (``max(M, N)``) or ``'valid'``
        (``max(M, N) - min(M, N) + 1``).
      precision, preferred_element_type: passed to ``lax.conv_general_dilated``.

    Returns:
      The convolution, differentiable in both operands.

    Example:
      >>> import fxgrad.numpy as fnp
      >>> fnp.convolve(fnp.array([1.0, 2.0, 3.0]), fnp.array([0.0, 1.0, 0.5]))
      Array([0. , 1. , 2.5, 4. , 1.5], dtype=float64)
    """
    a, v, dtype = _prepare("convolve", a, v, mode)
    if get_aval(v).shape[0] > get_aval(a).shape[0]:
        a, v = v, a
    out = _correlate_core(a, rev(v, (0,)), mode, precision, preferred_element_type)
    return _finish(out, dtype)


def correlate(
    a: Any,
    v: Any,
    mode: str = "valid",
    *,
    precision: Any = None,
    preferred_element_type: Any = None,
) -> Any:
    """Cross-correlation of two 1-d arrays, ``c[k] = sum_n a[n + k] * conj(v[n])``
    (NumPy's ``correlate``; note the default mode ``'valid'``).

    Example:
      >>> import fxgrad.numpy as fnp
      >>> fnp.correlate(fnp.array([1.0, 2.0, 3.0]), fnp.array([0.0, 1.0, 0.5]))
      Array([3.5], dtype=float64)
    """
    a, v, dtype = _prepare("correlate", a, v, mode)
    if dtype.kind == "c":
        v = ew.conj(v)
    if get_aval(v).shape[0] > get_aval(a).shape[0]:
        out = rev(_correlate_core(v, a, mode, precision, preferred_element_type), (0,))
    else:
        out = _correlate_core(a, v, mode, precision, preferred_element_type)
    return _finish(out, dtype)
