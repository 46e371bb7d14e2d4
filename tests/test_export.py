"""Export: standalone subnets with supernet weights give the supernet's outputs; saved models
and ONNX (checked with onnxruntime when installed) give the same outputs; retraining."""

from __future__ import annotations

import json

import pytest
import torch

from supernas.cli import main
from supernas.errors import SupernasError
from supernas.evaluate.calibration import calibrate_batchnorm
from supernas.spaces import get_space
from supernas.subnet import export
from supernas.subnet.export import (export_onnx, export_subnet, freeze_batch_statistics, inherit_weights, load_subnet,
                                    onnx_max_difference, save_subnet, torchscript_onnx_export, write_onnx)

from conftest import NB201_CSV, needs

ARCH = "|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|none~1|nor_conv_3x3~2|"


def perturbed_supernet(space):
    """The space's supernet with weights moved away from their initial values."""
    torch.manual_seed(0)
    supernet = space.build_supernet()
    with torch.no_grad():
        for parameter in supernet.parameters():
            parameter.add_(0.1 * torch.randn_like(parameter))
    return supernet


def trained_supernet(bn: str):
    """A small NAS-Bench-201 space and its supernet, weights away from their initial values."""
    space = get_space("nasbench201", channels=4, cells_per_stage=1, bn=bn)
    return space, perturbed_supernet(space)


def images(count: int, seed: int) -> torch.Tensor:
    return torch.randn(count, 3, 32, 32, generator=torch.Generator().manual_seed(seed))


def test_batch_statistics_subnet_gives_the_supernet_outputs():
    space, supernet = trained_supernet("batch")
    arch = space.parse(ARCH)
    subnet = export_subnet(space, arch, supernet.state_dict())
    x = images(8, 1)
    with torch.no_grad():
        torch.testing.assert_close(subnet(x), supernet.eval()(x, arch), rtol=0, atol=1e-6)


@pytest.mark.parametrize("name, options, arch", [
    ("nasbench201", {"channels": 4, "cells_per_stage": 1, "bn": "running"}, ARCH),
    ("mixpath-s1", {"width_mult": 0.25, "max_paths": 2, "depth": 3}, "e6_k3.9-e3_k5-e6_k3"),
])
def test_calibrated_subnet_gives_the_calibrated_supernet_outputs(name, options, arch):
    space = get_space(name, **options)
    supernet = perturbed_supernet(space)
    arch = space.parse(arch)
    batches = [images(16, 2), images(16, 3)]
    subnet = export_subnet(space, arch, supernet.state_dict(), batches)
    calibrate_batchnorm(supernet, batches, lambda x: supernet(x, arch))
    x = images(8, 4)
    with torch.no_grad():
        torch.testing.assert_close(subnet(x), supernet.eval()(x, arch), rtol=0, atol=1e-6)


def test_frozen_batch_statistics_make_outputs_independent_of_the_batch(tmp_path):
    space, supernet = trained_supernet("batch")
    subnet = export_subnet(space, space.parse(ARCH), supernet.state_dict(), [images(32, 5)])
    x = images(6, 6)
    with torch.no_grad():
        torch.testing.assert_close(subnet(x[:1]), subnet(x)[:1], rtol=0, atol=1e-5)
        save_subnet(tmp_path / "subnet.pt", subnet, space, space.parse(ARCH))
        torch.testing.assert_close(load_subnet(tmp_path / "subnet.pt")(x), subnet(x), rtol=0, atol=0)


def test_freeze_only_touches_batch_statistics_layers():
    space, _ = trained_supernet("running")
    assert freeze_batch_statistics(space.build_subnet(space.parse(ARCH))) == 0
    space, _ = trained_supernet("batch")
    assert freeze_batch_statistics(space.build_subnet(space.parse(ARCH))) > 0


def test_weights_of_another_space_are_refused():
    space, _ = trained_supernet("running")
    _, other = trained_supernet("batch")
    with pytest.raises(SupernasError, match="no weights"):
        inherit_weights(space.build_subnet(space.parse(ARCH)), other.state_dict())
    wider = get_space("nasbench201", channels=8, cells_per_stage=1, bn="running").build_supernet()
    with pytest.raises(SupernasError, match="shape"):
        inherit_weights(space.build_subnet(space.parse(ARCH)), wider.state_dict())


