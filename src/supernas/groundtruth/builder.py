"""Ground truth for any space: sample architectures stratified over complexity, train each
from scratch with one fixed recipe and several seeds, and write a table ``supernas rank`` reads.

The recipe is the ``retrain`` section (SGD, Nesterov momentum, cosine to 0, clip) on a
stratified subset of ``groundtruth.train_images`` training images with the ``data``
augmentation, tested on ``groundtruth.test_images`` images of the test split. Its hash names
the recipe in the table. Every finished (architecture, seed) is committed at once to
``results.sqlite`` beside the table and the table is rewritten atomically, so a killed run
loses at most the trainings in flight and a rerun trains only what is missing.

Trainings run in this process (``workers`` 1 on one device) or in ``workers`` spawned
processes, worker ``w`` on device ``w mod len(devices)`` with ``threads`` torch threads.
"""

from __future__ import annotations

import concurrent.futures
import csv
import hashlib
import io
import itertools
import math
import multiprocessing
import os
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import yaml
from tqdm import tqdm

from supernas.config import Config, from_dict, to_dict
from supernas.data import AugmentConfig, DeviceLoader, ImageDataset, take_subset
from supernas.errors import SupernasError
from supernas.evaluate.cache import ScoreCache, context_key
from supernas.evaluate.scoring import standalone_accuracy
from supernas.groundtruth.ranking import ranking_metrics
from supernas.runs.experiment import build_space, load_full_split
from supernas.runs.files import GROUNDTRUTH_RESULTS, LOG_FILE, groundtruth_table
from supernas.spaces.base import Architecture, Space
from supernas.streams import GROUNDTRUTH_POOL_STREAM
from supernas.train.policy import make_optimizer
from supernas.train.standalone import fit_standalone, retrain_policy
from supernas.train.trainer import append_jsonl
from supernas.utils import atomic_write_text, resolve_device, retain_freed_memory, seeded_generator

MEAN_COLUMN = "test_acc"


def seed_column(seed: int) -> str:
    """The table column holding the test accuracy of training seed ``seed``."""
    return f"{MEAN_COLUMN}_seed{seed}"


def stratified_sample(space: Space, count: int, seed: int, measure: str = "flops", pool: int = 50) -> list[Architecture]:
    """``count`` distinct architectures covering the space's complexity range evenly.

    ``count * pool`` candidates are drawn with ``space.sample`` (seeded); for ``count`` targets
    evenly spaced in log complexity between the smallest and largest candidate, the nearest
    candidate not yet taken is chosen. The result is in a seeded random order, so the first
    architectures of a long run already span the range.
    """
    if count < 1 or pool < 1:
        raise SupernasError(f"groundtruth needs num_archs >= 1 and pool >= 1, got {count} and {pool}")
    if measure not in ("flops", "params"):
        raise SupernasError(f"unknown complexity measure {measure!r}; expected flops or params")
    generator = seeded_generator(seed, GROUNDTRUTH_POOL_STREAM)
    candidates: dict[str, Architecture] = {}
    for _ in range(count * pool):
        arch = space.sample(generator)
        candidates.setdefault(str(arch), arch)
    if len(candidates) < count:
        raise SupernasError(f"only {len(candidates)} distinct architectures among {count * pool} samples of "
                            f"{space.name}; ask for fewer than {count}")
    logs = {name: math.log(space.complexity(arch, measure)) for name, arch in candidates.items()}
    low, high = min(logs.values()), max(logs.values())
    targets = [low + (high - low) * (i + 0.5) / count for i in range(count)]
    chosen: list[Architecture] = []
    taken: set[str] = set()
    for target in targets:
        name = min((n for n in logs if n not in taken), key=lambda n: abs(logs[n] - target))
        chosen.append(candidates[name])
        taken.add(name)
    order = torch.randperm(count, generator=generator).tolist()
    return [chosen[i] for i in order]


def recipe(config: Config, space: Space) -> dict:
    """Everything a ground-truth accuracy depends on besides the architecture and the seed."""
    data, retrain, truth = config.data, to_dict(config)["retrain"], config.groundtruth
    return {"space": space.describe(), "dataset": data.dataset,
            "synthetic_size": data.synthetic_size if data.dataset == "synthetic" else None,
            "augment": {"crop_padding": data.crop_padding, "flip": data.flip, "cutout": data.cutout},
            "train_images": truth.train_images, "test_images": truth.test_images, "subset_seed": data.split_seed,
            "retrain": {key: value for key, value in retrain.items() if key not in ("seed", "checkpoint_every")}}


def recipe_hash(values: dict) -> str:
    """A short SHA-256 of a recipe's canonical JSON (the table's ``recipe`` column)."""
    return hashlib.sha256(context_key(values).encode()).hexdigest()[:12]


@dataclass(frozen=True)
class Job:
    """One training: an architecture (canonical string) and a seed."""

    arch: str
    seed: int


