"""Processes of a run on ``torch.distributed``: the small context the trainer and the evaluator take.

``torchrun`` starts one process per device and sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
``MASTER_ADDR`` and ``MASTER_PORT``; :func:`distributed_context` reads them and joins the
process group (gloo for CPU tensors, NCCL for CUDA tensors). Without them it returns the
single-process context, whose collectives do nothing. Nothing outside the trainer and the
evaluator knows about processes: they take a :class:`DistributedContext` (rank, world size,
device) and use its few collectives.

How a step's batch is shared (:func:`micro_batch_slices`): the global batch (``data.batch_size``)
is cut into ``train.micro_batches`` equal micro-batches (default: one per rank); rank ``r`` of
``W`` runs micro-batches ``r·M/W .. (r+1)·M/W - 1`` one after another, each loss divided by
``M``, and the gradients are summed over ranks. BatchNorm with batch statistics normalises each
micro-batch on its own, so a run computes the same function on any number of ranks that
divides ``M``: 2 ranks x 1 micro-batch equal 1 process x 2 micro-batches.
"""

from __future__ import annotations

import atexit
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import torch
import torch.distributed as dist
from torch import nn

from supernas.errors import SupernasError
from supernas.utils import resolve_device

T = TypeVar("T")

LAUNCH_VARIABLES = ("RANK", "WORLD_SIZE", "LOCAL_RANK")
"""What ``torchrun`` sets for every process it starts (besides the rendezvous address)."""


@dataclass(frozen=True)
class DistributedContext:
    """This process's rank among ``world_size`` processes and the device it computes on.

    The collectives are no-ops in a single process (``world_size == 1``); in a process group
    every rank must call them in the same order.
    """

    rank: int = 0
    world_size: int = 1
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def is_main(self) -> bool:
        """Whether this is rank 0, the one that writes files and logs."""
        return self.rank == 0

    @property
    def is_distributed(self) -> bool:
        return self.world_size > 1

    def shard(self, items: Sequence[T]) -> list[T]:
        """This rank's share of ``items``: every ``world_size``-th one, starting at ``rank``."""
        return list(items[self.rank::self.world_size])

    def all_reduce_sum(self, tensors: Sequence[torch.Tensor]) -> None:
        """Replace each tensor (all of one dtype and device) by its sum over ranks, in place,
        as one flattened all-reduce."""
        if not self.is_distributed or not tensors:
            return
        flat = torch.cat([t.reshape(-1) for t in tensors])
        dist.all_reduce(flat)
        for tensor, part in zip(tensors, flat.split([t.numel() for t in tensors])):
            tensor.copy_(part.view_as(tensor))

    def sum_value(self, value: float) -> float:
        """A number summed over ranks (float64)."""
        if not self.is_distributed:
            return value
        total = torch.tensor([float(value)], dtype=torch.float64, device=self._object_device())
        dist.all_reduce(total)
        return float(total)

    def sum_gradients(self, parameters: Iterable[nn.Parameter]) -> None:
        """Sum the gradients that exist over ranks (one bucket). Parameters without a gradient
        keep ``None``: every rank trains the same architecture, so the same ones are unused."""
        self.all_reduce_sum([p.grad for p in parameters if p.grad is not None])

    def average_buffers(self, module: nn.Module) -> None:
        """Average the floating-point buffers (BN running statistics) over ranks, in place."""
        buffers = [b for b in module.buffers() if b.is_floating_point()]
        self.all_reduce_sum(buffers)
        for buffer in buffers:
            buffer.div_(self.world_size)

    def broadcast_module(self, module: nn.Module) -> None:
        """Copy rank 0's parameters and buffers to every rank."""
        if self.is_distributed:
            for tensor in module.state_dict().values():
                dist.broadcast(tensor, src=0)

    def broadcast_object(self, value: Any) -> Any:
        """Rank 0's ``value`` (picklable) on every rank."""
        if not self.is_distributed:
            return value
        holder = [value]
        dist.broadcast_object_list(holder, src=0, device=self._object_device())
        return holder[0]

    def gather_objects(self, value: Any) -> list[Any]:
        """Every rank's ``value``, in rank order, on every rank."""
        if not self.is_distributed:
            return [value]
        values: list[Any] = [None] * self.world_size
        dist.all_gather_object(values, value)
        return values

    def check_same(self, value: Any, what: str) -> None:
        """Raise on every rank unless ``value`` is equal on all ranks."""
        values = self.gather_objects(value)
        if any(v != values[0] for v in values):
            raise SupernasError(f"ranks disagree on {what}: {', '.join(f'rank {i}: {v!r}' for i, v in enumerate(values))}")

    def barrier(self) -> None:
        """Wait until every rank got here."""
        if self.is_distributed:
            dist.barrier()

    def _object_device(self) -> torch.device:
        return self.device if self.device.type == "cuda" else torch.device("cpu")


