#!/usr/bin/env python
"""Profile the demo's training and inference on the CPU; optionally side by side with another revision.

    python benchmarks/profile_train.py --data output/demo/datasets/toy --detector output/demo/detector/model_final.pth
    python benchmarks/profile_train.py --data ... --detector ... --compare-ref 9382281 --rounds 3 --iters 8

Stages (``--stages``, default all): ``detector`` (a training iteration of the toy detector),
``relation`` (a training iteration of the demo's Motifs SGCls stage on the frozen detector),
``infer_predcls`` / ``infer_sgcls`` / ``infer_sgdet`` (a test batch through the relation model) and
``infer_detector`` (a test batch through the detector alone). Every stage is configured exactly as
``make demo`` configures it (the checkout's own ``DemoPipeline`` builds the configs), on the dataset
given by ``--data`` and the detector weights given by ``--detector`` (the relation model is the
demo's model with an untrained relation head: its speed does not depend on its weights).

Each checkout runs in its own worker process (``sys.path`` starts at that checkout), kept alive
for the whole run. With ``--compare-ref REV`` the revision is extracted with ``git archive`` into
a temporary folder (or ``--ref-dir DIR`` names an existing checkout), and the two workers run
their blocks of ``--iters`` iterations alternately (ref, new, new, ref, ...) for ``--rounds``
rounds, so that both see the same machine load; the ratio is ref time / new time. A last pass of
``--profile-iters`` iterations per stage runs under ``torch.profiler`` (CPU) and gives the top
operators by self CPU time (the profiler's overhead is not in the timed rounds).

Prints one markdown table: per stage, seconds and iterations per second, data loading vs
compute per iteration, and the top operators (self CPU ms per iteration); then the machine.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any, Dict, List, Optional

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
MARK = "@@profile_train@@"
TRAIN_STAGES = ("detector", "relation")
INFER_STAGES = ("infer_predcls", "infer_sgcls", "infer_sgdet", "infer_detector")
ALL_STAGES = TRAIN_STAGES + INFER_STAGES
STAGE_LABEL = {
    "detector": "detector train",
    "relation": "Motifs sgcls train",
    "infer_predcls": "inference predcls",
    "infer_sgcls": "inference sgcls",
    "infer_sgdet": "inference sgdet",
    "infer_detector": "inference detector",
}


# ====================================================================== worker (one per checkout)
class _AnyKey(dict):
    """A metrics dict that answers every key with an empty dict (stands in for skipped evaluations)."""

    def __missing__(self, key):
        return {}


class Worker:
    """Builds the demo's stages from the checkout on ``sys.path`` and times blocks of iterations."""

    def __init__(self, data: str, detector: str, workdir: str, warmup: int, opts: List[str]) -> None:
        import torch  # noqa: F401  (imported after sys.path is set)

        from sgg.engine.demo_pipeline import DemoPipeline, DemoSettings

        self.detector = os.path.abspath(detector)
        self.warmup = warmup
        os.makedirs(os.path.join(workdir, "datasets"), exist_ok=True)
        link = os.path.join(workdir, "datasets", "toy")
        if not os.path.exists(link):
            os.symlink(os.path.abspath(data), link)
        self.pipeline = DemoPipeline(DemoSettings(out=workdir, extra_opts=list(opts)), printer=lambda *a, **k: None)
        self.train_cfgs: Dict[str, Any] = {}
        self.eval_cfgs: Dict[str, Any] = {}
        self._capture_configs()
        self._trainers: Dict[str, Any] = {}
        self._models: Dict[str, Any] = {}
        self._loaders: Dict[str, Any] = {}
        self._pos: Dict[str, int] = {}

    def _capture_configs(self) -> None:
        """Run the checkout's demo with its training and evaluation steps replaced by recorders."""
        p = self.pipeline

        def train(name, cfg):
            self.train_cfgs[name] = cfg
            return self.detector if name == "detector" else os.path.join(cfg.OUTPUT_DIR, "model_final.pth")

        def evaluate(name, cfg, weights, export):
            self.eval_cfgs[name] = cfg
            return _AnyKey()

        p.train, p.evaluate = train, evaluate
        p.run()

    # -------------------------------------------------------------- building
    def _trainer(self, name: str):
        if name not in self._trainers:
            cfg = self.train_cfgs["detector" if name == "detector" else "motifs"]
            if hasattr(self.pipeline, "_setup"):
                self.pipeline._setup(cfg, eval_only=False)
            trainer = self.pipeline.trainer_cls(cfg)
            trainer.resume_or_load(resume=False)
            self._trainers[name] = trainer
            self._pos[name] = 0
        return self._trainers[name]

    def _model(self, stage: str):
        import torch

        from sgg.engine.checkpoint import unwrap_model

        if stage not in self._models:
            mode = stage.split("_", 1)[1]
            cfg = self.eval_cfgs["eval_detector" if mode == "detector" else f"eval_{mode}"]
            model = self.pipeline.trainer_cls.build_model(cfg)
            if mode == "detector":
                state = torch.load(self.detector, map_location="cpu", weights_only=True)
                state = state.get("model", state)
            else:  # the relation model of the training stage (detector weights + untrained head)
                state = unwrap_model(self._trainer("relation").model).state_dict()
            model.load_state_dict(state)
            model.eval()
            self._models[stage] = model
            self._loaders[stage] = self.pipeline.trainer_cls.build_test_loader(cfg, cfg.DATASETS.TEST[0])
            self._pos[stage] = 0
        return self._models[stage]

    def _next_test_batch(self, stage: str):
        it = self._loaders.get(stage + "/iter")
        try:
            return next(it)
        except (StopIteration, TypeError):
            self._loaders[stage + "/iter"] = iter(self._loaders[stage])
            return next(self._loaders[stage + "/iter"])

    # -------------------------------------------------------------- running
    def _train_block(self, stage: str, iters: int) -> Dict[str, List[float]]:
        from sgg.utils.events import EventStorage

        trainer = self._trainer(stage)
        times, data, cpu = [], [], []
        with EventStorage(self._pos[stage]) as storage:
            trainer.storage = storage
            for _ in range(iters):
                trainer.iter = storage.iter = self._pos[stage]
                t0, c0 = time.perf_counter(), time.process_time()
                trainer.run_step()
                times.append(time.perf_counter() - t0)
                cpu.append(time.process_time() - c0)
                data.append(storage.history("data_time").latest())
                self._pos[stage] += 1
        return {"times": times, "data": data, "cpu": cpu, "images": int(trainer.cfg.SOLVER.IMS_PER_BATCH)}

    def _infer_block(self, stage: str, iters: int) -> Dict[str, List[float]]:
        import torch

        model = self._model(stage)
        times, data, cpu, images = [], [], [], 0
        with torch.no_grad():
            for _ in range(iters):
                t0, c0 = time.perf_counter(), time.process_time()
                batch = self._next_test_batch(stage)
                t1 = time.perf_counter()
                model(batch)
                times.append(time.perf_counter() - t0)
                cpu.append(time.process_time() - c0)
                data.append(t1 - t0)
                images += len(batch)
        return {"times": times, "data": data, "cpu": cpu, "images": images / max(iters, 1)}

    def run(self, stage: str, iters: int, profile: bool = False, top: int = 12) -> Dict[str, Any]:
        block = self._train_block if stage in TRAIN_STAGES else self._infer_block
        if stage not in self._pos and self.warmup:
            block(stage, self.warmup)  # build + untimed warm-up iterations
        if not profile:
            return block(stage, iters)
        from torch.profiler import ProfilerActivity, profile as torch_profile

        with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
            out = block(stage, iters)
        ops = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
        out["ops"] = [
            {"name": e.key, "self_ms": e.self_cpu_time_total / 1e3 / iters, "calls": e.count / iters}
            for e in ops[:top]
        ]
        out["profiled_total_ms"] = sum(e.self_cpu_time_total for e in ops) / 1e3 / iters
        return out


