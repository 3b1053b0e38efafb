"""HDF5 predictions file: round trips, streaming, atomic writes, clear errors."""
from __future__ import annotations

import os

import h5py
import numpy as np
import pytest

from sgg.export.hdf5_io import HDF5PredictionReader, HDF5PredictionWriter, ImageInfo
from sgg.structures.scene_graph import SceneGraphPrediction, SceneGraphRecord

OBJ = ["__background__", "cup", "table", "person"]
PRED = ["__background__", "on", "near", "holding", "has"]


def _prediction(rng: np.random.Generator, n_obj: int, n_rel: int, with_scores: bool = True) -> SceneGraphPrediction:
    xy = rng.uniform(0, 100, (n_obj, 2))
    boxes = np.concatenate([xy, xy + rng.uniform(1, 50, (n_obj, 2))], 1)
    pairs = np.stack([rng.integers(0, max(n_obj, 1), n_rel), rng.integers(0, max(n_obj, 1), n_rel)], 1)
    rel = rng.dirichlet(np.ones(len(PRED)), n_rel)
    kw = {"rel_scores": rel} if with_scores else {
        "rel_labels": rng.integers(1, len(PRED), n_rel), "rel_label_scores": rng.uniform(size=n_rel)}
    return SceneGraphPrediction(
        boxes=boxes, labels=rng.integers(1, len(OBJ), n_obj), scores=rng.uniform(size=n_obj),
        rel_pair_idxs=pairs, extras={"gate": rng.uniform(size=(n_rel, 2)), "path": np.array(["a/b"] * n_rel)},
        obj_extras={"radius": rng.uniform(size=n_obj).astype(np.float32)}, **kw,
    )


def _dataset(seed: int = 0):
    rng = np.random.default_rng(seed)
    sizes = [(5, 12), (1, 0), (0, 0), (7, 40), (3, 6)]
    infos = [ImageInfo(f"images/sub dir/{i}.jpg", 100 + i, 320 + i, 240 - i) for i in range(len(sizes))]
    preds = [_prediction(rng, n, r, with_scores=(i != 4)) for i, (n, r) in enumerate(sizes)]
    return infos, preds


def _write(path, infos, preds, **kw):
    with HDF5PredictionWriter(path, object_classes=OBJ, predicate_classes=PRED, mode="sgdet",
                              dataset="toy_test", model_meta={"head": "motifs", "sha": "abc"}, **kw) as w:
        for info, pred in zip(infos, preds):
            w.add(info, pred)
    return path


def _score_bytes(path: str) -> int:
    """Bytes stored for all predicate score matrices of a file."""
    with h5py.File(path, "r") as f:
        return sum(g["rel_scores"].id.get_storage_size() for g in f["images"].values() if "rel_scores" in g)


def _assert_same(a: SceneGraphPrediction, b: SceneGraphPrediction, rtol: float = 0.0):
    for field in ("boxes", "labels", "scores", "rel_pair_idxs", "rel_labels", "rel_label_scores"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field), err_msg=field)
    assert a.labels.dtype == np.int64 and a.rel_pair_idxs.dtype == np.int64
    if b.rel_scores is None:
        assert a.rel_scores is None
    elif rtol == 0.0:
        assert a.rel_scores.dtype == np.float32
        np.testing.assert_array_equal(a.rel_scores, b.rel_scores)
    else:
        np.testing.assert_allclose(a.rel_scores, b.rel_scores, rtol=rtol, atol=1e-7)
    assert a.extras.keys() == b.extras.keys() and a.obj_extras.keys() == b.obj_extras.keys()
    for k in b.extras:
        np.testing.assert_array_equal(a.extras[k], b.extras[k])
    for k in b.obj_extras:
        np.testing.assert_array_equal(a.obj_extras[k], b.obj_extras[k])


def test_round_trip_float32_is_exact_and_streams_in_order(tmp_path):
    infos, preds = _dataset()
    path = _write(str(tmp_path / "preds.h5"), infos, preds)
    with HDF5PredictionReader(path) as reader:
        assert len(reader) == len(infos)
        assert reader.file_names() == [i.file_name for i in infos]
        assert reader.object_classes == OBJ and reader.predicate_classes == PRED
        assert reader.mode == "sgdet" and reader.dataset == "toy_test"
        assert reader.model_meta == {"head": "motifs", "sha": "abc"}
        streamed = list(reader)
        assert [info for info, _ in streamed] == infos
        for (_, got), want in zip(streamed, preds):
            _assert_same(got, want)
        info, got = reader[infos[3].file_name]
        assert info == infos[3]
        _assert_same(got, preds[3])
        assert infos[0].file_name in reader and "nope.jpg" not in reader


def test_float16_scores_are_close_and_smaller(tmp_path):
    rng = np.random.default_rng(1)
    infos = [ImageInfo(f"{i}.jpg", i, 10, 10) for i in range(3)]
    preds = [_prediction(rng, 30, 800) for _ in infos]
    p32 = _write(str(tmp_path / "a.h5"), infos, preds, compression=None)
    p16 = _write(str(tmp_path / "b.h5"), infos, preds, score_dtype="float16", compression=None)
    assert _score_bytes(p16) == _score_bytes(p32) // 2 == 3 * 800 * len(PRED) * 2
    with HDF5PredictionReader(p16) as reader:
        assert reader.score_dtype == "float16"
        for (_, got), want in zip(reader, preds):
            _assert_same(got, want, rtol=1e-3)


