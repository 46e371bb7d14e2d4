"""NSGA-II (pymoo) over a space's integer genes: accuracy up, cost down, cost limits as constraints.

The pymoo operators call the space's own ``sample``, ``crossover`` and ``mutate``, so every
individual decodes to a valid architecture; duplicates are recognised by architecture string,
also against everything already scored in the search, so no budget goes to a repeat. Each
operator draws from a torch generator seeded from pymoo's seeded random state: a search is a
pure function of its seed and its scores.
"""

from __future__ import annotations

import numpy as np
import torch
from pymoo.algorithms.moo.nsga2 import NSGA2
from pymoo.core.callback import Callback
from pymoo.core.crossover import Crossover
from pymoo.core.duplicate import DuplicateElimination
from pymoo.core.mutation import Mutation
from pymoo.core.problem import Problem
from pymoo.core.sampling import Sampling
from pymoo.optimize import minimize

from supernas.config import SearchConfig
from supernas.search.objectives import Objectives
from supernas.spaces.base import Space


def torch_generator(random_state: np.random.Generator) -> torch.Generator:
    """A torch generator seeded from the numpy random state pymoo (>= 0.6.2) hands each operator
    call, advancing it once."""
    return torch.Generator().manual_seed(int(random_state.integers(2**63 - 1)))


class ArchitectureProblem(Problem):
    """Minimise (-accuracy, cost) over the genes; one ``cost/limit - 1 <= 0`` constraint per limit.

    Architectures over a limit are not scored; their objectives are set to 0, which pymoo never
    compares since it ranks infeasible individuals by constraint violation alone.
    """

    def __init__(self, space: Space, objectives: Objectives):
        choices = np.array(space.gene_choices)
        super().__init__(n_var=len(choices), n_obj=2, n_ieq_constr=len(objectives.limits), xl=0, xu=choices - 1,
                         vtype=int)
        self.space, self.objectives = space, objectives

    def _evaluate(self, X, out, *args, **kwargs):
        archs = [self.space.decode(genes.tolist()) for genes in X]
        candidates = self.objectives.score(archs)
        cost = self.objectives.cost
        out["F"] = np.array([[-c.accuracy, c.cost(cost)] if c else [0.0, 0.0] for c in candidates])
        if self.objectives.limits:
            out["G"] = np.array([self.objectives.violations(arch) for arch in archs])


class SpaceSampling(Sampling):
    """Initial individuals from ``space.sample``."""

    def __init__(self, space: Space):
        super().__init__()
        self.space = space

    def _do(self, problem, n_samples, *args, random_state=None, **kwargs):
        generator = torch_generator(random_state)
        return np.array([self.space.encode(self.space.sample(generator)) for _ in range(n_samples)])


class SpaceCrossover(Crossover):
    """Two children per pair of parents, each from ``space.crossover``."""

    def __init__(self, space: Space):
        super().__init__(n_parents=2, n_offsprings=2)
        self.space = space

    def _do(self, problem, X, *args, random_state=None, **kwargs):
        generator = torch_generator(random_state)
        first, second = ([self.space.decode(genes.tolist()) for genes in parents] for parents in X)
        return np.array([[self.space.encode(self.space.crossover(a, b, generator)) for a, b in zip(first, second)]
                         for _ in range(self.n_offsprings)])


class SpaceMutation(Mutation):
    """Every child mutated by ``space.mutate`` with per-gene probability ``gene_probability``."""

    def __init__(self, space: Space, gene_probability: float):
        super().__init__(prob=1.0)
        self.space, self.gene_probability = space, gene_probability

    def _do(self, problem, X, *args, random_state=None, **kwargs):
        generator = torch_generator(random_state)
        return np.array([self.space.encode(self.space.mutate(self.space.decode(genes.tolist()), generator,
                                                             self.gene_probability)) for genes in X])


class ArchitectureDuplicates(DuplicateElimination):
    """Individuals are duplicates when their architecture strings are equal, or when the
    architecture was already scored in this search."""

    def __init__(self, space: Space, objectives: Objectives):
        super().__init__()
        self.space, self.objectives = space, objectives

    def _do(self, pop, other, is_duplicate):
        seen = set() if other is None else {self._name(genes) for genes in other.get("X")}
        for index, genes in enumerate(pop.get("X")):
            name = self._name(genes)
            if name in seen or (other is None and name in self.objectives.history):
                is_duplicate[index] = True
            seen.add(name)
        return is_duplicate

    def _name(self, genes) -> str:
        return str(self.space.decode([int(g) for g in genes]))


class GenerationCallback(Callback):
    """Calls ``report(generation)`` after each generation."""

    def __init__(self, report):
        super().__init__()
        self.report = report

    def notify(self, algorithm):
        self.report(algorithm.n_gen)


def nsga2_search(space: Space, objectives: Objectives, settings: SearchConfig, on_generation=None) -> None:
    """Run NSGA-II for ``settings.generations`` generations of ``settings.population``."""
    algorithm = NSGA2(pop_size=settings.population, sampling=SpaceSampling(space), crossover=SpaceCrossover(space),
                      mutation=SpaceMutation(space, settings.mutation_prob),
                      eliminate_duplicates=ArchitectureDuplicates(space, objectives))
    callback = GenerationCallback(on_generation or (lambda generation: None))
    minimize(ArchitectureProblem(space, objectives), algorithm, ("n_gen", settings.generations), seed=settings.seed,
             callback=callback, copy_algorithm=False, verbose=False)
