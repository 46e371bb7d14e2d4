"""Datasets as uint8 tensors: CIFAR-10/100 (pickle or JPEG pack), Fashion-MNIST (idx), synthetic."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import pickle
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from supernas.errors import SupernasError
from supernas.utils import atomic_write_bytes, seeded_generator

DATASETS = ("cifar10", "cifar100", "fashion-mnist", "synthetic")

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
FASHION_CLASSES = ("t-shirt/top", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle boot")
CIFAR_MEAN, CIFAR_STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)
CIFAR100_MEAN, CIFAR100_STD = (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)
FASHION_MEAN, FASHION_STD = (0.2860,), (0.3530,)
FASHION_SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")


@dataclass(frozen=True)
class ImageDataset:
    """Images as a uint8 ``(N, C, H, W)`` tensor with int64 labels and normalisation constants."""

    images: torch.Tensor
    labels: torch.Tensor
    classes: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    name: str

    def __len__(self) -> int:
        return len(self.labels)

    def to(self, device) -> "ImageDataset":
        """The same dataset with its tensors on ``device``."""
        return replace(self, images=self.images.to(device), labels=self.labels.to(device))

    def select(self, indices: torch.Tensor) -> "ImageDataset":
        """The images at ``indices``, in that order."""
        return replace(self, images=self.images[indices].contiguous(), labels=self.labels[indices].contiguous())

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def in_channels(self) -> int:
        return self.images.shape[1]

    @property
    def image_size(self) -> int:
        return self.images.shape[2]


def _repo_root() -> Path:
    """The checkout holding ``src/supernas`` (meaningful only for a source install)."""
    return Path(__file__).resolve().parents[3]


def candidate_dirs(subdir: str) -> list[Path]:
    """Default places searched for a dataset directory, in order."""
    places = []
    if os.environ.get("SUPERNAS_DATA"):
        places.append(Path(os.environ["SUPERNAS_DATA"]) / subdir)
    for base in (Path.cwd() / ".data", _repo_root() / ".data", _repo_root().parent / "shared" / "data",
                 Path.cwd().parent / "shared" / "data"):
        places.append(base / subdir)
    return places


def cache_dir() -> Path:
    """Where decoded datasets are cached (``$SUPERNAS_CACHE``, default ``~/.cache/supernas``)."""
    return Path(os.environ.get("SUPERNAS_CACHE", Path.home() / ".cache" / "supernas"))


# -- CIFAR --------------------------------------------------------------------------------

def decode_jpeg_pack(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 32, 32, 3) uint8 and labels of a ``cifar10_*.npz`` JPEG pack, decoded once and
    cached as ``.npy`` keyed by the pack's path, size and modification time."""
    stat = path.stat()
    key = hashlib.sha1(f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()[:16]
    cached = cache_dir() / f"{path.stem}-{key}.npz"
    if cached.exists():
        with np.load(cached) as stored:
            return stored["images"], stored["labels"]
    from PIL import Image

    with np.load(path) as pack:
        data, offsets, labels = pack["jpeg"], pack["offsets"], pack["labels"].astype(np.int64)
    images = np.stack([np.asarray(Image.open(io.BytesIO(data[offsets[i]:offsets[i + 1]].tobytes())).convert("RGB"))
                       for i in range(len(labels))])
    buffer = io.BytesIO()
    np.savez(buffer, images=images, labels=labels)
    atomic_write_bytes(cached, buffer.getvalue())
    return images, labels


def _unpickle(path: Path) -> dict:
    with open(path, "rb") as file:
        return pickle.load(file, encoding="bytes")


def read_cifar_pickles(files: list[Path], label_key: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 3, 32, 32) and labels from official CIFAR python-pickle batch files."""
    batches = [_unpickle(f) for f in files]
    images = np.concatenate([np.asarray(b[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32) for b in batches])
    labels = np.concatenate([np.asarray(b[label_key], dtype=np.int64) for b in batches])
    return images, labels


def _find(root: Path | None, subdir: str, markers: list[str]) -> Path | None:
    """The first directory (``root`` itself, ``root/<name>``, or a default place) holding all ``markers``."""
    if root is not None:
        places = [root, root / subdir] + [root / m.split("/")[0] for m in markers if "/" in m]
    else:
        places = candidate_dirs(subdir) + candidate_dirs("")
    for place in places:
        if all((place / marker).exists() for marker in markers):
            return place
    return None


def load_cifar10(root: Path | None, train: bool) -> ImageDataset:
    """CIFAR-10 from the JPEG pack (``cifar10_{train,test}.npz``) or ``cifar-10-batches-py``."""
    split = "train" if train else "test"
    pack_dir = _find(root, "cifar10", [f"cifar10_{split}.npz"])
    if pack_dir is not None:
        images, labels = decode_jpeg_pack(pack_dir / f"cifar10_{split}.npz")
        tensor = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()
        return ImageDataset(tensor, torch.from_numpy(labels), CIFAR10_CLASSES, CIFAR_MEAN, CIFAR_STD, "cifar10")
    files = [f"data_batch_{i}" for i in range(1, 6)] if train else ["test_batch"]
    pickle_dir = _find(root, "cifar-10-batches-py", files)
    if pickle_dir is None:
        raise _missing("CIFAR-10", root, "cifar10", "cifar10_train.npz or cifar-10-batches-py/")
    images, labels = read_cifar_pickles([pickle_dir / f for f in files], b"labels")
    return ImageDataset(torch.from_numpy(images), torch.from_numpy(labels), CIFAR10_CLASSES, CIFAR_MEAN, CIFAR_STD, "cifar10")


def load_cifar100(root: Path | None, train: bool) -> ImageDataset:
    """CIFAR-100 (fine labels) from ``cifar-100-python``."""
    split = "train" if train else "test"
    found = _find(root, "cifar-100-python", [split, "meta"])
    if found is None:
        raise _missing("CIFAR-100", root, "cifar-100-python", "cifar-100-python/ with train, test, meta")
    images, labels = read_cifar_pickles([found / split], b"fine_labels")
    classes = tuple(n.decode() for n in _unpickle(found / "meta")[b"fine_label_names"])
    return ImageDataset(torch.from_numpy(images), torch.from_numpy(labels), classes, CIFAR100_MEAN, CIFAR100_STD, "cifar100")


# -- Fashion-MNIST --------------------------------------------------------------------------

def read_idx(path: Path) -> np.ndarray:
    """An array from an idx file (``.gz`` or plain): uint8 data with big-endian dimensions."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as file:
        raw = file.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise SupernasError(f"{path} is not an idx file of unsigned bytes")
    ndim = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(shape)):
        raise SupernasError(f"{path} is truncated: expected {int(np.prod(shape))} values, found {data.size}")
    return data.reshape(shape)


