"""jit's cache: the cached-call fast path, retrace explanations, the disk cache, errors.

Results are compared with NumPy computed here; trace counts with the number of calls
of the Python function; log lines with the shapes and names the test itself chose.
"""

import functools
import os
import subprocess
import sys
import threading

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import fxgrad
import fxgrad.numpy as fnp
from fxgrad.config import config
from fxgrad.errors import FxgradTypeError, NaNError, StaticArgumentError
from fxgrad.lowering import cache


def counted(fun):
    """``fun`` and a list that grows by one each time Python runs it (a trace)."""
    calls = []

    @functools.wraps(fun)
    def wrapper(*args, **kwargs):
        calls.append(1)
        return fun(*args, **kwargs)

    return wrapper, calls


# ---------------------------------------------------------------------------------------
# The cached-call fast path keeps the semantics of the normal path
# ---------------------------------------------------------------------------------------


def test_cached_calls_do_not_retrace_and_match_numpy():
    def affine(x, y):
        return x * 2.0 + y

    fun, traces = counted(affine)
    f = fxgrad.jit(fun)
    rng = np.random.default_rng(0)
    for _ in range(4):
        x, y = rng.standard_normal(5), rng.standard_normal(5)
        np.testing.assert_allclose(np.asarray(f(fnp.asarray(x), fnp.asarray(y))), x * 2 + y)
    assert len(traces) == 1 and f._cache_size() == 1


def test_cached_python_scalars_keep_weak_types():
    f = fxgrad.jit(lambda x: x * 2)
    for _ in range(2):
        out = f(1.5)
        assert out.weak_type and out.dtype == np.float64 and float(out) == 3.0
    f = fxgrad.jit(lambda x: (x, fnp.float32(1.0) * 3.0))
    for _ in range(2):
        a, b = f(2)
        assert a.weak_type and a.dtype == np.int64
        assert not b.weak_type and b.dtype == np.float32


def test_numpy_scalars_are_strongly_typed():
    fun, traces = counted(lambda x: x * 2)
    f = fxgrad.jit(fun)
    for _ in range(2):
        out = f(np.float32(1.5))
        assert out.dtype == np.float32 and not out.weak_type and float(out) == 3.0
    f(fnp.asarray(np.float32(2.0)))  # the same aval as the NumPy scalar: no new trace
    assert len(traces) == 1


def test_numpy_inputs_are_not_frozen_or_aliased():
    f = fxgrad.jit(lambda x: x)
    a = np.arange(3.0)
    first, second = f(a), f(a)
    assert a.flags.writeable
    a[0] = 100.0
    np.testing.assert_array_equal(np.asarray(first), [0.0, 1.0, 2.0])
    np.testing.assert_array_equal(np.asarray(second), [0.0, 1.0, 2.0])


def test_pytree_arguments_and_outputs_through_the_cache():
    def step(params, x):
        return {"out": params["w"] * x + params["b"], "aux": (x.sum(), None)}

    fun, traces = counted(step)
    f = fxgrad.jit(fun)
    w, b, x = np.arange(3.0), np.ones(3), np.full(3, 2.0)
    for _ in range(3):
        out = f({"w": fnp.asarray(w), "b": fnp.asarray(b)}, fnp.asarray(x))
        np.testing.assert_allclose(np.asarray(out["out"]), w * x + b)
        assert float(out["aux"][0]) == 6.0 and out["aux"][1] is None
    assert len(traces) == 1
    f({"w": fnp.asarray(w), "b": fnp.asarray(b), "c": 1.0}, fnp.asarray(x))
    assert len(traces) == 2


def test_static_arguments_on_the_fast_path():
    def power(x, n):
        return x**n

    fun, traces = counted(power)
    f = fxgrad.jit(fun, static_argnums=1)
    x = fnp.asarray(np.arange(3.0))
    for n in (2, 2, 3, 3, 2):
        np.testing.assert_allclose(np.asarray(f(x, n)), np.arange(3.0) ** n)
    assert len(traces) == 2
    with pytest.raises(StaticArgumentError, match=r"jit\(power\).*'n'.*unhashable.*list"):
        f(x, [2])


