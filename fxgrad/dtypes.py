"""Dtypes: the supported set, NumPy promotion, weak Python scalars and default dtypes.

Between *strong* dtypes (those of arrays and NumPy scalars) fxgrad follows NumPy:
`promote_types` is `numpy.promote_types` on the supported set. Python scalars (`bool`,
`int`, `float`, `complex`, and the Python types themselves) and arrays flagged
`weak_type` are *weak*: they carry a kind but no precision, so `x32 * 2.0` stays
float32. This is NEP 50 (https://numpy.org/neps/nep-0050-scalar-promotion.html) with
JAX's weak types (https://jax.readthedocs.io/en/latest/type_promotion.html):

- kinds are ordered bool < int < float < complex (signed and unsigned ints are one kind);
- weak operands whose kind is at most the kind of the promoted strong dtype adopt it
  (uint8 + 300 -> uint8, float32 + 2.0 -> float32, int32 + True -> int32);
- a weak operand of a higher kind gives the default dtype of that kind and a weak result
  (int32 + 2.0 -> float64 weak; bool + 1 -> int64 weak), except that a strong float with
  a weak complex keeps its precision (float32 + 1j -> complex64, strong);
- all operands weak: the default dtype of the highest kind, weak (1 + 2.0 -> float64
  weak); operands that all share one weak dtype keep it, so `-x` of a weak float32 stays
  float32.

Differences, all deliberate:
- Strong pairs follow NumPy, not JAX's lattice: int32 + float32 -> float64, float16 +
  int64 -> float64 (JAX: float32, float16).
- A bool result is never weak (bool has one dtype, so weakness says nothing; as in JAX).
- Out-of-range Python ints: uint8 + 300 has dtype uint8. NumPy 2 then raises
  OverflowError; fxgrad wraps modulo 2**8 like JAX (`convert_scalar`), and raises
  `ScalarOverflowError` only for ints outside int64.
- There is no "x32 mode": `config.default_float = "float32"` changes the dtype of
  Python floats and of creation functions, never that of an explicit float64.
"""

from __future__ import annotations

from typing import Any, TypeAlias

import numpy as np

from fxgrad.config import config
from fxgrad.errors import FxgradTypeError, ScalarOverflowError

__all__ = [
    "SUPPORTED_DTYPES",
    "DTypeLike",
    "canonicalize_dtype",
    "convert_scalar",
    "default_complex_dtype",
    "default_float_dtype",
    "default_int_dtype",
    "dtype",
    "finfo",
    "float0",
    "iinfo",
    "is_bool",
    "is_complex",
    "is_float",
    "is_inexact",
    "is_integer",
    "is_weakly_typed",
    "issubdtype",
    "promote_types",
    "real_dtype",
    "result_type",
    "result_type_with_weak",
    "tangent_dtype",
    "to_complex_dtype",
    "to_inexact_dtype",
]

DTypeLike: TypeAlias = str | type | np.dtype

#: the short names printed in jaxprs and kernel IR (``f32[3]``)
SHORT_NAMES: dict[str, str] = {
    "bool": "bool",
    "int8": "i8",
    "int16": "i16",
    "int32": "i32",
    "int64": "i64",
    "uint8": "u8",
    "uint16": "u16",
    "uint32": "u32",
    "uint64": "u64",
    "float16": "f16",
    "float32": "f32",
    "float64": "f64",
    "complex64": "c64",
    "complex128": "c128",
}

SUPPORTED_DTYPES: tuple[np.dtype, ...] = tuple(
    np.dtype(name)
    for name in (
        "bool",
        "int8",
        "int16",
        "int32",
        "int64",
        "uint8",
        "uint16",
        "uint32",
        "uint64",
        "float16",
        "float32",
        "float64",
        "complex64",
        "complex128",
    )
)
_SUPPORTED = frozenset(SUPPORTED_DTYPES)

# The tangent dtype of integer and boolean values (as in JAX): a zero-size type, so a
# tangent of an int array carries no data and cannot be mixed up with a real zero.
float0: np.dtype = np.dtype([("float0", np.void, 0)])

_PYTHON_SCALAR_TYPES = (bool, int, float, complex)

# bool < int < float < complex; signed and unsigned integers share a rank.
_KIND_RANK = {"b": 0, "i": 1, "u": 1, "f": 2, "c": 3}
_BOOL_RANK, _INT_RANK, _FLOAT_RANK, _COMPLEX_RANK = 0, 1, 2, 3

