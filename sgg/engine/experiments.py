"""Relation-head comparison experiments: plan, train, evaluate, measure and tabulate runs.

One run = one (head variant or ablation config, mode, seed), trained through :class:`SGGTrainer`
with the same detector weights, iterations, batch and learning-rate schedule as every other run,
then evaluated on ``DATASETS.TEST`` with the dataset's evaluator. Each run lives in its own folder
``<out>/<group>/<mode>/<name>/seed<k>/`` and ends with an atomically written ``results.json``;
a run whose ``results.json`` exists (with the same settings) is skipped, a run with checkpoints but
no results is resumed, and a folder produced with other settings is refused (never overwritten).

    specs = plan_runs("configs/toy", heads=["motifs", "creal"], modes=["predcls"], seeds=[0, 1])
    settings = ExperimentSettings(dataset_root="datasets/toy", detector_weights="det.pth", iters=300)
    results = [run_experiment(spec, settings, "output/heads") for spec in specs]
    print(format_results_table(results))

``benchmarks/heads_experiment.py`` is the command-line front end.
"""

from __future__ import annotations

import argparse
import dataclasses
import glob
import hashlib
import json
import logging
import os
import statistics
import time
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Self

import torch
from torch import nn

from ..utils.io import atomic_write_text, jsonable
from .checkpoint import unwrap_model
from .defaults import TASKS, default_setup, existing_checkpoints, setup_cfg
from .trainer import SGGTrainer

__all__ = [
    "HEAD_VARIANTS",
    "ExperimentSettings",
    "ForwardTimer",
    "HeadVariant",
    "RunSpec",
    "format_ablation_table",
    "format_aux_table",
    "format_results_table",
    "format_uncertainty_table",
    "plan_runs",
    "relation_losses",
    "relation_stage_parameters",
    "run_config_key",
    "run_experiment",
    "schedule_overrides",
]

logger = logging.getLogger(__name__)

RESULTS_FILE = "results.json"
SETTINGS_FILE = "run_settings.json"


@dataclass(frozen=True)
class HeadVariant:
    """A row of the comparison table: config stem ``{mode}_{config}.yaml`` plus extra overrides."""

    label: str
    config: str
    overrides: tuple[str, ...] = ()


#: ``--heads`` keys; re-weighted CReaL = CReaL with the reweighted CE over training predicate counts.
HEAD_VARIANTS: OrderedDict[str, HeadVariant] = OrderedDict(
    motifs=HeadVariant("Motifs", "motifs"),
    core=HeadVariant("Motifs+CoRE", "core"),
    creal=HeadVariant("CReaL", "creal"),
    creal_reweighted=HeadVariant(
        "CReaL (re-weighted CE)", "creal", ("MODEL.ROI_RELATION_HEAD.LOSS", "reweighted_ce")
    ),
)

#: CReaL switches shown in the ablation table (config key under MODEL.ROI_RELATION_HEAD.CREAL, header)
ABLATION_SWITCHES = (
    ("USE_AMPLITUDE", "amp"),
    ("USE_PHASE", "phase"),
    ("GATE", "gate"),
    ("REG_LOSS", "L_reg"),
    ("AMP_TRIPLET_LOSS", "L_amp-tri"),
    ("PHASE_TRIPLET_LOSS", "L_phase-tri"),
)


@dataclass(frozen=True)
class RunSpec:
    """One training + evaluation run.

    Attributes:
        group: ``"main"`` (head comparison) or ``"ablation"``.
        name: head key (``motifs``...) or ablation config stem (``exp1_amplitude_only``...).
        label: row label in the tables.
        mode: predcls | sgcls | sgdet.
        seed: ``SEED`` of the run.
        config_file: YAML config of the run.
        overrides: extra ``KEY VALUE`` pairs specific to this run.
    """

    group: str
    name: str
    label: str
    mode: str
    seed: int
    config_file: str
    overrides: tuple[str, ...] = ()

    @property
    def run_dir(self) -> str:
        """Folder of the run relative to the experiment's output folder."""
        return os.path.join(self.group, self.mode, self.name, f"seed{self.seed}")


