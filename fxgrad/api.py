"""The user-facing transformations, with JAX's signatures.

Each transformation flattens its pytree arguments to a list of arrays, runs the flat
interpreter entry point (``jvp_flat``, ``vjp_flat``, ``vmap_flat``, ``trace_to_jaxpr``)
and unflattens the results. Argument checking happens here, at the boundary, so the
error names the transformation, the argument (by position and pytree path) and the fix.
"""

from __future__ import annotations

import functools
import inspect
import threading
from collections.abc import Callable, Hashable, Sequence
from typing import Any

import numpy as np

from fxgrad import core, dtypes
from fxgrad import numpy as fnp
from fxgrad.array import Array
from fxgrad.config import config
from fxgrad.core import ShapedArray, Tracer, get_aval
from fxgrad.errors import (
    BatchingError,
    FxgradTypeError,
    NonScalarOutputError,
    StaticArgumentError,
)
from fxgrad.interpreters import batching
from fxgrad.interpreters.jvp import Zero, instantiate_zeros, jvp_flat
from fxgrad.interpreters.partial_eval import (
    PartialVal,
    linearize_flat,
    partial_eval_flat,
    trace_to_jaxpr,
)
from fxgrad.interpreters.transpose import UndefPrimal, backward_pass, vjp_flat
from fxgrad.jaxpr import ClosedJaxpr, Jaxpr, eval_jaxpr
from fxgrad.lax.call import pjit_p
from fxgrad.tree_util import (
    keystr,
    tree_flatten,
    tree_flatten_with_path,
    tree_leaves,
    tree_map,
    tree_structure,
    tree_unflatten,
)

__all__ = [
    "ShapeDtypeStruct",
    "device_put",
    "devices",
    "default_backend",
    "eval_shape",
    "grad",
    "hessian",
    "jacfwd",
    "jacobian",
    "jacrev",
    "jit",
    "jvp",
    "linear_transpose",
    "linearize",
    "make_jaxpr",
    "value_and_grad",
    "vjp",
    "vmap",
]


# ---------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------


def _fun_name(fun: Callable) -> str:
    return getattr(fun, "__name__", None) or type(fun).__name__


def _as_value(x: Any, what: str) -> Any:
    """A leaf of a transformation's input as an array value (Array or tracer)."""
    if isinstance(x, (Tracer, Array)):
        return x
    if isinstance(x, (np.ndarray, np.generic, bool, int, float, complex)):
        return fnp.asarray(x)
    if isinstance(x, ShapeDtypeStruct):
        return x
    raise TypeError(
        f"{what} is not a valid array: got a value of type {type(x).__name__}. "
        "Transformations accept pytrees (tuples, lists, dicts, registered classes) whose "
        "leaves are arrays or Python scalars; mark other arguments static "
        "(jit's static_argnums) or close over them."
    )


def _flatten_args(args: Any, what: str) -> tuple[list[Any], Any]:
    leaves, treedef = tree_flatten(args)
    return [_as_value(x, what) for x in leaves], treedef


def _check_argnums(fun_name: str, argnums: Any, nargs: int) -> tuple[int, ...]:
    nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    for n in nums:
        if not isinstance(n, int):
            raise TypeError(f"{fun_name}: argnums must be ints, got {argnums!r}")
        if not -nargs <= n < nargs:
            raise TypeError(
                f"{fun_name}: argnums={argnums} refers to argument {n}, but the function was "
                f"called with only {nargs} positional argument(s)."
            )
    return tuple(n % nargs for n in nums)


class _OutStore:
    """Records the output pytree structure of a function traced with flat outputs."""

    def __init__(self) -> None:
        self.treedef = None
        self.aux = None


def _flat_fun(fun: Callable, in_tree: Any, store: _OutStore, has_aux: bool = False):
    def flat(*flat_args):
        args, kwargs = tree_unflatten(in_tree, flat_args)
        out = fun(*args, **kwargs)
        if has_aux:
            if not (isinstance(out, (tuple, list)) and len(out) == 2):
                raise TypeError(
                    f"{_fun_name(fun)} was transformed with has_aux=True, so it must return "
                    f"a pair (output, auxiliary data); it returned {type(out).__name__}."
                )
            out, aux = out
            store.aux = aux
        leaves, store.treedef = tree_flatten(out)
        return [_as_value(x, f"output of {_fun_name(fun)}") for x in leaves]

    return flat


