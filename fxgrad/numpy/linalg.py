"""``fxgrad.numpy.linalg``: NumPy's linear algebra, differentiable and batchable.

Every function takes stacks of matrices ``[..., m, n]`` (NumPy 2's rules) and is built
from the primitives of ``fxgrad.lax.linalg`` (``lu``, ``triangular_solve``,
``cholesky``, ``qr``, ``eigh``, ``svd``, ``eig``), whose derivative rules follow the
literature (``fxgrad/lax/decompositions.py``), so ``grad``, ``jvp``, ``vmap`` and
``jit`` all work. ``det``, ``slogdet(method='qr')`` and ``pinv`` carry their own JVPs:
``det * tr(A^-1 dA)``, ``tr(A^-1 dA)`` and Golub & Pereyra's formula for the
pseudo-inverse of constant rank. Norms, ``cond`` and ``matrix_rank`` live in
``_linalg_norms.py``, shared helpers in ``_linalg_util.py``.

Differences from NumPy, as in JAX: singular or indefinite inputs give ``inf``/``NaN``
instead of raising ``LinAlgError`` (no value-dependent errors under ``jit``);
``cholesky``, ``eigh`` and ``eigvalsh`` factor ``(a + a.H) / 2`` by default
(``symmetrize_input=False`` reads one triangle, as NumPy); ``eig`` and ``eigvals``
always return complex arrays; ``lstsq`` always returns the residuals
``sum(|b - a x|^2)`` (``numpy_resid=True`` gives NumPy's, eagerly); ``matrix_rank`` of
a 0-D or 1-D array is an integer array.

Derivatives are checked against finite differences on well-conditioned inputs to 1e-5
(float64, the default tolerance of ``fxgrad.test_util``). On ill-conditioned but
non-singular inputs (where finite differences themselves fail) the tangents of
``inv``, ``slogdet``, ``cholesky``, ``eigh``, ``qr`` and ``svd`` satisfy the identities
that define them (``d(A X) = 0``, ``dA = dL L^H + L dL^H``, ...) to a relative error
below ``cond(A) * 1e-14`` in float64, tested up to ``cond(A) = 1e9``. Derivatives of
eigenvectors and singular vectors are NaN at repeated eigenvalues / singular values,
where those vectors are not unique; functions of the eigenvalues only stay
differentiable (``fxgrad.lax.decompositions`` says what to do).
"""

from __future__ import annotations

import functools
import operator
from collections import namedtuple
from collections.abc import Sequence
from typing import Any

import numpy as np

import fxgrad.numpy as fnp
from fxgrad.custom_derivatives import custom_jvp
from fxgrad.errors import FxgradTypeError, ShapeError
from fxgrad.lax import decompositions as lax_dec
from fxgrad.lax import elementwise as ew
from fxgrad.lax import linalg as lax_linalg
from fxgrad.numpy._linalg_norms import cond, matrix_norm, matrix_rank, norm, vector_norm
from fxgrad.numpy._linalg_util import (
    _broadcast_batch,
    _dtype,
    _inexact,
    _inverse,
    _matrix,
    _mH,
    _shape,
)
from fxgrad.numpy._util import asarray_value, canonicalize_axis

__all__ = [
    "EigResult",
    "EighResult",
    "QRResult",
    "SVDResult",
    "SlogdetResult",
    "cholesky",
    "cond",
    "cross",
    "det",
    "diagonal",
    "eig",
    "eigh",
    "eigvals",
    "eigvalsh",
    "inv",
    "lstsq",
    "matmul",
    "matrix_norm",
    "matrix_power",
    "matrix_rank",
    "matrix_transpose",
    "multi_dot",
    "norm",
    "outer",
    "pinv",
    "qr",
    "slogdet",
    "solve",
    "svd",
    "svdvals",
    "tensordot",
    "tensorinv",
    "tensorsolve",
    "trace",
    "vecdot",
    "vector_norm",
]


# Named results, as NumPy 2 returns them (pytrees, like any namedtuple).
EighResult = namedtuple("EighResult", ["eigenvalues", "eigenvectors"])
EigResult = namedtuple("EigResult", ["eigenvalues", "eigenvectors"])
SVDResult = namedtuple("SVDResult", ["U", "S", "Vh"])
QRResult = namedtuple("QRResult", ["Q", "R"])
SlogdetResult = namedtuple("SlogdetResult", ["sign", "logabsdet"])


# ---------------------------------------------------------------------------------------
# Solving and inverting
# ---------------------------------------------------------------------------------------


