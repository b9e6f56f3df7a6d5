"""The kernel IR: its printer is stable and its verifier rejects malformed kernels."""

from __future__ import annotations

import dataclasses

import pytest

from fxgrad.lowering.kernel_ir import (
    Input,
    Kernel,
    KernelIRError,
    Node,
    Store,
    combiner_init,
    format_kernel,
    inner_levels,
    reduce_depths,
    verify,
)


def _softmax_row_kernel() -> Kernel:
    nodes = (
        Node("load", (), "float32", 0),
        Node("reduce", (0,), "float32", "max"),
        Node("sub", (0, 1), "float32"),
        Node("exp", (2,), "float32"),
        Node("reduce", (3,), "float32", "add"),
        Node("div", (3, 4), "float32"),
    )
    return Kernel(
        outer=(4,),
        inner=(8,),
        inputs=(Input("float32", (8, 1)),),
        nodes=nodes,
        stores=(Store(5, "float32", (8, 1), 32),),
    )


def test_printer_is_stable_and_complete():
    kernel = _softmax_row_kernel()
    expected = "\n".join(
        [
            "kernel outer=(4,) inner=(8,)",
            "  in0: f32 strides=(8, 1) offset=0",
            "  %0 = load[in0] : f32",
            "  %1 = reduce[max] %0 : f32",
            "  %2 = sub %0 %1 : f32",
            "  %3 = exp %2 : f32",
            "  %4 = reduce[add] %3 : f32",
            "  %5 = div %3 %4 : f32",
            "  out0: f32[32] = %5 strides=(8, 1)",
        ]
    )
    assert format_kernel(kernel) == expected
    assert str(kernel) == expected
    assert format_kernel(_softmax_row_kernel()) == format_kernel(kernel)


def test_printer_distinguishes_constants_exactly():
    def kernel(value: float) -> Kernel:
        nodes = (
            Node("load", (), "float64", 0),
            Node("const", (), "float64", value),
            Node("add", (0, 1), "float64"),
        )
        return Kernel((3,), (), (Input("float64", (1,)),), nodes, (Store(2, "float64", (1,), 3),))

    assert format_kernel(kernel(0.1)) != format_kernel(kernel(0.1 + 2**-56))
    assert "const[nan]" in format_kernel(kernel(float("nan")))


def test_levels_and_depths():
    kernel = _softmax_row_kernel()
    verify(kernel)
    assert inner_levels(kernel) == [True, False, True, True, False, True]
    assert reduce_depths(kernel) == [0, 1, 1, 1, 2, 2]


def test_combiner_identities():
    assert combiner_init("add", "float32") == 0.0
    assert combiner_init("max", "float64") == float("-inf")
    assert combiner_init("min", "int8") == 127
    assert combiner_init("max", "uint16") == 0
    assert combiner_init("and", "int32") == -1
    assert combiner_init("and", "bool") is True
    assert combiner_init("mul", "int64") == 1


def _with_nodes(kernel: Kernel, nodes: tuple[Node, ...]) -> Kernel:
    return dataclasses.replace(kernel, nodes=nodes)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda k: _with_nodes(k, (*k.nodes[:5], Node("div", (3, 9), "float32"))), "earlier"),
        (
            lambda k: _with_nodes(k, (*k.nodes[:5], Node("frobnicate", (3, 4), "float32"))),
            "unknown op",
        ),
        (lambda k: _with_nodes(k, (*k.nodes[:5], Node("div", (3,), "float32"))), "takes 2"),
        (
            lambda k: _with_nodes(k, (*k.nodes[:5], Node("div", (3, 4), "float64"))),
            "cannot have dtype",
        ),
        (lambda k: _with_nodes(k, (*k.nodes[:5], Node("lt", (3, 4), "float32"))), "returns bool"),
        (
            lambda k: _with_nodes(k, (*k.nodes[:5], Node("and", (3, 4), "float32"))),
            "does not accept",
        ),
        (
            lambda k: _with_nodes(k, (*k.nodes[:5], Node("select", (3, 4, 4), "float32"))),
            "predicate must be bool",
        ),
        (lambda k: _with_nodes(k, (Node("load", (), "float32", 3), *k.nodes[1:])), "missing input"),
        (lambda k: _with_nodes(k, (Node("load", (), "float64", 0), *k.nodes[1:])), "dtype"),
        (lambda k: dataclasses.replace(k, inner=()), "strides"),
        (lambda k: dataclasses.replace(k, stores=(Store(5, "float64", (8, 1), 32),)), "dtype"),
        (
            lambda k: dataclasses.replace(k, stores=(Store(5, "float32", (1, 0), 4),)),
            "needs inner strides",
        ),
        (lambda k: dataclasses.replace(k, stores=()), "at least one"),
    ],
)
def test_verifier_rejects(change, message):
    with pytest.raises(KernelIRError, match=message):
        verify(change(_softmax_row_kernel()))


def test_verifier_rejects_reduce_without_inner_axes():
    nodes = (Node("load", (), "float32", 0), Node("reduce", (0,), "float32", "add"))
    kernel = Kernel((4,), (), (Input("float32", (1,)),), nodes, (Store(1, "float32", (1,), 4),))
    with pytest.raises(KernelIRError, match="without inner axes"):
        verify(kernel)
