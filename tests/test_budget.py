"""A time budget always becomes a bounded step count, or one clear error: never an endless run."""

from __future__ import annotations

import math
import time

import pytest

from supernas.errors import SupernasError
from supernas.train import budget
from supernas.train.budget import seconds_per_step, steps_for_budget, steps_within_budget


def records(times: list[float], clock_field: str = "cpu_seconds") -> list[dict]:
    """Per-step log records (steps 1, 2, ...) whose clock reads ``times``."""
    return [{"step": step, clock_field: value} for step, value in enumerate(times, start=1)]


def test_steps_are_the_budget_divided_by_the_step_time():
    assert steps_within_budget(600.0, 1.5) == 400
    assert steps_within_budget(600.0, 7.0) == 85


def test_a_huge_step_time_still_trains_one_step():
    assert steps_within_budget(60.0, 1e12) == 1


@pytest.mark.parametrize("step_seconds", [0.0, -0.25, math.nan, math.inf])
def test_a_step_time_of_zero_negative_or_not_finite_is_refused(step_seconds):
    with pytest.raises(SupernasError, match="per training step; cannot size a budget") as error:
        steps_within_budget(600.0, step_seconds)
    assert "\n" not in str(error.value)


def test_a_tiny_step_time_is_refused_above_the_maximum_steps():
    with pytest.raises(SupernasError, match="needs 600000000 steps, more than the maximum of 100000"):
        steps_within_budget(600.0, 1e-6)
    assert steps_within_budget(600.0, 1e-6, max_steps=10**9) == 600_000_000


@pytest.mark.parametrize("budget_seconds", [0.0, -5.0, math.nan])
def test_a_budget_must_be_positive(budget_seconds):
    with pytest.raises(SupernasError, match="positive number of seconds"):
        steps_within_budget(budget_seconds, 1.0)


def test_step_time_is_read_after_the_warmup_steps():
    # warm-up steps 1..3 are slow (one-time costs); steps 4..8 take 0.5 s each
    log = records([5.0, 6.0, 7.0, 7.5, 8.0, 8.5, 9.0, 9.5])
    assert seconds_per_step(log, "cpu", warmup_steps=3) == pytest.approx(0.5)
    wall = records([1.0, 2.0, 3.0, 3.2, 3.4], clock_field="elapsed")
    assert seconds_per_step(wall, "wall", warmup_steps=3) == pytest.approx(0.2)


@pytest.mark.parametrize("times", [[0.0] * 8, [5.0, 6.0, 7.0, 6.0, 5.0, 4.0, 3.0, 2.0]])
def test_a_frozen_or_backward_clock_gives_a_one_line_error(times):
    step_seconds = seconds_per_step(records(times), "cpu", warmup_steps=3)
    assert step_seconds <= 0
    with pytest.raises(SupernasError):
        steps_within_budget(600.0, step_seconds)


def test_a_probe_without_steps_after_warmup_is_refused():
    with pytest.raises(SupernasError, match="no steps after its 3 warm-up steps"):
        seconds_per_step(records([1.0, 2.0, 3.0]), "cpu", warmup_steps=3)
    with pytest.raises(SupernasError, match="unknown clock 'gpu'"):
        seconds_per_step(records([1.0] * 5), "gpu", warmup_steps=3)


def test_a_real_probe_gives_a_bounded_step_count(tiny_config):
    steps = steps_for_budget(tiny_config, budget_seconds=2.0, clock="cpu", max_steps=100_000)
    assert 1 <= steps <= 100_000
    step_seconds = budget.probe_step_seconds(tiny_config, "cpu")
    assert 1e-4 < step_seconds < 60


def test_a_frozen_process_clock_in_the_trainer_is_an_error_not_a_hang(tiny_config, monkeypatch):
    monkeypatch.setattr(time, "process_time", lambda: 42.0)
    with pytest.raises(SupernasError, match="cannot size a budget"):
        steps_for_budget(tiny_config, budget_seconds=600.0, clock="cpu")
