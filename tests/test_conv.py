"""``lax.conv_general_dilated`` and friends against a direct loop, and their derivatives.

The transposes under test (fxgrad/lax/conv.py) come from the definition, in canonical
layout, with ``x~`` the dilated and padded lhs (``x~[lo + i * d] = lhs[i]``)::

    out[n, o, j] = sum_{c, k} x~[n, c, j s + k r] w[o, c, k]

* lhs: ``ct_x~[n, c, p] = sum_{o, j, k: j s + k r = p} ct[n, o, j] w[o, c, k]``. Writing
  ``k = K - 1 - k'`` turns this into a correlation of ``ct`` dilated by ``s`` and padded
  low by ``k_eff - 1`` with the flipped kernel (in/out features swapped), dilated by
  ``r``. Only ``p = lo + i d`` is needed, so the window stride is ``d`` and the low pad
  becomes ``k_eff - 1 - lo``; the high pad makes exactly ``n`` outputs.
* rhs: ``ct_w[o, c, k] = sum_{n, j} ct[n, o, j] x~[n, c, j s + k r]``: a correlation in
  which ``c`` plays the batch, ``n`` the contracted feature, ``ct`` the kernel (dilated by
  ``s``) and ``k`` the output position (stride ``r``); the high pad makes exactly ``K``
  outputs. Feature groups of the forward convolution become batch groups here (the
  groups of ``c`` pair with the groups of ``o``) and vice versa.

These are checked by ``check_grads`` (finite differences, order 2) over hypothesis-drawn
strides, paddings, dilations and groups.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fxgrad
import fxgrad.numpy as fnp
from fxgrad import lax
from fxgrad.errors import FxgradTypeError, ShapeError
from fxgrad.test_util import check_grads
from tests.records.fft_conv import conv_reference

# --- values --------------------------------------------------------------------------------


@st.composite
def conv_cases(draw, max_spatial=2):
    nsp = draw(st.integers(1, max_spatial))
    groups = draw(st.integers(1, 2))
    group_kind = draw(st.sampled_from(["feature", "batch"])) if groups > 1 else "feature"
    in_per_group = draw(st.integers(1, 2))
    out_per_group = draw(st.integers(1, 2))
    batch = draw(st.integers(1, 2)) * (groups if group_kind == "batch" else 1)
    features = in_per_group * (groups if group_kind == "feature" else 1)
    window = [draw(st.integers(1, 3)) for _ in range(nsp)]
    spatial = [draw(st.integers(1, 5)) for _ in range(nsp)]
    strides = [draw(st.integers(1, 3)) for _ in range(nsp)]
    lhs_dil = [draw(st.integers(1, 2)) for _ in range(nsp)]
    rhs_dil = [draw(st.integers(1, 2)) for _ in range(nsp)]
    padding = [(draw(st.integers(-1, 2)), draw(st.integers(-1, 2))) for _ in range(nsp)]
    for i in range(nsp):  # keep at least one output position (and no over-cropping)
        dilated = (spatial[i] - 1) * lhs_dil[i] + 1 + sum(padding[i])
        need = (window[i] - 1) * rhs_dil[i] + 1
        if dilated < need:
            padding[i] = (padding[i][0], padding[i][1] + need - dilated)
    return dict(
        lhs_shape=(batch, features, *spatial),
        rhs_shape=(out_per_group * groups, in_per_group, *window),
        window_strides=tuple(strides),
        padding=tuple(padding),
        lhs_dilation=tuple(lhs_dil),
        rhs_dilation=tuple(rhs_dil),
        feature_group_count=groups if group_kind == "feature" else 1,
        batch_group_count=groups if group_kind == "batch" else 1,
    )


def _conv_fn(case):
    params = {k: v for k, v in case.items() if k not in ("lhs_shape", "rhs_shape")}

    def fn(lhs, rhs):
        return lax.conv_general_dilated(lhs, rhs, **params)

    return fn, params


def _operands(case, seed=0, dtype=np.float64):
    rng = np.random.RandomState(seed)
    return rng.randn(*case["lhs_shape"]).astype(dtype), rng.randn(*case["rhs_shape"]).astype(dtype)


@given(case=conv_cases())
def test_conv_matches_loop(case):
    fn, params = _conv_fn(case)
    lhs, rhs = _operands(case)
    out = fn(lhs, rhs)
    expected = conv_reference(lhs, rhs, **params)
    assert out.shape == expected.shape
    np.testing.assert_allclose(out, expected, atol=1e-12)


@settings(max_examples=10)
@given(case=conv_cases())
def test_conv_grads_hypothesis(case):
    fn, _ = _conv_fn(case)
    check_grads(fn, _operands(case, seed=1), order=2)


@pytest.mark.parametrize(
    "dnums",
    [
        ("NCHW", "OIHW", "NCHW"),
        ("NHWC", "HWIO", "NHWC"),
        ("NHWC", "OIHW", "NCHW"),
        ("CHWN", "IWHO", "WNHC"),
    ],
)
def test_dimension_numbers_are_layouts(dnums):
    """The same convolution in another layout is a transpose of the canonical one."""
    rng = np.random.RandomState(0)
    lhs_c = rng.randn(2, 3, 5, 6)  # N C H W
    rhs_c = rng.randn(4, 3, 3, 2)  # O I H W
    kwargs = dict(window_strides=(2, 1), padding=[(1, 0), (0, 1)], rhs_dilation=(1, 2))
    expected_c = conv_reference(lhs_c, rhs_c, **kwargs)  # N O H W
    lhs_s, rhs_s, out_s = dnums
    if rhs_s.index("W") < rhs_s.index("H"):
        # per-axis arguments follow the kernel's spatial order (here W before H)
        kwargs = {k: v[::-1] for k, v in kwargs.items()}
    lhs = np.transpose(lhs_c, ["NCHW".index(c) for c in lhs_s])
    rhs = np.transpose(rhs_c, ["OIHW".index(c) for c in rhs_s])
    out = lax.conv_general_dilated(lhs, rhs, dimension_numbers=dnums, **kwargs)
    expected = np.transpose(expected_c, ["NCHW".index(c) for c in out_s])
    np.testing.assert_allclose(out, expected, atol=1e-12)
    dn = lax.conv_dimension_numbers(lhs.shape, rhs.shape, dnums)
    out = lax.conv_general_dilated(lhs, rhs, dimension_numbers=dn, **kwargs)
    np.testing.assert_allclose(out, expected, atol=1e-12)


def test_conv_dimension_numbers_values():
    # the values JAX gives (spatial axes ordered by the kernel spec)
    dn = lax.conv_dimension_numbers((1, 5, 5, 2), (3, 3, 2, 4), ("NHWC", "HWIO", "NHWC"))
    assert dn == ((0, 3, 1, 2), (3, 2, 0, 1), (0, 3, 1, 2))
    dn = lax.conv_dimension_numbers((1, 2, 5, 6), (1, 2, 3, 4), ("NCHW", "OIWH", "NCHW"))
    assert dn == ((0, 1, 3, 2), (0, 1, 2, 3), (0, 1, 3, 2))
    assert lax.conv_dimension_numbers((1, 2, 3), (1, 2, 3), None) == ((0, 1, 2),) * 3


def test_padtype_to_pads():
    assert lax.padtype_to_pads((6,), (4,), (1,), "SAME") == [(1, 2)]
    assert lax.padtype_to_pads((6,), (4,), (1,), "SAME_LOWER") == [(2, 1)]
    assert lax.padtype_to_pads((5, 5), (3, 3), (2, 2), "same") == [(1, 1), (1, 1)]
    assert lax.padtype_to_pads((7,), (3,), (3,), "VALID") == [(0, 0)]
    # SAME keeps ceil(n / stride) outputs
    x = np.random.randn(1, 1, 7)
    for stride in (1, 2, 3):
        out = lax.conv_general_dilated(x, np.ones((1, 1, 4)), (stride,), "SAME")
        assert out.shape[-1] == -(-7 // stride)


def test_lax_conv_wrappers():
    rng = np.random.RandomState(1)
    lhs, rhs = rng.randn(2, 3, 6, 5), rng.randn(4, 3, 2, 3)
    np.testing.assert_allclose(
        lax.conv(lhs, rhs, (2, 1), "VALID"),
        conv_reference(lhs, rhs, (2, 1), [(0, 0), (0, 0)]),
        atol=1e-12,
    )
    np.testing.assert_allclose(
        lax.conv_with_general_padding(lhs, rhs, (1, 1), [(1, 0), (0, 2)], (2, 1), (1, 2)),
        conv_reference(lhs, rhs, (1, 1), [(1, 0), (0, 2)], (2, 1), (1, 2)),
        atol=1e-12,
    )


def test_dtypes_and_preferred_element_type():
    lhs, rhs = np.ones((1, 2, 4), np.float32), np.ones((3, 2, 2), np.float32)
    assert lax.conv_general_dilated(lhs, rhs, (1,), "VALID").dtype == np.float32
    out = lax.conv_general_dilated(lhs, rhs, (1,), "VALID", preferred_element_type=np.float64)
    assert out.dtype == np.float64
    ints = lax.conv_general_dilated(lhs.astype(np.int32), rhs.astype(np.int32), (1,), "VALID")
    assert ints.dtype == np.int32
    np.testing.assert_array_equal(ints, np.full((1, 3, 3), 4))
    z = np.ones((1, 2, 4)) * (1 + 1j)
    out = lax.conv_general_dilated(z, rhs.astype(complex) * 1j, (1,), "VALID")
    np.testing.assert_allclose(out, np.full((1, 3, 3), 4 * (1 + 1j) * 1j))


def test_kernel_larger_than_input_gives_empty_output():
    out = lax.conv_general_dilated(np.ones((1, 1, 2)), np.ones((1, 1, 3)), (1,), "VALID")
    assert out.shape == (1, 1, 0)
    grads = fxgrad.grad(
        lambda x, w: fnp.sum(lax.conv_general_dilated(x, w, (1,), "VALID")), argnums=(0, 1)
    )(np.ones((1, 1, 2)), np.ones((1, 1, 3)))
    np.testing.assert_array_equal(grads[0], np.zeros((1, 1, 2)))
    np.testing.assert_array_equal(grads[1], np.zeros((1, 1, 3)))


# --- conv_transpose ------------------------------------------------------------------------


def test_conv_transpose_shapes_match_jax():
    # shapes JAX gives for x (2, 3, 7), w (4, 3, 3) in NCH / OIH, stride 2
    x, w = np.random.randn(2, 3, 7), np.random.randn(4, 3, 3)
    dn = ("NCH", "OIH", "NCH")
    assert lax.conv_transpose(x, w, (2,), "SAME", dimension_numbers=dn).shape == (2, 4, 14)
    assert lax.conv_transpose(x, w, (2,), "VALID", dimension_numbers=dn).shape == (2, 4, 15)
    assert lax.conv_transpose(x, w, (2,), [(1, 2)], dimension_numbers=dn).shape == (2, 4, 14)


@pytest.mark.parametrize("stride", [1, 2, 3])
@pytest.mark.parametrize("padding", [[(0, 0)], [(1, 2)], [(2, 0)]])
def test_conv_transpose_with_transposed_kernel_is_the_conv_gradient(stride, padding):
    """PyTorch's convention: the gradient of a convolution with respect to its input."""
    rng = np.random.RandomState(stride)
    kernel = rng.randn(3, 2, 4)  # W, I, O (the default NHC / HIO layout)
    x = rng.randn(2, 9, 2)

    def forward(a):
        return lax.conv_general_dilated(
            a, kernel, (stride,), padding, None, None, ("NHC", "HIO", "NHC")
        )

    out, f_vjp = fxgrad.vjp(forward, x)
    ct = rng.randn(*out.shape)
    (expected,) = f_vjp(ct)
    got = lax.conv_transpose(
        ct, kernel, (stride,), padding, transpose_kernel=True, use_consistent_padding=True
    )
    # like JAX (and PyTorch without output_padding) the result has (m - 1) s + k - lo - hi
    # positions: a prefix of the gradient when the stride does not divide the input
    lo, hi = padding[0]
    length = (out.shape[1] - 1) * stride + 3 - lo - hi
    assert got.shape == (2, length, 2)
    np.testing.assert_allclose(got, expected[:, :length], atol=1e-12)


