"""Zero-cost predictors, fused scores, and their use by rank and search."""

from __future__ import annotations

import json

import math

import numpy as np
import pytest
import torch
from torch import nn

from supernas.cli import main
from supernas.errors import SupernasError
from supernas.evaluate.fusion import choose_weights, fuse, fused_label, parse_score_spec, relative_log_rank
from supernas.evaluate.scoring import KNOWN_SCORES
from supernas.evaluate.zero_cost import (DEGENERATE, PROXY_SCORES, gradient_pass, grad_norm_score, jacov_score,
                                         naswot_kernel, naswot_score, proxy_scores, snip_score, synflow_score,
                                         zico_score)
from supernas.spaces import get_space

from conftest import NB201_CSV, needs


def test_synflow_of_a_two_layer_linear_net_is_twice_its_abs_output():
    """R = |W2| |W1| 1; each layer's sum of |w dR/dw| is R (synaptic flow is conserved), so the
    score is 2R; the BN between the layers is removed, the weights' signs are ignored."""
    first, second = nn.Linear(2, 3, bias=False), nn.Linear(3, 1, bias=False)
    with torch.no_grad():
        first.weight.copy_(torch.tensor([[1.0, -2.0], [0.5, 0.0], [-3.0, 1.0]]))
        second.weight.copy_(torch.tensor([[2.0, -1.0, 0.5]]))
    model = nn.Sequential(first, nn.BatchNorm1d(3), second)
    flow = 2.0 * 3.0 + 1.0 * 0.5 + 0.5 * 4.0
    assert synflow_score(model, (2,)) == pytest.approx(2 * flow)


def test_naswot_kernel_and_score_on_a_chosen_batch():
    """Codes 101 and 110 agree on one of three units: K = [[3, 1], [1, 3]], log det = log 8."""
    codes = torch.tensor([[1, 0, 1], [1, 1, 0]])
    assert naswot_kernel(codes).tolist() == [[3.0, 1.0], [1.0, 3.0]]
    model = nn.Sequential(nn.ReLU(), nn.Linear(3, 2))
    images = torch.tensor([[1.0, -1.0, 2.0], [3.0, 0.5, -2.0]])
    found = gradient_pass(model, images, torch.tensor([0, 1]), kernel=True)
    assert found.kernel.tolist() == [[3.0, 1.0], [1.0, 3.0]]
    assert naswot_score(found.kernel) == pytest.approx(math.log(8.0))


def tiny_linear() -> tuple[nn.Module, torch.Tensor, torch.Tensor, float]:
    """Identity weights, one image (1, 2) of class 0: logits (1, 2), p1 = e / (1 + e)."""
    model = nn.Linear(2, 2, bias=False)
    with torch.no_grad():
        model.weight.copy_(torch.eye(2))
    return model, torch.tensor([[1.0, 2.0]]), torch.tensor([0]), math.e / (1 + math.e)


def test_snip_and_grad_norm_of_a_tiny_linear_net():
    """dL/dW = (softmax - onehot) x^T = p1 [[-1, -2], [1, 2]]: norm p1 sqrt(10), |W * g| sums to 3 p1."""
    model, images, labels, p1 = tiny_linear()
    gradients = gradient_pass(model, images, labels).gradients
    assert grad_norm_score(gradients) == pytest.approx(p1 * math.sqrt(10), rel=1e-6)
    assert snip_score([model.weight.detach()], gradients) == pytest.approx(3 * p1, rel=1e-6)


def test_jacov_of_chosen_jacobians():
    """Rows (1, -1, 0) and (1, 0, -1) correlate 1/2: eigenvalues 1.5 and 0.5."""
    k = 1e-5
    expected = -sum(math.log(v + k) + 1 / (v + k) for v in (1.5, 0.5))
    assert jacov_score(torch.tensor([[1.0, -1.0, 0.0], [1.0, 0.0, -1.0]])) == pytest.approx(expected)
    assert jacov_score(torch.zeros(2, 3)) == DEGENERATE


def test_zico_sums_log_inverse_coefficient_of_variation_per_layer():
    """Layer 1: mean |g| (2, 2, 2), std (1, 0, 1): log(2 + 2); layer 2: log(1) = 0."""
    batches = [[torch.tensor([1.0, 2.0, 3.0]), torch.tensor([-1.0, 1.0])],
               [torch.tensor([3.0, 2.0, 1.0]), torch.tensor([1.0, 1.0])]]
    assert zico_score(batches) == pytest.approx(math.log(4.0))
    with pytest.raises(SupernasError, match="two batches"):
        zico_score(batches[:1])


