"""NAS-Bench-201 operations, cell and macro network (Dong & Yang, ICLR 2020).

One network class serves both the supernet (every candidate op on every edge) and a
standalone subnet (only the chosen op on each edge): parameter names are identical, so a
subnet inherits supernet weights with ``load_state_dict`` filtered by name. An edge is a
module run as ``edge(x, choice)``: :class:`CandidateOps` (one op per choice) or
:class:`MultiPathEdge` (several ops summed, written ``op+op``, then a Shadow BN).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from supernas.nn.multipath import MultiPath

OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
EDGES = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))
"""Cell edges as (target node, source node), in the order of the official string."""

PATH_OPS = OPS[1:]
"""The ops a multi-path edge combines (every op but ``none``)."""
OP_SEPARATOR = "+"

BN_OPTIONS = {"batch": {"affine": False, "track_running_stats": False},
              "running": {"affine": True, "track_running_stats": True}}
"""``nn.BatchNorm2d`` options of each BN mode. ``batch``: batch statistics only, no affine
parameters, no running statistics (the NAS-Bench-201 supernet recipe). ``running``: affine
parameters and running statistics, which must be recalibrated per subnet before scoring."""
BN_MODES = tuple(BN_OPTIONS)


def batch_norm(channels: int, mode: str) -> nn.BatchNorm2d:
    """BatchNorm for a BN mode (see :data:`BN_OPTIONS`)."""
    if mode not in BN_OPTIONS:
        raise ValueError(f"unknown BN mode {mode!r}; expected one of {BN_MODES}")
    return nn.BatchNorm2d(channels, **BN_OPTIONS[mode])


class AvgPool3x3(nn.Module):
    """3x3 average pooling, stride 1, padding 1, padded zeros not counted
    (``AvgPool2d(3, 1, 1, count_include_pad=False)``), computed as a depthwise box-filter
    convolution divided by the per-pixel count of valid inputs: the same values, about 6x
    faster forward+backward than ``avg_pool2d`` on CPU."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        channels, height, width = x.shape[1], x.shape[2], x.shape[3]
        box = torch.ones(channels, 1, 3, 3, dtype=x.dtype, device=x.device)
        sums = nn.functional.conv2d(x, box, padding=1, groups=channels)
        ones = torch.ones(1, 1, height, width, dtype=x.dtype, device=x.device)
        counts = nn.functional.conv2d(ones, box[:1], padding=1)
        return sums / counts


