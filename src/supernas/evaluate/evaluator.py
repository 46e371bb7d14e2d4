"""Scoring subnets of a trained supernet on held-out images, and ranking them against ground truth.

In a process group (``torchrun``) every rank scores every architecture on its share of the
batches: calibration statistics and correct counts are added up over ranks, so each rank gets
the score one process would compute. Rank 0 alone reads and writes the score cache and the
result files; the other ranks follow its cache lookups so that all score the same architectures.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import statistics
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
import dataclasses
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm import tqdm

from supernas.benchmarks.tables import ARCH_COLUMN, GroundTruth, default_nasbench201_path, load_ground_truth
from supernas.config import Config, to_dict
from supernas.data import DeviceLoader, ImageDataset, take_subset
from supernas.errors import SupernasError
from supernas.evaluate.cache import SCORES_FILE, CachedMeasure, ScoreCache, file_sha256, shared_measures
from supernas.evaluate.calibration import calibrate_batchnorm
from supernas.evaluate.fusion import fuse, parse_score_spec, score_label
from supernas.evaluate.ranking import RankingMetrics, compare_to_ground_truth, ranking_metrics, write_ranking
from supernas.evaluate.zero_cost import ZERO_COST_SCORES, ProxySettings, zero_cost_measures
from supernas.experiment import build_space, build_supernet, checkpoint_path, load_splits
from supernas.spaces.base import Architecture, Space
from supernas.train.checkpoint import check_compatible, load_checkpoint
from supernas.train.distributed import SINGLE_PROCESS, DistributedContext, distributed_context
from supernas.utils import atomic_write_text, seeded_generator

_ARCH_STREAM = 2
SUPERNET_SCORES = ("supernet", "supernet_loss")
"""Scores of the run's trained supernet: held-out top-1 accuracy (%) and negated held-out cross-entropy."""
KNOWN_SCORES = SUPERNET_SCORES + ZERO_COST_SCORES


@dataclass
class ScoringData:
    """Fixed batches on the device: held-out images to score on, training images to calibrate on."""

    eval_batches: list[tuple[torch.Tensor, torch.Tensor]]
    calibration_batches: list[torch.Tensor]


def calibration_batches(train: ImageDataset, config: Config, device: torch.device) -> list[torch.Tensor]:
    """Normalised batches of the fixed stratified subset of training images used for BN calibration."""
    rank = config.rank
    subset = take_subset(train, min(rank.calibration_images, len(train)), seed=config.data.split_seed + 1)
    return [x for x, _ in DeviceLoader(subset, rank.batch_size, device=device).batches_in_order(rank.batch_size)]


def prepare_scoring_data(heldout: ImageDataset, train: ImageDataset, config: Config, device: torch.device,
                         calibrate: bool) -> ScoringData:
    """Normalised batches of a fixed stratified subset of the held-out split (and of the
    training split for calibration), made once and reused for every subnet."""
    if len(heldout) == 0:
        raise SupernasError("the held-out split is empty; set data.train_fraction below 1 to rank subnets")
    rank = config.rank
    evaluation = take_subset(heldout, min(rank.num_images, len(heldout)), seed=config.data.split_seed)
    eval_batches = list(DeviceLoader(evaluation, rank.batch_size, device=device).batches_in_order(rank.batch_size))
    return ScoringData(eval_batches, calibration_batches(train, config, device) if calibrate else [])


@torch.no_grad()
def top1_accuracy(forward: Callable[[torch.Tensor], torch.Tensor], batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
                  context: DistributedContext = SINGLE_PROCESS) -> float:
    """Top-1 accuracy (%) of ``forward(images)`` logits over labelled batches (one host sync);
    in a process group, over every rank's batches."""
    correct, total = 0, 0
    for images, labels in batches:
        correct = (forward(images).argmax(1) == labels).sum() + correct
        total += len(labels)
    correct, total = context.sum_value(float(correct)), context.sum_value(total)
    if total == 0:
        raise SupernasError("no images to measure accuracy on")
    return correct * 100.0 / total


@torch.no_grad()
def supernet_scores(model: torch.nn.Module, arch: Architecture, data: ScoringData,
                    context: DistributedContext = SINGLE_PROCESS) -> dict[str, float]:
    """Top-1 accuracy (%) (``supernet``) and minus the mean cross-entropy (``supernet_loss``,
    higher is better) of ``arch`` in the supernet on the scoring batches, from one pass, after
    BN calibration when calibration batches are given; each rank of ``context`` takes its
    share of both lists of batches."""
    if data.calibration_batches:
        calibrate_batchnorm(model, context.shard(data.calibration_batches), lambda x: model(x, arch), context)
    model.eval()
    correct, loss, total = 0, 0.0, 0
    for images, labels in context.shard(data.eval_batches):
        logits = model(images, arch)
        correct = (logits.argmax(1) == labels).sum() + correct
        loss = torch.nn.functional.cross_entropy(logits, labels, reduction="sum") + loss
        total += len(labels)
    correct, loss, total = context.sum_value(float(correct)), context.sum_value(float(loss)), context.sum_value(total)
    if total == 0:
        raise SupernasError("no images to score on")
    return {"supernet": correct * 100.0 / total, "supernet_loss": -loss / total}


