"""``jit``, ``make_jaxpr`` and ``eval_shape``: staging functions to jaxprs.

``jit`` traces a function once per input signature (pytree structure, shapes, dtypes,
weak types, static arguments and configuration) to a jaxpr, caches it, and applies it
through the ``pjit`` call primitive, which runs it compiled. Because ``jit`` is a
primitive, it composes with every other transformation.

A cached call outside any transformation skips all of that: it keys a second dict on
cheap facts read straight off the arguments (each leaf's shape, dtype and weak type,
the static values, the configuration token) and runs the compiled executable on the
NumPy buffers, in a few microseconds. Every retrace is recorded, and explained under
``config.log_compiles`` (``fxgrad._compile_log``).
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import sys
import threading
import weakref
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from fxgrad import _compile_log, core
from fxgrad._api_util import (
    ShapeDtypeStruct,
    _arg_names,
    _as_value,
    _flat_fun,
    _flatten_args,
    _fun_name,
    _OutStore,
)
from fxgrad.array import Array
from fxgrad.config import config
from fxgrad.core import ShapedArray, Tracer, get_aval
from fxgrad.errors import (
    StaticArgumentError,
)
from fxgrad.interpreters.partial_eval import (
    trace_to_jaxpr,
)
from fxgrad.jaxpr import ClosedJaxpr, Jaxpr
from fxgrad.lax._executor import executable_for
from fxgrad.lax.call import check_non_finite, pjit_p
from fxgrad.tree_util import (
    tree_flatten,
    tree_unflatten,
    treedef_is_leaf,
)

__all__ = [
    "ShapeDtypeStruct",
    "disable_jit",
    "eval_shape",
    "jit",
    "make_jaxpr",
]


#: every jit-wrapped function alive, for ``clear_caches``
_jitted: weakref.WeakSet = weakref.WeakSet()


def clear_caches() -> None:
    """Forget every traced and compiled function, as ``jax.clear_caches``: each jitted
    function traces and compiles again on its next call. The on-disk cache of object
    code is kept (a recompile reads it back instead of running LLVM)."""
    for fun in list(_jitted):
        fun._clear()
    from fxgrad.lax import _executor

    _executor.clear()
    cache = sys.modules.get("fxgrad.lowering.cache")
    if cache is not None:  # nothing was compiled if the compiler was never imported
        cache.clear_memory()


class _StaticArgs:
    """Which arguments of a jitted function are static, by position and by name."""

    def __init__(self, fun: Callable, static_argnums: Any, static_argnames: Any, fun_name: str):
        nums = (static_argnums,) if isinstance(static_argnums, int) else tuple(static_argnums or ())
        names = (
            (static_argnames,) if isinstance(static_argnames, str) else tuple(static_argnames or ())
        )
        try:
            sig_params = list(inspect.signature(fun).parameters.values())
        except (TypeError, ValueError):
            sig_params = []
        positional = [
            p.name for p in sig_params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
        _check_static_spec(fun_name, sig_params, positional, nums, names)
        if not any(p.kind is p.VAR_POSITIONAL for p in sig_params) and sig_params:
            # Negative positions count from the end of the signature, as in JAX.
            nums = tuple(n + len(positional) if -len(positional) <= n < 0 else n for n in nums)
        self.positional = positional
        nums_set = set(nums)
        names_set = set(names)
        for n in nums:
            if 0 <= n < len(positional):
                names_set.add(positional[n])
        for nm in names:
            if nm in positional:
                nums_set.add(positional.index(nm))
        self.argnums = tuple(sorted(nums_set))
        self.argnames = tuple(sorted(names_set))
        self._positions: dict[int, tuple[int, ...]] = {}

    def positions(self, nargs: int) -> tuple[int, ...]:
        """The static positions of a call with ``nargs`` positional arguments."""
        found = self._positions.get(nargs)
        if found is None:
            found = tuple(sorted({n % nargs for n in self.argnums if -nargs <= n < nargs}))
            self._positions[nargs] = found
        return found

    def split(self, fun_name: str, args: tuple, kwargs: dict):
        static_pos = self.positions(len(args))
        dyn_args = tuple(a for i, a in enumerate(args) if i not in static_pos)
        static_vals = []
        for i in static_pos:
            label = f"argument {i}"
            if i < len(self.positional):
                label += f" ('{self.positional[i]}')"
            static_vals.append((i, _check_hashable(fun_name, label, args[i])))
        dyn_kwargs = {}
        for k, v in kwargs.items():
            if k in self.argnames:
                static_vals.append((k, _check_hashable(fun_name, f"argument '{k}'", v)))
            else:
                dyn_kwargs[k] = v
        return dyn_args, dyn_kwargs, tuple(static_vals), static_pos


def _check_static_spec(
    fun_name: str, params: list[inspect.Parameter], positional: list[str], nums: tuple, names: tuple
) -> None:
    """Refuse ``static_argnums``/``static_argnames`` that name no parameter (as JAX does).

    Only checked when the signature is known and does not take ``*args`` / ``**kwargs``.
    """
    for n in nums:
        if not isinstance(n, int) or isinstance(n, bool):
            raise StaticArgumentError(
                f"jit({fun_name}): static_argnums must be ints, got {n!r} of type "
                f"{type(n).__name__}; pass positions like static_argnums=(1,)."
            )
    if not params:
        return
    kinds = {p.kind for p in params}
    if inspect.Parameter.VAR_POSITIONAL not in kinds:
        bad = [n for n in nums if not -len(positional) <= n < len(positional)]
        if bad:
            raise StaticArgumentError(
                f"jit({fun_name}): static_argnums={nums} refers to position {bad[0]}, but "
                f"{fun_name} takes {len(positional)} positional argument(s) "
                f"({', '.join(positional) or 'none'}). Use a position in "
                f"[{-len(positional)}, {len(positional)}) or name it in static_argnames."
            )
    if inspect.Parameter.VAR_KEYWORD not in kinds:
        known = {p.name for p in params if p.kind is not inspect.Parameter.POSITIONAL_ONLY}
        bad_names = [nm for nm in names if nm not in known]
        if bad_names:
            raise StaticArgumentError(
                f"jit({fun_name}): static_argnames names {bad_names[0]!r}, which is not a "
                f"parameter of {fun_name} (its parameters: {', '.join(sorted(known)) or 'none'}). "
                "Fix the name or drop it from static_argnames."
            )


def _dynamic_positions(num_dynamic: int, static_pos: Sequence[int]) -> list[int]:
    """The call positions of the dynamic arguments, given the static positions."""
    total = num_dynamic + len(static_pos)
    return [i for i in range(total) if i not in static_pos]


def _check_hashable(fun_name: str, what: str, value: Any) -> Any:
    try:
        hash(value)
    except TypeError:
        raise StaticArgumentError(
            f"jit({fun_name}): static {what} has unhashable type {type(value).__name__} "
            f"(value {value!r:.80}). Static arguments are part of the compilation cache key "
            "and must be hashable: pass a tuple instead of a list, a frozen dataclass instead "
            "of a dict, or make the argument non-static (an array)."
        ) from None
    return value


class _CacheEntry:
    """A traced signature: its jaxpr (constants as leading inputs) and the constants."""

    __slots__ = ("jaxpr", "consts", "out_tree")

    def __init__(self, jaxpr: ClosedJaxpr, consts: tuple, out_tree: Any):
        self.jaxpr = jaxpr
        self.consts = consts
        self.out_tree = out_tree


_SCALAR_TYPES = frozenset({bool, int, float, complex})

#: separates the static values from the leaf signatures in a fast-path key
_STATIC_MARK = object()


def _leaf_key(prefix: tuple, leaves: Sequence[Any]) -> tuple | None:
    """``prefix`` followed by each leaf's ``(shape, dtype, weak_type)`` (its type for a
    Python scalar), or None when a leaf is not an Array, a NumPy array or scalar, or a
    Python scalar (the normal path then converts it or raises). Under one configuration
    token, equal keys mean equal avals, hence the same cache entry of the normal path."""
    key = prefix
    for x in leaves:
        t = type(x)
        if t is Array:
            v = x._value
            key += ((v.shape, v.dtype, x.weak_type),)
        elif t is np.ndarray or issubclass(t, np.generic):
            key += ((x.shape, x.dtype, False),)
        elif t in _SCALAR_TYPES:
            key += (t,)
        else:
            return None
    return key


class _FastEntry:
    """A cached signature ready to run on concrete leaves without ``bind``.

    It holds what the call primitive's evaluation would work out on each call: the
    constants as NumPy buffers, whether ``debug_nans``/``debug_infs`` checks apply (part
    of the configuration token the entry is filed under), the weak types of the outputs
    and how to rebuild the output pytree.
    """

    __slots__ = (
        "jaxpr",
        "consts",
        "name",
        "check_finite",
        "weak",
        "out_tree",
        "single",
        "what",
        "run",
    )

    def __init__(self, entry: _CacheEntry, name: str, token: int):
        flags = config.trace_values(token)
        self.jaxpr = entry.jaxpr
        self.consts = [core._unwrap_value(c) for c in entry.consts]
        self.name = name
        self.check_finite = bool(flags["debug_nans"] or flags["debug_infs"])
        self.weak = [aval.weak_type for aval in entry.jaxpr.out_avals]
        self.out_tree = entry.out_tree
        self.single = treedef_is_leaf(entry.out_tree) and len(self.weak) == 1
        self.what = f"argument of jit({name})"
        #: the compiled executable, fetched on the first fast call (the normal path's
        #: ``bind`` compiles it; fetching it here would compile before that call runs)
        self.run: Callable[[Sequence[Any]], list[Any]] | None = None

    def __call__(self, leaves: Sequence[Any]) -> Any:
        vals = self.consts.copy()
        for x in leaves:  # a loop is cheaper than a comprehension for a few leaves
            vals.append(x._value if type(x) is Array else _as_value(x, self.what)._value)
        run = self.run
        if run is None:
            run = self.run = executable_for(self.jaxpr, self.name)
        outs = run(vals)
        if self.check_finite:
            check_non_finite(self.jaxpr, vals, outs, self.name)
        wrap = core._wrap_value
        if self.single:
            return wrap(outs[0], self.weak[0])
        return tree_unflatten(
            self.out_tree, [wrap(o, w) for o, w in zip(outs, self.weak, strict=True)]
        )


class JitWrapped:
    """A jit-compiled function: traced once per input signature, then cached.

    A call first tries the fast path: outside any staging trace, without keyword
    arguments and with concrete leaves (Arrays, NumPy arrays, Python scalars), the key
    is the configuration token, the static values and each leaf's (shape, dtype, weak
    type), and a hit runs the compiled executable directly. Anything else (tracers,
    keyword arguments, a first call) takes the normal path: split static arguments,
    flatten, key on avals, trace on a miss, and apply through ``pjit_p.bind``, so that
    the call composes with the transformations around it. The normal path files a fast
    entry for the next call with the same key.
    """

    def __init__(
        self,
        fun: Callable,
        static_argnums: Any,
        static_argnames: Any,
        donate_argnums: Any,
        inline: bool,
    ):
        functools.update_wrapper(self, fun)
        self._fun = fun
        self._name = _fun_name(fun)
        self._static = _StaticArgs(fun, static_argnums, static_argnames, self._name)
        self._has_static = bool(self._static.argnums)
        self._cache: dict[Any, _CacheEntry] = {}
        self._fast: dict[Any, _FastEntry] = {}
        self._seen: list[_compile_log.Signature] = []
        self._lock = threading.Lock()
        _jitted.add(self)
        self._trace_count = 0

    def _clear(self) -> None:
        """Drop this function's traces and compiled entries (``clear_caches``)."""
        with self._lock:
            self._cache.clear()
            self._fast.clear()
            self._seen.clear()

    def __get__(self, obj: Any, objtype: Any = None) -> Any:
        if obj is None:
            return self
        return functools.partial(self, obj)

    def _trace(self, flat, in_tree, static_pos, static_vals, token) -> _CacheEntry:
        fun = self._fun
        statics = dict(static_vals)

        def full_fun(*dyn_args, **dyn_kwargs):
            it = iter(dyn_args)
            full_args = [
                statics[i] if i in statics else next(it)
                for i in range(len(dyn_args) + len(static_pos))
            ]
            kw = {**dyn_kwargs, **{k: v for k, v in statics.items() if isinstance(k, str)}}
            return fun(*full_args, **kw)

        store = _OutStore()
        flat_fun = _flat_fun(full_fun, in_tree, store, name=self._name)
        in_avals = [get_aval(x) for x in flat]
        dyn_args, dyn_kwargs = tree_unflatten(in_tree, flat)
        positions = _dynamic_positions(len(dyn_args), static_pos)
        sig = self._log_trace(dyn_args, dyn_kwargs, positions, static_vals, in_avals, token)
        names = _arg_names(self._fun, dyn_args, dyn_kwargs, positions)
        closed = trace_to_jaxpr(flat_fun, in_avals, name=f"jit({self._name})", arg_names=names)
        with self._lock:  # only traces that succeeded explain later ones
            self._seen.append(sig)
            del self._seen[: -_compile_log.HISTORY]
        jaxpr = closed.jaxpr
        # Constants become leading arguments, so closed-over tracers are transformed.
        open_jaxpr = Jaxpr(jaxpr.in_binders, jaxpr.eqns, jaxpr.outs, 0)
        return _CacheEntry(ClosedJaxpr(open_jaxpr, ()), tuple(closed.consts), store.treedef)

    def _log_trace(
        self, dyn_args, dyn_kwargs, positions, static_vals, in_avals, token
    ) -> _compile_log.Signature:
        """Count the trace and, with ``log_compiles``, say why it happens; its signature."""
        sig = _compile_log.signature(
            self._fun, dyn_args, dyn_kwargs, positions, static_vals, in_avals, token
        )
        with self._lock:
            self._trace_count += 1
            count = self._trace_count
            seen = list(self._seen)
        if config.read("log_compiles"):
            if seen:
                print(_compile_log.retrace_message(self._name, count, sig, seen))
            else:
                print(_compile_log.first_trace_message(self._name, sig))
        return sig

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        state = core._state()
        if kwargs or state.dynamic is not state.base:
            return self._call(args, kwargs, None, None)
        token = config.trace_token()
        key = None if self._has_static else _leaf_key((token,), args)
        if key is None:
            return self._call_pytree(args, token)
        fast = self._fast.get(key)
        if fast is None:
            return self._call(args, kwargs, key, token)
        return fast(args)

    def _call_pytree(self, args: tuple, token: int) -> Any:
        """The fast path with static arguments or pytree arguments (see ``__call__``)."""
        static_pos = self._static.positions(len(args)) if self._has_static else ()
        prefix: tuple = (token,)
        leaves = args
        if static_pos:
            prefix = (token, _STATIC_MARK, tuple(args[i] for i in static_pos))
            leaves = tuple(a for i, a in enumerate(args) if i not in static_pos)
        key = _leaf_key(prefix, leaves)
        if key is None:
            leaves, treedef = tree_flatten(leaves)
            key = _leaf_key((*prefix, treedef), leaves)
            if key is None:
                return self._call(args, {}, None, token)
        try:
            fast = self._fast.get(key)
        except TypeError:  # an unhashable static value: the normal path explains
            return self._call(args, {}, None, token)
        if fast is None:
            return self._call(args, {}, key, token)
        return fast(leaves)

    def _call(self, args: tuple, kwargs: dict, fast_key: Any, token: int | None) -> Any:
        """The normal path; files a fast entry under ``fast_key`` when there is one."""
        if config.read("disable_jit"):
            return self._fun(*args, **kwargs)
        if token is None:
            token = config.trace_token()
        dyn_args, dyn_kwargs, static_vals, static_pos = self._static.split(self._name, args, kwargs)
        flat, in_tree = _flatten_args(
            (dyn_args, dyn_kwargs),
            f"jit({self._name})",
            lambda: _arg_names(
                self._fun, dyn_args, dyn_kwargs, _dynamic_positions(len(dyn_args), static_pos)
            ),
        )
        key = (in_tree, tuple(get_aval(x) for x in flat), static_vals, token)
        entry = self._cache.get(key)
        if entry is None:
            entry = self._trace(flat, in_tree, static_pos, static_vals, token)
            if not any(isinstance(c, Tracer) for c in entry.consts):
                with self._lock:
                    self._cache[key] = entry
        if fast_key is not None and self._cache.get(key) is entry:
            with self._lock:
                self._fast[fast_key] = _FastEntry(entry, self._name, token)
        outs = pjit_p.bind(*entry.consts, *flat, jaxpr=entry.jaxpr, name=self._name)
        outs = [_restore_weak_type(o, a) for o, a in zip(outs, entry.jaxpr.out_avals, strict=True)]
        return tree_unflatten(entry.out_tree, outs)

    def _cache_size(self) -> int:
        """How many input signatures have been traced and cached."""
        return len(self._cache)

    def lower(self, *args: Any, **kwargs: Any) -> ClosedJaxpr:
        """The staged jaxpr for these arguments (``make_jaxpr``'s output)."""
        return make_jaxpr(self._fun, static_argnums=self._static.argnums)(*args, **kwargs)