class ReLUConvBN(nn.Sequential):
    """ReLU -> Conv (no bias) -> BN."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, bn: str):
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, bias=False),
            batch_norm(c_out, bn),
        )


def make_op(name: str, channels: int, bn: str) -> nn.Module:
    """The module of a non-``none`` cell operation."""
    if name == "skip_connect":
        return nn.Identity()
    if name == "nor_conv_1x1":
        return ReLUConvBN(channels, channels, 1, 1, bn)
    if name == "nor_conv_3x3":
        return ReLUConvBN(channels, channels, 3, 1, bn)
    if name == "avg_pool_3x3":
        return AvgPool3x3()
    raise ValueError(f"unknown NAS-Bench-201 op {name!r}")


def edge_ops(choice: str) -> tuple[str, ...]:
    """The ops of an edge choice: one op, or several joined by ``+`` (``nor_conv_3x3+skip_connect``)."""
    return tuple(choice.split(OP_SEPARATOR))


class CandidateOps(nn.ModuleDict):
    """The candidate ops of one edge by name; ``forward(x, op)`` runs op ``op``."""

    def __init__(self, choices: Sequence[str], channels: int, bn: str):
        super().__init__({name: make_op(name, channels, bn) for name in choices if name != "none"})

    def forward(self, x: torch.Tensor, op: str) -> torch.Tensor:
        return self[op](x)


class MultiPathEdge(MultiPath):
    """A multi-path edge: the ops of a choice such as ``nor_conv_3x3+skip_connect`` (1..``max_paths``
    of :data:`PATH_OPS`) summed, then a Shadow BN (``sbn``, over the ``bn`` mode's BatchNorm)."""

    def __init__(self, choices: Sequence[str], channels: int, bn: str, max_paths: int, sbn: str):
        held = {op for choice in choices for op in edge_ops(choice)}
        super().__init__({op: make_op(op, channels, bn) for op in PATH_OPS if op in held}, channels, max_paths, sbn,
                         candidates=PATH_OPS, **BN_OPTIONS[bn])

    def forward(self, x: torch.Tensor, choice: str) -> torch.Tensor:
        return super().forward(x, edge_ops(choice))


EdgeFactory = Callable[[Sequence[str], int, str], nn.Module]
"""Builds the module of one edge from its candidate choices, its channels and the BN mode."""


def live_nodes(ops: Sequence[str]) -> tuple[bool, ...]:
    """For nodes 0..3, whether a node's value can reach the cell output through non-``none`` edges."""
    live = [False, False, False, True]
    for (target, source), op in reversed(list(zip(EDGES, ops))):
        if op != "none" and live[target]:
            live[source] = True
    return tuple(live)


class SearchCell(nn.Module):
    """A 4-node cell; ``edges[e]`` is the module of edge ``EDGES[e]``, run as ``edges[e](x, choice)``."""

    def __init__(self, edges: Sequence[nn.Module]):
        super().__init__()
        self.edges = nn.ModuleList(edges)

    def forward(self, x: torch.Tensor, ops: Sequence[str]) -> torch.Tensor:
        """Run the cell with choice ``ops[e]`` on edge ``e``; nodes that cannot reach the output are skipped."""
        live = live_nodes(ops)
        values: list[torch.Tensor | None] = [x, None, None, None]
        for index, ((target, source), op) in enumerate(zip(EDGES, ops)):
            if op == "none" or not live[target] or values[source] is None:
                continue
            out = self.edges[index](values[source], op)
            values[target] = out if values[target] is None else values[target] + out
        return values[3] if values[3] is not None else torch.zeros_like(x)


class ResidualReduction(nn.Module):
    """ResNet basic block with stride 2 between stages (fixed, not searched)."""

    def __init__(self, c_in: int, c_out: int, bn: str):
        super().__init__()
        self.conv_a = ReLUConvBN(c_in, c_out, 3, 2, bn)
        self.conv_b = ReLUConvBN(c_out, c_out, 3, 1, bn)
        self.shortcut = nn.Sequential(nn.AvgPool2d(2, stride=2), nn.Conv2d(c_in, c_out, 1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shortcut(x) + self.conv_b(self.conv_a(x))


class NasBench201Network(nn.Module):
    """Stem, three stages of ``cells_per_stage`` cells (C, 2C, 4C) with reductions, then the head.

    ``candidates[e]`` lists the choices built on edge ``e`` (all for the supernet, one for a
    subnet), each edge built by ``make_edge(candidates[e], width, bn)``; ``forward(x, arch)`` runs
    the architecture whose edge ``e`` uses ``arch.ops[e]``.
    """

    def __init__(self, candidates: Sequence[Sequence[str]], channels: int = 16, cells_per_stage: int = 5,
                 num_classes: int = 10, in_channels: int = 3, bn: str = "batch", make_edge: EdgeFactory = CandidateOps):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_channels, channels, 3, padding=1, bias=False), batch_norm(channels, bn))
        cells: list[nn.Module] = []
        for stage, width in enumerate((channels, 2 * channels, 4 * channels)):
            if stage > 0:
                cells.append(ResidualReduction(width // 2, width, bn))
            cells.extend(SearchCell([make_edge(choices, width, bn) for choices in candidates]) for _ in range(cells_per_stage))
        self.cells = nn.ModuleList(cells)
        self.head = nn.Sequential(batch_norm(4 * channels, bn), nn.ReLU(inplace=False))
        self.classifier = nn.Linear(4 * channels, num_classes)

    def forward(self, x: torch.Tensor, arch) -> torch.Tensor:
        ops = arch.ops
        x = self.stem(x)
        for cell in self.cells:
            x = cell(x, ops) if isinstance(cell, SearchCell) else cell(x)
        x = self.head(x).mean(dim=(2, 3))
        return self.classifier(x)
