"""The user-facing transformations, with JAX's signatures.

Each transformation flattens its pytree arguments to a list of arrays, runs the flat
interpreter entry point (``jvp_flat``, ``vjp_flat``, ``vmap_flat``, ``trace_to_jaxpr``)
and unflattens the results. Argument checking happens here, at the boundary, so the
error names the transformation, the argument (by position and pytree path) and the fix.
``vmap`` lives in ``fxgrad._vmap`` and ``jit`` in ``fxgrad.staging``; both are
re-exported here.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from fxgrad import core, dtypes, lax
from fxgrad import numpy as fnp
from fxgrad._api_util import (
    _as_value,
    _check_argnums,
    _flat_fun,
    _flatten_args,
    _fun_name,
    _OutStore,
    _partial,
)
from fxgrad._devices import (
    block_until_ready,
    default_backend,
    device_count,
    device_get,
    device_put,
    devices,
    local_device_count,
    local_devices,
)
from fxgrad._vmap import vmap
from fxgrad.array import Array
from fxgrad.core import ShapedArray, get_aval
from fxgrad.errors import (
    FxgradTypeError,
    MissingRuleError,
    NonScalarOutputError,
)
from fxgrad.interpreters import batching
from fxgrad.interpreters.jvp import Zero, instantiate_zeros, jvp_flat
from fxgrad.interpreters.partial_eval import (
    PartialVal,
    linearize_flat,
    partial_eval_flat,
)
from fxgrad.interpreters.transpose import UndefPrimal, backward_pass, vjp_flat
from fxgrad.jaxpr import eval_jaxpr
from fxgrad.staging import (
    ShapeDtypeStruct,
    disable_jit,
    eval_shape,
    jit,
    make_jaxpr,
)
from fxgrad.tree_util import (
    keystr,
    tree_flatten,
    tree_flatten_with_path,
    tree_leaves,
    tree_structure,
    tree_unflatten,
)

__all__ = [
    "ShapeDtypeStruct",
    "block_until_ready",
    "default_backend",
    "device_count",
    "device_get",
    "device_put",
    "devices",
    "local_device_count",
    "local_devices",
    "eval_shape",
    "grad",
    "hessian",
    "jacfwd",
    "jacobian",
    "jacrev",
    "disable_jit",
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
# jvp, linearize
# ---------------------------------------------------------------------------------------


def jvp(fun: Callable, primals: Sequence[Any], tangents: Sequence[Any], has_aux: bool = False):
    """Forward-mode derivative: ``(fun(*primals), J(primals) @ tangents)``.

    Args:
      fun: a function of arrays (pytrees).
      primals: tuple or list of the arguments.
      tangents: same structure, shapes and (tangent) dtypes as ``primals``. Python
        scalars adopt the primal's dtype; integer primals take ``float0`` (or any)
        tangents, which are ignored.
      has_aux: ``fun`` returns ``(out, aux)``; then ``(out, out_tangent, aux)`` is returned.

    Returns:
      ``(primals_out, tangents_out)`` with the output's structure, shapes and dtypes.

    Raises:
      TypeError: primals and tangents differ in structure or dtype.
      ValueError: primals and tangents differ in shape.

    Example:
      >>> import fxgrad, fxgrad.numpy as fnp
      >>> fxgrad.jvp(fnp.sin, (0.0,), (2.0,))
      (Array(0., dtype=float64, weak_type=True), Array(2., dtype=float64, weak_type=True))
    """
    name = _fun_name(fun)
    if not isinstance(primals, (tuple, list)) or not isinstance(tangents, (tuple, list)):
        raise TypeError(
            f"jvp({name}): primals and tangents must be tuples or lists of arguments, got "
            f"{type(primals).__name__} and {type(tangents).__name__}; write "
            "jvp(f, (x,), (t,)) for a single argument."
        )
    if len(primals) != len(tangents):
        raise TypeError(
            f"jvp({name}): got {len(primals)} primal(s) but {len(tangents)} tangent(s); pass "
            "one tangent per primal argument."
        )
    flat_primals, in_tree = _flatten_args((tuple(primals), {}), f"jvp({name}) primal")
    flat_tangents, tan_tree = _flatten_args((tuple(tangents), {}), f"jvp({name}) tangent")
    if in_tree != tan_tree:
        raise TypeError(
            f"jvp({name}): primal and tangent arguments must have the same tree structure; "
            f"got {in_tree} and {tan_tree}"
        )
    tangents_in = [
        _check_tangent(name, i, p, t)
        for i, (p, t) in enumerate(zip(flat_primals, flat_tangents, strict=True))
    ]
    store = _OutStore()
    flat = _flat_fun(fun, in_tree, store, has_aux)
    primals_out, tangents_out = jvp_flat(flat, flat_primals, tangents_in, name=f"jvp({name})")
    n = store.num_out
    out = tree_unflatten(store.treedef, primals_out[:n])
    out_t = tree_unflatten(store.treedef, [_instantiate_output(t) for t in tangents_out[:n]])
    if has_aux:
        return out, out_t, store.aux(primals_out[n:])
    return out, out_t


def _check_tangent(name: str, i: int, primal: Any, tangent: Any) -> Any:
    """The tangent for flat primal leaf ``i``: checked, weak scalars cast, ints ``Zero``."""
    p_aval, t_aval = get_aval(primal), get_aval(tangent)
    expected = dtypes.tangent_dtype(p_aval.dtype)
    if expected == dtypes.float0:
        return Zero(core.tangent_aval(p_aval))
    if tuple(p_aval.shape) != tuple(t_aval.shape):
        raise ValueError(
            f"jvp({name}): primal and tangent arguments must have equal shapes; leaf {i} has "
            f"primal shape {p_aval.shape} and tangent shape {t_aval.shape}"
        )
    if np.dtype(t_aval.dtype) != expected:
        if not t_aval.weak_type:
            raise TypeError(
                f"jvp({name}): primal and tangent dtypes must match; leaf {i} has primal "
                f"dtype {p_aval.dtype} so its tangent must be {expected}, got {t_aval.dtype}. "
                f"Cast the tangent with .astype({expected.name!r})."
            )
        tangent = lax.convert_element_type(tangent, expected)
    return tangent


def _instantiate_output(t: Any) -> Any:
    """An output tangent as a value: symbolic zeros become arrays (float0 for ints)."""
    if type(t) is Zero:
        if t.aval.dtype == dtypes.float0:
            return np.zeros(t.aval.shape, dtypes.float0)
        t_val = instantiate_zeros(t)
        if isinstance(t_val, (np.ndarray, np.generic)):
            return Array(np.asarray(t_val), weak_type=t.aval.weak_type)
        return t_val
    return t


def linearize(fun: Callable, *primals: Any):
    """``(fun(*primals), f_jvp)`` where ``f_jvp(*tangents)`` evaluates the JVP linearly.

    The primal computation runs once; ``f_jvp`` replays only the linear tangent jaxpr,
    so ``f_jvp(t)`` equals ``jvp(fun, primals, (t,))[1]`` at a lower cost.

    Example:
      >>> import fxgrad, fxgrad.numpy as fnp
      >>> y, f_jvp = fxgrad.linearize(fnp.sin, 0.0)
      >>> f_jvp(3.0)
      Array(3., dtype=float64, weak_type=True)
    """
    name = _fun_name(fun)
    flat_primals, in_tree = _flatten_args((primals, {}), f"linearize({name}) primal")
    store = _OutStore()
    flat = _flat_fun(fun, in_tree, store)
    primals_out, jaxpr, consts = linearize_flat(flat, flat_primals, name=f"linearize({name})")
    out_tree = store.treedef

    def f_jvp(*tangents: Any) -> Any:
        flat_tangents, tan_tree = _flatten_args((tangents, {}), f"linearize({name}) tangent")
        if tan_tree != in_tree:
            raise TypeError(
                f"linearize({name}): the tangents must have the structure of the primals; "
                f"expected {in_tree}, got {tan_tree}"
            )
        checked = [
            _check_tangent(name, i, p, t)
            for i, (p, t) in enumerate(zip(flat_primals, flat_tangents, strict=True))
        ]
        checked = [instantiate_zeros(t) for t in checked]
        outs = eval_jaxpr(jaxpr, consts, *checked)
        return tree_unflatten(out_tree, outs)

    return tree_unflatten(out_tree, primals_out), f_jvp


# ---------------------------------------------------------------------------------------
# vjp, grad
# ---------------------------------------------------------------------------------------


def vjp(fun: Callable, *primals: Any, has_aux: bool = False):
    """Reverse-mode derivative: ``(fun(*primals), f_vjp)``, ``f_vjp(ct) = ct @ J``.

    ``f_vjp`` takes a cotangent with the structure, shapes and dtypes of the output and
    returns a tuple with one cotangent per primal argument. Implemented as linearize +
    transpose. With ``has_aux``, ``fun`` returns ``(out, aux)`` and ``vjp`` returns
    ``(out, f_vjp, aux)``.

    Example:
      >>> import fxgrad, fxgrad.numpy as fnp
      >>> y, f_vjp = fxgrad.vjp(lambda x: x * 3.0, 2.0)
      >>> f_vjp(1.0)
      (Array(3., dtype=float64, weak_type=True),)
    """
    name = _fun_name(fun)
    flat_primals, in_tree = _flatten_args((primals, {}), f"vjp({name}) primal")
    store, primals_out, pull = _vjp_leaves(name, fun, flat_primals, in_tree, has_aux)
    n = store.num_out
    out_tree = store.treedef
    out_avals = [get_aval(x) for x in primals_out[:n]]

    def f_vjp(*cts: Any) -> tuple[Any, ...]:
        if len(cts) != 1:
            raise TypeError(
                f"the vjp function of {name} takes one cotangent argument (with the structure "
                f"of the output), got {len(cts)}"
            )
        flat_cts, ct_tree = tree_flatten(cts[0])
        if ct_tree != out_tree:
            raise TypeError(
                f"vjp({name}): the cotangent must have the structure of the primal output; "
                f"expected {out_tree}, got {ct_tree}"
            )
        flat_cts = [
            _check_cotangent(f"vjp({name})", i, c, a)
            for i, (c, a) in enumerate(zip(flat_cts, out_avals, strict=True))
        ]
        args_ct, _ = tree_unflatten(in_tree, pull(flat_cts))
        return tuple(args_ct)

    out = tree_unflatten(out_tree, primals_out[:n])
    if has_aux:
        return out, f_vjp, store.aux(primals_out[n:])
    return out, f_vjp


def _vjp_leaves(
    name: str, fun: Callable, flat_primals: list[Any], in_tree: Any, has_aux: bool
) -> tuple[_OutStore, list[Any], Callable[[list[Any]], list[Any]]]:
    """``vjp`` at flat primal leaves: ``(store, primals_out, pull)``.

    ``pull(cts)`` maps checked cotangents of the main outputs (``store.num_out`` of
    them) to one cotangent per primal leaf, shaped and typed like that leaf.
    """
    store = _OutStore()
    flat = _flat_fun(fun, in_tree, store, has_aux)
    primals_out, flat_vjp = vjp_flat(flat, flat_primals, name=f"vjp({name})")
    aux_cts = [Zero(core.tangent_aval(get_aval(x))) for x in primals_out[store.num_out :]]
    in_avals = [get_aval(x) for x in flat_primals]

    def pull(cts: list[Any]) -> list[Any]:
        cts_in = flat_vjp([*cts, *aux_cts])
        return [_cotangent_out(c, a) for c, a in zip(cts_in, in_avals, strict=True)]

    return store, primals_out, pull


def _check_cotangent(where: str, i: int, ct: Any, aval: ShapedArray) -> Any:
    if dtypes.tangent_dtype(aval.dtype) == dtypes.float0:
        return Zero(core.tangent_aval(aval))
    ct = _as_value(ct, f"{where} cotangent")
    ct_aval = get_aval(ct)
    if tuple(ct_aval.shape) != tuple(aval.shape):
        raise ValueError(
            f"{where}: cotangent leaf {i} has shape {ct_aval.shape}, but the primal output "
            f"has shape {aval.shape}; pass a cotangent shaped like the output."
        )
    expected = dtypes.tangent_dtype(aval.dtype)
    if np.dtype(ct_aval.dtype) != expected:
        ct = lax.convert_element_type(ct, expected)
    return ct


def _cotangent_out(ct: Any, aval: ShapedArray) -> Any:
    """The cotangent returned for an input of type ``aval`` (weak if the input was weak)."""
    if type(ct) is Zero:
        if dtypes.tangent_dtype(aval.dtype) == dtypes.float0:
            return np.zeros(aval.shape, dtypes.float0)
        ct = fnp.zeros(aval.shape, aval.dtype)
    if aval.weak_type and not get_aval(ct).weak_type:
        if isinstance(ct, Array):
            return Array(np.asarray(ct), weak_type=True)
        ct = lax.convert_element_type_p.bind(ct, new_dtype=get_aval(ct).dtype, weak_type=True)
    return ct


#: ``1.0`` of each floating dtype: the cotangent seeding ``grad`` (Arrays are immutable,
#: so one per dtype is shared).
_ONES: dict[np.dtype, Array] = {}


def _one(dtype: np.dtype) -> Array:
    one = _ONES.get(dtype)
    if one is None:
        one = _ONES[dtype] = Array(np.ones((), dtype))
    return one


def value_and_grad(
    fun: Callable,
    argnums: int | Sequence[int] = 0,
    has_aux: bool = False,
    holomorphic: bool = False,
    allow_int: bool = False,
    reduce_axes: Sequence[Any] = (),
) -> Callable:
    """Like ``grad`` but the function returns ``(value, gradient)``.

    With ``has_aux=True`` it returns ``((value, aux), gradient)``.

    Example:
      >>> import fxgrad, fxgrad.numpy as fnp
      >>> fxgrad.value_and_grad(lambda x: x ** 2)(3.0)
      (Array(9., dtype=float64, weak_type=True), Array(6., dtype=float64, weak_type=True))
    """
    name = _fun_name(fun)

    @functools.wraps(fun)
    def value_and_grad_f(*args: Any, **kwargs: Any):
        nums = _check_argnums(f"grad({name})", argnums, len(args))
        diff_args = tuple(args[n] for n in nums)
        flat_primals, in_tree = _grad_inputs(name, nums, diff_args, holomorphic, allow_int)
        partial_fun = _partial(fun, args, kwargs, nums)
        store, primals_out, pull = _vjp_leaves(name, partial_fun, flat_primals, in_tree, has_aux)
        out = tree_unflatten(store.treedef, primals_out[: store.num_out])
        _check_grad_output(name, out, holomorphic)
        (args_ct, _) = tree_unflatten(in_tree, pull([_one(get_aval(out).dtype)]))
        g = args_ct[0] if isinstance(argnums, int) else tuple(args_ct)
        if has_aux:
            return (out, store.aux(primals_out[store.num_out :])), g
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


def _grad_inputs(
    name: str,
    nums: tuple[int, ...],
    diff_args: tuple[Any, ...],
    holomorphic: bool,
    allow_int: bool,
) -> tuple[list[Any], Any]:
    """The differentiated arguments as flat array leaves and their tree, checked: every
    leaf is inexact (complex with ``holomorphic``)."""
    leaves, in_tree = tree_flatten((diff_args, {}))
    try:
        flat_primals = [_as_value(x, "") for x in leaves]
    except FxgradTypeError:
        flat_primals = []
    if len(flat_primals) == len(leaves):
        for leaf in flat_primals:
            kind = get_aval(leaf).dtype.kind
            if (kind in "iub" and not allow_int) or (holomorphic and kind != "c"):
                break
        else:
            return flat_primals, in_tree
    # Name the offending leaf by argument and pytree path (only on the error path).
    for n, arg in zip(nums, diff_args, strict=True):
        _check_grad_input(name, n, arg, holomorphic, allow_int)
    raise AssertionError("an invalid gradient input was not reported")


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
    if type(out) is Array and not holomorphic:
        value = out._value
        if value.shape == () and value.dtype.kind == "f":
            return  # the common case, without flattening
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


def _std_basis(aval: ShapedArray, dtype: Any) -> Array:
    """One-hot tangents for every element of a value of type ``aval``, stacked on axis 0."""
    size = aval.size
    eye = np.eye(size, dtype=dtype)
    return Array(eye.reshape((size, *aval.shape)))


def _map_basis(
    fun: Callable, basis: Array, num_mapped: Callable[[], int], kind: str
) -> tuple[list[Any], list[Any]]:
    """``vmap(fun)(basis)``: the first ``num_mapped()`` outputs (known once ``fun`` has
    been traced) with the batch axis last, the rest (auxiliary values, which do not
    depend on the basis) as they are."""
    size = basis.shape[0]
    outs, dims = batching.vmap_flat(fun, size, [0], [basis], name=kind)
    num_mapped = num_mapped()
    mapped = []
    for o, d in zip(outs[:num_mapped], dims[:num_mapped], strict=True):
        if d is batching.not_mapped:
            mapped.append(batching.move_bdim(o, d, get_aval(o).ndim, size))
        else:
            mapped.append(batching.moveaxis(o, d, get_aval(o).ndim - 1))
    unmapped = all(d is batching.not_mapped for d in dims[num_mapped:])
    assert unmapped, "an auxiliary output depends on the Jacobian basis"
    return mapped, outs[num_mapped:]


def _jac_tangent(t: Any) -> Any:
    """An output tangent inside jacfwd; integer outputs get a placeholder (see _jac_block)."""
    if type(t) is Zero and t.aval.dtype == dtypes.float0:
        return Array(np.zeros(t.aval.shape, bool))
    return instantiate_zeros(t)


def _jac_block(col: Any, shape: tuple[int, ...]) -> Any:
    """A Jacobian column reshaped to ``out.shape + in.shape`` (float0 for integer outputs)."""
    if np.dtype(get_aval(col).dtype) == np.dtype(bool):
        return np.zeros(shape, dtypes.float0)
    return fnp.reshape(col, shape)


def _jac_inputs(kind: str, name: str, argnums: Any, args: tuple, holomorphic: bool):
    nums = _check_argnums(f"{kind}({name})", argnums, len(args))
    for n in nums:
        _check_jac_input(kind, name, n, args[n], holomorphic)
    diff = tuple(args[n] for n in nums)
    flat_in, in_tree = _flatten_args((diff, {}), f"argument of {kind}({name})")
    return nums, flat_in, in_tree


def _assemble_jac(out_tree: Any, in_tree: Any, blocks: list[list[Any]], argnums: Any) -> Any:
    """``blocks[j][i]`` (output leaf j, input leaf i) as JAX's nested Jacobian pytree."""
    per_out = []
    for row in blocks:
        args_tree, _ = tree_unflatten(in_tree, row)
        per_out.append(args_tree[0] if isinstance(argnums, int) else tuple(args_tree))
    return tree_unflatten(out_tree, per_out)


