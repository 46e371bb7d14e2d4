"""Scores of architectures, by name, each cached: the supernet's held-out accuracy or loss
(optionally after BN calibration), zero-cost scores of the untrained subnet, and fused rank
aggregates of those. ``rank``, ``search`` and the studies all get their scores here.

In a process group (``torchrun``) every rank scores every architecture on its share of the
batches: calibration statistics and correct counts are added up over ranks, so each rank gets
the score one process would compute. Rank 0 alone reads and writes the score cache; the other
ranks follow its cache lookups so that all score the same architectures.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import torch

from supernas.config import Config
from supernas.data import DeviceLoader, ImageDataset, take_subset
from supernas.errors import SupernasError
from supernas.evaluate.cache import CachedMeasure, ScoreCache, file_sha256, shared_measures
from supernas.evaluate.calibration import calibrate_batchnorm
from supernas.evaluate.fusion import fuse, parse_score_spec, score_label
from supernas.evaluate.zero_cost import ZERO_COST_SCORES, ProxySettings, zero_cost_measures
from supernas.runs.distributed import SINGLE_PROCESS, DistributedContext
from supernas.runs.experiment import checkpoint_path, load_trained_supernet
from supernas.runs.files import scores_file
from supernas.spaces.base import Architecture, Space
from supernas.streams import ARCH_STREAM
from supernas.utils import seeded_generator

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


def standalone_accuracy(model: torch.nn.Module, test_set: ImageDataset, device: torch.device, batch_size: int = 500) -> float:
    """Top-1 accuracy (%) of a standalone ``model`` in eval mode on every image of ``test_set``
    (an ImageFolder split is decoded as evaluation crops first)."""
    model.eval()
    return top1_accuracy(model, DeviceLoader(test_set, batch_size, device=device).batches_in_order())


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
    generator = seeded_generator(seed, ARCH_STREAM)
    chosen: dict[str, Architecture] = {}
    if count > space.size:
        raise SupernasError(f"cannot sample {count} distinct architectures from a space of {space.size}")
    while len(chosen) < count:
        arch = space.sample(generator)
        chosen.setdefault(str(arch), arch)
    return list(chosen.values())


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
        return ScoreCache(scores_file(config.run_dir))
    return RankZeroCache(ScoreCache(scores_file(config.run_dir)) if context.is_main else None, context)


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
    out over the ranks of ``context``. One pass yields both scores and both are cached, so
    ranking by the other later measures nothing again."""
    train_split, heldout = splits
    model = load_trained_supernet(config, space, device)
    calibrate = config.rank.calibrate and space.needs_calibration
    data = prepare_scoring_data(heldout, train_split, config, device, calibrate)
    num_images = sum(len(labels) for _, labels in data.eval_batches)
    contexts = {score: scoring_context(config, calibrate, num_images, score) for score in SUPERNET_SCORES}
    measures = shared_measures(functools.partial(supernet_scores, model, data=data, context=context), contexts, cache)
    return {score: measures[score] for score in scores}


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