def solve(a: Any, b: Any) -> Any:
    """Solve ``a @ x = b`` for ``a [..., n, n]`` (NumPy 2 semantics), by pivoted LU.

    ``b`` is one vector ``[n]`` (for every matrix of ``a``) or stacks of right-hand sides
    ``[..., n, k]`` whose batch axes broadcast with those of ``a``; as in NumPy 2, a
    ``b`` with two or more axes is never a stack of vectors. Returns ``x`` of the shape
    of ``b`` (broadcast); a singular ``a`` gives inf/NaN. Raises ``ShapeError`` for a
    non-square ``a`` or a ``b`` that does not match.

    Example:
      >>> import fxgrad.numpy as fnp
      >>> fnp.linalg.solve(fnp.array([[2.0, 1.0], [1.0, 3.0]]), fnp.array([3.0, 5.0]))
      Array([0.8, 1.4], dtype=float64)
    """
    a, b = _inexact("solve", a, b)
    sa = _matrix("solve", a, square=True)
    sb = _shape(b)
    n = sa[-1]
    if len(sb) == 1:
        if sb[0] != n:
            raise ShapeError(
                f"fxgrad.numpy.linalg.solve: b of shape {sb} does not match a of shape {sa}: "
                f"b must have length {n}"
            )
        b = fnp.broadcast_to(fnp.reshape(b, (n, 1)), (*sa[:-2], n, 1))
        return fnp.reshape(lax_dec.lu_solve(a, b), (*sa[:-2], n))
    if len(sb) < 2 or sb[-2] != n:
        raise ShapeError(
            f"fxgrad.numpy.linalg.solve: b of shape {sb} does not match a of shape {sa}: b "
            f"must have shape ({n},) or (..., {n}, k) (NumPy 2 treats a b with more than one "
            "axis as a stack of matrices; add a trailing axis, b[..., None], for vectors)"
        )
    a, b = _broadcast_batch("solve", a, b, 2, 2)
    return lax_dec.lu_solve(a, b)


def inv(a: Any) -> Any:
    """The inverse of each matrix of ``a`` (``[..., n, n]``), by LU with partial pivoting.

    Example:
      >>> import fxgrad.numpy as fnp
      >>> fnp.linalg.inv(fnp.array([[2.0, 0.0], [0.0, 4.0]]))
      Array([[0.5 , 0.  ],
             [0.  , 0.25]], dtype=float64)
    """
    (a,) = _inexact("inv", a)
    _matrix("inv", a, square=True)
    return _inverse(a)


def _pivot_sign(pivots: Any, dtype: Any) -> Any:
    """``(-1) ** (number of row swaps)`` for LAPACK-style pivots ``[..., k]``."""
    k = _shape(pivots)[-1]
    swaps = fnp.count_nonzero(pivots != np.arange(k, dtype=np.int32), axis=-1)
    return fnp.where(swaps % 2 == 1, -1, 1).astype(dtype)


@custom_jvp
def _det(a: Any) -> Any:
    lu_mat, pivots, _ = lax_dec.lu(a)
    diag = fnp.diagonal(lu_mat, 0, -2, -1)
    return _pivot_sign(pivots, _dtype(a)) * fnp.prod(diag, axis=-1)


@_det.defjvp
def _det_jvp(primals, tangents):
    # Jacobi's formula: d det(A) = det(A) tr(A^-1 dA).
    (a,), (a_dot,) = primals, tangents
    y = _det(a)
    z = fnp.trace(lax_dec.lu_solve(a, a_dot), 0, -2, -1)
    return y, y * z


def det(a: Any) -> Any:
    """The determinant of each matrix of ``a`` (``[..., n, n]``), from its LU factors.

    The derivative is ``det(a) * tr(a^-1 da)`` (Jacobi's formula), so it is NaN at an
    exactly singular matrix (where JAX uses the adjugate).

    Example:
      >>> import fxgrad.numpy as fnp
      >>> fnp.linalg.det(fnp.array([[1.0, 2.0], [3.0, 4.0]]))
      Array(-2., dtype=float64)
    """
    (a,) = _inexact("det", a)
    _matrix("det", a, square=True)
    return _det(a)


def _phase_and_log(diag: Any) -> tuple[Any, Any]:
    """``prod(d / |d|)`` (0 if some ``d == 0``) and ``sum(log |d|)`` of diagonals ``[..., n]``."""
    size = fnp.abs(diag)
    logabsdet = fnp.sum(fnp.log(size), axis=-1)
    if _dtype(diag).kind != "c":
        return fnp.prod(fnp.sign(diag), axis=-1), logabsdet
    zero = size == 0
    unit = fnp.where(zero, 0, diag / fnp.where(zero, 1, size).astype(_dtype(diag)))
    return fnp.prod(unit, axis=-1), logabsdet


