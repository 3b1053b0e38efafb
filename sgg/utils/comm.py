"""Process-group helpers: rank, world size, barriers and object gathering.

Every function works with and without ``torch.distributed`` initialised, so single-process
code paths need no special casing. :func:`sgg.engine.launch.launch` records the per-machine
("local") rank and size here.
"""

from __future__ import annotations

import functools
from typing import Any, List

import torch
import torch.distributed as dist

__all__ = [
    "get_world_size",
    "get_rank",
    "get_local_rank",
    "get_local_size",
    "is_main_process",
    "synchronize",
    "all_gather",
    "gather",
    "broadcast_object",
    "reduce_dict",
    "shared_random_seed",
    "set_local_info",
]

_LOCAL_RANK = 0
_LOCAL_SIZE = 1


def set_local_info(local_rank: int, local_size: int) -> None:
    """Record this process's rank within its machine and the number of processes per machine."""
    global _LOCAL_RANK, _LOCAL_SIZE
    _LOCAL_RANK, _LOCAL_SIZE = int(local_rank), int(local_size)


def _dist_on() -> bool:
    return dist.is_available() and dist.is_initialized()


def get_world_size() -> int:
    """Number of processes in the default group (1 when not distributed)."""
    return dist.get_world_size() if _dist_on() else 1


def get_rank() -> int:
    """Global rank of this process (0 when not distributed)."""
    return dist.get_rank() if _dist_on() else 0


def get_local_rank() -> int:
    """Rank of this process within its machine (selects the GPU)."""
    return _LOCAL_RANK if _dist_on() else 0


def get_local_size() -> int:
    """Number of processes on this machine."""
    return _LOCAL_SIZE if _dist_on() else 1


def is_main_process() -> bool:
    """True on global rank 0 (the process that writes files and logs)."""
    return get_rank() == 0


def synchronize() -> None:
    """Barrier across all processes; a no-op in a single process."""
    if get_world_size() > 1:
        if dist.get_backend() == dist.Backend.NCCL and torch.cuda.is_available():
            dist.barrier(device_ids=[torch.cuda.current_device()])
        else:
            dist.barrier()


@functools.lru_cache
def _cpu_group():
    """A gloo group for object collectives (NCCL cannot move pickled objects on CPU)."""
    if dist.get_backend() == dist.Backend.NCCL:
        return dist.new_group(backend="gloo")
    return dist.group.WORLD


def all_gather(obj: Any) -> List[Any]:
    """Gather a picklable object from every rank; returns the list ordered by rank."""
    world = get_world_size()
    if world == 1:
        return [obj]
    out: List[Any] = [None] * world
    dist.all_gather_object(out, obj, group=_cpu_group())
    return out


def gather(obj: Any, dst: int = 0) -> List[Any]:
    """Gather a picklable object on rank ``dst``; other ranks receive an empty list."""
    world = get_world_size()
    if world == 1:
        return [obj]
    out = [None] * world if get_rank() == dst else None
    dist.gather_object(obj, out, dst=dst, group=_cpu_group())
    return out if get_rank() == dst else []


def broadcast_object(obj: Any, src: int = 0) -> Any:
    """The value of ``obj`` on rank ``src``, returned on every rank."""
    if get_world_size() == 1:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src, group=_cpu_group())
    return box[0]


def reduce_dict(values: dict, average: bool = True) -> dict:
    """Sum (or average) a dict of scalar tensors over all ranks; same keys on every rank."""
    world = get_world_size()
    if world == 1 or not values:
        return dict(values)
    names = sorted(values)
    stacked = torch.stack([values[k].detach().float() for k in names])
    dist.all_reduce(stacked)
    if average:
        stacked /= world
    return dict(zip(names, stacked))


def shared_random_seed() -> int:
    """A random integer drawn on rank 0 and shared with every rank."""
    import numpy as np

    return int(broadcast_object(int(np.random.randint(2**31))))
