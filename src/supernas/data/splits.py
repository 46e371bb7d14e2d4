"""Stratified, seeded splits and subsets of an :class:`ImageDataset`."""

from __future__ import annotations

import torch

from supernas.data.images import ImageDataset
from supernas.errors import SupernasError
from supernas.streams import SPLIT_ORDER_STREAM, SPLIT_SHUFFLE_STREAM
from supernas.utils import seeded_generator



def stratified_order(labels: torch.Tensor, seed: int) -> torch.Tensor:
    """A seeded ordering of ``range(len(labels))`` whose every prefix holds each class in
    proportion to its size (to within one image): each class in random order, the classes
    interleaved by the fraction of the class seen so far, ties broken at random."""
    labels = labels.cpu()
    shuffled = torch.randperm(len(labels), generator=seeded_generator(seed, SPLIT_ORDER_STREAM))
    classes = labels[shuffled]
    counts = torch.bincount(classes)
    by_class = torch.argsort(classes, stable=True)
    rank_in_class = torch.empty_like(by_class)
    rank_in_class[by_class] = torch.arange(len(labels)) - (torch.cumsum(counts, 0) - counts)[classes[by_class]]
    fraction_seen = (rank_in_class.double() + 0.5) / counts[classes].double()
    return shuffled[torch.argsort(fraction_seen, stable=True)]


def shuffled(indices: torch.Tensor, seed: int, part: int) -> torch.Tensor:
    """``indices`` in a seeded random order (``part`` tells apart the parts of one split)."""
    return indices[torch.randperm(len(indices), generator=seeded_generator(seed, SPLIT_SHUFFLE_STREAM, part))]


def split_dataset(ds: ImageDataset, first_fraction: float = 0.5, seed: int = 0) -> tuple[ImageDataset, ImageDataset]:
    """Two disjoint parts of ``ds`` holding ``round(len(ds) * first_fraction)`` and the rest of
    the images, stratified by class and seeded; each part is shuffled so batches mix classes."""
    if not 0 < first_fraction < 1:
        raise SupernasError(f"split fraction must be strictly between 0 and 1, got {first_fraction}; "
                            "set --data.train_fraction to e.g. 0.5")
    cut = round(len(ds) * first_fraction)
    if not 0 < cut < len(ds):
        raise SupernasError(f"splitting {len(ds)} images at fraction {first_fraction} leaves a part empty; "
                            "use more images or a fraction nearer 0.5")
    order = stratified_order(ds.labels, seed)
    return ds.select(shuffled(order[:cut], seed, 0)), ds.select(shuffled(order[cut:], seed, 1))


def take_subset(ds: ImageDataset, n: int, seed: int = 0) -> ImageDataset:
    """A stratified, seeded, shuffled subset of ``n`` images (``ds`` itself when ``n >= len(ds)``)."""
    if n < 1:
        raise SupernasError(f"a subset needs at least 1 image, got {n}; ask for a positive number of images")
    if n >= len(ds):
        return ds
    return ds.select(shuffled(stratified_order(ds.labels, seed)[:n], seed, 0))
