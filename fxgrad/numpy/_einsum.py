"""``einsum`` and ``einsum_path``: Einstein summation as a sequence of ``dot_general`` s.

A specification (``"ij,jk->ik"``, or NumPy's interleaved form
``einsum(a, [0, 1], b, [1, 2], [0, 2])``) is parsed into one tuple of *labels* per
operand plus the output labels. Letters are labels; the axes covered by ``...`` get
integer labels, right-aligned across operands so that they broadcast as NumPy does.

Evaluation, all with primitives (so it differentiates and batches like any other code):

1. a label repeated within one operand selects a diagonal: ``select_n`` against an
   identity mask, then ``reduce_sum`` over the repeated axes (gather-free, and a NaN
   off the diagonal does not leak into the result, as in NumPy);
2. an axis of size 1 whose label has a larger size elsewhere is squeezed (NumPy
   broadcasts such axes, even for letters);
3. labels found in one operand only and absent from the output are summed out;
4. operands are contracted pairwise along a *path*, each step one ``dot_general``
   whose batch dimensions are the shared labels still needed later and whose
   contracting dimensions are the shared labels needed nowhere else;
5. the last operand is summed and transposed to the output order.

The path is left to right for ``optimize=False`` and greedy otherwise: among pairs
sharing a label, contract the pair with the smallest intermediate first (the
"greedy" heuristic of opt_einsum, https://optimized-einsum.readthedocs.io).
``einsum_path`` reports the same path in NumPy's format.
"""

from __future__ import annotations

import math
import string
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from fxgrad.core import get_aval
from fxgrad.errors import ShapeError
from fxgrad.lax import elementwise as ew
from fxgrad.lax import linalg as llinalg
from fxgrad.lax import reduction as red
from fxgrad.lax import shape as lshape
from fxgrad.numpy._util import asarray_value, promote_dtypes

__all__ = ["einsum", "einsum_path"]

Label = str | int  # a letter, or the position of an axis inside the broadcast ``...``

_OPTIMIZE_CHOICES = ("greedy", "optimal", "auto", "dp", "branch-2", "branch-all")


@dataclass(frozen=True)
class _Spec:
    """A parsed einsum specification: labels per operand, output labels, label sizes."""

    inputs: tuple[tuple[Label, ...], ...]
    output: tuple[Label, ...]
    sizes: dict[Label, int]
    text: str  # the specification as a string, for messages and einsum_path


# --- parsing ------------------------------------------------------------------------------


def _interleaved_to_string(args: Sequence[Any]) -> tuple[str, list[Any]]:
    """``(a, [0, 1], b, [1, 2], [0, 2])`` -> ``("Ab,bC->AC", [a, b])`` (NumPy's form)."""
    operands = list(args[0::2])
    sublists = list(args[1::2])
    output = None
    if len(args) % 2 == 1:
        output = operands.pop()
        if not isinstance(output, (list, tuple)):
            raise ValueError(
                "fxgrad.numpy.einsum: in the interleaved form einsum(a, sub_a, b, sub_b, "
                f"..., [sub_out]) the output subscripts must be a list, got {output!r}"
            )
    terms = [_sublist_to_string(s, i) for i, s in enumerate(sublists)]
    text = ",".join(terms)
    if output is not None:
        text += "->" + _sublist_to_string(output, "output")
    return text, operands


def _sublist_to_string(sublist: Any, which: Any) -> str:
    if not isinstance(sublist, (list, tuple)):
        raise ValueError(
            f"fxgrad.numpy.einsum: subscripts of operand {which} must be a list of ints "
            f"(or Ellipsis) in the interleaved form, got {sublist!r}"
        )
    out = []
    for s in sublist:
        if s is Ellipsis:
            out.append("...")
        elif isinstance(s, (int, np.integer)) and not isinstance(s, bool) and 0 <= s < 52:
            # ints keep their numeric order as letters: 0..25 -> A..Z, 26..51 -> a..z
            out.append(string.ascii_uppercase[s] if s < 26 else string.ascii_lowercase[s - 26])
        else:
            raise ValueError(
                f"fxgrad.numpy.einsum: subscript {s!r} of operand {which} is not an int in "
                "[0, 52) or Ellipsis"
            )
    return "".join(out)


