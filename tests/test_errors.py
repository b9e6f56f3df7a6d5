"""Errors are named (fxgrad.errors), subclass the builtin a user expects, and say what
failed, where (function, argument, source line), what was expected and what to do.

Each test matches the key words of the message, not its full text.
"""

import inspect
import os
import re

import numpy as np
import pytest

import fxgrad
import fxgrad.numpy as fnp
from fxgrad import grad, jit, lax, vmap
from fxgrad.errors import (
    BatchingError,
    ConcretizationError,
    FxgradError,
    FxgradTypeError,
    NonScalarOutputError,
    ShapeError,
    StaticArgumentError,
    UnexpectedTracerError,
)

THIS_FILE = os.path.basename(__file__)


def _line_of(fun, marker: str) -> int:
    """The line number of the source line of ``fun`` containing ``marker``."""
    lines, start = inspect.getsourcelines(fun)
    for offset, line in enumerate(lines):
        if marker in line:
            return start + offset
    raise AssertionError(f"marker {marker!r} not found")


# ---------------------------------------------------------------------------------------
# Concretization: Python control flow on traced values
# ---------------------------------------------------------------------------------------


def uses_if(x):
    if x > 0:  # MARK-if
        return x
    return -x


def uses_while(x):
    while x < 10:  # MARK-while
        x = x * 2
    return x


def uses_int(x):
    return x * int(x)  # MARK-int


def uses_float(x):
    return x * float(x)  # MARK-float


def uses_bool(x):
    return x * bool(x)  # MARK-bool


def uses_list_index(n):
    table = [1.0, 2.0, 3.0]
    return table[n]  # MARK-list


def uses_range(n):
    total = 0.0
    for i in range(n):  # MARK-range
        total = total + i
    return total


CONCRETIZATION_CASES = [
    (uses_if, "MARK-if", 1.0, "bool"),
    (uses_while, "MARK-while", 1.0, "bool"),
    (uses_int, "MARK-int", 1.0, "int"),
    (uses_float, "MARK-float", 1.0, "float"),
    (uses_bool, "MARK-bool", 1.0, "bool"),
    (uses_list_index, "MARK-list", 1, "index"),
    (uses_range, "MARK-range", 3, "index"),
]


@pytest.mark.parametrize("transform", ["jit", "vmap"])
@pytest.mark.parametrize(
    "fun, marker, arg, kind", CONCRETIZATION_CASES, ids=[c[1] for c in CONCRETIZATION_CASES]
)
def test_python_control_flow_on_traced_values(transform, fun, marker, arg, kind):
    if transform == "jit":
        call = lambda: jit(fun)(arg)  # noqa: E731
    else:
        batch = fnp.asarray(np.array([arg, arg]))
        call = lambda: vmap(fun)(batch)  # noqa: E731
    with pytest.raises(ConcretizationError) as info:
        call()
    msg = str(info.value)
    assert isinstance(info.value, TypeError)  # as in JAX
    assert kind in msg
    # the transformation and the user's function
    assert f"{transform}({fun.__name__})" in msg
    # the user's source line
    assert f"{THIS_FILE}:{_line_of(fun, marker)}" in msg
    # what to do
    for fix in ("fxgrad.lax.cond", "while_loop", "static_argnums"):
        assert fix in msg
    assert "errors.html#" in msg


def test_concretization_error_names_the_argument_under_jit():
    def f(x, n):
        return x * int(n)

    with pytest.raises(ConcretizationError, match=r"argument 'n'"):
        jit(f)(1.0, 2)
    # with a static argument before it, the dynamic argument keeps its own name
    with pytest.raises(ConcretizationError, match=r"argument 'n'"):
        jit(lambda k, n: int(n) + k, static_argnums=0)(1, 2)


def test_concretization_subclasses_match_jax_names():
    from fxgrad.errors import TracerBoolConversionError, TracerIntegerConversionError

    with pytest.raises(TracerBoolConversionError):
        jit(uses_if)(1.0)
    with pytest.raises(TracerIntegerConversionError):
        jit(uses_range)(3)


def test_concretization_error_names_the_argument_under_vmap():
    with pytest.raises(ConcretizationError, match=r"argument 'x'"):
        vmap(uses_if)(fnp.ones(2))


def test_control_flow_is_fine_under_grad_and_with_static_arguments():
    # grad keeps concrete primal values: Python control flow works, as in JAX
    assert float(grad(uses_if)(2.0)) == 1.0
    assert float(grad(uses_if)(-2.0)) == -1.0
    assert float(jit(uses_range, static_argnums=0)(4)) == 6.0


