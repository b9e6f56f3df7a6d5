"""Generate the table of ``docs/primitives_lowering.md``: what ``jit`` compiles each primitive to.

Run ``python docs/primitives_lowering.py`` to print the table, or with ``--write`` to
replace the table of the page (between its ``<!-- table start -->`` and
``<!-- table end -->`` markers). ``tests/test_primitives_lowering_doc.py`` checks that the
page holds exactly what this script prints, so a new primitive, or a primitive whose
lowering changed, fails that test until the script is run again.

Where each column comes from:

* the primitive list is the registry ``fxgrad.lax._define.primitives``;
* the family is the module that assigns the primitive to its ``<name>_p`` variable
  (found in the module's source, as imports of the same variable are not assignments);
* the lowering class is derived from the primitive's kernel class
  (``kernel_classes``) and the tables of ``fxgrad.lowering.fusion`` that turn kernel
  classes into generated code (``ELEMENTWISE_LOWERINGS``, the index-map primitives,
  ``kernel_ir.COMBINERS``); ``call`` primitives are inlined when their body is the
  parameter fusion looks for (``jaxpr``, or ``call_jaxpr`` of a custom-derivative
  call), and ``control`` primitives run as ``fxgrad.lowering.control.control_step``
  builds them;
* for every primitive that runs a library routine or its NumPy ``impl`` rather than
  generated code, the library and the reason are kept by hand in ``REASONS`` below,
  written from reading the primitive's ``impl``.
"""

from __future__ import annotations

import ast
import inspect
import pathlib
import sys
from dataclasses import dataclass

import fxgrad  # noqa: F401 - registers every primitive
from fxgrad.core import Primitive
from fxgrad.lax._define import kernel_classes, primitives
from fxgrad.lowering import fusion, kernel_ir

PAGE = pathlib.Path(__file__).resolve().parent / "primitives_lowering.md"
START = "<!-- table start -->"
END = "<!-- table end -->"
ROOT = PAGE.parent.parent

# Lowering classes of primitives that become generated code.
FUSED_ELEMENTWISE = "fused elementwise"
IDENTITY = "identity (reads its operand)"
INDEX_MAP = "view or layout (fused index map)"
FUSED_REDUCTION = "fused reduction"
INLINED = "inlined call"
LOOP = "control flow: native loop or compiled body"
BRANCHES = "control flow: compiled branches"
GENERATED = (FUSED_ELEMENTWISE, IDENTITY, INDEX_MAP, FUSED_REDUCTION, INLINED, LOOP, BRANCHES)

# Lowering classes of primitives that run a library routine or their NumPy ``impl``.
BLAS = "BLAS"
BLAS_NUMPY = "BLAS via NumPy"
LAPACK = "LAPACK via NumPy"
FFT = "pocketfft via NumPy"
NUMPY = "NumPy implementation"
CALLBACK = "Python callback"
RAISES = "raises (never runs)"

#: control primitive -> its lowering (``control.control_step``: ``while`` and ``scan``
#: become native loops when their bodies are all kernels, else they call compiled
#: bodies; ``cond`` calls the compiled executable of the branch it picks)
CONTROL = {"while": LOOP, "scan": LOOP, "cond": BRANCHES}

_COLLECTIVE = (
    "a collective over a named `vmap` axis: the vmap that owns the name rewrites it into "
    "a reduction over its batch axis before anything is staged, so a compiled program "
    "never holds it (inside `jit` inside `vmap` it raises `NameError`)"
)

