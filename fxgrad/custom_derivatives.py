"""``custom_jvp`` and ``custom_vjp``: functions with user-defined derivative rules.

A ``custom_jvp`` function is bound as the ``custom_jvp_call`` primitive carrying the
staged function and the user's JVP rule. Evaluation runs the function; the JVP
interpreter calls the rule instead of differentiating the function (the rule is itself
traced, so it can be differentiated again: higher order works where the rule is
differentiable); batching batches both; reverse mode comes from linearizing the rule.

A ``custom_vjp`` function is bound as ``custom_vjp_call``. Under differentiation its
forward function runs and the tangent becomes a ``custom_lin`` equation that carries
the backward function; reverse mode transposes ``custom_lin`` by calling ``bwd``.
Forward mode (``jvp``) of a ``custom_vjp`` function is an error, as in JAX.

Functions close over values through explicit leading operands; differentiating with
respect to a closed-over traced value is an error that points to passing the value as
an argument (or ``closure_convert``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np

from fxgrad._callable_params import CallableParam, bind_batch_major
from fxgrad.core import Primitive, ShapedArray, get_aval, tangent_aval
from fxgrad.dtypes import float0
from fxgrad.errors import FxgradTypeError, MissingRuleError
from fxgrad.interpreters import batching
from fxgrad.interpreters.batching import batch_jaxpr, not_mapped
from fxgrad.interpreters.jvp import Zero, instantiate_zeros
from fxgrad.interpreters.partial_eval import closed_call
from fxgrad.jaxpr import ClosedJaxpr
from fxgrad.lax._define import define_primitive
from fxgrad.lax.control_flow.common import run_closed, trace_fun
from fxgrad.tree_util import (
    PyTreeDef,
    keystr,
    tree_flatten,
    tree_flatten_with_path,
    tree_unflatten,
)

__all__ = ["closure_convert", "custom_jvp", "custom_vjp"]


def _check_outputs(
    rule: str,
    what: str,
    expected_tree: Any,
    expected: Sequence[ShapedArray],
    got: Any,
    tangent: bool,
) -> list[Any]:
    """Flatten ``got`` and check it against the expected structure and types."""
    leaves, tree = tree_flatten(got)
    if tree != expected_tree:
        raise FxgradTypeError(
            f"{rule} returned {what} with structure {tree}, but {expected_tree} was expected "
            f"(the structure of the function's {'output' if tangent else 'inputs'})."
        )
    example = tree_unflatten(tree, list(range(len(leaves))))
    paths = [keystr(p) for p, _ in tree_flatten_with_path(example)[0]]
    out = []
    for path, leaf, aval in zip(paths, leaves, expected, strict=True):
        want = tangent_aval(aval) if tangent else aval
        if leaf is None:
            out.append(Zero(want))
            continue
        got_aval = get_aval(leaf)
        if tuple(got_aval.shape) != tuple(want.shape):
            raise FxgradTypeError(
                f"{rule} returned {what} whose leaf {path or '(root)'} has shape "
                f"{got_aval.shape}, but shape {want.shape} was expected."
            )
        if want.dtype != float0 and np.dtype(got_aval.dtype) != np.dtype(want.dtype):
            if got_aval.weak_type:
                from fxgrad.lax.elementwise import convert_element_type

                leaf = convert_element_type(leaf, want.dtype)
            else:
                raise FxgradTypeError(
                    f"{rule} returned {what} whose leaf {path or '(root)'} has dtype "
                    f"{np.dtype(got_aval.dtype).name}, but {np.dtype(want.dtype).name} was "
                    "expected."
                )
        out.append(leaf)
    return out


def _check_pair(rule: str, result: Any, names: str) -> tuple[Any, Any]:
    """``result`` as a pair; a rule that returns anything else gets an error naming ``names``."""
    if not (isinstance(result, (tuple, list)) and len(result) == 2):
        raise FxgradTypeError(f"{rule} must return a pair ({names}), got {type(result).__name__}")
    return result[0], result[1]


def _closure_error(kind: str, name: str) -> FxgradTypeError:
    return FxgradTypeError(
        f"{kind} function {name} closes over a value that is being differentiated. Its "
        "derivative rule cannot see that value. Pass the value as an explicit argument "
        "of the function (or wrap the function with fxgrad.closure_convert)."
    )


# ---------------------------------------------------------------------------------------
# custom_jvp
# ---------------------------------------------------------------------------------------


def _custom_jvp_call_impl(*args, call_jaxpr, jvp, num_consts, name):
    return run_closed(call_jaxpr, args)


def _custom_jvp_call_abstract_eval(*avals, call_jaxpr, jvp, num_consts, name):
    return list(call_jaxpr.out_avals)


def _custom_jvp_call_jvp(primals, tangents, *, call_jaxpr, jvp, num_consts, name):
    if any(type(t) is not Zero for t in tangents[:num_consts]):
        raise _closure_error("custom_jvp", name)
    return jvp(primals[num_consts:], tangents[num_consts:])


def _custom_jvp_call_batch(axis_size, vals, dims, *, call_jaxpr, jvp, num_consts, name):
    vals = [batching.bdim_at_front(x, d, axis_size) for x, d in zip(vals, dims, strict=True)]
    batched, _ = batch_jaxpr(call_jaxpr, axis_size, [True] * len(vals), True)
    consts = vals[:num_consts]

    def batched_jvp(primals, tangents):
        from fxgrad.api import vmap

        def one(c, p, t):
            del c
            return tuple(jvp(list(p), list(t)))

        tangents = [instantiate_zeros(t) for t in tangents]
        tangents = [
            batching.bdim_at_front(t, not_mapped, axis_size)
            if get_aval(t).ndim < get_aval(p).ndim
            else t
            for t, p in zip(tangents, primals, strict=True)
        ]
        p_out, t_out = vmap(one)(consts, list(primals), list(tangents))
        return list(p_out), list(t_out)

    outs = custom_jvp_call_p.bind(
        *vals,
        call_jaxpr=batched,
        jvp=CallableParam(batched_jvp, f"vmap({jvp.name})"),
        num_consts=num_consts,
        name=name,
    )
    return outs, [0] * len(outs)


def _custom_jvp_call_inline(*args, call_jaxpr, jvp, num_consts, name):
    return closed_call(call_jaxpr, *args)


custom_jvp_call_p = define_primitive(
    "custom_jvp_call",
    impl=_custom_jvp_call_impl,
    abstract_eval=_custom_jvp_call_abstract_eval,
    jvp=_custom_jvp_call_jvp,
    batch=_custom_jvp_call_batch,
    kernel="call",
    multiple_results=True,
    inline=None,
)


def _split_nondiff(args: tuple, nondiff_argnums: tuple[int, ...]):
    nondiff = [args[i] for i in nondiff_argnums]
    diff = [a for i, a in enumerate(args) if i not in nondiff_argnums]
    return nondiff, diff


def _merge_nondiff(nondiff: list, diff: Sequence[Any], nondiff_argnums: tuple[int, ...]):
    args, nd, df = [], iter(nondiff), iter(diff)
    for i in range(len(nondiff) + len(diff)):
        args.append(next(nd) if i in nondiff_argnums else next(df))
    return args


class _TracedCall(NamedTuple):
    """A call of a custom_jvp / custom_vjp function, split and staged for binding."""

    nondiff: list[Any]  # the nondiff_argnums arguments, passed to the rules as they are
    flat: list[Any]  # the differentiable arguments, flattened, as arrays
    in_tree: PyTreeDef  # the structure of the tuple of differentiable arguments
    in_avals: list[ShapedArray]
    closed: ClosedJaxpr  # the function of the differentiable arguments, staged
    consts: list[Any]  # values the function closes over: leading operands of the primitive
    out_tree: PyTreeDef


class _CustomDerivative:
    """What ``custom_jvp`` and ``custom_vjp`` share: wrapping, binding as a method, and
    checking and staging a call before it binds the primitive."""

    # Set by each subclass, for messages: "custom_jvp", "JVP", "defjvp(rule)".
    kind = ""
    rule_kind = ""
    rule_setter = ""

    def __init__(self, fun: Callable, nondiff_argnums: Sequence[int] = ()):
        functools.update_wrapper(self, fun)
        self.fun = fun
        self.nondiff_argnums = tuple(int(i) for i in nondiff_argnums)
        self.name = getattr(fun, "__name__", self.kind)

    def __get__(self, obj: Any, objtype: Any = None) -> Any:
        if obj is None:
            return self
        return functools.partial(self, obj)

    def _has_rules(self) -> bool:
        raise NotImplementedError

    def _check_rules(self) -> None:
        if not self._has_rules():
            raise MissingRuleError(
                f"No {self.rule_kind} rule defined for {self.kind} function {self.name}; call "
                f"{self.name}.{self.rule_setter} before calling it."
            )

    def _trace_call(self, args: tuple, kwargs: dict) -> _TracedCall:
        if kwargs:
            raise TypeError(
                f"{self.kind} function {self.name} takes positional arguments only; got "
                f"keyword arguments {sorted(kwargs)}"
            )
        self._check_rules()
        nondiff, diff = _split_nondiff(args, self.nondiff_argnums)
        from fxgrad.numpy._util import asarray_value

        flat, in_tree = tree_flatten(tuple(diff))
        flat = [asarray_value(x) for x in flat]
        in_avals = [get_aval(x) for x in flat]

        def fun_of_diff(*diff_args):
            return self.fun(*_merge_nondiff(nondiff, diff_args, self.nondiff_argnums))

        closed, consts, out_tree = trace_fun(fun_of_diff, in_tree, in_avals, self.name)
        return _TracedCall(nondiff, flat, in_tree, in_avals, closed, list(consts), out_tree)

    def _bind(self, primitive: Primitive, call: _TracedCall, **rules: CallableParam) -> Any:
        """Binds ``primitive`` on the staged ``call`` with the wrapped ``rules``."""
        outs = primitive.bind(
            *call.consts,
            *call.flat,
            call_jaxpr=call.closed,
            **rules,
            num_consts=len(call.consts),
            name=self.name,
        )
        return tree_unflatten(call.out_tree, outs)


class custom_jvp(_CustomDerivative):  # noqa: N801 - JAX's name
    """A function with a custom forward-mode derivative rule.

    Example:
      >>> import fxgrad, fxgrad.numpy as fnp
      >>> @fxgrad.custom_jvp
      ... def log1pexp(x):
      ...     return fnp.log1p(fnp.exp(x))
      >>> @log1pexp.defjvp
      ... def _(primals, tangents):
      ...     (x,), (t,) = primals, tangents
      ...     return log1pexp(x), t * fxgrad.lax.logistic(x)
      >>> fxgrad.grad(log1pexp)(100.0)
      Array(1., dtype=float64, weak_type=True)
    """

    kind, rule_kind, rule_setter = "custom_jvp", "JVP", "defjvp(rule)"

    def __init__(self, fun: Callable, nondiff_argnums: Sequence[int] = ()):
        super().__init__(fun, nondiff_argnums)
        self.jvp: Callable | None = None

    def defjvp(self, jvp: Callable, symbolic_zeros: bool = False) -> Callable:
        """Set the rule ``jvp(*nondiff_args, primals, tangents) -> (out, tangent_out)``."""
        self.jvp = jvp
        return jvp

    def defjvps(self, *tangent_fns: Callable | None) -> None:
        """Set the rule from one ``fn(t_i, primal_out, *primals)`` per argument."""

        def jvp(primals, tangents):
            out = self(*primals)
            total = None
            for fn, t in zip(tangent_fns, tangents, strict=True):
                if fn is None:
                    continue
                contrib = fn(t, out, *primals)
                total = contrib if total is None else _tree_add(total, contrib)
            if total is None:
                from fxgrad.tree_util import tree_map

                total = tree_map(lambda o: o * 0, out)
            return out, total

        self.defjvp(jvp)

    def _has_rules(self) -> bool:
        return self.jvp is not None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        call = self._trace_call(args, kwargs)
        nondiff, in_tree, out_tree = call.nondiff, call.in_tree, call.out_tree
        out_avals = call.closed.out_avals[:]
        rule_name = f"the JVP rule of custom_jvp function {self.name}"
        user_jvp = self.jvp

        def jvp_flat(primals, tangents):
            p = tree_unflatten(in_tree, primals)
            tangents = [instantiate_zeros(t) for t in tangents]
            t = tree_unflatten(in_tree, tangents)
            result = user_jvp(*nondiff, tuple(p), tuple(t))
            primal_out, tangent_out = _check_pair(rule_name, result, "primal_out, tangent_out")
            p_out = _check_outputs(
                rule_name, "a primal output", out_tree, out_avals, primal_out, tangent=False
            )
            t_out = _check_outputs(
                rule_name, "a tangent output", out_tree, out_avals, tangent_out, tangent=True
            )
            return p_out, t_out

        return self._bind(custom_jvp_call_p, call, jvp=CallableParam(jvp_flat, rule_name))


def _tree_add(a: Any, b: Any) -> Any:
    from fxgrad.tree_util import tree_map

    return tree_map(lambda x, y: x + y, a, b)


# ---------------------------------------------------------------------------------------
# custom_vjp
# ---------------------------------------------------------------------------------------


def _custom_vjp_call_impl(*args, call_jaxpr, fwd, bwd, num_consts, name):
    return run_closed(call_jaxpr, args)


def _custom_vjp_call_abstract_eval(*avals, call_jaxpr, fwd, bwd, num_consts, name):
    return list(call_jaxpr.out_avals)


def _custom_vjp_call_jvp(primals, tangents, *, call_jaxpr, fwd, bwd, num_consts, name):
    if any(type(t) is not Zero for t in tangents[:num_consts]):
        raise _closure_error("custom_vjp", name)
    outs, residuals = fwd(primals[num_consts:])
    arg_tangents = [instantiate_zeros(t) for t in tangents[num_consts:]]
    out_avals = [get_aval(o) for o in outs]
    tangents_out = custom_lin_p.bind(
        *residuals,
        *arg_tangents,
        bwd=bwd,
        num_res=len(residuals),
        out_avals=tuple(tangent_aval(a) for a in out_avals),
        name=name,
    )
    return outs, tangents_out


def _custom_vjp_call_batch(axis_size, vals, dims, *, call_jaxpr, fwd, bwd, num_consts, name):
    from fxgrad.api import vmap

    batched, _ = batch_jaxpr(call_jaxpr, axis_size, [True] * len(vals), True)

    def batched_fwd(args):
        outs, res = vmap(lambda a: tuple(map(tuple, fwd(list(a)))))(tuple(args))
        return list(outs), list(res)

    def batched_bwd(res, cts):
        return list(vmap(lambda r, c: tuple(bwd(list(r), list(c))))(tuple(res), tuple(cts)))

    return bind_batch_major(
        custom_vjp_call_p,
        axis_size,
        vals,
        dims,
        call_jaxpr=batched,
        fwd=CallableParam(batched_fwd, f"vmap({fwd.name})"),
        bwd=CallableParam(batched_bwd, f"vmap({bwd.name})"),
        num_consts=num_consts,
        name=name,
    )


custom_vjp_call_p = define_primitive(
    "custom_vjp_call",
    impl=_custom_vjp_call_impl,
    abstract_eval=_custom_vjp_call_abstract_eval,
    jvp=_custom_vjp_call_jvp,
    batch=_custom_vjp_call_batch,
    kernel="call",
    multiple_results=True,
)


def _custom_lin_impl(*args, bwd, num_res, out_avals, name):
    raise FxgradTypeError(
        f"can't apply forward-mode autodiff (jvp) to custom_vjp function {name}: its "
        "derivative is only defined in reverse mode (grad, vjp). Use custom_jvp to define a "
        "rule that works in both modes."
    )


def _custom_lin_abstract_eval(*avals, bwd, num_res, out_avals, name):
    return list(out_avals)


def _custom_lin_transpose(cts, *args, bwd, num_res, out_avals, name):
    residuals = args[:num_res]
    cts = [instantiate_zeros(ct) for ct in cts]
    cts_in = bwd(residuals, cts)
    return [None] * num_res + list(cts_in)


def _custom_lin_batch(axis_size, vals, dims, *, bwd, num_res, out_avals, name):
    raise MissingRuleError(
        f"vmap of the linearized custom_vjp function {name} inside a forward-mode "
        "computation is not supported; apply vmap outside grad/vjp instead."
    )


custom_lin_p = define_primitive(
    "custom_lin",
    impl=_custom_lin_impl,
    abstract_eval=_custom_lin_abstract_eval,
    jvp=None,
    transpose=_custom_lin_transpose,
    batch=_custom_lin_batch,
    kernel="call",
    multiple_results=True,
)


class custom_vjp(_CustomDerivative):  # noqa: N801 - JAX's name
    """A function with a custom reverse-mode derivative: ``f.defvjp(fwd, bwd)``.

    ``fwd(*args) -> (out, residuals)`` runs the function and saves what the backward
    pass needs; ``bwd(residuals, ct_out) -> tuple`` returns one cotangent per
    (differentiable) argument.

    Example:
      >>> import fxgrad, fxgrad.numpy as fnp
      >>> @fxgrad.custom_vjp
      ... def clip_gradient(x):
      ...     return x
      >>> def fwd(x):
      ...     return x, None
      >>> def bwd(_, g):
      ...     return (fnp.clip(g, -1.0, 1.0),)
      >>> clip_gradient.defvjp(fwd, bwd)
      >>> fxgrad.grad(lambda x: 3.0 * clip_gradient(x))(2.0)
      Array(1., dtype=float64, weak_type=True)
    """

    kind, rule_kind, rule_setter = "custom_vjp", "VJP", "defvjp(fwd, bwd)"

    def __init__(self, fun: Callable, nondiff_argnums: Sequence[int] = ()):
        super().__init__(fun, nondiff_argnums)
        self.fwd: Callable | None = None
        self.bwd: Callable | None = None

    def defvjp(self, fwd: Callable, bwd: Callable, symbolic_zeros: bool = False) -> None:
        self.fwd = fwd
        self.bwd = bwd

    def _has_rules(self) -> bool:
        return self.fwd is not None and self.bwd is not None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from fxgrad.numpy._util import asarray_value

        call = self._trace_call(args, kwargs)
        nondiff, in_tree, out_tree = call.nondiff, call.in_tree, call.out_tree
        out_avals = list(call.closed.out_avals)
        user_fwd, user_bwd = self.fwd, self.bwd
        fwd_name = f"the fwd rule of custom_vjp function {self.name}"
        bwd_name = f"the bwd rule of custom_vjp function {self.name}"
        res_tree_box: dict[str, Any] = {}

        def fwd_flat(primals):
            result = user_fwd(*nondiff, *tree_unflatten(in_tree, primals))
            out, residuals = _check_pair(fwd_name, result, "output, residuals")
            outs = _check_outputs(fwd_name, "an output", out_tree, out_avals, out, tangent=False)
            res_leaves, res_tree_box["tree"] = tree_flatten(residuals)
            return outs, [asarray_value(r) for r in res_leaves]

        def bwd_flat(residuals, cts):
            res = tree_unflatten(res_tree_box["tree"], list(residuals))
            ct = tree_unflatten(out_tree, list(cts))
            result = user_bwd(*nondiff, res, ct)
            if not isinstance(result, (tuple, list)):
                raise FxgradTypeError(
                    f"{bwd_name} must return a tuple with one cotangent per differentiable "
                    f"argument, got {type(result).__name__}"
                )
            return _check_outputs(
                bwd_name, "cotangents", in_tree, call.in_avals, tuple(result), tangent=True
            )

        return self._bind(
            custom_vjp_call_p,
            call,
            fwd=CallableParam(fwd_flat, fwd_name),
            bwd=CallableParam(bwd_flat, bwd_name),
        )


def closure_convert(fun: Callable, *example_args: Any) -> tuple[Callable, list[Any]]:
    """Hoist the traced values ``fun`` closes over into explicit arguments.

    Returns ``(converted, consts)`` with ``converted(*args, *consts) == fun(*args)``;
    pass ``consts`` as arguments of a custom_vjp/custom_jvp function so its rules see them.
    """
    from fxgrad.numpy._util import asarray_value

    flat, in_tree = tree_flatten(example_args)
    avals = [get_aval(asarray_value(x)) for x in flat]
    closed, consts, out_tree = trace_fun(fun, in_tree, avals, getattr(fun, "__name__", "fun"))
    n_consts = len(consts)

    def converted(*args_and_consts):
        args, cs = (
            args_and_consts[: -n_consts or None],
            args_and_consts[len(args_and_consts) - n_consts :],
        )
        flat_args, _ = tree_flatten(tuple(args))
        outs = closed_call(closed, *cs, *flat_args)
        return tree_unflatten(out_tree, outs)

    return converted, list(consts)


custom_jvp_call_p.out_weak_types = lambda *, call_jaxpr, **_: [
    a.weak_type for a in call_jaxpr.out_avals
]
custom_vjp_call_p.out_weak_types = custom_jvp_call_p.out_weak_types
