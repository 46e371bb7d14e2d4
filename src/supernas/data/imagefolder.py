"""ImageFolder-style datasets (``root/train/<class>/*.jpg|png``, ``root/val/<class>/...``) for
ImageNet-scale data that does not fit in memory.

:class:`FolderImages` is the file list and labels; it splits and subsets like an
:class:`~supernas.data.ImageDataset` (``select``), and ``to(device)`` decodes it into one (the
standard evaluation crop: shorter side resized to ``size·256/224``, centre crop of ``size``),
which is what the evaluator does with the held-out and calibration subsets.
:class:`StreamingLoader` trains from it: `torch.utils.data.DataLoader` workers decode the
images with Pillow and apply the ImageNet recipe's random-resized crop (scale 0.08-1, aspect
3/4-4/3) and horizontal flip. Like :class:`~supernas.data.DeviceLoader`, the batch of a step is
a pure function of (seed, step): the epoch order is the same seeded permutation and every
image's crop is drawn from a generator seeded by (seed, step, position in the batch), so
resuming and the number of workers or ranks change nothing.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from itertools import count
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from supernas.data.images import ImageDataset
from supernas.data.transforms import normalize
from supernas.errors import SupernasError
from supernas.streams import CROP_STREAM, EPOCH_STREAM
from supernas.utils import seeded_generator

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
CROP_SCALE, CROP_RATIO = (0.08, 1.0), (3 / 4, 4 / 3)


def scan_image_folder(directory: Path) -> tuple[tuple[str, ...], torch.Tensor, tuple[str, ...]]:
    """Image paths, int64 labels and class names of ``directory/<class>/<image>`` (classes and
    files in sorted order)."""
    if not directory.is_dir():
        raise SupernasError(f"image folder {directory} does not exist; --data.root must hold train/<class>/ and val/<class>/")
    classes = tuple(sorted(entry.name for entry in directory.iterdir() if entry.is_dir()))
    files, labels = [], []
    for label, name in enumerate(classes):
        images = sorted(str(p) for p in (directory / name).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        files += images
        labels += [label] * len(images)
    if not files:
        raise SupernasError(f"no .jpg/.jpeg/.png images in the class folders of {directory}")
    return tuple(files), torch.tensor(labels, dtype=torch.int64), classes


def open_rgb(path: str):
    """The image at ``path`` as an RGB Pillow image; a one-line error for unreadable files."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            return image.convert("RGB")
    except (OSError, UnidentifiedImageError) as error:
        raise SupernasError(f"cannot decode image {path}: {error}") from None


def to_tensor(image) -> torch.Tensor:
    """A Pillow RGB image as a uint8 ``(3, H, W)`` tensor."""
    return torch.from_numpy(np.asarray(image, dtype=np.uint8).copy()).permute(2, 0, 1).contiguous()


def centre_crop(path: str, size: int) -> torch.Tensor:
    """The evaluation crop: shorter side resized to ``round(size·256/224)``, centre ``size x size``."""
    from PIL import Image

    image = open_rgb(path)
    short = round(size * 256 / 224)
    scale = short / min(image.size)
    width, height = max(size, round(image.width * scale)), max(size, round(image.height * scale))
    image = image.resize((width, height), Image.BILINEAR)
    left, top = (width - size) // 2, (height - size) // 2
    return to_tensor(image.crop((left, top, left + size, top + size)))


def crop_box(width: int, height: int, generator: torch.Generator) -> tuple[int, int, int, int]:
    """A random-resized-crop box (left, top, right, bottom): area a uniform share of
    :data:`CROP_SCALE`, log-uniform aspect ratio in :data:`CROP_RATIO`; after 10 misses the
    largest centred box within those ratios."""
    area = width * height
    log_ratio = (math.log(CROP_RATIO[0]), math.log(CROP_RATIO[1]))
    for _ in range(10):
        draws = torch.rand(4, generator=generator).tolist()
        target = area * (CROP_SCALE[0] + (CROP_SCALE[1] - CROP_SCALE[0]) * draws[0])
        ratio = math.exp(log_ratio[0] + (log_ratio[1] - log_ratio[0]) * draws[1])
        w, h = round(math.sqrt(target * ratio)), round(math.sqrt(target / ratio))
        if 0 < w <= width and 0 < h <= height:
            left, top = int(draws[2] * (width - w + 1)), int(draws[3] * (height - h + 1))
            return left, top, left + w, top + h
    ratio = min(max(width / height, CROP_RATIO[0]), CROP_RATIO[1])
    w, h = (width, round(width / ratio)) if width / height <= ratio else (round(height * ratio), height)
    w, h = min(w, width), min(h, height)
    left, top = (width - w) // 2, (height - h) // 2
    return left, top, left + w, top + h


def random_resized_crop(path: str, size: int, generator: torch.Generator, flip: bool) -> torch.Tensor:
    """The training crop of the ImageNet recipe, resized to ``size x size``, flipped with p = 1/2."""
    from PIL import Image

    image = open_rgb(path)
    image = image.resize((size, size), Image.BILINEAR, box=crop_box(image.width, image.height, generator))
    flipped = flip and bool(torch.rand((), generator=generator) < 0.5)
    return to_tensor(image.transpose(Image.FLIP_LEFT_RIGHT) if flipped else image)


