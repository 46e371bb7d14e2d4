"""MobileNet-style (ProxylessNAS / MixPath S2) network built from MixPath's searchable layers.

ImageNet stem (3x3 convolution with stride 2, BN, ReLU6), MobileNetV2's first block (expansion
1: depthwise 3x3-BN-ReLU6, 1x1 projection, BN), the searchable inverted-bottleneck layers
(:class:`~supernas.nn.mixpath.MixPathLayer`: expansion rate, 1..m depthwise kernels summed,
Shadow BN), then a 1x1 convolution to the head width, BN, ReLU6, global pool and a linear
classifier. A layer whose choice is ``None`` is skipped (identity), which only layers with
stride 1 and equal channel counts allow. As in :mod:`supernas.nn.mixpath`, one class serves as
the supernet and as a standalone subnet with the same parameter names.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from supernas.nn.mixpath import ConvBNReLU6, MixPathLayer


class MobileNetNetwork(nn.Module):
    """Stem, first block, searchable layers, head. ``widths`` has one more entry than
    ``strides`` (``widths[0]`` is the first block's output); ``candidates[i]`` is the
    (rates, kernels) layer ``i`` holds, ``kernels`` every depthwise kernel size of the space."""

    def __init__(self, stem_width: int, widths: Sequence[int], strides: Sequence[int], head_width: int,
                 candidates: Sequence[tuple[Sequence[int], Sequence[int]]], kernels: Sequence[int], max_paths: int,
                 sbn: str, block: str, num_classes: int, in_channels: int):
        super().__init__()
        self.stem = ConvBNReLU6(in_channels, stem_width, 3, stride=2)
        self.first = nn.Sequential(ConvBNReLU6(stem_width, stem_width, 3, groups=stem_width),
                                   nn.Conv2d(stem_width, widths[0], 1, bias=False), nn.BatchNorm2d(widths[0]))
        self.layers = nn.ModuleList(
            MixPathLayer(widths[i], widths[i + 1], strides[i], rates, layer_kernels, max_paths, sbn, block, kernels)
            for i, (rates, layer_kernels) in enumerate(candidates))
        self.head = ConvBNReLU6(widths[-1], head_width, 1)
        self.classifier = nn.Linear(head_width, num_classes)

    def forward(self, x: torch.Tensor, arch) -> torch.Tensor:
        # channels-last: see MixPathNetwork.forward (depthwise backward on CPU)
        x = self.first(self.stem(x)).contiguous(memory_format=torch.channels_last)
        for layer, choice in zip(self.layers, arch.layers):
            if choice is not None:
                x = layer(x, choice)
        return self.classifier(self.head(x).mean(dim=(2, 3)))
