"""A supernet bound to one architecture: how every space turns its ``forward(x, arch)`` network
into a standalone subnet with ``forward(x)`` (the wrapper adds ``network.`` to parameter names)."""

from __future__ import annotations

import torch
from torch import nn


class FixedArchitecture(nn.Module):
    """A network with ``forward(x, arch)`` bound to one architecture: a standalone ``forward(x)``."""

    def __init__(self, network: nn.Module, arch):
        super().__init__()
        self.network = network
        self.arch = arch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.network(x, self.arch)