# ---------------------------------------------------------------------------------------
# jvp, linearize
# ---------------------------------------------------------------------------------------


def jvp(fun: Callable, primals: Sequence[Any], tangents: Sequence[Any], has_aux: bool = False):
    """Forward-mode derivative: ``(fun(*primals), J(primals) @ tangents)``.

    Args:
      fun: a function of arrays (pytrees).
      primals: tuple or list of the arguments.
      tangents: same structure, shapes and (tangent) dtypes as ``primals``.
      has_aux: ``fun`` returns ``(out, aux)``; then ``(out, out_tangent, aux)`` is returned.

    Example:
      >>> import fxgrad, fxgrad.numpy as fnp
      >>> fxgrad.jvp(fnp.sin, (0.0,), (2.0,))
      (Array(0., dtype=float64, weak_type=True), Array(2., dtype=float64, weak_type=True))
    """
    if not isinstance(primals, (tuple, list)) or not isinstance(tangents, (tuple, list)):
        raise TypeError(
            "jvp: primals and tangents must be tuples or lists of arguments, got "
            f"{type(primals).__name__} and {type(tangents).__name__}; write "
            "jvp(f, (x,), (t,)) for a single argument."
        )
    if len(primals) != len(tangents):
        raise TypeError(
            f"jvp: got {len(primals)} primal(s) but {len(tangents)} tangent(s); pass one tangent "
            "per primal argument."
        )
    flat_primals, in_tree = _flatten_args((tuple(primals), {}), "jvp primal")
    flat_tangents, tan_tree = _flatten_args((tuple(tangents), {}), "jvp tangent")
    if in_tree != tan_tree:
        raise TypeError(
            f"jvp: primal and tangent arguments must have the same tree structure; got "
            f"{in_tree} and {tan_tree}"
        )
    for i, (p, t) in enumerate(zip(flat_primals, flat_tangents, strict=True)):
        _check_tangent(i, p, t)
    store = _OutStore()
    flat = _flat_fun(fun, in_tree, store, has_aux)
    tangents_in = [
        Zero(core.tangent_aval(get_aval(p)))
        if dtypes.tangent_dtype(p.dtype) == dtypes.float0
        else t
        for p, t in zip(flat_primals, flat_tangents, strict=True)
    ]
    primals_out, tangents_out = jvp_flat(flat, flat_primals, tangents_in)
    tangents_out = [_instantiate_output(t) for t in tangents_out]
    out = tree_unflatten(store.treedef, primals_out)
    out_t = tree_unflatten(store.treedef, tangents_out)
    if has_aux:
        return out, out_t, store.aux
    return out, out_t


def _check_tangent(i: int, primal: Any, tangent: Any) -> None:
    p_aval, t_aval = get_aval(primal), get_aval(tangent)
    if tuple(p_aval.shape) != tuple(t_aval.shape):
        raise ValueError(
            f"jvp: primal and tangent arguments must have equal shapes; leaf {i} has primal "
            f"shape {p_aval.shape} and tangent shape {t_aval.shape}"
        )
    expected = dtypes.tangent_dtype(p_aval.dtype)
    if expected != dtypes.float0 and np.dtype(t_aval.dtype) != expected and not t_aval.weak_type:
        raise TypeError(
            f"jvp: primal and tangent dtypes must match; leaf {i} has primal dtype "
            f"{p_aval.dtype} so its tangent must be {expected}, got {t_aval.dtype}"
        )


def _instantiate_output(t: Any) -> Any:
    if type(t) is Zero:
        if t.aval.dtype == dtypes.float0:
            return np.zeros(t.aval.shape, dtypes.float0)
        return instantiate_zeros(t)
    return t


def linearize(fun: Callable, *primals: Any):
    """``(fun(*primals), f_jvp)`` where ``f_jvp(*tangents)`` evaluates the JVP linearly.

    The primal computation runs once; ``f_jvp`` replays only the linear tangent jaxpr.
    """
    flat_primals, in_tree = _flatten_args((primals, {}), "linearize primal")
    store = _OutStore()
    flat = _flat_fun(fun, in_tree, store)
    primals_out, jaxpr, consts = linearize_flat(flat, flat_primals)
    out_tree = store.treedef

    def f_jvp(*tangents: Any) -> Any:
        flat_tangents, tan_tree = _flatten_args((tangents, {}), "linearize tangent")
        if tan_tree != in_tree:
            raise TypeError(
                f"linearize: the tangents must have the structure of the primals; expected "
                f"{in_tree}, got {tan_tree}"
            )
        outs = eval_jaxpr(jaxpr, consts, *flat_tangents)
        return tree_unflatten(out_tree, outs)

    return tree_unflatten(out_tree, primals_out), f_jvp


