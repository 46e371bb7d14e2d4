"""Samplers decide which architectures a training step trains.

Every sampler is a pure function of (seed, step): resuming at step ``t`` or running on another
rank draws the same architectures without any saved random state.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from supernas.errors import SupernasError
from supernas.spaces.base import Architecture, Space, uniform_index
from supernas.streams import SAMPLER_STREAM
from supernas.utils import seeded_generator



class UniformSampler:
    """SPOS: one architecture per step, uniform over the space's genes."""

    def __init__(self, space: Space, seed: int):
        self.space, self.seed = space, seed

    def sample(self, step: int) -> list[Architecture]:
        """The architectures trained at ``step`` (a list of one)."""
        return [self.space.sample_uniform_genes(seeded_generator(self.seed, SAMPLER_STREAM, step))]


class MixPathSampler(UniformSampler):
    """MixPath: one architecture per step from the space's own sampler (``space.sample``; on
    multi-path spaces, per layer ``m'`` uniform in 1..m, then ``m'`` distinct paths)."""

    def sample(self, step: int) -> list[Architecture]:
        return [self.space.sample(seeded_generator(self.seed, SAMPLER_STREAM, step))]


class FairSampler:
    """FairNAS strict fairness: per step, each gene takes every one of its n values exactly once
    across n architectures (independent random permutation per gene); gradients of all n are
    accumulated before one optimizer step.

    ``shared_genes`` instead take one uniform value per step, the same in all n architectures:
    with momentum separation they are the genes that decide the group, so every step stays in
    one group (the DYNAS reference shares the op on the split edge this way).
    """

    def __init__(self, space: Space, seed: int, shared_genes: Sequence[int] = ()):
        choices = set(space.gene_choices)
        if len(choices) != 1:
            raise SupernasError(f"FairNAS sampling needs the same number of choices per gene; space {space.name!r} has {sorted(choices)}")
        self.space, self.seed, self.num_archs = space, seed, choices.pop()
        self.shared_genes = frozenset(shared_genes)

    def gene_column(self, gene: int, generator: torch.Generator) -> list[int]:
        """The values of ``gene`` in the step's n architectures: a permutation, or one shared value."""
        if gene in self.shared_genes:
            return [uniform_index(self.num_archs, generator)] * self.num_archs
        return torch.randperm(self.num_archs, generator=generator).tolist()

    def sample(self, step: int) -> list[Architecture]:
        """The n architectures of ``step``; column ``i`` of their genes is a permutation (or shared)."""
        generator = seeded_generator(self.seed, SAMPLER_STREAM, step)
        columns = [self.gene_column(gene, generator) for gene in range(len(self.space.gene_choices))]
        return [self.space.decode([column[j] for column in columns]) for j in range(self.num_archs)]


SAMPLERS = {"spos": UniformSampler, "fairnas": FairSampler, "fewshot": UniformSampler, "mixpath": MixPathSampler}
"""Sampler of each training strategy. Few-shot NAS samples uniformly over the whole space
(interleaved: each step's architecture is routed to its own sub-supernet by the model)."""


def make_sampler(strategy: str, space: Space, seed: int, shared_genes: Sequence[int] = ()):
    """The sampler of a training strategy name. ``shared_genes`` (momentum separation's group
    genes) are held equal across the architectures of a step by samplers that draw several
    (FairNAS); samplers of one architecture per step satisfy that by construction."""
    if strategy not in SAMPLERS:
        raise SupernasError(f"unknown training strategy {strategy!r}; expected one of {', '.join(SAMPLERS)}")
    if SAMPLERS[strategy] is FairSampler:
        return FairSampler(space, seed, shared_genes)
    return SAMPLERS[strategy](space, seed)
