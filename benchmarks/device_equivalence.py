"""1-GPU vs 1-process-CPU equivalence: train the same supernet for k steps from the same seed on
the CPU and on CUDA, and compare the weights; then time a longer run on the GPU.

The batches and sampled architectures are pure functions of (seed, step) and the augmentation
draws come from CPU generators, so both devices see the same data; what differs is the float
arithmetic of the kernels (cuDNN, TF32 off here), so the weights agree to a tolerance, not
bit for bit. On a machine without CUDA the script prints a skip line and exits 0.

    python benchmarks/device_equivalence.py --steps 20            # equivalence check
    python benchmarks/device_equivalence.py --throughput_steps 200 # also GPU images/s of a real run
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import torch

from supernas.config import Config
from supernas.runs.checkpoint import load_checkpoint
from supernas.runs.experiment import checkpoint_path
from supernas.train.trainer import train_supernet


def run_config(run_dir: Path, device: str, steps: int, dataset: str, space: str) -> Config:
    """A synthetic-data (or CIFAR-10) run of ``steps`` steps on ``device``."""
    config = Config()
    config.run_dir = str(run_dir)
    config.data.dataset, config.data.device, config.data.batch_size = dataset, device, 64
    config.space.name = space
    config.space.options = {"channels": 8, "cells_per_stage": 2} if space == "nasbench201" else {"width_mult": 0.5, "depth": 6, "max_paths": 2}
    config.train.strategy = "spos" if space == "nasbench201" else "mixpath"
    config.train.steps, config.train.log_every, config.train.progress = steps, max(1, steps // 4), False
    return config


def max_differences(first: dict[str, torch.Tensor], second: dict[str, torch.Tensor]) -> dict[str, float]:
    """Largest absolute and relative (to the tensor's largest magnitude) difference over float tensors."""
    absolute, relative = 0.0, 0.0
    for name, value in first.items():
        if value.is_floating_point():
            gap = float((value - second[name]).abs().max())
            absolute = max(absolute, gap)
            relative = max(relative, gap / max(float(value.abs().max()), 1e-12))
    return {"max_abs": absolute, "max_rel": relative}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20, help="training steps compared between the devices")
    parser.add_argument("--throughput_steps", type=int, default=0, help="then time a GPU run of this many steps (0: skip)")
    parser.add_argument("--dataset", default="synthetic", help="synthetic or cifar10")
    parser.add_argument("--space", default="nasbench201", help="nasbench201 or mixpath-s1")
    parser.add_argument("--tolerance", type=float, default=1e-3, help="largest relative weight difference accepted")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("device_equivalence: skipped, no CUDA device on this machine")
        return
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    with tempfile.TemporaryDirectory() as tmp:
        weights = {}
        for device in ("cpu", "cuda"):
            config = run_config(Path(tmp) / device, device, args.steps, args.dataset, args.space)
            result = train_supernet(config)
            weights[device] = load_checkpoint(checkpoint_path(config))["model"]
            print(f"{device}: {args.steps} steps, final loss {result.final_loss:.6f}, {result.images_per_second:.0f} images/s")
        report = {"steps": args.steps, "space": args.space, "dataset": args.dataset,
                  **max_differences(weights["cpu"], weights["cuda"])}
        report["equivalent"] = report["max_rel"] <= args.tolerance
        if args.throughput_steps:
            config = run_config(Path(tmp) / "throughput", "cuda", args.throughput_steps, args.dataset, args.space)
            result = train_supernet(config)
            report["gpu_images_per_second"] = result.images_per_second
            report["gpu"] = torch.cuda.get_device_name()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
