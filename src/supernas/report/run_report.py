"""``supernas report RUN_DIR``: the figures a run's files allow, as PNGs and one self-contained
HTML page (images embedded as base64) in ``RUN_DIR/report/``.

Each figure is built from what the run wrote: training curves from ``log.jsonl``; supernet
accuracy against ground truth from ``ranking/ranking.{json,csv}``; the Pareto front of each
search from ``search/<algorithm>/`` with the architecture in ``export/arch.txt`` marked; CaLR's
learning-rate curves per complexity from ``config.yaml`` and the space in the checkpoint (with
the logged steps); Shadow BN statistics per layer from the checkpoint; and the accuracy of the
scored subnets per number of active paths from ``ranking/``. Whatever a run lacks is skipped
with a note on the page saying why.
"""

from __future__ import annotations

import base64
import csv
import html
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from supernas.config import Config, load_config
from supernas.errors import SupernasError
from supernas.report import figures
from supernas.report.sbn import diagnose_run
from supernas.runs.checkpoint import load_checkpoint
from supernas.runs.experiment import checkpoint_path
from supernas.runs.files import (ARCH_FILE, HISTORY_CSV, RANKING_CSV, RANKING_JSON, REPORT_HTML, RESULT_JSON, SCORES_CSV,
                                 SEARCH_DIR, config_file, export_dir, log_file, ranking_dir, report_dir)
from supernas.search.objectives import Candidate
from supernas.search.report import COST_LABELS, objective_label, plot_front, summarize
from supernas.spaces import Space, get_space
from supernas.train.policy import decay_exponent, decay_factor
from supernas.utils import atomic_write_bytes, atomic_write_text, read_jsonl

CALR_COMPLEXITIES = 5
CURVE_POINTS = 400


@dataclass(frozen=True)
class ReportFigure:
    """One figure of the report: file stem, heading, caption and PNG bytes."""

    name: str
    title: str
    caption: str
    png: bytes


@dataclass(frozen=True)
class ReportResult:
    """Where a report went, which figures it has and what it skipped (with the reason)."""

    out_dir: str
    html: str
    figures: list[str]
    notes: list[str]


class RunFiles:
    """A run directory's files, read on first use."""

    def __init__(self, run_dir: str | Path):
        self.run_dir = Path(run_dir)
        if not self.run_dir.is_dir():
            raise SupernasError(f"run directory {self.run_dir} does not exist")

    @cached_property
    def records(self) -> list[dict]:
        """The training records of ``log.jsonl`` (a torn last line of a killed run is skipped)."""
        return [r for r in read_jsonl(log_file(self.run_dir)) if isinstance(r, dict) and "step" in r]

    @cached_property
    def config(self) -> Config | None:
        """The run's resolved ``config.yaml``, if any."""
        path = config_file(self.run_dir)
        return load_config(str(path)) if path.is_file() else None

    @cached_property
    def space(self) -> Space | None:
        """The space recorded in the run's last checkpoint, if any."""
        path = checkpoint_path(Config(run_dir=str(self.run_dir)))
        return get_space(**load_checkpoint(path)["space"]) if path.is_file() else None


def training_figure(run: RunFiles) -> ReportFigure | str:
    """Loss, training accuracy and LR against the step."""
    if not run.records:
        return "training curves: no log.jsonl records (run 'supernas train' on this run_dir)"
    last = run.records[-1]
    return ReportFigure("training", "Training curves", f"{len(run.records)} records of log.jsonl up to step {last['step']}; "
                  f"final loss {last.get('loss', math.nan):.4f}", figures.training_curves(run.records))


def ranking_figure(run: RunFiles) -> ReportFigure | str:
    """Supernet accuracy against ground truth, with τ and ρ from ``ranking.json``."""
    folder = ranking_dir(run.run_dir)
    if not (folder / RANKING_JSON).is_file() or not (folder / RANKING_CSV).is_file():
        return "supernet vs ground truth: no ranking/ranking.json (run 'supernas rank' with a ground-truth table)"
    summary = json.loads((folder / RANKING_JSON).read_text())
    metrics, truth = summary["metrics"], summary["truth"]
    with (folder / RANKING_CSV).open(newline="") as file:
        rows = list(csv.DictReader(file))
    tau = _number(metrics["kendall_tau"])
    rho = _number(metrics["spearman_rho"])
    png = figures.truth_scatter([float(r["score"]) for r in rows], [float(r["truth"]) for r in rows], tau, rho,
                                truth["column"])
    return ReportFigure("ranking", "Supernet accuracy vs ground truth",
                  f"{len(rows)} architectures against {truth['column']} of {truth['path']}: Kendall τ {tau:.3f}, "
                  f"Spearman ρ {rho:.3f}, precision@top {metrics['precision_at_top']:.3f}", png)