# ---------------------------------------------------------------------------------------
# vjp, grad
# ---------------------------------------------------------------------------------------


def vjp(fun: Callable, *primals: Any, has_aux: bool = False):
    """Reverse-mode derivative: ``(fun(*primals), f_vjp)``, ``f_vjp(ct) = ct @ J``.

    ``f_vjp`` takes a cotangent with the structure of the output and returns a tuple
    with one cotangent per primal argument. Implemented as linearize + transpose.
    """
    flat_primals, in_tree = _flatten_args((primals, {}), "vjp primal")
    store = _OutStore()
    flat = _flat_fun(fun, in_tree, store, has_aux)
    primals_out, flat_vjp = vjp_flat(flat, flat_primals)
    out_tree = store.treedef
    out_avals = [get_aval(x) for x in primals_out]
    in_avals = [get_aval(x) for x in flat_primals]

    def f_vjp(*cts: Any) -> tuple[Any, ...]:
        if len(cts) != 1:
            raise TypeError(f"the vjp function takes one cotangent argument, got {len(cts)}")
        flat_cts, ct_tree = tree_flatten(cts[0])
        if ct_tree != out_tree:
            raise TypeError(
                f"vjp: the cotangent must have the structure of the primal output; expected "
                f"{out_tree}, got {ct_tree}"
            )
        flat_cts = [
            _check_cotangent(i, c, a)
            for i, (c, a) in enumerate(zip(flat_cts, out_avals, strict=True))
        ]
        cts_in = flat_vjp(flat_cts)
        cts_in = [_cotangent_out(c, a) for c, a in zip(cts_in, in_avals, strict=True)]
        args_ct, _ = tree_unflatten(in_tree, cts_in)
        return tuple(args_ct)

    out = tree_unflatten(out_tree, primals_out)
    if has_aux:
        return out, f_vjp, store.aux
    return out, f_vjp


def _check_cotangent(i: int, ct: Any, aval: ShapedArray) -> Any:
    ct = _as_value(ct, "cotangent")
    if tuple(get_aval(ct).shape) != tuple(aval.shape):
        raise ValueError(
            f"vjp: cotangent leaf {i} has shape {get_aval(ct).shape}, but the primal output "
            f"has shape {aval.shape}"
        )
    if dtypes.tangent_dtype(aval.dtype) == dtypes.float0:
        return Zero(core.tangent_aval(aval))
    if np.dtype(get_aval(ct).dtype) != np.dtype(aval.dtype):
        ct = fnp.asarray(ct).astype(aval.dtype)
    return ct


def _cotangent_out(ct: Any, aval: ShapedArray) -> Any:
    if type(ct) is Zero:
        if dtypes.tangent_dtype(aval.dtype) == dtypes.float0:
            return np.zeros(aval.shape, dtypes.float0)
        return fnp.zeros(aval.shape, aval.dtype)
    return ct


def value_and_grad(
    fun: Callable,
    argnums: int | Sequence[int] = 0,
    has_aux: bool = False,
    holomorphic: bool = False,
    allow_int: bool = False,
    reduce_axes: Sequence[Any] = (),
) -> Callable:
    """Like ``grad`` but the function returns ``(value, gradient)``.

    Example:
      >>> import fxgrad, fxgrad.numpy as fnp
      >>> fxgrad.value_and_grad(lambda x: x ** 2)(3.0)
      (Array(9., dtype=float64, weak_type=True), Array(6., dtype=float64, weak_type=True))
    """
    name = _fun_name(fun)

    @functools.wraps(fun)
    def value_and_grad_f(*args: Any, **kwargs: Any):
        nums = _check_argnums(f"grad({name})", argnums, len(args))
        for n in nums:
            _check_grad_input(name, n, args[n], holomorphic, allow_int)

        def partial_fun(*diff_args):
            full = list(args)
            for n, a in zip(nums, diff_args, strict=True):
                full[n] = a
            return fun(*full, **kwargs)

        diff_args = [args[n] for n in nums]
        if has_aux:
            out, f_vjp, aux = vjp(partial_fun, *diff_args, has_aux=True)
        else:
            out, f_vjp = vjp(partial_fun, *diff_args)
        _check_grad_output(name, out, holomorphic)
        ct = fnp.ones((), get_aval(out).dtype)
        grads = f_vjp(ct)
        g = grads[0] if isinstance(argnums, int) else tuple(grads)
        if has_aux:
            return (out, aux), g
        return out, g

    return value_and_grad_f


