"""Training and inference machinery: trainer, hooks, launch, checkpoints, command-line defaults."""

from .checkpoint import SGGCheckpointer, unwrap_model
from .defaults import TASKS, default_argument_parser, default_setup, existing_checkpoints, setup_cfg
from .hooks import EvalHook, IterationTimer, LRScheduler, PeriodicCheckpointer, PeriodicWriter, ProgressBar
from .inference import SceneGraphExporter, inference_context, inference_on_dataset
from .launch import launch
from .train_loop import HookBase, SimpleTrainer, TrainerBase
from .trainer import SGGTrainer, create_ddp_model, resolve_device

__all__ = [
    "SGGCheckpointer",
    "unwrap_model",
    "TASKS",
    "default_argument_parser",
    "default_setup",
    "existing_checkpoints",
    "setup_cfg",
    "EvalHook",
    "IterationTimer",
    "LRScheduler",
    "PeriodicCheckpointer",
    "PeriodicWriter",
    "ProgressBar",
    "SceneGraphExporter",
    "inference_context",
    "inference_on_dataset",
    "launch",
    "HookBase",
    "SimpleTrainer",
    "TrainerBase",
    "SGGTrainer",
    "create_ddp_model",
    "resolve_device",
]