def test_numpy_conversion_of_a_tracer():
    with pytest.raises(ConcretizationError, match=r"NumPy"):
        jit(lambda x: np.sin(np.asarray(x)))(1.0)


# ---------------------------------------------------------------------------------------
# Escaped tracers
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("transform", ["jit", "vmap", "grad", "jvp"])
def test_leaked_tracer_used_later(transform):
    leaked = []

    def leak(x):
        leaked.append(x)
        return fnp.sum(x * 2.0)

    x = fnp.ones(3)
    if transform == "jit":
        jit(leak)(x)
    elif transform == "vmap":
        vmap(leak)(fnp.ones((2, 3)))
    elif transform == "grad":
        grad(leak)(x)
    else:
        fxgrad.jvp(leak, (x,), (x,))
    with pytest.raises(UnexpectedTracerError, match=r"escaped.*(global|stor)") as info:
        fnp.sin(leaked[0])
    msg = str(info.value)
    assert "already finished" in msg and "Return" in msg
    with pytest.raises(UnexpectedTracerError):
        _ = leaked[0] + 1.0


def test_leaked_tracer_inside_another_transformation():
    leaked = []
    jit(lambda x: leaked.append(x) or x)(1.0)
    with pytest.raises(UnexpectedTracerError):
        grad(lambda y: y * leaked[0])(2.0)
    with pytest.raises(UnexpectedTracerError):
        jit(lambda y: y * leaked[0])(2.0)


# ---------------------------------------------------------------------------------------
# Incompatible shapes in primitives
# ---------------------------------------------------------------------------------------


def _dot_bad(a, b):
    return lax.dot_general(a, b, (((1,), (0,)), ((), ())))


def test_shape_errors_while_tracing():
    a, b = fnp.ones((2, 3)), fnp.ones((4, 5))
    with pytest.raises(ShapeError, match=r"dot_general.*contracting.*\(3,\).*\(4,\)"):
        jit(_dot_bad)(a, b)
    with pytest.raises(ShapeError, match=r"add.*\(3,\).*\(4,\)"):
        jit(lax.add)(fnp.ones(3), fnp.ones(4))
    with pytest.raises(ShapeError, match=r"matmul.*\(2, 3\).*\(4, 5\)"):
        jit(fnp.matmul)(a, b)


def test_eager_lax_dot_general_shape_error():
    with pytest.raises(ShapeError, match=r"dot_general.*contracting.*\(3,\).*\(4,\)"):
        _dot_bad(fnp.ones((2, 3)), fnp.ones((4, 5)))


def test_eager_lax_add_shape_error():
    with pytest.raises(ShapeError, match=r"add.*\(3,\).*\(4,\)"):
        lax.add(fnp.ones(3), fnp.ones(4))


def test_eager_numpy_shape_errors():
    with pytest.raises(ShapeError, match=r"matmul.*\(2, 3\).*\(4, 5\)"):
        fnp.matmul(fnp.ones((2, 3)), fnp.ones((4, 5)))
    with pytest.raises(ShapeError, match=r"broadcast.*\(3,\).*\(4,\)"):
        fnp.ones(3) + fnp.ones(4)
    with pytest.raises(ShapeError, match=r"matmul"):
        fnp.ones((2, 3)) @ fnp.ones((4, 5))


def test_shape_errors_under_vmap_and_grad():
    with pytest.raises(ShapeError, match=r"\(3,\).*\(4,\)"):
        vmap(lambda x: x + fnp.ones(4))(fnp.ones((2, 3)))
    with pytest.raises(ShapeError, match=r"matmul"):
        grad(lambda x: fnp.sum(x @ fnp.ones((4, 5))))(fnp.ones((2, 3)))


# ---------------------------------------------------------------------------------------
# grad's requirements
# ---------------------------------------------------------------------------------------


def test_grad_of_non_scalar_output():
    def vector_fun(x):
        return x * 2.0

    with pytest.raises(NonScalarOutputError, match=r"grad\(vector_fun\).*scalar.*\(3,\)") as e:
        grad(vector_fun)(fnp.ones(3))
    assert "jacrev" in str(e.value) and ".sum()" in str(e.value)
    assert isinstance(e.value, TypeError)


def test_grad_of_tuple_output_suggests_has_aux():
    with pytest.raises(NonScalarOutputError, match=r"has_aux"):
        grad(lambda x: (x * 2.0, x))(1.0)