def _split_term(term: str, where: str) -> tuple[list[str], list[str], bool]:
    """Letters before and after ``...`` of one term, and whether it has an ellipsis."""
    if term.count("...") > 1 or term.replace("...", "").count(".") > 0:
        raise ValueError(
            f"fxgrad.numpy.einsum: subscripts {term!r} of {where} contain a '.' that is not "
            "part of a single ellipsis '...'"
        )
    for ch in term.replace("...", ""):
        if ch not in string.ascii_letters:
            raise ValueError(
                f"fxgrad.numpy.einsum: invalid subscript {ch!r} in {where} ({term!r}); "
                "subscripts must be letters a-z, A-Z (or '...')"
            )
    if "..." in term:
        before, after = term.split("...")
        return list(before), list(after), True
    return list(term), [], False


def _parse(subscripts: str, shapes: Sequence[tuple[int, ...]]) -> _Spec:
    text = "".join(subscripts.split())
    stray = text.replace("->", "", 1)
    if "-" in stray or ">" in stray:
        raise ValueError(
            f"fxgrad.numpy.einsum: subscripts {subscripts!r} must contain at most one '->'"
        )
    in_text, arrow, out_text = text.partition("->")
    terms = in_text.split(",")
    if len(terms) != len(shapes):
        raise ValueError(
            f"fxgrad.numpy.einsum: subscripts {subscripts!r} name {len(terms)} operand(s) "
            f"but {len(shapes)} operand(s) were given"
        )
    parsed = [_split_term(t, f"operand {i}") for i, t in enumerate(terms)]
    ell_ndims = []
    for i, ((before, after, has_ell), shape) in enumerate(zip(parsed, shapes, strict=True)):
        named = len(before) + len(after)
        if (not has_ell and named != len(shape)) or named > len(shape):
            raise ShapeError(
                f"fxgrad.numpy.einsum: subscripts {terms[i]!r} of operand {i} name {named} "
                f"axes, but the operand has shape {tuple(shape)} (rank {len(shape)}); use "
                "'...' to stand for any remaining axes"
            )
        ell_ndims.append(len(shape) - named)
    n_ell = max(ell_ndims, default=0)
    inputs = []
    for (before, after, _), e in zip(parsed, ell_ndims, strict=True):
        inputs.append((*before, *range(n_ell - e, n_ell), *after))
    if arrow:
        output = _explicit_output(out_text, inputs, n_ell, subscripts)
    else:
        counts: dict[Label, int] = {}
        for labels in inputs:
            for label in labels:
                counts[label] = counts.get(label, 0) + 1
        once = sorted(lbl for lbl, c in counts.items() if isinstance(lbl, str) and c == 1)
        output = (*range(n_ell), *once)
    sizes = _label_sizes(inputs, shapes, subscripts)
    return _Spec(tuple(inputs), tuple(output), sizes, _spec_text(inputs, output))


def _explicit_output(
    out_text: str, inputs: list[tuple[Label, ...]], n_ell: int, subscripts: str
) -> tuple[Label, ...]:
    before, after, has_ell = _split_term(out_text, "the output")
    seen = {lbl for labels in inputs for lbl in labels}
    letters = before + after
    for ch in letters:
        if ch not in seen:
            raise ValueError(
                f"fxgrad.numpy.einsum: output subscript {ch!r} in {subscripts!r} does not "
                "appear in any input"
            )
        if letters.count(ch) > 1:
            raise ValueError(
                f"fxgrad.numpy.einsum: output subscript {ch!r} appears more than once in "
                f"{subscripts!r}"
            )
    if not has_ell and n_ell:
        raise ValueError(
            f"fxgrad.numpy.einsum: the operands of {subscripts!r} have {n_ell} axes under "
            "'...', but the output has no '...'; add '...' to the output to keep them (or "
            "name the axes to sum them)"
        )
    return (*before, *range(n_ell), *after)


