"""Distributed training on CPU: 2 gloo processes via launch(--num-gpus 2) and via torchrun."""

import os
import subprocess
import sys
import textwrap

import pytest
import torch
from torch import nn

from sgg.engine import create_ddp_model, launch
from sgg.utils import comm

pytestmark = pytest.mark.dist


def _worker(out_dir):
    torch.set_num_threads(1)
    rank = comm.get_rank()
    assert comm.get_world_size() == 2 and comm.get_local_rank() == rank and comm.get_local_size() == 2

    # 1) DDP averages gradients and keeps parameters identical (different init and data per rank)
    torch.manual_seed(rank)
    model = nn.Linear(3, 1)
    ddp = create_ddp_model(model)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x = torch.full((2, 3), float(rank + 1))
    ddp(x).sum().backward()
    grad = model.weight.grad.clone()
    opt.step()
    weights = comm.all_gather(model.weight.detach().clone())
    reduced = comm.reduce_dict({"v": torch.tensor(float(rank))})
    objs = comm.all_gather({"rank": rank})

    # 2) the full trainer with the toy components: hooks, checkpoint (gathered RNG states), evaluation
    from _engine_toys import ToyTrainer, toy_cfg

    from sgg.utils.seed import seed_all_rng

    cfg = toy_cfg(
        os.path.join(out_dir, "run"), SOLVER__MAX_ITER=4, SOLVER__CHECKPOINT_PERIOD=2, TEST__EVAL_PERIOD=0
    )
    seed_all_rng(cfg.SEED + rank)
    trainer = ToyTrainer(cfg)
    trainer.resume_or_load()
    results = trainer.train()
    final = comm.all_gather([p.detach().clone() for p in trainer.model.module.parameters()])
    if rank == 0:
        torch.save(
            {
                "grad": grad,
                "weights": weights,
                "reduced": float(reduced["v"]),
                "objs": objs,
                "results": results,
                "final": final,
            },
            os.path.join(out_dir, "result.pth"),
        )


def test_two_cpu_processes_with_launch(tmp_path):
    assert launch(_worker, num_gpus_per_machine=2, dist_url="auto", args=(str(tmp_path),)) is None
    r = torch.load(str(tmp_path / "result.pth"), weights_only=True)
    # d/dW sum(W x) over 2 rows = 2x; ranks see x = 1 and x = 2: the average is 3
    assert torch.allclose(r["grad"], torch.full((1, 3), 3.0))
    assert torch.equal(r["weights"][0], r["weights"][1])
    assert r["reduced"] == pytest.approx(0.5) and r["objs"] == [{"rank": 0}, {"rank": 1}]
    assert r["results"]["toy_val"]["toy"]["num_images"] == 16  # 8 per rank, gathered
    for a, b in zip(*r["final"]):
        assert torch.equal(a, b)
    ck = torch.load(str(tmp_path / "run" / "model_final.pth"), weights_only=True)
    assert ck["iteration"] == 3 and len(ck["trainer"]["rng_states"]) == 2 and ck["trainer"]["world_size"] == 2


_TORCHRUN_SCRIPT = """
import os, sys, torch
from sgg.engine import launch
from sgg.utils import comm

def main(out):
    got = comm.all_gather((comm.get_rank(), comm.get_world_size(), comm.get_local_rank(), os.getpid()))
    if comm.is_main_process():
        torch.save(got, os.path.join(out, "torchrun.pth"))

launch(main, num_gpus_per_machine=8, args=(sys.argv[1],))  # --num-gpus is ignored under torchrun
"""


def test_torchrun_environment_is_joined(tmp_path):
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(_TORCHRUN_SCRIPT))
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {
        **os.environ,
        "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", ""),
        "OMP_NUM_THREADS": "1",
    }
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node",
            "2",
            str(script),
            str(tmp_path),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = torch.load(str(tmp_path / "torchrun.pth"), weights_only=True)
    assert [g[:3] for g in got] == [(0, 2, 0), (1, 2, 1)] and got[0][3] != got[1][3]
