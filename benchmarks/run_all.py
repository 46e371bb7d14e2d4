"""The performance suite: supernet training throughput against a reference-style baseline in the
same run, subnet evaluation and NSGA-II speed, peak memory, and how costs grow with the work. The
tables are printed and appended to BENCHMARKS.md with the date, device and torch version.

    OMP_NUM_THREADS=1 python benchmarks/run_all.py              # CPU, about 6 minutes on one thread
    python benchmarks/run_all.py --device cuda                  # GPU: adds bf16 / channels-last / cudnn.benchmark rows
    python benchmarks/run_all.py --quick --markdown ''          # every section at toy sizes (a smoke test)

Each section runs in a fresh process, so the peak memory reported is that section's own (CPU: the
process's peak resident set, torch and the dataset included; GPU: ``torch.cuda.max_memory_allocated``).
Times are the measuring process's CPU time on CPU (run it single-threaded: that is the work itself,
not the waiting on a shared machine) and the wall clock, with synchronisation, on GPU.

* NAS-Bench-201 SPOS training (C=16, N=5, batch 64, one 25k half of CIFAR-10): supernas'
  trainer (``train_supernet``: uint8 data on the device, batched crop/flip, box-filter pooling),
  fp32 and, on GPU, with bf16 autocast, channels-last and cudnn.benchmark; against
  ``reference_spos.train_reference_spos`` (per-image crop/flip in a standard DataLoader, fp32,
  ``nn.AvgPool2d``) for the same number of steps. Both rates are over the training loop (first
  steps included; supernas' final checkpoint too).
* MixPath S1 with m = 1..4 depthwise kernels in every layer: MixPath's reference block, the
  naive per-path sum and the fused block (and, on GPU, fused with bf16 + channels-last) on the
  same batches and architectures (``mixpath_throughput.measure_throughput``): images/s and the
  time per step relative to m = 1.
* Evaluation: subnets of an NB201 supernet with running-statistics BN, each BN-calibrated and
  scored on held-out images (``score_architecture``): time for 1, 2, 4, ... subnets.
* NSGA-II: seconds per generation with that supernet as the accuracy objective, and with the
  NAS-Bench-201 table as an oracle (the algorithm's own overhead).
* Momentum separation: optimizer-state memory and optimizer-step time vs the number of groups K
  (``MomentumGroups`` over the NB201 supernet, every parameter with a gradient).
"""

from __future__ import annotations

import argparse
import datetime
import math
import multiprocessing
import os
import platform
import resource
import shlex
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch

from mixpath_throughput import BLOCK_VARIANTS, Variant, measure_throughput
from reference_spos import train_reference_spos
from supernas.config import Config, SearchConfig, TrainConfig
from supernas.evaluate.cache import CachedMeasure, ScoreCache
from supernas.evaluate.scoring import prepare_scoring_data, sample_architectures, score_architecture
from supernas.groundtruth.tables import default_nasbench201_path, load_ground_truth
from supernas.nn.mixpath import KERNELS
from supernas.runs.experiment import build_space, load_splits
from supernas.search.objectives import Objectives, ground_truth_accuracy
from supernas.search.runner import search_space
from supernas.spaces import get_space
from supernas.train.policy import MomentumGroups, make_optimizer
from supernas.train.trainer import train_supernet
from supernas.utils import resolve_device

MIB = 2**20


@dataclass(frozen=True)
class TrainVariant:
    """Options of supernas' trainer that a training row measures."""

    label: str
    amp_dtype: str = "none"
    channels_last: bool = False
    cudnn_benchmark: bool = False


FP32 = TrainVariant("supernas fp32")
GPU_TRAIN_VARIANTS = (TrainVariant("supernas bf16", "bfloat16"),
                      TrainVariant("supernas bf16 + channels-last", "bfloat16", True),
                      TrainVariant("supernas bf16 + channels-last + cudnn.benchmark", "bfloat16", True, True))
FUSED_FAST = Variant("fused bf16 + channels-last", "fused", "bfloat16", True)


