"""supernas study: a grid of (variant, seed) runs trained and ranked as ordinary runs, aggregated
over seeds, resumed after a kill without training or scoring anything twice."""

from __future__ import annotations

import csv
import json
import math
import shutil
from pathlib import Path

import pytest
import yaml
from scipy import stats

from supernas.cli import main
from supernas.config import to_dict
from supernas.errors import SupernasError
from supernas.evaluate import scoring as evaluator
from supernas.groundtruth.ranking import kendall_tau_within_true_top
from supernas.runs.checkpoint import changed_settings
from supernas.spaces import get_space
from supernas.study import run_study
from supernas.study.runner import Ledger, ledger_keys, params_label, run_lock, training_cpu_seconds
from supernas.study.table import aggregate, markdown_table
from supernas.train.policy import OptimisationPolicy
from supernas.utils import seeded_generator

BASE = {"data": {"dataset": "synthetic", "synthetic_size": 256, "batch_size": 16, "device": "cpu"},
        "space": {"name": "nasbench201", "options": {"channels": 4, "cells_per_stage": 1}},
        "train": {"steps": 6, "log_every": 2, "checkpoint_every": 3, "progress": False},
        "rank": {"batch_size": 32, "calibration_images": 64}}
VARIANTS = {"spos": {"train.strategy": "spos"}, "fair": {"train.strategy": "fairnas", "train.lr": 0.05}}


def write_study(tmp_path: Path, name: str = "study", **changes) -> Path:
    """A study of 2 variants x 2 seeds on synthetic data, ranked on 20 of 40 cells of a made-up table."""
    space = get_space("nasbench201")
    generator = seeded_generator(7)
    archs = list(dict.fromkeys(str(space.sample(generator)) for _ in range(60)))[:40]
    truth = tmp_path / "truth.csv"
    if not truth.exists():
        with truth.open("w", newline="") as file:
            writer = csv.writer(file)
            writer.writerow(["arch", "acc"])
            for index, arch in enumerate(archs):
                writer.writerow([arch, 50 + space.complexity(space.parse(arch), "params") / 1e4 + (index * 37 % 11)])
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(BASE))
    study = {"base": "base.yaml", "out": str(tmp_path / name), "variants": VARIANTS, "seeds": [0, 1], "cells": 20,
             "cell_seed": 3, "ground_truth": str(truth), "column": "acc", "images": 64,
             "scores": ["supernet", "supernet_loss"], **changes}
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(study, sort_keys=False))
    return path


def test_aggregate_is_the_mean_and_sample_std_over_seeds():
    rows = [{"variant": "a", "seed": s, "score": "supernet", "kendall_tau": tau, "spearman_rho": 0.5, "precision_at_top": 1.0,
             "top1_true": 90.0 + s, "top_tau": math.nan, "train_cpu_seconds": 60.0 * (s + 1), "score_cpu_seconds": 6.0}
            for s, tau in enumerate([0.1, 0.3, 0.8])]
    (entry,) = aggregate(rows)
    assert entry["seeds"] == [0, 1, 2]
    assert entry["kendall_tau_mean"] == pytest.approx(0.4)
    assert entry["kendall_tau_std"] == pytest.approx(math.sqrt((0.09 + 0.01 + 0.16) / 2))
    assert entry["top1_true_mean"] == pytest.approx(91.0) and entry["top1_true_std"] == pytest.approx(1.0)
    assert entry["spearman_rho_std"] == 0.0 and math.isnan(entry["top_tau_mean"])
    assert "| a | supernet | 3 | 0.400 ± 0.361 | 0.500 ± 0.000 | 1.000 ± 0.000 | 91.00 ± 1.00 | - | 2.0 ± 1.0 | 0.1 ± 0.0 |" in markdown_table([entry])


def test_kendall_tau_within_the_true_top_orders_only_the_best_cells():
    truth = [10, 9, 8, 7, 6, 5, 4, 3, 2, 1]
    predicted = [1, 2, 3, 4, 5, 9, 9, 9, 9, 9]  # the best five in reverse order, all below the rest
    assert kendall_tau_within_true_top(predicted, truth, 0.5) == pytest.approx(-1.0)
    assert kendall_tau_within_true_top(truth, truth, 0.3) == pytest.approx(1.0)
    assert math.isnan(kendall_tau_within_true_top(predicted, truth, 0.1))  # one cell: no pairs


def test_each_score_row_is_compared_with_the_parameter_count_on_its_own_cells():
    assert params_label("supernet") == "params"
    assert params_label("supernet_loss@dynas") == "params@dynas"


