"""configs/toy/aux/*.yaml: each trains 2 iterations through tools/train_net.py on a tiny toy dataset."""
import importlib.util
import json
import logging
import os

import pytest

from sgg.config import get_cfg
from sgg.data.build import register_datasets_from_config
from sgg.data.toy import ToyDatasetSpec, generate_toy_dataset

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = {
    "hyp_retrieval": ("loss_hyp_con", "loss_hyp_graph_con"),
    "hyp_hierarchy": ("loss_hier_hcl",),
    "masln": ("loss_masln_sem",),
    "cdpae": ("loss_cdpae",),
}


@pytest.fixture(scope="module")
def tiny_toy(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("auxcfg") / "toy")
    generate_toy_dataset(root, ToyDatasetSpec(seed=1, num_train=6, num_test=2, num_val=2, image_size=64,
                                              formats=("vg150",)), workers=1, progress=False)
    return root


@pytest.fixture()
def train_net():
    spec = importlib.util.spec_from_file_location("train_net_aux", os.path.join(ROOT, "tools", "train_net.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    yield mod
    log = logging.getLogger("sgg")  # setup_logger detaches "sgg" from the root logger; undo for other tests
    for h in list(log.handlers):
        log.removeHandler(h)
        h.close()
    log.propagate = True


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_aux_config_trains_two_iterations(name, tiny_toy, train_net, tmp_path):
    out = str(tmp_path / name)
    prefix = f"auxcfg{name.replace('_', '')}"
    config_file = os.path.join(ROOT, "configs", "toy", "aux", f"predcls_motifs_{name}.yaml")
    cfg = get_cfg()
    cfg.merge_from_file(config_file)
    cfg.merge_from_list(["DATASETS.ROOT", tiny_toy, "DATASETS.NUM_VAL_IM", 2])
    register_datasets_from_config(cfg, [f"{prefix}_train"])  # the trainer builds the model before its loader
    train_net.cli([
        "--config-file", config_file,
        "DATASETS.ROOT", tiny_toy, "DATASETS.NUM_VAL_IM", "2", "DATASETS.TRAIN", f"('{prefix}_train',)",
        "DATASETS.VAL", "()", "DATASETS.TEST", "()", "INPUT.MIN_SIZE_TRAIN", "(64,)", "INPUT.MAX_SIZE_TRAIN", "64",
        "SOLVER.MAX_ITER", "2", "SOLVER.IMS_PER_BATCH", "2", "SOLVER.WARMUP_ITERS", "1", "SOLVER.STEPS", "(1,)",
        "SOLVER.CHECKPOINT_PERIOD", "100", "TEST.EVAL_PERIOD", "0", "LOG_PERIOD", "1", "OUTPUT_DIR", out,
    ])
    with open(os.path.join(out, "metrics.json")) as f:
        rows = [json.loads(line) for line in f if line.strip()]
    logged = {k for row in rows for k in row}
    for loss in CONFIGS[name]:
        assert loss in logged, f"{name}: {loss} not among logged metrics {sorted(logged)}"
    assert os.path.isfile(os.path.join(out, "model_final.pth"))
