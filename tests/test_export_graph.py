"""networkx conversion of exported scene graphs and node-link round trip."""
import json

import networkx as nx
import numpy as np
import pytest

from sgg.export.graph import from_node_link, to_networkx, to_node_link
from sgg.export.scene_graph_json import ImageInfo, read_scene_graphs, write_scene_graphs
from sgg.structures.scene_graph import SceneGraphPrediction

OBJ = ["__background__", "person", "horse", "hat"]
PRED = ["__background__", "riding", "on", "wearing", "near"]


def _prediction():
    # person rides AND is on the horse (two predicates, one pair), wears the hat; hat near horse
    pairs = [[0, 1], [0, 2], [0, 1], [2, 1]]
    labels = [1, 3, 2, 4]
    probs = [0.9, 0.8, 0.6, 0.3]
    return SceneGraphPrediction(
        boxes=[[10, 10, 50, 90], [0, 40, 120, 110], [20, 0, 40, 15]],
        labels=[1, 2, 3], scores=[1.0, 0.9, 0.7],
        rel_pair_idxs=pairs, rel_labels=labels, rel_label_scores=probs,
        extras={"hyp_radius": np.array([1.0, 2.0, 3.0, 4.0])},
    )


INFO = ImageInfo(file_name="images/7.jpg", image_id=7, width=120, height=110)


def test_graph_has_exactly_the_exported_objects_and_relations(tmp_path):
    path = write_scene_graphs(tmp_path / "sg.json", [(INFO, _prediction())], object_classes=OBJ,
                              predicate_classes=PRED, mode="predcls", dataset="toy")
    scenes = read_scene_graphs(path)
    graph = to_networkx(scenes.raw_images["images/7.jpg"])
    assert isinstance(graph, nx.MultiDiGraph)
    assert graph.graph["file_name"] == "images/7.jpg" and graph.graph["width"] == 120
    assert sorted(graph.nodes) == [0, 1, 2]
    assert [graph.nodes[i]["label"] for i in range(3)] == ["person", "horse", "hat"]
    assert graph.nodes[1]["box"] == [0.0, 40.0, 120.0, 110.0]
    edges = sorted((u, v, k, d["predicate"]) for u, v, k, d in graph.edges(keys=True, data=True))
    assert edges == [(0, 1, 0, "riding"), (0, 1, 2, "on"), (0, 2, 1, "wearing"), (2, 1, 3, "near")]
    assert graph.number_of_edges(0, 1) == 2  # two predicates for one pair -> two parallel edges
    assert graph.edges[0, 1, 2]["score"] == pytest.approx(0.6) and graph.edges[2, 1, 3]["hyp_radius"] == 4.0
    assert graph.edges[0, 1, 0]["triplet_score"] == pytest.approx(0.9 * 1.0 * 0.9)


def test_graph_from_prediction_pair_matches_graph_from_file(tmp_path):
    path = write_scene_graphs(tmp_path / "sg.json", [(INFO, _prediction())], object_classes=OBJ,
                              predicate_classes=PRED, mode="predcls", dataset="toy")
    from_file = to_networkx(read_scene_graphs(path).raw_images["images/7.jpg"])
    direct = to_networkx((INFO, _prediction()), OBJ, PRED)
    assert nx.utils.graphs_equal(from_file, direct)


def test_node_link_round_trip():
    graph = to_networkx((INFO, _prediction()), OBJ, PRED)
    data = json.loads(json.dumps(to_node_link(graph)))
    assert "edges" in data and len(data["edges"]) == 4 and len(data["nodes"]) == 3
    back = from_node_link(data)
    assert isinstance(back, nx.MultiDiGraph)
    assert nx.utils.graphs_equal(graph, back)
