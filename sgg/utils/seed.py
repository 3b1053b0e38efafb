"""Seeding of every random number generator the toolkit uses."""

from __future__ import annotations

import logging
import os
import random
from datetime import datetime
from typing import Any, Dict

import numpy as np
import torch

__all__ = ["seed_all_rng", "get_rng_states", "set_rng_states"]


def seed_all_rng(seed: int | None = None) -> int:
    """Seed python ``random``, numpy and torch (CPU and CUDA); returns the seed used.

    ``None`` or a negative value draws a fresh seed from the pid, the clock and ``os.urandom``
    and logs it, so a run can be repeated with ``SEED <value>``.
    """
    if seed is None or seed < 0:
        seed = (os.getpid() + int(datetime.now().strftime("%S%f")) + int.from_bytes(os.urandom(2), "big")) % (
            2**31
        )
        logging.getLogger(__name__).info("Using a random seed: %d (set SEED %d to repeat)", seed, seed)
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    return int(seed)


def get_rng_states() -> Dict[str, Any]:
    """The states of python ``random``, numpy and torch (CPU, CUDA when present).

    Only tensors, lists and numbers, so the result loads with ``torch.load(weights_only=True)``.
    """
    np_state = np.random.get_state()
    py_state = random.getstate()
    states: Dict[str, Any] = {
        "python": [py_state[0], list(py_state[1]), py_state[2]],
        "numpy": [
            np_state[0],
            torch.from_numpy(np_state[1].astype(np.int64)),
            int(np_state[2]),
            int(np_state[3]),
            float(np_state[4]),
        ],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def set_rng_states(states: Dict[str, Any]) -> None:
    """Restore states returned by :func:`get_rng_states`."""
    py = states["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    nps = states["numpy"]
    np.random.set_state((nps[0], nps[1].numpy().astype(np.uint32), nps[2], nps[3], nps[4]))
    torch.set_rng_state(states["torch"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])