def test_keyword_arguments_take_the_normal_path():
    fun, traces = counted(lambda x, y: x - y)
    f = fxgrad.jit(fun)
    for _ in range(2):
        np.testing.assert_allclose(np.asarray(f(fnp.ones(2), y=fnp.ones(2) * 3)), [-2.0, -2.0])
    assert len(traces) == 1


def test_debug_nans_applies_to_cached_calls():
    f = fxgrad.jit(lambda x: fnp.log(x))
    with config.override(debug_nans=True):
        f(fnp.ones(3))  # filed for the cached path under debug_nans
        with pytest.raises(NaNError, match="'log'"):
            f(-fnp.ones(3))
    assert np.isnan(np.asarray(f(-fnp.ones(3)))).all()  # cached, without the check


def test_disable_jit_runs_the_function_eagerly():
    fun, calls = counted(lambda x: x + 1.0)
    f = fxgrad.jit(fun)
    f(fnp.ones(2))
    with config.override(disable_jit=True):
        for _ in range(3):
            np.testing.assert_allclose(np.asarray(f(fnp.ones(2))), [2.0, 2.0])
    assert len(calls) == 4 and f._cache_size() == 1


def test_tracers_take_the_normal_path_after_caching():
    f = fxgrad.jit(lambda x: fnp.sin(x) * x)
    x = 0.7
    f(x)
    f(x)
    expected = np.cos(x) * x + np.sin(x)
    np.testing.assert_allclose(float(fxgrad.grad(f)(x)), expected)
    np.testing.assert_allclose(float(fxgrad.jit(fxgrad.grad(f))(x)), expected)
    xs = np.linspace(0.1, 1.0, 4)
    np.testing.assert_allclose(np.asarray(fxgrad.vmap(f)(fnp.asarray(xs))), np.sin(xs) * xs)


def test_closing_over_an_outer_tracer_is_never_cached():
    box = {}

    @fxgrad.jit
    def f(x):
        return x * box["y"]

    def outer(y):
        box["y"] = y
        return f(2.0) + f(2.0)  # concrete arguments, but the constant is a tracer

    assert float(fxgrad.grad(outer)(3.0)) == 4.0
    assert f._cache_size() == 0
    box["y"] = 5.0
    assert float(f(2.0)) == 10.0 and float(f(2.0)) == 10.0


def test_log_compiles_does_not_retrace():
    fun, traces = counted(lambda x: x * 3.0)
    f = fxgrad.jit(fun)
    f(fnp.ones(2))
    with config.override(log_compiles=True):
        f(fnp.ones(2))
    assert len(traces) == 1


def test_concurrent_cached_calls():
    f = fxgrad.jit(lambda x: fnp.tanh(x) + x.sum())
    shapes = [(3,), (2, 2), (5,)]
    errors = []
    barrier = threading.Barrier(3)

    def worker(k):
        try:
            barrier.wait()
            for i in range(30):
                x = np.random.default_rng(i + 100 * k).standard_normal(shapes[(i + k) % 3])
                np.testing.assert_allclose(np.asarray(f(fnp.asarray(x))), np.tanh(x) + x.sum())
        except BaseException as error:  # noqa: BLE001 - reported by the main thread
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert f._cache_size() == 3


DTYPES = [np.float32, np.float64, np.int32, np.int64]


@given(
    calls=st.lists(
        st.tuples(
            st.sampled_from([(), (1,), (3,), (2, 3)]),
            st.sampled_from(DTYPES),
            st.booleans(),  # pass a NumPy array instead of an Array
        ),
        min_size=1,
        max_size=6,
    )
)
def test_traces_once_per_distinct_signature(calls):
    fun, traces = counted(lambda x: x * 2 + 1)
    f = fxgrad.jit(fun)
    for shape, dtype, as_numpy in calls:
        x = np.arange(int(np.prod(shape)), dtype=dtype).reshape(shape)
        out = f(x if as_numpy else fnp.asarray(x))
        assert out.dtype == x.dtype and out.shape == x.shape
        np.testing.assert_array_equal(np.asarray(out), x * 2 + 1)
    assert len(traces) == len({(shape, dtype) for shape, dtype, _ in calls})


