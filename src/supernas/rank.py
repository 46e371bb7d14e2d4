"""The ``rank`` command: score architectures of a run with its trained supernet (or any score by
name) and compare the scores with a ground-truth table; without one, write the scores alone.

The scores come from :mod:`supernas.evaluate.scoring`; the comparison (Kendall tau-b, Spearman
rho, precision@top) from :mod:`supernas.groundtruth.ranking`. Under torchrun every rank scores
on its share of the images and rank 0 writes the files into ``RUN_DIR/ranking/``.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import statistics
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from supernas.config import Config
from supernas.data import ImageDataset
from supernas.evaluate.fusion import fuse, parse_score_spec, score_label
from supernas.evaluate.scoring import KNOWN_SCORES, open_score_cache, sample_architectures, score_measures
from supernas.groundtruth.ranking import RankingMetrics, compare_to_ground_truth, ranking_metrics, write_ranking
from supernas.groundtruth.tables import ground_truth_for, has_ground_truth, read_architectures
from supernas.runs.distributed import DistributedContext, distributed_context
from supernas.runs.experiment import build_space, load_splits
from supernas.runs.files import SCORES_CSV, SCORES_JSON, ranking_dir
from supernas.spaces.base import Architecture, Space
from supernas.utils import atomic_write_text


def score_summary(values: Sequence[float]) -> dict[str, float]:
    """Count, mean, standard deviation (population), min, median and max of ``values``."""
    return {"count": len(values), "mean": statistics.fmean(values), "std": statistics.pstdev(values),
            "min": min(values), "median": statistics.median(values), "max": max(values)}


def accuracy_by_paths(space: Space, archs: Sequence[Architecture], scores: Mapping[str, float]) -> dict[int, dict[str, float]]:
    """:func:`score_summary` of the scores of ``archs`` per number of active paths
    (``space.active_paths``), fewest paths first."""
    groups: dict[int, list[float]] = {}
    for arch in archs:
        groups.setdefault(space.active_paths(arch), []).append(scores[str(arch)])
    return {paths: score_summary(values) for paths, values in sorted(groups.items())}


def write_scores(out_dir: str | Path, space: Space, archs: Sequence[Architecture], scores: Mapping[str, float],
                 summary: Mapping[str, object]) -> None:
    """Scores without ground truth: ``scores.csv`` (arch, score, active_paths, params, flops; one
    row per architecture, in scoring order) and ``scores.json`` (``summary``), each atomically."""
    table = io.StringIO()
    writer = csv.writer(table, lineterminator="\n")
    writer.writerow(["arch", "score", "active_paths", "params", "flops"])
    writer.writerows([str(a), scores[str(a)], space.active_paths(a), space.complexity(a, "params"),
                      space.complexity(a, "flops")] for a in archs)
    atomic_write_text(Path(out_dir) / SCORES_CSV, table.getvalue())
    atomic_write_text(Path(out_dir) / SCORES_JSON, json.dumps(summary, indent=2, default=str) + "\n")


@dataclass(frozen=True)
class RankResult:
    """Ranking metrics of a run's score (named ``label``), with the parameter-count baseline on
    the same architectures (both ``None`` without ground truth), the metrics of each component
    of a fused score, and the scores per number of active paths."""

    metrics: RankingMetrics | None
    params_metrics: RankingMetrics | None
    scores: dict[str, float]
    score_seconds: float
    out_dir: str
    by_paths: dict[int, dict[str, float]]
    label: str = "supernet"
    component_metrics: dict[str, RankingMetrics] = dataclasses.field(default_factory=dict)


def rank_scores(config: Config, space: Space, splits: tuple[ImageDataset, ImageDataset], archs: Sequence[Architecture],
                context: DistributedContext) -> tuple[str, dict[str, float], dict[str, dict[str, float]], dict]:
    """Score ``archs`` with ``rank.score``: its label, the score of each architecture, each
    component's scores (a fused score is ranked against ``archs`` themselves), and what the
    scores depend on (their cache contexts)."""
    weights = parse_score_spec(config.rank.score, KNOWN_SCORES)
    measures = score_measures(config, space, splits, context.device, open_score_cache(config, context), list(weights),
                              context)
    names = [str(arch) for arch in archs]
    columns: dict[str, dict[str, float]] = {name: {} for name in weights}
    for arch, key in zip(tqdm(archs, desc="score", unit="arch", dynamic_ncols=True,
                              disable=not (config.train.progress and context.is_main)), names):
        for name in weights:
            columns[name][key] = measures[name]([arch])[0]
    contexts = {name: measure.context for name, measure in measures.items()}
    if len(weights) == 1:
        return score_label(weights), columns[next(iter(weights))], {}, contexts
    fused = fuse({name: [column[key] for key in names] for name, column in columns.items()}, weights)
    return score_label(weights), dict(zip(names, fused.tolist())), columns, contexts


def rank_run(config: Config, context: DistributedContext | None = None) -> RankResult:
    """Score architectures with the run's supernet and compare them with ground truth; without
    ground truth for the space, write the scores (``scores.csv``, ``scores.json``) only. Under
    torchrun every rank scores on its share of the images and rank 0 writes the files."""
    context = context or distributed_context(config.data.device)
    device = context.device
    train_split, heldout = load_splits(config)
    space = build_space(config, train_split)
    truth = ground_truth_for(config, space) if has_ground_truth(config, space) else None
    archs = (read_architectures(space, config.rank.archs_file) if config.rank.archs_file
             else sample_architectures(space, config.rank.num_archs, config.rank.arch_seed))
    started = time.perf_counter()
    label, scores, components, contexts = rank_scores(config, space, (train_split, heldout), archs, context)
    score_seconds = time.perf_counter() - started
    out_dir = ranking_dir(config.run_dir)
    by_paths = accuracy_by_paths(space, archs, scores)
    extra = {"score": label, "score_seconds": score_seconds, "space": space.describe(), "accuracy_by_paths": by_paths,
             "score_contexts": contexts}
    if "supernet" in contexts or "supernet_loss" in contexts:
        supernet_context = contexts.get("supernet", contexts.get("supernet_loss"))
        extra.update(calibrated=supernet_context["calibration"] is not None, num_images=supernet_context["split"]["images"])
    if truth is None:
        if context.is_main:
            write_scores(out_dir, space, archs, scores, extra)
        return RankResult(None, None, scores, score_seconds, str(out_dir), by_paths, label)
    top = config.rank.top_fraction
    metrics = compare_to_ground_truth(scores, truth, top)
    params_metrics = ranking_metrics([space.complexity(a, "params") for a in archs], [truth[str(a)] for a in archs], top)
    component_metrics = {name: compare_to_ground_truth(column, truth, top) for name, column in components.items()}
    if context.is_main:
        write_ranking(out_dir, scores, truth, metrics, extra={
            "params_baseline": params_metrics.as_dict(),
            "components": {name: m.as_dict() for name, m in component_metrics.items()}, **extra})
    return RankResult(metrics, params_metrics, scores, score_seconds, str(out_dir), by_paths, label, component_metrics)
