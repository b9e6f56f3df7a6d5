"""``fxgrad.scipy``: differentiable parts of SciPy (``special``, ``stats``), as ``jax.scipy``.

>>> import fxgrad.numpy as fnp
>>> from fxgrad.scipy.special import logsumexp
>>> logsumexp(fnp.zeros(4)).round(6)
Array(1.386294, dtype=float64)
"""

from fxgrad.scipy import special, stats

__all__ = ["special", "stats"]
