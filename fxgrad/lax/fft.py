"""``fft``: discrete Fourier transforms over the trailing axes (JAX's ``lax.fft``).

One primitive, ``fft``, with a static ``fft_type`` (``FftType.FFT``, ``IFFT``, ``RFFT``
or ``IRFFT``) and ``fft_lengths``, transforming the last ``len(fft_lengths)`` axes with
NumPy's unnormalised forward / ``1/n``-normalised inverse convention. It is linear, so
the JVP applies the same transform to the tangent. Transposes follow fxgrad's complex
convention (the transpose, not the conjugate transpose; pairing ``Re(sum(a * b))``):

* ``FFT`` and ``IFFT`` are symmetric matrices, so each is its own transpose.
* ``RFFT`` is ``slice . FFT . (real -> complex)``, so its transpose is
  ``real(FFT(zero-pad(ct)))``.
* ``IRFFT`` of ``c`` sums ``c_k`` and its Hermitian mirror ``conj(c_k)`` for the interior
  frequencies of the last axis (the zero and, for even ``n``, the Nyquist frequency
  appear once), so its transpose is ``conj(RFFT(ct)) * w / prod(fft_lengths)`` with
  ``w = 2`` on interior frequencies and ``1`` on the others.

The batch rule moves the batch axis to the front, away from the transformed axes.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from fxgrad import dtypes
from fxgrad.core import ShapedArray, get_aval
from fxgrad.errors import FxgradTypeError, ShapeError
from fxgrad.interpreters import batching
from fxgrad.interpreters.jvp import Zero
from fxgrad.interpreters.transpose import is_undefined_primal
from fxgrad.lax import elementwise as ew
from fxgrad.lax._define import define_primitive
from fxgrad.lax.shape import broadcast_in_dim
from fxgrad.lax.slicing import bind_checked, pad

__all__ = ["FftType", "fft", "fft_p"]


class FftType(enum.IntEnum):
    """The kind of transform (JAX's ``lax.FftType``)."""

    FFT = 0  # complex -> complex, forward
    IFFT = 1  # complex -> complex, inverse (scaled by 1 / n)
    RFFT = 2  # real -> complex, forward; the last axis keeps n // 2 + 1 frequencies
    IRFFT = 3  # complex (n // 2 + 1 frequencies) -> real, inverse


def _trailing(ndim: int, count: int) -> tuple[int, ...]:
    return tuple(range(ndim - count, ndim))


def _fft_impl(x, *, fft_type, fft_lengths):
    x = np.asarray(x)
    axes = _trailing(x.ndim, len(fft_lengths))
    if fft_type == FftType.FFT:
        out = np.fft.fftn(x, s=fft_lengths, axes=axes)
        dtype = x.dtype
    elif fft_type == FftType.IFFT:
        out = np.fft.ifftn(x, s=fft_lengths, axes=axes)
        dtype = x.dtype
    elif fft_type == FftType.RFFT:
        out = np.fft.rfftn(x, s=fft_lengths, axes=axes)
        dtype = dtypes.to_complex_dtype(x.dtype)
    else:
        out = np.fft.irfftn(x, s=fft_lengths, axes=axes)
        dtype = dtypes.real_dtype(x.dtype)
    return np.asarray(out, dtype=dtype)


def _fft_abstract_eval(x, *, fft_type, fft_lengths):
    name = FftType(fft_type).name
    n = len(fft_lengths)
    if n < 1 or n > x.ndim:
        raise ShapeError(
            f"lax.fft ({name}): fft_lengths {fft_lengths} must name between 1 and the operand "
            f"rank ({x.ndim}) trailing axes; the operand has shape {x.shape}"
        )
    if any(length < 1 for length in fft_lengths):
        raise ShapeError(f"lax.fft ({name}): fft_lengths must be positive, got {fft_lengths}")
    dtype = np.dtype(x.dtype)
    lengths = tuple(fft_lengths)
    batch_shape = tuple(x.shape[: x.ndim - n])
    trailing = tuple(x.shape[x.ndim - n :])
    if fft_type == FftType.RFFT:
        if dtype.kind != "f":
            raise FxgradTypeError(
                f"lax.fft (RFFT) requires a real floating operand, got {dtype.name}; convert "
                "it with lax.convert_element_type (or use fxgrad.numpy.fft.rfft)"
            )
        expected = lengths
        out_shape = batch_shape + lengths[:-1] + (lengths[-1] // 2 + 1,)
        out_dtype = dtypes.to_complex_dtype(dtype)
    else:
        if dtype.kind != "c":
            raise FxgradTypeError(
                f"lax.fft ({name}) requires a complex operand, got {dtype.name}; convert it "
                "with lax.convert_element_type (lax.fft converts real FFT/IFFT operands)"
            )
        if fft_type == FftType.IRFFT:
            expected = lengths[:-1] + (lengths[-1] // 2 + 1,)
            out_shape = batch_shape + lengths
            out_dtype = dtypes.real_dtype(dtype)
        else:
            expected = lengths
            out_shape = tuple(x.shape)
            out_dtype = dtype
    if trailing != expected:
        raise ShapeError(
            f"lax.fft ({name}) with fft_lengths {lengths} needs the trailing axes of the "
            f"operand to be {expected}, got operand shape {x.shape}. Crop or zero-pad the "
            "operand first (fxgrad.numpy.fft does it for its n= and s= arguments)."
        )
    return ShapedArray(out_shape, out_dtype, x.weak_type)


def _fft_jvp(primals, tangents, *, fft_type, fft_lengths):
    (x,), (x_dot,) = primals, tangents
    out = fft_p.bind(x, fft_type=fft_type, fft_lengths=fft_lengths)
    if type(x_dot) is Zero:
        return out, Zero(get_aval(out))
    return out, fft_p.bind(x_dot, fft_type=fft_type, fft_lengths=fft_lengths)


def _irfft_weights(fft_lengths: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """``w / prod(fft_lengths)`` along the last frequency axis (see the module docstring)."""
    n = fft_lengths[-1]
    w = np.full(n // 2 + 1, 2.0)
    w[0] = 1.0
    if n % 2 == 0:
        w[-1] = 1.0
    return (w / math.prod(fft_lengths)).astype(dtype)


def _fft_transpose(ct, x, *, fft_type, fft_lengths):
    assert is_undefined_primal(x)
    if type(ct) is Zero:
        return [Zero(x.aval)]
    if fft_type in (FftType.FFT, FftType.IFFT):
        return [fft_p.bind(ct, fft_type=fft_type, fft_lengths=fft_lengths)]
    ct_aval = get_aval(ct)
    if fft_type == FftType.RFFT:
        n = fft_lengths[-1]
        config = [(0, 0, 0)] * ct_aval.ndim
        config[-1] = (0, n - ct_aval.shape[-1], 0)
        padded = pad(ct, np.zeros((), ct_aval.dtype), config)
        full = fft_p.bind(padded, fft_type=FftType.FFT, fft_lengths=fft_lengths)
        return [ew.real(full)]
    spectrum = fft_p.bind(ct, fft_type=FftType.RFFT, fft_lengths=fft_lengths)
    out_aval = get_aval(spectrum)
    weights = _irfft_weights(fft_lengths, dtypes.real_dtype(out_aval.dtype))
    weights = broadcast_in_dim(weights.astype(out_aval.dtype), out_aval.shape, (out_aval.ndim - 1,))
    return [ew.mul(ew.conj(spectrum), weights)]


def _fft_batch(axis_size, vals, dims, *, fft_type, fft_lengths):
    (x,), (d,) = vals, dims
    x = batching.bdim_at_front(x, d, axis_size)
    return fft_p.bind(x, fft_type=fft_type, fft_lengths=fft_lengths), 0


fft_p = define_primitive(
    "fft",
    impl=_fft_impl,
    abstract_eval=_fft_abstract_eval,
    jvp=_fft_jvp,
    transpose=_fft_transpose,
    batch=_fft_batch,
    kernel="library",
)


def _fft_type(fft_type: FftType | str | int) -> FftType:
    if isinstance(fft_type, str):
        try:
            return FftType[fft_type.upper()]
        except KeyError:
            pass
    else:
        try:
            return FftType(int(fft_type))
        except (ValueError, TypeError):
            pass
    raise ValueError(
        f"lax.fft: unknown fft_type {fft_type!r}; use lax.FftType.FFT, IFFT, RFFT or IRFFT "
        "(or the strings 'fft', 'ifft', 'rfft', 'irfft')"
    )


def fft(x: Any, fft_type: FftType | str, fft_lengths: Sequence[int]) -> Any:
    """Fourier transform of the trailing ``len(fft_lengths)`` axes (JAX's ``lax.fft``).

    Args:
      x: the operand. ``FFT``/``IFFT``: complex (real operands are converted), trailing
        shape ``fft_lengths``. ``RFFT``: real floating, trailing shape ``fft_lengths``.
        ``IRFFT``: complex, trailing shape ``fft_lengths[:-1] + (fft_lengths[-1] // 2 + 1,)``.
      fft_type: a ``FftType`` or one of ``'fft'``, ``'ifft'``, ``'rfft'``, ``'irfft'``.
      fft_lengths: the lengths of the transformed axes (of the real signal for
        ``RFFT``/``IRFFT``).

    Returns:
      ``FFT``/``IFFT``: the same shape and dtype. ``RFFT``: complex (complex64 for
      float32), last axis ``fft_lengths[-1] // 2 + 1``. ``IRFFT``: real, trailing shape
      ``fft_lengths``. ``IFFT``/``IRFFT`` are scaled by ``1 / prod(fft_lengths)`` (NumPy's
      default "backward" normalisation).

    Raises:
      ShapeError: the trailing axes do not match ``fft_lengths``.
      FxgradTypeError: wrong operand dtype (for example a complex ``RFFT`` operand).

    Example:
      >>> import numpy as np
      >>> from fxgrad import lax
      >>> lax.fft(np.array([1.0, 2.0, 3.0, 4.0]), "rfft", (4,))
      Array([10.+0.j, -2.+2.j, -2.+0.j], dtype=complex128)
    """
    kind = _fft_type(fft_type)
    lengths = tuple(int(n) for n in fft_lengths)
    aval = get_aval(x)
    if kind in (FftType.FFT, FftType.IFFT) and np.dtype(aval.dtype).kind != "c":
        x = ew.convert_element_type(x, dtypes.to_complex_dtype(aval.dtype))
    return bind_checked(fft_p, x, fft_type=kind, fft_lengths=lengths)