def grad(
    fun: Callable,
    argnums: int | Sequence[int] = 0,
    has_aux: bool = False,
    holomorphic: bool = False,
    allow_int: bool = False,
    reduce_axes: Sequence[Any] = (),
) -> Callable:
    """The gradient of scalar-valued ``fun`` with respect to argument(s) ``argnums``.

    Args:
      fun: returns a real scalar (a complex one with ``holomorphic=True``).
      argnums: which positional argument(s) to differentiate: an int or a tuple.
      has_aux: ``fun`` returns ``(value, aux)``; ``grad`` then returns ``(g, aux)``.
      holomorphic: ``fun`` is holomorphic in complex inputs.
      allow_int: allow integer inputs (their gradient is a ``float0`` zero).

    Returns:
      A function returning gradients with the structure of the chosen arguments.

    Example:
      >>> import fxgrad, fxgrad.numpy as fnp
      >>> f = lambda x1, x2: fnp.log(x1) + x1 * x2 - fnp.sin(x2)
      >>> fxgrad.grad(f)(2.0, 5.0)
      Array(5.5, dtype=float64, weak_type=True)
    """
    vg = value_and_grad(fun, argnums, has_aux, holomorphic, allow_int)

    @functools.wraps(fun)
    def grad_f(*args: Any, **kwargs: Any):
        if has_aux:
            (_, aux), g = vg(*args, **kwargs)
            return g, aux
        _, g = vg(*args, **kwargs)
        return g

    return grad_f


def _check_grad_input(name: str, n: int, arg: Any, holomorphic: bool, allow_int: bool) -> None:
    for path, leaf in tree_flatten_with_path(arg)[0]:
        aval = get_aval(_as_value(leaf, f"argument {n} of grad({name})"))
        dt = np.dtype(aval.dtype)
        where = f"argument {n}{keystr(path)}"
        if dt.kind in "iub" and not allow_int:
            raise FxgradTypeError(
                f"grad({name}) requires real- or complex-valued inputs (input dtype that is a "
                f"sub-dtype of np.inexact), but {where} has dtype {dt.name}. Convert it to a "
                "float (e.g. x.astype(float) or 1.0 instead of 1), or pass allow_int=True to "
                "get a zero (float0) gradient for it."
            )
        if holomorphic and dt.kind != "c":
            raise FxgradTypeError(
                f"grad({name}, holomorphic=True) requires complex inputs, but {where} has "
                f"dtype {dt.name}"
            )


def _check_grad_output(name: str, out: Any, holomorphic: bool) -> None:
    leaves = tree_leaves(out)
    if len(leaves) != 1 or not core.is_array_like(leaves[0]):
        raise NonScalarOutputError(
            f"grad({name}) requires a function returning one scalar array, but it returned "
            f"{tree_structure(out)}. Use jacrev/jacfwd for non-scalar outputs, or "
            "has_aux=True to return extra values."
        )
    aval = get_aval(leaves[0])
    if aval.shape != ():
        raise NonScalarOutputError(
            f"grad({name}) requires a scalar output, but it returned an array of shape "
            f"{aval.shape}. Reduce it (e.g. .sum() or .mean()), or use jacrev/jacfwd/vjp for "
            "non-scalar outputs."
        )
    dt = np.dtype(aval.dtype)
    if holomorphic:
        if dt.kind != "c":
            raise FxgradTypeError(
                f"grad({name}, holomorphic=True) requires a complex output, got {dt.name}"
            )
    elif dt.kind != "f":
        what = "complex" if dt.kind == "c" else dt.name
        raise FxgradTypeError(
            f"grad({name}) requires a real-valued floating-point scalar output, got {what}. "
            "For complex outputs use holomorphic=True (for holomorphic functions) or "
            "differentiate the real part; for integer outputs there is no gradient."
        )


# ---------------------------------------------------------------------------------------
# jacobians
# ---------------------------------------------------------------------------------------