def _slogdet_lu(a: Any) -> tuple[Any, Any]:
    lu_mat, pivots, _ = lax_dec.lu(a)
    phase, logabsdet = _phase_and_log(fnp.diagonal(lu_mat, 0, -2, -1))
    return _pivot_sign(pivots, _dtype(a)) * phase, logabsdet


@custom_jvp
def _slogdet_qr(a: Any) -> tuple[Any, Any]:
    packed, taus = lax_dec.geqrf(a)
    phase, logabsdet = _phase_and_log(fnp.diagonal(packed, 0, -2, -1))
    # det Q = prod det(I - tau v v^H), and a unitary reflector has determinant
    # -tau / conj(tau) (-1 when real); tau == 0 is the identity.
    zero = taus == 0
    safe = fnp.where(zero, 1, taus)
    reflector_det = fnp.where(zero, 1, -safe / fnp.conjugate(safe))
    return phase * fnp.prod(reflector_det, axis=-1), logabsdet


@_slogdet_qr.defjvp
def _slogdet_qr_jvp(primals, tangents):
    # Householder QR (geqrf) has no derivative; d log det A = tr(A^-1 dA) (Jacobi).
    (a,), (a_dot,) = primals, tangents
    sign, logabsdet = _slogdet_qr(a)
    g = fnp.trace(lax_dec.lu_solve(a, a_dot), 0, -2, -1)
    if _dtype(a).kind != "c":
        return (sign, logabsdet), (fnp.zeros_like(sign), g)
    # d sign = sign * i Im(g): the phase turns, the modulus stays 1.
    return (sign, logabsdet), (sign * (g - fnp.conjugate(g)) / 2, fnp.real(g))


def slogdet(a: Any, *, method: str | None = None) -> SlogdetResult:
    """Sign and log of the absolute value of the determinant of ``[..., n, n]``.

    Returns ``SlogdetResult(sign, logabsdet)`` with ``det = sign * exp(logabsdet)``:
    ``sign`` has the dtype of ``a`` (a unit complex number for complex ``a``; 0 when
    singular) and ``logabsdet`` is real (-inf when singular). ``method`` (JAX's
    argument): ``None`` or ``'lu'`` factors with partial pivoting; ``'qr'`` uses
    Householder QR (``lax.linalg.geqrf``, no pivoting) and, unlike JAX, also takes
    complex input. Both differentiate (``'qr'`` by Jacobi's formula, ``tr(a^-1 da)``).

    Example:
      >>> import fxgrad.numpy as fnp
      >>> fnp.linalg.slogdet(fnp.array([[1.0, 2.0], [3.0, 4.0]])).sign
      Array(-1., dtype=float64)
      >>> fnp.linalg.slogdet(fnp.array([[1.0, 2.0], [3.0, 4.0]]), method="qr").sign
      Array(-1., dtype=float64)
    """
    if method not in (None, "lu", "qr"):
        raise ValueError(
            f"fxgrad.numpy.linalg.slogdet: unknown method {method!r}; supported methods are "
            "'lu' (the default, also None) and 'qr'"
        )
    (a,) = _inexact("slogdet", a)
    _matrix("slogdet", a, square=True)
    sign, logabsdet = _slogdet_qr(a) if method == "qr" else _slogdet_lu(a)
    return SlogdetResult(sign, logabsdet)


def cholesky(a: Any, /, *, upper: bool = False, symmetrize_input: bool = True) -> Any:
    """The Cholesky factor of Hermitian positive-definite matrices ``[..., n, n]``.

    Returns the lower ``L`` with ``a = L @ L.H`` (or, with ``upper``, ``U = L.H``), of
    the shape and dtype of ``a``; NaNs where ``a`` is not positive definite. With
    ``symmetrize_input`` (JAX's default) the factored matrix is ``(a + a.H) / 2``;
    ``False`` reads the lower triangle only, as NumPy does.

    Example:
      >>> import fxgrad.numpy as fnp
      >>> fnp.linalg.cholesky(fnp.array([[4.0, 2.0], [2.0, 5.0]]))
      Array([[2., 0.],
             [1., 2.]], dtype=float64)
    """
    (a,) = _inexact("cholesky", a)
    _matrix("cholesky", a, square=True)
    factor = lax_linalg.cholesky(a, symmetrize_input=symmetrize_input)
    return _mH(factor) if upper else factor


# ---------------------------------------------------------------------------------------
# Eigenvalues, singular values, QR
# ---------------------------------------------------------------------------------------


def _uplo_lower(fn_name: str, UPLO: str | None) -> bool:  # noqa: N803 - NumPy's name
    if UPLO is None:
        return True
    if UPLO not in ("L", "U"):
        raise ValueError(f"fxgrad.numpy.linalg.{fn_name}: UPLO must be 'L' or 'U', got {UPLO!r}")
    return UPLO == "L"


