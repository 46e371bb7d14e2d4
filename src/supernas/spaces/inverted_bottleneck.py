"""The layers MixPath S1 and the MobileNet space share: an inverted bottleneck whose expansion rate
and summed depthwise kernels are searched (:class:`~supernas.nn.mixpath.MixPathLayer`). Here
are its choice (written ``e<t>_k<k>.<k>``), its parsing, its cost, the option checks both
spaces make, and MobileNet's width and resolution arithmetic."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from supernas.errors import SupernasError
from supernas.nn.mixpath import BLOCKS, EXPANSION_RATES, KERNELS
from supernas.nn.shadow_bn import SBN_MODES

_LAYER = re.compile(r"e([1-9][0-9]*)_k([1-9][0-9]*(?:\.[1-9][0-9]*)*)")
"""One layer: ASCII decimal numbers without leading zeros (matched whole, with ``fullmatch``)."""


@dataclass(frozen=True)
class LayerChoice:
    """One layer's choice: expansion rate and depthwise kernel sizes (ascending, distinct)."""

    expansion: int
    kernels: tuple[int, ...]

    def __str__(self) -> str:
        return f"e{self.expansion}_k" + ".".join(map(str, self.kernels))


def parse_layer(text: str, max_paths: int) -> LayerChoice:
    """One layer written as ``e<t>_k<k>.<k>...``; ``ValueError`` says what is wrong with it."""
    match = _LAYER.fullmatch(text)
    if not match:
        raise ValueError("expected e<t>_k<kernels>, e.g. e6_k3.7")
    expansion, kernels = int(match.group(1)), [int(k) for k in match.group(2).split(".")]
    if expansion not in EXPANSION_RATES:
        raise ValueError(f"expansion rate {expansion} is not one of {EXPANSION_RATES}")
    if not set(kernels) <= set(KERNELS):
        raise ValueError(f"kernels {kernels} are not all in {KERNELS}")
    if len(set(kernels)) != len(kernels) or len(kernels) > max_paths:
        raise ValueError(f"kernels {kernels} must be 1..{max_paths} distinct sizes")
    return LayerChoice(expansion, tuple(sorted(kernels)))


def check_multipath_options(space: str, kernels: Sequence[int], max_paths: int, bn: str, block: str,
                            width_mult: float) -> None:
    """One-line errors for the options every space of MixPath layers shares."""
    if not 1 <= max_paths <= len(kernels):
        raise SupernasError(f"max_paths must be in 1..{len(kernels)}, got {max_paths}")
    if bn not in SBN_MODES:
        raise SupernasError(f"unknown bn {bn!r} for {space}; expected one of {', '.join(SBN_MODES)}")
    if block not in BLOCKS:
        raise SupernasError(f"unknown block {block!r} for {space}; expected one of {', '.join(BLOCKS)}")
    if width_mult <= 0:
        raise SupernasError(f"width_mult must be positive, got {width_mult}")


def inverted_bottleneck_cost(c_in: int, c_out: int, layer: LayerChoice, side: int, out_side: int, area) -> int:
    """Multiply-adds (``area(side) = side²``) or weights (``area = 1``) of one inverted-bottleneck
    layer of MixPath layers: the 1x1 expansion, the summed depthwise kernels, the 1x1 projection."""
    mid = c_in * layer.expansion
    return c_in * mid * area(side) + (sum(k * k for k in layer.kernels) + c_out) * mid * area(out_side)


def scaled_width(channels: int, width_mult: float, divisor: int = 8) -> int:
    """``channels * width_mult`` rounded to a multiple of ``divisor`` (at least ``divisor``,
    never more than 10% below the exact value), as in MobileNet."""
    exact = channels * width_mult
    width = max(divisor, int(exact + divisor / 2) // divisor * divisor)
    return width + divisor if width < 0.9 * exact else width


def output_side(side: int, stride: int) -> int:
    """Spatial side after a convolution with an odd kernel ``k``, padding ``k // 2`` and ``stride``."""
    return (side - 1) // stride + 1
