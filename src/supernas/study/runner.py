"""A ranking study: a grid of (variant, seed) runs, each trained by the trainer and ranked by the
evaluator in its own ordinary run directory, aggregated into one table.

The study directory holds ``cells.txt`` (the cells every run is ranked on), ``runs/<variant>/
seed<k>/`` (run directories), ``ledger/<variant>-seed<k>.jsonl`` (what the study has done for
each run), ``locks/`` (which runs a study process is working on) and the tables
(``table.md``, ``table.csv``, ``runs.csv``, ``table.json``, ``table.png``). Nothing is trained or scored here: a run is trained by ``train_supernet`` and
scored by ``rank_run``, so it resumes as they do (from its checkpoint; scores from its score
cache). The ledger records, per run, that its training finished and each score's metrics, so
re-running a study skips what is finished and continues what is not. Several processes may
run the same study at once (one per core or machine, on a shared file system): each works on a
run only while it holds that run's lock, and skips the runs another process holds.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import math
import os
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from supernas.config import (Config, StudyConfig, from_dict, load_config, load_study, set_dotted_value, to_dict,
                             with_strategy_defaults)
from supernas.errors import SupernasError
from supernas.evaluate.cache import context_key, file_sha256
from supernas.evaluate.fusion import parse_score_spec
from supernas.evaluate.scoring import KNOWN_SCORES
from supernas.groundtruth.ranking import kendall_tau_within_true_top
from supernas.groundtruth.tables import GroundTruth, default_nasbench201_path, load_ground_truth
from supernas.rank import rank_run
from supernas.report.figures import study_summary
from supernas.runs.checkpoint import changed_settings
from supernas.runs.files import (STUDY_CELLS, STUDY_LEDGER_DIR, STUDY_LOCK_DIR, STUDY_RUNS_CSV, STUDY_RUNS_DIR, STUDY_TABLE_CSV,
                                 STUDY_TABLE_JSON, STUDY_TABLE_MD, STUDY_TABLE_PNG, log_file)
from supernas.study.table import METRICS, TIMES, aggregate, csv_text, markdown_table
from supernas.train.trainer import train_supernet
from supernas.utils import atomic_write_bytes, atomic_write_text, read_jsonl, reported_write_errors, seeded_generator


@dataclass(frozen=True)
class StudyRun:
    """One (variant, seed) of a study and the config it trains and ranks with."""

    variant: str
    seed: int
    config: Config

    @property
    def name(self) -> str:
        return f"{self.variant}-seed{self.seed}"


@dataclass(frozen=True)
class StudyResult:
    """What a study call did and found: the per-run rows and the aggregated table of the finished
    runs, where they were written, how many runs this call trained and how many rankings it
    made, and the runs left unfinished (another process held them, or ``only`` left them out)."""

    out_dir: str
    rows: list[dict]
    table: list[dict]
    baseline: dict
    trained: int
    ranked: int
    pending: list[str]


def check_name(path: Path, kind: str, name: object) -> None:
    """Refuse (one line) a variant or cell-subset name that cannot name a file or a table row."""
    if not re.fullmatch(r"[A-Za-z0-9_.+-]+", str(name)):
        raise SupernasError(f"study {path}: {kind} name {name!r} may hold only letters, digits and - _ . +")


@dataclass(frozen=True)
class Ranking:
    """One ranking every run gets: by ``score`` on the study's cells (``cells`` None) or on the
    cells listed in ``cells``; ``label`` names it in the ledger and the tables."""

    label: str
    score: str
    cells: str | None = None


def study_rankings(study: StudyConfig, path: Path) -> list[Ranking]:
    """Every score on the study's cells, then every score on each of its ``cell_subsets``."""
    rankings = [Ranking(score, score) for score in study.scores]
    for name, cells in study.cell_subsets.items():
        check_name(path, "cell subset", name)
        beside = path.parent / str(cells)
        cells_path = beside if beside.is_file() else Path(str(cells))
        if not cells_path.is_file():
            raise SupernasError(f"study {path}: cell subset {name!r}: no cells file {cells}")
        rankings += [Ranking(f"{score}@{name}", score, str(cells_path)) for score in study.scores]
    return rankings


def study_dir(study: StudyConfig, path: Path) -> Path:
    """The study's directory: ``out``, or ``runs/studies/<study file name>``."""
    return Path(study.out) if study.out else Path("runs") / "studies" / path.stem


def base_config(study: StudyConfig, path: Path) -> Config:
    """The config every run starts from: ``base`` (beside the study file, or a preset or a path
    from the working directory), then the study's common overrides."""
    beside = path.parent / study.base
    config = load_config(str(beside) if study.base and beside.is_file() else study.base or None)
    apply_overrides(config, study.overrides, "the study's overrides")
    return config


