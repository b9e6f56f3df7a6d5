"""The backward pass of an eager tape as one program (``interpreters/tape_program.py``).

The first backward pass of a tape signature goes node by node; the second builds the
tape's program, later ones replay it. Each is checked against linearize + transpose
(``config.eager_vjp_tape=False``) and against the node-by-node pass; guards that meet
zero cotangents must fall back and rebuild without changing any result.
"""

from __future__ import annotations

import numpy as np
import pytest

import fxgrad
import fxgrad.numpy as fnp
from fxgrad import lax
from fxgrad.config import config
from fxgrad.interpreters import tape_program
from tests.op_records import all_records

RECORDS = [r for r in all_records() if r.grad_order and "rev" in r.grad_modes]


def _by_linearize(fun, *args):
    with config.override(eager_vjp_tape=False):
        return fxgrad.grad(fun)(*args)


def _programs_for(fun, *args) -> list[tape_program.TapeProgram]:
    """The tape programs built while differentiating ``fun`` at ``args`` (three calls)."""
    before = set(tape_program._tape_programs)
    for _ in range(3):
        fxgrad.grad(fun)(*args)
    return [
        p
        for k, p in tape_program._tape_programs.items()
        if k not in before and type(p) is tape_program.TapeProgram
    ]


@pytest.fixture
def node_by_node(monkeypatch):
    """Tape programs off: every backward pass goes node by node."""
    monkeypatch.setattr(tape_program, "backward", lambda *args: None)


def test_program_is_built_on_the_second_pass_and_replayed():
    x = fnp.linspace(-1.0, 1.0, 5)
    b = fnp.arange(5.0)

    def f(x):
        return fnp.sum(fnp.tanh(x * 2.0 + b))

    tape_program._tape_programs.clear()
    results = [np.asarray(fxgrad.grad(f)(x)) for _ in range(4)]
    programs = [p for p in tape_program._tape_programs.values()]
    assert len(programs) == 1 and type(programs[0]) is tape_program.TapeProgram
    want = np.asarray(_by_linearize(f, x))
    for got in results:  # node by node, built, replayed twice
        np.testing.assert_array_equal(got, want)


def test_shared_values_accumulate():
    def f(x):
        t = fnp.tanh(x)
        return fnp.sum(t * t + x * fnp.exp(t) - x)

    x = fnp.array([0.3, -1.2, 2.0])
    assert _programs_for(f, x)
    np.testing.assert_allclose(fxgrad.grad(f)(x), _by_linearize(f, x), rtol=1e-14)


def test_guards_fall_back_at_zeros_and_rebuild_zero_safe():
    # c selects which entries carry a cotangent; sqrt's derivative is infinite at 0.
    def f(x, c):
        return fnp.sum(c * fnp.sqrt(x))

    x = fnp.array([0.0, 4.0, 1.0])
    dense, sparse = fnp.array([1.0, 2.0, 3.0]), fnp.array([0.0, 2.0, 3.0])
    g = fxgrad.grad(f)
    for _ in range(3):  # built without zeros: the sqrt pullback is guarded
        assert np.isinf(np.asarray(g(x, dense))[0])
    for _ in range(4):  # a zero meets the guard: fall back, then the zero-safe program
        np.testing.assert_array_equal(g(x, sparse), [0.0, 0.5, 1.5])
    key = [k for k, p in tape_program._tape_programs.items() if type(p) is tape_program.TapeProgram]
    assert any(tape_program._tape_programs[k].zero_safe for k in key)
    assert np.isinf(np.asarray(g(x, dense))[0])  # still right without zeros


def test_where_rule_on_programs():
    def f(x):
        return fnp.sum(fnp.where(x > 0, fnp.sqrt(fnp.abs(x)), 0.0))

    x = fnp.array([0.0, 4.0, -1.0])
    for _ in range(6):
        np.testing.assert_array_equal(fxgrad.grad(f)(x), [0.0, 0.25, 0.0])


def test_zero_and_integer_output_cotangents():
    def f(x):
        return x * 3.0, fnp.argmax(x), fnp.sin(x)

    x = fnp.array([0.5, 2.0])
    out, f_vjp = fxgrad.vjp(f, x)
    cts = (fnp.ones(2), np.zeros((), fxgrad.dtypes.float0), fnp.array([2.0, 0.5]))
    for _ in range(4):
        (g,) = f_vjp(cts)
        np.testing.assert_allclose(g, 3.0 + np.cos([0.5, 2.0]) * [2.0, 0.5], rtol=1e-14)


def test_generic_nodes_go_node_by_node():
    def f(x):  # cumsum through a jitted function: recorded as a generic node
        return fnp.sum(fxgrad.jit(lambda y: lax.cumsum(y) ** 2)(x))

    x = fnp.array([1.0, 2.0, 3.0])
    assert not _programs_for(f, x)
    np.testing.assert_allclose(fxgrad.grad(f)(x), _by_linearize(f, x), rtol=1e-14)


def test_float32_programs():
    x = fnp.array([0.25, -0.5, 1.5], dtype=np.float32)

    def f(x):
        return fnp.sum(fnp.exp(x) / (1.0 + x * x))

    results = [fxgrad.grad(f)(x) for _ in range(3)]
    for g in results:
        assert g.dtype == np.float32
        np.testing.assert_allclose(g, _by_linearize(f, x), rtol=1e-6)


@pytest.mark.parametrize("record", [pytest.param(r, id=r.name) for r in RECORDS[::7]])
def test_node_by_node_matches_programs(record, node_by_node):
    """With programs off, the traced per-node pullbacks (second pass) and their replay
    (third) give what the first pass, through ``bind``, gives."""
    if np.float64 not in [np.dtype(d) for d in record.dtypes]:
        pytest.skip("a complex-only record")
    rng = np.random.RandomState(0)
    args = [fnp.asarray(a) for a in record.make_args(rng, np.float64)]
    fun = lambda *a: record.fun(*a, *record.static_args)  # noqa: E731
    out, f_vjp = fxgrad.vjp(fun, *args)
    cts = fxgrad.tree_util.tree_map(
        lambda o: (
            fnp.asarray(np.full(np.shape(o), 0.75, np.asarray(o).dtype))
            if np.asarray(o).dtype.kind in "fc"
            else np.zeros(np.shape(o), fxgrad.dtypes.float0)
        ),
        out,
    )
    first = [np.asarray(c) for c in fxgrad.tree_util.tree_leaves(f_vjp(cts))]
    for _ in range(2):  # traced, then replayed
        again = [np.asarray(c) for c in fxgrad.tree_util.tree_leaves(f_vjp(cts))]
        for a, b in zip(again, first, strict=True):
            np.testing.assert_array_equal(a, b)