def test_scores_are_deterministic_for_a_seed():
    space = get_space("nasbench201", channels=4, cells_per_stage=1)
    arch = space.parse("|nor_conv_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_3x3~0|none~1|avg_pool_3x3~2|")
    generator = torch.Generator().manual_seed(0)
    batches = [(torch.randn(8, 3, 32, 32, generator=generator), torch.arange(8) % 10) for _ in range(2)]
    first = proxy_scores(lambda: space.build_subnet(arch), batches, PROXY_SCORES, seed=3)
    torch.manual_seed(123)  # the global generator does not matter
    again = proxy_scores(lambda: space.build_subnet(arch), batches, PROXY_SCORES, seed=3)
    other = proxy_scores(lambda: space.build_subnet(arch), batches, PROXY_SCORES, seed=4)
    assert first == again and set(first) == set(PROXY_SCORES)
    assert all(math.isfinite(value) for value in first.values())
    assert first["snip"] != other["snip"]
    alone = proxy_scores(lambda: space.build_subnet(arch), batches, ["zico"], seed=3)
    assert alone["zico"] == first["zico"]


def test_relative_log_rank_and_fused_order():
    """a = (3, 2, 1), b = (1, 3, 2): F = (1 + below + ties/2) / 4, so the products of F are
    .875 x .375, .625 x .875, .375 x .625: cell 1 (good on both) ranks above cell 0 (best on a,
    worst on b), which ranks above cell 2."""
    assert np.exp(relative_log_rank([3, 2, 1], [3, 2, 1])).tolist() == [0.875, 0.625, 0.375]
    columns = {"a": [3.0, 2.0, 1.0], "b": [1.0, 3.0, 2.0]}
    fused = fuse(columns, {"a": 1.0, "b": 1.0})
    assert np.argsort(-fused).tolist() == [1, 0, 2]
    assert np.argsort(-fuse(columns, {"a": 1.0, "b": 0.0})).tolist() == [0, 1, 2]
    assert choose_weights(columns, [1.0, 3.0, 2.0])["a"] == 0.0


def test_score_spec_and_labels():
    assert parse_score_spec("supernet,naswot:2", KNOWN_SCORES) == {"supernet": 1.0, "naswot": 2.0}
    assert fused_label({"supernet": 1.0, "naswot": 2.0}) == "fused[supernet,naswot:2]"
    with pytest.raises(SupernasError) as error:
        parse_score_spec("supernet,bogus", KNOWN_SCORES)
    message = str(error.value)
    assert "\n" not in message and "'bogus'" in message and all(name in message for name in KNOWN_SCORES)
    with pytest.raises(SupernasError, match="weight"):
        parse_score_spec("naswot:-1", KNOWN_SCORES)


TINY = ["--data.dataset", "synthetic", "--data.synthetic_size", "256", "--data.batch_size", "16", "--data.device", "cpu",
        "--space.options.channels", "4", "--space.options.cells_per_stage", "1", "--train.steps", "4",
        "--train.progress", "false", "--rank.num_archs", "12", "--rank.num_images", "64", "--rank.batch_size", "32",
        "--rank.proxy_batch_size", "16"]


@needs(NB201_CSV)
def test_rank_by_a_proxy_and_a_fused_score_from_the_cli(tmp_path, capsys):
    run_dir = str(tmp_path / "run")
    assert main(["rank", "--run_dir", run_dir, *TINY, "--rank.score", "naswot"]) == 0
    out = capsys.readouterr().out
    assert "by naswot" in out and "\nnaswot " in out and "param count" in out
    assert main(["train", "--run_dir", run_dir, *TINY]) == 0
    assert main(["rank", "--run_dir", run_dir, *TINY, "--rank.score", "supernet_loss,naswot,synflow"]) == 0
    out = capsys.readouterr().out
    assert "fused[supernet_loss,naswot,synflow]" in out and "\nsupernet_loss " in out and "\nsupernet " not in out
    assert main(["rank", "--run_dir", run_dir, *TINY, "--rank.score", "bogus"]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "known scores: supernet, supernet_loss, params" in error


def test_search_with_a_fused_proxy_objective(tmp_path, capsys):
    run_dir = str(tmp_path / "run")
    args = [*TINY, "--rank.ground_truth", "none", "--search.algorithm", "evolution", "--search.population", "4",
            "--search.generations", "2", "--search.parents", "2", "--search.mutations", "2", "--search.crossovers", "2"]
    assert main(["search", "--run_dir", run_dir, *args, "--search.objective", "flops,naswot"]) == 0
    out = capsys.readouterr().out
    assert "searched" in out and "   score     params" in out  # a fused score is not called an accuracy
    saved = json.loads((tmp_path / "run" / "search" / "evolution" / "pareto.json").read_text())
    assert saved["objective"] == "flops,naswot"
    history = (tmp_path / "run" / "search" / "evolution" / "history.csv").read_text().splitlines()
    assert history[0].startswith("arch,score,params,flops") and len(history) > 4
    assert main(["search", "--run_dir", run_dir, *args, "--search.objective", "nope"]) == 2
    assert "search.objective: unknown score 'nope'" in capsys.readouterr().err
