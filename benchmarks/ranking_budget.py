"""Ranking quality per minute of training on NAS-Bench-201 / CIFAR-10: reference-style SPOS vs
supernas' fast recipe vs the free parameter-count predictor.

For each training budget (wall-clock, or CPU time with ``--clock cpu``) and seed: train on one
stratified, seeded 25k half of CIFAR-10, score the same seeded sample of cells on images of the
other half, and compare with ``cifar10_test_acc``. Training and scoring time are reported
separately; the budget bounds training. The table is printed and appended to BENCHMARKS.md; a
plot is saved beside it.

    python benchmarks/ranking_budget.py --budgets 2,5,10 --seeds 0,1,2
"""

from __future__ import annotations

import argparse
import datetime
import json
import multiprocessing
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
import yaml

from reference_spos import train_reference_spos
from supernas.config import load_config
from supernas.evaluate.calibration import calibrate_batchnorm
from supernas.evaluate.scoring import prepare_scoring_data, sample_architectures
from supernas.groundtruth.ranking import ranking_metrics
from supernas.groundtruth.tables import ground_truth_for
from supernas.runs.experiment import build_space, load_splits, load_trained_supernet
from supernas.train.budget import MAX_BUDGET_STEPS, steps_for_budget
from supernas.train.trainer import train_supernet
from supernas.utils import resolve_device

COLUMNS = ("variant", "budget_min", "seed", "steps", "data_images", "forward_passes", "train_s", "score_s", "tau", "rho", "prec@10%", "top1_true")


CLOCKS = {"cpu": time.process_time, "wall": time.perf_counter}


def timed_training(config, clock) -> tuple[object, float]:
    """``train_supernet(config)`` and the seconds it took on ``clock``."""
    started = clock()
    result = train_supernet(config)
    return result, clock() - started


@torch.no_grad()
def accuracy_and_loss(model, arch, scoring) -> tuple[float, float]:
    """Top-1 accuracy (%) and mean cross-entropy of ``arch`` in the supernet on the scoring batches."""
    if scoring.calibration_batches:
        calibrate_batchnorm(model, scoring.calibration_batches, lambda x: model(x, arch))
    model.eval()
    correct, loss, total = 0, 0.0, 0
    for images, labels in scoring.eval_batches:
        logits = model(images, arch)
        correct += int((logits.argmax(1) == labels).sum())
        loss += float(F.cross_entropy(logits, labels, reduction="sum"))
        total += len(labels)
    return correct * 100.0 / total, loss / total


def score_cells(model, archs, scoring, truth, top_fraction=0.1) -> tuple[dict, float, list[float]]:
    """Metrics of ``archs`` ranked by the supernet's accuracy and by its loss (lower is better),
    against ground truth: ``({"accuracy": ..., "loss": ...}, seconds, accuracies)``."""
    started = time.perf_counter()
    accuracies, losses = zip(*(accuracy_and_loss(model, arch, scoring) for arch in archs))
    seconds = time.perf_counter() - started
    true = [truth[str(a)] for a in archs]
    metrics = {"accuracy": ranking_metrics(list(accuracies), true, top_fraction),
               "loss": ranking_metrics([-value for value in losses], true, top_fraction)}
    return metrics, seconds, list(accuracies)


def row(variant, budget, seed, steps, counts, train_s, score_s, metrics) -> dict:
    """One table row; ``counts`` is (data images, image-subnet forward passes) of the training."""
    return dict(zip(COLUMNS, (variant, budget, seed, steps, *counts, round(train_s, 1), round(score_s, 1),
                              round(metrics.kendall_tau, 4), round(metrics.spearman_rho, 4),
                              round(metrics.precision_at_top, 3), round(metrics.top1_true, 2))))


def scored_rows(variant, budget, seed, steps, counts, train_s, model, archs, scoring, truth) -> tuple[list[dict], dict]:
    """Rows of a trained supernet ranked by accuracy and by loss, and its per-cell accuracies."""
    metrics, score_s, accuracies = score_cells(model, archs, scoring, truth)
    rows = [row(variant, budget, seed, steps, counts, train_s, score_s, metrics["accuracy"]),
            row(f"{variant} (loss)", budget, seed, steps, counts, train_s, score_s, metrics["loss"])]
    return rows, {"variant": variant, "budget_min": budget, "seed": seed, "supernet": accuracies,
                  "true": [truth[str(a)] for a in archs]}