def load_fashion_mnist(root: Path | None, train: bool) -> ImageDataset:
    """Fashion-MNIST from idx ``.gz`` files (a user directory or Debian's dataset-fashion-mnist)."""
    prefix = "train" if train else "t10k"
    names = [f"{prefix}-images-idx3-ubyte.gz", f"{prefix}-labels-idx1-ubyte.gz"]
    found = _find(root, "fashion-mnist", names)
    if found is None and root is None and all((FASHION_SYSTEM_DIR / n).exists() for n in names):
        found = FASHION_SYSTEM_DIR
    if found is None:
        raise _missing("Fashion-MNIST", root, "fashion-mnist", "the idx .gz files (apt-get install dataset-fashion-mnist)")
    images = torch.from_numpy(read_idx(found / names[0]).copy()).unsqueeze(1)
    labels = torch.from_numpy(read_idx(found / names[1]).astype(np.int64))
    return ImageDataset(images, labels, FASHION_CLASSES, FASHION_MEAN, FASHION_STD, "fashion-mnist")


# -- synthetic ------------------------------------------------------------------------------

def make_synthetic(size: int = 2048, num_classes: int = 10, channels: int = 3, image_size: int = 32, seed: int = 0) -> ImageDataset:
    """A learnable synthetic dataset: each class is a fixed random low-frequency pattern plus
    noise, so small networks separate the classes within a few hundred steps."""
    generator = seeded_generator(seed, 0x5EED)
    coarse = torch.rand(num_classes, channels, 4, 4, generator=generator)
    patterns = torch.nn.functional.interpolate(coarse, size=(image_size, image_size), mode="bilinear", align_corners=False)
    labels = torch.arange(size) % num_classes
    labels = labels[torch.randperm(size, generator=generator)]
    noise = torch.randn(size, channels, image_size, image_size, generator=generator) * 0.15
    images = ((patterns[labels] + noise).clamp(0, 1) * 255).round().to(torch.uint8)
    return ImageDataset(images, labels.long(), tuple(f"class{i}" for i in range(num_classes)),
                        (0.5,) * channels, (0.25,) * channels, "synthetic")


