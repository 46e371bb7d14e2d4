"""Datasets as uint8 tensors and a device-resident loader with batched augmentation."""

from supernas.data.datasets import DATASETS, ImageDataset, load_dataset, make_synthetic, read_idx, split_dataset, take_subset
from supernas.data.loader import AugmentConfig, DeviceLoader, augment_batch, normalize

__all__ = ["DATASETS", "AugmentConfig", "DeviceLoader", "ImageDataset", "augment_batch", "load_dataset",
           "make_synthetic", "normalize", "read_idx", "split_dataset", "take_subset"]
