"""Batched uint8 augmentation (random crop with zero padding, horizontal flip, cutout) and
normalisation. Every operation works on a whole batch with tensor ops, on any device."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from supernas.errors import SupernasError


@dataclass
class AugmentConfig:
    """Random-crop padding in pixels, horizontal flips, and the cutout square's side (0 disables
    cropping or cutout)."""

    crop_padding: int = 4
    flip: bool = True
    cutout: int = 0

    def __post_init__(self):
        for option in ("crop_padding", "cutout"):
            if getattr(self, option) < 0:
                raise SupernasError(f"{option} must be >= 0, got {getattr(self, option)}; "
                                    f"set --data.{option} 0 to disable it")


@dataclass(frozen=True)
class AugmentDraws:
    """The random choices for one batch of ``B`` images."""

    crop_offsets: torch.Tensor  # (B, 2) int64: (dy, dx) of the crop in the padded image, in [0, 2 * padding]
    flips: torch.Tensor  # (B,) bool: which images are flipped horizontally
    cutout_centres: torch.Tensor  # (B, 2) int64: (y, x) centre of the cutout square

    def to(self, device) -> AugmentDraws:
        """The same draws on ``device``."""
        return AugmentDraws(self.crop_offsets.to(device), self.flips.to(device), self.cutout_centres.to(device))


def draw_augmentation(batch: int, height: int, width: int, generator: torch.Generator,
                      cfg: AugmentConfig) -> AugmentDraws:
    """Draw a batch's crop offsets, flips and cutout centres from a CPU ``generator``, always in
    that order and amount, so changing one setting leaves the other draws unchanged."""
    crop_offsets = torch.randint(0, 2 * cfg.crop_padding + 1, (batch, 2), generator=generator)
    flips = torch.rand(batch, generator=generator) < (0.5 if cfg.flip else 0.0)
    cutout_centres = torch.stack([torch.randint(0, height, (batch,), generator=generator),
                                  torch.randint(0, width, (batch,), generator=generator)], dim=1)
    return AugmentDraws(crop_offsets, flips, cutout_centres)


def random_crop(images: torch.Tensor, offsets: torch.Tensor, padding: int) -> torch.Tensor:
    """Pad each image with ``padding`` zeros on every side and crop it back to its size at its
    own ``(dy, dx)`` offset: one gather for the whole batch."""
    batch, channels, height, width = images.shape
    device = images.device
    padded = torch.nn.functional.pad(images, (padding,) * 4)
    rows = (offsets[:, :1] + torch.arange(height, device=device)).view(batch, 1, height, 1)
    cols = (offsets[:, 1:] + torch.arange(width, device=device)).view(batch, 1, 1, width)
    return padded[torch.arange(batch, device=device).view(batch, 1, 1, 1),
                  torch.arange(channels, device=device).view(1, channels, 1, 1), rows, cols]


def flip_where(images: torch.Tensor, flips: torch.Tensor) -> torch.Tensor:
    """Each image flipped horizontally where ``flips`` is set, unchanged elsewhere."""
    return torch.where(flips.view(-1, 1, 1, 1), images.flip(3), images)


def cutout(images: torch.Tensor, centres: torch.Tensor, side: int) -> torch.Tensor:
    """Zero, in every channel, the ``side x side`` square whose top-left corner is
    ``centre - side // 2``, clipped at the image border."""
    _, _, height, width = images.shape
    top, left = (centres - side // 2).unbind(1)
    rows = torch.arange(height, device=images.device).view(1, height, 1) - top.view(-1, 1, 1)
    cols = torch.arange(width, device=images.device).view(1, 1, width) - left.view(-1, 1, 1)
    inside = (rows >= 0) & (rows < side) & (cols >= 0) & (cols < side)
    return images.masked_fill(inside.unsqueeze(1), 0)


def apply_augmentation(images: torch.Tensor, draws: AugmentDraws, cfg: AugmentConfig) -> torch.Tensor:
    """Crop, flip and cut out a uint8 ``(B, C, H, W)`` batch as ``draws`` say (draws on its device)."""
    if cfg.crop_padding > 0:
        images = random_crop(images, draws.crop_offsets, cfg.crop_padding)
    if cfg.flip:
        images = flip_where(images, draws.flips)
    if cfg.cutout > 0:
        images = cutout(images, draws.cutout_centres, cfg.cutout)
    return images


def augment_batch(images: torch.Tensor, generator: torch.Generator, cfg: AugmentConfig) -> torch.Tensor:
    """Augment a uint8 ``(B, C, H, W)`` batch; uint8 out on the same device. The random numbers
    come from the CPU ``generator``, so CPU and GPU give identical batches for one seed."""
    batch, _, height, width = images.shape
    draws = draw_augmentation(batch, height, width, generator, cfg).to(images.device)
    return apply_augmentation(images, draws, cfg)


def normalize(images: torch.Tensor, mean: Sequence[float] | torch.Tensor, std: Sequence[float] | torch.Tensor,
              dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """uint8 ``(B, C, H, W)`` images to ``(x / 255 - mean) / std`` in ``dtype``, per channel."""
    mean = torch.as_tensor(mean, dtype=dtype, device=images.device).view(1, -1, 1, 1)
    std = torch.as_tensor(std, dtype=dtype, device=images.device).view(1, -1, 1, 1)
    return (images.to(dtype) / 255 - mean) / std