# --- derivatives and transformations ----------------------------------------------------


GRAD_CASES = {
    "nhwc_stride_dilation": (
        (2, 5, 4, 2),
        (2, 3, 2, 3),
        dict(
            window_strides=(2, 1),
            padding="SAME",
            rhs_dilation=(1, 2),
            dimension_numbers=("NHWC", "HWIO", "NHWC"),
        ),
    ),
    "depthwise": (
        (2, 3, 5),
        (6, 1, 2),
        dict(window_strides=(1,), padding=[(1, 1)], feature_group_count=3),
    ),
    "batch_groups": (
        (4, 2, 5),
        (4, 2, 2),
        dict(window_strides=(2,), padding=[(0, 1)], batch_group_count=2),
    ),
    "lhs_dilated": (
        (1, 2, 4),
        (2, 2, 3),
        dict(window_strides=(1,), padding=[(2, 2)], lhs_dilation=(3,)),
    ),
}


@pytest.mark.parametrize("name", sorted(GRAD_CASES))
def test_grads_order_two(name):
    lhs_shape, rhs_shape, kwargs = GRAD_CASES[name]
    rng = np.random.RandomState(2)
    lhs, rhs = rng.randn(*lhs_shape), rng.randn(*rhs_shape)
    check_grads(lambda a, b: lax.conv_general_dilated(a, b, **kwargs), (lhs, rhs), order=2)


