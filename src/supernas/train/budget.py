"""Turning a time budget into a fixed number of training steps.

A run trained for a fixed number of steps keeps its cosine (or CaLR) schedule a pure function of
the step, so it resumes bit-identically and can be repeated from its recorded step count; a run
that stopped when a clock ran out could do neither. So a budget is converted once, before
training: a short probe run trains a few warm-up steps (one-time costs such as allocator and
thread-pool start-up land there), then times the next steps from the trainer's own log, and the
budget is divided by the measured cost of a step. The result is bounded whatever the clock
says: a non-positive or non-finite measurement, or a budget that would need more than
``max_steps`` steps, is refused with one line instead of turning into an endless run.
"""

from __future__ import annotations

import copy
import math
import tempfile

from supernas.config import Config
from supernas.errors import SupernasError
from supernas.runs.files import log_file
from supernas.train.trainer import train_supernet
from supernas.utils import read_jsonl

MAX_BUDGET_STEPS = 100_000
"""The default largest step count a budget may turn into."""

CLOCK_FIELDS = {"cpu": "cpu_seconds", "wall": "elapsed"}
"""Which field of a ``log.jsonl`` record each clock reads: this process's CPU time, or wall clock."""


def steps_within_budget(budget_seconds: float, step_seconds: float, max_steps: int = MAX_BUDGET_STEPS) -> int:
    """How many steps of ``step_seconds`` each fit in ``budget_seconds`` (at least one).

    Raises :class:`SupernasError` when the budget or the step time is not a positive finite
    number, or when the budget would need more than ``max_steps`` steps.
    """
    if not (math.isfinite(budget_seconds) and budget_seconds > 0):
        raise SupernasError(f"a training budget must be a positive number of seconds, not {budget_seconds!r}")
    if not (math.isfinite(step_seconds) and step_seconds > 0):
        raise SupernasError(f"measured {step_seconds!r} s per training step; cannot size a budget from it "
                            f"(the clock did not advance over the probe steps)")
    steps = max(1, math.floor(budget_seconds / step_seconds))
    if steps > max_steps:
        raise SupernasError(f"a budget of {budget_seconds:g} s at {step_seconds:.3g} s per step needs {steps} steps, "
                            f"more than the maximum of {max_steps}; lower the budget or raise max_steps")
    return steps


def seconds_per_step(records: list[dict], clock: str, warmup_steps: int) -> float:
    """Mean cost of the steps logged after ``warmup_steps``, read from per-step ``log.jsonl``
    records on ``clock`` (``cpu`` or ``wall``): the time between the warm-up's end and the last record."""
    if clock not in CLOCK_FIELDS:
        raise SupernasError(f"unknown clock {clock!r}; choose one of {', '.join(CLOCK_FIELDS)}")
    by_step = {record["step"]: record[CLOCK_FIELDS[clock]] for record in records}
    last = max(by_step, default=0)
    if warmup_steps not in by_step or last <= warmup_steps:
        raise SupernasError(f"the probe run logged no steps after its {warmup_steps} warm-up steps")
    return (by_step[last] - by_step[warmup_steps]) / (last - warmup_steps)


def probe_step_seconds(config: Config, clock: str = "cpu", warmup_steps: int = 3, timed_steps: int = 5) -> float:
    """Seconds one training step of ``config`` costs on ``clock``, timed over ``timed_steps``
    steps after ``warmup_steps`` untimed ones, in a scratch run directory."""
    probe = copy.deepcopy(config)
    with tempfile.TemporaryDirectory() as scratch:
        probe.run_dir = scratch
        probe.train.steps = warmup_steps + timed_steps
        probe.train.log_every, probe.train.checkpoint_every, probe.train.progress = 1, probe.train.steps, False
        train_supernet(probe)
        records = read_jsonl(log_file(scratch))
    return seconds_per_step(records, clock, warmup_steps)


def steps_for_budget(config: Config, budget_seconds: float, clock: str = "cpu", max_steps: int = MAX_BUDGET_STEPS) -> int:
    """Training steps of ``config`` that fit ``budget_seconds`` on ``clock`` (``cpu``: this
    process's CPU time; ``wall``: wall clock), measured by a probe run; bounded by ``max_steps``."""
    return steps_within_budget(budget_seconds, probe_step_seconds(config, clock), max_steps)
