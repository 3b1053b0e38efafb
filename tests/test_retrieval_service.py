"""Captions in the data path, graph-level training of the retrieval head, tools/retrieve.py build/query."""
import json
import os

import numpy as np
import pytest
import torch

from sgg.config import get_cfg
from sgg.data.captions import load_captions
from sgg.data.errors import DatasetFormatError
from sgg.data.oiv6 import load_oiv6
from sgg.data.toy import ToyDatasetSpec, generate_toy_dataset
from sgg.data.vg150 import load_vg150
from sgg.export.scene_graph_json import write_scene_graphs
from sgg.modeling.geometry import lorentz
from sgg.retrieval.cli import main as retrieve_main
from sgg.retrieval.index import lorentz_distance
from sgg.retrieval.service import (
    RetrievalMismatchError,
    RetrievalService,
    collect_image_embeddings,
    load_trained_model,
)
from sgg.structures.scene_graph import SceneGraphPrediction, SceneGraphRecord

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    """A tiny toy dataset (both formats), a config with the graph-level retrieval head, untrained weights."""
    base = tmp_path_factory.mktemp("retrieval")
    root = str(base / "toy")
    generate_toy_dataset(root, ToyDatasetSpec(seed=0, num_train=8, num_test=5, num_val=2, image_size=64,
                                              formats=("vg150", "oiv6")), workers=1, progress=False)
    cfg = get_cfg()
    cfg.merge_from_file(os.path.join(ROOT, "configs/toy/predcls_motifs.yaml"))
    cfg.merge_from_list([
        "DATASETS.ROOT", root, "DATASETS.NUM_VAL_IM", 2, "INPUT.MIN_SIZE_TEST", 64, "INPUT.MAX_SIZE_TEST", 64,
        "DATASETS.TRAIN", ("rtoy_train",), "DATASETS.VAL", ("rtoy_val",), "DATASETS.TEST", ("rtoy_test",),
        "MODEL.AUXILIARY.HEADS", ("hyp_retrieval",), "MODEL.AUXILIARY.HYP_RETRIEVAL.GRAPH_LEVEL", True,
        "MODEL.AUXILIARY.HYP_RETRIEVAL.EMBED_DIM", 16, "MODEL.AUXILIARY.HYP_RETRIEVAL.CURV_INIT", 0.7,
    ])
    from sgg.data.build import register_datasets_from_config
    from sgg.data.catalog import MetadataCatalog
    from sgg.modeling.build import build_model

    register_datasets_from_config(cfg, ["rtoy_train"])
    model = build_model(cfg, MetadataCatalog.get("rtoy_train"))
    weights = str(base / "weights.pth")
    torch.save({"model": model.state_dict()}, weights)
    cfg.MODEL.WEIGHTS = weights
    cfg_file = str(base / "config.yaml")
    with open(cfg_file, "w") as f:
        f.write(cfg.dump())
    cfg.freeze()
    return {"root": root, "cfg": cfg, "cfg_file": cfg_file, "base": base}


# ----------------------------------------------------------------------------- captions in the data path
def test_captions_loaded_from_captions_json(toy):
    with open(os.path.join(toy["root"], "captions.json")) as f:
        raw = json.load(f)
    vg = load_vg150(toy["root"], "train", num_val_im=2)
    assert vg and all(r.captions == tuple(raw[str(r.image_id)]) and r.captions for r in vg)
    oi = load_oiv6(toy["root"], "test")
    stems = [os.path.splitext(os.path.basename(r.file_name))[0] for r in oi]
    assert oi and all(r.captions == tuple(raw[s]) for r, s in zip(oi, stems))


def test_no_captions_file_means_empty_captions(toy, tmp_path):
    os.rename(os.path.join(toy["root"], "captions.json"), tmp_path / "c.json")
    try:
        assert all(r.captions == () for r in load_vg150(toy["root"], "test", num_val_im=2))
    finally:
        os.rename(tmp_path / "c.json", os.path.join(toy["root"], "captions.json"))


