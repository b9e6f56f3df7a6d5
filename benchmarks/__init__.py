"""fxgrad's benchmarks: ``python -m benchmarks`` (or ``make bench``) runs them all.

Each module here times one family of workloads against NumPy and, when they are
installed, HIPS autograd and JAX, and registers itself with
``benchmarks._timing.register``; ``__main__`` imports every public module of the package,
so adding a module is all it takes to add a benchmark.
"""
