# How fxgrad works: a literate walk through the real core
#
# This file is both a page of the documentation and a test: `tests/test_docs.py` runs it,
# and every claim below is an `assert` on what the real fxgrad code does. It follows the
# order of JAX's "Autodidax" tutorial (https://jax.readthedocs.io/en/latest/autodidax.html),
# but instead of rebuilding a toy core it opens up the one fxgrad actually runs:
#
#   1. primitives and `bind`          (fxgrad/core.py)
#   2. evaluation                     (EvalTrace, the bottom of the interpreter stack)
#   3. forward mode: the JVP tracer   (fxgrad/interpreters/jvp.py)
#   4. batching: the vmap tracer      (fxgrad/interpreters/batching.py)
#   5. staging to a jaxpr             (fxgrad/interpreters/partial_eval.py, fxgrad/jaxpr.py)
#   6. jit as a call primitive        (fxgrad/lax/call.py)
#   7. linearize = jvp + partial evaluation
#   8. transposition                  (fxgrad/interpreters/transpose.py)
#   9. grad = linearize + transpose + a cotangent of 1
#
# Run it yourself with `python docs/how_it_works.py`; it prints the jaxprs it builds.
#
# The running example is the one from the automatic-differentiation course notes:
#
#     f(x1, x2) = ln(x1) + x1 * x2 - sin(x2)        at (x1, x2) = (2, 5)
#
# whose partial derivative df/dx1 = 1/x1 + x2 = 0.5 + 5 = 5.5.

import math

import numpy as np

import fxgrad
import fxgrad.numpy as fnp
from fxgrad import core, lax
from fxgrad.interpreters import batching
from fxgrad.interpreters.batching import BatchTracer, batch_rules, not_mapped, vmap_flat
from fxgrad.interpreters.jvp import JVPTracer, Zero, jvp_flat, jvp_rules
from fxgrad.interpreters.partial_eval import linearize_flat, trace_to_jaxpr
from fxgrad.interpreters.transpose import UndefPrimal, backward_pass
from fxgrad.jaxpr import eval_jaxpr
from fxgrad.lax.call import pjit_p


def f(x1, x2):
    return fnp.log(x1) + x1 * x2 - fnp.sin(x2)


X1, X2 = 2.0, 5.0
F_VALUE = math.log(X1) + X1 * X2 - math.sin(X2)
DF_DX1 = 1.0 / X1 + X2  # 5.5
DF_DX2 = X1 - math.cos(X2)

# %% [1] Primitives and bind
#
# Everything fxgrad computes is a tree of *primitives*: `sin`, `mul`, `add`, `reduce_sum`,
# `dot_general`, ... Each is a `core.Primitive` object carrying two rules of its own:
#
#   impl(*numpy_values, **params) -> numpy value          how to compute it
#   abstract_eval(*avals, **params) -> aval               its output shape and dtype
#
# and an entry in each interpreter's registry (`jvp_rules`, `transpose_rules`,
# `batch_rules`). fxgrad.numpy functions are thin wrappers that promote dtypes and
# broadcast, then call `primitive.bind(*arrays, **params)`.

assert isinstance(lax.sin_p, core.Primitive)
assert lax.sin_p in jvp_rules and lax.sin_p in batch_rules
sin_aval = lax.sin_p.abstract_eval(core.ShapedArray((3,), np.dtype("float64")))
assert sin_aval == core.ShapedArray((3,), np.dtype("float64"))

# The abstract value of an array is a `ShapedArray`: shape, dtype, and whether the type
# is "weak" (it came from a Python scalar and adapts to the other operand's dtype).
assert core.get_aval(fnp.ones((2, 3))).str_short() == "f64[2,3]"
assert core.get_aval(2.0).weak_type

# To see the machinery from the inside, declare a primitive of our own: `cube`. The
# supported way is one call to `fxgrad.extend.define_primitive` (see
# docs/adding_a_primitive.md), which also records the primitive by name. Here we build
# the `Primitive` and fill in the registries by hand, which is what that call does.

cube_p = core.Primitive("cube")
cube_p.impl = lambda x: x * x * x
cube_p.abstract_eval = lambda aval: aval


def cube(x):
    return cube_p.bind(x)


# A JVP rule maps primals and tangents to the primal output and the output tangent. It is
# written with primitives (`lax.mul`), never NumPy, so it can itself be traced,
# differentiated or batched. Note that it is *linear in the tangent* `x_dot`: the tangent
# is only ever multiplied by a value computed from the primal (a "residual"). That is
# what lets reverse mode be derived from it later, with no hand-written VJP.


def _cube_jvp(primals, tangents):
    (x,), (x_dot,) = primals, tangents
    return cube(x), lax.mul(lax.mul(3.0, lax.mul(x, x)), x_dot)


# The batching rule: cube is elementwise, so a batched input is cubed as it is and the
# batch axis stays where it was.


