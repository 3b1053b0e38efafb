"""Command-line conventions shared by the tools: argument parser, config assembly, run set-up."""

from __future__ import annotations

import argparse
import glob
import logging
import os
import platform
import sys
from typing import Optional

import torch

from ..config import get_cfg
from ..utils import comm
from ..utils.io import atomic_write_text
from ..utils.logger import setup_logger
from ..utils.seed import seed_all_rng

__all__ = ["TASKS", "default_argument_parser", "setup_cfg", "default_setup", "existing_checkpoints"]

#: ``--task`` -> (USE_GT_BOX, USE_GT_OBJECT_LABEL)
TASKS = {"predcls": (True, True), "sgcls": (True, False), "sgdet": (False, False)}

_EPILOG = """\
Examples:

  Train on one machine (one process, or N processes with --num-gpus N):
    $ {prog} --config-file configs/toy/predcls_motifs.yaml --task predcls
    $ {prog} --config-file cfg.yaml --num-gpus 4 SOLVER.IMS_PER_BATCH 16 SOLVER.BASE_LR 0.02

  Continue an interrupted run (from OUTPUT_DIR/last_checkpoint; MODEL.WEIGHTS is then ignored):
    $ {prog} --config-file cfg.yaml --resume OUTPUT_DIR output/run1

  Evaluate (and export inference/<dataset>/scene_graphs.json):
    $ {prog} --config-file cfg.yaml --eval-only MODEL.WEIGHTS output/run1/model_final.pth TEST.EXPORT True

  Two machines with 8 GPUs each (run on both, with --machine-rank 0 and 1):
    (machine0)$ {prog} --config-file cfg.yaml --num-gpus 8 --num-machines 2 --machine-rank 0 --dist-url tcp://<ip0>:port
    (machine1)$ {prog} --config-file cfg.yaml --num-gpus 8 --num-machines 2 --machine-rank 1 --dist-url tcp://<ip0>:port

  torchrun (the launcher's RANK/WORLD_SIZE/LOCAL_RANK are used; --num-gpus is then ignored):
    $ torchrun --nproc_per_node 4 {prog} --config-file cfg.yaml

On a machine without a GPU, --num-gpus N starts N CPU processes that communicate with gloo.
Trailing KEY VALUE pairs override the config file (e.g. SOLVER.MAX_ITER 1000).
"""


def default_argument_parser(epilog: Optional[str] = None) -> argparse.ArgumentParser:
    """The detectron2 flags plus ``--task predcls|sgcls|sgdet`` and trailing ``KEY VALUE`` overrides."""
    prog = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "train_net.py"
    parser = argparse.ArgumentParser(
        epilog=epilog if epilog is not None else _EPILOG.format(prog=prog),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config-file", default="", metavar="FILE", help="YAML config file (may use _BASE_)")
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue from OUTPUT_DIR/last_checkpoint (model, optimizer, schedule, iteration, RNG); "
        "without it, training starts at iteration 0 from MODEL.WEIGHTS",
    )
    parser.add_argument(
        "--eval-only", action="store_true", help="evaluate MODEL.WEIGHTS on DATASETS.TEST, no training"
    )
    parser.add_argument(
        "--task",
        choices=sorted(TASKS),
        help="predcls: GT boxes and labels; sgcls: GT boxes; sgdet: detected boxes "
        "(sets MODEL.ROI_RELATION_HEAD.USE_GT_BOX and USE_GT_OBJECT_LABEL)",
    )
    parser.add_argument(
        "--num-gpus", type=int, default=1, help="processes per machine (CPU processes without a GPU)"
    )
    parser.add_argument("--num-machines", type=int, default=1, help="total number of machines")
    parser.add_argument(
        "--machine-rank", type=int, default=0, help="rank of this machine (0 .. num-machines-1)"
    )
    parser.add_argument(
        "--dist-url",
        default="auto",
        help="rendezvous URL of the process group, tcp://host:port; 'auto' = a free port on this machine",
    )
    parser.add_argument(
        "opts",
        default=None,
        nargs=argparse.REMAINDER,
        metavar="KEY VALUE",
        help="config overrides as KEY VALUE pairs, e.g. SOLVER.BASE_LR 0.01 OUTPUT_DIR output/run1",
    )
    return parser