def _missing(title: str, root: Path | None, subdir: str, what: str) -> SupernasError:
    """The one-line error for a dataset that was not found."""
    where = str(root) if root is not None else ", ".join(str(p) for p in candidate_dirs(subdir))
    return SupernasError(f"{title} not found (looked in {where}); pass --data.root DIR containing {what}")


def load_dataset(name: str, root: str | os.PathLike | None = None, *, train: bool = True, synthetic_size: int = 2048) -> ImageDataset:
    """The ``train`` (or test) split of dataset ``name`` as uint8 tensors on the CPU."""
    if name not in DATASETS:
        raise SupernasError(f"unknown dataset {name!r}; expected one of {', '.join(DATASETS)}")
    path = Path(root) if root is not None else None
    if path is not None and not path.is_dir():
        raise SupernasError(f"dataset directory {path} does not exist")
    if name == "cifar10":
        return load_cifar10(path, train)
    if name == "cifar100":
        return load_cifar100(path, train)
    if name == "fashion-mnist":
        return load_fashion_mnist(path, train)
    return make_synthetic(synthetic_size, seed=0 if train else 1)


def stratified_order(labels: torch.Tensor, seed: int) -> list[torch.Tensor]:
    """For each class, its indices in a seeded random order."""
    generator = seeded_generator(seed, 0x5B17)
    order = []
    for cls in torch.unique(labels).tolist():
        members = torch.nonzero(labels == cls).flatten()
        order.append(members[torch.randperm(len(members), generator=generator)])
    return order


def _shuffled(indices: torch.Tensor, seed: int) -> torch.Tensor:
    return indices[torch.randperm(len(indices), generator=seeded_generator(seed, 0x5F1E))]


def split_dataset(ds: ImageDataset, first_fraction: float = 0.5, seed: int = 0) -> tuple[ImageDataset, ImageDataset]:
    """Two disjoint parts, stratified by class and seeded; each part in shuffled order."""
    if not 0 < first_fraction <= 1:
        raise SupernasError(f"train fraction must be in (0, 1], got {first_fraction}")
    first, second = [], []
    for members in stratified_order(ds.labels, seed):
        cut = round(len(members) * first_fraction)
        first.append(members[:cut])
        second.append(members[cut:])
    return ds.select(_shuffled(torch.cat(first), seed)), ds.select(_shuffled(torch.cat(second), seed + 1))


def take_subset(ds: ImageDataset, n: int, seed: int = 0) -> ImageDataset:
    """A stratified, seeded subset of ``n`` images (classes as balanced as ``n`` allows)."""
    if n >= len(ds):
        return ds
    per_class = stratified_order(ds.labels, seed)
    indices = torch.cat(per_class)
    position = torch.cat([torch.arange(len(m)) for m in per_class])
    klass = torch.cat([torch.full((len(m),), c) for c, m in enumerate(per_class)])
    round_robin = indices[torch.argsort(position * len(per_class) + klass)]
    return ds.select(_shuffled(round_robin[:n], seed))