def test_bad_captions_file_names_file_and_key(tmp_path):
    path = tmp_path / "captions.json"
    path.write_text(json.dumps({"1": ["ok"], "7": "not a list"}))
    with pytest.raises(DatasetFormatError, match=r"captions.json: field '7': expected a list of sentences"):
        load_captions(str(path))
    with pytest.raises(ValueError, match="captions: expected a sequence of strings"):
        SceneGraphRecord(1, "a.jpg", 4, 4, np.zeros((0, 4)), np.zeros(0), np.zeros((0, 3)), captions="one string")


def test_meta_arch_passes_captions_to_aux_heads_in_training_only():
    from test_meta_arch import _batch, _model

    model = _model("predcls")
    seen = []
    model.aux_heads["fake"].register_forward_hook(lambda m, args, out: seen.append(args[0].captions))
    batch = _batch()
    batch[0].record.captions = ("a red circle.", "a circle.")
    model.train()(batch)
    assert seen[-1] == [["a red circle.", "a circle."], []]
    model.eval()(batch)
    assert seen[-1] is None
    batch[0].record.captions = ()
    model.train()(batch)
    assert seen[-1] is None  # no image with a caption


def test_head_adds_graph_level_losses_when_batches_carry_captions():
    from aux_fixtures import C_OBJ, C_REL, REL_DIM, make_batch, word_vectors

    from sgg.modeling.auxiliary import HypRetrievalHead
    from sgg.modeling.text import WordTokenizer

    tok = WordTokenizer.build(["red circle above blue square", "green star near red circle"])
    head = HypRetrievalHead(REL_DIM, word_vectors(C_REL), word_vectors(C_OBJ), embed_dim=8, tokenizer=tok).train()
    inputs, outputs = make_batch(num_objs=(4, 5, 3))
    assert set(head(inputs, outputs).losses) == {"loss_hyp_con", "loss_hyp_ent"}
    inputs.captions = [["red circle above blue square"], ["green star near red circle", "red circle"], []]
    losses = head(inputs, outputs).losses
    assert {"loss_hyp_graph_con", "loss_hyp_graph_ent"} <= set(losses)
    sum(losses.values()).backward()
    assert head.caption_encoder.embedding.weight.grad.abs().sum() > 0
    # one image with a caption: no contrastive pair, no graph loss
    inputs.captions = [["red circle"], [], []]
    assert "loss_hyp_graph_con" not in head(inputs, outputs).losses


def test_graph_level_vocabulary_comes_from_training_captions(toy):
    from sgg.data.catalog import DatasetCatalog, MetadataCatalog
    from sgg.modeling.auxiliary import HypRetrievalHead

    kwargs = HypRetrievalHead.from_config(toy["cfg"], MetadataCatalog.get("rtoy_train"), 32)
    words = {w for r in DatasetCatalog.get("rtoy_train") for c in r.captions for w in c.lower().replace(".", "").split()}
    assert set(kwargs["tokenizer"].words[2:]) == words


