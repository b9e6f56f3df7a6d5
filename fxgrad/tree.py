"""The ``jax.tree`` namespace: short names for the pytree functions of ``fxgrad.tree_util``.

``fxgrad.tree.map(f, tree)`` is ``fxgrad.tree_util.tree_map(f, tree)``, and so on, with the
signatures of ``jax.tree`` (https://docs.jax.dev/en/latest/jax.tree.html). Each function is
a thin wrapper; the full documentation lives on the ``tree_util`` function it calls.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from fxgrad import tree_util
from fxgrad.tree_util import KeyPath, Leaf, PyTreeDef

__all__ = [
    "all",
    "flatten",
    "flatten_with_path",
    "leaves",
    "leaves_with_path",
    "map",
    "map_with_path",
    "reduce",
    "structure",
    "transpose",
    "unflatten",
]

T = TypeVar("T")


def all(tree: Any, *, is_leaf: Callable[[Any], bool] | None = None) -> bool:
    """True if every leaf of ``tree`` is truthy; see ``tree_util.tree_all``.

    Example:
        >>> from fxgrad import tree
        >>> tree.all([True, {"a": 1, "b": (True,)}])
        True
    """
    return tree_util.tree_all(tree, is_leaf=is_leaf)


def flatten(
    tree: Any, is_leaf: Callable[[Any], bool] | None = None
) -> tuple[list[Leaf], PyTreeDef]:
    """``(leaves, treedef)`` of ``tree``; see ``tree_util.tree_flatten``.

    Example:
        >>> from fxgrad import tree
        >>> tree.flatten([1, (2, 3), {"b": 4, "a": 5}])
        ([1, 2, 3, 5, 4], PyTreeDef([*, (*, *), {'a': *, 'b': *}]))
    """
    return tree_util.tree_flatten(tree, is_leaf)


def leaves(tree: Any, is_leaf: Callable[[Any], bool] | None = None) -> list[Leaf]:
    """The leaves of ``tree`` in flatten order; see ``tree_util.tree_leaves``.

    Example:
        >>> from fxgrad import tree
        >>> tree.leaves({"b": [1, None], "a": 2})
        [2, 1]
    """
    return tree_util.tree_leaves(tree, is_leaf)


def map(
    f: Callable[..., Any],
    tree: Any,
    *rest: Any,
    is_leaf: Callable[[Any], bool] | None = None,
) -> Any:
    """Applies ``f`` leafwise over ``tree`` and ``rest``; see ``tree_util.tree_map``.

    Example:
        >>> from fxgrad import tree
        >>> tree.map(lambda x, y: x * y, (1, [2]), (10, [20]))
        (10, [40])
    """
    return tree_util.tree_map(f, tree, *rest, is_leaf=is_leaf)


def reduce(
    function: Callable[[T, Any], T],
    tree: Any,
    initializer: T | tree_util.Unspecified = tree_util.Unspecified(),  # noqa: B008 (as JAX)
    is_leaf: Callable[[Any], bool] | None = None,
) -> T:
    """``functools.reduce`` over the leaves; see ``tree_util.tree_reduce``.

    Example:
        >>> from fxgrad import tree
        >>> tree.reduce(max, {"a": 3, "b": (7, 1)})
        7
    """
    return tree_util.tree_reduce(function, tree, initializer, is_leaf)


def structure(tree: Any, is_leaf: Callable[[Any], bool] | None = None) -> PyTreeDef:
    """The ``PyTreeDef`` of ``tree``; see ``tree_util.tree_structure``.

    Example:
        >>> from fxgrad import tree
        >>> tree.structure({"a": (1, None)})
        PyTreeDef({'a': (*, None)})
    """
    return tree_util.tree_structure(tree, is_leaf)


def transpose(
    outer_treedef: PyTreeDef, inner_treedef: PyTreeDef | None, pytree_to_transpose: Any
) -> Any:
    """Swaps the outer and inner levels of a pytree; see ``tree_util.tree_transpose``.

    Example:
        >>> from fxgrad import tree
        >>> tree.transpose(tree.structure([0, 0]), None, [{"a": 1, "b": 2}, {"a": 3, "b": 4}])
        {'a': [1, 3], 'b': [2, 4]}
    """
    return tree_util.tree_transpose(outer_treedef, inner_treedef, pytree_to_transpose)


def unflatten(treedef: PyTreeDef, leaves: Iterable[Leaf]) -> Any:
    """Builds a pytree of structure ``treedef``; see ``tree_util.tree_unflatten``.

    Example:
        >>> from fxgrad import tree
        >>> tree.unflatten(tree.structure((0, [0])), ["x", "y"])
        ('x', ['y'])
    """
    return tree_util.tree_unflatten(treedef, leaves)


def flatten_with_path(
    tree: Any,
    is_leaf: Callable[..., bool] | None = None,
    is_leaf_takes_path: bool = False,
) -> tuple[list[tuple[KeyPath, Any]], PyTreeDef]:
    """Flattens with each leaf's key path; see ``tree_util.tree_flatten_with_path``.

    Example:
        >>> from fxgrad import tree
        >>> tree.flatten_with_path({"a": [5]})
        ([((DictKey(key='a'), SequenceKey(idx=0)), 5)], PyTreeDef({'a': [*]}))
    """
    return tree_util.tree_flatten_with_path(tree, is_leaf, is_leaf_takes_path)


def leaves_with_path(
    tree: Any,
    is_leaf: Callable[..., bool] | None = None,
    is_leaf_takes_path: bool = False,
) -> list[tuple[KeyPath, Any]]:
    """``(key_path, leaf)`` pairs; see ``tree_util.tree_leaves_with_path``.

    Example:
        >>> from fxgrad import tree, tree_util
        >>> [tree_util.keystr(p) for p, _ in tree.leaves_with_path({"w": (1, 2)})]
        ["['w'][0]", "['w'][1]"]
    """
    return tree_util.tree_leaves_with_path(tree, is_leaf, is_leaf_takes_path)


def map_with_path(
    f: Callable[..., Any],
    tree: Any,
    *rest: Any,
    is_leaf: Callable[..., bool] | None = None,
    is_leaf_takes_path: bool = False,
) -> Any:
    """``tree.map`` with ``f(key_path, x, *xs)``; see ``tree_util.tree_map_with_path``.

    Example:
        >>> from fxgrad import tree, tree_util
        >>> name = lambda path, x: tree_util.keystr(path, simple=True, separator="/")
        >>> tree.map_with_path(name, [{"a": 0}])
        [{'a': '0/a'}]
    """
    return tree_util.tree_map_with_path(
        f, tree, *rest, is_leaf=is_leaf, is_leaf_takes_path=is_leaf_takes_path
    )
