"""MixPath: S1 strings, genes, sampling, costs and networks; fused depthwise paths; the
multi-path NAS-Bench-201 variant; training, scoring without ground truth, SBN diagnostics."""

from __future__ import annotations

import collections
import copy
import json
import math
import re
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from supernas.cli import main
from supernas.errors import SupernasError
from supernas.nn.mixpath import KERNELS
from supernas.nn.multipath import FusedDepthwisePaths, composite_depthwise_kernel
from supernas.spaces import get_space
from supernas.spaces.nasbench201 import NasBench201Arch
from supernas.train.samplers import make_sampler
from supernas.utils import seeded_generator

from conftest import needs

FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
TINY_S1 = {"width_mult": 0.25, "depth": 6, "image_size": 16}


def conv_and_linear_weights(model: nn.Module) -> int:
    return sum(m.weight.numel() for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear)))


# -- S1 architectures ----------------------------------------------------------------------
@pytest.mark.parametrize("m, per_layer", [(1, 8), (2, 20), (3, 28), (4, 30)])
def test_s1_choices_per_layer_match_the_paper(m, per_layer):
    space = get_space("mixpath-s1", max_paths=m)
    assert math.prod(space.gene_choices[:2]) == per_layer
    assert space.size == per_layer**12


def test_s1_strings_and_genes_round_trip():
    space = get_space("mixpath-s1", max_paths=3)
    generator = seeded_generator(5)
    for _ in range(200):
        arch = space.sample(generator)
        assert space.parse(str(arch)) == arch and space.decode(space.encode(arch)) == arch
        genes = [int(torch.randint(n, (), generator=generator)) for n in space.gene_choices]
        decoded = space.decode(genes)
        assert list(space.encode(decoded)) == genes and space.parse(str(decoded)) == decoded
    text = "-".join(["e6_k3.7", "e3_k5"] * 6)
    assert str(space.parse(text)) == text
    assert str(space.parse(text.replace("k3.7", "k7.3"))) == text  # kernels are written ascending


@pytest.mark.parametrize("text, fragment", [
    ("", "expected 12 layers"),
    ("-".join(["e6_k3"] * 11), "joined by '-', got 11"),
    ("-".join(["e4_k3"] * 12), "layer 0 'e4_k3': expansion rate 4"),
    ("-".join(["e6_k3"] * 11 + ["e6_k11"]), "layer 11 'e6_k11': kernels [11]"),
    ("-".join(["e6_k3.3"] * 12), "1..3 distinct sizes"),
    ("-".join(["e6_k3.5.7.9"] * 12), "1..3 distinct sizes"),
    ("-".join(["e6-k3"] * 6), "expected e<t>_k<kernels>"),
    ("|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|", "malformed MixPath S1"),
])
def test_s1_malformed_strings_raise_one_clear_error(text, fragment):
    space = get_space("mixpath-s1", max_paths=3)
    with pytest.raises(SupernasError, match="malformed MixPath S1 architecture") as error:
        space.parse(text)
    assert fragment in str(error.value) and "\n" not in str(error.value)


@pytest.mark.parametrize("options, fragment", [
    ({"max_paths": 5}, "max_paths"), ({"bn": "batch"}, "unknown bn"), ({"block": "fast"}, "unknown block"),
    ({"depth": 13}, "depth"), ({"width_mult": 0}, "width_mult"), ({"depth": 3, "split_layer": 3}, "split_layer"),
])
def test_s1_bad_options_raise(options, fragment):
    with pytest.raises(SupernasError, match=fragment):
        get_space("mixpath-s1", **options)


