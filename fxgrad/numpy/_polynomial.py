"""NumPy's polynomial helpers on coefficient arrays (highest power first).

``polyval`` (Horner's rule), ``polyadd``/``polysub``/``polymul``/``polydiv``,
``polyder``/``polyint``, ``polyfit`` (least squares on a column-scaled Vandermonde
matrix, as NumPy), ``poly`` (coefficients from roots) and ``roots`` (eigenvalues of the
companion matrix), plus ``vander``.

Shapes only depend on the coefficient counts, so everything but ``roots`` (which strips
zero coefficients and needs the non-symmetric eigensolver) works under ``jit`` and
differentiates. As in JAX, ``polymul`` and ``polydiv`` keep leading zeros unless
``trim_leading_zeros=True`` (which needs concrete values), and ``polydiv`` returns a
remainder as long as the dividend: NumPy trims both, which makes the output shape depend
on the values.
"""

from __future__ import annotations

import operator
from typing import Any

import numpy as np

from fxgrad import core
from fxgrad.errors import ConcretizationError, ShapeError
from fxgrad.numpy import _joining as joining
from fxgrad.numpy import _reductions as red
from fxgrad.numpy import _shape_ops as shp
from fxgrad.numpy import _ufuncs as uf
from fxgrad.numpy._creation import ones, zeros
from fxgrad.numpy._util import asarray_value, promote_dtypes

__all__ = [
    "poly",
    "polyadd",
    "polyder",
    "polydiv",
    "polyfit",
    "polyint",
    "polymul",
    "polysub",
    "polyval",
    "roots",
    "vander",
]


def _coefficients(p: Any, fn_name: str, min_ndim_only: bool = False) -> Any:
    """``p`` as at least 1-D coefficients (exactly 1-D unless ``min_ndim_only``).

    NumPy's ``polyval``/``polyadd``/``polysub`` also take n-D ``p``: ``p[i]`` is then the
    (array-valued) i-th coefficient.
    """
    p = asarray_value(p)
    if p.ndim == 0:
        p = p.reshape((1,))
    if p.ndim != 1 and not min_ndim_only:
        raise ShapeError(f"fxgrad.numpy.{fn_name}: expected 1-D coefficients, got shape {p.shape}")
    return p


def _trim_leading_zeros(p: Any, fn_name: str) -> Any:
    value = core.concrete_value(p)
    if value is None:
        raise ConcretizationError(
            f"fxgrad.numpy.{fn_name}: trim_leading_zeros=True needs concrete coefficients, "
            "but they are traced here (inside jit or vmap); leave trim_leading_zeros=False"
        )
    nonzero = np.flatnonzero(np.asarray(value) != 0)
    start = int(nonzero[0]) if nonzero.size else max(p.shape[0] - 1, 0)
    return p[start:]


def vander(x: Any, N: int | None = None, increasing: bool = False) -> Any:  # noqa: N803
    """The Vandermonde matrix of the 1-D ``x``: columns ``x**(N-1), ..., x, 1``.

    Powers are built by repeated multiplication, so the derivative at 0 is exact.

    Example:
      >>> import fxgrad.numpy as fnp
      >>> fnp.vander(fnp.array([1, 2, 3]), 3)
      Array([[1, 1, 1],
             [4, 2, 1],
             [9, 3, 1]], dtype=int64)
    """
    x = asarray_value(x)
    if x.ndim != 1:
        raise ShapeError(f"fxgrad.numpy.vander: x must be 1-D, got shape {tuple(x.shape)}")
    n = x.shape[0] if N is None else operator.index(N)
    if n < 0:
        raise ValueError("fxgrad.numpy.vander: N must be non-negative")
    columns = []
    power = ones(x.shape, x.dtype)
    for _ in range(n):
        columns.append(power)
        power = power * x
    if not columns:
        return zeros((x.shape[0], 0), x.dtype)
    if not increasing:
        columns = columns[::-1]
    return joining.stack(columns, axis=1)


def polyval(p: Any, x: Any, *, unroll: int = 16) -> Any:
    """The polynomial with coefficients ``p`` evaluated at ``x`` (Horner's rule).

    Example:
      >>> import fxgrad.numpy as fnp
      >>> fnp.polyval(fnp.array([3.0, 0.0, 1.0]), fnp.array([1.0, 2.0]))
      Array([ 4., 13.], dtype=float64)
    """
    del unroll
    p = _coefficients(p, "polyval", min_ndim_only=True)
    p, x = promote_dtypes(p, asarray_value(x))
    y = zeros(x.shape, x.dtype)
    for i in range(p.shape[0]):
        y = y * x + p[i]
    return y


