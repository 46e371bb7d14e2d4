"""Optimisation policy: the learning rate, loss weights and momentum group of each step, as a
thin layer over one torch optimizer that is told the architectures of each step.

* Plain: the configured schedule (cosine or constant), one shared momentum.
* CaLR (complexity-aware learning rate, ``train.calr``): the LR of a step decays as
  ``(1 - t/T)^γ(α)``, with γ large (fast decay) for small subnets and small for large ones.
  A step that trains several architectures (FairNAS) keeps the LR constant and weights each
  architecture's loss by that decay instead.
* MS (momentum separation, ``train.ms``): architectures are split into K groups by a
  structural feature (:meth:`Space.group`); each group keeps its own optimizer state
  (momentum buffers) over all parameters, and a step reads and writes only its group's.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence

import torch

from supernas.config import TrainConfig
from supernas.errors import SupernasError
from supernas.spaces.base import Architecture, Space

SCHEDULES = ("cosine", "constant")


def scheduled_lr(config: TrainConfig, step: int, total_steps: int) -> float:
    """Learning rate at ``step`` of ``total_steps`` for the configured schedule."""
    if config.schedule == "constant":
        return config.lr
    if config.schedule == "cosine":
        progress = min(step / max(total_steps, 1), 1.0)
        return config.lr_min + (config.lr - config.lr_min) * 0.5 * (1.0 + math.cos(math.pi * progress))
    raise SupernasError(f"unknown learning-rate schedule {config.schedule!r}; expected one of {', '.join(SCHEDULES)}")


def make_optimizer(parameters, config: TrainConfig) -> torch.optim.SGD:
    """SGD with the configured momentum, Nesterov flag and weight decay."""
    return torch.optim.SGD(parameters, lr=config.lr, momentum=config.momentum,
                           nesterov=config.nesterov and config.momentum > 0, weight_decay=config.weight_decay)


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """Set the learning rate of every parameter group."""
    for group in optimizer.param_groups:
        group["lr"] = lr


def decay_exponent(complexity: float, complexity_range: tuple[float, float], gamma_max: float) -> float:
    """CaLR's γ(α): ``gamma_max`` for the smallest subnet, ``1/gamma_max`` for the largest,
    linear in log complexity in between (clamped to that interval)."""
    low, high = complexity_range
    position = (math.log(complexity) - math.log(low)) / (math.log(high) - math.log(low))
    return gamma_max + (1.0 / gamma_max - gamma_max) * min(max(position, 0.0), 1.0)


def decay_factor(step: int, total_steps: int, gamma: float, floor: float) -> float:
    """``(1 - floor)·(1 - t/T)^γ + floor``: CaLR's multiplier of the initial LR at step ``t`` of ``T``."""
    progress = min(step / max(total_steps, 1), 1.0)
    return (1.0 - floor) * (1.0 - progress) ** gamma + floor


class MomentumGroups:
    """Momentum separation over one optimizer: K stores of per-parameter optimizer state
    (SGD's momentum buffers), of which the optimizer sees only the step's group's during
    :meth:`step`. Memory grows by K momentum buffers per trained parameter, nothing else.
    Parameters without a gradient are skipped by the optimizer, so a step leaves their
    buffers in every group untouched."""

    def __init__(self, optimizer: torch.optim.Optimizer, num_groups: int):
        self.optimizer = optimizer
        self.params = [p for group in optimizer.param_groups for p in group["params"]]
        self.stores = [defaultdict(dict) for _ in range(num_groups)]

    def step(self, group: int) -> None:
        """One optimizer step that reads and writes only the state of ``group``."""
        self.optimizer.state = self.stores[group]
        try:
            self.optimizer.step()
        finally:
            self.optimizer.state = defaultdict(dict)

    def state_dict(self) -> list[dict[int, dict]]:
        """Every group's state, keyed by parameter index (as torch optimizers do)."""
        index = {p: i for i, p in enumerate(self.params)}
        return [{index[p]: dict(state) for p, state in store.items() if state} for store in self.stores]

    def load_state_dict(self, groups: list[dict[int, dict]]) -> None:
        """Restore every group's state saved by :meth:`state_dict`, moved to each parameter's device."""
        if len(groups) != len(self.stores):
            raise SupernasError(f"checkpoint holds {len(groups)} momentum groups, this run has {len(self.stores)}")
        for store, saved in zip(self.stores, groups):
            store.clear()
            for i, state in saved.items():
                param = self.params[i]
                store[param] = {key: value.to(param.device) if torch.is_tensor(value) else value
                                for key, value in state.items()}


