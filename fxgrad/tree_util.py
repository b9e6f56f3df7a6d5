"""Pytrees: nested containers flattened into a list of leaves and a structure, and back.

This module mirrors ``jax.tree_util`` (https://docs.jax.dev/en/latest/jax.tree_util.html):
same names, argument names, defaults, leaf order, key paths and ``PyTreeDef`` reprs.

Invariant: ``tree_unflatten(*reversed(tree_flatten(x)))`` rebuilds ``x``. Leaves come out
depth-first, left to right; dict (and defaultdict) children in sorted key order, OrderedDict
children in insertion order. ``None`` is a node with no children, not a leaf. Node types are
looked up by exact type (``type(x)``), never by ``isinstance``, so a subclass of a registered
type is a leaf, as in JAX. The one exception is namedtuples: any tuple subclass with
``_fields``.

Representation: a ``PyTreeDef`` wraps a tree of ``_Node`` tuples
``(node_type, node_data, children, num_leaves)``; a leaf is ``_Node(None, None, (), 1)``.
Nodes are NamedTuples rather than frozen dataclasses on purpose: one is built per container on
every flatten, and treedefs are hashed and compared on every jit cache lookup, so node
construction, ``__eq__`` and ``__hash__`` must run in C (a frozen dataclass is ~5x slower to
build). Flattening dispatches on tuple/list/dict/None first and only then on the registry;
structure errors are diagnosed by a second, slower walk that tracks key paths, so the happy
path pays nothing for good error messages.
"""

from __future__ import annotations

import functools
import operator
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, TypeVar

__all__ = [
    "DictKey",
    "FlattenedIndexKey",
    "GetAttrKey",
    "Partial",
    "PyTreeDef",
    "SequenceKey",
    "all_leaves",
    "keystr",
    "register_dataclass",
    "register_pytree_node",
    "register_pytree_node_class",
    "register_pytree_with_keys",
    "tree_all",
    "tree_flatten",
    "tree_flatten_with_path",
    "tree_leaves",
    "tree_leaves_with_path",
    "tree_map",
    "tree_map_with_path",
    "tree_reduce",
    "tree_structure",
    "tree_transpose",
    "tree_unflatten",
    "treedef_is_leaf",
]

T = TypeVar("T")
Typ = TypeVar("Typ", bound=type)
Leaf = Any
KeyEntry = Any
KeyPath = tuple[KeyEntry, ...]


# --- key path entries ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SequenceKey:
    """Key of a tuple or list element; ``str`` gives ``[idx]``."""

    idx: int

    def __str__(self) -> str:
        return f"[{self.idx!r}]"


@dataclass(frozen=True, slots=True)
class DictKey:
    """Key of a dict, OrderedDict or defaultdict entry; ``str`` gives ``['key']``."""

    key: Hashable

    def __str__(self) -> str:
        return f"[{self.key!r}]"


@dataclass(frozen=True, slots=True)
class GetAttrKey:
    """Key of an attribute (namedtuple field, dataclass field); ``str`` gives ``.name``."""

    name: str

    def __str__(self) -> str:
        return f".{self.name}"


@dataclass(frozen=True, slots=True)
class FlattenedIndexKey:
    """Position among the children of a node registered without keys.

    ``str`` gives ``[<flat index 0>]``, as in JAX.
    """

    key: int

    def __str__(self) -> str:
        return f"[<flat index {self.key}>]"


def keystr(keys: KeyPath, *, simple: bool = False, separator: str = "") -> str:
    """Joins the string forms of a key path.

    Args:
        keys: a key path, as returned by ``tree_flatten_with_path``.
        simple: use the bare key (``a``, ``0``, ``x``) instead of ``['a']``, ``[0]``, ``.x``.
        separator: string put between the keys.

    Returns:
        The joined string; ``''`` for the empty path (the root).

    Example:
        >>> from fxgrad import tree_util
        >>> path, _ = tree_util.tree_leaves_with_path({"a": [0, (1, 2)]})[2]
        >>> tree_util.keystr(path)
        "['a'][1][1]"
        >>> tree_util.keystr(path, simple=True, separator="/")
        'a/1/1'
    """
    if not simple:
        return separator.join(map(str, keys))
    return separator.join(map(_simple_key_str, keys))


def _simple_key_str(key: KeyEntry) -> str:
    if isinstance(key, SequenceKey):
        return str(key.idx)
    if isinstance(key, DictKey | FlattenedIndexKey):
        return str(key.key)
    if isinstance(key, GetAttrKey):
        return key.name
    return str(key)


# --- node types and the registry ----------------------------------------------------------------


@dataclass(frozen=True, slots=True, eq=False)
class _NodeType:
    """How one kind of pytree node is taken apart and put back together.

    Compared by identity: there is one ``_NodeType`` per registered type, plus one shared by
    all namedtuples (their ``node_data`` is the namedtuple class).
    """

    name: str
    nodetype: type | None  # None for the namedtuple entry
    flatten: Callable[[Any], tuple[Iterable[Any], Hashable]]
    unflatten: Callable[[Any, Iterable[Any]], Any]
    flatten_with_keys: Callable[[Any], tuple[Iterable[tuple[KeyEntry, Any]], Hashable]]

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickle by reference to the registry, so unpickled treedefs compare equal.
        return (_lookup_node_type, (self.nodetype,))


def _lookup_node_type(nodetype: type | None) -> _NodeType:
    if nodetype is None:
        return _NAMEDTUPLE
    node_type = _registry.get(nodetype)
    if node_type is None:
        raise ValueError(
            f"Cannot unpickle a PyTreeDef: {nodetype!r} is not registered as a pytree node "
            "type in this process. Register it (register_pytree_node) before unpickling."
        )
    return node_type


_registry: dict[type, _NodeType] = {}


def _sorted_keys(d: dict) -> tuple[Any, ...]:
    try:
        return tuple(sorted(d))
    except TypeError as e:
        raise _unsortable_keys_error(d, e) from None


