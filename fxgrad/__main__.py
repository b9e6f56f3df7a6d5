"""``python -m fxgrad demo | bench | info``.

* ``info``: versions (fxgrad, Python, NumPy, llvmlite and LLVM), default dtypes, devices.
* ``demo``: runs ``examples/fit_mlp.py`` (extra arguments are passed on to it).
* ``bench``: runs the ``benchmarks`` package (extra arguments are passed on to it).

``demo`` and ``bench`` need a source checkout: the examples and benchmarks are not
part of the installed package.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import pathlib
import platform
import runpy
import sys

import numpy as np

import fxgrad

_CHECKOUT = pathlib.Path(__file__).resolve().parent.parent


def _version_of(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _llvm_text() -> str:
    try:
        import llvmlite
        import llvmlite.binding as llvm
    except ImportError:
        return "not installed"
    llvm_version = ".".join(str(v) for v in llvm.llvm_version_info)
    return f"{llvmlite.__version__} (LLVM {llvm_version})"


def info() -> int:
    from fxgrad import dtypes

    rows = [
        ("fxgrad", f"{fxgrad.__version__} ({pathlib.Path(fxgrad.__file__).parent})"),
        ("python", f"{platform.python_version()} ({platform.machine()}, {platform.system()})"),
        ("numpy", np.__version__),
        ("llvmlite", _llvm_text()),
        ("cupy", _version_of("cupy-cuda12x") if _has_cupy() else "not installed"),
        ("default float", np.dtype(dtypes.default_float_dtype()).name),
        ("default int", np.dtype(dtypes.default_int_dtype()).name),
        ("default backend", fxgrad.default_backend()),
        ("devices", ", ".join(repr(d) for d in fxgrad.devices())),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name.ljust(width)}  {value}")
    return 0


def _has_cupy() -> bool:
    import importlib.util

    return importlib.util.find_spec("cupy") is not None


def _need_checkout(what: pathlib.Path) -> None:
    if not what.exists():
        raise SystemExit(
            f"python -m fxgrad: {what} not found. The demo and the benchmarks live in the "
            "source checkout, not in the installed package: run this from a clone of the "
            "repository (for example `make demo` / `make bench`)."
        )


def demo(args: list[str]) -> int:
    script = _CHECKOUT / "examples" / "fit_mlp.py"
    _need_checkout(script)
    sys.argv = [str(script), *args]
    try:
        runpy.run_path(str(script), run_name="__main__")
    except SystemExit as exit_:
        return int(exit_.code or 0)
    return 0


def bench(args: list[str]) -> int:
    _need_checkout(_CHECKOUT / "benchmarks" / "__main__.py")
    sys.path.insert(0, str(_CHECKOUT))
    from benchmarks.__main__ import main as bench_main

    return bench_main(args)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = argparse.ArgumentParser(
        prog="python -m fxgrad",
        description="fxgrad's command line. Arguments after demo / bench are passed on.",
    )
    parser.add_argument("command", choices=["demo", "bench", "info"])
    # Only the command is parsed here, so that `demo --steps 10` reaches the demo.
    ns = parser.parse_args(argv[:1])
    rest = argv[1:]
    if ns.command == "info":
        if rest:
            parser.error(f"info takes no arguments, got {rest}")
        return info()
    if ns.command == "demo":
        return demo(rest)
    return bench(rest)


if __name__ == "__main__":
    sys.exit(main())
