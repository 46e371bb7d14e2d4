"""Retraining: the chosen architecture as a standalone network, trained from scratch on the
whole training set with a standard recipe (SGD, Nesterov momentum, cosine to 0, crop + flip
(+ cutout) as configured under ``data``), then tested on the dataset's test split.

The data is read as training reads it: an ImageFolder dataset streams its batches from image
files through ``data.workers`` DataLoader workers at ``data.image_size``. Checkpoints go to
``RUN_DIR/retrain/last.pt``; running the command again resumes there.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass

import torch

from supernas.config import Config, to_dict
from supernas.errors import SupernasError
from supernas.evaluate.scoring import standalone_accuracy
from supernas.runs.checkpoint import load_resumable_checkpoint, save_checkpoint
from supernas.runs.experiment import batch_loader, build_space, load_full_split
from supernas.runs.files import LAST_CHECKPOINT, LOG_FILE, RETRAIN_RESULT, retrain_dir
from supernas.subnet.choice import chosen_architecture
from supernas.train.policy import make_optimizer
from supernas.train.standalone import fit_standalone, retrain_policy
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


def retrain_run(config: Config) -> RetrainResult:
    """Train the chosen architecture (``export.arch`` or the search's most accurate) from
    scratch on the full training set and report its top-1 accuracy on the test split."""
    retrain = config.retrain
    device = resolve_device(config.data.device)
    train_set, test_set = load_full_split(config, train=True), load_full_split(config, train=False)
    space = build_space(config, train_set)
    arch = chosen_architecture(config, space)
    torch.manual_seed(retrain.seed)
    model = space.build_subnet(arch).to(device)
    policy = retrain_policy(config)
    optimizer = make_optimizer(model.parameters(), policy)
    loader = batch_loader(config.data, train_set, retrain.batch_size, retrain.seed, device)
    steps = retrain.steps if retrain.steps > 0 else max(1, math.ceil(retrain.epochs * loader.steps_per_epoch))

    out_dir = retrain_dir(config.run_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    ckpt = out_dir / LAST_CHECKPOINT
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
            append_jsonl(out_dir / LOG_FILE, record)
        if done % retrain.checkpoint_every == 0 or done == steps:
            checkpoint(done)

    fit_standalone(model, optimizer, loader, policy, steps, start=start, after_step=after_step,
                   progress=config.train.progress)
    train_seconds = time.perf_counter() - started
    accuracy = standalone_accuracy(model, test_set, device)
    params = sum(p.numel() for p in model.parameters())
    result = RetrainResult(str(arch), steps, start, train_seconds, accuracy, params, str(out_dir))
    atomic_write_text(out_dir / RETRAIN_RESULT, json.dumps(asdict(result), indent=2) + "\n")
    return result