def test_complex_grads():
    rng = np.random.RandomState(3)
    lhs = rng.randn(1, 2, 5) + 1j * rng.randn(1, 2, 5)
    rhs = rng.randn(3, 2, 2) + 1j * rng.randn(3, 2, 2)
    check_grads(lambda a, b: lax.conv_general_dilated(a, b, (2,), "SAME"), (lhs, rhs), order=2)


@pytest.mark.parametrize("name", sorted(GRAD_CASES))
@pytest.mark.parametrize("in_axes", [(0, None), (None, 0), (0, 0), (-1, 1), (2, -1)])
def test_vmap_matches_loop(name, in_axes):
    lhs_shape, rhs_shape, kwargs = GRAD_CASES[name]
    rng = np.random.RandomState(4)

    def fn(a, b):
        return lax.conv_general_dilated(a, b, **kwargs)

    def stacked(shape, axis):
        if axis is None:
            return rng.randn(*shape)
        return np.stack([rng.randn(*shape) for _ in range(3)], axis=axis)

    lhs, rhs = stacked(lhs_shape, in_axes[0]), stacked(rhs_shape, in_axes[1])
    out = fxgrad.vmap(fn, in_axes=in_axes)(lhs, rhs)

    def pick(x, axis, i):
        return x if axis is None else np.take(x, i, axis)

    expected = np.stack(
        [np.asarray(fn(pick(lhs, in_axes[0], i), pick(rhs, in_axes[1], i))) for i in range(3)]
    )
    np.testing.assert_allclose(out, expected, atol=1e-12)


