"""``jit``, ``make_jaxpr`` and ``eval_shape``: staging functions to jaxprs.

``jit`` traces a function once per input signature (pytree structure, shapes, dtypes,
weak types, static arguments and configuration) to a jaxpr, caches it, and applies it
through the ``pjit`` call primitive, which runs it compiled. Because ``jit`` is a
primitive, it composes with every other transformation.
"""

from __future__ import annotations

import functools
import inspect
import threading
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from fxgrad import numpy as fnp
from fxgrad._api_util import (
    ShapeDtypeStruct,
    _arg_names,
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
from fxgrad.lax.call import pjit_p
from fxgrad.tree_util import (
    tree_map,
    tree_unflatten,
)

__all__ = [
    "ShapeDtypeStruct",
    "default_backend",
    "device_put",
    "devices",
    "eval_shape",
    "jit",
    "make_jaxpr",
]


class _StaticArgs:
    """Which arguments of a jitted function are static, by position and by name."""

    def __init__(self, fun: Callable, static_argnums: Any, static_argnames: Any):
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

    def split(self, fun_name: str, args: tuple, kwargs: dict):
        nargs = len(args)
        static_pos = tuple(sorted({n % nargs for n in self.argnums if -nargs <= n < nargs}))
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


class JitWrapped:
    """A jit-compiled function: traced once per input signature, then cached."""

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
        self._static = _StaticArgs(fun, static_argnums, static_argnames)
        self._cache: dict[Any, _CacheEntry] = {}
        self._lock = threading.Lock()
        self._trace_count = 0

    def __get__(self, obj: Any, objtype: Any = None) -> Any:
        if obj is None:
            return self
        return functools.partial(self, obj)

    def _trace(self, flat, in_tree, static_pos, static_vals) -> _CacheEntry:
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
        names = _arg_names(self._fun, dyn_args, dyn_kwargs, positions)
        closed = trace_to_jaxpr(flat_fun, in_avals, name=f"jit({self._name})", arg_names=names)
        jaxpr = closed.jaxpr
        # Constants become leading arguments, so closed-over tracers are transformed.
        open_jaxpr = Jaxpr(jaxpr.in_binders, jaxpr.eqns, jaxpr.outs, 0)
        self._trace_count += 1
        _log_compile(self, in_avals)
        return _CacheEntry(ClosedJaxpr(open_jaxpr, ()), tuple(closed.consts), store.treedef)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        dyn_args, dyn_kwargs, static_vals, static_pos = self._static.split(self._name, args, kwargs)
        flat, in_tree = _flatten_args((dyn_args, dyn_kwargs), f"argument of jit({self._name})")
        key = (in_tree, tuple(get_aval(x) for x in flat), static_vals, config.snapshot())
        entry = self._cache.get(key)
        if entry is None:
            entry = self._trace(flat, in_tree, static_pos, static_vals)
            if not any(isinstance(c, Tracer) for c in entry.consts):
                with self._lock:
                    self._cache[key] = entry
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


def _log_compile(wrapped: JitWrapped, in_avals: Sequence[ShapedArray]) -> None:
    if not config.read("log_compiles"):
        return
    sig = ", ".join(a.str_short() for a in in_avals)
    print(f"fxgrad: tracing jit({wrapped._name}) for ({sig}); trace #{wrapped._trace_count}")


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
    static = _StaticArgs(fun, static_argnums, ())
    name = _fun_name(fun)

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


def device_put(
    x: Any, device: Any = None, *, src: Any = None, donate: bool = False, may_alias: Any = None
) -> Any:
    """Place the leaves of ``x`` on the device as fxgrad Arrays (the CPU for now)."""
    return tree_map(lambda leaf: leaf if isinstance(leaf, Tracer) else fnp.asarray(leaf), x)


class _CpuDevice:
    platform = "cpu"
    device_kind = "cpu"
    id = 0

    def __repr__(self) -> str:
        return "CpuDevice(id=0)"


def devices(backend: str | None = None) -> list[Any]:
    """The devices fxgrad computes on."""
    return [_CpuDevice()]


def default_backend() -> str:
    return "cpu"