def _unsortable_keys_error(d: dict, e: TypeError) -> ValueError:
    return ValueError(
        f"Cannot flatten a {type(d).__name__} with keys {list(d)}: pytrees visit dict "
        f"children in sorted key order, and sorting the keys failed ({e}). Use keys "
        "that compare with each other, or an OrderedDict (flattened in insertion order)."
    )


def _seq_flatten_with_keys(xs: Sequence[Any]) -> tuple[list[tuple[KeyEntry, Any]], None]:
    return [(SequenceKey(i), x) for i, x in enumerate(xs)], None


def _dict_flatten(d: dict) -> tuple[list[Any], tuple[Any, ...]]:
    keys = _sorted_keys(d)
    return [d[k] for k in keys], keys


def _dict_flatten_with_keys(d: dict) -> tuple[list[tuple[KeyEntry, Any]], tuple[Any, ...]]:
    keys = _sorted_keys(d)
    return [(DictKey(k), d[k]) for k in keys], keys


def _ordered_dict_flatten_with_keys(d: OrderedDict) -> tuple[list[Any], tuple[Any, ...]]:
    keys = tuple(d)
    return [(DictKey(k), d[k]) for k in keys], keys


def _default_dict_flatten_with_keys(d: defaultdict) -> tuple[list[Any], tuple[Any, ...]]:
    keys = _sorted_keys(d)
    return [(DictKey(k), d[k]) for k in keys], (d.default_factory, keys)


def _namedtuple_flatten_with_keys(t: tuple) -> tuple[list[tuple[KeyEntry, Any]], type]:
    return [(GetAttrKey(name), x) for name, x in zip(t._fields, t, strict=True)], type(t)


def _drop_keys(flatten_with_keys: Callable) -> Callable:
    def flatten(x: Any) -> tuple[list[Any], Hashable]:
        key_children, node_data = flatten_with_keys(x)
        return [child for _, child in key_children], node_data

    return flatten


def _add_keys(flatten: Callable) -> Callable:
    def flatten_with_keys(x: Any) -> tuple[list[tuple[KeyEntry, Any]], Hashable]:
        children, node_data = flatten(x)
        return [(FlattenedIndexKey(i), child) for i, child in enumerate(children)], node_data

    return flatten_with_keys


def _builtin(nodetype: type, flatten, unflatten, flatten_with_keys) -> _NodeType:
    node_type = _NodeType(nodetype.__name__, nodetype, flatten, unflatten, flatten_with_keys)
    _registry[nodetype] = node_type
    return node_type


_TUPLE = _builtin(tuple, lambda t: (t, None), lambda _, xs: tuple(xs), _seq_flatten_with_keys)
_LIST = _builtin(list, lambda xs: (xs, None), lambda _, xs: list(xs), _seq_flatten_with_keys)
_DICT = _builtin(
    dict, _dict_flatten, lambda keys, xs: dict(zip(keys, xs, strict=True)), _dict_flatten_with_keys
)
_NONE = _builtin(type(None), lambda _: ((), None), lambda _, xs: None, lambda _: ((), None))
_builtin(
    OrderedDict,
    _drop_keys(_ordered_dict_flatten_with_keys),
    lambda keys, xs: OrderedDict(zip(keys, xs, strict=True)),
    _ordered_dict_flatten_with_keys,
)
_builtin(
    defaultdict,
    _drop_keys(_default_dict_flatten_with_keys),
    lambda data, xs: defaultdict(data[0], zip(data[1], xs, strict=True)),
    _default_dict_flatten_with_keys,
)
_NAMEDTUPLE = _NodeType(
    "namedtuple",
    None,
    lambda t: (t, type(t)),
    lambda cls, xs: cls(*xs),
    _namedtuple_flatten_with_keys,
)


def _node_type_of(typ: type) -> _NodeType | None:
    """The registered node type of ``typ``, the namedtuple entry, or None for a leaf type."""
    node_type = _registry.get(typ)
    if node_type is None and issubclass(typ, tuple) and hasattr(typ, "_fields"):
        return _NAMEDTUPLE
    return node_type


# Cache of _node_type_of by exact type, leaf types (None) included, so telling a leaf from a
# node costs one dict lookup. Registration clears it; the size cap bounds the memory held by
# classes created on the fly.
_UNKNOWN: Any = object()
_dispatch: dict[type, _NodeType | None] = {}
_DISPATCH_CACHE_SIZE = 4096


def _classify(typ: type) -> _NodeType | None:
    node_type = _node_type_of(typ)
    if len(_dispatch) >= _DISPATCH_CACHE_SIZE:
        _dispatch.clear()
    _dispatch[typ] = node_type
    return node_type


# --- the treedef --------------------------------------------------------------------------------


class _Node(NamedTuple):
    """One node of a treedef. Internal; see the module docstring for why it is a tuple."""

    node_type: _NodeType | None  # None marks a leaf
    node_data: Hashable  # dict keys, namedtuple class, custom aux data
    children: tuple[_Node, ...]
    num_leaves: int


_new_node = tuple.__new__  # _new_node(_Node, (...)) skips NamedTuple's Python-level __new__
_LEAF = _Node(None, None, (), 1)
_NONE_NODE = _Node(_NONE, None, (), 0)


