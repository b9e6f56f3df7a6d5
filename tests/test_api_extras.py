"""``typeof``, ``named_call``, ``ensure_compile_time_eval`` and ``clear_caches``."""

from __future__ import annotations

import numpy as np

import fxgrad
import fxgrad.numpy as fnp
from fxgrad.lax import _executor


def test_typeof_is_the_abstract_value():
    aval = fxgrad.typeof(fnp.ones((2, 3), np.float32))
    assert aval.shape == (2, 3) and aval.dtype == np.float32 and not aval.weak_type
    assert fxgrad.typeof(1.0).weak_type
    seen = []
    fxgrad.jit(lambda x: seen.append(fxgrad.typeof(x)) or x)(np.ones(4))
    assert seen[0].shape == (4,)


def test_named_call_calls_the_function_under_its_name():
    inc = fxgrad.named_call(lambda x: x + 1, name="inc")
    assert inc.__name__ == "inc" and inc(1) == 2
    assert float(fxgrad.grad(fxgrad.named_call(lambda x: x * x))(3.0)) == 6.0


def test_ensure_compile_time_eval_makes_concrete_values_under_jit():
    kinds = []

    def f(x):
        with fxgrad.ensure_compile_time_eval():
            table = fnp.arange(3.0) * 2
            kinds.append(type(table))
        return x + table

    np.testing.assert_array_equal(fxgrad.jit(f)(np.ones(3)), [1.0, 3.0, 5.0])
    assert kinds == [fxgrad.Array]


def test_clear_caches_makes_jitted_functions_trace_again():
    traces = []

    def f(x):
        traces.append(1)
        return x * 2

    jitted = fxgrad.jit(f)
    jitted(np.ones(2))
    jitted(np.ones(2))
    assert len(traces) == 1
    fxgrad.clear_caches()
    assert not _executor._cache
    np.testing.assert_array_equal(jitted(np.ones(2)), [2.0, 2.0])
    assert len(traces) == 2
