"""supernas groundtruth: stratified sample, recipe hash, the table rank reads, resuming after a
kill without retraining, worker processes giving the same numbers, and bad settings."""

from __future__ import annotations

import csv
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from supernas.cli import main
from supernas.config import Config
from supernas.groundtruth import builder as groundtruth
from supernas.groundtruth.builder import (groundtruth_run, recipe, recipe_hash, seed_to_seed_tau, stratified_sample,
                                          table_path)
from supernas.groundtruth.tables import load_ground_truth, read_architectures
from supernas.spaces import get_space

REPO = Path(__file__).resolve().parents[1]


def tiny_groundtruth_config(tmp_path: Path, num_archs: int = 3) -> Config:
    """A K=3 x 2 seeds ground truth of a 2-layer MixPath S1 on 128 synthetic images (seconds)."""
    config = Config(run_dir=str(tmp_path / "run"))
    config.data.dataset, config.data.synthetic_size, config.data.device = "synthetic", 128, "cpu"
    config.space.name = "mixpath-s1"
    config.space.options = {"width_mult": 0.25, "depth": 2, "max_paths": 2}
    config.retrain.steps, config.retrain.batch_size = 2, 16
    truth = config.groundtruth
    truth.num_archs, truth.seeds, truth.train_images, truth.test_images = num_archs, 2, 64, 48
    config.train.progress = False
    return config


def counting_trainings(monkeypatch) -> list[tuple[str, int]]:
    """Record every (architecture, seed) trained in this process."""
    trained: list[tuple[str, int]] = []
    real = groundtruth.train_architecture

    def counted(config, space, arch, seed, *args):
        trained.append((str(arch), seed))
        return real(config, space, arch, seed, *args)

    monkeypatch.setattr(groundtruth, "train_architecture", counted)
    return trained


def read_table(path: Path) -> list[dict]:
    with path.open(newline="") as file:
        return list(csv.DictReader(file))


def test_stratified_sample_spans_the_complexity_range():
    space = get_space("mixpath-s1", depth=4, max_paths=3)
    archs = stratified_sample(space, 8, seed=0, measure="flops", pool=50)
    flops = sorted(space.complexity(a, "flops") for a in archs)
    assert len({str(a) for a in archs}) == 8
    assert [str(a) for a in archs] == [str(a) for a in stratified_sample(space, 8, seed=0, measure="flops", pool=50)]
    assert [str(a) for a in archs] != [str(a) for a in stratified_sample(space, 8, seed=1, measure="flops", pool=50)]
    generator = torch.Generator().manual_seed(3)
    uniform = sorted(space.complexity(space.sample(generator), "flops") for _ in range(400))
    # evenly spaced in log complexity: the sample reaches further into both tails than the
    # middle 80% of plain samples, and consecutive log gaps are even
    assert flops[0] < uniform[40] and flops[-1] > uniform[360]
    gaps = [math.log(b / a) for a, b in zip(flops, flops[1:])]
    assert max(gaps) < 3 * (sum(gaps) / len(gaps))


def test_recipe_hash_follows_what_changes_the_numbers(tmp_path):
    config = tiny_groundtruth_config(tmp_path)
    space = get_space("mixpath-s1", width_mult=0.25, depth=2, max_paths=2)
    base = recipe_hash(recipe(config, space))
    config.groundtruth.workers, config.groundtruth.num_archs, config.retrain.seed = 4, 10, 7
    assert recipe_hash(recipe(config, space)) == base  # how many, how fast: same recipe
    config.retrain.lr = 0.2
    assert recipe_hash(recipe(config, space)) != base
    config.retrain.lr, config.data.cutout = Config().retrain.lr, 8
    assert recipe_hash(recipe(config, space)) != base


