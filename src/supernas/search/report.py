"""A search's outcome: the Pareto front (objective up, cost down) and the best architecture,
as a printed table, ``pareto.json``, ``pareto.csv``, ``history.csv`` and ``pareto.png``."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pymoo.util.nds.non_dominated_sorting import NonDominatedSorting

from supernas.errors import SupernasError
from supernas.groundtruth.tables import GroundTruth
from supernas.runs.files import FRONT_CSV, FRONT_PNG, HISTORY_CSV, RESULT_JSON
from supernas.search.objectives import Candidate
from supernas.utils import atomic_write_bytes, atomic_write_text

COST_LABELS = {"params": "params", "flops": "FLOPs (multiply-adds)", "latency": "latency (ms)"}
ACCURACY_OBJECTIVES = {"supernet": "supernet accuracy (%)", "groundtruth": "true accuracy (%)"}
"""Objectives that are accuracies (%), with their axis labels; any other is reported as a score."""


def objective_column(objective: str) -> str:
    """The name of the objective's column in tables: ``accuracy`` for an accuracy, else ``score``
    (the held-out loss, a zero-cost or a fused score are not accuracies)."""
    return "accuracy" if objective in ACCURACY_OBJECTIVES else "score"


def objective_label(objective: str) -> str:
    """The objective's axis label, e.g. ``supernet accuracy (%)`` or ``supernet_loss score (higher is better)``."""
    return ACCURACY_OBJECTIVES.get(objective, f"{objective} score (higher is better)")


@dataclass(frozen=True)
class SearchResult:
    """Everything a search scored (in order), its Pareto front (cheapest first), its most
    accurate architecture (the best by the objective), how many objective values were computed
    or reused from the cache, and the objective's name (a ``--search.objective``)."""

    algorithm: str
    cost: str
    history: list[Candidate]
    front: list[Candidate]
    best: Candidate
    computed: int
    reused: int
    seconds: float
    objective: str = "supernet"

    @property
    def queries(self) -> int:
        """How many distinct architectures were scored."""
        return len(self.history)


def pareto_front(candidates: Sequence[Candidate], cost: str) -> list[Candidate]:
    """The candidates no other one beats on both accuracy (higher) and cost (lower), cheapest first."""
    if not candidates:
        return []
    objectives = np.array([[-c.accuracy, c.cost(cost)] for c in candidates])
    indices = NonDominatedSorting().do(objectives, only_non_dominated_front=True)
    return sorted((candidates[i] for i in indices), key=lambda c: (c.cost(cost), -c.accuracy, c.arch))


def most_accurate(candidates: Sequence[Candidate], cost: str) -> Candidate:
    """The most accurate candidate (ties: the cheaper, then the one scored first)."""
    if not candidates:
        raise SupernasError("the search scored no architecture (are the cost limits below every architecture?)")
    return min(candidates, key=lambda c: (-c.accuracy, c.cost(cost)))


def summarize(algorithm: str, cost: str, history: Sequence[Candidate], computed: int, reused: int,
              seconds: float, objective: str = "supernet") -> SearchResult:
    """The :class:`SearchResult` of a finished search."""
    history = list(history)
    return SearchResult(algorithm, cost, history, pareto_front(history, cost), most_accurate(history, cost), computed,
                        reused, seconds, objective)


def _rows(candidates: Sequence[Candidate], truth: GroundTruth | None, objective: str) -> tuple[list[str], list[list]]:
    """Header and rows of a candidate table, with the ground-truth value when a table is given."""
    header = ["arch", objective_column(objective), "params", "flops", "latency_ms"] + (["true_accuracy"] if truth else [])
    rows = [[c.arch, c.accuracy, c.params, c.flops, c.latency_ms]
            + ([truth.values.get(c.arch)] if truth else []) for c in candidates]
    return header, rows


def front_table(result: SearchResult, truth: GroundTruth | None = None) -> str:
    """The Pareto front as an aligned text table, cheapest first; ``*`` marks the most accurate."""
    header = f"{'':2}{objective_column(result.objective):>9}{'params':>11}{'MFLOPs':>10}" + (f"{'ms':>8}" if result.cost == "latency" else "")
    header += f"{'true':>8}" if truth else ""
    lines = [header + "  arch"]
    for c in result.front:
        line = f"{'*' if c is result.best else '':2}{c.accuracy:>9.2f}{c.params:>11,.0f}{c.flops / 1e6:>10.2f}"
        line += f"{c.latency_ms:>8.2f}" if result.cost == "latency" else ""
        line += f"{truth.values.get(c.arch, float('nan')):>8.2f}" if truth else ""
        lines.append(line + "  " + c.arch)
    return "\n".join(lines)


def _csv_text(header: list[str], rows: list[list]) -> str:
    table = io.StringIO()
    writer = csv.writer(table, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return table.getvalue()


def plot_front(result: SearchResult, title: str, marked: Candidate | None = None, marked_label: str = "most accurate") -> bytes:
    """PNG bytes of every scored architecture (grey), the front (line) and ``marked`` (star;
    by default the most accurate)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6.4, 4.4), dpi=110)
    axes = figure.add_subplot()
    axes.scatter([c.cost(result.cost) for c in result.history], [c.accuracy for c in result.history], s=8,
                 color="0.7", label=f"scored ({result.queries})")
    axes.plot([c.cost(result.cost) for c in result.front], [c.accuracy for c in result.front], "o-", color="tab:red",
              markersize=4, label=f"Pareto front ({len(result.front)})")
    star = marked or result.best
    axes.scatter([star.cost(result.cost)], [star.accuracy], marker="*", s=160, color="tab:blue", zorder=3,
                 label=marked_label)
    axes.set_xlabel(COST_LABELS[result.cost])
    axes.set_ylabel(objective_label(result.objective))
    axes.set_title(title)
    axes.grid(alpha=0.3)
    axes.legend(loc="lower right")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def write_search_report(out_dir: str | Path, result: SearchResult, settings: dict,
                        truth: GroundTruth | None = None) -> Path:
    """Write ``pareto.json`` (settings, counts, best, front), ``pareto.csv``, ``history.csv`` and
    ``pareto.png`` into ``out_dir`` (each atomically); returns ``out_dir``."""
    out_dir = Path(out_dir)
    summary = {"algorithm": result.algorithm, "cost": result.cost, "objective": result.objective, "queries": result.queries,
               "computed": result.computed, "reused": result.reused, "seconds": result.seconds,
               "best": result.best.as_dict(), "front": [c.as_dict() for c in result.front],
               "settings": settings}
    atomic_write_text(out_dir / RESULT_JSON, json.dumps(summary, indent=2, default=str) + "\n")
    atomic_write_text(out_dir / FRONT_CSV, _csv_text(*_rows(result.front, truth, result.objective)))
    atomic_write_text(out_dir / HISTORY_CSV, _csv_text(*_rows(result.history, truth, result.objective)))
    title = f"{result.algorithm}: {result.queries} architectures, {len(result.front)} on the front"
    atomic_write_bytes(out_dir / FRONT_PNG, plot_front(result, title))
    return out_dir


def read_best_architecture(out_dir: str | Path) -> str:
    """The most accurate architecture recorded in a search's ``pareto.json``."""
    path = Path(out_dir) / RESULT_JSON
    try:
        return json.loads(path.read_text())["best"]["arch"]
    except OSError:
        raise SupernasError(f"no search result at {path}; run 'supernas search' first or pass --export.arch") from None
    except (ValueError, KeyError, TypeError):
        raise SupernasError(f"{path} is not a supernas search result") from None
