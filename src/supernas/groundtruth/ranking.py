"""Ranking quality of predicted scores against ground truth (higher is better for both).

Kendall's tau-b and Spearman's rho come from :mod:`scipy.stats`. Rank-order statistics
(precision at top-k, the first-ranked architecture, the ranks written to ``ranking.csv``)
break ties by input order: among equal values the item that comes first ranks higher, so
results are deterministic for a given order of the scores.
"""

from __future__ import annotations

import csv
import io
import json
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from scipy import stats

from supernas.errors import SupernasError
from supernas.groundtruth.tables import GroundTruth
from supernas.runs.files import RANKING_CSV, RANKING_JSON
from supernas.utils import atomic_write_text



@dataclass(frozen=True)
class RankingMetrics:
    """How well a predicted ordering matches the true one.

    ``kendall_tau`` and ``spearman_rho`` are NaN when either input is constant.
    """

    num_archs: int
    kendall_tau: float
    spearman_rho: float
    top_fraction: float
    precision_at_top: float
    top1_true: float
    best_true: float

    def as_dict(self) -> dict:
        """The metrics as a plain ``{name: value}`` dict."""
        return asdict(self)


def rank_order(values: Sequence[float]) -> np.ndarray:
    """Indices of ``values`` from highest to lowest; ties keep input order (stable)."""
    return np.argsort(-np.asarray(values, dtype=float), kind="stable")


def top_k_count(num_items: int, top_fraction: float) -> int:
    """``k = max(1, round(top_fraction * num_items))``, the size of the "top" set."""
    return max(1, round(top_fraction * num_items))


def _as_finite_array(values: Sequence[float], name: str) -> np.ndarray:
    """``values`` as a float array, or a :class:`SupernasError` if any is NaN or infinite."""
    array = np.asarray(values, dtype=float)
    if not np.all(np.isfinite(array)):
        raise SupernasError(f"{name} values must be finite numbers (found NaN or infinity)")
    return array


def ranking_metrics(
    predicted: Sequence[float], truth: Sequence[float], top_fraction: float = 0.1
) -> RankingMetrics:
    """Compare ``predicted`` scores with ``truth`` values of the same items, in the same order.

    ``precision_at_top`` is ``|predicted top-k ∩ true top-k| / k`` with
    ``k = max(1, round(top_fraction * n))``; ``top1_true`` is the true value of the item the
    prediction ranks first. Ties are broken by input order (see the module docstring).
    """
    if len(predicted) != len(truth):
        raise SupernasError(f"{len(predicted)} predicted scores but {len(truth)} true values")
    if len(predicted) < 2:
        raise SupernasError(f"ranking needs at least 2 architectures, got {len(predicted)}")
    if not 0.0 < top_fraction <= 1.0:
        raise SupernasError(f"top_fraction must be in (0, 1], got {top_fraction}")
    pred = _as_finite_array(predicted, "predicted")
    true = _as_finite_array(truth, "true")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", stats.ConstantInputWarning)
        tau = stats.kendalltau(pred, true, variant="b").statistic
        rho = stats.spearmanr(pred, true).statistic
    k = top_k_count(len(pred), top_fraction)
    pred_order, true_order = rank_order(pred), rank_order(true)
    overlap = len(set(pred_order[:k].tolist()) & set(true_order[:k].tolist()))
    return RankingMetrics(
        num_archs=len(pred),
        kendall_tau=float(tau),
        spearman_rho=float(rho),
        top_fraction=float(top_fraction),
        precision_at_top=overlap / k,
        top1_true=float(true[pred_order[0]]),
        best_true=float(true.max()),
    )


def kendall_tau_within_true_top(predicted: Sequence[float], truth: Sequence[float], top_fraction: float = 0.1) -> float:
    """Kendall's tau-b of ``predicted`` against ``truth`` over the items in the true top-k only
    (``k`` as in :func:`ranking_metrics`; ties in the truth broken by input order): how well the
    scores order the architectures a search would pick among. NaN when either side is constant there."""
    if len(predicted) != len(truth):
        raise SupernasError(f"{len(predicted)} predicted scores but {len(truth)} true values")
    pred = _as_finite_array(predicted, "predicted")
    true = _as_finite_array(truth, "true")
    top = rank_order(true)[:top_k_count(len(true), top_fraction)]
    if len(top) < 2:
        return math.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", stats.ConstantInputWarning)
        return float(stats.kendalltau(pred[top], true[top], variant="b").statistic)


def _true_values(scores: Mapping[str, float], truth: GroundTruth) -> list[float]:
    """The ground-truth value of each scored architecture, in the order of ``scores``."""
    missing = [arch for arch in scores if arch not in truth]
    if missing:
        raise SupernasError(
            f"{len(missing)} of {len(scores)} scored architectures are not in {truth.path}"
            f" (column {truth.column!r}), first: {missing[0]!r}"
        )
    return [truth[arch] for arch in scores]


def compare_to_ground_truth(
    scores: Mapping[str, float], truth: GroundTruth, top_fraction: float = 0.1
) -> RankingMetrics:
    """:func:`ranking_metrics` of ``scores`` (arch -> predicted score) against ``truth``.

    Ties in the scores are broken by the mapping's iteration order.
    """
    return ranking_metrics(list(scores.values()), _true_values(scores, truth), top_fraction)


def _json_safe(value: object) -> object:
    """``value`` with non-finite floats replaced by ``None`` (JSON has no NaN)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {str(key): _json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(item) for item in value]
    return value


def _ranking_rows(scores: Mapping[str, float], truth: GroundTruth) -> list[list[object]]:
    """``[arch, score, truth, predicted_rank, true_rank]`` rows, best predicted first (rank 1)."""
    archs = list(scores)
    predicted = [float(scores[arch]) for arch in archs]
    true = _true_values(scores, truth)
    true_rank = np.empty(len(archs), dtype=int)
    true_rank[rank_order(true)] = np.arange(1, len(archs) + 1)
    return [
        [archs[i], predicted[i], true[i], position, int(true_rank[i])]
        for position, i in enumerate(rank_order(predicted).tolist(), start=1)
    ]


def write_ranking(
    out_dir: str | Path,
    scores: Mapping[str, float],
    truth: GroundTruth,
    metrics: RankingMetrics,
    extra: Mapping[str, object] | None = None,
) -> tuple[Path, Path]:
    """Write ``ranking.json`` and ``ranking.csv`` into ``out_dir`` (each atomically).

    ``ranking.json`` holds ``{"metrics": ..., "truth": {"path", "column"}, "extra": ...}``
    (NaN written as ``null``; values in ``extra`` JSON cannot hold, such as paths, written as
    strings); ``ranking.csv`` has one row per architecture with columns
    ``arch, score, truth, predicted_rank, true_rank``, best predicted first. Returns the two
    paths (json, csv).
    """
    out_dir = Path(out_dir)
    summary = {
        "metrics": metrics.as_dict(),
        "truth": {"path": truth.path, "column": truth.column},
        "extra": dict(extra or {}),
    }
    json_path, csv_path = out_dir / RANKING_JSON, out_dir / RANKING_CSV
    table = io.StringIO()
    writer = csv.writer(table, lineterminator="\n")
    writer.writerow(["arch", "score", "truth", "predicted_rank", "true_rank"])
    writer.writerows(_ranking_rows(scores, truth))
    text = json.dumps(_json_safe(summary), indent=2, allow_nan=False, default=str)
    atomic_write_text(json_path, text + "\n")
    atomic_write_text(csv_path, table.getvalue())
    return json_path, csv_path