@dataclass(frozen=True)
class Settings:
    """Sizes of one suite run (see :func:`settings_for`)."""

    device: str
    """``cpu``, ``cuda``, ``cuda:1``, ... (resolved: not ``auto``)."""
    dataset: str = "cifar10"
    synthetic_size: int = 2048
    nb201_options: dict = field(default_factory=lambda: {"channels": 16, "cells_per_stage": 5})
    nb201_steps: int = 40
    baseline_workers: int = 0
    mixpath: dict = field(default_factory=lambda: {"width_mult": 0.25, "depth": 12, "image_size": 32, "batch_size": 32,
                                                   "steps": 5, "warmup": 1})
    eval_counts: tuple[int, ...] = (1, 2, 4, 8, 16)
    eval_images: int = 500
    calibration_images: int = 250
    nsga_population: int = 8
    nsga_generations: int = 3
    ms_groups: tuple[int, ...] = (1, 2, 5, 10)

    @property
    def on_gpu(self) -> bool:
        return self.device.startswith("cuda")

    @property
    def clock(self):
        """What the suite times with: this process's CPU time on CPU (run single-threaded, the
        work itself and not the waiting on a shared machine), the wall clock on GPU."""
        return time.perf_counter if self.on_gpu else time.process_time


def settings_for(device: str, quick: bool) -> Settings:
    """CPU sizes (about 6 minutes on one thread), GPU sizes (the reference recipes at full width),
    or toy sizes on synthetic data for ``quick``."""
    settings = Settings(device=str(resolve_device(device)))
    if quick:
        return replace(settings, dataset="synthetic", synthetic_size=512, nb201_options={"channels": 4, "cells_per_stage": 1},
                       nb201_steps=3, mixpath={"width_mult": 0.25, "depth": 1, "image_size": 16, "batch_size": 8,
                                               "steps": 1, "warmup": 0},
                       eval_counts=(1, 2), eval_images=64, calibration_images=32, nsga_population=4, nsga_generations=2,
                       ms_groups=(1, 2))
    if settings.on_gpu:
        return replace(settings, nb201_steps=300, baseline_workers=4,
                       mixpath={"width_mult": 1.0, "depth": 12, "image_size": 32, "batch_size": 96, "steps": 20,
                                "warmup": 3},
                       eval_counts=(1, 4, 16, 64), eval_images=1000, calibration_images=500, nsga_population=50,
                       nsga_generations=5, ms_groups=(1, 2, 5, 10, 20))
    return settings


