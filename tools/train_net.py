#!/usr/bin/env python
"""Train or evaluate a scene-graph model (an example entry point; the logic lives in ``sgg.engine``).

    python tools/train_net.py --config-file cfg.yaml --task predcls [KEY VALUE ...]
    python tools/train_net.py --config-file cfg.yaml --eval-only MODEL.WEIGHTS model_final.pth TEST.EXPORT True

Run ``python tools/train_net.py --help`` for distributed options and more examples.
"""

from __future__ import annotations

import logging
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run from a source checkout

from sgg.engine import (
    SGGCheckpointer,
    SGGTrainer,
    default_argument_parser,
    default_setup,
    launch,
    setup_cfg,
    unwrap_model,
)  # noqa: E402
from sgg.utils import comm  # noqa: E402

Trainer = SGGTrainer  # replace with a subclass to customise models, loaders or evaluators


def main(args):
    """Per-process entry point: evaluate (``--eval-only``) or train, then test; returns the results."""
    cfg = setup_cfg(args)
    default_setup(cfg, args)
    if args.eval_only:
        model = Trainer.build_model(cfg)
        checkpointer = SGGCheckpointer(model, cfg.OUTPUT_DIR)
        if args.resume and checkpointer.has_checkpoint():
            weights = checkpointer.get_checkpoint_file()
            logging.getLogger("sgg").info(
                "--resume with --eval-only: evaluating %s instead of MODEL.WEIGHTS", weights
            )
        else:
            weights = cfg.MODEL.WEIGHTS
            if not weights:
                raise ValueError(
                    "--eval-only needs trained weights: pass MODEL.WEIGHTS path/to/model_final.pth"
                )
        checkpointer.load(weights, checkpointables=[])
        return Trainer.test(cfg, model)
    trainer = Trainer(cfg)
    trainer.resume_or_load(resume=args.resume)
    results = dict(trainer.train() or {})  # last evaluation on DATASETS.VAL
    comm.synchronize()
    if cfg.DATASETS.TEST:  # final test of the trained model (export only with --eval-only)
        results.update(Trainer.test(cfg, unwrap_model(trainer.model), export=False))
    return results


def cli(argv=None):
    """Parse the command line and launch :func:`main` in every process."""
    args = default_argument_parser().parse_args(argv)
    return launch(
        main,
        args.num_gpus,
        num_machines=args.num_machines,
        machine_rank=args.machine_rank,
        dist_url=args.dist_url,
        args=(args,),
    )


if __name__ == "__main__":
    cli()