def _number(value: float | None) -> float:
    """A metric read from JSON (``null`` stands for NaN)."""
    return math.nan if value is None else float(value)


def _candidate(row: dict) -> Candidate:
    """A scored architecture from a row of ``history.csv`` (its objective: ``accuracy`` or ``score``)."""
    latency = row.get("latency_ms") or None
    return Candidate(row["arch"], float(row.get("accuracy") or row["score"]), float(row["params"]), float(row["flops"]),
                     float(latency) if latency else None)


def search_figures(run: RunFiles) -> list[ReportFigure | str]:
    """The Pareto front of each search in ``search/<algorithm>/``, the exported model starred."""
    folders = sorted(p.parent for p in (run.run_dir / SEARCH_DIR).glob(f"*/{HISTORY_CSV}"))
    if not folders:
        return ["Pareto front: no search/<algorithm>/history.csv (run 'supernas search')"]
    export_file = export_dir(run.run_dir) / ARCH_FILE
    exported = export_file.read_text().strip() if export_file.is_file() else None
    result_figures: list[ReportFigure | str] = []
    for folder in folders:
        saved = json.loads((folder / RESULT_JSON).read_text())
        with (folder / HISTORY_CSV).open(newline="") as file:
            history = [_candidate(row) for row in csv.DictReader(file)]
        result = summarize(folder.name, saved["cost"], history, 0, 0, 0.0, saved.get("objective", "supernet"))
        marked = next((c for c in history if c.arch == exported), None)
        label = "exported model" if marked else "most accurate"
        note = (f"exported model {exported} marked" if marked else
                "no export/arch.txt among these candidates; the most accurate is marked")
        png = plot_front(result, f"{folder.name}: {result.queries} architectures, {len(result.front)} on the front",
                         marked, label)
        result_figures.append(ReportFigure(f"pareto_{folder.name}", f"Pareto front of {folder.name} search",
                                     f"{objective_label(result.objective)} vs {COST_LABELS[result.cost]}; {note}", png))
    return result_figures


def calr_figure(run: RunFiles) -> ReportFigure | str:
    """CaLR's LR curves for complexities spanning the space, with the logged steps' LRs."""
    config = run.config
    if config is None or not config.train.calr:
        return "CaLR learning-rate curves: the run did not train with CaLR (--train.calr true)"
    if run.space is None or not run.records:
        return "CaLR learning-rate curves: no checkpoint or no log.jsonl records"
    train = config.train
    low, high = run.space.complexity_range(train.calr_measure)
    total = int(run.records[-1]["step"])
    steps = sorted({round(i * (total - 1) / (CURVE_POINTS - 1)) for i in range(CURVE_POINTS)}) if total > 1 else [0]
    curves = {}
    for i in range(CALR_COMPLEXITIES):
        complexity = math.exp(math.log(low) + (math.log(high) - math.log(low)) * i / (CALR_COMPLEXITIES - 1))
        gamma = decay_exponent(complexity, (low, high), train.calr_gamma_max)
        curves[complexity] = (steps, [train.lr * decay_factor(s, total, gamma, train.lr_min / train.lr) for s in steps])
    logged = [(int(r["step"]) - 1, float(r["lr"]), float(r["complexity"])) for r in run.records if "complexity" in r]
    return ReportFigure("calr", "CaLR learning rate per complexity",
                  f"lr·[(1 − η_min)(1 − t/T)^γ + η_min] for {CALR_COMPLEXITIES} {train.calr_measure} values from "
                  f"{low:,.0f} to {high:,.0f} (γ from {train.calr_gamma_max:g} to {1 / train.calr_gamma_max:g}); "
                  f"dots: the {len(logged)} logged steps' LR, coloured by their subnet's complexity",
                  figures.calr_curves(curves, logged))


