"""Records for fxgrad.numpy's miscellaneous functions and fxgrad.scipy.special / stats.

Differences, interpolation, statistics, polynomials, selection, functional updates,
window functions, ``unique`` with ``size=`` and the special functions, each checked
against NumPy (or SciPy when installed: SciPy is not a dependency, so without it the
special-function records skip only their value comparison), ``check_grads`` at order 2,
``vmap`` against a loop and ``jit`` against eager. Static arguments (bins, conditions,
indices) are closed over as fixed NumPy arrays.
"""

import numpy as np

import fxgrad.numpy as fnp
from fxgrad.scipy import special as fsp
from fxgrad.scipy.stats import norm as fnorm
from tests.op_records import (
    OpRecord,
    rand_distinct,
    rand_normal,
    rand_positive,
    rand_unit,
)

try:  # SciPy is an optional reference
    import scipy.special as ssp
    import scipy.stats as sst
except ImportError:  # pragma: no cover - depends on the environment
    ssp = sst = None

F = (np.float64, np.float32)
F64 = (np.float64,)


def rand_sorted(rng, shape, dtype):
    """Increasing, well separated values (interpolation nodes, coordinates)."""
    steps = rng.rand(*shape) + 0.5
    return np.cumsum(steps, axis=-1).astype(dtype)


def rand_prob(rng, shape, dtype):
    """Values in (0.05, 0.95)."""
    return (rng.rand(*shape) * 0.9 + 0.05).astype(dtype)


def rand_mid(rng, shape, dtype):
    """Values in (0.25, 0.75): where logit's curvature keeps finite differences accurate."""
    return (rng.rand(*shape) * 0.5 + 0.25).astype(dtype)


def rand_off_grid(rng, shape, dtype):
    """Values in (0.1, 5.9) away from the nodes 0..6 of the interpolation records."""
    base = rng.randint(0, 6, size=shape) + 0.1 + rng.rand(*shape) * 0.8
    return base.astype(dtype)


def _scipy(name):
    return None if ssp is None else getattr(ssp, name)


def _norm(name):
    return None if sst is None else getattr(sst.norm, name)


_COND = np.array([True, False, True, True, False])
_CHOICE = np.array([[0, 2, 1, 0], [1, 1, 2, 0], [2, 0, 0, 1]])
_NODES = np.arange(7.0)
_EDGES = np.array([-1.0, -0.2, 0.4, 1.5])
_MASK = np.array([[True, False, True], [False, True, True]])
_PUT_IDX = np.array([0, 4, 5])


def _np_fill_diag(a, v):
    out = a.copy()
    np.fill_diagonal(out, v)
    return out


def _np_put(a, v):
    out = a.copy()
    np.put(out, _PUT_IDX, v)
    return out


def _np_place(a, v):
    out = a.copy()
    np.place(out, _MASK, v)
    return out


_ALONG = np.array([[2], [0], [3]])


def _np_put_along(a, v):
    out = a.copy()
    np.put_along_axis(out, _ALONG, v, axis=1)
    return out


def _np_hist_weights(w):
    a = np.linspace(-1, 1.5, w.shape[0])
    return np.histogram(a, _EDGES, weights=w)[0]


_A_HIST = np.linspace(-1, 1.5, 6)

