"""Toy model, data and evaluator for the engine tests (tiny, deterministic, CPU).

Not a test module (no ``test_`` prefix); imported by ``test_engine_*.py`` and ``test_train_net*.py``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any, Dict, List

import numpy as np
import torch
from torch import nn

from sgg.config import get_cfg
from sgg.engine import SGGTrainer
from sgg.engine.inference import SceneGraphExporter
from sgg.structures.scene_graph import SceneGraphRecord
from sgg.utils.io import atomic_write_text

IN_DIM = 4


@dataclass
class ToySample:
    """One regression sample with a record (the evaluators' input)."""

    x: torch.Tensor
    y: torch.Tensor
    record: SceneGraphRecord

    def to(self, device):
        return ToySample(self.x.to(device), self.y.to(device), self.record)


def make_sample(index: int, seed: int = 0) -> ToySample:
    rng = np.random.default_rng(seed * 100003 + index)
    x = torch.from_numpy(rng.normal(size=IN_DIM).astype(np.float32))
    y = (x.sum() * 0.5 + 0.1).reshape(1)
    rec = SceneGraphRecord(index, f"img_{index}.jpg", 32, 32, np.zeros((0, 4)), np.zeros(0), np.zeros((0, 3)))
    return ToySample(x, y, rec)


class ToyModel(nn.Module):
    """Linear -> BatchNorm -> ReLU -> Dropout -> Linear; training returns two loss terms.

    ``nan_at_call``: the forward call (0-based) at which the loss becomes NaN (-1 = never).
    """

    def __init__(self, nan_at_call: int = -1) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(IN_DIM, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Dropout(0.3), nn.Linear(8, 1)
        )
        self.nan_at_call = nan_at_call
        self.calls = 0

    def forward(self, batch: List[ToySample]):
        x = torch.stack([s.x for s in batch])
        pred = self.net(x)
        if not self.training:
            return [float(p) for p in pred[:, 0]]
        y = torch.stack([s.y for s in batch])
        mse = ((pred - y) ** 2).mean()
        if self.calls == self.nan_at_call:
            mse = mse * float("nan")
        self.calls += 1
        return {
            "loss_mse": mse,
            "loss_l1": 0.1 * (pred - y).abs().mean(),
            "accuracy_proxy": (pred - y).abs().lt(1).float().mean(),
        }


class ResumableBatchSampler(torch.utils.data.Sampler):
    """Infinite seeded batch sampler over an index stream, with the engine's ``resume_from_batch``."""

    def __init__(self, batch_size: int, seed: int = 0, rank: int = 0, world: int = 1) -> None:
        self.batch_size, self.seed, self.rank, self.world = batch_size, seed, rank, world
        self.start = 0

    def resume_from_batch(self, n: int) -> None:
        self.start = n

    def __iter__(self):
        b = self.start
        while True:
            g = np.random.default_rng(self.seed * 7919 + b * self.world + self.rank)
            yield [int(i) for i in g.integers(0, 64, size=self.batch_size)]
            b += 1


class ToyDataset(torch.utils.data.Dataset):
    def __len__(self) -> int:
        return 64

    def __getitem__(self, i: int) -> ToySample:
        return make_sample(i)


def toy_train_loader(batch_size: int = 4, seed: int = 0, resumable: bool = True):
    """A torch DataLoader (its iterator draws from the global RNG, as real loaders do)."""
    from sgg.utils import comm

    sampler = ResumableBatchSampler(batch_size, seed, comm.get_rank(), comm.get_world_size())
    if not resumable:
        sampler.resume_from_batch = None  # hide the method: the trainer must fast-forward
    return torch.utils.data.DataLoader(ToyDataset(), batch_sampler=sampler, collate_fn=list, num_workers=0)


def toy_test_loader(n: int = 8) -> List[List[ToySample]]:
    return [[make_sample(1000 + i), make_sample(2000 + i)] for i in range(n // 2)]


class ToyEvaluator:
    """Mean absolute error of the regression (reset/process/evaluate)."""

    def __init__(self) -> None:
        self.errors: List[float] = []

    def reset(self) -> None:
        self.errors = []

    def process(self, inputs: List[SceneGraphRecord], outputs: List[float]) -> None:
        for rec, out in zip(inputs, outputs):
            target = float(make_sample(rec.image_id).y)
            self.errors.append(abs(out - target))

    def evaluate(self) -> Dict[str, Any]:
        from sgg.utils import comm

        errs = [e for part in comm.all_gather(self.errors) for e in part]
        if not comm.is_main_process():
            return {}
        return {"toy": {"MAE": float(np.mean(errs)), "num_images": len(errs)}}


class ToyTrainer(SGGTrainer):
    """SGGTrainer with the toy components."""

    nan_at_call = -1
    resumable = True

    @classmethod
    def build_model(cls, cfg):
        return ToyModel(cls.nan_at_call)

    @classmethod
    def build_train_loader(cls, cfg):
        return toy_train_loader(cfg.SOLVER.IMS_PER_BATCH, seed=max(cfg.SEED, 0), resumable=cls.resumable)

    @classmethod
    def build_test_loader(cls, cfg, dataset_name):
        return toy_test_loader()

    @classmethod
    def build_evaluator(cls, cfg, dataset_name, output_dir):
        return ToyEvaluator()

    @classmethod
    def build_exporter(cls, cfg, dataset_name, path):
        return SceneGraphExporter(path, lambda p: ToyJSONWriter(p, dataset_name))


class ToyJSONWriter:
    """Minimal streaming writer of the exporter protocol (add / close / abort) for the toy model."""

    def __init__(self, path, dataset_name):
        self.path, self.dataset_name, self.images = path, dataset_name, {}

    def add(self, rec, pred):
        self.images[rec.file_name] = {"image_id": rec.image_id, "prediction": pred}

    def close(self):
        atomic_write_text(self.path, json.dumps({"dataset": self.dataset_name, "images": self.images}))

    def abort(self):
        self.images = {}


def toy_cfg(output_dir: str, **overrides):
    """A small config for the toy trainer; ``overrides`` use ``__`` for dots (SOLVER__MAX_ITER=10)."""
    cfg = get_cfg()
    opts = {
        "OUTPUT_DIR": output_dir,
        "SEED": 3,
        "SOLVER.MAX_ITER": 10,
        "SOLVER.CHECKPOINT_PERIOD": 5,
        "SOLVER.BASE_LR": 0.05,
        "SOLVER.WARMUP_ITERS": 2,
        "SOLVER.STEPS": (7,),
        "SOLVER.IMS_PER_BATCH": 4,
        "SOLVER.MAX_KEEP": 2,
        "TEST.EVAL_PERIOD": 4,
        "LOG_PERIOD": 1,
        "DATASETS.VAL": ("toy_val",),
        "DATASETS.TEST": ("toy_test",),
    }
    opts.update({k.replace("__", "."): v for k, v in overrides.items()})
    for k, v in opts.items():
        node = cfg
        *parents, leaf = k.split(".")
        for p in parents:
            node = getattr(node, p)
        setattr(node, leaf, v)
    return cfg


def read_metrics(output_dir: str) -> List[dict]:
    with open(os.path.join(output_dir, "metrics.json"), encoding="utf-8") as f:
        return [json.loads(line) for line in f]
