"""``docs/primitives_lowering.md`` lists what ``jit`` compiles every primitive to, truly.

* The page's table is what ``docs/primitives_lowering.py`` generates from the registry,
  so a new primitive, or a primitive whose lowering changed, fails here until the script
  is run again; every primitive that runs library code or its NumPy ``impl`` says why.
* The table agrees with what the compiler does: with fusion's classification of every
  equation the op records stage, and with the steps of compiled programs.
"""

from __future__ import annotations

import importlib.util
import pathlib
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import fxgrad
import fxgrad.numpy as fnp
from fxgrad import lax
from fxgrad.ad_checkpoint import checkpoint
from fxgrad.custom_derivatives import custom_jvp, custom_vjp
from fxgrad.lax._define import primitives
from fxgrad.lowering import compile_jaxpr
from fxgrad.lowering.fusion import classify
from fxgrad.lowering.kernel_ir import DTYPES
from tests.op_records import all_records

SCRIPT = pathlib.Path(__file__).resolve().parent.parent / "docs" / "primitives_lowering.py"
FIX = "run `python docs/primitives_lowering.py --write`"


def _load_script():
    spec = importlib.util.spec_from_file_location("primitives_lowering", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while defining
    spec.loader.exec_module(module)
    return module


doc = _load_script()
ROWS = {row.name: row for row in doc.rows()}

#: the kind ``fusion.classify`` gives an equation of each fused lowering class
_FUSED_KIND = {
    doc.FUSED_ELEMENTWISE: "elementwise",
    doc.IDENTITY: "elementwise",
    doc.INDEX_MAP: "shape",
    doc.FUSED_REDUCTION: "reduce",
}


def test_page_table_is_the_generated_table() -> None:
    page = doc.PAGE.read_text()
    on_page = doc.page_table(page).splitlines()
    generated = doc.table().splitlines()
    missing = [line for line in generated if line not in on_page]
    extra = [line for line in on_page if line not in generated]
    assert on_page == generated, (
        f"docs/primitives_lowering.md is out of date: {FIX}.\n"
        f"lines missing from the page: {missing}\nstale lines on the page: {extra}"
    )


def test_every_primitive_has_a_row() -> None:
    page = doc.page_table(doc.PAGE.read_text())
    absent = [name for name in doc.library_primitives() if f"| `{name}` |" not in page]
    assert not absent, f"primitives without a row in docs/primitives_lowering.md: {absent}; {FIX}"


def test_every_primitive_of_fxgrad_is_found_in_its_module() -> None:
    # primitives outside the table must be ones a program defined (fxgrad.extend in the
    # tests), never one of fxgrad's whose module the script failed to find
    defined_here = doc.library_primitives()
    lost = [
        name
        for name, prim in primitives.items()
        if name not in defined_here
        and getattr(prim.impl, "__module__", "").split(".")[0] in ("fxgrad", "numpy")
    ]
    assert not lost, f"fxgrad primitives whose defining module was not found: {lost}"


def test_every_library_primitive_says_why() -> None:
    silent = [r.name for r in ROWS.values() if r.lowering not in doc.GENERATED and not r.reason]
    assert not silent, (
        f"primitives that run library code or their NumPy impl under jit without a "
        f"documented reason: {silent}. Add each to REASONS in docs/primitives_lowering.py "
        f"(its library and why no kernel is generated), then {FIX}."
    )
    generated_with_reason = [
        r.name for r in ROWS.values() if r.lowering in doc.GENERATED and r.reason
    ]
    assert not generated_with_reason


def test_no_reason_for_a_primitive_that_fuses() -> None:
    stale = doc.stale_reasons()
    assert not stale, (
        f"REASONS in docs/primitives_lowering.py explains primitives that are not registered "
        f"or now compile to generated code: {stale}. Remove them, then {FIX}."
    )


def _equations(jaxpr):
    """Every equation of ``jaxpr`` and of the jaxprs in its params."""
    for eqn in jaxpr.eqns:
        yield eqn
        for value in eqn.params.values():
            for item in value if isinstance(value, tuple) else (value,):
                inner = getattr(item, "jaxpr", None)
                if inner is not None and hasattr(inner, "eqns"):
                    yield from _equations(inner)


def _kernel_dtypes(eqn) -> bool:
    atoms = (*eqn.inputs, *eqn.out_binders)
    return all(np.dtype(x.aval.dtype).name in DTYPES for x in atoms)


def test_table_agrees_with_fusion_on_the_op_records() -> None:
    """Fusion never fuses a primitive the table says runs library code, and fuses every
    primitive the table says fuses (at the dtypes kernels hold) as the table says."""
    kinds: dict[str, set[str]] = {}
    for record in all_records():
        for dtype in record.dtypes:
            args = record.make_args(np.random.RandomState(0), dtype)
            closed = fxgrad.make_jaxpr(lambda *a, r=record: r.fun(*a, *r.static_args))(*args)
            for eqn in _equations(closed.jaxpr):
                if eqn.primitive.name in ROWS and _kernel_dtypes(eqn):
                    kinds.setdefault(eqn.primitive.name, set()).add(classify(eqn))
    wrong = {}
    for name, seen in kinds.items():
        expected = _FUSED_KIND.get(ROWS[name].lowering, "library")
        # a fused primitive still runs its impl for some dtype kinds (see the page)
        if expected not in seen or seen - {expected, "library"}:
            wrong[name] = (ROWS[name].lowering, sorted(seen))
    assert not wrong, f"documented lowering vs fusion's classification: {wrong}"
    assert len(kinds) > len(ROWS) // 2  # the records reach most primitives


@custom_jvp
def _scaled_sin(x):
    return fnp.sin(x) * 2.0


_scaled_sin.defjvp(lambda primals, tangents: (_scaled_sin(*primals), tangents[0]))


@custom_vjp
def _scaled_cos(x):
    return fnp.cos(x) * 2.0


_scaled_cos.defvjp(lambda x: (_scaled_cos(x), x), lambda x, ct: (ct,))

#: (primitive, program staging it) for the step-kind check
_PROGRAMS = [
    ("pjit", lambda x: fxgrad.jit(lambda y: fnp.exp(y) + 1.0)(x) * 2.0),
    ("checkpoint", lambda x: checkpoint(lambda y: fnp.sin(y) * 2.0)(x) + 1.0),
    ("custom_jvp_call", lambda x: _scaled_sin(x) + 1.0),
    ("custom_vjp_call", lambda x: _scaled_cos(x) + 1.0),
    ("scan", lambda x: lax.fori_loop(0, 3, lambda i, c: c * 2.0 + 1.0, x)),
    ("while", lambda x: lax.while_loop(lambda c: c[0] < 10.0, lambda c: c * 2.0 + 1.0, x)),
    ("cond", lambda x: lax.cond(x[0] > 0.0, lambda y: y * 2.0, lambda y: y - 1.0, x)),
    ("sort", lambda x: fnp.sort(fnp.sin(x))),
    ("cumsum", lambda x: fnp.cumsum(x * 2.0)),
    ("dot_general", lambda x: fnp.outer(x, x) @ x),
    ("iota", lambda x: x + lax.iota(np.float64, 4)),
    ("concatenate", lambda x: fnp.concatenate([x, x]) * 2.0),
    ("reduce_sum", lambda x: fnp.sum(fnp.exp(x))),
    ("transpose", lambda x: fnp.exp(fnp.outer(x, x).T)),
    ("stop_gradient", lambda x: lax.stop_gradient(x) + 1.0),
    ("tanh", lambda x: fnp.tanh(x) * x),
]


def _expected_steps(name: str) -> tuple[str, ...]:
    """The step kinds an equation of ``name`` may become, from its row of the table."""
    lowering = ROWS[name].lowering
    if lowering == doc.LOOP:
        return (f"native {name}", f"compiled {name}")
    if lowering == doc.BRANCHES:
        return (f"compiled {name}",)
    if lowering in doc.GENERATED:
        return ("kernel", "")  # fused into a kernel, or inlined/identity: no step of its own
    return (f"library {name}",)


@pytest.mark.parametrize("name,fun", _PROGRAMS, ids=[name for name, _ in _PROGRAMS])
def test_compiled_steps_agree_with_the_table(name, fun) -> None:
    closed = fxgrad.make_jaxpr(fun)(np.linspace(0.5, 1.5, 4))
    assert name in {e.primitive.name for e in closed.jaxpr.eqns}
    steps = compile_jaxpr(closed).step_kinds
    expected = _expected_steps(name)
    named = [s for s in steps if s.split()[-1] == name]
    if expected[0] == "kernel":
        assert not named and "kernel" in steps, (name, ROWS[name].lowering, steps)
    else:
        assert named and set(named) <= set(expected), (name, ROWS[name].lowering, steps)


_UNARY = {"sin": fnp.sin, "exp": fnp.exp, "tanh": fnp.tanh, "sqrt": fnp.sqrt, "neg": fnp.negative}


@given(
    name=st.sampled_from(sorted(_UNARY)),
    dtype=st.sampled_from(["float16", "float32", "float64", "complex64", "complex128"]),
    size=st.integers(1, 5),
)
def test_fused_primitives_run_numpy_for_dtypes_kernels_do_not_hold(name, dtype, size) -> None:
    assert ROWS[name].lowering == doc.FUSED_ELEMENTWISE
    x = (np.arange(size) + 1.0).astype(dtype)
    closed = fxgrad.make_jaxpr(_UNARY[name])(x)
    steps = compile_jaxpr(closed).step_kinds
    if dtype in DTYPES:
        assert steps == ["kernel"], steps
    else:
        assert steps == [f"library {name}"], steps
