"""MobileNet-style ImageNet space (MixPath's S2/S3 spaces; ProxylessNAS-like): 21 searchable layers.

Stages of MobileNetV2 inverted-bottleneck layers with widths 24/40/80/96/192/320, strides
2/2/2/1/2/1 and 4/4/4/4/4/1 layers, after an ImageNet stem (3x3 convolution, stride 2, to 32
channels) and MobileNetV2's first block (to 16). Each layer chooses an expansion rate in {3, 6}
and 1..m depthwise kernels of {3, 5, 7} (summed, then a Shadow BN: MixPath S2; m = 1 is the
single-path S3 / ProxylessNAS space); every layer but the first of a stage may instead be
skipped. Architectures are written layer by layer like MixPath S1's, ``skip`` for a skipped
layer: ``e6_k3-e3_k5.7-skip-...``. Genes: one per layer, ``skip`` (where allowed) then every
(rate, kernel set) pair, rate-major, kernel sets ordered by size then lexicographically.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from supernas.errors import SupernasError
from supernas.nn.fixed import FixedArchitecture
from supernas.nn.mixpath import EXPANSION_RATES
from supernas.nn.mobilenet import MobileNetNetwork
from supernas.nn.shadow_bn import allowed_subsets
from supernas.spaces.base import Space, draw_subset, uniform_index
from supernas.spaces.inverted_bottleneck import (LayerChoice, check_multipath_options, inverted_bottleneck_cost, output_side,
                                                 parse_layer, scaled_width)
from supernas.spaces.registry import register_space

MOBILENET_KERNELS = (3, 5, 7)
STEM_WIDTH, FIRST_WIDTH, HEAD_WIDTH = 32, 16, 1280
STAGES = ((24, 2, 4), (40, 2, 4), (80, 2, 4), (96, 1, 4), (192, 2, 4), (320, 1, 1))
"""(width, stride of the first layer, number of layers) of each stage."""
SKIP = "skip"


@dataclass(frozen=True)
class MobileNetArch:
    """One :class:`LayerChoice` per searchable layer, ``None`` where the layer is skipped."""

    layers: tuple[LayerChoice | None, ...]

    def __str__(self) -> str:
        return "-".join(SKIP if layer is None else str(layer) for layer in self.layers)


@register_space("mobilenet")
class MobileNetSpace(Space):
    """MobileNet-style ImageNet space: 21 layers, t in {3, 6} x 1..m kernels of {3, 5, 7}, or skip.

    Options: ``max_paths`` (m, 1..3, default 1: one kernel per layer), ``bn`` and ``block`` as
    for ``mixpath-s1`` (``block`` defaults to the faster ``fused`` here), ``width_mult`` (channel scale, multiples of 8), ``stage_layers`` (at
    most this many layers per stage, 1..4: a shallower space), ``skip`` (allow skipping the
    non-first layers of a stage), and the dataset-dependent ``num_classes``, ``in_channels``,
    ``image_size``.
    """

    name = "mobilenet"

    def __init__(self, max_paths: int = 1, bn: str = "linear", block: str = "fused", width_mult: float = 1.0,
                 stage_layers: int = 4, skip: bool = True, num_classes: int = 1000, in_channels: int = 3,
                 image_size: int = 224):
        check_multipath_options(self.name, MOBILENET_KERNELS, max_paths, bn, block, width_mult)
        if not 1 <= stage_layers <= 4:
            raise SupernasError(f"stage_layers must be in 1..4, got {stage_layers}")
        self.max_paths, self.bn, self.block, self.width_mult = max_paths, bn, block, width_mult
        self.stage_layers, self.skip = stage_layers, skip
        self.num_classes, self.in_channels, self.image_size = num_classes, in_channels, image_size
        self.kernel_sets = tuple(tuple(MOBILENET_KERNELS[i] for i in subset)
                                 for subset in allowed_subsets(len(MOBILENET_KERNELS), max_paths))
        layers = [(width, stride if i == 0 else 1, i > 0) for width, stride, count in STAGES
                  for i in range(min(count, stage_layers))]
        self.stem_width = scaled_width(STEM_WIDTH, width_mult)
        self.widths = (scaled_width(FIRST_WIDTH, width_mult),) + tuple(scaled_width(w, width_mult) for w, _, _ in layers)
        self.strides = tuple(stride for _, stride, _ in layers)
        self.skippable = tuple(skip and can_skip for _, _, can_skip in layers)
        self.head_width = scaled_width(HEAD_WIDTH, width_mult) if width_mult > 1 else HEAD_WIDTH
        self.layer_choices = tuple(LayerChoice(t, kernels) for t in EXPANSION_RATES for kernels in self.kernel_sets)

    @property
    def needs_calibration(self) -> bool:
        """Always: every BN keeps running statistics, recomputed per subnet before scoring."""
        return True

    @property
    def depth(self) -> int:
        return len(self.strides)

    def describe(self) -> dict:
        return {"name": self.name, "max_paths": self.max_paths, "bn": self.bn, "block": self.block,
                "width_mult": self.width_mult, "stage_layers": self.stage_layers, "skip": self.skip,
                "num_classes": self.num_classes, "in_channels": self.in_channels, "image_size": self.image_size}

    # -- architectures -------------------------------------------------------------------
    def parse(self, text: str) -> MobileNetArch:
        parts = text.strip().split("-")
        if len(parts) != self.depth:
            raise SupernasError(f"malformed mobilenet architecture {text!r}: expected {self.depth} layers joined by "
                                f"'-', got {len(parts)}")
        return MobileNetArch(tuple(self._parse_layer(index, part, text) for index, part in enumerate(parts)))

    def _parse_layer(self, index: int, part: str, text: str) -> LayerChoice | None:
        """Layer ``index`` written as ``part`` (``skip`` or ``e<t>_k<kernels>``)."""
        try:
            if part == SKIP:
                if not self.skippable[index]:
                    raise ValueError("this layer changes stride or width and cannot be skipped")
                return None
            layer = parse_layer(part, self.max_paths)
            if not set(layer.kernels) <= set(MOBILENET_KERNELS):
                raise ValueError(f"kernels {list(layer.kernels)} are not all in {MOBILENET_KERNELS}")
            return layer
        except ValueError as error:
            raise SupernasError(f"malformed mobilenet architecture {text!r}: layer {index} {part!r}: {error}") from None

    @property
    def gene_choices(self) -> tuple[int, ...]:
        return tuple(len(self.layer_choices) + skippable for skippable in self.skippable)

    def encode(self, arch: MobileNetArch) -> tuple[int, ...]:
        return tuple(0 if layer is None else self.layer_choices.index(layer) + skippable
                     for layer, skippable in zip(arch.layers, self.skippable))

    def decode(self, genes: Sequence[int]) -> MobileNetArch:
        choices = self.gene_choices
        if len(genes) != len(choices) or not all(0 <= g < n for g, n in zip(genes, choices)):
            raise SupernasError(f"mobilenet genes must be {len(choices)} integers, gene i in 0..choices[i]-1 "
                                f"with choices {list(choices)}, got {list(genes)}")
        return MobileNetArch(tuple(None if skippable and gene == 0 else self.layer_choices[gene - skippable]
                                   for gene, skippable in zip(genes, self.skippable)))

    def sample(self, generator: torch.Generator) -> MobileNetArch:
        """MixPath sampling: per layer ``m'`` uniform in 1..m (0..m where 0 skips the layer), then
        the rate uniformly and ``m'`` distinct kernels uniformly."""
        layers = []
        for skippable in self.skippable:
            paths = uniform_index(self.max_paths + skippable, generator) + 1 - skippable
            if paths == 0:
                layers.append(None)
                continue
            expansion = EXPANSION_RATES[uniform_index(len(EXPANSION_RATES), generator)]
            layers.append(LayerChoice(expansion, tuple(MOBILENET_KERNELS[i]
                                                       for i in draw_subset(len(MOBILENET_KERNELS), paths, generator))))
        return MobileNetArch(tuple(layers))

    def active_paths(self, arch: MobileNetArch) -> int:
        """Mean number of depthwise kernels per layer that runs, rounded half up."""
        kernels = [len(layer.kernels) for layer in arch.layers if layer is not None]
        return int(sum(kernels) / len(kernels) + 0.5)

    # -- costs ---------------------------------------------------------------------------
    def complexity(self, arch: MobileNetArch, measure: str = "params") -> float:
        """Conv and linear weights (``params``) or their multiply-adds (``flops``); BN
        parameters and biases are not counted, each active depthwise branch counts ``k²``."""
        if measure not in ("params", "flops"):
            raise SupernasError(f"unknown complexity measure {measure!r}; expected params or flops")
        area = (lambda side: side * side) if measure == "flops" else (lambda side: 1)
        side = output_side(self.image_size, 2)
        stem, first = self.stem_width, self.widths[0]
        total = 9 * self.in_channels * stem * area(side) + (9 * stem + stem * first) * area(side)
        for c_in, c_out, stride, layer in zip(self.widths, self.widths[1:], self.strides, arch.layers):
            if layer is None:
                continue
            out_side = output_side(side, stride)
            total += inverted_bottleneck_cost(c_in, c_out, layer, side, out_side, area)
            side = out_side
        return float(total + self.widths[-1] * self.head_width * area(side) + self.head_width * self.num_classes)

    def complexity_range(self, measure: str = "params") -> tuple[float, float]:
        smallest = LayerChoice(min(EXPANSION_RATES), (min(MOBILENET_KERNELS),))
        largest = LayerChoice(max(EXPANSION_RATES), MOBILENET_KERNELS[-self.max_paths:])
        return (self.complexity(MobileNetArch(tuple(None if s else smallest for s in self.skippable)), measure),
                self.complexity(MobileNetArch((largest,) * self.depth), measure))

    # -- networks ------------------------------------------------------------------------
    def _network(self, candidates: Sequence[tuple[Sequence[int], Sequence[int]]]) -> MobileNetNetwork:
        return MobileNetNetwork(self.stem_width, self.widths, self.strides, self.head_width, candidates,
                                MOBILENET_KERNELS, self.max_paths, self.bn, self.block, self.num_classes,
                                self.in_channels)

    def build_supernet(self) -> MobileNetNetwork:
        return self._network([(EXPANSION_RATES, MOBILENET_KERNELS)] * self.depth)

    def build_subnet(self, arch: MobileNetArch) -> FixedArchitecture:
        """A standalone network of the chosen layers (skipped ones hold no weights); parameter
        names match the supernet's after the ``network.`` prefix."""
        return FixedArchitecture(self._network([((), ()) if layer is None else ((layer.expansion,), layer.kernels)
                                                for layer in arch.layers]), arch)
