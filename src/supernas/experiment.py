"""What a run is built from: its data splits, its search space, its model, its run directory."""

from __future__ import annotations

import functools
from pathlib import Path

import torch
from torch import nn

from supernas.config import Config
from supernas.data import AugmentConfig, DeviceLoader, ImageDataset, load_dataset, split_dataset
from supernas.data.imagefolder import FolderImages, StreamingLoader
from supernas.errors import SupernasError
from supernas.nn.fewshot import FewShotSupernet
from supernas.spaces import Space, get_space


def load_splits(config: Config) -> tuple[ImageDataset, ImageDataset]:
    """The supernet-training split and the held-out split of the dataset's training set."""
    data = config.data
    full = load_dataset(data.dataset, data.root, train=True, synthetic_size=data.synthetic_size,
                        image_size=data.image_size, workers=data.workers)
    return split_dataset(full, data.train_fraction, data.split_seed)


def train_loader(config: Config, dataset: ImageDataset | FolderImages, device: torch.device) -> DeviceLoader | StreamingLoader:
    """The training batches of a run: the whole split on the device (DeviceLoader), or
    streamed from image files by DataLoader workers (ImageFolder datasets)."""
    data = config.data
    if isinstance(dataset, FolderImages):
        return StreamingLoader(dataset, data.batch_size, seed=config.train.seed, flip=data.flip, device=device,
                               workers=data.workers, channels_last=config.train.channels_last)
    augment = AugmentConfig(crop_padding=data.crop_padding, flip=data.flip, cutout=data.cutout)
    return DeviceLoader(dataset, data.batch_size, seed=config.train.seed, augment=augment, device=device,
                        channels_last=config.train.channels_last)


def build_space(config: Config, dataset: ImageDataset) -> Space:
    """The configured space, with its dataset-dependent options taken from ``dataset``."""
    options = {"num_classes": dataset.num_classes, "in_channels": dataset.in_channels,
               "image_size": dataset.image_size, **config.space.options}
    return get_space(config.space.name, **options)


def build_supernet(config: Config, space: Space) -> nn.Module:
    """The model a run trains and scores: the space's supernet or, for few-shot NAS, one
    sub-supernet per group of ``train.fewshot_grouping`` behind one ``forward(x, arch)``."""
    train = config.train
    if train.strategy != "fewshot":
        return space.build_supernet()
    grouping = train.fewshot_grouping
    if train.ms and set(space.group_genes(train.ms_grouping)) <= set(space.group_genes(grouping)):
        raise SupernasError(f"momentum separation ({train.ms_grouping}) must split on other genes than the few-shot "
                            f"sub-supernets ({grouping}); pick another train.ms_grouping or space option split_edge")
    parts = [space.build_supernet() for _ in range(space.num_groups(grouping))]
    return FewShotSupernet(parts, functools.partial(space.group, grouping=grouping))


def checkpoint_path(config: Config) -> Path:
    """Where a run keeps its latest checkpoint."""
    return Path(config.run_dir) / "checkpoints" / "last.pt"
