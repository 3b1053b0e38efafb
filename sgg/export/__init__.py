"""Scene-graph export: JSON files (format ``sgg-scene-graphs``), networkx graphs and plots.

Drawings of scene graphs and the HTML viewer are in :mod:`sgg.visualization`.
"""
from .graph import from_node_link, to_networkx, to_node_link  # noqa: F401
from .plots import bar_chart, plot_per_predicate_recall  # noqa: F401
from .scene_graph_json import (  # noqa: F401
    ExportOptions,
    ImageInfo,
    SceneGraphFileError,
    SceneGraphWriter,
    ScenesFile,
    ScenesImage,
    read_scene_graphs,
    write_scene_graphs,
)
