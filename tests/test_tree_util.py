"""fxgrad.tree_util and fxgrad.tree: flatten/unflatten, key paths, registration, errors.

The oracles are independent: a ten-line reference flattener (`_ref_leaves`, `_ref_paths`)
for hypothesis-generated trees, and strings recorded from JAX 0.10 for reprs and key paths.
`test_matches_jax` compares against JAX itself when it is importable.
"""

import collections
import dataclasses
import doctest
import functools
import operator
import pickle
from collections import OrderedDict, defaultdict
from typing import NamedTuple

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fxgrad import tree, tree_util
from fxgrad.tree_util import (
    DictKey,
    FlattenedIndexKey,
    GetAttrKey,
    Partial,
    PyTreeDef,
    SequenceKey,
    keystr,
    tree_flatten,
    tree_flatten_with_path,
    tree_leaves,
    tree_map,
    tree_structure,
    tree_unflatten,
)

# --- node types used throughout (registered once, at import) ---------------------------------

Point = collections.namedtuple("Point", "x y")


class Triple(NamedTuple):
    a: object
    b: object
    c: object


class Pair:
    """Registered with register_pytree_node, without keys: paths use FlattenedIndexKey."""

    def __init__(self, first, second):
        self.first, self.second = first, second

    def __repr__(self):
        return f"Pair({self.first!r}, {self.second!r})"


tree_util.register_pytree_node(
    Pair, lambda p: ((p.first, p.second), "pair-aux"), lambda aux, xs: Pair(*xs)
)


@tree_util.register_pytree_node_class
class Box:
    """Registered through the tree_flatten / tree_unflatten class protocol."""

    def __init__(self, value, label="box"):
        self.value, self.label = value, label

    def tree_flatten(self):
        return (self.value,), self.label

    @classmethod
    def tree_unflatten(cls, aux_data, children):
        return cls(*children, label=aux_data)

    def __repr__(self):
        return f"Box({self.value!r}, {self.label!r})"


@tree_util.register_dataclass
@dataclasses.dataclass
class Layer:
    w: object
    b: object
    name: str = dataclasses.field(default="dense", metadata={"static": True})


class Keyed:
    """Registered with register_pytree_with_keys: paths use its own GetAttrKeys."""

    def __init__(self, left, right):
        self.left, self.right = left, right


tree_util.register_pytree_with_keys(
    Keyed,
    lambda k: (((GetAttrKey("left"), k.left), (GetAttrKey("right"), k.right)), None),
    lambda aux, xs: Keyed(*xs),
)


def _add(x, y=0, z=0):
    return x + y + z


# --- reference oracles ---------------------------------------------------------------------------


def _is_namedtuple(x):
    return isinstance(x, tuple) and hasattr(type(x), "_fields")


def _ref_children(x):
    """(path suffixes, children) of a node by the documented JAX rules, or None for a leaf."""
    typ = type(x)
    if x is None:
        return [], []
    if typ in (tuple, list):
        return [f"[{i}]" for i in range(len(x))], list(x)
    if _is_namedtuple(x):
        return [f".{name}" for name in x._fields], list(x)
    if typ in (dict, defaultdict):
        return [f"[{k!r}]" for k in sorted(x)], [x[k] for k in sorted(x)]
    if typ is OrderedDict:
        return [f"[{k!r}]" for k in x], list(x.values())
    if typ is Pair:
        return ["[<flat index 0>]", "[<flat index 1>]"], [x.first, x.second]
    if typ is Box:
        return ["[<flat index 0>]"], [x.value]
    if typ is Layer:
        return [".w", ".b"], [x.w, x.b]
    if typ is Keyed:
        return [".left", ".right"], [x.left, x.right]
    if typ is Partial:
        return ["[<flat index 0>]", "[<flat index 1>]"], [x.args, x.keywords]
    return None


def _ref_paths(x, prefix=""):
    """[(keystr, leaf)] in JAX's leaf order."""
    split = _ref_children(x)
    if split is None:
        return [(prefix, x)]
    out = []
    for suffix, child in zip(*split, strict=True):
        out.extend(_ref_paths(child, prefix + suffix))
    return out


def _ref_leaves(x):
    return [leaf for _, leaf in _ref_paths(x)]


def _ref_num_nodes(x):
    split = _ref_children(x)
    return 1 if split is None else 1 + sum(_ref_num_nodes(c) for c in split[1])


