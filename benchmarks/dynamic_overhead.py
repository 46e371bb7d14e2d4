"""Per-step cost of CaLR + momentum separation against plain training, in one run.

Two copies of the same NAS-Bench-201 supernet train on the same architectures and batches,
step by step in alternating order: one with the plain policy (cosine LR, one momentum), one with
CaLR + MS. For each step the policy's work (loss weights, LR, momentum-group swap and the SGD
step) and the whole training step (forward, backward, clip, policy) are timed; medians are
reported, and the overhead as the extra policy time over the plain whole step.

    python benchmarks/dynamic_overhead.py                       # reference supernet C=16, N=5, batch 64
    python benchmarks/dynamic_overhead.py --strategy fairnas --channels 8 --cells-per-stage 1
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time

import torch
import torch.nn.functional as F

from supernas.config import TrainConfig, effective_grad_clip
from supernas.spaces import get_space
from supernas.train.policy import OptimisationPolicy, make_optimizer
from supernas.train.samplers import make_sampler
from supernas.train.trainer import clipped_gradient_norm


def timed_step(model, policy: OptimisationPolicy, images, labels, archs, step: int) -> tuple[float, float]:
    """One training step as the trainer runs it; (policy seconds, whole-step seconds)."""
    started = time.perf_counter()
    model.zero_grad(set_to_none=True)
    tick = time.perf_counter()
    weights = policy.loss_weights(step, archs)
    policy_seconds = time.perf_counter() - tick
    for arch, weight in zip(archs, weights):
        (F.cross_entropy(model(images, arch), labels) * weight).backward()
    clipped_gradient_norm(model, effective_grad_clip(policy.config))
    tick = time.perf_counter()
    policy.step(step, archs)
    policy_seconds += time.perf_counter() - tick
    return policy_seconds, time.perf_counter() - started


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strategy", default="spos", choices=("spos", "fairnas"))
    parser.add_argument("--channels", type=int, default=16)
    parser.add_argument("--cells-per-stage", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=40, help="timed steps (after --warmup untimed ones)")
    parser.add_argument("--warmup", type=int, default=5)
    args = parser.parse_args(argv)

    space = get_space("nasbench201", channels=args.channels, cells_per_stage=args.cells_per_stage)
    total = args.warmup + args.steps
    torch.manual_seed(0)
    plain_model = space.build_supernet()
    variants = {}
    for name, config in (("plain", TrainConfig()), ("calr+ms", TrainConfig(calr=True, ms=True))):
        model = copy.deepcopy(plain_model)
        variants[name] = (model, OptimisationPolicy(make_optimizer(model.parameters(), config), config, space, total))
    sampler = make_sampler(args.strategy, space, 0, space.group_genes("split_edge"))
    data = torch.Generator().manual_seed(0)
    times = {name: ([], []) for name in variants}
    for step in range(total):
        images = torch.randn(args.batch_size, 3, 32, 32, generator=data)
        labels = torch.randint(10, (args.batch_size,), generator=data)
        archs = sampler.sample(step)
        order = list(variants) if step % 2 == 0 else list(reversed(variants))
        for name in order:
            policy_seconds, step_seconds = timed_step(*variants[name], images, labels, archs, step)
            if step >= args.warmup:
                times[name][0].append(policy_seconds)
                times[name][1].append(step_seconds)

    median = {name: (statistics.median(p), statistics.median(s)) for name, (p, s) in times.items()}
    print(f"NAS-Bench-201 C={args.channels} N={args.cells_per_stage}, batch {args.batch_size}, {args.strategy}, "
          f"{args.steps} timed steps, torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"{'variant':<10}{'policy+optimizer ms':>22}{'whole step ms':>16}")
    for name, (policy_s, step_s) in median.items():
        print(f"{name:<10}{policy_s * 1e3:>22.3f}{step_s * 1e3:>16.1f}")
    extra = median["calr+ms"][0] - median["plain"][0]
    print(f"CaLR+MS adds {extra * 1e3:.3f} ms per step = {extra / median['plain'][1] * 100:.2f}% of a plain step "
          f"(whole-step ratio {median['calr+ms'][1] / median['plain'][1]:.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