def eigh(a: Any, UPLO: str | None = None, symmetrize_input: bool = True) -> EighResult:  # noqa: N803
    """Eigenvalues and eigenvectors of Hermitian matrices ``[..., n, n]``.

    Returns ``EighResult(eigenvalues, eigenvectors)``: real eigenvalues ``[..., n]``,
    ascending, and eigenvector columns ``[..., n, n]``, unique only up to sign (phase);
    their derivatives are NaN at repeated eigenvalues. With ``symmetrize_input`` (JAX's
    default) ``(a + a.H) / 2`` is decomposed; otherwise the ``UPLO`` (``'L'`` or ``'U'``)
    triangle is read, as in NumPy.

    Example:
      >>> import fxgrad.numpy as fnp
      >>> fnp.linalg.eigh(fnp.array([[2.0, 1.0], [1.0, 2.0]])).eigenvalues
      Array([1., 3.], dtype=float64)
    """
    return _eigh("eigh", a, UPLO, symmetrize_input)


def _eigh(fn_name: str, a: Any, UPLO: str | None, symmetrize_input: bool) -> EighResult:  # noqa: N803
    lower = _uplo_lower(fn_name, UPLO)
    (a,) = _inexact(fn_name, a)
    _matrix(fn_name, a, square=True)
    v, w = lax_dec.eigh(a, lower=lower, symmetrize_input=symmetrize_input)
    return EighResult(w, v)


def eigvalsh(a: Any, UPLO: str | None = "L", *, symmetrize_input: bool = True) -> Any:  # noqa: N803
    """The eigenvalues of Hermitian matrices, ascending (see ``eigh``).

    Their derivatives are finite even at repeated eigenvalues.

    Example:
      >>> import fxgrad.numpy as fnp
      >>> fnp.linalg.eigvalsh(fnp.array([[2.0, 0.0], [0.0, 1.0]]))
      Array([1., 2.], dtype=float64)
    """
    return _eigh("eigvalsh", a, UPLO, symmetrize_input).eigenvalues


def eig(a: Any) -> EigResult:
    """Eigenvalues and right eigenvectors of general square matrices (LAPACK geev).

    Returns:
      ``EigResult(eigenvalues, eigenvectors)``, always complex: ``a @ v = v * w``, with
      unit-norm eigenvector columns whose largest component is real (LAPACK's), in
      NumPy's order. Both differentiate (through that normalisation, so the vectors
      themselves match finite differences) where the eigenvalues are distinct.

    Example:
      >>> import fxgrad.numpy as fnp
      >>> fnp.linalg.eig(fnp.array([[2.0, 0.0], [0.0, 3.0]])).eigenvalues
      Array([2.+0.j, 3.+0.j], dtype=complex128)
    """
    (a,) = _inexact("eig", a)
    _matrix("eig", a, square=True)
    w, v = lax_dec.eig(a, compute_left_eigenvectors=False)
    return EigResult(w, v)


def eigvals(a: Any) -> Any:
    """The (complex) eigenvalues of general square matrices ``[..., n, n]``.

    Example:
      >>> import fxgrad.numpy as fnp
      >>> fnp.linalg.eigvals(fnp.array([[0.0, -1.0], [1.0, 0.0]]))
      Array([0.+1.j, 0.-1.j], dtype=complex128)
    """
    (a,) = _inexact("eigvals", a)
    _matrix("eigvals", a, square=True)
    params = {"compute_left_eigenvectors": False, "compute_right_eigenvectors": False}
    return lax_dec.eig(a, **params)[0]


def _hermitian_svd(a: Any, compute_uv: bool) -> Any:
    """SVD of Hermitian matrices from their eigendecomposition (as NumPy does)."""
    w, v = eigh(a)
    s = fnp.abs(w)
    order = fnp.argsort(s, axis=-1, descending=True)
    s = fnp.take_along_axis(s, order, axis=-1)
    if not compute_uv:
        return s
    signs = fnp.take_along_axis(fnp.sign(w), order, axis=-1)
    u = fnp.take_along_axis(v, order[..., None, :], axis=-1)
    vh = _mH(u * signs[..., None, :].astype(_dtype(u)))
    return SVDResult(u, s, vh)