#: primitive -> (lowering class, why it is not generated code), for every primitive
#: that runs a library routine or its NumPy ``impl``
REASONS: dict[str, tuple[str, str]] = {
    # elementwise primitives without a kernel op
    "complex": (NUMPY, "complex result: kernels hold no complex dtype (`kernel_ir.DTYPES`)"),
    "conj": (NUMPY, "complex result: kernels hold no complex dtype"),
    "real": (NUMPY, "complex operand: kernels hold no complex dtype"),
    "imag": (NUMPY, "complex operand: kernels hold no complex dtype"),
    "digamma": (NUMPY, "no kernel op: the vectorised series of `lax/_special.py`"),
    "polygamma": (NUMPY, "no kernel op: Hurwitz zeta by Euler-Maclaurin in `lax/_special.py`"),
    "erf_inv": (NUMPY, "no kernel op: Giles' approximation and Halley steps in `lax/_special.py`"),
    "iota": (NUMPY, "no kernel op makes an index: `np.arange` broadcast to the shape"),
    # layout primitives that are not one affine read of one operand
    "concatenate": (
        NUMPY,
        "`np.concatenate`: each block of the output reads another operand, not one index "
        "map (inside a native loop: a `Window` per operand)",
    ),
    "pad": (
        NUMPY,
        "`np.full` and a strided copy: padded positions read no operand element",
    ),
    # collectives over a named vmap axis
    "psum": (RAISES, _COLLECTIVE),
    "pmean": (RAISES, _COLLECTIVE),
    "pmax": (RAISES, _COLLECTIVE),
    "pmin": (RAISES, _COLLECTIVE),
    "dynamic_slice": (
        NUMPY,
        "start indices are run-time values; a kernel's load offsets are compile-time "
        "constants (inside a native loop it is a `Window` copy)",
    ),
    "dynamic_update_slice": (
        NUMPY,
        "a copy and a slice assignment at run-time start indices (inside a native loop: a "
        "copy and a `Window`)",
    ),
    # reductions and scans the kernel IR does not express
    "argmax": (NUMPY, "`np.argmax`: kernel reductions combine values, not their positions"),
    "argmin": (NUMPY, "`np.argmin`: kernel reductions combine values, not their positions"),
    "cumsum": (NUMPY, "`np.cumsum`: a prefix scan, not a map with trailing reductions"),
    "cumprod": (NUMPY, "`np.cumprod`: a prefix scan, not a map with trailing reductions"),
    "cummax": (NUMPY, "`np.maximum.accumulate`: a prefix scan"),
    "cummin": (NUMPY, "`np.minimum.accumulate`: a prefix scan"),
    "cumlogsumexp": (NUMPY, "`np.logaddexp.accumulate`: a prefix scan"),
    "reduce_window_sum": (
        NUMPY,
        "strided window views reduced by `np.sum`: overlapping windows over any axes",
    ),
    "reduce_window_max": (NUMPY, "strided window views reduced by `np.max`"),
    "reduce_window_min": (NUMPY, "strided window views reduced by `np.min`"),
    "select_and_gather_add": (
        NUMPY,
        "the arg-max/min of each window, then a gather at those data-dependent positions",
    ),
    "select_and_scatter_add": (
        NUMPY,
        "the arg-max/min of each window, then `np.add.at` at those data-dependent positions",
    ),
    # data-dependent indices
    "gather": (NUMPY, "advanced indexing at data-dependent indices"),
    "gather_along_axis": (NUMPY, "`np.take_along_axis` at data-dependent indices"),
    "scatter": (NUMPY, "assignment at data-dependent indices"),
    "scatter-add": (NUMPY, "`np.add.at` at data-dependent, possibly repeated, indices"),
    "scatter-mul": (NUMPY, "`np.multiply.at` at data-dependent, possibly repeated, indices"),
    "scatter-min": (NUMPY, "`np.minimum.at` at data-dependent, possibly repeated, indices"),
    "scatter-max": (NUMPY, "`np.maximum.at` at data-dependent, possibly repeated, indices"),
    "scatter_add_along_axis": (NUMPY, "`np.add.at` at data-dependent indices"),
    # sorting
    "sort": (
        NUMPY,
        "`np.argsort` (stable) or `np.lexsort`: a comparison sort does not fuse",
    ),
    "top_k": (NUMPY, "`np.lexsort` of the last axis, first `k`: a comparison sort"),
    # linear algebra
    "dot_general": (
        BLAS,
        "float operands without batch axes: one `np.dot` on matrix views (big ones split "
        "across threads); others: `np.matmul`, BLAS for float and complex stacks",
    ),
    "conv_general_dilated": (
        BLAS_NUMPY,
        "strided window views (im2col without a copy) contracted by `np.tensordot`, "
        "one per feature group",
    ),
    "cholesky": (LAPACK, "`np.linalg.cholesky` (potrf)"),
    "eig": (LAPACK, "`np.linalg.eig` (geev); left eigenvectors through `np.linalg.inv`"),
    "eigh": (LAPACK, "`np.linalg.eigh` (syevd/heevd)"),
    "svd": (LAPACK, "`np.linalg.svd` (gesdd)"),
    "qr": (LAPACK, "`np.linalg.qr` (geqrf, orgqr)"),
    "geqrf": (LAPACK, "`np.linalg.qr(mode='raw')` (geqrf)"),
    "triangular_solve": (
        LAPACK,
        "`np.linalg.solve` (gesv) on the triangle; substitution row by row, vectorised "
        "over the right-hand sides, when the triangle is singular",
    ),
    "lu": (
        BLAS_NUMPY,
        "NumPy has no LU: blocked partial pivoting, one vectorised step per column and "
        "one matrix product per 32-column panel",
    ),
    "lu_pivots_to_permutation": (
        NUMPY,
        "a sequence of row swaps: one vectorised step per pivot",
    ),
    "fft": (FFT, "`np.fft.fftn`/`ifftn`/`rfftn`/`irfftn`"),
    # random bits
    "threefry2x32": (
        NUMPY,
        "two results (fusion builds one-store kernels): 20 rounds of whole-array uint32 "
        "NumPy arithmetic",
    ),
    "fma": (
        NUMPY,
        "`a * b + c` rounded once, by error-free transformations in NumPy; products "
        "below 2**-960 are rounded exactly, one element at a time",
    ),
    # calls
    "custom_lin": (
        RAISES,
        "only `jvp` of a `custom_vjp` function makes it, and reverse mode transposes it "
        "away; evaluating it raises the forward-mode error",
    ),
    "debug_callback": (
        CALLBACK,
        "calls the user's function once per call, in program order (effectful: never removed)",
    ),
    "pure_callback": (CALLBACK, "calls the user's function once per call, on whole arrays"),
}