def _label_sizes(
    inputs: Sequence[tuple[Label, ...]], shapes: Sequence[tuple[int, ...]], subscripts: str
) -> dict[Label, int]:
    """The size of every label; a size-1 axis broadcasts against a larger one."""
    sizes: dict[Label, int] = {}
    where: dict[Label, int] = {}
    for i, (labels, shape) in enumerate(zip(inputs, shapes, strict=True)):
        for axis, (label, size) in enumerate(zip(labels, shape, strict=True)):
            if labels.index(label) != axis and shape[labels.index(label)] != size:
                raise ShapeError(
                    f"fxgrad.numpy.einsum: label {_label_name(label)!r} is repeated in the "
                    f"subscripts of operand {i} (shape {tuple(shape)}) to take a diagonal, "
                    f"but its axes have different sizes ({shape[labels.index(label)]} != "
                    f"{size})"
                )
            old = sizes.get(label)
            if old is None or old == 1:
                sizes[label] = size
                where[label] = i
            elif size not in (1, old):
                j = where[label]
                raise ShapeError(
                    f"fxgrad.numpy.einsum: label {_label_name(label)!r} in {subscripts!r} has "
                    f"size {old} in operand {j} (shape {tuple(shapes[j])}) but size {size} in "
                    f"operand {i} (shape {tuple(shape)})"
                )
    return sizes


def _label_name(label: Label) -> str:
    return label if isinstance(label, str) else f"...[{label}]"


def _spec_text(inputs: Sequence[tuple[Label, ...]], output: tuple[Label, ...]) -> str:
    """The specification with ellipsis axes given unused letters (as NumPy prints it)."""
    used = {lbl for labels in inputs for lbl in labels if isinstance(lbl, str)}
    spare = iter(c for c in string.ascii_letters if c not in used)
    names: dict[Label, str] = {}
    for labels in (*inputs, output):
        for lbl in labels:
            if lbl not in names:
                names[lbl] = lbl if isinstance(lbl, str) else next(spare)
    return (
        ",".join("".join(names[x] for x in t) for t in inputs)
        + "->"
        + "".join(names[x] for x in output)
    )


def _parse_args(subscripts: Any, operands: Sequence[Any]) -> tuple[str, list[Any]]:
    if isinstance(subscripts, str):
        return subscripts, list(operands)
    return _interleaved_to_string((subscripts, *operands))


# --- paths --------------------------------------------------------------------------------


def _size(labels: Any, sizes: dict[Label, int]) -> int:
    return math.prod(sizes[lbl] for lbl in labels)


def _kept_after(
    i: int, j: int, sets: list[frozenset], output: frozenset
) -> tuple[frozenset, frozenset]:
    """Labels kept and removed when operands ``i`` and ``j`` are contracted."""
    others = output.union(*(s for k, s in enumerate(sets) if k not in (i, j)))
    both = sets[i] | sets[j]
    return both & others, both - others


def _greedy_path(
    inputs: Sequence[tuple[Label, ...]], output: tuple[Label, ...], sizes: dict[Label, int]
) -> list[tuple[int, ...]]:
    """Contract, among pairs sharing a label, the pair with the smallest result first.

    Ties go to the pair that removes the most elements, then to the leftmost pair;
    outer products (pairs sharing nothing) wait until no other pair is left.
    """
    sets = [frozenset(t) for t in inputs]
    out = frozenset(output)
    path: list[tuple[int, ...]] = []
    while len(sets) > 1:
        best = None
        for i in range(len(sets)):
            for j in range(i + 1, len(sets)):
                kept, _ = _kept_after(i, j, sets, out)
                result = _size(kept, sizes)
                shared = bool(sets[i] & sets[j])
                removed = result - _size(sets[i], sizes) - _size(sets[j], sizes)
                key = (not shared, result, removed, i, j)
                if best is None or key < best[0]:
                    best = (key, i, j, kept)
        _, i, j, kept = best
        path.append((i, j))
        sets = [s for k, s in enumerate(sets) if k not in (i, j)] + [kept]
    return path


