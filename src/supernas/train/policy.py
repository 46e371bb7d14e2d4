"""Optimisation policy: the learning rate of each step over one torch optimizer."""

from __future__ import annotations

import math

import torch

from supernas.config import TrainConfig
from supernas.errors import SupernasError

SCHEDULES = ("cosine", "constant")


def scheduled_lr(config: TrainConfig, step: int, total_steps: int) -> float:
    """Learning rate at ``step`` of ``total_steps`` for the configured schedule."""
    if config.schedule == "constant":
        return config.lr
    if config.schedule == "cosine":
        progress = min(step / max(total_steps, 1), 1.0)
        return config.lr_min + (config.lr - config.lr_min) * 0.5 * (1.0 + math.cos(math.pi * progress))
    raise SupernasError(f"unknown learning-rate schedule {config.schedule!r}; expected one of {', '.join(SCHEDULES)}")


def make_optimizer(parameters, config: TrainConfig) -> torch.optim.SGD:
    """SGD with the configured momentum, Nesterov flag and weight decay."""
    return torch.optim.SGD(parameters, lr=config.lr, momentum=config.momentum,
                           nesterov=config.nesterov and config.momentum > 0, weight_decay=config.weight_decay)


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """Set the learning rate of every parameter group."""
    for group in optimizer.param_groups:
        group["lr"] = lr