def peak_memory_mib(device: torch.device) -> float:
    """Peak memory of this process so far: CUDA memory allocated by torch, else the peak resident set."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / MIB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_config(settings: Settings, run_dir: str, variant: TrainVariant = FP32) -> Config:
    """The NAS-Bench-201 SPOS run both the trainer rows and the evaluation section use."""
    config = Config(run_dir=run_dir)
    config.data.dataset, config.data.synthetic_size, config.data.device = settings.dataset, settings.synthetic_size, settings.device
    config.space.options = dict(settings.nb201_options)
    train = config.train
    train.steps = train.log_every = train.checkpoint_every = settings.nb201_steps
    train.progress = False
    train.amp_dtype, train.channels_last, train.cudnn_benchmark = variant.amp_dtype, variant.channels_last, variant.cudnn_benchmark
    return config


def nb201_ours(settings: Settings, variant: TrainVariant) -> dict:
    """supernas' trainer over a whole SPOS run of ``nb201_steps`` steps: images per second of
    wall-clock time over the training loop (final checkpoint included), and per second of this
    process's CPU time over the whole call (loading the split and building the model included,
    which errs against supernas by a few percent at the CPU sizes)."""
    with tempfile.TemporaryDirectory() as run_dir:
        cpu_started = time.process_time()
        result = train_supernet(run_config(settings, run_dir, variant))
        cpu_seconds = time.process_time() - cpu_started
    images = result.images_per_second * result.train_seconds
    return {"label": variant.label, "steps": result.steps, "seconds": result.train_seconds, "cpu_seconds": cpu_seconds,
            "images_per_second": result.images_per_second, "images_per_cpu_second": images / cpu_seconds,
            "peak_mib": peak_memory_mib(resolve_device(settings.device))}


def nb201_baseline(settings: Settings) -> dict:
    """The reference-style trainer on the same training split for the same number of steps:
    images per second of wall-clock time and per CPU-second over its training loop (by
    ``settings.clock``; the other rate over the whole call)."""
    train, _ = load_splits(run_config(settings, ""))
    wall_started, cpu_started = time.perf_counter(), time.process_time()
    _, _, steps, images, loop_seconds = train_reference_spos(train, math.inf, space_options=settings.nb201_options,
                                                             clock=settings.clock, device=settings.device,
                                                             workers=settings.baseline_workers, max_steps=settings.nb201_steps)
    seconds, cpu_seconds = time.perf_counter() - wall_started, time.process_time() - cpu_started
    if settings.on_gpu:
        seconds = loop_seconds
    else:
        cpu_seconds = loop_seconds
    return {"label": "reference-style baseline (per-image DataLoader, fp32)", "steps": steps, "seconds": seconds,
            "cpu_seconds": cpu_seconds, "images_per_second": images / seconds, "images_per_cpu_second": images / cpu_seconds,
            "peak_mib": peak_memory_mib(resolve_device(settings.device))}


def mixpath_section(settings: Settings) -> dict:
    """MixPath S1 images/s per (variant label, m)."""
    device = resolve_device(settings.device)
    variants = BLOCK_VARIANTS + ((FUSED_FAST,) if settings.on_gpu else ())
    rates = measure_throughput(variants, device, **settings.mixpath, clock=settings.clock)
    return {"labels": [v.label for v in variants], "rates": rates, "peak_mib": peak_memory_mib(device)}


def evaluation_section(settings: Settings) -> dict:
    """Seconds to calibrate and score 1, 2, 4, ... subnets; NSGA-II seconds per generation with the
    supernet and with the ground-truth oracle as the accuracy objective."""
    device = resolve_device(settings.device)
    config = run_config(settings, "")
    config.space.options["bn"] = "running"
    config.rank.num_images, config.rank.calibration_images = settings.eval_images, settings.calibration_images
    train, heldout = load_splits(config)
    space = build_space(config, train)
    torch.manual_seed(0)
    model = space.build_supernet().to(device)
    scoring = prepare_scoring_data(heldout, train, config, device, calibrate=True)
    archs = sample_architectures(space, 1 + sum(settings.eval_counts), seed=0)
    score_architecture(model, archs[0], scoring)
    scored, timings = 1, []
    for count in settings.eval_counts:
        started = settings.clock()
        for arch in archs[scored:scored + count]:
            score_architecture(model, arch, scoring)
        timings.append((count, settings.clock() - started))
        scored += count
    accuracy = CachedMeasure(lambda arch: score_architecture(model, arch, scoring), {"measure": "suite"}, ScoreCache())
    nsga = SearchConfig(algorithm="nsga2", population=settings.nsga_population, generations=settings.nsga_generations)
    objectives = [("supernet accuracy (calibrated)", nsga, accuracy)]
    table = default_nasbench201_path()
    if table is not None:
        oracle = ground_truth_accuracy(load_ground_truth(table, "cifar10_test_acc"), ScoreCache())
        objectives.append(("ground-truth oracle", replace(nsga, objective="groundtruth", population=50, generations=20),
                           oracle))
    searches = []
    for name, search_settings, measure in objectives:
        started = settings.clock()
        result = search_space(space, Objectives(space, measure, "params"), search_settings, measure)
        seconds = settings.clock() - started
        searches.append((name, search_settings.population, search_settings.generations, result.computed,
                         seconds / search_settings.generations))
    return {"timings": timings, "images": sum(len(labels) for _, labels in scoring.eval_batches),
            "calibration_images": sum(len(x) for x in scoring.calibration_batches), "searches": searches,
            "peak_mib": peak_memory_mib(device)}


def momentum_groups_section(settings: Settings) -> dict:
    """Optimizer-state MiB and median optimizer-step ms of MomentumGroups with K groups, every
    parameter of the NB201 supernet holding a gradient (so every group keeps a full buffer set)."""
    device = resolve_device(settings.device)
    model = get_space("nasbench201", **settings.nb201_options).build_supernet().to(device)
    for parameter in model.parameters():
        parameter.grad = torch.zeros_like(parameter)
    rows = []
    for groups in settings.ms_groups:
        momentum = MomentumGroups(make_optimizer(model.parameters(), TrainConfig()), groups)
        times = []
        for step in range(groups + max(10, groups)):
            started = settings.clock()
            momentum.step(step % groups)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            if step >= groups:
                times.append(settings.clock() - started)
        state_bytes = sum(value.nbytes for store in momentum.stores for state in store.values()
                          for value in state.values() if torch.is_tensor(value))
        rows.append((groups, state_bytes / MIB, statistics.median(times) * 1e3))
    parameters_mib = sum(p.nbytes for p in model.parameters()) / MIB
    return {"rows": rows, "parameters_mib": parameters_mib, "peak_mib": peak_memory_mib(device)}


def in_fresh_process(same_process: bool, function, *args):
    """``function(*args)``, in a new process unless ``same_process`` (then peak memory accumulates)."""
    if same_process:
        return function(*args)
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(function, *args).result()


def device_description(settings: Settings) -> str:
    """The device in words: the GPU's name, or the CPU and its torch threads."""
    if settings.on_gpu:
        return torch.cuda.get_device_name(resolve_device(settings.device))
    threads = torch.get_num_threads()
    return f"CPU ({platform.processor() or platform.machine()}, {threads} torch thread{'s' if threads > 1 else ''})"


