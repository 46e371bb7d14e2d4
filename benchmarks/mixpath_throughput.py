"""MixPath S1 training throughput with m = 1..4 active paths per layer: reference vs naive vs fused block.

Three supernets train on the same batches and architectures (every layer with exactly m
depthwise kernels, rate and kernels random), step by step in alternating order:
``reference`` (MixPath's block: per-kernel depthwise-BN-ReLU6 branches, summed, projected,
Shadow BN), ``naive`` (conv-only branches summed one by one, then Shadow BN) and ``fused`` (the
same sum as one depthwise convolution with the composite kernel). A step is what the trainer
does: forward, backward, gradient clip, SGD step. Throughput is images per second at the
median step time; ratios compare each block with its own single-path (m = 1) step and the
fused block with the other two at the same m.

    python benchmarks/mixpath_throughput.py                    # CPU: width 0.25, batch 32 (about 2 minutes)
    python benchmarks/mixpath_throughput.py --device cuda      # GPU: full width, batch 96 (the S1 recipe)
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from supernas.nn.mixpath import KERNELS
from supernas.spaces import get_space
from supernas.train.precision import autocast, to_memory_format
from supernas.utils import resolve_device, seeded_generator

BLOCKS = ("reference", "naive", "fused")


@dataclass(frozen=True)
class Variant:
    """One timed configuration: the S1 block and the training step's precision options."""

    label: str
    block: str
    amp_dtype: str = "none"
    channels_last: bool = False


BLOCK_VARIANTS = tuple(Variant(block, block) for block in BLOCKS)
"""The three blocks in fp32, contiguous layout (what the reference code runs)."""


def timed_step(model, optimizer, images, labels, arch, device: torch.device, amp_dtype: str = "none",
               clock=time.perf_counter) -> float:
    """Seconds of one training step (forward under ``amp_dtype`` autocast, backward, clip 5, SGD
    step) by ``clock`` (wall clock by default; ``time.process_time`` counts this process's CPU time)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    started = clock()
    optimizer.zero_grad(set_to_none=True)
    with autocast(device, amp_dtype):
        loss = F.cross_entropy(model(images, arch), labels)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
    optimizer.step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return clock() - started


def measure_throughput(variants, device: torch.device, *, width_mult: float, depth: int, image_size: int,
                       batch_size: int, steps: int, warmup: int, clock=time.perf_counter) -> dict[tuple[str, int], float]:
    """Training images/s of each variant with m = 1..4 kernels in every layer, {(label, m): img/s}.

    All variants train on the same batches and architectures, step by step in alternating
    order (so machine noise hits them alike); the rate is at the median step time by ``clock``."""
    spaces = {block: get_space("mixpath-s1", block=block, width_mult=width_mult, depth=depth, image_size=image_size)
              for block in dict.fromkeys(v.block for v in variants)}
    models = {}
    for variant in variants:
        torch.manual_seed(0)
        model = to_memory_format(spaces[variant.block].build_supernet().to(device).train(), variant.channels_last)
        models[variant.label] = (model, torch.optim.SGD(model.parameters(), lr=0.025, momentum=0.9, weight_decay=3e-4))
    sampling_space = next(iter(spaces.values()))
    generator = seeded_generator(0)
    images_per_second: dict[tuple[str, int], float] = {}
    for paths in range(1, len(KERNELS) + 1):
        times: dict[str, list[float]] = {variant.label: [] for variant in variants}
        for step in range(warmup + steps):
            images = torch.randn(batch_size, 3, image_size, image_size, generator=generator).to(device)
            labels = torch.randint(10, (batch_size,), generator=generator).to(device)
            arch = sampling_space.sample_with_paths(paths, generator)
            for variant in variants if step % 2 == 0 else reversed(variants):
                batch = images.contiguous(memory_format=torch.channels_last) if variant.channels_last else images
                seconds = timed_step(*models[variant.label], batch, labels, arch, device, variant.amp_dtype, clock)
                if step >= warmup:
                    times[variant.label].append(seconds)
        for variant in variants:
            images_per_second[variant.label, paths] = batch_size / statistics.median(times[variant.label])
    return images_per_second


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto", help="auto (cuda when available), cpu, cuda")
    parser.add_argument("--width-mult", type=float, default=None, help="default: 0.25 on CPU, 1.0 on GPU")
    parser.add_argument("--batch-size", type=int, default=None, help="default: 32 on CPU, 96 on GPU")
    parser.add_argument("--depth", type=int, default=12)
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=None, help="timed steps per block and m (default: 3 on CPU, 20 on GPU)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps per block and m")
    args = parser.parse_args(argv)
    device = resolve_device(args.device)
    on_gpu = device.type == "cuda"
    width_mult = args.width_mult or (1.0 if on_gpu else 0.25)
    batch_size = args.batch_size or (96 if on_gpu else 32)
    steps = args.steps or (20 if on_gpu else 3)

    images_per_second = measure_throughput(BLOCK_VARIANTS, device, width_mult=width_mult, depth=args.depth,
                                           image_size=args.image_size, batch_size=batch_size, steps=steps,
                                           warmup=args.warmup)

    name = torch.cuda.get_device_name(device) if on_gpu else f"CPU ({torch.get_num_threads()} threads)"
    print(f"MixPath S1 training throughput, {name}, torch {torch.__version__}: width_mult {width_mult}, "
          f"depth {args.depth}, {args.image_size}x{args.image_size}, batch {batch_size}, median of {steps} steps")
    header = "| m | " + " | ".join(f"{b} img/s" for b in BLOCKS) + " | " + " | ".join(f"{b} vs m=1" for b in BLOCKS)
    print(header + " | fused / reference | fused / naive |")
    print("|" + "---|" * (2 * len(BLOCKS) + 3))
    for paths in range(1, len(KERNELS) + 1):
        rates = [images_per_second[b, paths] for b in BLOCKS]
        relative = [images_per_second[b, paths] / images_per_second[b, 1] for b in BLOCKS]
        fused = images_per_second["fused", paths]
        print(f"| {paths} | " + " | ".join(f"{r:.0f}" for r in rates) + " | " + " | ".join(f"{r:.2f}" for r in relative)
              + f" | {fused / images_per_second['reference', paths]:.2f} | {fused / images_per_second['naive', paths]:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
