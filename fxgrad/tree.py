"""The ``jax.tree`` namespace: short names for the pytree functions of ``fxgrad.tree_util``.

``fxgrad.tree.map(f, tree)`` is ``fxgrad.tree_util.tree_map(f, tree)``, and so on, with the
signatures of ``jax.tree`` (https://docs.jax.dev/en/latest/jax.tree.html). Each name is a
forwarding function made by ``_short_name``: it carries its own name and example, and takes
its signature from the ``tree_util`` function it calls, so each signature is written once.
The full documentation lives on that ``tree_util`` function.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from fxgrad import tree_util

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

F = TypeVar("F", bound=Callable[..., Any])


def _short_name(full: F, name: str, doc: str) -> F:
    """``full`` under its ``jax.tree`` name ``name``, documented by ``doc``.

    The forwarding function has ``full``'s signature for ``inspect.signature`` (through
    ``__wrapped__``) and for type checkers (through ``F``), and its own ``__name__``,
    ``__module__`` and docstring, whose example runs as a doctest of this module.
    """

    @functools.wraps(full)
    def short(*args: Any, **kwargs: Any) -> Any:
        return full(*args, **kwargs)

    short.__name__ = short.__qualname__ = name
    short.__module__ = __name__
    short.__doc__ = doc
    return short  # type: ignore[return-value]


all = _short_name(  # noqa: A001 (jax.tree's name)
    tree_util.tree_all,
    "all",
    """True if every leaf of ``tree`` is truthy; see ``tree_util.tree_all``.

    Example:
        >>> from fxgrad import tree
        >>> tree.all([True, {"a": 1, "b": (True,)}])
        True
    """,
)

flatten = _short_name(
    tree_util.tree_flatten,
    "flatten",
    """``(leaves, treedef)`` of ``tree``; see ``tree_util.tree_flatten``.

    Example:
        >>> from fxgrad import tree
        >>> tree.flatten([1, (2, 3), {"b": 4, "a": 5}])
        ([1, 2, 3, 5, 4], PyTreeDef([*, (*, *), {'a': *, 'b': *}]))
    """,
)

leaves = _short_name(
    tree_util.tree_leaves,
    "leaves",
    """The leaves of ``tree`` in flatten order; see ``tree_util.tree_leaves``.

    Example:
        >>> from fxgrad import tree
        >>> tree.leaves({"b": [1, None], "a": 2})
        [2, 1]
    """,
)

map = _short_name(  # noqa: A001 (jax.tree's name)
    tree_util.tree_map,
    "map",
    """Applies ``f`` leafwise over ``tree`` and ``rest``; see ``tree_util.tree_map``.

    Example:
        >>> from fxgrad import tree
        >>> tree.map(lambda x, y: x * y, (1, [2]), (10, [20]))
        (10, [40])
    """,
)

reduce = _short_name(
    tree_util.tree_reduce,
    "reduce",
    """``functools.reduce`` over the leaves; see ``tree_util.tree_reduce``.

    Example:
        >>> from fxgrad import tree
        >>> tree.reduce(max, {"a": 3, "b": (7, 1)})
        7
    """,
)

structure = _short_name(
    tree_util.tree_structure,
    "structure",
    """The ``PyTreeDef`` of ``tree``; see ``tree_util.tree_structure``.

    Example:
        >>> from fxgrad import tree
        >>> tree.structure({"a": (1, None)})
        PyTreeDef({'a': (*, None)})
    """,
)

transpose = _short_name(
    tree_util.tree_transpose,
    "transpose",
    """Swaps the outer and inner levels of a pytree; see ``tree_util.tree_transpose``.

    Example:
        >>> from fxgrad import tree
        >>> tree.transpose(tree.structure([0, 0]), None, [{"a": 1, "b": 2}, {"a": 3, "b": 4}])
        {'a': [1, 3], 'b': [2, 4]}
    """,
)

unflatten = _short_name(
    tree_util.tree_unflatten,
    "unflatten",
    """Builds a pytree of structure ``treedef``; see ``tree_util.tree_unflatten``.

    Example:
        >>> from fxgrad import tree
        >>> tree.unflatten(tree.structure((0, [0])), ["x", "y"])
        ('x', ['y'])
    """,
)

flatten_with_path = _short_name(
    tree_util.tree_flatten_with_path,
    "flatten_with_path",
    """Flattens with each leaf's key path; see ``tree_util.tree_flatten_with_path``.

    Example:
        >>> from fxgrad import tree
        >>> tree.flatten_with_path({"a": [5]})
        ([((DictKey(key='a'), SequenceKey(idx=0)), 5)], PyTreeDef({'a': [*]}))
    """,
)

leaves_with_path = _short_name(
    tree_util.tree_leaves_with_path,
    "leaves_with_path",
    """``(key_path, leaf)`` pairs; see ``tree_util.tree_leaves_with_path``.

    Example:
        >>> from fxgrad import tree, tree_util
        >>> [tree_util.keystr(p) for p, _ in tree.leaves_with_path({"w": (1, 2)})]
        ["['w'][0]", "['w'][1]"]
    """,
)

map_with_path = _short_name(
    tree_util.tree_map_with_path,
    "map_with_path",
    """``tree.map`` with ``f(key_path, x, *xs)``; see ``tree_util.tree_map_with_path``.

    Example:
        >>> from fxgrad import tree, tree_util
        >>> name = lambda path, x: tree_util.keystr(path, simple=True, separator="/")
        >>> tree.map_with_path(name, [{"a": 0}])
        [{'a': '0/a'}]
    """,
)
