"""The interface every search space implements.

A space says what an architecture is (an immutable, hashable value with one canonical string),
how to sample, encode, mutate and cross architectures, how big each one is, and how to build
the supernet that holds the shared weights and a standalone subnet. A user's own space is one
new module that subclasses :class:`Space` and registers it with :func:`register_space`.
"""

from __future__ import annotations

import abc
import math
from collections.abc import Iterator, Sequence
from typing import Any, Hashable

import torch
from torch import nn

from supernas.errors import SupernasError

Architecture = Hashable
"""An architecture: immutable, hashable, with ``str(arch)`` its canonical string."""


def uniform_index(n: int, generator: torch.Generator) -> int:
    """A uniform integer in ``[0, n)`` drawn from a torch generator (CPU)."""
    return int(torch.randint(n, (1,), generator=generator))


def draw_uniform(generator: torch.Generator) -> float:
    """A uniform float in ``[0, 1)`` drawn from a torch generator (CPU)."""
    return float(torch.rand((), generator=generator))


def draw_subset(num_items: int, size: int, generator: torch.Generator) -> tuple[int, ...]:
    """``size`` distinct indices of ``range(num_items)`` drawn uniformly, ascending."""
    return tuple(sorted(torch.randperm(num_items, generator=generator)[:size].tolist()))


class Space(abc.ABC):
    """A search space: architectures, their genes and costs, and the networks that run them.

    Genes are a fixed-length list of integers, gene ``i`` in ``[0, gene_choices[i])``; every
    gene vector decodes to a valid architecture, so search operators never leave the space.
    """

    name: str = ""
    former_defaults: dict[str, Any] = {}
    """Options whose default changed, with the value they used to default to: a run directory
    whose checkpoint was trained with that value, and whose config leaves the option unset,
    keeps it (see ``supernas.runs.experiment.build_space``)."""
    default_ground_truth: str | None = None
    """The file name of the ground-truth table ``rank`` and ``search`` use when the run names
    none (looked for in the data directories), or ``None`` when the space has no such table."""

    # -- architectures -------------------------------------------------------------------
    @abc.abstractmethod
    def parse(self, text: str) -> Architecture:
        """The architecture written as ``text``; raises ``SupernasError`` if it is malformed."""

    def format(self, arch: Architecture) -> str:
        """The canonical string of ``arch``."""
        return str(arch)

    @property
    @abc.abstractmethod
    def gene_choices(self) -> tuple[int, ...]:
        """Number of values each integer gene can take."""

    @abc.abstractmethod
    def encode(self, arch: Architecture) -> tuple[int, ...]:
        """The integer genes of ``arch``."""

    @abc.abstractmethod
    def decode(self, genes: Sequence[int]) -> Architecture:
        """The architecture with these genes."""

    def sample(self, generator: torch.Generator) -> Architecture:
        """A random architecture from the space's own distribution (by default uniform over the
        gene vector; multi-path spaces draw the number of paths first)."""
        return self.sample_uniform_genes(generator)

    def sample_uniform_genes(self, generator: torch.Generator) -> Architecture:
        """An architecture with every gene drawn uniformly (SPOS's distribution)."""
        return self.decode([uniform_index(n, generator) for n in self.gene_choices])

    def mutate(self, arch: Architecture, generator: torch.Generator, probability: float = 0.1) -> Architecture:
        """``arch`` with each gene resampled to a different value with ``probability``."""
        genes = list(self.encode(arch))
        for i, n in enumerate(self.gene_choices):
            if n > 1 and draw_uniform(generator) < probability:
                genes[i] = (genes[i] + 1 + uniform_index(n - 1, generator)) % n
        return self.decode(genes)

    def crossover(self, first: Architecture, second: Architecture, generator: torch.Generator) -> Architecture:
        """A child taking each gene from ``first`` or ``second`` with equal probability."""
        genes = [a if draw_uniform(generator) < 0.5 else b for a, b in zip(self.encode(first), self.encode(second))]
        return self.decode(genes)

    @property
    def size(self) -> int:
        """Number of distinct gene vectors (architectures, for spaces with a one-to-one encoding)."""
        return math.prod(self.gene_choices)

    def enumerate(self) -> Iterator[Architecture]:
        """Every architecture of the space, in gene order (only sensible for small spaces)."""
        counters = [0] * len(self.gene_choices)
        for _ in range(self.size):
            yield self.decode(counters)
            for i in reversed(range(len(counters))):
                counters[i] += 1
                if counters[i] < self.gene_choices[i]:
                    break
                counters[i] = 0

    def active_paths(self, arch: Architecture) -> int:
        """How many paths ``arch`` runs in parallel per layer (multi-path spaces; 1 for single-path ones)."""
        return 1

    # -- costs ---------------------------------------------------------------------------
    @abc.abstractmethod
    def complexity(self, arch: Architecture, measure: str = "params") -> float:
        """Analytic cost of ``arch``: ``"params"`` (weights) or ``"flops"`` (multiply-adds)."""

    @abc.abstractmethod
    def complexity_range(self, measure: str = "params") -> tuple[float, float]:
        """Smallest and largest :meth:`complexity` over the space."""

    # -- groupings (momentum separation, few-shot NAS) -----------------------------------
    def num_groups(self, grouping: str) -> int:
        """Number of groups of the named grouping (momentum separation, few-shot sub-supernets)."""
        raise SupernasError(f"space {self.name!r} defines no groupings of architectures")

    def group(self, arch: Architecture, grouping: str) -> int:
        """Group of ``arch`` under the named grouping, in ``[0, num_groups(grouping))``."""
        raise SupernasError(f"space {self.name!r} defines no groupings of architectures")

    def group_genes(self, grouping: str) -> tuple[int, ...]:
        """The genes whose values decide the group: holding them equal keeps architectures in one group."""
        raise SupernasError(f"space {self.name!r} defines no groupings of architectures")

    # -- networks ------------------------------------------------------------------------
    @abc.abstractmethod
    def build_supernet(self) -> nn.Module:
        """The supernet; its ``forward(x, arch)`` runs only ``arch``'s modules."""

    def describe(self) -> dict[str, Any]:
        """Settings that identify this space (stored in checkpoints)."""
        return {"name": self.name}

    def build_subnet(self, arch: Architecture) -> nn.Module:
        """A standalone network of ``arch`` alone (``forward(x)``), weights named as in the supernet."""
        raise NotImplementedError(f"space {self.name!r} cannot build standalone subnets")

    @property
    def needs_calibration(self) -> bool:
        """Whether BN running statistics must be recomputed per subnet before scoring."""
        return False