def test_gzip_shrinks_compressible_scores(tmp_path):
    rng = np.random.default_rng(2)
    pred = _prediction(rng, 30, 2000)
    rel = np.zeros_like(pred.rel_scores)
    rel[:, 0] = 1.0  # highly compressible
    pred = SceneGraphPrediction(boxes=pred.boxes, labels=pred.labels, scores=pred.scores,
                                rel_pair_idxs=pred.rel_pair_idxs, rel_scores=rel)
    raw = _write(str(tmp_path / "raw.h5"), [("x.jpg", 1, 5, 5)], [pred], compression=None)
    gz = _write(str(tmp_path / "gz.h5"), [("x.jpg", 1, 5, 5)], [pred])
    assert _score_bytes(raw) == 2000 * len(PRED) * 4
    assert _score_bytes(gz) < _score_bytes(raw) / 10
    with HDF5PredictionReader(gz) as reader:
        _assert_same(reader["x.jpg"][1], pred)


def test_image_info_from_record_and_mapping(tmp_path):
    rng = np.random.default_rng(3)
    rec = SceneGraphRecord(image_id=9, file_name="r.jpg", width=50, height=40, boxes=np.zeros((0, 4)),
                           labels=np.zeros(0), relations=np.zeros((0, 3)))
    preds = [_prediction(rng, 2, 1), _prediction(rng, 2, 1)]
    path = _write(str(tmp_path / "p.h5"), [rec, {"file_name": "m.jpg", "image_id": 3, "width": 7, "height": 8}],
                  preds)
    with HDF5PredictionReader(path) as reader:
        assert reader["r.jpg"][0] == ImageInfo("r.jpg", 9, 50, 40)
        assert reader["m.jpg"][0] == ImageInfo("m.jpg", 3, 7, 8)


def test_refuses_to_overwrite(tmp_path):
    infos, preds = _dataset()
    path = str(tmp_path / "preds.h5")
    with open(path, "w") as f:
        f.write("user data")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        _write(path, infos, preds)
    with open(path) as f:
        assert f.read() == "user data"
    assert os.listdir(tmp_path) == ["preds.h5"]  # no temp file left behind
    _write(path, infos, preds, overwrite=True)
    with HDF5PredictionReader(path) as reader:
        assert len(reader) == len(infos)


def test_exception_inside_the_block_leaves_no_file(tmp_path):
    infos, preds = _dataset()
    path = str(tmp_path / "preds.h5")
    with pytest.raises(RuntimeError, match="boom"):
        with HDF5PredictionWriter(path, object_classes=OBJ, predicate_classes=PRED, mode="sgdet",
                                  dataset="toy_test") as w:
            w.add(infos[0], preds[0])
            raise RuntimeError("boom")
    assert os.listdir(tmp_path) == []


def test_writer_rejects_bad_input(tmp_path):
    infos, preds = _dataset()
    with pytest.raises(ValueError, match="added twice"):
        _write(str(tmp_path / "a.h5"), [infos[0], infos[0]], preds[:2])
    rng = np.random.default_rng(4)
    wide = SceneGraphPrediction(boxes=np.zeros((2, 4)), labels=[1, 2], scores=[1, 1], rel_pair_idxs=[[0, 1]],
                                rel_scores=rng.uniform(size=(1, 7)))
    with pytest.raises(ValueError, match="7 columns, expected 5"):
        _write(str(tmp_path / "b.h5"), infos[:1], [wide])
    bad_label = SceneGraphPrediction(boxes=np.zeros((1, 4)), labels=[9], scores=[1], rel_pair_idxs=np.zeros((0, 2)),
                                     rel_scores=np.zeros((0, 5)))
    with pytest.raises(ValueError, match=r"labels must lie in 0\.\.3"):
        _write(str(tmp_path / "c.h5"), infos[:1], [bad_label])
    with pytest.raises(ValueError, match="score_dtype"):
        HDF5PredictionWriter(str(tmp_path / "d.h5"), object_classes=OBJ, predicate_classes=PRED, mode="sgdet",
                             dataset="x", score_dtype="int8")
    assert os.listdir(tmp_path) == []


def test_reader_errors_name_file_and_field(tmp_path):
    infos, preds = _dataset()
    path = _write(str(tmp_path / "p.h5"), infos, preds)
    with HDF5PredictionReader(path) as reader:
        with pytest.raises(KeyError, match=r"p\.h5: no image 'images/sub dir/9\.jpg'.*close matches"):
            reader["images/sub dir/9.jpg"]

    def tamper(fn):
        bad = str(tmp_path / "bad.h5")
        _write(bad, infos, preds, overwrite=True)
        with h5py.File(bad, "r+") as f:
            fn(f)
        return bad

    bad = tamper(lambda f: f.attrs.__setitem__("format", "something-else"))
    with pytest.raises(ValueError, match=r"bad\.h5: attribute 'format' is 'something-else'"):
        HDF5PredictionReader(bad)
    bad = tamper(lambda f: f.attrs.__setitem__("version", 2))
    with pytest.raises(ValueError, match=r"bad\.h5: attribute 'version' is 2"):
        HDF5PredictionReader(bad)
    bad = tamper(lambda f: f.attrs.__setitem__("num_predicate_classes", 9))
    with pytest.raises(ValueError, match="'predicate_classes' lists 5 classes but 'num_predicate_classes' is 9"):
        HDF5PredictionReader(bad)
    bad = tamper(lambda f: f.__delitem__("images/00000003/rel_pair_idxs"))
    with HDF5PredictionReader(bad) as reader:
        with pytest.raises(ValueError, match=r"group 'images/00000003' \(image 'images/sub dir/3\.jpg'\): "
                                             r"missing dataset 'rel_pair_idxs'"):
            list(reader)
    not_h5 = tmp_path / "text.h5"
    not_h5.write_text("hello")
    with pytest.raises(ValueError, match="not a readable HDF5 file"):
        HDF5PredictionReader(str(not_h5))
