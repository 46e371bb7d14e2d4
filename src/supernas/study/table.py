"""A study's results as tables: one row per (variant, seed, score), aggregated over seeds.

Pure functions from the rows a study records to numbers and text (markdown, CSV). The spread
over seeds is the sample standard deviation (n - 1 in the denominator), empty for one seed.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping, Sequence

import numpy as np

METRICS = {"kendall_tau": "Kendall τ-b", "spearman_rho": "Spearman ρ", "precision_at_top": "precision@top",
           "top1_true": "true acc. of top-1", "top_tau": "τ in true top"}
"""The ranking metrics a study aggregates, with their column titles."""

TIMES = {"train_cpu_seconds": "train CPU min", "score_cpu_seconds": "score CPU min"}
"""The costs a study aggregates (seconds; shown in minutes)."""


def mean_and_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation of ``values`` (NaN std for fewer than two; NaN both
    when a value is NaN, an undefined metric)."""
    if not values:
        return math.nan, math.nan
    array = np.asarray(values, dtype=float)
    return float(array.mean()), float(array.std(ddof=1)) if len(array) > 1 else math.nan


def aggregate(rows: Sequence[Mapping[str, object]]) -> list[dict]:
    """Per (variant, score), in order of first appearance: the seeds, and the mean and std of
    every metric and cost (``<name>_mean``, ``<name>_std``)."""
    groups: dict[tuple, list[Mapping[str, object]]] = {}
    for row in rows:
        groups.setdefault((row["variant"], row["score"]), []).append(row)
    table = []
    for (variant, score), members in groups.items():
        entry: dict = {"variant": variant, "score": score, "seeds": [row["seed"] for row in members]}
        for name in (*METRICS, *TIMES):
            entry[f"{name}_mean"], entry[f"{name}_std"] = mean_and_std([float(row[name]) for row in members])
        table.append(entry)
    return table


def _cell(mean: float, std: float, scale: float = 1.0, digits: int = 3) -> str:
    """``mean ± std`` (just the mean for one seed, ``-`` when undefined)."""
    if math.isnan(mean):
        return "-"
    text = f"{mean * scale:.{digits}f}"
    return text if math.isnan(std) else f"{text} ± {std * scale:.{digits}f}"


def markdown_table(table: Sequence[Mapping[str, object]], baselines: Mapping[str, Mapping[str, float]] | None = None) -> str:
    """The aggregated table in markdown, one line per (variant, score), mean ± std over seeds;
    ``baselines`` (the parameter count's metrics on each cell set, by label) as last lines."""
    header = ["variant", "score", "seeds", *METRICS.values(), *TIMES.values()]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for entry in table:
        cells = [str(entry["variant"]), str(entry["score"]), str(len(entry["seeds"]))]
        cells += [_cell(entry[f"{name}_mean"], entry[f"{name}_std"], digits=2 if name == "top1_true" else 3)
                  for name in METRICS]
        cells += [_cell(entry[f"{name}_mean"], entry[f"{name}_std"], scale=1 / 60, digits=1) for name in TIMES]
        lines.append("| " + " | ".join(cells) + " |")
    for label, baseline in (baselines or {}).items():
        cells = ["parameter count", label, "-"]
        cells += [_cell(float(baseline.get(name, math.nan)), math.nan, digits=2 if name == "top1_true" else 3)
                  for name in METRICS]
        lines.append("| " + " | ".join(cells + ["-"] * len(TIMES)) + " |")
    return "\n".join(lines) + "\n"


def csv_text(rows: Sequence[Mapping[str, object]], columns: Sequence[str]) -> str:
    """``rows`` as CSV with ``columns`` (seeds lists joined with spaces)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([" ".join(map(str, row[c])) if isinstance(row[c], list) else row[c] for c in columns])
    return buffer.getvalue()