def test_jit_vmap_grad_grad_compose():
    rng = np.random.RandomState(5)
    lhs, rhs = rng.randn(3, 1, 2, 6), rng.randn(4, 1, 3)

    def loss(x, w):
        out = lax.conv_general_dilated(x, w, (2,), "SAME", feature_group_count=2)
        return fnp.sum(fnp.tanh(out) ** 2)

    def grad_norm(x, w):
        g = fxgrad.grad(loss, argnums=1)(x, w)
        return fnp.sum(g**2)

    composed = fxgrad.jit(fxgrad.vmap(fxgrad.grad(grad_norm), in_axes=(0, None)))(lhs, rhs)
    expected = np.stack([np.asarray(fxgrad.grad(grad_norm)(x, rhs)) for x in lhs])
    np.testing.assert_allclose(composed, expected, atol=1e-10)
    np.testing.assert_allclose(fxgrad.jit(loss)(lhs[0], rhs), loss(lhs[0], rhs), rtol=1e-12)


# --- errors ------------------------------------------------------------------------------


def test_mismatched_feature_dims_name_the_shapes():
    lhs, rhs = np.ones((2, 3, 5, 5)), np.ones((4, 2, 3, 3))
    with pytest.raises(
        ShapeError,
        match=r"lhs feature dimension \(3\).*rhs input feature "
        r"dimension \(2\).*\(2, 3, 5, 5\).*\(4, 2, 3, 3\)",
    ):
        lax.conv_general_dilated(lhs, rhs, (1, 1), "SAME")
    with pytest.raises(ShapeError, match="feature_group_count"):
        lax.conv_general_dilated(
            np.ones((2, 4, 5)), np.ones((3, 2, 3)), (1,), "SAME", feature_group_count=2
        )
    with pytest.raises(ShapeError, match="batch_group_count"):
        lax.conv_general_dilated(
            np.ones((3, 4, 5)), np.ones((4, 4, 3)), (1,), "SAME", batch_group_count=2
        )
    with pytest.raises(ValueError, match="at most one of feature_group_count"):
        lax.conv_general_dilated(
            np.ones((2, 4, 5)),
            np.ones((4, 2, 3)),
            (1,),
            "SAME",
            feature_group_count=2,
            batch_group_count=2,
        )


