"""What a run is built from: its data splits and batches, its search space, its supernet, and the
trained supernet of its checkpoint."""

from __future__ import annotations

import functools
import warnings
from pathlib import Path

import torch
from torch import nn

from supernas.config import Config, DataConfig, to_dict
from supernas.data import AugmentConfig, DeviceLoader, ImageDataset, load_dataset, split_dataset, take_subset
from supernas.data.imagefolder import FolderImages, StreamingLoader
from supernas.errors import SupernasError
from supernas.nn.fewshot import FewShotSupernet, InheritingFewShotSupernet
from supernas.runs.checkpoint import check_compatible, load_checkpoint, load_resumable_checkpoint
from supernas.runs.files import checkpoint_file
from supernas.spaces import Space, get_space, space_builder


def load_full_split(config: Config, train: bool) -> ImageDataset | FolderImages:
    """The whole training (or test) split of the configured dataset, as training reads it: an
    ImageFolder split stays files decoded at ``data.image_size`` by ``data.workers`` processes."""
    data = config.data
    return load_dataset(data.dataset, data.root, train=train, synthetic_size=data.synthetic_size,
                        image_size=data.image_size, workers=data.workers)


def load_splits(config: Config) -> tuple[ImageDataset, ImageDataset]:
    """The supernet-training split and the held-out split of the dataset's training set, the
    images downsampled to ``data.resolution`` and the training split cut to ``data.train_images``
    when they are set."""
    data = config.data
    full = load_full_split(config, train=True)
    if data.resolution:
        if not isinstance(full, ImageDataset):
            raise SupernasError("data.resolution applies to in-memory datasets; imagefolder crops to data.image_size")
        full = full.downsampled(data.resolution)
    train, heldout = split_dataset(full, data.train_fraction, data.split_seed)
    return (take_subset(train, data.train_images, data.split_seed + 2) if data.train_images else train), heldout


def batch_loader(data: DataConfig, dataset: ImageDataset | FolderImages, batch_size: int, seed: int, device: torch.device,
                 channels_last: bool = False) -> DeviceLoader | StreamingLoader:
    """Augmented training batches of ``dataset``, a pure function of (``seed``, step): the whole
    split on the device (DeviceLoader), or streamed from image files by ``data.workers``
    DataLoader workers (ImageFolder datasets)."""
    if isinstance(dataset, FolderImages):
        return StreamingLoader(dataset, batch_size, seed=seed, flip=data.flip, device=device, workers=data.workers,
                               channels_last=channels_last)
    augment = AugmentConfig(crop_padding=data.crop_padding, flip=data.flip, cutout=data.cutout)
    return DeviceLoader(dataset, batch_size, seed=seed, augment=augment, device=device, channels_last=channels_last)


def train_loader(config: Config, dataset: ImageDataset | FolderImages, device: torch.device) -> DeviceLoader | StreamingLoader:
    """The supernet-training batches of a run (:func:`batch_loader` with the ``data`` and ``train`` settings)."""
    return batch_loader(config.data, dataset, config.data.batch_size, config.train.seed, device,
                        config.train.channels_last)


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
    return checkpoint_file(config.run_dir)


def load_trained_supernet(config: Config, space: Space, device: torch.device) -> torch.nn.Module:
    """The supernet of the run's last checkpoint, checked against ``config`` and ``space``."""
    path = checkpoint_path(config)
    if not path.exists():
        raise SupernasError(f"no checkpoint in {config.run_dir}; run 'supernas train' with this run_dir first")
    state = load_checkpoint(path)
    check_compatible(state, space.describe(), to_dict(config), path)
    model = build_supernet(config, space)
    model.load_state_dict(state["model"])
    return model.to(device)