def worker_main(args: argparse.Namespace) -> None:
    """Serve JSON commands on stdin (``{"stage", "iters", "profile"}``), answer on stdout after MARK."""
    root = os.path.abspath(args.worker)
    sys.path.insert(0, root)
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="profile_train_") as tmp:
        with contextlib.redirect_stdout(sys.stderr):
            w = Worker(args.data, args.detector, tmp, args.warmup, json.loads(args.worker_opts))
        reply = {"ready": True, "sgg": __import__("sgg").__file__, "threads": torch.get_num_threads(),
                 "interop_threads": torch.get_num_interop_threads()}
        print(MARK + json.dumps(reply), flush=True)
        for line in sys.stdin:
            cmd = json.loads(line)
            if cmd.get("quit"):
                break
            with contextlib.redirect_stdout(sys.stderr):
                out = w.run(cmd["stage"], int(cmd["iters"]), bool(cmd.get("profile")), int(cmd.get("top", 12)))
            out["threads"] = torch.get_num_threads()
            print(MARK + json.dumps(out), flush=True)


# ====================================================================== parent
class WorkerProcess:
    """A worker child process for one checkout."""

    def __init__(self, name: str, root: str, args: argparse.Namespace, opts: List[str]) -> None:
        self.name = name
        cmd = [sys.executable, os.path.abspath(__file__), "--worker", root, "--data", args.data,
               "--detector", args.detector, "--warmup", str(args.warmup), "--threads", str(args.threads),
               "--worker-opts", json.dumps(opts)]
        env = dict(os.environ, PYTHONPATH=root, KINETO_LOG_LEVEL=os.environ.get("KINETO_LOG_LEVEL", "5"))
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
                                     cwd=root)
        self.info = self._read()

    def _read(self) -> Dict[str, Any]:
        for line in self.proc.stdout:
            if line.startswith(MARK):
                return json.loads(line[len(MARK):])
        raise RuntimeError(f"profile worker {self.name!r} exited with status {self.proc.wait()}")

    def run(self, stage: str, iters: int, profile: bool = False, top: int = 12) -> Dict[str, Any]:
        self.proc.stdin.write(json.dumps({"stage": stage, "iters": iters, "profile": profile, "top": top}) + "\n")
        self.proc.stdin.flush()
        return self._read()

    def close(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(BrokenPipeError):
                self.proc.stdin.write(json.dumps({"quit": True}) + "\n")
                self.proc.stdin.flush()
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def machine_line(threads: Optional[int] = None) -> str:
    """CPU model, logical cores, torch threads, torch version."""
    import torch

    model = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    return (f"{model}, {os.cpu_count()} logical cores, torch {torch.__version__} with "
            f"{threads or torch.get_num_threads()} intra-op threads, Python {platform.python_version()}")


def _mean(xs: List[float]) -> float:
    return sum(xs) / len(xs) if xs else float("nan")


def summarize(blocks: List[Dict[str, Any]]) -> Dict[str, float]:
    """Per-iteration figures over the timed blocks of one stage and checkout."""
    times = [t for b in blocks for t in b["times"]]
    data = [d for b in blocks for d in b["data"]]
    return {
        "s_iter": _mean(times),
        "cpu_s_iter": _mean([c for b in blocks for c in b.get("cpu", [])]),
        "median": statistics.median(times) if times else float("nan"),
        "data_ms": 1e3 * _mean(data),
        "compute_ms": 1e3 * (_mean(times) - _mean(data)),
        "images": blocks[0]["images"] if blocks else 0,
        "round_means": [_mean(b["times"]) for b in blocks],
    }


def format_table(stages, results: Dict[str, Dict[str, Any]], names: List[str], top: int) -> str:
    """One markdown table: rows per stage (time, it/s, data, compute, top operators)."""
    two = len(names) == 2
    head = "| stage | measure | " + " | ".join(names) + (" | ref / new |" if two else " |")
    lines = [head, "|---|---|" + "---:|" * len(names) + ("---:|" if two else "")]

    def row(stage: str, measure: str, values: List[Optional[float]], fmt: str, ratio: bool = True) -> None:
        cells = ["-" if v is None else format(v, fmt) for v in values]
        extra = ""
        if two:
            a, b = values
            extra = " | " + (f"{a / b:.2f}x" if ratio and a and b else "")
        lines.append(f"| {stage} | {measure} | " + " | ".join(cells) + extra + " |")

    for stage in stages:
        per = [results[n][stage] for n in names]
        sums = [summarize(p["blocks"]) for p in per]
        label = f"{STAGE_LABEL[stage]} ({sums[0]['images']:g} img/iter)"
        n_it = sum(len(b["times"]) for b in per[0]["blocks"])
        row(label, f"s / iter (mean of {n_it})", [s["s_iter"] for s in sums], ".3f")
        if two:
            rr = [a / b for a, b in zip(sums[0]["round_means"], sums[1]["round_means"])]
            lines[-1] = lines[-1][:-2] + f" (rounds {min(rr):.2f}-{max(rr):.2f}) |"
        row("", "iterations / s", [1.0 / s["s_iter"] for s in sums], ".2f", ratio=False)
        row("", "process CPU s / iter (all threads)", [s["cpu_s_iter"] for s in sums], ".3f")
        row("", "data loading ms / iter", [s["data_ms"] for s in sums], ".1f")
        row("", "compute ms / iter", [s["compute_ms"] for s in sums], ".1f")
        prof = [p.get("profile") for p in per]
        if all(prof):
            row("", "profiled: all ops, self CPU ms / iter", [p["profiled_total_ms"] for p in prof], ".1f")
            order: List[str] = []
            for p in prof[::-1]:  # the new checkout's top operators first
                for op in p["ops"]:
                    if op["name"] not in order:
                        order.append(op["name"])
            for name in order[:top]:
                vals = []
                for p in prof:
                    hit = [o for o in p["ops"] if o["name"] == name]
                    vals.append(hit[0]["self_ms"] if hit else None)
                row("", f"`{name[:60]}`", vals, ".1f")
    return "\n".join(lines)


def extract_revision(rev: str, dest: str) -> str:
    """``git archive REV`` of this repository into ``dest``; returns ``dest``."""
    os.makedirs(dest, exist_ok=True)
    archive = subprocess.run(["git", "-C", REPO, "archive", "--format=tar", rev], check=True,
                             stdout=subprocess.PIPE).stdout
    subprocess.run(["tar", "-x", "-C", dest], input=archive, check=True)
    return dest


def main(argv=None) -> str:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", help="toy dataset folder (make demo's <out>/datasets/toy)")
    p.add_argument("--detector", help="trained toy detector (make demo's <out>/detector/model_final.pth)")
    p.add_argument("--stages", default=",".join(ALL_STAGES), help=f"comma-separated, from {', '.join(ALL_STAGES)}")
    p.add_argument("--iters", type=int, default=10, help="timed iterations (or test batches) per block")
    p.add_argument("--rounds", type=int, default=2, help="timed blocks per stage and checkout")
    p.add_argument("--warmup", type=int, default=2, help="untimed iterations before the first block")
    p.add_argument("--profile-iters", type=int, default=5, help="iterations under torch.profiler (0 = none)")
    p.add_argument("--top", type=int, default=10, help="operators listed per stage")
    p.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0 = the checkout's default)")
    p.add_argument("--compare-ref", metavar="REV", help="also run this git revision, interleaved")
    p.add_argument("--ref-dir", metavar="DIR", help="an existing checkout to compare with (instead of REV)")
    p.add_argument("--json", metavar="FILE", help="also write every figure to this JSON file")
    p.add_argument("--ref-opts", default="", metavar="'KEY VALUE ...'",
                   help="config overrides of the reference's demo steps (e.g. to measure one setting: "
                        "--ref-dir . --ref-opts 'MODEL.DETECTOR.CHANNELS_LAST False')")
    p.add_argument("--new-opts", default="", metavar="'KEY VALUE ...'", help="config overrides of this checkout's")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--worker-opts", default="[]", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        worker_main(args)
        return ""
    if not args.data or not args.detector:
        p.error("--data and --detector are required (run make demo first)")
    for path in (args.data, args.detector):
        if not os.path.exists(path):
            p.error(f"not found: {path}")
    args.data, args.detector = os.path.abspath(args.data), os.path.abspath(args.detector)
    stages = [s.strip() for s in args.stages.split(",") if s.strip()]
    bad = [s for s in stages if s not in ALL_STAGES]
    if bad:
        p.error(f"--stages: unknown {bad}; known: {', '.join(ALL_STAGES)}")

    tmp = tempfile.mkdtemp(prefix="profile_train_ref_")
    roots: Dict[str, str] = {}
    try:
        if args.ref_dir or args.compare_ref:
            roots[f"ref {args.compare_ref or os.path.basename(args.ref_dir)}"] = (
                os.path.abspath(args.ref_dir) if args.ref_dir else extract_revision(args.compare_ref, tmp)
            )
        roots["new" if roots else "this checkout"] = REPO
        names = list(roots)
        opts = {n: (args.new_opts if n in ("new", "this checkout") else args.ref_opts).split() for n in names}
        workers = {n: WorkerProcess(n, r, args, opts[n]) for n, r in roots.items()}
        results: Dict[str, Dict[str, Any]] = {n: {s: {"blocks": []} for s in stages} for n in names}
        try:
            for r in range(args.rounds):
                for stage in stages:
                    for n in (names if r % 2 == 0 else names[::-1]):
                        results[n][stage]["blocks"].append(workers[n].run(stage, args.iters))
                        print(f"[profile] round {r + 1}/{args.rounds} {stage:15s} {n:16s} "
                              f"{_mean(results[n][stage]['blocks'][-1]['times']):.3f} s/iter", file=sys.stderr)
            if args.profile_iters:
                for stage in stages:
                    for n in names:
                        results[n][stage]["profile"] = workers[n].run(stage, args.profile_iters, True, args.top)
            threads = workers[names[-1]].info["threads"]
        finally:
            for w in workers.values():
                w.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    table = format_table(stages, results, names, args.top)
    text = (table + "\n\n" + f"Machine: {machine_line(threads)}. {args.rounds} rounds x {args.iters} "
            f"iterations per stage" + (" (checkouts alternating)" if len(names) == 2 else "") +
            f"; top operators from {args.profile_iters} iterations under torch.profiler."
            + "".join(f" {n} overrides: {' '.join(o)}." for n, o in opts.items() if o))
    print(text)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"results": results, "names": names, "roots": roots, "machine": machine_line(threads)}, f,
                      indent=1)
    return text


if __name__ == "__main__":
    main()
