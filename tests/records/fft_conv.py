"""Records for FFTs, convolutions and windowed reductions (fxgrad/lax/{fft,conv,windowed}.py).

References are NumPy's ``np.fft``, ``np.convolve`` / ``np.correlate``, and direct loops
written here (``conv_reference``, ``reduce_window_reference``) that follow the textbook
definition, position by position, rather than the im2col implementation under test.
They are also imported by tests/test_conv.py and tests/test_reduce_window.py.
"""

from __future__ import annotations

import itertools

import numpy as np

import fxgrad.numpy as fnp
from fxgrad import lax
from tests.op_records import OpRecord, rand_distinct

F = (np.float64, np.float32)
C = (np.complex128, np.complex64)
CONV_TOL = 1e-4  # float32 sums of products in a different order than the loop reference


# --- references ----------------------------------------------------------------------------


def _letters_to_perm(spec: str, pair: str, kernel_spec: str) -> list[int]:
    """Axis order (pair[0], pair[1], spatial in the kernel's letter order) of ``spec``."""
    spatial = [c for c in kernel_spec if c not in "OI"]
    return [spec.index(pair[0]), spec.index(pair[1])] + [spec.index(c) for c in spatial]


def dilate_and_pad(x: np.ndarray, dilation, padding, first_axis: int = 2) -> np.ndarray:
    """Insert ``d - 1`` zeros between elements, then pad (negative pads crop)."""
    for i, (d, (lo, hi)) in enumerate(zip(dilation, padding, strict=True)):
        ax = first_axis + i
        n = x.shape[ax]
        shape = list(x.shape)
        shape[ax] = (n - 1) * d + 1 if n else 0
        dilated = np.zeros(shape, x.dtype)
        index = [slice(None)] * x.ndim
        index[ax] = slice(None, None, d)
        dilated[tuple(index)] = x
        widths = [(0, 0)] * x.ndim
        widths[ax] = (max(lo, 0), max(hi, 0))
        x = np.pad(dilated, widths)
        index = [slice(None)] * x.ndim
        index[ax] = slice(max(-lo, 0), x.shape[ax] - max(-hi, 0))
        x = x[tuple(index)]
    return x


def conv_reference(
    lhs,
    rhs,
    window_strides,
    padding,
    lhs_dilation=None,
    rhs_dilation=None,
    dimension_numbers=None,
    feature_group_count=1,
    batch_group_count=1,
):
    """``out[n, o, j] = sum_{i, k} x~[n, g * I + i, j * s + k * r] * rhs[o, i, k]``, looped."""
    lhs, rhs = np.asarray(lhs), np.asarray(rhs)
    nsp = lhs.ndim - 2
    lhs_dilation = lhs_dilation or (1,) * nsp
    rhs_dilation = rhs_dilation or (1,) * nsp
    if dimension_numbers is None:
        perms = [list(range(lhs.ndim))] * 3
    else:
        lhs_s, rhs_s, out_s = dimension_numbers
        perms = [
            _letters_to_perm(lhs_s, "NC", rhs_s),
            _letters_to_perm(rhs_s, "OI", rhs_s),
            _letters_to_perm(out_s, "NC", rhs_s),
        ]
    x = dilate_and_pad(np.transpose(lhs, perms[0]), lhs_dilation, padding)
    w = np.transpose(rhs, perms[1])
    n_batch, _ = x.shape[:2]
    n_out_feat, n_in = w.shape[:2]
    window = w.shape[2:]
    eff = [(k - 1) * r + 1 for k, r in zip(window, rhs_dilation, strict=True)]
    out_sp = [
        (n - k) // s + 1 if n >= k else 0
        for n, k, s in zip(x.shape[2:], eff, window_strides, strict=True)
    ]
    groups = max(feature_group_count, batch_group_count)
    per_group = n_out_feat // groups
    n_out = n_batch // batch_group_count
    out = np.zeros((n_out, n_out_feat, *out_sp), np.result_type(lhs, rhs))
    for o in range(n_out_feat):
        g = o // per_group
        feats = slice(g * n_in, (g + 1) * n_in) if feature_group_count > 1 else slice(None)
        batch = slice(g * n_out, (g + 1) * n_out) if batch_group_count > 1 else slice(None)
        for j in itertools.product(*map(range, out_sp)):
            total = 0
            for k in itertools.product(*map(range, window)):
                pos = tuple(
                    jj * s + kk * r
                    for jj, kk, s, r in zip(j, k, window_strides, rhs_dilation, strict=True)
                )
                patch = x[(batch, feats, *pos)]  # (n_out, I)
                total = total + patch @ w[(o, slice(None), *k)]
            out[(slice(None), o, *j)] = total
    return np.transpose(out, np.argsort(perms[2]))


