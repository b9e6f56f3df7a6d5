"""Suite-wide test set-up: hypothesis profiles, per-test seeds, strict checks.

The whole suite runs with `enable_checks`, so `check_jaxpr` runs after every
transformation and lowering pass. Warnings are errors (pyproject.toml). Only
`fxgrad.config` is imported here: test modules import what they test themselves.
"""

import os
import zlib

import numpy as np
import pytest
from hypothesis import settings

from fxgrad.config import config

config.update("enable_checks", True)

settings.register_profile("default", max_examples=25, deadline=None)
settings.register_profile("ci", max_examples=15, deadline=None, derandomize=True)
settings.register_profile("slow", max_examples=200, deadline=None)
settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "default")
)


@pytest.fixture(autouse=True)
def _seed_numpy(request: pytest.FixtureRequest) -> None:
    """Seeds NumPy's global generator from the test id: reproducible, distinct per test."""
    np.random.seed(zlib.crc32(request.node.nodeid.encode()))


@pytest.fixture(autouse=True)
def _restore_print_options():
    """Tests that change NumPy's print options must not leak them into later doctests."""
    options = np.get_printoptions()
    yield
    np.set_printoptions(**options)
