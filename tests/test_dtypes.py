"""fxgrad.dtypes: NumPy promotion for strong dtypes, weak Python scalars, defaults.

Strong promotion is checked against NumPy over every pair (hypothesis); the weak rules
are table-driven from the rules in fxgrad/dtypes.py's docstring, which match JAX with
jax_enable_x64 (checked by hand with JAX 0.10; JAX itself is not a test dependency).
"""

import dataclasses

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from fxgrad import dtypes
from fxgrad.config import config
from fxgrad.errors import FxgradTypeError, ScalarOverflowError

SUPPORTED = dtypes.SUPPORTED_DTYPES
BOOL = np.dtype("bool")
I8, I16, I32, I64 = (np.dtype(n) for n in ("int8", "int16", "int32", "int64"))
U8, U16, U32, U64 = (np.dtype(n) for n in ("uint8", "uint16", "uint32", "uint64"))
F16, F32, F64 = (np.dtype(n) for n in ("float16", "float32", "float64"))
C64, C128 = np.dtype("complex64"), np.dtype("complex128")

dtype_strategy = st.sampled_from(SUPPORTED)


@dataclasses.dataclass(frozen=True)
class FakeArray:
    """Stands for an fxgrad Array or tracer: a dtype and a weak_type flag."""

    dtype: np.dtype
    weak_type: bool = False


def strong(d):
    return np.ones(2, d)


def weak(d):
    return FakeArray(np.dtype(d), weak_type=True)


# ---------------------------------------------------------------- supported set


def test_supported_dtypes():
    # Every fixed-width bool / int / uint / float / complex dtype NumPy has, by NumPy's own
    # type codes; long double ("g", "G") is left out because its width is platform-defined.
    codes = "?" + np.typecodes["AllInteger"] + np.typecodes["AllFloat"]
    numpy_fixed_width = {np.dtype(c) for c in codes if c not in "gG"}
    assert len(SUPPORTED) == len(set(SUPPORTED))
    assert set(SUPPORTED) == numpy_fixed_width


def test_numpy_namespace_exports_the_supported_scalar_types():
    import fxgrad.numpy as fnp

    for d in SUPPORTED:
        name = "bool_" if d == BOOL else d.name
        assert name in fnp.__all__
        scalar = getattr(fnp, name)
        # the same dtype as NumPy's type, equal and hashed alike, as JAX's scalar types
        assert np.dtype(scalar) == d and scalar.dtype == d
        assert scalar == getattr(np, name) and hash(scalar) == hash(getattr(np, name))
        assert dtypes.canonicalize_dtype(scalar) == dtypes.canonicalize_dtype(d)
        assert isinstance(np.zeros((), d)[()], scalar)


def test_scalar_types_convert_traced_values_as_in_jax():
    import fxgrad
    import fxgrad.numpy as fnp

    # fnp.int32(x) / fnp.float32(x) are conversions to Arrays that work on tracers
    out = fxgrad.jit(lambda x: (fnp.float32(x) * 2, fnp.int32(x)))(np.float64(1.75))
    assert out[0].dtype == np.float32 and float(out[0]) == 3.5
    assert out[1].dtype == np.int32 and int(out[1]) == 1
    assert fxgrad.grad(lambda x: fnp.float64(x) ** 2)(3.0) == 6.0
    assert fxgrad.vmap(fnp.int8)(np.array([1.0, 2.9])).dtype == np.int8
    assert fnp.float32(1.5).dtype == np.float32 and fnp.float32([1, 2]).shape == (2,)
    # and they are dtypes wherever one is expected
    assert fnp.zeros(2, fnp.int16).dtype == np.int16
    assert fnp.ones(2).astype(fnp.float32).dtype == np.float32
    assert np.zeros(2, dtype=fnp.uint8).dtype == np.uint8
    assert fnp.ones(2).dtype == fnp.float64 and fnp.float64 != fnp.float32
    assert fnp.finfo(fnp.float32).bits == 32 and fnp.iinfo(fnp.int8).max == 127
    assert fnp.issubdtype(fnp.float16, fnp.floating)


