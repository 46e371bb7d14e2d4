"""Datasets and the device loader: formats, splits, augmentation alignment, determinism, errors."""

from __future__ import annotations

import gzip
import pickle

import numpy as np
import pytest
import torch

from supernas.data import AugmentConfig, DeviceLoader, ImageDataset, augment_batch, load_dataset, read_idx, split_dataset, take_subset
from supernas.data.loader import cutout, random_crop
from supernas.errors import SupernasError

from conftest import CIFAR10_DIR, needs


@needs(CIFAR10_DIR)
def test_cifar10_pack_loads_with_published_statistics():
    train = load_dataset("cifar10")
    test = load_dataset("cifar10", train=False)
    assert train.images.shape == (50000, 3, 32, 32) and train.images.dtype == torch.uint8
    assert test.images.shape == (10000, 3, 32, 32)
    assert torch.bincount(train.labels).tolist() == [5000] * 10
    means = (train.images.float() / 255).mean(dim=(0, 2, 3))
    torch.testing.assert_close(means, torch.tensor([0.4913, 0.4821, 0.4465]), atol=2e-3, rtol=0)


def _write_pickle(path, payload):
    with open(path, "wb") as file:
        pickle.dump(payload, file)


def test_cifar10_and_cifar100_pickle_layouts_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    batches = tmp_path / "cifar-10-batches-py"
    batches.mkdir()
    expected = []
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, (4, 3072), dtype=np.uint8)
        labels = rng.integers(0, 10, 4).tolist()
        _write_pickle(batches / name, {b"data": data, b"labels": labels})
        expected.append((data, labels))
    for root in (tmp_path, batches):
        train = load_dataset("cifar10", root)
        assert train.images.shape == (20, 3, 32, 32)
        assert torch.equal(train.images[4], torch.from_numpy(expected[1][0][0].reshape(3, 32, 32)))
        assert train.labels.tolist() == sum((labels for _, labels in expected[:5]), [])
    assert load_dataset("cifar10", tmp_path, train=False).labels.tolist() == expected[5][1]

    hundred = tmp_path / "cifar-100-python"
    hundred.mkdir()
    data = rng.integers(0, 256, (6, 3072), dtype=np.uint8)
    _write_pickle(hundred / "train", {b"data": data, b"fine_labels": [0, 5, 99, 3, 3, 1]})
    _write_pickle(hundred / "test", {b"data": data[:2], b"fine_labels": [1, 2]})
    _write_pickle(hundred / "meta", {b"fine_label_names": [f"c{i}".encode() for i in range(100)]})
    c100 = load_dataset("cifar100", tmp_path)
    assert c100.labels.tolist() == [0, 5, 99, 3, 3, 1] and c100.num_classes == 100
    assert torch.equal(c100.images[2], torch.from_numpy(data[2].reshape(3, 32, 32)))


def _write_idx(path, array: np.ndarray):
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    with gzip.open(path, "wb") as file:
        file.write(header + array.tobytes())


def test_fashion_mnist_idx_files(tmp_path):
    images = np.arange(3 * 28 * 28, dtype=np.uint8).reshape(3, 28, 28)
    for prefix in ("train", "t10k"):
        _write_idx(tmp_path / f"{prefix}-images-idx3-ubyte.gz", images)
        _write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte.gz", np.array([7, 0, 9], dtype=np.uint8))
    ds = load_dataset("fashion-mnist", tmp_path)
    assert ds.images.shape == (3, 1, 28, 28) and ds.labels.tolist() == [7, 0, 9]
    assert torch.equal(ds.images[1, 0], torch.from_numpy(images[1]))
    truncated = tmp_path / "bad.gz"
    with gzip.open(truncated, "wb") as file:
        file.write(bytes([0, 0, 8, 1]) + (10).to_bytes(4, "big") + b"abc")
    with pytest.raises(SupernasError, match="truncated"):
        read_idx(truncated)


def test_missing_or_unknown_datasets_give_clear_errors(tmp_path):
    with pytest.raises(SupernasError, match="does not exist"):
        load_dataset("cifar10", tmp_path / "nope")
    with pytest.raises(SupernasError, match="CIFAR-100 not found.*--data.root"):
        load_dataset("cifar100", tmp_path)
    with pytest.raises(SupernasError, match="Fashion-MNIST not found.*dataset-fashion-mnist"):
        load_dataset("fashion-mnist", tmp_path)
    with pytest.raises(SupernasError, match="unknown dataset 'mnist'"):
        load_dataset("mnist")


