"""Scene graphs as networkx ``MultiDiGraph`` objects and node-link JSON.

Nodes are objects (key = object id, attributes ``label``, ``label_id``, ``score``, ``box`` and any
object extras); edges are relations ``subject -> object`` with key = rank of the relation and
attributes ``predicate``, ``predicate_id``, ``score``, ``triplet_score``, ``rank`` and the relation
extras. Two predicates for one pair are two parallel edges. Graph attributes hold the image info.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import networkx as nx

from sgg.structures.scene_graph import SceneGraphPrediction

from .scene_graph_json import ExportOptions, ScenesImage, image_to_json

__all__ = ["as_image_entry", "from_node_link", "to_networkx", "to_node_link"]

ImageLike = Mapping[str, Any] | ScenesImage | tuple


def as_image_entry(
    image: ImageLike,
    object_classes: Sequence[str] | None = None,
    predicate_classes: Sequence[str] | None = None,
    options: ExportOptions | None = None,
) -> dict:
    """Return the JSON image entry of ``image``.

    ``image`` is either an entry as stored in a scene-graph file (a dict with ``objects`` and
    ``relations``; returned as is) or an ``(info, SceneGraphPrediction)`` pair, which needs the class
    name lists and is converted with :func:`image_to_json` under ``options``.
    """
    if isinstance(image, Mapping):
        if "objects" not in image or "relations" not in image:
            raise ValueError("image entry: expected a dict with 'objects' and 'relations' (a scene-graph file entry)")
        return dict(image)
    if isinstance(image, tuple) and len(image) == 2 and isinstance(image[1], SceneGraphPrediction):
        if object_classes is None or predicate_classes is None:
            raise ValueError("an (info, SceneGraphPrediction) pair needs object_classes and predicate_classes")
        return image_to_json(image[0], image[1], object_classes, predicate_classes, options or ExportOptions())
    raise TypeError(f"expected a scene-graph file entry (dict) or an (info, SceneGraphPrediction) pair, got {type(image)}")


def to_networkx(
    image: ImageLike,
    object_classes: Sequence[str] | None = None,
    predicate_classes: Sequence[str] | None = None,
) -> nx.MultiDiGraph:
    """Scene graph of one image as a ``MultiDiGraph`` (see the module docstring for attributes)."""
    entry = as_image_entry(image, object_classes, predicate_classes)
    graph = nx.MultiDiGraph(
        file_name=entry.get("file_name"), image_id=entry.get("image_id"),
        width=entry.get("width"), height=entry.get("height"),
    )
    for obj in entry["objects"]:
        attrs = {k: v for k, v in obj.items() if k not in ("id", "extras")}
        attrs.update(obj.get("extras", {}))
        graph.add_node(obj["id"], **attrs)
    for rank, rel in enumerate(entry["relations"]):
        attrs = {k: v for k, v in rel.items() if k not in ("subject", "object", "extras")}
        attrs.update(rel.get("extras", {}))
        attrs["rank"] = rank
        graph.add_edge(rel["subject"], rel["object"], key=rank, **attrs)
    return graph


def to_node_link(graph: nx.MultiDiGraph) -> dict:
    """Node-link JSON-ready dict of ``graph`` (edges under the key ``"edges"``)."""
    return nx.node_link_data(graph, edges="edges")


def from_node_link(data: Mapping[str, Any]) -> nx.MultiDiGraph:
    """Inverse of :func:`to_node_link`."""
    return nx.node_link_graph(dict(data), directed=True, multigraph=True, edges="edges")
