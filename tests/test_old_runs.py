"""Run directories written before the package was laid out anew (``tests/data/run_v0.1``: the
``config.yaml``, ``log.jsonl`` and ``checkpoints/last.pt`` that version 0.1's ``supernas train``
left of a 4-step NAS-Bench-201 run on the synthetic dataset stopped after its step-2 checkpoint)
still resume and rank."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from supernas.cli import main

from conftest import NB201_CSV, needs

OLD_RUN = Path(__file__).resolve().parent / "data" / "run_v0.1"
LOSS_AT_STEP_4_UNINTERRUPTED = 2.3492214679718018
"""The step-4 loss version 0.1 logged when the same run was not stopped."""


def copy_of_old_run(tmp_path: Path) -> str:
    run_dir = tmp_path / "run"
    shutil.copytree(OLD_RUN, run_dir)
    return str(run_dir)


def test_old_run_directory_resumes_training(tmp_path, capsys):
    run_dir = copy_of_old_run(tmp_path)
    assert main(["train", "--config", f"{run_dir}/config.yaml", "--run_dir", run_dir]) == 0
    assert "trained 4 steps (resumed from 2)" in capsys.readouterr().out
    records = [json.loads(line) for line in Path(run_dir, "log.jsonl").read_text().splitlines()]
    assert [record["step"] for record in records] == [1, 2, 3, 4]
    assert records[-1]["loss"] == pytest.approx(LOSS_AT_STEP_4_UNINTERRUPTED, abs=1e-3)


@needs(NB201_CSV)
def test_old_run_directory_ranks_against_its_space_default_ground_truth(tmp_path, capsys):
    run_dir = copy_of_old_run(tmp_path)
    assert main(["rank", "--run_dir", run_dir, "--rank.num_archs", "6", "--rank.num_images", "16",
                 "--rank.batch_size", "16"]) == 0
    assert "ranked 6 architectures" in capsys.readouterr().out
    report = json.loads(Path(run_dir, "ranking", "ranking.json").read_text())
    assert report["metrics"]["num_archs"] == 6 and report["truth"]["path"].endswith("nasbench201.csv")
