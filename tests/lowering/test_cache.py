"""Compilation caches: no recompilation on a second call, disk reuse across processes,
thread safety."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading

import numpy as np

import fxgrad
import fxgrad.numpy as fnp
from fxgrad.config import config
from fxgrad.lax import _executor
from fxgrad.lowering import cache, executable

_SCRIPT = r"""
import json, sys
import numpy as np
import fxgrad, fxgrad.numpy as fnp
from fxgrad.lowering import cache

def f(x, y):
    return fnp.tanh(x * 0.5 + y) * fnp.exp(-x * x) + fnp.sum(fnp.sin(y), axis=0)

x = np.linspace(-2.0, 2.0, 40 * 31).reshape(40, 31)
out = np.asarray(fxgrad.jit(f)(fnp.asarray(x), fnp.asarray(x[::-1])))
print(json.dumps({"stats": cache.stats, "sum": float(out.sum()),
                  "dir": str(cache.cache_directory())}))
"""


def _run_script(cache_dir, **env):
    environ = {**os.environ, "FXGRAD_CACHE_DIR": str(cache_dir), **env}
    environ.pop("FXGRAD_DISK_CACHE", None)
    environ.update(env)
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT],
        capture_output=True,
        text=True,
        env=environ,
        check=True,
        cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))),
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_second_process_compiles_nothing(tmp_path):
    first = _run_script(tmp_path)
    assert first["dir"].startswith(str(tmp_path))
    assert first["stats"]["compiled"] >= 1
    assert first["stats"]["disk_writes"] == first["stats"]["compiled"]
    assert first["stats"]["disk_hits"] == 0
    second = _run_script(tmp_path)
    assert second["stats"]["compiled"] == 0
    assert second["stats"]["disk_hits"] == first["stats"]["compiled"]
    assert second["sum"] == first["sum"]


def test_corrupt_cache_entries_are_recompiled(tmp_path):
    first = _run_script(tmp_path)
    for entry in (tmp_path / "kernels").glob("*.o"):
        entry.write_bytes(b"not an object file")
    again = _run_script(tmp_path)
    assert again["stats"]["compiled"] == first["stats"]["compiled"]
    assert again["sum"] == first["sum"]


def test_disk_cache_can_be_turned_off(tmp_path):
    result = _run_script(tmp_path, FXGRAD_DISK_CACHE="0")
    assert result["stats"]["disk_writes"] == 0
    assert not (tmp_path / "kernels").exists()


def test_second_call_with_same_shapes_does_not_recompile():
    f = fxgrad.jit(lambda x, y: fnp.sum(fnp.exp(x) * y, axis=1))
    x = fnp.asarray(np.arange(12.0).reshape(3, 4) / 10)
    y = fnp.asarray(np.ones((3, 4)))
    f(x, y)
    counts = (dict(cache.stats), dict(_executor.stats), dict(executable.stats))
    for _ in range(3):
        out = f(x * 2.0, y)
    assert cache.stats["compiled"] == counts[0]["compiled"]
    assert _executor.stats == counts[1]
    assert executable.stats == counts[2]
    np.testing.assert_allclose(np.asarray(out), np.sum(np.exp(np.asarray(x) * 2.0), axis=1))
    f(fnp.asarray(np.ones((5, 4))), fnp.asarray(np.ones((5, 4))))  # a new shape compiles
    assert _executor.stats["compiles"] == counts[1]["compiles"] + 1


def test_same_kernel_in_two_functions_is_compiled_once():
    x = fnp.asarray(np.linspace(0, 1, 77))
    fxgrad.jit(lambda x: fnp.cos(x) * 3.0 - 0.25)(x)
    compiled = cache.stats["compiled"]
    out = fxgrad.jit(lambda v: fnp.cos(v) * 3.0 - 0.25)(x)
    assert cache.stats["compiled"] == compiled
    np.testing.assert_allclose(np.asarray(out), np.cos(np.asarray(x)) * 3.0 - 0.25)


def test_concurrent_calls_with_different_shapes():
    f = fxgrad.jit(lambda x: fnp.tanh(x) * 2.0 + fnp.max(x, axis=-1, keepdims=True))
    shapes = [(3, 5), (7, 2), (300, 300), (1, 9)]
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def worker(offset: int) -> None:
        try:
            barrier.wait()
            for i in range(12):
                shape = shapes[(i + offset) % len(shapes)]
                x = np.random.default_rng(i + 10 * offset).standard_normal(shape)
                out = np.asarray(f(fnp.asarray(x)))
                expected = np.tanh(x) * 2.0 + x.max(axis=-1, keepdims=True)
                np.testing.assert_allclose(out, expected, rtol=1e-12)
        except BaseException as error:  # noqa: BLE001 - reported by the main thread
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors


def test_log_compiles_prints_what_is_compiled(capsys):
    with config.override(log_compiles=True):
        fxgrad.jit(lambda x: fnp.sqrt(fnp.abs(x)) + 0.125)(fnp.asarray(np.arange(9.0)))
    out = capsys.readouterr().out
    assert "kernel" in out and "sqrt" in out