def svd(
    a: Any,
    full_matrices: bool = True,
    compute_uv: bool = True,
    hermitian: bool = False,
    subset_by_index: tuple[int, int] | None = None,
) -> Any:
    """Singular value decomposition ``a = U @ diag(S) @ Vh`` of ``[..., m, n]``.

    Returns ``SVDResult(U, S, Vh)``, or ``S`` alone without ``compute_uv``; ``S`` is real
    and descending. ``U`` is ``m x m`` and ``Vh`` ``n x n`` with ``full_matrices``, else
    they have ``min(m, n)`` columns / rows (derivatives of ``U`` and ``Vh`` of a
    non-square ``a`` need ``full_matrices=False``). ``hermitian`` uses the
    eigendecomposition; ``subset_by_index=(lo, hi)`` keeps singular values ``lo..hi-1``.

    Example:
      >>> import fxgrad.numpy as fnp
      >>> fnp.linalg.svd(fnp.array([[0.0, 2.0], [1.0, 0.0]]), compute_uv=False)
      Array([2., 1.], dtype=float64)
    """
    return _svd("svd", a, full_matrices, compute_uv, hermitian, subset_by_index)


def _svd(fn_name, a, full_matrices=True, compute_uv=True, hermitian=False, subset_by_index=None):
    (a,) = _inexact(fn_name, a)
    _matrix(fn_name, a, square=hermitian)
    if hermitian:
        return _hermitian_svd(a, compute_uv)
    out = lax_dec.svd(
        a, full_matrices=full_matrices, compute_uv=compute_uv, subset_by_index=subset_by_index
    )
    return SVDResult(*out) if compute_uv else out


def svdvals(x: Any, /) -> Any:
    """The singular values of ``[..., m, n]``, descending (``svd(x, compute_uv=False)``).

    Example:
      >>> import fxgrad.numpy as fnp
      >>> fnp.linalg.svdvals(fnp.array([[3.0, 0.0], [0.0, -4.0]]))
      Array([4., 3.], dtype=float64)
    """
    return _svd("svdvals", x, compute_uv=False)


def qr(a: Any, mode: str = "reduced") -> Any:
    """QR decomposition of ``[..., m, n]``: ``QRResult(Q, R)``, ``R`` or ``(h, tau)``.

    ``mode='reduced'``: ``Q`` is ``m x k`` and ``R`` ``k x n`` (``k = min(m, n)``);
    ``'complete'``: ``m x m`` and ``m x n``; ``'r'``: the reduced ``R`` only; ``'raw'``:
    NumPy's ``(h, tau)``, LAPACK geqrf's Householder reflectors with ``h`` of shape
    ``[..., n, m]`` (transposed, as NumPy and JAX return it) and ``tau`` ``[..., k]``.
    All modes but ``'raw'`` differentiate (``'raw'`` raises, as in JAX).

    Example:
      >>> import fxgrad.numpy as fnp
      >>> fnp.linalg.qr(fnp.ones((3, 2))).R.shape
      (2, 2)
      >>> [x.shape for x in fnp.linalg.qr(fnp.ones((3, 2)), mode="raw")]
      [(2, 3), (2,)]
    """
    if mode not in ("reduced", "complete", "r", "raw"):
        raise ValueError(
            f"fxgrad.numpy.linalg.qr: unrecognized mode {mode!r}; use 'reduced', "
            "'complete', 'r' or 'raw'"
        )
    (a,) = _inexact("qr", a)
    _matrix("qr", a)
    if mode == "raw":
        packed, taus = lax_dec.geqrf(a)
        return fnp.matrix_transpose(packed), taus
    q, r = lax_dec.qr(a, full_matrices=mode == "complete")
    return r if mode == "r" else QRResult(q, r)


# ---------------------------------------------------------------------------------------
# Pseudo-inverse, least squares, rank
# ---------------------------------------------------------------------------------------


def _pinv_from_svd(a: Any, rtol: Any, hermitian: bool) -> Any:
    u, s, vh = svd(a, full_matrices=False, hermitian=hermitian)
    if _shape(s)[-1] == 0:
        return fnp.zeros((*_shape(a)[:-2], _shape(a)[-1], _shape(a)[-2]), _dtype(a))
    cutoff = rtol[..., None] * fnp.max(s, axis=-1, keepdims=True)
    large = s > cutoff
    s_inv = fnp.where(large, 1 / fnp.where(large, s, 1), 0)
    return fnp.matmul(_mH(vh), s_inv[..., :, None].astype(_dtype(a)) * _mH(u))


@functools.partial(custom_jvp, nondiff_argnums=(2,))
def _pinv(a: Any, rtol: Any, hermitian: bool) -> Any:
    return _pinv_from_svd(a, rtol, hermitian)


@_pinv.defjvp
def _pinv_jvp(hermitian, primals, tangents):
    # Golub & Pereyra (1973), for a perturbation that keeps the rank:
    # dP = -P dA P + P P^H dA^H (I - A P) + (I - P A) dA^H P^H P.
    (a, rtol), (a_dot, _) = primals, tangents
    if hermitian:  # the value depends on the Hermitian part of a only (eigh symmetrizes)
        a_dot = (a_dot + _mH(a_dot)) / 2
    p = _pinv(a, rtol, hermitian)
    mm = fnp.matmul
    ah_dot, ph = _mH(a_dot), _mH(p)
    pph_dah = mm(mm(p, ph), ah_dot)
    dah_php = mm(ah_dot, mm(ph, p))
    p_dot = -mm(mm(p, a_dot), p)
    p_dot = p_dot + pph_dah - mm(pph_dah, mm(a, p))
    p_dot = p_dot + dah_php - mm(mm(p, a), dah_php)
    return p, p_dot


