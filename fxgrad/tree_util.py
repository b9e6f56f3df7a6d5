"""Pytrees: nested containers flattened into a list of leaves and a structure, and back.

This module mirrors ``jax.tree_util`` (https://docs.jax.dev/en/latest/jax.tree_util.html):
same names, argument names, defaults, leaf order, key paths and ``PyTreeDef`` reprs.

Invariant: ``tree_unflatten(*reversed(tree_flatten(x)))`` rebuilds ``x``. Leaves come out
depth-first, left to right; dict (and defaultdict) children in sorted key order, OrderedDict
children in insertion order. ``None`` is a node with no children, not a leaf. Node types are
looked up by exact type (``type(x)``), never by ``isinstance``, so a subclass of a registered
type is a leaf, as in JAX. The one exception is namedtuples: any tuple subclass with
``_fields``.

The treedef core (the node registry, ``PyTreeDef``, the flatten/unflatten walks and the
structure-mismatch diagnosis) lives in ``fxgrad._treedef``; this module is the public API
built on it and re-exports ``PyTreeDef`` and the key path entry types.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import Any, TypeVar

from fxgrad._treedef import (
    DictKey,
    FlattenedIndexKey,
    GetAttrKey,
    KeyEntry,
    KeyPath,
    Leaf,
    PyTreeDef,
    SequenceKey,
    add_keys,
    collect_leaves,
    drop_keys,
    flatten_rest,
    flatten_tree,
    flatten_tree_with_path,
    is_leaf_treedef,
    make_treedef,
    node_type_of,
    register_node_type,
    unflatten_leaves,
    unflatten_tree,
)

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


# --- key paths ----------------------------------------------------------------------------------


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


# --- flatten and unflatten ----------------------------------------------------------------------


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
    node = flatten_tree(tree, leaves, is_leaf)
    return leaves, make_treedef(node)


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
    return unflatten_leaves(treedef, leaves)


def tree_leaves(tree: Any, is_leaf: Callable[[Any], bool] | None = None) -> list[Leaf]:
    """The leaves of a pytree, in ``tree_flatten`` order.

    Example:
        >>> from fxgrad import tree_util
        >>> tree_util.tree_leaves({"x": (1, None), "w": [2]})
        [2, 1]
    """
    leaves: list[Leaf] = []
    collect_leaves(tree, leaves, is_leaf)
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
    return is_leaf_treedef(treedef)


def all_leaves(iterable: Iterable[Any], is_leaf: Callable[[Any], bool] | None = None) -> bool:
    """True if every element of ``iterable`` is a leaf (``None`` is not a leaf).

    Example:
        >>> from fxgrad import tree_util
        >>> tree_util.all_leaves([1, 2.0, "x"]), tree_util.all_leaves([1, (2,)])
        (True, False)
    """
    if is_leaf is None:
        return all(node_type_of(type(x)) is None for x in iterable)
    items = list(iterable)
    leaves = tree_leaves(items, is_leaf)
    return len(leaves) == len(items) and all(a is b for a, b in zip(items, leaves, strict=True))


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
    node = flatten_tree(tree, leaves, is_leaf)
    if rest:
        all_flat = flatten_rest("tree_map", node, rest)
        results = [f(*xs) for xs in zip(leaves, *all_flat, strict=True)]
    else:
        results = [f(x) for x in leaves]
    return unflatten_tree(node, iter(results))


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
    pairs, node = _flatten_pairs(tree, is_leaf, is_leaf_takes_path)
    return pairs, make_treedef(node)


def _flatten_pairs(
    tree: Any, is_leaf: Callable[..., bool] | None, is_leaf_takes_path: bool
) -> tuple[list[tuple[KeyPath, Any]], Any]:
    """``(key path, leaf)`` pairs and the internal structure node of ``tree``."""
    if is_leaf is not None and not is_leaf_takes_path:
        is_leaf_without_path = is_leaf

        def is_leaf(path: KeyPath, x: Any) -> bool:
            return is_leaf_without_path(x)

    pairs: list[tuple[KeyPath, Any]] = []
    node = flatten_tree_with_path(tree, (), pairs, is_leaf)
    return pairs, node


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
    pairs, node = _flatten_pairs(tree, is_leaf, is_leaf_takes_path)
    all_flat = flatten_rest("tree_map_with_path", node, rest)
    results = [f(path, x, *xs) for (path, x), *xs in zip(pairs, *all_flat, strict=True)]
    return unflatten_tree(node, iter(results))


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
    if flatten_with_keys_func is None:
        flatten_with_keys_func = add_keys(flatten_func)
    register_node_type(nodetype, flatten_func, unflatten_func, flatten_with_keys_func)


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
        flatten_func = drop_keys(flatten_with_keys)
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
