"""W5: time to first result of W1 and W3 (trace + compile + first call), in fresh processes.

Each measurement runs ``sys.executable -c ...`` in a new process, which imports the
library (timed separately), builds the inputs (not timed), then times one
``jit(f)(*args)`` up to the moment its result is a NumPy array:

* fxgrad cold: ``FXGRAD_CACHE_DIR`` is a fresh empty directory, so every kernel is
  compiled;
* fxgrad warm: a second fresh process with the same cache directory, so the kernels'
  object code is read from disk (tracing and lowering still run);
* JAX: a fresh process with JAX's persistent compilation cache off.

W1 is the fused chain on 2**22 elements (2**16 with ``--quick``), W3 the MLP training
step. Each is repeated ``min(settings.repeat, 3)`` times (once with ``--quick``), each cold
run with its own new cache directory, and the median is reported.
Run with ``python -m benchmarks startup``.
"""

from __future__ import annotations

import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from ._libs import optional
from ._timing import Settings, Table, register

_ROOT = pathlib.Path(__file__).resolve().parent.parent
_WORKLOADS = ("W1", "W3")


def _workload(workload: str, library: str, small: bool) -> tuple[Callable, tuple]:
    """The function to jit and its arguments, for ``library`` ("fxgrad" or "jax")."""
    from benchmarks import jit_workloads, training

    if library == "fxgrad":
        import fxgrad as api
        import fxgrad.numpy as np_like
    else:
        import jax as api
        import jax.numpy as np_like
    if workload == "W1":
        rng = np.random.default_rng(5)
        n = 1 << (16 if small else 22)
        x, y = (rng.standard_normal(n).astype(np.float32) for _ in range(2))
        return jit_workloads.chain(np_like), (np_like.asarray(x), np_like.asarray(y))
    params = api.tree_util.tree_map(np_like.asarray, training.init_params())
    x, y = training.make_batch()
    step = training.make_step(api, training.make_loss(np_like))
    return step, (params, np_like.asarray(x), np_like.asarray(y))


def child(library: str, workload: str, small: bool) -> None:
    """Runs in the fresh process: prints ``{"import": s, "first": s}`` as JSON."""
    if library == "jax":
        _workload(workload, "fxgrad", small)  # imports the benchmark modules, untimed
    start = time.perf_counter()
    api = optional(library)
    if library == "jax":
        api.config.update("jax_enable_x64", True)
        api.config.update("jax_enable_compilation_cache", False)
    imported = time.perf_counter()
    fn, args = _workload(workload, library, small)
    begin = time.perf_counter()
    out = api.jit(fn)(*args)
    leaves = [np.asarray(leaf) for leaf in api.tree_util.tree_leaves(out)]
    first = time.perf_counter() - begin
    assert all(np.isfinite(leaf).all() for leaf in leaves), f"{library} {workload}"
    print(json.dumps({"import": imported - start, "first": first}))


def _run_child(library: str, workload: str, small: bool, cache_dir: str | None) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(_ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["JAX_PLATFORMS"] = "cpu"
    if cache_dir is not None:
        env["FXGRAD_CACHE_DIR"] = cache_dir
    code = f"from benchmarks.startup import child; child({library!r}, {workload!r}, {small!r})"
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if result.returncode != 0:
        raise RuntimeError(f"W5 {library} {workload} failed:\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def _samples(settings: Settings, workload: str, jax: bool) -> dict[str, list[dict]]:
    """Per column, the child reports of ``repeat`` cold/warm/JAX runs of ``workload``."""
    repeat = 1 if settings.small else min(settings.repeat, 3)
    samples: dict[str, list[dict]] = {"fxgrad cold": [], "fxgrad warm": [], "jax": []}
    for _ in range(repeat):
        with tempfile.TemporaryDirectory(prefix="fxgrad-w5-") as cache_dir:
            samples["fxgrad cold"].append(_run_child("fxgrad", workload, settings.small, cache_dir))
            samples["fxgrad warm"].append(_run_child("fxgrad", workload, settings.small, cache_dir))
        if jax:
            samples["jax"].append(_run_child("jax", workload, settings.small, None))
    return samples


def _median(reports: list[dict], key: str) -> float | None:
    return statistics.median(r[key] for r in reports) if reports else None


@register("startup", "W5: time to first result of W1 and W3 in a fresh process")
def run(settings: Settings) -> list[Table]:
    has_jax = optional("jax") is not None
    table = Table(
        "W5: time to first result (trace + compile + first call), fresh process",
        ["fxgrad cold", "fxgrad warm", "jax"],
        ratios=[("fxgrad cold", "jax"), ("fxgrad warm", "fxgrad cold")],
    )
    imports: dict[str, list[dict]] = {"fxgrad cold": [], "fxgrad warm": [], "jax": []}
    for workload in _WORKLOADS:
        samples = _samples(settings, workload, has_jax)
        times: dict[str, Any] = {name: _median(s, "first") for name, s in samples.items()}
        table.add(f"{workload} first result", times)
        for name, reports in samples.items():
            imports[name] += reports
    table.add("import", {name: _median(r, "import") for name, r in imports.items()})
    return [table]