def setup_cfg(args: argparse.Namespace):
    """Defaults <- ``--config-file`` <- trailing ``KEY VALUE`` <- ``--task``; returns a frozen config.

    Raises:
        ValueError: when ``--task`` contradicts an explicit ``USE_GT_BOX``/``USE_GT_OBJECT_LABEL`` override.
    """
    cfg = get_cfg()
    if getattr(args, "config_file", ""):
        cfg.merge_from_file(args.config_file)
    opts = list(getattr(args, "opts", None) or [])
    cfg.merge_from_list(opts)
    task = getattr(args, "task", None)
    if task:
        gt_box, gt_label = TASKS[task]
        rh = cfg.MODEL.ROI_RELATION_HEAD
        for key, want in (("USE_GT_BOX", gt_box), ("USE_GT_OBJECT_LABEL", gt_label)):
            full = f"MODEL.ROI_RELATION_HEAD.{key}"
            if full in opts[0::2] and getattr(rh, key) != want:
                raise ValueError(
                    f"--task {task} needs {full} {want}, but the command line sets it to {getattr(rh, key)}"
                )
        rh.USE_GT_BOX, rh.USE_GT_OBJECT_LABEL = gt_box, gt_label
    cfg.freeze()
    return cfg


def existing_checkpoints(output_dir: str) -> list:
    """Checkpoint files (``*.pth``, ``last_checkpoint``) directly inside ``output_dir``."""
    found = sorted(glob.glob(os.path.join(output_dir, "*.pth")))
    last = os.path.join(output_dir, "last_checkpoint")
    return found + ([last] if os.path.exists(last) else [])


def _environment_info() -> str:
    import torchvision

    lines = [
        f"python {platform.python_version()} on {platform.platform()}",
        f"torch {torch.__version__}, torchvision {torchvision.__version__}",
        f"CUDA available: {torch.cuda.is_available()}"
        + (
            f", {torch.cuda.device_count()} x {torch.cuda.get_device_name(0)}"
            if torch.cuda.is_available()
            else ""
        ),
        f"processes: {comm.get_world_size()}, torch threads: {torch.get_num_threads()}",
    ]
    return "\n".join(lines)


def default_setup(cfg, args: argparse.Namespace) -> None:
    """Prepare the run: output folder, ``log.txt``, environment and config logging, ``config.yaml``, seed.

    Training runs write ``OUTPUT_DIR/config.yaml`` (the full merged config, with the seed actually
    used); ``--eval-only`` runs write ``OUTPUT_DIR/inference/config.yaml`` instead, so evaluating a
    trained run does not replace its training config.

    Raises:
        FileExistsError: when training without ``--resume`` into an ``OUTPUT_DIR`` that already holds
            checkpoints (they would be overwritten).
    """
    out = cfg.OUTPUT_DIR
    rank = comm.get_rank()
    eval_only = bool(getattr(args, "eval_only", False))
    resume = bool(getattr(args, "resume", False))
    if not eval_only and not resume:
        found = existing_checkpoints(out)
        if found:
            raise FileExistsError(
                f"OUTPUT_DIR {out} already holds checkpoints of a previous run ({', '.join(map(os.path.basename, found))}). "
                f"Pass --resume to continue that run, or set a new OUTPUT_DIR (e.g. OUTPUT_DIR {out}_2) to start a fresh one."
            )
    if comm.is_main_process():
        os.makedirs(out, exist_ok=True)
    setup_logger(out, distributed_rank=rank)
    log = logging.getLogger("sgg")
    log.info("Rank %d of %d. Environment:\n%s", rank, comm.get_world_size(), _environment_info())
    log.info("Command line arguments: %s", args)
    if getattr(args, "config_file", ""):
        with open(args.config_file, encoding="utf-8") as f:
            log.info("Contents of %s:\n%s", args.config_file, f.read())

    seed = comm.broadcast_object(seed_all_rng(cfg.SEED) if rank == 0 else None)
    if rank != 0:
        seed_all_rng(seed + rank)
    was_frozen = cfg.is_frozen()
    cfg.defrost()
    cfg.SEED = int(seed)
    if was_frozen:
        cfg.freeze()

    if comm.is_main_process():
        path = (
            os.path.join(out, "inference", "config.yaml") if eval_only else os.path.join(out, "config.yaml")
        )
        atomic_write_text(path, cfg.dump())
        log.info("Full config saved to %s", path)
    log.debug("Running with full config:\n%s", cfg)
    torch.backends.cudnn.benchmark = bool(cfg.CUDNN_BENCHMARK)