def test_torchscript_onnx_export_gives_the_same_outputs(tmp_path):
    for package in ("onnx", "onnxruntime"):
        pytest.importorskip(package)
    space, supernet = trained_supernet("batch")
    arch = space.parse("|nor_conv_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|skip_connect~0|none~1|nor_conv_3x3~2|")
    subnet = export_subnet(space, arch, supernet.state_dict(), [images(32, 7)])
    torchscript_onnx_export(subnet, tmp_path / "model.onnx", images(2, 8))
    assert onnx_max_difference(tmp_path / "model.onnx", subnet, images(5, 9)) < 1e-4  # another batch size too


def test_mixpath_onnx_export_gives_the_same_outputs(tmp_path):
    for package in ("onnx", "onnxruntime", "onnxscript"):
        pytest.importorskip(package)
    space = get_space("mixpath-s1", width_mult=0.25, max_paths=2, depth=2)
    subnet = export_subnet(space, space.parse("e6_k3.9-e3_k5"), perturbed_supernet(space).state_dict(), [images(32, 7)])
    assert export_onnx(subnet, tmp_path / "model.onnx", images(2, 8)) == "dynamo"
    assert onnx_max_difference(tmp_path / "model.onnx", subnet, images(5, 9)) < 1e-4


def test_onnx_exporter_failure_is_a_note_not_an_error(tmp_path, monkeypatch):
    def missing_package(*args):
        raise torch.onnx.OnnxExporterError("Module onnx is not installed!")  # what torch raises without onnx

    monkeypatch.setattr(export, "export_onnx", missing_package)
    space, supernet = trained_supernet("running")
    subnet = export_subnet(space, space.parse(ARCH), supernet.state_dict())
    assert write_onnx(subnet, tmp_path, images(2, 0)) == "not written (Module onnx is not installed!)"


TINY = ["--data.dataset", "synthetic", "--data.synthetic_size", "256", "--data.batch_size", "16", "--data.device", "cpu",
        "--space.options.channels", "4", "--space.options.cells_per_stage", "1", "--train.steps", "4",
        "--train.progress", "false", "--rank.num_images", "64", "--rank.batch_size", "32",
        "--rank.calibration_images", "64", "--search.population", "4", "--search.generations", "2"]


def test_export_and_retrain_commands(tmp_path, capsys):
    run_dir = str(tmp_path / "run")
    assert main(["train", "--run_dir", run_dir, *TINY]) == 0
    assert main(["search", "--run_dir", run_dir]) == 0
    best = json.loads((tmp_path / "run/search/nsga2/pareto.json").read_text())["best"]["arch"]
    assert main(["export", "--run_dir", run_dir]) == 0
    out = capsys.readouterr().out
    assert f"exported {best} (supernet weights" in out
    assert (tmp_path / "run/export/arch.txt").read_text().strip() == best
    model = load_subnet(tmp_path / "run/export/subnet.pt")
    assert model(images(2, 0)).shape == (2, 10)
    retrain = ["retrain", "--run_dir", run_dir, "--retrain.steps", "3", "--retrain.batch_size", "16"]
    assert main(retrain) == 0
    result = json.loads((tmp_path / "run/retrain/result.json").read_text())
    assert result["arch"] == best and result["steps"] == 3 and 0 <= result["test_accuracy"] <= 100
    assert main(retrain) == 0  # resumes at the end: nothing left to train
    assert "resumed from 3" in capsys.readouterr().out


def test_export_without_a_search_is_one_line(tmp_path, capsys):
    assert main(["export", "--run_dir", str(tmp_path / "run"), "--data.dataset", "synthetic"]) == 2
    assert "run 'supernas search' first" in capsys.readouterr().err


@needs(NB201_CSV)
def test_run_command_trains_ranks_searches_and_exports(tmp_path, capsys):
    run = ["run", "--run_dir", str(tmp_path / "run"), *TINY, "--rank.num_archs", "6", "--export.onnx", "false"]
    assert main(run) == 0
    out = capsys.readouterr().out
    for step in ("trained 4 steps", "ranked 6 architectures", "searched 8 architectures with nsga2", "exported",
                 "main job finished"):
        assert step in out
    assert (tmp_path / "run/export/subnet.pt").exists() and (tmp_path / "run/search/nsga2/pareto.png").exists()
