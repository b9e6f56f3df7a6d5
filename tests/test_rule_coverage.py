"""Every primitive declares the rules it needs; the failure message is a table of gaps.

Rules live next to their primitive (``define_primitive``), so a missing rule is a
visible decision. This test lists every primitive defined by the fxgrad package and
which of ``impl``, ``abstract_eval``, ``jvp``, ``transpose`` and ``batch`` it has.
Requirements:

* every primitive has ``impl``, ``abstract_eval`` and a batch rule;
* every primitive has a JVP rule, except the explicitly listed non-differentiable
  ones below (each with the reason);
* primitives known to be linear have a transpose rule (reverse mode needs it);
* a primitive with an ``inline`` rule (``pjit``) is transformed through its body, which
  counts as its JVP and batch rules.
"""

import importlib
import pkgutil

import pytest

import fxgrad
import fxgrad.lax
from fxgrad.interpreters.batching import batch_rules, collective_rules
from fxgrad.interpreters.jvp import jvp_rules
from fxgrad.interpreters.transpose import transpose_rules
from fxgrad.lax._define import kernel_classes, primitives

# Primitives without a JVP rule on purpose. Keep each entry commented with the reason.
# (Integer-valued primitives such as comparisons, bitwise ops, argmax and random bits
# are not listed: they declare a *zero* JVP with defzero, as JAX does.)
NON_DIFFERENTIABLE: dict[str, str] = {
    # custom_vjp's linear stand-in: it only exists in linearized jaxprs, where it is
    # transposed (with the user's bwd); differentiating it again goes through the
    # custom_vjp's own rules, as JAX's custom_lin does.
    "custom_lin": "appears only in linear jaxprs, transposed with the user's bwd",
    # as in JAX, the max and min over a named vmap axis have no derivative rule
    "pmax": "collective maximum over a named axis: no derivative rule, as in JAX",
    "pmin": "collective minimum over a named axis: no derivative rule, as in JAX",
}

# Primitives that are linear in (some of) their inputs: reverse mode transposes them.
LINEAR = {
    "add",
    "sub",
    "neg",
    "mul",
    "div",
    "zero_safe_mul",
    "zero_safe_div",
    "dot_general",
    "triangular_solve",
    "reduce_sum",
    "reshape",
    "transpose",
    "broadcast_in_dim",
    "squeeze",
    "convert_element_type",
    "select_n",
    "real",
    "imag",
    "conj",
    "complex",
    # families still being written; checked when they exist
    "slice",
    "dynamic_slice",
    "dynamic_update_slice",
    "gather",
    "scatter-add",
    "scatter_add",
    "pad",
    "concatenate",
    "rev",
    "cumsum",
    "copy",
    "expand_dims",
    "psum",
    "pmean",
}

# Primitives that take no array operands (only static parameters): a transformation
# never sees them with a tracer argument, so they need no JVP or batch rule.
NO_ARRAY_OPERANDS: dict[str, str] = {
    "iota": "lax.iota(dtype, size, ...) builds an index array from its parameters",
}

KERNEL_CLASSES = {"elementwise", "reduction", "shape", "library", "control", "call"}


def _import_all_primitive_modules() -> None:
    """Import every module that may define primitives (lax, and fxgrad's top level)."""
    for mod in pkgutil.walk_packages(fxgrad.lax.__path__, prefix="fxgrad.lax."):
        importlib.import_module(mod.name)
    for mod in pkgutil.iter_modules(fxgrad.__path__, prefix="fxgrad."):
        if mod.name != "fxgrad.__main__":
            importlib.import_module(mod.name)


def _fxgrad_primitives() -> dict:
    """Primitives defined by the fxgrad package (tests may define their own)."""
    _import_all_primitive_modules()
    return {name: p for name, p in sorted(primitives.items()) if _defined_in_fxgrad(p)}


def _defined_in_fxgrad(p) -> bool:
    # impl may be a NumPy ufunc; abstract_eval is always written in fxgrad/lax.
    return any(
        (getattr(rule, "__module__", None) or "").startswith("fxgrad.")
        for rule in (p.impl, p.abstract_eval)
    )