class PyTreeDef:
    """The structure of a pytree: its node types, node data and arrangement, without leaves.

    Immutable, hashable and comparable with ``==``; built by ``tree_flatten`` and
    ``tree_structure``, not by calling the class. The repr matches JAX's, e.g.
    ``PyTreeDef((*, {'a': *}))`` where ``*`` marks a leaf.
    """

    # A slots class rather than a frozen dataclass: one is built per flatten (see module doc).
    __slots__ = ("_node",)

    def __new__(cls, *args: Any, **kwargs: Any) -> PyTreeDef:
        raise TypeError(
            "PyTreeDef cannot be constructed directly; use tree_structure(tree) or "
            "tree_flatten(tree)."
        )

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"PyTreeDef is immutable; cannot set attribute {name!r}.")

    @property
    def num_leaves(self) -> int:
        """Number of leaves in the structure."""
        return self._node.num_leaves

    @property
    def num_nodes(self) -> int:
        """Number of nodes, counting leaves and the root (``None`` is one node)."""
        return _count_nodes(self._node)

    def children(self) -> list[PyTreeDef]:
        """The treedefs of the root's immediate children (``[]`` for a leaf)."""
        return [_make_treedef(child) for child in self._node.children]

    def node_data(self) -> tuple[type, Any] | None:
        """``(node type, node data)`` of the root, or None for a leaf, as in JAX."""
        node = self._node
        if node.node_type is None:
            return None
        if node.node_type is _NAMEDTUPLE:
            return node.node_data, None
        if node.node_type is _DICT:
            return dict, list(node.node_data)
        return node.node_type.nodetype, node.node_data

    def unflatten(self, leaves: Iterable[Leaf]) -> Any:
        """Builds a pytree of this structure from ``leaves``; see ``tree_unflatten``."""
        return tree_unflatten(self, leaves)

    def flatten_up_to(self, tree: Any) -> list[Any]:
        """Flattens ``tree`` down to this structure: each leaf here takes a whole subtree.

        Args:
            tree: a pytree that has this treedef as a prefix.

        Returns:
            One entry per leaf of this treedef, in leaf order.

        Raises:
            ValueError: if ``tree`` does not match; the message names the key path.
        """
        out: list[Any] = []
        try:
            _flatten_up_to(self._node, tree, out)
        except _Mismatch:
            path, reason = _find_mismatch(self._node, tree, ())
            raise ValueError(
                f"PyTreeDef.flatten_up_to: the tree does not match {self!r} at key path "
                f"{_path_str(path)}: {reason}."
            ) from None
        return out

    def compose(self, inner: PyTreeDef) -> PyTreeDef:
        """The treedef of this structure with each leaf replaced by ``inner``."""
        return _make_treedef(_compose(self._node, inner._node))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PyTreeDef):
            return NotImplemented
        return self._node == other._node

    def __hash__(self) -> int:
        # Not cached: jit hashes each fresh treedef once, and tuple hashing runs in C.
        try:
            return hash(self._node)
        except TypeError as e:
            raise TypeError(
                f"{self!r} is unhashable: some node data is unhashable ({e}). The aux data "
                "returned by a registered flatten function must be hashable (use tuples, "
                "not lists or dicts)."
            ) from None

    def __repr__(self) -> str:
        return f"PyTreeDef({_node_repr(self._node)})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (_make_treedef, (self._node,))


_set_node = PyTreeDef._node.__set__  # type: ignore[attr-defined]


def _make_treedef(node: _Node) -> PyTreeDef:
    treedef = object.__new__(PyTreeDef)
    _set_node(treedef, node)
    return treedef


def _count_nodes(node: _Node) -> int:
    return 1 + sum(_count_nodes(child) for child in node.children)


def _compose(node: _Node, inner: _Node) -> _Node:
    if node.node_type is None:
        return inner
    children = tuple(_compose(child, inner) for child in node.children)
    return _Node(node.node_type, node.node_data, children, node.num_leaves * inner.num_leaves)


def _node_repr(node: _Node) -> str:
    node_type = node.node_type
    if node_type is None:
        return "*"
    children = ", ".join(map(_node_repr, node.children))
    if node_type is _TUPLE:
        return f"({children},)" if len(node.children) == 1 else f"({children})"
    if node_type is _LIST:
        return f"[{children}]"
    if node_type is _DICT:
        items = zip(node.node_data, node.children, strict=True)
        return "{" + ", ".join(f"{key!r}: {_node_repr(child)}" for key, child in items) + "}"
    if node_type is _NONE:
        return "None"
    if node_type is _NAMEDTUPLE:
        return f"CustomNode(namedtuple[{node.node_data.__name__}], [{children}])"
    return f"CustomNode({node_type.name}[{node.node_data}], [{children}])"


# --- flatten and unflatten ----------------------------------------------------------------------


def _flatten(tree: Any, leaves: list[Any], is_leaf: Callable[[Any], bool] | None) -> _Node:
    """Appends the leaves of ``tree`` to ``leaves`` and returns its structure."""
    if is_leaf is not None and is_leaf(tree):
        leaves.append(tree)
        return _LEAF
    node_type = _dispatch.get(type(tree), _UNKNOWN)
    if node_type is _UNKNOWN:
        node_type = _classify(type(tree))
    if node_type is None:
        leaves.append(tree)
        return _LEAF
    return _flatten_node(node_type, tree, leaves, is_leaf)


def _flatten_node(
    node_type: _NodeType, tree: Any, leaves: list[Any], is_leaf: Callable[[Any], bool] | None
) -> _Node:
    """``_flatten`` of a tree known to be a node; leaf children are handled inline (no call)."""
    if node_type is _TUPLE or node_type is _LIST:
        values, node_data = tree, None
    elif node_type is _DICT:
        node_data = _sorted_keys(tree)
        values = [tree[key] for key in node_data]
    elif node_type is _NONE:
        return _NONE_NODE
    elif node_type is _NAMEDTUPLE:
        values, node_data = tree, type(tree)
    else:
        values, node_data = _flatten_custom(node_type, tree)
    start = len(leaves)
    children = []
    for value in values:
        if is_leaf is not None and is_leaf(value):
            child_type = None
        else:
            child_type = _dispatch.get(type(value), _UNKNOWN)
            if child_type is _UNKNOWN:
                child_type = _classify(type(value))
        if child_type is None:
            leaves.append(value)
            children.append(_LEAF)
        else:
            children.append(_flatten_node(child_type, value, leaves, is_leaf))
    return _new_node(_Node, (node_type, node_data, tuple(children), len(leaves) - start))