def training_table(settings: Settings, ours: list[dict], baseline: dict, mixpath: dict) -> list[str]:
    """Training images/s of every variant with its ratio to the baseline of its workload. On CPU
    the NAS-Bench-201 ratio is of images per CPU-second (robust to other load on the machine),
    on GPU of images per wall-clock second; MixPath's is of median step times."""
    options = settings.nb201_options
    workload = f"NAS-Bench-201 SPOS (C={options['channels']}, N={options['cells_per_stage']}, batch 64, {settings.dataset})"
    lines = ["| workload | variant | steps | images/s (wall clock) | images per CPU-second | vs baseline | peak memory MiB |",
             "|---|---|---|---|---|---|---|"]
    rate = "images_per_second" if settings.on_gpu else "images_per_cpu_second"
    for row in [baseline] + ours:
        lines.append(f"| {workload} | {row['label']} | {row['steps']} | {row['images_per_second']:.1f} | "
                     f"{row['images_per_cpu_second']:.1f} | {row[rate] / baseline[rate]:.2f} | {row['peak_mib']:.0f} |")
    m = len(KERNELS)
    spec = settings.mixpath
    workload = f"MixPath S1 m={m} (width {spec['width_mult']}, depth {spec['depth']}, batch {spec['batch_size']})"
    naive = mixpath["rates"]["naive", m]
    for label in ["naive"] + [label for label in mixpath["labels"] if label != "naive"]:
        name = "naive per-path sum (baseline)" if label == "naive" else label
        lines.append(f"| {workload} | {name} | {spec['steps']} | {mixpath['rates'][label, m]:.1f} | - | "
                     f"{mixpath['rates'][label, m] / naive:.2f} | {mixpath['peak_mib']:.0f} |")
    return lines


def mixpath_table(mixpath: dict) -> list[str]:
    """Images/s per m and the time per step relative to m = 1 (cost growth with paths)."""
    labels, rates = mixpath["labels"], mixpath["rates"]
    lines = ["| m | " + " | ".join(f"{label} img/s" for label in labels) + " | "
             + " | ".join(f"{label} step time vs m=1" for label in labels) + " | fused / naive |",
             "|" + "---|" * (2 * len(labels) + 2)]
    for m in range(1, len(KERNELS) + 1):
        lines.append(f"| {m} | " + " | ".join(f"{rates[label, m]:.1f}" for label in labels) + " | "
                     + " | ".join(f"{rates[label, 1] / rates[label, m]:.2f}" for label in labels)
                     + f" | {rates['fused', m] / rates['naive', m]:.2f} |")
    return lines


