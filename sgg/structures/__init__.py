"""Typed containers passed between the toolkit's stages."""
from .image_sample import ImageSample
from .scene_graph import SceneGraphPrediction, SceneGraphRecord

__all__ = ["SceneGraphRecord", "SceneGraphPrediction", "ImageSample"]
