"""``fxgrad.lax``: the primitives, under JAX's ``jax.lax`` names.

Unlike ``fxgrad.numpy``, these functions do not promote dtypes: operands of an
elementwise operation must share a dtype (Python scalars adapt). Shapes of elementwise
operands broadcast NumPy-style.
"""

from __future__ import annotations

import numpy as np

from fxgrad.interpreters import array_ops as _array_ops
from fxgrad.lax import _reverse_rules  # noqa: F401  (registers the eager vjp routes)
from fxgrad.lax.call import pjit_p
from fxgrad.lax.control_flow import *  # noqa: F403
from fxgrad.lax.conv import *  # noqa: F403
from fxgrad.lax.convenience import *  # noqa: F403
from fxgrad.lax.decompositions import *  # noqa: F403
from fxgrad.lax.elementwise import (
    abs,
    abs_p,
    acos,
    acos_p,
    acosh,
    acosh_p,
    add,
    add_p,
    and_p,
    asin,
    asin_p,
    asinh,
    asinh_p,
    atan,
    atan2,
    atan2_p,
    atan_p,
    atanh,
    atanh_p,
    bitcast_convert_type,
    bitcast_convert_type_p,
    bitwise_and,
    bitwise_not,
    bitwise_or,
    bitwise_xor,
    cbrt,
    cbrt_p,
    ceil,
    ceil_p,
    clamp,
    complex,
    complex_p,
    conj,
    conj_p,
    convert_element_type,
    convert_element_type_p,
    cos,
    cos_p,
    cosh,
    cosh_p,
    digamma,
    digamma_p,
    div,
    div_p,
    eq,
    eq_p,
    erf,
    erf_inv,
    erf_inv_p,
    erf_p,
    erfc,
    erfc_p,
    exp,
    exp2,
    exp2_p,
    exp_p,
    expm1,
    expm1_p,
    floor,
    floor_p,
    ge,
    ge_p,
    gt,
    gt_p,
    imag,
    imag_p,
    integer_pow,
    integer_pow_p,
    is_finite,
    is_finite_p,
    le,
    le_p,
    lgamma,
    lgamma_p,
    log,
    log1p,
    log1p_p,
    log_p,
    logistic,
    logistic_p,
    lt,
    lt_p,
    max,
    max_p,
    min,
    min_p,
    mul,
    mul_p,
    ne,
    ne_p,
    neg,
    neg_p,
    nextafter,
    nextafter_p,
    not_p,
    or_p,
    polygamma,
    polygamma_p,
    pow,
    pow_p,
    real,
    real_p,
    rem,
    rem_p,
    round,
    round_p,
    rsqrt,
    rsqrt_p,
    select,
    select_n,
    select_n_p,
    shift_left,
    shift_left_p,
    shift_right_arithmetic,
    shift_right_arithmetic_p,
    sign,
    sign_p,
    sin,
    sin_p,
    sinh,
    sinh_p,
    sqrt,
    sqrt_p,
    square,
    square_p,
    stop_gradient,
    stop_gradient_p,
    sub,
    sub_p,
    tan,
    tan_p,
    tanh,
    tanh_p,
    xor_p,
)
from fxgrad.lax.fft import *  # noqa: F403
from fxgrad.lax.indexing import *  # noqa: F403
from fxgrad.lax.linalg import dot, dot_general, dot_general_p
from fxgrad.lax.parallel import *  # noqa: F403
from fxgrad.lax.reduction import (
    argmax,
    argmax_p,
    argmin,
    argmin_p,
    cumlogsumexp,
    cumlogsumexp_p,
    cummax,
    cummax_p,
    cummin,
    cummin_p,
    cumprod,
    cumprod_p,
    cumsum,
    cumsum_p,
    reduce,
    reduce_and,
    reduce_and_p,
    reduce_max,
    reduce_max_p,
    reduce_min,
    reduce_min_p,
    reduce_or,
    reduce_or_p,
    reduce_prod,
    reduce_prod_p,
    reduce_sum,
    reduce_sum_p,
    reduce_xor,
    reduce_xor_p,
)
from fxgrad.lax.shape import (
    broadcast,
    broadcast_in_dim,
    broadcast_in_dim_p,
    broadcast_to_shape,
    expand_dims,
    reshape,
    reshape_p,
    squeeze,
    squeeze_p,
    transpose,
    transpose_p,
)
from fxgrad.lax.slicing import *  # noqa: F403
from fxgrad.lax.sorting import *  # noqa: F403
from fxgrad.lax.windowed import *  # noqa: F403


def _zeros(aval):
    from fxgrad.dtypes import float0
    from fxgrad.lax.elementwise import full_like_aval

    if aval.dtype == float0:  # the tangent of an integer: no data, built directly
        import numpy

        return numpy.zeros(aval.shape, float0)
    return full_like_aval(aval, 0)


def _moveaxis(x, src, dst):
    from fxgrad.core import get_aval

    ndim = get_aval(x).ndim
    perm = [i for i in range(ndim) if i != src]
    perm.insert(dst, src)
    return transpose(x, perm)


def _broadcast_axis(x, size, axis):
    from fxgrad.core import get_aval

    aval = get_aval(x)
    shape = list(aval.shape)
    shape.insert(axis, size)
    dims = [i for i in range(len(shape)) if i != axis]
    return broadcast_in_dim(x, shape, dims)


_array_ops.install(
    zeros=_zeros,
    add=add,
    moveaxis=_moveaxis,
    broadcast_axis=_broadcast_axis,
    convert=convert_element_type,
)

del np
