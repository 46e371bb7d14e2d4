"""Readers of the on-disk image formats, each returning uint8 ``(N, C, H, W)`` numpy images.

* the CIFAR-10 JPEG pack (``cifar10_{train,test}.npz``, see shared/data/README.md), decoded once
  and cached as ``.npy`` under :func:`cache_dir`;
* the official CIFAR-10/100 python-pickle batches;
* idx files (MNIST, Fashion-MNIST), gzipped or plain.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import pickle
import warnings
from pathlib import Path

import numpy as np

from supernas.errors import SupernasError
from supernas.utils import atomic_write_bytes

CIFAR_SHAPE = (3, 32, 32)
_IDX_UBYTE = 0x08


def cache_dir() -> Path:
    """Where decoded datasets are cached: ``$SUPERNAS_CACHE``, default ``~/.cache/supernas``."""
    return Path(os.environ.get("SUPERNAS_CACHE") or Path.home() / ".cache" / "supernas")


def source_key(path: Path) -> str:
    """A short hash of ``path``'s location, size and modification time: changes when the file does."""
    stat = path.stat()
    return hashlib.sha1(f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()[:16]


def decode_jpegs(data: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Decode the concatenated JPEG files ``data[offsets[i]:offsets[i+1]]`` into ``(N, H, W, 3)`` uint8."""
    from PIL import Image

    raw = data.tobytes()
    return np.stack([np.asarray(Image.open(io.BytesIO(raw[start:end])).convert("RGB"))
                     for start, end in zip(offsets[:-1].tolist(), offsets[1:].tolist())])


def read_jpeg_pack(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Images ``(N, 3, H, W)`` and int64 labels of a JPEG pack; the decoded images are cached.

    The cache file is named after the pack and :func:`source_key`, so a changed pack is decoded
    again. An unwritable cache only costs a warning: the images are then decoded on every load.
    """
    with np.load(path) as pack:
        labels = pack["labels"].astype(np.int64)
        cached = cache_dir() / f"{path.stem}-{source_key(path)}.npy"
        if cached.is_file():
            images = np.load(cached)
            if images.shape[0] == len(labels):
                return images, labels
        images = np.ascontiguousarray(decode_jpegs(pack["jpeg"], pack["offsets"]).transpose(0, 3, 1, 2))
    buffer = io.BytesIO()
    np.save(buffer, images)
    try:
        atomic_write_bytes(cached, buffer.getvalue())
    except OSError as error:
        warnings.warn(f"could not cache decoded {path.name} in {cached.parent} ({error}); "
                      "set SUPERNAS_CACHE to a writable directory", stacklevel=2)
    return images, labels


def unpickle(path: Path) -> dict:
    """The dict stored in an official CIFAR python-pickle file (byte-string keys)."""
    try:
        with open(path, "rb") as file:
            return pickle.load(file, encoding="bytes")
    except (pickle.UnpicklingError, EOFError, ValueError) as error:
        raise SupernasError(f"{path} is not a CIFAR python-pickle file ({error}); "
                            "extract the official archive again") from error


def read_cifar_pickles(files: list[Path], label_key: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Images ``(N, 3, 32, 32)`` and int64 labels of CIFAR pickle batches (rows are CHW-flattened)."""
    images, labels = [], []
    for path in files:
        batch = unpickle(path)
        data = np.asarray(batch[b"data"], dtype=np.uint8)
        if data.ndim != 2 or data.shape[1] != np.prod(CIFAR_SHAPE) or len(batch[label_key]) != len(data):
            raise SupernasError(f"{path} does not hold {np.prod(CIFAR_SHAPE)}-byte CIFAR rows with one label each; "
                                "extract the official archive again")
        images.append(data.reshape(-1, *CIFAR_SHAPE))
        labels.append(np.asarray(batch[label_key], dtype=np.int64))
    return np.concatenate(images), np.concatenate(labels)


def read_idx(path: Path) -> np.ndarray:
    """The uint8 array of an idx file (``.gz`` or plain): magic ``00 00 08 ndim``, big-endian dims, data."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as file:
            raw = file.read()
    except (EOFError, gzip.BadGzipFile) as error:
        raise SupernasError(f"{path} is a damaged gzip file ({error}); download it again") from error
    if len(raw) < 4 or raw[:3] != bytes([0, 0, _IDX_UBYTE]):
        raise SupernasError(f"{path} is not an idx file of unsigned bytes; pass the original Fashion-MNIST files")
    ndim = raw[3]
    header = 4 + 4 * ndim
    shape = tuple(int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    expected = int(np.prod(shape))
    if len(raw) - header != expected:
        raise SupernasError(f"{path} is truncated or padded: its header says {expected} values, "
                            f"it holds {max(len(raw) - header, 0)}; download the file again")
    return np.frombuffer(bytearray(raw), dtype=np.uint8, offset=header).reshape(shape)