def _jacobian(
    kind: str, fun: Callable, argnums: Any, has_aux: bool, holomorphic: bool, blocks_fn: Callable
) -> Callable:
    """The Jacobian function shared by ``jacfwd`` and ``jacrev``.

    ``blocks_fn(name, flat, flat_in, store, holomorphic)`` computes the Jacobian blocks
    (``blocks[j][i]`` for output leaf j and input leaf i) of the flattened function
    ``flat`` at the flat inputs, and the auxiliary values; this wrapper checks the
    arguments and assembles JAX's nested result.
    """
    name = _fun_name(fun)

    @functools.wraps(fun)
    def jacfun(*args: Any, **kwargs: Any):
        nums, flat_in, in_tree = _jac_inputs(kind, name, argnums, args, holomorphic)
        store = _OutStore()
        flat = _flat_fun(_partial(fun, args, kwargs, nums), in_tree, store, has_aux)
        blocks, aux_vals = blocks_fn(name, flat, flat_in, store, holomorphic)
        jac = _assemble_jac(store.treedef, in_tree, blocks, argnums)
        if has_aux:
            return jac, store.aux(aux_vals)
        return jac

    return jacfun


def jacfwd(
    fun: Callable,
    argnums: int | Sequence[int] = 0,
    has_aux: bool = False,
    holomorphic: bool = False,
) -> Callable:
    """Jacobian by forward mode: one JVP per input element, vectorised with ``vmap``.

    Each output leaf of shape ``out.shape`` gets a Jacobian of shape
    ``out.shape + in.shape`` per differentiated input leaf; the result nests the input
    structure (a tuple when ``argnums`` is a tuple) inside the output structure, as in
    JAX. With ``has_aux`` it returns ``(jacobian, aux)``.

    Example:
      >>> import fxgrad, fxgrad.numpy as fnp
      >>> fxgrad.jacfwd(lambda x: x ** 2)(fnp.array([1.0, 2.0]))
      Array([[2., 0.],
             [0., 4.]], dtype=float64)
    """
    return _jacobian("jacfwd", fun, argnums, has_aux, holomorphic, _jacfwd_blocks)


