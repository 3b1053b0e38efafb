"""Mapper (resize, flip keeping left/right true, duplicate filter) and the train/test loaders."""
import numpy as np
import pytest
import torch
from PIL import Image

from sgg.config import get_cfg
from sgg.data import DatasetCatalog, MetadataCatalog
from sgg.data.build import InferenceSampler, TrainingSampler, build_test_loader, build_train_loader
from sgg.data.mapper import DatasetMapper, resized_shape
from sgg.data.toy import PREDICATES, ToyDatasetSpec, generate_toy_dataset
from sgg.structures.image_sample import ImageSample
from sgg.structures.scene_graph import SceneGraphRecord

LEFT, RIGHT, NEAR = PREDICATES.index("left of") + 1, PREDICATES.index("right of") + 1, PREDICATES.index("near") + 1
FLIP = {i: i for i in range(len(PREDICATES) + 1)}
FLIP.update({LEFT: RIGHT, RIGHT: LEFT})


def _record(tmp_path):
    img = np.zeros((40, 80, 3), np.uint8)
    img[10:20, 5:15] = (255, 0, 0)  # red square on the left
    img[10:20, 50:70] = (0, 0, 255)  # blue box on the right
    path = str(tmp_path / "im.png")
    Image.fromarray(img).save(path)
    return SceneGraphRecord(1, "im.png", 80, 40, boxes=[[5, 10, 15, 20], [50, 10, 70, 20]], labels=[1, 2],
                            relations=[[0, 1, LEFT], [1, 0, RIGHT], [0, 1, NEAR]], image_path=path)


def test_resize_rule():
    assert resized_shape(40, 80, 20, 1000) == (20, 40)
    assert resized_shape(40, 80, 30, 50) == (25, 50)  # longer side capped


def test_flip_keeps_left_right_true(tmp_path):
    rec = _record(tmp_path)
    m = DatasetMapper(True, (20,), 1000, flip_prob=1.0, flip_map=FLIP, filter_duplicate_rels=False)
    s = m(rec)
    assert isinstance(s, ImageSample) and s.flipped and s.image.shape == (3, 20, 40)
    assert s.scale == (0.5, 0.5)
    b = s.gt_boxes.numpy()
    np.testing.assert_allclose(b, [[40 - 7.5, 5, 40 - 2.5, 10], [40 - 35, 5, 40 - 25, 10]])
    rels = s.gt_relations.tolist()
    assert rels == [[0, 1, RIGHT], [1, 0, LEFT], [0, 1, NEAR]]
    # the predicate is TRUE in the flipped image: red (subject 0) is now right of blue
    cx = (b[:, 0] + b[:, 2]) / 2
    assert cx[0] > cx[1]
    red = s.image[0] > 0.8
    assert red[:, 20:].any() and not red[:, :20].any()
    # back to original pixels
    np.testing.assert_allclose(s.to_original(s.gt_boxes).numpy(), rec.boxes, atol=1e-5)


def test_flip_refused_without_flip_map():
    with pytest.raises(ValueError, match="no predicate flip map.*FLIP_PROB"):
        DatasetMapper(True, (600,), 1000, flip_prob=0.5, flip_map=None, dataset_name="vg150_train")
    DatasetMapper(False, (600,), 1000, flip_prob=0.5, flip_map=None)  # test time never flips


def test_duplicate_filter_in_train_mapper_only(tmp_path):
    rec = _record(tmp_path)
    train = DatasetMapper(True, (40,), 1000, filter_duplicate_rels=True, seed=0)
    kept = {tuple(train(rec).gt_relations[0].tolist()) for _ in range(12)}
    assert kept == {(0, 1, LEFT), (0, 1, NEAR)}  # redrawn at every call, one per pair
    assert all(len(train(rec).gt_relations) == 2 for _ in range(3))
    test = DatasetMapper(False, (40,), 1000, filter_duplicate_rels=True)
    assert test(rec).gt_relations.tolist() == rec.relations.tolist()


def test_samplers_shard_by_rank():
    a = TrainingSampler(10, seed=1, rank=0, world_size=2)
    b = TrainingSampler(10, seed=1, rank=1, world_size=2)
    ia, ib = iter(a), iter(b)
    first_a = [next(ia) for _ in range(5)]
    first_b = [next(ib) for _ in range(5)]
    assert sorted(first_a + first_b) == list(range(10))  # one epoch split between the ranks
    assert len([next(ia) for _ in range(25)]) == 25  # infinite
    assert list(InferenceSampler(5, rank=0, world_size=2)) == [0, 1, 2]
    assert list(InferenceSampler(5, rank=1, world_size=2)) == [3, 4]


def test_build_loaders_on_toy(tmp_path):
    root = str(tmp_path / "toy")
    generate_toy_dataset(root, ToyDatasetSpec(seed=0, num_train=8, num_test=3, num_val=2, image_size=64),
                         workers=1, progress=False)
    cfg = get_cfg()
    cfg.merge_from_list(["DATASETS.ROOT", root, "DATASETS.TRAIN", ("ldtoy_train",), "DATASETS.NUM_VAL_IM", 2,
                         "INPUT.MIN_SIZE_TRAIN", (48, 64), "INPUT.MAX_SIZE_TRAIN", 80, "INPUT.FLIP_PROB", 0.5,
                         "INPUT.MIN_SIZE_TEST", 64, "SOLVER.IMS_PER_BATCH", 3, "SEED", 7])
    try:
        loader = build_train_loader(cfg)
        it = iter(loader)
        for _ in range(4):  # more batches than one epoch: the sampler is infinite
            batch = next(it)
            assert len(batch) == 3 and all(isinstance(s, ImageSample) for s in batch)
            for s in batch:
                h, w = s.image_size
                assert (min(h, w) in (48, 64) or max(h, w) == 80) and max(h, w) <= 80
                assert s.image.dtype == torch.float32
        test = list(build_test_loader(cfg, "ldtoy_test"))
        n_test = len(DatasetCatalog.get("ldtoy_test"))
        assert sum(len(b) for b in test) == n_test and not any(s.flipped for b in test for s in b)
    finally:
        for s in ("train", "val", "test"):
            DatasetCatalog.remove(f"ldtoy_{s}")
            MetadataCatalog.remove(f"ldtoy_{s}")
