"""Batches from a dataset kept whole on the device, augmented with batched tensor ops."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch

from supernas.data.datasets import ImageDataset
from supernas.utils import seeded_generator

_EPOCH_STREAM, _AUGMENT_STREAM = 11, 12


@dataclass
class AugmentConfig:
    """Random crop with zero padding, horizontal flip and cutout (0 disables each)."""

    crop_padding: int = 4
    flip: bool = True
    cutout: int = 0


def random_crop(images: torch.Tensor, offsets: torch.Tensor, padding: int) -> torch.Tensor:
    """Crop each zero-padded image at its own ``(dy, dx)`` offset in ``[0, 2*padding]``."""
    batch, _, height, width = images.shape
    padded = torch.nn.functional.pad(images, (padding,) * 4)
    rows = (offsets[:, 0:1] + torch.arange(height, device=images.device)).view(batch, 1, height, 1)
    cols = (offsets[:, 1:2] + torch.arange(width, device=images.device)).view(batch, 1, 1, width)
    batch_index = torch.arange(batch, device=images.device).view(batch, 1, 1, 1)
    channel_index = torch.arange(images.shape[1], device=images.device).view(1, -1, 1, 1)
    return padded[batch_index, channel_index, rows, cols]


def cutout(images: torch.Tensor, centres: torch.Tensor, side: int) -> torch.Tensor:
    """Zero a ``side x side`` square (clipped at the border) around each image's centre."""
    _, _, height, width = images.shape
    ys = torch.arange(height, device=images.device).view(1, height, 1)
    xs = torch.arange(width, device=images.device).view(1, 1, width)
    top = (centres[:, 0] - side // 2).view(-1, 1, 1)
    left = (centres[:, 1] - side // 2).view(-1, 1, 1)
    inside = (ys >= top) & (ys < top + side) & (xs >= left) & (xs < left + side)
    return images.masked_fill(inside.unsqueeze(1), 0)


def augment_batch(images: torch.Tensor, generator: torch.Generator, cfg: AugmentConfig) -> torch.Tensor:
    """Crop, flip and cutout a uint8 batch. Random numbers come from the CPU ``generator`` and
    move to the images' device, so CPU and GPU give identical batches for a seed."""
    batch, _, height, width = images.shape
    offsets = torch.randint(0, 2 * cfg.crop_padding + 1, (batch, 2), generator=generator)
    flips = torch.rand(batch, generator=generator) < 0.5
    centres = torch.stack([torch.randint(0, height, (batch,), generator=generator),
                           torch.randint(0, width, (batch,), generator=generator)], 1)
    if cfg.crop_padding > 0:
        images = random_crop(images, offsets.to(images.device), cfg.crop_padding)
    if cfg.flip:
        images = torch.where(flips.to(images.device).view(-1, 1, 1, 1), images.flip(3), images)
    if cfg.cutout > 0:
        images = cutout(images, centres.to(images.device), cfg.cutout)
    return images


def normalize(images: torch.Tensor, mean: Sequence[float], std: Sequence[float], dtype=torch.float32) -> torch.Tensor:
    """uint8 images to ``(x / 255 - mean) / std`` in ``dtype``."""
    shape = (1, -1, 1, 1)
    mean_t = torch.tensor(mean, dtype=dtype, device=images.device).view(shape)
    std_t = torch.tensor(std, dtype=dtype, device=images.device).view(shape)
    return (images.to(dtype) / 255 - mean_t) / std_t


class DeviceLoader:
    """The whole dataset on one device as uint8; a batch is a pure function of (seed, step),
    so training resumes exactly and every rank can draw the same batch."""

    def __init__(self, dataset: ImageDataset, batch_size: int, *, seed: int = 0, augment: AugmentConfig | None = None,
                 device="cpu", channels_last: bool = False):
        self.dataset = dataset.to(device)
        self.batch_size, self.seed, self.augment = batch_size, seed, augment
        self.channels_last = channels_last
        self.steps_per_epoch = max(1, len(dataset) // batch_size)
        self._epoch, self._permutation = -1, None

    def permutation(self, epoch: int) -> torch.Tensor:
        """The order of the dataset in ``epoch`` (cached for the current epoch)."""
        if epoch != self._epoch:
            order = torch.randperm(len(self.dataset), generator=seeded_generator(self.seed, _EPOCH_STREAM, epoch))
            self._permutation, self._epoch = order.to(self.dataset.images.device), epoch
        return self._permutation

    def _finish(self, images: torch.Tensor) -> torch.Tensor:
        images = normalize(images, self.dataset.mean, self.dataset.std)
        return images.contiguous(memory_format=torch.channels_last) if self.channels_last else images

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalised (augmented) images and labels of training step ``step``."""
        epoch, position = divmod(step, self.steps_per_epoch)
        indices = self.permutation(epoch)[position * self.batch_size:(position + 1) * self.batch_size]
        images = self.dataset.images[indices]
        if self.augment is not None:
            images = augment_batch(images, seeded_generator(self.seed, _AUGMENT_STREAM, step), self.augment)
        return self._finish(images), self.dataset.labels[indices]

    def batches_in_order(self, batch_size: int | None = None) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """The whole dataset in stored order without augmentation (last partial batch included)."""
        size = batch_size or self.batch_size
        for start in range(0, len(self.dataset), size):
            yield (self._finish(self.dataset.images[start:start + size]), self.dataset.labels[start:start + size])
