"""A reference-style SPOS supernet trainer for NAS-Bench-201, kept independent of supernas' trainer.

Written the way the public reference code does it: a per-image ``Dataset`` with Python
crop/flip transforms behind a standard ``DataLoader``, fp32, batch 64, SGD lr 0.025 with
Nesterov momentum 0.9, weight decay 5e-4, gradient clip 5, cosine LR over the wall-clock
budget, BN with batch statistics only, one uniformly sampled cell per step, and
``nn.AvgPool2d`` pooling. It is the baseline that benchmarks compare supernas against.
"""

from __future__ import annotations

import math
import random
import time

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset

from supernas.data import ImageDataset
from supernas.nn.nasbench201 import AvgPool3x3
from supernas.spaces import get_space


class PerImageCifar(Dataset):
    """One image at a time: random crop (pad 4) and flip in Python, then normalisation."""

    def __init__(self, data: ImageDataset, seed: int):
        self.images, self.labels = data.images, data.labels
        self.mean = torch.tensor(data.mean).view(-1, 1, 1)
        self.std = torch.tensor(data.std).view(-1, 1, 1)
        self.rng = random.Random(seed)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int):
        image = F.pad(self.images[index], (4, 4, 4, 4))
        top, left = self.rng.randint(0, 8), self.rng.randint(0, 8)
        image = image[:, top:top + 32, left:left + 32]
        if self.rng.random() < 0.5:
            image = image.flip(2)
        return (image.float() / 255 - self.mean) / self.std, self.labels[index]


def with_reference_pooling(model: nn.Module) -> nn.Module:
    """Replace supernas' box-filter pooling by the reference ``nn.AvgPool2d``."""
    for module in model.modules():
        for name, child in module.named_children():
            if isinstance(child, AvgPool3x3):
                setattr(module, name, nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False))
    return model


def train_reference_spos(train: ImageDataset, minutes: float, seed: int = 0, space_options: dict | None = None,
                         clock=time.perf_counter, device: str | torch.device = "cpu", workers: int = 0,
                         max_steps: int | None = None):
    """Train a reference-style SPOS supernet for ``minutes`` measured by ``clock`` (wall clock
    by default; ``time.process_time`` bounds the CPU time of the process instead) on ``device``,
    its batches prepared by ``workers`` DataLoader processes (pinned and copied per step on CUDA),
    stopping early after ``max_steps`` steps when given.

    Returns (model, space, steps, images, seconds). The learning rate follows a cosine over
    the elapsed fraction of the budget, as a time-budgeted reference run would.
    """
    torch.manual_seed(seed)
    space = get_space("nasbench201", num_classes=train.num_classes, in_channels=train.in_channels,
                      image_size=train.image_size, **(space_options or {}))
    device = torch.device(device)
    model = with_reference_pooling(space.build_supernet()).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.025, momentum=0.9, nesterov=True, weight_decay=5e-4)
    loader = DataLoader(PerImageCifar(train, seed), batch_size=64, shuffle=True, drop_last=True, num_workers=workers,
                        pin_memory=device.type == "cuda", generator=torch.Generator().manual_seed(seed))
    sampler = random.Random(seed)
    budget = minutes * 60
    started = clock()
    steps = images = 0
    model.train()
    while True:
        for x, y in loader:
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            elapsed = clock() - started
            if elapsed >= budget or steps == max_steps:
                return model, space, steps, images, elapsed
            for group in optimizer.param_groups:
                group["lr"] = 0.025 * 0.5 * (1 + math.cos(math.pi * elapsed / budget))
            arch = space.decode([sampler.randrange(n) for n in space.gene_choices])
            optimizer.zero_grad(set_to_none=True)
            F.cross_entropy(model(x, arch), y).backward()
            nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            optimizer.step()
            steps += 1
            images += len(y)
