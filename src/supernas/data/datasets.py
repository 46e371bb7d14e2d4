"""Datasets as uint8 tensors: :class:`ImageDataset`, where each dataset is looked for, and
:func:`load_dataset` (CIFAR-10, CIFAR-100, Fashion-MNIST, or a learnable synthetic set)."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from supernas.data.formats import read_cifar_pickles, read_idx, read_jpeg_pack, unpickle
from supernas.errors import SupernasError
from supernas.utils import seeded_generator

DATASETS = ("cifar10", "cifar100", "fashion-mnist", "synthetic", "imagefolder")

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
FASHION_MNIST_CLASSES = ("t-shirt/top", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag",
                         "ankle boot")
CIFAR10_MEAN, CIFAR10_STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)
CIFAR100_MEAN, CIFAR100_STD = (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)
FASHION_MNIST_MEAN, FASHION_MNIST_STD = (0.2860,), (0.3530,)
FASHION_MNIST_SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")  # Debian package dataset-fashion-mnist
CIFAR10_TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))

_SYNTHETIC_PATTERNS, _SYNTHETIC_SAMPLES = 0x5EED, 0x5A3E


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


# -- readers: one split from one directory, or None when its files are not there ----------------

def read_cifar10(directory: Path, train: bool) -> ImageDataset | None:
    """CIFAR-10 from the JPEG pack ``cifar10_{train,test}.npz`` or the python-pickle batches."""
    pack = directory / f"cifar10_{'train' if train else 'test'}.npz"
    batches = [directory / name for name in (CIFAR10_TRAIN_BATCHES if train else ("test_batch",))]
    if pack.is_file():
        images, labels = read_jpeg_pack(pack)
    elif all(path.is_file() for path in batches):
        images, labels = read_cifar_pickles(batches, b"labels")
    else:
        return None
    return dataset_from_arrays(images, labels, CIFAR10_CLASSES, CIFAR10_MEAN, CIFAR10_STD, "cifar10")


def read_cifar100(directory: Path, train: bool) -> ImageDataset | None:
    """CIFAR-100 with its 100 fine labels from the python-pickle files ``train``/``test`` and ``meta``."""
    data, meta = directory / ("train" if train else "test"), directory / "meta"
    if not (data.is_file() and meta.is_file()):
        return None
    images, labels = read_cifar_pickles([data], b"fine_labels")
    classes = [name.decode() for name in unpickle(meta)[b"fine_label_names"]]
    return dataset_from_arrays(images, labels, classes, CIFAR100_MEAN, CIFAR100_STD, "cifar100")


def idx_file(directory: Path, stem: str) -> Path | None:
    """``directory/stem.gz``, else ``directory/stem`` uncompressed, else None."""
    return next((path for path in (directory / f"{stem}.gz", directory / stem) if path.is_file()), None)


def read_fashion_mnist(directory: Path, train: bool) -> ImageDataset | None:
    """Fashion-MNIST from its idx files (``train-images-idx3-ubyte.gz`` and friends)."""
    prefix = "train" if train else "t10k"
    images_path = idx_file(directory, f"{prefix}-images-idx3-ubyte")
    labels_path = idx_file(directory, f"{prefix}-labels-idx1-ubyte")
    if images_path is None or labels_path is None:
        return None
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.ndim != 3 or labels.shape != images.shape[:1]:
        raise SupernasError(f"{images_path} and {labels_path} do not hold N images and N labels; download them again")
    return dataset_from_arrays(images[:, None], labels, FASHION_MNIST_CLASSES, FASHION_MNIST_MEAN, FASHION_MNIST_STD,
                               "fashion-mnist")


@dataclass(frozen=True)
class DatasetFiles:
    """How a dataset on disk is found, read and named in errors."""

    title: str  # the dataset's usual name, for messages
    folder: str  # its folder under a data directory, e.g. ``.data/cifar10``
    official_folder: str  # the folder its official archive extracts to
    read: Callable[[Path, bool], ImageDataset | None]
    fix: str  # how to make a missing dataset available
    system_dirs: tuple[Path, ...] = ()  # searched last when no root is given


DATASET_FILES = {
    "cifar10": DatasetFiles("CIFAR-10", "cifar10", "cifar-10-batches-py", read_cifar10,
                            "pass --data.root DIR containing cifar10_train.npz or cifar-10-batches-py/"),
    "cifar100": DatasetFiles("CIFAR-100", "cifar100", "cifar-100-python", read_cifar100,
                             "pass --data.root DIR containing cifar-100-python/ (train, test, meta)"),
    "fashion-mnist": DatasetFiles("Fashion-MNIST", "fashion-mnist", "fashion-mnist", read_fashion_mnist,
                                  "run apt-get install dataset-fashion-mnist, or pass --data.root DIR containing "
                                  "train-images-idx3-ubyte.gz and the other idx files",
                                  (FASHION_MNIST_SYSTEM_DIR,)),
}


# -- where datasets are looked for ----------------------------------------------------------------

def repo_root() -> Path | None:
    """The checkout holding ``src/supernas``, or None when supernas is installed elsewhere."""
    package = Path(__file__).resolve().parents[1]
    return package.parents[1] if package.parent.name == "src" else None


def data_dirs() -> list[Path]:
    """Data directories searched when no root is given, in order: ``$SUPERNAS_DATA``,
    ``./.data``, ``<repo>/.data``, ``<repo>/../shared/data``, ``./../shared/data``."""
    repo = repo_root()
    candidates = [Path(os.environ["SUPERNAS_DATA"]).expanduser()] if os.environ.get("SUPERNAS_DATA") else []
    candidates.append(Path.cwd() / ".data")
    if repo is not None:
        candidates += [repo / ".data", repo.parent / "shared" / "data"]
    candidates.append(Path.cwd().parent / "shared" / "data")
    return list(dict.fromkeys(path.resolve() for path in candidates))


def search_dirs(files: DatasetFiles, bases: list[Path]) -> list[Path]:
    """Directories that may hold the dataset's files: under each base, its folder and the base
    itself, each taken as the data folder or as the parent of the official folder."""
    places = [place for base in bases for place in (base / files.folder, base)]
    return list(dict.fromkeys(directory for place in places for directory in (place, place / files.official_folder)))


def load_dataset(name: str, root: str | os.PathLike | None = None, *, train: bool = True,
                 synthetic_size: int = 2048, image_size: int = 224, workers: int = 0):
    """The train (or test) split of dataset ``name`` as uint8 tensors on the CPU.

    ``root`` is a directory holding the dataset's files, their official folder, or a folder
    named after the dataset; without it the :func:`data_dirs` are searched (and, for
    Fashion-MNIST, the Debian package's directory). ``root`` is ignored for ``synthetic``.
    ``imagefolder`` (``root/train/<class>/``, ``root/val/<class>/``) is returned undecoded, as
    :class:`~supernas.data.imagefolder.FolderImages` of ``image_size`` crops decoded by
    ``workers`` processes.
    """
    if name not in DATASETS:
        raise SupernasError(f"unknown dataset {name!r}; choose one of: {', '.join(DATASETS)}")
    if name == "synthetic":
        return make_synthetic(synthetic_size, train=train)
    if name == "imagefolder":
        from supernas.data.imagefolder import load_image_folder

        return load_image_folder(root, train, image_size, workers)
    files = DATASET_FILES[name]
    if root is not None and not Path(root).expanduser().is_dir():
        raise SupernasError(f"dataset directory {root} does not exist; "
                            f"pass --data.root an existing directory holding {files.title}")
    bases = [Path(root).expanduser()] if root is not None else data_dirs()
    system_dirs = list(files.system_dirs) if root is None else []
    for directory in search_dirs(files, bases) + system_dirs:
        dataset = files.read(directory, train)
        if dataset is not None:
            return dataset
    looked = ", ".join(str(path) for path in bases + system_dirs)
    folders = " and ".join(f"{folder}/" for folder in dict.fromkeys((files.folder, files.official_folder)))
    raise SupernasError(f"{files.title} not found in {looked} (each with its {folders} folders); {files.fix}")


# -- synthetic ------------------------------------------------------------------------------------

def class_patterns(num_classes: int, channels: int, image_size: int, seed: int) -> torch.Tensor:
    """One smooth random pattern per class, ``(num_classes, C, S, S)`` in [0, 1]: a 4x4 grid of
    random values upsampled bilinearly."""
    coarse = torch.rand(num_classes, channels, 4, 4, generator=seeded_generator(seed, _SYNTHETIC_PATTERNS))
    return torch.nn.functional.interpolate(coarse, size=(image_size, image_size), mode="bilinear", align_corners=False)


def make_synthetic(size: int = 2048, *, num_classes: int = 10, channels: int = 3, image_size: int = 32, seed: int = 0,
                   train: bool = True, noise: float = 0.2) -> ImageDataset:
    """A learnable synthetic dataset: each image is its class's :func:`class_patterns` plus
    Gaussian noise of std ``noise``. Classes are balanced (to within one image) and shuffled.
    The train and test splits share the class patterns but not the images."""
    if size < num_classes:
        raise SupernasError(f"a synthetic dataset of {size} images cannot hold {num_classes} classes; "
                            f"set --data.synthetic_size to at least {num_classes}")
    patterns = class_patterns(num_classes, channels, image_size, seed)
    generator = seeded_generator(seed, _SYNTHETIC_SAMPLES, int(train))
    labels = (torch.arange(size) % num_classes)[torch.randperm(size, generator=generator)]
    pixels = patterns[labels] + noise * torch.randn(size, channels, image_size, image_size, generator=generator)
    images = (pixels.clamp(0, 1) * 255).round().to(torch.uint8)
    std, mean = torch.std_mean(images.float() / 255, dim=(0, 2, 3))
    return ImageDataset(images, labels, tuple(f"class{i}" for i in range(num_classes)),
                        tuple(mean.tolist()), tuple(std.tolist()), "synthetic")