_NO_VALUE = object()


def pinv(a: Any, rcond: Any = None, hermitian: bool = False, *, rtol: Any = _NO_VALUE) -> Any:
    """The Moore-Penrose pseudo-inverse of ``[..., m, n]`` (shape ``[..., n, m]``).

    Singular values at most ``rcond * max(s)`` count as zero. ``rcond`` and ``rtol``
    are NumPy 2's two names for the cutoff: with neither, ``rcond = 1e-15``; with
    ``rtol=None``, ``max(m, n) * eps``. The derivative (Golub & Pereyra) holds where
    the rank does not change.

    Example:
      >>> import fxgrad.numpy as fnp
      >>> fnp.linalg.pinv(fnp.array([[2.0, 0.0], [0.0, 0.0]]))
      Array([[0.5, 0. ],
             [0. , 0. ]], dtype=float64)
    """
    (a,) = _inexact("pinv", a)
    shape = _matrix("pinv", a, square=hermitian)
    if rcond is not None and rtol is not _NO_VALUE:
        raise ValueError("fxgrad.numpy.linalg.pinv: rtol and rcond cannot both be set")
    if rcond is None:
        if rtol is _NO_VALUE:
            rcond = 1e-15
        elif rtol is None:
            rcond = max(shape[-2:]) * np.finfo(_dtype(a)).eps
        else:
            rcond = rtol
    real = np.finfo(_dtype(a)).dtype
    rcond = fnp.broadcast_to(fnp.asarray(rcond, dtype=real), shape[:-2])
    return _pinv(a, ew.stop_gradient(rcond), bool(hermitian))


def lstsq(a: Any, b: Any, rcond: Any = None, *, numpy_resid: bool = False):
    """Least-squares solution of ``a @ x = b`` for ``a [m, n]``, ``b [m]`` or ``[m, k]``.

    Returns ``(x, resid, rank, s)``: ``x`` (``[n]`` or ``[n, k]``, ``pinv(a) @ b``), the
    sums of squared residuals (``[]`` or ``[k]``), the rank (int32) and the singular
    values of ``a``. Singular values at most ``rcond * max(s)`` count as zero (default
    ``eps * max(m, n)``, as NumPy 2). ``numpy_resid=True`` returns NumPy's residuals,
    empty unless ``rank == n < m`` (value-dependent: not under ``jit``).

    Example:
      >>> import fxgrad.numpy as fnp
      >>> a = fnp.array([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]])
      >>> fnp.linalg.lstsq(a, fnp.array([1.0, 2.0, 3.0]))[0]
      Array([1., 2.], dtype=float64)
    """
    a, b = _inexact("lstsq", a, b)
    sa, sb = _shape(a), _shape(b)
    if len(sa) != 2 or len(sb) not in (1, 2) or sb[0] != sa[0]:
        raise ShapeError(
            f"fxgrad.numpy.linalg.lstsq: a must be a matrix [m, n] and b have shape [m] or "
            f"[m, k] with the same m, got a of shape {sa} and b of shape {sb}; use "
            "fxgrad.vmap for stacks"
        )
    m, n = sa
    if rcond is None:
        rcond = np.finfo(_dtype(a)).eps * max(m, n)
    s = svdvals(a)
    x = fnp.matmul(pinv(a, rcond=rcond), b)
    real = np.finfo(_dtype(a)).dtype
    if min(m, n) == 0:
        rank = fnp.asarray(0, dtype=np.int32)
    else:
        rank = fnp.count_nonzero(s > rcond * s[0]).astype(np.int32)
    resid = fnp.sum(fnp.abs(b - fnp.matmul(a, x)) ** 2, axis=0).astype(real)
    if numpy_resid:
        if int(rank) != n or m <= n:
            resid = fnp.zeros((0,), real)
        elif len(sb) == 1:
            resid = fnp.reshape(resid, (1,))
    return x, resid, rank, s


# ---------------------------------------------------------------------------------------
# Powers, products, conditioning, tensors
# ---------------------------------------------------------------------------------------