def _left_to_right_path(n: int) -> list[tuple[int, ...]]:
    """((a b) c) d ...: each result joins the list at the end, as NumPy's paths expect."""
    if n < 2:
        return []
    return [(0, 1)] + [(0, n - 1 - k) for k in range(1, n - 1)]


def _choose_path(spec: _Spec, optimize: Any) -> list[tuple[int, ...]]:
    n = len(spec.inputs)
    if isinstance(optimize, (list, tuple)):
        return _validate_path(optimize, n)
    if optimize is False:
        return _left_to_right_path(n)
    if optimize is True or optimize is None or optimize in _OPTIMIZE_CHOICES:
        return _greedy_path(spec.inputs, spec.output, spec.sizes)
    raise ValueError(
        f"fxgrad.numpy.einsum: optimize={optimize!r} is not supported; use False (left to "
        "right), True / 'auto' / 'greedy' / 'optimal' (greedy), or a path as returned by "
        "einsum_path"
    )


def _validate_path(path: Sequence[Any], n: int) -> list[tuple[int, ...]]:
    steps = list(path)
    if steps and steps[0] == "einsum_path":
        steps = steps[1:]
    out = []
    remaining = n
    for step in steps:
        if not isinstance(step, (list, tuple)) or not step or len(set(step)) != len(step):
            raise ValueError(
                f"fxgrad.numpy.einsum: path step {step!r} must be a non-empty tuple of "
                "distinct operand positions"
            )
        idx = tuple(int(i) for i in step)
        if any(i < 0 or i >= remaining for i in idx):
            raise ValueError(
                f"fxgrad.numpy.einsum: path step {step!r} refers to an operand outside the "
                f"{remaining} operand(s) left at that step"
            )
        out.append(idx)
        remaining -= len(idx) - 1
    if remaining > 1:
        raise ValueError(
            f"fxgrad.numpy.einsum: path {list(path)!r} leaves {remaining} operands "
            "uncontracted; it must reduce them to one"
        )
    return out


# --- evaluation ---------------------------------------------------------------------------


def _zeros_like(x: Any) -> Any:
    return ew.full_like_aval(get_aval(x).strip_weak_type(), 0)


def _take_diagonals(x: Any, labels: tuple[Label, ...]) -> tuple[Any, tuple[Label, ...]]:
    """Collapse each label repeated in ``labels`` to one axis (its diagonal)."""
    shape = get_aval(x).shape
    groups = [
        [k for k, lbl in enumerate(labels) if lbl == label] for label in dict.fromkeys(labels)
    ]
    groups = [g for g in groups if len(g) > 1]
    if not groups:
        return x, labels
    # A constant mask over the repeated axes: True where all axes of a group agree.
    axes = sorted(k for g in groups for k in g)
    mask_shape = tuple(shape[k] for k in axes)
    index = {k: np.arange(shape[k]).reshape([-1 if a == k else 1 for a in axes]) for k in axes}
    mask = np.ones(mask_shape, dtype=bool)
    for g in groups:
        for other in g[1:]:
            mask = mask & (index[g[0]] == index[other])
    mask = lshape.broadcast_in_dim(mask, shape, tuple(axes))
    x = ew.select_n(mask, _zeros_like(x), x)
    drop = tuple(k for g in groups for k in g[1:])
    x = red.reduce_sum(x, drop)
    return x, tuple(lbl for k, lbl in enumerate(labels) if k not in drop)


