"""sgg: a scene graph generation toolkit (detectron2-style, pluggable relation heads, exact evaluators)."""
__version__ = "0.1.0"