@dataclass(frozen=True)
class FolderImages:
    """The images of one ImageFolder split as files and labels, decoded on demand at ``image_size``."""

    files: tuple[str, ...]
    labels: torch.Tensor
    classes: tuple[str, ...]
    image_size: int
    workers: int = 0
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    name: str = "imagefolder"

    def __len__(self) -> int:
        return len(self.files)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def in_channels(self) -> int:
        return 3

    def select(self, indices: torch.Tensor) -> FolderImages:
        """The images at ``indices``, in that order (still undecoded)."""
        indices = indices.cpu()
        return replace(self, files=tuple(self.files[i] for i in indices.tolist()), labels=self.labels[indices])

    def to(self, device) -> ImageDataset:
        """Every image decoded (evaluation crop) into an :class:`ImageDataset` on ``device``."""
        loader = DataLoader(EvaluationCrops(self.files, self.image_size), batch_size=64, num_workers=self.workers)
        images = torch.cat(list(loader)) if len(self) else torch.empty(0, 3, self.image_size, self.image_size, dtype=torch.uint8)
        return ImageDataset(images, self.labels.clone(), self.classes, self.mean, self.std, self.name).to(device)


def load_image_folder(root: str | Path | None, train: bool, image_size: int, workers: int) -> FolderImages:
    """``root/train`` (or ``root/val``) as :class:`FolderImages`."""
    if root is None:
        raise SupernasError("dataset imagefolder needs --data.root DIR holding train/<class>/ and val/<class>/ images")
    files, labels, classes = scan_image_folder(Path(root).expanduser() / ("train" if train else "val"))
    return FolderImages(files, labels, classes, image_size, workers)


class EvaluationCrops(Dataset):
    """Centre crops of image files (for decoding a split with DataLoader workers)."""

    def __init__(self, files: Sequence[str], size: int):
        self.files, self.size = files, size

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> torch.Tensor:
        return centre_crop(self.files[index], self.size)


class TrainingCrops(Dataset):
    """Random-resized crops keyed by (image index, seed, step, position): the same key always
    gives the same crop, in any worker."""

    def __init__(self, images: FolderImages, flip: bool):
        self.images, self.flip = images, flip

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, key: tuple[int, int, int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        index, seed, step, position = key
        generator = seeded_generator(seed, CROP_STREAM, step, position)
        return random_resized_crop(self.images.files[index], self.images.image_size, generator, self.flip), self.images.labels[index]


class StreamingLoader:
    """Training batches decoded from files by DataLoader workers, a pure function of (seed, step)."""

    def __init__(self, images: FolderImages, batch_size: int, *, seed: int = 0, flip: bool = True, device="cpu",
                 workers: int = 4, channels_last: bool = False):
        if batch_size < 1:
            raise SupernasError(f"batch size must be at least 1, got {batch_size}; set --data.batch_size")
        if len(images) < batch_size:
            raise SupernasError(f"batch size {batch_size} exceeds the {len(images)} images of {images.name}; "
                                "lower --data.batch_size")
        self.images, self.batch_size, self.seed, self.flip = images, batch_size, seed, flip
        self.device, self.workers, self.channels_last = torch.device(device), workers, channels_last
        self.steps_per_epoch = len(images) // batch_size
        self._mean = torch.tensor(images.mean, device=self.device)
        self._std = torch.tensor(images.std, device=self.device)
        self._epoch: int | None = None
        self._order: torch.Tensor | None = None

    def epoch_order(self, epoch: int) -> torch.Tensor:
        """The order of the images in ``epoch`` (DeviceLoader's permutation; the current epoch's is cached)."""
        if epoch != self._epoch:
            self._order = torch.randperm(len(self.images), generator=seeded_generator(self.seed, EPOCH_STREAM, epoch))
            self._epoch = epoch
        return self._order

    def step_keys(self, step: int, portion: slice) -> list[tuple[int, int, int, int]]:
        """The :class:`TrainingCrops` keys of the images at ``portion`` of ``step``'s batch."""
        epoch, position = divmod(step, self.steps_per_epoch)
        indices = self.epoch_order(epoch)[position * self.batch_size:(position + 1) * self.batch_size].tolist()
        return [(indices[i], self.seed, step, i) for i in range(self.batch_size)[portion]]

    def batches(self, start: int, portion: slice = slice(None)) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Normalised float images and labels of ``portion`` of each step's batch, from ``start`` on."""
        keys = (self.step_keys(step, portion) for step in count(start))
        loader = DataLoader(TrainingCrops(self.images, self.flip), batch_sampler=keys, num_workers=self.workers,
                            pin_memory=self.device.type == "cuda", persistent_workers=False,
                            prefetch_factor=4 if self.workers else None)
        for images, labels in loader:
            images = normalize(images.to(self.device, non_blocking=True), self._mean, self._std)
            if self.channels_last:
                images = images.contiguous(memory_format=torch.channels_last)
            yield images, labels.to(self.device, non_blocking=True)