def matrix_power(a: Any, n: int) -> Any:
    """``a`` to the integer power ``n`` (``n < 0`` inverts first; 0 gives ``I``).

    NumPy's binary decomposition (same products, same rounding); keeps integer dtypes.

    Example:
      >>> import fxgrad.numpy as fnp
      >>> fnp.linalg.matrix_power(fnp.array([[1.0, 1.0], [0.0, 1.0]]), 3)
      Array([[1., 3.],
             [0., 1.]], dtype=float64)
    """
    try:
        n = operator.index(n)
    except TypeError:
        raise FxgradTypeError(
            f"fxgrad.numpy.linalg.matrix_power: the exponent must be an integer, got {n!r}"
        ) from None
    a = asarray_value(a)
    _matrix("matrix_power", a, square=True)
    if n == 0:
        return fnp.broadcast_to(fnp.eye(_shape(a)[-1], dtype=_dtype(a)), _shape(a))
    if n < 0:
        a, n = inv(a), -n
    if n == 1:
        return a
    z = result = None
    while n > 0:
        z = a if z is None else fnp.matmul(z, z)
        n, bit = divmod(n, 2)
        if bit:
            result = z if result is None else fnp.matmul(result, z)
    return result


def _chain_order(dims: Sequence[int]) -> list[list[int]]:
    """The optimal split points of a matrix chain (Cormen et al., dynamic programming)."""
    count = len(dims) - 1
    cost = [[0] * count for _ in range(count)]
    split = [[0] * count for _ in range(count)]
    for length in range(1, count):
        for i in range(count - length):
            j = i + length
            cost[i][j] = -1
            for k in range(i, j):
                c = cost[i][k] + cost[k + 1][j] + dims[i] * dims[k + 1] * dims[j + 1]
                if cost[i][j] < 0 or c < cost[i][j]:
                    cost[i][j], split[i][j] = c, k
    return split


def multi_dot(arrays: Sequence[Any], *, precision: Any = None, out: None = None) -> Any:
    """The product of a chain of 2-D matrices in the cheapest order (dynamic programming).

    The first array may be 1-D (a row vector) and the last 1-D (a column vector).

    Example:
      >>> import fxgrad.numpy as fnp
      >>> fnp.linalg.multi_dot([fnp.ones(3), fnp.ones((3, 4)), fnp.ones(4)])
      Array(12., dtype=float64)
    """
    if out is not None:
        raise NotImplementedError("fxgrad.numpy.linalg.multi_dot does not support out=")
    arrays = [asarray_value(x) for x in arrays]
    if len(arrays) < 2:
        raise ValueError("fxgrad.numpy.linalg.multi_dot: expecting at least two arrays")
    first_1d, last_1d = len(_shape(arrays[0])) == 1, len(_shape(arrays[-1])) == 1
    if first_1d:
        arrays[0] = fnp.reshape(arrays[0], (1, -1))
    if last_1d:
        arrays[-1] = fnp.reshape(arrays[-1], (-1, 1))
    for i, x in enumerate(arrays):
        if len(_shape(x)) != 2:
            raise ShapeError(
                f"fxgrad.numpy.linalg.multi_dot: array {i} has shape {_shape(x)}; only the "
                "first and last arrays may be 1-D, all others must be 2-D"
            )
    for i in range(len(arrays) - 1):
        if _shape(arrays[i])[1] != _shape(arrays[i + 1])[0]:
            raise ShapeError(
                f"fxgrad.numpy.linalg.multi_dot: arrays {i} and {i + 1} do not chain: shapes "
                f"{_shape(arrays[i])} and {_shape(arrays[i + 1])}"
            )
    dims = [_shape(arrays[0])[0]] + [_shape(x)[1] for x in arrays]
    split = _chain_order(dims)

    def product(i: int, j: int) -> Any:
        if i == j:
            return arrays[i]
        k = split[i][j]
        return fnp.matmul(product(i, k), product(k + 1, j), precision=precision)

    result = product(0, len(arrays) - 1)
    if first_1d and last_1d:
        return fnp.reshape(result, ())
    if first_1d or last_1d:
        return fnp.ravel(result)
    return result


def tensorsolve(a: Any, b: Any, axes: Sequence[int] | None = None) -> Any:
    """Solve ``tensordot(a, x, x.ndim) = b``; ``x`` has shape ``a.shape[b.ndim:]``.

    ``axes`` of ``a`` are moved to the end first; ``prod(b.shape)`` must equal
    ``prod(a.shape[b.ndim:])``.

    Example:
      >>> import fxgrad.numpy as fnp
      >>> a = fnp.reshape(fnp.eye(6), (2, 3, 6))
      >>> fnp.linalg.tensorsolve(a, fnp.ones((2, 3))).shape
      (6,)
    """
    a, b = _inexact("tensorsolve", a, b)
    nd = len(_shape(a))
    if axes is not None:
        order = [i for i in range(nd) if i not in [canonicalize_axis(k, nd) for k in axes]]
        order += [canonicalize_axis(k, nd, "tensorsolve") for k in axes]
        a = fnp.transpose(a, order)
    sa, sb = _shape(a), _shape(b)
    x_shape = sa[len(sb) :]
    size = int(np.prod(x_shape, dtype=np.int64))
    if sa[: len(sb)] != sb or int(np.prod(sa, dtype=np.int64)) != size * size:
        raise ShapeError(
            f"fxgrad.numpy.linalg.tensorsolve: a of shape {sa} and b of shape {sb} must "
            "satisfy a.shape[:b.ndim] == b.shape and prod(a.shape[b.ndim:]) == "
            "prod(b.shape)"
        )
    x = solve(fnp.reshape(a, (size, size)), fnp.reshape(b, (size,)))
    return fnp.reshape(x, x_shape)


