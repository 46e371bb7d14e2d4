"""Single-objective evolutionary search under cost limits (the SPOS recipe) and random search.

Evolution: a random population; each generation the ``parents`` most accurate architectures
scored so far breed ``mutations`` mutants and ``crossovers`` crossover children (scaled down
together when they exceed the population), topped up with random architectures to the
population size (SPOS: 50, top 10, 20 generations, 25 + 25, mutation probability 0.1). Random search draws ``population`` new architectures per generation.
Both only propose architectures within the limits and not yet scored, and draw every random
choice from one generator seeded by the search seed.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from supernas.config import SearchConfig
from supernas.search.objectives import Candidate, Objectives
from supernas.spaces.base import Architecture, Space, uniform_index
from supernas.streams import SEARCH_STREAM
from supernas.utils import seeded_generator

TRIES_PER_PROPOSAL = 20
"""How many draws a proposal may take before giving up (all of them repeats or over a limit)."""


def search_generator(settings: SearchConfig) -> torch.Generator:
    """The one generator of a search's random choices, seeded by ``settings.seed``."""
    return seeded_generator(settings.seed, SEARCH_STREAM)


def propose(draw: Callable[[], Architecture], count: int, objectives: Objectives,
            taken: dict[str, Architecture]) -> list[Architecture]:
    """Up to ``count`` architectures from ``draw()`` that are within the limits, not scored yet
    and not already in ``taken`` (which collects them); gives up after
    ``TRIES_PER_PROPOSAL * count`` draws."""
    proposed = []
    for _ in range(TRIES_PER_PROPOSAL * count):
        if len(proposed) == count:
            break
        arch = draw()
        name = str(arch)
        if name not in taken and objectives.is_new(arch) and objectives.feasible(arch):
            taken[name] = arch
            proposed.append(arch)
    return proposed


def top_candidates(objectives: Objectives, count: int) -> list[Candidate]:
    """The ``count`` most accurate architectures scored so far (ties: the earlier one first)."""
    return sorted(objectives.history.values(), key=lambda c: -c.accuracy)[:count]


def brood_sizes(settings: SearchConfig) -> tuple[int, int]:
    """Mutants and crossover children per generation: ``settings.mutations`` and
    ``settings.crossovers``, scaled down together when they exceed the population."""
    total = settings.mutations + settings.crossovers
    if total <= settings.population:
        return settings.mutations, settings.crossovers
    mutations = round(settings.population * settings.mutations / total)
    return mutations, settings.population - mutations


def children(space: Space, parents: list[Architecture], settings: SearchConfig, objectives: Objectives,
             generator: torch.Generator, taken: dict[str, Architecture]) -> list[Architecture]:
    """The mutants and crossover children of ``parents`` of one generation (:func:`brood_sizes`)."""
    def pick() -> Architecture:
        return parents[uniform_index(len(parents), generator)]

    num_mutants, num_crossed = brood_sizes(settings)
    mutants = propose(lambda: space.mutate(pick(), generator, settings.mutation_prob), num_mutants, objectives, taken)
    crossed = propose(lambda: space.crossover(pick(), pick(), generator), num_crossed, objectives, taken)
    return mutants + crossed


def evolution_search(space: Space, objectives: Objectives, settings: SearchConfig, on_generation=None) -> None:
    """Maximise accuracy within the limits by SPOS-style evolution."""
    generator = search_generator(settings)
    population = propose(lambda: space.sample(generator), settings.population, objectives, {})
    for generation in range(1, settings.generations + 1):
        objectives.score(population)
        if on_generation is not None:
            on_generation(generation)
        if generation == settings.generations or not objectives.history:
            break
        parents = [space.parse(c.arch) for c in top_candidates(objectives, settings.parents)]
        taken: dict[str, Architecture] = {}
        population = children(space, parents, settings, objectives, generator, taken)
        population += propose(lambda: space.sample(generator), settings.population - len(population), objectives, taken)


def random_search(space: Space, objectives: Objectives, settings: SearchConfig, on_generation=None) -> None:
    """Score ``settings.population`` new random architectures per generation (the baseline)."""
    generator = search_generator(settings)
    for generation in range(1, settings.generations + 1):
        objectives.score(propose(lambda: space.sample(generator), settings.population, objectives, {}))
        if on_generation is not None:
            on_generation(generation)
