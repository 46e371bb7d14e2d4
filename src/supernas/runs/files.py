"""Every file and folder of a run directory, named here once.

A run directory holds what one run made, command by command; rerunning a command on it
resumes from these files, so their names are part of every existing run and never change::

    config.yaml              the fully resolved config (train, search)
    log.jsonl                one JSON record per logged training step
    checkpoints/last.pt      the latest checkpoint; prev.pt is the one it replaced
    scores.sqlite            the score cache of rank and search
    ranking/                 rank: ranking.json and ranking.csv, or scores.json and scores.csv
    search/<algorithm>/      search: pareto.json, pareto.csv, history.csv, pareto.png
    export/                  export: subnet.pt, model.onnx, arch.txt
    retrain/                 retrain: last.pt, log.jsonl, result.json
    groundtruth/             groundtruth: table.csv, its recipe table.yaml, results.sqlite, log.jsonl
    report/                  report: index.html and the figures
    tensorboard/             TensorBoard events, when asked for

A study directory holds cells.txt, runs/<variant>/seed<k>/ (run directories),
ledger/<variant>-seed<k>.jsonl (what the study did for each run) and its tables (table.md,
table.csv, table.json, table.png, runs.csv).
"""

from __future__ import annotations

from pathlib import Path

CONFIG_FILE = "config.yaml"
LOG_FILE = "log.jsonl"
CHECKPOINT_DIR = "checkpoints"
LAST_CHECKPOINT, PREVIOUS_CHECKPOINT = "last.pt", "prev.pt"
SCORES_FILE = "scores.sqlite"
TENSORBOARD_DIR = "tensorboard"

RANKING_DIR = "ranking"
RANKING_JSON, RANKING_CSV = "ranking.json", "ranking.csv"
SCORES_JSON, SCORES_CSV = "scores.json", "scores.csv"

SEARCH_DIR = "search"
RESULT_JSON, FRONT_CSV, HISTORY_CSV, FRONT_PNG = "pareto.json", "pareto.csv", "history.csv", "pareto.png"

EXPORT_DIR = "export"
SUBNET_FILE, ONNX_FILE, ARCH_FILE = "subnet.pt", "model.onnx", "arch.txt"

RETRAIN_DIR = "retrain"
RETRAIN_RESULT = "result.json"

GROUNDTRUTH_DIR, GROUNDTRUTH_TABLE = "groundtruth", "table.csv"
GROUNDTRUTH_RESULTS = "results.sqlite"

REPORT_DIR, REPORT_HTML = "report", "index.html"

STUDY_CELLS, STUDY_RUNS_DIR, STUDY_LEDGER_DIR, STUDY_LOCK_DIR = "cells.txt", "runs", "ledger", "locks"
STUDY_TABLE_MD, STUDY_TABLE_CSV, STUDY_TABLE_JSON, STUDY_TABLE_PNG, STUDY_RUNS_CSV = (
    "table.md", "table.csv", "table.json", "table.png", "runs.csv")


def config_file(run_dir: str | Path) -> Path:
    """The run's resolved config, ``RUN_DIR/config.yaml``."""
    return Path(run_dir) / CONFIG_FILE


def log_file(run_dir: str | Path) -> Path:
    """The run's training log, ``RUN_DIR/log.jsonl``."""
    return Path(run_dir) / LOG_FILE


def checkpoint_file(run_dir: str | Path) -> Path:
    """The run's latest checkpoint, ``RUN_DIR/checkpoints/last.pt``."""
    return Path(run_dir) / CHECKPOINT_DIR / LAST_CHECKPOINT


def scores_file(run_dir: str | Path) -> Path:
    """The run's score cache, ``RUN_DIR/scores.sqlite``."""
    return Path(run_dir) / SCORES_FILE


def ranking_dir(run_dir: str | Path) -> Path:
    """Where ``rank`` writes, ``RUN_DIR/ranking/``."""
    return Path(run_dir) / RANKING_DIR


def search_dir(run_dir: str | Path, algorithm: str) -> Path:
    """Where a search with ``algorithm`` writes, ``RUN_DIR/search/<algorithm>/``."""
    return Path(run_dir) / SEARCH_DIR / algorithm


def export_dir(run_dir: str | Path) -> Path:
    """Where ``export`` writes, ``RUN_DIR/export/``."""
    return Path(run_dir) / EXPORT_DIR


def retrain_dir(run_dir: str | Path) -> Path:
    """Where ``retrain`` keeps its checkpoint, log and result, ``RUN_DIR/retrain/``."""
    return Path(run_dir) / RETRAIN_DIR


def groundtruth_table(run_dir: str | Path) -> Path:
    """Where ``groundtruth`` writes its table unless told otherwise, ``RUN_DIR/groundtruth/table.csv``."""
    return Path(run_dir) / GROUNDTRUTH_DIR / GROUNDTRUTH_TABLE


def report_dir(run_dir: str | Path) -> Path:
    """Where ``report`` writes, ``RUN_DIR/report/``."""
    return Path(run_dir) / REPORT_DIR
