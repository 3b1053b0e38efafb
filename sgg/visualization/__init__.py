"""Seeing what a model predicts: readable drawings, ground-truth comparison pictures and a static HTML viewer."""
from .draw import STATUS_COLOURS, draw_gt_comparison, draw_scene_graph  # noqa: F401
from .layout import graph_layout, overlapping_pairs, remove_overlaps  # noqa: F401
from .select import DrawSelection, SelectionOptions, select_for_drawing  # noqa: F401
