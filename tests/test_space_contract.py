"""The contract every registered search space keeps, checked on each (as timm checks every
registered model): its supernet runs a sampled architecture forward and backward with no
gradient on the paths it did not use, every sampled architecture's string and genes round-trip,
and the standalone subnet with the supernet's weights computes what the supernet computes."""

from __future__ import annotations

import pytest
import torch

from supernas.spaces import get_space, list_spaces
from supernas.subnet.export import inherit_weights

TINY_OPTIONS = {
    "nasbench201": {"channels": 4, "cells_per_stage": 1, "image_size": 8},
    "nasbench201-multipath": {"channels": 4, "cells_per_stage": 1, "image_size": 8},
    "mixpath-s1": {"width_mult": 0.25, "image_size": 8},
    "mobilenet": {"width_mult": 0.25, "stage_layers": 1, "image_size": 32},
}
"""Small options per space so that each check takes well under a second; a space not listed is
checked with its defaults."""
NUM_CLASSES, SAMPLES = 3, 3


def tiny_space(name: str):
    return get_space(name, num_classes=NUM_CLASSES, **TINY_OPTIONS.get(name, {}))


def sampled(space, count: int = SAMPLES) -> list:
    generator = torch.Generator().manual_seed(0)
    return [space.sample(generator) for _ in range(count)]


def images(space) -> torch.Tensor:
    size = space.describe().get("image_size", 32)
    return torch.randn(4, 3, size, size, generator=torch.Generator().manual_seed(1))


def subnet_parameter_names(space, arch) -> set[str]:
    """The supernet names of the parameters a standalone subnet of ``arch`` has."""
    subnet = space.build_subnet(arch)
    supernet_names = {name for name, _ in space.build_supernet().named_parameters()}
    return {name if name in supernet_names else name.partition(".")[2] for name, _ in subnet.named_parameters()}


@pytest.mark.parametrize("name", list_spaces())
def test_supernet_trains_one_path_and_leaves_the_others_without_gradient(name):
    torch.manual_seed(0)
    space = tiny_space(name)
    supernet = space.build_supernet()
    x = images(space)
    for arch in sampled(space):
        supernet.zero_grad(set_to_none=True)
        logits = supernet(x, arch)
        assert logits.shape == (len(x), NUM_CLASSES) and torch.isfinite(logits).all()
        logits.logsumexp(1).mean().backward()
        used = subnet_parameter_names(space, arch)
        with_gradient = {n for n, p in supernet.named_parameters() if p.grad is not None}
        assert with_gradient <= used, f"{arch}: gradient on unused {sorted(with_gradient - used)[:3]}"
        assert with_gradient, f"{arch}: no parameter got a gradient"
    assert len(used) < len(list(supernet.parameters())), "one architecture uses the whole supernet"


@pytest.mark.parametrize("name", list_spaces())
def test_every_sampled_architecture_round_trips(name):
    space = tiny_space(name)
    for arch in sampled(space, 20):
        text = space.format(arch)
        assert text == str(arch)
        assert space.parse(text) == arch and hash(space.parse(text)) == hash(arch)
        genes = space.encode(arch)
        assert len(genes) == len(space.gene_choices)
        assert all(0 <= gene < choices for gene, choices in zip(genes, space.gene_choices))
        assert space.decode(genes) == arch


@pytest.mark.parametrize("name", list_spaces())
def test_standalone_subnet_with_supernet_weights_equals_the_supernet(name):
    torch.manual_seed(0)
    space = tiny_space(name)
    supernet = space.build_supernet().eval()
    x = images(space)
    for arch in sampled(space):
        subnet = space.build_subnet(arch)
        inherit_weights(subnet, supernet.state_dict())
        with torch.no_grad():
            torch.testing.assert_close(subnet.eval()(x), supernet(x, arch), rtol=1e-5, atol=1e-5)
