"""The NAS-Bench-201 cell space: 6 edges x 5 ops = 15,625 cells, with ground truth.

Architectures are written as the official string
``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|`` (node 1's edge, node 2's two, node 3's three; ``~i``
names the source node). Genes are the op indices on the six edges in that order.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from torch import nn

from supernas.errors import SupernasError
from supernas.nn.fixed import FixedArchitecture
from supernas.nn.nasbench201 import BN_MODES, EDGES, OPS, CandidateOps, NasBench201Network, edge_ops
from supernas.spaces.base import Space
from supernas.spaces.registry import register_space

_NODE = r"\|((?:[a-z0-9_+]+~[0-9]\|)+)"
_STRING = re.compile(rf"{_NODE}\+{_NODE}\+{_NODE}")
"""The official layout, matched whole (``fullmatch``), ASCII only."""


@dataclass(frozen=True)
class NasBench201Arch:
    """A NAS-Bench-201 cell: ``ops[e]`` is the op on edge ``EDGES[e]``."""

    ops: tuple[str, ...]

    def __str__(self) -> str:
        nodes = []
        for target in (1, 2, 3):
            nodes.append("|" + "".join(f"{op}~{source}|" for (t, source), op in zip(EDGES, self.ops) if t == target))
        return "+".join(nodes)

    def count(self, op: str) -> int:
        """How many edges use ``op``."""
        return self.ops.count(op)


def parse_cell(text: str, read_choice: Callable[[str], str]) -> NasBench201Arch:
    """Parse a cell written in the official layout; ``read_choice`` checks one edge's choice and
    returns its canonical form, raising ``ValueError`` that names what is wrong with it.
    ``SupernasError`` names what is wrong with a malformed string."""
    text = text.strip()
    match = _STRING.fullmatch(text)
    if not match:
        raise SupernasError(f"malformed NAS-Bench-201 architecture {text!r}: expected '|op~0|+|op~0|op~1|+|op~0|op~1|op~2|'")
    ops = []
    for target, group in zip((1, 2, 3), match.groups()):
        entries = group.strip("|").split("|")
        if len(entries) != target:
            raise SupernasError(f"malformed NAS-Bench-201 architecture {text!r}: node {target} needs {target} inputs, got {len(entries)}")
        for source, entry in enumerate(entries):
            op, _, written_source = entry.partition("~")
            try:
                ops.append(read_choice(op))
            except ValueError as error:
                raise SupernasError(f"{error} in NAS-Bench-201 architecture {text!r}") from None
            if int(written_source) != source:
                raise SupernasError(f"malformed NAS-Bench-201 architecture {text!r}: input {source} of node {target} is written as ~{written_source}")
    return NasBench201Arch(tuple(ops))


def read_op(op: str) -> str:
    """``op`` if it is a NAS-Bench-201 op, else ``ValueError``."""
    if op not in OPS:
        raise ValueError(f"unknown op {op!r} (ops are {', '.join(OPS)})")
    return op


def parse_nasbench201(text: str) -> NasBench201Arch:
    """Parse the official string; ``SupernasError`` names what is wrong with a malformed one."""
    return parse_cell(text, read_op)


def edge_kernel_terms(choice: str) -> int:
    """Conv weights of an edge choice per (channels x channels): 1 per 1x1 conv, 9 per 3x3 conv."""
    per_op = {"nor_conv_1x1": 1, "nor_conv_3x3": 9}
    return sum(per_op.get(op, 0) for op in edge_ops(choice))


@register_space("nasbench201")
class NasBench201Space(Space):
    """NAS-Bench-201 (NATS-Bench TSS) cell space on the CIFAR macro skeleton.

    Options: ``channels`` (C of the first stage, 16), ``cells_per_stage`` (N, 5), ``bn``
    (``batch``: batch statistics only, the reference recipe; ``running``: affine + running
    statistics, calibrated before scoring), ``split_edge`` (edge index 0..5 whose op selects
    the group of grouping ``split_edge``, the default of momentum separation), and the
    dataset-dependent ``num_classes``, ``in_channels``, ``image_size`` (filled in from the data
    by the trainer). Groupings: ``split_edge`` and ``edge0``..``edge5`` (the op on that edge).
    """

    name = "nasbench201"
    default_ground_truth = "nasbench201.csv"
    edge_choices: tuple[str, ...] = OPS
    """What an edge can be, in gene order."""

    def __init__(self, channels: int = 16, cells_per_stage: int = 5, bn: str = "batch", split_edge: int = 0,
                 num_classes: int = 10, in_channels: int = 3, image_size: int = 32):
        if bn not in BN_MODES:
            raise SupernasError(f"unknown BN mode {bn!r} for nasbench201; expected one of {', '.join(BN_MODES)}")
        if not 0 <= split_edge < len(EDGES):
            raise SupernasError(f"split_edge must be in 0..{len(EDGES) - 1}, got {split_edge}")
        if channels < 1 or cells_per_stage < 1:
            raise SupernasError("channels and cells_per_stage must be positive")
        self.channels, self.cells_per_stage, self.bn, self.split_edge = channels, cells_per_stage, bn, split_edge
        self.num_classes, self.in_channels, self.image_size = num_classes, in_channels, image_size

    @property
    def needs_calibration(self) -> bool:
        """Whether BN running statistics must be recomputed per subnet before scoring."""
        return self.bn == "running"

    def describe(self) -> dict:
        return {"name": self.name, "channels": self.channels, "cells_per_stage": self.cells_per_stage, "bn": self.bn,
                "split_edge": self.split_edge, "num_classes": self.num_classes, "in_channels": self.in_channels,
                "image_size": self.image_size}

    def parse(self, text: str) -> NasBench201Arch:
        return parse_nasbench201(text)

    @property
    def gene_choices(self) -> tuple[int, ...]:
        return (len(self.edge_choices),) * len(EDGES)

    def encode(self, arch: NasBench201Arch) -> tuple[int, ...]:
        return tuple(self.edge_choices.index(op) for op in arch.ops)

    def decode(self, genes: Sequence[int]) -> NasBench201Arch:
        choices = len(self.edge_choices)
        if len(genes) != len(EDGES) or not all(0 <= g < choices for g in genes):
            raise SupernasError(f"NAS-Bench-201 genes must be {len(EDGES)} integers in 0..{choices - 1}, got {list(genes)}")
        return NasBench201Arch(tuple(self.edge_choices[g] for g in genes))

    # -- costs ---------------------------------------------------------------------------
    def _stage_terms(self) -> tuple[list[int], list[int]]:
        """Per stage: channel width and spatial side."""
        widths = [self.channels * 2**s for s in range(3)]
        sides = [max(1, self.image_size // 2**s) for s in range(3)]
        return widths, sides

    def complexity(self, arch: NasBench201Arch, measure: str = "params") -> float:
        """Conv and linear weights (``params``) or multiply-adds (``flops``) of the cell network.

        Counts every conv edge of the cell (also those cut off by ``none`` edges), as the
        reference complexity does. With the defaults, ``params`` ranges 72,752..1,524,272.
        """
        if measure not in ("params", "flops"):
            raise SupernasError(f"unknown complexity measure {measure!r}; expected params or flops")
        widths, sides = self._stage_terms()
        kernel_terms = sum(map(edge_kernel_terms, arch.ops))
        area = (lambda side: side * side) if measure == "flops" else (lambda side: 1)
        total = 9 * self.in_channels * widths[0] * area(sides[0])
        total += sum(kernel_terms * self.cells_per_stage * w * w * area(s) for w, s in zip(widths, sides))
        for c_in, c_out, side in ((widths[0], widths[1], sides[1]), (widths[1], widths[2], sides[2])):
            total += (9 * c_in * c_out + 9 * c_out * c_out + c_in * c_out) * area(side)
        return float(total + widths[2] * self.num_classes)

    def complexity_range(self, measure: str = "params") -> tuple[float, float]:
        """The cells with the fewest and the most conv weights on every edge."""
        smallest, largest = (extreme(self.edge_choices, key=edge_kernel_terms) for extreme in (min, max))
        return (self.complexity(NasBench201Arch((smallest,) * len(EDGES)), measure),
                self.complexity(NasBench201Arch((largest,) * len(EDGES)), measure))

    # -- groupings (momentum separation, few-shot NAS) -----------------------------------
    def num_groups(self, grouping: str = "split_edge") -> int:
        self.grouping_edge(grouping)
        return len(self.edge_choices)

    def group(self, arch: NasBench201Arch, grouping: str = "split_edge") -> int:
        """The index of the op on the grouping's edge (``split_edge``: the DYNAS reference grouping, K = 5)."""
        return self.edge_choices.index(arch.ops[self.grouping_edge(grouping)])

    def group_genes(self, grouping: str = "split_edge") -> tuple[int, ...]:
        return (self.grouping_edge(grouping),)

    def grouping_edge(self, grouping: str) -> int:
        """The edge whose op decides the group: ``split_edge`` (the space option) or ``edge0``..``edge5``."""
        if grouping == "split_edge":
            return self.split_edge
        named = {f"edge{index}": index for index in range(len(EDGES))}
        if grouping not in named:
            raise SupernasError(f"unknown grouping {grouping!r} for nasbench201; available: split_edge, {', '.join(named)}")
        return named[grouping]

    # -- networks ------------------------------------------------------------------------
    def make_edge(self, choices: Sequence[str], channels: int, bn: str) -> nn.Module:
        """The module of an edge holding ``choices``."""
        return CandidateOps(choices, channels, bn)

    def _network(self, candidates: Sequence[Sequence[str]]) -> NasBench201Network:
        return NasBench201Network(candidates, self.channels, self.cells_per_stage, self.num_classes,
                                  self.in_channels, self.bn, self.make_edge)

    def build_supernet(self) -> NasBench201Network:
        return self._network([self.edge_choices] * len(EDGES))

    def build_subnet(self, arch: NasBench201Arch) -> FixedArchitecture:
        """A standalone network holding only ``arch``'s ops; parameter names match the supernet's
        after the ``network.`` prefix."""
        return FixedArchitecture(self._network([(op,) for op in arch.ops]), arch)