@dataclass
class ExperimentSettings:
    """What every run shares (the comparison is only fair if these are identical).

    Attributes:
        dataset_root: ``DATASETS.ROOT`` (VG-150 layout, e.g. the toy dataset).
        detector_weights: detector checkpoint (``MODEL.DETECTOR_WEIGHTS``), the same for every run.
        iters: training iterations (``SOLVER.MAX_ITER``); the LR drops 10x at 80 %.
        ims_per_batch: ``SOLVER.IMS_PER_BATCH`` (None = the config's).
        base_lr: ``SOLVER.BASE_LR`` (None = the config's).
        device: ``MODEL.DEVICE``.
        extra_opts: further ``KEY VALUE`` overrides applied to every run.
    """

    dataset_root: str
    detector_weights: str
    iters: int
    ims_per_batch: int | None = None
    base_lr: float | None = None
    device: str = "cpu"
    extra_opts: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if self.iters < 1:
            raise ValueError(f"iters must be >= 1, got {self.iters}")
        if len(self.extra_opts) % 2:
            raise ValueError(f"extra_opts must be KEY VALUE pairs, got an odd count: {list(self.extra_opts)}")
        if not os.path.isfile(self.detector_weights):
            raise FileNotFoundError(f"detector weights file not found: {self.detector_weights}")
        if not os.path.isdir(self.dataset_root):
            raise FileNotFoundError(f"dataset root folder not found: {self.dataset_root}")


#: Extra run groups: ``config_root/<group>/*.yaml``, each trained in predcls like the head runs.
EXTRA_GROUPS = ("ablation", "aux")


def plan_runs(
    config_root: str,
    heads: Sequence[str] = tuple(HEAD_VARIANTS),
    modes: Sequence[str] = ("predcls", "sgcls"),
    seeds: Sequence[int] = (0,),
    ablation: bool = False,
    aux: bool = False,
) -> list[RunSpec]:
    """Every run of the experiment: heads x modes x seeds, then the predcls extra groups x seeds.

    ``config_root`` holds ``{mode}_{head}.yaml``, ``ablation/*.yaml`` (CReaL ablation) and
    ``aux/*.yaml`` (Motifs with each auxiliary head), e.g. ``configs/toy``.
    """
    specs: list[RunSpec] = []
    for key in heads:
        if key not in HEAD_VARIANTS:
            raise ValueError(f"unknown head {key!r}; expected one of {list(HEAD_VARIANTS)}")
    for mode in modes:
        if mode not in TASKS:
            raise ValueError(f"unknown mode {mode!r}; expected one of {sorted(TASKS)}")
    for mode in modes:
        for key in heads:
            variant = HEAD_VARIANTS[key]
            path = os.path.join(config_root, f"{mode}_{variant.config}.yaml")
            if not os.path.isfile(path):
                raise FileNotFoundError(f"config of head {key!r} in {mode} not found: {path}")
            for seed in seeds:
                specs.append(RunSpec("main", key, variant.label, mode, int(seed), path, variant.overrides))
    for group, wanted in zip(EXTRA_GROUPS, (ablation, aux)):
        if not wanted:
            continue
        files = sorted(glob.glob(os.path.join(config_root, group, "*.yaml")))
        if not files:
            raise FileNotFoundError(f"no {group} configs in {os.path.join(config_root, group)}")
        for path in files:
            stem = os.path.splitext(os.path.basename(path))[0]
            for seed in seeds:
                specs.append(RunSpec(group, stem, stem, "predcls", int(seed), path))
    return specs


