"""Which architecture a run exports and retrains: ``export.arch`` when given, else the most
accurate architecture its search found."""

from __future__ import annotations

from supernas.config import Config
from supernas.runs.files import search_dir
from supernas.search.report import read_best_architecture
from supernas.spaces.base import Architecture, Space


def chosen_architecture(config: Config, space: Space) -> Architecture:
    """``export.arch`` when given, else the most accurate architecture of the run's search with
    ``search.algorithm``."""
    text = config.export.arch or read_best_architecture(search_dir(config.run_dir, config.search.algorithm))
    return space.parse(text)
