"""NAS-Bench-201 with multi-path edges: each edge sums 1..m of the four non-``none`` ops, or is ``none``.

Cells are written like the official string, an edge's ops joined by ``+`` in the order
``skip_connect, nor_conv_1x1, nor_conv_3x3, avg_pool_3x3``:
``|nor_conv_3x3+skip_connect~0|+...`` is written ``|skip_connect+nor_conv_3x3~0|+...``.
Each non-``none`` edge sums its ops and normalises the sum with a Shadow BN over the number of
active ops. Every single-path NAS-Bench-201 cell is a member of the space (scored with its
ground truth, it shows what the Shadow BN does to a multi-path supernet's ranking); with
``max_paths=1`` the space is NAS-Bench-201 with one BN after each edge. Genes: per edge, the
index of its choice in ``("none", single ops..., pairs..., ...)``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import torch
from torch import nn

from supernas.errors import SupernasError
from supernas.nn.nasbench201 import EDGES, OP_SEPARATOR, PATH_OPS, MultiPathEdge, edge_ops
from supernas.nn.shadow_bn import SBN_MODES, allowed_subsets
from supernas.spaces.base import draw_subset, uniform_index
from supernas.spaces.nasbench201 import NasBench201Arch, NasBench201Space, parse_cell
from supernas.spaces.registry import register_space


def multipath_edge_choices(max_paths: int) -> tuple[str, ...]:
    """``none``, then every set of 1..``max_paths`` of :data:`PATH_OPS` (by size, then order)."""
    return ("none",) + tuple(OP_SEPARATOR.join(PATH_OPS[i] for i in subset)
                             for subset in allowed_subsets(len(PATH_OPS), max_paths))


def read_multipath_choice(choice: str, max_paths: int) -> str:
    """The canonical form of an edge choice (ops in :data:`PATH_OPS` order), or ``ValueError``."""
    ops = edge_ops(choice)
    if ops == ("none",):
        return choice
    unknown = [op for op in ops if op not in PATH_OPS]
    if unknown:
        raise ValueError(f"unknown op {unknown[0]!r} (an edge is none or 1..{max_paths} of {', '.join(PATH_OPS)})")
    if len(set(ops)) != len(ops) or len(ops) > max_paths:
        raise ValueError(f"edge {choice!r} must have 1..{max_paths} distinct ops")
    return OP_SEPARATOR.join(op for op in PATH_OPS if op in ops)


@register_space("nasbench201-multipath")
class NasBench201MultiPathSpace(NasBench201Space):
    """NAS-Bench-201 with multi-path edges (1..m ops summed, then Shadow BN); single-path cells are members.

    Options: ``max_paths`` (m, 1..4, default 2), ``sbn`` (normalisation of an edge's sum:
    ``linear``, ``exponential``, ``shared`` or ``scaling``, see ``supernas.nn.shadow_bn``), and
    the options of ``nasbench201`` except that ``bn`` defaults to ``running`` (with ``batch``
    the Shadow BNs have neither affine parameters nor statistics, so all modes are the same).
    """

    name = "nasbench201-multipath"
    default_ground_truth = None

    def __init__(self, max_paths: int = 2, sbn: str = "linear", channels: int = 16, cells_per_stage: int = 5,
                 bn: str = "running", split_edge: int = 0, num_classes: int = 10, in_channels: int = 3,
                 image_size: int = 32):
        super().__init__(channels, cells_per_stage, bn, split_edge, num_classes, in_channels, image_size)
        if not 1 <= max_paths <= len(PATH_OPS):
            raise SupernasError(f"max_paths must be in 1..{len(PATH_OPS)}, got {max_paths}")
        if sbn not in SBN_MODES:
            raise SupernasError(f"unknown sbn {sbn!r} for {self.name}; expected one of {', '.join(SBN_MODES)}")
        self.max_paths, self.sbn = max_paths, sbn
        self.edge_choices = multipath_edge_choices(max_paths)

    def describe(self) -> dict:
        return {**super().describe(), "max_paths": self.max_paths, "sbn": self.sbn}

    def parse(self, text: str) -> NasBench201Arch:
        return parse_cell(text, functools.partial(read_multipath_choice, max_paths=self.max_paths))

    def sample(self, generator: torch.Generator) -> NasBench201Arch:
        """MixPath sampling per edge: ``none`` with probability 1/5 (as likely as each op in
        NAS-Bench-201), else ``m'`` uniform in 1..m, then ``m'`` distinct ops uniformly."""
        choices = []
        for _ in EDGES:
            if uniform_index(len(PATH_OPS) + 1, generator) == 0:
                choices.append("none")
            else:
                chosen = draw_subset(len(PATH_OPS), 1 + uniform_index(self.max_paths, generator), generator)
                choices.append(OP_SEPARATOR.join(PATH_OPS[i] for i in chosen))
        return NasBench201Arch(tuple(choices))

    def active_paths(self, arch: NasBench201Arch) -> int:
        """Mean number of ops per non-``none`` edge, rounded half up (0 when every edge is ``none``)."""
        counts = [len(edge_ops(choice)) for choice in arch.ops if choice != "none"]
        return math.floor(sum(counts) / len(counts) + 0.5) if counts else 0

    def make_edge(self, choices: Sequence[str], channels: int, bn: str) -> nn.Module:
        return MultiPathEdge(choices, channels, bn, self.max_paths, self.sbn)
