"""``fxgrad.numpy``: NumPy's API on fxgrad arrays, differentiable and batchable.

``import fxgrad.numpy as fnp`` and write NumPy code; every function here is built
from ``fxgrad.lax`` primitives, so it works under ``grad``, ``jvp``, ``vmap`` and ``jit``.
Differences from NumPy: arrays are immutable (use ``x.at[i].set(v)``), and functions
whose output shape depends on values (``nonzero``, ``unique``) need a ``size=``
argument under ``jit``.
"""

import numpy as _np

from fxgrad.array import Array as ndarray
from fxgrad.dtypes import SUPPORTED_DTYPES as _SUPPORTED_DTYPES
from fxgrad.numpy import (
    _array_methods,  # noqa: F401  (installs operators and methods)
    fft,  # noqa: F401  (the fxgrad.numpy.fft submodule)
    linalg,  # noqa: F401  (the fxgrad.numpy.linalg submodule)
)
from fxgrad.numpy._convolve import *  # noqa: F403
from fxgrad.numpy._convolve import __all__ as _convolve_all
from fxgrad.numpy._creation import *  # noqa: F403
from fxgrad.numpy._creation import __all__ as _creation_all
from fxgrad.numpy._einsum import *  # noqa: F403
from fxgrad.numpy._einsum import __all__ as _einsum_all
from fxgrad.numpy._functional import *  # noqa: F403
from fxgrad.numpy._functional import __all__ as _functional_all
from fxgrad.numpy._index_tricks import *  # noqa: F403
from fxgrad.numpy._index_tricks import __all__ as _index_tricks_all
from fxgrad.numpy._indexing import *  # noqa: F403
from fxgrad.numpy._indexing import __all__ as _indexing_all
from fxgrad.numpy._inserting import *  # noqa: F403
from fxgrad.numpy._inserting import __all__ as _inserting_all
from fxgrad.numpy._joining import *  # noqa: F403
from fxgrad.numpy._joining import __all__ as _joining_all
from fxgrad.numpy._linalg_ops import *  # noqa: F403
from fxgrad.numpy._linalg_ops import __all__ as _linalg_ops_all
from fxgrad.numpy._misc import *  # noqa: F403
from fxgrad.numpy._misc import __all__ as _misc_all
from fxgrad.numpy._polynomial import *  # noqa: F403
from fxgrad.numpy._polynomial import __all__ as _polynomial_all
from fxgrad.numpy._reductions import *  # noqa: F403
from fxgrad.numpy._reductions import __all__ as _reductions_all
from fxgrad.numpy._scalar_types import scalar_type as _scalar_type
from fxgrad.numpy._setops import *  # noqa: F403
from fxgrad.numpy._setops import __all__ as _setops_all
from fxgrad.numpy._shape_ops import *  # noqa: F403
from fxgrad.numpy._shape_ops import __all__ as _shape_ops_all
from fxgrad.numpy._sorting import *  # noqa: F403
from fxgrad.numpy._sorting import __all__ as _sorting_all
from fxgrad.numpy._ufuncs import *  # noqa: F403
from fxgrad.numpy._ufuncs import __all__ as _ufuncs_all
from fxgrad.numpy._value_tests import *  # noqa: F403
from fxgrad.numpy._value_tests import __all__ as _value_tests_all

# dtypes and constants, as NumPy names them: one scalar type per dtype of
# fxgrad.dtypes.SUPPORTED_DTYPES (``_DTYPE_NAMES``), then NumPy's abstract types.
# Each is a dtype and a conversion that accepts traced values (``_scalar_types``).
bool_ = _scalar_type(_np.bool_)
int8, int16, int32, int64 = (_scalar_type(t) for t in (_np.int8, _np.int16, _np.int32, _np.int64))
uint8, uint16, uint32, uint64 = (
    _scalar_type(t) for t in (_np.uint8, _np.uint16, _np.uint32, _np.uint64)
)
float16, float32, float64 = (_scalar_type(t) for t in (_np.float16, _np.float32, _np.float64))
complex64, complex128 = _scalar_type(_np.complex64), _scalar_type(_np.complex128)
dtype = _np.dtype
finfo, iinfo = _np.finfo, _np.iinfo
issubdtype = _np.issubdtype
integer, floating, complexfloating, inexact, number, signedinteger, unsignedinteger = (
    _np.integer,
    _np.floating,
    _np.complexfloating,
    _np.inexact,
    _np.number,
    _np.signedinteger,
    _np.unsignedinteger,
)
generic = _np.generic
pi, e, inf, nan, euler_gamma = _np.pi, _np.e, _np.inf, _np.nan, _np.euler_gamma
newaxis = None
_DTYPE_NAMES = ["bool_" if d.kind == "b" else d.name for d in _SUPPORTED_DTYPES]

__all__ = [
    *_creation_all,
    *_convolve_all,
    *_einsum_all,
    *_functional_all,
    *_index_tricks_all,
    *_indexing_all,
    *_inserting_all,
    *_joining_all,
    *_sorting_all,
    *_linalg_ops_all,
    *_misc_all,
    *_polynomial_all,
    *_reductions_all,
    *_setops_all,
    *_shape_ops_all,
    *_ufuncs_all,
    *_value_tests_all,
    "ndarray",
    *_DTYPE_NAMES,
    "dtype",
    "finfo",
    "iinfo",
    "issubdtype",
    "pi",
    "e",
    "inf",
    "nan",
    "newaxis",
]
