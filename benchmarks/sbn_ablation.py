"""Shadow BN ablation on Fashion-MNIST, ranked against ground truth: linear vs exponential vs
shared (one BN) vs scaling, each with and without BN calibration.

One MixPath S1 supernet per normalisation trains with MixPath sampling (per layer m' uniform
in 1..m) and the S1 recipe (SGD momentum 0.9, weight decay 3e-4, clip 5, cosine LR), at the
scale of the ground-truth table (its recipe YAML's width_mult, depth and max_paths). Each then
scores the table's architectures on held-out training images, after BN calibration on
training images and with the running statistics as trained, and is compared with the table's
mean test accuracy over seeds (Kendall tau-b, Spearman rho). The table's seed-to-seed tau is the
noise ceiling; the parameter count's tau is the no-training baseline. Last, the Shadow BN
diagnostics of the linear run (expected mu_k/mu_1 about k, var_k/var_1 about k²). Runs live in
``--out``; rerunning reuses them (finished training, cached scores).

    OMP_NUM_THREADS=1 python benchmarks/sbn_ablation.py      # S1 table: width 0.25, depth 6, m=2; 300 steps, batch 32
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

from supernas.config import Config, load_yaml
from supernas.groundtruth.builder import MEAN_COLUMN, seed_column, seed_to_seed_tau
from supernas.nn.shadow_bn import SBN_MODES
from supernas.rank import rank_run
from supernas.report.sbn import diagnose_run, format_rows
from supernas.runs.files import log_file
from supernas.train.trainer import train_supernet
from supernas.utils import retain_freed_memory

S1_FASHION_MNIST = Path(__file__).resolve().parents[1] / "src/supernas/groundtruth/data/mixpath_s1_fmnist.csv"
SCALE_OPTIONS = ("width_mult", "depth", "max_paths")


def table_scale(table: Path) -> dict:
    """The space options of the table's recipe (``<table>.yaml``) that fix the supernet's scale."""
    options = load_yaml(table.with_suffix(".yaml"))["space"]["options"]
    return {key: options[key] for key in SCALE_OPTIONS if key in options}


def table_noise_ceiling(table: Path) -> tuple[float, int]:
    """Seed-to-seed Kendall tau of the table's accuracies, and its number of seeds."""
    with table.open(newline="") as file:
        rows = list(csv.DictReader(file))
    seeds = sum(1 for name in rows[0] if name.startswith(MEAN_COLUMN + "_seed"))
    accuracies = {row["arch"]: {s: float(row[seed_column(s)]) for s in range(seeds) if row[seed_column(s)]} for row in rows}
    return seed_to_seed_tau(accuracies, seeds), seeds


def last_record(run_dir: str) -> dict:
    """A run's last ``log.jsonl`` record: its training's wall time and final loss, also when reused."""
    return json.loads(log_file(run_dir).read_text().splitlines()[-1])


def ablation_config(args: argparse.Namespace, mode: str, table: Path) -> Config:
    """The run of one normalisation mode, at the table's scale, ranked against the table."""
    config = Config(run_dir=str(Path(args.out) / mode))
    config.data.dataset, config.data.device, config.data.batch_size = "fashion-mnist", "cpu", args.batch_size
    config.space.name = "mixpath-s1"
    config.space.options = {**table_scale(table), "bn": mode}
    train = config.train
    train.strategy, train.steps, train.lr, train.progress = "mixpath", args.steps, args.lr, False
    train.nesterov, train.weight_decay, train.checkpoint_every = False, 3e-4, args.steps
    rank = config.rank
    rank.archs_file, rank.ground_truth, rank.column = str(table), str(table), MEAN_COLUMN
    rank.num_images, rank.calibration_images = args.images, args.calibration_images
    return config


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/sbn-ablation")
    parser.add_argument("--ground-truth", default=str(S1_FASHION_MNIST), help="ground-truth table (with its recipe .yaml)")
    parser.add_argument("--modes", default=",".join(SBN_MODES))
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--images", type=int, default=500, help="held-out images each architecture is scored on")
    parser.add_argument("--calibration-images", type=int, default=256)
    args = parser.parse_args(argv)

    retain_freed_memory()  # CPU: about half the time of scoring (no page faults for every activation)
    table = Path(args.ground_truth)
    ceiling, seeds = table_noise_ceiling(table)
    print(f"MixPath S1 on Fashion-MNIST at the scale of {table.name} ({table_scale(table)}): {args.steps} steps of "
          f"{args.batch_size}, lr {args.lr}; scored on {args.images} held-out images, calibration on "
          f"{args.calibration_images}; ground truth {MEAN_COLUMN} (mean of {seeds} seeds), seed-to-seed Kendall tau "
          f"{ceiling:.3f} (noise ceiling)")
    print("| bn | train s | final loss | BN statistics | archs | Kendall tau | Spearman rho | prec@top | "
          "mean acc by paths |")
    print("|---|---|---|---|---|---|---|---|---|")
    baseline = None
    for mode in args.modes.split(","):
        config = ablation_config(args, mode, table)
        train_supernet(config)
        trained = last_record(config.run_dir)
        for calibrate in (True, False):
            config.rank.calibrate = calibrate
            result = rank_run(config)
            m, baseline = result.metrics, result.params_metrics
            by_paths = ", ".join(f"{k}: {row['mean']:.1f}" for k, row in result.by_paths.items())
            print(f"| {mode} | {trained['elapsed']:.0f} | {trained['loss']:.3f} | "
                  f"{'calibrated' if calibrate else 'as trained'} | {m.num_archs} | {m.kendall_tau:.3f} | "
                  f"{m.spearman_rho:.3f} | {m.precision_at_top:.2f} | {by_paths} |", flush=True)
    if baseline is not None:
        print(f"| parameter count (no training) | | | | {baseline.num_archs} | {baseline.kendall_tau:.3f} | "
              f"{baseline.spearman_rho:.3f} | {baseline.precision_at_top:.2f} | |")
    if "linear" in args.modes.split(","):
        print(f"\nShadow BN diagnostics of the linear run (supernas sbn {Path(args.out) / 'linear'}):")
        print(format_rows(diagnose_run(Path(args.out) / "linear")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