def _cube_batch(axis_size, vals, dims):
    (x,), (bdim,) = vals, dims
    return cube(x), bdim


jvp_rules[cube_p] = _cube_jvp
batch_rules[cube_p] = _cube_batch

# `bind` looks at its arguments, finds the *top* trace among them (the innermost active
# transformation) and asks that trace to process the primitive. With plain arrays and
# no active transformation, that is the evaluation trace.
assert float(cube(fnp.asarray(3.0))) == 27.0

# %% [2] Evaluation
#
# The interpreter stack is a list of `MainTrace`s, one per active transformation, with
# the evaluation trace at level 0. Outside any transformation it is the only entry, and
# `bind` takes a fast path straight to `impl` on NumPy values, wrapping the result as an
# immutable `fxgrad.Array`.

state = core._state()
assert [m.name for m in state.stack] == ["eval"]
y = lax.sin_p.bind(fnp.asarray(0.5))
assert isinstance(y, fxgrad.Array)
assert np.isclose(float(y), math.sin(0.5))
assert np.isclose(float(f(X1, X2)), F_VALUE)

# %% [3] Forward mode: the JVP tracer
#
# `jvp_flat(fun, primals, tangents)` pushes a `JVPTrace` on the stack and calls `fun` on
# `JVPTracer`s, each holding a primal and a tangent. Every primitive `fun` applies to
# them goes to `JVPTrace.process_primitive`, which calls the primitive's JVP rule.
# We peek at the tracers by recording what `fun` receives.

seen = []


def f_watched(x1, x2):
    seen.append((x1, x2))
    return [f(x1, x2)]


(value,), (tangent,) = jvp_flat(f_watched, [X1, X2], [1.0, 0.0])
x1_tracer, x2_tracer = seen[0]
assert isinstance(x1_tracer, JVPTracer)
assert (x1_tracer.primal, x1_tracer.tangent) == (X1, 1.0)
assert np.isclose(float(value), F_VALUE)

# With the tangent (1, 0) the output tangent is the directional derivative along x1:
# df/dx1 = 5.5. This is the forward-mode table of the course notes, computed one
# primitive at a time (ln' = 1/x, the product rule, sin' = cos).
assert np.isclose(float(tangent), DF_DX1)
assert float(tangent) == 5.5

# The public `fxgrad.jvp` adds pytrees and argument checking around the same function.
primal_out, tangent_out = fxgrad.jvp(f, (X1, X2), (1.0, 0.0))
assert float(tangent_out) == 5.5

# Tangents known to be zero can stay symbolic: pass `Zero(aval)` instead of an array of
# zeros and a primitive whose input tangents are all `Zero` is simply evaluated, without
# its JVP rule. Here `sin(x2)` depends only on x2, whose tangent is a symbolic zero, so
# the JVP rule of `sin` is never called. (This is how `grad(f, argnums=0)` avoids work
# for the other arguments, and how integer inputs get `float0` tangents for free.)
sin_jvp = jvp_rules[lax.sin_p]
sin_jvp_calls = []


def counting_sin_jvp(primals, tangents, **params):
    sin_jvp_calls.append(tangents)
    return sin_jvp(primals, tangents, **params)


jvp_rules[lax.sin_p] = counting_sin_jvp
try:
    zero = Zero(core.ShapedArray((), np.dtype("float64")))
    assert repr(zero) == "Zero(f64[])"
    _, (tangent,) = jvp_flat(lambda a, b: [f(a, b)], [X1, X2], [1.0, zero])
    assert float(tangent) == 5.5 and sin_jvp_calls == []
    jvp_flat(lambda a, b: [f(a, b)], [X1, X2], [1.0, 0.0])  # a concrete 0.0 is not symbolic
    assert len(sin_jvp_calls) == 1
finally:
    jvp_rules[lax.sin_p] = sin_jvp

# Our own primitive differentiates too, through the rule registered above:
_, cube_dot = fxgrad.jvp(cube, (fnp.asarray(2.0),), (fnp.asarray(1.0),))
assert float(cube_dot) == 12.0  # 3 * 2**2

# Transformations nest: the tracers of an inner jvp are themselves processed by the
# outer one, because the JVP rule calls `bind` again. Second derivative of cube at 2:
second = fxgrad.jvp(lambda x: fxgrad.jvp(cube, (x,), (1.0,))[1], (2.0,), (1.0,))[1]
assert float(second) == 12.0  # 6 * 2

# %% [4] Batching: the vmap tracer
#
# `vmap_flat(fun, axis_size, in_dims, args)` pushes a `BatchTrace`; a `BatchTracer`
# holds the whole batch (`val`) and the axis along which it varies (`bdim`). A batch
# rule computes the primitive for every batch member at once. Values that do not vary
# over the batch are `not_mapped` and are never broadcast unless an op needs it.