def test_training_cpu_time_sums_the_last_record_of_each_call():
    records = [{"cpu_seconds": 1.0}, {"cpu_seconds": 2.5}, {"cpu_seconds": 0.7}, {"cpu_seconds": 1.5}, {"cpu_seconds": 3.0}]
    assert training_cpu_seconds(records, [0, 2]) == 2.5 + 3.0
    assert training_cpu_seconds(records, [0, 2, 5]) == 2.5 + 3.0  # a call killed before it logged


def test_study_of_two_variants_and_two_seeds_aggregates_its_runs(tmp_path):
    result = run_study(write_study(tmp_path))
    out = Path(result.out_dir)
    assert (result.trained, result.ranked) == (4, 8)
    cells = (out / "cells.txt").read_text().split()
    assert len(cells) == 20 and len(set(cells)) == 20
    truth = {row["arch"]: float(row["acc"]) for row in csv.DictReader((tmp_path / "truth.csv").open())}
    by_run = {(row["variant"], row["seed"], row["score"]): row for row in result.rows}
    assert len(by_run) == 8
    for variant in VARIANTS:
        for seed in (0, 1):
            run_dir = out / "runs" / variant / f"seed{seed}"
            assert (run_dir / "checkpoints" / "last.pt").is_file()
            ranking = list(csv.DictReader((run_dir / "ranking" / "ranking.csv").open()))  # the last score: the loss
            assert sorted(row["arch"] for row in ranking) == sorted(cells)
            tau = stats.kendalltau([float(r["score"]) for r in ranking], [truth[r["arch"]] for r in ranking]).statistic
            assert by_run[(variant, seed, "supernet_loss")]["kendall_tau"] == pytest.approx(tau)
            assert by_run[(variant, seed, "supernet")]["train_cpu_seconds"] > 0
    for entry in result.table:
        a, b = (by_run[(entry["variant"], seed, entry["score"])] for seed in (0, 1))
        for metric in ("kendall_tau", "spearman_rho", "precision_at_top", "top1_true", "top_tau"):
            assert entry[f"{metric}_mean"] == pytest.approx((a[metric] + b[metric]) / 2, nan_ok=True)
            assert entry[f"{metric}_std"] == pytest.approx(abs(a[metric] - b[metric]) / math.sqrt(2), nan_ok=True)
    assert [(e["variant"], e["score"]) for e in result.table] == [(v, s) for v in VARIANTS for s in ("supernet", "supernet_loss")]
    saved = json.loads((out / "table.json").read_text())
    assert saved["table"][0]["kendall_tau_mean"] == pytest.approx(result.table[0]["kendall_tau_mean"])
    assert len((out / "table.md").read_text().splitlines()) == 2 + 4 + 1  # header, 4 rows, parameter count
    assert (out / "table.png").read_bytes()[:4] == b"\x89PNG"
    assert len((out / "runs.csv").read_text().splitlines()) == 1 + 8


def comparable(table: list[dict]) -> list[dict]:
    """The table without its CPU times (which differ from one execution to the next)."""
    return [{k: v for k, v in entry.items() if "cpu" not in k} for entry in table]


def test_killed_study_resumes_without_training_or_scoring_anything_twice(tmp_path, monkeypatch):
    counts = {"steps": 0, "scores": 0}
    real_step, real_score = OptimisationPolicy.step, evaluator.supernet_scores
    kill = {"step": None, "score": None}

    class Killed(Exception):
        pass

    def counted_step(self, step, archs):
        if kill["step"] is not None and step == 3:  # the first step after the checkpoint at 3 (of 6)
            kill["step"] -= 1
            if kill["step"] < 0:
                raise Killed
        real_step(self, step, archs)
        counts["steps"] += 1

    def counted_score(*args, **kwargs):  # one scoring pass of one cell in one supernet
        if kill["score"] is not None:
            kill["score"] -= 1
            if kill["score"] < 0:
                raise Killed
        value = real_score(*args, **kwargs)
        counts["scores"] += 1
        return value

    monkeypatch.setattr(OptimisationPolicy, "step", counted_step)
    monkeypatch.setattr(evaluator, "supernet_scores", counted_score)
    uninterrupted = run_study(write_study(tmp_path, "whole", seeds=[0]))
    expected = dict(counts)
    assert expected == {"steps": 2 * 6, "scores": 2 * 20}  # optimizer steps; (run, cell) passes: one yields both scores

    path = write_study(tmp_path, "killed", seeds=[0])
    counts.update(steps=0, scores=0)
    kill.update(step=1, score=None)  # killed in the second run's training, after its checkpoint at step 3
    with pytest.raises(Killed):
        run_study(path)
    kill.update(step=None, score=5)  # then in its scoring by accuracy: both scores of 5 cells cached
    with pytest.raises(Killed):
        run_study(path)
    kill.update(step=None, score=None)
    resumed = run_study(path)
    assert counts == expected
    assert (resumed.trained, resumed.ranked) == (0, 2)  # the second run's accuracy (5 cells cached), then its loss
    assert json.dumps(comparable(resumed.table)) == json.dumps(comparable(uninterrupted.table))
    assert json.dumps(comparable(resumed.rows)) == json.dumps(comparable(uninterrupted.rows))

    again = run_study(path)
    assert (again.trained, again.ranked) == (0, 0) and counts == expected


