"""Compiled kernels against eager evaluation (each primitive's NumPy ``impl``), op by op
and dtype by dtype, on edge values: NaN, infinities, signed zeros, subnormals, integer
extremes, division by zero, oversized shifts."""

from __future__ import annotations

import platform

import numpy as np
import pytest

import fxgrad
import fxgrad.lax as lax
import fxgrad.numpy as fnp
from fxgrad.lax import _executor
from fxgrad.lax import elementwise as ew

FLOATS = ("float32", "float64")
SIGNED = ("int8", "int32", "int64")
UNSIGNED = ("uint8", "uint32", "uint64")
INTS = SIGNED + UNSIGNED


def _values(dtype: str, n: int = 96, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    dt = np.dtype(dtype)
    if dt.kind == "f":
        info = np.finfo(dt)
        special = [
            0.0,
            -0.0,
            np.inf,
            -np.inf,
            np.nan,
            1.0,
            -1.0,
            0.5,
            -0.5,
            2.5,
            -2.5,
            info.tiny,
            -info.tiny,
            info.smallest_subnormal,
            info.max,
            -info.max,
            1e5,
        ]
        body = rng.standard_normal(n - len(special)) * 4
        return np.concatenate([special, body]).astype(dt)
    if dt.kind == "b":
        return rng.random(n) > 0.5
    info = np.iinfo(dt)
    special = [0, 1, info.max, info.min, info.max - 1]
    if dt.kind == "i":
        special += [-1, -2, info.min + 1]
    body = rng.integers(max(info.min, -100), min(info.max, 100), n - len(special))
    return np.concatenate([np.array(special, dtype=dt), body.astype(dt)])


def _shifts(dtype: str, n: int = 96) -> np.ndarray:
    bits = np.dtype(dtype).itemsize * 8
    base = [0, 1, 3, bits - 1, bits, bits + 1, 2 * bits]
    if np.dtype(dtype).kind == "i":
        base += [-1, -bits]
    return np.resize(np.array(base, dtype=dtype), n)


def _same(compiled: np.ndarray, eager: np.ndarray, rtol: float = 0.0) -> None:
    assert compiled.dtype == eager.dtype and compiled.shape == eager.shape
    if compiled.dtype.kind == "f" and rtol:
        np.testing.assert_allclose(compiled, eager, rtol=rtol, atol=0, equal_nan=True)
    else:
        np.testing.assert_array_equal(compiled, eager)


def _run(fun, *args):
    arrays = [fnp.asarray(a) for a in args]
    with np.errstate(all="ignore"):
        eager = np.asarray(fun(*arrays))
        compiled = np.asarray(fxgrad.jit(fun)(*arrays))
    return compiled, eager


EXACT_UNARY = {
    "neg": (lax.neg, FLOATS + INTS),
    "sign": (lax.sign, FLOATS + INTS),
    "floor": (lax.floor, FLOATS),
    "ceil": (lax.ceil, FLOATS),
    "round_even": (lambda x: lax.round(x, 1), FLOATS),
    "is_finite": (lax.is_finite, FLOATS),
    "sqrt": (lax.sqrt, FLOATS),
    "rsqrt": (lax.rsqrt, FLOATS),
    "abs": (lax.abs, FLOATS + INTS),
    "not": (lax.bitwise_not, INTS + ("bool",)),
    "square": (lax.square, FLOATS + INTS),
    "integer_pow3": (lambda x: lax.integer_pow(x, 3), INTS),
    "integer_pow0": (lambda x: lax.integer_pow(x, 0), FLOATS + INTS),
    "integer_pow_neg": (lambda x: lax.integer_pow(x, -2), FLOATS),
    "stop_gradient": (lax.stop_gradient, FLOATS + INTS + ("bool",)),
    "population_count": (ew.population_count, INTS),
}


@pytest.mark.parametrize("name,dtype", [(n, d) for n, (_, ds) in EXACT_UNARY.items() for d in ds])
def test_exact_unary(name, dtype):
    fun = EXACT_UNARY[name][0]
    _same(*_run(fun, _values(dtype)))


@pytest.mark.parametrize("dtype", FLOATS)
def test_integer_pow_multiplies(dtype):
    # x * x * x rounds twice (as XLA's does); NumPy's pow rounds once
    _same(
        *_run(lambda x: lax.integer_pow(x, 3), _values(dtype)), rtol=2 * float(np.finfo(dtype).eps)
    )


def test_round_half_away_from_zero():
    x = np.array([0.5, -0.5, 1.5, 2.5, -2.5, 3.7, -3.2, 0.0, np.nan, np.inf], np.float64)
    compiled = np.asarray(fxgrad.jit(lax.round)(fnp.asarray(x)))
    expected = np.array([1, -1, 2, 3, -3, 4, -3, 0, np.nan, np.inf])
    np.testing.assert_array_equal(compiled, expected)


EXACT_BINARY = {
    "add": (lax.add, FLOATS + INTS + ("bool",)),
    "sub": (lax.sub, FLOATS + INTS),
    "mul": (lax.mul, FLOATS + INTS + ("bool",)),
    "div": (lax.div, FLOATS + INTS),
    "rem": (lax.rem, FLOATS + INTS),
    "max": (lax.max, FLOATS + INTS + ("bool",)),
    "min": (lax.min, FLOATS + INTS + ("bool",)),
    "eq": (lax.eq, FLOATS + INTS + ("bool",)),
    "ne": (lax.ne, FLOATS + INTS + ("bool",)),
    "lt": (lax.lt, FLOATS + INTS + ("bool",)),
    "le": (lax.le, FLOATS + INTS),
    "gt": (lax.gt, FLOATS + INTS),
    "ge": (lax.ge, FLOATS + INTS + ("bool",)),
    "and": (lax.bitwise_and, INTS + ("bool",)),
    "or": (lax.bitwise_or, INTS + ("bool",)),
    "xor": (lax.bitwise_xor, INTS + ("bool",)),
    "nextafter": (lax.nextafter, FLOATS),
}


@pytest.mark.parametrize("name,dtype", [(n, d) for n, (_, ds) in EXACT_BINARY.items() for d in ds])
def test_exact_binary(name, dtype):
    fun = EXACT_BINARY[name][0]
    x = _values(dtype, seed=1)
    y = np.roll(_values(dtype, seed=2), 5)
    _same(*_run(fun, x, y))
    _same(*_run(fun, x, x))


@pytest.mark.parametrize("name", ["shift_left", "shift_right_arithmetic", "shift_right_logical"])
@pytest.mark.parametrize("dtype", INTS)
def test_shifts_past_the_width(name, dtype):
    fun = getattr(ew, name)
    _same(*_run(fun, _values(dtype), _shifts(dtype)))


LIBM = {
    "tan": lax.tan,
    "asin": lax.asin,
    "acos": lax.acos,
    "atan": lax.atan,
    "sinh": lax.sinh,
    "cosh": lax.cosh,
    "asinh": lax.asinh,
    "acosh": lax.acosh,
    "atanh": lax.atanh,
    "cbrt": lax.cbrt,
    "exp2": lax.exp2,
    "erf": lax.erf,
    "erfc": lax.erfc,
    "lgamma": lax.lgamma,
}


@pytest.mark.parametrize("name", sorted(LIBM))
@pytest.mark.parametrize("dtype", FLOATS)
def test_library_math(name, dtype):
    # lgamma near its roots loses relative accuracy (in libm and in NumPy's version)
    rtol = (64 if name == "lgamma" else 4) * float(np.finfo(dtype).eps)
    _same(*_run(LIBM[name], _values(dtype)), rtol=rtol)


@pytest.mark.parametrize("dtype", FLOATS)
def test_pow_and_atan2(dtype):
    rtol = 4 * float(np.finfo(dtype).eps)
    x, y = _values(dtype, seed=3), np.roll(_values(dtype, seed=4), 3)
    _same(*_run(lax.pow, np.abs(x), y), rtol=rtol)
    _same(*_run(lax.atan2, x, y), rtol=rtol)


@pytest.mark.parametrize("src", FLOATS + INTS + ("bool",))
@pytest.mark.parametrize("dst", FLOATS + INTS + ("bool",))
def test_convert(src, dst):
    x = _values(src)
    if np.dtype(src).kind == "f" and np.dtype(dst).kind in "iu":
        # NaN and out-of-range casts are platform-specific in NumPy (x86: INT_MIN); they
        # are checked below for the wide types only
        info = np.iinfo(np.dtype(dst))
        x = x[np.isfinite(x) & (x >= max(info.min, -100)) & (x <= min(info.max, 100))]
    _same(*_run(lambda v: lax.convert_element_type(v, dst), x))


@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="x86 cast rules")
@pytest.mark.parametrize("dst", ["int32", "int64"])
def test_convert_out_of_range_like_numpy_on_x86(dst):
    x = np.array([np.nan, np.inf, -np.inf, 1e30, -1e30, 3.9, -3.9], np.float64)
    _same(*_run(lambda v: lax.convert_element_type(v, dst), x))


