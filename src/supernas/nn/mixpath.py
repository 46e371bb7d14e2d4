"""MixPath S1 network: inverted-bottleneck layers with multi-kernel depthwise paths and Shadow BN.

One network class serves both the supernet (both expansion rates and every kernel in every
layer) and a standalone subnet (the chosen rate and kernels only): parameter names are the
same, so a subnet inherits supernet weights by name. ``forward(x, arch)`` runs, in layer ``i``,
the weights of rate ``arch.layers[i].expansion`` and the depthwise paths of
``arch.layers[i].kernels``; nothing else runs.

Blocks (per expansion rate ``t``, ``mid = t * c_in``):

- ``reference`` (MixPath's code; the default of ``mixpath-s1``): 1x1 expansion-BN-ReLU6; per
  active kernel a depthwise k x k-BN-ReLU6 branch; branches summed; 1x1 projection; Shadow BN.
- ``fused`` (faster, and a different function: the Shadow BN normalises the summed depthwise
  output before the nonlinearity, and no path has a BN of its own): 1x1 expansion-BN-ReLU6;
  active depthwise kernels as conv-only branches, summed as one depthwise convolution with
  their composite kernel; Shadow BN; ReLU6; 1x1 projection; BN.
- ``naive``: the ``fused`` block with its branches run one by one (same function, slower).

The residual is added when the stride is 1 and the channel counts match.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from supernas.nn.multipath import FusedDepthwisePaths, MultiPath, kernel_name

EXPANSION_RATES = (3, 6)
KERNELS = (3, 5, 7, 9)
BLOCKS = ("fused", "naive", "reference")


class ConvBNReLU6(nn.Sequential):
    """Conv (no bias, padding ``kernel // 2``) -> BN -> ReLU6."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int = 1, groups: int = 1):
        super().__init__(nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, groups=groups, bias=False),
                         nn.BatchNorm2d(c_out), nn.ReLU6())


def depthwise_paths(mid: int, c_out: int, kernels: Sequence[int], stride: int, max_paths: int, sbn: str,
                    block: str, candidate_kernels: Sequence[int] = KERNELS) -> MultiPath:
    """The multi-path part of a block (see the module docstring); the Shadow BN is built for all
    of the space's ``candidate_kernels``, whatever ``kernels`` this network holds."""
    if block == "reference":
        branches = {kernel_name(k): ConvBNReLU6(mid, mid, k, stride, groups=mid) for k in kernels}
        return MultiPath(branches, c_out, max_paths, sbn, transform=nn.Conv2d(mid, c_out, 1, bias=False),
                         candidates=[kernel_name(k) for k in candidate_kernels])
    return FusedDepthwisePaths(mid, kernels, stride, max_paths, sbn, fuse=block == "fused",
                               candidate_kernels=candidate_kernels)


class ExpansionBranch(nn.Module):
    """The weights of one expansion rate of a layer: expansion, depthwise paths, output."""

    def __init__(self, c_in: int, c_out: int, rate: int, kernels: Sequence[int], stride: int, max_paths: int,
                 sbn: str, block: str, candidate_kernels: Sequence[int] = KERNELS):
        super().__init__()
        mid = c_in * rate
        self.expand = ConvBNReLU6(c_in, mid, 1)
        self.paths = depthwise_paths(mid, c_out, kernels, stride, max_paths, sbn, block, candidate_kernels)
        self.output = (nn.Identity() if block == "reference"  # the projection is inside the paths' layer
                       else nn.Sequential(nn.ReLU6(), nn.Conv2d(mid, c_out, 1, bias=False), nn.BatchNorm2d(c_out)))

    def forward(self, x: torch.Tensor, kernels: Sequence[int]) -> torch.Tensor:
        return self.output(self.paths(self.expand(x), [kernel_name(k) for k in kernels]))


class MixPathLayer(nn.Module):
    """A searchable inverted-bottleneck layer; ``rates`` and ``kernels`` are the choices it holds."""

    def __init__(self, c_in: int, c_out: int, stride: int, rates: Sequence[int], kernels: Sequence[int],
                 max_paths: int, sbn: str, block: str, candidate_kernels: Sequence[int] = KERNELS):
        super().__init__()
        self.rates = nn.ModuleDict({f"e{t}": ExpansionBranch(c_in, c_out, t, kernels, stride, max_paths, sbn, block,
                                                             candidate_kernels) for t in rates})
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor, choice) -> torch.Tensor:
        """Run rate ``choice.expansion`` with depthwise kernels ``choice.kernels``."""
        out = self.rates[f"e{choice.expansion}"](x, choice.kernels)
        return out + x if self.residual else out


class MixPathNetwork(nn.Module):
    """Stem (3x3 conv-BN-ReLU6), the searchable layers, head (1x1 conv-BN-ReLU6, pool, linear).

    ``widths`` has one more entry than ``strides`` (layer ``i`` maps ``widths[i]`` to
    ``widths[i + 1]``); ``candidates[i]`` is the (rates, kernels) that layer ``i`` holds.
    """

    def __init__(self, widths: Sequence[int], strides: Sequence[int], head_width: int,
                 candidates: Sequence[tuple[Sequence[int], Sequence[int]]], max_paths: int, sbn: str, block: str,
                 num_classes: int, in_channels: int):
        super().__init__()
        self.stem = ConvBNReLU6(in_channels, widths[0], 3)
        self.layers = nn.ModuleList(
            MixPathLayer(widths[i], widths[i + 1], strides[i], rates, kernels, max_paths, sbn, block)
            for i, (rates, kernels) in enumerate(candidates))
        self.head = ConvBNReLU6(widths[-1], head_width, 1)
        self.classifier = nn.Linear(head_width, num_classes)

    def forward(self, x: torch.Tensor, arch) -> torch.Tensor:
        # channels-last from the stem on: PyTorch's CPU depthwise convolution backward is 20-50x
        # faster in it (oneDNN) than in the contiguous format, and CUDA handles it as well
        x = self.stem(x).contiguous(memory_format=torch.channels_last)
        for layer, choice in zip(self.layers, arch.layers):
            x = layer(x, choice)
        return self.classifier(self.head(x).mean(dim=(2, 3)))
