"""Training one standalone network from scratch (``forward(x)``, no architecture argument): the
recipe ``retrain`` and the ground-truth builder share (SGD with Nesterov momentum, cosine to 0,
gradient clipping)."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from tqdm import tqdm

from supernas.config import Config, TrainConfig
from supernas.data import DeviceLoader
from supernas.data.imagefolder import StreamingLoader
from supernas.train.policy import scheduled_lr, set_lr


def retrain_policy(config: Config) -> TrainConfig:
    """The retraining recipe as the optimisation settings the training policy reads."""
    retrain = config.retrain
    return TrainConfig(lr=retrain.lr, lr_min=0.0, schedule="cosine", momentum=retrain.momentum, nesterov=True,
                       weight_decay=retrain.weight_decay, grad_clip=retrain.grad_clip)


def fit_standalone(model: torch.nn.Module, optimizer: torch.optim.Optimizer, loader: DeviceLoader | StreamingLoader,
                   policy: TrainConfig, steps: int, *, start: int = 0,
                   after_step: Callable[[int, torch.Tensor], None] | None = None, progress: bool = False) -> None:
    """Train a standalone ``model`` (``forward(x)``) from step ``start`` to ``steps``: cross-entropy
    on the loader's batch of each step, the LR of ``policy``'s schedule, gradient clipping, one
    optimizer step; ``after_step(steps_done, loss)`` is called after each step (logging, checkpoints)."""
    model.train()
    bar = tqdm(range(start, steps), initial=start, total=steps, desc="retrain", unit="step", disable=not progress,
               dynamic_ncols=True)
    for step, (images, labels) in zip(bar, loader.batches(start)):
        set_lr(optimizer, scheduled_lr(policy, step, steps))
        optimizer.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(images), labels)
        loss.backward()
        if policy.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), policy.grad_clip)
        optimizer.step()
        if after_step is not None:
            after_step(step + 1, loss)
    bar.close()