NUMPY_RECORDS = [
    OpRecord(
        "diff_n2_axis0", lambda x: fnp.diff(x, 2, axis=0), [(4, 3)], lambda x: np.diff(x, 2, axis=0)
    ),
    OpRecord(
        "diff_prepend_append",
        lambda x, p: fnp.diff(x, prepend=p, append=1.5),
        [(3, 4), (3, 1)],
        lambda x, p: np.diff(x, prepend=p, append=1.5),
    ),
    OpRecord(
        "ediff1d",
        lambda x, e: fnp.ediff1d(x, to_end=e, to_begin=2.0),
        [(2, 3), (2,)],
        lambda x, e: np.ediff1d(x, to_end=e, to_begin=2.0),
    ),
    OpRecord(
        "gradient_uniform",
        lambda x: fnp.gradient(x, 0.5, axis=1),
        [(3, 5)],
        lambda x: np.gradient(x, 0.5, axis=1),
    ),
    OpRecord(
        "gradient_both_axes",
        lambda x: fnp.stack(fnp.gradient(x, edge_order=2)),
        [(4, 5)],
        lambda x: np.stack(np.gradient(x, edge_order=2)),
    ),
    OpRecord(
        "gradient_coordinates",
        lambda f, c: fnp.gradient(f, c, edge_order=2),
        [(6,), (6,)],
        lambda f, c: np.gradient(f, c, edge_order=2),
        rand=(rand_normal, rand_sorted),
        dtypes=F64,
    ),
    OpRecord(
        "trapezoid_x",
        lambda y, x: fnp.trapezoid(y, x),
        [(3, 5), (5,)],
        lambda y, x: np.trapezoid(y, x),
        rand=(rand_normal, rand_sorted),
    ),
    OpRecord(
        "trapezoid_dx",
        lambda y: fnp.trapezoid(y, dx=0.3, axis=0),
        [(4, 2)],
        lambda y: np.trapezoid(y, dx=0.3, axis=0),
    ),
    OpRecord("unwrap", lambda p: fnp.unwrap(p * 3.0), [(3, 8)], lambda p: np.unwrap(p * 3.0)),
    OpRecord(
        "interp",
        lambda x, fp: fnp.interp(x, _NODES, fp),
        [(5,), (7,)],
        lambda x, fp: np.interp(x, _NODES, fp),
        rand=(rand_off_grid, rand_normal),
    ),
    OpRecord(
        "interp_xp",
        lambda x, xp: fnp.interp(x, xp, _NODES[:5] ** 2),
        [(4,), (5,)],
        lambda x, xp: np.interp(x, xp, _NODES[:5] ** 2),
        rand=(rand_normal, rand_sorted),
        dtypes=F64,
    ),
    OpRecord("cov", fnp.cov, [(3, 6)], np.cov),
    OpRecord(
        "cov_weights",
        lambda m, w: fnp.cov(m, rowvar=False, aweights=w),
        [(6, 2), (6,)],
        lambda m, w: np.cov(m, rowvar=False, aweights=w),
        rand=(rand_normal, rand_positive),
    ),
    OpRecord("corrcoef", fnp.corrcoef, [(3, 6)], np.corrcoef, tol=1e-5),
    OpRecord(
        "histogram_weights",
        lambda w: fnp.histogram(_A_HIST, _EDGES, weights=w)[0],
        [(6,)],
        _np_hist_weights,
    ),
    OpRecord(
        "histogram_density_edges",
        lambda e: fnp.histogram(_A_HIST, e, density=True)[0],
        [(4,)],
        lambda e: np.histogram(_A_HIST, e, density=True)[0],
        rand=lambda rng, s, d: (np.array([-2.0, -0.1, 0.5, 3.0]) + rng.rand(*s) * 0.05).astype(d),
    ),
    OpRecord(
        "i0", fnp.i0, [(7,)], np.i0, rand=lambda r, s, d: (r.randn(*s) * 8).astype(d), tol=1e-5
    ),
    OpRecord(
        "kaiser_beta",
        lambda b: fnp.kaiser(6, b),
        [()],
        lambda b: np.kaiser(6, b),
        rand=rand_positive,
        tol=1e-5,
    ),
    OpRecord(
        "piecewise",
        lambda x: fnp.piecewise(x, [x < -0.5, x > 0.5], [lambda v: v**2, fnp.sin, 0.5]),
        [(8,)],
        lambda x: np.piecewise(x, [x < -0.5, x > 0.5], [lambda v: v**2, np.sin, 0.5]),
    ),
    OpRecord(
        "select",
        lambda x, y: fnp.select([x < 0, y > 0], [x * y, y**2], x),
        [(3, 4), (3, 4)],
        lambda x, y: np.select([x < 0, y > 0], [x * y, y**2], x),
    ),
    OpRecord(
        "choose",
        lambda a, b, c: fnp.choose(_CHOICE, [a, b, c]),
        [(3, 4), (4,), (3, 1)],
        lambda a, b, c: np.choose(_CHOICE, [a, b, c]),
    ),
    OpRecord("polyval", fnp.polyval, [(4,), (3, 2)], np.polyval),
    OpRecord("polyadd", fnp.polyadd, [(4,), (2,)], np.polyadd),
    OpRecord("polysub", fnp.polysub, [(2,), (3,)], np.polysub),
    OpRecord("polymul", fnp.polymul, [(4,), (3,)], np.polymul),
    OpRecord(
        "polydiv_quotient",
        lambda u, v: fnp.polydiv(u, v)[0],
        [(5,), (2,)],
        lambda u, v: np.polydiv(u, v)[0],
        rand=(rand_normal, rand_positive),
    ),
    OpRecord("polyder", lambda p: fnp.polyder(p, 2), [(5,)], lambda p: np.polyder(p, 2)),
    OpRecord(
        "polyint", lambda p, k: fnp.polyint(p, 2, k), [(3,), (2,)], lambda p, k: np.polyint(p, 2, k)
    ),
    OpRecord("vander", lambda x: fnp.vander(x, 4), [(5,)], lambda x: np.vander(x, 4)),
    OpRecord(
        "polyfit",
        lambda x, y: fnp.polyfit(x, y, 2),
        [(7,), (7,)],
        lambda x, y: np.polyfit(x, y, 2),
        rand=(rand_sorted, rand_normal),
        dtypes=F64,
        tol=1e-9,
    ),
    OpRecord(
        "fill_diagonal",
        lambda a, v: fnp.fill_diagonal(a, v, inplace=False),
        [(3, 4), (2,)],
        _np_fill_diag,
    ),
    OpRecord("put", lambda a, v: fnp.put(a, _PUT_IDX, v, inplace=False), [(2, 3), (2,)], _np_put),
    OpRecord(
        "place", lambda a, v: fnp.place(a, _MASK, v, inplace=False), [(2, 3), (3,)], _np_place
    ),
    OpRecord(
        "block",
        lambda a, b, c: fnp.block([[a, b], [c]]),
        [(2, 2), (2, 1), (1, 3)],
        lambda a, b, c: np.block([[a, b], [c]]),
    ),
    OpRecord(
        "insert_block",
        lambda a, v: fnp.insert(a, 1, v, axis=1),
        [(2, 3), (2,)],
        lambda a, v: np.insert(a, 1, v, axis=1),
    ),
    OpRecord(
        "insert_many",
        lambda a, v: fnp.insert(a, [0, 2, 2], v),
        [(2, 3), (3,)],
        lambda a, v: np.insert(a, [0, 2, 2], v),
    ),
    OpRecord(
        "delete",
        lambda a: fnp.delete(a, [0, -1], axis=0),
        [(4, 2)],
        lambda a: np.delete(a, [0, -1], axis=0),
    ),
    OpRecord(
        "put_along_axis",
        lambda a, v: fnp.put_along_axis(a, _ALONG, v, axis=1, inplace=False),
        [(3, 4), (3, 1)],
        _np_put_along,
    ),
    OpRecord("resize", lambda a: fnp.resize(a, (3, 3)), [(2, 2)], lambda a: np.resize(a, (3, 3))),
    OpRecord(
        "rollaxis", lambda a: fnp.rollaxis(a, 2, 1), [(2, 3, 4)], lambda a: np.rollaxis(a, 2, 1)
    ),
    OpRecord(
        "apply_along_axis",
        lambda a: fnp.apply_along_axis(lambda v: fnp.outer(v, v[:2]), 1, a),
        [(2, 3, 4)],
        lambda a: np.apply_along_axis(lambda v: np.outer(v, v[:2]), 1, a),
    ),
    OpRecord(
        "apply_over_axes",
        lambda a: fnp.apply_over_axes(fnp.sum, a, [0, 2]),
        [(2, 3, 4)],
        lambda a: np.apply_over_axes(np.sum, a, [0, 2]),
    ),
    OpRecord(
        "vectorize_signature",
        lambda a, b: fnp.vectorize(lambda u, v: fnp.sum(u * v), signature="(n),(n)->()")(a, b),
        [(2, 3, 4), (4,)],
        lambda a, b: np.sum(a * b, axis=-1),
    ),
    OpRecord(
        "unique_size",
        lambda x: fnp.unique(x, size=9),
        [(3, 4)],
        lambda x: np.unique(x)[:9],
        rand=rand_distinct,
    ),
    OpRecord(
        "intersect1d_size",
        lambda x: fnp.intersect1d(x, x[::2], size=3),
        [(6,)],
        lambda x: np.intersect1d(x, x[::2]),
        rand=rand_distinct,
    ),
]


