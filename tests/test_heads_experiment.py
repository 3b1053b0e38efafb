"""benchmarks/heads_experiment.py end to end on a tiny generated toy set with a 2-iteration detector.

Checks: one results.json per (head, mode, seed) run under --out, the README tables (mean ± std over
seeds), re-weighted CReaL really trained with the reweighted CE over the TRAIN predicate counts,
finished runs are skipped, interrupted ones resumed, runs of other settings refused.
"""

import argparse
import importlib.util
import json
import os

import numpy as np
import pytest
import torch

from sgg.data.catalog import load_dataset_split
from sgg.data.toy import ToyDatasetSpec, generate_toy_dataset
from sgg.engine import SGGTrainer, default_setup, setup_cfg
from sgg.engine.experiments import (
    ExperimentSettings,
    format_ablation_table,
    format_aux_table,
    format_results_table,
    format_uncertainty_table,
    plan_runs,
    run_config_key,
    run_experiment,
)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SMALL = [
    "DATASETS.NUM_VAL_IM", "2",
    "INPUT.MIN_SIZE_TRAIN", "(96,)", "INPUT.MAX_SIZE_TRAIN", "96",
    "INPUT.MIN_SIZE_TEST", "96", "INPUT.MAX_SIZE_TEST", "96",
    "MODEL.ROI_HEADS.NUM_CLASSES", "25",
]  # fmt: skip


@pytest.fixture(autouse=True)
def _restore_sgg_logger():
    """default_setup() detaches the "sgg" logger from the root; undo that for other tests."""
    import logging

    yield
    log = logging.getLogger("sgg")
    for h in list(log.handlers):
        log.removeHandler(h)
        h.close()
    log.propagate = True


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    """A 12/4-image toy set and a detector checkpoint from 2 training iterations on it."""
    torch.set_num_threads(1)
    base = tmp_path_factory.mktemp("heads_exp")
    root = str(base / "toy")
    spec = ToyDatasetSpec(seed=3, num_train=12, num_test=4, num_val=2, image_size=96)
    generate_toy_dataset(root, spec, workers=1, progress=False)
    opts = [
        "OUTPUT_DIR", str(base / "det"), "DATASETS.ROOT", root, "SEED", "0",
        "SOLVER.MAX_ITER", "2", "SOLVER.IMS_PER_BATCH", "2",
        "SOLVER.WARMUP_ITERS", "0", "SOLVER.STEPS", "(1,)",
        "DATASETS.VAL", "()", "DATASETS.TEST", "()", *SMALL,
    ]  # fmt: skip
    args = argparse.Namespace(
        config_file=os.path.join(ROOT, "configs", "toy", "detector.yaml"),
        opts=opts, task=None, resume=False, eval_only=False,
    )  # fmt: skip
    cfg = setup_cfg(args)
    default_setup(cfg, args)
    from sgg.data.build import register_datasets_from_config
    from sgg.data.catalog import DatasetCatalog, MetadataCatalog

    for name in ("toy_train", "toy_val", "toy_test"):  # registered by another test from another root
        for catalog in (DatasetCatalog, MetadataCatalog):
            if name in catalog:
                catalog.remove(name)
    register_datasets_from_config(cfg, cfg.DATASETS.TRAIN)
    trainer = SGGTrainer(cfg)
    trainer.resume_or_load(resume=False)
    trainer.train()
    return {"root": root, "detector": str(base / "det" / "model_final.pth"), "base": base}


