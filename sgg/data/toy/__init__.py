"""Deterministic synthetic scene-graph dataset written in the VG-150 (and OI-V6) file formats.

See design.md section 4 and ``datasets/README.md``. Entry point: :func:`generate_toy_dataset`
(CLI: ``tools/make_toy_dataset.py``).
"""
from .generate import (
                       CAPTIONS_FILE,
                       FLIP_MAP_FILE,
                       HIERARCHY_FILE,
                       INFO_FILE,
                       ZEROSHOT_FILE,
                       ToyDatasetSpec,
                       generate_image,
                       generate_toy_dataset,
)
from .vocabulary import OBJECT_CLASSES, PREDICATE_FLIP_MAP, PREDICATES

__all__ = ["ToyDatasetSpec", "generate_toy_dataset", "generate_image", "OBJECT_CLASSES", "PREDICATES",
           "PREDICATE_FLIP_MAP", "ZEROSHOT_FILE", "CAPTIONS_FILE", "HIERARCHY_FILE", "FLIP_MAP_FILE", "INFO_FILE"]
