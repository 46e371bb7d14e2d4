"""Datasets and the device loader: file formats, the decode cache, search paths, stratified
splits, augmentation (against per-image references), loader determinism, and errors."""

from __future__ import annotations

import gzip
import io
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from supernas.data import (DATASETS, AugmentConfig, DeviceLoader, ImageDataset, augment_batch, load_dataset,
                           make_synthetic, normalize, read_idx, split_dataset, take_subset)
from supernas.data.formats import cache_dir
from supernas.data.transforms import apply_augmentation, draw_augmentation
from supernas.errors import SupernasError

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
FASHION_MNIST_SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")


@pytest.fixture
def no_default_data(tmp_path, monkeypatch):
    """Point ``$SUPERNAS_DATA`` and the working directory at an empty folder."""
    empty = tmp_path / "empty"
    (empty / "work").mkdir(parents=True)
    monkeypatch.setenv("SUPERNAS_DATA", str(empty))
    monkeypatch.chdir(empty / "work")
    return empty


# -- real data (skipped when absent) ---------------------------------------------------------

@pytest.mark.skipif(not (SHARED_DATA / "cifar10").is_dir(), reason="shared/data/cifar10 not available")
def test_cifar10_pack_loads_with_published_statistics_and_splits_exactly():
    train = load_dataset("cifar10", SHARED_DATA / "cifar10")
    test = load_dataset("cifar10", SHARED_DATA, train=False)
    assert train.images.shape == (50000, 3, 32, 32) and test.images.shape == (10000, 3, 32, 32)
    assert train.images.dtype == torch.uint8 and train.images.is_contiguous() and train.labels.dtype == torch.int64
    assert torch.bincount(train.labels).tolist() == [5000] * 10 and torch.bincount(test.labels).tolist() == [1000] * 10
    assert train.classes[0] == "airplane" and train.num_classes == 10 and train.image_size == 32
    for ds, means in ((train, [0.4913, 0.4821, 0.4465]), (test, [0.4941, 0.4851, 0.4504])):
        channel_means = ds.images.numpy().sum(axis=(0, 2, 3), dtype=np.int64) / (len(ds) * 32 * 32 * 255)
        np.testing.assert_allclose(channel_means, means, atol=2e-3, rtol=0)
    first, second = split_dataset(train, 0.5, seed=0)
    assert len(first) == len(second) == 25000
    assert torch.bincount(first.labels).tolist() == [2500] * 10 == torch.bincount(second.labels).tolist()


@pytest.mark.skipif(not FASHION_MNIST_SYSTEM_DIR.is_dir(), reason="Debian package dataset-fashion-mnist not installed")
def test_fashion_mnist_from_the_debian_package(no_default_data):
    train = load_dataset("fashion-mnist")
    test = load_dataset("fashion-mnist", train=False)
    assert train.images.shape == (60000, 1, 28, 28) and test.images.shape == (10000, 1, 28, 28)
    assert torch.bincount(train.labels).tolist() == [6000] * 10
    assert abs(train.images.numpy().sum(dtype=np.int64) / (train.images.numel() * 255) - train.mean[0]) < 1e-3


# -- file formats on tiny fakes ----------------------------------------------------------------

def write_pickle(path: Path, payload: dict) -> None:
    with open(path, "wb") as file:
        pickle.dump(payload, file)