@pytest.mark.parametrize("d", SUPPORTED, ids=str)
def test_canonicalize_supported(d):
    assert dtypes.canonicalize_dtype(d) == d
    assert dtypes.canonicalize_dtype(d.name) == d
    assert dtypes.canonicalize_dtype(d.type) == d


def test_canonicalize_python_types_follow_config():
    assert dtypes.canonicalize_dtype(float) == F64
    assert dtypes.canonicalize_dtype(int) == I64
    assert dtypes.canonicalize_dtype(complex) == C128
    assert dtypes.canonicalize_dtype(bool) == BOOL
    with config.override(default_float="float32", default_int="int32"):
        assert dtypes.canonicalize_dtype(float) == F32
        assert dtypes.canonicalize_dtype(int) == I32
        assert dtypes.canonicalize_dtype(complex) == C64
        # Explicit NumPy types are taken as given.
        assert dtypes.canonicalize_dtype(np.float64) == F64


def test_canonicalize_native_byte_order():
    assert dtypes.canonicalize_dtype(np.dtype(">f8")) == F64
    assert dtypes.canonicalize_dtype(np.dtype("<i4")) == I32


def test_canonicalize_float0():
    assert dtypes.canonicalize_dtype(dtypes.float0) == dtypes.float0


@pytest.mark.parametrize("bad", [object, "U3", "datetime64[s]", np.longdouble, "clongdouble"])
def test_canonicalize_rejects_unsupported(bad):
    with pytest.raises(FxgradTypeError, match="not supported.*float32"):
        dtypes.canonicalize_dtype(bad)


@pytest.mark.parametrize("bad", [None, "not-a-dtype", 3.5])
def test_canonicalize_rejects_non_dtypes(bad):
    with pytest.raises(FxgradTypeError):
        dtypes.canonicalize_dtype(bad)


# ---------------------------------------------------------------- defaults


def test_default_dtypes_follow_config():
    assert dtypes.default_float_dtype() == F64
    assert dtypes.default_int_dtype() == I64
    assert dtypes.default_complex_dtype() == C128
    with config.override(default_float="float32"):
        assert dtypes.default_float_dtype() == F32
        assert dtypes.default_complex_dtype() == C64
        assert dtypes.default_int_dtype() == I64
    with config.override(default_int="int32"):
        assert dtypes.default_int_dtype() == I32


# ---------------------------------------------------------------- dtype() and weakness


@pytest.mark.parametrize(
    "x, expected",
    [
        (True, BOOL),
        (1, I64),
        (1.0, F64),
        (1j, C128),
        (np.float32(1), F32),
        (np.float64(1), F64),
        (np.int8(1), I8),
        (np.bool_(True), BOOL),
        (np.ones(2, np.uint16), U16),
        (FakeArray(F16, True), F16),
        ([1, 2], I64),
        ([1, 2.0], F64),
        ([[1, 2], [3, 4j]], C128),
        ([np.float32(1), 2.0], F32),
        ((True, False), BOOL),
        ([], F64),
        ("float32", F32),
        (np.float16, F16),
        (float, F64),
        (np.dtype("int16"), I16),
    ],
)
def test_dtype_of(x, expected):
    assert dtypes.dtype(x) == expected


def test_dtype_of_python_scalars_follows_config():
    with config.override(default_float="float32", default_int="int32"):
        assert dtypes.dtype(1.0) == F32
        assert dtypes.dtype(1) == I32
        assert dtypes.dtype(1j) == C64
        assert dtypes.dtype([1.0, 2.0]) == F32


def test_dtype_of_unsupported_array():
    with pytest.raises(FxgradTypeError, match="not supported"):
        dtypes.dtype(np.array(["a"]))