seen.clear()
xs = fnp.asarray([1.0, 2.0, 4.0])
(ys,), (ys_bdim,) = vmap_flat(f_watched, 3, [0, not_mapped], [xs, X2])
bx1, bx2 = seen[0]
assert isinstance(bx1, BatchTracer) and bx1.bdim == 0 and bx1.shape == ()
assert bx2 == X2  # unbatched arguments are passed through untouched
assert ys_bdim == 0
expected = [math.log(v) + v * X2 - math.sin(X2) for v in (1.0, 2.0, 4.0)]
assert np.allclose(np.asarray(ys), expected)

# Batching composes with differentiation in either order: per-example derivatives.
per_example = fxgrad.vmap(fxgrad.grad(f), in_axes=(0, None))(xs, X2)
assert np.allclose(np.asarray(per_example), [1.0 / v + X2 for v in (1.0, 2.0, 4.0)])
assert np.allclose(np.asarray(fxgrad.vmap(cube)(xs)), [1.0, 8.0, 64.0])
assert batching.not_mapped is not_mapped

# %% [5] Staging to a jaxpr
#
# `trace_to_jaxpr(fun, in_avals)` runs `fun` on `StagingTracer`s that know only their
# shape and dtype, recording each primitive as an equation. The staging trace is pushed
# as the *dynamic* trace, which makes it the floor of the search for the top trace:
# even operations on constants inside `fun` are recorded rather than evaluated.
# The result is a `ClosedJaxpr`: typed SSA equations, plus the values of any array
# constants the function closed over.

scalar = core.ShapedArray((), np.dtype("float64"))
closed = trace_to_jaxpr(lambda a, b: [f(a, b)], [scalar, scalar])
print("The jaxpr of f:")
print(closed)
assert [eqn.primitive.name for eqn in closed.eqns] == ["log", "mul", "add", "sin", "sub"]
assert closed.in_avals == [scalar, scalar] and closed.out_avals == [scalar]

# `fxgrad.make_jaxpr` is the public way to see it, with pytrees and argument names:
jaxpr_text = str(fxgrad.make_jaxpr(f)(X1, X2))
assert jaxpr_text == str(closed)
assert jaxpr_text.splitlines()[0] == "{ lambda ; a:f64[] b:f64[]. let"
assert "c:f64[] = log a" in jaxpr_text and "f:f64[] = sin b" in jaxpr_text

# A jaxpr is an ordinary program: `eval_jaxpr` interprets it by binding each primitive
# again, so evaluating a jaxpr *under a transformation* transforms it.
(value,) = eval_jaxpr(closed.jaxpr, closed.consts, X1, X2)
assert np.isclose(float(value), F_VALUE)

# Python control flow on a staged value cannot work: the value is not known.
try:
    fxgrad.make_jaxpr(lambda a: a if a > 0 else -a)(1.0)
except fxgrad.errors.ConcretizationError as err:
    assert "lax.cond" in str(err)
else:
    raise AssertionError("staging a Python `if` on a traced value must fail")

# %% [6] jit as a call primitive
#
# `jit(fun)` stages `fun` once per input signature (pytree structure, shapes, dtypes,
# weak types, static arguments) and caches the jaxpr. Calling it binds one primitive,
# `pjit`, whose parameter is that jaxpr. Because it is a primitive, `jit` nests and
# composes: inside another staged function it shows up as a single equation, and other
# transformations process it like any primitive: with their rule for `pjit` where they
# have one, and otherwise through the primitive's `inline` rule, which evaluates the
# body under the transformation.
#
# Today `pjit`'s `impl` evaluates the cached jaxpr equation by equation with the
# primitives' NumPy implementations; the LLVM/CUDA lowering plugs in at that point.

f_jit = fxgrad.jit(f)
assert np.isclose(float(f_jit(X1, X2)), F_VALUE)
assert f_jit._cache_size() == 1
f_jit(3.0, 4.0)  # same signature: no new trace
assert f_jit._cache_size() == 1
f_jit(fnp.ones(2), fnp.ones(2))  # new shapes: a new trace
assert f_jit._cache_size() == 2

outer = fxgrad.make_jaxpr(lambda a, b: f_jit(a, b) * 2.0)(X1, X2)
print("jit shows up as one pjit equation:")
print(outer)
assert outer.eqns[0].primitive is pjit_p
assert [e.primitive.name for e in outer.eqns[0].params["jaxpr"].eqns] == [
    "log",
    "mul",
    "add",
    "sin",
    "sub",
]
assert float(fxgrad.grad(f_jit)(X1, X2)) == 5.5

