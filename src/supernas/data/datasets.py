"""Reading datasets into :class:`~supernas.data.images.ImageDataset`: how each dataset's files are
found and read, and :func:`load_dataset` (CIFAR-10, CIFAR-100, Fashion-MNIST, an ImageFolder
directory, or a learnable synthetic set)."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from supernas.data.formats import read_cifar_pickles, read_idx, read_jpeg_pack, unpickle
from supernas.data.imagefolder import load_image_folder
from supernas.data.images import ImageDataset, dataset_from_arrays
from supernas.data.paths import data_dirs
from supernas.errors import SupernasError
from supernas.streams import SYNTHETIC_PATTERNS_STREAM, SYNTHETIC_SAMPLES_STREAM
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
    coarse = torch.rand(num_classes, channels, 4, 4, generator=seeded_generator(seed, SYNTHETIC_PATTERNS_STREAM))
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
    generator = seeded_generator(seed, SYNTHETIC_SAMPLES_STREAM, int(train))
    labels = (torch.arange(size) % num_classes)[torch.randperm(size, generator=generator)]
    pixels = patterns[labels] + noise * torch.randn(size, channels, image_size, image_size, generator=generator)
    images = (pixels.clamp(0, 1) * 255).round().to(torch.uint8)
    std, mean = torch.std_mean(images.float() / 255, dim=(0, 2, 3))
    return ImageDataset(images, labels, tuple(f"class{i}" for i in range(num_classes)),
                        tuple(mean.tolist()), tuple(std.tolist()), "synthetic")
