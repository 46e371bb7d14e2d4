"""The MobileNet-style ImageNet space: strings, genes, analytic costs, supernet and subnets."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from supernas.config import load_config
from supernas.errors import SupernasError
from supernas.spaces import get_space
from supernas.train.trainer import train_supernet

SMALL = {"width_mult": 0.25, "stage_layers": 2, "max_paths": 2, "num_classes": 10, "image_size": 64}


def test_full_space_has_21_layers_with_proxylessnas_widths_and_strides():
    space = get_space("mobilenet")
    assert space.depth == 21
    assert space.widths == (16,) + (24,) * 4 + (40,) * 4 + (80,) * 4 + (96,) * 4 + (192,) * 4 + (320,)
    assert space.strides == (2, 1, 1, 1) * 3 + (1, 1, 1, 1) + (2, 1, 1, 1) + (1,)
    assert space.gene_choices == (6, 7, 7, 7) * 5 + (6,)
    low, high = space.complexity_range("flops")
    assert 100e6 < low < 110e6 and 600e6 < high < 610e6


def test_strings_and_genes_round_trip_and_bad_strings_are_one_line_errors():
    space = get_space("mobilenet", **SMALL)
    generator = torch.Generator().manual_seed(0)
    archs = [space.sample(generator) for _ in range(50)]
    assert any(layer is None for arch in archs for layer in arch.layers)
    assert any(len(layer.kernels) == 2 for arch in archs for layer in arch.layers if layer is not None)
    for arch in archs:
        assert space.parse(str(arch)) == arch
        assert space.decode(space.encode(arch)) == arch
    text = str(archs[0]).split("-")
    with pytest.raises(SupernasError, match="layer 0 'skip': this layer changes stride"):
        space.parse("-".join(["skip"] + text[1:]))
    with pytest.raises(SupernasError, match=r"kernels \[9\] are not all in \(3, 5, 7\)"):
        space.parse("-".join(["e3_k9"] + text[1:]))
    with pytest.raises(SupernasError, match="expected 11 layers"):
        space.parse("e3_k3")


@pytest.mark.parametrize("arch_index", range(3))
def test_analytic_costs_equal_the_built_subnet(arch_index):
    space = get_space("mobilenet", **{**SMALL, "block": "naive"})
    generator = torch.Generator().manual_seed(arch_index)
    arch = [space.sample(generator) for _ in range(arch_index + 1)][-1]
    subnet = space.build_subnet(arch).eval()
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        subnet(torch.randn(1, 3, 64, 64))
    assert counter.get_total_flops() / 2 == space.complexity(arch, "flops")
    weights = sum(m.weight.numel() for m in subnet.modules() if isinstance(m, (nn.Conv2d, nn.Linear)))
    assert weights == space.complexity(arch, "params")


def test_subnet_with_supernet_weights_computes_the_supernet_output_and_unused_layers_get_no_gradient():
    space = get_space("mobilenet", **SMALL)
    arch = space.parse("e6_k3.7-skip-e3_k5-e6_k5-e3_k3-skip-e6_k3.5-e3_k7-e3_k5.7-e6_k3-e3_k3")
    torch.manual_seed(0)
    supernet = space.build_supernet()
    subnet = space.build_subnet(arch)
    missing = subnet.network.load_state_dict(supernet.state_dict(), strict=False)
    assert not missing.missing_keys
    x = torch.randn(4, 3, 64, 64)
    supernet.eval(), subnet.eval()
    with torch.no_grad():
        torch.testing.assert_close(subnet(x), supernet(x, arch), rtol=0, atol=1e-5)
    supernet.train()
    supernet(x, arch).sum().backward()
    assert all(p.grad is None for p in supernet.layers[1].parameters())
    assert supernet.layers[0].rates["e3"].expand[0].weight.grad is None
    assert supernet.layers[0].rates["e6"].paths.paths["k5"].weight.grad is None
    assert supernet.layers[0].rates["e6"].paths.paths["k7"].weight.grad is not None


def test_mobilenet_supernet_trains_with_mixpath_sampling(tiny_config):
    tiny_config.space.name = "mobilenet"
    tiny_config.space.options = {"width_mult": 0.25, "stage_layers": 1, "max_paths": 2}
    tiny_config.train.strategy = "mixpath"
    tiny_config.train.steps = 2
    result = train_supernet(tiny_config)
    assert result.steps == 2 and result.final_loss == result.final_loss


def test_imagenet_preset_configures_a_mobilenet_imagefolder_run():
    config = load_config("imagenet-mobilenet", {"data.root": "/data/imagenet"})
    assert (config.data.dataset, config.space.name, config.train.strategy) == ("imagefolder", "mobilenet", "mixpath")
    space = get_space(config.space.name, num_classes=1000, image_size=config.data.image_size, **config.space.options)
    assert space.depth == 21 and space.max_paths == 2
    assert config.data.batch_size % 8 == 0