# ---------------------------------------------------------------------------------------
# log_compiles explains every retrace
# ---------------------------------------------------------------------------------------


def logged(capsys, call):
    with config.override(log_compiles=True):
        call()
    return capsys.readouterr().out


def test_first_trace_says_so(capsys):
    f = fxgrad.jit(lambda x, y: x + y["w"])
    out = logged(capsys, lambda: f(fnp.ones(3), {"w": fnp.ones(3, np.float32)}))
    assert "tracing jit(<lambda>) for the first time" in out
    assert "x: f64[3]" in out and "y['w']: f32[3]" in out


def test_explains_a_shape_change(capsys):
    def f(x, y):
        return x * y

    jf = fxgrad.jit(f)
    jf(fnp.ones(3), 2.0)
    out = logged(capsys, lambda: jf(fnp.ones(4), 2.0))
    assert "tracing jit(f) again (trace #2)" in out
    assert "argument 'x' changed shape: now f64[4], before f64[3]" in out
    assert "'y'" not in out.split("differs")[1]


def test_explains_a_dtype_change_inside_a_pytree(capsys):
    jf = fxgrad.jit(lambda p: p["w"].sum())
    jf({"w": fnp.ones(2)})
    out = logged(capsys, lambda: jf({"w": fnp.ones(2, np.float32)}))
    assert "argument 'p['w']' changed dtype: now f32[2], before f64[2]" in out


def test_explains_a_weak_type_change(capsys):
    jf = fxgrad.jit(lambda x: x + 1)
    jf(2.0)
    out = logged(capsys, lambda: jf(fnp.asarray(np.float64(2.0))))
    assert "argument 'x' changed weak type: now f64[], before f64[] (weak type)" in out


def test_explains_a_static_value_change(capsys):
    def f(x, n):
        return x**n

    jf = fxgrad.jit(f, static_argnums=1)
    jf(fnp.ones(2), 2)
    out = logged(capsys, lambda: jf(fnp.ones(2), 3))
    assert "static argument 'n' changed value: now 3, before 2" in out
    assert "argument 'x'" not in out.split("differs")[1]


def test_explains_a_pytree_structure_change(capsys):
    jf = fxgrad.jit(lambda x, y: x + sum(y.values()))
    jf(fnp.ones(2), {"a": 1.0})
    out = logged(capsys, lambda: jf(fnp.ones(2), {"a": 1.0, "b": 2.0}))
    assert "argument 'y' changed pytree structure" in out
    assert "'b'" in out and "before" in out


def test_names_varargs_by_position(capsys):
    def f(x, *args):
        return x + args[1]["w"]

    jf = fxgrad.jit(f)
    jf(fnp.ones(2), 0.0, {"w": fnp.ones(2)})
    out = logged(capsys, lambda: jf(fnp.ones(3), 0.0, {"w": fnp.ones(3)}))
    assert "argument 'args[1]['w']' changed shape: now f64[3], before f64[2]" in out


def test_explains_a_config_change(capsys):
    jf = fxgrad.jit(lambda x: x * 2.0)
    jf(fnp.ones(2))
    out = logged(capsys, lambda: _with_float32(lambda: jf(fnp.ones(2))))
    assert "config flag 'default_float' changed: now 'float32', before 'float64'" in out


def _with_float32(call):
    with config.override(default_float="float32"):
        return call()


def test_failed_traces_are_not_compared_with(capsys):
    def f(x):
        if x.shape[0] == 2:
            raise ValueError("two")
        return x + 1.0

    jf = fxgrad.jit(f)
    with pytest.raises(ValueError, match="two"):
        jf(fnp.ones(2))
    out = logged(capsys, lambda: jf(fnp.ones(3)))
    assert "tracing jit(f) for the first time" in out


