"""``fxgrad.numpy.float32`` and friends: dtypes that are also conversion functions.

As in JAX, ``fnp.float32`` works wherever a dtype is expected (``np.dtype(fnp.float32)``,
``x.astype(fnp.float32)``, ``fnp.zeros(3, fnp.float32)``, ``x.dtype == fnp.float32``),
and calling it converts its argument to an ``Array`` of that dtype, traced values
included: ``fnp.int32(i)`` inside a jitted function or a loop body is
``fnp.asarray(i, dtype=fnp.int32)``. NumPy's own scalar types cannot do the second (they
convert their argument with ``np.asarray``, which a traced value refuses).
"""

from __future__ import annotations

from typing import Any

import numpy as np


class _ScalarMeta(type):
    """The type of ``fnp.float32`` etc.: a class standing for one dtype."""

    dtype: np.dtype

    def __hash__(cls) -> int:
        return hash(cls.dtype.type)

    def __eq__(cls, other: Any) -> bool:
        return cls is other or cls.dtype.type == other

    def __ne__(cls, other: Any) -> bool:
        return not cls == other

    def __call__(cls, x: Any) -> Any:
        from fxgrad.numpy._creation import asarray

        return asarray(x, dtype=cls.dtype)

    def __instancecheck__(cls, instance: Any) -> bool:
        return isinstance(instance, cls.dtype.type)

    def __repr__(cls) -> str:
        return f"<class 'fxgrad.numpy.{cls.__name__}'>"


def scalar_type(np_type: type) -> _ScalarMeta:
    """The fxgrad scalar type of NumPy scalar type ``np_type``."""
    name = np_type.__name__
    return _ScalarMeta(name, (object,), {"dtype": np.dtype(np_type), "__module__": "fxgrad.numpy"})
