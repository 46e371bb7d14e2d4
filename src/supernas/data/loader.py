"""Batches drawn from a dataset kept whole on one device, as a pure function of (seed, step)."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import count

import torch

from supernas.data.images import ImageDataset
from supernas.data.transforms import AugmentConfig, augment_batch, normalize
from supernas.errors import SupernasError
from supernas.streams import AUGMENT_STREAM, EPOCH_STREAM
from supernas.utils import seeded_generator



class DeviceLoader:
    """The whole dataset on one device as uint8; batches are a pure function of (seed, step) so
    training can resume exactly.

    Step ``s`` is batch ``s % steps_per_epoch`` of epoch ``s // steps_per_epoch``, whose order is
    a permutation seeded from (seed, epoch); its augmentation is seeded from (seed, step). The
    last ``len(dataset) % batch_size`` images of each epoch's order are left out (drop-last).
    """

    def __init__(self, dataset: ImageDataset, batch_size: int, *, seed: int = 0, augment: AugmentConfig | None = None,
                 device="cpu", channels_last: bool = False):
        if batch_size < 1:
            raise SupernasError(f"batch size must be at least 1, got {batch_size}; set --data.batch_size")
        self.device = torch.device(device)
        self.dataset = dataset.to(self.device)
        self.batch_size = batch_size
        self.seed = seed
        self.augment = augment
        self.channels_last = channels_last
        self.steps_per_epoch = len(dataset) // batch_size
        self._mean = torch.tensor(dataset.mean, device=self.device)
        self._std = torch.tensor(dataset.std, device=self.device)
        self._epoch: int | None = None
        self._permutation: torch.Tensor | None = None

    def epoch_order(self, epoch: int) -> torch.Tensor:
        """The order of the images in ``epoch``, on the device (the current epoch's is cached)."""
        if epoch != self._epoch:
            generator = seeded_generator(self.seed, EPOCH_STREAM, epoch)
            self._permutation = torch.randperm(len(self.dataset), generator=generator).to(self.device)
            self._epoch = epoch
        return self._permutation

    def prepare(self, images: torch.Tensor) -> torch.Tensor:
        """Normalised float32 images, in channels-last layout when asked for."""
        images = normalize(images, self._mean, self._std)
        return images.contiguous(memory_format=torch.channels_last) if self.channels_last else images

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalised (augmented) float images ``(B, C, H, W)`` and int64 labels of ``step``."""
        if self.steps_per_epoch == 0:
            raise SupernasError(f"batch size {self.batch_size} exceeds the {len(self.dataset)} images of "
                                f"{self.dataset.name}; lower --data.batch_size")
        if step < 0:
            raise ValueError(f"step must be >= 0, got {step}")
        epoch, position = divmod(step, self.steps_per_epoch)
        indices = self.epoch_order(epoch)[position * self.batch_size:(position + 1) * self.batch_size]
        images = self.dataset.images[indices]
        if self.augment is not None:
            images = augment_batch(images, seeded_generator(self.seed, AUGMENT_STREAM, step), self.augment)
        return self.prepare(images), self.dataset.labels[indices]

    def batches(self, start: int, portion: slice = slice(None)) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """``portion`` of the batch of every step from ``start`` on (a rank's share of the global batch)."""
        for step in count(start):
            images, labels = self.batch(step)
            yield images[portion], labels[portion]

    def batches_in_order(self, batch_size: int | None = None) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """The whole dataset in stored order, normalised, without augmentation, in batches of
        ``batch_size`` (default: the loader's); the last batch may be smaller."""
        size = batch_size or self.batch_size
        for start in range(0, len(self.dataset), size):
            yield self.prepare(self.dataset.images[start:start + size]), self.dataset.labels[start:start + size]