def test_study_processes_share_the_runs_by_locks(tmp_path, capsys):
    path = write_study(tmp_path, seeds=[0])
    with run_lock(tmp_path / "study" / "locks" / "fair-seed0.lock") as held:  # another process works on it
        assert held
        with run_lock(tmp_path / "study" / "locks" / "fair-seed0.lock") as second:
            assert not second
        assert main(["study", str(path)]) == 0
    out = capsys.readouterr().out
    assert "fair-seed0: skipped, another study process is working on it" in out
    assert "1 runs are not finished (fair-seed0): another study process holds them" in out
    assert "| spos | supernet_loss | 1 |" in out and "| fair |" not in out
    assert not (tmp_path / "study" / "runs" / "fair").exists()
    finished = run_study(path)  # the lock is free again
    assert (finished.trained, finished.ranked, finished.pending) == (1, 2, [])
    assert [(e["variant"], e["score"]) for e in finished.table] == [(v, s) for v in VARIANTS for s in ("supernet", "supernet_loss")]


def test_a_variant_can_have_seeds_of_its_own(tmp_path):
    result = run_study(write_study(tmp_path, seeds=[0], variant_seeds={"fair": [0, 1]}, scores=["supernet_loss"]))
    assert [(row["variant"], row["seed"]) for row in result.rows] == [("spos", 0), ("fair", 0), ("fair", 1)]  # seed by seed
    assert {entry["variant"]: entry["seeds"] for entry in result.table} == {"spos": [0], "fair": [0, 1]}
    with pytest.raises(SupernasError, match="variant_seeds names variants the study does not have: fairnas"):
        run_study(write_study(tmp_path, variant_seeds={"fairnas": [1]}))
    with pytest.raises(SupernasError, match="variant_seeds of 'fair' must be a list of distinct integers"):
        run_study(write_study(tmp_path, variant_seeds={"fair": [1, 1]}))


def test_cell_subsets_are_ranked_from_the_same_scores_and_reported_beside_their_parameter_count(tmp_path, monkeypatch):
    passes = []
    real_score = evaluator.supernet_scores
    monkeypatch.setattr(evaluator, "supernet_scores", lambda *a, **k: passes.append(1) or real_score(*a, **k))
    path = write_study(tmp_path, seeds=[0], variants={"spos": {}})
    cells = run_study(path).rows and (tmp_path / "study" / "cells.txt").read_text().split()
    (tmp_path / "subset.txt").write_text("# ten of the study's cells\n" + "\n".join(cells[::2]) + "\n")
    assert len(passes) == 20
    result = run_study(write_study(tmp_path, seeds=[0], variants={"spos": {}}, cell_subsets={"half": "subset.txt"}))
    assert len(passes) == 20 and result.ranked == 2  # the subset's cells were scored with the study's
    rows = {row["score"]: row for row in result.rows}
    assert list(rows) == ["supernet", "supernet_loss", "supernet@half", "supernet_loss@half"]
    truth = {row["arch"]: float(row["acc"]) for row in csv.DictReader((tmp_path / "truth.csv").open())}
    ranking = list(csv.DictReader((tmp_path / "study" / "runs" / "spos" / "seed0" / "ranking" / "ranking.csv").open()))
    assert sorted(r["arch"] for r in ranking) == sorted(cells[::2])  # the last ranking: the loss on the subset
    tau = stats.kendalltau([float(r["score"]) for r in ranking], [truth[r["arch"]] for r in ranking]).statistic
    assert rows["supernet_loss@half"]["kendall_tau"] == pytest.approx(tau)
    params_tau = stats.kendalltau([get_space("nasbench201").complexity(get_space("nasbench201").parse(a), "params")
                                   for a in cells[::2]], [truth[a] for a in cells[::2]]).statistic
    assert rows["supernet@half"]["params"]["kendall_tau"] == pytest.approx(params_tau)
    table = (tmp_path / "study" / "table.md").read_text()
    assert f"| parameter count | params@half | - | {params_tau:.3f} |" in table and "| parameter count | params | - |" in table
    with pytest.raises(SupernasError, match="cell subset 'x': no cells file missing.txt"):
        run_study(write_study(tmp_path, cell_subsets={"x": "missing.txt"}))


