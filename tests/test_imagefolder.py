"""ImageFolder datasets: scanning, the streaming loader's determinism and sharding, decoding, training."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from supernas.config import Config
from supernas.data import load_dataset
from supernas.data.imagefolder import FolderImages, StreamingLoader, crop_box
from supernas.errors import SupernasError
from supernas.runs.experiment import load_splits
from supernas.subnet.retrain import retrain_run
from supernas.train.trainer import train_supernet

CLASSES = ("cat", "dog", "eel")


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """``train/`` with 6 PNGs per class and ``val/`` with 2, of assorted sizes; each class's
    images are filled with one colour so a label can be read off its pixels."""
    root = tmp_path_factory.mktemp("imagefolder")
    rng = np.random.default_rng(0)
    for split, count in (("train", 6), ("val", 2)):
        for label, name in enumerate(CLASSES):
            (root / split / name).mkdir(parents=True)
            for i in range(count):
                pixels = np.full((int(rng.integers(20, 60)), int(rng.integers(20, 60)), 3), 40 + 80 * label, np.uint8)
                Image.fromarray(pixels).save(root / split / name / f"{i}.png")
    (root / "train" / "cat" / "notes.txt").write_text("not an image")
    return root


def test_scan_finds_classes_and_images_in_sorted_order(folder):
    images = load_dataset("imagefolder", folder, train=True, image_size=16)
    assert isinstance(images, FolderImages)
    assert images.classes == CLASSES and len(images) == 18
    assert images.labels.tolist() == [0] * 6 + [1] * 6 + [2] * 6
    assert len(load_dataset("imagefolder", folder, train=False)) == 6


def test_bad_folders_are_one_line_errors(folder, tmp_path):
    with pytest.raises(SupernasError, match="needs --data.root"):
        load_dataset("imagefolder", None)
    with pytest.raises(SupernasError, match="does not exist"):
        load_dataset("imagefolder", tmp_path)
    (tmp_path / "train" / "empty").mkdir(parents=True)
    with pytest.raises(SupernasError, match="no .jpg/.jpeg/.png images"):
        load_dataset("imagefolder", tmp_path)


def test_streaming_batches_are_a_function_of_seed_and_step_in_any_worker(folder):
    images = load_dataset("imagefolder", folder, image_size=16)
    loader = StreamingLoader(images, 6, seed=3, workers=0)
    stream = loader.batches(0)
    first = [next(stream) for _ in range(5)]
    x, y = first[0]
    assert x.shape == (6, 3, 16, 16) and x.dtype == torch.float32 and y.dtype == torch.int64
    red = x[:, 0, 8, 8] * images.std[0] + images.mean[0]
    torch.testing.assert_close(red, (40 + 80 * y).float() / 255, rtol=0, atol=1e-6)
    resumed = next(StreamingLoader(images, 6, seed=3, workers=2).batches(3))
    assert torch.equal(resumed[0], first[3][0]) and torch.equal(resumed[1], first[3][1])
    halves = [next(loader.batches(4, part)) for part in (slice(0, 3), slice(3, 6))]
    assert torch.equal(torch.cat([h[0] for h in halves]), first[4][0])
    epochs = [sorted(torch.cat([b[1] for b in first[i:i + 3]]).tolist()) for i in (0, 3)]
    assert epochs[0] == [0] * 6 + [1] * 6 + [2] * 6
    other_seed = next(StreamingLoader(images, 6, seed=4, workers=0).batches(0))
    assert not torch.equal(other_seed[0], x)


def test_random_resized_crop_boxes_stay_inside_with_the_recipe_area_and_ratio():
    generator = torch.Generator().manual_seed(0)
    for width, height in ((50, 30), (224, 224), (17, 90)):
        for _ in range(200):
            left, top, right, bottom = crop_box(width, height, generator)
            assert 0 <= left < right <= width and 0 <= top < bottom <= height
            w, h = right - left, bottom - top
            if (w, h) != (width, height):
                assert 0.07 * width * height <= w * h <= width * height


def test_heldout_split_is_decoded_as_centre_crops(folder):
    config = Config()
    config.data.dataset, config.data.root, config.data.image_size, config.data.workers = "imagefolder", str(folder), 12, 0
    train, heldout = load_splits(config)
    assert len(train) + len(heldout) == 18 and sorted(heldout.labels.tolist()) == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    decoded = heldout.to("cpu")
    assert decoded.images.shape == (9, 3, 12, 12) and decoded.images.dtype == torch.uint8
    assert torch.equal(decoded.images[:, 1, 6, 6].long(), 40 + 80 * decoded.labels)


def test_supernet_trains_from_an_image_folder(folder, tmp_path):
    config = Config()
    config.run_dir = str(tmp_path / "run")
    config.data.dataset, config.data.root, config.data.image_size = "imagefolder", str(folder), 16
    config.data.batch_size, config.data.workers, config.data.device = 4, 0, "cpu"
    config.space.options = {"channels": 4, "cells_per_stage": 1}
    config.train.steps, config.train.log_every, config.train.progress = 3, 1, False
    result = train_supernet(config)
    assert result.steps == 3 and np.isfinite(result.final_loss)


def test_retrain_streams_an_image_folder_through_the_worker_loader(folder, tmp_path, monkeypatch):
    made = []
    real_init = StreamingLoader.__init__

    def recording(self, images, batch_size, **options):
        made.append((images.image_size, batch_size, options["workers"]))
        real_init(self, images, batch_size, **options)

    monkeypatch.setattr(StreamingLoader, "__init__", recording)
    config = Config()
    config.run_dir = str(tmp_path / "run")
    config.data.dataset, config.data.root, config.data.image_size = "imagefolder", str(folder), 16
    config.data.workers, config.data.device = 1, "cpu"
    config.space.options = {"channels": 4, "cells_per_stage": 1}
    config.export.arch = "|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|none~0|none~1|nor_conv_3x3~2|"
    config.retrain.steps, config.retrain.batch_size = 2, 4
    config.train.progress = False
    result = retrain_run(config)
    assert made == [(16, 4, 1)]
    assert result.steps == 2 and 0 <= result.test_accuracy <= 100