def _cli():
    spec = importlib.util.spec_from_file_location(
        "heads_experiment_under_test", os.path.join(ROOT, "benchmarks", "heads_experiment.py")
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _argv(toy, out, heads, seeds):
    return [
        "--detector-weights", toy["detector"], "--dataset-root", toy["root"], "--modes", "predcls",
        "--heads", *heads, "--seeds", *map(str, seeds),
        "--iters", "2", "--ims-per-batch", "2", "--out", out, *SMALL,
    ]  # fmt: skip


def _results(out, head, seed):
    with open(os.path.join(out, "main", "predcls", head, f"seed{seed}", "results.json")) as f:
        return json.load(f)


def test_harness_end_to_end(toy):
    out = str(toy["base"] / "exp")
    text = _cli().main(_argv(toy, out, ["motifs", "creal_reweighted"], [0]))
    runs = {head: _results(out, head, 0) for head in ("motifs", "creal_reweighted")}
    # both runs trained the same schedule from the same detector and evaluated the 4 test images
    for res in runs.values():
        assert res["settings"]["iters"] == 2 and res["resumed_at_iter"] == 0
        assert res["test_images"] == 4
        assert 0.0 <= res["metrics"]["mR@50"] <= res["metrics"]["mR@100"] <= 1.0
        assert res["parameters"]["head"] < res["parameters"]["trainable"] <= res["parameters"]["total"]
        assert res["inference_ms_per_image"] > res["relation_head_ms_per_image"] > 0
    assert len({r["settings"]["detector_weights_sha256"] for r in runs.values()}) == 1

    # Motifs: plain CE; re-weighted CReaL: w_c = (sum f / f_c) / mean over the TRAIN predicate counts
    assert [loss["kind"] for loss in runs["motifs"]["relation_loss"]] == ["ce"]
    assert runs["motifs"]["relation_loss"][0]["class_weight"] is None
    (loss,) = runs["creal_reweighted"]["relation_loss"]
    assert loss["kind"] == "reweighted_ce" and runs["creal_reweighted"]["head"]["LOSS"] == "reweighted_ce"
    train = load_dataset_split(toy["root"], "vg150", "train", num_val_im=2, filter_non_overlap=False)
    counts = np.bincount(np.concatenate([r.relations[:, 2] for r in train]), minlength=19)[1:].astype(float)
    counts = np.maximum(counts, 1.0)
    weights = counts.sum() / counts
    expected = np.concatenate([[1.0], weights / weights.mean()])
    np.testing.assert_allclose(loss["class_weight"], expected, rtol=1e-5)
    assert np.ptp(expected[1:]) > 0  # the toy predicates are long-tailed: the weights differ
    rows = [line for line in text.splitlines() if line.startswith("| predcls")]
    assert len(rows) == 2 and "| Motifs |" in rows[0] and "| CReaL (re-weighted CE) |" in rows[1]
    assert all(" ± " not in row and row.endswith("| 1 |") for row in rows)
    with open(os.path.join(out, "tables.md"), encoding="utf-8") as f:
        assert f.read() == text

    # a second seed: seed 0 is skipped (not retrained), the row becomes mean ± std over 2 seeds
    stamp = os.path.getmtime(os.path.join(out, "main", "predcls", "motifs", "seed0", "results.json"))
    text = _cli().main(_argv(toy, out, ["motifs"], [0, 1]))
    assert os.path.getmtime(os.path.join(out, "main", "predcls", "motifs", "seed0", "results.json")) == stamp
    (row,) = [line for line in text.splitlines() if line.startswith("| predcls")]
    assert " ± " in row and row.endswith("| 2 |")
    with open(os.path.join(out, "main", "predcls", "motifs", "seed1", "config.yaml")) as f:
        assert "SEED: 1" in f.read()
    tables = _cli().main(["--out", out, "--tables-only"])  # every finished run of the folder
    assert row in tables and "| CReaL (re-weighted CE) |" in tables

    # an interrupted run (checkpoint, no results) is resumed from its checkpoint, not retrained
    seed1 = _results(out, "motifs", 1)
    os.remove(os.path.join(out, "main", "predcls", "motifs", "seed1", "results.json"))
    settings = ExperimentSettings(
        toy["root"], toy["detector"], iters=2, ims_per_batch=2, extra_opts=tuple(SMALL)
    )
    spec = plan_runs(os.path.join(ROOT, "configs", "toy"), ["motifs"], ["predcls"], [1])[0]
    again = run_experiment(spec, settings, out)
    assert again["resumed_at_iter"] == 2
    # same numbers; NaN (e.g. F@K when R@K = mR@K = 0) compares unequal to itself, so compare the JSON text
    assert json.dumps(again["metrics"], sort_keys=True) == json.dumps(seed1["metrics"], sort_keys=True)

    # the ablation's full CReaL (re-weighted) config is the head table's run: reused, not retrained
    abl = [
        s
        for s in plan_runs(os.path.join(ROOT, "configs", "toy"), ["creal_reweighted"], ["predcls"], [0], True)
        if s.name in ("creal_reweighted", "exp8_full_reweighted", "exp1_amplitude_only")
    ]
    keys = [run_config_key(s, settings) for s in abl]
    assert keys[0] == keys[2] != keys[1]  # plan order: head run, exp1, ..., exp8_full_reweighted
    reused = run_experiment(abl[2], settings, out, reuse=runs["creal_reweighted"])
    assert reused["same_run_as"]["name"] == "creal_reweighted" and reused["label"] == "exp8_full_reweighted"
    assert reused["metrics"] == runs["creal_reweighted"]["metrics"]
    assert not os.path.exists(os.path.join(out, abl[2].run_dir, "model_final.pth"))
    assert "| exp8_full_reweighted | ✓ | ✓ | global | ✓ | ✓ | ✓ | reweighted_ce |" in format_ablation_table(
        [reused]
    )

    # other settings in the same folder are refused, nothing is overwritten
    longer = ExperimentSettings(
        toy["root"], toy["detector"], iters=3, ims_per_batch=2, extra_opts=tuple(SMALL)
    )
    with pytest.raises(FileExistsError, match="iters"):
        run_experiment(spec, longer, out)


def test_plan_runs_maps_heads_and_ablation():
    specs = plan_runs(
        os.path.join(ROOT, "configs", "toy"), ["core", "creal_reweighted"], ["predcls", "sgcls"], [0, 1], True
    )
    main = [s for s in specs if s.group == "main"]
    assert len(main) == 8
    assert {os.path.basename(s.config_file) for s in main} == {
        "predcls_core.yaml", "sgcls_core.yaml", "predcls_creal.yaml", "sgcls_creal.yaml"
    }  # fmt: skip
    rew = [s for s in main if s.name == "creal_reweighted"]
    assert all(s.overrides == ("MODEL.ROI_RELATION_HEAD.LOSS", "reweighted_ce") for s in rew)
    ablation = [s for s in specs if s.group == "ablation"]
    assert len(ablation) == 2 * len(os.listdir(os.path.join(ROOT, "configs", "toy", "ablation")))
    assert {s.mode for s in ablation} == {"predcls"}
    assert len({s.run_dir for s in specs}) == len(specs)  # no two runs share a folder
    with pytest.raises(ValueError, match="unknown head"):
        plan_runs(os.path.join(ROOT, "configs", "toy"), ["motif"], ["predcls"], [0])


def _fake(group, name, label, recalls, switches=None, loss="ce"):
    metrics = {f"{m}@{k}": v for m in ("R", "mR") for k, v in zip((20, 50, 100), recalls[m], strict=True)}
    return {
        "settings": {"spec": {"group": group, "mode": "predcls", "name": name}},
        "label": label,
        "metrics": metrics,
        "parameters": {"head": 1500, "trainable": 2_500_000, "total": 2_600_000},
        "inference_ms_per_image": 10.0,
        "relation_head_ms_per_image": 2.0,
        "head": {"LOSS": loss, **(switches or {})},
    }


def test_tables_mean_and_sample_std():
    a = _fake("main", "motifs", "Motifs", {"R": [0.1, 0.2, 0.3], "mR": [0.05, 0.1, 0.2]})
    b = _fake("main", "motifs", "Motifs", {"R": [0.2, 0.2, 0.3], "mR": [0.05, 0.1, 0.2]})
    table = format_results_table([a, b]).splitlines()
    assert table[0].startswith("| Mode | Head | R@20 | R@50 | R@100 | mR@20")
    # R@20: 10 % and 20 % -> 15.0 ± 7.1 (sample std); R@50 equal -> ± 0.0
    assert table[2].startswith("| predcls | Motifs | 15.0 ± 7.1 | 20.0 ± 0.0 | 30.0 ± 0.0 | 5.0 ± 0.0 |")
    assert "| 1.5K | 2.50M / 2.60M | 10.0 | 2.0 | 2 |" in table[2]
    sw = {"USE_AMPLITUDE": True, "USE_PHASE": False, "GATE": "global", "REG_LOSS": False,
          "AMP_TRIPLET_LOSS": True, "PHASE_TRIPLET_LOSS": False}  # fmt: skip
    abl = format_ablation_table([_fake("ablation", "exp1", "exp1", {"R": [0.1] * 3, "mR": [0.2] * 3}, sw)])
    assert (
        abl.splitlines()[2]
        == "| exp1 | ✓ | - | global | - | ✓ | - | ce | 10.0 | 10.0 | 10.0 | 20.0 | 20.0 | 20.0 | 1 |"
    )
    assert format_ablation_table([a]) == ""


def test_plan_runs_aux_group_runs_every_aux_config_in_predcls():
    root = os.path.join(ROOT, "configs", "toy")
    specs = plan_runs(root, ["motifs"], ["predcls"], [0, 2], aux=True)
    aux = [s for s in specs if s.group == "aux"]
    names = sorted(os.path.splitext(f)[0] for f in os.listdir(os.path.join(root, "aux")))
    assert sorted({s.name for s in aux}) == names and len(aux) == 2 * len(names)
    assert {s.mode for s in aux} == {"predcls"} and {s.seed for s in aux} == {0, 2}
    assert not [s for s in specs if s.group == "ablation"]


def test_aux_table_deltas_against_predcls_motifs():
    base = [
        _fake("main", "motifs", "Motifs", {"R": [0.2, 0.3, 0.3], "mR": [0.1, 0.1, 0.1]}) for _ in range(2)
    ]
    aux = _fake("aux", "predcls_motifs_hyp_hierarchy", "x", {"R": [0.2, 0.25, 0.3], "mR": [0.1, 0.12, 0.1]})
    aux["head"]["AUXILIARY"] = ["hyp_hierarchy"]
    for r, seconds in zip((*base, aux), (0.4, 3.0, 0.5)):
        r["seconds_per_iter"] = seconds
    lines = format_aux_table([*base, aux]).splitlines()
    assert lines[2].startswith("| none (Motifs) | 20.0 ± 0.0 | 30.0 ± 0.0 |") and "| - | - |" in lines[2]
    assert lines[2].endswith("| 1.70 | 2 |")  # s/iter: median over seeds
    # R@50 25 vs 30 -> -5.0; mR@50 12 vs 10 -> +2.0
    assert lines[3] == "| hyp_hierarchy | 20.0 | 25.0 | 30.0 | 10.0 | 12.0 | 10.0 | -5.0 | +2.0 | 0.50 | 1 |"
    assert format_aux_table(base) == ""


def test_uncertainty_table_rows_per_score():
    res = _fake("aux", "predcls_motifs_hyp_hierarchy", "x", {"R": [0.1] * 3, "mR": [0.1] * 3})
    res["uncertainty"] = {
        "pairs": 10.0,
        "error_rate": 40.0,
        "hier_radius/spearman": -0.5,
        "hier_radius/auroc": 0.25,
        "hier_radius/error_low_q": 60.0,
        "hier_radius/error_high_q": 20.0,
        "predicate_confidence/spearman": -0.7,
        "predicate_confidence/auroc": 0.1,
        "predicate_confidence/error_low_q": 80.0,
        "predicate_confidence/error_high_q": 0.0,
    }
    lines = format_uncertainty_table([res]).splitlines()
    assert len(lines) == 4
    assert (
        lines[2]
        == "| predcls predcls_motifs_hyp_hierarchy | hier_radius | -0.500 | 0.250 | 60.0 | 20.0 | 10 | 40.0 | 1 |"
    )
    assert lines[3].split(" | ")[1] == "predicate_confidence"
    assert format_uncertainty_table([_fake("main", "motifs", "M", {"R": [0.1] * 3, "mR": [0.1] * 3})]) == ""


def test_aux_run_reports_radius_against_errors(toy):
    """A predcls Motifs + hyperbolic hierarchy run: metrics, aux head recorded, radius statistics."""
    settings = ExperimentSettings(
        toy["root"], toy["detector"], iters=2, ims_per_batch=2, extra_opts=tuple(SMALL)
    )
    (spec,) = [
        s
        for s in plan_runs(os.path.join(ROOT, "configs", "toy"), [], ["predcls"], [0], aux=True)
        if s.name == "predcls_motifs_hyp_hierarchy"
    ]
    res = run_experiment(spec, settings, str(toy["base"] / "aux_exp"))
    assert res["head"]["AUXILIARY"] == ["hyp_hierarchy"]
    assert 0.0 <= res["metrics"]["R@50"] <= 1.0
    unc = res["uncertainty"]
    assert unc["pairs"] > 0 and 0.0 <= unc["error_rate"] <= 100.0
    assert {"hier_radius/spearman", "hier_radius/auroc", "predicate_confidence/auroc"} <= set(unc)
    auroc = unc["hier_radius/auroc"]
    assert np.isnan(auroc) or 0.0 <= auroc <= 1.0
    run_dir = toy["base"] / "aux_exp" / spec.run_dir / "inference" / "toy_test"
    assert json.loads((run_dir / "uncertainty.json").read_text())["uncertainty"]["pairs"] == unc["pairs"]
    # the VG evaluator still writes its own metrics.json next to it (not replaced by the merged dict)
    assert "per_predicate" in json.loads((run_dir / "metrics.json").read_text())
    (row, *_) = [line for line in format_uncertainty_table([res]).splitlines() if "hier_radius" in line]
    assert row.startswith("| predcls predcls_motifs_hyp_hierarchy | hier_radius |")
