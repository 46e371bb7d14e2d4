"""Images as one uint8 tensor: :class:`ImageDataset`, the form every dataset takes in memory."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch

from supernas.errors import SupernasError


@dataclass(frozen=True)
class ImageDataset:
    """Images as a contiguous uint8 ``(N, C, H, W)`` tensor, int64 labels, class names and the
    per-channel mean and std (in [0, 1] units) used to normalise them."""

    images: torch.Tensor
    labels: torch.Tensor
    classes: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    name: str

    def __post_init__(self):
        if self.images.dtype != torch.uint8 or self.images.dim() != 4:
            raise ValueError(f"images must be uint8 (N, C, H, W), got {self.images.dtype} {tuple(self.images.shape)}")
        if self.labels.dtype != torch.int64 or self.labels.shape != self.images.shape[:1]:
            raise ValueError(f"labels must be int64 ({len(self.images)},), "
                             f"got {self.labels.dtype} {tuple(self.labels.shape)}")
        if not len(self.mean) == len(self.std) == self.images.shape[1]:
            raise ValueError(f"mean and std need one value per channel ({self.images.shape[1]})")

    def __len__(self) -> int:
        return len(self.labels)

    def to(self, device) -> ImageDataset:
        """The same dataset with its tensors on ``device``."""
        return replace(self, images=self.images.to(device), labels=self.labels.to(device))

    def select(self, indices: torch.Tensor) -> ImageDataset:
        """The images (and labels) at ``indices``, in that order."""
        indices = indices.to(self.images.device)
        return replace(self, images=self.images[indices].contiguous(), labels=self.labels[indices].contiguous())

    def downsampled(self, side: int) -> ImageDataset:
        """The images averaged down to ``side`` x ``side`` (area interpolation, rounded back to
        uint8), once, for cheaper proxy training; the dataset itself when ``side`` is its size."""
        if not 1 <= side <= self.image_size:
            raise SupernasError(f"cannot downsample {self.image_size}x{self.image_size} images to {side}x{side}")
        if side == self.image_size:
            return self
        small = torch.nn.functional.interpolate(self.images.float(), size=(side, side), mode="area")
        return replace(self, images=small.round().clamp(0, 255).to(torch.uint8).contiguous())

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def in_channels(self) -> int:
        return self.images.shape[1]

    @property
    def image_size(self) -> int:
        """The image height (images are square in every dataset here)."""
        return self.images.shape[2]


def dataset_from_arrays(images: np.ndarray, labels: np.ndarray, classes, mean, std, name: str) -> ImageDataset:
    """An :class:`ImageDataset` from uint8 ``(N, C, H, W)`` images and integer labels."""
    return ImageDataset(torch.from_numpy(np.ascontiguousarray(images)), torch.from_numpy(labels.astype(np.int64)),
                        tuple(classes), tuple(mean), tuple(std), name)