SINGLE_PROCESS = DistributedContext()


def rank_device(device_name: str, local_rank: int) -> torch.device:
    """The device of the process with ``local_rank`` on its node: ``auto``/``cuda`` pick
    ``cuda:<local_rank>`` when CUDA is there; anything else is taken as given."""
    device = resolve_device(device_name)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", local_rank)
    return device


def launch_variables() -> dict[str, int] | None:
    """RANK, WORLD_SIZE and LOCAL_RANK as set by torchrun, or None when WORLD_SIZE is unset or 1."""
    if int(os.environ.get("WORLD_SIZE", "1") or 1) <= 1:
        return None
    try:
        return {name: int(os.environ[name]) for name in LAUNCH_VARIABLES}
    except (KeyError, ValueError):
        found = ", ".join(f"{name}={os.environ.get(name)!r}" for name in LAUNCH_VARIABLES)
        raise SupernasError(f"WORLD_SIZE > 1 but the launch variables are incomplete ({found}); "
                            "start several processes with torchrun") from None


def backend_for(device: torch.device) -> str:
    """gloo on CPU; on CUDA, NCCL for CUDA tensors and gloo for CPU ones."""
    return "cpu:gloo,cuda:nccl" if device.type == "cuda" else "gloo"


def distributed_context(device_name: str = "auto") -> DistributedContext:
    """The context of this process: the process group already joined, the one torchrun's
    variables describe (joined now, left at exit), or a single process on ``device_name``."""
    if dist.is_available() and dist.is_initialized():
        rank = dist.get_rank()
        device = rank_device(device_name, int(os.environ.get("LOCAL_RANK", rank)))
        return DistributedContext(rank, dist.get_world_size(), device)
    launch = launch_variables()
    if launch is None:
        return DistributedContext(device=resolve_device(device_name))
    device = rank_device(device_name, launch["LOCAL_RANK"])
    if device.type == "cuda":
        torch.cuda.set_device(device)
    try:
        dist.init_process_group(backend_for(device), rank=launch["RANK"], world_size=launch["WORLD_SIZE"])
    except (RuntimeError, ValueError) as error:
        raise SupernasError(f"cannot join the process group of rank {launch['RANK']}: {str(error).splitlines()[0]}") from None
    atexit.register(leave_process_group)
    return DistributedContext(launch["RANK"], launch["WORLD_SIZE"], device)


def leave_process_group() -> None:
    """Destroy the default process group if this process is still in one."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def is_main_process() -> bool:
    """Whether this process is rank 0 (or not launched by torchrun at all)."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank() == 0
    return int(os.environ.get("RANK", "0") or 0) == 0


def micro_batch_slices(batch_size: int, micro_batches: int, context: DistributedContext) -> list[slice]:
    """This rank's micro-batches of a step's global batch (see the module docstring).

    ``micro_batches`` 0 means one per rank; it must be a multiple of the world size and divide
    ``batch_size``.
    """
    count = micro_batches or context.world_size
    if count < 0 or count % context.world_size:
        raise SupernasError(f"train.micro_batches ({micro_batches}) must be a multiple of the number of processes "
                            f"({context.world_size}), or 0 for one micro-batch per process")
    if batch_size % count:
        raise SupernasError(f"data.batch_size ({batch_size}) must split into {count} equal micro-batches "
                            f"({context.world_size} processes); pick a batch size divisible by {count}")
    size, per_rank = batch_size // count, count // context.world_size
    first = context.rank * per_rank
    return [slice(i * size, (i + 1) * size) for i in range(first, first + per_rank)]
