"""Checkpoints: fvcore ``Checkpointer`` with atomic writes, safe loading and run ownership.

Differences from fvcore's :class:`~fvcore.common.checkpoint.Checkpointer`:

* every file (``model_*.pth`` and ``last_checkpoint``) is written atomically (temp file +
  ``os.replace``): a crash while saving leaves the previous files intact;
* files are read with ``torch.load(weights_only=True)``; a bare state dict (e.g. a detector
  file) is accepted as the model weights;
* each checkpoint carries the ``run_id`` of the run that wrote it; saving over a checkpoint
  of a different run raises instead of silently replacing it. Resuming adopts the run id of
  the checkpoint, so a resumed run may update its own files.
"""

from __future__ import annotations

import logging
import os
import uuid
from typing import Any, Dict, List, Optional

import torch
from fvcore.common.checkpoint import Checkpointer, PeriodicCheckpointer
from torch import nn

from ..utils import comm
from ..utils.io import atomic_torch_save, atomic_write_text

__all__ = ["SGGCheckpointer", "PeriodicCheckpointer", "unwrap_model"]


def unwrap_model(model: nn.Module) -> nn.Module:
    """The module inside a ``DistributedDataParallel``/``DataParallel`` wrapper (or ``model``)."""
    while isinstance(model, (nn.parallel.DistributedDataParallel, nn.DataParallel)):
        model = model.module
    return model


class SGGCheckpointer(Checkpointer):
    """Save and load a model with optional extra checkpointables (optimizer, scheduler, ...).

    Args:
        model: the model (a DDP wrapper is unwrapped, so files have no ``module.`` prefix).
        save_dir: folder of the checkpoints and of ``last_checkpoint``.
        save_to_disk: write files; default: only on the main process.
        run_id: identity of this run; default: a fresh random id.
        checkpointables: objects with ``state_dict``/``load_state_dict`` saved alongside.
    """

    def __init__(
        self,
        model: nn.Module,
        save_dir: str = "",
        *,
        save_to_disk: Optional[bool] = None,
        run_id: Optional[str] = None,
        **checkpointables: Any,
    ) -> None:
        super().__init__(
            unwrap_model(model),
            save_dir,
            save_to_disk=comm.is_main_process() if save_to_disk is None else save_to_disk,
            **checkpointables,
        )
        self.logger = logging.getLogger(__name__)
        self.run_id = run_id or uuid.uuid4().hex

    # ------------------------------------------------------------------ saving
    def _owner_of(self, path: str) -> Optional[str]:
        try:
            data = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except Exception:  # unreadable / truncated file: treat as foreign
            return None
        return data.get("run_id") if isinstance(data, dict) else None

    def save(self, name: str, **kwargs: Any) -> None:
        """Atomically write ``<save_dir>/<name>.pth`` and point ``last_checkpoint`` at it.

        Raises:
            FileExistsError: when the file exists and belongs to a different run.
        """
        if not self.save_dir or not self.save_to_disk:
            return
        basename = f"{name}.pth"
        save_file = os.path.join(self.save_dir, basename)
        if os.path.exists(save_file):
            owner = self._owner_of(save_file)
            if owner != self.run_id:
                raise FileExistsError(
                    f"Refusing to overwrite {save_file}: it was written by another run "
                    f"(run_id {owner or 'unknown'}, this run {self.run_id}). Use a new OUTPUT_DIR, "
                    f"or resume that run with --resume."
                )
        data: Dict[str, Any] = {"model": self.model.state_dict()}
        for key, obj in self.checkpointables.items():
            data[key] = obj.state_dict()
        data.update(kwargs)
        data["run_id"] = self.run_id
        self.logger.info("Saving checkpoint to %s", save_file)
        os.makedirs(self.save_dir, exist_ok=True)
        atomic_torch_save(data, save_file)
        self.tag_last_checkpoint(basename)

    def tag_last_checkpoint(self, last_filename_basename: str) -> None:
        """Atomically write the name of the newest checkpoint to ``last_checkpoint``."""
        atomic_write_text(os.path.join(self.save_dir, "last_checkpoint"), last_filename_basename)

    # ----------------------------------------------------------------- loading
    def _load_file(self, f: str) -> Dict[str, Any]:
        """Read ``f`` with ``weights_only=True``; a bare state dict becomes ``{"model": ...}``."""
        try:
            data = torch.load(f, map_location="cpu", weights_only=True)
        except Exception as e:
            raise RuntimeError(
                f"Could not load checkpoint {f} with torch.load(weights_only=True): {e}. Only files with "
                f"tensors and plain Python containers are accepted."
            ) from e
        if isinstance(data, dict) and "model" in data:
            return data
        if isinstance(data, dict) and all(isinstance(v, torch.Tensor) for v in data.values()):
            return {"model": data}
        raise ValueError(f"Checkpoint {f}: expected a dict with key 'model' or a state dict of tensors")

    def load(self, path: str, checkpointables: Optional[List[str]] = None) -> Dict[str, Any]:
        """Load ``path``; when loading all checkpointables (resuming), adopt the file's run id.

        Returns the remaining entries (``iteration``, ``trainer`` state, ...).
        """
        extra = super().load(path, checkpointables)
        run_id = extra.pop("run_id", None) if isinstance(extra, dict) else None
        if checkpointables is None and run_id:
            self.run_id = run_id
        return extra