def sbn_figure(run: RunFiles) -> ReportFigure | str:
    """μ_k/μ_1 and σ²_k/σ²_1 of every Shadow BN of the trained supernet."""
    if run.space is None:
        return "Shadow BN statistics: no checkpoint (run 'supernas train')"
    try:
        rows = diagnose_run(run.run_dir)
    except SupernasError as error:
        return f"Shadow BN statistics: {error}"
    return ReportFigure("sbn", "Shadow BN statistics per layer",
                  f"{len({r.layer for r in rows})} Shadow BNs: running-mean and running-variance ratios of BN_k to "
                  f"BN_1 (dashed: the expected k and k²)", figures.sbn_statistics(rows))


def paths_figure(run: RunFiles) -> ReportFigure | str:
    """Supernet accuracy of the scored subnets per number of active paths."""
    folder = ranking_dir(run.run_dir)
    groups: dict[int, list[float]] = {}
    if (folder / SCORES_CSV).is_file():
        with (folder / SCORES_CSV).open(newline="") as file:
            for row in csv.DictReader(file):
                groups.setdefault(int(row["active_paths"]), []).append(float(row["score"]))
    elif (folder / RANKING_CSV).is_file() and run.space is not None:
        with (folder / RANKING_CSV).open(newline="") as file:
            for row in csv.DictReader(file):
                groups.setdefault(run.space.active_paths(run.space.parse(row["arch"])), []).append(float(row["score"]))
    else:
        return "accuracy per number of paths: no ranking/scores.csv or ranking.csv (run 'supernas rank')"
    return ReportFigure("paths", "Accuracy of sampled subnets per number of active paths",
                  ", ".join(f"{len(v)} with {k} path{'s' if k > 1 else ''}" for k, v in sorted(groups.items())),
                  figures.accuracy_by_paths(groups))


SECTIONS: tuple[Callable[[RunFiles], ReportFigure | str | list[ReportFigure | str]], ...] = (
    training_figure, ranking_figure, search_figures, calr_figure, sbn_figure, paths_figure)
"""The report's sections, in page order."""


def html_page(title: str, built: list[ReportFigure], notes: list[str]) -> str:
    """One self-contained HTML page: every figure inline as a base64 PNG, then the notes."""
    parts = [f"<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{html.escape(title)}</title>",
             "<style>body{font-family:sans-serif;max-width:1150px;margin:2em auto;color:#222}"
             "img{max-width:100%;border:1px solid #ddd}figure{margin:0 0 2em 0}figcaption{color:#555}</style>",
             "</head>\n<body>", f"<h1>{html.escape(title)}</h1>"]
    for figure in built:
        data = base64.b64encode(figure.png).decode()
        parts.append(f"<figure id=\"{figure.name}\">\n<h2>{html.escape(figure.title)}</h2>\n"
                     f"<img alt=\"{html.escape(figure.title)}\" src=\"data:image/png;base64,{data}\">\n"
                     f"<figcaption>{html.escape(figure.caption)}</figcaption>\n</figure>")
    if notes:
        parts.append("<h2>Not in this report</h2>\n<ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in notes) + "</ul>")
    parts.append("</body>\n</html>\n")
    return "\n".join(parts)


def build_report(run_dir: str | Path) -> ReportResult:
    """Write every figure the run allows to ``RUN_DIR/report/<name>.png`` and the page
    ``RUN_DIR/report/index.html``; sections the run lacks become notes."""
    run = RunFiles(run_dir)
    built: list[ReportFigure] = []
    notes: list[str] = []
    for section in SECTIONS:
        outcome = section(run)
        for item in outcome if isinstance(outcome, list) else [outcome]:
            (built if isinstance(item, ReportFigure) else notes).append(item)
    out_dir = report_dir(run.run_dir)
    paths = []
    for figure in built:
        path = out_dir / f"{figure.name}.png"
        atomic_write_bytes(path, figure.png)
        paths.append(str(path))
    page = out_dir / REPORT_HTML
    atomic_write_text(page, html_page(f"supernas report: {run.run_dir}", built, notes))
    return ReportResult(str(out_dir), str(page), paths, notes)