def evaluation_table(evaluation: dict) -> list[str]:
    """Evaluation time per number of subnets, and NSGA-II seconds per generation."""
    lines = [f"Each subnet: BN calibration on {evaluation['calibration_images']} training images, then top-1 on "
             f"{evaluation['images']} held-out images (peak memory {evaluation['peak_mib']:.0f} MiB).", "",
             "| subnets | seconds | subnets/s | seconds per subnet vs 1 subnet |", "|---|---|---|---|"]
    single = evaluation["timings"][0][1] / evaluation["timings"][0][0]
    for count, seconds in evaluation["timings"]:
        lines.append(f"| {count} | {seconds:.2f} | {count / seconds:.2f} | {seconds / count / single:.2f} |")
    lines += ["", "| NSGA-II objective | population | generations | architectures scored | seconds per generation |",
              "|---|---|---|---|---|"]
    for name, population, generations, computed, per_generation in evaluation["searches"]:
        lines.append(f"| {name} | {population} | {generations} | {computed} | {per_generation:.3f} |")
    return lines


def momentum_table(momentum: dict) -> list[str]:
    """Optimizer-state memory and step time per number of momentum groups."""
    base_mib, base_ms = momentum["rows"][0][1], momentum["rows"][0][2]
    lines = [f"Supernet parameters: {momentum['parameters_mib']:.1f} MiB (peak memory {momentum['peak_mib']:.0f} MiB).", "",
             "| groups K | momentum buffers MiB | vs K=1 | optimizer step ms | vs K=1 |", "|---|---|---|---|---|"]
    for groups, mib, ms in momentum["rows"]:
        lines.append(f"| {groups} | {mib:.1f} | {mib / base_mib:.2f} | {ms:.2f} | {ms / base_ms:.2f} |")
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto", help="auto (cuda when available), cpu, cuda")
    parser.add_argument("--quick", action="store_true", help="toy sizes on synthetic data (a smoke test)")
    parser.add_argument("--same-process", action="store_true", help="run the sections in this process (peak memory then accumulates)")
    parser.add_argument("--markdown", default=str(Path(__file__).parents[1] / "BENCHMARKS.md"),
                        help="file the tables are appended to ('' to only print them)")
    args = parser.parse_args(argv)
    settings = settings_for(args.device, args.quick)
    started, load_before = time.perf_counter(), os.getloadavg()[0]

    def fresh(function, *function_args):
        return in_fresh_process(args.same_process, function, *function_args)

    ours = [fresh(nb201_ours, settings, FP32)]
    ours += [fresh(nb201_ours, settings, variant) for variant in (GPU_TRAIN_VARIANTS if settings.on_gpu else ())]
    baseline = fresh(nb201_baseline, settings)
    mixpath = fresh(mixpath_section, settings)
    evaluation = fresh(evaluation_section, settings)
    momentum = fresh(momentum_groups_section, settings)
    wall = time.perf_counter() - started

    sections = [("Supernet training throughput", training_table(settings, ours, baseline, mixpath)),
                ("MixPath S1: throughput and time per step vs number of paths m", mixpath_table(mixpath)),
                ("Subnet evaluation and NSGA-II", evaluation_table(evaluation)),
                ("Momentum separation: memory and step time vs number of groups", momentum_table(momentum))]
    threads = [f"OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']}"] if "OMP_NUM_THREADS" in os.environ else []
    command = shlex.join(threads + ["python", "benchmarks/run_all.py", *(sys.argv[1:] if argv is None else argv)])
    text = (f"\n## Performance suite ({datetime.date.today()}, {device_description(settings)}, torch {torch.__version__})\n\n"
            f"`{command}`: {wall:.0f} s wall; load average {load_before:.1f} at the start, {os.getloadavg()[0]:.1f} at the end "
            f"({os.cpu_count()} CPUs); times are {'wall-clock' if settings.on_gpu else 'CPU'} seconds of the measuring process\n")
    for title, lines in sections:
        text += f"\n### {title}\n\n" + "\n".join(lines) + "\n"
    print(text)
    if args.markdown:
        with open(args.markdown, "a") as file:
            file.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
