"""BN post-calibration: recompute running statistics for one subnet before scoring it."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import nn


def batch_norms(model: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    """The BatchNorm layers of ``model`` that keep running statistics."""
    return [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]


@torch.no_grad()
def calibrate_batchnorm(model: nn.Module, batches: Iterable[torch.Tensor], forward: Callable[[torch.Tensor], object] | None = None) -> int:
    """Reset the running statistics of ``model``'s BN layers and recompute them as the
    cumulative average over ``batches`` (train mode, no grad). ``forward(x)`` runs the model
    (e.g. ``lambda x: supernet(x, arch)``); it defaults to ``model(x)``. Returns the number of
    images used. The model's train/eval mode and BN momenta are restored afterwards.
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
    return images
