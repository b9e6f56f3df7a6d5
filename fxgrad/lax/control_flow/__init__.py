"""Control flow as primitives: cond, switch, while_loop, fori_loop, scan, map."""

from fxgrad.lax.control_flow.associative import associative_scan
from fxgrad.lax.control_flow.conditionals import cond, cond_p, switch
from fxgrad.lax.control_flow.loops import fori_loop, map, while_loop, while_p
from fxgrad.lax.control_flow.scan import scan, scan_p

__all__ = [
    "associative_scan",
    "cond",
    "cond_p",
    "fori_loop",
    "map",
    "scan",
    "scan_p",
    "switch",
    "while_loop",
    "while_p",
]
