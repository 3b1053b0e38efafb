"""Generate the toy scene-graph dataset (design.md section 4) into a folder.

Each image is generated from its own seed ``(seed, image index)``, so the output does not depend on
the number of worker processes, and the same seed gives byte-identical files.
"""
from __future__ import annotations

import math
import multiprocessing as mp
import os
from dataclasses import dataclass, field
from typing import Dict, FrozenSet, List, Optional, Sequence, Tuple

import numpy as np
from tqdm import tqdm

from ..io_utils import atomic_path, write_bytes_atomic, write_json_atomic
from ..vg150 import DICTS_FILE, H5_FILE, IMAGE_DATA_FILE
from .annotate import AnnotatorConfig, annotate_pairs, sample_heldout_triplets
from .captions import describe_object, make_captions
from .predicates import true_predicates
from .render import encode_jpeg, render_scene
from .scene import SceneConfig, sample_scene
from .vocabulary import (
    ATTRIBUTES,
    OBJECT_CLASSES,
    PREDICATE_FLIP_MAP,
    PREDICATES,
    object_hierarchy,
    predicate_hierarchy,
)
from .writers import ToyImage, write_oiv6, write_vg150

__all__ = ["ToyDatasetSpec", "generate_toy_dataset", "generate_image", "heldout_triplets", "ZEROSHOT_FILE", "CAPTIONS_FILE",
           "HIERARCHY_FILE", "FLIP_MAP_FILE", "INFO_FILE"]

ZEROSHOT_FILE = "zeroshot_triplets.npy"
CAPTIONS_FILE = "captions.json"
HIERARCHY_FILE = "hierarchy.json"
FLIP_MAP_FILE = "predicate_flip_map.json"
INFO_FILE = "toy_info.json"


@dataclass
class ToyDatasetSpec:
    """What to generate."""

    seed: int = 0
    num_train: int = 3000
    num_test: int = 500
    num_val: Optional[int] = None  # first train images forming val (OI val file; VG NUM_VAL_IM); None = 10%
    image_size: int = 256  # longer image side in pixels
    formats: Tuple[str, ...] = ("vg150",)
    scene: SceneConfig = field(default_factory=SceneConfig)
    annotator: AnnotatorConfig = field(default_factory=AnnotatorConfig)

    @property
    def val_count(self) -> int:
        return max(1, int(round(0.1 * self.num_train))) if self.num_val is None else int(self.num_val)


def heldout_triplets(seed: int) -> FrozenSet[Tuple[str, str, str]]:
    """Triplets (subject class, object class, predicate) never annotated in the train split of ``seed``."""
    return sample_heldout_triplets(np.random.default_rng([seed, 2**31 - 1]), OBJECT_CLASSES)


def _image_size(rng: np.random.Generator, long_side: int) -> Tuple[int, int]:
    short = int(round(long_side * rng.uniform(0.75, 1.0)))
    return (long_side, short) if rng.random() < 0.5 else (short, long_side)


def generate_image(seed: int, index: int, is_train: bool, spec: ToyDatasetSpec,
                   forbidden: FrozenSet[Tuple[str, str, str]]) -> Tuple[ToyImage, bytes]:
    """Generate image number ``index``: its annotation and its JPEG bytes."""
    rng = np.random.default_rng([seed, index])
    scene_cfg = SceneConfig(**{**spec.scene.__dict__, "image_size": spec.image_size})
    width, height = _image_size(rng, spec.image_size)
    objects = sample_scene(rng, scene_cfg, width, height)
    image = render_scene(rng, objects, width, height, scene_cfg.scale)
    truth = true_predicates(objects, max(width, height))
    gaps = {}
    for (i, j) in truth:
        a, b = objects[i].box, objects[j].box
        gaps[(i, j)] = math.hypot(max(0.0, max(a[0], b[0]) - min(a[2], b[2])),
                                  max(0.0, max(a[1], b[1]) - min(a[3], b[3])))
    names = [o.class_name for o in objects]
    rows = annotate_pairs(rng, truth, names, gaps, spec.annotator, spec.annotator.prior,
                          forbidden if is_train else frozenset())
    descriptions = [describe_object(o.class_name, o.size_name(scene_cfg.scale), o.texture) for o in objects]
    ann = ToyImage(
        image_id=index + 1, width=width, height=height, is_train=is_train,
        boxes=np.array([o.box for o in objects], dtype=np.float32).reshape(-1, 4),
        labels=names,
        attributes=[(o.texture, o.size_name(scene_cfg.scale)) for o in objects],
        relations=rows,
        captions=make_captions(rng, descriptions, rows),
        num_true_pairs=sum(1 for v in truth.values() if v),
    )
    return ann, encode_jpeg(image)


