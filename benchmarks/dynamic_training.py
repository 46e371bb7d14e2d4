"""Dynamic supernet training on NAS-Bench-201 / CIFAR-10: SPOS and FairNAS with and without
complexity-aware LR (CaLR) and momentum separation (MS), at equal steps and seed.

Every variant trains on the same stratified 25k half of the CIFAR-10 training set with the same
seed and number of steps, then scores the same seeded sample of cells on the same held-out
images of the other half and compares with the ground-truth column ``cifar10_test_acc``
(Kendall τ-b, Spearman ρ, precision at the top 10%). The parameter-count predictor on the
same cells is the no-training baseline.

    OMP_NUM_THREADS=1 python benchmarks/dynamic_training.py  # CPU budget (13 minutes on 2 shared cores)
    python benchmarks/dynamic_training.py --budget gpu       # reference supernet and length (hours on a GPU)
    python benchmarks/dynamic_training.py --variants spos,spos+calr+ms --set train.steps=1000
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from supernas.config import load_config
from supernas.rank import rank_run
from supernas.train.trainer import train_supernet

COMMON = {"data.dataset": "cifar10", "data.train_fraction": "0.5", "data.batch_size": "64", "train.lr": "0.025",
          "train.log_every": "100", "train.checkpoint_every": "100000", "train.progress": "false"}
"""The NAS-Bench-201 SPOS recipe shared by every variant: CIFAR-10, half the training set for the
supernet and half held out for ranking, batch 64, SGD at lr 0.025 (cosine to 0), uniform sampling."""

BUDGETS = {
    "cpu": {"space.options.channels": "8", "space.options.cells_per_stage": "1", "train.steps": "300",
            "rank.num_archs": "100", "rank.num_images": "500"},
    "gpu": {"space.options.channels": "16", "space.options.cells_per_stage": "5", "train.epochs": "250",
            "rank.num_archs": "1000", "rank.num_images": "5000"},
}
"""``cpu``: a proxy supernet (C=8, one cell per stage) for 300 steps, 100 cells on 500 images,
sized to finish within 25 minutes on 2 busy CPU cores (13 minutes measured). ``gpu``: the
reference supernet (C=16, N=5) for 250 epochs of the 25k half (97,750 steps), 1,000 cells on
5,000 images."""

VARIANTS = {
    "spos": {"train.strategy": "spos"},
    "spos+calr": {"train.strategy": "spos", "train.calr": "true"},
    "spos+ms": {"train.strategy": "spos", "train.ms": "true"},
    "spos+calr+ms": {"train.strategy": "spos", "train.calr": "true", "train.ms": "true"},
    "fairnas": {"train.strategy": "fairnas"},
    "fairnas+calr+ms": {"train.strategy": "fairnas", "train.calr": "true", "train.ms": "true"},
    "fewshot": {"train.strategy": "fewshot"},
    "fewshot+calr+ms": {"train.strategy": "fewshot", "train.calr": "true", "train.ms": "true"},
}

DEFAULT_VARIANTS = "spos,spos+calr,spos+ms,spos+calr+ms,fairnas,fairnas+calr+ms"

COLUMNS = ("variant", "steps", "train_s", "score_s", "tau", "rho", "prec@10%", "top1_true")


def variant_overrides(args: argparse.Namespace, variant: str, run_dir: str) -> dict[str, str]:
    """Dotted config overrides of one variant: recipe, budget, split edge, variant, then ``--set``."""
    overrides = {**COMMON, **BUDGETS[args.budget], "space.options.split_edge": str(args.split_edge),
                 "train.seed": str(args.seed), "data.device": args.device, **VARIANTS[variant], "run_dir": run_dir}
    overrides.update(item.split("=", 1) for item in args.set)
    return overrides


def table_row(label: str, steps: int, train_s: float, score_s: float, metrics) -> dict:
    """One row of the results table."""
    values = (label, steps, round(train_s, 1), round(score_s, 1), round(metrics.kendall_tau, 4),
              round(metrics.spearman_rho, 4), round(metrics.precision_at_top, 3), round(metrics.top1_true, 2))
    return dict(zip(COLUMNS, values))


def run_variant(args: argparse.Namespace, variant: str, runs_dir: Path) -> tuple[dict, object]:
    """Train and rank one variant; its table row and the parameter-count metrics on the same cells."""
    config = load_config(None, variant_overrides(args, variant, str(runs_dir / variant)))
    trained = train_supernet(config)
    ranked = rank_run(config)
    row = table_row(variant, trained.steps, trained.train_seconds, ranked.score_seconds, ranked.metrics)
    print(" | ".join(str(value) for value in row.values()), flush=True)
    return row, ranked.params_metrics


def markdown(rows: list[dict]) -> str:
    """The rows as a Markdown table."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    return "\n".join(lines + ["| " + " | ".join(str(row[c]) for c in COLUMNS) + " |" for row in rows])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", choices=sorted(BUDGETS), default="cpu", help="supernet size, steps and scoring set")
    parser.add_argument("--variants", default=DEFAULT_VARIANTS, help=f"comma-separated, from: {', '.join(VARIANTS)}")
    parser.add_argument("--seed", type=int, default=0, help="training seed of every variant")
    parser.add_argument("--split-edge", type=int, default=1,
                        help="MS split edge of every variant (not 0: few-shot variants split the supernet on edge 0)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--runs-dir", default=None, help="keep the run directories here (default: a temporary folder)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="extra config override for every variant, e.g. train.steps=1000")
    args = parser.parse_args(argv)
    variants = args.variants.split(",")
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        parser.error(f"unknown variants {unknown}; choose from {', '.join(VARIANTS)}")
    with tempfile.TemporaryDirectory() as scratch:
        runs_dir = Path(args.runs_dir or scratch)
        print(" | ".join(COLUMNS), flush=True)
        results = [run_variant(args, variant, runs_dir) for variant in variants]
    rows = [row for row, _ in results]
    rows.append(table_row("param count (no training)", 0, 0.0, 0.0, results[0][1]))
    print()
    print(markdown(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
