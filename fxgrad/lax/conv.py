"""``conv_general_dilated``: N-d convolution (cross-correlation) with XLA's semantics.

In the canonical layout (lhs ``(N, C, *spatial)``, rhs ``(O, I, *window)``, out
``(N', O, *out_spatial)``), with ``x~`` the lhs dilated by ``lhs_dilation`` (zeros
inserted) and padded by ``padding`` (negative pads crop), ``s`` the window strides and
``r`` the rhs dilation::

    out[n, o, j] = sum_{c, k} x~[n, c, j * s + k * r] * rhs[o, c, k]

``dimension_numbers`` (``ConvDimensionNumbers`` or strings like ``('NHWC', 'HWIO',
'NHWC')``) say where the batch/feature/spatial axes are. ``feature_group_count = G``
splits the lhs features and the rhs output features into ``G`` groups convolved
separately (grouped / depthwise); ``batch_group_count = B`` does the same with the
lhs batch, which is what the kernel gradient of a grouped convolution needs.

The NumPy implementation is im2col: ``sliding_window_view`` of the padded lhs, strided
by ``s`` and ``r``, contracted with the kernel by ``tensordot`` (one per group).

Derivatives: the primitive is bilinear. Transposing it (in canonical layout) gives two
more convolutions (as in XLA and JAX; derived in tests/test_conv.py's docstring):

* lhs: ``ct`` dilated by ``s`` (``lhs_dilation = s``), correlated with the spatially
  flipped kernel whose in/out feature axes are swapped (per group), with
  ``window_strides = lhs_dilation``, ``rhs_dilation = r`` and padding
  ``(k_eff - 1 - lo, (n - 1) * d + 1 + lo - ((m - 1) * s + 1))`` per axis;
* rhs: the lhs with its batch and feature axes swapped, correlated with ``ct`` (also
  swapped) dilated by ``s`` (``rhs_dilation = s``), ``window_strides = r`` and padding
  ``(lo, (m - 1) * s + k_eff - ((n - 1) * d + 1) - lo)``; feature and batch group
  counts swap roles.

Batching folds the batch axis into the lhs batch (or into feature / batch groups) and
splits it out of the result, so a batched convolution is still one convolution.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from fxgrad.core import ShapedArray, get_aval, tangent_aval
from fxgrad.errors import FxgradTypeError, ShapeError
from fxgrad.interpreters import batching
from fxgrad.interpreters.jvp import Zero, add_tangents
from fxgrad.interpreters.transpose import is_undefined_primal
from fxgrad.lax import elementwise as ew
from fxgrad.lax._define import define_primitive
from fxgrad.lax.shape import reshape, transpose
from fxgrad.lax.slicing import bind_checked, pad_p, rev

__all__ = [
    "ConvDimensionNumbers",
    "conv",
    "conv_dimension_numbers",
    "conv_general_dilated",
    "conv_general_dilated_p",
    "conv_transpose",
    "conv_with_general_padding",
    "padtype_to_pads",
]


class ConvDimensionNumbers(NamedTuple):
    """Axis positions: ``lhs_spec = (batch, feature, *spatial)``, ``rhs_spec = (out
    feature, in feature, *spatial)``, ``out_spec = (batch, feature, *spatial)``."""

    lhs_spec: tuple[int, ...]
    rhs_spec: tuple[int, ...]
    out_spec: tuple[int, ...]


def _canonical_dnums(ndim: int) -> ConvDimensionNumbers:
    spec = tuple(range(ndim))
    return ConvDimensionNumbers(spec, spec, spec)


def _spec_from_string(spec: str, pair: tuple[str, str], rhs_spec: str) -> tuple[int, ...]:
    spatial = [i for i, c in enumerate(spec) if c not in pair]
    if spec is not rhs_spec:
        # spatial axes are ordered as in the kernel's spec (XLA's convention)
        spatial.sort(key=lambda i: rhs_spec.index(spec[i]))
    return (spec.index(pair[0]), spec.index(pair[1]), *spatial)


def conv_dimension_numbers(
    lhs_shape: Sequence[int], rhs_shape: Sequence[int], dimension_numbers: Any
) -> ConvDimensionNumbers:
    """``ConvDimensionNumbers`` from ``None`` (NCHW/OIHW/NCHW), strings or a tuple of specs.

    Example:
      >>> from fxgrad import lax
      >>> lax.conv_dimension_numbers((1, 5, 5, 2), (3, 3, 2, 4), ("NHWC", "HWIO", "NHWC"))
      ConvDimensionNumbers(lhs_spec=(0, 3, 1, 2), rhs_spec=(3, 2, 0, 1), out_spec=(0, 3, 1, 2))
    """
    lhs_shape, rhs_shape = tuple(lhs_shape), tuple(rhs_shape)
    if len(lhs_shape) != len(rhs_shape):
        raise ShapeError(
            f"lax.conv_general_dilated: lhs and rhs must have the same rank, got lhs shape "
            f"{lhs_shape} and rhs shape {rhs_shape}"
        )
    ndim = len(lhs_shape)
    if dimension_numbers is None:
        return _canonical_dnums(ndim)
    if isinstance(dimension_numbers, ConvDimensionNumbers):
        specs = dimension_numbers
    elif len(dimension_numbers) == 3 and all(isinstance(s, str) for s in dimension_numbers):
        specs = _dnums_from_strings(dimension_numbers, lhs_shape, rhs_shape)
    elif len(dimension_numbers) == 3:
        specs = ConvDimensionNumbers(*(tuple(int(a) for a in s) for s in dimension_numbers))
    else:
        raise TypeError(
            "lax.conv_general_dilated: dimension_numbers must be None, a "
            "ConvDimensionNumbers or three strings like ('NCHW', 'OIHW', 'NCHW'), got "
            f"{dimension_numbers!r}"
        )
    for name, spec in zip(("lhs_spec", "rhs_spec", "out_spec"), specs, strict=True):
        if sorted(spec) != list(range(ndim)):
            raise ShapeError(
                f"lax.conv_general_dilated: dimension_numbers.{name} {tuple(spec)} must be a "
                f"permutation of the {ndim} axes of operands of shapes {lhs_shape} and "
                f"{rhs_shape}"
            )
    return ConvDimensionNumbers(*(tuple(int(a) for a in s) for s in specs))


def _dnums_from_strings(strings, lhs_shape, rhs_shape) -> ConvDimensionNumbers:
    lhs_str, rhs_str, out_str = strings
    pairs = (("N", "C"), ("O", "I"), ("N", "C"))
    ndim = len(lhs_shape)
    for i, (spec, (a, b)) in enumerate(zip(strings, pairs, strict=True)):
        if len(spec) != ndim:
            raise ShapeError(
                f"lax.conv_general_dilated: dimension_numbers[{i}] {spec!r} must have one "
                f"letter per axis ({ndim}) of operands of shapes {lhs_shape} and {rhs_shape}"
            )
        if spec.count(a) != 1 or spec.count(b) != 1 or len(set(spec)) != len(spec):
            raise ShapeError(
                f"lax.conv_general_dilated: dimension_numbers[{i}] {spec!r} must contain "
                f"'{a}' and '{b}' exactly once and no repeated letters"
            )
    spatial = [set(s) - set(p) for s, p in zip(strings, pairs, strict=True)]
    if not spatial[0] == spatial[1] == spatial[2]:
        raise ShapeError(
            "lax.conv_general_dilated: the three dimension_numbers strings must use the same "
            f"spatial letters, got {tuple(strings)}"
        )
    return ConvDimensionNumbers(
        _spec_from_string(lhs_str, pairs[0], rhs_str),
        _spec_from_string(rhs_str, pairs[1], rhs_str),
        _spec_from_string(out_str, pairs[2], rhs_str),
    )


def padtype_to_pads(
    in_shape: Sequence[int],
    window_shape: Sequence[int],
    window_strides: Sequence[int],
    padding: str,
) -> list[tuple[int, int]]:
    """Explicit ``(low, high)`` pads for ``'SAME'``, ``'SAME_LOWER'`` or ``'VALID'``.

    ``SAME`` pads so the output has ``ceil(n / stride)`` positions, with the odd
    element at the end (``SAME_LOWER``: at the start).

    Example:
      >>> from fxgrad import lax
      >>> lax.padtype_to_pads((6,), (4,), (1,), "SAME")
      [(1, 2)]
    """
    kind = str(padding).upper()
    if kind == "VALID":
        return [(0, 0)] * len(in_shape)
    if kind not in ("SAME", "SAME_LOWER"):
        raise ValueError(
            f"unrecognized padding type {padding!r}: expected 'VALID', 'SAME' or 'SAME_LOWER'"
        )
    pads = []
    for n, k, s in zip(in_shape, window_shape, window_strides, strict=True):
        out = -(-n // s)
        total = max((out - 1) * s + k - n, 0)
        small, big = total // 2, total - total // 2
        pads.append((small, big) if kind == "SAME" else (big, small))
    return pads


def _dilate_dim(n: int, d: int) -> int:
    return 0 if n == 0 else (n - 1) * d + 1


def _out_dim(n: int, k: int, stride: int) -> int:
    return 0 if n < k else (n - k) // stride + 1


# --- NumPy helpers, shared with fxgrad/lax/windowed.py --------------------------------------


def np_dilate_pad(x, axes, dilation, padding, value):
    """``x`` dilated (``dilation - 1`` ``value``s between elements) and padded along ``axes``."""
    config = [(0, 0, 0)] * x.ndim
    for ax, d, (lo, hi) in zip(axes, dilation, padding, strict=True):
        config[ax] = (lo, hi, d - 1)
    if all(c == (0, 0, 0) for c in config):
        return x
    return pad_p.impl(x, np.asarray(value, x.dtype), padding_config=tuple(config))


def np_windows(x, axes, window, strides, dilation):
    """A view of ``x`` with the window axes appended: ``x.shape`` (strided along ``axes``)
    followed by ``window``. Every window must fit (callers handle empty outputs)."""
    effective = [_dilate_dim(k, d) for k, d in zip(window, dilation, strict=True)]
    view = sliding_window_view(x, effective, axis=axes)
    index = [slice(None)] * view.ndim
    for i, ax in enumerate(axes):
        index[ax] = slice(None, None, strides[i])
        index[x.ndim + i] = slice(None, None, dilation[i])
    return view[tuple(index)]


# --- the primitive --------------------------------------------------------------------------


def _canonical_shapes(lhs_shape, rhs_shape, dnums):
    lhs = tuple(lhs_shape[a] for a in dnums.lhs_spec)
    rhs = tuple(rhs_shape[a] for a in dnums.rhs_spec)
    return lhs, rhs


class _ConvParams(NamedTuple):
    """The params of ``conv_general_dilated_p`` (see ``conv_general_dilated``), by name.

    The rules take ``**params`` and read them through this tuple, so the parameter list is
    written once and a missing or misspelled parameter fails loudly.
    """

    window_strides: tuple[int, ...]
    padding: tuple[tuple[int, int], ...]
    lhs_dilation: tuple[int, ...]
    rhs_dilation: tuple[int, ...]
    dimension_numbers: ConvDimensionNumbers
    feature_group_count: int
    batch_group_count: int
    precision: Any
    preferred_element_type: np.dtype | None


def _conv_out_spatial(lhs_c, rhs_c, p: _ConvParams) -> tuple[int, ...]:
    out = []
    for n, k, s, (lo, hi), ld, rd in zip(
        lhs_c[2:],
        rhs_c[2:],
        p.window_strides,
        p.padding,
        p.lhs_dilation,
        p.rhs_dilation,
        strict=True,
    ):
        out.append(_out_dim(_dilate_dim(n, ld) + lo + hi, _dilate_dim(k, rd), s))
    return tuple(out)


def _from_canonical_shape(shape_c, spec):
    shape = [0] * len(spec)
    for i, a in enumerate(spec):
        shape[a] = shape_c[i]
    return tuple(shape)


def _conv_impl(lhs, rhs, **params):
    p = _ConvParams(**params)
    dn = p.dimension_numbers
    lhs = np.transpose(np.asarray(lhs), dn.lhs_spec)
    rhs = np.transpose(np.asarray(rhs), dn.rhs_spec)
    dtype = np.dtype(p.preferred_element_type or lhs.dtype)
    lhs, rhs = lhs.astype(dtype, copy=False), rhs.astype(dtype, copy=False)
    out_sp = _conv_out_spatial(lhs.shape, rhs.shape, p)
    n_out = lhs.shape[0] // p.batch_group_count
    out_c_shape = (n_out, rhs.shape[0], *out_sp)
    out_perm = np.argsort(dn.out_spec)
    if 0 in out_c_shape:
        return np.transpose(np.zeros(out_c_shape, dtype), out_perm)
    sp = tuple(range(2, lhs.ndim))
    x = np_dilate_pad(lhs, sp, p.lhs_dilation, p.padding, 0)
    win = np_windows(x, sp, rhs.shape[2:], p.window_strides, p.rhs_dilation)  # N, C, out, K
    groups = max(p.feature_group_count, p.batch_group_count)
    contract = [1, *range(2 + len(sp), 2 + 2 * len(sp))]  # C/G and the window axes
    if p.batch_group_count > 1:
        win = win.reshape(groups, n_out, *win.shape[1:])
    else:
        win = win.reshape(win.shape[0], groups, -1, *win.shape[2:]).swapaxes(0, 1)
    kernels = rhs.reshape(groups, rhs.shape[0] // groups, *rhs.shape[1:])
    parts = [
        np.tensordot(win[g], kernels[g], axes=(contract, [1, *range(2, kernels.ndim - 1)]))
        for g in range(groups)
    ]
    out = np.moveaxis(np.concatenate(parts, axis=-1), -1, 1)  # N', O, out_spatial
    return np.transpose(out.astype(dtype, copy=False), out_perm)


def _conv_abstract_eval(lhs, rhs, **params):
    p = _ConvParams(**params)
    name = "lax.conv_general_dilated"
    shapes = f"lhs shape {lhs.shape} and rhs shape {rhs.shape}"
    if lhs.ndim != rhs.ndim or lhs.ndim < 2:
        raise ShapeError(f"{name}: lhs and rhs must have the same rank >= 2, got {shapes}")
    if np.dtype(lhs.dtype) != np.dtype(rhs.dtype):
        raise FxgradTypeError(
            f"{name} requires operands of the same dtype, got {np.dtype(lhs.dtype).name} and "
            f"{np.dtype(rhs.dtype).name}; convert one with lax.convert_element_type"
        )
    if np.dtype(lhs.dtype).kind not in "iufc":
        raise FxgradTypeError(f"{name} requires numeric operands, got {np.dtype(lhs.dtype).name}")
    nsp = lhs.ndim - 2
    for what, val in (
        ("window_strides", p.window_strides),
        ("padding", p.padding),
        ("lhs_dilation", p.lhs_dilation),
        ("rhs_dilation", p.rhs_dilation),
    ):
        if len(val) != nsp:
            raise ShapeError(
                f"{name}: {what} needs one entry per spatial dimension ({nsp} for {shapes}), "
                f"got {tuple(val)}"
            )
    for what, val in (
        ("window_strides", p.window_strides),
        ("lhs_dilation", p.lhs_dilation),
        ("rhs_dilation", p.rhs_dilation),
    ):
        if any(v < 1 for v in val):
            raise ShapeError(f"{name}: {what} must be positive, got {tuple(val)}")
    lhs_c, rhs_c = _canonical_shapes(lhs.shape, rhs.shape, p.dimension_numbers)
    _check_groups(name, shapes, lhs_c, rhs_c, p.feature_group_count, p.batch_group_count)
    for i, (n, ld, (lo, hi)) in enumerate(zip(lhs_c[2:], p.lhs_dilation, p.padding, strict=True)):
        if _dilate_dim(n, ld) + lo + hi < 0:
            raise ShapeError(
                f"{name}: negative padding {(lo, hi)} removes more than the whole spatial "
                f"dimension {i} (size {n}) of the lhs; {shapes}"
            )
    out_sp = _conv_out_spatial(lhs_c, rhs_c, p)
    out_c = (lhs_c[0] // p.batch_group_count, rhs_c[0], *out_sp)
    dtype = np.dtype(p.preferred_element_type or lhs.dtype)
    out_shape = _from_canonical_shape(out_c, p.dimension_numbers.out_spec)
    return ShapedArray(out_shape, dtype, lhs.weak_type and rhs.weak_type)


def _check_groups(name, shapes, lhs_c, rhs_c, feature_group_count, batch_group_count):
    if feature_group_count < 1 or batch_group_count < 1:
        raise ValueError(
            f"{name}: feature_group_count and batch_group_count must be positive, got "
            f"{feature_group_count} and {batch_group_count}"
        )
    if feature_group_count > 1 and batch_group_count > 1:
        raise ValueError(
            f"{name}: at most one of feature_group_count ({feature_group_count}) and "
            f"batch_group_count ({batch_group_count}) may be greater than 1"
        )
    n, c = lhs_c[:2]
    o, i = rhs_c[:2]
    g = feature_group_count
    if c % g or c // g != i:
        raise ShapeError(
            f"{name}: the lhs feature dimension ({c}) divided by feature_group_count ({g}) "
            f"must equal the rhs input feature dimension ({i}); got {shapes}. Check "
            "dimension_numbers (which axis is the feature axis) and the kernel shape."
        )
    if o % g:
        raise ShapeError(
            f"{name}: the rhs output feature dimension ({o}) must be a multiple of "
            f"feature_group_count ({g}); got {shapes}"
        )
    b = batch_group_count
    if n % b or o % b:
        raise ShapeError(
            f"{name}: batch_group_count ({b}) must divide the lhs batch dimension ({n}) and "
            f"the rhs output feature dimension ({o}); got {shapes}"
        )


def _conv_jvp(primals, tangents, **params):
    lhs, rhs = primals
    lhs_dot, rhs_dot = tangents
    out = conv_general_dilated_p.bind(lhs, rhs, **params)
    out_dot: Any = Zero(tangent_aval(get_aval(out)))
    if type(lhs_dot) is not Zero:
        out_dot = add_tangents(out_dot, conv_general_dilated_p.bind(lhs_dot, rhs, **params))
    if type(rhs_dot) is not Zero:
        out_dot = add_tangents(out_dot, conv_general_dilated_p.bind(lhs, rhs_dot, **params))
    return out, out_dot


def _to_canonical(x, spec):
    return transpose(x, spec)


def _from_canonical(x, spec):
    return transpose(x, tuple(int(i) for i in np.argsort(spec)))


def _swap_first_axes(x):
    ndim = get_aval(x).ndim
    return transpose(x, (1, 0, *range(2, ndim)))


def _cast(x, dtype):
    return x if get_aval(x).dtype == dtype else ew.convert_element_type(x, dtype)


def _dilated_extents(lhs_sp, rhs_sp, out_sp, p: _ConvParams):
    """Per spatial axis: the dilated extents of lhs, kernel and output, and the low pad.

    With them the paddings of both transposed convolutions (module docstring) are one-liners.
    """
    return [
        (_dilate_dim(n, ld), _dilate_dim(k, rd), _dilate_dim(m, s), lo)
        for n, k, m, s, ld, rd, (lo, _) in zip(
            lhs_sp,
            rhs_sp,
            out_sp,
            p.window_strides,
            p.lhs_dilation,
            p.rhs_dilation,
            p.padding,
            strict=True,
        )
    ]


def _bind_canonical(lhs, rhs, p: _ConvParams, **changes):
    """``conv_general_dilated_p`` in canonical layout with ``p`` updated by ``changes``."""
    nd = get_aval(lhs).ndim
    new = p._replace(dimension_numbers=_canonical_dnums(nd), preferred_element_type=None)
    return conv_general_dilated_p.bind(lhs, rhs, **new._replace(**changes)._asdict())


def _transpose_lhs(ct, lhs_aval, rhs, p: _ConvParams):
    dn = p.dimension_numbers
    fgc, bgc = p.feature_group_count, p.batch_group_count
    groups = max(fgc, bgc)
    rhs_aval = get_aval(rhs)
    ct_c = _cast(_to_canonical(ct, dn.out_spec), rhs_aval.dtype)
    kernel = _to_canonical(rhs, dn.rhs_spec)
    o, i, *window = get_aval(kernel).shape
    nd = len(window) + 2
    # out feature (g, o'), in feature i  ->  out feature (g, i), in feature o'
    if groups == 1:
        kernel = _swap_first_axes(kernel)
    else:
        kernel = reshape(kernel, (groups, o // groups, i, *window))
        kernel = transpose(kernel, (0, 2, 1, *range(3, nd + 1)))
        kernel = reshape(kernel, (groups * i, o // groups, *window))
    kernel = rev(kernel, tuple(range(2, nd)))
    lhs_c, _ = _canonical_shapes(lhs_aval.shape, rhs_aval.shape, dn)
    extents = _dilated_extents(lhs_c[2:], window, get_aval(ct_c).shape[2:], p)
    out = _bind_canonical(
        ct_c,
        kernel,
        p,
        window_strides=p.lhs_dilation,
        padding=tuple((k - 1 - lo, n + lo - m) for n, k, m, lo in extents),
        lhs_dilation=p.window_strides,
        feature_group_count=groups,
        batch_group_count=1,
    )
    if bgc > 1:  # features (b, c) -> batch (b, n)
        n_b, _, *sp = get_aval(out).shape
        out = reshape(out, (n_b, bgc, lhs_c[1], *sp))
        out = transpose(out, (1, 0, *range(2, nd + 1)))
        out = reshape(out, (bgc * n_b, lhs_c[1], *sp))
    return _from_canonical(out, dn.lhs_spec)


def _transpose_rhs(ct, lhs, rhs_aval, p: _ConvParams):
    dn = p.dimension_numbers
    lhs_aval = get_aval(lhs)
    x = _swap_first_axes(_to_canonical(lhs, dn.lhs_spec))  # C, N, spatial
    ct_c = _swap_first_axes(_cast(_to_canonical(ct, dn.out_spec), lhs_aval.dtype))  # O, N'
    lhs_c, rhs_c = _canonical_shapes(lhs_aval.shape, rhs_aval.shape, dn)
    extents = _dilated_extents(lhs_c[2:], rhs_c[2:], get_aval(ct_c).shape[2:], p)
    out = _bind_canonical(
        x,
        ct_c,
        p,
        window_strides=p.rhs_dilation,
        padding=tuple((lo, m + k - 1 - n - lo) for n, k, m, lo in extents),
        rhs_dilation=p.window_strides,
        feature_group_count=p.batch_group_count,
        batch_group_count=p.feature_group_count,
    )
    return _from_canonical(_swap_first_axes(out), dn.rhs_spec)


def _conv_transpose(ct, lhs, rhs, **params):
    p = _ConvParams(**params)
    assert not (is_undefined_primal(lhs) and is_undefined_primal(rhs)), "bilinear, not linear"
    if is_undefined_primal(lhs):
        if type(ct) is Zero or 0 in get_aval(ct).shape:
            return [Zero(lhs.aval), None]
        return [_transpose_lhs(ct, lhs.aval, rhs, p), None]
    if type(ct) is Zero or 0 in get_aval(ct).shape:
        return [None, Zero(rhs.aval)]
    return [None, _transpose_rhs(ct, lhs, rhs.aval, p)]


def _batched_canonical(x, bdim, spec):
    """``x`` as ``(batch_axis, *canonical layout)``."""
    return transpose(x, (bdim, *(a + (a >= bdim) for a in spec)))


def _batch_both(x, w, v, params):
    """Both batched: the batch becomes the outermost feature (or batch) groups."""
    _, n, c, *sp = get_aval(x).shape
    _, o, i, *k = get_aval(w).shape
    w = reshape(w, (v * o, i, *k))
    if params["batch_group_count"] > 1:  # batch groups (v, b)
        x = reshape(x, (v * n, c, *sp))
        params["batch_group_count"] *= v
    else:  # feature groups (v, g)
        x = reshape(_swap_first_axes(x), (n, v * c, *sp))
        params["feature_group_count"] *= v
    out = conv_general_dilated_p.bind(x, w, **params)
    n_out, _, *out_sp = get_aval(out).shape
    return _swap_first_axes(reshape(out, (n_out, v, o, *out_sp)))


def _batch_lhs(x, rhs, v, params):
    """Only the lhs batched: the batch joins the lhs batch axis."""
    _, n, c, *sp = get_aval(x).shape
    bgc = params["batch_group_count"]
    if bgc > 1:  # keep the batch groups outermost: (b, v, n')
        x = _swap_first_axes(reshape(x, (v, bgc, n // bgc, c, *sp)))
    out = conv_general_dilated_p.bind(reshape(x, (v * n, c, *sp)), rhs, **params)
    _, o, *out_sp = get_aval(out).shape
    return reshape(out, (v, n // bgc, o, *out_sp))


def _batch_rhs(lhs, w, v, params):
    """Only the rhs batched: the batch joins the output features, inside each group."""
    _, o, i, *k = get_aval(w).shape
    groups = max(params["feature_group_count"], params["batch_group_count"])
    w = _swap_first_axes(reshape(w, (v, groups, o // groups, i, *k)))
    out = conv_general_dilated_p.bind(lhs, reshape(w, (v * o, i, *k)), **params)
    n_out, _, *out_sp = get_aval(out).shape
    out = reshape(out, (n_out, groups, v, o // groups, *out_sp))
    out = transpose(out, (2, 0, 1, *range(3, len(out_sp) + 4)))
    return reshape(out, (v, n_out, o, *out_sp))


def _conv_batch(axis_size, vals, dims, **params):
    """Fold the batch axis into the convolution, in canonical layout (module docstring)."""
    (lhs, rhs), (lhs_dim, rhs_dim) = vals, dims
    dn = params["dimension_numbers"]
    new = dict(params, dimension_numbers=_canonical_dnums(len(dn.lhs_spec)))
    if rhs_dim is batching.not_mapped:
        x = _batched_canonical(lhs, lhs_dim, dn.lhs_spec)
        out = _batch_lhs(x, _to_canonical(rhs, dn.rhs_spec), axis_size, new)
    elif lhs_dim is batching.not_mapped:
        w = _batched_canonical(rhs, rhs_dim, dn.rhs_spec)
        out = _batch_rhs(_to_canonical(lhs, dn.lhs_spec), w, axis_size, new)
    else:
        x = _batched_canonical(lhs, lhs_dim, dn.lhs_spec)
        w = _batched_canonical(rhs, rhs_dim, dn.rhs_spec)
        out = _batch_both(x, w, axis_size, new)
    perm = [0] * (len(dn.out_spec) + 1)  # (V, canonical) -> (V, out_spec layout)
    for j, a in enumerate(dn.out_spec):
        perm[1 + a] = 1 + j
    return transpose(out, perm), 0


conv_general_dilated_p = define_primitive(
    "conv_general_dilated",
    impl=_conv_impl,
    abstract_eval=_conv_abstract_eval,
    jvp=_conv_jvp,
    transpose=_conv_transpose,
    batch=_conv_batch,
    kernel="library",
)


# --- public functions -----------------------------------------------------------------------


def _int_tuple(name: str, what: str, val: Any, count: int) -> tuple[int, ...]:
    if val is None:
        return (1,) * count
    try:
        out = tuple(int(v) for v in val)
    except TypeError:
        raise TypeError(f"{name}: {what} must be a sequence of ints, got {val!r}") from None
    if len(out) != count:
        raise ShapeError(
            f"{name}: {what} needs one entry per spatial dimension ({count}), got {val!r}"
        )
    return out


def _explicit_padding(name: str, padding: Any, count: int) -> tuple[tuple[int, int], ...]:
    try:
        pads = tuple((int(lo), int(hi)) for lo, hi in padding)
    except (TypeError, ValueError):
        raise TypeError(
            f"{name}: padding must be 'SAME', 'SAME_LOWER', 'VALID' or a sequence of (low, "
            f"high) pairs, got {padding!r}"
        ) from None
    if len(pads) != count:
        raise ShapeError(
            f"{name}: padding needs one (low, high) pair per spatial dimension ({count}), "
            f"got {padding!r}"
        )
    return pads


def conv_general_dilated(
    lhs: Any,
    rhs: Any,
    window_strides: Sequence[int],
    padding: str | Sequence[tuple[int, int]],
    lhs_dilation: Sequence[int] | None = None,
    rhs_dilation: Sequence[int] | None = None,
    dimension_numbers: Any = None,
    feature_group_count: int = 1,
    batch_group_count: int = 1,
    precision: Any = None,
    preferred_element_type: Any = None,
) -> Any:
    """General N-d convolution (a cross-correlation: no kernel flip), JAX's
    ``lax.conv_general_dilated``.

    Args:
      lhs: input, rank ``n + 2`` (batch, feature and ``n`` spatial axes).
      rhs: kernel, rank ``n + 2`` (output feature, input feature and ``n`` spatial axes),
        of the lhs dtype.
      window_strides: ``n`` strides.
      padding: ``'SAME'``, ``'SAME_LOWER'``, ``'VALID'`` or ``n`` ``(low, high)`` pairs
        (negative values crop).
      lhs_dilation: ``n`` input dilations (a transposed / fractionally strided
        convolution); default 1.
      rhs_dilation: ``n`` kernel dilations (atrous convolution); default 1.
      dimension_numbers: ``None`` (``('NCHW', 'OIHW', 'NCHW')``), three strings such as
        ``('NHWC', 'HWIO', 'NHWC')`` or a ``ConvDimensionNumbers``.
      feature_group_count: split the features into this many groups (depthwise when it
        equals the number of input features).
      batch_group_count: split the lhs batch into this many groups.
      precision: accepted for compatibility; the operand precision is used.
      preferred_element_type: the result dtype (default the operands' dtype).

    Returns:
      The output, laid out as ``dimension_numbers``' output spec, spatial size
      ``floor((d(n) + lo + hi - d(k)) / stride) + 1`` per axis, ``d`` the dilated size.

    Raises:
      ShapeError: ranks, feature sizes, group counts or per-axis arguments disagree.
      FxgradTypeError: the operands' dtypes differ.

    Example:
      >>> import numpy as np
      >>> from fxgrad import lax
      >>> x = np.arange(5.0).reshape(1, 1, 5)
      >>> lax.conv_general_dilated(x, np.ones((1, 1, 2)), (1,), "VALID")
      Array([[[1., 3., 5., 7.]]], dtype=float64)
    """
    name = "lax.conv_general_dilated"
    lhs_aval, rhs_aval = get_aval(lhs), get_aval(rhs)
    dnums = conv_dimension_numbers(lhs_aval.shape, rhs_aval.shape, dimension_numbers)
    nsp = lhs_aval.ndim - 2
    if nsp < 0:
        raise ShapeError(
            f"{name}: operands need a batch and a feature axis, got lhs shape "
            f"{lhs_aval.shape} and rhs shape {rhs_aval.shape}"
        )
    strides = _int_tuple(name, "window_strides", window_strides, nsp)
    lhs_dil = _int_tuple(name, "lhs_dilation", lhs_dilation, nsp)
    rhs_dil = _int_tuple(name, "rhs_dilation", rhs_dilation, nsp)
    if isinstance(padding, str):
        if any(d > 1 for d in lhs_dil):
            raise ValueError(
                f"{name}: string padding is not supported with lhs_dilation > 1; give "
                "explicit (low, high) pads or use lax.conv_transpose"
            )
        lhs_c, rhs_c = _canonical_shapes(lhs_aval.shape, rhs_aval.shape, dnums)
        window = [_dilate_dim(k, d) for k, d in zip(rhs_c[2:], rhs_dil, strict=True)]
        pads = tuple(padtype_to_pads(lhs_c[2:], window, strides, padding))
    else:
        pads = _explicit_padding(name, padding, nsp)
    pet = None if preferred_element_type is None else np.dtype(preferred_element_type)
    return bind_checked(
        conv_general_dilated_p,
        lhs,
        rhs,
        window_strides=strides,
        padding=pads,
        lhs_dilation=lhs_dil,
        rhs_dilation=rhs_dil,
        dimension_numbers=dnums,
        feature_group_count=int(feature_group_count),
        batch_group_count=int(batch_group_count),
        precision=None if precision is None else str(precision),
        preferred_element_type=pet,
    )


def conv(
    lhs: Any,
    rhs: Any,
    window_strides: Sequence[int],
    padding: str,
    precision: Any = None,
    preferred_element_type: Any = None,
) -> Any:
    """``conv_general_dilated`` in the NCHW / OIHW layout without dilation (JAX's ``lax.conv``)."""
    return conv_with_general_padding(
        lhs, rhs, window_strides, padding, None, None, precision, preferred_element_type
    )


def conv_with_general_padding(
    lhs: Any,
    rhs: Any,
    window_strides: Sequence[int],
    padding: str | Sequence[tuple[int, int]],
    lhs_dilation: Sequence[int] | None,
    rhs_dilation: Sequence[int] | None,
    precision: Any = None,
    preferred_element_type: Any = None,
) -> Any:
    """``conv_general_dilated`` in the NCHW / OIHW layout (``lax.conv_with_general_padding``)."""
    return conv_general_dilated(
        lhs,
        rhs,
        window_strides,
        padding,
        lhs_dilation=lhs_dilation,
        rhs_dilation=rhs_dilation,
        precision=precision,
        preferred_element_type=preferred_element_type,
    )


def _conv_transpose_padding(k: int, s: int, padding: str) -> tuple[int, int]:
    """Pads of the dilated input so the output has ``n * s`` (SAME) or
    ``n * s + max(k - s, 0)`` (VALID) positions, as Keras' Conv2DTranspose."""
    if padding == "SAME":
        total = k + s - 2
        lo = k - 1 if s > k - 1 else -(-total // 2)
    elif padding == "VALID":
        total = k + s - 2 + max(k - s, 0)
        lo = k - 1
    else:
        raise ValueError(f"lax.conv_transpose: padding must be 'SAME' or 'VALID', got {padding!r}")
    return lo, total - lo


_TRANSPOSE_DEFAULT_DNUMS = {
    2: ("NC", "IO", "NC"),
    3: ("NHC", "HIO", "NHC"),
    4: ("NHWC", "HWIO", "NHWC"),
    5: ("NHWDC", "HWDIO", "NHWDC"),
}


def conv_transpose(
    lhs: Any,
    rhs: Any,
    strides: Sequence[int],
    padding: str | Sequence[tuple[int, int]],
    rhs_dilation: Sequence[int] | None = None,
    dimension_numbers: Any = None,
    transpose_kernel: bool = False,
    precision: Any = None,
    preferred_element_type: Any = None,
    use_consistent_padding: bool = False,
) -> Any:
    """Transposed ("fractionally strided") convolution, JAX's ``lax.conv_transpose``.

    The input is dilated by ``strides`` and convolved with stride 1. ``'SAME'`` gives
    ``n * stride`` outputs per axis and ``'VALID'`` ``n * stride + max(k - stride, 0)``.
    Explicit pads are pads of the dilated input, or, with
    ``use_consistent_padding=True``, the pads of the forward convolution (PyTorch's
    convention). ``transpose_kernel=True`` flips the kernel and swaps its in/out feature
    axes (so the result is the gradient of ``conv_general_dilated``, as Keras computes).
    ``dimension_numbers`` default to TensorFlow's ``NHWC``/``HWIO`` for ranks 2 to 5.

    Example:
      >>> import numpy as np
      >>> from fxgrad import lax
      >>> x = np.ones((1, 3, 1))  # N, W, C
      >>> lax.conv_transpose(x, np.ones((2, 1, 1)), (2,), "VALID").shape
      (1, 6, 1)
    """
    name = "lax.conv_transpose"
    lhs_aval, rhs_aval = get_aval(lhs), get_aval(rhs)
    ndim = lhs_aval.ndim
    if dimension_numbers is None:
        if ndim not in _TRANSPOSE_DEFAULT_DNUMS:
            raise ValueError(
                f"{name}: no default dimension_numbers for rank {ndim}; pass them explicitly"
            )
        dimension_numbers = _TRANSPOSE_DEFAULT_DNUMS[ndim]
    dn = conv_dimension_numbers(lhs_aval.shape, rhs_aval.shape, dimension_numbers)
    nsp = ndim - 2
    strides = _int_tuple(name, "strides", strides, nsp)
    rhs_dil = _int_tuple(name, "rhs_dilation", rhs_dilation, nsp)
    window = [rhs_aval.shape[a] for a in dn.rhs_spec[2:]]
    effective = [_dilate_dim(k, d) for k, d in zip(window, rhs_dil, strict=True)]
    if isinstance(padding, str):
        kind = padding.upper()
        pads = [
            _conv_transpose_padding(k, s, kind) for k, s in zip(effective, strides, strict=True)
        ]
    else:
        pads = list(_explicit_padding(name, padding, nsp))
        if use_consistent_padding:
            pads = [(k - 1 - lo, k - 1 - hi) for k, (lo, hi) in zip(effective, pads, strict=True)]
    if transpose_kernel:
        rhs = rev(rhs, dn.rhs_spec[2:])
        perm = list(range(ndim))
        perm[dn.rhs_spec[0]], perm[dn.rhs_spec[1]] = perm[dn.rhs_spec[1]], perm[dn.rhs_spec[0]]
        rhs = transpose(rhs, perm)
    return conv_general_dilated(
        lhs,
        rhs,
        (1,) * nsp,
        pads,
        lhs_dilation=strides,
        rhs_dilation=rhs_dil,
        dimension_numbers=dn,
        precision=precision,
        preferred_element_type=preferred_element_type,
    )
