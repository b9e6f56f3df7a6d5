"""Named errors raised by fxgrad, each subclassing a Python builtin.

Every error mixes in `FxgradError`, which appends a link to the section of
`docs/errors.md` that explains the error (the anchor is the lowercase class name), so a
user sees what failed, why, and where to read about the fix. Each class also subclasses
the builtin a NumPy or JAX user would expect (`TypeError` for shape and dtype problems,
`ValueError` for bad argument values, ...), so `except TypeError:` keeps working.

The link is added in `__str__`, not stored in `args`: pickling and re-raising an error
never duplicates it. This module imports nothing from fxgrad.
"""

from __future__ import annotations

__all__ = [
    "DOCS_ERRORS_URL",
    "BatchingError",
    "ConcretizationError",
    "ConcretizationTypeError",
    "FlagValueError",
    "FxgradError",
    "FxgradTypeError",
    "MissingRuleError",
    "NonScalarOutputError",
    "ScalarOverflowError",
    "ShapeError",
    "StaticArgumentError",
    "TracerArrayConversionError",
    "TracerBoolConversionError",
    "TracerIntegerConversionError",
    "UnexpectedTracerError",
    "UnknownFlagError",
    "WhileLoopReverseModeError",
    "ControlFlowError",
    "NaNError",
]

DOCS_ERRORS_URL = "https://fxgrad.readthedocs.io/en/latest/errors.html"


class FxgradError(Exception):
    """Mixin for every fxgrad error: appends a link to the error's section in the docs.

    Subclasses list `FxgradError` first and a builtin exception second, e.g.
    `class ShapeError(FxgradError, TypeError)`. `except FxgradError:` catches them all.
    """

    @classmethod
    def docs_url(cls) -> str:
        """The URL of this error's section in docs/errors.md."""
        return f"{DOCS_ERRORS_URL}#{cls.__name__.lower()}"

    def __str__(self) -> str:
        return f"{super().__str__()}\n\nSee {self.docs_url()}"


class ConcretizationError(FxgradError, TypeError):
    """A traced (abstract) value was used where a concrete Python value is needed.

    Raised when Python control flow (`if`, `while`, `bool()`, `int()`, indexing with a
    traced integer, `np.asarray`) inspects the value of an array inside `jit`, `vmap`
    or another tracing transformation, where only its shape and dtype are known.

    Usual fix: use `fxgrad.lax.cond`, `fxgrad.lax.while_loop`, `fxgrad.lax.scan` or
    `fxgrad.numpy.where` instead of Python control flow, or mark the argument static
    with `jit(f, static_argnums=...)`.
    """


# JAX's name for the same error.
ConcretizationTypeError = ConcretizationError


class TracerBoolConversionError(ConcretizationError):
    """`bool()` (an `if`, `while`, `and`, `or`, `not`) was called on a traced value.

    Usual fix: `fxgrad.lax.cond` or `fxgrad.numpy.where` for branches, `lax.while_loop`
    for loops, or a static argument when the condition only depends on configuration.
    """


class TracerIntegerConversionError(ConcretizationError):
    """`int()` / `__index__` was called on a traced value (e.g. `range(n)`, `xs[n]`).

    Usual fix: pass the integer as a static argument, or use `fxgrad.lax.fori_loop` and
    `fxgrad.lax.dynamic_slice` which take traced integers.
    """


class TracerArrayConversionError(ConcretizationError):
    """A traced value was converted to a NumPy array (`np.asarray`, `__array__`).

    Usual fix: use `fxgrad.numpy` functions instead of `numpy` ones inside transformed
    functions, or move the NumPy code outside the transformation or into
    `fxgrad.debug.callback` / `pure_callback`.
    """


class UnexpectedTracerError(FxgradError, TypeError):
    """A tracer escaped the transformation that created it and was used afterwards.

    Raised when a value traced inside `jit`, `grad`, `vmap`, ... is stored in a global,
    a closure, or an object attribute and then used outside that transformation. (A
    `TypeError`, as in JAX.)

    Usual fix: return the value from the transformed function instead of storing it
    as a side effect; transformed functions must be pure.
    """


