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
* The *dynamic* main trace is the floor of the top-trace search in ``bind``: while
  staging a jaxpr (``jit``, ``make_jaxpr``) every ``bind`` is staged, even one whose
  arguments are all constants.
* When a transformation ends, its main trace is marked dead, so a tracer that escaped
  (stored in a global, returned through a side channel) raises
  ``UnexpectedTracerError`` when it is next used instead of silently misbehaving.

The stack is thread-local, so separate threads can trace independently.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fxgrad import dtypes
from fxgrad.config import config
from fxgrad.errors import (
    ConcretizationError,
    MissingRuleError,
    TracerArrayConversionError,
    TracerBoolConversionError,
    TracerIntegerConversionError,
    UnexpectedTracerError,
)

# ---------------------------------------------------------------------------------------
# Abstract values
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ShapedArray:
    """The abstract value of an array: its shape, dtype and whether its type is weak.

    A weak type marks a value that came from a Python scalar; it adopts the dtype of
    the strongly typed operand it is combined with (``x32 * 2.0`` is float32).
    """

    shape: tuple[int, ...]
    dtype: np.dtype
    weak_type: bool = False
    #: ``tangent_aval(self)``, computed once on first use (not part of the value).
    _tangent: ShapedArray | None = field(
        default=None, init=False, repr=False, compare=False, hash=False
    )
    #: the hash, computed once on first use: avals key the abstract-eval, pullback and
    #: jit caches, and the generated dataclass hash costs ~0.25us a call.
    _hash: int | None = field(default=None, init=False, repr=False, compare=False, hash=False)

    def __hash__(self) -> int:
        h = self._hash
        if h is None:
            h = hash((self.shape, self.dtype, self.weak_type))
            object.__setattr__(self, "_hash", h)
        return h

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    def update(self, shape=None, dtype=None, weak_type=None) -> ShapedArray:
        if shape is None and weak_type is None and (dtype is None or dtype == self.dtype):
            return self
        return shaped(
            self.shape if shape is None else tuple(shape),
            self.dtype if dtype is None else np.dtype(dtype),
            self.weak_type if weak_type is None else weak_type,
        )

    def strip_weak_type(self) -> ShapedArray:
        return self if not self.weak_type else ShapedArray(self.shape, self.dtype, False)

    def str_short(self) -> str:
        name = dtypes.SHORT_NAMES.get(self.dtype.name, self.dtype.name)
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
    tangent = aval._tangent
    if tangent is None:
        tangent = shaped(aval.shape, dtypes.tangent_dtype(aval.dtype), aval.weak_type)
        # A cache slot on a frozen value: the tangent type is a function of the type.
        object.__setattr__(aval, "_tangent", tangent)
    return tangent


def get_aval(x: Any) -> ShapedArray:
    """The abstract value of a tracer, an ``Array``, a NumPy array or a Python scalar."""
    if type(x) is _array_type:
        # ``Array`` caches its aval in ``_aval`` (see ``set_value_wrappers``).
        aval = x._aval
        return aval if aval is not None else x.aval
    handler = _aval_handlers.get(type(x))
    if handler is not None:
        return handler(x)
    if isinstance(x, Tracer):
        return x.aval
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
        #: the output's weak type is the ``weak_type`` param (``convert_element_type``),
        #: not "every input weak", when evaluated eagerly as when traced
        self.weak_type_param = False

    def __repr__(self) -> str:
        return self.name

    def bind(self, *args: Any, **params: Any) -> Any:
        """Apply the primitive to ``args`` under the active transformations."""
        # The top trace: the highest main among the tracer arguments, at least the
        # dynamic main (the floor while staging). Without one: evaluate.
        state = _local_state
        top_main = state.dynamic
        for a in args:
            if isinstance(a, Tracer):
                main = a._trace.main
                if not main.alive:
                    raise _escaped_tracer_error(a)
                if main.level > top_main.level:
                    top_main = main
        if top_main is state.base:
            return _eval_fast(self, args, params)
        top = top_main.trace
        tracers = [
            a if isinstance(a, Tracer) and a._trace.main is top_main else top.full_raise(a)
            for a in args
        ]
        out = top.process_primitive(self, tracers, params)
        if self.multiple_results:
            return [full_lower(o) for o in out]
        if isinstance(out, Tracer):
            return out.full_lower()
        return out


#: ``(primitive, trace token, *avals, *params items) -> output aval(s)``.
_abstract_eval_cache: dict[tuple, Any] = {}


