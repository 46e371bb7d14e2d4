"""Datasets as uint8 tensors, stratified splits, and a device-resident loader with batched
augmentation whose batches are a pure function of (seed, step)."""

from supernas.data.datasets import DATASETS, load_dataset, make_synthetic
from supernas.data.formats import read_idx
from supernas.data.images import ImageDataset
from supernas.data.loader import DeviceLoader
from supernas.data.splits import split_dataset, take_subset
from supernas.data.transforms import AugmentConfig, augment_batch, normalize

__all__ = ["DATASETS", "AugmentConfig", "DeviceLoader", "ImageDataset", "augment_batch", "load_dataset",
           "make_synthetic", "normalize", "read_idx", "split_dataset", "take_subset"]
