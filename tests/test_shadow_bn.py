"""Shadow BN and multi-path layers: BN selection, counts, no updates for unused paths, calibration."""

from __future__ import annotations

import doctest
import math

import pytest
import torch
from torch import nn

import supernas.nn.multipath
import supernas.nn.shadow_bn
from supernas.errors import SupernasError
from supernas.evaluate.calibration import calibrate_batchnorm
from supernas.nn.multipath import MultiPath
from supernas.nn.shadow_bn import ShadowBatchNorm, allowed_subsets
from supernas.report.sbn import shadow_bn_rows


def three_path_layer(norm: str = "linear", max_active: int = 3) -> MultiPath:
    torch.manual_seed(0)
    return MultiPath({"a": nn.Conv2d(4, 4, 3, padding=1), "b": nn.Conv2d(4, 4, 1), "c": nn.Conv2d(4, 4, 5, padding=2)},
                     channels=4, max_active=max_active, norm=norm)


def test_docstring_examples_run():
    for module in (supernas.nn.shadow_bn, supernas.nn.multipath):
        assert doctest.testmod(module).failed == 0


def test_linear_sbn_picks_the_bn_of_the_number_of_active_paths():
    norm = ShadowBatchNorm(3, num_paths=4, max_active=3, mode="linear")
    assert len(norm.norms) == 3
    assert [norm.index(a) for a in ([2], [0, 3], [3, 0], [1, 2, 3])] == [0, 1, 1, 2]
    norm(torch.randn(8, 3, 4, 4), [1, 3])
    assert [int(bn.num_batches_tracked) for bn in norm.norms] == [0, 1, 0]


@pytest.mark.parametrize("m", [1, 2, 3, 4])
def test_exponential_sbn_has_one_bn_per_subset(m):
    assert len(ShadowBatchNorm(2, num_paths=m, mode="exponential").norms) == 2**m - 1
    norm = ShadowBatchNorm(2, num_paths=4, max_active=m, mode="exponential")
    assert len(norm.norms) == sum(math.comb(4, j) for j in range(1, m + 1))
    indices = [norm.index(subset) for subset in allowed_subsets(4, m)]
    assert indices == list(range(len(norm.norms)))
    if m > 1:
        assert norm.index([3, 0]) == norm.index([0, 3]) != norm.index([0, 2])


def test_shared_and_scaling_use_one_bn_and_scaling_divides_by_the_path_count():
    x = torch.randn(6, 3, 5, 5)
    shared, scaling = (ShadowBatchNorm(3, num_paths=4, mode=mode).eval() for mode in ("shared", "scaling"))
    assert len(shared.norms) == len(scaling.norms) == 1
    assert {shared.index(a) for a in ([0], [1, 2], [0, 1, 2, 3])} == {0}
    torch.testing.assert_close(scaling(x, [0, 1, 2]), shared(x / 3, [0, 1, 2]))


@pytest.mark.parametrize("active", [[], [0, 0], [0, 1, 2], [4]])
def test_bad_active_paths_raise_one_clear_error(active):
    norm = ShadowBatchNorm(3, num_paths=4, max_active=2)
    with pytest.raises(SupernasError, match="distinct indices"):
        norm.index(active)


def test_bad_options_raise():
    with pytest.raises(SupernasError, match="unknown Shadow BN mode"):
        ShadowBatchNorm(3, num_paths=2, mode="cubic")
    with pytest.raises(SupernasError, match="max_active"):
        ShadowBatchNorm(3, num_paths=2, max_active=3)
    with pytest.raises(SupernasError, match="not held"):
        three_path_layer()(torch.randn(1, 4, 3, 3), ["a", "z"])