# %% [7] linearize = jvp + partial evaluation
#
# Reverse mode starts from forward mode. Run the JVP with the primals *known* and the
# tangents *unknown*, under the partial-evaluation trace: every operation on known
# values (the whole primal computation and the residuals like 1/x1 and cos(x2)) is done
# now, and every operation touching a tangent is recorded. What is recorded is a jaxpr
# that is linear in the tangents, closed over the residuals. That is `linearize`.

(value,), lin_jaxpr, residuals = linearize_flat(lambda a, b: [f(a, b)], [X1, X2])
print("The linear (tangent) jaxpr of f at (2, 5):")
print(lin_jaxpr)
assert np.isclose(float(value), F_VALUE)
assert lin_jaxpr.num_consts == len(residuals)
# Read it with the course notes' table in mind: `a`, `b`, `c` are the residuals x1, x2 and
# cos(x2) computed by the primal pass; `d`, `e` are the tangents of x1 and x2. The tangent
# of ln(x1) is `d / a`, the product rule gives `d * b + a * e`, and the tangent of
# sin(x2) is `e * c`. Only linear primitives remain: no log, no sin.
assert [float(r) for r in residuals] == [X1, X2, math.cos(X2)]
linear_names = {eqn.primitive.name for eqn in lin_jaxpr.eqns}
assert not linear_names & {"log", "sin", "cos"}, linear_names
(t_out,) = eval_jaxpr(lin_jaxpr, residuals, 1.0, 0.0)
assert float(t_out) == 5.5
(t_out,) = eval_jaxpr(lin_jaxpr, residuals, 0.0, 1.0)
assert np.isclose(float(t_out), DF_DX2)

# The public `fxgrad.linearize` returns the primal output and a function of tangents:
_, f_lin = fxgrad.linearize(f, X1, X2)
assert float(f_lin(1.0, 0.0)) == 5.5

# %% [8] Transposition
#
# A linear function `t -> J t` has a transpose `c -> J^T c`. `backward_pass` walks the
# linear jaxpr from its outputs to its inputs and asks each linear primitive's transpose
# rule for the cotangents of its inputs: `mul` by a residual transposes to `mul` by the
# same residual, `add` fans the cotangent out to both inputs, and so on. Linear inputs
# are marked `UndefPrimal`; the residuals are known values.

args = [*residuals, UndefPrimal(scalar), UndefPrimal(scalar)]
ct_x1, ct_x2 = backward_pass(lin_jaxpr, args, [1.0])
assert float(ct_x1) == 5.5
assert np.isclose(float(ct_x2), DF_DX2)

# `fxgrad.linear_transpose` exposes the same machinery for any linear function:
(ct,) = fxgrad.linear_transpose(lambda t: 3.0 * t, 1.0)(2.0)
assert float(ct) == 6.0

# %% [9] grad
#
# `vjp` is linearize followed by transpose, and `grad` is `vjp` with a cotangent of 1.0
# for the scalar output. Our `cube` primitive has no transpose rule and needs none: its
# JVP multiplies the tangent by a residual, and `mul` knows how to transpose itself.

out, f_vjp = fxgrad.vjp(f, X1, X2)
g1, g2 = f_vjp(fnp.asarray(1.0))
assert float(g1) == 5.5 and np.isclose(float(g2), DF_DX2)
assert float(fxgrad.grad(f)(X1, X2)) == 5.5
assert float(fxgrad.grad(f, argnums=1)(X1, X2)) == DF_DX2

assert float(fxgrad.grad(cube)(2.0)) == 12.0
assert float(fxgrad.grad(fxgrad.grad(cube))(2.0)) == 12.0

# Called eagerly like this (concrete inputs, no transformation active), `vjp` does not
# stage the linearization: it runs one interpreter level, `ReverseTrace`
# (fxgrad/interpreters/reverse.py), which evaluates each primitive and records a
# pullback on a tape, as HIPS autograd does. The pullbacks still come from the same
# rules: transpose rules for inputs a primitive is linear in, JVP partials for diagonal
# elementwise derivatives, and, for a primitive in neither table (like `cube`), the
# linearize + transpose of that one primitive. Under `jit`, `vmap` or an outer `grad`,
# and with `config.eager_vjp_tape` off, `vjp` is linearize + transpose as shown above.
with fxgrad.config.override(eager_vjp_tape=False):
    assert float(fxgrad.grad(f)(X1, X2)) == 5.5
    assert float(fxgrad.grad(cube)(2.0)) == 12.0
# And all of it composes: a jitted, batched second derivative of our own primitive.
d2 = fxgrad.jit(fxgrad.vmap(fxgrad.grad(fxgrad.grad(cube))))(xs)
assert np.allclose(np.asarray(d2), [6.0 * v for v in (1.0, 2.0, 4.0)])

# The primitive we declared lives only in this file; drop its rules from the shared
# registries so nothing else in the process (the test suite) ever sees it.
del jvp_rules[cube_p], batch_rules[cube_p]

print("how_it_works.py: every assertion held.")
