"""Fused scores: one ranking from several scores by aggregating their log-ranks.

The rule (the non-linear rank aggregation of AZ-NAS, Lee & Ham, CVPR 2024, with weights):
each score s_i of an architecture a is turned into its relative rank against a reference
set of architectures R,

    F_i(a) = (1 + #{r in R: s_i(r) < s_i(a)} + #{r in R: s_i(r) = s_i(a)} / 2) / (|R| + 1),

a number in (0, 1], higher for better scores; the fused score is the weighted mean of the
logs, ``sum_i w_i log F_i(a) / sum_i w_i``. The log punishes a low rank on any one score much
more than it rewards a high one, so an architecture must do well on every score to rank
high. With R the ranked architectures themselves and equal weights this is AZ-NAS's sum of
log-ranks (up to a constant). A fused score is always labelled ``fused[...]``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import numpy as np
from scipy import stats

from supernas.errors import SupernasError

FUSED_PREFIX = "fused"
WEIGHT_GRID = (0.0, 0.5, 1.0, 2.0, 4.0)
"""Weights :func:`choose_weights` tries for each score."""


def parse_score_spec(text: str, known: Sequence[str]) -> dict[str, float]:
    """Score names and weights from ``name`` or ``name,name:weight,...`` (weight 1 when not
    given), in the order written; a name not in ``known`` is one line listing the known ones."""
    spec: dict[str, float] = {}
    for item in (part.strip() for part in str(text).split(",")):
        name, _, weight = item.partition(":")
        if name not in known:
            raise SupernasError(f"unknown score {name!r}; known scores: {', '.join(known)} "
                                "(or a comma list of them, optionally name:weight, for a fused score)")
        try:
            value = float(weight) if weight else 1.0
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or value < 0:
            raise SupernasError(f"the weight of score {name!r} must be a number >= 0, got {weight!r}")
        if name in spec:
            raise SupernasError(f"score {name!r} is named twice in {text!r}")
        spec[name] = value
    if sum(spec.values()) <= 0:
        raise SupernasError(f"the weights of {text!r} must not all be zero")
    return spec


def fused_label(weights: Mapping[str, float]) -> str:
    """How a fused score is shown: ``fused[a,b:2]`` (single scores keep their own name)."""
    parts = [name if weight == 1.0 else f"{name}:{weight:g}" for name, weight in weights.items()]
    return f"{FUSED_PREFIX}[{','.join(parts)}]"


def score_label(weights: Mapping[str, float]) -> str:
    """The name of a single score, or the fused label of several."""
    return next(iter(weights)) if len(weights) == 1 else fused_label(weights)


def relative_log_rank(values: Sequence[float], reference: Sequence[float]) -> np.ndarray:
    """log F(v) of each of ``values`` against ``reference`` (see the module docstring)."""
    ordered = np.sort(np.asarray(reference, dtype=float))
    values = np.asarray(values, dtype=float)
    below = np.searchsorted(ordered, values, side="left")
    equal = np.searchsorted(ordered, values, side="right") - below
    return np.log((1.0 + below + equal / 2.0) / (len(ordered) + 1.0))


def fuse(columns: Mapping[str, Sequence[float]], weights: Mapping[str, float],
         references: Mapping[str, Sequence[float]] | None = None) -> np.ndarray:
    """The fused score of each architecture: ``columns[name][j]`` is score ``name`` of
    architecture j; ranks are taken against ``references[name]`` (default: the column itself)."""
    total = sum(weights.values())
    if total <= 0:
        raise SupernasError("fusion weights must not all be zero")
    fused = None
    for name, weight in weights.items():
        reference = columns[name] if references is None else references[name]
        part = weight * relative_log_rank(columns[name], reference)
        fused = part if fused is None else fused + part
    return fused / total


def kendall_tau(predicted: Sequence[float], truth: Sequence[float]) -> float:
    """Kendall's tau-b of two sequences (scipy)."""
    return float(stats.kendalltau(predicted, truth, variant="b").statistic)


def choose_weights(columns: Mapping[str, Sequence[float]], truth: Sequence[float], rounds: int = 3,
                   grid: Sequence[float] = WEIGHT_GRID,
                   objective: Callable[[Sequence[float], Sequence[float]], float] = kendall_tau) -> dict[str, float]:
    """Weights of :func:`fuse` chosen on one sample of architectures (``columns`` and their
    ``truth``) by coordinate ascent: from equal weights, each score's weight in turn is set to
    the value of ``grid`` that maximises ``objective(fused, truth)`` (Kendall's tau), for
    ``rounds`` passes or until nothing changes. Report the result on a different sample."""
    weights = {name: 1.0 for name in columns}
    best = objective(fuse(columns, weights), truth)
    for _ in range(rounds):
        changed = False
        for name in columns:
            for value in grid:
                trial = {**weights, name: value}
                if value == weights[name] or sum(trial.values()) <= 0:
                    continue
                score = objective(fuse(columns, trial), truth)
                if score > best + 1e-12:
                    best, weights, changed = score, trial, True
        if not changed:
            break
    return weights