def _aligned(a1: Any, a2: Any, fn_name: str) -> tuple[Any, Any]:
    a1 = _coefficients(a1, fn_name, min_ndim_only=True)
    a2 = _coefficients(a2, fn_name, min_ndim_only=True)
    a1, a2 = promote_dtypes(a1, a2)
    n = max(a1.shape[0], a2.shape[0])
    a1 = joining.pad(a1, [(n - a1.shape[0], 0)] + [(0, 0)] * (a1.ndim - 1))
    a2 = joining.pad(a2, [(n - a2.shape[0], 0)] + [(0, 0)] * (a2.ndim - 1))
    return a1, a2


def polyadd(a1: Any, a2: Any) -> Any:
    """The sum of two polynomials (``numpy.polyadd``).

    Example:
      >>> import fxgrad.numpy as fnp
      >>> fnp.polyadd(fnp.array([1, 2]), fnp.array([9, 5, 4]))
      Array([9, 6, 6], dtype=int64)
    """
    a1, a2 = _aligned(a1, a2, "polyadd")
    return a1 + a2


def polysub(a1: Any, a2: Any) -> Any:
    """The difference of two polynomials (``numpy.polysub``)."""
    a1, a2 = _aligned(a1, a2, "polysub")
    return a1 - a2


def _convolve_full(a: Any, b: Any) -> Any:
    """The full convolution of two 1-D coefficient arrays, as a sum of shifted products."""
    n, m = a.shape[0], b.shape[0]
    out = zeros((n + m - 1,), a.dtype)
    for i in range(m):
        out = out + joining.pad(a * b[i], [(i, m - 1 - i)])
    return out


def polymul(a1: Any, a2: Any, *, trim_leading_zeros: bool = False) -> Any:
    """The product of two polynomials (``numpy.polymul``).

    Example:
      >>> import fxgrad.numpy as fnp
      >>> fnp.polymul(fnp.array([1.0, 2.0]), fnp.array([1.0, -2.0]))
      Array([ 1.,  0., -4.], dtype=float64)
    """
    a1, a2 = promote_dtypes(_coefficients(a1, "polymul"), _coefficients(a2, "polymul"))
    if trim_leading_zeros:
        a1, a2 = _trim_leading_zeros(a1, "polymul"), _trim_leading_zeros(a2, "polymul")
    if a1.shape[0] == 0 or a2.shape[0] == 0:
        return zeros((0,), a1.dtype)
    return _convolve_full(a1, a2)


def polydiv(u: Any, v: Any, *, trim_leading_zeros: bool = False) -> tuple[Any, Any]:
    """Quotient and remainder of polynomial division (``numpy.polydiv``).

    The remainder keeps the length of ``u`` (leading entries zero) unless
    ``trim_leading_zeros=True``, as in JAX; NumPy trims it.

    Example:
      >>> import fxgrad.numpy as fnp
      >>> q, r = fnp.polydiv(fnp.array([1.0, 0.0, -4.0]), fnp.array([1.0, 2.0]))
      >>> q, r
      (Array([ 1., -2.], dtype=float64), Array([0., 0., 0.], dtype=float64))
    """
    u, v = promote_dtypes(_coefficients(u, "polydiv"), _coefficients(v, "polydiv"))
    if u.dtype.kind not in "fc":
        u, v = u.astype(np.float64), v.astype(np.float64)
    if trim_leading_zeros:
        v = _trim_leading_zeros(v, "polydiv")
    m, n = u.shape[0] - 1, v.shape[0] - 1
    scale = 1.0 / v[0]
    q = zeros((max(m - n + 1, 1),), u.dtype)
    r = u
    for k in range(0, m - n + 1):
        d = scale * r[k]
        q = q.at[k].set(d)
        r = r - joining.pad(d * v, [(k, m - n - k)])
    r = r.at[: m - n + 1].set(0) if m >= n else r
    if trim_leading_zeros:
        r = _trim_leading_zeros(r, "polydiv")
    return q, r