def apply_overrides(config: Config, overrides: dict, owner: str) -> None:
    """Write dotted ``overrides`` into ``config``; a bad key or value is one line naming ``owner``."""
    if not isinstance(overrides, dict):
        raise SupernasError(f"{owner} must be a mapping of dotted config keys to values")
    for dotted, value in overrides.items():
        try:
            set_dotted_value(config, str(dotted), value)
        except SupernasError as error:
            raise SupernasError(f"{owner}: {error}") from None


def study_runs(study: StudyConfig, path: Path, out: Path, cells: Path, truth: GroundTruth) -> list[StudyRun]:
    """Every (variant, seed) of the study with its full config, seed by seed (each variant's first
    seed before any second seed, so a screen finishes first), variants in file order."""
    if not study.variants:
        raise SupernasError(f"study {path} names no variants")
    unknown = sorted(set(study.variant_seeds) - set(study.variants))
    if unknown:
        raise SupernasError(f"study {path}: variant_seeds names variants the study does not have: {', '.join(map(str, unknown))}")
    for owner, seeds in [("seeds", study.seeds)] + [(f"variant_seeds of {v!r}", s) for v, s in study.variant_seeds.items()]:
        if not isinstance(seeds, list) or not seeds or len(set(seeds)) != len(seeds) or not all(isinstance(s, int) for s in seeds):
            raise SupernasError(f"study {path}: {owner} must be a list of distinct integers, got {seeds!r}")
    if not study.scores:
        raise SupernasError(f"study {path} names no scores")
    for score in study.scores:
        parse_score_spec(score, KNOWN_SCORES)
    runs = []
    for variant, overrides in study.variants.items():
        check_name(path, "variant", variant)
        for seed in study.variant_seeds.get(variant, study.seeds):
            config = base_config(study, path)
            apply_overrides(config, overrides or {}, f"variant {variant!r}")
            config.train.seed = seed
            config.run_dir = str(out / STUDY_RUNS_DIR / str(variant) / f"seed{seed}")
            rank = config.rank
            rank.archs_file, rank.ground_truth, rank.column, rank.num_images = str(cells), truth.path, truth.column, study.images
            runs.append(StudyRun(str(variant), seed, config))
    order = {seed: index for index, seed in enumerate(dict.fromkeys(run.seed for run in runs))}
    return sorted(runs, key=lambda run: order[run.seed])


def ground_truth(study: StudyConfig) -> GroundTruth:
    """The study's ground-truth table (``nasbench201.csv`` unless it names another)."""
    path = study.ground_truth or default_nasbench201_path()
    if path is None:
        raise SupernasError("nasbench201.csv not found; name the study's ground_truth table")
    return load_ground_truth(path, study.column)


def sample_cells(truth: GroundTruth, count: int, seed: int) -> list[str]:
    """``count`` architectures of the table drawn uniformly without replacement with ``seed``."""
    if not 1 < count <= len(truth):
        raise SupernasError(f"a study ranks 2..{len(truth)} cells of {truth.path}, not {count}")
    archs = list(truth.values)
    return [archs[i] for i in torch.randperm(len(archs), generator=seeded_generator(seed))[:count].tolist()]


def write_cells(study: StudyConfig, truth: GroundTruth, out: Path) -> Path:
    """The study's cell list: ``cells_file`` itself, or the sample written once to ``cells.txt``
    (a study whose sample changed is refused: its finished runs were ranked on other cells)."""
    if study.cells_file:
        return Path(study.cells_file)
    path = out / STUDY_CELLS
    text = "".join(arch + "\n" for arch in sample_cells(truth, study.cells, study.cell_seed))
    if path.is_file() and path.read_text() != text:
        raise SupernasError(f"{path} holds another cell sample than the study asks for (cells, cell_seed or the "
                            f"ground truth changed); use another out directory")
    if not path.is_file():
        atomic_write_text(path, text)
    return path


def fingerprint(values: dict) -> str:
    """A short hash of a config dict (which runs a ledger entry belongs to)."""
    return hashlib.sha256(context_key(values).encode()).hexdigest()[:16]


def ledger_keys(config: Config) -> tuple[str, str]:
    """Which ledger records belong to a run of ``config``: those of its training (the settings
    that change training) and those of its rankings (every setting that changes results); both
    ignore options at their defaults, so records stay valid when supernas gains options, and
    name the cells and ground-truth files by their contents, so they stay valid when the study
    directory moves (to another machine, or into a repository)."""
    values = to_dict(with_strategy_defaults(config))
    rank = values["rank"]
    for key in ("archs_file", "ground_truth"):
        if rank.get(key):
            rank[key] = "sha256:" + file_sha256(rank[key])
    return fingerprint(changed_settings(values, training_only=True)), fingerprint(changed_settings(values))


