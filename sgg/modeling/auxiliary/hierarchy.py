"""Class hierarchies (predicate or object super-categories) as networkx trees.

A hierarchy is given as a dict (e.g. read from JSON) mapping a parent name to its children;
a child is a class name (str) or a nested dict for deeper levels::

    {"geometric": ["above", "on"], "semantic": {"action": ["riding"], "state": ["has"]}}

:func:`load_hierarchy` turns it into an ``nx.DiGraph`` rooted at :data:`ROOT` with edges
parent -> child; every node carries ``depth``. Leaves are the classes of the dataset.
"""
from __future__ import annotations

from typing import Dict, List, Mapping, Sequence, Union

import networkx as nx

__all__ = [
    "ROOT",
    "load_hierarchy",
    "validate_hierarchy",
    "leaf_parents",
    "vg150_predicate_hierarchy",
    "hierarchy_from_metadata",
]

ROOT = "__root__"

HierarchySpec = Mapping[str, Union[Sequence[str], Mapping]]

# Two-level VG-150 predicate grouping (methods_spec 6.2) from the neural-motifs predicate tags.
_VG150_PREDICATES: Dict[str, List[str]] = {
    "geometric": [
        "above", "across", "against", "along", "and", "at", "behind", "between", "in", "in front of",
        "near", "on", "on back of", "over", "under",
    ],
    "possessive": ["belonging to", "has", "of", "part of", "to", "with", "wearing", "wears"],
    "semantic": [
        "attached to", "carrying", "covered in", "covering", "eating", "flying in", "growing on",
        "hanging from", "laying on", "looking at", "lying on", "mounted on", "painted on", "parked on",
        "playing", "riding", "says", "sitting on", "standing on", "walking in", "walking on", "watching",
        "holding", "using",
    ],
    "misc": ["for", "from", "made of"],
}


def vg150_predicate_hierarchy() -> Dict[str, List[str]]:
    """The VG-150 predicate grouping (geometric / possessive / semantic / misc) as a fresh dict."""
    return {k: list(v) for k, v in _VG150_PREDICATES.items()}


def load_hierarchy(spec: HierarchySpec, source: str = "hierarchy") -> nx.DiGraph:
    """Build a rooted tree from a parent -> children dict; ``source`` names the origin in errors.

    Children are lists of names or nested dicts. A flat adjacency map is accepted too: a listed
    child that is itself a top-level key is expanded there (``{"object": ["circles"], "circles":
    ["red_circle"]}``, as the toy dataset's ``hierarchy.json``), and only keys that are nobody's
    child become top-level nodes.
    """
    if not isinstance(spec, Mapping) or not spec:
        raise ValueError(f"{source}: expected a non-empty dict mapping parent names to child lists")
    graph = nx.DiGraph()
    graph.add_node(ROOT, depth=0)

    def add(parent: str, children, path: str, depth: int) -> None:
        if isinstance(children, Mapping):
            items = list(children.items())
        elif isinstance(children, (list, tuple)):
            items = [(c, None) for c in children]
        else:
            raise ValueError(f"{source}: field '{path}' must be a list of names or a dict, got {type(children).__name__}")
        if not items:
            raise ValueError(f"{source}: field '{path}' has no children")
        for name, sub in items:
            if sub is None and isinstance(name, str) and name in flat_parents:
                sub = spec[name]
            if not isinstance(name, str) or not name:
                raise ValueError(f"{source}: field '{path}' contains a non-string or empty name: {name!r}")
            if name in graph:
                raise ValueError(f"{source}: name {name!r} (under '{path}') appears more than once in the hierarchy")
            graph.add_node(name, depth=depth)
            graph.add_edge(parent, name)
            if sub is not None:
                add(name, sub, f"{path}.{name}", depth + 1)

    listed = {c for v in spec.values() if isinstance(v, (list, tuple)) for c in v if isinstance(c, str)}
    flat_parents = {k for k in spec if k in listed}
    for top, children in spec.items():
        if top in flat_parents:
            continue
        if not isinstance(top, str) or not top:
            raise ValueError(f"{source}: top-level key {top!r} must be a non-empty string")
        if top in graph:
            raise ValueError(f"{source}: name {top!r} appears more than once in the hierarchy")
        graph.add_node(top, depth=1)
        graph.add_edge(ROOT, top)
        add(top, children, top, 2)
    return graph


def validate_hierarchy(graph: nx.DiGraph, class_names: Sequence[str], source: str = "hierarchy") -> None:
    """Check that ``graph`` is a tree whose leaves are exactly ``class_names`` (background excluded)."""
    if not nx.is_arborescence(graph):
        raise ValueError(f"{source}: the hierarchy is not a tree rooted at {ROOT!r}")
    names = [n for n in class_names if n != "__background__"]
    leaves = {n for n in graph.nodes if graph.out_degree(n) == 0 and n != ROOT}
    missing = [n for n in names if n not in leaves]
    extra = sorted(leaves - set(names))
    if missing:
        raise ValueError(f"{source}: classes missing from the hierarchy leaves: {missing}")
    if extra:
        raise ValueError(f"{source}: hierarchy leaves that are not dataset classes: {extra}")


def leaf_parents(graph: nx.DiGraph, class_names: Sequence[str]) -> Dict[str, str]:
    """Map each class name to its direct parent (its super-category)."""
    out = {}
    for n in class_names:
        if n == "__background__":
            continue
        preds = list(graph.predecessors(n))
        if len(preds) != 1 or preds[0] == ROOT:
            raise ValueError(f"class {n!r} has no super-category in the hierarchy")
        out[n] = preds[0]
    return out


def hierarchy_from_metadata(metadata, kind: str = "predicate") -> HierarchySpec:
    """The ``kind`` ("predicate" | "object") hierarchy dict of a dataset.

    Reads ``metadata.hierarchy`` (a dict with key ``"predicate"``/``"predicates"`` or
    ``"object"``/``"objects"``); falls back to :func:`vg150_predicate_hierarchy` when the dataset's
    predicates are the VG-150 ones. Raises a clear error otherwise.
    """
    hier = getattr(metadata, "hierarchy", None)
    if isinstance(hier, Mapping):
        for key in (kind, kind + "s"):
            if key in hier:
                return hier[key]
    if kind == "predicate":
        preds = set(getattr(metadata, "predicate_classes", [])) - {"__background__"}
        vg = {p for ps in _VG150_PREDICATES.values() for p in ps}
        if preds == vg:
            return vg150_predicate_hierarchy()
    name = getattr(metadata, "name", "?")
    raise ValueError(
        f"dataset {name!r}: metadata.hierarchy has no {kind!r} entry and no built-in hierarchy fits; "
        f"set MODEL.AUXILIARY.HYP_HIERARCHY.HIERARCHY_FILE to a JSON file {{\"{kind}\": {{parent: [children]}}}}"
    )