@pytest.mark.parametrize(
    "x, expected",
    [
        (True, True),
        (1, True),
        (1.0, True),
        (1j, True),
        (np.float64(1.0), False),  # a subclass of float, but a NumPy scalar
        (np.complex128(1j), False),
        (np.int64(1), False),
        (np.bool_(True), False),
        (np.ones(3), False),
        (FakeArray(F32, weak_type=True), True),
        (FakeArray(F32, weak_type=False), False),
        ([1.0], False),
        (float, False),
    ],
)
def test_is_weakly_typed(x, expected):
    assert dtypes.is_weakly_typed(x) is expected


# ---------------------------------------------------------------- strong promotion


@given(dtype_strategy, dtype_strategy)
@example(I64, U64)
@example(F16, I64)
@example(I8, U8)
@example(BOOL, BOOL)
def test_promote_types_matches_numpy(a, b):
    expected = np.promote_types(a, b)
    assert dtypes.promote_types(a, b) == expected
    assert dtypes.promote_types(b, a) == expected
    assert dtypes.result_type(a, b) == expected
    assert dtypes.result_type(strong(a), strong(b)) == expected
    assert dtypes.result_type_with_weak(strong(a), strong(b)) == (expected, False)


@given(st.lists(dtype_strategy, min_size=1, max_size=5))
def test_result_type_of_strong_operands_matches_numpy(ds):
    assert dtypes.result_type(*ds) == np.result_type(*ds)


def test_promote_types_python_types_are_strong_there():
    assert dtypes.promote_types(float, F32) == F64
    assert dtypes.promote_types("int32", "float32") == F64


def test_promote_types_rejects_float0():
    with pytest.raises(FxgradTypeError, match="float0"):
        dtypes.promote_types(dtypes.float0, F32)


def test_result_type_needs_operands():
    with pytest.raises(FxgradTypeError, match="at least one"):
        dtypes.result_type()


# ---------------------------------------------------------------- weak promotion

WEAK_CASES = [
    # strong operand, weak operand, expected dtype, expected weak flag
    # weak kind <= strong kind: adopt the strong dtype
    (I32, 1, I32, False),
    (U8, 300, U8, False),
    (U8, -1, U8, False),
    (I8, True, I8, False),
    (BOOL, True, BOOL, False),
    (F16, 2, F16, False),
    (F32, 2.0, F32, False),
    (F16, 2.0, F16, False),
    (F64, 2.0, F64, False),
    (C64, 2.0, C64, False),
    (C64, 1j, C64, False),
    (C128, 1, C128, False),
    # weak kind > strong kind: default dtype of the weak kind, weak result
    (I32, 2.0, F64, True),
    (U64, 1.0, F64, True),
    (BOOL, 1, I64, True),
    (BOOL, 1.0, F64, True),
    (BOOL, 1j, C128, True),
    (I32, 1j, C128, True),
    (U8, 1j, C128, True),
    # strong float with weak complex keeps its precision, strong result
    (F16, 1j, C64, False),
    (F32, 1j, C64, False),
    (F64, 1j, C128, False),
]


@pytest.mark.parametrize("strong_dtype, scalar, expected, expected_weak", WEAK_CASES)
def test_weak_scalar_with_strong_operand(strong_dtype, scalar, expected, expected_weak):
    for operands in [(strong(strong_dtype), scalar), (scalar, strong(strong_dtype))]:
        assert dtypes.result_type_with_weak(*operands) == (expected, expected_weak)
    # A dtype stands for a strong operand as well as an array does.
    assert dtypes.result_type(strong_dtype, scalar) == expected
    # A weak_type array of the scalar's default dtype promotes like the scalar.
    weak_array = weak(dtypes.dtype(scalar))
    assert dtypes.result_type_with_weak(strong(strong_dtype), weak_array)[0] == expected


