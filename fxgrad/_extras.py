"""Small parts of JAX's top-level API: ``typeof``, ``named_call`` and
``ensure_compile_time_eval`` (``clear_caches`` lives with ``jit`` in ``staging``)."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from typing import Any

from fxgrad import core


def typeof(x: Any) -> core.ShapedArray:
    """The abstract value of ``x`` (shape, dtype, weak type), traced or not.

    Example:
      >>> import fxgrad, fxgrad.numpy as fnp
      >>> fxgrad.typeof(fnp.ones((2, 3), "float32"))
      ShapedArray(f32[2,3])
    """
    return core.get_aval(x)


def named_call(fun: Callable, *, name: str | None = None) -> Callable:
    """``fun``, under ``name`` for profiles (JAX's ``named_call``); fxgrad's jaxprs do
    not record names, so this returns a plain wrapper."""

    @functools.wraps(fun)
    def named(*args: Any, **kwargs: Any) -> Any:
        return fun(*args, **kwargs)

    if name is not None:
        named.__name__ = named.__qualname__ = name
    return named


@contextlib.contextmanager
def ensure_compile_time_eval() -> Iterator[None]:
    """Evaluate operations on concrete values at once, even while ``jit`` traces, as
    JAX's context manager does: a table or constant computed from Python values inside
    a jitted function becomes a concrete Array instead of staged operations. Operations
    on traced values are still traced."""
    state = core._local_state
    saved = state.dynamic
    state.dynamic = state.base
    try:
        yield
    finally:
        state.dynamic = saved
