"""``fxgrad.Array``: an immutable array on a device (a NumPy buffer on the CPU).

Arrays are what fxgrad functions return outside transformations. They never change:
``x.at[i].set(v)`` returns a new array. Operators and methods (``+``, ``@``, ``.sum()``,
indexing, ...) are installed by ``fxgrad.numpy`` on both ``Array`` and ``Tracer``, so
user code behaves the same traced or not.

``weak_type`` marks arrays that came from Python scalars (see ``fxgrad.dtypes``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fxgrad import core


class Array:
    """An immutable n-dimensional array (JAX's ``jax.Array``)."""

    __slots__ = ("_value", "weak_type", "_aval", "__weakref__")
    __array_priority__ = 100

    def __init__(self, value: Any, weak_type: bool = False):
        if isinstance(value, np.ndarray) and value.flags.writeable:
            # The caller still holds this buffer: copy it, as JAX does, so that neither
            # its later mutations reach the Array nor freezing it reaches the caller.
            value = np.array(value)
        self._init(value, weak_type)

    def _init(self, value: Any, weak_type: bool) -> Array:
        """Wrap ``value`` without copying; for buffers fxgrad owns (primitive outputs)."""
        if type(value) is not np.ndarray:
            value = np.asarray(value)
        value.setflags(write=False)  # one call; cheaper than reading flags first
        self._value = value
        self.weak_type = weak_type
        self._aval = None
        return self

    # --- attributes -------------------------------------------------------------------

    @property
    def shape(self) -> tuple[int, ...]:
        return self._value.shape

    @property
    def dtype(self) -> np.dtype:
        return self._value.dtype

    @property
    def ndim(self) -> int:
        return self._value.ndim

    @property
    def size(self) -> int:
        return self._value.size

    @property
    def itemsize(self) -> int:
        return self._value.itemsize

    @property
    def nbytes(self) -> int:
        return self._value.nbytes

    @property
    def aval(self) -> core.ShapedArray:
        aval = self._aval
        if aval is None:
            value = self._value
            aval = self._aval = core.shaped(value.shape, value.dtype, self.weak_type)
        return aval

    # --- conversion ----------------------------------------------------------------------

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        value = self._value
        if dtype is not None and np.dtype(dtype) != value.dtype:
            return value.astype(dtype)
        if copy:
            return value.copy()
        return value

    def __dlpack__(self, *args, **kwargs):
        return self._value.__dlpack__(*args, **kwargs)

    def __dlpack_device__(self):
        return self._value.__dlpack_device__()

    def item(self, *args) -> Any:
        return self._value.item(*args)

    def tolist(self) -> Any:
        return self._value.tolist()

    def block_until_ready(self) -> Array:
        """Wait until the array is computed (CPU arrays always are); returns ``self``."""
        return self

    @property
    def device(self) -> Any:
        """The device the array lives on (the host CPU)."""
        from fxgrad._devices import CPU

        return CPU

    def devices(self) -> set[Any]:
        """The set of devices the array lives on: ``{fxgrad.devices()[0]}``."""
        return {self.device}

    def copy(self) -> Array:
        return Array(self._value.copy(), self.weak_type)

    def __bool__(self) -> bool:
        return bool(self._value)

    def __int__(self) -> int:
        return int(self._value)

    def __float__(self) -> float:
        return float(self._value)

    def __complex__(self) -> complex:
        return complex(self._value)

    def __index__(self) -> int:
        if self._value.dtype.kind not in "iub":
            raise TypeError(f"only integer arrays can be used as an index, got dtype {self.dtype}")
        return int(self._value)

    def __len__(self) -> int:
        if not self._value.shape:
            raise TypeError("len() of unsized object")
        return self._value.shape[0]

    def __iter__(self):
        if not self._value.shape:
            raise TypeError("iteration over a 0-d array")
        # Concrete values: slice the buffer directly (no indexing primitive needed).
        return (Array(row, self.weak_type) for row in self._value)

    def __hash__(self) -> int:
        raise TypeError(
            "unhashable type: 'Array'. fxgrad arrays are mutable-looking values and cannot be "
            "hashed; for a static argument of jit, pass a tuple or a Python scalar instead."
        )

    def __setitem__(self, idx, value):
        raise TypeError(
            "fxgrad arrays are immutable: `x[idx] = y` is not supported. "
            "Use `x = x.at[idx].set(y)` instead."
        )

    def __reduce__(self):
        return (Array, (np.array(self._value), self.weak_type))

    def __format__(self, spec: str) -> str:
        if self._value.ndim == 0:
            return format(self._value.item(), spec)
        return format(str(self), spec)

    def __str__(self) -> str:
        return str(self._value)

    def __repr__(self) -> str:
        prefix = "Array("
        body = np.array2string(self._value, separator=", ", prefix=prefix, threshold=1000)
        extra = f", dtype={self.dtype.name}"
        if self._value.size == 0 and self._value.shape != (0,):
            # As NumPy and JAX do: `[]` alone does not say the shape.
            extra = f", shape={self._value.shape}{extra}"
        if self.weak_type:
            extra += ", weak_type=True"
        return f"{prefix}{body}{extra})"


def _unwrap(x: Any) -> Any:
    return x._value if type(x) is Array else x


def _wrap(x: Any, weak_type: bool = False) -> Array:
    base = getattr(x, "base", None)
    if base is not None and _writeable_root(base):
        # A view of a caller's writeable NumPy array (``lax.reshape(np_array, ...)``):
        # copy it so the Array cannot change under the user's feet.
        x = np.array(x)
    return Array.__new__(Array)._init(x, weak_type)


def _writeable_root(base: Any) -> bool:
    while getattr(base, "base", None) is not None:
        base = base.base
    return isinstance(base, np.ndarray) and base.flags.writeable


core.set_value_wrappers(_unwrap, _wrap, Array)
core.register_aval_handler(Array, lambda x: x.aval)


def to_value(x: Any) -> Any:
    """``x`` as a value transformations accept: a tracer or an ``Array`` (used by ``lax``).

    Python scalars become weak arrays of the default dtypes; NumPy arrays and nested
    lists become ``Array``s. (``fxgrad.numpy.asarray`` adds dtype arguments and the
    stacking of lists of traced values.)
    """
    if isinstance(x, core.Tracer) or type(x) is Array:
        return x
    if type(x) in (bool, int, float, complex):
        return Array(np.asarray(x, dtype=core.get_aval(x).dtype), weak_type=True)
    arr = np.asarray(x)
    if arr.dtype == object:
        raise TypeError(f"cannot convert a value of type {type(x).__name__} to an fxgrad array")
    from fxgrad import dtypes

    return Array(arr.astype(dtypes.canonicalize_dtype(arr.dtype), copy=False))