@dataclass(frozen=True)
class JobResult:
    """A finished training's test accuracy (%) and wall time."""

    job: Job
    accuracy: float
    seconds: float
    device: str


class RecipeTrainer:
    """Trains architectures of one config's space from scratch with its recipe, on one device.

    The (subset of the) training and test images are loaded once and kept on the device. On
    CPU, freed memory is kept for reuse (:func:`supernas.utils.retain_freed_memory`), which
    halves the time of a small network's training.
    """

    def __init__(self, config: Config, device: torch.device):
        data, truth = config.data, config.groundtruth
        full_train, test = load_full_split(config, train=True), load_full_split(config, train=False)
        self.config, self.device = config, device
        if device.type == "cpu":
            retain_freed_memory()
        self.space = build_space(config, full_train)
        self.train_set = subset(full_train, truth.train_images, data.split_seed).to(device)
        self.test_set = subset(test, truth.test_images, data.split_seed).to(device)

    def __call__(self, job: Job) -> JobResult:
        started = time.perf_counter()
        accuracy = train_architecture(self.config, self.space, self.space.parse(job.arch), job.seed,
                                      self.train_set, self.test_set, self.device)
        return JobResult(job, accuracy, time.perf_counter() - started, str(self.device))


def subset(dataset: ImageDataset, count: int, seed: int) -> ImageDataset:
    """A stratified subset of ``count`` images (all of them for 0)."""
    return take_subset(dataset, count, seed) if count > 0 else dataset


def train_architecture(config: Config, space: Space, arch: Architecture, seed: int, train_set: ImageDataset,
                       test_set: ImageDataset, device: torch.device) -> float:
    """Test accuracy (%) of ``arch`` trained from scratch with the ``retrain`` recipe; ``seed``
    seeds the weights, the data order and the augmentation."""
    retrain, data = config.retrain, config.data
    torch.manual_seed(seed)
    model = space.build_subnet(arch).to(device)
    policy = retrain_policy(config)
    augment = AugmentConfig(crop_padding=data.crop_padding, flip=data.flip, cutout=data.cutout)
    loader = DeviceLoader(train_set, retrain.batch_size, seed=seed, augment=augment, device=device)
    steps = retrain.steps if retrain.steps > 0 else max(1, math.ceil(retrain.epochs * loader.steps_per_epoch))
    fit_standalone(model, make_optimizer(model.parameters(), policy), loader, policy, steps)
    return standalone_accuracy(model, test_set, device)


_WORKER: RecipeTrainer | None = None


def _start_worker(config_values: dict, devices: Sequence[str], threads: int, counter) -> None:
    """Process-pool initializer: take the next worker index, pick its device and thread count,
    load the data once."""
    global _WORKER
    with counter.get_lock():
        index = counter.value
        counter.value += 1
    torch.set_num_threads(threads)
    _WORKER = RecipeTrainer(from_dict(config_values), resolve_device(devices[index % len(devices)]))


def _run_in_worker(job: Job) -> JobResult:
    """Process-pool task: one training in this worker."""
    return _WORKER(job)