def _std_basis(flat_args: Sequence[Any]) -> tuple[list[Any], int]:
    """One-hot tangents for every element of the flat arguments, stacked on axis 0."""
    sizes = [int(np.prod(get_aval(a).shape, dtype=np.int64)) for a in flat_args]
    total = int(sum(sizes))
    basis = []
    offset = 0
    for a, size in zip(flat_args, sizes, strict=True):
        aval = get_aval(a)
        eye = np.eye(total, dtype=dtypes.to_inexact_dtype(aval.dtype))[:, offset : offset + size]
        basis.append(Array(eye.reshape((total, *aval.shape))))
        offset += size
    return basis, total


def jacfwd(
    fun: Callable,
    argnums: int | Sequence[int] = 0,
    has_aux: bool = False,
    holomorphic: bool = False,
) -> Callable:
    """Jacobian by forward mode: one JVP per input element, vectorised with ``vmap``.

    Each output leaf of shape ``out.shape`` gets a Jacobian of shape
    ``out.shape + in.shape`` per differentiated input leaf.
    """
    name = _fun_name(fun)

    @functools.wraps(fun)
    def jacfun(*args: Any, **kwargs: Any):
        nums = _check_argnums(f"jacfwd({name})", argnums, len(args))
        diff = tuple(args[n] for n in nums)
        for n in nums:
            _check_jac_input("jacfwd", name, n, args[n], holomorphic)

        def partial_fun(*diff_args):
            full = list(args)
            for n, a in zip(nums, diff_args, strict=True):
                full[n] = a
            return fun(*full, **kwargs)

        flat_in, in_tree = _flatten_args(diff, "jacfwd argument")
        basis, total = _std_basis(flat_in)

        def push(*flat_t):
            tangents = tree_unflatten(in_tree, flat_t)
            return jvp(partial_fun, diff, tangents, has_aux=has_aux)

        results = vmap(push, in_axes=0, out_axes=-1)(*basis) if total else None
        if results is None:
            raise ValueError(f"jacfwd({name}): the differentiated inputs have no elements")
        out, jac_flat = results[0], results[1]
        jac = tree_map(lambda j, o: _split_jac(j, o, flat_in, in_tree, argnums), jac_flat, out)
        out_primal = tree_map(lambda o: o[..., 0] if get_aval(o).ndim else o, out)
        if has_aux:
            aux = tree_map(lambda a: a[..., 0], results[2])
            return jac, aux
        del out_primal
        return jac

    return jacfun


def _split_jac(j: Any, out: Any, flat_in: Sequence[Any], in_tree: Any, argnums: Any) -> Any:
    """Split a stacked Jacobian ``(*out_shape, total)`` into one array per input leaf."""
    out_shape = get_aval(j).shape[:-1]
    pieces = []
    offset = 0
    for a in flat_in:
        aval = get_aval(a)
        size = int(np.prod(aval.shape, dtype=np.int64))
        piece = j[..., offset : offset + size]
        pieces.append(fnp.reshape(piece, (*out_shape, *aval.shape)))
        offset += size
    tree = tree_unflatten(in_tree, pieces)
    return tree[0] if isinstance(argnums, int) else tree


def jacrev(
    fun: Callable,
    argnums: int | Sequence[int] = 0,
    has_aux: bool = False,
    holomorphic: bool = False,
    allow_int: bool = False,
) -> Callable:
    """Jacobian by reverse mode: one VJP per output element, vectorised with ``vmap``."""
    name = _fun_name(fun)

    @functools.wraps(fun)
    def jacfun(*args: Any, **kwargs: Any):
        nums = _check_argnums(f"jacrev({name})", argnums, len(args))
        diff = tuple(args[n] for n in nums)
        for n in nums:
            _check_jac_input("jacrev", name, n, args[n], holomorphic)

        def partial_fun(*diff_args):
            full = list(args)
            for n, a in zip(nums, diff_args, strict=True):
                full[n] = a
            return fun(*full, **kwargs)

        if has_aux:
            out, f_vjp, aux = vjp(partial_fun, *diff, has_aux=True)
        else:
            out, f_vjp = vjp(partial_fun, *diff)
        flat_out, out_tree = tree_flatten(out)
        basis, total = _std_basis(flat_out)
        if total == 0:
            raise ValueError(f"jacrev({name}): the output has no elements")

        def pull(*flat_ct):
            return f_vjp(tree_unflatten(out_tree, flat_ct))

        cts = vmap(pull)(*basis)  # tuple over diff args, leaves (total, *in_shape)
        flat_cts, in_tree = tree_flatten(cts)
        per_out = []
        offset = 0
        for o in flat_out:
            shape = get_aval(o).shape
            size = int(np.prod(shape, dtype=np.int64))
            leaves = [
                fnp.reshape(c[offset : offset + size], (*shape, *get_aval(c).shape[1:]))
                for c in flat_cts
            ]
            tree = tree_unflatten(in_tree, leaves)
            per_out.append(tree[0] if isinstance(argnums, int) else tree)
            offset += size
        jac = tree_unflatten(out_tree, per_out)
        if has_aux:
            return jac, aux
        return jac

    return jacfun


