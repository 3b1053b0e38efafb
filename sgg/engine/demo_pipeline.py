"""The end-to-end demo (``make demo``): toy data -> detector -> Motifs -> evaluation -> export -> one table.

Steps, each skipped when its outputs exist (``force=True`` redoes them):

1. ``data``: generate the toy dataset (``sgg.data.toy``) into ``<out>/datasets/toy`` and print its
   statistics (counts, predicate frequencies, head/tail ratio, zero-shot triplets);
2. ``detector``: train the toy detector (``configs/toy/detector.yaml``, ``MODEL.RELATION_ON False``)
   and evaluate its COCO box mAP on the test split;
3. ``motifs``: train ONE Motifs model in SGCls mode on the frozen detector (it learns the relation
   head and the object-context classifier) -- see :data:`ONE_MODEL_NOTE`;
4. ``eval_<mode>``: evaluate that model in predcls, sgcls and sgdet and export the test split's
   scene graphs (``<out>/eval/<mode>/inference/<test set>/scene_graphs.json``);
5. ``frequency``: the frequency-only baseline (``FrequencyBaseline``: Motifs' frequency bias alone,
   no visual input, no training) in predcls;
6. print one table and write it to ``<out>/summary.md`` (and ``summary.json``).

At its start the demo prints its steps with the time each is expected to take (:data:`STEP_COSTS`,
measured on a 2-core x86_64 VM), at its end each step's measured time and the machine (CPU model,
cores, torch threads, whether mixed precision ran).

Everything runs in this process through :class:`SGGTrainer`, so the outputs of every step are
those of ``tools/train_net.py`` (``config.yaml``, ``log.txt``, ``metrics.json``, checkpoints).
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import time
from collections import OrderedDict
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence

import torch

from ..config import get_cfg
from ..utils.io import atomic_write_text
from ..utils.logger import setup_logger
from ..utils.seed import seed_all_rng
from .checkpoint import SGGCheckpointer, unwrap_model
from .defaults import TASKS
from .train_loop import cpu_has_native_bf16
from .trainer import SGGTrainer

__all__ = ["DemoSettings", "DemoPipeline", "ONE_MODEL_NOTE", "STEP_COSTS", "format_demo_table", "add_demo_arguments",
           "machine_summary"]

logger = logging.getLogger(__name__)

MODES = ("predcls", "sgcls", "sgdet")
TEST_SET = "toy_test"
ONE_MODEL_NOTE = (
    "One Motifs model, trained in SGCls mode (relation head + object-context classifier, detector "
    "frozen), is evaluated in all three modes; SGB trains one model per mode, which does not fit the "
    "demo's time budget on 2 CPU cores."
)


#: Seconds per unit of work of each step on a quiet 2-core x86_64 VM (AMD EPYC, AVX512-BF16), used for the
#: expected times printed at the start: per image for data and evaluation, per training image for the
#: detector and Motifs, in float32 and in bfloat16 mixed precision. Derived from the README's timed
#: run of the reference revision (detector 0.263 s, Motifs 0.077 s per training image in float32)
#: and the speed-ups that ``benchmarks/profile_train.py --compare-ref`` measured for this revision.
STEP_COSTS = {
    "data": 0.011,
    "detector": {"fp32": 0.20, "amp": 0.125},
    "eval_detector": 0.10,
    "motifs": {"fp32": 0.070, "amp": 0.047},
    "eval_predcls": 0.083,
    "eval_sgcls": 0.083,
    "eval_sgdet": 0.22,
    "frequency": 0.067,
}


def machine_summary(amp: Optional[bool] = None) -> str:
    """CPU model, logical cores, torch threads (and whether bfloat16 mixed precision ran)."""
    import platform

    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    text = (f"{model}, {os.cpu_count()} logical cores, torch {torch.__version__} with "
            f"{torch.get_num_threads()} threads")
    if amp is not None:
        text += (", bfloat16 mixed precision" if amp else ", float32") + (
            " (CPU has native bfloat16)" if cpu_has_native_bf16() else "")
    return text


def _configs_dir() -> str:
    return os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "configs")


@dataclass
class DemoSettings:
    """Sizes and budgets of the demo (defaults calibrated for 20 minutes on 2 CPU cores).

    Measured on 2 shared cores: 2000/200 images, 650 detector and 300x8 Motifs iterations took
    21.4 min with other jobs running (detector 728 s, mAP@0.5 0.74; Motifs 187 s; sgdet eval
    45-190 s depending on load); 600 detector iterations save about a minute.

    Attributes:
        out: output folder of the whole demo.
        seed: dataset and training seed.
        num_train, num_test, num_val: toy images (val = the first ``num_val`` train images).
        image_size: longer image side in pixels (the toy detector preset is tuned for 256).
        detector_iters: detector training iterations (batch ``detector_batch``).
        relation_iters: Motifs training iterations (batch ``relation_batch``).
        sgdet_detections: detections per image the relation stage relates in sgdet
            (``TEST.DETECTIONS_PER_IMG``; SGB: 80 for VG, a toy image holds at most 8 objects).
        threads: torch CPU threads (0 = leave torch's default).
        amp: training in bfloat16 mixed precision (``SOLVER.AMP.ENABLED``): "auto" (on when the CPU
            computes bfloat16 natively, AVX512-BF16 or AMX), "on" or "off".
        force: redo every step even when its outputs exist.
        extra_opts: config overrides (``KEY VALUE`` list) applied to every step's config.
    """

    out: str = "output/demo"
    seed: int = 0
    num_train: int = 2000
    num_test: int = 200
    num_val: int = 100
    image_size: int = 256
    detector_iters: int = 600
    detector_batch: int = 4
    relation_iters: int = 300
    relation_batch: int = 8
    sgdet_detections: int = 20
    threads: int = 0
    amp: str = "auto"
    force: bool = False
    extra_opts: List[str] = field(default_factory=list)

    @property
    def dataset_root(self) -> str:
        return os.path.join(self.out, "datasets", "toy")

    @property
    def amp_enabled(self) -> bool:
        """Whether training runs in bfloat16 mixed precision (see ``amp``)."""
        if self.amp not in ("auto", "on", "off"):
            raise ValueError(f"DemoSettings.amp must be 'auto', 'on' or 'off', got {self.amp!r}")
        return self.amp == "on" or (self.amp == "auto" and cpu_has_native_bf16())

    def expected_seconds(self) -> "OrderedDict[str, float]":
        """Expected time of every step on the machine of :data:`STEP_COSTS`."""
        c, prec = STEP_COSTS, ("amp" if self.amp_enabled else "fp32")
        test = self.num_test
        return OrderedDict([
            ("data", c["data"] * (self.num_train + self.num_test)),
            ("detector", c["detector"][prec] * self.detector_iters * self.detector_batch),
            ("eval_detector", c["eval_detector"] * test),
            ("motifs", c["motifs"][prec] * self.relation_iters * self.relation_batch),
            ("eval_predcls", c["eval_predcls"] * test),
            ("eval_sgcls", c["eval_sgcls"] * test),
            ("eval_sgdet", c["eval_sgdet"] * test * max(self.sgdet_detections, 1) / 20),
            ("frequency", c["frequency"] * test),
        ])


class DemoPipeline:
    """Run the demo's steps (see the module docstring); :meth:`run` returns the summary dict.

    Args:
        settings: sizes, budgets and the output folder.
        trainer_cls: the trainer whose builders make models, loaders and evaluators.
        printer: where progress lines and the table go (default ``print``).
    """

    def __init__(
        self,
        settings: DemoSettings,
        trainer_cls: type = SGGTrainer,
        printer: Callable[[str], None] = print,
    ) -> None:
        self.s = settings
        self.trainer_cls = trainer_cls
        self.print = printer
        self.timings: OrderedDict[str, float] = OrderedDict()
        self.skipped: List[str] = []
        self._upstream_ran = False  # a data/training step ran: every later step's outputs are stale

    # ------------------------------------------------------------------ configs
    def _cfg(self, config_file: str, output_dir: str, opts: Sequence[Any] = (), task: Optional[str] = None):
        s = self.s
        cfg = get_cfg()
        cfg.merge_from_file(os.path.join(_configs_dir(), "toy", config_file))
        size = s.image_size
        base = [
            "DATASETS.ROOT", s.dataset_root,
            "DATASETS.NUM_VAL_IM", s.num_val,
            "DATASETS.TRAIN", ("toy_train",),
            "DATASETS.VAL", (),  # no evaluation during training: the demo evaluates the test split
            "DATASETS.TEST", (TEST_SET,),
            "INPUT.MIN_SIZE_TRAIN", (size,),
            "INPUT.MAX_SIZE_TRAIN", size,
            "INPUT.MIN_SIZE_TEST", size,
            "INPUT.MAX_SIZE_TEST", size,
            "SEED", s.seed,
            "OUTPUT_DIR", output_dir,
            "SOLVER.AMP.ENABLED", s.amp_enabled,
            "MODEL.DETECTOR.CHANNELS_LAST", s.amp_enabled,  # NHWC is what makes bfloat16 convolutions fast
        ]
        cfg.merge_from_list(base + list(opts) + list(s.extra_opts))
        if task is not None:
            cfg.MODEL.ROI_RELATION_HEAD.USE_GT_BOX, cfg.MODEL.ROI_RELATION_HEAD.USE_GT_OBJECT_LABEL = TASKS[task]
        cfg.freeze()
        return cfg

    @staticmethod
    def _schedule(iters: int, batch: int, warmup: int) -> List[Any]:
        return [
            "SOLVER.MAX_ITER", iters,
            "SOLVER.IMS_PER_BATCH", batch,
            "SOLVER.STEPS", (int(iters * 0.85),),
            "SOLVER.WARMUP_ITERS", min(warmup, max(iters // 5, 1)),
            "SOLVER.CHECKPOINT_PERIOD", iters,
        ]

    @staticmethod
    def _setup(cfg, eval_only: bool) -> None:
        """Like :func:`default_setup`, but the console shows warnings only (the step's log.txt gets all)."""
        out = cfg.OUTPUT_DIR
        os.makedirs(out, exist_ok=True)
        log = setup_logger(out)
        for handler in log.handlers:
            if not isinstance(handler, logging.FileHandler):
                handler.setLevel(logging.WARNING)
        seed_all_rng(cfg.SEED)
        path = os.path.join(out, "inference", "config.yaml") if eval_only else os.path.join(out, "config.yaml")
        atomic_write_text(path, cfg.dump())

    # ------------------------------------------------------------------ steps
    @property
    def _redo(self) -> bool:
        """Outputs that exist must be replaced (``--force``, or an earlier step ran in this call)."""
        return self.s.force or self._upstream_ran

    def _step(self, name: str, done: bool, fn: Callable[[], Any], upstream: bool = False) -> Any:
        """Run ``fn`` unless ``done`` (and nothing upstream changed); ``upstream``: later steps depend on it."""
        if done and not self._redo:
            self.print(f"[demo] {name}: outputs exist, skipped (--force to redo)")
            self.skipped.append(name)
            return None
        self.print(f"[demo] {name} ...")
        t0 = time.perf_counter()
        out = fn()
        self.timings[name] = time.perf_counter() - t0
        self._upstream_ran |= upstream
        self.print(f"[demo] {name}: done in {self.timings[name]:.0f} s")
        return out

    def make_data(self) -> Dict[str, Any]:
        """Generate the toy dataset (unless present) and print its statistics; returns the summary."""
        from ..data.summary import format_summary, summarize_dataset
        from ..data.toy import INFO_FILE, ToyDatasetSpec, generate_toy_dataset

        s = self.s
        root = s.dataset_root
        spec = ToyDatasetSpec(
            seed=s.seed, num_train=s.num_train, num_test=s.num_test, num_val=s.num_val, image_size=s.image_size
        )
        info_path = os.path.join(root, INFO_FILE)
        want = {"seed": s.seed, "num_train": s.num_train, "num_test": s.num_test, "num_val_im": s.num_val,
                "image_size": s.image_size}
        exists = os.path.isfile(info_path)
        if exists and not s.force:
            with open(info_path, encoding="utf-8") as f:
                have = json.load(f)
            diff = {k: (have.get(k), v) for k, v in want.items() if have.get(k) != v}
            if diff:
                raise ValueError(
                    f"{info_path}: the dataset there was generated with other settings "
                    f"({', '.join(f'{k}: {a} != {b}' for k, (a, b) in diff.items())}); pass --force to regenerate"
                )
        self._step("data", exists, lambda: generate_toy_dataset(root, spec, overwrite=s.force), upstream=True)
        summary = summarize_dataset(root, "vg150", num_val_im=s.num_val)
        self.print(format_summary(summary))
        return summary

    @staticmethod
    def _same_config(path: str, cfg) -> bool:
        """``path`` (a config.yaml a step wrote) holds exactly ``cfg``."""
        if not os.path.isfile(path):
            return False
        with open(path, encoding="utf-8") as f:
            return f.read() == cfg.dump()

    def train(self, name: str, cfg) -> str:
        """Train ``cfg`` into ``cfg.OUTPUT_DIR`` (continuing an interrupted run); returns model_final.pth.

        Done when ``model_final.pth`` exists and the run's ``config.yaml`` equals ``cfg`` (so a
        changed budget or setting retrains).
        """
        final = os.path.join(cfg.OUTPUT_DIR, "model_final.pth")
        same = self._same_config(os.path.join(cfg.OUTPUT_DIR, "config.yaml"), cfg)

        def run() -> None:
            if (self._redo or not same) and os.path.isdir(cfg.OUTPUT_DIR):  # stale checkpoints: start afresh
                shutil.rmtree(cfg.OUTPUT_DIR)
            self._setup(cfg, eval_only=False)
            trainer = self.trainer_cls(cfg)
            trainer.resume_or_load(resume=True)  # continues an interrupted run of the same step
            trainer.train()

        self._step(name, os.path.isfile(final) and same, run, upstream=True)
        return final

    def evaluate(self, name: str, cfg, weights: Optional[str], export: bool) -> Dict[str, Any]:
        """Evaluate on the test set (and export); returns the metrics (read back when skipped)."""
        metrics_path = os.path.join(cfg.OUTPUT_DIR, "inference", TEST_SET, "metrics.json")
        export_path = os.path.join(cfg.OUTPUT_DIR, "inference", TEST_SET, "scene_graphs.json")
        done = (
            os.path.isfile(metrics_path)
            and (not export or os.path.isfile(export_path))
            and self._same_config(os.path.join(cfg.OUTPUT_DIR, "inference", "config.yaml"), cfg)
        )

        def run() -> None:
            for path in (metrics_path, export_path):  # stale files (the writer never overwrites)
                if os.path.exists(path):
                    os.remove(path)
            self._setup(cfg, eval_only=True)
            model = self.trainer_cls.build_model(cfg)
            if weights:
                SGGCheckpointer(unwrap_model(model), cfg.OUTPUT_DIR).load(weights, checkpointables=[])
            self.trainer_cls.test(cfg, model, export=export)

        self._step(name, done, run)
        with open(metrics_path, encoding="utf-8") as f:
            return json.load(f)

    def run(self) -> Dict[str, Any]:
        """All steps; prints the table and returns ``{"table", "metrics", "timings", "paths", ...}``."""
        s = self.s
        if s.threads:
            torch.set_num_threads(s.threads)
        t_start = time.perf_counter()
        os.makedirs(s.out, exist_ok=True)
        expected = s.expected_seconds()
        self.print(
            f"[demo] steps (expected on a quiet 2-core x86_64 VM, {sum(expected.values()) / 60:.0f} min in all; "
            "steps whose outputs exist are skipped): "
            + ", ".join(f"{k} {v:.0f} s" for k, v in expected.items())
        )
        self.print(f"[demo] machine: {machine_summary(s.amp_enabled)}")
        data = self.make_data()

        det_dir = os.path.join(s.out, "detector")
        det_opts = self._schedule(s.detector_iters, s.detector_batch, 100)
        det_weights = self.train("detector", self._cfg("detector.yaml", det_dir, det_opts))
        det_eval_cfg = self._cfg("detector.yaml", os.path.join(s.out, "eval", "detector"), det_opts)
        det_metrics = self.evaluate("eval_detector", det_eval_cfg, det_weights, export=False)

        rel_dir = os.path.join(s.out, "motifs_sgcls")
        rel_opts = self._schedule(s.relation_iters, s.relation_batch, 50) + ["MODEL.DETECTOR_WEIGHTS", det_weights]
        rel_weights = self.train("motifs", self._cfg("sgcls_motifs.yaml", rel_dir, rel_opts, task="sgcls"))

        metrics: OrderedDict[str, Dict[str, Any]] = OrderedDict()
        paths: OrderedDict[str, str] = OrderedDict()
        for mode in MODES:
            out_dir = os.path.join(s.out, "eval", mode)
            opts = ["TEST.EXPORT", True, "TEST.DETECTIONS_PER_IMG", s.sgdet_detections]
            cfg = self._cfg("sgcls_motifs.yaml", out_dir, opts, task=mode)
            metrics[mode] = self.evaluate(f"eval_{mode}", cfg, rel_weights, export=True)[mode]
            paths[mode] = os.path.join(out_dir, "inference", TEST_SET, "scene_graphs.json")
        freq_dir = os.path.join(s.out, "eval", "frequency_predcls")
        freq_cfg = self._cfg(
            "predcls_motifs.yaml", freq_dir,
            ["MODEL.ROI_RELATION_HEAD.PREDICTOR", "FrequencyBaseline", "MODEL.DETECTOR_WEIGHTS", det_weights],
            task="predcls",
        )
        freq = self.evaluate("frequency", freq_cfg, None, export=False)["predcls"]

        table = format_demo_table(metrics, freq, det_metrics["bbox"], data, sgdet_detections=s.sgdet_detections)
        total = time.perf_counter() - t_start
        timing_lines = ", ".join(f"{k} {v:.0f} s" for k, v in self.timings.items())
        lines = [
            table,
            "",
            f"Wall time {total:.0f} s ({timing_lines or 'all steps skipped'}"
            + (f"; skipped: {', '.join(self.skipped)}" if self.skipped else "") + ").",
            f"Outputs under {os.path.abspath(s.out)}:",
            f"  dataset            {s.dataset_root}",
            f"  detector           {det_weights}",
            f"  Motifs (SGCls)     {rel_weights}",
        ] + [f"  scene graphs {m:6s} {p}" for m, p in paths.items()] + [
            f"  metrics            {os.path.join(s.out, 'eval', '<mode>', 'inference', TEST_SET, 'metrics.json')}",
            f"  this table         {os.path.join(s.out, 'summary.md')}",
        ]
        lines += [
            "",
            "| step | expected s | took s |",
            "|---|---:|---:|",
        ] + [
            f"| {k} | {v:.0f} | " + (f"{self.timings[k]:.0f}" if k in self.timings else "skipped") + " |"
            for k, v in expected.items()
        ] + [f"Machine: {machine_summary(s.amp_enabled)}."]
        text = "\n".join(lines)
        self.print(text)
        summary = {
            "table": table, "metrics": metrics, "frequency_predcls": freq, "detector": det_metrics["bbox"],
            "timings_s": dict(self.timings), "total_s": total, "skipped": self.skipped, "paths": dict(paths),
            "settings": asdict(s), "expected_s": dict(expected), "machine": machine_summary(s.amp_enabled),
        }
        atomic_write_text(os.path.join(s.out, "summary.md"), text + "\n")
        atomic_write_text(os.path.join(s.out, "summary.json"), json.dumps(summary, indent=1, default=str))
        return summary


def _pct(value: Any) -> str:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return "-"
    return "nan" if v != v else f"{100 * v:.1f}"


def format_demo_table(
    metrics: Dict[str, Dict[str, float]],
    frequency_predcls: Dict[str, float],
    detector_bbox: Dict[str, float],
    data_summary: Optional[Dict[str, Any]] = None,
    ks: Sequence[int] = (20, 50, 100),
    sgdet_detections: Optional[int] = None,
) -> str:
    """Markdown table: R@K and mR@K (percent) per mode, the frequency baseline, detector mAP."""
    cols = [f"R@{k}" for k in ks] + [f"mR@{k}" for k in ks]
    rows = [("Motifs " + mode, metrics[mode]) for mode in metrics]
    rows.append(("frequency only, predcls", frequency_predcls))
    head = "| model / mode | " + " | ".join(cols) + " |"
    sep = "|---|" + "|".join("---:" for _ in cols) + "|"
    body = ["| " + name + " | " + " | ".join(_pct(m.get(c)) for c in cols) + " |" for name, m in rows]
    test = ""
    if data_summary is not None:
        split = data_summary["splits"]["test"]
        test = f" on {split['images']} test images ({split['relations']} GT relations)"
    lines = [head, sep] + body + [
        "",
        f"Detector (toy ResNet-18 FPN, from scratch): mAP@0.5 {_pct(detector_bbox.get('mAP@0.5'))}%, "
        f"COCO mAP {_pct(detector_bbox.get('mAP@[.5:.95]'))}%{test}.",
        "Recalls in percent, graph-constrained (SGB protocol). " + ONE_MODEL_NOTE,
    ]
    if sgdet_detections is not None:
        lines.append(f"SGDet relates the {sgdet_detections} best detections per image (SGB: 80 on VG).")
    return "\n".join(lines)


def add_demo_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The demo's command-line options (one per :class:`DemoSettings` field)."""
    d = DemoSettings()
    parser.add_argument("--out", default=d.out, help="output folder of the demo")
    parser.add_argument("--seed", type=int, default=d.seed, help="dataset and training seed")
    parser.add_argument("--train", dest="num_train", type=int, default=d.num_train, help="toy training images")
    parser.add_argument("--test", dest="num_test", type=int, default=d.num_test, help="toy test images")
    parser.add_argument("--num-val", dest="num_val", type=int, default=d.num_val,
                        help="the first N training images form the val split")
    parser.add_argument("--image-size", type=int, default=d.image_size, help="longer image side in pixels")
    parser.add_argument("--detector-iters", type=int, default=d.detector_iters, help="detector iterations")
    parser.add_argument("--detector-batch", type=int, default=d.detector_batch, help="detector images per batch")
    parser.add_argument("--relation-iters", type=int, default=d.relation_iters, help="Motifs iterations")
    parser.add_argument("--relation-batch", type=int, default=d.relation_batch, help="Motifs images per batch")
    parser.add_argument("--sgdet-detections", type=int, default=d.sgdet_detections,
                        help="detections per image related in sgdet")
    parser.add_argument("--threads", type=int, default=d.threads, help="torch CPU threads (0 = torch default)")
    parser.add_argument("--amp", choices=("auto", "on", "off"), default=d.amp,
                        help="bfloat16 mixed-precision training (auto: on when the CPU has native bfloat16)")
    parser.add_argument("--force", action="store_true", default=os.environ.get("FORCE", "") not in ("", "0"),
                        help="redo every step even when its outputs exist (also FORCE=1)")
    parser.add_argument("opts", nargs=argparse.REMAINDER, metavar="KEY VALUE",
                        help="config overrides applied to every step")
    return parser


def settings_from_args(args: argparse.Namespace) -> DemoSettings:
    """:class:`DemoSettings` from :func:`add_demo_arguments`' namespace."""
    return DemoSettings(
        out=args.out, seed=args.seed, num_train=args.num_train, num_test=args.num_test, num_val=args.num_val,
        image_size=args.image_size, detector_iters=args.detector_iters, detector_batch=args.detector_batch,
        relation_iters=args.relation_iters, relation_batch=args.relation_batch,
        sgdet_detections=args.sgdet_detections, threads=args.threads, amp=args.amp,
        force=args.force, extra_opts=list(args.opts or []),
    )