def abstract_eval(primitive: Primitive, avals: Sequence[ShapedArray], params: dict) -> Any:
    """``primitive.abstract_eval(*avals, **params)``, memoized.

    Abstract evaluation is a pure function of the input types, the params and the flags
    that affect tracing (``config.trace_token()``), and staging calls it for every
    equation: a dot_general's rule costs ~6us, a cache hit ~0.6us. Unhashable params
    (and errors, which are raised each time) bypass the cache.
    """
    try:
        key = (primitive, config.trace_token(), *avals, *params.items())
        out = _abstract_eval_cache.get(key)
    except TypeError:
        return primitive.abstract_eval(*avals, **params)
    if out is None:
        out = primitive.abstract_eval(*avals, **params)
        if len(_abstract_eval_cache) > 50_000:
            _abstract_eval_cache.clear()
        if primitive.multiple_results:
            out = tuple(out)  # shared by every hit: immutable
        _abstract_eval_cache[key] = out
    return out


def inline_or_raise(
    primitive: Primitive, tracers: Sequence[Any], params: dict, missing: str
) -> Any:
    """Apply ``primitive`` through its ``inline`` definition, for an interpreter without
    a rule for it; raise ``MissingRuleError(missing)`` when it has none."""
    if primitive.inline is None:
        raise MissingRuleError(missing)
    return primitive.inline(*tracers, **params)


def _eval_fast(prim: Primitive, args: Sequence[Any], params: dict) -> Any:
    """Evaluate ``prim`` with its ``impl`` on concrete arguments (no abstract evaluation)."""
    # One pass unwraps the arguments and decides whether the output is weakly typed:
    # it is when every input is weak (and the dtype is unchanged, checked below).
    array_type = _array_type
    vals = []
    weak = bool(args)
    for a in args:
        if type(a) is array_type:
            vals.append(a._value)
            weak = weak and a.weak_type
        else:
            vals.append(_unwrap_value(a))
            weak = weak and (getattr(a, "weak_type", False) or type(a) in _WEAK_SCALARS)
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
            weak_out = prim.out_weak_types(**params)
            return [_wrap_value(o, w) for o, w in zip(out, weak_out, strict=True)]
        return [_wrap_value(o, False) for o in out]
    if prim.weak_type_param:
        return _wrap_value(out, bool(params.get("weak_type", False)))
    return _wrap_value(out, weak and _same_dtype(out, vals[0]))


_WEAK_SCALARS = (int, float, complex)


def _same_dtype(out: Any, first: Any) -> bool:
    return getattr(out, "dtype", None) == getattr(first, "dtype", None)


# ``Array`` lives in fxgrad.array, which imports this module; it installs these hooks.
def _unwrap_value(x: Any) -> Any:
    return x


def _wrap_value(x: Any, weak_type: bool = False) -> Any:
    return x


class _NoArrayType:
    """Stands for ``Array`` until ``fxgrad.array`` installs it."""


_array_type: type = _NoArrayType


def set_value_wrappers(unwrap: Callable, wrap: Callable, array_type: type) -> None:
    """Install how concrete values are unwrapped before ``impl`` and wrapped after it.

    ``array_type`` (``Array``) keeps its buffer in ``_value`` (what ``unwrap`` returns)
    and caches its abstract value in ``_aval`` (or ``None``); the hot paths here read
    both directly.
    """
    global _unwrap_value, _wrap_value, _array_type
    _unwrap_value = unwrap
    _wrap_value = wrap
    _array_type = array_type


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


class _MainScope:
    """The context manager returned by ``new_main`` (a class: cheaper than a generator)."""

    __slots__ = ("main", "dynamic", "prev_dynamic")

    def __init__(self, main: MainTrace, dynamic: bool):
        self.main = main
        self.dynamic = dynamic
        self.prev_dynamic: MainTrace | None = None

    def __enter__(self) -> MainTrace:
        state = _local_state
        state.stack.append(self.main)
        self.prev_dynamic = state.dynamic
        if self.dynamic:
            state.dynamic = self.main
        return self.main

    def __exit__(self, *exc_info: Any) -> None:
        state = _local_state
        state.dynamic = self.prev_dynamic
        popped = state.stack.pop()
        assert popped is self.main, "interpreter stack corrupted"
        main = self.main
        main.alive = False
        # Break the cycles main -> trace -> main and main -> data -> tracers -> main, so
        # that a finished transformation is freed by reference counting, not by the
        # (much later, much slower) cycle collector. A dead main is never processed.
        main.trace = None
        main.global_data = None


def new_main(
    trace_type: type, global_data: Any = None, *, dynamic: bool = False, name: str = ""
) -> _MainScope:
    """Push a new transformation on the stack for the duration of the ``with`` block.

    With ``dynamic=True`` the new main also becomes the floor of the top-trace search, so
    every primitive bound inside is processed by it (staging for ``jit``).
    """
    level = len(_local_state.stack)
    return _MainScope(MainTrace(level, trace_type, global_data, name), dynamic)


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