def _jacfwd_blocks(
    name: str, flat: Callable, flat_in: list[Any], store: _OutStore, holomorphic: bool
) -> tuple[list[list[Any]], list[Any]]:
    """Jacobian blocks by pushing the standard basis of each input forward (``vmap``)."""
    zeros = [Zero(core.tangent_aval(get_aval(x))) for x in flat_in]
    columns = []
    aux_vals: list[Any] = []
    for i, x in enumerate(flat_in):

        def push(t: Any, i: int = i) -> list[Any]:
            tangents = list(zeros)
            tangents[i] = t
            primals_out, tangents_out = jvp_flat(flat, flat_in, tangents, name="jacfwd")
            n = store.num_out
            _check_jac_output("jacfwd", name, primals_out[:n], holomorphic)
            return [_jac_tangent(t) for t in tangents_out[:n]] + primals_out[n:]

        aval = get_aval(x)
        basis = _std_basis(aval, dtypes.tangent_dtype(aval.dtype))
        cols, aux_vals = _map_basis(push, basis, lambda: store.num_out, "jacfwd")
        columns.append([_jac_block(c, (*get_aval(c).shape[:-1], *aval.shape)) for c in cols])
    if not flat_in:
        aux_vals = flat()[store.num_out :]
    blocks = [[col[j] for col in columns] for j in range(store.num_out)]
    return blocks, aux_vals


