"""Benchmark ground-truth tables (architecture string -> measured accuracy)."""

from supernas.benchmarks.tables import GroundTruth, default_nasbench201_path, load_ground_truth

__all__ = ["GroundTruth", "default_nasbench201_path", "load_ground_truth"]
