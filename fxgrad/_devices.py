"""Devices and host transfers, with JAX's names: everything runs on the host CPU.

Programs written for JAX place, fetch and wait for arrays (``device_put``,
``device_get``, ``block_until_ready``) and ask which devices there are. fxgrad computes
on one CPU device, synchronously, so these are cheap: placing makes fxgrad Arrays,
fetching makes NumPy arrays, and waiting returns its argument.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fxgrad.array import Array
from fxgrad.core import Tracer
from fxgrad.tree_util import tree_map


class CpuDevice:
    """The one device fxgrad computes on (``fxgrad.devices()[0]``)."""

    platform = "cpu"
    device_kind = "cpu"
    id = 0
    process_index = 0

    def __repr__(self) -> str:
        return "CpuDevice(id=0)"


#: the device every Array lives on
CPU = CpuDevice()


def devices(backend: str | None = None) -> list[CpuDevice]:
    """The devices fxgrad computes on: the host CPU."""
    return [CPU]


def local_devices(process_index: int | None = None, backend: str | None = None) -> list[CpuDevice]:
    """The devices of this process: the host CPU."""
    return [CPU]


def device_count(backend: str | None = None) -> int:
    return 1


def local_device_count(backend: str | None = None) -> int:
    return 1


def default_backend() -> str:
    return "cpu"


def device_put(
    x: Any, device: Any = None, *, src: Any = None, donate: bool = False, may_alias: Any = None
) -> Any:
    """Place the leaves of ``x`` on the device as fxgrad Arrays (the CPU for now)."""
    from fxgrad import numpy as fnp

    return tree_map(lambda leaf: leaf if isinstance(leaf, Tracer) else fnp.asarray(leaf), x)


def device_get(x: Any) -> Any:
    """The leaves of ``x`` as NumPy arrays on the host (other leaves as they are)."""
    return tree_map(lambda leaf: np.asarray(leaf) if isinstance(leaf, Array) else leaf, x)


def block_until_ready(x: Any) -> Any:
    """Wait until every Array leaf of ``x`` is computed, and return ``x``: fxgrad computes
    synchronously, so they already are."""
    return x