@pytest.mark.parametrize("dtype", ["float32", "int32", "uint8"])
def test_bitcast(dtype):
    target = {"float32": "int32", "int32": "float32", "uint8": "int8"}[dtype]
    x = _values(dtype)
    compiled, eager = _run(lambda v: ew.bitcast_convert_type(v, target), x)
    np.testing.assert_array_equal(compiled.view(np.uint8), eager.view(np.uint8))


@pytest.mark.parametrize("dtype", ["float32", "int64", "bool"])
def test_select_n(dtype):
    x, y, z = (_values(dtype, seed=s) for s in (5, 6, 7))
    pred = np.random.default_rng(8).random(x.shape) > 0.5
    which = np.random.default_rng(9).integers(-1, 4, x.shape).astype(np.int32)
    _same(*_run(lax.select_n, pred, x, y))
    _same(*_run(lax.select_n, which, x, y, z))
    _same(*_run(lambda p, a, b: lax.select_n(p, a, b), np.array(True), x, y))


@pytest.mark.parametrize("dtype", ["float64", "int16"])
def test_clamp(dtype):
    x = _values(dtype)
    lo, hi = np.array(-3, dtype), np.array(5, dtype)
    _same(*_run(lax.clamp, lo, x, hi))


REDUCERS = {
    "sum": (lax.reduce_sum, FLOATS + INTS + ("bool",)),
    "prod": (lax.reduce_prod, FLOATS + SIGNED),
    "max": (lax.reduce_max, FLOATS + INTS + ("bool",)),
    "min": (lax.reduce_min, FLOATS + INTS + ("bool",)),
    "and": (lax.reduce_and, INTS + ("bool",)),
    "or": (lax.reduce_or, INTS + ("bool",)),
    "xor": (lax.reduce_xor, INTS + ("bool",)),
}