@dataclass(frozen=True)
class Row:
    """One line of the table."""

    family: str
    name: str
    lowering: str
    reason: str


def generated_lowering(prim: Primitive) -> str | None:
    """The lowering class of ``prim`` when ``jit`` makes generated code of it, else None.

    Elementwise, index-map and reduction primitives fuse for the dtypes kernels hold
    (``kernel_ir.DTYPES``); the page's introduction says what happens for the others.
    """
    kind, op = kernel_classes[prim]
    if kind == "elementwise" and op in fusion.ELEMENTWISE_LOWERINGS:
        return IDENTITY if op == "copy" else FUSED_ELEMENTWISE
    # fusion's own list of the primitives it reads through index maps (private to it,
    # and this page documents exactly that pass)
    if kind == "shape" and prim.name in fusion._SHAPE_PRIMITIVES:
        return INDEX_MAP
    if kind == "reduction" and op in kernel_ir.COMBINERS:
        return FUSED_REDUCTION
    if kind == "call" and (_takes_jaxpr(prim) or prim.name in fusion._CUSTOM_CALLS):
        return INLINED  # fusion.inline_calls flattens the bodies of these calls
    if kind == "control":
        return CONTROL.get(prim.name)
    return None


def _takes_jaxpr(prim: Primitive) -> bool:
    """Whether ``prim``'s ``impl`` takes its body as the keyword ``jaxpr``."""
    try:
        return "jaxpr" in inspect.signature(prim.impl).parameters
    except (TypeError, ValueError):
        return False


def families() -> dict[Primitive, str]:
    """Each primitive's family: the source file (relative to the repository) whose module
    assigns it to a ``<name>_p`` variable (modules that import the variable only do not
    count). Modules are searched by name, so the answer does not depend on import order."""
    registered = {id(p): p for p in primitives.values()}
    found: dict[Primitive, str] = {}
    for name in sorted(m for m in sys.modules if m == "fxgrad" or m.startswith("fxgrad.")):
        module = sys.modules[name]
        attrs = {
            a: registered[id(v)]
            for a, v in list(vars(module).items())
            if a.endswith("_p") and id(v) in registered
        }
        if not attrs:
            continue
        path = pathlib.Path(module.__file__).resolve().relative_to(ROOT).as_posix()
        for attr in _assigned_names(module) & attrs.keys():
            found.setdefault(attrs[attr], path)
    return found


def _assigned_names(module: object) -> set[str]:
    """The names ``module``'s source assigns at its top level."""
    try:
        tree = ast.parse(inspect.getsource(module))
    except (OSError, TypeError):
        return set()
    names = set()
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else []
        if isinstance(node, ast.AnnAssign):
            targets = [node.target]
        names.update(t.id for t in targets if isinstance(t, ast.Name))
    return names


def library_primitives() -> dict[str, Primitive]:
    """The registered primitives fxgrad defines (not those a program or a test defines
    with ``fxgrad.extend``): those a module of fxgrad assigns to a ``<name>_p``."""
    family = families()
    return {name: prim for name, prim in primitives.items() if prim in family}


def rows() -> list[Row]:
    """Every primitive fxgrad defines, by family and name."""
    family = families()
    out = []
    for name, prim in library_primitives().items():
        lowering, reason = generated_lowering(prim), ""
        if lowering is None:
            lowering, reason = REASONS.get(name, (NUMPY, ""))
        out.append(Row(family[prim], name, lowering, reason))
    return sorted(out, key=lambda r: (r.family, r.name))


def stale_reasons() -> list[str]:
    """Names in ``REASONS`` that are not primitives running library code or ``impl``."""
    stale = []
    for name in REASONS:
        prim = primitives.get(name)
        if prim is None or generated_lowering(prim) is not None:
            stale.append(name)
    return stale


def table(table_rows: list[Row] | None = None) -> str:
    """The markdown of the table: one section per family."""
    table_rows = rows() if table_rows is None else table_rows
    lines: list[str] = []
    current = None
    for row in table_rows:
        if row.family != current:
            current = row.family
            if lines:
                lines.append("")
            lines += [
                f"### `{current}`",
                "",
                "| Primitive | Lowering | Library or NumPy code, and why |",
                "| --- | --- | --- |",
            ]
        lines.append(f"| `{row.name}` | {row.lowering} | {row.reason} |")
    return "\n".join(lines)


def page_table(text: str) -> str:
    """The table currently between the markers of the page ``text``."""
    start = text.index(START) + len(START)
    return text[start : text.index(END)].strip("\n")


def write(text: str, new_table: str) -> str:
    """``text`` with the table between its markers replaced by ``new_table``."""
    start = text.index(START) + len(START)
    return text[:start] + "\n" + new_table + "\n" + text[text.index(END) :]


def main(argv: list[str]) -> None:
    new_table = table()
    if "--write" in argv:
        PAGE.write_text(write(PAGE.read_text(), new_table))
    else:
        print(new_table)


if __name__ == "__main__":
    main(sys.argv[1:])