class ShapeError(FxgradError, TypeError):
    """Operand shapes are incompatible (broadcasting, `dot`, `reshape`, `concatenate`, ...).

    A `TypeError`, as for shape mismatches in JAX's `lax`. Usual fix: check the shapes
    in the message; add or remove an axis (`x[:, None]`, `reshape`) or transpose.
    """


class FxgradTypeError(FxgradError, TypeError):
    """A dtype is unsupported or operand dtypes are incompatible.

    Raised for dtypes outside fxgrad's set (object, strings, datetimes, long double),
    integer operands to operations that need floats (e.g. `grad` w.r.t. an int), and
    similar dtype problems. Usual fix: convert explicitly with `x.astype(...)`.
    """


class ScalarOverflowError(FxgradError, OverflowError):
    """A Python int does not fit in 64 bits, so it cannot become an array value.

    Python ints are converted through int64 (as in JAX); values inside int64 but outside
    a narrower target dtype wrap around. Usual fix: use a float, or reduce the value.
    """


class NonScalarOutputError(FxgradError, TypeError):
    """`grad` / `value_and_grad` was applied to a function that does not return a scalar.

    Usual fix: reduce the output (`.sum()`, `.mean()`), use `jacrev` / `jacfwd` for the
    full Jacobian, or `vjp` with an explicit cotangent.
    """


class StaticArgumentError(FxgradError, ValueError):
    """A static argument of `jit` (`static_argnums` / `static_argnames`) is not hashable,
    or does not exist in the function's signature.

    Static arguments are part of the compilation cache key. Usual fix: pass a tuple
    instead of a list, a frozen dataclass instead of a dict, or make the argument a
    traced array instead of a static one; check indices and names against the signature.
    """


class BatchingError(FxgradError, ValueError):
    """`vmap` was given inconsistent `in_axes` / `out_axes` or batch sizes.

    Raised when `in_axes` does not match the argument pytree, an axis is out of range,
    mapped arguments have different sizes along their mapped axes, or no argument is
    mapped and `axis_size` is not given. Usual fix: check `in_axes` against the
    argument structure, or pass `axis_size=`.
    """


class MissingRuleError(FxgradError, NotImplementedError):
    """A primitive has no rule for the transformation being applied.

    The message names the primitive, the transformation (jvp, transpose, batching,
    lowering) and the file where its rules live. Usual fix: rewrite the function with
    operations that support the transformation, or add the rule next to the primitive
    (see docs/adding_a_primitive.md).
    """


class WhileLoopReverseModeError(FxgradError, ValueError):
    """Reverse-mode differentiation through `lax.while_loop` without `max_steps=`.

    The number of iterations of a `while_loop` is only known at run time, so the values
    needed by the backward pass cannot be saved in advance. Usual fix: pass
    `max_steps=N` (fxgrad then runs a bounded, masked loop when differentiating), or use
    `lax.fori_loop` with static bounds or `lax.scan`, which differentiate fully.
    """


class ControlFlowError(FxgradError, TypeError):
    """The branches of `cond`/`switch` or the carry of a loop do not agree in type.

    The message names the branch or carry leaf (by pytree path), both shapes and dtypes,
    and the fix: make every branch return the same structure, shapes and dtypes, and the
    loop body return a carry of exactly the type of its input carry.
    """


class NaNError(FxgradError, FloatingPointError):
    """`config.debug_nans` / `debug_infs` found a NaN or infinity in a computed value.

    The message names the primitive that first produced it and the user's source line.
    Usual fix: guard the operation (`where`, `clip`, a `custom_jvp` with a stable rule),
    or look at the inputs that reach it.
    """


class UnknownFlagError(FxgradError, AttributeError):
    """`fxgrad.config` was asked about a flag it does not have.

    The message lists the valid flags. Usual fix: check the spelling; JAX names such as
    `jax_enable_x64` and `jax_debug_nans` are accepted as aliases.
    """


class FlagValueError(FxgradError, ValueError):
    """A `fxgrad.config` flag (or its `FXGRAD_<FLAG>` environment variable) got an invalid value.

    Usual fix: use one of the values listed in the message, e.g. `"float32"` or
    `"float64"` for `default_float`, or `True` / `False` (`1` / `0` in the environment)
    for boolean flags.
    """