# ----------------------------------------------------------------------------- tools/retrieve.py
def _run(capsys, *argv):
    code = retrieve_main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_build_query_round_trip_matches_brute_force(toy, capsys, tmp_path):
    idx = str(tmp_path / "idx")
    code, out, err = _run(capsys, "build", "--config-file", toy["cfg_file"], "--dataset", "rtoy_test",
                          "--index-dir", idx)
    assert code == 0, err
    assert "indexed 5 images (exact_lorentz, dim 16" in out
    code, _, err = _run(capsys, "build", "--config-file", toy["cfg_file"], "--dataset", "rtoy_test",
                        "--index-dir", idx)
    assert code == 2 and "already exists" in err

    # brute force: the same model, embeddings and query point, ranked with the Lorentz distance
    from sgg.data.build import build_test_loader

    model, _ = load_trained_model(toy["cfg"])
    names, points = collect_image_embeddings(model, build_test_loader(toy["cfg"], "rtoy_test"), progress=False)
    head = model.aux_heads["hyp_retrieval"]
    c = float(head.curvature().detach())
    assert c == pytest.approx(0.7)
    with torch.no_grad():
        ids, lengths = head.tokenizer.encode_batch(["red circle above blue square"])
        q = head.embed_captions(ids, lengths).numpy()
    dist = lorentz_distance(q, points, c)[0]
    order = np.argsort(dist, kind="stable")

    code, out, err = _run(capsys, "query", "--index-dir", idx, "--text", "red qwzx circle above blue square",
                          "--k", "10", "--json")
    assert code == 0 and "qwzx" in err
    result = json.loads(out)
    assert result["unknown_words"] == ["qwzx"]
    assert [h["file_name"] for h in result["hits"]] == [names[i] for i in order]
    assert [h["distance"] for h in result["hits"]] == pytest.approx(dist[order].tolist(), rel=1e-4, abs=1e-5)

    # triplet query: the text point of (red_circle, above, blue_square)
    service = RetrievalService.load(idx)
    cls = service.object_classes
    t = head.embed_triplet_texts(torch.tensor([cls.index("red_circle")]),
                                 torch.tensor([service.predicate_classes.index("above")]),
                                 torch.tensor([cls.index("blue_square")])).detach().numpy()
    tdist = lorentz_distance(t, points, c)[0]
    code, out, _ = _run(capsys, "query", "--index-dir", idx, "--triplet", "Red Circle", "above", "blue_square", "--k", "3")
    lines = out.strip().splitlines()
    assert [ln.split()[-1] for ln in lines] == [names[i] for i in np.argsort(tdist, kind="stable")[:3]]
    assert int(lines[0].split()[0]) == 1

    # error messages
    code, _, err = _run(capsys, "query", "--index-dir", idx, "--text", "qwzx zzyq")
    assert code == 2 and "none of the words" in err and "qwzx, zzyq" in err
    code, _, err = _run(capsys, "query", "--index-dir", idx, "--triplet", "red_circle", "abvoe", "blue_square")
    assert code == 2 and "unknown predicate 'abvoe'; did you mean 'above'" in err
    code, _, err = _run(capsys, "query", "--index-dir", idx, "--triplet", "red_circel", "above", "blue_square")
    assert code == 2 and "did you mean 'red_circle'" in err
    code, _, err = _run(capsys, "query", "--index-dir", str(tmp_path), "--text", "red")
    assert code == 2 and "not a retrieval folder" in err

    # index/model mismatch: a model with another curvature, then another width
    with torch.no_grad():
        service.head.log_curv.fill_(np.log(1.3))
    with pytest.raises(RetrievalMismatchError, match="index curvature 0.7 but model curvature 1.3"):
        RetrievalService(service.index, service.head, service.file_names, cls, service.predicate_classes)
    manifest = json.loads((tmp_path / "idx" / "retrieval.json").read_text())
    manifest["dim"] = 32
    (tmp_path / "idx" / "retrieval.json").write_text(json.dumps(manifest))
    with pytest.raises(RetrievalMismatchError, match="field 'dim' is 32 but the index has 16"):
        RetrievalService.load(idx)
    code, _, err = _run(capsys, "build", "--config-file", toy["cfg_file"], "--dataset", "rtoy_test",
                        "--index-dir", str(tmp_path / "c"), "--kind", "cosine")
    assert code == 2 and "geometry 'lorentz'; use --kind exact or approx" in err