def _flatten_custom(node_type: _NodeType, tree: Any) -> tuple[Iterable[Any], Hashable]:
    """Calls a registered flatten function and checks it returned ``(children, aux_data)``."""
    flat = node_type.flatten(tree)
    if type(flat) is not tuple or len(flat) != 2:
        raise ValueError(
            f"The flatten function registered for {node_type.name} must return a "
            f"(children, aux_data) tuple; got {_short_repr(flat)}."
        )
    return flat


def _collect_leaves(tree: Any, leaves: list[Any], is_leaf: Callable[[Any], bool] | None) -> None:
    """``_flatten`` without building the structure: the body of ``tree_leaves``."""
    if is_leaf is not None and is_leaf(tree):
        leaves.append(tree)
        return
    node_type = _dispatch.get(type(tree), _UNKNOWN)
    if node_type is _UNKNOWN:
        node_type = _classify(type(tree))
    if node_type is None:
        leaves.append(tree)
    elif node_type is _TUPLE or node_type is _LIST or node_type is _NAMEDTUPLE:
        for value in tree:
            _collect_leaves(value, leaves, is_leaf)
    elif node_type is _DICT:
        for key in _sorted_keys(tree):
            _collect_leaves(tree[key], leaves, is_leaf)
    elif node_type is not _NONE:
        for value in _flatten_custom(node_type, tree)[0]:
            _collect_leaves(value, leaves, is_leaf)


def _unflatten(node: _Node, leaves: Iterator[Any]) -> Any:
    """Rebuilds the subtree of the non-leaf ``node``, taking leaves from ``leaves``."""
    # Explicit loops rather than comprehensions throughout the hot path: a comprehension is a
    # function call in CPython 3.11, which costs more than the loop for small nodes.
    children = []
    for child in node.children:
        if child.node_type is None:
            children.append(next(leaves))
        else:
            children.append(_unflatten(child, leaves))
    node_type = node.node_type
    if node_type is _TUPLE:
        return tuple(children)
    if node_type is _LIST:
        return children
    if node_type is _DICT:
        return dict(zip(node.node_data, children))  # noqa: B905 (equal lengths; strict= is slow)
    return node_type.unflatten(node.node_data, tuple(children))


def _unflatten_root(node: _Node, leaves: Iterator[Any]) -> Any:
    return next(leaves) if node.node_type is None else _unflatten(node, leaves)


def tree_flatten(
    tree: Any, is_leaf: Callable[[Any], bool] | None = None
) -> tuple[list[Leaf], PyTreeDef]:
    """Flattens a pytree into its leaves and its structure.

    Args:
        tree: the pytree to flatten.
        is_leaf: called on every node before it is flattened; when it returns True the whole
            subtree is treated as a single leaf.

    Returns:
        ``(leaves, treedef)``: the leaves in depth-first, left-to-right order (dict children
        in sorted key order) and a ``PyTreeDef``. ``None`` is a node with no leaves.

    Raises:
        ValueError: if a dict's keys cannot be sorted, or a registered flatten function does
            not return a ``(children, aux_data)`` pair.

    Example:
        >>> from fxgrad import tree_util
        >>> leaves, treedef = tree_util.tree_flatten([1, {"b": 2, "a": 3}, None])
        >>> leaves
        [1, 3, 2]
        >>> treedef
        PyTreeDef([*, {'a': *, 'b': *}, None])
    """
    leaves: list[Leaf] = []
    node = _flatten(tree, leaves, is_leaf)
    return leaves, _make_treedef(node)


def tree_unflatten(treedef: PyTreeDef, leaves: Iterable[Leaf]) -> Any:
    """Builds a pytree with structure ``treedef`` from ``leaves``.

    Args:
        treedef: the structure, e.g. from ``tree_flatten``.
        leaves: exactly ``treedef.num_leaves`` leaves, in ``tree_flatten`` order.

    Returns:
        The rebuilt pytree. Dicts are rebuilt with sorted keys, as in JAX.

    Raises:
        ValueError: if the number of leaves differs from ``treedef.num_leaves``.

    Example:
        >>> from fxgrad import tree_util
        >>> treedef = tree_util.tree_structure((0, {"a": 0}))
        >>> tree_util.tree_unflatten(treedef, [1, 2])
        (1, {'a': 2})
    """
    if type(leaves) is not list and type(leaves) is not tuple:
        leaves = list(leaves)
    node = treedef._node
    if len(leaves) != node.num_leaves:
        amount = "few" if len(leaves) < node.num_leaves else "many"
        raise ValueError(
            f"tree_unflatten: too {amount} leaves for {treedef!r}; expected "
            f"{node.num_leaves}, got {len(leaves)}. Pass exactly treedef.num_leaves leaves, "
            "in the order tree_flatten returns them."
        )
    return _unflatten_root(node, iter(leaves))


def tree_leaves(tree: Any, is_leaf: Callable[[Any], bool] | None = None) -> list[Leaf]:
    """The leaves of a pytree, in ``tree_flatten`` order.

    Example:
        >>> from fxgrad import tree_util
        >>> tree_util.tree_leaves({"x": (1, None), "w": [2]})
        [2, 1]
    """
    leaves: list[Leaf] = []
    _collect_leaves(tree, leaves, is_leaf)
    return leaves


def tree_structure(tree: Any, is_leaf: Callable[[Any], bool] | None = None) -> PyTreeDef:
    """The ``PyTreeDef`` of a pytree (``tree_flatten(tree, is_leaf)[1]``).

    Example:
        >>> from fxgrad import tree_util
        >>> tree_util.tree_structure((1, [2, 3], None))
        PyTreeDef((*, [*, *], None))
    """
    return tree_flatten(tree, is_leaf)[1]


def treedef_is_leaf(treedef: PyTreeDef) -> bool:
    """True if ``treedef`` has a single node: a leaf, or a node with no children like ``None``.

    Example:
        >>> from fxgrad import tree_util
        >>> tree_util.treedef_is_leaf(tree_util.tree_structure(1))
        True
        >>> tree_util.treedef_is_leaf(tree_util.tree_structure([1]))
        False
    """
    return not treedef._node.children


