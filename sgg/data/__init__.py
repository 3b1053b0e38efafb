"""Datasets: catalog, VG-150 / OI-V6 loaders, toy generator, statistics, mappers and loaders."""
from .catalog import (
    DatasetCatalog,
    DatasetMetadata,
    MetadataCatalog,
    load_class_names,
    load_dataset_split,
    load_zeroshot_triplets,
    register_scene_graph_dataset,
)
from .errors import DatasetFormatError
from .statistics import DatasetStatistics, compute_statistics

__all__ = [
    "DatasetCatalog", "MetadataCatalog", "DatasetMetadata", "register_scene_graph_dataset", "load_dataset_split",
    "load_class_names", "load_zeroshot_triplets", "DatasetFormatError", "DatasetStatistics", "compute_statistics",
    "build_train_loader", "build_test_loader", "DatasetMapper",
]


def __getattr__(name):  # torch-dependent pieces are imported on first use
    if name in ("build_train_loader", "build_test_loader"):
        from . import build

        return getattr(build, name)
    if name == "DatasetMapper":
        from .mapper import DatasetMapper

        return DatasetMapper
    raise AttributeError(f"module 'sgg.data' has no attribute {name!r}")
