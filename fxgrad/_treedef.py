"""The treedef core behind ``fxgrad.tree_util``: node types, their registry, ``PyTreeDef``.

Private: ``fxgrad.tree_util`` is the public face and re-exports ``PyTreeDef`` and the key
types. This module owns the one registry of node types (``_registry``) and its dispatch
cache; ``tree_util.register_pytree_node`` adds to it through ``register_node_type``.

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

from collections import OrderedDict, defaultdict
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

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


def drop_keys(flatten_with_keys: Callable) -> Callable:
    def flatten(x: Any) -> tuple[list[Any], Hashable]:
        key_children, node_data = flatten_with_keys(x)
        return [child for _, child in key_children], node_data

    return flatten


def add_keys(flatten: Callable) -> Callable:
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
    drop_keys(_ordered_dict_flatten_with_keys),
    lambda keys, xs: OrderedDict(zip(keys, xs, strict=True)),
    _ordered_dict_flatten_with_keys,
)
_builtin(
    defaultdict,
    drop_keys(_default_dict_flatten_with_keys),
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


def node_type_of(typ: type) -> _NodeType | None:
    """The registered node type of ``typ``, the namedtuple entry, or None for a leaf type."""
    node_type = _registry.get(typ)
    if node_type is None and issubclass(typ, tuple) and hasattr(typ, "_fields"):
        return _NAMEDTUPLE
    return node_type


# Cache of node_type_of by exact type, leaf types (None) included, so telling a leaf from a
# node costs one dict lookup. Registration clears it; the size cap bounds the memory held by
# classes created on the fly.
_UNKNOWN: Any = object()
_dispatch: dict[type, _NodeType | None] = {}
_DISPATCH_CACHE_SIZE = 4096


def _classify(typ: type) -> _NodeType | None:
    node_type = node_type_of(typ)
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
        return [make_treedef(child) for child in self._node.children]

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
        return unflatten_leaves(self, leaves)

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
        return make_treedef(_compose(self._node, inner._node))

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
        return (make_treedef, (self._node,))


_set_node = PyTreeDef._node.__set__  # type: ignore[attr-defined]


def make_treedef(node: _Node) -> PyTreeDef:
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


def flatten_tree(tree: Any, leaves: list[Any], is_leaf: Callable[[Any], bool] | None) -> _Node:
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
    """``flatten_tree`` of a tree known to be a node; leaf children are handled inline."""
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


def collect_leaves(tree: Any, leaves: list[Any], is_leaf: Callable[[Any], bool] | None) -> None:
    """``flatten_tree`` without building the structure: the body of ``tree_leaves``."""
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
            collect_leaves(value, leaves, is_leaf)
    elif node_type is _DICT:
        for key in _sorted_keys(tree):
            collect_leaves(tree[key], leaves, is_leaf)
    elif node_type is not _NONE:
        for value in _flatten_custom(node_type, tree)[0]:
            collect_leaves(value, leaves, is_leaf)


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


def unflatten_tree(node: _Node, leaves: Iterator[Any]) -> Any:
    """Rebuilds the tree of structure ``node`` (a leaf included) from ``leaves``."""
    return next(leaves) if node.node_type is None else _unflatten(node, leaves)


def flatten_tree_with_path(
    tree: Any,
    path: KeyPath,
    out: list[tuple[KeyPath, Any]],
    is_leaf: Callable[[KeyPath, Any], bool] | None,
) -> _Node:
    """``flatten_tree`` that appends ``(key path, leaf)`` pairs; the keyed twin for paths."""
    if is_leaf is not None and is_leaf(path, tree):
        out.append((path, tree))
        return _LEAF
    node_type = node_type_of(type(tree))
    if node_type is None:
        out.append((path, tree))
        return _LEAF
    key_children, node_data = node_type.flatten_with_keys(tree)
    start = len(out)
    children = tuple(
        [flatten_tree_with_path(child, (*path, key), out, is_leaf) for key, child in key_children]
    )
    return _Node(node_type, node_data, children, len(out) - start)


def unflatten_leaves(treedef: PyTreeDef, leaves: Iterable[Leaf]) -> Any:
    """``tree_unflatten``: checks the leaf count, then rebuilds the tree."""
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
    return unflatten_tree(node, iter(leaves))


def is_leaf_treedef(treedef: PyTreeDef) -> bool:
    """``treedef_is_leaf``: the root has no children (a leaf, or a childless node)."""
    return not treedef._node.children


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
    # keystr(path), spelled out: tree_util (which defines keystr) imports this module.
    return "".join(map(str, path)) if path else "() (the root)"


def flatten_rest(api_name: str, node: _Node, rest: tuple[Any, ...]) -> list[list[Any]]:
    """``flatten_up_to`` of each extra tree of a ``tree_map``, with a good error."""
    out = []
    for i, other in enumerate(rest):
        flat: list[Any] = []
        try:
            _flatten_up_to(node, other, flat)
        except _Mismatch:
            path, reason = _find_mismatch(node, other, ())
            treedef = make_treedef(node)
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
        return repr(make_treedef(flatten_tree(tree, [], None)))
    except Exception as e:  # the diagnosis must not hide the original error
        return f"<cannot flatten: {e}>"


# --- registration -------------------------------------------------------------------------------


def register_node_type(
    nodetype: type,
    flatten: Callable[[Any], tuple[Iterable[Any], Hashable]],
    unflatten: Callable[[Any, Iterable[Any]], Any],
    flatten_with_keys: Callable[[Any], tuple[Iterable[tuple[KeyEntry, Any]], Hashable]],
) -> None:
    """Adds ``nodetype`` to the registry; the body of ``tree_util.register_pytree_node``."""
    if nodetype in _registry:
        raise ValueError(
            f"Duplicate pytree node registration: {nodetype!r} is already registered as a "
            "pytree node type. Register each type once (e.g. at import time of the module "
            "that defines it)."
        )
    _registry[nodetype] = _NodeType(
        nodetype.__name__, nodetype, flatten, unflatten, flatten_with_keys
    )
    _dispatch.clear()  # nodetype may be cached as a leaf type