def all_leaves(iterable: Iterable[Any], is_leaf: Callable[[Any], bool] | None = None) -> bool:
    """True if every element of ``iterable`` is a leaf (``None`` is not a leaf).

    Example:
        >>> from fxgrad import tree_util
        >>> tree_util.all_leaves([1, 2.0, "x"]), tree_util.all_leaves([1, (2,)])
        (True, False)
    """
    if is_leaf is None:
        return all(_node_type_of(type(x)) is None for x in iterable)
    items = list(iterable)
    leaves = tree_leaves(items, is_leaf)
    return len(leaves) == len(items) and all(a is b for a, b in zip(items, leaves, strict=True))


# --- matching a tree against a treedef ----------------------------------------------------------


class _Mismatch(Exception):
    """Internal: a subtree does not match a treedef node; carries the reason."""


def _short_repr(x: Any, limit: int = 60) -> str:
    text = repr(x)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _match_children(node: _Node, tree: Any) -> Sequence[Any]:
    """The children of ``tree`` if its root matches the non-leaf ``node``, else _Mismatch."""
    node_type = node.node_type
    expected = node.node_data if node_type is _NAMEDTUPLE else node_type.nodetype
    if type(tree) is not expected:
        what = "None" if expected is type(None) else f"a {expected.__name__}"
        got = "None" if tree is None else f"{type(tree).__name__} {_short_repr(tree)}"
        raise _Mismatch(f"expected {what}, got {got}")
    num_children = len(node.children)
    if node_type is _DICT:
        if len(tree) == num_children:
            try:
                return [tree[k] for k in node.node_data]
            except KeyError:
                pass
        raise _Mismatch(f"expected dict keys {list(node.node_data)}, got {list(tree)}")
    if node_type is _TUPLE or node_type is _LIST or node_type is _NAMEDTUPLE:
        if len(tree) != num_children:
            raise _Mismatch(
                f"expected a {expected.__name__} of length {num_children}, got one of length "
                f"{len(tree)}: {_short_repr(tree)}"
            )
        return tree
    if node_type is _NONE:
        return ()
    values, node_data = _flatten_custom(node_type, tree)
    if node_data != node.node_data:
        raise _Mismatch(
            f"expected a {node_type.name} with node data {_short_repr(node.node_data)}, got "
            f"node data {_short_repr(node_data)}"
        )
    values = list(values)
    if len(values) != num_children:
        raise _Mismatch(
            f"expected a {node_type.name} with {num_children} children, got {len(values)}"
        )
    return values


def _flatten_up_to(node: _Node, tree: Any, out: list[Any]) -> None:
    """Appends the subtrees of ``tree`` at the leaves of ``node``; _Mismatch if none fits."""
    if node.node_type is None:
        out.append(tree)
        return
    node_type = node.node_type
    typ = type(tree)
    children = node.children
    # Fast paths for the common containers; everything else goes through _match_children.
    if typ is tuple and node_type is _TUPLE and len(tree) == len(children):
        values = tree
    elif typ is list and node_type is _LIST and len(tree) == len(children):
        values = tree
    elif typ is dict and node_type is _DICT and len(tree) == len(children):
        try:
            values = [tree[key] for key in node.node_data]
        except KeyError:
            values = _match_children(node, tree)
    else:
        values = _match_children(node, tree)
    # The lengths are checked, so zip needs no (slow) strict=True.
    for child, value in zip(children, values):  # noqa: B905
        if child.node_type is None:
            out.append(value)
        else:
            _flatten_up_to(child, value, out)


def _find_mismatch(node: _Node, tree: Any, path: KeyPath) -> tuple[KeyPath, str]:
    """The key path and reason of the first mismatch; the slow twin of ``_flatten_up_to``."""
    if node.node_type is None:
        raise AssertionError("_find_mismatch called on a tree that matches")
    try:
        values = _match_children(node, tree)
    except _Mismatch as e:
        return path, str(e)
    key_children, _ = node.node_type.flatten_with_keys(tree)
    keys = [key for key, _ in key_children]
    for key, child, value in zip(keys, node.children, values, strict=True):
        if child.node_type is not None:
            try:
                _flatten_up_to(child, value, [])
            except _Mismatch:
                return _find_mismatch(child, value, (*path, key))
    raise AssertionError("_find_mismatch found no mismatch")


def _path_str(path: KeyPath) -> str:
    return keystr(path) if path else "() (the root)"


def _flatten_rest(api_name: str, node: _Node, rest: tuple[Any, ...]) -> list[list[Any]]:
    """``flatten_up_to`` of each extra tree of a ``tree_map``, with a good error."""
    out = []
    for i, other in enumerate(rest):
        flat: list[Any] = []
        try:
            _flatten_up_to(node, other, flat)
        except _Mismatch:
            path, reason = _find_mismatch(node, other, ())
            treedef = _make_treedef(node)
            hint = ""
            if "None" in reason:
                hint = (
                    " None is a pytree node with no children, not a leaf; to map over None "
                    "as a leaf pass is_leaf=lambda x: x is None."
                )
            raise ValueError(
                f"{api_name}: rest[{i}] does not have the structure of `tree` at key path "
                f"{_path_str(path)}: {reason}.\n"
                f"  tree structure:    {treedef!r}\n"
                f"  rest[{i}] structure: {_structure_repr(other)}\n"
                f"Every tree in {api_name}(f, tree, *rest) must have the structure of `tree`, "
                "or have it as a prefix (a leaf of `tree` may stand for a whole subtree)." + hint
            ) from None
        out.append(flat)
    return out


def _structure_repr(tree: Any) -> str:
    try:
        return repr(tree_structure(tree))
    except Exception as e:  # the diagnosis must not hide the original error
        return f"<cannot flatten: {e}>"


# --- mapping, reducing, transposing -------------------------------------------------------------


