"""SceneGraphPredictor and tools/demo.py on generated images with a random-weight toy model."""

import importlib.util
import json
import logging

import numpy as np
import pytest
import torch
from demo_fixtures import ROOT, boxes_json, load_cfg, make_setup, png_size

from sgg.engine.demo import collect_images, load_user_boxes, run_demo
from sgg.engine.predictor import SceneGraphPredictor
from sgg.export.scene_graph_json import read_scene_graphs


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    torch.set_num_threads(1)
    return make_setup(tmp_path_factory.mktemp("demo"))


@pytest.fixture(scope="module")
def predictor(setup):
    return SceneGraphPredictor(load_cfg(setup.config_file, "MODEL.WEIGHTS", str(setup.weights)))


@pytest.fixture()
def demo_tool():
    spec = importlib.util.spec_from_file_location("demo_under_test", ROOT / "tools" / "demo.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    yield mod
    logging.getLogger().handlers.clear()


def _images(setup):
    return collect_images([str(setup.image_dir)])


# ----------------------------------------------------------------------------- predictor


def test_weights_are_loaded(setup, predictor):
    saved = torch.load(setup.weights, weights_only=True)["model"]
    state = predictor.model.state_dict()
    assert saved.keys() == state.keys()
    assert all(torch.equal(saved[k], state[k]) for k in saved)


def test_predictor_tasks_follow_the_inputs(setup, predictor):
    name = "photo_0.jpg"
    boxes, names = setup.annotations[name]
    path = setup.image_dir / name
    configured = predictor.model.mode

    pred = predictor(path, boxes=boxes, labels=names)  # predcls: the user's boxes and labels come back
    np.testing.assert_allclose(pred.boxes, boxes, atol=1e-3)
    assert [predictor.object_classes[i] for i in pred.labels] == names
    np.testing.assert_array_equal(pred.scores, 1.0)
    n = len(boxes)
    assert pred.num_relations == n * (n - 1)  # every ordered pair, ranked
    assert sorted(map(tuple, pred.rel_pair_idxs)) == [(i, j) for i in range(n) for j in range(n) if i != j]

    pred = predictor(path, boxes=boxes)  # sgcls: boxes kept, classes predicted with a confidence < 1
    np.testing.assert_allclose(pred.boxes, boxes, atol=1e-3)
    assert pred.labels.min() >= 1 and pred.labels.max() < len(predictor.object_classes)
    assert (pred.scores < 1).all() and (pred.scores > 0).all()

    pred = predictor(path, boxes=boxes, labels=names, task="sgcls")  # labels ignored on request
    assert (pred.scores < 1).all()

    pred = predictor(path)  # sgdet: detections, inside the original image
    w, h = 0, 0
    from PIL import Image

    with Image.open(path) as im:
        w, h = im.size
    assert 0 < pred.num_objects <= 6
    assert (pred.boxes[:, [0, 2]] <= w + 1e-3).all() and (pred.boxes[:, [1, 3]] <= h + 1e-3).all()
    assert predictor.model.mode == configured  # the configured mode is restored after every call


def test_predictor_accepts_arrays_and_names_bad_input(setup, predictor):
    from PIL import Image

    name = "photo_1.jpg"
    boxes, names = setup.annotations[name]
    with Image.open(setup.image_dir / name) as im:
        array = np.asarray(im.convert("RGB"))
    ids = [predictor.object_classes.index(n) for n in names]
    a = predictor(array, boxes=boxes, labels=ids)
    b = predictor(setup.image_dir / name, boxes=boxes, labels=names)
    np.testing.assert_allclose(a.rel_scores, b.rel_scores, rtol=1e-5, atol=1e-6)

    with pytest.raises(ValueError, match="unknown object class 'unicorn'"):
        predictor(array, boxes=boxes[:1], labels=["unicorn"])
    with pytest.raises(ValueError, match="outside 1.."):
        predictor(array, boxes=boxes[:1], labels=[len(predictor.object_classes)])
    with pytest.raises(ValueError, match=r"boxes\[0\]: box .* lies outside the image"):
        predictor(array, boxes=[[0, 0, array.shape[1] + 5, 10]])
    with pytest.raises(ValueError, match="x1 < x2"):
        predictor(array, boxes=[[10, 10, 5, 20]])
    with pytest.raises(ValueError, match="2 boxes but 1 labels"):
        predictor(array, boxes=boxes[:2], labels=names[:1])
    with pytest.raises(ValueError, match="task predcls needs"):
        predictor(array, boxes=boxes, task="predcls")
    with pytest.raises(ValueError, match="uint8"):
        predictor(array.astype(np.float32))


def test_use_mode_restores_and_validates(predictor):
    model = predictor.model
    before = model.mode
    with pytest.raises(RuntimeError):
        with model.use_mode("sgdet"):
            assert model.mode == "sgdet"
            raise RuntimeError("boom")
    assert model.mode == before
    with pytest.raises(ValueError, match="predcls"):
        with model.use_mode("detection"):
            pass


# ----------------------------------------------------------------------------- demo


def _check_outputs(out, setup, mode, predictor):
    scenes = read_scene_graphs(out / "scene_graphs.json")
    assert scenes.mode == mode and scenes.object_classes == predictor.object_classes
    assert sorted(scenes.images) == sorted(setup.annotations)
    for name, (boxes, names) in setup.annotations.items():
        info, pred = scenes.images[name]
        from PIL import Image

        with Image.open(setup.image_dir / name) as im:
            assert (info.width, info.height) == im.size
        if mode != "sgdet":
            np.testing.assert_allclose(pred.boxes, boxes, atol=1e-3)
        if mode == "predcls":
            assert [scenes.object_classes[i] for i in pred.labels] == names
        fmt, size, std = png_size(out / name.replace(".jpg", ".png"))
        # image and graph side by side, the figure sized to its content (at least the 4.5 in image panel)
        assert fmt == "PNG" and min(size) >= 450 and std > 5.0
    return scenes


def test_demo_tool_predcls_refuses_overwrite(setup, predictor, demo_tool, tmp_path):
    boxes_file = tmp_path / "boxes.json"
    boxes_file.write_text(json.dumps(boxes_json(setup, labels=True)))
    out = tmp_path / "out"
    argv = [
        "--config-file",
        str(setup.config_file),
        "--input",
        str(setup.image_dir / "*.jpg"),
        "--boxes",
        str(boxes_file),
        "--output",
        str(out),
        "MODEL.WEIGHTS",
        str(setup.weights),
    ]
    demo_tool.main(argv)
    _check_outputs(out, setup, "predcls", predictor)
    before = (out / "scene_graphs.json").read_bytes()
    # overrides right after the --input list (nargs="+") are still read as overrides
    reordered = argv[:2] + argv[4:8] + argv[2:4] + argv[8:]
    assert reordered[-4:-2] == ["--input", str(setup.image_dir / "*.jpg")]
    with pytest.raises(SystemExit, match="already exists; pass --overwrite"):
        demo_tool.main(reordered)
    assert (out / "scene_graphs.json").read_bytes() == before
    with pytest.raises(SystemExit, match="MODEL.WEIGHTS"):
        demo_tool.main(argv[:-2])


def test_run_demo_sgcls_and_sgdet(setup, predictor, tmp_path):
    images = _images(setup)
    out = tmp_path / "sgcls"
    run_demo(
        predictor,
        images,
        out,
        user_boxes=load_user_boxes(_write(tmp_path, boxes_json(setup, False))),
        progress=False,
    )
    _check_outputs(out, setup, "sgcls", predictor)
    out = tmp_path / "sgdet"
    run_demo(predictor, images, out, progress=False)
    scenes = _check_outputs(out, setup, "sgdet", predictor)
    assert all(0 < len(entry.prediction.boxes) <= 6 for entry in scenes.images.values())
    with pytest.raises(FileExistsError, match="--overwrite"):
        run_demo(predictor, images, out, progress=False)
    run_demo(predictor, images, out, progress=False, overwrite=True)


def _write(tmp_path, doc, name="boxes.json"):
    path = tmp_path / name
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return path


def test_bad_boxes_files_and_images(setup, predictor, tmp_path):
    images = _images(setup)
    good = boxes_json(setup, labels=True)

    def run(doc):
        path = _write(tmp_path, doc)
        run_demo(
            predictor,
            images,
            tmp_path / "out",
            user_boxes=load_user_boxes(path),
            boxes_path=str(path),
            progress=False,
        )

    bad = json.loads(json.dumps(good))
    bad["photo_0.jpg"][0]["label"] = "unicorn"
    with pytest.raises(
        ValueError, match=r"boxes.json: photo_0.jpg: labels\[0\]: unknown object class 'unicorn'"
    ):
        run(bad)
    bad = json.loads(json.dumps(good))
    bad["photo_1.jpg"][1]["box"] = [0, 0, 5000, 10]
    with pytest.raises(ValueError, match=r"photo_1.jpg: boxes\[1\]: box .* lies outside the image"):
        run(bad)
    with pytest.raises(
        ValueError, match=r"image\(s\) \['elsewhere.jpg'\] not found among the --input images"
    ):
        run({**good, "elsewhere.jpg": [[0, 0, 5, 5]]})
    with pytest.raises(ValueError, match=r"no entry for input image\(s\) \['photo_2.jpg'\]"):
        run({k: v for k, v in good.items() if k != "photo_2.jpg"})
    mixed = json.loads(json.dumps(good))
    mixed["photo_0.jpg"][0] = mixed["photo_0.jpg"][0]["box"]
    with pytest.raises(ValueError, match=r"photo_0.jpg.*boxes \[0\] have no label"):
        run(mixed)
    with pytest.raises(ValueError, match="box 0: expected \\[x1, y1, x2, y2\\]"):
        run({**good, "photo_0.jpg": [[1, 2, 3]]})
    with pytest.raises(ValueError, match="not valid JSON"):
        run("{not json")
    assert not (tmp_path / "out" / "scene_graphs.json").exists()  # nothing written by failed runs

    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "bad.jpg").write_bytes(b"this is not a jpeg")
    with pytest.raises(ValueError, match="bad.jpg: cannot read the image"):
        run_demo(predictor, collect_images([str(broken)]), tmp_path / "out2", progress=False)
    with pytest.raises(FileNotFoundError, match="no such file, folder or matching glob"):
        collect_images([str(tmp_path / "nothing_*.png")])
