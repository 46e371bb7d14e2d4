"""Packaged presets that claim a measured result train exactly the run that measured it."""

from __future__ import annotations

from pathlib import Path

import yaml

from supernas.config import from_dict, load_config, resolve_config_path, to_dict, with_strategy_defaults
from supernas.runs.checkpoint import changed_settings

STUDIES = Path(__file__).resolve().parents[1] / "studies"


def training_settings(config) -> dict:
    """The settings that change training, at their resolved values."""
    return changed_settings(to_dict(with_strategy_defaults(config)), training_only=True)


def test_nb201_rank_preset_trains_the_strategies_screens_fairnas_calr_ms_runs():
    """The preset is each of the three measured runs but for its seed (0, the default)."""
    preset = load_config("nb201-rank")
    for seed in (0, 1, 2):
        run = STUDIES / f"runs/strategies-screen/runs/fairnas-calr-ms/seed{seed}/config.yaml"
        measured = from_dict(yaml.safe_load(run.read_text()))
        assert training_settings(preset) == {k: v for k, v in training_settings(measured).items() if k != "train.seed"}
    assert (preset.rank.score, preset.rank.num_images, preset.rank.num_archs) == ("supernet", 1000, 1000)


def test_nb201_rank_preset_names_the_figures_of_its_study():
    table = (STUDIES / "runs/strategies-screen/table.md").read_text()
    text = resolve_config_path("nb201-rank").read_text()
    assert "| fairnas-calr-ms | supernet | 3 | 0.655 ± 0.069 |" in table and "tau 0.655 +- 0.069" in text