def jacrev(
    fun: Callable,
    argnums: int | Sequence[int] = 0,
    has_aux: bool = False,
    holomorphic: bool = False,
    allow_int: bool = False,
) -> Callable:
    """Jacobian by reverse mode: one VJP per output element, vectorised with ``vmap``.

    Same result structure and shapes as ``jacfwd``; cheaper when outputs are fewer
    than inputs. With ``has_aux`` it returns ``(jacobian, aux)``.

    Example:
      >>> import fxgrad, fxgrad.numpy as fnp
      >>> fxgrad.jacrev(lambda x: x ** 2)(fnp.array([1.0, 2.0]))
      Array([[2., 0.],
             [0., 4.]], dtype=float64)
    """
    return _jacobian("jacrev", fun, argnums, has_aux, holomorphic, _jacrev_blocks)


def _jacrev_blocks(
    name: str, flat: Callable, flat_in: list[Any], store: _OutStore, holomorphic: bool
) -> tuple[list[list[Any]], list[Any]]:
    """Jacobian blocks by pulling the standard basis of each output back (``vmap``)."""
    primals_out, f_vjp = vjp_flat(flat, flat_in, name="jacrev")
    n = store.num_out
    _check_jac_output("jacrev", name, primals_out[:n], holomorphic)
    zero_cts = [Zero(core.tangent_aval(get_aval(o))) for o in primals_out]
    in_avals = [get_aval(x) for x in flat_in]
    blocks = []
    for j, o in enumerate(primals_out[:n]):

        def pull(ct: Any, j: int = j) -> list[Any]:
            cts = list(zero_cts)
            cts[j] = ct
            cts_in = f_vjp(cts)
            return [_cotangent_out(c, a) for c, a in zip(cts_in, in_avals, strict=True)]

        out_aval = get_aval(o)
        basis = _std_basis(out_aval, dtypes.tangent_dtype(out_aval.dtype))
        rows, _ = _map_basis(pull, basis, lambda: len(flat_in), "jacrev")
        # Each row has the input's shape followed by the basis axis (output elements).
        blocks.append(
            [
                fnp.reshape(fnp.moveaxis(r, -1, 0), (*out_aval.shape, *get_aval(r).shape[:-1]))
                for r in rows
            ]
        )
    return blocks, primals_out[n:]


