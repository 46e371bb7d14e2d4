"""Retraining: the chosen architecture as a standalone network, trained from scratch on the
whole training set with a standard recipe (SGD, Nesterov momentum, cosine to 0, crop + flip
(+ cutout) as configured under ``data``), then tested on the dataset's test split.

Checkpoints go to ``RUN_DIR/retrain/last.pt``; running the command again resumes there.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm import tqdm

from supernas.config import Config, TrainConfig, to_dict
from supernas.data import AugmentConfig, DeviceLoader, ImageDataset, load_dataset
from supernas.errors import SupernasError
from supernas.evaluate.evaluator import top1_accuracy
from supernas.experiment import build_space
from supernas.search.runner import chosen_architecture
from supernas.train.checkpoint import load_resumable_checkpoint, save_checkpoint
from supernas.train.policy import make_optimizer, scheduled_lr, set_lr
from supernas.train.trainer import append_jsonl
from supernas.utils import atomic_write_text, resolve_device


@dataclass(frozen=True)
class RetrainResult:
    """A retrained architecture's test accuracy and what it took."""

    arch: str
    steps: int
    resumed_from: int
    train_seconds: float
    test_accuracy: float
    params: int
    out_dir: str


def retrain_policy(config: Config) -> TrainConfig:
    """The retraining recipe as the optimisation settings the training policy reads."""
    retrain = config.retrain
    return TrainConfig(lr=retrain.lr, lr_min=0.0, schedule="cosine", momentum=retrain.momentum, nesterov=True,
                       weight_decay=retrain.weight_decay, grad_clip=retrain.grad_clip)


def fit_standalone(model: torch.nn.Module, optimizer: torch.optim.Optimizer, loader: DeviceLoader, policy: TrainConfig,
                   steps: int, *, start: int = 0, after_step: Callable[[int, torch.Tensor], None] | None = None,
                   progress: bool = False) -> None:
    """Train a standalone ``model`` (``forward(x)``) from step ``start`` to ``steps``: cross-entropy
    on ``loader.batch(step)``, the LR of ``policy``'s schedule, gradient clipping, one optimizer
    step; ``after_step(steps_done, loss)`` is called after each step (logging, checkpoints)."""
    model.train()
    bar = tqdm(range(start, steps), initial=start, total=steps, desc="retrain", unit="step", disable=not progress,
               dynamic_ncols=True)
    for step in bar:
        images, labels = loader.batch(step)
        set_lr(optimizer, scheduled_lr(policy, step, steps))
        optimizer.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(images), labels)
        loss.backward()
        if policy.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), policy.grad_clip)
        optimizer.step()
        if after_step is not None:
            after_step(step + 1, loss)
    bar.close()


def standalone_accuracy(model: torch.nn.Module, test_set: ImageDataset, device: torch.device, batch_size: int = 500) -> float:
    """Top-1 accuracy (%) of a standalone ``model`` in eval mode on every image of ``test_set``."""
    model.eval()
    return top1_accuracy(model, DeviceLoader(test_set, batch_size, device=device).batches_in_order())


def retrain_run(config: Config) -> RetrainResult:
    """Train the chosen architecture (``export.arch`` or the search's most accurate) from
    scratch on the full training set and report its top-1 accuracy on the test split."""
    retrain, data = config.retrain, config.data
    device = resolve_device(data.device)
    train_set = load_dataset(data.dataset, data.root, train=True, synthetic_size=data.synthetic_size)
    test_set = load_dataset(data.dataset, data.root, train=False, synthetic_size=data.synthetic_size)
    space = build_space(config, train_set)
    arch = chosen_architecture(config, space)
    torch.manual_seed(retrain.seed)
    model = space.build_subnet(arch).to(device)
    policy = retrain_policy(config)
    optimizer = make_optimizer(model.parameters(), policy)
    augment = AugmentConfig(crop_padding=data.crop_padding, flip=data.flip, cutout=data.cutout)
    loader = DeviceLoader(train_set, retrain.batch_size, seed=retrain.seed, augment=augment, device=device)
    steps = retrain.steps if retrain.steps > 0 else max(1, math.ceil(retrain.epochs * loader.steps_per_epoch))

    out_dir = Path(config.run_dir) / "retrain"
    out_dir.mkdir(parents=True, exist_ok=True)
    ckpt = out_dir / "last.pt"
    start = 0
    state = load_resumable_checkpoint(ckpt)
    if state is not None:
        if state["arch"] != str(arch) or state["retrain"] != to_dict(config)["retrain"]:
            raise SupernasError(f"{ckpt} retrains another architecture or recipe; remove it or use another run_dir")
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        start = state["step"]

    def checkpoint(step: int) -> None:
        save_checkpoint(ckpt, {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": step,
                               "arch": str(arch), "retrain": to_dict(config)["retrain"], "space": space.describe()})

    started = time.perf_counter()

    def after_step(done: int, loss: torch.Tensor) -> None:
        if done % config.train.log_every == 0 or done == steps:
            record = {"step": done, "loss": float(loss.detach()), "lr": optimizer.param_groups[0]["lr"],
                      "elapsed": time.perf_counter() - started}
            append_jsonl(out_dir / "log.jsonl", record)
        if done % retrain.checkpoint_every == 0 or done == steps:
            checkpoint(done)

    fit_standalone(model, optimizer, loader, policy, steps, start=start, after_step=after_step,
                   progress=config.train.progress)
    train_seconds = time.perf_counter() - started
    accuracy = standalone_accuracy(model, test_set, device)
    params = sum(p.numel() for p in model.parameters())
    result = RetrainResult(str(arch), steps, start, train_seconds, accuracy, params, str(out_dir))
    atomic_write_text(out_dir / "result.json", json.dumps(asdict(result), indent=2) + "\n")
    return result
