"""The few array operations the interpreters need, installed by ``fxgrad.lax``.

Interpreters never import ``lax`` (imports flow one way), yet generic machinery needs
to make zeros, add cotangents, move a batch axis or broadcast an unbatched value. The
``lax`` package installs those functions here when it is imported, written with its
primitives, so they are themselves traceable and differentiable.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def _missing(*_args: Any, **_kwargs: Any) -> Any:
    raise RuntimeError("fxgrad.lax has not been imported; import fxgrad first")


#: ``zeros(aval) -> array`` of that shape and dtype.
zeros: Callable[..., Any] = _missing
#: ``add(x, y) -> x + y`` for two values of the same aval (tangents, cotangents).
add: Callable[..., Any] = _missing
#: ``moveaxis(x, src, dst)``.
moveaxis: Callable[..., Any] = _missing
#: ``broadcast_axis(x, size, axis)``: insert a new axis of length ``size`` at ``axis``.
broadcast_axis: Callable[..., Any] = _missing
#: ``convert(x, dtype)``: elementwise conversion.
convert: Callable[..., Any] = _missing


def install(**ops: Callable[..., Any]) -> None:
    """Install the array operations (called once by ``fxgrad.lax``)."""
    for name, fn in ops.items():
        if name not in ("zeros", "add", "moveaxis", "broadcast_axis", "convert"):
            raise ValueError(f"unknown array op {name!r}")
        globals()[name] = fn