def _restore_weak_type(x: Any, aval: ShapedArray) -> Any:
    """A concrete jit output with the weak type its jaxpr says it has (``jit(f)(1.0)``)."""
    if isinstance(x, Array) and aval.weak_type and not x.weak_type:
        return Array(np.asarray(x), weak_type=True)
    return x


def jit(
    fun: Callable | None = None,
    *,
    static_argnums: int | Sequence[int] | None = None,
    static_argnames: str | Sequence[str] | None = None,
    donate_argnums: Any = None,
    inline: bool = False,
    **kwargs: Any,
) -> Any:
    """Compile ``fun``: trace it once per input signature to a jaxpr and cache that.

    The cache key is the pytree structure, shapes, dtypes and weak types of the
    arguments, the values of static arguments and the configuration. Static arguments
    (``static_argnums``/``static_argnames``) must be hashable.

    Example:
      >>> import fxgrad, fxgrad.numpy as fnp
      >>> f = fxgrad.jit(lambda x, n: x ** n, static_argnums=1)
      >>> f(fnp.arange(3.0), 2)
      Array([0., 1., 4.], dtype=float64)
    """
    if fun is None:
        return functools.partial(
            jit,
            static_argnums=static_argnums,
            static_argnames=static_argnames,
            donate_argnums=donate_argnums,
            inline=inline,
        )
    if not callable(fun):
        raise TypeError(f"jit: expected a callable, got {type(fun).__name__}")
    return JitWrapped(fun, static_argnums, static_argnames, donate_argnums, inline)