jacobian = jacrev


def _check_jac_input(kind: str, name: str, n: int, arg: Any, holomorphic: bool) -> None:
    for path, leaf in tree_flatten_with_path(arg)[0]:
        dt = np.dtype(get_aval(_as_value(leaf, f"argument {n}")).dtype)
        if dt.kind not in "fc":
            raise FxgradTypeError(
                f"{kind}({name}) requires real- or complex-valued inputs, but argument "
                f"{n}{keystr(path)} has dtype {dt.name}. Convert it to a float."
            )


def hessian(
    fun: Callable,
    argnums: int | Sequence[int] = 0,
    has_aux: bool = False,
    holomorphic: bool = False,
) -> Callable:
    """The Hessian, ``jacfwd(jacrev(fun))``: shape ``out.shape + in.shape + in.shape``."""
    return jacfwd(jacrev(fun, argnums, has_aux, holomorphic), argnums, has_aux, holomorphic)


# ---------------------------------------------------------------------------------------
# linear_transpose
# ---------------------------------------------------------------------------------------


def linear_transpose(fun: Callable, *primals: Any, reduce_axes: Sequence[Any] = ()):
    """The transpose of linear ``fun``, whose inputs have the shapes of ``primals``.

    Returns ``f_t`` with ``f_t(ct) = (ct_arg0, ...)``: the cotangents of the inputs.
    """
    flat_primals, in_tree = _flatten_args((primals, {}), "linear_transpose primal")
    in_avals = [get_aval(p).strip_weak_type() for p in flat_primals]
    store = _OutStore()
    flat = _flat_fun(fun, in_tree, store)
    pvals = [PartialVal.unknown(a) for a in in_avals]
    jaxpr, pvals_out, consts = partial_eval_flat(
        flat, pvals, instantiate=lambda n: [True] * n, name="linear_transpose"
    )
    out_tree = store.treedef
    out_avals = [p.aval for p in pvals_out]

    def f_t(*cts: Any) -> tuple[Any, ...]:
        ct = cts[0] if len(cts) == 1 else cts
        flat_cts, ct_tree = tree_flatten(ct)
        if ct_tree != out_tree:
            raise TypeError(
                f"linear_transpose: cotangent structure {ct_tree} does not match the output "
                f"structure {out_tree}"
            )
        flat_cts = [
            _check_cotangent(i, c, a)
            for i, (c, a) in enumerate(zip(flat_cts, out_avals, strict=True))
        ]
        args = [*consts, *(UndefPrimal(a) for a in in_avals)]
        outs = backward_pass(jaxpr, args, flat_cts)
        outs = [_cotangent_out(c, a) for c, a in zip(outs, in_avals, strict=True)]
        return tuple(tree_unflatten(in_tree, outs)[0])

    return f_t


# ---------------------------------------------------------------------------------------
# vmap
# ---------------------------------------------------------------------------------------


def _broadcast_prefix(prefix: Any, full: Any, what: str, fun_name: str) -> list[Any]:
    """One entry of the prefix tree ``prefix`` per leaf of ``full``."""
    prefix_leaves, prefix_def = tree_flatten(prefix, is_leaf=lambda x: x is None)
    try:
        subtrees = prefix_def.flatten_up_to(full)
    except ValueError as e:
        raise BatchingError(
            f"vmap({fun_name}): {what} must be an int, None, or a tree prefix of the "
            f"arguments (same structure, with an int or None where a whole subtree shares a "
            f"batch axis); got {what}={prefix!r} for arguments of structure "
            f"{tree_structure(full)}. Detail: {e}"
        ) from None
    out = []
    for axis, sub in zip(prefix_leaves, subtrees, strict=True):
        out.extend([axis] * len(tree_leaves(sub)))
    return out


