"""Training loop: exact resume, NaN stop, metrics.json / tensorboard, evaluation, clipping."""

import glob
import json
import os

import pytest
import torch
from _engine_toys import ToyModel, ToyTrainer, make_sample, read_metrics, toy_cfg

from sgg.engine import HookBase, SimpleTrainer
from sgg.utils.events import EventStorage
from sgg.utils.seed import seed_all_rng


class LossRecorder(HookBase):
    def __init__(self, sink):
        self.sink = sink

    def after_step(self):
        h = self.trainer.storage.histories()
        self.sink.append((self.trainer.iter, h["loss_mse"].latest(), h["loss_l1"].latest()))


class StopAfter(HookBase):
    """Simulate a crash right after iteration ``last`` (after its checkpoint was written)."""

    def __init__(self, last):
        self.last = last

    def after_step(self):
        if self.trainer.iter == self.last:
            raise KeyboardInterruptLike(f"stopped after iteration {self.last}")


class KeyboardInterruptLike(RuntimeError):
    pass


def _trainer(cfg, cls=ToyTrainer, extra_hooks=()):
    seed_all_rng(cfg.SEED)
    t = cls(cfg)
    t.register_hooks(extra_hooks)
    return t


def _params(trainer):
    return [p.detach().clone() for p in trainer.model.parameters()]


@pytest.mark.parametrize("resumable", [True, False], ids=["resume_from_batch", "fast_forward"])
def test_resume_repeats_uninterrupted_run_bit_for_bit(tmp_path, resumable):
    cls = type("T", (ToyTrainer,), {"resumable": resumable})
    full = []
    t = _trainer(toy_cfg(str(tmp_path / "a")), cls, [LossRecorder(full)])
    t.resume_or_load(resume=False)
    t.train()
    assert [it for it, *_ in full] == list(range(10))

    first = []
    cfg_b = toy_cfg(str(tmp_path / "b"))
    t1 = _trainer(cfg_b, cls, [LossRecorder(first), StopAfter(4)])
    t1.resume_or_load(resume=False)
    with pytest.raises(KeyboardInterruptLike):
        t1.train()
    assert first == full[:5]
    assert os.path.exists(tmp_path / "b" / "model_0000004.pth")

    second = []
    seed_all_rng(12345)  # a different process state: everything must come from the checkpoint
    t2 = cls(cfg_b)
    t2.register_hooks([LossRecorder(second)])
    t2.resume_or_load(resume=True)
    assert t2.start_iter == 5
    t2.train()
    assert second == full[5:]  # exact float equality, term by term
    for p, q in zip(_params(t), _params(t2)):
        assert torch.equal(p, q)
    # metrics.json of the resumed run has each iteration once, in order
    its = [m["iteration"] for m in read_metrics(str(tmp_path / "b")) if "total_loss" in m]
    assert its == list(range(10))


def test_without_resume_weights_are_loaded_but_iteration_restarts(tmp_path):
    t = _trainer(toy_cfg(str(tmp_path / "a"), SOLVER__MAX_ITER=5, TEST__EVAL_PERIOD=0))
    t.resume_or_load(resume=False)
    t.train()
    final = str(tmp_path / "a" / "model_final.pth")
    t2 = _trainer(toy_cfg(str(tmp_path / "c"), MODEL__WEIGHTS=final))
    t2.resume_or_load(resume=True)  # nothing to resume in the new folder: MODEL.WEIGHTS is loaded
    assert t2.start_iter == 0
    for p, q in zip(_params(t), _params(t2)):
        assert torch.equal(p, q)