def test_grad_of_complex_output():
    def complex_fun(x):
        return x * 1j

    with pytest.raises(FxgradTypeError, match=r"grad\(complex_fun\).*complex.*holomorphic=True"):
        grad(complex_fun)(1.0)


def test_grad_with_integer_input():
    def f(x, n):
        return x * n

    with pytest.raises(FxgradTypeError, match=r"grad\(f\).*argument 1.*int64.*allow_int"):
        grad(f, argnums=1)(1.0, 3)
    with pytest.raises(FxgradTypeError, match=r"argument 0\['a'\].*int"):
        grad(lambda d: d["a"] * 1.0)({"a": fnp.arange(3)})


def test_grad_holomorphic_needs_complex_input():
    with pytest.raises(FxgradTypeError, match=r"holomorphic=True.*complex"):
        grad(lambda z: z * z, holomorphic=True)(1.0)


def test_grad_argnums_out_of_range():
    with pytest.raises(TypeError, match=r"argnums.*2.*2 positional"):
        grad(lambda x, y: x * y, argnums=2)(1.0, 2.0)


def test_has_aux_must_return_a_pair():
    def f(x):
        return x * 2.0

    with pytest.raises(TypeError, match=r"f.*has_aux=True.*pair"):
        grad(f, has_aux=True)(1.0)


def test_jacobian_input_and_output_dtypes():
    with pytest.raises(FxgradTypeError, match=r"jacfwd.*int64.*float"):
        fxgrad.jacfwd(lambda x: x * 2)(fnp.arange(3))
    with pytest.raises(FxgradTypeError, match=r"jacrev.*complex.*holomorphic=True"):
        fxgrad.jacrev(lambda x: x * 1j)(fnp.ones(2))


# ---------------------------------------------------------------------------------------
# jvp / vjp argument checks
# ---------------------------------------------------------------------------------------


def test_jvp_argument_checks():
    def f(x):
        return fnp.sin(x)

    with pytest.raises(TypeError, match=r"jvp\(f\).*tuples or lists"):
        fxgrad.jvp(f, fnp.ones(2), fnp.ones(2))
    with pytest.raises(ValueError, match=r"jvp\(f\).*shapes.*\(3,\).*\(2,\)"):
        fxgrad.jvp(f, (fnp.ones(3),), (fnp.ones(2),))
    with pytest.raises(TypeError, match=r"jvp\(f\).*float32.*float64.*astype"):
        fxgrad.jvp(f, (np.ones(2, np.float32),), (np.ones(2, np.float64),))
    with pytest.raises(TypeError, match=r"jvp\(f\).*1 primal.*2 tangent"):
        fxgrad.jvp(f, (1.0,), (1.0, 2.0))
    with pytest.raises(TypeError, match=r"tree structure"):
        fxgrad.jvp(lambda d: d["a"], ({"a": 1.0},), ({"b": 1.0},))


def test_vjp_cotangent_checks():
    def f(x):
        return {"y": x * 2.0}

    _, f_vjp = fxgrad.vjp(f, fnp.ones(3))
    with pytest.raises(ValueError, match=r"vjp\(f\).*shape \(2,\).*\(3,\)"):
        f_vjp({"y": fnp.ones(2)})
    with pytest.raises(TypeError, match=r"vjp\(f\).*structure"):
        f_vjp(fnp.ones(3))


# ---------------------------------------------------------------------------------------
# jit: static arguments
# ---------------------------------------------------------------------------------------


def scaled(x, factors):
    return x * len(factors)


@pytest.mark.parametrize(
    "bad, tname", [([1, 2], "list"), ({"a": 1}, "dict"), (np.ones(2), "ndarray")]
)
def test_unhashable_static_argument_by_position(bad, tname):
    jf = jit(scaled, static_argnums=1)
    with pytest.raises(StaticArgumentError, match=r"jit\(scaled\).*argument 1 \('factors'\)"):
        jf(1.0, bad)
    with pytest.raises(StaticArgumentError, match=rf"unhashable type {tname}.*tuple"):
        jf(1.0, bad)
    assert issubclass(StaticArgumentError, ValueError)  # JAX raises ValueError


def test_unhashable_static_argument_by_name():
    jf = jit(scaled, static_argnames="factors")
    with pytest.raises(StaticArgumentError, match=r"jit\(scaled\).*argument 'factors'.*list"):
        jf(1.0, factors=[1, 2])
    with pytest.raises(StaticArgumentError, match=r"argument 1 \('factors'\).*list"):
        jf(1.0, [1, 2])
    assert float(jf(1.0, factors=(1, 2))) == 2.0