def test_table_has_per_seed_columns_and_is_read_by_ranking(tmp_path, monkeypatch):
    config = tiny_groundtruth_config(tmp_path)
    trained = counting_trainings(monkeypatch)
    result = groundtruth_run(config)
    assert (result.trained, result.reused, result.num_archs, result.seeds) == (6, 0, 3, 2)
    assert len(trained) == 6 and len(set(trained)) == 6
    path = table_path(config)
    rows = read_table(path)
    assert list(rows[0]) == ["arch", "test_acc", "test_acc_seed0", "test_acc_seed1", "params", "flops", "active_paths",
                             "recipe"]
    assert {row["recipe"] for row in rows} == {result.recipe_hash}
    for row in rows:
        seeds = [float(row["test_acc_seed0"]), float(row["test_acc_seed1"])]
        assert float(row["test_acc"]) == pytest.approx(sum(seeds) / 2, abs=1e-3)
        assert all(0 <= s <= 100 for s in seeds)
        assert int(row["flops"]) > int(row["params"]) > 0
    truth = load_ground_truth(path, "test_acc")
    space = get_space("mixpath-s1", width_mult=0.25, depth=2, max_paths=2)
    archs = read_architectures(space, path)
    assert [str(a) for a in archs] == [row["arch"] for row in rows] and all(str(a) in truth for a in archs)
    assert load_ground_truth(path, "test_acc_seed1")[rows[0]["arch"]] == float(rows[0]["test_acc_seed1"])
    assert (path.parent / "table.yaml").read_text().startswith(f"# recipe {result.recipe_hash}\n")

    again = counting_trainings(monkeypatch)
    assert groundtruth_run(config).trained == 0 and again == []  # a finished table trains nothing
    assert read_table(path) == rows


def test_killed_run_loses_at_most_the_training_in_flight(tmp_path, monkeypatch):
    config = tiny_groundtruth_config(tmp_path)
    path = table_path(config)
    command = [sys.executable, "-m", "supernas.cli", "groundtruth", "--run_dir", config.run_dir,
               "--data.dataset", "synthetic", "--data.synthetic_size", "128", "--data.device", "cpu",
               "--space.name", "mixpath-s1", "--space.options.width_mult", "0.25", "--space.options.depth", "2",
               "--space.options.max_paths", "2", "--retrain.steps", "2", "--retrain.batch_size", "16",
               "--groundtruth.num_archs", "3", "--groundtruth.train_images", "64", "--groundtruth.test_images", "48",
               "--train.progress", "false"]
    log = path.parent / "log.jsonl"
    process = subprocess.Popen(command, env={**os.environ, "OMP_NUM_THREADS": "1"}, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not (log.is_file() and log.read_text().count("\n") >= 1) and process.poll() is None:
        assert time.monotonic() < deadline, "the first training did not finish in 2 minutes"
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    committed = {(r["arch"], r["seed"]) for r in map(json.loads, log.read_text().splitlines())}
    assert 1 <= len(committed) <= 6

    trained = counting_trainings(monkeypatch)
    result = groundtruth_run(config)
    assert result.reused == len(committed) and result.trained == 6 - len(committed)
    assert set(trained).isdisjoint(committed) and len(trained) == 6 - len(committed)
    assert all(row["test_acc"] for row in read_table(path))


def test_worker_processes_give_the_same_table(tmp_path, monkeypatch):
    here = tiny_groundtruth_config(tmp_path / "here", num_archs=2)
    groundtruth_run(here)
    pool = tiny_groundtruth_config(tmp_path / "pool", num_archs=2)
    pool.groundtruth.workers, pool.groundtruth.devices, pool.groundtruth.threads = 2, "cpu,cpu", 1
    result = groundtruth_run(pool)
    assert result.trained == 4
    assert read_table(table_path(pool)) == read_table(table_path(here))
    devices = {json.loads(line)["device"] for line in (table_path(pool).parent / "log.jsonl").read_text().splitlines()}
    assert devices == {"cpu"}


def test_seed_to_seed_tau():
    rows = {"a": {0: 1.0, 1: 2.0}, "b": {0: 2.0, 1: 3.0}, "c": {0: 3.0, 1: 1.0}, "d": {0: 4.0}}
    # over a, b, c (d lacks seed 1): the pair (a, b) is ordered alike by both seeds, (a, c) and (b, c) are not
    assert seed_to_seed_tau(rows, 2) == pytest.approx(-1 / 3)
    assert math.isnan(seed_to_seed_tau(rows, 1))


@pytest.mark.parametrize("flag, value, message", [
    ("--groundtruth.seeds", "0", "seeds must be at least 1"),
    ("--groundtruth.workers", "0", "workers must be at least 1"),
    ("--groundtruth.measure", "latency", "unknown complexity measure"),
    ("--groundtruth.num_archs", "0", "num_archs >= 1"),
])
def test_bad_settings_are_one_line_errors(tmp_path, capsys, flag, value, message):
    argv = ["groundtruth", "--run_dir", str(tmp_path / "run"), "--data.dataset", "synthetic", "--data.synthetic_size",
            "64", "--space.name", "mixpath-s1", "--space.options.depth", "1", "--retrain.steps", "1",
            "--train.progress", "false", flag, value]
    assert main(argv) == 2
    error = capsys.readouterr().err
    assert error.startswith("supernas: error: ") and message in error and error.count("\n") == 1
