"""Search algorithms on the NAS-Bench-201 oracle: the ground-truth table as the accuracy objective.

For each algorithm and seed, search with a budget of population x generations queries (each a
distinct cell whose ``cifar10_test_acc`` is read from the table) and report how often the most
accurate cell found is within ``--tolerance`` percentage points of the best in the space, how
many queries that took, and the mean best accuracy (also after a quarter of the budget).
NSGA-II optimises (accuracy up, params down); evolution (SPOS recipe) and random search
maximise accuracy.

    python benchmarks/search_oracle.py --seeds 10 --population 50 --generations 20
"""

from __future__ import annotations

import argparse
import statistics
import time

from supernas.config import SearchConfig
from supernas.evaluate.cache import ScoreCache
from supernas.groundtruth.tables import default_nasbench201_path, load_ground_truth
from supernas.search.objectives import Objectives, ground_truth_accuracy
from supernas.search.runner import search_space
from supernas.spaces import get_space

ALGORITHMS = ("nsga2", "evolution", "random")


def queries_to_reach(accuracies: list[float], target: float) -> int | None:
    """1-based index of the first accuracy at or above ``target`` (None if never reached)."""
    return next((i for i, value in enumerate(accuracies, start=1) if value >= target), None)


def run_seed(space, truth, algorithm: str, seed: int, population: int, generations: int) -> list[float]:
    """The oracle accuracies of the cells one search queried, in query order."""
    accuracy = ground_truth_accuracy(truth, ScoreCache())
    settings = SearchConfig(algorithm=algorithm, objective="groundtruth", population=population,
                            generations=generations, seed=seed)
    result = search_space(space, Objectives(space, accuracy, "params"), settings, accuracy)
    return [candidate.accuracy for candidate in result.history]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--population", type=int, default=50)
    parser.add_argument("--generations", type=int, default=20)
    parser.add_argument("--tolerance", type=float, default=0.3, help="percentage points below the optimum")
    parser.add_argument("--column", default="cifar10_test_acc")
    args = parser.parse_args()

    truth = load_ground_truth(default_nasbench201_path(), args.column)
    space = get_space("nasbench201")
    optimum = max(truth.values.values())
    target = optimum - args.tolerance
    budget = args.population * args.generations
    print(f"NAS-Bench-201 oracle ({args.column}, optimum {optimum:.2f}, target >= {target:.2f}); "
          f"budget {budget} queries = population {args.population} x {args.generations} generations; "
          f"seeds 0..{args.seeds - 1}")
    early = budget // 4
    print(f"{'algorithm':<11}{'hits':>7}{'mean best':>11}{'min best':>10}{f'mean best@{early}':>15}"
          f"{'median queries to hit':>23}{'mean queries':>14}{'s/seed':>8}")
    for algorithm in ALGORITHMS:
        started = time.perf_counter()
        runs = [run_seed(space, truth, algorithm, seed, args.population, args.generations)
                for seed in range(args.seeds)]
        seconds = (time.perf_counter() - started) / args.seeds
        bests = [max(run) for run in runs]
        reached = [q for q in (queries_to_reach(run, target) for run in runs) if q is not None]
        median_hit = f"{statistics.median(reached):.0f}" if reached else "-"
        early_best = statistics.mean(max(run[:early]) for run in runs)
        print(f"{algorithm:<11}{len(reached):>4}/{args.seeds:<2}{statistics.mean(bests):>11.3f}{min(bests):>10.2f}"
              f"{early_best:>15.3f}{median_hit:>23}{statistics.mean(len(run) for run in runs):>14.0f}{seconds:>8.1f}")


if __name__ == "__main__":
    main()