def _same(a, b):
    """Structural equality that also checks types, dict orders and node data."""
    if type(a) is not type(b):
        return False
    if isinstance(a, np.ndarray):
        return a.dtype == b.dtype and np.array_equal(a, b)
    if type(a) is OrderedDict and list(a) != list(b):
        return False
    if type(a) is defaultdict and a.default_factory is not b.default_factory:
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, tuple | list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, Pair):
        return _same(a.first, b.first) and _same(a.second, b.second)
    if isinstance(a, Box):
        return a.label == b.label and _same(a.value, b.value)
    if isinstance(a, Layer):
        return a.name == b.name and _same(a.w, b.w) and _same(a.b, b.b)
    if isinstance(a, Keyed):
        return _same(a.left, b.left) and _same(a.right, b.right)
    if isinstance(a, Partial):
        return a.func is b.func and _same(a.args, b.args) and _same(a.keywords, b.keywords)
    return a == b


# --- hypothesis strategies -----------------------------------------------------------------------

_leaves = st.integers(-100, 100) | st.text(max_size=2) | st.booleans()
_keys = st.text(alphabet="abcxyz", min_size=1, max_size=2)


def _dicts(children):
    return st.dictionaries(_keys, children, max_size=3)


def _nodes(children):
    return st.one_of(
        st.lists(children, max_size=3).map(tuple),
        st.lists(children, max_size=3),
        _dicts(children),
        st.builds(Point, children, children),
        st.builds(Triple, children, children, children),
        _dicts(children).map(OrderedDict),
        _dicts(children).map(lambda d: defaultdict(list, d)),
        st.builds(Pair, children, children),
        st.builds(Box, children, st.sampled_from(["box", "crate"])),
        st.builds(Layer, children, children, st.sampled_from(["dense", "conv"])),
        st.builds(Keyed, children, children),
        st.builds(lambda a, b: Partial(_add, a, y=b), children, children),
    )


pytrees = st.recursive(_leaves | st.none(), _nodes, max_leaves=12)
# Only node types that JAX has built in, for the differential test.
_jax_nodes = st.recursive(
    _leaves | st.none(),
    lambda c: st.one_of(
        st.lists(c, max_size=3).map(tuple),
        st.lists(c, max_size=3),
        _dicts(c),
        st.builds(Point, c, c),
        _dicts(c).map(OrderedDict),
        _dicts(c).map(lambda d: defaultdict(list, d)),
    ),
    max_leaves=12,
)


# --- properties over generated trees -------------------------------------------------------------


@given(pytrees)
def test_flatten_matches_reference_and_round_trips(x):
    leaves, treedef = tree_flatten(x)
    assert leaves == _ref_leaves(x)
    assert tree_leaves(x) == leaves
    assert treedef.num_leaves == len(leaves)
    assert treedef.num_nodes == _ref_num_nodes(x)
    rebuilt = tree_unflatten(treedef, leaves)
    # dicts come back in sorted key order (as in JAX); everything else exactly as it was
    assert _same(rebuilt, x)
    assert tree_structure(rebuilt) == treedef
    assert hash(tree_structure(rebuilt)) == hash(treedef)


class _Mark:
    """A leaf type that records what tree_map passed to it."""

    def __init__(self, *values):
        self.values = values


@given(pytrees)
def test_tree_map_matches_reference(x):
    mapped = tree_map(_Mark, x)
    assert tree_structure(mapped) == tree_structure(x)
    assert [m.values for m in tree_leaves(mapped)] == [(v,) for v in _ref_leaves(x)]
    mapped = tree_map(_Mark, x, x, x)
    assert [m.values for m in tree_leaves(mapped)] == [(v, v, v) for v in _ref_leaves(x)]


@given(pytrees)
def test_key_paths_match_reference(x):
    pairs, treedef = tree_flatten_with_path(x)
    assert [(keystr(path), leaf) for path, leaf in pairs] == _ref_paths(x)
    assert treedef == tree_structure(x)
    assert tree_util.tree_leaves_with_path(x) == pairs
    strings = tree_util.tree_map_with_path(lambda path, _: keystr(path), x)
    assert tree_leaves(strings) == [path for path, _ in _ref_paths(x)]


@given(pytrees)
def test_flatten_up_to_own_structure_gives_leaves(x):
    leaves, treedef = tree_flatten(x)
    assert treedef.flatten_up_to(x) == leaves


@given(pytrees)
def test_treedef_pickles(x):
    treedef = tree_structure(x)
    copy = pickle.loads(pickle.dumps(treedef))
    assert copy == treedef
    assert hash(copy) == hash(treedef)
    assert repr(copy) == repr(treedef)


@given(pytrees)
def test_children_rebuild_the_root(x):
    treedef = tree_structure(x)
    split = _ref_children(x)
    if split is None:
        assert treedef.children() == []
    else:
        assert treedef.children() == [tree_structure(c) for c in split[1]]
        assert sum(c.num_leaves for c in treedef.children()) == treedef.num_leaves


