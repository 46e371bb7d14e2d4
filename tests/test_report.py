"""supernas report: every figure of a tiny MixPath run (trained with CaLR, ranked against a tiny
ground-truth table, searched, exported) is a valid, non-blank PNG; the HTML page is
self-contained and renders in headless Chromium; missing pieces become notes; TensorBoard."""

from __future__ import annotations

import base64
import importlib.util
import io
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from supernas.cli import main
from supernas.config import Config
from supernas.errors import SupernasError
from supernas.groundtruth.builder import groundtruth_run, table_path
from supernas.rank import rank_run
from supernas.report.run_report import build_report
from supernas.search.runner import search_run
from supernas.subnet.export import export_run
from supernas.train.tensorboard import TensorBoardLog
from supernas.train.trainer import train_supernet

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
FIGURES = {"training", "ranking", "pareto_nsga2", "calr", "sbn", "paths"}


def tiny_run_config(run_dir: Path) -> Config:
    """A 2-layer MixPath S1 (m=2, linear Shadow BN) on 256 synthetic images, trained with CaLR."""
    config = Config(run_dir=str(run_dir))
    config.data.dataset, config.data.synthetic_size, config.data.batch_size, config.data.device = "synthetic", 256, 16, "cpu"
    config.space.name = "mixpath-s1"
    config.space.options = {"width_mult": 0.25, "depth": 2, "max_paths": 2}
    train = config.train
    train.strategy, train.steps, train.log_every, train.calr, train.progress = "mixpath", 8, 2, True, False
    config.retrain.steps, config.retrain.batch_size = 2, 16
    truth = config.groundtruth
    truth.num_archs, truth.seeds, truth.train_images, truth.test_images = 3, 2, 64, 48
    rank = config.rank
    rank.num_images, rank.calibration_images, rank.batch_size, rank.column = 64, 32, 32, "test_acc"
    config.search.population, config.search.generations, config.search.cost = 4, 2, "flops"
    config.export.onnx = False
    return config


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> Path:
    """A run directory with every piece a report draws on, and its report."""
    run_dir = tmp_path_factory.mktemp("report") / "run"
    config = tiny_run_config(run_dir)
    train_supernet(config)
    groundtruth_run(config)
    config.rank.ground_truth = config.rank.archs_file = str(table_path(config))
    rank_run(config)
    search_run(config)
    export_run(config)
    build_report(run_dir)
    return run_dir


def image_pixels(png: bytes) -> np.ndarray:
    """The PNG's RGB pixels (raises if the bytes are not a decodable image)."""
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.float64)


def assert_drawn(png: bytes, min_side: int = 200) -> None:
    """A valid PNG of a reasonable size, not one flat colour, with some colour (the plotted data)."""
    assert png.startswith(PNG_SIGNATURE)
    pixels = image_pixels(png)
    assert min(pixels.shape[:2]) >= min_side
    assert pixels.std() > 5
    assert coloured_pixels(pixels) >= 20  # coloured marks of the data, not only black text and grey axes


def coloured_pixels(pixels: np.ndarray) -> int:
    """How many pixels are clearly coloured (not white, grey or black)."""
    return int((pixels.max(axis=2) - pixels.min(axis=2) > 60).sum())


def test_every_figure_is_a_valid_nonblank_png(tiny_run):
    report = tiny_run / "report"
    assert {p.stem for p in report.glob("*.png")} == FIGURES
    for name in FIGURES:
        assert_drawn((report / f"{name}.png").read_bytes())


def test_html_page_embeds_every_figure_and_notes_nothing_missing(tiny_run):
    page = (tiny_run / "report" / "index.html").read_text()
    embedded = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(embedded) == len(FIGURES)
    for data in embedded:
        assert_drawn(base64.b64decode(data))
    assert "Not in this report" not in page
    assert not re.search(r'(src|href)="(?!data:)', page)  # self-contained: no other file or URL
    assert "Kendall τ" in page and "exported model" in page


def test_report_figures_follow_the_run(tiny_run):
    ranking = json.loads((tiny_run / "ranking" / "ranking.json").read_text())
    assert ranking["truth"]["column"] == "test_acc" and ranking["metrics"]["num_archs"] == 3
    records = [json.loads(line) for line in (tiny_run / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [2, 4, 6, 8]
    assert all(r["complexity"] > 0 for r in records)  # CaLR's figure places each logged LR by complexity


def find_chromium() -> str | None:
    return next((path for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
                 if (path := shutil.which(name))), None)


@pytest.mark.skipif(find_chromium() is None, reason="no headless Chromium (apt-get install chromium)")
def test_html_page_renders_in_headless_chromium(tiny_run, tmp_path):
    shot = tmp_path / "page.png"
    page = (tiny_run / "report" / "index.html").resolve()
    command = [find_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
               f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1200,2400", f"--screenshot={shot}",
               page.as_uri()]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert not re.search(r"ERR_FILE_NOT_FOUND|ERR_INVALID_URL|Failed to load", done.stderr)
    assert_drawn(shot.read_bytes(), min_side=1000)
    assert coloured_pixels(image_pixels(shot.read_bytes())) > 5000  # the embedded plots are drawn, not just the text


def test_missing_pieces_become_notes(tmp_path, capsys):
    run_dir = tmp_path / "bare"
    run_dir.mkdir()
    (run_dir / "log.jsonl").write_text('{"step": 1, "loss": 2.3, "train_acc": 10.0, "lr": 0.1}\n'
                                       '{"step": 2, "loss": 2.1, "train_acc": 20.0, "lr": 0.05}\n{"step": 3, "lo')
    assert main(["report", str(run_dir)]) == 0
    out = capsys.readouterr().out
    assert "1 figures" in out and out.count("skipped ") == 5
    assert {p.stem for p in (run_dir / "report").glob("*.png")} == {"training"}
    page = (run_dir / "report" / "index.html").read_text()
    assert "Not in this report" in page and "supernas rank" in page and "CaLR" in page


def test_report_of_a_missing_directory_is_a_one_line_error(tmp_path, capsys):
    assert main(["report", str(tmp_path / "nothing")]) == 2
    assert capsys.readouterr().err.strip() == f"supernas: error: run directory {tmp_path / 'nothing'} does not exist"


def test_tensorboard_logging(tmp_path):
    if importlib.util.find_spec("tensorboard") is None:
        with pytest.raises(SupernasError, match="needs the tensorboard package"):
            TensorBoardLog(tmp_path)
        return
    board = TensorBoardLog(tmp_path)
    board.write({"step": 3, "loss": 1.5, "lr": 0.1, "note": "text is skipped"})
    board.close()
    assert list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))
