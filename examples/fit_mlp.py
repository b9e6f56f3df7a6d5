"""Fit a small MLP to synthetic regression data with fxgrad (the `make demo` job).

What it shows, in about a hundred lines of plain fxgrad:

* the model is a pytree: a list of layers, each a dict of arrays;
* `predict` is written for ONE example, and `vmap` maps it over a batch;
* training uses `jit(value_and_grad(loss))` and an SGD update with `tree_map`;
* `vmap(grad(...))` gives per-example gradients (their norms are printed).

Usage: python examples/fit_mlp.py [--steps N] [--seed S]
(or FXGRAD_DEMO_STEPS=N). Exits with status 1 unless the loss falls by at least
--min-improvement (default 5x).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

import fxgrad
import fxgrad.numpy as fnp
from fxgrad import grad, jit, value_and_grad, vmap
from fxgrad.tree_util import tree_leaves, tree_map

LAYER_SIZES = (2, 32, 32, 1)


def make_data(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Points in the square [-2, 2]^2 and a smooth nonlinear target with a little noise."""
    x = rng.uniform(-2.0, 2.0, size=(n, 2))
    y = np.sin(1.5 * x[:, 0]) * np.cos(x[:, 1]) + 0.1 * x[:, 0] * x[:, 1]
    y = y + 0.05 * rng.normal(size=n)
    return x, y


def init_params(rng: np.random.Generator, sizes=LAYER_SIZES) -> list[dict]:
    """A list of layers {'w': (n_in, n_out), 'b': (n_out,)}, scaled for tanh units."""
    params = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True):
        w = rng.normal(size=(n_in, n_out)) / np.sqrt(n_in)
        params.append({"w": fnp.asarray(w), "b": fnp.zeros(n_out)})
    return params


def predict(params: list[dict], x):
    """The MLP on ONE example: x has shape (2,), the result is a scalar."""
    *hidden, last = params
    for layer in hidden:
        x = fnp.tanh(x @ layer["w"] + layer["b"])
    return fnp.reshape(x @ last["w"] + last["b"], ())


def loss(params: list[dict], x, y):
    """Mean squared error over a batch; vmap runs `predict` for every row of x."""
    predictions = vmap(predict, in_axes=(None, 0))(params, x)
    return fnp.mean((predictions - y) ** 2)


def example_loss(params: list[dict], x, y):
    return (predict(params, x) - y) ** 2


def global_norm(tree):
    """The L2 norm of all the leaves of a pytree together."""
    return fnp.sqrt(sum(fnp.sum(leaf**2) for leaf in tree_leaves(tree)))


def example_grad_norm(params: list[dict], x, y):
    return global_norm(grad(example_loss)(params, x, y))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_steps = int(os.environ.get("FXGRAD_DEMO_STEPS", "1500"))
    parser.add_argument("--steps", type=int, default=default_steps, help="SGD steps")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--learning-rate", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--min-improvement",
        type=float,
        default=5.0,
        help="fail unless initial loss / final loss is at least this",
    )
    args = parser.parse_args(argv)

    rng = np.random.default_rng(args.seed)
    x_train, y_train = make_data(rng, 512)
    x_test, y_test = make_data(rng, 256)
    params = init_params(rng)
    n_params = sum(leaf.size for leaf in tree_leaves(params))
    print(f"fxgrad {fxgrad.__version__}: fitting an MLP {LAYER_SIZES} ({n_params} parameters)")
    print(f"to y = sin(1.5 x0) cos(x1) + 0.1 x0 x1 + noise, {len(x_train)} training points")
    print(f"SGD, learning rate {args.learning_rate}, batch {args.batch_size}, {args.steps} steps")

    loss_and_grad = jit(value_and_grad(loss))
    test_loss = jit(loss)
    # One gradient per example, reduced to its norm, for 8 examples at once.
    grad_norms = jit(vmap(example_grad_norm, in_axes=(None, 0, 0)))

    def report_grad_norms(label: str) -> None:
        norms = np.asarray(grad_norms(params, x_train[:8], y_train[:8]))
        text = " ".join(f"{n:.3f}" for n in norms)
        print(f"per-example gradient norms ({label}, vmap(grad)): {text}")

    initial = float(test_loss(params, x_test, y_test))
    print(f"step {0:5d}  test loss {initial:.5f}")
    report_grad_norms("start")

    start = time.perf_counter()
    order = rng.permutation(len(x_train))
    batches_per_epoch = len(x_train) // args.batch_size
    for step in range(1, args.steps + 1):
        b = (step - 1) % batches_per_epoch
        if b == 0:
            order = rng.permutation(len(x_train))
        idx = order[b * args.batch_size : (b + 1) * args.batch_size]
        value, grads = loss_and_grad(params, x_train[idx], y_train[idx])
        params = tree_map(lambda p, g: p - args.learning_rate * g, params, grads)
        if step % max(1, args.steps // 6) == 0 or step == args.steps:
            current = float(test_loss(params, x_test, y_test))
            print(f"step {step:5d}  test loss {current:.5f}  (batch loss {float(value):.5f})")
    elapsed = time.perf_counter() - start

    final = float(test_loss(params, x_test, y_test))
    report_grad_norms("end")
    traces = loss_and_grad._cache_size()
    print(
        f"{args.steps} steps in {elapsed:.2f} s ({1e3 * elapsed / max(args.steps, 1):.2f} ms/step)"
    )
    print(f"jit traced the training step {traces} time(s)")
    improvement = initial / final if final > 0 else float("inf")
    print(f"test loss {initial:.5f} -> {final:.5f} ({improvement:.1f}x lower)")
    if improvement < args.min_improvement:
        print(f"FAILED: expected at least {args.min_improvement:.1f}x lower loss", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