def ends_mid_line(path: Path) -> bool:
    """Whether a file ends without a newline (its last write was cut short)."""
    if not path.is_file() or path.stat().st_size == 0:
        return False
    with open(path, "rb") as file:
        file.seek(-1, os.SEEK_END)
        return file.read(1) != b"\n"


@contextlib.contextmanager
def run_lock(path: Path) -> Iterator[bool]:
    """Hold an exclusive lock on the file ``path`` for the block; yields ``False`` at once, without
    the lock, when another process holds it. The system frees a lock when its holder exits or is
    killed, so a killed study leaves no stale lock behind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as file:
        try:
            fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            held = False
        else:
            held = True
        try:
            yield held
        finally:
            if held:
                fcntl.flock(file, fcntl.LOCK_UN)


class Ledger:
    """A run's append-only record of what the study did for it (one JSON object per line)."""

    def __init__(self, path: Path):
        self.path = path

    def records(self) -> list[dict]:
        return read_jsonl(self.path)

    def append(self, record: dict) -> None:
        """Add one record, on a line of its own even after a line a kill cut short."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        start = "\n" if ends_mid_line(self.path) else ""
        with reported_write_errors(self.path), open(self.path, "a") as file:
            file.write(start + json.dumps(record) + "\n")


def log_records(run_dir: str) -> list[dict]:
    """The run's ``log.jsonl`` records (none before it has logged)."""
    return read_jsonl(log_file(run_dir))


def training_cpu_seconds(records: Sequence[dict], segment_starts: Sequence[int]) -> float:
    """The CPU time a run's training took over all the calls that trained it: each call (its
    log records from the line it started at) counts the CPU time of its last record, which the
    trainer measures from that call's start. Steps redone after a kill count twice, as they
    cost twice; work after a killed call's last record is not counted."""
    bounds = [*segment_starts, len(records)]
    return sum(records[end - 1].get("cpu_seconds", 0.0) for start, end in zip(bounds, bounds[1:]) if end > start)


def ranked_metrics(run: StudyRun, ranking: Ranking, truth: GroundTruth) -> dict:
    """Rank the run's cells (or the ranking's own cells) by the ranking's score with the
    evaluator: its metrics (plus Kendall τ within the true top fraction), the parameter count's
    on the same cells, and the CPU time it took."""
    config = from_dict(to_dict(run.config))
    config.rank.score = ranking.score
    config.rank.archs_file = ranking.cells or config.rank.archs_file
    started = time.process_time()
    result = rank_run(config)
    cpu_seconds = time.process_time() - started
    scores = list(result.scores.values())
    metrics = {**result.metrics.as_dict(), "top_tau": kendall_tau_within_true_top(
        scores, [truth[arch] for arch in result.scores], config.rank.top_fraction)}
    return {"metrics": metrics, "params": result.params_metrics.as_dict(), "cpu_seconds": cpu_seconds}


def complete_run(run: StudyRun, rankings: Sequence[Ranking], ledger: Ledger, truth: GroundTruth,
                 report: Callable[[str], None]) -> tuple[bool, int]:
    """Train the run unless its ledger says it finished, then make every ranking it has not
    made yet; returns whether it trained and how many rankings it made."""
    trained_key, ranked_key = ledger_keys(run.config)
    records = ledger.records()
    already_trained = any(r["event"] == "trained" and r["fingerprint"] == trained_key for r in records)
    if not already_trained:
        report(f"{run.name}: training in {run.config.run_dir}")
        ledger.append({"event": "train", "fingerprint": trained_key, "log_line": len(log_records(run.config.run_dir))})
        train_supernet(run.config)
        ledger.append({"event": "trained", "fingerprint": trained_key})
    done = {r["score"] for r in records if r["event"] == "ranked" and r["fingerprint"] == ranked_key}
    missing = [ranking for ranking in rankings if ranking.label not in done]
    for ranking in missing:
        report(f"{run.name}: ranking by {ranking.label}")
        ledger.append({"event": "ranked", "fingerprint": ranked_key, "score": ranking.label,
                       **ranked_metrics(run, ranking, truth)})
    return not already_trained, len(missing)


def run_rows(run: StudyRun, rankings: Sequence[Ranking], ledger: Ledger) -> list[dict]:
    """The run's table rows, one per ranking (``score``: its label): its metrics, its training
    CPU time and the CPU time of the ranking call that finished (scores a killed call computed
    were cached, and are not counted); none while the run is unfinished."""
    records = ledger.records()
    trained_key, ranked_key = ledger_keys(run.config)
    ranked = {r["score"]: r for r in records if r["event"] == "ranked" and r["fingerprint"] == ranked_key}
    if any(ranking.label not in ranked for ranking in rankings):
        return []
    starts = [r["log_line"] for r in records if r["event"] == "train" and r["fingerprint"] == trained_key]
    train_cpu = training_cpu_seconds(log_records(run.config.run_dir), starts)
    return [{"variant": run.variant, "seed": run.seed, "score": r.label, **{m: ranked[r.label]["metrics"][m] for m in METRICS},
             "train_cpu_seconds": train_cpu, "score_cpu_seconds": ranked[r.label]["cpu_seconds"],
             "params": ranked[r.label]["params"]} for r in rankings]