def run_budget(args, budget: float, seed: int) -> tuple[list[dict], list[dict]]:
    """Baseline and ours at one budget and seed, scored on the identical cells: the table rows,
    and the per-cell accuracies (supernet and true) of each trained supernet."""
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    clock = CLOCKS[args.clock]
    overrides = {"train.seed": str(seed), "train.progress": "false", "rank.num_archs": str(args.num_archs),
                 "rank.num_images": str(args.num_images), "data.device": args.device}
    overrides.update(item.split("=", 1) for item in args.set)
    config = load_config(args.preset, overrides)
    train, heldout = load_splits(config)
    space = build_space(config, train)
    truth = ground_truth_for(config, space)
    archs = sample_architectures(space, args.num_archs, config.rank.arch_seed)
    scoring = prepare_scoring_data(heldout, train, config, device, calibrate=False)
    rows, cells = [], []
    if "baseline" in args.variants:
        model, _, steps, images, train_s = train_reference_spos(train, budget, seed, clock=clock, device=device,
                                                                   workers=args.baseline_workers, max_steps=args.max_steps,
                                                                   space_options=yaml.safe_load(args.baseline_options))
        more_rows, points = scored_rows("baseline", budget, seed, steps, (images, images), train_s, model.to(device),
                                        archs, scoring, truth)
        rows, cells = rows + more_rows, cells + [points]
    if "ours" in args.variants:
        ours_scoring = (prepare_scoring_data(heldout, train, config, device, calibrate=True)
                        if space.needs_calibration else scoring)
        with tempfile.TemporaryDirectory() as run_dir:
            config.run_dir = run_dir
            config.train.steps = steps_for_budget(config, budget * 60, args.clock, args.max_steps)
            result, train_s = timed_training(config, clock)
            model = load_trained_supernet(config, space, device)
        counts = (result.steps * config.data.batch_size, result.forward_passes)
        more_rows, points = scored_rows("ours", budget, seed, config.train.steps, counts, train_s, model, archs,
                                        ours_scoring, truth)
        rows, cells = rows + more_rows, cells + [points]
    params = ranking_metrics([space.complexity(a) for a in archs], [truth[str(a)] for a in archs], 0.1)
    rows.append(row("param count", budget, seed, 0, (0, 0), 0, 0, params))
    print(markdown(rows, summary=False), flush=True)
    return rows, cells


def run_all(args, budgets: list[float], seeds: list[int]) -> tuple[list[dict], list[dict]]:
    """Every (budget, seed), in ``args.jobs`` worker processes when more than one."""
    tasks = [(args, budget, seed) for budget in budgets for seed in seeds]
    if args.jobs > 1:
        with multiprocessing.get_context("spawn").Pool(args.jobs) as pool:
            results = pool.starmap(run_budget, tasks)
    else:
        results = [run_budget(*task) for task in tasks]
    return [r for rows, _ in results for r in rows], [c for _, cells in results for c in cells]


def markdown(rows: list[dict], summary: bool = True) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(str(r[c]) for c in COLUMNS) + " |" for r in rows]
    if not summary:
        return "\n".join(lines)
    taus = {}
    for r in rows:
        taus.setdefault((r["variant"], r["budget_min"]), []).append(r["tau"])
    lines += ["", "| variant | budget_min | tau mean ± std (seeds) |", "|---|---|---|"]
    for (variant, budget), values in taus.items():
        spread = statistics.stdev(values) if len(values) > 1 else 0.0
        lines.append(f"| {variant} | {budget} | {statistics.mean(values):.3f} ± {spread:.3f} ({len(values)}) |")
    return "\n".join(lines)


