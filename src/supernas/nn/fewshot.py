"""Few-shot NAS (Zhao et al., ICML 2021): the supernet split into sub-supernets, one per group
of architectures, each architecture trained and scored only in its own."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn


class FewShotSupernet(nn.Module):
    """Independent sub-supernets behind one ``forward(x, arch)``: ``partition(arch)`` picks the
    sub-supernet that runs ``arch``, so only that one's parameters get gradients."""

    def __init__(self, parts: Sequence[nn.Module], partition: Callable[[object], int]):
        super().__init__()
        self.parts = nn.ModuleList(parts)
        self.partition = partition

    def forward(self, x: torch.Tensor, arch) -> torch.Tensor:
        return self.parts[self.partition(arch)](x, arch)
