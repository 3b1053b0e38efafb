"""benchmarks/bench_train.py runs on any trainer/config (here the toy trainer)."""

import importlib.util
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_bench_train_table_with_toy_trainer(capsys):
    spec = importlib.util.spec_from_file_location(
        "bench_train", os.path.join(ROOT, "benchmarks", "bench_train.py")
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    table = mod.main(
        [
            "--trainer",
            "_engine_toys:ToyTrainer",
            "--iters",
            "3",
            "--warmup",
            "1",
            "--task",
            "sgcls",
            "SOLVER.IMS_PER_BATCH",
            "2",
            "SEED",
            "0",
        ]
    )
    lines = table.splitlines()
    assert len(lines) == 3 and "train ms/img" in lines[0] and "infer ms/img" in lines[0]
    row = dict(
        zip(
            [c.strip() for c in lines[0].strip("|").split("|")],
            [c.strip() for c in lines[2].strip("|").split("|")],
        )
    )
    assert row["mode"] == "sgcls" and row["batch"] == "2"
    assert float(row["train ms/img"]) > 0 and float(row["infer ms/img"]) > 0
    assert table in capsys.readouterr().out


def test_bench_figures_count_parameters_and_images():
    spec = importlib.util.spec_from_file_location(
        "bench_train", os.path.join(ROOT, "benchmarks", "bench_train.py")
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    from _engine_toys import ToyTrainer, toy_cfg

    fig = mod.benchmark(toy_cfg("unused", SOLVER__IMS_PER_BATCH=2), ToyTrainer, iters=2, warmup=1)
    assert round(fig["params_m"] * 1e6) == (4 * 8 + 8) + 2 * 8 + (8 + 1)  # Linear, BatchNorm, Linear
    assert fig["infer_images"] == 4  # 2 timed test batches of 2 images
    assert fig["train_ms_per_img"] > 0 and fig["train_s_per_iter"] > 0
