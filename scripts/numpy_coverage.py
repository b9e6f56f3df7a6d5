"""Measure how much of NumPy's top-level API ``fxgrad.numpy`` covers; write the report.

Every public top-level callable of the installed NumPy (functions and ufuncs from
``numpy.__all__``; classes, dtypes, constants and submodules excluded) is listed as
supported when ``fxgrad.numpy`` has a callable of that name, or as not supported with
the reason from ``REASONS`` below. ``numpy.linalg`` and ``numpy.fft`` are listed the
same way against ``fxgrad.numpy.linalg`` and ``fxgrad.numpy.fft``. Names that
``fxgrad.numpy`` takes over from NumPy itself (host-side helpers such as
``get_printoptions``) are marked as such.

Usage::

    python scripts/numpy_coverage.py          # rewrite docs/numpy_coverage.md
    python scripts/numpy_coverage.py --check  # exit 1 if the committed file is stale

``tests/test_numpy_coverage.py`` runs ``--check``'s comparison and also calls the
supported functions, so the count is measured rather than claimed.
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import types
from dataclasses import dataclass

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "numpy_coverage.md"

if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

# Why a NumPy function is not in fxgrad.numpy, by category.
_CATEGORIES: dict[str, tuple[str, list[str]]] = {
    "io": (
        "file I/O: read or write files with NumPy on np.asarray(x)",
        [
            "fromfile",
            "fromregex",
            "genfromtxt",
            "load",
            "loadtxt",
            "save",
            "savetxt",
            "savez",
            "savez_compressed",
        ],
    ),
    "datetime": (
        "datetime and business-day functions: fxgrad has no datetime dtypes",
        [
            "busday_count",
            "busday_offset",
            "datetime_as_string",
            "datetime_data",
            "is_busday",
            "isnat",
        ],
    ),
    "layout": (
        "memory layout and aliasing: fxgrad arrays are immutable and always C-contiguous",
        [
            "ascontiguousarray",
            "asfortranarray",
            "isfortran",
            "may_share_memory",
            "nested_iters",
            "require",
            "shares_memory",
        ],
    ),
    "inplace": (
        "in-place mutation: arrays are immutable; use fnp.where or x.at[idx].set(v)",
        ["copyto", "putmask"],
    ),
    "strings": (
        "string formatting: format np.asarray(x) with NumPy",
        [
            "array2string",
            "base_repr",
            "binary_repr",
            "format_float_positional",
            "format_float_scientific",
        ],
    ),
    "typecodes": ("legacy type-code strings: use dtypes", ["mintypecode", "typename"]),
    "matrix": ("the deprecated numpy.matrix class", ["asmatrix", "bmat"]),
    "fp_state": (
        "NumPy's global floating-point error state: fxgrad reports NaNs through config.debug_nans",
        ["geterr", "geterrcall", "getbufsize", "seterr", "seterrcall", "setbufsize"],
    ),
    "objects": ("Python-object ufuncs: no object arrays", ["frompyfunc"]),
    "environment": (
        "build and environment introspection of NumPy itself",
        ["get_include", "info", "show_config", "show_runtime", "test"],
    ),
}

REASONS: dict[str, str] = {name: reason for reason, names in _CATEGORIES.values() for name in names}
UNKNOWN = "NOT LISTED: add a reason to REASONS in scripts/numpy_coverage.py or implement it"


@dataclass(frozen=True)
class Entry:
    """One NumPy function: its kind, whether fxgrad has it, and why not."""

    name: str
    kind: str  # "ufunc" or "function"
    supported: bool
    note: str


def numpy_callables(module: types.ModuleType = np) -> list[str]:
    """The public callables of a NumPy namespace, excluding classes and submodules."""
    names = getattr(module, "__all__", None) or [n for n in dir(module) if not n.startswith("_")]
    out = []
    for name in sorted(set(names)):
        obj = getattr(module, name, None)
        if obj is None or isinstance(obj, (types.ModuleType, type)) or not callable(obj):
            continue
        out.append(name)
    return out


def _entries(np_module: types.ModuleType, fx_module: types.ModuleType, reasons: dict) -> list:
    entries = []
    for name in numpy_callables(np_module):
        ours = getattr(fx_module, name, None)
        np_obj = getattr(np_module, name)
        kind = "ufunc" if isinstance(np_obj, np.ufunc) else "function"
        if ours is not None and callable(ours):
            note = "NumPy's own (host-side helper)" if ours is np_obj else ""
            entries.append(Entry(name, kind, True, note))
        else:
            entries.append(Entry(name, kind, False, reasons.get(name, UNKNOWN)))
    return entries


def coverage() -> list[Entry]:
    """Every NumPy top-level function with its status in ``fxgrad.numpy``."""
    import fxgrad.numpy as fnp

    return _entries(np, fnp, REASONS)


def submodule_coverage(name: str) -> list[Entry]:
    """``numpy.<name>`` (``linalg`` or ``fft``) against ``fxgrad.numpy.<name>``."""
    import importlib

    np_module = importlib.import_module(f"numpy.{name}")
    fx_module = importlib.import_module(f"fxgrad.numpy.{name}")
    return _entries(np_module, fx_module, {})


def _table(entries: list[Entry]) -> list[str]:
    lines = ["| function | kind | status | note |", "|---|---|---|---|"]
    for e in entries:
        status = "supported" if e.supported else "not supported"
        lines.append(f"| `{e.name}` | {e.kind} | {status} | {e.note} |")
    return lines


def render() -> str:
    """The Markdown report, deterministic for a given NumPy and fxgrad."""
    entries = coverage()
    supported = [e for e in entries if e.supported]
    missing = [e for e in entries if not e.supported]
    lines = [
        "# NumPy API coverage",
        "",
        "<!-- Generated by scripts/numpy_coverage.py: do not edit by hand. -->",
        "",
        f"Measured against NumPy {np.__version__}: every public top-level callable in "
        "`numpy.__all__` (functions and ufuncs; classes, dtypes, constants and submodules "
        "excluded). A function counts as supported when `fxgrad.numpy` has a callable of that "
        "name; `tests/test_numpy_coverage.py` calls the supported functions and compares them "
        "with NumPy.",
        "",
        f"**{len(supported)} of {len(entries)} NumPy top-level functions are supported** "
        f"({100 * len(supported) / len(entries):.1f}%); {len(missing)} are not.",
        "",
        "## Not supported, by reason",
        "",
    ]
    by_reason: dict[str, list[str]] = {}
    for e in missing:
        by_reason.setdefault(e.note, []).append(e.name)
    for reason, names in sorted(by_reason.items()):
        lines.append(f"- {reason}: " + ", ".join(f"`{n}`" for n in names))
    for sub in ("linalg", "fft"):
        sub_entries = submodule_coverage(sub)
        count = sum(e.supported for e in sub_entries)
        lines += ["", f"## numpy.{sub}", ""]
        lines.append(
            f"**{count} of {len(sub_entries)}** `numpy.{sub}` functions are in "
            f"`fxgrad.numpy.{sub}`."
        )
        absent = [e.name for e in sub_entries if not e.supported]
        if absent:
            lines.append("Not supported: " + ", ".join(f"`{n}`" for n in absent) + ".")
        lines += [""] + _table(sub_entries)
    lines += ["", "## Top-level functions", ""] + _table(entries)
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the report is stale")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        if not DOC.exists() or DOC.read_text() != text:
            print(f"{DOC} is out of date: run python scripts/numpy_coverage.py", file=sys.stderr)
            return 1
        return 0
    DOC.write_text(text)
    entries = coverage()
    print(f"{sum(e.supported for e in entries)} of {len(entries)} supported; wrote {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
