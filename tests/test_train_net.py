"""tools/train_net.py end to end with the toy trainer: train, refuse clobbering, resume, eval-only + export."""

import importlib.util
import json
import os
import subprocess
import sys

import pytest
import torch
from _engine_toys import ToyTrainer, read_metrics

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(autouse=True)
def _restore_sgg_logger():
    """setup_logger() detaches the "sgg" logger from the root; undo that for other tests (caplog)."""
    import logging

    yield
    log = logging.getLogger("sgg")
    for h in list(log.handlers):
        log.removeHandler(h)
        h.close()
    log.propagate = True


@pytest.fixture()
def train_net(monkeypatch):
    spec = importlib.util.spec_from_file_location(
        "train_net_under_test", os.path.join(ROOT, "tools", "train_net.py")
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    monkeypatch.setattr(mod, "Trainer", ToyTrainer)
    return mod


def _args(mod, *argv):
    return mod.default_argument_parser().parse_args(list(argv))


COMMON = (
    "SEED",
    "5",
    "SOLVER.IMS_PER_BATCH",
    "4",
    "SOLVER.CHECKPOINT_PERIOD",
    "2",
    "SOLVER.WARMUP_ITERS",
    "1",
    "SOLVER.STEPS",
    "(3,)",
    "LOG_PERIOD",
    "1",
    "TEST.EVAL_PERIOD",
    "0",
)


def test_train_resume_and_eval_only_export(train_net, tmp_path):
    out = str(tmp_path / "run")
    res = train_net.cli(["--task", "sgcls", "OUTPUT_DIR", out, "SOLVER.MAX_ITER", "4", *COMMON])
    assert res["toy_val"]["toy"]["num_images"] == 8 and res["toy_test"]["toy"]["num_images"] == 8
    for name in (
        "config.yaml",
        "log.txt",
        "metrics.json",
        "model_final.pth",
        "last_checkpoint",
        "model_0000003.pth",
        os.path.join("inference", "toy_val", "metrics.json"),
        os.path.join("inference", "toy_test", "metrics.json"),
    ):
        assert os.path.exists(os.path.join(out, name)), name
    assert any(f.startswith("events.out.tfevents") for f in os.listdir(out))
    assert "USE_GT_OBJECT_LABEL: false" in open(os.path.join(out, "config.yaml")).read()
    log = open(os.path.join(out, "log.txt")).read()
    assert "eta: " in log and "iter: 3" in log and "total_loss" in log and "lr: " in log

    # a second fresh run into the same folder is refused
    with pytest.raises(FileExistsError, match="--resume"):
        train_net.cli(["OUTPUT_DIR", out, "SOLVER.MAX_ITER", "4", *COMMON])

    # --resume continues from the last checkpoint up to the new MAX_ITER
    train_net.cli(["--resume", "OUTPUT_DIR", out, "SOLVER.MAX_ITER", "6", *COMMON])
    its = [m["iteration"] for m in read_metrics(out) if "total_loss" in m]
    assert its == list(range(6))
    assert torch.load(os.path.join(out, "model_final.pth"), weights_only=True)["iteration"] == 5

    # eval-only: MODEL.WEIGHTS on DATASETS.TEST with export
    ev = str(tmp_path / "eval")
    res = train_net.cli(
        [
            "--eval-only",
            "OUTPUT_DIR",
            ev,
            "MODEL.WEIGHTS",
            os.path.join(out, "model_final.pth"),
            "TEST.EXPORT",
            "True",
        ]
    )
    assert set(res) == {"toy_test"}
    with open(os.path.join(ev, "inference", "toy_test", "scene_graphs.json")) as f:
        exported = json.load(f)
    assert exported["dataset"] == "toy_test" and len(exported["images"]) == 8
    with open(os.path.join(ev, "inference", "toy_test", "metrics.json")) as f:
        assert json.load(f)["toy"]["MAE"] == pytest.approx(res["toy_test"]["toy"]["MAE"])


def test_eval_only_needs_weights(train_net, tmp_path):
    with pytest.raises(ValueError, match="MODEL.WEIGHTS"):
        train_net.main(_args(train_net, "--eval-only", "OUTPUT_DIR", str(tmp_path)))


def test_cli_help_runs():
    proc = subprocess.run(
        [sys.executable, os.path.join(ROOT, "tools", "train_net.py"), "--help"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0 and "--num-machines" in proc.stdout and "--task" in proc.stdout
