"""What a run is built from: its data splits, its search space, its model, its run directory."""

from __future__ import annotations

import functools
import warnings
from pathlib import Path

import torch
from torch import nn

from supernas.config import Config
from supernas.data import AugmentConfig, DeviceLoader, ImageDataset, load_dataset, split_dataset, take_subset
from supernas.data.imagefolder import FolderImages, StreamingLoader
from supernas.errors import SupernasError
from supernas.nn.fewshot import FewShotSupernet, InheritingFewShotSupernet
from supernas.spaces import Space, get_space, space_builder
from supernas.train.checkpoint import load_resumable_checkpoint


def load_splits(config: Config) -> tuple[ImageDataset, ImageDataset]:
    """The supernet-training split and the held-out split of the dataset's training set, the
    images downsampled to ``data.resolution`` and the training split cut to ``data.train_images``
    when they are set."""
    data = config.data
    full = load_dataset(data.dataset, data.root, train=True, synthetic_size=data.synthetic_size,
                        image_size=data.image_size, workers=data.workers)
    if data.resolution:
        if not isinstance(full, ImageDataset):
            raise SupernasError("data.resolution applies to in-memory datasets; imagefolder crops to data.image_size")
        full = full.downsampled(data.resolution)
    train, heldout = split_dataset(full, data.train_fraction, data.split_seed)
    return (take_subset(train, data.train_images, data.split_seed + 2) if data.train_images else train), heldout


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
    """The configured space, with its dataset-dependent options taken from ``dataset``, and any
    option whose default changed since the run's checkpoint was written at its former value
    (:func:`former_defaults_of_run`)."""
    options = {"num_classes": dataset.num_classes, "in_channels": dataset.in_channels,
               "image_size": dataset.image_size, **config.space.options}
    return get_space(config.space.name, **options, **former_defaults_of_run(config, options))


def former_defaults_of_run(config: Config, options: dict) -> dict:
    """The space's options whose default changed (``Space.former_defaults``) that ``options``
    leave unset and the run's checkpoint was trained with at their former default, so that a
    run directory made before the change resumes and scores the supernet it trained."""
    former = {key: value for key, value in getattr(space_builder(config.space.name), "former_defaults", {}).items() if key not in options}
    if not former:
        return {}
    with warnings.catch_warnings():  # a damaged latest checkpoint is reported when the run loads it
        warnings.simplefilter("ignore")
        state = load_resumable_checkpoint(checkpoint_path(config), set_aside=False)
    recorded = state["space"] if state is not None else {}
    return {key: value for key, value in former.items() if recorded.get(key) == value}


def build_supernet(config: Config, space: Space) -> nn.Module:
    """The model a run trains and scores: the space's supernet or, for few-shot NAS, one
    sub-supernet per group of ``train.fewshot_grouping`` behind one ``forward(x, arch)``, which
    inherit the weights of one supernet trained first when ``train.fewshot_split_fraction`` > 0."""
    train = config.train
    if not 0 <= train.fewshot_split_fraction < 1:
        raise SupernasError(f"train.fewshot_split_fraction must be in [0, 1), got {train.fewshot_split_fraction}")
    if train.strategy != "fewshot":
        if train.fewshot_split_fraction:
            raise SupernasError(f"train.fewshot_split_fraction applies to strategy fewshot, not {train.strategy!r}")
        return space.build_supernet()
    grouping = train.fewshot_grouping
    if train.ms and set(space.group_genes(train.ms_grouping)) <= set(space.group_genes(grouping)):
        raise SupernasError(f"momentum separation ({train.ms_grouping}) must split on other genes than the few-shot "
                            f"sub-supernets ({grouping}); pick another train.ms_grouping or space option split_edge")
    parts = [space.build_supernet() for _ in range(space.num_groups(grouping))]
    kind = InheritingFewShotSupernet if train.fewshot_split_fraction else FewShotSupernet
    return kind(parts, functools.partial(space.group, grouping=grouping))


def checkpoint_path(config: Config) -> Path:
    """Where a run keeps its latest checkpoint."""
    return Path(config.run_dir) / "checkpoints" / "last.pt"
