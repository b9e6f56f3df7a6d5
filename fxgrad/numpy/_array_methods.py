"""Operators and methods shared by ``Array`` and ``Tracer``, installed at import time.

Both classes get the same definitions, so user code behaves identically on concrete
arrays and inside transformations. Each method forwards to the ``fxgrad.numpy``
function of the same name, looked up when called.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fxgrad.array import Array
from fxgrad.core import Tracer


def _fnp():
    import fxgrad.numpy as fnp

    return fnp


def _forward(name: str):
    def method(self, *args: Any, **kwargs: Any) -> Any:
        return getattr(_fnp(), name)(self, *args, **kwargs)

    method.__name__ = name
    method.__doc__ = f"Same as ``fxgrad.numpy.{name}(self, ...)``."
    return method


_OPERAND_TYPES = (Array, Tracer, bool, int, float, complex, np.ndarray, np.generic, list, tuple)


def _binop(name: str, reflected: bool = False):
    fn = None

    def op(self, other: Any) -> Any:
        nonlocal fn
        if not isinstance(other, _OPERAND_TYPES):
            return NotImplemented
        if fn is None:
            fn = getattr(_fnp(), name)
        return fn(other, self) if reflected else fn(self, other)

    return op


def _unop(name: str):
    def op(self) -> Any:
        return getattr(_fnp(), name)(self)

    return op


def _reshape(self, *shape: Any, order: str = "C") -> Any:
    if len(shape) == 1 and not isinstance(shape[0], int):
        shape = shape[0]
    return _fnp().reshape(self, shape, order=order)


def _transpose(self, *axes: Any) -> Any:
    if not axes or (len(axes) == 1 and axes[0] is None):
        axes = None
    elif len(axes) == 1 and not isinstance(axes[0], int):
        axes = axes[0]
    return _fnp().transpose(self, axes)


def _astype(self, dtype: Any, copy: bool = False) -> Any:
    from fxgrad import dtypes
    from fxgrad.lax.elementwise import convert_element_type

    return convert_element_type(self, dtypes.canonicalize_dtype(dtype))


def _flatten(self, order: str = "C") -> Any:
    return _fnp().ravel(self, order)


def _getitem(self, idx: Any) -> Any:
    from fxgrad.numpy._indexing import getitem

    return getitem(self, idx)


def _at(self):
    from fxgrad.numpy._indexing import IndexUpdateHelper

    return IndexUpdateHelper(self)


def _T(self):  # noqa: N802
    return _fnp().transpose(self)


def _mT(self):  # noqa: N802
    return _fnp().swapaxes(self, -1, -2)


def _real(self):
    return _fnp().real(self)


def _imag(self):
    return _fnp().imag(self)


_BINOPS = {
    "add": "add",
    "sub": "subtract",
    "mul": "multiply",
    "truediv": "true_divide",
    "floordiv": "floor_divide",
    "mod": "remainder",
    "pow": "power",
    "matmul": "matmul",
    "and": "bitwise_and",
    "or": "bitwise_or",
    "xor": "bitwise_xor",
    "lshift": "left_shift",
    "rshift": "right_shift",
    "divmod": "divmod",
}
_COMPARISONS = {
    "lt": "less",
    "le": "less_equal",
    "gt": "greater",
    "ge": "greater_equal",
    "eq": "equal",
    "ne": "not_equal",
}
_UNOPS = {"neg": "negative", "pos": "positive", "abs": "absolute", "invert": "invert"}
_METHODS = (
    "sum",
    "mean",
    "max",
    "min",
    "prod",
    "var",
    "std",
    "argmax",
    "argmin",
    "all",
    "any",
    "cumsum",
    "cumprod",
    "squeeze",
    "ravel",
    "swapaxes",
    "dot",
    "clip",
    "round",
    "conj",
    "conjugate",
    "nonzero",
    "argsort",
    "sort",
    "trace",
    "diagonal",
    "repeat",
    "take",
    "ptp",
    "searchsorted",
    "choose",
    "compress",
    "nansum",
    "nanmean",
)


def install(cls: type) -> None:
    """Install operators and methods on ``cls``."""
    for dunder, name in _BINOPS.items():
        setattr(cls, f"__{dunder}__", _binop(name))
        setattr(cls, f"__r{dunder}__", _binop(name, reflected=True))
    for dunder, name in _COMPARISONS.items():
        setattr(cls, f"__{dunder}__", _binop(name))
    for dunder, name in _UNOPS.items():
        setattr(cls, f"__{dunder}__", _unop(name))
    for name in _METHODS:
        setattr(cls, name, _forward(name))
    cls.reshape = _reshape
    cls.transpose = _transpose
    cls.astype = _astype
    cls.flatten = _flatten
    cls.__getitem__ = _getitem
    cls.at = property(_at)
    cls.T = property(_T)
    cls.mT = property(_mT)
    cls.real = property(_real)
    cls.imag = property(_imag)


install(Array)
install(Tracer)
