"""Typed run configuration: dataclasses, YAML files, presets and dotted overrides.

A config is one :class:`Config` passed whole. It is read from a YAML file (or a named preset
shipped in ``supernas/configs``), then overridden by dotted command-line options such as
``--train.lr 0.05``. Unknown keys are rejected by name.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from supernas.errors import SupernasError

PRESET_DIR = Path(__file__).parent / "configs"


def _option(default: Any, help: str) -> Any:
    """A dataclass field with a default and a help text (shown by ``--help``)."""
    if isinstance(default, (dict, list)):
        return field(default_factory=lambda: type(default)(default), metadata={"help": help})
    return field(default=default, metadata={"help": help})


@dataclass
class DataConfig:
    """Which images to train and score on, and how they are augmented."""

    dataset: str = _option("cifar10", "dataset: cifar10, cifar100, fashion-mnist, synthetic or imagefolder (root/train/<class>/*.jpg|png and root/val/<class>/, streamed from disk)")
    root: str | None = _option(None, "directory holding the dataset (default: search the usual places)")
    train_fraction: float = _option(0.5, "share of the training set used to train the supernet (stratified, seeded); the rest is the held-out split used for ranking")
    train_images: int = _option(0, "images of the training split the supernet trains on: a stratified, seeded subset (0: the whole split; the held-out split stays as it is)")
    resolution: int = _option(0, "in-memory datasets: side the images (training and held-out) are averaged down to once when loaded, for a cheaper proxy (0: as stored)")
    split_seed: int = _option(0, "seed of the train/held-out split")
    synthetic_size: int = _option(2048, "number of images of the synthetic dataset")
    image_size: int = _option(224, "imagefolder: side of the random-resized training crops and of the centre crops scored")
    workers: int = _option(4, "imagefolder: DataLoader worker processes decoding images (0: in the training process)")
    batch_size: int = _option(64, "training batch size")
    crop_padding: int = _option(4, "random-crop padding in pixels (0 disables cropping)")
    flip: bool = _option(True, "random horizontal flips")
    cutout: int = _option(0, "cutout square side in pixels (0 disables cutout)")
    device: str = _option("auto", "device: auto (cuda when available), cpu, cuda, cuda:1 ...")


@dataclass
class SpaceConfig:
    """The search space and its options (see ``supernas spaces`` for each space's options)."""

    name: str = _option("nasbench201", "search space name")
    options: dict = _option({}, "space options, e.g. --space.options.channels 8 (dataset-dependent options are filled in)")


@dataclass
class TrainConfig:
    """How the supernet is trained."""

    strategy: str = _option("spos", "sampling strategy: spos (one uniform subnet per step), fairnas (n subnets per step, every op once), fewshot (one uniform subnet per step, trained in the sub-supernet of its fewshot_grouping group), mixpath (one subnet per step from the space's multi-path sampler: per layer m' paths, m' uniform in 1..m)")
    epochs: float = _option(250.0, "training length in epochs of the training split (ignored when steps > 0)")
    steps: int = _option(0, "training length in optimizer steps (0: use epochs)")
    lr: float = _option(0.025, "initial learning rate")
    lr_min: float = _option(0.0, "final learning rate of the cosine schedule and of CaLR")
    schedule: str = _option("cosine", "learning-rate schedule: cosine or constant")
    momentum: float = _option(0.9, "SGD momentum")
    nesterov: bool = _option(True, "Nesterov momentum")
    weight_decay: float = _option(5e-4, "weight decay")
    grad_clip: float | None = _option(None, "gradient-norm clip (0 disables; none: the strategy's own, 5 for spos, fewshot and mixpath, off for fairnas as in DYNAS, whose FairNAS does not clip the summed gradient of its n subnets)")
    seed: int = _option(0, "seed of weights, data order, augmentation and architecture sampling")
    micro_batches: int = _option(0, "micro-batches each step's batch (data.batch_size) is cut into, run one after another with gradients accumulated and shared out over the processes of a torchrun launch (0: one per process); BN with batch statistics normalises each micro-batch alone, so a fixed value trains the same on any number of processes dividing it")
    log_every: int = _option(50, "steps between log.jsonl records")
    checkpoint_every: int = _option(500, "steps between checkpoints (the last step is always saved)")
    progress: bool = _option(True, "show a progress bar")
    calr: bool = _option(False, "complexity-aware LR (CaLR): lr·(1 - t/T)^γ with γ from the subnet's complexity (replaces the schedule; with several subnets per step the LR stays constant and each loss is weighted by the decay)")
    calr_measure: str = _option("params", "complexity measure of CaLR: params or flops")
    calr_gamma_max: float = _option(4.0, "CaLR's decay exponent of the smallest subnet (the largest gets 1/calr_gamma_max)")
    ms: bool = _option(False, "momentum separation (MS): one momentum buffer set per group of subnets")
    ms_grouping: str = _option("split_edge", "how MS groups subnets (nasbench201: split_edge, the op on space option split_edge, or edge0..edge5)")
    fewshot_grouping: str = _option("edge0", "how few-shot NAS splits the supernet into sub-supernets (nasbench201: edge0, the op on edge 1<-0)")
    fewshot_split_fraction: float = _option(0.0, "few-shot NAS: share of the schedule trained as one one-shot supernet before it is split, every sub-supernet continuing from its weights and momentum (Zhao et al. 2021); 0: the sub-supernets start from fresh weights (DYNAS)")
    tensorboard: bool = _option(False, "also log the training records to RUN_DIR/tensorboard (needs the tensorboard package)")
    amp_dtype: str = _option("none", "autocast dtype of forward passes: none (fp32) or bfloat16 (CUDA, or CPUs with bf16 support)")
    channels_last: bool = _option(False, "channels-last memory layout for the supernet and its batches (faster convolutions on recent GPUs)")
    cudnn_benchmark: bool = _option(False, "let cuDNN time and pick the fastest convolution algorithms (CUDA only)")


STRATEGY_GRAD_CLIP = {"spos": 5.0, "fewshot": 5.0, "mixpath": 5.0, "fairnas": 0.0}
"""Gradient-norm clip of each training strategy when ``train.grad_clip`` is left unset: the
reference codes clip at 5, except DYNAS's FairNAS, which steps on the unclipped sum of its n
subnets' gradients (clipping it would also undo CaLR's loss weights)."""


def effective_grad_clip(train: TrainConfig) -> float:
    """The clip a run trains with: ``train.grad_clip`` when set, else its strategy's default."""
    if train.grad_clip is not None:
        return train.grad_clip
    return STRATEGY_GRAD_CLIP.get(train.strategy, 5.0)


@dataclass
class RankConfig:
    """How subnets are scored and compared with ground truth."""

    num_archs: int = _option(200, "number of architectures to score, sampled uniformly with arch_seed")
    arch_seed: int = _option(0, "seed of the architecture sample (the same seed scores the same cells)")
    archs_file: str | None = _option(None, "file with one architecture string per line, or a .csv table's arch column, to score instead of a sample")
    num_images: int = _option(1000, "held-out images each subnet is scored on (stratified, fixed subset)")
    batch_size: int = _option(500, "scoring batch size")
    calibrate: bool = _option(True, "recompute BN statistics on training images before scoring (spaces with running-statistics BN)")
    calibration_images: int = _option(500, "training images used for BN calibration of each subnet")
    ground_truth: str | None = _option(None, "ground-truth CSV (default: nasbench201.csv for nasbench201)")
    column: str = _option("cifar10_test_acc", "ground-truth column to compare with")
    top_fraction: float = _option(0.1, "fraction of the ranking used for top-k precision")
    score: str = _option("supernet", "score to rank by: supernet (held-out accuracy), supernet_loss (negated held-out cross-entropy), a zero-cost score (params, flops, synflow, snip, grad_norm, jacov, naswot, zico) or a comma list of them, optionally name:weight, for a fused score (weighted mean of log-ranks)")
    proxy_batch_size: int = _option(64, "zero-cost predictors: training images per batch")
    proxy_batches: int = _option(2, "zero-cost predictors: batches (zico uses all, at least 2; the others the first)")
    proxy_seed: int = _option(0, "zero-cost predictors: seed of the batches and of the untrained subnet's weights")


@dataclass
class SearchConfig:
    """How architectures are searched: the algorithm, its objectives, budget and constraints."""

    algorithm: str = _option("nsga2", "search algorithm: nsga2 (accuracy vs cost), evolution (accuracy under the constraints) or random")
    objective: str = _option("supernet", "accuracy source: groundtruth (the rank.ground_truth table's rank.column) or a score as in rank.score (supernet, supernet_loss, a zero-cost score, or a fused comma list, ranked against rank.num_archs reference cells drawn with rank.arch_seed)")
    cost: str = _option("params", "second objective, minimised: params, flops (analytic) or latency (measured on data.device)")
    population: int = _option(50, "population size (random search draws population x generations architectures)")
    generations: int = _option(20, "number of generations, the initial population included")
    parents: int = _option(10, "evolution: the top-k architectures that parent each generation")
    mutations: int = _option(25, "evolution: mutated children per generation")
    crossovers: int = _option(25, "evolution: crossover children per generation")
    mutation_prob: float = _option(0.1, "probability that a gene is resampled by a mutation")
    max_params: float = _option(0.0, "constraint: largest allowed parameter count (0: none)")
    max_flops: float = _option(0.0, "constraint: largest allowed multiply-adds (0: none)")
    seed: int = _option(0, "seed of the search (the same seed and scores give the same search)")
    latency_batch_size: int = _option(1, "latency: images per timed forward pass")
    latency_runs: int = _option(20, "latency: timed runs per architecture (the median is kept)")
    latency_warmup: int = _option(3, "latency: untimed runs before timing")


@dataclass
class ExportConfig:
    """Which searched architecture becomes a standalone model, and in which formats."""

    arch: str | None = _option(None, "architecture to export and retrain (default: the most accurate one on the search front)")
    onnx: bool = _option(True, "also write model.onnx (needs the onnx package; skipped with a note otherwise)")


@dataclass
class RetrainConfig:
    """How an exported architecture is trained from scratch and tested (the standard recipe)."""

    epochs: float = _option(200.0, "training length in epochs of the whole training set (ignored when steps > 0)")
    steps: int = _option(0, "training length in optimizer steps (0: use epochs)")
    batch_size: int = _option(256, "training batch size")
    lr: float = _option(0.1, "initial learning rate (cosine to 0)")
    momentum: float = _option(0.9, "SGD Nesterov momentum")
    weight_decay: float = _option(5e-4, "weight decay")
    grad_clip: float = _option(5.0, "gradient-norm clip (0 disables)")
    seed: int = _option(0, "seed of weights, data order and augmentation")
    checkpoint_every: int = _option(500, "steps between checkpoints (the last step is always saved)")


@dataclass
class StudyConfig:
    """A ranking study (``supernas study STUDY.yaml``): every (variant, seed) is trained and ranked
    in its own run directory, all on the same cells and held-out images, then aggregated."""

    base: str = _option("", "config every run starts from: a preset name or a YAML file (relative to the study file, or the working directory)")
    out: str = _option("", "study directory: run directories, ledgers, cells and tables (default: runs/studies/<study file name>)")
    overrides: dict = _option({}, "dotted config overrides applied to every variant, e.g. {train.steps: 2000}")
    variants: dict = _option({}, "name -> dotted config overrides of that variant, e.g. {spos-calr-ms: {train.calr: true, train.ms: true}}")
    seeds: list = _option([0], "training seeds (train.seed) of every variant")
    variant_seeds: dict = _option({}, "variant name -> its training seeds instead of seeds, e.g. {spos: [0, 1, 2]} for the variants a claim compares")
    cells: int = _option(1000, "cells ranked, drawn uniformly with cell_seed from the ground-truth table's architectures")
    cell_seed: int = _option(0, "seed of the cell sample")
    cells_file: str | None = _option(None, "file listing the cells to rank instead of a sample (one architecture per line, or a .csv's arch column)")
    ground_truth: str | None = _option(None, "ground-truth CSV (default: nasbench201.csv)")
    column: str = _option("cifar10_test_acc", "ground-truth column")
    images: int = _option(1000, "held-out images every cell is scored on")
    scores: list = _option(["supernet", "supernet_loss"], "scores every run is ranked by (names of rank.score)")
    cell_subsets: dict = _option({}, "name -> cells file (relative to the study file): every run is also ranked on those cells, each score reported as <score>@<name> (e.g. another paper's cell sample)")


@dataclass
class GroundTruthConfig:
    """Which architectures ``supernas groundtruth`` trains from scratch (with the ``retrain`` recipe), and where."""

    num_archs: int = _option(40, "number of architectures, sampled with arch_seed and stratified over complexity")
    seeds: int = _option(2, "training seeds per architecture (0..seeds-1); two or more give the seed-to-seed noise ceiling of Kendall tau")
    arch_seed: int = _option(0, "seed of the architecture sample")
    measure: str = _option("flops", "complexity the sample is stratified over: flops or params")
    pool: int = _option(50, "candidates drawn per architecture; the sample takes the candidates nearest to evenly spaced log complexities")
    train_images: int = _option(0, "training images (a stratified subset of the training set; 0: all)")
    test_images: int = _option(0, "test images the accuracy is measured on (a stratified subset of the test split; 0: all)")
    workers: int = _option(1, "training processes run at once (spread over devices; 1: in this process)")
    devices: str = _option("", "comma-separated devices the workers are assigned to by index modulo their count (default: data.device)")
    threads: int = _option(0, "torch threads per worker (0: CPU cores / workers)")
    table: str | None = _option(None, "output CSV (default: RUN_DIR/groundtruth/table.csv)")


@dataclass
class Config:
    """A whole run: data, space, training, ranking, search, export, retraining and ground-truth settings, and where results go."""

    run_dir: str = _option("runs/default", "run directory (config.yaml, log.jsonl, checkpoints/, ranking files)")
    data: DataConfig = field(default_factory=DataConfig)
    space: SpaceConfig = field(default_factory=SpaceConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    rank: RankConfig = field(default_factory=RankConfig)
    search: SearchConfig = field(default_factory=SearchConfig)
    export: ExportConfig = field(default_factory=ExportConfig)
    retrain: RetrainConfig = field(default_factory=RetrainConfig)
    groundtruth: GroundTruthConfig = field(default_factory=GroundTruthConfig)


def _field_type(cls: type, name: str) -> Any:
    """The resolved annotation of field ``name`` of dataclass ``cls``."""
    return typing.get_type_hints(cls)[name]


def _coerce(value: Any, annotation: Any, key: str) -> Any:
    """``value`` converted to ``annotation`` (str/int/float/bool/dict, optionally None)."""
    options = typing.get_args(annotation) if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union else (annotation,)
    if value is None or (isinstance(value, str) and value.lower() in ("none", "null") and type(None) in options):
        if type(None) in options:
            return None
        raise SupernasError(f"config key {key!r} may not be empty")
    target = next(t for t in options if t is not type(None))
    if target is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "yes", "1", "on", "false", "no", "0", "off"):
            return value.lower() in ("true", "yes", "1", "on")
        raise SupernasError(f"config key {key!r} expects true or false, got {value!r}")
    if target is dict:
        if not isinstance(value, dict):
            raise SupernasError(f"config key {key!r} expects a mapping, got {value!r}")
        return dict(value)
    if target is list:
        if not isinstance(value, list):
            raise SupernasError(f"config key {key!r} expects a list, got {value!r}")
        return list(value)
    if isinstance(value, (dict, list, bool)) and not (target is str and isinstance(value, bool)):
        raise SupernasError(f"config key {key!r} expects {target.__name__}, got {value!r}")
    try:
        if target is int and isinstance(value, float) and not value.is_integer():
            raise ValueError
        return target(value)
    except (TypeError, ValueError):
        raise SupernasError(f"config key {key!r} expects {target.__name__}, got {value!r}") from None


def _merge(instance: Any, updates: dict, prefix: str = "") -> None:
    """Write ``updates`` (a nested mapping) into dataclass ``instance``, rejecting unknown keys."""
    if not isinstance(updates, dict):
        raise SupernasError(f"config section {prefix.rstrip('.') or '<top>'!r} must be a mapping")
    names = {f.name for f in dataclasses.fields(instance)}
    for key, value in updates.items():
        dotted = prefix + str(key)
        if key not in names:
            raise SupernasError(f"unknown config key {dotted!r} (valid here: {', '.join(sorted(names))})")
        current = getattr(instance, key)
        if dataclasses.is_dataclass(current):
            _merge(current, value, dotted + ".")
        else:
            setattr(instance, key, _coerce(value, _field_type(type(instance), key), dotted))


def to_dict(config: Config) -> dict:
    """The config as plain nested dicts (what ``config.yaml`` and checkpoints hold)."""
    return dataclasses.asdict(config)


def from_dict(values: dict) -> Config:
    """A :class:`Config` from nested dicts, rejecting unknown keys."""
    config = Config()
    _merge(config, values)
    return config


def with_strategy_defaults(config: Config) -> Config:
    """A copy of ``config`` with the options whose default depends on the training strategy
    (``train.grad_clip``) written out: what a run's config.yaml and checkpoints record, so that
    they keep their meaning if a strategy's default changes."""
    resolved = from_dict(to_dict(config))
    resolved.train.grad_clip = effective_grad_clip(config.train)
    return resolved


def resolve_config_path(name_or_path: str) -> Path:
    """A YAML path for a file name or a preset name (``nb201-fast`` -> the packaged preset)."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    preset = PRESET_DIR / f"{name_or_path}.yaml"
    if preset.is_file():
        return preset
    presets = ", ".join(sorted(p.stem for p in PRESET_DIR.glob("*.yaml")))
    raise SupernasError(f"config {name_or_path!r} is neither a file nor a preset (presets: {presets})")


def load_yaml(path: str | Path) -> dict:
    """The mapping in a YAML file, with a clear error for unreadable or malformed files."""
    try:
        values = yaml.safe_load(Path(path).read_text())
    except OSError as error:
        raise SupernasError(f"cannot read config {path}: {error.strerror}") from None
    except yaml.YAMLError as error:
        raise SupernasError(f"config {path} is not valid YAML: {str(error).splitlines()[0]}") from None
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise SupernasError(f"config {path} must hold a mapping at the top level")
    return values


def override_value(raw_value: str) -> Any:
    """A command-line value parsed as YAML (``0.05``, ``true``, ``null``), or the text itself when
    it is not valid YAML (an architecture string such as ``|nor_conv_3x3~0|+...``)."""
    if raw_value == "":
        return ""
    try:
        return yaml.safe_load(raw_value)
    except yaml.YAMLError:
        return raw_value


def set_dotted(config: Config, dotted: str, raw_value: str) -> None:
    """Apply one ``section.key`` override given as text (see :func:`override_value`)."""
    set_dotted_value(config, dotted, override_value(raw_value))


def set_dotted_value(config: Config, dotted: str, value: Any) -> None:
    """Apply one ``section.key`` override given as a value (``space.options.NAME`` sets one option)."""
    keys = dotted.split(".")
    nested: Any = value
    for key in reversed(keys):
        nested = {key: nested}
    if len(keys) >= 3 and keys[0] == "space" and keys[1] == "options":
        config.space.options[".".join(keys[2:])] = value
        return
    _merge(config, nested)


def load_study(path: str | Path) -> StudyConfig:
    """A study file's settings, rejecting unknown keys by name."""
    study = StudyConfig()
    _merge(study, load_yaml(path))
    return study


def load_config(name_or_path: str | None = None, overrides: dict[str, str] | None = None) -> Config:
    """Config from an optional YAML file or preset, then dotted overrides."""
    config = Config()
    if name_or_path:
        _merge(config, load_yaml(resolve_config_path(name_or_path)))
    for dotted, raw in (overrides or {}).items():
        set_dotted(config, dotted, raw)
    return config


def leaf_fields(cls: type = Config, prefix: str = "") -> list[tuple[str, Any, dataclasses.Field]]:
    """Every leaf option as (dotted name, type, field), for building the command line."""
    leaves = []
    for item in dataclasses.fields(cls):
        annotation = _field_type(cls, item.name)
        if dataclasses.is_dataclass(annotation):
            leaves.extend(leaf_fields(annotation, prefix + item.name + "."))
        else:
            leaves.append((prefix + item.name, annotation, item))
    return leaves


def save_config(config: Config, path: str | Path) -> None:
    """Write the fully resolved config as YAML (atomically)."""
    from supernas.utils import atomic_write_text

    atomic_write_text(path, yaml.safe_dump(to_dict(config), sort_keys=False))
