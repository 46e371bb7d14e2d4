"""NAS-Bench-201 space: strings, genes, enumeration, complexity, networks."""

from __future__ import annotations

import csv

import pytest
import torch
from torch import nn

from supernas.errors import SupernasError
from supernas.nn.nasbench201 import OPS, live_nodes
from supernas.spaces import get_space
from supernas.spaces.nasbench201 import NasBench201Arch
from supernas.utils import seeded_generator

from conftest import NB201_CSV, needs


@pytest.fixture(scope="module")
def space():
    return get_space("nasbench201")


def test_enumeration_is_complete_and_distinct(space):
    archs = list(space.enumerate())
    assert len(archs) == 15625 == space.size
    assert len({str(a) for a in archs}) == 15625


@needs(NB201_CSV)
def test_string_round_trip_for_every_official_cell(space):
    with open(NB201_CSV) as file:
        official = [row["arch"] for row in csv.DictReader(file)]
    assert len(official) == 15625
    for text in official:
        arch = space.parse(text)
        assert str(arch) == text
        assert space.decode(space.encode(arch)) == arch
    assert {str(a) for a in space.enumerate()} == set(official)


def test_official_string_layout(space):
    arch = space.decode([3, 3, 3, 1, 3, 2])
    assert str(arch) == "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"


@pytest.mark.parametrize("text, fragment", [
    ("", "malformed"),
    ("|nor_conv_3x3~0|+|none~0|none~1|", "malformed"),
    ("|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|", "unknown op 'conv'"),
    ("|none~1|+|none~0|none~1|+|none~0|none~1|none~2|", "written as ~1"),
    ("|none~0|+|none~0|+|none~0|none~1|none~2|", "node 2 needs 2 inputs"),
])
def test_malformed_strings_raise_one_clear_error(space, text, fragment):
    with pytest.raises(SupernasError, match=fragment):
        space.parse(text)


def test_complexity_range_matches_reference(space):
    assert space.complexity_range("params") == (72752, 1524272)


def _conv_and_linear_weights(model: nn.Module) -> int:
    return sum(m.weight.numel() for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear)))


@pytest.mark.parametrize("options", [{}, {"channels": 8, "cells_per_stage": 2, "num_classes": 100, "in_channels": 1}])
def test_analytic_params_equal_direct_count_of_subnet_weights(options):
    space = get_space("nasbench201", **options)
    generator = seeded_generator(7)
    archs = [space.sample(generator) for _ in range(12)] + [space.decode([0] * 6), space.decode([3] * 6)]
    for arch in archs:
        assert space.complexity(arch, "params") == _conv_and_linear_weights(space.build_subnet(arch))


def test_analytic_flops_match_flop_counter():
    from torch.utils.flop_counter import FlopCounterMode

    space = get_space("nasbench201", channels=8, cells_per_stage=1)
    arch = space.parse("|nor_conv_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|avg_pool_3x3~0|nor_conv_3x3~1|nor_conv_1x1~2|")
    subnet = space.build_subnet(arch).eval()
    for edges in [cell.edges for cell in subnet.network.cells if hasattr(cell, "edges")]:
        for ops in edges:
            if "avg_pool_3x3" in ops:  # count only conv/linear multiply-adds, as the analytic count does
                ops["avg_pool_3x3"] = torch.nn.AvgPool2d(3, 1, 1, count_include_pad=False)
    with FlopCounterMode(display=False) as counter:
        subnet(torch.zeros(1, 3, 32, 32))
    conv_and_linear = sum(v for k, v in counter.get_flop_counts()["Global"].items() if "conv" in str(k) or "addmm" in str(k) or "mm" in str(k))
    assert space.complexity(arch, "flops") == conv_and_linear / 2  # the counter counts 2 FLOPs per multiply-add


def test_live_nodes_skip_dead_inputs():
    # node 1 feeds nothing: only edge 3<-0 reaches the output
    assert live_nodes(("nor_conv_3x3", "none", "none", "skip_connect", "none", "none")) == (True, False, False, True)
    assert live_nodes(("none",) * 6) == (False, False, False, True)


def test_supernet_runs_only_the_chosen_path_and_unused_params_get_no_gradient():
    space = get_space("nasbench201", channels=4, cells_per_stage=1)
    supernet = space.build_supernet()
    arch = space.parse("|nor_conv_3x3~0|+|none~0|nor_conv_1x1~1|+|skip_connect~0|none~1|avg_pool_3x3~2|")
    supernet(torch.randn(2, 3, 32, 32), arch).sum().backward()
    used = {name for name, p in supernet.named_parameters() if p.grad is not None}
    assert any(".edges.0.nor_conv_3x3." in n for n in used)
    assert any(".edges.2.nor_conv_1x1." in n for n in used)
    assert not any(".edges.0.nor_conv_1x1." in n or ".edges.2.nor_conv_3x3." in n for n in used)


def test_all_none_cell_outputs_zeros_and_subnet_matches_supernet():
    space = get_space("nasbench201", channels=4, cells_per_stage=1, bn="running")
    supernet = space.build_supernet().eval()
    generator = seeded_generator(3)
    x = torch.randn(3, 3, 32, 32)
    for arch in [space.sample(generator) for _ in range(5)] + [NasBench201Arch(("none",) * 6)]:
        subnet = space.build_subnet(arch).eval()
        missing = subnet.network.load_state_dict(supernet.state_dict(), strict=False)
        assert not missing.missing_keys
        torch.testing.assert_close(subnet(x), supernet(x, arch), rtol=0, atol=0)


def test_mutation_and_crossover_stay_in_space(space):
    generator = seeded_generator(11)
    a, b = space.sample(generator), space.sample(generator)
    for _ in range(50):
        child = space.crossover(a, b, generator)
        assert all(c in (x, y) for c, x, y in zip(child.ops, a.ops, b.ops))
        mutant = space.mutate(a, generator, probability=1.0)
        assert all(m != o and m in OPS for m, o in zip(mutant.ops, a.ops))


def test_box_filter_pool_equals_avg_pool_without_padding_counts():
    from supernas.nn.nasbench201 import AvgPool3x3

    x = torch.randn(4, 6, 9, 7, requires_grad=True)
    reference = torch.nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
    torch.testing.assert_close(AvgPool3x3()(x), reference(x), rtol=1e-6, atol=1e-6)
    grad = torch.randn(4, 6, 9, 7)
    ours = torch.autograd.grad(AvgPool3x3()(x), x, grad)[0]
    theirs = torch.autograd.grad(reference(x), x, grad)[0]
    torch.testing.assert_close(ours, theirs, rtol=1e-6, atol=1e-6)
