"""Argument parser, --task mapping, config assembly and run set-up."""

import os

import pytest
import yaml

from sgg.engine import default_argument_parser, default_setup, setup_cfg


@pytest.fixture(autouse=True)
def _restore_sgg_logger():
    """setup_logger() detaches the "sgg" logger from the root; undo that for other tests (caplog)."""
    import logging

    yield
    log = logging.getLogger("sgg")
    for h in list(log.handlers):
        log.removeHandler(h)
        h.close()
    log.propagate = True


def _parse(*argv):
    return default_argument_parser().parse_args(list(argv))


def test_parser_flags_and_trailing_overrides():
    a = _parse(
        "--config-file",
        "c.yaml",
        "--resume",
        "--num-gpus",
        "2",
        "--num-machines",
        "3",
        "--machine-rank",
        "1",
        "--dist-url",
        "tcp://10.0.0.1:1234",
        "--task",
        "sgcls",
        "SOLVER.BASE_LR",
        "0.5",
        "OUTPUT_DIR",
        "out",
    )
    assert (a.config_file, a.resume, a.eval_only, a.num_gpus, a.num_machines, a.machine_rank) == (
        "c.yaml",
        True,
        False,
        2,
        3,
        1,
    )
    assert a.dist_url == "tcp://10.0.0.1:1234" and a.task == "sgcls"
    assert a.opts == ["SOLVER.BASE_LR", "0.5", "OUTPUT_DIR", "out"]
    d = _parse()
    assert (d.num_gpus, d.num_machines, d.machine_rank, d.dist_url, d.task, d.opts) == (
        1,
        1,
        0,
        "auto",
        None,
        [],
    )
    with pytest.raises(SystemExit):
        _parse("--task", "detection")


def test_help_lists_every_flag_and_examples(capsys):
    with pytest.raises(SystemExit):
        _parse("--help")
    text = capsys.readouterr().out
    for flag in (
        "--config-file",
        "--resume",
        "--eval-only",
        "--num-gpus",
        "--num-machines",
        "--machine-rank",
        "--dist-url",
        "--task",
        "KEY VALUE",
        "torchrun",
        "TEST.EXPORT True",
    ):
        assert flag in text


@pytest.mark.parametrize(
    "task,box,label", [("predcls", True, True), ("sgcls", True, False), ("sgdet", False, False)]
)
def test_task_sets_gt_flags(task, box, label):
    cfg = setup_cfg(_parse("--task", task))
    assert cfg.MODEL.ROI_RELATION_HEAD.USE_GT_BOX is box
    assert cfg.MODEL.ROI_RELATION_HEAD.USE_GT_OBJECT_LABEL is label
    assert cfg.is_frozen()


def test_config_file_then_overrides_then_task(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text(
        "SOLVER:\n  BASE_LR: 0.2\n  MAX_ITER: 7\nMODEL:\n  ROI_RELATION_HEAD:\n    USE_GT_BOX: False\n"
    )
    cfg = setup_cfg(_parse("--config-file", str(f), "--task", "predcls", "SOLVER.MAX_ITER", "9"))
    assert cfg.SOLVER.BASE_LR == pytest.approx(0.2) and cfg.SOLVER.MAX_ITER == 9
    assert cfg.MODEL.ROI_RELATION_HEAD.USE_GT_BOX is True  # --task wins over the file
    with pytest.raises(ValueError, match="--task predcls needs MODEL.ROI_RELATION_HEAD.USE_GT_BOX True"):
        setup_cfg(_parse("--task", "predcls", "MODEL.ROI_RELATION_HEAD.USE_GT_BOX", "False"))
    with pytest.raises(KeyError, match="SOLVER.BASE_LR"):
        setup_cfg(_parse("SOLVER.BASE_LRR", "1"))


def test_default_setup_writes_config_and_log_and_fixes_the_seed(tmp_path):
    out = tmp_path / "run"
    args = _parse("OUTPUT_DIR", str(out), "SEED", "-1")
    cfg = setup_cfg(args)
    default_setup(cfg, args)
    assert cfg.SEED >= 0 and cfg.is_frozen()  # the drawn seed is recorded
    dumped = yaml.safe_load((out / "config.yaml").read_text())
    assert dumped["SEED"] == cfg.SEED and dumped["OUTPUT_DIR"] == str(out)
    assert "MODEL" in dumped and "ROI_RELATION_HEAD" in dumped["MODEL"]  # the full merged config
    import logging

    logging.getLogger("sgg").info("hello log")
    assert "hello log" in (out / "log.txt").read_text()
    assert f"Using a random seed: {cfg.SEED}" in (out / "log.txt").read_text()


def test_refuses_to_clobber_previous_checkpoints(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "model_0000999.pth").write_bytes(b"x")
    (out / "config.yaml").write_text("previous")
    args = _parse("OUTPUT_DIR", str(out))
    with pytest.raises(FileExistsError, match="--resume.*new OUTPUT_DIR"):
        default_setup(setup_cfg(args), args)
    assert (out / "config.yaml").read_text() == "previous"
    for ok in (_parse("--resume", "OUTPUT_DIR", str(out)), _parse("--eval-only", "OUTPUT_DIR", str(out))):
        default_setup(setup_cfg(ok), ok)
    # eval-only does not replace the training config
    assert os.path.exists(out / "inference" / "config.yaml")
