"""Shadow BN ablation on Fashion-MNIST at a tiny CPU budget: linear vs exponential vs shared vs scaling.

One scaled MixPath S1 supernet per normalisation trains with MixPath sampling (per layer m'
uniform in 1..m) and the S1 recipe (SGD momentum 0.9, weight decay 3e-4, clip 5, cosine LR).
Each then scores the same architectures, ``--archs-per-paths`` with exactly k kernels in every
layer for k = 1..m, on held-out images: after BN calibration on training images, and with the
running statistics as trained. Last, the Shadow BN diagnostics of the linear run (expected
mu_k/mu_1 about k, var_k/var_1 about k²). Runs live in ``--out``; rerunning reuses them.

    OMP_NUM_THREADS=1 python benchmarks/sbn_ablation.py        # width 0.25, depth 6, m=2, 300 steps, batch 32
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from supernas.config import Config
from supernas.evaluate.evaluator import rank_run
from supernas.evaluate.sbn_diagnostics import diagnose_run, format_rows
from supernas.nn.shadow_bn import SBN_MODES
from supernas.spaces import get_space
from supernas.train.trainer import train_supernet
from supernas.utils import seeded_generator


def ablation_config(args: argparse.Namespace, mode: str, archs_file: Path) -> Config:
    """The run of one normalisation mode."""
    config = Config(run_dir=str(Path(args.out) / mode))
    config.data.dataset, config.data.device, config.data.batch_size = "fashion-mnist", "cpu", args.batch_size
    config.space.name = "mixpath-s1"
    config.space.options = {"width_mult": args.width_mult, "depth": args.depth, "max_paths": args.max_paths, "bn": mode}
    train = config.train
    train.strategy, train.steps, train.lr, train.progress = "mixpath", args.steps, args.lr, False
    train.nesterov, train.weight_decay = False, 3e-4
    rank = config.rank
    rank.archs_file, rank.num_images, rank.calibration_images = str(archs_file), args.images, args.calibration_images
    config.train.checkpoint_every = args.steps
    return config


def write_architectures(args: argparse.Namespace, path: Path) -> None:
    """``--archs-per-paths`` architectures per number of paths k = 1..m, one per line."""
    space = get_space("mixpath-s1", depth=args.depth, max_paths=args.max_paths)
    generator = seeded_generator(args.seed)
    archs = [space.sample_with_paths(k, generator) for k in range(1, args.max_paths + 1) for _ in range(args.archs_per_paths)]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{arch}\n" for arch in archs))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/sbn-ablation")
    parser.add_argument("--modes", default=",".join(SBN_MODES))
    parser.add_argument("--width-mult", type=float, default=0.25)
    parser.add_argument("--depth", type=int, default=6)
    parser.add_argument("--max-paths", type=int, default=2)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--archs-per-paths", type=int, default=8)
    parser.add_argument("--images", type=int, default=500, help="held-out images each architecture is scored on")
    parser.add_argument("--calibration-images", type=int, default=256)
    parser.add_argument("--seed", type=int, default=0, help="seed of the scored architectures")
    args = parser.parse_args(argv)

    archs_file = Path(args.out) / "archs.txt"
    write_architectures(args, archs_file)
    print(f"MixPath S1 on Fashion-MNIST: width_mult {args.width_mult}, depth {args.depth}, m={args.max_paths}, "
          f"{args.steps} steps of {args.batch_size}, lr {args.lr}; {args.archs_per_paths} architectures per k, "
          f"{args.images} held-out images, calibration on {args.calibration_images}")
    print("| bn | train s | final loss | BN statistics | k | archs | mean acc | std | min | max |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for mode in args.modes.split(","):
        config = ablation_config(args, mode, archs_file)
        started = time.perf_counter()
        trained = train_supernet(config)
        train_seconds = time.perf_counter() - started
        for calibrate in (True, False):
            config.rank.calibrate = calibrate
            for k, row in rank_run(config).by_paths.items():
                print(f"| {mode} | {train_seconds:.0f} | {trained.final_loss:.3f} | "
                      f"{'calibrated' if calibrate else 'as trained'} | {k} | {row['count']} | {row['mean']:.2f} | "
                      f"{row['std']:.2f} | {row['min']:.2f} | {row['max']:.2f} |", flush=True)
    if "linear" in args.modes.split(","):
        print(f"\nShadow BN diagnostics of the linear run (supernas sbn {Path(args.out) / 'linear'}):")
        print(format_rows(diagnose_run(Path(args.out) / "linear")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