jacobian = jacrev


def _check_jac_input(kind: str, name: str, n: int, arg: Any, holomorphic: bool) -> None:
    for path, leaf in tree_flatten_with_path(arg)[0]:
        dt = np.dtype(get_aval(_as_value(leaf, f"argument {n} of {kind}({name})")).dtype)
        where = f"argument {n}{keystr(path)}"
        if holomorphic and dt.kind != "c":
            raise FxgradTypeError(
                f"{kind}({name}, holomorphic=True) requires complex inputs, but {where} has "
                f"dtype {dt.name}. Convert it with x.astype(complex), or drop holomorphic=True."
            )
        if kind == "jacfwd" and not holomorphic and dt.kind != "f":
            raise FxgradTypeError(
                f"jacfwd({name}) requires real-valued floating-point inputs, but {where} has "
                f"dtype {dt.name}. Convert integers with x.astype(float); for complex inputs "
                "pass holomorphic=True (holomorphic functions) or use jvp directly."
            )
        if dt.kind not in "fc":
            raise FxgradTypeError(
                f"{kind}({name}) requires real- or complex-valued inputs, but {where} has "
                f"dtype {dt.name}. Convert it to a float, e.g. x.astype(float)."
            )


def _check_jac_output(kind: str, name: str, outs: Sequence[Any], holomorphic: bool) -> None:
    for i, o in enumerate(outs):
        dt = np.dtype(get_aval(o).dtype)
        if holomorphic and dt.kind != "c":
            raise FxgradTypeError(
                f"{kind}({name}, holomorphic=True) requires complex outputs, but output leaf "
                f"{i} has dtype {dt.name}."
            )
        if kind == "jacrev" and not holomorphic and dt.kind != "f":
            raise FxgradTypeError(
                f"{kind}({name}) requires real-valued floating-point outputs, but output leaf "
                f"{i} has dtype {dt.name}. For complex outputs of holomorphic functions pass "
                "holomorphic=True; otherwise use jvp/vjp directly (or take the real part)."
            )


