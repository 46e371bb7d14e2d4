"""The headline benchmark runs end to end at a tiny budget, and both variants score the same cells."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import torch
from conftest import NB201_CSV, needs

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))


@needs(NB201_CSV)
def test_baseline_and_ours_score_identical_cells(tmp_path, monkeypatch, capsys):
    import ranking_budget

    scored = []
    real = ranking_budget.score_cells

    def recording(model, archs, scoring, truth, top_fraction=0.1):
        scored.append([str(a) for a in archs])
        return real(model, archs, scoring, truth, top_fraction)

    monkeypatch.setattr(ranking_budget, "score_cells", recording)
    threads = torch.get_num_threads()
    markdown = tmp_path / "BENCH.md"
    try:
        returned = ranking_budget.main([
            "--budgets", "0.01", "--num-archs", "8", "--num-images", "64", "--device", "cpu", "--threads", "1",
            "--set", "data.dataset=synthetic", "--set", "data.synthetic_size=512", "--set", "data.batch_size=32",
            "--set", "space.options.channels=4", "--baseline-options", "{channels: 4, cells_per_stage: 1}",
            "--max-steps", "60", "--markdown", str(markdown), "--out", str(tmp_path)])
    finally:
        torch.set_num_threads(threads)  # one thread (robust on a loaded machine) for this benchmark only
    assert returned == 0
    assert len(scored) == 2 and scored[0] == scored[1] and len(set(scored[0])) == 8
    table = markdown.read_text()
    for variant in ("| baseline | 0.01 |", "| ours | 0.01 |", "| param count | 0.01 |"):
        assert variant in table
    assert (tmp_path / "ranking_budget.png").stat().st_size > 1000
    rows = {cells[1].strip(): [cell.strip() for cell in cells[2:-1]]
            for cells in (line.split("|") for line in table.splitlines()) if len(cells) == 14}
    steps, data_images, forward_passes = (int(rows["ours"][i]) for i in (2, 3, 4))
    assert 1 <= steps <= 60 and data_images == steps * 32 and forward_passes == 5 * data_images  # FairNAS: 5 subnets a batch
    steps, data_images, forward_passes = (int(rows["baseline"][i]) for i in (2, 3, 4))
    assert 1 <= steps <= 60 and data_images == forward_passes == steps * 64
    params_tau = [float(cells[10]) for cells in (line.split("|") for line in table.splitlines())
                  if len(cells) > 8 and cells[1].strip() == "param count"]
    assert len(params_tau) == 1 and -1 <= params_tau[0] <= 1 and not math.isnan(params_tau[0])
