"""fxgrad's benchmarks: ``python -m benchmarks`` (or ``make bench``) runs them all.

Each module here times one family of workloads against NumPy and, when they are
installed, JAX, PyTorch and HIPS autograd, and registers itself with
``benchmarks._timing.register``; ``__main__`` imports every public module of the package,
so adding a module is all it takes to add a benchmark:

* ``eager``: per-call overhead of eager ops, eager ``grad`` and cached ``jit`` calls;
* ``jit_workloads``: W1 fused elementwise chain, W2 reductions, W4 ``jit`` call overhead;
* ``training``: W3 jitted MLP training step, W6 per-example gradients;
* ``startup``: W5 time to first result in a fresh process, cold and warm disk cache;
* ``derivatives``: W7 jitted Hessian, and the cost of the finite ``where`` gradient rule;
* ``control_flow``: W8a ``fori_loop``, W8b ``grad`` of ``scan``, W8c ``vmap`` of
  ``while_loop``.

``docs/performance.md`` reports the measured figures against the project's goals.
"""
