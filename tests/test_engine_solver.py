"""Optimizer parameter groups and LR schedules (hand-computed values)."""

import math

import pytest
import torch
from torch import nn

from sgg.config import get_cfg
from sgg.solver import build_lr_scheduler, build_optimizer, get_param_groups


def _lrs(cfg, n):
    model = nn.Linear(2, 2)
    opt = build_optimizer(cfg, model)
    sched = build_lr_scheduler(cfg, opt)
    out = []
    for _ in range(n):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


def _cfg(**kw):
    cfg = get_cfg()
    cfg.SOLVER.BASE_LR = 0.1
    cfg.SOLVER.MAX_ITER = 10
    cfg.SOLVER.WARMUP_ITERS = 4
    cfg.SOLVER.WARMUP_FACTOR = 0.2
    cfg.SOLVER.GAMMA = 0.5
    cfg.SOLVER.STEPS = (6, 8)
    for k, v in kw.items():
        setattr(cfg.SOLVER, k, v)
    return cfg


def test_warmup_multistep_values():
    lrs = _lrs(_cfg(), 10)
    # warm-up: 0.1 * (0.2 + 0.8 * t/4) for t = 0..3, then 0.1, x0.5 at 6, x0.25 at 8
    expected = [0.02, 0.04, 0.06, 0.08, 0.1, 0.1, 0.05, 0.05, 0.025, 0.025]
    assert lrs == pytest.approx(expected)


def test_warmup_cosine_values():
    lrs = _lrs(_cfg(LR_SCHEDULER_NAME="WarmupCosineLR", BASE_LR_END=0.01), 10)
    cos = lambda t: 0.01 + 0.5 * (0.1 - 0.01) * (1 + math.cos(math.pi * t / 10))  # noqa: E731
    # warm-up ends at the cosine's value at t=4 and starts at 0.2 times it
    end = cos(4)
    warm = [end * (0.2 + 0.8 * t / 4) for t in range(4)]
    assert lrs == pytest.approx(warm + [cos(t) for t in range(4, 10)])


def test_no_warmup_and_steps_beyond_max_iter_are_ignored():
    lrs = _lrs(_cfg(WARMUP_ITERS=0, STEPS=(5, 50)), 10)
    assert lrs == pytest.approx([0.1] * 5 + [0.05] * 5)


def test_unknown_names_raise():
    with pytest.raises(ValueError, match="LR_SCHEDULER_NAME"):
        _lrs(_cfg(LR_SCHEDULER_NAME="Poly"), 1)
    with pytest.raises(ValueError, match="OPTIMIZER"):
        build_optimizer(_cfg(OPTIMIZER="Lion"), nn.Linear(2, 2))


def test_scheduler_state_round_trip():
    cfg = _cfg()
    model = nn.Linear(2, 2)
    opt = build_optimizer(cfg, model)
    sched = build_lr_scheduler(cfg, opt)
    for _ in range(7):
        opt.step()
        sched.step()
    state = sched.state_dict()
    opt2 = build_optimizer(cfg, model)
    sched2 = build_lr_scheduler(cfg, opt2)
    sched2.load_state_dict(state)
    opt2.step()
    sched2.step()
    opt.step()
    sched.step()
    assert opt2.param_groups[0]["lr"] == pytest.approx(opt.param_groups[0]["lr"]) == pytest.approx(0.025)


class _Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.bn = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4, 2, bias=False)
        self.ln = nn.LayerNorm(2)
        self.frozen = nn.Linear(2, 2)
        self.frozen.requires_grad_(False)
        self.shared = self.fc  # same module twice: its weight must appear once


def test_param_groups_no_decay_on_norms_and_biases():
    net = _Net()
    groups = get_param_groups(net, weight_decay=1e-4, weight_decay_norm=0.0)
    decay, no_decay = groups
    ids = lambda ps: {id(p) for p in ps}  # noqa: E731
    assert decay["weight_decay"] == 1e-4 and no_decay["weight_decay"] == 0.0
    assert ids(decay["params"]) == ids([net.conv.weight, net.fc.weight])
    assert ids(no_decay["params"]) == ids(
        [net.conv.bias, net.bn.weight, net.bn.bias, net.ln.weight, net.ln.bias]
    )
    assert len(decay["params"]) == 2  # shared weight counted once; frozen layer left out


@pytest.mark.parametrize(
    "name,cls", [("SGD", torch.optim.SGD), ("AdamW", torch.optim.AdamW), ("Adam", torch.optim.Adam)]
)
def test_build_optimizer_types_and_groups(name, cls):
    cfg = _cfg(OPTIMIZER=name, WEIGHT_DECAY=0.01, WEIGHT_DECAY_NORM=0.0)
    opt = build_optimizer(cfg, _Net())
    assert type(opt) is cls
    assert [g["weight_decay"] for g in opt.param_groups] == [0.01, 0.0]
    assert all(g["lr"] == 0.1 for g in opt.param_groups)


def test_manifold_parameters_use_riemannian_optimizer():
    import geoopt

    ball = geoopt.PoincareBall()
    net = nn.Module()
    net.lin = nn.Linear(2, 3)
    net.emb = geoopt.ManifoldParameter(ball.expmap0(0.1 * torch.randn(5, 2)), manifold=ball)
    opt = build_optimizer(_cfg(OPTIMIZER="AdamW"), net)
    assert isinstance(opt, geoopt.optim.RiemannianAdam)