def test_nan_loss_stops_with_clear_message(tmp_path):
    cls = type("T", (ToyTrainer,), {"nan_at_call": 3})
    t = _trainer(toy_cfg(str(tmp_path)), cls)
    t.resume_or_load()
    with pytest.raises(FloatingPointError) as e:
        t.train()
    msg = str(e.value)
    assert (
        "NaN" in msg
        and "iteration 3" in msg
        and "loss_mse" in msg
        and "loss_l1" not in msg.split("values")[0]
    )
    assert "BASE_LR" in msg
    assert t.iter == 3
    # no final evaluation and no final checkpoint after the failure
    assert not os.path.exists(tmp_path / "model_final.pth")


def test_metrics_json_tensorboard_and_eval_results(tmp_path):
    t = _trainer(toy_cfg(str(tmp_path)))
    t.resume_or_load()
    results = t.train()
    assert set(results) == {"toy_val"} and results["toy_val"]["toy"]["num_images"] == 8
    rows = read_metrics(str(tmp_path))
    train_rows = [r for r in rows if "total_loss" in r]
    assert [r["iteration"] for r in train_rows] == list(range(10))
    for r in train_rows:
        assert {"loss_mse", "loss_l1", "lr", "time", "data_time"} <= set(r)
    # lr: warm-up from 0.1 * 0.05 over 2 iterations, then 0.05, x0.1 from iteration 7
    lrs = [r["lr"] for r in train_rows]
    assert lrs[0] == pytest.approx(0.005) and lrs[1] == pytest.approx(0.0275)
    assert lrs[2:7] == pytest.approx([0.05] * 5) and lrs[7:] == pytest.approx([0.005] * 3)
    # periodic evaluation after iterations 3 and 7 (period 4) and the final one at 10
    eval_its = [r["iteration"] for r in rows if "toy_val/toy/MAE" in r]
    assert eval_its == [3, 7, 10]
    assert glob.glob(str(tmp_path / "events.out.tfevents.*"))
    with open(tmp_path / "inference" / "toy_val" / "metrics.json") as f:
        assert json.load(f)["toy"]["MAE"] == pytest.approx(results["toy_val"]["toy"]["MAE"])
    # checkpoints: max 2 periodic kept + final; last_checkpoint names the final one
    assert (tmp_path / "last_checkpoint").read_text() == "model_final.pth"
    pths = sorted(os.path.basename(p) for p in glob.glob(str(tmp_path / "*.pth")))
    assert pths == ["model_0000004.pth", "model_0000009.pth", "model_final.pth"]


def test_max_keep_deletes_old_periodic_checkpoints(tmp_path):
    t = _trainer(toy_cfg(str(tmp_path), SOLVER__CHECKPOINT_PERIOD=2, SOLVER__MAX_KEEP=2, TEST__EVAL_PERIOD=0))
    t.resume_or_load()
    t.train()
    pths = sorted(os.path.basename(p) for p in glob.glob(str(tmp_path / "*.pth")))
    assert pths == ["model_0000007.pth", "model_0000009.pth", "model_final.pth"]


def test_gradient_clipping_bounds_the_update():
    torch.manual_seed(0)
    model = ToyModel()
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    before = torch.cat([p.detach().flatten().clone() for p in model.parameters()])
    loader = iter(lambda: [make_sample(i) for i in range(4)], None)
    tr = SimpleTrainer(model, loader, opt, grad_clip_norm=1e-3, amp=True)  # AMP ignored on CPU
    assert tr.grad_scaler is None
    with EventStorage() as st:
        tr.iter = 0
        tr.run_step()
        assert st.history("grad_norm").latest() > 1e-3  # the unclipped norm is logged
    after = torch.cat([p.detach().flatten() for p in model.parameters()])
    assert float((after - before).norm()) == pytest.approx(1e-3, rel=1e-3)


def test_model_must_return_losses():
    class Bad(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(1))

        def forward(self, batch):
            return {"acc": self.w.sum()}

    tr = SimpleTrainer(Bad(), iter(lambda: [0], None), torch.optim.SGD(Bad().parameters(), lr=0.1))
    with EventStorage(), pytest.raises(ValueError, match="loss"):
        tr.run_step()