def _squeeze_broadcast(
    x: Any, labels: tuple[Label, ...], sizes: dict[Label, int]
) -> tuple[Any, tuple[Label, ...]]:
    """Drop size-1 axes whose label is larger elsewhere: the value is constant along it."""
    shape = get_aval(x).shape
    axes = tuple(k for k, lbl in enumerate(labels) if shape[k] == 1 and sizes[lbl] != 1)
    if not axes:
        return x, labels
    return lshape.squeeze(x, axes), tuple(lbl for k, lbl in enumerate(labels) if k not in axes)


def _sum_unneeded(x: Any, labels: tuple[Label, ...], needed: set) -> tuple[Any, tuple]:
    axes = tuple(k for k, lbl in enumerate(labels) if lbl not in needed)
    if not axes:
        return x, labels
    return red.reduce_sum(x, axes), tuple(lbl for lbl in labels if lbl in needed)


def _contract_pair(lhs, rhs, keep: set, dot_general: Callable, params: dict):
    """One ``dot_general``: shared labels in ``keep`` are batch axes, others contracted."""
    (x, xl), (y, yl) = lhs, rhs
    x, xl = _sum_unneeded(x, xl, keep | set(yl))
    y, yl = _sum_unneeded(y, yl, keep | set(xl))
    shared = [lbl for lbl in xl if lbl in yl]
    batch = [lbl for lbl in shared if lbl in keep]
    contract = [lbl for lbl in shared if lbl not in keep]
    x_dtype, y_dtype = get_aval(x).dtype, get_aval(y).dtype
    if x_dtype != y_dtype:  # an earlier step produced preferred_element_type
        common = np.promote_types(x_dtype, y_dtype)
        x, y = ew.convert_element_type(x, common), ew.convert_element_type(y, common)
    dims = (
        (tuple(xl.index(c) for c in contract), tuple(yl.index(c) for c in contract)),
        (tuple(xl.index(b) for b in batch), tuple(yl.index(b) for b in batch)),
    )
    out = dot_general(x, y, dims, **params)
    labels = (
        *batch,
        *(lbl for lbl in xl if lbl not in shared),
        *(lbl for lbl in yl if lbl not in shared),
    )
    return out, labels


def _needed(operands: Sequence[tuple[Any, tuple]], output: tuple[Label, ...]) -> set:
    return set(output).union(*(set(lbls) for _, lbls in operands))


def _evaluate(spec, arrays, path, dot_general, params):
    ops = []
    for x, labels in zip(arrays, spec.inputs, strict=True):
        x, labels = _take_diagonals(x, labels)
        x, labels = _squeeze_broadcast(x, labels, spec.sizes)
        ops.append((x, labels))
    for k, (x, labels) in enumerate(ops):
        others = ops[:k] + ops[k + 1 :]
        ops[k] = _sum_unneeded(x, labels, _needed(others, spec.output))
    for step in path:
        chosen = [ops[i] for i in step]
        ops = [op for k, op in enumerate(ops) if k not in step]
        keep = _needed(ops, spec.output)
        acc = chosen[0]
        for k, nxt in enumerate(chosen[1:], start=2):
            acc = _contract_pair(acc, nxt, keep | _needed(chosen[k:], ()), dot_general, params)
        ops.append(_sum_unneeded(*acc, keep))
    (x, labels), *rest = ops
    assert not rest, "einsum path left operands uncontracted"
    x, labels = _sum_unneeded(x, labels, set(spec.output))
    return lshape.transpose(x, tuple(labels.index(lbl) for lbl in spec.output))