def _ref(name):
    """A SciPy reference, or None when SciPy is not installed."""
    return _scipy(name)


SCIPY_RECORDS = [
    OpRecord(
        "scipy_logsumexp",
        lambda a: fsp.logsumexp(a, axis=1),
        [(3, 4)],
        None if ssp is None else lambda a: ssp.logsumexp(a, axis=1),
    ),
    OpRecord(
        "scipy_logsumexp_b",
        lambda a, b: fsp.logsumexp(a, b=b, keepdims=True),
        [(3, 4), (3, 4)],
        None if ssp is None else lambda a, b: ssp.logsumexp(a, b=b, keepdims=True),
        rand=(rand_normal, rand_positive),
    ),
    OpRecord(
        "scipy_softmax",
        lambda a: fsp.softmax(a, axis=0),
        [(3, 4)],
        None if ssp is None else lambda a: ssp.softmax(a, axis=0),
    ),
    OpRecord("scipy_log_softmax", fsp.log_softmax, [(3, 4)], _ref("log_softmax")),
    OpRecord("scipy_expit", fsp.expit, [(5,)], _ref("expit")),
    OpRecord("scipy_logit", fsp.logit, [(5,)], _ref("logit"), rand=rand_mid),
    OpRecord("scipy_erf", fsp.erf, [(5,)], _ref("erf")),
    OpRecord("scipy_erfc", fsp.erfc, [(5,)], _ref("erfc")),
    OpRecord("scipy_erfinv", fsp.erfinv, [(5,)], _ref("erfinv"), rand=rand_unit, tol=1e-5),
    OpRecord("scipy_gammaln", fsp.gammaln, [(5,)], _ref("gammaln"), rand=rand_positive),
    OpRecord("scipy_gamma", fsp.gamma, [(5,)], _ref("gamma"), rand=rand_positive, tol=1e-5),
    OpRecord("scipy_digamma", fsp.digamma, [(5,)], _ref("digamma"), rand=rand_positive, tol=1e-5),
    OpRecord(
        "scipy_polygamma",
        lambda x: fsp.polygamma(2, x),
        [(4,)],
        None if ssp is None else lambda x: ssp.polygamma(2, x),
        rand=rand_positive,
        tol=1e-4,
    ),
    OpRecord("scipy_beta", fsp.beta, [(4,), (4,)], _ref("beta"), rand=rand_positive, tol=1e-5),
    OpRecord(
        "scipy_betaln", fsp.betaln, [(4,), (4,)], _ref("betaln"), rand=rand_positive, tol=1e-5
    ),
    OpRecord(
        "scipy_multigammaln",
        lambda a: fsp.multigammaln(a, 3),
        [(4,)],
        None if ssp is None else lambda a: ssp.multigammaln(a, 3),
        rand=lambda r, s, d: (r.rand(*s) * 3 + 1.5).astype(d),
        tol=1e-5,
    ),
    OpRecord(
        "scipy_xlogy", fsp.xlogy, [(5,), (5,)], _ref("xlogy"), rand=(rand_normal, rand_positive)
    ),
    OpRecord(
        "scipy_xlog1py",
        fsp.xlog1py,
        [(5,), (5,)],
        _ref("xlog1py"),
        rand=(rand_normal, rand_positive),
    ),
    OpRecord("scipy_entr", fsp.entr, [(5,)], _ref("entr"), rand=rand_positive),
    OpRecord(
        "scipy_ndtr",
        fsp.ndtr,
        [(6,)],
        _ref("ndtr"),
        rand=lambda r, s, d: (r.randn(*s) * 4).astype(d),
    ),
    OpRecord(
        "scipy_log_ndtr",
        fsp.log_ndtr,
        [(6,)],
        _ref("log_ndtr"),
        rand=lambda r, s, d: (r.randn(*s) * 6).astype(d),
        tol=1e-5,
    ),
    OpRecord("scipy_ndtri", fsp.ndtri, [(6,)], _ref("ndtri"), rand=rand_prob, tol=1e-5),
    OpRecord(
        "scipy_i0e", fsp.i0e, [(6,)], _ref("i0e"), rand=lambda r, s, d: (r.randn(*s) * 15).astype(d)
    ),
    OpRecord(
        "scipy_i1e", fsp.i1e, [(6,)], _ref("i1e"), rand=lambda r, s, d: (r.randn(*s) * 15).astype(d)
    ),
    OpRecord(
        "scipy_zeta",
        fsp.zeta,
        [(4,), (4,)],
        _ref("zeta"),
        rand=(lambda r, s, d: (r.rand(*s) * 3 + 1.5).astype(d), rand_positive),
        tol=1e-5,
    ),
    OpRecord(
        "norm_pdf",
        fnorm.pdf,
        [(4,), (4,), (4,)],
        _norm("pdf"),
        rand=(rand_normal, rand_normal, rand_positive),
    ),
    OpRecord(
        "norm_logpdf",
        fnorm.logpdf,
        [(4,), (4,), (4,)],
        _norm("logpdf"),
        rand=(rand_normal, rand_normal, rand_positive),
    ),
    OpRecord(
        "norm_cdf",
        fnorm.cdf,
        [(4,), (4,), (4,)],
        _norm("cdf"),
        rand=(rand_normal, rand_normal, rand_positive),
    ),
    OpRecord(
        "norm_logcdf",
        fnorm.logcdf,
        [(4,), (4,), (4,)],
        _norm("logcdf"),
        rand=(rand_normal, rand_normal, rand_positive),
    ),
    OpRecord("norm_sf", fnorm.sf, [(4,)], _norm("sf")),
    OpRecord(
        "norm_ppf",
        fnorm.ppf,
        [(4,), (4,), (4,)],
        _norm("ppf"),
        rand=(rand_prob, rand_normal, rand_positive),
        tol=1e-5,
    ),
]

RECORDS = NUMPY_RECORDS + SCIPY_RECORDS