def tensorinv(a: Any, ind: int = 2) -> Any:
    """The inverse of ``a`` for ``tensordot(., ., ind)``: shape ``a.shape[ind:] + a.shape[:ind]``.

    Example:
      >>> import fxgrad.numpy as fnp
      >>> fnp.linalg.tensorinv(fnp.reshape(fnp.eye(6), (6, 2, 3)), ind=1).shape
      (2, 3, 6)
    """
    (a,) = _inexact("tensorinv", a)
    shape = _shape(a)
    if ind <= 0:
        raise ValueError(f"fxgrad.numpy.linalg.tensorinv: ind must be positive, got {ind}")
    rows = int(np.prod(shape[:ind], dtype=np.int64))
    cols = int(np.prod(shape[ind:], dtype=np.int64))
    if rows != cols:
        raise ShapeError(
            f"fxgrad.numpy.linalg.tensorinv: a of shape {shape} with ind={ind} must satisfy "
            f"prod(a.shape[:ind]) == prod(a.shape[ind:]), got {rows} and {cols}"
        )
    return fnp.reshape(inv(fnp.reshape(a, (rows, cols))), (*shape[ind:], *shape[:ind]))


# ---------------------------------------------------------------------------------------
# NumPy 2's array-API aliases
# ---------------------------------------------------------------------------------------


def matmul(x1: Any, x2: Any, /) -> Any:
    """``x1 @ x2`` (``fxgrad.numpy.matmul``)."""
    return fnp.matmul(x1, x2)


def tensordot(x1: Any, x2: Any, /, *, axes: Any = 2) -> Any:
    """``fxgrad.numpy.tensordot`` with ``axes`` keyword-only."""
    return fnp.tensordot(x1, x2, axes)


def vecdot(x1: Any, x2: Any, /, *, axis: int = -1) -> Any:
    """``sum(conj(x1) * x2, axis)`` with broadcasting (``fxgrad.numpy.vecdot``)."""
    return fnp.vecdot(x1, x2, axis=axis)


def outer(x1: Any, x2: Any, /) -> Any:
    """The outer product of two 1-D arrays (stricter than ``fxgrad.numpy.outer``)."""
    x1, x2 = asarray_value(x1), asarray_value(x2)
    if len(_shape(x1)) != 1 or len(_shape(x2)) != 1:
        raise ShapeError(
            f"fxgrad.numpy.linalg.outer: input arrays must be one-dimensional, got shapes "
            f"{_shape(x1)} and {_shape(x2)}; use fxgrad.numpy.outer to flatten them"
        )
    return fnp.outer(x1, x2)


def cross(x1: Any, x2: Any, /, *, axis: int = -1) -> Any:
    """The cross product of 3-vectors along ``axis`` (other axes broadcast)."""
    x1, x2 = asarray_value(x1), asarray_value(x2)
    for name, x in (("x1", x1), ("x2", x2)):
        shape = _shape(x)
        if not shape or shape[canonicalize_axis(axis, len(shape), "cross")] != 3:
            raise ShapeError(
                f"fxgrad.numpy.linalg.cross: {name} must hold 3-vectors along axis {axis}, "
                f"got shape {shape}; fxgrad.numpy.cross also takes 2-vectors"
            )
    return fnp.cross(x1, x2, axis=axis)


def diagonal(x: Any, /, *, offset: int = 0) -> Any:
    """The diagonals of the matrices ``[..., m, n]`` (last two axes)."""
    return fnp.diagonal(x, offset, -2, -1)


def trace(x: Any, /, *, offset: int = 0, dtype: Any = None) -> Any:
    """The traces of the matrices ``[..., m, n]`` (last two axes)."""
    return fnp.trace(x, offset, -2, -1, dtype=dtype)


def matrix_transpose(x: Any, /) -> Any:
    """Swap the last two axes (``fxgrad.numpy.matrix_transpose``)."""
    return fnp.matrix_transpose(x)