@pytest.mark.parametrize("strong_dtype, scalar, expected, expected_weak", WEAK_CASES)
def test_weak_cases_under_float32_defaults(strong_dtype, scalar, expected, expected_weak):
    """Only the 'default dtype of the weak kind' results change with the config."""
    with config.override(default_float="float32", default_int="int32"):
        result, result_weak = dtypes.result_type_with_weak(strong(strong_dtype), scalar)
    if expected_weak:
        defaults = {I64: I32, F64: F32, C128: C64}
        expected = defaults[expected]
    assert (result, result_weak) == (expected, expected_weak)


@pytest.mark.parametrize(
    "operands, expected",
    [
        ((1, 2.0), (F64, True)),
        ((1, True), (I64, True)),
        ((True, True), (BOOL, False)),  # bool is never weak
        ((True,), (BOOL, False)),
        ((1.0, 1j), (C128, True)),
        ((2,), (I64, True)),
        ((float,), (F64, True)),
        ((int, 1.0), (F64, True)),
        # weak arrays of one shared dtype keep it (unary ops on a weak float32)
        ((weak(F32),), (F32, True)),
        ((weak(F32), weak(F32)), (F32, True)),
        ((weak(I8), weak(I8)), (I8, True)),
        # otherwise the default dtype of the highest kind
        ((weak(F32), 1.0), (F64, True)),
        ((weak(I8), 1), (I64, True)),
        ((weak(I8), 1.0), (F64, True)),
        ((weak(F32), weak(I32)), (F64, True)),
    ],
)
def test_all_weak(operands, expected):
    assert dtypes.result_type_with_weak(*operands) == expected


@pytest.mark.parametrize(
    "operands, expected",
    [
        # strong operands promote with NumPy first, then the weak rule applies
        ((F32, I32, 2.0), (F64, False)),
        ((I8, U8, 1.0), (F64, True)),
        ((I8, U8, 1), (I16, False)),
        ((I32, 1.0, 1j), (C128, True)),
        ((F32, 1.0, 1j), (C64, False)),
        ((F16, 1, 2.0), (F16, False)),
        ((I32, 1, 2.0), (F64, True)),
        # Python scalar types are weak in result_type, as in JAX
        ((F32, float), (F32, False)),
        ((I32, float), (F64, True)),
        # weak arrays promote by kind, like scalars
        ((FakeArray(F16), weak(F32)), (F16, False)),
        ((FakeArray(I32), weak(F32)), (F64, True)),
        ((FakeArray(F32), FakeArray(F32, weak_type=False)), (F32, False)),
    ],
)
def test_mixed_operands(operands, expected):
    assert dtypes.result_type_with_weak(*operands) == expected


@given(dtype_strategy, st.sampled_from([True, 3, -2, 2.5, 1j]))
def test_weak_rule_properties(strong_dtype, scalar):
    result, result_weak = dtypes.result_type_with_weak(strong(strong_dtype), scalar)
    rank = {"b": 0, "i": 1, "u": 1, "f": 2, "c": 3}
    scalar_rank = rank[dtypes.dtype(scalar).kind]
    # Never lower the kind of either operand.
    assert rank[result.kind] == max(rank[strong_dtype.kind], scalar_rank)
    if scalar_rank <= rank[strong_dtype.kind]:
        assert (result, result_weak) == (strong_dtype, False)
    # Never lose precision the strong operand had.
    assert result.itemsize >= strong_dtype.itemsize or result.kind == "c"
    # Symmetric.
    assert dtypes.result_type_with_weak(scalar, strong(strong_dtype)) == (result, result_weak)


# ---------------------------------------------------------------- convert_scalar


