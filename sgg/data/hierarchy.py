"""Object / predicate hierarchies stored as ``{"objects": {parent: [children]}, "predicates": {...}}``."""
from __future__ import annotations

import json
from typing import Dict, List

import networkx as nx

from .errors import DatasetFormatError

__all__ = ["load_hierarchy", "hierarchy_graph", "hierarchy_path"]


def load_hierarchy(path: str) -> Dict[str, Dict[str, List[str]]]:
    """Read a hierarchy file and check that both trees are DAGs."""
    try:
        with open(path, encoding="utf-8") as f:
            tree = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        raise DatasetFormatError(path, "(file)", "a readable hierarchy JSON file", str(e)) from None
    for key in ("objects", "predicates"):
        if not isinstance(tree.get(key), dict):
            raise DatasetFormatError(path, key, "a {parent: [children]} mapping", repr(tree.get(key))[:80])
        if not nx.is_directed_acyclic_graph(hierarchy_graph(tree[key])):
            raise DatasetFormatError(path, key, "an acyclic parent -> children graph", "a cycle")
    return tree


def hierarchy_graph(tree: Dict[str, List[str]]) -> nx.DiGraph:
    """networkx DiGraph with an edge parent -> child for every listed child."""
    g = nx.DiGraph()
    for parent, children in tree.items():
        g.add_node(parent)
        for c in children:
            g.add_edge(parent, c)
    return g


def hierarchy_path(graph: nx.DiGraph, node: str) -> List[str]:
    """Names from the root (excluded) down to ``node``, e.g. ``["position", "left of"]``."""
    roots = [n for n in graph.nodes if graph.in_degree(n) == 0]
    for r in roots:
        if nx.has_path(graph, r, node):
            return nx.shortest_path(graph, r, node)[1:]
    raise KeyError(f"{node!r} is not in the hierarchy")

