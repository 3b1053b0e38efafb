"""A tiny toy dataset, a config of the real toy model and a random-weight checkpoint (demo/export tests).

Not a test module. The datasets are registered under the prefix ``demotoy`` so the global catalogs
of other tests (``toy_*``) are not disturbed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from sgg.config import get_cfg
from sgg.data.toy import ToyDatasetSpec, generate_toy_dataset
from sgg.data.toy.generate import generate_image

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class DemoSetup:
    root: Path  # the toy dataset
    config_file: Path  # YAML config of the toy model on that dataset (small test size)
    weights: Path  # random-weight checkpoint
    image_dir: Path  # 3 generated "user" images
    annotations: dict  # file name -> (boxes (N, 4), label names)


def write_config(path: Path, dataset_root: Path, base: str = "configs/toy/sgcls_motifs.yaml") -> Path:
    path.write_text(
        f"""_BASE_: "{ROOT / base}"
DATASETS:
  TRAIN: ("demotoy_train",)
  VAL: ()
  TEST: ("demotoy_test",)
  ROOT: "{dataset_root}"
  NUM_VAL_IM: 2
INPUT:
  MIN_SIZE_TEST: 96
  MAX_SIZE_TEST: 128
TEST:
  DETECTIONS_PER_IMG: 6
  IMS_PER_BATCH: 2
MODEL:
  DEVICE: "cpu"
  ROI_HEADS:
    NUM_CLASSES: 25
  ROI_RELATION_HEAD:
    NUM_CLASSES: 19
""",
        encoding="utf-8",
    )
    return path


def load_cfg(config_file: Path, *opts: str):
    cfg = get_cfg()
    cfg.merge_from_file(str(config_file))
    cfg.merge_from_list(list(opts))
    cfg.freeze()
    return cfg


def make_setup(tmp: Path) -> DemoSetup:
    """Generate everything under ``tmp`` (a few seconds)."""
    from sgg.engine.predictor import metadata_from_config
    from sgg.modeling.build import build_model

    root = tmp / "toy"
    spec = ToyDatasetSpec(seed=3, num_train=6, num_test=3, num_val=2, image_size=96)
    generate_toy_dataset(str(root), spec, workers=1, progress=False)
    config_file = write_config(tmp / "demo.yaml", root)
    cfg = load_cfg(config_file)
    torch.manual_seed(0)
    model = build_model(cfg, metadata_from_config(cfg))
    weights = tmp / "random_weights.pth"
    torch.save({"model": model.state_dict()}, weights)

    image_dir = tmp / "user_images"
    image_dir.mkdir()
    annotations = {}
    for k in range(3):
        ann, jpeg = generate_image(11, 100 + k, False, spec, frozenset())
        name = f"photo_{k}.jpg"
        (image_dir / name).write_bytes(jpeg)
        annotations[name] = (np.asarray(ann.boxes, dtype=np.float32), list(ann.labels))
    return DemoSetup(root, config_file, weights, image_dir, annotations)


def boxes_json(setup: DemoSetup, labels: bool = True) -> dict:
    """A boxes.json document for the three user images (label names, or boxes only)."""
    doc = {}
    for name, (boxes, names) in setup.annotations.items():
        if labels:
            doc[name] = [{"box": [float(v) for v in b], "label": n} for b, n in zip(boxes, names)]
        else:
            doc[name] = [[float(v) for v in b] for b in boxes]
    return doc


def png_size(path: os.PathLike) -> tuple:
    from PIL import Image

    with Image.open(path) as im:
        return im.format, im.size, float(np.asarray(im.convert("L"), dtype=np.float32).std())
