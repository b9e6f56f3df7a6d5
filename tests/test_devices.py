"""Devices and host transfers under JAX's names (``fxgrad._devices``)."""

from __future__ import annotations

import numpy as np

import fxgrad
import fxgrad.numpy as fnp


def test_one_cpu_device_everywhere():
    (cpu,) = fxgrad.devices()
    assert fxgrad.local_devices() == [cpu] and fxgrad.devices("cpu") == [cpu]
    assert fxgrad.device_count() == fxgrad.local_device_count() == 1
    assert fxgrad.default_backend() == "cpu" and cpu.platform == "cpu"
    x = fnp.arange(3.0)
    assert x.device is cpu and x.devices() == {cpu}
    assert fxgrad.jit(lambda v: v * 2)(x).device is cpu


def test_device_put_get_and_block_until_ready_keep_the_tree():
    tree = {"w": np.ones((2, 2)), "b": [np.zeros(2), 3]}
    placed = fxgrad.device_put(tree)
    assert isinstance(placed["w"], fxgrad.Array) and isinstance(placed["b"][0], fxgrad.Array)
    got = fxgrad.device_get(placed)
    assert type(got["w"]) is np.ndarray and got["b"][1] == 3
    np.testing.assert_array_equal(got["w"], tree["w"])
    assert fxgrad.block_until_ready(placed) is placed
    assert placed["w"].block_until_ready() is placed["w"]
    # device_put inside a transformation leaves the tracer alone
    assert fxgrad.grad(lambda v: fnp.sum(fxgrad.device_put(v) ** 2))(np.ones(2)).tolist() == [2, 2]