def test_mixpath_sampler_draws_path_counts_uniformly_and_distinct_kernels():
    space = get_space("mixpath-s1", max_paths=4)
    sampler = make_sampler("mixpath", space, seed=3)
    layers = [layer for step in range(400) for layer in sampler.sample(step)[0].layers]
    counts = collections.Counter(len(layer.kernels) for layer in layers)
    assert set(counts) == {1, 2, 3, 4}
    assert all(abs(c - len(layers) / 4) < 0.1 * len(layers) / 4 for c in counts.values()), counts
    assert all(len(set(layer.kernels)) == len(layer.kernels) for layer in layers)
    kernels = collections.Counter(k for layer in layers for k in layer.kernels)
    assert all(abs(kernels[k] / len(layers) - 2.5 / 4) < 0.05 for k in KERNELS), kernels
    rates = collections.Counter(layer.expansion for layer in layers)
    assert abs(rates[3] - rates[6]) < 0.1 * len(layers)
    assert sampler.sample(7) == sampler.sample(7) != sampler.sample(8)
    generator = seeded_generator(1)
    for paths in (1, 4):
        assert {len(layer.kernels) for layer in space.sample_with_paths(paths, generator).layers} == {paths}
    # SPOS is uniform over the genes instead: 1 of the 15 kernel sets has all four kernels
    spos_layers = [layer for step in range(100) for layer in make_sampler("spos", space, 3).sample(step)[0].layers]
    assert collections.Counter(len(layer.kernels) for layer in spos_layers)[4] < 0.12 * len(spos_layers)


def test_s1_groups_follow_the_paths_of_the_split_layer():
    space = get_space("mixpath-s1", max_paths=3, split_layer=2)
    arch = space.parse("-".join(["e6_k3", "e3_k5.7", "e3_k3.5.9"] * 4))
    assert space.num_groups("paths") == 3 and space.group(arch, "paths") == 2 and space.group_genes("paths") == (5,)
    with pytest.raises(SupernasError, match="unknown grouping"):
        space.group(arch, "split_edge")


# -- S1 costs ------------------------------------------------------------------------------
def test_s1_flops_range_matches_the_paper():
    low, high = get_space("mixpath-s1", max_paths=4).complexity_range("flops")
    assert 242e6 < low < 244e6 and 680e6 < high < 682e6  # "about 243M-681M at 32x32"


@pytest.mark.parametrize("options", [TINY_S1, {"width_mult": 0.5, "depth": 4, "image_size": 28, "in_channels": 1,
                                               "num_classes": 7, "max_paths": 2, "block": "reference"}])
def test_s1_analytic_params_equal_direct_count_of_subnet_weights(options):
    space = get_space("mixpath-s1", **options)
    generator = seeded_generator(2)
    for arch in [space.sample(generator) for _ in range(4)]:
        assert space.complexity(arch, "params") == conv_and_linear_weights(space.build_subnet(arch))


def test_s1_analytic_flops_match_the_flop_counter_on_the_reference_block():
    space = get_space("mixpath-s1", block="reference", **TINY_S1)
    supernet = space.build_supernet().eval()
    generator = seeded_generator(4)
    for arch in [space.sample(generator) for _ in range(3)]:
        with FlopCounterMode(display=False) as counter:
            supernet(torch.zeros(1, 3, 16, 16), arch)
        assert space.complexity(arch, "flops") == counter.get_total_flops() / 2  # 2 FLOPs per multiply-add