def test_a_study_moved_elsewhere_trains_and_ranks_nothing_again(tmp_path):
    first = tmp_path / "first"
    first.mkdir()
    done = run_study(write_study(first, seeds=[0]))
    moved = tmp_path / "moved"
    shutil.copytree(first, moved)
    study = yaml.safe_load((moved / "study.yaml").read_text())
    study.update(out=str(moved / "study"), ground_truth=str(moved / "truth.csv"))
    (moved / "study.yaml").write_text(yaml.safe_dump(study, sort_keys=False))
    shutil.rmtree(first)
    again = run_study(moved / "study.yaml")
    assert (again.trained, again.ranked) == (0, 0)
    assert json.dumps(comparable(again.table)) == json.dumps(comparable(done.table))


def test_only_works_on_the_named_variants_and_table_only_on_none(tmp_path, capsys):
    path = write_study(tmp_path, seeds=[0])
    assert main(["study", str(path), "--only", "fair"]) == 0
    out = capsys.readouterr().out
    assert "trained 1 runs" in out and "| fair | supernet_loss | 1 |" in out and "| spos |" not in out
    assert "1 runs are not finished (spos-seed0)" in out
    assert main(["study", str(path), "--table-only"]) == 0
    out = capsys.readouterr().out
    assert "trained 0 runs and ranked 0" in out and "| fair | supernet_loss | 1 |" in out and "| spos |" not in out
    assert "1 runs are not finished (spos-seed0)" in out and not (tmp_path / "study" / "runs" / "spos").exists()
    assert main(["study", str(path), "--only", "fairnas"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "has no variant fairnas; its variants: spos, fair" in err


def test_bad_study_files_are_one_line_errors(tmp_path, capsys):
    with pytest.raises(SupernasError, match="unknown config key 'variantz'"):
        run_study(write_study(tmp_path, variantz={}))
    with pytest.raises(SupernasError, match="variant 'fair': unknown config key 'train.lrr'"):
        run_study(write_study(tmp_path, variants={"fair": {"train.lrr": 0.1}}))
    with pytest.raises(SupernasError, match="variant name"):
        run_study(write_study(tmp_path, variants={"a/b": {}}))
    with pytest.raises(SupernasError, match="unknown score 'supernet_acc'"):
        run_study(write_study(tmp_path, scores=["supernet_acc"]))
    assert not (tmp_path / "study" / "runs").exists()  # refused before anything trained
    path = write_study(tmp_path, seeds=[0, 0])
    assert main(["study", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("supernas: error: study") and "distinct integers" in err and err.count("\n") == 1


def test_study_command_prints_the_table(tmp_path, capsys):
    path = write_study(tmp_path, seeds=[0], variants={"spos": {}}, scores=["supernet_loss"])
    assert main(["study", str(path)]) == 0
    out = capsys.readouterr().out
    assert "| spos | supernet_loss | 1 |" in out and "parameter count" in out and "trained 1 runs" in out


def test_ledger_keeps_its_records_after_a_line_cut_by_a_kill(tmp_path):
    ledger = Ledger(tmp_path / "run.jsonl")
    ledger.append({"event": "train", "log_line": 0})
    with ledger.path.open("a") as file:
        file.write('{"event": "tra')
    ledger.append({"event": "trained"})
    assert ledger.records() == [{"event": "train", "log_line": 0}, {"event": "trained"}]


def test_ledger_keys_ignore_options_at_their_defaults_and_follow_the_rest(tiny_config):
    values = to_dict(tiny_config)
    older = to_dict(tiny_config)
    del older["data"]["resolution"]  # written before supernas had the option
    assert changed_settings(older) == changed_settings(values) and "data.resolution" not in changed_settings(values)
    trained, ranked = ledger_keys(tiny_config)
    tiny_config.train.progress, tiny_config.train.log_every = True, 1  # change nothing computed
    assert ledger_keys(tiny_config) == (trained, ranked)
    tiny_config.rank.num_images = 32
    assert ledger_keys(tiny_config)[0] == trained and ledger_keys(tiny_config)[1] != ranked
    tiny_config.train.lr = 0.5
    assert ledger_keys(tiny_config)[0] != trained
