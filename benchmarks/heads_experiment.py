#!/usr/bin/env python
"""Compare relation heads (Motifs, Motifs+CoRE, CReaL, re-weighted CReaL) and the CReaL ablation.

Every run trains through ``SGGTrainer`` from the same detector weights with the same iterations,
batch and LR schedule, is evaluated on the test split with the VG-150 evaluator, and is measured
(relation-stage parameters, inference ms/image of the whole model and of the relation head).
Runs are stored under ``--out/<group>/<mode>/<head>/seed<k>/results.json``; finished runs are
skipped and interrupted ones resumed when the command is repeated. Prints the README tables
(recalls in %, mean ± sample std over seeds).

    python benchmarks/heads_experiment.py --detector-weights output/toy_detector/model_final.pth \
        --dataset-root datasets/toy --modes predcls sgcls --heads motifs core creal creal_reweighted \
        --ablation --aux --seeds 0 1 2 --iters 300 --out output/heads_experiment

``--ablation`` adds the CReaL ablation configs (``configs/toy/ablation``), ``--aux`` predcls Motifs
with each auxiliary head (``configs/toy/aux``; compared with the predcls Motifs runs, and with the
Spearman / AUROC of the hyperbolic radius against the relation errors where the config sets
``TEST.UNCERTAINTY_SCORES``).
``--tables-only`` prints the tables of the finished runs without training anything. Runs whose
full configuration is identical (the ablation's exp8_full / exp8_full_reweighted are the CReaL /
re-weighted CReaL predcls runs) are trained once. Columns: recalls in % on the test split;
"Params head" = the relation head alone, "Params stage" = relation stage without the frozen
detector (head + object/union feature extractors); ms/img = median over seeds of the mean forward time per test image of
the whole model and of the relation head (TEST.IMS_PER_BATCH images per call, first call skipped).

Cost on the idle 2-core CPU machine (toy set, 256 px, batch 8, 2 threads): about 0.55 s per
iteration and 15 s for the 193-image test split of the demo dataset, so one 300-iteration run
takes about 3 minutes (twice that or more when other jobs share the cores). Start with
``--seeds 0`` and add seeds later: finished runs are skipped, so repeating the command with
``--seeds 0 1 2`` only trains the new ones.
"""

from __future__ import annotations

import argparse
import glob
import json
import logging
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch

from sgg.engine.experiments import (
    HEAD_VARIANTS,
    ExperimentSettings,
    format_ablation_table,
    format_aux_table,
    format_results_table,
    format_uncertainty_table,
    plan_runs,
    run_config_key,
    run_experiment,
)
from sgg.utils.io import atomic_write_text

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def parse_args(argv=None) -> argparse.Namespace:
    """Command-line arguments (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--detector-weights",
        default="",
        help="detector checkpoint trained on the dataset (required to train)",
    )
    parser.add_argument("--dataset-root", default=os.path.join(ROOT, "datasets", "toy"))
    parser.add_argument(
        "--config-root",
        default=os.path.join(ROOT, "configs", "toy"),
        help="folder with {mode}_{head}.yaml and ablation/*.yaml",
    )
    parser.add_argument(
        "--modes", nargs="+", default=["predcls", "sgcls"], choices=["predcls", "sgcls", "sgdet"]
    )
    parser.add_argument("--heads", nargs="+", default=list(HEAD_VARIANTS), choices=list(HEAD_VARIANTS))
    parser.add_argument("--ablation", action="store_true", help="also run configs/<toy>/ablation/* (predcls)")
    parser.add_argument(
        "--aux",
        action="store_true",
        help="also run configs/<toy>/aux/* (predcls Motifs + each auxiliary head)",
    )
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--iters", type=int, default=300, help="training iterations of every run")
    parser.add_argument(
        "--ims-per-batch", type=int, default=None, help="SOLVER.IMS_PER_BATCH (default: config)"
    )
    parser.add_argument("--base-lr", type=float, default=None, help="SOLVER.BASE_LR (default: config)")
    parser.add_argument("--device", default="cpu", help="MODEL.DEVICE")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    parser.add_argument("--out", required=True, help="experiment folder (one sub-folder per run)")
    parser.add_argument("--tables-only", action="store_true", help="only print the tables of finished runs")
    parser.add_argument(
        "opts", nargs=argparse.REMAINDER, metavar="KEY VALUE", help="config overrides applied to every run"
    )
    return parser.parse_args(argv)


def _table_order(result: dict) -> tuple:
    """Rows in the order of a full run: group, mode, head (``HEAD_VARIANTS`` order), name, seed."""
    spec = result["settings"]["spec"]
    groups, modes, heads = ("main", "ablation", "aux"), ("predcls", "sgcls", "sgdet"), list(HEAD_VARIANTS)
    return (
        groups.index(spec["group"]) if spec["group"] in groups else len(groups),
        modes.index(spec["mode"]) if spec["mode"] in modes else len(modes),
        heads.index(spec["name"]) if spec["name"] in heads else len(heads),
        spec["name"],
        spec["seed"],
    )


def main(argv=None) -> str:
    """Run (or load) every planned run; print and return the markdown tables."""
    args = parse_args(argv)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    if args.tables_only:
        results = []
        for path in sorted(glob.glob(os.path.join(args.out, "**", "results.json"), recursive=True)):
            with open(path, encoding="utf-8") as f:
                results.append(json.load(f))
        results.sort(key=_table_order)
    else:
        if not args.detector_weights:
            raise SystemExit("--detector-weights is required (except with --tables-only)")
        specs = plan_runs(args.config_root, args.heads, args.modes, args.seeds, args.ablation, args.aux)
        settings = ExperimentSettings(
            dataset_root=args.dataset_root,
            detector_weights=args.detector_weights,
            iters=args.iters,
            ims_per_batch=args.ims_per_batch,
            base_lr=args.base_lr,
            device=args.device,
            extra_opts=tuple(args.opts or ()),
        )
        results, by_config = [], {}
        for i, spec in enumerate(specs):
            logging.getLogger("sgg").info("run %d/%d: %s", i + 1, len(specs), spec.run_dir)
            key = run_config_key(spec, settings)
            results.append(run_experiment(spec, settings, args.out, reuse=by_config.get(key)))
            by_config.setdefault(key, results[-1])
    sections = [
        ("", format_results_table(results)),
        ("CReaL ablation (predcls)", format_ablation_table(results)),
        ("Auxiliary heads on predcls Motifs", format_aux_table(results)),
        (
            "Relation scores vs errors of the top predicate (annotated test pairs)",
            format_uncertainty_table(results),
        ),
    ]
    text = (
        "\n\n".join((f"{title}\n\n{table}" if title else table) for title, table in sections if table) + "\n"
    )
    if results and not args.tables_only:
        atomic_write_text(os.path.join(args.out, "tables.md"), text)
    print(text)
    return text


if __name__ == "__main__":
    main()