issubdtype = np.issubdtype


# By name, for the `default_float` / `default_int` config values (validated by config).
_DTYPES = {d.name: d for d in SUPPORTED_DTYPES}


def default_float_dtype() -> np.dtype:
    """The dtype of Python floats and float creation functions (`config.default_float`)."""
    return _DTYPES[config.read("default_float")]


def default_int_dtype() -> np.dtype:
    """The dtype of Python ints and integer creation functions (`config.default_int`)."""
    return _DTYPES[config.read("default_int")]


def default_complex_dtype() -> np.dtype:
    """complex128 when the default float is float64, else complex64."""
    if default_float_dtype() == np.float64:
        return np.dtype(np.complex128)
    return np.dtype(np.complex64)


def _default_dtype_of_rank(rank: int) -> np.dtype:
    if rank == _BOOL_RANK:
        return np.dtype(np.bool_)
    if rank == _INT_RANK:
        return default_int_dtype()
    if rank == _FLOAT_RANK:
        return default_float_dtype()
    return default_complex_dtype()


def _python_type_dtype(scalar_type: type) -> np.dtype:
    """The dtype a Python scalar type stands for: bool, or the default int/float/complex."""
    if issubclass(scalar_type, bool):
        return np.dtype(np.bool_)
    if issubclass(scalar_type, int):
        return default_int_dtype()
    if issubclass(scalar_type, float):
        return default_float_dtype()
    return default_complex_dtype()


def _is_python_scalar(x: Any) -> bool:
    # np.float64 and np.complex128 subclass float and complex but are strong.
    return isinstance(x, _PYTHON_SCALAR_TYPES) and not isinstance(x, np.generic)


def _is_python_scalar_type(x: Any) -> bool:
    return isinstance(x, type) and x in _PYTHON_SCALAR_TYPES


def canonicalize_dtype(dtype: DTypeLike) -> np.dtype:
    """Returns the NumPy dtype fxgrad uses for a dtype-like, checking it is supported.

    Python `float`, `int` and `complex` mean the configured defaults (`float` is float32
    under `config.default_float = "float32"`); NumPy types and names are taken as given
    (`np.float64` stays float64). Non-native byte orders become native. `float0` passes.

    Args:
        dtype: a NumPy dtype, scalar type or name, or a Python scalar type.

    Returns:
        A `numpy.dtype` from `SUPPORTED_DTYPES`, or `float0`.

    Raises:
        FxgradTypeError: `dtype` is None, not a dtype, or not supported (object, str,
            datetime, float128, ...).

    Example:
        >>> canonicalize_dtype(float), canonicalize_dtype("float32")
        (dtype('float64'), dtype('float32'))
    """
    if dtype is None:
        raise FxgradTypeError(
            "canonicalize_dtype got None; pass a dtype, or use default_float_dtype() "
            "where None means 'the default'."
        )
    if _is_python_scalar_type(dtype):
        return _python_type_dtype(dtype)
    try:
        result = np.dtype(dtype)
    except (TypeError, ValueError) as error:
        raise FxgradTypeError(f"{dtype!r} is not a dtype: {error}") from None
    if result == float0:
        return float0
    if not result.isnative:
        result = result.newbyteorder("=")
    if result not in _SUPPORTED:
        names = ", ".join(d.name for d in SUPPORTED_DTYPES)
        raise FxgradTypeError(
            f"dtype {result} is not supported by fxgrad; supported dtypes are {names}. "
            f"Convert with .astype(...) before passing the value to fxgrad."
        )
    return result


def is_weakly_typed(x: Any) -> bool:
    """True for Python `bool`/`int`/`float`/`complex` values and for `weak_type` arrays.

    NumPy scalars (`np.float32(1)`, also `np.float64`, a subclass of `float`) are strong.
    Objects with a `weak_type` attribute (fxgrad arrays and tracers) report it.
    """
    if isinstance(x, np.generic):
        return False
    if isinstance(x, _PYTHON_SCALAR_TYPES):
        return True
    return bool(getattr(x, "weak_type", False))


