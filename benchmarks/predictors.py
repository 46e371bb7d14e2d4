"""Zero-cost predictors, the supernet and fused rankings on NAS-Bench-201 / CIFAR-10.

Phases (each resumable; results under ``benchmarks/results/``):

    python benchmarks/predictors.py scores --tag full      # every proxy of 1,500 cells -> predictors_full.csv
    python benchmarks/predictors.py report                 # tables + plot -> BENCHMARKS.md

The cells are ``sample_architectures(space, 1500, seed=0)``: the first 1,000 are the reported
sample, the other 500 the disjoint tuning sample on which fusion weights are chosen.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

import torch

from supernas.data import load_dataset, split_dataset
from supernas.evaluate.evaluator import sample_architectures
from supernas.evaluate.zero_cost import PROXY_SCORES, proxy_batches, proxy_scores
from supernas.spaces import get_space

RESULTS = Path(__file__).with_name("results")
REPORTED, TUNING = 1000, 500
SAMPLE_SEED = 0


def cells(space) -> list:
    """The reported sample followed by the tuning sample (disjoint, same seeded draw)."""
    return sample_architectures(space, REPORTED + TUNING, SAMPLE_SEED)


def scores_path(tag: str) -> Path:
    return RESULTS / f"predictors_{tag}.csv"


def read_rows(path: Path) -> dict[str, dict]:
    """Rows of a scores CSV by architecture string (empty when the file does not exist)."""
    if not path.exists():
        return {}
    with open(path) as file:
        return {row["arch"]: row for row in csv.DictReader(file)}


def run_scores(args) -> None:
    """Every proxy of every cell, appended to the tag's CSV one cell at a time (resumable);
    ``seconds`` is the process CPU time of all proxies of one cell computed together."""
    torch.set_num_threads(args.threads)
    space = get_space("nasbench201", channels=args.channels, cells_per_stage=args.cells)
    train, _ = split_dataset(load_dataset("cifar10", None, train=True), 0.5, 0)
    batches = proxy_batches(train, args.batch_size, args.batches, args.seed, torch.device("cpu"))
    path = scores_path(args.tag)
    path.parent.mkdir(parents=True, exist_ok=True)
    done = read_rows(path)
    columns = ["arch", *PROXY_SCORES, "seconds"]
    todo = [a for a in cells(space)[args.start:args.stop] if str(a) not in done]
    with open(path, "a", newline="") as file:
        writer = csv.DictWriter(file, columns)
        if not done:
            writer.writeheader()
        for index, arch in enumerate(todo):
            started = time.process_time()
            values = proxy_scores(lambda: space.build_subnet(arch), batches, PROXY_SCORES, args.seed)
            writer.writerow({"arch": str(arch), **values, "seconds": round(time.process_time() - started, 4)})
            file.flush()
            if index % 50 == 0:
                print(f"{args.tag}: {index + 1}/{len(todo)}", flush=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    phases = parser.add_subparsers(dest="phase", required=True)
    scores = phases.add_parser("scores", help="compute and cache every proxy of the sampled cells")
    scores.add_argument("--tag", default="full")
    scores.add_argument("--channels", type=int, default=16)
    scores.add_argument("--cells", type=int, default=5)
    scores.add_argument("--batch-size", type=int, default=64)
    scores.add_argument("--batches", type=int, default=2)
    scores.add_argument("--seed", type=int, default=0)
    scores.add_argument("--start", type=int, default=0)
    scores.add_argument("--stop", type=int, default=REPORTED + TUNING)
    scores.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    if args.phase == "scores":
        run_scores(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