def params_label(score_label: str) -> str:
    """The parameter count's label on the cells ``score_label`` was ranked on: ``params`` for the
    study's cells, ``params@<subset>`` for a subset (``supernet_loss@dynas`` -> ``params@dynas``)."""
    subset = score_label.partition("@")[2]
    return "params" + (f"@{subset}" if subset else "")


def params_baselines(rows: Sequence[dict], rankings: Sequence[Ranking]) -> dict[str, dict]:
    """The parameter count's metrics on each cell set the rows were ranked on, by label
    (``params`` for the study's cells, ``params@<subset>`` for each subset)."""
    baselines = {}
    for row in rows:
        baselines.setdefault(params_label(row["score"]), row["params"])
    order = [params_label(ranking.label) for ranking in rankings]
    return {label: baselines[label] for label in dict.fromkeys(order) if label in baselines}


def without_nan(value: object) -> object:
    """``value`` with NaN floats (undefined metrics, the std of one seed) as ``None``, for JSON."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {key: without_nan(item) for key, item in value.items()}
    if isinstance(value, list):
        return [without_nan(item) for item in value]
    return value


def write_tables(out: Path, rows: list[dict], table: list[dict], baselines: dict[str, dict]) -> None:
    """``table.md``, ``table.csv`` (aggregated), ``runs.csv`` (per run), ``table.json`` and ``table.png``."""
    aggregated_columns = ["variant", "score", "seeds"] + [f"{n}_{s}" for n in (*METRICS, *TIMES) for s in ("mean", "std")]
    run_columns = ["variant", "seed", "score", *METRICS, *TIMES]
    atomic_write_text(out / STUDY_TABLE_MD, markdown_table(table, baselines))
    atomic_write_text(out / STUDY_TABLE_CSV, csv_text(table, aggregated_columns))
    atomic_write_text(out / STUDY_RUNS_CSV, csv_text(rows, run_columns))
    summary = {"table": table, "runs": [{c: row[c] for c in run_columns} for row in rows],
               "params_baseline": baselines.get("params", {}), "params_baselines": baselines}
    atomic_write_text(out / STUDY_TABLE_JSON, json.dumps(without_nan(summary), indent=2, allow_nan=False) + "\n")
    baseline_taus = [baselines.get(params_label(entry["score"]), {}).get("kendall_tau") for entry in table]
    atomic_write_bytes(out / STUDY_TABLE_PNG, study_summary(table, rows, baseline_taus))


def run_study(path: str | Path, report: Callable[[str], None] | None = None,
              only: Sequence[str] | None = None, table_only: bool = False) -> StudyResult:
    """Train and rank every (variant, seed) of the study file at ``path`` that is not finished
    (of the variants named in ``only``, when given), then write the table of its finished runs;
    ``report`` is told what starts (one line each). With ``table_only``, train and rank nothing:
    only write the table of what is finished (while other processes work on the rest)."""
    path, report = Path(path), report or (lambda line: None)
    study = load_study(path)
    unknown = sorted(set(only or ()) - set(map(str, study.variants)))
    if unknown or (only is not None and not only):
        raise SupernasError(f"study {path} has no variant {', '.join(unknown) or '(none named)'}; "
                            f"its variants: {', '.join(map(str, study.variants))}")
    out = study_dir(study, path)
    truth = ground_truth(study)
    rankings = study_rankings(study, path)
    cells = write_cells(study, truth, out)
    runs = study_runs(study, path, out, cells, truth)
    trained = ranked = 0
    ledgers = {run.name: Ledger(out / STUDY_LEDGER_DIR / f"{run.name}.jsonl") for run in runs}
    for run in runs:
        if table_only or (only is not None and run.variant not in only):
            continue
        with run_lock(out / STUDY_LOCK_DIR / f"{run.name}.lock") as held:
            if not held:
                report(f"{run.name}: skipped, another study process is working on it")
                continue
            did_train, scored = complete_run(run, rankings, ledgers[run.name], truth, report)
        trained, ranked = trained + did_train, ranked + scored
    rows_by_run = {run.name: run_rows(run, rankings, ledgers[run.name]) for run in runs}
    rows = [row for finished in rows_by_run.values() for row in finished]
    pending = [name for name, finished in rows_by_run.items() if not finished]
    baselines = params_baselines(rows, rankings)
    table = aggregate(rows)
    if rows:
        write_tables(out, rows, table, baselines)
    return StudyResult(str(out), rows, table, baselines.get("params", {}), trained, ranked, pending)
