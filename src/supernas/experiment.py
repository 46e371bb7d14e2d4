"""What a run is built from: its data splits, its search space, its run directory."""

from __future__ import annotations

from pathlib import Path

from supernas.config import Config
from supernas.data import ImageDataset, load_dataset, split_dataset
from supernas.spaces import Space, get_space


def load_splits(config: Config) -> tuple[ImageDataset, ImageDataset]:
    """The supernet-training split and the held-out split of the dataset's training set."""
    full = load_dataset(config.data.dataset, config.data.root, train=True, synthetic_size=config.data.synthetic_size)
    return split_dataset(full, config.data.train_fraction, config.data.split_seed)


def build_space(config: Config, dataset: ImageDataset) -> Space:
    """The configured space, with its dataset-dependent options taken from ``dataset``."""
    options = {"num_classes": dataset.num_classes, "in_channels": dataset.in_channels,
               "image_size": dataset.image_size, **config.space.options}
    return get_space(config.space.name, **options)


def checkpoint_path(config: Config) -> Path:
    """Where a run keeps its latest checkpoint."""
    return Path(config.run_dir) / "checkpoints" / "last.pt"