def tree_map(
    f: Callable[..., Any],
    tree: Any,
    *rest: Any,
    is_leaf: Callable[[Any], bool] | None = None,
) -> Any:
    """Applies ``f`` leafwise over one or more pytrees of the same structure.

    Args:
        f: called as ``f(x, *xs)`` for each leaf ``x`` of ``tree`` and the matching subtrees
            ``xs`` of ``rest``.
        tree: the pytree that sets the structure.
        *rest: pytrees with the structure of ``tree``, or with ``tree`` as a prefix.
        is_leaf: as in ``tree_flatten``, applied to ``tree`` only.

    Returns:
        A pytree with the structure of ``tree`` holding the results of ``f``.

    Raises:
        ValueError: if a tree in ``rest`` does not match ``tree``; the message gives the key
            path of the first difference and both structures.

    Example:
        >>> from fxgrad import tree_util
        >>> tree_util.tree_map(lambda x, y: x + y, {"a": 1, "b": (2,)}, {"a": 10, "b": (20,)})
        {'a': 11, 'b': (22,)}
    """
    leaves: list[Leaf] = []
    node = _flatten(tree, leaves, is_leaf)
    if rest:
        all_flat = _flatten_rest("tree_map", node, rest)
        results = [f(*xs) for xs in zip(leaves, *all_flat, strict=True)]
    else:
        results = [f(x) for x in leaves]
    return _unflatten_root(node, iter(results))


def tree_transpose(
    outer_treedef: PyTreeDef, inner_treedef: PyTreeDef | None, pytree_to_transpose: Any
) -> Any:
    """Turns an outer-of-inner pytree into an inner-of-outer pytree.

    Args:
        outer_treedef: the structure of the outer level of ``pytree_to_transpose``.
        inner_treedef: the structure of each inner subtree; None infers it from the first.
        pytree_to_transpose: a pytree of structure ``outer_treedef.compose(inner_treedef)``.

    Returns:
        The transposed pytree, of structure ``inner_treedef.compose(outer_treedef)``.

    Raises:
        TypeError: if the leaf count is not ``outer.num_leaves * inner.num_leaves``. As in
            JAX, only the count is checked.

    Example:
        >>> from fxgrad import tree_util
        >>> outer = tree_util.tree_structure([0, 0])
        >>> inner = tree_util.tree_structure((0, 0, 0))
        >>> tree_util.tree_transpose(outer, inner, [(1, 2, 3), (4, 5, 6)])
        ([1, 4], [2, 5], [3, 6])
    """
    flat, treedef = tree_flatten(pytree_to_transpose)
    if inner_treedef is None:
        inner_treedef = tree_structure(outer_treedef.flatten_up_to(pytree_to_transpose)[0])
    inner_size = inner_treedef.num_leaves
    outer_size = outer_treedef.num_leaves
    if treedef.num_leaves != inner_size * outer_size:
        expected = outer_treedef.compose(inner_treedef)
        raise TypeError(
            f"tree_transpose: pytree_to_transpose has {treedef.num_leaves} leaves, but outer "
            f"{outer_treedef!r} ({outer_size} leaves) composed with inner {inner_treedef!r} "
            f"({inner_size} leaves) needs {outer_size * inner_size}.\n"
            f"  got:      {treedef!r}\n  expected: {expected!r}"
        )
    rows = [flat[i * inner_size : (i + 1) * inner_size] for i in range(outer_size)]
    subtrees = [tree_unflatten(outer_treedef, column) for column in zip(*rows, strict=True)]
    if not rows:  # an outer structure without leaves: every inner leaf gets an empty outer
        subtrees = [tree_unflatten(outer_treedef, []) for _ in range(inner_size)]
    return tree_unflatten(inner_treedef, subtrees)


class Unspecified:
    """The type of ``tree_reduce``'s default ``initializer``: "no initializer", as in JAX."""

    def __repr__(self) -> str:
        return "<unspecified>"


def tree_reduce(
    function: Callable[[T, Any], T],
    tree: Any,
    initializer: T | Unspecified = Unspecified(),  # noqa: B008 (JAX's signature)
    is_leaf: Callable[[Any], bool] | None = None,
) -> T:
    """``functools.reduce(function, tree_leaves(tree, is_leaf)[, initializer])``.

    Raises:
        TypeError: if the tree has no leaves and no ``initializer`` is given.

    Example:
        >>> from fxgrad import tree_util
        >>> tree_util.tree_reduce(lambda acc, x: acc + x, [1, (2, 3)], 10)
        16
    """
    leaves = tree_leaves(tree, is_leaf)
    if not isinstance(initializer, Unspecified):
        return functools.reduce(function, leaves, initializer)
    if not leaves:
        raise TypeError(
            f"tree_reduce: the tree has no leaves and no initializer was given "
            f"(structure {tree_structure(tree, is_leaf)!r}). Pass initializer=."
        )
    return functools.reduce(function, leaves)


def tree_all(tree: Any, *, is_leaf: Callable[[Any], bool] | None = None) -> bool:
    """``all(tree_leaves(tree, is_leaf))``.

    Example:
        >>> from fxgrad import tree_util
        >>> tree_util.tree_all([True, {"a": 1, "b": None}]), tree_util.tree_all((1, 0))
        (True, False)
    """
    return all(tree_leaves(tree, is_leaf))


# --- key paths ----------------------------------------------------------------------------------


def _flatten_with_path(
    tree: Any,
    path: KeyPath,
    out: list[tuple[KeyPath, Any]],
    is_leaf: Callable[[KeyPath, Any], bool] | None,
) -> _Node:
    if is_leaf is not None and is_leaf(path, tree):
        out.append((path, tree))
        return _LEAF
    node_type = _node_type_of(type(tree))
    if node_type is None:
        out.append((path, tree))
        return _LEAF
    key_children, node_data = node_type.flatten_with_keys(tree)
    start = len(out)
    children = tuple(
        [_flatten_with_path(child, (*path, key), out, is_leaf) for key, child in key_children]
    )
    return _Node(node_type, node_data, children, len(out) - start)


