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


def test_nb201_rank_preset_trains_the_proxy_screens_c4_run():
    measured = from_dict(yaml.safe_load((STUDIES / "runs/proxy-screen/runs/c4-n1/seed0/config.yaml").read_text()))
    preset = load_config("nb201-rank")
    assert training_settings(preset) == training_settings(measured)
    assert (preset.rank.score, preset.rank.num_images, preset.rank.num_archs) == ("supernet_loss", 1000, 1000)


def test_nb201_rank_preset_names_the_figures_of_its_study():
    table = (STUDIES / "runs/proxy-screen/table.md").read_text()
    text = resolve_config_path("nb201-rank").read_text()
    assert "| c4-n1 | supernet_loss | 1 | 0.629 |" in table and "tau 0.629" in text
