"""BN post-calibration: recompute running statistics for one subnet before scoring it.

A supernet's shared BN statistics describe the mixture of every subnet trained, not the one
being scored, so each subnet gets its own: the cumulative average over the calibration batches
of each batch's mean and unbiased variance (BN momentum ``None``). Across the ranks of a process
group, each rank calibrates on its share of the batches and the per-batch sums and batch counts
are added up over ranks, so the result equals one process calibrating on all the batches (to
float rounding).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import nn

from supernas.runs.distributed import SINGLE_PROCESS, DistributedContext


def batch_norms(model: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    """The BatchNorm layers of ``model`` that keep running statistics."""
    return [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]


@torch.no_grad()
def combine_over_ranks(norms: list[nn.modules.batchnorm._BatchNorm], context: DistributedContext) -> None:
    """Turn each rank's cumulative averages into the average over every rank's batches: the
    sums ``batches·mean`` and ``batches·var`` and the batch counts are added up over ranks
    (one float64 all-reduce); BNs that saw no batch anywhere keep their reset statistics."""
    if not context.is_distributed or not norms:
        return
    counts = [norm.num_batches_tracked.double() for norm in norms]
    sums = [torch.cat([norm.running_mean, norm.running_var]).double() * count for norm, count in zip(norms, counts)]
    context.all_reduce_sum(sums + [count.view(1) for count in counts])
    for norm, total, both in zip(norms, counts, sums):
        batches = int(total)
        if batches == 0:
            norm.reset_running_stats()
            continue
        mean_sum, var_sum = both.chunk(2)
        norm.running_mean.copy_(mean_sum / batches)
        norm.running_var.copy_(var_sum / batches)
        norm.num_batches_tracked.fill_(batches)


@torch.no_grad()
def calibrate_batchnorm(model: nn.Module, batches: Iterable[torch.Tensor], forward: Callable[[torch.Tensor], object] | None = None,
                        context: DistributedContext = SINGLE_PROCESS) -> int:
    """Reset the running statistics of ``model``'s BN layers and recompute them as the
    cumulative average over ``batches`` (train mode, no grad). ``forward(x)`` runs the model
    (e.g. ``lambda x: supernet(x, arch)``); it defaults to ``model(x)``. Returns the number of
    images used. The model's train/eval mode and BN momenta are restored afterwards.

    In a process group each rank passes its share of the batches (``context.shard``) and gets
    the statistics and image count of all of them.
    """
    norms = batch_norms(model)
    momenta = [m.momentum for m in norms]
    was_training = model.training
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None
    model.train()
    run = forward or model
    images = 0
    try:
        for batch in batches:
            run(batch)
            images += len(batch)
    finally:
        for norm, momentum in zip(norms, momenta):
            norm.momentum = momentum
        model.train(was_training)
    combine_over_ranks(norms, context)
    return int(context.sum_value(images))