def plot(rows: list[dict], cells: list[dict], path: Path) -> None:
    """Mean τ against training minutes per variant; beside it, true against supernet accuracy
    of the cells at the longest budget (first seed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (curve, scatter) = plt.subplots(1, 2, figsize=(11, 4))
    for variant in dict.fromkeys(r["variant"] for r in rows):
        points = {}
        for r in rows:
            if r["variant"] == variant:
                points.setdefault(r["budget_min"], []).append(r["tau"])
        budgets = sorted(points)
        curve.plot(budgets, [statistics.mean(points[b]) for b in budgets], marker="o", label=variant,
                   linestyle="--" if variant == "param count" else "-")
    curve.set_xlabel("training minutes")
    curve.set_ylabel("Kendall τ vs CIFAR-10 test accuracy")
    curve.axhline(0, color="grey", linewidth=0.5)
    curve.legend(fontsize=8)
    longest = max((c["budget_min"] for c in cells), default=None)
    first_seed = min((c["seed"] for c in cells if c["budget_min"] == longest), default=None)
    for c in cells:
        if c["budget_min"] == longest and c["seed"] == first_seed:
            scatter.scatter(c["supernet"], c["true"], s=10, alpha=0.6, label=c["variant"])
    scatter.set_xlabel(f"supernet accuracy (%) after {longest} min, seed {first_seed}")
    scatter.set_ylabel("true CIFAR-10 test accuracy (%)")
    if cells:
        scatter.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budgets", default="10", help="comma-separated training budgets in minutes")
    parser.add_argument("--seeds", default="0", help="comma-separated seeds")
    parser.add_argument("--variants", default="baseline,ours", help="baseline and/or ours")
    parser.add_argument("--preset", default="nb201-fast", help="supernas config preset of 'ours'")
    parser.add_argument("--num-archs", type=int, default=200 if not torch.cuda.is_available() else 1000)
    parser.add_argument("--num-images", type=int, default=1000)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="wall",
                        help="what the budget bounds: wall-clock time, or the CPU time of this process "
                             "(robust to other jobs on a shared machine)")
    parser.add_argument("--baseline-options", default="{}",
                        help="NAS-Bench-201 options of the baseline's supernet as YAML, e.g. '{channels: 4}' "
                             "(default: the reference C=16, N=5)")
    parser.add_argument("--max-steps", type=int, default=MAX_BUDGET_STEPS,
                        help="most training steps a budget may become (a budget needing more is refused; the "
                             "baseline stops there too)")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads per job (0: torch's default)")
    parser.add_argument("--baseline-workers", type=int, default=0 if not torch.cuda.is_available() else 4,
                        help="DataLoader worker processes of the baseline (reference code uses several on GPU)")
    parser.add_argument("--jobs", type=int, default=1, help="(budget, seed) pairs run at once in worker processes")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="extra config override for both variants' data and ours, e.g. data.dataset=synthetic")
    parser.add_argument("--out", default=str(Path(__file__).with_name("results")),
                        help="folder for the plot and the results (ranking_budget.json)")
    parser.add_argument("--combine", default="", help="comma-separated ranking_budget.json files of earlier runs whose "
                                                        "rows join this run's table and plot (--budgets '' runs nothing)")
    parser.add_argument("--markdown", default=str(Path(__file__).parents[1] / "BENCHMARKS.md"), help="file the table is appended to ('' to skip)")
    args = parser.parse_args(argv)
    budgets = [float(b) for b in args.budgets.split(",") if b]
    seeds = [int(s) for s in args.seeds.split(",")]
    rows, cells = run_all(args, budgets, seeds)
    for path in filter(None, args.combine.split(",")):
        earlier = json.loads(Path(path).read_text())
        rows, cells = earlier["rows"] + rows, earlier["cells"] + cells
    rows.sort(key=lambda r: (r["budget_min"], r["seed"]))
    table = markdown(rows)
    print(table)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "ranking_budget.json").write_text(json.dumps({"rows": rows, "cells": cells}))
    plot(rows, cells, out / "ranking_budget.png")
    if args.markdown:
        threads = args.threads or torch.get_num_threads()
        device = (torch.cuda.get_device_name() if torch.cuda.is_available() else
                  f"CPU ({threads} threads x {args.jobs} jobs, {platform.processor() or platform.machine()}, {args.clock} clock)")
        header = (f"\n## Ranking quality per training budget ({datetime.date.today()}, {device}, torch {torch.__version__})\n\n"
                  f"`python benchmarks/ranking_budget.py {' '.join(sys.argv[1:])}`\n\n")
        with open(args.markdown, "a") as file:
            file.write(header + table + f"\n\nPlot: `{out / 'ranking_budget.png'}`\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
