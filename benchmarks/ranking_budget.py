"""Ranking quality per minute of training on NAS-Bench-201 / CIFAR-10: reference-style SPOS vs
supernas' fast recipe vs the free parameter-count predictor.

For each wall-clock budget and seed: train on one stratified, seeded 25k half of CIFAR-10,
score the same seeded sample of cells on images of the other half, and compare with
``cifar10_test_acc``. Training and scoring time are reported separately; the budget bounds
training. The table is printed and appended to BENCHMARKS.md; a plot is saved beside it.

    python benchmarks/ranking_budget.py --budgets 2,5,10 --seeds 0,1,2
"""

from __future__ import annotations

import argparse
import copy
import datetime
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from reference_spos import train_reference_spos
from supernas.config import load_config
from supernas.evaluate.evaluator import (ground_truth_for, load_trained_supernet, prepare_scoring_data,
                                        sample_architectures, score_architecture)
from supernas.evaluate.ranking import ranking_metrics
from supernas.experiment import build_space, load_splits
from supernas.train.trainer import train_supernet
from supernas.utils import resolve_device

COLUMNS = ("variant", "budget_min", "seed", "steps", "images", "train_s", "score_s", "tau", "rho", "prec@10%", "top1_true")


def ours_steps_for_budget(config, minutes: float) -> int:
    """Steps of the preset that fit ``minutes``, from the speed of a 10-step warm-up run."""
    with tempfile.TemporaryDirectory() as scratch:
        probe = copy.deepcopy(config)
        probe.run_dir, probe.train.steps, probe.train.progress = scratch, 10, False
        result = train_supernet(probe)
    seconds_per_step = result.train_seconds / 10
    return max(1, int(minutes * 60 / seconds_per_step))


def score_cells(model, archs, scoring, truth, top_fraction=0.1) -> tuple[dict, float]:
    """Metrics of the supernet's accuracy of ``archs`` against ground truth, and the seconds taken."""
    started = time.perf_counter()
    scores = [score_architecture(model, arch, scoring) for arch in archs]
    seconds = time.perf_counter() - started
    metrics = ranking_metrics(scores, [truth[str(a)] for a in archs], top_fraction)
    return metrics, seconds


def row(variant, budget, seed, steps, images, train_s, score_s, metrics) -> dict:
    return dict(zip(COLUMNS, (variant, budget, seed, steps, images, round(train_s, 1), round(score_s, 1),
                              round(metrics.kendall_tau, 4), round(metrics.spearman_rho, 4),
                              round(metrics.precision_at_top, 3), round(metrics.top1_true, 2))))


def run_budget(args, budget: float, seed: int) -> list[dict]:
    """Baseline and ours at one budget and seed, scored on the identical cells."""
    device = resolve_device(args.device)
    overrides = {"train.seed": str(seed), "train.progress": "false", "rank.num_archs": str(args.num_archs),
                 "rank.num_images": str(args.num_images), "data.device": args.device}
    overrides.update(item.split("=", 1) for item in args.set)
    config = load_config(args.preset, overrides)
    train, heldout = load_splits(config)
    space = build_space(config, train)
    truth = ground_truth_for(config, space)
    archs = sample_architectures(space, args.num_archs, config.rank.arch_seed)
    scoring = prepare_scoring_data(heldout, train, config, device, calibrate=False)
    rows = []
    if "baseline" in args.variants:
        model, _, steps, images, train_s = train_reference_spos(train, budget, seed)
        metrics, score_s = score_cells(model.to(device), archs, scoring, truth)
        rows.append(row("baseline", budget, seed, steps, images, train_s, score_s, metrics))
    if "ours" in args.variants:
        with tempfile.TemporaryDirectory() as run_dir:
            config.run_dir = run_dir
            config.train.steps = ours_steps_for_budget(config, budget)
            result = train_supernet(config)
            model = load_trained_supernet(config, space, device)
        metrics, score_s = score_cells(model, archs, scoring, truth)
        images = round(result.images_per_second * result.train_seconds)
        rows.append(row("ours", budget, seed, config.train.steps, images, result.train_seconds, score_s, metrics))
    params = ranking_metrics([space.complexity(a) for a in archs], [truth[str(a)] for a in archs], 0.1)
    rows.append(row("param count", budget, seed, 0, 0, 0, 0, params))
    return rows


def markdown(rows: list[dict]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(str(r[c]) for c in COLUMNS) + " |" for r in rows]
    summary = {}
    for r in rows:
        summary.setdefault((r["variant"], r["budget_min"]), []).append(r["tau"])
    lines += ["", "| variant | budget_min | tau mean ± std (seeds) |", "|---|---|---|"]
    for (variant, budget), taus in summary.items():
        spread = statistics.stdev(taus) if len(taus) > 1 else 0.0
        lines.append(f"| {variant} | {budget} | {statistics.mean(taus):.3f} ± {spread:.3f} ({len(taus)}) |")
    return "\n".join(lines)


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6, 4))
    for variant in dict.fromkeys(r["variant"] for r in rows):
        points = {}
        for r in rows:
            if r["variant"] == variant:
                points.setdefault(r["budget_min"], []).append(r["tau"])
        budgets = sorted(points)
        axis.plot(budgets, [statistics.mean(points[b]) for b in budgets], marker="o", label=variant)
    axis.set_xlabel("training minutes")
    axis.set_ylabel("Kendall τ vs CIFAR-10 test accuracy")
    axis.axhline(0, color="grey", linewidth=0.5)
    axis.legend()
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
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="extra config override for both variants' data and ours, e.g. data.dataset=synthetic")
    parser.add_argument("--out", default=str(Path(__file__).with_name("results")), help="folder for the plot")
    parser.add_argument("--markdown", default=str(Path(__file__).parents[1] / "BENCHMARKS.md"), help="file the table is appended to ('' to skip)")
    args = parser.parse_args(argv)
    budgets = [float(b) for b in args.budgets.split(",")]
    seeds = [int(s) for s in args.seeds.split(",")]
    rows = [r for budget in budgets for seed in seeds for r in run_budget(args, budget, seed)]
    table = markdown(rows)
    print(table)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    plot(rows, out / "ranking_budget.png")
    if args.markdown:
        device = torch.cuda.get_device_name() if torch.cuda.is_available() else f"CPU ({torch.get_num_threads()} threads, {platform.processor() or platform.machine()})"
        header = (f"\n## Ranking quality per training budget ({datetime.date.today()}, {device}, torch {torch.__version__})\n\n"
                  f"`python benchmarks/ranking_budget.py {' '.join(sys.argv[1:])}`\n\n")
        with open(args.markdown, "a") as file:
            file.write(header + table + f"\n\nPlot: `{out / 'ranking_budget.png'}`\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
