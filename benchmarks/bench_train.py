#!/usr/bin/env python
"""Time training and inference per image for the model a config describes; print one table.

    python benchmarks/bench_train.py --config-file configs/toy/predcls_motifs.yaml --iters 20 [KEY VALUE ...]
    python benchmarks/bench_train.py --config-file configs/toy/sgcls_motifs.yaml --modes predcls,sgcls,sgdet \
        MODEL.DETECTOR_WEIGHTS output/toy_detector/model_final.pth

With ``--modes`` every mode runs in its own child process (so each peak RSS is that mode's own)
and the table has one row per mode.

The model, loaders and optimizer come from a trainer class (default ``sgg.engine.SGGTrainer``;
``--trainer module:Class`` picks another), so any config (or a custom trainer) can be measured.
Training is timed over ``--iters`` steps after ``--warmup`` untimed ones (forward, backward,
optimizer step; data loading reported apart), inference over ``--iters`` test batches.
Peak memory is CUDA's max allocated memory on GPU, the process's peak RSS on CPU.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import resource
import subprocess
import sys
import time
from typing import Dict, List

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch  # noqa: E402

from sgg.engine import TASKS, SimpleTrainer, setup_cfg  # noqa: E402
from sgg.engine.inference import inference_context  # noqa: E402
from sgg.engine.train_loop import move_to_device  # noqa: E402
from sgg.utils.events import EventStorage  # noqa: E402
from sgg.utils.seed import seed_all_rng  # noqa: E402


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _peak_mem_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def _load_trainer(spec: str):
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name or "SGGTrainer")


def benchmark(cfg, trainer_cls, iters: int = 10, warmup: int = 2) -> Dict[str, float]:
    """Measure seconds per training image/iteration and per inference image; returns the figures."""
    seed_all_rng(cfg.SEED)
    model = trainer_cls.build_model(cfg)
    device = next(model.parameters()).device
    optimizer = trainer_cls.build_optimizer(cfg, model)
    clip = cfg.SOLVER.CLIP_GRADIENTS
    trainer = SimpleTrainer(
        model,
        trainer_cls.build_train_loader(cfg),
        optimizer,
        grad_clip_norm=clip.MAX_NORM if clip.ENABLED else None,
        amp=cfg.SOLVER.AMP.ENABLED,
    )
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    step_times: List[float] = []
    n_train_images = 0
    with EventStorage() as storage:
        for it in range(warmup + iters):
            trainer.iter = storage.iter = it
            _sync(device)
            t0 = time.perf_counter()
            trainer.run_step()
            _sync(device)
            if it >= warmup:
                step_times.append(time.perf_counter() - t0)
        data_time = sum(storage.history("data_time").values()[i][0] for i in range(warmup, warmup + iters))
    train_mem = _peak_mem_mb(device)
    n_train_images = iters * int(cfg.SOLVER.IMS_PER_BATCH)

    name = (tuple(cfg.DATASETS.TEST) or tuple(cfg.DATASETS.VAL))[0]
    loader = trainer_cls.build_test_loader(cfg, name)
    infer_time, n_images = 0.0, 0
    with inference_context(model), torch.no_grad():
        for i, batch in enumerate(loader):
            if i >= warmup + iters:
                break
            batch = move_to_device(batch, device)
            _sync(device)
            t0 = time.perf_counter()
            model(batch)
            _sync(device)
            if i >= warmup:
                infer_time += time.perf_counter() - t0
                n_images += len(batch)
    total_train = sum(step_times)
    return {
        "train_s_per_iter": total_train / max(iters, 1),
        "train_ms_per_img": 1000 * total_train / max(n_train_images, 1),
        "train_data_ms_per_img": 1000 * data_time / max(n_train_images, 1),
        "infer_ms_per_img": 1000 * infer_time / max(n_images, 1),
        "infer_images": n_images,
        "peak_mem_mb": max(train_mem, _peak_mem_mb(device)),
        "params_m": sum(p.numel() for p in model.parameters()) / 1e6,
        "trainable_params_m": sum(p.numel() for p in model.parameters() if p.requires_grad) / 1e6,
    }


def table_row(cfg, figures: Dict[str, float], device: str) -> List[tuple]:
    """(column, value) pairs of one table row."""
    rh = cfg.MODEL.ROI_RELATION_HEAD
    mode = next((t for t, v in TASKS.items() if v == (rh.USE_GT_BOX, rh.USE_GT_OBJECT_LABEL)), "?")
    return [
        ("head", rh.PREDICTOR),
        ("mode", mode),
        ("device", device),
        ("batch", cfg.SOLVER.IMS_PER_BATCH),
        ("params (M)", f"{figures['params_m']:.2f}"),
        ("trainable (M)", f"{figures['trainable_params_m']:.2f}"),
        ("train s/iter", f"{figures['train_s_per_iter']:.4f}"),
        ("train ms/img", f"{figures['train_ms_per_img']:.3g}"),
        ("data ms/img", f"{figures['train_data_ms_per_img']:.3g}"),
        ("infer ms/img", f"{figures['infer_ms_per_img']:.3g}"),
        ("peak mem (MB)", f"{figures['peak_mem_mb']:.0f}"),
    ]


def format_rows(rows: List[List[tuple]]) -> str:
    """Markdown table (header from the first row's columns)."""
    cols = [c for c, _ in rows[0]]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    lines += ["| " + " | ".join(str(v) for _, v in row) + " |" for row in rows]
    return "\n".join(lines)


def format_table(cfg, figures: Dict[str, float], device: str) -> str:
    """One markdown table row (with header) of the figures."""
    return format_rows([table_row(cfg, figures, device)])


def _device_name(cfg) -> str:
    return str(cfg.MODEL.DEVICE) + (
        f" ({torch.cuda.get_device_name()})" if torch.cuda.is_available() else f" ({torch.get_num_threads()} threads)"
    )


def _run_modes(argv: List[str], modes: List[str]) -> str:
    """Run this script once per mode in a child process (``--task mode --json``); one table."""
    rows = []
    base = list(argv)
    for mode in modes:
        if mode not in TASKS:
            raise ValueError(f"--modes: unknown mode {mode!r}; expected some of {sorted(TASKS)}")
        child = [sys.executable, os.path.abspath(__file__), "--task", mode, "--json"] + base
        done = subprocess.run(child, check=True, stdout=subprocess.PIPE, text=True)
        rows.append([tuple(c) for c in json.loads(done.stdout.strip().splitlines()[-1])["row"]])
    return format_rows(rows)


def main(argv=None) -> str:
    """Parse arguments, run :func:`benchmark` (per mode with ``--modes``), print and return the table."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config-file", default="", metavar="FILE")
    p.add_argument("--task", choices=sorted(TASKS))
    p.add_argument("--modes", default="", help="comma-separated modes, each measured in a child process")
    p.add_argument("--iters", type=int, default=10, help="timed iterations / test batches")
    p.add_argument("--warmup", type=int, default=2, help="untimed iterations first")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch default)")
    p.add_argument("--trainer", default="sgg.engine:SGGTrainer", help="trainer class as module:Class")
    p.add_argument("--json", action="store_true", help="print the row as JSON (used by --modes)")
    p.add_argument("opts", nargs=argparse.REMAINDER, metavar="KEY VALUE")
    raw = list(sys.argv[1:] if argv is None else argv)
    args = p.parse_args(raw)
    if args.modes:
        if args.task:
            p.error("--modes and --task exclude each other")
        rest, skip = [], False
        for a in raw:  # the same arguments without --modes
            if skip:
                skip = False
                continue
            if a == "--modes":
                skip = True
                continue
            if not a.startswith("--modes="):
                rest.append(a)
        table = _run_modes(rest, [m.strip() for m in args.modes.split(",") if m.strip()])
        print(table)
        return table
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = setup_cfg(args)
    trainer_cls = _load_trainer(args.trainer)
    figures = benchmark(cfg, trainer_cls, args.iters, args.warmup)
    row = table_row(cfg, figures, _device_name(cfg))
    if args.json:
        print(json.dumps({"row": row, "figures": figures}))
        return json.dumps(row)
    table = format_rows([row])
    print(table)
    return table


if __name__ == "__main__":
    main()