def test_explains_a_retrace_caused_by_a_closed_over_tracer(capsys):
    box = {}
    jf = fxgrad.jit(lambda x: x * box["y"])

    def outer(y):
        box["y"] = y
        return jf(2.0)

    fxgrad.grad(outer)(3.0)
    out = logged(capsys, lambda: fxgrad.grad(outer)(3.0))
    assert "same signature but was not cached" in out and "closed over" in out


def test_compares_with_the_closest_earlier_trace(capsys):
    jf = fxgrad.jit(lambda x, y: x + y)
    jf(fnp.ones(3), fnp.ones(3))
    jf(fnp.ones(4), fnp.ones(4))
    out = logged(capsys, lambda: jf(fnp.ones(4), fnp.ones(4, np.float32)))
    body = out.split("differs")[1]
    assert "argument 'y' changed dtype: now f32[4], before f64[4]" in body
    assert "argument 'x'" not in body
    assert "trace #3" in out


def test_lists_every_difference(capsys):
    jf = fxgrad.jit(lambda x, y: x + y)
    jf(fnp.ones(3), fnp.ones(3))
    out = logged(capsys, lambda: jf(fnp.ones(2, np.float32), fnp.ones(2)))
    assert "argument 'x' changed shape and dtype: now f32[2], before f64[3]" in out
    assert "argument 'y' changed shape: now f64[2], before f64[3]" in out


# ---------------------------------------------------------------------------------------
# The on-disk cache directory
# ---------------------------------------------------------------------------------------


