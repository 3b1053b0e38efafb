"""Start one process per device: torchrun / SLURM environments, or a detectron2-style spawn.

Three ways to run distributed training with the same script:

* ``torchrun --nproc_per_node 4 tools/train_net.py ...``: the environment carries ``RANK``,
  ``WORLD_SIZE``, ``LOCAL_RANK`` (+ ``MASTER_ADDR``/``MASTER_PORT``) and :func:`launch` joins it;
* SLURM (``srun``): ``SLURM_PROCID``/``SLURM_NTASKS``/``SLURM_LOCALID`` give the ranks, and
  ``--dist-url tcp://<host of rank 0>:<port>`` (or ``MASTER_ADDR``/``MASTER_PORT``) the rendezvous;
* ``--num-gpus N [--num-machines M --machine-rank R --dist-url tcp://host:port]``: :func:`launch`
  spawns N processes per machine itself. ``--dist-url auto`` picks a free local port (one machine).

The backend is NCCL when CUDA is available and gloo otherwise. On a machine without a GPU,
``--num-gpus N`` starts N CPU processes that train with gloo (useful for tests and debugging).
"""

from __future__ import annotations

import logging
import os
import socket
from datetime import timedelta
from typing import Any, Callable, Optional, Tuple

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from ..utils import comm

__all__ = ["launch", "find_free_port", "DEFAULT_TIMEOUT"]

DEFAULT_TIMEOUT = timedelta(minutes=30)


def find_free_port() -> int:
    """A TCP port that is free on this machine right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _backend() -> str:
    return "nccl" if torch.cuda.is_available() else "gloo"


def _env_world() -> Optional[Tuple[int, int, int, int, str]]:
    """(rank, world size, local rank, local size, init method) from torchrun or SLURM variables."""
    env = os.environ
    if all(k in env for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK")):
        local_size = int(env.get("LOCAL_WORLD_SIZE", env["WORLD_SIZE"]))
        return int(env["RANK"]), int(env["WORLD_SIZE"]), int(env["LOCAL_RANK"]), local_size, "env://"
    if "SLURM_PROCID" in env and int(env.get("SLURM_NTASKS", "1")) > 1:
        ntasks = int(env["SLURM_NTASKS"])
        nodes = int(env.get("SLURM_NNODES", "1"))
        local_size = int(env.get("SLURM_NTASKS_PER_NODE", str(ntasks // max(nodes, 1))).split("(")[0])
        return int(env["SLURM_PROCID"]), ntasks, int(env["SLURM_LOCALID"]), local_size, ""
    return None


def _init_and_run(
    rank: int,
    world_size: int,
    local_rank: int,
    local_size: int,
    init_method: str,
    main_func: Callable[..., Any],
    args: tuple,
    timeout: timedelta,
) -> Any:
    backend = _backend()
    if backend == "nccl":
        if local_rank >= torch.cuda.device_count():
            raise RuntimeError(
                f"Process with local rank {local_rank} needs GPU {local_rank}, but only "
                f"{torch.cuda.device_count()} GPUs are visible"
            )
        torch.cuda.set_device(local_rank)
    try:
        dist.init_process_group(
            backend=backend, init_method=init_method, world_size=world_size, rank=rank, timeout=timeout
        )
    except Exception as e:
        logging.getLogger(__name__).error("Process group URL: %s", init_method)
        raise RuntimeError(f"Could not join the process group at {init_method}: {e}") from e
    comm.set_local_info(local_rank, local_size)
    try:
        comm.synchronize()
        result = main_func(*args)
        # Every rank leaves together: a rank that tears gloo down while a peer still talks to it
        # can abort the peer at exit ("terminate called without an active exception").
        comm.synchronize()
        return result
    finally:
        dist.destroy_process_group()


def _spawn_worker(
    local_rank: int,
    main_func: Callable[..., Any],
    world_size: int,
    num_per_machine: int,
    machine_rank: int,
    dist_url: str,
    args: tuple,
    timeout: timedelta,
) -> None:
    rank = machine_rank * num_per_machine + local_rank
    _init_and_run(rank, world_size, local_rank, num_per_machine, dist_url, main_func, args, timeout)


def launch(
    main_func: Callable[..., Any],
    num_gpus_per_machine: int,
    num_machines: int = 1,
    machine_rank: int = 0,
    dist_url: Optional[str] = None,
    args: tuple = (),
    timeout: timedelta = DEFAULT_TIMEOUT,
) -> Any:
    """Run ``main_func(*args)`` in every process of a (possibly) distributed job.

    Args:
        main_func: the function each process runs; must be picklable (module level) when spawning.
        num_gpus_per_machine: processes per machine (GPUs; CPU processes when there is no GPU).
        num_machines: number of machines.
        machine_rank: rank of this machine (0 .. num_machines-1).
        dist_url: rendezvous URL ``tcp://host:port``; ``"auto"`` or ``None`` = a free local port
            (single machine only).
        args: positional arguments of ``main_func``.
        timeout: process-group timeout.

    Returns:
        ``main_func``'s result in a single process or under torchrun/SLURM; ``None`` after a spawn.
    """
    env = _env_world()
    if env is not None:
        rank, world, local_rank, local_size, init = env
        if not init:  # SLURM: rendezvous from --dist-url or MASTER_ADDR/MASTER_PORT
            if dist_url and dist_url != "auto":
                init = dist_url
            elif "MASTER_ADDR" in os.environ and "MASTER_PORT" in os.environ:
                init = "env://"
            else:
                raise ValueError(
                    "Under SLURM pass --dist-url tcp://<host of rank 0>:<port>, or set MASTER_ADDR and MASTER_PORT"
                )
        return _init_and_run(rank, world, local_rank, local_size, init, main_func, args, timeout)

    world_size = num_machines * num_gpus_per_machine
    if world_size <= 1:
        return main_func(*args)
    if dist_url in (None, "auto"):
        if num_machines != 1:
            raise ValueError("--dist-url auto only works on one machine; pass --dist-url tcp://host:port")
        dist_url = f"tcp://127.0.0.1:{find_free_port()}"
    if num_machines > 1 and dist_url.startswith("file://"):
        logging.getLogger(__name__).warning("file:// URLs across machines need a shared file system")
    mp.start_processes(
        _spawn_worker,
        nprocs=num_gpus_per_machine,
        args=(main_func, world_size, num_gpus_per_machine, machine_rank, dist_url, args, timeout),
        daemon=False,
        start_method="spawn",
    )
    return None
