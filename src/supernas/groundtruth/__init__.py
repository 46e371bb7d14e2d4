"""Ground truth: tables of measured accuracy per architecture (``tables``), how well scores rank
against them (``ranking``: Kendall tau-b, Spearman rho, precision@top), and the builder that
trains sampled architectures from scratch to write a table for any space (``builder``)."""

from supernas.groundtruth.tables import GroundTruth, default_nasbench201_path, load_ground_truth

__all__ = ["GroundTruth", "default_nasbench201_path", "load_ground_truth"]