def einsum(
    subscripts: Any,
    /,
    *operands: Any,
    out: None = None,
    optimize: Any = "auto",
    precision: Any = None,
    preferred_element_type: Any = None,
    _dot_general: Callable[..., Any] = llinalg.dot_general,
) -> Any:
    """Einstein summation over the operands, as ``numpy.einsum``.

    Every form NumPy accepts works: explicit (``"ij,jk->ik"``) or implicit (``"ij,jk"``:
    the labels used once, sorted) output, ``...`` for broadcast axes, repeated labels
    (``"ii->i"`` is a diagonal, ``"ii"`` a trace), labels summed out of one operand, the
    interleaved form ``einsum(a, [0, 1], b, [1, 2], [0, 2])``, and scalars. The result
    is built from ``dot_general``, ``reduce_sum`` and ``select_n``, so it differentiates
    and batches.

    Args:
      subscripts: the specification string, or the first operand of the interleaved form.
      *operands: the arrays (interleaved with their subscript lists in that form).
      out: not supported (arrays are immutable); must be None.
      optimize: the contraction order. ``False``: left to right. ``True``, ``"auto"``,
        ``"greedy"``, ``"optimal"``: greedy, smallest intermediate first (``"optimal"``
        does not search exhaustively). A path from ``einsum_path`` is used as given.
      precision: passed to ``dot_general``.
      preferred_element_type: dtype of the result (and of each ``dot_general``).
      _dot_general: the contraction function (``lax.dot_general`` by default).

    Returns:
      An array with the output labels' sizes, in the promoted dtype of the operands (or
      ``preferred_element_type``).

    Raises:
      ValueError: malformed subscripts or path. ShapeError: ranks or sizes that do not
        match the subscripts.

    Example:
      >>> import fxgrad.numpy as fnp
      >>> a = fnp.arange(6.0).reshape(2, 3)
      >>> fnp.einsum("ij,kj->ik", a, a)
      Array([[ 5., 14.],
             [14., 50.]], dtype=float64)
      >>> fnp.einsum("ii", fnp.eye(3))
      Array(3., dtype=float64)
    """
    if out is not None:
        raise NotImplementedError(
            "fxgrad.numpy.einsum does not support out= (fxgrad arrays are immutable); use "
            "the returned array"
        )
    text, arrays = _parse_args(subscripts, operands)
    if not arrays:
        raise ValueError("fxgrad.numpy.einsum: at least one operand is required")
    arrays = promote_dtypes(*[asarray_value(a) for a in arrays])
    spec = _parse(text, [get_aval(a).shape for a in arrays])
    path = _choose_path(spec, optimize)
    return _run(spec, arrays, path, _dot_general, precision, preferred_element_type)


def _run(spec, arrays, path, dot_general, precision, preferred_element_type):
    params = {"precision": precision, "preferred_element_type": preferred_element_type}
    result = _evaluate(spec, arrays, path, dot_general, params)
    if preferred_element_type is not None:
        result = ew.convert_element_type(result, preferred_element_type)
    return result


def contract(
    arrays: Sequence[Any],
    inputs: Sequence[tuple[Label, ...]],
    output: tuple[Label, ...],
    *,
    precision: Any = None,
    preferred_element_type: Any = None,
) -> Any:
    """``einsum`` on already-parsed labels, for ``matmul``, ``tensordot`` and friends.

    ``arrays`` must share a dtype; the caller has checked that the label sizes agree
    (a size-1 axis broadcasts), so its own error message names the right function.
    """
    shapes = [get_aval(a).shape for a in arrays]
    inputs = tuple(tuple(t) for t in inputs)
    sizes = _label_sizes(inputs, shapes, "")
    spec = _Spec(inputs, tuple(output), sizes, "")
    path = _greedy_path(spec.inputs, spec.output, sizes)
    return _run(spec, arrays, path, llinalg.dot_general, precision, preferred_element_type)


# --- einsum_path --------------------------------------------------------------------------


def _flop_count(labels: Any, inner: bool, num_terms: int, sizes: dict[Label, int]) -> int:
    """NumPy's estimate: one multiply per extra term, one add if something is summed."""
    factor = max(1, num_terms - 1) + (1 if inner else 0)
    return _size(labels, sizes) * factor