@pytest.mark.parametrize("name,dtype", [(n, d) for n, (_, ds) in REDUCERS.items() for d in ds])
@pytest.mark.parametrize("axes", [(0,), (1,), (2,), (0, 2), (0, 1, 2)])
def test_reductions(name, dtype, axes):
    fun = REDUCERS[name][0]
    x = np.resize(_values(dtype), (4, 5, 6))
    if name == "prod":
        x = np.resize(np.array([1, -1, 2, 1, 1, -1], dtype), (4, 5, 6))
    rtol = 1e-12 if dtype == "float64" else 1e-5
    _same(*_run(lambda v: fun(v, axes), x), rtol=rtol)


def test_nan_propagates_through_max_and_min_reductions():
    x = np.arange(24.0).reshape(4, 6)
    x[2, 3] = np.nan
    for axes in [(0,), (1,), (0, 1)]:
        _same(*_run(lambda v, axes=axes: lax.reduce_max(v, axes), x))
        _same(*_run(lambda v, axes=axes: lax.reduce_min(v, axes), x))


def test_compiled_path_is_taken():
    before = _executor.stats["compiles"]
    fxgrad.jit(lambda x: x * 3.0 + 1.0)(fnp.asarray(np.arange(5.0)))
    assert _executor.stats["compiles"] == before + 1
    assert _executor.stats["fallbacks"] == 0


def test_fused_transcendental_chain_vectorises():
    import re

    from fxgrad.lowering import data_offset, llvm
    from fxgrad.lowering.fusion import fuse

    x = np.ones(1 << 14, np.float32)

    def f(x, y):
        return fnp.tanh(x * 0.5 + y) * fnp.exp(-x * x) + fnp.sin(y) * 0.1

    (kernel,) = fuse(fxgrad.make_jaxpr(f)(x, x)).kernels
    text, _ = llvm.render(kernel, "w1", data_offset())
    optimized = llvm.optimized_ir(text)
    assert re.search(r"<\d+ x float>", optimized)
    assert re.search(r"llvm\.fma\.v\d+f", optimized)  # the polynomials run on vectors