def hessian(
    fun: Callable,
    argnums: int | Sequence[int] = 0,
    has_aux: bool = False,
    holomorphic: bool = False,
) -> Callable:
    """The Hessian, ``jacfwd(jacrev(fun))``: shape ``out.shape + in.shape + in.shape``.

    With ``argnums`` a tuple the blocks nest as ``h[i][j]`` (second derivative with
    respect to arguments ``i`` and ``j``), as in JAX.

    Example:
      >>> import fxgrad, fxgrad.numpy as fnp
      >>> fxgrad.hessian(lambda x: fnp.sum(x ** 3))(fnp.array([1.0, 2.0]))
      Array([[ 6.,  0.],
             [ 0., 12.]], dtype=float64)
    """
    return jacfwd(jacrev(fun, argnums, has_aux, holomorphic), argnums, has_aux, holomorphic)


# ---------------------------------------------------------------------------------------
# linear_transpose
# ---------------------------------------------------------------------------------------


def linear_transpose(fun: Callable, *primals: Any, reduce_axes: Sequence[Any] = ()):
    """The transpose of linear ``fun``, whose inputs have the shapes of ``primals``.

    Returns ``f_t`` with ``f_t(ct) = (ct_arg0, ...)``: the cotangents of the inputs.
    Only the shapes and dtypes of ``primals`` matter.

    Raises:
      FxgradTypeError: (when ``f_t`` is called) ``fun`` is not linear in its inputs.

    Example:
      >>> import fxgrad, fxgrad.numpy as fnp
      >>> f_t = fxgrad.linear_transpose(lambda x: 2.0 * x.sum(), fnp.zeros(3))
      >>> f_t(1.0)
      (Array([2., 2., 2.], dtype=float64),)
    """
    name = _fun_name(fun)
    flat_primals, in_tree = _flatten_args((primals, {}), f"linear_transpose({name}) primal")
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
            _check_cotangent("linear_transpose", i, c, a)
            for i, (c, a) in enumerate(zip(flat_cts, out_avals, strict=True))
        ]
        args = [*consts, *(UndefPrimal(a) for a in in_avals)]
        try:
            outs = backward_pass(jaxpr, args, flat_cts)
        except (TypeError, MissingRuleError) as e:
            raise FxgradTypeError(
                f"linear_transpose({name}) could not transpose the function: it must be linear "
                "in its inputs (sums, scaling by constants, dot products with constants, "
                f"reshapes, ...), but it is not, or uses an operation without a transpose "
                f"rule. Cause: {e}"
            ) from e
        outs = [_cotangent_out(c, a) for c, a in zip(outs, in_avals, strict=True)]
        return tuple(tree_unflatten(in_tree, outs)[0])

    return f_t