# --- every node kind, against strings recorded from JAX ------------------------------------------


@pytest.mark.parametrize(
    "x, leaves, expected_repr",
    [
        (1, [1], "PyTreeDef(*)"),
        (None, [], "PyTreeDef(None)"),
        ((), [], "PyTreeDef(())"),
        ((1,), [1], "PyTreeDef((*,))"),
        ([1, (2, 3), {}], [1, 2, 3], "PyTreeDef([*, (*, *), {}])"),
        (
            (1, {"b": 2, "a": 3}, None, [4]),
            [1, 3, 2, 4],
            "PyTreeDef((*, {'a': *, 'b': *}, None, [*]))",
        ),
        ({"a": [1, (2, 3)]}, [1, 2, 3], "PyTreeDef({'a': [*, (*, *)]})"),
        (
            {"a": {}, "b": (), "c": [], "d": None},
            [],
            "PyTreeDef({'a': {}, 'b': (), 'c': [], 'd': None})",
        ),
        ({2.5: 1, 1: 2}, [2, 1], "PyTreeDef({1: *, 2.5: *})"),
        (Point(1, 2), [1, 2], "PyTreeDef(CustomNode(namedtuple[Point], [*, *]))"),
        (OrderedDict(b=1, a=2), [1, 2], "PyTreeDef(CustomNode(OrderedDict[('b', 'a')], [*, *]))"),
        (
            defaultdict(list, b=1, a=2),
            [2, 1],
            "PyTreeDef(CustomNode(defaultdict[(<class 'list'>, ('a', 'b'))], [*, *]))",
        ),
        (Pair(1, [2, 3]), [1, 2, 3], "PyTreeDef(CustomNode(Pair[pair-aux], [*, [*, *]]))"),
        (Layer(1, 2), [1, 2], "PyTreeDef(CustomNode(Layer[('dense',)], [*, *]))"),
        (
            Partial(print, 1),
            [1],
            "PyTreeDef(CustomNode(Partial[<built-in function print>], [(*,), {}]))",
        ),
    ],
)
def test_node_kinds(x, leaves, expected_repr):
    assert tree_leaves(x) == leaves
    treedef = tree_structure(x)
    assert repr(treedef) == str(treedef) == expected_repr
    assert _same(tree_unflatten(treedef, leaves), x)


def test_unflatten_rebuilds_node_types():
    assert tree_unflatten(tree_structure({"b": 0, "a": 0}), [5, 6]) == {"a": 5, "b": 6}
    assert list(tree_unflatten(tree_structure({"b": 0, "a": 0}), [5, 6])) == ["a", "b"]
    od = tree_unflatten(tree_structure(OrderedDict(b=0, a=0)), [5, 6])
    assert type(od) is OrderedDict and list(od.items()) == [("b", 5), ("a", 6)]
    dd = tree_unflatten(tree_structure(defaultdict(list, b=0, a=0)), [5, 6])
    assert type(dd) is defaultdict and dd.default_factory is list and dict(dd) == {"a": 5, "b": 6}
    point = tree_unflatten(tree_structure(Point(0, 0)), [5, 6])
    assert type(point) is Point and point == (5, 6)
    triple = tree_map(lambda v: v * 2, Triple(1, 2, 3))
    assert type(triple) is Triple and triple == (2, 4, 6)
    box = tree_map(lambda v: v + 1, Box(1, label="crate"))
    assert (box.value, box.label) == (2, "crate")
    layer = tree_map(lambda v: -v, Layer(1, 2, name="conv"))
    assert layer == Layer(-1, -2, name="conv")


def test_none_is_a_node_without_children():
    assert tree_leaves([None, 1, (None,)]) == [1]
    treedef = tree_structure(None)
    assert (treedef.num_leaves, treedef.num_nodes) == (0, 1)
    assert tree_unflatten(treedef, []) is None
    assert tree_map(lambda v: v + 1, {"a": None, "b": 1}) == {"a": None, "b": 2}
    assert tree_leaves([None, 1], is_leaf=lambda v: v is None) == [None, 1]


def test_subclasses_of_nodes_are_leaves_except_namedtuples():
    class MyTuple(tuple):
        pass

    class MyDict(dict):
        pass

    class SubPoint(Point):
        pass

    class SubPair(Pair):
        pass

    assert repr(tree_structure(MyTuple((1, 2)))) == "PyTreeDef(*)"
    assert repr(tree_structure(MyDict(a=1))) == "PyTreeDef(*)"
    assert repr(tree_structure(SubPair(1, 2))) == "PyTreeDef(*)"
    expected = "PyTreeDef(CustomNode(namedtuple[SubPoint], [*, *]))"
    assert repr(tree_structure(SubPoint(1, 2))) == expected
    assert tree_structure(SubPoint(1, 2)) != tree_structure(Point(1, 2))
    assert type(tree_map(lambda v: v, SubPoint(1, 2))) is SubPoint


