"""Smoke tests of examples/: each script runs with a small step count and does its job."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import pathlib
import subprocess
import sys

import numpy as np
import pytest

import fxgrad
import fxgrad.numpy as fnp

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"examples_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def fit_mlp():
    return _load("fit_mlp")


def test_fit_mlp_loss_goes_down(fit_mlp) -> None:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = fit_mlp.main(["--steps", "150"])
    text = out.getvalue()
    assert status == 0, text
    assert "jit traced the training step 1 time(s)" in text
    assert "per-example gradient norms (end, vmap(grad))" in text


def test_fit_mlp_fails_when_loss_does_not_fall(fit_mlp) -> None:
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        assert fit_mlp.main(["--steps", "0"]) == 1


def test_fit_mlp_model_against_numpy(fit_mlp) -> None:
    """The batched model, its gradient and the per-example norms match NumPy/loops."""
    rng = np.random.default_rng(1)
    params = fit_mlp.init_params(rng)
    x, y = fit_mlp.make_data(rng, 6)
    np_params = [{k: np.asarray(v) for k, v in layer.items()} for layer in params]

    def np_predict(p, xb):
        h = xb
        for layer in p[:-1]:
            h = np.tanh(h @ layer["w"] + layer["b"])
        return (h @ p[-1]["w"] + p[-1]["b"])[:, 0]

    def np_loss(p):
        return np.mean((np_predict(p, x) - y) ** 2)

    batched = fxgrad.vmap(fit_mlp.predict, in_axes=(None, 0))(params, x)
    np.testing.assert_allclose(np.asarray(batched), np_predict(np_params, x), rtol=1e-12)

    value, grads = fxgrad.jit(fxgrad.value_and_grad(fit_mlp.loss))(params, x, y)
    np.testing.assert_allclose(float(value), np_loss(np_params), rtol=1e-12)
    # Central differences on a few weights of the first layer.
    eps = 1e-6
    for i, j in [(0, 0), (1, 5), (0, 31)]:
        plus = [{k: v.copy() for k, v in layer.items()} for layer in np_params]
        minus = [{k: v.copy() for k, v in layer.items()} for layer in np_params]
        plus[0]["w"][i, j] += eps
        minus[0]["w"][i, j] -= eps
        numeric = (np_loss(plus) - np_loss(minus)) / (2 * eps)
        np.testing.assert_allclose(np.asarray(grads[0]["w"])[i, j], numeric, rtol=1e-5, atol=1e-9)

    norms = fxgrad.vmap(fit_mlp.example_grad_norm, in_axes=(None, 0, 0))(params, x, y)
    for k in range(len(x)):
        single = fit_mlp.example_grad_norm(params, fnp.asarray(x[k]), fnp.asarray(y[k]))
        np.testing.assert_allclose(np.asarray(norms)[k], float(single), rtol=1e-10)


def test_fit_mlp_runs_as_a_script() -> None:
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "fit_mlp.py")],
        env={"FXGRAD_DEMO_STEPS": "120", "PATH": "", "PYTHONPATH": str(EXAMPLES.parent)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "lower)" in result.stdout


# ---------------------------------------------------------------------------------------
# Command-line entry points: python -m fxgrad, python -m benchmarks
# ---------------------------------------------------------------------------------------

ROOT = EXAMPLES.parent


def _run_module(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_fxgrad_info() -> None:
    result = _run_module("fxgrad", "info")
    assert result.returncode == 0, result.stderr
    assert f"fxgrad           {fxgrad.__version__}" in result.stdout
    assert "default float    float64" in result.stdout
    assert f"numpy            {np.__version__}" in result.stdout


def test_fxgrad_demo_passes_arguments_on() -> None:
    result = _run_module("fxgrad", "demo", "--steps", "2", "--min-improvement", "0")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 steps in" in result.stdout


def test_fxgrad_rejects_unknown_command() -> None:
    result = _run_module("fxgrad", "train")
    assert result.returncode == 2
    assert "invalid choice: 'train'" in result.stderr


def test_benchmarks_quick_run() -> None:
    result = _run_module("benchmarks", "--quick", "eager")
    assert result.returncode == 0, result.stdout + result.stderr
    for title in ("Eager op, per call", "Eager grad, per call", "Call of a compiled jit function"):
        assert title in result.stdout
    assert "| add (4,)" in result.stdout and "fxgrad/numpy" in result.stdout


def test_benchmark_table_leaves_out_missing_libraries() -> None:
    from benchmarks._timing import Table

    table = Table("t", columns=["numpy", "fxgrad", "jax"], ratios=[("fxgrad", "jax")])
    table.add("op", {"numpy": 1e-6, "fxgrad": 5e-6, "jax": None})
    text = table.render()
    assert "numpy" in text and "fxgrad" in text
    assert "jax" not in text  # no times: no column and no ratio
    assert "5.0 us" in text