def test_non_array_argument_to_jit_points_to_static_argnums():
    with pytest.raises(FxgradTypeError, match=r"jit\(scaled\).*type str.*static_argnums"):
        jit(scaled)(1.0, "ab")


def test_non_array_output_names_the_function():
    def returns_text(x):
        return "text"

    with pytest.raises(FxgradTypeError, match=r"output of returns_text.*str.*has_aux"):
        jit(returns_text)(1.0)
    with pytest.raises(FxgradTypeError, match=r"output of returns_text.*str"):
        vmap(returns_text)(fnp.ones(2))


def test_linear_transpose_of_a_nonlinear_function():
    def square(x):
        return x * x

    f_t = fxgrad.linear_transpose(square, 1.0)
    with pytest.raises(FxgradTypeError, match=r"linear_transpose\(square\).*linear"):
        f_t(1.0)


# ---------------------------------------------------------------------------------------
# vmap: in_axes / out_axes / sizes
# ---------------------------------------------------------------------------------------


def add2(x, y):
    return x + y


def test_vmap_in_axes_wrong_length():
    with pytest.raises(BatchingError, match=r"vmap\(add2\).*in_axes has 1 entr.*2 positional"):
        vmap(add2, in_axes=(0,))(fnp.ones((3, 2)), fnp.ones(2))


def test_vmap_in_axes_bad_structure():
    def f(d):
        return d["a"]

    with pytest.raises(BatchingError, match=r"vmap\(f\).*tree prefix.*'b'.*'a'"):
        vmap(f, in_axes=({"b": 0},))({"a": fnp.ones(3)})


def test_vmap_in_axes_bad_type():
    with pytest.raises(BatchingError, match=r"in_axes.*ints and None.*1.5"):
        vmap(add2, in_axes=1.5)


def test_vmap_axis_out_of_range():
    with pytest.raises(
        BatchingError, match=r"vmap\(add2\).*argument 'y' along axis 2.*rank.*\(3, 2\)"
    ):
        vmap(add2, in_axes=(0, 2))(fnp.ones((3, 2)), fnp.ones((3, 2)))
    with pytest.raises(BatchingError, match=r"argument 'x' along axis -3"):
        vmap(add2, in_axes=(-3, 0))(fnp.ones((3, 2)), fnp.ones((3, 2)))


def test_vmap_inconsistent_sizes():
    with pytest.raises(
        BatchingError,
        match=r"(?s)vmap\(add2\).*inconsistent sizes.*argument 'x'.*size 3.*argument 'y'.*size 4",
    ):
        vmap(add2)(fnp.ones((3, 2)), fnp.ones((4, 2)))
    with pytest.raises(BatchingError, match=r"(?s)inconsistent.*axis_size=5"):
        vmap(add2, axis_size=5)(fnp.ones((3, 2)), fnp.ones((3, 2)))
    with pytest.raises(BatchingError, match=r"argument 'p\['w'\]'"):
        vmap(lambda p: p["w"] * p["b"])({"w": fnp.ones(3), "b": fnp.ones(4)})


def test_vmap_needs_a_mapped_axis_or_axis_size():
    with pytest.raises(BatchingError, match=r"non-None.*axis_size"):
        vmap(add2, in_axes=None)(fnp.ones(3), fnp.ones(3))


def test_vmap_out_axes_errors():
    with pytest.raises(BatchingError, match=r"out_axes=None.*depends on the batched"):
        vmap(lambda x: x, out_axes=None)(fnp.ones(3))
    with pytest.raises(BatchingError, match=r"out_axes=3.*out of range"):
        vmap(lambda x: x, out_axes=3)(fnp.ones((3, 2)))
    with pytest.raises(BatchingError, match=r"out_axes.*tree prefix.*outputs"):
        vmap(lambda x: x, out_axes=(0, 0))(fnp.ones((3, 2)))


# ---------------------------------------------------------------------------------------
# Every fxgrad error links its documentation and subclasses a builtin
# ---------------------------------------------------------------------------------------


def test_errors_link_their_docs():
    with pytest.raises(FxgradError) as info:
        vmap(add2)(fnp.ones((3, 2)), fnp.ones((4, 2)))
    assert re.search(r"errors\.html#batchingerror", str(info.value))
