"""``lax.full_like``, ``lax.collapse``, ``lax.batch_matmul`` and ``lax.bitcast_convert_type``."""

from __future__ import annotations

import numpy as np
import pytest

import fxgrad
import fxgrad.numpy as fnp
from fxgrad import lax
from fxgrad.errors import ShapeError
from fxgrad.test_util import check_grads


def test_full_like_takes_shape_and_dtype_from_its_argument():
    x = fnp.zeros((2, 3), np.float32)
    out = lax.full_like(x, 7)
    assert out.shape == (2, 3) and out.dtype == np.float32 and not out.weak_type
    np.testing.assert_array_equal(out, np.full((2, 3), 7, np.float32))
    assert lax.full_like(x, 1.5, dtype=np.int32).dtype == np.int32
    assert lax.full_like(x, 0, shape=(4,)).shape == (4,)
    assert lax.full_like(2.0, 3).weak_type  # like a Python scalar: weak, as in JAX
    traced = fxgrad.jit(lambda v: lax.full_like(v, 2.5) * v)(np.arange(3.0))
    np.testing.assert_array_equal(traced, np.arange(3.0) * 2.5)


@pytest.mark.parametrize(
    "start, stop, shape",
    [(1, None, (2, 12)), (0, 2, (6, 4)), (-2, None, (2, 12)), (1, 1, (2, 1, 3, 4))],
)
def test_collapse_merges_a_range_of_axes(start, stop, shape):
    x = np.arange(24.0).reshape(2, 3, 4)
    out = lax.collapse(fnp.asarray(x), start, stop)
    np.testing.assert_array_equal(out, x.reshape(shape))
    with pytest.raises(ShapeError, match="lax.collapse"):
        lax.collapse(fnp.asarray(x), 2, 1)


def test_batch_matmul_matches_numpy_and_differentiates():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((4, 2, 3)), rng.standard_normal((4, 3, 5))
    np.testing.assert_allclose(lax.batch_matmul(a, b), a @ b, rtol=1e-12)
    check_grads(lax.batch_matmul, (a, b), order=2)
    np.testing.assert_allclose(fxgrad.jit(lax.batch_matmul)(a, b), a @ b, rtol=1e-12)
    with pytest.raises(ShapeError, match="lax.batch_matmul"):
        lax.batch_matmul(a, b[:2])


def test_bitcast_convert_type_is_exported():
    x = np.array([1.0, -2.5], np.float32)
    np.testing.assert_array_equal(lax.bitcast_convert_type(x, np.int32), x.view(np.int32))
