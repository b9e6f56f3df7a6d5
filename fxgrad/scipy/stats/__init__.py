"""``fxgrad.scipy.stats``: probability distributions as modules of functions (``norm``)."""

from fxgrad.scipy.stats import norm

__all__ = ["norm"]