class OptimisationPolicy:
    """What the trainer asks each step: loss weights of the step's architectures, then the
    optimizer step at the right LR with the right momentum group. Its state (optimizer and
    every momentum group) is part of the checkpoint."""

    def __init__(self, optimizer: torch.optim.Optimizer, config: TrainConfig, space: Space, total_steps: int):
        self.optimizer, self.config, self.space, self.total_steps = optimizer, config, space, total_steps
        self.complexity_range = self._calr_range() if config.calr else None
        self.momentum = self._momentum_groups() if config.ms else None

    def _calr_range(self) -> tuple[float, float]:
        """The space's complexity range under ``calr_measure``, after checking CaLR's settings."""
        config = self.config
        if config.calr_gamma_max <= 0:
            raise SupernasError(f"train.calr_gamma_max must be positive, got {config.calr_gamma_max}")
        if not 0 <= config.lr_min <= config.lr or config.lr <= 0:
            raise SupernasError(f"CaLR needs 0 <= train.lr_min <= train.lr and train.lr > 0, got {config.lr_min} and {config.lr}")
        low, high = self.space.complexity_range(config.calr_measure)
        if not 0 < low < high:
            raise SupernasError(f"CaLR needs subnets of different positive complexity; space {self.space.name!r} ranges {low}..{high}")
        return low, high

    def _momentum_groups(self) -> MomentumGroups:
        """K momentum stores for ``ms_grouping``, after checking that there is a momentum to separate."""
        if self.config.momentum <= 0:
            raise SupernasError("momentum separation needs train.momentum > 0")
        return MomentumGroups(self.optimizer, self.space.num_groups(self.config.ms_grouping))

    def calr_factor(self, step: int, arch: Architecture) -> float:
        """CaLR's multiplier of the initial LR for ``arch`` at ``step`` (its final value is lr_min / lr)."""
        gamma = decay_exponent(self.space.complexity(arch, self.config.calr_measure), self.complexity_range,
                               self.config.calr_gamma_max)
        return decay_factor(step, self.total_steps, gamma, self.config.lr_min / self.config.lr)

    def loss_weights(self, step: int, archs: Sequence[Architecture]) -> list[float]:
        """Weight of each architecture's loss: CaLR's factors when a step trains several
        architectures (the LR then stays constant), otherwise 1."""
        if self.complexity_range is None or len(archs) == 1:
            return [1.0] * len(archs)
        return [self.calr_factor(step, arch) for arch in archs]

    def learning_rate(self, step: int, archs: Sequence[Architecture]) -> float:
        """The LR of ``step``: the schedule; with CaLR, lr × CaLR's factor of a single
        architecture, or the constant lr when the step trains several."""
        if self.complexity_range is None:
            return scheduled_lr(self.config, step, self.total_steps)
        if len(archs) > 1:
            return self.config.lr
        return self.config.lr * self.calr_factor(step, archs[0])

    def momentum_group(self, archs: Sequence[Architecture]) -> int:
        """The momentum group of the step's architectures (they must all share one)."""
        groups = {self.space.group(arch, self.config.ms_grouping) for arch in archs}
        if len(groups) != 1:
            raise SupernasError(f"momentum separation needs all architectures of a step in one group; "
                                f"this step spans groups {sorted(groups)}")
        return groups.pop()

    def step(self, step: int, archs: Sequence[Architecture]) -> None:
        """The optimizer step of ``step`` (gradients already accumulated)."""
        set_lr(self.optimizer, self.learning_rate(step, archs))
        if self.momentum is None:
            self.optimizer.step()
        else:
            self.momentum.step(self.momentum_group(archs))

    def copy_state(self, pairs: Sequence[tuple[torch.Tensor, torch.Tensor]]) -> None:
        """Give the second parameter of each pair a copy of the first one's optimizer state
        (momentum buffers; with MS, in every group), so that it continues as the first would."""
        stores = self.momentum.stores if self.momentum is not None else [self.optimizer.state]
        for store in stores:
            for source, target in pairs:
                if source in store:
                    store[target] = {key: value.clone() if torch.is_tensor(value) else value
                                     for key, value in store[source].items()}

    def state_dict(self) -> dict:
        """The optimizer's state dict and, with MS, every momentum group's state."""
        return {"optimizer": self.optimizer.state_dict(),
                "momentum_groups": self.momentum.state_dict() if self.momentum else None}

    def load_state_dict(self, state: dict) -> None:
        """Restore what :meth:`state_dict` saved."""
        self.optimizer.load_state_dict(state["optimizer"])
        if self.momentum is not None:
            self.momentum.load_state_dict(state["momentum_groups"])