def vmap(
    fun: Callable,
    in_axes: Any = 0,
    out_axes: Any = 0,
    axis_name: Hashable | None = None,
    axis_size: int | None = None,
    spmd_axis_name: Any = None,
) -> Callable:
    """Vectorise ``fun`` over a batch axis of its inputs.

    Args:
      fun: the function to vectorise.
      in_axes: an int, None, or a tree prefix of the positional arguments (a tuple with
        one entry per argument) giving each input's batch axis (None: not batched).
      out_axes: where the batch axis goes in the outputs (a tree prefix of the output).
      axis_size: the batch size, required when no input is batched.

    Example:
      >>> import fxgrad, fxgrad.numpy as fnp
      >>> fxgrad.vmap(lambda x: x @ x)(fnp.ones((3, 2)))
      Array([2., 2., 2.], dtype=float64)
    """
    name = _fun_name(fun)
    if isinstance(in_axes, list):
        in_axes = tuple(in_axes)
    _validate_axes_spec(in_axes, "in_axes", name)

    @functools.wraps(fun)
    def vmapped(*args: Any, **kwargs: Any):
        if isinstance(in_axes, tuple) and len(in_axes) != len(args):
            raise BatchingError(
                f"vmap({name}): in_axes has {len(in_axes)} entries but the function was called "
                f"with {len(args)} positional argument(s). Give one in_axes entry per "
                "positional argument (keyword arguments are always batched along axis 0)."
            )
        flat_args, in_tree = _flatten_args((args, kwargs), f"argument of vmap({name})")
        axes = _broadcast_prefix((in_axes, 0), (args, kwargs), "in_axes", name)
        dims, size = _resolve_in_axes(name, flat_args, axes, axis_size, args, in_axes)
        store = _OutStore()
        flat = _flat_fun(fun, in_tree, store)
        outs, out_dims = batching.vmap_flat(flat, size, dims, flat_args, name=f"vmap({name})")
        out_tree = store.treedef
        out_tree_obj = tree_unflatten(out_tree, [0] * out_tree.num_leaves)
        out_spec = _broadcast_prefix(out_axes, out_tree_obj, "out_axes", name)
        moved = [
            _move_out(name, o, d, s, size) for o, d, s in zip(outs, out_dims, out_spec, strict=True)
        ]
        return tree_unflatten(out_tree, moved)

    return vmapped


def _validate_axes_spec(spec: Any, what: str, name: str) -> None:
    for leaf in tree_leaves(spec):
        if not isinstance(leaf, (int, np.integer)):
            raise BatchingError(
                f"vmap({name}): {what} must contain only ints and None, got {leaf!r} "
                f"({type(leaf).__name__})"
            )


def _resolve_in_axes(name, flat_args, axes, axis_size, args, in_axes):
    dims = []
    sizes = []
    for i, (x, ax) in enumerate(zip(flat_args, axes, strict=True)):
        if ax is None:
            dims.append(batching.not_mapped)
            continue
        ndim = get_aval(x).ndim
        if not -ndim <= ax < ndim:
            raise BatchingError(
                f"vmap({name}) was requested to map its argument along axis {ax}, which "
                f"implies that its rank should be at least {max(ax + 1, -ax)}, but is only "
                f"{ndim} (its shape is {get_aval(x).shape}); flat input leaf {i}."
            )
        ax = ax % ndim
        dims.append(ax)
        sizes.append((i, get_aval(x).shape[ax]))
    distinct = {s for _, s in sizes}
    if axis_size is not None:
        distinct.add(int(axis_size))
    if len(distinct) > 1:
        detail = ", ".join(f"leaf {i}: size {s}" for i, s in sizes)
        if axis_size is not None:
            detail += f", axis_size={axis_size}"
        raise BatchingError(
            f"vmap({name}) got inconsistent sizes for the mapped axis: {detail}. All mapped "
            "inputs must have the same size along their in_axes."
        )
    if not distinct:
        raise BatchingError(
            f"vmap({name}) must have at least one non-None value in in_axes, or be given "
            "axis_size= to say how many times to run the function."
        )
    return dims, distinct.pop()