def _labelled_constant_images(n: int, size: int = 8) -> ImageDataset:
    labels = torch.arange(n) % 10
    images = (labels * 20 + 10).to(torch.uint8).view(n, 1, 1, 1).expand(n, 3, size, size).contiguous()
    return ImageDataset(images, labels, tuple("abcdefghij"), (0.0,) * 3, (1.0,) * 3, "constant")


def test_split_is_stratified_disjoint_and_seeded():
    ds = _labelled_constant_images(1000)
    ds = ImageDataset(torch.arange(1000).view(1000, 1, 1, 1).to(torch.int64), ds.labels, ds.classes, (0.0,), (1.0,), "ids")
    first, second = split_dataset(ds, 0.5, seed=3)
    ids_a, ids_b = set(first.images.flatten().tolist()), set(second.images.flatten().tolist())
    assert not ids_a & ids_b and len(ids_a | ids_b) == 1000
    assert torch.bincount(first.labels).tolist() == [50] * 10 == torch.bincount(second.labels).tolist()
    again, _ = split_dataset(ds, 0.5, seed=3)
    other, _ = split_dataset(ds, 0.5, seed=4)
    assert torch.equal(again.images, first.images) and not torch.equal(other.images, first.images)
    subset = take_subset(ds, 100, seed=0)
    assert torch.bincount(subset.labels).tolist() == [10] * 10


def test_augmentation_keeps_labels_aligned():
    loader = DeviceLoader(_labelled_constant_images(200), 32, seed=0, augment=AugmentConfig(crop_padding=2, flip=True, cutout=0))
    for step in range(12):
        images, labels = loader.batch(step)
        centre = images[:, 0, 4, 4] * 255  # mean 0, std 1: normalisation leaves x/255
        assert torch.equal(((centre - 10) / 20).round().long(), labels)


def test_crop_flip_and_cutout_match_per_image_reference():
    images = torch.randint(0, 256, (6, 3, 10, 12), dtype=torch.uint8)
    offsets = torch.tensor([[0, 0], [8, 8], [3, 5], [4, 0], [0, 7], [2, 2]])
    cropped = random_crop(images, offsets, padding=4)
    padded = torch.nn.functional.pad(images, (4, 4, 4, 4))
    for i, (dy, dx) in enumerate(offsets.tolist()):
        assert torch.equal(cropped[i], padded[i, :, dy:dy + 10, dx:dx + 12])
    centres = torch.tensor([[0, 0], [5, 6], [9, 11], [4, 4], [2, 9], [7, 1]])
    holed = cutout(images, centres, side=4)
    for i, (cy, cx) in enumerate(centres.tolist()):
        mask = torch.zeros(10, 12, dtype=torch.bool)
        mask[max(cy - 2, 0):cy + 2, max(cx - 2, 0):cx + 2] = True
        assert torch.equal(holed[i][:, mask], torch.zeros_like(holed[i][:, mask]))
        assert torch.equal(holed[i][:, ~mask], images[i][:, ~mask])
    generator = torch.Generator().manual_seed(0)
    flipped = augment_batch(images, generator, AugmentConfig(crop_padding=0, flip=True, cutout=0))
    assert all(torch.equal(f, x) or torch.equal(f, x.flip(2)) for f, x in zip(flipped, images))


def test_loader_batches_are_deterministic_and_epochs_cover_every_image():
    ds = ImageDataset(torch.arange(100, dtype=torch.uint8).view(100, 1, 1, 1), torch.zeros(100, dtype=torch.long),
                      ("a",), (0.0,), (1.0,), "ids")
    a, b = DeviceLoader(ds, 10, seed=5), DeviceLoader(ds, 10, seed=5)
    seen = []
    for step in range(10):
        xa, _ = a.batch(step)
        assert torch.equal(xa, b.batch(step)[0])
        seen.extend((xa.flatten() * 255).round().long().tolist())
    assert sorted(seen) == list(range(100))
    assert not torch.equal(a.batch(10)[0], a.batch(0)[0])
    ordered = torch.cat([x for x, _ in a.batches_in_order(30)])
    assert len(ordered) == 100 and torch.equal((ordered.flatten() * 255).round().long(), torch.arange(100))
