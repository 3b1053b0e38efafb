"""Data loaders: an infinite shuffled, rank-sharded sampler for training and a sharded one for test.

A batch is a ``list[ImageSample]``. Datasets named in the config are registered on demand from
``DATASETS.ROOT`` / ``DATASETS.FORMAT`` (``<prefix>_{train,val,test}``).
"""
from __future__ import annotations

import itertools
import os
from typing import Iterator, List, Optional, Sequence

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import BatchSampler, DataLoader, Dataset, Sampler, get_worker_info

from ..structures.image_sample import ImageSample
from ..structures.scene_graph import SceneGraphRecord
from .catalog import DatasetCatalog, MetadataCatalog, register_scene_graph_dataset
from .mapper import DatasetMapper

__all__ = ["MapDataset", "TrainingSampler", "InferenceSampler", "register_datasets_from_config",
           "build_train_loader", "build_test_loader", "trivial_batch_collator"]


def _rank_world() -> tuple:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


class MapDataset(Dataset):
    """records[i] -> mapper(records[i])."""

    def __init__(self, records: Sequence[SceneGraphRecord], mapper) -> None:
        self.records = list(records)
        self.mapper = mapper

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, idx: int) -> ImageSample:
        return self.mapper(self.records[idx])


class TrainingSampler(Sampler):
    """Infinite stream of shuffled indices; rank r of w takes every w-th index starting at r."""

    def __init__(self, size: int, shuffle: bool = True, seed: int = 0,
                 rank: Optional[int] = None, world_size: Optional[int] = None) -> None:
        if size <= 0:
            raise ValueError(f"TrainingSampler needs a non-empty dataset, got size {size}")
        r, w = _rank_world()
        self.size, self.shuffle, self.seed = size, shuffle, int(seed)
        self.rank = r if rank is None else rank
        self.world_size = w if world_size is None else world_size

    def _infinite(self) -> Iterator[int]:
        g = torch.Generator()
        g.manual_seed(self.seed)
        while True:
            if self.shuffle:
                yield from torch.randperm(self.size, generator=g).tolist()
            else:
                yield from range(self.size)

    def __iter__(self) -> Iterator[int]:
        return itertools.islice(self._infinite(), self.rank, None, self.world_size)


class InferenceSampler(Sampler):
    """Each rank gets a contiguous, nearly equal share of 0..size-1 (all of it without distribution)."""

    def __init__(self, size: int, rank: Optional[int] = None, world_size: Optional[int] = None) -> None:
        r, w = _rank_world()
        rank = r if rank is None else rank
        world_size = w if world_size is None else world_size
        per = size // world_size + (1 if size % world_size else 0)
        self.indices = range(rank * per, min(size, (rank + 1) * per))

    def __len__(self) -> int:
        return len(self.indices)

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices)


def trivial_batch_collator(batch: List[ImageSample]) -> List[ImageSample]:
    """A batch is the list of samples."""
    return batch


def _worker_init(base_seed: int):
    def init(worker_id: int) -> None:
        info = get_worker_info()
        rank, _ = _rank_world()
        mapper = getattr(info.dataset, "mapper", None)
        if hasattr(mapper, "reseed"):
            mapper.reseed(base_seed + 1000 * rank + worker_id + 1)
    return init


# prefix -> the settings it was registered with by register_datasets_from_config
_REGISTERED_FROM_CONFIG: dict = {}