def test_cifar10_pickle_batches_round_trip_from_the_folder_or_its_parent(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    rows, labels = {}, {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        rows[name] = rng.integers(0, 256, (3, 3072), dtype=np.uint8)
        labels[name] = rng.integers(0, 10, 3).tolist()
        write_pickle(folder / name, {b"data": rows[name], b"labels": labels[name]})
    for root in (folder, tmp_path):
        train = load_dataset("cifar10", root)
        assert train.images.shape == (15, 3, 32, 32) and train.name == "cifar10"
        assert train.labels.tolist() == sum((labels[f"data_batch_{i}"] for i in range(1, 6)), [])
        row = rows["data_batch_2"][1]  # image 4: CHW-flattened, red plane first
        assert train.images[4, 0, 0, :3].tolist() == row[:3].tolist()
        assert train.images[4, 1, 0, 0].item() == row[1024] and train.images[4, 2, 31, 31].item() == row[3071]
        assert torch.equal(train.images[4], torch.from_numpy(row.reshape(3, 32, 32)))
    test = load_dataset("cifar10", tmp_path, train=False)
    assert test.labels.tolist() == labels["test_batch"]
    assert torch.equal(test.images, torch.from_numpy(rows["test_batch"].reshape(3, 3, 32, 32)))


def make_cifar100_folder(parent: Path) -> np.ndarray:
    folder = parent / "cifar-100-python"
    folder.mkdir(parents=True)
    rows = np.random.default_rng(1).integers(0, 256, (6, 3072), dtype=np.uint8)
    write_pickle(folder / "train", {b"data": rows[:4], b"fine_labels": [0, 99, 42, 7], b"coarse_labels": [0, 1, 2, 3]})
    write_pickle(folder / "test", {b"data": rows[4:], b"fine_labels": [5, 6], b"coarse_labels": [1, 1]})
    write_pickle(folder / "meta", {b"fine_label_names": [f"fine{i}".encode() for i in range(100)]})
    return rows


def test_cifar100_pickles_round_trip_with_fine_labels_and_names(tmp_path):
    rows = make_cifar100_folder(tmp_path)
    train = load_dataset("cifar100", tmp_path)
    assert train.labels.tolist() == [0, 99, 42, 7] and train.num_classes == 100 and train.classes[42] == "fine42"
    assert torch.equal(train.images, torch.from_numpy(rows[:4].reshape(4, 3, 32, 32)))
    test = load_dataset("cifar100", tmp_path / "cifar-100-python", train=False)
    assert test.labels.tolist() == [5, 6] and torch.equal(test.images[1], torch.from_numpy(rows[5].reshape(3, 32, 32)))


def test_default_search_finds_official_folders_under_supernas_data(no_default_data):
    make_cifar100_folder(no_default_data)
    assert load_dataset("cifar100").labels.tolist() == [0, 99, 42, 7]


def write_jpeg_pack(path: Path, images: np.ndarray, labels: list[int]) -> list[bytes]:
    """A ``cifar10_*.npz`` pack as described in shared/data/README.md; returns the JPEG files."""
    jpegs = []
    for image in images:
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, format="JPEG", quality=90)
        jpegs.append(buffer.getvalue())
    offsets = np.cumsum([0] + [len(j) for j in jpegs]).astype(np.int64)
    np.savez_compressed(path, jpeg=np.frombuffer(b"".join(jpegs), dtype=np.uint8), offsets=offsets,
                        labels=np.array(labels, dtype=np.uint8), classes=np.array(["c0", "c1", "c2"]))
    return jpegs


def decoded_chw(jpeg: bytes) -> torch.Tensor:
    return torch.from_numpy(np.asarray(Image.open(io.BytesIO(jpeg)).convert("RGB")).copy()).permute(2, 0, 1)


def test_jpeg_pack_is_decoded_once_cached_and_decoded_again_when_it_changes(tmp_path, monkeypatch):
    monkeypatch.setenv("SUPERNAS_CACHE", str(tmp_path / "cache"))
    rng = np.random.default_rng(2)
    pack = tmp_path / "cifar10_train.npz"
    jpegs = write_jpeg_pack(pack, rng.integers(0, 256, (4, 32, 32, 3), dtype=np.uint8), [2, 0, 1, 2])
    first = load_dataset("cifar10", tmp_path)
    assert first.labels.tolist() == [2, 0, 1, 2] and first.images.shape == (4, 3, 32, 32)
    assert all(torch.equal(first.images[i], decoded_chw(jpeg)) for i, jpeg in enumerate(jpegs))
    cached = list(cache_dir().glob("cifar10_train-*.npy"))
    assert len(cached) == 1 and not list(cache_dir().glob("*.tmp"))

    np.save(cached[0], np.full((4, 3, 32, 32), 7, dtype=np.uint8))  # a cache hit returns the cached array
    assert (load_dataset("cifar10", tmp_path).images == 7).all()

    jpegs = write_jpeg_pack(pack, rng.integers(0, 256, (5, 32, 32, 3), dtype=np.uint8), [1, 1, 0, 2, 0])
    os.utime(pack, ns=(pack.stat().st_atime_ns, pack.stat().st_mtime_ns + 10**9))
    changed = load_dataset("cifar10", tmp_path)
    assert changed.labels.tolist() == [1, 1, 0, 2, 0]
    assert all(torch.equal(changed.images[i], decoded_chw(jpeg)) for i, jpeg in enumerate(jpegs))


def write_idx(path: Path, array: np.ndarray) -> None:
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    with (gzip.open if path.suffix == ".gz" else open)(path, "wb") as file:
        file.write(header + array.tobytes())


@pytest.mark.parametrize("suffix", [".gz", ""])
def test_fashion_mnist_idx_files_round_trip(tmp_path, suffix):
    images = np.random.default_rng(3).integers(0, 256, (3, 28, 28), dtype=np.uint8)
    for prefix, labels in (("train", [7, 0, 9]), ("t10k", [1, 2, 3])):
        write_idx(tmp_path / f"{prefix}-images-idx3-ubyte{suffix}", images)
        write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte{suffix}", np.array(labels, dtype=np.uint8))
    train = load_dataset("fashion-mnist", tmp_path)
    assert train.images.shape == (3, 1, 28, 28) and train.labels.tolist() == [7, 0, 9] and train.in_channels == 1
    assert torch.equal(train.images[:, 0], torch.from_numpy(images)) and train.classes[9] == "ankle boot"
    assert load_dataset("fashion-mnist", tmp_path, train=False).labels.tolist() == [1, 2, 3]


def test_idx_parser_reads_shapes_and_rejects_bad_files(tmp_path):
    array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    write_idx(tmp_path / "a.gz", array)
    assert np.array_equal(read_idx(tmp_path / "a.gz"), array)
    (tmp_path / "short").write_bytes(bytes([0, 0, 8, 1]) + (10).to_bytes(4, "big") + b"abc")
    with pytest.raises(SupernasError, match="header says 10 values, it holds 3"):
        read_idx(tmp_path / "short")
    (tmp_path / "floats").write_bytes(bytes([0, 0, 0x0D, 1]) + (1).to_bytes(4, "big") + bytes(4))
    with pytest.raises(SupernasError, match="not an idx file"):
        read_idx(tmp_path / "floats")


# -- errors ------------------------------------------------------------------------------------

def test_unknown_or_missing_datasets_give_one_line_errors(tmp_path, no_default_data):
    with pytest.raises(SupernasError, match="unknown dataset 'mnist'; choose one of: " + ", ".join(DATASETS)):
        load_dataset("mnist")
    with pytest.raises(SupernasError, match="does not exist; pass --data.root"):
        load_dataset("cifar10", tmp_path / "nope")
    with pytest.raises(SupernasError, match="CIFAR-10 not found in .*; pass --data.root DIR containing cifar10_train"):
        load_dataset("cifar10", tmp_path)
    with pytest.raises(SupernasError, match="Fashion-MNIST not found.*apt-get install dataset-fashion-mnist") as error:
        load_dataset("fashion-mnist", tmp_path)
    assert "\n" not in str(error.value)
    with pytest.raises(SupernasError, match="CIFAR-100 not found in " + str(no_default_data.resolve())):
        load_dataset("cifar100")
    (tmp_path / "cifar-100-python").mkdir()
    (tmp_path / "cifar-100-python" / "train").write_bytes(b"not a pickle")
    (tmp_path / "cifar-100-python" / "meta").write_bytes(b"not a pickle")
    with pytest.raises(SupernasError, match="is not a CIFAR python-pickle file"):
        load_dataset("cifar100", tmp_path)


def test_bad_settings_give_clear_errors():
    ds = make_synthetic(20, num_classes=2, image_size=8)
    with pytest.raises(SupernasError, match="strictly between 0 and 1"):
        split_dataset(ds, 1.0)
    with pytest.raises(SupernasError, match="--data.synthetic_size"):
        make_synthetic(5, num_classes=10)
    with pytest.raises(SupernasError, match="crop_padding must be >= 0"):
        AugmentConfig(crop_padding=-1)
    with pytest.raises(SupernasError, match="batch size 32 exceeds the 20 images"):
        DeviceLoader(ds, 32).batch(0)


# -- synthetic ---------------------------------------------------------------------------------

def test_synthetic_data_is_seeded_and_learnable_across_splits():
    train = load_dataset("synthetic", synthetic_size=400)
    test = load_dataset("synthetic", train=False, synthetic_size=200)
    assert train.images.shape == (400, 3, 32, 32) and torch.bincount(train.labels).tolist() == [40] * 10
    assert torch.equal(train.images, load_dataset("synthetic", synthetic_size=400).images)
    assert not torch.equal(train.images[:200], test.images)
    features = lambda ds: normalize(ds.images, ds.mean, ds.std).flatten(1)  # noqa: E731
    centroids = torch.stack([features(train)[train.labels == c].mean(0) for c in range(10)])
    predicted = torch.cdist(features(test), centroids).argmin(1)
    assert (predicted == test.labels).float().mean() > 0.95
    gray = make_synthetic(50, num_classes=5, channels=1, image_size=28)
    assert gray.images.shape == (50, 1, 28, 28) and gray.num_classes == 5 and len(gray.mean) == 1
    pixels = gray.images.double() / 255
    assert abs(pixels.mean().item() - gray.mean[0]) < 1e-5 and abs(pixels.std().item() - gray.std[0]) < 1e-4


# -- splits ------------------------------------------------------------------------------------

def id_dataset(labels: list[int]) -> ImageDataset:
    """Image ``i`` stores ``i`` in its two pixels (high byte, low byte), so selections can be traced."""
    ids = torch.arange(len(labels))
    images = torch.stack([ids // 256, ids % 256], 1).to(torch.uint8).view(-1, 2, 1, 1)
    classes = tuple(str(c) for c in range(max(labels) + 1))
    return ImageDataset(images, torch.tensor(labels), classes, (0.0, 0.0), (1.0, 1.0), "ids")


def ids_of(ds: ImageDataset) -> list[int]:
    return ids_in_batch(ds.images.float() / 255)


def ids_in_batch(images: torch.Tensor) -> list[int]:
    """The ids of a loader's batch of :func:`id_dataset` images (normalised with mean 0, std 1)."""
    pixels = (images[:, :, 0, 0] * 255).round().long()
    return (pixels[:, 0] * 256 + pixels[:, 1]).tolist()


def test_split_is_stratified_disjoint_shuffled_and_seeded():
    labels = [0] * 100 + [1] * 300 + [2] * 600
    ds = id_dataset(labels)
    for fraction, expected in ((0.5, [50, 150, 300]), (0.3, [30, 90, 180])):
        first, second = split_dataset(ds, fraction, seed=3)
        assert torch.bincount(first.labels).tolist() == expected
        assert torch.bincount(second.labels).tolist() == [n - e for n, e in zip((100, 300, 600), expected)]
        assert set(ids_of(first)).isdisjoint(ids_of(second)) and len(set(ids_of(first) + ids_of(second))) == 1000
        assert all(labels[i] == label for i, label in zip(ids_of(first), first.labels.tolist()))
        assert first.labels[:50].unique().numel() == 3  # shuffled, not grouped by class
    again, _ = split_dataset(ds, 0.5, seed=3)
    other, _ = split_dataset(ds, 0.5, seed=4)
    assert ids_of(again) == ids_of(split_dataset(ds, 0.5, seed=3)[0])
    assert set(ids_of(other)) != set(ids_of(again))


def test_subset_is_stratified_seeded_and_inside_the_dataset():
    ds = id_dataset([0] * 100 + [1] * 300 + [2] * 600)
    subset = take_subset(ds, 100, seed=0)
    assert torch.bincount(subset.labels).tolist() == [10, 30, 60] and len(set(ids_of(subset))) == 100
    assert ids_of(subset) == ids_of(take_subset(ds, 100, seed=0)) != ids_of(take_subset(ds, 100, seed=1))
    assert torch.bincount(take_subset(ds, 11, seed=5).labels).tolist() == [1, 3, 7]
    assert take_subset(ds, 5000) is ds


# -- augmentation ------------------------------------------------------------------------------

def test_crop_matches_a_per_image_pad_and_slice_reference():
    images = torch.randint(0, 256, (16, 3, 10, 12), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    cfg = AugmentConfig(crop_padding=3, flip=False, cutout=0)
    draws = draw_augmentation(16, 10, 12, torch.Generator().manual_seed(1), cfg)
    cropped = apply_augmentation(images, draws, cfg)
    padded = torch.nn.functional.pad(images, (3, 3, 3, 3))
    assert draws.crop_offsets.min() == 0 and draws.crop_offsets.max() == 6
    for i, (dy, dx) in enumerate(draws.crop_offsets.tolist()):
        assert torch.equal(cropped[i], padded[i, :, dy:dy + 10, dx:dx + 12])
    assert torch.equal(augment_batch(images, torch.Generator().manual_seed(1), cfg), cropped)


def test_flip_matches_torch_flip_for_flagged_images_only():
    images = torch.randint(0, 256, (32, 3, 6, 7), dtype=torch.uint8)
    cfg = AugmentConfig(crop_padding=0, flip=True, cutout=0)
    draws = draw_augmentation(32, 6, 7, torch.Generator().manual_seed(2), cfg)
    flipped = apply_augmentation(images, draws, cfg)
    assert 0 < draws.flips.sum() < 32
    for image, out, flag in zip(images, flipped, draws.flips.tolist()):
        assert torch.equal(out, torch.flip(image, dims=[2]) if flag else image)
    assert not draw_augmentation(32, 6, 7, torch.Generator().manual_seed(2), AugmentConfig(flip=False)).flips.any()


def test_cutout_zeroes_exactly_a_clipped_square():
    images = torch.randint(1, 256, (40, 2, 9, 11), dtype=torch.uint8)
    cfg = AugmentConfig(crop_padding=0, flip=False, cutout=4)
    draws = draw_augmentation(40, 9, 11, torch.Generator().manual_seed(3), cfg)
    holed = apply_augmentation(images, draws, cfg)
    sizes = set()
    for image, out, (cy, cx) in zip(images, holed, draws.cutout_centres.tolist()):
        mask = torch.zeros(9, 11, dtype=torch.bool)
        mask[max(cy - 2, 0):cy + 2, max(cx - 2, 0):cx + 2] = True
        assert torch.equal(out == 0, mask.expand(2, -1, -1)) and torch.equal(out[:, ~mask], image[:, ~mask])
        sizes.add(int(mask.sum()))
    assert 16 in sizes and min(sizes) < 16  # whole squares and squares clipped at the border


def labelled_constant_images(n: int, size: int = 16) -> ImageDataset:
    """Image ``i`` is constant with value ``label * 20 + 10``."""
    labels = torch.arange(n) % 10
    images = (labels * 20 + 10).to(torch.uint8).view(n, 1, 1, 1).expand(n, 3, size, size).contiguous()
    return ImageDataset(images, labels, tuple("abcdefghij"), (0.5, 0.4, 0.3), (0.25, 0.2, 0.3), "constant")


def test_augmented_batches_keep_labels_aligned_with_images():
    ds = labelled_constant_images(200)
    loader = DeviceLoader(ds, 32, seed=0, augment=AugmentConfig(crop_padding=4, flip=True, cutout=0))
    std, mean = torch.tensor(ds.std).view(1, 3, 1, 1), torch.tensor(ds.mean).view(1, 3, 1, 1)
    padded_pixels = 0
    for step in range(14):
        images, labels = loader.batch(step)
        assert images.dtype == torch.float32 and images.shape == (32, 3, 16, 16)
        pixels = ((images * std + mean) * 255).round().long()
        centre = pixels[:, :, 8, 8]  # padding zeros never reach the centre
        assert torch.equal((centre - 10) // 20, labels.view(-1, 1).expand(-1, 3))
        padded_pixels += int((pixels == 0).sum())
    assert padded_pixels > 0  # the crops did move into the zero padding


def test_normalize_maps_uint8_to_standardised_floats():
    images = torch.tensor([0, 51, 255], dtype=torch.uint8).view(1, 3, 1, 1).expand(2, 3, 1, 1)
    out = normalize(images, (0.0, 0.2, 0.5), (1.0, 0.5, 0.25), dtype=torch.float64)
    assert out.dtype == torch.float64
    torch.testing.assert_close(out[1].flatten(), torch.tensor([0.0, 0.0, 2.0], dtype=torch.float64))


# -- loader ------------------------------------------------------------------------------------

def test_loader_batches_are_a_pure_function_of_seed_and_step():
    ds = id_dataset([i % 4 for i in range(105)])
    first, second = DeviceLoader(ds, 10, seed=5), DeviceLoader(ds, 10, seed=5)
    assert first.steps_per_epoch == 10
    for epoch in range(3):
        seen = []
        for step in range(epoch * 10, epoch * 10 + 10):
            images, labels = first.batch(step)
            assert labels.tolist() == [i % 4 for i in ids_in_batch(images)]
            seen += ids_in_batch(images)
        assert len(set(seen)) == 100  # every image at most once; drop-last leaves 5 out
    assert torch.equal(second.batch(17)[0], first.batch(17)[0])  # resuming mid-epoch, out of order
    assert ids_in_batch(first.batch(0)[0]) != ids_in_batch(first.batch(10)[0])
    assert ids_in_batch(DeviceLoader(ds, 10, seed=6).batch(0)[0]) != ids_in_batch(first.batch(0)[0])


def test_loader_covers_every_image_once_per_epoch_and_augments_reproducibly():
    ds = make_synthetic(96, num_classes=4, image_size=8)
    cfg = AugmentConfig(crop_padding=2, flip=True, cutout=3)
    loader, again = DeviceLoader(ds, 16, seed=1, augment=cfg), DeviceLoader(ds, 16, seed=1, augment=cfg)
    orders = [loader.epoch_order(epoch) for epoch in range(2)]
    assert all(sorted(order.tolist()) == list(range(96)) for order in orders) and not torch.equal(*orders)
    for step in (0, 5, 6, 13):
        images, labels = loader.batch(step)
        assert torch.equal(images, again.batch(step)[0]) and torch.equal(labels, again.batch(step)[1])
    assert not torch.equal(loader.batch(0)[0], DeviceLoader(ds, 16, seed=2, augment=cfg).batch(0)[0])


def test_batches_in_order_cover_the_dataset_unaugmented_with_a_partial_last_batch():
    ds = id_dataset([i % 3 for i in range(70)])
    loader = DeviceLoader(ds, 32, augment=AugmentConfig(), channels_last=True)
    batches = list(loader.batches_in_order(30))
    assert [len(labels) for _, labels in batches] == [30, 30, 10]
    images = torch.cat([x for x, _ in batches])
    assert ids_in_batch(images) == list(range(70))
    assert batches[0][0].is_contiguous(memory_format=torch.channels_last)
    assert [len(labels) for _, labels in loader.batches_in_order()] == [32, 32, 6]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_gpu_batches_equal_cpu_batches():
    ds = make_synthetic(128, image_size=16)
    cfg = AugmentConfig(crop_padding=4, flip=True, cutout=6)
    cpu, gpu = DeviceLoader(ds, 32, seed=3, augment=cfg), DeviceLoader(ds, 32, seed=3, augment=cfg, device="cuda")
    for step in (0, 7):
        (x_cpu, y_cpu), (x_gpu, y_gpu) = cpu.batch(step), gpu.batch(step)
        assert x_gpu.is_cuda and torch.equal(y_cpu, y_gpu.cpu())
        torch.testing.assert_close(x_gpu.cpu(), x_cpu, atol=1e-6, rtol=0)


def test_downsampled_images_are_area_averages_rounded_to_uint8():
    images = torch.tensor([[0, 2, 10, 10], [4, 6, 10, 11], [255, 255, 0, 0], [255, 255, 0, 1]], dtype=torch.uint8)
    ds = ImageDataset(images.reshape(1, 1, 4, 4), torch.zeros(1, dtype=torch.int64), ("a",), (0.5,), (0.25,), "t")
    small = ds.downsampled(2)
    assert small.images.tolist() == [[[[3, 10], [255, 0]]]]  # 10.25 -> 10, 0.25 -> 0
    assert ds.downsampled(4) is ds and small.mean == ds.mean
    with pytest.raises(SupernasError, match="cannot downsample"):
        ds.downsampled(8)


def test_proxy_data_options_shrink_the_images_and_the_training_split_only(tiny_config):
    from supernas.runs.experiment import load_splits
    from supernas.train.trainer import train_supernet

    full_train, full_heldout = load_splits(tiny_config)
    tiny_config.data.resolution, tiny_config.data.train_images = 16, 40
    train, heldout = load_splits(tiny_config)
    assert train.images.shape[1:] == (3, 16, 16) and heldout.images.shape[1:] == (3, 16, 16)
    assert len(train) == 40 and len(heldout) == len(full_heldout) and len(full_train) == 128
    assert torch.bincount(train.labels).tolist() == [4] * 10  # stratified
    assert torch.equal(heldout.labels, full_heldout.labels)
    tiny_config.train.steps = 2
    assert train_supernet(tiny_config).steps == 2