def _work(args) -> ToyImage:
    seed, index, is_train, spec, forbidden, image_dir = args
    ann, jpeg = generate_image(seed, index, is_train, spec, forbidden)
    write_bytes_atomic(os.path.join(image_dir, f"{ann.file_stem}.jpg"), jpeg)
    return ann


def _refuse_overwrite(root: str, formats: Sequence[str]) -> None:
    names = [ZEROSHOT_FILE, CAPTIONS_FILE, HIERARCHY_FILE, FLIP_MAP_FILE, INFO_FILE]
    if "vg150" in formats:
        names += [H5_FILE, DICTS_FILE, IMAGE_DATA_FILE]
    if "oiv6" in formats:
        names += ["annotations/categories_dict.json"]
    present = [n for n in names if os.path.exists(os.path.join(root, n))]
    if present:
        raise FileExistsError(f"{root} already holds dataset files ({', '.join(present)}); "
                              "choose another folder or pass overwrite=True (--overwrite)")


def generate_toy_dataset(root: str, spec: ToyDatasetSpec, workers: int = 0, overwrite: bool = False,
                         progress: bool = True) -> Dict[str, object]:
    """Write the toy dataset under ``root``; returns a small summary dict.

    ``workers`` = number of processes (0 = min(2, CPU count)); the files do not depend on it.
    """
    for fmt in spec.formats:
        if fmt not in ("vg150", "oiv6"):
            raise ValueError(f"unknown toy dataset format {fmt!r}; expected 'vg150' and/or 'oiv6'")
    if not overwrite:
        _refuse_overwrite(root, spec.formats)
    if spec.val_count >= spec.num_train and spec.num_train > 0:
        raise ValueError(f"num_val={spec.val_count} must be smaller than num_train={spec.num_train}")
    image_dir = os.path.join(root, "images")
    os.makedirs(image_dir, exist_ok=True)
    forbidden = heldout_triplets(spec.seed)
    n = spec.num_train + spec.num_test
    tasks = [(spec.seed, k, k < spec.num_train, spec, forbidden, image_dir) for k in range(n)]
    workers = workers or min(2, os.cpu_count() or 1)
    bar = tqdm(total=n, desc="toy images", disable=not progress, unit="img")
    images: List[ToyImage] = []
    if workers > 1 and n > 1:
        ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
        with ctx.Pool(workers) as pool:
            for ann in pool.imap(_work, tasks, chunksize=16):
                images.append(ann)
                bar.update(1)
    else:
        for t in tasks:
            images.append(_work(t))
            bar.update(1)
    bar.close()

    if "vg150" in spec.formats:
        write_vg150(root, images, OBJECT_CLASSES, PREDICATES, ATTRIBUTES)
    if "oiv6" in spec.formats:
        write_oiv6(root, images, OBJECT_CLASSES, PREDICATES, spec.val_count)

    obj_idx = {c: i + 1 for i, c in enumerate(OBJECT_CLASSES)}
    pred_idx = {p: i + 1 for i, p in enumerate(PREDICATES)}
    seen = {(im.labels[s], im.labels[o], p) for im in images if im.is_train for s, o, p in im.relations}
    test = {(im.labels[s], im.labels[o], p) for im in images if not im.is_train for s, o, p in im.relations}
    zeroshot = sorted((obj_idx[s], obj_idx[o], pred_idx[p]) for s, o, p in test - seen)
    zs = np.asarray(zeroshot, dtype=np.int64).reshape(-1, 3)
    with atomic_path(os.path.join(root, ZEROSHOT_FILE)) as tmp, open(tmp, "wb") as fh:
        np.save(fh, zs)
    write_json_atomic(os.path.join(root, CAPTIONS_FILE), {str(im.image_id): im.captions for im in images})
    write_json_atomic(os.path.join(root, HIERARCHY_FILE),
                      {"objects": object_hierarchy(), "predicates": predicate_hierarchy()}, indent=1)
    write_json_atomic(os.path.join(root, FLIP_MAP_FILE), PREDICATE_FLIP_MAP)
    info = {
        "generator": "sgg.data.toy", "seed": spec.seed, "num_train": spec.num_train, "num_test": spec.num_test,
        "num_val_im": spec.val_count, "image_size": spec.image_size, "formats": list(spec.formats),
        "num_zeroshot_triplets": int(len(zs)),
    }
    write_json_atomic(os.path.join(root, INFO_FILE), info, indent=1)
    return info