def schedule_overrides(iters: int) -> list[str]:
    """The shared schedule: ``iters`` iterations, warm-up ``min(100, iters // 10)``, LR x0.1 at 80 %.

    Also: one checkpoint at the end, no validation pass during training (the test split is
    evaluated once afterwards).
    """
    step = max(1, round(0.8 * iters))
    return [
        "SOLVER.MAX_ITER", str(iters),
        "SOLVER.STEPS", f"({step},)",
        "SOLVER.WARMUP_ITERS", str(min(100, iters // 10)),
        "SOLVER.CHECKPOINT_PERIOD", str(iters),
        "TEST.EVAL_PERIOD", "0",
        "DATASETS.VAL", "()",
    ]  # fmt: skip


def relation_stage_parameters(model: nn.Module) -> dict[str, int]:
    """Parameter counts of the relation stage (everything but ``model.detector``).

    Returns ``{"trainable": n, "total": n, "head": n}``; ``head`` counts ``model.relation_head``
    alone (the part that differs between heads; the feature extractors are shared).
    """
    trainable = total = 0
    for name, param in model.named_parameters():
        if name.startswith("detector."):
            continue
        total += param.numel()
        if param.requires_grad:
            trainable += param.numel()
    head = sum(p.numel() for p in model.relation_head.parameters())
    return {"trainable": trainable, "total": total, "head": head}


def relation_losses(model: nn.Module) -> list[dict[str, Any]]:
    """The relation classification losses of the relation head: kind and class weights (or None)."""
    from ..modeling.heads.losses import RelationLoss

    found = []
    for name, module in model.relation_head.named_modules():
        if isinstance(module, RelationLoss):
            weight = module.class_weight
            found.append(
                {
                    "module": name,
                    "kind": module.kind,
                    "class_weight": None if weight is None else weight.tolist(),
                }
            )
    return found


def _check_reweighted(cfg, model: nn.Module, metadata) -> list[dict[str, Any]]:
    """Verify that ``LOSS reweighted_ce`` reached the head with weights of the TRAIN predicate counts."""
    from ..modeling.heads.losses import predicate_class_weights

    losses = relation_losses(model)
    rh = cfg.MODEL.ROI_RELATION_HEAD
    if rh.LOSS == "ce":
        return losses
    stats = getattr(metadata, "statistics", None)
    if stats is None:
        raise ValueError(
            f"LOSS {rh.LOSS} needs the training statistics of {metadata.name}, which are missing"
        )
    expected = predicate_class_weights(
        torch.as_tensor(stats.pred_counts), rh.LOSS, rh.REWEIGHT_POWER, rh.CLASS_BALANCED_BETA
    )
    matching = [
        item
        for item in losses
        if item["kind"] == rh.LOSS
        and item["class_weight"] is not None
        and torch.allclose(torch.tensor(item["class_weight"]), expected.float(), rtol=1e-5)
    ]
    if not matching:
        raise RuntimeError(
            f"MODEL.ROI_RELATION_HEAD.LOSS={rh.LOSS} but no relation loss of the head uses it with the "
            f"training predicate counts of {metadata.name}: {[(i['module'], i['kind']) for i in losses]}"
        )
    return losses


class ForwardTimer:
    """Wall time of the forward passes of some modules (forward pre/post hooks), per call.

    Use as a context manager; ``ms_per_image(name)`` = total time / images, skipping the first
    (warm-up) call when there are more.
    """

    def __init__(self, modules: dict[str, nn.Module]) -> None:
        self.modules = modules
        self.calls: dict[str, list[tuple[float, int]]] = {name: [] for name in modules}
        self._handles: list = []
        self._start: dict[str, float] = {}

    @staticmethod
    def _sync() -> None:
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            torch.cuda.synchronize()

    def __enter__(self) -> Self:
        for name, module in self.modules.items():

            def pre(mod, args, name=name):
                self._sync()
                self._start[name] = time.perf_counter()

            def post(mod, args, output, name=name):
                self._sync()
                images = len(args[0]) if args and isinstance(args[0], (list, tuple)) else 1
                if hasattr(args[0], "image_sizes"):
                    images = len(args[0].image_sizes)
                self.calls[name].append((time.perf_counter() - self._start[name], images))

            self._handles += [module.register_forward_pre_hook(pre), module.register_forward_hook(post)]
        return self

    def __exit__(self, *exc) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def ms_per_image(self, name: str) -> float | None:
        """Mean milliseconds per image of ``name`` (None when it never ran)."""
        calls = self.calls[name][1:] if len(self.calls[name]) > 1 else self.calls[name]
        images = sum(n for _, n in calls)
        return 1e3 * sum(t for t, _ in calls) / images if images else None


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _run_settings(spec: RunSpec, settings: ExperimentSettings, detector_sha: str) -> dict[str, Any]:
    return {
        "spec": dataclasses.asdict(spec),
        "dataset_root": os.path.abspath(settings.dataset_root),
        "detector_weights_sha256": detector_sha,
        "iters": settings.iters,
        "ims_per_batch": settings.ims_per_batch,
        "base_lr": settings.base_lr,
        "extra_opts": list(settings.extra_opts),
    }


def _read_json(path: str) -> dict[str, Any]:
    with open(path, encoding="utf-8") as f:
        try:
            return json.load(f)
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}: not valid JSON ({err}); delete it to redo the run") from None


def _ensure_registered(cfg, dataset_root: str) -> None:
    """Register the config's datasets from ``dataset_root`` (replacing same-named ones of another root)."""
    from ..data.build import register_datasets_from_config
    from ..data.catalog import DatasetCatalog, MetadataCatalog

    root = os.path.abspath(dataset_root)
    for name in (*cfg.DATASETS.TRAIN, *cfg.DATASETS.TEST):
        if name in MetadataCatalog and os.path.abspath(MetadataCatalog.get(name).root) != root:
            MetadataCatalog.remove(name)
            if name in DatasetCatalog:
                DatasetCatalog.remove(name)
    register_datasets_from_config(cfg, (*cfg.DATASETS.TRAIN, *cfg.DATASETS.TEST))


def _config_args(spec: RunSpec, settings: ExperimentSettings, run_dir: str) -> argparse.Namespace:
    """The ``tools/train_net.py``-style arguments of a run (config file, overrides, ``--task``)."""
    opts = [
        "OUTPUT_DIR", run_dir,
        "SEED", str(spec.seed),
        "DATASETS.ROOT", settings.dataset_root,
        "MODEL.DETECTOR_WEIGHTS", settings.detector_weights,
        "MODEL.DEVICE", settings.device,
        *schedule_overrides(settings.iters),
    ]  # fmt: skip
    if settings.ims_per_batch is not None:
        opts += ["SOLVER.IMS_PER_BATCH", str(settings.ims_per_batch)]
    if settings.base_lr is not None:
        opts += ["SOLVER.BASE_LR", repr(float(settings.base_lr))]
    opts += [*spec.overrides, *settings.extra_opts]
    return argparse.Namespace(
        config_file=spec.config_file, opts=opts, task=spec.mode, resume=True, eval_only=False
    )


def run_config_key(spec: RunSpec, settings: ExperimentSettings) -> str:
    """The run's full merged config (output folder left out): equal keys = the same training run.

    The ablation's full-CReaL configs equal the head table's CReaL runs; the harness trains such
    a configuration once and reuses its results (``run_experiment(..., reuse=...)``).
    """
    return setup_cfg(_config_args(spec, settings, "")).dump()


def run_experiment(
    spec: RunSpec, settings: ExperimentSettings, out_dir: str, reuse: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Train and evaluate one run (or load its finished results); returns the results dict.

    ``reuse``: the results of a finished run with the same :func:`run_config_key`; they are
    recorded for this run (with ``same_run_as``) instead of training the configuration again.

    Raises:
        FileExistsError: when the run folder holds a run made with other settings.
    """
    run_dir = os.path.join(out_dir, spec.run_dir)
    results_path = os.path.join(run_dir, RESULTS_FILE)
    detector_sha = _sha256(settings.detector_weights)
    wanted = _run_settings(spec, settings, detector_sha)
    for path in (results_path, os.path.join(run_dir, SETTINGS_FILE)):
        if os.path.exists(path):
            found = _read_json(path)
            found = found.get("settings", found)
            if found != jsonable(wanted):
                diff = sorted(k for k in set(found) | set(wanted) if found.get(k) != jsonable(wanted).get(k))
                raise FileExistsError(
                    f"{path} was produced with other settings (differs in {diff}); "
                    f"use another --out folder instead of {out_dir}"
                )
            if path == results_path:
                logger.info("%s: finished earlier, loading %s", spec.run_dir, results_path)
                return _read_json(results_path)
    if existing_checkpoints(run_dir) and not os.path.exists(os.path.join(run_dir, SETTINGS_FILE)):
        raise FileExistsError(f"{run_dir} holds checkpoints of an unknown run; use another --out folder")
    if reuse is not None:
        results = {**reuse, "settings": wanted, "label": spec.label}
        results["same_run_as"] = reuse.get("same_run_as") or reuse["settings"]["spec"]
        atomic_write_text(results_path, json.dumps(jsonable(results), indent=2))
        logger.info("%s: same configuration as %s, results reused", spec.run_dir, results["same_run_as"])
        return jsonable(results)
    atomic_write_text(os.path.join(run_dir, SETTINGS_FILE), json.dumps(jsonable(wanted), indent=2))
    args = _config_args(spec, settings, run_dir)
    cfg = setup_cfg(args)
    default_setup(cfg, args)
    _ensure_registered(cfg, settings.dataset_root)

    trainer = SGGTrainer(cfg)
    trainer.resume_or_load(resume=True)
    start_iter = trainer.start_iter
    t0 = time.perf_counter()
    trainer.train()
    train_seconds = time.perf_counter() - t0
    model = unwrap_model(trainer.model)

    from ..data.catalog import MetadataCatalog

    losses = _check_reweighted(cfg, model, MetadataCatalog.get(cfg.DATASETS.TRAIN[0]))
    with ForwardTimer({"model": model, "relation_head": model.relation_head}) as timer:
        test = SGGTrainer.test(cfg, model, export=False)
    test_name = cfg.DATASETS.TEST[0]
    metrics = test[test_name][spec.mode]
    rh = cfg.MODEL.ROI_RELATION_HEAD
    results = {
        "settings": wanted,
        "label": spec.label,
        "metrics": dict(metrics),
        "uncertainty": test[test_name].get("uncertainty"),
        "test_dataset": test_name,
        "test_images": test[test_name]["images_in_average"]["total"],
        "parameters": relation_stage_parameters(model),
        "inference_ms_per_image": timer.ms_per_image("model"),
        "relation_head_ms_per_image": timer.ms_per_image("relation_head"),
        "train_seconds": train_seconds,
        "seconds_per_iter": train_seconds / max(1, settings.iters - start_iter),
        "resumed_at_iter": start_iter,
        "threads": torch.get_num_threads(),
        "relation_loss": losses,
        "head": {
            "PREDICTOR": rh.PREDICTOR,
            "LOSS": rh.LOSS,
            "AUXILIARY": list(cfg.MODEL.AUXILIARY.HEADS),
            **({k: getattr(rh.CREAL, k) for k, _ in ABLATION_SWITCHES} if rh.PREDICTOR == "CReaL" else {}),
        },
    }
    atomic_write_text(results_path, json.dumps(jsonable(results), indent=2))
    logger.info("%s: results written to %s", spec.run_dir, results_path)
    return results


# ---------------------------------------------------------------------------- tables
def _mean_std(values: Sequence[float], scale: float = 1.0, digits: int = 1) -> str:
    values = [v * scale for v in values if v is not None]
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{statistics.mean(values):.{digits}f} ± {statistics.stdev(values):.{digits}f}"


def _median(values: Sequence[float | None], digits: int = 1) -> str:
    """Median over seeds (timings: robust to a run slowed down by other jobs)."""
    values = [v for v in values if v is not None]
    return f"{statistics.median(values):.{digits}f}" if values else "-"


def _grouped(results: Iterable[dict[str, Any]], group: str) -> OrderedDict[tuple[str, str], list[dict]]:
    rows: OrderedDict[tuple[str, str], list[dict]] = OrderedDict()
    for res in results:
        spec = res["settings"]["spec"]
        if spec["group"] == group:
            rows.setdefault((spec["mode"], spec["name"]), []).append(res)
    return rows


def _count(n: float) -> str:
    return f"{n / 1e6:.2f}M" if n >= 1e6 else f"{n / 1e3:.1f}K"


def _metric_cells(runs: list[dict], ks: Sequence[int]) -> list[str]:
    return [_mean_std([r["metrics"].get(f"{m}@{k}") for r in runs], 100.0) for m in ("R", "mR") for k in ks]


def format_results_table(results: Iterable[dict[str, Any]], ks: Sequence[int] = (20, 50, 100)) -> str:
    """Markdown table of the head comparison (recalls in %, mean ± sample std over seeds; timings: median)."""
    rows = _grouped(results, "main")
    if not rows:
        return ""
    head = ["Mode", "Head", *[f"R@{k}" for k in ks], *[f"mR@{k}" for k in ks]]
    head += ["Params head", "Params stage (trainable / total)", "ms/img (model, median)", "ms/img (head, median)", "seeds"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for (mode, _), runs in rows.items():
        params = runs[0]["parameters"]
        cells = [mode, runs[0]["label"], *_metric_cells(runs, ks)]
        cells += [
            _count(params["head"]) if "head" in params else "-",
            f"{_count(params['trainable'])} / {_count(params['total'])}",
            _median([r["inference_ms_per_image"] for r in runs]),
            _median([r["relation_head_ms_per_image"] for r in runs]),
            str(len(runs)),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def format_ablation_table(results: Iterable[dict[str, Any]], ks: Sequence[int] = (20, 50, 100)) -> str:
    """Markdown table of the CReaL ablation (switches, loss, recalls in %, mean ± std over seeds)."""
    rows = _grouped(results, "ablation")
    if not rows:
        return ""
    head = [
        "Exp",
        *[h for _, h in ABLATION_SWITCHES],
        "L_cls",
        *[f"R@{k}" for k in ks],
        *[f"mR@{k}" for k in ks],
    ]
    head.append("seeds")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]

    def flag(value: Any) -> str:
        return "✓" if value is True else ("-" if value is False else str(value))

    for (_, name), runs in rows.items():
        sw = runs[0]["head"]
        cells = [name, *[flag(sw.get(k)) for k, _ in ABLATION_SWITCHES], sw["LOSS"]]
        cells += [*_metric_cells(runs, ks), str(len(runs))]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def format_aux_table(results: Iterable[dict[str, Any]], ks: Sequence[int] = (20, 50, 100)) -> str:
    """Markdown table: predcls Motifs without / with each auxiliary head (recalls in %, mean ± std; s/iter: median).

    The baseline row is the head comparison's predcls Motifs run; the delta columns give the
    change of the seed-mean R@50 / mR@50 against it.
    """
    base = _grouped(results, "main").get(("predcls", "motifs"), [])
    rows = _grouped(results, "aux")
    if not rows:
        return ""

    def mean_at(runs: list[dict], key: str) -> float | None:
        values = [r["metrics"].get(key) for r in runs if r["metrics"].get(key) is not None]
        return 100.0 * statistics.mean(values) if values else None

    head = ["Auxiliary head", *[f"R@{k}" for k in ks], *[f"mR@{k}" for k in ks], "Δ R@50", "Δ mR@50"]
    head += ["s/iter (median)", "seeds"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    entries = ([("none (Motifs)", base)] if base else []) + [
        (", ".join(runs[0]["head"].get("AUXILIARY") or [name]), runs) for (_, name), runs in rows.items()
    ]
    for label, runs in entries:
        deltas = []
        for key in ("R@50", "mR@50"):
            ours, ref = mean_at(runs, key), mean_at(base, key)
            deltas.append("-" if runs is base or ours is None or ref is None else f"{ours - ref:+.1f}")
        cells = [label, *_metric_cells(runs, ks), *deltas]
        cells += [_median([r["seconds_per_iter"] for r in runs], digits=2), str(len(runs))]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def format_uncertainty_table(results: Iterable[dict[str, Any]]) -> str:
    """Markdown table of the runs that studied relation scores against errors (``TEST.UNCERTAINTY_SCORES``).

    One row per run group and score (mean ± std over seeds): Spearman correlation with the error
    indicator, AUROC of the score for detecting errors, error rates (%) in the lowest / highest
    quarter of the score; the head's own predicate confidence is the reference row.
    """
    grouped: OrderedDict[tuple[str, str], list[dict]] = OrderedDict()
    for res in results:
        if res.get("uncertainty"):
            spec = res["settings"]["spec"]
            grouped.setdefault((spec["mode"], spec["name"]), []).append(res)
    if not grouped:
        return ""
    head = [
        "Run",
        "Score",
        "Spearman(score, error)",
        "AUROC(error)",
        "error % low quarter",
        "error % high quarter",
        "annotated pairs",
        "error %",
        "seeds",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for (mode, name), runs in grouped.items():
        scores = [k[: -len("/spearman")] for k in runs[0]["uncertainty"] if k.endswith("/spearman")]
        for score in scores:

            def cell(stat: str, digits: int = 3, runs=runs, score=score) -> str:
                return _mean_std([r["uncertainty"].get(f"{score}/{stat}") for r in runs], digits=digits)

            cells = [
                f"{mode} {name}",
                score,
                cell("spearman"),
                cell("auroc"),
                cell("error_low_q", 1),
                cell("error_high_q", 1),
                _mean_std([r["uncertainty"]["pairs"] for r in runs], digits=0),
                _mean_std([r["uncertainty"]["error_rate"] for r in runs]),
                str(len(runs)),
            ]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