def einsum_path(
    subscripts: Any, /, *operands: Any, optimize: Any = "greedy"
) -> tuple[list[Any], str]:
    """The contraction order ``einsum`` uses, and a report, as ``numpy.einsum_path``.

    Operands may be arrays or anything with a ``.shape``; only shapes are read.

    Args:
      subscripts, *operands: as for ``einsum``.
      optimize: as for ``einsum``; ``False`` gives one step contracting every operand.

    Returns:
      ``(path, report)``: ``path`` is ``["einsum_path", (i, j), ...]`` (each step
      contracts the listed positions and appends the result to the list), which
      ``einsum(..., optimize=path)`` accepts; ``report`` is NumPy's table of scaling,
      FLOP counts and intermediates.

    Example:
      >>> import numpy as np
      >>> a, b, c = np.ones((2, 3)), np.ones((3, 4)), np.ones((4, 5))
      >>> einsum_path("ij,jk,kl->il", a, b, c)[0]
      ['einsum_path', (0, 1), (0, 1)]
    """
    text, arrays = _parse_args(subscripts, operands)
    if not arrays:
        raise ValueError("fxgrad.numpy.einsum_path: at least one operand is required")
    shapes = [tuple(a.shape) if hasattr(a, "shape") else np.shape(a) for a in arrays]
    spec = _parse(text, shapes)
    n = len(spec.inputs)
    if optimize is False:
        path = [tuple(range(n))]
    else:
        path = _choose_path(spec, optimize)
    if not path:
        path = [tuple(range(n))]
    return ["einsum_path", *path], _path_report(spec, path)


def _path_report(spec: _Spec, path: Sequence[tuple[int, ...]]) -> str:
    names = _label_names(spec)
    out_set = frozenset(spec.output)
    all_labels = set().union(*spec.inputs)
    inner = bool(all_labels - out_set)
    naive = _flop_count(all_labels, inner, len(spec.inputs), spec.sizes)
    sets = [frozenset(t) for t in spec.inputs]
    terms = ["".join(names[x] for x in t) for t in spec.inputs]
    rows, opt_cost, largest, scales = [], 0, 0, []
    output_text = "".join(names[x] for x in spec.output)
    for step in path:
        chosen = [sets[i] for i in step]
        rest = [s for k, s in enumerate(sets) if k not in step]
        kept = out_set.union(*rest) & frozenset().union(*chosen)
        involved = frozenset().union(*chosen)
        opt_cost += _flop_count(involved, bool(involved - kept), len(step), spec.sizes)
        largest = max(largest, _size(kept, spec.sizes))
        scales.append(len(involved))
        result = "".join(names[x] for x in sorted(kept, key=lambda lbl: names[lbl]))
        current = ",".join(terms[i] for i in step) + "->" + result
        terms = [t for k, t in enumerate(terms) if k not in step] + [result]
        sets = rest + [kept]
        rows.append((len(involved), current, ",".join(terms) + "->" + output_text))
    lines = [
        f"  Complete contraction:  {spec.text}",
        f"         Naive scaling:  {len(all_labels)}",
        f"     Optimized scaling:  {max(scales, default=0)}",
        f"      Naive FLOP count:  {naive:.3e}",
        f"  Optimized FLOP count:  {opt_cost:.3e}",
        f"   Theoretical speedup:  {naive / max(opt_cost, 1):3.3f}",
        f"  Largest intermediate:  {largest:.3e} elements",
        "-" * 74,
        f"{'scaling':>6} {'current':>24} {'remaining':>40}",
        "-" * 74,
    ]
    lines += [f"{scale:4d}    {cur:>24} {rem:>40}" for scale, cur, rem in rows]
    return "\n".join(lines)


def _label_names(spec: _Spec) -> dict[Label, str]:
    ins, out = spec.text.split("->")
    names: dict[Label, str] = {}
    for labels, term in zip((*spec.inputs, spec.output), (*ins.split(","), out), strict=True):
        names.update(zip(labels, term, strict=True))
    return names