def score_architecture(model: torch.nn.Module, arch: Architecture, data: ScoringData,
                       context: DistributedContext = SINGLE_PROCESS) -> float:
    """Top-1 accuracy (%) of ``arch`` in the supernet on the scoring batches (see :func:`supernet_scores`)."""
    return supernet_scores(model, arch, data, context)["supernet"]


def sample_architectures(space: Space, count: int, seed: int) -> list[Architecture]:
    """``count`` distinct architectures drawn uniformly with ``seed`` (the same seed gives the same list)."""
    generator = seeded_generator(seed, _ARCH_STREAM)
    chosen: dict[str, Architecture] = {}
    if count > space.size:
        raise SupernasError(f"cannot sample {count} distinct architectures from a space of {space.size}")
    while len(chosen) < count:
        arch = space.sample(generator)
        chosen.setdefault(str(arch), arch)
    return list(chosen.values())


def read_architectures(space: Space, path: str | Path) -> list[Architecture]:
    """Architectures listed one per line in ``path`` (blank lines and ``#`` comments skipped),
    or, for a ``.csv`` file, the ``arch`` column of a ground-truth table."""
    try:
        lines = Path(path).read_text().splitlines()
    except OSError as error:
        raise SupernasError(f"cannot read architecture file {path}: {error.strerror}") from None
    if Path(path).suffix == ".csv":
        table = list(csv.DictReader(lines))
        if not table or ARCH_COLUMN not in table[0]:
            raise SupernasError(f"{path} has no {ARCH_COLUMN!r} column to read architectures from")
        lines = [row[ARCH_COLUMN] for row in table]
    return [space.parse(line) for line in lines if line.strip() and not line.lstrip().startswith("#")]


def has_ground_truth(config: Config, space: Space) -> bool:
    """Whether ``rank.ground_truth`` names a table or the space has a default one (NAS-Bench-201's)."""
    return config.rank.ground_truth is not None or space.name == "nasbench201"


def ground_truth_for(config: Config, space: Space) -> GroundTruth:
    """The configured ground-truth table, defaulting to NAS-Bench-201's for that space."""
    if not has_ground_truth(config, space):
        raise SupernasError(f"no ground-truth table for space {space.name!r}; pass --rank.ground_truth FILE")
    path = config.rank.ground_truth
    if path is None:
        path = default_nasbench201_path()
        if path is None:
            raise SupernasError("nasbench201.csv not found; pass --rank.ground_truth PATH (it ships in shared/data)")
    return load_ground_truth(path, config.rank.column)


def load_trained_supernet(config: Config, space: Space, device: torch.device) -> torch.nn.Module:
    """The supernet of the run's last checkpoint, checked against ``config`` and ``space``."""
    path = checkpoint_path(config)
    if not path.exists():
        raise SupernasError(f"no checkpoint in {config.run_dir}; run 'supernas train' with this run_dir first")
    state = load_checkpoint(path)
    check_compatible(state, space.describe(), to_dict(config), path)
    model = build_supernet(config, space)
    model.load_state_dict(state["model"])
    return model.to(device)


class RankZeroCache:
    """The score cache as the ranks of a process group see it: rank 0 reads and writes the
    run's cache and tells the other ranks what it found, so every rank measures the same
    architectures in the same order."""

    def __init__(self, cache: ScoreCache | None, context: DistributedContext):
        self.cache, self.context = cache, context
        self.path = cache.path if cache is not None else None

    def lookup(self, context: dict, archs: Sequence[str]) -> dict[str, float]:
        return self.context.broadcast_object(self.cache.lookup(context, archs) if self.cache else None)

    def store(self, context: dict, arch: str, value: float) -> None:
        if self.cache is not None:
            self.cache.store(context, arch, value)

    def count(self, context: dict) -> int:
        return self.context.broadcast_object(self.cache.count(context) if self.cache else None)

    def close(self) -> None:
        if self.cache is not None:
            self.cache.close()


def open_score_cache(config: Config, context: DistributedContext = SINGLE_PROCESS) -> ScoreCache | RankZeroCache:
    """The run's persistent score cache, ``RUN_DIR/scores.sqlite`` (read and written by rank 0
    of a process group only)."""
    if not context.is_distributed:
        return ScoreCache(Path(config.run_dir) / SCORES_FILE)
    return RankZeroCache(ScoreCache(Path(config.run_dir) / SCORES_FILE) if context.is_main else None, context)


def data_split_context(config: Config) -> dict:
    """Which dataset split the images come from (part of score cache keys)."""
    data = config.data
    split = {"dataset": data.dataset, "train_fraction": data.train_fraction, "split_seed": data.split_seed}
    if data.dataset == "synthetic":
        split["synthetic_size"] = data.synthetic_size
    return split