def polyder(p: Any, m: int = 1) -> Any:
    """The ``m``-th derivative of a polynomial (``numpy.polyder``).

    Example:
      >>> import fxgrad.numpy as fnp
      >>> fnp.polyder(fnp.array([1.0, 1.0, 1.0, 1.0]), 2)
      Array([6., 2.], dtype=float64)
    """
    m = operator.index(m)
    if m < 0:
        raise ValueError("fxgrad.numpy.polyder: order of derivative must be positive")
    p = _coefficients(p, "polyder")
    for _ in range(m):
        n = p.shape[0] - 1
        if n <= 0:
            return p[:0]
        p = p[:-1] * asarray_value(np.arange(n, 0, -1)).astype(p.dtype)
    return p


def polyint(p: Any, m: int = 1, k: Any = None) -> Any:
    """The ``m``-th antiderivative, with integration constants ``k`` (``numpy.polyint``).

    Example:
      >>> import fxgrad.numpy as fnp
      >>> fnp.polyint(fnp.array([3.0, 2.0, 1.0]), k=5.0)
      Array([1., 1., 1., 5.], dtype=float64)
    """
    m = operator.index(m)
    if m < 0:
        raise ValueError("fxgrad.numpy.polyint: order of integral must be positive")
    p = _coefficients(p, "polyint")
    if p.dtype.kind not in "fc":
        p = p.astype(np.float64)
    if k is None:
        constants = zeros((m,), p.dtype)
    else:
        constants = shp.ravel(asarray_value(k)).astype(p.dtype)
        if constants.shape[0] == 1 and m > 1:
            constants = shp.broadcast_to(constants, (m,))
        if constants.shape[0] != m:
            raise ValueError("fxgrad.numpy.polyint: k must be a scalar or have length m")
    for i in range(m):
        powers = asarray_value(np.arange(p.shape[0], 0, -1)).astype(p.dtype)
        p = joining.concatenate([p / powers, constants[i : i + 1]])
    return p


def polyfit(
    x: Any,
    y: Any,
    deg: int,
    rcond: float | None = None,
    full: bool = False,
    w: Any = None,
    cov: bool | str = False,
) -> Any:
    """Least-squares polynomial fit of degree ``deg`` (``numpy.polyfit``).

    Solves the weighted Vandermonde system with columns scaled to unit norm, as NumPy
    does. ``y`` may be 2-D (one fit per column). ``full`` also returns
    ``(residuals, rank, singular_values, rcond)``; ``cov`` the covariance of the
    coefficients (``'unscaled'`` omits the residual factor).

    Example:
      >>> import fxgrad.numpy as fnp
      >>> x = fnp.array([0.0, 1.0, 2.0, 3.0])
      >>> fnp.polyfit(x, 2 * x ** 2 - 1, 2).round(6)
      Array([ 2., -0., -1.], dtype=float64)
    """
    from fxgrad.numpy import linalg

    deg = operator.index(deg)
    if deg < 0:
        raise ValueError("fxgrad.numpy.polyfit: expected deg >= 0")
    x, y = promote_dtypes(asarray_value(x), asarray_value(y))
    if x.dtype.kind not in "fc":
        x, y = x.astype(np.float64), y.astype(np.float64)
    if x.ndim != 1 or x.shape[0] == 0:
        raise ShapeError("fxgrad.numpy.polyfit: expected a non-empty 1-D x")
    if y.ndim not in (1, 2) or y.shape[0] != x.shape[0]:
        raise ShapeError("fxgrad.numpy.polyfit: expected 1-D or 2-D y with len(y) == len(x)")
    order = deg + 1
    if rcond is None:
        rcond = x.shape[0] * float(np.finfo(x.dtype).eps)
    lhs, rhs = vander(x, order), y
    if w is not None:
        w = asarray_value(w).astype(x.dtype)
        if w.ndim != 1 or w.shape[0] != x.shape[0]:
            raise ShapeError("fxgrad.numpy.polyfit: expected a 1-D w with len(w) == len(x)")
        lhs = lhs * w[:, None]
        rhs = rhs * (w if rhs.ndim == 1 else w[:, None])
    scale = uf.sqrt(red.sum(lhs * lhs, axis=0))
    lhs = lhs / scale
    c, resids, rank, s = linalg.lstsq(lhs, rhs, rcond, numpy_resid=full)
    c = (c.T / scale).T
    if full:
        return c, resids, rank, s, rcond
    if not cov:
        return c
    base = linalg.inv(lhs.T @ lhs) / (scale[:, None] * scale[None, :])
    if cov == "unscaled":
        factor = 1.0
    else:
        if x.shape[0] <= order:
            raise ValueError(
                "fxgrad.numpy.polyfit: the number of data points must exceed the order to "
                "scale the covariance matrix"
            )
        residual = red.sum((lhs @ (c.T * scale).T - rhs) ** 2, axis=0)
        factor = residual / (x.shape[0] - order)
    if y.ndim == 1:
        return c, base * factor
    return c, base[:, :, None] * factor


