"""Running a search: from a config (or from a space and its objectives) to a written report.

A search is deterministic given its seed and its scores, and every score is committed to the
run's score cache as soon as it is known; so a killed search, run again, replays the same
choices, takes what it had scored from the cache, and ends with the front an uninterrupted
run would have found.

Under ``torchrun`` every rank runs the same (seeded) search and scores each architecture on its
share of the images (see :mod:`supernas.evaluate.scoring`); rank 0 writes the report.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
import time
from pathlib import Path

from tqdm import tqdm

from supernas.config import Config, SearchConfig, save_config
from supernas.errors import SupernasError
from supernas.evaluate.cache import CachedMeasure
from supernas.evaluate.fusion import parse_score_spec
from supernas.evaluate.scoring import KNOWN_SCORES, open_score_cache, score_measure
from supernas.groundtruth.tables import GroundTruth, ground_truth_for
from supernas.runs.distributed import DistributedContext, distributed_context
from supernas.runs.experiment import build_space, load_splits
from supernas.runs.files import config_file, search_dir
from supernas.search.evolution import evolution_search, random_search
from supernas.search.nsga2 import nsga2_search
from supernas.search.objectives import Objectives, ground_truth_accuracy, subnet_latency
from supernas.search.report import SearchResult, summarize, write_search_report
from supernas.spaces.base import Space

ALGORITHMS = {"nsga2": nsga2_search, "evolution": evolution_search, "random": random_search}
GROUND_TRUTH_OBJECTIVE = "groundtruth"


def check_settings(settings: SearchConfig) -> None:
    """Raise a one-line error for search settings that cannot run."""
    if settings.algorithm not in ALGORITHMS:
        raise SupernasError(f"unknown search algorithm {settings.algorithm!r}; expected one of {', '.join(ALGORITHMS)}")
    if settings.objective != GROUND_TRUTH_OBJECTIVE:
        try:
            parse_score_spec(settings.objective, KNOWN_SCORES)
        except SupernasError as error:
            raise SupernasError(f"search.objective: {error}; or {GROUND_TRUTH_OBJECTIVE}") from None
    if settings.population < 2 or settings.generations < 1:
        raise SupernasError("search.population must be at least 2 and search.generations at least 1")
    if settings.parents < 1:
        raise SupernasError("search.parents must be at least 1")
    if settings.mutations < 0 or settings.crossovers < 0 or not 0.0 <= settings.mutation_prob <= 1.0:
        raise SupernasError("search.mutations and search.crossovers must be >= 0 and search.mutation_prob in [0, 1]")


def search_space(space: Space, objectives: Objectives, settings: SearchConfig, accuracy: CachedMeasure,
                 progress: bool = False) -> SearchResult:
    """Run ``settings.algorithm`` on ``objectives`` and summarise what it scored."""
    check_settings(settings)
    budget = settings.population * settings.generations
    bar = tqdm(total=budget, desc=f"search {settings.algorithm}", unit="arch", disable=not progress,
               dynamic_ncols=True)
    computed_before, reused_before = accuracy.computed, accuracy.reused
    objectives.on_scored = lambda candidate: bar.update(1)

    def report(generation: int) -> None:
        best = max((c.accuracy for c in objectives.history.values()), default=float("nan"))
        bar.set_postfix(gen=f"{generation}/{settings.generations}", best=f"{best:.2f}",
                        cached=accuracy.reused - reused_before)

    started = time.perf_counter()
    try:
        ALGORITHMS[settings.algorithm](space, objectives, settings, report)
    finally:
        objectives.on_scored = None
        bar.close()
    return summarize(settings.algorithm, objectives.cost, list(objectives.history.values()),
                     accuracy.computed - computed_before, accuracy.reused - reused_before,
                     time.perf_counter() - started, settings.objective)


def available_ground_truth(config: Config, space: Space) -> GroundTruth | None:
    """The run's ground-truth table when there is one (shown beside supernet scores), else None."""
    try:
        return ground_truth_for(config, space)
    except SupernasError:
        return None


@dataclass(frozen=True)
class SearchRun:
    """A finished search of a run: its result, where its report is, and the ground truth (if any)."""

    result: SearchResult
    out_dir: Path
    truth: GroundTruth | None


def search_run(config: Config, context: DistributedContext | None = None) -> SearchRun:
    """Search the run's space as configured and write the report into ``RUN_DIR/search/<algorithm>/``.
    Rerunning after an interruption resumes from the score cache."""
    settings = config.search
    check_settings(settings)
    context = context or distributed_context(config.data.device)
    device = context.device
    splits = load_splits(config)
    space = build_space(config, splits[0])
    cache = open_score_cache(config, context)
    if settings.objective == GROUND_TRUTH_OBJECTIVE:
        truth = ground_truth_for(config, space)
        accuracy = ground_truth_accuracy(truth, cache)
    else:
        truth = available_ground_truth(config, space)
        accuracy = score_measure(config, space, splits, device, cache, settings.objective, context)[1]
    latency = None
    if settings.cost == "latency" and context.is_distributed:
        raise SupernasError("search.cost latency is measured in one process; run this search without torchrun")
    if settings.cost == "latency":
        images = splits[0]
        latency = subnet_latency(space, (images.in_channels, images.image_size, images.image_size), device,
                                 settings.latency_batch_size, settings.latency_runs, settings.latency_warmup, cache)
    objectives = Objectives(space, accuracy, settings.cost, latency,
                            {"params": settings.max_params, "flops": settings.max_flops})
    result = search_space(space, objectives, settings, accuracy, progress=config.train.progress and context.is_main)
    out_dir = search_dir(config.run_dir, settings.algorithm)
    if context.is_main:
        save_config(config, config_file(config.run_dir))
        write_search_report(out_dir, result, {"search": dataclasses.asdict(settings), "accuracy": accuracy.context}, truth)
    return SearchRun(result, out_dir, truth)
