"""What ``config.log_compiles`` prints when ``jit`` traces: which call, and why again.

Each trace of a jitted function records a ``Signature``: for every argument, by name
(``x``, ``args[1]``, ``y['w']``), its pytree structure and the shape, dtype and weak type
of each leaf; the values of static arguments; and the configuration token. The first
trace says it is the first. A later trace happened because the call matched no cached
signature, so the log compares the new signature with each earlier one, takes the
closest (fewest differences; the latest on a tie) and lists every difference with the
new and the old value, as JAX's ``explain_cache_misses`` does:

    fxgrad: tracing jit(f) again (trace #2) for (x: f64[4], n=2); it differs from the
      closest earlier trace in:
      - argument 'x' changed shape: now f64[4], before f64[3]

Signatures are recorded on every successful trace (a trace costs far more), so turning
the flag on later still explains retraces against what was traced before.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from fxgrad._api_util import _arg_labels
from fxgrad.config import config
from fxgrad.core import ShapedArray
from fxgrad.tree_util import keystr, tree_flatten_with_path, tree_structure

#: how many earlier signatures of one function are kept for comparison
HISTORY = 64


@dataclass(frozen=True, slots=True)
class ArgSignature:
    """One dynamic argument: its name, pytree structure and leaves ``(name, aval)``."""

    label: str
    treedef: Any
    leaves: tuple[tuple[str, ShapedArray], ...]


@dataclass(frozen=True, slots=True)
class Signature:
    """What one trace of a jitted function was specialised on."""

    args: tuple[ArgSignature, ...]
    statics: tuple[tuple[str, Any], ...]
    token: int

    def describe(self) -> str:
        """``x: f64[3], y['w']: f32[], n=2``: every leaf's type and every static value."""
        parts = [f"{name}: {_aval_str(aval)}" for arg in self.args for name, aval in arg.leaves]
        parts += [f"{label}={value!r:.60}" for label, value in self.statics]
        return ", ".join(parts)


def signature(
    fun: Callable,
    dyn_args: tuple,
    dyn_kwargs: dict,
    positions: Sequence[int],
    static_vals: Sequence[tuple[int | str, Any]],
    avals: Sequence[ShapedArray],
    token: int,
) -> Signature:
    """The ``Signature`` of a call of ``fun`` whose flat dynamic leaves have ``avals``."""
    ordered = sorted(dyn_kwargs)
    labels = _arg_labels(fun, dyn_args, ordered, positions)
    leaf_avals = iter(avals)
    args = []
    for label, arg in zip(labels, (*dyn_args, *(dyn_kwargs[k] for k in ordered)), strict=True):
        leaves = tuple(
            (f"{label}{keystr(path)}", next(leaf_avals))
            for path, _ in tree_flatten_with_path(arg)[0]
        )
        args.append(ArgSignature(label, tree_structure(arg), leaves))
    static_pos = [i for i, _ in static_vals if isinstance(i, int)]
    static_labels = iter(_arg_labels(fun, tuple(static_pos), (), static_pos))
    statics = tuple(
        (next(static_labels) if isinstance(i, int) else i, value) for i, value in static_vals
    )
    return Signature(tuple(args), statics, token)


def first_trace_message(name: str, new: Signature) -> str:
    """The log line of a function's first trace (or first since earlier ones failed)."""
    return f"fxgrad: tracing jit({name}) for the first time, for ({new.describe()})"


def retrace_message(name: str, count: int, new: Signature, seen: Sequence[Signature]) -> str:
    """Why ``new`` was traced: its differences from the closest of the ``seen`` ones."""
    best: list[str] | None = None
    for old in reversed(seen):
        found = differences(new, old)
        if best is None or len(found) < len(best):
            best = found
    head = f"fxgrad: tracing jit({name}) again (trace #{count}) for ({new.describe()})"
    if not best:
        return (
            f"{head}; an earlier trace had the same signature but was not cached, because "
            "its function closed over values traced by an enclosing transformation."
        )
    lines = [f"{head}; it differs from the closest earlier trace in:"]
    lines += [f"  - {line}" for line in best]
    return "\n".join(lines)


def differences(new: Signature, old: Signature) -> list[str]:
    """Every difference between two signatures, each as ``what: now ..., before ...``."""
    found = _config_differences(new.token, old.token)
    found += _static_differences(dict(new.statics), dict(old.statics))
    old_args = {arg.label: arg for arg in old.args}
    new_labels = {arg.label for arg in new.args}
    for arg in new.args:
        before = old_args.get(arg.label)
        if before is None:
            found.append(f"argument '{arg.label}' is passed now and was not before")
        elif arg.treedef != before.treedef:
            found.append(
                f"argument '{arg.label}' changed pytree structure: now {arg.treedef}, "
                f"before {before.treedef}"
            )
        else:
            found += _leaf_differences(arg, before)
    for arg in old.args:
        if arg.label not in new_labels:
            found.append(f"argument '{arg.label}' was passed before and is not now")
    return found


def _leaf_differences(new: ArgSignature, old: ArgSignature) -> list[str]:
    found = []
    for (name, aval), (_, before) in zip(new.leaves, old.leaves, strict=True):
        changed = [
            what
            for what, differs in (
                ("shape", aval.shape != before.shape),
                ("dtype", aval.dtype != before.dtype),
                ("weak type", aval.weak_type != before.weak_type),
            )
            if differs
        ]
        if changed:
            what = (
                ", ".join(changed[:-1]) + " and " + changed[-1] if len(changed) > 1 else changed[0]
            )
            found.append(
                f"argument '{name}' changed {what}: "
                f"now {_aval_str(aval)}, before {_aval_str(before)}"
            )
    return found


def _static_differences(new: dict[str, Any], old: dict[str, Any]) -> list[str]:
    found = []
    for label, value in new.items():
        if label not in old:
            found.append(f"static argument '{label}' is passed now ({value!r:.60}) and was not")
        elif value != old[label]:
            found.append(
                f"static argument '{label}' changed value: now {value!r:.60}, "
                f"before {old[label]!r:.60}"
            )
    for label, value in old.items():
        if label not in new:
            found.append(f"static argument '{label}' was passed before ({value!r:.60}), not now")
    return found


def _config_differences(new: int, old: int) -> list[str]:
    if new == old:
        return []
    now, before = config.trace_values(new), config.trace_values(old)
    return [
        f"config flag '{flag}' changed: now {now[flag]!r}, before {before[flag]!r}"
        for flag in now
        if now[flag] != before[flag]
    ]


def _aval_str(aval: ShapedArray) -> str:
    return aval.str_short() + (" (weak type)" if aval.weak_type else "")