def test_numpy_arrays_are_leaves():
    a, b = np.arange(3.0), np.ones((2, 2))
    leaves, treedef = tree_flatten((a, {"w": b}))
    assert leaves[0] is a and leaves[1] is b
    assert repr(treedef) == "PyTreeDef((*, {'w': *}))"
    out = tree_map(lambda x, y: x + y, (a, {"w": b}), (a, {"w": b}))
    np.testing.assert_array_equal(out[1]["w"], 2 * b)


def test_registering_a_type_seen_as_leaf_makes_it_a_node():
    class Late:
        def __init__(self, v):
            self.v = v

    obj = Late(3)
    assert tree_leaves([obj]) == [obj]  # cached as a leaf type
    tree_util.register_pytree_node(Late, lambda x: ((x.v,), None), lambda _, xs: Late(*xs))
    assert tree_leaves([obj]) == [3]


# --- key paths -----------------------------------------------------------------------------------


def test_key_paths_jax_strings():
    pairs, _ = tree_flatten_with_path({"a": [1, (2, 3)]})
    assert pairs[2] == ((DictKey("a"), SequenceKey(1), SequenceKey(1)), 3)
    assert keystr(pairs[2][0]) == "['a'][1][1]"
    assert keystr(tree_util.tree_leaves_with_path({"a": Point(1, (2, 3))})[2][0]) == "['a'].y[1]"
    keys = (DictKey("a"), SequenceKey(0), GetAttrKey("x"), FlattenedIndexKey(3))
    assert keystr(keys) == "['a'][0].x[<flat index 3>]"
    assert keystr(keys, simple=True, separator="/") == "a/0/x/3"
    assert keystr((DictKey(1), DictKey("a"))) == "[1]['a']"
    assert keystr(()) == ""
    assert [str(k) for k in keys] == ["['a']", "[0]", ".x", "[<flat index 3>]"]
    assert [repr(k) for k in keys] == [
        "DictKey(key='a')",
        "SequenceKey(idx=0)",
        "GetAttrKey(name='x')",
        "FlattenedIndexKey(key=3)",
    ]


