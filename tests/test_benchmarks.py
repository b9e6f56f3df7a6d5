"""Smoke tests of the benchmark modules: each runs in ``--quick`` mode and prints its tables.

Every benchmark checks fxgrad's result against a NumPy reference (backpropagation,
Hessian or loop by hand) before it times anything, so these runs also fail when a
workload computes a wrong value. Nothing here asserts on a time.
"""

from __future__ import annotations

import pathlib
import re
import subprocess
import sys
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent

# Module name -> the table titles its quick run must print.
QUICK_RUNS = {
    "training": ("W3: jitted training step", "W6: per-example gradients"),
    "derivatives": ("W7: jit(hessian(f))", "Wwhere: jit(grad("),
    "control_flow": ("W8a: jit(fori_loop)", "W8b: jit(grad) of a scan RNN", "W8c: jit(vmap("),
    "startup": ("W5: time to first result",),
}


@pytest.mark.parametrize("name", sorted(QUICK_RUNS))
def test_benchmark_module_quick_run(name: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", name],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for title in QUICK_RUNS[name]:
        assert f"### {title}" in result.stdout, result.stdout
    assert re.search(r"\| +\d+\.\d+ (us|ms|s) \|", result.stdout), result.stdout


def test_benchmarks_list_names_every_module() -> None:
    from benchmarks.__main__ import discover
    from benchmarks._timing import registered

    discover()
    assert set(QUICK_RUNS) | {"eager", "jit_workloads"} <= set(registered())


def test_measure_caps_the_samples_of_a_slow_call_at_the_budget() -> None:
    from benchmarks._timing import Settings, measure

    calls = []

    def slow() -> None:
        calls.append(None)
        time.sleep(0.02)

    seconds = measure(slow, Settings(repeat=50, min_sample=0.001, budget=0.1))
    # one warm-up call, then at most budget / 0.02 = 5 samples of one call each
    assert 2 <= len(calls) <= 6
    assert seconds >= 0.02


def test_ratios_keep_two_decimals_below_ten() -> None:
    from benchmarks._timing import format_ratio

    assert format_ratio(0.2149, 1.0) == "0.21x"
    assert format_ratio(3.0, 1.0) == "3.00x"
    assert format_ratio(123.45, 1.0) == "123.5x"
    assert format_ratio(1.0, None) == "-"