@pytest.mark.parametrize("norm", ["linear", "exponential", "shared", "scaling"])
def test_unused_paths_and_bns_get_no_gradient_and_no_sgd_update(norm):
    layer = three_path_layer(norm)
    optimizer = torch.optim.SGD(layer.parameters(), lr=0.1, momentum=0.9, weight_decay=0.1)
    x = torch.randn(4, 4, 6, 6)
    layer(x, ["a", "c"]).square().mean().backward()
    optimizer.step()  # gives "a" a momentum buffer
    optimizer.zero_grad(set_to_none=True)
    before = {name: p.detach().clone() for name, p in layer.named_parameters()}
    layer(x, ["b"]).square().mean().backward()
    bn_of_b = layer.norm.index([1])
    used = {name for name, p in layer.named_parameters() if p.grad is not None}
    assert used == {"paths.b.weight", "paths.b.bias", f"norm.norms.{bn_of_b}.weight", f"norm.norms.{bn_of_b}.bias"}
    optimizer.step()
    for name, p in layer.named_parameters():
        assert torch.equal(p, before[name]) == (name not in used), name


def test_calibration_equals_the_true_statistics_of_the_calibration_set():
    layer = three_path_layer("linear")
    layer.train()
    for _ in range(3):  # training moves every BN it uses away from the reset state
        layer(torch.randn(8, 4, 6, 6) * 3 + 1, ["a", "b"])
        layer(torch.randn(8, 4, 6, 6), ["c"])
    calibration = torch.randn(32, 4, 6, 6) * 2 - 0.5
    with torch.no_grad():
        summed = layer.path_sum(calibration, ["a", "c"])
    images = calibrate_batchnorm(layer, [calibration], lambda x: layer(x, ["a", "c"]))
    assert images == 32
    used, unused = layer.norm.norms[1], layer.norm.norms[0]
    torch.testing.assert_close(used.running_mean, summed.mean(dim=(0, 2, 3)), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(used.running_var, summed.transpose(0, 1).flatten(1).var(dim=1, unbiased=True),
                               rtol=1e-5, atol=1e-5)
    assert int(unused.num_batches_tracked) == 0 and torch.equal(unused.running_mean, torch.zeros(4))
    assert torch.equal(unused.running_var, torch.ones(4))
    assert layer.training and used.momentum == 0.1


def test_calibration_over_equal_batches_averages_their_statistics():
    layer = three_path_layer("linear")
    batches = [torch.randn(16, 4, 5, 5) + shift for shift in (0.0, 2.0)]
    calibrate_batchnorm(layer, batches, lambda x: layer(x, ["b"]))
    with torch.no_grad():
        sums = [layer.path_sum(batch, ["b"]) for batch in batches]
    bn = layer.norm.norms[0]
    torch.testing.assert_close(bn.running_mean, torch.cat(sums).mean(dim=(0, 2, 3)), rtol=1e-5, atol=1e-5)
    per_batch_var = [s.transpose(0, 1).flatten(1).var(dim=1) for s in sums]
    torch.testing.assert_close(bn.running_var, torch.stack(per_batch_var).mean(0), rtol=1e-5, atol=1e-5)


def test_sbn_diagnostics_report_ratios_of_bn_k_to_bn_1():
    norm = ShadowBatchNorm(4, num_paths=3, mode="linear")
    model = nn.ModuleDict({"block": nn.ModuleDict({"sbn": norm}), "plain": nn.BatchNorm2d(4)})
    with torch.no_grad():
        for k, bn in enumerate(norm.norms, start=1):
            bn.running_mean.copy_(torch.tensor([1.0, -2.0, 0.5, 0.0]) * k)
            bn.running_var.copy_(torch.tensor([1.0, 2.0, 3.0, 4.0]) * k * k)
            bn.weight.fill_(1.0 + 0.1 * (k - 1))
            bn.num_batches_tracked.fill_(k)
    rows = shadow_bn_rows(model)
    assert [(r.layer, r.paths) for r in rows] == [("block.sbn", 2), ("block.sbn", 3)]
    assert [round(r.mean_ratio, 6) for r in rows] == [2.0, 3.0]
    assert [round(r.var_ratio, 6) for r in rows] == [4.0, 9.0]
    assert [round(r.gamma_distance, 6) for r in rows] == [0.1, 0.2] and rows[0].beta_distance == 0.0
    assert shadow_bn_rows(ShadowBatchNorm(4, num_paths=3, mode="shared")) == []
    norm.norms[1].num_batches_tracked.zero_()  # a BN that never saw data has no statistics to compare
    assert [r.paths for r in shadow_bn_rows(model)] == [3]