def test_precise_rerun_of_a_guarded_row_is_not_optimised():
    """The libm re-run of rows whose sin/cos guard failed gains nothing from LLVM's loop
    passes: an elementwise kernel calls it as a separate optnone function, and a row
    kernel marks its re-run loops not to vectorise or unroll. The fast loops still
    vectorise, and rows with huge arguments still get the right values."""
    import re

    from fxgrad.lowering import data_offset, llvm
    from fxgrad.lowering.fusion import fuse

    x = np.ones((64, 256), np.float32)

    def elementwise(v):
        return fnp.sin(v) * 2.0

    def rows(v):
        return fnp.sum(fnp.sin(v), axis=1)

    for f, check in ((elementwise, "helper"), (rows, "metadata")):
        (kernel,) = fuse(fxgrad.make_jaxpr(f)(x)).kernels
        text, _ = llvm.render(kernel, "guarded", data_offset())
        if check == "helper":
            assert re.search(
                r"define internal void @guarded_precise_row\(.*\) noinline optnone", text
            )
            assert "call void @guarded_precise_row(" in text
        else:
            assert '!{!"llvm.loop.vectorize.enable", i1 false}' in text
            assert len(re.findall(r"br label %head\d+, !llvm\.loop (!\d+)", text)) >= 1
        assert re.search(r"<\d+ x float>", llvm.optimized_ir(text))
        big = np.random.default_rng(0).uniform(-1e9, 1e9, x.shape).astype(np.float32)
        big[::2] = np.random.default_rng(1).standard_normal((32, 256))  # fast rows too
        got = np.asarray(fxgrad.jit(f)(fnp.asarray(big)))
        ref = np.sin(big.astype(np.float64))
        want = ref * 2.0 if f is elementwise else ref.sum(axis=1)
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_keeps_the_exponentials_it_sums(dtype):
    """The sum pass writes exp(x - max) into the output and the store pass divides what
    it reads back, instead of computing each exponential twice."""
    import fxgrad.lowering  # noqa: F401 - the package before its modules
    from fxgrad.lowering.fusion import fuse
    from fxgrad.lowering.llvm_loops import KernelCodegen, _cached_operands

    def softmax(v):
        e = fnp.exp(v - fnp.max(v, axis=1, keepdims=True))
        return e / fnp.sum(e, axis=1, keepdims=True)

    x = np.random.default_rng(0).standard_normal((64, 300)).astype(dtype)
    (kernel,) = fuse(fxgrad.make_jaxpr(softmax)(x)).kernels
    codegen = KernelCodegen(kernel, "softmax", 16)
    assert len(codegen.cached) == 1
    got = np.asarray(fxgrad.jit(softmax)(fnp.asarray(x)))
    e = np.exp(x.astype(np.float64) - x.max(axis=1, keepdims=True))
    np.testing.assert_allclose(
        got, e / e.sum(axis=1, keepdims=True), rtol=1e-5 if dtype == np.float32 else 1e-13
    )
    # nothing to keep: a cheap operand, or an output broadcast along the reduced axis
    cheap = fuse(fxgrad.make_jaxpr(lambda v: v * 2.0 / fnp.sum(v * 2.0, axis=1, keepdims=True))(x))
    assert _cached_operands(cheap.kernels[0], KernelCodegen(cheap.kernels[0], "c", 16).passes) == {}


def test_no_operand_is_kept_when_the_store_pass_is_guarded():
    """A store pass whose sin guard can fail re-runs precisely after writing its outputs,
    so it recomputes its operands rather than reading them back."""

    import fxgrad.lowering  # noqa: F401 - the package before its modules
    from fxgrad.lowering.fusion import fuse
    from fxgrad.lowering.llvm_loops import KernelCodegen

    def f(v):
        e = fnp.exp(fnp.sin(v))
        return e / fnp.sum(e, axis=1, keepdims=True)

    x = np.random.default_rng(1).standard_normal((8, 100))
    x[3, 7] = 3e9  # beyond the fast reduction's range
    (kernel,) = fuse(fxgrad.make_jaxpr(f)(x)).kernels
    assert KernelCodegen(kernel, "guarded", 16).cached == {}
    got = np.asarray(fxgrad.jit(f)(fnp.asarray(x)))
    e = np.exp(np.sin(x))
    np.testing.assert_allclose(got, e / e.sum(axis=1, keepdims=True), rtol=1e-12)