def reduce_window_reference(
    x, init, kind, window, strides, padding, base_dilation=None, window_dilation=None
):
    """``init`` combined with the reduction of the operand elements of each window, looped
    (padding and dilation holes are skipped)."""
    x = np.asarray(x)
    nd = x.ndim
    base_dilation = base_dilation or (1,) * nd
    window_dilation = window_dilation or (1,) * nd
    if isinstance(padding, str):
        padding = lax.padtype_to_pads(
            [(n - 1) * b + 1 for n, b in zip(x.shape, base_dilation, strict=True)],
            [(k - 1) * d + 1 for k, d in zip(window, window_dilation, strict=True)],
            strides,
            padding,
        )
    dilated = [(n - 1) * b + 1 if n else 0 for n, b in zip(x.shape, base_dilation, strict=True)]
    padded = [d + lo + hi for d, (lo, hi) in zip(dilated, padding, strict=True)]
    eff = [(k - 1) * d + 1 for k, d in zip(window, window_dilation, strict=True)]
    out_shape = [
        (p - k) // s + 1 if p >= k else 0 for p, k, s in zip(padded, eff, strides, strict=True)
    ]
    op = {"sum": np.add, "max": np.maximum, "min": np.minimum}[kind]
    out = np.zeros(out_shape, x.dtype)
    for j in itertools.product(*map(range, out_shape)):
        acc = np.asarray(init, x.dtype)
        for k in itertools.product(*map(range, window)):
            pos = [
                jj * s + kk * d - lo
                for jj, kk, s, d, (lo, _) in zip(
                    j, k, strides, window_dilation, padding, strict=True
                )
            ]
            inside = all(
                0 <= p < n and p % b == 0
                for p, n, b in zip(pos, dilated, base_dilation, strict=True)
            )
            if inside:
                acc = op(acc, x[tuple(p // b for p, b in zip(pos, base_dilation, strict=True))])
        out[j] = acc
    return out


# --- FFT -----------------------------------------------------------------------------------

FFT_RECORDS = [
    OpRecord("fft_fft", fnp.fft.fft, [(3, 8)], np.fft.fft),
    OpRecord(
        "fft_fft_n_axis0_ortho",
        lambda x: fnp.fft.fft(x, n=5, axis=0, norm="ortho"),
        [(4, 3)],
        lambda x: np.fft.fft(x, n=5, axis=0, norm="ortho"),
    ),
    OpRecord(
        "fft_ifft_forward",
        lambda x: fnp.fft.ifft(x, n=6, norm="forward"),
        [(2, 4)],
        lambda x: np.fft.ifft(x, n=6, norm="forward"),
        dtypes=C,
    ),
    OpRecord(
        "fft_rfft_n7",
        lambda x: fnp.fft.rfft(x, n=7),
        [(2, 6)],
        lambda x: np.fft.rfft(x, n=7),
    ),
    OpRecord(
        "fft_irfft_odd",
        lambda x: fnp.fft.irfft(x, n=7),
        [(2, 4)],
        lambda x: np.fft.irfft(x, n=7),
        dtypes=C,
    ),
    OpRecord(
        "fft_irfft_even_axis0",
        lambda x: fnp.fft.irfft(x, axis=0, norm="ortho"),
        [(4, 3)],
        lambda x: np.fft.irfft(x, axis=0, norm="ortho"),
        dtypes=C,
    ),
    OpRecord(
        "fft_fftn_s_axes",
        lambda x: fnp.fft.fftn(x, s=(3, 5), axes=(0, 2)),
        [(2, 3, 4)],
        lambda x: np.fft.fftn(x, s=(3, 5), axes=(0, 2)),
    ),
    OpRecord("fft_ifftn", fnp.fft.ifftn, [(2, 3, 4)], np.fft.ifftn, dtypes=C),
    OpRecord("fft_rfftn", fnp.fft.rfftn, [(3, 4, 5)], np.fft.rfftn),
    OpRecord(
        "fft_irfftn_s",
        lambda x: fnp.fft.irfftn(x, s=(3, 4, 5)),
        [(3, 4, 3)],
        lambda x: np.fft.irfftn(x, s=(3, 4, 5), axes=(0, 1, 2)),
        dtypes=C,
    ),
    OpRecord("fft_fft2", fnp.fft.fft2, [(2, 3, 4)], np.fft.fft2),
    OpRecord("fft_ifft2", fnp.fft.ifft2, [(3, 4)], np.fft.ifft2, dtypes=C),
    OpRecord(
        "fft_rfft2_forward",
        lambda x: fnp.fft.rfft2(x, norm="forward"),
        [(4, 6)],
        lambda x: np.fft.rfft2(x, norm="forward"),
    ),
    OpRecord("fft_irfft2", fnp.fft.irfft2, [(2, 4, 3)], np.fft.irfft2, dtypes=C),
    OpRecord("fft_hfft", fnp.fft.hfft, [(2, 5)], np.fft.hfft, dtypes=C),
    OpRecord(
        "fft_hfft_n_ortho",
        lambda x: fnp.fft.hfft(x, n=7, norm="ortho"),
        [(4,)],
        lambda x: np.fft.hfft(x, n=7, norm="ortho"),
        dtypes=C,
    ),
    OpRecord("fft_ihfft", fnp.fft.ihfft, [(3, 6)], np.fft.ihfft),
    OpRecord("fft_fftshift", fnp.fft.fftshift, [(4, 5)], np.fft.fftshift),
    OpRecord(
        "fft_ifftshift_axis1",
        lambda x: fnp.fft.ifftshift(x, axes=1),
        [(4, 5)],
        lambda x: np.fft.ifftshift(x, axes=1),
    ),
    OpRecord(
        "fft_power_spectrum",
        lambda x: fnp.sum(fnp.abs(fnp.fft.rfft(x)) ** 2, axis=-1),
        [(2, 6)],
        lambda x: np.sum(np.abs(np.fft.rfft(x)) ** 2, axis=-1),
    ),
    OpRecord(
        "lax_fft_fft_2d",
        lambda x: lax.fft(x, "fft", (3, 4)),
        [(2, 3, 4)],
        lambda x: np.fft.fftn(x, axes=(1, 2)),
        dtypes=C,
    ),
    OpRecord(
        "lax_fft_irfft_2d",
        lambda x: lax.fft(x, lax.FftType.IRFFT, (4, 6)),
        [(2, 4, 4)],
        lambda x: np.fft.irfftn(x, s=(4, 6), axes=(1, 2)),
        dtypes=C,
    ),
]


# --- convolution ---------------------------------------------------------------------------


def _conv_record(name, shapes, window_strides, padding, ref_padding=None, **kw):
    """A ``conv_general_dilated`` record; string ``padding`` needs the explicit
    ``ref_padding`` it stands for (worked out by hand) for the loop reference."""

    def fun(lhs, rhs):
        return lax.conv_general_dilated(lhs, rhs, window_strides, padding, **kw)

    def reference(lhs, rhs):
        pads = padding if ref_padding is None else ref_padding
        return conv_reference(lhs, rhs, window_strides, pads, **kw)

    return OpRecord(name, fun, shapes, reference, tol=CONV_TOL)


CONV_RECORDS = [
    _conv_record(
        "conv_nchw_same",
        [(2, 3, 5, 5), (4, 3, 3, 3)],
        window_strides=(1, 1),
        padding="SAME",
        ref_padding=[(1, 1), (1, 1)],
    ),
    _conv_record(
        "conv_nhwc_strided_dilated",
        [(2, 6, 5, 3), (3, 2, 3, 4)],
        window_strides=(2, 1),
        padding=[(1, 0), (2, 1)],
        rhs_dilation=(1, 2),
        dimension_numbers=("NHWC", "HWIO", "NHWC"),
    ),
    _conv_record(
        "conv_1d_lhs_dilated",
        [(2, 2, 5), (3, 2, 3)],
        window_strides=(2,),
        padding=[(2, 1)],
        lhs_dilation=(2,),
    ),
    _conv_record(
        "conv_1d_negative_padding",
        [(2, 2, 7), (2, 2, 2)],
        window_strides=(1,),
        padding=[(-1, 2)],
    ),
    _conv_record(
        "conv_grouped",
        [(2, 4, 6), (6, 2, 3)],
        window_strides=(1,),
        padding=[(0, 0)],
        feature_group_count=2,
    ),
    _conv_record(
        "conv_depthwise_2d",
        [(1, 3, 5, 4), (3, 1, 2, 2)],
        window_strides=(1, 1),
        padding=[(1, 0), (0, 1)],
        feature_group_count=3,
    ),
    _conv_record(
        "conv_batch_group",
        [(4, 2, 6), (4, 2, 3)],
        window_strides=(1,),
        padding=[(1, 1)],
        batch_group_count=2,
    ),
    _conv_record(
        "conv_3d_mixed_layout",
        [(1, 3, 4, 2, 3), (2, 2, 2, 2, 2)],
        window_strides=(1, 2, 1),
        padding=[(0, 0), (1, 0), (0, 1)],
        dimension_numbers=("NHWCD", "OIDHW", "NCDHW"),
    ),
    OpRecord(
        "conv_transpose_same_1d",
        lambda x, w: lax.conv_transpose(x, w, (2,), "SAME"),
        [(2, 4, 3), (3, 3, 2)],
        # NHC / HIO; SAME with k=3, s=2 pads the dilated input by (2, 1)
        lambda x, w: conv_reference(x, w, (1,), [(2, 1)], (2,), None, ("NHC", "HIO", "NHC")),
        tol=CONV_TOL,
    ),
    OpRecord(
        "numpy_convolve_full",
        fnp.convolve,
        [(6,), (3,)],
        np.convolve,
        tol=CONV_TOL,
    ),
    OpRecord(
        "numpy_convolve_same_swapped",
        lambda a, v: fnp.convolve(a, v, "same"),
        [(3,), (5,)],
        lambda a, v: np.convolve(a, v, "same"),
        tol=CONV_TOL,
    ),
    OpRecord(
        "numpy_correlate_valid",
        fnp.correlate,
        [(6,), (4,)],
        np.correlate,
        tol=CONV_TOL,
    ),
    OpRecord(
        "numpy_correlate_full_swapped_complex",
        lambda a, v: fnp.correlate(a, v, "full"),
        [(3,), (5,)],
        lambda a, v: np.correlate(a, v, "full"),
        dtypes=C,
        tol=CONV_TOL,
    ),
]


# --- windowed reductions -------------------------------------------------------------------


def _window_record(name, shape, kind, init, *args, rand=rand_distinct):
    comp = {"sum": lax.add, "max": lax.max, "min": lax.min}[kind]

    def fun(x):
        return lax.reduce_window(x, init, comp, *args)

    def reference(x):
        return reduce_window_reference(x, init, kind, *args)

    return OpRecord(name, fun, [shape], reference, rand=rand)


WINDOW_RECORDS = [
    _window_record("reduce_window_sum_same", (4, 5), "sum", 0.0, (2, 3), (1, 2), "SAME"),
    _window_record(
        "reduce_window_sum_init_dilated",
        (5, 4),
        "sum",
        1.5,
        (2, 2),
        (2, 1),
        [(1, 0), (0, -1)],
        (1, 2),
        (2, 1),
    ),
    _window_record("max_pool_2x2", (4, 6), "max", -np.inf, (2, 2), (2, 2), "VALID"),
    _window_record(
        "reduce_window_max_dilated",
        (3, 5),
        "max",
        -np.inf,
        (2, 2),
        (1, 1),
        [(1, 0), (0, 1)],
        (2, 1),
        (1, 2),
    ),
    _window_record("reduce_window_min_same", (7,), "min", np.inf, (3,), (2,), "SAME"),
    OpRecord(
        "avg_pool_3x3_stride2",
        lambda x: lax.reduce_window(x, 0.0, lax.add, (1, 3, 3), (1, 2, 2), "VALID") / 9.0,
        [(2, 5, 7)],
        lambda x: reduce_window_reference(x, 0.0, "sum", (1, 3, 3), (1, 2, 2), "VALID") / 9.0,
    ),
]

RECORDS = FFT_RECORDS + CONV_RECORDS + WINDOW_RECORDS
