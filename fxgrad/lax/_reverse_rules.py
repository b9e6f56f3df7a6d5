"""Which primitives eager reverse mode pulls back without linearizing them.

``fxgrad.interpreters.reverse`` records a pullback per primitive when ``vjp`` runs on
concrete inputs. This module tells it, per primitive, which inputs are linear (pulled
back by the primitive's transpose rule, the others held fixed), which elementwise
primitives have JVP partials (a diagonal derivative, pulled back by scaling), and which
have a zero derivative. A primitive not listed here is linearized and transposed on
its own, which is always correct; listing it is an optimisation, checked by
``tests/test_eager_vjp_tape.py`` against that general route.
"""

from __future__ import annotations

import sys

from fxgrad.array import Array
from fxgrad.interpreters import reverse
from fxgrad.interpreters.transpose import transpose_rules

# Every module that registers a primitive named below, so their transpose rules exist.
from fxgrad.lax import (  # noqa: F401
    conv,
    elementwise,
    elementwise_params,
    fft,
    indexing,
    linalg,
    reduction,
    shape,
    slicing,
    windowed,
)

#: name -> (linear input indices, whether linear in all of them jointly).
_LINEAR: dict[str, tuple[tuple[int, ...], bool]] = {
    "neg": ((0,), True),
    "add": ((0, 1), True),
    "sub": ((0, 1), True),
    "mul": ((0, 1), False),
    "div": ((0,), True),
    "zero_safe_mul": ((0, 1), False),
    "zero_safe_div": ((0,), True),
    "real": ((0,), True),
    "imag": ((0,), True),
    "conj": ((0,), True),
    "complex": ((0, 1), True),
    "convert_element_type": ((0,), True),
    "broadcast_in_dim": ((0,), True),
    "reshape": ((0,), True),
    "squeeze": ((0,), True),
    "transpose": ((0,), True),
    "rev": ((0,), True),
    "slice": ((0,), True),
    "reduce_sum": ((0,), True),
    "cumsum": ((0,), True),
    "dynamic_slice": ((0,), True),
    "dynamic_update_slice": ((0, 1), True),
    "gather": ((0,), True),
    "scatter-add": ((0, 2), True),
    "pad": ((0, 1), True),
    "dot_general": ((0, 1), False),
    "conv_general_dilated": ((0, 1), False),
    "triangular_solve": ((1,), True),
    "reduce_window_sum": ((0,), True),
    "fft": ((0,), True),
}

#: Variadic primitives linear in every input: (first linear input, joint).
_LINEAR_VARIADIC = {"concatenate": 0, "select_n": 1}


def _install() -> None:
    prims = {p.name: p for p in transpose_rules}
    for name, spec in _LINEAR.items():
        reverse.linear_inputs[prims[name]] = spec
    for name, first in _LINEAR_VARIADIC.items():
        reverse.linear_inputs[prims[name]] = (range(first, sys.maxsize), True)
    for row in elementwise._TABLE:
        prim = elementwise._PRIMS[row.name]
        if row.differentiable:
            reverse.elementwise_partials[prim] = elementwise._J[row.name]
        else:
            reverse.zero_derivative.add(prim)
    reverse.elementwise_partials[elementwise_params.integer_pow_p] = (
        lambda t, out, x, *, y: elementwise_params._integer_pow_jvp(t, x, y),
    )
    reverse.zero_derivative.add(elementwise_params.stop_gradient_p)
    reverse.install(elementwise._mul_ct, Array)


_install()
