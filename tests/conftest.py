"""Shared fixtures: where the shared data lives, and tiny configs that train in seconds."""

from __future__ import annotations

from pathlib import Path

import pytest

from supernas.config import Config

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
NB201_CSV = SHARED_DATA / "nasbench201.csv"
CIFAR10_DIR = SHARED_DATA / "cifar10"


def needs(path: Path):
    """Skip a test when a shared data file is absent."""
    return pytest.mark.skipif(not path.exists(), reason=f"{path} not available")


@pytest.fixture
def tiny_config(tmp_path) -> Config:
    """A NAS-Bench-201 run on the synthetic dataset that trains in about a second."""
    config = Config()
    config.run_dir = str(tmp_path / "run")
    config.data.dataset = "synthetic"
    config.data.synthetic_size = 256
    config.data.batch_size = 16
    config.data.device = "cpu"
    config.space.options = {"channels": 4, "cells_per_stage": 1}
    config.train.steps = 6
    config.train.log_every = 2
    config.train.checkpoint_every = 3
    config.train.progress = False
    config.rank.num_archs = 20
    config.rank.num_images = 64
    config.rank.batch_size = 32
    config.rank.calibration_images = 64
    return config
