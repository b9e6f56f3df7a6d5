"""Choosing and applying: ``piecewise``, ``select``, ``choose``, ``vectorize``, ``apply_*``.

``piecewise``/``select``/``choose`` evaluate every branch on the whole input and pick
with ``where`` or a gather (as JAX does), so they differentiate and batch; gradients of
the branches not taken are zero. ``vectorize`` and ``apply_along_axis`` are ``vmap``s
built on ``fxgrad.interpreters.batching.vmap_flat`` (``fxgrad.numpy`` may not import
``fxgrad.api``): the function is traced once on one slice, never called per element,
so it must be written with fxgrad operations. ``vectorize`` broadcasts the loop
dimensions of its inputs and folds them into one mapped axis; its ``signature`` names
core dimensions as in NumPy's generalized ufuncs.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from fxgrad import core
from fxgrad.interpreters import batching
from fxgrad.numpy import _joining as joining
from fxgrad.numpy import _reductions as red
from fxgrad.numpy import _shape_ops as shp
from fxgrad.numpy import _ufuncs as uf
from fxgrad.numpy._creation import ones, zeros
from fxgrad.numpy._util import asarray_value, canonicalize_axis, promote_dtypes
from fxgrad.tree_util import tree_flatten, tree_unflatten

__all__ = [
    "apply_along_axis",
    "apply_over_axes",
    "choose",
    "piecewise",
    "select",
    "vectorize",
]

_INDEX = np.dtype(np.int64)


# ---------------------------------------------------------------------------------------------
# Choosing between values
# ---------------------------------------------------------------------------------------------


def piecewise(x: Any, condlist: Any, funclist: Sequence[Any], *args: Any, **kw: Any) -> Any:
    """Evaluate ``funclist[i]`` where ``condlist[i]`` holds (``numpy.piecewise``).

    Functions are called on the whole ``x`` and their results selected with ``where``
    (as in JAX), so they must be vectorised; later conditions win, and an extra function
    covers the points no condition selects. The result has ``x``'s dtype.

    Example:
      >>> import fxgrad.numpy as fnp
      >>> x = fnp.array([-2.0, 0.5, 3.0])
      >>> fnp.piecewise(x, [x < 0, x >= 0], [lambda v: -v, lambda v: v ** 2])
      Array([2.  , 0.25, 9.  ], dtype=float64)
    """
    x = asarray_value(x)
    if isinstance(condlist, (list, tuple)):
        conds = [asarray_value(c) != 0 for c in condlist]
    else:
        c = asarray_value(condlist)
        conds = [c[i] != 0 for i in range(c.shape[0])] if c.ndim > x.ndim else [c != 0]
    conds = [shp.broadcast_to(c, x.shape) for c in conds]
    if len(funclist) == len(conds) + 1:
        others = ~red.any(joining.stack(conds), axis=0) if conds else ones(x.shape, bool)
        conds.append(others)
    elif len(funclist) != len(conds):
        raise ValueError(
            f"fxgrad.numpy.piecewise: with {len(conds)} condition(s), funclist must have "
            f"{len(conds)} or {len(conds) + 1} entries, got {len(funclist)}"
        )
    out = zeros(x.shape, x.dtype)
    for cond, fn in zip(conds, funclist, strict=True):
        value = fn(x, *args, **kw) if callable(fn) else fn
        out = uf.where(cond, asarray_value(value).astype(x.dtype), out)
    return out


def select(condlist: Sequence[Any], choicelist: Sequence[Any], default: Any = 0) -> Any:
    """``choicelist[i]`` where ``condlist[i]`` is the first true condition, else ``default``.

    Example:
      >>> import fxgrad.numpy as fnp
      >>> x = fnp.arange(5)
      >>> fnp.select([x < 2, x > 3], [x, x ** 2], default=-1)
      Array([ 0,  1, -1, -1, 16], dtype=int64)
    """
    if len(condlist) != len(choicelist):
        raise ValueError(
            "fxgrad.numpy.select: condlist and choicelist must have the same length, got "
            f"{len(condlist)} and {len(choicelist)}"
        )
    if not condlist:
        raise ValueError("fxgrad.numpy.select: select with an empty condition list is not possible")
    conds = [asarray_value(c) for c in condlist]
    for i, c in enumerate(conds):
        if c.dtype != np.bool_:
            raise TypeError(
                f"fxgrad.numpy.select: invalid entry {i} in condlist: should be a boolean "
                f"array, got dtype {c.dtype}"
            )
    *choices, default = promote_dtypes(*[asarray_value(c) for c in choicelist], default)
    out = default
    for cond, choice in zip(reversed(conds), reversed(choices), strict=True):
        out = uf.where(cond, choice, out)
    shape = np.broadcast_shapes(*[c.shape for c in conds], *[c.shape for c in choices])
    return shp.broadcast_to(out, np.broadcast_shapes(shape, out.shape))


def choose(a: Any, choices: Any, out: None = None, mode: str = "raise") -> Any:
    """``choices[a[i]][i]`` for every ``i``, broadcasting ``a`` and the choices together.

    ``mode``: ``'raise'`` (out-of-range indices raise eagerly; under ``jit`` they are
    clipped, as JAX does), ``'wrap'`` or ``'clip'``.

    Example:
      >>> import fxgrad.numpy as fnp
      >>> fnp.choose(fnp.array([0, 1, 0]), [fnp.array([1, 2, 3]), fnp.array([10, 20, 30])])
      Array([ 1, 20,  3], dtype=int64)
    """
    if out is not None:
        raise NotImplementedError("fxgrad.numpy.choose: out= is not supported (immutable)")
    a = asarray_value(a)
    if a.dtype.kind not in "iub":
        raise TypeError(f"fxgrad.numpy.choose: a must hold integers, got dtype {a.dtype}")
    if isinstance(choices, (list, tuple)):
        options = [asarray_value(c) for c in choices]
    else:
        c = asarray_value(choices)
        options = [c[i] for i in range(c.shape[0])]
    n = len(options)
    if mode == "raise":
        value = core.concrete_value(a)
        if value is not None and np.any((np.asarray(value) < 0) | (np.asarray(value) >= n)):
            raise ValueError("fxgrad.numpy.choose: invalid entry in choice array")
        a = uf.clip(a, 0, n - 1)
    elif mode == "wrap":
        a = uf.remainder(a, n)
    elif mode == "clip":
        a = uf.clip(a, 0, n - 1)
    else:
        raise ValueError(
            f"fxgrad.numpy.choose: mode must be 'raise', 'wrap' or 'clip', got {mode!r}"
        )
    options = promote_dtypes(*options)
    a, *options = shp.broadcast_arrays(a, *options)
    stacked = joining.stack(options)
    return joining.take_along_axis(stacked, a[None].astype(_INDEX), axis=0)[0]


# ---------------------------------------------------------------------------------------------
# Applying functions: vmap-based vectorize / apply_along_axis
# ---------------------------------------------------------------------------------------------


def _vmap(fun: Callable[..., Any], in_axes: Sequence[int | None], out_axis: int, size: int):
    """``fun`` mapped over ``in_axes`` of its array arguments; outputs batched at ``out_axis``."""

    def mapped(*args: Any) -> Any:
        store: dict[str, Any] = {}

        def flat(*xs: Any) -> list[Any]:
            leaves, store["tree"] = tree_flatten(fun(*xs))
            return [asarray_value(v) for v in leaves]

        dims = [batching.not_mapped if ax is None else ax for ax in in_axes]
        outs, out_dims = batching.vmap_flat(flat, size, dims, [asarray_value(x) for x in args])
        moved = []
        for o, d in zip(outs, out_dims, strict=True):
            final_ndim = o.ndim + (1 if d is batching.not_mapped else 0)
            moved.append(batching.move_bdim(o, d, out_axis % final_ndim, size))
        return tree_unflatten(store["tree"], moved)

    return mapped


def apply_along_axis(func1d: Callable[..., Any], axis: int, arr: Any, *args: Any, **kwargs: Any):
    """Apply ``func1d`` to the 1-D slices of ``arr`` along ``axis`` (``numpy.apply_along_axis``).

    ``func1d`` is traced once and ``vmap``ped over the other axes; its output axes take
    the place of ``axis``.

    Example:
      >>> import fxgrad.numpy as fnp
      >>> fnp.apply_along_axis(lambda v: v[0] + v[-1], 1, fnp.array([[1, 2, 3], [4, 5, 6]]))
      Array([ 4, 10], dtype=int64)
    """
    arr = asarray_value(arr)
    ndim = arr.ndim
    axis = canonicalize_axis(axis, ndim, "apply_along_axis")

    def func(x: Any) -> Any:
        return func1d(x, *args, **kwargs)

    shape = arr.shape
    for i in range(1, ndim - axis):
        func = _vmap(func, [i], -1, shape[axis + i])
    for i in range(axis):
        func = _vmap(func, [0], 0, shape[axis - 1 - i])
    return func(arr)


def apply_over_axes(func: Callable[[Any, int], Any], a: Any, axes: Sequence[int] | int) -> Any:
    """Apply ``func(a, axis)`` repeatedly over ``axes``, keeping dimensions (NumPy's rules).

    Example:
      >>> import fxgrad.numpy as fnp
      >>> fnp.apply_over_axes(fnp.sum, fnp.ones((2, 3)), [0, 1])
      Array([[6.]], dtype=float64)
    """
    a = asarray_value(a)
    for axis in [axes] if np.ndim(axes) == 0 else axes:
        out = asarray_value(func(a, axis))
        if out.ndim != a.ndim:
            out = shp.expand_dims(out, axis)
            if out.ndim != a.ndim:
                raise ValueError(
                    "fxgrad.numpy.apply_over_axes: function is not returning an array of the "
                    "correct shape"
                )
        a = out
    return a


_DIM = r"\w+"
_CORE = rf"\((?:{_DIM}(?:,{_DIM})*)?\)"
_SIGNATURE = re.compile(rf"^{_CORE}(?:,{_CORE})*->{_CORE}(?:,{_CORE})*$")


def _parse_signature(signature: str) -> tuple[list[tuple[str, ...]], list[tuple[str, ...]]]:
    signature = signature.replace(" ", "")
    if not _SIGNATURE.match(signature):
        raise ValueError(f"fxgrad.numpy.vectorize: not a valid gufunc signature: {signature!r}")
    ins, outs = signature.split("->")

    def groups(text: str) -> list[tuple[str, ...]]:
        return [tuple(d for d in g.split(",") if d) for g in re.findall(r"\(([^)]*)\)", text)]

    return groups(ins), groups(outs)


def _bind_core_dims(shapes, core_dims, sizes, what) -> list[tuple[int, ...]]:
    """Check core dimensions against ``sizes`` (filling it in); return the loop shapes."""
    loop_shapes = []
    for i, (shape, dims) in enumerate(zip(shapes, core_dims, strict=True)):
        shape = tuple(shape)
        if len(shape) < len(dims):
            raise ValueError(
                f"fxgrad.numpy.vectorize: {what} {i} has {len(shape)} dimension(s) but its "
                f"signature {dims} needs at least {len(dims)}"
            )
        core_shape = shape[len(shape) - len(dims) :]
        for name, n in zip(dims, core_shape, strict=True):
            if sizes.setdefault(name, n) != n:
                raise ValueError(
                    f"fxgrad.numpy.vectorize: inconsistent size for core dimension {name!r}: "
                    f"{sizes[name]} vs {n}"
                )
        loop_shapes.append(shape[: len(shape) - len(dims)])
    return loop_shapes


def vectorize(
    pyfunc: Callable[..., Any],
    *,
    excluded: Any = frozenset(),
    signature: str | None = None,
) -> Callable[..., Any]:
    """A function that maps ``pyfunc`` over the leading (loop) dimensions of its inputs.

    As ``jax.numpy.vectorize``: ``pyfunc`` is traced once and ``vmap``ped (not called
    per element); ``signature`` (e.g. ``'(n),(n)->()'``) names core dimensions that
    ``pyfunc`` sees whole; ``excluded`` lists positional indices or keyword names passed
    through unvectorised. Inputs broadcast over their loop dimensions.

    Example:
      >>> import fxgrad.numpy as fnp
      >>> dot = fnp.vectorize(lambda a, b: fnp.sum(a * b), signature="(n),(n)->()")
      >>> dot(fnp.ones((4, 3)), fnp.arange(3.0))
      Array([3., 3., 3., 3.], dtype=float64)
    """
    excluded = frozenset(excluded)
    parsed = _parse_signature(signature) if signature is not None else None

    @functools.wraps(pyfunc)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        positions = [i for i in range(len(args)) if i not in excluded]
        names = [k for k in kwargs if k not in excluded]
        arrays = [asarray_value(args[i]) for i in positions] + [
            asarray_value(kwargs[k]) for k in names
        ]

        def call(*vals: Any) -> Any:
            full = list(args)
            for i, v in zip(positions, vals, strict=False):
                full[i] = v
            kw = dict(kwargs)
            kw.update(zip(names, vals[len(positions) :], strict=True))
            return pyfunc(*full, **kw)

        in_core = parsed[0] if parsed else [()] * len(arrays)
        if len(in_core) != len(arrays):
            raise TypeError(
                f"fxgrad.numpy.vectorize: wrong number of positional arguments: signature "
                f"{signature!r} expects {len(in_core)}, got {len(arrays)}"
            )
        sizes: dict[str, int] = {}
        loop_shapes = _bind_core_dims([x.shape for x in arrays], in_core, sizes, "argument")
        loop = tuple(np.broadcast_shapes(*loop_shapes)) if loop_shapes else ()
        return _vectorized_call(call, arrays, loop_shapes, loop, parsed, sizes)

    return wrapped


def _vectorized_call(call, arrays, loop_shapes, loop, parsed, sizes) -> Any:
    total = int(np.prod(loop, dtype=np.int64))
    flat_args, axes = [], []
    for x, shape in zip(arrays, loop_shapes, strict=True):
        if not shape:
            flat_args.append(x)
            axes.append(None)
            continue
        core_shape = x.shape[len(shape) :]
        x = shp.broadcast_to(x, loop + core_shape)
        flat_args.append(x.reshape((total,) + core_shape))
        axes.append(0)
    if not any(ax is not None for ax in axes):
        out = call(*flat_args)
    else:
        size = max(total, 1)
        if total == 0:  # trace once on zeros to learn the output shapes
            flat_args = [
                zeros((1,) + x.shape[1:], x.dtype) if ax is not None else x
                for x, ax in zip(flat_args, axes, strict=True)
            ]
        out = _vmap(call, axes, 0, size)(*flat_args)
    leaves, tree = tree_flatten(out)
    leaves = [asarray_value(v) for v in leaves]
    batched = any(ax is not None for ax in axes)
    if parsed is not None:
        out_core = parsed[1]
        if len(out_core) != len(leaves):
            raise ValueError(
                f"fxgrad.numpy.vectorize: the function returned {len(leaves)} output(s), "
                f"but the signature has {len(out_core)}"
            )
        shapes = [v.shape[1:] if batched else v.shape for v in leaves]
        _bind_core_dims(shapes, out_core, sizes, "output")
    if batched:
        leaves = [(v[:0] if total == 0 else v).reshape(loop + v.shape[1:]) for v in leaves]
    return tree_unflatten(tree, leaves)