def tree_flatten_with_path(
    tree: Any,
    is_leaf: Callable[..., bool] | None = None,
    is_leaf_takes_path: bool = False,
) -> tuple[list[tuple[KeyPath, Any]], PyTreeDef]:
    """Like ``tree_flatten``, but each leaf comes with its key path.

    Args:
        tree: the pytree to flatten.
        is_leaf: as in ``tree_flatten``; called as ``is_leaf(path, x)`` when
            ``is_leaf_takes_path`` is True.
        is_leaf_takes_path: whether ``is_leaf`` takes the key path as its first argument.

    Returns:
        ``([(key_path, leaf), ...], treedef)``. A key path is a tuple of ``SequenceKey``,
        ``DictKey``, ``GetAttrKey`` (namedtuple and dataclass fields) and
        ``FlattenedIndexKey`` (nodes registered without keys).

    Example:
        >>> from fxgrad import tree_util
        >>> pairs, _ = tree_util.tree_flatten_with_path({"a": [5, 6]})
        >>> [(tree_util.keystr(path), leaf) for path, leaf in pairs]
        [("['a'][0]", 5), ("['a'][1]", 6)]
    """
    if is_leaf is not None and not is_leaf_takes_path:
        is_leaf_without_path = is_leaf

        def is_leaf(path: KeyPath, x: Any) -> bool:
            return is_leaf_without_path(x)

    out: list[tuple[KeyPath, Any]] = []
    node = _flatten_with_path(tree, (), out, is_leaf)
    return out, _make_treedef(node)


def tree_leaves_with_path(
    tree: Any,
    is_leaf: Callable[..., bool] | None = None,
    is_leaf_takes_path: bool = False,
) -> list[tuple[KeyPath, Any]]:
    """``tree_flatten_with_path(tree, is_leaf, is_leaf_takes_path)[0]``."""
    return tree_flatten_with_path(tree, is_leaf, is_leaf_takes_path)[0]


def tree_map_with_path(
    f: Callable[..., Any],
    tree: Any,
    *rest: Any,
    is_leaf: Callable[..., bool] | None = None,
    is_leaf_takes_path: bool = False,
) -> Any:
    """Like ``tree_map``, but ``f`` is called as ``f(key_path, x, *xs)``.

    Example:
        >>> from fxgrad import tree_util
        >>> tree_util.tree_map_with_path(lambda p, x: tree_util.keystr(p), {"a": (1, 2)})
        {'a': ("['a'][0]", "['a'][1]")}
    """
    pairs, treedef = tree_flatten_with_path(tree, is_leaf, is_leaf_takes_path)
    all_flat = _flatten_rest("tree_map_with_path", treedef._node, rest)
    results = [f(path, x, *xs) for (path, x), *xs in zip(pairs, *all_flat, strict=True)]
    return _unflatten_root(treedef._node, iter(results))


# --- registration -------------------------------------------------------------------------------


def register_pytree_node(
    nodetype: type[T],
    flatten_func: Callable[[T], tuple[Iterable[Any], Hashable]],
    unflatten_func: Callable[[Hashable, Iterable[Any]], T],
    flatten_with_keys_func: Callable[[T], tuple[Iterable[tuple[KeyEntry, Any]], Hashable]]
    | None = None,
) -> None:
    """Makes ``nodetype`` a pytree node (only that exact type, not its subclasses).

    Args:
        nodetype: the class to register.
        flatten_func: ``x -> (children, aux_data)``; ``aux_data`` must be hashable and is
            compared with ``==`` between treedefs.
        unflatten_func: ``(aux_data, children) -> x``; ``children`` is a tuple.
        flatten_with_keys_func: ``x -> ([(key, child), ...], aux_data)`` for key paths;
            without it the keys are ``FlattenedIndexKey(i)``.

    Raises:
        ValueError: if ``nodetype`` is already registered (built-in node types included).

    Example:
        >>> from fxgrad import tree_util
        >>> class Pair:
        ...     def __init__(self, a, b):
        ...         self.a, self.b = a, b
        >>> tree_util.register_pytree_node(
        ...     Pair, lambda p: ((p.a, p.b), None), lambda _, children: Pair(*children)
        ... )
        >>> tree_util.tree_leaves([Pair(1, 2), 3])
        [1, 2, 3]
    """
    if nodetype in _registry:
        raise ValueError(
            f"Duplicate pytree node registration: {nodetype!r} is already registered as a "
            "pytree node type. Register each type once (e.g. at import time of the module "
            "that defines it)."
        )
    if flatten_with_keys_func is None:
        flatten_with_keys_func = _add_keys(flatten_func)
    _registry[nodetype] = _NodeType(
        nodetype.__name__, nodetype, flatten_func, unflatten_func, flatten_with_keys_func
    )
    _dispatch.clear()  # nodetype may be cached as a leaf type


def register_pytree_with_keys(
    nodetype: type[T],
    flatten_with_keys: Callable[[T], tuple[Iterable[tuple[KeyEntry, Any]], Hashable]],
    unflatten_func: Callable[[Hashable, Iterable[Any]], T],
    flatten_func: Callable[[T], tuple[Iterable[Any], Hashable]] | None = None,
) -> None:
    """Like ``register_pytree_node``, given a flatten function that returns keys.

    ``flatten_func``, if given, must return the same children in the same order and the same
    aux data; it makes key-less flattening faster.
    """
    if flatten_func is None:
        flatten_func = _drop_keys(flatten_with_keys)
    register_pytree_node(nodetype, flatten_func, unflatten_func, flatten_with_keys)


def register_pytree_node_class(cls: Typ) -> Typ:
    """Class decorator: registers ``cls`` through its ``tree_flatten`` / ``tree_unflatten``.

    ``cls`` must define ``tree_flatten(self) -> (children, aux_data)`` and the classmethod
    ``tree_unflatten(cls, aux_data, children)``.

    Example:
        >>> from fxgrad import tree_util
        >>> @tree_util.register_pytree_node_class
        ... class Box:
        ...     def __init__(self, x):
        ...         self.x = x
        ...     def tree_flatten(self):
        ...         return (self.x,), None
        ...     @classmethod
        ...     def tree_unflatten(cls, aux_data, children):
        ...         return cls(*children)
        >>> tree_util.tree_map(lambda v: v + 1, Box(1)).x
        2
    """
    register_pytree_node(cls, operator.methodcaller("tree_flatten"), cls.tree_unflatten)
    return cls