@pytest.mark.parametrize(
    "x, d, expected",
    [
        (300, U8, 44),
        (-1, U8, 255),
        (200, I8, -56),
        (-129, I8, 127),
        (2**63 - 1, U64, 2**63 - 1),
        (-1, U64, 2**64 - 1),
        (5, I32, 5),
        (True, I32, 1),
        (2, F16, 2.0),
        (1.5, F32, 1.5),
        (1j, C64, 1j),
    ],
)
def test_convert_scalar(x, d, expected):
    result = dtypes.convert_scalar(x, d)
    assert result.dtype == d
    assert result.shape == ()
    assert result.item() == expected


def test_convert_scalar_float_overflow_is_inf_without_warning():
    result = dtypes.convert_scalar(1e10, F16)
    assert result.dtype == F16 and np.isinf(result)


@pytest.mark.parametrize("x", [2**63, -(2**63) - 1, 2**70])
def test_convert_scalar_outside_int64(x):
    with pytest.raises(ScalarOverflowError, match="int64"):
        dtypes.convert_scalar(x, U64)
    with pytest.raises(OverflowError):
        dtypes.convert_scalar(x, F64)


@pytest.mark.parametrize("x, d", [(2.5, I32), (1j, F64), (1, BOOL)])
def test_convert_scalar_refuses_to_lower_the_kind(x, d):
    with pytest.raises(FxgradTypeError, match="astype"):
        dtypes.convert_scalar(x, d)


# ---------------------------------------------------------------- predicates and maps


@pytest.mark.parametrize("d", SUPPORTED, ids=str)
def test_predicates_match_numpy(d):
    assert dtypes.is_bool(d) == (d == BOOL)
    assert dtypes.is_integer(d) == np.issubdtype(d, np.integer)
    assert dtypes.is_float(d) == np.issubdtype(d, np.floating)
    assert dtypes.is_complex(d) == np.issubdtype(d, np.complexfloating)
    assert dtypes.is_inexact(d) == np.issubdtype(d, np.inexact)


def test_predicates_accept_scalars_and_arrays():
    assert dtypes.is_float(1.0)
    assert dtypes.is_integer(np.ones(2, np.uint8))
    assert dtypes.is_complex(complex)
    assert not dtypes.is_float(dtypes.float0)


def test_float0():
    assert dtypes.float0.itemsize == 0
    assert np.zeros((3, 2), dtypes.float0).nbytes == 0


@pytest.mark.parametrize("d", SUPPORTED, ids=str)
def test_tangent_dtype(d):
    expected = d if np.issubdtype(d, np.inexact) else dtypes.float0
    assert dtypes.tangent_dtype(d) == expected


def test_tangent_dtype_of_float0():
    assert dtypes.tangent_dtype(dtypes.float0) == dtypes.float0


@pytest.mark.parametrize(
    "d, inexact, complex_, real",
    [
        (BOOL, F64, C128, BOOL),
        (I8, F64, C128, I8),
        (U64, F64, C128, U64),
        (F16, F16, C64, F16),
        (F32, F32, C64, F32),
        (F64, F64, C128, F64),
        (C64, C64, C64, F32),
        (C128, C128, C128, F64),
    ],
)
def test_dtype_maps(d, inexact, complex_, real):
    assert dtypes.to_inexact_dtype(d) == inexact
    assert dtypes.to_complex_dtype(d) == complex_
    assert dtypes.real_dtype(d) == real


def test_dtype_maps_follow_default_float():
    with config.override(default_float="float32"):
        assert dtypes.to_inexact_dtype(I32) == F32
        assert dtypes.to_complex_dtype(I32) == C64
        assert dtypes.to_complex_dtype(F64) == C128


def test_finfo_iinfo_issubdtype():
    assert dtypes.finfo(F32).eps == np.finfo(np.float32).eps
    assert dtypes.finfo(float).bits == 64
    with config.override(default_float="float32", default_int="int32"):
        assert dtypes.finfo(float).bits == 32
        assert dtypes.iinfo(int).bits == 32
    assert dtypes.iinfo(U8).max == 255
    assert dtypes.issubdtype(F32, np.floating)
    assert not dtypes.issubdtype(I32, np.floating)