def worker_threads(config: Config) -> int:
    """Torch threads per worker: ``groundtruth.threads`` or the CPU cores shared among the workers."""
    truth = config.groundtruth
    return truth.threads if truth.threads > 0 else max(1, (os.cpu_count() or 1) // truth.workers)


def worker_devices(config: Config) -> list[str]:
    """The devices workers are assigned to (worker ``w`` gets entry ``w mod count``)."""
    devices = [name.strip() for name in config.groundtruth.devices.split(",") if name.strip()]
    return devices or [config.data.device]


def run_jobs(config: Config, jobs: Sequence[Job], on_result: Callable[[JobResult], None]) -> None:
    """Run ``jobs``, calling ``on_result`` (in this process) as each finishes: here for one
    worker on one device, else in ``groundtruth.workers`` spawned processes."""
    truth, devices = config.groundtruth, worker_devices(config)
    if not jobs:
        return
    if truth.workers == 1 and len(devices) == 1:
        if truth.threads > 0:
            torch.set_num_threads(truth.threads)
        trainer = RecipeTrainer(config, resolve_device(devices[0]))
        for job in jobs:
            on_result(trainer(job))
        return
    context = multiprocessing.get_context("spawn")
    counter = context.Value("i", 0)
    with concurrent.futures.ProcessPoolExecutor(truth.workers, mp_context=context, initializer=_start_worker,
                                                initargs=(to_dict(config), devices, worker_threads(config), counter)) as pool:
        futures = [pool.submit(_run_in_worker, job) for job in jobs]
        try:
            for future in concurrent.futures.as_completed(futures):
                on_result(future.result())
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise


def seed_to_seed_tau(rows: dict[str, dict[int, float]], seeds: int) -> float:
    """Mean Kendall tau-b between the accuracies of every pair of seeds over the architectures
    that have both (NaN with fewer than 2 seeds or architectures): the noise ceiling of a ranking."""
    taus = []
    for first, second in itertools.combinations(range(seeds), 2):
        both = [accs for accs in rows.values() if first in accs and second in accs]
        if len(both) >= 2:
            taus.append(ranking_metrics([a[first] for a in both], [a[second] for a in both]).kendall_tau)
    finite = [tau for tau in taus if math.isfinite(tau)]
    return statistics.fmean(finite) if finite else math.nan


def table_text(space: Space, archs: Sequence[Architecture], rows: dict[str, dict[int, float]], seeds: int,
               hash_text: str) -> str:
    """The ground-truth CSV: ``arch``, the mean test accuracy over seeds (``test_acc``, empty
    until every seed is done), one column per seed, ``params``, ``flops``, ``active_paths`` and
    ``recipe``; one row per architecture in sample order."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["arch", MEAN_COLUMN, *map(seed_column, range(seeds)), "params", "flops", "active_paths", "recipe"])
    for arch in archs:
        accs = rows.get(str(arch), {})
        mean = f"{statistics.fmean(accs.values()):.4f}" if len(accs) == seeds else ""
        per_seed = [f"{accs[s]:.4f}" if s in accs else "" for s in range(seeds)]
        writer.writerow([str(arch), mean, *per_seed, int(space.complexity(arch, "params")),
                         int(space.complexity(arch, "flops")), space.active_paths(arch), hash_text])
    return out.getvalue()


def recipe_yaml(config: Config) -> str:
    """The config sections that reproduce a table (``supernas groundtruth --config`` reads it)."""
    values = to_dict(config)
    return yaml.safe_dump({key: values[key] for key in ("data", "space", "retrain", "groundtruth")}, sort_keys=False)


@dataclass(frozen=True)
class GroundTruthResult:
    """A ground-truth table and what building it took."""

    table: str
    recipe_hash: str
    num_archs: int
    seeds: int
    trained: int
    reused: int
    seconds: float
    seed_tau: float
    mean_accuracy: float


def table_path(config: Config) -> Path:
    """Where the table goes: ``groundtruth.table`` or ``RUN_DIR/groundtruth/table.csv``."""
    return Path(config.groundtruth.table or groundtruth_table(config.run_dir))


def groundtruth_run(config: Config) -> GroundTruthResult:
    """Build (or complete) the ground-truth table of ``config``: sample the architectures, train
    every (architecture, seed) not in the results store yet, write the table and its recipe."""
    truth = config.groundtruth
    if truth.seeds < 1:
        raise SupernasError(f"groundtruth.seeds must be at least 1, got {truth.seeds}")
    if truth.workers < 1:
        raise SupernasError(f"groundtruth.workers must be at least 1, got {truth.workers}")
    probe = load_full_split(config, train=False)
    space = build_space(config, probe)
    values = recipe(config, space)
    hash_text = recipe_hash(values)
    archs = stratified_sample(space, truth.num_archs, truth.arch_seed, truth.measure, truth.pool)
    path = table_path(config)
    store = ScoreCache(path.parent / GROUNDTRUTH_RESULTS)
    rows: dict[str, dict[int, float]] = {}
    for seed in range(truth.seeds):
        found = store.lookup({"recipe": hash_text, "seed": seed}, [str(a) for a in archs])
        for name, accuracy in found.items():
            rows.setdefault(name, {})[seed] = accuracy
    jobs = [Job(str(a), s) for a in archs for s in range(truth.seeds) if s not in rows.get(str(a), {})]
    atomic_write_text(path.with_suffix(".yaml"), f"# recipe {hash_text}\n" + recipe_yaml(config))
    atomic_write_text(path, table_text(space, archs, rows, truth.seeds, hash_text))
    progress = tqdm(total=len(jobs), desc="groundtruth", unit="training", disable=not config.train.progress,
                    dynamic_ncols=True)
    started = time.perf_counter()

    def commit(result: JobResult) -> None:
        store.store({"recipe": hash_text, "seed": result.job.seed}, result.job.arch, result.accuracy)
        rows.setdefault(result.job.arch, {})[result.job.seed] = result.accuracy
        atomic_write_text(path, table_text(space, archs, rows, truth.seeds, hash_text))
        append_jsonl(path.parent / LOG_FILE, {"arch": result.job.arch, "seed": result.job.seed,
                                                 "test_acc": result.accuracy, "seconds": result.seconds,
                                                 "device": result.device, "recipe": hash_text})
        progress.update()
        progress.set_postfix(acc=f"{result.accuracy:.2f}")

    try:
        run_jobs(config, jobs, commit)
    finally:
        progress.close()
        store.close()
    means = [statistics.fmean(accs.values()) for accs in rows.values() if len(accs) == truth.seeds]
    return GroundTruthResult(str(path), hash_text, len(archs), truth.seeds, len(jobs), truth.num_archs * truth.seeds - len(jobs),
                             time.perf_counter() - started, seed_to_seed_tau(rows, truth.seeds),
                             statistics.fmean(means) if means else math.nan)