def test_scene_graph_file_indexing(toy, capsys, tmp_path):
    from sgg.data.catalog import MetadataCatalog

    meta = MetadataCatalog.get("rtoy_train")
    obj, pred = meta.object_classes, meta.predicate_classes
    images = {}
    # image a: one triplet red_circle above blue_square; image b: two triplets with different scores
    triplets = {"a.jpg": [("red_circle", "above", "blue_square", 0.9)],
                "b.jpg": [("green_star", "near", "red_circle", 0.6), ("blue_square", "on", "green_star", 0.3)]}
    for k, (name, rows) in enumerate(triplets.items()):
        labels = []
        pairs, rel_labels, rel_scores = [], [], []
        for s, p, o, score in rows:
            labels += [obj.index(s), obj.index(o)]
            pairs.append([len(labels) - 2, len(labels) - 1])
            rel_labels.append(pred.index(p))
            rel_scores.append(score)
        n = len(labels)
        prediction = SceneGraphPrediction(
            boxes=np.tile([[0, 0, 10, 10]], (n, 1)), labels=np.array(labels), scores=np.ones(n),
            rel_pair_idxs=np.array(pairs), rel_labels=np.array(rel_labels), rel_label_scores=np.array(rel_scores))
        images[name] = ({"file_name": name, "image_id": k, "width": 20, "height": 20}, prediction)
    sg_file = str(tmp_path / "sg.json")
    write_scene_graphs(sg_file, images, object_classes=obj, predicate_classes=pred, mode="predcls", dataset="x")

    idx = str(tmp_path / "sgidx")
    code, out, err = _run(capsys, "build", "--config-file", toy["cfg_file"], "--scene-graphs", sg_file,
                          "--index-dir", idx)
    assert code == 0, err
    assert "indexed 2 images" in out
    service = RetrievalService.load(idx)
    head = service.head
    with torch.no_grad():
        t = head.embed_triplet_texts(torch.tensor([obj.index("green_star"), obj.index("blue_square")]),
                                     torch.tensor([pred.index("near"), pred.index("on")]),
                                     torch.tensor([obj.index("red_circle"), obj.index("green_star")]))
        expected_b = lorentz.centroid(t, head.curvature(), torch.tensor([0.6, 0.3]))
    stored = service.index._faiss.reconstruct(1)[1:]  # (x_t, x_s) of image b
    assert np.allclose(stored, expected_b.numpy(), atol=1e-5)
    # a single-triplet image is exactly its triplet's text point: distance 0 at rank 1
    hits = service.query_triplet("red_circle", "above", "blue_square", k=2).hits
    assert hits[0][0] == "a.jpg" and hits[0][1] == pytest.approx(0.0, abs=2e-3) and hits[1][0] == "b.jpg"
    with pytest.raises(ValueError, match="trained without captions|unknown"):
        service.query_text("zzzq")

    # class names of the file must exist in the model's classes
    bad = tmp_path / "bad.json"
    write_scene_graphs(str(bad), images, object_classes=obj[:-1] + ["purple_blob"], predicate_classes=pred,
                       mode="predcls", dataset="x")
    code, _, err = _run(capsys, "build", "--config-file", toy["cfg_file"], "--scene-graphs", str(bad),
                        "--index-dir", str(tmp_path / "bad"))
    assert code == 2 and "unknown object class 'purple_blob'" in err


def test_retrieval_experiment_script_caches_and_prints_one_table(toy, capsys, tmp_path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("retrieval_experiment",
                                                  os.path.join(ROOT, "benchmarks", "retrieval_experiment.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    cache = str(tmp_path / "cache.npz")
    argv = ["--config-file", toy["cfg_file"], "--weights", toy["cfg"].MODEL.WEIGHTS, "--cache", cache,
            "--iters", "3", "--batch", "4", "--embed-dim", "8"]
    mod.main(argv)
    first = capsys.readouterr().out
    loaded = mod.load_cache(cache)
    assert len(loaded["train"]["counts"]) == 6 and len(loaded["test"]["counts"]) == 5
    assert loaded["train"]["emb"].shape == (loaded["train"]["counts"].sum(), 512)
    # every annotated pair is cached (gt > 0 rows = the records' distinct annotated pairs)
    from sgg.data.catalog import DatasetCatalog

    pairs = sum(len({(s, o) for s, o, _ in r.relations}) for r in DatasetCatalog.get("rtoy_test"))
    assert int((loaded["test"]["gt"] > 0).sum()) == pairs
    mtime = os.path.getmtime(cache)
    mod.main(argv)  # reuses the cache
    assert os.path.getmtime(cache) == mtime
    table = [ln for ln in first.splitlines() if ln.startswith("| ")]
    assert len(table) == 4 and table[0].startswith("| head | t2i R@1")
    assert [ln.split(" | ")[0] for ln in table[1:]] == ["| Lorentz + entailment", "| Lorentz, no entailment",
                                                         "| Euclidean (cosine)"]