def _resolved_in_subprocess(env_updates: dict[str, str], code: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FXGRAD_")}
    env.update(env_updates)
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    return result.stdout.strip()


RESOLVE = "from fxgrad.config import resolve_cache_dir; print(resolve_cache_dir())"


def test_cache_dir_comes_from_the_environment(tmp_path):
    target = tmp_path / "from-env"
    assert _resolved_in_subprocess({"FXGRAD_CACHE_DIR": str(target)}, RESOLVE) == str(target)


def test_cache_dir_update_wins_over_the_environment(tmp_path):
    code = (
        "from fxgrad.config import config, resolve_cache_dir\n"
        f"config.update('cache_dir', {str(tmp_path / 'updated')!r})\n"
        "print(resolve_cache_dir())"
    )
    out = _resolved_in_subprocess({"FXGRAD_CACHE_DIR": str(tmp_path / "env")}, code)
    assert out == str(tmp_path / "updated")


def test_without_a_cache_dir_the_user_cache_directory_is_used(tmp_path):
    if sys.platform in ("win32", "darwin"):
        pytest.skip("the XDG variables apply on Linux and other Unix systems")
    out = _resolved_in_subprocess({"XDG_CACHE_HOME": str(tmp_path / "xdg")}, RESOLVE)
    assert out == str(tmp_path / "xdg" / "fxgrad")
    code = "from fxgrad.config import config, resolve_cache_dir\n" + (
        "config.update('cache_dir', None); print(resolve_cache_dir())"
    )
    out = _resolved_in_subprocess(
        {"XDG_CACHE_HOME": str(tmp_path / "xdg"), "FXGRAD_CACHE_DIR": str(tmp_path / "e")}, code
    )
    assert out == str(tmp_path / "xdg" / "fxgrad")


def _compile_new_kernel() -> None:
    """Compile a kernel no other test has (a constant drawn at random) and run it."""
    c = float(np.random.default_rng().uniform(1.0, 2.0))
    x = np.linspace(0.0, 1.0, 7)
    out = fxgrad.jit(lambda v: fnp.exp(v * c) - c)(fnp.asarray(x))
    np.testing.assert_allclose(np.asarray(out), np.exp(x * c) - c)


def test_jit_writes_compiled_kernels_under_cache_dir(tmp_path):
    if not cache.disk_cache_enabled():
        pytest.skip("the disk cache is off in this process (FXGRAD_DISK_CACHE)")
    with config.override(cache_dir=tmp_path):
        _compile_new_kernel()
    assert list((tmp_path / "kernels").glob("*.o"))


def test_disk_cache_flag_turns_the_disk_cache_off(tmp_path):
    with config.override(cache_dir=tmp_path, disk_cache=False):
        assert not cache.disk_cache_enabled()
        _compile_new_kernel()
    assert not (tmp_path / "kernels").exists()


# ---------------------------------------------------------------------------------------
# Errors name jit(<function>), the argument and the fix
# ---------------------------------------------------------------------------------------


def test_unhashable_static_argument():
    def resize(x, sizes):
        return x.reshape(sizes)

    f = fxgrad.jit(resize, static_argnums=1)
    with pytest.raises(
        StaticArgumentError,
        match=r"jit\(resize\): static argument 1 \('sizes'\) has unhashable type list.*tuple",
    ):
        f(fnp.ones(6), [2, 3])
    g = fxgrad.jit(resize, static_argnames="sizes")
    with pytest.raises(StaticArgumentError, match=r"jit\(resize\).*'sizes'.*unhashable"):
        g(fnp.ones(6), sizes=[2, 3])


@pytest.mark.parametrize("nums", [2, -3, (0, 5)])
def test_static_argnums_out_of_range(nums):
    def f(x, n):
        return x * n

    with pytest.raises(
        StaticArgumentError, match=r"jit\(f\): static_argnums=.* takes 2 positional.*\(x, n\)"
    ):
        fxgrad.jit(f, static_argnums=nums)


def test_static_argnums_may_exceed_a_varargs_signature():
    f = fxgrad.jit(lambda *xs: xs[0] * 2.0, static_argnums=3)
    np.testing.assert_allclose(np.asarray(f(fnp.ones(2))), [2.0, 2.0])


def test_unknown_static_argname():
    def f(x, n):
        return x * n

    with pytest.raises(StaticArgumentError, match=r"jit\(f\).*'m'.*not a parameter.*n, x"):
        fxgrad.jit(f, static_argnames="m")
    fxgrad.jit(lambda x, **kw: x, static_argnames="anything")  # **kwargs takes any name


def test_non_array_argument_names_the_argument():
    def f(x, y):
        return x + y["w"]

    jf = fxgrad.jit(f)
    with pytest.raises(
        FxgradTypeError,
        match=r"argument 'x' of jit\(f\) is not a valid array: got a value of type str.*"
        r"static_argnums",
    ):
        jf("abc", {"w": 1.0})
    with pytest.raises(FxgradTypeError, match=r"argument 'y\['w'\]' of jit\(f\).*str"):
        jf(1.0, {"w": "abc"})
    with pytest.raises(FxgradTypeError, match=r"argument 'y' of jit\(f\).*object"):
        jf(1.0, y=object())


def test_donate_argnums_is_accepted_and_ignored():
    f = fxgrad.jit(lambda x, y: x + y, donate_argnums=0)
    x = fnp.ones(3)
    for _ in range(2):
        np.testing.assert_allclose(np.asarray(f(x, x)), [2.0, 2.0, 2.0])
    np.testing.assert_allclose(np.asarray(x), [1.0, 1.0, 1.0])  # still usable


def test_disable_jit_runs_the_python_function_with_concrete_values():
    seen = []

    @fxgrad.jit
    def f(x):
        seen.append(type(x))
        return x * 2.0

    x = fnp.arange(3.0)
    f(x)
    f(x)  # cached: not traced again
    assert len(seen) == 1 and seen[0] is not fxgrad.Array
    with fxgrad.disable_jit():
        np.testing.assert_array_equal(f(x), np.arange(3.0) * 2.0)
        with fxgrad.disable_jit(False):
            f(x)  # jit is on again in the inner block: the cached trace runs
    assert seen[1:] == [fxgrad.Array]
    with pytest.raises(ValueError), fxgrad.disable_jit():
        raise ValueError("leaves the block")
    f(x)  # leaving the block by an exception restores jit
    assert len(seen) == 2
