"""``python -m benchmarks [NAME ...] [--quick] [--list]``: run the benchmark modules.

Every module of this package whose name does not start with ``_`` is imported; each
registers its entry point with ``benchmarks._timing.register``. Without names, all of
them run, in alphabetical order.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import os
import pkgutil
import platform
import sys
import time

import numpy as np

import benchmarks
import fxgrad

from ._timing import Settings, registered


def discover() -> None:
    """Import every public module of the package, so that each registers itself."""
    for info in pkgutil.iter_modules(benchmarks.__path__):
        if not info.name.startswith("_"):
            importlib.import_module(f"benchmarks.{info.name}")


def _versions() -> str:
    parts = [f"fxgrad {fxgrad.__version__}", f"numpy {np.__version__}"]
    for name in ("autograd", "jax", "torch"):
        try:
            parts.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            parts.append(f"{name} not installed")
    return ", ".join(parts)


def _machine() -> str:
    """CPU count, load average and the BLAS thread setting: what a reader needs to judge."""
    parts = [f"{os.cpu_count()} CPUs"]
    if hasattr(os, "getloadavg"):
        parts.append("load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    blas = os.environ.get("OPENBLAS_NUM_THREADS")
    parts.append(f"OPENBLAS_NUM_THREADS={blas}" if blas else "OPENBLAS_NUM_THREADS unset")
    return ", ".join(parts)


def main(argv: list[str] | None = None) -> int:
    discover()
    available = registered()
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("names", nargs="*", help=f"benchmarks to run: {', '.join(available)}")
    parser.add_argument("--quick", action="store_true", help="few short samples (smoke test)")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    args = parser.parse_args(argv)

    if args.list:
        for name, bench in sorted(available.items()):
            print(f"{name}: {bench.description}")
        return 0
    unknown = [n for n in args.names if n not in available]
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}; available: {sorted(available)}")
    names = args.names or sorted(available)
    settings = Settings.quick() if args.quick else Settings()

    print(f"# fxgrad benchmarks ({_versions()})")
    print(
        f"# Python {platform.python_version()} on {platform.machine()}, median of "
        f"{settings.repeat} samples of >= {settings.min_sample * 1e3:g} ms each"
    )
    print(f"# {_machine()}")
    for name in names:
        bench = available[name]
        print(f"\n## {name}: {bench.description}\n")
        start = time.perf_counter()
        for table in bench.run(settings):
            print(table.render())
            print()
        print(f"({name} took {time.perf_counter() - start:.1f} s; {_machine()})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