def register_datasets_from_config(cfg, names: Sequence[str]) -> None:
    """Register ``<prefix>_{train,val,test}`` from ``DATASETS.ROOT/FORMAT`` for names not yet known.

    Names this function registered earlier from a config with other dataset settings (another
    ``ROOT``, ``NUM_VAL_IM``, filters, ...; e.g. a detector run then a relation run in one
    process) are registered again with the current ones; names registered by the user are kept.
    """
    d = cfg.DATASETS
    settings = (os.path.abspath(os.path.expanduser(d.ROOT)), d.FORMAT, d.NUM_VAL_IM, d.FILTER_EMPTY_RELS,
                d.FILTER_NON_OVERLAP, d.IMAGE_DIR, d.STATISTICS_CACHE, d.ZEROSHOT_TRIPLETS, max(cfg.SEED, 0))
    for name in names:
        prefix, _, split = name.rpartition("_")
        if name in DatasetCatalog:
            if _REGISTERED_FROM_CONFIG.get(prefix, settings) == settings:
                continue
            for sibling in (f"{prefix}_{s}" for s in ("train", "val", "test")):
                for catalog in (DatasetCatalog, MetadataCatalog):
                    if sibling in catalog:
                        catalog.remove(sibling)
        if split not in ("train", "val", "test") or not prefix:
            raise KeyError(f"dataset '{name}' is not registered and is not of the form <prefix>_train|val|test; "
                           f"registered names: {DatasetCatalog.list() or '(none)'}")
        _REGISTERED_FROM_CONFIG[prefix] = settings
        register_scene_graph_dataset(
            prefix, cfg.DATASETS.ROOT, cfg.DATASETS.FORMAT, num_val_im=cfg.DATASETS.NUM_VAL_IM,
            filter_empty_rels=cfg.DATASETS.FILTER_EMPTY_RELS, filter_non_overlap=cfg.DATASETS.FILTER_NON_OVERLAP,
            image_dir=cfg.DATASETS.IMAGE_DIR or None, statistics_cache=cfg.DATASETS.STATISTICS_CACHE,
            zeroshot_file=cfg.DATASETS.ZEROSHOT_TRIPLETS, seed=max(cfg.SEED, 0),
        )


def _seed(cfg) -> int:
    return int(cfg.SEED) if cfg.SEED >= 0 else int(np.random.SeedSequence().entropy % (2**31))


def build_train_loader(cfg, mapper=None) -> DataLoader:
    """Infinite training loader over ``DATASETS.TRAIN`` yielding ``list[ImageSample]``.

    The per-rank batch is ``SOLVER.IMS_PER_BATCH // world_size``.
    """
    names = list(cfg.DATASETS.TRAIN)
    register_datasets_from_config(cfg, names)
    records = [r for n in names for r in DatasetCatalog.get(n)]
    seed = _seed(cfg)
    if mapper is None:
        mapper = DatasetMapper.from_config(cfg, True, MetadataCatalog.get(names[0]))
        mapper.reseed(seed)
    _, world = _rank_world()
    if cfg.SOLVER.IMS_PER_BATCH % world:
        raise ValueError(f"SOLVER.IMS_PER_BATCH={cfg.SOLVER.IMS_PER_BATCH} is not divisible by {world} processes")
    batch = cfg.SOLVER.IMS_PER_BATCH // world
    sampler = TrainingSampler(len(records), shuffle=True, seed=seed)
    return DataLoader(MapDataset(records, mapper), batch_sampler=BatchSampler(sampler, batch, drop_last=True),
                      num_workers=cfg.DATALOADER.NUM_WORKERS, collate_fn=trivial_batch_collator,
                      worker_init_fn=_worker_init(seed))


def build_test_loader(cfg, dataset_name: str, mapper=None) -> DataLoader:
    """Loader over this rank's share of ``dataset_name`` (in order), batches of ``TEST.IMS_PER_BATCH``."""
    register_datasets_from_config(cfg, [dataset_name])
    records = DatasetCatalog.get(dataset_name)
    if mapper is None:
        mapper = DatasetMapper.from_config(cfg, False, MetadataCatalog.get(dataset_name))
    sampler = InferenceSampler(len(records))
    return DataLoader(MapDataset(records, mapper), batch_sampler=BatchSampler(sampler, cfg.TEST.IMS_PER_BATCH,
                                                                              drop_last=False),
                      num_workers=cfg.DATALOADER.NUM_WORKERS, collate_fn=trivial_batch_collator)