def test_other_errors():
    x, w = np.ones((1, 2, 5)), np.ones((1, 2, 3))
    with pytest.raises(ShapeError, match="same rank"):
        lax.conv_general_dilated(x, np.ones((1, 2)), (1,), "SAME")
    with pytest.raises(FxgradTypeError, match="same dtype.*float32 and float64"):
        lax.conv_general_dilated(x.astype(np.float32), w, (1,), "SAME")
    with pytest.raises(ShapeError, match=r"window_strides needs one entry per spatial"):
        lax.conv_general_dilated(x, w, (1, 1), "SAME")
    with pytest.raises(ShapeError, match="padding needs one"):
        lax.conv_general_dilated(x, w, (1,), [(1, 1), (1, 1)])
    with pytest.raises(ValueError, match="unrecognized padding type 'bogus'"):
        lax.conv_general_dilated(x, w, (1,), "bogus")
    with pytest.raises(ShapeError, match="must be positive"):
        lax.conv_general_dilated(x, w, (0,), "VALID")
    with pytest.raises(ShapeError, match="negative padding"):
        lax.conv_general_dilated(x, w, (1,), [(-3, -3)])
    with pytest.raises(ShapeError, match="one letter per axis"):
        lax.conv_general_dilated(x, w, (1,), "SAME", dimension_numbers=("NCHW", "OIHW", "NCHW"))
    with pytest.raises(ShapeError, match="same spatial letters"):
        lax.conv_general_dilated(x, w, (1,), "SAME", dimension_numbers=("NCW", "OIH", "NCW"))
    with pytest.raises(ValueError, match="lhs_dilation"):
        lax.conv_general_dilated(x, w, (1,), "SAME", lhs_dilation=(2,))


# --- fxgrad.numpy.convolve / correlate ----------------------------------------------------


@given(
    m=st.integers(1, 7),
    n=st.integers(1, 7),
    mode=st.sampled_from(["full", "same", "valid"]),
    kind=st.sampled_from(["float64", "float32", "int64", "complex128"]),
)
def test_convolve_and_correlate_match_numpy(m, n, mode, kind):
    rng = np.random.RandomState(m * 10 + n)
    if kind == "int64":
        a, v = rng.randint(-5, 5, m), rng.randint(-5, 5, n)
    elif kind == "complex128":
        a, v = rng.randn(m) + 1j * rng.randn(m), rng.randn(n) + 1j * rng.randn(n)
    else:
        a, v = rng.randn(m).astype(kind), rng.randn(n).astype(kind)
    tol = 1e-5 if kind == "float32" else 1e-12
    for ours, theirs in ((fnp.convolve, np.convolve), (fnp.correlate, np.correlate)):
        out, expected = ours(a, v, mode), theirs(a, v, mode)
        assert out.dtype == expected.dtype and out.shape == expected.shape
        np.testing.assert_allclose(out, expected, rtol=tol, atol=tol)


@pytest.mark.parametrize("mode", ["full", "same", "valid"])
@pytest.mark.parametrize("lengths", [(6, 3), (3, 6), (4, 4)])
def test_convolve_and_correlate_grads(mode, lengths):
    rng = np.random.RandomState(6)
    a, v = rng.randn(lengths[0]), rng.randn(lengths[1]) + 1j * rng.randn(lengths[1])
    check_grads(lambda a, v: fnp.convolve(a, v, mode), (a, v.real), order=2)
    check_grads(lambda a, v: fnp.correlate(a, v, mode), (a.astype(complex), v), order=2)


def test_convolve_errors():
    with pytest.raises(ValueError, match="cannot be empty"):
        fnp.convolve(np.zeros(0), np.ones(3))
    with pytest.raises(ShapeError, match="only supports 1-dimensional"):
        fnp.correlate(np.zeros((2, 2)), np.ones(3))
    with pytest.raises(ValueError, match="mode must be one of"):
        fnp.convolve(np.ones(3), np.ones(3), "bogus")
