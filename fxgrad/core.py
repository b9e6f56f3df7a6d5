"""The core of fxgrad: primitives, abstract values, traces and the interpreter stack.

Every array operation in fxgrad ends in ``primitive.bind(*args, **params)``. ``bind``
looks at its arguments, finds the *top* trace among them (the transformation applied
last, i.e. innermost), raises the other arguments into that trace and asks it to
process the primitive with its rule: evaluation, forward-mode JVP, batching, or
staging into a jaxpr. A trace that processes a primitive typically calls ``bind``
again on lower-level values, so transformations compose to any depth.

The design follows JAX's "Autodidax" (https://jax.readthedocs.io/en/latest/autodidax.html):

* ``MainTrace`` objects form a stack (one per active transformation), each with a
  level. A ``Tracer`` belongs to a ``Trace``, which points at its ``MainTrace``.
* The *dynamic* main trace is the floor for ``find_top_trace``: while staging a jaxpr
  (``jit``, ``make_jaxpr``) every ``bind`` is staged, even one whose arguments are all
  constants.
* When a transformation ends, its main trace is marked dead, so a tracer that escaped
  (stored in a global, returned through a side channel) raises
  ``UnexpectedTracerError`` when it is next used instead of silently misbehaving.

The stack is thread-local, so separate threads can trace independently.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from fxgrad import dtypes
from fxgrad.errors import (
    ConcretizationError,
    TracerArrayConversionError,
    TracerBoolConversionError,
    TracerIntegerConversionError,
    UnexpectedTracerError,
)

# ---------------------------------------------------------------------------------------
# Abstract values
# ---------------------------------------------------------------------------------------

_DTYPE_SHORT = {
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


@dataclass(frozen=True, slots=True)
class ShapedArray:
    """The abstract value of an array: its shape, dtype and whether its type is weak.

    A weak type marks a value that came from a Python scalar; it adopts the dtype of
    the strongly typed operand it is combined with (``x32 * 2.0`` is float32).
    """

    shape: tuple[int, ...]
    dtype: np.dtype
    weak_type: bool = False

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    def update(self, shape=None, dtype=None, weak_type=None) -> ShapedArray:
        return shaped(
            self.shape if shape is None else tuple(shape),
            self.dtype if dtype is None else np.dtype(dtype),
            self.weak_type if weak_type is None else weak_type,
        )

    def strip_weak_type(self) -> ShapedArray:
        return self if not self.weak_type else ShapedArray(self.shape, self.dtype, False)

    def str_short(self) -> str:
        name = _DTYPE_SHORT.get(self.dtype.name, self.dtype.name)
        return f"{name}[{','.join(str(d) for d in self.shape)}]"

    def __repr__(self) -> str:
        weak = ", weak_type=True" if self.weak_type else ""
        return f"ShapedArray({self.str_short()}{weak})"

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of unsized object")
        return self.shape[0]


def tangent_aval(aval: ShapedArray) -> ShapedArray:
    """The abstract value of tangents (and cotangents) of values of type ``aval``."""
    return shaped(aval.shape, dtypes.tangent_dtype(aval.dtype), aval.weak_type)


def get_aval(x: Any) -> ShapedArray:
    """The abstract value of a tracer, an ``Array``, a NumPy array or a Python scalar."""
    if isinstance(x, Tracer):
        return x.aval
    handler = _aval_handlers.get(type(x))
    if handler is not None:
        return handler(x)
    if isinstance(x, (bool, int, float, complex)):
        return ShapedArray((), dtypes.dtype(x), True)
    if isinstance(x, (np.ndarray, np.generic)):
        return shaped(x.shape, x.dtype, False)
    raise TypeError(
        f"Value {x!r} of type {type(x).__name__} is not a valid fxgrad type: expected an "
        "fxgrad Array, a NumPy array or a Python scalar."
    )


_interned_avals: dict[tuple, ShapedArray] = {}


def shaped(shape: tuple[int, ...], dtype: np.dtype, weak_type: bool = False) -> ShapedArray:
    """An interned ``ShapedArray`` (cheaper than constructing one on hot paths)."""
    key = (shape, dtype, weak_type)
    aval = _interned_avals.get(key)
    if aval is None:
        if len(_interned_avals) > 100_000:
            _interned_avals.clear()
        aval = _interned_avals[key] = ShapedArray(tuple(shape), np.dtype(dtype), weak_type)
    return aval


_aval_handlers: dict[type, Callable[[Any], ShapedArray]] = {
    np.ndarray: lambda x: shaped(x.shape, x.dtype, False),
    bool: lambda x: shaped((), np.dtype(bool), True),
    int: lambda x: shaped((), dtypes.default_int_dtype(), True),
    float: lambda x: shaped((), dtypes.default_float_dtype(), True),
    complex: lambda x: shaped((), dtypes.default_complex_dtype(), True),
}


def register_aval_handler(typ: type, handler: Callable[[Any], ShapedArray]) -> None:
    """Teach ``get_aval`` the abstract value of a concrete array type (``Array``)."""
    _aval_handlers[typ] = handler


def is_array_like(x: Any) -> bool:
    """True for values fxgrad can treat as arrays (tracers, arrays, scalars)."""
    return (
        isinstance(x, (Tracer, np.ndarray, np.generic, bool, int, float, complex))
        or type(x) in _aval_handlers
    )


# ---------------------------------------------------------------------------------------
# Primitives
# ---------------------------------------------------------------------------------------


class Primitive:
    """A named operation with rules; ``bind`` applies it under the active transformations.

    ``impl`` evaluates it on concrete NumPy values and ``abstract_eval`` computes output
    ``ShapedArray``s from input ones. Transformation rules live in the registries of the
    interpreter modules (``jvp_rules``, ``transpose_rules``, ``batch_rules``).

    ``inline`` (optional) expresses the primitive through other primitives; an
    interpreter without a rule for the primitive evaluates ``inline`` under itself
    instead (``jit``'s call primitive uses this).
    """

    multiple_results = False

    def __init__(self, name: str, *, multiple_results: bool = False):
        self.name = name
        self.multiple_results = multiple_results
        self.impl: Callable[..., Any] | None = None
        self.abstract_eval: Callable[..., Any] | None = None
        self.inline: Callable[..., Any] | None = None
        #: ``(**params) -> [bool]``: weak types of the outputs of a multiple-results
        #: primitive evaluated eagerly (e.g. ``pjit`` reads them from its jaxpr).
        self.out_weak_types: Callable[..., Sequence[bool]] | None = None

    def __repr__(self) -> str:
        return self.name

    def bind(self, *args: Any, **params: Any) -> Any:
        """Apply the primitive to ``args`` under the active transformations."""
        state = _state()
        if state.dynamic is state.base:
            for a in args:
                if isinstance(a, Tracer):
                    break
            else:
                return _eval_fast(self, args, params)
        top = find_top_trace(args)
        tracers = [top.full_raise(a) for a in args]
        out = top.process_primitive(self, tracers, params)
        if self.multiple_results:
            return [full_lower(o) for o in out]
        return full_lower(out)


def _eval_fast(prim: Primitive, args: Sequence[Any], params: dict) -> Any:
    unwrap = _unwrap_value
    vals = [unwrap(a) for a in args]
    try:
        out = prim.impl(*vals, **params)
    except (ValueError, TypeError, IndexError):
        # The abstract evaluation (skipped on this fast path) explains bad arguments
        # better than NumPy does: re-raise its error if it has one.
        if prim.abstract_eval is not None:
            prim.abstract_eval(*[get_aval(a) for a in args], **params)
        raise
    if prim.multiple_results:
        if prim.out_weak_types is not None:
            weak = prim.out_weak_types(**params)
            return [_wrap_value(o, w) for o, w in zip(out, weak, strict=True)]
        return [_wrap_value(o, False) for o in out]
    # Weak types propagate when every input is weak and the dtype is unchanged.
    weak = bool(args) and all(_is_weak(a) for a in args)
    return _wrap_value(out, weak and _same_dtype(out, vals[0]))


def _is_weak(x: Any) -> bool:
    return getattr(x, "weak_type", False) or type(x) in (int, float, complex)


def _same_dtype(out: Any, first: Any) -> bool:
    return getattr(out, "dtype", None) == getattr(first, "dtype", None)


# ``Array`` lives in fxgrad.array, which imports this module; it installs these hooks.
def _unwrap_value(x: Any) -> Any:
    return x


def _wrap_value(x: Any, weak_type: bool = False) -> Any:
    return x


def set_value_wrappers(unwrap: Callable, wrap: Callable) -> None:
    """Install how concrete values are unwrapped before ``impl`` and wrapped after it."""
    global _unwrap_value, _wrap_value
    _unwrap_value = unwrap
    _wrap_value = wrap


# ---------------------------------------------------------------------------------------
# Traces, tracers and the stack
# ---------------------------------------------------------------------------------------


class MainTrace:
    """One active transformation on the stack: its level, trace type and data."""

    __slots__ = ("level", "trace_type", "global_data", "alive", "name", "trace")

    def __init__(self, level: int, trace_type: type, global_data: Any = None, name: str = ""):
        self.level = level
        self.trace_type = trace_type
        self.global_data = global_data
        self.alive = True
        self.name = name or trace_type.__name__
        self.trace = trace_type(self)  # traces are stateless views of their main

    def __repr__(self) -> str:
        return f"MainTrace({self.level}, {self.name})"


class Trace:
    """Processes primitives whose top-level arguments are its tracers."""

    __slots__ = ("main",)

    def __init__(self, main: MainTrace):
        self.main = main

    def pure(self, val: Any) -> Tracer:
        """Box a value from a lower level (or a constant) as a tracer of this trace."""
        raise NotImplementedError

    lift = pure

    def full_raise(self, val: Any) -> Tracer:
        if not isinstance(val, Tracer):
            return self.pure(val)
        level = self.main.level
        val_main = val._trace.main
        if val_main is self.main:
            return val
        if not val_main.alive:
            raise _escaped_tracer_error(val)
        if val_main.level < level:
            return self.lift(val)
        raise UnexpectedTracerError(
            f"A tracer from a transformation at level {val_main.level} ({val_main.name}) "
            f"reached a transformation at level {level} ({self.main.name}) below it. This "
            "means a traced value escaped the function being transformed, for example "
            "through a global variable or a closure mutated during tracing."
        )

    def process_primitive(self, primitive: Primitive, tracers: list, params: dict) -> Any:
        raise NotImplementedError


class EvalTrace(Trace):
    """The base of the stack: evaluates primitives on concrete values with ``impl``."""

    __slots__ = ()

    def pure(self, val: Any) -> Any:
        return val

    lift = pure

    def process_primitive(self, primitive, tracers, params):
        return _eval_fast(primitive, tracers, params)


class Tracer:
    """A value being traced by a transformation; it stands for an array of type ``aval``.

    Array methods and operators (``+``, ``@``, ``.sum()``, indexing, ...) are installed
    on this class by ``fxgrad.numpy``, so tracers behave like arrays in user code.
    """

    __slots__ = ("_trace",)
    __array_priority__ = 1000

    @property
    def aval(self) -> ShapedArray:
        raise NotImplementedError

    def full_lower(self) -> Any:
        return self

    def to_concrete_value(self) -> Any:
        """The concrete value this tracer is known to hold, or ``None`` if it is abstract."""
        return None

    @property
    def shape(self) -> tuple[int, ...]:
        return self.aval.shape

    @property
    def dtype(self) -> np.dtype:
        return self.aval.dtype

    @property
    def ndim(self) -> int:
        return self.aval.ndim

    @property
    def size(self) -> int:
        return self.aval.size

    @property
    def weak_type(self) -> bool:
        return self.aval.weak_type

    def __len__(self) -> int:
        return len(self.aval)

    def __iter__(self):
        if not self.shape:
            raise TypeError("iteration over a 0-d array")
        return (self[i] for i in range(self.shape[0]))

    def _concrete_or_raise(self, what: str) -> np.ndarray:
        val = self.to_concrete_value()
        if val is None:
            raise _concretization_error(self, what)
        return np.asarray(val)

    def __bool__(self) -> bool:
        return bool(self._concrete_or_raise("bool()"))

    def __int__(self) -> int:
        return int(self._concrete_or_raise("int()"))

    def __float__(self) -> float:
        return float(self._concrete_or_raise("float()"))

    def __complex__(self) -> complex:
        return complex(self._concrete_or_raise("complex()"))

    def __index__(self) -> int:
        val = self._concrete_or_raise("an index (__index__)")
        return int(val)

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        val = self._concrete_or_raise("a NumPy array (np.asarray)")
        return val if dtype is None else val.astype(dtype)

    def __hash__(self) -> int:
        raise TypeError(
            f"unhashable type: {type(self).__name__}. A traced array cannot be hashed; if "
            "it is a static argument of jit, pass a Python value instead."
        )

    def __repr__(self) -> str:
        return f"Traced<{self.aval.str_short()}>with<{type(self._trace).__name__}>"

    def __setitem__(self, idx, value):
        raise TypeError(
            "fxgrad arrays are immutable: `x[idx] = y` is not supported. "
            "Use `x = x.at[idx].set(y)` instead."
        )


def _user_frame() -> str:
    """``file:line (function)`` of the innermost stack frame outside fxgrad's own code."""
    import os
    import sys

    package_dir = os.path.dirname(os.path.abspath(__file__))
    frame = sys._getframe(1)
    while frame is not None:
        filename = frame.f_code.co_filename
        if not os.path.abspath(filename).startswith(package_dir):
            return f"{filename}:{frame.f_lineno} (in {frame.f_code.co_name})"
        frame = frame.f_back
    return "<unknown>"


def _concretization_error(tracer: Tracer, what: str) -> ConcretizationError:
    main = tracer._trace.main
    origin = getattr(tracer, "debug_origin", None)
    origin_text = f" It depends on {origin}." if origin else ""
    if what == "bool()":
        cls = TracerBoolConversionError
    elif what in ("int()", "an index (__index__)"):
        cls = TracerIntegerConversionError
    elif what.startswith("a NumPy array"):
        cls = TracerArrayConversionError
    else:
        cls = ConcretizationError
    return cls(
        f"Attempted to convert a traced value of type {tracer.aval.str_short()} to "
        f"{what} while tracing under {main.name}, at {_user_frame()}.{origin_text} The "
        "value is abstract here: only its shape and dtype are known, not its contents, so "
        "Python control flow and conversions cannot depend on it.\n"
        "Fixes: use fxgrad.lax.cond / fxgrad.lax.while_loop / fxgrad.lax.fori_loop / "
        "fxgrad.lax.scan (or fxgrad.numpy.where) instead of Python `if`/`while`; or, "
        "under jit, mark the argument static with static_argnums=/static_argnames=."
    )


def _escaped_tracer_error(tracer: Tracer) -> UnexpectedTracerError:
    main = tracer._trace.main
    return UnexpectedTracerError(
        f"Encountered a tracer of type {tracer.aval.str_short()} created by a "
        f"{main.name} transformation that has already finished. The tracer escaped the "
        "function being transformed, for example by being stored in a global variable, an "
        "attribute or a list outside the function, and was used after the transformation "
        "returned. Return such values from the transformed function instead of storing "
        "them."
    )


class _TraceState(threading.local):
    def __init__(self):
        self.base = MainTrace(0, EvalTrace, None, "eval")
        self.stack: list[MainTrace] = [self.base]
        self.dynamic: MainTrace = self.base


_local_state = _TraceState()


def _state() -> _TraceState:
    return _local_state


@contextmanager
def new_main(trace_type: type, global_data: Any = None, *, dynamic: bool = False, name=""):
    """Push a new transformation on the stack for the duration of the ``with`` block.

    With ``dynamic=True`` the new main also becomes the floor of ``find_top_trace``, so
    every primitive bound inside is processed by it (staging for ``jit``).
    """
    state = _state()
    level = len(state.stack)
    main = MainTrace(level, trace_type, global_data, name)
    state.stack.append(main)
    prev_dynamic = state.dynamic
    if dynamic:
        state.dynamic = main
    try:
        yield main
    finally:
        state.dynamic = prev_dynamic
        popped = state.stack.pop()
        assert popped is main, "interpreter stack corrupted"
        main.alive = False


def find_top_trace(args: Sequence[Any]) -> Trace:
    """The trace that must process a primitive applied to ``args``."""
    state = _state()
    top_main = state.dynamic
    for a in args:
        if isinstance(a, Tracer):
            main = a._trace.main
            if not main.alive:
                raise _escaped_tracer_error(a)
            if main.level > top_main.level:
                top_main = main
    return top_main.trace


def full_lower(val: Any) -> Any:
    if isinstance(val, Tracer):
        return val.full_lower()
    return val


def concrete_value(x: Any) -> Any:
    """The concrete value of ``x`` (a tracer with a known value, or a value), else None."""
    if isinstance(x, Tracer):
        return x.to_concrete_value()
    return x


def is_concrete(x: Any) -> bool:
    return concrete_value(x) is not None


_var_counter = itertools.count()


def __getattr__(name: str) -> Any:
    # The IR lives in fxgrad.jaxpr; re-export it here, as the core's public surface.
    if name in ("Var", "Literal", "JaxprEqn", "Jaxpr", "ClosedJaxpr", "eval_jaxpr"):
        from fxgrad import jaxpr

        return getattr(jaxpr, name)
    raise AttributeError(f"module 'fxgrad.core' has no attribute {name!r}")
