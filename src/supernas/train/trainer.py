"""The one training loop for every space and sampling strategy.

batch -> sampler -> forward/backward (gradients accumulated over the step's architectures,
losses weighted by the policy) -> clip -> policy step (learning rate, momentum group) -> log
-> checkpoint. Data order, augmentation and sampled architectures are pure functions of
(seed, step), so a resumed run is bit-identical.

Under ``torchrun`` every rank samples the same architectures (the samplers are functions of
(seed, step)), runs its share of the step's global batch as micro-batches
(:func:`~supernas.runs.distributed.micro_batch_slices`), and the gradients that exist are
summed over ranks before clipping and the policy step, so every rank holds the same weights and
momentum groups. Rank 0 alone logs and writes checkpoints; every rank reads them, whatever the
number of ranks that wrote them.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm import tqdm

from supernas.config import Config, save_config, to_dict, with_strategy_defaults
from supernas.errors import SupernasError
from supernas.runs.checkpoint import check_compatible, load_resumable_checkpoint, save_checkpoint
from supernas.runs.distributed import DistributedContext, distributed_context, micro_batch_slices
from supernas.runs.experiment import build_space, build_supernet, checkpoint_path, load_splits, train_loader
from supernas.runs.files import config_file, log_file
from supernas.train.policy import OptimisationPolicy, make_optimizer
from supernas.train.precision import autocast, set_cudnn_benchmark, to_memory_format
from supernas.train.samplers import make_sampler
from supernas.train.tensorboard import TensorBoardLog
from supernas.utils import reported_write_errors


@dataclass(frozen=True)
class TrainResult:
    """Summary of a finished training run. ``images_per_second`` counts data images (a batch
    once, however many subnets train on it); ``forward_passes`` counts image-subnet forward
    passes of this run (data images times the subnets per step: 5x the images for FairNAS on
    NAS-Bench-201). ``train_seconds`` is wall clock and ``cpu_seconds`` this process's CPU
    time, both since this run (re)started."""

    run_dir: str
    steps: int
    resumed_from: int
    train_seconds: float
    images_per_second: float
    final_loss: float
    cpu_seconds: float = 0.0
    forward_passes: int = 0


def total_steps(config: Config, steps_per_epoch: int) -> int:
    """Training length in steps: ``train.steps`` or ``train.epochs`` worth of batches."""
    if config.train.steps > 0:
        return config.train.steps
    return max(1, math.ceil(config.train.epochs * steps_per_epoch))


def append_jsonl(path: Path, record: dict) -> None:
    """Append one JSON record as a line (flushed, so a killed run keeps what it logged)."""
    with reported_write_errors(path), open(path, "a") as file:
        file.write(json.dumps(record) + "\n")


def first_nonfinite(losses: list[tuple[int, list, torch.Tensor]]) -> tuple[int, list] | None:
    """The (step, architectures) of the first non-finite loss among recorded steps, if any."""
    if not losses or bool(torch.stack([loss for _, _, loss in losses]).isfinite().all()):
        return None
    return next((step, archs) for step, archs, loss in losses if not bool(loss.isfinite()))


def summed_over_ranks(values: list[torch.Tensor], context: DistributedContext) -> list[torch.Tensor]:
    """Each scalar tensor of ``values`` (on one device) summed over ranks in float64 (one all-reduce)."""
    stacked = torch.stack([value.double() for value in values])
    context.all_reduce_sum([stacked])
    return list(stacked.unbind())


def clipped_gradient_norm(model: torch.nn.Module, clip: float) -> torch.Tensor:
    """The norm of all of ``model``'s gradients, measured before they are scaled down to norm
    ``clip`` (only when it exceeds it; ``clip`` 0 leaves them as they are)."""
    if clip > 0:
        return torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    return torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(grad) for grad in grads]))


def fewshot_split_step(config: Config, steps: int) -> int | None:
    """The step at which an inheriting few-shot supernet splits into its sub-supernets
    (``train.fewshot_split_fraction`` of ``steps``), or ``None`` when nothing splits during training."""
    fraction = config.train.fewshot_split_fraction
    return round(fraction * steps) if fraction > 0 else None


def train_supernet(config: Config, context: DistributedContext | None = None) -> TrainResult:
    """Train (or resume) the supernet of ``config`` in ``config.run_dir``; on every rank of a
    process group (torchrun's, or ``context``'s) when there is one."""
    config = with_strategy_defaults(config)
    context = context or distributed_context(config.data.device)
    device = context.device
    train_split, _ = load_splits(config)
    space = build_space(config, train_split)
    run_dir = Path(config.run_dir)
    with reported_write_errors(f"run directory {run_dir}"):
        run_dir.mkdir(parents=True, exist_ok=True)

    torch.manual_seed(config.train.seed)
    model = to_memory_format(build_supernet(config, space).to(device), config.train.channels_last)
    loader = train_loader(config, train_split, device)
    set_cudnn_benchmark(device, config.train.cudnn_benchmark)
    micro_batches = micro_batch_slices(config.data.batch_size, config.train.micro_batches, context)
    portion = slice(micro_batches[0].start, micro_batches[-1].stop)
    parts = [slice(part.start - portion.start, part.stop - portion.start) for part in micro_batches]
    share = 1.0 / (len(parts) * context.world_size)
    steps = total_steps(config, loader.steps_per_epoch)
    policy = OptimisationPolicy(make_optimizer(model.parameters(), config.train), config.train, space, steps)
    shared_genes = space.group_genes(config.train.ms_grouping) if config.train.ms else ()
    sampler = make_sampler(config.train.strategy, space, config.train.seed, shared_genes)
    split_at = fewshot_split_step(config, steps)

    start = 0
    ckpt = checkpoint_path(config)
    state = load_resumable_checkpoint(ckpt, set_aside=context.is_main)
    if state is not None:
        check_compatible(state, space.describe(), to_dict(config), ckpt)
        model.load_state_dict(state["model"])
        policy.load_state_dict(state["policy"])
        start = state["step"]
    context.check_same(start, f"the step to resume from (is {ckpt} on a filesystem every node sees?)")
    context.broadcast_module(model)
    if context.is_main:
        with reported_write_errors(config_file(run_dir)):
            save_config(config, config_file(run_dir))

    def checkpoint(step: int) -> None:
        context.average_buffers(model)
        if context.is_main:
            save_checkpoint(ckpt, {"model": model.state_dict(), "policy": policy.state_dict(), "step": step,
                                   "config": to_dict(config), "space": space.describe()})
        context.barrier()

    pending: list[tuple[int, list, torch.Tensor]] = []
    norms: list[torch.Tensor] = []
    correct = torch.zeros((), device=device)
    seen = 0
    model.train()
    started, cpu_started = time.perf_counter(), time.process_time()
    window_start, last_loss = started, float("nan")
    board = TensorBoardLog(run_dir) if config.train.tensorboard and context.is_main else None
    progress = tqdm(range(start, steps), initial=start, total=steps, disable=not (config.train.progress and context.is_main),
                    desc="train", unit="step", dynamic_ncols=True)
    for step, (images, labels) in zip(progress, loader.batches(start, portion)):
        if step == split_at:
            policy.copy_state(model.split())
        archs = sampler.sample(step)
        model.zero_grad(set_to_none=True)
        step_loss = torch.zeros((), device=device)
        for arch, weight in zip(archs, policy.loss_weights(step, archs)):
            for part in parts:
                with autocast(device, config.train.amp_dtype):
                    logits = model(images[part], arch)
                    loss = F.cross_entropy(logits, labels[part])
                (loss * (weight * share)).backward()
                step_loss += loss.detach() * share
                correct += (logits.detach().argmax(1) == labels[part]).sum()
        context.sum_gradients(model.parameters())
        context.all_reduce_sum([step_loss])
        norms.append(clipped_gradient_norm(model, config.train.grad_clip))
        pending.append((step, archs, step_loss / len(archs)))
        seen += len(labels) * len(archs)

        done = step + 1
        if done % config.train.log_every == 0 or done == steps or done % config.train.checkpoint_every == 0:
            bad = first_nonfinite(pending)
            if bad is not None:
                raise SupernasError(f"loss became non-finite at step {bad[0]} training {', '.join(map(str, bad[1]))}; "
                                    f"the last good checkpoint ({ckpt}) was kept")
        policy.step(step, archs)
        if done % config.train.log_every == 0 or done == steps:
            now = time.perf_counter()
            last_loss = float(torch.stack([loss for _, _, loss in pending]).mean())
            hits, images_seen = (float(total) for total in summed_over_ranks([correct, torch.tensor(seen, device=device)], context))
            record = {"step": done, "loss": last_loss, "train_acc": hits / max(images_seen, 1) * 100,
                      "lr": policy.optimizer.param_groups[0]["lr"], "grad_norm": float(torch.stack(norms).mean()),
                      "images_per_second": images_seen / len(archs) / max(now - window_start, 1e-9),
                      "forward_passes_per_second": images_seen / max(now - window_start, 1e-9),
                      "elapsed": now - started, "cpu_seconds": time.process_time() - cpu_started,
                      "complexity": space.complexity(archs[0], config.train.calr_measure)}
            if context.is_main:
                append_jsonl(log_file(run_dir), record)
            if board is not None:
                board.write(record)
            progress.set_postfix(loss=f"{last_loss:.3f}", acc=f"{record['train_acc']:.1f}")
            pending, norms, seen, window_start = [], [], 0, now
            correct.zero_()
        if done % config.train.checkpoint_every == 0 or done == steps:
            checkpoint(done)
    progress.close()
    if board is not None:
        board.close()
    elapsed, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    data_images = (steps - start) * config.data.batch_size
    return TrainResult(str(run_dir), steps, start, elapsed, data_images / max(elapsed, 1e-9), last_loss, cpu_seconds,
                       data_images * len(sampler.sample(0)))
