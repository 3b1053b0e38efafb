"""Typed containers passed between the toolkit's stages."""
from .scene_graph import SceneGraphPrediction, SceneGraphRecord

__all__ = ["SceneGraphRecord", "SceneGraphPrediction"]
