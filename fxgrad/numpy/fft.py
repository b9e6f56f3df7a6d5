"""``fxgrad.numpy.fft``: NumPy's discrete Fourier transforms, differentiable and batchable.

Every transform crops or zero-pads the transformed axes to the requested lengths
(``n=`` / ``s=``), moves them to the end and calls the ``lax.fft`` primitive, then
applies the normalisation ``norm`` in ``{None, "backward", "ortho", "forward"}``.
Dtypes follow NumPy: float32 (and float16) give complex64, float64, integers and bools
give complex128; ``irfft`` and ``hfft`` return the matching real dtype. Derivatives
follow JAX's complex conventions (see ``fxgrad/lax/fft.py``).

Differences from NumPy: no ``out=`` argument; ``fftfreq``/``rfftfreq`` accept a
``dtype=`` (as JAX's do) and a traced spacing ``d``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from fxgrad import dtypes
from fxgrad.core import get_aval
from fxgrad.errors import ShapeError
from fxgrad.lax import elementwise as ew
from fxgrad.lax import shape as lshape
from fxgrad.lax import slicing as lsl
from fxgrad.lax.fft import FftType
from fxgrad.lax.fft import fft as _lax_fft
from fxgrad.numpy._joining import roll
from fxgrad.numpy._util import asarray_value, canonicalize_axis

__all__ = [
    "fft",
    "fft2",
    "fftfreq",
    "fftn",
    "fftshift",
    "hfft",
    "ifft",
    "ifft2",
    "ifftn",
    "ifftshift",
    "ihfft",
    "irfft",
    "irfft2",
    "irfftn",
    "rfft",
    "rfft2",
    "rfftfreq",
    "rfftn",
]

_NORMS = (None, "backward", "ortho", "forward")


def _check_norm(name: str, norm: str | None) -> None:
    if norm not in _NORMS:
        raise ValueError(
            f"fxgrad.numpy.fft.{name}: invalid norm value {norm!r}; should be None, "
            '"backward", "ortho" or "forward"'
        )


def _norm_factor(norm: str | None, n: int, inverse: bool) -> float | None:
    """The factor applied after the primitive (whose inverse already divides by ``n``)."""
    if norm in (None, "backward"):
        return None
    if norm == "ortho":
        return math.sqrt(n) if inverse else 1.0 / math.sqrt(n)
    return float(n) if inverse else 1.0 / n


def _swap_norm(norm: str | None) -> str:
    """hfft/ihfft apply irfft/rfft with the opposite normalisation."""
    return {None: "forward", "backward": "forward", "ortho": "ortho", "forward": "backward"}[norm]


def _input_dtype(name: str, kind: FftType, dtype: np.dtype) -> np.dtype:
    if kind == FftType.RFFT:
        if dtype.kind == "c":
            raise TypeError(
                f"fxgrad.numpy.fft.{name}: only real-valued inputs are supported, got "
                f"{dtype.name}; take the real part first or use fft"
            )
        real = dtypes.to_inexact_dtype(dtype)
        return np.dtype(np.float32) if real == np.float16 else real
    if dtype.kind in "biu":
        return np.dtype(np.complex128)
    return dtypes.to_complex_dtype(dtype)


def _resize(x: Any, axis: int, length: int) -> Any:
    """Crop or zero-pad axis ``axis`` of ``x`` to ``length``."""
    aval = get_aval(x)
    size = aval.shape[axis]
    if size == length:
        return x
    if size > length:
        return lsl.slice_in_dim(x, 0, length, axis=axis)
    config = [(0, 0, 0)] * aval.ndim
    config[axis] = (0, length - size, 0)
    return lsl.pad(x, np.zeros((), aval.dtype), config)


def _axes_and_lengths(name, kind, shape, s, axes):
    ndim = len(shape)
    if ndim == 0:
        raise ShapeError(
            f"fxgrad.numpy.fft.{name}: cannot transform a 0-d array; pass an array with at "
            "least one axis"
        )
    if axes is None:
        axes = tuple(range(ndim)) if s is None else tuple(range(ndim - len(s), ndim))
    else:
        axes = tuple(canonicalize_axis(ax, ndim, f"fft.{name}") for ax in axes)
    if len(set(axes)) != len(axes):
        raise ValueError(f"fxgrad.numpy.fft.{name} does not support repeated axes, got {axes}")
    defaults = [shape[ax] for ax in axes]
    if kind == FftType.IRFFT and axes:
        defaults[-1] = 2 * (shape[axes[-1]] - 1)
    if s is None:
        lengths = defaults
    else:
        s = [int(n) for n in s]
        if len(s) != len(axes):
            raise ValueError(
                f"fxgrad.numpy.fft.{name}: s {tuple(s)} and axes {axes} have different lengths"
            )
        lengths = [d if n == -1 else n for n, d in zip(s, defaults, strict=True)]
    for n in lengths:
        if n < 1:
            raise ValueError(
                f"fxgrad.numpy.fft.{name}: invalid number of FFT data points ({n}) specified; "
                "the transform lengths n / s must be positive"
            )
    return axes, tuple(lengths)


def _fftn(name: str, kind: FftType, a: Any, s: Any, axes: Any, norm: str | None) -> Any:
    _check_norm(name, norm)
    a = asarray_value(a)
    aval = get_aval(a)
    axes, lengths = _axes_and_lengths(name, kind, aval.shape, s, axes)
    if not axes:
        return a
    a = ew.convert_element_type(a, _input_dtype(name, kind, np.dtype(aval.dtype)))
    in_lengths = list(lengths)
    if kind == FftType.IRFFT:
        in_lengths[-1] = lengths[-1] // 2 + 1
    for ax, n in zip(axes, in_lengths, strict=True):
        a = _resize(a, ax, n)
    ndim = aval.ndim
    perm = [i for i in range(ndim) if i not in axes] + list(axes)
    out = _lax_fft(lshape.transpose(a, perm), kind, lengths)
    out = lshape.transpose(out, [int(i) for i in np.argsort(perm)])
    factor = _norm_factor(norm, math.prod(lengths), kind in (FftType.IFFT, FftType.IRFFT))
    out = out if factor is None else ew.mul(out, factor)
    return _half_if_half(out, kind, aval.dtype)


def _half_if_half(out: Any, kind: FftType, in_dtype: np.dtype) -> Any:
    """NumPy returns float16 from the inverse real transforms of float16 input."""
    if kind == FftType.IRFFT and np.dtype(in_dtype) == np.float16:
        return ew.convert_element_type(out, np.float16)
    return out


def _one_axis(n: int | None, axis: int) -> tuple[Any, tuple[int]]:
    return (None if n is None else (n,)), (axis,)


# --- complex transforms ------------------------------------------------------------------


def fft(a: Any, n: int | None = None, axis: int = -1, norm: str | None = None) -> Any:
    """One-dimensional discrete Fourier transform (NumPy's ``fft.fft``).

    Args:
      a: input array (real inputs are converted to complex).
      n: length of the transformed axis (cropped or zero-padded); default its size.
      axis: the axis to transform.
      norm: ``None``/``"backward"`` (no scaling), ``"ortho"`` or ``"forward"`` (``1/n``).

    Returns:
      A complex array (complex64 for float32 input, else complex128 or the input's
      complex dtype) with axis ``axis`` of length ``n``.

    Example:
      >>> import fxgrad.numpy as fnp
      >>> fnp.fft.fft(fnp.array([1.0, 0.0, 0.0, 0.0]))
      Array([1.+0.j, 1.+0.j, 1.+0.j, 1.+0.j], dtype=complex128)
    """
    s, axes = _one_axis(n, axis)
    return _fftn("fft", FftType.FFT, a, s, axes, norm)


def ifft(a: Any, n: int | None = None, axis: int = -1, norm: str | None = None) -> Any:
    """One-dimensional inverse discrete Fourier transform (NumPy's ``fft.ifft``)."""
    s, axes = _one_axis(n, axis)
    return _fftn("ifft", FftType.IFFT, a, s, axes, norm)


def fftn(
    a: Any,
    s: Sequence[int] | None = None,
    axes: Sequence[int] | None = None,
    norm: str | None = None,
) -> Any:
    """N-dimensional discrete Fourier transform over ``axes`` (all axes by default)."""
    return _fftn("fftn", FftType.FFT, a, s, axes, norm)


def ifftn(
    a: Any,
    s: Sequence[int] | None = None,
    axes: Sequence[int] | None = None,
    norm: str | None = None,
) -> Any:
    """N-dimensional inverse discrete Fourier transform over ``axes``."""
    return _fftn("ifftn", FftType.IFFT, a, s, axes, norm)


def fft2(
    a: Any, s: Sequence[int] | None = None, axes: Sequence[int] = (-2, -1), norm: str | None = None
) -> Any:
    """Two-dimensional discrete Fourier transform (over the last two axes by default)."""
    return _fftn("fft2", FftType.FFT, a, s, axes, norm)


def ifft2(
    a: Any, s: Sequence[int] | None = None, axes: Sequence[int] = (-2, -1), norm: str | None = None
) -> Any:
    """Two-dimensional inverse discrete Fourier transform."""
    return _fftn("ifft2", FftType.IFFT, a, s, axes, norm)


# --- real transforms ---------------------------------------------------------------------


def rfft(a: Any, n: int | None = None, axis: int = -1, norm: str | None = None) -> Any:
    """Discrete Fourier transform of a real signal: the ``n // 2 + 1`` non-negative
    frequencies (NumPy's ``fft.rfft``).

    Example:
      >>> import fxgrad.numpy as fnp
      >>> fnp.fft.rfft(fnp.array([1.0, 2.0, 3.0, 4.0]))
      Array([10.+0.j, -2.+2.j, -2.+0.j], dtype=complex128)
    """
    s, axes = _one_axis(n, axis)
    return _fftn("rfft", FftType.RFFT, a, s, axes, norm)


def irfft(a: Any, n: int | None = None, axis: int = -1, norm: str | None = None) -> Any:
    """Inverse of ``rfft``: a real signal of length ``n`` (default ``2 * (m - 1)``)."""
    s, axes = _one_axis(n, axis)
    return _fftn("irfft", FftType.IRFFT, a, s, axes, norm)


def rfftn(
    a: Any,
    s: Sequence[int] | None = None,
    axes: Sequence[int] | None = None,
    norm: str | None = None,
) -> Any:
    """N-dimensional transform of a real array; the last of ``axes`` is halved."""
    return _fftn("rfftn", FftType.RFFT, a, s, axes, norm)


def irfftn(
    a: Any,
    s: Sequence[int] | None = None,
    axes: Sequence[int] | None = None,
    norm: str | None = None,
) -> Any:
    """Inverse of ``rfftn``; ``s[-1]`` defaults to ``2 * (m - 1)`` on the last axis."""
    return _fftn("irfftn", FftType.IRFFT, a, s, axes, norm)


def rfft2(
    a: Any, s: Sequence[int] | None = None, axes: Sequence[int] = (-2, -1), norm: str | None = None
) -> Any:
    """Two-dimensional ``rfftn``."""
    return _fftn("rfft2", FftType.RFFT, a, s, axes, norm)


def irfft2(
    a: Any, s: Sequence[int] | None = None, axes: Sequence[int] = (-2, -1), norm: str | None = None
) -> Any:
    """Two-dimensional ``irfftn``."""
    return _fftn("irfft2", FftType.IRFFT, a, s, axes, norm)


def hfft(a: Any, n: int | None = None, axis: int = -1, norm: str | None = None) -> Any:
    """Transform of a Hermitian-symmetric signal given by its first half: a real
    spectrum of length ``n`` (default ``2 * (m - 1)``), NumPy's ``fft.hfft``."""
    _check_norm("hfft", norm)
    a = asarray_value(a)
    in_dtype = np.dtype(get_aval(a).dtype)
    a = ew.conj(ew.convert_element_type(a, _input_dtype("hfft", FftType.IRFFT, in_dtype)))
    s, axes = _one_axis(n, axis)
    out = _fftn("hfft", FftType.IRFFT, a, s, axes, _swap_norm(norm))
    return _half_if_half(out, FftType.IRFFT, in_dtype)


def ihfft(a: Any, n: int | None = None, axis: int = -1, norm: str | None = None) -> Any:
    """Inverse of ``hfft``: the ``n // 2 + 1`` first Hermitian coefficients of a real
    signal (NumPy's ``fft.ihfft``)."""
    _check_norm("ihfft", norm)
    s, axes = _one_axis(n, axis)
    return ew.conj(_fftn("ihfft", FftType.RFFT, a, s, axes, _swap_norm(norm)))


# --- helpers -----------------------------------------------------------------------------


def _frequencies(name: str, k: np.ndarray, n: int, d: Any, dtype: Any) -> Any:
    if int(n) != n or n < 1:
        raise ValueError(f"fxgrad.numpy.fft.{name}: n must be a positive integer, got {n!r}")
    dtype = dtypes.default_float_dtype() if dtype is None else dtypes.canonicalize_dtype(dtype)
    k = asarray_value(k.astype(dtype))
    if isinstance(d, (int, float)):
        return ew.mul(k, 1.0 / (n * d))
    d = asarray_value(d)
    if get_aval(d).shape != ():
        raise ShapeError(f"fxgrad.numpy.fft.{name}: d must be a scalar, got shape {d.shape}")
    d = ew.convert_element_type(d, dtype)
    return ew.div(k, lshape.broadcast_in_dim(ew.mul(d, float(n)), get_aval(k).shape, ()))


def fftfreq(n: int, d: Any = 1.0, *, dtype: Any = None, device: Any = None) -> Any:
    """Sample frequencies of ``fft``: ``[0, 1, ..., -(n // 2), ..., -1] / (d * n)``.

    ``d`` may be traced (the result is differentiable in it). ``dtype`` defaults to
    the default float dtype (float64). ``device`` is accepted for NumPy compatibility.

    Example:
      >>> import fxgrad.numpy as fnp
      >>> fnp.fft.fftfreq(4, d=0.5)
      Array([ 0. ,  0.5, -1. , -0.5], dtype=float64)
    """
    n = int(n)
    k = np.concatenate([np.arange(0, (n - 1) // 2 + 1), np.arange(-(n // 2), 0)])
    return _frequencies("fftfreq", k, n, d, dtype)


def rfftfreq(n: int, d: Any = 1.0, *, dtype: Any = None, device: Any = None) -> Any:
    """Sample frequencies of ``rfft``: ``[0, 1, ..., n // 2] / (d * n)``."""
    n = int(n)
    return _frequencies("rfftfreq", np.arange(0, n // 2 + 1), n, d, dtype)


def _shift(name: str, x: Any, axes: Any, sign: int) -> Any:
    x = asarray_value(x)
    shape = get_aval(x).shape
    if axes is None:
        axes = tuple(range(len(shape)))
    elif isinstance(axes, int):
        axes = (axes,)
    axes = tuple(canonicalize_axis(ax, len(shape), f"fft.{name}") for ax in axes)
    if not axes:
        return x
    shifts = tuple(sign * (shape[ax] // 2) for ax in axes)
    return roll(x, shifts, axes)


def fftshift(x: Any, axes: int | Sequence[int] | None = None) -> Any:
    """Move the zero frequency to the centre: roll each axis by ``n // 2``.

    Example:
      >>> import fxgrad.numpy as fnp
      >>> fnp.fft.fftshift(fnp.fft.fftfreq(5))
      Array([-0.4, -0.2,  0. ,  0.2,  0.4], dtype=float64)
    """
    return _shift("fftshift", x, axes, 1)


def ifftshift(x: Any, axes: int | Sequence[int] | None = None) -> Any:
    """Inverse of ``fftshift``: roll each axis by ``-(n // 2)``."""
    return _shift("ifftshift", x, axes, -1)
