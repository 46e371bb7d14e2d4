"""MixPath search space S1 (CIFAR-10): 12 inverted-bottleneck layers with multi-path depthwise convs.

Each layer chooses an expansion rate ``t`` in {3, 6} (separate weights per rate) and a
non-empty set of at most ``m`` depthwise kernels from {3, 5, 7, 9}, whose branches are summed
and normalised by a Shadow BN. An architecture is written layer by layer as ``e<t>_k<kernels>``,
kernels ascending and joined by ``.``, layers joined by ``-``:
``e6_k3.7-e3_k5-e3_k3.5.9-...``. Genes: per layer, the index of ``t`` in (3, 6), then the index
of the kernel set among the allowed sets (ordered by size, then lexicographically).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from supernas.errors import SupernasError
from supernas.nn.fixed import FixedArchitecture
from supernas.nn.mixpath import EXPANSION_RATES, KERNELS, MixPathNetwork
from supernas.nn.shadow_bn import allowed_subsets
from supernas.spaces.base import Space, draw_subset, uniform_index
from supernas.spaces.inverted_bottleneck import (LayerChoice, check_multipath_options, inverted_bottleneck_cost, output_side,
                                                 parse_layer, scaled_width)
from supernas.spaces.registry import register_space

S1_WIDTHS = (32, 48, 48, 96, 96, 96, 192, 192, 192, 256, 256, 320, 320)
"""Channels: stem output, then the output of each of the 12 layers."""
S1_STRIDE_TWO_LAYERS = (2, 5)
S1_HEAD_WIDTH = 1280


@dataclass(frozen=True)
class MixPathArch:
    """A MixPath S1 architecture: one :class:`LayerChoice` per searchable layer."""

    layers: tuple[LayerChoice, ...]

    def __str__(self) -> str:
        return "-".join(map(str, self.layers))


def parse_mixpath(text: str, depth: int, max_paths: int) -> MixPathArch:
    """Parse ``e6_k3.7-e3_k5-...`` (``depth`` layers); one ``SupernasError`` names what is wrong."""
    parts = text.strip().split("-")
    if len(parts) != depth:
        raise SupernasError(f"malformed MixPath S1 architecture {text!r}: expected {depth} layers joined by '-', "
                            f"got {len(parts)}")
    layers = []
    for index, part in enumerate(parts):
        try:
            layers.append(parse_layer(part, max_paths))
        except ValueError as error:
            raise SupernasError(f"malformed MixPath S1 architecture {text!r}: layer {index} {part!r}: {error}") from None
    return MixPathArch(tuple(layers))


@register_space("mixpath-s1")
class MixPathS1Space(Space):
    """MixPath S1: 12 inverted-bottleneck layers, t in {3, 6} x 1..m kernels of {3, 5, 7, 9}.

    Options: ``max_paths`` (m, 1..4, default 4), ``bn`` (normalisation after the summed paths:
    ``linear`` Shadow BN, one BN per number of paths; ``exponential``, one per kernel set;
    ``shared``, one BN; ``scaling``, the sum divided by its number of paths, then one BN),
    ``block`` (``reference``, the default: MixPath's own block, per-kernel depthwise
    conv-BN-ReLU6 branches summed, then the 1x1 projection, then the Shadow BN; ``fused``: a
    faster block of another form, conv-only branches summed as one depthwise conv, then the
    Shadow BN, ReLU6 and the projection; ``naive``: the ``fused`` block branch by branch),
    ``width_mult`` (channel scale, widths rounded to multiples of 8), ``depth`` (the first
    ``depth`` of the 12 layers, keeping their channels and strides; the head follows),
    ``split_layer`` (the layer whose number of active paths is the group of grouping
    ``paths``), and the dataset-dependent ``num_classes``, ``in_channels``, ``image_size``.
    """

    name = "mixpath-s1"
    former_defaults = {"block": "fused"}

    def __init__(self, max_paths: int = 4, bn: str = "linear", block: str = "reference", width_mult: float = 1.0,
                 depth: int = 12, split_layer: int = 0, num_classes: int = 10, in_channels: int = 3,
                 image_size: int = 32):
        check_multipath_options(self.name, KERNELS, max_paths, bn, block, width_mult)
        if not 1 <= depth <= len(S1_WIDTHS) - 1:
            raise SupernasError(f"depth must be in 1..{len(S1_WIDTHS) - 1}, got {depth}")
        if not 0 <= split_layer < depth:
            raise SupernasError(f"split_layer must be in 0..{depth - 1}, got {split_layer}")
        self.max_paths, self.bn, self.block, self.width_mult = max_paths, bn, block, width_mult
        self.depth, self.split_layer = depth, split_layer
        self.num_classes, self.in_channels, self.image_size = num_classes, in_channels, image_size
        self.kernel_sets = tuple(tuple(KERNELS[i] for i in subset) for subset in allowed_subsets(len(KERNELS), max_paths))
        self.widths = tuple(scaled_width(c, width_mult) for c in S1_WIDTHS[:depth + 1])
        self.strides = tuple(2 if i in S1_STRIDE_TWO_LAYERS else 1 for i in range(depth))
        self.head_width = scaled_width(S1_HEAD_WIDTH, width_mult)

    @property
    def needs_calibration(self) -> bool:
        """Always: every BN keeps running statistics, recomputed per subnet before scoring."""
        return True

    def describe(self) -> dict:
        return {"name": self.name, "max_paths": self.max_paths, "bn": self.bn, "block": self.block,
                "width_mult": self.width_mult, "depth": self.depth, "split_layer": self.split_layer,
                "num_classes": self.num_classes, "in_channels": self.in_channels, "image_size": self.image_size}

    # -- architectures -------------------------------------------------------------------
    def parse(self, text: str) -> MixPathArch:
        return parse_mixpath(text, self.depth, self.max_paths)

    @property
    def gene_choices(self) -> tuple[int, ...]:
        return (len(EXPANSION_RATES), len(self.kernel_sets)) * self.depth

    def encode(self, arch: MixPathArch) -> tuple[int, ...]:
        return tuple(gene for layer in arch.layers
                     for gene in (EXPANSION_RATES.index(layer.expansion), self.kernel_sets.index(layer.kernels)))

    def decode(self, genes: Sequence[int]) -> MixPathArch:
        choices = self.gene_choices
        if len(genes) != len(choices) or not all(0 <= g < n for g, n in zip(genes, choices)):
            raise SupernasError(f"MixPath S1 genes must be {len(choices)} integers, alternately in "
                                f"0..{choices[0] - 1} and 0..{choices[1] - 1}, got {list(genes)}")
        return MixPathArch(tuple(LayerChoice(EXPANSION_RATES[genes[i]], self.kernel_sets[genes[i + 1]])
                                 for i in range(0, len(genes), 2)))

    def sample(self, generator: torch.Generator) -> MixPathArch:
        """MixPath sampling: per layer, ``m'`` uniform in 1..m, then ``t`` uniform and ``m'``
        distinct kernels uniformly (not uniform over genes, which favours mid-sized sets)."""
        return MixPathArch(tuple(self.sample_layer(1 + uniform_index(self.max_paths, generator), generator)
                                 for _ in range(self.depth)))

    def sample_with_paths(self, paths: int, generator: torch.Generator) -> MixPathArch:
        """An architecture with exactly ``paths`` kernels in every layer (rates and kernels uniform)."""
        if not 1 <= paths <= self.max_paths:
            raise SupernasError(f"paths must be in 1..{self.max_paths}, got {paths}")
        return MixPathArch(tuple(self.sample_layer(paths, generator) for _ in range(self.depth)))

    @staticmethod
    def sample_layer(paths: int, generator: torch.Generator) -> LayerChoice:
        """A layer with ``t`` uniform and ``paths`` distinct kernels drawn uniformly."""
        expansion = EXPANSION_RATES[uniform_index(len(EXPANSION_RATES), generator)]
        return LayerChoice(expansion, tuple(KERNELS[i] for i in draw_subset(len(KERNELS), paths, generator)))

    def active_paths(self, arch: MixPathArch) -> int:
        """Mean number of depthwise kernels per layer, rounded half up."""
        return math.floor(sum(len(layer.kernels) for layer in arch.layers) / len(arch.layers) + 0.5)

    # -- costs ---------------------------------------------------------------------------
    def complexity(self, arch: MixPathArch, measure: str = "params") -> float:
        """Conv and linear weights (``params``) or their multiply-adds (``flops``) of the subnet.

        BN parameters and biases are not counted. FLOPs count each active depthwise branch
        (``k²`` per output value), as the reference block runs them; the fused block computes
        the same sum with ``max(k)²``.
        """
        if measure not in ("params", "flops"):
            raise SupernasError(f"unknown complexity measure {measure!r}; expected params or flops")
        area = (lambda side: side * side) if measure == "flops" else (lambda side: 1)
        side = self.image_size
        total = 9 * self.in_channels * self.widths[0] * area(side)
        for c_in, c_out, stride, layer in zip(self.widths, self.widths[1:], self.strides, arch.layers):
            out_side = output_side(side, stride)
            total += inverted_bottleneck_cost(c_in, c_out, layer, side, out_side, area)
            side = out_side
        return float(total + self.widths[-1] * self.head_width * area(side) + self.head_width * self.num_classes)

    def complexity_range(self, measure: str = "params") -> tuple[float, float]:
        smallest = LayerChoice(min(EXPANSION_RATES), (min(KERNELS),))
        largest = LayerChoice(max(EXPANSION_RATES), KERNELS[-self.max_paths:])
        return (self.complexity(MixPathArch((smallest,) * self.depth), measure),
                self.complexity(MixPathArch((largest,) * self.depth), measure))

    # -- groupings (momentum separation) -------------------------------------------------
    def num_groups(self, grouping: str = "paths") -> int:
        self._check_grouping(grouping)
        return self.max_paths

    def group(self, arch: MixPathArch, grouping: str = "paths") -> int:
        """Number of active paths in layer ``split_layer``, minus one (K = m groups, equally
        likely under MixPath sampling)."""
        self._check_grouping(grouping)
        return len(arch.layers[self.split_layer].kernels) - 1

    def group_genes(self, grouping: str = "paths") -> tuple[int, ...]:
        self._check_grouping(grouping)
        return (2 * self.split_layer + 1,)

    def _check_grouping(self, grouping: str) -> None:
        if grouping != "paths":
            raise SupernasError(f"unknown grouping {grouping!r} for mixpath-s1; available: paths")

    # -- networks ------------------------------------------------------------------------
    def _network(self, candidates: Sequence[tuple[Sequence[int], Sequence[int]]]) -> MixPathNetwork:
        return MixPathNetwork(self.widths, self.strides, self.head_width, candidates, self.max_paths, self.bn,
                              self.block, self.num_classes, self.in_channels)

    def build_supernet(self) -> MixPathNetwork:
        return self._network([(EXPANSION_RATES, KERNELS)] * self.depth)

    def build_subnet(self, arch: MixPathArch) -> FixedArchitecture:
        """A standalone network of the chosen rate and kernels per layer (with the Shadow BNs of
        that rate); parameter names match the supernet's after the ``network.`` prefix."""
        return FixedArchitecture(self._network([((layer.expansion,), layer.kernels) for layer in arch.layers]), arch)
