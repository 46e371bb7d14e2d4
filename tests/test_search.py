"""Search: the score cache, objectives and limits, NSGA-II / evolution / random on the
NAS-Bench-201 oracle, reports, the command line, and resuming a search killed with SIGKILL."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from supernas.cli import main
from supernas.config import SearchConfig
from supernas.errors import SupernasError
from supernas.evaluate.cache import CachedMeasure, ScoreCache
from supernas.groundtruth.tables import load_ground_truth
from supernas.search.objectives import Candidate, Objectives, ground_truth_accuracy, subnet_latency
from supernas.search.report import pareto_front
from supernas.search.runner import search_space
from supernas.spaces import get_space

from conftest import NB201_CSV, needs

def test_cache_commits_each_value_and_measures_nothing_twice(tmp_path):
    cache = ScoreCache(tmp_path / "scores.sqlite")
    calls = []
    measure = CachedMeasure(lambda arch: calls.append(arch) or float(len(arch)), {"measure": "length"}, cache)
    assert measure(["ab", "abc", "ab"]) == [2.0, 3.0, 2.0]
    assert calls == ["ab", "abc"] and measure.computed == 2
    other = sqlite3.connect(tmp_path / "scores.sqlite")  # committed: visible to another connection at once
    assert other.execute("SELECT COUNT(*) FROM scores").fetchone()[0] == 2
    again = CachedMeasure(lambda arch: pytest.fail("measured twice"), {"measure": "length"}, ScoreCache(cache.path))
    assert again(["abc", "ab"]) == [3.0, 2.0] and again.reused == 2
    elsewhere = CachedMeasure(lambda arch: 7.0, {"measure": "length", "checkpoint": "other"}, cache)
    assert elsewhere(["ab"]) == [7.0]  # another context is another key


def test_a_full_disk_under_the_cache_is_one_line_and_keeps_committed_scores(tmp_path):
    cache = ScoreCache(tmp_path / "scores.sqlite")
    cache.store({"measure": "length"}, "ab", 2.0)

    class FullDisk:
        """A connection whose writes fail the way SQLite does on a full disk."""

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def execute(self, *args):
            raise sqlite3.OperationalError("database or disk is full")

    real, cache.connection = cache.connection, FullDisk()
    with pytest.raises(SupernasError, match=r"cannot write score cache .*scores.sqlite: database or disk is full") as raised:
        cache.store({"measure": "length"}, "abc", 3.0)
    assert "\n" not in str(raised.value)
    cache.connection = real
    assert cache.lookup({"measure": "length"}, ["ab", "abc"]) == {"ab": 2.0}


def test_pareto_front_keeps_only_undominated_cheapest_first():
    candidates = [Candidate("a", 90, 10, 0), Candidate("b", 80, 5, 0), Candidate("c", 85, 12, 0),
                  Candidate("d", 95, 20, 0), Candidate("e", 70, 5, 0)]
    assert [c.arch for c in pareto_front(candidates, "params")] == ["b", "a", "d"]


ARCH_SMALL = "|skip_connect~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|"
ARCH_LARGE = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"


@pytest.fixture(scope="module")
def oracle():
    return get_space("nasbench201"), load_ground_truth(NB201_CSV, "cifar10_test_acc") if NB201_CSV.exists() else None


def oracle_search(oracle, **settings):
    space, truth = oracle
    accuracy = ground_truth_accuracy(truth, ScoreCache())
    limits = {name: settings.pop(name) for name in ("params", "flops") if name in settings}
    objectives = Objectives(space, accuracy, "params", limits=limits)
    return search_space(space, objectives, SearchConfig(**settings), accuracy)


@needs(NB201_CSV)
@pytest.mark.parametrize("algorithm", ["nsga2", "evolution", "random"])
def test_oracle_searches_are_deterministic_and_never_repeat(oracle, algorithm):
    first = oracle_search(oracle, algorithm=algorithm, population=20, generations=6, seed=3)
    second = oracle_search(oracle, algorithm=algorithm, population=20, generations=6, seed=3)
    other = oracle_search(oracle, algorithm=algorithm, population=20, generations=6, seed=4)
    assert first.history == second.history and first.front == second.front
    assert [c.arch for c in first.history] != [c.arch for c in other.history]
    assert first.queries == len({c.arch for c in first.history}) == 120
    assert first.best.accuracy == max(c.accuracy for c in first.history)


@needs(NB201_CSV)
def test_nsga2_and_evolution_beat_random_on_the_oracle(oracle):
    best = {algorithm: [oracle_search(oracle, algorithm=algorithm, population=20, generations=10,
                                      seed=seed).best.accuracy for seed in range(3)]
            for algorithm in ("nsga2", "evolution", "random")}
    assert sum(best["nsga2"]) > sum(best["random"]) and sum(best["evolution"]) > sum(best["random"])
    assert min(best["evolution"]) > 93.5


@needs(NB201_CSV)
@pytest.mark.parametrize("algorithm", ["nsga2", "evolution", "random"])
def test_searches_score_only_architectures_within_the_limit(oracle, algorithm):
    result = oracle_search(oracle, algorithm=algorithm, population=10, generations=4, params=400_000)
    assert result.history and all(c.params <= 400_000 for c in result.history)
    assert all(c.params <= 400_000 for c in result.front)


def test_latency_is_measured_once_per_architecture_and_cached(tmp_path):
    space = get_space("nasbench201", channels=4, cells_per_stage=1)
    cache = ScoreCache(tmp_path / "scores.sqlite")
    latency = subnet_latency(space, (3, 32, 32), torch.device("cpu"), batch_size=2, runs=3, warmup=1, cache=cache)
    objectives = Objectives(space, lambda archs: [50.0] * len(archs), "latency", latency)
    archs = [space.parse(ARCH_SMALL), space.parse(ARCH_LARGE)]
    small, large = objectives.score(archs)
    assert small.latency_ms > 0 and large.latency_ms > 0 and small.cost("latency") == small.latency_ms
    again = subnet_latency(space, (3, 32, 32), torch.device("cpu"), batch_size=2, runs=3, warmup=1, cache=cache)
    assert again(archs) == [small.latency_ms, large.latency_ms] and again.computed == 0


def test_objectives_reject_unknown_costs_and_limits():
    space = get_space("nasbench201")
    with pytest.raises(SupernasError, match="unknown search cost"):
        Objectives(space, lambda archs: [0.0] * len(archs), "energy")
    with pytest.raises(SupernasError, match="cannot limit"):
        Objectives(space, lambda archs: [0.0] * len(archs), limits={"latency": 3.0})


@needs(NB201_CSV)
def test_search_command_on_the_ground_truth_writes_the_report(tmp_path, capsys):
    run_dir = str(tmp_path / "run")
    args = ["search", "--run_dir", run_dir, "--data.dataset", "synthetic", "--data.synthetic_size", "64",
            "--search.objective", "groundtruth", "--search.population", "8", "--search.generations", "3",
            "--train.progress", "false"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "searched 24 architectures with nsga2" in out and "* " in out
    report = json.loads((tmp_path / "run/search/nsga2/pareto.json").read_text())
    assert report["queries"] == 24 and report["computed"] == 24 and report["front"]
    for name in ("pareto.csv", "history.csv", "pareto.png"):
        assert (tmp_path / "run/search/nsga2" / name).stat().st_size > 0
    assert main(["search", "--run_dir", run_dir]) == 0  # the saved config, every score from the cache
    assert "(0 scored, 24 from the cache)" in capsys.readouterr().out


def test_unknown_algorithm_is_one_line(tmp_path):
    result = subprocess.run([sys.executable, "-m", "supernas.cli", "search", "--run_dir", str(tmp_path),
                             "--search.algorithm", "annealing"], capture_output=True, text=True)
    assert result.returncode == 2 and result.stderr.strip().count("\n") == 0
    assert "unknown search algorithm 'annealing'" in result.stderr


TINY = ["--data.dataset", "synthetic", "--data.synthetic_size", "256", "--data.batch_size", "16", "--data.device", "cpu",
        "--space.options.channels", "4", "--space.options.cells_per_stage", "1", "--space.options.bn", "running",
        "--train.steps", "4", "--train.progress", "false", "--rank.num_images", "128", "--rank.batch_size", "64",
        "--rank.calibration_images", "64"]
SEARCH = ["--search.population", "6", "--search.generations", "4", "--search.seed", "1"]


def cached_rows(run_dir: Path) -> int:
    """How many architectures have a cached supernet accuracy (the search's objective; the same
    pass caches their loss too)."""
    path = run_dir / "scores.sqlite"
    if not path.exists():
        return 0
    try:
        with sqlite3.connect(path, timeout=1) as connection:
            return connection.execute("SELECT COUNT(*) FROM scores WHERE context LIKE '%\"measure\":\"supernet_accuracy\"%'"
                                      ).fetchone()[0]
    except sqlite3.OperationalError:  # the table is not created yet, or the writer holds the lock
        return 0


def search_command(run_dir: Path) -> list[str]:
    return [sys.executable, "-m", "supernas.cli", "search", "--run_dir", str(run_dir), *SEARCH]


ONE_THREAD = {**os.environ, "OMP_NUM_THREADS": "1"}  # tiny convs: threads only contend on a shared machine


def test_search_killed_mid_generation_resumes_to_the_same_front(tmp_path):
    trained = tmp_path / "trained"
    assert main(["train", "--run_dir", str(trained), *TINY]) == 0
    killed, uninterrupted = tmp_path / "killed", tmp_path / "uninterrupted"
    shutil.copytree(trained, killed)
    shutil.copytree(trained, uninterrupted)

    process = subprocess.Popen(search_command(killed), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               env=ONE_THREAD)
    deadline = time.monotonic() + 120
    while cached_rows(killed) < 8 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    at_kill = cached_rows(killed)
    assert process.returncode == -signal.SIGKILL and 8 <= at_kill < 24, at_kill  # killed in generation 2, 3 or 4

    resumed = subprocess.run(search_command(killed), capture_output=True, text=True, env=ONE_THREAD)
    assert resumed.returncode == 0, resumed.stderr
    baseline = subprocess.run(search_command(uninterrupted), capture_output=True, text=True, env=ONE_THREAD)
    assert baseline.returncode == 0, baseline.stderr

    report = json.loads((killed / "search/nsga2/pareto.json").read_text())
    reference = json.loads((uninterrupted / "search/nsga2/pareto.json").read_text())
    assert report["front"] == reference["front"] and report["best"] == reference["best"]
    assert (killed / "search/nsga2/history.csv").read_text() == (uninterrupted / "search/nsga2/history.csv").read_text()
    assert report["reused"] == at_kill and report["computed"] == report["queries"] - at_kill
    assert cached_rows(killed) == report["queries"] == reference["queries"]