@contextlib.contextmanager
def disable_jit(disable: bool = True) -> Iterator[None]:
    """Inside the block, jitted functions run as plain Python, op by op (for debugging:
    ``print`` and breakpoints see concrete values). Like ``jax.disable_jit``; the same
    as ``config.override(disable_jit=disable)``, so it holds in the current thread only.

    Example:
      >>> import fxgrad, fxgrad.numpy as fnp
      >>> @fxgrad.jit
      ... def f(x):
      ...     print(type(x).__name__)
      ...     return x + 1
      >>> with fxgrad.disable_jit():
      ...     y = f(fnp.arange(2.0))
      Array
    """
    with config.override(disable_jit=disable):
        yield


def make_jaxpr(
    fun: Callable,
    static_argnums: int | Sequence[int] = (),
    return_shape: bool = False,
    axis_env: Any = None,
) -> Callable:
    """A function returning the ``ClosedJaxpr`` of ``fun`` for given example arguments.

    Example:
      >>> import fxgrad, fxgrad.numpy as fnp
      >>> print(fxgrad.make_jaxpr(lambda x: fnp.sin(x) * 2.0)(1.0))
      { lambda ; a:f64[]. let
          b:f64[] = sin a
          c:f64[] = mul b 2.0
        in (c,) }
    """
    name = _fun_name(fun)
    static = _StaticArgs(fun, static_argnums, (), name)

    @functools.wraps(fun)
    def make(*args: Any, **kwargs: Any):
        dyn_args, dyn_kwargs, static_vals, static_pos = static.split(name, args, kwargs)
        statics = dict(static_vals)

        def full_fun(*d_args, **d_kwargs):
            it = iter(d_args)
            full = [
                statics[i] if i in statics else next(it)
                for i in range(len(d_args) + len(static_pos))
            ]
            return fun(*full, **d_kwargs)

        flat, in_tree = _flatten_args((dyn_args, dyn_kwargs), f"argument of make_jaxpr({name})")
        store = _OutStore()
        flat_fun = _flat_fun(full_fun, in_tree, store, name=name)
        avals = [get_aval(x) for x in flat]
        closed = trace_to_jaxpr(
            flat_fun,
            avals,
            name=f"make_jaxpr({name})",
            arg_names=_arg_names(
                fun, dyn_args, dyn_kwargs, _dynamic_positions(len(dyn_args), static_pos)
            ),
        )
        if return_shape:
            shapes = [ShapeDtypeStruct(a.shape, a.dtype, a.weak_type) for a in closed.out_avals]
            return closed, tree_unflatten(store.treedef, shapes)
        return closed

    return make


def eval_shape(fun: Callable, *args: Any, **kwargs: Any) -> Any:
    """The shapes and dtypes of ``fun``'s outputs (as ``ShapeDtypeStruct``), without FLOPs.

    Arguments may be arrays or ``ShapeDtypeStruct`` placeholders; ``fun`` is traced once.

    Example:
      >>> import fxgrad, numpy as np
      >>> x = fxgrad.ShapeDtypeStruct((3, 4), np.float32)
      >>> fxgrad.eval_shape(lambda x: x.sum(axis=0), x)
      ShapeDtypeStruct(shape=(4,), dtype=float32)
    """
    closed, shapes = make_jaxpr(fun, return_shape=True)(*args, **kwargs)
    return shapes
