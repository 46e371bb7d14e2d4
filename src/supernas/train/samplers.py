"""Samplers decide which architectures a training step trains.

Every sampler is a pure function of (seed, step): resuming at step ``t`` or running on another
rank draws the same architectures without any saved random state.
"""

from __future__ import annotations

import torch

from supernas.errors import SupernasError
from supernas.spaces.base import Architecture, Space
from supernas.utils import seeded_generator

_SAMPLER_STREAM = 1


class UniformSampler:
    """SPOS: one architecture per step, uniform over the space's genes."""

    def __init__(self, space: Space, seed: int):
        self.space, self.seed = space, seed

    def sample(self, step: int) -> list[Architecture]:
        """The architectures trained at ``step`` (a list of one)."""
        return [self.space.sample(seeded_generator(self.seed, _SAMPLER_STREAM, step))]


class FairSampler:
    """FairNAS strict fairness: per step, each gene takes every one of its n values exactly once
    across n architectures (independent random permutation per gene); gradients of all n are
    accumulated before one optimizer step."""

    def __init__(self, space: Space, seed: int):
        choices = set(space.gene_choices)
        if len(choices) != 1:
            raise SupernasError(f"FairNAS sampling needs the same number of choices per gene; space {space.name!r} has {sorted(choices)}")
        self.space, self.seed, self.num_archs = space, seed, choices.pop()

    def sample(self, step: int) -> list[Architecture]:
        """The n architectures of ``step``; column ``i`` of their genes is a permutation."""
        generator = seeded_generator(self.seed, _SAMPLER_STREAM, step)
        permutations = [torch.randperm(self.num_archs, generator=generator).tolist() for _ in self.space.gene_choices]
        return [self.space.decode([perm[j] for perm in permutations]) for j in range(self.num_archs)]


SAMPLERS = {"spos": UniformSampler, "fairnas": FairSampler}


def make_sampler(strategy: str, space: Space, seed: int):
    """The sampler of a training strategy name."""
    if strategy not in SAMPLERS:
        raise SupernasError(f"unknown training strategy {strategy!r}; expected one of {', '.join(SAMPLERS)}")
    return SAMPLERS[strategy](space, seed)