def register_dataclass(
    nodetype: Typ,
    data_fields: Sequence[str] | None = None,
    meta_fields: Sequence[str] | None = None,
    drop_fields: Sequence[str] = (),
) -> Typ:
    """Registers a dataclass-like type whose ``data_fields`` are children.

    Args:
        nodetype: the class; rebuilt as ``nodetype(**fields)``.
        data_fields: attribute names holding children (arrays, pytrees).
        meta_fields: attribute names kept in the treedef as static, hashable aux data.
        drop_fields: dataclass fields to leave out of the pytree entirely.

    When both ``data_fields`` and ``meta_fields`` are None, ``nodetype`` must be a dataclass:
    fields with ``metadata={"static": True}`` are meta fields, the others data fields.

    Returns:
        ``nodetype``, so this works as a decorator.

    Raises:
        TypeError: if only one of the field lists is given, or both are omitted for a class
            that is not a dataclass.
        ValueError: if the fields do not cover the dataclass's ``init`` fields exactly, or
            overlap, or the class is already registered.

    Example:
        >>> import dataclasses
        >>> from fxgrad import tree_util
        >>> @tree_util.register_dataclass
        ... @dataclasses.dataclass
        ... class Layer:
        ...     w: float
        ...     name: str = dataclasses.field(default="dense", metadata={"static": True})
        >>> tree_util.tree_structure(Layer(1.0))
        PyTreeDef(CustomNode(Layer[('dense',)], [*]))
    """
    import dataclasses  # local: only needed here

    if data_fields is None or meta_fields is None:
        if (data_fields is None) != (meta_fields is None):
            raise TypeError(
                "register_dataclass: give both data_fields and meta_fields, or neither (for a "
                f"dataclass). Got data_fields={data_fields!r}, meta_fields={meta_fields!r}."
            )
        if not dataclasses.is_dataclass(nodetype):
            raise TypeError(
                f"register_dataclass: {nodetype!r} is not a dataclass, so data_fields and "
                "meta_fields are required."
            )
        fields = [f for f in dataclasses.fields(nodetype) if f.name not in drop_fields]
        data_fields = [f.name for f in fields if not f.metadata.get("static", False)]
        meta_fields = [f.name for f in fields if f.metadata.get("static", False)]
    data_fields, meta_fields = tuple(data_fields), tuple(meta_fields)
    if dataclasses.is_dataclass(nodetype):
        init_fields = {f.name for f in dataclasses.fields(nodetype) if f.init}
        init_fields.difference_update(drop_fields)
        given = {*data_fields, *meta_fields}
        if given != init_fields:
            raise ValueError(
                f"register_dataclass({nodetype.__name__}): data_fields and meta_fields must "
                "include all dataclass fields with init=True and only them. Missing fields: "
                f"{sorted(init_fields - given)} (add them to drop_fields to leave them out); "
                f"unexpected fields: {sorted(given - init_fields)}."
            )
    if overlap := set(data_fields) & set(meta_fields):
        raise ValueError(
            f"register_dataclass({nodetype.__name__}): data_fields and meta_fields must not "
            f"overlap; both contain {sorted(overlap)}."
        )
    keys = tuple(GetAttrKey(name) for name in data_fields)

    def flatten_with_keys(x: Any) -> tuple[list[tuple[KeyEntry, Any]], tuple[Any, ...]]:
        meta = tuple(getattr(x, name) for name in meta_fields)
        return [(key, getattr(x, key.name)) for key in keys], meta

    def flatten(x: Any) -> tuple[list[Any], tuple[Any, ...]]:
        meta = tuple(getattr(x, name) for name in meta_fields)
        return [getattr(x, name) for name in data_fields], meta

    def unflatten(meta: tuple[Any, ...], data: Iterable[Any]) -> Any:
        kwargs = dict(zip(meta_fields, meta, strict=True))
        kwargs.update(zip(data_fields, data, strict=True))
        return nodetype(**kwargs)

    register_pytree_with_keys(nodetype, flatten_with_keys, unflatten, flatten)
    return nodetype


# --- Partial ------------------------------------------------------------------------------------


class _HashableCallableShim:
    """Wraps a ``functools.partial`` so ``Partial`` keeps it as one opaque function."""

    def __init__(self, fun: Callable[..., Any]) -> None:
        self.fun = fun

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.fun(*args, **kwargs)

    def __hash__(self) -> int:
        return hash(self.fun)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, _HashableCallableShim):
            return self.fun == other.fun
        return self.fun == other

    def __repr__(self) -> str:
        return f"_HashableCallableShim({self.fun!r})"


class Partial(functools.partial):
    """A ``functools.partial`` that is a pytree: its bound arguments are the children.

    The function is aux data (so it must be hashable), ``args`` and ``keywords`` are children,
    so ``Partial`` objects can be passed through transformations, as in JAX.

    Example:
        >>> import operator
        >>> from fxgrad import tree_util
        >>> add_one = tree_util.Partial(operator.add, 1)
        >>> add_one(2), tree_util.tree_leaves(add_one)
        (3, [1])
    """

    def __new__(cls, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Partial:
        # functools.partial merges a partial func's arguments into the new one; box it so the
        # pytree's children are exactly the arguments given here (as JAX does).
        if isinstance(func, functools.partial):
            original = func
            func = _HashableCallableShim(original)
            out = super().__new__(cls, func, *args, **kwargs)
            func.func = original.func
            func.args = original.args
            func.keywords = original.keywords
            return out
        return super().__new__(cls, func, *args, **kwargs)


register_pytree_node(
    Partial,
    lambda p: ((p.args, p.keywords), p.func),
    lambda func, children: Partial(func, *children[0], **children[1]),
)