def scoring_context(config: Config, calibrate: bool, num_images: int, score: str = "supernet") -> dict:
    """What a supernet score depends on besides the architecture: the checkpoint's bytes,
    the calibration settings and the held-out images (the score cache's key)."""
    rank = config.rank
    split = {**data_split_context(config), "images": num_images, "batch_size": rank.batch_size}
    calibration = {"images": rank.calibration_images, "batch_size": rank.batch_size} if calibrate else None
    measure = "supernet_accuracy" if score == "supernet" else score
    return {"measure": measure, "checkpoint": file_sha256(checkpoint_path(config)),
            "calibration": calibration, "split": split}


def supernet_measures(config: Config, space: Space, splits: tuple[ImageDataset, ImageDataset], device: torch.device,
                      cache: ScoreCache | RankZeroCache, context: DistributedContext = SINGLE_PROCESS,
                      scores: Sequence[str] = ("supernet",)) -> dict[str, CachedMeasure]:
    """Cached supernet scores (``supernet``: top-1 accuracy (%); ``supernet_loss``: minus the
    mean cross-entropy) of architectures in the run's trained supernet on the held-out split,
    BN-calibrated first when the space needs it and ``rank.calibrate`` is on; the data shared
    out over the ranks of ``context``."""
    train_split, heldout = splits
    model = load_trained_supernet(config, space, device)
    calibrate = config.rank.calibrate and space.needs_calibration
    data = prepare_scoring_data(heldout, train_split, config, device, calibrate)
    num_images = sum(len(labels) for _, labels in data.eval_batches)
    contexts = {score: scoring_context(config, calibrate, num_images, score) for score in scores}
    return shared_measures(functools.partial(supernet_scores, model, data=data, context=context), contexts, cache)


def supernet_accuracy(config: Config, space: Space, splits: tuple[ImageDataset, ImageDataset], device: torch.device,
                      cache: ScoreCache | RankZeroCache, context: DistributedContext = SINGLE_PROCESS) -> CachedMeasure:
    """Cached top-1 accuracy (%) of architectures in the run's trained supernet (see :func:`supernet_measures`)."""
    return supernet_measures(config, space, splits, device, cache, context)["supernet"]


def score_measures(config: Config, space: Space, splits: tuple[ImageDataset, ImageDataset], device: torch.device,
                   cache: ScoreCache | RankZeroCache, names: Sequence[str],
                   context: DistributedContext = SINGLE_PROCESS) -> dict[str, CachedMeasure]:
    """A cached measure for each score of ``names`` (of :data:`KNOWN_SCORES`): supernet scores
    from the run's checkpoint, zero-cost scores from the untrained standalone subnet on
    ``rank.proxy_batches`` batches of ``rank.proxy_batch_size`` training images."""
    measures = {}
    supernet = [name for name in names if name in SUPERNET_SCORES]
    if supernet:
        measures.update(supernet_measures(config, space, splits, device, cache, context, supernet))
    zero_cost = [name for name in names if name in ZERO_COST_SCORES]
    if zero_cost:
        rank = config.rank
        settings = ProxySettings(rank.proxy_batch_size, rank.proxy_batches, rank.proxy_seed, data_split_context(config))
        measures.update(zero_cost_measures(space, zero_cost, splits[0], settings, device, cache))
    return {name: measures[name] for name in names}


def fused_measure(weights: Mapping[str, float], measures: Mapping[str, CachedMeasure],
                  reference: Sequence[Architecture], cache: ScoreCache | RankZeroCache,
                  reference_seed: int) -> CachedMeasure:
    """The fused score (:func:`supernas.evaluate.fusion.fuse`) of an architecture against the
    scores of the ``reference`` architectures (drawn with ``reference_seed``), which are
    measured (and cached) on first use."""
    columns: dict[str, list[float]] = {}

    def measure(arch: Architecture) -> float:
        if not columns:
            columns.update({name: measures[name](reference) for name in weights})
        return float(fuse({name: [measures[name]([arch])[0]] for name in weights}, weights, columns)[0])

    context = {"measure": "fused", "weights": dict(weights), "reference": [len(reference), reference_seed],
               "components": {name: measures[name].context for name in weights}}
    return CachedMeasure(measure, context, cache)


def score_measure(config: Config, space: Space, splits: tuple[ImageDataset, ImageDataset], device: torch.device,
                  cache: ScoreCache | RankZeroCache, spec: str,
                  context: DistributedContext = SINGLE_PROCESS) -> tuple[str, CachedMeasure]:
    """The label and cached measure of score ``spec`` (a name of :data:`KNOWN_SCORES`, or a
    comma list for a fused score ranked against ``rank.num_archs`` cells drawn with
    ``rank.arch_seed``)."""
    weights = parse_score_spec(spec, KNOWN_SCORES)
    measures = score_measures(config, space, splits, device, cache, list(weights), context)
    if len(weights) == 1:
        return score_label(weights), measures[next(iter(weights))]
    reference = sample_architectures(space, config.rank.num_archs, config.rank.arch_seed)
    return score_label(weights), fused_measure(weights, measures, reference, cache, config.rank.arch_seed)


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
    atomic_write_text(Path(out_dir) / "scores.csv", table.getvalue())
    atomic_write_text(Path(out_dir) / "scores.json", json.dumps(summary, indent=2, default=str) + "\n")


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
    out_dir = Path(config.run_dir) / "ranking"
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
