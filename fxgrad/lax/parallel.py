"""Collectives over a named ``vmap`` axis: ``psum``, ``pmean``, ``pmax``, ``pmin`` and
``axis_index``, as in JAX.

``vmap(f, axis_name="i")`` names its batch axis; inside ``f``, ``lax.psum(x, "i")`` is
the sum of ``x`` over the examples of that axis, the same value for every example
(batch-normalisation statistics, a per-example loss normalised by the batch total).
Each collective is a primitive with an ``axis_name`` parameter. Only the vmap that owns
the name can evaluate it, so every BatchTrace runs a collective rule
(``batching.collective_rules``): the owner reduces over its batch axis (an unbatched
value is the same in every example: ``psum`` multiplies it by the axis size), and any
other vmap applies the collective to its batched value as it is. A value from below the
owner is lifted into it first, so the owner always sees the equation.

``psum`` and ``pmean`` are linear: their derivative is themselves, and each is its own
transpose (the cotangent of every example's input is the sum, or mean, of all
examples' output cotangents). ``pmax`` and ``pmin`` have no derivative rule.
A name no enclosing ``vmap`` carries raises ``NameError``, as in JAX.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import numpy as np

from fxgrad.core import Primitive, Tracer, get_aval
from fxgrad.interpreters import batching
from fxgrad.interpreters.batching import BatchTracer, not_mapped
from fxgrad.interpreters.jvp import Zero, jvp_rules
from fxgrad.interpreters.transpose import transpose_rules
from fxgrad.lax import elementwise as ew
from fxgrad.lax import reduction as red
from fxgrad.lax._define import define_primitive
from fxgrad.lax.slicing import iota
from fxgrad.tree_util import tree_map

__all__ = ["axis_index", "pmax", "pmean", "pmin", "psum"]


def _main_of(name: Hashable, what: str) -> Any:
    main = batching.find_axis(name)
    if main is None:
        bound = batching.bound_axis_names()
        raise NameError(
            f"lax.{what}: unbound axis name {name!r}: no enclosing vmap carries it "
            f"(vmap(..., axis_name={name!r})); names bound here: {bound or 'none'}"
        )
    return main


def _bind(prim: Primitive, x: Any, name: Hashable) -> Any:
    """Bind collective ``prim`` on ``x``, lifted into the vmap named ``name`` when ``x``
    comes from below it (so that vmap's rule sees it)."""
    main = _main_of(name, prim.name)
    if not (isinstance(x, Tracer) and x._trace.main.level >= main.level):
        x = BatchTracer(main.trace, x, not_mapped)
    return prim.bind(x, axis_name=name)


def _unbound_impl(prim_name: str):
    def impl(x, *, axis_name):
        raise NameError(
            f"lax.{prim_name}: axis {axis_name!r} is not bound where this runs (a collective "
            "inside jit inside vmap is not supported; call it in the vmapped function itself)"
        )

    return impl


def _same_aval(x, *, axis_name):
    return x


def _define(name: str, reduce: Any, unbatched: Any) -> Primitive:
    prim = define_primitive(
        name,
        impl=_unbound_impl(name),
        abstract_eval=_same_aval,
        jvp=None,
        batch=None,
    )

    def rule(trace: Any, tracers: list, params: dict) -> Any:
        (t,) = tracers
        if batching.axis_names.get(trace.main) != params["axis_name"]:
            # another vmap's axis: the collective acts within each of its examples
            return BatchTracer(trace, _bind(prim, t.val, params["axis_name"]), t.bdim)
        if t.bdim is not_mapped:
            return unbatched(t.val, trace.axis_size)
        return reduce(t.val, t.bdim, trace.axis_size)

    batching.collective_rules[prim] = rule
    return prim


psum_p = _define(
    "psum",
    lambda x, d, n: red.reduce_sum(x, (d,)),
    lambda x, n: ew.mul(x, np.asarray(n, get_aval(x).dtype)),
)
pmean_p = _define(
    "pmean",
    lambda x, d, n: ew.div(red.reduce_sum(x, (d,)), np.asarray(n, get_aval(x).dtype)),
    lambda x, n: x,
)
pmax_p = _define("pmax", lambda x, d, n: red.reduce_max(x, (d,)), lambda x, n: x)
pmin_p = _define("pmin", lambda x, d, n: red.reduce_min(x, (d,)), lambda x, n: x)


def _linear_jvp(prim: Primitive):
    def rule(primals, tangents, *, axis_name):
        (x,), (t,) = primals, tangents
        out = _bind(prim, x, axis_name)
        if type(t) is Zero:
            return out, Zero(get_aval(out))
        return out, _bind(prim, t, axis_name)

    return rule


def _self_transpose(prim: Primitive):
    def rule(ct, x, *, axis_name):
        if type(ct) is Zero:
            return [Zero(x.aval)]
        return [_bind(prim, ct, axis_name)]

    return rule


for _prim in (psum_p, pmean_p):
    jvp_rules[_prim] = _linear_jvp(_prim)
    transpose_rules[_prim] = _self_transpose(_prim)


def _names(axis_name: Any) -> tuple:
    return tuple(axis_name) if isinstance(axis_name, (tuple, list)) else (axis_name,)


def _collective(prim: Primitive, x: Any, axis_name: Any) -> Any:
    def one(leaf: Any) -> Any:
        for name in _names(axis_name):
            leaf = _bind(prim, leaf, name)
        return leaf

    return tree_map(one, x)


def psum(x: Any, axis_name: Any, *, axis_index_groups: Any = None) -> Any:
    """The sum of ``x`` (a pytree) over the examples of the vmap axis ``axis_name`` (or
    of several, a tuple of names), the same for every example, as JAX's ``lax.psum``.

    Example:
      >>> import fxgrad, fxgrad.numpy as fnp
      >>> from fxgrad import lax
      >>> fxgrad.vmap(lambda x: x / lax.psum(x, "i"), axis_name="i")(fnp.array([1.0, 3.0]))
      Array([0.25, 0.75], dtype=float64)
    """
    _no_groups("psum", axis_index_groups)
    return _collective(psum_p, x, axis_name)


def pmean(x: Any, axis_name: Any, *, axis_index_groups: Any = None) -> Any:
    """The mean of ``x`` over the examples of the vmap axis ``axis_name`` (``lax.pmean``)."""
    _no_groups("pmean", axis_index_groups)
    return _collective(pmean_p, x, axis_name)


def pmax(x: Any, axis_name: Any, *, axis_index_groups: Any = None) -> Any:
    """The maximum of ``x`` over the examples of the vmap axis ``axis_name``."""
    _no_groups("pmax", axis_index_groups)
    return _collective(pmax_p, x, axis_name)


def pmin(x: Any, axis_name: Any, *, axis_index_groups: Any = None) -> Any:
    """The minimum of ``x`` over the examples of the vmap axis ``axis_name``."""
    _no_groups("pmin", axis_index_groups)
    return _collective(pmin_p, x, axis_name)


def axis_index(axis_name: Hashable) -> Any:
    """The index of the current example along the vmap axis ``axis_name`` (int32).

    Example:
      >>> import fxgrad, fxgrad.numpy as fnp
      >>> from fxgrad import lax
      >>> fxgrad.vmap(lambda x: x * lax.axis_index("i"), axis_name="i")(fnp.ones(3))
      Array([0., 1., 2.], dtype=float64)
    """
    main = _main_of(axis_name, "axis_index")
    return BatchTracer(main.trace, iota(np.int32, main.global_data), 0)


def _no_groups(what: str, groups: Any) -> None:
    if groups is not None:
        raise NotImplementedError(f"lax.{what}: axis_index_groups is not supported")
