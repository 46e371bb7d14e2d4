"""Command line: end-to-end train + rank, resume, and one-line errors for bad input."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml

from supernas.cli import main

from conftest import NB201_CSV, needs

TINY = ["--data.dataset", "synthetic", "--data.synthetic_size", "256", "--data.batch_size", "16", "--data.device", "cpu",
        "--space.options.channels", "4", "--space.options.cells_per_stage", "1", "--train.steps", "4",
        "--train.progress", "false", "--rank.num_archs", "12", "--rank.num_images", "64", "--rank.batch_size", "32"]


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "supernas.cli", *args], capture_output=True, text=True)


def one_error_line(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("supernas: error:"), result.stderr
    return lines[0]


@needs(NB201_CSV)
def test_train_then_rank_end_to_end(tmp_path, capsys):
    run_dir = str(tmp_path / "run")
    assert main(["train", "--run_dir", run_dir, *TINY]) == 0
    saved = yaml.safe_load(open(f"{run_dir}/config.yaml"))
    assert saved["space"]["options"] == {"channels": 4, "cells_per_stage": 1}
    assert main(["rank", "--run_dir", run_dir, "--rank.num_archs", "12"]) == 0
    out = capsys.readouterr().out
    assert "ranked 12 architectures" in out and "param count" in out
    report = json.load(open(f"{run_dir}/ranking/ranking.json"))
    assert report["metrics"]["num_archs"] == 12
    tau = report["metrics"]["kendall_tau"]
    assert tau is None or -1 <= tau <= 1  # None when the 4-step supernet scores every cell the same
    rows = open(f"{run_dir}/ranking/ranking.csv").read().splitlines()
    assert len(rows) == 13 and rows[0].startswith("arch,score,truth")


def test_malformed_architecture_file_is_one_line(tmp_path):
    run_dir = str(tmp_path / "run")
    assert main(["train", "--run_dir", run_dir, *TINY]) == 0
    archs = tmp_path / "archs.txt"
    archs.write_text("|nor_conv_3x3~0|+|bogus~0|none~1|+|none~0|none~1|none~2|\n")
    line = one_error_line(run_cli("rank", "--run_dir", run_dir, "--rank.archs_file", str(archs)))
    assert "unknown op 'bogus'" in line


def test_missing_dataset_directory_is_one_line(tmp_path):
    line = one_error_line(run_cli("train", "--run_dir", str(tmp_path / "r"), "--data.root", str(tmp_path / "nowhere")))
    assert "nowhere" in line


@needs(NB201_CSV)
def test_ground_truth_without_the_column_is_one_line(tmp_path):
    run_dir = str(tmp_path / "run")
    assert main(["train", "--run_dir", run_dir, *TINY]) == 0
    line = one_error_line(run_cli("rank", "--run_dir", run_dir, "--rank.column", "cifar10_valid_acc"))
    assert "cifar10_valid_acc" in line and "cifar10_test_acc" in line


def test_checkpoint_from_a_different_space_or_config_is_one_line(tmp_path):
    run_dir = str(tmp_path / "run")
    assert main(["train", "--run_dir", run_dir, *TINY]) == 0
    other_space = [a if a != "4" or i == 0 else a for i, a in enumerate(TINY)]
    other_space[other_space.index("--space.options.channels") + 1] = "8"
    line = one_error_line(run_cli("train", "--run_dir", run_dir, *other_space))
    assert "different search space" in line and "channels" in line
    line = one_error_line(run_cli("train", "--run_dir", run_dir, *TINY, "--train.lr", "0.1"))
    assert "different config" in line and "train.lr" in line


def test_corrupted_checkpoint_is_one_line(tmp_path):
    run_dir = tmp_path / "run"
    assert main(["train", "--run_dir", str(run_dir), *TINY]) == 0
    checkpoint = run_dir / "checkpoints" / "last.pt"
    checkpoint.write_bytes(checkpoint.read_bytes()[:1000])
    assert "truncated or corrupted" in one_error_line(run_cli("train", "--run_dir", str(run_dir), *TINY))


@pytest.mark.parametrize("args, fragment", [
    (["--train.lrr", "1"], "unrecognised argument '--train.lrr'"),
    (["--train.steps", "many"], "train.steps' expects int"),
    (["--train.strategy", "darts"], "unknown training strategy 'darts'"),
    (["--space.name", "nope"], "unknown search space 'nope'"),
    (["--space.options.colour", "red"], "bad options for space 'nasbench201'"),
    (["--config", "no-such-preset"], "neither a file nor a preset"),
])
def test_bad_options_are_one_line(tmp_path, args, fragment):
    line = one_error_line(run_cli("train", "--run_dir", str(tmp_path / "r"), *TINY, *args))
    assert fragment in line


def test_unknown_yaml_key_is_rejected_by_name(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("train:\n  lrate: 0.1\n")
    assert "unknown config key 'train.lrate'" in one_error_line(run_cli("train", "--config", str(config)))


def test_help_explains_every_option():
    result = run_cli("train", "--help")
    assert result.returncode == 0
    for flag in ("--train.lr", "--data.cutout", "--rank.column", "--train.strategy", "--space.options"):
        assert flag in result.stdout


def test_unknown_or_abbreviated_option_is_one_line_with_the_closest_options():
    line = one_error_line(run_cli("rank", "--space", "x"))
    assert "'--space'" in line and "--space.name" in line and "supernas rank --help" in line
    line = one_error_line(run_cli("train", "--train.lrr", "1"))
    assert "did you mean --train.lr" in line
    assert "expected one argument" in one_error_line(run_cli("train", "--train.steps"))
    assert "unrecognised argument '--x'" in one_error_line(run_cli("report", "somewhere", "--x"))