def _rules(p) -> dict[str, bool]:
    has_inline = p.inline is not None
    return {
        "impl": p.impl is not None,
        "abstract_eval": p.abstract_eval is not None,
        "jvp": p in jvp_rules or has_inline,
        "transpose": p in transpose_rules,
        # a collective is batched by every vmap through its collective rule
        "batch": p in batch_rules or p in collective_rules or has_inline,
        "inline": has_inline,
    }


def _table(rows: dict[str, dict[str, bool]], gaps: dict[str, list[str]]) -> str:
    cols = ["impl", "abstract_eval", "jvp", "transpose", "batch", "inline"]
    width = max(len(n) for n in rows) + 2
    header = "primitive".ljust(width) + " ".join(c.ljust(13) for c in cols) + "missing"
    lines = [header, "-" * len(header)]
    for name, have in rows.items():
        if name not in gaps:
            continue
        cells = " ".join(("yes" if have[c] else "--").ljust(13) for c in cols)
        lines.append(name.ljust(width) + cells + ", ".join(gaps[name]))
    return "\n".join(lines)


def test_there_are_primitives():
    prims = _fxgrad_primitives()
    for name in ("add", "mul", "sin", "dot_general", "reduce_sum", "pjit"):
        assert name in prims


def test_every_primitive_has_its_rules():
    prims = _fxgrad_primitives()
    rows = {name: _rules(p) for name, p in prims.items()}
    gaps: dict[str, list[str]] = {}
    for name, have in rows.items():
        missing = [r for r in ("impl", "abstract_eval") if not have[r]]
        if name not in NO_ARRAY_OPERANDS:
            if not have["batch"]:
                missing.append("batch")
            if not have["jvp"] and name not in NON_DIFFERENTIABLE:
                missing.append("jvp")
        if name in LINEAR and not have["transpose"]:
            missing.append("transpose (linear primitive)")
        if missing:
            gaps[name] = missing
    assert not gaps, (
        f"{len(gaps)} primitive(s) lack rules (rules are registered with define_primitive "
        "next to the primitive in fxgrad/lax/):\n" + _table(rows, gaps)
    )


def test_allow_list_is_current():
    prims = _fxgrad_primitives()
    stale = [n for n in NON_DIFFERENTIABLE if n not in prims or _rules(prims[n])["jvp"]]
    assert not stale, f"remove from NON_DIFFERENTIABLE (unknown, or now has a jvp): {stale}"


def test_rule_registries_only_name_known_primitives():
    prims = set(primitives.values())
    for registry, label in (
        (jvp_rules, "jvp"),
        (transpose_rules, "transpose"),
        (batch_rules, "batch"),
    ):
        orphans = [p.name for p in registry if p not in prims]
        assert not orphans, f"{label} rules for primitives not made by define_primitive: {orphans}"


def test_transpose_rules_only_on_differentiable_primitives():
    prims = _fxgrad_primitives()
    bad = [
        n
        for n, p in prims.items()
        if p in transpose_rules and not _rules(p)["jvp"] and n not in NON_DIFFERENTIABLE
    ]
    assert not bad, f"primitives with a transpose rule but no jvp rule: {bad}"


def test_kernel_classification():
    prims = _fxgrad_primitives()
    bad = {}
    for name, p in prims.items():
        kind, op = kernel_classes.get(p, (None, None))
        if kind not in KERNEL_CLASSES:
            bad[name] = f"kernel class {kind!r} not in {sorted(KERNEL_CLASSES)}"
        elif kind == "elementwise" and not op:
            bad[name] = "elementwise primitive without a kernel_op"
    assert not bad, "\n".join(f"{n}: {why}" for n, why in bad.items())


@pytest.mark.parametrize("name", ["add", "sin", "reduce_sum", "dot_general"])
def test_table_rows_for_core_primitives(name):
    have = _rules(_fxgrad_primitives()[name])
    assert have["impl"] and have["abstract_eval"] and have["jvp"] and have["batch"]


def test_public_lax_functions_exist_for_core_primitives():
    for name in ("add", "mul", "sin", "dot_general", "reduce_sum", "transpose", "reshape"):
        assert callable(getattr(fxgrad.lax, name))
