"""Ranking studies: a grid of (variant, seed) runs trained and ranked as ordinary runs, aggregated."""

from supernas.study.runner import StudyResult, run_study

__all__ = ["StudyResult", "run_study"]