def dtype(x: Any) -> np.dtype:
    """The dtype of an array-like, a Python scalar, or a dtype-like.

    Python scalars get the defaults (float -> `default_float_dtype()`, int ->
    `default_int_dtype()`, complex -> `default_complex_dtype()`, bool -> bool). Nested
    lists and tuples get the `result_type` of their elements, so `[1, 2.0]` is the
    default float and `[np.float32(1), 2.0]` is float32; an empty list is the default
    float. Objects with a `.dtype` report it. Dtype-likes are canonicalized.

    Raises:
        FxgradTypeError: the dtype is not supported.
    """
    if isinstance(x, np.dtype | str | type):
        return canonicalize_dtype(x)
    if _is_python_scalar(x):
        return _python_type_dtype(type(x))
    x_dtype = getattr(x, "dtype", None)
    if x_dtype is not None:
        return canonicalize_dtype(x_dtype)
    if isinstance(x, list | tuple):
        return result_type(*x) if x else default_float_dtype()
    return canonicalize_dtype(np.asarray(x).dtype)


def _kind_rank(d: np.dtype) -> int:
    rank = _KIND_RANK.get(d.kind)
    if rank is None:
        raise FxgradTypeError(
            f"dtype {d} has no arithmetic and cannot be promoted (float0 is the tangent "
            f"dtype of integer values; it never meets numbers)."
        )
    return rank


def promote_types(a: DTypeLike, b: DTypeLike) -> np.dtype:
    """NumPy's promotion of two strong dtypes (`numpy.promote_types`).

    Python types are canonicalized first and are strong here; use `result_type` for
    weak-scalar semantics.

    Raises:
        FxgradTypeError: a dtype is unsupported or the pair does not promote.

    Example:
        >>> promote_types("int32", "float32")
        dtype('float64')
    """
    a, b = canonicalize_dtype(a), canonicalize_dtype(b)
    _kind_rank(a)
    _kind_rank(b)
    return np.promote_types(a, b)


def _operand_dtype_and_weak(x: Any) -> tuple[np.dtype, bool]:
    if _is_python_scalar_type(x):
        return _python_type_dtype(x), True
    if isinstance(x, np.dtype | str | type):
        return canonicalize_dtype(x), False
    if _is_python_scalar(x):
        return _python_type_dtype(type(x)), True
    if getattr(x, "dtype", None) is not None:
        return canonicalize_dtype(x.dtype), bool(getattr(x, "weak_type", False))
    return dtype(x), False


def result_type_with_weak(*xs: Any) -> tuple[np.dtype, bool]:
    """The dtype of an operation on `xs` and whether that result is weak.

    Each operand is a Python scalar or scalar type (weak), a dtype-like (strong), or an
    object with `.dtype` and optionally `.weak_type` (an array or tracer). The rules are
    in this module's docstring.

    Returns:
        `(dtype, weak_type)`.

    Raises:
        FxgradTypeError: no operands, or an unsupported dtype.

    Example:
        >>> result_type_with_weak(np.dtype("int32"), 2.0)
        (dtype('float64'), True)
        >>> result_type_with_weak(np.dtype("float32"), 1j)
        (dtype('complex64'), False)
    """
    if not xs:
        raise FxgradTypeError("result_type needs at least one operand.")
    operands = [_operand_dtype_and_weak(x) for x in xs]
    strong = [d for d, weak in operands if not weak]
    weak = [d for d, weak in operands if weak]
    if not strong:
        return _all_weak_result(weak)
    for d in strong:
        _kind_rank(d)  # rejects unsupported dtypes
    result = np.result_type(*strong)  # NumPy promotes all operands at once, not pairwise
    if not weak:
        return result, False
    weak_rank = max(_kind_rank(d) for d in weak)
    strong_rank = _kind_rank(result)
    if weak_rank <= strong_rank:
        return result, False
    if weak_rank == _COMPLEX_RANK and strong_rank == _FLOAT_RANK:
        return to_complex_dtype(result), False
    return _default_dtype_of_rank(weak_rank), True


def _all_weak_result(weak: list[np.dtype]) -> tuple[np.dtype, bool]:
    if all(d == weak[0] for d in weak):
        result = weak[0]
        _kind_rank(result)
    else:
        result = _default_dtype_of_rank(max(_kind_rank(d) for d in weak))
    return result, result.kind != "b"


def result_type(*xs: Any) -> np.dtype:
    """The dtype of an operation on `xs`; `result_type_with_weak` without the weak flag.

    Example:
        >>> result_type(np.ones(2, np.float32), 2.0)
        dtype('float32')
    """
    return result_type_with_weak(*xs)[0]