def test_key_entries_are_values():
    assert DictKey("a") == DictKey("a") and hash(DictKey("a")) == hash(DictKey("a"))
    assert SequenceKey(1) != FlattenedIndexKey(1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        DictKey("a").key = "b"


@pytest.mark.parametrize(
    "x, expected",
    [
        (Point(1, 2), [".x", ".y"]),
        (OrderedDict(b=1, a=2), ["['b']", "['a']"]),
        (defaultdict(list, b=1, a=2), ["['a']", "['b']"]),
        (Pair(1, 2), ["[<flat index 0>]", "[<flat index 1>]"]),
        (Layer(1, 2), [".w", ".b"]),
        (Keyed(1, 2), [".left", ".right"]),
        (Partial(_add, 1, y=2), ["[<flat index 0>][0]", "[<flat index 1>]['y']"]),
    ],
)
def test_key_paths_per_node_kind(x, expected):
    assert [keystr(p) for p, _ in tree_util.tree_leaves_with_path(x)] == expected


def test_is_leaf_takes_path():
    x = [1, [2, [3]]]
    pairs, treedef = tree_flatten_with_path(
        x, is_leaf=lambda path, _: len(path) == 1, is_leaf_takes_path=True
    )
    assert pairs == [((SequenceKey(0),), 1), ((SequenceKey(1),), [2, [3]])]
    assert repr(treedef) == "PyTreeDef([*, *])"
    pairs, _ = tree_flatten_with_path(x, is_leaf=lambda v: isinstance(v, list))
    assert pairs == [((), x)]


def test_tree_map_with_path_over_several_trees():
    out = tree_util.tree_map_with_path(
        lambda p, x, y: (keystr(p), x, y), {"a": 1, "b": [2]}, {"a": 5, "b": [6]}
    )
    assert out == {"a": ("['a']", 1, 5), "b": [("['b'][0]", 2, 6)]}


# --- is_leaf, tree_map prefixes, flatten_up_to ---------------------------------------------------


def _is_list(v):
    return isinstance(v, list)


def test_is_leaf():
    x = {"a": [1, 2], "b": ([3], 4)}
    assert tree_leaves(x, is_leaf=lambda v: isinstance(v, list)) == [[1, 2], [3], 4]
    leaves, treedef = tree_flatten([1, [2, [3]]], is_leaf=lambda v: isinstance(v, list))
    assert leaves == [[1, [2, [3]]]] and repr(treedef) == "PyTreeDef(*)"
    out = tree_map(lambda v: ("list", len(v)) if isinstance(v, list) else v, x, is_leaf=_is_list)
    assert out == {"a": ("list", 2), "b": (("list", 1), 4)}
    # as in JAX, is_leaf also sees the list of items itself
    assert not tree_util.all_leaves([[1], 2], is_leaf=_is_list)
    assert tree_util.all_leaves([(1,), 2], is_leaf=lambda v: isinstance(v, tuple))
    assert not tree_util.all_leaves([[1], 2], is_leaf=lambda v: isinstance(v, tuple))


def test_tree_map_prefix_and_none():
    assert tree_map(lambda a, b: (a, b), {"a": 1}, {"a": [1, 2]}) == {"a": (1, [1, 2])}
    assert tree_map(lambda a, b: (a, b), [1, 3], [2, None]) == [(1, 2), (3, None)]
    with pytest.raises(ValueError, match=r"key path \[1\].*expected None, got int 3"):
        tree_map(lambda a, b: (a, b), [1, None], [2, 3])
    with pytest.raises(ValueError, match="None is a pytree node with no children"):
        tree_map(lambda a, b: (a, b), [1, None], [2, 3])


def test_flatten_up_to():
    assert tree_structure((1, 2)).flatten_up_to(([1], {"a": 2})) == [[1], {"a": 2}]
    assert tree_structure({"a": 1, "b": 2}).flatten_up_to({"b": 1, "a": 2}) == [2, 1]
    assert tree_structure(1).flatten_up_to({"a": 1}) == [{"a": 1}]
    assert tree_structure((1, None)).flatten_up_to((1, None)) == [1]


@pytest.mark.parametrize(
    "structure, tree, match",
    [
        (
            (1, 2),
            (1, 2, 3),
            r"at key path \(\) \(the root\): expected a tuple of length 2, got one of length 3",
        ),
        ((1, 2), [1, 2], r"expected a tuple, got list \[1, 2\]"),
        ({"a": 1}, {"b": 1}, r"expected dict keys \['a'\], got \['b'\]"),
        ({"a": 1}, 3, "expected a dict, got int 3"),
        ((1, (2, 3)), (1, [2, 3]), r"at key path \[1\]: expected a tuple, got list"),
        ((1, None), (1, 2), r"at key path \[1\]: expected None, got int 2"),
        (Point(1, 2), Triple(1, 2, 3), "expected a Point, got Triple"),
        (OrderedDict(a=1, b=2), OrderedDict(b=1, a=2), "expected a OrderedDict with node data"),
        (
            Layer(1, 2),
            Layer(1, 2, name="conv"),
            r"node data \('dense',\), got node data \('conv',\)",
        ),
        ({"x": [Pair(1, 2)]}, {"x": [Box(1)]}, r"key path \['x'\]\[0\]: expected a Pair, got Box"),
    ],
)
def test_flatten_up_to_errors(structure, tree, match):
    with pytest.raises(ValueError, match=r"PyTreeDef.flatten_up_to: .*" + match):
        tree_structure(structure).flatten_up_to(tree)


# --- tree_map errors -----------------------------------------------------------------------------


def test_tree_map_mismatch_names_key_path_and_both_structures():
    with pytest.raises(ValueError) as info:
        tree_map(lambda a, b: a, {"a": [1, (2, 3)]}, {"a": [1, (2, 3, 4)]})
    message = str(info.value)
    assert "tree_map: rest[0] does not have the structure of `tree` at key path ['a'][1]" in message
    assert "expected a tuple of length 2, got one of length 3" in message
    assert "PyTreeDef({'a': [*, (*, *)]})" in message
    assert "PyTreeDef({'a': [*, (*, *, *)]})" in message


def test_tree_map_mismatch_in_later_tree():
    with pytest.raises(
        ValueError, match=r"rest\[1\] .* key path \['b'\]: expected a list, got tuple"
    ):
        tree_map(lambda *xs: 0, {"a": 1, "b": [2]}, {"a": 1, "b": [2]}, {"a": 1, "b": (2,)})
    with pytest.raises(ValueError, match=r"tree_map_with_path: rest\[0\] .* expected dict keys"):
        tree_util.tree_map_with_path(lambda *xs: 0, {"a": 1}, {"a": 1, "b": 2})


# --- unflatten, transpose, reduce, all -----------------------------------------------------------


def test_tree_unflatten_wrong_leaf_count():
    treedef = tree_structure((1, 2))
    with pytest.raises(
        ValueError, match=r"too few leaves for PyTreeDef\(\(\*, \*\)\); expected 2, got 1"
    ):
        tree_unflatten(treedef, [1])
    with pytest.raises(ValueError, match=r"too many leaves .* expected 2, got 3"):
        treedef.unflatten(x for x in [1, 2, 3])
    assert treedef.unflatten(iter([5, 6])) == (5, 6)
    assert tree_unflatten(tree_structure(1), (7,)) == 7


def test_tree_transpose():
    outer, inner = tree_structure([0, 0]), tree_structure((0, 0, 0))
    x = [(1, 2, 3), (4, 5, 6)]
    assert tree_util.tree_transpose(outer, inner, x) == ([1, 4], [2, 5], [3, 6])
    assert tree_util.tree_transpose(outer, None, x) == ([1, 4], [2, 5], [3, 6])
    records = [{"loss": 1, "acc": 2}, {"loss": 3, "acc": 4}, {"loss": 5, "acc": 6}]
    assert tree.transpose(tree_structure([0] * 3), None, records) == {
        "acc": [2, 4, 6],
        "loss": [1, 3, 5],
    }
    with pytest.raises(TypeError, match="has 5 leaves, but outer .* needs 6"):
        tree_util.tree_transpose(outer, inner, [(1, 2, 3), (4, 5)])


def test_tree_transpose_round_trips():
    outer, inner = tree_structure({"a": 0, "b": [0, 0]}), tree_structure((0, Point(0, 0)))
    x = tree_unflatten(outer.compose(inner), list(range(9)))
    y = tree_util.tree_transpose(outer, inner, x)
    assert tree_structure(y) == inner.compose(outer)
    assert tree_util.tree_transpose(inner, outer, y) == x


def test_tree_reduce():
    assert tree_util.tree_reduce(operator.add, [1, (2, 3)]) == 6
    assert tree_util.tree_reduce(operator.add, [1, 2, 3], 10) == 16
    assert tree_util.tree_reduce(operator.add, [], 0) == 0
    assert tree_util.tree_reduce(lambda acc, x: acc + [x], {"b": 1, "a": 2}, []) == [2, 1]
    assert tree_util.tree_reduce(operator.add, [[1], [2]], is_leaf=lambda v: v in ([1], [2])) == [
        1,
        2,
    ]
    with pytest.raises(TypeError, match="no leaves and no initializer"):
        tree_util.tree_reduce(operator.add, [None, ()])


def test_tree_all_and_leaf_predicates():
    assert tree_util.tree_all([1, True, None])
    assert not tree_util.tree_all([1, 0])
    assert tree_util.tree_all([])
    assert tree_util.treedef_is_leaf(tree_structure(1))
    assert tree_util.treedef_is_leaf(tree_structure(None))
    assert tree_util.treedef_is_leaf(tree_structure(()))
    assert not tree_util.treedef_is_leaf(tree_structure([1]))
    assert tree_util.all_leaves([1, "a", np.ones(2)])
    assert not tree_util.all_leaves([1, 2, None])
    assert not tree_util.all_leaves([1, (3,)])


# --- PyTreeDef -----------------------------------------------------------------------------------


def test_treedef_equality_and_hash():
    assert tree_structure({"b": 2, "a": 3}) == tree_structure({"a": 0, "b": 0})
    assert tree_structure([1]) != tree_structure((1,))
    assert tree_structure(1) == tree_structure("anything")
    assert tree_structure(OrderedDict(b=1, a=2)) != tree_structure(OrderedDict(a=1, b=2))
    assert tree_structure({"a": 1, "b": 2}) != tree_structure(OrderedDict(a=1, b=2))
    assert tree_structure(Box(1, "x")) != tree_structure(Box(1, "y"))
    assert tree_structure(Layer(1, 2)) != tree_structure(Layer(1, 2, name="conv"))
    assert (tree_structure(1) == 1) is False
    cache = {tree_structure((1, {"a": 2})): "hit"}
    assert cache[tree_structure((5, {"a": 6}))] == "hit"


def test_treedef_is_immutable_and_not_constructible():
    treedef = tree_structure((1, 2))
    with pytest.raises(AttributeError, match="immutable"):
        treedef._node = None
    with pytest.raises(TypeError, match="use tree_structure"):
        PyTreeDef()


def test_treedef_accessors():
    treedef = tree_structure({"b": 2, "a": (3, None)})
    assert (treedef.num_leaves, treedef.num_nodes) == (2, 5)
    assert treedef.children() == [tree_structure((0, None)), tree_structure(0)]
    assert tree_structure(1).children() == []
    assert treedef.node_data() == (dict, ["a", "b"])
    assert tree_structure(1).node_data() is None
    assert tree_structure(None).node_data() == (type(None), None)
    assert tree_structure(Point(1, 2)).node_data() == (Point, None)
    assert tree_structure(defaultdict(list, a=1)).node_data() == (defaultdict, (list, ("a",)))
    assert tree_structure({"a": [], "b": ()}).num_nodes == 3
    composed = tree_structure(((1,), (2,))).compose(tree_structure((1, 2)))
    assert repr(composed) == "PyTreeDef((((*, *),), ((*, *),)))"
    assert composed.num_leaves == 4


def test_unhashable_aux_data_error():
    class Unhashable:
        pass

    tree_util.register_pytree_node(Unhashable, lambda x: ((), {"k": 1}), lambda a, c: Unhashable())
    treedef = tree_structure([Unhashable()])
    assert repr(treedef) == "PyTreeDef([CustomNode(Unhashable[{'k': 1}], [])])"
    with pytest.raises(TypeError, match="aux data returned by a registered flatten function"):
        hash(treedef)


# --- registration --------------------------------------------------------------------------------


def test_register_twice_raises():
    class Twice:
        pass

    tree_util.register_pytree_node(Twice, lambda x: ((), None), lambda a, c: Twice())
    with pytest.raises(ValueError, match="Duplicate pytree node registration.*Twice"):
        tree_util.register_pytree_node(Twice, lambda x: ((), None), lambda a, c: Twice())
    with pytest.raises(ValueError, match="already registered"):
        tree_util.register_pytree_node(tuple, lambda x: ((), None), lambda a, c: ())
    with pytest.raises(ValueError, match="already registered"):
        tree_util.register_dataclass(Layer)


def test_bad_flatten_output_raises():
    class Bad:
        pass

    tree_util.register_pytree_node(Bad, lambda x: 5, lambda a, c: Bad())
    with pytest.raises(
        ValueError, match=r"registered for Bad must return a \(children, aux_data\)"
    ):
        tree_flatten([Bad()])


def test_unsortable_dict_keys_raise():
    with pytest.raises(ValueError, match="sorting the keys failed.*OrderedDict"):
        tree_flatten({1: "a", "b": 2})
    assert tree_leaves(OrderedDict([(1, "a"), ("b", 2)])) == ["a", 2]


def test_register_dataclass_with_explicit_fields_and_drop_fields():
    @dataclasses.dataclass
    class Opt:
        lr: float
        count: int
        debug: str = "off"

    tree_util.register_dataclass(
        Opt, data_fields=["count"], meta_fields=["lr"], drop_fields=["debug"]
    )
    leaves, treedef = tree_flatten(Opt(0.1, 7, "on"))
    assert leaves == [7]
    assert repr(treedef) == "PyTreeDef(CustomNode(Opt[(0.1,)], [*]))"
    assert tree_unflatten(treedef, [8]) == Opt(0.1, 8, "off")
    assert keystr(tree_util.tree_leaves_with_path(Opt(0.1, 7))[0][0]) == ".count"


def test_register_dataclass_errors():
    @dataclasses.dataclass
    class A:
        x: int
        y: int

    with pytest.raises(TypeError, match="give both data_fields and meta_fields"):
        tree_util.register_dataclass(A, data_fields=["x"])
    with pytest.raises(TypeError, match="is not a dataclass"):
        tree_util.register_dataclass(Pair)
    with pytest.raises(ValueError, match=r"Missing fields: \['y'\].*drop_fields"):
        tree_util.register_dataclass(A, data_fields=["x"], meta_fields=[])
    with pytest.raises(ValueError, match=r"unexpected fields: \['z'\]"):
        tree_util.register_dataclass(A, data_fields=["x", "y", "z"], meta_fields=[])
    with pytest.raises(ValueError, match="must not overlap"):
        tree_util.register_dataclass(Pair, data_fields=["x"], meta_fields=["x"])


def test_register_dataclass_on_plain_class():
    class Plain:
        def __init__(self, w, act):
            self.w, self.act = w, act

    tree_util.register_dataclass(Plain, data_fields=["w"], meta_fields=["act"])
    out = tree_map(lambda v: v * 3, Plain(2, "relu"))
    assert (type(out), out.w, out.act) == (Plain, 6, "relu")


def test_register_pytree_with_keys_flatten_func():
    calls = []

    class Fast:
        def __init__(self, a):
            self.a = a

    def flatten(x):
        calls.append("flatten")
        return (x.a,), None

    tree_util.register_pytree_with_keys(
        Fast, lambda x: (((GetAttrKey("a"), x.a),), None), lambda _, xs: Fast(*xs), flatten
    )
    assert tree_leaves(Fast(1)) == [1] and calls == ["flatten"]
    assert keystr(tree_util.tree_leaves_with_path(Fast(1))[0][0]) == ".a"


def test_custom_unflatten_receives_a_tuple():
    seen = []

    class Spy:
        pass

    def unflatten(aux, children):
        seen.append(type(children))
        return Spy()

    tree_util.register_pytree_node(Spy, lambda x: ((1, 2), None), unflatten)
    tree_map(lambda v: v, Spy())
    assert seen == [tuple]


# --- Partial -------------------------------------------------------------------------------------


def test_partial_is_a_pytree():
    p = Partial(_add, 1, z=2)
    assert p(10) == 13
    leaves, treedef = tree_flatten(p)
    assert leaves == [1, 2]
    q = tree_unflatten(treedef, [100, 200])
    assert isinstance(q, Partial) and q(1) == 301
    assert tree_map(lambda v: v * 10, p)(0) == 30
    assert repr(Partial(print, 1)) == "Partial(<built-in function print>, 1)"
    assert tree_leaves(Partial(_add)) == []


def test_partial_of_partial_keeps_inner_arguments_static():
    inner = functools.partial(_add, 1)
    p = Partial(inner, 2)
    assert tree_leaves(p) == [2]
    assert p(3) == 6
    assert tree_map(lambda v: v * 10, p)(0) == 21
    nested = Partial(Partial(_add, 1), 2)
    assert tree_leaves(nested) == [2]
    assert tree_map(lambda v: v * 10, nested)() == 21


# --- the tree namespace --------------------------------------------------------------------------


def test_tree_namespace_wraps_tree_util():
    x = {"a": [1, (2, None)], "b": Point(3, 4)}
    assert tree.leaves(x) == tree_leaves(x)
    assert tree.flatten(x) == tree_flatten(x)
    assert tree.structure(x) == tree_structure(x)
    assert tree.unflatten(tree.structure(x), [5, 6, 7, 8]) == {
        "a": [5, (6, None)],
        "b": Point(7, 8),
    }
    assert tree.map(operator.add, x, x) == tree_map(operator.add, x, x)
    assert tree.reduce(operator.add, x) == 10 and tree.reduce(operator.add, x, 5) == 15
    assert tree.all(x) and not tree.all([0])
    assert tree.leaves_with_path(x) == tree_util.tree_leaves_with_path(x)
    assert tree.flatten_with_path(x) == tree_flatten_with_path(x)
    assert tree.map_with_path(lambda p, v: keystr(p), x)["b"] == Point("['b'].x", "['b'].y")
    assert tree.leaves(([1], 2), is_leaf=_is_list) == [[1], 2]
    assert sorted(tree.__all__) == sorted(
        ["all", "flatten", "flatten_with_path", "leaves", "leaves_with_path", "map",
         "map_with_path", "reduce", "structure", "transpose", "unflatten"]
    )  # fmt: skip


def test_public_names():
    assert set(tree_util.__all__) <= set(dir(tree_util))
    for name in tree.__all__:
        assert callable(getattr(tree, name))


@pytest.mark.parametrize("module", [tree_util, tree], ids=["tree_util", "tree"])
def test_docstring_examples(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


# --- differential test against JAX, when it is installed -----------------------------------------


def test_matches_jax():
    jtu = pytest.importorskip("jax.tree_util")

    @given(_jax_nodes, _jax_nodes)
    def check(x, y):
        _check_against_jax(jtu, x)
        _check_prefix_against_jax(jtu, x, y)

    check()


def _check_against_jax(jtu, x):
    leaves, treedef = tree_flatten(x)
    jleaves, jtreedef = jtu.tree_flatten(x)
    assert leaves == jleaves
    assert repr(treedef) == repr(jtreedef)
    assert (treedef.num_leaves, treedef.num_nodes) == (jtreedef.num_leaves, jtreedef.num_nodes)
    paths = [keystr(p) for p, _ in tree_util.tree_leaves_with_path(x)]
    assert paths == [jtu.keystr(p) for p, _ in jtu.tree_leaves_with_path(x)]
    assert _same(tree_unflatten(treedef, leaves), jtu.tree_unflatten(jtreedef, jleaves))
    assert tree_util.treedef_is_leaf(treedef) == jtu.treedef_is_leaf(jtreedef)
    assert tree_util.all_leaves(leaves) == jtu.all_leaves(jleaves)


def _check_prefix_against_jax(jtu, x, y):
    """Structure equality and flatten_up_to (prefix matching) agree with JAX on two trees."""
    assert (tree_structure(x) == tree_structure(y)) == (
        jtu.tree_structure(x) == jtu.tree_structure(y)
    )
    try:
        expected = jtu.tree_structure(x).flatten_up_to(y)
    except ValueError:
        with pytest.raises(ValueError):
            tree_structure(x).flatten_up_to(y)
    else:
        assert tree_structure(x).flatten_up_to(y) == expected