def poly(seq_of_zeros: Any) -> Any:
    """The coefficients of the monic polynomial with the given roots (``numpy.poly``).

    A square matrix stands for its eigenvalues (needs the eager eigensolver).

    Example:
      >>> import fxgrad.numpy as fnp
      >>> fnp.poly(fnp.array([1.0, 2.0]))
      Array([ 1., -3.,  2.], dtype=float64)
    """
    from fxgrad.numpy import linalg

    zeros_ = asarray_value(seq_of_zeros)
    if zeros_.ndim == 2 and zeros_.shape[0] == zeros_.shape[1] and zeros_.shape[0] != 0:
        zeros_ = linalg.eigvals(zeros_)
    elif zeros_.ndim != 1:
        raise ShapeError("fxgrad.numpy.poly: input must be 1-D or a non-empty square 2-D array")
    if zeros_.dtype.kind not in "fc":
        zeros_ = zeros_.astype(np.float64)
    coeffs = ones((1,), zeros_.dtype)
    for i in range(zeros_.shape[0]):
        coeffs = _convolve_full(coeffs, joining.stack([ones((), zeros_.dtype), -zeros_[i]]))
    if coeffs.dtype.kind == "c":
        value = core.concrete_value(zeros_)
        if value is not None:
            roots_ = np.asarray(value)
            pos = np.sort_complex(roots_[roots_.imag > 0])
            neg = np.sort_complex(np.conjugate(roots_[roots_.imag < 0]))
            if pos.shape == neg.shape and np.all(pos == neg):
                coeffs = coeffs.real
    return coeffs


def roots(p: Any, *, strip_zeros: bool = True) -> Any:
    """The roots of the polynomial with coefficients ``p`` (``numpy.roots``; eager only).

    Leading and trailing zero coefficients are stripped (trailing ones are roots at 0),
    then the companion matrix's eigenvalues are computed (``fxgrad.numpy.linalg.eigvals``);
    they are real when all of them are, as in NumPy.

    Example:
      >>> import fxgrad.numpy as fnp
      >>> fnp.sort(fnp.roots(fnp.array([1.0, -3.0, 2.0])).real)
      Array([1., 2.], dtype=float64)
    """
    from fxgrad.numpy import linalg

    del strip_zeros
    p = _coefficients(p, "roots")
    value = core.concrete_value(p)
    if value is None:
        raise ConcretizationError(
            "fxgrad.numpy.roots: the number of roots depends on which coefficients are zero, "
            "and the coefficients are traced here (inside jit or vmap). Call roots outside "
            "jit/vmap, or build the companion matrix and use fnp.linalg.eigvals."
        )
    nonzero = np.flatnonzero(np.asarray(value) != 0)
    if nonzero.size == 0:
        return zeros((0,), np.float64)
    trailing = p.shape[0] - int(nonzero[-1]) - 1
    p = p[int(nonzero[0]) : int(nonzero[-1]) + 1]
    if p.dtype.kind not in "fc":
        p = p.astype(np.float64)
    n = p.shape[0]
    if n > 1:
        companion = joining.concatenate(
            [(-p[1:] / p[0])[None, :], asarray_value(np.eye(n - 2, n - 1, dtype=p.dtype))]
        )
        found = linalg.eigvals(companion)
    else:
        found = zeros((0,), p.dtype)
    if found.dtype.kind == "c" and not np.any(np.asarray(core.concrete_value(found)).imag):
        found = found.real  # NumPy's eigvals returns real values when all of them are
    if trailing:
        found = joining.concatenate([found, zeros((trailing,), found.dtype)])
    return found