def convert_scalar(x: bool | int | float | complex, dtype: DTypeLike) -> np.ndarray:
    """Converts a Python scalar to a 0-d NumPy array of `dtype`, as weak promotion needs.

    Ints inside int64 wrap modulo 2**bits into narrower integer dtypes (uint8 + 300 is
    uint8 44 before the add, as in JAX; NumPy 2 raises instead). Floats overflow to
    +-inf in narrower float dtypes without a warning.

    Raises:
        ScalarOverflowError: an int outside the int64 range.
        FxgradTypeError: `x` is of a higher kind than `dtype` (e.g. 2.5 to int32).
    """
    target = canonicalize_dtype(dtype)
    if _kind_rank(_scalar_dtype(x)) > _kind_rank(target):
        raise FxgradTypeError(
            f"cannot convert the Python {type(x).__name__} {x!r} to {target} without "
            f"changing its kind; convert explicitly with .astype({target.name!r})."
        )
    if _is_python_scalar(x) and isinstance(x, int) and not isinstance(x, bool):
        if not -(2**63) <= x < 2**63:
            raise ScalarOverflowError(
                f"Python int {x} does not fit in int64, so it cannot become an array value."
            )
        if target.kind in "iu":
            bits = 8 * target.itemsize
            x %= 2**bits
            if target.kind == "i" and x >= 2 ** (bits - 1):
                x -= 2**bits
    with np.errstate(over="ignore"):
        return np.asarray(x).astype(target)


def _scalar_dtype(x: Any) -> np.dtype:
    if _is_python_scalar(x) or isinstance(x, np.generic):
        return dtype(x)
    raise FxgradTypeError(f"convert_scalar expects a Python or NumPy scalar, got {x!r}.")


def _as_dtype(x: Any) -> np.dtype:
    return x if isinstance(x, np.dtype) else dtype(x)


def is_bool(d: Any) -> bool:
    """True for bool. Accepts anything `dtype` accepts."""
    return _as_dtype(d).kind == "b"


def is_integer(d: Any) -> bool:
    """True for signed and unsigned integers (not bool)."""
    return _as_dtype(d).kind in "iu"


def is_float(d: Any) -> bool:
    """True for real floating dtypes."""
    return _as_dtype(d).kind == "f"


def is_complex(d: Any) -> bool:
    """True for complex dtypes."""
    return _as_dtype(d).kind == "c"


def is_inexact(d: Any) -> bool:
    """True for float and complex dtypes (the ones that have tangents)."""
    return _as_dtype(d).kind in "fc"


def tangent_dtype(d: Any) -> np.dtype:
    """The dtype of tangents and cotangents: `float0` for int/bool, else the dtype itself."""
    d = _as_dtype(d)
    if d.kind in "biu" or d == float0:
        return float0
    return d


def to_inexact_dtype(d: Any) -> np.dtype:
    """int/bool -> the default float; float and complex unchanged."""
    d = _as_dtype(d)
    if _kind_rank(d) < _FLOAT_RANK:
        return default_float_dtype()
    return d


def to_complex_dtype(d: Any) -> np.dtype:
    """The complex dtype with `d`'s precision: float16/32 -> complex64, float64 ->
    complex128, complex unchanged, int/bool -> the default complex."""
    d = _as_dtype(d)
    rank = _kind_rank(d)
    if rank == _COMPLEX_RANK:
        return d
    if rank < _FLOAT_RANK:
        return default_complex_dtype()
    return np.dtype(np.complex128) if d == np.float64 else np.dtype(np.complex64)


def real_dtype(d: Any) -> np.dtype:
    """complex64 -> float32, complex128 -> float64; real dtypes unchanged."""
    d = _as_dtype(d)
    if d.kind == "c":
        return np.dtype(np.float32) if d == np.complex64 else np.dtype(np.float64)
    return d


def finfo(d: Any) -> np.finfo:
    """`numpy.finfo` of `dtype(d)`, so `finfo(float)` follows `config.default_float`."""
    return np.finfo(_as_dtype(d))


def iinfo(d: Any) -> np.iinfo:
    """`numpy.iinfo` of `dtype(d)`, so `iinfo(int)` follows `config.default_int`."""
    return np.iinfo(_as_dtype(d))