# -- fused depthwise paths -----------------------------------------------------------------
@pytest.mark.parametrize("m", [1, 2, 3, 4])
@pytest.mark.parametrize("stride", [1, 2])
def test_fused_paths_equal_the_naive_sum_in_outputs_and_gradients(m, stride):
    torch.manual_seed(m)
    fused = FusedDepthwisePaths(6, KERNELS, stride, max_active=m, norm="linear")
    naive = copy.deepcopy(fused)
    naive.fuse = False
    generator = seeded_generator(m, stride)
    for _ in range(3):
        active = [f"k{KERNELS[i]}" for i in torch.randperm(4, generator=generator)[:1 + int(torch.randint(m, (), generator=generator))]]
        x = torch.randn(3, 6, 11, 11, generator=generator)
        upstream = torch.randn(naive(x, active).shape, generator=generator)
        results = []
        for layer in (fused, naive):
            layer.zero_grad(set_to_none=True)
            inputs = x.clone().requires_grad_()
            out = layer(inputs, active)
            out.backward(upstream)
            results.append((out, inputs.grad, {n: p.grad for n, p in layer.named_parameters()}))
        (out_f, dx_f, grads_f), (out_n, dx_n, grads_n) = results
        torch.testing.assert_close(out_f, out_n, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(dx_f, dx_n, rtol=1e-5, atol=1e-5)
        for name, grad in grads_n.items():  # weight gradients sum hundreds of products, in another order
            assert (grads_f[name] is None) == (grad is None), name
            if name.startswith("paths."):
                assert (grad is None) == (name.split(".")[1] not in active), name
            if grad is not None:
                torch.testing.assert_close(grads_f[name], grad, rtol=1e-5, atol=1e-4)


def test_composite_kernel_is_the_centred_zero_padded_sum():
    small, large = torch.ones(2, 1, 3, 3), torch.zeros(2, 1, 5, 5)
    kernel = composite_depthwise_kernel([small, large])
    assert kernel.shape == (2, 1, 5, 5) and kernel.sum() == 18 and kernel[0, 0, 1:4, 1:4].eq(1).all()


def test_fused_and_naive_supernets_compute_the_same_function():
    nets = []
    for block in ("fused", "naive"):
        torch.manual_seed(0)
        nets.append(get_space("mixpath-s1", block=block, **TINY_S1).build_supernet())
    space = get_space("mixpath-s1", **TINY_S1)
    arch = space.sample(seeded_generator(9))
    x = torch.randn(4, 3, 16, 16)
    outputs = [net(x, arch) for net in nets]
    for out in outputs:
        out.square().mean().backward()
    torch.testing.assert_close(outputs[0], outputs[1], rtol=1e-5, atol=1e-5)
    for (name, p), q in zip(nets[0].named_parameters(), nets[1].parameters()):
        assert (p.grad is None) == (q.grad is None), name
        if p.grad is not None:
            torch.testing.assert_close(p.grad, q.grad, rtol=1e-4, atol=1e-5)


# -- S1 networks ---------------------------------------------------------------------------
@pytest.mark.parametrize("block", ["fused", "reference"])
def test_s1_supernet_runs_only_the_chosen_rate_kernels_and_shadow_bn(block):
    space = get_space("mixpath-s1", block=block, max_paths=3, bn="exponential", **TINY_S1)
    supernet = space.build_supernet()
    arch = space.parse("-".join(["e6_k3.7", "e3_k9", "e6_k3.5.9"] * 2))
    supernet(torch.randn(2, 3, 16, 16), arch).sum().backward()
    used = {name for name, p in supernet.named_parameters() if p.grad is not None}
    layer0 = {n for n in used if n.startswith("layers.0.")}
    assert all(n.startswith("layers.0.rates.e6.") for n in layer0)
    assert any(".paths.paths.k3." in n for n in layer0) and any(".paths.paths.k7." in n for n in layer0)
    assert not any(".paths.paths.k5." in n or ".paths.paths.k9." in n for n in layer0)
    sbn = supernet.layers[0].rates.e6.paths.norm
    assert {n for n in layer0 if ".norm.norms." in n} == {f"layers.0.rates.e6.paths.norm.norms.{sbn.index([0, 2])}.{p}"
                                                         for p in ("weight", "bias")}
    assert space.complexity(arch, "params") == sum(p.numel() for n, p in supernet.named_parameters()
                                                   if n in used and p.dim() > 1)


def test_s1_subnet_with_supernet_weights_matches_the_supernet():
    space = get_space("mixpath-s1", bn="linear", **TINY_S1)
    supernet = space.build_supernet()
    supernet(torch.randn(8, 3, 16, 16), space.sample(seeded_generator(1)))  # move some running statistics
    supernet.eval()
    x = torch.randn(3, 3, 16, 16)
    for arch in [space.sample(seeded_generator(s)) for s in range(3)]:
        subnet = space.build_subnet(arch).eval()
        result = subnet.network.load_state_dict(supernet.state_dict(), strict=False)
        assert not result.missing_keys
        torch.testing.assert_close(subnet(x), supernet(x, arch), rtol=0, atol=0)


# -- NAS-Bench-201 with multi-path edges ---------------------------------------------------
def test_multipath_nb201_strings_are_canonical_and_contain_every_single_path_cell():
    space = get_space("nasbench201-multipath", max_paths=2)
    text = "|nor_conv_3x3+skip_connect~0|+|none~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_1x1+avg_pool_3x3~1|none~2|"
    arch = space.parse(text)
    assert str(arch) == text.replace("nor_conv_3x3+skip_connect", "skip_connect+nor_conv_3x3")
    assert space.parse(str(arch)) == arch and space.decode(space.encode(arch)) == arch
    assert space.gene_choices == (11,) * 6 and get_space("nasbench201-multipath", max_paths=4).gene_choices == (16,) * 6
    single = get_space("nasbench201")
    for cell in [single.sample(seeded_generator(s)) for s in range(20)]:
        assert space.parse(str(cell)) == cell
    assert get_space("nasbench201-multipath", max_paths=1).edge_choices == single.edge_choices


@pytest.mark.parametrize("edge, fragment", [
    ("none+skip_connect", "unknown op 'none'"), ("conv+skip_connect", "unknown op 'conv'"),
    ("skip_connect+skip_connect", "1..2 distinct ops"), ("skip_connect+nor_conv_1x1+avg_pool_3x3", "1..2 distinct ops"),
])
def test_multipath_nb201_malformed_edges_raise_one_clear_error(edge, fragment):
    space = get_space("nasbench201-multipath", max_paths=2)
    with pytest.raises(SupernasError, match=fragment):
        space.parse(f"|{edge}~0|+|none~0|none~1|+|none~0|none~1|none~2|")


def test_multipath_nb201_networks_params_gradients_and_subnets():
    space = get_space("nasbench201-multipath", max_paths=3, channels=4, cells_per_stage=1, sbn="exponential")
    supernet = space.build_supernet()
    arch = space.parse("|nor_conv_3x3+nor_conv_1x1~0|+|skip_connect~0|none~1|+|none~0|avg_pool_3x3~1|"
                       "nor_conv_3x3+skip_connect+avg_pool_3x3~2|")
    supernet(torch.randn(2, 3, 32, 32), arch).sum().backward()
    used = {name for name, p in supernet.named_parameters() if p.grad is not None}
    assert any(".edges.0.paths.nor_conv_1x1." in n for n in used) and any(".edges.5.paths.nor_conv_3x3." in n for n in used)
    assert not any(".edges.0.paths.avg" in n or ".edges.2." in n or ".edges.3." in n or ".edges.5.paths.nor_conv_1x1" in n
                   for n in used)
    supernet.eval()
    x = torch.randn(2, 3, 32, 32)
    generator = seeded_generator(6)
    for arch in [arch] + [space.sample(generator) for _ in range(4)]:
        subnet = space.build_subnet(arch).eval()
        assert space.complexity(arch, "params") == conv_and_linear_weights(subnet)
        assert not subnet.network.load_state_dict(supernet.state_dict(), strict=False).missing_keys
        torch.testing.assert_close(subnet(x), supernet(x, arch), rtol=0, atol=0)
    low, high = space.complexity_range("params")
    assert low == get_space("nasbench201", channels=4, cells_per_stage=1).complexity_range("params")[0]
    assert high == space.complexity(NasBench201Arch(("nor_conv_1x1+nor_conv_3x3",) * 6), "params")


# -- end to end ----------------------------------------------------------------------------
S1_RUN = ["--space.name", "mixpath-s1", "--space.options.width_mult", "0.25", "--space.options.depth", "3",
          "--space.options.max_paths", "3", "--train.strategy", "mixpath", "--train.steps", "3", "--train.progress", "false",
          "--data.batch_size", "8", "--data.device", "cpu", "--rank.num_archs", "6", "--rank.num_images", "32",
          "--rank.calibration_images", "16", "--rank.batch_size", "16"]


def test_train_rank_without_ground_truth_and_sbn_diagnostics(tmp_path, capsys):
    run_dir = str(tmp_path / "run")
    assert main(["train", "--run_dir", run_dir, "--data.dataset", "synthetic", "--data.synthetic_size", "64", *S1_RUN]) == 0
    assert main(["rank", "--run_dir", run_dir]) == 0
    out = capsys.readouterr().out
    assert "scored 6 architectures" in out and "no ground truth" in out
    report = json.loads((Path(run_dir) / "ranking" / "scores.json").read_text())
    assert sum(row["count"] for row in report["accuracy_by_paths"].values()) == 6
    assert len((Path(run_dir) / "ranking" / "scores.csv").read_text().splitlines()) == 7
    assert main(["sbn", run_dir]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^layers\.\d\.rates\.e[36]\.paths\.norm +[23] ", out, re.MULTILINE), out
    assert re.search(r"^mean over \d+ layers +[23] .*expected about [23] and [49]\)$", out, re.MULTILINE), out


@needs(FASHION_MNIST)
def test_s1_trains_on_fashion_mnist(tmp_path):
    run_dir = str(tmp_path / "run")
    assert main(["train", "--run_dir", run_dir, "--data.dataset", "fashion-mnist", *S1_RUN]) == 0
    log = [json.loads(line) for line in (Path(run_dir) / "log.jsonl").read_text().splitlines()]
    assert log[-1]["step"] == 3 and math.isfinite(log[-1]["loss"])


def test_s1_default_block_is_mixpaths_own_with_a_bn_inside_each_path():
    space = get_space("mixpath-s1", **TINY_S1)
    assert space.block == "reference"
    paths = space.build_supernet().layers[0].rates["e6"].paths
    assert not isinstance(paths, FusedDepthwisePaths) and set(paths.paths) == {f"k{k}" for k in KERNELS}
    for path in paths.paths.values():
        assert [type(module) for module in path] == [nn.Conv2d, nn.BatchNorm2d, nn.ReLU6]
        assert path[0].groups == path[0].in_channels  # depthwise
    assert isinstance(paths.transform, nn.Conv2d) and paths.transform.kernel_size == (1, 1)  # projection, then Shadow BN
    assert all(norm.num_features == paths.transform.out_channels for norm in paths.norm.norms)


def test_s1_run_trained_with_the_former_default_block_resumes_and_ranks_with_it(tmp_path, capsys):
    from supernas.config import load_config
    from supernas.runs.experiment import build_space, checkpoint_path, load_splits
    from supernas.runs.checkpoint import load_checkpoint, save_checkpoint

    run_dir = tmp_path / "run"
    args = ["--data.dataset", "synthetic", "--data.synthetic_size", "64", *S1_RUN]
    assert main(["train", "--run_dir", str(run_dir), *args, "--space.options.block", "fused"]) == 0
    # a run trained when fused was the default: neither its config.yaml nor its checkpoint's config names the block
    (run_dir / "config.yaml").write_text((run_dir / "config.yaml").read_text().replace("    block: fused\n", ""))
    config = load_config(str(run_dir / "config.yaml"))
    state = load_checkpoint(checkpoint_path(config))
    del state["config"]["space"]["options"]["block"]
    save_checkpoint(checkpoint_path(config), state)
    assert "block" not in config.space.options and state["space"]["block"] == "fused"

    assert build_space(config, load_splits(config)[0]).block == "fused"
    assert main(["rank", "--run_dir", str(run_dir)]) == 0
    assert main(["train", "--run_dir", str(run_dir), *args]) == 0
    assert "resumed from 3" in capsys.readouterr().out
    assert main(["train", "--run_dir", str(run_dir), *args, "--space.options.block", "reference"]) == 2
    assert "block: 'fused' vs 'reference'" in capsys.readouterr().err
    fresh = load_config(None, {"run_dir": str(tmp_path / "fresh"), "space.name": "mixpath-s1", "data.dataset": "synthetic"})
    assert build_space(fresh, load_splits(fresh)[0]).block == "reference"