def _move_out(name: str, x: Any, bdim: Any, out_axis: Any, size: int) -> Any:
    if out_axis is None:
        if bdim is not batching.not_mapped:
            raise BatchingError(
                f"vmap({name}) has out_axes=None for an output that depends on the batched "
                "inputs; only unbatched outputs can have out_axes=None."
            )
        return x
    ndim = get_aval(x).ndim + (bdim is batching.not_mapped)
    dst = out_axis % ndim if ndim else 0
    return batching.move_bdim(x, bdim, dst, size)


# ---------------------------------------------------------------------------------------
# jit, make_jaxpr, eval_shape
# ---------------------------------------------------------------------------------------


class ShapeDtypeStruct:
    """A shape and dtype standing for an array (input to ``eval_shape`` and ``jit``)."""

    __slots__ = ("shape", "dtype", "weak_type")

    def __init__(self, shape: Sequence[int], dtype: Any, weak_type: bool = False):
        self.shape = tuple(int(s) for s in shape)
        self.dtype = np.dtype(dtype)
        self.weak_type = weak_type

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    def __repr__(self) -> str:
        return f"ShapeDtypeStruct(shape={self.shape}, dtype={self.dtype.name})"

    def __eq__(self, other: Any) -> bool:
        return (
            isinstance(other, ShapeDtypeStruct)
            and self.shape == other.shape
            and self.dtype == other.dtype
        )

    def __hash__(self) -> int:
        return hash((self.shape, self.dtype))


core.register_aval_handler(ShapeDtypeStruct, lambda x: ShapedArray(x.shape, x.dtype, x.weak_type))


def _arg_names(fun: Callable, args: tuple, kwargs: dict) -> list[str]:
    """Readable names (``x['w']``) of the flat leaves of ``(args, kwargs)``."""
    try:
        params = list(inspect.signature(fun).parameters)
    except (TypeError, ValueError):
        params = []
    names = []
    for path, _ in tree_flatten_with_path((args, kwargs))[0]:
        first, rest = path[0], path[1:]
        if getattr(first, "idx", None) == 0 and rest:
            pos = rest[0].idx
            base = params[pos] if pos < len(params) else f"args[{pos}]"
            names.append(f"argument '{base}{keystr(rest[1:])}'")
        else:
            names.append(f"argument '{keystr(rest)}'")
    return names


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
        static_pos = tuple(n % nargs for n in self.argnums if -nargs <= n < nargs)
        dyn_args = tuple(a for i, a in enumerate(args) if i not in static_pos)
        static_vals = []
        for i in static_pos:
            static_vals.append((i, _check_hashable(fun_name, f"argument {i}", args[i])))
        dyn_kwargs = {}
        for k, v in kwargs.items():
            if k in self.argnames:
                static_vals.append((k, _check_hashable(fun_name, f"argument '{k}'", v)))
            else:
                dyn_kwargs[k] = v
        return dyn_args, dyn_kwargs, tuple(static_vals), static_pos


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
        flat_fun = _flat_fun(full_fun, in_tree, store)
        in_avals = [get_aval(x) for x in flat]
        dyn_args, dyn_kwargs = tree_unflatten(in_tree, flat)
        names = _arg_names(self._fun, dyn_args, dyn_kwargs)
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
        return tree_unflatten(entry.out_tree, outs)

    def _cache_size(self) -> int:
        """How many input signatures have been traced and cached."""
        return len(self._cache)

    def lower(self, *args: Any, **kwargs: Any) -> ClosedJaxpr:
        """The staged jaxpr for these arguments (``make_jaxpr``'s output)."""
        return make_jaxpr(self._fun, static_argnums=self._static.argnums)(*args, **kwargs)


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
        flat_fun = _flat_fun(full_fun, in_tree, store)
        avals = [get_aval(x) for x in flat]
        closed = trace_to_jaxpr(
            flat_fun,
            avals,
            name=f"make_jaxpr({name})",
            arg_names=_arg_names(fun, dyn_args, dyn_kwargs),
        )
        if return_shape:
            shapes = [ShapeDtypeStruct(a.shape, a.dtype, a.weak_type) for a in closed.out_avals]
            return closed, tree_unflatten(store.treedef, shapes)
        return closed

    return make


def eval_shape(fun: Callable, *args: Any, **kwargs: Any) -> Any:
    """The shapes and dtypes of ``fun``'s outputs (as ``ShapeDtypeStruct``), without FLOPs."""
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
